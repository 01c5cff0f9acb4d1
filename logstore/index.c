/*
 * index.c - the in-memory index: (chunk, part) -> versions -> block tables.
 *
 * The index is a pure function of the log: ls_index_apply() is the only way
 * records change it, live (after a group is durable) and during replay, in
 * the same order, so a store reopened after a crash reaches exactly the state
 * it acknowledged. Each entry points at the absolute device page of a block's
 * payload and carries the payload's CRC32C and length (and, for a compressed
 * payload, both its stored and its plain length), so a read is a single I/O
 * verified against the index (record headers live in group header pages).
 *
 * Every entry change goes through ls_btab_set(), which keeps the per-segment
 * live page counts that compaction's victim choice and free space rely on.
 * All functions here run with ls->mu held.
 */
#include <errno.h>
#include <stdlib.h>

#include "ls_int.h"

static size_t hash_key(uint64_t chunk, uint16_t part, size_t nb)
{
    uint64_t h = chunk * 0x9e3779b97f4a7c15ull ^ ((uint64_t)part * 0xc2b2ae3d27d4eb4full);
    h ^= h >> 29;
    return (size_t)(h & (nb - 1));
}

int ls_index_init(struct ls_index *x)
{
    memset(x, 0, sizeof(*x));
    x->nbuckets = 1024;
    x->buckets = calloc(x->nbuckets, sizeof(*x->buckets));
    return x->buckets ? 0 : -ENOMEM;
}

static void part_free_tables(struct ls_part *p)
{
    free(p->t.e);
    for (struct ls_pend *q = p->pend, *n; q; q = n) {
        n = q->next;
        free(q->t.e);
        free(q);
    }
}

void ls_index_free(struct ls_index *x)
{
    if (!x->buckets)
        return;
    for (size_t i = 0; i < x->nbuckets; i++) {
        for (struct ls_part *p = x->buckets[i], *n; p; p = n) {
            n = p->hnext;
            part_free_tables(p);
            free(p);
        }
    }
    free(x->buckets);
    x->buckets = NULL;
}

struct ls_part *ls_index_find(struct ls_index *x, uint64_t chunk, uint16_t part)
{
    for (struct ls_part *p = x->buckets[hash_key(chunk, part, x->nbuckets)]; p; p = p->hnext)
        if (p->chunk == chunk && p->part == part)
            return p;
    return NULL;
}

static void index_grow(struct ls_index *x)
{
    size_t nb = x->nbuckets * 2;
    struct ls_part **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* keep the longer chains; still correct */
    for (size_t i = 0; i < x->nbuckets; i++) {
        for (struct ls_part *p = x->buckets[i], *n; p; p = n) {
            n = p->hnext;
            size_t h = hash_key(p->chunk, p->part, nb);
            p->hnext = b[h];
            b[h] = p;
        }
    }
    free(x->buckets);
    x->buckets = b;
    x->nbuckets = nb;
}

struct ls_part *ls_index_get(struct ls_index *x, uint64_t chunk, uint16_t part)
{
    struct ls_part *p = ls_index_find(x, chunk, part);
    if (p)
        return p;
    if (x->nparts >= x->nbuckets)
        index_grow(x);
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->chunk = chunk;
    p->part = part;
    size_t h = hash_key(chunk, part, x->nbuckets);
    p->hnext = x->buckets[h];
    x->buckets[h] = p;
    x->nparts++;
    return p;
}

void ls_index_drop_if_empty(struct ls *ls, struct ls_part *p)
{
    struct ls_index *x = &ls->idx;
    if (p->committed || p->pend)
        return;
    struct ls_part **pp = &x->buckets[hash_key(p->chunk, p->part, x->nbuckets)];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    ls_btab_free(ls, &p->t);
    free(p);
    x->nparts--;
}

struct ls_pend *ls_pend_find(struct ls_part *p, uint64_t version)
{
    for (struct ls_pend *q = p->pend; q; q = q->next)
        if (q->version == version)
            return q;
    return NULL;
}

