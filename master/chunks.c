/*
 * chunks.c - each file's chunk map ('F' ino index -> chunk id) and the
 * chunk table ('C' id -> versions, committed length, write lease).
 *
 * Decisions a reader must know:
 * - Versions: `issued_version` only grows, so an abandoned write's version
 *   number is never handed out again (a chunkserver may still hold parts
 *   written under it). `committed_version` is what readers read; `version`
 *   equals it except while a lease is open, when it is the lease's version.
 *   Rolling a lease back sets `version` back to `committed_version`.
 * - A chunk belongs to exactly one (inode, index): no sharing between files,
 *   so dropping a file's map entries frees the chunks, and the ids go back
 *   to the caller to delete the parts once the turn is committed.
 * - Locations of parts are not here: chunkservers report them (soft state).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "meta_int.h"

static int chunk_load(struct meta *m, uint64_t id, struct meta_chunk *out)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int rc;
    meta_key_ino(&k, META_K_CHUNK, id);
    rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = meta_chunk_decode(m, (const uint8_t *)v, vlen, id, out);
    rocksdb_free(v);
    return rc;
}

static void chunk_store(struct meta *m, const struct meta_chunk *c)
{
    struct meta_key k;
    uint8_t buf[META_CHUNK_LEN];
    meta_key_ino(&k, META_K_CHUNK, c->id);
    meta_kv_put(m, &k, buf, meta_chunk_encode(c, buf));
}

static int fchunk_decode(struct meta *m, const uint8_t *v, size_t len, uint64_t *id)
{
    if (len != META_FCHUNK_LEN || v[0] != META_REC_V1)
        return META_CORRUPT(m, "file chunk record: bad length or record version");
    *id = meta_get64(v + 1);
    if (*id == 0)
        return META_CORRUPT(m, "file chunk record: chunk id 0");
    return 0;
}

/* Chunk id at (ino, index): 0, -ENOENT, META_ECORRUPT, META_EDB. */
static int fchunk_get(struct meta *m, uint64_t ino, uint32_t index, uint64_t *id)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int rc;
    meta_key_fchunk(&k, ino, index);
    rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = fchunk_decode(m, (const uint8_t *)v, vlen, id);
    rocksdb_free(v);
    return rc;
}

/* The chunk a map entry names; a dangling entry is corruption. */
static int chunk_load_mapped(struct meta *m, uint64_t id, uint64_t ino, uint32_t index,
                             struct meta_chunk *out)
{
    int rc = chunk_load(m, id, out);
    if (rc == -ENOENT)
        return META_CORRUPT(m, "file chunk map names a missing chunk");
    if (rc == 0 && (out->ino != ino || out->index != index)) {
        /* a chunk shared by a snapshot: this position holds a reference */
        int ref = meta_chunk_is_ref(m, id, ino, index);
        if (ref < 0)
            return ref;
        if (!ref)
            return META_CORRUPT(m, "chunk record owned by another file position");
    }
    return rc;
}

int meta_file_chunk_get(struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk *out)
{
    uint64_t id;
    int rc = fchunk_get(m, ino, index, &id);
    if (rc < 0)
        return rc;
    return chunk_load_mapped(m, id, ino, index, out);
}

int meta_chunk_get(struct meta *m, uint64_t chunk_id, struct meta_chunk *out)
{
    return chunk_load(m, chunk_id, out);
}

