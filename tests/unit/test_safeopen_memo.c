/*
 * test_safeopen_memo.c: safeopen_resolve_memo gives what safeopen_resolve gives, path by path,
 * over real directories, links and missing elements, with one memo kept across the cases (so
 * that reuse and change of the directory part both happen).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safeopen.h"
#include "tmpdir.h"

/* tmpdir.h helpers this file does not need. */
static void unused_helpers(void) __attribute__((unused));
static void unused_helpers(void)
{
    (void)tmpdir_app_db;
    (void)exec_sql;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(safeopen_memo, .init = tmpdir_setup, .fini = tmpdir_teardown);

static void touch(const char *rel)
{
    char *p = tmpdir_file(rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fclose(f);
    free(p);
}

static void link_to(const char *target, const char *rel)
{
    char *p = tmpdir_file(rel);
    cr_assert_eq(symlink(target, p), 0);
    free(p);
}

/* safeopen_memo_dirfd: the directory's descriptor and the name's offset for a path directly in
 * the memo's directory (the same file found through it as by the whole path), else AT_FDCWD. */
static void expect_dirfd(const struct safeopen_memo *memo, const char *resolved, const char *rel)
{
    size_t off = 99;
    int fd = safeopen_memo_dirfd(memo, resolved, &off);
    const char *slash = strrchr(resolved, '/');
    bool inside = memo->dir_open && strlen(memo->resolved.path) == (size_t)(slash - resolved) &&
                  strncmp(resolved, memo->resolved.path, (size_t)(slash - resolved)) == 0;

    cr_expect_eq(fd == AT_FDCWD, !inside, "%s: dirfd %d", rel, fd);
    cr_expect_eq(off, inside ? (size_t)(slash - resolved) + 1 : 0, "%s", rel);
    struct stat a, b;
    int ra = fstatat(fd, resolved + off, &a, AT_SYMLINK_NOFOLLOW);
    int rb = lstat(resolved, &b);
    cr_expect_eq(ra, rb, "%s", rel);
    if (ra == 0 && rb == 0)
        cr_expect_eq(a.st_ino, b.st_ino, "%s", rel);
}

Test(safeopen_memo, same_as_resolve)
{
    static const char *const rel[] = {
        "t0/a.db",        /* plain */
        "t0/b.db",        /* same directory: the memo is reused */
        "t0/missing.db",  /* missing file in a known directory */
        "t0/link.db",     /* a link to a.db, last element */
        "t0/dangling.db", /* a link to nothing */
        "lt/a.db",        /* a directory that is a link to t0 */
        "lt/link.db",     /* both */
        "t1/a.db",        /* another directory */
        "nodir/a.db",     /* a directory that does not exist */
        "t0/a.db/x",      /* a file used as a directory */
        "t0/./a.db",      /* "." in the directory part */
        "t1/../t0/a.db",  /* ".." in the directory part */
        "t0/..",          /* ".." last: not memoized */
        "t0/",            /* trailing slash: not memoized */
        "t0/a.db",        /* back to the first directory */
    };
    char *d;

    cr_assert_gt(asprintf(&d, "%s/t0", tmpdir_path), 0);
    cr_assert_eq(mkdir(d, 0700), 0);
    d[strlen(d) - 1] = '1';
    cr_assert_eq(mkdir(d, 0700), 0);
    free(d);
    touch("t0/a.db");
    touch("t0/b.db");
    touch("t1/a.db");
    link_to("a.db", "t0/link.db");
    link_to("nowhere", "t0/dangling.db");
    link_to("t0", "lt");

    struct safeopen_memo *memo = calloc(1, sizeof(*memo));
    struct safeopen_path *want = malloc(sizeof(*want)), *got = malloc(sizeof(*got));
    cr_assert(memo && want && got);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ARRAY_LEN(rel); i++) {
            char *p = tmpdir_file(rel[i]);
            enum safeopen_result rw = safeopen_resolve(p, want);
            enum safeopen_result rg = safeopen_resolve_memo(p, memo, got);
            cr_expect_eq(rg, rw, "%s: %s, want %s", rel[i], safeopen_result_str(rg),
                         safeopen_result_str(rw));
            if (rw == SAFEOPEN_OK && rg == SAFEOPEN_OK) {
                cr_expect_str_eq(got->path, want->path, "%s", rel[i]);
                cr_expect_eq(got->links, want->links, "%s", rel[i]);
                /* The lstat the open takes, whether found in the directory's descriptor or
                 * by the whole path. */
                cr_expect_eq(got->last_known, want->last_known, "%s", rel[i]);
                if (want->last_known)
                    cr_expect_eq(got->last_st.st_ino, want->last_st.st_ino, "%s", rel[i]);
                expect_dirfd(memo, got->path, rel[i]);
            }
            free(p);
        }
        safeopen_memo_reset(memo); /* a new pass */
        cr_expect(!memo->dir_open);
    }
    free(memo);
    free(want);
    free(got);
}
