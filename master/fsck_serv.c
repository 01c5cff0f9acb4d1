/*
 * fsck_serv.c - `cairn fsck [--repair]` on the running master (ADM_FSCK).
 *
 * Cross-checks the namespace and the chunk table (meta_fsck in check.c)
 * with what chunkservers reported (soft state): chunks no server holds,
 * chunks held only at other versions, and parts of chunks the table does not
 * know (orphan parts, deleted on --repair). Presence checks wait until the
 * chunkservers had HEALTH_START_MS to register after a master start, so a
 * server that is merely late is not taken for lost data. The scan runs on
 * the loop and blocks it: O(inodes + chunks), about 32 bytes per inode of
 * memory while it runs (docs/master.md, "Metadata fsck").
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"

#define MOD        "fsck"
#define MAX_LISTED 1000 /* findings in the reply; the counts cover all */
#define MAX_PATHS  50   /* findings whose path is looked up (O(entries) each) */

struct fsck_ctx {
    struct master *M;
    json_t *list, *counts;
    size_t paths;
};

static int parts_of(void *ctx, uint64_t chunk, uint64_t *versions, int max)
{
    struct fsck_ctx *x = ctx;
    struct cs_chunk_locs *e = cs_locs_get(x->M, chunk);
    int n = 0;
    for (uint32_t i = 0; e && i < e->n && n < max; i++)
        if (cs_loc_state(&e->v[i]) != CS_LOST)
            versions[n++] = e->v[i].version;
    return n;
}

static void add_finding(struct fsck_ctx *x, const char *kind, uint64_t ino, uint64_t chunk,
                        uint32_t index, int repaired, const char *detail)
{
    json_t *c = json_object_get(x->counts, kind);
    json_object_set_new(x->counts, kind, json_integer(c ? json_integer_value(c) + 1 : 1));
    cn_log_warn(MOD, "%s: %s%s", kind, detail, repaired ? "" : " (not repaired)");
    if (json_array_size(x->list) >= MAX_LISTED)
        return;
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:b, s:s}", "kind", kind, "ino", (json_int_t)ino,
                          "chunk", (json_int_t)chunk, "index", (json_int_t)index, "repaired",
                          repaired, "detail", detail);
    char path[4096];
    if (ino && x->paths < MAX_PATHS && meta_ino_path(x->M->meta, ino, path, sizeof(path)) == 0) {
        json_object_set_new(o, "path", json_string(path));
        x->paths++;
    }
    json_array_append_new(x->list, o);
}

static void found(void *ctx, const struct meta_fsck_finding *f)
{
    add_finding(ctx, f->kind, f->ino, f->chunk, f->index, f->repaired, f->detail);
}

char *fsck_json(struct master *M, int repair, int *err)
{
    uint64_t t0 = cn_now_ms();
    struct fsck_ctx x = {M, json_array(), json_object(), 0};
    int presence = t0 - M->started_ms >= (uint64_t)M->cfg.health_start_ms;
    cn_log_info(MOD, "fsck%s started", repair ? " --repair" : "");
    /* parts of chunks the table does not know (before the repairs below,
     * which delete table entries only once the turn commits) */
    uint64_t orphan_chunks = 0; /* findings of orphan parts, one per chunk */
    if (presence) {
        struct cs_registry *g = &M->reg;
        for (size_t b = 0; b < g->nbuckets; b++) {
            for (struct cs_chunk_locs *e = g->buckets[b]; e; e = e->next) {
                struct meta_chunk ch;
                if (e->n == 0 || meta_chunk_get(M->meta, e->chunk, &ch) != -ENOENT)
                    continue;
                char d[256];
                snprintf(d, sizeof(d),
                         "chunk %llu is not in the chunk table but %u part(s) of it are on "
                         "chunkservers%s",
                         (unsigned long long)e->chunk, e->n, repair ? "; deleted" : "");
                orphan_chunks++;
                add_finding(&x, "orphan_part", 0, e->chunk, 0, repair, d);
                if (repair)
                    cs_serv_chunk_freed(M, e->chunk);
            }
        }
    }
    int rc = repair ? turn_begin(M) : 0;
    struct meta_fsck_stats st = {0};
    struct meta_fsck_ops ops = {presence ? parts_of : NULL, found, &x};
    if (!rc)
        rc = meta_fsck(M->meta, repair, &ops, repair ? &M->turn.freed : NULL, &st);
    if (!rc && repair && st.unreachable_freed) {
        int n = meta_orphans_purge(M->meta, &M->turn.freed);
        if (n < 0)
            rc = n;
    }
    if (rc < 0) {
        cn_log_error(MOD, "fsck: %s (%s)", meta_strerror(rc), meta_last_error(M->meta));
        json_decref(x.list);
        json_decref(x.counts);
        *err = rc;
        return NULL;
    }
    json_int_t nfind = (json_int_t)(st.findings + orphan_chunks);
    json_t *o =
        json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "repair", repair,
                  "parts_checked", presence, "inodes", (json_int_t)st.inodes, "dentries",
                  (json_int_t)st.dentries, "chunks", (json_int_t)st.chunks, "findings_total", nfind,
                  "repaired", (json_int_t)(st.repaired + (repair ? orphan_chunks : 0)), "ms",
                  (json_int_t)(cn_now_ms() - t0), "counts", x.counts, "findings", x.list);
    cn_log_info(MOD, "fsck%s: %lld findings in %llu inodes, %llu chunks (%llu ms)",
                repair ? " --repair" : "", (long long)nfind, (unsigned long long)st.inodes,
                (unsigned long long)st.chunks, (unsigned long long)(cn_now_ms() - t0));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        *err = -ENOMEM;
    return s;
}
