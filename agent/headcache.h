/*
 * headcache.h: when a file's header, read before, can be taken again without reading it.
 *
 * A sampling pass over 10,000 databases, most of them idle, spent most of its time opening,
 * reading and closing files that had not changed since the pass before (issue 10). A header
 * read at wall time R is reused, instead of open + fstat + pread + close, when an lstat now
 * finds the same file (device and inode), size, mtime and ctime as that read did, and that
 * mtime and ctime were both older than R by HEADCACHE_SETTLE_NS.
 *
 * The second condition is git's rule for "racily clean" index entries: the kernel stamps a
 * write with a coarse clock, up to a tick behind CLOCK_REALTIME (current_time(), from
 * ktime_get_coarse_real_ts64), truncated to the filesystem's granularity (1 s for ext4 inodes
 * of 128 bytes, 2 s on FAT), so a write just after the read may leave every field of the lstat
 * as it was. 3 s covers both. ctime as well as mtime, because utimensat(2) (touch -r, cp -p,
 * rsync -t) can put an old mtime back but always sets ctime to now.
 *
 * It holds for the files SQLite changes with write(2) and ftruncate(2), which stamp both: the
 * database file (os_unix.c, unixWrite and unixTruncate) and the -wal (wal.c writes frames and
 * its header with sqlite3OsWrite). Not for the -shm, which SQLite changes through its mapping
 * (os_unix.c, unixShmMap) without a stamp, and whose header is the WAL-reset race's trace:
 * the caller reads it every time. A build with SQLITE_MMAP_READWRITE writes the database
 * through its mapping too, and the kernel stamps that only at a page's first write after
 * writeback: so the caller still reads every file in full every HEADCACHE_REFRESH_EVERY
 * samples. And never on a network filesystem: its timestamps come from another machine's
 * clock (the caller decides, from fsclass.h).
 *
 * Pure: plain data in, a verdict out.
 */
#ifndef SQLITE_AGENT_HEADCACHE_H
#define SQLITE_AGENT_HEADCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define HEADCACHE_SETTLE_NS (3 * INT64_C(1000000000))
/* A file is read in full at least once every this many samples whatever its lstat says; the
 * caller spreads these over the fleet (1/16 of the databases each pass). */
#define HEADCACHE_REFRESH_EVERY 16

struct headcache {
    bool valid;  /* the last read's header may be reused while fresh */
    uint8_t len; /* bytes of the header the caller kept */
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
};

/* After a read that began at read_wall_ns (CLOCK_REALTIME) of len header bytes from the file
 * whose fstat is st: remembers it, valid only when its stamps had settled by then. */
void headcache_note_read(struct headcache *c, const struct stat *st, int64_t read_wall_ns,
                         size_t len);

/* Whether the header last read may stand for the file whose lstat is now. */
bool headcache_fresh(const struct headcache *c, const struct stat *now);

/* Forget it (the file is gone, refused, or unreadable). */
void headcache_forget(struct headcache *c);

#endif
