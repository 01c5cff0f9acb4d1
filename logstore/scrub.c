/*
 * scrub.c - finding damage before a reader does: the resumable background
 * scrub of live blocks, and the full read-only check behind `cairn-disk
 * check`.
 *
 * The scrub walks live blocks in device order from a cursor the host keeps,
 * so a pass survives restarts and can be spread over days. A block that
 * moved or died while we were reading it is not reported: each one is
 * re-validated against the index while its segment is pinned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ec.h"
#include "ls_int.h"

/* Does the index still point at e's page? If so pin its segment (mu held). */
static bool pin_if_live(struct ls *ls, const struct ls_live *e)
{
    struct ls_part *p = ls_index_find(&ls->idx, e->chunk, e->part);
    if (!p)
        return false;
    bool live = e->block < p->t.n && p->t.e[e->block].page == e->b.page;
    for (struct ls_pend *q = p->pend; q && !live; q = q->next)
        live = e->block < q->t.n && q->t.e[e->block].page == e->b.page;
    if (live)
        ls->segs[ls_page_seg(ls, e->b.page)].pins++;
    return live;
}

static void unpin_seg(struct ls *ls, uint32_t s)
{
    struct ls_seg *g = &ls->segs[s];
    if (--g->pins == 0 && g->free_when_unpinned)
        ls_seg_free(ls, s);
}

/* Verify entries v[0..n) in order; stops when max_bytes are read. */
static int verify_entries(struct ls *ls, const struct ls_live *v, size_t n, uint64_t max_bytes,
                          double rate_mbps, uint64_t *next_off, size_t *done,
                          void (*cb)(const struct ls_bad_block *, void *), void *arg)
{
    uint8_t *buf = ls_aligned_alloc(LS_BLOCK_MAX);
    uint64_t bytes = 0;
    int bad = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!buf)
        return -ENOMEM;
    size_t i = 0;
    for (; i < n && (max_bytes == 0 || bytes < max_bytes); i++) {
        const struct ls_live *e = &v[i];
        pthread_mutex_lock(&ls->mu);
        bool live = pin_if_live(ls, e);
        pthread_mutex_unlock(&ls->mu);
        uint32_t stored = ls_bent_stored(&e->b);
        *next_off = ((uint64_t)e->b.page + ls_pages(stored)) * LS_PAGE;
        if (!live)
            continue;
        /* The CRC covers the stored bytes: compressed payloads are verified
         * as they lie, without decompressing. */
        size_t plen = ls_pages(stored) * LS_PAGE;
        int rc = ls_pread_full(ls->dev, buf, plen, (uint64_t)e->b.page * LS_PAGE);
        if (rc == 0 && ec_crc32c(0, buf, stored) != e->b.crc)
            rc = LS_ECORRUPT;
        pthread_mutex_lock(&ls->mu);
        unpin_seg(ls, ls_page_seg(ls, e->b.page));
        pthread_mutex_unlock(&ls->mu);
        bytes += plen;
        if (rc < 0) {
            bad++;
            if (cb) {
                struct ls_bad_block bb = {
                    e->chunk, e->part, e->version, e->block, (uint64_t)e->b.page * LS_PAGE,
                    stored,   rc};
                cb(&bb, arg);
            }
        }
        ls_throttle(&t0, bytes, rate_mbps);
    }
    *done = i;
    free(buf);
    return bad;
}

int ls_scrub(struct ls *ls, struct ls_scrub_cursor *cur, uint64_t max_bytes, double rate_mbps,
             void (*cb)(const struct ls_bad_block *, void *), void *arg)
{
    struct ls_live *raw = NULL;
    size_t n = 0, done = 0;
    pthread_mutex_lock(&ls->mu);
    uint32_t end = ls->base_page + ls->sb.nseg * ls->seg_pages;
    uint64_t from = cur->next_offset / LS_PAGE;
    if (from < ls->base_page || from >= end)
        from = ls->base_page;
    int rc = ls_collect_live(ls, (uint32_t)from, end, &raw, &n);
    pthread_mutex_unlock(&ls->mu);
    if (rc < 0)
        return rc;
    uint64_t next = (uint64_t)end * LS_PAGE;
    rc = verify_entries(ls, raw, n, max_bytes, rate_mbps, &next, &done, cb, arg);
    if (rc >= 0) {
        if (done >= n) {
            cur->next_offset = 0;
            cur->passes++;
        } else {
            cur->next_offset = next;
        }
    }
    free(raw);
    return rc;
}

