/*
 * metrics.c: snapshot -> Prometheus text exposition, format 0.0.4.
 *
 * A pure renderer: it reads the snapshot it is given and the clock value passed in, appends to
 * a capped buffer, and keeps no state. Every family is written contiguously with one HELP and
 * one TYPE line, and only when it has at least one series. A series whose value is unknown (not
 * sampled yet, no WAL, wal-index unreadable...) is left out rather than printed as 0, so that
 * "absent" and "zero" stay different things in PromQL. docs/metrics.md describes every family.
 *
 * Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/ ("Text format
 * details"): HELP escapes backslash and newline; label values escape backslash, double quote
 * and newline; values are Go ParseFloat-compatible, with "+Inf", "-Inf" and "NaN".
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileformat.h"
#include "problems.h"
#include "risk.h"
#include "schedule.h"
#include "sqlitever.h"

/* U+FFFD REPLACEMENT CHARACTER, for bytes that are not UTF-8 */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

enum value_kind { VALUE_U64, VALUE_MS, VALUE_DOUBLE };

/* One sample value; VALUE_MS is a Unix time or duration in ms, printed as seconds. */
struct value {
    enum value_kind kind;
    uint64_t u64;
    int64_t ms;
    double d;
};

/* What a per-database family getter returns for one database. */
struct db_series {
    struct value v;
    const char *check; /* value of the "check" label, or NULL for none */
};

static struct value value_u64(uint64_t u)
{
    struct value v = {VALUE_U64, u, 0, 0.0};
    return v;
}

static struct value value_ms(int64_t ms)
{
    struct value v = {VALUE_MS, 0, ms, 0.0};
    return v;
}

static struct value value_double(double d)
{
    struct value v = {VALUE_DOUBLE, 0, 0, d};
    return v;
}

/*
 * Length of the well-formed UTF-8 sequence at p (1..4), or 0 when p does not start one
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). Prometheus rejects the
 * whole scrape when a label value is not valid UTF-8, and paths are arbitrary bytes. Reads stop
 * at the first byte that does not fit, so a NUL terminator is never read past.
 */
static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/*
 * Appends s with the escapes a label value needs (\\, \", \n). Bytes that are not UTF-8 become
 * U+FFFD, one per byte: one odd path must not make the whole scrape unparsable. Valid UTF-8,
 * including other control characters, passes through unchanged.
 */
int metrics_escape_label(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *run = p; /* start of the bytes not yet copied */

    while (*p) {
        size_t n = utf8_seq_len(p);
        const char *esc = NULL;

        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '"')
            esc = "\\\"";
        else if (*p == '\n')
            esc = "\\n";
        else if (n == 0)
            esc = UTF8_REPLACEMENT;
        if (!esc) {
            p += n;
            continue;
        }
        buf_append(out, run, (size_t)(p - run));
        buf_puts(out, esc);
        p += n ? n : 1;
        run = p;
    }
    buf_append(out, run, (size_t)(p - run));
    return out->failed ? -1 : 0;
}

/* HELP text escapes only backslash and newline. */
static void put_help_text(struct buf *out, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        if (*s != '\\' && *s != '\n')
            continue;
        buf_append(out, run, (size_t)(s - run));
        buf_puts(out, *s == '\\' ? "\\\\" : "\\n");
        run = s + 1;
    }
    buf_append(out, run, (size_t)(s - run));
}

