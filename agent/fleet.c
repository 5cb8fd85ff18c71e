/* fleet.c: glob sections expanded into the database list; see fleet.h for the rules. */
#include "fleet.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "safeopen.h"

/* fileformat2, 1.3: "Every valid SQLite database file begins with the following 16 bytes (in
 * hex): 53 51 4c 69 74 65 20 66 6f 72 6d 61 74 20 33 00" ("SQLite format 3\0"). */
static const unsigned char sqlite_magic[16] = "SQLite format 3";

/* Descriptors the probe could not close safely (see probe_file), held until fleet_free. */
#define FLEET_PARKED_MAX 64

/* ---- the pure part --------------------------------------------------------------------- */

size_t fleet_fixed_prefix(const char *pattern)
{
    size_t meta = strcspn(pattern, "*?[\\");
    size_t slash = 0;

    for (size_t i = 0; i < meta; i++)
        if (pattern[i] == '/')
            slash = i + 1;
    return slash;
}

int fleet_label(const char *group, const char *pattern, const char *path, char *out, size_t len)
{
    size_t pre = fleet_fixed_prefix(pattern);

    if (strncmp(path, pattern, pre) != 0)
        return -1;
    int n = snprintf(out, len, "%s/%s", group, path + pre);
    if (n < 0 || (size_t)n >= len || (size_t)n > FLEET_MAX_LABEL)
        return -1;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool fleet_excluded_name(const char *path)
{
    return ends_with(path, "-wal") || ends_with(path, "-shm") || ends_with(path, "-journal");
}

bool fleet_sqlite_magic(const unsigned char *buf, size_t len)
{
    return len >= sizeof(sqlite_magic) && memcmp(buf, sqlite_magic, sizeof(sqlite_magic)) == 0;
}

/* Sorting candidates by file, then by priority (their index). */
struct merge_sort {
    const struct fleet_candidate *c;
    size_t i;
};

static int by_file(const void *a, const void *b)
{
    const struct merge_sort *x = a, *y = b;
    const struct fleet_candidate *p = &x->c[x->i], *q = &y->c[y->i];

    if (p->has_id != q->has_id)
        return p->has_id ? -1 : 1;
    if (p->has_id && p->dev != q->dev)
        return p->dev < q->dev ? -1 : 1;
    if (p->has_id && p->ino != q->ino)
        return p->ino < q->ino ? -1 : 1;
    if (!p->has_id) {
        int r = strcmp(p->path, q->path);
        if (r != 0)
            return r;
    }
    return x->i < y->i ? -1 : x->i > y->i;
}

static int by_label(const void *a, const void *b)
{
    const struct merge_sort *x = a, *y = b;
    int r = strcmp(x->c[x->i].label, y->c[y->i].label);

    return r != 0 ? r : (x->i < y->i ? -1 : x->i > y->i);
}

static bool same_file(const struct fleet_candidate *p, const struct fleet_candidate *q)
{
    if (p->has_id != q->has_id)
        return false;
    return p->has_id ? p->dev == q->dev && p->ino == q->ino : strcmp(p->path, q->path) == 0;
}

/* Files matched twice: an explicit section keeps the file (and two explicit ones both keep
 * it: that is how one file gets a quick check hourly and an integrity check daily); else the
 * first glob match does. */
static void mark_duplicates(struct merge_sort *s, size_t n, enum fleet_verdict *out)
{
    qsort(s, n, sizeof(*s), by_file);
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && same_file(&s->c[s[a].i], &s->c[s[b].i]))
            b++;
        /* s[a] has the lowest index: explicit sections come first. */
        bool explicit_ = s->c[s[a].i].from_section;
        for (size_t k = a + 1; k < b; k++)
            if (!(explicit_ && s->c[s[k].i].from_section))
                out[s[k].i] = FLEET_DUPLICATE;
        a = b;
    }
}

static void mark_labels(struct merge_sort *s, size_t n, enum fleet_verdict *out)
{
    size_t m = 0;

    for (size_t k = 0; k < n; k++)
        if (out[s[k].i] == FLEET_WATCH)
            s[m++] = s[k];
    qsort(s, m, sizeof(*s), by_label);
    for (size_t k = 1; k < m; k++)
        if (strcmp(s->c[s[k].i].label, s->c[s[k - 1].i].label) == 0)
            out[s[k].i] = FLEET_LABEL_USED;
}

