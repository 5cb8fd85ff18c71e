/*
 * sha256.h: SHA-256 (FIPS 180-4), for the evidence copy's manifest. Pure: no I/O, no
 * allocation. Nothing the agent links provides it (libsqlite3, libcurl, zlib, libmicrohttpd
 * export no hash API), and 100 lines are cheaper than a new library.
 */
#ifndef SQLITE_AGENT_SHA256_H
#define SQLITE_AGENT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE (2 * SHA256_DIGEST_SIZE + 1)

struct sha256 {
    uint32_t h[8];
    uint64_t bytes; /* message length so far */
    unsigned char block[64];
    size_t used; /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char digest[SHA256_DIGEST_SIZE]);
/* Lower-case hex of digest, NUL-terminated. */
void sha256_hex(const unsigned char digest[SHA256_DIGEST_SIZE], char out[SHA256_HEX_SIZE]);

#endif
