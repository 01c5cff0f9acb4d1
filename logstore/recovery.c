/*
 * recovery.c - opening a store: superblock, index checkpoint, log replay;
 * and writing checkpoints.
 *
 * Invariants (continuing segment.c's list):
 *  7. A checkpoint is the whole index plus the log position and sequence
 *     number it covers; it goes to the slot not holding the newest one, so
 *     a torn checkpoint write leaves the previous one intact. The newest
 *     slot whose header and body CRCs verify wins.
 *  8. Replay starts at the checkpoint's position and follows the chain of
 *     groups (seq + 1 each, LINK groups between segments). Only the last
 *     group can be torn (invariant 2): its payloads are verified and it is
 *     cut at the first bad record. A damaged group inside the log is
 *     skipped by scanning forward for the next valid group of the same
 *     segment; its records are reported lost, never served.
 *  9. A segment whose records replay may still need (max_seq above the
 *     checkpoint's) is never freed; so the log from the newest checkpoint on
 *     is always intact on disk.
 * 10. After replaying anything a writable open writes a checkpoint before
 *     accepting writes, so a cut tail is never replayed again as a
 *     non-tail group.
 * 11. A disk of an older format version is opened as it is; a writable open
 *     rewrites both superblocks to LS_FORMAT_VERSION before it writes
 *     anything else (sb_upgrade), so an older build never meets a structure
 *     it cannot read on a disk whose superblock it accepts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ec.h"
#include "ls_int.h"

#define CKPT_HDR_LEN 64u

/* ---- checkpoint encoding ------------------------------------------------ */

