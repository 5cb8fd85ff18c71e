#!/bin/sh
# check-pass.sh [N] [REPEAT]: CPU seconds (user + sys) to quick_check N small databases once.
#
# 1. The agent: `sqlite-agent --once` with check = quick (start, one sample pass, one
#    quick_check of every database on one thread, render) and the same with check = off; the
#    difference is the checking alone.
# 2. A cron-style loop running the sqlite3 shell read-only on each of the same files.
# Each is run REPEAT times (default 5); the median and the range are reported. CPU comes from
# /usr/bin/time, which reports the rusage of the child and of all the children it waited for.
set -eu
. "$(dirname "$0")/lib.sh"

n=${1:-1000}
repeat=${2:-5}
dir=${BENCH_DIR:-/tmp/sqlite-agent-bench-$n}
bench_dbs "$dir" "$n"
bench_write_config "$dir/once-quick.conf" "$dir/db" 127.0.0.1:10150 15s 5m quick 1
bench_write_config "$dir/once-off.conf" "$dir/db" 127.0.0.1:10150 15s 5m off 1
t=$dir/time.out

# median_cpu CMD...: runs CMD REPEAT times; prints "median min max" of user+sys, then max RSS.
median_cpu() {
    : >"$t.all"
    k=0
    while [ $k -lt "$repeat" ]; do
        /usr/bin/time -o "$t" -f '%U %S %M %e' "$@" >/dev/null 2>"$t.err" ||
            [ $? -eq 3 ] || bench_die "failed: $* ($(tail -3 "$t.err"))"
        awk '{ printf "%.3f %d %.3f\n", $1 + $2, $3, $4 }' "$t" >>"$t.all"
        k=$((k + 1))
    done
    sort -n "$t.all" | awk '{ c[NR] = $1; m = $2 > m ? $2 : m; e[NR] = $3 }
        END { printf "%.3f %.3f %.3f %d %.3f\n", c[int((NR + 1) / 2)], c[1], c[NR], m,
              e[int((NR + 1) / 2)] }'
}

echo "+ /usr/bin/time -f '%U %S %M %e' $AGENT --once -c $dir/once-quick.conf   (x$repeat)" >&2
set -- $(median_cpu "$AGENT" --once -c "$dir/once-quick.conf")
quick=$1 quick_min=$2 quick_max=$3 quick_rss=$4 quick_wall=$5
echo "+ /usr/bin/time -f '%U %S %M %e' $AGENT --once -c $dir/once-off.conf   (x$repeat)" >&2
set -- $(median_cpu "$AGENT" --once -c "$dir/once-off.conf")
off=$1 off_min=$2 off_max=$3
checking=$(echo "$quick $off" | awk '{ printf "%.3f", $1 - $2 }')

loop="for f in $dir/db/*.sqlite3; do sqlite3 -readonly \"\$f\" 'PRAGMA quick_check' >/dev/null; done"
echo "+ /usr/bin/time -f '%U %S %M %e' sh -c '$loop'   (x$repeat)" >&2
set -- $(median_cpu sh -c "$loop")
cron=$1 cron_min=$2 cron_max=$3 cron_wall=$5

cat >&2 <<MSG
agent --once, check = quick: ${quick} s CPU (median of $repeat; ${quick_min}..${quick_max}),
                             ${quick_wall} s wall, max RSS ${quick_rss} KiB
agent --once, check = off:   ${off} s CPU (${off_min}..${off_max})
checking alone (difference): ${checking} s CPU for $n quick_checks
sqlite3 shell loop:          ${cron} s CPU (${cron_min}..${cron_max}), ${cron_wall} s wall
MSG
bench_row "quick_check pass, $n dbs: agent --once CPU (user+sys, whole process)" \
    "${quick} s (${quick_min}..${quick_max})" "< 0.5 s" "$AGENT --once -c $dir/once-quick.conf"
bench_row "  of which checking (check=quick minus check=off)" "${checking} s" "< 0.5 s" \
    "$AGENT --once -c $dir/once-off.conf"
bench_row "quick_check pass, $n dbs: sqlite3 shell loop CPU" "${cron} s (${cron_min}..${cron_max})" \
    "(comparison)" "sh -c '$loop'"
