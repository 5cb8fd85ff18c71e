/*
 * fileformat.h: pure parsers for SQLite's on-disk headers.
 *
 * Each parser decodes a byte buffer the caller has already read; no I/O, no allocation, no
 * global state. They are the fuzz targets: any input, of any length, yields a result code and
 * never a crash. Sources: SQLite's "Database File Format" (fileformat2.html) and src/wal.c.
 */
#ifndef SQLITE_AGENT_FILEFORMAT_H
#define SQLITE_AGENT_FILEFORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ff_result {
    FF_OK = 0,
    FF_TRUNCATED,    /* buffer shorter than the structure */
    FF_BAD_MAGIC,    /* not the expected magic string or number */
    FF_BAD_VALUE,    /* a field outside what SQLite itself accepts (e.g. page size) */
    FF_BAD_CHECKSUM, /* checksum does not match the content */
    FF_UNSTABLE,     /* wal-index: the two header copies differ (a writer is mid-update) */
    FF_NOT_INIT,     /* wal-index: header copies agree but isInit is 0 */
    FF_WRONG_SALT,   /* WAL frame: salts of another WAL generation (walDecodeFrame) */
};

/* A short stable word for logs and metrics labels: "ok", "truncated", "bad_magic", ... */
const char *fileformat_result_str(enum ff_result r);

/* The first 100 bytes of the database file (fileformat2, 1.3). */
#define FF_DB_HEADER_SIZE 100

struct ff_db_header {
    uint32_t page_size;         /* bytes; the stored value 1 means 65536 (offset 16) */
    uint8_t write_version;      /* 1 legacy, 2 WAL (offset 18) */
    uint8_t read_version;       /* 1 legacy, 2 WAL (offset 19) */
    uint32_t change_counter;    /* offset 24 */
    uint32_t header_page_count; /* in-header database size in pages (offset 28) */
    uint32_t freelist_pages;    /* total freelist pages (offset 36) */
    uint32_t schema_cookie;     /* offset 40 */
    uint32_t text_encoding;     /* 1 UTF-8, 2 UTF-16le, 3 UTF-16be (offset 56) */
    uint32_t user_version;      /* offset 60 */
    uint32_t application_id;    /* offset 68 */
    uint32_t version_valid_for; /* offset 92 */
    uint32_t sqlite_version;    /* SQLITE_VERSION_NUMBER of the last writer (offset 96) */
    /* True when offset 92 equals the change counter: only then are the in-header page count
     * and the writer version at offset 96 current (fileformat2, 1.3.7 and 1.3.16). */
    bool version_valid;
};

/* FF_OK, FF_TRUNCATED (len < 100), FF_BAD_MAGIC ("SQLite format 3\0" missing),
 * FF_BAD_VALUE (page size not a power of two in 512..65536). */
enum ff_result fileformat_parse_db_header(const unsigned char *buf, size_t len,
                                          struct ff_db_header *out);

/* Page count as SQLite computes it: the in-header count when version_valid and nonzero, else
 * file_size / page_size. */
uint64_t fileformat_db_pages(const struct ff_db_header *h, uint64_t file_size);

/* The 32-byte WAL header (fileformat2, 4.1; wal.c "WAL Header Format"). All fields big-endian;
 * the magic's low bit selects the byte order of the checksums. */
#define FF_WAL_HEADER_SIZE 32
#define FF_WAL_MAGIC_LE 0x377f0682u
#define FF_WAL_MAGIC_BE 0x377f0683u

struct ff_wal_header {
    uint32_t magic;
    bool big_endian_checksum; /* magic 0x377f0683 */
    uint32_t format_version;  /* 3007000 */
    uint32_t page_size;
    uint32_t checkpoint_seq;
    uint32_t salt1, salt2;
    uint32_t checksum1, checksum2;
    bool checksum_valid; /* header checksum over bytes 0..23 matches bytes 24..31 */
};

/* FF_OK, FF_TRUNCATED, FF_BAD_MAGIC, FF_BAD_VALUE (page size, or a format version other than
 * 3007000, which walIndexRecover refuses), FF_BAD_CHECKSUM. On FF_BAD_CHECKSUM and on a bad
 * version every field of *out is still filled in. */
enum ff_result fileformat_parse_wal_header(const unsigned char *buf, size_t len,
                                           struct ff_wal_header *out);

