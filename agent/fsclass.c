/*
 * fsclass.c: statfs f_type -> filesystem name and "network" flag (see fsclass.h).
 *
 * Sources for the magic numbers, each row says which:
 *   [M] <linux/magic.h> (Debian 12 linux-libc-dev), and statfs(2), which lists the same;
 *   [C] GNU coreutils src/stat.c human_fstype(), whose comments mark each type "local" or
 *       "remote" (the list `stat -f` and `tail -f` use);
 *   [K] the kernel source of that filesystem, named in the row.
 * The "network" column follows coreutils' remote/local except where the row says why not.
 */
#include "fsclass.h"

#include <errno.h>
#include <sys/statfs.h>

#define NET true
#define LOCAL false

static const struct fsclass table[] = {
    /* Local disk filesystems. */
    /* [M] EXT2/EXT3/EXT4_SUPER_MAGIC are all 0xEF53; the ext4 driver mounts all three on
     * current kernels, so the name is the driver's. */
    {"ext4", LOCAL, true, 0xEF53u},
    {"xfs", LOCAL, true, 0x58465342u},      /* [M] XFS_SUPER_MAGIC "XFSB" */
    {"btrfs", LOCAL, true, 0x9123683Eu},    /* [M] BTRFS_SUPER_MAGIC */
    {"zfs", LOCAL, true, 0x2FC12FC1u},      /* [C] S_MAGIC_ZFS */
    {"f2fs", LOCAL, true, 0xF2F52010u},     /* [M] F2FS_SUPER_MAGIC */
    {"bcachefs", LOCAL, true, 0xCA451A4Eu}, /* [K] fs/bcachefs: BCACHEFS_STATFS_MAGIC */
    {"jfs", LOCAL, true, 0x3153464Au},      /* [C] S_MAGIC_JFS */
    {"reiserfs", LOCAL, true, 0x52654973u}, /* [M] REISERFS_SUPER_MAGIC */
    {"nilfs", LOCAL, true, 0x3434u},        /* [M] NILFS_SUPER_MAGIC */
    {"vfat", LOCAL, true, 0x4D44u},         /* [M] MSDOS_SUPER_MAGIC (msdos and vfat) */
    {"exfat", LOCAL, true, 0x2011BAB0u},    /* [M] EXFAT_SUPER_MAGIC */
    {"ntfs", LOCAL, true, 0x5346544Eu},     /* [C] S_MAGIC_NTFS (the old ntfs driver) */
    {"ntfs3", LOCAL, true, 0x7366746Eu},    /* [K] fs/ntfs3/super.c: s_magic = 0x7366746e */
    {"isofs", LOCAL, true, 0x9660u},        /* [M] ISOFS_SUPER_MAGIC */
    {"udf", LOCAL, true, 0x15013346u},      /* [M] UDF_SUPER_MAGIC */
    {"squashfs", LOCAL, true, 0x73717368u}, /* [M] SQUASHFS_MAGIC */
    {"erofs", LOCAL, true, 0xE0F5E1E2u},    /* [M] EROFS_SUPER_MAGIC_V1 */
    {"cramfs", LOCAL, true, 0x28CD3D45u},   /* [M] CRAMFS_MAGIC */
    {"ecryptfs", LOCAL, true, 0xF15Fu},     /* [M] ECRYPTFS_SUPER_MAGIC (stacked) */
    /* [M] OVERLAYFS_SUPER_MAGIC. coreutils calls it remote, for inotify's sake only; the
     * layers are on this kernel, so locks and shared memory work as on the upper layer. */
    {"overlay", LOCAL, true, 0x794C7630u},
    {"aufs", LOCAL, true, 0x61756673u}, /* [C] S_MAGIC_AUFS: remote there for inotify only */
    /* Memory filesystems. */
    {"tmpfs", LOCAL, true, 0x01021994u},     /* [M] TMPFS_MAGIC (also devtmpfs, /dev/shm) */
    {"ramfs", LOCAL, true, 0x858458F6u},     /* [M] RAMFS_MAGIC */
    {"hugetlbfs", LOCAL, true, 0x958458F6u}, /* [M] HUGETLBFS_MAGIC */
    {"proc", LOCAL, true, 0x9FA0u},          /* [M] PROC_SUPER_MAGIC */
    {"sysfs", LOCAL, true, 0x62656572u},     /* [M] SYSFS_MAGIC */
    /* Network filesystems. */
    {"nfs", NET, true, 0x6969u},      /* [M] NFS_SUPER_MAGIC (v2, v3 and v4) */
    {"cifs", NET, true, 0xFF534D42u}, /* [M] CIFS_SUPER_MAGIC */
    {"smb2", NET, true, 0xFE534D42u}, /* [M] SMB2_SUPER_MAGIC: cifs.ko speaking SMB2/3 */
    {"smb", NET, true, 0x517Bu},      /* [M] SMB_SUPER_MAGIC (the old smbfs) */
    /* [M] V9FS_MAGIC. coreutils says local; but 9p serves files of another kernel (the
     * QEMU/virtio host, WSL2's Windows side, a 9p server), whose locks and page cache
     * this kernel's SQLite does not share. */
    {"9p", NET, true, 0x01021997u},
    {"ceph", NET, true, 0x00C36400u}, /* [M] CEPH_SUPER_MAGIC */
    /* [M] FUSE_SUPER_MAGIC (fuse and fuseblk). The magic cannot tell sshfs, glusterfs,
     * s3fs, rclone or gcsfuse (network) from ntfs-3g or mergerfs (local). Most FUSE mounts
     * that hold databases in production are network ones, and a FUSE daemon decides for
     * itself how faithfully it implements POSIX locks and shared mmap: count it as network
     * (coreutils also calls it remote) and let the name say "fuse". */
    {"fuse", NET, true, 0x65735546u},
    {"afs", NET, true, 0x5346414Fu},      /* [M] AFS_SUPER_MAGIC (OpenAFS) */
    {"kafs", NET, true, 0x6B414653u},     /* [M] AFS_FS_MAGIC (the kernel's AFS) */
    {"coda", NET, true, 0x73757245u},     /* [M] CODA_SUPER_MAGIC */
    {"ncp", NET, true, 0x564Cu},          /* [M] NCP_SUPER_MAGIC (NetWare) */
    {"orangefs", NET, true, 0x20030528u}, /* [K] fs/orangefs: ORANGEFS_SUPER_MAGIC */
    {"lustre", NET, true, 0x0BD00BD0u},   /* [C] S_MAGIC_LUSTRE */
    {"gpfs", NET, true, 0x47504653u},     /* [C] S_MAGIC_GPFS (IBM Storage Scale) */
    {"beegfs", NET, true, 0x19830326u},   /* [C] S_MAGIC_FHGFS (BeeGFS, formerly FhGFS) */
    {"panfs", NET, true, 0xAAD7AAEAu},    /* [C] S_MAGIC_PANFS */
    {"ibrix", NET, true, 0x013111A8u},    /* [C] S_MAGIC_IBRIX */
    {"acfs", NET, true, 0x61636673u},     /* [C] S_MAGIC_ACFS (Oracle ACFS) */
    {"snfs", NET, true, 0xBEEFDEADu},     /* [C] S_MAGIC_SNFS (StorNext) */
    /* Cluster filesystems over shared block storage: other nodes write the same blocks. */
    {"gfs2", NET, true, 0x01161970u},  /* [C] S_MAGIC_GFS */
    {"ocfs2", NET, true, 0x7461636Fu}, /* [M] OCFS2_SUPER_MAGIC */
    {"vxfs", NET, true, 0xA501FCF5u},  /* [C] S_MAGIC_VXFS: may run clustered */
    /* A hypervisor host's folders, served to this guest: another kernel owns the files. */
    {"vboxsf", NET, true, 0x786F4256u}, /* [K] fs/vboxsf/super.c: VBOXSF_SUPER_MAGIC */
    {"vmhgfs", NET, true, 0xBACBACBCu}, /* [C] S_MAGIC_VMHGFS (VMware shared folders) */
    {"prl_fs", NET, true, 0x7C7C6673u}, /* [C] S_MAGIC_PRL_FS (Parallels) */
    {"hostfs", NET, true, 0x00C0FFEEu}, /* [M] HOSTFS_SUPER_MAGIC (UML's host files) */
};

struct fsclass fsclass_from_magic(long f_type)
{
    struct fsclass out = {"unknown", false, false, 0};
    uint32_t magic = (uint32_t)(unsigned long)f_type;
    size_t i;

    out.magic = magic;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].magic == magic)
            return table[i];
    }
    return out;
}

const struct fsclass *fsclass_table(size_t *count)
{
    if (count)
        *count = sizeof(table) / sizeof(table[0]);
    return table;
}

int fsclass_statfs(const char *path, struct fsclass *out)
{
    struct statfs sfs;

    *out = fsclass_from_magic(0); /* pure: leaves errno alone */
    if (!path) {
        errno = EINVAL;
        return -1;
    }
    if (statfs(path, &sfs) != 0)
        return -1;
    *out = fsclass_from_magic((long)sfs.f_type);
    return 0;
}

int fsclass_fstatfs(int fd, struct fsclass *out)
{
    struct statfs sfs;

    *out = fsclass_from_magic(0);
    if (fstatfs(fd, &sfs) != 0)
        return -1;
    *out = fsclass_from_magic((long)sfs.f_type);
    return 0;
}