int meta_chunk_lease_begin(struct meta *m, uint64_t ino, uint32_t index, uint64_t holder,
                           int64_t now_ms, int64_t expiry_ms, struct meta_chunk *out)
{
    struct meta_inode *in = NULL;
    struct meta_chunk c;
    uint64_t id;
    int rc;

    rc = meta_op_begin(m, NULL);
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
    if (!S_ISREG(in->a.mode) || (uint64_t)index * META_CHUNK_SIZE > INT64_MAX) {
        rc = -EINVAL;
        goto out;
    }
    rc = fchunk_get(m, ino, index, &id);
    if (rc == -ENOENT) { /* a hole: the chunk is born leased */
        struct meta_key k;
        uint8_t v[META_FCHUNK_LEN];
        memset(&c, 0, sizeof(c));
        c.id = m->sb.next_chunk++;
        m->sb.chunks++;
        c.ino = ino;
        c.index = index;
        c.class_id = in->class_id;
        c.issued_version = c.version = 1;
        c.lease = META_LEASE_WRITE;
        c.lease_holder = holder;
        c.lease_expiry_ms = expiry_ms;
        v[0] = META_REC_V1;
        meta_put64(v + 1, c.id);
        meta_key_fchunk(&k, ino, index);
        meta_kv_put(m, &k, v, sizeof(v));
        chunk_store(m, &c);
        rc = 0;
        goto done;
    }
    if (rc < 0)
        goto out;
    rc = chunk_load_mapped(m, id, ino, index, &c);
    if (rc < 0)
        goto out;
    rc = meta_chunk_shared(m, id);
    if (rc != 0) { /* the caller unshares first (meta_chunk_unshare) */
        rc = rc > 0 ? -EBUSY : rc;
        goto out;
    }
    if (c.lease == META_LEASE_WRITE && c.lease_holder == holder && c.lease_expiry_ms > now_ms) {
        c.lease_expiry_ms = expiry_ms; /* renewal: same version */
    } else if (c.lease == META_LEASE_WRITE && c.lease_expiry_ms > now_ms) {
        rc = -EBUSY;
        goto out;
    } else {
        c.version = ++c.issued_version;
        c.lease = META_LEASE_WRITE;
        c.lease_holder = holder;
        c.lease_expiry_ms = expiry_ms;
    }
    chunk_store(m, &c);
done:
    if (out)
        *out = c;
out:
    free(in);
    return meta_op_end(m, rc);
}

int meta_chunk_lease_commit(struct meta *m, uint64_t chunk_id, uint64_t holder, uint64_t version,
                            uint64_t length, struct meta_chunk *out)
{
    struct meta_inode *in = NULL;
    struct meta_chunk c;
    uint64_t end;
    int rc;

    rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    if (length > META_CHUNK_SIZE) {
        rc = -EINVAL;
        goto out;
    }
    rc = chunk_load(m, chunk_id, &c);
    if (rc == -ENOENT) /* freed meanwhile (truncate, unlink): the lease went with it */
        rc = -ESTALE;
    if (rc < 0)
        goto out;
    if (c.lease != META_LEASE_WRITE || c.lease_holder != holder || c.version != version) {
        rc = -ESTALE;
        goto out;
    }
    in = malloc(sizeof(*in));
    if (!in) {
        rc = -ENOMEM;
        goto out;
    }
    rc = meta_inode_load(m, c.ino, in);
    if (rc == -ENOENT)
        rc = META_CORRUPT(m, "chunk owned by a missing inode");
    if (rc < 0)
        goto out;
    c.committed_version = c.version;
    c.length = length;
    c.lease = META_LEASE_NONE;
    c.lease_holder = 0;
    c.lease_expiry_ms = 0;
    chunk_store(m, &c);
    end = (uint64_t)c.index * META_CHUNK_SIZE + length;
    if (end > in->a.size) {
        /* committed data is never refused: the quota is checked before the
         * write (WRITE_BEGIN), so a session can pass the limit by its size */
        rc = meta_quota_charge(m, in->a.parent, (int64_t)(end - in->a.size), 0);
        if (rc < 0)
            goto out;
        m->sb.used_bytes += end - in->a.size;
        in->a.size = end;
    }
    meta_now(&in->a.mtime);
    in->a.ctime = in->a.mtime;
    meta_inode_store(m, in);
    if (out)
        *out = c;
out:
    free(in);
    return meta_op_end(m, rc);
}

/* Rollback without the operation bracket (used by the expiry scan). */
static int lease_rollback(struct meta *m, uint64_t chunk_id)
{
    struct meta_chunk c;
    int rc = chunk_load(m, chunk_id, &c);
    if (rc < 0)
        return rc;
    c.version = c.committed_version;
    c.lease = META_LEASE_NONE;
    c.lease_holder = 0;
    c.lease_expiry_ms = 0;
    chunk_store(m, &c);
    return 0;
}

