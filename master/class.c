/*
 * class.c - storage classes in the metadata ('K' keys) and the class of
 * inodes and chunks (docs/master.md "Storage classes").
 *
 * A class record is 'K' id32 -> the encoding of common/cls.h. Classes are
 * few (at most CN_CLS_MAX_CLASSES), so listing and finding by name scan
 * the prefix. An inode carries its class id (0: the file system's default,
 * see below); a new inode gets its directory's (namespace.c) and a new
 * chunk its file's (chunks.c), so the health loop reads a chunk's class
 * without loading its inode. Setting a file's class rewrites the class id
 * of its chunks in the same turn.
 *
 * Decisions a reader must know:
 *  - Class id 0 is never stored: inodes from before classes, and the root
 *    of a new file system, are in the default class, which the master
 *    resolves through its GOAL (master/class_serv.c). With the default
 *    GOAL = 2 that is the built-in `2cp`.
 *  - Removing a class in use is refused; "in use" is found by a scan of
 *    the inodes (O(inodes), an operator's command, not a request path).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cls.h"
#include "meta_int.h"

static void class_key(struct meta_key *k, uint32_t id)
{
    k->b[0] = META_K_CLASS;
    meta_put_be32(k->b + 1, id);
    k->len = 5;
}

int meta_class_get(struct meta *m, uint32_t id, struct cn_cls *out)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    if (id == 0)
        return -ENOENT;
    class_key(&k, id);
    int rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = cn_cls_decode((const uint8_t *)v, vlen, out);
    rocksdb_free(v);
    if (rc < 0)
        return META_CORRUPT(m, "class record");
    out->id = id;
    return 0;
}

int meta_class_list(struct meta *m, int (*fn)(void *ctx, const struct cn_cls *c), void *ctx)
{
    uint8_t pfx = META_K_CLASS;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    struct cn_cls *c = malloc(sizeof(*c));
    int rc = 0;
    if (!it || !c) {
        if (it)
            rocksdb_iter_destroy(it);
        free(c);
        return -ENOMEM;
    }
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val = rocksdb_iter_value(it, &vlen);
        if (klen < 1 || (uint8_t)key[0] != META_K_CLASS)
            break;
        if (klen != 5 || cn_cls_decode((const uint8_t *)val, vlen, c) < 0) {
            rc = META_CORRUPT(m, "class record: bad key or value");
            break;
        }
        c->id = meta_get_be32((const uint8_t *)key + 1);
        if (c->id == 0) {
            rc = META_CORRUPT(m, "class record: id 0");
            break;
        }
        if (fn(ctx, c)) {
            rc = 1;
            break;
        }
    }
    if (rc == 0) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr)
            rc = meta_db_error(m, rerr, "classes");
    }
    rocksdb_iter_destroy(it);
    free(c);
    return rc;
}

struct find_ctx {
    const char *name;
    struct cn_cls *out;
    uint32_t max_id;
    size_t n;
};

static int find_fn(void *ctx, const struct cn_cls *c)
{
    struct find_ctx *f = ctx;
    f->n++;
    if (c->id > f->max_id)
        f->max_id = c->id;
    if (f->name && f->out && strcmp(c->name, f->name) == 0) {
        *f->out = *c;
        return 1;
    }
    return 0;
}

int meta_class_find(struct meta *m, const char *name, struct cn_cls *out)
{
    struct find_ctx f = {.name = name, .out = out};
    int rc = meta_class_list(m, find_fn, &f);
    return rc == 1 ? 0 : rc < 0 ? rc : -ENOENT;
}

static void class_store(struct meta *m, const struct cn_cls *c)
{
    uint8_t buf[CN_CLS_REC_MAX];
    struct meta_key k;
    class_key(&k, c->id);
    meta_kv_put(m, &k, buf, cn_cls_encode(c, buf));
}

int meta_class_put(struct meta *m, struct cn_cls *c)
{
    struct cn_cls *other = malloc(sizeof(*other));
    int rc = other ? meta_op_begin(m, NULL) : -ENOMEM;
    if (rc < 0) {
        free(other);
        return rc;
    }
    if (!cn_cls_name_ok(c->name) || c->st[CN_ST_CREATE].layout.kind == CN_LAYOUT_NONE) {
        rc = -EINVAL;
        goto out;
    }
    struct find_ctx f = {.name = c->name, .out = other};
    rc = meta_class_list(m, find_fn, &f);
    if (rc < 0)
        goto out;
    if (rc == 1 && other->id != c->id) {
        rc = -EEXIST;
        goto out;
    }
    if (c->id == 0) {
        if (f.n >= CN_CLS_MAX_CLASSES || f.max_id >= UINT32_MAX - 1) {
            rc = -ENOSPC;
            goto out;
        }
        /* ids are never reused while the highest exists: a stale id in a
         * report cannot name a newer class */
        c->id = f.max_id + 1;
    } else if (rc != 1) {
        struct cn_cls old;
        rc = meta_class_get(m, c->id, &old);
        if (rc < 0)
            goto out;
    }
    class_store(m, c);
    rc = 0;
