/*
 * fuzz_walframe.c: libFuzzer target for the WAL frame parser and the checkpoint audit.
 *
 * The input is a -wal file: its first 32 bytes give the chain (parsed as a WAL header when
 * they are one, else page size and salts taken from the bytes as they are), and every frame
 * slot after them goes through fileformat_parse_wal_frame, with the contract of fileformat.h
 * checked: any length gives a known result, short input is FF_TRUNCATED, the chain moves on
 * FF_OK only. Then the same bytes are the -wal, the database file and the -shm of one
 * ckaudit_step, with a wal-index header whose fields come from the input too (so the audit's
 * deep paths are reached without a valid wal-index checksum): garbage must give an outcome,
 * never a crash, a read out of bounds or a finding count above the pages judged.
 *
 * Build and run (clang with libclang-rt-14-dev):
 *   cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_C_COMPILER=clang -DBUILD_TESTING=OFF
 *   cmake --build build-fuzz --target fuzz_walframe
 *   ./build-fuzz/fuzz_walframe -max_total_time=60
 */
#include "ckaudit.h"
#include "fileformat.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

static uint32_t rd4(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

struct input {
    const uint8_t *data;
    size_t size;
};

static ssize_t fuzz_read(void *arg, enum ckaudit_file f, unsigned char *buf, size_t len,
                         uint64_t off)
{
    const struct input *in = arg;
    /* Three views of one buffer: the database starts 512 bytes in, the -shm at the end. */
    uint64_t base = f == CKAUDIT_DB ? 512 : 0;
    uint64_t at = base + off;

    (void)f;
    if (at >= in->size)
        return 0;
    size_t n = in->size - at < len ? in->size - at : len;
    memcpy(buf, in->data + at, n);
    return (ssize_t)n;
}

static void frames(const uint8_t *data, size_t size)
{
    struct ff_wal_header h;
    struct ff_wal_chain c;

    if (size < FF_WAL_HEADER_SIZE)
        return;
    if (fileformat_parse_wal_header(data, size, &h) == FF_OK) {
        fileformat_wal_chain_init(&h, &c);
    } else {
        memset(&c, 0, sizeof(c));
        c.page_size = 512u << (data[8] % 8);
        c.salt1 = rd4(data + 16);
        c.salt2 = rd4(data + 20);
        c.big_endian_checksum = data[3] & 1;
    }
    for (uint32_t i = 1; i < 64; i++) {
        uint64_t off = fileformat_wal_frame_offset(c.page_size, i);
        if (off >= size)
            break;
        struct ff_wal_chain before = c;
        struct ff_wal_frame fr;
        size_t len = size - (size_t)off;
        enum ff_result r = fileformat_parse_wal_frame(data + off, len, &c, &fr);
        check(strcmp(fileformat_result_str(r), "unknown") != 0);
        check((len < FF_WAL_FRAME_HDR_SIZE + (size_t)c.page_size) == (r == FF_TRUNCATED));
        if (r != FF_OK)
            check(memcmp(&before, &c, sizeof(c)) == 0);
        else
            check(fr.pgno != 0 && fr.salt1 == c.salt1 && fr.salt2 == c.salt2);
    }
}

static void audit(const uint8_t *data, size_t size)
{
    static struct ckaudit *a;
    struct input in = {data, size};
    struct ckaudit_reader rd = {fuzz_read, &in};
    struct ff_walindex h;
    struct ckaudit_report rep;

    if (size < FF_WAL_HEADER_SIZE + 8)
        return;
    if (a == NULL)
        a = ckaudit_new();
    check(a != NULL);
    ckaudit_reset(a);
    memset(&h, 0, sizeof(h));
    h.version = 3007000u;
    h.page_size = rd4(data + 8);
    h.salt1 = rd4(data + 16);
    h.salt2 = rd4(data + 20);
    h.mx_frame = data[size - 1] % 64;
    h.n_backfill = data[size - 2] % 80;
    for (int round = 0; round < 2; round++) {
        (void)ckaudit_due(a, &h);
        ckaudit_step(a, &h, &rd, &rep);
        check(strcmp(ckaudit_outcome_str(rep.outcome), "unknown") != 0);
        check(rep.pages_lost <= rep.pages_checked);
        check(rep.nfindings <= CKAUDIT_FINDINGS_MAX && rep.nfindings <= rep.pages_lost);
        h.mx_frame += data[size - 3] % 8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frames(data, size);
    audit(data, size);
    return 0;
}
