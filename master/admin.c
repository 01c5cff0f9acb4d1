/*
 * admin.c - answers to the admin requests (ADM_STATUS, ADM_SERVERS,
 * ADM_DISKS, ADM_INFO) as JSON objects built with jansson, never printf.
 *
 * Chunk health is computed on demand by walking the whole chunk table and
 * counting each chunk's live copies (online servers) of its committed
 * version against its class's copies (class_serv.c; the default class
 * follows GOAL): ok (goal met), overgoal (more), undergoal (fewer,
 * but at least 2), endangered (exactly 1: one failure from loss), lost
 * (none). That walk is O(chunks) on the loop thread, acceptable for an
 * operator's command up to a few million chunks. Chunks never committed (a
 * first write in progress) hold no data yet and are counted apart as
 * "empty". The health loop's queues, rates and lost chunks come from
 * health.c; per-disk part counts from one walk of the location table.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "master_int.h"

struct hclass {
    const struct cls_rt *cls;
    json_int_t chunks, ok, under, misplaced, lost;
};

struct hcount {
    struct master *M;
    json_int_t ok, over, under, endangered, lost, empty, misplaced;
    struct hclass by[64]; /* per class; more classes than that share the last slot */
    size_t nby;
};

static struct hclass *by_class(struct hcount *h, const struct cls_rt *r)
{
    for (size_t i = 0; i < h->nby; i++)
        if (h->by[i].cls == r)
            return &h->by[i];
    if (h->nby == 64)
        return &h->by[63];
    memset(&h->by[h->nby], 0, sizeof(h->by[0]));
    h->by[h->nby].cls = r;
    return &h->by[h->nby++];
}

static int health_fn(void *ctx, const struct meta_chunk *c)
{
    struct hcount *h = ctx;
    if (!c->committed_version) {
        h->empty++;
        return 0;
    }
    struct chunk_goal g;
    class_goal(h->M, c, 0, &g);
    unsigned live = 0, home = 0;
    uint64_t parts = 0;
    struct cs_chunk_locs *e = cs_locs_get(h->M, c->id);
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version != c->committed_version || cs_loc_state(l) != CS_ONLINE)
            continue;
        live++;
        home += class_loc_home(&g, l->srv, l->disk);
        if (l->part < 64)
            parts |= 1ull << l->part;
    }
    if (g.ec) { /* distinct parts: K + M ok, more than K under goal, K endangered */
        unsigned k = g.layout.k, p = (unsigned)__builtin_popcountll(parts);
        struct hclass *b = by_class(h, g.cls);
        b->chunks++;
        if (home < live) {
            h->misplaced++;
            b->misplaced++;
        }
        if (p >= g.copies) {
            h->ok++;
            b->ok++;
        } else if (p > k) {
            h->under++;
            b->under++;
        } else if (p == k) {
            h->endangered++;
            b->under++;
        } else {
            h->lost++;
            b->lost++;
        }
        return 0;
    }
    struct hclass *b = by_class(h, g.cls);
    b->chunks++;
    if (home < live && home < g.copies) {
        h->misplaced++;
        b->misplaced++;
    }
    if (live == 0)
        b->lost++;
    else if (live < g.copies)
        b->under++;
    else
        b->ok++;
    if (live > g.copies)
        h->over++;
    else if (live == g.copies)
        h->ok++;
    else if (live >= 2)
        h->under++;
    else if (live == 1)
        h->endangered++;
    else
        h->lost++;
    return 0;
}

/* Per disk: parts the master knows there, and parts whose chunk would
 * drop below its goal without them (not yet safe to pull). */
struct disk_count {
    uint64_t parts, needed;
};
struct disk_counts {
    struct disk_count **v; /* [server index][disk index] */
};

static size_t server_index(const struct cs_registry *g, const struct cs_server *s)
{
    size_t i = 0;
    while (i < g->nservers && g->servers[i] != s)
        i++;
    return i;
}

