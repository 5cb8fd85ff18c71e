/*
 * test_sha256.c: the FIPS 180-4 / NIST CSRC example vectors ("abc", the 448-bit two-block
 * message, one million 'a'), the empty string, and lengths around the padding boundary
 * (55, 56, 63, 64 bytes) whose digests were taken from coreutils' sha256sum; each fed both
 * whole and one byte at a time, since the block buffering is where an implementation breaks.
 */
#include "sha256.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

struct vector {
    char fill;    /* 0: use text */
    size_t count; /* bytes of fill */
    const char *text;
    const char *hex;
};

static const struct vector vectors[] = {
    {0, 0, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {0, 0, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {0, 0, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {'a', 1000000, NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    {'a', 55, NULL, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {'a', 56, NULL, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {'a', 63, NULL, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
    {'a', 64, NULL, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

Test(sha256, vectors)
{
    for (size_t i = 0; i < NELEM(vectors); i++) {
        const struct vector *v = &vectors[i];
        size_t len = v->text ? strlen(v->text) : v->count;
        char *msg = malloc(len + 1);
        cr_assert_not_null(msg);
        if (v->text)
            memcpy(msg, v->text, len);
        else
            memset(msg, v->fill, len);
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct sha256 s;
            unsigned char d[SHA256_DIGEST_SIZE];
            char hex[SHA256_HEX_SIZE];
            sha256_init(&s);
            if (bytewise)
                for (size_t j = 0; j < len; j++)
                    sha256_update(&s, msg + j, 1);
            else
                sha256_update(&s, msg, len);
            sha256_final(&s, d);
            sha256_hex(d, hex);
            cr_expect_str_eq(hex, v->hex, "vector %zu (%s)", i, bytewise ? "bytewise" : "whole");
        }
        free(msg);
    }
}
