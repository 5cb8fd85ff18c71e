/*
 * test_elfver.c: the SQLite version inside ELF objects.
 *
 * 1. Synthetic objects built here byte by byte, in all four combinations of class (32/64-bit)
 *    and byte order, one per way of finding the version (section symbol table, PT_DYNAMIC
 *    with DT_HASH or DT_GNU_HASH, the source-id scan) and per way of not finding it (an
 *    undefined symbol, a stray "3.1.4", a source id too far away, a malformed source id).
 *    The writer follows the gABI layouts independently of the parser: its own offsets, its
 *    own hash functions.
 * 2. Real objects: Debian's libsqlite3.so.0 (and a copy without section headers), a helper
 *    linked with Debian's libsqlite3.a (with and without symbols, and patched to say 3.51.3),
 *    a helper and Python's _sqlite3 module that link the shared library (no version inside).
 *    The expected versions are what the library itself reports (sqlite3_libversion_number,
 *    SQLITE_VERSION_NUMBER), 3.40.1 on Debian 12.
 * 3. Robustness: every truncation of the synthetic objects and random truncations and byte
 *    flips of the real library, each in a buffer of exactly that size (so ASan sees any read
 *    past the end): never a crash, never a version out of nothing.
 * 4. The file wrapper's cache: hits, re-reads after a change, eviction, the size cap.
 * 5. The file wrapper reads in pieces (never a mapping): it must answer exactly as the parser
 *    does over the same bytes in memory, for every object above, for cuts of them, and for
 *    source ids and versions placed across the edges of its read chunks. And a 400 MB object
 *    that shrinks or is rewritten while being read gives an error, never SIGBUS.
 */
#include "elfver.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../helpers/helpers.h"

#define DEBIAN_LIB "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0"

/* ---- synthetic objects ------------------------------------------------------------------- */

enum {
    SYN_SECTIONS = 1 << 0,   /* section headers: .dynsym, .dynstr, .rodata */
    SYN_DYN_SYSV = 1 << 1,   /* PT_DYNAMIC with DT_HASH */
    SYN_DYN_GNU = 1 << 2,    /* PT_DYNAMIC with DT_GNU_HASH */
    SYN_DEFINED = 1 << 3,    /* sqlite3_version defined ("3.45.6"); else an undefined import */
    SYN_SRCID = 1 << 4,      /* a SHA3 source id and "3.44.2" 0x100 bytes after it */
    SYN_SRCID_ALT = 1 << 5,  /* ... whose hash ends in "alt1" */
    SYN_SRCID_SHA1 = 1 << 6, /* ... a 40-character (SHA1) hash instead */
    SYN_SRCID_BAD = 1 << 7,  /* ... a 63-character hash: not a source id */
    SYN_DECOY = 1 << 8,      /* a NUL-framed "3.1.4" in .rodata */
    SYN_FAR = 1 << 9,        /* the source id 70000 bytes past the version: out of reach */
    SYN_PRINTABLE = 1 << 10, /* the version preceded by 'v' ("v3.44.2") */
    SYN_TWO = 1 << 11,       /* a second source id with "3.38.5" next to it */
    SYN_REL = 1 << 12,       /* ET_REL (a .o): .symtab, values relative to the section */
};

#define SYN_SMALL 0x2000
#define SYN_BIG 0x18000 /* room for SYN_FAR */
#define OFF_PH 0x100
#define OFF_DYNSYM 0x200
#define OFF_DYNSTR 0x300
#define OFF_HASH 0x400
#define OFF_GNUHASH 0x480
#define OFF_DYNAMIC 0x800
#define OFF_SH 0x900
#define OFF_RODATA 0x1000
#define OFF_SYMSTR 0x1010 /* the symbol's "3.45.6" */
#define OFF_SRCID 0x1100
#define OFF_VERSION 0x1200 /* "3.44.2" */
#define OFF_DECOY 0x1300
#define OFF_SRCID2 0x1800
#define OFF_VERSION2 0x1900 /* "3.38.5" */

static const char dynstr[] = "\0other_symbol\0sqlite3_version\0last_symbol"; /* 42 bytes */
#define NAME_OTHER 1
#define NAME_SQLITE 14
#define NAME_LAST 30
#define VA 0x400000 /* load address of offset 0: addresses and offsets differ */
#define SYSV_NBUCKET 7
#define GNU_NBUCKETS 3

static const char srcid64[] =
    "2024-01-30 16:01:20 e876e51a0ed5c5b3126f52e532044363a014bc594cfefa87ffb5b82257cc467a";
static const char srcid_alt[] =
    "2022-12-28 14:03:47 df5c253c0b3dd24916e4ec7cf77d3db5294cc9fd45ae7b9c5e82ad8197f3alt1";
static const char srcid40[] = "2016-01-06 11:01:07 fd0a50f0797d154fefff724624f00548b5320566";
static const char srcid63[] =
    "2024-01-30 16:01:20 e876e51a0ed5c5b3126f52e532044363a014bc594cfefa87ffb5b82257cc467";

static void put(unsigned char *b, size_t off, uint64_t v, int width, bool big)
{
    int i;

    for (i = 0; i < width; i++) {
        int shift = big ? 8 * (width - 1 - i) : 8 * i;

        b[off + (size_t)i] = (unsigned char)(v >> shift);
    }
}

/* dl_new_hash as the GNU hash note gives it, and the gABI elf_hash. */
static uint32_t ref_gnu_hash(const char *s)
{
    uint32_t h = 5381;

    while (*s)
        h = (h << 5) + h + (unsigned char)*s++;
    return h;
}

