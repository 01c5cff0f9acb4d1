/*
 * test_logstore.c - unit tests of every logstore API call and its error
 * paths, on memory devices and on files.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logstore.h"

#define MB (1u << 20)

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (uint8_t)x;
    }
}

/* A formatted memory store of `size` bytes with 1 MiB segments. */
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

/* Reopen from a copy of the device bytes (a crash image). */
static struct ls *reopen_image(struct ls_dev *dev, const struct ls_open_opts *o)
{
    struct ls_dev *d2;
    struct ls *ls;
    char err[256] = "";
    cr_assert_eq(ls_dev_open_mem(dev->size, ls_dev_mem_data(dev), dev->size, &d2), 0);
    int rc = ls_open_dev(d2, o, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "reopen: %s (%s)", ls_strerror(rc), err);
    return ls;
}

static void expect_block(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version,
                         uint32_t block, uint64_t seed, uint32_t len)
{
    uint8_t want[LS_BLOCK_MAX], got[LS_BLOCK_MAX];
    fill(want, len, seed);
    ssize_t r = ls_read(ls, chunk, part, version, block, got, sizeof(got));
    cr_assert_eq(r, (ssize_t)len, "chunk %llu part %u block %u: read %zd (%s), want %u bytes",
                 (unsigned long long)chunk, part, block, r, ls_strerror((int)r), len);
    cr_assert(memcmp(want, got, len) == 0, "chunk %llu block %u: wrong bytes",
              (unsigned long long)chunk, block);
}

/* Proves: appended blocks are invisible until committed, then read back exactly. */
Test(logstore, append_commit_read)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    uint8_t buf[LS_BLOCK_MAX];
    for (uint32_t b = 0; b < 4; b++) {
        fill(buf, LS_BLOCK_MAX, b);
        cr_assert_eq(ls_append(ls, 7, 0, 1, b, buf, LS_BLOCK_MAX), 0);
    }
    cr_assert_eq(ls_read(ls, 7, 0, 0, 0, buf, sizeof(buf)), -ENOENT, "uncommitted is visible");
    expect_block(ls, 7, 0, 1, 2, 2, LS_BLOCK_MAX); /* readable as its own version */
    cr_assert_eq(ls_commit(ls, 7, 0, 1, 4ull * LS_BLOCK_MAX), 0);
    for (uint32_t b = 0; b < 4; b++)
        expect_block(ls, 7, 0, 0, b, b, LS_BLOCK_MAX);
    struct ls_part_info pi;
    cr_assert_eq(ls_part_stat(ls, 7, 0, &pi), 0);
    cr_assert_eq(pi.version, 1);
    cr_assert_eq(pi.nblocks, 4);
    cr_assert_eq(pi.size, 4ull * LS_BLOCK_MAX);
    cr_assert_eq(pi.stored_bytes, 4ull * LS_BLOCK_MAX);
    cr_assert_eq(ls_close(ls), 0);
}

/* Proves: a new version overlays the old one only at commit; stale versions are refused. */
Test(logstore, versions_overlay_and_stale)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    uint8_t buf[LS_BLOCK_MAX];
    for (uint32_t b = 0; b < 3; b++) {
        fill(buf, 1000, 100 + b);
        cr_assert_eq(ls_append(ls, 1, 2, 5, b, buf, 1000), 0);
    }
    cr_assert_eq(ls_commit(ls, 1, 2, 5, 3 * LS_BLOCK_MAX), 0);
    fill(buf, 500, 999);
    cr_assert_eq(ls_append(ls, 1, 2, 6, 1, buf, 500), 0);
    expect_block(ls, 1, 2, 0, 1, 101, 1000); /* old version still served */
    expect_block(ls, 1, 2, 6, 1, 999, 500);  /* new version over the old */
    expect_block(ls, 1, 2, 6, 0, 100, 1000); /* falls through to committed */
    cr_assert_eq(ls_read(ls, 1, 2, 4, 0, buf, sizeof(buf)), -ESTALE);
    cr_assert_eq(ls_commit(ls, 1, 2, 6, 3 * LS_BLOCK_MAX), 0);
    expect_block(ls, 1, 2, 0, 1, 999, 500);
    expect_block(ls, 1, 2, 0, 2, 102, 1000);
    cr_assert_eq(ls_append(ls, 1, 2, 6, 0, buf, 10), -ESTALE);
    cr_assert_eq(ls_commit(ls, 1, 2, 5, 0), -ESTALE);
    /* truncation by commit size drops blocks past it */
    cr_assert_eq(ls_commit(ls, 1, 2, 7, LS_BLOCK_MAX + 1), 0);
    cr_assert_eq(ls_read(ls, 1, 2, 0, 2, buf, sizeof(buf)), -ENODATA);
    expect_block(ls, 1, 2, 0, 1, 999, 500);
    ls_close(ls);
}

