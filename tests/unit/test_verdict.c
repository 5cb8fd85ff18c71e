/*
 * test_verdict.c: the check verdict, one row per honest-signal rule (README, "Honest signals"
 * and "How it stays out of the application's way"), and the schema messages of issue 9: what a
 * newer SQLite writes is error, everything else after the object's name is corruption. The
 * messages are in the exact form of SQLite 3.40.1 (prepare.c corruptSchema, parse.y,
 * resolve.c, expr.c); test_verdict_real below has SQLite write two of them itself.
 */
#include "verdict.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS "malformed database schema "

struct vcase {
    const char *name;
    struct verdict_facts f;
    bool record;
    enum check_result result;
    bool keep_problems;
};

static const struct vcase vcases[] = {
    {"complete, every row ok", {.rc = SQLITE_OK}, true, CHECK_RESULT_OK, true},
    {"problem rows", {.rc = SQLITE_OK, .problems = 3}, true, CHECK_RESULT_MALFORMED, true},
    {"problem rows, then the deadline",
     {.rc = SQLITE_INTERRUPT, .timed_out = true, .problems = 1},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"problem rows, then a yield",
     {.rc = SQLITE_INTERRUPT, .yielded = true, .problems = 1},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"problem rows, then an I/O error",
     {.rc = SQLITE_IOERR_READ, .problems = 2},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"SQLITE_CORRUPT",
     {.rc = SQLITE_CORRUPT, .errmsg = "database disk image is malformed"},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"SQLITE_CORRUPT_INDEX (extended)",
     {.rc = SQLITE_CORRUPT_INDEX},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"SQLITE_NOTADB",
     {.rc = SQLITE_NOTADB, .errmsg = "file is not a database"},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"SQLITE_BUSY", {.rc = SQLITE_BUSY}, true, CHECK_RESULT_BUSY, true},
    {"SQLITE_BUSY_RECOVERY", {.rc = SQLITE_BUSY_RECOVERY}, true, CHECK_RESULT_BUSY, true},
    {"SQLITE_LOCKED", {.rc = SQLITE_LOCKED}, true, CHECK_RESULT_BUSY, true},
    {"deadline", {.rc = SQLITE_INTERRUPT, .timed_out = true}, true, CHECK_RESULT_TIMEOUT, true},
    {"yielded to a waiting writer or checkpoint",
     {.rc = SQLITE_INTERRUPT, .yielded = true},
     true,
     CHECK_RESULT_BUSY,
     true},
    {"deadline while stepping aside",
     {.rc = SQLITE_INTERRUPT, .yielded = true, .timed_out = true},
     true,
     CHECK_RESULT_BUSY,
     true},
    {"interrupted for no known reason", {.rc = SQLITE_INTERRUPT}, true, CHECK_RESULT_ERROR, true},
    {"stopped: no verdict",
     {.rc = SQLITE_INTERRUPT, .stopped = true},
     false,
     CHECK_RESULT_ERROR,
     true},
    {"stopped with problem rows: still no verdict",
     {.rc = SQLITE_INTERRUPT, .stopped = true, .problems = 1},
     false,
     CHECK_RESULT_MALFORMED,
     true},
    {"permission denied",
     {.rc = SQLITE_CANTOPEN, .errmsg = "unable to open database file"},
     true,
     CHECK_RESULT_ERROR,
     true},
    {"missing file", {.rc = SQLITE_CANTOPEN_NOTEMPDIR}, true, CHECK_RESULT_ERROR, true},
    {"-wal went away: the application closed it",
     {.rc = SQLITE_CANTOPEN, .wal_vanished = true},
     true,
     CHECK_RESULT_BUSY,
     true},
    {"I/O error",
     {.rc = SQLITE_IOERR_READ, .errmsg = "disk I/O error"},
     true,
     CHECK_RESULT_ERROR,
     true},
    {"out of memory", {.rc = SQLITE_NOMEM}, true, CHECK_RESULT_ERROR, true},
    {"refused: would create the -shm", {.refused = true}, true, CHECK_RESULT_ERROR, true},
    {"immutable, unchanged",
     {.rc = SQLITE_OK, .immutable = true, .unchanged = true},
     true,
     CHECK_RESULT_OK,
     true},
    {"immutable, unchanged, problem rows",
     {.rc = SQLITE_OK, .immutable = true, .unchanged = true, .problems = 1},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"immutable, changed meanwhile: rows thrown away",
     {.rc = SQLITE_OK, .immutable = true, .unchanged = false, .problems = 4},
     true,
     CHECK_RESULT_BUSY,
     false},
    {"immutable, changed, corrupt code",
     {.rc = SQLITE_CORRUPT, .immutable = true},
     true,
     CHECK_RESULT_BUSY,
     false},
    {"schema of a newer SQLite: syntax",
     {.rc = SQLITE_CORRUPT, .errmsg = MS "(v) - near \"->>\": syntax error"},
     true,
     CHECK_RESULT_ERROR,
     true},
    {"schema of a newer SQLite: function",
     {.rc = SQLITE_CORRUPT, .errmsg = MS "(i) - no such function: unixepoch_ms"},
     true,
     CHECK_RESULT_ERROR,
     true},
    {"schema: no such table is corruption",
     {.rc = SQLITE_CORRUPT, .errmsg = MS "(users_idx) - no such table: main.users"},
     true,
     CHECK_RESULT_MALFORMED,
     true},
    {"schema: invalid rootpage of unknown_devices",
     {.rc = SQLITE_CORRUPT, .errmsg = MS "(unknown_devices) - invalid rootpage"},
     true,
     CHECK_RESULT_MALFORMED,
     true},
};

