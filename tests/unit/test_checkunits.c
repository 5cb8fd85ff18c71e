/*
 * test_checkunits.c: the units of a split check (checkunits.h) on real files: the list, the SQL
 * for awkward table names, and what a split pass sees and cannot see against the whole-file
 * unit (btree.c, sqlite3BtreeIntegrityCheck: bPartial skips the "never used" pages).
 */
#include "checkunits.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <unistd.h>

#include "tmpdir.h"

/* Runs sql; the rows other than "ok", or -1 when it failed. */
static int problem_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int n = 0, rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        n += strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

/* Split-pass rows: every unit's problem rows added up. */
static int split_rows(sqlite3 *db, const char *pragma)
{
    struct checkunits u;
    int total = 0;

    cr_assert_eq(checkunits_list(db, &u), SQLITE_OK);
    for (size_t i = 0; i < u.n; i++) {
        char *sql = checkunits_sql(pragma, u.tables[i]);
        int n = problem_rows(db, sql);
        cr_expect_geq(n, 0, "%s: %s", sql, sqlite3_errmsg(db));
        total += n > 0 ? n : 0;
        sqlite3_free(sql);
    }
    checkunits_free(&u);
    return total;
}

struct scase {
    const char *table; /* NULL: the whole file */
    const char *sql;
};

static const struct scase scases[] = {
    {NULL, "PRAGMA main.quick_check"},
    {"t", "PRAGMA main.quick_check('t')"},
    {"it's", "PRAGMA main.quick_check('it''s')"},
    {"a b", "PRAGMA main.quick_check('a b')"},
    {"sqlite_schema", "PRAGMA main.quick_check('sqlite_schema')"},
};

Test(checkunits, sql)
{
    for (size_t i = 0; i < sizeof(scases) / sizeof(scases[0]); i++) {
        char *sql = checkunits_sql("quick_check", scases[i].table);
        cr_expect_str_eq(sql, scases[i].sql);
        sqlite3_free(sql);
    }
}

/* Awkward names are units of their own and check clean; views and virtual-less schemas add
 * none. */
Test(checkunits, list_and_run, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("names.db");
    sqlite3 *db = tmpdir_app_db(path, false); /* with its table t */
    exec_sql(db, "CREATE TABLE \"it's\"(a); CREATE TABLE \"a b\"(a PRIMARY KEY) WITHOUT ROWID;"
                 "CREATE TABLE \"123\"(a); CREATE INDEX i ON \"it's\"(a);"
                 "CREATE VIEW v AS SELECT 1; INSERT INTO \"it's\" VALUES (1), (2);");
    struct checkunits u;
    cr_assert_eq(checkunits_list(db, &u), SQLITE_OK);
    static const char *const want[] = {"sqlite_schema", "123", "a b", "it's", "t"};
    cr_assert_eq(u.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < u.n; i++)
        cr_expect_str_eq(u.tables[i], want[i]);
    checkunits_free(&u);
    cr_expect_eq(split_rows(db, "integrity_check"), 0);
    cr_expect_eq(split_rows(db, "quick_check"), 0);
    sqlite3_close(db);
    free(path);
}

/* fileformat2 1.3: offset 32, the first freelist trunk page; 36, the freelist page count. */
static void forget_freelist(const char *path)
{
    unsigned char zero[8] = {0};
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, zero, sizeof(zero), 32), (ssize_t)sizeof(zero));
    close(fd);
}

/* Pages that no b-tree and no freelist uses are seen by the whole-file unit only: what a split
 * pass cannot see (docs/metrics.md). */
Test(checkunits, split_pass_limits, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("lost.db");
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec_sql(db, "PRAGMA page_size=4096; CREATE TABLE a(x); CREATE TABLE b(x);"
                 "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 2000)"
                 " INSERT INTO a SELECT randomblob(500) FROM s;"
                 "INSERT INTO b SELECT x FROM a; DELETE FROM a WHERE rowid > 100;");
    sqlite3_close(db);
    forget_freelist(path);

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int whole = problem_rows(db, "PRAGMA quick_check");
    cr_expect_gt(whole, 0, "the whole-file unit sees the pages no one uses");
    cr_expect_eq(split_rows(db, "quick_check"), 0, "a split pass cannot");
    sqlite3_close(db);
    free(path);
}

/* Whether the unit of table (NULL: whole file) reports damage: problem rows, or SQLite's own
 * SQLITE_CORRUPT, as the verdict counts them (verdict.h). */
static bool unit_sees_damage(sqlite3 *db, const char *table)
{
    char *sql = checkunits_sql("quick_check", table);
    int n = problem_rows(db, sql);
    bool corrupt = n < 0 && (sqlite3_errcode(db) & 0xff) == SQLITE_CORRUPT;
    cr_expect(n >= 0 || corrupt, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_free(sql);
    return n > 0 || corrupt;
}

/* Damage in one table (its root page zeroed, fileformat2 1.6: a page of zeros is no b-tree
 * page) is seen by that table's unit and by the whole-file unit, and not by the other
 * table's. */
Test(checkunits, damage_is_seen_by_its_unit, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char *path = tmpdir_file("hurt.db");
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec_sql(db, "PRAGMA page_size=4096; CREATE TABLE a(x); CREATE TABLE b(x);"
                 "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500)"
                 " INSERT INTO a SELECT randomblob(500) FROM s; INSERT INTO b SELECT x FROM a;");
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = 'b'", -1,
                                    &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int root = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    unsigned char page[4096] = {0};
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, page, sizeof(page), (off_t)(root - 1) * 4096), (ssize_t)sizeof(page));
    close(fd);

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_expect(unit_sees_damage(db, "b"), "b's unit sees b's damage");
    cr_expect(!unit_sees_damage(db, "a"), "a's unit does not");
    cr_expect(unit_sees_damage(db, NULL), "the whole-file unit does");
    sqlite3_close(db);
    free(path);
}
