/* Unit tests for the agent's own alerts: when each holds, and the JSON posted. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "alerts.h"
#include "utf8.h"

struct active_case {
    const char *what;
    enum sample_status status;
    bool completed_once;
    bool malformed;
    int64_t last_success_ms;
    enum check_kind check;
    int64_t now_ms;
    bool expect[ALERT_KIND_COUNT];
};

/* check_interval 60 s, timeout 10 s: stalled after 3 * 60 + 10 = 190 s without a completed
 * check; the agent started at t = 0. */
Test(alerts, active_table)
{
    static const struct active_case cases[] = {
        {"healthy", SAMPLE_OK, true, false, 100000, CHECK_QUICK, 200000, {false, false, false}},
        {"malformed", SAMPLE_OK, true, true, 100000, CHECK_QUICK, 200000, {true, false, false}},
        {"missing", SAMPLE_MISSING, false, false, 0, CHECK_QUICK, 1000, {false, true, false}},
        {"unreadable", SAMPLE_UNREADABLE, false, false, 0, CHECK_QUICK, 1000, {false, true, false}},
        {"garbage header",
         SAMPLE_BAD_HEADER,
         true,
         true,
         500,
         CHECK_QUICK,
         1000,
         {true, true, false}},
        {"not sampled yet", SAMPLE_NONE, false, false, 0, CHECK_QUICK, 1000, {false, false, false}},
        {"never completed, young",
         SAMPLE_OK,
         false,
         false,
         0,
         CHECK_QUICK,
         190000,
         {false, false, false}},
        {"never completed, old",
         SAMPLE_OK,
         false,
         false,
         0,
         CHECK_QUICK,
         190001,
         {false, false, true}},
        {"stale success", SAMPLE_OK, true, false, 10000, CHECK_QUICK, 200001, {false, false, true}},
        {"fresh success",
         SAMPLE_OK,
         true,
         false,
         10000,
         CHECK_QUICK,
         200000,
         {false, false, false}},
        {"check off never stalls",
         SAMPLE_OK,
         false,
         false,
         0,
         CHECK_OFF,
         10000000,
         {false, false, false}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct active_case *c = &cases[i];
        struct db_snapshot d = {.name = "a", .path = "/a", .kind = c->check};
        struct db_config db = {.name = "a",
                               .path = "/a",
                               .check = c->check,
                               .check_interval_ms = 60000,
                               .check_timeout_ms = 10000};
        d.sample.status = c->status;
        d.check.completed_once = c->completed_once;
        d.check.malformed = c->malformed;
        d.check.last_success_ms = c->last_success_ms;
        for (int k = 0; k < ALERT_KIND_COUNT; k++)
            cr_expect_eq(alerts_active((enum alert_kind)k, &d, &db, 0, c->now_ms), c->expect[k],
                         "%s: %s", c->what, alerts_name((enum alert_kind)k));
    }
}

/* SQLiteWALResetRace: for an hour after the close watch's last race signal. */
Test(alerts, wal_reset_race)
{
    static const struct {
        int64_t last_signal_ms, now_ms;
        bool expect;
    } cases[] = {
        {0, 5000000, false},
        {1000, 1000, true},
        {1000, 1000 + ALERTS_RACE_HOLD_MS - 1, true},
        {1000, 1000 + ALERTS_RACE_HOLD_MS, false},
    };
    struct db_config db = {.name = "a",
                           .path = "/a",
                           .check = CHECK_QUICK,
                           .check_interval_ms = 60000,
                           .check_timeout_ms = 10000};

    cr_expect_str_eq(alerts_name(ALERT_WAL_RESET_RACE), "SQLiteWALResetRace");
    cr_expect_str_eq(alerts_severity(ALERT_WAL_RESET_RACE), "critical");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct db_snapshot d = {.name = "a", .path = "/a", .kind = CHECK_QUICK};
        d.watch.last_signal_ms = cases[i].last_signal_ms;
        cr_expect_eq(alerts_active(ALERT_WAL_RESET_RACE, &d, &db, 0, cases[i].now_ms),
                     cases[i].expect, "case %zu", i);
    }
}

Test(alerts, json_escapes_and_fields)
{
    struct db_snapshot d = {.name = "or\"ders", .path = "/srv/a\\b\n.db"};
    struct alert_event ev = {ALERT_MALFORMED, &d, 1795617065641, 1795617305641};
    struct alert_labels l = {"host:10150", "http://host:10150/", "https://x/runbook.md"};
    struct buf out;
    buf_init(&out, 1 << 16);
    cr_assert_eq(alerts_render_json(&ev, 1, &l, &out), 0);
    cr_expect(strstr(out.data, "\"alertname\":\"SQLiteDatabaseMalformed\"") != NULL);
    cr_expect(strstr(out.data, "\"db\":\"or\\\"ders\"") != NULL);
    cr_expect(strstr(out.data, "\"path\":\"/srv/a\\\\b\\u000a.db\"") != NULL);
    cr_expect(strstr(out.data, "\"startsAt\":\"2026-11-25T14:31:05.641Z\"") != NULL);
    cr_expect(strstr(out.data, "\"endsAt\":\"2026-11-25T14:35:05.641Z\"") != NULL);
    cr_expect(strstr(out.data,
                     "\"runbook_url\":\"https://x/runbook.md#sqlitedatabasemalformed\"") != NULL);
    cr_expect_eq(out.data[0], '[');
    cr_expect_eq(out.data[out.len - 1], ']');
    buf_free(&out);

    buf_init(&out, 16);
    cr_expect_eq(alerts_render_json(&ev, 1, &l, &out), -1, "cap must be enforced");
    buf_free(&out);
}

