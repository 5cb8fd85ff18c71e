/*
 * patchver.c: copies a file, replacing every stored SQLite version string FROM with TO (same
 * length), for the elfver tests: "a library that says it is 3.51.3".
 *
 *   patchver IN OUT FROM TO
 *
 * A match is FROM followed by its NUL and not preceded by a printable byte, the way
 * sqlite3_version[] sits in read-only data. Exits 1 when nothing matched.
 */
#define _POSIX_C_SOURCE 200809L /* fileno() under -std=c11 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    size_t flen, len, i, hits = 0;
    unsigned char *b = NULL;
    struct stat st;
    FILE *f;
    int rc = 1;

    if (argc != 5 || strlen(argv[3]) != strlen(argv[4])) {
        fprintf(stderr, "usage: patchver IN OUT FROM TO (FROM and TO of equal length)\n");
        return 2;
    }
    flen = strlen(argv[3]) + 1; /* with the NUL */
    f = fopen(argv[1], "rb");
    if (!f || fstat(fileno(f), &st) != 0 || st.st_size <= 0)
        goto out;
    len = (size_t)st.st_size;
    b = malloc(len);
    if (!b || fread(b, 1, len, f) != len)
        goto out;
    fclose(f);
    f = NULL;
    for (i = 0; i + flen <= len; i++) {
        if (memcmp(b + i, argv[3], flen) != 0)
            continue;
        if (i > 0 && b[i - 1] >= 0x20 && b[i - 1] < 0x7f)
            continue;
        memcpy(b + i, argv[4], flen);
        hits++;
    }
    if (hits == 0) {
        fprintf(stderr, "patchver: %s not found in %s\n", argv[3], argv[1]);
        goto out;
    }
    f = fopen(argv[2], "wb");
    if (!f || fwrite(b, 1, len, f) != len || fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    if (chmod(argv[2], st.st_mode & 07777) != 0)
        goto out;
    rc = 0;
out:
    if (f)
        fclose(f);
    free(b);
    return rc;
}
