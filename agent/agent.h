/*
 * agent.h: the data types that flow between modules (after OpenBSD ntpd's ntpd.h).
 *
 * What the /proc scan finds (procscan.c) and the risk judged from it (risk.c) travel through the
 * snapshot (state.h) to the renderer, the alert pusher and the close watch. Their types live
 * here, so that a module reading the snapshot does not see the scanner's or the ELF reader's
 * interfaces (state.h used to reach elfver.h through risk.h and procscan.h).
 */
#ifndef SQLITE_AGENT_AGENT_H
#define SQLITE_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the /proc scan (procscan.h) ---------------------------------------------------------- */

/* Distinct versions kept per target; the oldest ones are kept. */
#define PROCSCAN_VERSION_SLOTS 4

struct procscan_target {
    dev_t dev;
    ino_t ino; /* 0: the file does not exist now; the target is skipped */
};

struct procscan_version_count {
    uint32_t version;   /* SQLITE_VERSION_NUMBER form */
    uint32_t processes; /* processes with the target open that run it */
};

struct procscan_result {
    uint32_t open_processes; /* processes with at least one descriptor on the file */
    /* Descriptors on the file across those processes: SQLite opens one per connection, so
     * this tells "two connections in one process" (the WAL-reset race needs two or more
     * connections, threads or processes) from one. */
    uint32_t open_descriptors;
    uint32_t mmap_processes; /* of those, processes that also map the file itself */
    uint32_t nversions;      /* slots used in versions[] */
    struct procscan_version_count versions[PROCSCAN_VERSION_SLOTS]; /* ascending version */
    uint32_t other_versions;  /* processes on a known version that had no slot left */
    uint32_t unknown_version; /* processes whose SQLite version could not be told */
    uint32_t oldest_version;  /* lowest known version among them; 0 when none known */
};

struct procscan_stats {
    uint32_t processes;     /* processes looked at (the agent itself excluded) */
    uint32_t uninspectable; /* fd or maps unreadable: EACCES / EPERM */
    uint32_t matched;       /* processes holding at least one target */
    uint32_t vanished;      /* exited while being looked at */
    uint32_t objects;       /* library/executable lookups (cache hits included) */
};

/* ---- corruption risk (risk.h) ------------------------------------------------------------ */

enum risk_reason {
    RISK_WAL_RESET_RACE = 0,    /* WAL, two or more connections, a vulnerable library */
    RISK_MMAP_MULTIPLE_WRITERS, /* a process maps the file while two or more have it open */
    RISK_WAL_ON_NETWORK_FS,     /* WAL needs shared memory, which a network FS cannot share */
};
#define RISK_REASON_COUNT 3

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

#endif
