/* risk.c: see risk.h. */
#include "risk.h"

#include <string.h>

#include "sqlitever.h"
#include "state.h"

static const char *const reason_names[RISK_REASON_COUNT] = {
    [RISK_WAL_RESET_RACE] = "wal_reset_race",
    [RISK_MMAP_MULTIPLE_WRITERS] = "mmap_with_multiple_writers",
    [RISK_WAL_ON_NETWORK_FS] = "wal_on_network_fs",
};

const char *risk_reason_str(enum risk_reason r)
{
    return (unsigned)r < RISK_REASON_COUNT ? reason_names[r] : "unknown";
}

static bool wal_mode(const struct sample *s)
{
    return s->status == SAMPLE_OK && s->db.read_version == 2;
}

/* Any process with the file open on a vulnerable version. Processes past the version slots
 * (other_versions) are on versions newer than every slot, as the slots keep the oldest. */
static bool processes_vulnerable(const struct procscan_result *r, const uint32_t *patched,
                                 size_t npatched)
{
    for (uint32_t i = 0; i < r->nversions && i < PROCSCAN_VERSION_SLOTS; i++)
        if (sqlitever_wal_reset_race(r->versions[i].version, patched, npatched))
            return true;
    return false;
}

static bool race_exposed(const struct sample *s, const struct proc_usage *u,
                         const uint32_t *patched, size_t npatched)
{
    if (!wal_mode(s))
        return false;
    if (u->scanned && u->db.nversions > 0)
        return processes_vulnerable(&u->db, patched, npatched);
    /* No process's library known: the header's writer (offset 96), while it is current. */
    return s->db.version_valid && sqlitever_wal_reset_race(s->db.sqlite_version, patched, npatched);
}

static bool walindex_inconsistent(const struct sample *s)
{
    if (!s->shm_present)
        return false;
    if (s->walindex_result == FF_UNSTABLE)
        return true;
    return s->walindex_result == FF_OK && s->walindex.n_backfill > s->walindex.mx_frame;
}

void risk_assess(const struct sample *s, const struct proc_usage *u, const uint32_t *patched,
                 size_t npatched, struct risk *out)
{
    /* The race needs two connections writing or checkpointing at once: two processes, or
     * two connections (descriptors) in one. */
    bool several = u->scanned && (u->db.open_processes >= 2 || u->db.open_descriptors >= 2);

    memset(out, 0, sizeof(*out));
    out->wal_reset_race_exposed = race_exposed(s, u, patched, npatched);
    out->wal_index_inconsistent = walindex_inconsistent(s);
    out->reason[RISK_WAL_RESET_RACE] = out->wal_reset_race_exposed && several;
    out->reason[RISK_MMAP_MULTIPLE_WRITERS] =
        u->scanned && u->db.mmap_processes >= 1 && u->db.open_processes >= 2;
    out->reason[RISK_WAL_ON_NETWORK_FS] = wal_mode(s) && s->fs_known && s->fs.network;
}
