/*
 * state.h: the snapshot, the only state shared between threads.
 *
 * The sampler and the checkers write into it under one mutex; the HTTP thread takes a deep
 * copy (state_snapshot) and renders from that copy without holding anything. Nothing here does
 * I/O, and the mutex is held only for copies.
 */
#ifndef SQLITE_AGENT_STATE_H
#define SQLITE_AGENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "config.h"
#include "fileformat.h"
#include "fsclass.h"
#include "problems.h"

enum sample_status {
    SAMPLE_NONE = 0,   /* not sampled yet */
    SAMPLE_OK,         /* file present, header valid */
    SAMPLE_MISSING,    /* ENOENT/ENOTDIR: the database file does not exist */
    SAMPLE_UNREADABLE, /* open, stat or read failed; errno in sample.err */
    SAMPLE_BAD_HEADER, /* read, but the 100-byte header did not parse; result in db_result */
    SAMPLE_EMPTY,      /* 0 bytes: to SQLite an empty database, before its first table */
};

/* The file is there and SQLite can open it: what sqlite_up reports. */
static inline bool sample_up(enum sample_status s)
{
    return s == SAMPLE_OK || s == SAMPLE_EMPTY;
}

/* One database's last header sample: stat + pread of the database, -wal and -shm. */
struct sample {
    int64_t taken_ms; /* wall clock, Unix ms */
    enum sample_status status;
    int err;                        /* errno when SAMPLE_UNREADABLE */
    uint64_t file_size;             /* database file size in bytes */
    enum ff_result db_result;       /* header parse result */
    struct ff_db_header db;         /* valid when status == SAMPLE_OK */
    bool wal_present;               /* a -wal file exists */
    uint64_t wal_size;              /* its size; 0 when absent */
    enum ff_result wal_result;      /* header parse result, when wal_present */
    struct ff_wal_header wal;       /* valid when wal_result is FF_OK */
    bool shm_present;               /* a -shm file exists */
    enum ff_result walindex_result; /* after retries, when shm_present */
    struct ff_walindex walindex;    /* valid when walindex_result is FF_OK */
    bool fs_known;                  /* statfs of the database file succeeded */
    /* The files this sample opened, for the /proc scan (procwatch.c) */
    bool db_seen, wal_seen;
    dev_t db_dev, wal_dev;
    ino_t db_ino, wal_ino;
    struct fsclass fs; /* its filesystem */
};

enum check_result {
    CHECK_RESULT_OK = 0,    /* completed, every row "ok" */
    CHECK_RESULT_MALFORMED, /* SQLITE_CORRUPT/NOTADB, or problem rows */
    CHECK_RESULT_BUSY,      /* SQLITE_BUSY/LOCKED: could not run */
    CHECK_RESULT_TIMEOUT,   /* aborted at check_timeout */
    CHECK_RESULT_ERROR,     /* I/O error, permission, missing file...: could not run */
};
#define CHECK_RESULT_COUNT 5

/* "ok", "malformed", "busy", "timeout", "error" */
const char *state_check_result_str(enum check_result r);

/* A snapshot's optional text (check_state's, evidence_state's path): "" for NULL. */
static inline const char *state_text(const char *s)
{
    return s != NULL ? s : "";
}

/* What one check run produced, as the checker reports it. */
struct check_outcome {
    enum check_kind kind;
    enum check_result result;
    uint32_t problems;   /* problem rows, when result is ok or malformed */
    double duration_s;   /* wall time of the run */
    int64_t finished_ms; /* wall clock, Unix ms */
    char detail[256];    /* why a run did not complete: step, SQLite code and message */
    uint32_t kinds[PROBLEM_KIND_COUNT]; /* problem rows by kind (problems_classify) */

    /* How it went along with the application (checker.c, checkunits.h). */
    uint32_t yields;       /* times it stepped aside for the application */
    double snapshot_max_s; /* the longest read transaction it held */
    uint64_t read_bytes;   /* read of the database's own files, not yet reported as progress */
    uint32_t units_done;   /* of the pass it worked on (checkunits.h) */
    uint32_t units_total;
    bool whole_file; /* the whole-file unit completed (not a split pass) */
};

