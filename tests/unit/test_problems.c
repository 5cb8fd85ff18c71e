/*
 * test_problems.c: the classifier over SQLite 3.40.1's own problem rows.
 *
 * "seen" rows were printed by Debian 12's sqlite3 3.40.1 (PRAGMA integrity_check or
 * quick_check) on files damaged by hand: zeroed pages, swapped or out-of-range child pointers,
 * a bumped freelist count, an appended unused page, a cut overflow chain, an edited index
 * page, a bumped ptrmap entry in an auto-vacuum file, CHECK/NOT NULL/STRICT/affinity rules
 * added with writable_schema over rows that break them. tests/integration/test_problem_rows.py
 * makes every one of those files again and fails if a "seen" row here is not among what
 * SQLite prints for them. "format" rows were not produced
 * here; they are the format string cited in problems.c filled with numbers, since the damage
 * that prints them (a read error inside the check, an out-of-memory ptrmap read) cannot be
 * made on demand.
 */
#include "problems.h"

#include <criterion/criterion.h>
#include <string.h>

struct kind_case {
    const char *row;
    enum problem_kind kind;
    const char *origin; /* "seen" or "format" */
};

#define B "*** in database main ***\n"

static const struct kind_case cases[] = {
    /* pragma.c: index rows */
    {"row 123 missing from index t_v", PROBLEM_INDEX, "seen"},
    {"row 31 missing from index t_v", PROBLEM_INDEX, "seen"},
    {"wrong # of entries in index t_v", PROBLEM_INDEX, "seen"},
    {"non-unique entry in index u_k", PROBLEM_INDEX, "seen"},
    /* pragma.c: constraint rows */
    {"NULL value in c.m", PROBLEM_CONSTRAINT, "seen"},
    {"non-TEXT value in s.m", PROBLEM_CONSTRAINT, "seen"},
    {"TEXT value in n.a", PROBLEM_CONSTRAINT, "seen"},
    {"NUMERIC value in n.a", PROBLEM_CONSTRAINT, "seen"},
    {"CHECK constraint failed in c", PROBLEM_CONSTRAINT, "seen"},
    /* pragma.c: WITHOUT ROWID key order */
    {"row not in PRIMARY KEY order for w", PROBLEM_BTREE, "format"},
    /* prepare.c, corruptSchema: the SQLITE_CORRUPT message of a schema that cannot load */
    {"malformed database schema (t_v) - invalid rootpage", PROBLEM_SCHEMA, "seen"},
    {"malformed database schema (t) - duplicate column name: v", PROBLEM_SCHEMA, "seen"},
    {"malformed database schema (t)", PROBLEM_SCHEMA, "format"},
    /* btree.c, checkTreePage */
    {B "Page 132: btreeInitPage() returns error code 11", PROBLEM_BTREE, "seen"},
    {B "On tree page 10 cell 0: Offset 4094 out of range 191..4092", PROBLEM_BTREE, "seen"},
    {B "Fragmentation of 0 bytes reported as 9 on page 10", PROBLEM_BTREE, "seen"},
    {B "On tree page 10 cell 1: Rowid 235 out of order\nMultiple uses for byte 3977 of page 10\n"
       "Fragmentation of 122 bytes reported as 0 on page 10",
     PROBLEM_BTREE, "seen"},
    {B "On tree page 2 cell 0: Rowid 32 out of order\nOn tree page 5 cell 31: Rowid 64 out of "
       "order",
     PROBLEM_BTREE, "seen"},
    {B "On tree page 7 cell 3: Child page depth differs", PROBLEM_BTREE, "format"},
    {B "On tree page 7 cell 3: Extends off end of page", PROBLEM_BTREE, "format"},
    {B "Page 7: free space corruption", PROBLEM_BTREE, "format"},
    {B "Page 7: unable to get the page. error code=10", PROBLEM_BTREE, "format"},
    /* btree.c, checkRef: out-of-range child pointer; a page owned twice */
    {B "On tree page 2 cell 0: invalid page number 262\nPage 4 is never used", PROBLEM_BTREE,
     "seen"},
    {B "2nd reference to page 2\nPage 3 is never used\nPage 6 is never used",
     PROBLEM_PAGE_OWNERSHIP, "seen"},
    {B "On tree page 2 cell 0: Rowid 32 out of order\nOn tree page 2 cell 0: 2nd reference to "
       "page 4\nPage 5 is never used",
     PROBLEM_BTREE, "seen"},
    /* btree.c, checkList: overflow chains and the freelist */
    {B "On tree page 2 cell 0: overflow list length is 1 but should be 4\nPage 4 is never used",
     PROBLEM_BTREE, "seen"},
    {B "On tree page 2 cell 0: failed to get page 9", PROBLEM_BTREE, "format"},
    {B "Main freelist: size is 127 but should be 130", PROBLEM_PAGE_OWNERSHIP, "seen"},
    {B "Main freelist: freelist leaf count too big on page 137\nPage 134 is never used",
     PROBLEM_PAGE_OWNERSHIP, "seen"},
    {B "Main freelist: invalid page number 900", PROBLEM_PAGE_OWNERSHIP, "format"},
    {B "Main freelist: failed to get page 12", PROBLEM_PAGE_OWNERSHIP, "format"},
    /* btree.c, sqlite3BtreeIntegrityCheck */
    {B "Page 262 is never used", PROBLEM_PAGE_OWNERSHIP, "seen"},
    {B "max rootpage (3) disagrees with header (77)\nOn page 3 at right child: Bad ptr map entry "
       "key=6 expected=(5,3) got=(5,9)",
     PROBLEM_PAGE_OWNERSHIP, "seen"},
    {B "incremental_vacuum enabled with a max rootpage of zero", PROBLEM_PAGE_OWNERSHIP, "format"},
    {B "Pointer map page 2 is referenced", PROBLEM_PAGE_OWNERSHIP, "format"},
    /* btree.c, checkPtrmap */
    {B "On page 3 at right child: Bad ptr map entry key=6 expected=(5,3) got=(5,9)",
     PROBLEM_PAGE_OWNERSHIP, "seen"},
    {B "On tree page 3 cell 0: Failed to read ptrmap key=40", PROBLEM_PAGE_OWNERSHIP, "format"},
    /* Not SQLite's: near misses and junk are "other" */
    {"row missing from index t_v", PROBLEM_OTHER, "format"},
    {"Page x is never used", PROBLEM_OTHER, "format"},
    {B "Page 4 is never used, or so", PROBLEM_OTHER, "format"},
    {"database disk image is malformed", PROBLEM_OTHER, "seen"},
    {"", PROBLEM_OTHER, "format"},
    {B, PROBLEM_OTHER, "format"},
    {NULL, PROBLEM_OTHER, "format"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

Test(problems, every_row)
{
    for (size_t i = 0; i < NELEM(cases); i++) {
        enum problem_kind k = problems_classify(cases[i].row);
        cr_expect_eq(k, cases[i].kind, "case %zu (%s) %s: got %s, want %s", i, cases[i].origin,
                     cases[i].row ? cases[i].row : "(null)", problems_kind_str(k),
                     problems_kind_str(cases[i].kind));
    }
}

struct index_case {
    const char *row;
    const char *name; /* NULL: no index name */
};

static const struct index_case index_cases[] = {
    {"row 123 missing from index t_v", "t_v"},
    {"wrong # of entries in index t_v", "t_v"},
    {"non-unique entry in index u_k", "u_k"},
    {"row 5 missing from index my index \"x\"", "my index \"x\""},
    {"NULL value in c.m", NULL},
    {B "Page 262 is never used", NULL},
    {"row 5 missing from index ", NULL},
    {"row 5 missing from index a_name_longer_than_the_32_byte_buffer_here", NULL},
};

Test(problems, index_names)
{
    for (size_t i = 0; i < NELEM(index_cases); i++) {
        char name[32] = "unchanged";
        int rc = problems_index_name(index_cases[i].row, name, sizeof(name));
        if (index_cases[i].name == NULL) {
            cr_expect_eq(rc, -1, "case %zu: %s", i, index_cases[i].row);
        } else {
            cr_expect_eq(rc, 0, "case %zu: %s", i, index_cases[i].row);
            cr_expect_str_eq(name, index_cases[i].name, "case %zu", i);
        }
    }
}

struct list_case {
    uint32_t counts[PROBLEM_KIND_COUNT];
    size_t cap;
    const char *list;
    int worst;
};

static const struct list_case list_cases[] = {
    {{0}, 64, "", -1},
    {{[PROBLEM_INDEX] = 2}, 64, "index", PROBLEM_INDEX},
    {{[PROBLEM_INDEX] = 2, [PROBLEM_BTREE] = 1}, 64, "btree,index", PROBLEM_BTREE},
    {{[PROBLEM_CONSTRAINT] = 1, [PROBLEM_OTHER] = 1}, 64, "other,constraint", PROBLEM_OTHER},
    {{1, 1, 1, 1, 1, 1}, 64, "btree,schema,page_ownership,other,index,constraint", PROBLEM_BTREE},
    {{1, 1, 1, 1, 1, 1}, 10, "", PROBLEM_BTREE}, /* does not fit: error, not a truncated list */
};

Test(problems, kinds_list_and_worst)
{
    for (size_t i = 0; i < NELEM(list_cases); i++) {
        char out[64];
        int rc = problems_kinds_list(list_cases[i].counts, out, list_cases[i].cap);
        cr_expect_eq(rc, strlen(list_cases[i].list) || list_cases[i].worst < 0 ? 0 : -1, "case %zu",
                     i);
        cr_expect_str_eq(out, list_cases[i].list, "case %zu", i);
        cr_expect_eq(problems_worst(list_cases[i].counts), list_cases[i].worst, "case %zu", i);
    }
}

struct summary_case {
    const char *rows; /* as the checker logs them */
    size_t cap;
    const char *first;
    const char *indexes;
    int nindexes;
};

static const struct summary_case summary_cases[] = {
    {"row 123 missing from index t_v; wrong # of entries in index t_v", 64,
     "row 123 missing from index t_v", "t_v", 1},
    {B "Fragmentation of 117 bytes reported as 0 on page 6; row 31 missing from index t_v; "
       "wrong # of entries in index t_v; non-unique entry in index u_k",
     64, "Fragmentation of 117 bytes reported as 0 on page 6", "t_v,u_k", 2},
    {B "Page 132: btreeInitPage() returns error code 11", 20, "Page 132: btreeI...", "", 0},
    {"step=check sqlite_code=11 sqlite_error=database disk image is malformed", 64,
     "step=check sqlite_code=11 sqlite_error=database disk image i...", "", 0},
    {"row 1 missing from index aaaaaaaaaaaaaaaa; row 2 missing from index bbbbbbbbbbbbbbbbbbbb", 24,
     "row 1 missing from i...", "aaaaaaaaaaaaaaaa", -1},
    {"", 16, "", "", 0},
};

Test(problems, first_message_and_index_list)
{
    for (size_t i = 0; i < NELEM(summary_cases); i++) {
        char first[64], idx[64];
        const struct summary_case *c = &summary_cases[i];
        problems_first_message(c->rows, first, c->cap);
        cr_expect_str_eq(first, c->first, "case %zu", i);
        cr_expect_eq(problems_index_list(c->rows, false, idx, c->cap), c->nindexes, "case %zu", i);
        cr_expect_str_eq(idx, c->indexes, "case %zu", i);
    }
}

struct failure_case {
    const char *message;
    enum problem_kind kind;
};

static const struct failure_case failure_cases[] = {
    {"step=check sqlite_code=11 sqlite_error=malformed database schema (t_v) - invalid rootpage",
     PROBLEM_SCHEMA},
    {"step=check sqlite_code=11 sqlite_error=database disk image is malformed", PROBLEM_OTHER},
    {"step=open sqlite_code=26 sqlite_error=file is not a database", PROBLEM_OTHER},
    {NULL, PROBLEM_OTHER},
};

/* A log buffer that filled up may have cut its last row: "t_" must not become an index. */
Test(problems, cut_last_row_is_not_read)
{
    char idx[64];

    cr_expect_eq(problems_index_list("row 1 missing from index t_v; row 2 missing from index t_",
                                     true, idx, sizeof(idx)),
                 1);
    cr_expect_str_eq(idx, "t_v");
}

Test(problems, failures_without_rows)
{
    for (size_t i = 0; i < NELEM(failure_cases); i++)
        cr_expect_eq(problems_classify_failure(failure_cases[i].message), failure_cases[i].kind,
                     "case %zu", i);
}
