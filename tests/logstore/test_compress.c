/*
 * test_compress.c - zstd-compressed block records (LS_WRITE_COMPRESS, format
 * version 2): space accounting, reads, versions, recovery, compaction, scrub,
 * corruption of compressed payloads, and opening version-1 disks.
 *
 * Data generators are deterministic (seeded per block); nothing here is
 * randomised between runs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec.h"
#include "logstore.h"
#include "ls_int.h"

#define MB (1u << 20)

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Incompressible bytes. */
static void fill_random(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)xs(&x);
}

/* Compressible bytes: 2 bits of entropy per byte (zstd gets ~3.5x). */
static void fill_text(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)("acgt"[xs(&x) & 3]);
}

/* kind: 'r' random, 't' text */
static void fill(uint8_t *b, size_t n, int kind, uint64_t seed)
{
    if (kind == 'r')
        fill_random(b, n, seed);
    else
        fill_text(b, n, seed);
}

static struct ls *mem_store(uint64_t size, struct ls_dev **devp, const struct ls_open_opts *o)
{
    struct ls_dev *dev;
    struct ls *ls;
    char err[256] = "";
    cr_assert_eq(ls_dev_open_mem(size, NULL, 0, &dev), 0);
    struct ls_format_opts fo = {.segment_bytes = MB};
    cr_assert_eq(ls_format_dev(dev, &fo, err, sizeof(err)), 0, "%s", err);
    int rc = ls_open_dev(dev, o, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "open: %s (%s)", ls_strerror(rc), err);
    if (devp)
        *devp = dev;
    return ls;
}

/* Open a store on a copy of img (size bytes). */
static struct ls *open_img(const uint8_t *img, uint64_t size, const struct ls_open_opts *o,
                           struct ls_dev **devp)
{
    struct ls_dev *d2;
    struct ls *ls;
    char err[256] = "";
    cr_assert_eq(ls_dev_open_mem(size, img, size, &d2), 0);
    int rc = ls_open_dev(d2, o, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "reopen: %s (%s)", ls_strerror(rc), err);
    if (devp)
        *devp = d2;
    return ls;
}

/* Reopen from a copy of the device bytes (a crash image: replay from the log). */
static struct ls *reopen_image(struct ls_dev *dev, const struct ls_open_opts *o)
{
    return open_img(ls_dev_mem_data(dev), dev->size, o, NULL);
}

static int put(struct ls *ls, uint64_t chunk, uint64_t version, uint32_t block, int kind,
               uint64_t seed, uint32_t len, int flags)
{
    static uint8_t buf[LS_BLOCK_MAX];
    fill(buf, len, kind, seed);
    struct ls_write w = {.type = LS_REC_BLOCK,
                         .flags = flags,
                         .chunk = chunk,
                         .version = version,
                         .block = block,
                         .data = buf,
                         .len = len};
    return ls_writev(ls, &w, 1);
}

static void expect_block(struct ls *ls, uint64_t chunk, uint64_t version, uint32_t block, int kind,
                         uint64_t seed, uint32_t len)
{
    static uint8_t want[LS_BLOCK_MAX], got[LS_BLOCK_MAX];
    fill(want, len, kind, seed);
    memset(got, 0xee, sizeof(got));
    ssize_t r = ls_read(ls, chunk, 0, version, block, got, sizeof(got));
    cr_assert_eq(r, (ssize_t)len, "chunk %llu v%llu block %u: read %zd (%s), want %u bytes",
                 (unsigned long long)chunk, (unsigned long long)version, block, r,
                 ls_strerror((int)r), len);
    cr_assert(memcmp(want, got, len) == 0, "chunk %llu v%llu block %u: wrong bytes",
              (unsigned long long)chunk, (unsigned long long)version, block);
}

static struct ls_stats stats(struct ls *ls)
{
    struct ls_stats st;
    cr_assert_eq(ls_stats(ls, &st), 0);
    return st;
}

static uint64_t stored(struct ls *ls, uint64_t chunk)
{
    struct ls_part_info pi;
    cr_assert_eq(ls_part_stat(ls, chunk, 0, &pi), 0);
    return pi.stored_bytes;
}

/* Proves: compressible blocks are stored compressed (fewer pages, counted in the stats) and read
 * back identical. */
