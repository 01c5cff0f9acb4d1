/*
 * namespace.c - POSIX namespace over the metadata database: lookup,
 * attributes, create/mkdir/symlink/link/unlink/rmdir/rename, readdir,
 * xattrs and orphans.
 *
 * Decisions a reader must know:
 * - A directory entry is its own key ('D' parent name), so lookup is one
 *   point read and readdir is a range scan in name order; the resume
 *   cookie is the last name returned, which stays meaningful whatever is
 *   inserted or deleted between two calls.
 * - Directories keep their parent in their inode record (the '..' entry),
 *   so rename can refuse to move a directory under itself by walking
 *   parents up to the root, and nlink of a directory is 2 + subdirectories.
 * - Each public mutation runs between meta_op_begin() and meta_op_end():
 *   on any error the turn is rolled back to the operation's start (commit
 *   invariant 4 in meta.c), so checks and writes may interleave freely.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "meta_int.h"

#define META_LINK_MAX 65000u /* like ext4's EXT4_LINK_MAX */

/* Length of a valid entry name, or -EINVAL / -ENAMETOOLONG. */
static int name_check(const char *name)
{
    size_t n;
    if (!name)
        return -EINVAL;
    n = strnlen(name, META_NAME_MAX + 1);
    if (n > META_NAME_MAX)
        return -ENAMETOOLONG;
    if (n == 0 || memchr(name, '/', n) || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    return (int)n;
}

static uint8_t mode_type(uint32_t mode)
{
    return (uint8_t)((mode & S_IFMT) >> 12);
}

static bool is_dir(const struct meta_inode *in)
{
    return S_ISDIR(in->a.mode);
}

/* Loads a directory inode: -ENOENT, -ENOTDIR. */
static int dir_load(struct meta *m, uint64_t ino, struct meta_inode *out)
{
    int rc = meta_inode_load(m, ino, out);
    if (rc == 0 && !is_dir(out))
        rc = -ENOTDIR;
    return rc;
}

static int dentry_get(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                      struct meta_dentry *out)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int rc;
    meta_key_name(&k, META_K_DENTRY, parent, name, nlen);
    rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = meta_dentry_decode(m, (const uint8_t *)v, vlen, out);
    rocksdb_free(v);
    return rc;
}

static void dentry_put(struct meta *m, uint64_t parent, const char *name, size_t nlen, uint64_t ino,
                       uint32_t mode)
{
    struct meta_key k;
    uint8_t v[META_DENTRY_LEN];
    v[0] = META_REC_V1;
    v[1] = mode_type(mode);
    meta_put64(v + 2, ino);
    meta_key_name(&k, META_K_DENTRY, parent, name, nlen);
    meta_kv_put(m, &k, v, sizeof(v));
}

static void dentry_del(struct meta *m, uint64_t parent, const char *name, size_t nlen)
{
    struct meta_key k;
    meta_key_name(&k, META_K_DENTRY, parent, name, nlen);
    meta_kv_del(m, &k);
}

/* 1 if the range of keys starting with prefix[0..plen) is non-empty. */
static int range_nonempty(struct meta *m, const uint8_t *prefix, size_t plen)
{
    rocksdb_iterator_t *it = meta_iter_open(m, prefix, plen);
    size_t klen;
    const char *key;
    int rc = 0;
    if (!it)
        return -ENOMEM;
    if (rocksdb_iter_valid(it)) {
        key = rocksdb_iter_key(it, &klen);
        rc = klen >= plen && memcmp(key, prefix, plen) == 0;
    }
    rocksdb_iter_destroy(it);
    return rc;
}

static void touch_mc(struct meta_inode *in, const struct timespec *now)
{
    in->a.mtime = in->a.ctime = *now;
}

/*
 * Deletes every key of one inode-scoped prefix ('X'), after the inode went
 * away. Keys are collected first: the batch must not change under an
 * iterator that reads through it.
 */
static int range_delete(struct meta *m, char prefix, uint64_t ino)
{
    struct meta_key k, *keys = NULL;
    size_t n = 0, cap = 0;
    rocksdb_iterator_t *it;
    int rc = 0;
    meta_key_ino(&k, prefix, ino);
    it = meta_iter_open(m, k.b, k.len);
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *key = rocksdb_iter_key(it, &klen);
        if (klen < k.len || memcmp(key, k.b, k.len) != 0)
            break;
        if (klen > sizeof(k.b)) {
            rc = META_CORRUPT(m, "key longer than any key this format writes");
            break;
        }
        if (n == cap) {
            struct meta_key *p = realloc(keys, (cap ? cap * 2 : 8) * sizeof(*p));
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            keys = p;
            cap = cap ? cap * 2 : 8;
        }
        memcpy(keys[n].b, key, klen);
        keys[n++].len = klen;
    }
    rocksdb_iter_destroy(it);
    for (size_t i = 0; rc == 0 && i < n; i++)
        meta_kv_del(m, &keys[i]);
    free(keys);
    return rc;
}

