#!/bin/sh
# make-dbs.sh DIR [N]: N small databases (default 1000) in 100 directories DIR/db/t000..t099
# (database i in t(i mod 100)), as a fleet of one database per tenant, and a config finding them
# all with one glob section in DIR/agent.conf. Even-numbered databases are in WAL mode with a live -wal (frames not yet
# checkpointed) and -shm; odd-numbered ones use the rollback journal. Each has one table, one
# index and 300 rows.
#
# The -wal survives because the writer closes with SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE
# (`.dbconfig no_ckpt_on_close on` in the sqlite3 shell, SQLite >= 3.16): without it, the last
# connection to close checkpoints and deletes the -wal and -shm. The agent's read-only
# connections cannot checkpoint (no write lock on an O_RDONLY descriptor), so the WAL stays.
# One sqlite3 process makes all of them: 1000 databases take about a second.
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

dir=${1:?usage: make-dbs.sh DIR [N]}
n=${2:-1000}
mkdir -p "$dir/db"
dir=$(cd "$dir" && pwd)

script=$dir/make-dbs.sql
: >"$script"
i=0
while [ $i -lt "$n" ]; do
    sub=$(printf '%s/db/t%03d' "$dir" $((i % 100)))
    [ -d "$sub" ] || mkdir -p "$sub"
    f=$(printf '%s/db%05d.sqlite3' "$sub" $i)
    rm -f "$f" "$f-wal" "$f-shm" "$f-journal"
    printf '.open %s\n' "$f" >>"$script"
    if [ $((i % 2)) -eq 0 ]; then
        printf '.dbconfig no_ckpt_on_close on\nPRAGMA journal_mode=WAL;\n' >>"$script"
    fi
    # 250 rows, a checkpoint (a no-op in rollback mode), then 50 more: a WAL database has
    # pages in both the database file and the -wal.
    cat >>"$script" <<'SQL'
CREATE TABLE item(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB);
CREATE INDEX item_k ON item(k);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 250)
INSERT INTO item(k, v) SELECT hex(randomblob(8)), randomblob(64) FROM c;
PRAGMA wal_checkpoint;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50)
INSERT INTO item(k, v) SELECT hex(randomblob(8)), randomblob(64) FROM c;
SQL
    i=$((i + 1))
done
echo ".open :memory:" >>"$script"
echo "+ sqlite3 -bail <$script >/dev/null" >&2
sqlite3 -bail <"$script" >/dev/null
rm -f "$script"

bench_write_config "$dir/agent.conf" "$dir/db" 127.0.0.1:10150 15s 5m quick 1
"$AGENT" --check-config -c "$dir/agent.conf" >&2
echo "made $n databases in $dir/db/t*:" \
    "$(find "$dir/db" -name '*.sqlite3-wal' | wc -l) with a -wal," \
    "$(find "$dir/db" -name '*.sqlite3-shm' | wc -l) with a -shm;" \
    "$(du -sh "$dir/db" | cut -f1) in all; config $dir/agent.conf"