struct wbuf {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *wb_take(struct wbuf *b, size_t n)
{
    if (b->len + n > b->cap)
        return NULL;
    uint8_t *r = b->p + b->len;
    b->len += n;
    return r;
}

static int put_table(struct wbuf *b, const struct ls_part *p, uint16_t flags, uint64_t version,
                     uint64_t size, const struct ls_btab *t)
{
    uint8_t *h = wb_take(b, LS_CKPT_PART_HDR);
    if (!h)
        return LS_EINDEXFULL;
    memset(h, 0, LS_CKPT_PART_HDR);
    ls_put64(h, p->chunk);
    ls_put16(h + 8, p->part);
    ls_put16(h + 10, flags);
    ls_put32(h + 12, t->used);
    ls_put64(h + 16, version);
    ls_put64(h + 24, size);
    for (uint32_t i = 0; i < t->n; i++) {
        if (!t->e[i].page)
            continue;
        uint8_t *e = wb_take(b, LS_CKPT_BLK_ENTRY);
        if (!e)
            return LS_EINDEXFULL;
        ls_put16(e, (uint16_t)i);
        ls_put16(e + 2, t->e[i].zlen);
        ls_put32(e + 4, t->e[i].page);
        ls_put32(e + 8, t->e[i].crc);
        ls_put32(e + 12, ls_bent_len(&t->e[i]));
    }
    return 0;
}

/* Serialise the index and segment table (mu held). Body goes after a
 * header page in *out (aligned, caller frees). */
static int ckpt_build(struct ls *ls, uint8_t **out, size_t *out_len, uint64_t gen)
{
    uint64_t est = ls_ckpt_estimate(ls);
    if (est > ls->sb.slot_bytes - LS_PAGE)
        return LS_EINDEXFULL;
    size_t cap = (size_t)est;
    size_t total = LS_PAGE + ls_pages(cap) * LS_PAGE;
    uint8_t *buf = ls_aligned_alloc(total);
    if (!buf)
        return -ENOMEM;
    memset(buf, 0, total);
    struct wbuf b = {buf + LS_PAGE, 0, cap};
    for (uint32_t s = 0; s < ls->sb.nseg; s++) {
        uint8_t *e = wb_take(&b, LS_CKPT_SEG_ENTRY);
        const struct ls_seg *g = &ls->segs[s];
        int st = g->state == LS_SEG_COMPACTING ? LS_SEG_SEALED : g->state;
        e[0] = (uint8_t)st;
        ls_put32(e + 4, g->used_pages);
        ls_put64(e + 8, g->max_seq);
        ls_put64(e + 16, g->mtime);
    }
    uint8_t *ntab_p = wb_take(&b, 8);
    uint64_t ntab = 0;
    int rc = 0;
    for (size_t i = 0; i < ls->idx.nbuckets && rc == 0; i++) {
        for (const struct ls_part *p = ls->idx.buckets[i]; p && rc == 0; p = p->hnext) {
            if (p->committed) {
                rc = put_table(&b, p, 1, p->version, p->size, &p->t);
                ntab++;
            }
            for (const struct ls_pend *q = p->pend; q && rc == 0; q = q->next) {
                rc = put_table(&b, p, 2, q->version, 0, &q->t);
                ntab++;
            }
        }
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    ls_put64(ntab_p, ntab);
    uint8_t *h = buf;
    ls_put32(h, LS_CKPT_MAGIC);
    ls_put16(h + 4, LS_FORMAT_VERSION);
    ls_put16(h + 6, CKPT_HDR_LEN);
    ls_put64(h + 8, gen);
    ls_put64(h + 16, ls->last_seq);
    ls_put64(h + 24, ls->tag);
    ls_put32(h + 32, ls->cur_seg);
    ls_put32(h + 36, ls->cur_page);
    ls_put64(h + 40, b.len);
    ls_put32(h + 48, ec_crc32c(0, buf + LS_PAGE, b.len));
    ls_put32(h + 52, ls->sb.nseg);
    ls_put32(h + 60, ec_crc32c(0, h, 60));
    *out = buf;
    *out_len = LS_PAGE + ls_pages(b.len) * LS_PAGE;
    return 0;
}

static int ckpt_write_slot(struct ls_dev *dev, const struct ls_sb *sb, int slot, uint8_t *buf,
                           size_t len)
{
    struct iovec iov = {buf, len};
    int rc = ls_pwritev_full(dev, &iov, 1, sb->slot_off[slot]);
    return rc < 0 ? rc : dev->sync(dev);
}

/* Reclaim sealed segments that hold nothing replay or readers need (mu). */
static void reclaim_empty(struct ls *ls)
{
    for (uint32_t s = 0; s < ls->sb.nseg; s++) {
        struct ls_seg *g = &ls->segs[s];
        if (g->state == LS_SEG_SEALED && g->live_pages == 0 && g->max_seq <= ls->ckpt_seq)
            ls_seg_free(ls, s); /* invariant 9 */
    }
}

int ls_checkpoint_write(struct ls *ls)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    pthread_mutex_lock(&ls->ckpt_mu);
    pthread_mutex_lock(&ls->mu);
    if (ls->read_only) {
        pthread_mutex_unlock(&ls->mu);
        pthread_mutex_unlock(&ls->ckpt_mu);
        return -EROFS;
    }
    if (ls->broken) {
        rc = LS_EBROKEN;
        pthread_mutex_unlock(&ls->mu);
        goto out;
    }
    uint64_t gen = ls->ckpt_gen + 1;
    uint64_t seq = ls->last_seq;
    rc = ckpt_build(ls, &buf, &len, gen);
    uint64_t since = ls->since_ckpt;
    ls->since_ckpt = 0;
    ls->ckpt_wanted = false;
    int slot = 1 - ls->ckpt_slot;
    pthread_mutex_unlock(&ls->mu);
    if (rc < 0)
        goto out;
    rc = ckpt_write_slot(ls->dev, &ls->sb, slot, buf, len);
    pthread_mutex_lock(&ls->mu);
    if (rc < 0) {
        ls->since_ckpt += since;
        ls->broken = rc; /* invariant 6: unknown state of the slot */
    } else {
        ls->ckpt_gen = gen;
        ls->ckpt_seq = seq;
        ls->ckpt_slot = slot;
        reclaim_empty(ls);
    }
    pthread_mutex_unlock(&ls->mu);
out:
    if (rc < 0)
        ls_logf(ls, LS_LOG_ERR, "logstore: checkpoint failed: %s", ls_strerror(rc));
    free(buf);
    pthread_mutex_unlock(&ls->ckpt_mu);
    return rc;
}

int ls_checkpoint(struct ls *ls)
{
    return ls_checkpoint_write(ls);
}

/* The checkpoint of a freshly formatted disk: empty index, log at segment 0. */
int ls_checkpoint_format(struct ls_dev *dev, const struct ls_sb *sb)
{
    struct ls tmp;
    int rc;
    memset(&tmp, 0, sizeof(tmp));
    tmp.sb = *sb;
    tmp.tag = ls_disk_tag(sb->disk_uuid);
    tmp.segs = calloc(sb->nseg, sizeof(*tmp.segs));
    if (!tmp.segs)
        return -ENOMEM;
    tmp.segs[0].state = LS_SEG_OPEN;
    if ((rc = ls_index_init(&tmp.idx)) < 0)
        goto out;
    uint8_t *buf = NULL;
    size_t len;
    rc = ckpt_build(&tmp, &buf, &len, 1);
    if (rc == 0)
        rc = ckpt_write_slot(dev, sb, 0, buf, len);
    free(buf);
    if (rc == 0) {
        /* Slot B: a zero header is "no checkpoint". */
        uint8_t *z = ls_aligned_alloc(LS_PAGE);
        if (!z) {
            rc = -ENOMEM;
            goto out;
        }
        memset(z, 0, LS_PAGE);
        rc = ckpt_write_slot(dev, sb, 1, z, LS_PAGE);
        free(z);
    }
out:
    ls_index_free(&tmp.idx);
    free(tmp.segs);
    return rc;
}

/* ---- checkpoint loading ------------------------------------------------- */

struct ckpt_hdr {
    uint64_t gen, seq, body_len;
    uint32_t pos_seg, pos_page, body_crc, nseg;
    uint16_t version;
};

static int ckpt_hdr_decode(const struct ls *ls, const uint8_t *h, struct ckpt_hdr *c)
{
    if (ls_get32(h) != LS_CKPT_MAGIC)
        return LS_ECORRUPT;
    c->version = ls_get16(h + 4);
    if (c->version < LS_FORMAT_VERSION_MIN || c->version > LS_FORMAT_VERSION)
        return LS_EVERSION;
    if (ls_get16(h + 6) != CKPT_HDR_LEN || ls_get32(h + 60) != ec_crc32c(0, h, 60))
        return LS_ECORRUPT;
    if (ls_get64(h + 24) != ls->tag)
        return LS_ECORRUPT;
    c->gen = ls_get64(h + 8);
    c->seq = ls_get64(h + 16);
    c->pos_seg = ls_get32(h + 32);
    c->pos_page = ls_get32(h + 36);
    c->body_len = ls_get64(h + 40);
    c->body_crc = ls_get32(h + 48);
    c->nseg = ls_get32(h + 52);
    if (c->nseg != ls->sb.nseg || c->pos_seg >= ls->sb.nseg || c->pos_page >= ls->seg_pages ||
        c->body_len > ls->sb.slot_bytes - LS_PAGE ||
        c->body_len < (uint64_t)ls->sb.nseg * LS_CKPT_SEG_ENTRY + 8)
        return LS_ECORRUPT;
    return 0;
}

static bool page_ok(const struct ls *ls, uint32_t page, uint32_t len)
{
    uint64_t first = ls->base_page, end = first + (uint64_t)ls->sb.nseg * ls->seg_pages;
    if (page < first || page >= end || len == 0 || len > LS_BLOCK_MAX)
        return false;
    uint64_t last = page + ls_pages(len) - 1;
    /* inside one segment, and never on a segment's reserved last page */
    return last < end && ls_page_seg(ls, (uint32_t)last) == ls_page_seg(ls, page) &&
           (last - first) % ls->seg_pages != ls->seg_pages - 1;
}

/* Parse a verified checkpoint body of format version fmt into the (empty) index. */
static int ckpt_load_body(struct ls *ls, uint16_t fmt, const uint8_t *b, uint64_t len)
{
    uint64_t off = 0;
    for (uint32_t s = 0; s < ls->sb.nseg; s++, off += LS_CKPT_SEG_ENTRY) {
        const uint8_t *e = b + off;
        struct ls_seg *g = &ls->segs[s];
        if (e[0] > LS_SEG_SEALED || ls_get32(e + 4) > ls->seg_pages)
            return LS_ECORRUPT;
        g->state = e[0];
        g->used_pages = ls_get32(e + 4);
        g->max_seq = ls_get64(e + 8);
        g->mtime = ls_get64(e + 16);
    }
    uint64_t ntab = ls_get64(b + off);
    off += 8;
    for (uint64_t t = 0; t < ntab; t++) {
        if (len - off < LS_CKPT_PART_HDR)
            return LS_ECORRUPT;
        const uint8_t *h = b + off;
        off += LS_CKPT_PART_HDR;
        uint64_t chunk = ls_get64(h), version = ls_get64(h + 16), size = ls_get64(h + 24);
        uint16_t part = ls_get16(h + 8), flags = ls_get16(h + 10);
        uint32_t nent = ls_get32(h + 12);
        if ((flags != 1 && flags != 2) || version == 0 || nent > LS_MAX_BLOCKS_PER_PART ||
            (len - off) / LS_CKPT_BLK_ENTRY < nent)
            return LS_ECORRUPT;
        struct ls_part *p = ls_index_get(&ls->idx, chunk, part);
        if (!p)
            return -ENOMEM;
        struct ls_btab *tab;
        if (flags == 1) {
            if (p->committed)
                return LS_ECORRUPT; /* two committed tables for one part */
            p->committed = true;
            p->version = version;
            p->size = size;
            tab = &p->t;
        } else {
            if (ls_pend_find(p, version) || (p->committed && version <= p->version))
                return LS_ECORRUPT;
            struct ls_pend *q = calloc(1, sizeof(*q));
            if (!q)
                return -ENOMEM;
            q->version = version;
            q->next = p->pend;
            p->pend = q;
            tab = &q->t;
        }
        ls->idx.ntabs++;
        for (uint32_t i = 0; i < nent; i++, off += LS_CKPT_BLK_ENTRY) {
            const uint8_t *e = b + off;
            /* Version 1 wrote the block index as a u32 (< 65536): its upper
             * half, the compressed length since version 2, is zero. */
            uint32_t blk = ls_get16(e), zlen = ls_get16(e + 2);
            uint32_t page = ls_get32(e + 4), crc = ls_get32(e + 8), plen = ls_get32(e + 12);
            if (plen == 0 || plen > LS_BLOCK_MAX || (zlen && fmt < 2) ||
                (zlen && ls_pages(zlen) >= ls_pages(plen)) ||
                !page_ok(ls, page, zlen ? zlen : plen) || (blk < tab->n && tab->e[blk].page))
                return LS_ECORRUPT;
            struct ls_bent v = ls_bent_make(page, crc, plen, zlen);
            int rc = ls_btab_set(ls, tab, blk, &v);
            if (rc < 0)
                return rc;
        }
    }
    return off == len ? 0 : LS_ECORRUPT;
}

static void reset_index(struct ls *ls)
{
    ls_index_free(&ls->idx);
    ls_index_init(&ls->idx);
    memset(ls->segs, 0, (size_t)ls->sb.nseg * sizeof(*ls->segs));
}

/* Load the newest valid checkpoint into the index. */
static int ckpt_load(struct ls *ls, struct ckpt_hdr *used, char *err, size_t errlen)
{
    struct ckpt_hdr c[2];
    int hrc[2];
    uint8_t *page = ls_aligned_alloc(LS_PAGE);
    int rc = 0;
    if (!page)
        return -ENOMEM;
    for (int s = 0; s < 2; s++) {
        rc = ls_pread_full(ls->dev, page, LS_PAGE, ls->sb.slot_off[s]);
        hrc[s] = rc < 0 ? rc : ckpt_hdr_decode(ls, page, &c[s]);
    }
    free(page);
    int order[2] = {0, 1};
    if (hrc[0] == 0 && hrc[1] == 0 && c[1].gen > c[0].gen) {
        order[0] = 1;
        order[1] = 0;
    } else if (hrc[0] != 0) {
        order[0] = 1;
        order[1] = 0;
    }
    rc = LS_ECORRUPT;
    for (int k = 0; k < 2; k++) {
        int s = order[k];
        if (hrc[s] != 0)
            continue;
        uint8_t *body = ls_aligned_alloc(ls_pages(c[s].body_len) * LS_PAGE);
        if (!body)
            return -ENOMEM;
        rc = ls_pread_full(ls->dev, body, ls_pages(c[s].body_len) * LS_PAGE,
                           ls->sb.slot_off[s] + LS_PAGE);
        if (rc == 0 && ec_crc32c(0, body, c[s].body_len) != c[s].body_crc)
            rc = LS_ECORRUPT;
        if (rc == 0)
            rc = ckpt_load_body(ls, c[s].version, body, c[s].body_len);
        free(body);
        if (rc == 0) {
            *used = c[s];
            ls->ckpt_slot = s;
            if (k == 1)
                ls_logf(ls, LS_LOG_WARN,
                        "logstore: newest checkpoint (slot %c) is damaged; using slot %c",
                        'A' + order[0], 'A' + s);
            return 0;
        }
        reset_index(ls);
    }
    if (hrc[0] == LS_EVERSION || hrc[1] == LS_EVERSION) {
        ls_errf(err, errlen, "index checkpoint has an unsupported format version");
        return LS_EVERSION;
    }
    ls_errf(err, errlen,
            "no valid index checkpoint (both slots damaged); the disk needs `cairn-disk check`");
    return rc < 0 ? rc : LS_ECORRUPT;
}

/* ---- replay ------------------------------------------------------------- */

static uint64_t seg_off(const struct ls *ls, uint32_t seg, uint32_t page)
{
    return ls->sb.seg_base + (uint64_t)seg * ls->sb.seg_bytes + (uint64_t)page * LS_PAGE;
}

/* Valid group header of the chain at (seg, page)? */
static int read_group(struct ls *ls, uint8_t *buf, uint32_t seg, uint32_t page, struct ls_ghdr *g,
                      struct ls_entry *ents)
{
    int rc = ls_pread_full(ls->dev, buf, LS_PAGE, seg_off(ls, seg, page));
    if (rc < 0)
        return rc;
    rc = ls_group_decode(buf, ls->seg_pages, g, ents);
    if (rc < 0)
        return rc;
    if (g->tag != ls->tag || g->seg != seg || g->page != page)
        return LS_ECORRUPT;
    if (g->nrec == 0 && (g->next_seg >= ls->sb.nseg || g->next_seg == seg || g->npages != 1))
        return LS_ECORRUPT;
    return 0;
}

static void note_group(struct ls *ls, const struct ls_ghdr *g)
{
    struct ls_seg *s = &ls->segs[g->seg];
    if (s->used_pages < g->page + g->npages)
        s->used_pages = g->page + g->npages;
    s->max_seq = g->seq;
    s->mtime = g->time_s;
    ls->last_seq = g->seq;
    ls->recovery_groups++;
}

static int apply_group(struct ls *ls, const struct ls_ghdr *g, const struct ls_entry *ents,
                       unsigned n)
{
    uint32_t abs = ls->base_page + g->seg * ls->seg_pages + g->page;
    for (unsigned i = 0; i < n; i++) {
        int rc = ls_index_apply(ls, &ents[i], abs + ents[i].data_page);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Verify payloads of the tail group: how many leading records are whole. */
static unsigned verify_tail(struct ls *ls, const struct ls_ghdr *g, const struct ls_entry *ents)
{
    uint8_t *buf = ls_aligned_alloc(LS_BLOCK_MAX);
    unsigned ok = 0;
    if (!buf)
        return 0;
    for (; ok < g->nrec; ok++) {
        const struct ls_entry *e = &ents[ok];
        if (e->type != LS_REC_BLOCK && e->type != LS_REC_MOVE)
            continue;
        size_t plen = ls_pages(e->len) * LS_PAGE;
        if (ls_pread_full(ls->dev, buf, plen, seg_off(ls, g->seg, g->page + e->data_page)) < 0 ||
            ec_crc32c(0, buf, e->len) != e->crc)
            break;
    }
    free(buf);
    return ok;
}

/* Scan forward in seg for the next valid group after a damaged one; reads
 * the segment in 1 MiB windows (this runs after every torn tail). */
static int resync(struct ls *ls, uint32_t seg, uint32_t from, uint64_t after_seq, uint32_t *found)
{
    const uint32_t win = 256;
    struct ls_ghdr g;
    struct ls_entry *ents = malloc(sizeof(struct ls_entry) * LS_GROUP_MAX_RECS);
    uint8_t *w = ls_aligned_alloc((size_t)win * LS_PAGE);
    int rc = 0;
    if (!ents || !w) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t p = from + 1; p < ls->seg_pages; p += win) {
        uint32_t n = ls->seg_pages - p < win ? ls->seg_pages - p : win;
        rc = ls_pread_full(ls->dev, w, (size_t)n * LS_PAGE, seg_off(ls, seg, p));
        if (rc < 0)
            goto out;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *pg = w + (size_t)i * LS_PAGE;
            if (ls_get32(pg) != LS_GROUP_MAGIC)
                continue;
            if (ls_group_decode(pg, ls->seg_pages, &g, ents) == 0 && g.tag == ls->tag &&
                g.seg == seg && g.page == p + i && g.seq > after_seq + 1) {
                *found = p + i;
                rc = 1;
                goto out;
            }
        }
    }
out:
    free(ents);
    free(w);
    return rc;
}

/*
 * Is this page the header of the group expected next, with some fields
 * damaged? Stale headers from a segment's earlier life carry smaller
 * sequence numbers and zeroed or torn-never-started pages match nothing, so
 * demand one of the two sequence fields plus four of the six fields.
 */
static bool expected_but_damaged(const struct ls *ls, const uint8_t *p, uint32_t seg, uint32_t page)
{
    uint64_t want = ls->last_seq + 1;
    bool seq = ls_get64(p + 8) == want, prev = ls_get64(p + 16) == want - 1;
    int m = (ls_get32(p) == LS_GROUP_MAGIC) + (ls_get64(p + 24) == ls->tag) +
            (ls_get32(p + 32) == seg) + (ls_get32(p + 36) == page) + seq + prev;
    return (seq || prev) && m >= 4;
}

static int replay(struct ls *ls, const struct ckpt_hdr *c)
{
    uint8_t *buf = ls_aligned_alloc(LS_PAGE);
    struct ls_entry *ents = malloc(sizeof(struct ls_entry) * LS_GROUP_MAX_RECS);
    struct ls_entry *pend_ents = malloc(sizeof(struct ls_entry) * LS_GROUP_MAX_RECS);
    struct ls_ghdr g, pend;
    bool have_pend = false;
    int rc = 0;
    if (!buf || !ents || !pend_ents) {
        rc = -ENOMEM;
        goto out;
    }
    uint32_t seg = c->pos_seg, page = c->pos_page;
    ls->last_seq = c->seq;
    for (;;) {
        int grc = page < ls->seg_pages ? read_group(ls, buf, seg, page, &g, ents) : LS_ECORRUPT;
        if (grc == 0 && g.seq != ls->last_seq + 1)
            grc = LS_ECORRUPT; /* stale group from the segment's earlier life */
        if (grc < 0 && grc != LS_ECORRUPT) {
            rc = grc; /* I/O error: refuse to guess */
            goto out;
        }
        if (grc < 0) {
            uint32_t found = 0;
            int r = page < ls->seg_pages ? resync(ls, seg, page, ls->last_seq, &found) : 0;
            if (r < 0) {
                rc = r;
                goto out;
            }
            if (r == 0) {
                /* End of the log. A header that is plainly the group we
                 * expected, damaged, is media damage (or a write torn inside
                 * its header page): never silent. */
                if (page < ls->seg_pages && expected_but_damaged(ls, buf, seg, page)) {
                    ls->corrupt_groups++;
                    ls_logf(ls, LS_LOG_ERR,
                            "logstore: the newest group (seq %llu, segment %u page %u) has a "
                            "damaged header; its records are lost",
                            (unsigned long long)ls->last_seq + 1, seg, page);
                }
                break;
            }
            /* Invariant 8: a damaged group inside the log. */
            read_group(ls, buf, seg, found, &g, ents);
            ls->corrupt_groups += g.seq - ls->last_seq - 1;
            ls_logf(ls, LS_LOG_ERR,
                    "logstore: damaged log at segment %u page %u (groups %llu..%llu lost); "
                    "continuing at page %u",
                    seg, page, (unsigned long long)ls->last_seq + 1, (unsigned long long)g.seq - 1,
                    found);
            ls->last_seq = g.seq - 1;
            page = found;
        }
        /* g is valid and chains: the pending group is not the tail. */
        if (have_pend && (rc = apply_group(ls, &pend, pend_ents, pend.nrec)) < 0)
            goto out;
        have_pend = false;
        note_group(ls, &g);
        if (g.nrec == 0) {
            struct ls_seg *old = &ls->segs[seg];
            old->state = LS_SEG_SEALED;
            seg = g.next_seg;
            page = 0;
            struct ls_seg *ns = &ls->segs[seg];
            if (ns->live_pages)
                ls_logf(ls, LS_LOG_ERR,
                        "logstore: segment %u re-entered with %u live pages; index damaged", seg,
                        ns->live_pages);
            ns->state = LS_SEG_OPEN;
            ns->used_pages = 0;
            continue;
        }
        pend = g;
        memcpy(pend_ents, ents, sizeof(struct ls_entry) * g.nrec);
        have_pend = true;
        page = g.page + g.npages;
    }
    if (have_pend) {
        unsigned ok = verify_tail(ls, &pend, pend_ents);
        if (ok < pend.nrec) {
            ls->recovery_cut = pend.nrec - ok;
            ls_logf(ls, LS_LOG_WARN,
                    "logstore: torn tail: cut %u of %u records of the last group (seq %llu)",
                    pend.nrec - ok, pend.nrec, (unsigned long long)pend.seq);
        }
        rc = apply_group(ls, &pend, pend_ents, ok);
    }
    ls->cur_seg = seg;
    ls->cur_page = page < ls->seg_pages - 1 ? page : ls->seg_pages - 1;
out:
    free(buf);
    free(ents);
    free(pend_ents);
    return rc;
}

/* ---- open / close ------------------------------------------------------- */

static uint64_t drop_uncommitted(struct ls *ls)
{
    uint64_t n = 0;
    for (size_t i = 0; i < ls->idx.nbuckets; i++) {
        for (struct ls_part *p = ls->idx.buckets[i], *next; p; p = next) {
            next = p->hnext;
            while (p->pend) {
                struct ls_pend *q = p->pend;
                p->pend = q->next;
                ls_btab_free(ls, &q->t);
                free(q);
                ls->idx.ntabs--;
                n++;
            }
            ls_index_drop_if_empty(ls, p);
        }
    }
    return n;
}

static int sb_load(struct ls *ls, const struct ls_open_opts *o, char *err, size_t errlen)
{
    struct ls_dev *d = ls->dev;
    uint8_t *p0 = ls_aligned_alloc(LS_PAGE), *p1 = ls_aligned_alloc(LS_PAGE);
    struct ls_sb s0, s1;
    int rc, rc0, rc1;
    if (!p0 || !p1) {
        rc = -ENOMEM;
        goto out;
    }
    if (d->size < 2 * LS_PAGE) {
        ls_errf(err, errlen, "device too small (%llu bytes) to hold a logstore",
                (unsigned long long)d->size);
        rc = LS_ENOTOURS;
        goto out;
    }
    rc0 = ls_pread_full(d, p0, LS_PAGE, 0);
    if (rc0 == 0)
        rc0 = ls_sb_decode(p0, d->size, &s0);
    rc1 = ls_pread_full(d, p1, LS_PAGE, d->size - LS_PAGE);
    if (rc1 == 0)
        rc1 = ls_sb_decode(p1, d->size, &s1);
    /* A valid copy of a supported version beside a header claiming another
     * version means that header is damaged (an upgrade rewrites both). Only
     * when neither copy is valid is the version unsupported. */
    if ((rc0 == LS_EVERSION && rc1 != 0) || (rc0 != 0 && rc1 == LS_EVERSION)) {
        ls_errf(err, errlen,
                "logstore format version %u is not supported by this build (it reads versions "
                "%u to %u); upgrade Cairn",
                ls_get32(rc0 == LS_EVERSION ? p0 + 8 : p1 + 8), LS_FORMAT_VERSION_MIN,
                LS_FORMAT_VERSION);
        rc = LS_EVERSION;
        goto out;
    }
    if (rc0 == 0) {
        ls->sb = s0;
        if (rc1 != 0 || memcmp(p0, p1, LS_SB_LEN) != 0) {
            ls_logf(ls, LS_LOG_WARN, "logstore: superblock copy at the end is damaged%s",
                    o->read_only ? "" : "; rewriting it");
            if (!o->read_only) {
                struct iovec iov = {p0, LS_PAGE};
                if (ls_pwritev_full(d, &iov, 1, d->size - LS_PAGE) == 0)
                    d->sync(d);
            }
        }
    } else if (rc1 == 0) {
        ls->sb = s1;
        ls_logf(ls, LS_LOG_WARN, "logstore: primary superblock damaged; using the copy%s",
                o->read_only ? "" : " and rewriting the primary");
        if (!o->read_only) {
            struct iovec iov = {p1, LS_PAGE};
            if (ls_pwritev_full(d, &iov, 1, 0) == 0)
                d->sync(d);
        }
    } else {
        rc = rc0;
        if (rc0 == LS_ENOTOURS && rc1 == LS_ENOTOURS)
            ls_errf(err, errlen,
                    "no Cairn logstore superblock found (format it with: cairn-disk format)");
        else
            ls_errf(err, errlen, "both superblocks are damaged (%s)", ls_strerror(rc0));
        goto out;
    }
    static const uint8_t zero[16];
    if (o->cluster_id && memcmp(ls->sb.cluster_id, zero, 16) != 0 &&
        memcmp(ls->sb.cluster_id, o->cluster_id, 16) != 0) {
        char a[40], b[40];
        for (int i = 0; i < 16; i++) {
            snprintf(a + 2 * i, 3, "%02x", ls->sb.cluster_id[i]);
            snprintf(b + 2 * i, 3, "%02x", o->cluster_id[i]);
        }
        ls_errf(err, errlen,
                "belongs to cluster %s, not this one (%s); refusing it (reformat with: "
                "cairn-disk format --force)",
                a, b);
        rc = LS_ECLUSTER;
        goto out;
    }
    rc = 0;
out:
    free(p0);
    free(p1);
    return rc;
}

/*
 * Invariant 11: rewrite an older superblock to LS_FORMAT_VERSION before the
 * first structure of the new version (checkpoint, group, compressed record)
 * is written, copy first, each synced. Until both are durable nothing new is
 * on the disk, so a crash in between leaves a disk every build still reads;
 * afterwards an older build refuses the disk (LS_EVERSION) instead of
 * misreading records it does not know.
 */
static int sb_upgrade(struct ls *ls, char *err, size_t errlen)
{
    uint32_t old = ls->sb.version;
    uint8_t *page = ls_aligned_alloc(LS_PAGE);
    int rc;
    if (!page)
        return -ENOMEM;
    ls->sb.version = LS_FORMAT_VERSION;
    ls_sb_encode(&ls->sb, page);
    if ((rc = ls_pwritev_full(ls->dev, &(struct iovec){page, LS_PAGE}, 1,
                              ls->dev->size - LS_PAGE)) < 0 ||
        (rc = ls->dev->sync(ls->dev)) < 0 ||
        (rc = ls_pwritev_full(ls->dev, &(struct iovec){page, LS_PAGE}, 1, 0)) < 0 ||
        (rc = ls->dev->sync(ls->dev)) < 0) {
        ls_errf(err, errlen, "cannot upgrade the superblock from format version %u to %u: %s", old,
                LS_FORMAT_VERSION, ls_strerror(rc));
        goto out;
    }
    ls_logf(ls, LS_LOG_INFO, "logstore: disk format upgraded from version %u to %u", old,
            LS_FORMAT_VERSION);
out:
    free(page);
    return rc;
}

int ls_open_dev(struct ls_dev *dev, const struct ls_open_opts *opts, struct ls **out, char *err,
                size_t errlen)
{
    static const struct ls_open_opts defaults;
    const struct ls_open_opts *o = opts ? opts : &defaults;
    struct ckpt_hdr c;
    int rc;
    struct ls *ls = calloc(1, sizeof(*ls));
    if (!ls) {
        dev->close(dev);
        return -ENOMEM;
    }
    ls->dev = dev;
    ls->read_only = o->read_only != 0;
    ls->ckpt_every = o->checkpoint_bytes ? o->checkpoint_bytes : (256ull << 20);
    ls->reserve = o->reserve_segments ? o->reserve_segments : 2;
    ls->log = o->log;
    ls->log_arg = o->log_arg;
    pthread_mutex_init(&ls->mu, NULL);
    pthread_mutex_init(&ls->ckpt_mu, NULL);
    pthread_mutex_init(&ls->compact_mu, NULL);
    pthread_mutex_init(&ls->z_mu, NULL);
    pthread_cond_init(&ls->cv, NULL);
    if ((rc = sb_load(ls, o, err, errlen)) < 0)
        goto fail;
    ls->tag = ls_disk_tag(ls->sb.disk_uuid);
    ls->seg_pages = ls->sb.seg_bytes / LS_PAGE;
    ls->base_page = (uint32_t)(ls->sb.seg_base / LS_PAGE);
    if (ls->reserve > ls->sb.nseg / 2)
        ls->reserve = ls->sb.nseg / 2;
    ls->segs = calloc(ls->sb.nseg, sizeof(*ls->segs));
    if (!ls->segs || (rc = ls_index_init(&ls->idx)) < 0) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = ckpt_load(ls, &c, err, errlen)) < 0)
        goto fail;
    ls->ckpt_seq = c.seq;
    ls->ckpt_gen = c.gen;
    if ((rc = replay(ls, &c)) < 0) {
        ls_errf(err, errlen, "log replay failed: %s", ls_strerror(rc));
        goto fail;
    }
    /* Atomic versions: a version never committed is dropped at recovery
     * (its write session died with the process that held it). */
    uint64_t dropped = drop_uncommitted(ls);
    if (dropped)
        ls_logf(ls, LS_LOG_INFO, "logstore: dropped %llu uncommitted part version(s)",
                (unsigned long long)dropped);
    /* Settle segment states: the head is open; anything else written is
     * sealed; a segment taken but never written is free. */
    ls->nfree = 0;
    for (uint32_t s = 0; s < ls->sb.nseg; s++) {
        struct ls_seg *g = &ls->segs[s];
        if (s == ls->cur_seg)
            g->state = LS_SEG_OPEN;
        else if (g->used_pages == 0 && g->live_pages == 0)
            g->state = LS_SEG_FREE;
        else
            g->state = LS_SEG_SEALED;
        if (g->state == LS_SEG_FREE)
            ls->nfree++;
    }
    if (!ls->read_only && ls->sb.version < LS_FORMAT_VERSION &&
        (rc = sb_upgrade(ls, err, errlen)) < 0)
        goto fail;
    if ((rc = ls_write_init(ls)) < 0)
        goto fail;
    if (!ls->read_only && (ls->last_seq != ls->ckpt_seq || dropped)) {
        /* Invariant 10. */
        if ((rc = ls_checkpoint_write(ls)) < 0) {
            ls_errf(err, errlen, "cannot write the checkpoint after recovery: %s", ls_strerror(rc));
            goto fail;
        }
    } else {
        pthread_mutex_lock(&ls->mu);
        reclaim_empty(ls);
        pthread_mutex_unlock(&ls->mu);
    }
    *out = ls;
    return 0;
