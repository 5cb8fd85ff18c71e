"""Alerting end to end: real agent -> real Prometheus with dashboards/sqlite-agent.rules.yml ->
real Alertmanager -> a webhook receiver in this test.

A database is damaged while everything runs; SQLiteDatabaseMalformed for it must arrive at the
receiver, and nothing may fire for the healthy database next to it. The rules Prometheus
loaded are also checked for the labels and annotations every alert must carry, and their
runbook links for anchors that exist in docs/runbook.md.

Binaries: env PROMETHEUS (default /usr/bin/prometheus), ALERTMANAGER (default
/usr/bin/prometheus-alertmanager), SQLITE_AGENT_BIN (see harness.py).
"""

import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unittest

import fixtures as F
import harness as H
from test_dashboard import Process, PromServer, http_json

RULES = os.path.join(H.REPO, "dashboards", "sqlite-agent.rules.yml")
RUNBOOK = os.path.join(H.REPO, "docs", "runbook.md")
RUNBOOK_BASE = "https://github.com/OWNER/sqlite-agent/blob/main/docs/runbook.md#"
ALERTMANAGER = os.environ.get("ALERTMANAGER", "/usr/bin/prometheus-alertmanager")

ALERT_TIMEOUT = 30.0  # damage -> webhook; typically 3-5 s (check 1s, scrape 1s, eval 1s, wait 1s)
QUIET_PERIOD = 4.0    # after the alert, how long nothing else may arrive

# The alerts the rules must define, at least.
REQUIRED = {"SQLiteDatabaseMalformed", "SQLiteCheckNotCompleting", "SQLiteDatabaseDown",
            "SQLiteAgentDown", "SQLiteWALTooLarge", "SQLiteCheckpointLagging",
            "SQLiteWriterVulnerableToWALResetRace"}


def github_anchor(heading):
    """The anchor GitHub generates for a Markdown heading: lower case, punctuation other than
    '-' and '_' dropped, spaces to '-'."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def runbook_anchors():
    anchors, seen = set(), {}
    with open(RUNBOOK) as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            m = re.match(r"#{1,6} (.+)", line)
            if m and not in_code:
                a = github_anchor(m.group(1))
                n = seen.get(a, 0)
                seen[a] = n + 1
                anchors.add(a if n == 0 else "%s-%d" % (a, n))
    return anchors


class Receiver(http.server.ThreadingHTTPServer):
    """Alertmanager webhook receiver on loopback: keeps every POSTed payload."""

    def __init__(self):
        self.payloads = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n).decode())
                with receiver.lock:
                    receiver.payloads.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self):
        """Every alert of every payload so far, with the payload's receiver."""
        with self.lock:
            return [a for p in self.payloads for a in p.get("alerts", [])]

    def close(self):
        self.shutdown()
        self.server_close()