static uint32_t ref_sysv_hash(const char *s)
{
    uint32_t h = 0, g;

    while (*s) {
        h = (h << 4) + (unsigned char)*s++;
        if ((g = h & 0xf0000000u) != 0)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

/* Writes a synthetic ET_DYN object of size len into b: one PT_LOAD maps the whole file at
 * VA, so every address below is VA + its file offset. */
static void build(unsigned char *b, size_t len, bool is64, bool big, unsigned f)
{
    int w = is64 ? 8 : 4; /* address-sized fields */
    size_t symsz = is64 ? 24 : 16, phsz = is64 ? 56 : 32, shsz = is64 ? 64 : 40;
    size_t dynsz = is64 ? 16 : 8, o, i;
    unsigned nph = (f & SYN_REL) ? 0 : (f & (SYN_DYN_SYSV | SYN_DYN_GNU)) ? 2 : 1;
    uint64_t base = (f & SYN_REL) ? OFF_RODATA : 0; /* symbol values: from .rodata in a .o */
    const char *id = (f & SYN_SRCID_ALT)    ? srcid_alt
                     : (f & SYN_SRCID_SHA1) ? srcid40
                     : (f & SYN_SRCID_BAD)  ? srcid63
                                            : srcid64;

    memset(b, 0, len);
    /* ELF header (gABI "ELF Header"). */
    memcpy(b, "\177ELF", 4);
    b[4] = is64 ? 2 : 1;
    b[5] = big ? 2 : 1;
    b[6] = 1;
    put(b, 16, (f & SYN_REL) ? 1 : 3, 2, big); /* ET_REL or ET_DYN */
    put(b, 18, is64 ? 62 : 3, 2, big);
    put(b, 20, 1, 4, big);
    put(b, is64 ? 32 : 28, OFF_PH, w, big);
    put(b, is64 ? 40 : 32, (f & SYN_SECTIONS) ? OFF_SH : 0, w, big);
    put(b, is64 ? 52 : 40, is64 ? 64 : 52, 2, big);
    put(b, is64 ? 54 : 42, phsz, 2, big);
    put(b, is64 ? 56 : 44, nph, 2, big);
    put(b, is64 ? 58 : 46, shsz, 2, big);
    put(b, is64 ? 60 : 48, (f & SYN_SECTIONS) ? 4 : 0, 2, big);

    /* Program headers: PT_LOAD (R) over everything, and PT_DYNAMIC. */
    for (i = 0; i < nph; i++) {
        uint64_t type = i == 0 ? 1 : 2, off = i == 0 ? 0 : OFF_DYNAMIC;
        uint64_t size = i == 0 ? len : 7 * dynsz;

        o = OFF_PH + i * phsz;
        put(b, o, type, 4, big);
        if (is64) {
            put(b, o + 4, 4, 4, big); /* PF_R */
            put(b, o + 8, off, 8, big);
            put(b, o + 16, VA + off, 8, big);
            put(b, o + 24, VA + off, 8, big);
            put(b, o + 32, size, 8, big);
            put(b, o + 40, size, 8, big);
        } else {
            put(b, o + 4, off, 4, big);
            put(b, o + 8, VA + off, 4, big);
            put(b, o + 12, VA + off, 4, big);
            put(b, o + 16, size, 4, big);
            put(b, o + 20, size, 4, big);
            put(b, o + 24, 4, 4, big);
        }
    }

    /* .dynsym: null, other_symbol, sqlite3_version, last_symbol. STB_GLOBAL|STT_OBJECT is
     * 0x11. */
    for (i = 1; i <= 3; i++) {
        bool def = i != 2 || (f & SYN_DEFINED);
        uint64_t name = i == 1 ? NAME_OTHER : i == 2 ? NAME_SQLITE : NAME_LAST;
        uint64_t value = !def ? 0 : VA + (i == 2 ? OFF_SYMSTR : OFF_RODATA + 8 * i);

        if (def && (f & SYN_REL))
            value = value - VA - base;
        uint64_t size = !def ? 0 : i == 2 ? 7 : 4, shndx = def ? 3 : 0;

        o = OFF_DYNSYM + i * symsz;
        put(b, o, name, 4, big);
        if (is64) {
            b[o + 4] = 0x11;
            put(b, o + 6, shndx, 2, big);
            put(b, o + 8, value, 8, big);
            put(b, o + 16, size, 8, big);
        } else {
            put(b, o + 4, value, 4, big);
            put(b, o + 8, size, 4, big);
            b[o + 12] = 0x11;
            put(b, o + 14, shndx, 2, big);
        }
    }
    memcpy(b + OFF_DYNSTR, dynstr, sizeof(dynstr));

    /* DT_HASH: nbucket 7, nchain 4. sqlite3_version's bucket starts the chain 3 -> 2 -> 0;
     * every other bucket holds only other_symbol (1 -> 0), so a wrong hash finds nothing. */
    put(b, OFF_HASH, SYSV_NBUCKET, 4, big);
    put(b, OFF_HASH + 4, 4, 4, big);
    for (i = 0; i < SYSV_NBUCKET; i++)
        put(b, OFF_HASH + 8 + 4 * i, i == ref_sysv_hash("sqlite3_version") % SYSV_NBUCKET ? 3 : 1,
            4, big);
    o = OFF_HASH + 8 + 4 * SYSV_NBUCKET; /* chain[nchain] */
    put(b, o + 4 * 1, 0, 4, big);
    put(b, o + 4 * 3, 2, 4, big);
    put(b, o + 4 * 2, 0, 4, big);

    /* DT_GNU_HASH: nbuckets 3, symoffset 1, bloom_size 1, bloom_shift 6, bloom[1] (all ones),
     * buckets[3]: sqlite3_version's bucket starts at symbol 2, the others at symbol 1.
     * chain[] (symbol - symoffset): other_symbol alone in its chain (low bit set: last);
     * sqlite3_version NOT last (low bit clear), followed by last_symbol (last). */
    put(b, OFF_GNUHASH, GNU_NBUCKETS, 4, big);
    put(b, OFF_GNUHASH + 4, 1, 4, big);
    put(b, OFF_GNUHASH + 8, 1, 4, big);
    put(b, OFF_GNUHASH + 12, 6, 4, big);
    put(b, OFF_GNUHASH + 16, UINT64_MAX, w, big);
    o = OFF_GNUHASH + 16 + (size_t)w;
    for (i = 0; i < GNU_NBUCKETS; i++)
        put(b, o + 4 * i, i == ref_gnu_hash("sqlite3_version") % GNU_NBUCKETS ? 2 : 1, 4, big);
    o += 4 * GNU_NBUCKETS;
    put(b, o, ref_gnu_hash("other_symbol") | 1u, 4, big);
    put(b, o + 4, ref_gnu_hash("sqlite3_version") & ~1u, 4, big);
    put(b, o + 8, ref_gnu_hash("last_symbol") | 1u, 4, big);

    /* .dynamic */
    if (f & (SYN_DYN_SYSV | SYN_DYN_GNU)) {
        const uint64_t tags[6][2] = {
            {(f & SYN_DYN_GNU) ? 0x6ffffef5u : 4u,
             VA + ((f & SYN_DYN_GNU) ? OFF_GNUHASH : OFF_HASH)},
            {6, VA + OFF_DYNSYM}, /* DT_SYMTAB */
            {5, VA + OFF_DYNSTR}, /* DT_STRTAB */
            {10, sizeof(dynstr)}, /* DT_STRSZ */
            {11, symsz},          /* DT_SYMENT */
            {0, 0},               /* DT_NULL */
        };

        for (i = 0; i < 6; i++) {
            put(b, OFF_DYNAMIC + i * dynsz, tags[i][0], w, big);
            put(b, OFF_DYNAMIC + i * dynsz + (size_t)w, tags[i][1], w, big);
        }
    }

    /* Section headers: null, .dynsym (11), .dynstr (3), .rodata (PROGBITS, SHF_ALLOC). */
    if (f & SYN_SECTIONS) {
        const uint64_t sh[3][6] = {
            /* type, flags, addr/offset, size, link, entsize */
            {(f & SYN_REL) ? 2u : 11u, 2, OFF_DYNSYM, 4 * symsz, 2, symsz},
            {3, 2, OFF_DYNSTR, sizeof(dynstr), 0, 0},
            {1, 2, OFF_RODATA, len - OFF_RODATA, 0, 0},
        };

        for (i = 0; i < 3; i++) {
            o = OFF_SH + (i + 1) * shsz;
            put(b, o + 4, sh[i][0], 4, big);
            put(b, o + 8, sh[i][1], w, big);
            put(b, o + (is64 ? 16 : 12), VA + sh[i][2], w, big); /* sh_addr */
            put(b, o + (is64 ? 24 : 16), sh[i][2], w, big);      /* sh_offset */
            put(b, o + (is64 ? 32 : 20), sh[i][3], w, big);
            put(b, o + (is64 ? 40 : 24), sh[i][4], 4, big);
            put(b, o + (is64 ? 56 : 36), sh[i][5], w, big);
        }
    }

    /* .rodata */
    if (f & SYN_DEFINED)
        memcpy(b + OFF_SYMSTR, "3.45.6", 7);
    if (f & (SYN_SRCID | SYN_FAR)) {
        size_t at = (f & SYN_FAR) ? OFF_VERSION + 70000 : OFF_SRCID;

        memcpy(b + at, id, strlen(id) + 1);
        memcpy(b + OFF_VERSION, "3.44.2", 7);
        if (f & SYN_PRINTABLE)
            b[OFF_VERSION - 1] = 'v';
    }
    if (f & SYN_DECOY)
        memcpy(b + OFF_DECOY, "3.1.4", 6);
    if (f & SYN_TWO) {
        memcpy(b + OFF_SRCID2, srcid64, sizeof(srcid64));
        memcpy(b + OFF_VERSION2, "3.38.5", 7);
    }
}

struct syn_case {
    const char *name;
    unsigned flags;
    enum elfver_result result;
    uint32_t version;
    enum elfver_source source;
};

static const struct syn_case syn_cases[] = {
    {"symbol via section headers", SYN_SECTIONS | SYN_DEFINED, ELFVER_FOUND, 3045006,
     ELFVER_SRC_SYMTAB},
    {"symbol via PT_DYNAMIC and DT_HASH", SYN_DYN_SYSV | SYN_DEFINED, ELFVER_FOUND, 3045006,
     ELFVER_SRC_DYNAMIC},
    {"symbol via PT_DYNAMIC and DT_GNU_HASH", SYN_DYN_GNU | SYN_DEFINED, ELFVER_FOUND, 3045006,
     ELFVER_SRC_DYNAMIC},
    {"section headers win over PT_DYNAMIC", SYN_SECTIONS | SYN_DYN_GNU | SYN_DEFINED, ELFVER_FOUND,
     3045006, ELFVER_SRC_SYMTAB},
    {"symbol wins over the source id", SYN_SECTIONS | SYN_DEFINED | SYN_SRCID, ELFVER_FOUND,
     3045006, ELFVER_SRC_SYMTAB},
    {"source id in .rodata", SYN_SECTIONS | SYN_SRCID, ELFVER_FOUND, 3044002, ELFVER_SRC_SOURCE_ID},
    {"source id, no section headers: PT_LOAD scanned", SYN_SRCID, ELFVER_FOUND, 3044002,
     ELFVER_SRC_SOURCE_ID},
    {"source id through PT_DYNAMIC object without the symbol", SYN_DYN_GNU | SYN_SRCID,
     ELFVER_FOUND, 3044002, ELFVER_SRC_SOURCE_ID},
    {"source id hash ending in alt1", SYN_SECTIONS | SYN_SRCID | SYN_SRCID_ALT, ELFVER_FOUND,
     3044002, ELFVER_SRC_SOURCE_ID},
    {"source id with a SHA1 hash", SYN_SECTIONS | SYN_SRCID | SYN_SRCID_SHA1, ELFVER_FOUND, 3044002,
     ELFVER_SRC_SOURCE_ID},
    {"decoy farther than the real version", SYN_SECTIONS | SYN_SRCID | SYN_DECOY, ELFVER_FOUND,
     3044002, ELFVER_SRC_SOURCE_ID},
    {"two SQLites: the oldest", SYN_SECTIONS | SYN_SRCID | SYN_TWO, ELFVER_FOUND, 3038005,
     ELFVER_SRC_SOURCE_ID},
    {"relocatable object: .symtab, section-relative value", SYN_REL | SYN_SECTIONS | SYN_DEFINED,
     ELFVER_FOUND, 3045006, ELFVER_SRC_SYMTAB},
    {"undefined symbol only", SYN_SECTIONS | SYN_DYN_GNU, ELFVER_NOT_FOUND, 0, ELFVER_SRC_NONE},
    {"stray 3.1.4 without a source id", SYN_SECTIONS | SYN_DECOY, ELFVER_NOT_FOUND, 0,
     ELFVER_SRC_NONE},
    {"63-character hash is no source id", SYN_SECTIONS | SYN_SRCID | SYN_SRCID_BAD,
     ELFVER_NOT_FOUND, 0, ELFVER_SRC_NONE},
    {"version after a printable byte", SYN_SECTIONS | SYN_SRCID | SYN_PRINTABLE, ELFVER_NOT_FOUND,
     0, ELFVER_SRC_NONE},
    {"source id out of the window", SYN_SECTIONS | SYN_FAR, ELFVER_NOT_FOUND, 0, ELFVER_SRC_NONE},
};

#define NSYN (sizeof(syn_cases) / sizeof(syn_cases[0]))

static size_t syn_len(unsigned f)
{
    return (f & SYN_FAR) ? SYN_BIG : SYN_SMALL;
}

Test(elfver, synthetic_all_classes_and_byte_orders)
{
    static unsigned char b[SYN_BIG];
    size_t i, combo;

    for (combo = 0; combo < 4; combo++) {
        bool is64 = combo & 1, big = combo & 2;

        for (i = 0; i < NSYN; i++) {
            const struct syn_case *c = &syn_cases[i];
            struct elfver_info info;
            enum elfver_result r;

            build(b, syn_len(c->flags), is64, big, c->flags);
            r = elfver_parse(b, syn_len(c->flags), &info);
            cr_expect_eq(r, c->result, "%s (%d-bit %s): %s", c->name, is64 ? 64 : 32,
                         big ? "BE" : "LE", elfver_result_str(r));
            cr_expect_eq(info.version, c->version, "%s (%d-bit %s): %u", c->name, is64 ? 64 : 32,
                         big ? "BE" : "LE", info.version);
            cr_expect_eq(info.source, c->source, "%s (%d-bit %s): %s", c->name, is64 ? 64 : 32,
                         big ? "BE" : "LE", elfver_source_str(info.source));
        }
    }
}

struct junk_case {
    const char *name;
    const char *bytes;
    size_t len;
};

static const struct junk_case junk_cases[] = {
    {"empty", "", 0},
    {"magic only", "\177ELF", 4},
    {"bad class", "\177ELF\003\001\001\0\0\0\0\0\0\0\0\0", 16},
    {"bad byte order", "\177ELF\002\003\001\0\0\0\0\0\0\0\0\0", 16},
    {"64-bit ident, header cut", "\177ELF\002\001\001\0\0\0\0\0\0\0\0\0\003\0", 18},
    {"an SQLite database header", "SQLite format 3\0\020\0\001\001", 20},
    {"text",
     "3.40.1\0"
     "2022-12-28 14:03:47",
     26},
};

Test(elfver, not_elf)
{
    size_t i;

    for (i = 0; i < sizeof(junk_cases) / sizeof(junk_cases[0]); i++) {
        const struct junk_case *c = &junk_cases[i];
        unsigned char *b = malloc(c->len ? c->len : 1);
        struct elfver_info info;

        cr_assert_not_null(b);
        memcpy(b, c->bytes, c->len);
        cr_expect_eq(elfver_parse(b, c->len, &info), ELFVER_NOT_ELF, "%s", c->name);
        cr_expect_eq(info.version, 0u, "%s", c->name);
        free(b);
    }
    cr_expect_eq(elfver_parse(NULL, 100, &(struct elfver_info){0}), ELFVER_NOT_ELF);
}

/* ---- real objects ------------------------------------------------------------------------ */

static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat st;
    unsigned char *b;
    FILE *f = fopen(path, "rb");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fstat(fileno(f), &st), 0);
    *len = (size_t)st.st_size;
    b = malloc(*len ? *len : 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void python_module(char *out, size_t len)
{
    glob_t g;

    cr_assert_eq(glob("/usr/lib/python3*/lib-dynload/_sqlite3*.so", 0, NULL, &g), 0,
                 "Debian's python3 _sqlite3 module not found");
    snprintf(out, len, "%s", g.gl_pathv[0]);
    globfree(&g);
}

enum file_kind { F_PATH, F_HELPER, F_PYMOD, F_NOSECTIONS };

struct file_case {
    const char *name;
    enum file_kind kind;
    const char *file;
    enum elfver_result result;
    int version; /* 1: the shared library's, 2: the headers' (= libsqlite3.a), 3: 3.51.3 */
    enum elfver_source source;
};

static const struct file_case file_cases[] = {
    {"Debian libsqlite3.so.0", F_PATH, DEBIAN_LIB, ELFVER_FOUND, 1, ELFVER_SRC_SYMTAB},
    {"libsqlite3.so.0 without section headers", F_NOSECTIONS, DEBIAN_LIB, ELFVER_FOUND, 1,
     ELFVER_SRC_DYNAMIC},
    {"static helper", F_HELPER, "holder_static", ELFVER_FOUND, 2, ELFVER_SRC_SYMTAB},
    {"static helper, stripped", F_HELPER, "holder_static_stripped", ELFVER_FOUND, 2,
     ELFVER_SRC_SOURCE_ID},
    {"static helper patched to 3.51.3", F_HELPER, "holder_static_patched", ELFVER_FOUND, 3,
     ELFVER_SRC_SYMTAB},
    {"stripped static helper patched to 3.51.3", F_HELPER, "holder_static_stripped_patched",
     ELFVER_FOUND, 3, ELFVER_SRC_SOURCE_ID},
    {"helper linked to the shared library", F_HELPER, "holder_shared", ELFVER_NOT_FOUND, 0,
     ELFVER_SRC_NONE},
    {"Python's _sqlite3 module (links the shared library)", F_PYMOD, NULL, ELFVER_NOT_FOUND, 0,
     ELFVER_SRC_NONE},
    {"a text file", F_HELPER, "sqlite_version", ELFVER_NOT_ELF, 0, ELFVER_SRC_NONE},
};

static uint32_t expected_version(int which)
{
    switch (which) {
    case 1:
        return (uint32_t)sqlite3_libversion_number();
    case 2:
        return SQLITE_VERSION_NUMBER;
    case 3:
        return 3051003;
    default:
        return 0;
    }
}

Test(elfver, real_objects)
{
    char path[4096];
    size_t i;

    for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
        const struct file_case *c = &file_cases[i];
        struct elfver_info info;
        enum elfver_result r;

        switch (c->kind) {
        case F_PATH:
        case F_NOSECTIONS:
            snprintf(path, sizeof(path), "%s", c->file);
            break;
        case F_HELPER:
            helper_path(path, sizeof(path), c->file);
            break;
        case F_PYMOD:
            python_module(path, sizeof(path));
            break;
        }
        if (c->kind == F_NOSECTIONS) {
            size_t len;
            unsigned char *b = slurp(path, &len);

            cr_assert_gt(len, 64);
            cr_assert_eq(b[4], 2, "expects a 64-bit little-endian library");
            memset(b + 40, 0, 8); /* e_shoff */
            memset(b + 60, 0, 4); /* e_shnum, e_shstrndx */
            r = elfver_parse(b, len, &info);
            free(b);
        } else {
            r = elfver_path(NULL, path, &info);
        }
        cr_expect_eq(r, c->result, "%s (%s): %s", c->name, path, elfver_result_str(r));
        cr_expect_eq(info.version, expected_version(c->version), "%s: %u", c->name, info.version);
        cr_expect_eq(info.source, c->source, "%s: %s", c->name, elfver_source_str(info.source));
        if (c->result == ELFVER_FOUND) {
            char want[SQLITEVER_TEXT_MAX];

            cr_assert_eq(sqlitever_format(info.version, want, sizeof(want)), 0);
            cr_expect_str_eq(info.text, want, "%s", c->name);
        }
    }
}

/* ---- robustness -------------------------------------------------------------------------- */

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* Parses b[0..len) from a heap copy of exactly len bytes. A found version must be one the
 * input could hold. */
static void parse_exact(const unsigned char *b, size_t len, const char *what)
{
    unsigned char *copy = malloc(len ? len : 1);
    struct elfver_info info;
    enum elfver_result r;

    cr_assert_not_null(copy);
    memcpy(copy, b, len);
    r = elfver_parse(copy, len, &info);
    cr_assert(r == ELFVER_FOUND || r == ELFVER_NOT_FOUND || r == ELFVER_NOT_ELF, "%s", what);
    if (r == ELFVER_FOUND) {
        cr_assert_neq(info.version, 0u, "%s", what);
        cr_assert_not_null(memmem(copy, len, info.text, strlen(info.text) + 1), "%s", what);
    } else {
        cr_assert_eq(info.version, 0u, "%s", what);
    }
    free(copy);
}

Test(elfver, truncated_and_mutated_synthetic)
{
    static unsigned char b[SYN_SMALL];
    char what[128];
    size_t i, combo, len, k, iter;

    for (combo = 0; combo < 4; combo++) {
        for (i = 0; i < NSYN; i++) {
            unsigned f = syn_cases[i].flags;

            if (f & SYN_FAR)
                continue;
            build(b, SYN_SMALL, combo & 1, combo & 2, f);
            /* Every length up to past the source id, then a few more. */
            for (len = 0; len <= OFF_VERSION2 + 16; len++) {
                snprintf(what, sizeof(what), "%s, combo %zu, cut at %zu", syn_cases[i].name, combo,
                         len);
                parse_exact(b, len, what);
            }
            /* 300 random flips of 1..8 bytes in the headers and tables. */
            for (iter = 0; iter < 300; iter++) {
                unsigned char saved[8];
                size_t at[8], n = 1 + rng() % 8;

                for (k = 0; k < n; k++) {
                    at[k] = rng() % OFF_RODATA;
                    saved[k] = b[at[k]];
                    b[at[k]] = (unsigned char)rng();
                }
                snprintf(what, sizeof(what), "%s, combo %zu, mutation %zu", syn_cases[i].name,
                         combo, iter);
                parse_exact(b, SYN_SMALL, what);
                for (k = n; k-- > 0;)
                    b[at[k]] = saved[k];
            }
        }
    }
}

Test(elfver, truncated_and_mutated_real_library, .timeout = 120)
{
    size_t len, i, k, off;
    unsigned char *b = slurp(DEBIAN_LIB, &len);
    char what[96];

    /* Cuts: inside the headers, the tables, .rodata, and random. */
    static const size_t cuts[] = {0,        1,        4,        16,      63,      64,
                                  100,      0x238,    0x2c40,   0xb6e8,  0x13000, 0x11a000,
                                  0x123c50, 0x124372, 0x124376, 0x15ea18};
    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]) + 40; i++) {
        size_t cut = i < sizeof(cuts) / sizeof(cuts[0]) ? cuts[i] : rng() % len;

        if (cut > len)
            continue;
        snprintf(what, sizeof(what), "library cut at %zu", cut);
        parse_exact(b, cut, what);
    }
    /* Flips in the ELF header, program headers, .dynsym/.dynstr, .dynamic and the section
     * header table (all within the first 0x30000 bytes or the last 0x800). */
    for (i = 0; i < 150; i++) {
        unsigned char saved[16];
        size_t at[16], n = 1 + rng() % 16;

        for (k = 0; k < n; k++) {
            off = rng() % 4 == 0 ? len - 1 - rng() % 0x800 : rng() % 0x30000;
            if (rng() % 3 == 0)
                off = rng() % 64; /* the ELF header itself, often */
            at[k] = off;
            saved[k] = b[off];
            b[off] = (unsigned char)rng();
        }
        snprintf(what, sizeof(what), "library mutation %zu", i);
        parse_exact(b, len, what);
        for (k = n; k-- > 0;)
            b[at[k]] = saved[k];
    }
    free(b);
}

