/*
 * class_serv.c - storage classes in the running master: the compiled table
 * the loop reads (placement, health, info), `cairn class ...` (ADM_CLASS),
 * and the goal of a chunk (docs/master.md "Storage classes").
 *
 * The table is loaded at start and again after every change through
 * ADM_CLASS (class changes are rare; a reload reads at most 1024 small
 * records). A lookup is a linear search over a handful of classes.
 *
 * Decisions a reader must know:
 *  - Class id 0 (the default: the root of a new file system and whatever
 *    was never given a class) resolves through GOAL: GOAL = 2 is the
 *    built-in 2cp, GOAL = 3 is 3cp, any other GOAL an unnamed class
 *    "default" of copies=GOAL. So `--copies N` clusters keep their
 *    meaning and a new file system's files are in 2cp.
 *  - Until the EC data path exists, a state whose layout is ec=K+M is
 *    written and kept as copies=M+1 (the same number of failures
 *    survived); `cairn info` shows the EC layout as the target.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cn_time.h"
#include "ec.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD "class"

struct cls_table {
    struct cls_rt *v;
    size_t n;
    struct cls_rt dflt; /* id 0 when GOAL names no built-in */
};

static void compile(struct cls_rt *r)
{
    for (int s = 0; s < CN_ST_N; s++) {
        char err[160];
        if (cn_lexpr_parse(r->c.st[s].labels, &r->lx[s], err, sizeof(err)) < 0) {
            /* decode accepted it, so this cannot happen; match anything */
            cn_log_error(MOD, "class %s: %s labels: %s", r->c.name, cn_cls_state_name(s), err);
            cn_lexpr_parse("", &r->lx[s], err, sizeof(err));
        }
    }
}

static int load_fn(void *ctx, const struct cn_cls *c)
{
    struct cls_table *t = ctx;
    t->v = cn_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
    t->v[t->n].c = *c;
    compile(&t->v[t->n]);
    t->n++;
    return 0;
}

int classes_load(struct master *M)
{
    struct cls_table *t = cn_xcalloc(1, sizeof(*t));
    int rc = meta_class_list(M->meta, load_fn, t);
    if (rc < 0) {
        free(t->v);
        free(t);
        return rc;
    }
    struct cn_cls *d = &t->dflt.c;
    unsigned goal = M->cfg.goal > 0 ? (unsigned)M->cfg.goal : 1;
    snprintf(d->name, sizeof(d->name), "default");
    for (int s = CN_ST_CREATE; s <= CN_ST_KEEP; s++) {
        d->st[s].layout.kind = CN_LAYOUT_COPIES;
        d->st[s].layout.k = (uint8_t)goal;
    }
    compile(&t->dflt);
    classes_free(M);
    M->classes = t;
    return 0;
}

void classes_free(struct master *M)
{
    if (M->classes) {
        free(M->classes->v);
        free(M->classes);
        M->classes = NULL;
    }
}

static const struct cls_rt *find_id(const struct cls_table *t, uint32_t id)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (t->v[i].c.id == id)
            return &t->v[i];
    return NULL;
}

const struct cls_rt *class_rt(struct master *M, uint32_t id)
{
    const struct cls_table *t = M->classes;
    const struct cls_rt *r = NULL;
    if (id == 0) {
        if (M->cfg.goal == 2)
            r = find_id(t, CN_CLS_2CP);
        else if (M->cfg.goal == 3)
            r = find_id(t, CN_CLS_3CP);
    } else {
        r = find_id(t, id);
    }
    return r ? r : &t->dflt;
}

/* The copies layout a state is written and kept in now (see decision 2). */
static struct cn_layout as_copies(struct cn_layout l)
{
    if (l.kind == CN_LAYOUT_EC) {
        l.kind = CN_LAYOUT_COPIES;
        unsigned n = l.m + 1u;
        l.k = (uint8_t)(n > CN_CLS_MAX_COPIES ? CN_CLS_MAX_COPIES : n);
        l.m = 0;
    }
    return l;
}

