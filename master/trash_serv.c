/*
 * trash_serv.c - `cairn trash ...` and `cairn trashtime ...` on the master
 * (ADM_TRASH, ADM_TRASHTIME), and the expiry of the trash (docs/master.md,
 * "Trash").
 *
 * Listing and restoring by path rebuild each item's original path through
 * the trashed directories above it (meta_trash_path); restoring a path
 * restores every item at or below it, directories first, so `rm -rf DIR`
 * is undone by `cairn trash restore DIR`. Everything runs in the loop;
 * mutations go into the open turn and the reply waits for its commit.
 */
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD          "trash"
#define EXPIRE_BATCH 1000 /* items freed per turn by the expiry */
#define PATH_MAX_LEN 4096

struct titem {
    struct meta_trash_item it;
    char *path;
};

struct tlist {
    struct master *M;
    struct titem *v;
    size_t n, cap;
    int err;
};

static int collect(void *ctx, const struct meta_trash_item *it)
{
    struct tlist *l = ctx;
    char path[PATH_MAX_LEN];
    int rc = meta_trash_path(l->M->meta, it, path, sizeof(path));
    if (rc < 0)
        snprintf(path, sizeof(path), "?/%s", it->name);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = cn_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].it = *it;
    l->v[l->n].path = cn_xstrdup(path);
    l->n++;
    return 0;
}

static void tlist_free(struct tlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
}

static int by_path_len(const void *a, const void *b)
{
    size_t la = strlen(((const struct titem *)a)->path),
           lb = strlen(((const struct titem *)b)->path);
    return la < lb ? -1 : la > lb;
}

static json_t *item_json(const struct titem *t)
{
    static const char *kinds[] = {"?", "file", "dir", "symlink"};
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "id", (json_int_t)t->it.ino, "path", t->path,
                     "kind", kinds[t->it.kind <= 3 ? t->it.kind : 0], "size",
                     (json_int_t)t->it.size, "deleted_at", (json_int_t)t->it.deleted_s,
                     "expires_at", (json_int_t)t->it.expires_s);
}

/* 1 if path is `top` or lies below it */
static int under(const char *path, const char *top)
{
    size_t n = strlen(top);
    while (n > 1 && top[n - 1] == '/')
        n--;
    return strncmp(path, top, n) == 0 && (path[n] == 0 || path[n] == '/' || n == 1);
}

static char *dumps(json_t *o, int *err)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        *err = -ENOMEM;
    return s;
}

static char *do_restore(struct master *M, const struct cn_adm_trash *r, struct tlist *l, int *err)
{
    uint64_t to = 0;
    char top[PATH_MAX_LEN] = "";
    if (r->to.len) {
        struct meta_attr a;
        int rc = admin_resolve(M, r->to, &a, NULL);
        if (rc == 0 && !S_ISDIR(a.mode))
            rc = -ENOTDIR;
        if (rc) {
            *err = rc;
            return NULL;
        }
        to = a.ino;
    }
    if (!r->id) {
        if (r->path.len == 0 || r->path.len >= sizeof(top)) {
            *err = -EINVAL;
            return NULL;
        }
        memcpy(top, r->path.ptr, r->path.len);
        top[r->path.len] = 0;
    }
    int rc = turn_begin(M);
    if (rc) {
        *err = rc;
        return NULL;
    }
    /* directories before what they held: shorter paths first */
    qsort(l->v, l->n, sizeof(*l->v), by_path_len);
    json_t *done = json_array(), *errs = json_array();
    size_t matched = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct titem *t = &l->v[i];
        if (r->id ? t->it.ino != r->id : !under(t->path, top))
            continue;
        matched++;
        struct meta_trash_item still;
        if (meta_trash_get(M->meta, t->it.ino, &still) != 0)
            continue; /* restored already, as the directory of an earlier one */
        /* --to takes the top of what is restored; the rest follows its directories */
        uint64_t dest = 0;
        if (to) {
            int inside = 0;
            for (size_t k = 0; k < i && !inside; k++)
                inside = l->v[k].it.ino == t->it.parent && (r->id ? 0 : under(l->v[k].path, top));
            dest = inside ? 0 : to;
        }
        rc = meta_trash_restore(M->meta, t->it.ino, dest);
        if (rc == 0)
            json_array_append_new(
                done, json_pack("{s:I, s:s}", "id", (json_int_t)t->it.ino, "path", t->path));
        else
            json_array_append_new(errs,
                                  json_pack("{s:I, s:s, s:s}", "id", (json_int_t)t->it.ino, "path",
                                            t->path, "error",
                                            rc == -EEXIST   ? "the name is taken"
                                            : rc == -ENOENT ? "its directory is gone (use --to)"
                                                            : meta_strerror(rc)));
    }
    if (!matched) {
        json_decref(done);
        json_decref(errs);
        *err = -ENOENT;
        return NULL;
    }
    cn_log_info(MOD, "restored %zu of %zu items (%s)", json_array_size(done), matched,
                r->id ? "by id" : top);
    return dumps(json_pack("{s:o, s:o}", "restored", done, "errors", errs), err);
}

