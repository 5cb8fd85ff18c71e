#!/bin/sh
# fuzz.sh SECONDS [BUILD_DIR]: builds every libFuzzer target (tests/fuzz/fuzz_*.c) with clang
# and runs each for SECONDS on a seed corpus made here from real files: a database, -wal and
# -shm written by sqlite3, the system's libsqlite3 and a fuzz target (ELF), this shell's
# /proc/self/maps lines, the README's config, a few Accept-Encoding values and version texts. Fails on the first crash, leak, sanitizer report
# or broken contract (each target aborts on one); the input that did it is left in BUILD_DIR
# as crash-*/leak-*/timeout-*. scripts/test.sh runs it for a few seconds; bench/fuzz.sh longer.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz.sh SECONDS [BUILD_DIR]}
dir=${2:-build-fuzz}

cmake -S . -B "$dir" -DFUZZ=ON -DBUILD_TESTING=OFF -DWERROR=ON -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
# shellcheck disable=SC2086
cmake --build "$dir" -j"$(nproc)" --target $targets >/dev/null

seeds="$dir/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/fileformat" "$seeds/elfver" "$seeds/mapline" "$seeds/config"
# A WAL database with a live -wal and -shm (the connection is still open when they are copied).
/usr/bin/python3 - "$seeds/fileformat" <<'PY'
import os, shutil, sqlite3, sys
out = sys.argv[1]
db = os.path.join(out, "work.db")
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode=WAL")
con.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)")
con.executemany("INSERT INTO t(b) VALUES (?)", [("x" * 100,)] * 50)
con.commit()
for suffix in ("-wal", "-shm"):
    shutil.copyfile(db + suffix, os.path.join(out, "seed" + suffix))
shutil.copyfile(db, os.path.join(out, "seed.db"))
con.close()
for f in ("work.db", "work.db-wal", "work.db-shm"):
    if os.path.exists(os.path.join(out, f)):
        os.unlink(os.path.join(out, f))
PY
for lib in /usr/lib/*/libsqlite3.so.0 "$dir/fuzz_mapline"; do
    [ -e "$lib" ] && cp "$lib" "$seeds/elfver/"
done
i=0
while IFS= read -r line && [ $i -lt 40 ]; do
    printf '%s' "$line" >"$seeds/mapline/line$i"
    i=$((i + 1))
done </proc/self/maps
sed -n '/^\[agent\]/,/^```/p' README.md | sed '$d' >"$seeds/config/readme.ini"
mkdir -p "$seeds/http" "$seeds/sqlitever"
printf 'gzip' >"$seeds/http/plain"
printf 'gzip, deflate, br' >"$seeds/http/browser"
printf 'deflate;q=1.0, gzip;q=0.5, *;q=0' >"$seeds/http/weights"
printf '3.40.1' >"$seeds/sqlitever/debian12"
printf '3.8.11.1' >"$seeds/sqlitever/four-part"
[ -f conf/sqlite-agent.ini ] && cp conf/sqlite-agent.ini "$seeds/config/"
# The WAL frame parser and the checkpoint audit start from a real -wal (fuzz_walframe.c).
mkdir -p "$seeds/walframe"
cp "$seeds/fileformat/seed-wal" "$seeds/walframe/"

for t in $targets; do
    name=${t#fuzz_}
    corpus="$dir/corpus/$name"
    mkdir -p "$corpus"
    [ -d "$seeds/$name" ] || mkdir -p "$seeds/$name"
    echo "=== fuzz: $t for ${seconds}s" >&2
    # -max_len: the ELF seeds are big; other targets' inputs are short. -timeout: a parser
    # promises bounded work, so one slow input is a failure too.
    (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 "./$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=1024 -print_final_stats=1 "corpus/$name" "seeds/$name" \
        >"fuzz-$name.log" 2>&1) || { tail -50 "$dir/fuzz-$name.log"; exit 1; }
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$dir/fuzz-$name.log" |
        tr '\n' ' ' >&2
    echo >&2
done
