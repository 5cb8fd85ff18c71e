/*
 * checker.c: integrity checks on a read-only connection, scheduled over a few worker threads.
 *
 * Classification is the honest part: corruption is only what SQLite itself calls corruption
 * (SQLITE_CORRUPT, SQLITE_NOTADB, or a check row other than "ok"). A check that could not run,
 * because the file was busy, missing, unreadable, or too slow, is counted as such and never
 * changes the verdict.
 */
#include "checker.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dbopen.h"
#include "log.h"
#include "ticker.h"

/* A WAL reader sees SQLITE_BUSY only briefly (another connection is running recovery or
 * restarting the WAL); waiting longer would only delay the next check. */
#define CHECK_BUSY_TIMEOUT_MS 200
/* The progress handler runs every this many virtual machine instructions: often enough to stop
 * within milliseconds of the deadline, rarely enough to cost nothing. */
#define PROGRESS_OPS 1000
/* Problem rows written to the log on a transition to malformed. */
#define LOG_ROWS_MAX 5

/* How often the watchdog looks at running checks: a waiting writer is released within this,
 * well inside any sensible busy timeout. */
#define WATCH_MS 20
/* With no check running the watchdog only wakes this rarely; a starting check wakes it. */
#define WATCH_IDLE_MS 60000

/* One run. The flags are set by the progress handler or by the watchdog thread. */
struct run {
    char rows[256]; /* the first problem rows, "; "-separated, for the log (as detail) */
    const struct db_config *db;
    uint32_t *kinds; /* the outcome's problem rows by kind (problems.h) */
    const atomic_bool *stop;
    struct dbopen open;
    sqlite3 *conn;
    int64_t deadline_ms; /* monotonic */
    atomic_bool timed_out;
    atomic_bool stopped;
    atomic_bool yielded; /* stepped aside for a waiting writer */
};

/* Whether the run must end now, and why (the flag). */
static bool run_must_end(struct run *r)
{
    if (atomic_load(r->stop)) {
        atomic_store(&r->stopped, true);
        return true;
    }
    if (clock_mono_ms() >= r->deadline_ms) {
        atomic_store(&r->timed_out, true);
        return true;
    }
    /* A rollback-journal check holds SHARED; a writer that wants to commit takes PENDING and
     * waits for it. Stepping aside at once keeps the writer's wait to its next busy-handler
     * retry, well inside any busy timeout, so it never sees "database is locked". */
    if (dbopen_writer_waiting(&r->open)) {
        atomic_store(&r->yielded, true);
        return true;
    }
    return false;
}

static int on_progress(void *arg)
{
    return run_must_end(arg) ? 1 : 0;
}

/* Maps an SQLite result code of a failed step to a check result. */
static enum check_result classify(const struct run *r, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CHECK_RESULT_MALFORMED;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CHECK_RESULT_BUSY;
    case SQLITE_INTERRUPT:
        return atomic_load(&r->timed_out) ? CHECK_RESULT_TIMEOUT
               : atomic_load(&r->yielded) ? CHECK_RESULT_BUSY
                                          : CHECK_RESULT_ERROR;
    default:
        return CHECK_RESULT_ERROR;
    }
}

