/*
 * procscan.c: one pass over /proc for all watched files (see procscan.h).
 *
 * Sources: proc(5) for /proc/PID/fd ("a symbolic link to the actual file"), /proc/PID/maps
 * (address perms offset dev inode pathname; dev is major:minor in hex; the pathname may end
 * in " (deleted)"), /proc/PID/map_files (the mapped files themselves; opening them needs
 * CAP_SYS_ADMIN, or CAP_CHECKPOINT_RESTORE since Linux 5.9), /proc/PID/exe and
 * /proc/PID/root. Access to fd, maps, map_files, exe and root is governed by a ptrace
 * access mode check: a process the agent may not inspect answers EACCES or EPERM.
 *
 * Opening an object to read its version is the one place where another user's choices reach
 * an open() of ours, so nothing is opened for reading before it is known to be the regular
 * file that is mapped: every object is first opened with O_PATH (which opens nothing: a FIFO
 * is not waited on, a device's open routine does not run), checked with fstat(), and only then
 * opened for reading through /proc/self/fd/N (open(2), O_PATH; proc(5), /proc/PID/fd: the
 * link leads to that very file, the name is not looked up again). A path under
 * /proc/PID/root is walked one component at a time with O_NOFOLLOW, so no symbolic link is
 * followed: the paths maps prints are the kernel's own names for the mapped files (d_path),
 * which hold none, and a link there can only be someone's attempt to redirect us. Objects
 * that are targets are never opened at all: closing any descriptor on a file drops every
 * POSIX lock the agent holds on it (fcntl(2), "Advisory record locking"), its SQLite
 * connections' locks included.
 */
#include "procscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LISTING_BUF (16 * 1024)
#define DENTS_BUF (32 * 1024)
#define MAPS_BUF (64 * 1024)
#define MAX_CANDS 8 /* SQLite-looking objects kept per process */

/* An executable mapping that may hold SQLite. */
struct cand {
    dev_t dev;
    ino_t ino;
    bool deleted;
    char range[48]; /* "start-end" as maps prints it: the name in map_files/ */
    char path[PATH_MAX];
};

struct procscan {
    struct procscan_target *t;
    size_t n, cap;       /* targets, and the size of every per-target array */
    int32_t *slots;      /* open addressing on st_ino: first target index, or -1 */
    size_t nslots;       /* a power of two, at least 2 * n */
    int32_t *next_same;  /* next target with the same st_ino, or -1 */
    uint32_t *open_mark; /* == stamp: the current process holds target i */
    uint32_t *fd_count;  /* descriptors the current process has on target i */
    uint32_t *map_mark;  /* == stamp: the current process maps target i */
    uint32_t *hits;      /* targets held by the current process */
    size_t nhits;
    uint32_t stamp;         /* one value per process looked at */
    unsigned char *listing; /* getdents64 buffer for /proc itself */
    unsigned char *dents;   /* getdents64 buffer for /proc/PID/fd */
    char *maps;             /* maps read buffer */
    struct cand cands[MAX_CANDS];
    size_t ncands;
    bool map_files_denied; /* this pass: map_files/ answered EPERM once, stop trying */
    struct elfver_cache *elf;
    void (*hit_fn)(void *arg, size_t target, pid_t pid, uint32_t version, bool mapped);
    void *hit_arg;
};

/* ---- target hash ------------------------------------------------------------------------- */

/* splitmix64's finaliser: inode numbers are often sequential. */
static size_t ino_hash(ino_t ino)
{
    uint64_t x = (uint64_t)ino;

    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return (size_t)x;
}

/* The first target with st_ino ino, or -1. */
static int32_t find_ino(const struct procscan *ps, ino_t ino)
{
    size_t i, mask = ps->nslots - 1;

    if (ps->nslots == 0)
        return -1;
    for (i = ino_hash(ino) & mask;; i = (i + 1) & mask) {
        int32_t j = ps->slots[i];

        if (j < 0 || ps->t[j].ino == ino)
            return j;
    }
}

static void insert_target(struct procscan *ps, int32_t idx)
{
    size_t i, mask = ps->nslots - 1;

    for (i = ino_hash(ps->t[idx].ino) & mask;; i = (i + 1) & mask) {
        int32_t j = ps->slots[i];

        if (j < 0) {
            ps->slots[i] = idx;
            ps->next_same[idx] = -1;
            return;
        }
        if (ps->t[j].ino == ps->t[idx].ino) {
            ps->next_same[idx] = j; /* same inode number: chain, newest first */
            ps->slots[i] = idx;
            return;
        }
    }
}

