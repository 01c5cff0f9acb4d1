/*
 * snapshot.c - snapshots that cost metadata only, and the copy-on-write of
 * shared chunks (docs/master.md, "Snapshots").
 *
 * `cairn snapshot SRC DST` copies the inodes, entries and xattrs of a file
 * or a tree; the copies' chunk maps name the same chunks. A chunk record
 * names one owner (ino, index); every other file position that names the
 * chunk has a reference key 'P' chunk ino index. A chunk is shared while it
 * has a 'P' key.
 *
 * The first write (or a truncate cutting into it) to a shared chunk gives
 * the writing file position a private chunk: a new record with the same
 * committed version and length (meta_chunk_unshare), and the chunkservers
 * holding the old chunk's parts duplicate them locally under the new id
 * (the daemon sends CS_CMD_DUP_PART after the commit; meta_cow_take lists
 * the pairs). No data goes through the client or the master. When the
 * owner's position lets go of a shared chunk (unlink, truncate, unshare),
 * the first 'P' reference becomes the owner.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta_int.h"

#define SNAP_DEPTH 4096

static void key_ref(struct meta_key *k, uint64_t chunk, uint64_t ino, uint32_t index)
{
    k->b[0] = META_K_CHUNKREF;
    meta_put_be64(k->b + 1, chunk);
    meta_put_be64(k->b + 9, ino);
    meta_put_be32(k->b + 17, index);
    k->len = 21;
}

/* The first reference of chunk: 0 with (ino, index), -ENOENT if none. */
static int first_ref(struct meta *m, uint64_t chunk, uint64_t *ino, uint32_t *index)
{
    uint8_t pfx[9] = {META_K_CHUNKREF};
    meta_put_be64(pfx + 1, chunk);
    rocksdb_iterator_t *it = meta_iter_open(m, pfx, sizeof(pfx));
    if (!it)
        return -ENOMEM;
    int rc = -ENOENT;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        if (klen == 21 && memcmp(k, pfx, sizeof(pfx)) == 0) {
            *ino = meta_get_be64(k + 9);
            *index = meta_get_be32(k + 17);
            rc = 0;
        }
    }
    rocksdb_iter_destroy(it);
    return rc;
}

