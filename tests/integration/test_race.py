"""The WAL-reset race caught in the act (issue 12): the close watch and the checkpoint audit.

1. The race's end state, built in a live WAL database. A real application process (python3's
   sqlite3, WAL, automatic checkpoints off) holds the database open and writes; the test then
   writes the -shm as the race leaves it: WalCkptInfo.nBackfill claiming frames that were never
   copied into the database file, then nBackfill past mxFrame. Hand-made bytes, because the
   system's SQLite (3.40.1) cannot be made to lose the race on demand; the test writes the
   monitored files, the agent never does. The counters must move, the log must name the pages,
   SQLiteWALResetRace must fire through a real Prometheus with the shipped rules and reach a
   real Alertmanager, and the agent's own push must send it too; a healthy database watched the
   same way must stay at zero.
2. No false alarms: three writer processes and a checkpointer running PASSIVE and TRUNCATE
   checkpoints (WAL, synchronous=NORMAL, BEGIN IMMEDIATE, mmap_size, autocheckpoint on) on the
   system's SQLite while the agent watches every 2 ms: audits run, and every counter of the
   race stays at zero.

Binaries: env PROMETHEUS, ALERTMANAGER (see test_dashboard.py, test_alerting.py).
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import fixtures as F
import harness as H
from test_alerting import AlertmanagerServer, Receiver
from test_dashboard import PromServer, http_json

RULES = os.path.join(H.REPO, "dashboards", "sqlite-agent.rules.yml")
ALERT = "SQLiteWALResetRace"

# WalCkptInfo.nBackfill and WalIndexHdr.mxFrame in the -shm (wal.c, "WAL-INDEX FORMAT"),
# native byte order.
SHM_MXFRAME = 16
SHM_NBACKFILL = 96

# The application: one connection held open; commands on stdin, "ok" on stdout after each.
APP = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)")
con.execute("CREATE INDEX IF NOT EXISTS tv ON t(v)")
print("ok", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "insert":
        con.execute("BEGIN IMMEDIATE")
        for _ in range(int(cmd[1])):
            con.execute("INSERT INTO t(v) VALUES (randomblob(600))")
        con.execute("COMMIT")
    elif cmd[0] == "checkpoint":
        con.execute("PRAGMA wal_checkpoint(%s)" % cmd[1]).fetchall()
    elif cmd[0] == "quit":
        break
    print("ok", flush=True)
"""

# One writer of the heavy workload: BEGIN IMMEDIATE transactions until the deadline.
WRITER = r"""
import random, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA mmap_size=268435456")
con.execute("PRAGMA busy_timeout=30000")
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    con.execute("BEGIN IMMEDIATE")
    for _ in range(random.randint(1, 8)):
        k = random.randint(1, 20000)
        con.execute("INSERT OR REPLACE INTO t(k, v, w) VALUES (?, randomblob(?), ?)",
                    (k, random.randint(50, 900), random.random()))
    if random.random() < 0.2:
        con.execute("DELETE FROM t WHERE k IN (SELECT k FROM t ORDER BY random() LIMIT 3)")
    con.execute("COMMIT")
    n += 1
print(n)
"""

# The scheduler: explicit checkpoints, PASSIVE mostly, TRUNCATE now and then.
CHECKPOINTER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("PRAGMA busy_timeout=30000")
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    mode = "TRUNCATE" if n % 5 == 4 else "PASSIVE"
    con.execute("PRAGMA wal_checkpoint(%s)" % mode).fetchall()
    n += 1
    time.sleep(0.05)
