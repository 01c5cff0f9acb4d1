/*
 * test_rs.c - Reed-Solomon coding: the format matrix, every erasure pattern,
 * backend agreement, delta updates, concurrency and argument errors.
 *
 * Randomised tests print "seed=N" in every failure; replay with
 * CAIRN_TEST_SEED=N.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec.h"
#include "ec_test_util.h"

#define B      EC_BLOCK_SIZE
#define CANARY 0xA5
#define SLACK  64 /* canary bytes after every output */

/* ---- an independent GF(2^8), polynomial 0x11d, generator 2 ---- */

static uint8_t gexp[512], glog[256];

static void gf_ref_init(void)
{
    unsigned x = 1;
    for (unsigned i = 0; i < 255; i++) {
        gexp[i] = gexp[i + 255] = (uint8_t)x;
        glog[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11d;
    }
}

static uint8_t gmul(uint8_t a, uint8_t b)
{
    return a && b ? gexp[glog[a] + glog[b]] : 0;
}

static uint8_t ginv(uint8_t a)
{
    return gexp[255 - glog[a]];
}

/* The documented format matrix: Cauchy C[i][j] = 1 / (i XOR (M + j)),
 * scaled to A[i][j] = C[i][j] * C[0][0] / (C[0][j] * C[i][0]). */
static uint8_t cauchy(unsigned m, unsigned i, unsigned j)
{
    return ginv((uint8_t)(i ^ (m + j)));
}

static uint8_t ref_coef(unsigned k, unsigned m, unsigned i, unsigned j)
{
    (void)k;
    uint8_t num = gmul(cauchy(m, i, j), cauchy(m, 0, 0));
    uint8_t den = gmul(cauchy(m, 0, j), cauchy(m, i, 0));
    return gmul(num, ginv(den));
}

/* ---- helpers ---- */

static struct ec_ctx *ctx_of(enum ec_backend b)
{
    struct ec_ctx *ctx;
    char err[128];
    int r = ec_ctx_create(&ctx, b, err, sizeof(err));
    if (r == -ENOTSUP) /* e.g. avx2 on a CPU without it */
        cr_skip_test("%s", err);
    cr_assert_eq(r, 0, "%s", err);
    if (b != EC_BACKEND_AUTO)
        cr_assert_eq(ec_ctx_backend(ctx), b);
    return ctx;
}

static struct ec_codec *codec_of(struct ec_ctx *ctx, unsigned k, unsigned m)
{
    struct ec_codec *c;
    cr_assert_eq(ec_codec_get(ctx, k, m, &c), 0);
    return c;
}

static void *xalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    cr_assert_not_null(p);
    return p;
}

/* A chunk of random data, its parts (split by geometry) and parity. */
struct stripe {
    unsigned k, m, n;
    uint64_t len;
    uint8_t *data;                /* chunk-ordered */
    uint8_t *parts[EC_PARTS_MAX]; /* each with SLACK canary bytes after lens[p] */
    size_t lens[EC_PARTS_MAX];
    size_t plen; /* parity length = longest part */
};

static void stripe_make(struct stripe *s, struct ec_codec *c, unsigned k, unsigned m, uint64_t len,
                        uint64_t *st)
{
    struct ec_layout l = {.type = EC_LAYOUT_RS, .k = k, .m = m};
    uint32_t rows = ec_geom_rows(&l, len);
    memset(s, 0, sizeof(*s));
    s->k = k, s->m = m, s->n = k + m, s->len = len;
    s->data = xalloc(len + 1);
    rnd_fill(st, s->data, len);
    cr_assert_eq(ec_geom_part_lens(&l, len, 0, rows, s->lens), 0);
    s->plen = s->lens[k];
    for (unsigned p = 0; p < s->n; p++) {
        s->parts[p] = xalloc(s->plen + SLACK);
        memset(s->parts[p], CANARY, s->plen + SLACK);
    }
    for (uint64_t b = 0; b * B < len; b++) {
        uint64_t bl = len - b * B < B ? len - b * B : B;
        memcpy(s->parts[b % k] + (b / k) * B, s->data + b * B, bl);
    }
    void *par[EC_M_MAX];
    for (unsigned i = 0; i < m; i++)
        par[i] = s->parts[k + i];
    cr_assert_eq(ec_codec_encode_rows(c, s->data, len, par), 0);
}