/*
 * Whether a mapping's device can be the target's. Equal is the rule. But on filesystems
 * with anonymous device numbers (major 0: btrfs subvolumes, overlayfs) stat()'s st_dev and
 * the device maps prints (the superblock's, or the real file under an overlay) may differ
 * for the same file. The mapping is only ever compared with targets this process holds open,
 * so an equal inode number is then enough.
 */
static bool dev_compatible(dev_t target, dev_t mapped)
{
    return target == mapped || major(target) == 0 || major(mapped) == 0;
}

/* Whether (dev, ino) may be one of the targets (the relaxed device rule: when unsure, it is
 * one, and is left alone). */
static bool is_target(const struct procscan *ps, dev_t dev, ino_t ino)
{
    int32_t j;

    for (j = find_ino(ps, ino); j >= 0; j = ps->next_same[j]) {
        if (dev_compatible(ps->t[j].dev, dev))
            return true;
    }
    return false;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

struct procscan *procscan_new(size_t elf_cache_entries)
{
    struct procscan *ps = calloc(1, sizeof(*ps));

    if (!ps)
        return NULL;
    ps->listing = malloc(LISTING_BUF);
    ps->dents = malloc(DENTS_BUF);
    ps->maps = malloc(MAPS_BUF);
    ps->elf = elfver_cache_new(elf_cache_entries, 0);
    if (!ps->listing || !ps->dents || !ps->maps || !ps->elf) {
        procscan_free(ps);
        return NULL;
    }
    return ps;
}

void procscan_free(struct procscan *ps)
{
    if (!ps)
        return;
    free(ps->t);
    free(ps->slots);
    free(ps->next_same);
    free(ps->open_mark);
    free(ps->fd_count);
    free(ps->map_mark);
    free(ps->hits);
    free(ps->listing);
    free(ps->dents);
    free(ps->maps);
    elfver_cache_free(ps->elf);
    free(ps);
}

/* Grows every per-target array to hold cap targets. */
static int grow(struct procscan *ps, size_t cap)
{
    size_t nslots = 16;
    void *p;

    while (nslots < 2 * cap)
        nslots *= 2;
#define GROW(field, count)                                                                         \
    do {                                                                                           \
        p = realloc(ps->field, (count) * sizeof(*ps->field));                                      \
        if (!p)                                                                                    \
            return -1;                                                                             \
        ps->field = p;                                                                             \
    } while (0)
    GROW(t, cap);
    GROW(next_same, cap);
    GROW(open_mark, cap);
    GROW(fd_count, cap);
    GROW(map_mark, cap);
    GROW(hits, cap);
    GROW(slots, nslots);
#undef GROW
    ps->cap = cap;
    ps->nslots = nslots;
    return 0;
}

int procscan_set_targets(struct procscan *ps, const struct procscan_target *t, size_t n)
{
    size_t i;

    if (n > (size_t)INT32_MAX) {
        errno = EOVERFLOW;
        return -1;
    }
    if (n > ps->cap && grow(ps, n) != 0) {
        ps->n = 0;
        if (ps->slots)
            memset(ps->slots, 0xff, ps->nslots * sizeof(*ps->slots));
        errno = ENOMEM;
        return -1;
    }
    ps->n = n;
    if (n > 0)
        memcpy(ps->t, t, n * sizeof(*t));
    if (ps->nslots)
        memset(ps->slots, 0xff, ps->nslots * sizeof(*ps->slots)); /* all -1 */
    for (i = 0; i < n; i++) {
        ps->open_mark[i] = 0;
        ps->map_mark[i] = 0;
        ps->next_same[i] = -1;
        if (t[i].ino != 0)
            insert_target(ps, (int32_t)i);
    }
    ps->stamp = 0;
    return 0;
}

void procscan_set_hit_fn(struct procscan *ps,
                         void (*fn)(void *arg, size_t target, pid_t pid, uint32_t version,
                                    bool mapped),
                         void *arg)
{
    ps->hit_fn = fn;
    ps->hit_arg = arg;
}

void procscan_elf_stats(const struct procscan *ps, struct elfver_cache_stats *out)
{
    elfver_cache_get_stats(ps->elf, out);
}

/* ---- results ----------------------------------------------------------------------------- */

/* Counts one process on version v (0 = unknown) for a target. The slots keep the oldest
 * versions: a new version older than every kept one pushes out the newest. */
static void add_version(struct procscan_result *r, uint32_t v)
{
    uint32_t i, pos;

    if (v == 0) {
        r->unknown_version++;
        return;
    }
    if (r->oldest_version == 0 || v < r->oldest_version)
        r->oldest_version = v;
    for (pos = 0; pos < r->nversions && r->versions[pos].version < v; pos++)
        ;
    if (pos < r->nversions && r->versions[pos].version == v) {
        r->versions[pos].processes++;
        return;
    }
    if (pos == PROCSCAN_VERSION_SLOTS) { /* newer than every kept one, and no room */
        r->other_versions++;
        return;
    }
    if (r->nversions == PROCSCAN_VERSION_SLOTS) {
        r->other_versions += r->versions[PROCSCAN_VERSION_SLOTS - 1].processes;
        r->nversions--;
    }
    for (i = r->nversions; i > pos; i--)
        r->versions[i] = r->versions[i - 1];
    r->versions[pos].version = v;
    r->versions[pos].processes = 1;
    r->nversions++;
}

/* ---- /proc/PID/fd ------------------------------------------------------------------------ */

static bool is_denied(int err)
{
    return err == EACCES || err == EPERM;
}

static bool is_gone(int err)
{
    return err == ENOENT || err == ESRCH;
}

/* Marks the targets that pid holds open. Returns 0, or the errno of the failed open. */
static int scan_fds(struct procscan *ps, int procfd, pid_t pid)
{
    char rel[32];
    struct stat st;
    ssize_t got, pos;
    int dfd, err = 0;

    snprintf(rel, sizeof(rel), "%d/fd", (int)pid);
    dfd = openat(procfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    while ((got = getdents64(dfd, ps->dents, DENTS_BUF)) > 0) {
        for (pos = 0; pos < got;) {
            const struct dirent64 *d = (const struct dirent64 *)(ps->dents + pos);
            int32_t j;

            pos += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9')
                continue; /* "." and ".." */
            /* stat() follows the link to the open file itself (proc(5)). */
            if (fstatat(dfd, d->d_name, &st, 0) != 0)
                continue; /* closed since, or a descriptor we may not follow */
            for (j = find_ino(ps, st.st_ino); j >= 0; j = ps->next_same[j]) {
                if (ps->t[j].dev != st.st_dev)
                    continue;
                if (ps->open_mark[j] != ps->stamp) {
                    ps->open_mark[j] = ps->stamp;
                    ps->fd_count[j] = 0;
                    ps->hits[ps->nhits++] = (uint32_t)j;
                }
                ps->fd_count[j]++;
            }
        }
    }
    if (got < 0)
        err = errno;
    close(dfd);
    return err;
}

/* ---- /proc/PID/maps ---------------------------------------------------------------------- */

struct mapline {
    const char *range; /* "start-end" */
    size_t range_len;
    bool exec;
    unsigned major, minor;
    unsigned long long ino;
    const char *path; /* may be empty */
    size_t path_len;
};

static bool hexval(char c, unsigned *v)
{
    if (c >= '0' && c <= '9')
        *v = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
        *v = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
        *v = (unsigned)(c - 'A' + 10);
    else
        return false;
    return true;
}

/* Hex digits at s[*i..len) into v (bounded: maps numbers fit in 64 bits). */
static bool take_hex(const char *s, size_t len, size_t *i, unsigned long long *v)
{
    unsigned d;
    size_t n = 0;

    *v = 0;
    while (*i < len && hexval(s[*i], &d) && n < 16) {
        *v = (*v << 4) | d;
        (*i)++;
        n++;
    }
    return n > 0;
}

static bool take_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* proc(5): "address perms offset dev inode pathname", e.g.
 *   7f2c1a000000-7f2c1a021000 r-xp 00000000 fd:01 1234567   /usr/lib/libsqlite3.so.0.8.6 */
static bool parse_mapline(const char *s, size_t len, struct mapline *m)
{
    unsigned long long a, b, maj, min;
    size_t i = 0;

    memset(m, 0, sizeof(*m));
    m->range = s;
    if (!take_hex(s, len, &i, &a) || !take_char(s, len, &i, '-') || !take_hex(s, len, &i, &b))
        return false;
    m->range_len = i;
    if (!take_char(s, len, &i, ' ') || i + 4 > len)
        return false;
    m->exec = s[i + 2] == 'x';
    i += 4;
    if (!take_char(s, len, &i, ' ') || !take_hex(s, len, &i, &a) || !take_char(s, len, &i, ' ') ||
        !take_hex(s, len, &i, &maj) || !take_char(s, len, &i, ':') || !take_hex(s, len, &i, &min) ||
        !take_char(s, len, &i, ' '))
        return false;
    if (maj > UINT_MAX || min > UINT_MAX)
        return false;
    m->major = (unsigned)maj;
    m->minor = (unsigned)min;
    if (i >= len || s[i] < '0' || s[i] > '9')
        return false;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (m->ino > (ULLONG_MAX - 9) / 10)
            return false;
        m->ino = m->ino * 10 + (unsigned long long)(s[i] - '0');
        i++;
    }
    while (i < len && s[i] == ' ')
        i++;
    m->path = s + i;
    m->path_len = len - i;
    (void)b;
    return true;
}

enum procscan_mapline_result procscan_parse_mapline(const unsigned char *buf, size_t len,
                                                    struct procscan_mapline *out)
{
    struct mapline m;
    bool ok = parse_mapline((const char *)buf, len, &m);

    *out = (struct procscan_mapline){
        (const unsigned char *)m.range, m.range_len, m.exec, m.major, m.minor, m.ino,
        (const unsigned char *)m.path,  m.path_len};
    return ok ? PROCSCAN_MAPLINE_OK : PROCSCAN_MAPLINE_BAD;
}

/* Case-insensitive: is needle (lower case) in s[0..len)? */
static bool contains_ci(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle), i, k;

    for (i = 0; i + n <= len; i++) {
        for (k = 0; k < n; k++) {
            char c = s[i + k];

            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != needle[k])
                break;
        }
        if (k == n)
            return true;
    }
    return false;
}

