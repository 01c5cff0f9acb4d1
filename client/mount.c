/*
 * mount.c - cairn-mount: the Cairn file system through FUSE 3 (low-level
 * API, multi-threaded), on top of libcairn.
 *
 *   cairn-mount MASTER:PORT MOUNTPOINT [-f] [-d] [-o opt[,opt...]]
 *
 * Decisions:
 *  - The master must answer before the mount is made: a wrong address or a
 *    dead master is an error on the terminal within connect_timeout, never a
 *    mount that hangs. Without -f the process forks first and the parent
 *    waits for the child's verdict, so the exit status tells the truth (the
 *    libuv and flusher threads are started in the child, after the fork).
 *  - Inode numbers are the master's; the kernel's lookup counts are not
 *    tracked because nothing in this client is per-lookup (forget is a no-op).
 *  - Permissions: the kernel checks them (default_permissions) with the
 *    caller's supplementary groups; the master checks uid/gid again.
 *  - Kernel caches: entries and attributes for entry_timeout / attr_timeout
 *    seconds (1 s by default, like mfsmount); file pages are dropped at open
 *    so another client's writes are seen at the next open.
 *  - Locks (flock, fcntl) go to the master, so every mount sees them. A
 *    blocking one waits in the master, not in a FUSE worker: the answer to
 *    the kernel comes from libcairn's I/O thread; the kernel's interrupt of
 *    the caller (a signal) cancels it. POSIX locks of an owner go at FUSE flush (every
 *    close), flock locks at release of the open file.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "libcairn.h"
#include "log.h"

struct mopts {
    char *master;
    unsigned master_timeout; /* seconds */
    unsigned connect_timeout;
    unsigned cs_timeout;
    unsigned ec_slow_ms;
    double attr_timeout, entry_timeout;
    unsigned write_buffer_mb, readahead_mb;
    char *log_file;
    int show_help;
};

/* The kernel asks for security.capability before every write (to drop
 * file capabilities); answering "none" from a short-lived per-inode cache
 * spares a master round trip per write request. */
#define NOCAP_SLOTS  1024
#define NOCAP_TTL_MS 1000

/* The caller's supplementary groups go to the master with its requests
 * (libcairn's CREDS). fuse_req_getgroups reads /proc/PID/task/TID/status,
 * so the list is kept per process for a moment: a process whose groups
 * change (setgroups) is seen with its new ones within GROUPS_TTL_MS. */
#define GROUPS_SLOTS  64
#define GROUPS_TTL_MS 1000

/* A blocking lock request in progress: answered from libcairn's I/O thread
 * when the master grants it (no FUSE worker waits), found by its FUSE
 * request when the kernel interrupts the caller. */
struct lkwaiter {
    struct lkwaiter *next;
    struct mnt *m;
    fuse_req_t req;
    struct lc_lkwait *w;
};

struct mnt {
    struct lc *c;
    double attr_timeout, entry_timeout;
    pthread_mutex_t lk_mu;
    struct lkwaiter *lk_waiters;
    pthread_mutex_t nocap_mu;
    struct {
        uint64_t ino, until_ms;
    } nocap[NOCAP_SLOTS];
    pthread_mutex_t grp_mu;
    struct {
        pid_t pid;
        uint32_t uid, gid, n;
        uint64_t until_ms;
        uint32_t groups[CN_CREDS_GROUPS];
    } grp[GROUPS_SLOTS];
};

static int nocap_hit(struct mnt *m, uint64_t ino)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    pthread_mutex_lock(&m->nocap_mu);
    int hit = m->nocap[ino % NOCAP_SLOTS].ino == ino && m->nocap[ino % NOCAP_SLOTS].until_ms > now;
    pthread_mutex_unlock(&m->nocap_mu);
    return hit;
}

static void nocap_set(struct mnt *m, uint64_t ino, int none)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    pthread_mutex_lock(&m->nocap_mu);
    if (none) {
        m->nocap[ino % NOCAP_SLOTS].ino = ino;
        m->nocap[ino % NOCAP_SLOTS].until_ms = now + NOCAP_TTL_MS;
    } else if (m->nocap[ino % NOCAP_SLOTS].ino == ino) {
        m->nocap[ino % NOCAP_SLOTS].until_ms = 0;
    }
    pthread_mutex_unlock(&m->nocap_mu);
}

