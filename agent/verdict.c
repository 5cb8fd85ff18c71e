/* verdict.c: see verdict.h. */
#include "verdict.h"

#include <sqlite3.h>
#include <string.h>

/* prepare.c, corruptSchema (3.40.1): "malformed database schema (%s)" with the object's name,
 * then " - %s" with what went wrong when there is more to say. */
#define SCHEMA_PREFIX "malformed database schema ("
#define SCHEMA_SEP ") - "

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * EXTRA is sqlite3_errmsg of the CREATE statement that failed to prepare (prepare.c,
 * sqlite3InitCallback). What a newer SQLite writes and 3.40.1 cannot read:
 *   - new syntax: parse.y, "near \"%T\": syntax error";
 *   - a function it lacks, in an index expression, a generated column or a CHECK:
 *     resolve.c, "no such function: %#T"; expr.c, "unknown function: %#T()".
 * Everything else after the name ("invalid rootpage", "orphan index", "no such table",
 * "no such column", ...) is the file's own damage. A function name holds no ") - " (an
 * identifier), so a name that does cannot be the function's: it is taken as corruption.
 */
static bool extra_is_newer_sqlite(const char *extra)
{
    static const char *const functions[] = {"no such function: ", "unknown function: "};

    if (starts_with(extra, "near \"") && ends_with(extra, "\": syntax error"))
        return true;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        if (starts_with(extra, functions[i]))
            return strstr(extra + strlen(functions[i]), SCHEMA_SEP) == NULL;
    }
    return false;
}

/* The object name comes from the file and may itself hold ") - ", so every place the name
 * could end is tried. The real EXTRA is always last: a name made to look like a newer-SQLite
 * message (") - no such function: f") is followed by the real ") - invalid rootpage", which
 * the no-") - " rule and the syntax-error suffix rule both refuse. */
bool verdict_schema_unsupported(int rc, const char *msg)
{
    if ((rc & 0xff) != SQLITE_CORRUPT || msg == NULL || !starts_with(msg, SCHEMA_PREFIX))
        return false;
    for (const char *p = strstr(msg + strlen(SCHEMA_PREFIX), SCHEMA_SEP); p != NULL;
         p = strstr(p + 1, SCHEMA_SEP)) {
        if (extra_is_newer_sqlite(p + strlen(SCHEMA_SEP)))
            return true;
    }
    return false;
}

/* An SQLite code of a run that did not complete. */
static enum check_result from_code(const struct verdict_facts *f)
{
    switch (f->rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CHECK_RESULT_MALFORMED;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CHECK_RESULT_BUSY;
    case SQLITE_CANTOPEN:
        return f->wal_vanished ? CHECK_RESULT_BUSY : CHECK_RESULT_ERROR;
    case SQLITE_INTERRUPT:
        return f->yielded     ? CHECK_RESULT_BUSY
               : f->timed_out ? CHECK_RESULT_TIMEOUT
                              : CHECK_RESULT_ERROR;
    default:
        return CHECK_RESULT_ERROR;
    }
}

void verdict_decide(const struct verdict_facts *f, struct verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->record = !f->stopped;
    out->keep_problems = true;
    out->unsupported = f->rc != SQLITE_OK && verdict_schema_unsupported(f->rc, f->errmsg);
    if (f->refused) {
        out->result = CHECK_RESULT_ERROR;
    } else if (f->immutable && !f->unchanged) {
        /* Read without locks while a writer changed the file: no verdict either way. */
        out->result = CHECK_RESULT_BUSY;
        out->keep_problems = false;
    } else if (f->problems > 0) {
        /* SQLite's own finding, even when the run then failed or timed out. */
        out->result = CHECK_RESULT_MALFORMED;
    } else if (f->rc == SQLITE_OK) {
        out->result = CHECK_RESULT_OK;
    } else if (out->unsupported) {
        out->result = CHECK_RESULT_ERROR;
    } else {
        out->result = from_code(f);
    }
}
