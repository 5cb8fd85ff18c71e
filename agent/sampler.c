/*
 * sampler.c: stat + pread of headers on a thread of its own.
 *
 * A sample of one database opens its files, reads at most 100 + 32 + 136 bytes with pread and
 * closes them again, so a pass over a thousand databases costs a few thousand syscalls and no
 * SQLite work at all, and the agent holds descriptors only for the samples and checks running
 * now, not for every database it watches (issue 10: 10,000 databases under a soft limit of
 * 1,024). While a check has an SQLite connection open on a database, its descriptors stay open
 * between samples instead: closing one would drop the connection's locks (fdguard.h).
 *
 * Most of a fleet is idle at any moment: the header of a database file or -wal whose lstat
 * shows it unchanged since it was read is taken again from that read (headcache.h), so an
 * idle database costs its lstats and the -shm's read, not every file's open, read and close.
 */
#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "headcache.h"
#include "log.h"
#include "safeopen.h"
#include "ticker.h"

/* How many times to re-read a wal-index whose two header copies differ or whose checksum fails
 * before calling it unstable. SQLite's own reader (walIndexReadHdr) retries and then takes the
 * WRITE lock; the agent takes no locks, so it only retries. */
#define WALINDEX_TRIES 5

enum { FILE_DB = 0, FILE_WAL, FILE_SHM, FILE_COUNT };
static const char *const file_suffix[FILE_COUNT] = {"", "-wal", "-shm"};

struct watched {
    int fd;       /* -1 when not open */
    bool present; /* the last sample opened it: dev and ino are the file's (the /proc scan) */
    dev_t dev;
    ino_t ino;
    enum safeopen_result last; /* of the last look, to log a refusal once */
};

struct db_files {
    const struct db_config *db;
    struct watched file[FILE_COUNT];
    enum safeopen_result last_resolve; /* likewise, for the database's path */
    int64_t next_due_ms;               /* monotonic */
    int64_t interval_ms;
    /* The last read of the database's and the -wal's headers (headcache.h), and how many
     * samples were taken: every HEADCACHE_REFRESH_EVERY-th, at a phase of its own, reads all. */
    struct headcache seen[FILE_SHM];
    unsigned char db_head[FF_DB_HEADER_SIZE];
    unsigned char wal_head[FF_WAL_HEADER_SIZE];
    uint32_t samples;
    /* The database file's filesystem, from the last sample that opened it (a device's
     * filesystem is only known from a descriptor on it, and a pass may open nothing). */
    bool fs_known;
    struct fsclass fs;
};

struct sampler {
    const struct config *cfg;
    struct state *state;
    struct fdguard *const *guards;
    struct db_files *dbs;
    struct ticker ticker;
    /* Kept for one pass (a round of sample_due), then reset: the directory part's resolution
     * (safeopen_resolve_memo) with its descriptor on the resolved directory, and the
     * filesystem of the last device seen, so that a fleet of databases in a few directories on
     * one filesystem costs one lstat per directory level and one fstatfs per pass, not per
     * database, and the lstats and opens of a database's files walk one path element, not all
     * of them (issue 10: the kernel's path walk was a quarter of a pass at 10,000 databases). */
    struct pass_memo {
        struct safeopen_memo path;
        bool fs_valid;
        dev_t fs_dev;
        bool fs_known;
        struct fsclass fs;
    } * memo;
};

static int64_t sample_due(void *arg);

/* Where a database's files are looked at: in dirfd (AT_FDCWD or the pass's directory
 * descriptor) by the name at path + name_off, path being the resolved path. */
struct file_at {
    int dirfd;
    size_t name_off;
};

/* A new pass: forgets the resolution and closes its directory descriptor. */
static void pass_memo_reset(struct pass_memo *m)
{
    safeopen_memo_reset(&m->path);
    m->fs_valid = false;
}

struct sampler *sampler_new(const struct config *cfg, struct state *st,
                            struct fdguard *const *guards)
{
    struct sampler *sp = calloc(1, sizeof(*sp));