static double seconds_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum bomb { BOMB_SYMTABS, BOMB_SCAN_SECTIONS, BOMB_SOURCE_IDS };

struct bomb_case {
    const char *name;
    enum bomb kind;
};

static const struct bomb_case bomb_cases[] = {
    {"2000 symbol tables over the same 2 MiB", BOMB_SYMTABS},
    {"2000 read-only sections over the same 2 MiB", BOMB_SCAN_SECTIONS},
    {"2 MiB of source ids", BOMB_SOURCE_IDS},
};

/* Crafted 64-bit little-endian objects that would cost quadratic time without the work
 * budget: each must be answered quickly, and without a version. */
Test(elfver, crafted_objects_take_bounded_time, .timeout = 60)
{
    const size_t len = 2u << 20, nsec = 2000, shoff = 0x100;
    unsigned char *b = malloc(len);
    size_t i, k;

    cr_assert_not_null(b);
    for (i = 0; i < sizeof(bomb_cases) / sizeof(bomb_cases[0]); i++) {
        const struct bomb_case *c = &bomb_cases[i];
        struct elfver_info info;
        double t0;

        memset(b, 0, len);
        memcpy(b, "\177ELF\002\001\001", 7);
        put(b, 16, 3, 2, false);
        if (c->kind == BOMB_SOURCE_IDS) {
            for (k = 64; k + sizeof(srcid64) <= len; k += sizeof(srcid64))
                memcpy(b + k, srcid64, sizeof(srcid64));
        } else {
            put(b, 40, shoff, 8, false);
            put(b, 58, 64, 2, false);
            put(b, 60, nsec, 2, false);
            for (k = 1; k < nsec; k++) {
                size_t o = shoff + k * 64;

                /* Section 1 is the string table the others link to. */
                put(b, o + 4, k == 1 ? 3 : c->kind == BOMB_SYMTABS ? 2 : 1, 4, false);
                put(b, o + 8, 2, 8, false); /* SHF_ALLOC */
                put(b, o + 24, 0x20000, 8, false);
                put(b, o + 32, len - 0x20000, 8, false);
                put(b, o + 40, 1, 4, false);
                put(b, o + 56, c->kind == BOMB_SYMTABS ? 24 : 0, 8, false);
            }
            /* Scan sections: make every byte a '-' the scan must look at. */
            if (c->kind == BOMB_SCAN_SECTIONS)
                memset(b + 0x20000, '-', len - 0x20000);
        }
        t0 = seconds_now();
        cr_expect_eq(elfver_parse(b, len, &info), ELFVER_NOT_FOUND, "%s", c->name);
        /* Without the budget the first one alone takes over 20 s under ASan. */
        cr_expect_lt(seconds_now() - t0, 5.0, "%s: %.1f s", c->name, seconds_now() - t0);
    }
    free(b);
}

