/*
 * test_ckaudit.c: the checkpoint audit over byte buffers: a database file, a -wal and a -shm
 * held in memory, written here the way SQLite writes them (wal.c walEncodeFrame,
 * walIndexWriteHdr, walCheckpoint, walRestartHdr) and read by the audit through its reader
 * callback. Hand-made bytes: a real process cannot produce the race's end state on demand
 * with the system's SQLite, and the other states need exact timing (a checkpoint between
 * two reads of the audit), which a hook on the reader gives.
 *
 * Every case ends in one ckaudit_step whose report is checked; only the race's end states
 * (and a storage that drops writes) are findings.
 */
#include "ckaudit.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define PS 512u
#define MAXPAGES 2048u
#define MAXFRAMES 4096u
#define FSZ (24u + PS)

struct world {
    unsigned char db[PS * MAXPAGES];
    size_t db_len;
    unsigned char wal[32 + MAXFRAMES * FSZ];
    size_t wal_len;
    unsigned char shm[136];
    uint32_t salt1, salt2, cksum[2];
    uint32_t nframes; /* frames written in this generation */
    uint32_t mx_frame, n_backfill, n_page;
    /* Reader hooks: a torn read of one page, and a change made after the n-th page read. */
    uint32_t tear_pgno;
    int tears;
    int page_reads;
    int hook_after_page_reads;
    void (*hook)(struct world *w);
    int db_reads_of[MAXPAGES + 1];
};

