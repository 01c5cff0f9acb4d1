/*
 * lc_meta.c - libcairn's metadata calls: one master request each, encoded
 * here and retried through master outages by lc_core.c.
 */
#include <errno.h>
#include <string.h>

#include "lc_int.h"

void lc_attr_to_stat(const struct cn_attr *a, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = a->ino;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_rdev = a->rdev;
    st->st_size = (off_t)a->size;
    st->st_blocks = (blkcnt_t)a->blocks;
    st->st_blksize = LC_BLOCK_SIZE;
    st->st_atim.tv_sec = a->atime.sec;
    st->st_atim.tv_nsec = a->atime.nsec;
    st->st_mtim.tv_sec = a->mtime.sec;
    st->st_mtim.tv_nsec = a->mtime.nsec;
    st->st_ctim.tv_sec = a->ctime.sec;
    st->st_ctim.tv_nsec = a->ctime.nsec;
}

/* One request whose reply is attributes (or nothing when out is NULL). */
static int attr_call(struct lc *c, const struct lc_cred *u, uint16_t type, const void *msg,
                     struct cn_attr *out)
{
    struct lc_op op;
    struct cn_attr_r r;
    lc_op_init(&op);
    op.cred = u;
    int rc = lc_mcall(c, type, msg, out ? &r : NULL, &op);
    if (!rc && out)
        *out = r.attr;
    lc_op_release(&op);
    return rc;
}

static void fix_size(struct lc *c, struct cn_attr *a)
{
    uint64_t d = lc_dirty_size(c, a->ino);
    if (d > a->size)
        a->size = d;
}

int lc_lookup(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
              struct cn_attr *out)
{
    struct cn_name_req m = {parent, cn_str_of(name), u->uid, u->gid};
    int rc = attr_call(c, u, CN_MSG_LOOKUP, &m, out);
    if (!rc)
        fix_size(c, out);
    return rc;
}

int lc_getattr(struct lc *c, uint64_t ino, struct cn_attr *out)
{
    struct cn_ino_req m = {ino};
    int rc = attr_call(c, NULL, CN_MSG_GETATTR, &m, out);
    if (!rc)
        fix_size(c, out);
    return rc;
}

int lc_mknod(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
             uint32_t mode, uint32_t rdev, struct cn_attr *out)
{
    struct cn_mknod m = {parent, cn_str_of(name), mode, rdev, u->uid, u->gid, u->umask};
    return attr_call(c, u, CN_MSG_MKNOD, &m, out);
}

int lc_mkdir(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
             uint32_t mode, struct cn_attr *out)
{
    struct cn_mkdir m = {parent, cn_str_of(name), mode, u->uid, u->gid, u->umask};
    return attr_call(c, u, CN_MSG_MKDIR, &m, out);
}

int lc_unlink(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name)
{
    struct cn_name_req m = {parent, cn_str_of(name), u->uid, u->gid};
    return attr_call(c, u, CN_MSG_UNLINK, &m, NULL);
}

int lc_rmdir(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name)
{
    struct cn_name_req m = {parent, cn_str_of(name), u->uid, u->gid};
    return attr_call(c, u, CN_MSG_RMDIR, &m, NULL);
}

int lc_rename(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, uint32_t flags)
{
    struct cn_rename m = {parent, cn_str_of(name), newparent, cn_str_of(newname),
                          flags,  u->uid,          u->gid};
    return attr_call(c, u, CN_MSG_RENAME, &m, NULL);
}

int lc_link(struct lc *c, const struct lc_cred *u, uint64_t ino, uint64_t newparent,
            const char *newname, struct cn_attr *out)
{
    struct cn_link m = {ino, newparent, cn_str_of(newname), u->uid, u->gid};
    int rc = attr_call(c, u, CN_MSG_LINK, &m, out);
    if (!rc)
        fix_size(c, out);
    return rc;
}

int lc_symlink(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
               const char *target, struct cn_attr *out)
{
    struct cn_symlink m = {parent, cn_str_of(name), cn_str_of(target), u->uid, u->gid};
    return attr_call(c, u, CN_MSG_SYMLINK, &m, out);
}

