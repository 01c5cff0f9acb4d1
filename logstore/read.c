/*
 * read.c - reading blocks, listing parts, space and statistics.
 *
 * A read looks the block up under the store's mutex, pins the segment that
 * holds it (so compaction cannot free and reuse it under the read), drops the
 * mutex for the I/O and verifies the payload's CRC32C against the index.
 * A mismatch is an error, never data. A compressed payload's CRC covers the
 * stored frame; it is decompressed only after that matched (compress.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "ec.h"
#include "ls_int.h"

/* Find the entry a read of (version, block) resolves to (mu held). */
static int lookup(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint32_t block,
                  struct ls_bent *out)
{
    struct ls_part *p = ls_index_find(&ls->idx, chunk, part);
    if (!p)
        return -ENOENT;
    const struct ls_btab *t = NULL;
    if (version == 0 || (p->committed && version == p->version)) {
        if (!p->committed)
            return -ENOENT;
    } else {
        struct ls_pend *q = ls_pend_find(p, version);
        if (!q)
            return -ESTALE;
        t = &q->t;
    }
    if (t && block < t->n && t->e[block].page) {
        *out = t->e[block];
        return 0;
    }
    if (p->committed && block < p->t.n && p->t.e[block].page) {
        *out = p->t.e[block];
        return 0;
    }
    return -ENODATA;
}

static void unpin(struct ls *ls, uint32_t s)
{
    pthread_mutex_lock(&ls->mu);
    struct ls_seg *g = &ls->segs[s];
    if (--g->pins == 0 && g->free_when_unpinned)
        ls_seg_free(ls, s);
    pthread_mutex_unlock(&ls->mu);
}

ssize_t ls_read(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint32_t block,
                void *buf, size_t buflen)
{
    struct ls_bent e;
    pthread_mutex_lock(&ls->mu);
    int rc = lookup(ls, chunk, part, version, block, &e);
    if (rc == 0 && buflen < ls_bent_len(&e))
        rc = -ENOBUFS;
    uint32_t s = 0;
    if (rc == 0) {
        s = ls_page_seg(ls, e.page);
        ls->segs[s].pins++;
    }
    pthread_mutex_unlock(&ls->mu);
    if (rc < 0)
        return rc;

    uint32_t len = ls_bent_len(&e), stored = ls_bent_stored(&e);
    size_t padded = ls_pages(stored) * LS_PAGE;
    uint8_t *dst = buf, *bounce = NULL;
    size_t rlen = stored;
    if (ls->dev->direct)
        rlen = padded;
    /* A compressed payload is read aside and decompressed into buf. */
    if (e.zlen || (ls->dev->direct && (((uintptr_t)buf % LS_PAGE) != 0 || buflen < padded))) {
        bounce = ls_aligned_alloc(padded);
        if (!bounce) {
            unpin(ls, s);
            return -ENOMEM;
        }
        dst = bounce;
    }
    rc = ls_pread_full(ls->dev, dst, rlen, (uint64_t)e.page * LS_PAGE);
    unpin(ls, s);
    if (rc == 0 && ec_crc32c(0, dst, stored) != e.crc) {
        rc = LS_ECORRUPT;
        ls_logf(ls, LS_LOG_ERR,
                "logstore: chunk %016llx part %u block %u: CRC mismatch at offset %llu",
                (unsigned long long)chunk, part, block, (unsigned long long)e.page * LS_PAGE);
    }
    if (rc == 0 && e.zlen) {
        rc = ls_zstd_decompress(ls, buf, len, bounce, stored);
        if (rc == LS_ECORRUPT)
            ls_logf(ls, LS_LOG_ERR,
                    "logstore: chunk %016llx part %u block %u: compressed payload at offset %llu "
                    "does not decompress to its %u bytes",
                    (unsigned long long)chunk, part, block, (unsigned long long)e.page * LS_PAGE,
                    len);
    } else if (rc == 0 && bounce) {
        memcpy(buf, bounce, len);
    }
    free(bounce);
    return rc < 0 ? rc : (ssize_t)len;
}

static void part_info(const struct ls_part *p, struct ls_part_info *o)
{
    memset(o, 0, sizeof(*o));
    o->chunk = p->chunk;
    o->part = p->part;
    o->committed = p->committed;
    o->version = p->version;
    o->size = p->size;
    if (p->committed) {
        o->nblocks = p->t.used;
        for (uint32_t b = 0; b < p->t.n; b++)
            if (p->t.e[b].page)
                o->stored_bytes += ls_bent_stored(&p->t.e[b]);
    }
    for (const struct ls_pend *q = p->pend; q; q = q->next) {
        o->npending++;
        if (q->version > o->pending_max)
            o->pending_max = q->version;
    }
}

