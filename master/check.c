/*
 * check.c - offline consistency check of the metadata (fsck).
 *
 * Walks every prefix once and cross-checks them: dentries against inodes
 * (existence, type, directory parents), nlink against counted links,
 * orphans, xattrs, the chunk map against the chunk table, and the
 * superblock counters against what was counted. The per-inode link counts
 * need a table in memory (a hash of 32 bytes per inode): this is a tool for
 * tests, `cairn-master --check` and after a crash, not for the loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "meta_int.h"

struct ck_ino {
    uint64_t ino, parent;
    uint32_t nlink, links, subdirs;
    uint8_t type, orphan, used;
};

struct ck {
    struct meta *m;
    struct ck_ino *tab;
    size_t cap, n;
    uint64_t used_bytes;
    uint64_t refs, refkeys; /* shared chunk map entries; 'P' keys */
    struct meta_check_stats st;
    char *err;
    size_t errlen;
};

static int ck_fail(struct ck *c, const char *fmt, ...)
{
    va_list ap;
    if (c->err && c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return META_ECORRUPT;
}

static size_t ck_hash(uint64_t ino, size_t cap)
{
    return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static struct ck_ino *ck_find(struct ck *c, uint64_t ino)
{
    for (size_t i = ck_hash(ino, c->cap);; i = (i + 1) & (c->cap - 1)) {
        if (!c->tab[i].used)
            return NULL;
        if (c->tab[i].ino == ino)
            return &c->tab[i];
    }
}

static int ck_insert(struct ck *c, const struct ck_ino *e)
{
    if ((c->n + 1) * 2 > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        struct ck_ino *old = c->tab;
        size_t ocap = c->cap;
        c->tab = calloc(ncap, sizeof(*c->tab));
        if (!c->tab) {
            c->tab = old;
            return -ENOMEM;
        }
        c->cap = ncap;
        c->n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].used)
                ck_insert(c, &old[i]);
        free(old);
    }
    for (size_t i = ck_hash(e->ino, c->cap);; i = (i + 1) & (c->cap - 1)) {
        if (!c->tab[i].used) {
            c->tab[i] = *e;
            c->tab[i].used = 1;
            c->n++;
            return 0;
        }
    }
}

typedef int (*ck_fn)(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen);

static int ck_scan(struct ck *c, uint8_t prefix, ck_fn fn)
{
    rocksdb_iterator_t *it = meta_iter_open(c->m, &prefix, 1);
    int rc = 0;
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
        if (klen < 1 || k[0] != prefix)
            break;
        rc = fn(c, k, klen, v, vlen);
        if (rc < 0)
            break;
    }
    rocksdb_iter_destroy(it);
    return rc;
}

static int ck_inode(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct meta_inode *in = malloc(sizeof(*in));
    struct ck_ino e = {0};
    uint64_t ino;
    int rc;
    if (!in)
        return -ENOMEM;
    if (klen != 9) {
        rc = ck_fail(c, "inode key of %zu bytes", klen);
        goto out;
    }
    ino = meta_get_be64(k + 1);
    rc = meta_inode_decode(c->m, v, vlen, ino, in);
    if (rc < 0) {
        ck_fail(c, "inode %llu: %s", (unsigned long long)ino, meta_last_error(c->m));
        goto out;
    }
    if (ino == 0 || ino >= c->m->sb.next_ino) {
        rc = ck_fail(c, "inode %llu at or above next_ino %llu", (unsigned long long)ino,
                     (unsigned long long)c->m->sb.next_ino);
        goto out;
    }
    e.ino = ino;
    e.parent = in->a.parent;
    e.nlink = in->a.nlink;
    e.type = (uint8_t)((in->a.mode & S_IFMT) >> 12);
    if (S_ISREG(in->a.mode))
        c->used_bytes += in->a.size;
    c->st.inodes++;
    rc = ck_insert(c, &e);
out:
    free(in);
    return rc;
}

static int ck_orphan(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct ck_ino *e;
    if (klen != 9 || vlen != 1 || v[0] != META_REC_V1)
        return ck_fail(c, "malformed orphan record");
    e = ck_find(c, meta_get_be64(k + 1));
    if (!e)
        return ck_fail(c, "orphan %llu has no inode", (unsigned long long)meta_get_be64(k + 1));
    if (e->nlink != 0)
        return ck_fail(c, "orphan %llu has nlink %u", (unsigned long long)e->ino, e->nlink);
    e->orphan = 1;
    c->st.orphans++;
    return 0;
}

