/*
 * elfver.h: the SQLite version inside an ELF object (a libsqlite3.so, or a program or module
 * that links SQLite statically), found without loading or running it.
 *
 * In order:
 *   1. the defined symbol "sqlite3_version" (sqlite3.h: "The sqlite3_version[] string
 *      constant contains the text of [SQLITE_VERSION]") in a symbol table found through the
 *      section headers (.dynsym first, then .symtab of unstripped programs);
 *   2. the same symbol through PT_DYNAMIC (DT_GNU_HASH or DT_HASH, DT_SYMTAB, DT_STRTAB), as
 *      the dynamic loader finds it, for objects whose section headers are gone or broken;
 *   3. the text near SQLITE_SOURCE_ID in read-only data: the source id
 *      "YYYY-MM-DD HH:MM:SS <40 or 64 hash characters>" (sqlite3.h, SQLITE_SOURCE_ID) and,
 *      within ELFVER_SCAN_WINDOW bytes of it, a NUL-terminated "3.Y.Z" that no printable byte
 *      precedes; the nearest such string wins. Without a source id nothing matches, so a
 *      stray "3.1.4" in some unrelated program is never taken for SQLite.
 * When an object holds more than one SQLite (two source ids), the oldest version found is
 * reported: that is the one that could corrupt a database.
 */
#ifndef SQLITE_AGENT_ELFVER_H
#define SQLITE_AGENT_ELFVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sqlitever.h"

/* Distance (bytes, either side) from a source id to the version string it may pair with.
 * Debian's libsqlite3.so.0 (3.40.1) and a program linked with its libsqlite3.a both put
 * the two 0x738..0x750 bytes apart. */
#define ELFVER_SCAN_WINDOW (64 * 1024)

/* Default cap on the size of an object file the wrapper will read. */
#define ELFVER_DEFAULT_MAX_FILE (512u * 1024u * 1024u)

enum elfver_result {
    ELFVER_FOUND = 0,
    ELFVER_NOT_FOUND, /* an ELF object without a recognisable SQLite version */
    ELFVER_NOT_ELF,   /* no ELF magic, unknown class or byte order, or shorter than a header */
    ELFVER_ERROR,     /* file wrapper only: open/stat/read failed, not a regular file,
                       * bigger than the cap, or changed while read (ESTALE); errno says
                       * which */
};

enum elfver_source {
    ELFVER_SRC_NONE = 0,
    ELFVER_SRC_SYMTAB,    /* a section symbol table (.dynsym or .symtab) */
    ELFVER_SRC_DYNAMIC,   /* PT_DYNAMIC and its hash table */
    ELFVER_SRC_SOURCE_ID, /* the scan of read-only data near SQLITE_SOURCE_ID */
};

struct elfver_info {
    uint32_t version; /* SQLITE_VERSION_NUMBER form; 0 unless ELFVER_FOUND */
    enum elfver_source source;
    char text[SQLITEVER_TEXT_MAX]; /* the string as stored, e.g. "3.40.1" */
};

/* Pure parser over a byte buffer: no I/O, no allocation. Any input is safe: every read is
 * bounds-checked, and the work done is bounded by a budget linear in len (a crafted object
 * gets ELFVER_NOT_FOUND, not minutes of CPU). */
enum elfver_result elfver_parse(const unsigned char *buf, size_t len, struct elfver_info *out);

const char *elfver_result_str(enum elfver_result r);
const char *elfver_source_str(enum elfver_source s);

/*
 * File wrapper with a cache keyed by (st_dev, st_ino, st_mtime, st_size), so that one
 * library shared by a hundred processes is read once, and again only when replaced. Results
 * ELFVER_FOUND, ELFVER_NOT_FOUND and ELFVER_NOT_ELF are cached; errors are not. Not
 * thread-safe: one cache per thread.
 */
struct elfver_cache;

struct elfver_cache_stats {
    uint64_t hits;
    uint64_t misses; /* objects actually read */
    uint64_t evictions;
    size_t entries;
};

/* capacity: entries kept (0 means 256). max_file: the size cap (0 means
 * ELFVER_DEFAULT_MAX_FILE). NULL when out of memory. */
struct elfver_cache *elfver_cache_new(size_t capacity, uint64_t max_file);
void elfver_cache_free(struct elfver_cache *c); /* accepts NULL */
void elfver_cache_get_stats(const struct elfver_cache *c, struct elfver_cache_stats *out);

/* Reads the object behind an open descriptor (the caller keeps fd): fstat, then the cache,
 * else pread() into about 2 MiB of buffers, whatever the size (at most the cap). Never
 * mapped: a mapped file truncated by its owner while being parsed would raise SIGBUS. A
 * file that shrinks or changes while read gives ELFVER_ERROR (ESTALE), not cached. c may be
 * NULL (no cache; the cap is then ELFVER_DEFAULT_MAX_FILE). */
enum elfver_result elfver_fd(struct elfver_cache *c, int fd, struct elfver_info *out);

/* open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), elfver_fd, close. */
enum elfver_result elfver_path(struct elfver_cache *c, const char *path, struct elfver_info *out);

#endif
