/*
 * fuzz_sqlitever.c: libFuzzer target for the SQLite version text parser (sqlitever_parse_n),
 * which reads strings found inside ELF objects that any local user can map.
 *
 * Checks the contract of sqlitever.h: an accepted text gives a version that formats and
 * parses back to itself.
 */
#include "sqlitever.h"

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
    uint32_t v = 0, again = 0;
    char text[SQLITEVER_TEXT_MAX + 8];

    if (!sqlitever_parse_n((const char *)data, size, &v))
        return 0;
    check(sqlitever_format(v, text, sizeof(text)) >= 0);
    check(memchr(text, '\0', sizeof(text)) != NULL);
    check(sqlitever_parse(text, &again));
    check(again == v);
    return 0;
}