static int is_cap(const char *name)
{
    return strcmp(name, "security.capability") == 0;
}

#define OPT(t, p)                                                                                  \
    {                                                                                              \
        t, offsetof(struct mopts, p), 1                                                            \
    }
static const struct fuse_opt mount_opts[] = {
    OPT("master_timeout=%u", master_timeout),
    OPT("connect_timeout=%u", connect_timeout),
    OPT("cs_timeout=%u", cs_timeout),
    OPT("ec_slow=%u", ec_slow_ms),
    OPT("attr_timeout=%lf", attr_timeout),
    OPT("entry_timeout=%lf", entry_timeout),
    OPT("write_buffer=%u", write_buffer_mb),
    OPT("readahead=%u", readahead_mb),
    OPT("log_file=%s", log_file),
    OPT("-h", show_help),
    OPT("--help", show_help),
    FUSE_OPT_END,
};

static struct mnt *M(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* u's supplementary groups: from the per-process cache, else the kernel. */
static void cred_groups(fuse_req_t req, const struct fuse_ctx *x, struct lc_cred *u)
{
    struct mnt *m = M(req);
    uint64_t now = mono_ms();
    size_t k = (size_t)x->pid % GROUPS_SLOTS;
    pthread_mutex_lock(&m->grp_mu);
    if (m->grp[k].pid == x->pid && m->grp[k].uid == x->uid && m->grp[k].gid == x->gid &&
        m->grp[k].until_ms > now) {
        u->ngroups = m->grp[k].n;
        memcpy(u->groups, m->grp[k].groups, u->ngroups * sizeof(uint32_t));
        pthread_mutex_unlock(&m->grp_mu);
        return;
    }
    pthread_mutex_unlock(&m->grp_mu);
    gid_t g[CN_CREDS_GROUPS];
    int n = fuse_req_getgroups(req, CN_CREDS_GROUPS, g);
    if (n < 0)
        n = 0; /* the process is gone, or no /proc: its primary group only */
    if (n > (int)CN_CREDS_GROUPS)
        n = CN_CREDS_GROUPS;
    u->ngroups = (uint32_t)n;
    for (int i = 0; i < n; i++)
        u->groups[i] = (uint32_t)g[i];
    pthread_mutex_lock(&m->grp_mu);
    m->grp[k].pid = x->pid;
    m->grp[k].uid = x->uid;
    m->grp[k].gid = x->gid;
    m->grp[k].n = u->ngroups;
    m->grp[k].until_ms = now + GROUPS_TTL_MS;
    memcpy(m->grp[k].groups, u->groups, u->ngroups * sizeof(uint32_t));
    pthread_mutex_unlock(&m->grp_mu);
}

/* The caller: ids, umask (create, mkdir, mknod; FUSE_CAP_DONT_MASK leaves
 * it to us, so a default ACL can override it) and groups. */
static struct lc_cred cred(fuse_req_t req)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    struct lc_cred u = {x->uid, x->gid, (uint32_t)x->umask, 0, {0}};
    cred_groups(req, x, &u);
    return u;
}

static void reply_entry(fuse_req_t req, int rc, const struct cn_attr *a)
{
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = a->ino;
    e.generation = 1;
    lc_attr_to_stat(a, &e.attr);
    e.attr_timeout = M(req)->attr_timeout;
    e.entry_timeout = M(req)->entry_timeout;
    fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, int rc, const struct cn_attr *a)
{
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct stat st;
    lc_attr_to_stat(a, &st);
    fuse_reply_attr(req, &st, M(req)->attr_timeout);
}

static void m_init(void *ud, struct fuse_conn_info *conn)
{
    (void)ud;
    conn->max_write = 1u << 20;
    conn->max_readahead = 1u << 20;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_POSIX_LOCKS)
        conn->want |= FUSE_CAP_POSIX_LOCKS;
    if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
        conn->want |= FUSE_CAP_FLOCK_LOCKS;
    /* The kernel checks ACLs (cached from system.posix_acl_access); the
     * master stores them, keeps the mode in step and inherits default ACLs,
     * which needs the umask unapplied (DONT_MASK: it comes with the request). */
    if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
        conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void m_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct lc_cred u = cred(req);
    struct cn_attr a;
    int rc = lc_lookup(M(req)->c, &u, parent, name, &a);
    if (rc == -ENOENT) { /* a negative entry, cached like a positive one */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof(e));
        e.entry_timeout = M(req)->entry_timeout;
        fuse_reply_entry(req, &e);
        return;
    }
    reply_entry(req, rc, &a);
}

