"""The fixtures are what they claim: healthy ones pass both checks, damaged ones fail them,
checked with Python's sqlite3 (read-only) and with the sqlite3 CLI. Needs no agent binary."""

import os
import shutil
import struct
import tempfile
import unittest

import fixtures as F
import harness as H  # noqa: F401  (import check: the harness must load without the binary)

# (maker, wal, expected quick_check verdict, expected integrity_check verdict)
# verdict: "ok", or the text SQLite must report (a substring of the rows / error message).
CASES = [
    (F.make_healthy, False, "ok", "ok"),
    (F.make_healthy, True, "ok", "ok"),
    (F.make_zeroed_leaf, False, "malformed", "malformed"),
    (F.make_zeroed_leaf, True, "malformed", "malformed"),
    (F.make_bad_child, False, "malformed", "malformed"),
    (F.make_bad_child, True, "malformed", "malformed"),
    (F.make_truncated, False, "malformed", "malformed"),
    (F.make_truncated, True, "malformed", "malformed"),
    (F.make_garbage_header, False, "not a database", "not a database"),
    (F.make_garbage_header, True, "not a database", "not a database"),
    (F.make_index_mismatch, False, "ok", "missing from index t_v"),
    (F.make_index_mismatch, True, "ok", "missing from index t_v"),
]


def verdict_matches(rows, expected):
    if expected == "ok":
        return rows == ["ok"]
    return rows != ["ok"] and any(expected in r for r in rows)


class FixtureTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fixtures-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def assert_verdicts(self, path, quick, integrity):
        for pragma, expected in (("quick_check", quick), ("integrity_check", integrity)):
            rows = F.python_check(path, pragma)
            self.assertTrue(verdict_matches(rows, expected),
                            "%s %s: python says %r, expected %r" % (path, pragma, rows, expected))
            rc, out = F.cli_check(path, pragma)
            self.assertTrue(verdict_matches(out.splitlines() or [""], expected)
                            or (expected != "ok" and expected in out),
                            "%s %s: CLI rc=%d %r, expected %r" % (path, pragma, rc, out, expected))

    def test_db_file_fixtures(self):
        for maker, wal, quick, integrity in CASES:
            with self.subTest(maker=maker.__name__, wal=wal):
                name = "%s-%s.db" % (maker.__name__, "wal" if wal else "rollback")
                path = maker(self.dir, name=name, wal=wal)
                with open(path, "rb") as f:
                    head = f.read(100)
                if maker is not F.make_garbage_header:
                    # fileformat2 1.3.3: offsets 18/19, 1 = rollback, 2 = WAL
                    self.assertEqual(head[18:20], bytes([2, 2]) if wal else bytes([1, 1]))
                    self.assertFalse(os.path.exists(path + "-wal"))
                self.assert_verdicts(path, quick, integrity)

    def test_healthy_wal_live_has_committed_frames(self):
        path = F.make_healthy_wal_live(self.dir)
        with open(path + "-wal", "rb") as f:
            hdr, frames = F.parse_wal(f.read())
        self.assertGreater(len(frames), 10)
        self.assertTrue(any(fr["commit"] for fr in frames))
        self.assert_verdicts(path, "ok", "ok")
        # Through the WAL the reader sees the updated rows (so the frames are really used).
        con = __import__("sqlite3").connect("file:%s?mode=ro" % path, uri=True)
        try:
            n = con.execute("SELECT count(*) FROM t WHERE v LIKE 'UPD%'").fetchone()[0]
        finally:
            con.close()
        self.assertGreater(n, 0)

    def test_wal_frame_damage(self):
        path = F.make_wal_frame_damage(self.dir)
        # The -wal still parses with every frame valid: the damage is inside a page image.
        with open(path + "-wal", "rb") as f:
            _, frames = F.parse_wal(f.read())
        self.assertGreater(len(frames), 10)
        # The db file alone is healthy...
        alone = os.path.join(self.dir, "alone")
        os.mkdir(alone)
        shutil.copyfile(path, os.path.join(alone, "x.db"))
        self.assert_verdicts(os.path.join(alone, "x.db"), "ok", "ok")
        # ...with its -wal, it is malformed.
        self.assert_verdicts(path, "malformed", "malformed")

    def test_wal_checksum_matches_sqlite(self):
        # The header checksum SQLite wrote must be what our walChecksumBytes port computes
        # (parse_wal raises otherwise), and a one-bit change must alter it.
        path = F.make_healthy_wal_live(self.dir)
        with open(path + "-wal", "rb") as f:
            wal = f.read()
        hdr, _ = F.parse_wal(wal)
        magic = struct.unpack(">I", wal[:4])[0]
        self.assertEqual(hdr["big_endian"], magic == 0x377F0683)
        flipped = bytearray(wal[:24])
        flipped[9] ^= 1
        self.assertNotEqual(F.wal_checksum(bytes(flipped), hdr["big_endian"]), hdr["cksum"])

    def test_damage_in_place(self):
        path = F.make_healthy(self.dir, "live.db", wal=True)
        self.assert_verdicts(path, "ok", "ok")
        for suffix in ("-wal", "-shm"):  # left by the read-only checks above
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        F.damage_in_place(path)
        self.assert_verdicts(path, "malformed", "malformed")

    def test_exposition_parser(self):
        text = ('# HELP m x\n# TYPE m gauge\n'
                'm{db="a",path="/x/we\\"ird \\\\dir\\nz"} 1\n'
                'n 2.5e+00\nnan_metric NaN\ninf_metric{a="b"} +Inf 1700000000000\n')
        s = H.parse_exposition(text)
        self.assertEqual(H.value(s, "m", db="a"), 1.0)
        self.assertEqual(H.value(s, "m", path='/x/we"ird \\dir\nz'), 1.0)
        self.assertEqual(H.value(s, "n"), 2.5)
        self.assertEqual(H.value(s, "inf_metric"), float("inf"))
        self.assertIsNone(H.value(s, "m", db="b"))
        with self.assertRaises(ValueError):
            H.parse_exposition("m{a=\"b\"} 1\nm{a=\"b\"} 2\n")
        with self.assertRaises(ValueError):
            H.parse_exposition('m{a="\\q"} 1\n')


if __name__ == "__main__":
    unittest.main()
