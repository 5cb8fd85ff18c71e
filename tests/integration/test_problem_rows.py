"""The problem rows tests/unit/test_problems.c calls "seen" are SQLite's own.

Each recipe below damages a real database (byte surgery on a closed file, or a writable_schema
edit with Python's sqlite3) and runs PRAGMA integrity_check through Debian 12's sqlite3 CLI,
read-write on a copy (so CHECK constraints are parsed; src/build.c drops them read-only), or
the error text for a schema that cannot load. Every "seen" row of the unit test must be among
what they printed: a unit-test row that SQLite does not print fails here.
"""

import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import unittest

import fixtures as F
import harness as H

UNIT = os.path.join(H.REPO, "tests", "unit", "test_problems.c")


def cli_rows(path):
    """Rows of integrity_check (each row's lines joined by \\n, as the row holds them), plus
    the error message, if any."""
    p = subprocess.run(["sqlite3", path, "PRAGMA integrity_check;"], capture_output=True,
                       text=True, timeout=60)
    out = p.stdout
    rows = []
    # A b-tree row spans lines, starting with the banner; other rows are one line each.
    for chunk in re.split(r"(?=\*\*\* in database main \*\*\*\n)", out):
        if chunk.startswith("*** in database main ***\n"):
            lines = chunk.rstrip("\n").split("\n")
            body = [lines[0]]
            rest = []
            for ln in lines[1:]:
                (rest if rest or re.match(r"(row \d+ missing|wrong # of|non-unique)", ln)
                 else body).append(ln)
            rows.append("\n".join(body))
            rows.extend(rest)
        else:
            rows.extend(x for x in chunk.split("\n") if x)
    err = re.search(r"Error: [^,]*, (.*) \(\d+\)", p.stderr)
    if err:
        rows.append(err.group(1))
    return rows


def leaf_pages(data, root, ptype):
    return [p for p, ty in F.walk_tree(data, root) if ty == ptype]


def damage(path, fn):
    F._rewrite(path, fn)
    return path


def writable_schema(path, *sql):
    con = sqlite3.connect(path)
    con.execute("PRAGMA writable_schema=ON")
    for q in sql:
        con.execute(q)
    con.commit()
    con.close()
    return path


def make_db(d, name, script, auto_vacuum=False):
    path = os.path.join(d, name)
    con = sqlite3.connect(path)
    if auto_vacuum:
        con.execute("PRAGMA auto_vacuum=FULL")
    con.executescript(script)
    con.commit()
    con.close()
    return path