/* A trashed inode (trash.c) counts like an orphan: nlink 0, named by nothing. */
static int ck_trash(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    (void)v;
    (void)vlen;
    struct ck_ino *e = klen == 9 ? ck_find(c, meta_get_be64(k + 1)) : NULL;
    if (!e)
        return ck_fail(c, "trash record of a missing inode");
    if (e->nlink != 0)
        return ck_fail(c, "trashed inode %llu has nlink %u", (unsigned long long)e->ino, e->nlink);
    e->orphan = 1;
    return 0;
}

static int ck_dentry(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct meta_dentry d;
    struct ck_ino *p, *ch;
    uint64_t parent;
    if (klen < 10 || klen > 9 + META_NAME_MAX)
        return ck_fail(c, "dentry key of %zu bytes", klen);
    parent = meta_get_be64(k + 1);
    if (meta_dentry_decode(c->m, v, vlen, &d) < 0)
        return ck_fail(c, "dentry in %llu: %s", (unsigned long long)parent, meta_last_error(c->m));
    p = ck_find(c, parent);
    if (!p || p->type != (S_IFDIR >> 12))
        return ck_fail(c, "dentry '%.*s' in %llu: parent missing or not a directory",
                       (int)(klen - 9), (const char *)k + 9, (unsigned long long)parent);
    ch = ck_find(c, d.ino);
    if (!ch)
        return ck_fail(c, "dentry '%.*s' in %llu points to missing inode %llu", (int)(klen - 9),
                       (const char *)k + 9, (unsigned long long)parent, (unsigned long long)d.ino);
    if (ch->type != d.type)
        return ck_fail(c, "dentry '%.*s' type %u, inode %llu type %u", (int)(klen - 9),
                       (const char *)k + 9, d.type, (unsigned long long)d.ino, ch->type);
    ch->links++;
    if (d.type == (S_IFDIR >> 12)) {
        if (ch->parent != parent)
            return ck_fail(c, "directory %llu linked from %llu but its parent is %llu",
                           (unsigned long long)d.ino, (unsigned long long)parent,
                           (unsigned long long)ch->parent);
        p->subdirs++;
    }
    c->st.dentries++;
    return 0;
}

static int ck_xattr(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    if (klen < 10 || vlen < 1 || v[0] != META_REC_V1 || vlen - 1 > META_XATTR_SIZE_MAX)
        return ck_fail(c, "malformed xattr record");
    if (!ck_find(c, meta_get_be64(k + 1)))
        return ck_fail(c, "xattr of missing inode %llu", (unsigned long long)meta_get_be64(k + 1));
    c->st.xattrs++;
    return 0;
}

static int ck_fchunk(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct meta_chunk ch;
    struct ck_ino *e;
    uint64_t ino, id;
    uint32_t index;
    int rc;
    if (klen != 13 || vlen != META_FCHUNK_LEN || v[0] != META_REC_V1)
        return ck_fail(c, "malformed file chunk record");
    ino = meta_get_be64(k + 1);
    index = meta_get_be32(k + 9);
    id = meta_get64(v + 1);
    e = ck_find(c, ino);
    if (!e || e->type != (S_IFREG >> 12))
        return ck_fail(c, "chunk map of %llu: not a regular file", (unsigned long long)ino);
    rc = meta_chunk_get(c->m, id, &ch);
    if (rc < 0)
        return ck_fail(c, "chunk map %llu[%u] names chunk %llu: %s", (unsigned long long)ino, index,
                       (unsigned long long)id, meta_strerror(rc));
    if (ch.ino != ino || ch.index != index) {
        /* a snapshot's share: it must have its reference key */
        if (meta_chunk_is_ref(c->m, id, ino, index) != 1)
            return ck_fail(c, "chunk %llu belongs to %llu[%u], mapped from %llu[%u]",
                           (unsigned long long)id, (unsigned long long)ch.ino, ch.index,
                           (unsigned long long)ino, index);
        c->refs++;
        return 0;
    }
    c->st.file_chunks++;
    return 0;
}

