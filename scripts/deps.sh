# deps.sh: sourced by demo.sh and test.sh. Installs the Debian packages that are missing, and
# only those, so a second run on a ready machine costs one dpkg query.

# Build and run the agent.
RUNTIME_PKGS="build-essential cmake pkg-config libsqlite3-dev libmicrohttpd-dev libinih-dev zlib1g-dev libcurl4-openssl-dev sqlite3 libyaml-dev libgnutls28-dev libcrypt-dev libsystemd-dev"
# Only for the tests: Criterion, real Prometheus (promtool) and Alertmanager, Python's stdlib,
# prlimit (util-linux), strace (which locks the agent tries), openssl and curl for the TLS
# tests, clang with libFuzzer (libclang-rt-14-dev) and clang-format.
TEST_PKGS="libcriterion-dev prometheus prometheus-alertmanager python3 util-linux strace openssl curl clang clang-format libclang-rt-14-dev"
# Only for scripts/package-test.sh: building, checking and installing the Debian package.
PACKAGE_PKGS="debhelper dpkg-dev fakeroot lintian adduser man-db curl openssl strace procps"
# Only for bench/ (bench/run-all.sh): wrk for the /metrics latency, Prometheus for fleet.sh.
BENCH_PKGS="wrk prometheus curl"

install_missing() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    echo "installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # --no-install-recommends keeps Prometheus from pulling in exporters that start services.
    apt-get install -y -q --no-install-recommends $missing >&2
}
