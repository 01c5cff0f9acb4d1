/*
 * quota.c - directory quotas: bytes and inodes, soft (with a grace period)
 * and hard limits (docs/master.md, "Quotas"; the record in docs/format.md).
 *
 * A quota lives on a directory ('Q' ino) and holds its limits and the usage
 * of everything below it: logical bytes of regular files and the number of
 * inodes (files, directories, symlinks, the directory itself excluded).
 * Usage is kept exact inside the same turn as the change that causes it:
 * every create, last unlink, size change and move walks from the directory
 * concerned up to the root (directories know their parents) and updates the
 * quota records it meets. Files know the directory that accounts for them
 * through their inode's parent field (set at create and by rename; a hard
 * link stays accounted where the file was created).
 *
 * Setting a quota counts the tree below once (O(entries)); moving a
 * directory between different quota domains recounts the moved tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta_int.h"

#define QUOTA_REC_LEN 70u
#define QUOTA_DEPTH   4096

static void key_quota(struct meta_key *k, uint64_t ino)
{
    meta_key_ino(k, META_K_QUOTA, ino);
}

static size_t q_encode(const struct meta_quota *q, uint8_t *b)
{
    b[0] = META_REC_V1;
    b[1] = 0;
    meta_put64(b + 2, q->hard_bytes);
    meta_put64(b + 10, q->soft_bytes);
    meta_put64(b + 18, q->hard_inodes);
    meta_put64(b + 26, q->soft_inodes);
    meta_put32(b + 34, q->grace_s);
    meta_put64(b + 38, q->bytes_over_since);
    meta_put64(b + 46, q->inodes_over_since);
    meta_put64(b + 54, q->used_bytes);
    meta_put64(b + 62, q->used_inodes);
    return QUOTA_REC_LEN;
}

/* 0, -ENOENT (no quota on ino), META_ECORRUPT, META_EDB */
static int q_load(struct meta *m, uint64_t ino, struct meta_quota *q)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    key_quota(&k, ino);
    int rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    const uint8_t *b = (const uint8_t *)v;
    int ok = vlen == QUOTA_REC_LEN && b[0] == META_REC_V1;
    if (ok) {
        memset(q, 0, sizeof(*q));
        q->ino = ino;
        q->hard_bytes = meta_get64(b + 2);
        q->soft_bytes = meta_get64(b + 10);
        q->hard_inodes = meta_get64(b + 18);
        q->soft_inodes = meta_get64(b + 26);
        q->grace_s = meta_get32(b + 34);
        q->bytes_over_since = meta_get64(b + 38);
        q->inodes_over_since = meta_get64(b + 46);
        q->used_bytes = meta_get64(b + 54);
        q->used_inodes = meta_get64(b + 62);
    }
    rocksdb_free(v);
    return ok ? 0 : META_CORRUPT(m, "quota record");
}

static void q_store(struct meta *m, const struct meta_quota *q)
{
    uint8_t b[QUOTA_REC_LEN];
    struct meta_key k;
    key_quota(&k, q->ino);
    meta_kv_put(m, &k, b, q_encode(q, b));
}

typedef int (*q_fn)(struct meta *m, struct meta_quota *q, void *ctx);

int meta_quota_load(struct meta *m)
{
    uint8_t pfx = META_K_QUOTA;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    if (!it)
        return -ENOMEM;
    size_t klen = 0;
    m->has_quotas =
        rocksdb_iter_valid(it) && ((const uint8_t *)rocksdb_iter_key(it, &klen))[0] == META_K_QUOTA;
    rocksdb_iter_destroy(it);
    return 0;
}

/* Calls fn for every quota on dir and the directories above it. Without any
 * quota in the database (the common case) it walks nothing: creates and
 * size changes then cost no ancestor lookups. */
static int q_walk(struct meta *m, uint64_t dir, q_fn fn, void *ctx)
{
    if (!m->has_quotas)
        return 0;
    struct meta_inode *in = malloc(sizeof(*in));
    if (!in)
        return -ENOMEM;
    int rc = 0;
    for (int depth = 0; dir && depth < QUOTA_DEPTH; depth++) {
        struct meta_quota q;
        rc = q_load(m, dir, &q);
        if (rc == 0)
            rc = fn(m, &q, ctx);
        else if (rc == -ENOENT)
            rc = 0;
        if (rc < 0 || dir == META_ROOT_INO)
            break;
        rc = meta_inode_load(m, dir, in);
        if (rc == -ENOENT) {
            rc = 0;
            break;
        }
        if (rc < 0)
            break;
        dir = S_ISDIR(in->a.mode) ? in->a.parent : 0;
    }
    free(in);
    return rc;
}