static void stripe_free(struct stripe *s)
{
    for (unsigned p = 0; p < s->n; p++)
        free(s->parts[p]);
    free(s->data);
}

/* Naive parity of one byte column, from the reference matrix. */
static void ref_parity(const struct stripe *s, uint8_t **out)
{
    for (unsigned i = 0; i < s->m; i++)
        for (size_t x = 0; x < s->plen; x++) {
            uint8_t acc = 0;
            for (unsigned j = 0; j < s->k; j++)
                if (x < s->lens[j])
                    acc ^= gmul(ref_coef(s->k, s->m, i, j), s->parts[j][x]);
            out[i][x] = acc;
        }
}

/* ---- the format ---- */

Test(rs, format_matrix_is_documented_cauchy)
{
    /* The matrix equals the documented scaled Cauchy matrix over GF(2^8)/0x11d for
     * every (K, M), with row 0 and column 0 all ones. */
    uint8_t mat[EC_K_MAX * EC_M_MAX];
    gf_ref_init();
    for (unsigned k = EC_K_MIN; k <= EC_K_MAX; k++)
        for (unsigned m = EC_M_MIN; m <= EC_M_MAX && k + m <= EC_PARTS_MAX; m++) {
            cr_assert_eq(ec_matrix_get(k, m, mat), 0);
            for (unsigned i = 0; i < m; i++)
                for (unsigned j = 0; j < k; j++)
                    cr_assert_eq(mat[i * k + j], ref_coef(k, m, i, j), "(%u,%u) [%u][%u]: %u != %u",
                                 k, m, i, j, mat[i * k + j], ref_coef(k, m, i, j));
        }
    /* The test vectors printed in docs/format.md. */
    static const uint8_t v42[8] = {0x01, 0x01, 0x01, 0x01, 0x01, 0x46, 0xf5, 0x65};
    static const uint8_t v83[24] = {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
                                    0x01, 0xc4, 0x8f, 0xd2, 0x52, 0xe8, 0xc8, 0xee,
                                    0x01, 0x53, 0xd3, 0x8e, 0xc5, 0x62, 0xef, 0xc9};
    cr_assert_eq(ec_matrix_get(4, 2, mat), 0);
    cr_assert_eq(memcmp(mat, v42, sizeof(v42)), 0, "%02x %02x %02x %02x / %02x %02x %02x %02x",
                 mat[0], mat[1], mat[2], mat[3], mat[4], mat[5], mat[6], mat[7]);
    cr_assert_eq(ec_matrix_get(8, 3, mat), 0);
    cr_assert_eq(memcmp(mat, v83, sizeof(v83)), 0);
    cr_assert_eq(ec_matrix_get(1, 1, mat), -EINVAL);
    cr_assert_eq(ec_matrix_get(32, 9, mat), -EINVAL);
}