out:
    free(other);
    return meta_op_end(m, rc);
}

/* 1 if some inode is in class id */
static int class_in_use(struct meta *m, uint32_t id, uint64_t *ino_out)
{
    uint8_t pfx = META_K_INODE;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    int rc = 0;
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vlen);
        if (klen < 1 || (uint8_t)key[0] != META_K_INODE)
            break;
        if (klen == 9 && vlen >= META_INODE_LEN && meta_get32(val + 20) == id) {
            *ino_out = meta_get_be64((const uint8_t *)key + 1);
            rc = 1;
            break;
        }
    }
    rocksdb_iter_destroy(it);
    return rc;
}

int meta_class_del(struct meta *m, uint32_t id, uint64_t *user)
{
    struct cn_cls c;
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    rc = meta_class_get(m, id, &c);
    if (rc == 0)
        rc = class_in_use(m, id, user);
    if (rc == 1)
        rc = -EBUSY;
    if (rc == 0) {
        struct meta_key k;
        class_key(&k, id);
        meta_kv_del(m, &k);
    }
    return meta_op_end(m, rc);
}

int meta_class_builtins(struct meta *m)
{
    struct cn_cls b[8];
    size_t n = cn_cls_builtins(b, 8);
    int added = 0;
    for (size_t i = 0; i < n; i++) {
        struct cn_cls have;
        int rc = meta_class_get(m, b[i].id, &have);
        if (rc == 0)
            continue;
        if (rc != -ENOENT)
            return rc;
        rc = meta_op_begin(m, NULL);
        if (rc < 0)
            return rc;
        class_store(m, &b[i]);
        rc = meta_op_end(m, 0);
        if (rc < 0)
            return rc;
        added++;
    }
    return added;
}

/* ---- the class of inodes and chunks ------------------------------------------------ */

/* Collected first, written after: the batch must not change under an
 * iterator that reads through it. */
struct idlist {
    uint64_t *v;
    uint32_t *type;
    size_t n, cap;
    int err;
};

static int idlist_add(struct idlist *l, uint64_t id, uint32_t type)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint64_t *v = realloc(l->v, cap * sizeof(*v));
        if (v)
            l->v = v;
        uint32_t *t = v ? realloc(l->type, cap * sizeof(*t)) : NULL;
        if (!t) {
            l->err = -ENOMEM;
            return 1;
        }
        l->type = t;
        l->cap = cap;
    }
    l->v[l->n] = id;
    l->type[l->n++] = type;
    return 0;
}

static void idlist_free(struct idlist *l)
{
    free(l->v);
    free(l->type);
}

static int chunk_id_fn(void *ctx, const struct meta_chunk *c)
{
    return idlist_add(ctx, c->id, 0);
}