static void put4_be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t rd4_le(const unsigned char *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* fileformat2 4.2 literally, little-endian words (the WAL magic 0x377f0682 below), continued
 * from s. */
static void ref_cksum(const unsigned char *a, size_t n, uint32_t s[2])
{
    for (size_t i = 0; i < n; i += 8) {
        s[0] += rd4_le(a + i) + s[1];
        s[1] += rd4_le(a + i + 4) + s[0];
    }
}

/* Native-order checksum over the wal-index header (walIndexWriteHdr). */
static void native_cksum(const unsigned char *a, size_t n, uint32_t s[2])
{
    s[0] = s[1] = 0;
    for (size_t i = 0; i < n; i += 8) {
        uint32_t x0, x1;
        memcpy(&x0, a + i, 4);
        memcpy(&x1, a + i + 4, 4);
        s[0] += x0 + s[1];
        s[1] += x1 + s[0];
    }
}

static void page_content(unsigned char *p, uint32_t pgno, uint32_t version)
{
    for (uint32_t i = 0; i < PS; i++)
        p[i] = (unsigned char)(pgno * 31u + version * 7u + i * 13u);
}

/* wal.c WalIndexHdr (two copies) and WalCkptInfo, native order. */
static void shm_write(struct world *w)
{
    unsigned char h[48];
    uint32_t v, ck[2];
    uint16_t sz = (uint16_t)PS;

    memset(h, 0, sizeof(h));
    v = 3007000u;
    memcpy(h + 0, &v, 4);
    memcpy(h + 8, &w->nframes, 4); /* iChange: anything */
    h[12] = 1;                     /* isInit */
    memcpy(h + 14, &sz, 2);
    memcpy(h + 16, &w->mx_frame, 4);
    memcpy(h + 20, &w->n_page, 4);
    put4_be(h + 32, w->salt1); /* aSalt: a byte copy of the WAL header's */
    put4_be(h + 36, w->salt2);
    native_cksum(h, 40, ck);
    memcpy(h + 40, ck, 8);
    memcpy(w->shm, h, 48);
    memcpy(w->shm + 48, h, 48);
    memcpy(w->shm + 96, &w->n_backfill, 4);
}

/* A new WAL header with new salts (sqlite3WalFrames after walRestartHdr): frames of the old
 * generation after the ones rewritten stay in the file. */
static void wal_restart(struct world *w, uint32_t salt1, uint32_t salt2)
{
    unsigned char *h = w->wal;

    put4_be(h + 0, 0x377f0682u);
    put4_be(h + 4, 3007000u);
    put4_be(h + 8, PS);
    put4_be(h + 12, salt1);
    put4_be(h + 16, salt1);
    put4_be(h + 20, salt2);
    w->cksum[0] = w->cksum[1] = 0;
    ref_cksum(h, 24, w->cksum);
    put4_be(h + 24, w->cksum[0]);
    put4_be(h + 28, w->cksum[1]);
    if (w->wal_len < 32)
        w->wal_len = 32;
    w->salt1 = salt1;
    w->salt2 = salt2;
    w->nframes = w->mx_frame = w->n_backfill = 0;
    shm_write(w);
}

/* walEncodeFrame; a commit frame (commit_pages != 0) publishes mxFrame. */
static void wal_frame(struct world *w, uint32_t pgno, uint32_t version, uint32_t commit_pages)
{
    unsigned char *f = w->wal + 32 + (size_t)w->nframes * FSZ;

    put4_be(f, pgno);
    put4_be(f + 4, commit_pages);
    put4_be(f + 8, w->salt1);
    put4_be(f + 12, w->salt2);
    page_content(f + 24, pgno, version);
    ref_cksum(f, 8, w->cksum);
    ref_cksum(f + 24, PS, w->cksum);
    put4_be(f + 16, w->cksum[0]);
    put4_be(f + 20, w->cksum[1]);
    w->nframes++;
    if ((size_t)(f - w->wal) + FSZ > w->wal_len)
        w->wal_len = (size_t)(f - w->wal) + FSZ;
    if (commit_pages != 0) {
        w->mx_frame = w->nframes;
        w->n_page = commit_pages;
        shm_write(w);
    }
}

/* Pages 1..n at version v in one transaction. */
static void wal_commit_range(struct world *w, uint32_t first, uint32_t n, uint32_t v,
                             uint32_t db_pages)
{
    for (uint32_t p = first; p < first + n; p++)
        wal_frame(w, p, v, p + 1 == first + n ? db_pages : 0);
}

static uint32_t frame_pgno(const struct world *w, uint32_t frame)
{
    const unsigned char *f = w->wal + 32 + (size_t)(frame - 1) * FSZ;
    return ((uint32_t)f[0] << 24) | ((uint32_t)f[1] << 16) | ((uint32_t)f[2] << 8) | f[3];
}

/* wal.c walCheckpoint with mxSafeFrame = safe: each page's latest frame up to mxFrame is
 * copied when it is above nBackfill and at most safe and the page is within nPage; when safe
 * is mxFrame the file is truncated to nPage. publish: store nBackfill (a checkpoint that has
 * copied but not yet published is publish = false). */
static void checkpoint(struct world *w, uint32_t safe, bool publish)
{
    static uint32_t latest[MAXPAGES + 1];

    memset(latest, 0, sizeof(latest));
    for (uint32_t f = 1; f <= w->mx_frame; f++)
        latest[frame_pgno(w, f)] = f;
    for (uint32_t p = 1; p <= MAXPAGES; p++) {
        uint32_t f = latest[p];
        if (f == 0 || f <= w->n_backfill || f > safe || p > w->n_page)
            continue;
        memcpy(w->db + (size_t)(p - 1) * PS, w->wal + 32 + (size_t)(f - 1) * FSZ + 24, PS);
        if ((size_t)p * PS > w->db_len)
            w->db_len = (size_t)p * PS;
    }
    if (safe == w->mx_frame && (size_t)w->n_page * PS < w->db_len)
        w->db_len = (size_t)w->n_page * PS;
    if (publish) {
        w->n_backfill = safe;
        shm_write(w);
    }
}

static ssize_t world_read(void *arg, enum ckaudit_file f, unsigned char *buf, size_t len,
                          uint64_t off)
{
    struct world *w = arg;
    const unsigned char *src = f == CKAUDIT_DB ? w->db : f == CKAUDIT_WAL ? w->wal : w->shm;
    size_t size = f == CKAUDIT_DB ? w->db_len : f == CKAUDIT_WAL ? w->wal_len : sizeof(w->shm);
    size_t n;

    /* The hook runs before the page read it is set for, as another process would. */
    if (f == CKAUDIT_DB && w->hook && w->page_reads++ == w->hook_after_page_reads) {
        w->hook(w);
        src = f == CKAUDIT_DB ? w->db : src;
        size = w->db_len;
    }
    n = off >= size ? 0 : (size - off < len ? size - off : len);
    memcpy(buf, src + off, n);
    if (f == CKAUDIT_DB) {
        uint32_t pgno = (uint32_t)(off / PS) + 1;
        w->db_reads_of[pgno]++;
        if (pgno == w->tear_pgno && w->tears > 0 && n > 0) {
            w->tears--;
            buf[n / 2] ^= 0xff; /* a page being written: half old, half new */
        }
    }
    return (ssize_t)n;
}

static void step(struct world *w, struct ckaudit *a, struct ckaudit_report *rep)
{
    struct ckaudit_reader rd = {world_read, w};
    struct ff_walindex h;

    cr_assert_eq(fileformat_parse_walindex(w->shm, sizeof(w->shm), &h), FF_OK);
    ckaudit_step(a, &h, &rd, rep);
}

/* A first generation, fully checkpointed: 8 pages at version 1 in the database file. */
static void base(struct world *w, struct ckaudit *a)
{
    struct ckaudit_report rep;

    wal_restart(w, 0x1111, 0xaaaa);
    wal_commit_range(w, 1, 8, 1, 8);
    checkpoint(w, w->mx_frame, true);
    step(w, a, &rep);
    cr_assert_eq(rep.outcome, CKAUDIT_DONE, "base: %s", ckaudit_outcome_str(rep.outcome));
    cr_assert_eq(rep.pages_lost, 0);
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void clean_backfill(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 2, 4, 2, 8);  /* frames 9..12 */
    wal_commit_range(w, 9, 3, 2, 11); /* frames 13..15, the database grows */
    checkpoint(w, w->mx_frame, true);
}

/* A reader held frame 10 (aReadMark): the checkpoint's safe frame is 10; page 3's latest frame
 * (11) is beyond it, so page 3 is skipped and keeps version 1 in the file. */
static void skipped_beyond_safe(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 2, 2, 2, 8); /* frames 9 (page 2), 10 (page 3) */
    wal_frame(w, 3, 3, 8);           /* frame 11: page 3 again */
    checkpoint(w, 10, true);
}

