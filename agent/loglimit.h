/*
 * loglimit.h: at most LOGLIMIT_BURST lines per cause per LOGLIMIT_WINDOW_S seconds, with a
 * count of what was dropped.
 *
 * Outside input reaches the log (a client that hangs up mid-request, a flood of connections,
 * accept(2) failing for lack of descriptors: libmicrohttpd logs each one), so a single cause
 * could otherwise write without bound: 815,128 lines/s were seen. A cause is a 64-bit key
 * (log.c hashes the message and the db field). LOGLIMIT_CAUSES causes are tracked at once; the
 * rest share one overflow slot, so the total is bounded too. Pure: the caller brings the time
 * and the lock.
 */
#ifndef SQLITE_AGENT_LOGLIMIT_H
#define SQLITE_AGENT_LOGLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define LOGLIMIT_BURST 5
#define LOGLIMIT_WINDOW_S 60
#define LOGLIMIT_CAUSES 64
#define LOGLIMIT_NAME_MAX 80 /* of a cause's name kept for the "dropped" line; longer is cut */

struct loglimit_slot {
    uint64_t key;
    bool used;
    int64_t window_start_s;
    unsigned lines;        /* written in this window */
    unsigned long dropped; /* dropped in this window */
    char name[LOGLIMIT_NAME_MAX];
};

struct loglimit {
    struct loglimit_slot slot[LOGLIMIT_CAUSES + 1]; /* the last one: every other cause */
};

/* A window that ended with lines dropped. */
struct loglimit_report {
    char name[LOGLIMIT_NAME_MAX];
    unsigned long dropped;
};

/* True when a line of this cause may be written at now_s (monotonic seconds). name is kept, cut
 * to fit, for the report. */
bool loglimit_admit(struct loglimit *l, uint64_t key, const char *name, int64_t now_s);

/* Moves the windows that ended by now_s with lines dropped into out (at most max), resetting
 * them; returns how many. Called before each line, so a drop is reported with the next line
 * of any cause. */
unsigned loglimit_collect(struct loglimit *l, int64_t now_s, struct loglimit_report *out,
                          unsigned max);

#endif