/* Removes an inode and everything hanging off it; its chunks go to freed. */
static int inode_free(struct meta *m, struct meta_inode *in, struct meta_freed *freed)
{
    struct meta_key k;
    int rc;
    if (S_ISREG(in->a.mode)) {
        rc = meta_chunks_drop_from(m, in->a.ino, 0, freed);
        if (rc < 0)
            return rc;
        m->sb.used_bytes -= in->a.size <= m->sb.used_bytes ? in->a.size : m->sb.used_bytes;
    }
    rc = range_delete(m, META_K_XATTR, in->a.ino);
    if (rc < 0)
        return rc;
    meta_key_ino(&k, META_K_INODE, in->a.ino);
    meta_kv_del(m, &k);
    meta_key_ino(&k, META_K_ORPHAN, in->a.ino);
    meta_kv_del(m, &k);
    if (m->sb.inodes > 0)
        m->sb.inodes--;
    return 0;
}

/* No name of `in` is left (trash purge, or no trash): orphan it while it is
 * open, else free it. */
int meta_ns_inode_release(struct meta *m, struct meta_inode *in, struct meta_freed *freed)
{
    if (!S_ISDIR(in->a.mode) && m->open_fn && m->open_fn(m->open_ctx, in->a.ino)) {
        struct meta_key k;
        uint8_t v = META_REC_V1;
        meta_inode_store(m, in);
        meta_key_ino(&k, META_K_ORPHAN, in->a.ino);
        meta_kv_put(m, &k, &v, 1);
        return 0;
    }
    return inode_free(m, in, freed);
}

/* One link of non-directory `in` (named `name` in `parent`) went away:
 * store it, put it in the trash, orphan it or free it. */
static int link_drop(struct meta *m, struct meta_inode *in, const struct timespec *now,
                     struct meta_freed *freed, uint64_t parent, const char *name, size_t nlen)
{
    if (in->a.nlink > 0)
        in->a.nlink--;
    in->a.ctime = *now;
    if (in->a.nlink > 0) {
        meta_inode_store(m, in);
        return 0;
    }
    uint32_t secs = 0;
    int rc = meta_quota_charge(m, in->a.parent, S_ISREG(in->a.mode) ? -(int64_t)in->a.size : 0, -1);
    if (rc == 0)
        rc = meta_trashtime_get(m, in->a.ino, parent, &secs, NULL);
    if (rc < 0)
        return rc;
    if (secs > 0)
        return meta_trash_put(m, in, parent, name, nlen, now, secs);
    in->a.nlink = 0;
    return meta_ns_inode_release(m, in, freed);
}

int meta_ns_dentry_get(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                       struct meta_dentry *out)
{
    return dentry_get(m, parent, name, nlen, out);
}

void meta_ns_dentry_put(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                        uint64_t ino, uint32_t mode)
{
    dentry_put(m, parent, name, nlen, ino, mode);
}

static void attr_out(const struct meta_inode *in, struct meta_attr *out)
{
    if (out)
        *out = in->a;
}

/* ---- reads ------------------------------------------------------------------------------ */

int meta_getattr(struct meta *m, uint64_t ino, struct meta_attr *out)
{
    struct meta_inode in;
    int rc = meta_inode_load(m, ino, &in);
    if (rc == 0)
        attr_out(&in, out);
    return rc;
}

int meta_lookup(struct meta *m, uint64_t parent, const char *name, struct meta_attr *out)
{
    struct meta_inode dir;
    struct meta_dentry d;
    int nlen = name_check(name), rc;
    if (nlen < 0)
        return nlen == -EINVAL && name && name[0] ? -ENOENT : nlen;
    rc = dir_load(m, parent, &dir);
    if (rc < 0)
        return rc;
    rc = dentry_get(m, parent, name, (size_t)nlen, &d);
    if (rc < 0)
        return rc;
    rc = meta_getattr(m, d.ino, out);
    if (rc == -ENOENT) /* a dentry to a missing inode */
        rc = META_CORRUPT(m, "dentry points to a missing inode");
    return rc;
}

int meta_readlink(struct meta *m, uint64_t ino, char *buf, size_t len)
{
    struct meta_inode *in = malloc(sizeof(*in));
    int rc;
    if (!in)
        return -ENOMEM;
    rc = meta_inode_load(m, ino, in);
    if (rc < 0)
        goto out;
    if (!S_ISLNK(in->a.mode)) {
        rc = -EINVAL;
        goto out;
    }
    if (len < in->target_len) {
        rc = -ERANGE;
        goto out;
    }
    memcpy(buf, in->target, in->target_len);
    rc = in->target_len;
out:
    free(in);
    return rc;
}

