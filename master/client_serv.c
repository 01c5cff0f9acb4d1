/*
 * client_serv.c - the master's client port: HELLO, then every metadata
 * request of docs/protocol.md, and the admin requests (ADM_*).
 *
 * Two decisions a reader must know:
 *  - Permission checks live here, not in the metadata layer: the request's
 *    uid/gid, the supplementary groups the session declared for that uid
 *    (CREDS) and the access ACL (system.posix_acl_access) are checked with
 *    the POSIX algorithm (root bypasses all but the execute bit of files).
 *    Checks run before the turn is touched, so a refused request leaves
 *    nothing in the batch. ACL xattrs are validated when set and keep the
 *    mode in step; a parent's default ACL is inherited at create.
 *  - Replies go through turn_reply(): once any mutation of this loop turn
 *    has opened the metadata transaction, every reply waits for the group
 *    commit (turn.c, invariant 1).
 *
 * A READDIR cookie is the position in the listing ("." is 1, ".." is 2);
 * each connection remembers the name at its last cookie so the usual
 * sequential listing resumes by name (meta_readdir's stable cursor) and
 * only a random seek re-walks the directory.
 */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acl.h"
#include "cn_time.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD "client_serv"

struct client {
    struct master *M;
    struct client *next, *prev;
    struct cn_conn *conn; /* NULL once closed */
    int refs;             /* the connection + held replies */
    int hello;
    uint8_t role;
    uint64_t session;
    uint64_t rd_ino, rd_cookie; /* readdir resume point */
    struct open_set *opens;     /* open handles (opens.c) */
    struct lock_sess *locks;    /* file locks (locks.c) */
    struct creds_slot *creds;   /* CN_CREDS_SLOTS, from CREDS; NULL until the first */
    char rd_name[META_NAME_MAX + 1];
};

/* Supplementary groups of one uid, as the session's CREDS last said. */
struct creds_slot {
    int used;
    uint32_t uid, ngroups;
    uint32_t groups[CN_CREDS_GROUPS];
};

struct req {
    struct master *M;
    struct client *cl;
    struct cn_conn *c;
    uint64_t id;
    uint16_t type;
};

enum { P_X = 1, P_W = 2, P_R = 4 };

enum cn_status master_status(int err)
{
    if (err == -EBUSY)
        return CN_ST_LEASE;
    if (err <= -1100 && err > -1200)
        return CN_ST_EIO; /* META_E*: store trouble, details are in the log */
    return cn_status_from_errno(err);
}

struct cn_conn *client_conn(struct client *cl)
{
    return cl->conn;
}

void client_ref(struct client *cl)
{
    cl->refs++;
}

void client_unref(struct client *cl)
{
    if (--cl->refs == 0) {
        free(cl->creds);
        free(cl);
    }
}

/* ---- replies ---------------------------------------------------------------- */

static void rep(struct req *r, uint16_t type, const void *msg)
{
    turn_reply(r->M, r->cl, r->c, r->id, type, msg);
}

static void rep_err(struct req *r, int err)
{
    struct cn_error e = {master_status(err), cn_str_of(meta_strerror(err))};
    rep(r, CN_MSG_ERROR, &e);
}

static void rep_empty(struct req *r)
{
    struct cn_empty e = {0};
    rep(r, r->type | CN_MSG_REPLY, &e);
}

static void attr_to_wire(const struct meta_attr *a, struct cn_attr *w)
{
    memset(w, 0, sizeof(*w));
    w->ino = a->ino;
    w->mode = a->mode;
    w->uid = a->uid;
    w->gid = a->gid;
    w->nlink = a->nlink;
    w->rdev = (uint32_t)a->rdev;
    w->size = a->size;
    w->blocks = (a->size + 511) / 512;
    w->atime = (struct cn_ts){a->atime.tv_sec, (uint32_t)a->atime.tv_nsec};
    w->mtime = (struct cn_ts){a->mtime.tv_sec, (uint32_t)a->mtime.tv_nsec};
    w->ctime = (struct cn_ts){a->ctime.tv_sec, (uint32_t)a->ctime.tv_nsec};
}

static void rep_attr(struct req *r, const struct meta_attr *a)
{
    struct cn_attr_r ar;
    attr_to_wire(a, &ar.attr);
    rep(r, r->type | CN_MSG_REPLY, &ar);
}

/* ---- permission checks ------------------------------------------------------ */

/* An ACL xattr of ino: 0 with *a (a->n = 0 when there is none), or -errno. */
static int acl_load(struct master *M, uint64_t ino, const char *name, struct cn_acl *a)
{
    uint8_t buf[4 + 8 * CN_ACL_MAX_ENTRIES];
    a->n = 0;
    int n = meta_xattr_get(M->meta, ino, name, buf, sizeof(buf));
    if (n == -ENODATA)
        return 0;
    if (n < 0)
        return n == -ERANGE ? -EIO : n; /* longer than any value setxattr accepts */
    if (cn_acl_decode(buf, (size_t)n, a)) {
        cn_log_warn(MOD, "inode %llu: malformed %s ignored (the mode applies)",
                    (unsigned long long)ino, name);
        a->n = 0;
    }
    return 0;
}

static int acl_store(struct master *M, uint64_t ino, const char *name, const struct cn_acl *a)
{
    uint8_t buf[4 + 8 * CN_ACL_MAX_ENTRIES];
    size_t n = cn_acl_encode(a, buf);
    return meta_xattr_set(M->meta, ino, name, buf, n, 0);
}

/* The caller's supplementary groups for uid, as this session declared them. */
static void creds_of(const struct client *cl, uint32_t uid, struct cn_acl_who *who)
{
    for (uint32_t i = 0; cl->creds && i < CN_CREDS_SLOTS; i++)
        if (cl->creds[i].used && cl->creds[i].uid == uid) {
            who->groups = cl->creds[i].groups;
            who->ngroups = cl->creds[i].ngroups;
            return;
        }
}

static int perm(struct req *r, const struct meta_attr *a, uint32_t uid, uint32_t gid, int want)
{
    if (uid == 0) {
        if ((want & P_X) && !S_ISDIR(a->mode) && !(a->mode & 0111))
            return -EACCES;
        return 0;
    }
    struct cn_acl_who who = {uid, gid, NULL, 0};
    struct cn_acl acl;
    acl.n = 0;
    creds_of(r->cl, uid, &who);
    if (uid != a->uid) { /* the owner's bits are the mode's, ACL or not */
        int rc = acl_load(r->M, a->ino, CN_ACL_XATTR_ACCESS, &acl);
        if (rc)
            return rc;
    }
    unsigned bits = cn_acl_granted(&acl, a->uid, a->gid, a->mode, &who);
    return ((int)bits & want) == want ? 0 : -EACCES;
}

/* The parent must exist, be a directory and grant `want`. */
static int dir_check(struct req *r, uint64_t dir, uint32_t uid, uint32_t gid, int want,
                     struct meta_attr *out)
{
    int rc = meta_getattr(r->M->meta, dir, out);
    if (rc)
        return rc;
    if (!S_ISDIR(out->mode))
        return -ENOTDIR;
    return perm(r, out, uid, gid, want);
}

