/*
 * Sampler tests on real files in a temporary directory: what a sample reads from real SQLite
 * databases, and the POSIX lock trap (fdguard.h) shown both ways.
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

#include "fdguard.h"
#include "sampler.h"
#include "state.h"
#include "tmpdir.h"

/* Samples the databases at paths once and returns the snapshot. */
static struct snapshot *sample_paths(char **paths, size_t n, struct fdguard *guards,
                                     struct state *st, struct sampler **keep)
{
    static struct db_config dbs[8];
    static struct fdguard *ptrs[8];
    static struct config cfg;
    cfg.ndbs = n;
    cfg.dbs = dbs;
    for (size_t i = 0; i < n; i++) {
        dbs[i] = (struct db_config){
            .name = paths[i], .path = paths[i], .check = CHECK_QUICK, .sample_interval_ms = 1000};
        fdguard_init(&guards[i]);
        ptrs[i] = &guards[i];
    }
    cr_assert_eq(state_configure(st, &cfg), 0);
    struct sampler *sp = sampler_new(&cfg, st, ptrs);
    cr_assert_not_null(sp);
    sampler_run_pass(sp);
    if (keep)
        *keep = sp;
    else
        sampler_free(sp);
    return state_snapshot(st, 0);
}

Test(sampler, reads_real_files, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *paths[4] = {tmpdir_file("wal.db"), tmpdir_file("rollback.db"), tmpdir_file("missing.db"),
                      tmpdir_file("garbage.db")};
    sqlite3 *wal = tmpdir_app_db(paths[0], true);
    sqlite3 *rb = tmpdir_app_db(paths[1], false);
    FILE *g = fopen(paths[3], "w");
    cr_assert_not_null(g);
    fputs("this is not an SQLite database, not even close; it is long enough to read 100 "
          "bytes of header from, though.\n",
          g);
    fclose(g);

    struct fdguard guards[4];
    struct state *st = state_new(0);
    struct snapshot *snap = sample_paths(paths, 4, guards, st, NULL);

    const struct sample *w = &snap->dbs[0].sample;
    cr_expect_eq(w->status, SAMPLE_OK);
    cr_expect_eq(w->db.read_version, 2);
    cr_expect_eq(w->db.page_size, 4096);
    cr_expect(w->wal_present);
    cr_expect_eq(w->wal_result, FF_OK);
    cr_expect(w->shm_present);
    cr_expect_eq(w->walindex_result, FF_OK);
    /* Two commits after WAL mode (CREATE, INSERT): frames exist and none is checkpointed. */
    cr_expect_gt(w->walindex.mx_frame, 0);
    cr_expect_eq(w->walindex.n_backfill, 0);
    struct stat stw;
    char *walpath = tmpdir_file("wal.db-wal");
    cr_assert_eq(stat(walpath, &stw), 0);
    cr_expect_eq(w->wal_size, (uint64_t)stw.st_size);

    const struct sample *r = &snap->dbs[1].sample;
    cr_expect_eq(r->status, SAMPLE_OK);
    cr_expect_eq(r->db.read_version, 1);
    cr_expect(!r->wal_present);
    cr_expect(!r->shm_present);
    cr_expect_eq(r->db.header_page_count, 2);

    cr_expect_eq(snap->dbs[2].sample.status, SAMPLE_MISSING);
    cr_expect_eq(snap->dbs[3].sample.status, SAMPLE_BAD_HEADER);
    cr_expect_eq(snap->dbs[3].sample.db_result, FF_BAD_MAGIC);

    /* A full checkpoint moves nBackfill up to mxFrame: the lag is read from the wal-index. */
    exec_sql(wal, "PRAGMA wal_checkpoint(PASSIVE);");
    snapshot_free(snap);
    snap = sample_paths(paths, 1, guards, st, NULL);
    cr_expect_eq(snap->dbs[0].sample.walindex.n_backfill, snap->dbs[0].sample.walindex.mx_frame);

    snapshot_free(snap);
    state_free(st);
    sqlite3_close(wal);
    sqlite3_close(rb);
    for (int i = 0; i < 4; i++)
        free(paths[i]);
    free(walpath);
}

/* SQLite's unix VFS takes SHARED as a read lock on these bytes (os_unix.c, unixLock). */
#define PENDING_BYTE 0x40000000
#define SHARED_FIRST (PENDING_BYTE + 2)
#define SHARED_SIZE 510

/* Whether another process sees a read lock on the SHARED range of the file open as fd here.
 * Locks of the process itself never conflict with its own F_GETLK, hence the child. */
static bool other_process_sees_lock(int fd)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/%d/fd/%d", (int)getpid(), fd);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int f = open(proc, O_RDWR);
        struct flock fl = {
            .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHARED_FIRST, .l_len = SHARED_SIZE};
        if (f < 0 || fcntl(f, F_GETLK, &fl) != 0)
            _exit(2);
        _exit(fl.l_type == F_UNLCK ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 2);
    return WEXITSTATUS(status) == 1;
}