Test(verdict, every_rule)
{
    for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
        const struct vcase *c = &vcases[i];
        struct verdict v;
        verdict_decide(&c->f, &v);
        cr_expect_eq(v.record, c->record, "%s: record", c->name);
        if (c->record)
            cr_expect_eq(v.result, c->result, "%s: result %s, want %s", c->name,
                         state_check_result_str(v.result), state_check_result_str(c->result));
        cr_expect_eq(v.keep_problems, c->keep_problems, "%s: keep_problems", c->name);
    }
}

struct scase {
    int rc;
    const char *msg;
    bool unsupported;
};

static const struct scase scases[] = {
    /* What a newer SQLite legitimately writes. */
    {SQLITE_CORRUPT, MS "(v) - near \"->>\": syntax error", true},
    {SQLITE_CORRUPT, MS "(t) - near \"STRICT2\": syntax error", true},
    {SQLITE_CORRUPT, MS "(idx_e) - no such function: octet_length", true},
    {SQLITE_CORRUPT, MS "(g) - unknown function: unhex()", true},
    {SQLITE_CORRUPT, MS "(odd) - name) - near \"x\": syntax error", true}, /* ") - " in a name */
    /* Damage, whatever the name says. */
    {SQLITE_CORRUPT, MS "(users_idx) - no such table: main.users", false},
    {SQLITE_CORRUPT, MS "(events) - no such column: kind", false},
    {SQLITE_CORRUPT, MS "(unknown_devices) - invalid rootpage", false},
    {SQLITE_CORRUPT, MS "(no_such_function_log) - invalid rootpage", false},
    {SQLITE_CORRUPT, MS "(syntax error) - orphan index", false},
    {SQLITE_CORRUPT, MS "(unsupported)", false},
    {SQLITE_CORRUPT, MS "(?)", false},
    {SQLITE_CORRUPT, MS "(x) - no such function: f) - invalid rootpage", false},
    {SQLITE_CORRUPT, MS "(x) - near \"a\": syntax error) - orphan index", false},
    {SQLITE_CORRUPT, MS "(t) - unknown datatype for t.c: \"TEXU\"", false},
    {SQLITE_CORRUPT, MS "(t) - duplicate column name: a", false},
    {SQLITE_CORRUPT, MS "(t) - no such collation sequence: nocase2", false},
    {SQLITE_CORRUPT, MS "(t) - unsupported use of NULLS FIRST", false},
    {SQLITE_CORRUPT, "database disk image is malformed", false},
    /* Not SQLITE_CORRUPT: never this rule. */
    {SQLITE_ERROR, MS "(v) - near \"->>\": syntax error", false},
    {SQLITE_CORRUPT, NULL, false},
    {SQLITE_CORRUPT_INDEX, MS "(i) - no such function: f", true},
};

Test(verdict, schema_messages)
{
    for (size_t i = 0; i < sizeof(scases) / sizeof(scases[0]); i++) {
        const struct scase *c = &scases[i];
        cr_expect_eq(verdict_schema_unsupported(c->rc, c->msg), c->unsupported, "%d %s", c->rc,
                     c->msg ? c->msg : "(null)");
    }
}

/* Two messages as SQLite writes them, made with writable_schema on a real file: a view in syntax
 * this SQLite lacks, and a table named unknown_devices whose root page is out of range. (An index
 * on a function this SQLite lacks is not a schema error in 3.40.1: quick_check passes and
 * integrity_check fails with SQLITE_ERROR "unknown function", an error by the rules above.) */
struct rcase {
    const char *type;
    const char *schema_sql; /* the sql column to write */
    const char *rootpage;
    bool unsupported;
    const char *says; /* in SQLite's message */
};

static const struct rcase rcases[] = {
    /* GROUP BY ALL is syntax 3.40.1's parser lacks. */
    {"view", "CREATE VIEW unknown_devices AS SELECT a FROM t GROUP BY ALL", "0", true,
     "syntax error"},
    {"table", "CREATE TABLE unknown_devices(a)", "99999", false, "invalid rootpage"},
};

Test(verdict, real_messages)
{
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
        char path[] = "/tmp/test_verdict_XXXXXX";
        int fd = mkstemp(path);
        sqlite3 *db = NULL;
        char *sql = NULL;
        cr_assert(fd >= 0);
        close(fd);
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, "CREATE TABLE t(a); CREATE INDEX ti ON t(a);", 0, 0, 0),
                     SQLITE_OK);
        sql =
            sqlite3_mprintf("PRAGMA writable_schema=ON; UPDATE sqlite_schema SET type=%Q, sql=%Q, "
                            "name='unknown_devices', rootpage=%s WHERE name='ti';",
                            rcases[i].type, rcases[i].schema_sql, rcases[i].rootpage);
        cr_assert_eq(sqlite3_exec(db, sql, 0, 0, 0), SQLITE_OK, "%s", sqlite3_errmsg(db));
        sqlite3_free(sql);
        sqlite3_close(db);
        /* Extra schema checks are on by default (sqlite3Config.bExtraSchemaChecks). */
        cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        int rc = sqlite3_exec(db, "PRAGMA quick_check", 0, 0, 0);
        int xrc = sqlite3_extended_errcode(db);
        cr_expect_eq(rc & 0xff, SQLITE_CORRUPT, "%s", sqlite3_errmsg(db));
        cr_expect(strstr(sqlite3_errmsg(db), rcases[i].says) != NULL, "%s", sqlite3_errmsg(db));
        cr_expect_eq(verdict_schema_unsupported(xrc, sqlite3_errmsg(db)), rcases[i].unsupported,
                     "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        unlink(path);
    }
}
