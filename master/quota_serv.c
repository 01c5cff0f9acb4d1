/*
 * quota_serv.c - `cairn quota ...` on the master (ADM_QUOTA) and the quota
 * seen by `df` inside a directory (STATFS_DIR); the accounting itself is
 * in the metadata layer (quota.c), inside the turns of the changes.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "master_int.h"

#define MOD "quota"

static json_t *quota_obj(struct master *M, const struct meta_quota *q)
{
    char path[4096];
    if (meta_ino_path(M->meta, q->ino, path, sizeof(path)) != 0)
        snprintf(path, sizeof(path), "?");
    return json_pack("{s:s, s:I, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:I}", "path",
                     path, "ino", (json_int_t)q->ino, "bytes", "used", (json_int_t)q->used_bytes,
                     "soft", (json_int_t)q->soft_bytes, "hard", (json_int_t)q->hard_bytes,
                     "over_since", (json_int_t)q->bytes_over_since, "inodes", "used",
                     (json_int_t)q->used_inodes, "soft", (json_int_t)q->soft_inodes, "hard",
                     (json_int_t)q->hard_inodes, "over_since", (json_int_t)q->inodes_over_since,
                     "grace", (json_int_t)q->grace_s);
}

static int list_fn(void *ctx, const struct meta_quota *q)
{
    struct master *M = *(struct master **)ctx;
    json_array_append_new(((json_t **)ctx)[1], quota_obj(M, q));
    return 0;
}

char *quota_json(struct master *M, const struct cn_adm_quota *r, int *err)
{
    json_t *o = NULL;
    int rc = 0;
    if (r->op == 4) {
        void *ctx[2] = {M, json_array()};
        rc = meta_quota_list(M->meta, list_fn, ctx);
        o = json_pack("{s:o}", "quotas", ctx[1]);
    } else if (r->op >= 1 && r->op <= 3) {
        struct meta_attr a;
        rc = admin_resolve(M, r->path, &a, NULL);
        if (!rc && !S_ISDIR(a.mode))
            rc = -ENOTDIR;
        struct meta_quota q = {0};
        if (!rc && r->op == 1) {
            /* all-ones: keep what the quota has (a new one: no limit) */
            struct meta_quota lim = {0};
            if (!rc && meta_quota_get(M->meta, a.ino, &lim) == -ENOENT)
                memset(&lim, 0, sizeof(lim));
            lim.ino = a.ino;
            if (r->hard_bytes != UINT64_MAX)
                lim.hard_bytes = r->hard_bytes;
            if (r->soft_bytes != UINT64_MAX)
                lim.soft_bytes = r->soft_bytes;
            if (r->hard_inodes != UINT64_MAX)
                lim.hard_inodes = r->hard_inodes;
            if (r->soft_inodes != UINT64_MAX)
                lim.soft_inodes = r->soft_inodes;
            if (r->grace_s != UINT32_MAX)
                lim.grace_s = r->grace_s;
            if (lim.soft_bytes && lim.hard_bytes && lim.soft_bytes > lim.hard_bytes)
                rc = -EINVAL;
            if (lim.soft_inodes && lim.hard_inodes && lim.soft_inodes > lim.hard_inodes)
                rc = -EINVAL;
            if (!rc)
                rc = turn_begin(M);
            if (!rc)
                rc = meta_quota_set(M->meta, a.ino, &lim);
            if (!rc)
                rc = meta_quota_get(M->meta, a.ino, &q);
            if (!rc)
                cn_log_info(MOD,
                            "quota on inode %llu: bytes %llu/%llu, inodes %llu/%llu, grace %us",
                            (unsigned long long)a.ino, (unsigned long long)q.soft_bytes,
                            (unsigned long long)q.hard_bytes, (unsigned long long)q.soft_inodes,
                            (unsigned long long)q.hard_inodes, q.grace_s);
        } else if (!rc && r->op == 2) {
            rc = meta_quota_get(M->meta, a.ino, &q);
        } else if (!rc) {
            rc = turn_begin(M);
            if (!rc)
                rc = meta_quota_get(M->meta, a.ino, &q);
            if (!rc)
                rc = meta_quota_remove(M->meta, a.ino);
        }
        if (!rc)
            o = quota_obj(M, &q);
        if (o && r->op == 3)
            json_object_set_new(o, "removed", json_true());
    } else {
        rc = -EINVAL;
    }
    if (rc) {
        json_decref(o);
        *err = rc;
        return NULL;
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        *err = -ENOMEM;
    return s;
}

int quota_statfs(struct master *M, uint64_t ino, struct cn_statfs_r *sr)
{
    struct meta_attr a;
    int rc = meta_getattr(M->meta, ino, &a);
    if (rc)
        return rc;
    uint64_t dir = S_ISDIR(a.mode) ? a.ino : a.parent;
    struct meta_quota q;
    rc = meta_quota_nearest(M->meta, dir, &q);
    if (rc == -ENOENT)
        return 0; /* no quota above: the cluster's numbers stand */
    if (rc)
        return rc;
    uint64_t lim = q.hard_bytes ? q.hard_bytes : q.soft_bytes;
    if (lim) {
        uint64_t left = lim > q.used_bytes ? lim - q.used_bytes : 0;
        sr->total = lim;
        if (left < sr->free)
            sr->free = left;
        if (left < sr->avail)
            sr->avail = left;
    }
    uint64_t ilim = q.hard_inodes ? q.hard_inodes : q.soft_inodes;
    if (ilim) {
        sr->files = ilim;
        sr->ffree = ilim > q.used_inodes ? ilim - q.used_inodes : 0;
    }
    return 0;
}
