/*
 * ckaudit.c: the checkpoint audit (see ckaudit.h for the rule and the order of reads).
 *
 * Sources: wal.c walCheckpoint() (what a checkpoint copies: for each page its latest frame up
 * to the header's mxFrame, unless that frame is at or below nBackfill, above mxSafeFrame, or
 * the page is beyond hdr.nPage; then nBackfill = mxSafeFrame), walRestartHdr() (a restart
 * changes the salts), walDecodeFrame() (what makes a frame valid), walIteratorInit() (the
 * latest frame of each page wins), and fileformat2 4.1-4.3.
 */
#include "ckaudit.h"

#include <stdlib.h>
#include <string.h>

/* Open-addressing map from page number to its latest frame; pgno 0 marks a free slot (SQLite
 * never writes page 0: walDecodeFrame rejects it). */
struct entry {
    uint32_t pgno;
    uint32_t frame;
    uint64_t hash; /* ckaudit_hash of the frame's page */
};

#define MAP_MIN_CAP 1024u

/* One claimed page being judged. */
struct item {
    uint32_t pgno;
    uint32_t frame;
    uint64_t want;  /* the frame's hash */
    uint64_t got;   /* the database page's hash, when got_len is a whole page */
    size_t got_len; /* bytes of the page the database file has */
    bool suspect;   /* differed on the first read */
};

struct ckaudit {
    bool active;    /* following the generation in chain */
    bool stuck;     /* a frame <= mxFrame did not verify: wait for new salts */
    bool too_large; /* over CKAUDIT_FRAMES_MAX frames: wait for new salts */
    struct ff_wal_chain chain;
    uint32_t nframes;    /* frames read and verified */
    uint32_t audited_to; /* claims audited through this frame */
    uint32_t max_pgno;   /* largest page number in the map */
    /* The wal-index the last CKAUDIT_NO_WAL was for: not retried until it changes. */
    bool nowal;
    uint32_t nowal_salt[2], nowal_mx_frame;
    struct entry *map;
    size_t cap, used;
    unsigned char *buf; /* CKAUDIT_READ_BYTES + one largest frame */
    struct item items[CKAUDIT_PAGES_MAX];
};

/* The largest frame: a 24-byte header and a 65536-byte page (fileformat2 4.1). */
#define FRAME_MAX (FF_WAL_FRAME_HDR_SIZE + 65536u)