static void m_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
    (void)ino;
    (void)n;
    fuse_reply_none(req);
}

static void m_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct cn_attr a;
    int rc = lc_getattr(M(req)->c, ino, &a);
    reply_attr(req, rc, &a);
}

static void m_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
                      struct fuse_file_info *fi)
{
    (void)fi;
    struct lc_cred u = cred(req);
    struct cn_setattr m;
    memset(&m, 0, sizeof(m));
    m.ino = ino;
    if (to_set & FUSE_SET_ATTR_MODE) {
        m.valid |= CN_SETATTR_MODE;
        m.mode = st->st_mode & 07777;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
        m.valid |= CN_SETATTR_UID;
        m.uid = st->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
        m.valid |= CN_SETATTR_GID;
        m.gid = st->st_gid;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        m.valid |= CN_SETATTR_SIZE;
        m.size = (uint64_t)st->st_size;
    }
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        m.valid |= CN_SETATTR_ATIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
        m.valid |= CN_SETATTR_ATIME;
        m.atime.sec = st->st_atim.tv_sec;
        m.atime.nsec = (uint32_t)st->st_atim.tv_nsec;
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        m.valid |= CN_SETATTR_MTIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
        m.valid |= CN_SETATTR_MTIME;
        m.mtime.sec = st->st_mtim.tv_sec;
        m.mtime.nsec = (uint32_t)st->st_mtim.tv_nsec;
    }
    struct cn_attr a;
    int rc = lc_setattr(M(req)->c, &u, &m, &a);
    reply_attr(req, rc, &a);
}

static void m_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char buf[CN_WIRE_MAX_STR + 1];
    int rc = lc_readlink(M(req)->c, ino, buf, sizeof(buf));
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, buf);
}

static void m_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct lc_cred u = cred(req);
    struct cn_attr a;
    int rc = lc_mknod(M(req)->c, &u, parent, name, mode, (uint32_t)rdev, &a);
    reply_entry(req, rc, &a);
}

static void m_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct lc_cred u = cred(req);
    struct cn_attr a;
    int rc = lc_mkdir(M(req)->c, &u, parent, name, mode, &a);
    reply_entry(req, rc, &a);
}

static void m_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct lc_cred u = cred(req);
    fuse_reply_err(req, -lc_unlink(M(req)->c, &u, parent, name));
}

static void m_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct lc_cred u = cred(req);
    fuse_reply_err(req, -lc_rmdir(M(req)->c, &u, parent, name));
}

static void m_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
    struct lc_cred u = cred(req);
    struct cn_attr a;
    int rc = lc_symlink(M(req)->c, &u, parent, name, target, &a);
    reply_entry(req, rc, &a);
}

static void m_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                     const char *newname, unsigned int flags)
{
    struct lc_cred u = cred(req);
    fuse_reply_err(req, -lc_rename(M(req)->c, &u, parent, name, newparent, newname, flags));
}

static void m_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct lc_cred u = cred(req);
    struct cn_attr a;
    int rc = lc_link(M(req)->c, &u, ino, newparent, newname, &a);
    reply_entry(req, rc, &a);
}

static void m_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct lc_cred u = cred(req);
    struct lc_fh *fh;
    struct cn_attr a;
    int rc = lc_openf(M(req)->c, &u, ino, fi->flags, &fh, &a);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)fh;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) == -ENOENT) /* the caller was interrupted */
        lc_release(fh);
}

static void m_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     struct fuse_file_info *fi)
{
    struct lc_cred u = cred(req);
    struct lc_fh *fh;
    struct cn_attr a;
    int rc = lc_create(M(req)->c, &u, parent, name, mode, fi->flags, &fh, &a);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)fh;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = a.ino;
    e.generation = 1;
    lc_attr_to_stat(&a, &e.attr);
    e.attr_timeout = M(req)->attr_timeout;
    e.entry_timeout = M(req)->entry_timeout;
    if (fuse_reply_create(req, &e, fi) == -ENOENT)
        lc_release(fh);
}

