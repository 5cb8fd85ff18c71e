/*
 * main.c: wiring only. Parse the command line, load the config, start the sampler, the check
 * workers and the HTTP server, then wait for signals: SIGTERM/SIGINT stop, SIGHUP reloads.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "alertpush.h"
#include "checker.h"
#include "clock.h"
#include "config.h"
#include "evidence.h"
#include "expo.h"
#include "fdguard.h"
#include "fleet.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "procwatch.h"
#include "sampler.h"
#include "sqlitever.h"
#include "state.h"
#include "version.h"
#include "walwatch.h"
#include "webconfig.h"

/* Exit statuses; --once documents them in --help and the README. */
enum {
    EXIT_HEALTHY = 0,
    EXIT_MALFORMED = 1,
    EXIT_USAGE = 2,
    EXIT_DEGRADED = 3, /* nothing malformed, but a database is down or a check did not run */
};

static const char usage_text[] =
    "usage: sqlite-agent -c FILE [--check-config | --once]\n"
    "       sqlite-agent --version | --help\n"
    "\n"
    "Watches SQLite database files read-only and serves Prometheus metrics.\n"
    "\n"
    "  -c, --config FILE   the INI configuration (required)\n"
    "      --check-config  validate the configuration, print every problem, exit\n"
    "      --once          sample and check every database once, print the metrics, exit:\n"
    "                      0 all healthy, 1 a database is malformed, 2 usage or config error,\n"
    "                      3 nothing malformed but a database is down or its check did not run\n"
    "  -V, --version       print the version and exit\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop; SIGHUP reloads the configuration (kept if invalid).\n";

struct options {
    const char *config;
    bool check_config;
    bool once;
};

/* Returns -1 to exit with EXIT_USAGE, 1 to exit 0 (help, version), 0 to go on. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
        {"once", no_argument, NULL, 'O'},         {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'C':
            o->check_config = true;
            break;
        case 'O':
            o->once = true;
            break;
        case 'V':
            printf("sqlite-agent %s (SQLite %s)\n", SQLITE_AGENT_VERSION, sqlite3_libversion());
            return 1;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default:
            fputs(usage_text, stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sqlite-agent: unexpected argument: %s\n", argv[optind]);
        return -1;
    }
    if (o->config == NULL) {
        fputs("sqlite-agent: --config FILE is required\n", stderr);
        fputs(usage_text, stderr);
        return -1;
    }
    if (o->check_config && o->once) {
        fputs("sqlite-agent: --check-config and --once exclude each other\n", stderr);
        return -1;
    }
    return 0;
}

/* /proc/sys/fs/nr_open: the most descriptors a process may have; 1048576 if unreadable (the
 * kernel's default). */
static rlim_t nr_open(void)
{
    unsigned long long v = 1048576;
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");

    if (f != NULL) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 1048576;
        fclose(f);
    }
    return (rlim_t)v;
}

/* Descriptors grow with the work running, not with the databases watched (sampler.c opens,
 * reads and closes a database's files per sample): a check holds its SQLite connection's (the
 * database, -wal, -shm, a journal) plus the sampler's three of that database and a lock probe;
 * the sampler three more; HTTP one per connection (http.c allows 64) and a listener; then the
 * /proc scan's directory, the log, libraries. Raise the soft limit to the hard one anyway (as
 * the Go runtime does for every Go exporter), and say so when even that is short. */
#define FDS_PER_CHECK 8
#define FDS_FIXED 128
static void raise_fd_limit(const struct config *cfg)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t cur = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        /* setrlimit(2): a value above fs.nr_open is refused (EPERM), and a hard limit can be
         * above it when nr_open was lowered after it was set: then ask for nr_open. */
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = nr_open();
            if (rl.rlim_cur > rl.rlim_max || rl.rlim_cur <= cur || setrlimit(RLIMIT_NOFILE, &rl))
                rl.rlim_cur = cur;
        }
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = FDS_PER_CHECK * (rlim_t)cfg->check_workers + FDS_FIXED;
    if (rl.rlim_cur < need) {
        char have[24], want[24];
        snprintf(have, sizeof(have), "%llu", (unsigned long long)rl.rlim_cur);
        snprintf(want, sizeof(want), "%llu", (unsigned long long)need);
        log_warn("the open-files limit is too low for this many check workers; raise it "
                 "(LimitNOFILE= in systemd, ulimit -n)",
                 "limit", have, "needed", want, NULL);
    }
}