print(n)
"""


# A database that grows and shrinks: auto_vacuum=FULL truncates the file at each commit that
# frees pages, so commits carry smaller database sizes and checkpoints truncate the file.
SHRINKER = r"""
import random, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA busy_timeout=30000")
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO b(v) SELECT randomblob(3000) FROM (SELECT 1 UNION ALL SELECT 2 "
                "UNION ALL SELECT 3 UNION ALL SELECT 4)")
    con.execute("COMMIT")
    if random.random() < 0.3:
        con.execute("BEGIN IMMEDIATE")
        con.execute("DELETE FROM b WHERE rowid IN (SELECT rowid FROM b ORDER BY random() "
                    "LIMIT (SELECT count(*) * 3 / 4 FROM b))")
        con.execute("COMMIT")
    n += 1
print(n)
"""


class App:
    """The application process holding a WAL database open."""

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", APP, path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self._expect_ok()

    def _expect_ok(self):
        line = self.proc.stdout.readline()
        if line.strip() != "ok":
            raise AssertionError("application process: %r" % line)

    def do(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        self._expect_ok()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


def shm_get(path, off):
    with open(path + "-shm", "rb") as f:
        f.seek(off)
        return struct.unpack("=I", f.read(4))[0]


def shm_put(path, off, value):
    """Writes one native u32 into the -shm, as the race's checkpointer stores nBackfill. The
    test process holds no SQLite connection on the file, so closing this descriptor drops no
    one's locks."""
    fd = os.open(path + "-shm", os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("=I", value), off)
    finally:
        os.close(fd)


class RaceEndStateTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="race-")
        self.victim = os.path.join(self.dir, "victim.db")
        self.healthy = os.path.join(self.dir, "healthy.db")
        self.things = []

    def tearDown(self):
        for t in reversed(self.things):
            t.close()
        if not H.KEEP_TMP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, thing):
        self.things.append(thing)
        return thing

    def counter(self, agent, name, db, **labels):
        return agent.value(name, db=db, **labels)

    def test_end_state_moves_counters_and_fires_the_alert(self):
        app = self.start(App(self.victim))
        other = self.start(App(self.healthy))
        app.do("insert 20")
        other.do("insert 20")
        receiver = self.start(Receiver())
        am = self.start(AlertmanagerServer(receiver.url).start())
        agent = H.Agent([{"name": "victim", "path": self.victim, "check": "off",
                          "watch": "close"},
                         {"name": "healthy", "path": self.healthy, "check": "off",
                          "watch": "close"}],
                        {"walindex_watch_interval": "2ms"})
        with open(agent.config_path, "a") as f:
            f.write("\n[alertmanager]\nurls = http://127.0.0.1:%d\nresend_interval = 2s\n"
                    % am.port)
        self.start(agent).start()
        instance = "127.0.0.1:%d" % agent.port
        prom = self.start(PromServer([instance], rule_files=[RULES],
                                     alertmanager="127.0.0.1:%d" % am.port).start())

        # Clean checkpoints are audited and found equal, on both databases.
        for db, a in (("victim", app), ("healthy", other)):
            agent.wait_value("sqlite_wal_index_close_watch", {"db": db}, lambda v: v == 1, 10)
            a.do("checkpoint PASSIVE")
            a.do("insert 10")
            a.do("checkpoint PASSIVE")
            agent.wait_value("sqlite_wal_checkpoint_audited_pages_total", {"db": db},
                             lambda v: v and v > 0, 10)
        prom.wait_scrapes(3)
        for db in ("victim", "healthy"):
            self.assertEqual(self.counter(agent, "sqlite_wal_checkpoint_lost_pages_total", db), 0)

        # The race's end state: frames committed, never copied, and nBackfill claiming them.
        app.do("insert 30")
        mx = shm_get(self.victim, SHM_MXFRAME)
        self.assertGreater(mx, shm_get(self.victim, SHM_NBACKFILL))
        shm_put(self.victim, SHM_NBACKFILL, mx)
        agent.wait_value("sqlite_wal_checkpoint_lost_pages_total", {"db": "victim"},
                         lambda v: v and v > 0, 10)
        self.assertIn("checkpoint audit: pages a checkpoint claims", agent.stderr())
        self.assertRegex(agent.stderr(), r"db=victim .*pages=\d+@frame\d+")

        # Then past the end of the WAL, the state the race leaves for a few milliseconds.
        shm_put(self.victim, SHM_NBACKFILL, mx + 40)
        agent.wait_value("sqlite_wal_index_anomalies_total",
                         {"db": "victim", "kind": "backfill_past_end"}, lambda v: v == 1, 10)

        # The alert, through Prometheus and its rules, to Alertmanager; and from the agent.
        def prom_firing():
            _, body = http_json(prom.url + "/api/v1/alerts")
            return [a for a in body["data"]["alerts"]
                    if a["labels"]["alertname"] == ALERT and a["state"] == "firing"]
        firing = H.wait_for(prom_firing, 30, interval=0.5, what="%s firing" % ALERT)
        self.assertEqual({a["labels"]["db"] for a in firing}, {"victim"})
        self.assertEqual(firing[0]["labels"]["severity"], "critical")

        def received():
            got = [a for a in receiver.alerts() if a["labels"]["alertname"] == ALERT]
            sources = {a["labels"].get("source", "prometheus") for a in got}
            return got if {"prometheus", "sqlite-agent"} <= sources else None
        got = H.wait_for(received, 30, interval=0.5, what="%s at Alertmanager" % ALERT)
        self.assertEqual({a["labels"]["db"] for a in got}, {"victim"})

        # Nothing for the healthy database, and no unstable header anywhere.
        for kind in ("backfill_past_end", "unstable_header"):
            self.assertEqual(self.counter(agent, "sqlite_wal_index_anomalies_total", "healthy",
                                          kind=kind), 0)
        self.assertEqual(self.counter(agent, "sqlite_wal_checkpoint_lost_pages_total",
                                      "healthy"), 0)
        self.assertEqual(self.counter(agent, "sqlite_wal_index_anomalies_total", "victim",
                                      kind="unstable_header"), 0)
        ok, out = H.promtool_check(agent.scrape_text())
        self.assertTrue(ok, out)
        agent.stop()