static uint64_t now_s(void)
{
    struct timespec ts;
    meta_now(&ts);
    return (uint64_t)ts.tv_sec;
}

struct charge {
    int64_t bytes, inodes;
};

static uint64_t add_signed(uint64_t v, int64_t d)
{
    if (d < 0)
        return (uint64_t)-d > v ? 0 : v - (uint64_t)-d;
    return v + (uint64_t)d;
}

static int charge_fn(struct meta *m, struct meta_quota *q, void *ctx)
{
    const struct charge *c = ctx;
    uint64_t t = now_s();
    q->used_bytes = add_signed(q->used_bytes, c->bytes);
    q->used_inodes = add_signed(q->used_inodes, c->inodes);
    /* the grace period of a soft limit starts when usage goes over it */
    if (q->soft_bytes && q->used_bytes > q->soft_bytes) {
        if (!q->bytes_over_since)
            q->bytes_over_since = t;
    } else {
        q->bytes_over_since = 0;
    }
    if (q->soft_inodes && q->used_inodes > q->soft_inodes) {
        if (!q->inodes_over_since)
            q->inodes_over_since = t;
    } else {
        q->inodes_over_since = 0;
    }
    q_store(m, q);
    return 0;
}

int meta_quota_charge(struct meta *m, uint64_t dir, int64_t bytes, int64_t inodes)
{
    if (!dir || (bytes == 0 && inodes == 0))
        return 0;
    struct charge c = {bytes, inodes};
    return q_walk(m, dir, charge_fn, &c);
}

static int check_fn(struct meta *m, struct meta_quota *q, void *ctx)
{
    (void)m;
    const struct charge *c = ctx;
    uint64_t t = now_s();
    if (c->bytes > 0) {
        uint64_t after = q->used_bytes + (uint64_t)c->bytes;
        if (q->hard_bytes && after > q->hard_bytes)
            return -EDQUOT;
        if (q->soft_bytes && after > q->soft_bytes && q->bytes_over_since &&
            t >= q->bytes_over_since + q->grace_s)
            return -EDQUOT;
    }
    if (c->inodes > 0) {
        uint64_t after = q->used_inodes + (uint64_t)c->inodes;
        if (q->hard_inodes && after > q->hard_inodes)
            return -EDQUOT;
        if (q->soft_inodes && after > q->soft_inodes && q->inodes_over_since &&
            t >= q->inodes_over_since + q->grace_s)
            return -EDQUOT;
    }
    return 0;
}

int meta_quota_check(struct meta *m, uint64_t dir, uint64_t bytes, uint64_t inodes)
{
    if (!dir || (bytes == 0 && inodes == 0))
        return 0;
    struct charge c = {(int64_t)bytes, (int64_t)inodes};
    return q_walk(m, dir, check_fn, &c);
}

static int any_fn(struct meta *m, struct meta_quota *q, void *ctx)
{
    (void)m;
    (void)q;
    *(int *)ctx = 1;
    return 1; /* stop: one is enough */
}

/* 1 if dir or a directory above it has a quota */
static int has_quota(struct meta *m, uint64_t dir)
{
    int any = 0;
    int rc = q_walk(m, dir, any_fn, &any);
    return rc < 0 ? rc : any;
}

int meta_quota_subtree(struct meta *m, uint64_t dir, uint64_t *bytes, uint64_t *inodes)
{
    /* an explicit stack of directories; every entry below counts once */
    size_t cap = 64, n = 0;
    uint64_t *stack = malloc(cap * sizeof(*stack));
    if (!stack)
        return -ENOMEM;
    stack[n++] = dir;
    int rc = 0;
    while (n > 0 && rc >= 0) {
        uint64_t cur = stack[--n];
        struct meta_key pfx;
        meta_key_ino(&pfx, META_K_DENTRY, cur);
        rocksdb_iterator_t *it = meta_iter_open(m, pfx.b, pfx.len);
        if (!it) {
            rc = -ENOMEM;
            break;
        }
        for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t klen, vlen;
            const char *k = rocksdb_iter_key(it, &klen);
            const char *v = rocksdb_iter_value(it, &vlen);
            if (klen <= pfx.len || memcmp(k, pfx.b, pfx.len) != 0)
                break;
            struct meta_dentry d;
            rc = meta_dentry_decode(m, (const uint8_t *)v, vlen, &d);
            if (rc < 0)
                break;
            (*inodes)++;
            if (d.type == (S_IFDIR >> 12)) {
                if (n == cap) {
                    uint64_t *ns = realloc(stack, cap * 2 * sizeof(*ns));
                    if (!ns) {
                        rc = -ENOMEM;
                        break;
                    }
                    stack = ns;
                    cap *= 2;
                }
                stack[n++] = d.ino;
            } else if (d.type == (S_IFREG >> 12)) {
                struct meta_attr a;
                if (meta_getattr(m, d.ino, &a) == 0 && a.parent == cur)
                    *bytes += a.size; /* a hard link counts where it is accounted */
            }
        }
        rocksdb_iter_destroy(it);
    }
    free(stack);
    return rc < 0 ? rc : 0;
}

