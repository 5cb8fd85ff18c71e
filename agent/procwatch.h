/*
 * procwatch.h: the /proc scan and the risk verdict, on a thread of their own (issue 10; it used
 * to run on the sampler's thread, which promised only "stat + pread").
 *
 * Every [agent] sample_interval it reads the snapshot for the files the sampler last opened
 * ((st_dev, st_ino) of each database and its -wal, struct sample), makes one pass over /proc
 * for all of them (procscan.h: one pass whatever the number of databases), judges each
 * database's risk from its last sample and the scan (risk.h), and puts both in the snapshot.
 */
#ifndef SQLITE_AGENT_PROCWATCH_H
#define SQLITE_AGENT_PROCWATCH_H

#include "config.h"
#include "state.h"

struct procwatch;

/* cfg and st must outlive it. NULL when out of memory; a /proc scan that cannot be set up is
 * logged and the agent goes on without risk factors from processes. */
struct procwatch *procwatch_new(const struct config *cfg, struct state *st);
void procwatch_free(struct procwatch *pw); /* stop first; accepts NULL */

/* One scan now, on the caller's thread (--once, after a sampling pass). */
void procwatch_run_pass(struct procwatch *pw);

int procwatch_start(struct procwatch *pw); /* 0, or -1 (logged) */
void procwatch_stop(struct procwatch *pw); /* accepts NULL */

#endif
