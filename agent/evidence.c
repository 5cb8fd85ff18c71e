/*
 * evidence.c: the evidence copy (see evidence.h for what and why).
 */
#include "evidence.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "clock.h"
#include "dbopen.h"
#include "log.h"
#include "sha256.h"
#include "sqlitever.h"
#include "ticker.h"

#define EVAL_INTERVAL_MS 1000
/* Between rollback-mode batches: room for a writer to take its lock and commit. */
#define BATCH_PAUSE_MS 5
#define MANIFEST_SUFFIX ".manifest"
#define PARTIAL_SUFFIX ".partial"
#define HASH_CHUNK (64 * 1024)
/* Of the database name in the copy's file name (config.c caps names at 128 bytes). */
#define NAME_MAX_BYTES 128

struct evidence {
    const struct config *cfg;
    struct state *state;
    struct fdguard *const *guards;
    struct ticker ticker;
};

/* What one copy learnt, for the manifest and the log. */
struct copy_facts {
    const char *mode; /* "wal_snapshot", "rollback_batches", "immutable" */
    int pages;
    int page_size;
    int restarts;
    uint64_t bytes;
    double seconds;
    char sha256[SHA256_HEX_SIZE];
};

static int64_t tick(void *arg);

/* The directory holding path, by device and inode. */
static int parent_dir(const char *path, struct stat *out)
{
    char *copy = strdup(path);
    int rc = -1;

    if (copy != NULL) {
        rc = stat(dirname(copy), out);
        free(copy);
    }
    return rc;
}

/* evidence_dir exists, is a writable directory, and holds no monitored database: a copy next
 * to the file would share its disk's fate and confuse whoever cleans up the directory. */
static bool dir_usable(const struct config *cfg)
{
    struct stat dir, parent;

    const char *why = NULL;

    if (stat(cfg->evidence_dir, &dir) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(dir.st_mode))
        why = strerror(ENOTDIR);
    else if (access(cfg->evidence_dir, W_OK | X_OK) != 0)
        why = strerror(errno);
    if (why != NULL) {
        log_error("evidence_dir is not a writable directory", "evidence_dir", cfg->evidence_dir,
                  "error", why, NULL);
        return false;
    }
    for (size_t i = 0; i < cfg->ndbs; i++) {
        if (parent_dir(cfg->dbs[i].path, &parent) == 0 && parent.st_dev == dir.st_dev &&
            parent.st_ino == dir.st_ino) {
            log_error("evidence_dir is the directory of a monitored database; choose another",
                      "evidence_dir", cfg->evidence_dir, "db", cfg->dbs[i].name, NULL);
            return false;
        }
    }
    return true;
}

bool evidence_config_ok(const struct config *cfg)
{
    return cfg->evidence_dir == NULL || dir_usable(cfg);
}

struct evidence *evidence_new(const struct config *cfg, struct state *st,
                              struct fdguard *const *guards, bool *failed)
{
    struct evidence *ev;

    *failed = false;
    if (cfg->evidence_dir == NULL)
        return NULL;
    if (!dir_usable(cfg)) {
        *failed = true;
        return NULL;
    }
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL) {
        *failed = true;
        return NULL;
    }
    ev->cfg = cfg;
    ev->state = st;
    ev->guards = guards;
    ticker_init(&ev->ticker, "evidence", tick, ev);
    return ev;
}

void evidence_free(struct evidence *ev)
{
    if (ev == NULL)
        return;
    ticker_destroy(&ev->ticker);
    free(ev);
}

int evidence_start(struct evidence *ev)
{
    return ticker_start(&ev->ticker);
}

void evidence_stop(struct evidence *ev)
{
    if (ev != NULL)
        ticker_stop(&ev->ticker);
}

/* ---- names --------------------------------------------------------------------------- */

/* dir/NAME-YYYYMMDDTHHMMSS.mmmZ.db, NAME with anything but [A-Za-z0-9._-] as '_'. Returns 0,
 * or -1 when it would not fit with the manifest suffix (a cut path would name another file). */
