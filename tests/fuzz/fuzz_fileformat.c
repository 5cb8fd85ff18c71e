/*
 * fuzz_fileformat.c: libFuzzer target for the three header parsers.
 *
 * Every input goes to all three parsers, so a seed that is the start of a real database,
 * -wal or -shm file reaches the deep (checksum-verified) paths of its own parser. Beyond "no
 * crash, no sanitizer report", it checks the contract of fileformat.h and aborts on a breach:
 * any length yields a known result, short input is FF_TRUNCATED, an accepted header has a
 * page size SQLite would accept, and a rejected db header / wal-index leaves *out zeroed.
 *
 * Build and run (clang with libclang-rt-14-dev):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iagent agent/fileformat.c \
 *       tests/fuzz/fuzz_fileformat.c -o fuzz_fileformat
 *   ./fuzz_fileformat -max_total_time=60 corpus/
 */
#include "fileformat.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

static int page_size_ok(uint32_t ps)
{
    return ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static int known(enum ff_result r)
{
    return strcmp(fileformat_result_str(r), "unknown") != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ff_db_header h;
    struct ff_wal_header w;
    struct ff_walindex wi;
    enum ff_result r;

    r = fileformat_parse_db_header(data, size, &h);
    check(known(r));
    check((size < FF_DB_HEADER_SIZE) == (r == FF_TRUNCATED));
    if (r == FF_OK) {
        check(page_size_ok(h.page_size));
        check(h.version_valid == (h.version_valid_for == h.change_counter));
        (void)fileformat_db_pages(&h, (uint64_t)size * 1000u);
    } else {
        check(all_zero(&h, sizeof(h)));
    }

    r = fileformat_parse_wal_header(data, size, &w);
    check(known(r));
    check((size < FF_WAL_HEADER_SIZE) == (r == FF_TRUNCATED));
    if (r == FF_OK) {
        check(page_size_ok(w.page_size));
        check(w.checksum_valid);
        check(w.magic == FF_WAL_MAGIC_LE || w.magic == FF_WAL_MAGIC_BE);
    }
    if (r == FF_BAD_CHECKSUM)
        check(!w.checksum_valid);

    r = fileformat_parse_walindex(data, size, &wi);
    check(known(r));
    check((size < FF_WALINDEX_READ_SIZE) == (r == FF_TRUNCATED));
    if (r == FF_OK) {
        check(wi.version == 3007000u);
        /* walIndexTryHdr does not validate szPage; the decode can only give these forms. */
        check((wi.page_size & 0x1ffu) == 0 && wi.page_size <= 0x1fe00u);
    } else {
        check(all_zero(&wi, sizeof(wi)));
    }
    return 0;
}
