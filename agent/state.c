/*
 * state.c: the snapshot, behind one mutex.
 *
 * Writers (sampler, checkers, HTTP for its own counters) copy small structs in; the reader copies
 * the whole thing out. The mutex is never held across I/O or across a call into another module.
 */
#include "state.h"
#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A malformed run's text (check_state.first_problem, indexes, problem_rows), heap strings. */
struct problem_text {
    char *first_problem;
    char *indexes;
    char *problem_rows;
};

static void problem_text_free(struct problem_text *t)
{
    free(t->first_problem);
    free(t->indexes);
    free(t->problem_rows);
    *t = (struct problem_text){0};
}

struct db_entry {
    char *name; /* owned */
    char *path; /* owned */
    enum check_kind kind;
    bool basic; /* metrics = basic */
    int64_t check_interval_ms;
    int64_t watched_since_ms; /* Unix ms: first configured (kept over reloads and rescans) */
    struct sample sample;
    struct check_state check;
    struct proc_usage procs;
    struct risk risk;
    struct watch_state watch;
    struct evidence_state evidence;
    /* The text check_state and evidence_state point to in a snapshot, owned here, NULL when
     * unset; the entry's own check and evidence leave those pointers NULL. */
    struct problem_text text;
    char *evidence_path;
};

struct state {
    pthread_mutex_t lock;
    struct agent_stats agent;
    size_t ndbs;
    struct db_entry *dbs;
    size_t nglobs;
    struct glob_stats *globs;
    uint64_t generation; /* bumped by every change a render shows (not by samples mid-pass) */
};

static const char *const result_names[CHECK_RESULT_COUNT] = {
    [CHECK_RESULT_OK] = "ok",       [CHECK_RESULT_MALFORMED] = "malformed",
    [CHECK_RESULT_BUSY] = "busy",   [CHECK_RESULT_TIMEOUT] = "timeout",
    [CHECK_RESULT_ERROR] = "error",
};

const char *state_check_result_str(enum check_result r)
{
    return (unsigned)r < CHECK_RESULT_COUNT ? result_names[r] : "unknown";
}

static const char *const evidence_names[EVIDENCE_RESULT_COUNT] = {
    [EVIDENCE_OK] = "ok",
    [EVIDENCE_TOO_BIG] = "too_big",
    [EVIDENCE_NO_SPACE] = "no_space",
    [EVIDENCE_ERROR] = "error",
};

const char *state_evidence_result_str(enum evidence_result r)
{
    return (unsigned)r < EVIDENCE_RESULT_COUNT ? evidence_names[r] : "unknown";
}

struct state *state_new(int64_t start_ms)
{
    struct state *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->agent.start_ms = start_ms;
    s->agent.last_reload_ok = true;
    s->agent.last_reload_ok_ms = start_ms;
    return s;
}

static void free_entries(struct db_entry *dbs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(dbs[i].name);
        free(dbs[i].path);
        problem_text_free(&dbs[i].text);
        free(dbs[i].evidence_path);
    }
    free(dbs);
}

