/*
 * test_sqlitever.c: version strings <-> SQLITE_VERSION_NUMBER, and the WAL-reset race ranges
 * at every edge the sources name (3.7.0 first affected; 3.51.3 fixed; backports 3.44.6 and
 * 3.50.7), with and without an operator's list of patched versions.
 */
#include "sqlitever.h"

#include <criterion/criterion.h>
#include <string.h>

struct parse_case {
    const char *in;
    bool ok;
    uint32_t v;
};

static const struct parse_case parse_cases[] = {
    {"3.51.2", true, 3051002},
    {"3.51.3", true, 3051003},
    {"3.7.0", true, 3007000},
    {"3.40.1", true, 3040001},
    {"3.6.23", true, 3006023},
    {"3.8.11.1", true, 3008011}, /* four-part patch release: the fourth is not numbered */
    {"3.7.6.3", true, 3007006},
    {"3.0.0", true, 3000000},
    {"999.999.999", true, 999999999},
    {"3.999.999.999", true, 3999999},
    {"", false, 0},
    {"3", false, 0},
    {"3.51", false, 0},
    {"3.51.", false, 0},
    {".3.51.2", false, 0},
    {"3..2", false, 0},
    {"3.51.2.", false, 0},
    {"3.51.2.1.0", false, 0},
    {"3.51.2 ", false, 0},
    {" 3.51.2", false, 0},
    {"3.51.2a", false, 0},
    {"3.1000.0", false, 0},
    {"3.51.1234", false, 0},
    {"0.51.2", false, 0},
    {"-3.51.2", false, 0},
    {"+3.51.2", false, 0},
    {"3,51,2", false, 0},
    {"v3.51.2", false, 0},
    {"3.40.1.0000", false, 0},
    {"0003.4.1", false, 0},
};

Test(sqlitever, parse)
{
    size_t i;

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        uint32_t v = 12345;
        bool ok = sqlitever_parse(c->in, &v);

        cr_expect_eq(ok, c->ok, "parse(\"%s\") = %d, want %d", c->in, ok, c->ok);
        cr_expect_eq(v, c->ok ? c->v : 12345u, "parse(\"%s\") -> %u, want %u", c->in, v,
                     c->ok ? c->v : 12345u);
        /* The counted form agrees, and ignores what follows len. */
        v = 0;
        cr_expect_eq(sqlitever_parse_n(c->in, strlen(c->in), &v), c->ok, "%s", c->in);
    }
    cr_expect_not(sqlitever_parse(NULL, &(uint32_t){0}));
    cr_expect(sqlitever_parse_n("3.40.1XYZ", 6, &(uint32_t){0}));
}

struct format_case {
    uint32_t v;
    size_t outlen;
    int rc;
    const char *out;
};

static const struct format_case format_cases[] = {
    {3051002, 16, 0, "3.51.2"},
    {3007000, 16, 0, "3.7.0"},
    {3040001, 7, 0, "3.40.1"}, /* exactly fits with the NUL */
    {3040001, 6, -1, ""},      /* one short */
    {999999999, 16, 0, "999.999.999"},
    {0, 16, -1, ""}, /* unknown is not formatted */
};

Test(sqlitever, format_and_round_trip)
{
    char out[32];
    uint32_t back;
    size_t i;

    for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
        const struct format_case *c = &format_cases[i];

        memset(out, 'x', sizeof(out));
        cr_expect_eq(sqlitever_format(c->v, out, c->outlen), c->rc, "format %u", c->v);
        cr_expect_str_eq(out, c->out, "format %u", c->v);
        if (c->rc == 0) {
            cr_expect(sqlitever_parse(out, &back));
            cr_expect_eq(back, c->v);
        }
    }
    cr_expect_eq(sqlitever_format(3051002, NULL, 0), -1);
}

struct race_case {
    const char *version;
    bool affected_plain;   /* no patched list */
    bool affected_patched; /* with the patched list below */
};

/* Versions an operator declared patched: a distribution's 3.40.1 and 3.46.1 with the fix. */
static const uint32_t patched[] = {3040001, 3046001};

static const struct race_case race_cases[] = {
    {"3.6.23", false, false},                            /* before WAL existed */
    {"3.6.23.1", false, false}, {"3.7.0", true, true},   /* WAL's first release: first affected */
    {"3.7.0.1", true, true},    {"3.40.1", true, false}, /* Debian 12, declared patched */
    {"3.44.0", true, true},     {"3.44.5", true, true},
    {"3.44.6", false, false}, /* backport */
    {"3.44.7", false, false}, /* later patch of the backported line */
    {"3.45.0", true, true},   /* the next line did not get it */
    {"3.46.1", true, false},    {"3.50.0", true, true},
    {"3.50.6", true, true},     {"3.50.7", false, false}, /* backport */
    {"3.50.8", false, false},   {"3.51.0", true, true},
    {"3.51.2", true, true},   /* last affected */
    {"3.51.3", false, false}, /* fixed */
    {"3.52.0", false, false},   {"3.53.1", false, false},
    {"4.0.0", false, false},
};

Test(sqlitever, wal_reset_race_edges)
{
    const struct sqlitever_issue *iss;
    size_t i, n;

    for (i = 0; i < sizeof(race_cases) / sizeof(race_cases[0]); i++) {
        const struct race_case *c = &race_cases[i];
        uint32_t v = 0;

        cr_assert(sqlitever_parse(c->version, &v), "%s", c->version);
        cr_expect_eq(sqlitever_wal_reset_race(v, NULL, 0), c->affected_plain, "%s plain",
                     c->version);
        cr_expect_eq(sqlitever_wal_reset_race(v, patched, 2), c->affected_patched,
                     "%s with patched list", c->version);
    }
    /* Unknown is never "affected": the caller reports unknown versions separately. */
    cr_expect_not(sqlitever_wal_reset_race(0, NULL, 0));

    /* The table holds the issue under the label the metric uses, with its source. */
    iss = sqlitever_issues(&n);
    cr_assert_geq(n, 1);
    cr_expect_str_eq(iss[0].reason, "wal_reset_race");
    cr_expect_str_eq(iss[0].source, "https://sqlite.org/wal.html#walresetbug");
    cr_expect_eq(iss[0].first_affected, 3007000u);
    cr_expect_eq(iss[0].fixed_in, 3051003u);
    cr_expect(sqlitever_affected(&iss[0], 3051002, NULL, 0));
    cr_expect_not(sqlitever_affected(NULL, 3051002, NULL, 0));
}
