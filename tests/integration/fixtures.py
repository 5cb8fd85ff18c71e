"""Real SQLite files, healthy and damaged, for the integration tests.

Every make_* function creates its file(s) in a directory given by the caller and returns the
database path. Damage is done with byte surgery on closed files, located by reading the b-tree
page headers, never by guessing offsets. The on-disk facts used here come from
https://www.sqlite.org/fileformat2.html (cited by section) and, for the WAL checksum, from
walChecksumBytes() in SQLite's src/wal.c.

Nothing here needs the agent binary; test_fixtures.py proves each damaged file is damaged.
"""

import os
import random
import shutil
import sqlite3
import struct
import subprocess
import tempfile

# fileformat2 1.6: b-tree page types, the first byte of the b-tree page header.
PAGE_INTERIOR_INDEX = 0x02
PAGE_INTERIOR_TABLE = 0x05
PAGE_LEAF_INDEX = 0x0A
PAGE_LEAF_TABLE = 0x0D

WAL_HEADER_SIZE = 32  # fileformat2 4.1
WAL_FRAME_HEADER_SIZE = 24

ROWS = 4000  # with ~120-byte rows and 4 KiB pages: ~150 table pages and a 2-level tree


# ---------------------------------------------------------------------------------------------
# Building healthy databases

def _populate(con, rows=ROWS, seed=1):
    """A table with an index, enough rows to span many pages, deterministic content."""
    rnd = random.Random(seed)
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER)")
    con.execute("CREATE INDEX t_v ON t(v)")
    con.executemany(
        "INSERT INTO t(id, v, n) VALUES (?, ?, ?)",
        ((i, "MARK%06d-" % i + "".join(rnd.choice("abcdefghij") for _ in range(100)),
          rnd.randrange(1 << 30)) for i in range(1, rows + 1)))
    con.commit()


def _connect_rw(path, wal):
    con = sqlite3.connect(path)
    con.execute("PRAGMA page_size=4096")
    con.execute("PRAGMA journal_mode=%s" % ("WAL" if wal else "DELETE"))
    return con


def make_healthy(directory, name="healthy.db", wal=False, rows=ROWS):
    """A healthy, closed database (WAL mode: the -wal is checkpointed and removed on close)."""
    path = os.path.join(directory, name)
    con = _connect_rw(path, wal)
    _populate(con, rows)
    con.close()
    return path


def make_healthy_wal_live(directory, name="healthy-wal.db", rows=ROWS):
    """A healthy WAL database whose -wal holds committed, uncheckpointed frames.

    Made by copying the db and -wal while the writer still holds them open with autocheckpoint
    off, the state of a busy production database between checkpoints. No -shm is copied: a
    reader rebuilds the wal-index from the -wal (fileformat2 4.4: the wal-index is transient).
    """
    work = tempfile.mkdtemp(prefix="fixture-wal-")
    try:
        src = os.path.join(work, "src.db")
        con = _connect_rw(src, True)
        _populate(con, rows)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA wal_autocheckpoint=0")
        # Several commits touching many leaf pages of t and of its index.
        for k in range(3):
            con.execute("UPDATE t SET v = 'UPD%d-' || substr(v, 6), n = n + 1 "
                        "WHERE id %% 37 = %d" % (k, k))
            con.commit()
        path = os.path.join(directory, name)
        shutil.copyfile(src, path)
        shutil.copyfile(src + "-wal", path + "-wal")
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if os.path.getsize(path + "-wal") <= WAL_HEADER_SIZE:
        raise RuntimeError("fixture: expected committed frames in %s-wal" % path)
    return path


# ---------------------------------------------------------------------------------------------
# Reading the b-tree (fileformat2 1.3, 1.6)

def _page_size(data):
    # fileformat2 1.3.2: offset 16, big-endian u16; the value 1 means 65536.
    ps = struct.unpack_from(">H", data, 16)[0]
    return 65536 if ps == 1 else ps


