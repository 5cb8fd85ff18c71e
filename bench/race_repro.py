#!/usr/bin/python3
"""race_repro.py LIBDIR [SECONDS] [DELAY_US] [--recheck]: the WAL-reset race itself, on an
assisted SQLite build, with the agent watching (issue 12; optional, not part of the suite).

LIBDIR holds a libsqlite3.so.0 built from SQLite 3.40.1 with a delay at the start of
walCheckpoint() for PASSIVE checkpoints (env SQLITE_RACE_DELAY_US), between the
checkpointer's wal-index header read and its use; with SQLITE_RACE_RECHECK the same build gives
up when the header changed meanwhile (a control written for this test, not the upstream fix).
How to build it: docs/benchmarks.md, "The race on an assisted build".

Three writer processes (WAL, synchronous=NORMAL, BEGIN IMMEDIATE, mmap_size, autocheckpoint)
insert rows with unique keys and count the ones they saw committed; a scheduler process runs
PASSIVE checkpoints through the delayed path (and a TRUNCATE now and then). The agent watches
with its defaults (watch = normal: the database is exposed, a 3.40.1 library and several
processes), integrity_check runs from another process every second. Prints when the agent
counted what, when integrity_check first failed, and how many acknowledged rows are missing.
"""
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.environ.get("SQLITE_AGENT_BIN", os.path.join(ROOT, "build", "sqlite-agent"))

WRITER = r"""
import random, sqlite3, sys, time
path, wid, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
con = sqlite3.connect(path, isolation_level=None, timeout=60)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA mmap_size=268435456")
con.execute("PRAGMA busy_timeout=60000")
deadline = time.monotonic() + seconds
acked = 0
try:
    while time.monotonic() < deadline:
        con.execute("BEGIN IMMEDIATE")
        n = random.randint(1, 5)
        for i in range(n):
            con.execute("INSERT INTO t(wid, seq, v) VALUES (?, ?, randomblob(?))",
                        (wid, acked + i + 1, random.randint(50, 600)))
        con.execute("COMMIT")
        acked += n  # acknowledged: the COMMIT returned
except sqlite3.DatabaseError as e:
    sys.stderr.write("writer %d stopped: %s\n" % (wid, e))
print(acked)
"""

SCHEDULER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
con.execute("PRAGMA busy_timeout=60000")
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    # Two in a row: the second often starts on a fully checkpointed WAL (nBackfill ==
    # mxFrame), the state in which a writer may restart the WAL under it.
    for _ in range(2):
        con.execute("PRAGMA wal_checkpoint(%s)" % ("TRUNCATE" if n % 20 == 19 else "PASSIVE")).fetchall()
        n += 1
    time.sleep(0.005)
print(n)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(port, name, **labels):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.split()[-1])
    return total


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    libdir = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    delay = sys.argv[3] if len(sys.argv) > 3 else "20000"
    recheck = "--recheck" in sys.argv
    d = tempfile.mkdtemp(prefix="race-repro-")
    path = os.path.join(d, "app.db")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, wid INT, seq INT, v BLOB)")
    con.execute("CREATE UNIQUE INDEX t_ws ON t(wid, seq)")
    con.close()
    port = free_port()
    cfg = os.path.join(d, "agent.ini")
    with open(cfg, "w") as f:
        f.write("[agent]\nlisten = 127.0.0.1:%d\nsample_interval = 200ms\n"
                "[database:app]\npath = %s\ncheck = off\n" % (port, path))
    log = open(os.path.join(d, "agent.log"), "wb")
    agent = subprocess.Popen([AGENT, "-c", cfg], stdout=subprocess.DEVNULL, stderr=log)
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    sched_env = dict(env, SQLITE_RACE_DELAY_US=delay)
    if recheck:
        sched_env["SQLITE_RACE_RECHECK"] = "1"
    time.sleep(1)
    t0 = time.monotonic()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(i), str(seconds)],
                                stdout=subprocess.PIPE, text=True, env=env) for i in range(3)]
    sched = subprocess.Popen([sys.executable, "-c", SCHEDULER, path, str(seconds)],
                             stdout=subprocess.PIPE, text=True, env=sched_env)
    first = {}
    while any(p.poll() is None for p in writers + [sched]):
        now = time.monotonic() - t0
        for key, name, labels in (("lost_pages", "sqlite_wal_checkpoint_lost_pages_total", {}),
                                  ("backfill_past_end", "sqlite_wal_index_anomalies_total",
                                   {"kind": "backfill_past_end"}),
                                  ("watched", "sqlite_wal_index_close_watch", {})):
            if key not in first and metric(port, name, **labels) > 0:
                first[key] = now
        if "integrity" not in first:
            try:
                c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
                rows = [r[0] for r in c.execute("PRAGMA integrity_check")]
                c.close()
                if rows != ["ok"]:
                    first["integrity"] = now
                    first["integrity_rows"] = rows[:3]
            except sqlite3.DatabaseError as e:
                first["integrity"] = now
                first["integrity_rows"] = [str(e)]
        time.sleep(1)
    acked = [int(p.communicate()[0]) for p in writers]
    ckpts = int(sched.communicate()[0])
    c = sqlite3.connect(path)
    try:
        # Through the table itself (NOT INDEXED): the index may disagree with it.
        present = [c.execute("SELECT count(*) FROM t NOT INDEXED WHERE wid=?",
                             (i,)).fetchone()[0] for i in range(3)]
    except sqlite3.DatabaseError as e:
        present = None
        present_err = str(e)
    try:
        final = [r[0] for r in c.execute("PRAGMA integrity_check")][:3]
    except sqlite3.DatabaseError as e:
        final = ["EXC: %s" % e]
    c.close()
    counts = {k: metric(port, n, **l) for k, n, l in (
        ("lost_pages", "sqlite_wal_checkpoint_lost_pages_total", {}),
        ("backfill_past_end", "sqlite_wal_index_anomalies_total", {"kind": "backfill_past_end"}),
        ("unstable_header", "sqlite_wal_index_anomalies_total", {"kind": "unstable_header"}),
        ("audits", "sqlite_wal_checkpoint_audits_total", {}),
        ("pages_audited", "sqlite_wal_checkpoint_audited_pages_total", {}))}
    agent.terminate()
    agent.wait(10)
    log.close()
    findings = [l for l in open(os.path.join(d, "agent.log")) if "checkpoint audit" in l or
                "nBackfill > mxFrame" in l]
    print("+ bench/race_repro.py %s %.0f %s%s" % (libdir, seconds, delay,
                                                  " --recheck" if recheck else ""))
    if present is None:
        print("rows acknowledged per writer %s; counting them failed: %s; scheduler "
              "checkpoints %d" % (acked, present_err, ckpts))
    else:
        print("rows acknowledged per writer %s, present %s, missing %d; scheduler checkpoints %d"
              % (acked, present, sum(acked) - sum(present), ckpts))
    print("agent counters: %s" % ", ".join("%s %d" % kv for kv in counts.items()))
    print("first seen (s after start): %s" % {k: (round(v, 2) if isinstance(v, float) else v)
                                              for k, v in first.items()})
    print("integrity_check at the end: %s" % final)
    for l in findings[:4]:
        print("agent log: " + re.sub(r"path=\S+ ", "", l.strip())[:300])
    print("files kept in %s" % d)


if __name__ == "__main__":
    main()