/* Why the run failed, for the log: the caller decides whether to repeat it. */
static void describe_failure(struct check_outcome *o, const char *what, sqlite3 *conn, int rc)
{
    snprintf(o->detail, sizeof(o->detail), "step=%s sqlite_code=%d sqlite_error=%s", what, rc,
             conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
}

void checker_log_failure(const struct db_config *db, const struct check_outcome *o,
                         enum log_level level)
{
    log_msg(level, "check could not complete", "db", db->name, "path", db->path, "result",
            state_check_result_str(o->result), "detail", o->detail, NULL);
}

static int exec_pragma(sqlite3 *conn, const char *sql)
{
    return sqlite3_exec(conn, sql, NULL, NULL, NULL);
}

/* Steps the check statement; counts rows other than "ok" and keeps the first few in the run's
 * rows[] for the log, which is written only once the verdict stands (an unlocked read that
 * raced a writer is thrown away, rows and all). */
static int run_pragma(struct run *r, sqlite3 *conn, const char *sql, uint32_t *problems)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL);

    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        const char *row = (const char *)sqlite3_column_text(stmt, 0);
        if (row != NULL && strcmp(row, "ok") == 0)
            continue;
        r->kinds[problems_classify(row)]++;
        if (*problems < LOG_ROWS_MAX) {
            size_t used = strlen(r->rows);
            snprintf(r->rows + used, sizeof(r->rows) - used, "%s%s", used ? "; " : "",
                     row ? row : "(null)");
        }
        (*problems)++;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The body of a run on an open connection. Returns an SQLite result code. */
static int check_on(struct run *r, sqlite3 *conn, uint32_t *problems)
{
    int rc;

    sqlite3_extended_result_codes(conn, 1);
    sqlite3_busy_timeout(conn, CHECK_BUSY_TIMEOUT_MS);
    sqlite3_progress_handler(conn, PROGRESS_OPS, on_progress, r);
    /* No memory map: a damaged or concurrently truncated file must fail as an error code, not
     * as SIGBUS, and the agent must not widen the damage mmap_size spreads. */
    rc = exec_pragma(conn, "PRAGMA mmap_size=0");
    if (rc == SQLITE_OK)
        rc = exec_pragma(conn, "PRAGMA query_only=1");
    if (rc == SQLITE_OK)
        rc = run_pragma(r, conn,
                        r->db->check == CHECK_INTEGRITY ? "PRAGMA integrity_check"
                                                        : "PRAGMA quick_check",
                        problems);
    return rc;
}

/* A check's verdict must not rest on SQLite failing to parse a schema written by a newer
 * SQLite (a view using syntax the agent's library lacks): that is SQLITE_CORRUPT with
 * "malformed database schema (...) - near ...: syntax error" or "no such function", and it
 * says nothing about the file's integrity. */
static bool schema_unsupported(sqlite3 *conn, int rc)
{
    const char *msg = conn ? sqlite3_errmsg(conn) : "";

    return (rc & 0xff) == SQLITE_CORRUPT && strncmp(msg, "malformed database schema", 25) == 0 &&
           (strstr(msg, "syntax error") != NULL || strstr(msg, "no such") != NULL ||
            strstr(msg, "unsupported") != NULL || strstr(msg, "unknown") != NULL);
}

static void watch_add(struct checker *ck, struct run *r);
static void watch_remove(struct checker *ck, struct run *r);
static int64_t watch_tick(void *arg);

/* One run; ck (NULL for --once) has its watchdog look after it while the connection is open. */
static int run_check(const struct db_config *db, struct fdguard *guard, const atomic_bool *stop,
                     struct check_outcome *out, struct checker *ck)
{
    struct run r = {.db = db, .kinds = out->kinds, .stop = stop};
    sqlite3 *conn = NULL;
    double t0 = clock_mono_s();
    uint32_t problems = 0;
    const char *step = "check";
    int rc;

    r.deadline_ms = clock_mono_ms() + db->check_timeout_ms;
    memset(out, 0, sizeof(*out));
    out->kind = db->check;

    dbopen_plan(db->path, &r.open);
    if (r.open.mode == DBOPEN_REFUSE) {
        snprintf(out->detail, sizeof(out->detail), "%s", r.open.why);
        out->result = CHECK_RESULT_ERROR;
        goto done;
    }
    fdguard_connection_opening(guard);
    rc = dbopen_open(db->path, &r.open, &conn);
    if (rc != SQLITE_OK) {
        step = "open";
        rc = conn ? sqlite3_extended_errcode(conn) : rc;
    } else {
        r.conn = conn;
        if (ck != NULL)
            watch_add(ck, &r);
        rc = check_on(&r, conn, &problems);
        if (ck != NULL)
            watch_remove(ck, &r);
    }
    bool unsupported = schema_unsupported(conn, rc);
    if (rc != SQLITE_OK && !atomic_load(&r.stopped))
        describe_failure(out, unsupported ? "schema (written by a newer SQLite?)" : step, conn, rc);
    sqlite3_close_v2(conn);
    fdguard_connection_closed(guard);

