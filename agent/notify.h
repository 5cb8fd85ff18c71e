/*
 * notify.h: systemd's service notification protocol (sd_notify(3), libsystemd): readiness,
 * reload and stop reported for Type=notify, and the watchdog.
 *
 * Every call is a no-op when the agent does not run under systemd (NOTIFY_SOCKET unset). The
 * watchdog is pinged from main's loop, and only while sampling is alive (notify_sampling_alive):
 * a wedged sampler stops the pings, and systemd restarts the service after WatchdogSec.
 */
#ifndef SQLITE_AGENT_NOTIFY_H
#define SQLITE_AGENT_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A sampling pass may be this many of the longest sample interval late, plus the slack (a
 * /proc scan runs in the pass), before sampling counts as stalled. */
#define NOTIFY_STALL_INTERVALS 3
#define NOTIFY_STALL_SLACK_MS 10000

void notify_ready(size_t ndbs);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);

/* How often to ping: half of WatchdogSec, as sd_watchdog_enabled(3) advises; 0 when the
 * watchdog is off. */
int64_t notify_watchdog_interval_ms(void);

/* Whether sampling is alive at now_ms (monotonic): the last completed pass (or the start, when
 * there has been none yet) is recent enough for the longest sample interval. With no database
 * there is nothing to sample, and it is alive. Pure. */
bool notify_sampling_alive(size_t ndbs, int64_t last_pass_ms, int64_t start_ms, int64_t now_ms,
                           int64_t max_interval_ms);

#endif
