/*
 * risk.h: the conditions known to corrupt SQLite databases, judged per database from its
 * header sample and the processes that have it open. Pure: no I/O.
 *
 * The incident behind this tool had causes visible for days before the damage: a WAL
 * database, several processes writing it, a library with the WAL-reset race, PRAGMA
 * mmap_size in the application, and elsewhere WAL on NFS. Each is a reason here.
 */
#ifndef SQLITE_AGENT_RISK_H
#define SQLITE_AGENT_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procscan.h"

struct sample;

enum risk_reason {
    RISK_WAL_RESET_RACE = 0,    /* WAL, two or more connections, a vulnerable library */
    RISK_MMAP_MULTIPLE_WRITERS, /* a process maps the file while two or more have it open */
    RISK_WAL_ON_NETWORK_FS,     /* WAL needs shared memory, which a network FS cannot share */
};
#define RISK_REASON_COUNT 3

/* "wal_reset_race", "mmap_with_multiple_writers", "wal_on_network_fs" */
const char *risk_reason_str(enum risk_reason r);

/* What a /proc scan saw of one database: its file and its -wal. */
struct proc_usage {
    bool scanned; /* a scan has run since the database was configured */
    struct procscan_result db;
    struct procscan_result wal;
};

struct risk {
    /* WAL mode, and a process with the file open runs a version with the WAL-reset race, or,
     * when no process's version could be told, the header's last writer does. */
    bool wal_reset_race_exposed;
    /* nBackfill > mxFrame, or the two header copies stayed unequal across retries: what the
     * WAL-reset race leaves behind. */
    bool wal_index_inconsistent;
    bool reason[RISK_REASON_COUNT];
};

/* patched: versions an operator declared fixed (distributions backport without changing the
 * number). */
void risk_assess(const struct sample *s, const struct proc_usage *u, const uint32_t *patched,
                 size_t npatched, struct risk *out);

#endif