    if (sp == NULL)
        return NULL;
    sp->cfg = cfg;
    sp->state = st;
    sp->guards = guards;
    ticker_init(&sp->ticker, "sampler", sample_due, sp);
    sp->dbs = calloc(cfg->ndbs ? cfg->ndbs : 1, sizeof(*sp->dbs));
    if (sp->dbs == NULL) {
        sampler_free(sp);
        return NULL;
    }
    sp->memo = calloc(1, sizeof(*sp->memo));
    if (sp->memo == NULL) {
        sampler_free(sp);
        return NULL;
    }
    pass_memo_reset(sp->memo);
    for (size_t i = 0; i < cfg->ndbs; i++)
        for (int k = 0; k < FILE_COUNT; k++)
            sp->dbs[i].file[k].fd = -1;
    for (size_t i = 0; i < cfg->ndbs; i++) {
        sp->dbs[i].db = &cfg->dbs[i];
        sp->dbs[i].interval_ms = cfg->dbs[i].sample_interval_ms;
        sp->dbs[i].samples = (uint32_t)(i % HEADCACHE_REFRESH_EVERY); /* the phase */
    }
    return sp;
}

static void watch_close(struct fdguard *g, struct watched *w)
{
    if (w->fd >= 0)
        fdguard_release(g, w->fd);
    w->fd = -1;
}

/* A refusal by the rules of safeopen.h is logged once, when it starts: the metrics then show
 * the file as absent (a side file) or the database as unreadable. */
static void note_refusal(enum safeopen_result *last, enum safeopen_result r,
                         const struct db_config *db, const char *path, const char *why)
{
    bool refused = r == SAFEOPEN_NOT_REGULAR || r == SAFEOPEN_SYMLINK ||
                   r == SAFEOPEN_LINK_REFUSED || r == SAFEOPEN_TOO_LONG;

    if (refused && r != *last && why[0] != '\0')
        log_warn("file not read", "db", db->name, "path", path, "reason", safeopen_result_str(r),
                 "detail", why, NULL);
    else if (refused && r != *last)
        log_warn("file not read", "db", db->name, "path", path, "reason", safeopen_result_str(r),
                 NULL);
    *last = r;
}

/*
 * Makes w->fd a descriptor on the regular file now at path (never following a link there, see
 * safeopen.h), reusing the open one when it is the same inode. Returns SAFEOPEN_OK with *st
 * filled in (from fstat of the descriptor, so size and content come from the same inode), or
 * why not (*err for SAFEOPEN_ERRNO); the descriptor is then closed, through the guard.
 * known, when not NULL, is an lstat of path taken just now (the resolution's, for the database
 * file): it stands for the lstat here, one system call fewer per sample (issue 10).
 */
static enum safeopen_result watch_open(struct fdguard *g, struct watched *w,
                                       const struct file_at *at, const char *path,
                                       const struct stat *known, struct stat *st, int *err)
{
    const char *name = path + at->name_off;
    struct stat now;
    enum safeopen_result r = SAFEOPEN_OK;

    /* With no descriptor to reuse (the usual case: sample_files closes them), safeopen_open
     * looks at the type itself. */
    if (w->fd >= 0 && known != NULL) {
        now = *known;
        r = S_ISREG(now.st_mode)   ? SAFEOPEN_OK
            : S_ISLNK(now.st_mode) ? SAFEOPEN_SYMLINK
                                   : SAFEOPEN_NOT_REGULAR;
    } else if (w->fd >= 0)
        r = safeopen_lstatat(at->dirfd, name, &now, err);
    if (r != SAFEOPEN_OK) {
        watch_close(g, w);
        w->present = false;
        return r;
    }
    if (w->fd >= 0 && (now.st_dev != w->dev || now.st_ino != w->ino))
        watch_close(g, w);
    if (w->fd < 0) {
        /* O_RDONLY and never O_CREAT: the agent can neither write nor create the file. */
        r = safeopen_openat(at->dirfd, name, known, &w->fd, st, err);
    } else if (fstat(w->fd, st) != 0) {
        *err = errno;
        r = SAFEOPEN_ERRNO;
    }
    if (r != SAFEOPEN_OK) {
        watch_close(g, w);
        w->present = false;
        return r;
    }
    w->present = true;
    w->dev = st->st_dev;
    w->ino = st->st_ino;
    return SAFEOPEN_OK;
}