static void put_family_header(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s ", name);
    put_help_text(out, help);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/*
 * The shortest of %.15g..%.17g that reads back as the same double: %.17g always does, the
 * shorter forms keep 0.1 from printing as 0.10000000000000001. printf and strtod both follow
 * LC_NUMERIC, so the round trip is checked in the process's own locale and the decimal
 * separator is then rewritten to '.'. %g does no digit grouping, so besides digits, sign and
 * exponent the separator is the only thing a locale can change.
 */
static void put_double(struct buf *out, double d)
{
    char raw[64], fixed[64];
    size_t i, j = 0;
    int prec;

    if (isnan(d)) {
        buf_puts(out, "NaN");
        return;
    }
    if (isinf(d)) {
        buf_puts(out, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (prec = 15; prec <= 17; prec++) {
        snprintf(raw, sizeof raw, "%.*g", prec, d);
        if (strtod(raw, NULL) == d)
            break;
    }
    for (i = 0; raw[i] && j + 1 < sizeof fixed; i++) {
        char c = raw[i];

        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e') {
            fixed[j++] = c;
        } else if (j == 0 || fixed[j - 1] != '.') {
            fixed[j++] = '.'; /* the separator, possibly several bytes long */
        }
    }
    fixed[j] = '\0';
    buf_puts(out, fixed);
}

/* Decimal digits without printf: most of an exposition is integers, and printf's format
 * parsing was a third of the render time for a thousand databases. */
static void put_u64(struct buf *out, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Milliseconds as seconds, exactly: 1700000000123 -> "1700000000.123", 1500 -> "1.5". */
static void put_ms_as_seconds(struct buf *out, int64_t ms)
{
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    uint64_t frac = a % 1000;
    char digits[4];
    int width = 3;

    if (ms < 0)
        buf_puts(out, "-");
    put_u64(out, a / 1000);
    if (frac == 0)
        return;
    while (frac % 10 == 0) {
        frac /= 10;
        width--;
    }
    for (int i = width - 1; i >= 0; i--, frac /= 10)
        digits[i] = (char)('0' + frac % 10);
    buf_puts(out, ".");
    buf_append(out, digits, (size_t)width);
}

static void put_value(struct buf *out, const struct value *v)
{
    switch (v->kind) {
    case VALUE_U64:
        put_u64(out, v->u64);
        break;
    case VALUE_MS:
        put_ms_as_seconds(out, v->ms);
        break;
    case VALUE_DOUBLE:
        put_double(out, v->d);
        break;
    }
}

/* Each database's `db="..",path=".."`, escaped once per render instead of once per series:
 * with thirty-odd series a database, escaping was the largest cost of a scrape. */
struct labels {
    struct buf text;
    size_t *off; /* ndbs + 1 offsets into text */
};

static int labels_build(struct labels *l, const struct snapshot *snap, size_t max)
{
    buf_init(&l->text, max);
    l->off = malloc((snap->ndbs + 1) * sizeof(*l->off));
    if (l->off == NULL)
        return -1;
    for (size_t i = 0; i < snap->ndbs; i++) {
        l->off[i] = l->text.len;
        /* db only: path and the other constant facts are on sqlite_database_info, once per
         * database (issue 10: the info-metric convention, a fleet's exposition halved). */
        buf_puts(&l->text, "db=\"");
        metrics_escape_label(&l->text, snap->dbs[i].name);
    }
    l->off[snap->ndbs] = l->text.len;
    return l->text.failed ? -1 : 0;
}

static void labels_free(struct labels *l)
{
    buf_free(&l->text);
    free(l->off);
}

/* name{db=".." (the closing quote is the caller's) */
static void put_db_labels(struct buf *out, const char *name, const struct labels *l, size_t i)
{
    buf_puts(out, name);
    buf_puts(out, "{");
    buf_append(out, l->text.data + l->off[i], l->off[i + 1] - l->off[i]);
}

/* name{db=".."[,check=".."][,result=".."]} value */
static void put_db_series(struct buf *out, const char *name, const struct labels *l, size_t i,
                          const char *check, const char *result, const struct value *v)
{
    put_db_labels(out, name, l, i);
    if (check) {
        buf_puts(out, "\",check=\"");
        metrics_escape_label(out, check);
    }
    if (result) {
        buf_puts(out, "\",result=\"");
        metrics_escape_label(out, result);
    }
    buf_puts(out, "\"} ");
    put_value(out, v);
    buf_puts(out, "\n");
}

/* An agent family with one unlabelled series. */
static void put_agent_family(struct buf *out, const char *name, const char *type, const char *help,
                             struct value v)
{
    put_family_header(out, name, type, help);
    buf_printf(out, "%s ", name);
    put_value(out, &v);
    buf_puts(out, "\n");
}

static void put_agent(struct buf *out, const struct snapshot *snap, const struct build_info *bi)
{
    const struct agent_stats *a = &snap->agent;
    static const char *const reload_result[2] = {"failure", "success"};
    int i;

    put_family_header(out, "sqlite_agent_build_info", "gauge",
                      "Always 1; the labels carry the agent version and the version of the "
                      "SQLite library the checks run with.");
    buf_puts(out, "sqlite_agent_build_info{version=\"");
    metrics_escape_label(out, bi ? bi->version : NULL);
    buf_puts(out, "\",sqlite_version=\"");
    metrics_escape_label(out, bi ? bi->sqlite_version : NULL);
    buf_puts(out, "\"} 1\n");

    put_agent_family(out, "sqlite_agent_start_time_seconds", "gauge",
                     "Unix time the agent started.", value_ms(a->start_ms));
    put_agent_family(out, "sqlite_agent_databases", "gauge",
                     "Databases in the configuration now loaded.", value_u64(snap->ndbs));
    if (a->sample_passes > 0)
        put_agent_family(out, "sqlite_agent_sample_pass_duration_seconds", "gauge",
                         "Wall time of the last completed sampling pass over all databases.",
                         value_double(a->last_sample_pass_s));
    put_agent_family(out, "sqlite_agent_sample_passes_total", "counter",
                     "Completed sampling passes.", value_u64(a->sample_passes));
    put_agent_family(out, "sqlite_agent_scrapes_total", "counter",
                     "Metrics responses served, not counting this one.", value_u64(a->scrapes));
    if (a->scrapes > 0)
        put_agent_family(out, "sqlite_agent_metrics_render_duration_seconds", "gauge",
                         "Time taken to render the previous metrics response.",
                         value_double(a->last_render_s));
    put_agent_family(out, "sqlite_agent_config_last_reload_successful", "gauge",
                     "1 when the last configuration load or reload succeeded, else 0.",
                     value_u64(a->last_reload_ok));
    if (a->last_reload_ok_ms != 0)
        put_agent_family(out, "sqlite_agent_config_last_reload_success_timestamp_seconds", "gauge",
                         "Unix time of the last successful configuration load or reload.",
                         value_ms(a->last_reload_ok_ms));
    put_family_header(out, "sqlite_agent_config_reloads_total", "counter",
                      "Configuration reloads by result.");
    for (i = 1; i >= 0; i--)
        buf_printf(out, "sqlite_agent_config_reloads_total{result=\"%s\"} %" PRIu64 "\n",
                   reload_result[i], a->reloads[i]);
    put_family_header(out, "sqlite_agent_alertmanager_posts_total", "counter",
                      "Posts of the agent's own alerts to Alertmanager, by result; stays 0 "
                      "without an [alertmanager] section.");
    for (i = 1; i >= 0; i--)
        buf_printf(out, "sqlite_agent_alertmanager_posts_total{result=\"%s\"} %" PRIu64 "\n",
                   reload_result[i], a->alert_posts[i]);
    static const char *const denied_reason[2] = {"basic_auth", "client_certificate"};
    put_family_header(out, "sqlite_agent_http_requests_denied_total", "counter",
                      "Requests the web config file refused, by reason: a missing or wrong "
                      "basic-auth password, or a client certificate missing or not verified.");
    for (i = 0; i < 2; i++)
        buf_printf(out, "sqlite_agent_http_requests_denied_total{reason=\"%s\"} %" PRIu64 "\n",
                   denied_reason[i], a->http_denied[i]);
    put_family_header(out, "sqlite_agent_http_connections_closed_total", "counter",
                      "HTTP connections the agent closed: past the request deadline (slow or "
                      "idle clients) or after the client hung up mid-request.");
    buf_printf(out, "sqlite_agent_http_connections_closed_total{reason=\"deadline\"} %" PRIu64 "\n",
               a->http_closed[0]);
    buf_printf(out, "sqlite_agent_http_connections_closed_total{reason=\"hangup\"} %" PRIu64 "\n",
               a->http_closed[1]);
    put_agent_family(out, "sqlite_agent_log_lines_dropped_total", "counter",
                     "Log lines not written because their cause was over its rate limit.",
                     value_u64(a->log_dropped));
}

/* ---- Per-database families ---------------------------------------------------------------
 * Each getter decides whether its series exists for one database and fills in the value. */

/* The database file was opened and read (an empty file included). */
static bool sample_file_read(const struct sample *s)
{
    return s->status == SAMPLE_OK || s->status == SAMPLE_BAD_HEADER || s->status == SAMPLE_EMPTY;
}

static bool sample_header_ok(const struct sample *s)
{
    return s->status == SAMPLE_OK;
}

/* The -wal file has a header to judge. Like the -shm flags below, trusted only once a sample
 * has been taken at all; the sampler sets them per pass. */
static bool sample_wal_read(const struct sample *s)
{
    return s->status != SAMPLE_NONE && s->wal_present && s->wal_size > 0;
}

static bool sample_walindex_ok(const struct sample *s)
{
    return s->status != SAMPLE_NONE && s->shm_present && s->walindex_result == FF_OK;
}

static bool check_any_run(const struct check_state *c)
{
    int k, r;

    for (k = 0; k < CHECK_KIND_COUNT; k++)
        for (r = 0; r < CHECK_RESULT_COUNT; r++)
            if (c->runs[k][r] != 0)
                return true;
    return false;
}

static bool get_up(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(sample_up(d->sample.status));
    return true;
}

static bool get_last_sample(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_ms(d->sample.taken_ms);
    return d->sample.status != SAMPLE_NONE;
}

static bool get_sample_age(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    o->v = value_ms(now_ms - d->sample.taken_ms);
    return d->sample.status != SAMPLE_NONE;
}

static bool get_header_valid(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.status == SAMPLE_OK);
    /* An empty file has no header to judge. */
    return sample_file_read(&d->sample) && d->sample.status != SAMPLE_EMPTY;
}

static bool get_file_size(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.file_size);
    return sample_file_read(&d->sample);
}

static bool get_page_size(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.page_size);
    return sample_header_ok(&d->sample);
}

