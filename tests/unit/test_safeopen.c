/*
 * safeopen on real files: the link rule as a table; path resolution checked against SQLite's
 * own (sqlite3_db_filename after an open through the same path); opening refuses what is not a
 * regular file without blocking on it.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safeopen.h"
#include "tmpdir.h"

#define NOBODY 65534

Test(safeopen, link_rule)
{
    static const struct {
        uid_t link, target, euid;
        bool follow;
    } cases[] = {
        {0, 1000, 0, true},           /* root's link: the system's */
        {1000, 1000, 0, true},        /* to a file of the link's owner */
        {NOBODY, 0, 0, false},        /* nobody's link to root's file */
        {NOBODY, 1000, 0, false},     /* to another user's file */
        {1000, 0, 1000, true},        /* the agent's own link */
        {NOBODY, 1000, 1000, false},  /* another user's link, agent not root */
        {NOBODY, NOBODY, 1000, true}, /* a link to nobody's own file */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(safeopen_link_allowed(cases[i].link, cases[i].target, cases[i].euid),
                     cases[i].follow, "case %zu", i);
}

static void make_file(const char *name)
{
    char *p = tmpdir_file(name);
    sqlite3 *db = tmpdir_app_db(p, false);
    sqlite3_close(db);
    free(p);
}

static void make_dir(const char *name)
{
    char *p = tmpdir_file(name);
    cr_assert_eq(mkdir(p, 0755), 0, "%s", name);
    free(p);
}

static void make_fifo(const char *name)
{
    char *p = tmpdir_file(name);
    cr_assert_eq(mkfifo(p, 0600), 0, "%s", name);
    free(p);
}

static void make_link(const char *target, const char *name)
{
    char *p = tmpdir_file(name);
    cr_assert_eq(symlink(target, p), 0, "%s", name);
    free(p);
}

/* The file SQLite opens for path: what sqlite3_db_filename says after a read-only open. */
static bool sqlite_path(const char *path, char *out, size_t len)
{
    sqlite3 *db = NULL;
    bool ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
              sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_OK;
    if (ok)
        snprintf(out, len, "%s", sqlite3_db_filename(db, "main"));
    sqlite3_close(db);
    return ok;
}

Test(safeopen, resolves_as_sqlite_does, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    static const struct {
        const char *path; /* under the directory */
        enum safeopen_result result;
        const char *want; /* resolved, under the directory; NULL: SQLite's answer */
    } cases[] = {
        {"a/db", SAFEOPEN_OK, "a/db"},
        {"a/./db", SAFEOPEN_OK, "a/db"},
        {"a//db", SAFEOPEN_OK, "a/db"},
        {"a/b/../db", SAFEOPEN_OK, "a/db"},
        {"rel", SAFEOPEN_OK, "a/db"},        /* rel -> a/db */
        {"abs", SAFEOPEN_OK, "a/db"},        /* abs -> /.../a/db */
        {"chain", SAFEOPEN_OK, "a/db"},      /* chain -> rel -> a/db */
        {"dirlink/db", SAFEOPEN_OK, "a/db"}, /* dirlink -> a */
        /* up -> a/b/.. : SQLite removes "b" lexically after resolving a/b, as the kernel does
         * for a real directory */
        {"up", SAFEOPEN_OK, "a/db"},
        {"a/b/uplink/db", SAFEOPEN_OK, "a/db"}, /* a/b/uplink -> .. */
        {"missing.db", SAFEOPEN_OK, "missing.db"},
        {"dangling", SAFEOPEN_OK, "nowhere/x.db"}, /* dangling -> nowhere/x.db */
        {"loop", SAFEOPEN_TOO_LONG, ""},           /* loop -> loop */
        {"a/db/x", SAFEOPEN_MISSING, ""},          /* ENOTDIR */
    };
    char base[SAFEOPEN_PATH_MAX];

    cr_assert_not_null(realpath(tmpdir_path, base));
    make_dir("a");
    make_dir("a/b");
    make_file("a/db");
    make_link("a/db", "rel");
    char abs[SAFEOPEN_PATH_MAX + 8];
    snprintf(abs, sizeof(abs), "%s/a/db", base);
    make_link(abs, "abs");
    make_link("rel", "chain");
    make_link("a", "dirlink");
    make_link("a/b/../db", "up");
    make_link("..", "a/b/uplink");
    make_link("nowhere/x.db", "dangling");
    make_link("loop", "loop");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[SAFEOPEN_PATH_MAX + 64], want[SAFEOPEN_PATH_MAX + 64], theirs[1024];
        struct safeopen_path rp;
        snprintf(in, sizeof(in), "%s/%s", base, cases[i].path);
        enum safeopen_result r = safeopen_resolve(in, &rp);
        cr_expect_eq(r, cases[i].result, "%s: %s", cases[i].path, safeopen_result_str(r));
        if (r != SAFEOPEN_OK)
            continue;
        snprintf(want, sizeof(want), "%s/%s", base, cases[i].want);
        cr_expect_str_eq(rp.path, want, "%s", cases[i].path);
        /* Where SQLite can open it, it names the same file. */
        if (sqlite_path(in, theirs, sizeof(theirs)))
            cr_expect_str_eq(rp.path, theirs, "%s: SQLite says %s", cases[i].path, theirs);
    }
}