/* Proves: bad arguments are refused before anything is written. */
Test(logstore, argument_errors)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    uint8_t buf[16] = {0};
    struct ls_stats st0, st1;
    ls_stats(ls, &st0);
    cr_assert_eq(ls_append(ls, 1, 0, 1, 0, buf, 0), -EINVAL);
    cr_assert_eq(ls_append(ls, 1, 0, 1, 0, NULL, 10), -EINVAL);
    cr_assert_eq(ls_append(ls, 1, 0, 1, 0, buf, LS_BLOCK_MAX + 1), -EINVAL);
    cr_assert_eq(ls_append(ls, 1, 0, 1, LS_MAX_BLOCKS_PER_PART, buf, 10), -EINVAL);
    cr_assert_eq(ls_append(ls, 1, 0, 0, 0, buf, 10), -EINVAL);
    cr_assert_eq(ls_delete(ls, 99, 0, 1), -ENOENT);
    struct ls_write w = {.type = 42, .chunk = 1, .version = 1};
    cr_assert_eq(ls_writev(ls, &w, 1), -EINVAL);
    ls_stats(ls, &st1);
    cr_assert_eq(st0.seq, st1.seq, "a refused write reached the log");
    cr_assert_eq(ls_read(ls, 1, 0, 0, 0, buf, sizeof(buf)), -ENOENT);
    cr_assert_eq(ls_append(ls, 1, 0, 1, 0, buf, 16), 0);
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 16), 0);
    cr_assert_eq(ls_read(ls, 1, 0, 0, 0, buf, 8), -ENOBUFS);
    cr_assert_eq(ls_read(ls, 1, 0, 0, 3, buf, sizeof(buf)), -ENODATA);
    ls_close(ls);
}

/* Proves: delete removes a part (tombstone) and survives reopen; stale deletes are refused. */
Test(logstore, delete_and_reopen)
{
    struct ls_dev *dev;
    struct ls_open_opts o = {.checkpoint_bytes = 1ull << 40};
    struct ls *ls = mem_store(32 * MB, &dev, &o);
    uint8_t buf[4096];
    fill(buf, sizeof(buf), 1);
    for (uint64_t c = 1; c <= 3; c++) {
        cr_assert_eq(ls_append(ls, c, 0, 3, 0, buf, sizeof(buf)), 0);
        cr_assert_eq(ls_commit(ls, c, 0, 3, sizeof(buf)), 0);
    }
    cr_assert_eq(ls_delete(ls, 2, 0, 2), -ESTALE);
    cr_assert_eq(ls_delete(ls, 2, 0, 3), 0);
    cr_assert_eq(ls_read(ls, 2, 0, 0, 0, buf, sizeof(buf)), -ENOENT);
    struct ls *r = reopen_image(dev, &o); /* replay without a covering checkpoint */
    cr_assert_eq(ls_read(r, 2, 0, 0, 0, buf, sizeof(buf)), -ENOENT);
    expect_block(r, 1, 0, 0, 0, 1, sizeof(buf));
    expect_block(r, 3, 0, 0, 0, 1, sizeof(buf));
    struct ls_stats st;
    ls_stats(r, &st);
    cr_assert_eq(st.nparts, 2);
    cr_assert_gt(st.recovery_groups, 0);
    ls_close(r);
    ls_close(ls);
}

static int collect(const struct ls_part_info *pi, void *arg)
{
    struct ls_part_info *v = arg;
    int i = 0;
    while (v[i].chunk)
        i++;
    v[i] = *pi;
    return 0;
}

