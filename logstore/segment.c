/*
 * segment.c - the write path: group commit into segments.
 *
 * Invariants (tests cite them by number):
 *  1. A record is acknowledged only after the group holding it has been
 *     written and fdatasync'ed; the index changes only then, so a reader
 *     never sees data that a crash could take back.
 *  2. One group is in flight at a time and every group before it is durable.
 *     Only the newest group of the log can therefore be torn by a crash;
 *     recovery verifies its payloads and cuts it at the first bad record.
 *  3. Group sequence numbers grow by exactly one; each group header names its
 *     segment, page and the disk's tag, so stale groups from a segment's
 *     earlier life, or copies of another disk's bytes, never chain in.
 *  4. A segment is entered only through a LINK group written at the end of
 *     the previous one (the last page of every segment is kept for it), so
 *     replay follows the log from segment to segment without scanning.
 *  5. Index changes are applied in sequence order, live and at replay, by
 *     the same function (index.c), so replay reaches the acknowledged state.
 *  6. A write or sync error makes the store broken (sticky): it refuses
 *     writes until reopened, because what reached the disk is unknown.
 *
 * Appenders queue records into the "filling" group under ls->mu; whoever
 * finds no flush in progress becomes the leader, takes the filling group,
 * writes and syncs it without the lock, then applies it and wakes everyone.
 * Records that arrive meanwhile share the next group and its one fdatasync.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "ec.h"
#include "ls_int.h"

struct ls_group {
    uint16_t nrec;
    uint32_t data_pages;
    uint64_t index_bytes; /* worst-case checkpoint growth of its BLOCKs */
    bool done;
    int refs;
    int result;
    struct ls_entry ents[LS_GROUP_MAX_RECS];
    const void *data[LS_GROUP_MAX_RECS];
    int rec_result[LS_GROUP_MAX_RECS];
};

static struct ls_group *group_new(void)
{
    return calloc(1, sizeof(struct ls_group));
}

static void group_put(struct ls_group *g)
{
    if (--g->refs == 0)
        free(g);
}

int ls_write_init(struct ls *ls)
{
    ls->zero_page = ls_aligned_alloc(LS_PAGE);
    if (!ls->zero_page)
        return -ENOMEM;
    memset(ls->zero_page, 0, LS_PAGE);
    ls->filling = group_new();
    if (!ls->filling)
        return -ENOMEM;
    ls->filling->refs = 1; /* the store's own reference */
    return 0;
}

void ls_write_release(struct ls *ls)
{
    if (ls->filling)
        group_put(ls->filling);
    ls->filling = NULL;
    free(ls->zero_page);
    ls->zero_page = NULL;
}

uint32_t ls_seg_take_free(struct ls *ls)
{
    for (uint32_t s = 0; s < ls->sb.nseg; s++) {
        struct ls_seg *g = &ls->segs[s];
        if (g->state == LS_SEG_FREE) {
            g->state = LS_SEG_OPEN;
            g->used_pages = 0;
            g->live_pages = 0;
            g->max_seq = 0;
            g->mtime = 0;
            ls->nfree--;
            return s;
        }
    }
    return LS_NO_SEG;
}

void ls_seg_free(struct ls *ls, uint32_t s)
{
    struct ls_seg *g = &ls->segs[s];
    if (g->state == LS_SEG_FREE)
        return;
    if (g->pins) {
        g->free_when_unpinned = true;
        return;
    }
    g->state = LS_SEG_FREE;
    g->free_when_unpinned = false;
    g->used_pages = 0;
    g->live_pages = 0;
    ls->nfree++;
    ls->freed_segments++;
}

/* Pages a foreground record may still use (mu held). */
static uint64_t space_pages(struct ls *ls, bool internal)
{
    uint64_t per = ls->seg_pages - 1; /* last page of each segment: LINK */
    uint64_t rem = per > ls->cur_page ? per - ls->cur_page : 0;
    uint64_t nfree = ls->nfree;
    if (!internal)
        nfree = nfree > ls->reserve ? nfree - ls->reserve : 0;
    uint64_t total = rem + nfree * per;
    return total > ls->queued_pages ? total - ls->queued_pages : 0;
}

