/*
 * fileformat.c: pure parsers for SQLite's on-disk headers (see fileformat.h).
 *
 * Sources, read before writing any decoding line:
 *   - "Database File Format" (sqlite.org/fileformat2.html), 1.3 "The Database Header" and
 *     4 "The Write-Ahead Log" (4.1 WAL file format, 4.2 checksum algorithm).
 *   - src/btree.c lockBtree(): magic check, page-size decoding and the in-header page count
 *     rule (nPage==0 or offset 24 != offset 92 -> use the file size).
 *   - src/wal.c: the "WAL-INDEX FORMAT" comment, struct WalIndexHdr and WalCkptInfo with the
 *     136-byte schematic, walChecksumBytes(), walIndexRecover() (WAL header validation) and
 *     walIndexTryHdr() (wal-index header validation), walRestartHdr() (salts).
 *
 * Every multi-byte read goes through the get helpers below: big-endian and little-endian are
 * assembled from bytes, native order is read with memcpy. No unaligned pointer casts.
 */
#include "fileformat.h"

#include <string.h>

/* fileformat2, 1.3.1 "Magic Header String": 16 bytes, the NUL included. */
static const unsigned char ff_db_magic[16] = "SQLite format 3";

/* wal.c: WAL_MAGIC; the low bit set means big-endian checksums. */
#define FF_WAL_MAGIC_MASK 0xfffffffeu

/* wal.c: WAL_VERSION1 / WAL_MAX_VERSION, stored in both the WAL header and WalIndexHdr. */
#define FF_WAL_VERSION 3007000u

/* wal.c: SQLITE_MAX_PAGE_SIZE is 65536; btree.c and walIndexRecover() reject < 512. */
#define FF_MIN_PAGE_SIZE 512u
#define FF_MAX_PAGE_SIZE 65536u

/* Byte offsets in the 136-byte wal-index header (wal.c, the schematic after WalCkptInfo). */
#define WI_VERSION 0         /* u32 iVersion */
#define WI_CHANGE 8          /* u32 iChange (offset 4 is unused padding) */
#define WI_ISINIT 12         /* u8 isInit */
#define WI_SZPAGE 14         /* u16 szPage (offset 13 is u8 bigEndCksum) */
#define WI_MXFRAME 16        /* u32 mxFrame */
#define WI_NPAGE 20          /* u32 nPage */
#define WI_SALT 32           /* u32 aSalt[2] (offset 24 is aFrameCksum[2]) */
#define WI_CKSUM 40          /* u32 aCksum[2]: offsetof(WalIndexHdr, aCksum) */
#define WI_NBACKFILL 96      /* WalCkptInfo.nBackfill, right after the two copies */
#define WI_READMARK 100      /* WalCkptInfo.aReadMark[WAL_NREADER] */
#define WI_NBACKFILL_ATT 128 /* WalCkptInfo.nBackfillAttempted (120..127 are aLock[8]) */
#define WI_NREADER 5         /* wal.c: WAL_NREADER = SQLITE_SHM_NLOCK - 3 */

enum ff_order { FF_ORDER_BIG, FF_ORDER_LITTLE, FF_ORDER_NATIVE };

/* btree.c and wal.c: sqlite3Get4byte(), the big-endian order of every on-disk integer. */
static uint32_t get4_be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint32_t get4_le(const unsigned char *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[0];
}