/* Proves: list_parts returns every part sorted with versions and sizes. */
Test(logstore, list_parts_sorted)
{
    struct ls *ls = mem_store(32 * MB, NULL, NULL);
    uint8_t buf[100] = {1};
    uint64_t chunks[] = {50, 3, 17, 3};
    uint16_t parts[] = {0, 2, 1, 0};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ls_append(ls, chunks[i], parts[i], 9, 0, buf, 100), 0);
        cr_assert_eq(ls_commit(ls, chunks[i], parts[i], 9, 100 + i), 0);
    }
    cr_assert_eq(ls_append(ls, 60, 0, 1, 0, buf, 100), 0); /* pending only */
    struct ls_part_info v[8];
    memset(v, 0, sizeof(v));
    cr_assert_eq(ls_list_parts(ls, collect, v), 5);
    cr_assert_eq(v[0].chunk, 3);
    cr_assert_eq(v[0].part, 0);
    cr_assert_eq(v[0].size, 103);
    cr_assert_eq(v[1].chunk, 3);
    cr_assert_eq(v[1].part, 2);
    cr_assert_eq(v[2].chunk, 17);
    cr_assert_eq(v[3].chunk, 50);
    cr_assert_eq(v[4].chunk, 60);
    cr_assert_eq(v[4].committed, 0);
    cr_assert_eq(v[4].pending_max, 1);
    ls_close(ls);
}

/* Proves: an uncommitted version is dropped at recovery; the committed one is served. */
Test(logstore, uncommitted_dropped_after_reopen)
{
    struct ls_dev *dev;
    struct ls *ls = mem_store(32 * MB, &dev, NULL);
    uint8_t buf[4096];
    fill(buf, sizeof(buf), 5);
    cr_assert_eq(ls_append(ls, 4, 0, 1, 0, buf, sizeof(buf)), 0);
    cr_assert_eq(ls_commit(ls, 4, 0, 1, sizeof(buf)), 0);
    fill(buf, sizeof(buf), 6);
    cr_assert_eq(ls_append(ls, 4, 0, 2, 0, buf, sizeof(buf)), 0);
    cr_assert_eq(ls_append(ls, 5, 0, 1, 0, buf, sizeof(buf)), 0); /* a part never committed */
    struct ls *r = reopen_image(dev, NULL);
    expect_block(r, 4, 0, 0, 0, 5, sizeof(buf));
    cr_assert_eq(ls_read(r, 4, 0, 2, 0, buf, sizeof(buf)), -ESTALE);
    cr_assert_eq(ls_read(r, 5, 0, 1, 0, buf, sizeof(buf)), -ENOENT);
    struct ls_part_info pi;
    cr_assert_eq(ls_part_stat(r, 4, 0, &pi), 0);
    cr_assert_eq(pi.npending, 0);
    cr_assert_eq(ls_part_stat(r, 5, 0, &pi), -ENOENT);
    ls_close(r);
    ls_close(ls);
}

/* Proves: stats and segment tables account live and dead bytes. */
Test(logstore, stats_and_segments)
{
    struct ls *ls = mem_store(64 * MB, NULL, NULL);
    uint8_t buf[LS_BLOCK_MAX];
    fill(buf, sizeof(buf), 3);
    for (uint32_t b = 0; b < 40; b++)
        cr_assert_eq(ls_append(ls, 1, 0, 1, b, buf, sizeof(buf)), 0);
    cr_assert_eq(ls_commit(ls, 1, 0, 1, 40ull * LS_BLOCK_MAX), 0);
    struct ls_stats st;
    ls_stats(ls, &st);
    cr_assert_eq(st.live_bytes, 40ull * LS_BLOCK_MAX);
    cr_assert_eq(st.nblocks, 40);
    cr_assert_gt(st.free_bytes, 0);
    cr_assert_lt(st.free_bytes, st.disk_bytes);
    struct ls_seg_info si[128];
    int n = ls_segments(ls, si, 128);
    cr_assert_eq((uint32_t)n, st.nsegments);
    uint64_t live = 0, written = 0;
    for (int i = 0; i < n; i++) {
        live += si[i].live;
        written += si[i].written;
        cr_assert_eq(si[i].written, si[i].live + si[i].dead);
    }
    cr_assert_eq(live, st.live_bytes);
    cr_assert_geq(written, live + 40 * 0); /* headers are dead bytes */
    cr_assert_eq(ls_delete(ls, 1, 0, 1), 0);
    ls_stats(ls, &st);
    cr_assert_eq(st.live_bytes, 0);
    cr_assert_geq(st.dead_bytes, 40ull * LS_BLOCK_MAX);
    ls_close(ls);
}

