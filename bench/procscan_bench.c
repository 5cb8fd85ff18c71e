/*
 * procscan_bench.c: how long one procscan pass takes at the scale the agent is built for.
 *
 *   procscan_bench [NDB [NPROC [PER_PROC]]]      (defaults 1000 200 5)
 *
 * Creates NDB SQLite databases in a temporary directory, so 2 * NDB targets (each database
 * and its -wal, which does not exist: as for any database not in WAL mode right now); forks
 * NPROC processes that each open PER_PROC of the databases (every tenth also maps one of
 * them, as PRAGMA mmap_size would) and sleep; then times a cold pass (empty ELF cache), and
 * the median of 9 warm passes. Every process on the machine is scanned, the bench's children
 * and the rest. Prints the command line and the figures, checks the counts, cleans up.
 */
#include "procscan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARM_PASSES 9

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int make_db(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES (1);", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The child: open its databases, map one, tell the parent, sleep until killed. */
static void child_main(const char *dir, long idx, long ndb, long per, int ready_fd)
{
    char path[256];
    long k, d;
    int fd = -1;

    for (k = 0; k < per; k++) {
        d = (idx * 7 + k * 131) % ndb;
        snprintf(path, sizeof(path), "%s/db%04ld.sqlite3", dir, d);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            _exit(1);
    }
    if (idx % 10 == 0 && mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
        _exit(1);
    if (write(ready_fd, "r", 1) != 1)
        _exit(1);
    close(ready_fd);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    long ndb = argc > 1 ? atol(argv[1]) : 1000, nproc = argc > 2 ? atol(argv[2]) : 200;
    long per = argc > 3 ? atol(argv[3]) : 5, i, ready = 0, open_total = 0, mapped_total = 0;
    char dir[] = "/tmp/agent-bench-XXXXXX", path[256];
    struct procscan_target *t = NULL;
    struct procscan_result *r = NULL;
    struct procscan_stats st;
    struct elfver_cache_stats cs;
    struct procscan *ps = NULL;
    pid_t *kids = NULL;
    double cold, warm[WARM_PASSES], t0;
    int p[2] = {-1, -1}, rc = 1, k;
    char c;

    if (ndb < 1 || nproc < 0 || per < 1 || per > ndb) {
        fprintf(stderr, "usage: procscan_bench [NDB [NPROC [PER_PROC]]]\n");
        return 2;
    }
    printf("command: %s %ld %ld %ld\n", argv[0], ndb, nproc, per);
    if (!mkdtemp(dir) || pipe(p) != 0)
        goto out;
    t = calloc((size_t)ndb * 2, sizeof(*t));
    r = calloc((size_t)ndb * 2, sizeof(*r));
    kids = calloc((size_t)nproc + 1, sizeof(*kids));
    if (!t || !r || !kids)
        goto out;
    for (i = 0; i < ndb; i++) {
        struct stat sb;

        snprintf(path, sizeof(path), "%s/db%04ld.sqlite3", dir, i);
        if (make_db(path) != 0 || stat(path, &sb) != 0)
            goto out;
        t[2 * i].dev = sb.st_dev;
        t[2 * i].ino = sb.st_ino;
        /* t[2 * i + 1]: the -wal, absent (ino 0) */
    }
    fflush(stdout);
    for (i = 0; i < nproc; i++) {
        kids[i] = fork();
        if (kids[i] < 0)
            goto out;
        if (kids[i] == 0) {
            close(p[0]);
            child_main(dir, i, ndb, per, p[1]);
        }
    }
    close(p[1]);
    p[1] = -1;
    while (ready < nproc && read(p[0], &c, 1) == 1)
        ready++;
    if (ready < nproc) {
        fprintf(stderr, "only %ld of %ld children ready\n", ready, nproc);
        goto out;
    }

    ps = procscan_new(0);
    if (!ps || procscan_set_targets(ps, t, (size_t)ndb * 2) != 0)
        goto out;
    t0 = now_ms();
    if (procscan_run(ps, r, &st) != 0)
        goto out;
    cold = now_ms() - t0;
    for (i = 0; i < ndb * 2; i++) {
        open_total += r[i].open_processes;
        mapped_total += r[i].mmap_processes;
    }
    for (k = 0; k < WARM_PASSES; k++) {
        t0 = now_ms();
        if (procscan_run(ps, r, NULL) != 0)
            goto out;
        warm[k] = now_ms() - t0;
    }
    qsort(warm, WARM_PASSES, sizeof(warm[0]), cmp_double);
    procscan_elf_stats(ps, &cs);

    printf("targets=%ld processes_scanned=%u matched=%u uninspectable=%u "
           "process_target_pairs=%ld (want %ld) mapped=%ld (want %ld) elf_objects_read=%lu\n",
           ndb * 2, st.processes, st.matched, st.uninspectable, open_total, nproc * per,
           mapped_total, (nproc + 9) / 10, (unsigned long)cs.misses);
    printf("cold_pass_ms=%.2f warm_pass_ms_median=%.2f warm_pass_ms_min=%.2f "
           "warm_pass_ms_max=%.2f\n",
           cold, warm[WARM_PASSES / 2], warm[0], warm[WARM_PASSES - 1]);
    /* Distinct databases per child only when the stride does not wrap onto itself. */
    rc = (st.matched >= (uint32_t)nproc && mapped_total == (nproc + 9) / 10) ? 0 : 1;
    if (rc)
        fprintf(stderr, "counts do not match what the children hold\n");
out:
    if (rc && errno)
        fprintf(stderr, "procscan_bench: %s\n", strerror(errno));
    for (i = 0; kids && i < nproc; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
    }
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    for (i = 0; i < ndb; i++) {
        snprintf(path, sizeof(path), "%s/db%04ld.sqlite3", dir, i);
        unlink(path);
    }
    rmdir(dir);
    procscan_free(ps);
    free(t);
    free(r);
    free(kids);
    return rc;
}
