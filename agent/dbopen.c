/* dbopen.c: see dbopen.h for the why. */
#include "dbopen.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileformat.h"
#include "ratelimit.h"

#define VFS_NAME "sqlite-agent-ro"

/* os_unix.c: the byte a writer locks while it waits for readers to go (PENDING_BYTE). */
#define PENDING_BYTE 0x40000000

static sqlite3_vfs ro_vfs;
static sqlite3_vfs *unix_vfs;
static pthread_once_t ro_once = PTHREAD_ONCE_INIT;

/* The check running on this thread, for xRead: SQLite calls a connection's VFS on the thread
 * that steps it, and a check runs on one thread from open to close. */
static _Thread_local struct dbopen_io *this_io;

/* Every file the VFS opens: the unix file after our header. Only the monitored database's
 * own files (counted) are budgeted and counted; SQLite's temporary files are the agent's. */
struct ro_file {
    sqlite3_file base;
    bool counted;
    sqlite3_file *real; /* points just past this struct, unix_vfs->szOsFile bytes */
};

#define REAL(f) (((struct ro_file *)(f))->real)

/* Slices of the budget's wait: the end of the run (deadline, stop, step aside) is noticed
 * within this, so a rate-limited check never holds its snapshot for a sleep. */
#define IO_SLICE_US 5000

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void io_wait(struct dbopen_io *io, int64_t wait_us)
{
    while (wait_us > 0 && !(io->must_end != NULL && io->must_end(io->arg))) {
        int64_t us = wait_us < IO_SLICE_US ? wait_us : IO_SLICE_US;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000};
        nanosleep(&ts, NULL);
        wait_us -= us;
    }
}

static int ro_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    struct dbopen_io *io = this_io;

    if (((struct ro_file *)f)->counted && io != NULL && n > 0) {
        io->bytes += (uint64_t)n;
        io_wait(io, ratelimit_take(&io->budget, (size_t)n, mono_us()));
    }
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int ro_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int ro_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int ro_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int ro_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int ro_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int ro_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}
static int ro_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}
static int ro_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int ro_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int ro_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int ro_device_characteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int ro_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    const sqlite3_io_methods *m = REAL(f)->pMethods;
    return m->iVersion >= 2 ? m->xShmMap(REAL(f), pg, pgsz, extend, pp) : SQLITE_IOERR_SHMMAP;
}
/* wal.c: WAL_READ_LOCK(I) is lock slot 3 + I, for the WAL_NREADER (5) read marks. A read
 * transaction takes one shared in walTryBeginRead, then checks that the wal-index header has
 * not changed since it read it (and starts again if it has): right after the lock, the header
 * in the -shm is the snapshot's. */
#define WAL_READ_LOCK_0 3
#define WAL_NREADER 5

static void note_read_lock(int ofst, int n, int flags)
{
    struct dbopen_io *io = this_io;

    if (io != NULL && io->read_begun != NULL && n == 1 && ofst >= WAL_READ_LOCK_0 &&
        ofst < WAL_READ_LOCK_0 + WAL_NREADER && flags == (SQLITE_SHM_LOCK | SQLITE_SHM_SHARED))
        io->read_begun(io->arg);
}

static int ro_shm_lock(sqlite3_file *f, int ofst, int n, int flags)
{
    const sqlite3_io_methods *m = REAL(f)->pMethods;
    if (m->iVersion < 2)
        return SQLITE_IOERR_SHMLOCK;
    int rc = m->xShmLock(REAL(f), ofst, n, flags);
    if (rc == SQLITE_OK)
        note_read_lock(ofst, n, flags);
    return rc;
}
static void ro_shm_barrier(sqlite3_file *f)
{
    const sqlite3_io_methods *m = REAL(f)->pMethods;
    if (m->iVersion >= 2)
        m->xShmBarrier(REAL(f));
}
static int ro_shm_unmap(sqlite3_file *f, int del)
{
    const sqlite3_io_methods *m = REAL(f)->pMethods;
    return m->iVersion >= 2 ? m->xShmUnmap(REAL(f), del) : SQLITE_OK;
}
/* mmap_size=0: SQLite asks for no mapping, and the unix VFS returns none (*pp = 0). */
static int ro_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    const sqlite3_io_methods *m = REAL(f)->pMethods;
    if (m->iVersion < 3) {
        *pp = NULL;
        return SQLITE_OK;
    }
    return m->xFetch(REAL(f), off, n, pp);
}
static int ro_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    const sqlite3_io_methods *m = REAL(f)->pMethods;
    return m->iVersion >= 3 ? m->xUnfetch(REAL(f), off, p) : SQLITE_OK;
}

static const sqlite3_io_methods ro_methods = {
    3,
    ro_close,
    ro_read,
    ro_write,
    ro_truncate,
    ro_sync,
    ro_file_size,
    ro_lock,
    ro_unlock,
    ro_check_reserved,
    ro_file_control,
    ro_sector_size,
    ro_device_characteristics,
    ro_shm_map,
    ro_shm_lock,
    ro_shm_barrier,
    ro_shm_unmap,
    ro_fetch,
    ro_unfetch,
};

