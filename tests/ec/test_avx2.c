/*
 * test_avx2.c - the AVX2 kernel's specialised paths against jerasure.
 *
 * backend_avx2.c splits every coding matrix into row groups of up to four
 * (at most one XOR-only row plus up to four multiply rows) and sorts the
 * columns into kinds (XOR into every row, XOR row only, XOR row plus
 * multiplies, multiplies only). This file drives every group shape and
 * column kind: encode for every K+M up to the format limits, decodes of
 * random erasure sets (one lost data part: XOR row alone; several: the
 * chain through parity 0; parity only: multiply rows alone) and delta
 * updates (the single-column path), on buffers that are 16 but not 32
 * bytes aligned, 64 KiB apart (the chunk layout, where the kernel
 * prefetches past the end of each buffer), and with ragged lengths.
 *
 * Randomised; failures print "seed=N", replay with CAIRN_TEST_SEED=N.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec.h"
#include "ec_test_util.h"

#define STRIDE (64 * 1024 + 16) /* 16-byte aligned only; 64 KiB + 16 apart */
#define MAXLEN (4096 + 100)

struct bufs {
    uint8_t *mem;
    uint8_t *p[EC_PARTS_MAX];
};

/* n buffers of up to MAXLEN bytes, each 16 bytes past a 64-byte boundary. */
static void bufs_make(struct bufs *b, unsigned n)
{
    b->mem = aligned_alloc(64, ((size_t)n * STRIDE + 127) & ~(size_t)63);
    cr_assert_not_null(b->mem);
    memset(b->mem, 0, (size_t)n * STRIDE + 64);
    for (unsigned i = 0; i < n; i++)
        b->p[i] = b->mem + 16 + (size_t)i * STRIDE;
}

static struct ec_ctx *ctx_or_skip(enum ec_backend be)
{
    struct ec_ctx *ctx;
    char err[128];
    int r = ec_ctx_create(&ctx, be, err, sizeof(err));
    if (r == -ENOTSUP)
        cr_skip_test("%s", err);
    cr_assert_eq(r, 0, "%s", err);
    return ctx;
}

/* A length: multiples of 64 (the kernel alone), ragged ones (scratch tail). */
static size_t pick_len(uint64_t *st, int it)
{
    static const size_t fixed[] = {64, 128, 192, 1, 63, 65, 4096, MAXLEN};
    if (it < (int)(sizeof(fixed) / sizeof(fixed[0])))
        return fixed[it];
    return (size_t)rnd_range(st, 1, MAXLEN);
}

static void check_km(struct ec_ctx *ca, struct ec_ctx *cj, unsigned k, unsigned m, uint64_t seed,
                     uint64_t *st, int iters)
{
    struct ec_codec *a, *j;
    struct bufs d, pj, out;
    cr_assert_eq(ec_codec_get(ca, k, m, &a), 0);
    cr_assert_eq(ec_codec_get(cj, k, m, &j), 0);
    bufs_make(&d, k + m);
    bufs_make(&pj, m);
    bufs_make(&out, m);
    for (int it = 0; it < iters; it++) {
        size_t len = pick_len(st, it);
        for (unsigned p = 0; p < k; p++)
            rnd_fill(st, d.p[p], len);
        /* Encode: avx2 writes the parity into d, jerasure into pj. */
        cr_assert_eq(
            ec_codec_encode(a, (const void *const *)d.p, NULL, (void *const *)(d.p + k), len), 0);
        cr_assert_eq(ec_codec_encode(j, (const void *const *)d.p, NULL, (void *const *)pj.p, len),
                     0);
        for (unsigned i = 0; i < m; i++)
            cr_assert_eq(memcmp(d.p[k + i], pj.p[i], len), 0,
                         "seed=%llu (%u,%u) len=%zu: avx2 parity %u != jerasure",
                         (unsigned long long)seed, k, m, len, i);
        /* Decode a random set of 1..M lost parts from the K lowest present. */
        uint64_t want = 0;
        unsigned nw = (unsigned)rnd_range(st, 1, m);
        if (it % 3 == 0 && m >= 2 && k >= 2) /* several data parts: the chain */
            want = (1ull << (nw < k ? nw : k)) - 1;
        while ((unsigned)__builtin_popcountll(want) < nw)
            want |= 1ull << (rnd(st) % (k + m));
        void *parts[EC_PARTS_MAX];
        unsigned o = 0;
        for (unsigned p = 0; p < k + m; p++) {
            parts[p] = d.p[p];
            if (want >> p & 1) {
                memset(out.p[o], 0xA5, len + 16);
                parts[p] = out.p[o++];
            }
        }
        cr_assert_eq(ec_codec_decode(a, parts, NULL, want, len), 0);
        o = 0;
        for (unsigned p = 0; p < k + m; p++) {
            if (!(want >> p & 1))
                continue;
            cr_assert_eq(memcmp(out.p[o], d.p[p], len), 0,
                         "seed=%llu (%u,%u) len=%zu want=%llx: part %u differs",
                         (unsigned long long)seed, k, m, len, (unsigned long long)want, p);
            cr_assert_eq(out.p[o][len], 0xA5, "seed=%llu: wrote past the end",
                         (unsigned long long)seed);
            o++;
        }
    }
    free(d.mem);
    free(pj.mem);
    free(out.mem);
}

