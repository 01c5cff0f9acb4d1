/*
 * backend_avx2.c - a native AVX2 kernel for the same matrix.
 *
 * Why a third backend: on CPUs without AVX-512/GFNI (this project's CI
 * machines: AMD EPYC, AVX2 only) ISA-L's AVX2 dot products rebuild every
 * nibble table from 32 packed bytes with two vperm2i128 per coefficient and
 * 32 bytes, which saturates the shuffle ports next to the vpshufb's doing the
 * actual multiply. Here avx2_prepare() turns each matrix, once, into a plan
 * (struct plan below): rows in register groups, an XOR-only row per group
 * where there is one, columns sorted by kind, tables pre-broadcast (64
 * bytes: low-nibble table twice, high-nibble table twice). The kernel then
 * runs loops without per-coefficient branches, 64 bytes per step (each table load serves two
 * vpshufb), every input read once per group and every output written once.
 * For RS(8,3) that is 87 vector operations per 256 data bytes: 3 XORs for
 * column 0 (all ones), and for each of the 7 other inputs a nibble split
 * (shift, 2 ANDs), 1 XOR into parity 0 and 2 x (2 vpshufb + 2 XOR) -- the
 * floor for nibble-table multiplication without GFNI.
 *
 * Same arithmetic as the other backends (GF(2^8)/0x11d nibble tables built
 * from the format matrix), so parity is byte-identical; the tests run every
 * erasure pattern on all backends. Decoding several lost data parts uses
 * the XOR chain of ec_mat (parity 0 is the XOR of the data), which needs all
 * rows in one register group, hence at most 4 rows. Lengths are multiples
 * of EC_KERNEL_ALIGN (codec.c guarantees it); the code is compiled for AVX2 with a target
 * attribute and only selected when the CPU has AVX2.
 */
#include "ec_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TBL  64 /* bytes of tables per coefficient: low-nibble table twice, high twice */
#define GMAX 4  /* rows per register group */

int ec_avx2_supported(void)
{
    return __builtin_cpu_supports("avx2");
}

/*
 * The plan built by avx2_prepare() and stored at the start of mt->tables.
 * Rows are split into groups of at most GMAX that are computed in one pass
 * over the inputs with every accumulator in a register. Inside a group, at
 * most one "XOR row" (every coefficient 0 or 1: parity 0 of the format
 * matrix, the chain row of a decode matrix) is computed with XORs only; the
 * others are "multiply rows". Columns are sorted by what they need, so the
 * kernel's loops have no per-coefficient branches:
 *   A: every multiply row has coefficient 1 and so does the XOR row (if
 *      any): XOR the input into every accumulator (column 0 of the format
 *      matrix);
 *   D: multiply rows all 0, XOR row 1: XOR into the XOR row only;
 *   B: XOR row 1 and at least one multiply coefficient other than 1 (or no
 *      XOR row, see C);
 *   C: XOR row 0 (or absent) and some multiply coefficient other than 1.
 * Columns whose coefficients are all 0 are skipped. B and C columns carry
 * nm * TBL bytes of tables each (multiply coefficients 0 and 1 simply get
 * the zero and identity tables).
 */
struct grp {
    uint8_t nx, nm;            /* XOR rows (0 or 1), multiply rows */
    uint8_t xr, mr[GMAX];      /* their row numbers */
    uint8_t na, nd, nb, nc;    /* column counts per kind */
    uint8_t chain_fold;        /* bit i: multiply row i is XORed into the XOR row at the end */
    uint8_t col[EC_PARTS_MAX]; /* A, then D, then B, then C columns */
    uint32_t tbl;              /* byte offset of the B and C tables in mt->tables */
};

struct plan {
    unsigned ngrp;
    struct grp g[EC_M_MAX]; /* a matrix has at most M rows */
};

#define PLAN_BYTES ((sizeof(struct plan) + 63) & ~(size_t)63)

