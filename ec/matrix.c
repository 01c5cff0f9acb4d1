/*
 * matrix.c - the coding matrix that defines the EC format, and the decoding
 * matrices derived from it.
 *
 * The format matrix for (K, M) starts from jerasure's
 * cauchy_original_coding_matrix(K, M, 8), C[i][j] = 1 / (i XOR (M + j)) in
 * GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), the default
 * of gf-complete and the only field ISA-L implements, and scales it so that
 * row 0 and column 0 are all ones:
 *
 *     A[i][j] = C[i][j] * C[0][0] / (C[0][j] * C[i][0])
 *
 * Scaling rows and columns keeps every square submatrix nonsingular, so the
 * code stays MDS. The ones make parity 0 a plain XOR of the data (a single
 * lost data part is rebuilt with XOR only, the common degraded read) and
 * data part 0 a plain XOR into every parity; backends skip the multiply for
 * coefficients 1. docs/format.md documents this as a contract and the tests
 * check it against an independent computation. We do not use
 * cauchy_good_general_coding_matrix(): its per-row choice only helps
 * bit-matrix coding, which we do not use, and it is much harder to state.
 *
 * jerasure initialises its default fields lazily on first use, unprotected,
 * so ec_gf_init() runs that once under pthread_once before any jerasure call
 * (a process-wide but write-once state: rule-zero deviation from "no global
 * mutable state", imposed by jerasure).
 */
#include "ec_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jerasure.h>
#include <jerasure/cauchy.h>

static pthread_once_t gf_once = PTHREAD_ONCE_INIT;

static void gf_init_once(void)
{
    galois_init_default_field(8);
}

void ec_gf_init(void)
{
    pthread_once(&gf_once, gf_init_once);
}

uint8_t ec_gf_mul(uint8_t a, uint8_t b)
{
    return (uint8_t)galois_single_multiply(a, b, 8);
}

int ec_matrix_get(unsigned k, unsigned m, uint8_t *out)
{
    int *mat;
    if (k < EC_K_MIN || k > EC_K_MAX || m < EC_M_MIN || m > EC_M_MAX || k + m > EC_PARTS_MAX ||
        out == NULL)
        return -EINVAL;
    ec_gf_init();
    mat = cauchy_original_coding_matrix((int)k, (int)m, 8);
    if (mat == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < m; i++)
        for (unsigned j = 0; j < k; j++) {
            /* C[i][j] * C[0][0] / (C[0][j] * C[i][0]) */
            int num = galois_single_multiply(mat[i * k + j], mat[0], 8);
            int den = galois_single_multiply(mat[j], mat[i * k], 8);
            out[i * k + j] = (uint8_t)galois_single_divide(num, den, 8);
        }
    free(mat);
    return 0;
}

/*
 * Decoding matrix: `have` names exactly K available parts, `want` the parts
 * to produce (any, data or parity). With G the (K+M) x K generator [I; enc],
 * the data is D = inv(G[have]) x parts[have], so part t = G[t] x inv(G[have])
 * x parts[have]. Writes popcount(want) rows of K coefficients to out, in
 * ascending part order. Returns 0, -ENOMEM, or -EINVAL if G[have] is
 * singular (impossible for a Cauchy code: a bug).
 */
int ec_matrix_decode(unsigned k, unsigned m, const uint8_t *enc, uint64_t have, uint64_t want,
                     uint8_t *out)
{
    int *g = NULL, *inv = NULL;
    unsigned r = 0, n = k + m;
    int ret = -ENOMEM;

    ec_gf_init();
    g = malloc(sizeof(int) * k * k);
    inv = malloc(sizeof(int) * k * k);
    if (g == NULL || inv == NULL)
        goto out;
    for (unsigned p = 0; p < n; p++) {
        if (!(have >> p & 1))
            continue;
        for (unsigned j = 0; j < k; j++)
            g[r * k + j] = p < k ? (p == j) : enc[(p - k) * k + j];
        r++;
    }
    if (r != k || jerasure_invert_matrix(g, inv, (int)k, 8) != 0) {
        ret = -EINVAL;
        goto out;
    }
    r = 0;
    for (unsigned t = 0; t < n; t++) {
        if (!(want >> t & 1))
            continue;
        for (unsigned j = 0; j < k; j++) {
            uint8_t acc = 0;
            for (unsigned c = 0; c < k; c++) {
                uint8_t gt = t < k ? (t == c) : enc[(t - k) * k + c];
                acc ^= ec_gf_mul(gt, (uint8_t)inv[c * k + j]);
            }
            out[r * k + j] = acc;
        }
        r++;
    }
    ret = 0;
out:
    free(inv);
    free(g);
    return ret;
}
