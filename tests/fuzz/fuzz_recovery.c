/*
 * fuzz_recovery.c - libFuzzer target over everything that decodes logstore
 * bytes from disk: superblocks, checkpoint slots, group headers and record
 * entries, the recovery scanner (replay, resync, tail verification), reads
 * and the full check.
 *
 * Input modes (first byte):
 *   even, bit 1 clear: the rest is one 4 KiB page fed straight to the
 *         superblock and group decoders;
 *   even, bit 1 set: the rest is u16 length then a zstd frame, fed to the
 *         decompressor of compressed block records;
 *   odd:  the rest is a list of patches (u32 offset, u8 length, bytes)
 *         applied to a template disk that holds a real log (parts,
 *         commits, a delete, several segments, zstd-compressed blocks
 *         committed and in the torn-able tail); the patched image is then
 *         opened, every part read, and checked.
 * Any crash, sanitizer report or leak is a bug: corrupt input must only
 * ever produce error codes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logstore.h"
#include "ls_int.h"

#define IMG_SIZE (8u << 20)

static uint8_t *template_img;

static void build_template(void)
{
    struct ls_dev *dev;
    struct ls *ls;
    struct ls_format_opts fo = {.segment_bytes = 1u << 20};
    struct ls_open_opts oo = {.checkpoint_bytes = 1ull << 40};
    static uint8_t buf[LS_BLOCK_MAX];
    if (ls_dev_open_mem(IMG_SIZE, NULL, 0, &dev) || ls_format_dev(dev, &fo, NULL, 0))
        abort();
    template_img = malloc(IMG_SIZE);
    if (!template_img)
        abort();
    if (ls_open_dev(dev, &oo, &ls, NULL, 0))
        abort();
    for (uint64_t c = 1; c <= 6; c++) {
        for (uint32_t b = 0; b < 5; b++) {
            memset(buf, (int)(c * 16 + b), sizeof(buf));
            ls_append(ls, c, (uint16_t)(c & 1), 1, b, buf, b == 4 ? 5000 : LS_BLOCK_MAX);
        }
        ls_commit(ls, c, (uint16_t)(c & 1), 1, 4 * LS_BLOCK_MAX + 5000);
    }
    ls_delete(ls, 3, 1, 1);
    ls_append(ls, 9, 0, 2, 0, buf, 100); /* left uncommitted */
    /* Compressed records (format version 2), after the records above so
     * the older corpus offsets still hit what they were made for. */
    uint64_t x = 88172645463325252ull;
    for (uint32_t i = 0; i < LS_BLOCK_MAX; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t) "acgt"[x & 3];
    }
    for (uint32_t b = 0; b < 3; b++) {
        struct ls_write w = {.type = LS_REC_BLOCK,
                             .flags = LS_WRITE_COMPRESS,
                             .chunk = 10,
                             .version = 1,
                             .block = b,
                             .data = buf + b * 1000,
                             .len = b == 2 ? 20000 : LS_BLOCK_MAX - b * 1000};
        ls_writev(ls, &w, 1);
    }
    ls_commit(ls, 10, 0, 1, 2 * LS_BLOCK_MAX + 20000);
    struct ls_write tail = {.type = LS_REC_BLOCK,
                            .flags = LS_WRITE_COMPRESS,
                            .chunk = 11,
                            .version = 1,
                            .data = buf,
                            .len = 30000};
    ls_writev(ls, &tail, 1); /* left uncommitted, in the tail group */
    memcpy(template_img, ls_dev_mem_data(dev), IMG_SIZE);
    /* deliberately no ls_close(): the image is a crash image needing replay */
    struct ls_dev *d2;
    if (ls_dev_open_mem(IMG_SIZE, template_img, IMG_SIZE, &d2))
        abort();
    ls_close(ls);
    d2->close(d2);
}

static int read_part(const struct ls_part_info *pi, void *arg)
{
    struct ls *ls = arg;
    static uint8_t buf[LS_BLOCK_MAX];
    for (uint32_t b = 0; b < 8; b++)
        (void)ls_read(ls, pi->chunk, pi->part, 0, b, buf, sizeof(buf));
    if (pi->pending_max)
        (void)ls_read(ls, pi->chunk, pi->part, pi->pending_max, 0, buf, sizeof(buf));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!template_img)
        build_template();
    if (size < 1)
        return 0;
    if ((data[0] & 3) == 2) {
        static struct ls *zls; /* a store only for its zstd contexts */
        static uint8_t out[LS_BLOCK_MAX];
        if (!zls) {
            struct ls_dev *dev;
            struct ls_format_opts fo = {.segment_bytes = 1u << 20};
            if (ls_dev_open_mem(IMG_SIZE, NULL, 0, &dev) || ls_format_dev(dev, &fo, NULL, 0) ||
                ls_open_dev(dev, NULL, &zls, NULL, 0))
                abort();
        }
        if (size < 3)
            return 0;
        uint32_t len = (uint32_t)data[1] | (uint32_t)data[2] << 8;
        len = len % LS_BLOCK_MAX + 1;
        (void)ls_zstd_decompress(zls, out, len, data + 3, (uint32_t)(size - 3));
        return 0;
    }
    if ((data[0] & 1) == 0) {
        uint8_t page[LS_PAGE] = {0};
        struct ls_sb sb;
        struct ls_ghdr g;
        struct ls_entry ents[LS_GROUP_MAX_RECS];
        memcpy(page, data + 1, size - 1 < LS_PAGE ? size - 1 : LS_PAGE);
        (void)ls_sb_decode(page, IMG_SIZE, &sb);
        (void)ls_group_decode(page, 256, &g, ents);
        return 0;
    }
    struct ls_dev *dev;
    if (ls_dev_open_mem(IMG_SIZE, template_img, IMG_SIZE, &dev))
        return 0;
    uint8_t *m = ls_dev_mem_data(dev);
    size_t i = 1;
    while (i + 5 <= size) {
        uint32_t off = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
                       (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;
        size_t len = data[i + 4];
        i += 5;
        if (len > size - i)
            len = size - i;
        off %= IMG_SIZE;
        if (len > IMG_SIZE - off)
            len = IMG_SIZE - off;
        memcpy(m + off, data + i, len);
        i += len;
    }
    struct ls *ls;
    struct ls_open_opts oo = {.read_only = (data[0] & 2) != 0};
    char err[256];
    if (ls_open_dev(dev, &oo, &ls, err, sizeof(err)) == 0) {
        ls_list_parts(ls, read_part, ls);
        (void)ls_check(ls, NULL, NULL, NULL);
        if (!oo.read_only) {
            static uint8_t buf[8192];
            (void)ls_append(ls, 42, 0, 7, 0, buf, sizeof(buf));
            (void)ls_compact(ls, NULL, NULL);
        }
        ls_close(ls);
    }
    return 0;
}