static uint8_t eff_coef(const struct ec_mat *mt, unsigned r, unsigned c)
{
    return (int)r == mt->chain ? mt->chain_coef[c] : mt->coef[(size_t)r * mt->cols + c];
}

static void put_tables(uint8_t *t, uint8_t a)
{
    for (unsigned n = 0; n < 16; n++) {
        t[n] = t[16 + n] = ec_gf_mul(a, (uint8_t)n);
        t[32 + n] = t[48 + n] = ec_gf_mul(a, (uint8_t)(n << 4));
    }
}

static int avx2_prepare(struct ec_mat *mt)
{
    const unsigned rows = mt->rows, cols = mt->cols;
    size_t sz = PLAN_BYTES + (size_t)TBL * rows * cols;
    struct plan *pl;
    uint32_t off = PLAN_BYTES;

    mt->tables = aligned_alloc(64, (sz + 63) & ~(size_t)63);
    if (mt->tables == NULL)
        return -ENOMEM;
    pl = (struct plan *)mt->tables;
    memset(pl, 0, sizeof(*pl));
    for (unsigned r0 = 0; r0 < rows;) {
        unsigned left = rows - r0, gsz = left == 6 ? 3 : left >= GMAX ? GMAX : left;
        struct grp *g = &pl->g[pl->ngrp++];
        int xr = -1;
        uint8_t *t;
        unsigned n = 0;

        /* The XOR row: the chain row if it is here, else the first 0/1 row. */
        for (unsigned r = r0; r < r0 + gsz && xr < 0; r++)
            if ((int)r == mt->chain)
                xr = (int)r;
        for (unsigned r = r0; r < r0 + gsz && xr < 0; r++) {
            unsigned c = 0;
            while (c < cols && eff_coef(mt, r, c) <= 1)
                c++;
            if (c == cols)
                xr = (int)r;
        }
        g->nx = xr >= 0;
        g->xr = xr >= 0 ? (uint8_t)xr : 0;
        for (unsigned r = r0; r < r0 + gsz; r++)
            if ((int)r != xr) {
                if (mt->chain >= 0 && (mt->chain_rows >> r & 1))
                    g->chain_fold |= (uint8_t)(1u << g->nm);
                g->mr[g->nm++] = (uint8_t)r;
            }
        /* Sort the columns by kind. */
        for (unsigned kind = 0; kind < 4; kind++) {
            for (unsigned c = 0; c < cols; c++) {
                unsigned x = g->nx ? eff_coef(mt, g->xr, c) : 1, ones = 1, zeros = 1, k;
                for (unsigned i = 0; i < g->nm; i++) {
                    uint8_t a = eff_coef(mt, g->mr[i], c);
                    ones &= a == 1;
                    zeros &= a == 0;
                }
                if (g->nm == 0)
                    k = x ? 1 : 4; /* XOR row only */
                else if (ones && x)
                    k = 0;
                else if (zeros)
                    k = g->nx && x ? 1 : 4;
                else
                    k = g->nx && x ? 2 : 3;
                if (k == kind)
                    g->col[n++] = (uint8_t)c;
            }
            if (kind == 0)
                g->na = (uint8_t)n;
            else if (kind == 1)
                g->nd = (uint8_t)(n - g->na);
            else if (kind == 2)
                g->nb = (uint8_t)(n - g->na - g->nd);
            else
                g->nc = (uint8_t)(n - g->na - g->nd - g->nb);
        }
        g->tbl = off;
        t = mt->tables + off;
        for (unsigned j = g->na + g->nd; j < n; j++)
            for (unsigned i = 0; i < g->nm; i++, t += TBL)
                put_tables(t, eff_coef(mt, g->mr[i], g->col[j]));
        off = (uint32_t)(t - mt->tables);
        r0 += gsz;
    }
    return 0;
}

/*
 * One group, 64 bytes per step. NX, NM and ACC (out ^= instead of out =)
 * are compile-time constants after inlining; accumulators are named
 * variables so that they stay in registers.
 */
