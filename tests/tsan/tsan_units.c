/*
 * tsan_units.c: the modules where threads meet, driven directly by several threads each, for
 * ThreadSanitizer (scripts/test.sh, build-tsan) and the plain and ASan builds (ctest).
 *
 * Plain C, no Criterion: Criterion cannot start under TSan (its inheritable arena fails to map,
 * Snaipe/Criterion issue 274). One table of scenarios, one loop; CHECK prints file:line and
 * exits 1. Each scenario does real work on real files in a temporary directory and asserts on
 * the results, so it fails on a wrong answer as well as on a TSan report.
 *
 * The log scenario points stderr (fd 2, where log.c writes) at a temporary file for a moment:
 * run it with TSAN_OPTIONS=log_path=... (as scripts/test.sh does) so that a report made then is
 * not written into that file.
 *
 * Linked with -Wl,--wrap=close: every close(2) of agentcore goes through __wrap_close below,
 * which counts closes of the descriptors the fdguard scenario tracks and notes any made while
 * one of its connections is open (the POSIX lock trap, fdguard.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "checker.h"
#include "clock.h"
#include "config.h"
#include "fdguard.h"
#include "log.h"
#include "loglimit.h"
#include "metrics.h"
#include "sampler.h"
#include "state.h"
#include "ticker.h"
#include "walwatch.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            check_failed(__FILE__, __LINE__, #cond);                                               \
    } while (0)

static atomic_flag failed = ATOMIC_FLAG_INIT;

/* The first failure is reported and ends the process (exit runs the cleanup); a thread that
 * fails after it, say an application thread whose files the cleanup removes, waits for the end
 * instead of calling exit a second time. */
static _Noreturn void check_failed(const char *file, int line, const char *what)
{
    if (!atomic_flag_test_and_set(&failed)) {
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
        exit(1);
    }
    for (;;)
        pause();
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define RENDER_MAX (4 << 20)

static char tmpdir[256];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A path in the temporary directory; the caller frees it. */
static char *tmp_file(const char *name)
{
    char *p = NULL;
    CHECK(asprintf(&p, "%s/%s", tmpdir, name) > 0);
    return p;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, err ? err : sqlite3_errstr(rc));
    CHECK(rc == SQLITE_OK);
}

/* The application's database: WAL (no automatic checkpoints) or rollback, table t(x). */
static sqlite3 *app_db(const char *path, bool wal)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (wal)
        exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;");
    exec_sql(db, "CREATE TABLE IF NOT EXISTS t(x); CREATE INDEX IF NOT EXISTS tx ON t(x);"
                 "INSERT INTO t SELECT randomblob(300) FROM (SELECT 1 UNION ALL SELECT 2);");
    return db;
}

static struct config *load_config(const char *text)
{
    struct config *cfg = config_load_string(text, "tsan.ini", stderr);
    CHECK(cfg != NULL);
    return cfg;
}

