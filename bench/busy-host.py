#!/usr/bin/python3
"""busy-host.py: does a check pin the WAL on a host whose CPUs are saturated? (issue 8)

    bench/busy-host.py [--rounds 4] [--seconds 15] [--hogs 3] [--modes none,agent]

The workload of test_no_harm.NoHarmTest.test_concurrent_writers_on_a_busy_host, measured instead
of asserted: --hogs processes spin (`while True: pass`) while four writer processes (the test's
own _writer) commit in WAL mode with the settings recommended for concurrent writers (BEGIN
IMMEDIATE, 20 inserts, a delete and an update in one transaction in five, busy timeout 5 s),
for --seconds. Mode "none" runs the writers alone; "agent" beside the agent with check =
integrity and check_interval = 1s.
Per round: commits, errors ("database is locked"), the writers' longest transaction (from
BEGIN IMMEDIATE to COMMIT, waits included), the -wal's peak size (stat every 0.1 s), and from
the agent's /metrics: checks completed, yields, the longest snapshot a check held.
SQLITE_AGENT_BIN names the binary (default build/sqlite-agent).
"""

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("SQLITE_AGENT_BIN", os.path.join(ROOT, "build", "sqlite-agent"))
import fixtures as F  # noqa: E402
import harness as H  # noqa: E402
from test_no_harm import _writer  # noqa: E402  (the test's own writer)

WRITERS = 4


def one_round(agent, hogs_n, seconds):
    d = tempfile.mkdtemp(prefix="busy-host-")
    path = F.make_healthy(d, "busy.db", wal=True)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs_n)]
    a, extra, peak = None, "", 0
    try:
        if agent:
            a = H.Agent([dict(name="busy", path=path, check="integrity")],
                        {"check_interval": "1s", "sample_interval": "100ms",
                         "check_timeout": "30s"})
            a.__enter__()
            a.wait_value("sqlite_check_runs_total", dict(db="busy", result="ok"),
                         lambda v: v and v >= 1, 15)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(path, seconds, i, q)) for i in range(WRITERS)]
        for p in procs:
            p.start()
        results = []
        while len(results) < WRITERS:
            try:
                peak = max(peak, os.path.getsize(path + "-wal"))
            except OSError:
                pass
            while not q.empty():
                results.append(q.get())
            time.sleep(0.1)
        for p in procs:
            p.join(30)
        if a:
            s = a.scrape()
            extra = " checks=%d yields=%d snapshot_max=%.3fs" % (
                H.value(s, "sqlite_check_runs_total", db="busy", result="ok"),
                H.value(s, "sqlite_check_yields_total", db="busy"),
                H.value(s, "sqlite_check_snapshot_max_seconds", db="busy"))
    finally:
        if a:
            a.__exit__(None, None, None)
        for h in hogs:
            h.kill()
            h.wait()
        shutil.rmtree(d, True)
    print("%-5s commits=%d errors=%d longest=%.2fs wal_peak=%.0fMB%s" % (
        "agent" if agent else "none", sum(r[1] for r in results),
        sum(len(r[2]) for r in results), max(r[3] for r in results), peak / 1e6, extra),
        flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--hogs", type=int, default=3)
    ap.add_argument("--modes", default="none,agent")
    args = ap.parse_args()
    print("# %s  cores=%d load=%.2f binary=%s" % (" ".join(sys.argv), os.cpu_count(),
                                                   os.getloadavg()[0],
                                                   os.environ["SQLITE_AGENT_BIN"]))
    for _ in range(args.rounds):
        for m in args.modes.split(","):
            one_round(m == "agent", args.hogs, args.seconds)


if __name__ == "__main__":
    main()