int fleet_merge(const struct fleet_candidate *c, size_t n, size_t max, enum fleet_verdict *out)
{
    struct merge_sort *s = calloc(n ? n : 1, sizeof(*s));
    size_t watched = 0;

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        s[i].c = c;
        s[i].i = i;
        out[i] = FLEET_WATCH;
    }
    mark_duplicates(s, n, out);
    mark_labels(s, n, out);
    for (size_t i = 0; i < n; i++) {
        if (out[i] != FLEET_WATCH)
            continue;
        if (!c[i].from_section && watched >= max)
            out[i] = FLEET_OVER_LIMIT;
        else
            watched++;
    }
    free(s);
    return 0;
}

/* ---- the rescans ------------------------------------------------------------------------ */

/* A match of the last rescan of a group. */
struct fleet_file {
    char *path;
    char *label;
    dev_t dev;
    ino_t ino;
    bool sqlite; /* seen with an SQLite header, this rescan or before */
};

/* One [databases:NAME] section and what its rescans learnt. */
struct fleet_group {
    char *name;
    char *pattern;
    size_t conf;              /* its index in base->globs */
    struct fleet_file *files; /* sorted by path */
    size_t nfiles;
    int64_t next_ms; /* monotonic; 0: due */
    uint64_t errors;
    uint64_t long_labels; /* matches whose label would be over FLEET_MAX_LABEL */
    uint64_t over_limit;  /* of the last merge, for the log */
};

struct file_id {
    dev_t dev;
    ino_t ino;
};

struct fleet {
    struct state *state;
    struct fleet_group *groups;
    size_t ngroups;
    struct file_id *watched; /* sorted: the files the current list watches */
    size_t nwatched;
    int parked[FLEET_PARKED_MAX];
    size_t nparked;
};

struct fleet *fleet_new(struct state *st)
{
    struct fleet *f = calloc(1, sizeof(*f));

    if (f != NULL)
        f->state = st;
    return f;
}

static void files_free(struct fleet_file *files, size_t n)
{
    for (size_t i = 0; files != NULL && i < n; i++) {
        free(files[i].path);
        free(files[i].label);
    }
    free(files);
}

static void groups_free(struct fleet_group *g, size_t n)
{
    for (size_t i = 0; g != NULL && i < n; i++) {
        free(g[i].name);
        free(g[i].pattern);
        files_free(g[i].files, g[i].nfiles);
    }
    free(g);
}

void fleet_free(struct fleet *f)
{
    if (f == NULL)
        return;
    /* At exit, after the workers: no connection is open, so closing drops no lock. */
    for (size_t i = 0; i < f->nparked; i++)
        close(f->parked[i]);
    groups_free(f->groups, f->ngroups);
    free(f->watched);
    free(f);
}

int fleet_configure(struct fleet *f, const struct config *base)
{
    struct fleet_group *g = calloc(base->nglobs ? base->nglobs : 1, sizeof(*g));

    if (g == NULL)
        return -1;
    for (size_t i = 0; i < base->nglobs; i++) {
        const struct glob_config *gc = &base->globs[i];
        g[i].conf = i;
        g[i].name = strdup(gc->tmpl.name);
        g[i].pattern = strdup(gc->pattern);
        if (g[i].name == NULL || g[i].pattern == NULL) {
            groups_free(g, base->nglobs);
            return -1;
        }
        for (size_t j = 0; j < f->ngroups; j++) {
            struct fleet_group *old = &f->groups[j];
            if (old->files != NULL && strcmp(old->name, g[i].name) == 0 &&
                strcmp(old->pattern, g[i].pattern) == 0) {
                g[i].files = old->files;
                g[i].nfiles = old->nfiles;
                g[i].errors = old->errors;
                old->files = NULL;
                old->nfiles = 0;
            }
        }
    }
    groups_free(f->groups, f->ngroups);
    f->groups = g;
    f->ngroups = base->nglobs;
    return 0;
}