static bool get_pages(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    if (!sample_header_ok(&d->sample))
        return false;
    o->v = value_u64(fileformat_db_pages(&d->sample.db, d->sample.file_size));
    return true;
}

static bool get_freelist(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.freelist_pages);
    return sample_header_ok(&d->sample);
}

static bool get_change_counter(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.change_counter);
    return sample_header_ok(&d->sample);
}

static bool get_user_version(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.user_version);
    return sample_header_ok(&d->sample);
}

static bool get_application_id(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.application_id);
    return sample_header_ok(&d->sample);
}

/* fileformat2, 1.3.14: offset 96 is current only while offset 92 equals the change counter. */
static bool get_writer_version(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.sqlite_version);
    return sample_header_ok(&d->sample) && d->sample.db.version_valid;
}

/* fileformat2, 1.3.3: read version 2 at offset 19 means WAL. */
static bool get_wal_mode(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.db.read_version == 2);
    return sample_header_ok(&d->sample);
}

static bool get_wal_size(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.wal_present ? d->sample.wal_size : 0);
    return sample_header_ok(&d->sample);
}

static bool get_wal_header_valid(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.wal_result == FF_OK);
    return sample_wal_read(&d->sample);
}

static bool get_wal_ckpt_seq(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.wal.checkpoint_seq);
    return sample_wal_read(&d->sample) && d->sample.wal_result == FF_OK;
}

static bool get_walindex_valid(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.walindex_result == FF_OK);
    return d->sample.status != SAMPLE_NONE && d->sample.shm_present;
}

static bool get_wal_frames(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.walindex.mx_frame);
    return sample_walindex_ok(&d->sample);
}

/*
 * mxFrame - nBackfill. The header copies are checked against each other, but the checkpoint
 * info after them is read in the same pread without the WAL locks, so a checkpoint or WAL
 * restart racing the read can leave nBackfill past mxFrame; that reads as "nothing to
 * backfill", not as a huge unsigned difference.
 */
static bool get_ckpt_lag(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    const struct ff_walindex *w = &d->sample.walindex;

    (void)now_ms;
    o->v = value_u64(w->mx_frame > w->n_backfill ? w->mx_frame - w->n_backfill : 0);
    return sample_walindex_ok(&d->sample);
}

static bool get_malformed(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.malformed);
    return true;
}

static bool get_check_running(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.running);
    o->check = config_check_kind_str(d->kind);
    return d->kind != CHECK_OFF;
}

static bool get_check_errors(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.problems);
    o->check = config_check_kind_str(d->check.last_kind);
    return d->check.completed_once;
}

static bool get_check_duration(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_double(d->check.duration_s);
    o->check = config_check_kind_str(d->check.last_kind);
    return check_any_run(&d->check);
}

static bool get_check_failures(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.failures_since_success);
    o->check = config_check_kind_str(d->kind);
    return d->kind != CHECK_OFF;
}

static bool get_check_success(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_ms(d->check.last_success_ms);
    o->check = config_check_kind_str(d->check.last_kind);
    return d->check.completed_once;
}

/* ---- a check that steps aside (checker.c, checkunits.h) ---------------------------------- */

static bool get_check_yields(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.yields);
    o->check = config_check_kind_str(d->kind);
    return d->kind != CHECK_OFF;
}

static bool get_check_read_bytes(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.read_bytes);
    o->check = config_check_kind_str(d->kind);
    return d->kind != CHECK_OFF;
}

static bool get_check_snapshot(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    bool ran = check_any_run(&d->check);
    /* The longer of the last run's and the running one's: a run that keeps yielding shows. */
    o->v =
        value_double(d->check.snapshot_now_s > d->check.snapshot_max_s ? d->check.snapshot_now_s
                                                                       : d->check.snapshot_max_s);
    o->check = config_check_kind_str(ran ? d->check.last_kind : d->kind);
    return ran || d->check.units_total > 0; /* or a first run going on */
}