/* For the alert: cut to these sizes (display only; the log has the rows in full). */
#define STATE_FIRST_PROBLEM_MAX 160
#define STATE_INDEXES_MAX 128

/* Per-database check history. "Completed" means ok or malformed. */
struct check_state {
    bool completed_once; /* some run has completed */
    bool malformed;      /* the last completed run found corruption */
    enum check_kind last_kind;
    enum check_result last_result;
    uint32_t problems;       /* rows from the last completed run */
    double duration_s;       /* of the last run, completed or not */
    int64_t last_success_ms; /* end of the last completed run; 0 = never */
    uint64_t runs[CHECK_KIND_COUNT][CHECK_RESULT_COUNT];
    /* busy, timeout and error runs since the last completed one */
    uint32_t failures_since_success;
    bool running; /* a run is in progress now */
    /* Of the last completed run: problem rows by kind; with no rows but malformed
     * (SQLITE_CORRUPT), one row of kind schema or other (problems_classify_failure). */
    uint32_t kinds[PROBLEM_KIND_COUNT];
    uint64_t malformed_episodes; /* transitions to malformed: one evidence copy each */
    /* Text of the last completed run, set only while malformed, so kept out of the fixed record
     * (10,000 databases): NULL when unset (read through state_text()). In a snapshot they point
     * into its string block; state.c keeps its own copies aside and leaves these NULL. */
    const char *first_problem; /* first message of the first problem row, cut as above */
    const char *indexes;       /* "a,b": indexes the logged rows name, cut as above */
    const char *problem_rows;  /* the outcome's detail: first rows, for evidence */

    /* Stepping aside, budget and progress (checker.c, checkunits.h). */
    uint64_t yields;       /* every step aside, counted */
    uint64_t read_bytes;   /* every run's reads of the database's own files */
    double snapshot_max_s; /* of the last run */
    double snapshot_now_s; /* of the run in progress, so far */
    uint32_t units_done;   /* of the pass in progress, or of the last one */
    uint32_t units_total;
    int64_t last_whole_file_ms; /* the last completed run that did the whole-file unit */
};

/* Evidence copies (evidence.h). */
enum evidence_result {
    EVIDENCE_OK = 0,   /* copied, manifest written */
    EVIDENCE_TOO_BIG,  /* the database is larger than evidence_max_bytes */
    EVIDENCE_NO_SPACE, /* evidence_dir lacks room for the copy and a margin */
    EVIDENCE_ERROR,    /* open, backup or write failed (logged) */
};
#define EVIDENCE_RESULT_COUNT 4
#define EVIDENCE_PATH_MAX 512

/* "ok", "too_big", "no_space", "error" */
const char *state_evidence_result_str(enum evidence_result r);

struct evidence_state {
    uint64_t copies[EVIDENCE_RESULT_COUNT];
    uint64_t episode;   /* check_state.malformed_episodes last attempted */
    int64_t last_ok_ms; /* wall clock of the last good copy; 0 = none */
    /* The last good copy (at most EVIDENCE_PATH_MAX - 1 bytes), NULL when none: like
     * check_state's text, in a snapshot's string block. */
    const char *path;
};

/* What the close watch (walwatch.h) saw of one database. Counters: nothing between two scrapes
 * is lost, and they survive reloads like the check history. */
enum watch_anomaly {
    WATCH_BACKFILL_PAST_END = 0, /* nBackfill > mxFrame on a stable header, seen twice */
    WATCH_UNSTABLE_HEADER,       /* the two header copies differed on every read for a while */
};
#define WATCH_ANOMALY_COUNT 2

/* "backfill_past_end", "unstable_header" */
const char *state_watch_anomaly_str(enum watch_anomaly a);

struct watch_counts {
    uint64_t anomalies[WATCH_ANOMALY_COUNT];
    uint64_t audits;         /* checkpoint audits run to the end */
    uint64_t audits_dropped; /* begun, no verdict: the WAL restarted under them */
    uint64_t pages_audited;  /* pages compared with their frame */
    uint64_t frames_read;    /* WAL frames read and verified by the audit */
    uint64_t lost_pages;     /* claimed checkpointed, not in the database file */
};

