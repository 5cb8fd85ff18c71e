#!/bin/sh
# package-test.sh: builds the Debian package from this tree (apt-get build-dep ./, then
# dpkg-buildpackage -us -uc -b) in a copy of it, runs lintian, installs the .deb on this machine
# and checks the install: the system user, the conffile passing --check-config as that user, the
# unit (systemd-analyze verify, and the exposure score of systemd-analyze security, printed and
# at most 3.0), the installed agent run as the service runs it (that user, only
# CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, no new privileges) reading a root-only database a root
# process holds open, and the system calls it makes against the unit's SystemCallFilter. Then
# dpkg -r and dpkg -P, each checked to leave nothing behind. Root only.
#
# About 40 s on a 2-vCPU machine once the packages are installed, most of it the build.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_missing $RUNTIME_PKGS $PACKAGE_PKGS

MAX_EXPOSURE=3.0
PKG=sqlite-agent
UNIT=/lib/systemd/system/sqlite-agent.service
CONF=/etc/sqlite-agent/sqlite-agent.ini
# Waits for a dpkg lock held by another apt run rather than failing on it.
APT="apt-get -y -q -o DPkg::Lock::Timeout=300"

work=$(mktemp -d /tmp/sqlite-agent-pkg.XXXXXX)
agent_pid=""
holder_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
    if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q "ok installed\|config-files"; then
        $APT purge $PKG >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "package-test: FAIL: $*" >&2
    exit 1
}
step() {
    echo "=== package: $*" >&2
}

if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q "ok installed"; then
    fail "$PKG is already installed on this machine; remove it first"
fi

# Everything named like the package outside the package's own files: nothing after a purge.
leftovers() {
    find /etc /usr /lib /var/lib/dpkg/info /var/lib/systemd -xdev -name "*sqlite-agent*" \
        -not -path "$work/*" 2>/dev/null | sort
    getent passwd $PKG || true
    getent group $PKG || true
}
leftovers >"$work/before"

step "build"
mkdir "$work/src"
tar --exclude='./build*' --exclude=./.git --exclude='./obj-*' -cf - . | tar -C "$work/src" -xf -
(cd "$work/src" && $APT build-dep ./ >"$work/build-dep.log" 2>&1) ||
    { cat "$work/build-dep.log"; fail "apt-get build-dep ./"; }