class RaceSignalChecksNowTest(unittest.TestCase):
    """A race signal asks for integrity_check at once (checkauto.h, checker_race_signal): with
    check = quick and an hour between checks, the end state written as in RaceEndStateTest must
    start an integrity check within seconds. And check = auto on a database nobody else has
    open (not exposed) runs quick_check."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="race-signal-")
        self.things = []

    def tearDown(self):
        for t in reversed(self.things):
            t.close()
        if not H.KEEP_TMP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def test_signal_runs_integrity_check_now(self):
        victim = os.path.join(self.dir, "victim.db")
        quiet = os.path.join(self.dir, "quiet.db")
        app = App(victim)
        self.things.append(app)
        app.do("insert 20")
        con = __import__("sqlite3").connect(quiet)
        con.execute("CREATE TABLE t(a)")
        con.execute("INSERT INTO t VALUES (1)")
        con.commit()
        con.close()
        agent = H.Agent([{"name": "victim", "path": victim, "check": "quick",
                          "check_interval": "1h", "watch": "close"},
                         {"name": "quiet", "path": quiet, "check": "auto",
                          "check_interval": "1h"}],
                        {"walindex_watch_interval": "2ms"})
        self.things.append(agent)
        agent.start()
        runs = "sqlite_check_runs_total"
        agent.wait_value(runs, {"db": "victim", "check": "quick", "result": "ok"},
                         lambda v: v == 1, 20)
        agent.wait_value(runs, {"db": "quiet", "check": "quick", "result": "ok"},
                         lambda v: v == 1, 20)
        agent.wait_value("sqlite_wal_index_close_watch", {"db": "victim"}, lambda v: v == 1, 10)
        self.assertFalse(H.select(agent.scrape(), runs, db="victim", check="integrity"))

        app.do("insert 30")
        shm_put(victim, SHM_NBACKFILL, shm_get(victim, SHM_MXFRAME))
        agent.wait_value("sqlite_wal_checkpoint_lost_pages_total", {"db": "victim"},
                         lambda v: v and v > 0, 10)

        def integrity_runs():
            found = H.select(agent.scrape(), runs, db="victim", check="integrity")
            return sum(found.values()) if found else 0
        H.wait_for(integrity_runs, 20, interval=0.2, what="an integrity check after the signal")
        self.assertFalse(H.select(agent.scrape(), runs, db="quiet", check="integrity"))
        agent.stop()


class HostileFilesTest(unittest.TestCase):
    """The close watch opens what the sampler opens (safeopen.h): a symbolic link at a side
    file is never followed (SQLite opens side files with O_NOFOLLOW, so a link there is not
    what SQLite reads), and a FIFO is never opened. Here the links lead to a live WAL and
    wal-index of another database, which the watch would otherwise read and audit."""

    def test_linked_side_files_and_fifo(self):
        d = tempfile.mkdtemp(prefix="race-hostile-")
        app = None
        try:
            src = os.path.join(d, "src.db")
            app = App(src)
            app.do("insert 20")
            linked = F.make_healthy(d, "linked.db", wal=True)
            for side in ("-wal", "-shm"):
                if os.path.exists(linked + side):
                    os.unlink(linked + side)
                os.symlink(src + side, linked + side)
            fifo = F.make_healthy(d, "fifo.db", wal=True)
            os.mkfifo(fifo + "-shm")
            with H.Agent([{"name": "linked", "path": linked, "check": "off", "watch": "close"},
                          {"name": "fifo", "path": fifo, "check": "off", "watch": "close"},
                          {"name": "src", "path": src, "check": "off", "watch": "close"}],
                         {"walindex_watch_interval": "2ms"}) as agent:
                # The real one is read: the test could tell a followed link.
                agent.wait_value("sqlite_wal_checkpoint_audit_frames_read_total", {"db": "src"},
                                 lambda v: v and v > 0, 10)
                time.sleep(0.6)  # two stat rounds of the watch
                s = agent.scrape()
                for db in ("linked", "fifo"):
                    self.assertEqual(H.value(s, "sqlite_wal_index_close_watch", db=db), 1)
                    self.assertEqual(H.value(s, "sqlite_wal_checkpoint_audit_frames_read_total",
                                             db=db), 0, db)
                self.assertLess(agent.stop(), 5.0)
        finally:
            if app is not None:
                app.close()
            shutil.rmtree(d, ignore_errors=True)


class NoFalseAlarmTest(unittest.TestCase):
    """Three writers and a checkpointer on the system's SQLite; the counters stay at zero."""

    SECONDS = float(os.environ.get("RACE_WORKLOAD_SECONDS", "20"))

    def test_heavy_workload_stays_at_zero(self):
        d = tempfile.mkdtemp(prefix="race-load-")
        path = os.path.join(d, "load.db")
        procs = []
        try:
            import sqlite3
            con = sqlite3.connect(path)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB, w REAL)")
            con.execute("CREATE INDEX tw ON t(w)")
            con.execute("CREATE INDEX tv ON t(v)")
            con.close()
            with H.Agent([{"name": "load", "path": path, "check": "quick", "watch": "close"}],
                         {"walindex_watch_interval": "2ms"}) as agent:
                agent.wait_value("sqlite_wal_index_close_watch", {"db": "load"},
                                 lambda v: v == 1, 10)
                for _ in range(3):
                    procs.append(subprocess.Popen(
                        [sys.executable, "-c", WRITER, path, str(self.SECONDS)],
                        stdout=subprocess.PIPE, text=True))
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", CHECKPOINTER, path, str(self.SECONDS)],
                    stdout=subprocess.PIPE, text=True))
                outs = []
                for p in procs:
                    out, _ = p.communicate(timeout=self.SECONDS + 120)
                    p.stdout.close()
                    self.assertEqual(p.returncode, 0)
                    outs.append(int(out.strip()))
                time.sleep(0.5)  # the last checkpoint's audit
                s = agent.scrape()
                audits = H.value(s, "sqlite_wal_checkpoint_audits_total", db="load")
                pages = H.value(s, "sqlite_wal_checkpoint_audited_pages_total", db="load")
                dropped = H.value(s, "sqlite_wal_checkpoint_audits_dropped_total", db="load")
                sys.stderr.write("\n[workload] %.0f s: commits per writer %s, checkpoints %d; "
                                 "audits %d (dropped %d), pages audited %d\n"
                                 % (self.SECONDS, outs[:3], outs[3], audits, dropped, pages))
                # The audit ran (how often depends on the machine: hundreds in 20 s here, a few
                # under ThreadSanitizer): the zeros below mean pages were looked at.
                self.assertGreater(audits, 0)
                self.assertGreater(pages, 0)
                self.assertEqual(H.value(s, "sqlite_wal_checkpoint_lost_pages_total", db="load"),
                                 0, agent.stderr()[-3000:])
                for kind in ("backfill_past_end", "unstable_header"):
                    self.assertEqual(H.value(s, "sqlite_wal_index_anomalies_total", db="load",
                                             kind=kind), 0, kind)
                self.assertNotIn("checkpoint audit:", agent.stderr())
                agent.stop()
            self.assertEqual(F.python_check(path, "integrity_check"), ["ok"])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            if not H.KEEP_TMP:
                shutil.rmtree(d, ignore_errors=True)