/* CREDS: remember uid's supplementary groups for this session. */
static int do_creds(struct req *r, const struct cn_creds *m)
{
    if (m->slot >= CN_CREDS_SLOTS || m->ngroups > CN_CREDS_GROUPS)
        return -EINVAL;
    if (!r->cl->creds)
        r->cl->creds = cn_xcalloc(CN_CREDS_SLOTS, sizeof(*r->cl->creds));
    for (uint32_t i = 0; i < CN_CREDS_SLOTS; i++)
        if (r->cl->creds[i].used && r->cl->creds[i].uid == m->uid)
            r->cl->creds[i].used = 0; /* one slot per uid */
    struct creds_slot *s = &r->cl->creds[m->slot];
    s->used = 1;
    s->uid = m->uid;
    s->ngroups = m->ngroups;
    for (uint32_t i = 0; i < m->ngroups; i++)
        s->groups[i] = m->groups[i].gid;
    rep_empty(r);
    return 0;
}

/* New inode under directory d (docs/master.md "ACLs"): with a default ACL on
 * d, the new access ACL is that ACL masked by the create mode and the umask
 * does not apply; otherwise mode &= ~umask. Prepared before the turn. */
struct acl_new {
    struct cn_acl def, acc;
};

static int acl_new_prep(struct req *r, const struct meta_attr *d, uint32_t umask, uint32_t *mode,
                        struct acl_new *n)
{
    int rc = acl_load(r->M, d->ino, CN_ACL_XATTR_DEFAULT, &n->def);
    if (rc)
        return rc;
    if (n->def.n == 0) {
        *mode &= ~(umask & 0777);
        return 0;
    }
    n->acc = n->def;
    cn_acl_create_masq(&n->acc, mode);
    return 0;
}

/* ...and stored with the new inode, in the same turn. */
static int acl_new_apply(struct req *r, uint64_t ino, int is_dir, const struct acl_new *n)
{
    int rc = 0;
    if (n->def.n == 0)
        return 0;
    if (!cn_acl_is_minimal(&n->acc))
        rc = acl_store(r->M, ino, CN_ACL_XATTR_ACCESS, &n->acc);
    if (!rc && is_dir)
        rc = acl_store(r->M, ino, CN_ACL_XATTR_DEFAULT, &n->def);
    return rc;
}

/* chmod of an inode with an access ACL: its USER_OBJ, MASK (or GROUP_OBJ)
 * and OTHER entries follow the new mode. */
static int acl_chmod(struct req *r, const struct meta_attr *a)
{
    struct cn_acl acl;
    int rc = acl_load(r->M, a->ino, CN_ACL_XATTR_ACCESS, &acl);
    if (rc || acl.n == 0)
        return rc;
    cn_acl_chmod(&acl, a->mode);
    return acl_store(r->M, a->ino, CN_ACL_XATTR_ACCESS, &acl);
}

/* Sticky directories: only the owner of the entry or of the directory. */
static int sticky_ok(const struct meta_attr *dir, const struct meta_attr *victim, uint32_t uid)
{
    if (!(dir->mode & S_ISVTX) || uid == 0 || uid == dir->uid || uid == victim->uid)
        return 0;
    return -EPERM;
}

/* cn_str -> NUL-terminated name; a name the master never accepts is refused here. */
static int name_of(struct cn_str s, char *buf, size_t len)
{
    if (s.len >= len)
        return -ENAMETOOLONG;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    return 0;
}

/* ---- namespace handlers ----------------------------------------------------- */

static int do_lookup(struct req *r, const struct cn_name_req *m)
{
    struct meta_attr d, a;
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_X, &d);
    if (!rc)
        rc = meta_lookup(r->M->meta, m->parent, name, &a);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_getattr(struct req *r, const struct cn_ino_req *m)
{
    struct meta_attr a;
    int rc = meta_getattr(r->M->meta, m->ino, &a);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_setattr(struct req *r, const struct cn_setattr *m)
{
    struct meta_attr a;
    int rc = meta_getattr(r->M->meta, m->ino, &a);
    if (rc)
        return rc;
    uint32_t uid = m->cuid, gid = m->cgid;
    int owner = uid == 0 || uid == a.uid;
    struct meta_setattr sa = {0};
    if (m->valid & CN_SETATTR_MODE) {
        if (!owner)
            return -EPERM;
        sa.valid |= META_SET_MODE;
        sa.mode = m->mode & 07777;
        if (uid != 0 && gid != a.gid)
            sa.mode &= ~(uint32_t)S_ISGID; /* as Linux: not a member of the group */
    }
    if (m->valid & CN_SETATTR_UID && m->uid != a.uid) {
        if (uid != 0)
            return -EPERM;
        sa.valid |= META_SET_UID;
        sa.uid = m->uid;
    }
    if (m->valid & CN_SETATTR_GID && m->gid != a.gid) {
        if (uid != 0 && (uid != a.uid || m->gid != gid))
            return -EPERM;
        sa.valid |= META_SET_GID;
        sa.gid = m->gid;
    }
    if ((sa.valid & (META_SET_UID | META_SET_GID)) && uid != 0 && !S_ISDIR(a.mode) &&
        (a.mode & (S_ISUID | S_ISGID))) {
        /* chown by a user drops set-id bits, as Linux does */
        if (!(sa.valid & META_SET_MODE))
            sa.mode = a.mode & 07777;
        sa.mode &= ~(uint32_t)(S_ISUID | S_ISGID);
        sa.valid |= META_SET_MODE;
    }
    if (m->valid & (CN_SETATTR_ATIME | CN_SETATTR_MTIME)) {
        if (!owner)
            return -EPERM;
        if (m->valid & CN_SETATTR_ATIME) {
            sa.valid |= META_SET_ATIME;
            sa.atime = (struct timespec){m->atime.sec, m->atime.nsec};
        }
        if (m->valid & CN_SETATTR_MTIME) {
            sa.valid |= META_SET_MTIME;
            sa.mtime = (struct timespec){m->mtime.sec, m->mtime.nsec};
        }
    }
    if (m->valid & (CN_SETATTR_ATIME_NOW | CN_SETATTR_MTIME_NOW)) {
        if (!owner && perm(r, &a, uid, gid, P_W))
            return -EACCES;
        if (m->valid & CN_SETATTR_ATIME_NOW)
            sa.valid |= META_SET_ATIME_NOW;
        if (m->valid & CN_SETATTR_MTIME_NOW)
            sa.valid |= META_SET_MTIME_NOW;
    }
    if (m->valid & CN_SETATTR_SIZE) {
        if (S_ISDIR(a.mode))
            return -EISDIR;
        if ((rc = perm(r, &a, uid, gid, P_W)))
            return rc;
        sa.valid |= META_SET_SIZE;
        sa.size = m->size;
    }
    if ((rc = turn_begin(r->M)))
        return rc;
    rc = meta_setattr(r->M->meta, m->ino, &sa, &a, &r->M->turn.freed);
    if (!rc && (sa.valid & META_SET_MODE))
        rc = acl_chmod(r, &a);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

/* Set-gid directories hand their group (and, to subdirectories, the bit) down. */
static void inherit_gid(const struct meta_attr *d, uint32_t *gid, uint32_t *mode, int is_dir)
{
    if (!(d->mode & S_ISGID))
        return;
    *gid = d->gid;
    if (is_dir)
        *mode |= S_ISGID;
}

static int do_mknod(struct req *r, const struct cn_mknod *m)
{
    struct meta_attr d, a;
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_W | P_X, &d);
    if (rc)
        return rc;
    uint32_t mode = m->mode, gid = m->gid;
    if ((mode & S_IFMT) == 0)
        mode |= S_IFREG;
    if ((S_ISCHR(mode) || S_ISBLK(mode)) && m->uid != 0)
        return -EPERM;
    inherit_gid(&d, &gid, &mode, 0);
    struct acl_new an;
    if ((rc = acl_new_prep(r, &d, m->umask, &mode, &an)))
        return rc;
    if ((rc = turn_begin(r->M)))
        return rc;
    rc = meta_mknod(r->M->meta, m->parent, name, mode, m->rdev, m->uid, gid, &a);
    if (!rc)
        rc = acl_new_apply(r, a.ino, 0, &an);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_mkdir(struct req *r, const struct cn_mkdir *m)
{
    struct meta_attr d, a;
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_W | P_X, &d);
    if (rc)
        return rc;
    uint32_t mode = m->mode & 07777, gid = m->gid;
    inherit_gid(&d, &gid, &mode, 1);
    struct acl_new an;
    if ((rc = acl_new_prep(r, &d, m->umask, &mode, &an)))
        return rc;
    if ((rc = turn_begin(r->M)))
        return rc;
    rc = meta_mkdir(r->M->meta, m->parent, name, mode, m->uid, gid, &a);
    if (!rc)
        rc = acl_new_apply(r, a.ino, 1, &an);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_remove(struct req *r, const struct cn_name_req *m, int is_rmdir)
{
    struct meta_attr d, v;
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_W | P_X, &d);
    if (!rc && meta_lookup(r->M->meta, m->parent, name, &v) == 0)
        rc = sticky_ok(&d, &v, m->uid);
    if (!rc)
        rc = turn_begin(r->M);
    if (rc)
        return rc;
    if (is_rmdir)
        rc = meta_rmdir(r->M->meta, m->parent, name);
    else
        rc = meta_unlink(r->M->meta, m->parent, name, &r->M->turn.freed);
    if (!rc)
        rep_empty(r);
    return rc;
}

#define LINUX_RENAME_NOREPLACE 1u
#define LINUX_RENAME_EXCHANGE  2u

static int do_rename(struct req *r, const struct cn_rename *m)
{
    struct meta_attr od, nd, src, dst;
    char name[CN_WIRE_MAX_STR + 1], newname[CN_WIRE_MAX_STR + 1];
    if (m->flags & ~(LINUX_RENAME_NOREPLACE | LINUX_RENAME_EXCHANGE))
        return -EINVAL;
    if (m->flags & LINUX_RENAME_EXCHANGE)
        return -EINVAL; /* not supported by the metadata layer (docs/master.md) */
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = name_of(m->newname, newname, sizeof(newname));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_W | P_X, &od);
    if (!rc)
        rc = dir_check(r, m->newparent, m->uid, m->gid, P_W | P_X, &nd);
    if (!rc && meta_lookup(r->M->meta, m->parent, name, &src) == 0) {
        rc = sticky_ok(&od, &src, m->uid);
        /* a directory moving elsewhere rewrites its "..": needs write on it */
        if (!rc && S_ISDIR(src.mode) && m->parent != m->newparent)
            rc = perm(r, &src, m->uid, m->gid, P_W);
        if (!rc && meta_lookup(r->M->meta, m->newparent, newname, &dst) == 0)
            rc = sticky_ok(&nd, &dst, m->uid);
    }
    if (!rc)
        rc = turn_begin(r->M);
    if (rc)
        return rc;
    uint32_t fl = (m->flags & LINUX_RENAME_NOREPLACE) ? META_RENAME_NOREPLACE : 0;
    rc = meta_rename(r->M->meta, m->parent, name, m->newparent, newname, fl, &r->M->turn.freed);
    if (!rc)
        rep_empty(r);
    return rc;
}

