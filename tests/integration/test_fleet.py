"""Fleets (issue 10): [databases:NAME] glob sections over a real directory tree of SQLite files
made by python3's sqlite3 module, rescanned while the agent runs: labels, the files left out,
a file appearing and one removed between rescans, a smashed header staying watched, a file
matched twice, max_databases."""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import harness as H


def make_db(path, wal=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS t(x)")
    con.execute("INSERT INTO t VALUES (1)")
    return con


def labels_of(samples, name="sqlite_up"):
    return {dict(lab)["db"] for (n, lab), _ in samples.items() if n == name}


class FleetTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sqlite-agent-fleet-")
        self.root = os.path.join(self.dir, "tenants")
        self.cons = []

    def tearDown(self):
        for c in self.cons:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def db(self, rel, wal=False):
        path = os.path.join(self.root, rel)
        self.cons.append(make_db(path, wal))
        return path

    def config(self, port, sections, agent=""):
        return ("[agent]\nlisten = 127.0.0.1:%d\nsample_interval = 200ms\ncheck_interval = 1h\n"
                "rescan_interval = 1s\n%s\n%s" % (port, agent, sections))

    def start(self, sections, agent=""):
        a = H.Agent(text="placeholder")
        a._write_config((), None, self.config(a.port, sections, agent))
        return a

    def test_tree_labels_skips_rescans_and_smashed_header(self):
        self.db("acme/app.sqlite3", wal=True)  # keeps its -wal and -shm while connected
        self.db("bolt/app.sqlite3")
        gone = self.db("corp/app.sqlite3")
        with open(os.path.join(self.root, "acme", "notes.sqlite3"), "w") as f:
            f.write("not a database, but named like one\n")
        os.makedirs(os.path.join(self.root, "dir.sqlite3"))  # a directory never matches
        pattern = os.path.join(self.root, "*", "*.sqlite3*")
        with self.start("[databases:tenants]\nglob = %s\ncheck = off\n" % pattern) as a:
            s = H.wait_for(lambda: (lambda s: s if len(labels_of(s)) == 3 else None)(a.scrape()),
                           10, what="three databases")
            self.assertEqual(labels_of(s), {"tenants/acme/app.sqlite3", "tenants/bolt/app.sqlite3",
                                            "tenants/corp/app.sqlite3"})
            self.assertTrue(os.path.exists(os.path.join(self.root, "acme", "app.sqlite3-wal")))
            g = {"group": "tenants"}
            # -wal and -shm never match; the text file is skipped and counted.
            self.assertEqual(H.value(s, "sqlite_agent_glob_matched_files", **g), 4)
            self.assertEqual(H.value(s, "sqlite_agent_glob_skipped_files", **g), 1)
            self.assertEqual(H.value(s, "sqlite_agent_glob_watched_files", **g), 3)
            ok, out = H.promtool_check(a.scrape_text())
            self.assertTrue(ok, out)
            # A glob section defaults to metrics = basic; path is on the info series only.
            info = H.select(s, "sqlite_database_info", db="tenants/bolt/app.sqlite3")
            self.assertEqual([dict(k)["path"] for k in info],
                             [os.path.join(self.root, "bolt", "app.sqlite3")])
            self.assertEqual([dict(k)["metrics"] for k in info], ["basic"])
            self.assertIsNone(H.value(s, "sqlite_database_pages", db="tenants/bolt/app.sqlite3"))
            self.assertFalse([k for (n, k) in s if n == "sqlite_up" and "path" in dict(k)])
            passes = H.value(s, "sqlite_agent_sample_passes_total")

            # Between rescans: one file appears, one goes.
            self.db("dawn/app.sqlite3")
            for c in self.cons[2:3]:
                c.close()
            os.remove(gone)
            want = {"tenants/acme/app.sqlite3", "tenants/bolt/app.sqlite3",
                    "tenants/dawn/app.sqlite3"}
            H.wait_for(lambda: labels_of(a.scrape()) == want, 10, what="the rescan")
            self.assertIn("glob rescan changed the database list", a.stderr())

            # A smashed header: the file stays watched, and says so.
            acme = os.path.join(self.root, "acme", "app.sqlite3")
            with open(acme, "r+b") as f:
                f.write(b"\0" * 16)
            s = a.wait_value("sqlite_up", {"db": "tenants/acme/app.sqlite3"}, lambda v: v == 0, 10)
            # Two more rescans (rescan_interval 1s): still there.
            time.sleep(2.5)
            s = a.scrape()
            self.assertIn("tenants/acme/app.sqlite3", labels_of(s))
            self.assertEqual(H.value(s, "sqlite_up", db="tenants/acme/app.sqlite3"), 0)
            self.assertEqual(H.value(s, "sqlite_agent_glob_skipped_files", **g), 1)
            self.assertGreater(H.value(s, "sqlite_agent_sample_passes_total"), passes)

            # The text file becomes a database: watched from the next rescan.
            notes = os.path.join(self.root, "acme", "notes.sqlite3")
            os.remove(notes)
            self.db("acme/notes.sqlite3")
            H.wait_for(lambda: "tenants/acme/notes.sqlite3" in labels_of(a.scrape()), 10,
                       what="the file turned database")
            a.stop()

    def test_overlap_explicit_first_then_file_order(self):
        both = self.db("acme/app.db")
        self.db("bolt/app.db")
        self.db("corp/app.db")
        sections = ("[database:main]\npath = %s\ncheck = off\n\n"
                    "[databases:all]\nglob = %s\ncheck = off\n\n"
                    "[databases:again]\nglob = %s\ncheck = off\n"
                    % (both, os.path.join(self.root, "*", "app.db"),
                       os.path.join(self.root, "[bc]*", "app.db")))
        with self.start(sections) as a:
            s = H.wait_for(lambda: (lambda s: s if len(labels_of(s)) == 3 else None)(a.scrape()),
                           10, what="three databases")
            # The explicit section wins over the glob; the first glob over the second.
            self.assertEqual(labels_of(s), {"main", "all/bolt/app.db", "all/corp/app.db"})
            self.assertEqual(H.value(s, "sqlite_agent_glob_duplicate_files", group="all"), 1)
            self.assertEqual(H.value(s, "sqlite_agent_glob_duplicate_files", group="again"), 2)
            self.assertEqual(H.value(s, "sqlite_agent_glob_watched_files", group="again"), 0)
            self.assertEqual(H.value(s, "sqlite_up", db="main"), 1)
            a.stop()

    def test_max_databases(self):
        for i in range(5):
            self.db("t%d/app.db" % i)
        sections = "[databases:t]\nglob = %s\ncheck = off\n" % os.path.join(self.root, "*", "*")
        with self.start(sections, agent="max_databases = 3\n") as a:
            s = H.wait_for(lambda: (lambda s: s if len(labels_of(s)) == 3 else None)(a.scrape()),
                           10, what="three databases")
            self.assertEqual(labels_of(s), {"t/t0/app.db", "t/t1/app.db", "t/t2/app.db"})
            self.assertEqual(H.value(s, "sqlite_agent_glob_over_limit_files", group="t"), 2)
            self.assertIn("max_databases reached", a.stderr())
            a.stop()

    def test_history_survives_a_rescan(self):
        self.db("a/app.db")
        # metrics = full: the per-database check counters (a glob section defaults to basic).
        sections = ("[databases:t]\nglob = %s\ncheck = quick\ncheck_interval = 1h\n"
                    "metrics = full\n" % os.path.join(self.root, "*", "app.db"))
        with self.start(sections) as a:
            a.wait_value("sqlite_check_runs_total",
                         {"db": "t/a/app.db", "check": "quick", "result": "ok"},
                         lambda v: v == 1, 20)
            self.db("b/app.db")
            H.wait_for(lambda: "t/b/app.db" in labels_of(a.scrape()), 10, what="the rescan")
            s = a.wait_value("sqlite_check_runs_total",
                             {"db": "t/b/app.db", "check": "quick", "result": "ok"},
                             lambda v: v == 1, 20)
            # The first database kept its history through the swap.
            self.assertGreaterEqual(H.value(s, "sqlite_check_runs_total", db="t/a/app.db",
                                            check="quick", result="ok"), 1)
            a.stop()


def make_many(root, n, dirs):
    """n databases in dirs directories, made by one sqlite3 process (as bench/make-dbs.sh):
    even ones in WAL mode with a live -wal and -shm (no checkpoint on close), odd ones with a
    rollback journal."""
    lines = []
    for i in range(n):
        d = os.path.join(root, "t%03d" % (i % dirs))
        os.makedirs(d, exist_ok=True)
        lines.append(".open %s" % os.path.join(d, "db%05d.sqlite3" % i))
        if i % 2 == 0:
            lines.append(".dbconfig no_ckpt_on_close on")
            lines.append("PRAGMA journal_mode=WAL;")
        lines.append("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
    lines.append(".open :memory:")
    subprocess.run(["sqlite3", "-bail"], input="\n".join(lines) + "\n", text=True, check=True,
                   stdout=subprocess.DEVNULL)


class DescriptorTest(unittest.TestCase):
    """Descriptors grow with the work running, not with the databases watched."""

    N = 2000
    LIMIT = 256

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sqlite-agent-fds-")
        self.root = os.path.join(self.dir, "tenants")
        make_many(self.root, self.N, 20)
        # The agent under a hard limit of 256 (so raising the soft limit cannot help).
        self.wrapper = os.path.join(self.dir, "agent-ulimit.sh")
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\nulimit -Sn %d && ulimit -Hn %d && exec %s \"$@\"\n"
                    % (self.LIMIT, self.LIMIT, H.BIN))
        os.chmod(self.wrapper, 0o755)
        self.saved_bin = H.BIN
        H.BIN = self.wrapper

    def tearDown(self):
        H.BIN = self.saved_bin
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_2000_databases_under_ulimit_256(self):
        port_agent = H.Agent(text="placeholder")
        port_agent._write_config((), None, (
            "[agent]\nlisten = 127.0.0.1:%d\nsample_interval = 500ms\ncheck_workers = 2\n"
            "[databases:t]\nglob = %s\ncheck = quick\ncheck_interval = 5s\n"
            % (port_agent.port, os.path.join(self.root, "*", "*.sqlite3"))))
        with port_agent as a:
            with open("/proc/%d/limits" % a.proc.pid) as f:
                limits = f.read()
            self.assertRegex(limits, r"Max open files\s+%d\s+%d" % (self.LIMIT, self.LIMIT))
            most = 0

            def all_checked():
                nonlocal most
                most = max(most, len(os.listdir("/proc/%d/fd" % a.proc.pid)))
                s = a.scrape()
                up = H.select(s, "sqlite_up")
                done = H.select(s, "sqlite_check_last_success_timestamp_seconds", check="quick")
                return s if len(up) == self.N and len(done) == self.N else None

            s = H.wait_for(all_checked, 120, interval=0.5, what="every database checked once")
            self.assertEqual(sum(H.select(s, "sqlite_up").values()), self.N)
            wal = H.select(s, "sqlite_database_info", journal_mode="wal")
            self.assertEqual(len(wal), self.N // 2)
            failed = H.select(s, "sqlite_check_failures_since_success")
            self.assertEqual(len(failed), self.N)
            self.assertEqual(sum(failed.values()), 0)
            self.assertEqual(H.value(s, "sqlite_agent_check_runs_total", result="busy"), 0)
            self.assertEqual(H.value(s, "sqlite_agent_check_runs_total", result="error"), 0)
            self.assertNotIn("Too many open files", a.stderr())
            self.assertLess(most, self.LIMIT)
            at_rest = len(os.listdir("/proc/%d/fd" % a.proc.pid))
            sys.stderr.write("\n%d databases: %d descriptors at rest, at most %d seen\n"
                             % (self.N, at_rest, most))
            a.stop()


if __name__ == "__main__":
    unittest.main()