static bool get_check_units(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.units_total);
    o->check = config_check_kind_str(d->kind);
    return d->kind != CHECK_OFF && d->check.units_total > 0;
}

static bool get_check_units_done(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->check.units_done);
    o->check = config_check_kind_str(d->kind);
    return d->kind != CHECK_OFF && d->check.units_total > 0;
}

static bool get_check_whole_file(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_ms(d->check.last_whole_file_ms);
    o->check = config_check_kind_str(d->check.last_kind);
    return d->check.last_whole_file_ms != 0;
}

struct db_family {
    const char *name;
    const char *type;
    const char *help;
    bool (*get)(const struct db_snapshot *d, int64_t now_ms, struct db_series *o);
};

/* Output order is table order. sqlite_check_runs_total, with several series per database,
 * follows the table (put_check_runs). */

/* ---- risk factors (risk.h) ---------------------------------------------------------------- */

static bool get_open_processes(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->procs.db.open_processes);
    return d->procs.scanned;
}

static bool get_mmap_processes(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->procs.db.mmap_processes);
    return d->procs.scanned;
}

static bool get_wal_open_processes(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->procs.wal.open_processes);
    return d->procs.scanned;
}

static bool get_oldest_library(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->procs.db.oldest_version);
    return d->procs.scanned && d->procs.db.oldest_version != 0;
}

static bool get_race_exposed(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->risk.wal_reset_race_exposed);
    return d->sample.status == SAMPLE_OK;
}

static bool get_walindex_inconsistent(const struct db_snapshot *d, int64_t now_ms,
                                      struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->risk.wal_index_inconsistent);
    return d->sample.status != SAMPLE_NONE && d->sample.shm_present;
}

static bool get_network_fs(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->sample.fs.network);
    return d->sample.status != SAMPLE_NONE && d->sample.fs_known;
}

/* ---- the close watch and the checkpoint audit (walwatch.h, ckaudit.h) ---------------------- */

static bool get_close_watch(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->watch.watched);
    return true;
}

static bool get_audits(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->watch.counts.audits);
    return true;
}

static bool get_audits_dropped(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->watch.counts.audits_dropped);
    return true;
}

static bool get_audited_pages(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->watch.counts.pages_audited);
    return true;
}

static bool get_frames_read(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->watch.counts.frames_read);
    return true;
}

static bool get_lost_pages(const struct db_snapshot *d, int64_t now_ms, struct db_series *o)
{
    (void)now_ms;
    o->v = value_u64(d->watch.counts.lost_pages);
    return true;
}