static struct lc_fh *FH(struct fuse_file_info *fi)
{
    return (struct lc_fh *)(uintptr_t)fi->fh;
}

static void m_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    (void)ino;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    ssize_t n = lc_read(FH(fi), buf, size, (uint64_t)off);
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void m_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)ino;
    ssize_t n = lc_write(FH(fi), buf, size, (uint64_t)off);
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_write(req, (size_t)n);
}

/* Every close() of a descriptor: its process's POSIX locks on the file go
 * (the kernel leaves unlock-on-close to us once it passes the locks on). */
static void m_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int rc = lc_flush(FH(fi));
    int lrc = lc_lk_release(FH(fi), fi->lock_owner, CN_LK_POSIX);
    if (lrc)
        cn_log_warn("mount", "inode %llu: releasing POSIX locks at close: %s",
                    (unsigned long long)ino, cn_strerror(lrc));
    fuse_reply_err(req, -rc);
}

static void m_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (fi->flock_release) {
        int lrc = lc_lk_release(FH(fi), fi->lock_owner, CN_LK_FLOCK);
        if (lrc)
            cn_log_warn("mount", "inode %llu: releasing the flock lock at close: %s",
                        (unsigned long long)ino, cn_strerror(lrc));
    }
    fuse_reply_err(req, -lc_release(FH(fi)));
}

/* ---- locks ------------------------------------------------------------------ */

static void lk_interrupt(fuse_req_t req, void *data)
{
    struct mnt *m = data;
    pthread_mutex_lock(&m->lk_mu);
    for (struct lkwaiter *e = m->lk_waiters; e; e = e->next)
        if (e->req == req)
            lc_lk_cancel(e->w);
    pthread_mutex_unlock(&m->lk_mu);
}

/* Out of the list (so no interrupt finds it any more), then free. */
static void lk_forget(struct lkwaiter *e)
{
    struct mnt *m = e->m;
    pthread_mutex_lock(&m->lk_mu);
    for (struct lkwaiter **pp = &m->lk_waiters; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    pthread_mutex_unlock(&m->lk_mu);
    lc_lkwait_free(e->w);
    free(e);
}

/* libcairn's I/O thread: the waiting lock was granted, refused or cancelled. */
static void lk_done(void *ud, int rc)
{
    struct lkwaiter *e = ud;
    fuse_req_t req = e->req;
    lk_forget(e);
    fuse_reply_err(req, -rc);
}

/* Take or release a lock and answer req. A request that may wait is left
 * to the master: lk_done answers it, an interrupt cancels it. */
static void do_lock(fuse_req_t req, struct fuse_file_info *fi, const struct lc_lock *l, int sleep)
{
    struct mnt *m = M(req);
    if (!sleep || l->type == CN_LK_UNLCK) {
        fuse_reply_err(req, -lc_setlk(FH(fi), l, NULL));
        return;
    }
    struct lkwaiter *e = calloc(1, sizeof(*e));
    struct lc_lkwait *w = lc_lkwait_new();
    if (!e) {
        lc_lkwait_free(w);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    *e = (struct lkwaiter){NULL, m, req, w};
    pthread_mutex_lock(&m->lk_mu);
    e->next = m->lk_waiters;
    m->lk_waiters = e;
    pthread_mutex_unlock(&m->lk_mu);
    fuse_req_interrupt_func(req, lk_interrupt, m); /* runs at once if interrupted already */
    int rc = lc_setlk_async(FH(fi), l, w, lk_done, e);
    if (rc) { /* not sent: lk_done will not run */
        lk_forget(e);
        fuse_reply_err(req, -rc);
    }
    /* else e may be gone already: lk_done can run before this returns */
}

static int lk_type(short t)
{
    return t == F_RDLCK ? CN_LK_RDLCK : t == F_WRLCK ? CN_LK_WRLCK : CN_LK_UNLCK;
}

/* struct flock (l_len 0: to the end of the file) -> an inclusive range. */
static int lk_from_flock(const struct flock *fl, struct fuse_file_info *fi, struct lc_lock *l)
{
    if (fl->l_start < 0 || fl->l_len < 0)
        return -EINVAL; /* the kernel hands ranges normalised; anything else is refused */
    l->owner = fi->lock_owner;
    l->start = (uint64_t)fl->l_start;
    if (fl->l_len == 0 || (uint64_t)fl->l_len - 1 >= CN_LK_EOF - l->start)
        l->end = CN_LK_EOF;
    else
        l->end = l->start + (uint64_t)fl->l_len - 1;
    l->pid = fl->l_pid > 0 ? (uint32_t)fl->l_pid : 0;
    l->kind = CN_LK_POSIX;
    l->type = (uint8_t)lk_type(fl->l_type);
    return 0;
}

static void m_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl)
{
    (void)ino;
    struct lc_lock l;
    int rc = lk_from_flock(fl, fi, &l);
    if (!rc && l.type != CN_LK_UNLCK)
        rc = lc_getlk(FH(fi), &l);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (l.type == CN_LK_UNLCK) {
        fl->l_type = F_UNLCK;
    } else {
        fl->l_type = l.type == CN_LK_RDLCK ? F_RDLCK : F_WRLCK;
        fl->l_whence = SEEK_SET;
        fl->l_start = (off_t)l.start;
        fl->l_len = l.end >= CN_LK_EOF ? 0 : (off_t)(l.end - l.start + 1);
        fl->l_pid = (pid_t)l.pid;
    }
    fuse_reply_lock(req, fl);
}

static void m_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl,
                    int sleep)
{
    (void)ino;
    struct lc_lock l;
    int rc = lk_from_flock(fl, fi, &l);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        do_lock(req, fi, &l, sleep);
}