int ls_part_stat(struct ls *ls, uint64_t chunk, uint16_t part, struct ls_part_info *out)
{
    pthread_mutex_lock(&ls->mu);
    struct ls_part *p = ls_index_find(&ls->idx, chunk, part);
    if (p)
        part_info(p, out);
    pthread_mutex_unlock(&ls->mu);
    return p ? 0 : -ENOENT;
}

static int cmp_info(const void *a, const void *b)
{
    const struct ls_part_info *x = a, *y = b;
    if (x->chunk != y->chunk)
        return x->chunk < y->chunk ? -1 : 1;
    return (int)x->part - (int)y->part;
}

int ls_list_parts(struct ls *ls, int (*cb)(const struct ls_part_info *, void *), void *arg)
{
    pthread_mutex_lock(&ls->mu);
    size_t n = ls->idx.nparts, k = 0;
    struct ls_part_info *v = malloc((n ? n : 1) * sizeof(*v));
    if (!v) {
        pthread_mutex_unlock(&ls->mu);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ls->idx.nbuckets; i++)
        for (const struct ls_part *p = ls->idx.buckets[i]; p && k < n; p = p->hnext)
            part_info(p, &v[k++]);
    pthread_mutex_unlock(&ls->mu);
    qsort(v, k, sizeof(*v), cmp_info);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++)
        rc = cb(&v[i], arg);
    free(v);
    return rc ? rc : (int)k;
}

int ls_stats(struct ls *ls, struct ls_stats *o)
{
    memset(o, 0, sizeof(*o));
    pthread_mutex_lock(&ls->mu);
    memcpy(o->disk_uuid, ls->sb.disk_uuid, 16);
    memcpy(o->cluster_id, ls->sb.cluster_id, 16);
    o->disk_bytes = ls->sb.disk_bytes;
    o->segment_bytes = ls->sb.seg_bytes;
    o->nsegments = ls->sb.nseg;
    o->free_segments = ls->nfree;
    uint64_t per = (uint64_t)(ls->seg_pages - 1) * LS_PAGE;
    uint64_t rem = ls->cur_page < ls->seg_pages - 1
                       ? (uint64_t)(ls->seg_pages - 1 - ls->cur_page) * LS_PAGE
                       : 0;
    o->free_bytes = rem + (uint64_t)ls->nfree * per;
    for (uint32_t s = 0; s < ls->sb.nseg; s++) {
        const struct ls_seg *g = &ls->segs[s];
        if (g->state == LS_SEG_FREE)
            continue;
        o->live_bytes += (uint64_t)g->live_pages * LS_PAGE;
        uint64_t used = g->used_pages > g->live_pages ? g->used_pages - g->live_pages : 0;
        o->dead_bytes += used * LS_PAGE;
    }
    o->nparts = ls->idx.nparts;
    o->nblocks = ls->idx.nentries;
    o->seq = ls->last_seq;
    o->checkpoint_seq = ls->ckpt_seq;
    o->index_bytes = LS_PAGE + ls_ckpt_estimate(ls);
    o->index_capacity = ls->sb.slot_bytes;
    o->appended_bytes = ls->appended_bytes;
    o->syncs = ls->syncs;
    o->compacted_bytes = ls->compacted_bytes;
    o->freed_segments = ls->freed_segments;
    o->recovery_groups = ls->recovery_groups;
    o->recovery_cut = ls->recovery_cut;
    o->corrupt_groups = ls->corrupt_groups;
    o->broken = ls->broken != 0;
    o->compressed_blocks = ls->idx.nzentries;
    o->compressed_saved_bytes = ls->idx.zsaved_pages * LS_PAGE;
    o->compressed_writes = ls->compressed_writes;
    o->compress_skipped = ls->compress_skipped;
    pthread_mutex_unlock(&ls->mu);
    return 0;
}

int ls_segments(struct ls *ls, struct ls_seg_info *out, uint32_t n)
{
    pthread_mutex_lock(&ls->mu);
    for (uint32_t s = 0; s < ls->sb.nseg && s < n; s++) {
        const struct ls_seg *g = &ls->segs[s];
        struct ls_seg_info *o = &out[s];
        o->index = s;
        o->state = g->state;
        o->offset = ls->sb.seg_base + (uint64_t)s * ls->sb.seg_bytes;
        o->written = (uint64_t)g->used_pages * LS_PAGE;
        o->live = (uint64_t)g->live_pages * LS_PAGE;
        o->dead = o->written > o->live ? o->written - o->live : 0;
        o->max_seq = g->max_seq;
        o->mtime = g->mtime;
    }
    int total = (int)ls->sb.nseg;
    pthread_mutex_unlock(&ls->mu);
    return total;
}
