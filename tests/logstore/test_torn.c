/*
 * test_torn.c - a torn tail is cut off at recovery, at every byte.
 *
 * A memory device's bytes copied after durable appends are a crash image.
 * With checkpoint_bytes huge no checkpoint covers the tail, so recovery has
 * to scan it. Each test snapshots I_B before the last group and I_C after it;
 * the last group's bytes are the log end before and after (ls_segments: the
 * open segment's offset + written; when the group crossed into a new segment,
 * the rest of the old one plus the start of the new one). For every offset x
 * of that range the test builds I_C with bytes [x, end) taken from I_B (a
 * write that reached the disk only up to x), opens it and checks that
 * exactly the complete groups are kept: everything acknowledged before reads
 * back, and the last group's effects are there only if the image is I_C.
 *
 * Every byte is tested in the normal build (a cut at a byte that the last
 * group did not change gives the same image as the next cut, so only changed
 * bytes are opened); under ASan every byte of the header pages and a stride
 * over payloads (time).
 * Images are opened through faultdev_view() (no copy); odd offsets open
 * read-only, even ones read-write; every 64th offset also appends after the
 * cut and reopens, to prove the cut leaves a log that accepts new groups.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultdev.h"
#include "logstore.h"

#if defined(__SANITIZE_ADDRESS__)
#define TORN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORN_ASAN 1
#endif
#endif
#ifndef TORN_ASAN
#define TORN_ASAN 0
#endif

#define DEV_BYTES (16ull << 20)
#define SEG_BYTES (1u << 20)
#define NP        4
#define NB        8
#define BLK       ((uint64_t)LS_BLOCK_MAX)

struct tb {
    int present;
    uint64_t version, nonce;
    uint32_t len;
};

struct tp {
    int exists;
    uint64_t version, size;
    struct tb tab[NB];
    int haspend; /* one uncommitted version at most in these tests */
    uint64_t pv;
    struct tb ptab[NB];
};

/* Acknowledged state of parts (chunk 100+i, part i). */
struct tmodel {
    struct tp p[NP];
};

/* A write of one batch, described for the model. */
struct tw {
    int type;
    int pi; /* part index 0..NP-1 */
    uint64_t version;
    uint32_t block;
    uint32_t len;
    uint64_t size;
};

struct tenv {
    struct ls *ls;
    struct ls_dev *dev; /* owned by ls */
    struct tmodel m;
    uint64_t nonce;
    struct tw *last; /* the last batch put(), for prefixes of it */
    uint64_t last_nonce[8];
    int nlast;
};

static uint64_t tchunk(int i)
{
    return 100 + (uint64_t)i;
}

