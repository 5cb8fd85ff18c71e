#!/bin/sh
# run-all.sh [N]: every benchmark on N databases (default 1000), then one markdown table of
# figure, measured value, target and the command that measured it. Progress and the commands
# run go to stderr; the table goes to stdout. Takes about four minutes.
# BENCH_DIR (default /tmp/sqlite-agent-bench-N) holds the databases; they are made once and
# reused by later runs.
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

n=${1:-1000}
export BENCH_DIR="${BENCH_DIR:-/tmp/sqlite-agent-bench-$n}"
bench_dbs "$BENCH_DIR" "$n"
rows=$BENCH_DIR/rows.md
load0=$(cut -d' ' -f1-3 /proc/loadavg)
sha0=$(sha256sum "$AGENT" | cut -c1-12)
: >"$rows"
for b in sample-pass check-pass metrics-latency rss fleet; do
    echo "=== bench/$b.sh $n" >&2
    "$BENCH_ROOT/bench/$b.sh" "$n" >>"$rows"
done

echo
sha1=$(sha256sum "$AGENT" | cut -c1-12)
[ "$sha0" = "$sha1" ] || echo "WARNING: $AGENT changed during the run ($sha0 -> $sha1)"
echo "$("$AGENT" --version), binary sha256 $sha1 built" \
    "$(date -u -r "$AGENT" +%H:%M:%SZ); load average before $load0, after" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 |
    sed 's/^ *//'); Linux $(uname -r); $(date -u +%Y-%m-%d)"
echo
echo "| figure | measured | target | command |"
echo "|---|---|---|---|"
cat "$rows"
