/*
 * ratelimit.h: the read-rate budget of a check (check_max_read_rate), as a token bucket.
 *
 * Pure: the caller supplies the time and does the sleeping (dbopen.c's xRead, in slices that
 * notice the end of the run). A burst of at most RATELIMIT_BURST_MS worth of bytes is allowed
 * after a pause, so a check that waited for a checkpointer does not then read flat out.
 */
#ifndef SQLITE_AGENT_RATELIMIT_H
#define SQLITE_AGENT_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_BURST_MS 100

struct ratelimit {
    int64_t rate;    /* bytes per second; 0 = unlimited */
    double tokens;   /* bytes that may be read now; negative: owed */
    int64_t last_us; /* monotonic, of the last refill */
};

void ratelimit_init(struct ratelimit *rl, int64_t rate, int64_t now_us);

/* Takes n bytes from the budget at now_us. Returns the microseconds the caller should wait
 * before reading them (0: read now). */
int64_t ratelimit_take(struct ratelimit *rl, size_t n, int64_t now_us);

#endif