void class_goal(struct master *M, const struct meta_chunk *c, int writing, struct chunk_goal *g)
{
    const struct cls_rt *r = class_rt(M, c->class_id);
    int st = writing || !c->committed_version ? CN_ST_CREATE : CN_ST_KEEP;
    if (st == CN_ST_KEEP && cn_cls_effective(&r->c, CN_ST_ARCHIVE) >= 0) {
        struct meta_attr a;
        uint64_t now_s = cn_wall_ms() / 1000;
        if (meta_getattr(M->meta, c->ino, &a) == 0 && a.mtime.tv_sec > 0 &&
            now_s >= (uint64_t)a.mtime.tv_sec + r->c.st[CN_ST_ARCHIVE].after_s)
            st = CN_ST_ARCHIVE;
    }
    /* a deleted file's chunks, kept for its trashtime, follow the trash
     * state when the class has one (a point lookup: only then) */
    if (r->c.st[CN_ST_TRASH].layout.kind != CN_LAYOUT_NONE && c->committed_version && !writing) {
        struct meta_trash_item it;
        if (meta_trash_get(M->meta, c->ino, &it) == 0)
            st = CN_ST_TRASH;
    }
    int eff = cn_cls_effective(&r->c, st);
    if (eff < 0)
        eff = CN_ST_CREATE;
    memset(g, 0, sizeof(*g));
    g->cls = r;
    g->state = st;
    g->target = r->c.st[eff].layout;
    if (c->layout[0] == CN_LAYOUT_EC) {
        /* its parts are coded: they stay so (conversion comes later) */
        g->layout = (struct cn_layout){CN_LAYOUT_EC, c->layout[1], c->layout[2]};
    } else if (!c->committed_version && !c->layout[0] && g->target.kind == CN_LAYOUT_EC &&
               class_layout_codable(&g->target, NULL, 0) == 0) {
        g->layout = g->target; /* a new chunk is written coded */
    } else {
        g->layout = as_copies(g->target);
    }
    g->ec = g->layout.kind == CN_LAYOUT_EC;
    g->copies = g->ec ? (unsigned)g->layout.k + g->layout.m : g->layout.k ? g->layout.k : 1;
    g->lx = &r->lx[eff];
    g->mode = r->c.st[eff].mode;
    g->wflags = r->c.st[eff].compress == CN_COMPRESS_ZSTD ? CN_WF_COMPRESS : 0;
    if (g->mode == CN_MODE_DEFAULT)
        g->mode = st == CN_ST_ARCHIVE ? CN_MODE_STRICT : CN_MODE_LOOSE;
}

int class_server_ok(const struct chunk_goal *g, unsigned part, const struct cs_server *s)
{
    if (cn_lexpr_match(g->lx, part, s->labels))
        return 1;
    /* the server's own labels with those of every usable disk: whichever
     * disk it picks for the part, the part carries them */
    char set[1024];
    int any = 0, all = 1;
    for (uint32_t i = 0; i < s->ndisks; i++) {
        const struct cs_disk_info *d = &s->disks[i];
        if (d->state == 3 || d->marked)
            continue;
        any = 1;
        snprintf(set, sizeof(set), "%s,%s", s->labels ? s->labels : "", d->labels ? d->labels : "");
        if (!cn_lexpr_match(g->lx, part, set))
            all = 0;
    }
    return any && all;
}

/* ---- ADM_CLASS ------------------------------------------------------------------ */

static json_t *state_json(const struct cn_cls *c, int st)
{
    char spec[CN_CLS_LABELS_MAX + 128];
    if (c->st[st].layout.kind == CN_LAYOUT_NONE)
        return json_null();
    if (cn_cls_spec_format(&c->st[st], st, spec, sizeof(spec)) < 0)
        snprintf(spec, sizeof(spec), "?");
    return json_string(spec);
}

static json_t *class_obj(struct master *M, const struct cn_cls *c)
{
    json_t *o = json_pack("{s:s, s:I, s:b}", "name", c->name, "id", (json_int_t)c->id, "builtin",
                          c->builtin != 0);
    for (int s = 0; s < CN_ST_N; s++)
        json_object_set_new(o, cn_cls_state_name(s), state_json(c, s));
    if (c->st[CN_ST_ARCHIVE].layout.kind)
        json_object_set_new(o, "after", json_integer(c->st[CN_ST_ARCHIVE].after_s));
    const struct cls_rt *d = class_rt(M, 0);
    json_object_set_new(o, "default", json_boolean(d->c.id == c->id));
    return o;
}

static int ls_fn(void *ctx, const struct cn_cls *c)
{
    void **x = ctx;
    json_array_append_new(x[1], class_obj(x[0], c));
    return 0;
}

int class_layout_codable(const struct cn_layout *l, char *err, size_t errlen)
{
    if (l->kind != CN_LAYOUT_EC)
        return 0;
    struct ec_layout el = {EC_LAYOUT_RS, 0, l->k, l->m};
    return ec_layout_check(&el, err, errlen);
}

