/*
 * test_fsclass.c: every row of the magic table, written out again here from the sources
 * (linux/magic.h, coreutils stat.c, the kernel files named in fsclass.c), so a typo in either
 * place shows; then statfs() of real directories: /dev/shm is tmpfs, the build directory is
 * local.
 */
#include "fsclass.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct magic_case {
    uint32_t magic;
    const char *name;
    bool network;
};

static const struct magic_case cases[] = {
    {0xEF53, "ext4", false},      {0x58465342, "xfs", false},
    {0x9123683E, "btrfs", false}, {0x2FC12FC1, "zfs", false},
    {0xF2F52010, "f2fs", false},  {0xCA451A4E, "bcachefs", false},
    {0x3153464A, "jfs", false},   {0x52654973, "reiserfs", false},
    {0x3434, "nilfs", false},     {0x4D44, "vfat", false},
    {0x2011BAB0, "exfat", false}, {0x5346544E, "ntfs", false},
    {0x7366746E, "ntfs3", false}, {0x9660, "isofs", false},
    {0x15013346, "udf", false},   {0x73717368, "squashfs", false},
    {0xE0F5E1E2, "erofs", false}, {0x28CD3D45, "cramfs", false},
    {0xF15F, "ecryptfs", false},  {0x794C7630, "overlay", false},
    {0x61756673, "aufs", false},  {0x01021994, "tmpfs", false},
    {0x858458F6, "ramfs", false}, {0x958458F6, "hugetlbfs", false},
    {0x9FA0, "proc", false},      {0x62656572, "sysfs", false},
    {0x6969, "nfs", true},        {0xFF534D42, "cifs", true},
    {0xFE534D42, "smb2", true},   {0x517B, "smb", true},
    {0x01021997, "9p", true},     {0x00C36400, "ceph", true},
    {0x65735546, "fuse", true},   {0x5346414F, "afs", true},
    {0x6B414653, "kafs", true},   {0x73757245, "coda", true},
    {0x564C, "ncp", true},        {0x20030528, "orangefs", true},
    {0x0BD00BD0, "lustre", true}, {0x47504653, "gpfs", true},
    {0x19830326, "beegfs", true}, {0xAAD7AAEA, "panfs", true},
    {0x013111A8, "ibrix", true},  {0x61636673, "acfs", true},
    {0xBEEFDEAD, "snfs", true},   {0x01161970, "gfs2", true},
    {0x7461636F, "ocfs2", true},  {0xA501FCF5, "vxfs", true},
    {0x786F4256, "vboxsf", true}, {0xBACBACBC, "vmhgfs", true},
    {0x7C7C6673, "prl_fs", true}, {0x00C0FFEE, "hostfs", true},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

Test(fsclass, whole_table)
{
    const struct fsclass *tab;
    size_t n, i, j;

    for (i = 0; i < NCASES; i++) {
        struct fsclass fc = fsclass_from_magic((long)cases[i].magic);

        cr_expect(fc.known, "0x%x", cases[i].magic);
        cr_expect_str_eq(fc.name, cases[i].name, "0x%x", cases[i].magic);
        cr_expect_eq(fc.network, cases[i].network, "%s", cases[i].name);
        cr_expect_eq(fc.magic, cases[i].magic, "%s", cases[i].name);
        /* A 32-bit f_type carries 0xFF534D42 negative; sign extension must not matter. */
        fc = fsclass_from_magic((long)(int32_t)cases[i].magic);
        cr_expect_str_eq(fc.name, cases[i].name, "sign-extended 0x%x", cases[i].magic);
    }
    /* Nothing in the table that the cases above do not pin down, and no duplicates. */
    tab = fsclass_table(&n);
    cr_expect_eq(n, NCASES, "table has %zu rows, cases %zu", n, NCASES);
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            cr_expect_neq(tab[i].magic, tab[j].magic, "magic 0x%x twice", tab[i].magic);
            cr_expect_str_neq(tab[i].name, tab[j].name, "name %s twice", tab[i].name);
        }
    }
}

Test(fsclass, unknown_magic)
{
    static const long unknown[] = {0, 1, 0x12345678, 0xEF51 /* old ext2, not listed */};
    size_t i;

    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        struct fsclass fc = fsclass_from_magic(unknown[i]);

        cr_expect_not(fc.known);
        cr_expect_not(fc.network);
        cr_expect_str_eq(fc.name, "unknown");
        cr_expect_eq(fc.magic, (uint32_t)unknown[i]);
    }
}

struct dir_case {
    const char *path; /* NULL: the current (build) directory; always a directory */
    const char *name; /* expected name, or NULL for "any known" */
    bool network;
    int rc;
};

static const struct dir_case dir_cases[] = {
    {"/dev/shm", "tmpfs", false, 0},
    {NULL, NULL, false, 0},
    {"/nonexistent/fsclass-test", "unknown", false, -1},
};

Test(fsclass, statfs_real_directories)
{
    char cwd[4096];
    size_t i;

    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    for (i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
        const struct dir_case *c = &dir_cases[i];
        const char *path = c->path ? c->path : cwd;
        struct fsclass fc;

        errno = 0;
        cr_expect_eq(fsclass_statfs(path, &fc), c->rc, "%s", path);
        if (c->rc == 0) {
            /* The descriptor form agrees. */
            struct fsclass viafd;
            int fd = open(path, O_RDONLY | O_DIRECTORY);

            cr_assert_geq(fd, 0, "%s", path);
            cr_expect_eq(fsclass_fstatfs(fd, &viafd), 0);
            cr_expect_eq(viafd.magic, fc.magic, "%s", path);
            close(fd);
        }
        if (c->rc != 0) {
            cr_expect_eq(errno, ENOENT, "%s", path);
            cr_expect_not(fc.known);
        } else {
            cr_expect(fc.known, "%s: magic 0x%x not in the table", path, fc.magic);
        }
        if (c->name)
            cr_expect_str_eq(fc.name, c->name, "%s", path);
        cr_expect_eq(fc.network, c->network, "%s is %s", path, fc.name);
    }
    cr_expect_eq(fsclass_fstatfs(-1, &(struct fsclass){0}), -1);
    cr_expect_eq(errno, EBADF);
}
