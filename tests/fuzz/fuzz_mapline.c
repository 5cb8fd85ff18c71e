/*
 * fuzz_mapline.c: libFuzzer target for the /proc/PID/maps line parser (procscan.c). The path
 * part of a line is a file name any local user chooses, newlines aside.
 *
 * Checks the contract of procscan.h: an accepted line's range and path lie inside the input,
 * in that order, and the range is "hex-hex".
 *
 * Seed: lines of any /proc/self/maps.
 */
#include "procscan.h"

#include <stdint.h>
#include <stdlib.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

static int inside(const uint8_t *data, size_t size, const unsigned char *p, size_t n)
{
    return p >= data && n <= size && (size_t)(p - data) <= size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procscan_mapline m;

    if (procscan_parse_mapline(data, size, &m) != PROCSCAN_MAPLINE_OK)
        return 0;
    check(inside(data, size, m.range, m.range_len));
    check(m.range_len >= 3 && m.range == data);
    check(inside(data, size, m.path, m.path_len));
    check(m.path >= m.range + m.range_len);
    check(m.path + m.path_len == data + size);
    return 0;
}