int meta_quota_move(struct meta *m, uint64_t ino, uint64_t from, uint64_t to, uint64_t size,
                    int is_dir)
{
    if (from == to)
        return 0;
    int a = has_quota(m, from), b = has_quota(m, to);
    if (a < 0 || b < 0)
        return a < 0 ? a : b;
    if (!a && !b)
        return 0;
    uint64_t bytes = size, inodes = 1;
    if (is_dir) {
        int rc = meta_quota_subtree(m, ino, &bytes, &inodes);
        if (rc < 0)
            return rc;
    }
    int rc = meta_quota_charge(m, from, -(int64_t)bytes, -(int64_t)inodes);
    return rc < 0 ? rc : meta_quota_charge(m, to, (int64_t)bytes, (int64_t)inodes);
}

int meta_quota_set(struct meta *m, uint64_t dir, const struct meta_quota *lim)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    struct meta_attr a;
    rc = meta_getattr(m, dir, &a);
    if (rc == 0 && !S_ISDIR(a.mode))
        rc = -ENOTDIR;
    struct meta_quota q;
    if (rc == 0) {
        rc = q_load(m, dir, &q);
        if (rc == -ENOENT) { /* a new quota: count what is there */
            memset(&q, 0, sizeof(q));
            q.ino = dir;
            rc = meta_quota_subtree(m, dir, &q.used_bytes, &q.used_inodes);
        }
    }
    if (rc == 0) {
        m->has_quotas = true; /* stays set after a rollback or removal: only costs walks */
        q.hard_bytes = lim->hard_bytes;
        q.soft_bytes = lim->soft_bytes;
        q.hard_inodes = lim->hard_inodes;
        q.soft_inodes = lim->soft_inodes;
        q.grace_s = lim->grace_s;
        struct charge none = {0, 0};
        rc = charge_fn(m, &q, &none); /* starts or ends the grace period, stores */
    }
    return meta_op_end(m, rc);
}

int meta_quota_get(struct meta *m, uint64_t dir, struct meta_quota *out)
{
    return q_load(m, dir, out);
}

int meta_quota_remove(struct meta *m, uint64_t dir)
{
    int rc = meta_op_begin(m, NULL);
    if (rc < 0)
        return rc;
    struct meta_quota q;
    rc = q_load(m, dir, &q);
    if (rc == 0) {
        struct meta_key k;
        key_quota(&k, dir);
        meta_kv_del(m, &k);
    }
    return meta_op_end(m, rc);
}

int meta_quota_nearest(struct meta *m, uint64_t dir, struct meta_quota *out)
{
    struct meta_quota *found = out;
    int got = 0;
    struct meta_inode *in = malloc(sizeof(*in));
    if (!in)
        return -ENOMEM;
    int rc = 0;
    for (int depth = 0; dir && depth < QUOTA_DEPTH && !got; depth++) {
        rc = q_load(m, dir, found);
        if (rc == 0) {
            got = 1;
            break;
        }
        if (rc != -ENOENT || dir == META_ROOT_INO)
            break;
        rc = meta_inode_load(m, dir, in);
        if (rc < 0)
            break;
        dir = S_ISDIR(in->a.mode) ? in->a.parent : 0;
    }
    free(in);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    return got ? 0 : -ENOENT;
}

int meta_quota_list(struct meta *m, int (*fn)(void *ctx, const struct meta_quota *q), void *ctx)
{
    uint8_t pfx = META_K_QUOTA;
    rocksdb_iterator_t *it = meta_iter_open(m, &pfx, 1);
    int rc = 0;
    if (!it)
        return -ENOMEM;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        if (klen < 1 || k[0] != pfx)
            break;
        struct meta_quota q;
        rc = klen == 9 ? q_load(m, meta_get_be64(k + 1), &q) : META_CORRUPT(m, "quota key");
        if (rc < 0)
            break;
        rc = fn(ctx, &q);
        if (rc)
            break;
    }
    rocksdb_iter_destroy(it);
    return rc < 0 ? rc : 0;
}