class AlertmanagerServer(Process):
    name = "alertmanager"

    def __init__(self, webhook_url):
        super().__init__()
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config_path, "w") as f:
            f.write("\n".join([
                "route:",
                "  receiver: webhook",
                "  group_by: [alertname, instance, db]",
                "  group_wait: 1s",
                "  group_interval: 1s",
                "  repeat_interval: 4h",
                "receivers:",
                "  - name: webhook",
                "    webhook_configs:",
                "      - url: %s" % json.dumps(webhook_url),
                "        send_resolved: true",
            ]) + "\n")

    def command(self):
        return [ALERTMANAGER, "--config.file=%s" % self.config_path,
                "--storage.path=%s" % os.path.join(self.dir, "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--cluster.listen-address=",  # empty: no gossip, no second port
                "--log.level=warn"]


class AlertingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="alerting-")
        cls.healthy = F.make_healthy(cls.dir, "healthy.db")
        cls.victim = F.make_healthy(cls.dir, "victim.db")
        cls.receiver = cls.am = cls.agent = cls.prom = None
        try:
            cls.receiver = Receiver()
            cls.am = AlertmanagerServer(cls.receiver.url).start()
            cls.agent = H.Agent([{"name": "healthy", "path": cls.healthy, "check": "quick"},
                                 {"name": "victim", "path": cls.victim, "check": "quick"}],
                                {"check_interval": "1s"})
            # The agent also posts its own alerts to the same Alertmanager.
            with open(cls.agent.config_path, "a") as f:
                f.write("\n[alertmanager]\nurls = http://127.0.0.1:%d\nresend_interval = 2s\n"
                        % cls.am.port)
            cls.agent.start()
            cls.instance = "127.0.0.1:%d" % cls.agent.port
            cls.prom = PromServer([cls.instance], rule_files=[RULES],
                                  alertmanager="127.0.0.1:%d" % cls.am.port).start()
            cls.prom.wait_scrapes(3)
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _cleanup(cls):
        for thing in (cls.prom, cls.agent, cls.am, cls.receiver):
            if thing is not None:
                thing.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.stop()  # exit 0 on SIGTERM (and, in a sanitizer build, no report)
        finally:
            cls._cleanup()

    # -- helpers --------------------------------------------------------------------------

    def rules(self):
        status, body = http_json(self.prom.url + "/api/v1/rules")
        self.assertEqual(status, 200, body)
        return [r for g in body["data"]["groups"] for r in g["rules"]]

    def prom_alerts(self):
        status, body = http_json(self.prom.url + "/api/v1/alerts")
        self.assertEqual(status, 200, body)
        return body["data"]["alerts"]

    def wait_evaluated(self):
        """Until every rule has been evaluated at least once after the first scrape."""
        def done():
            rs = self.rules()
            return rs and all(not r.get("lastEvaluation", "0001").startswith("0001")
                              for r in rs)
        H.wait_for(done, 10, interval=0.2, what="every rule evaluated")
        time.sleep(1.5)  # one more evaluation, now with scraped data

    # -- tests ----------------------------------------------------------------------------

    def test_rules_loaded_with_labels_annotations_and_runbook_anchors(self):
        self.wait_evaluated()
        rules = self.rules()
        alerts = {r["name"]: r for r in rules if r["type"] == "alerting"}
        self.assertLessEqual(REQUIRED, set(alerts))
        anchors = runbook_anchors()
        for r in rules:
            with self.subTest(rule=r["name"]):
                # evaluated against real series without error (e.g. no many-to-many matching)
                self.assertEqual(r["health"], "ok", r.get("lastError"))
        for name, r in alerts.items():
            with self.subTest(alert=name):
                self.assertIn(r["labels"].get("severity"), ("critical", "warning"))
                ann = r["annotations"]
                self.assertTrue(ann.get("summary"))
                self.assertIn("$labels.instance", ann.get("description", ""))
                if not name.startswith("SQLiteAgent"):  # per-database alerts
                    self.assertIn("{{ $labels.db }}", ann["description"])
                    self.assertIn("{{ $labels.path }}", ann["description"])
                url = ann.get("runbook_url", "")
                self.assertTrue(url.startswith(RUNBOOK_BASE), url)
                anchor = url[len(RUNBOOK_BASE):]
                self.assertEqual(anchor, github_anchor(name))
                self.assertIn(anchor, anchors, "no such section in docs/runbook.md")

    def test_runbook_internal_links_resolve(self):
        anchors = runbook_anchors()
        for doc, pattern in ((RUNBOOK, r"\]\(#([\w-]+)\)"),
                             (os.path.join(H.REPO, "docs", "alerting.md"),
                              r"runbook\.md#([\w-]+)")):
            with open(doc) as f:
                links = set(re.findall(pattern, f.read()))
            self.assertTrue(links, doc)
            for a in sorted(links):
                with self.subTest(doc=os.path.basename(doc), anchor=a):
                    self.assertIn(a, anchors)

    def test_damaged_database_alert_reaches_receiver(self):
        """By both paths: Prometheus rules -> Alertmanager, and the agent's own push."""
        self.wait_evaluated()
        # Before the damage: both databases scraped, healthy, and nothing firing.
        up = {r["metric"]["db"]: r["value"][1] for r in
              self.prom.result('sqlite_database_malformed{job="sqlite-agent"}')}
        self.assertEqual(up, {"healthy": "0", "victim": "0"})
        self.assertEqual([a for a in self.prom_alerts() if a["state"] == "firing"], [])
        self.assertEqual(self.receiver.alerts(), [])
        with open(self.victim, "rb") as f:
            pristine = f.read()

        F.damage_in_place(self.victim)

        def arrived(source):
            def probe():
                return [a for a in self.receiver.alerts()
                        if a["labels"].get("alertname") == "SQLiteDatabaseMalformed"
                        and a["status"] == "firing"
                        and ("job" in a["labels"]) == (source == "rules")]
            return probe
        got = H.wait_for(arrived("rules"), ALERT_TIMEOUT, interval=0.1,
                         what="SQLiteDatabaseMalformed at the webhook, through the rules")
        a = got[0]
        self.assertEqual(a["labels"], {
            "alertname": "SQLiteDatabaseMalformed", "severity": "critical",
            "job": "sqlite-agent", "instance": self.instance, "db": "victim",
            "path": self.victim})
        self.assertEqual(a["annotations"]["runbook_url"],
                         RUNBOOK_BASE + "sqlitedatabasemalformed")
        self.assertIn("database victim (%s) on %s" % (self.victim, self.instance),
                      a["annotations"]["description"])

        pushed = H.wait_for(arrived("agent"), ALERT_TIMEOUT, interval=0.1,
                            what="SQLiteDatabaseMalformed at the webhook, pushed by the agent")
        p = pushed[0]
        self.assertEqual(p["labels"]["source"], "sqlite-agent")
        self.assertEqual(p["labels"]["db"], "victim")
        self.assertEqual(p["labels"]["path"], self.victim)
        self.assertEqual(p["labels"]["severity"], "critical")
        self.assertTrue(p["labels"]["instance"].endswith(":%d" % self.agent.port))
        self.assertEqual(p["annotations"]["runbook_url"],
                         RUNBOOK_BASE + "sqlitedatabasemalformed")
        self.assertTrue(p["generatorURL"].startswith("http://"))

        # Nothing else, and nothing at all about the healthy database, for a while.
        time.sleep(QUIET_PERIOD)
        received = {(x["labels"]["alertname"], x["labels"].get("db"), x["status"])
                    for x in self.receiver.alerts()}
        self.assertEqual(received, {("SQLiteDatabaseMalformed", "victim", "firing")})
        firing = [(x["labels"]["alertname"], x["labels"].get("db"))
                  for x in self.prom_alerts() if x["state"] == "firing"]
        self.assertEqual(firing, [("SQLiteDatabaseMalformed", "victim")])
        self.assertEqual([x for x in self.prom_alerts() if x["labels"].get("db") == "healthy"],
                         [])
        s = self.agent.scrape()
        self.assertEqual(H.value(s, "sqlite_database_malformed", db="healthy"), 0)
        self.assertEqual(H.value(s, "sqlite_database_malformed", db="victim"), 1)
        self.assertGreater(H.value(s, "sqlite_agent_alertmanager_posts_total",
                                   result="success"), 0)
        self.assertEqual(H.value(s, "sqlite_agent_alertmanager_posts_total",
                                 result="failure"), 0)

        # Repaired (the pristine bytes back): the agent resolves its alert itself.
        with open(self.victim, "r+b") as f:
            f.write(pristine)
        def resolved():
            return [x for x in self.receiver.alerts()
                    if x["labels"].get("source") == "sqlite-agent"
                    and x["labels"]["db"] == "victim" and x["status"] == "resolved"]
        H.wait_for(resolved, ALERT_TIMEOUT, interval=0.1,
                   what="the agent's alert resolved at the webhook")


