"""Command line: --version, --help, unknown options, --check-config, --once exit codes."""

import os
import re
import shutil
import sqlite3
import tempfile
import unittest

import fixtures as F
import harness as H


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cli-")
        cls.healthy = F.make_healthy(cls.dir, "healthy.db")
        cls.healthy_wal = F.make_healthy_wal_live(cls.dir, "healthy-wal.db")
        cls.malformed = F.make_zeroed_leaf(cls.dir, "zeroed.db")
        cls.truncated = F.make_truncated(cls.dir, "truncated.db", wal=True)
        cls.missing = os.path.join(cls.dir, "missing.db")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def config(self, name, dbs):
        return self.write(name, H.config_text(
            [dict(name=n, path=p, check=c) for n, p, c in dbs],
            {"listen": "127.0.0.1:%d" % H.free_port(), "check_timeout": "30s"}))

    def test_version(self):
        p = H.run_agent("--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(),
                         r"^sqlite-agent \S+ \(SQLite %s\)$" % re.escape(sqlite3.sqlite_version))

    def test_help(self):
        p = H.run_agent("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout + p.stderr
        for opt in ("--config", "--check-config", "--once", "--version"):
            self.assertIn(opt, text)

    def test_unknown_option(self):
        for args in (["--bogus"], ["-Z"], ["-c", self.config("u.ini", []), "--frobnicate"]):
            with self.subTest(args=args):
                p = H.run_agent(*args, timeout=10)
                self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
                self.assertTrue(p.stderr.strip(), "a usage error must say something on stderr")

    def test_check_config_good(self):
        cfg = self.config("good.ini", [("a", self.healthy, "quick"),
                                       ("b", self.missing, "integrity"),
                                       ("c", self.healthy_wal, "off")])
        p = H.run_agent("-c", cfg, "--check-config", timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_config_bad_names_file_line_key(self):
        cfg = self.write("bad.ini", "\n".join([
            "[agent]",                              # 1
            "listen = 127.0.0.1:%d" % H.free_port(),  # 2
            "sample_interval = banana",             # 3
            "check_workers = 1",                    # 4
            "",                                     # 5
            "[database:a]",                         # 6
            "path = %s" % self.healthy,             # 7
            "check = sometimes",                    # 8
            "check_timeout = -5s",                  # 9
        ]) + "\n")
        p = H.run_agent("-c", cfg, "--check-config", timeout=10)
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        # every problem, each as FILE:LINE: KEY: reason
        for line, key in ((3, "sample_interval"), (8, "check"), (9, "check_timeout")):
            self.assertRegex(p.stderr, r"(?m)^%s:%d: %s: \S" % (re.escape(cfg), line, key))

    def test_check_config_missing_path(self):
        cfg = self.write("nopath.ini", "[agent]\nlisten = 127.0.0.1:%d\n\n[database:a]\n"
                         "check = quick\n" % H.free_port())
        p = H.run_agent("-c", cfg, "--check-config", timeout=10)
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        # the key is missing, so no line names it: FILE:LINE: path: ... or the section's line
        # with the section as the key, the reason naming "path"
        self.assertRegex(p.stderr, r"(?m)^%s:\d+: (path: \S|\[database:a\]: .*\bpath\b)"
                         % re.escape(cfg))

    def test_check_config_unreadable_file(self):
        p = H.run_agent("-c", os.path.join(self.dir, "no-such.ini"), "--check-config",
                        timeout=10)
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        self.assertIn("no-such.ini", p.stderr)

    def run_once(self, cfg):
        p = H.run_agent("-c", cfg, "--once", timeout=60)
        return p

    def test_once_exit_codes(self):
        cases = [
            # (dbs, expected exit code, {db: expected sqlite_database_malformed})
            ([("h", self.healthy, "quick")], 0, {"h": 0}),
            ([("h", self.healthy, "integrity"), ("w", self.healthy_wal, "integrity")], 0,
             {"h": 0, "w": 0}),
            ([("h", self.healthy, "off")], 0, {"h": 0}),
            ([("h", self.healthy, "quick"), ("z", self.malformed, "quick")], 1,
             {"h": 0, "z": 1}),
            ([("t", self.truncated, "integrity")], 1, {"t": 1}),
            ([("m", self.missing, "quick")], 3, {"m": 0}),
            ([("h", self.healthy, "quick"), ("m", self.missing, "quick")], 3, {"h": 0, "m": 0}),
            ([("z", self.malformed, "quick"), ("m", self.missing, "quick")], 1,
             {"z": 1, "m": 0}),
        ]
        for i, (dbs, code, malformed) in enumerate(cases):
            with self.subTest(dbs=[d[0] + ":" + d[2] for d in dbs]):
                cfg = self.config("once%d.ini" % i, dbs)
                p = self.run_once(cfg)
                self.assertEqual(p.returncode, code, p.stderr)
                s = H.parse_exposition(p.stdout)
                for db, want in malformed.items():
                    self.assertEqual(H.value(s, "sqlite_database_malformed", db=db), want)
                ok, out = H.promtool_check(p.stdout)
                self.assertTrue(ok, out)
                self.assertEqual(out, "")
        self.assertFalse(os.path.exists(self.missing), "--once created the missing database")

    def test_once_reports_check_results(self):
        cfg = self.config("once-results.ini", [("h", self.healthy, "integrity"),
                                               ("z", self.malformed, "quick"),
                                               ("m", self.missing, "quick")])
        p = self.run_once(cfg)
        self.assertEqual(p.returncode, 1, p.stderr)
        s = H.parse_exposition(p.stdout)
        runs = "sqlite_check_runs_total"
        self.assertEqual(H.value(s, runs, db="h", check="integrity", result="ok"), 1)
        self.assertEqual(H.value(s, runs, db="z", check="quick", result="malformed"), 1)
        self.assertEqual(H.value(s, runs, db="z", check="quick", result="ok"), 0)
        self.assertEqual(H.value(s, "sqlite_up", db="h"), 1)
        self.assertEqual(H.value(s, "sqlite_up", db="m"), 0)
        self.assertEqual(H.value(s, runs, db="m", check="quick", result="malformed"), 0)
        self.assertEqual(H.value(s, "sqlite_agent_databases"), 3)
        self.assertIn("sqlite_agent_build_info", p.stdout)

    def test_once_bad_config(self):
        cfg = self.write("once-bad.ini", "[agent]\nsample_interval = x\n")
        p = self.run_once(cfg)
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        self.assertIn("sample_interval", p.stderr)


if __name__ == "__main__":
    unittest.main()
