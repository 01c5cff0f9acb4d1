/*
 * trash.c - deleted files wait in the trash for their trashtime
 * (docs/master.md, "Trash"; keys in docs/format.md).
 *
 * When the last name of a file, symlink or directory goes away (unlink,
 * rmdir, rename over it) and its trashtime is not 0, the inode stays with
 * nlink 0 and its data, and a trash record ('T' ino) remembers where it was:
 * the directory and the name. A directory goes to the trash too, so the
 * path of a file deleted by `rm -rf` is rebuilt from the records of the
 * directories above it, and restoring the file brings them back with their
 * own modes and times. An expiry index ('U' expires ino) lets the master
 * free what expired without scanning the trash.
 *
 * Trashtime: an explicit value ('Y' ino) on the file or on the nearest
 * directory above it, else the daemon's default (TRASH_TIME). Setting it
 * on a directory therefore covers everything below it at once (`-r` also
 * writes it on every entry below).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta_int.h"

#define TRASH_REC_MIN 28u /* version, kind, deleted, expires, parent, name length */
#define PATH_DEPTH    4096

static void key_trash(struct meta_key *k, uint64_t ino)
{
    meta_key_ino(k, META_K_TRASH, ino);
}

static void key_queue(struct meta_key *k, uint64_t expires, uint64_t ino)
{
    k->b[0] = META_K_TRASHQ;
    meta_put_be64(k->b + 1, expires);
    meta_put_be64(k->b + 9, ino);
    k->len = 17;
}

void meta_set_trash_default(struct meta *m, uint32_t seconds)
{
    m->trash_default_s = seconds;
}

static int trashtime_own(struct meta *m, uint64_t ino, uint32_t *secs)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    meta_key_ino(&k, META_K_TRASHTIME, ino);
    int rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    const uint8_t *p = (const uint8_t *)v;
    int ok = vlen == 5 && p[0] == META_REC_V1;
    if (ok)
        *secs = meta_get32(p + 1);
    rocksdb_free(v);
    return ok ? 0 : META_CORRUPT(m, "trashtime record");
}

int meta_trashtime_get(struct meta *m, uint64_t ino, uint64_t parent, uint32_t *secs,
                       int *explicit_)
{
    int rc = trashtime_own(m, ino, secs);
    if (explicit_)
        *explicit_ = rc == 0;
    if (rc != -ENOENT)
        return rc;
    uint64_t cur = parent;
    for (int depth = 0; cur && depth < PATH_DEPTH; depth++) {
        rc = trashtime_own(m, cur, secs);
        if (rc != -ENOENT)
            return rc;
        if (cur == META_ROOT_INO)
            break;
        struct meta_inode *in = malloc(sizeof(*in));
        if (!in)
            return -ENOMEM;
        rc = meta_inode_load(m, cur, in);
        cur = rc == 0 && S_ISDIR(in->a.mode) ? in->a.parent : 0;
        free(in);
        if (rc < 0 && rc != -ENOENT)
            return rc;
    }
    *secs = m->trash_default_s;
    return 0;
}

int meta_trashtime_set(struct meta *m, uint64_t ino, int64_t secs)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    struct meta_attr a;
    rc = meta_getattr(m, ino, &a);
    if (rc == 0) {
        struct meta_key k;
        meta_key_ino(&k, META_K_TRASHTIME, ino);
        if (secs < 0) {
            meta_kv_del(m, &k);
        } else {
            uint8_t v[5] = {META_REC_V1};
            meta_put32(v + 1, (uint32_t)secs);
            meta_kv_put(m, &k, v, sizeof(v));
        }
    }
    return meta_op_end(m, rc);
}

/* ---- records ----------------------------------------------------------------------- */

static int rec_decode(struct meta *m, const uint8_t *v, size_t vlen, uint64_t ino,
                      struct meta_trash_item *it)
{
    if (vlen < TRASH_REC_MIN || v[0] != META_REC_V1 || v[1] < 1 || v[1] > 3)
        return META_CORRUPT(m, "trash record");
    uint16_t nlen = meta_get16(v + 26);
    if (nlen == 0 || nlen > META_NAME_MAX || vlen != TRASH_REC_MIN + nlen)
        return META_CORRUPT(m, "trash record: name");
    memset(it, 0, sizeof(*it));
    it->ino = ino;
    it->kind = v[1];
    it->deleted_s = meta_get64(v + 2);
    it->expires_s = meta_get64(v + 10);
    it->parent = meta_get64(v + 18);
    memcpy(it->name, v + TRASH_REC_MIN, nlen);
    it->name[nlen] = 0;
    return 0;
}

