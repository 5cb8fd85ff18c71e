/*
 * dbopen on real files: which way each state of a database is opened, and that the agent's
 * connection creates nothing and deletes nothing, even when the application closes the
 * database between the plan and the open.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbopen.h"
#include "tmpdir.h"

static int count_files(void)
{
    DIR *d = opendir(tmpdir_path);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Opens per plan and reads the table; returns the SQLite result. */
static int agent_read(const char *path, struct dbopen *p)
{
    sqlite3 *conn = NULL;
    int rc = dbopen_open(path, p, &conn);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(conn, "SELECT count(*) FROM t", NULL, NULL, NULL);
    sqlite3_close(conn);
    return rc;
}

struct plan_case {
    const char *what;
    bool wal;
    bool app_open; /* the application keeps it open (-wal and -shm exist) */
    bool drop_shm; /* -shm removed, -wal with frames kept */
    enum dbopen_mode mode;
};

Test(dbopen, plans, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    static const struct plan_case cases[] = {
        {"rollback", false, false, false, DBOPEN_LOCKED},
        {"rollback, open", false, true, false, DBOPEN_LOCKED},
        {"WAL, closed cleanly", true, false, false, DBOPEN_IMMUTABLE},
        {"WAL, open", true, true, false, DBOPEN_LOCKED},
        {"WAL, frames but no -shm, as root", true, true, true, DBOPEN_CREATE_SHM},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct plan_case *c = &cases[i];
        char name[32];
        snprintf(name, sizeof(name), "p%zu.db", i);
        char *path = tmpdir_file(name);
        sqlite3 *app = tmpdir_app_db(path, c->wal);
        char shm[300];
        snprintf(shm, sizeof(shm), "%s-shm", path);
        if (c->drop_shm)
            cr_assert_eq(unlink(shm), 0);
        if (!c->app_open && !c->drop_shm) {
            sqlite3_close(app);
            app = NULL;
        }
        struct dbopen p;
        dbopen_plan(path, &p);
        cr_expect_eq(p.mode, c->mode, "%s: mode %d", c->what, p.mode);
        cr_expect_eq(p.wal, c->wal, "%s", c->what);
        cr_expect_eq(agent_read(path, &p), SQLITE_OK, "%s", c->what);
        struct fdguard g;
        fdguard_init(&g);
        dbopen_done(&p, &g);
        fdguard_destroy(&g);
        if (app)
            sqlite3_close(app);
        free(path);
    }
}

/* The race: the plan saw -wal and -shm, then the application closed (SQLite deleted them)
 * before the agent opened. The agent's open must fail rather than create them. */
Test(dbopen, app_closes_between_plan_and_open, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("app.db");
    sqlite3 *app = tmpdir_app_db(path, true);
    struct dbopen p;
    dbopen_plan(path, &p);
    cr_assert_eq(p.mode, DBOPEN_LOCKED);
    sqlite3_close(app); /* checkpoints, deletes -wal and -shm */
    cr_assert_eq(count_files(), 1);

    int rc = agent_read(path, &p);
    cr_expect_neq(rc, SQLITE_OK);
    cr_expect_eq(count_files(), 1, "the agent's connection created side files");
    cr_expect(dbopen_wal_vanished(path, &p));

    /* The control: a plain read-only connection, what the agent must not be, creates both. */
    sqlite3 *plain = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &plain, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_exec(plain, "SELECT count(*) FROM t", NULL, NULL, NULL);
    cr_expect_eq(count_files(), 3, "premise: SQLite creates -wal and -shm for a reader");
    sqlite3_close(plain);
    struct fdguard g;
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    free(path);
}

/* SQLite deletes a -wal it finds next to an empty database file; the agent's VFS refuses. */
Test(dbopen, never_deletes_a_wal, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("empty.db");
    char wal[300];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    int fd = open(wal, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, "not really a wal, but there", 27), 27);
    close(fd);

    struct dbopen p;
    dbopen_plan(path, &p);
    sqlite3 *conn = NULL;
    int rc = dbopen_open(path, &p, &conn);
    if (rc == SQLITE_OK)
        sqlite3_exec(conn, "PRAGMA quick_check", NULL, NULL, NULL);
    sqlite3_close(conn);
    struct stat st;
    cr_expect_eq(stat(wal, &st), 0, "the -wal was deleted");
    struct fdguard g;
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    free(path);
}

Test(dbopen, immutable_read_notices_a_change, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("closed.db");
    sqlite3_close(tmpdir_app_db(path, true));
    struct dbopen p;
    dbopen_plan(path, &p);
    cr_assert_eq(p.mode, DBOPEN_IMMUTABLE);
    cr_expect(dbopen_unchanged(path, &p));

    sqlite3 *app = tmpdir_app_db(path, true); /* a writer starts: a -wal with frames appears */
    cr_expect(!dbopen_unchanged(path, &p));
    sqlite3_close(app); /* checkpoints into the file */
    cr_expect(!dbopen_unchanged(path, &p));
    struct fdguard g;
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    free(path);
}

/* Another process holding a lock of type on the PENDING byte while probe() runs. */
static bool with_pending_lock(const char *path, short type, const struct dbopen *p)
{
    int ready[2], done[2];
    char c;
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(done), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0x40000000, .l_len = 1};
        c = fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    cr_assert_eq(read(ready[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    bool seen = dbopen_writer_waiting(p);
    cr_assert_eq(write(done[1], "x", 1), 1);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    close(done[0]);
    close(done[1]);
    return seen;
}

/* A rollback writer waiting to commit holds PENDING with a write lock; a reader takes a read
 * lock there for a moment while it acquires SHARED, which is no writer. */
Test(dbopen, sees_a_waiting_writer, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("rollback.db");
    sqlite3_close(tmpdir_app_db(path, false));
    struct dbopen p;
    dbopen_plan(path, &p);
    cr_assert(!p.wal);
    cr_expect(!dbopen_writer_waiting(&p));
    cr_expect(with_pending_lock(path, F_WRLCK, &p), "a waiting writer");
    cr_expect(!with_pending_lock(path, F_RDLCK, &p), "a reader taking SHARED");
    cr_expect(!dbopen_writer_waiting(&p));
    struct fdguard g;
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    free(path);
}

/* SQLite's own temporary files (here a sort spilled to disk) are the agent's: the read-only
 * rules apply to the monitored database's files only. */
Test(dbopen, temporary_files_still_work, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("sort.db");
    sqlite3 *app = tmpdir_app_db(path, false);
    exec_sql(app, "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < "
                  "20000) INSERT INTO t SELECT hex(randomblob(64)) FROM s;");
    sqlite3_close(app);

    struct dbopen p;
    dbopen_plan(path, &p);
    sqlite3 *conn = NULL;
    cr_assert_eq(dbopen_open(path, &p, &conn), SQLITE_OK);
    exec_sql(conn, "PRAGMA temp_store=FILE; PRAGMA cache_size=5;");
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(sqlite3_prepare_v2(conn, "SELECT x FROM t ORDER BY x DESC", -1, &stmt, NULL),
                 SQLITE_OK);
    int rc, rows = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        rows++;
    cr_expect_eq(rc, SQLITE_DONE, "%s", sqlite3_errmsg(conn));
    cr_expect_eq(rows, 20001);
    sqlite3_finalize(stmt);
    sqlite3_close(conn);
    struct fdguard g;
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    free(path);
}