static const struct db_family db_families[] = {
    {"sqlite_up", "gauge",
     "1 when the last sample read the database file and its header is a valid SQLite header; "
     "0 when not sampled yet, missing, unreadable or not a database.",
     get_up},
    {"sqlite_last_sample_timestamp_seconds", "gauge", "Unix time of the last header sample.",
     get_last_sample},
    {"sqlite_sample_age_seconds", "gauge", "Seconds since the last header sample, at render time.",
     get_sample_age},
    {"sqlite_database_header_valid", "gauge",
     "1 when the first 100 bytes of the file are a valid SQLite header, 0 when the file was "
     "read but they are not.",
     get_header_valid},
    {"sqlite_database_size_bytes", "gauge", "Size of the database file.", get_file_size},
    {"sqlite_page_size_bytes", "gauge", "Page size from the database header (offset 16).",
     get_page_size},
    {"sqlite_database_pages", "gauge",
     "Database size in pages as SQLite computes it: the header count (offset 28) when "
     "current, else file size / page size. Pages still only in the WAL are not included.",
     get_pages},
    {"sqlite_freelist_pages", "gauge", "Unused pages on the freelist (header offset 36).",
     get_freelist},
    {"sqlite_database_change_sequence", "gauge",
     "File change counter (header offset 24). In WAL mode SQLite does not bump it on every "
     "commit.",
     get_change_counter},
    {"sqlite_database_user_version", "gauge", "PRAGMA user_version (header offset 60).",
     get_user_version},
    {"sqlite_database_application_id", "gauge", "PRAGMA application_id (header offset 68).",
     get_application_id},
    {"sqlite_last_writer_version_number", "gauge",
     "SQLITE_VERSION_NUMBER of the library that last bumped the change counter (header offset "
     "96), shown only while offset 92 matches the change counter. In WAL mode SQLite bumps the "
     "change counter on schema and journal-mode changes, not every commit, so this names the "
     "last library that changed the schema/mode, not every writer.",
     get_writer_version},
    {"sqlite_wal_mode", "gauge", "1 when the header says WAL mode (read version 2), else 0.",
     get_wal_mode},
    {"sqlite_wal_size_bytes", "gauge", "Size of the -wal file; 0 when there is none.",
     get_wal_size},
    {"sqlite_wal_header_valid", "gauge",
     "1 when the non-empty -wal file starts with a valid WAL header (magic, version, page "
     "size, checksum), else 0.",
     get_wal_header_valid},
    {"sqlite_wal_checkpoint_sequence", "gauge",
     "Checkpoint sequence number from the WAL header; it changes each time the WAL restarts.",
     get_wal_ckpt_seq},
    {"sqlite_wal_index_valid", "gauge",
     "1 when the -shm wal-index header was read consistently (copies equal, initialised, "
     "checksum good), else 0.",
     get_walindex_valid},
    {"sqlite_wal_frames", "gauge", "Valid frames in the WAL (wal-index mxFrame).", get_wal_frames},
    {"sqlite_wal_checkpoint_lag_frames", "gauge",
     "WAL frames not yet copied back into the database (mxFrame - nBackfill, at least 0).",
     get_ckpt_lag},
    {"sqlite_database_malformed", "gauge",
     "1 when the last completed integrity or quick check found corruption, else 0.", get_malformed},
    {"sqlite_check_running", "gauge", "1 while a check of the configured kind is running.",
     get_check_running},
    {"sqlite_check_errors", "gauge", "Problem rows reported by the last completed check.",
     get_check_errors},
    {"sqlite_check_duration_seconds", "gauge", "Wall time of the last check run, completed or not.",
     get_check_duration},
    {"sqlite_check_last_success_timestamp_seconds", "gauge",
     "Unix time the last check completed (result ok or malformed).", get_check_success},
    {"sqlite_check_failures_since_success", "gauge",
     "Check runs that ended busy, timeout or error since the last completed one (or since the "
     "agent started).",
     get_check_failures},
    {"sqlite_check_whole_file_last_success_timestamp_seconds", "gauge",
     "Unix time the last completed check that included the whole-file unit (one snapshot "
     "over every b-tree, the freelist and unused pages) ended.",
     get_check_whole_file},
    {"sqlite_check_yields_total", "counter",
     "Times a check stepped aside for the application: a writer waiting (rollback journal), "
     "a FULL/RESTART/TRUNCATE checkpoint waiting for readers (WAL), or check_wal_pin_max of "
     "WAL written past a snapshot (WAL).",
     get_check_yields},
    {"sqlite_check_snapshot_max_seconds", "gauge",
     "Longest read transaction (snapshot) the last check run held, or the run in progress "
     "has held so far when that is longer.",
     get_check_snapshot},
    {"sqlite_check_units", "gauge",
     "Units of the check pass in progress or last run: 1 for a one-snapshot pass, else "
     "sqlite_schema plus one per table.",
     get_check_units},
    {"sqlite_check_units_done", "gauge", "Of those, units completed.", get_check_units_done},
    {"sqlite_check_read_bytes_total", "counter",
     "Bytes checks read of the database's own files (database, -wal, journal), through the "
     "read budget check_max_read_rate.",
     get_check_read_bytes},
    {"sqlite_database_open_processes", "gauge",
     "Processes other than the agent with the database file open, from the last /proc scan.",
     get_open_processes},
    {"sqlite_database_mmap_processes", "gauge",
     "Of those, processes that map the database file itself into memory, which is what "
     "PRAGMA mmap_size > 0 does (the -shm mapping is normal and not counted).",
     get_mmap_processes},
    {"sqlite_wal_open_processes", "gauge",
     "Processes other than the agent with the -wal file open, from the last /proc scan.",
     get_wal_open_processes},
    {"sqlite_database_oldest_library_version_number", "gauge",
     "Oldest SQLITE_VERSION_NUMBER among the libraries of the processes with the file open, "
     "read from the loaded objects; absent when none could be told.",
     get_oldest_library},
    {"sqlite_wal_reset_race_exposed", "gauge",
     "1 when the database is in WAL mode and a process with it open runs an SQLite with the "
     "WAL-reset race (3.7.0 to 3.51.2, fixed in 3.51.3, 3.44.6 and 3.50.7; versions declared in "
     "patched_sqlite_versions excepted), or, when no process's library could be told, the "
     "header's last writer (offset 96) does.",
     get_race_exposed},
    {"sqlite_wal_index_inconsistent", "gauge",
     "1 when the wal-index header says more frames were checkpointed than the WAL holds "
     "(nBackfill > mxFrame), or its two copies stayed unequal across retries: what the "
     "WAL-reset race leaves behind.",
     get_walindex_inconsistent},
    {"sqlite_database_on_network_filesystem", "gauge",
     "1 when the database's filesystem is a network or FUSE one (NFS, CIFS/SMB, 9p, Ceph, ...), "
     "where WAL's shared memory and POSIX locks are not reliable.",
     get_network_fs},
    {"sqlite_wal_index_close_watch", "gauge",
     "1 while the wal-index is read every walindex_watch_interval and every checkpoint audited "
     "(watch = close, or exposed to the WAL-reset race), else 0.",
     get_close_watch},
    {"sqlite_wal_checkpoint_audits_total", "counter",
     "Checkpoint audits run to the end: the pages a checkpoint claimed, compared with the frames "
     "they came from.",
     get_audits},
    {"sqlite_wal_checkpoint_audits_dropped_total", "counter",
     "Checkpoint audits given up without a verdict because the WAL restarted under them.",
     get_audits_dropped},
    {"sqlite_wal_checkpoint_audited_pages_total", "counter",
     "Database pages the checkpoint audit compared with their latest WAL frame.",
     get_audited_pages},
    {"sqlite_wal_checkpoint_audit_frames_read_total", "counter",
     "WAL frames the checkpoint audit read and verified (salts, cumulative checksum), each once.",
     get_frames_read},
    {"sqlite_wal_checkpoint_lost_pages_total", "counter",
     "Pages whose latest WAL frame nBackfill claims was checkpointed but the database file does "
     "not hold, confirmed on a second read: committed data lost (the WAL-reset race, or storage "
     "that drops writes).",
     get_lost_pages},
};

/* metrics = basic (glob sections' default): the series the alert rules and the fleet dashboard
 * read (dashboards/sqlite-agent.rules.yml, sqlite-agent-fleet.dashboard.json), plus
 * sqlite_database_info. Everything else is for the per-database dashboard and metrics = full. */
static const char *const basic_families[] = {
    "sqlite_up",
    "sqlite_sample_age_seconds",
    "sqlite_database_size_bytes",
    "sqlite_last_writer_version_number",
    "sqlite_wal_size_bytes",
    "sqlite_wal_checkpoint_lag_frames",
    "sqlite_database_malformed",
    "sqlite_check_last_success_timestamp_seconds",
    "sqlite_check_failures_since_success",
    "sqlite_wal_reset_race_exposed",
    "sqlite_wal_index_inconsistent",
    "sqlite_corruption_risk",
    "sqlite_check_first_problem_info",
    "sqlite_evidence_copy_info",
    "sqlite_wal_checkpoint_lost_pages_total", /* only once above 0: see basic_when_nonzero */
};

/* Counters that stay 0 on a healthy fleet: metrics = basic shows them from their first
 * increment. The rule reading them (SQLiteWALResetRace) has an `unless ... offset 1h` branch for
 * a series whose first sample is already above 0. */