static int copy_path(const char *dir, const char *name, int64_t now_ms, char *out, size_t len)
{
    char safe[NAME_MAX_BYTES + 1], stamp[32];
    time_t sec = (time_t)(now_ms / 1000);
    struct tm tm;
    size_t i;

    for (i = 0; name[i] != '\0' && i < sizeof(safe) - 1; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        safe[i] = ok && !(i == 0 && c == '.') ? c : '_';
    }
    safe[i] = '\0';
    gmtime_r(&sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    int n = snprintf(out, len, "%s/%s-%s.%03dZ.db", dir, safe, stamp, (int)(now_ms % 1000));
    if (n < 0 || (size_t)n + sizeof(MANIFEST_SUFFIX) > len ||
        (size_t)n + sizeof(PARTIAL_SUFFIX) > len)
        return -1;
    return 0;
}

/* ---- the copy -------------------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Bytes free for an unprivileged writer on the filesystem of dir, or -1. */
static int64_t free_bytes(const char *dir)
{
    struct statvfs vs;

    if (statvfs(dir, &vs) != 0)
        return -1;
    return (int64_t)vs.f_bavail * (int64_t)vs.f_frsize;
}

/* sha256 and size of the file at path, through a descriptor on the copy (not a monitored
 * file: no SQLite connection of the agent is open on it any more). */
static int hash_file(const char *path, struct copy_facts *f)
{
    unsigned char buf[HASH_CHUNK], digest[SHA256_DIGEST_SIZE];
    struct sha256 h;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

    if (fd < 0)
        return -1;
    sha256_init(&h);
    f->bytes = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        sha256_update(&h, buf, (size_t)n);
        f->bytes += (uint64_t)n;
    }
    if (n == 0 && fsync(fd) == 0) {
        sha256_final(&h, digest);
        sha256_hex(digest, f->sha256);
        rc = 0;
    }
    close(fd);
    return rc;
}

struct backup_run {
    struct evidence *ev;
    const struct db_config *db;
    struct dbopen plan;
    sqlite3 *src, *dst;
    bool snapshot; /* a read transaction held across batches (WAL) */
};

/*
 * The batch after a restart (rollback mode: a commit between two steps makes backup.c start
 * again from page 1). Doubling it lets a copy finish between commits that come faster than the
 * whole copy takes in small batches; the cap keeps each step, during which a committing writer
 * waits for the copy's SHARED lock, within EVIDENCE_STEP_MAX_MS at the rate measured so far.
 */
static int next_batch(int batch, int64_t pages_done, int64_t ms_spent)
{
    int64_t cap = ms_spent > 0 ? pages_done * EVIDENCE_STEP_MAX_MS / ms_spent : INT32_MAX;

    if (cap < EVIDENCE_BATCH_PAGES)
        cap = EVIDENCE_BATCH_PAGES;
    int64_t want = (int64_t)batch * 2;
    return (int)(want < cap ? want : cap);
}

/* Steps the backup to the end. Returns an evidence result; stopping counts as an error. */
static enum evidence_result backup_steps(struct backup_run *b, sqlite3_backup *bk,
                                         struct copy_facts *f)
{
    int64_t deadline = clock_mono_ms() + EVIDENCE_SNAPSHOT_MAX_MS, pages_done = 0, ms_spent = 0;
    int last_remaining = -1, batch = EVIDENCE_BATCH_PAGES;

