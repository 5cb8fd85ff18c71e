"""Risk factors seen from outside, with real processes: who has the database open, which SQLite
each runs (read from the loaded library or the executable), who maps it (mmap_size), the
header's writer version when no process can be told, and the filesystem."""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import fixtures as F
import harness as H

HELPERS_SRC = os.path.join(H.REPO, "tests", "helpers")
RISK = "sqlite_corruption_risk"

HOLDER_PY = r"""
import sqlite3, sys
path, mmap, nconn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cons = []
for _ in range(nconn):
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA mmap_size=%d" % mmap)
    c.execute("SELECT count(*) FROM t").fetchall()
    cons.append(c)
cons[0].execute("INSERT INTO t(v) VALUES ('held')")
print("ready", sqlite3.sqlite_version, flush=True)
sys.stdin.read()
"""


class Holder:
    """A process holding a database open until closed."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.argv = argv
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.close()
            raise AssertionError("holder did not start: %r" % (argv,))
        self.version = line[1]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.proc.stdout.close()


def py_holder(path, mmap=0, nconn=1):
    return Holder(["/usr/bin/python3", "-c", HOLDER_PY, path, str(mmap), str(nconn)])


def set_header_writer(path, version):
    """Offset 96: the last writer's SQLITE_VERSION_NUMBER, kept current (offset 92 = change
    counter at 24), as a library of that version would leave it."""
    with open(path, "r+b") as f:
        hdr = bytearray(f.read(100))
        hdr[92:96] = hdr[24:28]
        struct.pack_into(">I", hdr, 96, version)
        f.seek(0)
        f.write(hdr)


class RiskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.helpers = tempfile.mkdtemp(prefix="risk-helpers-")
        subprocess.run(["sh", os.path.join(HELPERS_SRC, "build.sh"), cls.helpers], check=True,
                       stdout=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.helpers, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="risk-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def holder(self, h):
        self.addCleanup(h.close)
        return h

    def scan(self, a, db):
        """The next scrape after the scan has seen the holders."""
        return a.wait_value("sqlite_database_open_processes", dict(db=db),
                            lambda v: v is not None and v > 0, 15)

    def test_two_python_processes_one_with_mmap(self):
        path = F.make_healthy(self.dir, "app.db", wal=True)
        self.holder(py_holder(path, mmap=0))
        self.holder(py_holder(path, mmap=64 << 20))
        with H.Agent([dict(name="app", path=path)]) as a:
            s = a.wait_value("sqlite_database_open_processes", dict(db="app"),
                             lambda v: v == 2, 15)
            self.assertEqual(H.value(s, "sqlite_database_mmap_processes", db="app"), 1)
            self.assertEqual(H.value(s, "sqlite_wal_open_processes", db="app"), 2)
            self.assertEqual(H.value(s, "sqlite_database_processes", db="app",
                                     library_version="3.40.1"), 2)
            self.assertEqual(H.value(s, "sqlite_database_oldest_library_version_number",
                                     db="app"), 3040001)
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="app"), 1)
            self.assertEqual(H.value(s, RISK, db="app", reason="wal_reset_race"), 1)
            self.assertEqual(H.value(s, RISK, db="app", reason="mmap_with_multiple_writers"), 1)
            self.assertIsNone(H.value(s, RISK, db="app", reason="wal_on_network_fs"))
            self.assertEqual(H.value(s, "sqlite_database_on_network_filesystem", db="app"), 0)
            self.assertEqual(H.value(s, "sqlite_agent_processes_uninspectable"), 0)
            a.stop()

    def test_one_process_without_mmap_has_no_multi_writer_risk(self):
        path = F.make_healthy(self.dir, "app.db", wal=True)
        self.holder(py_holder(path, mmap=0))
        with H.Agent([dict(name="app", path=path)]) as a:
            s = self.scan(a, "app")
            self.assertEqual(H.value(s, "sqlite_database_open_processes", db="app"), 1)
            self.assertEqual(H.value(s, "sqlite_database_mmap_processes", db="app"), 0)
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="app"), 1)
            self.assertIsNone(H.value(s, RISK, db="app", reason="wal_reset_race"))
            self.assertIsNone(H.value(s, RISK, db="app", reason="mmap_with_multiple_writers"))
            a.stop()

    def test_declared_patched_version_is_not_exposed(self):
        path = F.make_healthy(self.dir, "app.db", wal=True)
        self.holder(py_holder(path, nconn=2))
        with H.Agent([dict(name="app", path=path)],
                     {"patched_sqlite_versions": "3.40.1"}) as a:
            s = self.scan(a, "app")
            self.assertEqual(H.value(s, "sqlite_database_processes", db="app",
                                     library_version="3.40.1"), 1)
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="app"), 0)
            self.assertIsNone(H.value(s, RISK, db="app", reason="wal_reset_race"))
            a.stop()

    def test_static_binaries_read_from_the_executable(self):
        """SQLite linked into the executable; and a copy whose version string says 3.51.3."""
        # The helper makes its own database (a table t(a)) in WAL mode.
        old = os.path.join(self.dir, "old.db")
        new = os.path.join(self.dir, "new.db")
        self.holder(Holder([os.path.join(self.helpers, "holder_static"), old, "0", "2"]))
        self.holder(Holder([os.path.join(self.helpers, "holder_static_patched"), new, "0",
                            "2"]))
        with H.Agent([dict(name="old", path=old), dict(name="new", path=new)]) as a:
            self.scan(a, "old")
            s = self.scan(a, "new")
            self.assertEqual(H.value(s, "sqlite_database_processes", db="old",
                                     library_version="3.40.1"), 1)
            self.assertEqual(H.value(s, "sqlite_database_processes", db="new",
                                     library_version="3.51.3"), 1)
            self.assertEqual(H.value(s, RISK, db="old", reason="wal_reset_race"), 1)
            self.assertIsNone(H.value(s, RISK, db="new", reason="wal_reset_race"))
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="new"), 0)
            a.stop()

    def test_header_fallback_when_no_process_has_it_open(self):
        old = F.make_healthy(self.dir, "old.db", wal=True)
        fixed = F.make_healthy(self.dir, "fixed.db", wal=True)
        rollback = F.make_healthy(self.dir, "rollback.db", wal=False)
        set_header_writer(old, 3007000)
        set_header_writer(fixed, 3051003)
        set_header_writer(rollback, 3007000)
        dbs = [dict(name=n, path=p, check="off")
               for n, p in (("old", old), ("fixed", fixed), ("rollback", rollback))]
        with H.Agent(dbs) as a:
            # after the first /proc scan, which follows the first sample
            s = a.wait_value("sqlite_database_open_processes", dict(db="rollback"),
                             lambda v: v is not None, 10)
            self.assertEqual(H.value(s, "sqlite_last_writer_version_number", db="old"),
                             3007000)
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="old"), 1)
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="fixed"), 0)
            self.assertEqual(H.value(s, "sqlite_wal_reset_race_exposed", db="rollback"), 0)
            for db in ("old", "fixed", "rollback"):
                self.assertEqual(H.value(s, "sqlite_database_open_processes", db=db), 0)
            a.stop()

    @unittest.skipUnless(os.geteuid() == 0, "needs root to drop to nobody")
    def test_least_privilege_capabilities(self):
        """As nobody, another user's processes are uninspectable and counted as such; with
        only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH they are seen with their library."""
        os.chmod(self.dir, 0o755)
        path = F.make_healthy(self.dir, "app.db", wal=True)
        self.holder(py_holder(path))
        for f in (path, path + "-wal", path + "-shm"):
            os.chmod(f, 0o644)
        conf = os.path.join(self.dir, "agent.ini")
        with open(conf, "w") as f:
            f.write("[database:app]\npath = %s\ncheck = off\n" % path)
        os.chmod(conf, 0o644)
        base = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        caps = ["--inh-caps=+sys_ptrace,+dac_read_search",
                "--ambient-caps=+sys_ptrace,+dac_read_search"]
        for extra, seen in (([], False), (caps, True)):
            with self.subTest(capabilities=bool(extra)):
                r = subprocess.run(base + extra + ["--", H.BIN, "--once", "-c", conf],
                                   capture_output=True, text=True, timeout=60)
                self.assertIn(r.returncode, (0, 3), r.stderr)
                s = H.parse_exposition(r.stdout)
                opened = H.value(s, "sqlite_database_open_processes", db="app")
                hidden = H.value(s, "sqlite_agent_processes_uninspectable")
                if seen:
                    self.assertEqual(opened, 1)
                    self.assertEqual(H.value(s, "sqlite_database_processes", db="app",
                                             library_version="3.40.1"), 1)
                else:
                    self.assertEqual(opened, 0)
                    self.assertGreater(hidden, 0)

    def test_filesystem_of_a_tmpfs_is_local(self):
        d = tempfile.mkdtemp(prefix="risk-", dir="/dev/shm")
        self.addCleanup(shutil.rmtree, d, True)
        path = F.make_healthy(d, "app.db", wal=True)
        with H.Agent([dict(name="app", path=path)]) as a:
            s = a.wait_value("sqlite_database_on_network_filesystem", dict(db="app"),
                             lambda v: v is not None, 10)
            self.assertEqual(H.value(s, "sqlite_database_on_network_filesystem", db="app"), 0)
            self.assertEqual(H.value(s, "sqlite_database_filesystem_info", db="app",
                                     fstype="tmpfs"), 1)
            a.stop()


if __name__ == "__main__":
    unittest.main()