void state_free(struct state *s)
{
    if (s == NULL)
        return;
    free_entries(s->dbs, s->ndbs);
    free(s->globs);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static bool entry_is(const struct db_entry *e, const char *name, const char *path)
{
    return strcmp(e->name, name) == 0 && strcmp(e->path, path) == 0;
}

/* The old entry of this name and path, looked for at *hint first: a rescan (fleet.c) keeps the
 * order and adds or drops a few, so a fleet of 10,000 is matched in one walk, not 10,000. */
static struct db_entry *find_entry(const struct state *s, const char *name, const char *path,
                                   size_t *hint)
{
    if (*hint < s->ndbs && entry_is(&s->dbs[*hint], name, path))
        return &s->dbs[(*hint)++];
    for (size_t i = 0; i < s->ndbs; i++)
        if (entry_is(&s->dbs[i], name, path)) {
            *hint = i + 1;
            return &s->dbs[i];
        }
    return NULL;
}

int state_configure(struct state *s, const struct config *cfg)
{
    struct db_entry *dbs = calloc(cfg->ndbs ? cfg->ndbs : 1, sizeof(*dbs));

    if (dbs == NULL)
        return -1;
    for (size_t i = 0; i < cfg->ndbs; i++) {
        dbs[i].name = strdup(cfg->dbs[i].name);
        dbs[i].path = strdup(cfg->dbs[i].path);
        if (dbs[i].name == NULL || dbs[i].path == NULL) {
            free_entries(dbs, i + 1);
            return -1;
        }
        dbs[i].kind = cfg->dbs[i].check;
        dbs[i].basic = cfg->dbs[i].metrics == METRICS_BASIC;
        dbs[i].check_interval_ms = cfg->dbs[i].check_interval_ms;
        dbs[i].watched_since_ms = clock_wall_ms();
    }

    size_t hint = 0;
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    for (size_t i = 0; i < cfg->ndbs; i++) {
        struct db_entry *old = find_entry(s, dbs[i].name, dbs[i].path, &hint);
        if (old != NULL) {
            dbs[i].watched_since_ms = old->watched_since_ms;
            dbs[i].sample = old->sample;
            dbs[i].procs = old->procs;
            dbs[i].risk = old->risk;
            dbs[i].watch = old->watch;
            dbs[i].watch.watched = false; /* the new watch says again */
            dbs[i].evidence = old->evidence;
            dbs[i].evidence_path = old->evidence_path; /* moved: freed with the new entry */
            old->evidence_path = NULL;
            /* Checks turned off: the last verdict would stand for good with nothing to clear
             * it, so the history goes with them (its text is freed with the old entry). */
            if (dbs[i].kind != CHECK_OFF) {
                dbs[i].check = old->check;
                dbs[i].text = old->text;
                old->text = (struct problem_text){0};
            }
            dbs[i].check.running = false;
        }
    }
    struct db_entry *gone = s->dbs;
    size_t ngone = s->ndbs;
    s->dbs = dbs;
    s->ndbs = cfg->ndbs;
    pthread_mutex_unlock(&s->lock);

    free_entries(gone, ngone);
    return 0;
}

void state_put_sample(struct state *s, size_t idx, const struct sample *sm)
{
    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs)
        s->dbs[idx].sample = *sm;
    pthread_mutex_unlock(&s->lock);
}

void state_sample_pass_done(struct state *s, double seconds)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    s->agent.sample_passes++;
    s->agent.last_sample_pass_s = seconds;
    s->agent.last_sample_pass_end_ms = clock_mono_ms(); /* the watchdog's sign of life */
    pthread_mutex_unlock(&s->lock);
}

void state_put_risk(struct state *s, size_t idx, const struct proc_usage *u, const struct risk *r)
{
    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs) {
        s->dbs[idx].procs = *u;
        s->dbs[idx].risk = *r;
    }
    pthread_mutex_unlock(&s->lock);
}

void state_proc_scan_done(struct state *s, double seconds, const struct procscan_stats *st)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    s->agent.proc_scanned = true;
    s->agent.last_proc_scan_s = seconds;
    s->agent.procs = *st;
    pthread_mutex_unlock(&s->lock);
}

static void set_running(struct state *s, size_t idx, bool running)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    if (idx < s->ndbs)
        s->dbs[idx].check.running = running;
    pthread_mutex_unlock(&s->lock);
}

void state_check_begin(struct state *s, size_t idx)
{
    set_running(s, idx, true);
}

void state_check_abandoned(struct state *s, size_t idx)
{
    set_running(s, idx, false);
}

/* A copy of text, NULL for "" (unset) or when out of memory: the text is for display, and a
 * run's verdict must not wait on it. */
static char *text_dup(const char *text, size_t max)
{
    return text[0] != '\0' ? strndup(text, max) : NULL;
}

/* What the alert and the evidence copy say about a malformed run; all NULL for another.
 * Built before taking the lock: the lock is held for copies only. */
static void problem_text_build(const struct check_outcome *o, struct problem_text *t)
{
    char first[STATE_FIRST_PROBLEM_MAX], indexes[STATE_INDEXES_MAX];

    *t = (struct problem_text){0};
    if (o->result != CHECK_RESULT_MALFORMED)
        return;
    size_t len = strnlen(o->detail, sizeof(o->detail));
    if (len == sizeof(o->detail))
        return; /* not a string: no text rather than a read past it */
    t->problem_rows = text_dup(o->detail, len);
    problems_first_message(o->detail, first, sizeof(first));
    t->first_problem = text_dup(first, sizeof(first));
    bool cut = len == sizeof(o->detail) - 1; /* the last row may be cut */
    if (problems_index_list(o->detail, cut, indexes, sizeof(indexes)) < 0)
        indexes[0] = '\0'; /* a partial list must not read as the whole repair */
    t->indexes = text_dup(indexes, sizeof(indexes));
}

/* The kinds of a completed run, and what the alert says about them: the entry takes *t and
 * *t gets the previous text, for the caller to free after the lock. */
static void apply_problems(struct db_entry *e, const struct check_outcome *o, bool was,
                           struct problem_text *t)
{
    struct check_state *c = &e->check;
    struct problem_text old = e->text;