    for (;;) {
        if (ticker_stopping(&b->ev->ticker) || clock_mono_ms() > deadline)
            return EVIDENCE_ERROR;
        int64_t t0 = clock_mono_ms();
        int rc = sqlite3_backup_step(bk, batch);
        ms_spent += clock_mono_ms() - t0;
        pages_done += batch;
        int total = sqlite3_backup_pagecount(bk), remaining = sqlite3_backup_remaining(bk);
        if ((int64_t)total * f->page_size > b->ev->cfg->evidence_max_bytes)
            return EVIDENCE_TOO_BIG;
        if (rc == SQLITE_DONE) {
            f->pages = total;
            return EVIDENCE_OK;
        }
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
            sleep_ms(BATCH_PAUSE_MS);
            continue;
        }
        if (rc != SQLITE_OK) {
            log_info("the backup API cannot read the database", "db", b->db->name, "error",
                     sqlite3_errstr(rc), NULL);
            return EVIDENCE_ERROR;
        }
        /* A step that made no progress started again from page 1 (backup.c restarts when
         * another process changed the source since the last step). */
        if (last_remaining >= 0 && remaining >= last_remaining) {
            if (++f->restarts > EVIDENCE_RESTARTS_MAX)
                return EVIDENCE_ERROR;
            batch = next_batch(batch, pages_done, ms_spent);
        }
        last_remaining = remaining;
        if (!b->snapshot)
            sleep_ms(BATCH_PAUSE_MS); /* no lock held now: a writer may commit */
    }
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens both ends. The source as the checker opens one; the destination with the plain unix
 * VFS, no journal (a failed copy is deleted, never repaired). */
