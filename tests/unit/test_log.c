/* Unit tests for the log's rate limit per cause, its JSON lines and the UTF-8 rules they use. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "loglimit.h"
#include "utf8.h"

Test(utf8, seq_len)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t n; /* bytes handed over */
        size_t want;
    } cases[] = {
        {"ASCII", "a", 1, 1},
        {"NUL", "", 1, 1},
        {"nothing", "", 0, 0},
        {"two bytes, e acute", "\xC3\xA9", 2, 2},
        {"two bytes cut", "\xC3", 1, 0},
        {"overlong two bytes C0", "\xC0\xAF", 2, 0},
        {"overlong two bytes C1", "\xC1\xBF", 2, 0},
        {"stray continuation", "\x80", 1, 0},
        {"Latin-1 byte alone", "\xE9t\xE9", 3, 0},
        {"three bytes, euro", "\xE2\x82\xAC", 3, 3},
        {"three bytes, second not continuation", "\xE2\x28\xA1", 3, 0},
        {"three bytes, third not continuation", "\xE2\x82\x28", 3, 0},
        {"overlong three bytes E0 80", "\xE0\x80\xAF", 3, 0},
        {"E0 A0: lowest three-byte", "\xE0\xA0\x80", 3, 3},
        {"surrogate ED A0", "\xED\xA0\x80", 3, 0},
        {"ED 9F: last before surrogates", "\xED\x9F\xBF", 3, 3},
        {"U+FFFD itself", UTF8_REPLACEMENT, 3, 3},
        {"four bytes, U+1F600", "\xF0\x9F\x98\x80", 4, 4},
        {"four bytes cut", "\xF0\x9F\x98", 3, 0},
        {"overlong four bytes F0 80", "\xF0\x80\x80\x80", 4, 0},
        {"U+10FFFF", "\xF4\x8F\xBF\xBF", 4, 4},
        {"past U+10FFFF", "\xF4\x90\x80\x80", 4, 0},
        {"F5", "\xF5\x80\x80\x80", 4, 0},
        {"FF", "\xFF", 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(utf8_seq_len((const unsigned char *)cases[i].bytes, cases[i].n), cases[i].want,
                     "%s", cases[i].what);
}

/* One step of a rate limit script: at time t, a line of cause key; expect admit's answer and,
 * from the collect before it, a report of want_dropped lines (0: none). */
struct limit_step {
    int64_t t;
    uint64_t key;
    bool want_admit;
    unsigned long want_dropped;
};

static void run_script(const char *what, const struct limit_step *steps, size_t n)
{
    static struct loglimit l; /* big: not on the stack */
    struct loglimit_report rep[4];

    memset(&l, 0, sizeof(l));
    for (size_t i = 0; i < n; i++) {
        unsigned got = loglimit_collect(&l, steps[i].t, rep, 4);
        unsigned long dropped = got > 0 ? rep[0].dropped : 0;
        cr_expect_eq(dropped, steps[i].want_dropped, "%s, step %zu: dropped %lu", what, i, dropped);
        bool ok = loglimit_admit(&l, steps[i].key, "cause", steps[i].t);
        cr_expect_eq(ok, steps[i].want_admit, "%s, step %zu", what, i);
    }
}

Test(loglimit, burst_then_drop_then_report)
{
    const int64_t W = LOGLIMIT_WINDOW_S;
    /* LOGLIMIT_BURST is 5: the sixth line of a cause in a window is dropped. */
    static const struct limit_step one_cause[] = {
        {0, 1, true, 0},  {0, 1, true, 0},  {1, 1, true, 0},   {1, 1, true, 0}, {2, 1, true, 0},
        {2, 1, false, 0}, {3, 1, false, 0}, {59, 1, false, 0}, {W, 1, true, 3}, {W, 1, true, 0},
    };
    run_script("one cause", one_cause, sizeof(one_cause) / sizeof(one_cause[0]));

    /* Another cause is not held back by the first, and a drop is reported with the next line of
     * any cause once its window is over. */
    static const struct limit_step two_causes[] = {
        {0, 1, true, 0}, {0, 1, true, 0},  {0, 1, true, 0},     {0, 1, true, 0},
        {0, 1, true, 0}, {0, 1, false, 0}, {0, 2, true, 0},     {10, 2, true, 0},
        {W, 2, true, 1}, {W, 2, true, 0},  {W + 1, 1, true, 0},
    };
    run_script("two causes", two_causes, sizeof(two_causes) / sizeof(two_causes[0]));

    /* A quiet cause starts a fresh window: no report, the burst again. */
    static const struct limit_step quiet[] = {
        {0, 7, true, 0},   {100, 7, true, 0}, {100, 7, true, 0},  {100, 7, true, 0},
        {100, 7, true, 0}, {100, 7, true, 0}, {100, 7, false, 0}, {200, 7, true, 1},
    };
    run_script("quiet cause", quiet, sizeof(quiet) / sizeof(quiet[0]));
}

Test(loglimit, many_causes_share_the_overflow_slot)
{
    static struct loglimit l;
    unsigned admitted = 0;

    memset(&l, 0, sizeof(l));
    /* 1,000 distinct causes, 10 lines each, in one window: the tracked ones get their burst,
     * all the others together get one burst. */
    for (uint64_t k = 1; k <= 1000; k++)
        for (int j = 0; j < 10; j++)
            admitted += loglimit_admit(&l, k, "c", 0);
    cr_expect_eq(admitted, (LOGLIMIT_CAUSES + 1) * LOGLIMIT_BURST, "admitted %u", admitted);
    struct loglimit_report rep[LOGLIMIT_CAUSES + 1];
    unsigned n = loglimit_collect(&l, LOGLIMIT_WINDOW_S, rep, LOGLIMIT_CAUSES + 1);
    unsigned long dropped = 0;
    for (unsigned i = 0; i < n; i++)
        dropped += rep[i].dropped;
    cr_expect_eq(n, LOGLIMIT_CAUSES + 1);
    cr_expect_eq(dropped, 10000 - admitted);
    cr_expect_str_eq(rep[LOGLIMIT_CAUSES].name, "(other causes)");
}

Test(log, json_lines)
{
    static const struct {
        const char *what;
        const char *msg, *value;
        const char *want;
    } cases[] = {
        {"plain", "check ok", "orders",
         "{\"level\":\"info\",\"msg\":\"check ok\",\"db\":\"orders\"}"},
        {"quote, backslash, newline", "m", "a\"b\\c\nd",
         "{\"level\":\"info\",\"msg\":\"m\",\"db\":\"a\\\"b\\\\c\\u000ad\"}"},
        {"valid UTF-8 kept", "m", "caf\xC3\xA9",
         "{\"level\":\"info\",\"msg\":\"m\",\"db\":\"caf\xC3\xA9\"}"},
        {"Latin-1 byte replaced", "m", "caf\xE9",
         "{\"level\":\"info\",\"msg\":\"m\",\"db\":\"caf" UTF8_REPLACEMENT "\"}"},
        {"cut sequence replaced", "m\xE2\x82", "x",
         "{\"level\":\"info\",\"msg\":\"m" UTF8_REPLACEMENT UTF8_REPLACEMENT "\",\"db\":\"x\"}"},
        {"NULL value", "m", NULL, "{\"level\":\"info\",\"msg\":\"m\",\"db\":\"\"}"},
    };
    char line[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_format_json(line, sizeof(line), LOG_INFO, cases[i].msg, "db", cases[i].value, NULL);
        cr_expect_str_eq(line, cases[i].want, "%s", cases[i].what);
    }
}

Test(log, json_cut_line_is_still_an_object)
{
    char line[64], big[300];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (size_t len = 40; len <= sizeof(line); len++) {
        memset(line, '#', sizeof(line));
        log_format_json(line, len, LOG_WARN, "m", "detail", big, "k", "v", NULL);
        size_t n = strlen(line);
        cr_assert_lt(n, len, "len %zu", len);
        cr_expect_eq(line[0], '{', "len %zu: %s", len, line);
        cr_expect_eq(line[n - 1], '}', "len %zu: %s", len, line);
        cr_expect_eq(line[n - 2], '"', "len %zu: %s", len, line);
    }
}