/* Any descriptor of this process open on the inode. */
static int fd_on_inode(ino_t ino)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] != '.' && fd != dirfd(d) && fstat(fd, &st) == 0 && st.st_ino == ino)
            found = fd;
    }
    closedir(d);
    return found;
}

/*
 * The trap, both ways. A check holds SHARED on a rollback database; the file is replaced under
 * it, so the sampler wants to close its descriptor on the old inode. Closed directly, SQLite's
 * lock vanishes; closed through the guard, it stays until the connection is gone.
 */
Test(sampler, never_drops_sqlite_locks, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *paths[1] = {tmpdir_file("app.db")};
    char *other = tmpdir_file("other.db");
    sqlite3_close(tmpdir_app_db(paths[0], false));
    sqlite3_close(tmpdir_app_db(other, false));
    struct stat old;
    cr_assert_eq(stat(paths[0], &old), 0);

    struct fdguard guards[1];
    struct state *st = state_new(0);
    struct sampler *sp = NULL;
    snapshot_free(sample_paths(paths, 1, guards, st, &sp));

    sqlite3 *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    fdguard_connection_opening(&guards[0]);
    cr_assert_eq(sqlite3_open_v2(paths[0], &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(conn, "SELECT x FROM t", -1, &stmt, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW); /* SHARED held while the statement runs */
    int probe = fd_on_inode(old.st_ino);
    cr_assert_geq(probe, 0);
    cr_assert(other_process_sees_lock(probe), "precondition: SQLite holds SHARED");

    cr_assert_eq(rename(other, paths[0]), 0);
    sampler_run_pass(sp);
    cr_expect(other_process_sees_lock(probe), "the sampler dropped SQLite's lock");

    sqlite3_finalize(stmt);
    sqlite3_close(conn);
    fdguard_connection_closed(&guards[0]);
    sampler_run_pass(sp); /* now the parked descriptor is closed */
    cr_expect_eq(fd_on_inode(old.st_ino), -1, "parked descriptor still open");

    sampler_free(sp);
    fdguard_destroy(&guards[0]);
    state_free(st);
    free(paths[0]);
    free(other);
}

/* Descriptors on the inode, counted. */
static int fds_on_inode(ino_t ino)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] != '.' && fd != dirfd(d) && fstat(fd, &st) == 0 && st.st_ino == ino)
            n++;
    }
    closedir(d);
    return n;
}

/*
 * Issue 10: descriptors grow with the work, not with the databases. With no connection open a
 * pass leaves no descriptor on the file; while a check's connection is open the sampler keeps
 * its own (closing it would drop SQLite's lock) and reuses it, pass after pass, instead of
 * piling new ones up; once the connection is gone the next pass closes it.
 */
Test(sampler, closes_between_samples_unless_connected, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
    char *paths[1] = {tmpdir_file("app.db")};
    sqlite3_close(tmpdir_app_db(paths[0], false));
    struct stat db;
    cr_assert_eq(stat(paths[0], &db), 0);

    struct fdguard guards[1];
    struct state *st = state_new(0);
    struct sampler *sp = NULL;
    snapshot_free(sample_paths(paths, 1, guards, st, &sp));
    cr_expect_eq(fds_on_inode(db.st_ino), 0, "a pass left a descriptor open");

    sqlite3 *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    fdguard_connection_opening(&guards[0]);
    cr_assert_eq(sqlite3_open_v2(paths[0], &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(conn, "SELECT x FROM t", -1, &stmt, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    int sqlite_fds = fds_on_inode(db.st_ino);
    int probe = fd_on_inode(db.st_ino);
    for (int i = 0; i < 5; i++)
        sampler_run_pass(sp);
    cr_expect_eq(fds_on_inode(db.st_ino), sqlite_fds + 1, "one sampler descriptor, reused");
    cr_expect(other_process_sees_lock(probe), "the sampler dropped SQLite's lock");

    sqlite3_finalize(stmt);
    sqlite3_close(conn);
    fdguard_connection_closed(&guards[0]);
    sampler_run_pass(sp);
    cr_expect_eq(fds_on_inode(db.st_ino), 0, "kept after the connection closed");

    sampler_free(sp);
    fdguard_destroy(&guards[0]);
    state_free(st);
    free(paths[0]);
}

/* The control: what the guard prevents is real. A plain close() of a second descriptor on the
 * same file drops the connection's lock. */
Test(sampler, plain_close_drops_the_lock, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("app.db");
    sqlite3_close(tmpdir_app_db(path, false));
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);

    sqlite3 *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(conn, "SELECT x FROM t", -1, &stmt, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    int probe = fd_on_inode(st.st_ino);
    cr_assert(other_process_sees_lock(probe));

    close(open(path, O_RDONLY));
    cr_expect(!other_process_sees_lock(probe), "POSIX semantics changed?");

    sqlite3_finalize(stmt);
    sqlite3_close(conn);
    free(path);
}
