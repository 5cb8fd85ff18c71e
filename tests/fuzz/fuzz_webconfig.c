/*
 * fuzz_webconfig.c: libFuzzer target for webconfig_parse(), the YAML web configuration.
 *
 * Beyond "no crash, no sanitizer report", it checks what webconfig.h promises of an accepted
 * file: users hold bcrypt hashes, TLS has both files, versions are ordered, the priority string
 * is terminated.
 *
 *   cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_C_COMPILER=clang && cmake --build build-fuzz \
 *       --target fuzz_webconfig && build-fuzz/fuzz_webconfig -max_total_time=60 corpus/
 */
#include "webconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct webconfig *wc = webconfig_parse(data, size, "fuzz.yml", NULL);

    if (wc == NULL)
        return 0;
    for (size_t i = 0; i < wc->nusers; i++)
        check(webconfig_is_bcrypt(wc->users[i].hash, strlen(wc->users[i].hash)));
    check(wc->tls == (wc->cert_file != NULL && wc->key_file != NULL));
    check(wc->min_version <= wc->max_version);
    check(memchr(wc->priorities, '\0', sizeof(wc->priorities)) != NULL);
    check(wc->nheaders <= WEBCONFIG_HEADERS_MAX);
    webconfig_free(wc);
    return 0;
}