    memcpy(c->kinds, o->kinds, sizeof(c->kinds));
    e->text = *t;
    *t = old;
    if (!c->malformed)
        return;
    if (problems_worst(c->kinds) < 0)
        c->kinds[problems_classify_failure(o->detail)] = 1; /* SQLITE_CORRUPT, no rows */
    if (!was)
        c->malformed_episodes++;
}

void state_check_progress(struct state *s, size_t idx, const struct check_progress *p)
{
    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs) {
        struct check_state *c = &s->dbs[idx].check;
        c->units_done = p->units_done;
        c->units_total = p->units_total;
        c->yields += p->new_yields;
        c->read_bytes += p->new_read_bytes;
        c->snapshot_now_s = p->snapshot_max_s;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Busy, timeout and error runs change only the counters and the duration: a check that could
 * not run says nothing about the image, so the last verdict stands. */
static void apply_outcome(struct db_entry *e, const struct check_outcome *o, struct problem_text *t)
{
    struct check_state *c = &e->check;

    c->running = false;
    c->last_kind = o->kind;
    c->last_result = o->result;
    c->duration_s = o->duration_s;
    c->runs[o->kind][o->result]++;
    c->failures_since_success++;
    c->read_bytes += o->read_bytes;
    c->snapshot_max_s = o->snapshot_max_s;
    c->snapshot_now_s = 0;
    c->units_done = o->units_done;
    c->units_total = o->units_total;
    if (o->result == CHECK_RESULT_OK || o->result == CHECK_RESULT_MALFORMED) {
        c->failures_since_success = 0;
        if (o->whole_file)
            c->last_whole_file_ms = o->finished_ms;
        c->completed_once = true;
        bool was = c->malformed;
        c->malformed = o->result == CHECK_RESULT_MALFORMED;
        c->problems = o->problems;
        c->last_success_ms = o->finished_ms;
        apply_problems(e, o, was, t);
    }
}

bool state_check_end(struct state *s, size_t idx, const struct check_outcome *o)
{
    struct problem_text t;
    bool was = false;

    if ((unsigned)o->kind >= CHECK_KIND_COUNT || (unsigned)o->result >= CHECK_RESULT_COUNT)
        return false;
    problem_text_build(o, &t);
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    if (idx < s->ndbs) {
        was = s->dbs[idx].check.malformed;
        apply_outcome(&s->dbs[idx], o, &t); /* t: the text it replaced, if any */
        s->agent.check_runs[o->result]++;
    }
    pthread_mutex_unlock(&s->lock);
    problem_text_free(&t);
    return was;
}

const char *state_watch_anomaly_str(enum watch_anomaly a)
{
    static const char *const names[WATCH_ANOMALY_COUNT] = {
        [WATCH_BACKFILL_PAST_END] = "backfill_past_end",
        [WATCH_UNSTABLE_HEADER] = "unstable_header",
    };

    return (unsigned)a < WATCH_ANOMALY_COUNT ? names[a] : "unknown";
}

void state_watch_set(struct state *s, size_t idx, bool watched)
{
    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs)
        s->dbs[idx].watch.watched = watched;
    pthread_mutex_unlock(&s->lock);
}

void state_watch_add(struct state *s, size_t idx, const struct watch_counts *add, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs) {
        struct watch_state *w = &s->dbs[idx].watch;
        for (int k = 0; k < WATCH_ANOMALY_COUNT; k++)
            w->counts.anomalies[k] += add->anomalies[k];
        w->counts.audits += add->audits;
        w->counts.audits_dropped += add->audits_dropped;
        w->counts.pages_audited += add->pages_audited;
        w->counts.frames_read += add->frames_read;
        w->counts.lost_pages += add->lost_pages;
        if (add->lost_pages > 0 || add->anomalies[WATCH_BACKFILL_PAST_END] > 0) {
            w->race_signal = true;
            w->last_signal_ms = now_ms;
        }
        /* A finding is rendered at the next chance; the audits' routine counts can wait for
         * the next change (expo.h: at most EXPO_MAX_AGE_MS). */
        if (add->lost_pages > 0 || add->anomalies[WATCH_BACKFILL_PAST_END] > 0 ||
            add->anomalies[WATCH_UNSTABLE_HEADER] > 0)
            s->generation++;
    }
    pthread_mutex_unlock(&s->lock);
}

