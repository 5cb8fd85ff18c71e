/*
 * fsclass.h: which filesystem a database lives on, from statfs(2)'s f_type.
 *
 * SQLite's locking (POSIX advisory locks) and its WAL shared memory (a shared mmap of the
 * -shm file) only work when every process using the database runs on the same kernel over a
 * filesystem that implements both faithfully. On a network or cluster filesystem they often
 * do not ("How To Corrupt An SQLite Database File", 2.1 "Filesystems with broken or missing
 * lock implementations"; "Write-Ahead Logging", 1: "All processes using a database must be on
 * the same host computer; WAL does not work over a network filesystem"). "network" below
 * means: the filesystem can be shared with another kernel (another host, a VM's host, a
 * cluster node), so those guarantees are not ours to assume.
 */
#ifndef SQLITE_AGENT_FSCLASS_H
#define SQLITE_AGENT_FSCLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fsclass {
    const char *name; /* static, e.g. "ext4", "nfs"; "unknown" when not in the table */
    bool network;     /* may be shared with another kernel (see above) */
    bool known;       /* the magic is in the table */
    uint32_t magic;   /* f_type as a 32-bit value */
};

/* Classifies a statfs f_type. Pure. Only the low 32 bits are used: every magic is 32 bits,
 * and f_type is a signed word whose width varies by architecture (statfs(2), NOTES), so
 * 0xFF534D42 may arrive sign-extended. */
struct fsclass fsclass_from_magic(long f_type);

/* The table itself, for tests and documentation: count entries. */
const struct fsclass *fsclass_table(size_t *count);

/* statfs(path) and classify. Returns 0, or -1 with errno set (then *out is "unknown"). */
int fsclass_statfs(const char *path, struct fsclass *out);

/* The same through an open descriptor (the sampler's own): no path lookup, no race with a
 * rename. */
int fsclass_fstatfs(int fd, struct fsclass *out);

#endif