int meta_readdir(struct meta *m, uint64_t dir, const char *after, meta_dirent_fn fn, void *ctx)
{
    struct meta_inode din;
    struct meta_key k, pfx;
    rocksdb_iterator_t *it = NULL;
    size_t alen = after ? strnlen(after, META_NAME_MAX + 1) : 0;
    int rc;

    if (alen > META_NAME_MAX)
        return -ENAMETOOLONG;
    rc = dir_load(m, dir, &din);
    if (rc < 0)
        return rc;
    meta_key_ino(&pfx, META_K_DENTRY, dir);
    meta_key_name(&k, META_K_DENTRY, dir, after ? after : "", alen);
    it = meta_iter_open(m, k.b, k.len);
    if (!it)
        return -ENOMEM;
    rc = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val;
        struct meta_dentry d;
        char name[META_NAME_MAX + 1];
        if (klen < pfx.len || memcmp(key, pfx.b, pfx.len) != 0)
            break;
        if (alen && klen == k.len && memcmp(key, k.b, k.len) == 0)
            continue; /* the cookie itself: resume strictly after it */
        if (klen == pfx.len || klen > pfx.len + META_NAME_MAX) {
            rc = META_CORRUPT(m, "dentry key: name empty or too long");
            break;
        }
        val = rocksdb_iter_value(it, &vlen);
        rc = meta_dentry_decode(m, (const uint8_t *)val, vlen, &d);
        if (rc < 0)
            break;
        memcpy(name, key + pfx.len, klen - pfx.len);
        name[klen - pfx.len] = '\0';
        if (fn(ctx, name, klen - pfx.len, d.ino, (uint32_t)d.type << 12)) {
            rc = 1;
            break;
        }
    }
    if (rc == 0) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr)
            rc = meta_db_error(m, rerr, "readdir");
    }
    rocksdb_iter_destroy(it);
    return rc;
}

/* ---- creation ------------------------------------------------------------------------------ */

/* Common path of mknod/mkdir/symlink; `in` has mode, ids, rdev, target set. */
static int node_create(struct meta *m, uint64_t parent, const char *name, struct meta_inode *in,
                       struct meta_attr *out)
{
    struct meta_inode dir;
    struct meta_dentry d;
    struct timespec now;
    int nlen, rc;

    rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    nlen = name_check(name);
    if (nlen < 0) {
        rc = nlen == -EINVAL ? -EEXIST : nlen; /* "." and ".." exist */
        if (!name || !name[0] || strchr(name, '/'))
            rc = -EINVAL;
        goto out;
    }
    rc = dir_load(m, parent, &dir);
    if (rc < 0)
        goto out;
    if (dir.a.nlink == 0) { /* should not happen: directories are never orphaned */
        rc = -ENOENT;
        goto out;
    }
    rc = dentry_get(m, parent, name, (size_t)nlen, &d);
    if (rc == 0) {
        rc = -EEXIST;
        goto out;
    }
    if (rc != -ENOENT)
        goto out;
    rc = meta_quota_check(m, parent, 0, 1);
    if (rc < 0)
        goto out;
    meta_now(&now);
    in->class_id = dir.class_id; /* inherited (class.c) */
    in->a.ino = m->sb.next_ino++;
    m->sb.inodes++;
    in->a.atime = in->a.mtime = in->a.ctime = now;
    if (is_dir(in)) {
        in->a.nlink = 2;
        in->a.parent = parent;
        if (dir.a.nlink >= META_LINK_MAX) {
            rc = -EMLINK;
            goto out;
        }
        dir.a.nlink++;
    } else {
        in->a.nlink = 1;
        in->a.parent = parent; /* the directory that accounts for it (quota.c) */
    }
    rc = meta_quota_charge(m, parent, 0, 1);
    if (rc < 0)
        goto out;
    meta_inode_store(m, in);
    dentry_put(m, parent, name, (size_t)nlen, in->a.ino, in->a.mode);
    touch_mc(&dir, &now);
    meta_inode_store(m, &dir);
    attr_out(in, out);
    rc = 0;
out:
    return meta_op_end(m, rc);
}

int meta_mknod(struct meta *m, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
               uint32_t uid, uint32_t gid, struct meta_attr *out)
{
    struct meta_inode in;
    switch (mode & S_IFMT) {
    case 0:
        mode |= S_IFREG;
        break;
    case S_IFREG:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK:
        break;
    default:
        return -EINVAL;
    }
    memset(&in.a, 0, sizeof(in.a));
    in.class_id = 0;
    in.target_len = 0;
    in.a.mode = (mode & S_IFMT) | (mode & 07777);
    in.a.uid = uid;
    in.a.gid = gid;
    in.a.rdev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0;
    return node_create(m, parent, name, &in, out);
}