/* Whether s[0..len) ends in suffix. */
static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The files SQLite keeps next to a database (SQLite, "Temporary Files Used By SQLite", 2.2
 * to 2.4: "-journal", "-wal", "-shm"). No library is named so; and the -shm is no target,
 * yet the agent's own connections hold their WAL read locks on it, which closing a
 * descriptor on it would drop. */
static bool is_companion(const char *path, size_t len)
{
    return ends_with(path, len, "-shm") || ends_with(path, len, "-wal") ||
           ends_with(path, len, "-journal");
}

static void handle_mapline(struct procscan *ps, const char *s, size_t len)
{
    static const char deleted[] = " (deleted)";
    struct mapline m;
    struct cand *c;
    dev_t dev;
    int32_t j;
    size_t k, plen;

    if (!parse_mapline(s, len, &m) || m.ino == 0)
        return;
    dev = makedev(m.major, m.minor);
    /* Only targets the process holds open are counted (scan_process), so the relaxed
     * device comparison is made among those alone. */
    for (j = find_ino(ps, (ino_t)m.ino); j >= 0; j = ps->next_same[j]) {
        if (dev_compatible(ps->t[j].dev, dev))
            ps->map_mark[j] = ps->stamp;
    }
    if (!m.exec || m.path_len == 0 || m.path[0] != '/' ||
        !(contains_ci(m.path, m.path_len, "sqlite") ||
          contains_ci(m.path, m.path_len, "sqlcipher")))
        return;
    /* A database mapped executable under an SQLite-looking name is no library to read. */
    if (is_target(ps, dev, (ino_t)m.ino))
        return;
    for (k = 0; k < ps->ncands; k++) {
        if (ps->cands[k].ino == (ino_t)m.ino && ps->cands[k].dev == dev)
            return; /* already listed */
    }
    if (ps->ncands == MAX_CANDS || m.range_len >= sizeof(c->range))
        return;
    c = &ps->cands[ps->ncands];
    plen = m.path_len;
    c->deleted = plen >= sizeof(deleted) - 1 &&
                 memcmp(m.path + plen - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1) == 0;
    if (c->deleted)
        plen -= sizeof(deleted) - 1;
    if (plen >= sizeof(c->path) || is_companion(m.path, plen))
        return;
    c->dev = dev;
    c->ino = (ino_t)m.ino;
    memcpy(c->range, m.range, m.range_len);
    c->range[m.range_len] = '\0';
    memcpy(c->path, m.path, plen);
    c->path[plen] = '\0';
    ps->ncands++;
}

