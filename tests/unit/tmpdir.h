/*
 * tmpdir.h: a temporary directory per test, removed after it, and SQL that must succeed.
 * For the unit tests that need real files; include in one test file each (static functions).
 */
#ifndef SQLITE_AGENT_TEST_TMPDIR_H
#define SQLITE_AGENT_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <sqlite3.h>
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

#endif
