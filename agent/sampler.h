/*
 * sampler.h: the cheap, frequent part. stat + pread of each database's header, its -wal header
 * and its wal-index (-shm); no SQLite connection, no locks taken, nothing ever written.
 *
 * The sampler owns one read-only descriptor per file it has seen and keeps it open between
 * samples; it closes one (file gone or replaced, or at shutdown) only through the database's
 * fdguard, so never while a checker holds an SQLite connection on that database.
 */
#ifndef SQLITE_AGENT_SAMPLER_H
#define SQLITE_AGENT_SAMPLER_H

#include <stdbool.h>

#include "config.h"
#include "fdguard.h"
#include "state.h"

struct sampler;

/* cfg, st and guards (cfg->ndbs of them) must outlive the sampler. */
struct sampler *sampler_new(const struct config *cfg, struct state *st,
                            struct fdguard *const *guards);
/* Closes every descriptor (through the guards). Stop the thread first. Accepts NULL. */
void sampler_free(struct sampler *sp);

/* Samples every database once, now, on the caller's thread. */
void sampler_run_pass(struct sampler *sp);

/* The sampling thread: samples each database every its sample_interval until stopped. */
int sampler_start(struct sampler *sp);
void sampler_stop(struct sampler *sp);

#endif
