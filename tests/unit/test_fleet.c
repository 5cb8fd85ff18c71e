/*
 * test_fleet.c: the pure part of agent/fleet.c (labels, names left out, the merge of explicit
 * sections and glob matches), and [databases:NAME] sections in the config.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "configtext.h"
#include "fleet.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

Test(fleet, labels)
{
    static const struct {
        const char *group, *pattern, *path, *want; /* want NULL: -1 */
    } cases[] = {
        {"tenants", "/srv/tenants/*/app.sqlite3", "/srv/tenants/acme/app.sqlite3",
         "tenants/acme/app.sqlite3"},
        {"t", "/srv/t/*/db*.sqlite3", "/srv/t/t042/db017.sqlite3", "t/t042/db017.sqlite3"},
        {"t", "/srv/t/db?.db", "/srv/t/db1.db", "t/db1.db"},
        {"t", "/srv/t/[ab]/x.db", "/srv/t/a/x.db", "t/a/x.db"},
        {"t", "/srv/t/x.db", "/srv/t/x.db", "t/x.db"}, /* no metacharacter: the directory */
        {"t", "*.db", "a.db", "t/a.db"},               /* relative, nothing fixed */
        {"t", "data/*.db", "data/a.db", "t/a.db"},
        {"t", "/srv/a\\*b/*.db", "/srv/a*b/c.db", "t/a*b/c.db"}, /* escapes end it too */
        {"t", "/srv/t/*.db", "/elsewhere/a.db", NULL},           /* not below the prefix */
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[FLEET_MAX_LABEL + 1];
        int rc = fleet_label(cases[i].group, cases[i].pattern, cases[i].path, out, sizeof(out));
        if (cases[i].want == NULL) {
            cr_expect_eq(rc, -1, "%s", cases[i].pattern);
            continue;
        }
        cr_expect_eq(rc, 0, "%s", cases[i].pattern);
        cr_expect_str_eq(out, cases[i].want, "%s", cases[i].pattern);
    }
}

Test(fleet, label_too_long)
{
    static const struct {
        size_t tail; /* bytes of path below the prefix */
        int want;
    } cases[] = {{FLEET_MAX_LABEL - 2, 0}, {FLEET_MAX_LABEL - 1, -1}, {4000, -1}};

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char path[4100] = "/d/", out[FLEET_MAX_LABEL + 1];
        memset(path + 3, 'x', cases[i].tail);
        path[3 + cases[i].tail] = '\0';
        cr_expect_eq(fleet_label("g", "/d/*", path, out, sizeof(out)), cases[i].want, "tail %zu",
                     cases[i].tail);
    }
}