    if (atomic_load(&r.stopped))
        goto out;
    /* Problem rows are SQLite's own finding even when the run then failed or timed out. */
    if (problems > 0) {
        out->result = CHECK_RESULT_MALFORMED;
        snprintf(out->detail, sizeof(out->detail), "%s", r.rows);
    } else if (rc == SQLITE_OK)
        out->result = CHECK_RESULT_OK;
    else if (unsupported)
        out->result = CHECK_RESULT_ERROR;
    else if ((rc & 0xff) == SQLITE_CANTOPEN && dbopen_wal_vanished(db->path, &r.open))
        out->result = CHECK_RESULT_BUSY; /* the application closed it meanwhile */
    else
        out->result = classify(&r, rc);
    if (r.open.mode == DBOPEN_IMMUTABLE && !dbopen_unchanged(db->path, &r.open)) {
        /* Read without locks while a writer changed the file: no verdict either way. */
        log_info("database changed during an unlocked check; not counted as a verdict", "db",
                 db->name, "path", db->path, NULL);
        out->result = CHECK_RESULT_BUSY;
        problems = 0;
        snprintf(out->detail, sizeof(out->detail), "the file changed during an unlocked read");
    }
done:
    out->problems = problems;
    out->duration_s = clock_mono_s() - t0;
    out->finished_ms = clock_wall_ms();
out:
    dbopen_done(&r.open, guard);
    return atomic_load(&r.stopped) ? -1 : 0;
}

int checker_run_one(const struct db_config *db, struct fdguard *guard, const atomic_bool *stop,
                    struct check_outcome *out)
{
    return run_check(db, guard, stop, out, NULL);
}

/* ---- scheduling ------------------------------------------------------------------------ */

struct job {
    int64_t next_due_ms; /* monotonic */
    bool running;
    bool failing; /* the last run did not complete: its failure was logged at warn */
};

struct checker {
    const struct config *cfg;
    struct state *state;
    struct fdguard *const *guards;
    struct job *jobs;
    /* Two sections may watch one file (one guard). Only one check runs on a file at a time:
     * two integrity checks reading one file at once help nobody, and the guard's held-back
     * descriptors are closed only when no connection is open. owner[i] is the first section
     * on i's file; file_busy[owner[i]] says a check of that file is running. */
    size_t *owner;
    bool *file_busy;
    pthread_t *threads;
    int nthreads;
    /* The watchdog. The progress handler runs between virtual-machine instructions only, and
     * in integrity_check one instruction walks a whole b-tree: seconds on a large file with a
     * cold cache, during which neither check_timeout nor a waiting writer could be answered.
     * sqlite3_interrupt() may be called from another thread while the connection runs
     * (sqlite.org/c3ref/interrupt.html) and takes effect inside that walk; the connection
     * stays open while it is in watched[] (watch_lock held across the call). */
    struct ticker watchdog;
    pthread_mutex_t watch_lock;
    struct run **watched; /* check_workers slots */
    pthread_mutex_t lock; /* guards jobs */
    pthread_cond_t wake;
    atomic_bool stop;
};

static void watch_add(struct checker *ck, struct run *r)
{
    pthread_mutex_lock(&ck->watch_lock);
    for (int i = 0; i < ck->cfg->check_workers; i++) {
        if (ck->watched[i] == NULL) {
            ck->watched[i] = r;
            break;
        }
    }
    pthread_mutex_unlock(&ck->watch_lock);
    ticker_kick(&ck->watchdog); /* it sleeps while nothing runs */
}

