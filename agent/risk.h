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

#include "agent.h" /* enum risk_reason, struct proc_usage, struct risk */

struct sample;

/* "wal_reset_race", "mmap_with_multiple_writers", "wal_on_network_fs" */
const char *risk_reason_str(enum risk_reason r);

/* patched: versions an operator declared fixed (distributions backport without changing the
 * number). */
void risk_assess(const struct sample *s, const struct proc_usage *u, const uint32_t *patched,
                 size_t npatched, struct risk *out);

#endif