static bool basic_when_nonzero(const char *name)
{
    return strcmp(name, "sqlite_wal_checkpoint_lost_pages_total") == 0;
}

static bool metric_in_basic(const char *name)
{
    for (size_t i = 0; i < sizeof basic_families / sizeof basic_families[0]; i++)
        if (strcmp(basic_families[i], name) == 0)
            return true;
    return false;
}

static void put_db_family(struct buf *out, const struct db_family *f, const struct snapshot *snap,
                          const struct labels *l, int64_t now_ms)
{
    bool header = false;
    size_t i;

    bool basic = metric_in_basic(f->name);

    for (i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        struct db_series o = {{VALUE_U64, 0, 0, 0.0}, NULL};

        if ((d->basic && !basic) || !f->get(d, now_ms, &o))
            continue;
        if (d->basic && basic_when_nonzero(f->name) && o.v.u64 == 0)
            continue;
        if (!header) {
            put_family_header(out, f->name, f->type, f->help);
            header = true;
        }
        put_db_series(out, f->name, l, i, o.check, NULL, &o.v);
    }
}

/* Every result of the configured kind, zeros included, so rate() has a series from the first
 * scrape; and every result of any other kind that has run (the configured kind changed). */
static void put_check_runs(struct buf *out, const struct snapshot *snap, const struct labels *l)
{
    static const char name[] = "sqlite_check_runs_total";
    bool header = false;
    size_t i;
    int k, r;

    for (i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];

        for (k = 0; k < CHECK_KIND_COUNT && !d->basic; k++) {
            bool show = k == (int)d->kind && d->kind != CHECK_OFF;

            for (r = 0; r < CHECK_RESULT_COUNT; r++)
                show = show || d->check.runs[k][r] != 0;
            if (!show)
                continue;
            if (!header) {
                put_family_header(out, name, "counter", "Check runs by kind and result.");
                header = true;
            }
            for (r = 0; r < CHECK_RESULT_COUNT; r++) {
                struct value v = value_u64(d->check.runs[k][r]);

                put_db_series(out, name, l, i, config_check_kind_str((enum check_kind)k),
                              state_check_result_str((enum check_result)r), &v);
            }
        }
    }
}

/* One per-database series with one extra label. */
static void put_db_labelled(struct buf *out, const char *name, const struct labels *l, size_t i,
                            const char *label, const char *value, uint64_t v)
{
    put_db_labels(out, name, l, i);
    buf_printf(out, "\",%s=\"", label);
    metrics_escape_label(out, value);
    buf_puts(out, "\"} ");
    put_u64(out, v);
    buf_puts(out, "\n");
}

static void put_processes_by_version(struct buf *out, const struct snapshot *snap,
                                     const struct labels *l)
{
    static const char name[] = "sqlite_database_processes";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        const struct procscan_result *r = &d->procs.db;
        if (!d->procs.scanned || d->basic)
            continue;
        if (!header) {
            put_family_header(out, name, "gauge",
                              "Processes with the database file open, by the SQLite library "
                              "version they run (\"unknown\" when it could not be told).");
            header = true;
        }
        for (uint32_t v = 0; v < r->nversions && v < PROCSCAN_VERSION_SLOTS; v++) {
            char text[24];
            sqlitever_format(r->versions[v].version, text, sizeof(text));
            put_db_labelled(out, name, l, i, "library_version", text, r->versions[v].processes);
        }
        if (r->other_versions)
            put_db_labelled(out, name, l, i, "library_version", "other", r->other_versions);
        if (r->unknown_version || r->open_processes == 0)
            put_db_labelled(out, name, l, i, "library_version", "unknown", r->unknown_version);
    }
}

static void put_filesystem_info(struct buf *out, const struct snapshot *snap,
                                const struct labels *l)
{
    static const char name[] = "sqlite_database_filesystem_info";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        if (d->sample.status == SAMPLE_NONE || !d->sample.fs_known || d->basic)
            continue;
        if (!header) {
            put_family_header(out, name, "gauge",
                              "Always 1; fstype is the filesystem the database file is on.");
            header = true;
        }
        put_db_labelled(out, name, l, i, "fstype", d->sample.fs.name, 1);
    }
}

/* Only the reasons that hold are present, so `sqlite_corruption_risk == 1` lists them. */
static void put_corruption_risk(struct buf *out, const struct snapshot *snap,
                                const struct labels *l)
{
    static const char name[] = "sqlite_corruption_risk";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        for (int r = 0; r < RISK_REASON_COUNT; r++) {
            if (!d->risk.reason[r])
                continue;
            if (!header) {
                put_family_header(out, name, "gauge",
                                  "1 for each known corruption risk that holds: wal_reset_race "
                                  "(WAL, two or more connections, a vulnerable SQLite), "
                                  "mmap_with_multiple_writers, wal_on_network_fs.");
                header = true;
            }
            put_db_labelled(out, name, l, i, "reason", risk_reason_str((enum risk_reason)r), 1);
        }
    }
}

/* Both kinds for every database, zeros included, so increase() has a series from the start. */
static void put_watch_anomalies(struct buf *out, const struct snapshot *snap,
                                const struct labels *l)
{
    static const char name[] = "sqlite_wal_index_anomalies_total";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++)
        for (int k = 0; k < WATCH_ANOMALY_COUNT; k++) {
            uint64_t v = snap->dbs[i].watch.counts.anomalies[k];
            /* metrics = basic: what SQLiteWALResetRace reads, from its first increment (as
             * basic_when_nonzero). */
            if (snap->dbs[i].basic && (k != WATCH_BACKFILL_PAST_END || v == 0))
                continue;
            if (!header)
                put_family_header(out, name, "counter",
                                  "What the close watch saw in the wal-index, by kind: "
                                  "backfill_past_end (nBackfill > mxFrame on a stable header, "
                                  "what the WAL-reset race leaves), unstable_header (the two "
                                  "header copies stayed unequal).");
            header = true;
            put_db_labelled(out, name, l, i, "kind", state_watch_anomaly_str((enum watch_anomaly)k),
                            v);
        }
}

