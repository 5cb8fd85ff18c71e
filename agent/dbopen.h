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
 * Rollback-journal readers create nothing, but hold a shared lock for the whole check, which a
 * committing writer must wait for: dbopen_writer_waiting lets the check step aside.
 */
#ifndef SQLITE_AGENT_DBOPEN_H
#define SQLITE_AGENT_DBOPEN_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fdguard.h"
#include "ratelimit.h"

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
    struct stat before; /* of the database, when probe_fd was opened */
};

/* Looks at the database and its side files and decides. Opens probe_fd, which the caller
 * gives back with dbopen_done() once its connection is closed. */
void dbopen_plan(const char *path, struct dbopen *p);

/* Opens per plan (never for DBOPEN_REFUSE). Returns an SQLite result code. */
int dbopen_open(const char *path, const struct dbopen *p, sqlite3 **conn);

/* After an immutable read: the file is the same and unchanged, and no WAL content appeared. */
bool dbopen_unchanged(const char *path, const struct dbopen *p);

/* Rollback mode: another process holds PENDING, i.e. waits for readers to leave to commit. */
bool dbopen_writer_waiting(const struct dbopen *p);

/* A locked open of a WAL database failed because its -wal is gone: the application closed it
 * in the meantime. A transient state, not an error of the agent's access. */
bool dbopen_wal_vanished(const char *path, const struct dbopen *p);

void dbopen_done(struct dbopen *p, struct fdguard *g);

/* A check's reads through the VFS, bound to the thread that runs it (dbopen_io_bind; NULL
 * unbinds). Only the monitored database's own files (main database, -wal, journal) count and
 * are budgeted: SQLite's temporary files (the sorter of integrity_check) are the agent's. */
struct dbopen_io {
    uint64_t bytes;           /* read so far */
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
void dbopen_shm_done(struct dbopen_shm *s, struct fdguard *g);

#endif
