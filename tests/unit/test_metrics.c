/*
 * test_metrics.c: the exposition renderer.
 *
 * - label escaping, one table;
 * - number formatting (seconds from ms, shortest round-trip doubles), one table, and again
 *   under a locale whose decimal separator is a comma, when one is installed;
 * - which series exist in which state ("absent, not zero"), one table of snapshot edits;
 * - a golden file: a fixed snapshot rendered at a fixed time, compared byte for byte with
 *   GOLDEN_DIR/metrics.prom; with UPDATE_GOLDEN=1 in the environment the test rewrites the
 *   file instead and reports itself skipped, so an update is always on purpose;
 * - structure (one HELP/TYPE per family, families contiguous) and promtool's linter;
 * - the cap: too small a buffer makes metrics_render return -1.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "state.h"

#ifndef GOLDEN_DIR
#error "compile with -DGOLDEN_DIR='\"/path/to/tests/unit/golden\"'"
#endif

#define PROMTOOL "/usr/bin/promtool"
#define RENDER_MAX (1024 * 1024)

/* 2026-11-27T14:00:00.250Z */
#define NOW_MS INT64_C(1795788000250)

static const struct build_info test_bi = {"0.1.0", "3.40.1"};

static void render(const struct snapshot *snap, int64_t now_ms, struct buf *out)
{
    buf_init(out, RENDER_MAX);
    cr_assert_eq(metrics_render(snap, &test_bi, now_ms, out), 0, "render failed");
    cr_assert_not_null(out->data);
}

/* ---- Escaping ------------------------------------------------------------------------- */

struct escape_case {
    const char *name;
    const char *in;
    const char *want;
};