int meta_trash_get(struct meta *m, uint64_t ino, struct meta_trash_item *out)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    key_trash(&k, ino);
    int rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = rec_decode(m, (const uint8_t *)v, vlen, ino, out);
    rocksdb_free(v);
    if (rc == 0) {
        struct meta_attr a;
        if (meta_getattr(m, ino, &a) == 0)
            out->size = a.size;
    }
    return rc;
}

int meta_trash_put(struct meta *m, struct meta_inode *in, uint64_t parent, const char *name,
                   size_t nlen, const struct timespec *now, uint32_t secs)
{
    uint8_t v[TRASH_REC_MIN + META_NAME_MAX];
    uint64_t expires = (uint64_t)now->tv_sec + secs;
    v[0] = META_REC_V1;
    v[1] = S_ISDIR(in->a.mode) ? 2 : S_ISLNK(in->a.mode) ? 3 : 1;
    meta_put64(v + 2, (uint64_t)now->tv_sec);
    meta_put64(v + 10, expires);
    meta_put64(v + 18, parent);
    meta_put16(v + 26, (uint16_t)nlen);
    memcpy(v + TRASH_REC_MIN, name, nlen);
    in->a.nlink = 0;
    in->a.ctime = *now;
    meta_inode_store(m, in);
    struct meta_key k;
    key_trash(&k, in->a.ino);
    meta_kv_put(m, &k, v, TRASH_REC_MIN + nlen);
    uint8_t one = META_REC_V1;
    key_queue(&k, expires, in->a.ino);
    meta_kv_put(m, &k, &one, 1);
    return 0;
}

int meta_trash_list(struct meta *m, meta_trash_fn fn, void *ctx)
{
    uint8_t pfx = META_K_TRASH;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    int rc = 0;
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
        if (klen < 1 || k[0] != pfx)
            break;
        struct meta_trash_item item;
        if (klen != 9) {
            rc = META_CORRUPT(m, "trash key");
            break;
        }
        rc = rec_decode(m, v, vlen, meta_get_be64(k + 1), &item);
        if (rc < 0)
            break;
        struct meta_attr a;
        if (meta_getattr(m, item.ino, &a) == 0)
            item.size = a.size;
        rc = fn(ctx, &item);
        if (rc)
            break;
    }
    rocksdb_iter_destroy(it);
    return rc < 0 ? rc : 0;
}

int meta_trash_path(struct meta *m, const struct meta_trash_item *item, char *buf, size_t len)
{
    /* names from the item up through trashed directories, then the live
     * directory's own path */
    char *tmp = malloc(len);
    if (!tmp)
        return -ENOMEM;
    size_t at = len - 1;
    tmp[at] = 0;
    int rc = 0;
    struct meta_trash_item cur = *item;
    for (int depth = 0;; depth++) {
        size_t n = strlen(cur.name);
        if (depth > PATH_DEPTH || n + 1 > at) {
            rc = -ENAMETOOLONG;
            break;
        }
        at -= n;
        memcpy(tmp + at, cur.name, n);
        tmp[--at] = '/';
        struct meta_trash_item up;
        rc = meta_trash_get(m, cur.parent, &up);
        if (rc == -ENOENT) { /* a live directory (or gone) */
            char *head = malloc(len);
            if (!head) {
                rc = -ENOMEM;
                break;
            }
            rc = meta_ino_path(m, cur.parent, head, len);
            if (rc == 0) {
                size_t hn = strcmp(head, "/") == 0 ? 0 : strlen(head);
                if (hn + (len - 1 - at) + 1 > len)
                    rc = -ENAMETOOLONG;
                else
                    snprintf(buf, len, "%.*s%s", (int)hn, head, tmp + at);
            } else if (rc == -ENOENT) {
                snprintf(buf, len, "?%s", tmp + at); /* the directory is gone */
                rc = 0;
            }
            free(head);
            break;
        }
        if (rc < 0)
            break;
        cur = up;
    }
    free(tmp);
    return rc;
}