static int do_link(struct req *r, const struct cn_link *m)
{
    struct meta_attr d, a;
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->newname, name, sizeof(name));
    if (!rc)
        rc = dir_check(r, m->newparent, m->uid, m->gid, P_W | P_X, &d);
    if (!rc)
        rc = turn_begin(r->M);
    if (rc)
        return rc;
    rc = meta_link(r->M->meta, m->ino, m->newparent, name, &a);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_symlink(struct req *r, const struct cn_symlink *m)
{
    struct meta_attr d, a;
    char name[CN_WIRE_MAX_STR + 1], target[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = name_of(m->target, target, sizeof(target));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_W | P_X, &d);
    if (rc)
        return rc;
    uint32_t gid = m->gid, mode = 0;
    inherit_gid(&d, &gid, &mode, 0);
    if ((rc = turn_begin(r->M)))
        return rc;
    rc = meta_symlink(r->M->meta, m->parent, name, target, m->uid, gid, &a);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_readlink(struct req *r, const struct cn_ino_req *m)
{
    char buf[META_SYMLINK_MAX + 1];
    int n = meta_readlink(r->M->meta, m->ino, buf, sizeof(buf));
    if (n < 0)
        return n;
    struct cn_readlink_r rr = {{buf, (uint32_t)n}};
    rep(r, CN_MSG_READLINK_R, &rr);
    return 0;
}

/* ---- readdir ------------------------------------------------------------------ */

#define READDIR_MAX_ENTRIES 1024u
#define READDIR_MAX_BYTES   (1u << 20)

struct rd_ctx {
    struct master *M;
    uint64_t skip;   /* entries still to skip (random seek) */
    uint64_t cookie; /* cookie of the last entry taken */
    uint32_t max;
    size_t bytes;
    struct cn_dirent *ents;
    uint32_t n;
    char (*names)[META_NAME_MAX + 1];
    int err;
};

static int rd_take(struct rd_ctx *x, const char *name, size_t len, const struct meta_attr *a)
{
    if (x->n >= x->max || x->bytes + len + 96 > READDIR_MAX_BYTES)
        return 1;
    memcpy(x->names[x->n], name, len);
    x->names[x->n][len] = 0;
    struct cn_dirent *e = &x->ents[x->n++];
    e->name = (struct cn_str){x->names[x->n - 1], (uint32_t)len};
    e->cookie = ++x->cookie;
    attr_to_wire(a, &e->attr);
    x->bytes += len + 96;
    return 0;
}

static int rd_fn(void *ctx, const char *name, size_t namelen, uint64_t ino, uint32_t mode_type)
{
    struct rd_ctx *x = ctx;
    (void)mode_type;
    if (x->skip) {
        x->skip--;
        x->cookie++;
        return 0;
    }
    struct meta_attr a;
    int rc = meta_getattr(x->M->meta, ino, &a);
    if (rc) {
        x->err = rc;
        return 1;
    }
    return rd_take(x, name, namelen, &a);
}

static int do_readdir(struct req *r, const struct cn_readdir *m)
{
    struct meta_attr d;
    int rc = dir_check(r, m->ino, m->uid, m->gid, P_R, &d);
    if (rc)
        return rc;
    struct rd_ctx x = {.M = r->M, .cookie = m->cookie};
    x.max = m->max == 0 || m->max > READDIR_MAX_ENTRIES ? READDIR_MAX_ENTRIES : m->max;
    x.ents = cn_xcalloc(x.max, sizeof(*x.ents));
    x.names = cn_xmalloc((size_t)x.max * sizeof(*x.names));
    int eof = 0;
    if (m->cookie == 0)
        rd_take(&x, ".", 1, &d);
    if (m->cookie <= 1 && x.n < x.max) {
        struct meta_attr p;
        rc = meta_getattr(r->M->meta, d.parent ? d.parent : d.ino, &p);
        if (rc)
            goto out;
        rd_take(&x, "..", 2, &p);
    }
    if (x.n < x.max) {
        const char *after = NULL;
        if (m->cookie > 2) {
            struct client *cl = r->cl;
            if (cl->rd_ino == m->ino && cl->rd_cookie == m->cookie) {
                after = cl->rd_name;
            } else {
                x.skip = m->cookie - 2;
                x.cookie = 2;
            }
        }
        rc = meta_readdir(r->M->meta, m->ino, after, rd_fn, &x);
        if (x.err)
            rc = x.err;
        if (rc < 0)
            goto out;
        eof = rc == 0;
        rc = 0;
    }
    if (x.n > 0) {
        struct cn_dirent *last = &x.ents[x.n - 1];
        r->cl->rd_ino = m->ino;
        r->cl->rd_cookie = last->cookie;
        memcpy(r->cl->rd_name, last->name.ptr, last->name.len);
        r->cl->rd_name[last->name.len] = 0;
    }
    struct cn_readdir_r rr = {(uint8_t)eof, x.ents, x.n};
    rep(r, CN_MSG_READDIR_R, &rr);
out:
    free(x.names);
    free(x.ents);
    return rc;
}

/* ---- statfs, xattrs ------------------------------------------------------------ */

static int do_statfs(struct req *r, uint64_t ino)
{
    struct meta_statfs st;
    int rc = meta_statfs(r->M->meta, &st);
    if (rc)
        return rc;
    uint64_t total = 0, free_b = 0;
    for (size_t i = 0; i < r->M->reg.nservers; i++) {
        struct cs_server *s = r->M->reg.servers[i];
        if (s->state != CS_ONLINE)
            continue;
        for (uint32_t k = 0; k < s->ndisks; k++) {
            total += s->disks[k].total;
            free_b += s->disks[k].free;
        }
    }
    uint64_t goal = r->M->cfg.goal > 0 ? (uint64_t)r->M->cfg.goal : 1;
    struct cn_statfs_r sr = {
        .total = total / goal,
        .free = free_b / goal,
        .avail = free_b / goal,
        .files = st.inodes + (1ull << 32),
        .ffree = 1ull << 32,
        .bsize = 65536,
        .namemax = META_NAME_MAX,
    };
    if (ino && (rc = quota_statfs(r->M, ino, &sr)))
        return rc;
    rep(r, r->type | CN_MSG_REPLY, &sr);
    return 0;
}

static int xattr_write_check(struct req *r, uint64_t ino, uint32_t uid, uint32_t gid,
                             const char *name)
{
    struct meta_attr a;
    int rc = meta_getattr(r->M->meta, ino, &a);
    if (rc)
        return rc;
    if (strncmp(name, "user.", 5) != 0)
        return uid == 0 || uid == a.uid ? 0 : -EPERM; /* trusted./security./system. */
    return perm(r, &a, uid, gid, P_W);
}

/* SETXATTR of an ACL: validated (EINVAL), a default ACL only on a
 * directory, and an access ACL sets the mode's 0777 bits (the kernel leaves
 * that to the file system); one that the mode says all about is not kept. */
static int set_acl(struct req *r, const struct cn_setxattr *m, const char *name)
{
    struct meta_attr a;
    struct cn_acl acl;
    int is_def = strcmp(name, CN_ACL_XATTR_DEFAULT) == 0;
    int rc = xattr_write_check(r, m->ino, m->uid, m->gid, name);
    if (!rc)
        rc = cn_acl_decode(m->value.ptr, m->value.len, &acl);
    if (!rc)
        rc = meta_getattr(r->M->meta, m->ino, &a);
    if (!rc && is_def && !S_ISDIR(a.mode))
        rc = -EACCES;
    if (!rc && !is_def && acl.n == 0)
        rc = -EINVAL;
    if (!rc)
        rc = turn_begin(r->M);
    if (rc)
        return rc;
    if (acl.n == 0 || (!is_def && cn_acl_is_minimal(&acl))) {
        rc = meta_xattr_remove(r->M->meta, m->ino, name);
        if (rc == -ENODATA)
            rc = 0;
    } else {
        rc = meta_xattr_set(r->M->meta, m->ino, name, m->value.ptr, m->value.len, (int)m->flags);
    }
    if (!rc && !is_def && (a.mode & 0777) != cn_acl_mode(&acl)) {
        struct meta_setattr sa = {.valid = META_SET_MODE,
                                  .mode = (a.mode & 07000) | cn_acl_mode(&acl)};
        rc = meta_setattr(r->M->meta, m->ino, &sa, &a, &r->M->turn.freed);
    }
    if (!rc)
        rep_empty(r);
    return rc;
}

static int do_setxattr(struct req *r, const struct cn_setxattr *m)
{
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc && (!strcmp(name, CN_ACL_XATTR_ACCESS) || !strcmp(name, CN_ACL_XATTR_DEFAULT)))
        return set_acl(r, m, name);
    if (!rc)
        rc = xattr_write_check(r, m->ino, m->uid, m->gid, name);
    if (!rc)
        rc = turn_begin(r->M);
    if (rc)
        return rc;
    rc = meta_xattr_set(r->M->meta, m->ino, name, m->value.ptr, m->value.len, (int)m->flags);
    if (!rc)
        rep_empty(r);
    return rc;
}