/* Everything that lives for one configuration: reload swaps the whole of it. */
struct workers {
    struct config *cfg;
    struct fdguard **guards; /* one per database; databases on one file share one */
    struct sampler *sampler;
    struct walwatch *walwatch; /* the close watch of the wal-index (issue 12) */
    struct checker *checker;
    struct alertpush *alertpush; /* NULL without [alertmanager] */
    struct procwatch *procwatch; /* the /proc scan and the risk verdict */
    struct evidence *evidence;   /* NULL without evidence_dir */
    struct state *state;
};

static void workers_free(struct workers *w)
{
    alertpush_free(w->alertpush);
    evidence_free(w->evidence);
    checker_free(w->checker);
    /* After the checkers: the sampler and the watch close their descriptors, and no
     * connection is open. */
    walwatch_free(w->walwatch);
    procwatch_free(w->procwatch);
    sampler_free(w->sampler);
    fdguard_set_free(w->guards, w->cfg ? w->cfg->ndbs : 0);
    config_free(w->cfg);
    memset(w, 0, sizeof(*w));
}

/* How this agent names itself in the alerts it posts: host:port, as a Prometheus target. */
static void instance_name(const struct config *cfg, char *out, size_t len)
{
    char host[256];

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, len, "%s:%u", host, cfg->listen_port);
}

/* Takes ownership of cfg. */
static int workers_init(struct workers *w, struct config *cfg, struct state *st)
{
    char instance[300];

    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    w->state = st;
    w->guards = fdguard_set_new(cfg);
    if (w->guards == NULL) {
        workers_free(w);
        return -1;
    }
    w->sampler = sampler_new(cfg, st, w->guards);
    w->procwatch = procwatch_new(cfg, st);
    w->checker = checker_new(cfg, st, w->guards);
    /* A race signal wakes the checker for an integrity check at once (checkauto.h). */
    w->walwatch =
        w->checker ? walwatch_new(cfg, st, w->guards, checker_race_signal, w->checker) : NULL;
    instance_name(cfg, instance, sizeof(instance));
    w->alertpush = alertpush_new(cfg, st, instance);
    bool evidence_failed;
    w->evidence = evidence_new(cfg, st, w->guards, &evidence_failed);
    if (w->sampler == NULL || w->procwatch == NULL || w->walwatch == NULL || w->checker == NULL ||
        (cfg->am.nurls > 0 && w->alertpush == NULL) || evidence_failed ||
        state_configure(st, cfg) != 0) {
        workers_free(w);
        return -1;
    }
    return 0;
}

/* The first sampling pass of a new set of workers comes before anything that renders: a check
 * of a small file can end within a millisecond, and its rendering would show databases that
 * are there as sqlite_up 0, not sampled yet (seen under ASan in test_honesty and test_fleet).
 * Bounded, so that a pass stuck on a slow filesystem does not hold up checks and /metrics for
 * long: 10,000 files take 70 ms cold (README, issue 10). */
#define FIRST_PASS_WAIT_MS 2000

static void await_sample_pass(struct state *st, uint64_t passes_before)
{
    int64_t until = clock_mono_ms() + FIRST_PASS_WAIT_MS;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 2 * 1000000L};

    while (state_sample_passes(st) == passes_before && clock_mono_ms() < until)
        nanosleep(&ts, NULL);
}

static int workers_start(struct workers *w)
{
    uint64_t passes = state_sample_passes(w->state);

    if (sampler_start(w->sampler) != 0)
        return -1;
    await_sample_pass(w->state, passes);
    if (procwatch_start(w->procwatch) != 0 || walwatch_start(w->walwatch) != 0 ||
        checker_start(w->checker) != 0)
        return -1;
    if (w->evidence != NULL && evidence_start(w->evidence) != 0)
        return -1;
    return w->alertpush ? alertpush_start(w->alertpush) : 0;
}

static void workers_stop(struct workers *w)
{
    alertpush_stop(w->alertpush);
    evidence_stop(w->evidence);
    walwatch_stop(w->walwatch); /* first: it calls into the checker */
    checker_stop(w->checker);
    procwatch_stop(w->procwatch);
    sampler_stop(w->sampler);
}

/* Stops the workers and starts new ones on cfg (ownership taken): a reload, or a rescan that
 * changed the database list. state_configure() carries the history of every database that
 * stays. */
static void workers_swap(struct workers *w, struct state *st, struct config *cfg)
{
    workers_stop(w);
    workers_free(w);
    if (workers_init(w, cfg, st) != 0 || workers_start(w) != 0) {
        log_error("out of memory or threads while restarting the workers", NULL);
        exit(EXIT_FAILURE);
    }
}

