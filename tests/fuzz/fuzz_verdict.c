/*
 * fuzz_verdict.c: libFuzzer target for verdict_schema_unsupported, which reads SQLite's
 * "malformed database schema (NAME) - ..." message, NAME coming from the file itself.
 *
 * Beyond "no crash, no sanitizer report": a message is unsupported-schema only when it starts
 * with SQLite's prefix and the code is SQLITE_CORRUPT, and the verdict for a non-CORRUPT code
 * is never error-for-a-newer-schema.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iagent $(pkg-config --cflags sqlite3) \
 *       agent/verdict.c tests/fuzz/fuzz_verdict.c -o fuzz_verdict
 *   ./fuzz_verdict -max_total_time=60
 */
#include "verdict.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MSG_MAX 4096

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char msg[FUZZ_MSG_MAX + 1];
    static const char prefix[] = "malformed database schema (";

    if (size > FUZZ_MSG_MAX)
        return 0;
    memcpy(msg, data, size);
    msg[size] = '\0';
    bool u = verdict_schema_unsupported(SQLITE_CORRUPT, msg);
    if (u && strncmp(msg, prefix, sizeof(prefix) - 1) != 0)
        abort();
    if (verdict_schema_unsupported(SQLITE_ERROR, msg))
        abort();
    struct verdict_facts f = {.rc = SQLITE_CORRUPT, .errmsg = msg};
    struct verdict v;
    verdict_decide(&f, &v);
    if (v.result != (u ? CHECK_RESULT_ERROR : CHECK_RESULT_MALFORMED))
        abort();
    return 0;
}