/*
 * Parts are usually 64 KiB apart (chunk order), so the 64-byte lines of one
 * step all fall into the same L1 set: 8 inputs and 3 outputs of RS(8,3)
 * overflow its 8 ways, and lines the hardware prefetcher brings in far
 * ahead are evicted before use. Prefetching each input just two steps
 * ahead measured 1.1x faster than the hardware alone at 64 KiB spacing
 * (512 bytes ahead: no gain; non-temporal parity stores: 2x slower).
 */
#ifndef PF_DIST
#define PF_DIST 128
#endif
#define PF(p)     _mm_prefetch((const char *)(p) + PF_DIST, _MM_HINT_T0)
#define LD(p)     _mm256_loadu_si256((const __m256i *)(p))
#define ST(p, v)  _mm256_storeu_si256((__m256i *)(p), v)
#define X(a, b)   _mm256_xor_si256(a, b)
#define FOR_M(OP) OP(0, m00, m01) OP(1, m10, m11) OP(2, m20, m21) OP(3, m30, m31)
#define M_INIT(i, A0, A1)                                                                          \
    if (NM > i) {                                                                                  \
        A0 = ACC ? LD(o[i] + x) : _mm256_setzero_si256();                                          \
        A1 = ACC ? LD(o[i] + x + 32) : _mm256_setzero_si256();                                     \
    }
#define M_XOR(i, A0, A1)                                                                           \
    if (NM > i) {                                                                                  \
        A0 = X(A0, d0);                                                                            \
        A1 = X(A1, d1);                                                                            \
    }
#define M_MUL(i, A0, A1)                                                                           \
    if (NM > i) {                                                                                  \
        __m256i tl = _mm256_load_si256((const __m256i *)(t + i * TBL));                            \
        __m256i th = _mm256_load_si256((const __m256i *)(t + i * TBL + 32));                       \
        __asm__("" : "+x"(tl), "+x"(th)); /* one load each, not one per use */                     \
        A0 = X(A0, X(_mm256_shuffle_epi8(tl, l0), _mm256_shuffle_epi8(th, h0)));                   \
        A1 = X(A1, X(_mm256_shuffle_epi8(tl, l1), _mm256_shuffle_epi8(th, h1)));                   \
    }
#define M_FOLD(i, A0, A1)                                                                          \
    if (NM > i && (g->chain_fold >> i & 1)) {                                                      \
        x0 = X(x0, A0);                                                                            \
        x1 = X(x1, A1);                                                                            \
    }
#define M_STORE(i, A0, A1)                                                                         \
    if (NM > i) {                                                                                  \
        ST(o[i] + x, A0);                                                                          \
        ST(o[i] + x + 32, A1);                                                                     \
    }
#define SPLIT                                                                                      \
    const __m256i l0 = _mm256_and_si256(d0, mask), l1 = _mm256_and_si256(d1, mask);                \
    const __m256i h0 = _mm256_and_si256(_mm256_srli_epi64(d0, 4), mask);                           \
    const __m256i h1 = _mm256_and_si256(_mm256_srli_epi64(d1, 4), mask)

