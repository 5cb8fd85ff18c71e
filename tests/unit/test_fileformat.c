/*
 * test_fileformat.c: the three header parsers against buffers built here byte by byte, and
 * against the real files SQLite writes (a WAL database kept open in a temporary directory).
 *
 * The writers below follow the same sources as the parser (fileformat2 1.3 and 4; wal.c
 * WalIndexHdr, WalCkptInfo, walChecksumBytes, walIndexWriteHdr) but are written independently
 * of it: byte-by-byte stores and the checksum as the pseudocode in fileformat2 4.2 states it.
 * The real-file test anchors both to what SQLite itself does.
 */
#include "fileformat.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- byte writers ---------------------------------------------------------------------- */

static void put4_be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t rd4(const unsigned char *p, bool big)
{
    if (big)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static bool host_is_big(void)
{
    const uint16_t one = 1;
    unsigned char b[2];

    memcpy(b, &one, sizeof(b));
    return b[0] == 0;
}

static uint32_t swap4(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* A u32 as some host stores it in shared memory: ours, or (foreign) the other byte order. */
static void put4_host(unsigned char *p, uint32_t v, bool foreign)
{
    if (foreign)
        v = swap4(v);
    memcpy(p, &v, sizeof(v));
}

static void put2_host(unsigned char *p, uint16_t v, bool foreign)
{
    if (foreign)
        v = (uint16_t)((v >> 8) | (v << 8));
    memcpy(p, &v, sizeof(v));
}

/* fileformat2 4.2, literally: x(i) are 32-bit words in the given order, s0 += x(i) + s1;
 * s1 += x(i+1) + s0. */
static void ref_checksum(const unsigned char *a, size_t n, bool big, uint32_t out[2])
{
    uint32_t s0 = 0, s1 = 0;
    size_t i;

    for (i = 0; i < n; i += 8) {
        s0 += rd4(a + i, big) + s1;
        s1 += rd4(a + i + 4, big) + s0;
    }
    out[0] = s0;
    out[1] = s1;
}

/* Deterministic noise (xorshift32) for garbage buffers. */
static void fill_garbage(unsigned char *b, size_t n, uint32_t seed)
{
    uint32_t x = seed ? seed : 0x9e3779b9u;
    size_t i;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
}

/* ---- result strings -------------------------------------------------------------------- */

Test(fileformat, result_str)
{
    static const struct {
        enum ff_result r;
        const char *want;
    } cases[] = {
        {FF_OK, "ok"},
        {FF_TRUNCATED, "truncated"},
        {FF_BAD_MAGIC, "bad_magic"},
        {FF_BAD_VALUE, "bad_value"},
        {FF_BAD_CHECKSUM, "bad_checksum"},
        {FF_UNSTABLE, "unstable"},
        {FF_NOT_INIT, "not_init"},
        {(enum ff_result)99, "unknown"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_str_eq(fileformat_result_str(cases[i].r), cases[i].want, "result %d",
                         (int)cases[i].r);
}

/* ---- database header ------------------------------------------------------------------- */

/* Distinct byte patterns per field, so a wrong offset or byte order shows as a wrong value. */
#define DB_CHANGE 0x01020304u
#define DB_PAGES 0x0000abcdu
#define DB_FREELIST 0x00000007u
#define DB_COOKIE 0x11223344u
#define DB_ENCODING 2u
#define DB_USER_VERSION 0xdeadbeefu
#define DB_APP_ID 0x0f0e0d0cu
#define DB_LIB_VERSION 3040001u

struct db_case {
    const char *name;
    size_t len;               /* bytes handed to the parser; the buffer holds 4096 */
    unsigned char ps16, ps17; /* raw page-size bytes at offsets 16 and 17 */
    uint32_t valid_for;       /* offset 92 */
    void (*mutate)(unsigned char *b);
    enum ff_result want;
    uint32_t want_page_size;
    bool want_valid;
};

/* fileformat2 1.3: every field big-endian; the bytes in between get noise, not zeros. */
static void db_header_write(unsigned char *b, const struct db_case *c)
{
    size_t i;

    for (i = 0; i < 4096; i++)
        b[i] = (unsigned char)(i * 37u + 11u);
    memcpy(b, "SQLite format 3", 16); /* 1.3.1: the 16th byte is the NUL */
    b[16] = c->ps16;
    b[17] = c->ps17;
    b[18] = 2;
    b[19] = 2;
    put4_be(b + 24, DB_CHANGE);
    put4_be(b + 28, DB_PAGES);
    put4_be(b + 36, DB_FREELIST);
    put4_be(b + 40, DB_COOKIE);
    put4_be(b + 56, DB_ENCODING);
    put4_be(b + 60, DB_USER_VERSION);
    put4_be(b + 68, DB_APP_ID);
    put4_be(b + 92, c->valid_for);
    put4_be(b + 96, DB_LIB_VERSION);
}

static void mut_db_magic_case(unsigned char *b)
{
    b[0] = 's';
}
static void mut_db_magic_nul(unsigned char *b)
{
    b[15] = ' ';
}
static void mut_db_magic_version(unsigned char *b)
{
    b[14] = '4';
}
static void mut_db_garbage(unsigned char *b)
{
    fill_garbage(b, 4096, 1);
}
static void mut_db_zero(unsigned char *b)
{
    memset(b, 0, 4096);
}

static void check_db(const char *name, const struct ff_db_header *got,
                     const struct ff_db_header *want)
{
    cr_expect_eq(got->page_size, want->page_size, "%s: page_size %u", name, got->page_size);
    cr_expect_eq(got->write_version, want->write_version, "%s: write_version", name);
    cr_expect_eq(got->read_version, want->read_version, "%s: read_version", name);
    cr_expect_eq(got->change_counter, want->change_counter, "%s: change_counter", name);
    cr_expect_eq(got->header_page_count, want->header_page_count, "%s: page count", name);
    cr_expect_eq(got->freelist_pages, want->freelist_pages, "%s: freelist", name);
    cr_expect_eq(got->schema_cookie, want->schema_cookie, "%s: schema_cookie", name);
    cr_expect_eq(got->text_encoding, want->text_encoding, "%s: text_encoding", name);
    cr_expect_eq(got->user_version, want->user_version, "%s: user_version", name);
    cr_expect_eq(got->application_id, want->application_id, "%s: application_id", name);
    cr_expect_eq(got->version_valid_for, want->version_valid_for, "%s: valid_for", name);
    cr_expect_eq(got->sqlite_version, want->sqlite_version, "%s: sqlite_version", name);
    cr_expect_eq(got->version_valid, want->version_valid, "%s: version_valid", name);
}

Test(fileformat, db_header)
{
    static const struct db_case cases[] = {
        {"4096", 100, 0x10, 0x00, DB_CHANGE, NULL, FF_OK, 4096, true},
        {"512", 100, 0x02, 0x00, DB_CHANGE, NULL, FF_OK, 512, true},
        {"1024", 100, 0x04, 0x00, DB_CHANGE, NULL, FF_OK, 1024, true},
        {"32768", 100, 0x80, 0x00, DB_CHANGE, NULL, FF_OK, 32768, true},
        {"65536 stored as 1", 100, 0x00, 0x01, DB_CHANGE, NULL, FF_OK, 65536, true},
        {"longer buffer", 4096, 0x10, 0x00, DB_CHANGE, NULL, FF_OK, 4096, true},
        {"stale valid-for", 100, 0x10, 0x00, DB_CHANGE - 1, NULL, FF_OK, 4096, false},
        {"valid-for byte-swapped", 100, 0x10, 0x00, 0x04030201u, NULL, FF_OK, 4096, false},
        {"page size 0", 100, 0x00, 0x00, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 256", 100, 0x01, 0x00, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 1000", 100, 0x03, 0xe8, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 0xffff", 100, 0xff, 0xff, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 0x8001", 100, 0x80, 0x01, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 0x0101", 100, 0x01, 0x01, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 2 (131072)", 100, 0x00, 0x02, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"page size 0x0080", 100, 0x00, 0x80, DB_CHANGE, NULL, FF_BAD_VALUE, 0, false},
        {"magic lower case", 100, 0x10, 0x00, DB_CHANGE, mut_db_magic_case, FF_BAD_MAGIC, 0, false},
        {"magic without NUL", 100, 0x10, 0x00, DB_CHANGE, mut_db_magic_nul, FF_BAD_MAGIC, 0, false},
        {"magic format 4", 100, 0x10, 0x00, DB_CHANGE, mut_db_magic_version, FF_BAD_MAGIC, 0,
         false},
        {"garbage", 4096, 0x10, 0x00, DB_CHANGE, mut_db_garbage, FF_BAD_MAGIC, 0, false},
        {"zeros", 4096, 0x10, 0x00, DB_CHANGE, mut_db_zero, FF_BAD_MAGIC, 0, false},
        {"empty", 0, 0x10, 0x00, DB_CHANGE, NULL, FF_TRUNCATED, 0, false},
        {"1 byte", 1, 0x10, 0x00, DB_CHANGE, NULL, FF_TRUNCATED, 0, false},
        {"magic only", 16, 0x10, 0x00, DB_CHANGE, NULL, FF_TRUNCATED, 0, false},
        {"99 bytes", 99, 0x10, 0x00, DB_CHANGE, NULL, FF_TRUNCATED, 0, false},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct db_case *c = &cases[i];
        unsigned char buf[4096];
        struct ff_db_header got, want;
        enum ff_result r;

        db_header_write(buf, c);
        if (c->mutate)
            c->mutate(buf);
        memset(&got, 0xa5, sizeof(got));
        r = fileformat_parse_db_header(buf, c->len, &got);
        cr_expect_eq(r, c->want, "%s: got %s, want %s", c->name, fileformat_result_str(r),
                     fileformat_result_str(c->want));

        memset(&want, 0, sizeof(want)); /* anything but FF_OK leaves *out zeroed */
        if (c->want == FF_OK) {
            want.page_size = c->want_page_size;
            want.write_version = 2;
            want.read_version = 2;
            want.change_counter = DB_CHANGE;
            want.header_page_count = DB_PAGES;
            want.freelist_pages = DB_FREELIST;
            want.schema_cookie = DB_COOKIE;
            want.text_encoding = DB_ENCODING;
            want.user_version = DB_USER_VERSION;
            want.application_id = DB_APP_ID;
            want.version_valid_for = c->valid_for;
            want.sqlite_version = DB_LIB_VERSION;
            want.version_valid = c->want_valid;
        }
        check_db(c->name, &got, &want);
    }
}

Test(fileformat, db_pages)
{
    static const struct {
        const char *name;
        bool null_header;
        uint32_t header_pages;
        bool valid;
        uint32_t page_size;
        uint64_t file_size;
        uint64_t want;
    } cases[] = {
        /* In WAL mode the file can be shorter than the header says: the header wins. */
        {"valid header", false, 10, true, 4096, 4096 * 3, 10},
        {"valid header, larger file", false, 10, true, 4096, 4096 * 30, 10},
        {"valid but zero", false, 0, true, 4096, 4096 * 3, 3},
        {"stale header", false, 10, false, 4096, 4096 * 3, 3},
        {"partial last page", false, 0, false, 1024, 1024 * 5 + 100, 5},
        {"empty file", false, 0, false, 4096, 0, 0},
        {"64 KiB pages, 1 TiB", false, 0, false, 65536, (uint64_t)1 << 40, (uint64_t)1 << 24},
        {"page size 0", false, 0, false, 0, 4096, 0},
        {"NULL header", true, 0, false, 0, 4096, 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ff_db_header h;
        uint64_t got;

        memset(&h, 0, sizeof(h));
        h.header_page_count = cases[i].header_pages;
        h.version_valid = cases[i].valid;
        h.page_size = cases[i].page_size;
        got = fileformat_db_pages(cases[i].null_header ? NULL : &h, cases[i].file_size);
        cr_expect_eq(got, cases[i].want, "%s: got %llu", cases[i].name, (unsigned long long)got);
    }
}

/* ---- WAL header ------------------------------------------------------------------------ */

#define WAL_SEQ 7u
#define WAL_SALT1 0x9a8b7c6du
#define WAL_SALT2 0x12345678u

enum cksum_order { CK_LITTLE, CK_BIG };

struct wal_case {
    const char *name;
    size_t len; /* the buffer holds 4096 */
    uint32_t magic, version, page_size;
    enum cksum_order order;           /* word order the stored checksum was computed in */
    void (*mutate)(unsigned char *b); /* applied after the checksum was stored */
    enum ff_result want;
    bool want_fields; /* *out filled in (FF_OK, FF_BAD_CHECKSUM, version FF_BAD_VALUE) */
    bool want_checksum_valid;
};

/* wal.c "WAL Header Format": eight big-endian u32, the checksum over bytes 0..23 stored
 * big-endian whichever word order computed it. */
static void wal_header_write(unsigned char *b, const struct wal_case *c)
{
    uint32_t ck[2];

    fill_garbage(b, 4096, 7); /* frame bytes after the header */
    put4_be(b + 0, c->magic);
    put4_be(b + 4, c->version);
    put4_be(b + 8, c->page_size);
    put4_be(b + 12, WAL_SEQ);
    put4_be(b + 16, WAL_SALT1);
    put4_be(b + 20, WAL_SALT2);
    ref_checksum(b, 24, c->order == CK_BIG, ck);
    put4_be(b + 24, ck[0]);
    put4_be(b + 28, ck[1]);
}

static void mut_wal_cksum(unsigned char *b)
{
    b[31] ^= 0x01;
}
static void mut_wal_salt(unsigned char *b)
{
    b[17] ^= 0x80;
}
static void mut_wal_seq(unsigned char *b)
{
    b[15] ^= 0x02;
}
static void mut_wal_garbage(unsigned char *b)
{
    fill_garbage(b, 4096, 3);
}

Test(fileformat, wal_header)
{
    static const struct wal_case cases[] = {
        {"LE magic", 32, FF_WAL_MAGIC_LE, 3007000, 4096, CK_LITTLE, NULL, FF_OK, true, true},
        {"BE magic", 32, FF_WAL_MAGIC_BE, 3007000, 4096, CK_BIG, NULL, FF_OK, true, true},
        {"512", 32, FF_WAL_MAGIC_LE, 3007000, 512, CK_LITTLE, NULL, FF_OK, true, true},
        {"65536", 32, FF_WAL_MAGIC_BE, 3007000, 65536, CK_BIG, NULL, FF_OK, true, true},
        {"with frames", 4096, FF_WAL_MAGIC_LE, 3007000, 1024, CK_LITTLE, NULL, FF_OK, true, true},
        {"LE magic, BE checksum", 32, FF_WAL_MAGIC_LE, 3007000, 4096, CK_BIG, NULL, FF_BAD_CHECKSUM,
         true, false},
        {"BE magic, LE checksum", 32, FF_WAL_MAGIC_BE, 3007000, 4096, CK_LITTLE, NULL,
         FF_BAD_CHECKSUM, true, false},
        {"checksum bit flipped", 32, FF_WAL_MAGIC_LE, 3007000, 4096, CK_LITTLE, mut_wal_cksum,
         FF_BAD_CHECKSUM, true, false},
        {"salt changed", 32, FF_WAL_MAGIC_BE, 3007000, 4096, CK_BIG, mut_wal_salt, FF_BAD_CHECKSUM,
         true, false},
        {"sequence changed", 32, FF_WAL_MAGIC_LE, 3007000, 4096, CK_LITTLE, mut_wal_seq,
         FF_BAD_CHECKSUM, true, false},
        {"wal2 version", 32, FF_WAL_MAGIC_LE, 3021000, 4096, CK_LITTLE, NULL, FF_BAD_VALUE, true,
         true},
        {"version 0", 32, FF_WAL_MAGIC_BE, 0, 4096, CK_BIG, NULL, FF_BAD_VALUE, true, true},
        {"page size 0", 32, FF_WAL_MAGIC_LE, 3007000, 0, CK_LITTLE, NULL, FF_BAD_VALUE, false,
         false},
        {"page size 256", 32, FF_WAL_MAGIC_LE, 3007000, 256, CK_LITTLE, NULL, FF_BAD_VALUE, false,
         false},
        {"page size 1000", 32, FF_WAL_MAGIC_LE, 3007000, 1000, CK_LITTLE, NULL, FF_BAD_VALUE, false,
         false},
        {"page size 65535", 32, FF_WAL_MAGIC_LE, 3007000, 65535, CK_LITTLE, NULL, FF_BAD_VALUE,
         false, false},
        {"page size 131072", 32, FF_WAL_MAGIC_LE, 3007000, 131072, CK_LITTLE, NULL, FF_BAD_VALUE,
         false, false},
        {"magic - 1", 32, 0x377f0681u, 3007000, 4096, CK_BIG, NULL, FF_BAD_MAGIC, false, false},
        {"magic + 2", 32, 0x377f0684u, 3007000, 4096, CK_LITTLE, NULL, FF_BAD_MAGIC, false, false},
        {"magic byte-swapped", 32, 0x82067f37u, 3007000, 4096, CK_LITTLE, NULL, FF_BAD_MAGIC, false,
         false},
        {"magic zero", 32, 0, 3007000, 4096, CK_LITTLE, NULL, FF_BAD_MAGIC, false, false},
        {"garbage", 4096, FF_WAL_MAGIC_LE, 3007000, 4096, CK_LITTLE, mut_wal_garbage, FF_BAD_MAGIC,
         false, false},
        {"empty", 0, FF_WAL_MAGIC_LE, 3007000, 4096, CK_LITTLE, NULL, FF_TRUNCATED, false, false},
        {"1 byte", 1, FF_WAL_MAGIC_LE, 3007000, 4096, CK_LITTLE, NULL, FF_TRUNCATED, false, false},
        {"31 bytes", 31, FF_WAL_MAGIC_BE, 3007000, 4096, CK_BIG, NULL, FF_TRUNCATED, false, false},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct wal_case *c = &cases[i];
        unsigned char buf[4096];
        struct ff_wal_header got;
        enum ff_result r;
        uint32_t ck[2];

        wal_header_write(buf, c);
        ref_checksum(buf, 24, c->order == CK_BIG, ck); /* before any mutation */
        if (c->mutate)
            c->mutate(buf);
        memset(&got, 0xa5, sizeof(got));
        r = fileformat_parse_wal_header(buf, c->len, &got);
        cr_expect_eq(r, c->want, "%s: got %s, want %s", c->name, fileformat_result_str(r),
                     fileformat_result_str(c->want));
        if (!c->want_fields) {
            cr_expect_eq(got.magic, 0, "%s: magic not zeroed", c->name);
            cr_expect_eq(got.page_size, 0, "%s: page_size not zeroed", c->name);
            cr_expect_eq(got.salt1, 0, "%s: salt1 not zeroed", c->name);
            cr_expect_eq(got.checksum1, 0, "%s: checksum1 not zeroed", c->name);
            cr_expect_not(got.checksum_valid, "%s: checksum_valid set", c->name);
            continue;
        }
        cr_expect_eq(got.magic, c->magic, "%s: magic", c->name);
        cr_expect_eq(got.big_endian_checksum, c->magic == FF_WAL_MAGIC_BE, "%s: order", c->name);
        cr_expect_eq(got.format_version, c->version, "%s: version", c->name);
        cr_expect_eq(got.page_size, c->page_size, "%s: page_size", c->name);
        /* Mutated fields are expected as the bytes now say, the rest as written. */
        cr_expect_eq(got.checkpoint_seq, c->mutate == mut_wal_seq ? WAL_SEQ ^ 2u : WAL_SEQ,
                     "%s: checkpoint_seq", c->name);
        cr_expect_eq(got.salt1, c->mutate == mut_wal_salt ? WAL_SALT1 ^ 0x00800000u : WAL_SALT1,
                     "%s: salt1", c->name);
        cr_expect_eq(got.salt2, WAL_SALT2, "%s: salt2", c->name);
        cr_expect_eq(got.checksum1, ck[0], "%s: checksum1", c->name);
        cr_expect_eq(got.checksum2, c->mutate == mut_wal_cksum ? ck[1] ^ 1u : ck[1],
                     "%s: checksum2", c->name);
        cr_expect_eq(got.checksum_valid, c->want_checksum_valid, "%s: checksum_valid", c->name);
    }
}

/* ---- wal-index header ------------------------------------------------------------------ */

#define WI_CHANGE 0x0a0b0c0du
#define WI_MXFRAME 1234u
#define WI_NPAGE 567u
#define WI_NBACKFILL 1000u
#define WI_NBACKFILL_ATT 1001u
static const uint32_t wi_read_marks[5] = {0, 1234, 0xffffffffu, 77, 0xffffffffu};
/* aSalt is a byte copy of WAL header bytes 16..23 (wal.c walRestartHdr: "Big-endian salt
 * values"), so the same bytes in any host order. */
static const unsigned char wi_salt[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};

struct wi_case {
    const char *name;
    size_t len; /* the buffer holds 4096 */
    uint32_t version;
    unsigned char is_init;
    uint32_t page_size; /* stored in szPage the way walIndexWriteHdr's callers store it */
    bool foreign;       /* written by a host of the other byte order */
    void (*mutate)(unsigned char *b); /* applied after both copies were written */
    enum ff_result want;
};

/*
 * wal.c: struct WalIndexHdr (48 bytes) written twice, then WalCkptInfo at 96, all in the
 * writing host's order; aCksum = walChecksumBytes(native, hdr, 40).
 */
static void walindex_write(unsigned char *b, const struct wi_case *c)
{
    unsigned char h[48];
    uint32_t ck[2];
    uint16_t sz;
    int i;

    fill_garbage(b, 4096, 11); /* hash tables and page numbers after the header */
    memset(h, 0, sizeof(h));
    put4_host(h + 0, c->version, c->foreign);
    put4_host(h + 4, 0x55555555u, c->foreign); /* unused (mxFrame2 in wal2 builds) */
    put4_host(h + 8, WI_CHANGE, c->foreign);
    h[12] = c->is_init;
    h[13] = 0; /* bigEndCksum */
    /* sqlite3WalFrames/walIndexRecover: szPage = (szPage&0xff00) | (szPage>>16) */
    sz = (uint16_t)((c->page_size & 0xff00u) | (c->page_size >> 16));
    put2_host(h + 14, sz, c->foreign);
    put4_host(h + 16, WI_MXFRAME, c->foreign);
    put4_host(h + 20, WI_NPAGE, c->foreign);
    put4_host(h + 24, 0x11111111u, c->foreign); /* aFrameCksum */
    put4_host(h + 28, 0x22222222u, c->foreign);
    memcpy(h + 32, wi_salt, sizeof(wi_salt));
    /* The writer sums words in its own order: ours is host_is_big(), a foreign one's not. */
    ref_checksum(h, 40, c->foreign ? !host_is_big() : host_is_big(), ck);
    put4_host(h + 40, ck[0], c->foreign);
    put4_host(h + 44, ck[1], c->foreign);
    memcpy(b, h, 48);
    memcpy(b + 48, h, 48);

    put4_host(b + 96, WI_NBACKFILL, c->foreign);
    for (i = 0; i < 5; i++)
        put4_host(b + 100 + 4 * i, wi_read_marks[i], c->foreign);
    memset(b + 120, 0xaa, 8); /* aLock: never read */
    put4_host(b + 128, WI_NBACKFILL_ATT, c->foreign);
    put4_host(b + 132, 0x77777777u, c->foreign); /* notUsed0 */
}

static void mut_wi_copy2_frame(unsigned char *b)
{
    b[48 + 16] ^= 0x01;
}
static void mut_wi_copy2_cksum(unsigned char *b)
{
    b[48 + 47] ^= 0x40;
}
static void mut_wi_copy1_salt(unsigned char *b)
{
    b[33] ^= 0x10;
}
static void mut_wi_both_cksum(unsigned char *b)
{
    b[40] ^= 0x01;
    b[48 + 40] ^= 0x01;
}
static void mut_wi_both_mxframe(unsigned char *b)
{
    b[17] ^= 0x01;
    b[48 + 17] ^= 0x01;
}
static void mut_wi_zero(unsigned char *b)
{
    memset(b, 0, 136);
}
static void mut_wi_garbage(unsigned char *b)
{
    fill_garbage(b, 4096, 5);
}
/* Noise in both copies alike, isInit set: only the checksum can reject it. */
static void mut_wi_garbage_mirrored(unsigned char *b)
{
    fill_garbage(b, 48, 9);
    b[12] = 1;
    memcpy(b + 48, b, 48);
}
static void mut_wi_locks(unsigned char *b)
{
    memset(b + 120, 0xff, 8);
}

Test(fileformat, walindex)
{
    static const struct wi_case cases[] = {
        {"4096", 136, 3007000, 1, 4096, false, NULL, FF_OK},
        {"512", 136, 3007000, 1, 512, false, NULL, FF_OK},
        {"32768", 136, 3007000, 1, 32768, false, NULL, FF_OK},
        {"65536 stored as 1", 136, 3007000, 1, 65536, false, NULL, FF_OK},
        {"first 4 KiB of -shm", 4096, 3007000, 1, 4096, false, NULL, FF_OK},
        {"lock bytes ignored", 136, 3007000, 1, 4096, false, mut_wi_locks, FF_OK},
        {"copy 2 mxFrame differs", 136, 3007000, 1, 4096, false, mut_wi_copy2_frame, FF_UNSTABLE},
        {"copy 2 checksum differs", 136, 3007000, 1, 4096, false, mut_wi_copy2_cksum, FF_UNSTABLE},
        {"copy 1 salt differs", 136, 3007000, 1, 4096, false, mut_wi_copy1_salt, FF_UNSTABLE},
        {"isInit 0", 136, 3007000, 0, 4096, false, NULL, FF_NOT_INIT},
        {"zeroed by last close", 136, 3007000, 1, 4096, false, mut_wi_zero, FF_NOT_INIT},
        {"checksum wrong in both", 136, 3007000, 1, 4096, false, mut_wi_both_cksum,
         FF_BAD_CHECKSUM},
        {"mxFrame changed in both", 136, 3007000, 1, 4096, false, mut_wi_both_mxframe,
         FF_BAD_CHECKSUM},
        {"wrong-endian writer", 136, 3007000, 1, 4096, true, NULL, FF_BAD_CHECKSUM},
        {"wrong-endian, 65536", 136, 3007000, 1, 65536, true, NULL, FF_BAD_CHECKSUM},
        {"wal2 version", 136, 3021000, 1, 4096, false, NULL, FF_BAD_VALUE},
        {"version 0", 136, 0, 1, 4096, false, NULL, FF_BAD_VALUE},
        {"garbage", 4096, 3007000, 1, 4096, false, mut_wi_garbage, FF_UNSTABLE},
        {"mirrored garbage", 136, 3007000, 1, 4096, false, mut_wi_garbage_mirrored,
         FF_BAD_CHECKSUM},
        {"empty", 0, 3007000, 1, 4096, false, NULL, FF_TRUNCATED},
        {"1 byte", 1, 3007000, 1, 4096, false, NULL, FF_TRUNCATED},
        {"one copy", 48, 3007000, 1, 4096, false, NULL, FF_TRUNCATED},
        {"two copies, no ckpt info", 96, 3007000, 1, 4096, false, NULL, FF_TRUNCATED},
        {"135 bytes", 135, 3007000, 1, 4096, false, NULL, FF_TRUNCATED},
    };
    size_t i;
    int k;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct wi_case *c = &cases[i];
        unsigned char buf[4096];
        struct ff_walindex got;
        enum ff_result r;
        bool ok = c->want == FF_OK;

        walindex_write(buf, c);
        if (c->mutate)
            c->mutate(buf);
        memset(&got, 0xa5, sizeof(got));
        r = fileformat_parse_walindex(buf, c->len, &got);
        cr_expect_eq(r, c->want, "%s: got %s, want %s", c->name, fileformat_result_str(r),
                     fileformat_result_str(c->want));
        /* Anything but FF_OK leaves *out zeroed. */
        cr_expect_eq(got.version, ok ? c->version : 0, "%s: version", c->name);
        cr_expect_eq(got.change, ok ? WI_CHANGE : 0, "%s: change", c->name);
        cr_expect_eq(got.page_size, ok ? c->page_size : 0, "%s: page_size %u", c->name,
                     got.page_size);
        cr_expect_eq(got.mx_frame, ok ? WI_MXFRAME : 0, "%s: mx_frame", c->name);
        cr_expect_eq(got.n_page, ok ? WI_NPAGE : 0, "%s: n_page", c->name);
        cr_expect_eq(got.salt1, ok ? 0xdeadbeefu : 0, "%s: salt1 %08x", c->name, got.salt1);
        cr_expect_eq(got.salt2, ok ? 0x01020304u : 0, "%s: salt2 %08x", c->name, got.salt2);
        cr_expect_eq(got.n_backfill, ok ? WI_NBACKFILL : 0, "%s: n_backfill", c->name);
        cr_expect_eq(got.n_backfill_attempted, ok ? WI_NBACKFILL_ATT : 0,
                     "%s: n_backfill_attempted", c->name);
        for (k = 0; k < 5; k++)
            cr_expect_eq(got.read_marks[k], ok ? wi_read_marks[k] : 0, "%s: read_marks[%d]",
                         c->name, k);
    }
}

/* ---- every prefix, in an exact-size heap block (ASan sees any read past len) ----------- */

static enum ff_result parse_db(const unsigned char *b, size_t n)
{
    struct ff_db_header h;

    return fileformat_parse_db_header(b, n, &h);
}

static enum ff_result parse_wal(const unsigned char *b, size_t n)
{
    struct ff_wal_header h;

    return fileformat_parse_wal_header(b, n, &h);
}

static enum ff_result parse_wi(const unsigned char *b, size_t n)
{
    struct ff_walindex w;

    return fileformat_parse_walindex(b, n, &w);
}

Test(fileformat, every_prefix)
{
    static const struct db_case db = {"", 100, 0x10, 0x00, DB_CHANGE, NULL, FF_OK, 4096, true};
    static const struct wal_case wal = {"",        32,   FF_WAL_MAGIC_LE, 3007000, 4096,
                                        CK_LITTLE, NULL, FF_OK,           true,    true};
    static const struct wi_case wi = {"", 136, 3007000, 1, 4096, false, NULL, FF_OK};
    static unsigned char full[3][4096];
    static const struct {
        const char *name;
        enum ff_result (*parse)(const unsigned char *, size_t);
        size_t size;
    } cases[] = {
        {"db header", parse_db, FF_DB_HEADER_SIZE},
        {"wal header", parse_wal, FF_WAL_HEADER_SIZE},
        {"wal-index", parse_wi, FF_WALINDEX_READ_SIZE},
    };
    size_t i, n;

    db_header_write(full[0], &db);
    wal_header_write(full[1], &wal);
    walindex_write(full[2], &wi);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (n = 0; n <= cases[i].size; n++) {
            unsigned char *b = malloc(n ? n : 1);
            enum ff_result r;

            cr_assert_not_null(b);
            memcpy(b, full[i], n);
            r = cases[i].parse(b, n);
            cr_expect_eq(r, n < cases[i].size ? FF_TRUNCATED : FF_OK, "%s, %zu bytes: %s",
                         cases[i].name, n, fileformat_result_str(r));
            free(b);
        }
    }
}

/* ---- real files written by SQLite ------------------------------------------------------ */

static char real_dir[64];
static char real_db[128];
static sqlite3 *real_conn;
static int real_wal_frames = -1;

static void real_cleanup(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[160];
    size_t i;

    if (real_conn)
        sqlite3_close(real_conn);
    real_conn = NULL;
    if (!real_dir[0])
        return;
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", real_db, suffixes[i]);
        unlink(path);
    }
    rmdir(real_dir);
}

static int real_wal_hook(void *arg, sqlite3 *db, const char *name, int n_frames)
{
    (void)arg;
    (void)db;
    (void)name;
    real_wal_frames = n_frames;
    return SQLITE_OK;
}

static void real_exec(const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(real_conn, sql, NULL, NULL, &err);

    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err ? err : "?");
    sqlite3_free(err);
}

/* The first row of sql, columns 0..n-1 as integers. */
static void real_row(const char *sql, sqlite3_int64 *out, int n)
{
    sqlite3_stmt *st = NULL;
    int i;

    cr_assert_eq(sqlite3_prepare_v2(real_conn, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(real_conn));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(real_conn));
    for (i = 0; i < n; i++)
        out[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
}

static sqlite3_int64 real_int(const char *sql)
{
    sqlite3_int64 v;

    real_row(sql, &v, 1);
    return v;
}

/* pread exactly n bytes from the start of path (the way the sampler reads). */
static void real_read(const char *suffix, unsigned char *buf, size_t n, uint64_t *size)
{
    char path[160];
    struct stat st;
    ssize_t got;
    int fd;

    snprintf(path, sizeof(path), "%s%s", real_db, suffix);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open %s", path);
    got = pread(fd, buf, n, 0);
    cr_assert_eq(fstat(fd, &st), 0);
    close(fd);
    cr_assert_eq(got, (ssize_t)n, "pread %s: %zd", path, got);
    if (size)
        *size = (uint64_t)st.st_size;
}

Test(fileformat, real_wal_database, .fini = real_cleanup)
{
    unsigned char dbh[FF_DB_HEADER_SIZE], walh[FF_WAL_HEADER_SIZE], shm[FF_WALINDEX_READ_SIZE];
    struct ff_db_header h;
    struct ff_wal_header w;
    struct ff_walindex wi;
    sqlite3_int64 page_count, ckpt[3];
    uint64_t db_size;
    sqlite3_stmt *st = NULL;

    snprintf(real_dir, sizeof(real_dir), "/tmp/test_fileformat.XXXXXX");
    cr_assert_not_null(mkdtemp(real_dir), "mkdtemp");
    snprintf(real_db, sizeof(real_db), "%s/real.db", real_dir);
    cr_assert_eq(sqlite3_open(real_db, &real_conn), SQLITE_OK);

    /* An unusual page size and header values, so defaults cannot pass by accident. */
    real_exec("PRAGMA page_size=8192");
    cr_assert_eq(sqlite3_prepare_v2(real_conn, "PRAGMA journal_mode=WAL", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* PRAGMA wal_autocheckpoint installs its own wal hook, so ours goes in after it; a wal
     * hook also keeps SQLite from checkpointing on its own. */
    real_exec("PRAGMA wal_autocheckpoint=0");
    sqlite3_wal_hook(real_conn, real_wal_hook, NULL);
    real_exec("PRAGMA user_version=4242;"
              "PRAGMA application_id=305419896;" /* 0x12345678 */
              "CREATE TABLE t(x);"
              "BEGIN;"
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<200)"
              "  INSERT INTO t SELECT randomblob(500) FROM n;"
              "COMMIT;"
              "DELETE FROM t WHERE rowid BETWEEN 40 AND 160;"); /* frees whole pages */

    /* Phase 1: backfill everything, so the database file's own header is current. */
    real_row("PRAGMA wal_checkpoint(TRUNCATE)", ckpt, 3);
    cr_assert_eq(ckpt[0], 0, "checkpoint busy");
    page_count = real_int("PRAGMA page_count");
    real_read("", dbh, sizeof(dbh), &db_size);
    cr_assert_eq(fileformat_parse_db_header(dbh, sizeof(dbh), &h), FF_OK);
    cr_expect_eq(h.page_size, (uint32_t)real_int("PRAGMA page_size"));
    cr_expect_eq(h.page_size, 8192u);
    cr_expect_eq(h.write_version, 2, "WAL mode writes 2 at offset 18");
    cr_expect_eq(h.read_version, 2);
    cr_expect_eq(h.header_page_count, (uint32_t)page_count);
    cr_expect(h.version_valid);
    cr_expect_eq(fileformat_db_pages(&h, db_size), (uint64_t)page_count);
    cr_expect_eq(db_size / 8192u, (uint64_t)page_count);
    cr_expect_eq(h.freelist_pages, (uint32_t)real_int("PRAGMA freelist_count"));
    cr_expect_gt(h.freelist_pages, 0u);
    cr_expect_eq(h.schema_cookie, (uint32_t)real_int("PRAGMA schema_version"));
    cr_expect_eq(h.text_encoding, 1u, "UTF-8");
    cr_expect_eq(h.user_version, 4242u);
    cr_expect_eq(h.application_id, 0x12345678u);
    cr_expect_eq(h.sqlite_version, (uint32_t)sqlite3_libversion_number());

    /* Phase 2: new frames in the WAL while the connection stays open. */
    real_wal_frames = -1;
    real_exec("BEGIN;"
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<50)"
              "  INSERT INTO t SELECT randomblob(700) FROM n;"
              "COMMIT;");
    cr_assert_gt(real_wal_frames, 0, "wal hook not called");
    page_count = real_int("PRAGMA page_count");

    real_read("-wal", walh, sizeof(walh), NULL);
    cr_assert_eq(fileformat_parse_wal_header(walh, sizeof(walh), &w), FF_OK);
    /* sqlite3WalFrames writes WAL_MAGIC | SQLITE_BIGENDIAN: the writer's own order. */
    cr_expect_eq(w.big_endian_checksum, host_is_big());
    cr_expect_eq(w.magic, host_is_big() ? FF_WAL_MAGIC_BE : FF_WAL_MAGIC_LE);
    cr_expect_eq(w.format_version, 3007000u);
    cr_expect_eq(w.page_size, 8192u);
    cr_expect(w.checksum_valid);

    real_read("-shm", shm, sizeof(shm), NULL);
    cr_assert_eq(fileformat_parse_walindex(shm, sizeof(shm), &wi), FF_OK);
    cr_expect_eq(wi.version, 3007000u);
    cr_expect_eq(wi.page_size, 8192u);
    cr_expect_eq(wi.mx_frame, (uint32_t)real_wal_frames, "mx_frame %u, hook %d", wi.mx_frame,
                 real_wal_frames);
    cr_expect_eq(wi.n_page, (uint32_t)page_count);
    cr_expect_eq(wi.salt1, w.salt1, "wal-index salt1 %08x, WAL header %08x", wi.salt1, w.salt1);
    cr_expect_eq(wi.salt2, w.salt2, "wal-index salt2 %08x, WAL header %08x", wi.salt2, w.salt2);
    cr_expect_eq(wi.n_backfill, 0u, "nothing checkpointed since the WAL restarted");
    cr_expect_eq(wi.read_marks[0], 0u, "aReadMark[0] is always 0");

    /* Phase 3: a passive checkpoint reports (busy, log frames, checkpointed frames). */
    real_row("PRAGMA wal_checkpoint(PASSIVE)", ckpt, 3);
    cr_expect_eq(ckpt[0], 0);
    cr_expect_eq(ckpt[1], real_wal_frames);
    real_read("-shm", shm, sizeof(shm), NULL);
    cr_assert_eq(fileformat_parse_walindex(shm, sizeof(shm), &wi), FF_OK);
    cr_expect_eq(wi.mx_frame, (uint32_t)ckpt[1]);
    cr_expect_eq(wi.n_backfill, (uint32_t)ckpt[2], "n_backfill %u, checkpointed %lld",
                 wi.n_backfill, (long long)ckpt[2]);
    cr_expect_eq(wi.n_backfill_attempted, (uint32_t)ckpt[2]);
}

/* ---- WAL frames ------------------------------------------------------------------------ */

#define FR_PS 1024u
#define FR_SALT1 0x01020304u
#define FR_SALT2 0xa0b0c0d0u

/* One frame as walEncodeFrame writes it, the checksum continued from prev (fileformat2 4.2,
 * in the order the chain names). */
static void frame_write(unsigned char *f, uint32_t pgno, uint32_t commit, bool big,
                        const uint32_t prev[2], uint32_t out[2])
{
    uint32_t s[2];
    unsigned char both[8 + FR_PS];

    put4_be(f, pgno);
    put4_be(f + 4, commit);
    put4_be(f + 8, FR_SALT1);
    put4_be(f + 12, FR_SALT2);
    fill_garbage(f + 24, FR_PS, pgno + 7);
    memcpy(both, f, 8);
    memcpy(both + 8, f + 24, FR_PS);
    /* fileformat2 4.2 continued from the previous frame's sums, word by word. */
    s[0] = prev[0];
    s[1] = prev[1];
    for (size_t i = 0; i < sizeof(both); i += 8) {
        s[0] += rd4(both + i, big) + s[1];
        s[1] += rd4(both + i + 4, big) + s[0];
    }
    put4_be(f + 16, s[0]);
    put4_be(f + 20, s[1]);
    out[0] = s[0];
    out[1] = s[1];
}

static void mut_fr_none(unsigned char *f)
{
    (void)f;
}
static void mut_fr_salt1(unsigned char *f)
{
    f[8] ^= 1;
}
static void mut_fr_salt2(unsigned char *f)
{
    f[15] ^= 0x80;
}
static void mut_fr_pgno0(unsigned char *f)
{
    memset(f, 0, 4);
}
static void mut_fr_page(unsigned char *f)
{
    f[24 + FR_PS - 1] ^= 1;
}
static void mut_fr_commit(unsigned char *f)
{
    f[7] ^= 1;
}
static void mut_fr_cksum(unsigned char *f)
{
    f[23] ^= 1;
}

Test(fileformat, wal_frame)
{
    static const struct {
        const char *name;
        bool big;
        size_t len;
        uint32_t chain_ps;
        void (*mutate)(unsigned char *f);
        enum ff_result want;
    } cases[] = {
        {"valid, little-endian sums", false, 24 + FR_PS, FR_PS, mut_fr_none, FF_OK},
        {"valid, big-endian sums", true, 24 + FR_PS, FR_PS, mut_fr_none, FF_OK},
        {"longer buffer", false, 24 + FR_PS + 9, FR_PS, mut_fr_none, FF_OK},
        {"salt1 of another generation", false, 24 + FR_PS, FR_PS, mut_fr_salt1, FF_WRONG_SALT},
        {"salt2 of another generation", true, 24 + FR_PS, FR_PS, mut_fr_salt2, FF_WRONG_SALT},
        {"page number 0", false, 24 + FR_PS, FR_PS, mut_fr_pgno0, FF_BAD_VALUE},
        {"page byte changed", false, 24 + FR_PS, FR_PS, mut_fr_page, FF_BAD_CHECKSUM},
        {"commit size changed", true, 24 + FR_PS, FR_PS, mut_fr_commit, FF_BAD_CHECKSUM},
        {"stored checksum changed", false, 24 + FR_PS, FR_PS, mut_fr_cksum, FF_BAD_CHECKSUM},
        {"header only", false, 24, FR_PS, mut_fr_none, FF_TRUNCATED},
        {"short header", false, 23, FR_PS, mut_fr_none, FF_TRUNCATED},
        {"page one byte short", false, 24 + FR_PS - 1, FR_PS, mut_fr_none, FF_TRUNCATED},
        {"chain with a bad page size", false, 24 + FR_PS, 1000, mut_fr_none, FF_BAD_VALUE},
    };
    static unsigned char f[2 * (24 + FR_PS)];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint32_t prev[2] = {0x11111111u, 0x22222222u};
        struct ff_wal_chain c = {
            cases[i].chain_ps, FR_SALT1, FR_SALT2, cases[i].big, {prev[0], prev[1]}};
        struct ff_wal_frame out;
        uint32_t want_sum[2];

        memset(f, 0xee, sizeof(f));
        frame_write(f, 77, 5, cases[i].big, prev, want_sum);
        cases[i].mutate(f);
        enum ff_result r = fileformat_parse_wal_frame(f, cases[i].len, &c, &out);
        cr_expect_eq(r, cases[i].want, "%s: %s", cases[i].name, fileformat_result_str(r));
        if (r == FF_OK) {
            cr_expect_eq(out.pgno, 77u, "%s", cases[i].name);
            cr_expect_eq(out.commit_pages, 5u, "%s", cases[i].name);
            cr_expect_eq(c.cksum[0], want_sum[0], "%s: chain advances", cases[i].name);
            cr_expect_eq(c.cksum[1], want_sum[1], "%s", cases[i].name);
        } else {
            cr_expect_eq(c.cksum[0], prev[0], "%s: chain unchanged", cases[i].name);
            cr_expect_eq(c.cksum[1], prev[1], "%s", cases[i].name);
        }
    }
}

Test(fileformat, wal_frame_offset)
{
    cr_expect_eq(fileformat_wal_frame_offset(4096, 0), 0u);
    cr_expect_eq(fileformat_wal_frame_offset(4096, 1), 32u);
    cr_expect_eq(fileformat_wal_frame_offset(4096, 2), 32u + 4120u);
    cr_expect_eq(fileformat_wal_frame_offset(65536, 100000), 32u + 99999ull * 65560u);
}

/* Every frame SQLite wrote verifies, chained from its WAL header, up to mxFrame, with the
 * page numbers and commit sizes it wrote; the next frame slot (none) does not. */
Test(fileformat, real_wal_frames, .fini = real_cleanup)
{
    unsigned char shm[FF_WALINDEX_READ_SIZE];
    struct ff_wal_header w;
    struct ff_walindex wi;
    struct ff_wal_chain c;
    struct ff_wal_frame fr;
    uint64_t wal_size;
    uint32_t commits = 0, last_commit = 0;

    snprintf(real_dir, sizeof(real_dir), "/tmp/test_fileformat.XXXXXX");
    cr_assert_not_null(mkdtemp(real_dir), "mkdtemp");
    snprintf(real_db, sizeof(real_db), "%s/frames.db", real_dir);
    cr_assert_eq(sqlite3_open(real_db, &real_conn), SQLITE_OK);
    real_exec("PRAGMA page_size=2048; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
              "CREATE TABLE t(x); CREATE INDEX ti ON t(x);");
    for (int i = 0; i < 20; i++)
        real_exec("INSERT INTO t SELECT randomblob(300) FROM (SELECT 1 UNION ALL SELECT 2);");

    real_read("-shm", shm, sizeof(shm), NULL);
    cr_assert_eq(fileformat_parse_walindex(shm, sizeof(shm), &wi), FF_OK);
    cr_assert_gt(wi.mx_frame, 20u);
    unsigned char hdr[FF_WAL_HEADER_SIZE];
    real_read("-wal", hdr, sizeof(hdr), &wal_size);
    cr_assert_eq(fileformat_parse_wal_header(hdr, sizeof(hdr), &w), FF_OK);
    fileformat_wal_chain_init(&w, &c);

    size_t fsz = 24 + 2048;
    unsigned char *all = malloc(wal_size);
    cr_assert_not_null(all);
    real_read("-wal", all, wal_size, NULL);
    for (uint32_t i = 1; i <= wi.mx_frame; i++) {
        uint64_t off = fileformat_wal_frame_offset(2048, i);
        cr_assert_leq(off + fsz, wal_size);
        enum ff_result r = fileformat_parse_wal_frame(all + off, fsz, &c, &fr);
        cr_assert_eq(r, FF_OK, "frame %u: %s", i, fileformat_result_str(r));
        cr_expect_gt(fr.pgno, 0u);
        if (fr.commit_pages) {
            commits++;
            last_commit = i;
        }
    }
    cr_expect_eq(last_commit, wi.mx_frame, "mxFrame is the last commit frame");
    cr_expect_geq(commits, 21u, "one commit frame per transaction");
    cr_expect_eq(fr.commit_pages, wi.n_page);
    /* WalIndexHdr.aFrameCksum (offset 24, native order) is the last frame's checksum. */
    uint32_t ack[2];
    memcpy(ack, shm + 24, sizeof(ack));
    cr_expect_eq(c.cksum[0], ack[0], "chain %08x, wal-index %08x", c.cksum[0], ack[0]);
    cr_expect_eq(c.cksum[1], ack[1]);
    free(all);
}

/* What a check's snapshot pins (checker.c, wal_pinned): whole frames of 24 + page_size bytes
 * since the snapshot's mxFrame, all of the log after a restart (new salt), never negative. */
Test(fileformat, wal_bytes_since)
{
    static const struct {
        uint32_t mx, salt, page_size, snap_mx, snap_salt;
        uint64_t want;
    } rows[] = {
        {100, 7, 4096, 100, 7, 0},             /* nothing written past it */
        {101, 7, 4096, 100, 7, 4120},          /* one frame */
        {8192, 7, 4096, 0, 7, 8192ull * 4120}, /* from an empty log */
        {50, 7, 4096, 100, 7, 0},              /* behind the snapshot: 0, not a wrap */
        {3, 8, 4096, 100, 7, 3ull * 4120},     /* restarted: every frame is newer */
        {0, 8, 4096, 100, 7, 0},               /* restarted, nothing written yet */
        {2, 7, 65536, 1, 7, 65560},            /* 64 KiB pages */
        {UINT32_MAX, 7, 65536, 0, 7, (uint64_t)UINT32_MAX * 65560}, /* no overflow */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ff_walindex h = {
            .mx_frame = rows[i].mx, .salt1 = rows[i].salt, .page_size = rows[i].page_size};
        cr_expect_eq(fileformat_wal_bytes_since(&h, rows[i].snap_mx, rows[i].snap_salt),
                     rows[i].want, "row %zu", i);
    }
}
