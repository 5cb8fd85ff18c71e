/* safeopen.c: see safeopen.h for the why. */
#include "safeopen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *safeopen_result_str(enum safeopen_result r)
{
    static const char *const names[] = {
        [SAFEOPEN_OK] = "ok",
        [SAFEOPEN_MISSING] = "missing",
        [SAFEOPEN_NOT_REGULAR] = "not a regular file",
        [SAFEOPEN_SYMLINK] = "a symbolic link (side files are never followed)",
        [SAFEOPEN_LINK_REFUSED] = "a symbolic link its owner may not point there",
        [SAFEOPEN_TOO_LONG] = "path too long for SQLite",
        [SAFEOPEN_CHANGED] = "replaced while being opened",
        [SAFEOPEN_ERRNO] = "system error",
    };

    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

int safeopen_errno(enum safeopen_result r, int err)
{
    switch (r) {
    case SAFEOPEN_OK:
        return 0;
    case SAFEOPEN_MISSING:
        return ENOENT;
    case SAFEOPEN_NOT_REGULAR:
        return EINVAL;
    case SAFEOPEN_SYMLINK:
        return ELOOP; /* what open(2) with O_NOFOLLOW says */
    case SAFEOPEN_LINK_REFUSED:
        return EACCES; /* what the kernel's protected_symlinks says */
    case SAFEOPEN_TOO_LONG:
        return ENAMETOOLONG;
    case SAFEOPEN_CHANGED:
        return ESTALE;
    default:
        return err;
    }
}

/* Root's links are the system's; the agent's own are its operator's; and a link to a file of
 * the link's owner names nothing its owner could not read anyway. (The kernel's rule, in
 * fs/namei.c may_follow_link, also trusts a link whose owner owns its directory: not here, as
 * the attack is precisely a user who owns a monitored directory.) */
bool safeopen_link_allowed(uid_t link_uid, uid_t target_uid, uid_t euid)
{
    return link_uid == 0 || link_uid == euid || link_uid == target_uid;
}

/* ---- resolution, as os_unix.c does it ---------------------------------------------------- */

struct resolver {
    struct safeopen_path *out;
    size_t used; /* bytes of out->path in use (nUsed) */
};

/* The link at r->out->path (lstat'ed as *lst): whether the rule lets it be followed. A target
 * that cannot be stat'ed (dangling, or no access) names nothing to read: the resolution goes
 * on and the open fails. */
static bool link_ok(struct resolver *r, const struct stat *lst)
{
    struct stat tst;

    if (stat(r->out->path, &tst) != 0 || safeopen_link_allowed(lst->st_uid, tst.st_uid, geteuid()))
        return true;
    snprintf(r->out->why, sizeof(r->out->why),
             "symbolic link %s is owned by uid %u, its target by uid %u: not followed",
             r->out->path, (unsigned)lst->st_uid, (unsigned)tst.st_uid);
    return false;
}

/* appendOnePathElement: name[0..n) onto the path; if the prefix is now a link, its target is
 * written to target (a NUL-terminated string) and *is_link set. */
static enum safeopen_result append_one(struct resolver *r, const char *name, size_t n, char *target,
                                       bool *is_link)
{
    char *o = r->out->path;
    struct stat lst;

    *is_link = false;
    r->out->last_known = false;
    if (name[0] == '.' && n == 1)
        return SAFEOPEN_OK;
    if (name[0] == '.' && name[1] == '.' && n == 2) {
        if (r->used <= 1)
            return SAFEOPEN_TOO_LONG; /* ".." above "/": SQLITE_ERROR there too */
        while (o[--r->used] != '/') {
        }
        o[r->used] = '\0';
        return SAFEOPEN_OK;
    }
    if (r->used + n + 2 >= sizeof(r->out->path))
        return SAFEOPEN_TOO_LONG;
    o[r->used++] = '/';
    memcpy(o + r->used, name, n);
    r->used += n;
    o[r->used] = '\0';
    if (lstat(o, &lst) != 0) {
        if (errno == ENOENT)
            return SAFEOPEN_OK; /* kept as written: the open will say it is missing */
        r->out->err = errno;
        return errno == ENOTDIR ? SAFEOPEN_MISSING : SAFEOPEN_ERRNO;
    }
    if (!S_ISLNK(lst.st_mode)) {
        r->out->last_known = true;
        r->out->last_st = lst;
        return SAFEOPEN_OK;
    }
    if (r->out->links++ > SAFEOPEN_LINKS_MAX)
        return SAFEOPEN_TOO_LONG;
    ssize_t got = readlink(o, target, SAFEOPEN_TARGET_MAX);
    if (got <= 0 || got >= SAFEOPEN_TARGET_MAX) {
        r->out->err = got < 0 ? errno : ENAMETOOLONG;
        return got < 0 ? SAFEOPEN_ERRNO : SAFEOPEN_TOO_LONG;
    }
    target[got] = '\0';
    if (!link_ok(r, &lst))
        return SAFEOPEN_LINK_REFUSED;
    /* An absolute target starts again from "/"; a relative one replaces the link's name. */
    r->used = target[0] == '/' ? 0 : r->used - n - 1;
    o[r->used] = '\0';
    *is_link = true;
    return SAFEOPEN_OK;
}

/* Replaces pending with target + "/" + rest (rest points into pending). */
static enum safeopen_result splice_target(char *pending, const char *target, const char *rest)
{
    char tmp[SAFEOPEN_PENDING_MAX + 1];
    int n = snprintf(tmp, sizeof(tmp), "%s/%s", target, rest);

    if (n < 0 || (size_t)n >= sizeof(tmp))
        return SAFEOPEN_TOO_LONG;
    memcpy(pending, tmp, (size_t)n + 1);
    return SAFEOPEN_OK;
}

/* appendAllPathElements, without recursion: what is left to resolve is kept in pending, a
 * link's target put in front of the rest, which is the order SQLite's recursion takes. */
static enum safeopen_result append_all(struct resolver *r, char *pending)
{
    char target[SAFEOPEN_TARGET_MAX + 1];
    const char *p = pending;
    enum safeopen_result res = SAFEOPEN_OK;

    while (res == SAFEOPEN_OK && *p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        if (end == p)
            break;
        bool is_link = false;
        res = append_one(r, p, (size_t)(end - p), target, &is_link);
        if (res == SAFEOPEN_OK && is_link) {
            res = splice_target(pending, target, end);
            p = pending;
        } else {
            p = end;
        }
    }
    return res;
}

enum safeopen_result safeopen_resolve(const char *path, struct safeopen_path *out)
{
    char pending[SAFEOPEN_PENDING_MAX + 1];
    struct resolver r = {.out = out};
    enum safeopen_result res = SAFEOPEN_OK;

    memset(out, 0, sizeof(*out));
    if (path[0] != '/') {
        char cwd[SAFEOPEN_TARGET_MAX + 2];
        if (getcwd(cwd, sizeof(cwd) - 2) == NULL) {
            out->err = errno;
            return SAFEOPEN_ERRNO;
        }
        if ((size_t)snprintf(pending, sizeof(pending), "%s/%s", cwd, path) >= sizeof(pending))
            return SAFEOPEN_TOO_LONG;
    } else if ((size_t)snprintf(pending, sizeof(pending), "%s", path) >= sizeof(pending)) {
        return SAFEOPEN_TOO_LONG;
    }
    res = append_all(&r, pending);
    out->path[r.used] = '\0';
    if (res == SAFEOPEN_OK && r.used < 2)
        res = SAFEOPEN_TOO_LONG; /* "/" itself: SQLITE_CANTOPEN */
    return res;
}

/* ---- opening ----------------------------------------------------------------------------- */

/* append_one for a last element that is not a link, looked up in the resolved directory's
 * descriptor instead of by the whole path: true when it settled the path (a file of any other
 * type, or nothing there), false for append_one to do it (a link, an error, too long). */
static bool last_in_dir(int dirfd, const char *name, struct resolver *r)
{
    size_t n = strlen(name);
    struct stat lst;

    if (r->used + n + 2 >= sizeof(r->out->path))
        return false;
    bool found = fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0;
    if (found ? S_ISLNK(lst.st_mode) : errno != ENOENT)
        return false;
    r->out->path[r->used++] = '/';
    memcpy(r->out->path + r->used, name, n + 1);
    r->used += n;
    r->out->last_known = found; /* missing: kept as written, as append_one does */
    if (found)
        r->out->last_st = lst;
    return true;
}

void safeopen_memo_reset(struct safeopen_memo *m)
{
    if (m->dir_open)
        close(m->dirfd);
    m->dir_open = false;
    m->dirfd = -1;
    m->valid = false;
}

int safeopen_memo_dirfd(const struct safeopen_memo *m, const char *resolved, size_t *name_off)
{
    size_t len = strlen(m->resolved.path);

    *name_off = 0;
    if (!m->dir_open || m->res != SAFEOPEN_OK || strncmp(resolved, m->resolved.path, len) != 0 ||
        resolved[len] != '/' || strchr(resolved + len + 1, '/') != NULL)
        return AT_FDCWD;
    *name_off = len + 1;
    return m->dirfd;
}

enum safeopen_result safeopen_resolve_memo(const char *path, struct safeopen_memo *m,
                                           struct safeopen_path *out)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash != NULL ? (size_t)(slash - path) : 0;
    const char *name = slash != NULL ? slash + 1 : path;

    if (path[0] != '/' || dirlen == 0 || dirlen > SAFEOPEN_PENDING_MAX || name[0] == '\0' ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return safeopen_resolve(path, out);
    if (!m->valid || strlen(m->dir) != dirlen || memcmp(m->dir, path, dirlen) != 0) {
        safeopen_memo_reset(m);
        memcpy(m->dir, path, dirlen);
        m->dir[dirlen] = '\0';
        m->res = safeopen_resolve(m->dir, &m->resolved);
        m->valid = true;
        /* Resolved: no link in it, so O_NOFOLLOW only guards the race. */
        if (m->res == SAFEOPEN_OK)
            m->dirfd = open(m->resolved.path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        m->dir_open = m->res == SAFEOPEN_OK && m->dirfd >= 0;
    }
    if (m->res != SAFEOPEN_OK) /* the whole path again, for its own error and detail */
        return safeopen_resolve(path, out);

    char pending[SAFEOPEN_PENDING_MAX + 1];
    struct resolver r = {.out = out};
    *out = m->resolved;
    r.used = strlen(out->path);
    if (m->dir_open && last_in_dir(m->dirfd, name, &r))
        return SAFEOPEN_OK;
    snprintf(pending, sizeof(pending), "%s", name); /* shorter than path: fits */
    enum safeopen_result res = append_all(&r, pending);
    out->path[r.used] = '\0';
    if (res == SAFEOPEN_OK && r.used < 2)
        res = SAFEOPEN_TOO_LONG;
    return res;
}

static enum safeopen_result type_of(const struct stat *st)
{
    return S_ISREG(st->st_mode)   ? SAFEOPEN_OK
           : S_ISLNK(st->st_mode) ? SAFEOPEN_SYMLINK
                                  : SAFEOPEN_NOT_REGULAR;
}

static enum safeopen_result stat_result(int rc, const struct stat *st, int *err)
{
    if (rc == 0)
        return type_of(st);
    *err = errno;
    return errno == ENOENT || errno == ENOTDIR ? SAFEOPEN_MISSING : SAFEOPEN_ERRNO;
}

enum safeopen_result safeopen_lstat(const char *path, struct stat *st, int *err)
{
    return safeopen_lstatat(AT_FDCWD, path, st, err);
}

enum safeopen_result safeopen_lstatat(int dirfd, const char *name, struct stat *st, int *err)
{
    int rc = fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW);

    return stat_result(rc, st, err);
}

bool safeopen_may_block(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode);
}

