/*
 * config.h: the INI configuration, parsed once into an immutable struct.
 *
 * config_load() reports every problem it finds, one line each, as "FILE:LINE: KEY: reason",
 * and returns NULL when there was any. A reload builds a new struct and swaps it in whole.
 */
#ifndef SQLITE_AGENT_CONFIG_H
#define SQLITE_AGENT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "log.h"

/* CHECK_AUTO is a configured kind only: a run is quick or integrity, as checkauto_kind()
 * (checkauto.h) decides per run. So CHECK_KIND_COUNT, which sizes per-run tables
 * (state.h runs[][]), counts the kinds a run can have, and CHECK_CONFIG_KIND_COUNT the values
 * "check =" takes. */
enum check_kind { CHECK_OFF = 0, CHECK_QUICK, CHECK_INTEGRITY, CHECK_AUTO };
#define CHECK_KIND_COUNT 3
#define CHECK_CONFIG_KIND_COUNT 4

/* metrics = full | basic: every per-database series, or those the alert rules and the fleet
 * dashboard need (metrics.c, metric_in_basic; docs/metrics.md). */
enum metrics_level { METRICS_FULL = 0, METRICS_BASIC };

/* How closely the wal-index is watched (walwatch.h): normal is the sampler's pace and, when
 * the database is exposed to the WAL-reset race, the close watch; close always watches it. */
enum watch_mode { WATCH_NORMAL = 0, WATCH_CLOSE };

/* "off", "quick", "integrity", "auto" */
const char *config_check_kind_str(enum check_kind k);

/* check_priority: the check threads' CPU and I/O priority. */
enum check_priority { CHECK_PRIORITY_IDLE = 0, CHECK_PRIORITY_NORMAL };

#define CONFIG_DEFAULT_LISTEN "127.0.0.1:10150"
/* The longest runbook_url or external_url, in bytes. */
#define CONFIG_URL_MAX 2048

/* A string field added here is freed by config_free() for the base config only (not in the
 * loop over dbs, which also runs for config_with_dbs() copies whose entries share it). */
struct db_config {
    char *name; /* from "[database:NAME]": the db label; unique */
    char *path; /* as written; absolute or relative to the agent's working directory */
    enum check_kind check;
    int64_t sample_interval_ms; /* per-database value, or the [agent] one */
    int64_t check_interval_ms;
    int64_t check_timeout_ms;
    enum watch_mode watch;        /* "watch = normal|close" */
    int64_t check_yield_after_ms; /* a blocking checkpoint held this long: step aside */
    int64_t check_wal_pin_max;    /* WAL bytes written past a snapshot: step aside; 0 never */
    int check_max_read_rate;      /* bytes/s a check reads of the file; 0 = unlimited */
    /* [database:] default full, [databases:] default basic */
    enum metrics_level metrics;
};

/* [databases:NAME]: one glob(3) pattern standing for many databases (agent/fleet.c expands
 * it). tmpl comes first so that the [database:NAME] keys, whose rows in config.c's table are
 * offsets into struct db_config, write into it unchanged: every such key applies to each
 * match. tmpl.name is the section name, tmpl.path is unused (NULL). */
struct glob_config {
    struct db_config tmpl;
    char *pattern;              /* the "glob" key, as written */
    int64_t rescan_interval_ms; /* per section, or the [agent] one */
};

/* [alertmanager]: where the agent posts its own alerts; none when nurls is 0. */
struct alertmanager_config {
    size_t nurls;
    char **urls;                /* base URLs, e.g. http://127.0.0.1:9093 */
    int64_t resend_interval_ms; /* firing alerts are posted again this often */
    int64_t timeout_ms;         /* per POST */
    char *runbook_url;          /* base of runbook_url annotations; "#anchor" is appended */
    char *external_url;         /* generatorURL: how humans reach this agent */
    /* TLS and auth toward Alertmanager (Prometheus's http_config names): files checked
     * readable at load; the password and token are read again for each post, so they can be
     * rotated without a reload. NULL: not set. */
    char *ca_file;           /* CA bundle for https:// URLs, instead of the system's */
    char *cert_file;         /* client certificate (with key_file) */
    char *key_file;          /* its key, unencrypted PEM */
    char *username;          /* basic auth, with password_file */
    char *password_file;     /* the password: the file's first line */
    char *bearer_token_file; /* "Authorization: Bearer" token: the file's first line */
};

struct config {
    char *file;        /* the file it was loaded from */
    char *listen;      /* as written, e.g. "127.0.0.1:10150" or "[::1]:10150" */
    char *listen_host; /* "127.0.0.1", "::1" (brackets removed) */
    uint16_t listen_port;
    int64_t sample_interval_ms;
    int64_t check_interval_ms;
    int64_t check_timeout_ms;
    int check_workers; /* threads running checks */
    int64_t check_yield_after_ms;
    int64_t check_wal_pin_max;
    int check_max_read_rate;
    enum check_priority check_priority;
    enum log_level log_level;
    enum log_format log_format; /* logfmt (default) or json */

    /* The close watch (walwatch.h): its period, and how many databases at most (0: none). */
    int64_t walindex_watch_interval_ms;
    int walindex_watch_max;
    /* SQLite versions declared fixed for the WAL-reset race (a distribution's backport keeps
     * the version number), in SQLITE_VERSION_NUMBER form. */
    size_t npatched;
    uint32_t *patched;
    size_t ndbs;
    struct db_config *dbs; /* in file order */
    struct alertmanager_config am;
    char *web_config_file; /* exporter-toolkit web config (TLS, basic auth); NULL: none */
    /* Fleets (issue 10): [databases:NAME] sections in file order, how often they are globbed
     * again, and how many databases the agent watches at most (explicit ones always). */
    size_t nglobs;
    struct glob_config *globs;
    int64_t rescan_interval_ms;
    int max_databases;
    /* Set by config_with_dbs(): every pointer but dbs (and its strings) belongs to base. */
    const struct config *base;

    char *evidence_dir;         /* where evidence copies go; NULL = off (evidence.h) */
    int64_t evidence_max_bytes; /* a database larger than this is not copied */
};

/* Parses the file at path. Returns a new config the caller frees with config_free(), or NULL
 * after writing every problem to errors. */
struct config *config_load(const char *path, FILE *errors);

/* As config_load(), over a string; name stands for the file name in messages. */
struct config *config_load_string(const char *text, const char *name, FILE *errors);

/* Frees c; for a config_with_dbs() copy, only what the copy owns. Accepts NULL. */
void config_free(struct config *c);

/* A copy of base watching dbs[0..ndbs) instead: the list agent/fleet.c builds from the
 * explicit sections and the glob matches. Takes ownership of dbs and their name and path
 * strings (freed with the copy, also on failure); every other field points into base, which
 * must outlive the copy. NULL when out of memory. */
struct config *config_with_dbs(const struct config *base, struct db_config *dbs, size_t ndbs);

/* "500ms", "15s", "5m", "1h", or plain seconds "30". Returns 0 and sets *ms, or -1. */
int config_parse_duration(const char *s, int64_t *ms);

#endif
