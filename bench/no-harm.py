#!/usr/bin/python3
"""no-harm.py: does a check make the application wait? (issue 8)

    bench/no-harm.py [--seconds 25] [--rounds 2] [--dir /tmp/sqlite-agent-noharm] [--rows 1200000]

The workload of issue 8 on a database of at least 400 MB (1.2 M rows of ~330 bytes, one index):
one application process commits a small row every 5 ms (BEGIN IMMEDIATE, busy timeout 5 s,
Django's default) and a second runs PRAGMA wal_checkpoint(TRUNCATE) every second. Phases, in one
run, each --seconds long, the same workload each time:
  off      no agent
  on       the agent, check = integrity, check_interval = 1s (defaults otherwise)
  on, normal  the same with check_priority = normal
  on-15s   the agent, but the checkpointer every 15 s: checks must still complete
and the same for a rollback-journal copy with the writer alone (off / on). Per phase: commits
and commits/s, `database is locked` (and other errors), the writer's longest commit, the
checkpoint call's longest wait, and from the agent's /metrics (scraped every 0.5 s): checks
completed, busy runs, yields, the longest snapshot any run held, bytes read.
Prints the command line and the environment (cores, load) with the figures.
"""

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.environ.get("SQLITE_AGENT_BIN", os.path.join(ROOT, "build", "sqlite-agent"))


def build_db(path, rows, wal):
    if os.path.exists(path) and os.path.getsize(path) >= 400e6 * rows / 1200000 * 0.9:
        return
    tmp = path + ".tmp"
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(tmp + suffix):
            os.unlink(tmp + suffix)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA page_size=4096")
    con.execute("PRAGMA journal_mode=%s" % ("WAL" if wal else "DELETE"))
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB, at REAL)")
    con.execute("WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
                "INSERT INTO t SELECT x, hex(randomblob(8)), randomblob(300), 0 FROM s", (rows,))
    con.execute("CREATE INDEX t_k ON t(k)")
    con.commit()
    con.close()
    os.replace(tmp, path)


def writer(path, seconds, out):
    con = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    con.execute("PRAGMA busy_timeout=5000")
    con.execute("PRAGMA synchronous=NORMAL")
    commits, locked, other, longest = 0, 0, [], 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO t(k, v, at) VALUES (hex(randomblob(8)), randomblob(40), ?)",
                        (time.time(),))
            con.execute("COMMIT")
            commits += 1
        except sqlite3.Error as e:
            if "locked" in str(e) or "busy" in str(e):
                locked += 1
            else:
                other.append(str(e))
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        longest = max(longest, time.monotonic() - t0)
        time.sleep(0.005)
    con.close()
    out.put(("writer", dict(commits=commits, locked=locked, other=other[:3],
                            longest_commit_s=round(longest, 3))))