fail:
    ls->read_only = true; /* no final checkpoint */
    ls_close(ls);
    return rc;
}

int ls_open(const char *path, const struct ls_open_opts *opts, struct ls **out, char *err,
            size_t errlen)
{
    struct ls_dev *dev;
    int flags = 0;
    if (opts && opts->read_only)
        flags |= LS_DEV_RDONLY;
    if (opts && opts->direct)
        flags |= LS_DEV_DIRECT;
    int rc = ls_dev_open_path(path, flags, &dev, err, errlen);
    if (rc < 0)
        return rc;
    char sub[256] = "";
    rc = ls_open_dev(dev, opts, out, sub, sizeof(sub));
    if (rc < 0)
        ls_errf(err, errlen, "disk %s: %s", path, sub[0] ? sub : ls_strerror(rc));
    return rc;
}

int ls_close(struct ls *ls)
{
    int rc = 0;
    if (!ls)
        return 0;
    if (!ls->read_only && !ls->broken && ls->filling && ls->last_seq != ls->ckpt_seq)
        rc = ls_checkpoint_write(ls);
    ls_write_release(ls);
    ls_zstd_release(ls);
    ls_index_free(&ls->idx);
    free(ls->segs);
    if (ls->dev)
        ls->dev->close(ls->dev);
    pthread_cond_destroy(&ls->cv);
    pthread_mutex_destroy(&ls->mu);
    pthread_mutex_destroy(&ls->ckpt_mu);
    pthread_mutex_destroy(&ls->compact_mu);
    pthread_mutex_destroy(&ls->z_mu);
    free(ls);
    return rc;
}