/* Proves: compaction frees segments of deleted parts and keeps live data readable. */
Test(logstore, compaction_reclaims)
{
    struct ls_dev *dev;
    struct ls *ls = mem_store(48 * MB, &dev, NULL);
    uint8_t buf[LS_BLOCK_MAX];
    for (uint64_t c = 1; c <= 40; c++) {
        for (uint32_t b = 0; b < 8; b++) {
            fill(buf, sizeof(buf), c * 100 + b);
            cr_assert_eq(ls_append(ls, c, 0, 1, b, buf, sizeof(buf)), 0);
        }
        cr_assert_eq(ls_commit(ls, c, 0, 1, 8ull * LS_BLOCK_MAX), 0);
    }
    for (uint64_t c = 1; c <= 40; c += 2)
        cr_assert_eq(ls_delete(ls, c, 0, 1), 0);
    struct ls_stats before, after;
    ls_stats(ls, &before);
    struct ls_compact_result res;
    cr_assert_eq(ls_compact(ls, NULL, &res), 0);
    ls_stats(ls, &after);
    cr_assert_gt(res.segments_freed, 0);
    cr_assert_gt(after.free_segments, before.free_segments, "free %u -> %u", before.free_segments,
                 after.free_segments);
    for (uint64_t c = 2; c <= 40; c += 2)
        for (uint32_t b = 0; b < 8; b++)
            expect_block(ls, c, 0, 0, b, c * 100 + b, sizeof(buf));
    struct ls *r = reopen_image(dev, NULL);
    for (uint64_t c = 2; c <= 40; c += 2)
        for (uint32_t b = 0; b < 8; b++)
            expect_block(r, c, 0, 0, b, c * 100 + b, sizeof(buf));
    cr_assert_eq(ls_read(r, 1, 0, 0, 0, buf, sizeof(buf)), -ENOENT);
    ls_close(r);
    ls_close(ls);
}

/* Proves: a full disk gives ENOSPC, keeps data readable, and space returns after delete+compact. */
Test(logstore, enospc_and_recovery_of_space)
{
    struct ls *ls = mem_store(24 * MB, NULL, NULL);
    uint8_t buf[LS_BLOCK_MAX];
    uint64_t c = 1;
    int rc = 0;
    for (; c < 10000 && rc == 0; c++) {
        fill(buf, sizeof(buf), c);
        rc = ls_append(ls, c, 0, 1, 0, buf, sizeof(buf));
        if (rc == 0)
            rc = ls_commit(ls, c, 0, 1, sizeof(buf));
    }
    cr_assert_eq(rc, -ENOSPC, "got %s", ls_strerror(rc));
    uint64_t last = c - 2;
    expect_block(ls, 1, 0, 0, 0, 1, sizeof(buf));
    for (uint64_t d = 1; d <= last; d += 2)
        cr_assert_eq(ls_delete(ls, d, 0, 1), 0, "delete while full");
    cr_assert_eq(ls_compact(ls, NULL, NULL), 0);
    fill(buf, sizeof(buf), 77);
    cr_assert_eq(ls_append(ls, 100000, 0, 1, 0, buf, sizeof(buf)), 0);
    cr_assert_eq(ls_commit(ls, 100000, 0, 1, sizeof(buf)), 0);
    expect_block(ls, 100000, 0, 0, 0, 77, sizeof(buf));
    for (uint64_t d = 2; d <= last; d += 2)
        expect_block(ls, d, 0, 0, 0, d, sizeof(buf));
    ls_close(ls);
}

static void count_bad(const struct ls_bad_block *b, void *arg)
{
    (void)b;
    (*(int *)arg)++;
}