struct watch_state {
    bool watched; /* watched closely now */
    struct watch_counts counts;
    /* A race signal (lost pages or backfill_past_end) the checker has not taken yet:
     * state_race_signal_take(). */
    bool race_signal;
    int64_t last_signal_ms; /* wall clock of the last race signal; 0: none */
};

struct db_snapshot {
    const char *name; /* owned by the snapshot */
    const char *path;
    enum check_kind kind; /* configured check kind */
    /* metrics = basic: only what the alerts and the fleet dashboard need */
    bool basic;
    /* for sqlite_agent_checks_overdue: the interval, and since when it is watched (Unix ms) */
    int64_t check_interval_ms;
    int64_t watched_since_ms;
    struct sample sample;
    struct check_state check;
    struct proc_usage procs; /* the last /proc scan */
    struct risk risk;        /* judged from the sample and the scan */
    struct watch_state watch;
    struct evidence_state evidence;
};

/* The agent's own health. */
struct agent_stats {
    int64_t start_ms;
    uint64_t sample_passes;    /* completed sampling passes */
    double last_sample_pass_s; /* wall time of the last pass */
    uint64_t scrapes;          /* /metrics responses */
    double last_render_s;      /* render time of the previous scrape */
    bool last_reload_ok;
    int64_t last_reload_ok_ms;       /* last successful (re)load */
    uint64_t reloads[2];             /* [0] failed, [1] succeeded */
    uint64_t alert_posts[2];         /* posts to Alertmanager: [0] failed, [1] succeeded */
    bool proc_scanned;               /* a /proc scan has run */
    double last_proc_scan_s;         /* its wall time */
    struct procscan_stats procs;     /* its counts */
    int64_t last_sample_pass_end_ms; /* CLOCK_MONOTONIC end of the last pass; 0 = none yet */
    uint64_t http_denied[2];         /* requests refused: [0] basic auth, [1] client certificate */
    /* check runs of every database, by result; never reset */
    uint64_t check_runs[CHECK_RESULT_COUNT];
    uint64_t http_closed[2]; /* connections closed by http.c: [0] deadline, [1] hang-up */
    uint64_t log_dropped;    /* log lines dropped by the rate limit (copied at snapshot) */
};

/* One [databases:NAME] section's last rescan (agent/fleet.c): files, by what became of them. */
#define GLOB_GROUP_MAX 128 /* bytes: CONFIG_MAX_NAME in config.c */
struct glob_stats {
    char group[GLOB_GROUP_MAX + 1];
    uint64_t matched;    /* regular files matched, -wal/-shm/-journal left out */
    uint64_t skipped;    /* never seen with an SQLite header (or a label too long) */
    uint64_t duplicate;  /* watched through another section */
    uint64_t over_limit; /* left out by max_databases */
    uint64_t watched;
    uint64_t errors; /* glob(3) failures since start: a counter */
};

struct snapshot {
    int64_t taken_ms;
    struct agent_stats agent;
    size_t nglobs;
    struct glob_stats *globs;
    size_t first; /* dbs[0] is the state's database `first` (0 but for state_snapshot_range) */
    size_t ndbs;
    struct db_snapshot *dbs;
    char *strings; /* one block for every name and path */
};

struct state;

struct state *state_new(int64_t start_ms);
void state_free(struct state *s);

/* Replaces the database list with cfg's (same order, index i = cfg->dbs[i]). History of a
 * database whose name and path both stay is carried over; others start empty, and databases
 * gone from the config disappear from the snapshot. Call with no sampler or checker running. */
int state_configure(struct state *s, const struct config *cfg);

void state_put_sample(struct state *s, size_t idx, const struct sample *sm);
void state_sample_pass_done(struct state *s, double seconds);
/* The result of a /proc scan for database idx, and the risk judged from it. */
void state_put_risk(struct state *s, size_t idx, const struct proc_usage *u, const struct risk *r);
void state_proc_scan_done(struct state *s, double seconds, const struct procscan_stats *st);