Test(rs, backends_agree_with_reference_and_each_other)
{
    /* All backends produce byte-identical parity, equal to a naive encoder. */
    uint64_t seed = test_seed(), st = seed;
    static const unsigned geo[][2] = {{2, 1}, {4, 2}, {6, 3}, {8, 3}, {10, 4}, {32, 8}, {20, 5}};
    struct ec_ctx *cj = ctx_of(EC_BACKEND_JERASURE), *ci = ctx_of(EC_BACKEND_ISAL), *ca = NULL;
    if (ec_ctx_create(&ca, EC_BACKEND_AVX2, NULL, 0) != 0) /* no AVX2: compare the other two */
        ca = NULL;
    gf_ref_init();
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
        unsigned k = geo[g][0], m = geo[g][1];
        for (int it = 0; it < 4; it++) {
            uint64_t len = rnd_range(&st, 1, it < 2 ? (uint64_t)k * B : 2ull * k * B);
            struct stripe sj, si, sa;
            uint64_t st2 = st, st3 = st;
            stripe_make(&sj, codec_of(cj, k, m), k, m, len, &st);
            stripe_make(&si, codec_of(ci, k, m), k, m, len, &st2);
            stripe_make(&sa, codec_of(ca ? ca : ci, k, m), k, m, len, &st3);
            uint8_t *ref[EC_M_MAX];
            for (unsigned i = 0; i < m; i++)
                ref[i] = xalloc(sj.plen);
            if (len <= 2ull * k * B && k <= 10)
                ref_parity(&sj, ref);
            for (unsigned i = 0; i < m; i++) {
                cr_assert_eq(memcmp(sj.parts[k + i], si.parts[k + i], sj.plen + SLACK), 0,
                             "seed=%llu (%u,%u) len=%llu parity %u: jerasure != isal",
                             (unsigned long long)seed, k, m, (unsigned long long)len, i);
                cr_assert_eq(memcmp(sj.parts[k + i], sa.parts[k + i], sj.plen + SLACK), 0,
                             "seed=%llu (%u,%u) len=%llu parity %u: jerasure != avx2",
                             (unsigned long long)seed, k, m, (unsigned long long)len, i);
                if (k <= 10)
                    cr_assert_eq(memcmp(sj.parts[k + i], ref[i], sj.plen), 0,
                                 "seed=%llu (%u,%u) len=%llu parity %u != reference",
                                 (unsigned long long)seed, k, m, (unsigned long long)len, i);
                free(ref[i]);
            }
            stripe_free(&sj);
            stripe_free(&si);
            stripe_free(&sa);
        }
    }
    ec_ctx_destroy(cj);
    ec_ctx_destroy(ci);
    ec_ctx_destroy(ca);
}

Test(rs, encode_parts_equals_encode_rows)
{
    /* Encoding part buffers with geometry lengths equals the chunk-order write path. */
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_AUTO);
    for (int it = 0; it < 20; it++) {
        unsigned k = (unsigned)rnd_range(&st, 2, 12), m = (unsigned)rnd_range(&st, 1, 4);
        struct ec_codec *c = codec_of(ctx, k, m);
        uint64_t len = rnd_range(&st, 0, 3ull * k * B);
        struct stripe s;
        stripe_make(&s, c, k, m, len, &st);
        void *par[EC_M_MAX];
        for (unsigned i = 0; i < m; i++)
            par[i] = xalloc(s.plen + 1);
        cr_assert_eq(ec_codec_encode(c, (const void *const *)s.parts, s.lens, par, s.plen), 0);
        for (unsigned i = 0; i < m; i++) {
            cr_assert_eq(memcmp(par[i], s.parts[k + i], s.plen), 0,
                         "seed=%llu (%u,%u) len=%llu parity %u", (unsigned long long)seed, k, m,
                         (unsigned long long)len, i);
            cr_assert_eq(s.parts[k + i][s.plen], CANARY, "seed=%llu: wrote past parity",
                         (unsigned long long)seed);
            free(par[i]);
        }
        stripe_free(&s);
    }
    ec_ctx_destroy(ctx);
}

/* ---- every erasure pattern ---- */