void state_evidence_done(struct state *s, size_t idx, uint64_t episode, enum evidence_result r,
                         const char *path, int64_t now_ms)
{
    char *copy = NULL;

    if ((unsigned)r >= EVIDENCE_RESULT_COUNT)
        return;
    if (r == EVIDENCE_OK && path != NULL)
        copy = text_dup(path, EVIDENCE_PATH_MAX - 1);
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    if (idx < s->ndbs) {
        struct db_entry *d = &s->dbs[idx];
        d->evidence.copies[r]++;
        d->evidence.episode = episode;
        if (r == EVIDENCE_OK && path != NULL) {
            char *old = d->evidence_path;
            d->evidence_path = copy;
            copy = old; /* freed after the lock */
            d->evidence.last_ok_ms = now_ms;
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(copy);
}

bool state_watch_exposed(struct state *s, size_t idx)
{
    bool exposed = false;

    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs)
        exposed = s->dbs[idx].risk.reason[RISK_WAL_RESET_RACE];
    pthread_mutex_unlock(&s->lock);
    return exposed;
}

bool state_race_signal_take(struct state *s, size_t idx)
{
    bool was = false;

    pthread_mutex_lock(&s->lock);
    if (idx < s->ndbs) {
        was = s->dbs[idx].watch.race_signal;
        s->dbs[idx].watch.race_signal = false;
    }
    pthread_mutex_unlock(&s->lock);
    return was;
}

uint64_t state_check_completed_runs(struct state *s, size_t idx)
{
    uint64_t n = 0;

    pthread_mutex_lock(&s->lock);
    for (int k = 0; idx < s->ndbs && k < CHECK_KIND_COUNT; k++)
        n += s->dbs[idx].check.runs[k][CHECK_RESULT_OK] +
             s->dbs[idx].check.runs[k][CHECK_RESULT_MALFORMED];
    pthread_mutex_unlock(&s->lock);
    return n;
}

void state_scrape_done(struct state *s, double render_seconds)
{
    pthread_mutex_lock(&s->lock);
    s->agent.scrapes++;
    s->agent.last_render_s = render_seconds;
    pthread_mutex_unlock(&s->lock);
}

void state_http_closed(struct state *s, unsigned deadline, unsigned hangup)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    s->agent.http_closed[0] += deadline;
    s->agent.http_closed[1] += hangup;
    pthread_mutex_unlock(&s->lock);
}

void state_reload_done(struct state *s, bool ok, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    s->agent.reloads[ok ? 1 : 0]++;
    s->agent.last_reload_ok = ok;
    if (ok)
        s->agent.last_reload_ok_ms = now_ms;
    pthread_mutex_unlock(&s->lock);
}

void state_alert_post_done(struct state *s, bool ok)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    s->agent.alert_posts[ok ? 1 : 0]++;
    pthread_mutex_unlock(&s->lock);
}

void state_http_denied(struct state *s, bool client_cert)
{
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    s->agent.http_denied[client_cert ? 1 : 0]++;
    pthread_mutex_unlock(&s->lock);
}

static size_t opt_len(const char *text)
{
    return text != NULL ? strlen(text) + 1 : 0;
}

/* Bytes needed for the names, paths and text of dbs[first..first+n), with their terminators.
 * Called with the lock held. */
static size_t strings_size(const struct state *s, size_t first, size_t n)
{
    size_t total = 0;

    for (size_t i = first; i < first + n; i++) {
        const struct db_entry *e = &s->dbs[i];
        total += strlen(e->name) + 1 + strlen(e->path) + 1;
        total += opt_len(e->text.first_problem) + opt_len(e->text.indexes) +
                 opt_len(e->text.problem_rows) + opt_len(e->evidence_path);
    }
    return total;
}

static char *copy_string(char **cursor, const char *src)
{
    size_t n = strlen(src) + 1;
    char *dst = *cursor;

    memcpy(dst, src, n);
    *cursor += n;
    return dst;
}

/* NULL stays NULL (unset). */
static const char *copy_opt(char **cursor, const char *src)
{
    return src != NULL ? copy_string(cursor, src) : NULL;
}

static void copy_entry(struct db_snapshot *d, const struct db_entry *e, char **cursor)
{
    d->name = copy_string(cursor, e->name);
    d->path = copy_string(cursor, e->path);
    d->kind = e->kind;
    d->basic = e->basic;
    d->check_interval_ms = e->check_interval_ms;
    d->watched_since_ms = e->watched_since_ms;
    d->sample = e->sample;
    d->check = e->check;
    d->check.first_problem = copy_opt(cursor, e->text.first_problem);
    d->check.indexes = copy_opt(cursor, e->text.indexes);
    d->check.problem_rows = copy_opt(cursor, e->text.problem_rows);
    d->procs = e->procs;
    d->risk = e->risk;
    d->watch = e->watch;
    d->evidence = e->evidence;
    d->evidence.path = copy_opt(cursor, e->evidence_path);
}