/* The wal-index is shared memory in the writer's native order (wal.c, "WAL-INDEX FORMAT"). */
static uint32_t get4_native(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint16_t get2_native(const unsigned char *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t get4_ordered(const unsigned char *p, enum ff_order order)
{
    switch (order) {
    case FF_ORDER_BIG:
        return get4_be(p);
    case FF_ORDER_LITTLE:
        return get4_le(p);
    case FF_ORDER_NATIVE:
    default:
        return get4_native(p);
    }
}

/*
 * wal.c walChecksumBytes(), fileformat2 4.2: the input is read as pairs of 32-bit words
 * x[i], x[i+1] in the given byte order, and
 *     s0 += x[i] + s1;  s1 += x[i+1] + s0;
 * with 32-bit wrap-around, continuing from s[0], s[1] (0, 0 for a header; the previous
 * frame's checksum for a frame). n must be a multiple of 8: the callers pass 24, 40, 8 or a
 * page size. The two byte orders get a loop each: a frame's page is most of what is summed.
 */
static void wal_checksum_continue(const unsigned char *a, size_t n, enum ff_order order,
                                  uint32_t s[2])
{
    uint32_t s0 = s[0], s1 = s[1];
    size_t i;

    if (order == FF_ORDER_BIG) {
        for (i = 0; i + 8 <= n; i += 8) {
            s0 += get4_be(a + i) + s1;
            s1 += get4_be(a + i + 4) + s0;
        }
    } else {
        for (i = 0; i + 8 <= n; i += 8) {
            s0 += get4_ordered(a + i, order) + s1;
            s1 += get4_ordered(a + i + 4, order) + s0;
        }
    }
    s[0] = s0;
    s[1] = s1;
}

static void wal_checksum(const unsigned char *a, size_t n, enum ff_order order, uint32_t out[2])
{
    out[0] = 0;
    out[1] = 0;
    wal_checksum_continue(a, n, order, out);
}

static bool page_size_ok(uint32_t page_size)
{
    return page_size >= FF_MIN_PAGE_SIZE && page_size <= FF_MAX_PAGE_SIZE &&
           (page_size & (page_size - 1)) == 0;
}

const char *fileformat_result_str(enum ff_result r)
{
    switch (r) {
    case FF_OK:
        return "ok";
    case FF_TRUNCATED:
        return "truncated";
    case FF_BAD_MAGIC:
        return "bad_magic";
    case FF_BAD_VALUE:
        return "bad_value";
    case FF_BAD_CHECKSUM:
        return "bad_checksum";
    case FF_UNSTABLE:
        return "unstable";
    case FF_NOT_INIT:
        return "not_init";
    case FF_WRONG_SALT:
        return "wrong_salt";
    }
    return "unknown";
}

/*
 * fileformat2, 1.3: all multi-byte fields of the 100-byte header are big-endian. *out is
 * zeroed first and filled in only on FF_OK.
 */
enum ff_result fileformat_parse_db_header(const unsigned char *buf, size_t len,
                                          struct ff_db_header *out)
{
    struct ff_db_header h;
    uint32_t page_size;

    memset(out, 0, sizeof(*out));
    if (len < FF_DB_HEADER_SIZE)
        return FF_TRUNCATED;
    /* btree.c lockBtree(): memcmp(page1, zMagicHeader, 16). */
    if (memcmp(buf, ff_db_magic, sizeof(ff_db_magic)) != 0)
        return FF_BAD_MAGIC;

    /* fileformat2, 1.3.2 "Page Size"; btree.c lockBtree() decodes
     * pageSize = (page1[16]<<8) | (page1[17]<<16), i.e. the field read little-endian times
     * 256, so the stored value 1 (bytes 00 01) becomes 65536. Anything that is not a power
     * of two in 512..65536 is rejected, as lockBtree() rejects it (pageSize<=256 etc.). */
    page_size = ((uint32_t)buf[16] << 8) | ((uint32_t)buf[17] << 16);
    if (!page_size_ok(page_size))
        return FF_BAD_VALUE;

    memset(&h, 0, sizeof(h));
    h.page_size = page_size;
    h.write_version = buf[18];               /* 1.3.3 file format version numbers */
    h.read_version = buf[19];                /* 1.3.3 */
    h.change_counter = get4_be(buf + 24);    /* 1.3.6 file change counter */
    h.header_page_count = get4_be(buf + 28); /* 1.3.7 in-header database size */
    h.freelist_pages = get4_be(buf + 36);    /* 1.3.8 free page list: total count */
    h.schema_cookie = get4_be(buf + 40);     /* 1.3.9 schema cookie */
    h.text_encoding = get4_be(buf + 56);     /* 1.3.13 text encoding */
    h.user_version = get4_be(buf + 60);      /* 1.3.14 user version number */
    h.application_id = get4_be(buf + 68);    /* 1.3.15 application ID */
    /* 1.3.16 "Write library version number and version-valid-for number". */
    h.version_valid_for = get4_be(buf + 92);
    h.sqlite_version = get4_be(buf + 96);
    /* 1.3.7: the in-header size is only trusted when offset 92 matches the change counter
     * (a legacy writer that did not know about it would have left 92 behind); btree.c
     * compares the same two 4-byte fields with memcmp. */
    h.version_valid = h.version_valid_for == h.change_counter;
    *out = h;
    return FF_OK;
}

/*
 * btree.c lockBtree(): nPage = get4byte(28); if nPage==0 or bytes 24..27 differ from 92..95,
 * nPage = the file's size in pages. A NULL header or a zero page size (never produced by the
 * parser on FF_OK) yields 0 rather than a division by zero.
 */
uint64_t fileformat_db_pages(const struct ff_db_header *h, uint64_t file_size)
{
    if (!h)
        return 0;
    if (h->version_valid && h->header_page_count != 0)
        return h->header_page_count;
    if (h->page_size == 0)
        return 0;
    return file_size / h->page_size;
}

/*
 * wal.c "WAL Header Format" and fileformat2 4.1: eight big-endian u32s. Checks run in the
 * order walIndexRecover() runs them: magic, page size, header checksum over bytes 0..23 (word
 * order chosen by the magic's low bit), then the format version (SQLite answers
 * SQLITE_CANTOPEN for a well-formed header of another version; we report FF_BAD_VALUE).
 * *out is zeroed first; filled in on FF_OK and on the two results found after the checksum
 * was computed (FF_BAD_CHECKSUM, FF_BAD_VALUE for the version).
 */
enum ff_result fileformat_parse_wal_header(const unsigned char *buf, size_t len,
                                           struct ff_wal_header *out)
{
    struct ff_wal_header h;
    uint32_t cksum[2];

    memset(out, 0, sizeof(*out));
    if (len < FF_WAL_HEADER_SIZE)
        return FF_TRUNCATED;

    memset(&h, 0, sizeof(h));
    h.magic = get4_be(buf + 0);
    if ((h.magic & FF_WAL_MAGIC_MASK) != FF_WAL_MAGIC_LE)
        return FF_BAD_MAGIC;
    h.big_endian_checksum = (h.magic & 1u) != 0;
    h.format_version = get4_be(buf + 4);
    h.page_size = get4_be(buf + 8); /* the full size: 65536 is stored as 65536 here */
    if (!page_size_ok(h.page_size))
        return FF_BAD_VALUE;
    h.checkpoint_seq = get4_be(buf + 12);
    h.salt1 = get4_be(buf + 16);
    h.salt2 = get4_be(buf + 20);
    h.checksum1 = get4_be(buf + 24); /* stored big-endian whatever order computed them */
    h.checksum2 = get4_be(buf + 28);

    wal_checksum(buf, 24, h.big_endian_checksum ? FF_ORDER_BIG : FF_ORDER_LITTLE, cksum);
    h.checksum_valid = cksum[0] == h.checksum1 && cksum[1] == h.checksum2;
    *out = h;
    if (!h.checksum_valid)
        return FF_BAD_CHECKSUM;
    if (h.format_version != FF_WAL_VERSION)
        return FF_BAD_VALUE;
    return FF_OK;
}

/*
 * wal.c walIndexTryHdr(): the two 48-byte WalIndexHdr copies must be identical (memcmp),
 * isInit must be set, and walChecksumBytes(1, hdr, sizeof(hdr)-sizeof(aCksum)) -- a *native*
 * order checksum over the first 40 bytes -- must equal aCksum. walIndexReadHdr() then refuses
 * an iVersion other than WAL_MAX_VERSION. A wal-index written by a host of the other byte
 * order fails the checksum (and the version) and is never accepted.
 * *out is zeroed first and filled in only on FF_OK.
 */
enum ff_result fileformat_parse_walindex(const unsigned char *buf, size_t len,
                                         struct ff_walindex *out)
{
    struct ff_walindex w;
    uint32_t cksum[2];
    uint32_t sz;
    int i;

    memset(out, 0, sizeof(*out));
    if (len < FF_WALINDEX_READ_SIZE)
        return FF_TRUNCATED;
    if (memcmp(buf, buf + FF_WALINDEX_HDR_SIZE, FF_WALINDEX_HDR_SIZE) != 0)
        return FF_UNSTABLE;
    if (buf[WI_ISINIT] == 0)
        return FF_NOT_INIT;
    wal_checksum(buf, WI_CKSUM, FF_ORDER_NATIVE, cksum);
    if (cksum[0] != get4_native(buf + WI_CKSUM) || cksum[1] != get4_native(buf + WI_CKSUM + 4))
        return FF_BAD_CHECKSUM;
    if (get4_native(buf + WI_VERSION) != FF_WAL_VERSION)
        return FF_BAD_VALUE;

    memset(&w, 0, sizeof(w));
    w.version = get4_native(buf + WI_VERSION);
    w.change = get4_native(buf + WI_CHANGE);
    /* wal.c walIndexTryHdr()/walPagesize(): szPage is a u16, 65536 stored as 1. */
    sz = get2_native(buf + WI_SZPAGE);
    w.page_size = (sz & 0xfe00u) + ((sz & 0x0001u) << 16);
    w.mx_frame = get4_native(buf + WI_MXFRAME);
    w.n_page = get4_native(buf + WI_NPAGE);
    /* wal.c walRestartHdr(): "Big-endian salt values". aSalt is a byte copy of WAL header
     * bytes 16..23 (memcpy in walIndexRecover() and sqlite3WalFrames()), so it is decoded
     * big-endian and compares equal to ff_wal_header.salt1/salt2. */
    w.salt1 = get4_be(buf + WI_SALT);
    w.salt2 = get4_be(buf + WI_SALT + 4);
    w.n_backfill = get4_native(buf + WI_NBACKFILL);
    for (i = 0; i < WI_NREADER; i++)
        w.read_marks[i] = get4_native(buf + WI_READMARK + 4 * i);
    w.n_backfill_attempted = get4_native(buf + WI_NBACKFILL_ATT);
    *out = w;
    return FF_OK;
}

/* wal.c walFrameOffset(): WAL_HDRSIZE + (iFrame-1)*(szPage+WAL_FRAME_HDRSIZE). */
uint64_t fileformat_wal_frame_offset(uint32_t page_size, uint32_t frame)
{
    if (frame == 0)
        return 0;
    return FF_WAL_HEADER_SIZE + (uint64_t)(frame - 1) * (FF_WAL_FRAME_HDR_SIZE + page_size);
}

uint64_t fileformat_wal_bytes_since(const struct ff_walindex *now, uint32_t snap_mx,
                                    uint32_t snap_salt1)
{
    uint32_t frames = now->salt1 != snap_salt1  ? now->mx_frame
                      : now->mx_frame > snap_mx ? now->mx_frame - snap_mx
                                                : 0;
    return (uint64_t)frames * (FF_WAL_FRAME_HDR_SIZE + (uint64_t)now->page_size);
}

/* walIndexRecover(): aFrameCksum starts as the header's checksum (bytes 24..31); the salts
 * are compared as bytes, so big-endian values compare equal whatever the host. */
void fileformat_wal_chain_init(const struct ff_wal_header *h, struct ff_wal_chain *out)
{
    memset(out, 0, sizeof(*out));
    out->page_size = h->page_size;
    out->salt1 = h->salt1;
    out->salt2 = h->salt2;
    out->big_endian_checksum = h->big_endian_checksum;
    out->cksum[0] = h->checksum1;
    out->cksum[1] = h->checksum2;
}

/*
 * wal.c walDecodeFrame(), in its order: salts (memcmp of bytes 8..15 with the header's),
 * page number not 0, then walChecksumBytes over frame bytes 0..7 and the page, continued
 * from the previous checksum, against bytes 16..23. The byte order is the one the WAL
 * header's magic names (nativeCksum = bigEndCksum==SQLITE_BIGENDIAN). The checksum is
 * computed on a copy, so the chain moves only for a valid frame.
 */
enum ff_result fileformat_parse_wal_frame(const unsigned char *buf, size_t len,
                                          struct ff_wal_chain *chain, struct ff_wal_frame *out)
{
    enum ff_order order = chain->big_endian_checksum ? FF_ORDER_BIG : FF_ORDER_LITTLE;
    uint32_t cksum[2];

    memset(out, 0, sizeof(*out));
    if (!page_size_ok(chain->page_size))
        return FF_BAD_VALUE;
    if (len < FF_WAL_FRAME_HDR_SIZE)
        return FF_TRUNCATED;
    out->pgno = get4_be(buf + 0);
    out->commit_pages = get4_be(buf + 4);
    out->salt1 = get4_be(buf + 8);
    out->salt2 = get4_be(buf + 12);
    out->checksum1 = get4_be(buf + 16);
    out->checksum2 = get4_be(buf + 20);
    if (len < FF_WAL_FRAME_HDR_SIZE + (size_t)chain->page_size)
        return FF_TRUNCATED;
    if (out->salt1 != chain->salt1 || out->salt2 != chain->salt2)
        return FF_WRONG_SALT;
    if (out->pgno == 0)
        return FF_BAD_VALUE;
    cksum[0] = chain->cksum[0];
    cksum[1] = chain->cksum[1];
    wal_checksum_continue(buf, 8, order, cksum);
    wal_checksum_continue(buf + FF_WAL_FRAME_HDR_SIZE, chain->page_size, order, cksum);
    if (cksum[0] != out->checksum1 || cksum[1] != out->checksum2)
        return FF_BAD_CHECKSUM;
    chain->cksum[0] = cksum[0];
    chain->cksum[1] = cksum[1];
    return FF_OK;
}