/* ---- the file wrapper and its cache ------------------------------------------------------ */

static void copy_file(const char *from, const char *to)
{
    size_t len;
    unsigned char *b = slurp(from, &len);
    FILE *f = fopen(to, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    free(b);
}

Test(elfver, cache)
{
    char dir[64], a[128], bpath[128], c[128], helper[4096];
    struct elfver_cache_stats st;
    struct elfver_info info;
    struct elfver_cache *cache = elfver_cache_new(2, 0);
    struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 0}};
    int fd;

    cr_assert_not_null(cache);
    temp_dir(dir, sizeof(dir));
    snprintf(a, sizeof(a), "%s/a.so", dir);
    snprintf(bpath, sizeof(bpath), "%s/b", dir);
    snprintf(c, sizeof(c), "%s/c.txt", dir);
    copy_file(DEBIAN_LIB, a);
    helper_path(helper, sizeof(helper), "holder_static_stripped");
    copy_file(helper, bpath);
    {
        FILE *f = fopen(c, "w");

        cr_assert_not_null(f);
        fputs("not an ELF object\n", f);
        cr_assert_eq(fclose(f), 0);
    }

    /* Read once, then served from the cache. */
    cr_expect_eq(elfver_path(cache, a, &info), ELFVER_FOUND);
    cr_expect_eq(elfver_path(cache, a, &info), ELFVER_FOUND);
    cr_expect_eq(info.version, (uint32_t)sqlite3_libversion_number());
    elfver_cache_get_stats(cache, &st);
    cr_expect_eq(st.misses, 1u);
    cr_expect_eq(st.hits, 1u);

    /* Changed in place (same size, new mtime): read again, and the new text is seen. */
    fd = open(a, O_RDWR);
    cr_assert_geq(fd, 0);
    {
        size_t len;
        unsigned char *buf = slurp(a, &len);
        unsigned char *p = memmem(buf, len, "\0" SQLITE_VERSION "\0", sizeof(SQLITE_VERSION) + 1);

        cr_assert_not_null(p);
        cr_assert_eq(pwrite(fd, "3.51.3", 6, (off_t)(p + 1 - buf)), 6);
        free(buf);
    }
    cr_assert_eq(futimens(fd, times), 0);
    close(fd);
    cr_expect_eq(elfver_path(cache, a, &info), ELFVER_FOUND);
    cr_expect_eq(info.version, 3051003u);
    elfver_cache_get_stats(cache, &st);
    cr_expect_eq(st.misses, 2u);

    /* NOT_ELF is cached too; a third object evicts the oldest (capacity 2). */
    cr_expect_eq(elfver_path(cache, c, &info), ELFVER_NOT_ELF);
    cr_expect_eq(elfver_path(cache, c, &info), ELFVER_NOT_ELF);
    cr_expect_eq(elfver_path(cache, bpath, &info), ELFVER_FOUND);
    cr_expect_eq(info.source, ELFVER_SRC_SOURCE_ID);
    elfver_cache_get_stats(cache, &st);
    cr_expect_eq(st.misses, 4u);
    cr_expect_eq(st.hits, 2u);
    cr_expect_eq(st.evictions, 2u);
    cr_expect_eq(st.entries, 2u);

    /* Errors: missing, a directory, over the cap. None is cached. */
    cr_expect_eq(elfver_path(cache, "/nonexistent/x.so", &info), ELFVER_ERROR);
    cr_expect_eq(elfver_path(cache, dir, &info), ELFVER_ERROR);
    elfver_cache_free(cache);
    cache = elfver_cache_new(4, 1000);
    cr_assert_not_null(cache);
    errno = 0;
    cr_expect_eq(elfver_path(cache, a, &info), ELFVER_ERROR);
    cr_expect_eq(errno, EFBIG);
    elfver_cache_free(cache);
    elfver_cache_free(NULL);
    helpers_rmtree(dir);
}

