/*
 * test_procscan.c: procscan against real processes.
 *
 * Each scenario creates two WAL databases A and B in a fresh directory, starts processes
 * holding them (the C helper linked to libsqlite3.so, the helper with SQLite linked in and
 * patched to say 3.51.3, Debian's python3 with its sqlite3 module, a plain `sleep` reading
 * the database as stdin, and the test process itself, which must not count), with and
 * without PRAGMA mmap_size, then scans for the four targets A, A-wal, B, B-wal. The expected
 * version of each SQLite process is what it printed itself (sqlite3_libversion(),
 * sqlite3.sqlite_version), not what procscan read. A second pass must give the same result
 * without reading any ELF object again.
 *
 * Then, as root only: a process that loaded a second, older SQLite (a patched copy of the
 * system library, through ctypes) is reported on the older one, first through
 * /proc/PID/map_files, then by a scanner without CAP_SYS_ADMIN / CAP_CHECKPOINT_RESTORE
 * through /proc/PID/root, including after the library file was deleted or replaced; and a
 * scanner that dropped to nobody cannot read root's processes and counts them as
 * uninspectable.
 *
 * Also as root: a process that chroot()s after loading a library, so that the path maps
 * shows is looked up inside a root it controls, where the test puts a symbolic link to the
 * library, to a FIFO, a FIFO itself, or a symbolic link on the way: none is followed, and a
 * writer blocked opening the FIFO proves that no scan opened it. And a process that maps a
 * watched database, or its -shm, executable under an SQLite-looking name: the scanner never
 * opens that file, so the POSIX lock it holds there itself (as the agent's own SQLite
 * connections do) survives the scan.
 */
#include "procscan.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../helpers/helpers.h"

#define MMAP (1L << 20)
#define NTARGETS 4 /* A, A-wal, B, B-wal */
#define MAX_HOLDERS 4

static const char python_holder[] =
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('PRAGMA busy_timeout=5000')\n"
    "c.execute('PRAGMA journal_mode=WAL')\n"
    "c.execute('CREATE TABLE IF NOT EXISTS t(a)')\n"
    "c.execute('INSERT INTO t VALUES (1)')\n"
    "c.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchall()\n"
    "c.execute('PRAGMA mmap_size=%d' % int(sys.argv[2])).fetchall()\n"
    "c.execute('SELECT count(*) FROM t').fetchall()\n"
    "if len(sys.argv) > 3:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(sys.argv[3])  # a second SQLite in the same process\n"
    "print('ready', sqlite3.sqlite_version, flush=True)\n"
    "sys.stdin.read()\n";

enum holder_kind {
    H_END = 0,
    H_SHARED,     /* holder_shared: libsqlite3.so in its maps */
    H_PATCHED,    /* holder_static_patched: SQLite in the executable, "3.51.3" */
    H_PYTHON,     /* /usr/bin/python3 and its _sqlite3 module */
    H_PYTHON_OLD, /* the same, with libsqlite3_old.so (3.39.4) loaded too */
    H_SLEEP,      /* /bin/sleep with the database as stdin: not SQLite */
    H_SELF,       /* this process: excluded from the scan */
};

struct holder {
    enum holder_kind kind;
    int db; /* 0 = A, 1 = B */
    long mmap;
    int nconn;
};

struct expect {
    uint32_t open, mmap, unknown;
    unsigned versions_of; /* bit i: holder i's own version counts for this target */
    uint32_t fds;         /* descriptors: one per SQLite connection, one for sleep */
};

struct scenario {
    const char *name;
    struct holder h[MAX_HOLDERS];
    struct expect e[NTARGETS];
    uint64_t objects_read; /* ELF objects actually read in the first pass */
};

static const struct scenario scenarios[] = {
    {"libsqlite3.so, one connection, no mmap",
     {{H_SHARED, 0, 0, 1}},
     {{1, 0, 0, 1, 1}, {1, 0, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}},
     1 /* libsqlite3.so */},
    {"libsqlite3.so, three connections with mmap_size: one process, mapped",
     {{H_SHARED, 0, MMAP, 3}},
     {{1, 1, 0, 1, 3}, {1, 0, 0, 1, 3}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}},
     1},
    {"static 3.51.3 and python (mmap) on A, libsqlite3.so with mmap on B",
     {{H_PATCHED, 0, 0, 1}, {H_PYTHON, 0, MMAP, 1}, {H_SHARED, 1, MMAP, 2}},
     {{2, 1, 0, 3, 2}, {2, 0, 0, 3, 2}, {1, 1, 0, 4, 2}, {1, 0, 0, 4, 2}},
     3 /* the static executable, _sqlite3 module, libsqlite3.so (read once for two) */},
    {"static 3.51.3 with mmap; a non-SQLite reader; the agent itself",
     {{H_PATCHED, 0, MMAP, 1}, {H_SLEEP, 0, 0, 0}, {H_SELF, 1, MMAP, 1}},
     {{2, 1, 1, 1, 2}, {1, 0, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}},
     2 /* the static executable, sleep */},
    {"python with two SQLites: the older counts",
     {{H_PYTHON_OLD, 1, 0, 1}},
     {{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {1, 0, 0, 1, 1}, {1, 0, 0, 1, 1}},
     3 /* _sqlite3 module, libsqlite3.so, libsqlite3_old.so */},
};

