/*
 * ckaudit.h: the checkpoint audit. Verifies from outside that what a checkpoint claims to have
 * copied into the database file is really there.
 *
 * The claim (wal.c walCheckpoint): once WalCkptInfo.nBackfill is published as B, every page
 * whose latest frame at or below the checkpoint's safe frame was copied; readers that start
 * later read those pages from the database file, not from the WAL (walTryBeginRead). So for
 * every page whose LATEST frame in the current WAL generation is at or below B, the database
 * file's page must equal that frame's content. A page that also has a frame above B is not
 * judged: a checkpoint skips a page whose latest frame is beyond its safe frame
 * ("iFrame>mxSafeFrame -> continue"), so the file legitimately holds an older image of it.
 *
 * The WAL-reset race (fixed in SQLite 3.51.3, check-in 7168988acbec2d8d) breaks the claim: a
 * checkpointer publishes a stale nBackfill after a writer restarted the WAL, and committed
 * frames below it are never copied. This module sees that damage directly.
 *
 * Order of reads, and why: the claim (nBackfill) comes from a wal-index header read BEFORE the
 * database pages, the frame list from one read AFTER them. A page read later than the claim
 * holds at least what the claim says; any frame a checkpoint could have copied into it in the
 * meantime is in the later list, and makes the page "has a newer frame", so not judged.
 *
 * Incremental: the frame map (page -> latest frame and a hash of its content) and the
 * cumulative checksum are carried across audits of one WAL generation (same salts), so each
 * frame is read once, when the application has just written it, and each audit reads only the
 * pages a checkpoint has just claimed. Any change of salts starts over.
 *
 * No I/O of its own: the caller passes a read function (the watch thread passes pread on its
 * descriptors; the tests pass byte buffers). No locks, nothing written.
 */
#ifndef SQLITE_AGENT_CKAUDIT_H
#define SQLITE_AGENT_CKAUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fileformat.h"

/* Frames of one generation the audit follows; past this (a 1 GiB WAL at 4 KiB pages) the
 * generation is left unaudited (counted) until the WAL restarts. Bounds the frame map. */
#define CKAUDIT_FRAMES_MAX (1u << 18)
/* Bytes of WAL read at once; a buffer of this size plus one largest frame is kept per audit. */
#define CKAUDIT_READ_BYTES (1u << 20)
/* Pages judged in one audit; more claimed pages are judged in the audits after. */
#define CKAUDIT_PAGES_MAX 1024u
/* Lost pages reported in detail per audit (all are counted). */
#define CKAUDIT_FINDINGS_MAX 16u
/* Immediate re-reads of a wal-index header whose copies differ, inside one audit. */
#define CKAUDIT_HDR_TRIES 5

enum ckaudit_file { CKAUDIT_DB = 0, CKAUDIT_WAL, CKAUDIT_SHM };

struct ckaudit_reader {
    /* Up to len bytes of file f at off into buf: the count read (fewer at end of file), or
     * -1 on error. */
    ssize_t (*read)(void *arg, enum ckaudit_file f, unsigned char *buf, size_t len, uint64_t off);
    void *arg;
};

enum ckaudit_outcome {
    CKAUDIT_IDLE = 0,  /* nothing newly claimed: no audit was due */
    CKAUDIT_DONE,      /* an audit ran to the end (findings, if any, in the report) */
    CKAUDIT_DROPPED,   /* the generation changed or the header could not be re-read: no verdict */
    CKAUDIT_NO_WAL,    /* no WAL generation matching the wal-index to follow now */
    CKAUDIT_TOO_LARGE, /* this generation has more than CKAUDIT_FRAMES_MAX frames */
    CKAUDIT_STUCK,     /* a frame at or below mxFrame does not verify: not followed further */
    CKAUDIT_ERROR,     /* a read failed, or out of memory */
};

/* "idle", "done", "dropped", "no_wal", "too_large", "stuck", "error" */
const char *ckaudit_outcome_str(enum ckaudit_outcome o);

struct ckaudit_finding {
    uint32_t pgno;  /* database page */
    uint32_t frame; /* the frame whose content the database file should hold */
};

struct ckaudit_report {
    enum ckaudit_outcome outcome;
    uint32_t claim;         /* audited through this frame */
    uint32_t frames_added;  /* frames read and verified in this call */
    uint32_t pages_checked; /* judged: equal or lost */
    uint32_t pages_skipped; /* claimed but not judged: a newer frame came in meanwhile */
    uint32_t pages_lost;    /* confirmed on a second read */
    uint32_t nfindings;     /* of pages_lost, the first CKAUDIT_FINDINGS_MAX */
    struct ckaudit_finding findings[CKAUDIT_FINDINGS_MAX];
};

struct ckaudit;

struct ckaudit *ckaudit_new(void);    /* NULL when out of memory */
void ckaudit_free(struct ckaudit *a); /* accepts NULL */
/* Forgets the generation (say, the files were replaced). */
void ckaudit_reset(struct ckaudit *a);

/*
 * One step, given the wal-index header h (parsed FF_OK, read just now by the caller): follows
 * the generation h names (restarting when its salts differ from the one followed), reads the
 * frames up to h->mx_frame not read yet, and when nBackfill claims frames not audited yet,
 * audits them (database pages, then the wal-index again through rd, then the new frames,
 * then a second read of each page found different). Fills *rep.
 */
void ckaudit_step(struct ckaudit *a, const struct ff_walindex *h, const struct ckaudit_reader *rd,
                  struct ckaudit_report *rep);

/* Whether ckaudit_step would do anything for h: new salts, new frames, a claim not audited
 * yet, or a WAL that did not match last time now with other frames. The watch calls it every
 * tick; it reads nothing. */
bool ckaudit_due(const struct ckaudit *a, const struct ff_walindex *h);

/* A 64-bit hash of a page's bytes, for comparing a database page with a frame's content. */
uint64_t ckaudit_hash(const unsigned char *p, size_t n);

#endif
