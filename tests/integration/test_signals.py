"""Signals and time limits on a database whose integrity_check takes seconds."""

import shutil
import signal
import tempfile
import time
import unittest

import fixtures as F
import harness as H

RUNS = "sqlite_check_runs_total"
MIN_CHECK_SECONDS = 2.5  # the reference integrity_check must be at least this slow
EXIT_WITHIN = 2.0


class SignalsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="signals-")
        try:
            cls.big = F.make_big(cls.dir, rows=800000)
            t0 = time.monotonic()
            rows = F.python_check(cls.big, "integrity_check")
            cls.check_seconds = time.monotonic() - t0
        except BaseException:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        if rows != ["ok"] or cls.check_seconds < MIN_CHECK_SECONDS:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise AssertionError("precondition: big.db must be healthy and slow to check, got "
                                 "%r in %.2fs" % (rows, cls.check_seconds))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_exit_promptly_mid_check(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                with H.Agent([dict(name="big", path=self.big, check="integrity")],
                             {"check_interval": "1h", "check_timeout": "60s"}) as a:
                    a.wait_value("sqlite_check_running", dict(db="big", check="integrity"),
                                 lambda v: v == 1, 5)
                    since_start = time.monotonic() - a.started_at
                    took = a.stop(timeout=EXIT_WITHIN + 3, expect=0, sig=sig)
                    self.assertLess(took, EXIT_WITHIN, "exit took %.2fs" % took)
                    # precondition: the check cannot have finished before the signal
                    self.assertLess(since_start, self.check_seconds * 0.6,
                                    "test precondition: check may have ended before the signal")
                    self.assertNotRegex(a.stderr(), r"level=error.*(malformed|corrupt)")

    def test_timeout_is_not_malformed(self):
        dbs = [dict(name="big", path=self.big, check="integrity", check_timeout="500ms"),
               dict(name="bigquick", path=self.big, check="quick", check_timeout="20s")]
        with H.Agent(dbs, {"check_interval": "1h", "check_timeout": "60s",
                           "check_workers": "2"}) as a:
            s = a.wait_value(RUNS, dict(db="big", check="integrity", result="timeout"),
                             lambda v: v is not None and v >= 1, 10)
            self.assertEqual(H.value(s, RUNS, db="big", check="integrity", result="malformed"),
                             0)
            self.assertEqual(H.value(s, RUNS, db="big", check="integrity", result="ok"), 0)
            self.assertEqual(H.value(s, "sqlite_database_malformed", db="big"), 0)
            dur = H.value(s, "sqlite_check_duration_seconds", db="big", check="integrity")
            self.assertIsNotNone(dur)
            self.assertLess(dur, 0.5 + 1.5, "the check was not aborted near check_timeout")
            s = a.wait_value("sqlite_check_running", dict(db="big", check="integrity"),
                             lambda v: v == 0, 2)
            # no completed run: no success timestamp
            self.assertIn(H.value(s, "sqlite_check_last_success_timestamp_seconds", db="big",
                                  check="integrity"), (None, 0))
            # the per-database override did not leak to the other database
            s = a.wait_value(RUNS, dict(db="bigquick", check="quick", result="ok"),
                             lambda v: v is not None and v >= 1, 10)
            self.assertEqual(H.value(s, RUNS, db="bigquick", check="quick", result="timeout"), 0)
            self.assertNotRegex(a.stderr(), r"level=error.*db=\"?big\"?\b.*malformed")
            a.stop()


if __name__ == "__main__":
    unittest.main()