/* Creates a WAL database with a row, checkpointed, and closes it (the -wal goes away). */
static void make_db(const char *path)
{
    sqlite3 *db;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "PRAGMA journal_mode=WAL; CREATE TABLE t(a); "
                              "INSERT INTO t VALUES (0);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

static void target_of(const char *path, struct procscan_target *t)
{
    struct stat st;

    memset(t, 0, sizeof(*t));
    if (stat(path, &st) == 0) {
        t->dev = st.st_dev;
        t->ino = st.st_ino;
    }
}

/* Clears CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE (effective and permitted): opening
 * /proc/PID/map_files/ then fails with EPERM, and nothing else changes for a root scanner. */
static int drop_map_files_caps(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    static const int caps[] = {CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE};
    size_t i;

    if (syscall(SYS_capget, &hdr, data) != 0)
        return -1;
    for (i = 0; i < 2; i++) {
        data[CAP_TO_INDEX(caps[i])].effective &= ~CAP_TO_MASK(caps[i]);
        data[CAP_TO_INDEX(caps[i])].permitted &= ~CAP_TO_MASK(caps[i]);
    }
    return (int)syscall(SYS_capset, &hdr, data);
}

/* "ready 3.40.1" -> 3040001 */
static uint32_t ready_version(const struct child *c)
{
    uint32_t v = 0;

    cr_assert(sqlitever_parse(c->ready + 6, &v), "bad ready line \"%s\"", c->ready);
    return v;
}

static unsigned hit_calls;

static void count_hit(void *arg, size_t target, pid_t pid, uint32_t version, bool mapped)
{
    (void)arg;
    (void)version;
    (void)mapped;
    cr_assert_lt(target, NTARGETS);
    cr_assert_neq(pid, getpid());
    hit_calls++;
}

/* Checks one target's result against the holders' own versions. */
static void check_target(const char *what, const struct procscan_result *r, const struct expect *e,
                         const uint32_t *versions, size_t nholders)
{
    struct procscan_result want;
    size_t i, k;

    memset(&want, 0, sizeof(want));
    for (i = 0; i < nholders; i++) {
        uint32_t v = versions[i];

        if (!(e->versions_of & (1u << i)))
            continue;
        if (want.oldest_version == 0 || v < want.oldest_version)
            want.oldest_version = v;
        for (k = 0; k < want.nversions && want.versions[k].version != v; k++)
            ;
        if (k == want.nversions) {
            want.versions[k].version = v;
            want.nversions++;
        }
        want.versions[k].processes++;
    }
    cr_expect_eq(r->open_processes, e->open, "%s: open %u, want %u", what, r->open_processes,
                 e->open);
    cr_expect_eq(r->mmap_processes, e->mmap, "%s: mmap %u, want %u", what, r->mmap_processes,
                 e->mmap);
    cr_expect_eq(r->open_descriptors, e->fds, "%s: descriptors %u, want %u", what,
                 r->open_descriptors, e->fds);
    cr_expect_eq(r->unknown_version, e->unknown, "%s: unknown %u, want %u", what,
                 r->unknown_version, e->unknown);
    cr_expect_eq(r->other_versions, 0u, "%s", what);
    cr_expect_eq(r->oldest_version, want.oldest_version, "%s: oldest %u, want %u", what,
                 r->oldest_version, want.oldest_version);
    cr_expect_eq(r->nversions, want.nversions, "%s: %u versions, want %u", what, r->nversions,
                 want.nversions);
    for (k = 0; k < want.nversions; k++) {
        for (i = 0; i < r->nversions && r->versions[i].version != want.versions[k].version; i++)
            ;
        cr_expect_lt(i, r->nversions, "%s: version %u missing", what, want.versions[k].version);
        if (i < r->nversions)
            cr_expect_eq(r->versions[i].processes, want.versions[k].processes, "%s: version %u",
                         what, want.versions[k].version);
    }
    for (i = 1; i < r->nversions; i++)
        cr_expect_lt(r->versions[i - 1].version, r->versions[i].version, "%s: order", what);
}

Test(procscan, real_processes, .timeout = 120)
{
    /* B is named like so many real databases: its mappings (the file with mmap_size, the
     * -shm) have "sqlite" in the path and must still never be taken for a library. */
    static const char *const suffix[NTARGETS] = {"a.db", "a.db-wal", "b.sqlite3", "b.sqlite3-wal"};
    char dir[64], paths[NTARGETS][128], shared[4096], patched[4096], oldlib[4096], mmapbuf[32];
    size_t s, i;

    helper_path(shared, sizeof(shared), "holder_shared");
    helper_path(patched, sizeof(patched), "holder_static_patched");
    helper_path(oldlib, sizeof(oldlib), "libsqlite3_old.so");
    for (s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
        const struct scenario *sc = &scenarios[s];
        struct child kids[MAX_HOLDERS];
        uint32_t versions[MAX_HOLDERS];
        struct procscan_target t[NTARGETS];
        struct procscan_result r[NTARGETS], r2[NTARGETS];
        struct procscan_stats st, st2;
        struct elfver_cache_stats cs1, cs2;
        struct procscan *ps;
        sqlite3 *self = NULL;
        unsigned expect_hits = 0;
        size_t nh = 0;
        char what[160];

        temp_dir(dir, sizeof(dir));
        for (i = 0; i < NTARGETS; i++)
            snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, suffix[i]);
        make_db(paths[0]);
        make_db(paths[2]);
        memset(kids, 0, sizeof(kids));
        for (nh = 0; nh < MAX_HOLDERS && sc->h[nh].kind != H_END; nh++) {
            const struct holder *h = &sc->h[nh];
            const char *db = paths[h->db * 2];
            char nconn[16];

            snprintf(mmapbuf, sizeof(mmapbuf), "%ld", h->mmap);
            snprintf(nconn, sizeof(nconn), "%d", h->nconn);
            versions[nh] = 0;
            switch (h->kind) {
            case H_SHARED:
            case H_PATCHED: {
                char *argv[] = {h->kind == H_SHARED ? shared : patched, (char *)db, mmapbuf, nconn,
                                NULL};

                spawn(&kids[nh], argv, -1);
                versions[nh] = ready_version(&kids[nh]);
                break;
            }
            case H_PYTHON:
            case H_PYTHON_OLD: {
                char *argv[] = {"/usr/bin/python3",
                                "-c",
                                (char *)python_holder,
                                (char *)db,
                                mmapbuf,
                                h->kind == H_PYTHON_OLD ? oldlib : NULL,
                                NULL};

                spawn(&kids[nh], argv, -1);
                versions[nh] = h->kind == H_PYTHON_OLD ? 3039004 : ready_version(&kids[nh]);
                break;
            }
            case H_SLEEP: {
                char *argv[] = {"/bin/sleep", "60", NULL};
                int fd = open(db, O_RDONLY | O_CLOEXEC); /* only its stdin copy survives */

                cr_assert_geq(fd, 0);
                spawn(&kids[nh], argv, fd);
                close(fd);
                break;
            }
            case H_SELF:
                cr_assert_eq(sqlite3_open(db, &self), SQLITE_OK);
                cr_assert_eq(sqlite3_exec(self,
                                          "PRAGMA mmap_size=1048576; "
                                          "SELECT count(*) FROM t;",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
                break;
            case H_END:
                break;
            }
        }
        /* The helpers report what they run: Debian's library, and the patched copy. */
        for (i = 0; i < nh; i++) {
            if (sc->h[i].kind == H_PATCHED)
                cr_assert_eq(versions[i], 3051003u);
            if (sc->h[i].kind == H_SHARED || sc->h[i].kind == H_PYTHON)
                cr_assert_eq(versions[i], (uint32_t)sqlite3_libversion_number());
        }

        for (i = 0; i < NTARGETS; i++) {
            target_of(paths[i], &t[i]);
            expect_hits += sc->e[i].open;
        }
        ps = procscan_new(0);
        cr_assert_not_null(ps);
        cr_assert_eq(procscan_set_targets(ps, t, NTARGETS), 0);
        hit_calls = 0;
        procscan_set_hit_fn(ps, count_hit, NULL);
        cr_assert_eq(procscan_run(ps, r, &st), 0);
        procscan_elf_stats(ps, &cs1);
        cr_assert_eq(procscan_run(ps, r2, &st2), 0);
        procscan_elf_stats(ps, &cs2);

        for (i = 0; i < NTARGETS; i++) {
            snprintf(what, sizeof(what), "%s: %s", sc->name, suffix[i]);
            check_target(what, &r[i], &sc->e[i], versions, nh);
            cr_expect_eq(memcmp(&r[i], &r2[i], sizeof(r[i])), 0, "%s: second pass differs", what);
        }
        cr_expect_eq(hit_calls, 2 * expect_hits, "%s: %u hit calls", sc->name, hit_calls);
        cr_expect_gt(st.processes, nh, "%s", sc->name);
        cr_expect_eq(cs1.misses, sc->objects_read, "%s: %lu ELF objects read", sc->name,
                     (unsigned long)cs1.misses);
        cr_expect_eq(cs2.misses, cs1.misses, "%s: second pass re-read ELF objects", sc->name);
        if (geteuid() == 0)
            cr_expect_eq(st.uninspectable, 0u, "%s", sc->name);

        procscan_free(ps);
        for (i = 0; i < nh; i++)
            child_stop(&kids[i]);
        if (self)
            sqlite3_close(self);
        helpers_rmtree(dir);
    }
}

/* Targets that change between passes, in the same scanner: no stale counts. */
Test(procscan, target_set_changes, .timeout = 60)
{
    char dir[64], a[128], b[128], shared[4096];
    struct procscan_target t[3], none = {0, 0};
    struct procscan_result r[3];
    struct procscan *ps = procscan_new(4);
    struct child kid;

    cr_assert_not_null(ps);
    helper_path(shared, sizeof(shared), "holder_shared");
    temp_dir(dir, sizeof(dir));
    snprintf(a, sizeof(a), "%s/a.db", dir);
    snprintf(b, sizeof(b), "%s/b.db", dir);
    make_db(a);
    make_db(b);
    {
        char *argv[] = {shared, a, "0", "1", NULL};

        spawn(&kid, argv, -1);
    }
    target_of(a, &t[0]);
    target_of(b, &t[1]);
    t[2] = t[0]; /* the same file twice: both entries count it */

    cr_assert_eq(procscan_set_targets(ps, t, 1), 0);
    cr_assert_eq(procscan_run(ps, r, NULL), 0);
    cr_expect_eq(r[0].open_processes, 1u);

    cr_assert_eq(procscan_set_targets(ps, t, 3), 0); /* grows */
    memset(r, 0xee, sizeof(r));                      /* must all be overwritten */
    cr_assert_eq(procscan_run(ps, r, NULL), 0);
    cr_expect_eq(r[0].open_processes, 1u);
    cr_expect_eq(r[1].open_processes, 0u);
    cr_expect_eq(r[1].nversions, 0u);
    cr_expect_eq(r[2].open_processes, 1u);
    cr_expect_eq(r[2].oldest_version, (uint32_t)sqlite3_libversion_number());

    cr_assert_eq(procscan_set_targets(ps, &t[1], 1), 0); /* shrinks to B only */
    cr_assert_eq(procscan_run(ps, r, NULL), 0);
    cr_expect_eq(r[0].open_processes, 0u);

    cr_assert_eq(procscan_set_targets(ps, &none, 1), 0); /* a missing file matches nothing */
    cr_assert_eq(procscan_run(ps, r, NULL), 0);
    cr_expect_eq(r[0].open_processes, 0u);

    cr_assert_eq(procscan_set_targets(ps, NULL, 0), 0);
    cr_assert_eq(procscan_run(ps, r, NULL), 0);

    child_stop(&kid);
    procscan_free(ps);
    procscan_free(NULL);
    helpers_rmtree(dir);
}

/* What a scanner without the right to look sees: nothing open, and says so. */
Test(procscan, uninspectable_counted, .timeout = 60)
{
    char dir[64], a[128], shared[4096];
    struct procscan_target t;
    struct child kid;
    int p[2], status;
    pid_t pid;
    struct {
        int rc;
        struct procscan_result r;
        struct procscan_stats st;
    } got;

    if (geteuid() != 0)
        cr_skip_test("needs root to drop to another user");
    helper_path(shared, sizeof(shared), "holder_shared");
    temp_dir(dir, sizeof(dir));
    cr_assert_eq(chmod(dir, 0755), 0);
    snprintf(a, sizeof(a), "%s/a.db", dir);
    make_db(a);
    {
        char *argv[] = {shared, a, "0", "1", NULL};

        spawn(&kid, argv, -1);
    }
    target_of(a, &t);
    cr_assert_eq(pipe(p), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct procscan *ps;

        memset(&got, 0, sizeof(got));
        if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(3);
        ps = procscan_new(0);
        if (!ps || procscan_set_targets(ps, &t, 1) != 0)
            _exit(4);
        got.rc = procscan_run(ps, &got.r, &got.st);
        if (write(p[1], &got, sizeof(got)) != (ssize_t)sizeof(got))
            _exit(5);
        _exit(0);
    }
    close(p[1]);
    cr_assert_eq(read(p[0], &got, sizeof(got)), (ssize_t)sizeof(got));
    close(p[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    cr_expect_eq(got.rc, 0);
    cr_expect_eq(got.r.open_processes, 0u, "nobody cannot see root's descriptors");
    /* At least the holder and this test process (root) are uninspectable. */
    cr_expect_geq(got.st.uninspectable, 2u, "uninspectable %u", got.st.uninspectable);
    cr_expect_geq(got.st.processes, got.st.uninspectable);
    cr_expect_eq(got.st.matched, 0u);

    child_stop(&kid);
    helpers_rmtree(dir);
}

/* The version procscan reports for the one process holding target t, from a forked scanner
 * that first drops the map_files capabilities when asked. */
static uint32_t scan_version(const struct procscan_target *t, bool drop_caps)
{
    int p[2], status;
    ssize_t n;
    pid_t pid;
    struct {
        int rc;
        struct procscan_result r;
    } got;

    cr_assert_eq(pipe(p), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct procscan *ps;
        int fd;

        memset(&got, 0, sizeof(got));
        if (drop_caps) {
            char line[4200] = "", range[64], path[128];
            FILE *m;

            if (drop_map_files_caps() != 0)
                _exit(3);
            /* Check the premise: map_files/ is now closed, even for our own mappings
             * (one of a file: anonymous ones are not listed there at all). */
            m = fopen("/proc/self/maps", "r");
            if (!m)
                _exit(4);
            while (fgets(line, sizeof(line), m) && !strchr(line, '/'))
                ;
            fclose(m);
            if (sscanf(line, "%63s", range) != 1)
                _exit(4);
            snprintf(path, sizeof(path), "/proc/self/map_files/%s", range);
            fd = open(path, O_RDONLY);
            if (fd >= 0 || errno != EPERM)
                _exit(5);
        }
        ps = procscan_new(0);
        if (!ps || procscan_set_targets(ps, t, 1) != 0)
            _exit(6);
        got.rc = procscan_run(ps, &got.r, NULL);
        if (write(p[1], &got, sizeof(got)) != (ssize_t)sizeof(got))
            _exit(7);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], &got, sizeof(got));
    close(p[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "scanner exit %d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cr_assert_eq(n, (ssize_t)sizeof(got));
    cr_assert_eq(got.rc, 0);
    cr_assert_eq(got.r.open_processes, 1u);
    return got.r.oldest_version;
}

struct libfile_step {
    const char *name;
    enum { STEP_NONE, STEP_UNLINK, STEP_REPLACE } action; /* done to the copy first */
    uint32_t with_map_files;    /* version reported by a full root scanner */
    uint32_t without_map_files; /* ... and by one without map_files/ access */
};

/* 0 below means sqlite3_libversion_number(): the system library the module links. */
static const struct libfile_step libfile_steps[] = {
    {"older library loaded from a file", STEP_NONE, 3039004, 3039004},
    {"the file deleted: only map_files can still read it", STEP_UNLINK, 3039004, 0},
    {"another (3.38.0) file at that path now: never read for it", STEP_REPLACE, 3039004, 0},
};

Test(procscan, library_paths_without_map_files, .timeout = 60)
{
    char dir[64], db[128], lib[128], old[4096], older[4096], mmapbuf[] = "0";
    struct procscan_target t;
    struct child kid;
    size_t i;

    if (geteuid() != 0)
        cr_skip_test("needs root (map_files) and capabilities to drop");
    helper_path(old, sizeof(old), "libsqlite3_old.so");
    helper_path(older, sizeof(older), "libsqlite3_older.so");
    temp_dir(dir, sizeof(dir));
    snprintf(db, sizeof(db), "%s/a.db", dir);
    snprintf(lib, sizeof(lib), "%s/libsqlite3_old.so", dir);
    make_db(db);
    {
        char cmd[8400];

        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", old, lib);
        cr_assert_eq(system(cmd), 0);
    }
    {
        char *argv[] = {"/usr/bin/python3", "-c", (char *)python_holder, db, mmapbuf, lib, NULL};

        spawn(&kid, argv, -1);
    }
    target_of(db, &t);
    for (i = 0; i < sizeof(libfile_steps) / sizeof(libfile_steps[0]); i++) {
        const struct libfile_step *st = &libfile_steps[i];
        uint32_t want_with =
            st->with_map_files ? st->with_map_files : (uint32_t)sqlite3_libversion_number();
        uint32_t want_without =
            st->without_map_files ? st->without_map_files : (uint32_t)sqlite3_libversion_number();
        char cmd[8400];

        if (st->action == STEP_UNLINK)
            cr_assert_eq(unlink(lib), 0);
        if (st->action == STEP_REPLACE) {
            snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", older, lib);
            cr_assert_eq(system(cmd), 0);
        }
        cr_expect_eq(scan_version(&t, false), want_with, "%s: with map_files", st->name);
        cr_expect_eq(scan_version(&t, true), want_without, "%s: without map_files", st->name);
    }
    child_stop(&kid);
    helpers_rmtree(dir);
}

/* More distinct versions than slots: the oldest are kept, the rest counted as other. */
Test(procscan, more_versions_than_slots, .timeout = 60)
{
    /* Spawned (and so, pids rising, scanned) in this order: newer ones first, so that an
     * older one arrives when the slots are full, then one newer than all of them. */
    static const char *const versions[] = {"3.51.3", "3.45.1", "3.44.0",
                                           "3.30.0", "3.20.1", "3.52.0"};
    static const uint32_t kept[PROCSCAN_VERSION_SLOTS] = {3020001, 3030000, 3044000, 3045001};
    char dir[64], db[128], exe[6][128], patchver[4096], statexe[4096], cmd[9000];
    struct child kids[6];
    struct procscan_target t;
    struct procscan_result r;
    struct procscan *ps;
    size_t i;

    helper_path(patchver, sizeof(patchver), "patchver");
    helper_path(statexe, sizeof(statexe), "holder_static");
    temp_dir(dir, sizeof(dir));
    snprintf(db, sizeof(db), "%s/a.db", dir);
    make_db(db);
    for (i = 0; i < 6; i++) {
        char *argv[] = {exe[i], db, "0", "1", NULL};
        uint32_t v;

        snprintf(exe[i], sizeof(exe[i]), "%s/holder_%zu", dir, i);
        snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' %s %s", patchver, statexe, exe[i],
                 SQLITE_VERSION, versions[i]);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        spawn(&kids[i], argv, -1);
        cr_assert(sqlitever_parse(versions[i], &v));
        cr_assert_eq(ready_version(&kids[i]), v);
    }
    target_of(db, &t);
    ps = procscan_new(0);
    cr_assert_not_null(ps);
    cr_assert_eq(procscan_set_targets(ps, &t, 1), 0);
    cr_assert_eq(procscan_run(ps, &r, NULL), 0);
    cr_expect_eq(r.open_processes, 6u);
    cr_expect_eq(r.unknown_version, 0u);
    cr_expect_eq(r.nversions, (uint32_t)PROCSCAN_VERSION_SLOTS);
    for (i = 0; i < PROCSCAN_VERSION_SLOTS; i++) {
        cr_expect_eq(r.versions[i].version, kept[i], "slot %zu: %u", i, r.versions[i].version);
        cr_expect_eq(r.versions[i].processes, 1u, "slot %zu", i);
    }
    cr_expect_eq(r.other_versions, 2u);
    cr_expect_eq(r.oldest_version, 3020001u);
    procscan_free(ps);
    for (i = 0; i < 6; i++)
        child_stop(&kids[i]);
    helpers_rmtree(dir);
}

/* ---- objects that must not be opened ----------------------------------------------------- */

/* Holds argv[1] open, loads the library argv[2], then chroot()s into argv[3]: from then on
 * the library's path, as maps shows it, names whatever argv[3] holds at that path. */
static const char chroot_holder[] = "import ctypes, os, sys\n"
                                    "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                                    "ctypes.CDLL(sys.argv[2])\n"
                                    "os.chroot(sys.argv[3])\n"
                                    "print('ready', flush=True)\n"
                                    "sys.stdin.read()\n";

/* mkdir -p */
static void make_dirs(const char *path)
{
    char p[512];
    size_t i;

    cr_assert_lt(strlen(path), sizeof(p));
    strcpy(p, path);
    for (i = 1; p[i]; i++) {
        if (p[i] != '/')
            continue;
        p[i] = '\0';
        cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "%s: %s", p, strerror(errno));
        p[i] = '/';
    }
    cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "%s: %s", p, strerror(errno));
}

/* A thread blocked opening a FIFO for writing: its open() returns only once someone opens
 * the FIFO for reading (fifo(7)), however briefly. */
struct fifo_watch {
    const char *path;
    atomic_int tid;
    atomic_int opened;
};

static void *fifo_writer(void *arg)
{
    struct fifo_watch *w = arg;
    int fd;

    atomic_store(&w->tid, (int)gettid());
    fd = open(w->path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        atomic_store(&w->opened, 1);
        close(fd);
    }
    return NULL;
}

/* Whether thread tid is inside openat() now (proc(5), /proc/PID/syscall). */
static bool in_openat(int tid)
{
    char p[64];
    long nr = -1;
    FILE *f;

    snprintf(p, sizeof(p), "/proc/self/task/%d/syscall", tid);
    f = fopen(p, "r");
    if (!f)
        return false;
    if (fscanf(f, "%ld", &nr) != 1)
        nr = -1;
    fclose(f);
    return nr == SYS_openat;
}

enum root_entry { RE_HARDLINK, RE_LINK_TO_LIB, RE_DIR_LINK, RE_LINK_TO_FIFO, RE_FIFO };

struct root_step {
    const char *name;
    enum root_entry entry; /* what the library's path names inside the process's root */
    uint32_t want;         /* 0: nothing read, the version is unknown */
};

static const struct root_step root_steps[] = {
    {"the mapped file itself (a hard link): read through the process's root", RE_HARDLINK, 3039004},
    {"a symbolic link to the mapped file: not followed", RE_LINK_TO_LIB, 0},
    {"a directory on the way is a symbolic link: not followed", RE_DIR_LINK, 0},
    {"a symbolic link to a FIFO: not followed, the FIFO never opened", RE_LINK_TO_FIFO, 0},
    {"a FIFO: never opened", RE_FIFO, 0},
};

Test(procscan, library_path_swapped_inside_the_root, .timeout = 60)
{
    char dir[64], db[128], lib[128], root[128], inroot[256], libdir[256], real[256], fifo[256];
    char old[4096], cmd[8400];
    struct procscan_target t;
    struct child kid;
    size_t i;

    if (geteuid() != 0)
        cr_skip_test("needs root (chroot, map_files) and capabilities to drop");
    helper_path(old, sizeof(old), "libsqlite3_old.so");
    temp_dir(dir, sizeof(dir));
    snprintf(db, sizeof(db), "%s/a.db", dir);
    snprintf(lib, sizeof(lib), "%s/lib/libsqlite3_old.so", dir);
    snprintf(root, sizeof(root), "%s/root", dir);
    snprintf(inroot, sizeof(inroot), "%s%s", root, lib); /* the library's path in the root */
    snprintf(libdir, sizeof(libdir), "%s%s/lib", root, dir);
    snprintf(real, sizeof(real), "%s%s/real", root, dir);
    make_db(db);
    snprintf(cmd, sizeof(cmd), "%s/lib", dir);
    make_dirs(cmd);
    make_dirs(root);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", old, lib);
    cr_assert_eq(system(cmd), 0);
    {
        char *argv[] = {"/usr/bin/python3", "-c", (char *)chroot_holder, db, lib, root, NULL};

        spawn(&kid, argv, -1);
    }
    target_of(db, &t);
    for (i = 0; i < sizeof(root_steps) / sizeof(root_steps[0]); i++) {
        const struct root_step *st = &root_steps[i];
        struct fifo_watch w = {fifo, 0, 0};
        pthread_t th;
        bool watching = st->entry == RE_LINK_TO_FIFO || st->entry == RE_FIFO;
        int k, rfd;

        snprintf(cmd, sizeof(cmd), "%s%s", root, dir);
        helpers_rmtree(cmd);
        unlink(fifo);
        switch (st->entry) {
        case RE_HARDLINK:
            make_dirs(libdir);
            cr_assert_eq(link(lib, inroot), 0, "%s", strerror(errno));
            break;
        case RE_LINK_TO_LIB:
            make_dirs(libdir);
            cr_assert_eq(symlink(lib, inroot), 0);
            break;
        case RE_DIR_LINK:
            make_dirs(real);
            snprintf(cmd, sizeof(cmd), "%s/libsqlite3_old.so", real);
            cr_assert_eq(link(lib, cmd), 0);
            cr_assert_eq(symlink("real", libdir), 0);
            break;
        case RE_LINK_TO_FIFO:
            make_dirs(libdir);
            snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
            cr_assert_eq(mkfifo(fifo, 0600), 0);
            cr_assert_eq(symlink(fifo, inroot), 0);
            break;
        case RE_FIFO:
            make_dirs(libdir);
            snprintf(fifo, sizeof(fifo), "%s", inroot);
            cr_assert_eq(mkfifo(fifo, 0600), 0);
            break;
        }
        if (watching) {
            cr_assert_eq(pthread_create(&th, NULL, fifo_writer, &w), 0);
            for (k = 0; k < 2000 && !(atomic_load(&w.tid) && in_openat(atomic_load(&w.tid))); k++)
                usleep(1000);
            cr_assert_lt(k, 2000, "the FIFO writer never blocked in open()");
        }
        /* Through map_files the mapped inode is read whatever the path names. */
        cr_expect_eq(scan_version(&t, false), 3039004u, "%s: with map_files", st->name);
        cr_expect_eq(scan_version(&t, true), st->want, "%s: without map_files", st->name);
        if (watching) {
            for (k = 0; k < 200 && !atomic_load(&w.opened); k++)
                usleep(1000);
            cr_expect_eq(atomic_load(&w.opened), 0, "%s: the FIFO was opened", st->name);
            rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* lets the writer go */
            pthread_join(th, NULL);
            if (rfd >= 0)
                close(rfd);
        }
    }
    child_stop(&kid);
    helpers_rmtree(dir);
}

/* Holds argv[1] (the database) open, and maps argv[2] executable: the database itself or its
 * -shm, under an SQLite-looking name, so a candidate library as far as maps can tell. */
static const char exec_map_holder[] =
    "import mmap, os, sys\n"
    "db = os.open(sys.argv[1], os.O_RDONLY)\n"
    "fd = os.open(sys.argv[2], os.O_RDONLY)\n"
    "m = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_EXEC)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n";

/* The scanner's lock: a byte of its own, away from SQLite's lock bytes, as any POSIX lock the
 * process holds on a file goes with a close of any descriptor on it (fcntl(2)). */
#define LOCK_BYTE (1 << 20)

struct never_open_case {
    const char *name;
    bool shm;         /* the -shm is mapped (this process keeps a connection to make one) */
    bool drop_caps;   /* without map_files: through /proc/PID/root */
    uint32_t open;    /* processes with the database open */
    uint32_t mmap;    /* ... mapping it */
    uint32_t objects; /* ELF objects looked up */
};

static const struct never_open_case never_open_cases[] = {
    /* The holder's python3 only. */
    {"the database, through map_files", false, false, 1, 1, 1},
    {"the database, through the process's root", false, true, 1, 1, 1},
    /* And this process's libsqlite3.so, which the connection keeping the -shm makes a
     * holder. */
    {"its -shm, through map_files", true, false, 2, 0, 2},
    {"its -shm, through the process's root", true, true, 2, 0, 2},
};

Test(procscan, database_files_never_opened, .timeout = 60)
{
    char dir[64], db[128], shm[136];
    struct procscan_target t;
    size_t i;

    if (geteuid() != 0)
        cr_skip_test("needs root (map_files) and capabilities to drop");
    temp_dir(dir, sizeof(dir));
    snprintf(db, sizeof(db), "%s/a.sqlite3", dir);
    snprintf(shm, sizeof(shm), "%s-shm", db);
    make_db(db);
    target_of(db, &t);
    for (i = 0; i < sizeof(never_open_cases) / sizeof(never_open_cases[0]); i++) {
        const struct never_open_case *c = &never_open_cases[i];
        const char *mapped = c->shm ? shm : db;
        struct flock fl = {
            .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = LOCK_BYTE, .l_len = 1};
        int res[2], go[2], status, fd;
        struct {
            int rc;
            struct procscan_result r;
            struct procscan_stats st;
        } got;
        struct child kid;
        sqlite3 *conn = NULL;
        pid_t pid;
        char byte = 0;

        if (c->shm) {
            cr_assert_eq(sqlite3_open(db, &conn), SQLITE_OK);
            cr_assert_eq(sqlite3_exec(conn, "SELECT count(*) FROM t", NULL, NULL, NULL), SQLITE_OK);
        }
        {
            char *argv[] = {"/usr/bin/python3", "-c", (char *)exec_map_holder, db,
                            (char *)mapped,     NULL};

            spawn(&kid, argv, -1);
        }
        cr_assert_eq(pipe(res), 0);
        cr_assert_eq(pipe(go), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            /* The scanner: holds a lock on the mapped file, as the agent's own connections
             * do, scans, and keeps the lock until the parent has looked for it. */
            struct flock rd = {
                .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = LOCK_BYTE, .l_len = 1};
            struct procscan *ps;

            memset(&got, 0, sizeof(got));
            if (c->drop_caps && drop_map_files_caps() != 0)
                _exit(3);
            fd = open(mapped, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || fcntl(fd, F_SETLK, &rd) != 0)
                _exit(4);
            ps = procscan_new(0);
            if (!ps || procscan_set_targets(ps, &t, 1) != 0)
                _exit(5);
            got.rc = procscan_run(ps, &got.r, &got.st);
            if (write(res[1], &got, sizeof(got)) != (ssize_t)sizeof(got) ||
                read(go[0], &byte, 1) != 1)
                _exit(6);
            _exit(0);
        }
        close(res[1]);
        close(go[0]);
        cr_assert_eq(read(res[0], &got, sizeof(got)), (ssize_t)sizeof(got));
        /* F_GETLK reports other processes' locks only. */
        fd = open(mapped, O_RDONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(fcntl(fd, F_GETLK, &fl), 0);
        cr_assert_eq(write(go[1], "x", 1), 1);
        close(go[1]);
        close(res[0]);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: scanner exit %d", c->name,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        child_stop(&kid);
        if (conn)
            sqlite3_close(conn);
        close(fd); /* after the connection: this process's own locks are no concern here */

        cr_expect_eq(got.rc, 0, "%s", c->name);
        cr_expect_eq(got.r.open_processes, c->open, "%s: open %u", c->name, got.r.open_processes);
        cr_expect_eq(got.r.mmap_processes, c->mmap, "%s: mmap %u", c->name, got.r.mmap_processes);
        cr_expect_eq(got.r.unknown_version, 1u, "%s: the holder's version is unknown", c->name);
        cr_expect_eq(got.st.objects, c->objects, "%s: %u objects looked up", c->name,
                     got.st.objects);
        cr_expect(fl.l_type == F_RDLCK && fl.l_pid == pid,
                  "%s: the scanner's own lock on the file was dropped", c->name);
    }
    helpers_rmtree(dir);
}
