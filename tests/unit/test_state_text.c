/*
 * Unit tests for the state's optional text (a malformed run's first problem, indexes and rows,
 * the last evidence copy's path), kept as heap strings outside the fixed per-database record,
 * and for the narrow reads that spare the watchdog and the evidence thread a whole snapshot.
 * Run under ASan (scripts/test.sh) they also show who owns each string.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum step_kind { STEP_CHECK, STEP_EVIDENCE, STEP_RELOAD };

struct text_step {
    enum step_kind kind;
    int result;        /* enum check_result or enum evidence_result */
    const char *arg;   /* the outcome's detail, the copy's path, or the reloaded path */
    bool check_off;    /* STEP_RELOAD: check = off */
    const char *first; /* then: check.first_problem, NULL for unset */
    const char *indexes;
    const char *rows;
    const char *copy; /* evidence.path */
};

#define ROWS1 "row 1 missing from index t_v; wrong # of entries in index t_v"
#define ROWS2 "Page 3: btreeInitPage() returns error code 11"
#define ROWS3 "row 9 missing from index u_k"

static const struct text_step steps[] = {
    {STEP_CHECK, CHECK_RESULT_MALFORMED, ROWS1, false, "row 1 missing from index t_v", "t_v", ROWS1,
     NULL},
    {STEP_EVIDENCE, EVIDENCE_OK, "/ev/a-1.db", false, "row 1 missing from index t_v", "t_v", ROWS1,
     "/ev/a-1.db"},
    /* a run that could not run leaves the verdict and its text */
    {STEP_CHECK, CHECK_RESULT_BUSY, "step=begin sqlite_code=5", false,
     "row 1 missing from index t_v", "t_v", ROWS1, "/ev/a-1.db"},
    /* a reload with the same name and path carries the text over */
    {STEP_RELOAD, 0, "/x", false, "row 1 missing from index t_v", "t_v", ROWS1, "/ev/a-1.db"},
    /* a new malformed run replaces it; no index rows: no indexes */
    {STEP_CHECK, CHECK_RESULT_MALFORMED, ROWS2, false, ROWS2, NULL, ROWS2, "/ev/a-1.db"},
    /* a failed copy keeps the last good one's path */
    {STEP_EVIDENCE, EVIDENCE_ERROR, NULL, false, ROWS2, NULL, ROWS2, "/ev/a-1.db"},
    {STEP_EVIDENCE, EVIDENCE_OK, "/ev/a-2.db", false, ROWS2, NULL, ROWS2, "/ev/a-2.db"},
    /* healthy again: the text goes, the last copy stays */
    {STEP_CHECK, CHECK_RESULT_OK, "", false, NULL, NULL, NULL, "/ev/a-2.db"},
    {STEP_CHECK, CHECK_RESULT_MALFORMED, ROWS3, false, ROWS3, "u_k", ROWS3, "/ev/a-2.db"},
    /* checks turned off drop the verdict and its text, not the copy */
    {STEP_RELOAD, 0, "/x", true, NULL, NULL, NULL, "/ev/a-2.db"},
    {STEP_RELOAD, 0, "/x", false, NULL, NULL, NULL, "/ev/a-2.db"},
    {STEP_CHECK, CHECK_RESULT_MALFORMED, ROWS3, false, ROWS3, "u_k", ROWS3, "/ev/a-2.db"},
    /* another path is another database: nothing carries over */
    {STEP_RELOAD, 0, "/y", false, NULL, NULL, NULL, NULL},
};

static struct db_config db_of(const char *name, const char *path, bool off)
{
    struct db_config db = {0};
    db.name = (char *)name;
    db.path = (char *)path;
    db.check = off ? CHECK_OFF : CHECK_QUICK;
    return db;
}

static int configure(struct state *s, struct db_config *dbs, size_t n)
{
    struct config c = {0};
    c.ndbs = n;
    c.dbs = dbs;
    return state_configure(s, &c);
}

static void apply_step(struct state *s, const struct text_step *st, const char **path)
{
    if (st->kind == STEP_CHECK) {
        struct check_outcome o = {.kind = CHECK_QUICK, .result = (enum check_result)st->result};
        snprintf(o.detail, sizeof(o.detail), "%s", st->arg);
        state_check_end(s, 0, &o);
    } else if (st->kind == STEP_EVIDENCE) {
        state_evidence_done(s, 0, 1, (enum evidence_result)st->result, st->arg, 1000);
    } else {
        struct db_config db = db_of("a", st->arg, st->check_off);
        *path = st->arg;
        cr_assert_eq(configure(s, &db, 1), 0);
    }
}

