/*
 * buf.c: a growing byte buffer with a hard cap (after curl's lib/dynbuf.c).
 *
 * b->cap is the size of the allocation, which always leaves room for the terminating NUL, so
 * b->len never exceeds b->max and b->cap never exceeds b->max + 1. Any failure (cap passed,
 * out of memory, bad format) sets b->failed and every later append fails until buf_reset().
 */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 256

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = false;
    b->drained = 0;
    b->sink = NULL;
    b->sink_arg = NULL;
    b->chunk = 0;
}

void buf_set_sink(struct buf *b, size_t chunk, int (*sink)(void *arg, const void *p, size_t n),
                  void *arg)
{
    b->sink = sink;
    b->sink_arg = arg;
    b->chunk = chunk ? chunk : 1;
}

int buf_drain(struct buf *b)
{
    if (b->failed)
        return -1;
    if (b->sink == NULL || b->len == 0)
        return 0;
    if (b->sink(b->sink_arg, b->data, b->len) != 0) {
        b->failed = true;
        return -1;
    }
    b->drained += b->len;
    b->len = 0;
    b->data[0] = '\0';
    return 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->drained = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->drained = 0;
    b->failed = false;
}

/* Makes room for n more bytes plus the NUL. Returns 0, or -1 after marking b failed. */
int buf_reserve(struct buf *b, size_t n)
{
    size_t need, want;
    char *p;

    if (b->failed)
        return -1;
    if (n > b->max - b->drained - b->len) { /* drained + len <= max always */
        b->failed = true;
        return -1;
    }
    need = b->len + n + 1; /* cannot wrap: len + n <= max, and max + 1 is checked below */
    if (need == 0) {
        b->failed = true;
        return -1;
    }
    if (need <= b->cap)
        return 0;
    /* A stream makes room by handing on what it holds before it grows. */
    if (b->sink != NULL && b->len > 0) {
        if (buf_drain(b) != 0)
            return -1;
        need = n + 1;
        if (need <= b->cap)
            return 0;
    }
    /* Double, as dynbuf does, but never allocate past what the cap can ever use. */
    want = b->cap ? b->cap : b->sink != NULL ? b->chunk : BUF_MIN_ALLOC;
    while (want < need && want <= SIZE_MAX / 2)
        want *= 2;
    if (want < need)
        want = need;
    if (want - 1 > b->max)
        want = b->max + 1;
    p = realloc(b->data, want);
    if (!p) {
        b->failed = true;
        return -1;
    }
    b->data = p;
    b->cap = want;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    size_t room;

    if (b->failed)
        return -1;
    /* First try into whatever room is already there; most calls fit. A stream's room is
     * also bounded by what the cap leaves after the bytes already sunk. */
    room = b->cap > b->len ? b->cap - b->len : 0;
    if (room > b->max - b->drained - b->len + 1)
        room = b->max - b->drained - b->len + 1;
    va_start(ap, fmt);
    n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        goto fail;
    }
    if ((size_t)n < room) {
        /* Fitting in the room means fitting under the cap: room <= max - drained - len + 1. */
        b->len += (size_t)n;
        return 0;
    }
    if (buf_reserve(b, (size_t)n) != 0)
        goto fail;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        goto fail;
    }
    b->len += (size_t)n;
    return 0;
fail:
    if (b->data)
        b->data[b->len] = '\0';
    return -1;
}
