/*
 * test_walprobe.c: the WAL lock probe (dbopen_wal_locks) and the VFS's read accounting and
 * budget (dbopen_io), against real SQLite connections: the lock states come from a child
 * process (F_GETLK never reports the calling process's own locks) doing what an application
 * does: BEGIN IMMEDIATE, and a TRUNCATE checkpoint that has to wait for a reader.
 */
#include "dbopen.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"

struct lcase {
    pid_t writer, checkpointer;
    enum dbopen_wal_locks want;
};

static const struct lcase lcases[] = {
    {0, 0, DBOPEN_WAL_FREE},
    {100, 0, DBOPEN_WAL_WRITER},
    {-1, 0, DBOPEN_WAL_WRITER},
    {0, 100, DBOPEN_WAL_CHECKPOINT},
    {100, 200, DBOPEN_WAL_WRITER_AND_CHECKPOINT},
    {100, 100, DBOPEN_WAL_CHECKPOINT_BLOCKING},
    {-1, 100, DBOPEN_WAL_CHECKPOINT_BLOCKING},
    {100, -1, DBOPEN_WAL_CHECKPOINT_BLOCKING},
};

Test(walprobe, locks_of)
{
    for (size_t i = 0; i < sizeof(lcases) / sizeof(lcases[0]); i++)
        cr_expect_eq(dbopen_wal_locks_of(lcases[i].writer, lcases[i].checkpointer), lcases[i].want,
                     "writer %d, checkpointer %d", (int)lcases[i].writer,
                     (int)lcases[i].checkpointer);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls the probe for up to 3 s; true once it says want. */
static bool probe_sees(const struct dbopen_shm *s, enum dbopen_wal_locks want)
{
    for (double end = now_s() + 3; now_s() < end; usleep(2000))
        if (dbopen_wal_locks(s) == want)
            return true;
    return false;
}

enum child_does { HOLD_WRITE, CHECKPOINT_TRUNCATE };

/* The application, in a child: a commit (so the WAL moves past the parent's snapshot), then
 * either BEGIN IMMEDIATE held until killed, or a TRUNCATE checkpoint with a 5 s busy timeout. */
static pid_t app_child(const char *path, enum child_does what)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid != 0)
        return pid;
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA busy_timeout=5000; INSERT INTO t VALUES ('child')", 0, 0, 0))
        _exit(2);
    if (what == HOLD_WRITE) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
        pause();
    }
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0);
    _exit(0);
}

Test(walprobe, real_locks, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("wal.db");
    sqlite3 *app = tmpdir_app_db(path, true); /* keeps the -wal and -shm in place */
    struct fdguard g;
    fdguard_init(&g);

    struct dbopen p;
    dbopen_plan(path, &p);
    cr_assert_eq(p.mode, DBOPEN_LOCKED);
    sqlite3 *conn = NULL;
    fdguard_connection_opening(&g);
    cr_assert_eq(dbopen_open(path, &p, &conn), SQLITE_OK);
    struct dbopen_shm shm;
    exec_sql(conn, "SELECT count(*) FROM t"); /* maps the -shm */
    dbopen_shm_open(conn, &shm, &g);
    cr_assert_geq(shm.fd, 0);
    cr_expect_eq(dbopen_wal_locks(&shm), DBOPEN_WAL_FREE);

    /* A writer: the write lock only. */
    pid_t w = app_child(path, HOLD_WRITE);
    cr_expect(probe_sees(&shm, DBOPEN_WAL_WRITER), "a writer holding the write lock");
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    cr_expect(probe_sees(&shm, DBOPEN_WAL_FREE));

    /* Our read snapshot, then a TRUNCATE checkpoint that must wait for it: both locks, one
     * process, for as long as the snapshot is held. */
    exec_sql(conn, "BEGIN");
    exec_sql(conn, "SELECT count(*) FROM t");
    pid_t c = app_child(path, CHECKPOINT_TRUNCATE);
    cr_expect(probe_sees(&shm, DBOPEN_WAL_CHECKPOINT_BLOCKING), "a checkpoint waiting for us");
    exec_sql(conn, "COMMIT");
    int status = 0;
    waitpid(c, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_expect_eq(dbopen_wal_locks(&shm), DBOPEN_WAL_FREE);

    dbopen_shm_done(&shm, &g); /* held back: the connection is open */
    cr_expect_eq(g.npending, 1);
    sqlite3_close(conn);
    fdguard_connection_closed(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    sqlite3_close(app);
    free(path);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* Reads of the database are counted and budgeted; those of SQLite's temporary files (a sort
 * spilled to disk) are not. */
Test(walprobe, read_budget, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("big.db");
    sqlite3 *app = tmpdir_app_db(path, false);
    exec_sql(app, "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < "
                  "8000) INSERT INTO t SELECT hex(randomblob(100)) FROM s;");
    sqlite3_close(app);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);

    const int64_t rate = 1000000; /* 1 MB/s */
    struct dbopen_io io = {.must_end = never};
    ratelimit_init(&io.budget, rate, 0);
    struct dbopen p;
    dbopen_plan(path, &p);
    sqlite3 *conn = NULL;
    cr_assert_eq(dbopen_open(path, &p, &conn), SQLITE_OK);
    exec_sql(conn, "PRAGMA temp_store=FILE; PRAGMA cache_size=5;");
    dbopen_io_bind(&io);
    double t0 = now_s();
    exec_sql(conn, "SELECT x FROM t ORDER BY x DESC");
    double took = now_s() - t0;
    dbopen_io_bind(NULL);
    sqlite3_close(conn);
    struct fdguard g;
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);

    /* Every page once or so (cache_size 5 rereads some interior pages), and no sorter bytes:
     * the sort of ~1.8 MB would add at least as much again. */
    cr_expect_geq(io.bytes, (uint64_t)st.st_size - 4096, "%llu of %lld",
                  (unsigned long long)io.bytes, (long long)st.st_size);
    cr_expect_lt(io.bytes, (uint64_t)st.st_size * 3 / 2, "%llu of %lld",
                 (unsigned long long)io.bytes, (long long)st.st_size);
    /* The budget: at least (bytes - the 100 ms burst) / rate seconds. A lower bound only. */
    double least = ((double)io.bytes - (double)rate / 10) / (double)rate;
    cr_expect_geq(took, least * 0.95, "took %.3f s for %llu bytes", took,
                  (unsigned long long)io.bytes);
    free(path);
}