static void expect_text(const char *got, const char *want, size_t step, const char *what)
{
    if (want == NULL)
        cr_expect_null(got, "step %zu: %s set to %s", step, what, got);
    else
        cr_expect(got != NULL && strcmp(got, want) == 0, "step %zu: %s is %s, not %s", step, what,
                  got ? got : "(null)", want);
}

Test(state_text, set_replaced_carried_and_dropped)
{
    struct state *s = state_new(0);
    struct db_config db = db_of("a", "/x", false);
    const char *path = "/x";

    cr_assert_eq(configure(s, &db, 1), 0);
    for (size_t i = 0; i < NELEM(steps); i++) {
        apply_step(s, &steps[i], &path);
        struct snapshot *snap = state_snapshot(s, 0);
        struct snapshot *one = state_snapshot_range(s, 0, 1, 0);
        cr_assert_not_null(snap);
        cr_assert_not_null(one);
        for (int k = 0; k < 2; k++) {
            const struct db_snapshot *d = k == 0 ? &snap->dbs[0] : &one->dbs[0];
            cr_expect_str_eq(d->path, path, "step %zu", i);
            expect_text(d->check.first_problem, steps[i].first, i, "first_problem");
            expect_text(d->check.indexes, steps[i].indexes, i, "indexes");
            expect_text(d->check.problem_rows, steps[i].rows, i, "problem_rows");
            expect_text(d->evidence.path, steps[i].copy, i, "evidence.path");
        }
        snapshot_free(one);
        snapshot_free(snap);
    }
    state_free(s);
}

/* A snapshot owns its copies: they outlive the state's next change and the state itself. */
Test(state_text, snapshot_owns_its_text)
{
    struct state *s = state_new(0);
    struct db_config db = db_of("a", "/x", false);
    struct check_outcome bad = {.kind = CHECK_QUICK, .result = CHECK_RESULT_MALFORMED};
    struct check_outcome good = {.kind = CHECK_QUICK, .result = CHECK_RESULT_OK};

    snprintf(bad.detail, sizeof(bad.detail), "%s", ROWS1);
    cr_assert_eq(configure(s, &db, 1), 0);
    state_check_end(s, 0, &bad);
    state_evidence_done(s, 0, 1, EVIDENCE_OK, "/ev/a-1.db", 1000);
    struct snapshot *snap = state_snapshot(s, 0);
    state_check_end(s, 0, &good);
    state_evidence_done(s, 0, 2, EVIDENCE_OK, "/ev/a-2.db", 2000);
    state_free(s);
    cr_expect_str_eq(state_text(snap->dbs[0].check.problem_rows), ROWS1);
    cr_expect_str_eq(state_text(snap->dbs[0].check.indexes), "t_v");
    cr_expect_str_eq(state_text(snap->dbs[0].evidence.path), "/ev/a-1.db");
    snapshot_free(snap);
}

/* A path past the cap is cut to it, as the fixed buffer did; it is display only. */
Test(state_text, evidence_path_capped)
{
    struct state *s = state_new(0);
    struct db_config db = db_of("a", "/x", false);
    char *longpath = malloc(EVIDENCE_PATH_MAX + 100);

    cr_assert_not_null(longpath);
    memset(longpath, 'p', EVIDENCE_PATH_MAX + 99);
    longpath[EVIDENCE_PATH_MAX + 99] = '\0';
    cr_assert_eq(configure(s, &db, 1), 0);
    state_evidence_done(s, 0, 1, EVIDENCE_OK, longpath, 1000);
    struct snapshot *snap = state_snapshot(s, 0);
    cr_assert_not_null(snap->dbs[0].evidence.path);
    cr_expect_eq(strlen(snap->dbs[0].evidence.path), EVIDENCE_PATH_MAX - 1);
    cr_expect_eq(snap->dbs[0].evidence.last_ok_ms, 1000);
    snapshot_free(snap);
    free(longpath);
    state_free(s);
}

struct due_case {
    bool malformed[4]; /* a malformed run of each database */
    bool copied[4];    /* then an evidence attempt for that episode */
    size_t from;
    bool found;
    size_t idx;
};