char *trash_json(struct master *M, const struct cn_adm_trash *r, int *err)
{
    struct tlist l = {.M = M};
    char *out = NULL;
    if (r->op == 3 && (r->all || r->id)) { /* purge */
        int rc = turn_begin(M);
        size_t n = 0;
        if (!rc && r->id) {
            rc = meta_trash_purge(M->meta, r->id, &M->turn.freed);
            n = rc == 0;
        } else if (!rc) {
            rc = meta_trash_list(M->meta, collect, &l);
            for (size_t i = 0; rc == 0 && i < l.n; i++) {
                rc = meta_trash_purge(M->meta, l.v[i].it.ino, &M->turn.freed);
                if (rc == -ENOENT)
                    rc = 0; /* went with its directory? never: items are independent */
                else if (rc == 0)
                    n++;
            }
        }
        tlist_free(&l);
        if (rc) {
            *err = rc;
            return NULL;
        }
        cn_log_info(MOD, "purged %zu items", n);
        return dumps(json_pack("{s:I}", "purged", (json_int_t)n), err);
    }
    if (r->op != 1 && r->op != 2) {
        *err = -EINVAL;
        return NULL;
    }
    int rc = meta_trash_list(M->meta, collect, &l);
    if (rc) {
        tlist_free(&l);
        *err = rc;
        return NULL;
    }
    if (r->op == 2) {
        out = do_restore(M, r, &l, err);
    } else {
        char pat[PATH_MAX_LEN] = "";
        if (r->path.len >= sizeof(pat)) {
            tlist_free(&l);
            *err = -ENAMETOOLONG;
            return NULL;
        }
        memcpy(pat, r->path.ptr, r->path.len);
        pat[r->path.len] = 0;
        json_t *a = json_array();
        for (size_t i = 0; i < l.n; i++)
            if (!pat[0] || fnmatch(pat, l.v[i].path, 0) == 0 || under(l.v[i].path, pat))
                json_array_append_new(a, item_json(&l.v[i]));
        out = dumps(json_pack("{s:o}", "trash", a), err);
    }
    tlist_free(&l);
    return out;
}

/* -r: every entry below dir gets the same explicit trashtime */
static int set_tree(struct master *M, uint64_t dir, int64_t secs, uint64_t *changed);

struct kids {
    uint64_t *v;
    size_t n, cap;
};

static int kid(void *ctx, const char *name, size_t nlen, uint64_t ino, uint32_t type)
{
    struct kids *k = ctx;
    (void)name;
    (void)nlen;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 64;
        k->v = cn_xrealloc(k->v, k->cap * sizeof(*k->v));
    }
    k->v[k->n++] = ino | ((uint64_t)(type == (S_IFDIR >> 12)) << 63);
    return 0;
}

static int set_tree(struct master *M, uint64_t dir, int64_t secs, uint64_t *changed)
{
    struct kids k = {0};
    int rc = meta_readdir(M->meta, dir, NULL, kid, &k);
    for (size_t i = 0; rc >= 0 && i < k.n; i++) {
        uint64_t ino = k.v[i] & ~(1ull << 63);
        rc = meta_trashtime_set(M->meta, ino, secs);
        if (rc == 0)
            (*changed)++;
        if (rc == 0 && (k.v[i] >> 63))
            rc = set_tree(M, ino, secs, changed);
    }
    free(k.v);
    return rc < 0 ? rc : 0;
}

char *trashtime_json(struct master *M, const struct cn_adm_trashtime *r, int *err)
{
    struct meta_attr a;
    uint64_t parent = 0, changed = 0;
    int rc = admin_resolve(M, r->path, &a, &parent);
    if (!rc && r->op != 0) {
        int64_t secs = r->op == 2 ? -1 : (int64_t)r->seconds;
        if (r->seconds > UINT32_MAX)
            rc = -EINVAL;
        if (!rc)
            rc = turn_begin(M);
        if (!rc)
            rc = meta_trashtime_set(M->meta, a.ino, secs);
        if (!rc)
            changed = 1;
        if (!rc && r->recursive && S_ISDIR(a.mode))
            rc = set_tree(M, a.ino, secs, &changed);
    }
    uint32_t secs = 0;
    int own = 0;
    if (!rc)
        rc = meta_trashtime_get(M->meta, a.ino, parent, &secs, &own);
    if (rc) {
        *err = rc;
        return NULL;
    }
    return dumps(json_pack("{s:s#, s:I, s:b, s:I}", "path", r->path.ptr, (int)r->path.len,
                           "trashtime", (json_int_t)secs, "explicit", own, "changed",
                           (json_int_t)changed),
                 err);
}

void trash_tick(struct master *M, uint64_t now_ms)
{
    if (now_ms - M->last_trash_ms < 1000)
        return;
    M->last_trash_ms = now_ms;
    if (turn_begin(M))
        return;
    int n =
        meta_trash_expire(M->meta, (uint64_t)(cn_wall_ms() / 1000), EXPIRE_BATCH, &M->turn.freed);
    if (n > 0)
        cn_log_info(MOD, "%d trash items expired and freed", n);
    else if (n < 0)
        cn_log_error(MOD, "trash expiry: %s (%s)", meta_strerror(n), meta_last_error(M->meta));
}