/* The configuration as loaded, and the fleet that expands its [databases:NAME] sections: both
 * outlive the workers, which run on the expanded copy (fleet.h). */
struct source {
    struct config *base;
    struct fleet *fleet;
};

/* Takes ownership of base. Returns the expanded config the workers run on, or NULL (out of
 * memory; base is then freed). */
static struct config *source_init(struct source *src, struct config *base, struct state *st)
{
    struct config *cfg = NULL;

    src->base = base;
    src->fleet = fleet_new(st);
    if (src->fleet == NULL || fleet_configure(src->fleet, base) != 0 ||
        fleet_rescan(src->fleet, base, NULL, clock_mono_ms(), &cfg) != 0) {
        fleet_free(src->fleet);
        config_free(base);
        memset(src, 0, sizeof(*src));
        return NULL;
    }
    return cfg;
}

/* After the workers are freed: the fleet's parked descriptors close with no connection open. */
static void source_free(struct source *src)
{
    fleet_free(src->fleet);
    config_free(src->base);
    memset(src, 0, sizeof(*src));
}

static void log_config(const struct config *cfg, const char *what)
{
    char n[24];

    snprintf(n, sizeof(n), "%zu", cfg->ndbs);
    log_info(what, "config", cfg->file, "databases", n, "listen", cfg->listen, NULL);
}

/* --once: one sample and one check of every database on this thread, metrics on stdout. */
static int run_once(struct config *base, const struct build_info *bi)
{
    struct state *st = state_new(clock_wall_ms());
    struct source src;
    struct config *cfg = NULL;
    struct workers w;
    struct buf out;
    atomic_bool stop;
    int status = EXIT_HEALTHY;

    atomic_init(&stop, false);
    if (st == NULL || (cfg = source_init(&src, base, st)) == NULL) {
        state_free(st);
        return EXIT_USAGE;
    }
    if (workers_init(&w, cfg, st) != 0) {
        source_free(&src);
        state_free(st);
        return EXIT_USAGE;
    }
    sampler_run_pass(w.sampler);
    procwatch_run_pass(w.procwatch);
    for (size_t i = 0; i < cfg->ndbs; i++) {
        struct check_outcome o;
        if (cfg->dbs[i].check == CHECK_OFF)
            continue;
        state_check_begin(st, i);
        checker_run_one(&cfg->dbs[i], w.guards[i], &stop, &o);
        state_check_end(st, i, &o);
        if (o.result == CHECK_RESULT_MALFORMED)
            log_error("database is malformed", "db", cfg->dbs[i].name, "path", cfg->dbs[i].path,
                      "first_problems", o.detail, NULL);
        else if (o.result != CHECK_RESULT_OK)
            checker_log_failure(&cfg->dbs[i], &o, LOG_WARN);
    }

    struct snapshot *snap = state_snapshot(st, clock_wall_ms());
    buf_init(&out, 1u << 30);
    if (snap == NULL || metrics_render(snap, bi, snap->taken_ms, &out) != 0) {
        status = EXIT_USAGE;
        goto out;
    }
    fwrite(out.data, 1, out.len, stdout);
    for (size_t i = 0; i < snap->ndbs; i++) {
        const struct db_snapshot *d = &snap->dbs[i];
        if (d->check.malformed)
            status = EXIT_MALFORMED;
        else if (status == EXIT_HEALTHY &&
                 (!sample_up(d->sample.status) ||
                  (d->kind != CHECK_OFF && d->check.last_result != CHECK_RESULT_OK)))
            status = EXIT_DEGRADED;
    }
out:
    buf_free(&out);
    snapshot_free(snap);
    workers_free(&w);
    source_free(&src);
    state_free(st);
    return status;
}

/* The web config file cfg names, loaded; *wc stays NULL when it names none. -1 when it is bad
 * (every problem written to stderr). */
static int load_web_config(const struct config *cfg, struct webconfig **wc)
{
    *wc = NULL;
    if (cfg->web_config_file == NULL)
        return 0;
    *wc = webconfig_load(cfg->web_config_file, stderr);
    return *wc != NULL ? 0 : -1;
}

/* SIGHUP: a new configuration (and web config) replaces the old only when both load cleanly. */
static void reload(struct workers *w, struct source *src, struct state *st, const char *path,
                   struct http *http)
{
    struct config *cfg = config_load(path, stderr);
    struct webconfig *wc = NULL;