/* A checkpoint has copied frames 11..14 but not yet published nBackfill: the file holds newer
 * pages (4, 5, 6) than nBackfill = 10 says. Only pages 2 and 3 are claimed, and equal. */
static void in_progress(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 2, 4, 2, 8); /* frames 9..12: pages 2..5 */
    checkpoint(w, 10, true);
    wal_frame(w, 4, 3, 8); /* frame 13 */
    wal_frame(w, 6, 3, 8); /* frame 14 */
    checkpoint(w, w->mx_frame, false);
}

/* A writer and a checkpoint between the audit's first header read and its page reads: pages
 * 1 and 2 get newer frames, copied into the file, which now differs from the claimed frames
 * 9 and 10. Read in the other order this would be two false findings. */
static void write_and_checkpoint(struct world *w)
{
    wal_commit_range(w, 1, 2, 3, 8); /* frames 15..16 */
    checkpoint(w, w->mx_frame, true);
}

static void completes_during_audit(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 1, 6, 2, 8); /* frames 9..14 */
    checkpoint(w, 11, true);         /* claims pages 1..3 */
    w->hook_after_page_reads = 0;    /* before the first page read */
    w->hook = write_and_checkpoint;
}

/* A RESTART: new salts, frames 1..3 rewritten; the old generation's frames 4..8 are still in
 * the file with the old salts and must not be taken for current ones. */
