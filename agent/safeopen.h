/*
 * safeopen.h: the one place where the agent opens a file it did not make.
 *
 * A monitored path is chosen by whoever controls its directory, who may not be the operator:
 *   - a FIFO there blocks open(2) until someone writes to it, so a check worker (or the config
 *     reader) would hang for ever, and with it SIGTERM's pthread_join. So the type is looked
 *     at first (lstat), only regular files are opened, always with O_NONBLOCK, and fstat after
 *     the open checks that the same regular file was opened (it may be swapped in between);
 *   - SQLite resolves symbolic links itself, element by element, and reads the -wal and -shm
 *     next to the TARGET (os_unix.c, unixFullPathname). The agent resolves a database path the
 *     same way (safeopen_resolve), each time it samples or checks (a link can change), and
 *     derives side files from the result;
 *   - a link lets its owner name a file they cannot read and have the agent (root) publish its
 *     header fields. The rule, after the kernel's fs.protected_symlinks: a link is followed
 *     only when its owner is root, the agent's own user, or the owner of what it points to
 *     (stat through the link). Anything else is refused (SAFEOPEN_LINK_REFUSED);
 *   - side files (-wal, -shm, -journal) are never followed (O_NOFOLLOW): SQLite opens them with
 *     O_NOFOLLOW too (os_unix.c, unixOpen: "openFlags |= ...O_NOFOLLOW"; unixOpenSharedMemory),
 *     so a link there is never what SQLite reads. A link is reported as SAFEOPEN_SYMLINK.
 *
 * What this does not cover: a hard link (Debian's fs.protected_hardlinks=1 forbids linking a
 * file one does not own), and a file the directory's owner moved in by rename(2) (they could
 * only do that to a file already in a directory they can write). The type is checked before
 * SQLite's own opens too (dbopen_plan, and the VFS's xOpen), but SQLite opens without
 * O_NONBLOCK: a FIFO swapped in between that look and SQLite's open (inotify tells a user when)
 * blocks the worker until the watchdog's dbopen_unblock at the run's deadline.
 *
 * Nothing here closes a descriptor on failure after the open: the caller owns it, and gives a
 * descriptor on a monitored file back through fdguard_release (the POSIX lock trap, fdguard.h).
 */
#ifndef SQLITE_AGENT_SAFEOPEN_H
#define SQLITE_AGENT_SAFEOPEN_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* os_unix.c: MAX_PATHNAME, the unix VFS's mxPathname: pager.c gives unixFullPathname a buffer
 * of mxPathname + 1 bytes, and a longer result fails the open. */
#define SAFEOPEN_PATH_MAX 512
/* os.h: SQLITE_MAX_SYMLINK, links one resolution may follow in all. */
#define SAFEOPEN_LINKS_MAX 200
/* os.h: SQLITE_MAX_PATHLEN (FILENAME_MAX, 4096): the readlink buffer; a longer target fails. */
#define SAFEOPEN_TARGET_MAX 4096
/* What is still to resolve: a link target plus the rest of the path after the link. SQLite
 * keeps the rest on its stack (it recurses); a longer pending path is an error here. */
#define SAFEOPEN_PENDING_MAX (2 * SAFEOPEN_TARGET_MAX)

enum safeopen_result {
    SAFEOPEN_OK = 0,
    SAFEOPEN_MISSING,      /* ENOENT, or ENOTDIR on the way: nothing there */
    SAFEOPEN_NOT_REGULAR,  /* a FIFO, device, socket or directory: never opened */
    SAFEOPEN_SYMLINK,      /* a side file that is a symbolic link: never followed */
    SAFEOPEN_LINK_REFUSED, /* a link on the way whose owner the rule does not trust */
    SAFEOPEN_TOO_LONG,     /* beyond SQLite's own limits (path, target, or links) */
    SAFEOPEN_CHANGED,      /* another file, or another type, between the look and the open */
    SAFEOPEN_ERRNO,        /* a system call failed: errno in err */
};

/* "ok", "missing", "not a regular file", ...: for logs and check details. */
const char *safeopen_result_str(enum safeopen_result r);

/* An errno value for a result (ENOENT, ELOOP for a link, EACCES for a refused link, as the
 * kernel's protected_symlinks answers, ...), or err itself for SAFEOPEN_ERRNO. */
int safeopen_errno(enum safeopen_result r, int err);

/* The rule for following a link owned by link_uid to a file owned by target_uid, for an agent
 * running as euid. Pure. */
bool safeopen_link_allowed(uid_t link_uid, uid_t target_uid, uid_t euid);

struct safeopen_path {
    char path[SAFEOPEN_PATH_MAX + 1];  /* absolute, no "." or "..", no links (when OK) */
    int links;                         /* links followed */
    int err;                           /* errno, for SAFEOPEN_ERRNO */
    char why[SAFEOPEN_PATH_MAX + 128]; /* for a refusal: which link, and whose */
    /* The resolution's lstat of path itself, when its last element exists and is not a link:
     * what safeopen_openat takes, so that the open needs no second lstat (issue 10). */
    bool last_known;
    struct stat last_st;
};