Test(safeopen, relative_and_too_long, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    char cwd[4096], base[SAFEOPEN_PATH_MAX], want[SAFEOPEN_PATH_MAX + 8], name[600];
    struct safeopen_path rp;

    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_not_null(realpath(tmpdir_path, base));
    make_file("x.db");
    cr_assert_eq(chdir(base), 0);
    cr_expect_eq(safeopen_resolve("x.db", &rp), SAFEOPEN_OK);
    snprintf(want, sizeof(want), "%s/x.db", base);
    cr_expect_str_eq(rp.path, want);
    /* Longer than the unix VFS's mxPathname (512): SQLite cannot open it either. */
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    cr_expect_eq(safeopen_resolve(name, &rp), SAFEOPEN_TOO_LONG);
    cr_expect_eq(safeopen_resolve("/", &rp), SAFEOPEN_TOO_LONG);
    cr_expect_eq(safeopen_resolve("/..", &rp), SAFEOPEN_TOO_LONG);
    cr_assert_eq(chdir(cwd), 0);
}

Test(safeopen, refuses_a_link_of_another_owner, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    struct safeopen_path rp;
    char *link = tmpdir_file("theirs"), *dir = tmpdir_file("dirlink");

    if (geteuid() != 0)
        cr_skip_test("needs root (lchown)");
    make_file("root.db");
    make_link("root.db", "theirs");
    make_link(".", "dirlink");
    cr_assert_eq(lchown(link, NOBODY, NOBODY), 0);
    cr_expect_eq(safeopen_resolve(link, &rp), SAFEOPEN_LINK_REFUSED);
    cr_expect_neq(strstr(rp.why, "owned by uid 65534, its target by uid 0"), NULL, "%s", rp.why);
    /* A directory link too. */
    cr_assert_eq(lchown(dir, NOBODY, NOBODY), 0);
    char via[SAFEOPEN_PATH_MAX];
    snprintf(via, sizeof(via), "%s/root.db", dir);
    cr_expect_eq(safeopen_resolve(via, &rp), SAFEOPEN_LINK_REFUSED);
    /* Once the target is nobody's, the link is followed. */
    char *db = tmpdir_file("root.db");
    cr_assert_eq(chown(db, NOBODY, NOBODY), 0);
    cr_expect_eq(safeopen_resolve(link, &rp), SAFEOPEN_OK);
    free(db);
    free(link);
    free(dir);
}

