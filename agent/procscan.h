/*
 * procscan.h: which processes have the watched files open, which of them map the database
 * itself, and which SQLite library each one runs. One pass over /proc for all targets.
 *
 * The caller gives targets as (st_dev, st_ino), typically two per database: the database
 * file and its -wal. Per pass, for every process but the agent itself:
 *   - /proc/PID/fd: stat() of each entry follows it to the open file; its (st_dev, st_ino)
 *     is looked up in a hash of the targets. A process counts once per target however many
 *     descriptors (connections) it has on it.
 *   - only for a process holding some target: /proc/PID/maps, read once, for the mappings
 *     of its targets (a database mapped by PRAGMA mmap_size; the -shm mapping is not a
 *     target) and for the SQLite it runs: executable mappings whose path contains "sqlite"
 *     or "sqlcipher" (libsqlite3.so*, _sqlite3*.so, libsqlcipher.so, better_sqlite3.node),
 *     else the main executable (SQLite linked statically). Each object is read through
 *     elfver (cached by dev, inode, mtime and size), via /proc/PID/map_files/ when allowed
 *     (the exact mapped inode, even if deleted since), else /proc/PID/root/<path> (the
 *     process's own root, so containers are read with their own libraries), walked without
 *     following any symbolic link; the executable via /proc/PID/exe. Each is first opened
 *     with O_PATH and opened for reading only once fstat() shows the regular file that is
 *     mapped (no FIFO or device is ever opened), and never when it is one of the targets or
 *     named like a database's -shm, -wal or -journal (closing a descriptor on a database or
 *     its -shm would drop the agent's own SQLite locks there). When more than one SQLite
 *     shows up in one process, the oldest is reported.
 * A process whose fd or maps directory cannot be read (EACCES, EPERM) counts as
 * uninspectable; processes that exit during the pass are skipped.
 *
 * Limits, by design: a process that maps a target without holding a descriptor on it is not
 * seen (SQLite keeps the descriptor open for as long as the mapping lives); the scan sees
 * the processes of the agent's own PID namespace only; stat() of a descriptor on a hung
 * network mount can block, as the sampler's own stat() of such a database would.
 *
 * Buffers (the target hash, per-target scratch, the getdents and maps buffers, the ELF
 * cache) are allocated by procscan_new() and procscan_set_targets() and reused across
 * passes: a pass itself allocates nothing. Not thread-safe: one procscan per thread.
 */
#ifndef SQLITE_AGENT_PROCSCAN_H
#define SQLITE_AGENT_PROCSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h" /* struct procscan_target, _result, _stats */
#include "elfver.h"

struct procscan;

/* NULL when out of memory. elf_cache_entries: 0 means elfver's default. */
struct procscan *procscan_new(size_t elf_cache_entries);
void procscan_free(struct procscan *ps); /* accepts NULL */

/* Replaces the target set (copied; index i of results is t[i]). Memory grows only when n
 * grows. Returns 0, or -1 when out of memory (the old set is then cleared). */
int procscan_set_targets(struct procscan *ps, const struct procscan_target *t, size_t n);

/* Optional: called once per (process, target) match during procscan_run, e.g. to log
 * which process runs which version. version 0 = unknown. */
void procscan_set_hit_fn(struct procscan *ps,
                         void (*fn)(void *arg, size_t target, pid_t pid, uint32_t version,
                                    bool mapped),
                         void *arg);

/* One pass. res must hold as many entries as there are targets; every entry is
 * overwritten. stats may be NULL. Returns 0, or -1 with errno when /proc cannot be read. */
int procscan_run(struct procscan *ps, struct procscan_result *res, struct procscan_stats *stats);

/* The ELF cache's counters, for the bench and debugging. */
void procscan_elf_stats(const struct procscan *ps, struct elfver_cache_stats *out);

/* One line of /proc/PID/maps (proc(5)), without its '\n', as the scan reads it. Pointers are
 * into the line. Exposed for the fuzz target and tests; the scan uses the same parser. */
struct procscan_mapline {
    const unsigned char *range; /* "start-end", the name in map_files/ */
    size_t range_len;
    bool exec; /* perms has 'x' */
    unsigned major, minor;
    unsigned long long ino;
    const unsigned char *path; /* may be empty */
    size_t path_len;
};

enum procscan_mapline_result { PROCSCAN_MAPLINE_OK = 0, PROCSCAN_MAPLINE_BAD };

/* Pure: no I/O, no allocation. On PROCSCAN_MAPLINE_BAD *out is zeroed but for range. */
enum procscan_mapline_result procscan_parse_mapline(const unsigned char *buf, size_t len,
                                                    struct procscan_mapline *out);

#endif