static void count_disks(struct master *M, struct disk_counts *dc)
{
    struct cs_registry *g = &M->reg;
    dc->v = calloc(g->nservers ? g->nservers : 1, sizeof(*dc->v));
    if (!dc->v)
        return;
    for (size_t i = 0; i < g->nservers; i++)
        dc->v[i] = calloc(g->servers[i]->ndisks ? g->servers[i]->ndisks : 1, sizeof(**dc->v));
    for (size_t b = 0; b < g->nbuckets; b++) {
        for (struct cs_chunk_locs *e = g->buckets[b]; e; e = e->next) {
            struct meta_chunk mc;
            struct chunk_goal cg;
            unsigned goal = (unsigned)M->cfg.goal;
            if (meta_chunk_get(M->meta, e->chunk, &mc) == 0) {
                class_goal(M, &mc, 0, &cg);
                goal = cg.copies;
            }
            for (uint32_t i = 0; i < e->n; i++) {
                const struct cs_loc *l = &e->v[i];
                size_t si = server_index(g, l->srv);
                if (si == g->nservers || !dc->v[si] || l->disk >= l->srv->ndisks)
                    continue;
                struct disk_count *d = &dc->v[si][l->disk];
                d->parts++;
                /* the goal must be met by copies of this version elsewhere, not leaving */
                unsigned keep = 0;
                for (uint32_t k = 0; k < e->n; k++)
                    if (k != i && e->v[k].version == l->version &&
                        cs_loc_state(&e->v[k]) != CS_LOST && !cs_loc_leaving(&e->v[k]))
                        keep++;
                if (keep < goal)
                    d->needed++;
            }
        }
    }
}

static void free_counts(struct master *M, struct disk_counts *dc)
{
    for (size_t i = 0; dc->v && i < M->reg.nservers; i++)
        free(dc->v[i]);
    free(dc->v);
}

static json_t *disk_json(const struct cs_server *s, uint32_t k, const struct disk_count *cnt)
{
    static const char *states[] = {"ok", "read-only", "draining", "failed", "missing"};
    const struct cs_disk_info *d = &s->disks[k];
    char uuid[33];
    for (int i = 0; i < 16; i++)
        snprintf(uuid + 2 * i, 3, "%02x", d->uuid[i]);
    int leaving = cs_disk_leaving(s, d);
    const char *mark = d->state == 2 ? "config" : (d->marked || s->marked) ? "master" : "none";
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:b, s:s}", "uuid", uuid,
                          "path", d->path, "labels", d->labels, "total", (json_int_t)d->total,
                          "used", (json_int_t)d->used, "free", (json_int_t)d->free, "state",
                          d->state < 5 ? states[d->state] : "unknown", "index", (json_int_t)k,
                          "leaving", leaving, "mark", mark);
    if (cnt) {
        json_object_set_new(o, "parts", json_integer((json_int_t)cnt->parts));
        json_object_set_new(o, "parts_needed", json_integer((json_int_t)cnt->needed));
        json_object_set_new(o, "safe_to_pull", json_boolean(leaving && cnt->needed == 0));
    }
    return o;
}

static json_t *server_json(const struct cs_server *s, const struct disk_count *cnt)
{
    json_t *disks = json_array();
    uint64_t total = 0, free_b = 0;
    for (uint32_t i = 0; i < s->ndisks; i++) {
        json_array_append_new(disks, disk_json(s, i, cnt ? &cnt[i] : NULL));
        total += s->disks[i].total;
        free_b += s->disks[i].free;
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:o}", "id", (json_int_t)s->id,
                     "name", s->name, "state", cs_state_name(s->state), "addr",
                     s->addr ? s->addr : "", "labels", s->labels ? s->labels : "", "parts",
                     (json_int_t)s->nparts, "total", (json_int_t)total, "free", (json_int_t)free_b,
                     "leaving", s->marked, "disks", disks);
}

static json_t *servers_json(struct master *M)
{
    struct disk_counts dc;
    count_disks(M, &dc);
    json_t *a = json_array();
    for (size_t i = 0; i < M->reg.nservers; i++)
        json_array_append_new(a, server_json(M->reg.servers[i], dc.v ? dc.v[i] : NULL));
    free_counts(M, &dc);
    return a;
}

static json_t *metaloggers_json(struct master *M)
{
    json_t *a = json_array();
    uint64_t head = meta_changelog_seq(M->meta);
    for (struct ml_known *k = M->mls; k; k = k->next) {
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:b, s:I, s:I, s:f, s:I}", "name", k->name, "addr", k->addr,
                         "connected", k->connected, "seq", (json_int_t)k->acked, "lag_entries",
                         (json_int_t)(head - k->acked), "lag_seconds", mlserv_lag_seconds(M, k),
                         "snapshots", (json_int_t)k->snapshots));
    }
    return a;
}