static int ck_chunk(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct meta_chunk ch;
    uint64_t id;
    if (klen != 9)
        return ck_fail(c, "chunk key of %zu bytes", klen);
    id = meta_get_be64(k + 1);
    if (meta_chunk_decode(c->m, v, vlen, id, &ch) < 0)
        return ck_fail(c, "chunk %llu: %s", (unsigned long long)id, meta_last_error(c->m));
    if (id == 0 || id >= c->m->sb.next_chunk)
        return ck_fail(c, "chunk %llu at or above next_chunk", (unsigned long long)id);
    c->st.chunks++;
    return 0;
}

/* a snapshot's reference key: its chunk exists and its position maps to it */
static int ck_ref(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    (void)v;
    (void)vlen;
    if (klen != 21)
        return ck_fail(c, "chunk reference key of %zu bytes", klen);
    uint64_t id = meta_get_be64(k + 1), ino = meta_get_be64(k + 9);
    uint32_t index = meta_get_be32(k + 17);
    struct meta_chunk ch;
    if (meta_file_chunk_get(c->m, ino, index, &ch) != 0 || ch.id != id)
        return ck_fail(c, "reference of chunk %llu from %llu[%u] that does not map to it",
                       (unsigned long long)id, (unsigned long long)ino, index);
    c->refkeys++;
    return 0;
}

int meta_check(struct meta *m, struct meta_check_stats *st, char *err, size_t errlen)
{
    struct ck c = {.m = m, .err = err, .errlen = errlen};
    int rc;
    if (err && errlen)
        err[0] = '\0';
    if ((rc = ck_scan(&c, META_K_INODE, ck_inode)) < 0 ||
        (rc = ck_scan(&c, META_K_ORPHAN, ck_orphan)) < 0 ||
        (rc = ck_scan(&c, META_K_TRASH, ck_trash)) < 0 ||
        (rc = ck_scan(&c, META_K_DENTRY, ck_dentry)) < 0 ||
        (rc = ck_scan(&c, META_K_XATTR, ck_xattr)) < 0 ||
        (rc = ck_scan(&c, META_K_CHUNK, ck_chunk)) < 0 ||
        (rc = ck_scan(&c, META_K_CHUNKREF, ck_ref)) < 0 ||
        (rc = ck_scan(&c, META_K_FCHUNK, ck_fchunk)) < 0)
        goto out;
    rc = META_ECORRUPT;
    if (!c.tab || !ck_find(&c, META_ROOT_INO)) {
        ck_fail(&c, "no root inode");
        goto out;
    }
    for (size_t i = 0; i < c.cap; i++) {
        struct ck_ino *e = &c.tab[i];
        if (!e->used)
            continue;
        if (e->type == (S_IFDIR >> 12) && e->orphan) {
            if (e->links != 0 || e->subdirs != 0) {
                ck_fail(&c, "trashed directory %llu is still named or has subdirectories",
                        (unsigned long long)e->ino);
                goto out;
            }
        } else if (e->type == (S_IFDIR >> 12)) {
            uint32_t want_links = e->ino == META_ROOT_INO ? 0 : 1;
            if (e->links != want_links || e->nlink != 2 + e->subdirs) {
                ck_fail(&c, "directory %llu: %u entries name it, nlink %u with %u subdirs",
                        (unsigned long long)e->ino, e->links, e->nlink, e->subdirs);
                goto out;
            }
        } else if (e->orphan ? (e->links != 0) : (e->nlink != e->links || e->links == 0)) {
            ck_fail(&c, "inode %llu: nlink %u but %u entries name it%s", (unsigned long long)e->ino,
                    e->nlink, e->links, e->links == 0 ? " (unreachable, not an orphan)" : "");
            goto out;
        }
    }
    /* every directory reaches the root through its parents (no detached cycle) */
    for (size_t i = 0; i < c.cap; i++) {
        struct ck_ino *e = &c.tab[i];
        uint64_t cur = e->ino, steps = 0;
        if (!e->used || e->type != (S_IFDIR >> 12) || e->orphan)
            continue;
        while (cur != META_ROOT_INO) {
            struct ck_ino *p = ck_find(&c, cur);
            if (!p || steps++ > c.n) {
                ck_fail(&c, "directory %llu does not reach the root (a detached cycle)",
                        (unsigned long long)e->ino);
                goto out;
            }
            cur = p->parent;
        }
    }
    if (c.st.inodes != m->sb.inodes || c.st.chunks != m->sb.chunks ||
        c.used_bytes != m->sb.used_bytes) {
        ck_fail(&c, "superblock counters inodes %llu chunks %llu used %llu; counted %llu %llu %llu",
                (unsigned long long)m->sb.inodes, (unsigned long long)m->sb.chunks,
                (unsigned long long)m->sb.used_bytes, (unsigned long long)c.st.inodes,
                (unsigned long long)c.st.chunks, (unsigned long long)c.used_bytes);
        goto out;
    }
    if (c.refs != c.refkeys) {
        ck_fail(&c, "%llu shared chunk map entries but %llu reference keys",
                (unsigned long long)c.refs, (unsigned long long)c.refkeys);
        goto out;
    }
    if (c.st.file_chunks != c.st.chunks) {
        ck_fail(&c, "%llu chunks but %llu chunk map entries", (unsigned long long)c.st.chunks,
                (unsigned long long)c.st.file_chunks);
        goto out;
    }
    rc = 0;
out:
    if (st)
        *st = c.st;
    free(c.tab);
    return rc;
}