    if (cfg != NULL && !evidence_config_ok(cfg)) {
        config_free(cfg);
        cfg = NULL;
    }
    if (cfg == NULL || load_web_config(cfg, &wc) != 0) {
        const char *web = cfg != NULL ? cfg->web_config_file : NULL;
        log_error("config reload failed, keeping the running config", "config", path,
                  web ? "web_config_file" : NULL, web, NULL);
        config_free(cfg);
        state_reload_done(st, false, clock_wall_ms());
        return;
    }
    /* Every reload re-reads the certificate files, even when the YAML did not change: that is
     * how a rotated certificate is picked up. */
    if ((wc != NULL || w->cfg->web_config_file != NULL) && http_reload(http, wc) != 0) {
        config_free(cfg);
        state_reload_done(st, false, clock_wall_ms());
        return;
    }
    if (strcmp(cfg->listen, w->cfg->listen) != 0)
        log_warn("listen address changes need a restart; still listening on the old one", "listen",
                 w->cfg->listen, NULL);
    log_set_level(cfg->log_level);
    log_set_format(cfg->log_format);
    struct config *expanded = NULL;
    if (fleet_configure(src->fleet, cfg) != 0 ||
        fleet_rescan(src->fleet, cfg, NULL, clock_mono_ms(), &expanded) != 0) {
        log_error("out of memory after reload", NULL);
        exit(EXIT_FAILURE);
    }
    workers_swap(w, st, expanded);
    config_free(src->base); /* after the swap: the old workers' config pointed into it */
    src->base = cfg;
    state_reload_done(st, true, clock_wall_ms());
    log_config(w->cfg, "config reloaded");
}

static int64_t max_sample_interval_ms(const struct config *cfg)
{
    int64_t max = cfg->sample_interval_ms;

    for (size_t i = 0; i < cfg->ndbs; i++)
        max = cfg->dbs[i].sample_interval_ms > max ? cfg->dbs[i].sample_interval_ms : max;
    return max;
}

/* A glob section is due: rescan, and swap the workers when the database list changed. */
static void rescan(struct workers *w, struct source *src, struct state *st)
{
    struct config *cfg = NULL;

    if (fleet_rescan(src->fleet, src->base, w->cfg, clock_mono_ms(), &cfg) != 0) {
        log_error("out of memory in a glob rescan; keeping the database list", NULL);
        return;
    }
    if (cfg == NULL)
        return;
    char was[24], now[24];
    snprintf(was, sizeof(was), "%zu", w->cfg->ndbs);
    snprintf(now, sizeof(now), "%zu", cfg->ndbs);
    workers_swap(w, st, cfg);
    log_info("glob rescan changed the database list", "databases_before", was, "databases", now,
             NULL);
}

/* Waits for a signal; with the systemd watchdog on, wakes every ping interval to ping it while
 * sampling is alive, and at each glob section's rescan time to rescan. Returns the signal. */
static int wait_signal(const sigset_t *sigs, struct workers *w, struct source *src,
                       struct state *st, int64_t start_ms)
{
    int64_t every = notify_watchdog_interval_ms();
    int64_t ping = every > 0 ? clock_mono_ms() + every : INT64_MAX;
    int sig;

    for (;;) {
        int64_t now = clock_mono_ms(), due = fleet_next_rescan_ms(src->fleet);
        if (due <= now) {
            rescan(w, src, st);
            continue;
        }
        int64_t until = due < ping ? due : ping;
        if (until == INT64_MAX) {
            if (sigwait(sigs, &sig) == 0)
                return sig;
            continue;
        }
        int64_t wait = until - now > 0 ? until - now : 0;
        struct timespec ts = {wait / 1000, (wait % 1000) * 1000000};
        sig = sigtimedwait(sigs, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno != EAGAIN || clock_mono_ms() < ping)
            continue;
        ping = clock_mono_ms() + every;
        if (notify_sampling_alive(w->cfg->ndbs, state_last_sample_pass_end_ms(st), start_ms,
                                  clock_mono_ms(), max_sample_interval_ms(w->cfg)))
            notify_watchdog();
        else
            log_warn("sampling has stalled: not pinging the systemd watchdog", NULL);
    }
}

