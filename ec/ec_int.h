/*
 * ec_int.h - private declarations shared by the ec library's files.
 *
 * A coding step is always "out = C x in" for a small GF(2^8) matrix C
 * (rows x cols) applied bytewise to cols input buffers, producing rows
 * output buffers: encoding uses the format matrix (M x K), decoding a matrix
 * derived from it per erasure pattern. A backend only has to execute such a
 * matrix on aligned buffers whose length is a multiple of EC_KERNEL_ALIGN;
 * codec.c handles ragged lengths and zero padding around it.
 */
#ifndef CAIRN_EC_INT_H
#define CAIRN_EC_INT_H

#include "ec.h"

#include <pthread.h>
#include <stdint.h>

#define EC_KERNEL_ALIGN 64    /* scratch alignment and length granule */
#define EC_SCRATCH      16384 /* bytes per buffer in the ragged-tail path */
#define EC_DEC_BUCKETS  256   /* decode-matrix hash buckets per codec */
#define EC_DEC_MAX      4096  /* cached decode matrices per codec, beyond: uncached */

/* A coefficient matrix prepared for one backend. */
struct ec_mat {
    unsigned rows, cols;
    uint8_t *coef;   /* rows * cols, row-major */
    uint8_t *tables; /* backend-specific expansion (ISA-L: 32 * rows * cols), or NULL */
    /*
     * Optional shortcut for backends with .chain set (see dec_get() in
     * codec.c): row `chain` may instead be computed with the coefficients
     * chain_coef[] and then XORed with the final values of the rows in
     * chain_rows. -1 if unused; coef[] is always the full, correct matrix.
     */
    int chain;
    uint64_t chain_rows;
    uint8_t chain_coef[EC_PARTS_MAX];
};

struct ec_backend_ops {
    enum ec_backend id;
    int chain; /* honours ec_mat.chain */
    /* Build mt->tables from mt->coef. 0 or -ENOMEM. */
    int (*prepare)(struct ec_mat *mt);
    /* out[r] = sum_c coef[r][c] * in[c] over len bytes. */
    void (*run)(const struct ec_mat *mt, size_t len, const uint8_t *const in[],
                uint8_t *const out[]);
    /* out[r] ^= coef[r][0] * in over len bytes (mt is rows x 1). */
    void (*madd)(const struct ec_mat *mt, size_t len, const uint8_t *in, uint8_t *const out[]);
};

extern const struct ec_backend_ops ec_backend_jerasure;
extern const struct ec_backend_ops ec_backend_isal;
extern const struct ec_backend_ops ec_backend_avx2;
int ec_avx2_supported(void);

/* One cached decoding matrix: for the K parts in `have` (bit mask), the
 * rows that produce the parts in `want`. Immutable once published. */
struct ec_dec {
    struct ec_dec *next;
    uint64_t have, want;
    struct ec_mat mat;
};

struct ec_codec {
    unsigned k, m;
    const struct ec_backend_ops *ops;
    struct ec_mat enc;     /* M x K: the format matrix */
    struct ec_mat *col;    /* K matrices of M x 1: column j, for delta updates */
    pthread_rwlock_t lock; /* guards dec[] and ndec */
    struct ec_dec *dec[EC_DEC_BUCKETS];
    unsigned ndec;
};

/* matrix.c */
void ec_gf_init(void);
uint8_t ec_gf_mul(uint8_t a, uint8_t b);
int ec_matrix_decode(unsigned k, unsigned m, const uint8_t *enc, uint64_t have, uint64_t want,
                     uint8_t *out);

/* codec.c */
int ec_codec_create(struct ec_codec **out, unsigned k, unsigned m,
                    const struct ec_backend_ops *ops);
void ec_codec_destroy(struct ec_codec *c);
int ec_mat_init(struct ec_mat *mt, const struct ec_backend_ops *ops, unsigned rows, unsigned cols,
                const uint8_t *coef);
void ec_mat_release(struct ec_mat *mt);

/* layout.c */
void ec_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