int meta_chunk_shared(struct meta *m, uint64_t chunk)
{
    uint64_t ino;
    uint32_t index;
    int rc = first_ref(m, chunk, &ino, &index);
    return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

int meta_chunk_is_ref(struct meta *m, uint64_t chunk, uint64_t ino, uint32_t index)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    key_ref(&k, chunk, ino, index);
    int rc = meta_kv_get(m, &k, &v, &vlen);
    rocksdb_free(v);
    return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

int meta_chunk_ref_drop(struct meta *m, const struct meta_chunk *c, uint64_t ino, uint32_t index,
                        struct meta_freed *freed)
{
    struct meta_key k;
    if (c->ino != ino || c->index != index) { /* a reference, not the owner */
        key_ref(&k, c->id, ino, index);
        meta_kv_del(m, &k);
        return 0;
    }
    uint64_t nino;
    uint32_t nindex;
    int rc = first_ref(m, c->id, &nino, &nindex);
    if (rc == -ENOENT) { /* the last one: the chunk goes */
        meta_key_ino(&k, META_K_CHUNK, c->id);
        meta_kv_del(m, &k);
        if (m->sb.chunks > 0)
            m->sb.chunks--;
        return meta_freed_add(freed, c->id);
    }
    if (rc < 0)
        return rc;
    /* the first reference becomes the owner */
    key_ref(&k, c->id, nino, nindex);
    meta_kv_del(m, &k);
    struct meta_chunk nc = *c;
    nc.ino = nino;
    nc.index = nindex;
    uint8_t buf[META_CHUNK_LEN];
    meta_key_ino(&k, META_K_CHUNK, c->id);
    meta_kv_put(m, &k, buf, meta_chunk_encode(&nc, buf));
    return 0;
}

static int cow_add(struct meta *m, uint64_t from, uint64_t to, uint64_t version)
{
    if (m->ncow == m->capcow) {
        size_t n = m->capcow ? m->capcow * 2 : 16;
        struct meta_cow *p = realloc(m->cow, n * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->cow = p;
        m->capcow = n;
    }
    m->cow[m->ncow++] = (struct meta_cow){from, to, version};
    return 0;
}

size_t meta_cow_take(struct meta *m, struct meta_cow *out, size_t max)
{
    size_t n = m->ncow < max ? m->ncow : max;
    if (n == 0)
        return 0; /* m->cow may still be NULL */
    memcpy(out, m->cow, n * sizeof(*out));
    memmove(m->cow, m->cow + n, (m->ncow - n) * sizeof(*out));
    m->ncow -= n;
    return n;
}

int meta_chunk_unshare_in(struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk *c)
{
    int shared = meta_chunk_shared(m, c->id);
    if (shared <= 0)
        return shared;
    if (c->lease != META_LEASE_NONE)
        return -EBUSY; /* never: shared chunks get no lease */
    struct meta_chunk old = *c, nc = *c;
    nc.id = m->sb.next_chunk++;
    m->sb.chunks++;
    nc.ino = ino;
    nc.index = index;
    nc.version = nc.issued_version = nc.committed_version;
    uint8_t buf[META_CHUNK_LEN];
    struct meta_key k;
    meta_key_ino(&k, META_K_CHUNK, nc.id);
    meta_kv_put(m, &k, buf, meta_chunk_encode(&nc, buf));
    uint8_t v[META_FCHUNK_LEN];
    v[0] = META_REC_V1;
    meta_put64(v + 1, nc.id);
    meta_key_fchunk(&k, ino, index);
    meta_kv_put(m, &k, v, sizeof(v));
    int rc = meta_chunk_ref_drop(m, &old, ino, index, NULL);
    if (rc == 0 && nc.committed_version)
        rc = cow_add(m, old.id, nc.id, nc.committed_version);
    if (rc == 0)
        *c = nc;
    return rc < 0 ? rc : 1;
}

int meta_chunk_unshare(struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk *out)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    struct meta_chunk c;
    rc = meta_file_chunk_get(m, ino, index, &c);
    if (rc == 0)
        rc = meta_chunk_unshare_in(m, ino, index, &c);
    if (rc >= 0 && out)
        *out = c;
    return meta_op_end(m, rc);
}

/* ---- snapshot -------------------------------------------------------------------------- */

struct snap_job {
    uint64_t src, parent; /* copy src into directory parent under name */
    char name[META_NAME_MAX + 1];
};

struct snap {
    struct meta *m;
    struct snap_job *v;
    size_t n, cap;
    struct meta_snapshot_stats st;
    struct timespec now;
};

static int push(struct snap *s, uint64_t src, uint64_t parent, const char *name, size_t nlen)
{
    if (s->n == s->cap) {
        size_t n = s->cap ? s->cap * 2 : 64;
        struct snap_job *p = realloc(s->v, n * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->v = p;
        s->cap = n;
    }
    struct snap_job *j = &s->v[s->n++];
    j->src = src;
    j->parent = parent;
    memcpy(j->name, name, nlen);
    j->name[nlen] = 0;
    return 0;
}

/* Copies every key of a per-inode prefix ('X' xattrs, 'F' chunk map) of src
 * to dst; chunk map entries also get their reference key. */
static int copy_prefix(struct snap *s, char prefix, uint64_t src, uint64_t dst)
{
    struct meta *m = s->m;
    struct meta_key pfx;
    meta_key_ino(&pfx, prefix, src);
    rocksdb_iterator_t *it = meta_iter_open(m, pfx.b, pfx.len);
    if (!it)
        return -ENOMEM;
    struct {
        struct meta_key k;
        char *v;
        size_t vlen;
    } *kv = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    /* collect first: the batch must not change under its own iterator */
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen < pfx.len || memcmp(k, pfx.b, pfx.len) != 0)
            break;
        if (klen > META_KEY_MAX) {
            rc = META_CORRUPT(m, "key too long");
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            void *p = realloc(kv, cap * sizeof(*kv));
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            kv = p;
        }
        memcpy(kv[n].k.b, k, klen);
        kv[n].k.len = klen;
        kv[n].v = malloc(vlen ? vlen : 1);
        if (!kv[n].v) {
            rc = -ENOMEM;
            break;
        }
        memcpy(kv[n].v, v, vlen);
        kv[n].vlen = vlen;
        n++;
    }
    rocksdb_iter_destroy(it);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            struct meta_key nk = kv[i].k;
            meta_put_be64(nk.b + 1, dst);
            meta_kv_put(m, &nk, kv[i].v, kv[i].vlen);
            if (prefix == META_K_FCHUNK) {
                uint64_t chunk;
                if (kv[i].vlen != META_FCHUNK_LEN || (uint8_t)kv[i].v[0] != META_REC_V1) {
                    rc = META_CORRUPT(m, "file chunk record");
                } else {
                    chunk = meta_get64((const uint8_t *)kv[i].v + 1);
                    struct meta_key rk;
                    uint8_t one = META_REC_V1;
                    key_ref(&rk, chunk, dst, meta_get_be32(kv[i].k.b + 9));
                    meta_kv_put(m, &rk, &one, 1);
                    s->st.chunks_shared++;
                }
            }
        }
        free(kv[i].v);
    }
    free(kv);
    return rc;
}