int meta_mkdir(struct meta *m, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
               uint32_t gid, struct meta_attr *out)
{
    struct meta_inode in;
    memset(&in.a, 0, sizeof(in.a));
    in.class_id = 0;
    in.target_len = 0;
    in.a.mode = S_IFDIR | (mode & 07777);
    in.a.uid = uid;
    in.a.gid = gid;
    return node_create(m, parent, name, &in, out);
}

int meta_symlink(struct meta *m, uint64_t parent, const char *name, const char *target,
                 uint32_t uid, uint32_t gid, struct meta_attr *out)
{
    struct meta_inode *in;
    size_t tlen = target ? strnlen(target, META_SYMLINK_MAX + 1) : 0;
    int rc;
    if (tlen == 0)
        return -ENOENT;
    if (tlen > META_SYMLINK_MAX)
        return -ENAMETOOLONG;
    in = malloc(sizeof(*in));
    if (!in)
        return -ENOMEM;
    memset(&in->a, 0, sizeof(in->a));
    in->class_id = 0;
    in->a.mode = S_IFLNK | 0777;
    in->a.uid = uid;
    in->a.gid = gid;
    in->a.size = tlen;
    in->target_len = (uint16_t)tlen;
    memcpy(in->target, target, tlen);
    rc = node_create(m, parent, name, in, out);
    free(in);
    return rc;
}

int meta_link(struct meta *m, uint64_t ino, uint64_t newparent, const char *newname,
              struct meta_attr *out)
{
    struct meta_inode *in = NULL, dir;
    struct meta_dentry d;
    struct timespec now;
    int nlen, rc;

    rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    nlen = name_check(newname);
    if (nlen < 0) {
        rc = nlen == -EINVAL && newname && newname[0] && !strchr(newname, '/') ? -EEXIST : nlen;
        goto out;
    }
    in = malloc(sizeof(*in));
    if (!in) {
        rc = -ENOMEM;
        goto out;
    }
    rc = meta_inode_load(m, ino, in);
    if (rc < 0)
        goto out;
    if (is_dir(in)) {
        rc = -EPERM;
        goto out;
    }
    if (in->a.nlink == 0) { /* an orphan cannot be linked back (as Linux without O_TMPFILE) */
        rc = -ENOENT;
        goto out;
    }
    if (in->a.nlink >= META_LINK_MAX) {
        rc = -EMLINK;
        goto out;
    }
    rc = dir_load(m, newparent, &dir);
    if (rc < 0)
        goto out;
    rc = dentry_get(m, newparent, newname, (size_t)nlen, &d);
    if (rc == 0) {
        rc = -EEXIST;
        goto out;
    }
    if (rc != -ENOENT)
        goto out;
    meta_now(&now);
    in->a.nlink++;
    in->a.ctime = now;
    meta_inode_store(m, in);
    dentry_put(m, newparent, newname, (size_t)nlen, ino, in->a.mode);
    touch_mc(&dir, &now);
    meta_inode_store(m, &dir);
    attr_out(in, out);
    rc = 0;
out:
    free(in);
    return meta_op_end(m, rc);
}

/* ---- removal ---------------------------------------------------------------------------- */

int meta_unlink(struct meta *m, uint64_t parent, const char *name, struct meta_freed *freed)
{
    struct meta_inode *in = NULL, dir;
    struct meta_dentry d;
    struct timespec now;
    int nlen, rc;

    rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    nlen = name_check(name);
    if (nlen < 0) {
        rc = nlen == -EINVAL && name && name[0] && !strchr(name, '/') ? -EISDIR : nlen;
        goto out;
    }
    rc = dir_load(m, parent, &dir);
    if (rc < 0)
        goto out;
    rc = dentry_get(m, parent, name, (size_t)nlen, &d);
    if (rc < 0)
        goto out;
    if (d.type == mode_type(S_IFDIR)) {
        rc = -EISDIR;
        goto out;
    }
    in = malloc(sizeof(*in));
    if (!in) {
        rc = -ENOMEM;
        goto out;
    }
    rc = meta_inode_load(m, d.ino, in);
    if (rc == -ENOENT)
        rc = META_CORRUPT(m, "dentry points to a missing inode");
    if (rc < 0)
        goto out;
    meta_now(&now);
    dentry_del(m, parent, name, (size_t)nlen);
    rc = link_drop(m, in, &now, freed, parent, name, (size_t)nlen);
    if (rc < 0)
        goto out;
    touch_mc(&dir, &now);
    meta_inode_store(m, &dir);
out:
    free(in);
    return meta_op_end(m, rc);
}

/* 1 if directory ino has no entry, 0 if it has, or an error. */
static int dir_empty(struct meta *m, uint64_t ino)
{
    struct meta_key k;
    int rc;
    meta_key_ino(&k, META_K_DENTRY, ino);
    rc = range_nonempty(m, k.b, k.len);
    return rc < 0 ? rc : !rc;
}

