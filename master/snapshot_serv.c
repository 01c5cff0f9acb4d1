/*
 * snapshot_serv.c - `cairn snapshot SRC DST` on the master (ADM_SNAPSHOT),
 * and the chunkserver side of copy-on-write: after a turn that gave a file
 * position a private copy of a shared chunk (meta_cow_take), every online
 * server holding the old chunk's committed part is told to duplicate it
 * locally under the new id (CS_CMD_DUP_PART). Until the copies exist,
 * readers of the new chunk are sent to the old one (same bytes), writers
 * get NO_CHUNK and retry, and a delete of the old chunk waits for them
 * (docs/master.md, "Snapshots").
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD            "snapshot"
#define DUP_TIMEOUT_MS 600000

struct cow {
    struct cow *next;
    uint64_t from, to, version;
    unsigned pending;    /* DUP_PART commands not answered yet */
    int deferred_delete; /* `from` was freed meanwhile: delete its parts when done */
    uint64_t start_ms;
};

struct dup_call {
    struct master *M;
    struct cow *cw;
};

static struct cow *cow_find_from(struct master *M, uint64_t from)
{
    for (struct cow *c = M->cows; c; c = c->next)
        if (c->from == from)
            return c;
    return NULL;
}

uint64_t snapshot_cow_source(struct master *M, uint64_t to)
{
    for (struct cow *c = M->cows; c; c = c->next)
        if (c->to == to)
            return c->from;
    return 0;
}

int snapshot_defer_delete(struct master *M, uint64_t chunk)
{
    int deferred = 0;
    for (struct cow *c = M->cows; c; c = c->next)
        if (c->from == chunk) {
            c->deferred_delete = 1;
            deferred = 1;
        }
    return deferred;
}

static void cow_end(struct master *M, struct cow *cw)
{
    for (struct cow **pp = &M->cows; *pp; pp = &(*pp)->next) {
        if (*pp == cw) {
            *pp = cw->next;
            break;
        }
    }
    uint64_t from = cw->from;
    int del = cw->deferred_delete;
    free(cw);
    if (del && !cow_find_from(M, from))
        cs_serv_chunk_freed(M, from);
}

static void on_dup_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                         const uint8_t *payload, void *ud)
{
    struct dup_call *d = ud;
    (void)c;
    (void)h;
    (void)payload;
    if (status)
        cn_log_warn(MOD, "copy-on-write of chunk %016llx into %016llx: %s",
                    (unsigned long long)d->cw->from, (unsigned long long)d->cw->to,
                    cn_strerror(status));
    if (--d->cw->pending == 0) {
        cn_log_debug(MOD, "chunk %016llx copied into %016llx in %llu ms",
                     (unsigned long long)d->cw->from, (unsigned long long)d->cw->to,
                     (unsigned long long)(cn_now_ms() - d->cw->start_ms));
        cow_end(d->M, d->cw);
    }
    free(d);
}

void snapshot_after_commit(struct master *M)
{
    struct meta_cow pairs[64];
    size_t n;
    while ((n = meta_cow_take(M->meta, pairs, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct cow *cw = cn_xcalloc(1, sizeof(*cw));
            cw->from = pairs[i].from;
            cw->to = pairs[i].to;
            cw->version = pairs[i].version;
            cw->start_ms = cn_now_ms();
            cw->next = M->cows;
            M->cows = cw;
            struct cs_chunk_locs *e = cs_locs_get(M, cw->from);
            for (uint32_t k = 0; e && k < e->n; k++) {
                const struct cs_loc *l = &e->v[k];
                if (l->version != cw->version || cs_loc_state(l) != CS_ONLINE || !l->srv->conn)
                    continue;
                struct cn_cs_dup_part m = {cw->from, cw->version, l->part, cw->to};
                struct dup_call *d = cn_xcalloc(1, sizeof(*d));
                d->M = M;
                d->cw = cw;
                if (cn_conn_call(l->srv->conn, CN_MSG_CS_CMD_DUP_PART, &m, DUP_TIMEOUT_MS,
                                 on_dup_reply, d) == 0)
                    cw->pending++;
                else
                    free(d);
            }
            if (cw->pending == 0) {
                cn_log_error(MOD,
                             "chunk %016llx (shared by a snapshot) has no online copy at version "
                             "%llu: its private copy %016llx stays empty",
                             (unsigned long long)cw->from, (unsigned long long)cw->version,
                             (unsigned long long)cw->to);
                cow_end(M, cw);
            }
        }
    }
}

void snapshot_forget(struct master *M)
{
    struct meta_cow scratch[64];
    while (meta_cow_take(M->meta, scratch, 64) > 0) {
    } /* a failed commit: those copies were never made */
}

void snapshot_free(struct master *M)
{
    for (struct cow *c = M->cows, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    M->cows = NULL;
}

char *snapshot_json(struct master *M, const struct cn_adm_snapshot *r, int *err)
{
    struct meta_attr src, dir;
    uint64_t t0 = cn_now_ms();
    int rc = admin_resolve(M, r->src, &src, NULL);
    /* DST: its directory must exist; its last component is the new name */
    size_t end = r->dst.len;
    while (end > 1 && r->dst.ptr[end - 1] == '/')
        end--;
    size_t slash = end;
    while (slash > 0 && r->dst.ptr[slash - 1] != '/')
        slash--;
    char name[META_NAME_MAX + 1];
    if (!rc && (end - slash == 0 || end - slash > META_NAME_MAX))
        rc = end - slash ? -ENAMETOOLONG : -EINVAL;
    if (!rc) {
        memcpy(name, r->dst.ptr + slash, end - slash);
        name[end - slash] = 0;
        struct cn_str parent = {r->dst.ptr, (uint32_t)(slash ? slash : 0)};
        rc = admin_resolve(M, parent, &dir, NULL);
        if (!rc && !S_ISDIR(dir.mode))
            rc = -ENOTDIR;
    }
    struct meta_snapshot_stats st = {0};
    if (!rc)
        rc = turn_begin(M);
    if (!rc)
        rc = meta_snapshot(M->meta, src.ino, dir.ino, name, &st);
    if (rc) {
        *err = rc;
        return NULL;
    }
    uint64_t ms = cn_now_ms() - t0;
    cn_log_info(MOD, "snapshot of %.*s as %.*s: %llu inodes, %llu chunks shared, %llu ms",
                (int)r->src.len, r->src.ptr, (int)r->dst.len, r->dst.ptr,
                (unsigned long long)st.inodes, (unsigned long long)st.chunks_shared,
                (unsigned long long)ms);
    json_t *o =
        json_pack("{s:s#, s:s#, s:I, s:I, s:I, s:I, s:I, s:I}", "src", r->src.ptr, (int)r->src.len,
                  "dst", r->dst.ptr, (int)r->dst.len, "inodes", (json_int_t)st.inodes, "files",
                  (json_int_t)st.files, "dirs", (json_int_t)st.dirs, "bytes", (json_int_t)st.bytes,
                  "chunks_shared", (json_int_t)st.chunks_shared, "ms", (json_int_t)ms);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        *err = -ENOMEM;
    return s;
}
