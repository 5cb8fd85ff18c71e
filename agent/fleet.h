/*
 * fleet.h: [databases:NAME] glob sections expanded into the list of databases the agent
 * watches, again every rescan_interval.
 *
 * The list the sampler, the checkers and the snapshot work from is a plain struct config
 * (config_with_dbs): the explicit [database:NAME] sections first, in file order, then each glob
 * section's matches, in file order and path order. When a rescan changes that list, main.c swaps
 * the workers exactly as a reload does, and state_configure() carries every database's history
 * over (same name and path), so a rescan that adds one tenant costs a restart of the threads, not
 * the history of the others. A rescan that changes nothing costs a glob and a stat per match.
 *
 * Rules (docs/configuration.md, "Fleets"):
 *   - the db label is the section name, "/", and the match's path below the pattern's fixed
 *     directory prefix: [databases:tenants] glob = /srv/tenants/<*>/app.db gives
 *     tenants/acme/app.db;
 *   - names ending in -wal, -shm or -journal never match, nor anything but a regular file;
 *   - a match never seen with an SQLite header (the 16-byte "SQLite format 3" magic,
 *     fileformat2 1.3: offset 0) is skipped and counted; once seen it stays watched while it
 *     matches, so a smashed header is reported instead of vanishing;
 *   - a file matched twice is watched once: an explicit section wins over every glob (and two
 *     explicit sections on one file both stay, as before), else the first glob section in file
 *     order; files are compared by (st_dev, st_ino);
 *   - max_databases bounds the whole list: explicit sections always, then glob matches in order
 *     until the bound; the rest are counted and logged, not watched.
 *
 * The header probe opens and closes a descriptor, and closing any descriptor drops the
 * process's fcntl locks on that file (fdguard.h). So it never probes a file the agent watches:
 * a file already seen, or whose (dev, ino) is any watched database's, is not opened at all.
 */
#ifndef SQLITE_AGENT_FLEET_H
#define SQLITE_AGENT_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "state.h"

/* Bytes in a label made from a glob match: a metric label value, so bounded; a longer one is
 * skipped and counted. */
#define FLEET_MAX_LABEL 512

/* ---- the pure part --------------------------------------------------------------------- */

/* Bytes of pattern before its first glob(3) metacharacter's path component: "/srv/t/<*>/a.db"
 * gives 7 ("/srv/t/"); a pattern without a metacharacter gives its directory part. */
size_t fleet_fixed_prefix(const char *pattern);

/* The db label of path, matched by pattern in group, into out[len]. Returns 0, or -1 when it
 * does not fit FLEET_MAX_LABEL or len, or path does not start with the fixed prefix. */
int fleet_label(const char *group, const char *pattern, const char *path, char *out, size_t len);

/* Whether a match is left out by its name: SQLite's -wal, -shm and -journal files. */
bool fleet_excluded_name(const char *path);

/* Whether buf starts with the SQLite header magic. */
bool fleet_sqlite_magic(const unsigned char *buf, size_t len);

/* One database that could be watched, in priority order. */
struct fleet_candidate {
    const char *label;
    const char *path;
    bool from_section; /* an explicit [database:NAME] */
    bool has_id;       /* dev and ino are known (stat succeeded) */
    dev_t dev;
    ino_t ino;
};

enum fleet_verdict {
    FLEET_WATCH = 0,
    FLEET_DUPLICATE,  /* the same file is watched through another section */
    FLEET_LABEL_USED, /* another database already has this label */
    FLEET_OVER_LIMIT, /* past max_databases */
};

/* Decides which of c[0..n) are watched (see the rules above), at most max of them unless
 * explicit sections alone are more. Returns 0, or -1 when out of memory. */
int fleet_merge(const struct fleet_candidate *c, size_t n, size_t max, enum fleet_verdict *out);

/* ---- the rescans ------------------------------------------------------------------------ */

struct fleet;

/* st receives the per-section counts; it must outlive the fleet. */
struct fleet *fleet_new(struct state *st);
void fleet_free(struct fleet *f);

/* Points the fleet at base's glob sections, at start and after each reload: a section with the
 * same name and pattern as before keeps what it learnt (which files were seen as SQLite). Every
 * section is due at once. Returns 0, or -1 when out of memory. */
int fleet_configure(struct fleet *f, const struct config *base);

/* Globs the sections that are due at now_ms (monotonic) and rebuilds the list. Sets *out to a
 * new config_with_dbs() copy of base when the list differs from cur's (cur NULL: always), else
 * to NULL. Returns 0, or -1 when out of memory. */
int fleet_rescan(struct fleet *f, const struct config *base, const struct config *cur,
                 int64_t now_ms, struct config **out);

/* When the next section is due (monotonic ms); INT64_MAX when there are none. */
int64_t fleet_next_rescan_ms(const struct fleet *f);

#endif
