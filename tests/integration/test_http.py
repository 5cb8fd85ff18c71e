"""HTTP surface: headers, gzip, routes, exposition validity, label escaping, SIGHUP reload."""

import gzip
import os
import re
import shutil
import tempfile
import unittest

import fixtures as F
import harness as H

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Metrics whose value may differ between two scrapes a moment apart.
VOLATILE = {
    "sqlite_agent_scrapes_total", "sqlite_agent_metrics_render_duration_seconds",
    "sqlite_agent_sample_pass_duration_seconds", "sqlite_agent_sample_passes_total",
    "sqlite_last_sample_timestamp_seconds", "sqlite_sample_age_seconds",
    "sqlite_check_duration_seconds", "sqlite_check_last_success_timestamp_seconds",
    "sqlite_check_runs_total", "sqlite_check_running",
}


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="http-")
        cls.healthy = F.make_healthy(cls.dir, "healthy.db")
        cls.healthy_wal = F.make_healthy_wal_live(cls.dir, "healthy-wal.db")
        cls.malformed = F.make_zeroed_leaf(cls.dir, "zeroed.db")
        cls.missing = os.path.join(cls.dir, "missing.db")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def dbs(self, *names):
        all_ = {"healthy": (self.healthy, "quick"), "wal": (self.healthy_wal, "integrity"),
                "zeroed": (self.malformed, "quick"), "missing": (self.missing, "quick")}
        return [dict(name=n, path=all_[n][0], check=all_[n][1]) for n in names]

    def test_metrics_headers_and_gzip(self):
        with H.Agent(self.dbs("healthy", "wal")) as a:
            a.wait_value("sqlite_check_runs_total", dict(db="wal", result="ok"),
                         lambda v: v and v >= 1, 10)
            status, hdrs, plain = a.get("/metrics")
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("content-type"), CONTENT_TYPE)
            self.assertIn(hdrs.get("content-encoding", "identity"), ("identity",))
            self.assertFalse(plain.startswith(b"\x1f\x8b"), "gzipped without Accept-Encoding")

            status, hdrs, zipped = a.get("/metrics", headers={"Accept-Encoding": "gzip"})
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("content-type"), CONTENT_TYPE)
            self.assertEqual(hdrs.get("content-encoding"), "gzip")
            self.assertTrue(zipped.startswith(b"\x1f\x8b"))
            unzipped = gzip.decompress(zipped).decode("utf-8")
            plain = plain.decode("utf-8")

            # Same text but for values that move between two scrapes.
            self.assertEqual([l for l in unzipped.splitlines() if l.startswith("#")],
                             [l for l in plain.splitlines() if l.startswith("#")])
            ps, zs = H.parse_exposition(plain), H.parse_exposition(unzipped)
            self.assertEqual(set(ps), set(zs))
            for key in ps:
                if key[0] not in VOLATILE:
                    self.assertEqual(ps[key], zs[key], key)

            # Also with several encodings offered, and HEAD.
            status, hdrs, _ = a.get("/metrics", headers={"Accept-Encoding": "gzip, deflate"})
            self.assertEqual((status, hdrs.get("content-encoding")), (200, "gzip"))
            status, hdrs, body = a.get("/metrics", method="HEAD")
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("content-type"), CONTENT_TYPE)
            self.assertEqual(body, b"")

    def test_routes(self):
        with H.Agent(self.dbs("healthy")) as a:
            status, hdrs, body = a.get("/")
            self.assertEqual(status, 200)
            self.assertTrue(hdrs.get("content-type", "").startswith("text/html"), hdrs)
            # links may be relative ("metrics" from "/" is /metrics)
            for target in ("metrics", "healthz"):
                self.assertRegex(body.decode("utf-8"), r"href=[\"']?/?%s[\"' >]" % target)

            status, _, body = a.get("/healthz")
            self.assertEqual((status, body.strip()), (200, b"ok"))

            for path in ("/nope", "/metricsx", "/metrics/x", "/healthz/", "/index.html"):
                with self.subTest(path=path):
                    self.assertEqual(a.get(path)[0], 404)
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                for path in ("/metrics", "/", "/healthz"):
                    with self.subTest(method=method, path=path):
                        self.assertEqual(a.get(path, method=method)[0], 405)
            # still serving after all that
            self.assertEqual(a.get("/healthz")[0], 200)

    def test_promtool_clean_on_live_scrape(self):
        with H.Agent(self.dbs("healthy", "wal", "zeroed", "missing")) as a:
            a.wait_value("sqlite_database_malformed", dict(db="zeroed"), lambda v: v == 1, 10)
            a.wait_value("sqlite_check_runs_total", dict(db="wal", result="ok"),
                         lambda v: v and v >= 1, 10)
            text = a.scrape_text()
            ok, out = H.promtool_check(text)
            self.assertTrue(ok, out)
            self.assertEqual(out, "")
            # every metric family has HELP and TYPE
            s = H.parse_exposition(text)
            for name in {n for n, _ in s}:
                family = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertRegex(text, r"(?m)^# TYPE (%s|%s) " % (name, family))

    def test_label_escaping_of_path(self):
        d = tempfile.mkdtemp(prefix="http-esc-")
        self.addCleanup(shutil.rmtree, d, True)
        weird_dir = os.path.join(d, 'we"ird \\dir')
        os.mkdir(weird_dir)
        path = F.make_healthy(weird_dir, 'my "db" \\ x.sqlite3')
        with H.Agent([dict(name="weird", path=path, check="quick")]) as a:
            s = a.wait_value("sqlite_check_runs_total", dict(db="weird", result="ok"),
                             lambda v: v and v >= 1, 10)
            # The path is on the info series only (issue 10); the per-database series carry db.
            self.assertEqual(H.value(s, "sqlite_database_info", db="weird", path=path), 1)
            self.assertEqual(H.value(s, "sqlite_up", db="weird"), 1)
            self.assertEqual(H.value(s, "sqlite_database_malformed", db="weird"), 0)
            text = a.scrape_text()
            escaped = path.replace("\\", "\\\\").replace('"', '\\"')
            self.assertIn('path="%s"' % escaped, text)
            ok, out = H.promtool_check(text)
            self.assertTrue(ok, out)

    def test_reload_removes_database(self):
        with H.Agent(self.dbs("healthy", "wal")) as a:
            a.wait_value("sqlite_up", dict(db="wal"), lambda v: v == 1, 10)
            before = a.scrape()
            self.assertEqual(H.value(before, "sqlite_agent_databases"), 2)
            ok_before = H.value(before, "sqlite_agent_config_reloads_total", result="success") or 0
            a.reload(self.dbs("healthy"))

            # The reload counter is bumped a moment after the new databases are in place (a
            # scrape can fall in between, seen under ThreadSanitizer): wait for both.
            def gone():
                s = a.scrape()
                left = [k for k in s if ("db", "wal") in k[1]]
                done = H.value(s, "sqlite_agent_config_reloads_total", result="success")
                return s if not left and done == ok_before + 1 else None

            s = H.wait_for(gone, 5, what="series of db=wal to vanish and the reload counted")
            self.assertEqual(H.value(s, "sqlite_agent_databases"), 1)
            self.assertEqual(H.value(s, "sqlite_agent_config_last_reload_successful"), 1)
            self.assertEqual(H.value(s, "sqlite_agent_config_reloads_total", result="success"),
                             ok_before + 1)
            self.assertEqual(H.value(s, "sqlite_up", db="healthy"), 1)
            a.stop()

    def test_invalid_reload_keeps_old_config(self):
        with H.Agent(self.dbs("healthy", "wal")) as a:
            a.wait_value("sqlite_up", dict(db="wal"), lambda v: v == 1, 10)
            with open(a.config_path) as f:
                good = f.read()
            a.reload(text=good.replace("[agent]", "[agent]\ncheck_interval = banana", 1))
            s = a.wait_value("sqlite_agent_config_last_reload_successful", {},
                             lambda v: v == 0, 5)
            self.assertGreaterEqual(
                H.value(s, "sqlite_agent_config_reloads_total", result="failure"), 1)
            self.assertEqual(H.value(s, "sqlite_agent_databases"), 2)
            self.assertEqual(H.value(s, "sqlite_up", db="wal"), 1)
            self.assertEqual(a.get("/healthz")[0], 200)
            self.assertRegex(a.stderr(), r"(?m)^.*level=error\b")
            # still working on the old config: checks keep running
            runs = H.value(s, "sqlite_check_runs_total", db="healthy", result="ok") or 0
            a.wait_value("sqlite_check_runs_total", dict(db="healthy", result="ok"),
                         lambda v: v is not None and v > runs, 5)
            # and a good config afterwards is taken again
            a.reload(text=good)
            a.wait_value("sqlite_agent_config_last_reload_successful", {}, lambda v: v == 1, 5)
            a.stop()


if __name__ == "__main__":
    unittest.main()
