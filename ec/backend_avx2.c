/*
 * backend_avx2.c - a native AVX2 kernel for the same matrix.
 *
 * Why a third backend: on CPUs without AVX-512/GFNI (this project's CI
 * machines: AMD EPYC, AVX2 only) ISA-L's AVX2 dot products rebuild every
 * nibble table from 32 packed bytes with two vperm2i128 per coefficient and
 * 32 bytes, which saturates the shuffle ports next to the vpshufb's doing the
 * actual multiply. Here each coefficient's tables are stored pre-broadcast
 * (64 bytes: low-nibble table twice, high-nibble table twice), the loop
 * handles 64 bytes per step so each table load serves two vpshufb, and up to
 * four outputs accumulate in registers while every input is read once.
 *
 * Same arithmetic as the other backends (GF(2^8)/0x11d nibble tables built
 * from the format matrix), so parity is byte-identical; the tests run every
 * erasure pattern on all backends. Decoding several lost data parts uses
 * the XOR chain of ec_mat (parity 0 is the XOR of the data), which needs all
 * rows in one register group, hence at most 4 rows. Lengths are multiples of EC_KERNEL_ALIGN
 * (codec.c guarantees it); the code is compiled for AVX2 with a target
 * attribute and only selected when the CPU has AVX2.
 */
#include "ec_int.h"

#include <errno.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TBL 64 /* bytes of tables per coefficient */

int ec_avx2_supported(void)
{
    return __builtin_cpu_supports("avx2");
}

static int avx2_prepare(struct ec_mat *mt)
{
    /* Tables, then one "kind" byte per coefficient: 0 (skip), 1 (XOR), 2 (multiply). */
    size_t nt = (size_t)TBL * mt->rows * mt->cols;
    size_t sz = (nt + (size_t)mt->rows * mt->cols + 63) & ~(size_t)63;
    uint8_t *kind;
    mt->tables = aligned_alloc(64, sz);
    if (mt->tables == NULL)
        return -ENOMEM;
    kind = mt->tables + nt;
    /* Column-major: the tables of input c for outputs 0..rows-1 are adjacent. */
    for (unsigned c = 0; c < mt->cols; c++)
        for (unsigned r = 0; r < mt->rows; r++) {
            uint8_t a =
                (int)r == mt->chain ? mt->chain_coef[c] : mt->coef[(size_t)r * mt->cols + c];
            uint8_t *t = mt->tables + ((size_t)c * mt->rows + r) * TBL;
            kind[(size_t)c * mt->rows + r] = a == 0 ? 0 : a == 1 ? 1 : 2;
            for (unsigned n = 0; n < 16; n++) {
                t[n] = t[16 + n] = ec_gf_mul(a, (uint8_t)n);
                t[32 + n] = t[48 + n] = ec_gf_mul(a, (uint8_t)(n << 4));
            }
        }
    return 0;
}

/*
 * out[r0 .. r0+G) (^)= mt x in, 64 bytes per step. G is a compile-time
 * constant after inlining; the accumulators are named variables (not an
 * array) so that the compiler keeps all of them in registers at -O2.
 */
#define ACC_INIT(g, A0, A1)                                                                        \
    if (G > g) {                                                                                   \
        if (accumulate) {                                                                          \
            A0 = _mm256_loadu_si256((const __m256i *)(out[r0 + g] + x));                           \
            A1 = _mm256_loadu_si256((const __m256i *)(out[r0 + g] + x + 32));                      \
        } else {                                                                                   \
            A0 = _mm256_setzero_si256();                                                           \
            A1 = _mm256_setzero_si256();                                                           \
        }                                                                                          \
    }
#define ACC_STEP(g, A0, A1)                                                                        \
    if (G > g && kind[g] == 1) {                                                                   \
        A0 = _mm256_xor_si256(A0, d0);                                                             \
        A1 = _mm256_xor_si256(A1, d1);                                                             \
    } else if (G > g && kind[g] == 2) {                                                            \
        const __m256i tl = _mm256_load_si256((const __m256i *)(t + g * TBL));                      \
        const __m256i th = _mm256_load_si256((const __m256i *)(t + g * TBL + 32));                 \
        A0 = _mm256_xor_si256(                                                                     \
            A0, _mm256_xor_si256(_mm256_shuffle_epi8(tl, l0), _mm256_shuffle_epi8(th, h0)));       \
        A1 = _mm256_xor_si256(                                                                     \
            A1, _mm256_xor_si256(_mm256_shuffle_epi8(tl, l1), _mm256_shuffle_epi8(th, h1)));       \
    }
