/* dbopen.c: see dbopen.h for the why. */
#include "dbopen.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileformat.h"

#define VFS_NAME "sqlite-agent-ro"

/* os_unix.c: the byte a writer locks while it waits for readers to go (PENDING_BYTE). */
#define PENDING_BYTE 0x40000000

static sqlite3_vfs ro_vfs;
static sqlite3_vfs *unix_vfs;
static pthread_once_t ro_once = PTHREAD_ONCE_INIT;

/* Every file read-only, none created: SQLite then fails with SQLITE_CANTOPEN where it would
 * have made a -wal or a journal. (As root, SQLite still gives a -wal it opens the database's
 * owner, os_unix.c robustFchown: the owner the application expects.) */
static int ro_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                   int *out_flags)
{
    /* The files of the monitored database. SQLite's own temporary files (a sort during
     * integrity_check of a large database, in the temporary directory, unnamed and deleted on
     * close) are the agent's, and open as SQLite asks. */
    const int theirs = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL |
                       SQLITE_OPEN_SUPER_JOURNAL;
    (void)vfs;
    if ((flags & theirs) && name != NULL && safeopen_may_block(name))
        return SQLITE_CANTOPEN; /* a FIFO: SQLite's open would wait for a writer for ever */
    if (flags & theirs) {
        flags &= ~(SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_DELETEONCLOSE);
        flags |= SQLITE_OPEN_READONLY;
    }
    return unix_vfs->xOpen(unix_vfs, name, f, flags, out_flags);
}

/* Nothing is deleted by name either: SQLite deletes a -wal it finds next to an empty database
 * file (pager.c, pagerOpenWalIfPresent). The open then fails, and the run is an error.
 * (Temporary files are unnamed or deleted on close, not through xDelete.) */
static int ro_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    (void)name;
    (void)sync_dir;
    return SQLITE_IOERR_DELETE;
}

static void ro_register(void)
{
    unix_vfs = sqlite3_vfs_find("unix");
    if (unix_vfs == NULL)
        return;
    ro_vfs = *unix_vfs; /* same methods and pAppData; only xOpen differs */
    ro_vfs.zName = VFS_NAME;
    ro_vfs.xOpen = ro_open;
    ro_vfs.xDelete = ro_delete;
    ro_vfs.pNext = NULL;
    if (sqlite3_vfs_register(&ro_vfs, 0) != SQLITE_OK)
        unix_vfs = NULL;
}

/* Whether path + suffix may exist (absent only when lstat says ENOENT: an error is the safe
 * side, present). SQLite opens side files with O_NOFOLLOW (os_unix.c, unixOpen and
 * unixOpenSharedMemory), so a link there is looked at, not followed. */
static bool side_file(const char *db_path, const char *suffix, struct stat *st)
{
    char path[SAFEOPEN_PATH_MAX + 16];

    memset(st, 0, sizeof(*st));
    snprintf(path, sizeof(path), "%s%s", db_path, suffix);
    return lstat(path, st) == 0 || errno != ENOENT;
}

static void refuse(struct dbopen *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(struct dbopen *p, const char *fmt, ...)
{
    va_list ap;

    p->mode = DBOPEN_REFUSE;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
}

/* Anything at a side file's path but a regular file is refused: a FIFO would block SQLite's
 * open (which has no O_NONBLOCK) for ever, and SQLite does not follow a link there. The
 * -journal is opened on a hot-journal check (pager.c, hasHotJournal), the -wal whenever it
 * exists (pagerOpenWalIfPresent), the -shm with the WAL. */
static bool sides_regular(struct dbopen *p)
{
    static const char *const suffix[] = {"-journal", "-wal", "-shm"};
    char path[SAFEOPEN_PATH_MAX + 16];
    struct stat st;
    int err;

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", p->path, suffix[i]);
        enum safeopen_result r = safeopen_lstat(path, &st, &err);
        if (r == SAFEOPEN_SYMLINK || r == SAFEOPEN_NOT_REGULAR) {
            refuse(p, "%s: %s", suffix[i], safeopen_result_str(r));
            return false;
        }
    }
    return true;
}

/* wal.c: WAL_HDRSIZE, WAL_MAGIC; SQLITE_MAX_PAGE_SIZE (sqliteLimit.h). */
#define WAL_HDRSIZE 32
#define WAL_MAGIC 0x377f0682u
#define MAX_PAGE_SIZE 65536u