/*
 * The wal-index header at the start of the -shm file, in the *native* byte order of the host
 * that wrote it (wal.c, "WAL-INDEX FORMAT"): two copies of the 48-byte WalIndexHdr, then the
 * WalCkptInfo block (nBackfill, aReadMark[5], aLock[8], nBackfillAttempted, notUsed0).
 */
#define FF_WALINDEX_HDR_SIZE 48
#define FF_WALINDEX_READ_SIZE 136 /* 2 * 48 + sizeof(WalCkptInfo) = 40 */

struct ff_walindex {
    uint32_t version;      /* iVersion, 3007000 */
    uint32_t change;       /* iChange */
    uint32_t page_size;    /* decoded from szPage as wal.c does */
    uint32_t mx_frame;     /* last valid frame in the WAL */
    uint32_t n_page;       /* database size in pages */
    uint32_t salt1, salt2; /* big-endian: a byte copy of WAL header bytes 16..23 (walRestartHdr) */
    uint32_t n_backfill;   /* frames already copied back to the database */
    uint32_t n_backfill_attempted; /* frames a checkpoint attempted */
    uint32_t read_marks[5];
};

/* Accepts only when both header copies are byte-for-byte equal, isInit is set and the
 * native-order checksum over the first 40 bytes matches (as walIndexTryHdr does).
 * FF_TRUNCATED (len < 136), FF_UNSTABLE (copies differ), FF_NOT_INIT, FF_BAD_CHECKSUM,
 * FF_BAD_VALUE (iVersion not 3007000). */
enum ff_result fileformat_parse_walindex(const unsigned char *buf, size_t len,
                                         struct ff_walindex *out);

/*
 * WAL frames (fileformat2, 4.1; wal.c "WAL Frame Format", walEncodeFrame/walDecodeFrame): a
 * 24-byte big-endian header, then one page. Frame i (from 1) starts at byte
 * 32 + (i-1)*(24+page_size) of the -wal file (wal.c walFrameOffset).
 */
#define FF_WAL_FRAME_HDR_SIZE 24

/* Where frame i (1-based) starts in the -wal file; 0 for frame 0, which does not exist. */
uint64_t fileformat_wal_frame_offset(uint32_t page_size, uint32_t frame);

/* Bytes of WAL (whole frames) the wal-index header `now` shows written since a reader's
 * snapshot began at frame snap_mx with salt1 snap_salt1. A new salt means the log started over
 * since (wal.c walRestartHdr), which only a snapshot on read mark 0 allows: every frame in it
 * is newer. Never negative: an mxFrame behind the snapshot's counts 0. */
uint64_t fileformat_wal_bytes_since(const struct ff_walindex *now, uint32_t snap_mx,
                                    uint32_t snap_salt1);

struct ff_wal_frame {
    uint32_t pgno;         /* database page the frame holds (offset 0) */
    uint32_t commit_pages; /* database size in pages after a commit; 0 otherwise (offset 4) */
    uint32_t salt1, salt2; /* copies of the WAL header's salts (offsets 8, 12) */
    uint32_t checksum1, checksum2; /* cumulative checksum up to this frame (offsets 16, 20) */
};

/*
 * What a frame is checked against: its WAL's salts and byte order, and the cumulative
 * checksum so far (fileformat2 4.2: it starts as the WAL header's checksum and each valid
 * frame's checksum is the next starting point; walIndexRecover, walDecodeFrame).
 */
struct ff_wal_chain {
    uint32_t page_size;
    uint32_t salt1, salt2;
    bool big_endian_checksum;
    uint32_t cksum[2];
};

/* A chain starting at frame 1 of the WAL whose header (parsed FF_OK) is h. */
void fileformat_wal_chain_init(const struct ff_wal_header *h, struct ff_wal_chain *out);

/*
 * Decodes and verifies one whole frame (header + chain->page_size bytes at buf) as
 * walDecodeFrame does: the salts equal the chain's, the page number is not 0, and the
 * checksum over the header's first 8 bytes and the page, continued from chain->cksum, equals
 * the one stored. On FF_OK chain->cksum advances to this frame's checksum; on any other
 * result the chain is unchanged. *out is filled in whenever len holds the 24-byte header.
 * FF_TRUNCATED (len < 24 + page size), FF_WRONG_SALT, FF_BAD_VALUE (page number 0 or a chain
 * whose page size SQLite would not accept), FF_BAD_CHECKSUM.
 */
enum ff_result fileformat_parse_wal_frame(const unsigned char *buf, size_t len,
                                          struct ff_wal_chain *chain, struct ff_wal_frame *out);

#endif
