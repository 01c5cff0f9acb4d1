/*
 * test_corrupt.c - corruption is reported, never served.
 *
 * Stores are built on memory devices; their bytes are damaged in place and
 * opened through faultdev_view() (no copy; the store's own writes go to a
 * private overlay). Every block is written exactly once (versions add blocks,
 * never overwrite them), so a payload identifies the one write it may come
 * from: a damaged group header can make blocks disappear, but can never make
 * an older block legitimately reappear.
 *
 * Proved here: random byte flips in the log make reads fail with LS_ECORRUPT
 * (or -ENOENT/-ENODATA when a group header was hit and its records dropped)
 * but never return wrong bytes; ls_check names every block a read found bad;
 * lost records are visible in ls_check or stats.corrupt_groups. Superblocks:
 * one damaged copy is survived, both damaged is refused; a foreign cluster is
 * LS_ECLUSTER, an unknown format version LS_EVERSION, random bytes and zeros
 * LS_ENOTOURS. A damaged newest checkpoint falls back (older checkpoint or
 * replay) without losing anything acknowledged.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec.h"
#include "faultdev.h"
#include "logstore.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORRUPT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORRUPT_ASAN 1
#endif
#endif
#ifndef CORRUPT_ASAN
#define CORRUPT_ASAN 0
#endif

#define DEV_BYTES (16ull << 20)
#define SEG_BYTES (1u << 20)
#define NP        8
#define NB        8
#define BLK       ((uint64_t)LS_BLOCK_MAX)

struct cb_ {
    int present;
    uint64_t version, nonce;
    uint32_t len;
};

struct cp {
    uint64_t chunk;
    uint16_t part;
    int exists;
    uint64_t version;
    struct cb_ tab[NB];
};

struct cmodel {
    struct cp p[NP];
};

struct cenv {
    struct ls *ls;
    struct ls_dev *dev; /* owned by ls */
    struct cmodel m;
    uint64_t nonce;
};

