/* Unit tests for the small pure helpers: Accept-Encoding, logfmt, state transitions. */
#include <criterion/criterion.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "state.h"

struct gzip_case {
    const char *header;
    bool gzip;
};

Test(http, accepts_gzip)
{
    static const struct gzip_case cases[] = {
        {NULL, false},
        {"", false},
        {"gzip", true},
        {"GZIP", true},
        {"deflate, gzip", true},
        {"gzip;q=0", false},
        {"gzip; q=0.0", false},
        {"gzip;q=0.5", true},
        {"br, gzip;q=1.0, deflate", true},
        {"*", true},
        {"*;q=0", false},
        {"identity", false},
        {"x-gzip", false},
        {"gzipped", false},
        {"deflate;q=0.5,gzip;q=0", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(http_accepts_gzip(cases[i].header), cases[i].gzip, "case %zu: %s", i,
                     cases[i].header ? cases[i].header : "(null)");
}

struct log_case {
    const char *value;
    const char *expected;
};

Test(log, format_quotes_when_needed)
{
    static const struct log_case cases[] = {
        {"plain", "level=info msg=m k=plain"},
        {"", "level=info msg=m k=\"\""},
        {"a b", "level=info msg=m k=\"a b\""},
        {"a=b", "level=info msg=m k=\"a=b\""},
        {"q\"uote", "level=info msg=m k=\"q\\\"uote\""},
        {"back\\slash", "level=info msg=m k=\"back\\\\slash\""},
        {"new\nline", "level=info msg=m k=\"new\\nline\""},
        {"bell\a", "level=info msg=m k=\"bell\\x07\""},
        {"/srv/ünïcode.db", "level=info msg=m k=/srv/ünïcode.db"},
    };
    char line[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_format(line, sizeof(line), LOG_INFO, "m", "k", cases[i].value, NULL);
        cr_expect_str_eq(line, cases[i].expected, "case %zu", i);
    }
}

Test(log, format_truncates_without_overflow)
{
    char line[16];
    log_format(line, sizeof(line), LOG_ERROR, "a long message that does not fit", NULL);
    cr_expect_eq(strlen(line), sizeof(line) - 1);
}

Test(log, parse_level)
{
    enum log_level l;
    cr_expect_eq(log_parse_level("warn", &l), 0);
    cr_expect_eq(l, LOG_WARN);
    cr_expect_eq(log_parse_level("verbose", &l), -1);
}

static struct config one_db_config(const char *name, const char *path)
{
    static struct db_config db;
    struct config c = {0};
    db.name = (char *)name;
    db.path = (char *)path;
    db.check = CHECK_QUICK;
    c.ndbs = 1;
    c.dbs = &db;
    return c;
}

struct outcome_case {
    enum check_result result;
    uint32_t problems;
    bool malformed_after;
    bool completed_after;
};

/* A check that could not run never changes the verdict; a completed one always sets it. */
Test(state, outcomes_in_sequence)
{
    static const struct outcome_case seq[] = {
        {CHECK_RESULT_BUSY, 0, false, false},    {CHECK_RESULT_OK, 0, false, true},
        {CHECK_RESULT_MALFORMED, 3, true, true}, {CHECK_RESULT_TIMEOUT, 0, true, true},
        {CHECK_RESULT_ERROR, 0, true, true},     {CHECK_RESULT_OK, 0, false, true},
    };
    struct state *s = state_new(1000);
    struct config c = one_db_config("a", "/x");
    cr_assert_eq(state_configure(s, &c), 0);
    bool was_malformed = false;
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        struct check_outcome o = {.kind = CHECK_QUICK,
                                  .result = seq[i].result,
                                  .problems = seq[i].problems,
                                  .duration_s = 0.5,
                                  .finished_ms = (int64_t)(2000 + i)};
        state_check_begin(s, 0);
        cr_expect_eq(state_check_end(s, 0, &o), was_malformed, "step %zu", i);
        struct snapshot *snap = state_snapshot(s, 5000);
        const struct check_state *cs = &snap->dbs[0].check;
        cr_expect_eq(cs->malformed, seq[i].malformed_after, "step %zu", i);
        cr_expect_eq(cs->completed_once, seq[i].completed_after, "step %zu", i);
        cr_expect_eq(cs->runs[CHECK_QUICK][seq[i].result] >= 1, true);
        cr_expect_eq(cs->running, false);
        was_malformed = cs->malformed;
        snapshot_free(snap);
    }
    struct snapshot *snap = state_snapshot(s, 5000);
    cr_expect_eq(snap->dbs[0].check.runs[CHECK_QUICK][CHECK_RESULT_OK], 2);
    cr_expect_eq(snap->dbs[0].check.last_success_ms, 2005);
    snapshot_free(snap);
    state_free(s);
}

/* A reload keeps the history of a database whose name and path stay, and drops the rest. */
Test(state, configure_carries_history)
{
    struct state *s = state_new(0);
    struct config c = one_db_config("a", "/x");
    struct check_outcome o = {.kind = CHECK_QUICK,
                              .result = CHECK_RESULT_MALFORMED,
                              .problems = 1,
                              .duration_s = 0.1,
                              .finished_ms = 7};
    cr_assert_eq(state_configure(s, &c), 0);
    state_check_end(s, 0, &o);

    struct config same = one_db_config("a", "/x");
    cr_assert_eq(state_configure(s, &same), 0);
    struct snapshot *snap = state_snapshot(s, 0);
    cr_expect_eq(snap->dbs[0].check.malformed, true);
    cr_expect_str_eq(snap->dbs[0].path, "/x");
    snapshot_free(snap);

    struct config moved = one_db_config("a", "/y");
    cr_assert_eq(state_configure(s, &moved), 0);
    snap = state_snapshot(s, 0);
    cr_expect_eq(snap->ndbs, 1);
    cr_expect_eq(snap->dbs[0].check.malformed, false);
    cr_expect_str_eq(snap->dbs[0].path, "/y");
    snapshot_free(snap);
    state_free(s);
}

/* Turning a database's check off clears its verdict: nothing would ever clear it otherwise. */
Test(state, check_off_clears_the_verdict)
{
    struct state *s = state_new(0);
    struct config c = one_db_config("a", "/x");
    struct check_outcome o = {.kind = CHECK_QUICK, .result = CHECK_RESULT_MALFORMED};
    cr_assert_eq(state_configure(s, &c), 0);
    state_check_end(s, 0, &o);
    c.dbs[0].check = CHECK_OFF;
    cr_assert_eq(state_configure(s, &c), 0);
    struct snapshot *snap = state_snapshot(s, 0);
    cr_expect_eq(snap->dbs[0].check.malformed, false);
    snapshot_free(snap);
    state_free(s);
}
