/*
 * main.c: wiring only. Parse the command line, load the config, start the sampler, the check
 * workers and the HTTP server, then wait for signals: SIGTERM/SIGINT stop, SIGHUP reloads.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alertpush.h"
#include "checker.h"
#include "clock.h"
#include "config.h"
#include "evidence.h"
#include "fdguard.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
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

/* Each database keeps up to three descriptors open (database, -wal, -shm), and each running
 * check a few more; the soft limit is often 1024, so raise it to the hard limit, and say so
 * when even that is short: running out looks like databases going down. */
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

/* The soft limit on descriptors up to the hard one (a database costs up to three, a check a
 * few more, an HTTP connection one): the first defence against running out, see http.c. */
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
    rlim_t need = 3 * (rlim_t)cfg->ndbs + 8 * (rlim_t)cfg->check_workers + 128;
    if (rl.rlim_cur < need) {
        char have[24], want[24];
        snprintf(have, sizeof(have), "%llu", (unsigned long long)rl.rlim_cur);
        snprintf(want, sizeof(want), "%llu", (unsigned long long)need);
        log_warn("the open-files limit is too low for this many databases; raise it "
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
    struct evidence *evidence;   /* NULL without evidence_dir */
};

static void workers_free(struct workers *w)
{
    alertpush_free(w->alertpush);
    evidence_free(w->evidence);
    checker_free(w->checker);
    /* After the checkers: the sampler and the watch close their descriptors, and no
     * connection is open. */
    walwatch_free(w->walwatch);
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
    w->guards = fdguard_set_new(cfg);
    if (w->guards == NULL) {
        workers_free(w);
        return -1;
    }
    w->sampler = sampler_new(cfg, st, w->guards);
    w->checker = checker_new(cfg, st, w->guards);
    /* A race signal wakes the checker for an integrity check at once (checkauto.h). */
    w->walwatch =
        w->checker ? walwatch_new(cfg, st, w->guards, checker_race_signal, w->checker) : NULL;
    instance_name(cfg, instance, sizeof(instance));
    w->alertpush = alertpush_new(cfg, st, instance);
    bool evidence_failed;
    w->evidence = evidence_new(cfg, st, w->guards, &evidence_failed);
    if (w->sampler == NULL || w->walwatch == NULL || w->checker == NULL ||
        (cfg->am.nurls > 0 && w->alertpush == NULL) || evidence_failed ||
        state_configure(st, cfg) != 0) {
        workers_free(w);
        return -1;
    }
    return 0;
}

static int workers_start(struct workers *w)
{
    if (sampler_start(w->sampler) != 0 || walwatch_start(w->walwatch) != 0 ||
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
    sampler_stop(w->sampler);
}

static void log_config(const struct config *cfg, const char *what)
{
    char n[24];

    snprintf(n, sizeof(n), "%zu", cfg->ndbs);
    log_info(what, "config", cfg->file, "databases", n, "listen", cfg->listen, NULL);
}

/* --once: one sample and one check of every database on this thread, metrics on stdout. */
static int run_once(struct config *cfg, const struct build_info *bi)
{
    struct state *st = state_new(clock_wall_ms());
    struct workers w;
    struct buf out;
    atomic_bool stop;
    int status = EXIT_HEALTHY;

    atomic_init(&stop, false);
    if (st == NULL || workers_init(&w, cfg, st) != 0) {
        state_free(st);
        return EXIT_USAGE;
    }
    sampler_run_pass(w.sampler);
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
static void reload(struct workers *w, struct state *st, const char *path, struct http *http)
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
    workers_stop(w);
    workers_free(w);
    if (workers_init(w, cfg, st) != 0 || workers_start(w) != 0) {
        log_error("out of memory or threads after reload", NULL);
        exit(EXIT_FAILURE);
    }
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

/* Waits for a signal; with the systemd watchdog on, wakes every ping interval to ping it while
 * sampling is alive. Returns the signal. */
static int wait_signal(const sigset_t *sigs, const struct workers *w, struct state *st,
                       int64_t start_ms)
{
    int64_t every = notify_watchdog_interval_ms();
    int sig;

    for (;;) {
        if (every <= 0) {
            if (sigwait(sigs, &sig) == 0)
                return sig;
            continue;
        }
        struct timespec ts = {every / 1000, (every % 1000) * 1000000};
        sig = sigtimedwait(sigs, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno != EAGAIN)
            continue;
        struct snapshot *snap = state_snapshot(st, clock_wall_ms());
        if (snap != NULL &&
            notify_sampling_alive(w->cfg->ndbs, snap->agent.last_sample_pass_end_ms, start_ms,
                                  clock_mono_ms(), max_sample_interval_ms(w->cfg)))
            notify_watchdog();
        else
            log_warn("sampling has stalled: not pinging the systemd watchdog", NULL);
        snapshot_free(snap);
    }
}

static int run_daemon(struct config *cfg, struct webconfig *wc, const char *config_path,
                      const struct build_info *bi)
{
    struct state *st = state_new(clock_wall_ms());
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

    if (st == NULL || workers_init(&w, cfg, st) != 0) {
        webconfig_free(wc);
        state_free(st);
        return EXIT_FAILURE;
    }
    http = http_start(w.cfg->listen_host, w.cfg->listen_port, st, bi, wc);
    if (http == NULL || workers_start(&w) != 0) {
        workers_stop(&w);
        workers_free(&w);
        http_stop(http);
        state_free(st);
        return EXIT_FAILURE;
    }
    log_config(w.cfg, "started");
    if (w.cfg->ndbs == 0)
        log_warn("no [database:NAME] section: nothing to watch; add databases and reload", "config",
                 w.cfg->file, NULL);
    int64_t start_ms = clock_mono_ms();
    notify_ready(w.cfg->ndbs);
    for (;;) {
        sig = wait_signal(&sigs, &w, st, start_ms);
        if (sig == SIGHUP) {
            notify_reloading();
            reload(&w, st, config_path, http);
            notify_ready(w.cfg->ndbs);
            continue;
        }
        break;
    }
    notify_stopping();
    log_info("stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    http_stop(http);
    workers_stop(&w);
    workers_free(&w);
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
        printf("%s: ok, %zu database%s\n", cfg->file, cfg->ndbs, cfg->ndbs == 1 ? "" : "s");
        if (wc != NULL)
            printf("%s: ok, %s, %zu user%s\n", wc->file, wc->tls ? "TLS" : "plain HTTP", wc->nusers,
                   wc->nusers == 1 ? "" : "s");
        webconfig_free(wc);
        config_free(cfg);
        return EXIT_SUCCESS;
    }
    log_set_level(cfg->log_level);
    log_set_format(cfg->log_format);
    check_own_sqlite(cfg);
    raise_fd_limit(cfg);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */

    const struct build_info bi = {SQLITE_AGENT_VERSION, sqlite3_libversion()};
    return o.once ? run_once(cfg, &bi) : run_daemon(cfg, wc, o.config, &bi);
}