/* Reads /proc/PID/maps once: marks mapped targets and lists SQLite-looking objects.
 * Returns 0, or an errno. */
static int scan_maps(struct procscan *ps, int procfd, pid_t pid)
{
    char rel[32];
    size_t fill = 0, start, k;
    bool skipping = false; /* inside a line longer than the buffer */
    ssize_t got;
    int fd, err = 0;

    ps->ncands = 0;
    snprintf(rel, sizeof(rel), "%d/maps", (int)pid);
    fd = openat(procfd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    for (;;) {
        got = read(fd, ps->maps + fill, MAPS_BUF - fill);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            err = errno;
            break;
        }
        if (got == 0) {
            if (fill > 0 && !skipping)
                handle_mapline(ps, ps->maps, fill); /* a last line without '\n' */
            break;
        }
        fill += (size_t)got;
        for (start = 0, k = 0; k < fill; k++) {
            if (ps->maps[k] != '\n')
                continue;
            if (!skipping)
                handle_mapline(ps, ps->maps + start, k - start);
            skipping = false;
            start = k + 1;
        }
        if (start == 0 && fill == MAPS_BUF) { /* no '\n' in a full buffer */
            skipping = true;
            fill = 0;
            continue;
        }
        memmove(ps->maps, ps->maps + start, fill - start);
        fill -= start;
    }
    close(fd);
    return err;
}

