/*
 * test_expo.c: the exposition rendered once and served as copies: the gzip copy inflates to
 * the plain one, nothing is served before the first render, and a render after a change shows
 * the change.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "config.h"
#include "expo.h"
#include "state.h"

static char *inflate_all(const void *gz, size_t len, size_t *outlen)
{
    size_t cap = 1u << 20;
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