static json_t *status_json(struct master *M, int *err)
{
    struct hcount h = {.M = M};
    struct meta_statfs st;
    int rc = meta_chunk_iter(M->meta, 0, health_fn, &h);
    if (!rc)
        rc = meta_statfs(M->meta, &st);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    uint64_t total = 0, free_b = 0;
    for (size_t i = 0; i < M->reg.nservers; i++) {
        struct cs_server *s = M->reg.servers[i];
        if (s->state != CS_ONLINE)
            continue;
        for (uint32_t k = 0; k < s->ndisks; k++) {
            total += s->disks[k].total;
            free_b += s->disks[k].free;
        }
    }
    json_t *o = json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
        "s:o}",
        "chunks", "ok", h.ok, "overgoal", h.over, "undergoal", h.under, "endangered", h.endangered,
        "lost", h.lost, "empty", h.empty, "goal", (json_int_t)M->cfg.goal, "inodes",
        (json_int_t)st.inodes, "used_bytes", (json_int_t)st.used_bytes, "total", (json_int_t)total,
        "free", (json_int_t)free_b, "commits", (json_int_t)M->turn.commits, "health",
        health_json(M), "lost_chunks", health_lost_json(M), "servers", servers_json(M));
    if (o) {
        json_object_set_new(json_object_get(o, "chunks"), "misplaced", json_integer(h.misplaced));
        json_t *cl = json_array();
        for (size_t i = 0; i < h.nby; i++)
            json_array_append_new(cl, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "name",
                                                h.by[i].cls->c.name, "chunks", h.by[i].chunks, "ok",
                                                h.by[i].ok, "undergoal", h.by[i].under, "misplaced",
                                                h.by[i].misplaced, "lost", h.by[i].lost));
        json_object_set_new(o, "classes", cl);
        json_object_set_new(o, "seq", json_integer((json_int_t)meta_changelog_seq(M->meta)));
        json_object_set_new(o, "changelog_first",
                            json_integer((json_int_t)meta_changelog_first(M->meta)));
        json_object_set_new(o, "metaloggers", metaloggers_json(M));
    }
    return o;
}

static json_t *disks_json(struct master *M)
{
    struct disk_counts dc;
    count_disks(M, &dc);
    json_t *a = json_array();
    for (size_t i = 0; i < M->reg.nservers; i++) {
        struct cs_server *s = M->reg.servers[i];
        for (uint32_t k = 0; k < s->ndisks; k++) {
            json_t *d = disk_json(s, k, dc.v && dc.v[i] ? &dc.v[i][k] : NULL);
            json_object_set_new(d, "server", json_string(s->name));
            json_object_set_new(d, "server_state", json_string(cs_state_name(s->state)));
            json_array_append_new(a, d);
        }
    }
    free_counts(M, &dc);
    return json_pack("{s:o}", "disks", a);
}

struct info_ctx {
    struct master *M;
    json_t *chunks;
};

/* A part's state for `cairn info`: ok, missing (its server is not
 * online), leaving (marked for removal, or outside the class's labels:
 * it is replaced, then deleted), stale (another version than the
 * committed one, deleted by the health loop). */
static const char *part_state(const struct chunk_goal *g, const struct meta_chunk *c,
                              const struct cs_loc *l)
{
    if (cs_loc_state(l) != CS_ONLINE)
        return "missing";
    if (l->version != c->committed_version)
        return "stale";
    if (cs_loc_leaving(l) || !class_loc_home(g, l->srv, l->disk))
        return "leaving";
    return "ok";
}