static int do_getxattr(struct req *r, const struct cn_getxattr *m)
{
    char name[CN_WIRE_MAX_STR + 1];
    struct meta_attr a;
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = meta_getattr(r->M->meta, m->ino, &a);
    if (!rc && strncmp(name, "system.", 7) != 0) /* ACLs are readable by all, as on Linux */
        rc = perm(r, &a, m->uid, m->gid, P_R);
    if (rc)
        return rc;
    uint32_t size = m->size > META_XATTR_SIZE_MAX ? META_XATTR_SIZE_MAX : m->size;
    void *buf = size ? cn_xmalloc(size) : NULL;
    int n = meta_xattr_get(r->M->meta, m->ino, name, buf, size);
    if (n >= 0) {
        struct cn_xattr_r xr = {(uint32_t)n, {buf, size ? (uint32_t)n : 0}};
        rep(r, CN_MSG_GETXATTR_R, &xr);
    }
    free(buf);
    return n < 0 ? n : 0;
}

static int do_listxattr(struct req *r, const struct cn_listxattr *m)
{
    uint32_t size = m->size > META_XATTR_LIST_MAX ? META_XATTR_LIST_MAX : m->size;
    char *buf = size ? cn_xmalloc(size) : NULL;
    int n = meta_xattr_list(r->M->meta, m->ino, buf, size);
    if (n >= 0) {
        struct cn_xattr_r xr = {(uint32_t)n, {(uint8_t *)buf, size ? (uint32_t)n : 0}};
        rep(r, CN_MSG_LISTXATTR_R, &xr);
    }
    free(buf);
    return n < 0 ? n : 0;
}

static int do_removexattr(struct req *r, const struct cn_name_req *m)
{
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = xattr_write_check(r, m->parent, m->uid, m->gid, name);
    if (!rc)
        rc = turn_begin(r->M);
    if (rc)
        return rc;
    rc = meta_xattr_remove(r->M->meta, m->parent, name);
    if (!rc)
        rep_empty(r);
    return rc;
}

/* ---- open, create, truncate ---------------------------------------------------- */

static int open_check(struct req *r, const struct meta_attr *a, uint32_t flags, uint32_t uid,
                      uint32_t gid)
{
    int want = 0;
    switch (flags & O_ACCMODE) {
    case O_RDONLY:
        want = P_R;
        break;
    case O_WRONLY:
        want = P_W;
        break;
    default:
        want = P_R | P_W;
        break;
    }
    if (flags & O_TRUNC)
        want |= P_W;
    if (S_ISDIR(a->mode) && (want & P_W))
        return -EISDIR;
    return perm(r, a, uid, gid, want);
}

