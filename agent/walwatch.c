/*
 * walwatch.c: the close watch (see walwatch.h).
 *
 * One tick, per watched database: one pread of the 136-byte wal-index header (a few more when
 * its copies differ), the anomaly detector, and, only when the header says something new
 * (ckaudit_due), a step of the checkpoint audit, which reads the frames just written and the
 * pages a checkpoint just claimed. An idle database costs one pread per tick.
 */
#include "walwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckaudit.h"
#include "clock.h"
#include "log.h"
#include "safeopen.h"
#include "ticker.h"

enum { WF_DB = 0, WF_WAL, WF_SHM, WF_COUNT };
static const char *const wf_suffix[WF_COUNT] = {"", "-wal", "-shm"};

struct wfile {
    int fd; /* -1: not open */
    dev_t dev;
    ino_t ino;
};

struct wdb {
    bool watched;
    struct wfile file[WF_COUNT];
    int64_t next_stat_ms;
    int64_t exposed_until_ms; /* monotonic; 0: not exposed lately */
    struct walwatch_episode ep;
    struct ckaudit *audit; /* while watched */
};

struct walwatch {
    const struct config *cfg;
    struct state *state;
    struct fdguard *const *guards;
    void (*on_signal)(void *arg, size_t idx);
    void *signal_arg;
    struct wdb *dbs;
    int64_t next_select_ms;
    int64_t next_tick_ms;
    bool capped_logged;
    struct ticker ticker;
};

/* ---- the anomaly detector (pure) ------------------------------------------------------------ */

static void observe_unstable(struct walwatch_episode *ep, enum ff_result r, int64_t now_ms,
                             struct watch_counts *add)
{
    if (r != FF_UNSTABLE && r != FF_BAD_CHECKSUM) {
        ep->unstable_since_ms = 0;
        ep->unstable_counted = false;
        return;
    }
    if (ep->unstable_since_ms == 0)
        ep->unstable_since_ms = now_ms;
    if (!ep->unstable_counted && now_ms - ep->unstable_since_ms >= WALWATCH_UNSTABLE_MS) {
        add->anomalies[WATCH_UNSTABLE_HEADER]++;
        ep->unstable_counted = true;
    }
}

/*
 * nBackfill > mxFrame with mxFrame > 0, on a header whose copies agree: the race's end state
 * (wal.c 3.40.1: walCheckpoint publishes a stale mxSafeFrame after walRestartHdr). With
 * mxFrame 0 it is also the instant inside walRestartHdr between walIndexWriteHdr and
 * "nBackfill = 0", which a later commit (mxFrame > 0) cannot follow without the store before
 * it; and it must hold, unchanged, across WALWATCH_CONFIRM_MS. aReadMark[1] > mxFrame is left
 * by every library after a restart and is not looked at.
 */
static void observe_past_end(struct walwatch_episode *ep, enum ff_result r,
                             const struct ff_walindex *h, int64_t now_ms, struct watch_counts *add)
{
    if (r != FF_OK)
        return; /* no information: the episode neither starts nor ends */
    if (h->n_backfill <= h->mx_frame || h->mx_frame == 0) {
        ep->past_seen = false;
        ep->past_counted = false;
        return;
    }
    if (!ep->past_seen || h->salt1 != ep->past_salt1 || h->salt2 != ep->past_salt2 ||
        h->n_backfill != ep->past_backfill) {
        ep->past_seen = true;
        ep->past_counted = false;
        ep->past_since_ms = now_ms;
        ep->past_salt1 = h->salt1;
        ep->past_salt2 = h->salt2;
        ep->past_backfill = h->n_backfill;
        return;
    }
    if (!ep->past_counted && now_ms - ep->past_since_ms >= WALWATCH_CONFIRM_MS) {
        add->anomalies[WATCH_BACKFILL_PAST_END]++;
        ep->past_counted = true;
    }
}

void walwatch_observe(struct walwatch_episode *ep, enum ff_result r, const struct ff_walindex *h,
                      int64_t now_ms, struct watch_counts *add)
{
    observe_unstable(ep, r, now_ms, add);
    observe_past_end(ep, r, h, now_ms, add);
}

/* ---- files ---------------------------------------------------------------------------------- */