static int info_fn(void *ctx, const struct meta_chunk *c)
{
    struct info_ctx *x = ctx;
    json_t *parts = json_array();
    struct chunk_goal g;
    class_goal(x->M, c, c->lease == META_LEASE_WRITE, &g);
    struct cs_chunk_locs *e = cs_locs_get(x->M, c->id);
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        const char *disk = l->disk < l->srv->ndisks ? l->srv->disks[l->disk].path : "?";
        json_array_append_new(parts, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b}", "part",
                                               (json_int_t)l->part, "server", l->srv->name, "disk",
                                               disk, "state", part_state(&g, c, l), "server_state",
                                               cs_state_name(l->srv->state), "version",
                                               (json_int_t)l->version, "current",
                                               l->version == c->committed_version));
    }
    char id[17], layout[16], target[16];
    snprintf(id, sizeof(id), "%016llx", (unsigned long long)c->id);
    cn_layout_str(&g.layout, layout, sizeof(layout));
    cn_layout_str(&g.target, target, sizeof(target));
    int same =
        g.layout.kind == g.target.kind && g.layout.k == g.target.k && g.layout.m == g.target.m;
    json_array_append_new(
        x->chunks,
        json_pack("{s:I, s:s, s:I, s:s, s:o, s:s, s:I, s:I, s:b, s:I, s:o}", "index",
                  (json_int_t)c->index, "id", id, "version", (json_int_t)c->committed_version,
                  "layout", layout, "target", same ? json_null() : json_string(target), "state",
                  cn_cls_state_name(g.state), "length", (json_int_t)c->length, "live",
                  (json_int_t)cs_live_copies(x->M, c->id, c->committed_version), "leased",
                  c->lease == META_LEASE_WRITE, "goal", (json_int_t)g.copies, "parts", parts));
    return 0;
}

int admin_resolve(struct master *M, struct cn_str path, struct meta_attr *out, uint64_t *parent)
{
    char name[META_NAME_MAX + 1];
    struct meta_attr a;
    uint64_t up = META_ROOT_INO;
    int rc = meta_getattr(M->meta, META_ROOT_INO, &a);
    size_t i = 0;
    while (!rc && i < path.len) {
        while (i < path.len && path.ptr[i] == '/')
            i++;
        size_t j = i;
        while (j < path.len && path.ptr[j] != '/')
            j++;
        if (j == i)
            break;
        if (j - i > META_NAME_MAX) {
            rc = -ENAMETOOLONG;
            break;
        }
        memcpy(name, path.ptr + i, j - i);
        name[j - i] = 0;
        if (strcmp(name, ".") != 0) {
            up = a.ino;
            rc = strcmp(name, "..") == 0 ? meta_getattr(M->meta, a.parent ? a.parent : a.ino, &a)
                                         : meta_lookup(M->meta, a.ino, name, &a);
        }
        i = j;
    }
    if (!rc) {
        *out = a;
        if (parent)
            *parent = S_ISDIR(a.mode) && a.parent ? a.parent : up;
    }
    return rc;
}

static json_t *info_json(struct master *M, struct cn_str path, int *err)
{
    struct meta_attr a;
    int rc = admin_resolve(M, path, &a, NULL);
    if (rc) {
        *err = rc;
        return NULL;
    }
    json_t *o = json_pack("{s:s#, s:I, s:I, s:I, s:I, s:I}", "path", path.ptr, (int)path.len, "ino",
                          (json_int_t)a.ino, "mode", (json_int_t)a.mode, "size", (json_int_t)a.size,
                          "nlink", (json_int_t)a.nlink, "uid", (json_int_t)a.uid);
    uint32_t cls = 0;
    if (meta_class_of(M->meta, a.ino, &cls) == 0)
        json_object_set_new(o, "class", json_string(class_rt(M, cls)->c.name));
    if (S_ISREG(a.mode)) {
        struct info_ctx x = {M, json_array()};
        rc = meta_file_chunks(M->meta, a.ino, info_fn, &x);
        json_object_set_new(o, "chunks", x.chunks);
        if (rc < 0) {
            json_decref(o);
            *err = rc;
            return NULL;
        }
    }
    return o;
}

char *admin_json(struct master *M, uint16_t type, const struct cn_path_req *info, int *err)
{
    json_t *o = NULL;
    switch (type) {
    case CN_MSG_ADM_STATUS:
        o = status_json(M, err);
        break;
    case CN_MSG_ADM_SERVERS:
        o = json_pack("{s:o}", "servers", servers_json(M));
        break;
    case CN_MSG_ADM_DISKS:
        o = disks_json(M);
        break;
    case CN_MSG_ADM_INFO:
        o = info_json(M, info->path, err);
        break;
    default:
        *err = -ENOTSUP;
        return NULL;
    }
    if (!o) {
        if (!*err)
            *err = -ENOMEM;
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        *err = -ENOMEM;
    return s;
}
