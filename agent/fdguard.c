/* fdguard.c: see fdguard.h for why this exists. */
#include "fdguard.h"

#include <stdbool.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fdguard_init(struct fdguard *g)
{
    pthread_mutex_init(&g->lock, NULL);
    g->connections = 0;
    g->npending = 0;
}

/* Called with g->lock held. Read-only descriptors: close() has nothing to flush and returns
 * at once, so holding the lock across it is holding it for a moment. */
static void close_pending(struct fdguard *g)
{
    for (int i = 0; i < g->npending; i++)
        close(g->pending[i]);
    g->npending = 0;
}

void fdguard_destroy(struct fdguard *g)
{
    close_pending(g);
    pthread_mutex_destroy(&g->lock);
}

void fdguard_connection_opening(struct fdguard *g)
{
    pthread_mutex_lock(&g->lock);
    g->connections++;
    pthread_mutex_unlock(&g->lock);
}

void fdguard_connection_closed(struct fdguard *g)
{
    pthread_mutex_lock(&g->lock);
    if (--g->connections == 0)
        close_pending(g);
    pthread_mutex_unlock(&g->lock);
}

/* close() runs under the lock: a connection must not open between the test and the close. */
void fdguard_release(struct fdguard *g, int fd)
{
    pthread_mutex_lock(&g->lock);
    if (g->connections == 0)
        close(fd);
    else if (g->npending < FDGUARD_PENDING_MAX)
        g->pending[g->npending++] = fd;
    /* Full: keeping one descriptor open for good is harmless; dropping SQLite's locks is not. */
    pthread_mutex_unlock(&g->lock);
}

bool fdguard_close_if_idle(struct fdguard *g, int fd)
{
    bool idle;

    pthread_mutex_lock(&g->lock);
    idle = g->connections == 0;
    if (idle)
        close(fd);
    pthread_mutex_unlock(&g->lock);
    return idle;
}

/* The file a path names, as well as can be told now: a file that does not exist yet keeps its
 * path as written. */
static char *file_key(const char *path)
{
    char *real = realpath(path, NULL);

    return real ? real : strdup(path);
}

/* A section's file, for sorting: sections on one file become neighbours. */
struct keyed {
    char *key;
    size_t i;
};

static int by_key(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int r = strcmp(x->key, y->key);

    return r != 0 ? r : (x->i < y->i ? -1 : x->i > y->i);
}

struct fdguard **fdguard_set_new(const struct config *cfg)
{
    size_t n = cfg->ndbs;
    struct fdguard **set = calloc(n ? n : 1, sizeof(*set));
    struct keyed *keys = calloc(n ? n : 1, sizeof(*keys));
    bool ok = set != NULL && keys != NULL;

    for (size_t i = 0; ok && i < n; i++) {
        keys[i].key = file_key(cfg->dbs[i].path);
        keys[i].i = i;
        ok = keys[i].key != NULL;
    }
    /* Sorted, a fleet of 10,000 is grouped in n log n comparisons, not n squared. */
    if (ok)
        qsort(keys, n, sizeof(*keys), by_key);
    for (size_t k = 0; ok && k < n; k++) {
        size_t i = keys[k].i;
        if (k > 0 && strcmp(keys[k].key, keys[k - 1].key) == 0) {
            set[i] = set[keys[k - 1].i];
            continue;
        }
        set[i] = malloc(sizeof(**set));
        ok = set[i] != NULL;
        if (ok)
            fdguard_init(set[i]);
    }
    for (size_t k = 0; keys != NULL && k < n; k++)
        free(keys[k].key);
    free(keys);
    if (!ok) {
        fdguard_set_free(set, n);
        return NULL;
    }
    return set;
}

static int by_pointer(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (struct fdguard *const *)a;
    uintptr_t y = (uintptr_t) * (struct fdguard *const *)b;

    return x < y ? -1 : x > y;
}

void fdguard_set_free(struct fdguard **set, size_t n)
{
    if (set == NULL)
        return;
    /* Sorted, a shared guard's slots are neighbours, and it is freed once. */
    qsort(set, n, sizeof(*set), by_pointer);
    for (size_t i = 0; i < n; i++) {
        if (set[i] == NULL || (i > 0 && set[i] == set[i - 1]))
            continue;
        fdguard_destroy(set[i]);
        free(set[i]);
    }
    free(set);
}
