#!/bin/sh
# fleet.sh [N]: what a fleet of N databases (one glob section over make-dbs.sh's 100
# directories) costs, as issue 10 asks: bytes of exposition per database, descriptors at rest
# (check = off) and while checks run (check = quick, check_interval = 1s, 2 workers), and what
# a real Prometheus (/usr/bin/prometheus, scrape_interval 5s) measures of the agent:
# scrape_duration_seconds and scrape_samples_scraped.
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

n=${1:-1000}
dir=${BENCH_DIR:-/tmp/sqlite-agent-bench-$n}
bench_dbs "$dir" "$n"
PROM_PID=""
trap 'bench_stop; [ -z "$PROM_PID" ] || kill "$PROM_PID" 2>/dev/null' EXIT INT TERM

fds() { find "/proc/$BENCH_PID/fd" -mindepth 1 | wc -l; }

# At rest: nothing but the sampler.
conf=$dir/fleet-off.conf
bench_write_config "$conf" "$dir/db" "127.0.0.1:$(bench_free_port)" 15s 1h off 1
bench_start "$conf" "$dir/fleet-off.log"
sleep 3
rest=$(fds)
bench_stop

conf=$dir/fleet-quick.conf
bench_write_config "$conf" "$dir/db" "127.0.0.1:$(bench_free_port)" 15s 1s quick 2
bench_start "$conf" "$dir/fleet-quick.log"
until [ "$(bench_sum sqlite_up)" -ge "$n" ]; do sleep 0.5; done
most=0
k=0
while [ $k -lt 40 ]; do
    f=$(fds)
    [ "$f" -le "$most" ] || most=$f
    k=$((k + 1))
    sleep 0.25
done
echo "+ curl -s $BENCH_URL/metrics | wc -c" >&2
bytes=$(curl -fsS "$BENCH_URL/metrics" | wc -c)
gzbytes=$(curl -fsS -H 'Accept-Encoding: gzip' "$BENCH_URL/metrics" | wc -c)
per=$((bytes / n))
echo "exposition: $bytes bytes ($per per database), gzip $gzbytes; descriptors at rest $rest," \
    "at most $most of 40 looks while checks run" >&2
bench_row "exposition, $n dbs: bytes per database (gzip in all)" \
    "$per B ($bytes B, gzip $gzbytes B)" "<= 1,000 B" "curl -s $BENCH_URL/metrics | wc -c"
bench_row "descriptors, $n dbs: at rest (check = off) / most seen while 2 workers check" \
    "$rest / $most" "(fits 1,024)" "ls /proc/PID/fd | wc -l"

# A real Prometheus scraping the agent every 5 s.
pdir=$dir/prometheus
rm -rf "$pdir"
mkdir -p "$pdir"
pport=$(bench_free_port)
cat >"$pdir/prometheus.yml" <<YML
global:
  scrape_interval: 5s
  scrape_timeout: 5s
scrape_configs:
  - job_name: sqlite-agent
    static_configs:
      - targets: ["${BENCH_URL#http://}"]
YML
echo "+ prometheus --config.file=$pdir/prometheus.yml (scrape_interval 5s)" >&2
/usr/bin/prometheus --config.file="$pdir/prometheus.yml" --web.listen-address="127.0.0.1:$pport" \
    --storage.tsdb.path="$pdir/data" --log.level=warn >"$pdir/log" 2>&1 &
PROM_PID=$!
q() {
    curl -fsS "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
        $PY -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "-")'
}
sleep 32
dur=$(q 'max_over_time(scrape_duration_seconds{job="sqlite-agent"}[30s])')
med=$(q 'quantile_over_time(0.5, scrape_duration_seconds{job="sqlite-agent"}[30s])')
samples=$(q 'scrape_samples_scraped{job="sqlite-agent"}')
upv=$(q 'min_over_time(up{job="sqlite-agent"}[30s])')
echo "prometheus: scrape_duration_seconds median $med max $dur over 30 s;" \
    "scrape_samples_scraped $samples; up $upv" >&2
bench_row "real Prometheus scraping $n dbs every 5 s: scrape_duration_seconds median / max; scrape_samples_scraped" \
    "$(printf '%.3f / %.3f s; %s samples (up %s)' "$med" "$dur" "$samples" "$upv")" "(no target)" \
    "prometheus, scrape_duration_seconds and scrape_samples_scraped over 30 s"
