/*
 * dbopen.h: how a check opens a monitored database without harming the application.
 *
 * A reader of a WAL database needs the -wal and the -shm. When the application has closed the
 * database they are gone, and SQLite, even on a read-only connection, creates them: owned by
 * the agent's user, so an application running as another user could no longer write. And the
 * application can close the database between any look at the directory and the open. So the
 * agent makes creation impossible rather than racing for it:
 *   - its own VFS ("sqlite-agent-ro", a thin layer over "unix") opens every file read-only and
 *     never with O_CREAT, and deletes nothing: a -wal or journal that is not there stays not
 *     there, and one that is stays;
 *   - the -shm is opened with readonly_shm=1, which never creates it either;
 *   - a WAL database with no -wal (closed cleanly) is read with immutable=1: no locks, no side
 *     files, and the file compared before and after (dbopen_unchanged);
 *   - a -wal with frames but no -shm can only be read by creating the -shm: allowed when the
 *     agent is root or the database's owner (SQLite gives the new -shm the database's owner and
 *     mode, as the application would), refused otherwise.
 * The path is resolved as SQLite resolves it (safeopen_resolve), at every plan, and the -wal,
 * -shm and -journal looked at next to what it names; a link the rule of safeopen.h does not
 * follow, and anything at those paths that is not a regular file (a FIFO would block SQLite's
 * open for ever), is refused before SQLite opens anything.
 * Rollback-journal readers create nothing, but hold a shared lock for the whole check, which a
 * committing writer must wait for: dbopen_writer_waiting lets the check step aside.
 */
#ifndef SQLITE_AGENT_DBOPEN_H
#define SQLITE_AGENT_DBOPEN_H

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fdguard.h"
#include "fileformat.h"
#include "ratelimit.h"
#include "safeopen.h"

enum dbopen_mode {
    DBOPEN_LOCKED,     /* read-only with SQLite's locks; creates nothing */
    DBOPEN_CREATE_SHM, /* the same, but SQLite may create the missing -shm (root or owner) */
    DBOPEN_IMMUTABLE,  /* immutable=1: the file alone, no locks */
    DBOPEN_REFUSE,     /* cannot be read without creating a file another user would own */
};

struct dbopen {
    enum dbopen_mode mode;
    bool wal;           /* the header says WAL */
    int probe_fd;       /* read-only descriptor on the database, or -1 */
    int side_fd[2];     /* on the -wal and the -shm, when the plan had to read them, or -1 */
    struct stat before; /* of the database, when probe_fd was opened */
    char path[SAFEOPEN_PATH_MAX + 1]; /* the database as SQLite resolves it: what is opened */
    char why[200];                    /* DBOPEN_REFUSE: why, for the check's detail */
    pthread_t thread;                 /* that made the plan, and opens: dbopen_unblock */
};

/* Looks at the database and its side files and decides. Opens probe_fd (and side_fd), which
 * the caller gives back with dbopen_done() once its connection is closed. */
void dbopen_plan(const char *path, struct dbopen *p);

/* Opens p->path per plan (never for DBOPEN_REFUSE), refusing a link that appeared since the
 * plan (SQLITE_OPEN_NOFOLLOW). path, as configured, is not used. Returns an SQLite result
 * code. */
int dbopen_open(const char *path, const struct dbopen *p, sqlite3 **conn);

/*
 * Whether SQLite 3.40.1 would retry a read for 10 s and then fail (SQLITE_PROTOCOL) on a WAL
 * database whose -shm no process holds (readonly_shm, so the wal-index is rebuilt in heap
 * memory), given the first len bytes of the -wal and its size. Recovery (wal.c,
 * walIndexRecover) leaves the header's salt zero when the -wal is just a header (32 bytes)
 * or its magic number or page size is invalid; walBeginShmUnreliable then finds the salt in
 * the file differs and returns WAL_RETRY, every time: walTryBeginRead sleeps (cnt-9)^2 * 39 us
 * per retry up to cnt 100, 9.96 s in all, whatever check_timeout says. Pure.
 */
bool dbopen_wal_retries_forever(const unsigned char *buf, size_t len, uint64_t wal_size);

