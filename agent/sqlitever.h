/*
 * sqlitever.h: SQLite library versions as numbers, and the known-bad version ranges.
 *
 * A version is kept in SQLITE_VERSION_NUMBER form, X*1000000 + Y*1000 + Z ("3.51.2" is
 * 3051002; sqlite3.h, "Compile-Time Library Version Numbers"), so versions compare as
 * integers. 0 means "not known".
 *
 * Pure functions over one static table: no I/O, no allocation, no global state.
 */
#ifndef SQLITE_AGENT_SQLITEVER_H
#define SQLITE_AGENT_SQLITEVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "3.51.2" -> 3051002 is at most "999.999.999.999" plus the NUL. */
#define SQLITEVER_TEXT_MAX 16

/* Parses a whole string "X.Y.Z" or "X.Y.Z.W" (the fourth part, used by some 3.7/3.8 patch
 * releases such as "3.8.11.1", is not part of the number, as in SQLITE_VERSION_NUMBER).
 * Each part is 1 to 3 decimal digits, no sign, no leading or trailing bytes; X is not 0.
 * Returns true and sets *out, or false and leaves *out alone. */
bool sqlitever_parse(const char *s, uint32_t *out);

/* As sqlitever_parse, over len bytes that need not be NUL-terminated. */
bool sqlitever_parse_n(const char *s, size_t len, uint32_t *out);

/* Writes "X.Y.Z" into out (always terminated when outlen > 0). Returns 0, or -1 when v is 0
 * or out is too small (then out holds ""). */
int sqlitever_format(uint32_t v, char *out, size_t outlen);

/* One known defect of the library that can corrupt a database. */
struct sqlitever_issue {
    const char *reason;      /* metric label value, e.g. "wal_reset_race" */
    const char *source;      /* where the ranges below come from */
    uint32_t first_affected; /* first version with the defect */
    uint32_t fixed_in;       /* first version of the newest line with the fix */
    /* Older release lines that got the fix as a patch release: a version of the same X.Y
     * line at or above one of these is fixed. Zero-terminated. */
    uint32_t backports[4];
};

/* The table, in the order the metric label values should be listed. */
const struct sqlitever_issue *sqlitever_issues(size_t *count);

/* Whether version v has the issue. v == 0 (unknown) is never affected: the caller reports
 * unknown versions on their own. A version in patched[] (versions an operator declared
 * fixed, because distributions backport fixes without changing the number) is not
 * affected. patched may be NULL when npatched is 0. */
bool sqlitever_affected(const struct sqlitever_issue *issue, uint32_t v, const uint32_t *patched,
                        size_t npatched);

/* sqlitever_affected() for the WAL-reset race (reason "wal_reset_race"). */
bool sqlitever_wal_reset_race(uint32_t v, const uint32_t *patched, size_t npatched);

#endif