/*
 * dbs[first..first+n) and the agent's own counts. Allocation happens under the lock so the
 * sizes cannot change between measuring and copying; the copy is a memcpy a database.
 * Called with the lock held; NULL when out of memory.
 */
static struct snapshot *snapshot_locked(struct state *s, size_t first, size_t n, int64_t now_ms)
{
    struct snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL)
        return NULL;
    snap->taken_ms = now_ms;
    snap->agent = s->agent;
    snap->agent.log_dropped = log_lines_dropped();
    snap->first = first;
    snap->ndbs = n;
    snap->dbs = calloc(n ? n : 1, sizeof(*snap->dbs));
    snap->strings = malloc(strings_size(s, first, n) + 1);
    snap->nglobs = s->nglobs;
    snap->globs = calloc(s->nglobs ? s->nglobs : 1, sizeof(*snap->globs));
    if (snap->dbs == NULL || snap->strings == NULL || snap->globs == NULL) {
        snapshot_free(snap);
        return NULL;
    }
    char *cursor = snap->strings;
    for (size_t i = 0; i < n; i++)
        copy_entry(&snap->dbs[i], &s->dbs[first + i], &cursor);
    if (s->nglobs > 0)
        memcpy(snap->globs, s->globs, s->nglobs * sizeof(*s->globs));
    return snap;
}

struct snapshot *state_snapshot(struct state *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    struct snapshot *snap = snapshot_locked(s, 0, s->ndbs, now_ms);
    pthread_mutex_unlock(&s->lock);
    return snap;
}

struct snapshot *state_snapshot_range(struct state *s, size_t first, size_t n, int64_t now_ms)
{
    struct snapshot *snap = NULL;

    pthread_mutex_lock(&s->lock);
    if (first < s->ndbs)
        snap = snapshot_locked(s, first, n < s->ndbs - first ? n : s->ndbs - first, now_ms);
    pthread_mutex_unlock(&s->lock);
    return snap;
}

int64_t state_last_sample_pass_end_ms(struct state *s)
{
    pthread_mutex_lock(&s->lock);
    int64_t t = s->agent.last_sample_pass_end_ms;
    pthread_mutex_unlock(&s->lock);
    return t;
}

bool state_evidence_next_due(struct state *s, size_t from, size_t *idx)
{
    bool found = false;

    pthread_mutex_lock(&s->lock);
    for (size_t i = from; i < s->ndbs && !found; i++) {
        const struct db_entry *e = &s->dbs[i];
        if (e->check.malformed && e->check.malformed_episodes != e->evidence.episode) {
            *idx = i;
            found = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void snapshot_free(struct snapshot *snap)
{
    if (snap == NULL)
        return;
    free(snap->dbs);
    free(snap->strings);
    free(snap->globs);
    free(snap);
}

void state_put_globs(struct state *s, const struct glob_stats *g, size_t n)
{
    struct glob_stats *copy = calloc(n ? n : 1, sizeof(*copy));

    if (copy == NULL)
        return;
    if (n > 0)
        memcpy(copy, g, n * sizeof(*g));
    pthread_mutex_lock(&s->lock);
    s->generation++; /* for expo.c: something to render again */
    struct glob_stats *old = s->globs;
    s->globs = copy;
    s->nglobs = n;
    pthread_mutex_unlock(&s->lock);
    free(old);
}

uint64_t state_generation(struct state *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t g = s->generation;
    pthread_mutex_unlock(&s->lock);
    return g;
}

void state_render_done(struct state *s, double render_seconds)
{
    pthread_mutex_lock(&s->lock);
    s->agent.last_render_s = render_seconds;
    pthread_mutex_unlock(&s->lock);
}

void state_scrape_served(struct state *s)
{
    pthread_mutex_lock(&s->lock);
    s->agent.scrapes++;
    pthread_mutex_unlock(&s->lock);
}

uint64_t state_sample_passes(struct state *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->agent.sample_passes;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int64_t state_check_last_success_ms(struct state *s, size_t idx)
{
    pthread_mutex_lock(&s->lock);
    int64_t t = idx < s->ndbs ? s->dbs[idx].check.last_success_ms : 0;
    pthread_mutex_unlock(&s->lock);
    return t;
}

size_t state_copy_samples(struct state *s, struct sample *out, size_t n)
{
    pthread_mutex_lock(&s->lock);
    n = n < s->ndbs ? n : s->ndbs;
    for (size_t i = 0; i < n; i++)
        out[i] = s->dbs[i].sample;
    pthread_mutex_unlock(&s->lock);
    return n;
}
