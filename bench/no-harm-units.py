#!/usr/bin/python3
"""no-harm-units.py: what each check unit costs (checkunits.h), against one pass.

    bench/no-harm-units.py [--dir /tmp/sqlite-agent-noharm] [--pragma integrity_check]

On the bench/no-harm.py WAL database (one 1.2 M-row table with an index, 450 MB) and on a
database of 8 tables of 50,000 rows (and one index) each, warm cache: the wall time of the
plain pragma (the whole-file unit), of `PRAGMA p('sqlite_schema')`, and of `PRAGMA p('T')` per
table, each the median of 3, with SQLite's default page cache, as the agent runs them.
"""

import argparse
import os
import sqlite3
import statistics
import sys
import time


def timed(con, sql):
    runs = []
    for _ in range(3):
        t0 = time.monotonic()
        rows = con.execute(sql).fetchall()
        runs.append(time.monotonic() - t0)
    assert rows == [("ok",)], rows
    return statistics.median(runs)


def make_tables(path, tables=8, rows=50000):
    if os.path.exists(path):
        return
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    for i in range(tables):
        con.execute("CREATE TABLE s%d(id INTEGER PRIMARY KEY, k TEXT, v BLOB)" % i)
        con.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)"
                    " INSERT INTO s%d SELECT x, hex(randomblob(8)), randomblob(200) FROM n" % i,
                    (rows,))
        con.execute("CREATE INDEX s%d_k ON s%d(k)" % (i, i))
    con.commit()
    con.close()


def report(path, pragma):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table' "
                                        "AND rootpage > 0 ORDER BY name")]
    whole = timed(con, "PRAGMA %s" % pragma)
    units = [("sqlite_schema", timed(con, "PRAGMA %s('sqlite_schema')" % pragma))]
    units += [(t, timed(con, "PRAGMA %s('%s')" % (pragma, t))) for t in tables]
    print("%s (%.0f MB): whole-file unit %.3f s; split units: %s; sum %.3f s; longest %.3f s"
          % (os.path.basename(path), os.path.getsize(path) / 1e6, whole,
             ", ".join("%s %.3f" % u for u in units), sum(u[1] for u in units),
             max(u[1] for u in units)))
    con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/sqlite-agent-noharm")
    ap.add_argument("--pragma", default="integrity_check")
    a = ap.parse_args()
    print("+ %s" % " ".join(sys.argv), file=sys.stderr)
    print("cores %d, load average %s, sqlite %s" % (os.cpu_count(), os.getloadavg(),
                                                    sqlite3.sqlite_version))
    make_tables(os.path.join(a.dir, "tables.db"))
    for name in ("wal.db", "tables.db"):
        report(os.path.join(a.dir, name), a.pragma)


if __name__ == "__main__":
    main()
