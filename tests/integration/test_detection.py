"""Detection: one agent watching every fixture, healthy and damaged, WAL and rollback."""

import os
import re
import shutil
import tempfile
import time
import unittest

import fixtures as F
import harness as H

CHECK_INTERVAL = H.FAST_CHECK_SECONDS
SLACK = 2.0
FIRST_CHECK_TIMEOUT = 10.0
RUNS = "sqlite_check_runs_total"
RESULTS = ("ok", "malformed", "busy", "timeout", "error")

DAMAGED = [F.make_zeroed_leaf, F.make_bad_child, F.make_truncated, F.make_garbage_header]


def _label(maker, wal):
    return "%s_%s" % (maker.__name__[len("make_"):], "wal" if wal else "rollback")


class DetectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="detection-")
        d = cls.dir
        dbs = []  # (name, path, check)
        for wal in (False, True):
            dbs.append((_label(F.make_healthy, wal), F.make_healthy(
                d, _label(F.make_healthy, wal) + ".db", wal=wal), "integrity"))
            for maker in DAMAGED:
                name = _label(maker, wal)
                dbs.append((name, maker(d, name + ".db", wal=wal), "quick"))
            for check in ("quick", "integrity"):
                name = "index_mismatch_%s_%s" % ("wal" if wal else "rollback", check)
                dbs.append((name, F.make_index_mismatch(d, name + ".db", wal=wal), check))
            name = "live_%s" % ("wal" if wal else "rollback")
            dbs.append((name, F.make_healthy(d, name + ".db", wal=wal), "quick"))
        dbs.append(("healthy_wal_live", F.make_healthy_wal_live(d, "healthy-wal-live.db"),
                    "integrity"))
        dbs.append(("wal_frame_damage", F.make_wal_frame_damage(d, "wal-frame-damage.db"),
                    "quick"))
        dbs.append(("missing", os.path.join(d, "missing.db"), "quick"))
        cls.dbs = {n: (p, c) for n, p, c in dbs}
        cls.agent = H.Agent(
            [dict(name=n, path=p, check=c) for n, p, c in dbs],
            {"sample_interval": "200ms", "check_interval": H.FAST_CHECK,
             "check_workers": "2"})
        try:
            cls.agent.start()
        except BaseException:
            cls.agent.close()
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.stop()
        finally:
            cls.agent.close()
            shutil.rmtree(cls.dir, ignore_errors=True)

    def runs(self, s, db):
        check = self.dbs[db][1]
        return {r: H.value(s, RUNS, db=db, check=check, result=r) for r in RESULTS}

    def wait_runs(self, db, result, at_least=1, timeout=FIRST_CHECK_TIMEOUT):
        check = self.dbs[db][1]
        return self.agent.wait_value(RUNS, dict(db=db, check=check, result=result),
                                     lambda v: v is not None and v >= at_least, timeout)

    def assert_malformed(self, db):
        s = self.wait_runs(db, "malformed")
        self.assertEqual(H.value(s, "sqlite_database_malformed", db=db), 1, db)
        runs = self.runs(s, db)
        self.assertEqual(runs["ok"], 0, runs)
        # level=error on the transition to malformed, naming the database
        self.assertRegex(self.agent.stderr(),
                         r"(?m)^.*level=error\b.*\bdb=\"?%s\"?(\s|$)" % re.escape(db))

    def assert_healthy(self, db):
        s = self.wait_runs(db, "ok", at_least=2)
        self.assertEqual(H.value(s, "sqlite_database_malformed", db=db), 0, db)
        self.assertEqual(H.value(s, "sqlite_up", db=db), 1, db)
        runs = self.runs(s, db)
        self.assertEqual({r: v for r, v in runs.items() if r != "ok"},
                         {r: 0 for r in RESULTS if r != "ok"}, "%s: %r" % (db, runs))

    def test_healthy(self):
        for db in ("healthy_rollback", "healthy_wal", "healthy_wal_live"):
            with self.subTest(db=db):
                self.assert_healthy(db)

    def test_damaged_db_files(self):
        for wal in (False, True):
            for maker in DAMAGED:
                with self.subTest(db=_label(maker, wal)):
                    self.assert_malformed(_label(maker, wal))

    def test_garbage_header_is_invalid_header(self):
        for wal in (False, True):
            db = _label(F.make_garbage_header, wal)
            self.agent.wait_value("sqlite_database_header_valid", dict(db=db), lambda v: v == 0,
                                  FIRST_CHECK_TIMEOUT)
        self.agent.wait_value("sqlite_database_header_valid", dict(db="healthy_rollback"),
                              lambda v: v == 1, FIRST_CHECK_TIMEOUT)

    def test_wal_frame_damage(self):
        self.assert_malformed("wal_frame_damage")

    def test_index_mismatch_integrity_only(self):
        for mode in ("rollback", "wal"):
            with self.subTest(mode=mode):
                self.assert_malformed("index_mismatch_%s_integrity" % mode)
                self.assert_healthy("index_mismatch_%s_quick" % mode)

    def test_missing(self):
        s = self.agent.wait_value("sqlite_up", dict(db="missing"), lambda v: v == 0,
                                  FIRST_CHECK_TIMEOUT)
        # give the checker time to have tried it at least twice
        self.wait_runs("healthy_rollback", "ok", at_least=3)
        s = self.agent.scrape()
        self.assertEqual(H.value(s, "sqlite_up", db="missing"), 0)
        self.assertEqual(H.value(s, "sqlite_database_malformed", db="missing"), 0)
        self.assertEqual(self.runs(s, "missing")["malformed"], 0)
        self.assertEqual(self.runs(s, "missing")["ok"], 0)
        self.assertFalse(os.path.exists(self.dbs["missing"][0]),
                         "the agent created the missing database file")

    def test_all_five_results_present_from_start(self):
        s = self.agent.scrape()
        for db, (_, check) in self.dbs.items():
            with self.subTest(db=db):
                runs = self.runs(s, db)
                self.assertNotIn(None, runs.values(), "%s: %r" % (db, runs))
                self.assertIsNotNone(H.value(s, "sqlite_database_malformed", db=db))

    def test_damaged_while_running(self):
        for mode in ("rollback", "wal"):
            db = "live_" + mode
            with self.subTest(db=db):
                self.assert_healthy(db)
                F.damage_in_place(self.dbs[db][0])
                t0 = time.monotonic()
                self.agent.wait_value("sqlite_database_malformed", dict(db=db),
                                      lambda v: v == 1, CHECK_INTERVAL + SLACK)
                took = time.monotonic() - t0
                self.assertLess(took, CHECK_INTERVAL + SLACK)


if __name__ == "__main__":
    unittest.main()