(cd "$work/src" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
    { tail -50 "$work/build.log"; fail "dpkg-buildpackage"; }
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
deb="$work/${PKG}_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "no $deb"
echo "built $(basename "$deb")" >&2

step "lintian"
lintian --fail-on error "$deb" >&2 || fail "lintian reports errors"

step "contents"
dpkg-deb -c "$deb" >"$work/contents"
for f in /usr/bin/sqlite-agent /usr/bin/sqlite-agent-recover \
    /usr/lib/sqlite-agent/sqlite_dbpage.so $UNIT $CONF /usr/share/man/man8/sqlite-agent.8.gz \
    /usr/share/sqlite-agent/sqlite-agent.rules.yml \
    /usr/share/sqlite-agent/sqlite-agent.dashboard.json \
    /usr/share/sqlite-agent/sqlite-agent-fleet.dashboard.json \
    /usr/share/doc/sqlite-agent/examples/web.yml.example; do
    grep -q " \.$f\$" "$work/contents" || fail "$f is not in the package"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx "$CONF" ||
    fail "$CONF is not a conffile"

step "install"
$APT install "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "install"; }
getent passwd $PKG | grep -q ":/nonexistent:/usr/sbin/nologin$" ||
    fail "no system user $PKG without home and login: $(getent passwd $PKG)"
uid=$(id -u $PKG)
[ "$uid" -lt 1000 ] || fail "$PKG has uid $uid, not a system uid"
setpriv --reuid=$PKG --regid=$PKG --clear-groups -- /usr/bin/sqlite-agent -c $CONF \
    --check-config >&2 || fail "the packaged $CONF does not pass --check-config"
grep -q '^\[database:' $CONF && fail "the packaged $CONF watches a database"
# The leftover finder must see the installed package, or its empty diff after purge proves nothing.
[ "$(leftovers | wc -l)" -gt "$(wc -l <"$work/before")" ] || fail "leftovers() sees no install"

step "unit"
out=$(systemd-analyze verify $UNIT 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify is not clean: $out"
systemd-analyze security --offline=true $UNIT >"$work/security" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security")
[ -n "$score" ] || { cat "$work/security"; fail "no exposure score"; }
echo "systemd-analyze security --offline=true $UNIT: exposure $score (at most $MAX_EXPOSURE)" >&2
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || fail "exposure $score"
grep -q '^AmbientCapabilities=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH$' $UNIT &&
    grep -q '^CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH$' $UNIT ||
    fail "the unit's capabilities are not exactly CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"

# No systemd runs as PID 1 here (a container): run the installed binary as the unit runs it,
# with setpriv: the service user, the two capabilities ambient and nothing else in the
# bounding set, no new privileges. It must read a database only root may read, held open by
# a root process, and see that process.
step "run as the service"
mkdir -m 0700 "$work/private"
db="$work/private/app.db"
sqlite3 "$db" "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);" >/dev/null
chmod 0600 "$db"
/usr/bin/python3 -c "
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute('SELECT * FROM t').fetchall()
open(sys.argv[2], 'w').close()
time.sleep(600)" "$db" "$work/holding" &
holder_pid=$!
i=0
while [ ! -e "$work/holding" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the holder did not open the database"
    sleep 0.1
done
port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
chmod 0755 "$work"
printf '[agent]\nlisten = 127.0.0.1:%s\nsample_interval = 200ms\n[database:app]\npath = %s\ncheck = quick\ncheck_interval = 1s\n' \
    "$port" "$db" >"$work/agent.ini"
chmod 0644 "$work/agent.ini"
caps=+sys_ptrace,+dac_read_search
setpriv --reuid=$PKG --regid=$PKG --clear-groups --inh-caps=-all,$caps --ambient-caps=$caps \
    --bounding-set=-all,$caps --no-new-privs -- /usr/bin/sqlite-agent -c "$work/agent.ini" \
    2>"$work/agent.log" &
agent_pid=$!
ok=""
i=0
while [ $i -lt 100 ]; do
    i=$((i + 1))
    sleep 0.1
    curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics" 2>/dev/null || continue
    if grep -q '^sqlite_up{db="app"[^}]*} 1$' "$work/metrics" &&
        grep -q '^sqlite_database_open_processes{db="app"[^}]*} [1-9]' "$work/metrics" &&
        grep -q '^sqlite_check_runs_total{db="app"[^}]*result="ok"} [1-9]' "$work/metrics"; then
        ok=1
        break
    fi
done
[ -n "$ok" ] || {
    cat "$work/agent.log" >&2
    grep 'db="app"' "$work/metrics" >&2 || true
    fail "the agent under the service's privileges did not read the root-only database"
}
grep '^sqlite_up{\|^sqlite_database_open_processes{\|^sqlite_check_runs_total{.*"ok"}' \
    "$work/metrics" >&2
[ "$(grep -c '^Cap\(Eff\|Bnd\):[[:space:]]*0000000000080004$' /proc/$agent_pid/status)" = 2 ] ||
    fail "capabilities: $(grep Cap /proc/$agent_pid/status | tr '\n' ' ')"
kill $agent_pid
wait $agent_pid || fail "the agent did not stop cleanly"
agent_pid=""

# The unit's SystemCallFilter cannot be tried without systemd as PID 1: instead, every system
# call the installed agent makes while serving TLS with basic auth, checking, scanning /proc,
# posting to an https:// Alertmanager and reloading on SIGHUP is checked against the filter
# as systemd would expand it (scripts/syscalls-allowed.py).
step "system calls against the unit's filter"
tls="$work/tls"
mkdir "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/key.pem" \
    -out "$tls/cert.pem" -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    2>/dev/null
hash=$(/usr/bin/python3 -W ignore -c "import crypt; print(crypt.crypt('pw', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  u: %s\n' \
    "$hash" >"$tls/web.yml"
echo pw >"$tls/pw"
port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
printf '[agent]\nlisten = 127.0.0.1:%s\nsample_interval = 200ms\nweb_config_file = %s\n[database:app]\npath = %s\ncheck_interval = 1s\n[alertmanager]\nurls = https://127.0.0.1:1\nresend_interval = 1s\nca_file = %s\nbasic_auth_username = u\nbasic_auth_password_file = %s\n' \
    "$port" "$tls/web.yml" "$db" "$tls/cert.pem" "$tls/pw" >"$work/strace.ini"
chmod 0644 "$tls"/* "$work/strace.ini"
: >"$work/strace"
chown $PKG "$work/strace"
# As the service runs it (SQLite, for one, calls fchown(2) on its -shm only when root), with
# strace inside the privilege drop so that only the agent's own calls are counted.
setpriv --reuid=$PKG --regid=$PKG --clear-groups --inh-caps=-all,$caps --ambient-caps=$caps \
    --bounding-set=-all,$caps --no-new-privs -- \
    strace -f -qq -c -o "$work/strace" /usr/bin/sqlite-agent -c "$work/strace.ini" \
    2>"$work/strace-agent.log" &
agent_pid=$!
scrape() {
    curl -s -o /dev/null -w '%{http_code}' --cacert "$tls/cert.pem" -u "u:$1" \
        "https://127.0.0.1:$port/metrics" 2>/dev/null || true
}
i=0
until [ "$(scrape pw)" = 200 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$work/strace-agent.log" >&2; fail "the agent under strace"; }
    sleep 0.1
done
[ "$(scrape wrong)" = 401 ] || fail "a wrong password was not refused"
traced=$(pgrep -P $agent_pid)
kill -HUP "$traced"
sleep 2
[ "$(scrape pw)" = 200 ] || fail "no scrape after the reload"
kill "$traced"
wait $agent_pid || fail "the agent under strace did not stop cleanly"
agent_pid=""
kill $holder_pid
holder_pid=""
/usr/bin/python3 scripts/syscalls-allowed.py $UNIT "$work/strace" ||
    fail "the unit's SystemCallFilter refuses a system call the agent makes"

step "remove"
dpkg -r $PKG >/dev/null
[ ! -e /usr/bin/sqlite-agent ] && [ ! -e $UNIT ] || fail "dpkg -r left the binary or the unit"
[ -f $CONF ] || fail "dpkg -r removed the conffile (it keeps it until purge)"

step "purge"
dpkg -P $PKG >/dev/null
leftovers >"$work/after"
diff "$work/before" "$work/after" >&2 || fail "dpkg -P left these behind"
echo "=== package: ok ($(basename "$deb"), exposure $score)" >&2
