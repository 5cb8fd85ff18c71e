/*
 * checker.c: integrity checks on a read-only connection, scheduled over a few worker threads.
 *
 * Classification is the honest part: corruption is only what SQLite itself calls corruption
 * (SQLITE_CORRUPT, SQLITE_NOTADB, or a check row other than "ok"). A check that could not run,
 * because the file was busy, missing, unreadable, or too slow, is counted as such and never
 * changes the verdict. This file gathers the facts of a run; verdict.c decides.
 *
 * A check never makes the application wait: it steps aside for a waiting writer (rollback
 * journal), a blocking checkpoint (WAL), or a WAL its snapshot keeps from being reset while the
 * application writes (wal_pinned), and goes on in units (checkunits.h) that each hold a
 * snapshot briefly.
 */
#include "checker.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkauto.h"
#include "checkunits.h"
#include "clock.h"
#include "dbopen.h"
#include "log.h"
#include "prio.h"
#include "problems.h"
#include "schedule.h"
#include "ticker.h"
#include "verdict.h"

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
#define WATCH_MS 10
/* With no check running the watchdog only wakes this rarely; a starting check wakes it. */
#define WATCH_IDLE_MS 60000
/* The progress handler looks at the -shm lock bytes at most this often (two fcntl calls). */
#define PROBE_MS 5
/* Between units, while the application's checkpoint or writer is still waiting, the check
 * looks again this often before it starts its next read transaction. */
#define RESUME_POLL_MS 5
/* After stepping aside for a pinned WAL, the next unit waits at most this long for the
 * application's checkpoint to copy back what the check held up (an application that never
 * checkpoints must not stop checks): the next commit's automatic checkpoint copies
 * check_wal_pin_max (32 MiB) in tens of milliseconds. */
#define CATCH_UP_MAX_MS 1000
/* One run. The flags are set by the progress handler or by the watchdog thread. */
struct run {
    char rows[256]; /* the first problem rows, "; "-separated, for the log (as detail) */
    const struct db_config *db;
    uint32_t *kinds;      /* the outcome's problem rows by kind (problems.h) */
    enum check_kind kind; /* quick or integrity, for this run (checkauto.h) */
    const atomic_bool *stop;
    struct dbopen open;
    struct dbopen_shm shm; /* WAL, locked: the lock bytes the watchdog reads */
    struct dbopen_io io;
    sqlite3 *conn;
    int64_t deadline_ms; /* monotonic */
    atomic_bool timed_out;
    atomic_bool stopped;
    atomic_bool yielded;             /* stepping aside for a waiting writer or checkpoint */
    atomic_int_least64_t blocked_ms; /* a blocking checkpoint first seen (monotonic); 0 none */
    atomic_int_least64_t probed_ms;  /* the last look at the -shm lock bytes */
    /* The read transaction of the statement running now (run_pragma), for wal_pinned: the
     * WAL's last frame and salt as it took its read mark (run_read_begun), and how many bytes
     * the application has written past that (looked at every PROBE_MS at most). */
    atomic_uint_least32_t snap_mx, snap_salt;
    atomic_int_least64_t pin_probed_ms;
    atomic_uint_least64_t pin_bytes;
    atomic_bool snap_known; /* a statement runs, and snap_mx is its read transaction's */
    atomic_bool pinned;     /* stepped aside for it: wait for the application's checkpoint */
    uint32_t problems;
    uint32_t yields;
    double snapshot_max_s;
    uint64_t bytes_reported; /* of io.bytes, already in the snapshot */
    struct state *state;     /* NULL for --once */
    size_t idx;
    pid_t tid;           /* the worker thread running it */
    bool can_boost;      /* check_priority idle, and the watchdog may raise it (prio.h) */
    atomic_bool boosted; /* raised for a step aside; lowered again before the next unit */
};

