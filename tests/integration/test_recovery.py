"""From alert to recovery (issue 13), on real damage of every kind.

One agent watches a database damaged in each way below, with evidence_dir set; a real
Prometheus evaluates dashboards/sqlite-agent.rules.yml and sends to a real Alertmanager, and the
agent posts its own alerts there too. For every database:
  - sqlite_check_problems names the expected worst kind, and the info series the first row;
  - an evidence copy appears, its manifest's sha256 matches it, and its own integrity_check
    shows the same damage as the live file;
  - the runbook's recovery for that kind, run on the copy (docs/runbook.md, "Kinds"), gives
    what the runbook says: REINDEX makes index damage "ok" with every row; .recover through
    tools/sqlite-agent-recover (Debian 12's sqlite3 plus the sqlite_dbpage extension) gives
    back every row of a reference copy of the table except those on the destroyed page; a
    constraint violation is fixed with SQL, and .recover is shown to drop the row.
The alert's annotations (kinds, first_problem, advice, evidence_copy, runbook_kind_url) are
checked at Prometheus, at the webhook behind Alertmanager, and in Alertmanager for the push.

A second test copies a database while a writer keeps committing, in WAL mode (a commit every
2 ms) and in rollback mode (every 20 ms: a rollback-mode check steps aside for every waiting
writer, so with commits back to back no check completes and nothing is found to copy): the copy
opens, shows the same damage, recovers, and the writer saw no error.

Damage is byte surgery on closed files (fixtures.py) or writable_schema edits made with
Python's sqlite3, the only ways to make each kind on demand.

Binaries: SQLITE_AGENT_BIN (harness.py), SQLITE_DBPAGE_EXT (default: sqlite_dbpage next to the
agent binary), PROMETHEUS, ALERTMANAGER (test_alerting.py).
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import fixtures as F
import harness as H
from test_alerting import (RULES, RUNBOOK_BASE, AlertmanagerServer, Receiver,
                           runbook_anchors)
from test_dashboard import PromServer, http_json

EXT = os.environ.get("SQLITE_DBPAGE_EXT",
                     os.path.join(os.path.dirname(os.path.abspath(H.BIN)), "sqlite_dbpage"))
RECOVER = os.path.join(H.REPO, "tools", "sqlite-agent-recover")
TIMEOUT = 30.0


# ---------------------------------------------------------------------------------------------
# Damage not in fixtures.py

def make_index_page(directory, name="index-page.db"):
    """One key byte changed on a leaf page of index t_v (found by walking t_v's tree): the
    table is intact, the index holds a key no row has."""
    path = F.make_healthy(directory, name)
    root = F._rootpage(path, "t_v")

    def damage(data):
        psize = F._page_size(data)
        for pgno, ptype in F.walk_tree(data, root):
            if ptype == F.PAGE_LEAF_INDEX:
                at = data.find(b"MARK", (pgno - 1) * psize, pgno * psize)
                data[at + 4] = ord("9")
                return
        raise RuntimeError("fixture: no leaf page in t_v")

    F._rewrite(path, damage)
    return path


def make_unused_page(directory, name="unused-page.db"):
    """A zero page appended and counted in the header (fileformat2 1.3.7: offset 28), owned by
    no b-tree and not on the freelist: "Page N is never used"."""
    path = F.make_healthy(directory, name)

    def damage(data):
        psize = F._page_size(data)
        data.extend(bytes(psize))
        struct.pack_into(">I", data, 28, len(data) // psize)

    F._rewrite(path, damage)
    return path


def make_freelist_count(directory, name="freelist-count.db"):
    """Half the rows deleted (their pages go to the freelist), then the freelist count in the
    header (fileformat2 1.3.8: offset 36) raised by 3: "Main freelist: size is N but should
    be N+3"."""
    path = os.path.join(directory, name)
    con = F._connect_rw(path, False)
    F._populate(con)
    con.execute("DELETE FROM t WHERE id > 2000")
    con.commit()
    con.close()

    def damage(data):
        n = struct.unpack_from(">I", data, 36)[0]
        struct.pack_into(">I", data, 36, n + 3)

    F._rewrite(path, damage)
    return path


def make_bad_rootpage(directory, name="bad-rootpage.db"):
    """The schema row of index t_v given a root page past the end of the file (writable_schema):
    SQLite cannot load the schema, "malformed database schema (t_v) - invalid rootpage"."""
    path = F.make_healthy(directory, name)
    con = sqlite3.connect(path)
    con.execute("PRAGMA writable_schema=ON")
    con.execute("UPDATE sqlite_schema SET rootpage = 99999 WHERE name = 't_v'")
    con.commit()
    con.close()
    return path


def make_not_null(directory, name="not-null.db"):
    """A row with m NULL, then NOT NULL added to m's declaration (writable_schema): a sound
    file whose data breaks its schema, "NULL value in c.m"."""
    path = os.path.join(directory, name)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE c(id INTEGER PRIMARY KEY, m TEXT)")
    con.executemany("INSERT INTO c VALUES (?, ?)", [(1, None), (2, "two"), (3, "three")])
    con.commit()
    con.execute("PRAGMA writable_schema=ON")
    con.execute("UPDATE sqlite_schema SET sql = "
                "'CREATE TABLE c(id INTEGER PRIMARY KEY, m TEXT NOT NULL)' WHERE name = 'c'")
    con.commit()
    con.close()
    return path


def make_check_violation(directory, name="check.db"):
    """A row written with PRAGMA ignore_check_constraints=1 that breaks the table's CHECK:
    "CHECK constraint failed in k"."""
    path = os.path.join(directory, name)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE k(id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0))")
    con.executemany("INSERT INTO k VALUES (?, ?)", [(1, 5), (2, 7)])
    con.execute("PRAGMA ignore_check_constraints=1")
    con.execute("INSERT INTO k VALUES (3, -5)")
    con.commit()
    con.close()
    return path


