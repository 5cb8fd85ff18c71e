/* procwatch.c: the /proc scan and the risk verdict, reading the snapshot; see procwatch.h. */
#include "procwatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "procscan.h"
#include "risk.h"
#include "ticker.h"

struct procwatch {
    const struct config *cfg;
    struct state *state;
    struct procscan *ps;             /* NULL when it could not be set up */
    struct procscan_target *targets; /* 2 per database: the file, its -wal */
    struct procscan_result *results;
    struct sample *samples; /* the last sample of each database, copied from the state */
    size_t n;               /* databases the arrays are sized for */
    uint64_t passes;        /* sample passes seen at the last scan */
    struct ticker ticker;
};

static int64_t procwatch_tick(void *arg);

struct procwatch *procwatch_new(const struct config *cfg, struct state *st)
{
    struct procwatch *pw = calloc(1, sizeof(*pw));
    size_t n = cfg->ndbs ? cfg->ndbs : 1;

    if (pw == NULL)
        return NULL;
    pw->cfg = cfg;
    pw->state = st;
    pw->n = cfg->ndbs;
    ticker_init(&pw->ticker, "procscan", procwatch_tick, pw);
    pw->targets = calloc(2 * n, sizeof(*pw->targets));
    pw->results = calloc(2 * n, sizeof(*pw->results));
    pw->samples = calloc(n, sizeof(*pw->samples));
    if (pw->targets == NULL || pw->results == NULL || pw->samples == NULL) {
        procwatch_free(pw);
        return NULL;
    }
    pw->ps = procscan_new(0);
    if (pw->ps == NULL)
        log_warn("cannot set up the /proc scan; risk factors from processes are not reported",
                 NULL);
    return pw;
}

void procwatch_free(struct procwatch *pw)
{
    if (pw == NULL)
        return;
    ticker_destroy(&pw->ticker);
    procscan_free(pw->ps);
    free(pw->targets);
    free(pw->results);
    free(pw->samples);
    free(pw);
}

/* Where the scan looks: the inodes the last sample opened (0: absent, skipped). */
static void set_targets(struct procwatch *pw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sample *s = &pw->samples[i];
        pw->targets[2 * i] =
            (struct procscan_target){s->db_seen ? s->db_dev : 0, s->db_seen ? s->db_ino : 0};
        pw->targets[2 * i + 1] =
            (struct procscan_target){s->wal_seen ? s->wal_dev : 0, s->wal_seen ? s->wal_ino : 0};
    }
}

/* Risk from each database's last sample and what the scan saw of it (nothing: not scanned). */
static void put_risks(struct procwatch *pw, size_t n, bool scanned)
{
    for (size_t i = 0; i < n; i++) {
        struct proc_usage u = {0};
        struct risk r;
        if (scanned) {
            u.scanned = true;
            u.db = pw->results[2 * i];
            u.wal = pw->results[2 * i + 1];
        }
        risk_assess(&pw->samples[i], &u, pw->cfg->patched, pw->cfg->npatched, &r);
        state_put_risk(pw->state, i, &u, &r);
    }
}

void procwatch_run_pass(struct procwatch *pw)
{
    struct procscan_stats stats;
    double t0 = clock_mono_s();
    bool scanned = false;

    /* Passes first: a pass that ends while the samples are copied is scanned next time. */
    pw->passes = state_sample_passes(pw->state);
    /* The state's list is the configuration's (state_configure runs with no worker). */
    size_t n = state_copy_samples(pw->state, pw->samples, pw->n);
    if (pw->ps != NULL) {
        set_targets(pw, n);
        scanned = procscan_set_targets(pw->ps, pw->targets, 2 * n) == 0 &&
                  procscan_run(pw->ps, pw->results, &stats) == 0;
        if (!scanned)
            log_warn("the /proc scan failed", "error", strerror(errno), NULL);
    }
    put_risks(pw, n, scanned);
    if (scanned)
        state_proc_scan_done(pw->state, clock_mono_s() - t0, &stats);
}

/* After a sampling pass, at most once per [agent] sample_interval, as the sampler did. */
static int64_t procwatch_tick(void *arg)
{
    struct procwatch *pw = arg;

    if (state_sample_passes(pw->state) == pw->passes)
        return 100; /* look again soon: the first pass, or a sampler behind */
    procwatch_run_pass(pw);
    return pw->cfg->sample_interval_ms;
}

int procwatch_start(struct procwatch *pw)
{
    return ticker_start(&pw->ticker);
}

void procwatch_stop(struct procwatch *pw)
{
    if (pw != NULL)
        ticker_stop(&pw->ticker);
}
