/*
 * sqlite_holder.c: a process that keeps an SQLite database open, for the procscan and elfver
 * tests. Built twice by build.sh: against libsqlite3.so, and with Debian's libsqlite3.a
 * linked in (SQLite inside the executable, as Go/Rust/C programs that embed it).
 *
 *   sqlite_holder DB MMAP_SIZE NCONN
 *
 * Opens NCONN connections to DB (WAL mode), makes sure the database file has content (a
 * table, a row, a checkpoint), sets PRAGMA mmap_size=MMAP_SIZE on each and reads through
 * each, so that with MMAP_SIZE > 0 the database file is mapped. Then prints
 * "ready VERSION\n" (sqlite3_libversion()) on stdout and waits for EOF on stdin.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_CONN 8

static int run(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_holder: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    sqlite3 *db[MAX_CONN] = {NULL};
    char sql[128], buf[64];
    long mmap_size, nconn, i;
    int rc = 1;

    if (argc != 4) {
        fprintf(stderr, "usage: sqlite_holder DB MMAP_SIZE NCONN\n");
        return 2;
    }
    mmap_size = strtol(argv[2], NULL, 10);
    nconn = strtol(argv[3], NULL, 10);
    if (nconn < 1 || nconn > MAX_CONN || mmap_size < 0)
        return 2;
    for (i = 0; i < nconn; i++) {
        if (sqlite3_open(argv[1], &db[i]) != SQLITE_OK) {
            fprintf(stderr, "sqlite_holder: open %s failed\n", argv[1]);
            goto out;
        }
        sqlite3_busy_timeout(db[i], 5000);
    }
    if (run(db[0], "PRAGMA journal_mode=WAL") != 0 ||
        run(db[0], "CREATE TABLE IF NOT EXISTS t(a); INSERT INTO t VALUES (1)") != 0 ||
        run(db[0], "PRAGMA wal_checkpoint(PASSIVE)") != 0)
        goto out;
    snprintf(sql, sizeof(sql), "PRAGMA mmap_size=%ld", mmap_size);
    for (i = 0; i < nconn; i++) {
        if (run(db[i], sql) != 0 || run(db[i], "SELECT count(*) FROM t") != 0)
            goto out;
    }
    printf("ready %s\n", sqlite3_libversion());
    fflush(stdout);
    while (read(0, buf, sizeof(buf)) > 0)
        ;
    rc = 0;
out:
    for (i = 0; i < nconn; i++)
        sqlite3_close(db[i]);
    return rc;
}