def checkpointer(path, seconds, every, out):
    con = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    n, busy, longest = 0, 0, 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() + every < deadline:
        time.sleep(every)
        t0 = time.monotonic()
        try:
            busy += con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:
            busy += 1
        n += 1
        longest = max(longest, time.monotonic() - t0)
    con.close()
    out.put(("checkpointer", dict(checkpoints=n, busy=busy, longest_wait_s=round(longest, 3))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(sqlite_check_\w+)\{db="bench"[^}]*?(?:result="(\w+)")?\} (\S+)$', line)
        if m:
            key = m.group(1) + ("/" + m.group(2) if m.group(2) else "")
            out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


class Agent:
    def __init__(self, path, workdir, extra=""):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.conf = os.path.join(workdir, "agent.ini")
        with open(self.conf, "w") as f:
            f.write("[agent]\nlisten = 127.0.0.1:%d\nsample_interval = 1s\ncheck_interval = 1s\n"
                    "check_timeout = 10m\nlog_level = warn\n%s\n[database:bench]\npath = %s\n"
                    "check = integrity\n" % (self.port, extra, path))
        self.log = open(os.path.join(workdir, "agent.log"), "w")
        self.proc = subprocess.Popen([AGENT, "-c", self.conf], stderr=self.log)
        for _ in range(200):
            try:
                scrape(self.url)
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("agent did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def phase(name, path, seconds, every, agent_dir, extra=""):
    agent = Agent(path, agent_dir, extra) if agent_dir else None
    base = scrape(agent.url) if agent else {}
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=writer, args=(path, seconds, q))]
    if every:
        procs.append(ctx.Process(target=checkpointer, args=(path, seconds, every, q)))
    for p in procs:
        p.start()
    snap_max, last = 0.0, base
    deadline = time.monotonic() + seconds
    while agent and time.monotonic() < deadline:
        time.sleep(0.5)
        last = scrape(agent.url)
        snap_max = max(snap_max, last.get("sqlite_check_snapshot_max_seconds", 0.0))
    res = dict(q.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    row = dict(phase=name, **res["writer"])
    row["commits_per_s"] = round(row["commits"] / seconds, 1)
    if "checkpointer" in res:
        row.update(res["checkpointer"])
    if agent:
        last = scrape(agent.url)
        snap_max = max(snap_max, last.get("sqlite_check_snapshot_max_seconds", 0.0))

        def d(k):
            return int(last.get(k, 0) - base.get(k, 0))
        row.update(checks_completed=d("sqlite_check_runs_total/ok") +
                   d("sqlite_check_runs_total/malformed"),
                   checks_busy=d("sqlite_check_runs_total/busy"),
                   checks_timeout=d("sqlite_check_runs_total/timeout"),
                   yields=d("sqlite_check_yields_total"),
                   snapshot_max_s=round(snap_max, 3),
                   read_mb=round(d("sqlite_check_read_bytes_total") / 1e6, 1))
        agent.stop()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--dir", default="/tmp/sqlite-agent-noharm")
    ap.add_argument("--rows", type=int, default=1200000)
    ap.add_argument("--rollback-rows", type=int, default=300000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--phases", default="wal,normal,15s,rollback",
                    help="comma-separated subset of wal,normal,15s,rollback")
    ap.add_argument("--agent", action="append", default=[], metavar="KEY=VALUE",
                    help="an [agent] key for every agent phase, e.g. check_yield_after=0")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    print("+ %s" % " ".join(sys.argv), file=sys.stderr)
    print("cores %d, load average %s, sqlite %s" % (os.cpu_count(), os.getloadavg(),
                                                    sqlite3.sqlite_version))
    wal = os.path.join(a.dir, "wal.db")
    rb = os.path.join(a.dir, "rollback.db")
    build_db(wal, a.rows, True)
    build_db(rb, a.rollback_rows, False)
    print("WAL database %.0f MB, rollback database %.0f MB"
          % (os.path.getsize(wal) / 1e6, os.path.getsize(rb) / 1e6))
    work = tempfile.mkdtemp(prefix="noharm-agent-")
    rows = []
    # Warm the page cache the same way for every phase: one read of each file.
    for p in (wal, rb):
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass
    # Off and on alternate, --rounds times: on a shared host the load drifts between phases,
    # and each ratio below compares a phase with the one right before it.
    want = a.phases.split(",")
    extra = "".join("%s = %s\n" % tuple(kv.split("=", 1)) for kv in a.agent)
    if extra:
        print("agent keys: %s" % ", ".join(a.agent))
    for k in range(a.rounds if "wal" in want else 0):
        rows.append(phase("wal off", wal, a.seconds, 1.0, None))
        rows.append(phase("wal on", wal, a.seconds, 1.0, work, extra))
    if "normal" in want:
        rows.append(phase("wal on, check_priority normal", wal, a.seconds, 1.0, work,
                          extra + "check_priority = normal\n"))
    if "15s" in want:
        rows.append(phase("wal on, ckpt 15s", wal, max(a.seconds, 40), 15.0, work, extra))
    for k in range(a.rounds if "rollback" in want else 0):
        rows.append(phase("rollback off", rb, a.seconds, 0, None))
        rows.append(phase("rollback on", rb, a.seconds, 0, work, extra))
    shutil.rmtree(work, True)
    for r in rows:
        print(json.dumps(r))
    for i in range(1, len(rows)):
        off, on = rows[i - 1], rows[i]
        if off["phase"].endswith(" off") and on["phase"] == off["phase"][:-4] + " on":
            print("%s: throughput on/off %.2f; longest commit off %.3f s, on %.3f s; locked on %d"
                  % (on["phase"], on["commits"] / max(off["commits"], 1),
                     off["longest_commit_s"], on["longest_commit_s"], on["locked"]))
    print("load average at the end %s" % (os.getloadavg(),))


if __name__ == "__main__":
    main()
