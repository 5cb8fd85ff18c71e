/*
 * alerts.h: the agent's own alerts, decided from a snapshot. Pure: no I/O, no clock.
 *
 * They mirror four of the shipped Prometheus rules (dashboards/sqlite-agent.rules.yml) so that
 * a database going bad reaches a human even where nobody runs Prometheus rules.
 */
#ifndef SQLITE_AGENT_ALERTS_H
#define SQLITE_AGENT_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "state.h"

enum alert_kind {
    ALERT_MALFORMED = 0, /* SQLiteDatabaseMalformed */
    ALERT_DOWN,          /* SQLiteDatabaseDown */
    ALERT_CHECK_STALLED, /* SQLiteCheckNotCompleting */
    /* SQLiteWALResetRace */
    ALERT_WAL_RESET_RACE,
};
#define ALERT_KIND_COUNT 4

/* SQLiteWALResetRace holds this long after the close watch's last race signal, as the rule's
 * increase(...[1h]) does. */
#define ALERTS_RACE_HOLD_MS (3600 * 1000)

const char *alerts_name(enum alert_kind k);
const char *alerts_severity(enum alert_kind k);

/* No completed check for this long (in check intervals, plus one check_timeout) counts as
 * not completing: one failed run is noise, three in a row is a blind spot. */
#define ALERTS_STALLED_INTERVALS 3

/* Whether alert k holds for database d (configured as db) at now_ms. */
bool alerts_active(enum alert_kind k, const struct db_snapshot *d, const struct db_config *db,
                   int64_t start_ms, int64_t now_ms);

/* One alert as Alertmanager's API v2 takes it (POST /api/v2/alerts, "postableAlert"). */
struct alert_event {
    enum alert_kind kind;
    const struct db_snapshot *db;
    int64_t starts_ms;
    int64_t ends_ms;
};

struct alert_labels {
    const char *instance;      /* this agent, e.g. "host:10150" */
    const char *generator_url; /* a link back to this agent */
    const char *runbook_url;   /* base; "#anchor" is appended */
};

/* Appends a JSON array of events to out. Returns 0, or -1 on overflow. */
int alerts_render_json(const struct alert_event *ev, size_t n, const struct alert_labels *l,
                       struct buf *out);
/* The same events as items of an array written in parts (alertpush.c, a slice of databases at
 * a time): comma-separated, with a comma first unless first. Returns 0, or -1 on overflow. */
int alerts_render_items(const struct alert_event *ev, size_t n, const struct alert_labels *l,
                        bool first, struct buf *out);

/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T14:19:34.123Z, into out (>= 25 bytes). */
void alerts_format_time(int64_t ms, char *out, size_t len);

#endif