/* After an immutable read: the file is the same and unchanged, and no WAL content appeared.
 * path, as configured, is not used: p->path is. */
bool dbopen_unchanged(const char *path, const struct dbopen *p);

/* Rollback mode: another process holds PENDING, i.e. waits for readers to leave to commit. */
bool dbopen_writer_waiting(const struct dbopen *p);

/* A locked open of a WAL database failed because its -wal is gone: the application closed it
 * in the meantime. A transient state, not an error of the agent's access. (p->path is
 * looked at; path is not used.) */
bool dbopen_wal_vanished(const char *path, const struct dbopen *p);

/*
 * For a run that must end (its deadline, a stop), from another thread: a FIFO swapped in at
 * the database or a side file after the plan looked holds SQLite's open(2), which has no
 * O_NONBLOCK, until some writer opens it, and a FIFO renamed away meanwhile has no name left
 * to open it by. So this opens each FIFO still at those paths for writing and closes it again
 * (opening nothing else), and sends the thread that made the plan DBOPEN_WAKE_SIGNAL, whose
 * handler does nothing and is installed without SA_RESTART: a blocked open then fails with
 * EINTR, and SQLite's robust_open (os_unix.c) opens the path again, meeting what is there now.
 * Called again at the next watchdog round while the run has not ended.
 */
void dbopen_unblock(const struct dbopen *p);
void dbopen_release_fifos(const struct dbopen *p); /* the first half, for tests */

/* Default action: ignored; not used by anything else in the agent. */
#define DBOPEN_WAKE_SIGNAL SIGURG

void dbopen_done(struct dbopen *p, struct fdguard *g);

/* A check's reads through the VFS, bound to the thread that runs it (dbopen_io_bind; NULL
 * unbinds). Only the monitored database's own files (main database, -wal, journal) count and
 * are budgeted: SQLite's temporary files (the sorter of integrity_check) are the agent's. */
struct dbopen_io {
    uint64_t bytes; /* read so far */
    /* Called (with arg) on the check's thread as its read transaction takes a WAL read mark,
     * when the wal-index header is the snapshot's (checker.c, wal_pinned); may be NULL. */
    void (*read_begun)(void *);
    struct ratelimit budget;  /* check_max_read_rate */
    bool (*must_end)(void *); /* a budget wait ends early when this says so */
    void *arg;
};
void dbopen_io_bind(struct dbopen_io *io);

/* A WAL database's lock bytes in the -shm, as other processes hold them. */
enum dbopen_wal_locks {
    DBOPEN_WAL_FREE,                  /* neither lock held */
    DBOPEN_WAL_WRITER,                /* the write lock only: a writer, readers do not block it */
    DBOPEN_WAL_CHECKPOINT,            /* the checkpoint lock only: PASSIVE, it waits for no one */
    DBOPEN_WAL_WRITER_AND_CHECKPOINT, /* one each, by two processes: a writer and a PASSIVE */
    DBOPEN_WAL_CHECKPOINT_BLOCKING,   /* both, by one process: FULL/RESTART/TRUNCATE waiting */
};

/* The verdict over the holders' pids (0: not held; -1: held, pid unknown). Pure. */
enum dbopen_wal_locks dbopen_wal_locks_of(pid_t writer, pid_t checkpointer);

/* A descriptor on the -shm for F_GETLK only: it takes no lock. It is on a file the check's
 * connection holds locks on, so it is given up only through dbopen_shm_done (fdguard). */
struct dbopen_shm {
    int fd; /* -1: none (not WAL, immutable, or not a regular file) */
};
void dbopen_shm_open(sqlite3 *conn, struct dbopen_shm *s, struct fdguard *g);
enum dbopen_wal_locks dbopen_wal_locks(const struct dbopen_shm *s);
/* The wal-index header, read with pread (no lock, no mapping): true when both copies agreed
 * and it parsed (fileformat_parse_walindex), else false and *out untouched. */
bool dbopen_wal_header(const struct dbopen_shm *s, struct ff_walindex *out);
void dbopen_shm_done(struct dbopen_shm *s, struct fdguard *g);

#endif