static void watch_remove(struct checker *ck, struct run *r)
{
    pthread_mutex_lock(&ck->watch_lock);
    for (int i = 0; i < ck->cfg->check_workers; i++)
        if (ck->watched[i] == r)
            ck->watched[i] = NULL;
    pthread_mutex_unlock(&ck->watch_lock);
}

/* Every WATCH_MS while a check runs; idle otherwise, until watch_add() kicks it. */
static int64_t watch_tick(void *arg)
{
    struct checker *ck = arg;
    bool any = false;

    pthread_mutex_lock(&ck->watch_lock);
    for (int i = 0; i < ck->cfg->check_workers; i++) {
        struct run *r = ck->watched[i];
        if (r != NULL && run_must_end(r)) {
            sqlite3_interrupt(r->conn);
            dbopen_unblock(&r->open); /* an open(2) a FIFO holds: dbopen.h */
        }
        any = any || r != NULL;
    }
    pthread_mutex_unlock(&ck->watch_lock);
    return any ? WATCH_MS : WATCH_IDLE_MS;
}

struct checker *checker_new(const struct config *cfg, struct state *st,
                            struct fdguard *const *guards)
{
    struct checker *ck = calloc(1, sizeof(*ck));
    pthread_condattr_t attr;

    if (ck == NULL)
        return NULL;
    ck->cfg = cfg;
    ck->state = st;
    ck->guards = guards;
    size_t n = cfg->ndbs ? cfg->ndbs : 1;
    ck->jobs = calloc(n, sizeof(*ck->jobs));
    ck->owner = calloc(n, sizeof(*ck->owner));
    ck->file_busy = calloc(n, sizeof(*ck->file_busy));
    size_t nworkers = (size_t)(cfg->check_workers > 0 ? cfg->check_workers : 1);
    ck->threads = calloc(nworkers, sizeof(*ck->threads));
    ck->watched = calloc(nworkers, sizeof(*ck->watched));
    if (ck->jobs == NULL || ck->owner == NULL || ck->file_busy == NULL || ck->threads == NULL ||
        ck->watched == NULL) {
        free(ck->watched);
        free(ck->jobs);
        free(ck->owner);
        free(ck->file_busy);
        free(ck->threads);
        free(ck);
        return NULL;
    }
    for (size_t i = 0; i < cfg->ndbs; i++) {
        ck->owner[i] = i;
        for (size_t k = 0; k < i; k++) {
            if (guards[k] == guards[i]) {
                ck->owner[i] = k;
                break;
            }
        }
    }
    pthread_mutex_init(&ck->lock, NULL);
    pthread_mutex_init(&ck->watch_lock, NULL);
    ticker_init(&ck->watchdog, "check watchdog", watch_tick, ck);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ck->wake, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&ck->stop, false);
    return ck;
}

void checker_free(struct checker *ck)
{
    if (ck == NULL)
        return;
    pthread_cond_destroy(&ck->wake);
    pthread_mutex_destroy(&ck->lock);
    ticker_destroy(&ck->watchdog);
    pthread_mutex_destroy(&ck->watch_lock);
    free(ck->watched);
    free(ck->jobs);
    free(ck->owner);
    free(ck->file_busy);
    free(ck->threads);
    free(ck);
}

/* The due job that has waited longest, or -1; *next gets the earliest due time of the jobs not
 * running. Called with ck->lock held. */
static long pick_job(struct checker *ck, int64_t now, int64_t *next)
{
    long best = -1;

    *next = INT64_MAX;
    for (size_t i = 0; i < ck->cfg->ndbs; i++) {
        const struct job *j = &ck->jobs[i];
        if (j->running || ck->cfg->dbs[i].check == CHECK_OFF || ck->file_busy[ck->owner[i]])
            continue;
        if (j->next_due_ms < *next) {
            *next = j->next_due_ms;
            if (j->next_due_ms <= now)
                best = (long)i;
        }
    }
    return best;
}