/*
 * The path SQLite would open for `path` (os_unix.c, 3.40.1, unixFullPathname and
 * appendOnePathElement): relative to the working directory, each element appended in turn,
 * "." dropped, ".." removing the last element of what was built so far (lexically, after the
 * links before it were resolved), each prefix lstat'ed and a link replaced by its target
 * (absolute: from "/"; relative: in place of the link), a missing element kept as written.
 * Each link followed must pass safeopen_link_allowed. SAFEOPEN_OK when SQLite would accept
 * the path (whether the file exists is for the open to tell).
 */
enum safeopen_result safeopen_resolve(const char *path, struct safeopen_path *out);

/* safeopen_resolve for many paths of one directory in a row (a sampling pass over a fleet of
 * 10,000): the resolution of the directory part is kept in the memo and reused while the next
 * path has the same directory part, saving an lstat per directory level per database. The
 * result is exactly safeopen_resolve's: SQLite resolves element by element
 * (appendAllPathElements), so a path's resolution is its directory's, then its last element.
 * A memo is as fresh as its first use: reset it at each pass (safeopen_memo_reset), so that a
 * link changed since is followed from the next pass, and a directory moved mid-pass is seen at
 * the next. Anything but "ABSOLUTE-DIR/NAME" goes to safeopen_resolve. */
struct safeopen_memo {
    bool valid;
    char dir[SAFEOPEN_PENDING_MAX + 1]; /* the directory part it holds, as given */
    enum safeopen_result res;
    struct safeopen_path resolved;
    /* O_PATH on the resolved directory, when it resolved and could be opened: the last
     * element's lstat is then taken in it (one path element walked, not all of them: issue
     * 10), and safeopen_memo_dirfd hands it out for the opens. It reads nothing and is never
     * a monitored file's descriptor, so closing it drops no lock (fdguard.h). */
    bool dir_open;
    int dirfd;
};

enum safeopen_result safeopen_resolve_memo(const char *path, struct safeopen_memo *m,
                                           struct safeopen_path *out);

/* A new pass: forgets what the memo holds and closes its descriptor. A zeroed memo is empty. */
void safeopen_memo_reset(struct safeopen_memo *m);

/* Where to look up the resolved path `resolved` (a result of safeopen_resolve_memo with m, in
 * this pass): the memo's directory descriptor and *name_off the offset of the last element
 * when the path lies directly in that directory; else AT_FDCWD and 0 (the whole path). */
int safeopen_memo_dirfd(const struct safeopen_memo *m, const char *resolved, size_t *name_off);

/* The type of what is at path, not following a last link: SAFEOPEN_OK for a regular file,
 * MISSING, SYMLINK, NOT_REGULAR, or ERRNO (*err). *st filled in when OK. */
enum safeopen_result safeopen_lstat(const char *path, struct stat *st, int *err);

/* For SQLite's own opens (the VFS's xOpen): true when something is at path that open(2)
 * without O_NONBLOCK could block on, i.e. anything but a regular file, a link (which SQLite's
 * O_NOFOLLOW refuses anyway) or nothing. */
bool safeopen_may_block(const char *path);

#define SAFEOPEN_FOLLOW 1u /* follow a last link (the config file); else O_NOFOLLOW */

/*
 * Opens a regular file read-only: the type first (lstat, or stat with SAFEOPEN_FOLLOW), then
 * open(O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, and O_NOFOLLOW unless SAFEOPEN_FOLLOW),
 * then fstat: the same regular file (device and inode) as looked at. *fd is -1 unless the open
 * succeeded; on NOT_REGULAR or CHANGED after the open it is still open, and the caller releases
 * it (fdguard_release for a monitored file). *st is the fstat of the descriptor.
 */
/*
 * safeopen_open(path, 0, ...) and safeopen_lstat for name in the directory dirfd (AT_FDCWD,
 * or a descriptor on a directory already resolved, as sampler.c keeps for a pass): the same
 * checks, with one path element walked instead of every one of an absolute path (issue 10: the
 * kernel's path walk was a quarter of a sampling pass). before, when not NULL, is an lstat of
 * name taken just before (e.g. the resolution's safeopen_path.last_st): the type is checked
 * from it instead of a second lstat; the open (O_NOFOLLOW) and the re-check after it (regular,
 * same device and inode as before) are the same, so a file replaced since is SAFEOPEN_CHANGED.
 */
enum safeopen_result safeopen_openat(int dirfd, const char *name, const struct stat *before,
                                     int *fd, struct stat *st, int *err);
enum safeopen_result safeopen_lstatat(int dirfd, const char *name, struct stat *st, int *err);

enum safeopen_result safeopen_open(const char *path, unsigned flags, int *fd, struct stat *st,
                                   int *err);

#endif