static uint32_t group_limit_pages(const struct ls *ls)
{
    uint32_t lim = LS_GROUP_MAX_DATA / LS_PAGE;
    uint32_t seg = ls->seg_pages - 2; /* header page + LINK page */
    return lim < seg ? lim : seg;
}

/*
 * Write and sync group g (invariants 1-4). Called by the leader with mu
 * held; drops it around the I/O.
 */
static void flush_group(struct ls *ls, struct ls_group *g)
{
    uint32_t pages = 1 + g->data_pages;
    uint32_t link_seg = LS_NO_SEG, new_seg = LS_NO_SEG, link_page = 0;
    uint8_t *hdr = NULL, *link = NULL, *bounce = NULL;
    struct iovec *iov = NULL;
    int rc = 0;
    uint64_t now = (uint64_t)time(NULL);

    if (ls->broken) {
        rc = LS_EBROKEN;
        goto done_locked;
    }
    if (ls->cur_page + pages > ls->seg_pages - 1) {
        new_seg = ls_seg_take_free(ls);
        if (new_seg == LS_NO_SEG) {
            rc = -ENOSPC;
            goto done_locked;
        }
        link_seg = ls->cur_seg;
        link_page = ls->cur_page;
    }
    uint64_t seq = ls->last_seq + 1;
    uint32_t seg = ls->cur_seg, page = ls->cur_page;
    hdr = ls_aligned_alloc(LS_PAGE);
    if (new_seg != LS_NO_SEG)
        link = ls_aligned_alloc(LS_PAGE);
    iov = calloc(1 + 2 * (size_t)g->nrec, sizeof(*iov));
    if (!hdr || (new_seg != LS_NO_SEG && !link) || !iov) {
        rc = -ENOMEM;
        if (new_seg != LS_NO_SEG)
            ls_seg_free(ls, new_seg);
        goto done_locked;
    }
    if (new_seg != LS_NO_SEG) {
        struct ls_ghdr lg = {.nrec = 0,
                             .seq = seq,
                             .prev_seq = seq - 1,
                             .tag = ls->tag,
                             .seg = link_seg,
                             .page = link_page,
                             .npages = 1,
                             .next_seg = new_seg,
                             .time_s = now,
                             .entries_crc = ec_crc32c(0, NULL, 0)};
        memset(link, 0, LS_PAGE);
        ls_ghdr_encode(&lg, link);
        seq++;
        seg = new_seg;
        page = 0;
    }
    /* Build the header page; payload pages follow in entry order. */
    memset(hdr, 0, LS_PAGE);
    uint32_t dp = 1;
    for (unsigned i = 0; i < g->nrec; i++) {
        struct ls_entry *e = &g->ents[i];
        if (e->type == LS_REC_BLOCK || e->type == LS_REC_MOVE) {
            e->data_page = dp;
            dp += (uint32_t)ls_pages(e->len);
        } else {
            e->data_page = 0;
        }
        ls_entry_encode(e, hdr + LS_GROUP_HDR + i * LS_ENTRY_SIZE);
    }
    struct ls_ghdr gh = {.nrec = g->nrec,
                         .seq = seq,
                         .prev_seq = seq - 1,
                         .tag = ls->tag,
                         .seg = seg,
                         .page = page,
                         .npages = pages,
                         .next_seg = LS_NO_SEG,
                         .time_s = now,
                         .entries_crc =
                             ec_crc32c(0, hdr + LS_GROUP_HDR, (size_t)g->nrec * LS_ENTRY_SIZE)};
    ls_ghdr_encode(&gh, hdr);
    ls->flushing = true;
    pthread_mutex_unlock(&ls->mu);

    /* ---- I/O without the lock ---- */
    int iovcnt = 0;
    iov[iovcnt++] = (struct iovec){hdr, LS_PAGE};
    /* Payloads go out by reference. O_DIRECT needs page-aligned buffers and
     * lengths, so only unaligned payloads are copied, into one bounce buffer
     * (the copy cost ~35 % of the append CPU when it was unconditional). */
    size_t bounce_need = 0;
    if (ls->dev->direct)
        for (unsigned i = 0; i < g->nrec; i++) {
            const struct ls_entry *e = &g->ents[i];
            if ((e->type == LS_REC_BLOCK || e->type == LS_REC_MOVE) &&
                (((uintptr_t)g->data[i] % LS_PAGE) != 0 || e->len % LS_PAGE != 0))
                bounce_need += ls_pages(e->len) * LS_PAGE;
        }
    if (bounce_need) {
        bounce = ls_aligned_alloc(bounce_need);
        if (!bounce) {
            rc = -ENOMEM;
            goto io_done;
        }
    }
    uint8_t *b = bounce;
    for (unsigned i = 0; i < g->nrec; i++) {
        const struct ls_entry *e = &g->ents[i];
        if (e->type != LS_REC_BLOCK && e->type != LS_REC_MOVE)
            continue;
        size_t padded = ls_pages(e->len) * LS_PAGE;
        if (ls->dev->direct && (((uintptr_t)g->data[i] % LS_PAGE) != 0 || e->len % LS_PAGE != 0)) {
            memcpy(b, g->data[i], e->len);
            memset(b + e->len, 0, padded - e->len);
            iov[iovcnt++] = (struct iovec){b, padded};
            b += padded;
            continue;
        }
        iov[iovcnt++] = (struct iovec){(void *)g->data[i], e->len};
        if (padded > e->len)
            iov[iovcnt++] = (struct iovec){ls->zero_page, padded - e->len};
    }
    uint64_t seg0 = ls->sb.seg_base;
    if (link) {
        struct iovec liov = {link, LS_PAGE};
        rc = ls_pwritev_full(ls->dev, &liov, 1,
                             seg0 + (uint64_t)link_seg * ls->sb.seg_bytes +
                                 (uint64_t)link_page * LS_PAGE);
    }
    if (rc == 0)
        rc = ls_pwritev_full(ls->dev, iov, iovcnt,
                             seg0 + (uint64_t)seg * ls->sb.seg_bytes + (uint64_t)page * LS_PAGE);
    if (rc == 0)
        rc = ls->dev->sync(ls->dev);
io_done:
    pthread_mutex_lock(&ls->mu);
    ls->flushing = false;
    if (rc < 0) {
        /* Invariant 6: what reached the disk is unknown now. */
        ls->broken = rc;
        ls_logf(ls, LS_LOG_ERR,
                "logstore: write of group %llu failed (%s); refusing writes until reopened",
                (unsigned long long)seq, ls_strerror(rc));
        goto done_locked;
    }
    ls->syncs++;
    if (link) {
        struct ls_seg *ls_old = &ls->segs[link_seg];
        ls_old->used_pages = link_page + 1;
        ls_old->max_seq = seq - 1;
        ls_old->mtime = now;
        ls_old->state = LS_SEG_SEALED;
        ls->cur_seg = new_seg;
        ls->cur_page = 0;
    }
    ls->cur_page += pages;
    struct ls_seg *cs = &ls->segs[ls->cur_seg];
    cs->used_pages = ls->cur_page;
    cs->max_seq = seq;
    cs->mtime = now;
    ls->last_seq = seq;
    uint32_t abs_page = ls->base_page + ls->cur_seg * ls->seg_pages + page;
    for (unsigned i = 0; i < g->nrec; i++) {
        int arc = ls_index_apply(ls, &g->ents[i], abs_page + g->ents[i].data_page);
        if (arc < 0 && !ls->broken) {
            ls->broken = arc; /* index no longer matches the log */
            ls_logf(ls, LS_LOG_ERR, "logstore: cannot apply record: %s", ls_strerror(arc));
        }
    }
    ls->appended_bytes += (uint64_t)pages * LS_PAGE;
    ls->since_ckpt += (uint64_t)pages * LS_PAGE;
    if (ls->since_ckpt >= ls->ckpt_every)
        ls->ckpt_wanted = true;
done_locked:
    if (rc < 0)
        for (unsigned i = 0; i < g->nrec; i++)
            g->rec_result[i] = rc;
    g->result = rc;
    ls->queued_pages -= pages < ls->queued_pages ? pages : ls->queued_pages;
    ls->queued_index -= g->index_bytes < ls->queued_index ? g->index_bytes : ls->queued_index;
    g->done = true;
    pthread_cond_broadcast(&ls->cv);
    free(hdr);
    free(link);
    free(bounce);
    free(iov);
}

