"""The Grafana dashboard: its JSON is importable and provisionable, and every query works.

Static part (no servers): the structure Grafana needs for both UI import and file provisioning
(a `datasource` variable used by every panel and target, no __inputs, a fixed uid...).

Live part: a real Prometheus (Debian's /usr/bin/prometheus, env PROMETHEUS) scrapes a real agent
every second as job="sqlite-agent"; every panel query and every variable query, with the
template variables filled in, must be valid PromQL and return data.

PromServer and Process are also used by test_alerting.py.
"""

import atexit
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness as H

DASHBOARD = os.path.join(H.REPO, "dashboards", "sqlite-agent.dashboard.json")
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
READY_TIMEOUT = 20.0

# Grafana's built-in interval variables, as a 1s-scrape test sets them.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "__range_s": "300",
            "__interval_ms": "15000", "__range_ms": "300000"}


# ---------------------------------------------------------------------------------------------
# Helpers shared with test_alerting.py

_live = set()


@atexit.register
def _kill_live():
    for p in list(_live):
        p.close()


def http_json(url, data=None, timeout=5):
    """GET (or POST form data) url and decode JSON: (status, body). HTTP errors are returned,
    not raised, so an API error reaches the assertion with its message."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        raw = e.read().decode("utf-8", "replace")
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"error": raw}


def http_ok(url, timeout=1):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


class Process:
    """A server process in its own temp dir, stdout/stderr to a log there. close() kills it
    and removes the dir; it also runs at interpreter exit. A context manager."""

    name = "process"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sqlite-agent-%s-" % self.name)
        self.port = H.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.dir, "%s.log" % self.name)
        self.proc = None
        self._closed = False

    def command(self):
        raise NotImplementedError

    def ready_path(self):
        return "/-/ready"

    def start(self):
        """Starts the process and waits for its readiness endpoint. On any failure the process
        is killed and its dir removed before the exception propagates."""
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self):
        cmd = self.command()
        if not os.access(cmd[0], os.X_OK):
            raise unittest.SkipTest("%s not installed: %s" % (self.name, cmd[0]))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.dir)
        _live.add(self)
        deadline = time.monotonic() + READY_TIMEOUT
        while not http_ok(self.url + self.ready_path()):
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d at start:\n%s"
                                     % (self.name, self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("%s not ready after %.0fs:\n%s"
                                     % (self.name, READY_TIMEOUT, self.log()))
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def close(self):
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not H.KEEP_TMP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            sys.stderr.write("\n--- %s log (%s) ---\n%s\n---\n"
                             % (self.name, self.log_path, self.log()))
        self.close()
        return False


class PromServer(Process):
    """Prometheus scraping `targets` every second as job="sqlite-agent", evaluating
    `rule_files` every second and sending alerts to `alertmanager` (host:port), if given."""

    name = "prometheus"

    def __init__(self, targets, rule_files=(), alertmanager=None):
        super().__init__()
        cfg = ["global:",
               "  scrape_interval: 1s",
               "  scrape_timeout: 1s",
               "  evaluation_interval: 1s"]
        if rule_files:
            cfg.append("rule_files:")
            cfg += ["  - %s" % json.dumps(os.path.abspath(f)) for f in rule_files]
        if alertmanager:
            cfg += ["alerting:",
                    "  alertmanagers:",
                    "    - static_configs:",
                    "        - targets: [%s]" % json.dumps(alertmanager)]
        cfg += ["scrape_configs:",
                "  - job_name: sqlite-agent",
                "    static_configs:",
                "      - targets: [%s]" % ", ".join(json.dumps(t) for t in targets)]
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write("\n".join(cfg) + "\n")

    def command(self):
        return [PROMETHEUS, "--config.file=%s" % self.config_path,
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--storage.tsdb.path=%s" % os.path.join(self.dir, "data"),
                "--log.level=warn"]

    def query(self, expr):
        """(status, body) of an instant query, sent as POST so no expression is too long."""
        return http_json(self.url + "/api/v1/query", {"query": expr})

    def result(self, expr):
        status, body = self.query(expr)
        if status != 200 or body.get("status") != "success":
            raise AssertionError("query %r: HTTP %d %r" % (expr, status, body))
        return body["data"]["result"]

    def wait_scrapes(self, n, timeout=20):
        """Waits until every target was scraped successfully at least n times in the last
        minute (so rate() over 1m has points)."""
        expr = 'min(count_over_time(up{job="sqlite-agent"}[1m]) and up{job="sqlite-agent"} == 1)'

        def enough():
            r = self.result(expr)
            return r and float(r[0]["value"][1]) >= n
        H.wait_for(enough, timeout, interval=0.2, what="%d scrapes of the agent" % n)


# ---------------------------------------------------------------------------------------------
# Dashboard walking

def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(dash):
    """Every panel, including those nested in collapsed rows."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def queries(dash):
    """[(panel title, refId, expr)] for every target of every panel."""
    return [(p.get("title"), t.get("refId"), t.get("expr"))
            for p in all_panels(dash) for t in p.get("targets", [])]