def _page_header_offset(pgno):
    # fileformat2 1.6: page 1 begins with the 100-byte database header.
    return 100 if pgno == 1 else 0


def _page_type(data, psize, pgno):
    return data[(pgno - 1) * psize + _page_header_offset(pgno)]


def _children(data, psize, pgno):
    """Child page numbers of an interior page, with the byte offset (in the file) of each."""
    base = (pgno - 1) * psize
    hdr = base + _page_header_offset(pgno)
    ncells = struct.unpack_from(">H", data, hdr + 3)[0]
    out = []
    for i in range(ncells):
        cell = struct.unpack_from(">H", data, hdr + 12 + 2 * i)[0]  # cell pointer array
        out.append((struct.unpack_from(">I", data, base + cell)[0], base + cell))
    out.append((struct.unpack_from(">I", data, hdr + 8)[0], hdr + 8))  # right-most pointer
    return out


def walk_tree(data, root):
    """[(pgno, page type)] of every page of the b-tree rooted at root, parents first."""
    psize = _page_size(data)
    out, todo = [], [root]
    while todo:
        pgno = todo.pop(0)
        ptype = _page_type(data, psize, pgno)
        out.append((pgno, ptype))
        if ptype in (PAGE_INTERIOR_TABLE, PAGE_INTERIOR_INDEX):
            todo.extend(child for child, _ in _children(data, psize, pgno))
        elif ptype not in (PAGE_LEAF_TABLE, PAGE_LEAF_INDEX):
            raise RuntimeError("fixture: page %d has type %#x" % (pgno, ptype))
    return out


def _rootpage(path, name):
    """Root page of a table or index, read from a copy of the db file alone: a read-only open
    of a WAL-mode file creates -wal and -shm next to it, which a fixture must not have."""
    with open(path, "rb") as f:
        return _rootpage_from_bytes(f.read(), name)


def _rewrite(path, fn):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    fn(data)
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate(len(data))


# ---------------------------------------------------------------------------------------------
# Damaged database files (all closed, no -wal; wal=True gives a WAL-mode header)

