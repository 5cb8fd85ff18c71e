/*
 * fdguard.h: keeps the agent's raw descriptors from dropping SQLite's locks.
 *
 * POSIX advisory locks belong to the process and the inode, not to a descriptor: closing ANY
 * descriptor on a file drops every fcntl lock the process holds on it, including those of the
 * agent's own SQLite connection (SQLite, "How To Corrupt An SQLite Database File", 2.2). A
 * dropped read lock on the -shm lets a writer restart the WAL under the check, which could then
 * read a mix of old and new pages and report a healthy file as malformed.
 *
 * So the sampler (raw descriptors) and the checker (SQLite connections) meet here, one guard
 * per database: a raw descriptor is closed only while no connection to that database is open.
 */
#ifndef SQLITE_AGENT_FDGUARD_H
#define SQLITE_AGENT_FDGUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Descriptors a guard can hold back until the last connection closes. Each database has at
 * most a few raw descriptors (database, -wal, -shm, and the checker's lock probe). */
#define FDGUARD_PENDING_MAX 16

struct fdguard {
    pthread_mutex_t lock;
    int connections; /* SQLite connections open on this database now */
    int npending;
    int pending[FDGUARD_PENDING_MAX]; /* to close when connections drops to 0 */
};

void fdguard_init(struct fdguard *g);
void fdguard_destroy(struct fdguard *g);

/* Around the life of an SQLite connection: call before sqlite3_open_v2, and after
 * sqlite3_close (also when the open failed). The last close also closes what
 * fdguard_release() held back. */
void fdguard_connection_opening(struct fdguard *g);
void fdguard_connection_closed(struct fdguard *g);

/* The only way a raw descriptor on a guarded file is closed: at once when no connection is
 * open, else when the last one closes. The caller gives fd up either way. */
void fdguard_release(struct fdguard *g, int fd);

/* The sampler between samples: closes fd at once and returns true when no connection is open
 * on the database, else leaves it open and returns false, and the caller keeps it (a
 * descriptor closed now would drop the connection's locks; one held back for later would
 * pile up over a long check). So descriptors grow with the checks running, not with the
 * databases watched (issue 10). */
bool fdguard_close_if_idle(struct fdguard *g, int fd);

/* One guard per file, not per section: two sections may watch one file (say, quick_check
 * hourly and integrity_check daily), and their sampler and checker must then meet at the same
 * guard. Returns cfg->ndbs pointers, where sections whose paths resolve (realpath, else the
 * path as written) to the same file share one guard; NULL when out of memory.
 * Keyed once, at load: the sampler and checker resolve links at every sample and check
 * (safeopen.h), but a link retargeted at run time onto another section's file shares that
 * section's guard only from the next reload. Re-keying at run time would move a guard while
 * descriptors are pending on it; the hazard left needs two sections on one file, a retarget,
 * and then a second retarget or replacement during the other's check. */
struct fdguard **fdguard_set_new(const struct config *cfg);
void fdguard_set_free(struct fdguard **set, size_t n);

#endif
