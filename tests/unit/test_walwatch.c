/*
 * test_walwatch.c: the close watch. Its anomaly detector as a table of read sequences, and the
 * thread on a real WAL database in a temporary directory: clean checkpoints are audited and
 * found equal; then the test writes the wal-index as the WAL-reset race leaves it (nBackfill
 * claiming frames the database file does not hold, then nBackfill past mxFrame) and the
 * counters move. The agent never writes; the test does, as the race would.
 */
#include "walwatch.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"

/* ---- the detector ------------------------------------------------------------------------- */

struct obs {
    int64_t t_ms;
    enum ff_result r;
    uint32_t mx_frame, n_backfill, salt1;
    uint64_t want_past, want_unstable; /* cumulative counts after this read */
};

#define OK_(t, mx, nb, s, p, u)                                                                    \
    {                                                                                              \
        t, FF_OK, mx, nb, s, p, u                                                                  \
    }
#define BAD(t, r, p, u)                                                                            \
    {                                                                                              \
        t, r, 0, 0, 0, p, u                                                                        \
    }
#define END                                                                                        \
    {                                                                                              \
        -1, FF_OK, 0, 0, 0, 0, 0                                                                   \
    }

static const struct {
    const char *name;
    struct obs seq[8];
} detector_cases[] = {
    {"healthy: nBackfill at or below mxFrame",
     {OK_(1, 10, 0, 1, 0, 0), OK_(3, 10, 10, 1, 0, 0), OK_(5, 20, 10, 1, 0, 0), END}},
    {"past end, confirmed 2 ms later, counted once",
     {OK_(1, 39, 106, 1, 0, 0), OK_(3, 40, 106, 1, 1, 0), OK_(5, 45, 106, 1, 1, 0),
      OK_(7, 110, 106, 1, 1, 0), END}},
    {"past end on one read only (a restart caught mid-way)",
     {OK_(1, 39, 106, 1, 0, 0), OK_(3, 40, 0, 2, 0, 0), END}},
    {"past end with mxFrame 0 (inside walRestartHdr) never counts",
     {OK_(1, 0, 106, 1, 0, 0), OK_(5, 0, 106, 1, 0, 0), OK_(9, 0, 106, 1, 0, 0), END}},
    {"past end again after it ended: a second episode",
     {OK_(1, 5, 8, 1, 0, 0), OK_(4, 6, 8, 1, 1, 0), OK_(6, 9, 8, 1, 1, 0), OK_(8, 7, 12, 2, 1, 0),
      OK_(11, 8, 12, 2, 2, 0), END}},
    {"nBackfill changing each read is not confirmed",
     {OK_(1, 5, 8, 1, 0, 0), OK_(4, 5, 9, 1, 0, 0), OK_(7, 5, 10, 1, 0, 0), END}},
    {"unreadable reads do not end a past-end episode",
     {OK_(1, 5, 8, 1, 0, 0), BAD(2, FF_TRUNCATED, 0, 0), OK_(4, 6, 8, 1, 1, 0), END}},
    {"unstable for 100 ms counts once",
     {BAD(1, FF_UNSTABLE, 0, 0), BAD(50, FF_BAD_CHECKSUM, 0, 0), BAD(101, FF_UNSTABLE, 0, 1),
      BAD(300, FF_UNSTABLE, 0, 1), OK_(302, 1, 0, 1, 0, 1), BAD(303, FF_UNSTABLE, 0, 1), END}},
    {"unstable now and then never counts",
     {BAD(1, FF_UNSTABLE, 0, 0), OK_(60, 1, 0, 1, 0, 0), BAD(90, FF_UNSTABLE, 0, 0),
      OK_(180, 1, 0, 1, 0, 0), BAD(185, FF_UNSTABLE, 0, 0), END}},
};