static const struct escape_case escape_cases[] = {
    {"empty", "", ""},
    {"NULL is empty", NULL, ""},
    {"plain", "/srv/data/orders.db", "/srv/data/orders.db"},
    {"backslash", "C:\\data\\x.db", "C:\\\\data\\\\x.db"},
    {"double quote", "say \"hi\"", "say \\\"hi\\\""},
    {"newline", "line1\nline2\n", "line1\\nline2\\n"},
    {"all three adjacent", "\\\"\n", "\\\\\\\"\\n"},
    {"already escaped text is escaped again", "\\n", "\\\\n"},
    {"tab, CR and single quote pass", "a\tb\rc'd", "a\tb\rc'd"},
    {"UTF-8 passes",
     "donn\xc3\xa9"
     "es/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80",
     "donn\xc3\xa9"
     "es/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80"},
    {"UTF-8 next to escapes", "\xc3\xa9\"\xc3\xa9", "\xc3\xa9\\\"\xc3\xa9"},
    {"stray byte becomes U+FFFD",
     "a\xff"
     "b",
     "a\xef\xbf\xbd"
     "b"},
    {"lone continuation byte", "\x80", "\xef\xbf\xbd"},
    {"truncated sequence at the end", "ab\xe6\x97", "ab\xef\xbf\xbd\xef\xbf\xbd"},
    {"truncated sequence before a quote", "\xe6\"", "\xef\xbf\xbd\\\""},
    {"overlong slash", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
    {"overlong 3-byte", "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"UTF-16 surrogate", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"past U+10FFFF", "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"U+10FFFF itself passes", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
};

Test(metrics, escape_label)
{
    size_t i;

    for (i = 0; i < sizeof escape_cases / sizeof escape_cases[0]; i++) {
        const struct escape_case *tc = &escape_cases[i];
        struct buf b;
        int rc;

        buf_init(&b, 1024);
        buf_puts(&b, "x=");
        rc = metrics_escape_label(&b, tc->in);
        cr_expect_eq(rc, 0, "%s: rc %d", tc->name, rc);
        cr_expect_eq(b.len, 2 + strlen(tc->want), "%s: len %zu", tc->name, b.len);
        cr_expect(b.len >= 2 && strncmp(b.data, "x=", 2) == 0, "%s: prefix lost", tc->name);
        cr_expect(b.len >= 2 && strcmp(b.data + 2, tc->want) == 0, "%s: got \"%s\"", tc->name,
                  b.data + 2);
        buf_free(&b);
    }
}

Test(metrics, escape_label_respects_cap)
{
    struct buf b;

    /* 'a' fits, the escaped quote (2 bytes) does not. */
    buf_init(&b, 2);
    cr_expect_eq(metrics_escape_label(&b, "a\""), -1);
    cr_expect(b.failed);
    buf_free(&b);
}

/* ---- The snapshot every presence case starts from: one healthy WAL database ------------ */

#define LBL "{db=\"d\"}"
#define LBL_CHECK(k) "{db=\"d\",check=\"" k "\"}"
#define LBL_RUN(k, r) "{db=\"d\",check=\"" k "\",result=\"" r "\"}"

static struct db_snapshot base_db(void)
{
    struct db_snapshot d;

    memset(&d, 0, sizeof d);
    d.name = "d";
    d.path = "/p/d.db";
    d.kind = CHECK_QUICK;
    d.sample.taken_ms = NOW_MS - 1500;
    d.sample.status = SAMPLE_OK;
    d.sample.file_size = 1024000;
    d.sample.db_result = FF_OK;
    d.sample.db.page_size = 4096;
    d.sample.db.write_version = 2;
    d.sample.db.read_version = 2;
    d.sample.db.change_counter = 17;
    d.sample.db.header_page_count = 250;
    d.sample.db.freelist_pages = 3;
    d.sample.db.user_version = 7;
    d.sample.db.application_id = 1330791506;
    d.sample.db.version_valid_for = 17;
    d.sample.db.sqlite_version = 3040001;
    d.sample.db.version_valid = true;
    d.sample.wal_present = true;
    d.sample.wal_size = 49472;
    d.sample.wal_result = FF_OK;
    d.sample.wal.checkpoint_seq = 4;
    d.sample.shm_present = true;
    d.sample.walindex_result = FF_OK;
    d.sample.walindex.mx_frame = 12;
    d.sample.walindex.n_backfill = 9;
    d.check.last_kind = CHECK_QUICK;
    return d;
}

static void base_agent(struct agent_stats *a)
{
    memset(a, 0, sizeof *a);
    a->start_ms = NOW_MS - 3600000;
    a->sample_passes = 10;
    a->last_sample_pass_s = 0.5;
    a->scrapes = 3;
    a->last_render_s = 0.25;
    a->last_reload_ok = true;
    a->last_reload_ok_ms = NOW_MS - 3600000;
}

/* ---- Number formatting ---------------------------------------------------------------- */

struct number_case {
    bool is_ms; /* rendered through a timestamp, else through a duration double */
    int64_t ms;
    double d;
    const char *want;
};

static const struct number_case number_cases[] = {
    {true, 0, 0, "0"},
    {true, 1500, 0, "1.5"},
    {true, 250, 0, "0.25"},
    {true, 1, 0, "0.001"},
    {true, INT64_C(1795788000000), 0, "1795788000"},
    {true, INT64_C(1795788000500), 0, "1795788000.5"},
    {true, INT64_C(1795788000010), 0, "1795788000.01"},
    {true, INT64_C(1795788000123), 0, "1795788000.123"},
    {true, -1500, 0, "-1.5"},
    {true, -250, 0, "-0.25"},
    {true, INT64_MIN, 0, "-9223372036854775.808"},
    {true, INT64_MAX, 0, "9223372036854775.807"},
    {false, 0, 0.0, "0"},
    {false, 0, 0.1, "0.1"},
    {false, 0, 0.25, "0.25"},
    {false, 0, 1.25, "1.25"},
    {false, 0, 30.0, "30"},
    {false, 0, 0.003125, "0.003125"},
    {false, 0, 1e-7, "1e-07"},
    {false, 0, 1.0 / 3.0, "0.3333333333333333"},
    {false, 0, 2.0 / 3.0, "0.6666666666666666"},
    {false, 0, 0.1 + 0.2, "0.30000000000000004"},
    {false, 0, 123456789012345678.0, "1.2345678901234568e+17"},
    {false, 0, 1e22, "1e+22"},
    {false, 0, -0.5, "-0.5"},
    {false, 0, HUGE_VAL, "+Inf"},
    {false, 0, -HUGE_VAL, "-Inf"},
    {false, 0, NAN, "NaN"},
};

/* Renders each case through sqlite_agent_start_time_seconds (ms) or
 * sqlite_agent_sample_pass_duration_seconds (double) and looks for the exact line. */
static void check_numbers(const char *locale_note)
{
    size_t i;

    for (i = 0; i < sizeof number_cases / sizeof number_cases[0]; i++) {
        const struct number_case *tc = &number_cases[i];
        struct snapshot snap;
        struct buf b;
        char line[128];

        memset(&snap, 0, sizeof snap);
        base_agent(&snap.agent);
        if (tc->is_ms) {
            snap.agent.start_ms = tc->ms;
            snprintf(line, sizeof line, "\nsqlite_agent_start_time_seconds %s\n", tc->want);
        } else {
            snap.agent.last_sample_pass_s = tc->d;
            snprintf(line, sizeof line, "\nsqlite_agent_sample_pass_duration_seconds %s\n",
                     tc->want);
        }
        render(&snap, NOW_MS, &b);
        cr_expect_not_null(strstr(b.data, line), "%s case %zu: no line \"%s\" in:\n%s", locale_note,
                           i, line + 1, b.data);
        buf_free(&b);
    }
}

Test(metrics, numbers)
{
    check_numbers("C locale");
}

Test(metrics, numbers_under_comma_locale)
{
    static const char *const locales[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                                          "fr_FR.utf8",  "nl_NL.UTF-8", "ru_RU.UTF-8"};
    char probe[16];
    size_t i;

    for (i = 0; i < sizeof locales / sizeof locales[0]; i++)
        if (setlocale(LC_ALL, locales[i]))
            break;
    if (i == sizeof locales / sizeof locales[0])
        cr_skip_test("no locale with a decimal comma installed (try LOCPATH)");
    snprintf(probe, sizeof probe, "%g", 0.5);
    cr_assert_str_eq(probe, "0,5", "locale %s does not use a decimal comma", locales[i]);
    check_numbers(locales[i]);
}

/* ---- Which series exist in which state -------------------------------------------------- */

static void set_not_sampled(struct snapshot *s)
{
    /* Leave the -wal/-shm flags set: "not sampled" must hide them too. */
    s->dbs[0].sample.status = SAMPLE_NONE;
}

static void set_missing(struct snapshot *s)
{
    s->dbs[0].sample.status = SAMPLE_MISSING;
    s->dbs[0].sample.file_size = 0;
    s->dbs[0].sample.wal_present = false;
    s->dbs[0].sample.shm_present = false;
}

static void set_unreadable(struct snapshot *s)
{
    s->dbs[0].sample.status = SAMPLE_UNREADABLE;
    s->dbs[0].sample.err = EACCES;
}

static void set_bad_header(struct snapshot *s)
{
    s->dbs[0].sample.status = SAMPLE_BAD_HEADER;
    s->dbs[0].sample.db_result = FF_BAD_MAGIC;
    s->dbs[0].sample.file_size = 7;
    s->dbs[0].sample.wal_present = false;
    s->dbs[0].sample.shm_present = false;
}

static void set_version_stale(struct snapshot *s)
{
    s->dbs[0].sample.db.version_valid = false;
    s->dbs[0].sample.db.version_valid_for = 16;
    s->dbs[0].sample.db.header_page_count = 999;
}

static void set_rollback(struct snapshot *s)
{
    s->dbs[0].sample.db.read_version = 1;
    s->dbs[0].sample.db.write_version = 1;
    s->dbs[0].sample.wal_present = false;
    s->dbs[0].sample.wal_size = 0;
    s->dbs[0].sample.shm_present = false;
}

static void set_wal_empty(struct snapshot *s)
{
    s->dbs[0].sample.wal_size = 0;
    s->dbs[0].sample.wal_result = FF_TRUNCATED;
}

static void set_wal_bad_checksum(struct snapshot *s)
{
    s->dbs[0].sample.wal_result = FF_BAD_CHECKSUM;
}

static void set_walindex_unstable(struct snapshot *s)
{
    s->dbs[0].sample.walindex_result = FF_UNSTABLE;
}

static void set_backfill_past_frames(struct snapshot *s)
{
    s->dbs[0].sample.walindex.n_backfill = 20;
}

static void set_check_off(struct snapshot *s)
{
    s->dbs[0].kind = CHECK_OFF;
}

static void set_check_timeout_only(struct snapshot *s)
{
    s->dbs[0].kind = CHECK_INTEGRITY;
    s->dbs[0].check.last_kind = CHECK_INTEGRITY;
    s->dbs[0].check.last_result = CHECK_RESULT_TIMEOUT;
    s->dbs[0].check.duration_s = 30.0;
    s->dbs[0].check.runs[CHECK_INTEGRITY][CHECK_RESULT_TIMEOUT] = 1;
}

static void set_check_malformed(struct snapshot *s)
{
    struct check_state *c = &s->dbs[0].check;

    c->completed_once = true;
    c->malformed = true;
    c->last_kind = CHECK_QUICK;
    c->last_result = CHECK_RESULT_MALFORMED;
    c->problems = 3;
    c->duration_s = 0.125;
    c->last_success_ms = NOW_MS - 60000;
    c->runs[CHECK_QUICK][CHECK_RESULT_OK] = 4;
    c->runs[CHECK_QUICK][CHECK_RESULT_MALFORMED] = 1;
    c->running = true;
}

static void set_kind_changed(struct snapshot *s)
{
    s->dbs[0].check.runs[CHECK_INTEGRITY][CHECK_RESULT_OK] = 2;
}

static void set_off_after_runs(struct snapshot *s)
{
    s->dbs[0].kind = CHECK_OFF;
    s->dbs[0].check.runs[CHECK_QUICK][CHECK_RESULT_BUSY] = 1;
}

static void set_agent_fresh(struct snapshot *s)
{
    s->agent.sample_passes = 0;
    s->agent.scrapes = 0;
    s->agent.last_reload_ok = false;
    s->agent.last_reload_ok_ms = 0;
    s->agent.reloads[0] = 1;
}

static void set_no_databases(struct snapshot *s)
{
    s->ndbs = 0;
}

struct presence_case {
    const char *name;
    void (*setup)(struct snapshot *s);
    const char *present[10]; /* exact lines, each with its trailing newline */
    const char *absent[12];  /* family names: neither a series nor a HELP line */
    const char *absent_text; /* any other text that must not appear, or NULL */
};

static const struct presence_case presence_cases[] = {
    {"healthy WAL database",
     NULL,
     {"sqlite_up" LBL " 1\n", "sqlite_sample_age_seconds" LBL " 1.5\n",
      "sqlite_database_header_valid" LBL " 1\n", "sqlite_database_pages" LBL " 250\n",
      "sqlite_last_writer_version_number" LBL " 3040001\n", "sqlite_wal_mode" LBL " 1\n",
      "sqlite_wal_size_bytes" LBL " 49472\n", "sqlite_wal_checkpoint_sequence" LBL " 4\n",
      "sqlite_wal_checkpoint_lag_frames" LBL " 3\n",
      "sqlite_check_running" LBL_CHECK("quick") " 0\n"},
     {"sqlite_check_errors", "sqlite_check_duration_seconds",
      "sqlite_check_last_success_timestamp_seconds"},
     NULL},
    {"not sampled yet",
     set_not_sampled,
     {"sqlite_up" LBL " 0\n", "sqlite_database_malformed" LBL " 0\n"},
     {"sqlite_last_sample_timestamp_seconds", "sqlite_sample_age_seconds",
      "sqlite_database_header_valid", "sqlite_database_size_bytes", "sqlite_page_size_bytes",
      "sqlite_wal_mode", "sqlite_wal_size_bytes", "sqlite_wal_header_valid",
      "sqlite_wal_index_valid", "sqlite_wal_frames", "sqlite_wal_checkpoint_lag_frames"},
     NULL},
    {"file missing",
     set_missing,
     {"sqlite_up" LBL " 0\n", "sqlite_last_sample_timestamp_seconds" LBL " 1795787998.75\n",
      "sqlite_sample_age_seconds" LBL " 1.5\n"},
     {"sqlite_database_header_valid", "sqlite_database_size_bytes", "sqlite_database_pages",
      "sqlite_wal_size_bytes", "sqlite_wal_header_valid", "sqlite_wal_index_valid"},
     NULL},
    {"file unreadable",
     set_unreadable,
     {"sqlite_up" LBL " 0\n", "sqlite_last_sample_timestamp_seconds" LBL " 1795787998.75\n"},
     {"sqlite_database_header_valid", "sqlite_database_size_bytes", "sqlite_page_size_bytes",
      "sqlite_wal_mode", "sqlite_wal_size_bytes"},
     NULL},
    {"not a database",
     set_bad_header,
     {"sqlite_up" LBL " 0\n", "sqlite_database_header_valid" LBL " 0\n",
      "sqlite_database_size_bytes" LBL " 7\n"},
     {"sqlite_page_size_bytes", "sqlite_database_pages", "sqlite_freelist_pages",
      "sqlite_database_change_sequence", "sqlite_database_user_version",
      "sqlite_database_application_id", "sqlite_last_writer_version_number", "sqlite_wal_mode",
      "sqlite_wal_size_bytes"},
     NULL},
    {"header version stale",
     set_version_stale,
     {"sqlite_database_pages" LBL " 250\n", "sqlite_database_change_sequence" LBL " 17\n"},
     {"sqlite_last_writer_version_number"},
     NULL},
    {"rollback journal",
     set_rollback,
     {"sqlite_wal_mode" LBL " 0\n", "sqlite_wal_size_bytes" LBL " 0\n"},
     {"sqlite_wal_header_valid", "sqlite_wal_checkpoint_sequence", "sqlite_wal_index_valid",
      "sqlite_wal_frames", "sqlite_wal_checkpoint_lag_frames"},
     NULL},
    {"empty -wal",
     set_wal_empty,
     {"sqlite_wal_size_bytes" LBL " 0\n", "sqlite_wal_index_valid" LBL " 1\n"},
     {"sqlite_wal_header_valid", "sqlite_wal_checkpoint_sequence"},
     NULL},
    {"-wal header checksum bad",
     set_wal_bad_checksum,
     {"sqlite_wal_header_valid" LBL " 0\n", "sqlite_wal_size_bytes" LBL " 49472\n"},
     {"sqlite_wal_checkpoint_sequence"},
     NULL},
    {"wal-index mid-update",
     set_walindex_unstable,
     {"sqlite_wal_index_valid" LBL " 0\n", "sqlite_wal_header_valid" LBL " 1\n"},
     {"sqlite_wal_frames", "sqlite_wal_checkpoint_lag_frames"},
     NULL},
    {"nBackfill past mxFrame clamps the lag",
     set_backfill_past_frames,
     {"sqlite_wal_frames" LBL " 12\n", "sqlite_wal_checkpoint_lag_frames" LBL " 0\n"},
     {NULL},
     NULL},
    {"check off, never run",
     set_check_off,
     {"sqlite_database_malformed" LBL " 0\n"},
     {"sqlite_check_running", "sqlite_check_errors", "sqlite_check_duration_seconds",
      "sqlite_check_last_success_timestamp_seconds", "sqlite_check_runs_total"},
     NULL},
    {"quick check configured, never run",
     NULL,
     {"sqlite_check_runs_total" LBL_RUN("quick", "ok") " 0\n",
      "sqlite_check_runs_total" LBL_RUN("quick", "malformed") " 0\n",
      "sqlite_check_runs_total" LBL_RUN("quick", "busy") " 0\n",
      "sqlite_check_runs_total" LBL_RUN("quick", "timeout") " 0\n",
      "sqlite_check_runs_total" LBL_RUN("quick", "error") " 0\n"},
     {NULL},
     "check=\"integrity\""},
    {"check timed out, never completed",
     set_check_timeout_only,
     {"sqlite_check_duration_seconds" LBL_CHECK("integrity") " 30\n",
      "sqlite_check_running" LBL_CHECK("integrity") " 0\n",
      "sqlite_check_runs_total" LBL_RUN("integrity", "timeout") " 1\n",
      "sqlite_check_runs_total" LBL_RUN("integrity", "ok") " 0\n",
      "sqlite_database_malformed" LBL " 0\n"},
     {"sqlite_check_errors", "sqlite_check_last_success_timestamp_seconds"},
     "check=\"quick\""},
    {"check found corruption",
     set_check_malformed,
     {"sqlite_database_malformed" LBL " 1\n", "sqlite_check_errors" LBL_CHECK("quick") " 3\n",
      "sqlite_check_running" LBL_CHECK("quick") " 1\n",
      "sqlite_check_duration_seconds" LBL_CHECK("quick") " 0.125\n",
      "sqlite_check_last_success_timestamp_seconds" LBL_CHECK("quick") " 1795787940.25\n",
      "sqlite_check_runs_total" LBL_RUN("quick", "malformed") " 1\n"},
     {NULL},
     NULL},
    {"configured kind changed after runs",
     set_kind_changed,
     {"sqlite_check_runs_total" LBL_RUN("quick", "ok") " 0\n",
      "sqlite_check_runs_total" LBL_RUN("integrity", "ok") " 2\n",
      "sqlite_check_runs_total" LBL_RUN("integrity", "error") " 0\n"},
     {NULL},
     NULL},
    {"check turned off after runs",
     set_off_after_runs,
     {"sqlite_check_runs_total" LBL_RUN("quick", "busy") " 1\n",
      "sqlite_check_runs_total" LBL_RUN("quick", "ok") " 0\n"},
     {"sqlite_check_running"},
     "sqlite_check_runs_total{db=\"d\",check=\"off\""},
    {"agent just started",
     set_agent_fresh,
     {"sqlite_agent_sample_passes_total 0\n", "sqlite_agent_scrapes_total 0\n",
      "sqlite_agent_config_last_reload_successful 0\n",
      "sqlite_agent_config_reloads_total{result=\"failure\"} 1\n",
      "sqlite_agent_config_reloads_total{result=\"success\"} 0\n"},
     {"sqlite_agent_sample_pass_duration_seconds", "sqlite_agent_metrics_render_duration_seconds",
      "sqlite_agent_config_last_reload_success_timestamp_seconds"},
     NULL},
    {"agent running",
     NULL,
     {"sqlite_agent_build_info{version=\"0.1.0\",sqlite_version=\"3.40.1\"} 1\n",
      "sqlite_agent_start_time_seconds 1795784400.25\n", "sqlite_agent_databases 1\n",
      "sqlite_agent_sample_pass_duration_seconds 0.5\n", "sqlite_agent_sample_passes_total 10\n",
      "sqlite_agent_metrics_render_duration_seconds 0.25\n",
      "sqlite_agent_config_last_reload_successful 1\n",
      "sqlite_agent_config_last_reload_success_timestamp_seconds 1795784400.25\n"},
     {NULL},
     NULL},
    {"no databases",
     set_no_databases,
     {"sqlite_agent_databases 0\n"},
     {"sqlite_up", "sqlite_database_malformed", "sqlite_check_runs_total"},
     NULL},
};

#define NPRESENCE (sizeof presence_cases / sizeof presence_cases[0])

static void presence_snapshot(const struct presence_case *tc, struct snapshot *snap,
                              struct db_snapshot *db)
{
    memset(snap, 0, sizeof *snap);
    *db = base_db();
    base_agent(&snap->agent);
    snap->taken_ms = NOW_MS;
    snap->ndbs = 1;
    snap->dbs = db;
    if (tc->setup)
        tc->setup(snap);
}

Test(metrics, series_presence)
{
    size_t i, j;

    for (i = 0; i < NPRESENCE; i++) {
        const struct presence_case *tc = &presence_cases[i];
        struct snapshot snap;
        struct db_snapshot db;
        struct buf b;

        presence_snapshot(tc, &snap, &db);
        render(&snap, NOW_MS, &b);
        for (j = 0; j < 10 && tc->present[j]; j++) {
            char line[512];

            snprintf(line, sizeof line, "\n%s", tc->present[j]);
            cr_expect_not_null(strstr(b.data, line), "%s: missing line: %s", tc->name,
                               tc->present[j]);
        }
        for (j = 0; j < 12 && tc->absent[j]; j++) {
            char series[256], bare[256], help[256];

            snprintf(series, sizeof series, "\n%s{", tc->absent[j]);
            snprintf(bare, sizeof bare, "\n%s ", tc->absent[j]);
            snprintf(help, sizeof help, "# HELP %s ", tc->absent[j]);
            cr_expect(!strstr(b.data, series) && !strstr(b.data, bare) && !strstr(b.data, help),
                      "%s: family %s should be absent", tc->name, tc->absent[j]);
        }
        if (tc->absent_text)
            cr_expect_null(strstr(b.data, tc->absent_text), "%s: unexpected %s", tc->name,
                           tc->absent_text);
        buf_free(&b);
    }
}

/* ---- The golden snapshot ------------------------------------------------------------------
 * orders: healthy WAL database, integrity check running, path with a quote, a backslash and a
 *         newline in it;
 * legacy: rollback-journal database whose last quick check found 3 problem rows, after an
 *         earlier integrity check (the configured kind changed), header version stale;
 *         metrics = basic;
 * gone:   the file is missing, checks off. */
static void golden_snapshot(struct snapshot *snap, struct db_snapshot dbs[3])
{
    struct db_snapshot *d;

    memset(snap, 0, sizeof *snap);
    memset(dbs, 0, 3 * sizeof dbs[0]);
    snap->taken_ms = NOW_MS;
    snap->agent.start_ms = NOW_MS - 7200250;
    snap->agent.sample_passes = 480;
    snap->agent.last_sample_pass_s = 0.003125;
    snap->agent.scrapes = 7;
    snap->agent.last_render_s = 0.000412;
    snap->agent.last_reload_ok = true;
    snap->agent.last_reload_ok_ms = NOW_MS - 3600000;
    snap->agent.reloads[0] = 1;
    snap->agent.reloads[1] = 2;
    snap->agent.alert_posts[1] = 5;
    snap->agent.proc_scanned = true;
    snap->agent.last_proc_scan_s = 0.0175;
    snap->agent.procs.processes = 212;
    snap->agent.procs.uninspectable = 4;
    snap->ndbs = 3;
    snap->dbs = dbs;

    d = &dbs[0];
    d->name = "orders";
    d->path = "/srv/data/or\"d\\ers\n.db";
    d->kind = CHECK_INTEGRITY;
    d->sample.taken_ms = NOW_MS - 1500;
    d->sample.status = SAMPLE_OK;
    d->sample.file_size = 1024000;
    d->sample.db_result = FF_OK;
    d->sample.db.page_size = 4096;
    d->sample.db.write_version = 2;
    d->sample.db.read_version = 2;
    d->sample.db.change_counter = 17;
    d->sample.db.header_page_count = 250;
    d->sample.db.freelist_pages = 3;
    d->sample.db.schema_cookie = 5;
    d->sample.db.text_encoding = 1;
    d->sample.db.user_version = 7;
    d->sample.db.application_id = 1330791506;
    d->sample.db.version_valid_for = 17;
    d->sample.db.sqlite_version = 3040001;
    d->sample.db.version_valid = true;
    d->sample.wal_present = true;
    d->sample.wal_size = 49472; /* 32-byte header + 12 frames of 24 + 4096 */
    d->sample.wal_result = FF_OK;
    d->sample.wal.magic = FF_WAL_MAGIC_LE;
    d->sample.wal.format_version = 3007000;
    d->sample.wal.page_size = 4096;
    d->sample.wal.checkpoint_seq = 4;
    d->sample.wal.checksum_valid = true;
    d->sample.shm_present = true;
    d->sample.walindex_result = FF_OK;
    d->sample.walindex.version = 3007000;
    d->sample.walindex.page_size = 4096;
    d->sample.walindex.mx_frame = 12;
    d->sample.walindex.n_page = 250;
    d->sample.walindex.n_backfill = 9;
    d->check.completed_once = true;
    d->check.last_kind = CHECK_INTEGRITY;
    d->check.last_result = CHECK_RESULT_OK;
    d->check.duration_s = 1.25;
    d->check.last_success_ms = NOW_MS - 60000;
    d->check.runs[CHECK_INTEGRITY][CHECK_RESULT_OK] = 3;
    d->check.runs[CHECK_INTEGRITY][CHECK_RESULT_BUSY] = 1;
    d->check.running = true;
    d->check.yields = 7;
    d->check.read_bytes = 1048576;
    d->check.snapshot_max_s = 0.375;
    d->check.units_done = 3;
    d->check.units_total = 5;
    d->check.last_whole_file_ms = NOW_MS - 3600000;
    d->sample.fs_known = true;
    d->sample.fs = fsclass_from_magic(0xEF53); /* ext4 */
    d->procs.scanned = true;
    d->procs.db.open_processes = 3;
    d->procs.db.open_descriptors = 4;
    d->procs.db.mmap_processes = 1;
    d->procs.db.nversions = 2;
    d->procs.db.versions[0] = (struct procscan_version_count){3040001, 1};
    d->procs.db.versions[1] = (struct procscan_version_count){3051003, 1};
    d->procs.db.unknown_version = 1;
    d->procs.db.oldest_version = 3040001;
    d->procs.wal.open_processes = 3;
    d->risk.wal_reset_race_exposed = true;
    d->risk.reason[RISK_WAL_RESET_RACE] = true;
    d->risk.reason[RISK_MMAP_MULTIPLE_WRITERS] = true;
    d->watch.watched = true;
    d->watch.counts.anomalies[WATCH_BACKFILL_PAST_END] = 2;
    d->watch.counts.anomalies[WATCH_UNSTABLE_HEADER] = 1;
    d->watch.counts.audits = 4306;
    d->watch.counts.audits_dropped = 7;
    d->watch.counts.pages_audited = 91234;
    d->watch.counts.frames_read = 1234567;
    d->watch.counts.lost_pages = 38;

    d = &dbs[1];
    d->name = "legacy";
    d->path = "/srv/data/legacy.db";
    d->kind = CHECK_QUICK;
    d->basic = true; /* metrics = basic: only the series the alerts and fleet dashboard read */
    d->check_interval_ms = 60000; /* its last completed check is older than 2 minutes: overdue */
    d->sample.taken_ms = NOW_MS - 1750;
    d->sample.status = SAMPLE_OK;
    d->sample.file_size = 65536;
    d->sample.db_result = FF_OK;
    d->sample.db.page_size = 1024;
    d->sample.db.write_version = 1;
    d->sample.db.read_version = 1;
    d->sample.db.change_counter = 912;
    d->sample.db.header_page_count = 60;
    d->sample.db.text_encoding = 1;
    d->sample.db.version_valid_for = 911;
    d->sample.db.sqlite_version = 3007017;
    d->sample.db.version_valid = false;
    d->check.completed_once = true;
    d->check.malformed = true;
    d->check.last_kind = CHECK_QUICK;
    d->check.last_result = CHECK_RESULT_MALFORMED;
    d->check.problems = 3;
    d->check.duration_s = 0.042;
    d->check.last_success_ms = NOW_MS - 300000;
    d->check.runs[CHECK_QUICK][CHECK_RESULT_OK] = 5;
    d->check.runs[CHECK_QUICK][CHECK_RESULT_MALFORMED] = 1;
    d->check.runs[CHECK_QUICK][CHECK_RESULT_TIMEOUT] = 2;
    d->check.runs[CHECK_INTEGRITY][CHECK_RESULT_OK] = 1;
    /* issue 13: kinds, the first problem (quote and backslash escaped), an evidence copy */
    d->check.kinds[PROBLEM_INDEX] = 2;
    d->check.kinds[PROBLEM_BTREE] = 1;
    d->check.first_problem = "row 7 missing from index \"v\\1\"";
    d->check.indexes = "v\\1\",legacy_n";
    d->evidence.copies[EVIDENCE_OK] = 1;
    d->evidence.copies[EVIDENCE_NO_SPACE] = 1;
    d->evidence.last_ok_ms = NOW_MS - 299000;
    d->evidence.path = "/var/lib/sqlite-agent/evidence/legacy-20261201T000000Z.db";

    d = &dbs[2];
    d->name = "gone";
    d->path = "/srv/data/gone.db";
    d->kind = CHECK_OFF;
    d->sample.taken_ms = NOW_MS - 2000;
    d->sample.status = SAMPLE_MISSING;
    d->sample.err = ENOENT;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)n + 1);
    if (!data)
        goto out;
    if (fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
        goto out;
    }
    data[n] = '\0';
    *len = (size_t)n;
out:
    fclose(f);
    return data;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc = 0;

    if (!f)
        return -1;
    if (fwrite(data, 1, len, f) != len)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* 1-based line number of the first difference. */
static size_t first_diff_line(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i, line = 1;

    for (i = 0; i < alen && i < blen && a[i] == b[i]; i++)
        if (a[i] == '\n')
            line++;
    return line;
}

Test(metrics, golden)
{
    const char *path = GOLDEN_DIR "/metrics.prom";
    struct snapshot snap;
    struct db_snapshot dbs[3];
    struct buf b;
    char *want;
    size_t want_len = 0;
    const char *update = getenv("UPDATE_GOLDEN");

    golden_snapshot(&snap, dbs);
    render(&snap, NOW_MS, &b);
    if (update && strcmp(update, "1") == 0) {
        cr_assert_eq(write_file(path, b.data, b.len), 0, "cannot write %s", path);
        buf_free(&b);
        cr_skip_test("UPDATE_GOLDEN=1: rewrote %s; review the diff", path);
    }
    want = read_file(path, &want_len);
    cr_assert_not_null(want, "cannot read %s (UPDATE_GOLDEN=1 creates it)", path);
    cr_expect(want_len == b.len && memcmp(want, b.data, b.len) == 0,
              "output differs from %s from line %zu (got %zu bytes, want %zu)", path,
              first_diff_line(b.data, b.len, want, want_len), b.len, want_len);
    free(want);
    buf_free(&b);
}

/* ---- Structure -------------------------------------------------------------------------- */

/* Every family has exactly one HELP then one TYPE, all its series follow contiguously, series
 * names are the family name, and counters (and only they) end in _total. */
#define FAMILIES_MAX 128 /* families one exposition may have, for this check */

static void check_structure(const char *text, const char *what)
{
    char seen[FAMILIES_MAX][96];
    size_t nseen = 0, i;
    char family[96] = "";
    bool typed = false;
    const char *p = text;

    cr_assert(*text && text[strlen(text) - 1] == '\n', "%s: output must end in a newline", what);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p);
        char line[1024], name[96], type[32];

        cr_assert(len < sizeof line, "%s: line too long", what);
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            cr_assert_eq(sscanf(line + 7, "%95s", name), 1);
            for (i = 0; i < nseen; i++)
                cr_assert_str_neq(seen[i], name, "%s: family %s appears twice", what, name);
            cr_assert_lt(nseen, FAMILIES_MAX);
            strcpy(seen[nseen++], name);
            strcpy(family, name);
            typed = false;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            cr_assert_eq(sscanf(line + 7, "%95s %31s", name, type), 2, "%s: %s", what, line);
            cr_assert_str_eq(name, family, "%s: TYPE without its HELP: %s", what, line);
            cr_assert(!typed, "%s: second TYPE for %s", what, name);
            typed = true;
            len = strlen(name);
            if (strcmp(type, "counter") == 0)
                cr_assert(len > 6 && strcmp(name + len - 6, "_total") == 0,
                          "%s: counter %s lacks _total", what, name);
            else
                cr_assert(len <= 6 || strcmp(name + len - 6, "_total") != 0,
                          "%s: %s %s ends in _total", what, type, name);
            continue;
        }
        cr_assert_neq(line[0], '#', "%s: stray comment: %s", what, line);
        cr_assert(typed, "%s: series before any TYPE: %s", what, line);
        len = strcspn(line, "{ ");
        cr_assert(len == strlen(family) && strncmp(line, family, len) == 0,
                  "%s: series %s outside its family (current %s)", what, line, family);
    }
}