def recipes(d):
    """(name, path) of every damaged database."""
    out = []
    out.append(("zeroed_leaf", F.make_zeroed_leaf(d)))
    out.append(("bad_child", F.make_bad_child(d)))
    out.append(("index_mismatch", F.make_index_mismatch(d)))

    p = F.make_healthy(d, "dupref.db")
    root = F._rootpage(p, "t")
    out.append(("second_reference", damage(p, lambda data: struct.pack_into(
        ">I", data, F._children(data, 4096, root)[1][1], F._children(data, 4096, root)[0][0]))))

    p = F.make_healthy(d, "swap.db")
    root = F._rootpage(p, "t")

    def swap(data):
        ch = F._children(data, 4096, root)
        struct.pack_into(">I", data, ch[0][1], ch[1][0])
        struct.pack_into(">I", data, ch[1][1], ch[0][0])
    out.append(("rowid_order", damage(p, swap)))

    p = F.make_healthy(d, "unused.db")

    def unused(data):
        data.extend(bytes(4096))
        struct.pack_into(">I", data, 28, len(data) // 4096)
    out.append(("never_used", damage(p, unused)))

    def freelist_db(name):
        path = os.path.join(d, name)
        con = sqlite3.connect(path)
        F._populate(con)
        con.execute("DELETE FROM t WHERE id > 2000")
        con.commit()
        con.close()
        return path
    out.append(("freelist_size", damage(freelist_db("free1.db"), lambda data: struct.pack_into(
        ">I", data, 36, struct.unpack_from(">I", data, 36)[0] + 3))))

    def leaf_count(data):
        trunk = struct.unpack_from(">I", data, 32)[0]
        struct.pack_into(">I", data, (trunk - 1) * 4096 + 4, 5000)
    out.append(("freelist_leaf_count", damage(freelist_db("free2.db"), leaf_count)))

    p = make_db(d, "ovfl.db", "CREATE TABLE b(id INTEGER PRIMARY KEY, x BLOB);"
                "INSERT INTO b VALUES (1, zeroblob(20000));")
    out.append(("overflow", damage(p, lambda data: struct.pack_into(">I", data, 2 * 4096, 0))))

    def on_leaf(name, fn):
        path = F.make_healthy(d, name)
        r = F._rootpage(path, "t")

        def go(data):
            fn(data, (leaf_pages(data, r, F.PAGE_LEAF_TABLE)[3] - 1) * 4096)
        return damage(path, go)

    def frag(data, o):
        data[o + 7] = (data[o + 7] + 9) & 0xFF
    out.append(("fragmentation", on_leaf("frag.db", frag)))
    out.append(("offset", on_leaf("offs.db", lambda data, o: struct.pack_into(
        ">H", data, o + 8, 4094))))

    def multi(data, o):
        struct.pack_into(">H", data, o + 10, struct.unpack_from(">H", data, o + 8)[0] + 3)
    out.append(("multiple_uses", on_leaf("multi.db", multi)))

    p = F.make_healthy(d, "idxpage.db")
    root = F._rootpage(p, "t_v")

    def idx_key(data):
        pg = leaf_pages(data, root, F.PAGE_LEAF_INDEX)[0]
        at = data.find(b"MARK", (pg - 1) * 4096, pg * 4096)
        data[at + 4] = ord("9")
    out.append(("index_page", damage(p, idx_key)))

    p = F.make_healthy(d, "idxcount.db")
    root = F._rootpage(p, "t_v")

    def idx_cells(data):
        o = (leaf_pages(data, root, F.PAGE_LEAF_INDEX)[0] - 1) * 4096
        struct.pack_into(">H", data, o + 3, struct.unpack_from(">H", data, o + 3)[0] - 1)
    out.append(("index_count", damage(p, idx_cells)))

    p = os.path.join(d, "uniq.db")
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE u(id INTEGER PRIMARY KEY, k TEXT)")
    con.executemany("INSERT INTO u VALUES (?, ?)", [(i, "k%d" % i) for i in range(50)])
    con.execute("CREATE UNIQUE INDEX u_k ON u(k)")
    con.commit()
    con.close()
    writable_schema(p, "UPDATE sqlite_schema SET sql='CREATE INDEX u_k ON u(k)' WHERE name='u_k'")
    con = sqlite3.connect(p)
    con.execute("INSERT INTO u VALUES (100, 'k5')")
    con.commit()
    con.close()
    out.append(("non_unique", writable_schema(
        p, "UPDATE sqlite_schema SET sql='CREATE UNIQUE INDEX u_k ON u(k)' WHERE name='u_k'")))

    p = make_db(d, "av.db", "CREATE TABLE b(id INTEGER PRIMARY KEY, x BLOB);", auto_vacuum=True)
    con = sqlite3.connect(p)
    for i in range(20):
        con.execute("INSERT INTO b VALUES (?, randomblob(3000))", (i,))
    con.commit()
    con.close()

    def ptrmap(data):
        data[4096 + 15:4096 + 20] = b"\x05\x00\x00\x00\x09"  # page 6's entry on ptrmap page 2
    out.append(("ptrmap", damage(p, ptrmap)))
    p2 = os.path.join(d, "av2.db")
    shutil.copy(p, p2)
    out.append(("max_rootpage", damage(p2, lambda data: struct.pack_into(">I", data, 52, 77))))

    p = make_db(d, "nn.db", "CREATE TABLE c(id INTEGER PRIMARY KEY, m TEXT);"
                "INSERT INTO c VALUES (1, NULL);")
    out.append(("not_null", writable_schema(
        p, "UPDATE sqlite_schema SET sql='CREATE TABLE c(id INTEGER PRIMARY KEY, m TEXT NOT NULL)'"
           " WHERE name='c'")))
    p = make_db(d, "strict.db", "CREATE TABLE s(id INTEGER PRIMARY KEY, m TEXT);"
                "INSERT INTO s VALUES (1, x'00ff');")
    out.append(("strict", writable_schema(
        p, "UPDATE sqlite_schema SET sql='CREATE TABLE s(id INTEGER PRIMARY KEY, m TEXT) STRICT'"
           " WHERE name='s'")))
    p = make_db(d, "text.db", "CREATE TABLE n(id INTEGER PRIMARY KEY, a TEXT);"
                "INSERT INTO n VALUES (1, '55');")
    out.append(("text_in_numeric", writable_schema(
        p, "UPDATE sqlite_schema SET sql='CREATE TABLE n(id INTEGER PRIMARY KEY, a INTEGER)'"
           " WHERE name='n'")))
    p = make_db(d, "num.db", "CREATE TABLE n(id INTEGER PRIMARY KEY, a INTEGER);"
                "INSERT INTO n VALUES (1, 55);")
    out.append(("numeric_in_text", writable_schema(
        p, "UPDATE sqlite_schema SET sql='CREATE TABLE n(id INTEGER PRIMARY KEY, a TEXT)'"
           " WHERE name='n'")))
    p = os.path.join(d, "check.db")
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE c(id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0), m TEXT)")
    con.execute("PRAGMA ignore_check_constraints=1")
    con.execute("INSERT INTO c VALUES (1, -5, 'x')")
    con.commit()
    con.close()
    out.append(("check", p))
    p = F.make_healthy(d, "shared.db")
    out.append(("shared_root", writable_schema(
        p, "UPDATE sqlite_schema SET rootpage = (SELECT rootpage FROM sqlite_schema "
           "WHERE name = 't') WHERE name = 't_v'")))
    p = F.make_healthy(d, "root.db")
    out.append(("invalid_rootpage", writable_schema(
        p, "UPDATE sqlite_schema SET rootpage = 99999 WHERE name = 't_v'")))
    p = F.make_healthy(d, "dup.db")
    out.append(("duplicate_column", writable_schema(
        p, "UPDATE sqlite_schema SET sql = 'CREATE TABLE t(id INTEGER PRIMARY KEY, "
           "v TEXT NOT NULL, n INTEGER, v TEXT)' WHERE name = 't'")))
    return out


