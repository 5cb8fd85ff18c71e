/*
 * elfver.c: the SQLite version inside an ELF object (see elfver.h).
 *
 * ELF layout from the System V gABI, "Object Files" (ELF header, section header, symbol
 * table, program header, dynamic section), as declared in glibc's <elf.h>; the GNU hash
 * table from the layout ld.so reads (glibc elf/dl-lookup.c do_lookup_x, and the
 * "DT_GNU_HASH" note by Ali Bahrami: nbuckets, symoffset, bloom_size, bloom_shift,
 * bloom[bloom_size] of ELFCLASS words, buckets[nbuckets], chain[]). Offsets are written out
 * below instead of casting to Elf64_* structures: the buffer may be of either class, either
 * byte order, unaligned and truncated anywhere, and every read goes through elf_bytes().
 *
 * Files are never mapped: a mapped file that shrinks under us (truncated by its owner, or
 * rewritten in place by `cp` over a deployed library) turns the next read of a page past
 * the new end into SIGBUS, and the agent would die of a library file it only looked at.
 * elfver_fd() instead reads with pread() into a few fixed buffers (struct reader): small
 * blocks for the headers and tables, one larger window for the read-only data scan. A read
 * that comes back short marks the whole parse as failed.
 */
#include "elfver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* gABI constants (glibc <elf.h> names). */
#define EI_NIDENT 16
#define ELFCLASS32 1
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define ELFDATA2MSB 2
#define ET_REL 1
#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PF_W 2u
#define SHT_PROGBITS 1u
#define SHT_SYMTAB 2u
#define SHT_NOBITS 8u
#define SHT_DYNSYM 11u
#define SHF_WRITE 1u
#define SHF_ALLOC 2u
#define SHF_EXECINSTR 4u
#define SHN_UNDEF 0u
#define SHN_LORESERVE 0xff00u
#define SHN_XINDEX 0xffffu
#define STT_OBJECT 1u
#define DT_NULL 0
#define DT_HASH 4
#define DT_STRTAB 5
#define DT_SYMTAB 6
#define DT_STRSZ 10
#define DT_SYMENT 11
#define DT_GNU_HASH 0x6ffffef5

/* The symbol: sqlite3.h, "SQLITE_API SQLITE_EXTERN const char sqlite3_version[];". */
static const char sym_name[] = "sqlite3_version";

/* Hash chains longer than this are treated as corrupt (a real chain is a handful). */
#define MAX_CHAIN 65536u

/* Work allowed per parse, in bytes scanned or symbol table bytes read: linear in the input. A
 * crafted object with a thousand symbol tables or scan regions over the same bytes, or
 * packed with source ids, would otherwise cost quadratic time. */
#define WORK_PER_BYTE 4u
#define WORK_BASE (1u << 22)

/* File reads (struct reader): NBLOCKS blocks of BLOCK_SIZE bytes for headers, tables and
 * strings, each read with BLOCK_TAIL bytes more so that no small read (at most BLOCK_TAIL
 * bytes: a word, a symbol name, a version string) straddles two blocks; and one window for
 * the scan of read-only data, SCAN_CHUNK bytes at a time plus SCAN_MARGIN on either side
 * (a source id near a chunk's edge still sees ELFVER_SCAN_WINDOW bytes around it, and the
 * version string and the byte before it). About 2.2 MiB in all, whatever the object's size. */
#define BLOCK_SIZE (64u * 1024u)
#define BLOCK_TAIL 64u
#define NBLOCKS 16u
#define SCAN_CHUNK (1024u * 1024u)
#define SCAN_MARGIN (ELFVER_SCAN_WINDOW + 128u)
#define SCAN_BUF (SCAN_CHUNK + 2u * SCAN_MARGIN)

struct block {
    uint64_t off;  /* file offset of b[0], a multiple of BLOCK_SIZE */
    size_t n;      /* bytes valid in b; 0: empty */
    uint64_t used; /* reader clock at the last use: the least recent is replaced */
    unsigned char *b;
};

struct reader {
    int fd;
    struct block blk[NBLOCKS];
    uint64_t clock;
    unsigned char *scan; /* SCAN_BUF bytes */
    unsigned char *mem;  /* the one allocation behind every buffer */
    int err;             /* 0, or why a read failed or came back short: the parse failed */
};

struct elf {
    const unsigned char *b; /* the object in memory, or NULL when read through rd */
    struct reader *rd;
    size_t len;
    uint64_t budget; /* work left, see WORK_PER_BYTE */
    bool is64;
    bool big;
    uint16_t type;
    uint64_t phoff, shoff;
    uint16_t phentsize, phnum, shentsize;
    uint64_t shnum; /* after extended numbering */
};

struct phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, filesz;
};

struct shdr {
    uint32_t type, link;
    uint64_t flags, addr, offset, size, entsize;
};

struct sym {
    uint32_t name;
    uint8_t info;
    uint16_t shndx;
    uint64_t value, size;
};

/* ---- bounds-checked readers -------------------------------------------------------------- */