static int backup_open(struct backup_run *b, const char *partial, struct fdguard *g)
{
    int rc;

    dbopen_plan(b->db->path, &b->plan);
    if (b->plan.mode == DBOPEN_REFUSE)
        return SQLITE_CANTOPEN;
    fdguard_connection_opening(g);
    rc = dbopen_open(b->db->path, &b->plan, &b->src);
    if (rc == SQLITE_OK)
        rc = exec(b->src, "PRAGMA mmap_size=0");
    if (rc == SQLITE_OK)
        rc = exec(b->src, "PRAGMA query_only=1");
    b->snapshot = b->plan.wal && b->plan.mode != DBOPEN_IMMUTABLE;
    /* A WAL reader blocks no writer: hold one snapshot for the whole copy. PRAGMA user_version
     * reads the header only, so a damaged schema cannot stop the copy. */
    if (rc == SQLITE_OK && b->snapshot) {
        rc = exec(b->src, "BEGIN");
        if (rc == SQLITE_OK)
            rc = exec(b->src, "PRAGMA user_version");
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(partial, &b->dst,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             "unix");
    if (rc == SQLITE_OK)
        rc = exec(b->dst, "PRAGMA journal_mode=OFF");
    if (rc == SQLITE_OK)
        chmod(partial, 0600); /* the application's data: readable by the agent's user only */
    return rc;
}

static void backup_close(struct backup_run *b, struct fdguard *g)
{
    if (b->src != NULL && b->snapshot)
        exec(b->src, "COMMIT");
    sqlite3_close_v2(b->dst);
    if (b->plan.mode != DBOPEN_REFUSE) {
        sqlite3_close_v2(b->src);
        fdguard_connection_closed(g);
    }
    dbopen_done(&b->plan, g);
}

static enum evidence_result backup_to(struct evidence *ev, size_t idx, const char *partial,
                                      struct copy_facts *f, bool *unreadable)
{
    struct backup_run b = {.ev = ev, .db = &ev->cfg->dbs[idx]};
    struct fdguard *g = ev->guards[idx];
    enum evidence_result r = EVIDENCE_ERROR;
    double t0 = clock_mono_s();
    int rc = backup_open(&b, partial, g);

    f->mode = b.snapshot                        ? "wal_snapshot"
              : b.plan.mode == DBOPEN_IMMUTABLE ? "immutable"
                                                : "rollback_batches";
    if (rc == SQLITE_OK) {
        sqlite3_backup *bk = sqlite3_backup_init(b.dst, "main", b.src, "main");
        if (bk != NULL) {
            sqlite3_stmt *st = NULL;
            f->page_size = 4096;
            if (sqlite3_prepare_v2(b.src, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW)
                f->page_size = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
            r = backup_steps(&b, bk, f);
            int frc = sqlite3_backup_finish(bk);
            if (frc != SQLITE_OK && r == EVIDENCE_OK)
                r = EVIDENCE_ERROR;
            *unreadable = (frc & 0xff) == SQLITE_NOTADB || (frc & 0xff) == SQLITE_CORRUPT;
        } else {
            log_warn("evidence copy cannot start", "db", b.db->name, "error", sqlite3_errmsg(b.dst),
                     NULL);
        }
    } else {
        log_warn("evidence copy cannot open", "db", b.db->name, "path", b.db->path, "error",
                 b.src ? sqlite3_errmsg(b.src) : sqlite3_errstr(rc), NULL);
    }
    if (r == EVIDENCE_OK && b.plan.mode == DBOPEN_IMMUTABLE &&
        !dbopen_unchanged(b.db->path, &b.plan)) {
        log_warn("database changed during an unlocked evidence copy; copy discarded", "db",
                 b.db->name, NULL);
        r = EVIDENCE_ERROR;
    }
    backup_close(&b, g);
    f->seconds = clock_mono_s() - t0;
    return r;
}

/*
 * When SQLite cannot read the file at all (SQLITE_NOTADB: a garbage header; SQLITE_CORRUPT
 * before the first page: a file cut short of what its header says), the backup API cannot copy
 * it, and the bytes themselves are the evidence: copied raw, with the file compared before and
 * after (a writer cannot have it open as a database, but the copy must say if it changed). The
 * descriptor goes back through the guard: a check may have a connection open on the file.
 */
static enum evidence_result raw_copy(struct evidence *ev, size_t idx, const char *partial,
                                     struct copy_facts *f)
{
    const struct db_config *db = &ev->cfg->dbs[idx];
    unsigned char buf[HASH_CHUNK];
    struct stat before, after;
    enum evidence_result r = EVIDENCE_ERROR;
    int in = open(db->path, O_RDONLY | O_CLOEXEC | O_NOCTTY), out = -1;
    off_t off = 0;
    ssize_t n = 0;

    f->mode = "raw";
    f->pages = 0;
    f->page_size = 0;
    if (in < 0 || fstat(in, &before) != 0)
        goto out;
    if ((int64_t)before.st_size > ev->cfg->evidence_max_bytes) {
        r = EVIDENCE_TOO_BIG;
        goto out;
    }
    out = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        goto out;
    while (off < before.st_size && (n = pread(in, buf, sizeof(buf), off)) > 0) {
        if (write(out, buf, (size_t)n) != n)
            goto out;
        off += n;
    }
    if (n < 0 || fsync(out) != 0 || fstat(in, &after) != 0)
        goto out;
    if (after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != before.st_mtim.tv_nsec) {
        log_warn("database changed during a raw evidence copy; copy discarded", "db", db->name,
                 NULL);
        goto out;
    }
    r = EVIDENCE_OK;
out:
    if (out >= 0)
        close(out); /* the copy: no connection of the agent is open on it */
    if (in >= 0)
        fdguard_release(ev->guards[idx], in);
    return r;
}

/* ---- the manifest ---------------------------------------------------------------------- */

/* A JSON string (RFC 8259, 7). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_key(FILE *f, const char *key, bool first)
{
    fputs(first ? "\n  " : ",\n  ", f);
    json_str(f, key);
    fputs(": ", f);
}

static void manifest_versions(FILE *f, const struct procscan_result *r, bool scanned)
{
    json_key(f, "sqlite_versions_holding_file", false);
    if (!scanned) {
        fputs("null", f);
        return;
    }
    fputc('[', f);
    for (uint32_t v = 0; v < r->nversions && v < PROCSCAN_VERSION_SLOTS; v++) {
        char text[24];
        sqlitever_format(r->versions[v].version, text, sizeof(text));
        fprintf(f, "%s{\"version\": ", v ? ", " : "");
        json_str(f, text);
        fprintf(f, ", \"processes\": %u}", r->versions[v].processes);
    }
    fprintf(f, "],\n  \"processes_unknown_version\": %u", r->unknown_version);
}

static void manifest_wal(FILE *f, const struct sample *s)
{
    const struct ff_walindex *w = &s->walindex;

    json_key(f, "wal", false);
    fprintf(f, "{\"present\": %s, \"size_bytes\": %llu}", s->wal_present ? "true" : "false",
            (unsigned long long)s->wal_size);
    json_key(f, "wal_index_header", false);
    if (!s->shm_present) {
        fputs("null", f);
        return;
    }
    fputs("{\"result\": ", f);
    json_str(f, fileformat_result_str(s->walindex_result));
    if (s->walindex_result == FF_OK)
        fprintf(f,
                ", \"version\": %u, \"change\": %u, \"page_size\": %u, \"mx_frame\": %u, "
                "\"n_page\": %u, \"salt1\": %u, \"salt2\": %u, \"n_backfill\": %u, "
                "\"n_backfill_attempted\": %u, \"read_marks\": [%u, %u, %u, %u, %u]",
                w->version, w->change, w->page_size, w->mx_frame, w->n_page, w->salt1, w->salt2,
                w->n_backfill, w->n_backfill_attempted, w->read_marks[0], w->read_marks[1],
                w->read_marks[2], w->read_marks[3], w->read_marks[4]);
    fputc('}', f);
}

static void manifest_body(FILE *f, const struct db_snapshot *d, const char *copy,
                          const struct copy_facts *c, int64_t now_ms)
{
    char when[32];

    alerts_format_time(now_ms, when, sizeof(when));
    fputc('{', f);
    json_key(f, "db", true);
    json_str(f, d->name);
    json_key(f, "path", false);
    json_str(f, d->path);
    json_key(f, "copy", false);
    json_str(f, copy);
    json_key(f, "taken_at", false);
    json_str(f, when);
    json_key(f, "copy_mode", false);
    json_str(f, c->mode);
    fprintf(f, ",\n  \"copy_pages\": %d,\n  \"page_size\": %d,\n  \"copy_bytes\": %llu", c->pages,
            c->page_size, (unsigned long long)c->bytes);
    fprintf(f, ",\n  \"backup_restarts\": %d,\n  \"copy_seconds\": %.3f", c->restarts, c->seconds);
    json_key(f, "sha256", false);
    json_str(f, c->sha256);
    json_key(f, "check", false);
    json_str(f, config_check_kind_str(d->check.last_kind));
    fprintf(f, ",\n  \"problem_rows\": %u", d->check.problems);
    json_key(f, "first_problem_rows", false);
    json_str(f, state_text(d->check.problem_rows));
    json_key(f, "kinds", false);
    fputc('{', f);
    for (int k = 0; k < PROBLEM_KIND_COUNT; k++)
        fprintf(f, "%s\"%s\": %u", k ? ", " : "", problems_kind_str((enum problem_kind)k),
                d->check.kinds[k]);
    fputc('}', f);
    manifest_versions(f, &d->procs.db, d->procs.scanned);
    manifest_wal(f, &d->sample);
    json_key(f, "agent_sqlite_version", false);
    json_str(f, sqlite3_libversion());
    fputs("\n}\n", f);
}

/* Written next to the copy, through a temporary name, so a manifest is always whole. */
static int write_manifest(const char *copy, const struct db_snapshot *d, const struct copy_facts *c,
                          int64_t now_ms)
{
    char path[EVIDENCE_PATH_MAX], tmp[EVIDENCE_PATH_MAX + sizeof(PARTIAL_SUFFIX)];
    FILE *f;

    snprintf(path, sizeof(path), "%s%s", copy, MANIFEST_SUFFIX);
    snprintf(tmp, sizeof(tmp), "%s%s", path, PARTIAL_SUFFIX);
    f = fopen(tmp, "wx");
    if (f == NULL)
        return -1;
    manifest_body(f, d, copy, c, now_ms);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- one copy -------------------------------------------------------------------------- */

static enum evidence_result precheck(struct evidence *ev, const struct db_snapshot *d,
                                     int64_t *need)
{
    *need =
        (int64_t)d->sample.file_size + (int64_t)(d->sample.wal_present ? d->sample.wal_size : 0);
    if ((int64_t)d->sample.file_size > ev->cfg->evidence_max_bytes)
        return EVIDENCE_TOO_BIG;
    int64_t avail = free_bytes(ev->cfg->evidence_dir);
    if (avail < 0 || avail < *need + EVIDENCE_FREE_MARGIN)
        return EVIDENCE_NO_SPACE;
    return EVIDENCE_OK;
}

enum evidence_result evidence_copy_one(struct evidence *ev, size_t idx, const struct db_snapshot *d,
                                       char *path, size_t pathlen)
{
    char partial[EVIDENCE_PATH_MAX + sizeof(PARTIAL_SUFFIX)] = "";
    struct copy_facts facts = {0};
    int64_t now = clock_wall_ms(), need;
    enum evidence_result r = precheck(ev, d, &need);

    if (r != EVIDENCE_OK)
        goto out;
    r = EVIDENCE_ERROR;
    if (pathlen > EVIDENCE_PATH_MAX)
        pathlen = EVIDENCE_PATH_MAX;
    if (copy_path(ev->cfg->evidence_dir, d->name, now, path, pathlen) != 0) {
        log_warn("evidence copy path too long", "db", d->name, NULL);
        goto out;
    }
    snprintf(partial, sizeof(partial), "%s%s", path, PARTIAL_SUFFIX);
    unlink(partial); /* a leftover of a copy cut short; the name has a timestamp */
    bool unreadable = false;
    r = backup_to(ev, idx, partial, &facts, &unreadable);
    if (r == EVIDENCE_ERROR && unreadable && !ticker_stopping(&ev->ticker)) {
        unlink(partial);
        r = raw_copy(ev, idx, partial, &facts);
    }
    if (r == EVIDENCE_OK && hash_file(partial, &facts) != 0)
        r = EVIDENCE_ERROR;
    if (r == EVIDENCE_OK && rename(partial, path) != 0)
        r = EVIDENCE_ERROR;
    if (r == EVIDENCE_OK && write_manifest(path, d, &facts, now) != 0) {
        unlink(path);
        r = EVIDENCE_ERROR;
    }
out:
    if (r != EVIDENCE_OK) {
        if (partial[0] != '\0')
            unlink(partial);
        if (pathlen > 0)
            path[0] = '\0';
    }
    return r;
}

static void log_result(const struct db_snapshot *d, enum evidence_result r, const char *path)
{
    if (r == EVIDENCE_OK)
        log_info("evidence copy taken", "db", d->name, "path", d->path, "copy", path, NULL);
    else
        log_warn("evidence copy not taken", "db", d->name, "path", d->path, "result",
                 state_evidence_result_str(r), NULL);
}

/* Database idx's copy, when it is still due. Returns false when the agent stops. */
static bool copy_due(struct evidence *ev, size_t idx)
{
    /* One database's copy, not the whole fleet's: this runs every second. */
    struct snapshot *snap = state_snapshot_range(ev->state, idx, 1, clock_wall_ms());
    char path[EVIDENCE_PATH_MAX] = "";
    bool go_on = true;

    if (snap == NULL)
        return true;
    const struct db_snapshot *d = &snap->dbs[0];
    if (d->check.malformed && d->check.malformed_episodes != d->evidence.episode) {
        enum evidence_result r = evidence_copy_one(ev, idx, d, path, sizeof(path));
        go_on = !ticker_stopping(&ev->ticker);
        if (go_on) { /* a copy cut short by a stop is not a result */
            log_result(d, r, path);
            state_evidence_done(ev->state, idx, d->check.malformed_episodes, r, path,
                                clock_wall_ms());
        }
    }
    snapshot_free(snap);
    return go_on;
}

/* Every second: a database malformed in an episode not copied yet gets its copy. */
static int64_t tick(void *arg)
{
    struct evidence *ev = arg;
    size_t i;

    for (size_t from = 0; from < ev->cfg->ndbs && !ticker_stopping(&ev->ticker); from = i + 1) {
        if (!state_evidence_next_due(ev->state, from, &i) || i >= ev->cfg->ndbs || !copy_due(ev, i))
            break;
    }
    return EVAL_INTERVAL_MS;
}
