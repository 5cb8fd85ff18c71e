"""The systemd notification protocol, spoken to a real datagram socket as systemd provides it.

The agent runs with NOTIFY_SOCKET pointing at a socket this test reads (what systemd does for
Type=notify) and WATCHDOG_USEC set (what WatchdogSec= does): it must report READY=1 once it
serves, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM, and ping WATCHDOG=1
while sampling is alive. Then the sampler thread alone is stopped with ptrace (PTRACE_SEIZE +
PTRACE_INTERRUPT stop one thread, not the process): the pings must stop, and come back once it
runs again. The unit file itself is checked by scripts/package-test.sh, installed.
"""

import ctypes
import os
import signal
import socket
import tempfile
import threading
import time
import unittest

import fixtures as F
import harness as H

WATCHDOG_USEC = 400000  # pings every 200 ms
# notify.h: NOTIFY_STALL_INTERVALS x the sample interval + NOTIFY_STALL_SLACK_MS
SAMPLE_INTERVAL_S = 0.2
STALL_LIMIT_S = 3 * SAMPLE_INTERVAL_S + 10.0

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207


class NotifySocket:
    """An AF_UNIX datagram socket collecting (monotonic time, message) pairs."""

    def __init__(self, dir):
        self.path = os.path.join(dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode()))

    def lines(self, since=0.0):
        with self.lock:
            return [(t, l) for t, m in self.messages if t >= since for l in m.split("\n")]

    def has(self, line, since=0.0):
        return any(l == line for _, l in self.lines(since))

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


class NotifyAgent(H.Agent):
    """An agent started with systemd's NOTIFY_SOCKET and WATCHDOG_USEC in its environment."""

    def __init__(self, databases, notify):
        self.notify = notify
        super().__init__(databases, {"sample_interval": "%dms" % (SAMPLE_INTERVAL_S * 1000)})

    def start(self):
        keys = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
        saved = {k: os.environ.get(k) for k in keys}
        os.environ["NOTIFY_SOCKET"] = self.notify.path
        os.environ["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        os.environ.pop("WATCHDOG_PID", None)
        try:
            super().start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def thread_id(pid, name):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError("no thread %r in %d" % (name, pid))


class SystemdNotifyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sqlite-agent-notify-")
        self.db = F.make_healthy(self.dir, "app.db")
        self.notify = NotifySocket(self.dir)

    def tearDown(self):
        self.notify.close()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_ready_reloading_stopping_and_watchdog(self):
        with NotifyAgent([{"name": "app", "path": self.db, "check": "off"}], self.notify) as a:
            H.wait_for(lambda: self.notify.has("READY=1"), 5, what="READY=1")
            H.wait_for(lambda: len([l for _, l in self.notify.lines() if l == "WATCHDOG=1"]) >= 3,
                       5, what="three WATCHDOG=1 pings")
            t = time.monotonic()
            a.reload()
            H.wait_for(lambda: self.notify.has("RELOADING=1", t), 5, what="RELOADING=1")
            H.wait_for(lambda: [l for _, l in self.notify.lines(t)].count("READY=1") >= 1, 5,
                       what="READY=1 after the reload")
            seq = [l for _, l in self.notify.lines(t) if l in ("RELOADING=1", "READY=1")]
            self.assertEqual(seq[:2], ["RELOADING=1", "READY=1"])
            t = time.monotonic()
            a.stop()
            H.wait_for(lambda: self.notify.has("STOPPING=1", t), 5, what="STOPPING=1")

    def test_watchdog_pings_stop_while_the_sampler_is_stuck(self):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        libc.ptrace.restype = ctypes.c_long
        with NotifyAgent([{"name": "app", "path": self.db, "check": "off"}], self.notify) as a:
            H.wait_for(lambda: self.notify.has("WATCHDOG=1"), 5, what="a first ping")
            tid = thread_id(a.proc.pid, "sampler")
            if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
                raise unittest.SkipTest("ptrace: %s" % os.strerror(ctypes.get_errno()))
            try:
                self.assertEqual(libc.ptrace(PTRACE_INTERRUPT, tid, None, None), 0)
                os.waitpid(tid, 0x40000000)  # __WALL: the thread is in its ptrace stop
                stuck = time.monotonic()
                time.sleep(STALL_LIMIT_S + 1.5)
                pings = [t for t, l in self.notify.lines(stuck) if l == "WATCHDOG=1"]
                # Pings go on up to the stall limit, and not after it.
                self.assertTrue(pings, "no ping at all after the sampler stopped")
                self.assertLess(pings[-1] - stuck, STALL_LIMIT_S + 0.5)
                self.assertIn("sampling has stalled", a.stderr())
                self.assertIsNone(a.proc.poll())
            finally:
                libc.ptrace(PTRACE_DETACH, tid, None, None)
            resumed = time.monotonic()
            H.wait_for(lambda: self.notify.has("WATCHDOG=1", resumed), 5,
                       what="pings again once the sampler runs")


if __name__ == "__main__":
    unittest.main()
