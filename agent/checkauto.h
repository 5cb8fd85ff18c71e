/*
 * checkauto.h: which check a run does under "check = auto", and what a race signal changes.
 * Pure: a verdict over the facts the checker has when a run is due.
 *
 * Why: the damage the WAL-reset race does is mostly an index disagreeing with its table
 * ("wrong # of entries in index", "row N missing from index"), which PRAGMA quick_check does
 * not compare (sqlite.org/pragma.html#pragma_quick_check: "except that it does not verify ...
 * that index content matches table content"); only integrity_check does, at a cost that grows
 * with the database (docs/benchmarks.md). So an exposed database gets integrity_check, others
 * quick_check with an integrity_check every CHECKAUTO_INTEGRITY_EVERY runs, and a race signal
 * from the close watch (lost pages, nBackfill past mxFrame) gets one at once.
 */
#ifndef SQLITE_AGENT_CHECKAUTO_H
#define SQLITE_AGENT_CHECKAUTO_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Under check = auto, a database that is not exposed gets integrity_check on every this-many
 * runs (with the default check_interval of 5m: hourly). */
#define CHECKAUTO_INTEGRITY_EVERY 12

/*
 * The kind of the run now due. configured: the section's "check"; exposed: the risk verdict
 * (risk.wal_reset_race_exposed); completed_runs: runs of this database that completed so far
 * (ok or malformed); race_signal: state_race_signal_take() returned true. Returns CHECK_OFF,
 * CHECK_QUICK or CHECK_INTEGRITY, never CHECK_AUTO. check = off stays off, signal or not: the
 * operator turned checks off for this file.
 */
enum check_kind checkauto_kind(enum check_kind configured, bool exposed, uint64_t completed_runs,
                               bool race_signal);

#endif
