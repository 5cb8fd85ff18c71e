/*
 * expo.h: the exposition rendered once per change, kept gzipped, and served from memory.
 *
 * A scrape used to cost a snapshot, a render and a gzip of the whole text: at 10,000 databases
 * that is tens of milliseconds of CPU per scraper and per scrape (issue 10). Here one thread of
 * its own renders when the state has changed (state_generation: a sampling pass, a check
 * begun or finished, a reload...), at most once per EXPO_MIN_INTERVAL_MS or ten times its last
 * render's duration, whichever is longer (so rendering takes at most a tenth of a core),
 * and at least every EXPO_MAX_AGE_MS (sample ages and the agent's own counters move with the
 * clock). It keeps only the gzip (RFC 1952) of the text and its length: a gzip scrape is one
 * copy of it; a plain one inflates it.
 *
 * What a scrape sees is therefore up to one render interval old, and
 * sqlite_agent_scrapes_total counts the scrapes served before that render.
 */
#ifndef SQLITE_AGENT_EXPO_H
#define SQLITE_AGENT_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "state.h"

#define EXPO_MIN_INTERVAL_MS 1000
#define EXPO_MAX_AGE_MS 10000
#define EXPO_POLL_MS 100          /* how often the thread looks at the state's generation */
#define EXPO_BODY_MAX (64u << 20) /* bytes of text; as http.c's HTTP_BODY_MAX */

struct expo;

/* st and bi must outlive it. NULL when out of memory. */
struct expo *expo_new(struct state *st, const struct build_info *bi);
void expo_free(struct expo *e); /* stop first; accepts NULL */
int expo_start(struct expo *e); /* the render thread: 0, or -1 (logged) */
void expo_stop(struct expo *e); /* accepts NULL */

/* Renders now, on the caller's thread (tests, and the first render before serving). */
int expo_render(struct expo *e);

/* The last render, as a malloc'ed block the caller frees: its gzip when gzip, else the text.
 * Returns 0, or -1 when there is none yet or out of memory. */
int expo_copy(struct expo *e, bool gzip, void **data, size_t *len);

#endif