static void seg_live(struct ls *ls, const struct ls_bent *b, int sign)
{
    uint32_t s = ls_page_seg(ls, b->page);
    uint32_t n = (uint32_t)ls_pages(ls_bent_stored(b));
    if (b->zlen) {
        uint64_t saved = ls_pages(ls_bent_len(b)) - n;
        if (sign > 0) {
            ls->idx.nzentries++;
            ls->idx.zsaved_pages += saved;
        } else {
            ls->idx.nzentries--;
            ls->idx.zsaved_pages -= saved;
        }
    }
    if (s >= ls->sb.nseg)
        return; /* validated at load; defensive */
    if (sign > 0)
        ls->segs[s].live_pages += n;
    else
        ls->segs[s].live_pages -= n < ls->segs[s].live_pages ? n : ls->segs[s].live_pages;
}

int ls_btab_set(struct ls *ls, struct ls_btab *t, uint32_t block, const struct ls_bent *v)
{
    if (block >= t->n) {
        if (!v || !v->page)
            return 0;
        uint32_t n = t->n ? t->n : 16;
        while (n <= block)
            n *= 2;
        if (n > LS_MAX_BLOCKS_PER_PART)
            n = LS_MAX_BLOCKS_PER_PART;
        struct ls_bent *e = realloc(t->e, (size_t)n * sizeof(*e));
        if (!e)
            return -ENOMEM;
        memset(e + t->n, 0, (size_t)(n - t->n) * sizeof(*e));
        t->e = e;
        t->n = n;
    }
    struct ls_bent *cur = &t->e[block];
    if (cur->page) {
        seg_live(ls, cur, -1);
        t->used--;
        ls->idx.nentries--;
    }
    if (v && v->page) {
        *cur = *v;
        seg_live(ls, cur, +1);
        t->used++;
        ls->idx.nentries++;
    } else {
        memset(cur, 0, sizeof(*cur));
    }
    return 0;
}

void ls_btab_free(struct ls *ls, struct ls_btab *t)
{
    for (uint32_t b = 0; b < t->n && t->used; b++)
        if (t->e[b].page)
            ls_btab_set(ls, t, b, NULL);
    free(t->e);
    memset(t, 0, sizeof(*t));
}

static void pend_drop_upto(struct ls *ls, struct ls_part *p, uint64_t version)
{
    for (struct ls_pend **qq = &p->pend; *qq;) {
        struct ls_pend *q = *qq;
        if (q->version <= version) {
            *qq = q->next;
            ls_btab_free(ls, &q->t);
            free(q);
            ls->idx.ntabs--;
        } else {
            qq = &q->next;
        }
    }
}

uint64_t ls_ckpt_estimate(const struct ls *ls)
{
    return (uint64_t)ls->sb.nseg * LS_CKPT_SEG_ENTRY + 8 + ls->idx.ntabs * LS_CKPT_PART_HDR +
           ls->idx.nentries * LS_CKPT_BLK_ENTRY;
}

int ls_index_check(struct ls *ls, const struct ls_entry *w, const void *data)
{
    struct ls_part *p = ls_index_find(&ls->idx, w->chunk, w->part);
    if (w->version == 0)
        return -EINVAL;
    switch (w->type) {
    case LS_REC_BLOCK:
        if (w->len == 0 || w->len > LS_BLOCK_MAX || !data || w->block >= LS_MAX_BLOCKS_PER_PART)
            return -EINVAL;
        if (p && p->committed && w->version <= p->version)
            return -ESTALE;
        /* Worst case: each queued BLOCK adds an entry and a table. */
        if (ls_ckpt_estimate(ls) + ls->queued_index + LS_CKPT_PART_HDR + LS_CKPT_BLK_ENTRY >
            ls->sb.slot_bytes - LS_PAGE)
            return LS_EINDEXFULL;
        return 0;
    case LS_REC_COMMIT:
        if (p && p->committed && w->version <= p->version)
            return -ESTALE;
        if (w->aux > (uint64_t)LS_MAX_BLOCKS_PER_PART * LS_BLOCK_MAX)
            return -EFBIG;
        return 0;
    case LS_REC_DELETE:
        if (!p)
            return -ENOENT;
        if (p->committed && p->version > w->version)
            return -ESTALE;
        return 0;
    default:
        return -EINVAL;
    }
}

