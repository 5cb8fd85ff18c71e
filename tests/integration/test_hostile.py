"""What a local user who controls a monitored directory can put there (issue 9, items 2, 3, 6,
7 and 8): symbolic links, FIFOs, links to files of another owner, a -wal SQLite would spin on,
and a config that is not a regular file.

Root only: files are given to nobody with os.chown/os.lchown, the attacker's links are owned by
nobody, and the agent runs as root, as the attack needs. Each test fails on 70eff0a.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import fixtures as F
import harness as H

RUNS = "sqlite_check_runs_total"
NOBODY_UID = 65534
NOGROUP_GID = 65534

# A real application: holds a WAL database open with committed, uncheckpointed frames until
# its stdin closes.
APP = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
con.executemany("INSERT INTO t(v) VALUES (?)", [("x" * 200,) for i in range(1000)])
print("ready", flush=True)
sys.stdin.read()
con.close()
"""


class App:
    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", APP, path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError("application did not start: %r" % line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
            self.proc.stdout.close()


# The attacker of test_fifo_swapped_in_during_checks_never_holds_a_worker. It watches the
# directory with inotify: the check's plan opens the -wal (to read its header) after it has
# looked at the -shm and before SQLite opens it, so on that open the attacker renames a FIFO
# over the -shm, and 100 ms later (SQLite's open is then blocked on the FIFO's inode) the
# regular file back, ready for the next plan. argv: directory, -wal name, -shm path, a copy.
SWAPPER = r"""
import ctypes, os, shutil, struct, sys, time
d, wal, shm, keep = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN = 0x20
fd = libc.inotify_init()
libc.inotify_add_watch(fd, d.encode(), IN_OPEN)
armed = True
while True:
    buf = os.read(fd, 4096)
    off, names = 0, []
    while off < len(buf):
        _, _, _, n = struct.unpack_from("iIII", buf, off)
        names.append(buf[off + 16:off + 16 + n].rstrip(b"\0").decode())
        off += 16 + n
    if wal in names and armed:
        os.mkfifo(shm + ".f")
        os.replace(shm + ".f", shm)
        time.sleep(0.1)
        shutil.copyfile(keep, shm + ".r")
        os.replace(shm + ".r", shm)
        armed = False
    elif wal not in names:
        armed = True
"""


def runs(a, name, result):
    return a.value(RUNS, db=name, result=result) or 0


def wait_runs(a, name, result, n=1, timeout=20):
    return H.wait_for(lambda: runs(a, name, result) >= n, timeout,
                      what="%s: %d %s check(s)" % (name, n, result))


def make_masked_page(directory, name):
    """A WAL database whose db file has a zeroed leaf page of t that a newer committed WAL frame
    replaces: healthy to SQLite (it reads that page from the WAL), malformed read alone."""
    path = F.make_healthy_wal_live(directory, name)
    with open(path, "rb") as f:
        db = bytearray(f.read())
    root = F._rootpage_from_bytes(bytes(db), "t")
    leaves = {p for p, ty in F.walk_tree(bytes(db), root) if ty == F.PAGE_LEAF_TABLE}
    with open(path + "-wal", "rb") as f:
        wal = f.read()
    _, frames = F.parse_wal(wal)
    in_wal = sorted({fr["pgno"] for fr in frames} & leaves)
    if not in_wal:
        raise RuntimeError("fixture: no leaf table page of t in the WAL")
    psize = F._page_size(bytes(db))
    off = (in_wal[0] - 1) * psize
    db[off:off + psize] = bytes(psize)
    with open(path, "wb") as f:
        f.write(db)
    return path


