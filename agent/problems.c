/*
 * problems.c: problem rows of quick_check / integrity_check -> kinds.
 *
 * Every pattern below is SQLite 3.40.1's own format string, copied verbatim from the place
 * cited next to it, and matched the way it was printed: "%d"/"%u"/"%lld" match an integer,
 * "%s" any text up to the next literal of the pattern. A whole message must match, so a
 * message SQLite does not print cannot be mistaken for one it does; unknown text is "other".
 *
 * The b-tree checker (btree.c, sqlite3BtreeIntegrityCheck) returns all its messages in one
 * row, "*** in database main ***" first (pragma.c: the OP_IntegrityCk result is concatenated
 * after that line), one message per line (btree.c, checkAppendMsg: "\n" between messages),
 * each after an optional context prefix set in pCheck->zPfx.
 */
#include "problems.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A problem line longer than this is not one SQLite printed for a sane schema; it is matched
 * only up to here (the kinds never depend on what follows a name). */
#define LINE_MAX_BYTES 4096

static const char *const kind_names[PROBLEM_KIND_COUNT] = {
    [PROBLEM_INDEX] = "index",
    [PROBLEM_BTREE] = "btree",
    [PROBLEM_PAGE_OWNERSHIP] = "page_ownership",
    [PROBLEM_SCHEMA] = "schema",
    [PROBLEM_CONSTRAINT] = "constraint",
    [PROBLEM_OTHER] = "other",
};

/* Worse for the data = higher. Constraint rows are data the schema forbids in a sound file;
 * index damage is repaired by REINDEX with nothing lost; unknown text is assumed to need a
 * recovery; lost page ownership and broken b-trees lose rows. */
static const int kind_rank[PROBLEM_KIND_COUNT] = {
    [PROBLEM_CONSTRAINT] = 0,     [PROBLEM_INDEX] = 1,  [PROBLEM_OTHER] = 2,
    [PROBLEM_PAGE_OWNERSHIP] = 3, [PROBLEM_SCHEMA] = 4, [PROBLEM_BTREE] = 5,
};

struct pattern {
    const char *format; /* SQLite's format string */
    enum problem_kind kind;
};

/* Messages of the b-tree checker, after any prefix (btree.c, 3.40.1). */
static const struct pattern btree_messages[] = {
    /* checkRef: a child, overflow or freelist pointer past the end of the file */
    {"invalid page number %d", PROBLEM_BTREE},
    /* checkRef: two owners for one page */
    {"2nd reference to page %d", PROBLEM_PAGE_OWNERSHIP},
    /* checkPtrmap (auto-vacuum files) */
    {"Failed to read ptrmap key=%d", PROBLEM_PAGE_OWNERSHIP},
    {"Bad ptr map entry key=%d expected=(%d,%d) got=(%d,%d)", PROBLEM_PAGE_OWNERSHIP},
    /* checkList: overflow chains (under a cell prefix) and the freelist ("Main freelist: ") */
    {"failed to get page %d", PROBLEM_BTREE},
    {"freelist leaf count too big on page %d", PROBLEM_PAGE_OWNERSHIP},
    {"size is %d but should be %d", PROBLEM_PAGE_OWNERSHIP},
    {"overflow list length is %d but should be %d", PROBLEM_BTREE},
    /* checkTreePage */
    {"unable to get the page. error code=%d", PROBLEM_BTREE},
    {"btreeInitPage() returns error code %d", PROBLEM_BTREE},
    {"free space corruption", PROBLEM_BTREE},
    {"Offset %d out of range %d..%d", PROBLEM_BTREE},
    {"Extends off end of page", PROBLEM_BTREE},
    {"Rowid %lld out of order", PROBLEM_BTREE},
    {"Child page depth differs", PROBLEM_BTREE},
    {"Multiple uses for byte %u of page %u", PROBLEM_BTREE},
    {"Fragmentation of %d bytes reported as %d on page %u", PROBLEM_BTREE},
    /* sqlite3BtreeIntegrityCheck */
    {"max rootpage (%d) disagrees with header (%d)", PROBLEM_PAGE_OWNERSHIP},
    {"incremental_vacuum enabled with a max rootpage of zero", PROBLEM_PAGE_OWNERSHIP},
    {"Page %d is never used", PROBLEM_PAGE_OWNERSHIP},
    {"Pointer map page %d is referenced", PROBLEM_PAGE_OWNERSHIP},
};