static void file_close(struct fdguard *g, struct wfile *f)
{
    if (f->fd >= 0)
        fdguard_release(g, f->fd);
    f->fd = -1;
}

/*
 * Makes f->fd a descriptor on the regular file now at path, by the rules of safeopen.h (the
 * type looked at first, never a FIFO, never a link at a side file), reusing the open one when
 * it is the same inode. Returns true when the descriptor changed (the audit must forget what it
 * read through the old one). Refusals are the sampler's to log; here the file is only absent.
 */
static bool file_refresh(struct fdguard *g, struct wfile *f, const char *path)
{
    struct stat st;
    int err = 0;
    bool had = f->fd >= 0;

    if (safeopen_lstat(path, &st, &err) != SAFEOPEN_OK) {
        file_close(g, f);
        return had;
    }
    if (had && st.st_dev == f->dev && st.st_ino == f->ino)
        return false;
    file_close(g, f);
    /* O_RDONLY and never O_CREAT: the watch can neither write nor create the file. */
    if (safeopen_open(path, 0, &f->fd, &st, &err) != SAFEOPEN_OK) {
        file_close(g, f); /* a descriptor left open on NOT_REGULAR or CHANGED, too */
        return true;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return true;
}

/* The database's path resolved as SQLite resolves it (a link can change), and the three files
 * where SQLite reads them. Returns true when any descriptor changed. */
static bool files_refresh(struct fdguard *g, struct wdb *d, const char *db_path)
{
    struct safeopen_path rp;
    char path[SAFEOPEN_PATH_MAX + 16];
    bool changed = false;

    if (safeopen_resolve(db_path, &rp) != SAFEOPEN_OK) {
        for (int k = 0; k < WF_COUNT; k++) {
            changed |= d->file[k].fd >= 0;
            file_close(g, &d->file[k]);
        }
        return changed;
    }
    for (int k = 0; k < WF_COUNT; k++) {
        snprintf(path, sizeof(path), "%s%s", rp.path, wf_suffix[k]);
        changed |= file_refresh(g, &d->file[k], path);
    }
    return changed;
}

static ssize_t file_pread(const struct wfile *f, unsigned char *buf, size_t len, uint64_t off)
{
    size_t got = 0;

    if (f->fd < 0)
        return 0; /* absent: an empty file */
    while (got < len) {
        ssize_t n = pread(f->fd, buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* A database file that is not open (gone, unreadable) is an error for the audit, not an empty
 * file: a page it does not hold would otherwise count as lost. */
static ssize_t audit_read(void *arg, enum ckaudit_file f, unsigned char *buf, size_t len,
                          uint64_t off)
{
    const struct wdb *d = arg;
    int k = f == CKAUDIT_DB ? WF_DB : f == CKAUDIT_WAL ? WF_WAL : WF_SHM;

    if (f == CKAUDIT_DB && d->file[WF_DB].fd < 0)
        return -1;
    return file_pread(&d->file[k], buf, len, off);
}

/* ---- choosing what to watch ----------------------------------------------------------------- */

static void db_unwatch(struct walwatch *w, size_t i)
{
    struct wdb *d = &w->dbs[i];

    for (int k = 0; k < WF_COUNT; k++)
        file_close(w->guards[i], &d->file[k]);
    ckaudit_free(d->audit);
    d->audit = NULL;
    memset(&d->ep, 0, sizeof(d->ep));
    d->watched = false;
    state_watch_set(w->state, i, false);
}

static void db_watch(struct walwatch *w, size_t i)
{
    struct wdb *d = &w->dbs[i];

    d->audit = ckaudit_new();
    if (d->audit == NULL) {
        log_warn("out of memory: the database is not watched closely", "db", w->cfg->dbs[i].name,
                 NULL);
        return;
    }
    d->watched = true;
    d->next_stat_ms = 0;
    state_watch_set(w->state, i, true);
    log_info("watching the wal-index closely", "db", w->cfg->dbs[i].name, "reason",
             w->cfg->dbs[i].watch == WATCH_CLOSE ? "watch = close"
                                                 : "exposed to the WAL-reset race",
             NULL);
}

/* Exposed now: watched until WALWATCH_LINGER_MS from now. */
static void note_exposure(struct walwatch *w, size_t i, int64_t now)
{
    if (state_watch_exposed(w->state, i))
        w->dbs[i].exposed_until_ms = now + WALWATCH_LINGER_MS;
}

/* watch = close sections first, then exposed ones, in file order, up to walindex_watch_max. */
static void select_watched(struct walwatch *w, int64_t now)
{
    size_t n = w->cfg->ndbs, slots = (size_t)w->cfg->walindex_watch_max, wanted = 0;
    bool *want = calloc(n ? n : 1, sizeof(*want));

    if (want == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        note_exposure(w, i, now);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            bool close = w->cfg->dbs[i].watch == WATCH_CLOSE;
            bool exposed = now < w->dbs[i].exposed_until_ms;
            if (want[i] || (pass == 0 ? !close : !exposed))
                continue;
            wanted++;
            if (wanted <= slots)
                want[i] = true;
        }
    }
    if (wanted > slots && !w->capped_logged) {
        char a[24], b[24];
        snprintf(a, sizeof(a), "%zu", wanted);
        snprintf(b, sizeof(b), "%zu", slots);
        log_warn("more databases want the close watch than walindex_watch_max allows", "wanted", a,
                 "walindex_watch_max", b, NULL);
        w->capped_logged = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (w->dbs[i].watched && !want[i])
            db_unwatch(w, i);
        else if (!w->dbs[i].watched && want[i])
            db_watch(w, i);
    }
    free(want);
}

/* ---- one tick ---------------------------------------------------------------------------------
 */

static enum ff_result read_header(const struct wdb *d, struct ff_walindex *h)
{
    unsigned char buf[FF_WALINDEX_READ_SIZE];
    enum ff_result r = FF_TRUNCATED;

    for (int i = 0; i < WALWATCH_TRIES; i++) {
        ssize_t n = file_pread(&d->file[WF_SHM], buf, sizeof(buf), 0);
        if (n < 0)
            return FF_TRUNCATED;
        r = fileformat_parse_walindex(buf, (size_t)n, h);
        if (r != FF_UNSTABLE && r != FF_BAD_CHECKSUM)
            break;
    }
    return r;
}

static void log_findings(const struct walwatch *w, size_t i, const struct ckaudit_report *rep)
{
    char pages[CKAUDIT_FINDINGS_MAX * 24 + 1], lost[24];
    size_t used = 0;

    pages[0] = '\0';
    for (uint32_t k = 0; k < rep->nfindings; k++) {
        int n = snprintf(pages + used, sizeof(pages) - used, "%s%u@frame%u", k ? "," : "",
                         rep->findings[k].pgno, rep->findings[k].frame);
        if (n < 0 || (size_t)n >= sizeof(pages) - used)
            break;
        used += (size_t)n;
    }
    snprintf(lost, sizeof(lost), "%u", rep->pages_lost);
    log_error("checkpoint audit: pages a checkpoint claims to have copied are not in the "
              "database file (WAL-reset race or lost writes); see the runbook",
              "db", w->cfg->dbs[i].name, "path", w->cfg->dbs[i].path, "lost_pages", lost, "pages",
              pages, NULL);
}

static void count_audit(const struct walwatch *w, size_t i, const struct ckaudit_report *rep,
                        struct watch_counts *add)
{
    add->frames_read += rep->frames_added;
    if (rep->outcome == CKAUDIT_DONE) {
        add->audits++;
        add->pages_audited += rep->pages_checked;
        add->lost_pages += rep->pages_lost;
        if (rep->pages_lost > 0)
            log_findings(w, i, rep);
    } else if (rep->outcome == CKAUDIT_DROPPED) {
        add->audits_dropped++;
    }
}

static bool counts_zero(const struct watch_counts *c)
{
    static const struct watch_counts zero;
    return memcmp(c, &zero, sizeof(zero)) == 0;
}

static void watch_one(struct walwatch *w, size_t i, int64_t now)
{
    struct wdb *d = &w->dbs[i];
    struct watch_counts add;
    struct ff_walindex h;
    enum ff_result r;

    memset(&add, 0, sizeof(add));
    if (now >= d->next_stat_ms) {
        if (files_refresh(w->guards[i], d, w->cfg->dbs[i].path))
            ckaudit_reset(d->audit);
        d->next_stat_ms = now + WALWATCH_STAT_MS;
    }
    if (d->file[WF_SHM].fd < 0)
        return;
    r = read_header(d, &h);
    walwatch_observe(&d->ep, r, &h, now, &add);
    if (add.anomalies[WATCH_BACKFILL_PAST_END] > 0) {
        char nb[16], mx[16];
        snprintf(nb, sizeof(nb), "%u", h.n_backfill);
        snprintf(mx, sizeof(mx), "%u", h.mx_frame);
        log_error("wal-index: nBackfill > mxFrame, what the WAL-reset race leaves behind", "db",
                  w->cfg->dbs[i].name, "nBackfill", nb, "mxFrame", mx, NULL);
    }
    if (add.anomalies[WATCH_UNSTABLE_HEADER] > 0)
        log_warn("wal-index: the two header copies stayed unequal", "db", w->cfg->dbs[i].name,
                 NULL);
    if (r == FF_OK && ckaudit_due(d->audit, &h)) {
        struct ckaudit_reader rd = {audit_read, d};
        struct ckaudit_report rep;
        ckaudit_step(d->audit, &h, &rd, &rep);
        count_audit(w, i, &rep, &add);
    }
    if (counts_zero(&add))
        return;
    state_watch_add(w->state, i, &add, clock_wall_ms());
    if (w->on_signal && (add.lost_pages > 0 || add.anomalies[WATCH_BACKFILL_PAST_END] > 0))
        w->on_signal(w->signal_arg, i);
}

/* One round: every watched database, then the sleep until the next round (start to start). */
static int64_t watch_tick(void *arg)
{
    struct walwatch *w = arg;
    int64_t now = clock_mono_ms();

    if (now >= w->next_select_ms) {
        select_watched(w, now);
        w->next_select_ms = now + WALWATCH_SELECT_MS;
    }
    size_t watched = 0;
    for (size_t i = 0; i < w->cfg->ndbs && !ticker_stopping(&w->ticker); i++) {
        if (w->dbs[i].watched) {
            watch_one(w, i, now);
            watched++;
        }
    }
    /* Nothing to watch (no database exposed, none with watch = close): no 2 ms wake-ups,
     * which alone cost about 1% of a core; sleep until the set is chosen again. */
    if (watched == 0) {
        w->next_tick_ms = 0;
        return w->next_select_ms - clock_mono_ms();
    }
    if (w->next_tick_ms == 0)
        w->next_tick_ms = now;
    w->next_tick_ms += w->cfg->walindex_watch_interval_ms;
    now = clock_mono_ms();
    if (w->next_tick_ms <= now) {
        w->next_tick_ms = now; /* fell behind: do not burst */
        return 1;
    }
    return w->next_tick_ms - now;
}

/* ---- life cycle -------------------------------------------------------------------------------
 */

struct walwatch *walwatch_new(const struct config *cfg, struct state *st,
                              struct fdguard *const *guards,
                              void (*on_signal)(void *arg, size_t idx), void *arg)
{
    struct walwatch *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->state = st;
    w->guards = guards;
    w->on_signal = on_signal;
    w->signal_arg = arg;
    ticker_init(&w->ticker, "walwatch", watch_tick, w);
    w->dbs = calloc(cfg->ndbs ? cfg->ndbs : 1, sizeof(*w->dbs));
    if (w->dbs == NULL) {
        walwatch_free(w);
        return NULL;
    }
    for (size_t i = 0; i < cfg->ndbs; i++)
        for (int k = 0; k < WF_COUNT; k++)
            w->dbs[i].file[k].fd = -1;
    return w;
}

void walwatch_free(struct walwatch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; w->dbs != NULL && i < w->cfg->ndbs; i++) {
        for (int k = 0; k < WF_COUNT; k++)
            file_close(w->guards[i], &w->dbs[i].file[k]);
        ckaudit_free(w->dbs[i].audit);
    }
    free(w->dbs);
    ticker_destroy(&w->ticker);
    free(w);
}

int walwatch_start(struct walwatch *w)
{
    if (w->cfg->walindex_watch_max == 0 || w->cfg->ndbs == 0)
        return 0;
    return ticker_start(&w->ticker);
}

void walwatch_stop(struct walwatch *w)
{
    if (w != NULL)
        ticker_stop(&w->ticker);
}
