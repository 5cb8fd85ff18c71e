/*
 * alertpush.c: evaluate the agent's own alerts every second, post changes at once and
 * everything firing every resend interval, with libcurl.
 */
#include "alertpush.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "ticker.h"

#define EVAL_INTERVAL_MS 1000
/* Databases evaluated per copy of the state: every second the thread holds a slice of the
 * snapshot (256 databases, about 200 KB), not a whole fleet's (8 MB at 10,000: issue 10). */
#define EVAL_SLICE 256
/* endsAt is this many resend intervals ahead, so one lost post does not resolve an alert
 * (Prometheus uses 4 as well: notifier resend delay x 4). */
#define ENDS_AFTER_RESENDS 4
/* Resolved alerts are posted again with each resend for this long, as Prometheus keeps them
 * (resolvedRetention, 15m), so an Alertmanager that missed the first post still learns. */
#define RESOLVED_KEEP_MS (15 * 60 * 1000)
#define BODY_MAX (16u << 20)
/* A password or bearer token file: its first line, at most this many bytes. */
#define SECRET_MAX 4096

struct tracked {
    bool active;
    int64_t starts_ms;
    int64_t resolved_ms; /* 0 while active or never resolved */
};

struct alertpush {
    const struct config *cfg;
    struct state *state;
    struct alert_labels labels;
    char *instance;
    char *generator_url;
    struct tracked *tracked;    /* ndbs * ALERT_KIND_COUNT */
    struct alert_event *events; /* EVAL_SLICE * ALERT_KIND_COUNT: one slice's */
    char **post_urls;           /* urls + /api/v2/alerts */
    int64_t next_resend_ms;
    struct ticker ticker;
};

static int64_t evaluate(void *arg);

struct alertpush *alertpush_new(const struct config *cfg, struct state *st, const char *instance)
{
    const struct alertmanager_config *am = &cfg->am;
    struct alertpush *ap;

    if (am->nurls == 0)
        return NULL;
    ap = calloc(1, sizeof(*ap));
    if (ap == NULL)
        return NULL;
    ap->cfg = cfg;
    ap->state = st;
    ticker_init(&ap->ticker, "alertpush", evaluate, ap);
    ap->instance = strdup(instance);
    if (am->external_url != NULL)
        ap->generator_url = strdup(am->external_url);
    else if (asprintf(&ap->generator_url, "http://%s/", instance) < 0)
        ap->generator_url = NULL;
    size_t n = cfg->ndbs ? cfg->ndbs : 1;
    ap->tracked = calloc(n * ALERT_KIND_COUNT, sizeof(*ap->tracked));
    ap->events = calloc(EVAL_SLICE * ALERT_KIND_COUNT, sizeof(*ap->events));
    ap->post_urls = calloc(am->nurls, sizeof(*ap->post_urls));
    if (ap->instance == NULL || ap->generator_url == NULL || ap->tracked == NULL ||
        ap->events == NULL || ap->post_urls == NULL) {
        alertpush_free(ap);
        return NULL;
    }
    for (size_t i = 0; i < am->nurls; i++) {
        const char *base = am->urls[i];
        size_t len = strlen(base);
        const char *sep = len > 0 && base[len - 1] == '/' ? "" : "/";
        if (asprintf(&ap->post_urls[i], "%s%sapi/v2/alerts", base, sep) < 0) {
            ap->post_urls[i] = NULL;
            alertpush_free(ap);
            return NULL;
        }
    }
    ap->labels.instance = ap->instance;
    ap->labels.generator_url = ap->generator_url;
    ap->labels.runbook_url = am->runbook_url;
    return ap;
}

void alertpush_free(struct alertpush *ap)
{
    if (ap == NULL)
        return;
    for (size_t i = 0; ap->post_urls != NULL && i < ap->cfg->am.nurls; i++)
        free(ap->post_urls[i]);
    free(ap->post_urls);
    free(ap->events);
    free(ap->tracked);
    free(ap->generator_url);
    free(ap->instance);
    ticker_destroy(&ap->ticker);
    free(ap);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Aborts a post under way when the agent stops or reloads: a slow Alertmanager must not hold
 * up SIGTERM for the whole timeout. */
static int on_transfer(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return ticker_stopping(arg) ? 1 : 0;
}

/* The first line of the file at path into out (cap bytes with its NUL), as Prometheus reads
 * password_file and credentials_file (trailing newline and spaces dropped). 0, or -1 logged
 * (a line longer than the cap is an error, not a shorter secret). */
static int read_secret(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    int rc = -1;

    if (f == NULL) {
        log_warn("cannot read an Alertmanager secret", "file", path, "error", strerror(errno),
                 NULL);
        return -1;
    }
    if (fgets(out, (int)cap, f) == NULL) {
        log_warn("empty Alertmanager secret file", "file", path, NULL);
        goto out;
    }
    size_t n = strcspn(out, "\n");
    if (out[n] != '\n' && !feof(f) && getc(f) != EOF) {
        log_warn("Alertmanager secret longer than its cap", "file", path, NULL);
        goto out;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    rc = 0;
out:
    fclose(f);
    if (rc != 0)
        explicit_bzero(out, cap);
    return rc;
}

/* TLS and auth toward Alertmanager, from [alertmanager]. secret is SECRET_MAX bytes the caller
 * wipes after the transfer. Returns 0, or -1 when a secret file cannot be read. */
static int set_tls_and_auth(CURL *c, const struct alertmanager_config *am, char *secret)
{
    if (am->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, am->ca_file);
    if (am->cert_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, am->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, am->key_file);
    }
    if (am->username != NULL) {
        if (read_secret(am->password_file, secret, SECRET_MAX) != 0)
            return -1;
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, am->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, secret);
    } else if (am->bearer_token_file != NULL) {
        if (read_secret(am->bearer_token_file, secret, SECRET_MAX) != 0)
            return -1;
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, secret);
    }
    return 0;
}

