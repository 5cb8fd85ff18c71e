/* ticker.c: see ticker.h. */
#include "ticker.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

void ticker_init(struct ticker *t, const char *name, int64_t (*tick)(void *arg), void *arg)
{
    pthread_condattr_t attr;

    memset(t, 0, sizeof(*t));
    t->tick = tick;
    t->arg = arg;
    t->name = name;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&t->stop, false);
}

void ticker_destroy(struct ticker *t)
{
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
}

bool ticker_stopping(struct ticker *t)
{
    return atomic_load(&t->stop);
}

void ticker_kick(struct ticker *t)
{
    pthread_mutex_lock(&t->lock);
    t->kicked = true;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
}

static void *ticker_main(void *arg)
{
    struct ticker *t = arg;

    /* Named for top -H and ps -L (and tests that find the sampler thread); at most 15 bytes. */
    char name[16];
    snprintf(name, sizeof(name), "%s", t->name);
    pthread_setname_np(pthread_self(), name);
    while (!atomic_load(&t->stop)) {
        int64_t wait = t->tick(t->arg);
        if (wait <= 0)
            continue;
        struct timespec until = clock_mono_after(wait);
        pthread_mutex_lock(&t->lock);
        if (!atomic_load(&t->stop) && !t->kicked)
            pthread_cond_timedwait(&t->wake, &t->lock, &until);
        t->kicked = false;
        pthread_mutex_unlock(&t->lock);
    }
    return NULL;
}

int ticker_start(struct ticker *t)
{
    int rc = pthread_create(&t->thread, NULL, ticker_main, t);

    if (rc != 0) {
        log_error("cannot start a thread", "thread", t->name, "error", strerror(rc), NULL);
        return -1;
    }
    t->started = true;
    return 0;
}

void ticker_stop(struct ticker *t)
{
    if (!t->started)
        return;
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->stop, true);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->started = false;
}