Test(fleet, names_left_out)
{
    static const struct {
        const char *path;
        bool excluded;
    } cases[] = {
        {"/a/app.db", false},
        {"/a/app.db-wal", true},
        {"/a/app.db-shm", true},
        {"/a/app.db-journal", true},
        {"/a/wal", false},
        {"/a/x-wal.db", false},
        {"-wal", true},
        {"/a/app.db-journal2", false},
        {"", false},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(fleet_excluded_name(cases[i].path), cases[i].excluded, "%s", cases[i].path);
}

Test(fleet, magic)
{
    static const struct {
        const char *bytes;
        size_t len;
        bool sqlite;
    } cases[] = {
        {"SQLite format 3\0\x10\x00", 18, true},
        {"SQLite format 3\0", 16, true},
        {"SQLite format 3", 15, false}, /* short: a file cut inside the magic */
        {"SQLite format 2\0", 16, false},
        {"sqlite format 3\0", 16, false},
        {"", 0, false},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(fleet_sqlite_magic((const unsigned char *)cases[i].bytes, cases[i].len),
                     cases[i].sqlite, "case %zu", i);
}

/* A candidate written compactly: E explicit / G glob, file id (0: unknown, compared by path). */
struct cand {
    char src;
    const char *label;
    const char *path;
    unsigned id;
};

#define MAXC 8

Test(fleet, merge)
{
    static const struct {
        const char *name;
        size_t max;
        struct cand c[MAXC];
        const char *want; /* one letter per candidate: W watch, D duplicate, L label, O over */
    } cases[] = {
        {"distinct files all watched",
         10,
         {{'E', "a", "/a", 1}, {'G', "g/b", "/b", 2}, {'G', "g/c", "/c", 3}},
         "WWW"},
        {"explicit section wins over a glob",
         10,
         {{'E', "a", "/a", 1}, {'G', "g/a", "/srv/a", 1}},
         "WD"},
        {"two explicit sections on one file both stay",
         10,
         {{'E', "q", "/a", 1}, {'E', "i", "/a", 1}, {'G', "g/a", "/a", 1}},
         "WWD"},
        {"the first glob in file order wins",
         10,
         {{'G', "g/a", "/a", 1}, {'G', "h/a", "/a", 1}},
         "WD"},
        {"a hard link is the same file",
         10,
         {{'G', "g/a", "/x/a", 7}, {'G', "g/b", "/x/b", 7}},
         "WD"},
        {"a missing explicit file is compared by path",
         10,
         {{'E', "a", "/gone", 0}, {'G', "g/gone", "/other", 5}},
         "WW"},
        {"a glob label taken by an explicit section",
         10,
         {{'E', "g/x", "/y", 1}, {'G', "g/x", "/x", 2}},
         "WL"},
        {"max_databases: globs fill up to it, in order",
         3,
         {{'E', "a", "/a", 1}, {'G', "g/b", "/b", 2}, {'G', "g/c", "/c", 3}, {'G', "g/d", "/d", 4}},
         "WWWO"},
        {"max_databases: duplicates do not count",
         2,
         {{'G', "g/a", "/a", 1}, {'G', "h/a", "/a", 1}, {'G', "g/b", "/b", 2}},
         "WDW"},
        {"max_databases: explicit sections stay over it",
         1,
         {{'E', "a", "/a", 1}, {'E', "b", "/b", 2}, {'G', "g/c", "/c", 3}},
         "WWO"},
        {"nothing", 10, {{0}}, ""},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fleet_candidate c[MAXC];
        enum fleet_verdict v[MAXC];
        size_t n = 0;
        char got[MAXC + 1];
        for (; n < MAXC && cases[i].c[n].src; n++) {
            const struct cand *x = &cases[i].c[n];
            c[n] = (struct fleet_candidate){x->label,   x->path, x->src == 'E',
                                            x->id != 0, 1,       (ino_t)x->id};
        }
        cr_assert_eq(fleet_merge(c, n, cases[i].max, v), 0);
        for (size_t k = 0; k < n; k++)
            got[k] = "WDLO"[v[k]];
        got[n] = '\0';
        cr_expect_str_eq(got, cases[i].want, "%s", cases[i].name);
    }
}

/* Loads text; returns errors written (caller frees). */
Test(fleet, config_sections)
{
    static const struct {
        const char *name, *text;
        const char *errors; /* NULL: loads, and want describes globs[0] */
        const char *want;
    } cases[] = {
        {"every [database:] key applies, others inherit [agent]",
         "[agent]\ncheck_interval = 7m\nrescan_interval = 30s\n"
         "[databases:tenants]\nglob = /srv/*/app.db\ncheck = integrity\nsample_interval = 2s\n",
         NULL, "tenants /srv/*/app.db check=integrity sample=2000 every=420000 rescan=30000"},
        {"defaults", "[databases:t]\nglob = /a/*\n", NULL,
         "t /a/* check=quick sample=15000 every=300000 rescan=60000"},
        {"rescan_interval per section", "[databases:t]\nglob = /a/*\nrescan_interval = 5s\n", NULL,
         "t /a/* check=quick sample=15000 every=300000 rescan=5000"},
        {"glob is required", "[databases:t]\ncheck = quick\n",
         "t.ini:1: [databases:t]: missing required key \"glob\"\n", NULL},
        {"path belongs to [database:]", "[databases:t]\nglob = /a/*\npath = /a/b\n",
         "t.ini:3: path: unknown key in [databases:t] (it goes in [database:NAME])\n", NULL},
        {"glob belongs to [databases:]", "[database:t]\npath = /a\nglob = /a/*\n",
         "t.ini:3: glob: unknown key in [database:t] (it goes in [databases:NAME])\n", NULL},
        {"duplicate glob section", "[databases:t]\nglob = /a/*\n[databases:t]\nglob = /b/*\n",
         "t.ini:3: [databases:t]: duplicate databases name (first at line 1)\n", NULL},
        {"max_databases bounds", "[agent]\nmax_databases = 0\n[databases:t]\nglob = /a/*\n",
         "t.ini:2: max_databases: \"0\" is out of range (1..1000000)\n", NULL},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config *c;
        char *errs = load(cases[i].text, &c);
        if (cases[i].errors) {
            cr_expect_null(c, "%s", cases[i].name);
            cr_expect_str_eq(errs, cases[i].errors, "%s", cases[i].name);
        } else {
            char got[512];
            cr_assert_not_null(c, "%s: %s", cases[i].name, errs);
            cr_assert_eq(c->nglobs, 1);
            const struct glob_config *g = &c->globs[0];
            snprintf(got, sizeof(got), "%s %s check=%s sample=%lld every=%lld rescan=%lld",
                     g->tmpl.name, g->pattern, config_check_kind_str(g->tmpl.check),
                     (long long)g->tmpl.sample_interval_ms, (long long)g->tmpl.check_interval_ms,
                     (long long)g->rescan_interval_ms);
            cr_expect_str_eq(got, cases[i].want, "%s", cases[i].name);
            cr_expect_str_eq(errs, "", "%s: no warning without [database:]", cases[i].name);
        }
        config_free(c);
        free(errs);
    }
}