# Constraint damage: (table, WHERE finding the rows, the fix, rows in the table)
FIXES = {
    "not_null": ("c", "typeof(m) = 'null'", "UPDATE c SET m = '' WHERE typeof(m) = 'null'", 3),
    "check_violation": ("k", "NOT (n > 0)", "UPDATE k SET n = -n WHERE NOT (n > 0)", 3),
}

# name: (maker, expected worst kind, recovery)
CASES = {
    "index_mismatch": (F.make_index_mismatch, "index", "reindex"),
    "index_page": (make_index_page, "index", "reindex"),
    "zeroed_leaf": (F.make_zeroed_leaf, "btree", "recover"),
    "bad_child": (F.make_bad_child, "btree", "recover"),
    "truncated": (F.make_truncated, "other", "recover"),  # SQLITE_CORRUPT, no rows
    "wal_frame": (F.make_wal_frame_damage, "btree", "recover"),
    "unused_page": (make_unused_page, "page_ownership", "recover"),
    "freelist_count": (make_freelist_count, "page_ownership", "recover"),
    "bad_rootpage": (make_bad_rootpage, "schema", "recover"),
    "garbage_header": (F.make_garbage_header, "other", "recover_fix_header"),
    "not_null": (make_not_null, "constraint", "sql_fix"),
}


def rows(path, table):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return set(con.execute('SELECT * FROM "%s"' % table))
    finally:
        con.close()


def integrity(path):
    """integrity_check rows of path, or the error, through the sqlite3 CLI (which prints the
    rows it got before an error, as the agent counts them)."""
    p = subprocess.run(["sqlite3", "-readonly", path, "PRAGMA integrity_check;"],
                       capture_output=True, text=True, timeout=60)
    return (p.stdout + p.stderr).strip()


def integrity_immutable(path):
    """integrity_check the way the runbook checks an evidence copy: immutable=1, no side
    files."""
    p = subprocess.run(["sqlite3", "file:%s?immutable=1" % path, "PRAGMA integrity_check;"],
                       capture_output=True, text=True, timeout=60)
    return (p.stdout + p.stderr).strip()