static void m_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
    (void)ino;
    struct lc_lock l = {.owner = fi->lock_owner,
                        .start = 0,
                        .end = CN_LK_EOF,
                        .pid = (uint32_t)fuse_req_ctx(req)->pid,
                        .kind = CN_LK_FLOCK,
                        .type = CN_LK_UNLCK};
    if (op & LOCK_SH)
        l.type = CN_LK_RDLCK;
    else if (op & LOCK_EX)
        l.type = CN_LK_WRLCK;
    do_lock(req, fi, &l, !(op & LOCK_NB));
}

static void m_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    fuse_reply_err(req, -lc_flush(FH(fi)));
}

/* ---- directories ---------------------------------------------------------- */

struct dirbuf {
    fuse_req_t req;
    char *buf;
    size_t size, used;
    int plus;
    uint64_t last_cookie;
    double attr_timeout, entry_timeout;
};

static int add_entry(const struct cn_dirent *e, void *ud)
{
    struct dirbuf *d = ud;
    char name[CN_WIRE_NAME_MAX + 1];
    size_t nl = e->name.len < CN_WIRE_NAME_MAX ? e->name.len : CN_WIRE_NAME_MAX;
    memcpy(name, e->name.ptr, nl);
    name[nl] = 0;
    size_t n;
    if (d->plus) {
        struct fuse_entry_param fe;
        memset(&fe, 0, sizeof(fe));
        lc_attr_to_stat(&e->attr, &fe.attr);
        int dot = !strcmp(name, ".") || !strcmp(name, "..");
        fe.ino = dot ? 0 : e->attr.ino;
        fe.generation = 1;
        fe.attr_timeout = d->attr_timeout;
        fe.entry_timeout = d->entry_timeout;
        n = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &fe,
                                   (off_t)e->cookie);
    } else {
        struct stat st;
        memset(&st, 0, sizeof(st));
        st.st_ino = e->attr.ino;
        st.st_mode = e->attr.mode & S_IFMT;
        n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st,
                              (off_t)e->cookie);
    }
    if (n > d->size - d->used)
        return 1; /* does not fit: the next call resumes at this entry */
    d->used += n;
    d->last_cookie = e->cookie;
    return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    struct lc_cred u = cred(req);
    struct dirbuf d = {req,
                       malloc(size),
                       size,
                       0,
                       plus,
                       (uint64_t)off,
                       M(req)->attr_timeout,
                       M(req)->entry_timeout};
    if (!d.buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int eof = 0, rc = 0;
    while (!eof && d.used < size) {
        uint32_t max = (uint32_t)(size / (plus ? 160 : 32)) + 1;
        size_t before = d.used;
        rc = lc_readdir(M(req)->c, &u, ino, d.last_cookie, max, add_entry, &d, &eof);
        if (rc || d.used == before)
            break;
    }
    if (rc && !d.used)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_buf(req, d.buf, d.used);
    free(d.buf);
}