int meta_rmdir(struct meta *m, uint64_t parent, const char *name)
{
    struct meta_inode in, dir;
    struct meta_dentry d;
    struct timespec now;
    int nlen, rc;

    rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    nlen = name_check(name);
    if (nlen < 0) {
        if (nlen == -EINVAL && name && strcmp(name, "..") == 0)
            rc = -ENOTEMPTY;
        else
            rc = nlen;
        goto out;
    }
    rc = dir_load(m, parent, &dir);
    if (rc < 0)
        goto out;
    rc = dentry_get(m, parent, name, (size_t)nlen, &d);
    if (rc < 0)
        goto out;
    if (d.type != mode_type(S_IFDIR)) {
        rc = -ENOTDIR;
        goto out;
    }
    rc = meta_inode_load(m, d.ino, &in);
    if (rc == -ENOENT)
        rc = META_CORRUPT(m, "dentry points to a missing inode");
    if (rc < 0)
        goto out;
    if (d.ino == META_ROOT_INO) {
        rc = -EBUSY;
        goto out;
    }
    rc = dir_empty(m, d.ino);
    if (rc < 0)
        goto out;
    if (!rc) {
        rc = -ENOTEMPTY;
        goto out;
    }
    meta_now(&now);
    dentry_del(m, parent, name, (size_t)nlen);
    uint32_t secs = 0;
    rc = meta_quota_charge(m, parent, 0, -1);
    if (rc == 0)
        rc = meta_trashtime_get(m, d.ino, parent, &secs, NULL);
    if (rc == 0)
        rc = secs > 0 ? meta_trash_put(m, &in, parent, name, (size_t)nlen, &now, secs)
                      : inode_free(m, &in, NULL);
    if (rc < 0)
        goto out;
    if (dir.a.nlink > 2)
        dir.a.nlink--;
    touch_mc(&dir, &now);
    meta_inode_store(m, &dir);
out:
    return meta_op_end(m, rc);
}

/* ---- rename ------------------------------------------------------------------------------- */

/* -EINVAL if directory `dir` is `anc` or lies below it (walks '..' to the root). */
static int check_not_under(struct meta *m, uint64_t dir, uint64_t anc)
{
    struct meta_inode in;
    uint64_t cur = dir;
    for (uint64_t steps = 0;; steps++) {
        int rc;
        if (cur == anc)
            return -EINVAL;
        if (cur == META_ROOT_INO)
            return 0;
        if (steps > m->sb.inodes) /* a parent cycle: corrupt */
            return META_CORRUPT(m, "directory parent chain has a cycle");
        rc = meta_inode_load(m, cur, &in);
        if (rc == -ENOENT)
            return META_CORRUPT(m, "directory parent chain reaches a missing inode");
        if (rc < 0)
            return rc;
        cur = in.a.parent;
    }
}