static void all_patterns(enum ec_backend be, unsigned k, unsigned m)
{
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ctx = ctx_of(be);
    struct ec_codec *c = codec_of(ctx, k, m);
    const unsigned n = k + m;
    uint8_t *outb[EC_PARTS_MAX];

    for (int ds = 0; ds < 2; ds++) {
        /* Dataset 0: one partial row; 1: more than one row, partial last row. */
        uint64_t len = ds == 0 ? rnd_range(&st, 1, (uint64_t)k * B - 1)
                               : rnd_range(&st, (uint64_t)k * B + 1, 2ull * k * B - 1);
        struct stripe s;
        stripe_make(&s, c, k, m, len, &st);
        for (unsigned p = 0; p < n; p++)
            outb[p] = xalloc(s.plen + SLACK);
        unsigned npat = 0;
        for (uint64_t want = 1; want < (1ull << n); want++) {
            unsigned nw = (unsigned)__builtin_popcountll(want);
            if (nw > m)
                continue;
            void *parts[EC_PARTS_MAX];
            unsigned navail = n - nw;
            for (unsigned p = 0; p < n; p++) {
                if (want >> p & 1) {
                    memset(outb[p], CANARY, s.plen + SLACK);
                    parts[p] = outb[p];
                } else {
                    parts[p] = s.parts[p];
                }
            }
            /* Half the time, leave exactly K (a random choice) present. */
            if (rnd(&st) & 1)
                while (navail > k) {
                    unsigned p = (unsigned)(rnd(&st) % n);
                    if (!(want >> p & 1) && parts[p] != NULL) {
                        parts[p] = NULL;
                        navail--;
                    }
                }
            int r = ec_codec_decode(c, parts, s.lens, want, s.plen);
            cr_assert_eq(r, 0, "seed=%llu %s (%u,%u) want=%llx: %d", (unsigned long long)seed,
                         ec_backend_name(be), k, m, (unsigned long long)want, r);
            for (unsigned p = 0; p < n; p++) {
                if (!(want >> p & 1))
                    continue;
                cr_assert_eq(memcmp(outb[p], s.parts[p], s.lens[p]), 0,
                             "seed=%llu %s (%u,%u) len=%llu want=%llx: part %u differs",
                             (unsigned long long)seed, ec_backend_name(be), k, m,
                             (unsigned long long)len, (unsigned long long)want, p);
                size_t x = s.lens[p];
                while (x < s.plen + SLACK && outb[p][x] == CANARY)
                    x++;
                cr_assert_eq(x, s.plen + SLACK,
                             "seed=%llu (%u,%u) want=%llx: part %u written at %zu, past %zu",
                             (unsigned long long)seed, k, m, (unsigned long long)want, p, x,
                             s.lens[p]);
            }
            npat++;
        }
        cr_assert_gt(npat, 0);
        for (unsigned p = 0; p < n; p++)
            free(outb[p]);
        stripe_free(&s);
    }
    ec_ctx_destroy(ctx);
}

/* Every erasure pattern of up to M parts decodes to the original bytes. */
Test(rs_patterns, isal_2_1)
{
    all_patterns(EC_BACKEND_ISAL, 2, 1);
}
Test(rs_patterns, isal_4_2)
{
    all_patterns(EC_BACKEND_ISAL, 4, 2);
}
Test(rs_patterns, isal_6_3)
{
    all_patterns(EC_BACKEND_ISAL, 6, 3);
}
Test(rs_patterns, isal_8_3)
{
    all_patterns(EC_BACKEND_ISAL, 8, 3);
}
Test(rs_patterns, isal_10_4)
{
    all_patterns(EC_BACKEND_ISAL, 10, 4);
}
Test(rs_patterns, avx2_2_1)
{
    all_patterns(EC_BACKEND_AVX2, 2, 1);
}
Test(rs_patterns, avx2_4_2)
{
    all_patterns(EC_BACKEND_AVX2, 4, 2);
}
Test(rs_patterns, avx2_6_3)
{
    all_patterns(EC_BACKEND_AVX2, 6, 3);
}
Test(rs_patterns, avx2_8_3)
{
    all_patterns(EC_BACKEND_AVX2, 8, 3);
}
Test(rs_patterns, avx2_10_4)
{
    all_patterns(EC_BACKEND_AVX2, 10, 4);
}
Test(rs_patterns, jerasure_2_1)
{
    all_patterns(EC_BACKEND_JERASURE, 2, 1);
}
Test(rs_patterns, jerasure_4_2)
{
    all_patterns(EC_BACKEND_JERASURE, 4, 2);
}
Test(rs_patterns, jerasure_6_3)
{
    all_patterns(EC_BACKEND_JERASURE, 6, 3);
}
Test(rs_patterns, jerasure_8_3)
{
    all_patterns(EC_BACKEND_JERASURE, 8, 3);
}
Test(rs_patterns, jerasure_10_4)
{
    all_patterns(EC_BACKEND_JERASURE, 10, 4);
}

/* ---- single-part rebuild and delta updates ---- */