/* The longest runbook_url the config takes (CONFIG_URL_MAX) reaches the alert whole, anchor and
 * all: on 95a66bf a URL over 1,023 bytes lost its anchor, or its end. */
Test(alerts, longest_runbook_url_kept_whole)
{
    static char base[CONFIG_URL_MAX + 1], want[CONFIG_URL_MAX + 128];
    struct db_snapshot d = {.name = "a", .path = "/a"};
    struct buf out;

    memcpy(base, "https://x/", 10);
    memset(base + 10, 'u', CONFIG_URL_MAX - 10);
    base[CONFIG_URL_MAX] = '\0';
    for (int kind = 0; kind < ALERT_KIND_COUNT; kind++) {
        struct alert_event ev = {kind, &d, 1795617065641, 0};
        struct alert_labels l = {"host:10150", "http://host:10150/", base};
        char anchor[64];
        size_t i;
        /* Each section of docs/runbook.md is its alert's name in lower case. */
        for (i = 0; alerts_name(kind)[i] != '\0'; i++)
            anchor[i] = (char)tolower((unsigned char)alerts_name(kind)[i]);
        anchor[i] = '\0';
        snprintf(want, sizeof(want), "\"runbook_url\":\"%s#%s\"", base, anchor);
        buf_init(&out, 1 << 16);
        cr_assert_eq(alerts_render_json(&ev, 1, &l, &out), 0);
        cr_expect(strstr(out.data, want) != NULL, "%s", alerts_name(kind));
        buf_free(&out);
    }
}

/* JSON text is UTF-8 (RFC 8259, 8.1): a db name or path with bytes that are not (a Latin-1 file
 * name, a cut sequence) still gives a valid body, each bad byte replaced by U+FFFD. */
Test(alerts, json_is_utf8_whatever_the_name)
{
    static const struct {
        const char *what;
        const char *name;
        const char *want; /* the "db" pair */
    } cases[] = {
        {"ASCII", "orders", "\"db\":\"orders\""},
        {"valid UTF-8 kept", "caf\xC3\xA9", "\"db\":\"caf\xC3\xA9\""},
        {"four-byte sequence kept", "\xF0\x9F\x98\x80", "\"db\":\"\xF0\x9F\x98\x80\""},
        {"Latin-1 e acute", "caf\xE9", "\"db\":\"caf\xEF\xBF\xBD\""},
        {"stray continuation", "a\x80z", "\"db\":\"a\xEF\xBF\xBDz\""},
        {"sequence cut at the end", "a\xE2\x82", "\"db\":\"a\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"overlong slash", "\xC0\xAF", "\"db\":\"\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"surrogate", "\xED\xA0\x80", "\"db\":\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"0xFF and a quote", "\xFF\"", "\"db\":\"\xEF\xBF\xBD\\\"\""},
    };
    struct alert_labels l = {"host:10150", "http://host:10150/", "https://x/runbook.md"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct db_snapshot d = {.name = cases[i].name, .path = cases[i].name};
        struct alert_event ev = {ALERT_DOWN, &d, 1795617065641, 1795617305641};
        struct buf out;
        buf_init(&out, 1 << 16);
        cr_assert_eq(alerts_render_json(&ev, 1, &l, &out), 0, "%s", cases[i].what);
        cr_expect(strstr(out.data, cases[i].want) != NULL, "%s: %s", cases[i].what, out.data);
        /* Nothing of the name's bad bytes is left anywhere in the body. */
        for (size_t j = 0; j < out.len;) {
            size_t n = utf8_seq_len((const unsigned char *)out.data + j, out.len - j);
            cr_assert_neq(n, 0, "%s: invalid UTF-8 at byte %zu", cases[i].what, j);
            j += n;
        }
        buf_free(&out);
    }
}

/* A batch written in parts (alertpush.c, a slice of databases at a time) is the same array as
 * one written whole, however the events are split. */
Test(alerts, items_in_parts_make_the_same_array)
{
    struct db_snapshot d[3] = {
        {.name = "a", .path = "/a"}, {.name = "b", .path = "/b"}, {.name = "c", .path = "/c"}};
    struct alert_event ev[3] = {{ALERT_DOWN, &d[0], 1, 2},
                                {ALERT_MALFORMED, &d[1], 3, 4},
                                {ALERT_CHECK_STALLED, &d[2], 5, 6}};
    struct alert_labels l = {"host:10150", "http://host:10150/", "https://x/runbook.md"};
    static const size_t splits[][2] = {{0, 3}, {1, 2}, {2, 1}, {3, 0}};
    struct buf whole;

    buf_init(&whole, 1 << 16);
    cr_assert_eq(alerts_render_json(ev, 3, &l, &whole), 0);
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        struct buf parts;
        buf_init(&parts, 1 << 16);
        buf_puts(&parts, "[");
        cr_assert_eq(alerts_render_items(ev, splits[i][0], &l, true, &parts), 0);
        cr_assert_eq(
            alerts_render_items(ev + splits[i][0], splits[i][1], &l, splits[i][0] == 0, &parts), 0);
        buf_puts(&parts, "]");
        cr_expect_str_eq(parts.data, whole.data, "split %zu", i);
        buf_free(&parts);
    }
    buf_free(&whole);
}