static void unqueue(struct meta *m, const struct meta_trash_item *it)
{
    struct meta_key k;
    key_trash(&k, it->ino);
    meta_kv_del(m, &k);
    key_queue(&k, it->expires_s, it->ino);
    meta_kv_del(m, &k);
}

static int restore_one(struct meta *m, uint64_t ino, uint64_t to, int depth)
{
    struct meta_trash_item it;
    int rc = meta_trash_get(m, ino, &it);
    if (rc < 0)
        return rc;
    uint64_t parent = to ? to : it.parent;
    if (!to) {
        struct meta_trash_item up;
        rc = meta_trash_get(m, parent, &up);
        if (rc == 0) { /* its directory is in the trash too: that first */
            if (depth > PATH_DEPTH)
                return -ELOOP;
            rc = restore_one(m, parent, 0, depth + 1);
            if (rc < 0 && rc != -EEXIST)
                return rc;
        } else if (rc != -ENOENT) {
            return rc;
        }
    }
    struct meta_inode dir, *in = malloc(sizeof(*in));
    if (!in)
        return -ENOMEM;
    rc = meta_inode_load(m, parent, &dir);
    if (rc == 0 && (!S_ISDIR(dir.a.mode) || dir.a.nlink == 0))
        rc = !S_ISDIR(dir.a.mode) ? -ENOTDIR : -ENOENT;
    if (rc == 0)
        rc = meta_inode_load(m, ino, in);
    struct meta_dentry d;
    size_t nlen = strlen(it.name);
    if (rc == 0) {
        rc = meta_ns_dentry_get(m, parent, it.name, nlen, &d);
        rc = rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
    }
    if (rc == 0) {
        struct timespec now;
        meta_now(&now);
        unqueue(m, &it);
        if (S_ISDIR(in->a.mode)) {
            in->a.nlink = 2;
            in->a.parent = parent;
            dir.a.nlink++;
        } else {
            in->a.nlink = 1;
        }
        in->a.ctime = now;
        if (!S_ISDIR(in->a.mode))
            in->a.parent = parent;
        meta_inode_store(m, in);
        meta_ns_dentry_put(m, parent, it.name, nlen, ino, in->a.mode);
        rc = meta_quota_charge(m, parent, S_ISREG(in->a.mode) ? (int64_t)in->a.size : 0, 1);
        dir.a.mtime = dir.a.ctime = now;
        meta_inode_store(m, &dir);
    }
    free(in);
    return rc;
}

int meta_trash_restore(struct meta *m, uint64_t ino, uint64_t to)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    return meta_op_end(m, restore_one(m, ino, to, 0));
}

static int purge_one(struct meta *m, uint64_t ino, struct meta_freed *freed)
{
    struct meta_trash_item it;
    int rc = meta_trash_get(m, ino, &it);
    if (rc < 0)
        return rc;
    unqueue(m, &it);
    struct meta_inode *in = malloc(sizeof(*in));
    if (!in)
        return -ENOMEM;
    rc = meta_inode_load(m, ino, in);
    if (rc == 0)
        rc = meta_ns_inode_release(m, in, freed);
    else if (rc == -ENOENT)
        rc = 0;
    free(in);
    return rc;
}

int meta_trash_purge(struct meta *m, uint64_t ino, struct meta_freed *freed)
{
    int rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    return meta_op_end(m, purge_one(m, ino, freed));
}

int meta_trash_expire(struct meta *m, uint64_t now_s, size_t max, struct meta_freed *freed)
{
    uint8_t pfx = META_K_TRASHQ;
    struct meta_key *keys = malloc(max * sizeof(*keys));
    size_t n = 0;
    if (!keys)
        return -ENOMEM;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    if (!it) {
        free(keys);
        return -ENOMEM;
    }
    for (; n < max && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        if (klen != 17 || k[0] != pfx || meta_get_be64(k + 1) > now_s)
            break;
        memcpy(keys[n].b, k, klen);
        keys[n++].len = klen;
    }
    rocksdb_iter_destroy(it);
    int rc = meta_op_begin(m, freed);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = purge_one(m, meta_get_be64(keys[i].b + 9), freed);
        if (rc == -ENOENT) { /* an index entry without its record: drop it */
            meta_kv_del(m, &keys[i]);
            rc = 0;
        }
    }
    free(keys);
    rc = meta_op_end(m, rc);
    return rc < 0 ? rc : (int)n;
}