/* ---- online fsck: findings and repairs ------------------------------------------
 * Unlike meta_check() it does not stop at the first problem: every finding
 * goes to ops->found, and with `repair` it is fixed in the open turn. */

struct fk {
    struct ck c; /* the inode table and counters of meta_check */
    int repair;
    const struct meta_fsck_ops *ops;
    struct meta_freed *freed;
    struct meta_fsck_stats st;
};

static void fk_report(struct fk *f, const char *kind, uint64_t ino, uint64_t chunk, uint32_t index,
                      int repaired, const char *fmt, ...)
{
    struct meta_fsck_finding x = {kind, ino, chunk, index, repaired, ""};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x.detail, sizeof(x.detail), fmt, ap);
    va_end(ap);
    f->st.findings++;
    if (repaired)
        f->st.repaired++;
    if (f->ops && f->ops->found)
        f->ops->found(f->ops->ctx, &x);
}

static void fk_del(struct fk *f, const uint8_t *k, size_t klen)
{
    struct meta_key key;
    memcpy(key.b, k, klen);
    key.len = klen;
    meta_kv_del(f->c.m, &key);
}

static int fk_inode(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct fk *f = (struct fk *)c;
    struct meta_inode *in = malloc(sizeof(*in));
    if (!in)
        return -ENOMEM;
    uint64_t ino = klen == 9 ? meta_get_be64(k + 1) : 0;
    int rc = klen == 9 ? meta_inode_decode(c->m, v, vlen, ino, in) : META_ECORRUPT;
    if (rc < 0) {
        fk_report(f, "corrupt_inode", ino, 0, 0, 0, "inode record unreadable: %s",
                  meta_last_error(c->m));
        free(in);
        return 0;
    }
    struct ck_ino e = {0};
    e.ino = ino;
    e.parent = in->a.parent;
    e.nlink = in->a.nlink;
    e.type = (uint8_t)((in->a.mode & S_IFMT) >> 12);
    if (S_ISREG(in->a.mode))
        c->used_bytes += in->a.size;
    c->st.inodes++;
    free(in);
    return ck_insert(c, &e);
}

static int fk_orphan(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    (void)v;
    (void)vlen;
    struct ck_ino *e = klen == 9 ? ck_find(c, meta_get_be64(k + 1)) : NULL;
    if (e)
        e->orphan = 1;
    return 0;
}

static int fk_dentry(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct fk *f = (struct fk *)c;
    struct meta_dentry d;
    uint64_t parent = meta_get_be64(k + 1);
    struct ck_ino *p = ck_find(c, parent);
    struct ck_ino *ch = NULL;
    int ok = klen >= 10 && meta_dentry_decode(c->m, v, vlen, &d) == 0 && p &&
             p->type == (S_IFDIR >> 12) && (ch = ck_find(c, d.ino)) != NULL && ch->type == d.type;
    if (!ok) {
        if (f->repair)
            fk_del(f, k, klen);
        fk_report(f, "dangling_entry", parent, 0, 0, f->repair,
                  "entry '%.*s' in directory %llu names %s", (int)(klen - 9), (const char *)k + 9,
                  (unsigned long long)parent,
                  !p   ? "nothing (no such directory)"
                  : ch ? "an inode of another type"
                       : "a missing inode");
        return 0;
    }
    ch->links++;
    if (d.type == (S_IFDIR >> 12))
        p->subdirs++;
    c->st.dentries++;
    return 0;
}

