#!/bin/sh
# metrics-latency.sh [N] [SECONDS]: /metrics latency with the daemon watching N databases, after
# the first check of every one has run (so every series is present).
#
# 1. wrk, one thread and one connection (sequential requests on a kept-alive connection), for
#    SECONDS (default 20): wrk's p50 and p99 from --latency. Plain, then with
#    Accept-Encoding: gzip. Also the agent's CPU per request over the run (/proc/PID/stat), a
#    figure that other load on the machine does not move much, unlike p99.
# 2. bench/latency.py: 500 sequential GETs, a new connection each, p50/p99/max, plain and gzip.
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

n=${1:-1000}
seconds=${2:-20}
dir=${BENCH_DIR:-/tmp/sqlite-agent-bench-$n}
command -v wrk >/dev/null || bench_die "wrk is missing: apt-get install wrk"
bench_dbs "$dir" "$n"
trap 'bench_stop' EXIT INT TERM

conf=$dir/latency.conf
bench_write_config "$conf" "$dir/db" "127.0.0.1:$(bench_free_port)" 15s 5m quick 1
bench_start "$conf" "$dir/latency.log"
# 60 s, or 10 ms a database for a fleet.
limit=$((n / 10 > 600 ? n / 10 : 600))
i=0
until [ "$(bench_sum sqlite_agent_check_runs_total)" -ge "$n" ]; do
    i=$((i + 1))
    [ $i -lt $limit ] || bench_die "the first checks did not finish in $((limit / 10)) s"
    sleep 0.1
done
url=$BENCH_URL/metrics
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$BENCH_PID/stat"; }

# wrk_ms PERCENT FILE: that percentile from wrk's latency distribution, in ms.
wrk_ms() {
    awk -v p="$1%" '$1 == p { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = u == "us" ? 0.001 : u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : -1;
        printf "%.2f\n", v * f }' "$2"
}

# run_wrk LABEL [HEADER...]
run_wrk() {
    label=$1
    shift
    out=$dir/wrk-$label.out
    c0=$(cpu_ticks)
    bench_run wrk -t1 -c1 -d"${seconds}s" --latency "$@" "$url" >"$out"
    c1=$(cpu_ticks)
    p50=$(wrk_ms 50 "$out") p99=$(wrk_ms 99 "$out")
    reqs=$(awk '/requests in/ { print $1 }' "$out")
    cpu=$(echo "$c0 $c1 $ticks $reqs" | awk '{ printf "%.1f", ($2 - $1) / $3 / $4 * 1000 }')
    echo "wrk $label: p50 $p50 ms, p99 $p99 ms over $reqs requests;" \
        "agent CPU $cpu ms per request (/proc/$BENCH_PID/stat)" >&2
    hdr=""
    [ $# -gt 0 ] && hdr=" $1 '$2'"
    bench_row "/metrics latency, $n dbs, $label, wrk 1 conn keep-alive: p50 / p99" \
        "$p50 / $p99 ms ($reqs reqs, $cpu ms CPU each)" "p99 < 20 ms" "wrk -t1 -c1 -d${seconds}s --latency$hdr $url"
}

run_latency_py() {
    label=$1
    shift
    cmd="bench/latency.py $url 500${1:+ $1}"
    bench_run "$BENCH_ROOT/bench/latency.py" "$url" 500 "$@" >"$dir/latency-$label.out"
    # shellcheck disable=SC2046 # split into words on purpose
    set -- $(cat "$dir/latency-$label.out")
    echo "latency.py $label: p50 $1 ms, p99 $2 ms, max $3 ms; body $4 bytes" >&2
    bench_row "/metrics latency, $n dbs, $label, new connection each: p50 / p99 / max" \
        "$1 / $2 / $3 ms ($4 B body)" "p99 < 20 ms" \
        "$cmd"
}

run_wrk plain
run_wrk gzip -H 'Accept-Encoding: gzip'
run_latency_py plain
run_latency_py gzip gzip
echo "sqlite_agent_metrics_render_duration_seconds (last scrape):" \
    "$(bench_metric sqlite_agent_metrics_render_duration_seconds)" >&2
