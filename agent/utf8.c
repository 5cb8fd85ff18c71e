/*
 * utf8.c: one well-formed UTF-8 sequence, by Unicode 15, 3.9, table 3-7:
 *
 *   U+0000..U+007F     00..7F
 *   U+0080..U+07FF     C2..DF  80..BF
 *   U+0800..U+0FFF     E0      A0..BF  80..BF
 *   U+1000..U+CFFF     E1..EC  80..BF  80..BF
 *   U+D000..U+D7FF     ED      80..9F  80..BF
 *   U+E000..U+FFFF     EE..EF  80..BF  80..BF
 *   U+10000..U+3FFFF   F0      90..BF  80..BF  80..BF
 *   U+40000..U+FFFFF   F1..F3  80..BF  80..BF  80..BF
 *   U+100000..U+10FFFF F4      80..8F  80..BF  80..BF
 *
 * The second byte's range depends on the first; every later byte is 80..BF.
 */
#include "utf8.h"

static int is_cont(unsigned char c)
{
    return c >= 0x80 && c <= 0xBF;
}

/* Sequence length announced by the first byte and the range of the second; 0 if b0 starts
 * none. */
static size_t lead(unsigned char b0, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b0 < 0x80)
        return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF)
        return 2;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (b0 == 0xE0)
            *lo = 0xA0;
        else if (b0 == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (b0 == 0xF0)
            *lo = 0x90;
        else if (b0 == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char lo, hi;

    if (n == 0)
        return 0;
    size_t len = lead(p[0], &lo, &hi);
    if (len == 0 || len > n)
        return 0;
    if (len >= 2 && (p[1] < lo || p[1] > hi))
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!is_cont(p[i]))
            return 0;
    return len;
}
