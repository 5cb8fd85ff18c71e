/* ratelimit.c: see ratelimit.h. */
#include "ratelimit.h"

void ratelimit_init(struct ratelimit *rl, int64_t rate, int64_t now_us)
{
    rl->rate = rate > 0 ? rate : 0;
    rl->tokens = (double)rl->rate * RATELIMIT_BURST_MS / 1000.0;
    rl->last_us = now_us;
}

int64_t ratelimit_take(struct ratelimit *rl, size_t n, int64_t now_us)
{
    double burst = (double)rl->rate * RATELIMIT_BURST_MS / 1000.0;

    if (rl->rate == 0)
        return 0;
    if (now_us > rl->last_us) {
        rl->tokens += (double)rl->rate * (double)(now_us - rl->last_us) / 1e6;
        if (rl->tokens > burst)
            rl->tokens = burst;
        rl->last_us = now_us;
    }
    rl->tokens -= (double)n;
    if (rl->tokens >= 0)
        return 0;
    return (int64_t)(-rl->tokens * 1e6 / (double)rl->rate) + 1;
}
