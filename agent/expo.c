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

/*
 * The text is gzipped (RFC 1952) as metrics.c writes it: the render's text buffer streams into
 * deflate a chunk at a time, so a render of 10,000 databases holds its snapshot and the gzip,
 * not 9 MB of text besides (issue 10: the memory target). Level 1: the text is repetitive, and
 * level 1 gets most of the ratio for a fraction of the time.
 */
#define EXPO_TEXT_CHUNK (256u << 10) /* text handed to deflate at a time */
#define EXPO_GZ_STEP (16u << 10)     /* deflate's output, appended to the gzip at a time */

struct gz_stream {
    z_stream zs;
    struct buf gz; /* the gzip so far */
};

static int gz_stream_init(struct gz_stream *g, size_t guess)
{
    memset(&g->zs, 0, sizeof(g->zs));
    buf_init(&g->gz, EXPO_BODY_MAX);
    /* 15 + 16: a gzip wrapper instead of zlib's. */
    if (deflateInit2(&g->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    /* The last gzip's size: grown once, not by doubling through copies. */
    return buf_reserve(&g->gz, guess < EXPO_BODY_MAX ? guess : EXPO_BODY_MAX);
}

/* Deflates p[0..n) with flush (Z_NO_FLUSH, or Z_FINISH at the end) into g->gz. 0, or -1. */
static int gz_stream_put(struct gz_stream *g, const void *p, size_t n, int flush)
{
    unsigned char out[EXPO_GZ_STEP];
    int rc;

    g->zs.next_in = (Bytef *)p;
    g->zs.avail_in = (uInt)n;
    do {
        g->zs.next_out = out;
        g->zs.avail_out = sizeof(out);
        rc = deflate(&g->zs, flush);
        if (rc == Z_STREAM_ERROR || buf_append(&g->gz, out, sizeof(out) - g->zs.avail_out) != 0)
            return -1;
    } while (g->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return g->zs.avail_in == 0 ? 0 : -1;
}

/* The text buffer's sink (buf_set_sink). */
static int gz_stream_sink(void *arg, const void *p, size_t n)
{
    return gz_stream_put(arg, p, n, Z_NO_FLUSH);
}

static void gz_stream_end(struct gz_stream *g)
{
    deflateEnd(&g->zs);
    buf_free(&g->gz);
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
    struct gz_stream gzs;
    struct buf text;
    int rc = -1;

    buf_init(&text, EXPO_BODY_MAX);
    buf_set_sink(&text, EXPO_TEXT_CHUNK, gz_stream_sink, &gzs);
    if (gz_stream_init(&gzs, e->gzlen + e->gzlen / 8) != 0)
        goto out;
    if (snap == NULL || metrics_render(snap, e->bi, snap->taken_ms, &text) != 0 ||
        buf_drain(&text) != 0) {
        log_error("cannot render metrics", NULL);
        goto out;
    }
    snapshot_free(snap);
    snap = NULL;
    if (gz_stream_put(&gzs, "", 0, Z_FINISH) != 0)
        goto out;
    pthread_mutex_lock(&e->lock);
    void *old = e->gz;
    e->gz = gzs.gz.data; /* taken from the buffer: gz_stream_end leaves it */
    e->gzlen = gzs.gz.len;
    e->textlen = text.drained;
    pthread_mutex_unlock(&e->lock);
    gzs.gz.data = NULL;
    free(old);
    e->generation = gen;
    e->rendered_ms = clock_mono_ms();
    e->render_s = clock_mono_s() - t0;
    state_render_done(e->state, e->render_s);
    rc = 0;
out:
    snapshot_free(snap);
    buf_free(&text);
    gz_stream_end(&gzs);
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
