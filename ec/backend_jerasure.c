/*
 * backend_jerasure.c - the reference backend: jerasure + gf-complete.
 *
 * Executes a coefficient matrix with gf-complete's region multiply (the
 * SSSE3 split-table method for w = 8), i.e. jerasure's matrix coding, which
 * is byte-compatible with ISA-L. jerasure's bit-matrix "schedules" are not
 * used: they lay bits out in packets and would define a different format.
 * We call galois_w08_region_multiply()/galois_region_xor() instead of
 * jerasure_matrix_dotprod() because the latter updates unprotected global
 * statistics counters (a data race between threads).
 *
 * The length is cut into slices so that an output slice stays in L1 while
 * all inputs are folded into it.
 */
#include "ec_int.h"

#include <string.h>

#include <jerasure.h>

#define JER_SLICE 8192

static int jer_prepare(struct ec_mat *mt)
{
    (void)mt;
    ec_gf_init();
    return 0;
}

static void jer_run(const struct ec_mat *mt, size_t len, const uint8_t *const in[],
                    uint8_t *const out[])
{
    for (size_t off = 0; off < len; off += JER_SLICE) {
        int n = (int)(len - off < JER_SLICE ? len - off : JER_SLICE);
        for (unsigned r = 0; r < mt->rows; r++) {
            const uint8_t *row = mt->coef + (size_t)r * mt->cols;
            char *dst = (char *)out[r] + off;
            int started = 0;
            for (unsigned c = 0; c < mt->cols; c++) {
                char *src = (char *)in[c] + off;
                if (row[c] == 0)
                    continue;
                if (!started && row[c] == 1)
                    memcpy(dst, src, (size_t)n);
                else if (row[c] == 1)
                    galois_region_xor(src, dst, n);
                else
                    galois_w08_region_multiply(src, row[c], n, dst, started);
                started = 1;
            }
            if (!started)
                memset(dst, 0, (size_t)n);
        }
    }
}

static void jer_madd(const struct ec_mat *mt, size_t len, const uint8_t *in, uint8_t *const out[])
{
    for (size_t off = 0; off < len; off += JER_SLICE) {
        int n = (int)(len - off < JER_SLICE ? len - off : JER_SLICE);
        for (unsigned r = 0; r < mt->rows; r++) {
            uint8_t c = mt->coef[r];
            if (c == 0)
                continue;
            if (c == 1)
                galois_region_xor((char *)in + off, (char *)out[r] + off, n);
            else
                galois_w08_region_multiply((char *)in + off, c, n, (char *)out[r] + off, 1);
        }
    }
}

const struct ec_backend_ops ec_backend_jerasure = {
    .id = EC_BACKEND_JERASURE,
    .prepare = jer_prepare,
    .run = jer_run,
    .madd = jer_madd,
};
