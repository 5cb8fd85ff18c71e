/*
 * dbopen on real files: which way each state of a database is opened, and that the agent's
 * connection creates nothing and deletes nothing, even when the application closes the
 * database between the plan and the open.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
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

/* The -wal states SQLite 3.40.1 spins on for 10 s when no process holds the -shm (wal.c,
 * walIndexRecover and walBeginShmUnreliable). Hand-made headers: the states are those of a
 * crashed or damaged -wal, which no real process writes on demand. */
Test(dbopen, wal_retries_forever)
{
    static const struct {
        const char *what;
        uint32_t magic, page_size;
        uint8_t salt; /* every salt byte */
        uint64_t size;
        bool spins;
    } cases[] = {
        {"valid header", 0x377f0682, 4096, 0x5a, 32 + 24 + 4096, false},
        {"valid header, big-endian checksums", 0x377f0683, 4096, 0x5a, 8192, false},
        {"bad magic", 0x017f0682, 4096, 0x5a, 8192, true},
        {"bad magic, zero salt", 0x017f0682, 4096, 0, 8192, false},
        {"page size not a power of two", 0x377f0682, 4095, 0x5a, 8192, true},
        {"page size too small", 0x377f0682, 256, 0x5a, 8192, true},
        {"page size too large", 0x377f0682, 131072, 0x5a, 8192, true},
        {"just the header", 0x377f0682, 4096, 0x5a, 32, true},
        {"just the header, zero salt", 0x377f0682, 4096, 0, 32, false},
        {"shorter than a header", 0x017f0682, 4096, 0x5a, 31, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char h[32] = {0};
        for (int b = 0; b < 4; b++) {
            h[b] = (unsigned char)(cases[i].magic >> (24 - 8 * b));
            h[8 + b] = (unsigned char)(cases[i].page_size >> (24 - 8 * b));
        }
        memset(h + 16, cases[i].salt, 8);
        cr_expect_eq(dbopen_wal_retries_forever(h, sizeof(h), cases[i].size), cases[i].spins, "%s",
                     cases[i].what);
    }
}

/* Anything but a regular file at the database or a side file is refused before SQLite opens
 * anything (a FIFO would block its open for ever), and so is a link at a side file (SQLite
 * opens those with O_NOFOLLOW). */
Test(dbopen, refuses_what_is_not_a_regular_file, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    static const struct {
        const char *suffix; /* "" the database itself */
        bool link;          /* a link to a regular file, not a FIFO */
        const char *why;
    } cases[] = {
        {"", false, "database: not a regular file"},
        {"-wal", false, "-wal: not a regular file"},
        {"-shm", false, "-shm: not a regular file"},
        {"-journal", false, "-journal: not a regular file"},
        {"-wal", true, "-wal: a symbolic link"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[32], side[64], *path, *sidepath;
        struct dbopen p;
        struct fdguard g;
        snprintf(name, sizeof(name), "c%zu.db", i);
        path = tmpdir_file(name);
        snprintf(side, sizeof(side), "%s%s", name, cases[i].suffix);
        sidepath = tmpdir_file(side);
        if (cases[i].suffix[0]) {
            sqlite3 *db = tmpdir_app_db(path, true);
            sqlite3_close(db);
        }
        if (cases[i].link)
            cr_assert_eq(symlink("/etc/hostname", sidepath), 0);
        else
            cr_assert_eq(mkfifo(sidepath, 0600), 0);
        dbopen_plan(path, &p);
        cr_expect_eq(p.mode, DBOPEN_REFUSE, "%s", side);
        cr_expect_eq(strncmp(p.why, cases[i].why, strlen(cases[i].why)), 0, "%s: %s", side, p.why);
        fdguard_init(&g);
        dbopen_done(&p, &g);
        fdguard_destroy(&g);
        free(path);
        free(sidepath);
    }
}

/* A FIFO renamed over the -wal or the database after the plan looked: the VFS's own open
 * refuses it instead of blocking for ever in open(2). (A FIFO swapped in at the -shm is opened
 * by os_unix.c's xShmMap, which the VFS does not wrap: safeopen.h.) */
Test(dbopen, fifo_after_the_plan_does_not_block, .init = tmpdir_setup, .fini = tmpdir_teardown,
     .timeout = 20)
{
    static const char *const suffix[] = {"-wal", ""};

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char name[32], *path, *victim, *fifo;
        struct dbopen p;
        struct fdguard g;
        snprintf(name, sizeof(name), "f%zu.db", i);
        path = tmpdir_file(name);
        sqlite3 *app = tmpdir_app_db(path, true);
        cr_assert(asprintf(&victim, "%s%s", path, suffix[i]) > 0);
        cr_assert(asprintf(&fifo, "%s.fifo", path) > 0);
        dbopen_plan(path, &p);
        cr_assert_eq(p.mode, DBOPEN_LOCKED, "%s", victim);
        cr_assert_eq(mkfifo(fifo, 0600), 0);
        cr_assert_eq(rename(fifo, victim), 0);
        cr_expect_neq(agent_read(path, &p), SQLITE_OK, "%s", victim);
        fdguard_init(&g);
        dbopen_done(&p, &g);
        fdguard_destroy(&g);
        sqlite3_close(app);
        free(path);
        free(victim);
        free(fifo);
    }
}

struct blocked_read {
    const char *path;
    struct dbopen *plan;
    int rc;
};

static void *read_in_thread(void *arg)
{
    struct blocked_read *b = arg;
    b->rc = agent_read(b->path, b->plan);
    return NULL;
}

/* A FIFO renamed over the -shm after the plan looked blocks SQLite's open of it (xShmMap,
 * which the VFS does not wrap); dbopen_release_fifos, as the watchdog calls it for a run that
 * must end, lets that open return. What the read then says does not matter here (SQLite may
 * well read on with a wal-index in heap memory): that it returns is the test, under .timeout. */
Test(dbopen, release_fifos_unblocks_a_blocked_open, .init = tmpdir_setup, .fini = tmpdir_teardown,
     .timeout = 20)
{
    char *path = tmpdir_file("s.db"), *shm, *fifo;
    struct dbopen p;
    struct fdguard g;
    pthread_t t;
    sqlite3 *app = tmpdir_app_db(path, true);

    /* The application leaves its -wal (with frames) and -shm behind, as after a crash. */
    cr_assert_eq(sqlite3_db_config(app, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL), SQLITE_OK);
    exec_sql(app, "INSERT INTO t VALUES (2);");
    sqlite3_close(app);
    cr_assert(asprintf(&shm, "%s-shm", path) > 0);
    cr_assert(asprintf(&fifo, "%s.fifo", path) > 0);
    dbopen_plan(path, &p);
    cr_assert_eq(p.mode, DBOPEN_LOCKED, "%s", p.why);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(rename(fifo, shm), 0);
    struct blocked_read b = {.path = path, .plan = &p, .rc = -1};
    cr_assert_eq(pthread_create(&t, NULL, read_in_thread, &b), 0);
    usleep(300 * 1000); /* time for the reader to block in open(2) */
    dbopen_release_fifos(&p);
    pthread_join(t, NULL);
    cr_expect_neq(b.rc, -1);
    fdguard_init(&g);
    dbopen_done(&p, &g);
    fdguard_destroy(&g);
    free(path);
    free(shm);
    free(fifo);
}