Test(rs, reconstruct_one_part_from_random_k)
{
    /* ec_codec_reconstruct rebuilds each part from a random set of exactly K others. */
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_AUTO);
    for (int it = 0; it < 20; it++) {
        unsigned k = (unsigned)rnd_range(&st, 2, 16), m = (unsigned)rnd_range(&st, 1, 8);
        struct ec_codec *c = codec_of(ctx, k, m);
        struct stripe s;
        stripe_make(&s, c, k, m, rnd_range(&st, 1, 2ull * k * B), &st);
        uint8_t *out = xalloc(s.plen + SLACK);
        for (unsigned t = 0; t < s.n; t++) {
            const void *parts[EC_PARTS_MAX];
            unsigned navail = s.n - 1;
            for (unsigned p = 0; p < s.n; p++)
                parts[p] = p == t ? NULL : s.parts[p];
            while (navail > k) {
                unsigned p = (unsigned)(rnd(&st) % s.n);
                if (parts[p] != NULL) {
                    parts[p] = NULL;
                    navail--;
                }
            }
            memset(out, CANARY, s.plen + SLACK);
            cr_assert_eq(ec_codec_reconstruct(c, parts, s.lens, t, out, s.plen), 0);
            cr_assert_eq(memcmp(out, s.parts[t], s.lens[t]), 0,
                         "seed=%llu (%u,%u) len=%llu target %u", (unsigned long long)seed, k, m,
                         (unsigned long long)s.len, t);
            cr_assert_eq(out[s.lens[t]], CANARY, "seed=%llu", (unsigned long long)seed);
        }
        free(out);
        stripe_free(&s);
    }
    ec_ctx_destroy(ctx);
}

static void delta_test(enum ec_backend be)
{
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ctx = ctx_of(be);
    static const unsigned geo[][2] = {{2, 1}, {4, 2}, {6, 3}, {8, 3}, {10, 4}, {16, 8}};
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
        unsigned k = geo[g][0], m = geo[g][1];
        struct ec_codec *c = codec_of(ctx, k, m);
        for (int it = 0; it < 8; it++) {
            struct stripe s;
            stripe_make(&s, c, k, m, rnd_range(&st, 1, 2ull * k * B), &st);
            unsigned p = (unsigned)(rnd(&st) % k);
            if (s.lens[p] == 0)
                p = 0;
            /* A write of random length at a random 16-byte-aligned offset. */
            size_t off = (size_t)rnd_range(&st, 0, s.lens[p] - 1) & ~(size_t)15;
            size_t wl = (size_t)rnd_range(&st, 1, s.lens[p] - off);
            if (it == 0)
                off = 0, wl = s.lens[p]; /* the whole part */
            uint8_t *nw = xalloc(wl);
            rnd_fill(&st, nw, wl);
            void *par[EC_M_MAX];
            for (unsigned i = 0; i < m; i++)
                par[i] = s.parts[k + i] + off;
            cr_assert_eq(ec_codec_update(c, p, s.parts[p] + off, nw, par, wl), 0);
            memcpy(s.parts[p] + off, nw, wl);
            void *re[EC_M_MAX];
            for (unsigned i = 0; i < m; i++)
                re[i] = xalloc(s.plen);
            cr_assert_eq(ec_codec_encode(c, (const void *const *)s.parts, s.lens, re, s.plen), 0);
            for (unsigned i = 0; i < m; i++) {
                cr_assert_eq(memcmp(re[i], s.parts[k + i], s.plen), 0,
                             "seed=%llu %s (%u,%u) part %u off=%zu len=%zu: parity %u differs",
                             (unsigned long long)seed, ec_backend_name(be), k, m, p, off, wl, i);
                cr_assert_eq(s.parts[k + i][s.plen], CANARY, "seed=%llu", (unsigned long long)seed);
                free(re[i]);
            }
            free(nw);
            stripe_free(&s);
        }
    }
    ec_ctx_destroy(ctx);
}

/* A delta update gives the same parity as re-encoding the row. */
Test(rs, delta_equals_reencode_isal)
{
    delta_test(EC_BACKEND_ISAL);
}
Test(rs, delta_equals_reencode_jerasure)
{
    delta_test(EC_BACKEND_JERASURE);
}

/* ---- concurrency and the decode cache ---- */

struct thr_arg {
    struct ec_codec *c;
    struct stripe *s;
    uint64_t seed;
    int fails;
};