/*
 * Whether the header of file k, last read, stands for the file whose lstat is now
 * (headcache.h): not when a descriptor is open anyway (a check's connection holds it), not
 * when a refresh is due, and only on the database file's device, a local filesystem.
 */
static bool head_reusable(const struct db_files *f, int k, const struct stat *now)
{
    return f->file[k].fd < 0 && f->samples % HEADCACHE_REFRESH_EVERY != 0 && f->fs_known &&
           !f->fs.network && now->st_dev == f->file[FILE_DB].dev &&
           headcache_fresh(&f->seen[k], now);
}

/* The file is there, as its lstat now shows, and was not opened: what watch_open records. */
static void watch_unopened(struct watched *w, const struct stat *now)
{
    w->present = true;
    w->dev = now->st_dev;
    w->ino = now->st_ino;
}

/*
 * Side file k (path + its suffix; path is at most SAFEOPEN_PATH_MAX bytes): an lstat, then the
 * open of watch_open unless the header last read may stand for it (*reuse set, nothing
 * opened; never for the -shm). *st is the open descriptor's fstat, or the lstat when reused.
 */
static enum safeopen_result watch_side(struct db_files *f, struct fdguard *g,
                                       const struct file_at *at, const char *path, int k,
                                       struct stat *st, bool *reuse)
{
    char side[SAFEOPEN_PATH_MAX + 16];
    struct stat now;
    int err = 0;

    *reuse = false;
    snprintf(side, sizeof(side), "%s%s", path, file_suffix[k]);
    enum safeopen_result r = safeopen_lstatat(at->dirfd, side + at->name_off, &now, &err);
    if (r == SAFEOPEN_OK && k != FILE_SHM && head_reusable(f, k, &now)) {
        watch_unopened(&f->file[k], &now);
        *st = now;
        *reuse = true;
    } else if (r == SAFEOPEN_OK) {
        r = watch_open(g, &f->file[k], at, side, &now, st, &err);
    } else {
        watch_close(g, &f->file[k]);
        f->file[k].present = false;
    }
    if (r != SAFEOPEN_OK && k != FILE_SHM)
        headcache_forget(&f->seen[k]);
    note_refusal(&f->file[k].last, r, f->db, side, "");
    return r;
}

