/*
 * walwatch.h: the close watch. A thread of its own reads the wal-index header of the databases
 * where the WAL-reset race is a risk every walindex_watch_interval (2 ms by default), counts
 * what the race leaves behind, and audits every checkpoint (ckaudit.h).
 *
 * Why this close: what the race leaves in the wal-index, nBackfill > mxFrame, lasted 7 to 34 ms
 * in the reproduction (issue 12) before the writers pushed mxFrame past it; the sampler reads
 * the header every sample_interval (15 s). Counters, not gauges: nothing seen between two
 * scrapes is lost.
 *
 * Which databases: those whose section says "watch = close", then those the risk verdict calls
 * exposed (reason wal_reset_race: WAL, two or more connections, a vulnerable library; and for
 * WALWATCH_LINGER_MS after), at most walindex_watch_max, chosen again every second.
 *
 * Read-only like the sampler: pread on descriptors of its own (O_RDONLY, never O_CREAT), kept
 * open and closed only through the database's fdguard (never while the agent's SQLite
 * connection is open on the file: closing a descriptor drops every POSIX lock the process holds
 * on it). No lock is ever taken; nothing is written.
 */
#ifndef SQLITE_AGENT_WALWATCH_H
#define SQLITE_AGENT_WALWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fdguard.h"
#include "fileformat.h"
#include "state.h"

/* Header copies that differ on every read for this long count one unstable_header. A writer
 * is between the two copies for nanoseconds (walIndexWriteHdr), or for as long as the
 * scheduler keeps it off a core; any SQLite reader repairs a header left torn by a dead writer
 * (walIndexReadHdr takes the WRITE lock and runs recovery). Longer than that is a fault. */
#define WALWATCH_UNSTABLE_MS 100
/* nBackfill > mxFrame must be seen on two reads at least this far apart, with the same salts
 * and nBackfill, to count: walRestartHdr stores the new header (mxFrame 0) a few instructions
 * before nBackfill = 0, and a read can fall between. */
#define WALWATCH_CONFIRM_MS 2
/* Immediate re-reads of a header whose copies differ, per tick. */
#define WALWATCH_TRIES 3
/* How often the watched set is chosen again and the files stat()ed for replacement. */
#define WALWATCH_SELECT_MS 1000
/* An exposed database stays watched this long after the exposure was last seen: a writer
 * restarting for a moment must not throw the audit's frame map away. */
#define WALWATCH_LINGER_MS 60000
#define WALWATCH_STAT_MS 250

/* The anomaly detector of one database: pure, fed one read per tick. */
struct walwatch_episode {
    int64_t unstable_since_ms; /* 0: the last read was not unstable */
    bool unstable_counted;
    bool past_seen; /* nBackfill > mxFrame on the last stable read */
    bool past_counted;
    int64_t past_since_ms;
    uint32_t past_salt1, past_salt2, past_backfill;
};

/* One read of the header: r is the parse result after the tick's retries, h the header when
 * r is FF_OK. Adds to add->anomalies what now counts (once per episode). */
void walwatch_observe(struct walwatch_episode *ep, enum ff_result r, const struct ff_walindex *h,
                      int64_t now_ms, struct watch_counts *add);

struct walwatch;

/* cfg, st and guards (cfg->ndbs) must outlive the watch. on_signal (may be NULL) is called on
 * the watch thread, without locks held, when a race signal is raised for database idx: lost
 * pages or a backfill_past_end (the checker's wake-up: it should then take the signal with
 * state_race_signal_take and run an integrity check). */
struct walwatch *walwatch_new(const struct config *cfg, struct state *st,
                              struct fdguard *const *guards,
                              void (*on_signal)(void *arg, size_t idx), void *arg);
/* Closes its descriptors through the guards. Stop first. Accepts NULL. */
void walwatch_free(struct walwatch *w);

/* The thread; with walindex_watch_max = 0 it starts nothing. */
int walwatch_start(struct walwatch *w);
void walwatch_stop(struct walwatch *w); /* accepts NULL */

#endif
