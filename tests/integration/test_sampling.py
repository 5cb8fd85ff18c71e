"""The sampler's reuse of unchanged headers (agent/headcache.h): an idle file is not opened at
every pass, and a change is still seen at the next one, even with its old mtime put back."""

import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import fixtures as F
import harness as H

SETTLE = 3.0  # headcache.h, HEADCACHE_SETTLE_NS
REFRESH_SECONDS = 16 * 0.2  # HEADCACHE_REFRESH_EVERY samples at sample_interval 200ms
USER_VERSION = "sqlite_database_user_version"


class OpenTrace:
    """strace attached to a running agent: when (time.time()) it opened a file named name."""

    def __init__(self, pid, name):
        self.name = '"%s"' % name
        self.opens = []
        self.proc = subprocess.Popen(["strace", "-f", "-ttt", "-e", "trace=openat", "-p",
                                      str(pid)], stderr=subprocess.PIPE, text=True)
        self.proc.stderr.readline()  # "strace: Process N attached": tracing from here
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            m = re.search(r"(\d+\.\d+) openat\(", line)  # "[pid TID] SECONDS.MICROS openat("
            if m and self.name in line:
                self.opens.append(float(m.group(1)))

    def between(self, t0, t1):
        return [t for t in list(self.opens) if t0 <= t < t1]

    def wait_open(self, after, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.between(after, float("inf"))
            if found:
                return found[0]
            time.sleep(0.02)
        return None

    def close(self):
        self.proc.terminate()  # detaches from the agent and exits
        self.proc.wait(10)
        self.reader.join(10)
        self.proc.stderr.close()


class HeaderReuseTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sampling-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_idle_file_not_reopened_and_change_seen_despite_old_mtime(self):
        path = F.make_healthy(self.dir, "idle.db")
        with H.Agent([dict(name="idle", path=path, check="off")],
                     {"sample_interval": "200ms"}) as a:
            a.wait_value(USER_VERSION, dict(db="idle"), lambda v: v == 0, 10)
            time.sleep(SETTLE + 1)  # read at least once after the stamps settled
            trace = OpenTrace(a.proc.pid, "idle.db")
            try:
                # The file is still read in full every 16th sample (3.2 s here): wait for one
                # such read, then none comes for the next 1.5 s (7 passes).
                t0 = trace.wait_open(time.time(), 2 * REFRESH_SECONDS)
                self.assertIsNotNone(t0, "no refresh read in %.1f s" % (2 * REFRESH_SECONDS))
                time.sleep(1.5)
                self.assertEqual(trace.between(t0 + 0.05, time.time()), [],
                                 "an unchanged, settled file was opened again")

                # user_version (header offset 60, fileformat2 1.3.14) written in place, then
                # the old atime and mtime put back, as cp -p or rsync -t do: only ctime moves.
                # The next pass (200 ms) must read it, long before the next refresh at t0+3.2.
                st = os.stat(path)
                with open(path, "r+b") as f:
                    f.seek(60)
                    f.write(struct.pack(">I", 7))
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
                changed = time.time()
                self.assertEqual(os.stat(path).st_mtime_ns, st.st_mtime_ns)
                seen = trace.wait_open(changed, 1.0)
                self.assertIsNotNone(seen, "the change (ctime only) was not read at once")
            finally:
                trace.close()
            a.wait_value(USER_VERSION, dict(db="idle"), lambda v: v == 7, 5)

    def test_idle_wal_change_seen(self):
        path = F.make_healthy_wal_live(self.dir, "live.db")
        with H.Agent([dict(name="live", path=path, check="off")],
                     {"sample_interval": "200ms"}) as a:
            a.wait_value("sqlite_wal_size_bytes", dict(db="live"), lambda v: v and v > 0, 10)
            time.sleep(SETTLE + 1)
            size0 = a.value("sqlite_wal_size_bytes", db="live")
            con = sqlite3.connect(path, isolation_level=None)
            try:
                con.execute("PRAGMA wal_autocheckpoint=0")
                con.execute("INSERT INTO t(v, n) VALUES ('one more', 1)")
            finally:
                con.close()
            a.wait_value("sqlite_wal_size_bytes", dict(db="live"),
                         lambda v: v is not None and v != size0, 2)


if __name__ == "__main__":
    unittest.main()