Test(state_text, evidence_next_due)
{
    static const struct due_case cases[] = {
        {{false, false, false, false}, {false}, 0, false, 0},
        {{false, true, false, true}, {false}, 0, true, 1},
        {{false, true, false, true}, {false}, 2, true, 3},
        {{false, true, false, true}, {false, true, false, false}, 0, true, 3},
        {{false, true, false, true}, {false, true, false, true}, 0, false, 0},
        {{true, false, false, false}, {false}, 1, false, 0},
        {{true, false, false, false}, {false}, 9, false, 0},
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct state *s = state_new(0);
        struct db_config dbs[4] = {db_of("a", "/a", false), db_of("b", "/b", false),
                                   db_of("c", "/c", false), db_of("d", "/d", false)};
        cr_assert_eq(configure(s, dbs, 4), 0);
        for (size_t k = 0; k < 4; k++) {
            struct check_outcome o = {.kind = CHECK_QUICK,
                                      .result = cases[i].malformed[k] ? CHECK_RESULT_MALFORMED
                                                                      : CHECK_RESULT_OK};
            state_check_end(s, k, &o);
            if (cases[i].copied[k])
                state_evidence_done(s, k, 1, EVIDENCE_NO_SPACE, NULL, 1000);
        }
        size_t idx = 99;
        cr_expect_eq(state_evidence_next_due(s, cases[i].from, &idx), cases[i].found, "case %zu",
                     i);
        if (cases[i].found)
            cr_expect_eq(idx, cases[i].idx, "case %zu", i);
        state_free(s);
    }
}

struct range_case {
    size_t first, n;
    bool null;   /* no snapshot: first is past the list */
    size_t ndbs; /* else how many it holds */
};

/* A range's copy is those databases, cut at the end of the list, and nothing past it. */
Test(state_text, snapshot_of_a_range)
{
    static const struct range_case cases[] = {
        {0, 1, false, 1}, {1, 1, false, 1}, {2, 1, false, 1}, {0, 3, false, 3},
        {1, 5, false, 2}, {2, 0, false, 0}, {3, 1, true, 0},  {SIZE_MAX, 1, true, 0},
    };
    struct state *s = state_new(0);
    struct db_config dbs[3] = {db_of("a", "/a", false), db_of("b", "/b", true),
                               db_of("c", "/c", false)};

    cr_assert_eq(configure(s, dbs, 3), 0);
    state_put_sample(s, 2, &(struct sample){.taken_ms = 42, .status = SAMPLE_OK});
    struct snapshot *all = state_snapshot(s, 7);
    cr_expect_eq(all->first, 0);
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct snapshot *part = state_snapshot_range(s, cases[i].first, cases[i].n, 7);
        if (cases[i].null) {
            cr_expect_null(part, "case %zu", i);
            continue;
        }
        cr_assert_not_null(part, "case %zu", i);
        cr_expect_eq(part->ndbs, cases[i].ndbs, "case %zu", i);
        cr_expect_eq(part->first, cases[i].first, "case %zu", i);
        cr_expect_eq(part->taken_ms, 7);
        for (size_t k = 0; k < part->ndbs; k++) {
            const struct db_snapshot *want = &all->dbs[cases[i].first + k];
            cr_expect_str_eq(part->dbs[k].name, want->name, "case %zu", i);
            cr_expect_eq(part->dbs[k].kind, want->kind, "case %zu", i);
            cr_expect_eq(part->dbs[k].sample.taken_ms, want->sample.taken_ms, "case %zu", i);
        }
        snapshot_free(part);
    }
    snapshot_free(all);
    state_free(s);
}

Test(state_text, last_sample_pass_end)
{
    struct state *s = state_new(0);

    cr_expect_eq(state_last_sample_pass_end_ms(s), 0);
    state_sample_pass_done(s, 0.01);
    cr_expect_gt(state_last_sample_pass_end_ms(s), 0);
    state_free(s);
}

/* A run cut short by checker_stop records no verdict and is no longer running (on 95a66bf it
 * stayed "running" until the next reload). */
Test(state_text, abandoned_run_not_running)
{
    struct state *s = state_new(0);
    struct db_config db = db_of("a", "/x", false);

    cr_assert_eq(configure(s, &db, 1), 0);
    state_check_begin(s, 0);
    struct snapshot *snap = state_snapshot(s, 1);
    cr_expect(snap->dbs[0].check.running);
    snapshot_free(snap);
    state_check_abandoned(s, 0);
    snap = state_snapshot(s, 2);
    cr_expect(!snap->dbs[0].check.running);
    cr_expect(!snap->dbs[0].check.completed_once);
    cr_expect_eq(snap->dbs[0].check.last_result, CHECK_RESULT_OK);
    snapshot_free(snap);
    state_free(s);
}