static void m_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 0);
}

static void m_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 1);
}

static void m_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct cn_statfs_r s;
    /* from inside a directory under a quota, df shows the quota */
    int rc = ino > 1 ? lc_statfs_dir(M(req)->c, ino, &s) : lc_statfs(M(req)->c, &s);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct statvfs v;
    memset(&v, 0, sizeof(v));
    unsigned long bs = s.bsize ? s.bsize : LC_BLOCK_SIZE;
    v.f_bsize = bs;
    v.f_frsize = bs;
    v.f_blocks = s.total / bs;
    v.f_bfree = s.free / bs;
    v.f_bavail = s.avail / bs;
    v.f_files = s.files;
    v.f_ffree = s.ffree;
    v.f_favail = s.ffree;
    v.f_namemax = s.namemax ? s.namemax : CN_WIRE_NAME_MAX;
    fuse_reply_statfs(req, &v);
}

/* ---- xattrs ---------------------------------------------------------------- */

static void m_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                       size_t size, int flags)
{
    struct lc_cred u = cred(req);
    if (is_cap(name))
        nocap_set(M(req), ino, 0);
    fuse_reply_err(req, -lc_setxattr(M(req)->c, &u, ino, name, value, size, (uint32_t)flags));
}

static void xattr_reply(fuse_req_t req, int rc, const char *buf, size_t size)
{
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else if (!size)
        fuse_reply_xattr(req, (size_t)rc);
    else
        fuse_reply_buf(req, buf, (size_t)rc);
}

static void m_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct lc_cred u = cred(req);
    if (is_cap(name) && nocap_hit(M(req), ino)) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int rc = lc_getxattr(M(req)->c, &u, ino, name, buf, size);
    if (is_cap(name))
        nocap_set(M(req), ino, rc == -ENODATA);
    xattr_reply(req, rc, buf, size);
    free(buf);
}

static void m_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct lc_cred u = cred(req);
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int rc = lc_listxattr(M(req)->c, &u, ino, buf, size);
    xattr_reply(req, rc, buf, size);
    free(buf);
}

static void m_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    struct lc_cred u = cred(req);
    if (is_cap(name))
        nocap_set(M(req), ino, 0);
    fuse_reply_err(req, -lc_removexattr(M(req)->c, &u, ino, name));
}

static const struct fuse_lowlevel_ops ops = {
    .init = m_init,
    .lookup = m_lookup,
    .forget = m_forget,
    .getattr = m_getattr,
    .setattr = m_setattr,
    .readlink = m_readlink,
    .mknod = m_mknod,
    .mkdir = m_mkdir,
    .unlink = m_unlink,
    .rmdir = m_rmdir,
    .symlink = m_symlink,
    .rename = m_rename,
    .link = m_link,
    .open = m_open,
    .read = m_read,
    .write = m_write,
    .flush = m_flush,
    .release = m_release,
    .fsync = m_fsync,
    .readdir = m_readdir,
    .readdirplus = m_readdirplus,
    .statfs = m_statfs,
    .setxattr = m_setxattr,
    .getxattr = m_getxattr,
    .listxattr = m_listxattr,
    .removexattr = m_removexattr,
    .create = m_create,
    .getlk = m_getlk,
    .setlk = m_setlk,
    .flock = m_flock,
};

