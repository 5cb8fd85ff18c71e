/*
 * buf.h: a growing byte buffer with a hard cap (after curl's dynbuf).
 *
 * Anything built from outside input goes through one of these: an append that would pass the
 * cap fails, marks the buffer as overflowed, and every later append fails too, so a caller may
 * append freely and check once at the end.
 *
 * A buffer with a sink (buf_set_sink) streams: when an append needs more room than its chunk
 * holds, what is buffered goes to the sink and the buffer starts again from empty, so a writer
 * that only appends (metrics.c) can produce more than it ever holds at once. The cap then
 * bounds everything appended, sunk or not.
 */
#ifndef SQLITE_AGENT_BUF_H
#define SQLITE_AGENT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len (with a sink: on drained + len) */
    bool failed;
    /* With a sink: bytes already handed to it, the sink, and the chunk it is given at most
     * (an append larger than the chunk grows the buffer and goes whole). */
    size_t drained;
    int (*sink)(void *arg, const void *p, size_t n); /* 0, or -1: the buffer fails */
    void *sink_arg;
    size_t chunk;
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
/* Makes b (empty, just initialised) stream to sink in pieces of about chunk bytes (at least 1). */
void buf_set_sink(struct buf *b, size_t chunk, int (*sink)(void *arg, const void *p, size_t n),
                  void *arg);
/* Hands what is buffered to the sink now, as at the end of a stream: 0, or -1 (b failed, or
 * the sink refused). b->drained is then everything appended. */
int buf_drain(struct buf *b);

#endif