int meta_rename(struct meta *m, uint64_t oldparent, const char *oldname, uint64_t newparent,
                const char *newname, uint32_t flags, struct meta_freed *freed)
{
    struct meta_inode *src = NULL, *dst = NULL, odir, ndir;
    struct meta_dentry sd, dd;
    struct timespec now;
    int olen, nlen, rc, have_dst;
    bool same_dir = oldparent == newparent;

    rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    if (flags & ~META_RENAME_NOREPLACE) {
        rc = -EINVAL;
        goto out;
    }
    olen = name_check(oldname);
    nlen = name_check(newname);
    if (olen < 0 || nlen < 0) {
        rc = olen == -ENAMETOOLONG || nlen == -ENAMETOOLONG ? -ENAMETOOLONG : -EINVAL;
        goto out;
    }
    src = malloc(sizeof(*src));
    dst = malloc(sizeof(*dst));
    if (!src || !dst) {
        rc = -ENOMEM;
        goto out;
    }
    rc = dir_load(m, oldparent, &odir);
    if (rc < 0)
        goto out;
    rc = dir_load(m, newparent, &ndir);
    if (rc < 0)
        goto out;
    rc = dentry_get(m, oldparent, oldname, (size_t)olen, &sd);
    if (rc < 0)
        goto out;
    rc = meta_inode_load(m, sd.ino, src);
    if (rc == -ENOENT)
        rc = META_CORRUPT(m, "dentry points to a missing inode");
    if (rc < 0)
        goto out;
    rc = dentry_get(m, newparent, newname, (size_t)nlen, &dd);
    if (rc < 0 && rc != -ENOENT)
        goto out;
    have_dst = rc == 0;
    rc = 0;
    if (have_dst && (flags & META_RENAME_NOREPLACE)) {
        rc = -EEXIST;
        goto out;
    }
    if (have_dst && dd.ino == sd.ino) /* same inode (or same entry): POSIX says do nothing */
        goto out;
    if (is_dir(src)) {
        rc = check_not_under(m, newparent, sd.ino);
        if (rc < 0)
            goto out;
    }
    if (have_dst) {
        rc = meta_inode_load(m, dd.ino, dst);
        if (rc == -ENOENT)
            rc = META_CORRUPT(m, "dentry points to a missing inode");
        if (rc < 0)
            goto out;
        if (is_dir(src) && !is_dir(dst)) {
            rc = -ENOTDIR;
            goto out;
        }
        if (!is_dir(src) && is_dir(dst)) {
            rc = -EISDIR;
            goto out;
        }
        if (is_dir(dst)) {
            rc = dir_empty(m, dd.ino);
            if (rc < 0)
                goto out;
            if (!rc) {
                rc = -ENOTEMPTY;
                goto out;
            }
        }
    }
    meta_now(&now);
    /* Drop the target. */
    if (have_dst) {
        if (is_dir(dst)) {
            rc = inode_free(m, dst, NULL);
            if (rc < 0)
                goto out;
            ndir.a.nlink--; /* the target's '..' */
        } else {
            rc = link_drop(m, dst, &now, freed, newparent, newname, (size_t)nlen);
            if (rc < 0)
                goto out;
        }
    }
    if (!same_dir && (is_dir(src) || src->a.parent == oldparent)) {
        /* the moved file or tree changes quota domain (quota.c) */
        rc = meta_quota_move(m, sd.ino, oldparent, newparent,
                             S_ISREG(src->a.mode) ? src->a.size : 0, is_dir(src));
        if (rc < 0)
            goto out;
        if (!is_dir(src))
            src->a.parent = newparent;
    }
    dentry_del(m, oldparent, oldname, (size_t)olen);
    dentry_put(m, newparent, newname, (size_t)nlen, sd.ino, src->a.mode);
    src->a.ctime = now;
    if (is_dir(src) && !same_dir) {
        src->a.parent = newparent;
        odir.a.nlink--;
        ndir.a.nlink++;
    }
    meta_inode_store(m, src);
    touch_mc(&ndir, &now);
    if (same_dir) {
        /* odir and ndir are one inode: ndir holds every change */
        if (is_dir(src) && have_dst && ndir.a.nlink < 2)
            ndir.a.nlink = 2;
        meta_inode_store(m, &ndir);
    } else {
        touch_mc(&odir, &now);
        meta_inode_store(m, &odir);
        meta_inode_store(m, &ndir);
    }
    rc = 0;
out:
    free(src);
    free(dst);
    return meta_op_end(m, rc);
}

/* ---- setattr ------------------------------------------------------------------------------- */

int meta_setattr(struct meta *m, uint64_t ino, const struct meta_setattr *sa, struct meta_attr *out,
                 struct meta_freed *freed)
{
    struct meta_inode *in = NULL;
    struct timespec now;
    int rc;

    rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    in = malloc(sizeof(*in));
    if (!in) {
        rc = -ENOMEM;
        goto out;
    }
    rc = meta_inode_load(m, ino, in);
    if (rc < 0)
        goto out;
    meta_now(&now);
    if (sa->valid & META_SET_SIZE) {
        uint64_t old = in->a.size, nsz = sa->size;
        if (is_dir(in)) {
            rc = -EISDIR;
            goto out;
        }
        if (!S_ISREG(in->a.mode)) {
            rc = -EINVAL;
            goto out;
        }
        if (nsz > INT64_MAX) {
            rc = -EFBIG;
            goto out;
        }
        if (nsz < old) {
            uint64_t first_drop = (nsz + META_CHUNK_SIZE - 1) / META_CHUNK_SIZE;
            if (first_drop <= UINT32_MAX) {
                rc = meta_chunks_drop_from(m, ino, (uint32_t)first_drop, freed);
                if (rc < 0)
                    goto out;
            }
            if (nsz % META_CHUNK_SIZE && nsz / META_CHUNK_SIZE <= UINT32_MAX) {
                rc = meta_chunk_cut(m, ino, (uint32_t)(nsz / META_CHUNK_SIZE),
                                    nsz % META_CHUNK_SIZE);
                if (rc < 0)
                    goto out;
            }
            m->sb.used_bytes -= old - nsz <= m->sb.used_bytes ? old - nsz : m->sb.used_bytes;
        } else {
            rc = meta_quota_check(m, in->a.parent, nsz - old, 0);
            if (rc < 0)
                goto out;
            m->sb.used_bytes += nsz - old;
        }
        rc = meta_quota_charge(m, in->a.parent, (int64_t)nsz - (int64_t)old, 0);
        if (rc < 0)
            goto out;
        in->a.size = nsz;
        in->a.mtime = now;
    }
    if (sa->valid & META_SET_MODE)
        in->a.mode = (in->a.mode & S_IFMT) | (sa->mode & 07777);
    if (sa->valid & META_SET_UID)
        in->a.uid = sa->uid;
    if (sa->valid & META_SET_GID)
        in->a.gid = sa->gid;
    if (sa->valid & META_SET_ATIME_NOW)
        in->a.atime = now;
    else if (sa->valid & META_SET_ATIME)
        in->a.atime = sa->atime;
    if (sa->valid & META_SET_MTIME_NOW)
        in->a.mtime = now;
    else if (sa->valid & META_SET_MTIME)
        in->a.mtime = sa->mtime;
    if ((in->a.atime.tv_nsec < 0 || in->a.atime.tv_nsec >= 1000000000L) ||
        (in->a.mtime.tv_nsec < 0 || in->a.mtime.tv_nsec >= 1000000000L)) {
        rc = -EINVAL;
        goto out;
    }
    in->a.ctime = now;
    if (sa->valid & META_SET_CTIME) {
        if (sa->ctime.tv_nsec < 0 || sa->ctime.tv_nsec >= 1000000000L) {
            rc = -EINVAL;
            goto out;
        }
        in->a.ctime = sa->ctime;
    }
    meta_inode_store(m, in);
    attr_out(in, out);
    rc = 0;
out:
    free(in);
    return meta_op_end(m, rc);
}