static void env_open(struct tenv *e)
{
    memset(e, 0, sizeof(*e));
    char err[256];
    int rc = ls_dev_open_mem(DEV_BYTES, NULL, 0, &e->dev);
    cr_assert_eq(rc, 0, "ls_dev_open_mem: %d", rc);
    struct ls_format_opts fo = {0};
    fo.segment_bytes = SEG_BYTES;
    rc = ls_format_dev(e->dev, &fo, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_format_dev: %d (%s): %s", rc, ls_strerror(rc), err);
    struct ls_open_opts oo = {0};
    oo.checkpoint_bytes = 1ull << 50;
    rc = ls_open_dev(e->dev, &oo, &e->ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_open_dev: %d (%s): %s", rc, ls_strerror(rc), err);
    e->nonce = 1;
}

static void model_apply(struct tmodel *m, const struct tw *w, const uint64_t *nonces, int n)
{
    for (int i = 0; i < n; i++) {
        struct tp *p = &m->p[w[i].pi];
        if (w[i].type == LS_REC_BLOCK) {
            if (!p->haspend || p->pv != w[i].version) {
                memset(p->ptab, 0, sizeof(p->ptab));
                p->haspend = 1;
                p->pv = w[i].version;
            }
            p->ptab[w[i].block] = (struct tb){
                .present = 1, .version = w[i].version, .nonce = nonces[i], .len = w[i].len};
        } else if (w[i].type == LS_REC_COMMIT) {
            if (!p->exists)
                memset(p->tab, 0, sizeof(p->tab));
            for (int b = 0; b < NB; b++) {
                if (p->haspend && p->pv == w[i].version && p->ptab[b].present)
                    p->tab[b] = p->ptab[b];
                if ((uint64_t)b * BLK >= w[i].size)
                    p->tab[b].present = 0;
            }
            p->exists = 1;
            p->version = w[i].version;
            p->size = w[i].size;
            if (p->haspend && p->pv <= w[i].version)
                p->haspend = 0;
        }
    }
}

/* Append one batch (one group) and apply it to the model once acknowledged. */
static void put(struct tenv *e, const struct tw *w, int n)
{
    struct ls_write lw[8];
    uint8_t *bufs[8];
    uint64_t nonces[8];
    cr_assert_leq(n, 8);
    memset(lw, 0, sizeof(lw));
    for (int i = 0; i < n; i++) {
        bufs[i] = NULL;
        lw[i].type = w[i].type;
        lw[i].chunk = tchunk(w[i].pi);
        lw[i].part = (uint16_t)w[i].pi;
        lw[i].version = w[i].version;
        if (w[i].type == LS_REC_BLOCK) {
            nonces[i] = e->nonce++;
            bufs[i] = malloc(w[i].len);
            fd_fill_payload(bufs[i], lw[i].chunk, lw[i].part, w[i].version, w[i].block, nonces[i],
                            w[i].len);
            lw[i].block = w[i].block;
            lw[i].data = bufs[i];
            lw[i].len = w[i].len;
        } else {
            nonces[i] = 0;
            lw[i].size = w[i].size;
        }
    }
    int rc = ls_writev(e->ls, lw, (size_t)n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(lw[i].result, 0, "write %d of the batch: %d (%s)", i, lw[i].result,
                     ls_strerror(lw[i].result));
    cr_assert_eq(rc, 0, "ls_writev: %d (%s)", rc, ls_strerror(rc));
    model_apply(&e->m, w, nonces, n);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    free(e->last);
    e->last = malloc(sizeof(*w) * (size_t)n);
    memcpy(e->last, w, sizeof(*w) * (size_t)n);
    memcpy(e->last_nonce, nonces, sizeof(nonces[0]) * (size_t)n);
    e->nlast = n;
}

/* A block + commit group for part pi at version v (blocks b0..b0+nb-1, length len). */
static void put_commit(struct tenv *e, int pi, uint64_t v, uint32_t b0, int nb, uint32_t len)
{
    struct tw w[8];
    int n = 0;
    for (int i = 0; i < nb; i++)
        w[n++] = (struct tw){
            .type = LS_REC_BLOCK, .pi = pi, .version = v, .block = b0 + (uint32_t)i, .len = len};
    w[n++] = (struct tw){.type = LS_REC_COMMIT, .pi = pi, .version = v, .size = NB * BLK};
    put(e, w, n);
}

/* Read one block: the expected write x, or the error want_err when x is NULL. */
static int expect_read(struct ls *ls, int i, uint64_t rv, int b, const struct tb *x,
                       ssize_t want_err, uint8_t *buf, uint8_t *exp, char *why, size_t whylen)
{
    ssize_t n = ls_read(ls, tchunk(i), (uint16_t)i, rv, (uint32_t)b, buf, LS_BLOCK_MAX);
    char d[200] = "";
    if (n > 0)
        fd_describe_payload(buf, n, d, sizeof(d));
    if (x) {
        fd_fill_payload(exp, tchunk(i), (uint16_t)i, x->version, (uint32_t)b, x->nonce, x->len);
        if (n == (ssize_t)x->len && memcmp(buf, exp, x->len) == 0)
            return 0;
        snprintf(why, whylen,
                 "part %d block %d (read version %" PRIu64 "): expected %u bytes of version "
                 "%" PRIu64 " nonce %" PRIu64 ", got %zd (%s) %s",
                 i, b, rv, x->len, x->version, x->nonce, n, n < 0 ? ls_strerror((int)n) : "", d);
        return -1;
    }
    if (n == want_err)
        return 0;
    snprintf(why, whylen,
             "part %d block %d (read version %" PRIu64 "): expected %zd (%s), got %zd (%s) %s", i,
             b, rv, want_err, ls_strerror((int)want_err), n, n < 0 ? ls_strerror((int)n) : "", d);
    return -1;
}

/*
 * Compare the store with the model. Committed state must match exactly; an
 * acknowledged uncommitted version may be dropped at recovery (logstore.h)
 * or kept exactly, nothing in between. Returns the number of parts, or -1
 * with the first difference in why.
 */
static int check_store(struct ls *ls, const struct tmodel *m, uint8_t *buf, uint8_t *exp, char *why,
                       size_t whylen)
{
    int want = 0;
    for (int i = 0; i < NP; i++) {
        const struct tp *p = &m->p[i];
        for (int b = 0; b < NB; b++) {
            const struct tb *x = p->exists && p->tab[b].present ? &p->tab[b] : NULL;
            if (expect_read(ls, i, 0, b, x, p->exists ? -ENODATA : -ENOENT, buf, exp, why, whylen))
                return -1;
        }
        int kept = 0;
        if (p->haspend) {
            ssize_t n = ls_read(ls, tchunk(i), (uint16_t)i, p->pv, 0, buf, LS_BLOCK_MAX);
            /* Dropped: no such version, or no such part when nothing else was left of it. */
            kept = n != -ESTALE && !(n == -ENOENT && !p->exists);
            for (int b = 0; b < NB; b++) {
                const struct tb *x = !kept                            ? NULL
                                     : p->ptab[b].present             ? &p->ptab[b]
                                     : p->exists && p->tab[b].present ? &p->tab[b]
                                                                      : NULL;
                if (expect_read(ls, i, p->pv, b, x, kept ? -ENODATA : n, buf, exp, why, whylen)) {
                    size_t l = strlen(why);
                    snprintf(why + l, whylen - l, " [uncommitted version %" PRIu64 " %s]", p->pv,
                             kept ? "kept" : "dropped");
                    return -1;
                }
            }
        }
        struct ls_part_info pi;
        int rc = ls_part_stat(ls, tchunk(i), (uint16_t)i, &pi);
        if (!p->exists && !kept) {
            if (rc != -ENOENT) {
                snprintf(why, whylen, "part %d: expected absent, ls_part_stat gave %d (%s)", i, rc,
                         ls_strerror(rc));
                return -1;
            }
            continue;
        }
        want++;
        if (rc != 0 || pi.committed != p->exists || (p->exists && pi.version != p->version) ||
            pi.npending != (uint32_t)kept) {
            snprintf(why, whylen,
                     "part %d: expected committed %d version %" PRIu64 " npending %d; got rc %d "
                     "(%s) committed %d version %" PRIu64 " npending %u",
                     i, p->exists, p->version, kept, rc, ls_strerror(rc), rc ? 0 : pi.committed,
                     rc ? 0 : pi.version, rc ? 0 : pi.npending);
            return -1;
        }
    }
    return want;
}

/* Snapshot of the log end: the open segment. */
struct logpos {
    uint32_t seg;
    uint64_t off, written;
};

static struct logpos log_end(struct ls *ls)
{
    struct ls_seg_info si[64];
    int n = ls_segments(ls, si, 64);
    cr_assert_gt(n, 0, "ls_segments: %d", n);
    cr_assert_leq(n, 64);
    struct logpos lp = {UINT32_MAX, 0, 0};
    for (int i = 0; i < n; i++)
        if (si[i].state == LS_SEG_OPEN) {
            cr_assert_eq(lp.seg, UINT32_MAX, "two open segments: %u and %u", lp.seg, si[i].index);
            lp = (struct logpos){si[i].index, si[i].offset, si[i].written};
        }
    cr_assert_neq(lp.seg, UINT32_MAX, "no open segment");
    return lp;
}

static uint64_t seg_written(struct ls *ls, uint32_t seg)
{
    struct ls_seg_info si[64];
    int n = ls_segments(ls, si, 64);
    for (int i = 0; i < n && i < 64; i++)
        if (si[i].index == seg)
            return si[i].written;
    cr_assert_fail("segment %u not listed", seg);
    return 0;
}

static uint8_t *snapshot(struct tenv *e)
{
    uint8_t *img = malloc(DEV_BYTES);
    cr_assert_not_null(img);
    memcpy(img, ls_dev_mem_data(e->dev), DEV_BYTES);
    return img;
}

struct range {
    uint64_t off, len;
};

/*
 * The last group's bytes: from the log end before it to the log end after
 * it, across a segment switch if there was one.
 */
static int tail_ranges(struct ls *ls, struct logpos before, struct range r[2])
{
    struct logpos after = log_end(ls);
    if (after.seg == before.seg) {
        cr_assert_gt(after.written, before.written, "the last group wrote nothing");
        r[0] = (struct range){before.off + before.written, after.written - before.written};
        return 1;
    }
    uint64_t w = seg_written(ls, before.seg);
    cr_assert_geq(w, before.written);
    r[0] = (struct range){before.off + before.written, w - before.written};
    r[1] = (struct range){after.off, after.written};
    return r[0].len ? 2 : (r[0] = r[1], 1);
}

static int must_test(uint64_t x, uint64_t total, const struct range *r, int nr)
{
    if (!TORN_ASAN || x >= total || total - x <= 64)
        return 1;
    uint64_t at = 0;
    for (int i = 0; i < nr; i++) {
        if (x >= at && x - at < LS_PAGE)
            return 1; /* every byte of a group header page */
        at += r[i].len;
    }
    return x % 7 == 0 || x % LS_PAGE < 8 || x % LS_PAGE >= LS_PAGE - 8; /* payload: stride */
}

static int count_parts_cb(const struct ls_part_info *pi, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

/* The cut log takes new groups, and they and everything before survive a reopen. */
static void append_after_cut(const uint8_t *img, const struct tmodel *want, uint64_t x,
                             const char *name, uint8_t *buf, uint8_t *exp)
{
    char err[256], why[512];
    struct tenv e2;
    memset(&e2, 0, sizeof(e2));
    int rc = ls_dev_open_mem(DEV_BYTES, img, DEV_BYTES, &e2.dev);
    cr_assert_eq(rc, 0);
    struct ls_open_opts oo = {0};
    oo.checkpoint_bytes = 1ull << 50;
    rc = ls_open_dev(e2.dev, &oo, &e2.ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s: cut at %" PRIu64 ": open: %d (%s): %s", name, x, rc, ls_strerror(rc),
                 err);
    e2.m = *want;
    e2.nonce = 1000000 + x;
    put_commit(&e2, NP - 1, 1000 + x, 0, 1, 3000);
    put_commit(&e2, 0, 1000 + x, 5, 1, 100);
    uint8_t *crash = malloc(DEV_BYTES);
    memcpy(crash, ls_dev_mem_data(e2.dev), DEV_BYTES); /* a crash image, no close */
    rc = ls_close(e2.ls);
    cr_assert_eq(rc, 0, "%s: cut at %" PRIu64 ": ls_close: %d", name, x, rc);

    struct ls_dev *d;
    rc = ls_dev_open_mem(DEV_BYTES, crash, DEV_BYTES, &d);
    cr_assert_eq(rc, 0);
    struct ls *ls;
    rc = ls_open_dev(d, &oo, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s: cut at %" PRIu64 ", appended, crashed: reopen: %d (%s): %s", name, x,
                 rc, ls_strerror(rc), err);
    int np = check_store(ls, &e2.m, buf, exp, why, sizeof(why));
    cr_assert_geq(np, 0, "%s: cut at %" PRIu64 ", appended two groups, crashed, reopened: %s", name,
                  x, why);
    rc = ls_close(ls);
    cr_assert_eq(rc, 0);
    free(crash);
    free(e2.last);
}

/*
 * Cut the last group at every offset: image = I_C with [x, end) from I_B.
 * `without` is the model before the last group, `with` after it.
 */
static void sweep(struct tenv *e, const uint8_t *ib, const uint8_t *ic, const struct range *r,
                  int nr, const struct tmodel *without, const char *name)
{
    uint64_t total = 0;
    for (int i = 0; i < nr; i++)
        total += r[i].len;
    uint64_t *phys = malloc(total * sizeof(*phys));
    uint64_t k = 0;
    for (int i = 0; i < nr; i++)
        for (uint64_t j = 0; j < r[i].len; j++)
            phys[k++] = r[i].off + j;
    int64_t lastdiff = -1;
    for (uint64_t x = 0; x < total; x++)
        if (ib[phys[x]] != ic[phys[x]])
            lastdiff = (int64_t)x;
    cr_assert_geq(lastdiff, 0, "%s: the last group changed no byte of its range", name);

    /*
     * What survives a cut at x (format.md: the tail group is verified and
     * cut at its first bad record): a structure is intact when none of its
     * bytes at or past x differ between I_B and I_C. crit = the last
     * differing logical offset of a structure, -1 if none.
     */
    int64_t crit_hdr = -1, crit_rec[64];
    uint64_t base = 0;
    const uint8_t *g = NULL;
    for (int i = 0; i < nr; i++) {
        g = ic + r[i].off;
        uint32_t magic;
        uint16_t nrec;
        memcpy(&magic, g, 4);
        memcpy(&nrec, g + 6, 2);
        cr_assert_eq(magic, 0x5247534Cu, "%s: no group header at %" PRIu64, name, r[i].off);
        for (uint64_t j = 0; j < 64 + 64ull * nrec; j++)
            if (ib[r[i].off + j] != ic[r[i].off + j])
                crit_hdr = (int64_t)(base + j);
        if (i < nr - 1) {
            cr_assert_eq(nrec, 0, "%s: the group before the segment switch is not a LINK", name);
            base += r[i].len;
        }
    }
    uint16_t nrec;
    memcpy(&nrec, g + 6, 2);
    cr_assert_eq(nrec, e->nlast, "%s: the last group holds %u records, the batch had %d", name,
                 nrec, e->nlast);
    for (int i = 0; i < nrec; i++) {
        const uint8_t *en = g + 64 + 64 * i;
        uint32_t block, len, page;
        uint16_t part;
        memcpy(&part, en + 2, 2);
        memcpy(&block, en + 4, 4);
        memcpy(&len, en + 24, 4);
        memcpy(&page, en + 32, 4);
        const struct tw *w = &e->last[i];
        cr_assert(en[0] == w->type && part == w->pi &&
                      (w->type != LS_REC_BLOCK || block == w->block),
                  "%s: record %d of the last group is type %u part %u block %u, not the batch's "
                  "write %d",
                  name, i, en[0], part, block, i);
        crit_rec[i] = -1;
        for (uint64_t j = 0; w->type == LS_REC_BLOCK && j < len; j++) {
            uint64_t q = base + (uint64_t)page * LS_PAGE + j;
            cr_assert_lt(q, total);
            if (ib[phys[q]] != ic[phys[q]])
                crit_rec[i] = (int64_t)q;
        }
    }

    /* Bytes changed outside the tail would not be cut: report them. */
    uint64_t outside = 0;
    for (uint64_t o = 0; o < DEV_BYTES; o++) {
        if (ib[o] == ic[o])
            continue;
        int in = 0;
        for (int i = 0; i < nr; i++)
            in |= o >= r[i].off && o < r[i].off + r[i].len;
        outside += !in;
    }
    if (outside)
        cr_log_warn("%s: %" PRIu64 " bytes outside the log tail changed too", name, outside);

    uint8_t *img = malloc(DEV_BYTES);
    memcpy(img, ic, DEV_BYTES);
    uint8_t *buf = malloc(LS_BLOCK_MAX), *exp = malloc(LS_BLOCK_MAX);
    char why[512], err[256];
    uint64_t tested = 0, kept = 0;
    for (int64_t xs = (int64_t)total; xs >= 0; xs--) {
        uint64_t x = (uint64_t)xs;
        if (x < total)
            img[phys[x]] = ib[phys[x]];
        /* A cut at an unchanged byte gives the same image as the cut one byte later. */
        if (x < total && ib[phys[x]] == ic[phys[x]])
            continue;
        if (!must_test(x, total, r, nr))
            continue;
        tested++;
        int full = (int64_t)x > lastdiff;
        int nk = 0;
        if ((int64_t)x > crit_hdr)
            while (nk < nrec && (int64_t)x > crit_rec[nk])
                nk++;
        cr_assert(!full || nk == nrec);
        struct tmodel want_m = *without;
        model_apply(&want_m, e->last, e->last_nonce, nk);
        const struct tmodel *want = &want_m;
        struct faultdev *ctl;
        struct ls_dev *d = faultdev_view(img, DEV_BYTES, &ctl);
        cr_assert_not_null(d);
        struct ls_open_opts oo = {0};
        oo.read_only = (int)(x & 1);
        oo.checkpoint_bytes = 1ull << 50;
        struct ls *ls = NULL;
        int rc = ls_open_dev(d, &oo, &ls, err, sizeof(err));
        cr_assert_eq(rc, 0,
                     "%s: cut at %" PRIu64 "/%" PRIu64 " (device offset %" PRIu64
                     "): open failed: %d (%s): %s",
                     name, x, total, x < total ? phys[x] : 0, rc, ls_strerror(rc), err);
        int np = check_store(ls, want, buf, exp, why, sizeof(why));
        cr_assert_geq(np, 0,
                      "%s: cut at byte %" PRIu64 " of %" PRIu64 " (device offset %" PRIu64
                      ", %s open), expected the first %d of %u records kept: %s",
                      name, x, total, x < total ? phys[x] : 0, oo.read_only ? "read-only" : "rw",
                      nk, nrec, why);
        int listed = 0;
        rc = ls_list_parts(ls, count_parts_cb, &listed);
        cr_assert_eq(listed, np, "%s: cut at %" PRIu64 ": ls_list_parts listed %d parts, want %d",
                     name, x, listed, np);
        kept += (uint64_t)nk;
        rc = ls_close(ls);
        cr_assert_eq(rc, 0, "%s: cut at %" PRIu64 ": ls_close: %d (%s)", name, x, rc,
                     ls_strerror(rc));
        faultdev_free(ctl);
        if (!oo.read_only && x % 64 == 0)
            append_after_cut(img, want, x, name, buf, exp);
    }
    fprintf(stderr, "%s: %" PRIu64 " cut points over %" PRIu64 " bytes, %" PRIu64 " kept records\n",
            name, tested, total, kept);
    free(phys);
    free(img);
    free(buf);
    free(exp);
}

static void env_close(struct tenv *e)
{
    free(e->last);
    int rc = ls_close(e->ls);
    cr_assert_eq(rc, 0, "ls_close: %d", rc);
}

/* Two committed parts, written in several groups: the history before the tail. */
static void history(struct tenv *e)
{
    put_commit(e, 0, 1, 0, 2, 8192);
    put_commit(e, 1, 1, 0, 1, 4096);
    put_commit(e, 2, 1, 2, 3, 5000);
}

/* A torn block + commit group at any byte is cut; the part keeps its previous version. */
Test(torn, single_block_group)
{
    struct tenv e;
    env_open(&e);
    history(&e);
    put_commit(&e, 1, 2, 1, 1, 4096); /* second-to-last */
    uint8_t *ib = snapshot(&e);
    struct logpos before = log_end(e.ls);
    struct tmodel without = e.m;
    put_commit(&e, 0, 2, 0, 1, 4096); /* the last group: block 0 of v2 + commit */
    uint8_t *ic = snapshot(&e);
    struct range r[2];
    int nr = tail_ranges(e.ls, before, r);
    sweep(&e, ib, ic, r, nr, &without, "torn.single_block_group");
    env_close(&e);
    free(ib);
    free(ic);
}

/* A torn multi-record batch over two parts keeps exactly its intact leading records, at any cut. */
Test(torn, batch)
{
    struct tenv e;
    env_open(&e);
    history(&e);
    uint8_t *ib = snapshot(&e);
    struct logpos before = log_end(e.ls);
    struct tmodel without = e.m;
    struct tw w[] = {
        {.type = LS_REC_BLOCK, .pi = 0, .version = 2, .block = 0, .len = 4096},
        {.type = LS_REC_BLOCK, .pi = 3, .version = 1, .block = 0, .len = 1000},
        {.type = LS_REC_BLOCK, .pi = 0, .version = 2, .block = 4, .len = 9000},
        {.type = LS_REC_COMMIT, .pi = 0, .version = 2, .size = NB * BLK},
        {.type = LS_REC_COMMIT, .pi = 3, .version = 1, .size = NB * BLK},
    };
    put(&e, w, 5);
    uint8_t *ic = snapshot(&e);
    struct range r[2];
    int nr = tail_ranges(e.ls, before, r);
    sweep(&e, ib, ic, r, nr, &without, "torn.batch");
    env_close(&e);
    free(ib);
    free(ic);
}

/* A group that crosses into a new segment (LINK) is cut at any byte of either side. */
Test(torn, segment_link)
{
    struct tenv e;
    env_open(&e);
    history(&e);
    struct logpos start = log_end(e.ls);
    uint8_t *ib = NULL, *ic = NULL;
    struct tmodel without;
    struct range r[2];
    int nr = 0;
    uint64_t v = 10;
    /* Fill the open segment with small groups until the next one moves to a new segment. */
    for (int guard = 0; guard < 4096; guard++) {
        struct logpos before = log_end(e.ls);
        int near_end = before.seg == start.seg && SEG_BYTES - before.written <= 4 * 8192;
        if (near_end) {
            free(ib);
            ib = snapshot(&e);
            without = e.m;
        }
        put_commit(&e, 2, v++, 0, 1, 4096);
        struct logpos after = log_end(e.ls);
        if (after.seg != start.seg) {
            cr_assert(near_end, "moved to a new segment with %" PRIu64 " bytes left",
                      SEG_BYTES - before.written);
            ic = snapshot(&e);
            nr = tail_ranges(e.ls, before, r);
            break;
        }
    }
    cr_assert_not_null(ic, "never switched segments");
    cr_assert_eq(nr, 2, "expected the tail in two segments, got %d range(s)", nr);
    sweep(&e, ib, ic, r, nr, &without, "torn.segment_link");
    env_close(&e);
    free(ib);
    free(ic);
}

/* A torn commit record leaves the version uncommitted (dropped), the old one readable. */
Test(torn, commit_record)
{
    struct tenv e;
    env_open(&e);
    history(&e);
    struct tw blocks[] = {
        {.type = LS_REC_BLOCK, .pi = 2, .version = 2, .block = 2, .len = 4096},
        {.type = LS_REC_BLOCK, .pi = 2, .version = 2, .block = 6, .len = 700},
    };
    put(&e, blocks, 2); /* acknowledged, not committed */
    uint8_t *ib = snapshot(&e);
    struct logpos before = log_end(e.ls);
    struct tmodel without = e.m;
    struct tw commit = {.type = LS_REC_COMMIT, .pi = 2, .version = 2, .size = NB * BLK};
    put(&e, &commit, 1);
    uint8_t *ic = snapshot(&e);
    struct range r[2];
    int nr = tail_ranges(e.ls, before, r);
    sweep(&e, ib, ic, r, nr, &without, "torn.commit_record");
    env_close(&e);
    free(ib);
    free(ic);
}