int meta_chunk_lease_rollback(struct meta *m, uint64_t chunk_id)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    return meta_op_end(m, lease_rollback(m, chunk_id));
}

struct expire_ctx {
    int64_t now_ms;
    uint64_t *ids;
    size_t n, cap;
    int err;
};

static int expire_collect(void *ctx, const struct meta_chunk *c)
{
    struct expire_ctx *e = ctx;
    if (c->lease != META_LEASE_WRITE || c->lease_expiry_ms > e->now_ms)
        return 0;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        uint64_t *p = realloc(e->ids, cap * sizeof(*p));
        if (!p) {
            e->err = -ENOMEM;
            return 1;
        }
        e->ids = p;
        e->cap = cap;
    }
    e->ids[e->n++] = c->id;
    return 0;
}

int meta_chunk_leases_expire(struct meta *m, int64_t now_ms)
{
    struct expire_ctx e = {.now_ms = now_ms};
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    rc = meta_chunk_iter(m, 0, expire_collect, &e);
    if (e.err)
        rc = e.err;
    for (size_t i = 0; rc >= 0 && i < e.n; i++)
        rc = lease_rollback(m, e.ids[i]);
    free(e.ids);
    rc = meta_op_end(m, rc < 0 ? rc : 0);
    return rc < 0 ? rc : (int)e.n;
}

int meta_chunks_drop_from(struct meta *m, uint64_t ino, uint32_t first, struct meta_freed *freed)
{
    struct meta_key k, pfx;
    rocksdb_iterator_t *it;
    uint64_t *ids = NULL;
    uint32_t *idx = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    meta_key_ino(&pfx, META_K_FCHUNK, ino);
    meta_key_fchunk(&k, ino, first);
    it = meta_iter_open(m, k.b, k.len);
    if (!it)
        return -ENOMEM;
    /* collect first: the batch must not change under its own iterator */
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val;
        if (klen < pfx.len || memcmp(key, pfx.b, pfx.len) != 0)
            break;
        if (klen != 13) {
            rc = META_CORRUPT(m, "file chunk key: bad length");
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *p = realloc(ids, ncap * sizeof(*p));
            uint32_t *q = p ? realloc(idx, ncap * sizeof(*q)) : NULL;
            if (p)
                ids = p;
            if (!p || !q) {
                rc = -ENOMEM;
                break;
            }
            idx = q;
            cap = ncap;
        }
        val = rocksdb_iter_value(it, &vlen);
        rc = fchunk_decode(m, (const uint8_t *)val, vlen, &ids[n]);
        if (rc < 0)
            break;
        idx[n++] = meta_get_be32((const uint8_t *)key + 9);
    }
    rocksdb_iter_destroy(it);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct meta_chunk c;
        meta_key_fchunk(&k, ino, idx[i]);
        meta_kv_del(m, &k);
        rc = chunk_load_mapped(m, ids[i], ino, idx[i], &c);
        if (rc == 0) /* freed, or left to the snapshots that share it */
            rc = meta_chunk_ref_drop(m, &c, ino, idx[i], freed);
    }
    free(ids);
    free(idx);
    return rc;
}

int meta_chunk_cut(struct meta *m, uint64_t ino, uint32_t index, uint64_t len)
{
    struct meta_chunk c;
    uint64_t id;
    int rc = fchunk_get(m, ino, index, &id);
    if (rc == -ENOENT)
        return 0; /* a hole */
    if (rc < 0)
        return rc;
    rc = chunk_load_mapped(m, id, ino, index, &c);
    if (rc < 0)
        return rc;
    if (c.length > len) {
        /* a snapshot keeps its length: cut a private copy */
        rc = meta_chunk_unshare_in(m, ino, index, &c);
        if (rc < 0)
            return rc;
        c.length = len;
        chunk_store(m, &c);
    }
    return 0;
}