int lc_readlink(struct lc *c, uint64_t ino, char *buf, size_t size)
{
    struct cn_ino_req m = {ino};
    struct cn_readlink_r r;
    struct lc_op op;
    lc_op_init(&op);
    int rc = lc_mcall(c, CN_MSG_READLINK, &m, &r, &op);
    if (!rc) {
        size_t n = r.target.len < size - 1 ? r.target.len : size - 1;
        memcpy(buf, r.target.ptr, n);
        buf[n] = 0;
        rc = (int)r.target.len;
    }
    lc_op_release(&op);
    return rc;
}

int lc_readdir(struct lc *c, const struct lc_cred *u, uint64_t ino, uint64_t cookie, uint32_t max,
               lc_dirent_cb cb, void *ud, int *eof)
{
    struct cn_readdir m = {ino, cookie, max, u->uid, u->gid};
    struct cn_readdir_r r;
    struct lc_op op;
    lc_op_init(&op);
    op.cred = u;
    int rc = lc_mcall(c, CN_MSG_READDIR, &m, &r, &op);
    if (!rc) {
        *eof = r.eof;
        for (uint32_t i = 0; i < r.nentries; i++) {
            if (cb(&r.entries[i], ud)) {
                *eof = 0;
                break;
            }
        }
        cn_msg_free(CN_MSG_READDIR_R, &r);
    }
    lc_op_release(&op);
    return rc;
}

int lc_statfs(struct lc *c, struct cn_statfs_r *out)
{
    struct cn_empty m = {0};
    struct lc_op op;
    lc_op_init(&op);
    int rc = lc_mcall(c, CN_MSG_STATFS, &m, out, &op);
    lc_op_release(&op);
    return rc;
}

int lc_statfs_dir(struct lc *c, uint64_t ino, struct cn_statfs_r *out)
{
    struct cn_ino_req m = {ino};
    struct lc_op op;
    lc_op_init(&op);
    int rc = lc_mcall(c, CN_MSG_STATFS_DIR, &m, out, &op);
    lc_op_release(&op);
    return rc;
}

int lc_setxattr(struct lc *c, const struct lc_cred *u, uint64_t ino, const char *name,
                const void *value, size_t size, uint32_t flags)
{
    if (size > CN_WIRE_MAX_PAYLOAD / 2)
        return -E2BIG;
    struct cn_setxattr m = {ino, cn_str_of(name), {value, (uint32_t)size}, flags, u->uid, u->gid};
    return attr_call(c, u, CN_MSG_SETXATTR, &m, NULL);
}

static int xattr_out(const struct cn_xattr_r *r, void *buf, size_t size)
{
    if (!size)
        return (int)r->size;
    if (r->value.len > size)
        return -ERANGE;
    memcpy(buf, r->value.ptr, r->value.len);
    return (int)r->value.len;
}

int lc_getxattr(struct lc *c, const struct lc_cred *u, uint64_t ino, const char *name, void *buf,
                size_t size)
{
    struct cn_getxattr m = {ino, cn_str_of(name), (uint32_t)size, u->uid, u->gid};
    struct cn_xattr_r r;
    struct lc_op op;
    lc_op_init(&op);
    op.cred = u;
    int rc = lc_mcall(c, CN_MSG_GETXATTR, &m, &r, &op);
    if (!rc)
        rc = xattr_out(&r, buf, size);
    lc_op_release(&op);
    return rc;
}

int lc_listxattr(struct lc *c, const struct lc_cred *u, uint64_t ino, void *buf, size_t size)
{
    struct cn_listxattr m = {ino, (uint32_t)size, u->uid, u->gid};
    struct cn_xattr_r r;
    struct lc_op op;
    lc_op_init(&op);
    op.cred = u;
    int rc = lc_mcall(c, CN_MSG_LISTXATTR, &m, &r, &op);
    if (!rc)
        rc = xattr_out(&r, buf, size);
    lc_op_release(&op);
    return rc;
}

int lc_removexattr(struct lc *c, const struct lc_cred *u, uint64_t ino, const char *name)
{
    struct cn_name_req m = {ino, cn_str_of(name), u->uid, u->gid};
    return attr_call(c, u, CN_MSG_REMOVEXATTR, &m, NULL);
}
