/*
 * fuzz_elfver.c: libFuzzer target for the ELF reader (elfver_parse), which reads objects that
 * any local user can map into a process the agent inspects.
 *
 * Beyond "no crash, no sanitizer report, no timeout" (the parser promises work linear in len),
 * it checks the contract of elfver.h and aborts on a breach: a known result; a version and a
 * source only with ELFVER_FOUND, and then a version SQLite could have and its text terminated.
 *
 * Seeds: any ELF object, e.g. /usr/lib/x86_64-linux-gnu/libsqlite3.so.0 (bench/fuzz.sh and
 * scripts/test.sh copy it into the corpus).
 */
#include "elfver.h"

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
    struct elfver_info info;

    memset(&info, 0xa5, sizeof(info));
    enum elfver_result r = elfver_parse(data, size, &info);
    check(strcmp(elfver_result_str(r), "unknown") != 0);
    check(r != ELFVER_ERROR); /* only the file wrapper fails that way */
    if (r == ELFVER_FOUND) {
        check(info.version >= 3000000u && info.version < 4000000u);
        check(info.source != ELFVER_SRC_NONE);
        check(memchr(info.text, '\0', sizeof(info.text)) != NULL);
    } else {
        check(info.version == 0);
    }
    return 0;
}