/* POSTs body to one Alertmanager. Returns 0 on a 2xx answer. */
static int post_one(struct alertpush *ap, const char *url, const struct buf *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char err[CURL_ERROR_SIZE] = "";
    char secret[SECRET_MAX];
    long status = 0;
    int rc = -1;

    if (c == NULL)
        return -1;
    if (set_tls_and_auth(c, &ap->cfg->am, secret) != 0) {
        curl_easy_cleanup(c);
        return -1;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ap->cfg->am.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_transfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ap->ticker);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        rc = 0;
    } else {
        char code[16];
        snprintf(code, sizeof(code), "%ld", status);
        log_warn("cannot post alerts to Alertmanager", "url", url, "status", code, "error",
                 err[0] ? err : curl_easy_strerror(cc), NULL);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    explicit_bzero(secret, sizeof(secret));
    return rc;
}

/*
 * Updates the tracked alerts from snap (a slice of at most EVAL_SLICE databases) and collects
 * what to post: with resend, everything firing and recently resolved; otherwise only what
 * changed since the last evaluation.
 */
static size_t collect(struct alertpush *ap, const struct snapshot *snap, int64_t now, bool resend)
{
    const struct config *cfg = ap->cfg;
    int64_t ends = now + ENDS_AFTER_RESENDS * cfg->am.resend_interval_ms;
    size_t n = 0;

    for (size_t i = 0; i < snap->ndbs && i < EVAL_SLICE && snap->first + i < cfg->ndbs; i++) {
        size_t db = snap->first + i;
        for (int k = 0; k < ALERT_KIND_COUNT; k++) {
            struct tracked *t = &ap->tracked[db * ALERT_KIND_COUNT + (size_t)k];
            bool on = alerts_active((enum alert_kind)k, &snap->dbs[i], &cfg->dbs[db],
                                    snap->agent.start_ms, now);
            bool changed = on != t->active;
            if (on && !t->active) {
                t->starts_ms = now;
                t->resolved_ms = 0;
            } else if (!on && t->active) {
                t->resolved_ms = now;
            }
            t->active = on;
            bool recent = t->resolved_ms != 0 && now - t->resolved_ms < RESOLVED_KEEP_MS;
            if (!(changed || (resend && (on || recent))))
                continue;
            ap->events[n++] = (struct alert_event){
                .kind = (enum alert_kind)k,
                .db = &snap->dbs[i],
                .starts_ms = t->starts_ms,
                .ends_ms = on ? ends : t->resolved_ms,
            };
        }
    }
    return n;
}

/* Evaluates every database a slice at a time and renders the events of each slice while its
 * copy is alive, into one JSON array. Returns how many events it holds. */
static size_t collect_all(struct alertpush *ap, int64_t now, bool resend, struct buf *body)
{
    size_t total = 0;

    buf_puts(body, "[");
    for (size_t first = 0; first < ap->cfg->ndbs; first += EVAL_SLICE) {
        struct snapshot *snap = state_snapshot_range(ap->state, first, EVAL_SLICE, now);
        if (snap == NULL)
            break; /* out of memory: what was collected is posted, the rest is next round's */
        size_t n = collect(ap, snap, now, resend);
        alerts_render_items(ap->events, n, &ap->labels, total == 0, body);
        total += n;
        snapshot_free(snap);
    }
    buf_puts(body, "]");
    return total;
}

/* One round of the alert thread. */
static int64_t evaluate(void *arg)
{
    struct alertpush *ap = arg;
    int64_t now = clock_wall_ms();
    int64_t mono = clock_mono_ms();
    bool resend = mono >= ap->next_resend_ms;
    struct buf body;

    if (resend)
        ap->next_resend_ms = mono + ap->cfg->am.resend_interval_ms;
    buf_init(&body, BODY_MAX);
    if (collect_all(ap, now, resend, &body) > 0 && !body.failed) {
        for (size_t i = 0; i < ap->cfg->am.nurls && !ticker_stopping(&ap->ticker); i++)
            state_alert_post_done(ap->state, post_one(ap, ap->post_urls[i], &body) == 0);
    }
    buf_free(&body);
    return EVAL_INTERVAL_MS;
}

int alertpush_start(struct alertpush *ap)
{
    return ticker_start(&ap->ticker);
}

void alertpush_stop(struct alertpush *ap)
{
    if (ap != NULL)
        ticker_stop(&ap->ticker);
}