/* Context prefixes of b-tree messages (btree.c: pCheck->zPfx in checkTreePage and
 * sqlite3BtreeIntegrityCheck). A message under "Main freelist: " is about page ownership
 * whatever it says, since freelist pages belong to no b-tree. */
static const char *const btree_prefixes[] = {
    "Page %u: ",
    "On tree page %u cell %d: ",
    "On page %u at right child: ",
};
#define FREELIST_PREFIX "Main freelist: "

/* Rows of the per-table checks (pragma.c, 3.40.1, case PragTyp_INTEGRITY_CHECK), whole rows,
 * and the SQLITE_CORRUPT message of a schema SQLite cannot load (prepare.c, corruptSchema:
 * "malformed database schema (%s)", then " - " and the reason when there is one). */
static const struct pattern row_messages[] = {
    {"row %d missing from index %s", PROBLEM_INDEX},
    {"non-unique entry in index %s", PROBLEM_INDEX},
    {"wrong # of entries in index %s", PROBLEM_INDEX},
    {"row not in PRIMARY KEY order for %s", PROBLEM_BTREE},
    {"NULL value in %s.%s", PROBLEM_CONSTRAINT},
    {"non-%s value in %s.%s", PROBLEM_CONSTRAINT},
    {"NUMERIC value in %s.%s", PROBLEM_CONSTRAINT},
    {"TEXT value in %s.%s", PROBLEM_CONSTRAINT},
    {"CHECK constraint failed in %s", PROBLEM_CONSTRAINT},
    {"malformed database schema (%s)", PROBLEM_SCHEMA},
    {"malformed database schema (%s)%s", PROBLEM_SCHEMA},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *problems_kind_str(enum problem_kind k)
{
    return (unsigned)k < PROBLEM_KIND_COUNT ? kind_names[k] : "other";
}

int problems_kind_rank(enum problem_kind k)
{
    return (unsigned)k < PROBLEM_KIND_COUNT ? kind_rank[k] : kind_rank[PROBLEM_OTHER];
}

static const char *match_integer(const char *s, const char *end)
{
    if (s < end && *s == '-')
        s++;
    const char *digits = s;
    while (s < end && *s >= '0' && *s <= '9')
        s++;
    return s > digits ? s : NULL;
}

/*
 * Matches format against the text [s, end) from its start. Returns where the match ends, or
 * NULL. A "%s" takes the text up to the first occurrence of the literal that follows it in
 * the format (no backtracking: linear in the line, whatever names the schema holds), or the
 * rest of the text when it ends the format; it must not be empty.
 */
static const char *match_format(const char *format, const char *s, const char *end)
{
    const char *f = format;

    while (*f != '\0') {
        if (f[0] == '%' && f[1] == 's') {
            f += 2;
            size_t lit = strcspn(f, "%");
            if (lit == 0) {
                if (s >= end)
                    return NULL;
                s = end;
                continue;
            }
            const char *found = NULL;
            for (const char *p = s + 1; p + lit <= end; p++) {
                if (memcmp(p, f, lit) == 0) {
                    found = p;
                    break;
                }
            }
            if (found == NULL)
                return NULL;
            s = found;
        } else if (f[0] == '%') {
            /* %d, %u, %lld */
            f++;
            while (*f == 'l')
                f++;
            f++;
            s = match_integer(s, end);
            if (s == NULL)
                return NULL;
        } else {
            if (s >= end || *s != *f)
                return NULL;
            s++;
            f++;
        }
    }
    return s;
}

static bool match_whole(const char *format, const char *s, const char *end)
{
    return match_format(format, s, end) == end;
}

static int find_pattern(const struct pattern *table, size_t n, const char *s, const char *end)
{
    for (size_t i = 0; i < n; i++)
        if (match_whole(table[i].format, s, end))
            return (int)table[i].kind;
    return -1;
}

/* One line of a row. */
static enum problem_kind classify_line(const char *s, const char *end)
{
    int k = find_pattern(row_messages, NELEM(row_messages), s, end);
    bool freelist = false;

    if (k >= 0)
        return (enum problem_kind)k;
    if ((size_t)(end - s) >= strlen(FREELIST_PREFIX) &&
        memcmp(s, FREELIST_PREFIX, strlen(FREELIST_PREFIX)) == 0) {
        s += strlen(FREELIST_PREFIX);
        freelist = true;
    } else {
        for (size_t i = 0; i < NELEM(btree_prefixes); i++) {
            const char *rest = match_format(btree_prefixes[i], s, end);
            if (rest != NULL) {
                s = rest;
                break;
            }
        }
    }
    k = find_pattern(btree_messages, NELEM(btree_messages), s, end);
    if (k < 0)
        return PROBLEM_OTHER;
    return freelist ? PROBLEM_PAGE_OWNERSHIP : (enum problem_kind)k;
}

/* pragma.c, integrity_check: "*** in database %s ***\n" before the b-tree checker's text. */
static bool database_banner(const char *s, const char *end)
{
    return match_whole("*** in database %s ***", s, end);
}

enum problem_kind problems_classify(const char *row)
{
    int worst = -1;
    bool any = false;

    if (row == NULL)
        return PROBLEM_OTHER;
    for (const char *s = row; *s != '\0' || !any;) {
        const char *nl = strchr(s, '\n');
        const char *end = nl ? nl : s + strlen(s);
        const char *cap = end - s > LINE_MAX_BYTES ? s + LINE_MAX_BYTES : end;
        any = true;
        if (!database_banner(s, cap)) {
            enum problem_kind k = classify_line(s, cap);
            if (worst < 0 || kind_rank[k] > kind_rank[worst])
                worst = (int)k;
        }
        if (nl == NULL)
            break;
        s = nl + 1;
    }
    return worst < 0 ? PROBLEM_OTHER : (enum problem_kind)worst;
}

int problems_worst(const uint32_t counts[PROBLEM_KIND_COUNT])
{
    int worst = -1;

    for (int k = 0; k < PROBLEM_KIND_COUNT; k++)
        if (counts[k] > 0 && (worst < 0 || kind_rank[k] > kind_rank[worst]))
            worst = k;
    return worst;
}

/* The index-row formats, whose last "%s" is the index name (pragma.c, integrity_check). */
static const char *const index_prefixes[] = {
    "row %d missing from index ",
    "non-unique entry in index ",
    "wrong # of entries in index ",
};

int problems_index_name(const char *row, char *out, size_t len)
{
    if (row == NULL || len == 0 || strchr(row, '\n') != NULL)
        return -1;
    const char *end = row + strlen(row);
    for (size_t i = 0; i < NELEM(index_prefixes); i++) {
        const char *name = match_format(index_prefixes[i], row, end);
        if (name == NULL || name == end)
            continue;
        size_t n = (size_t)(end - name);
        if (n >= len)
            return -1;
        memcpy(out, name, n + 1);
        return 0;
    }
    return -1;
}

int problems_kinds_list(const uint32_t counts[PROBLEM_KIND_COUNT], char *out, size_t len)
{
    size_t used = 0;
    bool done[PROBLEM_KIND_COUNT] = {false};

    if (len == 0)
        return -1;
    out[0] = '\0';
    for (int pass = 0; pass < PROBLEM_KIND_COUNT; pass++) {
        int worst = -1;
        for (int k = 0; k < PROBLEM_KIND_COUNT; k++)
            if (!done[k] && counts[k] > 0 && (worst < 0 || kind_rank[k] > kind_rank[worst]))
                worst = k;
        if (worst < 0)
            break;
        done[worst] = true;
        int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", kind_names[worst]);
        if (n < 0 || (size_t)n >= len - used) {
            out[0] = '\0';
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}

enum problem_kind problems_classify_failure(const char *message)
{
    return message != NULL && strstr(message, "malformed database schema (") != NULL
               ? PROBLEM_SCHEMA
               : PROBLEM_OTHER;
}

/* The end of the row starting at s in a PROBLEMS_ROW_SEPARATOR list. */
static const char *row_end(const char *s)
{
    const char *sep = strstr(s, PROBLEMS_ROW_SEPARATOR);
    return sep ? sep : s + strlen(s);
}

void problems_first_message(const char *rows, char *out, size_t len)
{
    static const char ellipsis[] = "...";

    if (len == 0)
        return;
    out[0] = '\0';
    if (rows == NULL)
        return;
    const char *s = rows, *end = row_end(rows);
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (nl != NULL && database_banner(s, nl) && nl + 1 < end) {
        s = nl + 1;
    }
    nl = memchr(s, '\n', (size_t)(end - s));
    if (nl != NULL)
        end = nl;
    size_t n = (size_t)(end - s);
    if (n < len) {
        memcpy(out, s, n);
        out[n] = '\0';
        return;
    }
    if (len <= sizeof(ellipsis)) {
        out[0] = '\0';
        return;
    }
    n = len - sizeof(ellipsis);
    memcpy(out, s, n);
    memcpy(out + n, ellipsis, sizeof(ellipsis));
}

/* Whether name (n bytes) is already in the ","-list. */
static bool list_has(const char *list, const char *name, size_t n)
{
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t m = comma ? (size_t)(comma - p) : strlen(p);
        if (m == n && memcmp(p, name, n) == 0)
            return true;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

int problems_index_list(const char *rows, bool last_cut, char *out, size_t len)
{
    char row[LINE_MAX_BYTES], name[LINE_MAX_BYTES];
    int count = 0;
    bool partial = false;

    if (len == 0)
        return -1;
    out[0] = '\0';
    for (const char *s = rows; s != NULL && *s != '\0';) {
        const char *end = row_end(s);
        size_t n = (size_t)(end - s);
        if (n < sizeof(row) && !(last_cut && *end == '\0')) {
            memcpy(row, s, n);
            row[n] = '\0';
            if (problems_index_name(row, name, sizeof(name)) == 0 &&
                !list_has(out, name, strlen(name))) {
                size_t used = strlen(out), need = strlen(name) + (used ? 1 : 0);
                if (used + need < len) {
                    snprintf(out + used, len - used, "%s%s", used ? "," : "", name);
                    count++;
                } else {
                    partial = true;
                }
            }
        }
        s = *end ? end + strlen(PROBLEMS_ROW_SEPARATOR) : end;
    }
    return partial ? -1 : count;
}

/* tools/sqlite-agent-recover: .recover with the sqlite_dbpage extension (tools/sqlite_dbpage.c)
 * loaded, which Debian 12's sqlite3 needs; it finds the extension where CMake or the package
 * installed it. */
#define RECOVER_HINT "sqlite-agent-recover COPY recovered.db"

void problems_advice(int worst, const char *indexes, const char *copy, char *out, size_t len)
{
    const char *from = copy != NULL && copy[0] != '\0' ? copy : "a copy taken with writers stopped";

    if (len == 0)
        return;
    if (worst == PROBLEM_INDEX)
        snprintf(out, len,
                 "Index-only damage: REINDEX %s; nothing is lost (try it on the evidence copy "
                 "first).",
                 indexes != NULL && indexes[0] != '\0' ? indexes
                                                       : "the indexes in the problem rows");
    else if (worst == PROBLEM_CONSTRAINT)
        snprintf(out, len,
                 "Rows break the schema's NOT NULL/CHECK/type rules; the file is sound. Find and "
                 "fix them with SQL; do not .recover (it drops them).");
    else
        snprintf(out, len, "Stop the writers, then recover from %s: %s (COPY = that file).", from,
                 RECOVER_HINT);
}

void problems_runbook_anchor(int worst, char *out, size_t len)
{
    if (worst < 0 || worst >= PROBLEM_KIND_COUNT)
        snprintf(out, len, "sqlitedatabasemalformed");
    else
        snprintf(out, len, "kind-%s", kind_names[worst]);
}