@unittest.skipUnless(os.geteuid() == 0, "needs root (chown, lchown)")
class HostileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hostile-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def subdir(self, name, owner=0):
        d = os.path.join(self.dir, name)
        os.mkdir(d)
        os.chmod(d, 0o755)
        os.chown(d, owner, owner)
        return d

    def link(self, target, path, owner=0):
        os.symlink(target, path)
        os.lchown(path, owner, owner)
        return path

    # -- item 2: a database reached through a symbolic link ----------------------------------

    def test_symlink_wal_frame_damage_is_malformed(self):
        real = F.make_wal_frame_damage(self.subdir("real"), "damaged.db")
        link = self.link(real, os.path.join(self.subdir("links"), "db"))
        with H.Agent([dict(name="l", path=link, check="quick")]) as a:
            wait_runs(a, "l", "malformed")
            self.assertEqual(runs(a, "l", "ok"), 0)
            self.assertEqual(a.value("sqlite_database_malformed", db="l"), 1)

    def test_symlink_page_masked_by_newer_frame_is_ok(self):
        real = make_masked_page(self.subdir("real"), "masked.db")
        # The db file alone is damaged (so the test proves the WAL was read) ...
        con = sqlite3.connect("file:%s?immutable=1" % real, uri=True)
        try:
            rows = [r[0] for r in con.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as e:
            rows = [str(e)]
        con.close()
        self.assertNotEqual(rows, ["ok"])
        link = self.link(real, os.path.join(self.subdir("links"), "db"))
        with H.Agent([dict(name="l", path=link, check="quick")]) as a:
            wait_runs(a, "l", "ok", 2)
            self.assertEqual(runs(a, "l", "malformed"), 0)

    def test_symlink_live_wal_is_sampled(self):
        real = os.path.join(self.subdir("real"), "live.db")
        app = App(real)
        self.addCleanup(app.close)
        size = os.path.getsize(real + "-wal")
        self.assertGreater(size, 100000)
        # Relative links: to the file, and to its directory (there the side files next to the
        # configured path happen to be the right ones).
        links = self.subdir("links")
        self.link("../real/live.db", os.path.join(links, "live.db"))
        self.link("../real", os.path.join(links, "dir"))
        dbs = [dict(name="file", path=os.path.join(links, "live.db")),
               dict(name="dir", path=os.path.join(links, "dir", "live.db"))]
        with H.Agent(dbs) as a:
            for n in ("file", "dir"):
                with self.subTest(n):
                    a.wait_value("sqlite_wal_size_bytes", dict(db=n), lambda v: v == size, 10)
                    self.assertEqual(a.value("sqlite_wal_index_valid", db=n), 1)
                    wait_runs(a, n, "ok")

    def test_symlink_retargeted_is_followed_again(self):
        one = F.make_healthy(self.subdir("one"), "a.db", wal=True)
        two = os.path.join(self.subdir("two"), "b.db")
        app = App(two)
        self.addCleanup(app.close)
        link = self.link(one, os.path.join(self.subdir("links"), "db"))
        with H.Agent([dict(name="l", path=link)]) as a:
            a.wait_value("sqlite_wal_size_bytes", dict(db="l"), lambda v: v == 0, 10)
            tmp = link + ".new"
            self.link(two, tmp)
            os.replace(tmp, link)
            a.wait_value("sqlite_wal_size_bytes", dict(db="l"), lambda v: v and v > 0, 10)

    # -- item 3: FIFOs ------------------------------------------------------------------------

    def fifo_setups(self):
        """(name, path to watch) for a FIFO at the db, at its -wal, at its -shm, behind a
        link; the -wal and -shm cases are WAL databases SQLite would open them for."""
        out = []
        d = self.subdir("fifo-db")
        os.mkfifo(os.path.join(d, "f.db"))
        out.append(("at_db", os.path.join(d, "f.db")))
        d = self.subdir("fifo-wal")
        path = F.make_healthy(d, "w.db", wal=True, rows=200)
        F.python_check(path)  # leaves a -wal and a -shm, as an application that died
        os.unlink(path + "-wal")
        os.mkfifo(path + "-wal")
        out.append(("at_wal", path))
        d = self.subdir("fifo-shm")
        path = F.make_healthy_wal_live(d, "s.db", rows=200)
        os.mkfifo(path + "-shm")
        out.append(("at_shm", path))
        d = self.subdir("fifo-link")
        os.mkfifo(os.path.join(d, "target"))
        out.append(("behind_link", self.link(os.path.join(d, "target"),
                                             os.path.join(d, "l.db"))))
        d = self.subdir("fifo-journal")
        path = F.make_healthy(d, "j.db", wal=False, rows=200)
        os.mkfifo(path + "-journal")
        out.append(("at_journal", path))
        return out

    def test_fifo_never_blocks_a_check_or_shutdown(self):
        setups = self.fifo_setups()
        healthy = F.make_healthy(self.subdir("healthy"), "h.db")
        dbs = [dict(name=n, path=p, check="quick") for n, p in setups]
        dbs.append(dict(name="healthy", path=healthy, check="quick"))
        # One worker: a worker stuck in open(2) would stop every later check.
        with H.Agent(dbs, agent={"check_workers": "1"}) as a:
            for n, _ in setups:
                with self.subTest(n):
                    wait_runs(a, n, "error", 2)
            wait_runs(a, "healthy", "ok", 3)
            self.assertEqual(a.value("sqlite_up", db="at_db"), 0)
            self.assertIn("not a regular file", a.stderr())
            a.reload()
            time.sleep(0.5)
            self.assertLess(a.stop(timeout=5.0), 5.0)

    def test_fifo_swapped_in_during_checks_never_holds_a_worker(self):
        """An attacker renames a FIFO and a regular file over the -shm in turn, as fast as it
        can, so that some checks see a regular file in the plan and a FIFO at SQLite's own
        open (which blocks: no O_NONBLOCK). The watchdog releases such an open at the
        deadline, so checks go on, and so does SIGTERM."""
        d = self.subdir("swap")
        path = F.make_healthy(d, "s.db", wal=True, rows=200)
        F.python_check(path)  # leaves a -wal and a -shm, as an application that died
        keep = path + "-shm.keep"
        shutil.copyfile(path + "-shm", keep)
        attacker = subprocess.Popen([sys.executable, "-c", SWAPPER, d,
                                     os.path.basename(path) + "-wal", path + "-shm", keep])
        self.addCleanup(attacker.wait)
        self.addCleanup(attacker.kill)
        healthy = F.make_healthy(self.subdir("healthy"), "h.db")
        dbs = [dict(name="swap", path=path, check="quick"),
               dict(name="healthy", path=healthy, check="quick")]
        with H.Agent(dbs, agent={"check_workers": "1", "check_timeout": "1s"}) as a:
            wait_runs(a, "healthy", "ok", 6, timeout=60)
            total = sum(runs(a, "swap", r) for r in ("ok", "error", "timeout", "busy"))
            self.assertGreaterEqual(total, 4)
            sys.stderr.write("[swap: %s] " % {r: runs(a, "swap", r)
                                              for r in ("ok", "error", "timeout", "busy")})
            self.assertLess(a.stop(timeout=5.0), 5.0)

    # -- item 7: links to files their owner cannot read ---------------------------------------

    def test_link_to_root_only_files_is_refused(self):
        secret_dir = self.subdir("secret")
        secret = F.make_healthy(secret_dir, "secret.db", wal=False, rows=100)
        con = sqlite3.connect(secret)
        con.execute("PRAGMA user_version=4242")
        con.close()
        os.chmod(secret, 0o600)
        # nobody owns the monitored directory and plants links there.
        attic = self.subdir("attic", owner=NOBODY_UID)
        self.link(secret, os.path.join(attic, "app.db"), owner=NOBODY_UID)
        self.link("/etc/shadow", os.path.join(attic, "app.db-wal"), owner=NOBODY_UID)
        # nobody also points a directory link at the secret's directory.
        self.link(secret_dir, os.path.join(attic, "sub"), owner=NOBODY_UID)
        dbs = [dict(name="direct", path=os.path.join(attic, "app.db"), check="quick"),
               dict(name="via_dir", path=os.path.join(attic, "sub", "secret.db"), check="quick")]
        with H.Agent(dbs) as a:
            for n in ("direct", "via_dir"):
                with self.subTest(n):
                    wait_runs(a, n, "error")
                    s = a.scrape()
                    self.assertIsNone(H.value(s, "sqlite_database_user_version", db=n))
                    self.assertEqual(H.value(s, "sqlite_up", db=n), 0)
                    self.assertFalse(H.value(s, "sqlite_wal_size_bytes", db=n))
                    self.assertEqual(runs(a, n, "ok"), 0)
            self.assertIn("not followed", a.stderr())

    def test_link_to_files_of_its_owner_is_followed(self):
        theirs = self.subdir("theirs", owner=NOBODY_UID)
        db = F.make_healthy(theirs, "app.db", rows=100)
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version=77")
        con.close()
        os.chown(db, NOBODY_UID, NOGROUP_GID)
        attic = self.subdir("attic", owner=NOBODY_UID)
        link = self.link(db, os.path.join(attic, "app.db"), owner=NOBODY_UID)
        with H.Agent([dict(name="n", path=link, check="quick")]) as a:
            a.wait_value("sqlite_database_user_version", dict(db="n"), lambda v: v == 77, 10)
            wait_runs(a, "n", "ok")

    def test_side_file_link_is_never_followed(self):
        d = self.subdir("d")
        path = F.make_healthy(d, "app.db", wal=True, rows=100)
        elsewhere = F.make_healthy_wal_live(self.subdir("else"), "x.db", rows=200)
        # Even root's own link: SQLite opens side files with O_NOFOLLOW, so a link there is
        # never what SQLite reads; the sampler must not report it either.
        self.link(elsewhere + "-wal", path + "-wal")
        with H.Agent([dict(name="s", path=path, check="quick")]) as a:
            wait_runs(a, "s", "error")
            self.assertFalse(a.value("sqlite_wal_size_bytes", db="s"))
            self.assertIn("-wal: a symbolic link", a.stderr())

    # -- item 6: a -wal state SQLite retries on for 10 s ---------------------------------------

    def test_invalid_wal_header_with_shm_ends_within_check_timeout(self):
        d = self.subdir("spin")
        path = os.path.join(d, "app.db")
        # -wal and -shm left as by a crashed application, then the -wal's magic number broken
        # (hand-made bytes: a real process does not write this state on demand).
        app = App(path)
        shutil.copyfile(path + "-wal", path + "-wal.keep")
        shutil.copyfile(path + "-shm", path + "-shm.keep")
        app.close()
        os.replace(path + "-wal.keep", path + "-wal")
        os.replace(path + "-shm.keep", path + "-shm")
        with open(path + "-wal", "r+b") as f:
            f.write(b"\x01")
        with H.Agent([dict(name="s", path=path, check="quick")],
                     agent={"check_timeout": "1s", "check_workers": "1"}) as a:
            wait_runs(a, "s", "error", 2, timeout=30)
            # check_timeout is 1 s: a run must not take SQLite's 10 s of retries.
            self.assertLess(a.value("sqlite_check_duration_seconds", db="s"), 1.0)
            self.assertIn("the -wal header is invalid", a.stderr())

    # -- item 8: a config that is not a regular file --------------------------------------------

    def test_check_config_refuses_fifo_and_dev_zero(self):
        fifo = os.path.join(self.dir, "agent.ini")
        os.mkfifo(fifo)
        for path in (fifo, "/dev/zero"):
            with self.subTest(path):
                p = H.run_agent("-c", path, "--check-config", timeout=10)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("%s: not a regular file" % path, p.stderr)

    def test_reload_from_a_fifo_keeps_running_and_stops(self):
        healthy = F.make_healthy(self.subdir("h"), "h.db")
        with H.Agent([dict(name="h", path=healthy)]) as a:
            os.unlink(a.config_path)
            os.mkfifo(a.config_path)
            a.proc.send_signal(signal.SIGHUP)
            H.wait_for(lambda: "not a regular file" in a.stderr(), 10, what="reload refused")
            status, _, _ = a.get("/metrics")
            self.assertEqual(status, 200)
            self.assertLess(a.stop(timeout=5.0), 5.0)


if __name__ == "__main__":
    unittest.main()
