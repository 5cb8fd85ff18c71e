/*
 * test_evidence.c: evidence.c's bounds on real files: no copy without evidence_dir, a refusal
 * of a directory that holds a monitored database or is not a directory, a database larger
 * than evidence_max_bytes not copied (too_big, nothing left behind), and a good copy of a
 * healthy database whose manifest names its sha256. (The copy of damaged files, under a
 * committing writer, is tests/integration/test_recovery.py.)
 */
#include "evidence.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

static char root[64];

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The test's directory goes, whatever the outcome. */
static void cleanup(void)
{
    if (root[0] != '\0')
        nftw(root, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A rollback-journal database of about kib KiB in dir/name. */
static void make_db(const char *path, int kib)
{
    sqlite3 *db;
    char sql[256];

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE t(x BLOB); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
             "FROM s WHERE i < %d) INSERT INTO t SELECT randomblob(1000) FROM s;",
             kib);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static struct config *load(const char *evidence_dir, const char *dbpath, const char *max)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "[agent]\n%s%s\nevidence_max_bytes = %s\n[database:d]\npath = %s\n",
             evidence_dir ? "evidence_dir = " : "", evidence_dir ? evidence_dir : "", max, dbpath);
    struct config *c = config_load_string(text, "t.ini", stderr);
    cr_assert_not_null(c);
    return c;
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

struct setup_case {
    const char *evidence; /* under root: "" = off, "db" = the db's own directory */
    bool want_ev;
    bool want_failed;
};

static const struct setup_case setups[] = {
    {"", false, false},       {"ev", true, false},
    {"db", false, true},      {"db/d.db", false, true}, /* a file, not a directory */
    {"missing", false, true},
};

Test(evidence, setup, .fini = cleanup)
{
    char dbdir[128], dbpath[160], ev[160];

    snprintf(root, sizeof(root), "/tmp/ev-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(dbdir, sizeof(dbdir), "%s/db", root);
    snprintf(ev, sizeof(ev), "%s/ev", root);
    cr_assert_eq(mkdir(dbdir, 0700), 0);
    cr_assert_eq(mkdir(ev, 0700), 0);
    snprintf(dbpath, sizeof(dbpath), "%s/d.db", dbdir);
    make_db(dbpath, 16);
    for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
        char dir[200];
        snprintf(dir, sizeof(dir), "%s/%s", root, setups[i].evidence);
        struct config *c = load(setups[i].evidence[0] ? dir : NULL, dbpath, "1GiB");
        struct state *st = state_new(0);
        struct fdguard **g = fdguard_set_new(c);
        bool failed = true;
        struct evidence *e = evidence_new(c, st, g, &failed);
        cr_expect_eq(e != NULL, setups[i].want_ev, "case %zu", i);
        cr_expect_eq(failed, setups[i].want_failed, "case %zu", i);
        evidence_free(e);
        fdguard_set_free(g, c->ndbs);
        state_free(st);
        config_free(c);
    }
}

struct copy_case {
    int kib;         /* database size */
    const char *max; /* evidence_max_bytes */
    enum evidence_result want;
    size_t files; /* in evidence_dir afterwards */
};

static const struct copy_case copies[] = {
    {2048, "1MiB", EVIDENCE_TOO_BIG, 0},
    {256, "1MiB", EVIDENCE_OK, 2}, /* the copy and its manifest */
};

Test(evidence, copy_bounds_and_manifest, .fini = cleanup)
{
    for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++) {
        char dbpath[160], ev[160], path[EVIDENCE_PATH_MAX];
        snprintf(root, sizeof(root), "/tmp/ev-unit-XXXXXX");
        cr_assert_not_null(mkdtemp(root));
        snprintf(ev, sizeof(ev), "%s/ev", root);
        cr_assert_eq(mkdir(ev, 0700), 0);
        snprintf(dbpath, sizeof(dbpath), "%s/d.db", root);
        make_db(dbpath, copies[i].kib);
        struct config *c = load(ev, dbpath, copies[i].max);
        struct state *st = state_new(0);
        struct fdguard **g = fdguard_set_new(c);
        bool failed;
        struct evidence *e = evidence_new(c, st, g, &failed);
        cr_assert_not_null(e);
        struct stat sb;
        cr_assert_eq(stat(dbpath, &sb), 0);
        struct db_snapshot d = {.name = "d", .path = dbpath};
        d.sample.status = SAMPLE_OK;
        d.sample.file_size = (uint64_t)sb.st_size;
        enum evidence_result r = evidence_copy_one(e, 0, &d, path, sizeof(path));
        cr_expect_eq(r, copies[i].want, "case %zu: %s", i, state_evidence_result_str(r));
        cr_expect_eq(entries(ev), copies[i].files, "case %zu", i);
        if (r == EVIDENCE_OK) {
            /* the manifest's sha256 is the copy's */
            char manifest[EVIDENCE_PATH_MAX + 16], line[256], hex[SHA256_HEX_SIZE];
            unsigned char buf[4096], digest[SHA256_DIGEST_SIZE];
            struct sha256 h;
            size_t n;
            bool found = false;
            FILE *f = fopen(path, "rb");
            cr_assert_not_null(f);
            sha256_init(&h);
            while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                sha256_update(&h, buf, n);
            fclose(f);
            sha256_final(&h, digest);
            sha256_hex(digest, hex);
            snprintf(manifest, sizeof(manifest), "%s.manifest", path);
            f = fopen(manifest, "r");
            cr_assert_not_null(f);
            while (fgets(line, sizeof(line), f))
                found = found || strstr(line, hex) != NULL;
            fclose(f);
            cr_expect(found, "case %zu: sha256 %s not in the manifest", i, hex);
            cr_expect_eq(stat(path, &sb), 0);
            cr_expect_eq(sb.st_mode & 0777, 0600, "case %zu: the copy is the agent's only", i);
        }
        evidence_free(e);
        fdguard_set_free(g, c->ndbs);
        state_free(st);
        config_free(c);
        cleanup();
    }
}