static void log_verdict(const struct db_config *db, const struct check_outcome *o, bool was)
{
    char rows[16];

    snprintf(rows, sizeof(rows), "%u", o->problems);
    if (o->result == CHECK_RESULT_MALFORMED && !was)
        log_error("database is malformed", "db", db->name, "path", db->path, "check",
                  config_check_kind_str(o->kind), "problem_rows", rows, "first_problems", o->detail,
                  "recovery", "sqlite3 copy.db .recover | sqlite3 recovered.db", NULL);
    else if (o->result == CHECK_RESULT_OK && was)
        log_info("database passes its check again", "db", db->name, "path", db->path, "check",
                 config_check_kind_str(o->kind), NULL);
}

static void run_job(struct checker *ck, size_t i)
{
    const struct db_config *db = &ck->cfg->dbs[i];
    struct check_outcome o;

    state_check_begin(ck->state, i);
    if (run_check(db, ck->guards[i], &ck->stop, &o, ck) != 0)
        return; /* stopping: no verdict recorded */
    log_verdict(db, &o, state_check_end(ck->state, i, &o));
    /* A database that cannot be checked says so once, not every check_interval. */
    bool failed = o.result != CHECK_RESULT_OK && o.result != CHECK_RESULT_MALFORMED;
    if (failed)
        checker_log_failure(db, &o, ck->jobs[i].failing ? LOG_DEBUG : LOG_WARN);
    else if (ck->jobs[i].failing)
        log_info("check completes again", "db", db->name, "path", db->path, NULL);
    ck->jobs[i].failing = failed;
}

static void *worker_main(void *arg)
{
    struct checker *ck = arg;

    pthread_mutex_lock(&ck->lock);
    while (!atomic_load(&ck->stop)) {
        int64_t now = clock_mono_ms(), next;
        long i = pick_job(ck, now, &next);
        if (i < 0) {
            if (next == INT64_MAX) {
                pthread_cond_wait(&ck->wake, &ck->lock);
            } else {
                struct timespec until = clock_mono_after(next - now);
                pthread_cond_timedwait(&ck->wake, &ck->lock, &until);
            }
            continue;
        }
        struct job *j = &ck->jobs[i];
        j->running = true;
        ck->file_busy[ck->owner[i]] = true;
        pthread_mutex_unlock(&ck->lock);
        run_job(ck, (size_t)i);
        pthread_mutex_lock(&ck->lock);
        j->running = false;
        ck->file_busy[ck->owner[i]] = false;
        /* Start to start, so a database is checked every check_interval however long the run;
         * a run longer than the interval is followed by the next one right away. */
        j->next_due_ms = now + ck->cfg->dbs[i].check_interval_ms;
        pthread_cond_broadcast(&ck->wake);
    }
    pthread_mutex_unlock(&ck->lock);
    return NULL;
}

int checker_start(struct checker *ck)
{
    int64_t now = clock_mono_ms();

    for (size_t i = 0; i < ck->cfg->ndbs; i++)
        ck->jobs[i].next_due_ms = now;
    if (ticker_start(&ck->watchdog) != 0)
        return -1;
    for (int t = 0; t < ck->cfg->check_workers; t++) {
        int rc = pthread_create(&ck->threads[t], NULL, worker_main, ck);
        if (rc != 0) {
            log_error("cannot start a check worker", "error", strerror(rc), NULL);
            checker_stop(ck);
            return -1;
        }
        ck->nthreads++;
    }
    return 0;
}

void checker_stop(struct checker *ck)
{
    if (ck == NULL)
        return;
    pthread_mutex_lock(&ck->lock);
    atomic_store(&ck->stop, true);
    pthread_cond_broadcast(&ck->wake);
    pthread_mutex_unlock(&ck->lock);
    /* The watchdog goes last: it is what interrupts a run stuck in one long instruction. */
    for (int t = 0; t < ck->nthreads; t++)
        pthread_join(ck->threads[t], NULL);
    ck->nthreads = 0;
    ticker_stop(&ck->watchdog);
}
