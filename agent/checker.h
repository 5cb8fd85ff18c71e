/*
 * checker.h: the expensive, bounded part. PRAGMA quick_check / integrity_check over a
 * read-only SQLite connection, on worker threads of its own, each run bounded by a deadline.
 *
 * A connection lives for one run only: open, check, close. Holding it longer would pin a read
 * snapshot, and while a snapshot is held no checkpoint can finish and the WAL cannot restart.
 */
#ifndef SQLITE_AGENT_CHECKER_H
#define SQLITE_AGENT_CHECKER_H

#include <stdatomic.h>

#include "config.h"
#include "fdguard.h"
#include "state.h"

/* Runs one check of db now, on the caller's thread, and fills *out. Aborts with
 * CHECK_RESULT_TIMEOUT at db->check_timeout_ms, and returns -1 without a result when *stop
 * becomes true (the agent is exiting: not a verdict on the database). Returns 0 otherwise. */
int checker_run_one(const struct db_config *db, struct fdguard *guard, const atomic_bool *stop,
                    struct check_outcome *out);

/* Logs why o did not complete (o->detail). */
void checker_log_failure(const struct db_config *db, const struct check_outcome *o,
                         enum log_level level);

/* "quick_check" or "integrity_check": the pragma a run of db uses. */
const char *checker_pragma_for_run(enum check_kind kind);

struct checker;

/* cfg, st and guards (cfg->ndbs) must outlive the checker. */
struct checker *checker_new(const struct config *cfg, struct state *st,
                            struct fdguard *const *guards);
void checker_free(struct checker *ck); /* accepts NULL; stop first */

/* cfg->check_workers threads; each database is checked right away, then every
 * check_interval (measured start to start). */
int checker_start(struct checker *ck);
/* walwatch.h's on_signal: database idx showed the WAL-reset race's trace; its next check runs
 * now, as integrity_check (checkauto.h). Any thread. */
void checker_race_signal(void *arg, size_t idx);
/* Interrupts running checks and joins the workers. */
void checker_stop(struct checker *ck);

#endif
