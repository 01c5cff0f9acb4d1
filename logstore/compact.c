/*
 * compact.c - reclaiming dead space: copy live blocks out of the segments
 * that pay most to clean, then free them.
 *
 * Victims are chosen by the cost-benefit rule of Sprite LFS: benefit/cost =
 * (1 - u) * age / (1 + u), u the segment's live ratio and age the time since
 * its newest write, so cold, mostly dead segments go first and hot segments
 * get time to die on their own. Only sealed segments whose every record is
 * covered by the newest checkpoint qualify (recovery.c invariant 9); if the
 * best candidates are newer, compaction writes a checkpoint first.
 *
 * Live blocks are re-appended as MOVE records through the normal group
 * commit (they may use the reserved segments). A MOVE takes effect only if
 * the index still points where the block was copied from, so a block
 * overwritten or deleted meanwhile simply leaves a dead copy; the same rule
 * runs at replay (index.c). Readers pin segments, and a victim still pinned
 * is freed when its last reader leaves (read.c), so a read in flight is
 * never failed by a move.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "ec.h"
#include "ls_int.h"

static int cmp_page(const void *a, const void *b)
{
    const struct ls_live *x = a, *y = b;
    return x->b.page < y->b.page ? -1 : x->b.page > y->b.page;
}

static int push(struct ls_live **v, size_t *n, size_t *cap, const struct ls_part *p,
                uint64_t version, uint32_t blk, const struct ls_bent *b)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        struct ls_live *nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = (struct ls_live){p->chunk, version, p->part, blk, *b};
    return 0;
}

int ls_collect_live(struct ls *ls, uint32_t lo, uint32_t hi, struct ls_live **out, size_t *count)
{
    struct ls_live *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < ls->idx.nbuckets; i++) {
        for (const struct ls_part *p = ls->idx.buckets[i]; p; p = p->hnext) {
            for (uint32_t b = 0; b < p->t.n; b++) {
                const struct ls_bent *e = &p->t.e[b];
                if (e->page >= lo && e->page < hi && push(&v, &n, &cap, p, p->version, b, e)) {
                    free(v);
                    return -ENOMEM;
                }
            }
            for (const struct ls_pend *q = p->pend; q; q = q->next) {
                for (uint32_t b = 0; b < q->t.n; b++) {
                    const struct ls_bent *e = &q->t.e[b];
                    if (e->page >= lo && e->page < hi && push(&v, &n, &cap, p, q->version, b, e)) {
                        free(v);
                        return -ENOMEM;
                    }
                }
            }
        }
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_page);
    *out = v;
    *count = n;
    return 0;
}

/* Best victim by cost-benefit, or LS_NO_SEG; *blocked set if a candidate
 * exists that only a newer checkpoint would allow (mu held). */
static uint32_t pick_victim(struct ls *ls, double max_live, bool *blocked)
{
    uint64_t now = (uint64_t)time(NULL);
    double best = -1;
    uint32_t v = LS_NO_SEG;
    *blocked = false;
    for (uint32_t s = 0; s < ls->sb.nseg; s++) {
        const struct ls_seg *g = &ls->segs[s];
        if (g->state != LS_SEG_SEALED || g->used_pages == 0 || g->free_when_unpinned)
            continue;
        double u = (double)g->live_pages / g->used_pages;
        if (u >= max_live)
            continue;
        if (g->max_seq > ls->ckpt_seq) {
            *blocked = true;
            continue;
        }
        double age = (double)(now > g->mtime ? now - g->mtime : 0) + 1.0;
        double score = (1.0 - u) * age / (1.0 + u);
        if (score > best) {
            best = score;
            v = s;
        }
    }
    return v;
}