/* All presence-case databases in one snapshot, each under its own name. */
static void all_states_snapshot(struct snapshot *snap, struct db_snapshot *dbs, char names[][16])
{
    size_t i, n = 0;

    for (i = 0; i < NPRESENCE; i++) {
        struct snapshot one;
        struct db_snapshot db;

        presence_snapshot(&presence_cases[i], &one, &db);
        if (one.ndbs == 0)
            continue;
        snprintf(names[n], 16, "case%zu", i);
        dbs[n] = db;
        dbs[n].name = names[n];
        n++;
    }
    memset(snap, 0, sizeof *snap);
    base_agent(&snap->agent);
    snap->ndbs = n;
    snap->dbs = dbs;
}

/* The snapshots every structural test runs over. */
enum shape { SHAPE_GOLDEN, SHAPE_ALL_STATES, SHAPE_EMPTY };

static const struct {
    const char *name;
    enum shape shape;
} shapes[] = {
    {"golden", SHAPE_GOLDEN},
    {"all states", SHAPE_ALL_STATES},
    {"no databases", SHAPE_EMPTY},
};

static void render_shape(enum shape shape, struct buf *out)
{
    static struct db_snapshot dbs[NPRESENCE];
    static char names[NPRESENCE][16];
    struct snapshot snap;

    switch (shape) {
    case SHAPE_GOLDEN:
        golden_snapshot(&snap, dbs);
        break;
    case SHAPE_ALL_STATES:
        all_states_snapshot(&snap, dbs, names);
        break;
    case SHAPE_EMPTY:
        memset(&snap, 0, sizeof snap);
        base_agent(&snap.agent);
        break;
    }
    render(&snap, NOW_MS, out);
}

