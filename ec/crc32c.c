/*
 * crc32c.c - CRC32C for every checksum Cairn stores or sends.
 *
 * ISA-L's crc32_iscsi() is the base path (SSE4.2 crc32 instruction with
 * three-way interleaving, PCLMUL folding). It takes and returns the CRC
 * register without the final inversion, so we invert on the way in and out to
 * get the standard, chainable CRC32C.
 *
 * Without AVX-512 (this project's machines), both ISA-L's crc32 instruction
 * path and a pure carry-less-multiply fold top out near 8 bytes per cycle,
 * one on the integer pipes, the other on the vector pipes. crc_par() runs
 * both at once on different parts of a buffer of 2 KiB or more: a
 * VPCLMULQDQ fold (four 256-bit accumulators, 128 bytes per step) over the
 * first part and three crc32 instruction streams over the rest, then joins
 * the four CRCs by multiplying with x^(8n) mod P (PCLMUL + crc32 reduction,
 * as folly's crc32c_combine does). Fold constants are
 * bitreflect(x^(d+-32) mod P) << 1 for a distance d in bits (Intel's "Fast
 * CRC Computation Using PCLMULQDQ"). tests/ec/test_crc32c.c compares the
 * result with a bitwise reference on every length up to several steps.
 *
 * ec_crc32c_combine() is zlib's crc32_combine() for the Castagnoli
 * polynomial: CRC(A || B) = CRC(A) * x^(8 * len(B)) mod P  xor  CRC(B); the
 * pre/post inversions cancel. Powers x^(2^n) mod P are a constant table
 * (tests recompute it).
 */
#include "ec.h"

#include <isa-l/crc.h>
#include <string.h>

/* x2n[n] = x^(2^n) mod P, reflected (bit 31 is x^0). */
static const uint32_t x2n[32] = {
    0x40000000, 0x20000000, 0x08000000, 0x00800000, 0x00008000, 0x82f63b78, 0x6ea2d55c, 0x18b8ea18,
    0x510ac59a, 0xb82be955, 0xb8fdb1e7, 0x88e56f72, 0x74c360a4, 0xe4172b16, 0x0d65762a, 0x35d73a62,
    0x28461564, 0xbf455269, 0xe2ea32dc, 0xfe7740e6, 0xf946610b, 0x3c204f8f, 0x538586e3, 0x59726915,
    0x734d5309, 0xbc1ac763, 0x7d0722cc, 0xd289cabe, 0xe94ca9bc, 0x05b74f3f, 0xa51e1f42, 0x40000000,
};

#if defined(__x86_64__)
#include <immintrin.h>

#define PAR_MIN  2048                   /* shorter buffers: ISA-L alone */
#define PAR_SW   5                      /* u64 words per scalar stream per step */
#define PAR_STEP (128 + 3 * 8 * PAR_SW) /* bytes consumed per loop step */

/* {k(d+32), k(d-32)} for d = 128 * (i + 1) bits. */
static const uint64_t fold_k[8][2] = {
    {0xf20c0dfe, 0x14cd00bd6}, {0x1384aa63a, 0xba4fc28e}, {0x1c291d04, 0x1d82c63da},
    {0x740eef02, 0x9e4addf8},  {0x83a6eec, 0x39d3b296},   {0x1c1733996, 0x102f9b8a2},
    {0x2ad91c30, 0x14237f5e6}, {0x6992cea2, 0xd3b6092},
};

static int par_supported(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq") &&
           __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.2");
}

/* a * b mod P, reflected, with PCLMUL and the crc32 instruction. */
__attribute__((target("pclmul,sse4.2"))) static uint32_t mulmodp_hw(uint32_t a, uint32_t b)
{
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a), _mm_cvtsi32_si128((int)b), 0);
    uint64_t v = (uint64_t)_mm_cvtsi128_si64(_mm_slli_epi64(p, 1));
    return _mm_crc32_u32(0, (uint32_t)v) ^ (uint32_t)(v >> 32);
}

/* x^(8n) mod P, reflected. */
__attribute__((target("pclmul,sse4.2"))) static uint32_t xpow8n_hw(uint64_t n)
{
    uint32_t p = 1u << 31;
    for (unsigned k = 3; n != 0; n >>= 1, k++)
        if (n & 1)
            p = mulmodp_hw(x2n[k & 31], p);
    return p;
}

#define PAR_FOLD(x, d)                                                                             \
    x = _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),                    \
                                          _mm256_clmulepi64_epi128(x, k, 0x11)),                   \
                         d)