static void cenv_open(struct cenv *e, const uint8_t *cluster, uint64_t checkpoint_bytes)
{
    memset(e, 0, sizeof(*e));
    char err[256];
    int rc = ls_dev_open_mem(DEV_BYTES, NULL, 0, &e->dev);
    cr_assert_eq(rc, 0, "ls_dev_open_mem: %d", rc);
    struct ls_format_opts fo = {0};
    fo.segment_bytes = SEG_BYTES;
    if (cluster)
        memcpy(fo.cluster_id, cluster, 16);
    rc = ls_format_dev(e->dev, &fo, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_format_dev: %d (%s): %s", rc, ls_strerror(rc), err);
    struct ls_open_opts oo = {0};
    oo.checkpoint_bytes = checkpoint_bytes;
    rc = ls_open_dev(e->dev, &oo, &e->ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_open_dev: %d (%s): %s", rc, ls_strerror(rc), err);
    e->nonce = 1;
    for (int i = 0; i < NP; i++) {
        e->m.p[i].chunk = 200 + (uint64_t)i;
        e->m.p[i].part = (uint16_t)(i % 3);
    }
}

/* Write blocks [b0, b1) of part i under version v, then commit v. */
static void cput(struct cenv *e, uint64_t *rng, int i, uint64_t v, uint32_t b0, uint32_t b1)
{
    struct cp *p = &e->m.p[i];
    uint8_t *buf = malloc(LS_BLOCK_MAX);
    for (uint32_t b = b0; b < b1; b++) {
        uint32_t len = FD_PHDR + (uint32_t)fd_below(rng, 20000);
        uint64_t nonce = e->nonce++;
        fd_fill_payload(buf, p->chunk, p->part, v, b, nonce, len);
        int rc = ls_append(e->ls, p->chunk, p->part, v, b, buf, len);
        cr_assert_eq(rc, 0, "ls_append: %d (%s)", rc, ls_strerror(rc));
        p->tab[b] = (struct cb_){.present = 1, .version = v, .nonce = nonce, .len = len};
    }
    int rc = ls_commit(e->ls, p->chunk, p->part, v, NB * BLK);
    cr_assert_eq(rc, 0, "ls_commit: %d (%s)", rc, ls_strerror(rc));
    p->exists = 1;
    p->version = v;
    free(buf);
}

/* Parts with two versions each: v1 blocks 0..3, v2 adds 4..(4+k). */
static void cfill(struct cenv *e, uint64_t *rng)
{
    for (int i = 0; i < NP; i++)
        cput(e, rng, i, 1, 0, 4);
    for (int i = 0; i < NP; i++)
        cput(e, rng, i, 2, 4, 4 + 1 + (uint32_t)fd_below(rng, NB - 4));
}

static uint8_t *image_of(struct cenv *e)
{
    uint8_t *img = malloc(DEV_BYTES);
    cr_assert_not_null(img);
    memcpy(img, ls_dev_mem_data(e->dev), DEV_BYTES);
    return img;
}

/* Byte ranges of the log: every segment's written part. */
struct range {
    uint64_t off, len;
};

static int log_ranges(struct ls *ls, struct range *r, int max)
{
    struct ls_seg_info si[64];
    int n = ls_segments(ls, si, 64);
    cr_assert_gt(n, 0);
    int k = 0;
    for (int i = 0; i < n && i < 64; i++)
        if (si[i].state != LS_SEG_FREE && si[i].written && k < max)
            r[k++] = (struct range){si[i].offset, si[i].written};
    return k;
}

/* Where segments start and end on the device (to tell metadata from log). */
static void seg_span(struct ls *ls, uint64_t *lo, uint64_t *hi)
{
    struct ls_seg_info si[64];
    int n = ls_segments(ls, si, 64);
    cr_assert_gt(n, 0);
    *lo = UINT64_MAX;
    *hi = 0;
    for (int i = 0; i < n && i < 64; i++) {
        if (si[i].offset < *lo)
            *lo = si[i].offset;
        if (si[i].offset + SEG_BYTES > *hi)
            *hi = si[i].offset + SEG_BYTES;
    }
    cr_assert_eq(n, (int)((*hi - *lo) / SEG_BYTES), "segments are not contiguous");
}

struct bad_set {
    struct ls_bad_block b[256];
    int n;
    int issues;
    char first_issue[200];
};

static void bad_cb(const struct ls_bad_block *b, void *arg)
{
    struct bad_set *s = arg;
    if (s->n < 256)
        s->b[s->n++] = *b;
}

static void issue_cb(const struct ls_check_issue *is, void *arg)
{
    struct bad_set *s = arg;
    if (!s->issues++)
        snprintf(s->first_issue, sizeof(s->first_issue), "%s at %" PRIu64, is->what, is->offset);
}

static int bad_named(const struct bad_set *s, uint64_t chunk, uint16_t part, uint32_t block)
{
    for (int i = 0; i < s->n; i++)
        if (s->b[i].chunk == chunk && s->b[i].part == part && s->b[i].block == block)
            return 1;
    return 0;
}

struct verdict {
    int corrupt; /* reads that returned LS_ECORRUPT */
    int missing; /* expected blocks that were absent */
    int ok;
};

/*
 * Read every block the model knows and every hole; a successful read must be
 * exactly the one write that block came from. Failures are listed in v.
 */
static void verify_reads(struct ls *ls, const struct cmodel *m, struct verdict *v,
                         const struct bad_set *named, const char *ctx)
{
    uint8_t *buf = malloc(LS_BLOCK_MAX), *exp = malloc(LS_BLOCK_MAX);
    memset(v, 0, sizeof(*v));
    for (int i = 0; i < NP; i++) {
        const struct cp *p = &m->p[i];
        for (uint32_t b = 0; b < NB; b++) {
            ssize_t n = ls_read(ls, p->chunk, p->part, 0, b, buf, LS_BLOCK_MAX);
            const struct cb_ *x = &p->tab[b];
            char d[200] = "";
            if (n >= 0)
                fd_describe_payload(buf, n, d, sizeof(d));
            if (!x->present) {
                cr_assert_lt(n, 0, "%s: part %d block %u was never written but read gave %s", ctx,
                             i, b, d);
                continue;
            }
            if (n >= 0) {
                fd_fill_payload(exp, p->chunk, p->part, x->version, b, x->nonce, x->len);
                cr_assert(n == (ssize_t)x->len && memcmp(buf, exp, x->len) == 0,
                          "%s: WRONG DATA part %d block %u: expected %u bytes of version %" PRIu64
                          " nonce %" PRIu64 ", got %s",
                          ctx, i, b, x->len, x->version, x->nonce, d);
                v->ok++;
            } else if (n == LS_ECORRUPT) {
                v->corrupt++;
                if (named)
                    cr_assert(bad_named(named, p->chunk, p->part, b),
                              "%s: read of part %d (chunk %" PRIu64 "/%u) block %u gave "
                              "LS_ECORRUPT but ls_check did not name it (%d bad blocks named)",
                              ctx, i, p->chunk, p->part, b, named->n);
            } else {
                cr_assert(n == -ENOENT || n == -ENODATA || n == -EIO,
                          "%s: part %d block %u: unexpected error %zd (%s)", ctx, i, b, n,
                          ls_strerror((int)n));
                v->missing++;
            }
        }
        /* Blocks past the model are holes. */
        ssize_t n = ls_read(ls, p->chunk, p->part, 0, NB + 3, buf, LS_BLOCK_MAX);
        cr_assert_lt(n, 0, "%s: part %d block %d was never written but read gave %zd", ctx, i,
                     NB + 3, n);
    }
    free(buf);
    free(exp);
}

struct list_chk {
    const struct cmodel *m;
    char why[200];
};

static int list_cb(const struct ls_part_info *pi, void *arg)
{
    struct list_chk *lc = arg;
    for (int i = 0; i < NP; i++)
        if (lc->m->p[i].chunk == pi->chunk && lc->m->p[i].part == pi->part)
            return 0;
    snprintf(lc->why, sizeof(lc->why), "listed part %" PRIu64 "/%u was never written", pi->chunk,
             pi->part);
    return 1;
}

static struct ls *open_view(uint8_t *img, int read_only, struct faultdev **ctl, int *rc, char *err,
                            size_t errlen)
{
    struct ls_dev *d = faultdev_view(img, DEV_BYTES, ctl);
    cr_assert_not_null(d);
    struct ls_open_opts oo = {0};
    oo.read_only = read_only;
    oo.checkpoint_bytes = 1ull << 50;
    struct ls *ls = NULL;
    *rc = ls_open_dev(d, &oo, &ls, err, errlen);
    return ls;
}

static void random_flips(int crash_image)
{
    uint64_t seed =
        fd_test_seed(crash_image ? "corrupt.flips_crash_image" : "corrupt.flips_closed");
    uint64_t rng = seed;
    struct cenv e;
    cenv_open(&e, NULL, crash_image ? (1ull << 50) : 0);
    cfill(&e, &rng);
    struct range r[64];
    int nr = log_ranges(e.ls, r, 64);
    uint64_t total = 0;
    for (int i = 0; i < nr; i++)
        total += r[i].len;
    uint8_t *img;
    if (crash_image) {
        img = image_of(&e); /* nothing checkpointed: recovery replays the whole log */
        cr_assert_eq(ls_close(e.ls), 0);
    } else {
        cr_assert_eq(ls_checkpoint(e.ls), 0);
        img = image_of(&e);
        cr_assert_eq(ls_close(e.ls), 0);
    }
    /* Group header pages (format.md: magic LSGR at a page start), for targeted flips. */
    uint64_t *hdrs = malloc(sizeof(uint64_t) * (DEV_BYTES / LS_PAGE));
    size_t nhdr = 0;
    for (int i = 0; i < nr; i++)
        for (uint64_t o = r[i].off; o < r[i].off + r[i].len; o += LS_PAGE) {
            uint32_t magic;
            memcpy(&magic, img + o, 4);
            if (magic == 0x5247534Cu)
                hdrs[nhdr++] = o;
        }
    cr_assert_gt(nhdr, 4, "found only %zu group headers", nhdr);
    int trials = CORRUPT_ASAN ? 200 : 1000;
    int sum_corrupt = 0, sum_missing = 0, sum_issues = 0;
    for (int t = 0; t < trials; t++) {
        uint64_t offs[8];
        uint8_t olds[8];
        int k = 1 + (int)fd_below(&rng, 8);
        int in_hdr = fd_below(&rng, 3) == 0; /* a third of the trials hit group headers */
        for (int j = 0; j < k; j++) {
            if (in_hdr) {
                uint64_t h = hdrs[fd_below(&rng, nhdr)];
                uint16_t nrec;
                memcpy(&nrec, img + h + 6, 2);
                offs[j] = h + fd_below(&rng, 64 + 64ull * (nrec < 63 ? nrec : 63));
            } else {
                uint64_t x = fd_below(&rng, total);
                int i = 0;
                while (x >= r[i].len)
                    x -= r[i++].len;
                offs[j] = r[i].off + x;
            }
            olds[j] = img[offs[j]];
            img[offs[j]] ^= (uint8_t)(1 + fd_below(&rng, 255));
        }
        char ctx[160], err[256];
        snprintf(ctx, sizeof(ctx), "seed %" PRIu64 " trial %d (%d flips, first at %" PRIu64 ")",
                 seed, t, k, offs[0]);
        struct faultdev *ctl;
        int rc;
        struct ls *ls = open_view(img, t & 1, &ctl, &rc, err, sizeof(err));
        cr_assert_eq(rc, 0, "%s: open of a store with flipped log bytes failed: %d (%s): %s", ctx,
                     rc, ls_strerror(rc), err);
        struct bad_set *bs = calloc(1, sizeof(*bs));
        int nprob = ls_check(ls, issue_cb, bad_cb, bs);
        cr_assert_geq(nprob, 0, "%s: ls_check: %d (%s)", ctx, nprob, ls_strerror(nprob));
        struct verdict v;
        verify_reads(ls, &e.m, &v, bs, ctx);
        struct ls_stats st;
        cr_assert_eq(ls_stats(ls, &st), 0);
        if (v.missing)
            cr_assert(nprob > 0 || st.corrupt_groups > 0 || st.recovery_cut > 0,
                      "%s: %d acknowledged blocks vanished silently: ls_check found nothing, "
                      "corrupt_groups and recovery_cut are 0",
                      ctx, v.missing);
        if (v.corrupt)
            cr_assert_gt(nprob, 0, "%s: reads found %d corrupt blocks, ls_check found none", ctx,
                         v.corrupt);
        struct list_chk lc = {.m = &e.m};
        rc = ls_list_parts(ls, list_cb, &lc);
        cr_assert_geq(rc, 0, "%s: %s", ctx, lc.why);
        sum_corrupt += v.corrupt;
        sum_missing += v.missing;
        sum_issues += nprob;
        ls_close(ls);
        faultdev_free(ctl);
        free(bs);
        for (int j = k - 1; j >= 0; j--)
            img[offs[j]] = olds[j];
    }
    fprintf(stderr,
            "corrupt.flips(%s): %d trials, %d corrupt reads, %d lost blocks, %d problems found "
            "by ls_check\n",
            crash_image ? "crash image" : "closed", trials, sum_corrupt, sum_missing, sum_issues);
    free(hdrs);
    free(img);
}

/* Random flips in a checkpointed log: reads fail or are exact, ls_check names the bad blocks. */
Test(corrupt, flips_closed)
{
    random_flips(0);
}

/* Random flips in a log recovered by replay alone: same guarantees. */
Test(corrupt, flips_crash_image)
{
    random_flips(1);
}

/* The device offset range of the payload of one block appended now (found by diffing images). */
static void append_and_locate(struct cenv *e, int i, uint64_t v, uint32_t b, uint32_t len,
                              struct range *payload)
{
    uint8_t *before = image_of(e);
    struct cp *p = &e->m.p[i];
    uint8_t *buf = malloc(len);
    uint64_t nonce = e->nonce++;
    fd_fill_payload(buf, p->chunk, p->part, v, b, nonce, len);
    cr_assert_eq(ls_append(e->ls, p->chunk, p->part, v, b, buf, len), 0);
    uint8_t *after = image_of(e);
    p->tab[b] = (struct cb_){.present = 1, .version = v, .nonce = nonce, .len = len};
    /* The payload is the run of bytes equal to buf in the new image. */
    payload->len = 0;
    for (uint64_t o = 0; o + len <= DEV_BYTES; o += LS_PAGE) {
        if (before[o] == after[o] && memcmp(before + o, after + o, LS_PAGE) == 0)
            continue;
        if (memcmp(after + o, buf, len) == 0) {
            *payload = (struct range){o, len};
            break;
        }
    }
    cr_assert_gt(payload->len, 0, "could not find the payload of the block on the device");
    free(before);
    free(after);
    free(buf);
}

/* A flipped payload byte: the read is LS_ECORRUPT, ls_check and ls_scrub name that block. */
Test(corrupt, payload_flip_is_named)
{
    uint64_t rng = 7;
    struct cenv e;
    cenv_open(&e, NULL, 0);
    cfill(&e, &rng);
    struct range pl;
    append_and_locate(&e, 3, 3, 7, 10000, &pl); /* a pending block of v3 */
    cr_assert_eq(ls_commit(e.ls, e.m.p[3].chunk, e.m.p[3].part, 3, NB * BLK), 0);
    e.m.p[3].version = 3;
    uint8_t *img = image_of(&e);
    cr_assert_eq(ls_close(e.ls), 0);

    for (int where = 0; where < 3; where++) {
        uint64_t off = pl.off + (where == 0 ? 0 : where == 1 ? pl.len / 2 : pl.len - 1);
        img[off] ^= 0x5a;
        struct faultdev *ctl;
        int rc;
        char err[256];
        struct ls *ls = open_view(img, 0, &ctl, &rc, err, sizeof(err));
        cr_assert_eq(rc, 0, "open: %d (%s): %s", rc, ls_strerror(rc), err);
        uint8_t *buf = malloc(LS_BLOCK_MAX);
        ssize_t n = ls_read(ls, e.m.p[3].chunk, e.m.p[3].part, 0, 7, buf, LS_BLOCK_MAX);
        cr_assert_eq(n, LS_ECORRUPT, "flip at payload byte %" PRIu64 ": read gave %zd (%s)",
                     off - pl.off, n, n < 0 ? ls_strerror((int)n) : "data");
        struct bad_set *bs = calloc(1, sizeof(*bs));
        int np = ls_check(ls, issue_cb, bad_cb, bs);
        cr_assert_geq(np, 1, "ls_check found %d problems", np);
        cr_assert_eq(bs->n, 1, "ls_check named %d bad blocks, want exactly 1", bs->n);
        cr_assert(bs->b[0].chunk == e.m.p[3].chunk && bs->b[0].part == e.m.p[3].part &&
                      bs->b[0].block == 7 && bs->b[0].version == 3,
                  "ls_check named chunk %" PRIu64 " part %u block %u version %" PRIu64
                  ", want %" PRIu64 "/%u block 7 version 3",
                  bs->b[0].chunk, bs->b[0].part, bs->b[0].block, bs->b[0].version, e.m.p[3].chunk,
                  e.m.p[3].part);
        cr_assert(bs->b[0].error == LS_ECORRUPT, "bad block error %d", bs->b[0].error);
        cr_assert(bs->b[0].offset + 2 * BLK > pl.off && bs->b[0].offset < pl.off + 2 * BLK,
                  "named offset %" PRIu64 " is not where the block is (%" PRIu64 ")",
                  bs->b[0].offset, pl.off);
        memset(bs, 0, sizeof(*bs));
        struct ls_scrub_cursor cur = {0};
        int ns = ls_scrub(ls, &cur, 0, 0, bad_cb, bs);
        cr_assert_eq(ns, 1, "ls_scrub found %d bad blocks, want 1", ns);
        cr_assert(bad_named(bs, e.m.p[3].chunk, e.m.p[3].part, 7), "ls_scrub named another block");
        struct verdict v;
        verify_reads(ls, &e.m, &v, NULL, "payload flip");
        cr_assert_eq(v.corrupt, 1, "corrupt reads: %d, want 1", v.corrupt);
        cr_assert_eq(v.missing, 0, "lost blocks: %d", v.missing);
        free(bs);
        free(buf);
        ls_close(ls);
        faultdev_free(ctl);
        img[off] ^= 0x5a;
    }
    free(img);
}

/* Superblock copies: one damaged copy is survived, both damaged is refused. */
Test(corrupt, superblock_copies)
{
    uint64_t rng = 11;
    struct cenv e;
    cenv_open(&e, NULL, 0);
    cfill(&e, &rng);
    uint64_t lo, hi;
    seg_span(e.ls, &lo, &hi);
    uint8_t *img = image_of(&e); /* a crash image: its checkpoints plus replay */
    cr_assert_eq(ls_close(e.ls), 0);

    /* The copy at the end: the non-zero pages past the last segment, outside checkpoints. */
    uint64_t tail_sb = UINT64_MAX;
    for (uint64_t o = DEV_BYTES - LS_PAGE; o >= hi; o -= LS_PAGE) {
        int nz = 0;
        for (uint64_t j = 0; j < LS_PAGE && !nz; j++)
            nz = img[o + j] != 0;
        if (nz) {
            tail_sb = o;
            break;
        }
        if (o == hi)
            break;
    }
    cr_assert_neq(tail_sb, UINT64_MAX, "no superblock copy found past the last segment");
    cr_assert_eq(memcmp(img, img + tail_sb, 64), 0,
                 "the last non-zero page (%" PRIu64 ") does not start like the superblock",
                 tail_sb);

    /*
     * Damage one copy in one field (format.md: magic 0..7, version 8..11,
     * header length 12..15, body 16..123, CRC 124..127), or both copies.
     */
    static const struct {
        const char *what;
        int primary, copy;
        uint32_t at;
    } cases[] = {
        {"primary magic", 1, 0, 2},     {"primary body (uuid)", 1, 0, 20},
        {"primary geometry", 1, 0, 57}, {"primary CRC", 1, 0, 125},
        {"copy magic", 0, 1, 2},        {"copy body (uuid)", 0, 1, 20},
        {"copy geometry", 0, 1, 57},    {"copy CRC", 0, 1, 125},
        {"both, body", 1, 1, 20},       {"both, magic and CRC", 1, 1, 0},
    };
    char err[256];
    struct faultdev *ctl;
    int rc;
    uint8_t *page = malloc(LS_PAGE);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint8_t *dam = malloc(DEV_BYTES);
        memcpy(dam, img, DEV_BYTES);
        if (cases[c].primary)
            dam[cases[c].at] ^= 0x10;
        if (cases[c].copy)
            dam[tail_sb + cases[c].at] ^= 0x10;
        if (cases[c].primary && cases[c].copy && cases[c].at == 0) {
            dam[125] ^= 0x10; /* magic of one, CRC of the other */
            dam[tail_sb] ^= 0x10;
            dam[tail_sb + 125] ^= 0x10;
        }
        struct ls_dev *d = faultdev_view(dam, DEV_BYTES, &ctl);
        struct ls_open_opts oo = {0};
        struct ls *ls = NULL;
        rc = ls_open_dev(d, &oo, &ls, err, sizeof(err));
        if (cases[c].primary && cases[c].copy) {
            cr_assert(rc == LS_ECORRUPT || rc == LS_ENOTOURS,
                      "%s damaged: want LS_ECORRUPT or LS_ENOTOURS, got %d (%s)", cases[c].what, rc,
                      ls_strerror(rc));
            cr_assert(err[0], "no error message for a disk with both superblocks damaged");
        } else {
            cr_assert_eq(rc, 0, "%s damaged: open failed: %d (%s): %s", cases[c].what, rc,
                         ls_strerror(rc), err);
            struct verdict v;
            verify_reads(ls, &e.m, &v, NULL, cases[c].what);
            cr_assert_eq(v.corrupt + v.missing, 0, "%s damaged: lost %d blocks, %d corrupt",
                         cases[c].what, v.missing, v.corrupt);
            /* A writable open repaired the damaged copy (written through the view). */
            uint64_t off = cases[c].primary ? 0 : tail_sb;
            cr_assert_eq(d->pread(d, page, LS_PAGE, off), (ssize_t)LS_PAGE);
            cr_assert_eq(memcmp(page, img + off, LS_PAGE), 0, "%s damaged: not repaired",
                         cases[c].what);
            ls_close(ls);
        }
        faultdev_free(ctl);
        free(dam);
    }
    free(page);
    free(img);
}

/* Flipped bits in the primary's version field are damage, not a newer format: the copy is used. */
Test(corrupt, superblock_version_bitflip)
{
    uint64_t rng = 5;
    struct cenv e;
    cenv_open(&e, NULL, 0);
    cfill(&e, &rng);
    uint8_t *img = image_of(&e);
    cr_assert_eq(ls_close(e.ls), 0);
    img[8] ^= 0x04; /* version 2 -> 6 in the primary only; its CRC no longer matches */
    struct faultdev *ctl;
    int rc;
    char err[256];
    struct ls *ls = open_view(img, 0, &ctl, &rc, err, sizeof(err));
    if (rc) {
        faultdev_free(ctl); /* free before failing: keep LeakSanitizer quiet */
        free(img);
    }
    cr_assert_eq(rc, 0,
                 "primary superblock with a flipped version bit (bad CRC) and a valid copy: open "
                 "failed with %d (%s): %s",
                 rc, ls_strerror(rc), err);
    struct verdict v;
    verify_reads(ls, &e.m, &v, NULL, "version bit flip");
    cr_assert_eq(v.corrupt + v.missing, 0);
    ls_close(ls);
    faultdev_free(ctl);
    free(img);
}

/* A disk whose both superblocks (valid CRCs) carry a newer format version is LS_EVERSION. */
Test(corrupt, newer_format_version)
{
    uint64_t rng = 9;
    struct cenv e;
    cenv_open(&e, NULL, 0);
    cfill(&e, &rng);
    uint8_t *img = image_of(&e);
    cr_assert_eq(ls_close(e.ls), 0);
    uint64_t offs[2] = {0, DEV_BYTES - LS_PAGE};
    for (int i = 0; i < 2; i++) {
        uint8_t *sb = img + offs[i];
        uint32_t v = LS_FORMAT_VERSION + 1;
        memcpy(sb + 8, &v, 4);
        uint32_t crc = ec_crc32c(0, sb, 124);
        memcpy(sb + 124, &crc, 4);
    }
    struct faultdev *ctl;
    int rc;
    char err[256] = "";
    struct ls *ls = open_view(img, 0, &ctl, &rc, err, sizeof(err));
    cr_assert_eq(rc, LS_EVERSION, "want LS_EVERSION, got %d (%s): %s", rc, ls_strerror(rc), err);
    cr_assert(err[0], "LS_EVERSION without a message");
    (void)ls;
    faultdev_free(ctl);
    free(img);
}

/* A disk of another cluster is LS_ECLUSTER with a message; the right one or none opens. */
Test(corrupt, foreign_cluster)
{
    uint8_t mine[16], theirs[16];
    memset(mine, 0xA5, 16);
    memset(theirs, 0x3C, 16);
    struct cenv e;
    cenv_open(&e, mine, 0);
    uint64_t rng = 3;
    cput(&e, &rng, 0, 1, 0, 2);
    struct ls_stats st;
    cr_assert_eq(ls_stats(e.ls, &st), 0);
    cr_assert_eq(memcmp(st.cluster_id, mine, 16), 0, "stats report another cluster id");
    uint8_t *img = image_of(&e);
    cr_assert_eq(ls_close(e.ls), 0);
    const uint8_t *ids[3] = {theirs, mine, NULL};
    int want[3] = {LS_ECLUSTER, 0, 0};
    for (int k = 0; k < 3; k++) {
        struct faultdev *ctl;
        struct ls_dev *d = faultdev_view(img, DEV_BYTES, &ctl);
        struct ls_open_opts oo = {0};
        oo.cluster_id = ids[k];
        struct ls *ls = NULL;
        char err[256] = "";
        int rc = ls_open_dev(d, &oo, &ls, err, sizeof(err));
        cr_assert_eq(rc, want[k], "cluster case %d: want %d (%s), got %d (%s): %s", k, want[k],
                     ls_strerror(want[k]), rc, ls_strerror(rc), err);
        if (rc == 0)
            ls_close(ls);
        else
            cr_assert(err[0], "LS_ECLUSTER without a message");
        faultdev_free(ctl);
    }
    free(img);
}

/* Random bytes and zeros are LS_ENOTOURS: nothing of ours on that disk. */
Test(corrupt, not_ours)
{
    uint64_t rng = fd_test_seed("corrupt.not_ours");
    uint8_t *img = malloc(DEV_BYTES);
    for (int k = 0; k < 2; k++) {
        for (uint64_t o = 0; o < DEV_BYTES; o += 8) {
            uint64_t x = k ? fd_rand(&rng) : 0;
            memcpy(img + o, &x, 8);
        }
        struct faultdev *ctl;
        struct ls_dev *d = faultdev_view(img, DEV_BYTES, &ctl);
        struct ls *ls = NULL;
        char err[256] = "";
        int rc = ls_open_dev(d, NULL, &ls, err, sizeof(err));
        cr_assert_eq(rc, LS_ENOTOURS, "%s device: want LS_ENOTOURS, got %d (%s): %s",
                     k ? "random" : "zero", rc, ls_strerror(rc), err);
        cr_assert(err[0], "LS_ENOTOURS without a message");
        faultdev_free(ctl);
    }
    free(img);
}

/*
 * The checkpoint written by the last ls_checkpoint(): the largest run of
 * pages it changed outside the segments and the superblock pages.
 */
static struct range newest_checkpoint(struct cenv *e, uint64_t lo, uint64_t hi)
{
    uint8_t *before = image_of(e);
    cr_assert_eq(ls_checkpoint(e->ls), 0);
    uint8_t *after = image_of(e);
    struct range best = {0, 0}, cur = {0, 0};
    for (uint64_t o = LS_PAGE; o < DEV_BYTES - LS_PAGE; o += LS_PAGE) {
        int in_log = o >= lo && o < hi;
        int diff = !in_log && memcmp(before + o, after + o, LS_PAGE) != 0;
        if (diff) {
            if (!cur.len)
                cur.off = o;
            cur.len += LS_PAGE;
            if (cur.len > best.len)
                best = cur;
        } else {
            cur.len = 0;
        }
    }
    free(before);
    free(after);
    cr_assert_gt(best.len, 0, "ls_checkpoint changed nothing outside the log");
    return best;
}

/* A damaged newest checkpoint: the store falls back and loses nothing acknowledged. */
Test(corrupt, newest_checkpoint_damaged)
{
    uint64_t rng = fd_test_seed("corrupt.newest_checkpoint_damaged");
    struct cenv e;
    cenv_open(&e, NULL, 1ull << 50);
    uint64_t lo, hi;
    seg_span(e.ls, &lo, &hi);
    for (int i = 0; i < NP; i++)
        cput(&e, &rng, i, 1, 0, 4);
    struct range older = newest_checkpoint(&e, lo, hi);
    for (int i = 0; i < NP; i++)
        cput(&e, &rng, i, 2, 4, 6);
    struct range newest = newest_checkpoint(&e, lo, hi);
    cr_assert(newest.off != older.off,
              "two checkpoints went to the same place (%" PRIu64 "): no fallback slot", newest.off);
    for (int i = 0; i < NP / 2; i++)
        cput(&e, &rng, i, 3, 6, 7); /* after the newest checkpoint: replayed */
    uint8_t *img = image_of(&e);
    cr_assert_eq(ls_close(e.ls), 0);

    for (int where = 0; where < 4; where++) {
        uint64_t off = newest.off + (where == 0   ? 16
                                     : where == 1 ? newest.len / 2
                                     : where == 2 ? newest.len - 1
                                                  : fd_below(&rng, newest.len));
        img[off] ^= 0x81;
        struct faultdev *ctl;
        int rc;
        char err[256];
        struct ls *ls = open_view(img, where & 1, &ctl, &rc, err, sizeof(err));
        cr_assert_eq(rc, 0,
                     "newest checkpoint damaged at %" PRIu64 " (+%" PRIu64
                     "): open failed: %d (%s): "
                     "%s",
                     off, off - newest.off, rc, ls_strerror(rc), err);
        struct verdict v;
        verify_reads(ls, &e.m, &v, NULL, "newest checkpoint damaged");
        cr_assert_eq(v.corrupt + v.missing, 0,
                     "checkpoint damaged at +%" PRIu64 ": %d blocks lost, %d corrupt",
                     off - newest.off, v.missing, v.corrupt);
        struct list_chk lc = {.m = &e.m};
        cr_assert_eq(ls_list_parts(ls, list_cb, &lc), NP, "%s", lc.why);
        ls_close(ls);
        faultdev_free(ctl);
        img[off] ^= 0x81;
    }
    free(img);
}