/* ---- the file wrapper reads like the parser ---------------------------------------------- */

static void write_file(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(b, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* b[0..len) parsed in memory, and written to path and read by elfver_path(): the same
 * answer. Returns the result. */
static enum elfver_result expect_same(const char *path, const unsigned char *b, size_t len,
                                      const char *what)
{
    struct elfver_info mem, file;
    enum elfver_result rm, rf;

    write_file(path, b, len);
    rm = elfver_parse(b, len, &mem);
    rf = elfver_path(NULL, path, &file);
    cr_expect_eq(rf, rm, "%s: file %s, memory %s", what, elfver_result_str(rf),
                 elfver_result_str(rm));
    cr_expect_eq(file.version, mem.version, "%s: file %u, memory %u", what, file.version,
                 mem.version);
    cr_expect_eq(file.source, mem.source, "%s: file %s, memory %s", what,
                 elfver_source_str(file.source), elfver_source_str(mem.source));
    cr_expect_str_eq(file.text, mem.text, "%s", what);
    return rm;
}

enum same_kind { SAME_SYNTHETIC, SAME_REAL };

struct same_case {
    const char *name;
    enum same_kind kind;
    const char *file; /* SAME_REAL: a path, or a helper's name */
    bool helper;
};

static const struct same_case same_cases[] = {
    {"synthetic objects, all classes and byte orders, and cuts", SAME_SYNTHETIC, NULL, false},
    {"Debian libsqlite3.so.0 and cuts", SAME_REAL, DEBIAN_LIB, false},
    {"static helper", SAME_REAL, "holder_static", true},
    {"static helper, stripped (source id scan over MiBs)", SAME_REAL, "holder_static_stripped",
     true},
};

Test(elfver, file_reads_match_the_parser, .timeout = 120)
{
    static unsigned char syn[SYN_BIG];
    char dir[64], path[128], what[160];
    size_t i, k, combo;

    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/object", dir);
    for (i = 0; i < sizeof(same_cases) / sizeof(same_cases[0]); i++) {
        const struct same_case *c = &same_cases[i];

        if (c->kind == SAME_SYNTHETIC) {
            for (combo = 0; combo < 4; combo++) {
                for (k = 0; k < NSYN; k++) {
                    unsigned f = syn_cases[k].flags;
                    size_t len = syn_len(f), cut;

                    build(syn, len, combo & 1, combo & 2, f);
                    snprintf(what, sizeof(what), "%s, combo %zu", syn_cases[k].name, combo);
                    cr_expect_eq(expect_same(path, syn, len, what), syn_cases[k].result, "%s",
                                 what);
                    for (cut = 0; cut < len; cut += 1 + cut / 3) {
                        snprintf(what, sizeof(what), "%s, combo %zu, cut at %zu", syn_cases[k].name,
                                 combo, cut);
                        expect_same(path, syn, cut, what);
                    }
                }
            }
        } else {
            char src[4096];
            size_t len, cut;
            unsigned char *b;

            if (c->helper)
                helper_path(src, sizeof(src), c->file);
            else
                snprintf(src, sizeof(src), "%s", c->file);
            b = slurp(src, &len);
            cr_expect_eq(expect_same(path, b, len, c->name), ELFVER_FOUND, "%s", c->name);
            /* Cuts across the headers, the tables, and every 64 KiB and 1 MiB edge. */
            for (cut = 0; cut < len; cut = cut < 0x10000 ? cut * 4 + 7 : cut + 0x10000 - 1) {
                snprintf(what, sizeof(what), "%s, cut at %zu", c->name, cut);
                expect_same(path, b, cut, what);
            }
            free(b);
        }
    }
    helpers_rmtree(dir);
}

#define EDGE_LEN (3u << 20)
#define MIB (1u << 20)
#define W ELFVER_SCAN_WINDOW

struct edge_case {
    const char *name;
    size_t id, ver;   /* offsets of a source id and of "3.44.2" */
    bool printable;   /* a 'v' just before the version */
    size_t id2, ver2; /* when not 0: a second source id with "3.38.5" */
    uint32_t want;
};

/* The file wrapper scans 1 MiB at a time (SCAN_CHUNK in elfver.c); these straddle those
 * edges and the window's ends. */
static const struct edge_case edge_cases[] = {
    {"source id's first '-' on a chunk's last byte", MIB - 5, MIB + 0x100, false, 0, 0, 3044002},
    {"source id's first '-' on a chunk's first byte, version before", MIB - 4, MIB - 0x200, false,
     0, 0, 3044002},
    {"version W - 1 bytes after, across an edge", MIB - 100, MIB - 100 + W - 1, false, 0, 0,
     3044002},
    {"version W bytes after, across an edge: out of reach", MIB - 100, MIB - 100 + W, false, 0, 0,
     0},
    {"version W bytes before, across an edge", MIB + 100, MIB + 100 - W, false, 0, 0, 3044002},
    {"version W + 1 bytes before: out of reach", MIB + 100, MIB + 100 - W - 1, false, 0, 0, 0},
    {"version after a printable byte on the other side of an edge", MIB + 100, MIB, true, 0, 0, 0},
    {"two SQLites either side of an edge: the older", MIB - 300, MIB - 200, false, MIB + 300,
     MIB + 400, 3038005},
    {"source id across the second edge, version near the window's end", 2 * MIB - 40,
     2 * MIB - 40 + W - 1, false, 0, 0, 3044002},
    {"version in the object's last bytes", EDGE_LEN - 300, EDGE_LEN - 7, false, 0, 0, 3044002},
};

Test(elfver, file_scan_across_read_chunks, .timeout = 60)
{
    unsigned char *b = malloc(EDGE_LEN);
    char dir[64], path[128];
    size_t i;

    cr_assert_not_null(b);
    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/object", dir);
    for (i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++) {
        const struct edge_case *c = &edge_cases[i];
        struct elfver_info info;

        /* A 64-bit ELF header and nothing else: the whole object is scanned. */
        memset(b, 0, EDGE_LEN);
        memcpy(b, "\177ELF\002\001\001", 7);
        put(b, 16, 3, 2, false);
        memcpy(b + c->id, srcid64, sizeof(srcid64));
        memcpy(b + c->ver, "3.44.2", 7);
        if (c->printable)
            b[c->ver - 1] = 'v';
        if (c->id2) {
            memcpy(b + c->id2, srcid64, sizeof(srcid64));
            memcpy(b + c->ver2, "3.38.5", 7);
        }
        expect_same(path, b, EDGE_LEN, c->name);
        elfver_path(NULL, path, &info);
        cr_expect_eq(info.version, c->want, "%s: %u", c->name, info.version);
    }
    free(b);
    helpers_rmtree(dir);
}

/* ---- a file that shrinks while read ------------------------------------------------------ */

#define SHRINK_LEN (400u << 20)
#define SHRINK_AFTER (16u << 20) /* bytes the parse has read before the file is changed */

enum shrink_action { SHRINK_TRUNCATE, SHRINK_EMPTY, SHRINK_REWRITE };

struct shrink_case {
    const char *name;
    enum shrink_action action;
};

static const struct shrink_case shrink_cases[] = {
    {"truncated to 4 KiB", SHRINK_TRUNCATE},
    {"truncated to nothing", SHRINK_EMPTY},
    {"rewritten in place, same size", SHRINK_REWRITE},
};

struct shrinker {
    const char *path;
    pid_t tid; /* the parsing thread */
    enum shrink_action action;
    unsigned long long rchar0; /* its rchar before the parse */
    atomic_int done;           /* the parse returned */
    atomic_int acted_early;    /* the change began while the parse was running */
};

/* Bytes read so far by thread tid (proc(5), /proc/PID/task/TID/io, rchar). */
static unsigned long long thread_rchar(pid_t tid)
{
    unsigned long long rchar = 0;
    char p[64];
    FILE *f;

    snprintf(p, sizeof(p), "/proc/self/task/%d/io", (int)tid);
    f = fopen(p, "r");
    if (f) {
        if (fscanf(f, "rchar: %llu", &rchar) != 1)
            rchar = 0;
        fclose(f);
    }
    return rchar;
}

/* Whether the parse is well under way: the file mapped (a wrapper that maps it), or
 * SHRINK_AFTER bytes read by the parsing thread. */
static bool parse_under_way(const struct shrinker *s)
{
    char line[4352];
    bool seen = false;
    FILE *f;

    f = fopen("/proc/self/maps", "r");
    while (f && !seen && fgets(line, sizeof(line), f))
        seen = strstr(line, s->path) != NULL;
    if (f)
        fclose(f);
    return seen || thread_rchar(s->tid) - s->rchar0 >= SHRINK_AFTER;
}

static void *shrink_thread(void *arg)
{
    struct shrinker *s = arg;
    int fd;

    while (!atomic_load(&s->done)) {
        if (!parse_under_way(s))
            continue;
        fd = open(s->path, O_WRONLY);
        if (fd < 0)
            break;
        atomic_store(&s->acted_early, !atomic_load(&s->done));
        if (s->action == SHRINK_REWRITE) {
            static const unsigned char zeros[4096];

            if (pwrite(fd, zeros, sizeof(zeros), SHRINK_LEN - sizeof(zeros)) < 0)
                perror("pwrite");
        } else if (ftruncate(fd, s->action == SHRINK_EMPTY ? 0 : 4096) != 0) {
            perror("ftruncate");
        }
        close(fd);
        break;
    }
    return NULL;
}

Test(elfver, file_shrinking_while_read, .timeout = 120)
{
    struct timespec past[2] = {{1700000000, 0}, {1700000000, 0}};
    char dir[64], path[128];
    size_t i;

    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/big.so", dir);
    for (i = 0; i < sizeof(shrink_cases) / sizeof(shrink_cases[0]); i++) {
        const struct shrink_case *c = &shrink_cases[i];
        struct shrinker s = {path, gettid(), c->action, 0, 0, 0};
        unsigned char head[64] = {0};
        struct elfver_cache_stats st;
        struct elfver_cache *cache = elfver_cache_new(4, 0);
        struct elfver_info info;
        enum elfver_result r;
        pthread_t th;
        int fd, err;

        /* A sparse 400 MB object: an ELF header, no tables (the whole file is scanned), and
         * at its very end a source id and version that a complete read would find. */
        cr_assert_not_null(cache);
        memcpy(head, "\177ELF\002\001\001", 7);
        put(head, 16, 3, 2, false);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert_geq(fd, 0);
        cr_assert_eq(pwrite(fd, head, sizeof(head), 0), (ssize_t)sizeof(head));
        cr_assert_eq(pwrite(fd, srcid64, sizeof(srcid64), SHRINK_LEN - 300),
                     (ssize_t)sizeof(srcid64));
        cr_assert_eq(pwrite(fd, "3.44.2", 7, SHRINK_LEN - 100), 7);
        cr_assert_eq(futimens(fd, past), 0); /* so the rewrite surely changes the mtime */
        close(fd);

        s.rchar0 = thread_rchar(s.tid);
        cr_assert_gt(s.rchar0, 0u, "no /proc/self/task/TID/io");
        cr_assert_eq(pthread_create(&th, NULL, shrink_thread, &s), 0);
        r = elfver_path(cache, path, &info);
        err = errno;
        atomic_store(&s.done, 1);
        pthread_join(th, NULL);
        cr_assert(atomic_load(&s.acted_early), "%s: the parse ended before the file changed",
                  c->name);
        /* Alive, and no answer from a file that changed under us: an error, not cached. */
        cr_expect_eq(r, ELFVER_ERROR, "%s: %s", c->name, elfver_result_str(r));
        cr_expect_eq(err, ESTALE, "%s: %s", c->name, strerror(err));
        cr_expect_eq(info.version, 0u, "%s", c->name);
        elfver_cache_get_stats(cache, &st);
        cr_expect_eq(st.entries, 0u, "%s", c->name);
        elfver_cache_free(cache);
    }
    helpers_rmtree(dir);
}