/* Proves: scrub is resumable and counts a pass; a flipped payload byte is reported. */
Test(logstore, scrub_resumable_and_finds_damage)
{
    struct ls_dev *dev;
    struct ls *ls = mem_store(32 * MB, &dev, NULL);
    uint8_t buf[LS_BLOCK_MAX];
    for (uint32_t b = 0; b < 16; b++) {
        fill(buf, sizeof(buf), b);
        cr_assert_eq(ls_append(ls, 9, 0, 1, b, buf, sizeof(buf)), 0);
    }
    cr_assert_eq(ls_commit(ls, 9, 0, 1, 16ull * LS_BLOCK_MAX), 0);
    struct ls_scrub_cursor cur = {0, 0};
    int bad = 0, steps = 0;
    while (cur.passes == 0 && steps < 100) {
        cr_assert_eq(ls_scrub(ls, &cur, 3 * LS_BLOCK_MAX, 0, count_bad, &bad), 0);
        steps++;
    }
    cr_assert_geq(steps, 5, "scrub did not stop at max_bytes (%d steps)", steps);
    cr_assert_eq(bad, 0);
    /* flip one byte of one payload: find block 5 by its contents */
    uint8_t want[LS_BLOCK_MAX];
    fill(want, sizeof(want), 5);
    uint8_t *mem = ls_dev_mem_data(dev);
    uint8_t *hit = memmem(mem, dev->size, want, 4096);
    cr_assert_not_null(hit);
    hit[100] ^= 0x40;
    cr_assert_eq(ls_scrub(ls, &cur, 0, 0, count_bad, &bad), 1);
    cr_assert_eq(ls_read(ls, 9, 0, 0, 5, buf, sizeof(buf)), LS_ECORRUPT);
    ls_close(ls);
}

