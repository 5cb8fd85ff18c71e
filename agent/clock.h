/* clock.h: the two clocks. Monotonic for intervals and deadlines, realtime for timestamps. */
#ifndef SQLITE_AGENT_CLOCK_H
#define SQLITE_AGENT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}
static inline int64_t clock_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

static inline double clock_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a condition
 * variable created with pthread_condattr_setclock(CLOCK_MONOTONIC). */
static inline struct timespec clock_mono_after(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

#endif
