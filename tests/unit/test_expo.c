/*
 * test_expo.c: the exposition rendered once and served as copies: the gzip copy inflates to
 * the plain one, nothing is served before the first render, and a render after a change shows
 * the change.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "config.h"
#include "expo.h"
#include "state.h"

static char *inflate_all(const void *gz, size_t len, size_t *outlen)
{
    size_t cap = 16u << 20;
    char *out = malloc(cap);
    z_stream zs;

    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)gz;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = zs.total_out;
    inflateEnd(&zs);
    return out;
}

Test(expo, copies)
{
    static const struct build_info bi = {"test", "3.40.1"};
    struct config *cfg = config_load_string("[database:a]\npath = /nonexistent/a.db\n", "t", NULL);
    struct state *st = state_new(1000);
    struct expo *e = expo_new(st, &bi);
    void *plain, *gz;
    size_t plen, glen, ilen;

    cr_assert(cfg && st && e);
    cr_assert_eq(state_configure(st, cfg), 0);
    cr_expect_eq(expo_copy(e, true, &gz, &glen), -1, "nothing before the first render");
    cr_assert_eq(expo_render(e), 0);
    cr_assert_eq(expo_copy(e, false, &plain, &plen), 0);
    cr_assert_eq(expo_copy(e, true, &gz, &glen), 0);
    cr_expect_lt(glen, plen);
    char *inflated = inflate_all(gz, glen, &ilen);
    cr_expect_eq(ilen, plen);
    cr_expect_eq(memcmp(inflated, plain, plen), 0, "the gzip copy is the plain text");
    cr_expect_not_null(memmem(plain, plen, "sqlite_agent_sample_passes_total 0\n", 35));
    free(inflated);
    free(plain);
    free(gz);

    /* A change shows after the next render, not before. */
    state_sample_pass_done(st, 0.001);
    cr_assert_eq(expo_copy(e, false, &plain, &plen), 0);
    cr_expect_not_null(memmem(plain, plen, "sqlite_agent_sample_passes_total 0\n", 35));
    free(plain);
    cr_assert_eq(expo_render(e), 0);
    cr_assert_eq(expo_copy(e, false, &plain, &plen), 0);
    cr_expect_not_null(memmem(plain, plen, "sqlite_agent_sample_passes_total 1\n", 35));
    free(plain);

    expo_free(e);
    state_free(st);
    config_free(cfg);
}

/* A fleet's text is gzipped as it is written, in many pieces (expo.c: EXPO_TEXT_CHUNK): the
 * gzip still inflates to what one render into one buffer gives. */
Test(expo, streamed_gzip_is_the_whole_text)
{
    static const struct build_info bi = {"test", "3.40.1"};
    enum { NDBS = 3000 };
    struct buf ini, whole;
    void *gz;
    size_t glen, ilen;

    buf_init(&ini, 1u << 24);
    for (int i = 0; i < NDBS; i++)
        buf_printf(&ini, "[database:tenant%04d]\npath = /nonexistent/t%04d/app.sqlite3\n", i, i);
    cr_assert(!ini.failed);
    struct config *cfg = config_load_string(ini.data, "t", NULL);
    struct state *st = state_new(1000);
    struct expo *e = expo_new(st, &bi);
    cr_assert(cfg && st && e);
    cr_assert_eq(state_configure(st, cfg), 0);
    cr_assert_eq(expo_render(e), 0);
    cr_assert_eq(expo_copy(e, true, &gz, &glen), 0);
    char *inflated = inflate_all(gz, glen, &ilen);

    struct snapshot *snap = state_snapshot(st, 0);
    buf_init(&whole, EXPO_BODY_MAX);
    cr_assert_eq(metrics_render(snap, &bi, 0, &whole), 0);
    cr_expect_gt(whole.len, 4 * (256u << 10), "the text spans several pieces");
    cr_expect_eq(ilen, whole.len);
    cr_expect(ilen == whole.len && memcmp(inflated, whole.data, ilen) == 0,
              "the streamed gzip is the text");
    buf_free(&whole);
    snapshot_free(snap);
    free(inflated);
    free(gz);
    buf_free(&ini);
    expo_free(e);
    state_free(st);
    config_free(cfg);
}