/* chunk map entry: the chunk must exist and point back */
static int fk_fchunk(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct fk *f = (struct fk *)c;
    if (klen != 13 || vlen != META_FCHUNK_LEN || v[0] != META_REC_V1) {
        if (f->repair)
            fk_del(f, k, klen);
        fk_report(f, "dangling_chunk_ref", klen >= 9 ? meta_get_be64(k + 1) : 0, 0, 0, f->repair,
                  "malformed chunk map record");
        return 0;
    }
    uint64_t ino = meta_get_be64(k + 1), id = meta_get64(v + 1);
    uint32_t index = meta_get_be32(k + 9);
    struct meta_chunk ch;
    int rc = meta_chunk_get(c->m, id, &ch);
    if (rc == META_EDB)
        return rc;
    int shared_ref = rc == 0 && (ch.ino != ino || ch.index != index) &&
                     meta_chunk_is_ref(c->m, id, ino, index) == 1;
    if (rc < 0 || ((ch.ino != ino || ch.index != index) && !shared_ref)) {
        if (f->repair)
            fk_del(f, k, klen);
        fk_report(f, "dangling_chunk_ref", ino, id, index, f->repair,
                  "chunk %u of the file names chunk %llu, which %s; the range reads as zeros "
                  "after repair",
                  index, (unsigned long long)id,
                  rc < 0 ? "is not in the chunk table" : "belongs to another file");
        return 0;
    }
    c->st.file_chunks++;
    return 0;
}

static int fk_chunk(struct ck *c, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct fk *f = (struct fk *)c;
    struct meta_chunk ch, back;
    uint64_t id = klen == 9 ? meta_get_be64(k + 1) : 0;
    f->st.chunks++;
    if (klen != 9 || meta_chunk_decode(c->m, v, vlen, id, &ch) < 0) {
        fk_report(f, "corrupt_chunk", 0, id, 0, 0, "chunk record unreadable");
        c->st.chunks++;
        return 0;
    }
    /* referenced? the file's chunk map must name this id at (ino, index) */
    int rc = meta_file_chunk_get(c->m, ch.ino, ch.index, &back);
    if (rc == META_EDB)
        return rc;
    if (rc < 0 || back.id != id) {
        if (f->repair) {
            fk_del(f, k, klen);
            meta_freed_add(f->freed, id);
            c->m->sb.chunks--;
        } else {
            c->st.chunks++;
        }
        fk_report(f, "orphan_chunk", ch.ino, id, ch.index, f->repair,
                  "chunk %llu (file %llu, chunk %u) is named by no file%s", (unsigned long long)id,
                  (unsigned long long)ch.ino, ch.index,
                  f->repair ? "; deleted with its parts" : "");
        return 0;
    }
    c->st.chunks++;
    if (!f->ops || !f->ops->parts || ch.lease != META_LEASE_NONE || ch.committed_version == 0)
        return 0;
    uint64_t vers[64];
    int n = f->ops->parts(f->ops->ctx, id, vers, 64);
    int have = 0;
    uint64_t best = 0;
    for (int i = 0; i < n && i < 64; i++) {
        if (vers[i] == ch.committed_version)
            have = 1;
        if (vers[i] > best)
            best = vers[i];
    }
    if (have)
        return 0;
    if (n <= 0) {
        if (f->repair) {
            struct meta_key fk;
            meta_key_fchunk(&fk, ch.ino, ch.index);
            meta_kv_del(c->m, &fk);
            fk_del(f, k, klen);
            c->st.chunks--;
            c->m->sb.chunks--;
        }
        fk_report(f, "missing_chunk", ch.ino, id, ch.index, f->repair,
                  "no chunkserver holds chunk %llu (file %llu, chunk %u, version %llu)%s",
                  (unsigned long long)id, (unsigned long long)ch.ino, ch.index,
                  (unsigned long long)ch.committed_version,
                  f->repair ? "; dropped: that range of the file reads as zeros" : "");
        return 0;
    }
    if (f->repair) {
        uint8_t buf[META_CHUNK_LEN];
        ch.version = ch.committed_version = best;
        if (ch.issued_version < best)
            ch.issued_version = best;
        struct meta_key ck;
        memcpy(ck.b, k, klen);
        ck.len = klen;
        meta_kv_put(c->m, &ck, buf, meta_chunk_encode(&ch, buf));
    }
    fk_report(f, "wrong_version", ch.ino, id, ch.index, f->repair,
              "chunk %llu is at version %llu but chunkservers hold only other versions (newest "
              "%llu)%s",
              (unsigned long long)id, (unsigned long long)ch.committed_version,
              (unsigned long long)best, f->repair ? "; now uses the newest held" : "");
    return 0;
}