/* Renders snap and returns the value of the first sample line that starts with prefix. */
static double render_value(const struct snapshot *snap, const char *prefix)
{
    struct build_info bi = {"tsan", sqlite3_libversion()};
    struct buf out;
    double v = -1;

    buf_init(&out, RENDER_MAX);
    CHECK(metrics_render(snap, &bi, snap->taken_ms, &out) == 0);
    CHECK(out.len > 0 && !out.failed);
    size_t n = strlen(prefix);
    for (const char *line = out.data; line != NULL && *line;) {
        if (strncmp(line, prefix, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    buf_free(&out);
    return v;
}

/* ---- the close(2) wrapper -------------------------------------------------------------------- */

#define TRACK_FDS 4096
static atomic_int closes[TRACK_FDS]; /* closes of each tracked descriptor */
static atomic_bool tracked[TRACK_FDS];
static atomic_int live_connections;  /* the fdguard scenario's, as it counts them */
static atomic_int closed_while_open; /* tracked closes made while one was open */

int __real_close(int fd);
int __wrap_close(int fd);

int __wrap_close(int fd)
{
    if (fd >= 0 && fd < TRACK_FDS && atomic_load(&tracked[fd])) {
        atomic_fetch_add(&closes[fd], 1);
        if (atomic_load(&live_connections) > 0)
            atomic_fetch_add(&closed_while_open, 1);
    }
    return __real_close(fd);
}

/* ---- state + metrics: writers and readers ---------------------------------------------------- */

#define STATE_WRITERS 4
#define STATE_READERS 2
#define STATE_ITER 20000
#define STATE_DBS 2

struct state_run {
    struct state *st;
    atomic_int writers_left;
    int id;
};

static void *state_writer(void *arg)
{
    struct state_run *run = arg;
    struct state *st = run->st;

    for (int i = 0; i < STATE_ITER; i++) {
        size_t idx = (size_t)(i % STATE_DBS);
        struct sample sm = {.taken_ms = i, .status = SAMPLE_OK, .file_size = 4096};
        struct check_progress p = {
            .units_done = 0, .units_total = 1, .new_yields = 1, .new_read_bytes = 10};
        struct check_outcome o = {.kind = CHECK_QUICK,
                                  .result =
                                      (i / STATE_DBS) % 2 ? CHECK_RESULT_OK : CHECK_RESULT_BUSY,
                                  .duration_s = 0.001,
                                  .finished_ms = i,
                                  .read_bytes = 5,
                                  .units_done = 1,
                                  .units_total = 1,
                                  .whole_file = true};
        struct watch_counts wc = {.audits = 1, .pages_audited = 3};
        state_put_sample(st, idx, &sm);
        state_check_begin(st, idx);
        state_check_progress(st, idx, &p);
        state_check_end(st, idx, &o);
        state_watch_add(st, idx, &wc, i);
        state_scrape_done(st, 0.001);
        state_http_closed(st, 1, 2);
        state_alert_post_done(st, i % 3 != 0);
        state_sample_pass_done(st, 0.01);
    }
    atomic_fetch_sub(&run->writers_left, 1);
    return NULL;
}

/* Every snapshot is consistent with itself: each writer call moves its fields together. */
static void *state_reader(void *arg)
{
    struct state_run *run = arg;
    uint64_t last_scrapes = 0;
    int rounds = 0;

    while (atomic_load(&run->writers_left) > 0 || rounds < 3) {
        struct snapshot *snap = state_snapshot(run->st, clock_wall_ms());
        CHECK(snap != NULL);
        CHECK(snap->ndbs == STATE_DBS);
        CHECK(snap->agent.http_closed[1] == 2 * snap->agent.http_closed[0]);
        CHECK(snap->agent.scrapes >= last_scrapes);
        last_scrapes = snap->agent.scrapes;
        for (size_t i = 0; i < snap->ndbs; i++) {
            const struct check_state *c = &snap->dbs[i].check;
            uint64_t runs =
                c->runs[CHECK_QUICK][CHECK_RESULT_OK] + c->runs[CHECK_QUICK][CHECK_RESULT_BUSY];
            CHECK(c->yields >= runs);
            CHECK(c->read_bytes >= 15 * runs);
            CHECK(snap->dbs[i].watch.counts.pages_audited == 3 * snap->dbs[i].watch.counts.audits);
        }
        CHECK(render_value(snap, "sqlite_agent_scrapes_total") == (double)snap->agent.scrapes);
        snapshot_free(snap);
        rounds++;
    }
    return NULL;
}

static void scenario_state(void)
{
    char *text = NULL;
    CHECK(asprintf(&text,
                   "[database:a]\npath = %s/a.db\n[database:b]\npath = %s/b.db\n"
                   "check = integrity\n",
                   tmpdir, tmpdir) > 0);
    struct config *cfg = load_config(text);
    struct state_run run = {.st = state_new(clock_wall_ms())};
    pthread_t w[STATE_WRITERS], r[STATE_READERS];

    CHECK(run.st != NULL);
    CHECK(state_configure(run.st, cfg) == 0);
    atomic_init(&run.writers_left, STATE_WRITERS);
    for (int i = 0; i < STATE_READERS; i++)
        CHECK(pthread_create(&r[i], NULL, state_reader, &run) == 0);
    for (int i = 0; i < STATE_WRITERS; i++)
        CHECK(pthread_create(&w[i], NULL, state_writer, &run) == 0);
    for (int i = 0; i < STATE_WRITERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < STATE_READERS; i++)
        pthread_join(r[i], NULL);

    /* Nothing lost: every call of every writer is counted. */
    struct snapshot *snap = state_snapshot(run.st, clock_wall_ms());
    uint64_t total = (uint64_t)STATE_WRITERS * STATE_ITER, per_db = total / STATE_DBS;
    CHECK(snap != NULL);
    CHECK(snap->agent.scrapes == total);
    CHECK(snap->agent.sample_passes == total);
    CHECK(snap->agent.http_closed[0] == total && snap->agent.http_closed[1] == 2 * total);
    CHECK(snap->agent.alert_posts[0] + snap->agent.alert_posts[1] == total);
    for (size_t i = 0; i < STATE_DBS; i++) {
        const struct check_state *c = &snap->dbs[i].check;
        CHECK(c->runs[CHECK_QUICK][CHECK_RESULT_OK] == per_db / 2);
        CHECK(c->runs[CHECK_QUICK][CHECK_RESULT_BUSY] == per_db / 2);
        CHECK(c->yields == per_db);
        CHECK(c->read_bytes == 15 * per_db);
        CHECK(!c->running && c->completed_once && !c->malformed);
        CHECK(snap->dbs[i].watch.counts.audits == per_db);
    }
    CHECK(render_value(snap, "sqlite_agent_scrapes_total") == (double)total);
    snapshot_free(snap);
    state_free(run.st);
    config_free(cfg);
    free(text);
}

/* ---- fdguard: connections opening and closing, descriptors released -------------------------- */

#define FD_CONN_THREADS 3
#define FD_RELEASERS 3
#define FD_PER_RELEASER 5 /* FD_RELEASERS * FD_PER_RELEASER <= FDGUARD_PENDING_MAX */
#define FD_ROUNDS 2000

struct fd_run {
    struct fdguard guard;
    pthread_barrier_t start, end;
    int fds[FD_RELEASERS][FD_PER_RELEASER]; /* opened by the main thread each round */
};

static void *fd_connections(void *arg)
{
    struct fd_run *run = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;

    for (int round = 0; round < FD_ROUNDS; round++) {
        pthread_barrier_wait(&run->start);
        int cycles = 1 + rand_r(&seed) % 4;
        for (int c = 0; c < cycles; c++) {
            fdguard_connection_opening(&run->guard);
            atomic_fetch_add(&live_connections, 1);
            if (rand_r(&seed) % 2)
                sched_yield();
            atomic_fetch_sub(&live_connections, 1);
            fdguard_connection_closed(&run->guard);
        }
        pthread_barrier_wait(&run->end);
    }
    return NULL;
}

struct fd_releaser {
    struct fd_run *run;
    int id;
};

static void *fd_release(void *arg)
{
    struct fd_releaser *rl = arg;

    for (int round = 0; round < FD_ROUNDS; round++) {
        pthread_barrier_wait(&rl->run->start);
        for (int k = 0; k < FD_PER_RELEASER; k++) {
            fdguard_release(&rl->run->guard, rl->run->fds[rl->id][k]);
            sched_yield();
        }
        pthread_barrier_wait(&rl->run->end);
    }
    return NULL;
}

static void scenario_fdguard(void)
{
    char *path = tmp_file("fdguard.file");
    struct fd_run run;
    struct fd_releaser rl[FD_RELEASERS];
    pthread_t conn[FD_CONN_THREADS], rel[FD_RELEASERS];
    unsigned nthreads = FD_CONN_THREADS + FD_RELEASERS + 1;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

    CHECK(fd >= 0);
    CHECK(write(fd, "x", 1) == 1);
    close(fd);
    fdguard_init(&run.guard);
    CHECK(pthread_barrier_init(&run.start, NULL, nthreads) == 0);
    CHECK(pthread_barrier_init(&run.end, NULL, nthreads) == 0);
    for (int i = 0; i < FD_CONN_THREADS; i++)
        CHECK(pthread_create(&conn[i], NULL, fd_connections, &run) == 0);
    for (int i = 0; i < FD_RELEASERS; i++) {
        rl[i] = (struct fd_releaser){&run, i};
        CHECK(pthread_create(&rel[i], NULL, fd_release, &rl[i]) == 0);
    }
    for (int round = 0; round < FD_ROUNDS; round++) {
        /* Opened before the round starts and nothing opened during it, so no number is reused
         * while it is watched. */
        for (int i = 0; i < FD_RELEASERS; i++) {
            for (int k = 0; k < FD_PER_RELEASER; k++) {
                int f = open(path, O_RDONLY);
                CHECK(f >= 0 && f < TRACK_FDS);
                atomic_store(&closes[f], 0);
                atomic_store(&tracked[f], true);
                run.fds[i][k] = f;
            }
        }
        pthread_barrier_wait(&run.start);
        pthread_barrier_wait(&run.end);
        /* Every connection closed: every descriptor released is closed, exactly once. */
        CHECK(atomic_load(&live_connections) == 0);
        for (int i = 0; i < FD_RELEASERS; i++) {
            for (int k = 0; k < FD_PER_RELEASER; k++) {
                int f = run.fds[i][k];
                CHECK(fcntl(f, F_GETFD) == -1 && errno == EBADF);
                CHECK(atomic_load(&closes[f]) == 1);
                atomic_store(&tracked[f], false);
            }
        }
    }
    for (int i = 0; i < FD_CONN_THREADS; i++)
        pthread_join(conn[i], NULL);
    for (int i = 0; i < FD_RELEASERS; i++)
        pthread_join(rel[i], NULL);
    /* None closed while a connection was open: that would drop SQLite's locks. */
    CHECK(atomic_load(&closed_while_open) == 0);
    pthread_barrier_destroy(&run.start);
    pthread_barrier_destroy(&run.end);
    fdguard_destroy(&run.guard);
    free(path);
}

/* ---- ticker: start, kicks from many threads, stop ---------------------------------------------
 */

#define TICK_KICKERS 4
#define TICK_KICKS 300
#define TICK_CYCLES 20

struct tick_run {
    struct ticker t;
    atomic_int ticks;
    atomic_int stopping_seen;
    atomic_bool hold;   /* the next round waits for a kick made during it */
    atomic_bool inside; /* that round is running */
    atomic_bool kicked; /* the kick has been made */
    int work[64];       /* written by the tick only: the thread's own data */
};

static int64_t tick_count(void *arg)
{
    struct tick_run *run = arg;

    for (size_t i = 0; i < NELEM(run->work); i++)
        run->work[i]++;
    atomic_fetch_add(&run->ticks, 1);
    if (atomic_exchange(&run->hold, false)) {
        atomic_store(&run->inside, true);
        while (!atomic_load(&run->kicked))
            sleep_ms(1);
    }
    if (ticker_stopping(&run->t))
        atomic_fetch_add(&run->stopping_seen, 1);
    return 60000; /* only a kick or a stop ends this sleep */
}

static void *tick_kicker(void *arg)
{
    struct tick_run *run = arg;

    for (int i = 0; i < TICK_KICKS; i++) {
        ticker_kick(&run->t);
        if (i % 16 == 0)
            sleep_ms(1);
    }
    return NULL;
}

/* Polls until the ticker has ticked more than `than`, up to 5 s. */
static bool wait_ticks(struct tick_run *run, int than)
{
    for (int i = 0; i < 500; i++) {
        if (atomic_load(&run->ticks) > than)
            return true;
        sleep_ms(10);
    }
    return false;
}

static void scenario_ticker(void)
{
    for (int cycle = 0; cycle < TICK_CYCLES; cycle++) {
        struct tick_run run;
        pthread_t k[TICK_KICKERS];

        memset(&run, 0, sizeof(run));
        ticker_init(&run.t, "tsan ticker", tick_count, &run);
        CHECK(ticker_start(&run.t) == 0);
        CHECK(wait_ticks(&run, 0)); /* the first round runs at once */
        for (int i = 0; i < TICK_KICKERS; i++)
            CHECK(pthread_create(&k[i], NULL, tick_kicker, &run) == 0);
        for (int i = 0; i < TICK_KICKERS; i++)
            pthread_join(k[i], NULL);
        /* No kick is lost: one more is followed by one more round, also one made while a
         * round runs (it must not sleep through it). */
        int before = atomic_load(&run.ticks);
        ticker_kick(&run.t);
        CHECK(wait_ticks(&run, before));
        atomic_store(&run.hold, true);
        ticker_kick(&run.t);
        while (!atomic_load(&run.inside))
            sleep_ms(1);
        before = atomic_load(&run.ticks);
        ticker_kick(&run.t);
        atomic_store(&run.kicked, true);
        CHECK(wait_ticks(&run, before));
        int64_t t0 = clock_mono_ms();
        ticker_stop(&run.t); /* wakes the 60 s sleep */
        CHECK(clock_mono_ms() - t0 < 5000);
        int n = atomic_load(&run.ticks);
        CHECK(n >= 4 && n <= TICK_KICKERS * TICK_KICKS + 4);
        for (size_t i = 0; i < NELEM(run.work); i++)
            CHECK(run.work[i] == n); /* joined: the tick's writes are visible */
        ticker_stop(&run.t);         /* a second stop is a no-op */
        ticker_destroy(&run.t);
    }
}

/* ---- log + loglimit: many threads, same and different causes ----------------------------------
 */

#define LOG_THREADS 4
#define LOG_LINES 2000

struct log_thread {
    int id;
};

static void *log_writer(void *arg)
{
    struct log_thread *lt = arg;
    char db[16];

    snprintf(db, sizeof(db), "t%d", lt->id);
    for (int i = 0; i < LOG_LINES; i++) {
        log_warn("tsan shared cause", "db", "shared", NULL);
        log_warn("tsan own cause", "db", db, NULL);
    }
    return NULL;
}

/* Lines in path that contain s. */
static int count_lines(const char *path, const char *s)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;

    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        CHECK(strchr(line, '\n') != NULL);   /* whole lines, never cut */
        CHECK(strncmp(line, "ts=", 3) == 0); /* never interleaved */
        CHECK(strstr(line + 3, "ts=") == NULL);
        if (strstr(line, s) != NULL)
            n++;
    }
    fclose(f);
    return n;
}

static void scenario_log(void)
{
    char *path = tmp_file("stderr.log");
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    struct log_thread lt[LOG_THREADS];
    pthread_t t[LOG_THREADS];
    unsigned long long dropped0 = log_lines_dropped();

    CHECK(saved >= 0 && fd >= 0);
    CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    log_set_format(LOG_FORMAT_LOGFMT);
    log_set_level(LOG_INFO);
    for (int i = 0; i < LOG_THREADS; i++) {
        lt[i].id = i;
        CHECK(pthread_create(&t[i], NULL, log_writer, &lt[i]) == 0);
    }
    for (int i = 0; i < LOG_THREADS; i++)
        pthread_join(t[i], NULL);
    fflush(stderr);
    CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
    close(saved);

    /* One shared cause: LOGLIMIT_BURST lines in all; one cause per thread: as many each. The
     * rest is counted as dropped (reported only when the 60 s window ends: not waited for). */
    CHECK(count_lines(path, "msg=\"tsan shared cause\" db=shared") == LOGLIMIT_BURST);
    CHECK(count_lines(path, "msg=\"tsan own cause\"") == LOG_THREADS * LOGLIMIT_BURST);
    for (int i = 0; i < LOG_THREADS; i++) {
        char want[64];
        snprintf(want, sizeof(want), "msg=\"tsan own cause\" db=t%d\n", i);
        CHECK(count_lines(path, want) == LOGLIMIT_BURST);
    }
    unsigned long long want_dropped =
        2ull * LOG_THREADS * LOG_LINES - LOGLIMIT_BURST - LOG_THREADS * LOGLIMIT_BURST;
    CHECK(log_lines_dropped() - dropped0 == want_dropped);
    free(path);
}

/* ---- the checker, the sampler and the close watch on real databases ---------------------------
 */

struct app_run {
    const char *path;
    bool wal;
    atomic_bool stop;
    atomic_int commits;
};

/* The application: commits (and, in WAL mode, passive checkpoints) until told to stop. */
static void *app_writer(void *arg)
{
    struct app_run *app = arg;
    sqlite3 *db = app_db(app->path, app->wal);

    while (!atomic_load(&app->stop)) {
        exec_sql(db, "INSERT INTO t SELECT randomblob(300) FROM (SELECT 1 UNION ALL SELECT 2);");
        if (app->wal && atomic_load(&app->commits) % 4 == 3)
            exec_sql(db, "PRAGMA wal_checkpoint(PASSIVE);");
        atomic_fetch_add(&app->commits, 1);
        sleep_ms(5);
    }
    CHECK(sqlite3_close(db) == SQLITE_OK);
    return NULL;
}

/* Until the application has committed: a WAL file between its first open and first commit has
 * no valid header, and a check then is honestly an error (wal.c, walBeginShmUnreliable). */
static void wait_commits(struct app_run *app)
{
    for (int i = 0; i < 1000 && atomic_load(&app->commits) == 0; i++)
        sleep_ms(5);
    CHECK(atomic_load(&app->commits) > 0);
}

/* Snapshots and renders while the threads run, as the HTTP thread does. With one_file, the
 * first two sections name one file, and are never checked at the same time (checker.c,
 * file_busy): state_check_begin and state_check_end of a run fall inside its file's turn. */
static void scrape_for(struct state *st, long ms, bool one_file)
{
    int64_t until = clock_mono_ms() + ms;
    int both = 0;

    while (clock_mono_ms() < until) {
        struct snapshot *snap = state_snapshot(st, clock_wall_ms());
        CHECK(snap != NULL);
        if (one_file && snap->dbs[0].check.running && snap->dbs[1].check.running)
            both++;
        CHECK(render_value(snap, "sqlite_agent_databases") == (double)snap->ndbs);
        state_scrape_done(st, 0.001);
        snapshot_free(snap);
        sleep_ms(2);
    }
    CHECK(both == 0);
}

static uint64_t runs_of(const struct check_state *c, enum check_kind k, enum check_result r)
{
    return c->runs[k][r];
}

static void scenario_checker(void)
{
    char *wal = tmp_file("wal.db"), *roll = tmp_file("rollback.db"), *text = NULL;
    struct app_run apps[2] = {{.path = wal, .wal = true}, {.path = roll, .wal = false}};
    pthread_t at[2];

    /* The files exist before the agent starts: it never creates one. */
    sqlite3_close(app_db(wal, true));
    sqlite3_close(app_db(roll, false));
    /* Two sections on one file share one guard (fdguard_set_new), and one check at a time. */
    CHECK(asprintf(&text,
                   "[agent]\ncheck_workers = 2\ncheck_priority = normal\n"
                   "check_interval = 100ms\nsample_interval = 100ms\ncheck_timeout = 20s\n"
                   "[database:wal]\npath = %s\ncheck = quick\n"
                   "[database:wal2]\npath = %s\ncheck = integrity\n"
                   "[database:rollback]\npath = %s\ncheck = integrity\n",
                   wal, wal, roll) > 0);
    struct config *cfg = load_config(text);
    struct state *st = state_new(clock_wall_ms());
    CHECK(st != NULL && state_configure(st, cfg) == 0);
    struct fdguard **guards = fdguard_set_new(cfg);
    CHECK(guards != NULL && guards[0] == guards[1] && guards[0] != guards[2]);
    struct sampler *sp = sampler_new(cfg, st, guards);
    struct checker *ck = checker_new(cfg, st, guards);
    CHECK(sp != NULL && ck != NULL);

    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&at[i], NULL, app_writer, &apps[i]) == 0);
    for (int i = 0; i < 2; i++)
        wait_commits(&apps[i]);
    CHECK(sampler_start(sp) == 0);
    CHECK(checker_start(ck) == 0);
    scrape_for(st, 3000, true);
    checker_stop(ck);
    sampler_stop(sp);
    for (int i = 0; i < 2; i++) {
        atomic_store(&apps[i].stop, true);
        pthread_join(at[i], NULL);
    }

    /* Several runs each, every one healthy; none running after the stop. */
    struct snapshot *snap = state_snapshot(st, clock_wall_ms());
    CHECK(snap != NULL && snap->ndbs == 3);
    static const enum check_kind kinds[3] = {CHECK_QUICK, CHECK_INTEGRITY, CHECK_INTEGRITY};
    for (size_t i = 0; i < 3; i++) {
        const struct check_state *c = &snap->dbs[i].check;
        CHECK(runs_of(c, kinds[i], CHECK_RESULT_OK) >= 1);
        CHECK(runs_of(c, kinds[i], CHECK_RESULT_MALFORMED) == 0);
        CHECK(runs_of(c, kinds[i], CHECK_RESULT_ERROR) == 0);
        CHECK(runs_of(c, kinds[i], CHECK_RESULT_TIMEOUT) == 0);
        CHECK(c->completed_once);
        CHECK(!c->malformed);
        CHECK(snap->dbs[i].sample.status == SAMPLE_OK);
    }
    CHECK(runs_of(&snap->dbs[0].check, CHECK_QUICK, CHECK_RESULT_OK) +
              runs_of(&snap->dbs[2].check, CHECK_INTEGRITY, CHECK_RESULT_OK) >=
          3);
    CHECK(snap->dbs[0].sample.wal_present);
    CHECK(snap->agent.sample_passes >= 2);
    snapshot_free(snap);

    checker_free(ck);
    sampler_free(sp);
    fdguard_set_free(guards, cfg->ndbs);
    config_free(cfg);
    state_free(st);
    free(wal);
    free(roll);
    free(text);
}