static int run_daemon(struct config *base, struct webconfig *wc, const char *config_path,
                      const struct build_info *bi)
{
    struct state *st = state_new(clock_wall_ms());
    struct source src = {0};
    struct config *cfg = NULL;
    struct workers w;
    struct http *http = NULL;
    sigset_t sigs;
    int sig;

    /* Block the signals in every thread (threads inherit the mask) and take them with sigwait
     * here, so no handler runs in the middle of SQLite or libmicrohttpd. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (st == NULL || (cfg = source_init(&src, base, st)) == NULL) {
        webconfig_free(wc);
        state_free(st);
        return EXIT_FAILURE;
    }
    raise_fd_limit(cfg);
    if (workers_init(&w, cfg, st) != 0) {
        source_free(&src);
        webconfig_free(wc);
        state_free(st);
        return EXIT_FAILURE;
    }
    /* The exposition is rendered on a thread of its own once per change, and /metrics serves
     * that rendering (expo.h). The first rendering, of the first sampling pass, is there
     * before the port opens, so no scrape renders one of its own showing databases not
     * sampled yet. */
    struct expo *expo = expo_new(st, bi);
    if (expo != NULL && workers_start(&w) == 0 && expo_render(expo) == 0)
        http = http_start(w.cfg->listen_host, w.cfg->listen_port, st, bi, wc);
    if (http != NULL)
        http_set_expo(http, expo);
    if (http == NULL || expo_start(expo) != 0) {
        http_stop(http);
        expo_stop(expo);
        expo_free(expo);
        workers_stop(&w);
        workers_free(&w);
        source_free(&src);
        state_free(st);
        return EXIT_FAILURE;
    }
    log_config(w.cfg, "started");
    if (w.cfg->ndbs == 0 && w.cfg->nglobs == 0)
        log_warn("no [database:NAME] section: nothing to watch; add databases and reload", "config",
                 w.cfg->file, NULL);
    int64_t start_ms = clock_mono_ms();
    notify_ready(w.cfg->ndbs);
    for (;;) {
        sig = wait_signal(&sigs, &w, &src, st, start_ms);
        if (sig == SIGHUP) {
            notify_reloading();
            reload(&w, &src, st, config_path, http);
            notify_ready(w.cfg->ndbs);
            continue;
        }
        break;
    }
    notify_stopping();
    log_info("stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    http_stop(http);
    expo_stop(expo);
    expo_free(expo);
    workers_stop(&w);
    workers_free(&w);
    source_free(&src);
    state_free(st);
    return EXIT_SUCCESS;
}

/* The agent's own library may have the WAL-reset race; say why that is no risk here. */
static void check_own_sqlite(const struct config *cfg)
{
    uint32_t v = (uint32_t)sqlite3_libversion_number();

    if (sqlitever_wal_reset_race(v, cfg->patched, cfg->npatched))
        log_warn("the agent links an SQLite with the WAL-reset race; its own connections are "
                 "not exposed: they are read-only, never write and never checkpoint",
                 "sqlite_version", sqlite3_libversion(), NULL);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    int rc = parse_args(argc, argv, &o);

    if (rc != 0)
        return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
    struct config *cfg = config_load(o.config, stderr);
    struct webconfig *wc = NULL;
    if (cfg == NULL)
        return EXIT_USAGE;
    if (o.check_config && !evidence_config_ok(cfg)) {
        config_free(cfg);
        return EXIT_USAGE;
    }
    /* --once serves nothing: its web config is not needed, nor a reason to fail. */
    if (!o.once && load_web_config(cfg, &wc) != 0) {
        config_free(cfg);
        return EXIT_USAGE;
    }
    if (o.check_config) {
        printf("%s: ok, %zu database%s", cfg->file, cfg->ndbs, cfg->ndbs == 1 ? "" : "s");
        if (cfg->nglobs > 0) /* matched at start, not here: --check-config reads no database */
            printf(", %zu glob section%s", cfg->nglobs, cfg->nglobs == 1 ? "" : "s");
        printf("\n");
        if (wc != NULL)
            printf("%s: ok, %s, %zu user%s\n", wc->file, wc->tls ? "TLS" : "plain HTTP", wc->nusers,
                   wc->nusers == 1 ? "" : "s");
        webconfig_free(wc);
        config_free(cfg);
        return EXIT_SUCCESS;
    }
    log_set_level(cfg->log_level);
    /* The big blocks (a snapshot, the rendered text: megabytes at 10,000 databases) are made
     * and freed every few seconds on the render thread. glibc raises its mmap threshold to the
     * size of a freed mapped block, so after the first, they would come from that thread's arena
     * and stay resident; a fixed threshold keeps them mapped and returned when freed. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    log_set_format(cfg->log_format);
    check_own_sqlite(cfg);
    if (o.once)
        raise_fd_limit(cfg);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */

    const struct build_info bi = {SQLITE_AGENT_VERSION, sqlite3_libversion()};
    return o.once ? run_once(cfg, &bi) : run_daemon(cfg, wc, o.config, &bi);
}