static int set_one(struct meta *m, struct meta_inode *in, uint32_t id,
                   struct meta_class_set_stats *st)
{
    if (in->class_id != id) {
        in->class_id = id;
        meta_inode_store(m, in);
    }
    st->inodes++;
    if (!S_ISREG(in->a.mode))
        return 0;
    struct idlist l = {0};
    int rc = meta_file_chunks(m, in->a.ino, chunk_id_fn, &l);
    if (rc == 1)
        rc = l.err;
    for (size_t i = 0; i < l.n && rc >= 0; i++) {
        struct meta_chunk c;
        rc = meta_chunk_get(m, l.v[i], &c);
        if (rc == 0 && c.class_id != id) {
            uint8_t buf[META_CHUNK_LEN];
            struct meta_key k;
            c.class_id = id;
            meta_key_ino(&k, META_K_CHUNK, c.id);
            meta_kv_put(m, &k, buf, meta_chunk_encode(&c, buf));
            st->chunks++;
        }
    }
    idlist_free(&l);
    return rc < 0 ? rc : 0;
}

static int entry_fn(void *ctx, const char *name, size_t namelen, uint64_t ino, uint32_t type)
{
    (void)name;
    (void)namelen;
    return idlist_add(ctx, ino, type);
}

int meta_class_set(struct meta *m, uint64_t ino, uint32_t id, int recursive,
                   struct meta_class_set_stats *st)
{
    struct meta_inode *in = malloc(sizeof(*in));
    struct idlist dirs = {0};
    int rc = in ? meta_op_begin(m, NULL) : -ENOMEM;
    if (rc < 0) {
        free(in);
        return rc;
    }
    memset(st, 0, sizeof(*st));
    if (id != 0) {
        struct cn_cls c;
        rc = meta_class_get(m, id, &c);
        if (rc < 0)
            goto out;
    }
    rc = meta_inode_load(m, ino, in);
    if (rc < 0)
        goto out;
    rc = set_one(m, in, id, st);
    if (rc < 0 || !recursive || !S_ISDIR(in->a.mode))
        goto out;
    /* breadth first: each directory's entries are read, then changed */
    if (idlist_add(&dirs, ino, S_IFDIR)) {
        rc = dirs.err;
        goto out;
    }
    for (size_t i = 0; i < dirs.n && rc == 0; i++) {
        struct idlist ents = {0};
        rc = meta_readdir(m, dirs.v[i], NULL, entry_fn, &ents);
        if (rc == 1)
            rc = ents.err;
        for (size_t j = 0; j < ents.n && rc == 0; j++) {
            if ((ents.type[j] & S_IFMT) == S_IFDIR && idlist_add(&dirs, ents.v[j], S_IFDIR)) {
                rc = dirs.err;
                break;
            }
            rc = meta_inode_load(m, ents.v[j], in);
            if (rc == 0)
                rc = set_one(m, in, id, st);
        }
        idlist_free(&ents);
    }
out:
    idlist_free(&dirs);
    free(in);
    return meta_op_end(m, rc < 0 ? rc : 0);
}

int meta_class_of(struct meta *m, uint64_t ino, uint32_t *id)
{
    struct meta_inode *in = malloc(sizeof(*in));
    int rc = in ? meta_inode_load(m, ino, in) : -ENOMEM;
    if (rc == 0)
        *id = in->class_id;
    free(in);
    return rc;
}

int meta_chunk_layout_set(struct meta *m, uint64_t chunk_id, const uint8_t layout[3])
{
    struct meta_chunk c;
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    rc = meta_chunk_get(m, chunk_id, &c);
    if (rc == 0) {
        uint8_t buf[META_CHUNK_LEN];
        struct meta_key k;
        memcpy(c.layout, layout, 3);
        meta_key_ino(&k, META_K_CHUNK, c.id);
        meta_kv_put(m, &k, buf, meta_chunk_encode(&c, buf));
    }
    return meta_op_end(m, rc);
}
