/*
 * backend_isal.c - the fast backend: Intel ISA-L executing the same matrix.
 *
 * ec_init_tables() expands each coefficient of the format matrix (taken from
 * jerasure, see matrix.c) into 32-byte nibble tables; ec_encode_data() runs
 * them with the widest SIMD the CPU has. Both libraries use GF(2^8) with
 * polynomial 0x11d, so the parity is byte-identical to the jerasure backend.
 *
 * Trap (measured on this machine type): after ISA-L's AVX2/AVX-512 code the
 * upper vector state stays dirty and legacy-SSE code (jerasure, gf-complete,
 * parts of libc) runs 2-4.5x slower until a vzeroupper. Every entry point
 * here therefore ends with one.
 */
#include "ec_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <isa-l/erasure_code.h>

#define ISAL_SLICE (1u << 30) /* ISA-L takes int lengths */

static inline void clear_upper(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx"))
        __asm__ volatile("vzeroupper" ::: "memory");
#endif
}

static int isal_prepare(struct ec_mat *mt)
{
    /* C11 aligned_alloc wants a size that is a multiple of the alignment. */
    size_t sz = ((size_t)32 * mt->rows * mt->cols + 63) & ~(size_t)63;
    mt->tables = aligned_alloc(64, sz);
    if (mt->tables == NULL)
        return -ENOMEM;
    ec_init_tables((int)mt->cols, (int)mt->rows, mt->coef, mt->tables);
    return 0;
}

static void isal_run(const struct ec_mat *mt, size_t len, const uint8_t *const in[],
                     uint8_t *const out[])
{
    uint8_t *src[EC_PARTS_MAX], *dst[EC_PARTS_MAX];
    for (size_t off = 0; off < len; off += ISAL_SLICE) {
        size_t n = len - off < ISAL_SLICE ? len - off : ISAL_SLICE;
        for (unsigned c = 0; c < mt->cols; c++)
            src[c] = (uint8_t *)in[c] + off;
        for (unsigned r = 0; r < mt->rows; r++)
            dst[r] = out[r] + off;
        ec_encode_data((int)n, (int)mt->cols, (int)mt->rows, mt->tables, src, dst);
    }
    clear_upper();
}

static void isal_madd(const struct ec_mat *mt, size_t len, const uint8_t *in, uint8_t *const out[])
{
    uint8_t *dst[EC_PARTS_MAX];
    for (size_t off = 0; off < len; off += ISAL_SLICE) {
        size_t n = len - off < ISAL_SLICE ? len - off : ISAL_SLICE;
        for (unsigned r = 0; r < mt->rows; r++)
            dst[r] = out[r] + off;
        ec_encode_data_update((int)n, 1, (int)mt->rows, 0, mt->tables, (uint8_t *)in + off, dst);
    }
    clear_upper();
}

const struct ec_backend_ops ec_backend_isal = {
    .id = EC_BACKEND_ISAL,
    .prepare = isal_prepare,
    .run = isal_run,
    .madd = isal_madd,
};
