/* Unit tests for the HTTP deadline sweeper's verdict (agent/http.c: 10 s per request, 1 s for
 * an unanswered one while every slot is taken, 0.2 s of grace after a hang-up). */
#include <criterion/criterion.h>

#include "http.h"

Test(http, conn_judge)
{
    static const struct {
        const char *what;
        double age;
        bool answering, all_taken, hung_up;
        enum http_conn_verdict want;
    } cases[] = {
        {"new, reading its request", 0.0, false, false, false, HTTP_CONN_KEEP},
        {"slow, within the deadline", 9.9, false, false, false, HTTP_CONN_KEEP},
        {"slow, at the deadline", 10.0, false, false, false, HTTP_CONN_DEADLINE},
        {"slow reader of its answer, within", 9.9, true, false, false, HTTP_CONN_KEEP},
        {"slow reader of its answer, past", 12.0, true, false, false, HTTP_CONN_DEADLINE},
        {"every slot taken, 0.5 s", 0.5, false, true, false, HTTP_CONN_KEEP},
        {"every slot taken, 1 s, unanswered", 1.0, false, true, false, HTTP_CONN_DEADLINE},
        {"every slot taken, 5 s, being answered", 5.0, true, true, false, HTTP_CONN_KEEP},
        {"every slot taken, 10 s, being answered", 10.0, true, true, false, HTTP_CONN_DEADLINE},
        {"hung up at once: grace", 0.1, false, false, true, HTTP_CONN_KEEP},
        {"hung up mid-request", 0.2, false, false, true, HTTP_CONN_HANGUP},
        {"half-closed after a whole request", 3.0, true, false, true, HTTP_CONN_KEEP},
        {"hung up and past the deadline", 11.0, false, false, true, HTTP_CONN_DEADLINE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(
            http_conn_judge(cases[i].age, cases[i].answering, cases[i].all_taken, cases[i].hung_up),
            cases[i].want, "%s", cases[i].what);
}
