/* test_ratelimit.c: the read budget's token bucket, one table of (time, bytes) -> wait. */
#include "ratelimit.h"

#include <criterion/criterion.h>

struct step {
    int64_t now_us;
    size_t n;
    int64_t wait_min_us, wait_max_us;
};

struct rcase {
    const char *name;
    int64_t rate;
    struct step steps[6];
    size_t nsteps;
};

static const struct rcase cases[] = {
    {"unlimited never waits", 0, {{0, 1u << 30, 0, 0}, {1, 1u << 30, 0, 0}}, 2},
    /* 1 MB/s: the 100 ms burst is 100,000 bytes. */
    {"within the burst", 1000000, {{0, 4096, 0, 0}, {0, 95000, 0, 0}}, 2},
    {"past the burst waits for the excess",
     1000000,
     {{0, 100000, 0, 0}, {0, 50000, 50000, 50001}},
     2},
    {"the wait is paid back by time",
     1000000,
     {{0, 150000, 50000, 50001}, {50000, 4096, 4096, 4097}, {1000000, 4096, 0, 0}},
     3},
    {"a long pause refills only the burst",
     1000000,
     {{0, 100000, 0, 0}, {10000000, 100000, 0, 0}, {10000000, 100000, 100000, 100001}},
     3},
    {"a clock going back refills nothing",
     1000000,
     {{1000, 100000, 0, 0}, {0, 1000, 1000, 1001}},
     2},
};

Test(ratelimit, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        struct ratelimit rl;
        ratelimit_init(&rl, c->rate, c->steps[0].now_us);
        for (size_t s = 0; s < c->nsteps; s++) {
            const struct step *st = &c->steps[s];
            int64_t w = ratelimit_take(&rl, st->n, st->now_us);
            cr_expect(w >= st->wait_min_us && w <= st->wait_max_us, "%s, step %zu: wait %lld",
                      c->name, s, (long long)w);
        }
    }
}