Test(walwatch, detector)
{
    for (size_t c = 0; c < sizeof(detector_cases) / sizeof(detector_cases[0]); c++) {
        struct walwatch_episode ep;
        struct watch_counts total;

        memset(&ep, 0, sizeof(ep));
        memset(&total, 0, sizeof(total));
        for (const struct obs *o = detector_cases[c].seq; o->t_ms >= 0; o++) {
            struct ff_walindex h;
            struct watch_counts add;
            memset(&h, 0, sizeof(h));
            memset(&add, 0, sizeof(add));
            h.mx_frame = o->mx_frame;
            h.n_backfill = o->n_backfill;
            h.salt1 = o->salt1;
            walwatch_observe(&ep, o->r, &h, o->t_ms, &add);
            total.anomalies[0] += add.anomalies[0];
            total.anomalies[1] += add.anomalies[1];
            cr_expect_eq(total.anomalies[WATCH_BACKFILL_PAST_END], o->want_past,
                         "%s: at %lld ms: past_end %llu", detector_cases[c].name,
                         (long long)o->t_ms,
                         (unsigned long long)total.anomalies[WATCH_BACKFILL_PAST_END]);
            cr_expect_eq(total.anomalies[WATCH_UNSTABLE_HEADER], o->want_unstable,
                         "%s: at %lld ms: unstable", detector_cases[c].name, (long long)o->t_ms);
        }
    }
}

/* ---- the thread, on real files ------------------------------------------------------------ */

static atomic_int signals;

static void on_signal(void *arg, size_t idx)
{
    (void)arg;
    cr_expect_eq(idx, 0u);
    atomic_fetch_add(&signals, 1);
}

static struct watch_counts counts_now(struct state *st, bool *watched)
{
    struct snapshot *snap = state_snapshot(st, 0);
    struct watch_counts c;

    cr_assert_not_null(snap);
    c = snap->dbs[0].watch.counts;
    if (watched)
        *watched = snap->dbs[0].watch.watched;
    snapshot_free(snap);
    return c;
}