static int apply_block(struct ls *ls, const struct ls_entry *e, uint32_t page)
{
    struct ls_part *p = ls_index_get(&ls->idx, e->chunk, e->part);
    if (!p)
        return -ENOMEM;
    if (p->committed && e->version <= p->version)
        return 0; /* stale write: the record is dead */
    struct ls_pend *q = ls_pend_find(p, e->version);
    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q) {
            ls_index_drop_if_empty(ls, p);
            return -ENOMEM;
        }
        q->version = e->version;
        q->next = p->pend;
        p->pend = q;
        ls->idx.ntabs++;
    }
    struct ls_bent v = ls_entry_bent(e, page);
    return ls_btab_set(ls, &q->t, e->block, &v);
}

static int apply_commit(struct ls *ls, const struct ls_entry *e)
{
    struct ls_part *p = ls_index_get(&ls->idx, e->chunk, e->part);
    int rc = 0;
    if (!p)
        return -ENOMEM;
    if (p->committed && e->version <= p->version)
        return 0;
    struct ls_pend *q = ls_pend_find(p, e->version);
    if (q) {
        for (uint32_t b = 0; b < q->t.n; b++) {
            if (q->t.e[b].page) {
                struct ls_bent v = q->t.e[b];
                /* Move the entry: clear it from the pending table first so a
                 * page is never referenced twice. */
                ls_btab_set(ls, &q->t, b, NULL);
                if ((rc = ls_btab_set(ls, &p->t, b, &v)) < 0)
                    return rc;
            }
        }
    }
    uint64_t nb = (e->aux + LS_BLOCK_MAX - 1) / LS_BLOCK_MAX;
    for (uint64_t b = nb; b < p->t.n; b++)
        if (p->t.e[b].page)
            ls_btab_set(ls, &p->t, (uint32_t)b, NULL);
    pend_drop_upto(ls, p, e->version);
    if (!p->committed)
        ls->idx.ntabs++;
    p->committed = true;
    p->version = e->version;
    p->size = e->aux;
    return 0;
}

static int apply_delete(struct ls *ls, const struct ls_entry *e)
{
    struct ls_part *p = ls_index_find(&ls->idx, e->chunk, e->part);
    if (!p)
        return 0;
    if (p->committed && p->version > e->version)
        return 0;
    pend_drop_upto(ls, p, e->version);
    ls_btab_free(ls, &p->t);
    if (p->committed)
        ls->idx.ntabs--;
    p->committed = false;
    p->version = 0;
    p->size = 0;
    ls_index_drop_if_empty(ls, p);
    return 0;
}

/* Relocation by compaction: only if the entry still points where the block
 * was copied from (else the copy is dead). */
static int apply_move(struct ls *ls, const struct ls_entry *e, uint32_t page)
{
    struct ls_part *p = ls_index_find(&ls->idx, e->chunk, e->part);
    struct ls_bent v = ls_entry_bent(e, page);
    if (!p)
        return 0;
    if (e->block < p->t.n && p->t.e[e->block].page == e->aux && p->t.e[e->block].crc == e->crc)
        return ls_btab_set(ls, &p->t, e->block, &v);
    for (struct ls_pend *q = p->pend; q; q = q->next)
        if (e->block < q->t.n && q->t.e[e->block].page == e->aux && q->t.e[e->block].crc == e->crc)
            return ls_btab_set(ls, &q->t, e->block, &v);
    return 0;
}

int ls_index_apply(struct ls *ls, const struct ls_entry *e, uint32_t page)
{
    switch (e->type) {
    case LS_REC_BLOCK:
        return apply_block(ls, e, page);
    case LS_REC_COMMIT:
        return apply_commit(ls, e);
    case LS_REC_DELETE:
        return apply_delete(ls, e);
    case LS_REC_MOVE:
        return apply_move(ls, e, page);
    default:
        return 0;
    }
}