class ShrinkingDatabaseTest(unittest.TestCase):
    """Commits that shrink the database (auto_vacuum=FULL) and checkpoints that truncate the
    file: the pages cut off are not claimed, and nothing counts as lost."""

    SECONDS = float(os.environ.get("RACE_WORKLOAD_SECONDS", "15"))

    def test_shrinking_database_stays_at_zero(self):
        d = tempfile.mkdtemp(prefix="race-shrink-")
        path = os.path.join(d, "shrink.db")
        procs = []
        try:
            import sqlite3
            con = sqlite3.connect(path)
            con.execute("PRAGMA auto_vacuum=FULL")
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE b(v BLOB)")
            con.close()
            with H.Agent([{"name": "shrink", "path": path, "check": "off", "watch": "close"}],
                         {"walindex_watch_interval": "2ms"}) as agent:
                agent.wait_value("sqlite_wal_index_close_watch", {"db": "shrink"},
                                 lambda v: v == 1, 10)
                # Rounds until some audit ran to its end: under ThreadSanitizer the close watch
                # is slow enough that a 15 s round may see none (2 of 3 runs here did).
                for _ in range(4):
                    procs = [subprocess.Popen(
                        [sys.executable, "-c", script, path, str(self.SECONDS)],
                        stdout=subprocess.PIPE, text=True)
                        for script in (SHRINKER, SHRINKER, CHECKPOINTER)]
                    for p in procs:
                        p.communicate(timeout=self.SECONDS + 120)
                        p.stdout.close()
                        self.assertEqual(p.returncode, 0)
                    time.sleep(0.5)
                    s = agent.scrape()
                    audits = H.value(s, "sqlite_wal_checkpoint_audits_total", db="shrink")
                    if audits:
                        break
                sys.stderr.write("\n[shrink] %.0f s: audits %d, pages audited %d\n" % (
                    self.SECONDS, audits,
                    H.value(s, "sqlite_wal_checkpoint_audited_pages_total", db="shrink")))
                self.assertGreater(audits, 0)
                self.assertEqual(H.value(s, "sqlite_wal_checkpoint_lost_pages_total",
                                         db="shrink"), 0, agent.stderr()[-3000:])
                self.assertEqual(H.value(s, "sqlite_wal_index_anomalies_total", db="shrink",
                                         kind="backfill_past_end"), 0)
                agent.stop()
            self.assertEqual(F.python_check(path, "integrity_check"), ["ok"])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