/* Polls until pred holds on the counters, up to 5 s. */
static bool wait_counts(struct state *st, bool (*pred)(const struct watch_counts *c))
{
    for (int i = 0; i < 500; i++) {
        struct watch_counts c = counts_now(st, NULL);
        if (pred(&c))
            return true;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

static bool audited(const struct watch_counts *c)
{
    return c->audits > 0 && c->pages_audited > 0;
}
static bool lost(const struct watch_counts *c)
{
    return c->lost_pages > 0;
}
static bool past_end(const struct watch_counts *c)
{
    return c->anomalies[WATCH_BACKFILL_PAST_END] > 0;
}

static uint32_t shm_u32(int fd, off_t off)
{
    uint32_t v = 0;
    cr_assert_eq(pread(fd, &v, 4, off), 4);
    return v;
}

Test(walwatch, real_files, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("app.db"), *shm = tmpdir_file("app.db-shm"), *text = NULL;
    sqlite3 *app = tmpdir_app_db(path, true);
    struct config *cfg;
    struct state *st = state_new(0);
    struct fdguard **guards;
    struct walwatch *w;
    bool watched = false;

    cr_assert_gt(asprintf(&text,
                          "[agent]\nwalindex_watch_interval = 2ms\n"
                          "[database:app]\npath = %s\nwatch = close\ncheck = off\n",
                          path),
                 0);
    cfg = config_load_string(text, "t.ini", stderr);
    cr_assert_not_null(cfg);
    cr_assert_eq(state_configure(st, cfg), 0);
    guards = fdguard_set_new(cfg);
    cr_assert_not_null(guards);
    w = walwatch_new(cfg, st, guards, on_signal, NULL);
    cr_assert_not_null(w);
    cr_assert_eq(walwatch_start(w), 0);

    /* Clean checkpoints: audited, equal. */
    for (int i = 0; i < 5; i++) {
        exec_sql(app, "INSERT INTO t SELECT randomblob(900) FROM (SELECT 1 UNION ALL SELECT 2);");
        exec_sql(app, "PRAGMA wal_checkpoint(PASSIVE);");
    }
    cr_expect(wait_counts(st, audited), "no audit ran");
    struct watch_counts c = counts_now(st, &watched);
    cr_expect(watched);
    cr_expect_eq(c.lost_pages, 0);
    cr_expect_eq(c.anomalies[WATCH_BACKFILL_PAST_END], 0);
    cr_expect_not(state_race_signal_take(st, 0));

    /* New frames, not checkpointed; then nBackfill claims them (WalCkptInfo.nBackfill, offset
     * 96 of the -shm, native order), as the race's stale checkpointer would. The descriptor
     * stays open until the application's connection is closed: closing it would drop that
     * connection's locks on the -shm (fdguard.h). */
    exec_sql(app, "INSERT INTO t SELECT randomblob(900) FROM (SELECT 1 UNION ALL SELECT 2);");
    int fd = open(shm, O_RDWR);
    cr_assert_geq(fd, 0);
    uint32_t mx = shm_u32(fd, 16);
    cr_assert_gt(mx, shm_u32(fd, 96));
    cr_assert_eq(pwrite(fd, &mx, 4, 96), 4);
    cr_expect(wait_counts(st, lost), "lost pages not seen");
    cr_expect(state_race_signal_take(st, 0));
    cr_expect_not(state_race_signal_take(st, 0), "taken once");
    cr_expect_gt(atomic_load(&signals), 0);

    /* Then past the end of the WAL. */
    uint32_t past = mx + 50;
    cr_assert_eq(pwrite(fd, &past, 4, 96), 4);
    cr_expect(wait_counts(st, past_end), "backfill_past_end not seen");
    c = counts_now(st, NULL);
    cr_expect_eq(c.anomalies[WATCH_BACKFILL_PAST_END], 1, "one episode, counted once");
    cr_expect_eq(c.anomalies[WATCH_UNSTABLE_HEADER], 0);

    walwatch_stop(w);
    walwatch_free(w);
    sqlite3_close(app);
    close(fd);
    fdguard_set_free(guards, cfg->ndbs);
    config_free(cfg);
    state_free(st);
    free(path);
    free(shm);
    free(text);
}

/* ---- which databases are watched ---------------------------------------------------------- */

static void wait_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* watch = close first, then exposed (risk reason wal_reset_race), up to walindex_watch_max;
 * and files that do not exist are never created. */
Test(walwatch, selection, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    static const struct {
        int max;
        bool want[3]; /* a: watch = close, b: exposed, c: neither */
    } cases[] = {
        {8, {true, true, false}},
        {1, {true, false, false}},
    };

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *a = tmpdir_file("a.db"), *b = tmpdir_file("b.db"), *c = tmpdir_file("c.db");
        char *text = NULL;
        cr_assert_gt(asprintf(&text,
                              "[agent]\nwalindex_watch_max = %d\n"
                              "[database:a]\npath = %s\nwatch = close\n"
                              "[database:b]\npath = %s\n[database:c]\npath = %s\n",
                              cases[k].max, a, b, c),
                     0);
        struct config *cfg = config_load_string(text, "t.ini", stderr);
        cr_assert_not_null(cfg);
        struct state *st = state_new(0);
        cr_assert_eq(state_configure(st, cfg), 0);
        struct proc_usage u;
        struct risk r;
        memset(&u, 0, sizeof(u));
        memset(&r, 0, sizeof(r));
        r.wal_reset_race_exposed = true;
        r.reason[RISK_WAL_RESET_RACE] = true;
        state_put_risk(st, 1, &u, &r);
        r.reason[RISK_WAL_RESET_RACE] = false; /* exposed library, one connection: not */
        state_put_risk(st, 2, &u, &r);
        struct fdguard **guards = fdguard_set_new(cfg);
        struct walwatch *w = walwatch_new(cfg, st, guards, NULL, NULL);
        cr_assert_not_null(w);
        cr_assert_eq(walwatch_start(w), 0);
        wait_ms(300);
        struct snapshot *snap = state_snapshot(st, 0);
        for (int i = 0; i < 3; i++)
            cr_expect_eq(snap->dbs[i].watch.watched, cases[k].want[i], "max %d, db %d",
                         cases[k].max, i);
        snapshot_free(snap);
        walwatch_stop(w);
        walwatch_free(w);
        const char *paths[] = {a, b, c};
        for (int i = 0; i < 3; i++) {
            char *side = NULL;
            cr_expect_neq(access(paths[i], F_OK), 0, "%s created", paths[i]);
            cr_assert_gt(asprintf(&side, "%s-shm", paths[i]), 0);
            cr_expect_neq(access(side, F_OK), 0, "%s created", side);
            free(side);
        }
        fdguard_set_free(guards, cfg->ndbs);
        config_free(cfg);
        state_free(st);
        free(a);
        free(b);
        free(c);
        free(text);
    }
}
