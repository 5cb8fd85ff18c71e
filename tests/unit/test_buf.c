/*
 * test_buf.c: the capped buffer. Each case is a script of operations with the return code each
 * must give; the loop replays the successful ones on a plain array and compares, and checks the
 * invariants (len <= max, allocation <= max + 1, NUL-terminated) after every step.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

enum op_kind { OP_END = 0, OP_PUTS, OP_APPEND, OP_PRINTF, OP_FILL, OP_RESET };

/*
 * OP_PUTS:   buf_puts(b, s)
 * OP_APPEND: buf_append(b, s, n)             (n may be shorter than s, or absurdly large)
 * OP_PRINTF: buf_printf(b, "%s%*d", s, n, 7) (s, then 7 right-aligned in n columns)
 * OP_FILL:   buf_puts(b, s) n times; rc is the last call's
 * OP_RESET:  buf_reset(b)
 */
struct op {
    enum op_kind kind;
    const char *s;
    size_t n;
    int rc;
};

struct buf_case {
    const char *name;
    size_t max;
    struct op ops[6];
    bool failed; /* expected at the end */
};

static const struct buf_case cases[] = {
    {"empty append allocates nothing visible", 10, {{OP_APPEND, "", 0, 0}}, false},
    {"max zero takes only empty appends", 0, {{OP_PUTS, "", 0, 0}, {OP_PUTS, "a", 0, -1}}, true},
    {"cap exactly hit", 5, {{OP_PUTS, "abc", 0, 0}, {OP_PUTS, "de", 0, 0}}, false},
    {"cap exactly hit in one append", 5, {{OP_PUTS, "abcde", 0, 0}}, false},
    {"cap passed by one byte fails and sticks",
     5,
     {{OP_PUTS, "abc", 0, 0}, {OP_PUTS, "def", 0, -1}, {OP_PUTS, "d", 0, -1}, {OP_PUTS, "", 0, -1}},
     true},
    {"first append too big", 5, {{OP_PUTS, "abcdef", 0, -1}, {OP_PUTS, "a", 0, -1}}, true},
    {"partial append of n bytes",
     8,
     {{OP_APPEND, "abcdef", 3, 0}, {OP_APPEND, "xyz", 1, 0}},
     false},
    {"huge n fails without wrapping",
     8,
     {{OP_PUTS, "ab", 0, 0}, {OP_APPEND, "x", SIZE_MAX, -1}},
     true},
    {"printf small", 64, {{OP_PRINTF, "n=", 3, 0}, {OP_PRINTF, ",", 1, 0}}, false},
    {"printf exactly at cap", 6, {{OP_PRINTF, "ab", 4, 0}}, false},
    {"printf one past cap",
     6,
     {{OP_PUTS, "x", 0, 0}, {OP_PRINTF, "ab", 4, -1}, {OP_PUTS, "y", 0, -1}},
     true},
    {"printf grows past the first allocation",
     10000,
     {{OP_PUTS, "head", 0, 0}, {OP_PRINTF, "", 600, 0}, {OP_PRINTF, "t", 1, 0}},
     false},
    {"printf grows an allocated buffer",
     10000,
     {{OP_FILL, "0123456789", 20, 0}, {OP_PRINTF, "p", 300, 0}, {OP_PRINTF, "q", 2000, 0}},
     false},
    {"printf growth stops at the cap",
     1000,
     {{OP_PRINTF, "", 999, 0}, {OP_PRINTF, "", 2, -1}},
     true},
    {"many small appends grow", 100000, {{OP_FILL, "abc", 1000, 0}}, false},
    {"fill to exactly the cap", 30, {{OP_FILL, "abc", 10, 0}, {OP_PUTS, "", 0, 0}}, false},
    {"fill one past the cap", 29, {{OP_FILL, "abc", 10, -1}}, true},
    {"reset clears content and failure",
     4,
     {{OP_PUTS, "abc", 0, 0},
      {OP_PUTS, "de", 0, -1},
      {OP_RESET, NULL, 0, 0},
      {OP_PUTS, "wxyz", 0, 0}},
     false},
    {"reset then overflow again",
     4,
     {{OP_PUTS, "ab", 0, 0}, {OP_RESET, NULL, 0, 0}, {OP_PUTS, "abcde", 0, -1}},
     true},
};

/* What the buffer should hold, rebuilt without it. */
static char model[64 * 1024];
static size_t model_len;

static void model_add(const char *p, size_t n)
{
    cr_assert(model_len + n < sizeof model);
    memcpy(model + model_len, p, n);
    model_len += n;
}

static int apply(struct buf *b, const struct op *op)
{
    char tmp[4096];
    int rc = 0, n;
    size_t i;

    switch (op->kind) {
    case OP_PUTS:
        rc = buf_puts(b, op->s);
        if (rc == 0)
            model_add(op->s, strlen(op->s));
        break;
    case OP_APPEND:
        rc = buf_append(b, op->s, op->n);
        if (rc == 0)
            model_add(op->s, op->n);
        break;
    case OP_PRINTF:
        rc = buf_printf(b, "%s%*d", op->s, (int)op->n, 7);
        n = snprintf(tmp, sizeof tmp, "%s%*d", op->s, (int)op->n, 7);
        cr_assert(n > 0 && (size_t)n < sizeof tmp);
        if (rc == 0)
            model_add(tmp, (size_t)n);
        break;
    case OP_FILL:
        for (i = 0; i < op->n; i++) {
            rc = buf_puts(b, op->s);
            if (rc == 0)
                model_add(op->s, strlen(op->s));
        }
        break;
    case OP_RESET: {
        char *data = b->data;
        size_t cap = b->cap;

        buf_reset(b);
        model_len = 0;
        cr_expect_eq(b->data, data, "reset keeps the memory");
        cr_expect_eq(b->cap, cap, "reset keeps the allocation size");
        break;
    }
    case OP_END:
        break;
    }
    return rc;
}