def recover(copy, out, fix_header=False):
    env = dict(os.environ, SQLITE_DBPAGE_EXT=EXT)
    cmd = [RECOVER] + (["--fix-header"] if fix_header else []) + [copy, out]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def dump_rows(copy, out, table="t"):
    """Rows of table after the runbook's .dump fallback: the script with its final
    "ROLLBACK; -- due to errors" turned into COMMIT. None when nothing came through."""
    dump = subprocess.run(["sqlite3", "file:%s?immutable=1" % copy, ".dump"],
                          capture_output=True, timeout=120).stdout
    dump = re.sub(rb"ROLLBACK; -- due to errors\n?$", b"COMMIT;\n", dump)
    subprocess.run(["sqlite3", out], input=dump, capture_output=True, timeout=120)
    try:
        return len(rows(out, table))
    except sqlite3.OperationalError:
        return None


def page_cells(path, pgno):
    """Cells on page pgno of a healthy file (fileformat2 1.6: header offset 3)."""
    with open(path, "rb") as f:
        data = f.read()
    psize = F._page_size(data)
    return struct.unpack_from(">H", data, (pgno - 1) * psize + F._page_header_offset(pgno) + 3)[0]


def report(msg):
    """The measured numbers, for the final report and docs/runbook.md."""
    sys.stderr.write("  [measured] %s\n" % msg)


class RecoveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="recovery-")
        cls.evidence = tempfile.mkdtemp(prefix="recovery-evidence-")
        cls.reference = F.make_healthy(tempfile.mkdtemp(prefix="recovery-ref-"), "ref.db")
        cls.paths = {n: maker(cls.dir, name=n + ".db") for n, (maker, _, _) in CASES.items()}
        # The WAL fixture's rows (updated in its -wal): the same deterministic build, undamaged,
        # opened read-write in a directory of its own (the -shm is rebuilt there).
        ref_wal = F.make_healthy_wal_live(os.path.dirname(cls.reference), "ref-wal.db")
        with sqlite3.connect(ref_wal) as con:
            cls.wal_reference = set(con.execute("SELECT * FROM t"))
        cls.receiver = cls.am = cls.agent = cls.prom = None
        try:
            cls.receiver = Receiver()
            cls.am = AlertmanagerServer(cls.receiver.url).start()
            cls.agent = H.Agent([{"name": n, "path": p, "check": "integrity"}
                                 for n, p in cls.paths.items()],
                                {"check_interval": "1s", "evidence_dir": cls.evidence})
            with open(cls.agent.config_path, "a") as f:
                f.write("\n[alertmanager]\nurls = http://127.0.0.1:%d\nresend_interval = 1s\n"
                        % cls.am.port)
            cls.agent.start()
            cls.instance = "127.0.0.1:%d" % cls.agent.port
            cls.prom = PromServer([cls.instance], rule_files=[RULES],
                                  alertmanager="127.0.0.1:%d" % cls.am.port).start()
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _cleanup(cls):
        for thing in (cls.prom, cls.agent, cls.am, cls.receiver):
            if thing is not None:
                thing.close()
        for d in (cls.dir, cls.evidence, os.path.dirname(cls.reference)):
            shutil.rmtree(d, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.stop()
        finally:
            cls._cleanup()

    def copies(self):
        """{db: copy path} once every database has its evidence copy."""
        def all_copied():
            s = self.agent.scrape()
            got = {}
            for labels, v in H.select(s, "sqlite_evidence_copy_info").items():
                d = dict(labels)
                got[d["db"]] = d["copy"]
            return got if set(got) == set(CASES) else None
        return H.wait_for(all_copied, TIMEOUT, interval=0.2, what="an evidence copy of each db")

    # -- the kind series ------------------------------------------------------------------

    def test_kinds_and_first_problem(self):
        def info():
            s = self.agent.scrape()
            got = {dict(l)["db"]: dict(l) for l in H.select(s, "sqlite_check_first_problem_info")}
            return (s, got) if set(got) == set(CASES) else None
        s, got = H.wait_for(info, TIMEOUT, interval=0.2, what="an info series per database")
        for name, (_, kind, _) in CASES.items():
            with self.subTest(db=name):
                self.assertEqual(got[name]["kind"], kind, got[name])
                self.assertTrue(got[name]["row"], got[name])
                self.assertGreaterEqual(H.value(s, "sqlite_check_problems", db=name, kind=kind), 1)
                # the worst kind heads the list
                self.assertEqual(got[name]["kinds"].split(",")[0], kind)
                report("%s: kinds=%s row=%r" % (name, got[name]["kinds"], got[name]["row"]))
        self.assertEqual(got["index_mismatch"]["indexes"], "t_v")
        self.assertEqual(got["index_mismatch"]["row"], "row 123 missing from index t_v")
        self.assertEqual(got["not_null"]["row"], "NULL value in c.m")
        self.assertIn("invalid rootpage", got["bad_rootpage"]["row"])
        ok, out = H.promtool_check(self.agent.scrape_text())
        self.assertTrue(ok, out)

    # -- evidence and the runbook's recovery ----------------------------------------------

    def test_evidence_copy_and_recovery_per_kind(self):
        copies = self.copies()
        s = self.agent.scrape()
        ref_rows = rows(self.reference, "t")
        work = tempfile.mkdtemp(prefix="recovery-work-")
        self.addCleanup(shutil.rmtree, work, True)
        for name, (_, kind, how) in CASES.items():
            with self.subTest(db=name):
                copy = copies[name]
                self.assertEqual(os.path.dirname(copy), self.evidence)
                self.assertEqual(H.value(s, "sqlite_evidence_copies_total", db=name,
                                         result="ok"), 1)
                with open(copy + ".manifest") as f:
                    manifest = json.load(f)
                with open(copy, "rb") as f:
                    self.assertEqual(manifest["sha256"], hashlib.sha256(f.read()).hexdigest())
                self.assertEqual(manifest["db"], name)
                self.assertEqual(manifest["path"], self.paths[name])
                self.assertGreaterEqual(manifest["kinds"][kind], 1)
                # the copy shows the damage the live file shows
                live, mine = integrity(self.paths[name]), integrity_immutable(copy)
                if name == "wal_frame":
                    # the live damage is in a WAL frame; the copy holds that page in place
                    self.assertIn("btreeInitPage() returns error code 11", mine)
                    self.assertIn("btreeInitPage() returns error code 11", live)
                else:
                    self.assertEqual(mine, live)
                out = os.path.join(work, name + "-recovered.db")
                getattr(self, "_recover_" + how)(name, copy, out, ref_rows, work)
                # the runbook's steps leave the copy as it was, and nothing next to it
                with open(copy, "rb") as f:
                    self.assertEqual(manifest["sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertEqual(sorted(os.listdir(self.evidence)),
                         sorted(n for c in copies.values()
                                for n in (os.path.basename(c), os.path.basename(c) + ".manifest")))

    def _recover_reindex(self, name, copy, out, ref_rows, work):
        shutil.copy(copy, out)
        subprocess.run(["sqlite3", out, "REINDEX t_v;"], check=True, timeout=60)
        self.assertEqual(integrity(out), "ok")
        self.assertEqual(len(rows(out, "t")), 4000)
        report("%s: REINDEX t_v on the copy -> integrity_check ok, t 4000/4000 rows" % name)

    def _recover_recover(self, name, copy, out, ref_rows, work, fix_header=False):
        p = recover(copy, out, fix_header)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(integrity(out), "ok")
        got = rows(out, "t")
        with sqlite3.connect(out) as con:
            laf = con.execute("SELECT count(*) FROM sqlite_schema WHERE name='lost_and_found'"
                              ).fetchone()[0]
            laf_rows = con.execute("SELECT count(*) FROM lost_and_found").fetchone()[0] if laf else 0
        # never a row that was not there; what is missing is what the damage destroyed
        expected = ref_rows
        if name == "freelist_count":
            expected = {r for r in ref_rows if r[0] <= 2000}
        elif name == "wal_frame":
            expected = self.wal_reference
        self.assertFalse(got - expected, "%d recovered rows were never there" % len(got - expected))
        lost = len(expected) - len(got)
        m = re.search(r"Page (\d+): btreeInitPage", integrity_immutable(copy))
        if name == "zeroed_leaf":
            self.assertEqual(lost, page_cells(self.reference, int(m.group(1))))
        elif name == "wal_frame":
            self.assertTrue(0 < lost < 50, lost)  # one leaf page's rows
        elif name in ("bad_child",):
            self.assertEqual(len(got) + laf_rows, len(expected))  # the orphan leaf, unnamed
        elif name in ("unused_page", "freelist_count", "bad_rootpage", "garbage_header"):
            self.assertEqual(lost, 0)
        dumped = dump_rows(copy, out + ".dump")
        if name == "garbage_header":
            self.assertIsNone(dumped)
        else:
            self.assertEqual(dumped, len(got))  # .dump + COMMIT: the same rows of t, no more
        report("%s: sqlite-agent-recover%s -> t %d/%d rows, lost_and_found %d; .dump+COMMIT %s" %
               (name, " --fix-header" if fix_header else "", len(got), len(expected), laf_rows,
                dumped))

    def _recover_recover_fix_header(self, name, copy, out, ref_rows, work):
        p = recover(copy, out + ".plain")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("file is not a database", p.stderr)
        self._recover_recover(name, copy, out, ref_rows, work, fix_header=True)

    def _recover_sql_fix(self, name, copy, out, ref_rows, work):
        table, where, fix, total = FIXES[name]
        # .recover recreates the constraint and drops the row that breaks it: the runbook says
        # no; so does .dump
        p = recover(copy, out + ".recovered")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len(rows(out + ".recovered", table)), total - 1)
        self.assertEqual(dump_rows(copy, out + ".dump", table), total - 1)
        # the runbook's way: find the rows, fix them with SQL, on a copy first
        shutil.copy(copy, out)
        if name == "not_null":
            # "m IS NULL" finds nothing: SQLite takes NOT NULL at its word and folds it to false
            found = subprocess.run(["sqlite3", out, "SELECT id FROM c WHERE m IS NULL;"],
                                   capture_output=True, text=True, check=True,
                                   timeout=60).stdout
            self.assertEqual(found, "")
        found = subprocess.run(["sqlite3", out, "SELECT rowid FROM %s WHERE %s;" % (table, where)],
                               capture_output=True, text=True, check=True, timeout=60).stdout
        self.assertEqual(found.split(), ["1" if name == "not_null" else "3"])
        subprocess.run(["sqlite3", out, fix + ";"], check=True, timeout=60)
        self.assertEqual(integrity(out), "ok")
        self.assertEqual(len(rows(out, table)), total)
        report("%s: .recover and .dump keep %d/%d rows (drop the bad one); the SQL fix on the "
               "copy -> ok, %d/%d" % (name, total - 1, total, total, total))

    # -- the alert ------------------------------------------------------------------------

    def prom_alert(self, db):
        status, body = http_json(self.prom.url + "/api/v1/alerts")
        self.assertEqual(status, 200)
        for a in body["data"]["alerts"]:
            if a["labels"].get("alertname") == "SQLiteDatabaseMalformed" and \
                    a["labels"].get("db") == db and a["state"] == "firing":
                return a
        return None

    def test_alert_annotations_through_prometheus_and_alertmanager(self):
        copies = self.copies()
        anchors = runbook_anchors()
        for name, (_, kind, _) in CASES.items():
            with self.subTest(db=name):
                def current():
                    a = self.prom_alert(name)
                    return a if a and a["annotations"].get("evidence_copy") else None
                a = H.wait_for(current, TIMEOUT, interval=0.3, what="alert for %s" % name)
                ann = a["annotations"]
                self.assertEqual(ann["kinds"].split(",")[0], kind)
                self.assertTrue(ann["first_problem"])
                self.assertEqual(ann["evidence_copy"], copies[name])
                self.assertEqual(ann["runbook_kind_url"], RUNBOOK_BASE + "kind-" + kind)
                self.assertIn("kind-" + kind, anchors, "no such section in docs/runbook.md")
                if kind == "index":
                    self.assertTrue(ann["advice"].startswith("Index-only damage: REINDEX t_v;"),
                                    ann["advice"])
                elif kind == "constraint":
                    self.assertIn("do not .recover", ann["advice"])
                else:
                    self.assertIn("recover from %s" % copies[name], ann["advice"])
                    self.assertIn("sqlite-agent-recover COPY recovered.db", ann["advice"])

        # At the webhook, through the rules: kinds and the first problem arrive with the page.
        def hooked():
            got = {x["labels"]["db"]: x for x in self.receiver.alerts()
                   if x["labels"].get("alertname") == "SQLiteDatabaseMalformed"
                   and "job" in x["labels"]}
            return got if set(got) == set(CASES) else None
        hook = H.wait_for(hooked, TIMEOUT, interval=0.3, what="every alert at the webhook")
        self.assertEqual(hook["index_mismatch"]["annotations"]["first_problem"],
                         "row 123 missing from index t_v")
        self.assertEqual(hook["zeroed_leaf"]["annotations"]["kinds"], "btree")

        # The agent's own push, as Alertmanager holds it now (later posts update annotations).
        def pushed():
            status, body = http_json("http://127.0.0.1:%d/api/v2/alerts" % self.am.port)
            got = {x["labels"]["db"]: x for x in body
                   if x["labels"].get("source") == "sqlite-agent"
                   and x["labels"]["alertname"] == "SQLiteDatabaseMalformed"
                   and x["annotations"].get("evidence_copy")}
            return got if set(got) == set(CASES) else None
        am = H.wait_for(pushed, TIMEOUT, interval=0.3, what="every pushed alert with its copy")
        for name, (_, kind, _) in CASES.items():
            with self.subTest(pushed=name):
                ann = am[name]["annotations"]
                self.assertEqual(ann["evidence_copy"], copies[name])
                self.assertEqual(ann["kinds"].split(",")[0], kind)
                self.assertEqual(ann["runbook_kind_url"], RUNBOOK_BASE + "kind-" + kind)
                prom = self.prom_alert(name)["annotations"]
                # the same words by both paths
                self.assertEqual(ann["advice"], prom["advice"])
                self.assertEqual(ann["first_problem"], prom["first_problem"])


class DbpageExtensionTest(unittest.TestCase):
    """tools/sqlite_dbpage.c in Debian 12's sqlite3: the bytes of each page as they are in the
    file, nothing past the end, no writes; and without it, stock .recover fails here."""

    def shell(self, path, sql, load=True):
        cmd = ["sqlite3", path] + (["-cmd", ".load %s" % EXT] if load else []) + [sql]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def test_pages_as_in_the_file(self):
        d = tempfile.mkdtemp(prefix="dbpage-")
        self.addCleanup(shutil.rmtree, d, True)
        path = F.make_zeroed_leaf(d)
        with open(path, "rb") as f:
            data = f.read()
        psize = F._page_size(data)
        npages = len(data) // psize
        p = self.shell(path, "SELECT count(*), min(pgno), max(pgno) FROM sqlite_dbpage;")
        self.assertEqual(p.stdout.strip(), "%d|1|%d" % (npages, npages), p.stderr)
        for pgno in (1, 2, npages // 2, npages):
            p = self.shell(path, "SELECT hex(data) FROM sqlite_dbpage('main') WHERE pgno = %d;"
                           % pgno)
            self.assertEqual(bytes.fromhex(p.stdout.strip()),
                             data[(pgno - 1) * psize:pgno * psize], "page %d" % pgno)
        for pgno in (0, npages + 1, -1):
            p = self.shell(path, "SELECT count(*) FROM sqlite_dbpage WHERE pgno = %d;" % pgno)
            self.assertEqual(p.stdout.strip(), "0")
        p = self.shell(path, "UPDATE sqlite_dbpage SET data = zeroblob(4096) WHERE pgno = 2;")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("may not be modified", p.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_stock_recover_fails_on_debian_12(self):
        """What the runbook says: without the extension .recover stops, even on a healthy
        file (Debian's libsqlite3 has no SQLITE_ENABLE_DBPAGE_VTAB)."""
        d = tempfile.mkdtemp(prefix="dbpage-")
        self.addCleanup(shutil.rmtree, d, True)
        path = F.make_healthy(d)
        p = self.shell(path, "SELECT count(*) FROM sqlite_dbpage;", load=False)
        if p.returncode == 0:
            self.skipTest("this sqlite3 has sqlite_dbpage built in: stock .recover works")
        self.assertIn("no such table: sqlite_dbpage", p.stderr)
        p = self.shell(path, ".recover", load=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("SQL logic error", p.stderr)
        p = self.shell(path, ".recover")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("INSERT OR IGNORE INTO 't'"), 4000, p.stderr)


class CheckConstraintTest(unittest.TestCase):
    """A limit of every read-only check: SQLite drops CHECK constraints when it parses a schema
    on a read-only connection (3.40.1, src/build.c, sqlite3AddCheckConstraint: nothing is added
    when sqlite3BtreeIsReadonly), so integrity_check there cannot report "CHECK constraint
    failed". The agent says ok, as SQLite does; a read-write integrity_check on a copy finds
    the row (docs/runbook.md, Kind: constraint)."""

    def test_check_violations_need_a_read_write_look(self):
        d = tempfile.mkdtemp(prefix="check-")
        self.addCleanup(shutil.rmtree, d, True)
        path = make_check_violation(d)
        with H.Agent([{"name": "k", "path": path, "check": "integrity"}]) as a:
            s = a.wait_value("sqlite_check_runs_total", {"db": "k", "result": "ok"},
                             lambda v: v is not None and v >= 1, TIMEOUT)
            self.assertEqual(H.value(s, "sqlite_database_malformed", db="k"), 0)
            self.assertEqual(H.value(s, "sqlite_check_problems", db="k", kind="constraint"), 0)
        self.assertEqual(integrity(path), "ok")  # read-only, as the agent reads
        copy = os.path.join(d, "copy.db")
        shutil.copy(path, copy)
        p = subprocess.run(["sqlite3", copy, "PRAGMA query_only=1; PRAGMA integrity_check;"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.stdout.strip(), "CHECK constraint failed in k")
        table, where, fix, total = FIXES["check_violation"]
        found = subprocess.run(["sqlite3", copy, "SELECT rowid FROM %s WHERE %s;" % (table, where)],
                               capture_output=True, text=True, check=True, timeout=60).stdout
        self.assertEqual(found.split(), ["3"])
        subprocess.run(["sqlite3", copy, fix + ";"], check=True, timeout=60)
        p = subprocess.run(["sqlite3", copy, "PRAGMA integrity_check;"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.stdout.strip(), "ok")
        self.assertEqual(len(rows(copy, "k")), total)


class EvidenceDirTest(unittest.TestCase):
    """evidence_dir must be a writable directory holding no monitored database: refused by
    --check-config and at start, and a reload to such a value keeps the running config."""

    def test_refused_where_it_would_harm(self):
        d = tempfile.mkdtemp(prefix="evidence-dir-")
        self.addCleanup(shutil.rmtree, d, True)
        db = F.make_healthy(d)
        good = tempfile.mkdtemp(prefix="evidence-dir-ok-")
        self.addCleanup(shutil.rmtree, good, True)
        for bad, why in ((d, "the directory of a monitored database"),
                         (os.path.join(d, "missing"), "not a writable directory"),
                         (db, "not a writable directory")):
            with self.subTest(evidence_dir=bad):
                cfg = os.path.join(good, "bad.ini")
                with open(cfg, "w") as f:
                    f.write(H.config_text([{"name": "a", "path": db}], {"evidence_dir": bad}))
                p = H.run_agent("-c", cfg, "--check-config")
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(why, p.stderr)
                p = H.run_agent("-c", cfg, timeout=30)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(why, p.stderr)
                os.remove(cfg)
        with H.Agent([{"name": "a", "path": db}], {"evidence_dir": good}) as a:
            a.reload(databases=[{"name": "a", "path": db}], agent={"evidence_dir": d})
            s = a.wait_value("sqlite_agent_config_last_reload_successful", {}, lambda v: v == 0,
                             10)
            self.assertEqual(H.value(s, "sqlite_up", db="a"), 1)  # still running, still sampling
            self.assertIn("the directory of a monitored database", a.stderr())
        self.assertEqual(os.listdir(good), [])  # a healthy database is never copied


WRITER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
con.execute("PRAGMA journal_mode=" + sys.argv[3])
n = 0
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO log(at, v) VALUES (?, randomblob(200))", (time.time(),))
    con.execute("COMMIT")
    n += 1
    time.sleep(float(sys.argv[4]))
print(n)
"""


class EvidenceUnderWriterTest(unittest.TestCase):
    """The copy is taken while the application commits: one snapshot, no error for the
    writer."""

    def test_copy_while_a_writer_commits(self):
        for wal in (True, False):
            with self.subTest(wal=wal):
                self.copy_under_writer(wal)

    def copy_under_writer(self, wal):
        d = tempfile.mkdtemp(prefix="evidence-writer-")
        ev = tempfile.mkdtemp(prefix="evidence-writer-ev-")
        self.addCleanup(shutil.rmtree, d, True)
        self.addCleanup(shutil.rmtree, ev, True)
        path = os.path.join(d, "app.db")
        con = F._connect_rw(path, wal)
        F._populate(con)
        con.execute("CREATE TABLE log(id INTEGER PRIMARY KEY, at REAL, v BLOB)")
        con.commit()
        if wal:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        # A leaf of t, which the writer never touches, is zeroed in the database file while
        # the writer runs: the application's commits go on, the check turns malformed.
        root = F._rootpage(path, "t")
        with open(path, "rb") as f:
            data = f.read()
        leaves = [p for p, ty in F.walk_tree(data, root) if ty == F.PAGE_LEAF_TABLE]
        victim = leaves[len(leaves) // 2]
        lost = page_cells(path, victim)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, path, "12",
                                   "WAL" if wal else "DELETE", "0.002" if wal else "0.02"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(writer.kill)
        time.sleep(0.5)
        with H.Agent([{"name": "app", "path": path, "check": "quick"}],
                     {"check_interval": "1s", "evidence_dir": ev}) as a:
            s = a.wait_value("sqlite_database_malformed", {"db": "app"}, lambda v: v == 0,
                             TIMEOUT)
            psize = F._page_size(data)
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, bytes(psize), (victim - 1) * psize)
                os.fsync(fd)
            finally:
                os.close(fd)
            s = a.wait_value("sqlite_evidence_copies_total", {"db": "app", "result": "ok"},
                             lambda v: v == 1, TIMEOUT)
            copy = [dict(l)["copy"] for l in H.select(s, "sqlite_evidence_copy_info")][0]
            with open(copy + ".manifest") as f:
                manifest = json.load(f)
            out, err = writer.communicate(timeout=60)
        self.assertEqual(writer.returncode, 0, err)
        self.assertEqual(err, "")
        commits = int(out)
        self.assertEqual(manifest["copy_mode"], "wal_snapshot" if wal else "rollback_batches")
        # the copy opens, alone (no -wal next to it), and shows the same damage
        self.assertFalse(os.path.exists(copy + "-wal"))
        self.assertIn("Page %d: btreeInitPage() returns error code 11" % victim, integrity_immutable(copy))
        logged = len(rows(copy, "log"))
        work = tempfile.mkdtemp(prefix="evidence-writer-out-")
        self.addCleanup(shutil.rmtree, work, True)
        out_db = os.path.join(work, "recovered.db")
        p = recover(copy, out_db)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len(rows(out_db, "t")), 4000 - lost)
        self.assertEqual(len(rows(out_db, "log")), logged)
        self.assertGreater(logged, 0)
        self.assertLess(logged, commits)  # a point in time, not the end
        self.assertLess(manifest["copy_bytes"], 64 << 20)
        report("writer (%s): %d commits, no error; copy (%s, %.3f s, %d backup restarts) holds %d log "
               "rows; recovered t %d/4000 (lost %d on page %d), log %d/%d" %
               ("WAL" if wal else "rollback", commits, manifest["copy_mode"], manifest["copy_seconds"],
                manifest["backup_restarts"], logged, 4000 - lost, lost, victim, logged, logged))


if __name__ == "__main__":
    unittest.main()
