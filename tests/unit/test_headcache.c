/*
 * test_headcache.c: the reuse rule of headcache.h, case by case over plain stat records; then
 * on a real file, the kernel facts it rests on: a write stamps mtime and ctime, and putting an
 * old mtime back (utimensat, as cp -p does) still moves ctime.
 */
#include "headcache.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEC INT64_C(1000000000)

static struct stat file_at(int64_t mtime_ns, int64_t ctime_ns, off_t size)
{
    struct stat st;

    memset(&st, 0, sizeof(st));
    st.st_mode = S_IFREG | 0644;
    st.st_dev = 8;
    st.st_ino = 42;
    st.st_size = size;
    st.st_mtim.tv_sec = mtime_ns / SEC;
    st.st_mtim.tv_nsec = mtime_ns % SEC;
    st.st_ctim.tv_sec = ctime_ns / SEC;
    st.st_ctim.tv_nsec = ctime_ns % SEC;
    return st;
}

enum change { SAME, OTHER_SIZE, OTHER_MTIME, OTHER_CTIME, OTHER_INODE, OTHER_DEVICE, A_FIFO };

struct reuse_case {
    const char *name;
    int64_t read_after_ns; /* the read began this long after the file's stamps */
    enum change change;    /* what the lstat now shows differently */
    bool fresh;
};

static const struct reuse_case cases[] = {
    {"settled and unchanged", 10 * SEC, SAME, true},
    {"just past the settle time", 3 * SEC + 1, SAME, true},
    {"read at the settle time: a later write may share the stamp", 3 * SEC, SAME, false},
    {"read right after a write", 1000, SAME, false},
    {"read before the stamp (clock stepped back)", -5 * SEC, SAME, false},
    {"grown", 10 * SEC, OTHER_SIZE, false},
    {"written in place", 10 * SEC, OTHER_MTIME, false},
    {"old mtime put back", 10 * SEC, OTHER_CTIME, false},
    {"replaced by another file", 10 * SEC, OTHER_INODE, false},
    {"another filesystem", 10 * SEC, OTHER_DEVICE, false},
    {"no longer a regular file", 10 * SEC, A_FIFO, false},
};

Test(headcache, reuse_rule)
{
    const int64_t stamp = 1764633600 * SEC + 123456789;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct reuse_case *c = &cases[i];
        struct stat then = file_at(stamp, stamp, 4096), now = then;
        struct headcache hc;

        headcache_forget(&hc);
        headcache_note_read(&hc, &then, stamp + c->read_after_ns, 100);
        switch (c->change) {
        case SAME:
            break;
        case OTHER_SIZE:
            now.st_size += 4096;
            break;
        case OTHER_MTIME:
            now.st_mtim.tv_nsec += 1;
            break;
        case OTHER_CTIME:
            now.st_ctim.tv_sec += 20;
            break;
        case OTHER_INODE:
            now.st_ino++;
            break;
        case OTHER_DEVICE:
            now.st_dev++;
            break;
        case A_FIFO:
            now.st_mode = S_IFIFO | 0644;
            break;
        }
        cr_expect_eq(headcache_fresh(&hc, &now), c->fresh, "%s", c->name);
        cr_expect_eq(hc.len, 100, "%s", c->name);
        headcache_forget(&hc);
        cr_expect(!headcache_fresh(&hc, &then), "%s: forgotten", c->name);
    }
}

static int64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

Test(headcache, real_file_stamps)
{
    char dir[] = "/tmp/sqlite-agent-headcache-XXXXXX", path[64];
    struct stat then, now;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/db", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "SQLite format 3", 16, 0), 16);
    cr_assert_eq(fstat(fd, &then), 0);

    /* Read now: its stamps are too recent to trust. */
    struct headcache hc;
    headcache_note_read(&hc, &then, wall_ns(), 16);
    cr_expect(!hc.valid);

    /* Read (as if) later: fresh while nothing changes. */
    headcache_note_read(&hc, &then, wall_ns() + 4 * SEC, 16);
    cr_assert_eq(lstat(path, &now), 0);
    cr_expect(headcache_fresh(&hc, &now));

    /* A write in place of the same size, then its old mtime put back: ctime still moved. Wait
     * out the coarse clock's tick first, so that ctime can differ at all. */
    struct timespec tick = {0, 20 * 1000 * 1000};
    nanosleep(&tick, NULL);
    cr_assert_eq(pwrite(fd, "SQLite format 4", 16, 0), 16);
    struct timespec times[2] = {then.st_atim, then.st_mtim};
    cr_assert_eq(futimens(fd, times), 0);
    cr_assert_eq(lstat(path, &now), 0);
    cr_expect_eq(now.st_mtim.tv_sec, then.st_mtim.tv_sec);
    cr_expect_eq(now.st_mtim.tv_nsec, then.st_mtim.tv_nsec);
    cr_expect(!headcache_fresh(&hc, &now), "ctime must tell the write");
    close(fd);
    cr_expect_eq(unlink(path), 0);
    cr_expect_eq(rmdir(dir), 0);
}