/* O_TRUNC on a non-empty regular file: cut it to 0 in this turn. */
static int open_trunc(struct req *r, struct meta_attr *a, uint32_t flags)
{
    if (!(flags & O_TRUNC) || !S_ISREG(a->mode) || a->size == 0)
        return 0;
    int rc = turn_begin(r->M);
    if (rc)
        return rc;
    struct meta_setattr sa = {.valid = META_SET_SIZE, .size = 0};
    return meta_setattr(r->M->meta, a->ino, &sa, a, &r->M->turn.freed);
}

static int do_open(struct req *r, const struct cn_open *m)
{
    struct meta_attr a;
    int rc = meta_getattr(r->M->meta, m->ino, &a);
    if (!rc)
        rc = open_check(r, &a, m->flags, m->uid, m->gid);
    if (!rc)
        rc = open_trunc(r, &a, m->flags);
    if (!rc) {
        rep_attr(r, &a);
        opens_add(r->M, r->cl->opens, a.ino);
    }
    return rc;
}

/* RELEASE: one handle closed; an unlinked file goes with its last one. */
static int do_release(struct req *r, const struct cn_ino_req *m)
{
    opens_del(r->M, r->cl->opens, m->ino);
    rep_empty(r);
    return 0;
}

/* REOPEN: a reconnected mount claims the handles it still has (inodes that
 * no longer exist are skipped). */
static int do_reopen(struct req *r, const struct cn_reopen *m)
{
    for (uint32_t i = 0; i < m->ninos; i++) {
        struct meta_attr a;
        if (meta_getattr(r->M->meta, m->inos[i].ino, &a) == 0 && S_ISREG(a.mode))
            opens_add(r->M, r->cl->opens, m->inos[i].ino);
    }
    rep_empty(r);
    return 0;
}

static int do_create(struct req *r, const struct cn_create *m)
{
    struct meta_attr d, a;
    char name[CN_WIRE_MAX_STR + 1];
    int rc = name_of(m->name, name, sizeof(name));
    if (!rc)
        rc = dir_check(r, m->parent, m->uid, m->gid, P_X, &d);
    if (rc)
        return rc;
    rc = meta_lookup(r->M->meta, m->parent, name, &a);
    if (rc == 0) {
        if (m->flags & O_EXCL)
            return -EEXIST;
        rc = open_check(r, &a, m->flags, m->uid, m->gid);
        if (!rc)
            rc = open_trunc(r, &a, m->flags);
        if (!rc) {
            rep_attr(r, &a);
            opens_add(r->M, r->cl->opens, a.ino);
        }
        return rc;
    }
    if (rc != -ENOENT)
        return rc;
    if ((rc = perm(r, &d, m->uid, m->gid, P_W | P_X)))
        return rc;
    uint32_t mode = S_IFREG | (m->mode & 07777), gid = m->gid;
    inherit_gid(&d, &gid, &mode, 0);
    struct acl_new an;
    if ((rc = acl_new_prep(r, &d, m->umask, &mode, &an)))
        return rc;
    if ((rc = turn_begin(r->M)))
        return rc;
    rc = meta_mknod(r->M->meta, m->parent, name, mode, 0, m->uid, gid, &a);
    if (!rc)
        rc = acl_new_apply(r, a.ino, 0, &an);
    if (!rc) {
        rep_attr(r, &a);
        opens_add(r->M, r->cl->opens, a.ino);
    }
    return rc;
}

