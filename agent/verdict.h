/*
 * verdict.h: the check verdict, one pure function of the facts a run gathered.
 *
 * The honest-signal rules (README, "Honest signals") in one place:
 *   - corruption is only SQLite's own finding: a problem row, SQLITE_CORRUPT or SQLITE_NOTADB;
 *     problem rows stand even when the run then failed or timed out;
 *   - a schema written by a newer SQLite that the agent's SQLite cannot parse is an error, not
 *     corruption (verdict_schema_unsupported);
 *   - a run that could not complete is busy, timeout or error, never malformed, never ok;
 *   - a run that stepped aside for the application (a waiting writer or a blocking checkpoint)
 *     and could not finish before its deadline is busy;
 *   - an unlocked (immutable) read of a file that changed meanwhile is busy, rows and all;
 *   - a stopped run (the agent exiting) is no verdict at all.
 * No I/O, no SQLite calls: the checker gathers the facts, this decides.
 */
#ifndef SQLITE_AGENT_VERDICT_H
#define SQLITE_AGENT_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

struct verdict_facts {
    bool refused;       /* dbopen_plan refused to open (would create a file) */
    bool stopped;       /* the agent is exiting */
    bool timed_out;     /* the deadline ended the run */
    bool yielded;       /* it stepped aside for the application and could not finish: it ended
                         * while stepping aside, or at its deadline after a step aside */
    int rc;             /* extended SQLite code that ended the run; SQLITE_OK when complete */
    const char *errmsg; /* sqlite3_errmsg for rc, or NULL */
    uint32_t problems;  /* check rows other than "ok" */
    bool immutable;     /* read with immutable=1, without locks */
    bool unchanged;     /* immutable: the file was the same after the read */
    bool wal_vanished;  /* a locked WAL open failed because the -wal went away */
};

struct verdict {
    bool record; /* false: no verdict (stopped) */
    enum check_result result;
    bool keep_problems; /* false: the rows are not the file's (a changed unlocked read) */
    bool unsupported;   /* the schema was written by a newer SQLite */
};

void verdict_decide(const struct verdict_facts *f, struct verdict *out);

/* SQLITE_CORRUPT "malformed database schema (NAME) - EXTRA" where EXTRA is what a newer SQLite
 * legitimately writes and the agent's parser lacks. msg may be NULL. */
bool verdict_schema_unsupported(int rc, const char *msg);

#endif
