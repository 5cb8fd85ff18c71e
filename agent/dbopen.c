/* dbopen.c: see dbopen.h for the why. */
#include "dbopen.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static bool side_file(const char *db_path, const char *suffix, struct stat *st)
{
    char path[4200];

    memset(st, 0, sizeof(*st));
    if ((size_t)snprintf(path, sizeof(path), "%s%s", db_path, suffix) >= sizeof(path))
        return true; /* cannot tell: assume present, the safe side */
    return stat(path, st) == 0 || errno != ENOENT;
}

void dbopen_plan(const char *path, struct dbopen *p)
{
    unsigned char buf[FF_DB_HEADER_SIZE];
    struct ff_db_header h;
    struct stat wal, shm;

    memset(p, 0, sizeof(*p));
    p->mode = DBOPEN_LOCKED;
    p->probe_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (p->probe_fd < 0 || fstat(p->probe_fd, &p->before) != 0)
        return; /* SQLite will fail the same way, and say why */
    p->wal = pread(p->probe_fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
             fileformat_parse_db_header(buf, sizeof(buf), &h) == FF_OK && h.read_version == 2;
    if (!p->wal)
        return;
    bool has_wal = side_file(path, "-wal", &wal);
    bool has_shm = side_file(path, "-shm", &shm);
    if (!has_wal || (wal.st_size == 0 && !has_shm))
        p->mode = DBOPEN_IMMUTABLE;
    else if (!has_shm)
        p->mode =
            geteuid() == 0 || geteuid() == p->before.st_uid ? DBOPEN_CREATE_SHM : DBOPEN_REFUSE;
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
    char *uri = uri_for(path, query[p->mode]);
    if (uri == NULL)
        return SQLITE_NOMEM;
    /* READONLY without CREATE: a missing database fails with SQLITE_CANTOPEN. */
    int rc = sqlite3_open_v2(uri, conn,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
                                 SQLITE_OPEN_EXRESCODE,
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

    if (stat(path, &now) != 0 || now.st_ino != p->before.st_ino || now.st_dev != p->before.st_dev ||
        now.st_size != p->before.st_size || now.st_mtim.tv_sec != p->before.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != p->before.st_mtim.tv_nsec ||
        now.st_ctim.tv_sec != p->before.st_ctim.tv_sec ||
        now.st_ctim.tv_nsec != p->before.st_ctim.tv_nsec)
        return false;
    return !side_file(path, "-wal", &wal) || wal.st_size == 0;
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

    return p->wal && p->mode == DBOPEN_LOCKED && !side_file(path, "-wal", &wal);
}

void dbopen_done(struct dbopen *p, struct fdguard *g)
{
    if (p->probe_fd >= 0)
        fdguard_release(g, p->probe_fd);
    p->probe_fd = -1;
}