static void restarted(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_restart(w, 0x1112, 0xbbbb);
    wal_commit_range(w, 5, 3, 3, 8);
    checkpoint(w, w->mx_frame, true);
}

/* The salts change between the audit's page reads and its second header read: no verdict. */
static void restart_under_audit(struct world *w)
{
    wal_restart(w, 0x1113, 0xcccc);
    wal_commit_range(w, 1, 8, 9, 8);
    checkpoint(w, w->mx_frame, true);
}

static void restarted_during_audit(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 1, 4, 2, 8);
    checkpoint(w, w->mx_frame, true);
    w->hook_after_page_reads = 2;
    w->hook = restart_under_audit;
}

static void torn_read(struct world *w, struct ckaudit *a)
{
    clean_backfill(w, a);
    w->tear_pgno = 3;
    w->tears = 1;
}

/* A commit shrinks the database to 5 pages (an incremental vacuum); pages 6..8 are gone. */
static void truncated(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 6, 3, 2, 8); /* frames 9..11: pages 6..8 */
    wal_frame(w, 1, 2, 5);           /* frame 12: commit, database of 5 pages */
    checkpoint(w, w->mx_frame, true);
}

/* The database file is shorter than two claimed pages (cut by a stale checkpointer's truncation
 * to an old nPage, or another tool): they are lost. Pages dropped by a commit's smaller size
 * are another thing ("truncated database"). */
static void short_file(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 7, 2, 2, 8);
    checkpoint(w, w->mx_frame, true);
    w->db_len = 6 * PS;
}

/*
 * The race's end state (wal.c 3.40.1, walCheckpoint against walRestartHdr): a PASSIVE
 * checkpoint read mxFrame = nBackfill = 8 of the old generation; a writer restarted the WAL and
 * committed frames 1..5; the checkpointer, with its stale mxSafeFrame, publishes nBackfill = 8
 * over the new generation. Frames 1..5 were never copied: the file still has version 1.
 */
static void race_past_end(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_restart(w, 0x1112, 0xdddd);
    wal_commit_range(w, 1, 5, 4, 8);
    w->n_backfill = 8;
    shm_write(w);
}

/* The same, later: the writers pushed mxFrame past the stale nBackfill (the state lasts only
 * milliseconds); frames 1..8 are claimed, pages 1..5 never reached the file, and page 4 has a
 * newer frame above the claim, so it is not judged. */
static void race_overtaken(struct world *w, struct ckaudit *a)
{
    race_past_end(w, a);
    wal_commit_range(w, 6, 3, 4, 8); /* frames 6..8, never copied either */
    wal_frame(w, 4, 5, 8);           /* frame 9 */
}

/* A storage that drops a checkpoint's write of page 6: the same finding, another cause. */
static void dropped_write(struct world *w, struct ckaudit *a)
{
    base(w, a);
    wal_commit_range(w, 5, 3, 2, 8);
    checkpoint(w, w->mx_frame, true);
    page_content(w->db + 5 * PS, 6, 1);
}

/* A frame below mxFrame with a broken checksum: nothing is judged, nothing is a finding. */
static void garbage_frame(struct world *w, struct ckaudit *a)
{
    (void)a;
    wal_restart(w, 0x2222, 0xeeee);
    wal_commit_range(w, 1, 8, 1, 8);
    checkpoint(w, w->mx_frame, true);
    w->wal[32 + 3 * FSZ + 100] ^= 0x55;
}

/* More claimed pages than one audit judges: the claim is cut at the cap. */
static void over_cap(struct world *w, struct ckaudit *a)
{
    (void)a;
    wal_restart(w, 0x3333, 0xffff);
    wal_commit_range(w, 1, CKAUDIT_PAGES_MAX + 100, 1, CKAUDIT_PAGES_MAX + 100);
    checkpoint(w, w->mx_frame, true);
}