static void *thr_main(void *p)
{
    struct thr_arg *a = p;
    uint64_t st = a->seed;
    struct stripe *s = a->s;
    uint8_t *out[EC_PARTS_MAX];
    for (unsigned q = 0; q < s->n; q++)
        out[q] = aligned_alloc(64, (s->plen + 63) & ~(size_t)63);
    for (int it = 0; it < 300; it++) {
        uint64_t want = 0;
        unsigned nw = (unsigned)rnd_range(&st, 1, s->m);
        while ((unsigned)__builtin_popcountll(want) < nw)
            want |= 1ull << (rnd(&st) % s->n);
        void *parts[EC_PARTS_MAX];
        for (unsigned q = 0; q < s->n; q++)
            parts[q] = want >> q & 1 ? out[q] : s->parts[q];
        if (ec_codec_decode(a->c, parts, s->lens, want, s->plen) != 0)
            a->fails++;
        for (unsigned q = 0; q < s->n; q++)
            if ((want >> q & 1) && memcmp(out[q], s->parts[q], s->lens[q]) != 0)
                a->fails++;
    }
    for (unsigned q = 0; q < s->n; q++)
        free(out[q]);
    return NULL;
}

Test(rs, concurrent_decodes_share_the_cache)
{
    /* Threads decoding random patterns on one codec all get correct bytes. */
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_AUTO);
    struct ec_codec *c = codec_of(ctx, 6, 3);
    struct stripe s;
    stripe_make(&s, c, 6, 3, rnd_range(&st, 1, 6 * 4096), &st);
    pthread_t th[4];
    struct thr_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thr_arg){.c = c, .s = &s, .seed = seed + (uint64_t)i};
        cr_assert_eq(pthread_create(&th[i], NULL, thr_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(a[i].fails, 0, "seed=%llu thread %d: %d failures", (unsigned long long)seed, i,
                     a[i].fails);
    }
    /* Codecs are cached per (K, M). */
    struct ec_codec *c2 = codec_of(ctx, 6, 3);
    cr_assert_eq(c, c2);
    stripe_free(&s);
    ec_ctx_destroy(ctx);
}

struct get_arg {
    struct ec_ctx *ctx;
    struct ec_codec *got[EC_K_MAX + 1][EC_M_MAX + 1];
};

static void *get_main(void *p)
{
    struct get_arg *a = p;
    for (unsigned k = EC_K_MIN; k <= 12; k++)
        for (unsigned m = EC_M_MIN; m <= 4; m++)
            if (ec_codec_get(a->ctx, k, m, &a->got[k][m]) != 0)
                a->got[k][m] = NULL;
    return NULL;
}

