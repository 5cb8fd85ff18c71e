/*
 * fuzz_http.c: libFuzzer target for the one parser of request bytes in http.c, the
 * Accept-Encoding value (http_accepts_gzip): any client sends it.
 *
 * Checks, beyond "no crash": the answer does not depend on bytes after the first NUL (the value
 * reaches the parser as a C string from libmicrohttpd), and a value with no "gzip" or "*" in it,
 * in any case, is never taken for gzip.
 */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUZZ_HEADER_MAX 8192 /* libmicrohttpd's default memory pool is 32 KiB per connection */

static void check(int cond)
{
    if (!cond)
        abort();
}

static int mentions_gzip(const char *s)
{
    for (; *s; s++)
        if (*s == '*' || strncasecmp(s, "gzip", 4) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char value[FUZZ_HEADER_MAX + 1];

    if (size > FUZZ_HEADER_MAX)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    bool yes = http_accepts_gzip(value);
    if (yes)
        check(mentions_gzip(value));
    check(!http_accepts_gzip(NULL));
    return 0;
}