const char *ckaudit_outcome_str(enum ckaudit_outcome o)
{
    static const char *const names[] = {
        [CKAUDIT_IDLE] = "idle",           [CKAUDIT_DONE] = "done",
        [CKAUDIT_DROPPED] = "dropped",     [CKAUDIT_NO_WAL] = "no_wal",
        [CKAUDIT_TOO_LARGE] = "too_large", [CKAUDIT_STUCK] = "stuck",
        [CKAUDIT_ERROR] = "error",
    };

    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

/* Not a cryptographic hash: equal pages give equal values, and a difference is missed with
 * odds of about 2^-64, which can only hide a finding, never make one up. */
uint64_t ckaudit_hash(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof(w));
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

struct ckaudit *ckaudit_new(void)
{
    struct ckaudit *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->buf = malloc(CKAUDIT_READ_BYTES + FRAME_MAX);
    a->map = calloc(MAP_MIN_CAP, sizeof(*a->map));
    if (a->buf == NULL || a->map == NULL) {
        ckaudit_free(a);
        return NULL;
    }
    a->cap = MAP_MIN_CAP;
    return a;
}

void ckaudit_free(struct ckaudit *a)
{
    if (a == NULL)
        return;
    free(a->buf);
    free(a->map);
    free(a);
}

void ckaudit_reset(struct ckaudit *a)
{
    a->active = false;
    a->stuck = false;
    a->too_large = false;
    memset(&a->chain, 0, sizeof(a->chain));
    a->nframes = 0;
    a->audited_to = 0;
    a->max_pgno = 0;
    a->used = 0;
    a->nowal = false;
    /* Back to the small map: a big WAL's map should not outlive its generation. */
    struct entry *small = a->cap > MAP_MIN_CAP ? calloc(MAP_MIN_CAP, sizeof(*small)) : NULL;
    if (small != NULL) {
        free(a->map);
        a->map = small;
        a->cap = MAP_MIN_CAP;
    } else {
        memset(a->map, 0, a->cap * sizeof(*a->map));
    }
}

/* ---- the frame map ----------------------------------------------------------------------- */

static size_t slot_of(uint32_t pgno, size_t cap)
{
    return (size_t)(pgno * 2654435761u) & (cap - 1);
}

static struct entry *map_find(const struct ckaudit *a, uint32_t pgno)
{
    size_t i = slot_of(pgno, a->cap);

    while (a->map[i].pgno != 0) {
        if (a->map[i].pgno == pgno)
            return &a->map[i];
        i = (i + 1) & (a->cap - 1);
    }
    return NULL;
}

/* Into a map known to have room; returns the slot (new or existing). */
static struct entry *map_slot(struct entry *map, size_t cap, uint32_t pgno)
{
    size_t i = slot_of(pgno, cap);

    while (map[i].pgno != 0 && map[i].pgno != pgno)
        i = (i + 1) & (cap - 1);
    return &map[i];
}

/* Rebuilds the map at cap slots, keeping pages up to keep_max. */
static int map_rebuild(struct ckaudit *a, size_t cap, uint32_t keep_max)
{
    struct entry *map = calloc(cap, sizeof(*map));

    if (map == NULL)
        return -1;
    a->used = 0;
    a->max_pgno = 0;
    for (size_t i = 0; i < a->cap; i++) {
        const struct entry *e = &a->map[i];
        if (e->pgno == 0 || e->pgno > keep_max)
            continue;
        *map_slot(map, cap, e->pgno) = *e;
        a->used++;
        if (e->pgno > a->max_pgno)
            a->max_pgno = e->pgno;
    }
    free(a->map);
    a->map = map;
    a->cap = cap;
    return 0;
}

/* A later frame of a page replaces the earlier one (walIteratorInit: the latest frame wins). */
static int map_put(struct ckaudit *a, uint32_t pgno, uint32_t frame, uint64_t hash)
{
    struct entry *e;

    if ((a->used + 1) * 4 > a->cap * 3 && map_rebuild(a, a->cap * 2, UINT32_MAX) != 0)
        return -1;
    e = map_slot(a->map, a->cap, pgno);
    if (e->pgno == 0)
        a->used++;
    e->pgno = pgno;
    e->frame = frame;
    e->hash = hash;
    if (pgno > a->max_pgno)
        a->max_pgno = pgno;
    return 0;
}

/* ---- following a generation ---------------------------------------------------------------- */

static bool same_salts(const struct ff_wal_chain *c, const struct ff_walindex *h)
{
    return c->salt1 == h->salt1 && c->salt2 == h->salt2;
}

/*
 * Makes the followed generation the one h names. Within one generation mxFrame only grows
 * (sqlite3WalFrames appends; walRestartHdr changes the salts): a smaller one means the
 * wal-index was rebuilt (walIndexRecover), so start over rather than trust the map.
 */
static enum ckaudit_outcome sync_generation(struct ckaudit *a, const struct ff_walindex *h,
                                            const struct ckaudit_reader *rd)
{
    unsigned char hdr[FF_WAL_HEADER_SIZE];
    struct ff_wal_header w;
    ssize_t n;

    if (a->active && same_salts(&a->chain, h) && h->mx_frame >= a->nframes) {
        if (a->too_large)
            return CKAUDIT_TOO_LARGE;
        return a->stuck ? CKAUDIT_STUCK : CKAUDIT_DONE;
    }
    ckaudit_reset(a);
    n = rd->read(rd->arg, CKAUDIT_WAL, hdr, sizeof(hdr), 0);
    if (n < 0)
        return CKAUDIT_ERROR;
    a->nowal = true;
    a->nowal_salt[0] = h->salt1;
    a->nowal_salt[1] = h->salt2;
    a->nowal_mx_frame = h->mx_frame;
    /* After a TRUNCATE checkpoint the WAL is empty until the next writer writes a header with
     * the salts walRestartHdr put in the wal-index: nothing to follow yet. */
    if (fileformat_parse_wal_header(hdr, (size_t)n, &w) != FF_OK || w.salt1 != h->salt1 ||
        w.salt2 != h->salt2 || w.page_size != h->page_size)
        return CKAUDIT_NO_WAL;
    fileformat_wal_chain_init(&w, &a->chain);
    a->active = true;
    a->nowal = false;
    return CKAUDIT_DONE;
}

/* Verifies and maps the frames in buf (count of them, the first being nframes + 1). Returns
 * how many were taken; fewer than count when one does not verify (a->stuck is then set). */
static int map_frames(struct ckaudit *a, const unsigned char *buf, uint32_t count, uint32_t *taken)
{
    size_t fsz = FF_WAL_FRAME_HDR_SIZE + (size_t)a->chain.page_size;
    struct ff_wal_frame fr;

    *taken = 0;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *f = buf + (size_t)i * fsz;
        if (fileformat_parse_wal_frame(f, fsz, &a->chain, &fr) != FF_OK) {
            /* At or below mxFrame every frame is committed and valid (walIndexAppend is
             * called only for frames walDecodeFrame accepted): a failure here is another
             * generation overwriting the file, or damage. Either way, stop until the salts
             * change. */
            a->stuck = true;
            return 0;
        }
        uint32_t frame = a->nframes + 1;
        if (map_put(a, fr.pgno, frame, ckaudit_hash(f + FF_WAL_FRAME_HDR_SIZE, fsz - 24)) != 0)
            return -1;
        /* A commit frame's database size: pages past it were truncated away (wal.c
         * walCheckpoint copies no page beyond hdr.nPage and then truncates the file). */
        if (fr.commit_pages != 0 && fr.commit_pages < a->max_pgno &&
            map_rebuild(a, a->cap, fr.commit_pages) != 0)
            return -1;
        a->nframes = frame;
        (*taken)++;
    }
    return 0;
}