Test(safeopen, opens_only_regular_files, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    static const struct {
        const char *name; /* under the directory, or absolute */
        unsigned flags;
        enum safeopen_result result;
    } cases[] = {
        {"file", 0, SAFEOPEN_OK},
        {"fifo", 0, SAFEOPEN_NOT_REGULAR}, /* would block a plain open(O_RDONLY) */
        {"fifo", SAFEOPEN_FOLLOW, SAFEOPEN_NOT_REGULAR},
        {"fifolink", SAFEOPEN_FOLLOW, SAFEOPEN_NOT_REGULAR},
        {"dir", 0, SAFEOPEN_NOT_REGULAR},
        {"/dev/zero", 0, SAFEOPEN_NOT_REGULAR},
        {"link", 0, SAFEOPEN_SYMLINK},
        {"link", SAFEOPEN_FOLLOW, SAFEOPEN_OK},
        {"missing", 0, SAFEOPEN_MISSING},
        {"file/x", 0, SAFEOPEN_MISSING},
    };

    make_file("file");
    make_fifo("fifo");
    make_dir("dir");
    make_link("file", "link");
    make_link("fifo", "fifolink");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        struct stat st;
        int fd, err;
        if (cases[i].name[0] == '/')
            snprintf(path, sizeof(path), "%s", cases[i].name);
        else
            snprintf(path, sizeof(path), "%s/%s", tmpdir_path, cases[i].name);
        enum safeopen_result r = safeopen_open(path, cases[i].flags, &fd, &st, &err);
        cr_expect_eq(r, cases[i].result, "%s: %s", cases[i].name, safeopen_result_str(r));
        cr_expect_eq(fd >= 0, r == SAFEOPEN_OK, "%s: fd %d", cases[i].name, fd);
        if (r == SAFEOPEN_OK)
            cr_expect(S_ISREG(st.st_mode));
        if (fd >= 0)
            close(fd); /* no SQLite connection in this process */
    }
}

/* safeopen_openat, as the sampler calls it: a name in a directory descriptor, with or without
 * an lstat taken before (before_of: the file that lstat was of). A stale lstat of another file
 * is SAFEOPEN_CHANGED, and a non-regular one refuses without an open. */
Test(safeopen, openat_checks_as_open_does, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
    static const struct {
        const char *name;
        const char *before_of; /* NULL: safeopen_openat takes its own lstat */
        enum safeopen_result result;
    } cases[] = {
        {"file", NULL, SAFEOPEN_OK},
        {"fifo", NULL, SAFEOPEN_NOT_REGULAR},
        {"dir", NULL, SAFEOPEN_NOT_REGULAR},
        {"link", NULL, SAFEOPEN_SYMLINK},
        {"missing", NULL, SAFEOPEN_MISSING},
        {"file", "file", SAFEOPEN_OK},
        {"file", "other", SAFEOPEN_CHANGED}, /* replaced since the lstat */
        {"fifo", "fifo", SAFEOPEN_NOT_REGULAR},
        {"link", "link", SAFEOPEN_SYMLINK},
        {"other", "link", SAFEOPEN_SYMLINK}, /* the lstat's type decides: no open */
    };

    make_file("file");
    make_file("other");
    make_fifo("fifo");
    make_dir("dir");
    make_link("file", "link");
    int dirfd = open(tmpdir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dirfd, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stat before, st;
        int fd, err;
        if (cases[i].before_of != NULL)
            cr_assert_eq(fstatat(dirfd, cases[i].before_of, &before, AT_SYMLINK_NOFOLLOW), 0);
        enum safeopen_result r = safeopen_openat(
            dirfd, cases[i].name, cases[i].before_of != NULL ? &before : NULL, &fd, &st, &err);
        cr_expect_eq(r, cases[i].result, "%s: %s", cases[i].name, safeopen_result_str(r));
        if (r == SAFEOPEN_OK)
            cr_expect(fd >= 0 && S_ISREG(st.st_mode), "%s", cases[i].name);
        if (r == SAFEOPEN_NOT_REGULAR || r == SAFEOPEN_SYMLINK || r == SAFEOPEN_MISSING)
            cr_expect_eq(fd, -1, "%s: opened", cases[i].name);
        if (fd >= 0)
            close(fd); /* no SQLite connection in this process */
    }
    close(dirfd);
}