/* ---- main -------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: cairn-mount MASTER:PORT MOUNTPOINT [-f] [-d] [-o opt[,opt...]]\n"
               "  -f                    stay in the foreground\n"
               "  -d                    FUSE debug output (implies -f)\n"
               "Cairn options (-o):\n"
               "  master_timeout=S      retry master calls through an outage for S seconds, "
               "then EIO (60)\n"
               "  connect_timeout=S     the master must answer at mount time within S seconds (5)\n"
               "  cs_timeout=S          one chunkserver request (30)\n"
               "  ec_slow=MS            an erasure-coded part slower than MS is rebuilt from "
               "the others (2000)\n"
               "  attr_timeout=S        kernel attribute cache (1.0)\n"
               "  entry_timeout=S       kernel name cache (1.0)\n"
               "  write_buffer=MiB      buffered writes per file before a commit (64)\n"
               "  readahead=MiB         largest read-ahead window (8)\n"
               "  log_file=PATH         append log lines to PATH\n"
               "FUSE options (-o): allow_other, default_permissions (on), ro, ...\n");
}

/* FUSE caps the kernel's read-ahead at its default (128 KiB) whatever
 * max_readahead says; the mount's backing device takes a larger window from
 * /sys/class/bdi/MAJ:MIN/read_ahead_kb (root only, best effort). The
 * device number comes from /proc/self/mountinfo: a stat() of the mount
 * point would wait for this very process. */
static void set_bdi_readahead(const char *mountpoint, unsigned mb)
{
    char rp[PATH_MAX], line[4096], path[128];
    unsigned maj, min;
    int found = 0;
    if (!realpath(mountpoint, rp))
        return;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char mp[PATH_MAX];
        if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mp) == 3 && !strcmp(mp, rp) &&
            strstr(line, " fuse.cairn "))
            found = 1; /* the last one listed is ours (mounted just now) */
        if (found == 1) {
            snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
            found = 2;
        }
    }
    fclose(f);
    if (!found)
        return;
    unsigned kb = mb ? (mb > 1 ? 1024 : mb * 1024) : 128;
    FILE *w = fopen(path, "w");
    if (!w || fprintf(w, "%u\n", kb) < 0)
        cn_log_debug("mount", "cannot set %s: read-ahead stays at the kernel's default", path);
    if (w)
        fclose(w);
}

/* The parent of a backgrounded mount waits for the child's verdict. */
static int wait_child(int fd)
{
    char msg[512];
    ssize_t n = 0, r;
    while ((r = read(fd, msg + n, sizeof(msg) - 1 - (size_t)n)) > 0)
        n += r;
    msg[n > 0 ? n : 0] = 0;
    if (n > 0 && msg[0] == '0')
        return 0;
    fprintf(stderr, "cairn-mount: %s\n", n > 1 ? msg + 1 : "the mount process died");
    return 1;
}

static void verdict(int fd, const char *msg)
{
    if (fd < 0) {
        if (msg)
            fprintf(stderr, "cairn-mount: %s\n", msg);
        return;
    }
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%c%s", msg ? '1' : '0', msg ? msg : "");
    if (write(fd, buf, (size_t)n) < 0) {
        /* the parent is gone: nothing to tell */
    }
    close(fd);
}

