/*
 * problems.h: what kind of damage a problem row of PRAGMA quick_check / integrity_check names.
 *
 * Pure: no I/O, no allocation. The kinds are a small stable set, because they become metric
 * labels and decide the advice in the alert:
 *   index           index entries disagree with table rows (REINDEX repairs, nothing lost)
 *   btree           a b-tree's page structure: page headers, cell and pointer ranges, key
 *                   order, child depth, overflow chains (rows are at risk)
 *   page_ownership  which page belongs to whom: a page referenced twice, pages never used,
 *                   the freelist, the pointer map
 *   schema          the schema itself cannot be used ("malformed database schema")
 *   constraint      rows that violate their declared NOT NULL, CHECK or STRICT types, in an
 *                   otherwise sound file
 *   other           anything else, including a verdict from SQLITE_CORRUPT with no rows
 */
#ifndef SQLITE_AGENT_PROBLEMS_H
#define SQLITE_AGENT_PROBLEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum problem_kind {
    PROBLEM_INDEX = 0,
    PROBLEM_BTREE,
    PROBLEM_PAGE_OWNERSHIP,
    PROBLEM_SCHEMA,
    PROBLEM_CONSTRAINT,
    PROBLEM_OTHER,
};
#define PROBLEM_KIND_COUNT 6

/* The kind of one problem row. A b-tree row holds several messages, one per line after
 * "*** in database main ***" (pragma.c: OP_IntegrityCk's result is one row; btree.c,
 * checkAppendMsg joins messages with "\n"): such a row is of its worst message's kind.
 * NULL is PROBLEM_OTHER. */
enum problem_kind problems_classify(const char *row);

/* "index", "btree", "page_ownership", "schema", "constraint", "other" */
const char *problems_kind_str(enum problem_kind k);

/* How bad a kind is for the data, 0 (constraint: the file is sound) up to 5 (btree). */
int problems_kind_rank(enum problem_kind k);

/* The worst kind with a non-zero count, or -1 when every count is zero. */
int problems_worst(const uint32_t counts[PROBLEM_KIND_COUNT]);

/* The index an index row names ("row 5 missing from index t_v", "wrong # of entries in index
 * t_v", "non-unique entry in index t_v": pragma.c, integrity_check), copied into out (cap
 * len, NUL-terminated). Returns 0, or -1 when the row names no index or the name does not
 * fit (a truncated name would REINDEX the wrong thing). */
int problems_index_name(const char *row, char *out, size_t len);

/* Appends to out (cap len) the "kind,kind" list of kinds with non-zero counts, worst first.
 * Returns 0, or -1 when it does not fit (out is then ""). */
int problems_kinds_list(const uint32_t counts[PROBLEM_KIND_COUNT], char *out, size_t len);

/* The kind of a malformed verdict with no problem rows, from its error text (SQLITE_CORRUPT or
 * SQLITE_NOTADB): "schema" when SQLite could not load the schema (prepare.c, corruptSchema:
 * "malformed database schema (...)"), else "other". */
enum problem_kind problems_classify_failure(const char *message);

/* Rows as the checker logs them: "row; row; ...". */
#define PROBLEMS_ROW_SEPARATOR "; "

/* The first message of the first row of rows (banner line skipped), for a one-line summary:
 * cut at len - 1 bytes, with "..." at the end when cut (display only, never parsed back). */
void problems_first_message(const char *rows, char *out, size_t len);

/* The distinct index names the index rows in rows name, ","-separated, into out (cap len).
 * Returns the number of names; a name that does not fit is left out and makes it -1, so the
 * advice never names a partial list as complete. last_cut: the last row of rows may have been
 * cut short (the log buffer was full), so it is not read. */
int problems_index_list(const char *rows, bool last_cut, char *out, size_t len);

/* What the alert tells the person paged for a worst kind (problems_worst; -1: none known):
 * index: REINDEX the named indexes, nothing lost; constraint: fix the rows with SQL; anything
 * else: stop the writers and .recover from the evidence copy (copy may be "" when none). The
 * wording is the rules' (dashboards/sqlite-agent.rules.yml) and the runbook's. Cut to len. */
void problems_advice(int worst, const char *indexes, const char *copy, char *out, size_t len);

/* The docs/runbook.md anchor of a kind's section: "kind-index", "kind-btree", ... */
void problems_runbook_anchor(int worst, char *out, size_t len);

#endif
