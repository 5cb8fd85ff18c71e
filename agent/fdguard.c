/* fdguard.c: see fdguard.h for why this exists. */
#include "fdguard.h"

#include <unistd.h>

void fdguard_init(struct fdguard *g)
{
    pthread_mutex_init(&g->lock, NULL);
    g->connections = 0;
}

void fdguard_destroy(struct fdguard *g)
{
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
    g->connections--;
    pthread_mutex_unlock(&g->lock);
}

/* close() runs under the lock: a connection must not open between the test and the close. It
 * is a read-only descriptor, so close() has nothing to flush and returns at once. */
int fdguard_close(struct fdguard *g, int fd)
{
    int rc = -1;

    pthread_mutex_lock(&g->lock);
    if (g->connections == 0) {
        close(fd);
        rc = 0;
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}