static inline __attribute__((always_inline, target("avx2"))) void
group(const struct grp *g, const uint8_t *tables, size_t len, const uint8_t *const in[],
      uint8_t *const out[], const int NX, const int NM, const int ACC)
{
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const uint8_t *ip[EC_PARTS_MAX];
    uint8_t *o[GMAX], *xo = out[g->xr];
    const unsigned na = g->na, nad = na + g->nd, nabd = nad + g->nb, n = nabd + g->nc;
    const uint8_t *const tb = tables + g->tbl;

    for (unsigned j = 0; j < n; j++)
        ip[j] = in[g->col[j]];
    for (int i = 0; i < NM; i++)
        o[i] = out[g->mr[i]];
    for (size_t x = 0; x < len; x += 64) {
        __m256i x0 = _mm256_setzero_si256(), x1 = x0, m00 = x0, m01 = x0, m10 = x0, m11 = x0,
                m20 = x0, m21 = x0, m30 = x0, m31 = x0;
        const uint8_t *t = tb;
        unsigned j = 0;
        if (NX && ACC) {
            x0 = LD(xo + x);
            x1 = LD(xo + x + 32);
        }
        FOR_M(M_INIT)
        for (; j < na; j++) {
            const __m256i d0 = LD(ip[j] + x), d1 = LD(ip[j] + x + 32);
            PF(ip[j] + x);
            if (NX) {
                x0 = X(x0, d0);
                x1 = X(x1, d1);
            }
            FOR_M(M_XOR)
        }
        for (; NX && j < nad; j++) {
            PF(ip[j] + x);
            x0 = X(x0, LD(ip[j] + x));
            x1 = X(x1, LD(ip[j] + x + 32));
        }
#pragma GCC unroll 2
        for (; NM && j < nabd; j++, t += NM * TBL) {
            const __m256i d0 = LD(ip[j] + x), d1 = LD(ip[j] + x + 32);
            PF(ip[j] + x);
            x0 = X(x0, d0);
            x1 = X(x1, d1);
            SPLIT;
            FOR_M(M_MUL)
        }
#pragma GCC unroll 2
        for (; NM && j < n; j++, t += NM * TBL) {
            const __m256i d0 = LD(ip[j] + x), d1 = LD(ip[j] + x + 32);
            PF(ip[j] + x);
            SPLIT;
            FOR_M(M_MUL)
        }
        if (NX) {
            FOR_M(M_FOLD)
            ST(xo + x, x0);
            ST(xo + x + 32, x1);
        }
        FOR_M(M_STORE)
    }
}

#define CASE(nx, nm)                                                                               \
    case nx * 8 + nm:                                                                              \
        if (accumulate)                                                                            \
            group(g, mt->tables, len, in, out, nx, nm, 1);                                         \
        else                                                                                       \
            group(g, mt->tables, len, in, out, nx, nm, 0);                                         \
        break;

static __attribute__((target("avx2"))) void apply_rows(const struct ec_mat *mt, size_t len,
                                                       const uint8_t *const in[],
                                                       uint8_t *const out[], int accumulate)
{
    const struct plan *pl = (const struct plan *)mt->tables;
    for (unsigned i = 0; i < pl->ngrp; i++) {
        const struct grp *g = &pl->g[i];
        switch (g->nx * 8 + g->nm) {
            CASE(1, 0)
            CASE(1, 1)
            CASE(1, 2)
            CASE(1, 3)
            CASE(0, 1)
            CASE(0, 2)
            CASE(0, 3)
            CASE(0, 4)
        default:
            break;
        }
    }
    _mm256_zeroupper();
}

static void avx2_run(const struct ec_mat *mt, size_t len, const uint8_t *const in[],
                     uint8_t *const out[])
{
    apply_rows(mt, len, in, out, 0);
}

static void avx2_madd(const struct ec_mat *mt, size_t len, const uint8_t *in, uint8_t *const out[])
{
    apply_rows(mt, len, &in, out, 1);
}

#else /* !__x86_64__ */

int ec_avx2_supported(void)
{
    return 0;
}

static int avx2_prepare(struct ec_mat *mt)
{
    (void)mt;
    return -ENOTSUP;
}

static void avx2_run(const struct ec_mat *mt, size_t len, const uint8_t *const in[],
                     uint8_t *const out[])
{
}

static void avx2_madd(const struct ec_mat *mt, size_t len, const uint8_t *in, uint8_t *const out[])
{
}

#endif

const struct ec_backend_ops ec_backend_avx2 = {
    .id = EC_BACKEND_AVX2,
    .chain = 1,
    .prepare = avx2_prepare,
    .run = avx2_run,
    .madd = avx2_madd,
};