/* Proves: a file-backed disk formats (preallocated), refuses reformat, opens and persists. */
Test(logstore, file_format_open_persist)
{
    char dir[] = "/tmp/lsXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], err[256] = "";
    snprintf(path, sizeof(path), "%s/disk", dir);
    struct ls_format_opts fo = {.size = 40 * MB, .segment_bytes = 2 * MB};
    cr_assert_eq(ls_format(path, &fo, err, sizeof(err)), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_size, 40 * MB);
    cr_assert_geq((uint64_t)st.st_blocks * 512, 40ull * MB - 4096, "not preallocated");
    cr_assert_eq(ls_format(path, &fo, err, sizeof(err)), -EEXIST);
    cr_assert(strstr(err, "refusing") != NULL, "%s", err);
    struct ls *ls;
    cr_assert_eq(ls_open(path, NULL, &ls, err, sizeof(err)), 0, "%s", err);
    uint8_t buf[LS_BLOCK_MAX];
    fill(buf, sizeof(buf), 11);
    cr_assert_eq(ls_append(ls, 5, 1, 1, 0, buf, sizeof(buf)), 0);
    cr_assert_eq(ls_commit(ls, 5, 1, 1, sizeof(buf)), 0);
    cr_assert_eq(ls_close(ls), 0);
    struct ls_open_opts o = {.direct = 1};
    cr_assert_eq(ls_open(path, &o, &ls, err, sizeof(err)), 0, "%s", err);
    expect_block(ls, 5, 1, 0, 0, 11, sizeof(buf));
    struct ls_stats s;
    ls_stats(ls, &s);
    cr_assert_eq(s.recovery_groups, 0, "close did not checkpoint");
    ls_close(ls);
    fo.force = 1;
    cr_assert_eq(ls_format(path, &fo, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ls_open(path, NULL, &ls, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ls_read(ls, 5, 1, 0, 0, buf, sizeof(buf)), -ENOENT);
    ls_close(ls);
    unlink(path);
    rmdir(dir);
}

/* Proves: foreign cluster, unknown version, not-ours and missing files get distinct errors. */
Test(logstore, refuses_foreign_disks)
{
    struct ls_dev *dev;
    char err[256] = "";
    cr_assert_eq(ls_dev_open_mem(32 * MB, NULL, 0, &dev), 0);
    struct ls_format_opts fo = {.segment_bytes = MB};
    memset(fo.cluster_id, 0xab, 16);
    cr_assert_eq(ls_format_dev(dev, &fo, err, sizeof(err)), 0);
    uint8_t other[16];
    memset(other, 0xcd, 16);
    struct ls_open_opts o = {.cluster_id = other};
    struct ls_dev *d2;
    struct ls *ls;
    cr_assert_eq(ls_dev_open_mem(dev->size, ls_dev_mem_data(dev), dev->size, &d2), 0);
    cr_assert_eq(ls_open_dev(d2, &o, &ls, err, sizeof(err)), LS_ECLUSTER);
    cr_assert(strstr(err, "abababab") != NULL, "%s", err);
    o.cluster_id = fo.cluster_id;
    cr_assert_eq(ls_dev_open_mem(dev->size, ls_dev_mem_data(dev), dev->size, &d2), 0);
    cr_assert_eq(ls_open_dev(d2, &o, &ls, err, sizeof(err)), 0, "%s", err);
    ls_close(ls);
    /* bump the version in both superblocks */
    uint8_t *m = ls_dev_mem_data(dev);
    m[8] = 9;
    m[dev->size - 4096 + 8] = 9;
    cr_assert_eq(ls_dev_open_mem(dev->size, m, dev->size, &d2), 0);
    cr_assert_eq(ls_open_dev(d2, NULL, &ls, err, sizeof(err)), LS_EVERSION);
    cr_assert(strstr(err, "version 9") != NULL, "%s", err);
    cr_assert_eq(ls_dev_open_mem(32 * MB, NULL, 0, &d2), 0);
    cr_assert_eq(ls_open_dev(d2, NULL, &ls, err, sizeof(err)), LS_ENOTOURS);
    cr_assert(strstr(err, "cairn-disk format") != NULL, "%s", err);
    cr_assert_eq(ls_open("/nonexistent/disk", NULL, &ls, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "/nonexistent/disk") != NULL, "%s", err);
    cr_assert_eq(
        ls_format_dev(dev, &(struct ls_format_opts){.segment_bytes = 3 * MB}, err, sizeof(err)),
        -EEXIST);
    struct ls_dev *small;
    cr_assert_eq(ls_dev_open_mem(3 * MB, NULL, 0, &small), 0);
    cr_assert_eq(
        ls_format_dev(small, &(struct ls_format_opts){.segment_bytes = MB}, err, sizeof(err)),
        -ENOSPC);
    cr_assert(strstr(err, "too small") != NULL, "%s", err);
    cr_assert_eq(
        ls_format_dev(small, &(struct ls_format_opts){.segment_bytes = 3 * MB}, err, sizeof(err)),
        -EINVAL);
    small->close(small);
    dev->close(dev);
}

/* Proves: ls_strerror names project and errno codes. */
Test(logstore, strerror_names)
{
    cr_assert(strstr(ls_strerror(LS_ECLUSTER), "cluster") != NULL);
    cr_assert(strstr(ls_strerror(LS_ECORRUPT), "corrupt") != NULL);
    cr_assert(strstr(ls_strerror(-ENOSPC), "space") != NULL);
    cr_assert_str_eq(ls_strerror(0), "success");
}

/* Proves: a batch spanning several groups is applied in order and durably. */
Test(logstore, large_batch_many_groups)
{
    struct ls_dev *dev;
    struct ls *ls = mem_store(64 * MB, &dev, NULL);
    enum { N = 150 };
    static uint8_t data[N][8192];
    struct ls_write w[N + 1];
    for (int i = 0; i < N; i++) {
        fill(data[i], sizeof(data[i]), 1000 + i);
        w[i] = (struct ls_write){.type = LS_REC_BLOCK,
                                 .chunk = 77,
                                 .part = 3,
                                 .version = 2,
                                 .block = (uint32_t)i,
                                 .data = data[i],
                                 .len = 8192};
    }
    w[N] = (struct ls_write){.type = LS_REC_COMMIT,
                             .chunk = 77,
                             .part = 3,
                             .version = 2,
                             .size = (uint64_t)N * LS_BLOCK_MAX};
    cr_assert_eq(ls_writev(ls, w, N + 1), 0);
    for (int i = 0; i <= N; i++)
        cr_assert_eq(w[i].result, 0);
    struct ls *r = reopen_image(dev, NULL);
    for (int i = 0; i < N; i++)
        expect_block(r, 77, 3, 0, (uint32_t)i, 1000 + i, 8192);
    ls_close(r);
    ls_close(ls);
}

/* Proves: with O_DIRECT, aligned payloads (by reference) and unaligned ones (bounced) mix in one
 * group. */
Test(logstore, direct_mixed_alignment)
{
    char dir[] = "/tmp/lsdXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], err[256] = "";
    snprintf(path, sizeof(path), "%s/disk", dir);
    struct ls_format_opts fo = {.size = 24 * MB, .segment_bytes = MB};
    cr_assert_eq(ls_format(path, &fo, err, sizeof(err)), 0, "%s", err);
    struct ls_open_opts o = {.direct = 1};
    struct ls *ls;
    cr_assert_eq(ls_open(path, &o, &ls, err, sizeof(err)), 0, "%s", err);
    uint8_t *aligned = NULL;
    cr_assert_eq(posix_memalign((void **)&aligned, 4096, 3 * LS_BLOCK_MAX), 0);
    static uint8_t unaligned_store[LS_BLOCK_MAX + 8];
    uint8_t *unaligned = unaligned_store + 3;
    fill(aligned, LS_BLOCK_MAX, 1);
    fill(unaligned, 5000, 2);
    fill(aligned + LS_BLOCK_MAX, 8192, 3);
    fill(aligned + 2 * LS_BLOCK_MAX, 1000, 4); /* aligned address, unaligned length */
    struct ls_write w[] = {
        {.type = LS_REC_BLOCK,
         .chunk = 1,
         .version = 1,
         .block = 0,
         .data = aligned,
         .len = LS_BLOCK_MAX},
        {.type = LS_REC_BLOCK,
         .chunk = 1,
         .version = 1,
         .block = 1,
         .data = unaligned,
         .len = 5000},
        {.type = LS_REC_BLOCK,
         .chunk = 1,
         .version = 1,
         .block = 2,
         .data = aligned + LS_BLOCK_MAX,
         .len = 8192},
        {.type = LS_REC_BLOCK,
         .chunk = 1,
         .version = 1,
         .block = 3,
         .data = aligned + 2 * LS_BLOCK_MAX,
         .len = 1000},
        {.type = LS_REC_COMMIT, .chunk = 1, .version = 1, .size = 4 * LS_BLOCK_MAX},
    };
    cr_assert_eq(ls_writev(ls, w, 5), 0);
    cr_assert_eq(ls_close(ls), 0);
    cr_assert_eq(ls_open(path, &o, &ls, err, sizeof(err)), 0, "%s", err);
    expect_block(ls, 1, 0, 0, 0, 1, LS_BLOCK_MAX);
    expect_block(ls, 1, 0, 0, 1, 2, 5000);
    expect_block(ls, 1, 0, 0, 2, 3, 8192);
    expect_block(ls, 1, 0, 0, 3, 4, 1000);
    cr_assert_eq(ls_close(ls), 0);
    free(aligned);
    unlink(path);
    rmdir(dir);
}

/* Proves: an index that outgrows its checkpoint slot is refused with LS_EINDEXFULL, data intact. */
Test(logstore, index_full_is_a_clear_error)
{
    struct ls_dev *dev;
    struct ls *ls = mem_store(128 * MB, &dev, NULL);
    static uint8_t buf[4096];
    struct ls_write w[63];
    uint64_t chunk = 1;
    int rc = 0;
    while (rc == 0 && chunk < 100000) {
        for (int i = 0; i < 63; i++, chunk++) {
            fill(buf, 16, chunk); /* the first bytes differ per part; the rest is shared */
            w[i] = (struct ls_write){.type = LS_REC_BLOCK,
                                     .chunk = chunk,
                                     .version = 1,
                                     .data = buf,
                                     .len = sizeof(buf)};
        }
        rc = ls_writev(ls, w, 63);
    }
    cr_assert_eq(rc, LS_EINDEXFULL, "got %d (%s) after %llu parts", rc, ls_strerror(rc),
                 (unsigned long long)chunk);
    struct ls_stats st;
    ls_stats(ls, &st);
    cr_assert_leq(st.index_bytes, st.index_capacity);
    cr_assert_gt(st.free_segments, 2, "disk filled before the index: test proves nothing");
    /* deletes still work and make room in the index */
    cr_assert_eq(
        ls_writev(ls, (struct ls_write[]){{.type = LS_REC_DELETE, .chunk = 1, .version = 1}}, 1),
        0);
    cr_assert_eq(ls_append(ls, 1, 0, 1, 0, buf, 16), 0);
    cr_assert_eq(ls_checkpoint(ls), 0);
    struct ls *r = reopen_image(dev, NULL);
    ls_stats(r, &st);
    cr_assert_eq(st.nparts, 0, "uncommitted parts must be dropped at open");
    ls_close(r);
    ls_close(ls);
}