int64_t fleet_next_rescan_ms(const struct fleet *f)
{
    int64_t next = INT64_MAX;

    for (size_t i = 0; i < f->ngroups; i++)
        next = f->groups[i].next_ms < next ? f->groups[i].next_ms : next;
    return next;
}

static int by_id(const void *a, const void *b)
{
    const struct file_id *x = a, *y = b;

    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static bool is_watched(const struct fleet *f, dev_t dev, ino_t ino)
{
    struct file_id key = {dev, ino};

    return f->nwatched > 0 && bsearch(&key, f->watched, f->nwatched, sizeof(key), by_id) != NULL;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct fleet_file *)a)->path, ((const struct fleet_file *)b)->path);
}

static const struct fleet_file *file_find(const struct fleet_group *g, const char *path)
{
    struct fleet_file key = {.path = (char *)path};

    if (g->nfiles == 0)
        return NULL;
    return bsearch(&key, g->files, g->nfiles, sizeof(key), by_path);
}

/* A descriptor the probe opened on a file that turned out (fstat) to be one the agent watches:
 * closing it would drop the checkers' locks, so it stays open until fleet_free. Past the cap it
 * stays open for good: a leaked descriptor is harmless, a dropped lock is not. */
static void park(struct fleet *f, int fd)
{
    if (f->nparked < FLEET_PARKED_MAX)
        f->parked[f->nparked++] = fd;
    log_warn("a glob match changed into a watched file while its header was read; keeping the "
             "descriptor open",
             NULL);
}

/* Whether the regular file at path, (dev, ino) per stat, starts with the SQLite magic. Resolves
 * and opens it as every monitored file is (safeopen.h: the link rule, regular files only,
 * non-blocking, never created), reads 16 bytes and closes it; the caller has made sure no
 * watched database is this file. A file safeopen refuses is not SQLite to the fleet. */
static bool probe_file(struct fleet *f, const char *path, const struct stat *st)
{
    unsigned char buf[sizeof(sqlite_magic)];
    struct safeopen_path *rp = malloc(sizeof(*rp));
    struct stat now;
    bool sqlite = false;
    int fd = -1, err = 0;

    if (rp == NULL || safeopen_resolve(path, rp) != SAFEOPEN_OK)
        goto out;
    enum safeopen_result r = safeopen_open(rp->path, 0, &fd, &now, &err);
    if (fd < 0)
        goto out;
    if (r != SAFEOPEN_OK || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        /* Swapped between stat and open: this pass does not judge it. */
        if (is_watched(f, now.st_dev, now.st_ino)) {
            park(f, fd);
            fd = -1;
        }
        goto out;
    }
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    sqlite = n > 0 && fleet_sqlite_magic(buf, (size_t)n);
out:
    if (fd >= 0)
        close(fd);
    free(rp);
    return sqlite;
}

/* One glob(3) match into out. Returns 1, 0 when it is left out (excluded name, not a regular
 * file, gone, label too long), -1 when out of memory (out then holds what to free). */
static int file_make(struct fleet *f, struct fleet_group *g, const char *path,
                     struct fleet_file *out)
{
    char label[FLEET_MAX_LABEL + 1];
    struct stat st;