Test(rs, concurrent_codec_creation_yields_one_codec)
{
    /* Threads racing to create the same (K, M) codecs all get the same pointer. */
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_AUTO);
    pthread_t th[4];
    static struct get_arg a[4];
    for (int i = 0; i < 4; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        a[i].ctx = ctx;
        cr_assert_eq(pthread_create(&th[i], NULL, get_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (unsigned k = EC_K_MIN; k <= 12; k++)
        for (unsigned m = EC_M_MIN; m <= 4; m++) {
            cr_assert_not_null(a[0].got[k][m]);
            for (int i = 1; i < 4; i++)
                cr_assert_eq(a[i].got[k][m], a[0].got[k][m], "(%u,%u) thread %d", k, m, i);
        }
    ec_ctx_destroy(ctx);
}

Test(rs, decode_beyond_cache_capacity)
{
    /* More distinct erasure patterns than the cache holds still decode correctly. */
    uint64_t seed = test_seed(), st = seed;
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_AUTO);
    struct ec_codec *c = codec_of(ctx, 20, 8);
    struct stripe s;
    stripe_make(&s, c, 20, 8, 20 * 256, &st);
    uint8_t *out[EC_PARTS_MAX];
    for (unsigned q = 0; q < s.n; q++)
        out[q] = xalloc(s.plen);
    for (int it = 0; it < 4300; it++) { /* > EC_DEC_MAX (4096) distinct patterns */
        uint64_t want = 0;
        while (__builtin_popcountll(want) < 8)
            want |= 1ull << (rnd(&st) % s.n);
        void *parts[EC_PARTS_MAX];
        for (unsigned q = 0; q < s.n; q++)
            parts[q] = want >> q & 1 ? out[q] : s.parts[q];
        cr_assert_eq(ec_codec_decode(c, parts, s.lens, want, s.plen), 0);
        for (unsigned q = 0; q < s.n; q++)
            if (want >> q & 1)
                cr_assert_eq(memcmp(out[q], s.parts[q], s.lens[q]), 0,
                             "seed=%llu want=%llx part %u", (unsigned long long)seed,
                             (unsigned long long)want, q);
    }
    for (unsigned q = 0; q < s.n; q++)
        free(out[q]);
    stripe_free(&s);
    ec_ctx_destroy(ctx);
}

/* ---- errors ---- */

Test(rs, impossible_requests_are_errors)
{
    /* Too many erasures, too few parts, misalignment and bad geometry are refused. */
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_AUTO);
    struct ec_codec *c = codec_of(ctx, 4, 2), *bad;
    uint8_t *buf[6];
    void *parts[6];
    char err[128];
    for (int i = 0; i < 6; i++)
        parts[i] = buf[i] = xalloc(4096);
    cr_assert_eq(ec_codec_decode(c, parts, NULL, 0x7, 4096), -ERANGE); /* 3 > M */
    parts[2] = NULL;
    parts[3] = NULL;
    cr_assert_eq(ec_codec_decode(c, parts, NULL, 0x3, 4096), -ERANGE); /* 2 present < K */
    parts[2] = buf[2];
    parts[3] = buf[3];
    cr_assert_eq(ec_codec_decode(c, parts, NULL, 1ull << 6, 4096), -EINVAL); /* no part 6 */
    cr_assert_eq(ec_codec_decode(c, parts, NULL, 0, 4096), 0);
    parts[1] = buf[1] + 1;
    cr_assert_eq(ec_codec_decode(c, parts, NULL, 0x1, 4096), -EINVAL); /* misaligned */
    cr_assert_eq(ec_codec_encode(c, (const void *const *)parts, NULL, parts + 4, 4096), -EINVAL);
    cr_assert_eq(ec_codec_update(c, 0, buf[0], buf[1] + 8, parts + 4, 64), -EINVAL);
    cr_assert_eq(ec_codec_update(c, 4, buf[0], buf[1], parts + 4, 64), -EINVAL);
    cr_assert_eq(ec_codec_encode_rows(c, buf[0] + 4, 100, parts + 4), -EINVAL);
    cr_assert_eq(ec_codec_get(ctx, 1, 1, &bad), -EINVAL);
    cr_assert_eq(ec_codec_get(ctx, 33, 1, &bad), -EINVAL);
    cr_assert_eq(ec_codec_get(ctx, 4, 9, &bad), -EINVAL);
    cr_assert_eq(ec_codec_get(ctx, 32, 8, &bad), 0);
    for (int i = 0; i < 6; i++)
        free(buf[i]);
    ec_ctx_destroy(ctx);

    enum ec_backend b;
    cr_assert_eq(ec_backend_parse("avx2", &b, err, sizeof(err)), 0);
    cr_assert_eq(b, EC_BACKEND_AVX2);
    cr_assert_eq(ec_backend_parse("isal", &b, err, sizeof(err)), 0);
    cr_assert_eq(b, EC_BACKEND_ISAL);
    cr_assert_eq(ec_backend_parse("fast", &b, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "unknown") != NULL, "%s", err);
    cr_assert_eq(ec_ctx_create(&ctx, (enum ec_backend)7, err, sizeof(err)), -EINVAL);
}

Test(rs, auto_picks_a_real_backend)
{
    /* AUTO resolves to a concrete backend. */
    struct ec_ctx *ctx = ctx_of(EC_BACKEND_ISAL);
    ec_ctx_destroy(ctx);
    char err[64];
    cr_assert_eq(ec_ctx_create(&ctx, EC_BACKEND_AUTO, err, sizeof(err)), 0);
    cr_assert_neq(ec_ctx_backend(ctx), EC_BACKEND_AUTO);
    ec_ctx_destroy(ctx);
}
