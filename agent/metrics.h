/*
 * metrics.h: the Prometheus text exposition (format 0.0.4), rendered from a snapshot.
 *
 * A pure function: no I/O, no clock (now_ms is passed in), no global state. The output is
 * appended to a capped buffer; on overflow the buffer is marked failed.
 */
#ifndef SQLITE_AGENT_METRICS_H
#define SQLITE_AGENT_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "state.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct build_info {
    const char *version;        /* the agent's */
    const char *sqlite_version; /* sqlite3_libversion() at run time */
};

/* Appends the exposition for snap to out. Returns 0, or -1 when out overflowed. */
int metrics_render(const struct snapshot *snap, const struct build_info *bi, int64_t now_ms,
                   struct buf *out);

/* Appends s to out escaped as a label value: backslash, double quote and newline. */
int metrics_escape_label(struct buf *out, const char *s);

#endif