int meta_file_chunks(struct meta *m, uint64_t ino, meta_chunk_fn fn, void *ctx)
{
    struct meta_key pfx;
    rocksdb_iterator_t *it;
    int rc = 0;
    meta_key_ino(&pfx, META_K_FCHUNK, ino);
    it = meta_iter_open(m, pfx.b, pfx.len);
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val = rocksdb_iter_value(it, &vlen);
        struct meta_chunk c;
        uint64_t id;
        if (klen < pfx.len || memcmp(key, pfx.b, pfx.len) != 0)
            break;
        if (klen != 13) {
            rc = META_CORRUPT(m, "file chunk key: bad length");
            break;
        }
        rc = fchunk_decode(m, (const uint8_t *)val, vlen, &id);
        if (rc == 0)
            rc = chunk_load_mapped(m, id, ino, meta_get_be32((const uint8_t *)key + 9), &c);
        if (rc < 0)
            break;
        if (fn(ctx, &c)) {
            rc = 1;
            break;
        }
    }
    rocksdb_iter_destroy(it);
    return rc;
}

int meta_chunk_iter(struct meta *m, uint64_t from_id, meta_chunk_fn fn, void *ctx)
{
    struct meta_key k;
    rocksdb_iterator_t *it;
    int rc = 0;
    meta_key_ino(&k, META_K_CHUNK, from_id);
    it = meta_iter_open(m, k.b, k.len);
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocksdb_iter_key(it, &klen);
        const char *val;
        struct meta_chunk c;
        if (klen < 1 || (uint8_t)key[0] != META_K_CHUNK)
            break;
        if (klen != 9) {
            rc = META_CORRUPT(m, "chunk key: bad length");
            break;
        }
        val = rocksdb_iter_value(it, &vlen);
        rc = meta_chunk_decode(m, (const uint8_t *)val, vlen,
                               meta_get_be64((const uint8_t *)key + 1), &c);
        if (rc < 0)
            break;
        if (fn(ctx, &c)) {
            rc = 1;
            break;
        }
    }
    if (rc == 0) {
        char *rerr = NULL;
        rocksdb_iter_get_error(it, &rerr);
        if (rerr)
            rc = meta_db_error(m, rerr, "chunk scan");
    }
    rocksdb_iter_destroy(it);
    return rc;
}

int meta_chunk_ids_reserve(struct meta *m, uint32_t n, uint64_t *first)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    *first = m->sb.next_chunk;
    m->sb.next_chunk += n; /* written with the turn (commit invariant 2) */
    return meta_op_end(m, 0);
}

int meta_chunk_convert(struct meta *m, uint64_t chunk_id, uint64_t version, uint64_t new_id,
                       const uint8_t layout[3], struct meta_freed *freed)
{
    struct meta_chunk c, n;
    uint64_t mapped;
    int rc = meta_op_begin(m, freed);
    if (rc < 0)
        return rc;
    rc = chunk_load(m, chunk_id, &c);
    if (rc == 0 && (c.committed_version != version || c.lease != META_LEASE_NONE))
        rc = -ESTALE; /* written meanwhile: the new parts hold old data */
    if (rc == 0)
        rc = fchunk_get(m, c.ino, c.index, &mapped);
    if (rc == 0 && mapped != chunk_id)
        rc = -ESTALE;
    if (rc == 0 && (rc = meta_chunk_shared(m, chunk_id)) > 0)
        rc = -EBUSY; /* shared with a snapshot: both names would need the switch */
    if (rc == 0 && (new_id == 0 || new_id >= m->sb.next_chunk))
        rc = -EINVAL; /* only ids reserved before */
    if (rc == 0 && chunk_load(m, new_id, &n) != -ENOENT)
        rc = -EEXIST;
    if (rc == 0) {
        struct meta_key k;
        uint8_t v[META_FCHUNK_LEN];
        n = c;
        n.id = new_id;
        n.version = n.committed_version = n.issued_version = 1;
        n.lease_holder = 0;
        n.lease_expiry_ms = 0;
        memcpy(n.layout, layout, 3);
        chunk_store(m, &n);
        v[0] = META_REC_V1;
        meta_put64(v + 1, new_id);
        meta_key_fchunk(&k, c.ino, c.index);
        meta_kv_put(m, &k, v, sizeof(v));
        meta_key_ino(&k, META_K_CHUNK, chunk_id);
        meta_kv_del(m, &k);
        rc = meta_freed_add(freed, chunk_id);
    }
    return meta_op_end(m, rc);
}