/* Takes n units of work from the budget; false (and nothing taken) when it is spent. */
static bool spend(struct elf *e, uint64_t n)
{
    if (n > e->budget)
        return false;
    e->budget -= n;
    return true;
}

static bool in_bounds(const struct elf *e, uint64_t off, uint64_t n)
{
    return off <= e->len && n <= e->len - off;
}

/* Reads want bytes at off into buf, retrying short reads; returns the bytes read. A short
 * count means the file ended early (it shrank since fstat) or failed: rd->err says which. */
static size_t reader_pread(struct reader *rd, unsigned char *buf, size_t want, uint64_t off)
{
    size_t got = 0;
    ssize_t n;

    while (got < want) {
        n = pread(rd->fd, buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rd->err = n < 0 ? errno : ESTALE;
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* n (at most BLOCK_TAIL) bytes at off, through the block cache; the caller checked that
 * they lie within the object. NULL when the read fails or comes back short. */
static const unsigned char *reader_get(struct reader *rd, size_t len, uint64_t off, size_t n)
{
    uint64_t start = off - off % BLOCK_SIZE;
    struct block *b = &rd->blk[0];
    size_t i, want;

    if (n > BLOCK_TAIL || rd->err)
        return NULL;
    for (i = 0; i < NBLOCKS; i++) {
        if (rd->blk[i].n > 0 && rd->blk[i].off == start) {
            b = &rd->blk[i];
            goto have;
        }
        if (rd->blk[i].used < b->used)
            b = &rd->blk[i];
    }
    want = len - start < BLOCK_SIZE + BLOCK_TAIL ? (size_t)(len - start) : BLOCK_SIZE + BLOCK_TAIL;
    b->off = start;
    b->n = reader_pread(rd, b->b, want, start);
    if (b->n < want)
        return NULL;
have:
    b->used = ++rd->clock;
    return off - start + n <= b->n ? b->b + (off - start) : NULL;
}

/* n bytes at off, or NULL when they are not all in the object (or could not be read). */
static const unsigned char *elf_bytes(const struct elf *e, uint64_t off, uint64_t n)
{
    if (!in_bounds(e, off, n))
        return NULL;
    if (!e->rd)
        return e->b + off;
    return reader_get(e->rd, e->len, off, (size_t)n);
}

/* A longer span for the scan (at most SCAN_BUF bytes); valid until the next call. */
static const unsigned char *elf_span(const struct elf *e, uint64_t off, uint64_t n)
{
    if (!in_bounds(e, off, n))
        return NULL;
    if (!e->rd)
        return e->b + off;
    if (n > SCAN_BUF || e->rd->err || reader_pread(e->rd, e->rd->scan, (size_t)n, off) < (size_t)n)
        return NULL;
    return e->rd->scan;
}

static bool get_u8(const struct elf *e, uint64_t off, uint8_t *v)
{
    const unsigned char *p = elf_bytes(e, off, 1);

    if (!p)
        return false;
    *v = p[0];
    return true;
}

static bool get_u16(const struct elf *e, uint64_t off, uint16_t *v)
{
    const unsigned char *p = elf_bytes(e, off, 2);

    if (!p)
        return false;
    *v = e->big ? (uint16_t)((p[0] << 8) | p[1]) : (uint16_t)((p[1] << 8) | p[0]);
    return true;
}

static bool get_u32(const struct elf *e, uint64_t off, uint32_t *v)
{
    const unsigned char *p = elf_bytes(e, off, 4);

    if (!p)
        return false;
    if (e->big)
        *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    else
        *v = ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
    return true;
}

static bool get_u64(const struct elf *e, uint64_t off, uint64_t *v)
{
    uint32_t a, b;

    if (!get_u32(e, off, &a) || !get_u32(e, off + 4, &b))
        return false;
    *v = e->big ? ((uint64_t)a << 32) | b : ((uint64_t)b << 32) | a;
    return true;
}

/* An address-sized word: Elf32_Addr/Off/Word or Elf64_Addr/Off/Xword. */
static bool get_word(const struct elf *e, uint64_t off, uint64_t *v)
{
    uint32_t w;

    if (e->is64)
        return get_u64(e, off, v);
    if (!get_u32(e, off, &w))
        return false;
    *v = w;
    return true;
}

/* ---- headers ----------------------------------------------------------------------------- */

/* gABI "ELF Header". Offsets: 32-bit | 64-bit. The object is buf[0..len), or with rd the
 * file behind rd->fd, len bytes long. */
static bool elf_open(struct elf *e, const unsigned char *buf, struct reader *rd, size_t len)
{
    const unsigned char *id;
    uint16_t shnum16;

    memset(e, 0, sizeof(*e));
    e->b = buf;
    e->rd = rd;
    e->len = len;
    e->budget = (uint64_t)len * WORK_PER_BYTE + WORK_BASE;
    if (!buf && !rd)
        return false;
    id = elf_bytes(e, 0, EI_NIDENT);
    if (!id || memcmp(id, "\177ELF", 4) != 0)
        return false;
    if (id[4] != ELFCLASS32 && id[4] != ELFCLASS64)
        return false;
    if (id[5] != ELFDATA2LSB && id[5] != ELFDATA2MSB)
        return false;
    e->is64 = id[4] == ELFCLASS64;
    e->big = id[5] == ELFDATA2MSB;
    if (len < (e->is64 ? 64u : 52u))
        return false;
    if (!get_u16(e, 16, &e->type))
        return false;
    if (e->is64) {
        if (!get_u64(e, 32, &e->phoff) || !get_u64(e, 40, &e->shoff) ||
            !get_u16(e, 54, &e->phentsize) || !get_u16(e, 56, &e->phnum) ||
            !get_u16(e, 58, &e->shentsize) || !get_u16(e, 60, &shnum16))
            return false;
    } else {
        uint32_t ph, sh;

        if (!get_u32(e, 28, &ph) || !get_u32(e, 32, &sh) || !get_u16(e, 42, &e->phentsize) ||
            !get_u16(e, 44, &e->phnum) || !get_u16(e, 46, &e->shentsize) ||
            !get_u16(e, 48, &shnum16))
            return false;
        e->phoff = ph;
        e->shoff = sh;
    }
    e->shnum = shnum16;
    /* gABI "Sections": e_shnum 0 with a section header table means the real count is in
     * section 0's sh_size. */
    if (e->shnum == 0 && e->shoff != 0) {
        uint64_t n = 0;

        if (get_word(e, e->shoff + (e->is64 ? 32u : 20u), &n))
            e->shnum = n;
    }
    /* Unusable tables are dropped here, so later loops need only check each entry. */
    if (e->phentsize < (e->is64 ? 56u : 32u) || e->phoff == 0)
        e->phnum = 0;
    if (e->shentsize < (e->is64 ? 64u : 40u) || e->shoff == 0)
        e->shnum = 0;
    /* No more entries than the buffer could hold: bounds the loops on corrupt counts. */
    if (e->shnum > 0 && (e->shoff > len || e->shnum > (len - e->shoff) / e->shentsize))
        e->shnum = e->shoff > len ? 0 : (len - e->shoff) / e->shentsize;
    return true;
}

/* gABI "Program Header". */
static bool elf_phdr(const struct elf *e, uint64_t i, struct phdr *ph)
{
    uint64_t o;

    if (i >= e->phnum)
        return false;
    o = e->phoff + i * e->phentsize;
    memset(ph, 0, sizeof(*ph));
    if (e->is64)
        return get_u32(e, o, &ph->type) && get_u32(e, o + 4, &ph->flags) &&
               get_u64(e, o + 8, &ph->offset) && get_u64(e, o + 16, &ph->vaddr) &&
               get_u64(e, o + 32, &ph->filesz);
    {
        uint32_t off, va, fs;

        if (!get_u32(e, o, &ph->type) || !get_u32(e, o + 4, &off) || !get_u32(e, o + 8, &va) ||
            !get_u32(e, o + 16, &fs) || !get_u32(e, o + 24, &ph->flags))
            return false;
        ph->offset = off;
        ph->vaddr = va;
        ph->filesz = fs;
    }
    return true;
}

/* gABI "Sections", the section header. */
static bool elf_shdr(const struct elf *e, uint64_t i, struct shdr *sh)
{
    uint64_t o;

    if (i >= e->shnum)
        return false;
    o = e->shoff + i * e->shentsize;
    memset(sh, 0, sizeof(*sh));
    if (e->is64)
        return get_u32(e, o + 4, &sh->type) && get_u64(e, o + 8, &sh->flags) &&
               get_u64(e, o + 16, &sh->addr) && get_u64(e, o + 24, &sh->offset) &&
               get_u64(e, o + 32, &sh->size) && get_u32(e, o + 40, &sh->link) &&
               get_u64(e, o + 56, &sh->entsize);
    {
        uint32_t fl, ad, of, sz, es;

        if (!get_u32(e, o + 4, &sh->type) || !get_u32(e, o + 8, &fl) || !get_u32(e, o + 12, &ad) ||
            !get_u32(e, o + 16, &of) || !get_u32(e, o + 20, &sz) ||
            !get_u32(e, o + 24, &sh->link) || !get_u32(e, o + 36, &es))
            return false;
        sh->flags = fl;
        sh->addr = ad;
        sh->offset = of;
        sh->size = sz;
        sh->entsize = es;
    }
    return true;
}

/* gABI "Symbol Table": the entry at file offset o. */
static bool elf_sym(const struct elf *e, uint64_t o, struct sym *s)
{
    memset(s, 0, sizeof(*s));
    if (e->is64)
        return get_u32(e, o, &s->name) && get_u8(e, o + 4, &s->info) &&
               get_u16(e, o + 6, &s->shndx) && get_u64(e, o + 8, &s->value) &&
               get_u64(e, o + 16, &s->size);
    {
        uint32_t v, sz;

        if (!get_u32(e, o, &s->name) || !get_u32(e, o + 4, &v) || !get_u32(e, o + 8, &sz) ||
            !get_u8(e, o + 12, &s->info) || !get_u16(e, o + 14, &s->shndx))
            return false;
        s->value = v;
        s->size = sz;
    }
    return true;
}

static uint64_t sym_entsize(const struct elf *e)
{
    return e->is64 ? 24u : 16u;
}

/* The bytes of a section, clipped to the buffer; false for NOBITS or out of range. */
static bool section_span(const struct elf *e, const struct shdr *sh, uint64_t *off, uint64_t *size)
{
    if (sh->type == SHT_NOBITS || sh->offset > e->len)
        return false;
    *off = sh->offset;
    *size = sh->size <= e->len - sh->offset ? sh->size : e->len - sh->offset;
    return true;
}

/* Virtual address -> file offset through the PT_LOAD segments (the loader's mapping). */
static bool vaddr_to_off(const struct elf *e, uint64_t va, uint64_t *off)
{
    struct phdr ph;
    uint64_t i;

    for (i = 0; i < e->phnum; i++) {
        if (!elf_phdr(e, i, &ph) || ph.type != PT_LOAD)
            continue;
        if (va >= ph.vaddr && va - ph.vaddr < ph.filesz) {
            *off = ph.offset + (va - ph.vaddr);
            return *off <= e->len;
        }
    }
    return false;
}

/* Whether the NUL-terminated name at strtab[name] (strtab of strsz bytes at stroff) is
 * sqlite3_version. */
static bool name_is(const struct elf *e, uint64_t stroff, uint64_t strsz, uint32_t name)
{
    const unsigned char *p;

    if (name >= strsz || sizeof(sym_name) > strsz - name)
        return false;
    p = elf_bytes(e, stroff + name, sizeof(sym_name));
    return p && memcmp(p, sym_name, sizeof(sym_name)) == 0;
}

/* What use_symbol() can take at all: looked at first, so that a file's string table is
 * read only for defined data symbols. */
static bool maybe_version_symbol(const struct sym *s)
{
    return s->shndx != SHN_UNDEF && (s->info & 0xfu) == STT_OBJECT;
}

/* The version string at file offset off, at most max bytes long with its NUL. */
static bool read_version_at(const struct elf *e, uint64_t off, uint64_t max,
                            struct elfver_info *out)
{
    const unsigned char *p, *nul;
    uint64_t n;
    uint32_t v;

    if (max == 0 || max > SQLITEVER_TEXT_MAX)
        max = SQLITEVER_TEXT_MAX;
    if (off >= e->len)
        return false;
    n = e->len - off < max ? e->len - off : max;
    p = elf_bytes(e, off, n);
    if (!p)
        return false;
    nul = memchr(p, '\0', (size_t)n);
    if (!nul || !sqlitever_parse_n((const char *)p, (size_t)(nul - p), &v))
        return false;
    out->version = v;
    memcpy(out->text, p, (size_t)(nul - p) + 1);
    return true;
}

/* A defined data symbol sqlite3_version -> its string. */
static bool use_symbol(const struct elf *e, const struct sym *s, struct elfver_info *out)
{
    struct shdr sh;
    uint64_t off;

    if (!maybe_version_symbol(s))
        return false;
    if (e->type == ET_REL) {
        /* Relocatable object: st_value is an offset into its section. */
        if (s->shndx >= SHN_LORESERVE || !elf_shdr(e, s->shndx, &sh) || sh.type == SHT_NOBITS ||
            s->value > UINT64_MAX - sh.offset)
            return false;
        return read_version_at(e, sh.offset + s->value, s->size, out);
    }
    if (vaddr_to_off(e, s->value, &off))
        return read_version_at(e, off, s->size, out);
    /* No usable program headers: go through the symbol's own section. */
    if (s->shndx < SHN_LORESERVE && elf_shdr(e, s->shndx, &sh) && sh.type != SHT_NOBITS &&
        s->value >= sh.addr && s->value - sh.addr < sh.size &&
        sh.offset <= UINT64_MAX - (s->value - sh.addr))
        return read_version_at(e, sh.offset + (s->value - sh.addr), s->size, out);
    return false;
}

/* ---- 1. section symbol tables ------------------------------------------------------------ */

static bool find_in_symtab(struct elf *e, uint32_t want_type, struct elfver_info *out)
{
    struct shdr sh, strsh;
    uint64_t i, j, symoff, symsize, stroff, strsize, ent;
    struct sym s;

    for (i = 0; i < e->shnum; i++) {
        if (!elf_shdr(e, i, &sh) || sh.type != want_type)
            continue;
        ent = sh.entsize ? sh.entsize : sym_entsize(e);
        if (ent < sym_entsize(e) || !section_span(e, &sh, &symoff, &symsize))
            continue;
        if (!elf_shdr(e, sh.link, &strsh) || !section_span(e, &strsh, &stroff, &strsize))
            continue;
        for (j = 0; j < symsize / ent; j++) {
            if (!spend(e, ent)) /* as many units as bytes of the table */
                return false;
            if (!elf_sym(e, symoff + j * ent, &s))
                break;
            if (maybe_version_symbol(&s) && name_is(e, stroff, strsize, s.name) &&
                use_symbol(e, &s, out)) {
                out->source = ELFVER_SRC_SYMTAB;
                return true;
            }
        }
    }
    return false;
}

/* ---- 2. PT_DYNAMIC ----------------------------------------------------------------------- */

struct dyninfo {
    uint64_t hash, gnu_hash, symtab, strtab, strsz, syment; /* file offsets / sizes */
};

/* gABI "Dynamic Section": d_tag, d_val pairs up to DT_NULL; the address tags are virtual
 * addresses, mapped to file offsets here. */
static bool read_dynamic(const struct elf *e, struct dyninfo *d)
{
    struct phdr ph;
    uint64_t i, j, ent = e->is64 ? 16u : 8u, tag, val, hash_va = 0, gnu_va = 0;
    uint64_t sym_va = 0, str_va = 0;

    memset(d, 0, sizeof(*d));
    for (i = 0; i < e->phnum; i++) {
        if (!elf_phdr(e, i, &ph) || ph.type != PT_DYNAMIC)
            continue;
        for (j = 0; j < ph.filesz / ent; j++) {
            uint64_t o = ph.offset + j * ent;

            /* d_tag is signed (Elf32_Sword/Elf64_Sxword), but every tag looked for is
             * positive, so it is compared unsigned, zero-extended. */
            if (o < ph.offset || !get_word(e, o, &tag) || !get_word(e, o + ent / 2, &val))
                break;
            if (tag == DT_NULL)
                break;
            switch (tag) {
            case DT_HASH:
                hash_va = val;
                break;
            case DT_GNU_HASH:
                gnu_va = val;
                break;
            case DT_SYMTAB:
                sym_va = val;
                break;
            case DT_STRTAB:
                str_va = val;
                break;
            case DT_STRSZ:
                d->strsz = val;
                break;
            case DT_SYMENT:
                d->syment = val;
                break;
            default:
                break;
            }
        }
        break;
    }
    if (!sym_va || !str_va || !vaddr_to_off(e, sym_va, &d->symtab) ||
        !vaddr_to_off(e, str_va, &d->strtab))
        return false;
    if (d->syment == 0)
        d->syment = sym_entsize(e);
    if (d->syment < sym_entsize(e))
        return false;
    if (d->strsz == 0 || d->strsz > e->len - d->strtab)
        d->strsz = e->len - d->strtab;
    if (hash_va && !vaddr_to_off(e, hash_va, &d->hash))
        d->hash = 0;
    if (gnu_va && !vaddr_to_off(e, gnu_va, &d->gnu_hash))
        d->gnu_hash = 0;
    return d->hash || d->gnu_hash;
}

static bool try_dynsym(const struct elf *e, const struct dyninfo *d, uint64_t idx,
                       struct elfver_info *out)
{
    struct sym s;

    if (idx > (UINT64_MAX - d->symtab) / d->syment)
        return false;
    if (!elf_sym(e, d->symtab + idx * d->syment, &s))
        return false;
    return maybe_version_symbol(&s) && name_is(e, d->strtab, d->strsz, s.name) &&
           use_symbol(e, &s, out);
}

/* GNU hash: h = h * 33 + c from 5381 (dl-lookup.c dl_new_hash). */
static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;

    for (; *s; s++)
        h = h * 33u + (unsigned char)*s;
    return h;
}

/* SysV hash (gABI "Hash Table", elf_hash). */
static uint32_t sysv_hash(const char *s)
{
    uint32_t h = 0, g;

    for (; *s; s++) {
        h = (h << 4) + (unsigned char)*s;
        g = h & 0xf0000000u;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

static bool lookup_gnu(const struct elf *e, const struct dyninfo *d, struct elfver_info *out)
{
    uint32_t nbuckets, symoffset, bloom_size, bucket, chainval, h = gnu_hash(sym_name), n;
    uint64_t o = d->gnu_hash, buckets, chain, idx;

    if (!get_u32(e, o, &nbuckets) || !get_u32(e, o + 4, &symoffset) ||
        !get_u32(e, o + 8, &bloom_size) || nbuckets == 0)
        return false;
    /* The bloom filter is only a shortcut; skip it. */
    buckets = o + 16 + (uint64_t)bloom_size * (e->is64 ? 8u : 4u);
    chain = buckets + (uint64_t)nbuckets * 4u;
    if (!get_u32(e, buckets + (uint64_t)(h % nbuckets) * 4u, &bucket) || bucket < symoffset)
        return false;
    for (n = 0, idx = bucket; n < MAX_CHAIN; n++, idx++) {
        if (!get_u32(e, chain + (idx - symoffset) * 4u, &chainval))
            return false;
        if ((chainval | 1u) == (h | 1u) && try_dynsym(e, d, idx, out))
            return true;
        if (chainval & 1u) /* the last entry of this bucket's chain */
            return false;
    }
    return false;
}

static bool lookup_sysv(const struct elf *e, const struct dyninfo *d, struct elfver_info *out)
{
    uint32_t nbucket, nchain, idx, n;
    uint64_t o = d->hash;

    if (!get_u32(e, o, &nbucket) || !get_u32(e, o + 4, &nchain) || nbucket == 0)
        return false;
    if (!get_u32(e, o + 8 + (uint64_t)(sysv_hash(sym_name) % nbucket) * 4u, &idx))
        return false;
    for (n = 0; idx != 0 && n < MAX_CHAIN && idx < nchain; n++) {
        if (try_dynsym(e, d, idx, out))
            return true;
        if (!get_u32(e, o + 8 + (uint64_t)nbucket * 4u + (uint64_t)idx * 4u, &idx))
            return false;
    }
    return false;
}

static bool find_in_dynamic(const struct elf *e, struct elfver_info *out)
{
    struct dyninfo d;

    if (!read_dynamic(e, &d))
        return false;
    if ((d.gnu_hash && lookup_gnu(e, &d, out)) || (d.hash && lookup_sysv(e, &d, out))) {
        out->source = ELFVER_SRC_DYNAMIC;
        return true;
    }
    return false;
}

/* ---- 3. the source id scan --------------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static bool is_lower_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z');
}

/*
 * SQLITE_SOURCE_ID at p (sqlite3.h): "YYYY-MM-DD HH:MM:SS " then a SHA1 (40) or SHA3-256
 * (64) hash in lower-case hex, NUL-terminated; "if the source code has been edited ... the
 * last four hexadecimal digits of the hash may be modified" (Debian's 3.40.1 ends in
 * "alt1"), so those four may be any lower-case letter or digit.
 */
static bool is_source_id(const unsigned char *p, size_t avail)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd ";
    size_t i, h;

    if (avail < sizeof(shape) - 1 + 40 + 1)
        return false;
    for (i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !is_digit(p[i]) : p[i] != (unsigned char)shape[i])
            return false;
    }
    p += i;
    avail -= i;
    for (h = 0; h < avail && h <= 64 && is_lower_alnum(p[h]); h++)
        ;
    if ((h != 40 && h != 64) || h >= avail || p[h] != '\0')
        return false;
    for (i = 0; i + 4 < h; i++) {
        if (!is_hex(p[i]))
            return false;
    }
    return true;
}

/* A version string candidate at p: "3.Y.Z" (or "3.Y.Z.W") NUL-terminated, with no printable
 * byte just before it (so "13.4.5" or "v3.4.5" are not taken). */
static bool is_version_at(const unsigned char *start, const unsigned char *p,
                          const unsigned char *end, uint32_t *v)
{
    const unsigned char *nul;
    size_t n = (size_t)(end - p) < SQLITEVER_TEXT_MAX ? (size_t)(end - p) : SQLITEVER_TEXT_MAX;

    if (p[0] != '3' || p + 1 >= end || p[1] != '.')
        return false;
    if (p > start && p[-1] >= 0x20 && p[-1] < 0x7f)
        return false;
    nul = memchr(p, '\0', n);
    if (!nul)
        return false;
    return sqlitever_parse_n((const char *)p, (size_t)(nul - p), v) && *v / 1000000u == 3;
}

/* The nearest version string to the source id at id, within the window and region. */
static bool nearest_version(const unsigned char *r0, const unsigned char *r1,
                            const unsigned char *id, uint32_t *v, const unsigned char **at)
{
    const unsigned char *lo = (size_t)(id - r0) > ELFVER_SCAN_WINDOW ? id - ELFVER_SCAN_WINDOW : r0;
    const unsigned char *hi = (size_t)(r1 - id) > ELFVER_SCAN_WINDOW ? id + ELFVER_SCAN_WINDOW : r1;
    size_t d;
    uint32_t cand;

    /* Walk outwards: the first hit is the nearest. */
    for (d = 1; id - lo >= (ptrdiff_t)d || hi - id > (ptrdiff_t)d; d++) {
        if (hi - id > (ptrdiff_t)d && is_version_at(r0, id + d, r1, &cand)) {
            *v = cand;
            *at = id + d;
            return true;
        }
        if (id - lo >= (ptrdiff_t)d && is_version_at(r0, id - d, r1, &cand)) {
            *v = cand;
            *at = id - d;
            return true;
        }
    }
    return false;
}

/*
 * Looks at the source ids whose first '-' lies in v[from..stop) (v: the bytes of the object
 * from some offset on, n of them, the region's bytes within ELFVER_SCAN_WINDOW and more of
 * any such '-'); keeps the oldest version paired with one. *next: where the search goes on,
 * relative to v (past stop when a source id reaches beyond it). False when the work budget
 * ran out: the rest of the region is not looked at.
 */
static bool scan_span(struct elf *e, const unsigned char *v, size_t n, size_t from, size_t stop,
                      size_t *next, struct elfver_info *best)
{
    const unsigned char *r1 = v + n, *p = v + from, *end = v + stop, *dash, *id, *at;
    uint32_t version;

    while (p < end && (dash = memchr(p, '-', (size_t)(end - p))) != NULL) {
        p = dash + 1;
        /* The first '-' of a source id is its fifth byte. */
        if (dash - v < 4)
            continue;
        id = dash - 4;
        if (!is_source_id(id, (size_t)(r1 - id)))
            continue;
        if (!spend(e, 2 * ELFVER_SCAN_WINDOW))
            return false;
        if (nearest_version(v, r1, id, &version, &at) &&
            (best->version == 0 || version < best->version)) {
            /* is_version_at() saw the NUL within SQLITEVER_TEXT_MAX bytes. */
            size_t len = strnlen((const char *)at, SQLITEVER_TEXT_MAX - 1);

            best->version = version;
            memcpy(best->text, at, len);
            best->text[len] = '\0';
        }
        p = id + 20; /* past the date; the hash holds no '-' */
    }
    *next = p > end ? (size_t)(p - v) : stop;
    return true;
}

/*
 * Scans one region. In memory, in one piece. From a file, SCAN_CHUNK bytes at a time, each
 * read with SCAN_MARGIN bytes on either side (clipped to the region): every look-around of
 * scan_span() (ELFVER_SCAN_WINDOW either side of a source id, plus its own length, the
 * version string and the byte before that) stays inside the margins, and a margin that is
 * clipped is the region's own edge, so the result is the same as in one piece.
 */
static void scan_region(struct elf *e, uint64_t off, uint64_t size, struct elfver_info *best)
{
    uint64_t end = off + size, chunk = e->rd ? SCAN_CHUNK : size, c, ce, lo, hi, next = off;
    const unsigned char *v;
    size_t rel;

    if (!spend(e, size))
        return;
    for (c = off; c < end; c = ce) {
        ce = end - c > chunk ? c + chunk : end;
        if (next >= ce)
            continue; /* a source id reached over this whole chunk */
        lo = c - off > SCAN_MARGIN ? c - SCAN_MARGIN : off;
        hi = end - ce > SCAN_MARGIN ? ce + SCAN_MARGIN : end;
        v = elf_span(e, lo, hi - lo);
        if (!v || !scan_span(e, v, (size_t)(hi - lo), (size_t)((next > c ? next : c) - lo),
                             (size_t)(ce - lo), &rel, best))
            return;
        next = lo + rel;
    }
}

/*
 * Read-only data: with section headers, the allocated, non-writable, non-executable
 * PROGBITS sections (.rodata and friends); without them, the non-writable PT_LOAD
 * segments; without those, the whole buffer.
 */
static bool find_by_source_id(struct elf *e, struct elfver_info *out)
{
    struct elfver_info best;
    struct shdr sh;
    struct phdr ph;
    uint64_t i, off, size;
    unsigned regions = 0;

    memset(&best, 0, sizeof(best));
    for (i = 0; i < e->shnum; i++) {
        if (!elf_shdr(e, i, &sh) || sh.type != SHT_PROGBITS || !(sh.flags & SHF_ALLOC) ||
            (sh.flags & (SHF_WRITE | SHF_EXECINSTR)) || !section_span(e, &sh, &off, &size))
            continue;
        regions++;
        scan_region(e, off, size, &best);
    }
    for (i = 0; regions == 0 && i < e->phnum; i++) {
        if (!elf_phdr(e, i, &ph) || ph.type != PT_LOAD || (ph.flags & PF_W) || ph.offset > e->len)
            continue;
        size = ph.filesz <= e->len - ph.offset ? ph.filesz : e->len - ph.offset;
        scan_region(e, ph.offset, size, &best);
    }
    if (regions == 0 && e->phnum == 0)
        scan_region(e, 0, e->len, &best);
    if (best.version == 0)
        return false;
    best.source = ELFVER_SRC_SOURCE_ID;
    *out = best;
    return true;
}

/* ---- public ------------------------------------------------------------------------------ */

/* The three ways in order, over an object opened by elf_open(). */
static enum elfver_result parse_object(struct elf *e, struct elfver_info *out)
{
    if (find_in_symtab(e, SHT_DYNSYM, out) || find_in_symtab(e, SHT_SYMTAB, out) ||
        find_in_dynamic(e, out) || find_by_source_id(e, out))
        return ELFVER_FOUND;
    memset(out, 0, sizeof(*out));
    return ELFVER_NOT_FOUND;
}

enum elfver_result elfver_parse(const unsigned char *buf, size_t len, struct elfver_info *out)
{
    struct elf e;

    memset(out, 0, sizeof(*out));
    if (!elf_open(&e, buf, NULL, len))
        return ELFVER_NOT_ELF;
    return parse_object(&e, out);
}

const char *elfver_result_str(enum elfver_result r)
{
    switch (r) {
    case ELFVER_FOUND:
        return "found";
    case ELFVER_NOT_FOUND:
        return "not_found";
    case ELFVER_NOT_ELF:
        return "not_elf";
    case ELFVER_ERROR:
        return "error";
    }
    return "unknown";
}

const char *elfver_source_str(enum elfver_source s)
{
    switch (s) {
    case ELFVER_SRC_NONE:
        return "none";
    case ELFVER_SRC_SYMTAB:
        return "symtab";
    case ELFVER_SRC_DYNAMIC:
        return "dynamic";
    case ELFVER_SRC_SOURCE_ID:
        return "source_id";
    }
    return "unknown";
}

/* ---- file wrapper and cache -------------------------------------------------------------- */

struct cache_entry {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
    enum elfver_result result;
    struct elfver_info info;
};

struct elfver_cache {
    struct cache_entry *e;
    size_t cap, n, next; /* next: the slot the clock hand replaces when full */
    uint64_t max_file;
    struct elfver_cache_stats st;
};

struct elfver_cache *elfver_cache_new(size_t capacity, uint64_t max_file)
{
    struct elfver_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->cap = capacity ? capacity : 256;
    c->max_file = max_file ? max_file : ELFVER_DEFAULT_MAX_FILE;
    c->e = calloc(c->cap, sizeof(*c->e));
    if (!c->e) {
        free(c);
        return NULL;
    }
    return c;
}

void elfver_cache_free(struct elfver_cache *c)
{
    if (!c)
        return;
    free(c->e);
    free(c);
}

void elfver_cache_get_stats(const struct elfver_cache *c, struct elfver_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    *out = c->st;
    out->entries = c->n;
}

static bool same_file(const struct cache_entry *ce, const struct stat *st)
{
    return ce->dev == st->st_dev && ce->ino == st->st_ino && ce->size == st->st_size &&
           ce->mtime.tv_sec == st->st_mtim.tv_sec && ce->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void cache_put(struct elfver_cache *c, const struct stat *st, enum elfver_result r,
                      const struct elfver_info *info)
{
    struct cache_entry *ce;

    if (c->n < c->cap) {
        ce = &c->e[c->n++];
    } else {
        ce = &c->e[c->next];
        c->next = (c->next + 1) % c->cap;
        c->st.evictions++;
    }
    ce->dev = st->st_dev;
    ce->ino = st->st_ino;
    ce->mtime = st->st_mtim;
    ce->size = st->st_size;
    ce->result = r;
    ce->info = *info;
}

/*
 * Parses the object behind fd, size bytes long, through a reader (never a mapping: see the
 * top of this file). ELFVER_ERROR, with errno, when a buffer cannot be allocated, a read
 * fails or comes back short (ESTALE: the file shrank), or the file's size or mtime changed
 * by the end (ESTALE: it was rewritten under us, and what was read may mix two versions).
 */
static enum elfver_result read_object(int fd, const struct stat *st, struct elfver_info *out)
{
    enum elfver_result r = ELFVER_ERROR;
    struct reader rd;
    struct stat after;
    struct elf e;
    size_t i;

    memset(&rd, 0, sizeof(rd));
    rd.fd = fd;
    rd.mem = malloc((size_t)NBLOCKS * (BLOCK_SIZE + BLOCK_TAIL) + SCAN_BUF);
    if (!rd.mem)
        goto out; /* errno ENOMEM from malloc */
    for (i = 0; i < NBLOCKS; i++)
        rd.blk[i].b = rd.mem + i * (BLOCK_SIZE + BLOCK_TAIL);
    rd.scan = rd.mem + (size_t)NBLOCKS * (BLOCK_SIZE + BLOCK_TAIL);
    r = elf_open(&e, NULL, &rd, (size_t)st->st_size) ? parse_object(&e, out) : ELFVER_NOT_ELF;
    if (!rd.err && fstat(fd, &after) == 0 &&
        (after.st_size != st->st_size || after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
         after.st_mtim.tv_nsec != st->st_mtim.tv_nsec))
        rd.err = ESTALE;
    if (rd.err) {
        memset(out, 0, sizeof(*out));
        errno = rd.err;
        r = ELFVER_ERROR;
    }
out:
    free(rd.mem);
    return r;
}

enum elfver_result elfver_fd(struct elfver_cache *c, int fd, struct elfver_info *out)
{
    uint64_t max_file = c ? c->max_file : ELFVER_DEFAULT_MAX_FILE;
    unsigned char ident[4];
    enum elfver_result r;
    struct stat st;
    ssize_t got;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (fstat(fd, &st) != 0)
        return ELFVER_ERROR;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return ELFVER_ERROR;
    }
    for (i = 0; c && i < c->n; i++) {
        if (same_file(&c->e[i], &st)) {
            c->st.hits++;
            *out = c->e[i].info;
            return c->e[i].result;
        }
    }
    if ((uint64_t)st.st_size > max_file || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        errno = EFBIG;
        return ELFVER_ERROR;
    }
    /* Look first: of whatever is not ELF (a database, say) no more than this is read. */
    got = st.st_size < (off_t)sizeof(ident) ? 0 : pread(fd, ident, sizeof(ident), 0);
    if (got < 0)
        return ELFVER_ERROR;
    if (got != (ssize_t)sizeof(ident) || memcmp(ident, "\177ELF", 4) != 0) {
        r = ELFVER_NOT_ELF;
    } else {
        r = read_object(fd, &st, out);
        if (r == ELFVER_ERROR)
            return r;
    }
    if (c) {
        c->st.misses++;
        cache_put(c, &st, r, out);
    }
    return r;
}

enum elfver_result elfver_path(struct elfver_cache *c, const char *path, struct elfver_info *out)
{
    enum elfver_result r;
    int fd, saved;

    memset(out, 0, sizeof(*out));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return ELFVER_ERROR;
    r = elfver_fd(c, fd, out);
    saved = errno;
    close(fd);
    errno = saved;
    return r;
}
