/*
 * ticker.h: a thread that calls a function, sleeps as long as it asks, and again, until
 * stopped; a stop wakes it at once. The sampler and the alert pusher run on one each.
 */
#ifndef SQLITE_AGENT_TICKER_H
#define SQLITE_AGENT_TICKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ticker {
    /* One round of work; returns how many milliseconds to sleep before the next. */
    int64_t (*tick)(void *arg);
    void *arg;
    const char *name; /* for the log */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    bool kicked;         /* under lock: a kick not yet slept through, so none is lost */
    atomic_bool stop;
};

void ticker_init(struct ticker *t, const char *name, int64_t (*tick)(void *arg), void *arg);
void ticker_destroy(struct ticker *t); /* stop first */
int ticker_start(struct ticker *t);    /* 0, or -1 (logged) */
void ticker_stop(struct ticker *t);    /* wakes and joins; a no-op when not started */
/* Ends the current sleep now (the next round runs at once). */
void ticker_kick(struct ticker *t);
/* For long rounds to give up early. */
bool ticker_stopping(struct ticker *t);

#endif