/* The open after the type check (*before, from lstat, or stat when follow), and the re-check
 * of the descriptor against it. */
static enum safeopen_result open_checked(int dirfd, const char *path, bool follow,
                                         const struct stat *before, int *fd, struct stat *st,
                                         int *err)
{
    *fd = openat(dirfd, path,
                 O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    if (*fd < 0) {
        *err = errno;
        /* ELOOP with O_NOFOLLOW: a link appeared since the lstat. */
        return errno == ENOENT || errno == ENOTDIR ? SAFEOPEN_MISSING
               : errno == ELOOP && !follow         ? SAFEOPEN_CHANGED
                                                   : SAFEOPEN_ERRNO;
    }
    if (fstat(*fd, st) != 0) {
        *err = errno;
        return SAFEOPEN_ERRNO;
    }
    if (!S_ISREG(st->st_mode))
        return SAFEOPEN_NOT_REGULAR;
    if (st->st_dev != before->st_dev || st->st_ino != before->st_ino)
        return SAFEOPEN_CHANGED;
    return SAFEOPEN_OK;
}

enum safeopen_result safeopen_openat(int dirfd, const char *name, const struct stat *before,
                                     int *fd, struct stat *st, int *err)
{
    struct stat now;
    enum safeopen_result res;

    *fd = -1;
    *err = 0;
    if (before == NULL) {
        res = safeopen_lstatat(dirfd, name, &now, err);
        before = &now;
    } else {
        res = type_of(before);
    }
    return res != SAFEOPEN_OK ? res : open_checked(dirfd, name, false, before, fd, st, err);
}

enum safeopen_result safeopen_open(const char *path, unsigned flags, int *fd, struct stat *st,
                                   int *err)
{
    const bool follow = (flags & SAFEOPEN_FOLLOW) != 0;
    struct stat before;
    enum safeopen_result res;

    *fd = -1;
    *err = 0;
    res = stat_result(follow ? stat(path, &before) : lstat(path, &before), &before, err);
    if (res != SAFEOPEN_OK)
        return res;
    return open_checked(AT_FDCWD, path, follow, &before, fd, st, err);
}
