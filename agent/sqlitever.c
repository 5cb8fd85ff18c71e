/*
 * sqlitever.c: SQLite version numbers and the table of known-bad ranges (see sqlitever.h).
 */
#include "sqlitever.h"

#include <stdio.h>
#include <string.h>

#define SQLITEVER(x, y, z) ((uint32_t)(x)*1000000u + (uint32_t)(y)*1000u + (uint32_t)(z))

/*
 * The one table of library defects that corrupt databases.
 *
 * wal_reset_race: "Write-Ahead Logging" (https://sqlite.org/wal.html#walresetbug), the
 * section on the WAL-reset bug: a data race between two checkpoints and a commit that resets
 * the WAL leaves a wrong value in a wal-index header field, so a later checkpoint skips
 * frames and the database loses committed writes or becomes corrupt. Needs WAL mode and two or
 * more connections (threads or processes) writing or checkpointing at the same time. Affects
 * 3.7.0 (WAL's first release) through 3.51.2; fixed in 3.51.3 (2026-03-13), with the fix
 * backported as 3.44.6 and 3.50.7. (The withdrawn 3.52.0 and 3.53.0 also carry it: both
 * are above 3.51.3.) The stored reference copy used when writing this did not include
 * wal.html itself; the ranges were taken from copies quoting it and from the release notes
 * (sqlite.org/changes.html, 3.53.0: "Fix the WAL-reset database corruption bug").
 */
static const struct sqlitever_issue issues[] = {
    {"wal_reset_race",
     "https://sqlite.org/wal.html#walresetbug",
     SQLITEVER(3, 7, 0),
     SQLITEVER(3, 51, 3),
     {SQLITEVER(3, 44, 6), SQLITEVER(3, 50, 7), 0, 0}},
};

/* Parses "N" of 1..3 digits at s[*i..len), stopping at '.' or the end. */
static bool parse_part(const char *s, size_t len, size_t *i, uint32_t *out)
{
    uint32_t v = 0;
    size_t n = 0;

    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (++n > 3)
            return false;
        v = v * 10u + (uint32_t)(s[*i] - '0');
        (*i)++;
    }
    if (n == 0)
        return false;
    *out = v;
    return true;
}

bool sqlitever_parse_n(const char *s, size_t len, uint32_t *out)
{
    uint32_t part[4] = {0, 0, 0, 0};
    size_t i = 0, k;

    if (!s)
        return false;
    for (k = 0; k < 4; k++) {
        if (!parse_part(s, len, &i, &part[k]))
            return false;
        if (i == len)
            break;
        if (s[i] != '.' || k == 3)
            return false;
        i++;
    }
    /* "3", "3.51" are not versions; "3.51.2." fails above (empty part). */
    if (k < 2 || part[0] == 0)
        return false;
    *out = SQLITEVER(part[0], part[1], part[2]);
    return true;
}

bool sqlitever_parse(const char *s, uint32_t *out)
{
    size_t n;

    if (!s)
        return false;
    /* Anything longer than "999.999.999.999" is not a version; bound the strlen. */
    n = strnlen(s, SQLITEVER_TEXT_MAX);
    return n < SQLITEVER_TEXT_MAX && sqlitever_parse_n(s, n, out);
}

int sqlitever_format(uint32_t v, char *out, size_t outlen)
{
    int n;

    if (!out || outlen == 0)
        return -1;
    out[0] = '\0';
    if (v == 0)
        return -1;
    n = snprintf(out, outlen, "%u.%u.%u", (unsigned)(v / 1000000u), (unsigned)(v / 1000u % 1000u),
                 (unsigned)(v % 1000u));
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

const struct sqlitever_issue *sqlitever_issues(size_t *count)
{
    if (count)
        *count = sizeof(issues) / sizeof(issues[0]);
    return issues;
}

bool sqlitever_affected(const struct sqlitever_issue *issue, uint32_t v, const uint32_t *patched,
                        size_t npatched)
{
    size_t i;

    if (!issue || v == 0 || v < issue->first_affected || v >= issue->fixed_in)
        return false;
    for (i = 0; i < npatched; i++)
        if (patched && patched[i] == v)
            return false;
    /* A backport fixes its own X.Y line from that patch level on. */
    for (i = 0; i < sizeof(issue->backports) / sizeof(issue->backports[0]); i++) {
        uint32_t b = issue->backports[i];

        if (b == 0)
            break;
        if (v / 1000u == b / 1000u && v >= b)
            return false;
    }
    return true;
}

bool sqlitever_wal_reset_race(uint32_t v, const uint32_t *patched, size_t npatched)
{
    return sqlitever_affected(&issues[0], v, patched, npatched);
}