def make_zeroed_leaf(directory, name="zeroed-leaf.db", wal=False):
    """A leaf table page of t (type 0x0d, found by walking the tree) overwritten with zeros."""
    path = make_healthy(directory, name, wal)
    root = _rootpage(path, "t")

    def damage(data):
        leaves = [p for p, ty in walk_tree(data, root) if ty == PAGE_LEAF_TABLE]
        if len(leaves) < 3:
            raise RuntimeError("fixture: table t too small")
        victim = leaves[len(leaves) // 2]
        psize = _page_size(data)
        data[(victim - 1) * psize:victim * psize] = bytes(psize)

    _rewrite(path, damage)
    return path


def make_bad_child(directory, name="bad-child.db", wal=False):
    """The first child pointer of t's interior root (type 0x05) set to one past the last page."""
    path = make_healthy(directory, name, wal)
    root = _rootpage(path, "t")

    def damage(data):
        psize = _page_size(data)
        if _page_type(data, psize, root) != PAGE_INTERIOR_TABLE:
            raise RuntimeError("fixture: root of t is not an interior table page")
        npages = len(data) // psize
        _, offset = _children(data, psize, root)[0]
        struct.pack_into(">I", data, offset, npages + 1)

    _rewrite(path, damage)
    return path


def make_truncated(directory, name="truncated.db", wal=False):
    """The file cut to half its size (page-aligned), header still claiming the full size."""
    path = make_healthy(directory, name, wal)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate((size // 2) // 4096 * 4096)
    return path


def make_garbage_header(directory, name="garbage-header.db", wal=False, seed=7):
    """Random bytes over the 100-byte database header."""
    path = make_healthy(directory, name, wal)
    rnd = random.Random(seed)
    with open(path, "r+b") as f:
        f.write(bytes(rnd.randrange(256) for _ in range(100)))
    return path


def make_index_mismatch(directory, name="index-mismatch.db", wal=False):
    """One row of t changed in place so its entry in index t_v no longer matches it.

    The text "MARK000123" of row 123 is stored verbatim in the record on its table leaf page
    (fileformat2 2.1: text serial types hold the bytes as is). One letter of it is changed on
    the table page only, keeping the record's length and structure: every b-tree stays
    well-formed (quick_check: ok), but the index holds a key no row has (integrity_check:
    "row 123 missing from index t_v" and a wrong entry count).
    """
    path = make_healthy(directory, name, wal)
    root = _rootpage(path, "t")
    needle = b"MARK000123-"

    def damage(data):
        psize = _page_size(data)
        for pgno, ptype in walk_tree(data, root):
            if ptype != PAGE_LEAF_TABLE:
                continue
            page = data[(pgno - 1) * psize:pgno * psize]
            at = page.find(needle)
            if at >= 0:
                data[(pgno - 1) * psize + at] = ord("N")
                return
        raise RuntimeError("fixture: row 123 not found on a table leaf page")

    _rewrite(path, damage)
    return path


# ---------------------------------------------------------------------------------------------
# Damage inside a committed WAL frame

def wal_checksum(data, big_endian, s1=0, s2=0):
    """walChecksumBytes() from SQLite's src/wal.c: over 32-bit words taken two at a time, in the
    byte order named by the WAL magic (fileformat2 4.1: 0x377f0683 = big-endian), with u32
    wrap-around: s1 += x0 + s2; s2 += x1 + s1."""
    if len(data) % 8:
        raise ValueError("wal_checksum: length must be a multiple of 8")
    words = struct.unpack(("%s%dI" % (">" if big_endian else "<", len(data) // 4)), data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2


def parse_wal(wal):
    """(header dict, [frame dicts]) of the valid prefix of a WAL image (fileformat2 4.1-4.3)."""
    magic, version, psize, ckpt_seq, salt1, salt2, c1, c2 = struct.unpack_from(">8I", wal, 0)
    if magic not in (0x377F0682, 0x377F0683):
        raise ValueError("not a WAL file")
    big = bool(magic & 1)
    if wal_checksum(bytes(wal[:24]), big) != (c1, c2):
        raise ValueError("WAL header checksum mismatch")
    hdr = dict(big_endian=big, page_size=psize, salt1=salt1, salt2=salt2, cksum=(c1, c2))
    frames, s = [], (c1, c2)
    off = WAL_HEADER_SIZE
    while off + WAL_FRAME_HEADER_SIZE + psize <= len(wal):
        pgno, commit, fs1, fs2, fc1, fc2 = struct.unpack_from(">6I", wal, off)
        if (fs1, fs2) != (salt1, salt2) or pgno == 0:
            break
        s = wal_checksum(bytes(wal[off:off + 8]), big, *s)
        s = wal_checksum(bytes(wal[off + 24:off + 24 + psize]), big, *s)
        if s != (fc1, fc2):
            break
        frames.append(dict(offset=off, pgno=pgno, commit=commit))
        off += WAL_FRAME_HEADER_SIZE + psize
    return hdr, frames


def _wal_fix_checksums(wal, hdr, first):
    """Recomputes the cumulative checksums of frames first.. so SQLite accepts them again."""
    psize, big = hdr["page_size"], hdr["big_endian"]
    off = WAL_HEADER_SIZE
    s = hdr["cksum"]
    index = 0
    while off + WAL_FRAME_HEADER_SIZE + psize <= len(wal):
        s = wal_checksum(bytes(wal[off:off + 8]), big, *s)
        s = wal_checksum(bytes(wal[off + 24:off + 24 + psize]), big, *s)
        if index >= first:
            struct.pack_into(">II", wal, off + 16, *s)
        off += WAL_FRAME_HEADER_SIZE + psize
        index += 1


def make_wal_frame_damage(directory, name="wal-frame-damage.db"):
    """A healthy db file whose -wal has a committed frame with a zeroed page image.

    The frame chosen holds the newest committed version of a leaf table page of t, so readers
    take that page from the WAL. Its checksum and every later frame's are recomputed, so the
    frame stays valid and committed (fileformat2 4.3): only the page content is wrong.
    """
    path = make_healthy_wal_live(directory, name)
    with open(path, "rb") as f:
        db = f.read()
    root = _rootpage_from_bytes(db, "t")
    leaves = {p for p, ty in walk_tree(db, root) if ty == PAGE_LEAF_TABLE}

    with open(path + "-wal", "rb") as f:
        wal = bytearray(f.read())
    hdr, frames = parse_wal(wal)
    last_commit = max(i for i, fr in enumerate(frames) if fr["commit"])
    newest = {}
    for i, fr in enumerate(frames[:last_commit + 1]):
        newest[fr["pgno"]] = i
    victims = sorted(i for p, i in newest.items()
                     if p in leaves and wal[frames[i]["offset"] + 24] == PAGE_LEAF_TABLE)
    if not victims:
        raise RuntimeError("fixture: no leaf table page of t in the WAL")
    victim = victims[0]
    off = frames[victim]["offset"] + WAL_FRAME_HEADER_SIZE
    wal[off:off + hdr["page_size"]] = bytes(hdr["page_size"])
    _wal_fix_checksums(wal, hdr, victim)
    _, after = parse_wal(wal)
    if len(after) != len(frames):
        raise RuntimeError("fixture: WAL frames no longer valid after damage")
    with open(path + "-wal", "wb") as f:
        f.write(wal)
    return path


def _rootpage_from_bytes(db, name):
    work = tempfile.mkdtemp(prefix="fixture-root-")
    try:
        p = os.path.join(work, "x.db")
        with open(p, "wb") as f:
            f.write(db)
        con = sqlite3.connect("file:%s?mode=ro" % p, uri=True)
        try:
            return con.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?",
                               (name,)).fetchone()[0]
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Damage done to a live file (while an agent watches it)

def damage_in_place(path):
    """Zeroes a leaf table page of t in an existing closed database, header untouched (so the
    change counter does not move, as with a real media error)."""
    root = _rootpage(path, "t")
    with open(path, "rb") as f:
        data = f.read()
    psize = _page_size(data)
    leaves = [p for p, ty in walk_tree(data, root) if ty == PAGE_LEAF_TABLE]
    victim = leaves[len(leaves) // 3]
    with open(path, "r+b") as f:
        f.seek((victim - 1) * psize)
        f.write(bytes(psize))
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------------------------------------
# A database slow to check

def make_big(directory, name="big.db", rows=600000):
    """A database on which integrity_check takes seconds: many rows, three indexes on random
    keys (integrity_check looks up every row in every index). Built inside SQLite with a
    recursive CTE, indexes created after the rows, for speed."""
    path = os.path.join(directory, name)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b TEXT, c BLOB)")
    con.execute("WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
                "INSERT INTO t SELECT x, hex(randomblob(12)), hex(randomblob(12)), "
                "randomblob(16) FROM s", (rows,))
    con.execute("CREATE INDEX t_a ON t(a)")
    con.execute("CREATE INDEX t_b ON t(b)")
    con.execute("CREATE INDEX t_c ON t(c, a)")
    con.commit()
    con.close()
    return path


# ---------------------------------------------------------------------------------------------
# Verification helpers (read-only: opening a WAL fixture read-write would checkpoint it away)

def python_check(path, pragma="quick_check"):
    """Rows of PRAGMA quick_check / integrity_check through Python's sqlite3 opened read-only,
    or ["EXC: <message>"] when SQLite raised."""
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return [r[0] for r in con.execute("PRAGMA %s" % pragma)]
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return ["EXC: %s" % e]


def cli_check(path, pragma="quick_check"):
    """(exit code, output) of the sqlite3 CLI running the pragma with -readonly."""
    p = subprocess.run(["sqlite3", "-readonly", path, "PRAGMA %s;" % pragma],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()