Test(metrics, structure)
{
    size_t i;

    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct buf b;

        render_shape(shapes[i].shape, &b);
        check_structure(b.data, shapes[i].name);
        buf_free(&b);
    }
}

Test(metrics, promtool_lint)
{
    size_t i;

    if (access(PROMTOOL, X_OK) != 0)
        cr_skip_test(PROMTOOL " not installed");
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char tmp[] = "/tmp/test_metrics_XXXXXX";
        char cmd[128], msg[4096];
        size_t n = 0;
        struct buf b;
        FILE *p;
        int fd, status;

        render_shape(shapes[i].shape, &b);
        fd = mkstemp(tmp);
        cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
        cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
        close(fd);
        buf_free(&b);
        snprintf(cmd, sizeof cmd, PROMTOOL " check metrics < %s 2>&1", tmp);
        p = popen(cmd, "r");
        cr_assert_not_null(p, "popen: %s", strerror(errno));
        n = fread(msg, 1, sizeof msg - 1, p);
        msg[n] = '\0';
        status = pclose(p);
        unlink(tmp);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s: promtool exited with status %d: %s", shapes[i].name, status, msg);
        cr_expect_eq(n, 0, "%s: promtool said: %s", shapes[i].name, msg);
    }
}

/* ---- The cap ---------------------------------------------------------------------------- */