/* Fills the states the request gives into c; edit allows "-" (unset). */
static int apply_specs(const struct cn_adm_class *r, struct cn_cls *c, int edit, char *msg,
                       size_t msglen)
{
    for (int s = 0; s < CN_ST_N; s++) {
        char spec[1024];
        if (r->spec[s].len == 0)
            continue;
        if (r->spec[s].len >= sizeof(spec)) {
            snprintf(msg, msglen, "%s SPEC longer than %zu bytes", cn_cls_state_name(s),
                     sizeof(spec) - 1);
            return -EINVAL;
        }
        memcpy(spec, r->spec[s].ptr, r->spec[s].len);
        spec[r->spec[s].len] = 0;
        if (edit && strcmp(spec, "-") == 0) {
            if (s == CN_ST_CREATE) {
                snprintf(msg, msglen, "the create state cannot be unset");
                return -EINVAL;
            }
            memset(&c->st[s], 0, sizeof(c->st[s]));
            continue;
        }
        char err[256];
        if (cn_cls_spec_parse(spec, s, &c->st[s], err, sizeof(err)) < 0 ||
            class_layout_codable(&c->st[s].layout, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "%s SPEC: %s", cn_cls_state_name(s), err);
            return -EINVAL;
        }
    }
    if (c->st[CN_ST_CREATE].layout.kind == CN_LAYOUT_NONE) {
        snprintf(msg, msglen, "a class needs a create state (--create SPEC)");
        return -EINVAL;
    }
    return 0;
}

static int str_of(struct cn_str s, char *buf, size_t len)
{
    if (s.len >= len)
        return -ENAMETOOLONG;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    return 0;
}

static void name_json(struct master *M, json_t *o, uint32_t id)
{
    const struct cls_rt *r = class_rt(M, id);
    json_object_set_new(o, "class", json_string(r->c.name));
    json_object_set_new(o, "class_id", json_integer(r->c.id));
}