/* Reads and maps frames nframes+1 .. target, CKAUDIT_READ_BYTES at a time. */
static enum ckaudit_outcome add_frames(struct ckaudit *a, const struct ckaudit_reader *rd,
                                       uint32_t target, uint32_t *added)
{
    size_t fsz = FF_WAL_FRAME_HDR_SIZE + (size_t)a->chain.page_size;
    uint32_t per_read = (uint32_t)(CKAUDIT_READ_BYTES / fsz);

    if (per_read == 0)
        per_read = 1;
    while (a->nframes < target && !a->stuck) {
        uint32_t want = target - a->nframes, taken = 0;
        if (a->nframes >= CKAUDIT_FRAMES_MAX) {
            a->too_large = true;
            return CKAUDIT_TOO_LARGE;
        }
        if (want > per_read)
            want = per_read;
        if (want > CKAUDIT_FRAMES_MAX - a->nframes)
            want = CKAUDIT_FRAMES_MAX - a->nframes;
        uint64_t off = fileformat_wal_frame_offset(a->chain.page_size, a->nframes + 1);
        ssize_t n = rd->read(rd->arg, CKAUDIT_WAL, a->buf, (size_t)want * fsz, off);
        if (n < 0)
            return CKAUDIT_ERROR;
        uint32_t got = (uint32_t)((size_t)n / fsz);
        if (map_frames(a, a->buf, got, &taken) != 0)
            return CKAUDIT_ERROR;
        *added += taken;
        /* Shorter than mxFrame says: truncated under us (a TRUNCATE checkpoint). */
        if (got < want && !a->stuck)
            return CKAUDIT_DROPPED;
    }
    return a->stuck ? CKAUDIT_STUCK : CKAUDIT_DONE;
}

/* ---- one audit ------------------------------------------------------------------------------ */

/* Pages whose latest frame is in (from, to]. */
static size_t count_claimed(const struct ckaudit *a, uint32_t from, uint32_t to)
{
    size_t n = 0;

    for (size_t i = 0; i < a->cap; i++)
        n += a->map[i].pgno != 0 && a->map[i].frame > from && a->map[i].frame <= to;
    return n;
}

