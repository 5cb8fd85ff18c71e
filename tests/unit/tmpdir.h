/*
 * tmpdir.h: a temporary directory per test, removed after it, SQL that must succeed, and an
 * application's database in it.
 * For the unit tests that need real files; include in one test file each (static functions).
 */
#ifndef SQLITE_AGENT_TEST_TMPDIR_H
#define SQLITE_AGENT_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir_path[64];

static void tmpdir_setup(void)
{
    strcpy(tmpdir_path, "/tmp/sqlite-agent-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir_path));
}

static void tmpdir_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir_path);
    cr_expect_eq(system(cmd), 0);
}

/* A path in the directory; the caller frees it. */
static char *tmpdir_file(const char *name)
{
    char *p = NULL;
    cr_assert_gt(asprintf(&p, "%s/%s", tmpdir_path, name), 0);
    return p;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err);
}

/* The application: a read-write connection, WAL (no automatic checkpoints) or not, with a
 * table t(x) and one more row each time. The caller closes it. */
static sqlite3 *tmpdir_app_db(const char *path, bool wal)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    if (wal)
        exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;");
    exec_sql(db, "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);");
    return db;
}

#endif