static uint32_t get4_be(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

bool dbopen_wal_retries_forever(const unsigned char *buf, size_t len, uint64_t wal_size)
{
    static const unsigned char zero_salt[8];

    /* walBeginShmUnreliable: a -wal shorter than its header reads the database alone. */
    if (wal_size < WAL_HDRSIZE || len < WAL_HDRSIZE)
        return false;
    uint32_t magic = get4_be(buf), page_size = get4_be(buf + 8);
    /* walIndexRecover reads the header only when nSize > WAL_HDRSIZE, and copies the salt
     * only once the magic number and page size pass. */
    bool salt_kept = wal_size > WAL_HDRSIZE && (magic & 0xFFFFFFFEu) == WAL_MAGIC &&
                     (page_size & (page_size - 1)) == 0 && page_size >= 512 &&
                     page_size <= MAX_PAGE_SIZE;
    /* "memcmp(&pWal->hdr.aSalt, &aBuf[16], 8)": a zero salt in the file matches. */
    return !salt_kept && memcmp(buf + 16, zero_salt, sizeof(zero_salt)) != 0;
}

/* os_unix.c: UNIX_SHM_DMS, the -shm byte every connection that can write holds a read lock
 * on; unixLockSharedMemory calls the -shm unreliable (SQLITE_READONLY_CANTINIT) when a
 * read-only connection finds no lock there. */
#define UNIX_SHM_DMS ((22 + 8) * 4 + 8)

/* Whether a read would run into the WAL_RETRY loop of dbopen_wal_retries_forever: reads the
 * -wal header and asks who locks the -shm. The descriptors stay in p until dbopen_done. */
static bool read_would_spin(struct dbopen *p)
{
    unsigned char hdr[WAL_HDRSIZE];
    char path[SAFEOPEN_PATH_MAX + 16];
    struct stat st;
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = UNIX_SHM_DMS, .l_len = 1};
    int err;

    snprintf(path, sizeof(path), "%s-wal", p->path);
    if (safeopen_open(path, 0, &p->side_fd[0], &st, &err) != SAFEOPEN_OK ||
        pread(p->side_fd[0], hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        !dbopen_wal_retries_forever(hdr, sizeof(hdr), (uint64_t)st.st_size))
        return false;
    snprintf(path, sizeof(path), "%s-shm", p->path);
    return safeopen_open(path, 0, &p->side_fd[1], &st, &err) == SAFEOPEN_OK &&
           fcntl(p->side_fd[1], F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK;
}

static void on_wake(int sig)
{
    (void)sig; /* only there to make a blocked system call return EINTR */
}

static pthread_once_t wake_once = PTHREAD_ONCE_INIT;

static void wake_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_wake;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: that is the point */
    sigaction(DBOPEN_WAKE_SIGNAL, &sa, NULL);
}

/* The database itself: resolved as SQLite will resolve it, and a regular file. False when the
 * plan is already made (refused, or left to SQLite to fail and say why). */
static bool plan_database(const char *path, struct dbopen *p)
{
    struct safeopen_path rp;
    enum safeopen_result r = safeopen_resolve(path, &rp);
    int err;

    snprintf(p->path, sizeof(p->path), "%s", r == SAFEOPEN_OK ? rp.path : path);
    if (r == SAFEOPEN_MISSING || r == SAFEOPEN_ERRNO)
        return false; /* SQLite's own resolution fails the same way, and says why */
    if (r != SAFEOPEN_OK) {
        refuse(p, "database path: %.160s", rp.why[0] ? rp.why : safeopen_result_str(r));
        return false;
    }
    r = safeopen_open(p->path, 0, &p->probe_fd, &p->before, &err);
    if (r == SAFEOPEN_NOT_REGULAR || r == SAFEOPEN_CHANGED || r == SAFEOPEN_SYMLINK) {
        refuse(p, "database: %s", safeopen_result_str(r));
        return false;
    }
    return r == SAFEOPEN_OK && sides_regular(p);
}

void dbopen_plan(const char *path, struct dbopen *p)
{
    unsigned char buf[FF_DB_HEADER_SIZE];
    struct ff_db_header h;
    struct stat wal, shm;

    memset(p, 0, sizeof(*p));
    p->mode = DBOPEN_LOCKED;
    p->probe_fd = p->side_fd[0] = p->side_fd[1] = -1;
    p->thread = pthread_self();
    pthread_once(&wake_once, wake_install);
    if (!plan_database(path, p))
        return; /* refused, or SQLite will fail the same way, and say why */
    p->wal = pread(p->probe_fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
             fileformat_parse_db_header(buf, sizeof(buf), &h) == FF_OK && h.read_version == 2;
    if (!p->wal)
        return;
    bool has_wal = side_file(p->path, "-wal", &wal);
    bool has_shm = side_file(p->path, "-shm", &shm);
    if (!has_wal || (wal.st_size == 0 && !has_shm))
        p->mode = DBOPEN_IMMUTABLE;
    else if (!has_shm && geteuid() != 0 && geteuid() != p->before.st_uid)
        refuse(p, "the -wal has frames but the -shm is missing, and opening would create it "
                  "owned by the agent's user");
    else if (!has_shm)
        p->mode = DBOPEN_CREATE_SHM;
    else if (read_would_spin(p))
        refuse(p, "the -wal header is invalid and no process holds the -shm: SQLite would "
                  "retry for 10 s, then fail (wal.c, walBeginShmUnreliable)");
}

/* "file:" URI for path; every byte outside RFC 3986's unreserved set and '/' percent-encoded,
 * so '?', '#' and '%' in a path stay part of it. NULL when out of memory. */
static char *uri_for(const char *path, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    char *uri = malloc(sizeof("file:") + 3 * strlen(path) + strlen(query) + 1);
    char *o = uri;

    if (uri == NULL)
        return NULL;
    o += sprintf(o, "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~/", *c) != NULL) {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    strcpy(o, query);
    return uri;
}

int dbopen_open(const char *path, const struct dbopen *p, sqlite3 **conn)
{
    static const char *const query[] = {
        [DBOPEN_LOCKED] = "?readonly_shm=1",
        [DBOPEN_CREATE_SHM] = "",
        [DBOPEN_IMMUTABLE] = "?immutable=1",
    };

    *conn = NULL;
    pthread_once(&ro_once, ro_register);
    if (unix_vfs == NULL || p->mode == DBOPEN_REFUSE)
        return SQLITE_CANTOPEN;
    (void)path;
    char *uri = uri_for(p->path, query[p->mode]);
    if (uri == NULL)
        return SQLITE_NOMEM;
    /* READONLY without CREATE: a missing database fails with SQLITE_CANTOPEN. NOFOLLOW: the
     * plan resolved every link (and judged it), so one now is new: SQLITE_CANTOPEN_SYMLINK
     * (pager.c, sqlite3PagerOpen). */
    int rc = sqlite3_open_v2(uri, conn,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
                                 SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOFOLLOW,
                             VFS_NAME);
    free(uri);
    return rc;
}

/*
 * Identity, size, mtime and ctime, and any WAL content that appeared means a writer was there.
 * On kernels with coarse file timestamps a checkpoint that lands within one clock tick of the
 * first fstat can go unseen: a window of milliseconds that needs an application to open,
 * commit, checkpoint and close inside it.
 */
bool dbopen_unchanged(const char *path, const struct dbopen *p)
{
    struct stat now, wal;

    (void)path;
    if (lstat(p->path, &now) != 0 || now.st_ino != p->before.st_ino ||
        now.st_dev != p->before.st_dev || now.st_size != p->before.st_size ||
        now.st_mtim.tv_sec != p->before.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != p->before.st_mtim.tv_nsec ||
        now.st_ctim.tv_sec != p->before.st_ctim.tv_sec ||
        now.st_ctim.tv_nsec != p->before.st_ctim.tv_nsec)
        return false;
    return !side_file(p->path, "-wal", &wal) || wal.st_size == 0;
}

bool dbopen_writer_waiting(const struct dbopen *p)
{
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = PENDING_BYTE, .l_len = 1};

    if (p->wal || p->probe_fd < 0)
        return false;
    /* F_GETLK reports other processes' locks only: the check's own SHARED lock is not seen.
     * Readers take a read lock on PENDING for a moment while they acquire SHARED
     * (os_unix.c, unixLock), so only a write lock there is a writer waiting. */
    return fcntl(p->probe_fd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK;
}

bool dbopen_wal_vanished(const char *path, const struct dbopen *p)
{
    struct stat wal;

    (void)path;
    return p->wal && p->mode == DBOPEN_LOCKED && !side_file(p->path, "-wal", &wal);
}

/* The file at path is pinned with O_PATH and reopened for writing through /proc/self/fd only
 * when it is a FIFO, so no database is ever opened for writing, whatever is renamed there
 * meanwhile. An O_PATH descriptor takes part in no locking, and closing it drops no lock
 * (fs/open.c, filp_close: locks_remove_posix is skipped for FMODE_PATH); the FIFO's own
 * descriptor is on the FIFO. O_NONBLOCK: with no reader waiting, ENXIO at once. */
static void release_fifo(const char *path)
{
    char self[64];
    struct stat st;
    int pin = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (pin < 0)
        return;
    if (fstat(pin, &st) == 0 && S_ISFIFO(st.st_mode)) {
        snprintf(self, sizeof(self), "/proc/self/fd/%d", pin);
        int w = open(self, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (w >= 0)
            close(w);
    }
    close(pin);
}

void dbopen_release_fifos(const struct dbopen *p)
{
    static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
    char path[SAFEOPEN_PATH_MAX + 16];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", p->path, suffix[i]);
        release_fifo(path);
    }
}

void dbopen_unblock(const struct dbopen *p)
{
    dbopen_release_fifos(p);
    pthread_kill(p->thread, DBOPEN_WAKE_SIGNAL);
}

void dbopen_done(struct dbopen *p, struct fdguard *g)
{
    if (p->probe_fd >= 0)
        fdguard_release(g, p->probe_fd);
    p->probe_fd = -1;
    for (int i = 0; i < 2; i++) {
        if (p->side_fd[i] >= 0)
            fdguard_release(g, p->side_fd[i]);
        p->side_fd[i] = -1;
    }
}