int meta_fsck(struct meta *m, int repair, const struct meta_fsck_ops *ops, struct meta_freed *freed,
              struct meta_fsck_stats *st)
{
    struct fk f = {.c = {.m = m}, .repair = repair, .ops = ops, .freed = freed};
    int rc;
    if (repair && (rc = meta_op_begin(m, freed)) < 0)
        return rc;
    if ((rc = ck_scan(&f.c, META_K_INODE, fk_inode)) < 0 ||
        (rc = ck_scan(&f.c, META_K_ORPHAN, fk_orphan)) < 0 ||
        (rc = ck_scan(&f.c, META_K_TRASH, fk_orphan)) < 0 ||
        (rc = ck_scan(&f.c, META_K_DENTRY, fk_dentry)) < 0 ||
        (rc = ck_scan(&f.c, META_K_FCHUNK, fk_fchunk)) < 0 ||
        (rc = ck_scan(&f.c, META_K_CHUNK, fk_chunk)) < 0)
        goto out;
    for (size_t i = 0; i < f.c.cap; i++) {
        struct ck_ino *e = &f.c.tab[i];
        if (!e->used)
            continue;
        uint32_t want;
        if (e->type == (S_IFDIR >> 12) && !e->orphan)
            want = 2 + e->subdirs;
        else if (e->orphan)
            want = 0;
        else
            want = e->links;
        if (e->nlink == want && (want > 0 || e->orphan || e->ino == META_ROOT_INO))
            continue;
        if (want == 0 && !e->orphan && e->type != (S_IFDIR >> 12)) {
            /* named by no entry: freed like an orphan at its last close */
            int rep = 0;
            if (repair) {
                struct meta_inode in;
                rc = meta_inode_load(m, e->ino, &in);
                if (rc < 0)
                    goto out;
                in.a.nlink = 0;
                meta_inode_store(m, &in);
                struct meta_key ok;
                meta_key_ino(&ok, META_K_ORPHAN, e->ino);
                uint8_t one = META_REC_V1;
                meta_kv_put(m, &ok, &one, 1);
                rep = 1;
            }
            fk_report(&f, "unreachable_inode", e->ino, 0, 0, rep,
                      "inode %llu (nlink %u) is named by no directory entry%s",
                      (unsigned long long)e->ino, e->nlink,
                      rep ? "; freed (with its chunks) like an unlinked file" : "");
            if (rep)
                f.st.unreachable_freed++;
            continue;
        }
        if (repair) {
            struct meta_inode in;
            rc = meta_inode_load(m, e->ino, &in);
            if (rc < 0)
                goto out;
            in.a.nlink = want;
            meta_inode_store(m, &in);
        }
        fk_report(&f, "bad_nlink", e->ino, 0, 0, repair, "inode %llu has nlink %u, %u expected%s",
                  (unsigned long long)e->ino, e->nlink, want, repair ? "; fixed" : "");
    }
    if (f.c.st.inodes != m->sb.inodes || f.c.st.chunks != m->sb.chunks ||
        f.c.used_bytes != m->sb.used_bytes) {
        fk_report(&f, "counters", 0, 0, 0, repair,
                  "superblock says %llu inodes, %llu chunks, %llu bytes; counted %llu, %llu, %llu",
                  (unsigned long long)m->sb.inodes, (unsigned long long)m->sb.chunks,
                  (unsigned long long)m->sb.used_bytes, (unsigned long long)f.c.st.inodes,
                  (unsigned long long)f.c.st.chunks, (unsigned long long)f.c.used_bytes);
        if (repair) {
            m->sb.inodes = f.c.st.inodes;
            m->sb.chunks = f.c.st.chunks;
            m->sb.used_bytes = f.c.used_bytes;
        }
    }
    rc = 0;
out:
    f.st.inodes = f.c.st.inodes;
    f.st.dentries = f.c.st.dentries;
    if (st)
        *st = f.st;
    free(f.c.tab);
    if (repair)
        rc = meta_op_end(m, rc);
    return rc;
}