Test(compress, compressible_is_smaller)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    for (uint32_t b = 0; b < 8; b++)
        cr_assert_eq(put(ls, 1, 1, b, 't', b, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 8ull * LS_BLOCK_MAX), 0);
    struct ls_stats st = stats(ls);
    cr_assert_eq(st.compressed_blocks, 8);
    cr_assert_eq(st.compressed_writes, 8);
    cr_assert_eq(st.compress_skipped, 0);
    cr_assert_gt(st.compressed_saved_bytes, 8ull * LS_BLOCK_MAX / 2, "saved only %llu bytes",
                 (unsigned long long)st.compressed_saved_bytes);
    cr_assert_eq(st.live_bytes + st.compressed_saved_bytes, 8ull * LS_BLOCK_MAX,
                 "live %llu + saved %llu != plain pages", (unsigned long long)st.live_bytes,
                 (unsigned long long)st.compressed_saved_bytes);
    uint64_t sb = stored(ls, 1);
    cr_assert_lt(sb, 8ull * LS_BLOCK_MAX / 2, "stored_bytes %llu", (unsigned long long)sb);
    cr_assert_leq(st.live_bytes - sb, 8ull * LS_PAGE, "stored_bytes is not the on-disk size");
    for (uint32_t b = 0; b < 8; b++)
        expect_block(ls, 1, 0, b, 't', b, LS_BLOCK_MAX);
    /* A short compressible block of two pages shrinks to one. */
    cr_assert_eq(put(ls, 2, 1, 0, 't', 99, 5000, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(ls_commit(ls, 2, 0, 1, 5000), 0);
    cr_assert_lt(stored(ls, 2), LS_PAGE);
    expect_block(ls, 2, 0, 0, 't', 99, 5000);
    cr_assert_eq(ls_close(ls), 0);
}

/* Proves: incompressible data, one-page blocks and writes without the flag are stored plain. */
Test(compress, plain_when_no_page_saved)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    for (uint32_t b = 0; b < 4; b++)
        cr_assert_eq(put(ls, 1, 1, b, 'r', b, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(put(ls, 1, 1, 4, 't', 4, LS_PAGE, LS_WRITE_COMPRESS), 0); /* one page */
    cr_assert_eq(put(ls, 1, 1, 5, 't', 5, 300, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(put(ls, 1, 1, 6, 't', 6, LS_BLOCK_MAX, 0), 0); /* not asked */
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 7ull * LS_BLOCK_MAX), 0);
    struct ls_stats st = stats(ls);
    cr_assert_eq(st.compressed_blocks, 0);
    cr_assert_eq(st.compressed_saved_bytes, 0);
    cr_assert_eq(st.compress_skipped, 6, "skipped %llu", (unsigned long long)st.compress_skipped);
    cr_assert_eq(stored(ls, 1), 5ull * LS_BLOCK_MAX + LS_PAGE + 300);
    for (uint32_t b = 0; b < 4; b++)
        expect_block(ls, 1, 0, b, 'r', b, LS_BLOCK_MAX);
    expect_block(ls, 1, 0, 4, 't', 4, LS_PAGE);
    expect_block(ls, 1, 0, 5, 't', 5, 300);
    expect_block(ls, 1, 0, 6, 't', 6, LS_BLOCK_MAX);
    /* A too small buffer is judged against the plain length. */
    cr_assert_eq(put(ls, 3, 1, 0, 't', 1, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(stats(ls).compressed_blocks, 1);
    uint8_t small[LS_BLOCK_MAX - 1];
    cr_assert_eq(ls_read(ls, 3, 0, 1, 0, small, sizeof(small)), -ENOBUFS);
    cr_assert_eq(ls_close(ls), 0);
}

/* Proves: compressed and plain versions of one part overlay, commit and overwrite correctly,
 * also in one mixed batch, and the stats follow the live blocks. */
Test(compress, mixed_versions)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    static uint8_t b0[LS_BLOCK_MAX], b1[LS_BLOCK_MAX], b2[LS_BLOCK_MAX];
    fill(b0, LS_BLOCK_MAX, 't', 10);
    fill(b1, LS_BLOCK_MAX, 'r', 11);
    fill(b2, 20000, 't', 12);
    struct ls_write w[] = {
        {.type = LS_REC_BLOCK,
         .flags = LS_WRITE_COMPRESS,
         .chunk = 5,
         .version = 1,
         .block = 0,
         .data = b0,
         .len = LS_BLOCK_MAX},
        {.type = LS_REC_BLOCK,
         .flags = LS_WRITE_COMPRESS,
         .chunk = 5,
         .version = 1,
         .block = 1,
         .data = b1,
         .len = LS_BLOCK_MAX},
        {.type = LS_REC_BLOCK,
         .flags = LS_WRITE_COMPRESS,
         .chunk = 5,
         .version = 1,
         .block = 2,
         .data = b2,
         .len = 20000},
        {.type = LS_REC_COMMIT,
         .flags = LS_WRITE_COMPRESS,
         .chunk = 5,
         .version = 1,
         .size = 2 * LS_BLOCK_MAX + 20000},
    };
    cr_assert_eq(ls_writev(ls, w, 4), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(w[i].result, 0);
    cr_assert_eq(stats(ls).compressed_blocks, 2);
    expect_block(ls, 5, 0, 0, 't', 10, LS_BLOCK_MAX);
    expect_block(ls, 5, 0, 1, 'r', 11, LS_BLOCK_MAX);
    expect_block(ls, 5, 0, 2, 't', 12, 20000);
    /* Version 2: block 0 becomes plain random, block 1 compressible, block 2 untouched. */
    cr_assert_eq(put(ls, 5, 2, 0, 'r', 20, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(put(ls, 5, 2, 1, 't', 21, 30000, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(stats(ls).compressed_blocks, 3);     /* pending ones count too */
    expect_block(ls, 5, 0, 0, 't', 10, LS_BLOCK_MAX); /* committed still served */
    expect_block(ls, 5, 2, 0, 'r', 20, LS_BLOCK_MAX);
    expect_block(ls, 5, 2, 1, 't', 21, 30000);
    expect_block(ls, 5, 2, 2, 't', 12, 20000); /* falls through to committed */
    cr_assert_eq(ls_commit(ls, 5, 0, 2, 2 * LS_BLOCK_MAX + 20000), 0);
    struct ls_stats st = stats(ls);
    cr_assert_eq(st.compressed_blocks, 2, "blocks %llu", (unsigned long long)st.compressed_blocks);
    expect_block(ls, 5, 0, 0, 'r', 20, LS_BLOCK_MAX);
    expect_block(ls, 5, 0, 1, 't', 21, 30000);
    expect_block(ls, 5, 0, 2, 't', 12, 20000);
    /* Version 3 overwrites block 1 plain, truncates block 2 away. */
    cr_assert_eq(put(ls, 5, 3, 1, 't', 31, 30000, 0), 0);
    cr_assert_eq(ls_commit(ls, 5, 0, 3, 2 * LS_BLOCK_MAX), 0);
    st = stats(ls);
    cr_assert_eq(st.compressed_blocks, 0);
    cr_assert_eq(st.compressed_saved_bytes, 0);
    cr_assert_eq(stored(ls, 5), LS_BLOCK_MAX + 30000);
    expect_block(ls, 5, 0, 1, 't', 31, 30000);
    cr_assert_eq(ls_delete(ls, 5, 0, 3), 0);
    cr_assert_eq(ls_close(ls), 0);
}

static void write_set(struct ls *ls)
{
    for (uint32_t b = 0; b < 6; b++)
        cr_assert_eq(
            put(ls, 7, 1, b, b % 2 ? 'r' : 't', 70 + b, LS_BLOCK_MAX - b * 1000, LS_WRITE_COMPRESS),
            0);
    cr_assert_eq(ls_commit(ls, 7, 0, 1, 6ull * LS_BLOCK_MAX), 0);
}

static void check_set(struct ls *ls, const struct ls_stats *before)
{
    for (uint32_t b = 0; b < 6; b++)
        expect_block(ls, 7, 0, b, b % 2 ? 'r' : 't', 70 + b, LS_BLOCK_MAX - b * 1000);
    struct ls_stats st = stats(ls);
    cr_assert_eq(st.compressed_blocks, before->compressed_blocks);
    cr_assert_eq(st.compressed_saved_bytes, before->compressed_saved_bytes);
    cr_assert_eq(st.live_bytes, before->live_bytes);
}

/* Proves: compressed records survive replay from the log (crash image), a checkpoint (clean
 * close) and both (checkpoint, then more log). */
Test(compress, survives_reopen)
{
    struct ls_open_opts o = {.checkpoint_bytes = 1ull << 40};
    struct ls_dev *dev;
    struct ls *ls = mem_store(32 * MB, &dev, &o);
    write_set(ls);
    struct ls_stats before = stats(ls);
    cr_assert_eq(before.compressed_blocks, 3);
    uint64_t sb = stored(ls, 7);

    struct ls *r = reopen_image(dev, &o); /* log only */
    cr_assert_gt(stats(r).recovery_groups, 0);
    check_set(r, &before);
    cr_assert_eq(stored(r, 7), sb);
    ls_close(r);

    cr_assert_eq(ls_checkpoint(ls), 0);
    r = reopen_image(dev, &o); /* checkpoint only */
    cr_assert_eq(stats(r).recovery_groups, 0);
    check_set(r, &before);
    ls_close(r);

    /* checkpoint + log: a second part after the checkpoint */
    cr_assert_eq(put(ls, 8, 1, 0, 't', 80, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(ls_commit(ls, 8, 0, 1, LS_BLOCK_MAX), 0);
    r = reopen_image(dev, &o);
    cr_assert_gt(stats(r).recovery_groups, 0);
    cr_assert_eq(stats(r).compressed_blocks, 4);
    expect_block(r, 8, 0, 0, 't', 80, LS_BLOCK_MAX);
    ls_close(r);

    cr_assert_eq(ls_close(ls), 0);
}

/* Proves: compaction moves compressed records as they are (still compressed, same bytes) and
 * the moves replay. */
Test(compress, survives_compaction)
{
    struct ls_open_opts o = {.checkpoint_bytes = 1ull << 40};
    struct ls_dev *dev;
    struct ls *ls = mem_store(48 * MB, &dev, &o);
    /* Interleave a kept compressed part with a part deleted afterwards, over several segments. */
    for (uint32_t b = 0; b < 64; b++) {
        cr_assert_eq(put(ls, 1, 1, b, b % 4 == 3 ? 'r' : 't', b, LS_BLOCK_MAX, LS_WRITE_COMPRESS),
                     0);
        cr_assert_eq(put(ls, 2, 1, b, 'r', 1000 + b, LS_BLOCK_MAX, 0), 0);
    }
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 64ull * LS_BLOCK_MAX), 0);
    cr_assert_eq(ls_commit(ls, 2, 0, 1, 64ull * LS_BLOCK_MAX), 0);
    cr_assert_eq(ls_delete(ls, 2, 0, 1), 0);
    struct ls_stats before = stats(ls);
    cr_assert_eq(before.compressed_blocks, 48);
    uint64_t sb = stored(ls, 1);
    struct ls_compact_opts co = {.max_live_ratio = 0.99};
    struct ls_compact_result res;
    cr_assert_eq(ls_compact(ls, &co, &res), 0);
    cr_assert_gt(res.segments_freed, 0);
    cr_assert_gt(res.records_moved, 0);
    cr_assert_eq(res.corrupt_skipped, 0);
    struct ls_stats after = stats(ls);
    cr_assert_eq(after.compressed_blocks, 48);
    cr_assert_eq(after.compressed_saved_bytes, before.compressed_saved_bytes);
    cr_assert_eq(after.live_bytes, before.live_bytes);
    cr_assert_eq(stored(ls, 1), sb, "compaction changed the stored size");
    for (uint32_t b = 0; b < 64; b++)
        expect_block(ls, 1, 0, b, b % 4 == 3 ? 'r' : 't', b, LS_BLOCK_MAX);
    struct ls *r = reopen_image(dev, &o); /* replays the MOVE records */
    for (uint32_t b = 0; b < 64; b++)
        expect_block(r, 1, 0, b, b % 4 == 3 ? 'r' : 't', b, LS_BLOCK_MAX);
    cr_assert_eq(stats(r).compressed_blocks, 48);
    cr_assert_eq(stored(r, 1), sb);
    ls_close(r);
    cr_assert_eq(ls_close(ls), 0);
}

struct bads {
    int n;
    struct ls_bad_block b[8];
};

static void on_bad(const struct ls_bad_block *b, void *arg)
{
    struct bads *s = arg;
    if (s->n < 8)
        s->b[s->n] = *b;
    s->n++;
}

/* Offset of the first page of img[lo..hi) that starts a zstd frame. */
static uint64_t find_frame(const uint8_t *img, uint64_t lo, uint64_t hi)
{
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    for (uint64_t off = lo; off < hi; off += LS_PAGE)
        if (memcmp(img + off, magic, 4) == 0)
            return off;
    return 0;
}

/* Proves: scrub verifies compressed payloads without decompressing, and a flipped byte inside
 * one is reported by scrub and check and is LS_ECORRUPT from ls_read. */
Test(compress, scrub_detects_flip)
{
    struct ls_dev *dev;
    struct ls *ls = mem_store(32 * MB, &dev, NULL);
    cr_assert_eq(put(ls, 9, 1, 0, 't', 90, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(put(ls, 9, 1, 1, 'r', 91, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(ls_commit(ls, 9, 0, 1, 2ull * LS_BLOCK_MAX), 0);
    struct ls_scrub_cursor cur = {0, 0};
    struct bads bad = {0};
    cr_assert_eq(ls_scrub(ls, &cur, 0, 0, on_bad, &bad), 0);
    cr_assert_eq(cur.passes, 1);
    uint8_t *img = ls_dev_mem_data(dev);
    uint64_t off = find_frame(img, 2 * MB, dev->size);
    cr_assert_neq(off, 0, "no compressed payload found on the device");
    img[off + 100] ^= 0x10;
    static uint8_t buf[LS_BLOCK_MAX];
    cr_assert_eq(ls_read(ls, 9, 0, 0, 0, buf, sizeof(buf)), LS_ECORRUPT);
    expect_block(ls, 9, 0, 1, 'r', 91, LS_BLOCK_MAX);
    cr_assert_eq(ls_scrub(ls, &cur, 0, 0, on_bad, &bad), 1);
    cr_assert_eq(bad.n, 1);
    cr_assert_eq(bad.b[0].chunk, 9);
    cr_assert_eq(bad.b[0].block, 0);
    cr_assert_eq(bad.b[0].offset, off);
    cr_assert_eq(bad.b[0].error, LS_ECORRUPT);
    cr_assert_lt(bad.b[0].len, LS_BLOCK_MAX, "len %u is not the stored length", bad.b[0].len);
    bad.n = 0;
    cr_assert_geq(ls_check(ls, NULL, on_bad, &bad), 1);
    cr_assert_eq(bad.n, 1);
    cr_assert_eq(ls_close(ls), 0);
}

/* Patch a record's payload byte and fix up every CRC that covers it, so the damage reaches
 * decompression: returns the frame's device offset. */
static uint64_t forge_frame(uint8_t *img, uint64_t size, uint64_t chunk, uint32_t block,
                            void (*patch)(uint8_t *frame, uint32_t zlen))
{
    struct ls_sb sb;
    cr_assert_eq(ls_sb_decode(img, size, &sb), 0);
    uint32_t seg_pages = sb.seg_bytes / LS_PAGE;
    static struct ls_entry ents[LS_GROUP_MAX_RECS];
    for (uint32_t s = 0; s < sb.nseg; s++) {
        uint64_t base = sb.seg_base + (uint64_t)s * sb.seg_bytes;
        for (uint32_t p = 0; p < seg_pages; p++) {
            uint8_t *h = img + base + (uint64_t)p * LS_PAGE;
            struct ls_ghdr g;
            if (ls_get32(h) != LS_GROUP_MAGIC || ls_group_decode(h, seg_pages, &g, ents) != 0)
                continue;
            for (unsigned i = 0; i < g.nrec; i++) {
                struct ls_entry *e = &ents[i];
                if (e->type != LS_REC_BLOCK || e->chunk != chunk || e->block != block ||
                    !(e->flags & LS_EF_ZSTD))
                    continue;
                uint8_t *frame = h + (uint64_t)e->data_page * LS_PAGE;
                patch(frame, e->len);
                uint8_t *ep = h + LS_GROUP_HDR + i * LS_ENTRY_SIZE;
                ls_put32(ep + 28, ec_crc32c(0, frame, e->len));
                ls_put32(h + 56, ec_crc32c(0, h + LS_GROUP_HDR, (size_t)g.nrec * LS_ENTRY_SIZE));
                ls_put32(h + 60, ec_crc32c(0, h, 60));
                return (uint64_t)(frame - img);
            }
        }
    }
    cr_assert_fail("record of chunk %llu block %u not found", (unsigned long long)chunk, block);
    return 0;
}

static void patch_literal(uint8_t *frame, uint32_t zlen)
{
    frame[zlen / 2] ^= 0x01; /* inside the compressed data */
}

static void patch_checksum(uint8_t *frame, uint32_t zlen)
{
    frame[zlen - 1] ^= 0x80; /* the frame's content checksum */
}

static void patch_magic(uint8_t *frame, uint32_t zlen)
{
    frame[0] ^= 0xff;
}

static void keep_log(void *arg, int level, const char *msg)
{
    char *last = arg;
    snprintf(last, 512, "%s", msg);
}

/* Proves: a compressed payload whose CRC matches but which does not decompress to exactly its
 * recorded bytes is LS_ECORRUPT, never data. */
Test(compress, matching_crc_bad_frame_is_corrupt)
{
    void (*patches[])(uint8_t *, uint32_t) = {patch_literal, patch_checksum, patch_magic};
    for (unsigned k = 0; k < sizeof(patches) / sizeof(patches[0]); k++) {
        struct ls_open_opts o = {.checkpoint_bytes = 1ull << 40};
        struct ls_dev *dev;
        struct ls *ls = mem_store(32 * MB, &dev, &o);
        cr_assert_eq(put(ls, 4, 1, 0, 't', 40, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
        cr_assert_eq(put(ls, 4, 1, 1, 't', 41, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
        cr_assert_eq(ls_commit(ls, 4, 0, 1, 2ull * LS_BLOCK_MAX), 0);
        uint8_t *img = malloc(dev->size);
        cr_assert_not_null(img);
        memcpy(img, ls_dev_mem_data(dev), dev->size);
        uint64_t size = dev->size;
        ls_close(ls);
        forge_frame(img, size, 4, 0, patches[k]);
        static char last[512];
        o.log = keep_log;
        o.log_arg = last;
        ls = open_img(img, size, &o, NULL); /* replay takes the forged CRC */
        static uint8_t buf[LS_BLOCK_MAX];
        last[0] = 0;
        cr_assert_eq(ls_read(ls, 4, 0, 0, 0, buf, sizeof(buf)), LS_ECORRUPT, "patch %u", k);
        cr_assert(strstr(last, "does not decompress") != NULL, "patch %u: CRC caught it: %s", k,
                  last);
        expect_block(ls, 4, 0, 1, 't', 41, LS_BLOCK_MAX);
        ls_close(ls);
        free(img);
    }
}

/* Proves: the decompressor wrapper demands exactly one frame of exactly the recorded length. */
Test(compress, decompress_checks_lengths)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    static uint8_t src[LS_BLOCK_MAX], z[LS_BLOCK_MAX + 16], out[LS_BLOCK_MAX + 16];
    fill(src, 40000, 't', 5);
    int zlen = ls_zstd_compress(ls, z, src, 40000);
    cr_assert_gt(zlen, 0);
    cr_assert_lt(ls_pages((uint64_t)zlen), ls_pages(40000));
    cr_assert_eq(ls_zstd_decompress(ls, out, 40000, z, (uint32_t)zlen), 0);
    cr_assert(memcmp(out, src, 40000) == 0);
    cr_assert_eq(ls_zstd_decompress(ls, out, 39999, z, (uint32_t)zlen), LS_ECORRUPT);
    cr_assert_eq(ls_zstd_decompress(ls, out, 40001, z, (uint32_t)zlen), LS_ECORRUPT);
    cr_assert_eq(ls_zstd_decompress(ls, out, 40000, z, (uint32_t)zlen - 1), LS_ECORRUPT);
    z[zlen] = 0;
    cr_assert_eq(ls_zstd_decompress(ls, out, 40000, z, (uint32_t)zlen + 1), LS_ECORRUPT);
    fill(src, 40000, 'r', 6);
    cr_assert_eq(ls_zstd_compress(ls, z, src, 40000), 0, "random data saved a page");
    cr_assert_eq(ls_zstd_compress(ls, z, src, LS_PAGE), 0);
    ls_close(ls);
}

/* Proves: the group decoder takes the zstd flag only in version-2 groups, only on payload
 * records, and only with a plain length that needs more pages. */
Test(compress, entry_flag_rules)
{
    static uint8_t page[LS_PAGE];
    static struct ls_entry ents[LS_GROUP_MAX_RECS];
    struct {
        uint16_t version;
        uint8_t type, flags;
        uint32_t len, raw_len;
        int want;
    } cases[] = {
        {2, LS_REC_BLOCK, LS_EF_ZSTD, 5000, 20000, 0},
        {2, LS_REC_MOVE, LS_EF_ZSTD, 5000, 20000, 0},
        {2, LS_REC_BLOCK, 0, 5000, 0, 0},
        {1, LS_REC_BLOCK, 0, 5000, 0, 0},
        {1, LS_REC_BLOCK, LS_EF_ZSTD, 5000, 20000, LS_ECORRUPT}, /* v1 has no flags */
        {2, LS_REC_BLOCK, LS_EF_ZSTD, 5000, 8000, LS_ECORRUPT},  /* saves no page */
        {2, LS_REC_BLOCK, LS_EF_ZSTD, 5000, 0, LS_ECORRUPT},
        {2, LS_REC_BLOCK, LS_EF_ZSTD, 5000, LS_BLOCK_MAX + 1, LS_ECORRUPT},
        {2, LS_REC_BLOCK, 0, 5000, 20000, LS_ECORRUPT}, /* plain: field is reserved */
        {2, LS_REC_BLOCK, 0x02, 5000, 0, LS_ECORRUPT},  /* unknown flag */
        {2, LS_REC_COMMIT, LS_EF_ZSTD, 0, 0, LS_ECORRUPT},
        {3, LS_REC_BLOCK, 0, 5000, 0, LS_ECORRUPT}, /* unknown version */
    };
    for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        memset(page, 0, sizeof(page));
        struct ls_entry e = {.type = cases[k].type,
                             .flags = cases[k].flags,
                             .chunk = 1,
                             .version = 1,
                             .len = cases[k].len,
                             .raw_len = cases[k].raw_len,
                             .data_page = cases[k].len ? 1 : 0};
        ls_entry_encode(&e, page + LS_GROUP_HDR);
        struct ls_ghdr g = {.nrec = 1,
                            .seq = 5,
                            .prev_seq = 4,
                            .tag = 1,
                            .npages = 1 + (uint32_t)ls_pages(cases[k].len),
                            .next_seg = LS_NO_SEG,
                            .entries_crc = ec_crc32c(0, page + LS_GROUP_HDR, LS_ENTRY_SIZE)};
        ls_ghdr_encode(&g, page);
        ls_put16(page + 4, cases[k].version);
        ls_put32(page + 60, ec_crc32c(0, page, 60));
        struct ls_ghdr out;
        int rc = ls_group_decode(page, 256, &out, ents);
        cr_assert_eq(rc, cases[k].want, "case %u: got %d want %d", k, rc, cases[k].want);
        if (rc == 0)
            cr_assert_eq(ents[0].raw_len, cases[k].raw_len);
    }
}

/* Rewrite every structure of img to format version 1, as a version-1 build wrote it (the
 * layouts are the same as long as no record is compressed). */
static void make_v1(uint8_t *img, uint64_t size)
{
    struct ls_sb sb;
    cr_assert_eq(ls_sb_decode(img, size, &sb), 0);
    uint64_t sbo[2] = {0, size - LS_PAGE};
    for (int i = 0; i < 2; i++) {
        ls_put32(img + sbo[i] + 8, 1);
        ls_put32(img + sbo[i] + LS_SB_LEN - 4, ec_crc32c(0, img + sbo[i], LS_SB_LEN - 4));
    }
    for (int i = 0; i < 2; i++) {
        uint8_t *h = img + sb.slot_off[i];
        if (ls_get32(h) == LS_CKPT_MAGIC) {
            ls_put16(h + 4, 1);
            ls_put32(h + 60, ec_crc32c(0, h, 60));
        }
    }
    int groups = 0;
    for (uint64_t off = sb.seg_base; off < sb.seg_base + (uint64_t)sb.nseg * sb.seg_bytes;
         off += LS_PAGE) {
        uint8_t *h = img + off;
        if (ls_get32(h) == LS_GROUP_MAGIC && ls_get16(h + 4) == 2 &&
            ls_get32(h + 60) == ec_crc32c(0, h, 60)) {
            for (unsigned i = 0; i < ls_get16(h + 6); i++)
                cr_assert_eq(h[LS_GROUP_HDR + i * LS_ENTRY_SIZE + 1], 0, "a flagged record");
            ls_put16(h + 4, 1);
            ls_put32(h + 60, ec_crc32c(0, h, 60));
            groups++;
        }
    }
    cr_assert_gt(groups, 0);
}

static uint32_t sb_version(struct ls_dev *dev, uint64_t off)
{
    return ls_get32(ls_dev_mem_data(dev) + off + 8);
}

/* Proves: a version-1 disk (checkpoint + log) opens read-only as it is, opens writable with
 * both superblocks upgraded to version 2 before anything else is written, and then takes
 * compressed records. */
Test(compress, opens_version1_disk)
{
    struct ls_open_opts o = {.checkpoint_bytes = 1ull << 40};
    struct ls_dev *dev;
    struct ls *ls = mem_store(32 * MB, &dev, &o);
    for (uint32_t b = 0; b < 4; b++)
        cr_assert_eq(put(ls, 1, 1, b, 't', b, LS_BLOCK_MAX, 0), 0);
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 4ull * LS_BLOCK_MAX), 0);
    cr_assert_eq(ls_checkpoint(ls), 0);
    cr_assert_eq(put(ls, 2, 1, 0, 'r', 9, 7000, 0), 0); /* log after the checkpoint */
    cr_assert_eq(ls_commit(ls, 2, 0, 1, 7000), 0);
    uint64_t size = dev->size;
    uint8_t *img = malloc(size);
    cr_assert_not_null(img);
    memcpy(img, ls_dev_mem_data(dev), size);
    ls_close(ls);
    make_v1(img, size);

    struct ls_open_opts ro = {.read_only = 1};
    struct ls_dev *d;
    ls = open_img(img, size, &ro, &d);
    cr_assert_gt(stats(ls).recovery_groups, 0);
    for (uint32_t b = 0; b < 4; b++)
        expect_block(ls, 1, 0, b, 't', b, LS_BLOCK_MAX);
    expect_block(ls, 2, 0, 0, 'r', 9, 7000);
    cr_assert_eq(sb_version(d, 0), 1, "read-only open wrote the superblock");
    cr_assert_eq(put(ls, 3, 1, 0, 't', 1, LS_BLOCK_MAX, LS_WRITE_COMPRESS), -EROFS);
    ls_close(ls);

    ls = open_img(img, size, &o, &d);
    cr_assert_eq(sb_version(d, 0), LS_FORMAT_VERSION);
    cr_assert_eq(sb_version(d, size - LS_PAGE), LS_FORMAT_VERSION);
    for (uint32_t b = 0; b < 4; b++)
        expect_block(ls, 1, 0, b, 't', b, LS_BLOCK_MAX);
    expect_block(ls, 2, 0, 0, 'r', 9, 7000);
    cr_assert_eq(put(ls, 3, 1, 0, 't', 1, LS_BLOCK_MAX, LS_WRITE_COMPRESS), 0);
    cr_assert_eq(ls_commit(ls, 3, 0, 1, LS_BLOCK_MAX), 0);
    cr_assert_eq(stats(ls).compressed_blocks, 1);
    /* crash image: version-1 and version-2 groups in one log, after a version-1 checkpoint */
    struct ls *r = reopen_image(d, &o);
    for (uint32_t b = 0; b < 4; b++)
        expect_block(r, 1, 0, b, 't', b, LS_BLOCK_MAX);
    expect_block(r, 2, 0, 0, 'r', 9, 7000);
    expect_block(r, 3, 0, 0, 't', 1, LS_BLOCK_MAX);
    cr_assert_eq(ls_check(r, NULL, NULL, NULL), 0);
    ls_close(r);
    ls_close(ls);
    free(img);
}

/* Proves: a version-1 checkpoint entry with the (version-2) compressed-length half set is
 * corruption, so the older slot is used. */
Test(compress, v1_checkpoint_rejects_zlen)
{
    struct ls_open_opts o = {.checkpoint_bytes = 1ull << 40};
    struct ls_dev *dev;
    struct ls *ls = mem_store(32 * MB, &dev, &o);
    cr_assert_eq(put(ls, 1, 1, 0, 't', 1, 9000, 0), 0);
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 9000), 0);
    cr_assert_eq(ls_checkpoint(ls), 0); /* generation 2, in slot B */
    uint64_t size = dev->size;
    uint8_t *img = malloc(size);
    cr_assert_not_null(img);
    memcpy(img, ls_dev_mem_data(dev), size);
    cr_assert_eq(ls_close(ls), 0);
    make_v1(img, size);
    struct ls_sb sb;
    cr_assert_eq(ls_sb_decode(img, size, &sb), 0);
    uint8_t *h = img + sb.slot_off[1];
    cr_assert_eq(ls_get64(h + 8), 2);
    uint8_t *body = h + LS_PAGE;
    uint64_t blen = ls_get64(h + 40);
    uint8_t *ent = body + (uint64_t)sb.nseg * LS_CKPT_SEG_ENTRY + 8 + LS_CKPT_PART_HDR;
    cr_assert_eq(ls_get32(ent + 12), 9000);
    ls_put16(ent + 2, 100); /* a compressed length in a version-1 body */
    ls_put32(h + 48, ec_crc32c(0, body, blen));
    ls_put32(h + 60, ec_crc32c(0, h, 60));
    struct ls_open_opts ro = {.read_only = 1};
    ls = open_img(img, size, &ro, NULL);
    /* Slot A is the empty format-time checkpoint: the part comes back from the log. */
    expect_block(ls, 1, 0, 0, 't', 1, 9000);
    ls_close(ls);
    free(img);
}