/* Copy the live blocks of victim s; returns 0 or an error. */
static int move_victim(struct ls *ls, uint32_t s, const struct ls_compact_opts *o,
                       struct ls_compact_result *res, const struct timespec *t0)
{
    uint32_t lo = ls->base_page + s * ls->seg_pages, hi = lo + ls->seg_pages;
    struct ls_live *v = NULL;
    size_t n = 0;
    struct ls_live *raw = NULL;
    pthread_mutex_lock(&ls->mu);
    int rc = ls_collect_live(ls, lo, hi, &raw, &n);
    pthread_mutex_unlock(&ls->mu);
    if (rc < 0)
        return rc;
    v = raw;
    uint8_t *buf = ls_aligned_alloc(LS_GROUP_MAX_DATA);
    struct ls_entry *ents = calloc(LS_GROUP_MAX_RECS, sizeof(*ents));
    const void **data = calloc(LS_GROUP_MAX_RECS, sizeof(*data));
    int *results = calloc(LS_GROUP_MAX_RECS, sizeof(*results));
    if (!buf || !ents || !data || !results) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0;) {
        size_t k = 0, used = 0;
        while (i < n && k < LS_GROUP_MAX_RECS &&
               used + ls_pages(ls_bent_stored(&v[i].b)) * LS_PAGE <= LS_GROUP_MAX_DATA) {
            struct ls_live *e = &v[i++];
            uint8_t *dst = buf + used;
            uint32_t stored = ls_bent_stored(&e->b);
            size_t plen = ls_pages(stored) * LS_PAGE;
            int r = ls_pread_full(ls->dev, dst, plen, (uint64_t)e->b.page * LS_PAGE);
            if (r < 0) {
                rc = r;
                break;
            }
            if (ec_crc32c(0, dst, stored) != e->b.crc) {
                /* Leave it: scrub reports it and the master re-creates it. */
                res->corrupt_skipped++;
                ls_logf(ls, LS_LOG_ERR,
                        "logstore: compaction: chunk %016llx part %u block %u at offset %llu "
                        "fails its CRC; left in place",
                        (unsigned long long)e->chunk, e->part, e->block,
                        (unsigned long long)e->b.page * LS_PAGE);
                continue;
            }
            /* A compressed payload moves as it is stored: no recompression. */
            ents[k] = (struct ls_entry){.type = LS_REC_MOVE,
                                        .flags = e->b.zlen ? LS_EF_ZSTD : 0,
                                        .part = e->part,
                                        .block = e->block,
                                        .chunk = e->chunk,
                                        .version = e->version,
                                        .len = stored,
                                        .crc = e->b.crc,
                                        .raw_len = e->b.zlen ? ls_bent_len(&e->b) : 0,
                                        .aux = e->b.page};
            data[k] = dst;
            k++;
            used += plen;
        }
        if (rc < 0 || k == 0)
            continue;
        rc = ls_submit(ls, ents, data, results, k, true);
        if (rc < 0)
            break;
        res->records_moved += k;
        res->bytes_moved += used;
        pthread_mutex_lock(&ls->mu);
        ls->compacted_bytes += used;
        pthread_mutex_unlock(&ls->mu);
        ls_throttle(t0, res->bytes_moved, o->rate_mbps);
        if (o->stop && *o->stop)
            rc = -EINTR;
    }
out:
    free(v);
    free(buf);
    free(ents);
    free(data);
    free(results);
    return rc;
}

int ls_compact(struct ls *ls, const struct ls_compact_opts *opts, struct ls_compact_result *res)
{
    static const struct ls_compact_opts defaults;
    const struct ls_compact_opts *o = opts ? opts : &defaults;
    struct ls_compact_result local;
    double max_live = o->max_live_ratio > 0 ? o->max_live_ratio : 0.9;
    bool checkpointed = false;
    struct timespec t0;
    int rc = 0;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (ls->read_only)
        return -EROFS;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&ls->compact_mu);
    for (;;) {
        if ((o->stop && *o->stop) || (o->max_segments && res->segments_freed >= o->max_segments))
            break;
        pthread_mutex_lock(&ls->mu);
        if (ls->broken) {
            rc = LS_EBROKEN;
            pthread_mutex_unlock(&ls->mu);
            break;
        }
        if (o->target_free && ls->nfree >= o->target_free) {
            pthread_mutex_unlock(&ls->mu);
            break;
        }
        bool blocked;
        uint32_t s = pick_victim(ls, max_live, &blocked);
        if (s == LS_NO_SEG) {
            pthread_mutex_unlock(&ls->mu);
            if (blocked && !checkpointed) {
                /* The best victims hold records newer than the checkpoint. */
                checkpointed = true;
                if ((rc = ls_checkpoint_write(ls)) < 0)
                    break;
                continue;
            }
            break;
        }
        ls->segs[s].state = LS_SEG_COMPACTING;
        pthread_mutex_unlock(&ls->mu);

        rc = move_victim(ls, s, o, res, &t0);

        pthread_mutex_lock(&ls->mu);
        struct ls_seg *g = &ls->segs[s];
        if (rc == 0 && g->live_pages == 0) {
            g->state = LS_SEG_SEALED;
            ls_seg_free(ls, s); /* deferred while readers hold it */
            if (g->free_when_unpinned)
                g->state = LS_SEG_COMPACTING;
            res->segments_freed++;
        } else if (g->state == LS_SEG_COMPACTING) {
            g->state = LS_SEG_SEALED;
            if (rc == 0 && g->live_pages) {
                /* Blocks with bad CRCs stay; do not pick it again now. */
                pthread_mutex_unlock(&ls->mu);
                break;
            }
        }
        pthread_mutex_unlock(&ls->mu);
        if (rc < 0)
            break;
    }
    pthread_mutex_unlock(&ls->compact_mu);
    return rc == -EINTR ? 0 : rc;
}