static int do_truncate(struct req *r, const struct cn_truncate *m)
{
    struct meta_attr a;
    int rc = meta_getattr(r->M->meta, m->ino, &a);
    if (rc)
        return rc;
    if (S_ISDIR(a.mode))
        return -EISDIR;
    if ((rc = perm(r, &a, m->uid, m->gid, P_W)))
        return rc;
    if ((rc = turn_begin(r->M)))
        return rc;
    struct meta_setattr sa = {.valid = META_SET_SIZE, .size = m->size};
    rc = meta_setattr(r->M->meta, m->ino, &sa, &a, &r->M->turn.freed);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

/* ---- chunks ---------------------------------------------------------------------- */

#define MAX_LOCS 48u /* copies, or the K + M <= 40 parts of an EC chunk and spares */

#define LOC_LABELS 256u /* a loc's labels: the server's and its disk's */

/* Live parts of `version`: servers online, holding exactly that version.
 * Each loc's labels are the server's and the part's disk's together (in
 * lab, MAX_LOCS entries): a client reads a part labelled `backup` only
 * when no other copy answers. */
static uint32_t live_locs(struct master *M, uint64_t chunk, uint64_t version, struct cn_loc *out,
                          char (*lab)[LOC_LABELS])
{
    struct cs_chunk_locs *cl = cs_locs_get(M, chunk);
    uint32_t n = 0;
    for (uint32_t i = 0; cl && i < cl->n && n < MAX_LOCS; i++) {
        struct cs_loc *l = &cl->v[i];
        if (cs_loc_state(l) != CS_ONLINE || l->version != version)
            continue;
        out[n].cs_id = l->srv->id;
        out[n].addr = cn_str_of(l->srv->addr);
        out[n].part = l->part;
        const char *sl = l->srv->labels ? l->srv->labels : "";
        const char *dl = l->disk < l->srv->ndisks && l->srv->disks[l->disk].labels
                             ? l->srv->disks[l->disk].labels
                             : "";
        snprintf(lab[n], LOC_LABELS, "%s%s%s", sl, *sl && *dl ? "," : "", dl);
        out[n].labels = cn_str_of(lab[n]);
        n++;
    }
    return n;
}

static int do_chunk_locate(struct req *r, const struct cn_chunk_locate *m)
{
    struct meta_attr a;
    struct meta_chunk c;
    struct cn_loc locs[MAX_LOCS];
    char lab[MAX_LOCS][LOC_LABELS];
    int rc = meta_getattr(r->M->meta, m->ino, &a);
    if (rc)
        return rc;
    if (!S_ISREG(a.mode))
        return -EINVAL;
    struct cn_chunk_locate_r lr = {.file_size = a.size, .locs = locs};
    rc = meta_file_chunk_get(r->M->meta, m->ino, m->index, &c);
    if (rc && rc != -ENOENT)
        return rc;
    if (rc == 0 && c.committed_version) {
        lr.chunk = c.id;
        lr.version = c.committed_version;
        lr.nlocs = live_locs(r->M, c.id, c.committed_version, locs, lab);
        if (c.layout[0] == CN_LAYOUT_EC) {
            lr.ec_k = c.layout[1];
            lr.ec_m = c.layout[2];
        }
        uint64_t from = lr.nlocs ? 0 : snapshot_cow_source(r->M, c.id);
        if (from) { /* its copy is being made: the source has the same bytes */
            lr.chunk = from;
            lr.nlocs = live_locs(r->M, from, c.committed_version, locs, lab);
        }
    }
    rep(r, CN_MSG_CHUNK_LOCATE_R, &lr);
    return 0;
}

static int do_write_begin(struct req *r, const struct cn_write_begin *m)
{
    struct master *M = r->M;
    struct meta_attr a;
    struct meta_chunk c;
    struct cn_loc locs[MAX_LOCS];
    char lab[MAX_LOCS][LOC_LABELS];
    int rc = meta_getattr(M->meta, m->ino, &a);
    if (rc)
        return rc;
    if (!S_ISREG(a.mode))
        return S_ISDIR(a.mode) ? -EISDIR : -EINVAL;
    /* a directory above it at its hard limit (or past a soft one's grace):
     * no new data (quota.c); what was written stays */
    if ((rc = meta_quota_check(M->meta, a.parent, 1, 0)))
        return rc;
    if ((rc = perm(r, &a, m->uid, m->gid, P_W)))
        return rc;
    uint32_t n = 0;
    rc = meta_file_chunk_get(M->meta, m->ino, m->index, &c);
    if (rc && rc != -ENOENT)
        return rc;
    if (rc == 0 && (rc = meta_chunk_shared(M->meta, c.id)) != 0) {
        /* shared with a snapshot: this position gets its own copy, made by
         * the chunkservers after the commit; the writer retries meanwhile */
        if (rc < 0 || (rc = turn_begin(M)) ||
            (rc = meta_chunk_unshare(M->meta, m->ino, m->index, &c)) < 0)
            return rc;
        struct cn_error e = {CN_ST_NO_CHUNK, CN_STR("copying a chunk shared with a snapshot")};
        rep(r, CN_MSG_ERROR, &e);
        return 0;
    }
    if (rc == 0 && c.committed_version)
        n = live_locs(M, c.id, c.committed_version, locs, lab);
    struct cs_server *chain[MAX_LOCS];
    uint16_t parts[MAX_LOCS] = {0};
    uint8_t ec_k = 0, ec_m = 0;
    if (n && c.layout[0] == CN_LAYOUT_EC) {
        /* a coded chunk is rewritten on all its parts: one server each */
        unsigned np = (unsigned)c.layout[1] + c.layout[2], got = 0;
        struct cn_loc by[MAX_LOCS];
        uint8_t seen[MAX_LOCS] = {0};
        for (uint32_t i = 0; i < n; i++)
            if (locs[i].part < np && !seen[locs[i].part]) {
                seen[locs[i].part] = 1;
                by[got++] = locs[i];
            }
        if (got < np) {
            struct cn_error e = {CN_ST_NO_CHUNK,
                                 CN_STR("a part of the coded chunk is not online; writing waits")};
            rep(r, CN_MSG_ERROR, &e);
            return 0;
        }
        memcpy(locs, by, got * sizeof(*by));
        n = got;
        ec_k = c.layout[1];
        ec_m = c.layout[2];
    }
    if (n == 0 && rc == 0 && c.committed_version) {
        /* Written before, but no copy of the committed version is online:
         * a fresh placement would hold only the new blocks and read zeros
         * elsewhere. The writer retries; the servers may be coming back. */
        struct cn_error e = {CN_ST_NO_CHUNK,
                             CN_STR("no copy of the chunk's committed version is online")};
        rep(r, CN_MSG_ERROR, &e);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        chain[i] = cs_server_by_id(M, locs[i].cs_id);
        parts[i] = locs[i].part;
    }
    uint8_t layout[3] = {0};
    if (n == 0) { /* a new chunk: place it */
        struct cs_server *pick[MAX_LOCS];
        struct meta_chunk nc = {.ino = m->ino, .index = m->index};
        struct chunk_goal g;
        if (rc == 0) /* leased before, never committed: the chunk knows its class */
            nc.class_id = c.class_id;
        else if ((rc = meta_class_of(M->meta, m->ino, &nc.class_id)) != 0)
            return rc;
        class_goal(M, &nc, 1, &g);
        unsigned want = g.copies > MAX_LOCS ? MAX_LOCS : g.copies;
        n = placement_pick_goal(M, &g, want, pick);
        if (g.ec && n < want) {
            /* fewer servers than parts: written as copies=M+1 (the same
             * failures survived), converted when the class says so */
            g.ec = 0;
            g.layout = (struct cn_layout){CN_LAYOUT_COPIES, (uint8_t)(g.layout.m + 1), 0};
            g.copies = g.layout.k;
            n = placement_pick_goal(M, &g, g.copies, pick);
        }
        for (uint32_t i = 0; i < n; i++) {
            locs[i].cs_id = pick[i]->id;
            locs[i].addr = cn_str_of(pick[i]->addr);
            /* copies=N: every copy is part 0, interchangeable; EC: part i */
            locs[i].part = g.ec ? (uint16_t)i : 0;
            locs[i].labels = cn_str_of(pick[i]->labels);
            chain[i] = pick[i];
            parts[i] = locs[i].part;
        }
        layout[0] = g.layout.kind;
        layout[1] = g.layout.k;
        layout[2] = g.layout.m;
        if (g.ec) {
            ec_k = g.layout.k;
            ec_m = g.layout.m;
        }
    }
    if (n == 0) {
        struct cn_error e = {CN_ST_NO_SERVERS, CN_STR("no chunkserver is online")};
        rep(r, CN_MSG_ERROR, &e);
        return 0;
    }
    if ((rc = turn_begin(M)))
        return rc;
    int64_t now = cn_wall_ms();
    rc = meta_chunk_lease_begin(M->meta, m->ino, m->index, r->cl->session, now,
                                now + M->cfg.lease_ms, &c);
    if (rc)
        return rc;
    if (layout[0] && (rc = meta_chunk_layout_set(M->meta, c.id, layout)) != 0)
        return rc;
    if (now + M->cfg.lease_ms > M->leases_until_ms)
        M->leases_until_ms = now + M->cfg.lease_ms;
    cs_chain_set(M, c.id, chain, parts, n);
    struct chunk_goal wg; /* the state written in: compress=zstd */
    class_goal(M, &c, 1, &wg);
    struct cn_write_begin_r wr = {
        c.id, c.version, r->cl->session, (uint32_t)M->cfg.lease_ms, locs, n, ec_k, ec_m, wg.wflags};
    rep(r, CN_MSG_WRITE_BEGIN_R, &wr);
    return 0;
}

static int do_write_end(struct req *r, const struct cn_write_end *m)
{
    struct master *M = r->M;
    struct meta_chunk c;
    struct meta_attr a;
    int rc = meta_chunk_get(M->meta, m->chunk, &c);
    if (rc == -ENOENT || (rc == 0 && (c.ino != m->ino || c.index != m->index)))
        return -ESTALE;
    if (rc)
        return rc;
    if (m->status == CN_ST_OK && c.lease != META_LEASE_WRITE && c.committed_version == m->version) {
        /* A retry of a WRITE_END that committed before its reply was lost
         * (the master was killed between its commit and the send, and the
         * client asks the next master): versions are issued once per
         * chunk, so this very session's version is the committed one.
         * Answer as the first time; nothing to change. */
        if ((rc = meta_getattr(M->meta, m->ino, &a)) == 0)
            rep_attr(r, &a);
        return rc;
    }
    if (c.lease != META_LEASE_WRITE || c.lease_holder != m->lease || c.version != m->version)
        return -ESTALE;
    if ((rc = turn_begin(M)))
        return rc;
    if (m->status == CN_ST_OK) {
        uint64_t start = (uint64_t)m->index * META_CHUNK_SIZE;
        uint64_t len = m->size > start ? m->size - start : 0;
        if (len > META_CHUNK_SIZE)
            len = META_CHUNK_SIZE;
        /* growth past a quota's hard limit: the session is rolled back and
         * the writer gets EDQUOT; what was committed before stays */
        rc = meta_getattr(M->meta, m->ino, &a);
        if (!rc && start + len > a.size &&
            meta_quota_check(M->meta, a.parent, start + len - a.size, 0) == -EDQUOT) {
            rc = meta_chunk_lease_rollback(M->meta, m->chunk);
            return rc ? rc : -EDQUOT;
        }
        if (!rc)
            rc = meta_chunk_lease_commit(M->meta, m->chunk, m->lease, m->version, len, &c);
        if (!rc)
            cs_chain_committed(M, m->chunk, m->version);
    } else {
        rc = meta_chunk_lease_rollback(M->meta, m->chunk);
    }
    if (!rc)
        rc = meta_getattr(M->meta, m->ino, &a);
    if (!rc)
        rep_attr(r, &a);
    return rc;
}

static int do_admin(struct req *r, const void *msg)
{
    int err = 0;
    char *json = admin_json(r->M, r->type, msg, &err);
    if (!json)
        return err;
    struct cn_json_r jr = {{(const uint8_t *)json, (uint32_t)strlen(json)}};
    rep(r, r->type | CN_MSG_REPLY, &jr);
    free(json);
    return 0;
}

/* ADM_MARK: `cairn disk|server remove|keep`. The mark is stored in the
 * turn; the reply waits for the commit like every mutation's. */
static int do_mark(struct req *r, const struct cn_adm_mark *m)
{
    char server[256], disk[CN_WIRE_MAX_STR + 1], path[CN_WIRE_MAX_STR + 1] = "", err[512];
    if (r->cl->role != CN_ROLE_ADMIN)
        return -EPERM;
    if (m->server.len == 0 || m->server.len >= sizeof(server) ||
        memchr(m->server.ptr, '\0', m->server.len) || memchr(m->disk.ptr, '\0', m->disk.len))
        return -EINVAL;
    memcpy(server, m->server.ptr, m->server.len);
    server[m->server.len] = 0;
    memcpy(disk, m->disk.ptr, m->disk.len);
    disk[m->disk.len] = 0;
    int rc = turn_begin(r->M);
    if (rc)
        return rc;
    rc = cs_mark_set(r->M, server, disk, m->leaving != 0, err, sizeof(err), path, sizeof(path));
    if (rc) {
        struct cn_error e = {master_status(rc), cn_str_of(err)};
        rep(r, CN_MSG_ERROR, &e);
        return 0;
    }
    json_t *o = json_pack("{s:s, s:b}", "server", server, "leaving", m->leaving != 0);
    if (disk[0])
        json_object_set_new(o, "disk", json_string(path));
    char *js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!js)
        return -ENOMEM;
    struct cn_json_r jr = {{(const uint8_t *)js, (uint32_t)strlen(js)}};
    rep(r, CN_MSG_ADM_MARK_R, &jr);
    free(js);
    return 0;
}

