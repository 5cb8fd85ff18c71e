"""The fleet dashboard (dashboards/sqlite-agent-fleet.dashboard.json, issue 10).

Static part: what Grafana needs to import and provision it (as test_dashboard.py checks for the
per-database one), and what keeps it fast at 10,000 databases: no repeated panels, no db
variable, and no query that returns one series per database unless it is cut to the ten worst
(topk), aggregated (count, sum, max), or filtered to the databases that need attention (== 1).

Live part: a real Prometheus (Debian's /usr/bin/prometheus) scrapes a real agent watching a
fleet of 2,000 databases found by one glob, one of them malformed (a zeroed b-tree leaf), one
with a smashed header, one held open by two connections of a vulnerable SQLite (the WAL-reset
race risk); every query must be valid PromQL and return data.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import fixtures as F
import harness as H
import test_dashboard as TD
from test_fleet import make_many

DASHBOARD = os.path.join(H.REPO, "dashboards", "sqlite-agent-fleet.dashboard.json")
N = 2000

HOLDER_PY = r"""
import sqlite3, sys
cons = [sqlite3.connect(sys.argv[1], isolation_level=None) for _ in range(2)]
for c in cons:
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("SELECT count(*) FROM t").fetchall()
cons[0].execute("INSERT INTO t VALUES (2)")
print("ready", flush=True)
sys.stdin.read()
"""

# A query of per-database series is fine when it is one of these.
BOUNDED = re.compile(r"^(topk\(10,|count\(|sum\(|sum by|max\(|count\(count by)|== 1\)?$")


def load():
    with open(DASHBOARD) as f:
        raw = f.read()
    return raw, json.loads(raw)


class FleetDashboardStaticTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.raw, cls.dash = load()

    def test_identity_and_provisioning(self):
        self.assertEqual(self.dash.get("uid"), "sqlite-agent-fleet")
        self.assertIsNone(self.dash.get("id"))
        self.assertIn(self.dash.get("schemaVersion"), range(36, 40))
        self.assertNotIn("__inputs", self.dash)
        self.assertNotRegex(self.raw, r"\$\{?DS_")
        names = [v["name"] for v in self.dash["templating"]["list"]]
        self.assertEqual(names, ["datasource", "job", "instance"], "no per-database variable")

    def test_panels_use_the_variables(self):
        want = {"type": "prometheus", "uid": "${datasource}"}
        ids = [p["id"] for p in TD.all_panels(self.dash)]
        self.assertEqual(len(ids), len(set(ids)))
        for p in TD.all_panels(self.dash):
            with self.subTest(panel=p["title"]):
                self.assertNotIn("repeat", p, "no panel repeated per database")
                self.assertEqual(p["datasource"], want)
                g = p["gridPos"]
                self.assertTrue(0 <= g["x"] and g["x"] + g["w"] <= 24, g)
                for t in p["targets"]:
                    self.assertEqual(t["datasource"], want)
                    self.assertIn('job=~"$job"', t["expr"])
                    self.assertIn('instance=~"$instance"', t["expr"])

    def test_every_query_is_bounded(self):
        per_db = ("sqlite_wal_", "sqlite_check_", "sqlite_database_", "sqlite_up",
                  "sqlite_corruption_risk", "sqlite_sample_")
        for title, ref, expr in TD.queries(self.dash):
            with self.subTest(panel=title, refId=ref):
                if any(m in expr for m in per_db):
                    self.assertRegex(expr.split(" or vector")[0], BOUNDED)
        exprs = " ".join(e for _, _, e in TD.queries(self.dash))
        for need in ("topk(10, sqlite_wal_size_bytes", "topk(10, sqlite_wal_checkpoint_lag_frames",
                     "sqlite_database_malformed", "sqlite_corruption_risk", "scrape_duration_seconds",
                     "scrape_samples_scraped", "sqlite_agent_checks_overdue"):
            self.assertIn(need, exprs)


class FleetDashboardLiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fleet-dashboard-")
        root = os.path.join(cls.dir, "tenants")
        make_many(root, N - 1, 20)
        F.make_zeroed_leaf(os.path.join(root, "t000"), name="zeroed.sqlite3")
        cls.held = os.path.join(root, "t000", "db00000.sqlite3")  # a WAL one
        cls.smashed = os.path.join(root, "t001", "db00001.sqlite3")
        cls.holder = cls.agent = cls.prom = None
        try:
            cls.holder = subprocess.Popen([sys.executable, "-c", HOLDER_PY, cls.held],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert cls.holder.stdout.readline().startswith("ready")
            cls.agent = H.Agent(text="placeholder")
            cls.agent._write_config((), None, (
                "[agent]\nlisten = 127.0.0.1:%d\nsample_interval = 1s\ncheck_workers = 2\n"
                "rescan_interval = 2s\n[databases:tenants]\nglob = %s\ncheck = quick\n"
                "check_interval = 1m\n"
                % (cls.agent.port, os.path.join(root, "*", "*.sqlite3"))))
            cls.agent.start()
            H.wait_for(lambda: len(H.select(cls.agent.scrape(), "sqlite_up")) == N, 30,
                       interval=0.5, what="the fleet watched")
            with open(cls.smashed, "r+b") as f:  # seen as SQLite already: stays watched, down
                f.write(b"\0" * 16)
            a = cls.agent
            a.wait_value("sqlite_database_malformed", {"db": "tenants/t000/zeroed.sqlite3"},
                         lambda v: v == 1, 120)
            a.wait_value("sqlite_up", {"db": "tenants/t001/db00001.sqlite3"},
                         lambda v: v == 0, 20)
            cls.instance = "127.0.0.1:%d" % cls.agent.port
            cls.prom = TD.PromServer([cls.instance]).start()
            cls.prom.wait_scrapes(5, timeout=60)
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _cleanup(cls):
        for thing in (cls.prom, cls.agent):
            if thing is not None:
                thing.close()
        if cls.holder is not None:
            cls.holder.stdin.close()
            cls.holder.wait(10)
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.stop()
        finally:
            cls._cleanup()

    def values(self, **kw):
        return dict(dict(TD.BUILTINS, job="sqlite-agent", instance=self.instance,
                         datasource="prometheus"), **kw)

    def test_every_query_returns_data(self):
        _, dash = load()
        for title, ref, expr in TD.queries(dash):
            for inst in (self.instance, ".*"):
                with self.subTest(panel=title, refId=ref, instance=inst):
                    q = TD.substitute(expr, self.values(instance=inst))
                    status, body = self.prom.query(q)
                    self.assertEqual((status, body.get("status")), (200, "success"),
                                     "%s\n%r" % (q, body))
                    self.assertTrue(body["data"]["result"], "no data for %s" % q)

    def test_the_lists_name_the_right_databases(self):
        f = 'job="sqlite-agent", instance="%s"' % self.instance
        malformed = self.prom.result("sqlite_database_malformed{%s} == 1" % f)
        # The smashed header is damage too: a check that reaches it before the file is seen down
        # reports it malformed (SQLITE_NOTADB), honestly; no other database may be listed.
        names = [r["metric"]["db"] for r in malformed]
        self.assertIn("tenants/t000/zeroed.sqlite3", names)
        self.assertLessEqual(set(names), {"tenants/t000/zeroed.sqlite3",
                                          "tenants/t001/db00001.sqlite3"})
        risk = self.prom.result('sqlite_corruption_risk{%s, reason="wal_reset_race"} == 1' % f)
        self.assertIn("tenants/t000/db00000.sqlite3", [r["metric"]["db"] for r in risk])
        down = self.prom.result("count(sqlite_up{%s} == 0)" % f)
        self.assertEqual(down[0]["value"][1], "1")
        top = self.prom.result("topk(10, sqlite_wal_size_bytes{%s})" % f)
        self.assertEqual(len(top), 10)
        # What the fleet costs Prometheus, for the README's table.
        dur = self.prom.result('scrape_duration_seconds{%s}' % f)[0]["value"][1]
        samples = self.prom.result('scrape_samples_scraped{%s}' % f)[0]["value"][1]
        sys.stderr.write("\n%d databases: scrape_duration_seconds %s, scrape_samples_scraped %s\n"
                         % (N, dur, samples))


if __name__ == "__main__":
    unittest.main()
