/* headcache.c: the reuse rule of headcache.h. */
#include "headcache.h"

#include <string.h>

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

void headcache_note_read(struct headcache *c, const struct stat *st, int64_t read_wall_ns,
                         size_t len)
{
    c->dev = st->st_dev;
    c->ino = st->st_ino;
    c->size = st->st_size;
    c->mtime_ns = ns_of(&st->st_mtim);
    c->ctime_ns = ns_of(&st->st_ctim);
    c->len = (uint8_t)(len < UINT8_MAX ? len : UINT8_MAX);
    /* A stamp within the settle time of the read may be shared by a write after it. */
    c->valid = len < UINT8_MAX && c->mtime_ns < read_wall_ns - HEADCACHE_SETTLE_NS &&
               c->ctime_ns < read_wall_ns - HEADCACHE_SETTLE_NS;
}

bool headcache_fresh(const struct headcache *c, const struct stat *now)
{
    return c->valid && S_ISREG(now->st_mode) && now->st_dev == c->dev && now->st_ino == c->ino &&
           now->st_size == c->size && ns_of(&now->st_mtim) == c->mtime_ns &&
           ns_of(&now->st_ctim) == c->ctime_ns;
}

void headcache_forget(struct headcache *c)
{
    memset(c, 0, sizeof(*c));
}
