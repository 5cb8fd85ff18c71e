/* risk_assess over a table: each reason at its edges. */
#include <criterion/criterion.h>
#include <string.h>

#include "risk.h"
#include "state.h"

struct risk_case {
    const char *what;
    bool wal;                /* header read version 2 */
    uint32_t header_version; /* offset 96, version_valid */
    bool scanned;
    uint32_t procs, fds, mmaps;
    uint32_t version; /* the one library version seen, 0: none told */
    bool network;
    enum ff_result walindex;
    uint32_t mx_frame, n_backfill;
    uint32_t patched; /* declared patched, 0: none */
    bool exposed, race, mmap, nfs, inconsistent;
};

static const struct risk_case cases[] = {
    {"rollback mode: no WAL risk", false, 3040001, true, 2, 2, 0, 3040001, false, FF_OK, 0, 0, 0,
     false, false, false, false, false},
    {"WAL, 2 processes, 3.40.1", true, 3040001, true, 2, 2, 0, 3040001, false, FF_OK, 5, 5, 0, true,
     true, false, false, false},
    {"WAL, 1 process 1 connection, 3.40.1", true, 3040001, true, 1, 1, 0, 3040001, false, FF_OK, 5,
     5, 0, true, false, false, false, false},
    {"WAL, 1 process 2 connections, 3.40.1", true, 3040001, true, 1, 2, 0, 3040001, false, FF_OK, 5,
     5, 0, true, true, false, false, false},
    {"WAL, 2 processes, 3.51.3", true, 3040001, true, 2, 2, 0, 3051003, false, FF_OK, 5, 5, 0,
     false, false, false, false, false},
    {"WAL, 2 processes, 3.44.6 backport", true, 3040001, true, 2, 2, 0, 3044006, false, FF_OK, 5, 5,
     0, false, false, false, false, false},
    {"WAL, 2 processes, 3.40.1 declared patched", true, 3040001, true, 2, 2, 0, 3040001, false,
     FF_OK, 5, 5, 3040001, false, false, false, false, false},
    {"no process told: header 3.40.1", true, 3040001, true, 0, 0, 0, 0, false, FF_OK, 0, 0, 0, true,
     false, false, false, false},
    {"no process told: header 3.51.3", true, 3051003, true, 0, 0, 0, 0, false, FF_OK, 0, 0, 0,
     false, false, false, false, false},
    {"not scanned yet: header 3.6.23", true, 3006023, false, 0, 0, 0, 0, false, FF_OK, 0, 0, 0,
     false, false, false, false, false},
    {"mmap with 2 processes", false, 3051003, true, 2, 2, 1, 3051003, false, FF_OK, 0, 0, 0, false,
     false, true, false, false},
    {"mmap with 1 process", false, 3051003, true, 1, 1, 1, 3051003, false, FF_OK, 0, 0, 0, false,
     false, false, false, false},
    {"WAL on NFS", true, 3051003, true, 0, 0, 0, 0, true, FF_OK, 0, 0, 0, false, false, false, true,
     false},
    {"rollback on NFS: not this reason", false, 3051003, true, 0, 0, 0, 0, true, FF_OK, 0, 0, 0,
     false, false, false, false, false},
    {"nBackfill > mxFrame", true, 3051003, true, 0, 0, 0, 0, false, FF_OK, 4, 9, 0, false, false,
     false, false, true},
    {"header copies stay unequal", true, 3051003, true, 0, 0, 0, 0, false, FF_UNSTABLE, 0, 0, 0,
     false, false, false, false, true},
};

Test(risk, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct risk_case *c = &cases[i];
        struct sample s;
        struct proc_usage u;
        struct risk r;
        memset(&s, 0, sizeof(s));
        memset(&u, 0, sizeof(u));
        s.status = SAMPLE_OK;
        s.db.read_version = c->wal ? 2 : 1;
        s.db.sqlite_version = c->header_version;
        s.db.version_valid = true;
        s.fs_known = true;
        s.fs.network = c->network;
        s.shm_present = true;
        s.walindex_result = c->walindex;
        s.walindex.mx_frame = c->mx_frame;
        s.walindex.n_backfill = c->n_backfill;
        u.scanned = c->scanned;
        u.db.open_processes = c->procs;
        u.db.open_descriptors = c->fds;
        u.db.mmap_processes = c->mmaps;
        if (c->version) {
            u.db.nversions = 1;
            u.db.versions[0] = (struct procscan_version_count){c->version, c->procs};
        }
        risk_assess(&s, &u, c->patched ? &c->patched : NULL, c->patched ? 1 : 0, &r);
        cr_expect_eq(r.wal_reset_race_exposed, c->exposed, "%s: exposed", c->what);
        cr_expect_eq(r.reason[RISK_WAL_RESET_RACE], c->race, "%s: race", c->what);
        cr_expect_eq(r.reason[RISK_MMAP_MULTIPLE_WRITERS], c->mmap, "%s: mmap", c->what);
        cr_expect_eq(r.reason[RISK_WAL_ON_NETWORK_FS], c->nfs, "%s: nfs", c->what);
        cr_expect_eq(r.wal_index_inconsistent, c->inconsistent, "%s: inconsistent", c->what);
    }
}
