"""The agent's own alert push over more databases than one evaluation slice: alertpush.c
evaluates and renders 256 databases at a time (EVAL_SLICE), so that the alert thread never
copies a whole fleet's snapshot every second (issue 10). Databases missing on either side of
each slice boundary must reach a real Alertmanager as SQLiteDatabaseDown, and nothing else.

Binaries: ALERTMANAGER (default /usr/bin/prometheus-alertmanager), SQLITE_AGENT_BIN.
"""

import os
import shutil
import sqlite3
import tempfile
import time
import unittest

import harness as H
from test_alerting import AlertmanagerServer, Receiver

NDBS = 600
SLICE = 256                                   # alertpush.c EVAL_SLICE
MISSING = {0, SLICE - 1, SLICE, 2 * SLICE - 1, 2 * SLICE, NDBS - 1}
ALERT_TIMEOUT = 30.0
QUIET_PERIOD = 3.0


class AlertSlicesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="alert-slices-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        self.am = AlertmanagerServer(self.receiver.url).start()
        self.addCleanup(self.am.close)

    def make_databases(self):
        dbs = []
        for i in range(NDBS):
            path = os.path.join(self.dir, "db%03d.sqlite3" % i)
            if i not in MISSING:
                c = sqlite3.connect(path)
                c.execute("CREATE TABLE t(x)")
                c.close()
            dbs.append({"name": "db%03d" % i, "path": path, "check": "off"})
        return dbs

    def pushed(self):
        return {(a["labels"]["alertname"], a["labels"]["db"], a["status"])
                for a in self.receiver.alerts() if a["labels"].get("source") == "sqlite-agent"}

    def test_missing_databases_across_slices(self):
        agent = H.Agent(self.make_databases(), {"sample_interval": "1s"})
        with open(agent.config_path, "a") as f:
            f.write("\n[alertmanager]\nurls = http://127.0.0.1:%d\nresend_interval = 2s\n"
                    % self.am.port)
        want = {("SQLiteDatabaseDown", "db%03d" % i, "firing") for i in MISSING}
        with agent:
            H.wait_for(lambda: self.pushed() >= want, ALERT_TIMEOUT, interval=0.2,
                       what="SQLiteDatabaseDown for every missing database")
            time.sleep(QUIET_PERIOD)
            self.assertEqual(self.pushed(), want)
            s = agent.scrape()
            self.assertEqual(H.value(s, "sqlite_agent_alertmanager_posts_total",
                                     result="failure"), 0)
            agent.stop()


if __name__ == "__main__":
    unittest.main()
