/*
 * alerts.c: which of the agent's own alerts hold, and their JSON for Alertmanager.
 */
#include "alerts.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "problems.h"
#include "utf8.h"

struct alert_def {
    const char *name;
    const char *severity;
    const char *anchor; /* section of docs/runbook.md */
    const char *summary;
};

static const struct alert_def defs[ALERT_KIND_COUNT] = {
    [ALERT_MALFORMED] = {"SQLiteDatabaseMalformed", "critical", "sqlitedatabasemalformed",
                         "SQLite database image is malformed"},
    [ALERT_DOWN] = {"SQLiteDatabaseDown", "critical", "sqlitedatabasedown",
                    "SQLite database file is missing or unreadable"},
    [ALERT_CHECK_STALLED] = {"SQLiteCheckNotCompleting", "warning", "sqlitechecknotcompleting",
                             "SQLite integrity checks are not completing"},
    [ALERT_WAL_RESET_RACE] = {"SQLiteWALResetRace", "critical", "sqlitewalresetrace",
                              "SQLite lost committed WAL frames: the WAL-reset race"},
};

const char *alerts_name(enum alert_kind k)
{
    return defs[k].name;
}

const char *alerts_severity(enum alert_kind k)
{
    return defs[k].severity;
}

static bool check_stalled(const struct db_snapshot *d, const struct db_config *db, int64_t start_ms,
                          int64_t now_ms)
{
    if (db->check == CHECK_OFF)
        return false;
    int64_t since = d->check.completed_once ? d->check.last_success_ms : start_ms;
    int64_t limit = ALERTS_STALLED_INTERVALS * db->check_interval_ms + db->check_timeout_ms;
    return now_ms - since > limit;
}

bool alerts_active(enum alert_kind k, const struct db_snapshot *d, const struct db_config *db,
                   int64_t start_ms, int64_t now_ms)
{
    switch (k) {
    case ALERT_MALFORMED:
        return d->check.malformed;
    case ALERT_DOWN:
        /* Not before the first sample: an agent just started knows nothing yet. */
        return d->sample.status != SAMPLE_NONE && !sample_up(d->sample.status);
    case ALERT_CHECK_STALLED:
        return check_stalled(d, db, start_ms, now_ms);
    case ALERT_WAL_RESET_RACE:
        return d->watch.last_signal_ms != 0 &&
               now_ms - d->watch.last_signal_ms < ALERTS_RACE_HOLD_MS;
    }
    return false;
}

void alerts_format_time(int64_t ms, char *out, size_t len)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];

    gmtime_r(&sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

/* A JSON string literal (RFC 8259, 7): quote, backslash and control characters escaped. JSON
 * text must be UTF-8 (RFC 8259, 8.1) and a name or path may hold any bytes: a byte that starts
 * no well-formed sequence becomes U+FFFD, so a strict receiver does not reject the batch. */
static int json_string(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    buf_puts(out, "\"");
    while (n > 0) {
        size_t step = 1;
        if (*p == '"' || *p == '\\')
            buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            buf_printf(out, "\\u%04x", *p);
        else if ((step = utf8_seq_len(p, n)) == 0) {
            buf_puts(out, UTF8_REPLACEMENT);
            step = 1;
        } else
            buf_append(out, p, step);
        p += step;
        n -= step;
    }
    return buf_puts(out, "\"");
}

static void json_pair(struct buf *out, const char *key, const char *value, bool first)
{
    if (!first)
        buf_puts(out, ",");
    json_string(out, key);
    buf_puts(out, ":");
    json_string(out, value);
}

/* A runbook URL: the configured base (at most CONFIG_URL_MAX bytes), "#" and an anchor of
 * docs/runbook.md, none longer than ALERTS_ANCHOR_MAX - 1. */
#define ALERTS_ANCHOR_MAX 48
#define ALERTS_URL_MAX (CONFIG_URL_MAX + 1 + ALERTS_ANCHOR_MAX)

/* Issue 13: what broke and what to do, for SQLiteDatabaseMalformed (the rules' annotations of
 * the same names say the same). */
static void malformed_annotations(const struct db_snapshot *d, const struct alert_labels *l,
                                  struct buf *out)
{
    char kinds[96], advice[512], anchor[ALERTS_ANCHOR_MAX], url[ALERTS_URL_MAX];
    int worst = problems_worst(d->check.kinds);

    if (problems_kinds_list(d->check.kinds, kinds, sizeof(kinds)) != 0)
        kinds[0] = '\0';
    problems_advice(worst, d->check.indexes, d->evidence.path, advice, sizeof(advice));
    problems_runbook_anchor(worst, anchor, sizeof(anchor));
    snprintf(url, sizeof(url), "%s#%s", l->runbook_url, anchor);
    json_pair(out, "kinds", kinds, false);
    json_pair(out, "first_problem", state_text(d->check.first_problem), false);
    json_pair(out, "advice", advice, false);
    json_pair(out, "evidence_copy", state_text(d->evidence.path), false);
    json_pair(out, "runbook_kind_url", url, false);
}

static void render_one(const struct alert_event *e, const struct alert_labels *l, struct buf *out)
{
    const struct alert_def *def = &defs[e->kind];
    char starts[32], ends[32], url[ALERTS_URL_MAX], desc[8192];

    alerts_format_time(e->starts_ms, starts, sizeof(starts));
    alerts_format_time(e->ends_ms, ends, sizeof(ends));
    snprintf(url, sizeof(url), "%s#%s", l->runbook_url, def->anchor);
    snprintf(desc, sizeof(desc), "%s: database %s at %s, reported by sqlite-agent on %s.",
             def->summary, e->db->name, e->db->path, l->instance);

    buf_puts(out, "{\"labels\":{");
    json_pair(out, "alertname", def->name, true);
    json_pair(out, "severity", def->severity, false);
    json_pair(out, "db", e->db->name, false);
    json_pair(out, "path", e->db->path, false);
    json_pair(out, "instance", l->instance, false);
    /* Tells these apart from the same alert arriving through Prometheus rules. */
    json_pair(out, "source", "sqlite-agent", false);
    buf_puts(out, "},\"annotations\":{");
    json_pair(out, "summary", def->summary, true);
    json_pair(out, "description", desc, false);
    json_pair(out, "runbook_url", url, false);
    if (e->kind == ALERT_MALFORMED)
        malformed_annotations(e->db, l, out);
    buf_puts(out, "}");
    json_pair(out, "startsAt", starts, false);
    json_pair(out, "endsAt", ends, false);
    json_pair(out, "generatorURL", l->generator_url, false);
    buf_puts(out, "}");
}

int alerts_render_items(const struct alert_event *ev, size_t n, const struct alert_labels *l,
                        bool first, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 || !first)
            buf_puts(out, ",");
        render_one(&ev[i], l, out);
    }
    return out->failed ? -1 : 0;
}

int alerts_render_json(const struct alert_event *ev, size_t n, const struct alert_labels *l,
                       struct buf *out)
{
    buf_puts(out, "[");
    alerts_render_items(ev, n, l, true, out);
    buf_puts(out, "]");
    return out->failed ? -1 : 0;
}