    if (fleet_excluded_name(path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (fleet_label(g->name, g->pattern, path, label, sizeof(label)) != 0) {
        g->long_labels++;
        return 0;
    }
    const struct fleet_file *old = file_find(g, path);
    memset(out, 0, sizeof(*out));
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    /* Seen before, or another section watches this file: never opened here (fleet.h). */
    if ((old != NULL && old->sqlite) || is_watched(f, st.st_dev, st.st_ino))
        out->sqlite = true;
    else
        out->sqlite = probe_file(f, path, &st);
    out->path = strdup(path);
    out->label = strdup(label);
    return out->path != NULL && out->label != NULL ? 1 : -1;
}

/* Globs g again. Returns 0, or -1 when out of memory; a glob error keeps the last matches. */
static int group_rescan(struct fleet *f, struct fleet_group *g)
{
    glob_t gl;
    struct fleet_file *files = NULL;
    size_t n = 0;
    int rc = glob(g->pattern, 0, NULL, &gl);

    if (rc == GLOB_NOMATCH) {
        gl.gl_pathc = 0;
    } else if (rc != 0) {
        g->errors++;
        log_warn("glob failed; keeping the last matches", "section", g->name, "glob", g->pattern,
                 NULL);
        if (rc != GLOB_NOSPACE)
            globfree(&gl);
        return 0;
    }
    g->long_labels = 0;
    files = calloc(gl.gl_pathc ? gl.gl_pathc : 1, sizeof(*files));
    for (size_t i = 0; files != NULL && i < gl.gl_pathc; i++) {
        int r = file_make(f, g, gl.gl_pathv[i], &files[n]);
        if (r < 0) {
            files_free(files, n + 1);
            files = NULL;
        }
        n += r > 0;
    }
    if (rc == 0)
        globfree(&gl);
    if (files == NULL)
        return -1;
    /* glob(3) sorts by strcoll; the lookups above and the next rescan's need strcmp order. */
    qsort(files, n, sizeof(*files), by_path);
    files_free(g->files, g->nfiles);
    g->files = files;
    g->nfiles = n;
    if (g->long_labels > 0)
        log_warn("glob matches skipped: their db label would be too long", "section", g->name,
                 NULL);
    return 0;
}

/* The candidates, explicit sections first; *ncand is set. NULL when out of memory. */
static struct fleet_candidate *candidates_build(const struct fleet *f, const struct config *base,
                                                size_t *ncand, size_t **group_of)
{
    size_t n = base->ndbs;

    for (size_t i = 0; i < f->ngroups; i++)
        n += f->groups[i].nfiles;
    struct fleet_candidate *c = calloc(n ? n : 1, sizeof(*c));
    size_t *gof = calloc(n ? n : 1, sizeof(*gof));
    if (c == NULL || gof == NULL) {
        free(c);
        free(gof);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < base->ndbs; i++, k++) {
        struct stat st;
        c[k].label = base->dbs[i].name;
        c[k].path = base->dbs[i].path;
        c[k].from_section = true;
        c[k].has_id = stat(c[k].path, &st) == 0;
        c[k].dev = c[k].has_id ? st.st_dev : 0;
        c[k].ino = c[k].has_id ? st.st_ino : 0;
        gof[k] = SIZE_MAX;
    }
    for (size_t i = 0; i < f->ngroups; i++) {
        for (size_t j = 0; j < f->groups[i].nfiles; j++) {
            const struct fleet_file *file = &f->groups[i].files[j];
            if (!file->sqlite)
                continue;
            c[k].label = file->label;
            c[k].path = file->path;
            c[k].has_id = true;
            c[k].dev = file->dev;
            c[k].ino = file->ino;
            gof[k++] = i;
        }
    }
    *ncand = k;
    *group_of = gof;
    return c;
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d = strdup(s);

    *ok = *ok && d != NULL;
    return d;
}

/* The watched list as db_config entries: explicit sections as configured, glob matches with
 * their section's keys. NULL when out of memory. */
static struct db_config *dbs_build(const struct fleet *f, const struct config *base,
                                   const struct fleet_candidate *c, const size_t *gof,
                                   const enum fleet_verdict *v, size_t n, size_t *ndbs)
{
    struct db_config *dbs = calloc(n ? n : 1, sizeof(*dbs));
    size_t m = 0;
    bool ok = dbs != NULL;

    for (size_t i = 0; ok && i < n; i++) {
        if (v[i] != FLEET_WATCH)
            continue;
        dbs[m] = gof[i] == SIZE_MAX ? base->dbs[i] : base->globs[f->groups[gof[i]].conf].tmpl;
        dbs[m].name = dup_or_null(c[i].label, &ok);
        dbs[m].path = dup_or_null(c[i].path, &ok);
        m++;
    }
    if (!ok) {
        for (size_t i = 0; dbs != NULL && i < m; i++) {
            free(dbs[i].name);
            free(dbs[i].path);
        }
        free(dbs);
        return NULL;
    }
    *ndbs = m;
    return dbs;
}

static bool same_list(const struct config *cur, const struct db_config *dbs, size_t n)
{
    if (cur == NULL || cur->ndbs != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(cur->dbs[i].name, dbs[i].name) != 0 ||
            strcmp(cur->dbs[i].path, dbs[i].path) != 0)
            return false;
    return true;
}

/* The files the new list watches, for the next rescan's probes. */
static int watched_set(struct fleet *f, const struct fleet_candidate *c,
                       const enum fleet_verdict *v, size_t n)
{
    struct file_id *ids = calloc(n ? n : 1, sizeof(*ids));
    size_t m = 0;

    if (ids == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (v[i] == FLEET_WATCH && c[i].has_id)
            ids[m++] = (struct file_id){c[i].dev, c[i].ino};
    qsort(ids, m, sizeof(*ids), by_id);
    free(f->watched);
    f->watched = ids;
    f->nwatched = m;
    return 0;
}

/* Per-section counts into the snapshot, and a log line when max_databases starts or stops
 * leaving files out. */
static void stats_put(struct fleet *f, const struct config *base, const size_t *gof,
                      const enum fleet_verdict *v, size_t n)
{
    struct glob_stats *gs = calloc(f->ngroups ? f->ngroups : 1, sizeof(*gs));

    if (gs == NULL || f->state == NULL) {
        free(gs);
        return;
    }
    for (size_t i = 0; i < f->ngroups; i++) {
        const struct fleet_group *g = &f->groups[i];
        snprintf(gs[i].group, sizeof(gs[i].group), "%s", g->name);
        gs[i].matched = g->nfiles + g->long_labels;
        gs[i].skipped = g->long_labels;
        for (size_t j = 0; j < g->nfiles; j++)
            gs[i].skipped += !g->files[j].sqlite;
        gs[i].errors = g->errors;
    }
    for (size_t i = 0; i < n; i++) {
        if (gof[i] == SIZE_MAX)
            continue;
        struct glob_stats *s = &gs[gof[i]];
        s->watched += v[i] == FLEET_WATCH;
        s->duplicate += v[i] == FLEET_DUPLICATE || v[i] == FLEET_LABEL_USED;
        s->over_limit += v[i] == FLEET_OVER_LIMIT;
    }
    for (size_t i = 0; i < f->ngroups; i++) {
        struct fleet_group *g = &f->groups[i];
        if (gs[i].over_limit != g->over_limit) {
            char lim[24], left[24];
            snprintf(lim, sizeof(lim), "%d", base->max_databases);
            snprintf(left, sizeof(left), "%llu", (unsigned long long)gs[i].over_limit);
            log_warn(gs[i].over_limit ? "max_databases reached: glob matches not watched"
                                      : "max_databases no longer leaves glob matches out",
                     "section", g->name, "max_databases", lim, "not_watched", left, NULL);
        }
        g->over_limit = gs[i].over_limit;
    }
    state_put_globs(f->state, gs, f->ngroups);
    free(gs);
}

int fleet_rescan(struct fleet *f, const struct config *base, const struct config *cur,
                 int64_t now_ms, struct config **out)
{
    struct fleet_candidate *c = NULL;
    enum fleet_verdict *v = NULL;
    size_t *gof = NULL, n = 0, ndbs = 0;
    struct db_config *dbs = NULL;
    int rc = -1;

    *out = NULL;
    for (size_t i = 0; i < f->ngroups; i++) {
        struct fleet_group *g = &f->groups[i];
        if (g->next_ms > now_ms)
            continue;
        if (group_rescan(f, g) != 0)
            goto out;
        g->next_ms = now_ms + base->globs[g->conf].rescan_interval_ms;
    }
    c = candidates_build(f, base, &n, &gof);
    v = calloc(n ? n : 1, sizeof(*v));
    if (c == NULL || v == NULL || fleet_merge(c, n, (size_t)base->max_databases, v) != 0)
        goto out;
    dbs = dbs_build(f, base, c, gof, v, n, &ndbs);
    if (dbs == NULL || watched_set(f, c, v, n) != 0)
        goto out;
    stats_put(f, base, gof, v, n);
    rc = 0;
    if (same_list(cur, dbs, ndbs))
        goto out;
    *out = config_with_dbs(base, dbs, ndbs);
    dbs = NULL;
    rc = *out != NULL ? 0 : -1;
out:
    for (size_t i = 0; dbs != NULL && i < ndbs; i++) {
        free(dbs[i].name);
        free(dbs[i].path);
    }
    free(dbs);
    free(c);
    free(v);
    free(gof);
    return rc;
}