int ls_submit(struct ls *ls, const struct ls_entry *ents, const void *const *data, int *results,
              size_t n, bool internal)
{
    struct ls_group *mine[64];
    size_t nmine = 0;
    struct {
        struct ls_group *g;
        unsigned slot;
    } *where = calloc(n ? n : 1, sizeof(*where));
    int first = 0;
    if (!where)
        return -ENOMEM;

    pthread_mutex_lock(&ls->mu);
    if (ls->read_only) {
        first = -EROFS;
        goto fail_all;
    }
    if (ls->broken) {
        first = LS_EBROKEN;
        goto fail_all;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ls_entry *e = &ents[i];
        bool has_data = e->type == LS_REC_BLOCK || e->type == LS_REC_MOVE;
        uint32_t dpages = has_data ? (uint32_t)ls_pages(e->len) : 0;
        int rc = internal ? 0 : ls_index_check(ls, e, data[i]);
        if (rc == 0) {
            /* Commits and deletes may use the reserve: they free space. */
            bool may_reserve = internal || !has_data;
            if (dpages + 2 > space_pages(ls, may_reserve))
                rc = -ENOSPC;
        }
        if (rc < 0) {
            results[i] = rc;
            where[i].g = NULL;
            continue;
        }
        for (;;) {
            struct ls_group *g = ls->filling;
            if (g->nrec < LS_GROUP_MAX_RECS && g->data_pages + dpages <= group_limit_pages(ls))
                break;
            /* The filling group is full: flush it ourselves or wait. */
            if (!ls->flushing) {
                struct ls_group *ng = group_new();
                if (!ng) {
                    rc = -ENOMEM;
                    break;
                }
                ng->refs = 1;
                ls->filling = ng;
                flush_group(ls, g);
                group_put(g);
            } else {
                pthread_cond_wait(&ls->cv, &ls->mu);
            }
        }
        if (rc < 0) {
            results[i] = rc;
            where[i].g = NULL;
            continue;
        }
        struct ls_group *g = ls->filling;
        bool joined = nmine > 0 && mine[nmine - 1] == g;
        if (!joined && nmine == sizeof(mine) / sizeof(mine[0])) {
            results[i] = -E2BIG; /* too many groups for one call */
            where[i].g = NULL;
            continue;
        }
        if (!joined) {
            g->refs++;
            mine[nmine++] = g;
        }
        unsigned slot = g->nrec++;
        g->ents[slot] = *e;
        g->data[slot] = has_data ? data[i] : NULL;
        g->rec_result[slot] = 0;
        g->data_pages += dpages;
        ls->queued_pages += dpages + (slot == 0 ? 1 : 0);
        if (e->type == LS_REC_BLOCK) {
            g->index_bytes += LS_CKPT_PART_HDR + LS_CKPT_BLK_ENTRY;
            ls->queued_index += LS_CKPT_PART_HDR + LS_CKPT_BLK_ENTRY;
        }
        where[i].g = g;
        where[i].slot = slot;
    }
    /* Wait for every group we joined; lead a flush when nobody else does. */
    for (size_t k = 0; k < nmine; k++) {
        struct ls_group *g = mine[k];
        while (!g->done) {
            if (!ls->flushing && ls->filling == g) {
                struct ls_group *ng = group_new();
                if (!ng) {
                    pthread_cond_wait(&ls->cv, &ls->mu);
                    continue;
                }
                ng->refs = 1;
                ls->filling = ng;
                flush_group(ls, g);
                group_put(g); /* the store's reference */
            } else {
                pthread_cond_wait(&ls->cv, &ls->mu);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (where[i].g)
            results[i] = where[i].g->rec_result[where[i].slot];
        if (results[i] < 0 && first == 0)
            first = results[i];
    }
    for (size_t k = 0; k < nmine; k++)
        group_put(mine[k]);
    bool want_ckpt = ls->ckpt_wanted && !ls->broken;
    pthread_mutex_unlock(&ls->mu);
    free(where);
    if (want_ckpt)
        ls_checkpoint_write(ls); /* failure is logged; data is safe in the log */
    return first;

fail_all:
    for (size_t i = 0; i < n; i++)
        results[i] = first;
    pthread_mutex_unlock(&ls->mu);
    free(where);
    return first;
}

/* Whether w asks for compression and could save a page by it. */
static bool want_compress(const struct ls_write *w)
{
    return w->type == LS_REC_BLOCK && (w->flags & LS_WRITE_COMPRESS) && w->data &&
           w->len > LS_PAGE && w->len <= LS_BLOCK_MAX;
}

int ls_writev(struct ls *ls, struct ls_write *w, size_t n)
{
    struct ls_entry *ents = calloc(n ? n : 1, sizeof(*ents));
    const void **data = calloc(n ? n : 1, sizeof(*data));
    int *res = calloc(n ? n : 1, sizeof(*res));
    uint8_t *zbuf = NULL; /* compressed payloads, one slot per record asking */
    uint64_t zwritten = 0, zskipped = 0;
    bool submitted = false;
    int rc;
    if (!ents || !data || !res) {
        rc = -ENOMEM;
        goto out;
    }
    size_t zcap = 0;
    for (size_t i = 0; i < n; i++)
        if (want_compress(&w[i]))
            zcap += (ls_pages(w[i].len) - 1) * LS_PAGE;
    if (zcap && !(zbuf = ls_aligned_alloc(zcap))) {
        rc = -ENOMEM;
        goto out;
    }
    uint8_t *zp = zbuf;
    for (size_t i = 0; i < n; i++) {
        struct ls_entry *e = &ents[i];
        e->type = (uint8_t)w[i].type;
        e->chunk = w[i].chunk;
        e->part = w[i].part;
        e->version = w[i].version;
        if (w[i].type == LS_REC_BLOCK) {
            e->block = w[i].block;
            e->len = w[i].len;
            data[i] = w[i].data;
            if (want_compress(&w[i])) {
                uint8_t *slot = zp;
                zp += (ls_pages(w[i].len) - 1) * LS_PAGE;
                int zlen = ls_zstd_compress(ls, slot, w[i].data, w[i].len);
                if (zlen < 0) {
                    rc = zlen;
                    goto out;
                }
                if (zlen > 0) {
                    /* Stored compressed; the CRC covers the frame (docs/format.md). */
                    e->flags = LS_EF_ZSTD;
                    e->raw_len = w[i].len;
                    e->len = (uint32_t)zlen;
                    data[i] = slot;
                }
            }
            if (data[i] && w[i].len <= LS_BLOCK_MAX)
                e->crc = ec_crc32c(0, data[i], e->len);
        } else if (w[i].type == LS_REC_COMMIT) {
            e->aux = w[i].size;
        } else if (w[i].type != LS_REC_DELETE) {
            e->type = 0; /* rejected by ls_index_check */
        }
    }
    rc = ls_submit(ls, ents, data, res, n, false);
    submitted = true;
    for (size_t i = 0; i < n; i++) {
        w[i].result = res[i];
        if (res[i] == 0 && w[i].type == LS_REC_BLOCK && (w[i].flags & LS_WRITE_COMPRESS)) {
            if (ents[i].flags & LS_EF_ZSTD)
                zwritten++;
            else
                zskipped++;
        }
    }
    if (zwritten || zskipped) {
        pthread_mutex_lock(&ls->mu);
        ls->compressed_writes += zwritten;
        ls->compress_skipped += zskipped;
        pthread_mutex_unlock(&ls->mu);
    }
out:
    for (size_t i = 0; !submitted && i < n; i++)
        w[i].result = rc;
    free(ents);
    free(data);
    free(res);
    free(zbuf);
    return rc;
}

int ls_append(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint32_t block,
              const void *data, uint32_t len)
{
    struct ls_write w = {.type = LS_REC_BLOCK,
                         .chunk = chunk,
                         .part = part,
                         .version = version,
                         .block = block,
                         .data = data,
                         .len = len};
    return ls_writev(ls, &w, 1);
}

int ls_commit(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint64_t size)
{
    struct ls_write w = {
        .type = LS_REC_COMMIT, .chunk = chunk, .part = part, .version = version, .size = size};
    return ls_writev(ls, &w, 1);
}

int ls_delete(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version)
{
    struct ls_write w = {.type = LS_REC_DELETE, .chunk = chunk, .part = part, .version = version};
    return ls_writev(ls, &w, 1);
}