/* ---- xattrs --------------------------------------------------------------------------------- */

static int xname_check(const char *name)
{
    size_t n = name ? strnlen(name, META_XATTR_NAME_MAX + 1) : 0;
    if (n == 0 || n > META_XATTR_NAME_MAX)
        return -ERANGE;
    return (int)n;
}

/* Bytes listxattr would return for ino (names + NULs), or an error. */
static int xattr_list_len(struct meta *m, uint64_t ino, char *buf, size_t size)
{
    struct meta_key k;
    rocksdb_iterator_t *it;
    size_t total = 0;
    int rc = 0;
    meta_key_ino(&k, META_K_XATTR, ino);
    it = meta_iter_open(m, k.b, k.len);
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *key = rocksdb_iter_key(it, &klen);
        size_t nl;
        if (klen < k.len || memcmp(key, k.b, k.len) != 0)
            break;
        nl = klen - k.len;
        if (nl == 0 || nl > META_XATTR_NAME_MAX) {
            rc = META_CORRUPT(m, "xattr key: name empty or too long");
            break;
        }
        if (buf && size) {
            if (total + nl + 1 > size) {
                rc = -ERANGE;
                break;
            }
            memcpy(buf + total, key + k.len, nl);
            buf[total + nl] = '\0';
        }
        total += nl + 1;
    }
    rocksdb_iter_destroy(it);
    if (rc == 0 && total > INT32_MAX)
        rc = -E2BIG;
    return rc < 0 ? rc : (int)total;
}

int meta_xattr_set(struct meta *m, uint64_t ino, const char *name, const void *value, size_t len,
                   int flags)
{
    struct meta_inode *in = NULL;
    struct meta_key k;
    char *old = NULL;
    size_t olen;
    uint8_t *buf = NULL;
    int nlen, rc;

    rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    nlen = xname_check(name);
    if (nlen < 0) {
        rc = nlen;
        goto out;
    }
    if (len > META_XATTR_SIZE_MAX) {
        rc = -E2BIG;
        goto out;
    }
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE) ||
        (flags & (XATTR_CREATE | XATTR_REPLACE)) == (XATTR_CREATE | XATTR_REPLACE)) {
        rc = -EINVAL;
        goto out;
    }
    in = malloc(sizeof(*in));
    buf = malloc(len + 1);
    if (!in || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    rc = meta_inode_load(m, ino, in);
    if (rc < 0)
        goto out;
    meta_key_name(&k, META_K_XATTR, ino, name, (size_t)nlen);
    rc = meta_kv_get(m, &k, &old, &olen);
    if (rc < 0 && rc != -ENOENT)
        goto out;
    if (rc == 0 && (flags & XATTR_CREATE)) {
        rc = -EEXIST;
        goto out;
    }
    if (rc == -ENOENT) {
        if (flags & XATTR_REPLACE) {
            rc = -ENODATA;
            goto out;
        }
        rc = xattr_list_len(m, ino, NULL, 0);
        if (rc < 0)
            goto out;
        if ((size_t)rc + (size_t)nlen + 1 > META_XATTR_LIST_MAX) {
            rc = -ENOSPC;
            goto out;
        }
    }
    buf[0] = META_REC_V1;
    if (len)
        memcpy(buf + 1, value, len);
    meta_kv_put(m, &k, buf, len + 1);
    meta_now(&in->a.ctime);
    meta_inode_store(m, in);
    rc = 0;
out:
    rocksdb_free(old);
    free(buf);
    free(in);
    return meta_op_end(m, rc);
}

