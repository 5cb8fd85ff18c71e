/*
 * loglimit.c: a fixed window per cause. A slot is reused once its window has ended and its
 * drops were reported; while all are busy, new causes share the overflow slot.
 */
#include "loglimit.h"

#include <stdio.h>
#include <string.h>

#define OVERFLOW_SLOT LOGLIMIT_CAUSES

static bool window_over(const struct loglimit_slot *s, int64_t now_s)
{
    return now_s - s->window_start_s >= LOGLIMIT_WINDOW_S;
}

static void slot_start(struct loglimit_slot *s, uint64_t key, const char *name, int64_t now_s)
{
    s->key = key;
    s->used = true;
    s->window_start_s = now_s;
    s->lines = 0;
    s->dropped = 0;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->name[strcspn(s->name, "\n")] = '\0'; /* a format string's line end */
}

/* The slot of key, a free or finished one taken for it, or the overflow slot. */
static struct loglimit_slot *slot_for(struct loglimit *l, uint64_t key, const char *name,
                                      int64_t now_s)
{
    struct loglimit_slot *spare = NULL;

    for (unsigned i = 0; i < LOGLIMIT_CAUSES; i++) {
        struct loglimit_slot *s = &l->slot[i];
        if (s->used && s->key == key)
            return s;
        if (spare == NULL && (!s->used || (window_over(s, now_s) && s->dropped == 0)))
            spare = s;
    }
    if (spare != NULL) {
        slot_start(spare, key, name, now_s);
        return spare;
    }
    struct loglimit_slot *o = &l->slot[OVERFLOW_SLOT];
    if (!o->used)
        slot_start(o, 0, "(other causes)", now_s);
    return o;
}

bool loglimit_admit(struct loglimit *l, uint64_t key, const char *name, int64_t now_s)
{
    struct loglimit_slot *s = slot_for(l, key, name, now_s);

    if (window_over(s, now_s) && s->dropped == 0) {
        s->window_start_s = now_s;
        s->lines = 0;
    }
    if (s->lines < LOGLIMIT_BURST && !window_over(s, now_s)) {
        s->lines++;
        return true;
    }
    s->dropped++;
    return false;
}

unsigned loglimit_collect(struct loglimit *l, int64_t now_s, struct loglimit_report *out,
                          unsigned max)
{
    unsigned n = 0;

    for (unsigned i = 0; i <= LOGLIMIT_CAUSES && n < max; i++) {
        struct loglimit_slot *s = &l->slot[i];
        if (!s->used || s->dropped == 0 || !window_over(s, now_s))
            continue;
        memcpy(out[n].name, s->name, sizeof(out[n].name));
        out[n].dropped = s->dropped;
        n++;
        s->dropped = 0;
        s->lines = 0;
        s->window_start_s = now_s;
    }
    return n;
}
