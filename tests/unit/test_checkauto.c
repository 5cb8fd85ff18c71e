/* test_checkauto.c: the check = auto verdict, one table. */
#include "checkauto.h"

#include <criterion/criterion.h>

#define N CHECKAUTO_INTEGRITY_EVERY

Test(checkauto, table)
{
    static const struct {
        enum check_kind configured;
        bool exposed;
        uint64_t runs;
        bool signal;
        enum check_kind want;
    } cases[] = {
        {CHECK_OFF, false, 0, false, CHECK_OFF},
        {CHECK_OFF, true, N - 1, true, CHECK_OFF},
        {CHECK_QUICK, false, 0, false, CHECK_QUICK},
        {CHECK_QUICK, true, N - 1, false, CHECK_QUICK},
        {CHECK_QUICK, false, 3, true, CHECK_INTEGRITY},
        {CHECK_INTEGRITY, false, 0, false, CHECK_INTEGRITY},
        {CHECK_INTEGRITY, true, 5, true, CHECK_INTEGRITY},
        {CHECK_AUTO, false, 0, false, CHECK_QUICK},
        {CHECK_AUTO, false, 1, false, CHECK_QUICK},
        {CHECK_AUTO, false, N - 2, false, CHECK_QUICK},
        {CHECK_AUTO, false, N - 1, false, CHECK_INTEGRITY},
        {CHECK_AUTO, false, N, false, CHECK_QUICK},
        {CHECK_AUTO, false, 2 * N - 1, false, CHECK_INTEGRITY},
        {CHECK_AUTO, true, 0, false, CHECK_INTEGRITY},
        {CHECK_AUTO, true, N, false, CHECK_INTEGRITY},
        {CHECK_AUTO, false, 0, true, CHECK_INTEGRITY},
        {CHECK_AUTO, false, UINT64_MAX, false, CHECK_QUICK}, /* 2^64-1 = 3 mod 12: no wrap */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(
            checkauto_kind(cases[i].configured, cases[i].exposed, cases[i].runs, cases[i].signal),
            cases[i].want, "case %zu", i);
}
