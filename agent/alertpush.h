/*
 * alertpush.h: the agent posts its own alerts to Alertmanager (API v2), as Prometheus does:
 * firing alerts again every resend interval with endsAt a few intervals ahead, and resolved
 * ones with endsAt = their resolution time. Runs on a thread of its own; a slow or absent
 * Alertmanager costs that thread only, never a sample, a check or a scrape.
 */
#ifndef SQLITE_AGENT_ALERTPUSH_H
#define SQLITE_AGENT_ALERTPUSH_H

#include "alerts.h"
#include "config.h"
#include "state.h"

struct alertpush;

/* NULL when cfg has no Alertmanager URLs (nothing to do) or on failure. cfg and st must outlive
 * it. instance names this agent in the alerts' labels. */
struct alertpush *alertpush_new(const struct config *cfg, struct state *st, const char *instance);
int alertpush_start(struct alertpush *ap);
void alertpush_stop(struct alertpush *ap); /* sends nothing more; accepts NULL */
void alertpush_free(struct alertpush *ap); /* accepts NULL */

#endif