struct audit_case {
    const char *name;
    void (*build)(struct world *w, struct ckaudit *a);
    enum ckaudit_outcome want;
    uint32_t lost;
    uint32_t checked_min;
    uint32_t skipped_min;
    uint32_t first_lost_pgno, first_lost_frame; /* when lost > 0 */
};

static const struct audit_case cases[] = {
    {"clean backfill", clean_backfill, CKAUDIT_DONE, 0, 7, 0, 0, 0},
    {"skipped beyond safe frame", skipped_beyond_safe, CKAUDIT_DONE, 0, 1, 0, 0, 0},
    {"checkpoint in progress", in_progress, CKAUDIT_DONE, 0, 2, 0, 0, 0},
    {"checkpoint completes during audit", completes_during_audit, CKAUDIT_DONE, 0, 1, 2, 0, 0},
    {"restarted WAL, new salts", restarted, CKAUDIT_DONE, 0, 3, 0, 0, 0},
    {"restart during audit", restarted_during_audit, CKAUDIT_DROPPED, 0, 0, 0, 0, 0},
    {"torn read", torn_read, CKAUDIT_DONE, 0, 7, 0, 0, 0},
    {"truncated database", truncated, CKAUDIT_DONE, 0, 1, 0, 0, 0},
    {"file cut below claimed pages", short_file, CKAUDIT_DONE, 2, 2, 0, 0, 0},
    {"garbage frame below mxFrame", garbage_frame, CKAUDIT_STUCK, 0, 0, 0, 0, 0},
    {"more pages than one audit", over_cap, CKAUDIT_DONE, 0, CKAUDIT_PAGES_MAX, 0, 0, 0},
    {"race: nBackfill past mxFrame", race_past_end, CKAUDIT_DONE, 5, 5, 0, 0, 0},
    {"race: overtaken by writers", race_overtaken, CKAUDIT_DONE, 7, 7, 0, 0, 0},
    {"storage dropped a write", dropped_write, CKAUDIT_DONE, 1, 3, 0, 6, 10},
};

Test(ckaudit, cases)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct audit_case *c = &cases[i];
        struct world *w = calloc(1, sizeof(*w));
        struct ckaudit *a = ckaudit_new();
        struct ckaudit_report rep;

        cr_assert(w && a);
        c->build(w, a);
        step(w, a, &rep);
        cr_expect_eq(rep.outcome, c->want, "%s: outcome %s", c->name,
                     ckaudit_outcome_str(rep.outcome));
        cr_expect_eq(rep.pages_lost, c->lost, "%s: %u pages lost", c->name, rep.pages_lost);
        cr_expect_geq(rep.pages_checked, c->checked_min, "%s: %u checked", c->name,
                      rep.pages_checked);
        cr_expect_geq(rep.pages_skipped, c->skipped_min, "%s: %u skipped", c->name,
                      rep.pages_skipped);
        cr_expect_eq(rep.nfindings, c->lost < CKAUDIT_FINDINGS_MAX ? c->lost : CKAUDIT_FINDINGS_MAX,
                     "%s: findings", c->name);
        if (c->first_lost_pgno != 0 && rep.nfindings > 0) {
            cr_expect_eq(rep.findings[0].pgno, c->first_lost_pgno, "%s: page", c->name);
            cr_expect_eq(rep.findings[0].frame, c->first_lost_frame, "%s: frame", c->name);
        }
        /* A finding is read twice; an audit that found nothing read each page once. */
        for (uint32_t k = 0; k < rep.nfindings; k++)
            cr_expect_geq(w->db_reads_of[rep.findings[k].pgno], 2, "%s: page %u read twice",
                          c->name, rep.findings[k].pgno);
        ckaudit_free(a);
        free(w);
    }
}

