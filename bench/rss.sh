#!/bin/sh
# rss.sh [N] [PASSES]: memory of the daemon watching N databases (check = quick, check_interval
# = 1s, sample_interval = 1s, one check worker) after PASSES check passes (default 3) and 20
# scrapes (10 plain, 10 gzip, so the response buffers count), then again after 3 x PASSES
# passes to show whether it grows. VmRSS and VmHWM from /proc/PID/status; descriptors from
# /proc/PID/fd.
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

n=${1:-1000}
passes=${2:-3}
dir=${BENCH_DIR:-/tmp/sqlite-agent-bench-$n}
bench_dbs "$dir" "$n"
trap 'bench_stop' EXIT INT TERM

# The target: < 20 MiB for the 1,000 of the first benchmarks; <= 64 MiB from 10,000 (issue 10).
if [ "$n" -ge 10000 ]; then target="<= 64 MiB"; else target="< 20 MiB"; fi

conf=$dir/rss.conf
bench_write_config "$conf" "$dir/db" "127.0.0.1:$(bench_free_port)" 1s 1s quick 1
bench_start "$conf" "$dir/rss.log"

# wait_checks COUNT: until COUNT checks have completed in all (120 s, or 5 ms a check).
wait_checks() {
    limit=$(($1 / 20 > 1200 ? $1 / 20 : 1200))
    i=0
    until [ "$(bench_sum sqlite_agent_check_runs_total)" -ge "$1" ]; do
        i=$((i + 1))
        [ $i -lt "$limit" ] ||
            bench_die "only $(bench_sum sqlite_agent_check_runs_total) of $1 checks in $((limit / 10)) s"
        sleep 0.1
    done
}

scrape() {
    k=0
    while [ $k -lt 10 ]; do
        curl -fsS -o /dev/null "$BENCH_URL/metrics"
        curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' "$BENCH_URL/metrics"
        k=$((k + 1))
    done
}

# status FIELD: FIELD of /proc/PID/status in MiB.
status() {
    awk -v f="$1:" '$1 == f { printf "%.1f\n", $2 / 1024 }' "/proc/$BENCH_PID/status"
}

# report PASSES
report() {
    wait_checks $(($1 * n))
    scrape
    rss=$(status VmRSS) hwm=$(status VmHWM) anon=$(status RssAnon) file=$(status RssFile)
    fds=$(find "/proc/$BENCH_PID/fd" -mindepth 1 | wc -l)
    runs=$(bench_sum sqlite_agent_check_runs_total)
    echo "after $runs checks ($1 passes) and 20 scrapes: VmRSS $rss MiB, VmHWM $hwm MiB," \
        "$fds descriptors open; RssAnon $anon MiB (heap, stacks), RssFile $file MiB" \
        "(mapped binary and libraries)" >&2
    bench_row "daemon memory, $n dbs, after $1 check passes + 20 scrapes: VmRSS / VmHWM" \
        "$rss / $hwm MiB ($fds fds)" "$target" \
        "$AGENT -c $conf; grep -E 'VmRSS|VmHWM' /proc/$BENCH_PID/status"
}

echo "+ grep -E 'VmRSS|VmHWM' /proc/$BENCH_PID/status; ls /proc/$BENCH_PID/fd | wc -l" >&2
report "$passes"
report $((passes * 3))