Test(metrics, cap)
{
    struct buf full;
    size_t i;

    render_shape(SHAPE_GOLDEN, &full);
    {
        /* Caps relative to the full output's length; only the exact length or more fits. */
        const struct {
            size_t max;
            int rc;
        } caps[] = {
            {0, -1},       {1, -1},           {100, -1}, {full.len / 2, -1}, {full.len - 1, -1},
            {full.len, 0}, {full.len + 1, 0},
        };

        for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
            struct snapshot snap;
            struct db_snapshot dbs[3];
            struct buf b;
            int rc;

            golden_snapshot(&snap, dbs);
            buf_init(&b, caps[i].max);
            rc = metrics_render(&snap, &test_bi, NOW_MS, &b);
            cr_expect_eq(rc, caps[i].rc, "max %zu: rc %d, want %d", caps[i].max, rc, caps[i].rc);
            cr_expect_eq(b.failed, rc != 0, "max %zu: failed flag", caps[i].max);
            cr_expect_leq(b.len, caps[i].max);
            if (rc == 0)
                cr_expect(b.len == full.len && memcmp(b.data, full.data, b.len) == 0,
                          "max %zu: output differs", caps[i].max);
            buf_free(&b);
        }
    }
    buf_free(&full);
}

Test(metrics, appends_and_fails_on_failed_buffer)
{
    struct snapshot snap;
    struct buf b;

    memset(&snap, 0, sizeof snap);
    base_agent(&snap.agent);
    buf_init(&b, RENDER_MAX);
    buf_puts(&b, "prefix\n");
    cr_assert_eq(metrics_render(&snap, &test_bi, NOW_MS, &b), 0);
    cr_expect(strncmp(b.data, "prefix\n# HELP ", 14) == 0, "render clobbered what was there");
    b.failed = true;
    cr_expect_eq(metrics_render(&snap, &test_bi, NOW_MS, &b), -1);
    buf_free(&b);
}
