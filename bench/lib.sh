# lib.sh: sourced by the bench scripts. Finds the binary, writes configs, starts and stops the
# daemon, reads one metric from /metrics. POSIX sh; needs curl and /usr/bin/python3.

BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${SQLITE_AGENT_BIN:-$BENCH_ROOT/build/sqlite-agent}
PY=/usr/bin/python3
BENCH_PID=""

bench_die() {
    echo "bench: $*" >&2
    exit 1
}

[ -x "$AGENT" ] || bench_die "no agent binary at $AGENT (cmake --build build)"

# Prints the exact command before running it, so every figure comes with how it was made.
bench_run() {
    echo "+ $*" >&2
    "$@"
}

# A TCP port nobody listens on right now.
bench_free_port() {
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_write_config OUT DBDIR LISTEN SAMPLE_INTERVAL CHECK_INTERVAL CHECK WORKERS
# One [databases:tenants] glob section for every DBDIR/*/*.sqlite3 (make-dbs.sh's 100
# directories), all with the same check kind; labels are tenants/tNNN/dbNNNNN.sqlite3.
bench_write_config() {
    out=$1 dbdir=$2 listen=$3 sample=$4 checkiv=$5 check=$6 workers=$7
    {
        printf '[agent]\nlisten = %s\nsample_interval = %s\ncheck_interval = %s\n' \
            "$listen" "$sample" "$checkiv"
        printf 'check_timeout = 60s\ncheck_workers = %s\nlog_level = warn\n' "$workers"
        printf '\n[databases:tenants]\nglob = %s/*/*.sqlite3\ncheck = %s\n' "$dbdir" "$check"
    } >"$out"
}

# bench_start CONFIG LOG: starts the daemon in the background, waits for /healthz.
bench_start() {
    port=$(sed -n 's/^listen = .*:\([0-9]*\)$/\1/p' "$1")
    BENCH_URL=http://127.0.0.1:$port
    echo "+ $AGENT -c $1 2>$2 &" >&2
    "$AGENT" -c "$1" 2>"$2" &
    BENCH_PID=$!
    i=0
    until curl -fsS "$BENCH_URL/healthz" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || bench_die "agent did not come up; log: $(tail -5 "$2")"
        kill -0 "$BENCH_PID" 2>/dev/null || bench_die "agent exited; log: $(tail -5 "$2")"
        sleep 0.1
    done
}

bench_stop() {
    if [ -n "$BENCH_PID" ]; then
        kill -TERM "$BENCH_PID" 2>/dev/null
        wait "$BENCH_PID" 2>/dev/null
        BENCH_PID=""
    fi
}

# bench_metric NAME: value of the first series of NAME (no labels) on /metrics.
bench_metric() {
    curl -fsS "$BENCH_URL/metrics" | awk -v n="$1" '$1 == n && !done { print $2; done = 1 }'
}

# bench_sum NAME: sum over every series of the family NAME.
bench_sum() {
    curl -fsS "$BENCH_URL/metrics" |
        awk -v n="$1" 'index($0, n "{") == 1 || $1 == n { s += $NF } END { printf "%.0f\n", s }'
}

# bench_dbs DIR N: DIR/db holds N databases (made by make-dbs.sh unless already there).
bench_dbs() {
    if [ "$(find "$1/db" -mindepth 2 -name '*.sqlite3' 2>/dev/null | wc -l)" -ne "$2" ]; then
        rm -rf "$1"
        bench_run "$BENCH_ROOT/bench/make-dbs.sh" "$1" "$2" >&2
    fi
}

# One row of the results table, on stdout; run-all.sh collects them. A '|' inside a cell,
# even in a code span, would end the cell in GitHub's tables: it is escaped.
bench_row() {
    # shellcheck disable=SC2016 # the backquotes are markdown, not a command substitution
    printf '| %s | %s | %s | `%s` |\n' "$1" "$2" "$3" "$(echo "$4" | sed 's/|/\\|/g')"
}
