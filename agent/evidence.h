/*
 * evidence.h: a point-in-time copy of a database when it turns malformed, for the recovery.
 *
 * Every minute the application keeps writing to a damaged file makes a recovery lose more, so
 * the copy an operator recovers from is the one taken when the damage was first seen. With
 * [agent] evidence_dir set, a thread of its own watches the snapshot and, once per transition
 * to malformed (check_state.malformed_episodes), copies the database there with SQLite's
 * backup API from a read-only connection opened as the checker opens one (dbopen.h: the
 * read-only VFS, mmap_size=0, fdguard around the connection). The backup reads through the
 * pager, so the copy is one consistent snapshot, WAL content included, with pages as they
 * are, damaged or not; it is a plain database file with no -wal to go with it.
 *
 * Beside the copy goes COPY.manifest (JSON): the database, its path, the time, the check and
 * its first problem rows and kinds, the SQLite versions seen holding the file, the WAL and
 * wal-index headers last sampled, and the copy's size and sha256.
 *
 * Bounds: a database over evidence_max_bytes is not copied (too_big); free space for the copy
 * and EVIDENCE_FREE_MARGIN is checked with statvfs first (no_space); evidence_dir may not be
 * the directory of a monitored database (refused at start). No harm: in WAL mode the copy
 * reads one snapshot (readers never block a WAL writer; only a checkpoint waits for the copy
 * to end, bounded by EVIDENCE_SNAPSHOT_MAX_MS); in rollback mode no lock is held between
 * batches of EVIDENCE_BATCH_PAGES, doubled after each restart by a commit in between up to
 * EVIDENCE_STEP_MAX_MS of reading, so a writer waits at most that long for one step.
 */
#ifndef SQLITE_AGENT_EVIDENCE_H
#define SQLITE_AGENT_EVIDENCE_H

#include "config.h"
#include "fdguard.h"
#include "state.h"

#define EVIDENCE_BATCH_PAGES 64
#define EVIDENCE_FREE_MARGIN (64LL << 20)
#define EVIDENCE_SNAPSHOT_MAX_MS 30000
/* A rollback-mode copy restarted this often by commits in between gives up (error). */
#define EVIDENCE_RESTARTS_MAX 50
/* After a restart the batch doubles, but no step reads for longer than this (at the rate
 * measured): the longest a committing writer waits for the copy's lock. */
#define EVIDENCE_STEP_MAX_MS 100

struct evidence;

/* Whether cfg's evidence_dir (if any) can be used; logs why not. For --check-config and for a
 * reload to be refused before the running workers stop. */
bool evidence_config_ok(const struct config *cfg);

/* NULL when cfg has no evidence_dir (nothing to do), or on failure (logged; *failed set). */
struct evidence *evidence_new(const struct config *cfg, struct state *st,
                              struct fdguard *const *guards, bool *failed);
int evidence_start(struct evidence *ev);
void evidence_stop(struct evidence *ev); /* accepts NULL */
void evidence_free(struct evidence *ev); /* accepts NULL */

/* Copies database idx of the config now (the thread's work, for tests and --once).
 * snap_db is that database in a snapshot. Returns the result; *path gets the copy on success. */
enum evidence_result evidence_copy_one(struct evidence *ev, size_t idx,
                                       const struct db_snapshot *snap_db, char *path,
                                       size_t pathlen);

#endif