int meta_xattr_get(struct meta *m, uint64_t ino, const char *name, void *buf, size_t size)
{
    struct meta_inode in;
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int nlen = xname_check(name), rc;
    if (nlen < 0)
        return nlen;
    rc = meta_inode_load(m, ino, &in);
    if (rc < 0)
        return rc;
    meta_key_name(&k, META_K_XATTR, ino, name, (size_t)nlen);
    rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc == -ENOENT)
        return -ENODATA;
    if (rc < 0)
        return rc;
    if (vlen < 1 || (uint8_t)v[0] != META_REC_V1 || vlen - 1 > META_XATTR_SIZE_MAX) {
        rc = META_CORRUPT(m, "xattr record: bad record version or length");
        goto out;
    }
    rc = (int)(vlen - 1);
    if (size == 0)
        goto out;
    if (size < vlen - 1) {
        rc = -ERANGE;
        goto out;
    }
    memcpy(buf, v + 1, vlen - 1);
out:
    rocksdb_free(v);
    return rc;
}

int meta_xattr_list(struct meta *m, uint64_t ino, char *buf, size_t size)
{
    struct meta_inode in;
    int rc = meta_inode_load(m, ino, &in);
    if (rc < 0)
        return rc;
    return xattr_list_len(m, ino, size ? buf : NULL, size);
}

int meta_xattr_remove(struct meta *m, uint64_t ino, const char *name)
{
    struct meta_inode in;
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int nlen, rc;

    rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    nlen = xname_check(name);
    if (nlen < 0) {
        rc = nlen;
        goto out;
    }
    rc = meta_inode_load(m, ino, &in);
    if (rc < 0)
        goto out;
    meta_key_name(&k, META_K_XATTR, ino, name, (size_t)nlen);
    rc = meta_kv_get(m, &k, &v, &vlen);
    rocksdb_free(v);
    if (rc == -ENOENT)
        rc = -ENODATA;
    if (rc < 0)
        goto out;
    meta_kv_del(m, &k);
    meta_now(&in.a.ctime);
    meta_inode_store(m, &in);
out:
    return meta_op_end(m, rc);
}

/* ---- orphans -------------------------------------------------------------------------------- */

static int orphan_free(struct meta *m, uint64_t ino, struct meta_freed *freed)
{
    struct meta_inode *in = malloc(sizeof(*in));
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int rc;
    if (!in)
        return -ENOMEM;
    meta_key_ino(&k, META_K_ORPHAN, ino);
    rc = meta_kv_get(m, &k, &v, &vlen);
    rocksdb_free(v);
    if (rc < 0)
        goto out;
    rc = meta_inode_load(m, ino, in);
    if (rc == -ENOENT) { /* a stale orphan key: drop it */
        meta_kv_del(m, &k);
        rc = 0;
        goto out;
    }
    if (rc < 0)
        goto out;
    if (in->a.nlink != 0) { /* relinked? cannot be: meta_link refuses nlink 0 */
        rc = META_CORRUPT(m, "orphan with links");
        goto out;
    }
    rc = inode_free(m, in, freed);
out:
    free(in);
    return rc;
}

int meta_orphan_release(struct meta *m, uint64_t ino, struct meta_freed *freed)
{
    int rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    return meta_op_end(m, orphan_free(m, ino, freed));
}

int meta_orphans_purge(struct meta *m, struct meta_freed *freed)
{
    uint8_t pfx = META_K_ORPHAN;
    rocksdb_iterator_t *it;
    uint64_t *inos = NULL;
    size_t n = 0, cap = 0;
    int rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    it = meta_iter_open(m, &pfx, 1);
    if (!it) {
        rc = -ENOMEM;
        goto out;
    }
    /* collect first: freeing while iterating the same batch would move the iterator */
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *key = rocksdb_iter_key(it, &klen);
        if (klen < 1 || (uint8_t)key[0] != pfx)
            break;
        if (klen != 9) {
            rc = META_CORRUPT(m, "orphan key: bad length");
            break;
        }
        if (n == cap) {
            uint64_t *p = realloc(inos, (cap ? cap * 2 : 16) * sizeof(*p));
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            inos = p;
            cap = cap ? cap * 2 : 16;
        }
        inos[n++] = meta_get_be64((const uint8_t *)key + 1);
    }
    rocksdb_iter_destroy(it);
    size_t freed_n = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (m->open_fn && m->open_fn(m->open_ctx, inos[i]))
            continue; /* claimed again by a client: stays until its last close */
        rc = orphan_free(m, inos[i], freed);
        freed_n++;
    }
    n = freed_n;
out:
    free(inos);
    rc = meta_op_end(m, rc);
    return rc < 0 ? rc : (int)n;
}