/* ADM_RESCAN: `cairn disk rescan [SERVER]`. Answered once the commands are
 * sent; each chunkserver reports the disks it reopened in its heartbeats. */
static int do_rescan(struct req *r, const struct cn_adm_rescan *m)
{
    char server[256], err[512];
    if (r->cl->role != CN_ROLE_ADMIN)
        return -EPERM;
    if (m->server.len >= sizeof(server) || memchr(m->server.ptr, '\0', m->server.len))
        return -EINVAL;
    memcpy(server, m->server.ptr, m->server.len);
    server[m->server.len] = 0;
    json_t *asked = json_array();
    int rc = cs_rescan(r->M, server, asked, err, sizeof(err));
    if (rc) {
        json_decref(asked);
        struct cn_error e = {master_status(rc), cn_str_of(err)};
        rep(r, CN_MSG_ERROR, &e);
        return 0;
    }
    json_t *o = json_pack("{s:o}", "servers", asked);
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!js)
        return -ENOMEM;
    struct cn_json_r jr = {{(const uint8_t *)js, (uint32_t)strlen(js)}};
    rep(r, CN_MSG_ADM_RESCAN_R, &jr);
    free(js);
    return 0;
}

/* ADM_FSCK: `cairn fsck [--repair]` (admin role). */
static int do_fsck(struct req *r, const struct cn_adm_fsck *m)
{
    int err = 0;
    if (r->cl->role != CN_ROLE_ADMIN)
        return -EPERM;
    char *json = fsck_json(r->M, m->repair != 0, &err);
    if (!json)
        return err;
    struct cn_json_r jr = {{(const uint8_t *)json, (uint32_t)strlen(json)}};
    rep(r, CN_MSG_ADM_FSCK_R, &jr);
    free(json);
    return 0;
}

/* ADM_TRASH, ADM_TRASHTIME, ADM_QUOTA: `cairn trash ...`, `cairn trashtime ...`,
 * `cairn quota ...` (admin role). */
static int do_trash(struct req *r, const void *msg)
{
    int err = 0;
    if (r->cl->role != CN_ROLE_ADMIN)
        return -EPERM;
    char *json = r->type == CN_MSG_ADM_TRASH      ? trash_json(r->M, msg, &err)
                 : r->type == CN_MSG_ADM_QUOTA    ? quota_json(r->M, msg, &err)
                 : r->type == CN_MSG_ADM_SNAPSHOT ? snapshot_json(r->M, msg, &err)
                                                  : trashtime_json(r->M, msg, &err);
    if (!json)
        return err;
    struct cn_json_r jr = {{(const uint8_t *)json, (uint32_t)strlen(json)}};
    rep(r, r->type | CN_MSG_REPLY, &jr);
    free(json);
    return 0;
}

/* ADM_CLASS: `cairn class ...` (admin role); errors carry their reason. */
static int do_class(struct req *r, const struct cn_adm_class *m)
{
    int err = 0;
    char msg[512];
    if (r->cl->role != CN_ROLE_ADMIN)
        return -EPERM;
    char *json = class_json(r->M, m, &err, msg, sizeof(msg));
    if (!json) {
        if (!msg[0])
            return err;
        struct cn_error e = {master_status(err), cn_str_of(msg)};
        rep(r, CN_MSG_ERROR, &e);
        return 0;
    }
    struct cn_json_r jr = {{(const uint8_t *)json, (uint32_t)strlen(json)}};
    rep(r, CN_MSG_ADM_CLASS_R, &jr);
    free(json);
    return 0;
}

/* ---- connection ------------------------------------------------------------------ */

union any_req {
    struct cn_hello hello;
    struct cn_ping ping;
    struct cn_name_req name;
    struct cn_ino_req ino;
    struct cn_setattr setattr;
    struct cn_mknod mknod;
    struct cn_mkdir mkdir;
    struct cn_rename rename;
    struct cn_link link;
    struct cn_symlink symlink;
    struct cn_readdir readdir;
    struct cn_setxattr setxattr;
    struct cn_getxattr getxattr;
    struct cn_listxattr listxattr;
    struct cn_open open;
    struct cn_chunk_locate locate;
    struct cn_write_begin wbegin;
    struct cn_write_end wend;
    struct cn_create create;
    struct cn_truncate truncate;
    struct cn_path_req path;
    struct cn_adm_mark mark;
    struct cn_adm_rescan rescan;
    struct cn_adm_fsck fsck;
    struct cn_adm_trash trash;
    struct cn_adm_trashtime trashtime;
    struct cn_adm_quota quota;
    struct cn_adm_snapshot snapshot;
    struct cn_adm_class cls;
    struct cn_reopen reopen;
    struct cn_creds creds;
    struct cn_lock lock;
    struct cn_getlk getlk;
    struct cn_lock_cancel lock_cancel;
    struct cn_empty empty;
};

