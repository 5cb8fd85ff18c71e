/* schedule.c: spreading checks over their interval; see schedule.h. */
#include "schedule.h"

int64_t schedule_phase_ms(const char *name, int64_t interval_ms)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a, 64 bits */

    if (interval_ms <= 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (int64_t)(h % (uint64_t)interval_ms);
}

int64_t schedule_slot_after(int64_t t, int64_t interval_ms, int64_t phase_ms)
{
    if (interval_ms <= 0)
        return t;
    int64_t r = (t - phase_ms) % interval_ms;
    if (r < 0)
        r += interval_ms;
    return r == 0 ? t : t + (interval_ms - r);
}

int64_t schedule_next_ms(int64_t now_ms, int64_t last_ms, int64_t interval_ms, int64_t phase_ms)
{
    if (last_ms <= 0)
        return now_ms;
    int64_t due = schedule_slot_after(last_ms + interval_ms / 2, interval_ms, phase_ms);
    return due > now_ms ? due : now_ms;
}

int schedule_overdue(int64_t now_ms, int64_t since_ms, int64_t interval_ms)
{
    return since_ms > 0 && interval_ms > 0 && now_ms - since_ms > 2 * interval_ms;
}
