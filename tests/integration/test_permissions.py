"""An unprivileged agent (user nobody), and the least access a read-only WAL reader needs.

Root only: the tests drop to nobody with setpriv. The access matrix test runs SQLite itself
(Python's sqlite3, the same Debian libsqlite3 3.40.1 the agent links, opened read-only like the
agent's checker) as nobody, to pin down the facts the documentation states; the other tests run
the agent as nobody on the minimal setup and on the failing ones.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

import fixtures as F
import harness as H

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
RUNS = "sqlite_check_runs_total"

READER = r"""
import json, sqlite3, sys
try:
    con = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
    con.execute("PRAGMA query_only=1")
    rows = [r[0] for r in con.execute("PRAGMA quick_check")]
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    print(json.dumps(["ok" if rows == ["ok"] else "bad", n]))
except sqlite3.Error as e:
    print(json.dumps([getattr(e, "sqlite_errorname", "?"), str(e)]))
"""


def read_as_nobody(path):
    p = subprocess.run(NOBODY + ["/usr/bin/python3", "-c", READER, path], capture_output=True,
                       text=True, timeout=60)
    return json.loads(p.stdout) if p.stdout.strip() else ["crash", p.stderr]


def listing(d):
    """{name: (mode, uid, gid, sha256)}; the -shm's content is left out: it is the wal-index,
    shared memory every reader may write (read marks) when it has write access."""
    out = {}
    for n in sorted(os.listdir(d)):
        digest = None
        if not n.endswith("-shm"):
            with open(os.path.join(d, n), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        st = os.stat(os.path.join(d, n))
        out[n] = (st.st_mode & 0o777, st.st_uid, st.st_gid, digest)
    return out


class App:
    """A root "application" holding a WAL database open with committed, uncheckpointed frames
    (so -wal and -shm exist and are live), as in production."""

    def __init__(self, path):
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA wal_autocheckpoint=0")
        self.con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        self.con.executemany("INSERT INTO t(v) VALUES (?)", [("row%d" % i,) for i in range(500)])

    def close(self):
        self.con.close()


def setup_db(d, dirmode, dbmode, walmode, shmmode, live):
    """A WAL database in d with the given modes (None: that file absent). live: an App keeps
    it open; otherwise it was closed cleanly (which deletes -wal and -shm) and -wal/-shm are
    recreated as a crashed app would leave them, when asked for."""
    path = os.path.join(d, "app.db")
    app = None
    if live:
        app = App(path)
    else:
        F.make_healthy(d, "app.db", wal=True, rows=500)
        if walmode is not None or shmmode is not None:
            # leave -wal/-shm behind like an app that died: open, read, no checkpoint on close
            F.python_check(path)
    for suffix, mode in (("-wal", walmode), ("-shm", shmmode)):
        if mode is None:
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        else:
            os.chmod(path + suffix, mode)
    os.chmod(path, dbmode)
    os.chmod(d, dirmode)
    return path, app


# (description, live app, dir mode, db mode, -wal mode, -shm mode, expected: "ok" or the SQLite
#  error name). Everything is owned by root; nobody is "other". None = file absent.
MATRIX = [
    ("read on db/-wal/-shm, dir r-x", True, 0o755, 0o644, 0o644, 0o644, "ok"),
    ("read on db/-wal/-shm, dir --x only", True, 0o711, 0o644, 0o644, 0o644, "ok"),
    ("-shm writable too (not needed)", True, 0o711, 0o644, 0o644, 0o666, "ok"),
    ("no app: stale -wal/-shm readable", False, 0o711, 0o644, 0o644, 0o644, "ok"),
    ("dir without x", True, 0o700, 0o644, 0o644, 0o666, "SQLITE_CANTOPEN"),
    ("db unreadable", True, 0o755, 0o600, 0o644, 0o666, "SQLITE_CANTOPEN"),
    ("-wal unreadable", True, 0o755, 0o644, 0o600, 0o666, "SQLITE_CANTOPEN"),
    ("-shm unreadable", True, 0o755, 0o644, 0o644, 0o600, "SQLITE_CANTOPEN"),
    ("no app, closed cleanly: no -wal/-shm", False, 0o755, 0o644, None, None,
     "SQLITE_READONLY_DIRECTORY"),
    ("no app: -wal but no -shm", False, 0o755, 0o644, 0o644, None, "SQLITE_CANTOPEN"),
]


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
class PermissionsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="perm-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def subdir(self, name):
        d = os.path.join(self.dir, name)
        os.mkdir(d)
        return d

    def test_sqlite_reader_access_matrix(self):
        for i, (what, live, dmode, dbmode, walmode, shmmode, want) in enumerate(MATRIX):
            with self.subTest(what):
                d = self.subdir("m%d" % i)
                path, app = setup_db(d, dmode, dbmode, walmode, shmmode, live)
                try:
                    before = listing(d)
                    got = read_as_nobody(path)
                    after = listing(d)
                finally:
                    if app:
                        app.close()
                self.assertEqual(got[0], want, got)
                self.assertEqual(before, after, "the read-only reader changed the directory")

    def test_unreadable_database_is_error_not_malformed(self):
        d = self.subdir("dbs")
        secret = F.make_healthy(d, "secret.db")
        os.chmod(secret, 0o600)
        readable = F.make_healthy(d, "readable.db")
        os.chmod(readable, 0o644)
        dbs = [dict(name="secret", path=secret, check="quick"),
               dict(name="readable", path=readable, check="quick")]
        with H.Agent(dbs, {"check_interval": H.FAST_CHECK}, user="nobody") as a:
            s = a.wait_value(RUNS, dict(db="secret", result="error"),
                             lambda v: v is not None and v >= 2, 10)
            self.assertEqual(H.value(s, RUNS, db="secret", result="malformed"), 0)
            self.assertEqual(H.value(s, RUNS, db="secret", result="ok"), 0)
            self.assertEqual(H.value(s, "sqlite_database_malformed", db="secret"), 0)
            self.assertEqual(H.value(s, "sqlite_up", db="secret"), 0)
            a.wait_value(RUNS, dict(db="readable", result="ok"), lambda v: v and v >= 2, 10)
            self.assertEqual(a.get("/healthz")[0], 200)
            self.assertIn(secret, a.stderr(), "the log must name the unreadable path")
            a.stop()

    def test_agent_with_least_access(self):
        # The minimal setup found above: read on db, -wal, -shm; search (x) on the directory.
        d = self.subdir("least")
        path, app = setup_db(d, 0o711, 0o644, 0o644, 0o644, live=True)
        try:
            before = listing(d)
            with H.Agent([dict(name="app", path=path, check="integrity")],
                         {"check_interval": H.FAST_CHECK}, user="nobody") as a:
                s = a.wait_value(RUNS, dict(db="app", result="ok"), lambda v: v and v >= 2, 10)
                self.assertEqual(H.value(s, "sqlite_up", db="app"), 1)
                self.assertEqual(H.value(s, "sqlite_wal_mode", db="app"), 1)
                for r in ("malformed", "error", "busy", "timeout"):
                    self.assertEqual(H.value(s, RUNS, db="app", result=r), 0, r)
                a.stop()
            self.assertEqual(before, listing(d))
            # the application can still write afterwards
            app.con.execute("INSERT INTO t(v) VALUES ('after')")
        finally:
            app.close()

    def test_closed_wal_database_read_only(self):
        # Closed cleanly (no -wal, no -shm), directory not writable by the agent: a plain
        # read-only SQLite reader fails (SQLITE_READONLY_DIRECTORY, see MATRIX) or, with a
        # writable directory, creates side files the application then cannot write. The agent
        # reads the file immutable instead: checked, and nothing created.
        for dmode in (0o755, 0o777):
            with self.subTest(directory=oct(dmode)):
                d = self.subdir("closed-%o" % dmode)
                path, app = setup_db(d, dmode, 0o644, None, None, live=False)
                before = listing(d)
                with H.Agent([dict(name="closed", path=path, check="integrity")],
                             {"check_interval": H.FAST_CHECK}, user="nobody") as a:
                    s = a.wait_value(RUNS, dict(db="closed", result="ok"),
                                     lambda v: v and v >= 2, 10)
                    for r in ("malformed", "error", "busy", "timeout"):
                        self.assertEqual(H.value(s, RUNS, db="closed", result=r), 0, r)
                    a.stop()
                self.assertEqual(before, listing(d), "the agent created or changed files")

    def test_agent_without_enough_access(self):
        # Each is "error", never "malformed": the agent could not look, it found nothing wrong.
        cases = [("shm0600", 0o755, 0o644, 0o644, 0o600, True),
                 ("wal0600", 0o755, 0o644, 0o600, 0o644, True)]
        apps, dbs = [], []
        try:
            for name, dmode, dbmode, walmode, shmmode, live in cases:
                path, app = setup_db(self.subdir(name), dmode, dbmode, walmode, shmmode, live)
                if app:
                    apps.append(app)
                dbs.append(dict(name=name, path=path, check="quick"))
            with H.Agent(dbs, {"check_interval": H.FAST_CHECK}, user="nobody") as a:
                for name, *_ in cases:
                    with self.subTest(name):
                        s = a.wait_value(RUNS, dict(db=name, result="error"),
                                         lambda v: v is not None and v >= 1, 10)
                        self.assertEqual(H.value(s, RUNS, db=name, result="malformed"), 0)
                        self.assertEqual(H.value(s, "sqlite_database_malformed", db=name), 0)
                a.stop()
        finally:
            for app in apps:
                app.close()


if __name__ == "__main__":
    unittest.main()
