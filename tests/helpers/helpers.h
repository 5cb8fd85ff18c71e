/*
 * helpers.h: shared by the unit tests that run real programs (test_elfver.c,
 * test_procscan.c). Include it from exactly one test file per executable: it defines
 * Criterion report hooks.
 *
 * The helper programs (build.sh) are built once per test executable, in the runner process
 * before any test forks, into a temporary directory whose path goes to the tests in the
 * environment variable SQLITE_AGENT_HELPERS; the directory is removed at the end. If that
 * variable is already set (helpers built by the build system), it is used as is.
 *
 * The temporary paths deliberately do not contain "sqlite": procscan treats executable
 * mappings whose path does as SQLite candidates, and the tests want the helper executables
 * found through the main-executable fallback.
 */
#ifndef SQLITE_AGENT_TEST_HELPERS_H
#define SQLITE_AGENT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where build.sh is: given by the build, or next to the golden files, or next to this file. */
#ifndef HELPERS_SRC_DIR
#ifdef GOLDEN_DIR
#define HELPERS_SRC_DIR GOLDEN_DIR "/../../helpers"
#else
#define HELPERS_SRC_DIR "tests/helpers"
#endif
#endif

#define HELPERS_ENV "SQLITE_AGENT_HELPERS"

static char helpers_built_dir[256]; /* set when this process built them (and removes them) */

static int helpers_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf dir, quietly. */
static inline void helpers_rmtree(const char *dir)
{
    nftw(dir, helpers_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    char cmd[1024];

    (void)set;
    if (getenv(HELPERS_ENV))
        return;
    snprintf(helpers_built_dir, sizeof(helpers_built_dir), "/tmp/agent-helpers-XXXXXX");
    if (!mkdtemp(helpers_built_dir)) {
        helpers_built_dir[0] = '\0';
        return;
    }
    snprintf(cmd, sizeof(cmd), "sh '%s/build.sh' '%s' >&2", HELPERS_SRC_DIR, helpers_built_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "helpers: build failed: %s\n", cmd);
        return; /* tests that need the helpers fail on the missing variable */
    }
    setenv(HELPERS_ENV, helpers_built_dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (helpers_built_dir[0])
        helpers_rmtree(helpers_built_dir);
}

/* out = $SQLITE_AGENT_HELPERS/name; fails the test when the helpers are missing. */
static inline void helper_path(char *out, size_t len, const char *name)
{
    const char *dir = getenv(HELPERS_ENV);
    struct stat st;

    cr_assert_not_null(dir, "helper programs not built (see stderr of the test run)");
    cr_assert_lt((size_t)snprintf(out, len, "%s/%s", dir, name), len);
    cr_assert_eq(stat(out, &st), 0, "%s: %s", out, strerror(errno));
}

/* A temporary directory for one test; remove with helpers_rmtree(). */
static inline void temp_dir(char *out, size_t len)
{
    cr_assert_lt((size_t)snprintf(out, len, "/tmp/agent-test-XXXXXX"), len);
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/* A process started by spawn(). */
struct child {
    pid_t pid;
    int stdin_w;    /* its stdin (closing it ends a holder), or -1 */
    char ready[64]; /* the "ready ..." line it printed, without the newline */
};

/*
 * Starts argv[0] (a path). With stdin_fd >= 0 the child reads that descriptor as stdin and
 * is ready once exec() succeeded (a close-on-exec pipe reports it); otherwise its stdin is a
 * pipe we keep, and it is ready when it prints a line starting with "ready" on stdout
 * (within 20 s). Fails the test when it does not get there.
 */
static inline void spawn(struct child *c, char *const argv[], int stdin_fd)
{
    int in[2] = {-1, -1}, out[2], execp[2];
    size_t got = 0;
    ssize_t n;

    memset(c, 0, sizeof(*c));
    c->stdin_w = -1;
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(pipe2(execp, O_CLOEXEC), 0);
    if (stdin_fd < 0)
        cr_assert_eq(pipe(in), 0);
    c->pid = fork();
    cr_assert_geq(c->pid, 0);
    if (c->pid == 0) {
        dup2(stdin_fd >= 0 ? stdin_fd : in[0], 0);
        dup2(out[1], 1);
        if (in[0] >= 0) {
            close(in[0]);
            close(in[1]);
        }
        close(out[0]);
        close(out[1]);
        close(execp[0]);
        execv(argv[0], argv);
        n = write(execp[1], "x", 1); /* exec failed */
        (void)n;
        _exit(127);
    }
    close(out[1]);
    close(execp[1]);
    if (in[0] >= 0) {
        close(in[0]);
        c->stdin_w = in[1];
    }
    /* EOF on the exec pipe: exec() succeeded; a byte: it failed. */
    n = read(execp[0], c->ready, 1);
    close(execp[0]);
    cr_assert_eq(n, 0, "exec %s failed", argv[0]);
    c->ready[0] = '\0';
    if (stdin_fd >= 0) {
        close(out[0]);
        return;
    }
    while (got < sizeof(c->ready) - 1 && !memchr(c->ready, '\n', got)) {
        struct pollfd pfd = {out[0], POLLIN, 0};

        cr_assert_eq(poll(&pfd, 1, 20000), 1, "%s: not ready in 20 s", argv[0]);
        n = read(out[0], c->ready + got, sizeof(c->ready) - 1 - got);
        cr_assert_gt(n, 0, "%s exited before it was ready", argv[0]);
        got += (size_t)n;
        c->ready[got] = '\0';
    }
    close(out[0]);
    if (strchr(c->ready, '\n'))
        *strchr(c->ready, '\n') = '\0';
    cr_assert_eq(strncmp(c->ready, "ready", 5), 0, "%s said \"%s\"", argv[0], c->ready);
}

static inline void child_stop(struct child *c)
{
    if (c->pid <= 0)
        return;
    if (c->stdin_w >= 0)
        close(c->stdin_w);
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
    c->stdin_w = -1;
}

#endif