/* CRC register (no inversions) after `steps` * PAR_STEP bytes at p, from `raw`. */
__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) static uint32_t
crc_par(uint32_t raw, const uint8_t *p, size_t steps)
{
    const __m256i k = _mm256_set_epi64x((long long)fold_k[7][1], (long long)fold_k[7][0],
                                        (long long)fold_k[7][1], (long long)fold_k[7][0]);
    const size_t sl = (size_t)8 * PAR_SW * steps; /* bytes per scalar stream */
    const uint8_t *b0 = p + (size_t)128 * steps, *b1 = b0 + sl, *b2 = b1 + sl;
    uint64_t c0 = 0, c1 = 0, c2 = 0, r;
    __m256i x0 = _mm256_loadu_si256((const __m256i *)p);
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i x2 = _mm256_loadu_si256((const __m256i *)(p + 64));
    __m256i x3 = _mm256_loadu_si256((const __m256i *)(p + 96));
    __m128i lane[8], v;
    uint32_t s, acc;

    /* The initial register enters as XOR into the first four bytes. */
    x0 = _mm256_xor_si256(x0, _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, (int)raw));
    for (size_t i = 0; i < steps; i++) {
        if (i > 0) {
            const uint8_t *q = p + (size_t)128 * i;
            PAR_FOLD(x0, _mm256_loadu_si256((const __m256i *)q));
            PAR_FOLD(x1, _mm256_loadu_si256((const __m256i *)(q + 32)));
            PAR_FOLD(x2, _mm256_loadu_si256((const __m256i *)(q + 64)));
            PAR_FOLD(x3, _mm256_loadu_si256((const __m256i *)(q + 96)));
        }
        for (size_t j = 0; j < PAR_SW; j++) {
            uint64_t v0, v1, v2;
            size_t o = 8 * (PAR_SW * i + j);
            memcpy(&v0, b0 + o, 8);
            memcpy(&v1, b1 + o, 8);
            memcpy(&v2, b2 + o, 8);
            c0 = _mm_crc32_u64(c0, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
        }
    }
    /* Fold the eight 128-bit lanes onto the last, then reduce it with crc32. */
    lane[0] = _mm256_castsi256_si128(x0);
    lane[1] = _mm256_extracti128_si256(x0, 1);
    lane[2] = _mm256_castsi256_si128(x1);
    lane[3] = _mm256_extracti128_si256(x1, 1);
    lane[4] = _mm256_castsi256_si128(x2);
    lane[5] = _mm256_extracti128_si256(x2, 1);
    lane[6] = _mm256_castsi256_si128(x3);
    lane[7] = _mm256_extracti128_si256(x3, 1);
    v = lane[7];
    for (int i = 0; i < 7; i++) {
        const __m128i kk = _mm_set_epi64x((long long)fold_k[6 - i][1], (long long)fold_k[6 - i][0]);
        v = _mm_xor_si128(v, _mm_xor_si128(_mm_clmulepi64_si128(lane[i], kk, 0x00),
                                           _mm_clmulepi64_si128(lane[i], kk, 0x11)));
    }
    r = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(v));
    r = _mm_crc32_u64(r, (uint64_t)_mm_extract_epi64(v, 1));
    _mm256_zeroupper(); /* SSE code (ISA-L, gf-complete) may follow */
    /* Join: raw(A B0 B1 B2) = ((raw(A) * x^8sl + c0) * x^8sl + c1) * x^8sl + c2. */
    s = xpow8n_hw(sl);
    acc = mulmodp_hw((uint32_t)r, s) ^ (uint32_t)c0;
    acc = mulmodp_hw(acc, s) ^ (uint32_t)c1;
    return mulmodp_hw(acc, s) ^ (uint32_t)c2;
}
#endif

uint32_t ec_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
#if defined(__x86_64__)
    if (len >= PAR_MIN && par_supported()) {
        size_t steps = len / PAR_STEP;
        crc = ~crc_par(~crc, p, steps);
        p += steps * PAR_STEP;
        len -= steps * PAR_STEP;
    }
#endif
    /* crc32_iscsi takes an int length; feed huge buffers in slices. */
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        crc = ~crc32_iscsi((unsigned char *)p, (int)n, ~crc);
        p += n;
        len -= n;
    }
    return crc;
}

#define CRC32C_POLY 0x82F63B78u /* reflected, x^32 implied */

/* a * b mod P, both reflected. */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

uint32_t ec_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
    uint32_t p = 1u << 31; /* x^0 */
    unsigned k = 3;        /* len2 counts bytes: x^(8 * len2) = x^(len2 * 2^3) */
    for (; len2 != 0; len2 >>= 1, k++)
        if (len2 & 1)
            p = multmodp(x2n[k & 31], p);
    return multmodp(p, crc1) ^ crc2;
}