char *class_json(struct master *M, const struct cn_adm_class *r, int *err, char *msg, size_t msglen)
{
    char name[CN_CLS_NAME_MAX + 2];
    json_t *o = NULL;
    int rc = 0, reload = 0;
    struct cn_cls *c = cn_xcalloc(1, sizeof(*c));
    msg[0] = 0;
    if (str_of(r->name, name, sizeof(name)) < 0 || (r->name.len && !cn_cls_name_ok(name))) {
        if (r->op != 2 && r->op != 7) {
            snprintf(msg, msglen,
                     "bad class name \"%.*s\": 1-63 of A-Z a-z 0-9 _ . + - (not first)",
                     (int)(r->name.len > 64 ? 64 : r->name.len), r->name.ptr);
            rc = -EINVAL;
            goto out;
        }
    }
    switch (r->op) {
    case 1: /* add */
        if (meta_class_find(M->meta, name, c) == 0) {
            snprintf(msg, msglen, "class %s exists (use `cairn class edit`)", name);
            rc = -EEXIST;
            break;
        }
        memset(c, 0, sizeof(*c));
        memcpy(c->name, name, strlen(name) + 1); /* cn_cls_name_ok: at most 63 bytes */
        rc = apply_specs(r, c, 0, msg, msglen);
        if (!rc)
            rc = turn_begin(M);
        if (!rc)
            rc = meta_class_put(M->meta, c);
        if (!rc) {
            reload = 1;
            o = class_obj(M, c);
            cn_log_info(MOD, "class %s (id %u) added", c->name, c->id);
        }
        break;
    case 2: { /* ls */
        void *x[2] = {M, json_array()};
        rc = meta_class_list(M->meta, ls_fn, x);
        o = json_pack("{s:o}", "classes", x[1]);
        if (rc > 0)
            rc = 0;
        break;
    }
    case 3: /* show */
        rc = meta_class_find(M->meta, name, c);
        if (rc == -ENOENT)
            snprintf(msg, msglen, "no class %s", name);
        if (!rc)
            o = class_obj(M, c);
        break;
    case 4: /* edit */
        rc = meta_class_find(M->meta, name, c);
        if (rc == -ENOENT)
            snprintf(msg, msglen, "no class %s", name);
        if (!rc)
            rc = apply_specs(r, c, 1, msg, msglen);
        if (!rc)
            rc = turn_begin(M);
        if (!rc)
            rc = meta_class_put(M->meta, c);
        if (!rc) {
            reload = 1;
            o = class_obj(M, c);
            cn_log_info(MOD, "class %s (id %u) changed", c->name, c->id);
        }
        break;
    case 5: { /* rm */
        uint64_t user = 0;
        rc = meta_class_find(M->meta, name, c);
        if (rc == -ENOENT)
            snprintf(msg, msglen, "no class %s", name);
        if (!rc && c->builtin) {
            snprintf(msg, msglen, "class %s is built in and cannot be removed", name);
            rc = -EPERM;
        }
        if (!rc && class_rt(M, 0)->c.id == c->id) {
            snprintf(msg, msglen, "class %s is the default class (GOAL)", name);
            rc = -EBUSY;
        }
        if (!rc)
            rc = turn_begin(M);
        if (!rc)
            rc = meta_class_del(M->meta, c->id, &user);
        if (rc == -EBUSY && !msg[0]) {
            char path[1024];
            if (meta_ino_path(M->meta, user, path, sizeof(path)) != 0)
                snprintf(path, sizeof(path), "inode %llu", (unsigned long long)user);
            snprintf(msg, msglen, "class %s is in use (by %s, maybe others)", name, path);
        }
        if (!rc) {
            reload = 1;
            o = json_pack("{s:s, s:b}", "name", name, "removed", 1);
            cn_log_info(MOD, "class %s (id %u) removed", c->name, c->id);
        }
        break;
    }
    case 6: { /* set */
        struct meta_attr a;
        struct meta_class_set_stats st;
        rc = meta_class_find(M->meta, name, c);
        if (rc == -ENOENT && strcmp(name, "default") == 0) {
            c->id = 0;
            rc = 0;
        } else if (rc == -ENOENT) {
            snprintf(msg, msglen, "no class %s", name);
        }
        if (!rc)
            rc = admin_resolve(M, r->path, &a, NULL);
        if (!rc)
            rc = turn_begin(M);
        if (!rc)
            rc = meta_class_set(M->meta, a.ino, c->id, r->recursive != 0, &st);
        if (!rc) {
            o = json_pack("{s:s#, s:I, s:I}", "path", r->path.ptr, (int)r->path.len, "inodes",
                          (json_int_t)st.inodes, "chunks", (json_int_t)st.chunks);
            name_json(M, o, c->id);
            health_kick(M);
        }
        break;
    }
    case 7: { /* get */
        struct meta_attr a;
        uint32_t id = 0;
        rc = admin_resolve(M, r->path, &a, NULL);
        if (!rc)
            rc = meta_class_of(M->meta, a.ino, &id);
        if (!rc) {
            o = json_pack("{s:s#}", "path", r->path.ptr, (int)r->path.len);
            name_json(M, o, id);
            json_object_set_new(o, "spec", class_obj(M, &class_rt(M, id)->c));
        }
        break;
    }
    default:
        snprintf(msg, msglen, "unknown class operation %u", r->op);
        rc = -EINVAL;
    }
out:
    free(c);
    if (reload) {
        /* the table reads through the open turn: it sees the change now */
        int lrc = classes_load(M);
        if (lrc < 0)
            cn_log_error(MOD, "reloading the classes: %s", meta_strerror(lrc));
        health_kick(M);
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

int classes_init(struct master *M, char *err, size_t errlen)
{
    int rc = turn_begin(M);
    if (rc == 0)
        rc = meta_class_builtins(M->meta);
    if (rc > 0)
        cn_log_info(MOD, "added %d built-in classes", rc);
    turn_end(M);
    if (rc >= 0)
        rc = classes_load(M);
    if (rc < 0)
        snprintf(err, errlen, "loading the storage classes: %s", meta_strerror(rc));
    return rc < 0 ? rc : 0;
}

/* ---- labels of parts ------------------------------------------------------------------- */

static const char *loc_labels(const struct cs_server *s, uint16_t disk, char *set, size_t len)
{
    const char *dl = disk < s->ndisks && s->disks[disk].labels ? s->disks[disk].labels : "";
    snprintf(set, len, "%s,%s", s->labels ? s->labels : "", dl);
    return set;
}

int class_loc_home(const struct chunk_goal *g, const struct cs_server *s, uint16_t disk)
{
    char set[1024];
    loc_labels(s, disk, set, sizeof(set));
    unsigned n = g->lx->nparts ? g->lx->nparts : 1;
    for (unsigned p = 0; p < n; p++)
        if (cn_lexpr_match(g->lx, p, set))
            return 1;
    return 0;
}

unsigned class_missing_part(const struct chunk_goal *g, const struct cs_chunk_locs *e,
                            uint64_t version)
{
    unsigned n = g->lx->nparts ? g->lx->nparts : 1;
    if (n == 1 || !e)
        return 0;
    /* greedy: each home part fills the first element it matches that is
     * still open; the first element left open is the one to place */
    uint8_t filled[CN_CLS_MAX_PARTS] = {0};
    for (uint32_t i = 0; i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        char set[1024];
        if (l->version != version || cs_loc_state(l) == CS_LOST || cs_loc_leaving(l))
            continue;
        loc_labels(l->srv, l->disk, set, sizeof(set));
        for (unsigned p = 0; p < n; p++)
            if (!filled[p] && cn_lexpr_match(g->lx, p, set)) {
                filled[p] = 1;
                break;
            }
    }
    for (unsigned p = 0; p < n; p++)
        if (!filled[p])
            return p;
    return 0;
}
