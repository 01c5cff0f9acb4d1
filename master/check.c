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
    if (ch.ino != ino || ch.index != index)
        return ck_fail(c, "chunk %llu belongs to %llu[%u], mapped from %llu[%u]",
                       (unsigned long long)id, (unsigned long long)ch.ino, ch.index,
                       (unsigned long long)ino, index);
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

int meta_check(struct meta *m, struct meta_check_stats *st, char *err, size_t errlen)
{
    struct ck c = {.m = m, .err = err, .errlen = errlen};
    int rc;
    if (err && errlen)
        err[0] = '\0';
    if ((rc = ck_scan(&c, META_K_INODE, ck_inode)) < 0 ||
        (rc = ck_scan(&c, META_K_ORPHAN, ck_orphan)) < 0 ||
        (rc = ck_scan(&c, META_K_DENTRY, ck_dentry)) < 0 ||
        (rc = ck_scan(&c, META_K_XATTR, ck_xattr)) < 0 ||
        (rc = ck_scan(&c, META_K_CHUNK, ck_chunk)) < 0 ||
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
        if (e->type == (S_IFDIR >> 12)) {
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
        if (!e->used || e->type != (S_IFDIR >> 12))
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