/* wal.c: a FULL, RESTART or TRUNCATE checkpoint holds the write and checkpoint locks while it
 * waits for readers, and every writer of the application queues behind it. Seen for longer
 * than check_yield_after (a checkpoint that is not waiting for the check is done by then),
 * the check steps aside. A writer alone or a PASSIVE checkpoint alone waits for no reader. */
static bool checkpoint_waiting(struct run *r, int64_t now)
{
    int_least64_t last = atomic_load(&r->probed_ms);

    if (r->shm.fd < 0)
        return false;
    if (now - last >= PROBE_MS && atomic_compare_exchange_strong(&r->probed_ms, &last, now)) {
        if (dbopen_wal_locks(&r->shm) != DBOPEN_WAL_CHECKPOINT_BLOCKING) {
            atomic_store(&r->blocked_ms, 0);
        } else {
            int_least64_t none = 0;
            atomic_compare_exchange_strong(&r->blocked_ms, &none, now);
        }
    }
    int_least64_t since = atomic_load(&r->blocked_ms);
    return since != 0 && now - since >= r->db->check_yield_after_ms;
}

/*
 * A snapshot held while the application writes pins the WAL: no checkpoint can copy back the
 * frames after it and no writer can start the log over (wal.c, walCheckpoint's mxSafeFrame and
 * walRestartLog), so the WAL grows and every transaction of the application gets slower.
 * Measured (docs/configuration.md, check_wal_pin_max): under CPU load a reader at nice 19
 * holding 3 s snapshots made four writers with a 5 s busy timeout see "database is locked",
 * 1 s snapshots did not; so did the agent's own check at nice 19, which CPU load stretched
 * from 0.1 s to 6 s. So once the application has written past the snapshot, the check runs
 * at the process's priority (the same boost as for stepping aside): that took the longest
 * snapshot on that busy host from 0.40-0.48 s (boosted 250 ms later) to 0.08-0.14 s and the
 * WAL's peak from 174-834 MB to 97-328 MB (the writers alone: 150-504 MB). And once the
 * application has written check_wal_pin_max past it, the check steps aside: what a pin costs
 * is the WAL it keeps from being copied back, not its age. The snapshot's last frame is read as
 * its read transaction takes a read mark (dbopen.c sees that in xShmLock: run_read_begun), not
 * before the statement starts: the log can start over in between, and the whole new log would
 * count as written past the snapshot. A time limit (1 s) kept a 450 MB one-table
 * database from ever completing its check beside a writer committing a small row every 5 ms
 * (bench/no-harm.py --phases 15s: 0 checks in 40 s, 20 with 32 MiB). A snapshot nobody writes
 * past harms no one: no limit, and the check keeps its idle priority.
 */
static bool wal_pinned(struct run *r, int64_t now)
{
    int_least64_t last = atomic_load(&r->pin_probed_ms);
    struct ff_walindex h;

    if (r->shm.fd < 0 || !atomic_load(&r->snap_known))
        return false;
    if (now - last >= PROBE_MS && atomic_compare_exchange_strong(&r->pin_probed_ms, &last, now) &&
        dbopen_wal_header(&r->shm, &h))
        atomic_store(&r->pin_bytes, fileformat_wal_bytes_since(&h, atomic_load(&r->snap_mx),
                                                               atomic_load(&r->snap_salt)));
    uint64_t past = atomic_load(&r->pin_bytes);
    if (past == 0)
        return false;
    if (r->can_boost && !atomic_exchange(&r->boosted, true))
        prio_boost(r->tid);
    if (r->db->check_wal_pin_max <= 0 || past < (uint64_t)r->db->check_wal_pin_max)
        return false;
    atomic_store(&r->pinned, true);
    return true;
}