class AgentPushFailureTest(unittest.TestCase):
    """An Alertmanager that is not there: the failure is logged and counted, and sampling,
    checks and scrapes go on."""

    def test_unreachable_alertmanager(self):
        d = tempfile.mkdtemp(prefix="alertpush-")
        self.addCleanup(shutil.rmtree, d, True)
        victim = F.make_healthy(d, "victim.db")
        F.damage_in_place(victim)  # so there is something to post
        dead = H.free_port()       # nothing listens here
        a = H.Agent([{"name": "victim", "path": victim, "check": "quick"}],
                    {"check_interval": "1s"})
        with open(a.config_path, "a") as f:
            f.write("\n[alertmanager]\nurls = http://127.0.0.1:%d\nresend_interval = 1s\n"
                    "timeout = 500ms\n" % dead)
        with a:
            s = a.wait_value("sqlite_agent_alertmanager_posts_total", {"result": "failure"},
                             lambda v: v is not None and v >= 2, 15)
            self.assertEqual(H.value(s, "sqlite_agent_alertmanager_posts_total",
                                     result="success"), 0)
            self.assertEqual(H.value(s, "sqlite_database_malformed", db="victim"), 1)
            passes = H.value(s, "sqlite_agent_sample_passes_total")
            runs = H.value(s, "sqlite_check_runs_total", db="victim", result="malformed")
            H.wait_for(lambda: H.value(a.scrape(), "sqlite_agent_sample_passes_total")
                       > passes + 3, 10, what="sampling goes on")
            H.wait_for(lambda: H.value(a.scrape(), "sqlite_check_runs_total", db="victim",
                                       result="malformed") > runs, 10, what="checks go on")
            self.assertIn("cannot post alerts to Alertmanager", a.stderr())
            a.stop()


if __name__ == "__main__":
    unittest.main()