/* Every K+M the format allows with K <= 12, and wide codes up to K+M = 40. */
Test(avx2, every_geometry_encodes_and_decodes_like_jerasure)
{
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ca = ctx_or_skip(EC_BACKEND_AVX2), *cj = ctx_or_skip(EC_BACKEND_JERASURE);
    for (unsigned k = EC_K_MIN; k <= 12; k++)
        for (unsigned m = EC_M_MIN; m <= EC_M_MAX; m++)
            check_km(ca, cj, k, m, seed, &st, 10);
    static const unsigned wide[][2] = {{16, 4}, {20, 5}, {24, 8}, {32, 8}};
    for (size_t g = 0; g < sizeof(wide) / sizeof(wide[0]); g++)
        check_km(ca, cj, wide[g][0], wide[g][1], seed, &st, 9);
    ec_ctx_destroy(ca);
    ec_ctx_destroy(cj);
}

/* Delta updates run the kernel with one input column, accumulating. */
Test(avx2, delta_update_equals_reencode)
{
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ca = ctx_or_skip(EC_BACKEND_AVX2);
    for (unsigned m = EC_M_MIN; m <= EC_M_MAX; m++) {
        unsigned k = (unsigned)rnd_range(&st, 2, 10);
        struct ec_codec *c;
        struct bufs d, re;
        cr_assert_eq(ec_codec_get(ca, k, m, &c), 0);
        bufs_make(&d, k + m);
        bufs_make(&re, m);
        for (int it = 0; it < 6; it++) {
            size_t len = pick_len(&st, it + 3), off = 16 * (size_t)rnd_range(&st, 0, 3), wl;
            unsigned p = (unsigned)(rnd(&st) % k);
            uint8_t *nw = aligned_alloc(64, (MAXLEN + 127) & ~(size_t)63);
            cr_assert_not_null(nw);
            if (len <= off)
                off = 0;
            wl = len - off;
            for (unsigned q = 0; q < k; q++)
                rnd_fill(&st, d.p[q], len);
            cr_assert_eq(
                ec_codec_encode(c, (const void *const *)d.p, NULL, (void *const *)(d.p + k), len),
                0);
            rnd_fill(&st, nw, wl);
            void *par[EC_M_MAX];
            for (unsigned i = 0; i < m; i++)
                par[i] = d.p[k + i] + off;
            cr_assert_eq(ec_codec_update(c, p, d.p[p] + off, nw, par, wl), 0);
            memcpy(d.p[p] + off, nw, wl);
            cr_assert_eq(
                ec_codec_encode(c, (const void *const *)d.p, NULL, (void *const *)re.p, len), 0);
            for (unsigned i = 0; i < m; i++)
                cr_assert_eq(memcmp(re.p[i], d.p[k + i], len), 0,
                             "seed=%llu (%u,%u) part %u off=%zu len=%zu: parity %u differs",
                             (unsigned long long)seed, k, m, p, off, wl, i);
            free(nw);
        }
        free(d.mem);
        free(re.mem);
    }
    ec_ctx_destroy(ca);
}
