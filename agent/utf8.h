/*
 * utf8.h: well-formed UTF-8, for the writers that must emit only valid UTF-8 (JSON bodies for
 * Alertmanager, JSON log lines) from names and paths that may hold any bytes.
 */
#ifndef SQLITE_AGENT_UTF8_H
#define SQLITE_AGENT_UTF8_H

#include <stddef.h>

/* What stands in for a byte that starts no well-formed sequence: U+FFFD REPLACEMENT CHARACTER,
 * encoded (Unicode 15, 3.9 "U+FFFD Substitution of Maximal Subparts" is the model; here each
 * bad byte is replaced on its own, which is also allowed and simpler). */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#define UTF8_REPLACEMENT_LEN 3

/* Length (1 to 4) of the well-formed UTF-8 sequence that starts at p, of the n bytes there, or
 * 0 when none starts there: a continuation byte, C0/C1 (overlong two-byte forms), E0 or F0
 * followed by an overlong form, ED followed by a surrogate, F4 past U+10FFFF, F5..FF, or a
 * sequence cut short by n (Unicode 15, 3.9, table 3-7). Pure; n == 0 gives 0. */
size_t utf8_seq_len(const unsigned char *p, size_t n);

#endif
