/*
 * checkunits.h: a check split into units, each its own short read transaction.
 *
 * A check holds one read snapshot for as long as it runs, and a FULL/RESTART/TRUNCATE
 * checkpoint (and every writer queued behind it) waits for that snapshot to go. So when a check
 * has to step aside, it goes on in units a checkpoint can pass between:
 *   - the whole-file unit, the plain pragma: every b-tree at once, the freelist, every page
 *     accounted for ("Page N is never used", "2nd reference to page N" across b-trees,
 *     autovacuum's pointer map and max rootpage: btree.c, sqlite3BtreeIntegrityCheck with
 *     bPartial 0);
 *   - "sqlite_schema": page 1's b-tree and the freelist (pragma.c passes aRoot {0, 1}:
 *     bPartial 1, bCkFreelist 1);
 *   - one unit per table with its indexes, "PRAGMA quick_check(T)" / "integrity_check(T)"
 *     (pragma.c pObjTab, SQLite 3.33+): that table's b-trees, and for integrity_check its
 *     index entries against its rows and its NOT NULL and CHECK constraints.
 * What the split units together cannot see (bPartial skips it): a page no b-tree and no
 * freelist uses, a page used by two b-trees of different tables, the pointer map, and the max
 * rootpage in the header. Those need the whole-file unit.
 */
#ifndef SQLITE_AGENT_CHECKUNITS_H
#define SQLITE_AGENT_CHECKUNITS_H

#include <sqlite3.h>
#include <stddef.h>

#include "config.h"

/* Tables in one split pass. A schema with more is checked by the whole-file unit only (a run
 * that cannot finish it ends busy or timeout, and says so). */
#define CHECKUNITS_MAX 10000

struct checkunits {
    size_t n;
    char **tables; /* "sqlite_schema" first, then every table with a b-tree, by name */
};

/* Lists the units of main on conn (one short read transaction). Returns an SQLite code;
 * SQLITE_TOOBIG past CHECKUNITS_MAX. Free with checkunits_free (also after a failure). */
int checkunits_list(sqlite3 *conn, struct checkunits *u);
void checkunits_free(struct checkunits *u);

/* "PRAGMA main.quick_check" for table NULL (the whole file), else "PRAGMA
 * main.quick_check('T')" (quoted as SQLite quotes: %Q). pragma is "quick_check" or
 * "integrity_check". NULL when out of memory; free with sqlite3_free. A table whose name is a
 * number is taken by SQLite as the error limit (pragma.c, sqlite3GetInt32), so its unit checks
 * the whole file: slower, never less. */
char *checkunits_sql(const char *pragma, const char *table);

#endif