/* Whether the run must end now, and why (the flag). */
static bool run_must_end(struct run *r)
{
    int64_t now = clock_mono_ms();

    if (atomic_load(r->stop)) {
        atomic_store(&r->stopped, true);
        return true;
    }
    if (now >= r->deadline_ms) {
        atomic_store(&r->timed_out, true);
        return true;
    }
    /* A rollback-journal check holds SHARED; a writer that wants to commit takes PENDING and
     * waits for it. Stepping aside at once keeps the writer's wait to its next busy-handler
     * retry, well inside any busy timeout, so it never sees "database is locked". */
    if (dbopen_writer_waiting(&r->open) || checkpoint_waiting(r, now) || wal_pinned(r, now)) {
        atomic_store(&r->yielded, true);
        return true;
    }
    return false;
}

/* Whether the run is ending: flags only, no probe (a read-budget wait asks this). */
static bool run_ending(void *arg)
{
    struct run *r = arg;

    return atomic_load(&r->stopped) || atomic_load(&r->timed_out) || atomic_load(&r->yielded) ||
           atomic_load(r->stop) || clock_mono_ms() >= r->deadline_ms;
}

static int on_progress(void *arg)
{
    return run_must_end(arg) ? 1 : 0;
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

/* The pragma of a run of this kind (checkauto_kind chose it: the one place). */
const char *checker_pragma_for_run(enum check_kind kind)
{
    return kind == CHECK_INTEGRITY ? "integrity_check" : "quick_check";
}

static int exec_pragma(sqlite3 *conn, const char *sql)
{
    return sqlite3_exec(conn, sql, NULL, NULL, NULL);
}

/* Every row the check returns comes here: counts those other than "ok" and keeps the first
 * few in rows[] for the log, which is written only once the verdict stands (an unlocked read
 * that raced a writer is thrown away, rows and all). */
static void run_note_row(struct run *r, const char *row)
{
    if (row != NULL && strcmp(row, "ok") == 0)
        return;
    r->kinds[problems_classify(row)]++;
    if (r->problems < LOG_ROWS_MAX) {
        size_t used = strlen(r->rows);
        snprintf(r->rows + used, sizeof(r->rows) - used, "%s%s", used ? "; " : "",
                 row ? row : "(null)");
    }
    r->problems++;
}

/* dbopen_io.read_begun: the check's read transaction has just taken its WAL read mark, so the
 * wal-index header is its snapshot's (dbopen.c): where the WAL ended for it. */
static void run_read_begun(void *arg)
{
    struct run *r = arg;
    struct ff_walindex h;

    if (!dbopen_wal_header(&r->shm, &h))
        return;
    atomic_store(&r->snap_mx, h.mx_frame);
    atomic_store(&r->snap_salt, h.salt1);
    atomic_store(&r->pin_bytes, 0);
    atomic_store(&r->snap_known, true);
}

/* Steps one check statement: one read transaction, timed for snapshot_max_s. */
static int run_pragma(struct run *r, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    double t0 = clock_mono_s();

    /* Where the snapshot ends comes with its read mark (run_read_begun). */
    atomic_store(&r->snap_known, false);
    atomic_store(&r->pin_bytes, 0);
    int rc = sqlite3_prepare_v2(r->conn, sql, -1, &stmt, NULL);

    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        run_note_row(r, (const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt); /* autocommit: the read transaction ends here */
    atomic_store(&r->snap_known, false);
    if (atomic_exchange(&r->boosted, false))
        prio_set_this_thread(CHECK_PRIORITY_IDLE, true);
    double held = clock_mono_s() - t0;
    if (held > r->snapshot_max_s)
        r->snapshot_max_s = held;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* After stepping aside for a pinned WAL: whether the application's checkpoint has yet to copy
 * back what the snapshot held up (nBackfill short of mxFrame, the log not started over), for
 * at most CATCH_UP_MAX_MS after it let go. */
static bool wal_catching_up(struct run *r, int64_t *since)
{
    struct ff_walindex h;
    int64_t now = clock_mono_ms();

    if (!atomic_load(&r->pinned))
        return false;
    if (*since == 0)
        *since = now;
    if (now - *since < CATCH_UP_MAX_MS && dbopen_wal_header(&r->shm, &h) &&
        h.n_backfill < h.mx_frame && h.salt1 == atomic_load(&r->snap_salt))
        return true;
    atomic_store(&r->pinned, false);
    return false;
}

/* Before a read transaction: waits while the application's checkpoint or writer that made the
 * check step aside is still there (starting a new snapshot would only put it back in the
 * queue). False when the run must end instead (the flag says why). */
static bool run_wait_clear(struct run *r)
{
    int64_t pinned_since = 0;

    for (;;) {
        if (atomic_load(r->stop)) {
            atomic_store(&r->stopped, true);
            return false;
        }
        if (clock_mono_ms() >= r->deadline_ms) {
            atomic_store(&r->timed_out, true);
            return false;
        }
        bool blocked = r->shm.fd >= 0 ? dbopen_wal_locks(&r->shm) == DBOPEN_WAL_CHECKPOINT_BLOCKING
                                      : dbopen_writer_waiting(&r->open);
        blocked = wal_catching_up(r, &pinned_since) || blocked;
        if (!blocked) {
            atomic_store(&r->yielded, false);
            atomic_store(&r->blocked_ms, 0);
            if (atomic_exchange(&r->boosted, false))
                prio_set_this_thread(CHECK_PRIORITY_IDLE, true);
            return true;
        }
        atomic_store(&r->yielded, true);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = RESUME_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Reports progress to the snapshot as the run goes: a step aside is counted when it happens,
 * and the bytes and the longest snapshot so far move while a run keeps yielding. */
static void run_progress(struct run *r, uint32_t done, uint32_t total, uint32_t new_yields)
{
    struct check_progress p = {.units_done = done,
                               .units_total = total,
                               .new_yields = new_yields,
                               .new_read_bytes = r->io.bytes - r->bytes_reported,
                               .snapshot_max_s = r->snapshot_max_s};

    r->yields += new_yields;
    r->bytes_reported = r->io.bytes;
    if (r->state != NULL)
        state_check_progress(r->state, r->idx, &p);
}

/* Whether rc ended a statement because the run stepped aside (and nothing else ends it). */
static bool run_stepped_aside(struct run *r, int rc)
{
    return (rc & 0xff) == SQLITE_INTERRUPT && atomic_load(&r->yielded) &&
           !atomic_load(&r->stopped) && !atomic_load(&r->timed_out);
}

/* After a step aside in WAL mode, the next read transaction starts no sooner than this, and
 * only once the checkpoint is done: at most 1000 / YIELD_BACKOFF_MS steps aside a second,
 * each costing the application's checkpoint at most check_yield_after + WATCH_MS + its next
 * busy-handler retry, however often it checkpoints. */
#define YIELD_BACKOFF_MS 100

static void run_back_off(struct run *r)
{
    int64_t until = clock_mono_ms() + YIELD_BACKOFF_MS;

    while (clock_mono_ms() < until && !atomic_load(r->stop) && clock_mono_ms() < r->deadline_ms) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = RESUME_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * One unit (table NULL: the whole file). Returns an SQLite code; SQLITE_INTERRUPT with the
 * run's flag set when the run must end. After a step aside:
 *   - WAL: the unit runs again once the checkpoint is done (and YIELD_BACKOFF_MS has passed):
 *     a periodic checkpointer leaves its whole period free right after it;
 *   - rollback journal (retry false): the run ends (busy). A writer commits again within
 *     milliseconds, and every restart would make one more commit wait; ending the run keeps
 *     that to one commit per check_interval, as before units existed, and the next run
 *     resumes here.
 */
static int run_unit(struct run *r, const char *table, bool retry, uint32_t done, uint32_t total)
{
    char *sql = checkunits_sql(checker_pragma_for_run(r->kind), table);
    int rc = SQLITE_NOMEM;

    while (sql != NULL) {
        if (!run_wait_clear(r)) {
            rc = SQLITE_INTERRUPT;
            break;
        }
        rc = run_pragma(r, sql);
        if (!run_stepped_aside(r, rc))
            break;
        run_progress(r, done, total, 1);
        if (!retry)
            break;
        run_back_off(r);
    }
    sqlite3_free(sql);
    return rc;
}

/* Where a pass goes on in the next run of the same database. */
struct resume {
    bool split;           /* false: a new pass, whole-file unit first */
    enum check_kind kind; /* of the pass: a run of another kind starts a new one */
    uint32_t next;        /* the split pass's next unit */
    uint32_t of; /* its number of units (a schema that gained or lost a table starts over) */
};

/* The split pass: each table in its own read transaction, from resume->next on. */
static int run_split(struct run *r, struct resume *resume, struct check_outcome *out)
{
    struct checkunits u = {0};
    int rc = run_wait_clear(r) ? checkunits_list(r->conn, &u) : SQLITE_INTERRUPT;

    if (rc != SQLITE_OK) {
        checkunits_free(&u); /* what a failed list holds */
        return rc;
    }
    out->units_total = (uint32_t)u.n;
    if (resume->of != u.n || resume->next >= u.n)
        resume->next = 0;
    resume->of = (uint32_t)u.n;
    resume->split = true;
    for (size_t i = resume->next; rc == SQLITE_OK && i < u.n; i++) {
        out->units_done = (uint32_t)i;
        resume->next = (uint32_t)i;
        run_progress(r, out->units_done, out->units_total, 0);
        rc = run_unit(r, u.tables[i], r->open.wal, out->units_done, out->units_total);
        /* Dropped since the list was read: nothing left to check. */
        if (rc == SQLITE_ERROR && strncmp(sqlite3_errmsg(r->conn), "no such table", 13) == 0)
            rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK) {
        out->units_done = out->units_total;
        *resume = (struct resume){0};
    }
    checkunits_free(&u);
    return rc;
}

/* The body of a run on an open connection: the whole-file unit first (a full pass when nothing
 * makes it step aside for as long as it takes), and the split pass once it had to; a run
 * resuming a split pass goes straight on with it. Returns an SQLite code. */
static int check_on(struct run *r, struct resume *resume, struct check_outcome *out)
{
    int rc;

    sqlite3_extended_result_codes(r->conn, 1);
    sqlite3_busy_timeout(r->conn, CHECK_BUSY_TIMEOUT_MS);
    sqlite3_progress_handler(r->conn, PROGRESS_OPS, on_progress, r);
    /* No memory map: a damaged or concurrently truncated file must fail as an error code, not
     * as SIGBUS, and the agent must not widen the damage mmap_size spreads. */
    rc = exec_pragma(r->conn, "PRAGMA mmap_size=0");
    if (rc == SQLITE_OK)
        rc = exec_pragma(r->conn, "PRAGMA query_only=1");
    if (rc != SQLITE_OK || resume->split)
        return rc == SQLITE_OK ? run_split(r, resume, out) : rc;
    out->units_total = 1;
    run_progress(r, 0, 1, 0);
    rc = run_unit(r, NULL, false, 0, 1);
    if (rc == SQLITE_OK) {
        out->units_done = 1;
        out->whole_file = true;
        return rc;
    }
    if (!run_stepped_aside(r, rc))
        return rc;
    *resume = (struct resume){.split = true};
    if (!r->open.wal)
        return rc; /* rollback journal: the next run goes on with the split pass */
    run_back_off(r);
    return run_split(r, resume, out);
}

static void watch_add(struct checker *ck, struct run *r);
static void watch_remove(struct checker *ck, struct run *r);
static int64_t watch_tick(void *arg);
static struct state *checker_state(struct checker *ck);
static bool checker_can_boost(struct checker *ck);

/* Opens per plan and runs the units; the facts go to the verdict. */
static int run_open_and_check(struct run *r, struct fdguard *guard, struct checker *ck,
                              struct resume *resume, struct check_outcome *out, const char **step)
{
    int rc;

    fdguard_connection_opening(guard);
    rc = dbopen_open(r->db->path, &r->open, &r->conn);
    if (rc != SQLITE_OK) {
        *step = "open";
        return r->conn ? sqlite3_extended_errcode(r->conn) : rc;
    }
    if (r->open.wal && r->open.mode != DBOPEN_IMMUTABLE)
        dbopen_shm_open(r->conn, &r->shm, guard);
    if (ck != NULL)
        watch_add(ck, r);
    rc = check_on(r, resume, out);
    if (ck != NULL)
        watch_remove(ck, r);
    return rc;
}

/* One run; ck (NULL for --once) has its watchdog look after it while the connection is open.
 * *resume is the split pass's next unit, carried from run to run of one database. */
static int run_check(const struct db_config *db, enum check_kind kind, struct fdguard *guard,
                     const atomic_bool *stop, struct check_outcome *out, struct checker *ck,
                     size_t idx, struct resume *resume)
{
    struct run r = {
        .db = db, .kinds = out->kinds, .kind = kind, .stop = stop, .shm = {.fd = -1}, .idx = idx};
    struct verdict_facts f = {0};
    struct verdict v;
    double t0 = clock_mono_s();
    const char *step = "check";
    int rc = SQLITE_OK;

    r.deadline_ms = clock_mono_ms() + db->check_timeout_ms;
    r.state = ck ? checker_state(ck) : NULL;
    r.tid = prio_this_tid();
    r.can_boost = ck != NULL && checker_can_boost(ck);
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    if (resume->kind != kind)
        *resume = (struct resume){.kind = kind};
    ratelimit_init(&r.io.budget, db->check_max_read_rate, 0);
    r.io.must_end = run_ending;
    r.io.read_begun = run_read_begun;
    r.io.arg = &r;
    dbopen_io_bind(&r.io);

    dbopen_plan(db->path, &r.open);
    f.refused = r.open.mode == DBOPEN_REFUSE;
    if (!f.refused)
        rc = run_open_and_check(&r, guard, ck, resume, out, &step);
    f.rc = rc;
    f.errmsg = r.conn ? sqlite3_errmsg(r.conn) : NULL;
    f.stopped = atomic_load(&r.stopped);
    f.timed_out = atomic_load(&r.timed_out);
    /* A run that stepped aside and then ran out of time did not finish because of the
     * application: busy, like one that ends while stepping aside. */
    f.yielded = atomic_load(&r.yielded) || (r.yields > 0 && f.timed_out);
    f.problems = r.problems;
    f.immutable = r.open.mode == DBOPEN_IMMUTABLE;
    f.unchanged = f.immutable && dbopen_unchanged(db->path, &r.open);
    f.wal_vanished = (rc & 0xff) == SQLITE_CANTOPEN && dbopen_wal_vanished(db->path, &r.open);
    verdict_decide(&f, &v);
    if (f.refused)
        snprintf(out->detail, sizeof(out->detail), "%s", r.open.why);
    else if (rc != SQLITE_OK)
        describe_failure(out, v.unsupported ? "schema (written by a newer SQLite?)" : step, r.conn,
                         rc);
    if (!f.refused) {
        sqlite3_close_v2(r.conn);
        fdguard_connection_closed(guard);
    }
    dbopen_io_bind(NULL);
    if (atomic_exchange(&r.boosted, false))
        prio_set_this_thread(CHECK_PRIORITY_IDLE, true);

    out->result = v.result;
    out->problems = v.keep_problems ? r.problems : 0;
    /* A resumed pass is ok only because every unit before it was: once one is not, the next
     * run starts a new pass, so damage is not forgotten by resuming past it. */
    if (v.result != CHECK_RESULT_OK && v.result != CHECK_RESULT_BUSY &&
        v.result != CHECK_RESULT_TIMEOUT)
        *resume = (struct resume){0};
    if (v.result == CHECK_RESULT_MALFORMED && r.problems > 0)
        snprintf(out->detail, sizeof(out->detail), "%s", r.rows);
    if (!v.keep_problems) {
        log_info("database changed during an unlocked check; not counted as a verdict", "db",
                 db->name, "path", db->path, NULL);
        snprintf(out->detail, sizeof(out->detail), "the file changed during an unlocked read");
    }
    out->yields = r.yields;
    out->snapshot_max_s = r.snapshot_max_s;
    out->read_bytes = r.io.bytes - r.bytes_reported;
    out->duration_s = clock_mono_s() - t0;
    out->finished_ms = clock_wall_ms();
    dbopen_shm_done(&r.shm, guard);
    dbopen_done(&r.open, guard);
    return v.record ? 0 : -1;
}

int checker_run_one(const struct db_config *db, struct fdguard *guard, const atomic_bool *stop,
                    struct check_outcome *out)
{
    struct resume resume = {0};

    return run_check(db, checkauto_kind(db->check, false, 0, false), guard, stop, out, NULL, 0,
                     &resume);
}

/* ---- scheduling ------------------------------------------------------------------------ */

struct job {
    int64_t next_due_ms; /* monotonic */
    int64_t phase_ms;    /* its checks fall on this phase of check_interval (schedule.h) */
    bool off;            /* check = off: copied from the config so pick_job's scan of a fleet
                          * touches the jobs alone (a db_config is a few hundred bytes) */
    bool running;
    bool failing;         /* the last run did not complete: its failure was logged at warn */
    bool race;            /* a race signal came during the run: run again at once */
    struct resume resume; /* where the split pass goes on */
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
    /* Under watch_lock: the watchdog's last round found nothing to watch, so it sleeps for
     * WATCH_IDLE_MS and a new run must kick it. While runs follow each other it is awake every
     * WATCH_MS anyway, and a kick per run (a futex wake-up each) cost 15 % of the agent's CPU
     * checking a fleet back to back (perf, bench/check-pass.sh 10000). */
    bool watch_idle;
    bool boostable;       /* check threads at idle priority, and the watchdog may raise them */
    pthread_mutex_t lock; /* guards jobs */
    pthread_cond_t wake;
    atomic_bool stop;
};

static struct state *checker_state(struct checker *ck)
{
    return ck->state;
}

static bool checker_can_boost(struct checker *ck)
{
    return ck->boostable;
}

static void watch_add(struct checker *ck, struct run *r)
{
    pthread_mutex_lock(&ck->watch_lock);
    for (int i = 0; i < ck->cfg->check_workers; i++) {
        if (ck->watched[i] == NULL) {
            ck->watched[i] = r;
            break;
        }
    }
    bool kick = ck->watch_idle;
    ck->watch_idle = false;
    pthread_mutex_unlock(&ck->watch_lock);
    if (kick)
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
            /* A low-priority thread on a busy host could take long to let go of its
             * snapshot: it runs at the process's priority until it has. */
            if (r->can_boost && !atomic_exchange(&r->boosted, true))
                prio_boost(r->tid);
            sqlite3_interrupt(r->conn);
            dbopen_unblock(&r->open); /* an open(2) a FIFO holds: dbopen.h */
        }
        any = any || r != NULL;
    }
    ck->watch_idle = !any;
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
    ck->watch_idle = true; /* the first run kicks it, whenever its first round comes */
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
        if (j->off || j->running || ck->file_busy[ck->owner[i]])
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
                  "recovery", "sqlite-agent-recover COPY recovered.db (docs/runbook.md)", NULL);
    else if (o->result == CHECK_RESULT_OK && was)
        log_info("database passes its check again", "db", db->name, "path", db->path, "check",
                 config_check_kind_str(o->kind), NULL);
}

static void run_job(struct checker *ck, size_t i)
{
    const struct db_config *db = &ck->cfg->dbs[i];
    struct check_outcome o;
    /* A race signal (walwatch.h) asks for an integrity check now, whatever the schedule. */
    bool signal = state_race_signal_take(ck->state, i);
    enum check_kind kind = checkauto_kind(db->check, state_watch_exposed(ck->state, i),
                                          state_check_completed_runs(ck->state, i), signal);

    state_check_begin(ck->state, i);
    if (run_check(db, kind, ck->guards[i], &ck->stop, &o, ck, i, &ck->jobs[i].resume) != 0) {
        state_check_abandoned(ck->state, i); /* stopping: no verdict recorded */
        return;
    }
    log_verdict(db, &o, state_check_end(ck->state, i, &o));
    /* A database that cannot be checked says so once, not every check_interval. */
    bool failed = o.result != CHECK_RESULT_OK && o.result != CHECK_RESULT_MALFORMED;
    if (failed)
        checker_log_failure(db, &o, ck->jobs[i].failing ? LOG_DEBUG : LOG_WARN);
    else if (ck->jobs[i].failing)
        log_info("check completes again", "db", db->name, "path", db->path, NULL);
    ck->jobs[i].failing = failed;
}

/* schedule_next_ms() on the monotonic clock: wall time only places the slots. */
static int64_t due_mono(int64_t interval_ms, int64_t phase_ms, int64_t last_wall_ms)
{
    int64_t now_wall = clock_wall_ms(), now = clock_mono_ms();

    return now + (schedule_next_ms(now_wall, last_wall_ms, interval_ms, phase_ms) - now_wall);
}

static void *worker_main(void *arg)
{
    struct checker *ck = arg;

    pthread_setname_np(pthread_self(), "check"); /* for top -H, ps -L and the tests */
    if (prio_set_this_thread(ck->cfg->check_priority, ck->boostable) != 0)
        log_warn("cannot lower the check thread's priority; it runs at the agent's", "error",
                 strerror(errno), NULL);

    pthread_mutex_lock(&ck->lock);
    while (!atomic_load(&ck->stop)) {
        int64_t now = clock_mono_ms(), next, started_wall = clock_wall_ms();
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
        /* Start to start, on the database's phase (schedule.h), so a database is checked
         * about every check_interval however long the run, and a fleet's checks stay spread
         * over the interval; a run longer than that is followed by the next one right away. */
        j->next_due_ms =
            j->race ? 0 : due_mono(ck->cfg->dbs[i].check_interval_ms, j->phase_ms, started_wall);
        j->race = false;
        pthread_cond_broadcast(&ck->wake);
    }
    pthread_mutex_unlock(&ck->lock);
    return NULL;
}

void checker_race_signal(void *arg, size_t idx)
{
    struct checker *ck = arg;

    pthread_mutex_lock(&ck->lock);
    if (idx < ck->cfg->ndbs) {
        /* A run under way started before the signal: the next one follows it at once. */
        ck->jobs[idx].race = ck->jobs[idx].running;
        ck->jobs[idx].next_due_ms = 0;
    }
    pthread_cond_broadcast(&ck->wake);
    pthread_mutex_unlock(&ck->lock);
}

int checker_start(struct checker *ck)
{
    /* A database checked before (its history outlives a reload or a glob rescan, which
     * restart the workers) waits for its slot; a new one is due at once. */
    for (size_t i = 0; i < ck->cfg->ndbs; i++) {
        const struct db_config *db = &ck->cfg->dbs[i];
        ck->jobs[i].off = db->check == CHECK_OFF;
        ck->jobs[i].phase_ms = schedule_phase_ms(db->name, db->check_interval_ms);
        ck->jobs[i].next_due_ms = due_mono(db->check_interval_ms, ck->jobs[i].phase_ms,
                                           state_check_last_success_ms(ck->state, i));
    }
    ck->boostable = ck->cfg->check_priority == CHECK_PRIORITY_IDLE && prio_can_boost();
    if (ck->cfg->check_priority == CHECK_PRIORITY_IDLE)
        log_info("check threads run at idle priority", "nice", ck->boostable ? "19" : "10",
                 "raised_to_step_aside",
                 ck->boostable ? "yes"
                               : "no (no CAP_SYS_NICE or "
                                 "RLIMIT_NICE 20)",
                 NULL);
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