/* ---- versions ---------------------------------------------------------------------------- */

static uint32_t version_of_fd(struct procscan *ps, int fd, struct procscan_stats *st)
{
    struct elfver_info info;

    st->objects++;
    return elfver_fd(ps->elf, fd, &info) == ELFVER_FOUND ? info.version : 0;
}

/*
 * Takes pfd, an O_PATH descriptor, and closes it. Returns a descriptor open for reading on
 * the same file, or -1 when it is no regular file, not the mapped inode (want, when not
 * NULL), or a target.
 */
static int reopen_checked(const struct procscan *ps, int procfd, int pfd, const struct cand *want)
{
    char rel[32];
    struct stat sb;
    int fd = -1;

    if (fstat(pfd, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    if (want && (sb.st_ino != want->ino || !dev_compatible(sb.st_dev, want->dev)))
        goto out;
    if (is_target(ps, sb.st_dev, sb.st_ino))
        goto out;
    snprintf(rel, sizeof(rel), "self/fd/%d", pfd);
    fd = openat(procfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
out:
    close(pfd);
    return fd;
}

/*
 * An O_PATH descriptor on path (absolute, as maps prints it) inside pid's root, or -1. The
 * root itself is reached through the magic link /proc/PID/root, which must be followed; from
 * there every component is opened with O_NOFOLLOW (and all but the last with O_DIRECTORY, so
 * a link in the middle fails with ENOTDIR), "." and ".." are refused, and nothing is ever
 * resolved from any directory but the one just opened: the walk cannot leave that root or
 * be sent elsewhere by a link, as openat2()'s RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS would
 * have it, on every kernel and under seccomp filters that refuse openat2.
 */
static int open_in_root(int procfd, pid_t pid, const char *path)
{
    char rel[32], name[NAME_MAX + 1];
    const char *p = path, *slash;
    int dfd, next;
    size_t n;

    snprintf(rel, sizeof(rel), "%d/root", (int)pid);
    dfd = openat(procfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (dfd >= 0) {
        while (*p == '/')
            p++;
        slash = strchr(p, '/');
        n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > NAME_MAX || (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.')))) {
            close(dfd);
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        next = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (*p ? O_DIRECTORY : 0));
        close(dfd);
        if (next < 0 || *p == '\0')
            return next;
        dfd = next;
    }
    return -1;
}

static uint32_t cand_version(struct procscan *ps, int procfd, pid_t pid, const struct cand *c,
                             struct procscan_stats *st)
{
    char rel[96];
    uint32_t v;
    int fd = -1, pfd;

    /* The mapped inode itself, when the kernel lets us (the magic link is followed: its
     * permission check is made then, and fails with EPERM without the capability). */
    if (!ps->map_files_denied) {
        snprintf(rel, sizeof(rel), "%d/map_files/%s", (int)pid, c->range);
        pfd = openat(procfd, rel, O_PATH | O_CLOEXEC);
        if (pfd < 0 && is_denied(errno))
            ps->map_files_denied = true;
        if (pfd >= 0)
            fd = reopen_checked(ps, procfd, pfd, c);
    }
    /* Else the same path in the process's root, if it still names the mapped inode. */
    if (fd < 0 && !c->deleted) {
        pfd = open_in_root(procfd, pid, c->path);
        if (pfd >= 0)
            fd = reopen_checked(ps, procfd, pfd, c);
    }
    if (fd < 0)
        return 0;
    v = version_of_fd(ps, fd, st);
    close(fd);
    return v;
}

/* The SQLite version pid runs: the oldest found in its SQLite-looking mappings, else in its
 * executable; 0 when it cannot be told. */
static uint32_t process_version(struct procscan *ps, int procfd, pid_t pid,
                                struct procscan_stats *st)
{
    char rel[32];
    uint32_t best = 0, v;
    size_t k;
    int fd;

    for (k = 0; k < ps->ncands; k++) {
        v = cand_version(ps, procfd, pid, &ps->cands[k], st);
        if (v && (best == 0 || v < best))
            best = v;
    }
    if (best)
        return best;
    snprintf(rel, sizeof(rel), "%d/exe", (int)pid);
    fd = openat(procfd, rel, O_PATH | O_CLOEXEC);
    if (fd >= 0)
        fd = reopen_checked(ps, procfd, fd, NULL);
    if (fd < 0)
        return 0;
    v = version_of_fd(ps, fd, st);
    close(fd);
    return v;
}

/* ---- the pass ---------------------------------------------------------------------------- */

static void next_stamp(struct procscan *ps)
{
    if (++ps->stamp == 0) { /* wrapped: old marks could look current */
        memset(ps->open_mark, 0, ps->n * sizeof(*ps->open_mark));
        memset(ps->map_mark, 0, ps->n * sizeof(*ps->map_mark));
        ps->stamp = 1;
    }
}

static void scan_process(struct procscan *ps, int procfd, pid_t pid, struct procscan_result *res,
                         struct procscan_stats *st)
{
    uint32_t version;
    size_t k;
    int err;

    st->processes++;
    next_stamp(ps);
    ps->nhits = 0;
    err = scan_fds(ps, procfd, pid);
    if (err && is_gone(err)) {
        st->vanished++;
        return;
    }
    if (err && ps->nhits == 0) { /* EACCES, EPERM; or EMFILE, EIO...: not inspected either */
        st->uninspectable++;
        return;
    }
    if (ps->nhits == 0)
        return;
    st->matched++;
    err = scan_maps(ps, procfd, pid);
    if (err) {
        ps->ncands = 0;
        if (is_gone(err)) {
            st->vanished++;
            return;
        }
        st->uninspectable++; /* counted, and its descriptors still count below */
        version = 0;
    } else {
        version = process_version(ps, procfd, pid, st);
    }
    for (k = 0; k < ps->nhits; k++) {
        uint32_t j = ps->hits[k];
        bool mapped = !err && ps->map_mark[j] == ps->stamp;

        res[j].open_processes++;
        res[j].open_descriptors += ps->fd_count[j];
        if (mapped)
            res[j].mmap_processes++;
        add_version(&res[j], version);
        if (ps->hit_fn)
            ps->hit_fn(ps->hit_arg, j, pid, version, mapped);
    }
}

static bool parse_pid(const char *s, pid_t *pid)
{
    long v = 0;

    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (LONG_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    if (v <= 0 || v > INT_MAX)
        return false;
    *pid = (pid_t)v;
    return true;
}

int procscan_run(struct procscan *ps, struct procscan_result *res, struct procscan_stats *stats)
{
    struct procscan_stats st;
    pid_t self = getpid(), pid;
    ssize_t got, pos;
    int procfd = -1, rc = 0;

    memset(&st, 0, sizeof(st));
    if (ps->n == 0)
        goto out; /* nothing to look for */
    memset(res, 0, ps->n * sizeof(*res));
    ps->map_files_denied = false;
    procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        rc = -1;
        goto out;
    }
    /* Its own buffer: ps->dents is in use by scan_fds() while this listing is walked. */
    while ((got = getdents64(procfd, ps->listing, LISTING_BUF)) > 0) {
        for (pos = 0; pos < got;) {
            const struct dirent64 *d = (const struct dirent64 *)(ps->listing + pos);

            pos += d->d_reclen;
            if (!parse_pid(d->d_name, &pid) || pid == self)
                continue;
            scan_process(ps, procfd, pid, res, &st);
        }
    }
    if (got < 0)
        rc = -1;
out:
    if (procfd >= 0) {
        int saved = errno;

        close(procfd);
        errno = saved;
    }
    if (stats)
        *stats = st;
    return rc;
}