static void scenario_walwatch(void)
{
    char *path = tmp_file("watched.db"), *text = NULL;
    struct app_run app = {.wal = true};
    pthread_t at;

    app.path = path;
    sqlite3_close(app_db(path, true));
    CHECK(asprintf(&text,
                   "[agent]\nwalindex_watch_interval = 2ms\ncheck_priority = normal\n"
                   "check_interval = 200ms\ncheck_timeout = 20s\n"
                   "[database:app]\npath = %s\nwatch = close\ncheck = quick\n",
                   path) > 0);
    struct config *cfg = load_config(text);
    struct state *st = state_new(clock_wall_ms());
    CHECK(st != NULL && state_configure(st, cfg) == 0);
    struct fdguard **guards = fdguard_set_new(cfg);
    CHECK(guards != NULL);
    struct checker *ck = checker_new(cfg, st, guards);
    struct walwatch *w = walwatch_new(cfg, st, guards, checker_race_signal, ck);
    CHECK(ck != NULL && w != NULL);

    CHECK(pthread_create(&at, NULL, app_writer, &app) == 0);
    wait_commits(&app);
    CHECK(checker_start(ck) == 0);
    CHECK(walwatch_start(w) == 0);
    /* Until the close watch has audited a few checkpoints, up to 10 s. */
    int64_t until = clock_mono_ms() + 10000;
    struct watch_counts c = {0};
    bool watched = false;
    while (clock_mono_ms() < until && c.audits < 20) {
        scrape_for(st, 100, false);
        struct snapshot *snap = state_snapshot(st, clock_wall_ms());
        CHECK(snap != NULL);
        c = snap->dbs[0].watch.counts;
        watched = snap->dbs[0].watch.watched;
        snapshot_free(snap);
    }
    walwatch_stop(w);
    checker_stop(ck);
    atomic_store(&app.stop, true);
    pthread_join(at, NULL);

    /* Clean checkpoints of a healthy library: audited, nothing lost, no race signal. */
    CHECK(watched);
    CHECK(c.audits >= 20 && c.pages_audited > 0);
    CHECK(c.lost_pages == 0);
    CHECK(c.anomalies[WATCH_BACKFILL_PAST_END] == 0);
    CHECK(!state_race_signal_take(st, 0));
    struct snapshot *snap = state_snapshot(st, clock_wall_ms());
    CHECK(snap != NULL);
    CHECK(snap->dbs[0].check.runs[CHECK_QUICK][CHECK_RESULT_MALFORMED] == 0);
    snapshot_free(snap);

    walwatch_free(w);
    checker_free(ck);
    fdguard_set_free(guards, cfg->ndbs);
    config_free(cfg);
    state_free(st);
    free(path);
    free(text);
}