#define CHAIN_GATHER(g, A0, A1)                                                                    \
    if (G > g && (mt->chain_rows >> (r0 + g) & 1)) {                                               \
        f0 = _mm256_xor_si256(f0, A0);                                                             \
        f1 = _mm256_xor_si256(f1, A1);                                                             \
    }
#define CHAIN_APPLY(g, A0, A1)                                                                     \
    if (G > g && mt->chain == (int)(r0 + g)) {                                                     \
        A0 = _mm256_xor_si256(A0, f0);                                                             \
        A1 = _mm256_xor_si256(A1, f1);                                                             \
    }
#define ACC_STORE(g, A0, A1)                                                                       \
    if (G > g) {                                                                                   \
        _mm256_storeu_si256((__m256i *)(out[r0 + g] + x), A0);                                     \
        _mm256_storeu_si256((__m256i *)(out[r0 + g] + x + 32), A1);                                \
    }

static inline __attribute__((always_inline, target("avx2"))) void
group(const struct ec_mat *mt, size_t len, const uint8_t *const in[], uint8_t *const out[],
      unsigned r0, const unsigned G, const int accumulate)
{
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const unsigned rows = mt->rows, cols = mt->cols;
    const size_t kind_off = (size_t)TBL * rows * cols;
    for (size_t x = 0; x < len; x += 64) {
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
                a30 = a00, a31 = a00;
        ACC_INIT(0, a00, a01)
        ACC_INIT(1, a10, a11)
        ACC_INIT(2, a20, a21)
        ACC_INIT(3, a30, a31)
        for (unsigned c = 0; c < cols; c++) {
            const uint8_t *kind = mt->tables + kind_off + (size_t)c * rows + r0;
            const __m256i d0 = _mm256_loadu_si256((const __m256i *)(in[c] + x));
            const __m256i d1 = _mm256_loadu_si256((const __m256i *)(in[c] + x + 32));
            const __m256i l0 = _mm256_and_si256(d0, mask);
            const __m256i l1 = _mm256_and_si256(d1, mask);
            const __m256i h0 = _mm256_and_si256(_mm256_srli_epi64(d0, 4), mask);
            const __m256i h1 = _mm256_and_si256(_mm256_srli_epi64(d1, 4), mask);
            const uint8_t *t = mt->tables + ((size_t)c * rows + r0) * TBL;
            ACC_STEP(0, a00, a01)
            ACC_STEP(1, a10, a11)
            ACC_STEP(2, a20, a21)
            ACC_STEP(3, a30, a31)
        }
        if (mt->chain >= 0) {
            __m256i f0 = _mm256_setzero_si256(), f1 = f0;
            CHAIN_GATHER(0, a00, a01)
            CHAIN_GATHER(1, a10, a11)
            CHAIN_GATHER(2, a20, a21)
            CHAIN_GATHER(3, a30, a31)
            CHAIN_APPLY(0, a00, a01)
            CHAIN_APPLY(1, a10, a11)
            CHAIN_APPLY(2, a20, a21)
            CHAIN_APPLY(3, a30, a31)
        }
        ACC_STORE(0, a00, a01)
        ACC_STORE(1, a10, a11)
        ACC_STORE(2, a20, a21)
        ACC_STORE(3, a30, a31)
    }
}

static __attribute__((target("avx2"))) void apply_rows(const struct ec_mat *mt, size_t len,
                                                       const uint8_t *const in[],
                                                       uint8_t *const out[], int accumulate)
{
    /* Groups of at most 4 outputs (6 = 3 + 3, so no group of 2 is wasted). */
    for (unsigned r = 0; r < mt->rows;) {
        unsigned left = mt->rows - r, g = left == 6 ? 3 : left >= 4 ? 4 : left;
        switch (g) {
        case 4:
            accumulate ? group(mt, len, in, out, r, 4, 1) : group(mt, len, in, out, r, 4, 0);
            break;
        case 3:
            accumulate ? group(mt, len, in, out, r, 3, 1) : group(mt, len, in, out, r, 3, 0);
            break;
        case 2:
            accumulate ? group(mt, len, in, out, r, 2, 1) : group(mt, len, in, out, r, 2, 0);
            break;
        default:
            accumulate ? group(mt, len, in, out, r, 1, 1) : group(mt, len, in, out, r, 1, 0);
            break;
        }
        r += g;
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