static void issue(void (*cb)(const struct ls_check_issue *, void *), void *arg, uint64_t off,
                  uint32_t seg, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void issue(void (*cb)(const struct ls_check_issue *, void *), void *arg, uint64_t off,
                  uint32_t seg, const char *fmt, ...)
{
    struct ls_check_issue is = {off, seg, ""};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(is.what, sizeof(is.what), fmt, ap);
    va_end(ap);
    if (cb)
        cb(&is, arg);
}

/* Walk every group of one segment's current life; count damaged headers. */
static int check_segment(struct ls *ls, uint32_t s, uint32_t used, uint8_t *page,
                         struct ls_entry *ents, void (*cb)(const struct ls_check_issue *, void *),
                         void *arg)
{
    int problems = 0;
    uint64_t last = 0;
    bool in_damage = false;
    for (uint32_t p = 0; p < used;) {
        uint64_t off = ls->sb.seg_base + (uint64_t)s * ls->sb.seg_bytes + (uint64_t)p * LS_PAGE;
        struct ls_ghdr g;
        int rc = ls_pread_full(ls->dev, page, LS_PAGE, off);
        if (rc == 0)
            rc = ls_group_decode(page, ls->seg_pages, &g, ents);
        if (rc == 0 && (g.tag != ls->tag || g.seg != s || g.page != p || (last && g.seq <= last)))
            rc = LS_ECORRUPT;
        if (rc < 0) {
            if (!in_damage) {
                issue(cb, arg, off, s, "segment %u page %u: damaged group header (%s)", s, p,
                      ls_strerror(rc));
                problems++;
            }
            in_damage = true;
            p++;
            continue;
        }
        in_damage = false;
        last = g.seq;
        p += g.npages;
    }
    return problems;
}

int ls_check(struct ls *ls, void (*cb)(const struct ls_check_issue *, void *),
             void (*bad_cb)(const struct ls_bad_block *, void *), void *arg)
{
    int problems = 0;
    uint8_t *page = ls_aligned_alloc(LS_PAGE);
    struct ls_entry *ents = malloc(sizeof(*ents) * LS_GROUP_MAX_RECS);
    struct ls_sb sb;
    if (!page || !ents) {
        free(page);
        free(ents);
        return -ENOMEM;
    }
    /* Superblocks: both copies must decode and agree. */
    for (int k = 0; k < 2; k++) {
        uint64_t off = k ? ls->dev->size - LS_PAGE : 0;
        int rc = ls_pread_full(ls->dev, page, LS_PAGE, off);
        if (rc == 0)
            rc = ls_sb_decode(page, ls->dev->size, &sb);
        if (rc == 0 && memcmp(sb.disk_uuid, ls->sb.disk_uuid, 16) != 0)
            rc = LS_ECORRUPT;
        if (rc < 0) {
            issue(cb, arg, off, UINT32_MAX, "%s superblock damaged (%s)", k ? "backup" : "primary",
                  ls_strerror(rc));
            problems++;
        }
    }
    pthread_mutex_lock(&ls->mu);
    uint64_t lost = ls->corrupt_groups;
    uint32_t nseg = ls->sb.nseg;
    uint32_t *used = calloc(nseg, sizeof(*used));
    if (used)
        for (uint32_t s = 0; s < nseg; s++)
            used[s] = ls->segs[s].state == LS_SEG_FREE ? 0 : ls->segs[s].used_pages;
    pthread_mutex_unlock(&ls->mu);
    if (!used) {
        free(page);
        free(ents);
        return -ENOMEM;
    }
    if (lost) {
        issue(cb, arg, 0, UINT32_MAX, "recovery skipped %llu damaged group(s) of the log",
              (unsigned long long)lost);
        problems++;
    }
    for (uint32_t s = 0; s < nseg; s++)
        if (used[s])
            problems += check_segment(ls, s, used[s], page, ents, cb, arg);
    free(used);
    free(page);
    free(ents);
    /* Every live record's payload. */
    struct ls_scrub_cursor cur = {0, 0};
    int bad = ls_scrub(ls, &cur, 0, 0, bad_cb, arg);
    if (bad < 0)
        return bad;
    return problems + bad;
}