/* Marks a run as started (check_state.running). */
void state_check_begin(struct state *s, size_t idx);
/* A run cut short by checker_stop: no verdict, and no longer running. */
void state_check_abandoned(struct state *s, size_t idx);
/* How a running check goes, reported as it goes (so a run that keeps yielding is seen before
 * it ends): new yields and bytes are added, the rest replaces. */
struct check_progress {
    uint32_t units_done, units_total;
    uint32_t new_yields;
    uint64_t new_read_bytes;
    double snapshot_max_s; /* of the run so far */
};
void state_check_progress(struct state *s, size_t idx, const struct check_progress *p);
/* Records a finished run. Returns the malformed flag from before this run, so the caller can
 * log transitions only. */
bool state_check_end(struct state *s, size_t idx, const struct check_outcome *o);

/* The glob sections' counts of the last rescan, replacing the previous ones. */
void state_put_globs(struct state *s, const struct glob_stats *g, size_t n);
/* The close watch: whether database idx is watched closely, what it counted since the last
 * call (added; a lost page or a backfill_past_end also raises the race signal), whether it is
 * exposed to the WAL-reset race now (the risk reason wal_reset_race: WAL, a vulnerable library
 * and two or more connections), and the checker's side of the signal: true once per signal,
 * which it clears. */
void state_watch_set(struct state *s, size_t idx, bool watched);
void state_watch_add(struct state *s, size_t idx, const struct watch_counts *add, int64_t now_ms);
bool state_watch_exposed(struct state *s, size_t idx);
bool state_race_signal_take(struct state *s, size_t idx);
/* Runs of database idx that completed (ok or malformed), any kind: checkauto_kind()'s count. */
uint64_t state_check_completed_runs(struct state *s, size_t idx);
/* An evidence copy attempt for malformed episode `episode` of database idx; path when ok. */
void state_evidence_done(struct state *s, size_t idx, uint64_t episode, enum evidence_result r,
                         const char *path, int64_t now_ms);

void state_scrape_done(struct state *s, double render_seconds);
/* expo.c's: a counter of the changes a render shows, to tell when to render again; the time
 * its last render took; and a scrape served from that render. */
uint64_t state_generation(struct state *s);
/* When database idx's last completed check ended (Unix ms), 0 for never: checker.c's schedule
 * after a restart of the workers. */
int64_t state_check_last_success_ms(struct state *s, size_t idx);
/* The last sample of each database into out[0..n), n at most the number of databases; returns
 * how many were copied. procwatch.c's view: a tenth of a snapshot's size. */
size_t state_copy_samples(struct state *s, struct sample *out, size_t n);
/* Completed sampling passes (procwatch.c scans after one). */
uint64_t state_sample_passes(struct state *s);
void state_render_done(struct state *s, double render_seconds);
void state_scrape_served(struct state *s);
/* HTTP connections closed for their deadline and because their client hung up mid-request. */
void state_http_closed(struct state *s, unsigned deadline, unsigned hangup);
void state_reload_done(struct state *s, bool ok, int64_t now_ms);
void state_alert_post_done(struct state *s, bool ok);
/* A request the web config refused: a missing or wrong password, or a client certificate. */
void state_http_denied(struct state *s, bool client_cert);

/* A deep copy, or NULL when out of memory. Free with snapshot_free(). The render's: threads
 * that need a few values take them with the narrower calls below. */
struct snapshot *state_snapshot(struct state *s, int64_t now_ms);
/* The same for databases first..first+n (fewer at the end of the list) alone: dbs[0] is
 * database `first`. NULL when out of memory or first is past the list. */
struct snapshot *state_snapshot_range(struct state *s, size_t first, size_t n, int64_t now_ms);
/* CLOCK_MONOTONIC end of the last sampling pass, 0 for none yet: the watchdog's sign of life. */
int64_t state_last_sample_pass_end_ms(struct state *s);
/* evidence.c's: the first database at or after `from` malformed in an episode it has no copy
 * attempt for (check_state.malformed_episodes != evidence_state.episode), into *idx. false
 * when there is none. */
bool state_evidence_next_due(struct state *s, size_t from, size_t *idx);
void snapshot_free(struct snapshot *snap);

#endif