static int leased_fn(void *ctx, const struct meta_chunk *c)
{
    (void)ctx;
    return c->lease != META_LEASE_NONE; /* stops the walk */
}

static int kid_fn(void *ctx, const char *name, size_t nlen, uint64_t ino, uint32_t type)
{
    struct snap *s = ctx;
    (void)type;
    /* the parent is patched in by the caller (the new directory) */
    return push(s, ino, 0, name, nlen) < 0;
}

static int copy_one(struct snap *s, const struct snap_job *j, uint64_t *new_ino)
{
    struct meta *m = s->m;
    struct meta_inode *in = malloc(sizeof(*in)), dir;
    if (!in)
        return -ENOMEM;
    int rc = meta_inode_load(m, j->src, in);
    if (rc == 0)
        rc = meta_inode_load(m, j->parent, &dir);
    if (rc == 0 && S_ISREG(in->a.mode)) {
        rc = meta_file_chunks(m, j->src, leased_fn, NULL);
        if (rc == 1)
            rc = -EBUSY; /* being written: a snapshot of it would change under it */
    }
    if (rc < 0)
        goto out;
    uint64_t src = in->a.ino;
    in->a.ino = m->sb.next_ino++;
    m->sb.inodes++;
    in->a.ctime = s->now;
    if (S_ISDIR(in->a.mode)) {
        in->a.nlink = 2;
        in->a.parent = j->parent;
        dir.a.nlink++;
        s->st.dirs++;
    } else {
        in->a.nlink = 1;
        in->a.parent = j->parent;
        s->st.files++;
        if (S_ISREG(in->a.mode)) {
            m->sb.used_bytes += in->a.size;
            s->st.bytes += in->a.size;
        }
    }
    meta_inode_store(m, in);
    meta_ns_dentry_put(m, j->parent, j->name, strlen(j->name), in->a.ino, in->a.mode);
    dir.a.mtime = dir.a.ctime = s->now;
    meta_inode_store(m, &dir);
    rc = copy_prefix(s, META_K_XATTR, src, in->a.ino);
    if (rc == 0 && S_ISREG(in->a.mode))
        rc = copy_prefix(s, META_K_FCHUNK, src, in->a.ino);
    *new_ino = in->a.ino;
    s->st.inodes++;
out:
    free(in);
    return rc;
}

int meta_snapshot(struct meta *m, uint64_t src, uint64_t dst_parent, const char *name,
                  struct meta_snapshot_stats *st)
{
    struct snap s = {.m = m};
    size_t nlen = name ? strnlen(name, META_NAME_MAX + 1) : 0;
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    meta_now(&s.now);
    if (nlen == 0 || nlen > META_NAME_MAX || memchr(name, '/', nlen) || !strcmp(name, ".") ||
        !strcmp(name, "..")) {
        rc = nlen > META_NAME_MAX ? -ENAMETOOLONG : -EINVAL;
        goto out;
    }
    struct meta_attr sa, da;
    rc = meta_getattr(m, src, &sa);
    if (rc == 0)
        rc = meta_getattr(m, dst_parent, &da);
    if (rc == 0 && !S_ISDIR(da.mode))
        rc = -ENOTDIR;
    struct meta_dentry d;
    if (rc == 0) {
        rc = meta_ns_dentry_get(m, dst_parent, name, nlen, &d);
        rc = rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
    }
    /* a tree into itself would never end */
    for (uint64_t cur = dst_parent, depth = 0; rc == 0 && S_ISDIR(sa.mode); depth++) {
        if (cur == src) {
            rc = -EINVAL;
            break;
        }
        if (cur == META_ROOT_INO || depth > SNAP_DEPTH)
            break;
        struct meta_attr ca;
        rc = meta_getattr(m, cur, &ca);
        cur = ca.parent;
    }
    if (rc == 0)
        rc = push(&s, src, dst_parent, name, nlen);
    /* depth first; a directory's children are pushed with it as their parent */
    while (rc == 0 && s.n > 0) {
        struct snap_job j = s.v[--s.n];
        uint64_t nino = 0;
        rc = copy_one(&s, &j, &nino);
        if (rc == 0) {
            struct meta_attr na;
            rc = meta_getattr(m, j.src, &na);
            if (rc == 0 && S_ISDIR(na.mode)) {
                size_t first = s.n;
                rc = meta_readdir(m, j.src, NULL, kid_fn, &s);
                rc = rc == 1 ? -ENOMEM : rc;
                for (size_t i = first; i < s.n; i++)
                    s.v[i].parent = nino;
            }
        }
    }
    if (rc == 0)
        rc = meta_quota_charge(m, dst_parent, (int64_t)s.st.bytes, (int64_t)s.st.inodes);
out:
    free(s.v);
    if (rc == 0 && st)
        *st = s.st;
    return meta_op_end(m, rc);
}
