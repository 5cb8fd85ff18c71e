/* expo.c: the exposition rendered once per change; see expo.h. */
#include "expo.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "ticker.h"

struct expo {
    struct state *state;
    const struct build_info *bi;
    struct ticker ticker;
    uint64_t generation;  /* of the last render */
    int64_t rendered_ms;  /* monotonic, of the last render; 0: none */
    double render_s;      /* how long it took */
    pthread_mutex_t lock; /* over gz, gzlen and textlen, held for copies */
    void *gz;
    size_t gzlen;
    size_t textlen;
};

static int64_t expo_tick(void *arg);

struct expo *expo_new(struct state *st, const struct build_info *bi)
{
    struct expo *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->state = st;
    e->bi = bi;
    pthread_mutex_init(&e->lock, NULL);
    ticker_init(&e->ticker, "render", expo_tick, e);
    return e;
}

void expo_free(struct expo *e)
{
    if (e == NULL)
        return;
    ticker_destroy(&e->ticker);
    pthread_mutex_destroy(&e->lock);
    free(e->gz);
    free(e);
}

int expo_start(struct expo *e)
{
    return ticker_start(&e->ticker);
}

void expo_stop(struct expo *e)
{
    if (e != NULL)
        ticker_stop(&e->ticker);
}

/* gzip (RFC 1952) of in, in a malloc'ed block. NULL on failure. Level 1: the text is
 * repetitive, and level 1 gets most of the ratio for a fraction of the time. */
static void *gzip_text(const char *in, size_t len, size_t *outlen)
{
    z_stream zs;
    void *out = NULL;

    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: a gzip wrapper instead of zlib's. */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, len);
    out = malloc(cap);
    if (out == NULL)
        goto out;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        free(out);
        out = NULL;
        goto out;
    }
    *outlen = zs.total_out;
out:
    deflateEnd(&zs);
    return out;
}

/* The text back from gz, into a malloc'ed block of exactly textlen bytes. NULL on failure. */
static void *gunzip_text(const void *gz, size_t gzlen, size_t textlen)
{
    z_stream zs;
    void *out = malloc(textlen ? textlen : 1);

    if (out == NULL)
        return NULL;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        free(out);
        return NULL;
    }
    zs.next_in = (Bytef *)gz;
    zs.avail_in = (uInt)gzlen;
    zs.next_out = out;
    zs.avail_out = (uInt)textlen;
    int rc = inflate(&zs, Z_FINISH);
    bool ok = rc == Z_STREAM_END && zs.total_out == textlen;
    inflateEnd(&zs);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

int expo_render(struct expo *e)
{
    double t0 = clock_mono_s();
    uint64_t gen = state_generation(e->state);
    struct snapshot *snap = state_snapshot(e->state, clock_wall_ms());
    struct buf text;
    void *gz = NULL;
    size_t gzlen = 0;
    int rc = -1;

    buf_init(&text, EXPO_BODY_MAX);
    /* The last text's size and an eighth (the first time, 1 KB a database): a render of 10,000
     * databases (9 MB) allocates its buffer once instead of doubling through copies, which
     * would hold both halves at once. */
    size_t guess = e->textlen + e->textlen / 8;
    if (guess == 0 && snap != NULL)
        guess = (snap->ndbs + 64) * 1024;
    if (buf_reserve(&text, guess < EXPO_BODY_MAX ? guess : EXPO_BODY_MAX) != 0)
        goto out;
    if (snap == NULL || metrics_render(snap, e->bi, snap->taken_ms, &text) != 0) {
        log_error("cannot render metrics", NULL);
        goto out;
    }
    snapshot_free(snap);
    snap = NULL;
    gz = gzip_text(text.data ? text.data : "", text.len, &gzlen);
    if (gz == NULL)
        goto out;
    pthread_mutex_lock(&e->lock);
    void *old = e->gz;
    e->gz = gz;
    e->gzlen = gzlen;
    e->textlen = text.len;
    pthread_mutex_unlock(&e->lock);
    free(old);
    e->generation = gen;
    e->rendered_ms = clock_mono_ms();
    e->render_s = clock_mono_s() - t0;
    state_render_done(e->state, e->render_s);
    rc = 0;
out:
    snapshot_free(snap);
    buf_free(&text);
    return rc;
}

/* Renders when due (expo.h), and says when to look again. */
static int64_t expo_tick(void *arg)
{
    struct expo *e = arg;
    int64_t now = clock_mono_ms();
    int64_t gap = (int64_t)(10 * 1000 * e->render_s);
    int64_t min = gap > EXPO_MIN_INTERVAL_MS ? gap : EXPO_MIN_INTERVAL_MS;
    int64_t age = now - e->rendered_ms;

    if (e->rendered_ms == 0 || age >= EXPO_MAX_AGE_MS ||
        (age >= min && state_generation(e->state) != e->generation))
        expo_render(e);
    return EXPO_POLL_MS;
}

int expo_copy(struct expo *e, bool gzip, void **data, size_t *len)
{
    void *gz = NULL;
    size_t gzlen = 0, textlen = 0;

    pthread_mutex_lock(&e->lock);
    if (e->gz != NULL && (gz = malloc(e->gzlen ? e->gzlen : 1)) != NULL) {
        memcpy(gz, e->gz, e->gzlen);
        gzlen = e->gzlen;
        textlen = e->textlen;
    }
    pthread_mutex_unlock(&e->lock);
    if (gz == NULL)
        return -1;
    if (gzip) {
        *data = gz;
        *len = gzlen;
        return 0;
    }
    /* Inflated outside the lock: a plain scrape does not hold up the next render. */
    void *text = gunzip_text(gz, gzlen, textlen);
    free(gz);
    if (text == NULL)
        return -1;
    *data = text;
    *len = textlen;
    return 0;
}