static void put_proc_scan(struct buf *out, const struct snapshot *snap)
{
    const struct agent_stats *a = &snap->agent;

    if (!a->proc_scanned)
        return;
    put_agent_family(out, "sqlite_agent_process_scan_duration_seconds", "gauge",
                     "Wall time of the last /proc scan for processes using the databases.",
                     value_double(a->last_proc_scan_s));
    put_agent_family(out, "sqlite_agent_processes_scanned", "gauge",
                     "Processes the last /proc scan looked at (the agent excluded).",
                     value_u64(a->procs.processes));
    put_agent_family(out, "sqlite_agent_processes_uninspectable", "gauge",
                     "Processes whose open files or mappings the agent could not read "
                     "(permissions): their use of the databases is unknown.",
                     value_u64(a->procs.uninspectable));
}

/* One [databases:NAME] family: a series per glob section, labelled group. */
static void put_glob_family(struct buf *out, const struct snapshot *snap, const char *name,
                            const char *type, const char *help, size_t field)
{
    if (snap->nglobs == 0)
        return;
    put_family_header(out, name, type, help);
    for (size_t i = 0; i < snap->nglobs; i++) {
        uint64_t v = *(const uint64_t *)((const char *)&snap->globs[i] + field);
        buf_printf(out, "%s{group=\"", name);
        metrics_escape_label(out, snap->globs[i].group);
        buf_printf(out, "\"} %" PRIu64 "\n", v);
    }
}

static void put_globs(struct buf *out, const struct snapshot *snap)
{
    put_glob_family(out, snap, "sqlite_agent_glob_matched_files", "gauge",
                    "Regular files the last rescan of a [databases:] section's glob matched "
                    "(-wal, -shm and -journal files left out).",
                    offsetof(struct glob_stats, matched));
    put_glob_family(out, snap, "sqlite_agent_glob_watched_files", "gauge",
                    "Glob matches watched as databases.", offsetof(struct glob_stats, watched));
    put_glob_family(out, snap, "sqlite_agent_glob_skipped_files", "gauge",
                    "Glob matches never seen with an SQLite header, not watched.",
                    offsetof(struct glob_stats, skipped));
    put_glob_family(out, snap, "sqlite_agent_glob_duplicate_files", "gauge",
                    "Glob matches already watched through an earlier section.",
                    offsetof(struct glob_stats, duplicate));
    put_glob_family(out, snap, "sqlite_agent_glob_over_limit_files", "gauge",
                    "Glob matches not watched because the agent watches max_databases already.",
                    offsetof(struct glob_stats, over_limit));
    put_glob_family(out, snap, "sqlite_agent_glob_errors_total", "counter",
                    "Rescans whose glob failed (the last matches were kept).",
                    offsetof(struct glob_stats, errors));
}

/* ---- problem kinds and evidence copies (problems.h, evidence.h) --------------------------- */

/* One per-database series with extra labels given as name, value pairs (NULL-terminated). */
static void put_db_pairs(struct buf *out, const char *name, const struct labels *l, size_t i,
                         const char *const *pairs, const struct value *v)
{
    put_db_labels(out, name, l, i);
    for (size_t k = 0; pairs[k] != NULL && pairs[k + 1] != NULL; k += 2) {
        buf_printf(out, "\",%s=\"", pairs[k]);
        metrics_escape_label(out, pairs[k + 1]);
    }
    buf_puts(out, "\"} ");
    put_value(out, v);
    buf_puts(out, "\n");
}

/* Every kind, zeros included, from the last completed check: a bounded six per database. */
static void put_check_problems(struct buf *out, const struct snapshot *snap, const struct labels *l)
{
    static const char name[] = "sqlite_check_problems";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        if (!d->check.completed_once || d->basic)
            continue;
        if (!header) {
            put_family_header(out, name, "gauge",
                              "Problem rows of the last completed check by kind: index, btree, "
                              "page_ownership, schema, constraint, other (docs/runbook.md has a "
                              "section for each).");
            header = true;
        }
        for (int k = 0; k < PROBLEM_KIND_COUNT; k++) {
            const char *pairs[] = {"check", config_check_kind_str(d->check.last_kind), "kind",
                                   problems_kind_str((enum problem_kind)k), NULL};
            struct value v = value_u64(d->check.kinds[k]);
            put_db_pairs(out, name, l, i, pairs, &v);
        }
    }
}

/* One series per malformed database, for the alert's annotations: the worst kind, all kinds,
 * the first problem (cut to STATE_FIRST_PROBLEM_MAX) and the indexes to REINDEX. */
static void put_first_problem(struct buf *out, const struct snapshot *snap, const struct labels *l)
{
    static const char name[] = "sqlite_check_first_problem_info";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        char kinds[96];
        int worst = problems_worst(d->check.kinds);
        if (!d->check.malformed || worst < 0 ||
            problems_kinds_list(d->check.kinds, kinds, sizeof(kinds)) != 0)
            continue;
        if (!header) {
            put_family_header(out, name, "gauge",
                              "1 while the last completed check found corruption: kind is the "
                              "worst kind, kinds all of them worst first, row the first problem "
                              "message (cut to 160 bytes), indexes the indexes its index rows "
                              "name.");
            header = true;
        }
        const char *pairs[] = {"check",   config_check_kind_str(d->check.last_kind),
                               "kind",    problems_kind_str((enum problem_kind)worst),
                               "kinds",   kinds,
                               "row",     state_text(d->check.first_problem),
                               "indexes", state_text(d->check.indexes),
                               NULL};
        struct value v = value_u64(1);
        put_db_pairs(out, name, l, i, pairs, &v);
    }
}

static bool evidence_attempted(const struct evidence_state *e)
{
    uint64_t n = 0;
    for (int r = 0; r < EVIDENCE_RESULT_COUNT; r++)
        n += e->copies[r];
    return n > 0;
}