void dbopen_io_bind(struct dbopen_io *io)
{
    this_io = io;
}

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
    struct ro_file *rf = (struct ro_file *)f;
    (void)vfs;
    if ((flags & theirs) && name != NULL && safeopen_may_block(name))
        return SQLITE_CANTOPEN; /* a FIFO: SQLite's open would wait for a writer for ever */
    if (flags & theirs) {
        flags &= ~(SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_DELETEONCLOSE);
        flags |= SQLITE_OPEN_READONLY;
    }
    /* The unix file lives after the header; SQLite calls xClose only when pMethods is set. */
    rf->real = (sqlite3_file *)(rf + 1);
    rf->counted = (flags & theirs) != 0;
    rf->base.pMethods = NULL;
    int rc = unix_vfs->xOpen(unix_vfs, name, rf->real, flags, out_flags);
    if (rf->real->pMethods != NULL)
        rf->base.pMethods = &ro_methods;
    return rc;
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
    ro_vfs = *unix_vfs; /* same methods and pAppData but xOpen, xDelete and the file size */
    ro_vfs.szOsFile = (int)sizeof(struct ro_file) + unix_vfs->szOsFile;
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
    /* No checkpoint at close: sqlite3PagerClose lets sqlite3WalClose try an EXCLUSIVE lock on
     * the database file, to checkpoint and delete the WAL, when it may be the last connection
     * (wal.c, "If an EXCLUSIVE lock can be obtained ..."). The descriptor is read-only, so the
     * kernel refuses the write lock (EBADF, seen with strace: test_no_harm), and a lock that
     * did succeed would turn away an application opening the file until the descriptor
     * closed. SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE (3.16.0) skips the attempt altogether. */
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(*conn, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
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

/*
 * The WAL locks, read without taking any. wal.c: WAL_WRITE_LOCK is lock 0 and WAL_CKPT_LOCK
 * lock 1 of SQLITE_SHM_NLOCK; os_unix.c (unixShmSystemLock): lock i is one byte of the -shm at
 * UNIX_SHM_BASE + i, UNIX_SHM_BASE = (22 + SQLITE_SHM_NLOCK) * 4 = 120, taken with fcntl
 * F_WRLCK when exclusive. F_GETLK reports a conflicting lock of another process (never the
 * agent's own: classic POSIX locks do not conflict within one process), with its pid.
 */
#define SHM_LOCK_BASE 120
#define SHM_WRITE_LOCK 0
#define SHM_CKPT_LOCK 1

enum dbopen_wal_locks dbopen_wal_locks_of(pid_t writer, pid_t checkpointer)
{
    if (writer == 0 && checkpointer == 0)
        return DBOPEN_WAL_FREE;
    if (checkpointer == 0)
        return DBOPEN_WAL_WRITER;
    if (writer == 0)
        return DBOPEN_WAL_CHECKPOINT;
    /* wal.c, sqlite3WalCheckpoint: FULL, RESTART and TRUNCATE take CKPT, then WRITE, and hold
     * both while the busy handler waits for readers (walBusyLock in walCheckpoint). A writer
     * and another process's PASSIVE checkpoint hold one each. A pid of -1 (F_GETLK gave none,
     * another pid namespace) counts as the same process: the safe side is to step aside. */
    if (writer == checkpointer || writer == -1 || checkpointer == -1)
        return DBOPEN_WAL_CHECKPOINT_BLOCKING;
    return DBOPEN_WAL_WRITER_AND_CHECKPOINT;
}

/* The pid holding lock i exclusively, -1 when it is held but the pid is unknown, 0 when free
 * or the probe failed (then no yield: a failed probe never stops a check). */
static pid_t shm_holder(int fd, int i)
{
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHM_LOCK_BASE + i, .l_len = 1};

    if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type != F_WRLCK)
        return 0;
    return fl.l_pid > 0 ? fl.l_pid : -1;
}

enum dbopen_wal_locks dbopen_wal_locks(const struct dbopen_shm *s)
{
    if (s->fd < 0)
        return DBOPEN_WAL_FREE;
    return dbopen_wal_locks_of(shm_holder(s->fd, SHM_WRITE_LOCK), shm_holder(s->fd, SHM_CKPT_LOCK));
}

bool dbopen_wal_header(const struct dbopen_shm *s, struct ff_walindex *out)
{
    unsigned char buf[FF_WALINDEX_READ_SIZE];
    struct ff_walindex h;

    if (s->fd < 0 || pread(s->fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
        fileformat_parse_walindex(buf, sizeof(buf), &h) != FF_OK)
        return false;
    *out = h;
    return true;
}

/* The -shm SQLite itself uses: next to the database file as SQLite resolved it
 * (sqlite3_db_filename), so a symbolic link leads to the same file. Opened read-only,
 * non-blocking, and kept only when it is a regular file. */
void dbopen_shm_open(sqlite3 *conn, struct dbopen_shm *s, struct fdguard *g)
{
    const char *db = conn ? sqlite3_db_filename(conn, "main") : NULL;
    char path[4200];
    struct stat st;

    s->fd = -1;
    if (db == NULL || *db == '\0' ||
        (size_t)snprintf(path, sizeof(path), "%s-shm", db) >= sizeof(path))
        return;
    s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (s->fd >= 0 && (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        fdguard_release(g, s->fd); /* not SQLite's -shm, but the rule has no exceptions */
        s->fd = -1;
    }
}

void dbopen_shm_done(struct dbopen_shm *s, struct fdguard *g)
{
    if (s->fd >= 0)
        fdguard_release(g, s->fd);
    s->fd = -1;
}