Test(buf, scripts)
{
    size_t c, i;

    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct buf_case *tc = &cases[c];
        struct buf b;

        buf_init(&b, tc->max);
        model_len = 0;
        for (i = 0; i < 6 && tc->ops[i].kind != OP_END; i++) {
            int rc = apply(&b, &tc->ops[i]);

            cr_expect_eq(rc, tc->ops[i].rc, "%s: op %zu returned %d, want %d", tc->name, i, rc,
                         tc->ops[i].rc);
            cr_expect_leq(b.len, b.max, "%s: op %zu: len %zu > max", tc->name, i, b.len);
            cr_expect_leq(b.cap, b.max + 1, "%s: op %zu: allocated %zu > max + 1", tc->name, i,
                          b.cap);
            if (b.len > 0)
                cr_expect_eq(b.data[b.len], '\0', "%s: op %zu: not terminated", tc->name, i);
        }
        cr_expect_eq(b.failed, tc->failed, "%s: failed is %d", tc->name, b.failed);
        cr_expect_eq(b.len, model_len, "%s: len %zu, want %zu", tc->name, b.len, model_len);
        if (b.len == model_len && b.len > 0)
            cr_expect(memcmp(b.data, model, b.len) == 0, "%s: content differs", tc->name);
        buf_free(&b);
        cr_expect_null(b.data, "%s: buf_free leaves data set", tc->name);
        cr_expect_eq(b.len, 0);
    }
}

Test(buf, free_accepts_null_and_unused)
{
    struct buf b;

    buf_free(NULL);
    buf_init(&b, 16);
    buf_free(&b);
    buf_free(&b);
    cr_expect_null(b.data);
}

/* A stream (buf_set_sink): the same scripts, with what the sink took plus what is still held
 * compared against the model, the cap counting both. */
struct sink_case {
    const char *name;
    size_t max, chunk;
    size_t refuse_past; /* the sink refuses once it would hold more than this; 0: never */
    struct op ops[6];
    bool failed;     /* expected at the end, after buf_drain */
    size_t cap_most; /* the allocation never grows past this; 0: not checked */
};

static const struct sink_case sink_cases[] = {
    {"small appends stream through one chunk", 1000, 8, 0, {{OP_FILL, "abc", 100, 0}}, false, 8},
    {"the cap counts what was sunk", 10, 4, 0, {{OP_FILL, "abc", 4, -1}}, true, 0},
    {"printf is bounded by the cap after a drain",
     10,
     8,
     0,
     {{OP_PUTS, "abcdef", 0, 0},
      {OP_PUTS, "ghi", 0, 0},
      {OP_PRINTF, "", 1, 0},
      {OP_PRINTF, "", 1, -1}},
     true,
     0},
    {"an append past the chunk goes whole", 100, 4, 0, {{OP_PUTS, "abcdefghij", 0, 0}}, false, 0},
    {"printf past the chunk",
     1000,
     16,
     0,
     {{OP_PUTS, "x", 0, 0}, {OP_PRINTF, "p", 40, 0}},
     false,
     0},
    {"a refusing sink fails the buffer",
     100,
     4,
     5,
     {{OP_FILL, "abc", 5, -1}, {OP_PUTS, "z", 0, -1}},
     true,
     0},
};

static char sunk[64 * 1024];
static size_t sunk_len, sunk_refuse_past;

static int collect(void *arg, const void *p, size_t n)
{
    (void)arg;
    if ((sunk_refuse_past && sunk_len + n > sunk_refuse_past) || sunk_len + n > sizeof sunk)
        return -1;
    memcpy(sunk + sunk_len, p, n);
    sunk_len += n;
    return 0;
}

Test(buf, sink_scripts)
{
    for (size_t c = 0; c < sizeof sink_cases / sizeof sink_cases[0]; c++) {
        const struct sink_case *tc = &sink_cases[c];
        struct buf b;

        buf_init(&b, tc->max);
        buf_set_sink(&b, tc->chunk, collect, NULL);
        model_len = sunk_len = 0;
        sunk_refuse_past = tc->refuse_past;
        for (size_t i = 0; i < 6 && tc->ops[i].kind != OP_END; i++) {
            int rc = apply(&b, &tc->ops[i]);

            cr_expect_eq(rc, tc->ops[i].rc, "%s: op %zu returned %d, want %d", tc->name, i, rc,
                         tc->ops[i].rc);
            cr_expect_leq(b.drained + b.len, b.max, "%s: op %zu: past max", tc->name, i);
            cr_expect_eq(b.drained, sunk_len, "%s: op %zu: drained %zu, sunk %zu", tc->name, i,
                         b.drained, sunk_len);
            if (tc->cap_most)
                cr_expect_leq(b.cap, tc->cap_most, "%s: op %zu: allocated %zu", tc->name, i, b.cap);
        }
        int rc = buf_drain(&b);
        cr_expect_eq(b.failed, tc->failed, "%s: failed is %d", tc->name, b.failed);
        cr_expect_eq(rc, tc->failed ? -1 : 0, "%s: drain returned %d", tc->name, rc);
        if (!tc->failed) {
            cr_expect_eq(b.len, 0, "%s: drain leaves %zu bytes", tc->name, b.len);
            cr_expect_eq(b.drained, model_len, "%s: drained %zu, want %zu", tc->name, b.drained,
                         model_len);
        }
        /* what went to the sink is always what was appended, in order */
        cr_expect_leq(sunk_len, model_len, "%s", tc->name);
        cr_expect(memcmp(sunk, model, sunk_len) == 0, "%s: sunk bytes differ", tc->name);
        buf_free(&b);
    }
}