def seen_rows():
    """The rows test_problems.c marks "seen", as C string literals decoded."""
    with open(UNIT) as f:
        src = f.read()
    src = src.replace('B "', '"*** in database main ***\\n" "')
    rows = []
    for m in re.finditer(r'\{((?:\s*"(?:[^"\\]|\\.)*"\s*)+),\s*PROBLEM_\w+,\s*"seen"\}', src):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
        rows.append("".join(parts).encode().decode("unicode_escape"))
    return rows


class ProblemRowsTest(unittest.TestCase):
    def test_seen_rows_are_sqlites(self):
        d = tempfile.mkdtemp(prefix="problem-rows-")
        self.addCleanup(shutil.rmtree, d, True)
        printed = {}
        for name, path in recipes(d):
            printed[name] = cli_rows(path)
        every = [r for rs in printed.values() for r in rs]
        seen = seen_rows()
        self.assertGreaterEqual(len(seen), 25)
        for row in seen:
            with self.subTest(row=row):
                # a b-tree row of the unit test may be the first lines of a longer real one
                self.assertTrue(any(r == row or (row.startswith("*** in database main ***\n")
                                                 and r.startswith(row + "\n"))
                                    for r in every), "not printed by any recipe: %r" % row)


if __name__ == "__main__":
    unittest.main()