static void put_evidence(struct buf *out, const struct snapshot *snap, const struct labels *l)
{
    static const char total[] = "sqlite_evidence_copies_total";
    static const char info[] = "sqlite_evidence_copy_info";
    bool header = false;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct evidence_state *e = &snap->dbs[i].evidence;
        if (!evidence_attempted(e) || snap->dbs[i].basic)
            continue;
        if (!header) {
            put_family_header(out, total, "counter",
                              "Evidence copies attempted on transitions to malformed, by result: "
                              "ok, too_big (evidence_max_bytes), no_space, error.");
            header = true;
        }
        for (int r = 0; r < EVIDENCE_RESULT_COUNT; r++) {
            const char *pairs[] = {"result", state_evidence_result_str((enum evidence_result)r),
                                   NULL};
            struct value v = value_u64(e->copies[r]);
            put_db_pairs(out, total, l, i, pairs, &v);
        }
    }
    header = false;
    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct evidence_state *e = &snap->dbs[i].evidence;
        if (state_text(e->path)[0] == '\0')
            continue;
        if (!header) {
            put_family_header(out, info, "gauge",
                              "1 for the last good evidence copy of the database; copy is its "
                              "path, its manifest is the same path with .manifest appended.");
            header = true;
        }
        const char *pairs[] = {"copy", e->path, NULL};
        struct value v = value_u64(1);
        put_db_pairs(out, info, l, i, pairs, &v);
    }
    header = false;
    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct evidence_state *e = &snap->dbs[i].evidence;
        if (e->last_ok_ms == 0 || snap->dbs[i].basic)
            continue;
        if (!header) {
            put_family_header(out, "sqlite_evidence_copy_timestamp_seconds", "gauge",
                              "Unix time of the last good evidence copy.");
            header = true;
        }
        struct value v = value_ms(e->last_ok_ms);
        put_db_series(out, "sqlite_evidence_copy_timestamp_seconds", l, i, NULL, NULL, &v);
    }
}

/* sqlite_database_info: one series per database, always, carrying path and the facts that
 * rarely change (Prometheus's info-metric convention): per-database series carry db only, and
 * an alert that shows the path joins with
 *     * on (instance, job, db) group_left (path) sqlite_database_info
 * A fact not known yet (not sampled, header unreadable) is an empty label. */
static void put_database_info(struct buf *out, const struct snapshot *snap, const struct labels *l)
{
    static const char name[] = "sqlite_database_info";

    if (snap->ndbs == 0)
        return;
    put_family_header(out, name, "gauge",
                      "Always 1: path, the configured check, the journal mode and page size from "
                      "the header (offsets 19 and 16), the filesystem type, and metrics (full or "
                      "basic).");
    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        bool hdr = d->sample.status == SAMPLE_OK;
        char page[16] = "";
        if (hdr)
            snprintf(page, sizeof(page), "%u", (unsigned)d->sample.db.page_size);
        const char *pairs[] = {"path",
                               d->path,
                               "check",
                               config_check_kind_str(d->kind),
                               "journal_mode",
                               !hdr                             ? ""
                               : d->sample.db.read_version == 2 ? "wal"
                                                                : "rollback",
                               "page_size",
                               page,
                               "fstype",
                               d->sample.fs_known ? d->sample.fs.name : "",
                               "metrics",
                               d->basic ? "basic" : "full",
                               NULL};
        struct value v = value_u64(1);
        put_db_pairs(out, name, l, i, pairs, &v);
    }
}

/* Databases whose last completed check (or, never completed, the time they were first watched)
 * is older than twice their check_interval: the fleet has outgrown its interval or its workers
 * (schedule.h). */
static void put_checks_overdue(struct buf *out, const struct snapshot *snap, int64_t now_ms)
{
    uint64_t n = 0;

    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        int64_t since = d->check.completed_once ? d->check.last_success_ms : d->watched_since_ms;
        if (d->kind != CHECK_OFF && schedule_overdue(now_ms, since, d->check_interval_ms))
            n++;
    }
    put_agent_family(out, "sqlite_agent_checks_overdue", "gauge",
                     "Databases whose last completed check, or the time they were first watched "
                     "when none has completed, is older than twice their check_interval.",
                     value_u64(n));
}

/* Check runs of the whole agent by result: what the fleet dashboard graphs, where metrics =
 * basic leaves out the per-database sqlite_check_runs_total. */
static void put_agent_check_runs(struct buf *out, const struct snapshot *snap)
{
    static const char name[] = "sqlite_agent_check_runs_total";
    put_family_header(out, name, "counter",
                      "Check runs of every database since the agent started, by result.");
    for (int r = 0; r < CHECK_RESULT_COUNT; r++)
        buf_printf(out, "%s{result=\"%s\"} %" PRIu64 "\n", name,
                   state_check_result_str((enum check_result)r), snap->agent.check_runs[r]);
}

int metrics_render(const struct snapshot *snap, const struct build_info *bi, int64_t now_ms,
                   struct buf *out)
{
    struct labels l;
    size_t f;

    if (labels_build(&l, snap, out->max) != 0) {
        labels_free(&l);
        out->failed = true;
        return -1;
    }
    put_agent(out, snap, bi);
    put_agent_check_runs(out, snap);
    put_checks_overdue(out, snap, now_ms);
    put_database_info(out, snap, &l);
    for (f = 0; f < sizeof db_families / sizeof db_families[0]; f++)
        put_db_family(out, &db_families[f], snap, &l, now_ms);
    put_check_runs(out, snap, &l);
    put_processes_by_version(out, snap, &l);
    put_filesystem_info(out, snap, &l);
    put_corruption_risk(out, snap, &l);
    put_watch_anomalies(out, snap, &l);
    put_proc_scan(out, snap);
    put_globs(out, snap);
    put_check_problems(out, snap, &l);
    put_first_problem(out, snap, &l);
    put_evidence(out, snap, &l);
    labels_free(&l);
    return out->failed ? -1 : 0;
}
