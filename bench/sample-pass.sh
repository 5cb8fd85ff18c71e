#!/bin/sh
# sample-pass.sh [N] [SECONDS]: duration of one sampling pass (stat + pread of the database,
# -wal and -shm headers of N databases) as the daemon reports it in
# sqlite_agent_sample_pass_duration_seconds.
#
# The daemon runs with sample_interval = 100ms (the smallest allowed) for SECONDS (default 60);
# /metrics is read every 250 ms and every new pass seen is kept, so the figures cover about
# 40% of the passes. Two runs: check = off (the sampler alone), then check = quick with
# check_interval = 1s, so a check worker runs all the time on the other core.
# Also: the first, cold pass (it opens every descriptor) from `sqlite-agent --once` with
# check = off, median of 5.
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

n=${1:-1000}
seconds=${2:-60}
dir=${BENCH_DIR:-/tmp/sqlite-agent-bench-$n}
bench_dbs "$dir" "$n"
trap 'bench_stop' EXIT INT TERM

# stats FILE [COLUMN]: "median p90 max count over_20ms" of COLUMN (default 2) in ms, skipping
# the first pass seen and any "-".
stats() {
    awk -v c="${2:-2}" 'NR > 1 && $c != "-" { print $c * 1000 }' "$1" | sort -n |
        awk '{ v[NR] = $1; over += $1 > 20 } END { printf "%.2f %.2f %.2f %d %d\n",
             v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR], NR, over }'
}

# measure CHECK CHECK_INTERVAL LABEL TARGET
measure() {
    conf=$dir/sample-$1.conf
    bench_write_config "$conf" "$dir/db" "127.0.0.1:$(bench_free_port)" 100ms "$2" "$1" 1
    bench_start "$conf" "$dir/sample-$1.log"
    out=$dir/sample-$1.passes
    bench_run "$BENCH_ROOT/bench/watch.py" "$BENCH_URL/metrics" 0.25 "$seconds" >"$out"
    total=$(bench_metric sqlite_agent_sample_passes_total)
    bench_stop
    # shellcheck disable=SC2046 # split into words on purpose
    set -- $(stats "$out") "$3" "$4"
    echo "$6: median $1 ms, p90 $2 ms, max $3 ms over $4 passes seen (of $total);" \
        "$5 over 20 ms" >&2
    bench_row "sample pass, $n dbs, $6: median / p90 / max" \
        "$1 / $2 / $3 ms ($5 of $4 passes > 20 ms)" "$7" \
        "$AGENT -c $conf; bench/watch.py $BENCH_URL/metrics 0.25 $seconds"
    # The /proc scan runs after a pass, on the same thread, and is timed apart from it.
    if [ "$6" = "sampler alone" ] && [ "$(awk 'NR > 1 && $3 != "-"' "$out" | wc -l)" -gt 0 ]; then
        # shellcheck disable=SC2046 # split into words on purpose
        set -- $(stats "$out" 3) "$(find /proc -maxdepth 1 -name "[0-9]*" | wc -l)"
        echo "/proc scan after a pass: median $1 ms, max $3 ms over $4 scans seen; $6 processes" >&2
        bench_row "/proc scan after a sampling pass, $n dbs, $6 processes: median / max" \
            "$1 / $3 ms ($4 scans)" "(no target)" \
            "$AGENT -c $conf; sqlite_agent_process_scan_duration_seconds"
    fi
}

# The target: < 20 ms for the 1,000 of the first benchmarks; <= 100 ms from 10,000 (issue 10).
if [ "$n" -ge 10000 ]; then target="<= 100 ms"; else target="< 20 ms"; fi
measure off 1h "sampler alone" "$target"
measure quick 1s "checks running" "(no target)"

conf=$dir/once-off.conf
bench_write_config "$conf" "$dir/db" 127.0.0.1:10150 15s 5m off 1
echo "+ $AGENT --once -c $conf | grep sqlite_agent_sample_pass_duration_seconds   (x5)" >&2
k=0
: >"$dir/cold.passes"
while [ $k -lt 5 ]; do
    "$AGENT" --once -c "$conf" 2>>"$dir/cold.log" |
        awk '$1 == "sqlite_agent_sample_pass_duration_seconds" { print NR, $2 }' >>"$dir/cold.passes"
    k=$((k + 1))
done
# shellcheck disable=SC2046 # split into words on purpose
set -- $( (echo skip; cat "$dir/cold.passes") | stats /dev/stdin)
echo "cold first pass (--once): median $1 ms, max $3 ms over $4 runs" >&2
bench_row "sample pass, $n dbs, cold (first pass, opens every file): median / max" \
    "$1 / $3 ms ($4 runs)" "(no target)" "$AGENT --once -c $conf"
