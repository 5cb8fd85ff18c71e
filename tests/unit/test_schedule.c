/*
 * test_schedule.c: the check schedule's pure part (schedule.h): slots on a stable phase, the next
 * due time after a run or a restart, overdue, and that a fleet's phases spread over the interval.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "schedule.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN 60000

Test(schedule, slot_after)
{
    static const struct {
        int64_t t, interval, phase, want;
    } cases[] = {
        {0, 5 * MIN, 2 * MIN, 2 * MIN},
        {2 * MIN, 5 * MIN, 2 * MIN, 2 * MIN}, /* on the slot */
        {2 * MIN + 1, 5 * MIN, 2 * MIN, 7 * MIN},
        {1795780800000, 5 * MIN, 0, 1795780800000},
        {1795780800001, 5 * MIN, 0, 1795780800000 + 5 * MIN},
        {7, 0, 3, 7}, /* no interval: no slot */
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(schedule_slot_after(cases[i].t, cases[i].interval, cases[i].phase),
                     cases[i].want, "case %zu", i);
}

Test(schedule, next)
{
    static const struct {
        const char *name;
        int64_t now, last, interval, phase, want;
    } cases[] = {
        {"never run: at once", 10 * MIN, 0, 5 * MIN, 2 * MIN, 10 * MIN},
        {"after a run: the slot half an interval on", 10 * MIN, 10 * MIN, 5 * MIN, 2 * MIN,
         17 * MIN},
        {"on the phase: one interval", 12 * MIN, 12 * MIN, 5 * MIN, 2 * MIN, 17 * MIN},
        {"restart, checked a minute ago: its slot, not now", 13 * MIN, 12 * MIN, 5 * MIN, 2 * MIN,
         17 * MIN},
        {"restart, checked long ago: now", 60 * MIN, 12 * MIN, 5 * MIN, 2 * MIN, 60 * MIN},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(
            schedule_next_ms(cases[i].now, cases[i].last, cases[i].interval, cases[i].phase),
            cases[i].want, "%s", cases[i].name);
}

Test(schedule, overdue)
{
    static const struct {
        int64_t now, since, interval;
        int want;
    } cases[] = {
        {10 * MIN, 1 * MIN, 5 * MIN, 0},
        {11 * MIN, 1 * MIN, 5 * MIN, 0},
        {11 * MIN + 1, 1 * MIN, 5 * MIN, 1},
        {11 * MIN, 0, 5 * MIN, 0}, /* no time known */
        {11 * MIN, 1, 0, 0},       /* no interval */
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(schedule_overdue(cases[i].now, cases[i].since, cases[i].interval),
                     cases[i].want, "case %zu", i);
}

/* 10,000 databases named as a glob names them: every tenth of the interval gets 8-12% of them,
 * and each phase is stable and inside the interval. */
Test(schedule, fleet_spreads)
{
    static const int64_t intervals[] = {5 * MIN, 10 * MIN, 3600000, 1000};
    enum { N = 10000, BUCKETS = 10 };

    for (size_t k = 0; k < ARRAY_LEN(intervals); k++) {
        int count[BUCKETS] = {0};
        for (int i = 0; i < N; i++) {
            char name[64];
            snprintf(name, sizeof(name), "tenants/t%03d/db%05d.sqlite3", i % 100, i);
            int64_t p = schedule_phase_ms(name, intervals[k]);
            cr_assert(p >= 0 && p < intervals[k]);
            cr_assert_eq(p, schedule_phase_ms(name, intervals[k]));
            count[p * BUCKETS / intervals[k]]++;
        }
        for (int b = 0; b < BUCKETS; b++)
            cr_expect(count[b] >= N / BUCKETS * 8 / 10 && count[b] <= N / BUCKETS * 12 / 10,
                      "interval %lld: bucket %d has %d", (long long)intervals[k], b, count[b]);
    }
}