/* pread of exactly len bytes at offset 0, or fewer at end of file. Returns bytes read or -1. */
static ssize_t read_head(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* read_head of file k, remembered for head_reusable; st is the open descriptor's fstat. */
static ssize_t read_head_noted(struct db_files *f, int k, const struct stat *st, unsigned char *buf,
                               size_t len)
{
    struct timespec before;

    clock_gettime(CLOCK_REALTIME, &before);
    ssize_t n = read_head(f->file[k].fd, buf, len);
    if (n < 0)
        headcache_forget(&f->seen[k]);
    else
        headcache_note_read(&f->seen[k], st, (int64_t)before.tv_sec * 1000000000 + before.tv_nsec,
                            (size_t)n);
    return n;
}

/* The filesystem of the database file: fstatfs once per device per pass. */
static void fs_of(struct pass_memo *m, int fd, const struct stat *st, struct sample *out)
{
    if (!m->fs_valid || m->fs_dev != st->st_dev) {
        m->fs_known = fsclass_fstatfs(fd, &m->fs) == 0;
        m->fs_dev = st->st_dev;
        m->fs_valid = true;
    }
    out->fs_known = m->fs_known;
    out->fs = m->fs;
}

static void sample_db_file(struct db_files *f, struct fdguard *g, struct pass_memo *m,
                           const struct safeopen_path *rp, const struct file_at *at,
                           struct sample *out)
{
    const char *path = rp->path;
    const struct stat *known = rp->last_known ? &rp->last_st : NULL;
    struct stat st;
    ssize_t n;

    if (known != NULL && head_reusable(f, FILE_DB, known)) {
        watch_unopened(&f->file[FILE_DB], known);
        note_refusal(&f->file[FILE_DB].last, SAFEOPEN_OK, f->db, path, "");
        st = *known;
        n = f->seen[FILE_DB].len;
    } else {
        int err = 0;
        enum safeopen_result r = watch_open(g, &f->file[FILE_DB], at, path, known, &st, &err);
        note_refusal(&f->file[FILE_DB].last, r, f->db, path, "");
        if (r != SAFEOPEN_OK) {
            headcache_forget(&f->seen[FILE_DB]);
            out->status = r == SAFEOPEN_MISSING ? SAMPLE_MISSING : SAMPLE_UNREADABLE;
            out->err = r == SAFEOPEN_MISSING ? ENOENT : safeopen_errno(r, err);
            return;
        }
        fs_of(m, f->file[FILE_DB].fd, &st, out);
        f->fs_known = out->fs_known;
        f->fs = out->fs;
        n = read_head_noted(f, FILE_DB, &st, f->db_head, sizeof(f->db_head));
        if (n < 0) {
            out->file_size = (uint64_t)st.st_size;
            out->status = SAMPLE_UNREADABLE;
            out->err = errno;
            return;
        }
    }
    out->file_size = (uint64_t)st.st_size;
    out->fs_known = f->fs_known;
    out->fs = f->fs;
    if (n == 0 && st.st_size == 0) {
        out->status = SAMPLE_EMPTY;
        return;
    }
    out->db_result = fileformat_parse_db_header(f->db_head, (size_t)n, &out->db);
    out->status = out->db_result == FF_OK ? SAMPLE_OK : SAMPLE_BAD_HEADER;
}

static void sample_wal(struct db_files *f, struct fdguard *g, const struct file_at *at,
                       const char *path, struct sample *out)
{
    struct stat st;
    bool reuse;

    if (watch_side(f, g, at, path, FILE_WAL, &st, &reuse) != SAFEOPEN_OK)
        return;
    out->wal_present = true;
    out->wal_size = (uint64_t)st.st_size;
    ssize_t n = reuse ? f->seen[FILE_WAL].len
                      : read_head_noted(f, FILE_WAL, &st, f->wal_head, sizeof(f->wal_head));
    out->wal_result =
        n < 0 ? FF_TRUNCATED : fileformat_parse_wal_header(f->wal_head, (size_t)n, &out->wal);
}

static void sample_walindex(struct db_files *f, struct fdguard *g, const struct file_at *at,
                            const char *path, struct sample *out)
{
    unsigned char buf[FF_WALINDEX_READ_SIZE];
    struct stat st;
    bool reuse;
    enum ff_result r = FF_TRUNCATED;

    /* Read every time: SQLite changes it through its mapping, unstamped (headcache.h). */
    if (watch_side(f, g, at, path, FILE_SHM, &st, &reuse) != SAFEOPEN_OK)
        return;
    out->shm_present = true;
    for (int i = 0; i < WALINDEX_TRIES; i++) {
        ssize_t n = read_head(f->file[FILE_SHM].fd, buf, sizeof(buf));
        if (n < 0)
            break;
        r = fileformat_parse_walindex(buf, (size_t)n, &out->walindex);
        if (r != FF_UNSTABLE && r != FF_BAD_CHECKSUM)
            break;
        /* A writer is between the two header copies: give it a moment, as wal.c's readers
         * do, before reading again. */
        struct timespec pause = {0, 20000L * (i + 1)};
        nanosleep(&pause, NULL);
    }
    out->walindex_result = r;
}

/* The database's path is resolved as SQLite resolves it, at every sample (a link can change),
 * and the -wal and -shm sampled next to what it names, where SQLite reads them. */
static void sample_files(struct db_files *f, struct fdguard *g, struct pass_memo *m,
                         struct sample *out)
{
    struct safeopen_path rp;
    enum safeopen_result r = safeopen_resolve_memo(f->db->path, &m->path, &rp);

    note_refusal(&f->last_resolve, r, f->db, f->db->path, rp.why);
    if (r != SAFEOPEN_OK) {
        for (int k = 0; k < FILE_COUNT; k++) {
            watch_close(g, &f->file[k]);
            f->file[k].present = false;
        }
        for (int k = 0; k < FILE_SHM; k++)
            headcache_forget(&f->seen[k]);
        out->status = r == SAFEOPEN_MISSING ? SAMPLE_MISSING : SAMPLE_UNREADABLE;
        out->err = safeopen_errno(r, rp.err);
        return;
    }
    struct file_at at;
    at.dirfd = safeopen_memo_dirfd(&m->path, rp.path, &at.name_off);
    sample_db_file(f, g, m, &rp, &at, out);
    sample_wal(f, g, &at, rp.path, out);
    sample_walindex(f, g, &at, rp.path, out);
    /* Done with them until the next sample, unless a check's connection is open (above). */
    for (int k = 0; k < FILE_COUNT; k++)
        if (f->file[k].fd >= 0 && fdguard_close_if_idle(g, f->file[k].fd))
            f->file[k].fd = -1;
}

static void sample_one(struct sampler *sp, size_t i)
{
    struct db_files *f = &sp->dbs[i];
    struct fdguard *g = sp->guards[i];
    struct sample s;

    memset(&s, 0, sizeof(s));
    sample_files(f, g, sp->memo, &s);
    f->samples++;
    s.taken_ms = clock_wall_ms();
    /* What the /proc scan (procwatch.c) looks for: the files the sample opened. */
    s.db_seen = f->file[FILE_DB].present;
    s.db_dev = f->file[FILE_DB].dev;
    s.db_ino = f->file[FILE_DB].ino;
    s.wal_seen = f->file[FILE_WAL].present;
    s.wal_dev = f->file[FILE_WAL].dev;
    s.wal_ino = f->file[FILE_WAL].ino;
    state_put_sample(sp->state, i, &s);
}

void sampler_run_pass(struct sampler *sp)
{
    double t0 = clock_mono_s();

    pass_memo_reset(sp->memo);
    for (size_t i = 0; i < sp->cfg->ndbs; i++)
        sample_one(sp, i);
    pass_memo_reset(sp->memo); /* no descriptor kept between passes */
    state_sample_pass_done(sp->state, clock_mono_s() - t0);
}

/* One round of the sampling thread: samples the databases that are due, and returns how long
 * to sleep until the next one is. */
static int64_t sample_due(void *arg)
{
    struct sampler *sp = arg;
    int64_t now = clock_mono_ms();
    int64_t next = now + 3600 * 1000;
    double t0 = clock_mono_s();
    bool any = false;

    pass_memo_reset(sp->memo); /* a new pass: links may have changed */
    for (size_t i = 0; i < sp->cfg->ndbs && !ticker_stopping(&sp->ticker); i++) {
        struct db_files *f = &sp->dbs[i];
        if (f->next_due_ms <= now) {
            sample_one(sp, i);
            any = true;
            f->next_due_ms = f->next_due_ms == 0 ? now : f->next_due_ms;
            f->next_due_ms += f->interval_ms;
            if (f->next_due_ms <= now)
                f->next_due_ms = now + f->interval_ms; /* fell behind: do not burst */
        }
        if (f->next_due_ms < next)
            next = f->next_due_ms;
    }
    pass_memo_reset(sp->memo); /* no descriptor kept between passes */
    if (any)
        state_sample_pass_done(sp->state, clock_mono_s() - t0);
    return next - clock_mono_ms();
}

int sampler_start(struct sampler *sp)
{
    return ticker_start(&sp->ticker);
}

void sampler_stop(struct sampler *sp)
{
    if (sp != NULL)
        ticker_stop(&sp->ticker);
}

void sampler_free(struct sampler *sp)
{
    if (sp == NULL)
        return;
    for (size_t i = 0; sp->dbs != NULL && i < sp->cfg->ndbs; i++) {
        struct db_files *f = &sp->dbs[i];
        for (int k = 0; k < FILE_COUNT; k++) {
            /* At shutdown no checker runs, so the guard closes at once. */
            if (f->file[k].fd >= 0)
                fdguard_release(sp->guards[i], f->file[k].fd);
        }
    }
    free(sp->dbs);
    if (sp->memo != NULL)
        pass_memo_reset(sp->memo);
    free(sp->memo);
    ticker_destroy(&sp->ticker);
    free(sp);
}