/* ---- the table --------------------------------------------------------------------------------
 */

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"log + loglimit: 4 threads, shared and own causes", scenario_log},
    {"state + metrics: 4 writers, 2 readers rendering", scenario_state},
    {"fdguard: 3 connection threads, 3 releasers", scenario_fdguard},
    {"ticker: start, kicks from 4 threads, stop", scenario_ticker},
    {"checker + sampler: 2 workers, WAL and rollback, with writers", scenario_checker},
    {"walwatch + checker: close watch on a live WAL database", scenario_walwatch},
};

/* Also after a failed CHECK (exit(1)); TSan's own exit on a report skips it. */
static void remove_tmpdir(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* tsan_units [NAME]: every scenario, or those whose name contains NAME. */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    int ran = 0;

    const char *base = getenv("TMPDIR");

    CHECK(snprintf(tmpdir, sizeof(tmpdir), "%s/sqlite-agent-tsan-XXXXXX", base ? base : "/tmp") <
          (int)sizeof(tmpdir));
    CHECK(mkdtemp(tmpdir) != NULL);
    atexit(remove_tmpdir);
    for (size_t i = 0; i < NELEM(scenarios); i++) {
        if (only != NULL && strstr(scenarios[i].name, only) == NULL)
            continue;
        double t0 = clock_mono_s();
        scenarios[i].run();
        fprintf(stderr, "ok %s (%.2f s)\n", scenarios[i].name, clock_mono_s() - t0);
        ran++;
    }
    CHECK(ran > 0);
    return 0;
}