_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr, values):
    """Grafana's $var, ${var}, ${var:fmt} and [[var]] forms replaced from values; raises
    KeyError naming an unknown variable, so a typo cannot pass unnoticed."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return values[name]
    return _VAR.sub(repl, expr)


# ---------------------------------------------------------------------------------------------

class DashboardStaticTest(unittest.TestCase):
    """What Grafana needs to import the file in the UI and to provision it from disk."""

    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD) as f:
            cls.raw = f.read()
        cls.dash = json.loads(cls.raw)
        cls.vars = {v["name"]: v for v in cls.dash["templating"]["list"]}

    def test_identity(self):
        self.assertEqual(self.dash.get("uid"), "sqlite-agent")
        self.assertTrue(self.dash.get("title"))
        self.assertIn(self.dash.get("schemaVersion"), range(36, 40))
        # Provisioning rejects/ignores a dashboard "id"; an import must not carry one either.
        self.assertIsNone(self.dash.get("id"))

    def test_no_import_placeholders(self):
        # __inputs / ${DS_...} only work through the UI import dialog, never when provisioned.
        self.assertNotIn("__inputs", self.dash)
        self.assertNotIn("__requires", self.dash)
        self.assertNotRegex(self.raw, r"\$\{?DS_")

    def test_datasource_variable(self):
        v = self.vars.get("datasource")
        self.assertIsNotNone(v, "no datasource variable")
        self.assertEqual(v["type"], "datasource")
        self.assertEqual(v["query"], "prometheus")

    def test_query_variables(self):
        for name, metric_re in (("job", r"label_values\(\w+, job\)"),
                                ("instance", r"label_values\(\w+\{job=~\"\$job\"\}, instance\)"),
                                ("db", r"label_values\(\w+\{.*\}, db\)")):
            with self.subTest(var=name):
                v = self.vars.get(name)
                self.assertIsNotNone(v)
                self.assertEqual(v["type"], "query")
                self.assertEqual(v["datasource"], {"type": "prometheus", "uid": "${datasource}"})
                self.assertRegex(v["query"], metric_re)
                self.assertEqual(v.get("definition"), v["query"])

    def test_every_panel_and_target_uses_the_variable(self):
        want = {"type": "prometheus", "uid": "${datasource}"}
        panels = all_panels(self.dash)
        for p in panels:
            if p.get("type") == "row":
                continue
            with self.subTest(panel=p.get("title")):
                self.assertEqual(p.get("datasource"), want)
                self.assertTrue(p.get("targets"), "panel without queries")
                for t in p["targets"]:
                    self.assertEqual(t.get("datasource"), want, t.get("refId"))
                    self.assertTrue(t.get("expr"), t.get("refId"))
                    # every query is filtered by the dashboard's variables
                    self.assertIn('job=~"$job"', t["expr"])
                    self.assertIn('instance=~"$instance"', t["expr"])

    def test_panels(self):
        panels = [p for p in all_panels(self.dash) if p.get("type") != "row"]
        self.assertGreaterEqual(len(panels), 8)
        ids = [p["id"] for p in all_panels(self.dash)]
        self.assertEqual(len(ids), len(set(ids)), "duplicate panel ids")
        for p in panels:
            with self.subTest(panel=p.get("title")):
                g = p["gridPos"]
                self.assertTrue(0 <= g["x"] and g["x"] + g["w"] <= 24, g)
                self.assertGreater(g["h"], 0)
                refs = [t["refId"] for t in p["targets"]]
                self.assertEqual(len(refs), len(set(refs)), "duplicate refIds")
        # The panels the dashboard promises, by the metric each one must query.
        exprs = " ".join(e for _, _, e in queries(self.dash))
        for metric in ("sqlite_database_malformed", "sqlite_up",
                       "sqlite_check_last_success_timestamp_seconds",
                       "sqlite_last_writer_version_number", "sqlite_wal_size_bytes",
                       "sqlite_wal_checkpoint_lag_frames", "sqlite_check_duration_seconds",
                       "sqlite_check_runs_total", "sqlite_database_size_bytes",
                       "sqlite_freelist_pages", "sqlite_sample_age_seconds",
                       "sqlite_agent_sample_pass_duration_seconds",
                       "sqlite_agent_metrics_render_duration_seconds",
                       "sqlite_agent_scrapes_total",
                       "sqlite_agent_config_last_reload_successful"):
            with self.subTest(metric=metric):
                self.assertRegex(exprs, r"\b%s\{" % metric)

    def test_substitute_rejects_unknown_variables(self):
        self.assertEqual(substitute('x{a=~"$job"}[$__rate_interval]', dict(
            BUILTINS, job="j")), 'x{a=~"j"}[1m]')
        with self.assertRaises(KeyError):
            substitute('x{a=~"$jbo"}', {"job": "j"})


class DashboardLiveTest(unittest.TestCase):
    """Every query against a real Prometheus scraping a real agent with a live WAL database."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dashboard-")
        cls.db = os.path.join(cls.dir, "orders.db")
        # A writer that stays connected keeps -wal and -shm in place (SQLite removes them when
        # the last connection closes), so the WAL and wal-index series exist.
        cls.writer = sqlite3.connect(cls.db, isolation_level=None)
        cls.writer.execute("PRAGMA journal_mode=WAL")
        cls.writer.execute("PRAGMA wal_autocheckpoint=0")
        cls.writer.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        for i in range(20):
            cls.writer.execute("INSERT INTO t(v) VALUES (?)", ("x" * 500 * i,))
        cls.writer.execute("DELETE FROM t WHERE id % 2 = 0")  # something on the freelist
        cls.agent = cls.prom = None
        try:
            cls.agent = H.Agent([{"name": "orders", "path": cls.db, "check": "quick"}])
            cls.agent.start()
            cls.instance = "127.0.0.1:%d" % cls.agent.port
            cls.prom = PromServer([cls.instance]).start()
            cls.prom.wait_scrapes(5)
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _cleanup(cls):
        for thing in (cls.prom, cls.agent):
            if thing is not None:
                thing.close()
        cls.writer.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.stop()  # exit 0 on SIGTERM (and, in a sanitizer build, no report)
        finally:
            cls._cleanup()

    def values(self):
        return dict(BUILTINS, job="sqlite-agent", instance=self.instance, db="orders",
                    datasource="prometheus")

    def test_every_panel_query_returns_data(self):
        dash = load_dashboard()
        for title, ref, expr in queries(dash):
            with self.subTest(panel=title, refId=ref):
                q = substitute(expr, self.values())
                status, body = self.prom.query(q)
                self.assertEqual((status, body.get("status")), (200, "success"),
                                 "%s\n%r" % (q, body))
                self.assertTrue(body["data"]["result"], "no data for %s" % q)

    def test_multi_value_variables(self):
        # With "All" selected Grafana substitutes allValue (.*); several values become (a|b).
        dash = load_dashboard()
        for title, ref, expr in queries(dash):
            with self.subTest(panel=title, refId=ref):
                q = substitute(expr, dict(self.values(), instance=".*",
                                          db="(orders|nonexistent)"))
                self.assertTrue(self.prom.result(q), "no data for %s" % q)

    def test_variable_queries(self):
        # label_values(selector, label), as Grafana runs it: the label's values over the
        # series that match the selector.
        dash = load_dashboard()
        expect = {"job": "sqlite-agent", "instance": self.instance, "db": "orders"}
        for v in dash["templating"]["list"]:
            if v["type"] != "query":
                continue
            with self.subTest(var=v["name"]):
                m = re.fullmatch(r"label_values\((.+), (\w+)\)", v["query"])
                self.assertIsNotNone(m, v["query"])
                selector = substitute(m.group(1), self.values())
                status, body = http_json(
                    self.prom.url + "/api/v1/label/%s/values?%s"
                    % (m.group(2), urllib.parse.urlencode({"match[]": selector})))
                self.assertEqual(status, 200, body)
                self.assertIn(expect[v["name"]], body["data"])


if __name__ == "__main__":
    unittest.main()