/* The torn page was read a second time, and only it. */
Test(ckaudit, torn_read_is_read_again)
{
    struct world *w = calloc(1, sizeof(*w));
    struct ckaudit *a = ckaudit_new();
    struct ckaudit_report rep;

    torn_read(w, a);
    memset(w->db_reads_of, 0, sizeof(w->db_reads_of));
    step(w, a, &rep);
    cr_expect_eq(rep.pages_lost, 0);
    cr_expect_eq(w->db_reads_of[3], 2);
    cr_expect_eq(w->db_reads_of[2], 1);
    ckaudit_free(a);
    free(w);
}

/* Incremental: a second audit reads only the frames written since, and judges only the pages
 * newly claimed; after a cut at the cap the next step audits the rest. */
Test(ckaudit, incremental)
{
    struct world *w = calloc(1, sizeof(*w));
    struct ckaudit *a = ckaudit_new();
    struct ckaudit_report rep;
    struct ff_walindex h;

    base(w, a);
    wal_commit_range(w, 1, 3, 2, 8);
    checkpoint(w, w->mx_frame, true);
    memset(w->db_reads_of, 0, sizeof(w->db_reads_of));
    step(w, a, &rep);
    cr_expect_eq(rep.outcome, CKAUDIT_DONE);
    cr_expect_eq(rep.frames_added, 3);
    cr_expect_eq(rep.pages_checked, 3);
    cr_expect_eq(w->db_reads_of[5], 0, "page 5 was audited before");
    cr_assert_eq(fileformat_parse_walindex(w->shm, sizeof(w->shm), &h), FF_OK);
    cr_expect_not(ckaudit_due(a, &h), "nothing new: not due");
    step(w, a, &rep);
    cr_expect_eq(rep.outcome, CKAUDIT_IDLE);
    ckaudit_free(a);
    free(w);

    w = calloc(1, sizeof(*w));
    a = ckaudit_new();
    over_cap(w, a);
    step(w, a, &rep);
    cr_expect_eq(rep.pages_checked, CKAUDIT_PAGES_MAX);
    cr_assert_eq(fileformat_parse_walindex(w->shm, sizeof(w->shm), &h), FF_OK);
    cr_expect(ckaudit_due(a, &h), "the rest of the claim is due");
    step(w, a, &rep);
    cr_expect_eq(rep.outcome, CKAUDIT_DONE);
    cr_expect_eq(rep.pages_checked, 100);
    cr_expect_eq(rep.claim, CKAUDIT_PAGES_MAX + 100);
    ckaudit_free(a);
    free(w);
}

/* A TRUNCATE checkpoint leaves an empty WAL until the next write: nothing to follow, and not
 * retried until the wal-index changes. */
Test(ckaudit, empty_wal)
{
    struct world *w = calloc(1, sizeof(*w));
    struct ckaudit *a = ckaudit_new();
    struct ckaudit_report rep;
    struct ff_walindex h;

    base(w, a);
    w->wal_len = 0;
    w->salt1++;
    w->mx_frame = w->n_backfill = 0;
    shm_write(w);
    step(w, a, &rep);
    cr_expect_eq(rep.outcome, CKAUDIT_NO_WAL);
    cr_assert_eq(fileformat_parse_walindex(w->shm, sizeof(w->shm), &h), FF_OK);
    cr_expect_not(ckaudit_due(a, &h));
    ckaudit_free(a);
    free(w);
}

Test(ckaudit, outcome_str)
{
    static const struct {
        enum ckaudit_outcome o;
        const char *s;
    } t[] = {
        {CKAUDIT_IDLE, "idle"},           {CKAUDIT_DONE, "done"},
        {CKAUDIT_DROPPED, "dropped"},     {CKAUDIT_NO_WAL, "no_wal"},
        {CKAUDIT_TOO_LARGE, "too_large"}, {CKAUDIT_STUCK, "stuck"},
        {CKAUDIT_ERROR, "error"},         {(enum ckaudit_outcome)42, "unknown"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        cr_expect_str_eq(ckaudit_outcome_str(t[i].o), t[i].s);
}
