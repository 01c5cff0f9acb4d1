/*
 * marks.c - metadata records that are not the namespace: the operator's
 * removal marks ('M' keys) and the reverse lookup of a file's path (for
 * reports of lost chunks).
 *
 * A mark key is 'M' + server name + NUL + disk uuid (16 bytes), or 'M' +
 * server name + NUL alone for a whole server; the value is one byte, the
 * record version. Marks are written inside the turn like every mutation,
 * so they are as durable as the namespace (docs/format.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "meta_int.h"

#define MARK_NAME_MAX 200

static int mark_key(struct meta_key *k, const char *server, const uint8_t *uuid)
{
    size_t n = strlen(server);
    if (n == 0 || n > MARK_NAME_MAX || memchr(server, '\0', n))
        return -EINVAL;
    k->b[0] = META_K_MARK;
    memcpy(k->b + 1, server, n);
    k->b[1 + n] = 0;
    k->len = 2 + n;
    if (uuid) {
        memcpy(k->b + k->len, uuid, 16);
        k->len += 16;
    }
    return 0;
}

int meta_mark_put(struct meta *m, const char *server, const uint8_t *uuid, int on)
{
    struct meta_key k;
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    rc = mark_key(&k, server, uuid);
    if (rc == 0) {
        uint8_t v = META_REC_V1;
        if (on)
            meta_kv_put(m, &k, &v, 1);
        else
            meta_kv_del(m, &k);
    }
    return meta_op_end(m, rc);
}

int meta_marks_iter(struct meta *m, meta_mark_fn fn, void *ctx)
{
    uint8_t pfx = META_K_MARK;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    int rc = 0;
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val = rocksdb_iter_value(it, &vlen);
        char name[MARK_NAME_MAX + 1];
        if (klen < 1 || (uint8_t)key[0] != META_K_MARK)
            break;
        const char *nul = klen > 1 ? memchr(key + 1, '\0', klen - 1) : NULL;
        size_t n = nul ? (size_t)(nul - key - 1) : 0;
        size_t rest = nul ? klen - 2 - n : 0;
        if (!nul || n == 0 || n > MARK_NAME_MAX || (rest != 0 && rest != 16) || vlen != 1 ||
            (uint8_t)val[0] != META_REC_V1) {
            rc = META_CORRUPT(m, "removal mark record: bad key or value");
            break;
        }
        memcpy(name, key + 1, n);
        name[n] = 0;
        if (fn(ctx, name, rest ? (const uint8_t *)key + 2 + n : NULL)) {
            rc = 1;
            break;
        }
    }
    if (rc == 0) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr)
            rc = meta_db_error(m, rerr, "removal marks");
    }
    rocksdb_iter_destroy(it);
    return rc;
}

/* The dentry naming `ino`: its parent and name. A directory knows its
 * parent, so only that directory's entries are scanned; anything else costs
 * a full scan of the dentries: for reports, never for the request path. */
static int find_dentry(struct meta *m, uint64_t ino, uint64_t *parent, char *name, size_t namelen)
{
    uint8_t pfx = META_K_DENTRY, seek[9] = {META_K_DENTRY};
    size_t seeklen = 1;
    struct meta_inode *in = malloc(sizeof(*in));
    if (in && meta_inode_load(m, ino, in) == 0 && S_ISDIR(in->a.mode) && in->a.parent) {
        meta_put_be64(seek + 1, in->a.parent);
        seeklen = 9;
    }
    free(in);
    rocksdb_iterator_t *it = meta_iter_open(m, seek, seeklen);
    int rc = -ENOENT;
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val = rocksdb_iter_value(it, &vlen);
        struct meta_dentry d;
        if (klen < 1 || (uint8_t)key[0] != pfx || (seeklen == 9 && memcmp(key, seek, 9) != 0))
            break;
        if (klen <= 9 || klen > 9 + META_NAME_MAX) {
            rc = META_CORRUPT(m, "dentry key: name empty or too long");
            break;
        }
        if (meta_dentry_decode(m, (const uint8_t *)val, vlen, &d) < 0) {
            rc = META_ECORRUPT;
            break;
        }
        if (d.ino != ino)
            continue;
        *parent = meta_get_be64((const uint8_t *)key + 1);
        size_t n = klen - 9 < namelen - 1 ? klen - 9 : namelen - 1;
        memcpy(name, key + 9, n);
        name[n] = 0;
        rc = 0;
        break;
    }
    rocksdb_iter_destroy(it);
    return rc;
}

int meta_ino_path(struct meta *m, uint64_t ino, char *buf, size_t len)
{
    char name[META_NAME_MAX + 1];
    char *tmp;
    size_t used = 0;
    int rc = 0;
    if (len < 2)
        return -ENOBUFS;
    tmp = malloc(len);
    if (!tmp)
        return -ENOMEM;
    /* build from the leaf up, at the end of tmp */
    size_t at = len - 1;
    tmp[at] = 0;
    for (int depth = 0; ino != META_ROOT_INO; depth++) {
        uint64_t parent = 0;
        if (depth > 4096) {
            rc = META_CORRUPT(m, "directory loop while building a path");
            break;
        }
        rc = find_dentry(m, ino, &parent, name, sizeof(name));
        if (rc < 0)
            break;
        size_t n = strlen(name);
        if (n + 1 > at) {
            rc = -ENAMETOOLONG;
            break;
        }
        at -= n;
        memcpy(tmp + at, name, n);
        tmp[--at] = '/';
        used += n + 1;
        ino = parent;
    }
    if (rc == 0) {
        if (used == 0)
            snprintf(buf, len, "/");
        else
            memcpy(buf, tmp + at, used + 1);
    }
    free(tmp);
    return rc;
}
