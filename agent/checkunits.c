/* checkunits.c: see checkunits.h. */
#include "checkunits.h"

#include <stdlib.h>
#include <string.h>

void checkunits_free(struct checkunits *u)
{
    for (size_t i = 0; i < u->n; i++)
        sqlite3_free(u->tables[i]);
    free(u->tables);
    u->tables = NULL;
    u->n = 0;
}

static int units_add(struct checkunits *u, const char *name, size_t *cap)
{
    if (u->n == CHECKUNITS_MAX)
        return SQLITE_TOOBIG;
    if (u->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        char **t = realloc(u->tables, ncap * sizeof(*t));
        if (t == NULL)
            return SQLITE_NOMEM;
        u->tables = t;
        *cap = ncap;
    }
    u->tables[u->n] = sqlite3_mprintf("%s", name);
    if (u->tables[u->n] == NULL)
        return SQLITE_NOMEM;
    u->n++;
    return SQLITE_OK;
}

int checkunits_list(sqlite3 *conn, struct checkunits *u)
{
    /* rootpage > 0: views, triggers and virtual tables have no b-tree (fileformat2, 2.6). */
    static const char sql[] = "SELECT name FROM main.sqlite_schema WHERE type = 'table' AND "
                              "rootpage > 0 ORDER BY name";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    memset(u, 0, sizeof(*u));
    rc = units_add(u, "sqlite_schema", &cap);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL);
    while (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        rc = name ? units_add(u, name, &cap) : SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

char *checkunits_sql(const char *pragma, const char *table)
{
    if (table == NULL)
        return sqlite3_mprintf("PRAGMA main.%s", pragma);
    return sqlite3_mprintf("PRAGMA main.%s(%Q)", pragma, table);
}
