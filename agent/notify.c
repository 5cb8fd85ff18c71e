/*
 * notify.c: sd_notify(3) glue (see notify.h).
 */
#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void notify_ready(size_t ndbs)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=watching %zu database%s", ndbs,
             ndbs == 1 ? "" : "s");
    sd_notify(0, msg);
}

void notify_reloading(void)
{
    sd_notify(0, "RELOADING=1\nSTATUS=reloading");
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void notify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

int64_t notify_watchdog_interval_ms(void)
{
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    int64_t ms = (int64_t)(usec / 2000);
    return ms > 0 ? ms : 1;
}

bool notify_sampling_alive(size_t ndbs, int64_t last_pass_ms, int64_t start_ms, int64_t now_ms,
                           int64_t max_interval_ms)
{
    if (ndbs == 0)
        return true;
    int64_t since = last_pass_ms > 0 ? last_pass_ms : start_ms;
    return now_ms - since <= NOTIFY_STALL_INTERVALS * max_interval_ms + NOTIFY_STALL_SLACK_MS;
}
