/*
 * buf.h: a growing byte buffer with a hard cap (after curl's dynbuf).
 *
 * Anything built from outside input goes through one of these: an append that would pass the
 * cap fails, marks the buffer as overflowed, and every later append fails too, so a caller may
 * append freely and check once at the end.
 */
#ifndef SQLITE_AGENT_BUF_H
#define SQLITE_AGENT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
    bool failed;
};

void buf_init(struct buf *b, size_t max);
void buf_reset(struct buf *b); /* len = 0, keeps the memory, clears failed */
void buf_free(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n); /* 0, or -1 */
/* Room for n more bytes now, so that appends up to them do not reallocate (and copy). 0, or -1
 * (past the cap: the buffer is then failed, as an append would leave it). */
int buf_reserve(struct buf *b, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