int main(int argc, char **argv)
{
    struct mopts mo = {.master_timeout = 60,
                       .connect_timeout = 5,
                       .cs_timeout = 30,
                       .attr_timeout = 1.0,
                       .entry_timeout = 1.0,
                       .write_buffer_mb = 64,
                       .readahead_mb = 8};
    /* Block buffers (64 KiB + header) come and go at a high rate: keep them
     * in the heap instead of mmap/munmap and page faults per block. */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 3 || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    mo.master = argv[1];
    /* FUSE parses the rest: argv[0] MOUNTPOINT [options] */
    argv[1] = argv[0];
    struct fuse_args args = FUSE_ARGS_INIT(argc - 1, argv + 1);
    if (fuse_opt_parse(&args, &mo, mount_opts, NULL) == -1)
        return 2;
    if (mo.show_help) {
        usage(stdout);
        return 0;
    }
    /* before the user's options, which override it (libfuse 3.14 warns without one) */
    fuse_opt_insert_arg(&args, 1, "-omax_threads=32");
    fuse_opt_add_arg(&args, "-odefault_permissions");
    fuse_opt_add_arg(&args, "-osubtype=cairn");
    char fsname[300];
    snprintf(fsname, sizeof(fsname), "-ofsname=cairn:%s", mo.master);
    fuse_opt_add_arg(&args, fsname);
    struct fuse_cmdline_opts co;
    if (fuse_parse_cmdline(&args, &co) != 0)
        return 2;
    if (!co.mountpoint) {
        fprintf(stderr, "cairn-mount: no mount point given\n");
        usage(stderr);
        return 2;
    }
    struct stat st;
    if (stat(co.mountpoint, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "cairn-mount: mount point %s is not a directory\n", co.mountpoint);
        return 1;
    }

    int vfd = -1;
    if (!co.foreground) {
        int p[2];
        if (pipe(p)) {
            perror("cairn-mount: pipe");
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("cairn-mount: fork");
            return 1;
        }
        if (pid > 0) {
            close(p[1]);
            return wait_child(p[0]);
        }
        close(p[0]);
        vfd = p[1];
        setsid();
    }

    struct cn_log_config lcfg = {CN_LOG_INFO, co.foreground, mo.log_file, !co.foreground,
                                 "cairn-mount"};
    if (co.debug)
        lcfg.level = CN_LOG_DEBUG;
    if (cn_log_init(&lcfg)) {
        char m[400];
        snprintf(m, sizeof(m), "cannot open log file %s", mo.log_file);
        verdict(vfd, m);
        return 1;
    }
    char host[128] = "";
    gethostname(host, sizeof(host) - 1);
    char name[200];
    snprintf(name, sizeof(name), "cairn-mount@%s pid %d", host, (int)getpid());
    struct lc_options lo = {.connect_timeout_ms = mo.connect_timeout * 1000u,
                            .master_timeout_ms = mo.master_timeout * 1000u,
                            .cs_timeout_ms = mo.cs_timeout * 1000u,
                            .write_buffer_bytes = (uint64_t)mo.write_buffer_mb << 20,
                            .readahead_bytes = mo.readahead_mb << 20,
                            .name = name,
                            .ec_slow_ms = mo.ec_slow_ms};
    static struct mnt mnt; /* large (the nocap table): not on the stack */
    mnt.attr_timeout = mo.attr_timeout;
    mnt.entry_timeout = mo.entry_timeout;
    pthread_mutex_init(&mnt.nocap_mu, NULL);
    pthread_mutex_init(&mnt.grp_mu, NULL);
    pthread_mutex_init(&mnt.lk_mu, NULL);
    char err[300];
    int rc = lc_open(mo.master, &lo, &mnt.c, err, sizeof(err));
    if (rc) {
        char m[400];
        snprintf(m, sizeof(m), "cannot reach the master at %s: %s", mo.master, err);
        verdict(vfd, m);
        return 1;
    }
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), &mnt);
    if (!se) {
        verdict(vfd, "bad FUSE options (see cairn-mount -h)");
        lc_close(mnt.c);
        return 2;
    }
    if (fuse_set_signal_handlers(se) || fuse_session_mount(se, co.mountpoint)) {
        char m[400];
        snprintf(m, sizeof(m), "cannot mount on %s (is /dev/fuse there, and are you root?)",
                 co.mountpoint);
        verdict(vfd, m);
        fuse_session_destroy(se);
        lc_close(mnt.c);
        return 1;
    }
    cn_log_info("mount", "mounted cairn:%s on %s", mo.master, co.mountpoint);
    set_bdi_readahead(co.mountpoint, mo.readahead_mb);
    if (vfd >= 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
            if (nul > 2)
                close(nul);
        }
        if (chdir("/")) {
            /* nothing depends on the working directory */
        }
        verdict(vfd, NULL);
    }
    if (co.singlethread) {
        rc = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *lcf = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(lcf, (unsigned)co.clone_fd);
        fuse_loop_cfg_set_idle_threads(lcf, co.max_idle_threads);
        if (co.max_threads >= 1 && co.max_threads <= 100000)
            fuse_loop_cfg_set_max_threads(lcf, co.max_threads);
        rc = fuse_session_loop_mt(se, lcf);
        fuse_loop_cfg_destroy(lcf);
    }
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    /* Before the session goes: lock requests still waiting in the master
     * are answered (ESHUTDOWN) from libcairn's I/O thread as it stops. */
    lc_close(mnt.c);
    fuse_session_destroy(se);
    cn_log_info("mount", "unmounted %s", co.mountpoint);
    free(co.mountpoint);
    fuse_opt_free_args(&args);
    return rc ? 1 : 0;
}
