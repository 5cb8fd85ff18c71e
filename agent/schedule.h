/*
 * schedule.h: when each database's next check runs (issue 10: thousands of checks must not
 * start together).
 *
 * Each database has a stable phase in its check_interval, a hash of its name: its checks fall
 * on the times that are phase modulo interval (Unix time), so a fleet's checks are spread
 * evenly over the interval, and stay spread across restarts, reloads and glob rescans (which
 * restart the workers). Pure functions; checker.c keeps the due times and the worker limit.
 */
#ifndef SQLITE_AGENT_SCHEDULE_H
#define SQLITE_AGENT_SCHEDULE_H

#include <stdint.h>

/* The phase of database name in interval_ms: 0 <= phase < interval_ms. */
int64_t schedule_phase_ms(const char *name, int64_t interval_ms);

/* The first time at or after t (Unix ms) that is phase modulo interval. */
int64_t schedule_slot_after(int64_t t, int64_t interval_ms, int64_t phase_ms);

/*
 * When the next check of a database is due (Unix ms), now_ms being the current time and
 * last_ms the start of its last run (or the end of its last completed check, carried over a
 * restart of the workers), 0 for none: none, at once (a new database is checked on the first
 * pass, which the worker limit paces); else the first slot at or after half an interval past
 * last_ms, and not before now. Successive checks are then between half and one and a half
 * intervals apart, and settle on the phase within one interval.
 */
int64_t schedule_next_ms(int64_t now_ms, int64_t last_ms, int64_t interval_ms, int64_t phase_ms);

/* Whether a database is overdue: its last completed check (or, never completed, the time it
 * was first watched) is older than twice its interval. */
int schedule_overdue(int64_t now_ms, int64_t since_ms, int64_t interval_ms);

#endif