static int dispatch(struct req *r, union any_req *u)
{
    switch (r->type) {
    case CN_MSG_PING:
        rep(r, CN_MSG_PING_R, &u->ping);
        return 0;
    case CN_MSG_LOOKUP:
        return do_lookup(r, &u->name);
    case CN_MSG_GETATTR:
        return do_getattr(r, &u->ino);
    case CN_MSG_SETATTR:
        return do_setattr(r, &u->setattr);
    case CN_MSG_MKNOD:
        return do_mknod(r, &u->mknod);
    case CN_MSG_MKDIR:
        return do_mkdir(r, &u->mkdir);
    case CN_MSG_UNLINK:
        return do_remove(r, &u->name, 0);
    case CN_MSG_RMDIR:
        return do_remove(r, &u->name, 1);
    case CN_MSG_RENAME:
        return do_rename(r, &u->rename);
    case CN_MSG_LINK:
        return do_link(r, &u->link);
    case CN_MSG_SYMLINK:
        return do_symlink(r, &u->symlink);
    case CN_MSG_READLINK:
        return do_readlink(r, &u->ino);
    case CN_MSG_READDIR:
        return do_readdir(r, &u->readdir);
    case CN_MSG_STATFS:
        return do_statfs(r, 0);
    case CN_MSG_STATFS_DIR:
        return do_statfs(r, u->ino.ino);
    case CN_MSG_SETXATTR:
        return do_setxattr(r, &u->setxattr);
    case CN_MSG_GETXATTR:
        return do_getxattr(r, &u->getxattr);
    case CN_MSG_LISTXATTR:
        return do_listxattr(r, &u->listxattr);
    case CN_MSG_REMOVEXATTR:
        return do_removexattr(r, &u->name);
    case CN_MSG_OPEN:
        return do_open(r, &u->open);
    case CN_MSG_CREATE:
        return do_create(r, &u->create);
    case CN_MSG_RELEASE:
        return do_release(r, &u->ino);
    case CN_MSG_REOPEN:
        return do_reopen(r, &u->reopen);
    case CN_MSG_CREDS:
        return do_creds(r, &u->creds);
    case CN_MSG_TRUNCATE:
        return do_truncate(r, &u->truncate);
    case CN_MSG_LOCK:
        return locks_lock(r->M, r->cl, r->cl->locks, r->id, &u->lock);
    case CN_MSG_GETLK:
        return locks_getlk(r->M, r->cl, r->cl->locks, r->id, &u->getlk);
    case CN_MSG_LOCK_CANCEL:
        return locks_cancel(r->M, r->cl, r->cl->locks, r->id, &u->lock_cancel);
    case CN_MSG_CHUNK_LOCATE:
        return do_chunk_locate(r, &u->locate);
    case CN_MSG_WRITE_BEGIN:
        return do_write_begin(r, &u->wbegin);
    case CN_MSG_WRITE_END:
        return do_write_end(r, &u->wend);
    case CN_MSG_ADM_STATUS:
    case CN_MSG_ADM_SERVERS:
    case CN_MSG_ADM_DISKS:
    case CN_MSG_ADM_INFO:
        return do_admin(r, u);
    case CN_MSG_ADM_MARK:
        return do_mark(r, &u->mark);
    case CN_MSG_ADM_RESCAN:
        return do_rescan(r, &u->rescan);
    case CN_MSG_ADM_FSCK:
        return do_fsck(r, &u->fsck);
    case CN_MSG_ADM_TRASH:
    case CN_MSG_ADM_TRASHTIME:
    case CN_MSG_ADM_QUOTA:
    case CN_MSG_ADM_SNAPSHOT:
        return do_trash(r, u);
    case CN_MSG_ADM_CLASS:
        return do_class(r, &u->cls);
    default:
        return -ENOTSUP;
    }
}

static void on_hello(struct req *r, const struct cn_hello *h)
{
    uint16_t ver;
    if (cn_wire_negotiate(h->ver_min, h->ver_max, &ver)) {
        struct cn_error e = {CN_ST_UNSUPPORTED, CN_STR("no common protocol version")};
        cn_conn_send_msg(r->c, CN_MSG_ERROR, r->id, &e);
        cn_conn_close(r->c, CN_EVERSION);
        return;
    }
    if (h->role != CN_ROLE_CLIENT && h->role != CN_ROLE_ADMIN) {
        struct cn_error e = {CN_ST_PROTOCOL, CN_STR("this is the client port")};
        cn_conn_send_msg(r->c, CN_MSG_ERROR, r->id, &e);
        cn_conn_close(r->c, 0);
        return;
    }
    r->cl->hello = 1;
    r->cl->role = h->role;
    r->cl->session = r->M->session_base + ++r->M->next_session;
    r->cl->locks->id = r->cl->session;
    cn_log_debug(MOD, "%s: hello from %.*s, session %llu", cn_conn_peer(r->c), (int)h->name.len,
                 h->name.ptr, (unsigned long long)r->cl->session);
    struct cn_hello_r hr = {ver, r->cl->session, CN_STR(MASTER_NAME), {NULL, 0}};
    rep(r, CN_MSG_HELLO_R, &hr);
}

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    struct client *cl = ud;
    struct req r = {cl->M, cl, c, h->req_id, h->type};
    if (h->type & CN_MSG_REPLY) {
        cn_conn_close(c, CN_EMALFORMED); /* clients send requests only */
        return;
    }
    if (!cn_msg_name(h->type)) {
        if (!cl->hello) {
            cn_conn_close(c, CN_EUNKNOWN);
            return;
        }
        struct cn_error e = {CN_ST_UNSUPPORTED, CN_STR("unknown message type")};
        rep(&r, CN_MSG_ERROR, &e);
        return;
    }
    union any_req u;
    int rc = cn_msg_decode(h->type, payload, h->len, &u);
    if (rc) {
        cn_msg_free(h->type, &u);
        cn_conn_close(c, rc);
        return;
    }
    if (!cl->hello) {
        if (h->type == CN_MSG_HELLO)
            on_hello(&r, &u.hello);
        else
            cn_conn_close(c, CN_EMALFORMED); /* HELLO must come first */
    } else if (h->type == CN_MSG_HELLO) {
        cn_conn_close(c, CN_EMALFORMED);
    } else {
        rc = dispatch(&r, &u);
        if (rc)
            rep_err(&r, rc);
    }
    cn_msg_free(h->type, &u);
}

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct client *cl = ud;
    (void)c;
    (void)err;
    cl->conn = NULL;
    opens_session_end(cl->M, cl->opens);
    cl->opens = NULL;
    locks_session_end(cl->M, cl->locks); /* at once: no grace for locks (locks.c) */
    cl->locks = NULL;
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        cl->M->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    client_unref(cl);
}

static const struct cn_conn_ops client_ops = {on_frame, on_close};

static void on_accept(struct cn_listener *l, struct cn_conn *c, void *ud)
{
    struct master *M = ud;
    (void)l;
    if (M->stopping) {
        cn_conn_close(c, 0);
        return;
    }
    struct client *cl = cn_xcalloc(1, sizeof(*cl));
    cl->M = M;
    cl->conn = c;
    cl->refs = 1;
    cl->opens = opens_session();
    cl->locks = locks_session();
    cl->next = M->clients;
    if (cl->next)
        cl->next->prev = cl;
    M->clients = cl;
    cn_conn_start(c, &client_ops, cl);
}

int client_serv_init(struct master *M, char *err, size_t errlen)
{
    return cn_listener_open(M->loop, &M->cfg.client_listen, on_accept, M, &M->client_l, err,
                            errlen);
}

void client_serv_release(struct master *M)
{
    if (M->client_l)
        cn_listener_close(M->client_l);
    M->client_l = NULL;
    for (struct client *cl = M->clients; cl; cl = cl->next)
        if (cl->conn)
            cn_conn_close(cl->conn, 0);
}
