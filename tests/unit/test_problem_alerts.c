/*
 * test_problem_alerts.c: what the agent's own SQLiteDatabaseMalformed says per worst kind
 * (alerts.c, malformed_annotations), and the evidence_dir / evidence_max_bytes keys.
 * The rules' annotations of the same names are tested by dashboards/sqlite-agent.rules.test.yml
 * with the same words.
 */
#include "alerts.h"
#include "config.h"
#include "problems.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct annotation_case {
    uint32_t kinds[PROBLEM_KIND_COUNT];
    const char *indexes;
    const char *copy;
    const char *want[4]; /* substrings of the JSON */
};

static const struct annotation_case cases[] = {
    {{[PROBLEM_INDEX] = 2},
     "t_v",
     "",
     {"\"kinds\":\"index\"",
      "\"advice\":\"Index-only damage: REINDEX t_v; nothing is lost (try it on the evidence "
      "copy first).\"",
      "\"runbook_kind_url\":\"https://x/runbook.md#kind-index\"", "\"evidence_copy\":\"\""}},
    {{[PROBLEM_INDEX] = 1, [PROBLEM_BTREE] = 1},
     "t_v",
     "/ev/db-1.db",
     {"\"kinds\":\"btree,index\"",
      "\"advice\":\"Stop the writers, then recover from /ev/db-1.db: sqlite-agent-recover COPY "
      "recovered.db (COPY = that file).\"",
      "\"runbook_kind_url\":\"https://x/runbook.md#kind-btree\"",
      "\"evidence_copy\":\"/ev/db-1.db\""}},
    {{[PROBLEM_CONSTRAINT] = 1},
     "",
     "",
     {"\"kinds\":\"constraint\"", "do not .recover (it drops them).",
      "\"runbook_kind_url\":\"https://x/runbook.md#kind-constraint\"",
      "\"first_problem\":\"row \\\"1\\\"\""}},
    {{[PROBLEM_OTHER] = 1},
     "",
     "",
     {"\"kinds\":\"other\"", "recover from a copy taken with writers stopped:",
      "\"runbook_kind_url\":\"https://x/runbook.md#kind-other\"", "\"source\":\"sqlite-agent\""}},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

Test(problem_alerts, annotations_by_worst_kind)
{
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct db_snapshot d = {.name = "db", .path = "/srv/db"};
        struct alert_event ev = {ALERT_MALFORMED, &d, 1795617065641, 1795617305641};
        struct alert_labels l = {"host:10150", "http://host:10150/", "https://x/runbook.md"};
        struct buf out;

        d.check.malformed = true;
        memcpy(d.check.kinds, cases[i].kinds, sizeof(d.check.kinds));
        d.check.indexes = cases[i].indexes;
        d.check.first_problem = "row \"1\"";
        d.evidence.path = cases[i].copy;
        buf_init(&out, 1 << 16);
        cr_assert_eq(alerts_render_json(&ev, 1, &l, &out), 0);
        for (size_t k = 0; k < 4; k++)
            cr_expect(strstr(out.data, cases[i].want[k]) != NULL, "case %zu: no %s in %s", i,
                      cases[i].want[k], out.data);
        /* the generic link stays, for what links to it */
        cr_expect(strstr(out.data, "\"runbook_url\":\"https://x/runbook.md#sqlitedatabasemalformed"
                                   "\"") != NULL);
        buf_free(&out);
    }
}

/* Only SQLiteDatabaseMalformed carries them. */
Test(problem_alerts, other_alerts_unchanged)
{
    struct db_snapshot d = {.name = "db", .path = "/srv/db"};
    struct alert_event ev = {ALERT_DOWN, &d, 1795617065641, 1795617305641};
    struct alert_labels l = {"host:10150", "http://host:10150/", "https://x/runbook.md"};
    struct buf out;

    buf_init(&out, 1 << 16);
    cr_assert_eq(alerts_render_json(&ev, 1, &l, &out), 0);
    cr_expect(strstr(out.data, "\"kinds\"") == NULL);
    cr_expect(strstr(out.data, "\"advice\"") == NULL);
    buf_free(&out);
}

struct key_case {
    const char *agent; /* [agent] lines */
    const char *dir;   /* expected evidence_dir, NULL = off */
    long long max;     /* expected evidence_max_bytes, or -1: an error */
    const char *error; /* substring of the error */
};

static const struct key_case keys[] = {
    {"", NULL, 1LL << 30, NULL},
    {"evidence_dir = /var/lib/sqlite-agent/evidence\n", "/var/lib/sqlite-agent/evidence", 1LL << 30,
     NULL},
    {"evidence_max_bytes = 512MiB\n", NULL, 512LL << 20, NULL},
    {"evidence_max_bytes = 1048576\n", NULL, 1048576, NULL},
    {"evidence_max_bytes = 16TiB\n", NULL, 16LL << 40, NULL},
    {"evidence_max_bytes = 2GB\n", NULL, -1, "invalid size \"2GB\""},
    {"evidence_max_bytes = 1000\n", NULL, -1, "out of range (1048576..17592186044416 bytes)"},
    {"evidence_max_bytes = 17TiB\n", NULL, -1, "out of range"},
    {"evidence_max_bytes = 99999999999999999999\n", NULL, -1, "invalid size"},
    {"evidence_dir = \"/x\"\n", NULL, -1, "in quotes"},
};

Test(problem_alerts, evidence_keys)
{
    for (size_t i = 0; i < NELEM(keys); i++) {
        char text[512], *errs = NULL;
        size_t errlen = 0;
        FILE *err = open_memstream(&errs, &errlen);
        snprintf(text, sizeof(text), "[agent]\n%s[database:a]\npath = /a\n", keys[i].agent);
        struct config *c = config_load_string(text, "t.ini", err);
        fclose(err);
        if (keys[i].max < 0) {
            cr_expect_null(c, "case %zu", i);
            cr_expect(strstr(errs, keys[i].error) != NULL, "case %zu: %s", i, errs);
        } else {
            cr_assert_not_null(c, "case %zu: %s", i, errs);
            if (keys[i].dir == NULL)
                cr_expect_null(c->evidence_dir, "case %zu", i);
            else
                cr_expect_str_eq(c->evidence_dir, keys[i].dir, "case %zu", i);
            cr_expect_eq(c->evidence_max_bytes, keys[i].max, "case %zu", i);
        }
        config_free(c);
        free(errs);
    }
}