/*
 * The claim to audit now: nBackfill, but no further than the frames known. When more than
 * CKAUDIT_PAGES_MAX pages are claimed, the claim is lowered to the largest frame that keeps
 * them within the cap (each frame is the latest of at most one page, so the count grows by at
 * most one per frame and the bisection finds it exactly); the rest wait for the next audit.
 */
static uint32_t plan_claim(const struct ckaudit *a, uint32_t n_backfill)
{
    uint32_t claim = n_backfill < a->nframes ? n_backfill : a->nframes;
    uint32_t lo, hi;

    if (claim <= a->audited_to || count_claimed(a, a->audited_to, claim) <= CKAUDIT_PAGES_MAX)
        return claim;
    lo = a->audited_to; /* count(lo) = 0 <= cap */
    hi = claim;         /* count(hi) > cap */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (count_claimed(a, a->audited_to, mid) <= CKAUDIT_PAGES_MAX)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static size_t collect_items(struct ckaudit *a, uint32_t claim)
{
    size_t n = 0;

    for (size_t i = 0; i < a->cap && n < CKAUDIT_PAGES_MAX; i++) {
        const struct entry *e = &a->map[i];
        if (e->pgno == 0 || e->frame <= a->audited_to || e->frame > claim)
            continue;
        a->items[n] = (struct item){e->pgno, e->frame, e->hash, 0, 0, false};
        n++;
    }
    return n;
}

/* The database page of it into its got/got_len (a->buf is free here: frames are mapped). */
static int read_page(struct ckaudit *a, const struct ckaudit_reader *rd, struct item *it)
{
    uint32_t ps = a->chain.page_size;
    ssize_t n = rd->read(rd->arg, CKAUDIT_DB, a->buf, ps, (uint64_t)(it->pgno - 1) * ps);

    if (n < 0)
        return -1;
    it->got_len = (size_t)n;
    it->got = (size_t)n == ps ? ckaudit_hash(a->buf, ps) : 0;
    return 0;
}

/*
 * The wal-index again, after the pages, and the frames it adds: the same generation, or no
 * verdict. Copies that differ are re-read at once a few times (a writer is between the two
 * memcpy of walIndexWriteHdr); the audit takes no lock to wait for it.
 */
static enum ckaudit_outcome reread_generation(struct ckaudit *a, const struct ckaudit_reader *rd,
                                              uint32_t *added)
{
    unsigned char shm[FF_WALINDEX_READ_SIZE];
    struct ff_walindex h;
    enum ff_result r = FF_TRUNCATED;

    for (int i = 0; i < CKAUDIT_HDR_TRIES && r != FF_OK; i++) {
        ssize_t n = rd->read(rd->arg, CKAUDIT_SHM, shm, sizeof(shm), 0);
        if (n < 0)
            return CKAUDIT_ERROR;
        r = fileformat_parse_walindex(shm, (size_t)n, &h);
    }
    if (r != FF_OK || !same_salts(&a->chain, &h) || h.mx_frame < a->nframes)
        return CKAUDIT_DROPPED;
    return add_frames(a, rd, h.mx_frame, added);
}

enum verdict { V_SKIP, V_EQUAL, V_DIFFERENT };

/*
 * Judged only when the frame read before is still the page's latest. A page the file does
 * not hold in full is DIFFERENT, not skipped: a page still in the map is within the database
 * size of every commit since its frame (map_frames drops pages past a commit's size, which is
 * what walCheckpoint's "iDbpage>mxPage" skip and its final truncation to hdr.nPage follow), so
 * the checkpoint that claims it wrote it inside the file; a file cut shorter lost it (a stale
 * checkpointer truncating to an old nPage does this).
 */
static enum verdict judge(const struct ckaudit *a, const struct item *it)
{
    const struct entry *e = map_find(a, it->pgno);

    if (e == NULL || e->frame != it->frame)
        return V_SKIP;
    return it->got_len == a->chain.page_size && it->got == it->want ? V_EQUAL : V_DIFFERENT;
}

static void report_lost(struct ckaudit_report *rep, const struct item *it)
{
    if (rep->nfindings < CKAUDIT_FINDINGS_MAX)
        rep->findings[rep->nfindings++] = (struct ckaudit_finding){it->pgno, it->frame};
    rep->pages_lost++;
}

/* The pages found different, once more: a torn read of a page being written is not a
 * finding. Returns the outcome of re-reading the generation. */
static enum ckaudit_outcome confirm(struct ckaudit *a, const struct ckaudit_reader *rd, size_t n,
                                    struct ckaudit_report *rep)
{
    enum ckaudit_outcome o;

    for (size_t i = 0; i < n; i++)
        if (a->items[i].suspect && read_page(a, rd, &a->items[i]) != 0)
            return CKAUDIT_ERROR;
    o = reread_generation(a, rd, &rep->frames_added);
    if (o != CKAUDIT_DONE)
        return o;
    for (size_t i = 0; i < n; i++) {
        if (!a->items[i].suspect)
            continue;
        enum verdict v = judge(a, &a->items[i]);
        if (v == V_SKIP)
            rep->pages_skipped++;
        else
            rep->pages_checked++;
        if (v == V_DIFFERENT)
            report_lost(rep, &a->items[i]);
    }
    return CKAUDIT_DONE;
}

static enum ckaudit_outcome audit(struct ckaudit *a, uint32_t claim,
                                  const struct ckaudit_reader *rd, struct ckaudit_report *rep)
{
    size_t n = collect_items(a, claim), suspects = 0;
    enum ckaudit_outcome o;

    for (size_t i = 0; i < n; i++)
        if (read_page(a, rd, &a->items[i]) != 0)
            return CKAUDIT_ERROR;
    o = reread_generation(a, rd, &rep->frames_added);
    if (o != CKAUDIT_DONE)
        return o == CKAUDIT_STUCK ? CKAUDIT_DROPPED : o;
    for (size_t i = 0; i < n; i++) {
        enum verdict v = judge(a, &a->items[i]);
        a->items[i].suspect = v == V_DIFFERENT;
        suspects += v == V_DIFFERENT;
        if (v == V_SKIP)
            rep->pages_skipped++;
        else if (v == V_EQUAL)
            rep->pages_checked++;
    }
    if (suspects > 0) {
        o = confirm(a, rd, n, rep);
        if (o != CKAUDIT_DONE) {
            /* No verdict on the suspects: the audit is redone from the same point. */
            rep->pages_lost = 0;
            rep->nfindings = 0;
            return o == CKAUDIT_STUCK ? CKAUDIT_DROPPED : o;
        }
    }
    a->audited_to = claim;
    rep->claim = claim;
    return CKAUDIT_DONE;
}

bool ckaudit_due(const struct ckaudit *a, const struct ff_walindex *h)
{
    uint32_t claim;

    if (!a->active)
        return !a->nowal || a->nowal_salt[0] != h->salt1 || a->nowal_salt[1] != h->salt2 ||
               a->nowal_mx_frame != h->mx_frame;
    if (!same_salts(&a->chain, h) || h->mx_frame < a->nframes)
        return true;
    if (a->stuck || a->too_large)
        return false;
    claim = h->n_backfill < a->nframes ? h->n_backfill : a->nframes;
    return h->mx_frame > a->nframes || claim > a->audited_to;
}

void ckaudit_step(struct ckaudit *a, const struct ff_walindex *h, const struct ckaudit_reader *rd,
                  struct ckaudit_report *rep)
{
    enum ckaudit_outcome o;
    uint32_t claim;

    memset(rep, 0, sizeof(*rep));
    o = sync_generation(a, h, rd);
    if (o == CKAUDIT_DONE)
        o = add_frames(a, rd, h->mx_frame, &rep->frames_added);
    if (o != CKAUDIT_DONE) {
        rep->outcome = o;
        return;
    }
    claim = plan_claim(a, h->n_backfill);
    if (claim <= a->audited_to) {
        rep->outcome = CKAUDIT_IDLE;
        return;
    }
    rep->outcome = audit(a, claim, rd, rep);
}
