/*
 * codec.c - contexts, codecs and the coding entry points.
 *
 * Decisions a reader must know:
 *  - Every public coding call reduces to apply(): out = C x in over one
 *    length, where inputs and outputs may be shorter than that length (the
 *    partial last row). The bulk, up to the shortest buffer rounded down to
 *    EC_KERNEL_ALIGN, runs in place on the caller's buffers; only the ragged
 *    tail goes through zero-padded scratch. Byte x of an output depends only
 *    on byte x of the inputs, which is what makes this split exact.
 *  - Decoding matrices are cached per (available set, wanted set) under a
 *    rwlock; entries are immutable once published and live until the codec
 *    is destroyed, so readers use them without holding the lock. The cache
 *    stops growing at EC_DEC_MAX entries (patterns beyond are computed per
 *    call), which bounds memory for wide codes like ec=32+8.
 *  - The context picks the backend once; codecs are created lazily per
 *    (K, M) and published with release/acquire atomics.
 */
#include "ec_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ec_ctx {
    const struct ec_backend_ops *ops;
    pthread_mutex_t lock; /* serialises codec creation */
    struct ec_codec *codecs[EC_K_MAX + 1][EC_M_MAX + 1];
};

const char *ec_backend_name(enum ec_backend b)
{
    switch (b) {
    case EC_BACKEND_AUTO:
        return "auto";
    case EC_BACKEND_JERASURE:
        return "jerasure";
    case EC_BACKEND_ISAL:
        return "isal";
    case EC_BACKEND_AVX2:
        return "avx2";
    }
    return "?";
}

int ec_backend_parse(const char *name, enum ec_backend *out, char *err, size_t errlen)
{
    static const enum ec_backend all[] = {EC_BACKEND_AUTO, EC_BACKEND_JERASURE, EC_BACKEND_ISAL,
                                          EC_BACKEND_AVX2};
    for (size_t i = 0; name != NULL && out != NULL && i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, ec_backend_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    ec_seterr(err, errlen, "ec backend \"%.40s\": unknown (expected auto, jerasure, isal or avx2)",
              name ? name : "(null)");
    return -EINVAL;
}

/* ------------------------------------------------------------------------ */

int ec_mat_init_chain(struct ec_mat *mt, const struct ec_backend_ops *ops, unsigned rows,
                      unsigned cols, const uint8_t *coef, int chain, uint64_t chain_rows,
                      const uint8_t *chain_coef)
{
    mt->rows = rows;
    mt->cols = cols;
    mt->tables = NULL;
    mt->chain = chain;
    mt->chain_rows = chain_rows;
    memset(mt->chain_coef, 0, sizeof(mt->chain_coef));
    if (chain >= 0)
        memcpy(mt->chain_coef, chain_coef, cols);
    mt->coef = malloc((size_t)rows * cols);
    if (mt->coef == NULL)
        return -ENOMEM;
    memcpy(mt->coef, coef, (size_t)rows * cols);
    if (ops->prepare(mt) < 0) {
        free(mt->coef);
        mt->coef = NULL;
        return -ENOMEM;
    }
    return 0;
}

int ec_mat_init(struct ec_mat *mt, const struct ec_backend_ops *ops, unsigned rows, unsigned cols,
                const uint8_t *coef)
{
    return ec_mat_init_chain(mt, ops, rows, cols, coef, -1, 0, NULL);
}

void ec_mat_release(struct ec_mat *mt)
{
    free(mt->tables);
    free(mt->coef);
    mt->tables = NULL;
    mt->coef = NULL;
}

int ec_codec_create(struct ec_codec **out, unsigned k, unsigned m, const struct ec_backend_ops *ops)
{
    uint8_t coef[EC_K_MAX * EC_M_MAX], colc[EC_M_MAX];
    struct ec_codec *c;
    int ret;

    ret = ec_matrix_get(k, m, coef);
    if (ret < 0)
        return ret;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->k = k;
    c->m = m;
    c->ops = ops;
    if (pthread_rwlock_init(&c->lock, NULL) != 0) {
        free(c);
        return -ENOMEM;
    }
    ret = -ENOMEM;
    if (ec_mat_init(&c->enc, ops, m, k, coef) < 0)
        goto fail;
    c->col = calloc(k, sizeof(*c->col));
    if (c->col == NULL)
        goto fail;
    for (unsigned j = 0; j < k; j++) {
        for (unsigned i = 0; i < m; i++)
            colc[i] = coef[i * k + j];
        if (ec_mat_init(&c->col[j], ops, m, 1, colc) < 0)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    ec_codec_destroy(c);
    return ret;
}

void ec_codec_destroy(struct ec_codec *c)
{
    if (c == NULL)
        return;
    for (unsigned b = 0; b < EC_DEC_BUCKETS; b++) {
        struct ec_dec *d = c->dec[b], *next;
        for (; d != NULL; d = next) {
            next = d->next;
            ec_mat_release(&d->mat);
            free(d);
        }
    }
    if (c->col != NULL)
        for (unsigned j = 0; j < c->k; j++)
            ec_mat_release(&c->col[j]);
    free(c->col);
    ec_mat_release(&c->enc);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

/* ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Encode throughput of one backend on RS(8,3), one 64 KiB row, ~4 ms. */
static double probe(const struct ec_backend_ops *ops, uint8_t *buf)
{
    struct ec_codec *c;
    const uint8_t *in[8];
    uint8_t *outp[3];
    double t0, t, best = 0;
    if (ec_codec_create(&c, 8, 3, ops) < 0)
        return 0;
    for (unsigned j = 0; j < 8; j++)
        in[j] = buf + (size_t)j * EC_BLOCK_SIZE;
    for (unsigned i = 0; i < 3; i++)
        outp[i] = buf + (size_t)(8 + i) * EC_BLOCK_SIZE;
    for (int rep = 0; rep < 4; rep++) {
        unsigned n = 0;
        t0 = now_s();
        do {
            ops->run(&c->enc, EC_BLOCK_SIZE, in, outp);
            n++;
            t = now_s() - t0;
        } while (t < 0.001);
        if (n / t > best)
            best = n / t;
    }
    ec_codec_destroy(c);
    return best;
}

int ec_ctx_create(struct ec_ctx **out, enum ec_backend backend, char *err, size_t errlen)
{
    struct ec_ctx *ctx;
    if (out == NULL) {
        ec_seterr(err, errlen, "ec_ctx_create: NULL output pointer");
        return -EINVAL;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        ec_seterr(err, errlen, "ec: out of memory creating a context");
        return -ENOMEM;
    }
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        free(ctx);
        ec_seterr(err, errlen, "ec: cannot initialise a mutex");
        return -ENOMEM;
    }
    ec_gf_init();
    switch (backend) {
    case EC_BACKEND_JERASURE:
        ctx->ops = &ec_backend_jerasure;
        break;
    case EC_BACKEND_ISAL:
        ctx->ops = &ec_backend_isal;
        break;
    case EC_BACKEND_AVX2:
        if (!ec_avx2_supported()) {
            ec_ctx_destroy(ctx);
            ec_seterr(err, errlen, "ec backend avx2: this CPU has no AVX2 (use auto or isal)");
            return -ENOTSUP;
        }
        ctx->ops = &ec_backend_avx2;
        break;
    case EC_BACKEND_AUTO: {
        uint8_t *buf = aligned_alloc(64, (size_t)11 * EC_BLOCK_SIZE);
        if (buf == NULL) {
            ec_ctx_destroy(ctx);
            ec_seterr(err, errlen, "ec: out of memory probing backends");
            return -ENOMEM;
        }
        for (size_t i = 0; i < (size_t)11 * EC_BLOCK_SIZE; i++)
            buf[i] = (uint8_t)(i * 131 + (i >> 9));
        /* ISA-L first: ties go to it. */
        const struct ec_backend_ops *cand[] = {&ec_backend_isal, &ec_backend_avx2,
                                               &ec_backend_jerasure};
        double best = -1;
        for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
            double v;
            if (cand[i] == &ec_backend_avx2 && !ec_avx2_supported())
                continue;
            v = probe(cand[i], buf);
            if (v > best) {
                best = v;
                ctx->ops = cand[i];
            }
        }
        free(buf);
        break;
    }
    default:
        ec_ctx_destroy(ctx);
        ec_seterr(err, errlen, "ec: unknown backend %d (expected auto, jerasure, isal or avx2)",
                  (int)backend);
        return -EINVAL;
    }
    *out = ctx;
    return 0;
}

void ec_ctx_destroy(struct ec_ctx *ctx)
{
    if (ctx == NULL)
        return;
    for (unsigned k = 0; k <= EC_K_MAX; k++)
        for (unsigned m = 0; m <= EC_M_MAX; m++)
            ec_codec_destroy(ctx->codecs[k][m]);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

enum ec_backend ec_ctx_backend(const struct ec_ctx *ctx)
{
    return ctx->ops->id;
}

int ec_codec_get(struct ec_ctx *ctx, unsigned k, unsigned m, struct ec_codec **out)
{
    struct ec_codec *c;
    int ret = 0;
    if (ctx == NULL || out == NULL || k < EC_K_MIN || k > EC_K_MAX || m < EC_M_MIN ||
        m > EC_M_MAX || k + m > EC_PARTS_MAX)
        return -EINVAL;
    c = __atomic_load_n(&ctx->codecs[k][m], __ATOMIC_ACQUIRE);
    if (c == NULL) {
        pthread_mutex_lock(&ctx->lock);
        c = ctx->codecs[k][m];
        if (c == NULL) {
            ret = ec_codec_create(&c, k, m, ctx->ops);
            if (ret == 0)
                __atomic_store_n(&ctx->codecs[k][m], c, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&ctx->lock);
    }
    if (ret == 0)
        *out = c;
    return ret;
}

/* ------------------------------------------------------------------------ */

static int misaligned(const void *p)
{
    return ((uintptr_t)p & (EC_ALIGN - 1)) != 0;
}

/*
 * out[r] (out_len[r] bytes) = mt x in (in_len[c] bytes, zero-padded to len).
 * All lengths <= len; NULL length arrays mean "all len". Returns 0 or -ENOMEM.
 */
static int apply(const struct ec_codec *c, const struct ec_mat *mt, const uint8_t *const in[],
                 const size_t in_len[], uint8_t *const out[], const size_t out_len[], size_t len)
{
    const uint8_t *sin[EC_PARTS_MAX];
    uint8_t *sout[EC_PARTS_MAX], *scratch;
    size_t bulk = len;

    for (unsigned i = 0; in_len != NULL && i < mt->cols; i++)
        bulk = in_len[i] < bulk ? in_len[i] : bulk;
    for (unsigned i = 0; out_len != NULL && i < mt->rows; i++)
        bulk = out_len[i] < bulk ? out_len[i] : bulk;
    bulk &= ~(size_t)(EC_KERNEL_ALIGN - 1);
    if (bulk > 0)
        c->ops->run(mt, bulk, in, out);
    if (bulk == len)
        return 0;

    scratch = aligned_alloc(EC_KERNEL_ALIGN, (size_t)(mt->rows + mt->cols) * EC_SCRATCH);
    if (scratch == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < mt->cols; i++)
        sin[i] = scratch + (size_t)i * EC_SCRATCH;
    for (unsigned i = 0; i < mt->rows; i++)
        sout[i] = scratch + (size_t)(mt->cols + i) * EC_SCRATCH;
    for (size_t off = bulk; off < len; off += EC_SCRATCH) {
        size_t n = len - off < EC_SCRATCH ? len - off : EC_SCRATCH;
        size_t kn = (n + EC_KERNEL_ALIGN - 1) & ~(size_t)(EC_KERNEL_ALIGN - 1);
        for (unsigned i = 0; i < mt->cols; i++) {
            size_t have = in_len ? in_len[i] : len, cp = 0;
            if (have > off)
                cp = have - off < n ? have - off : n;
            if (cp > 0)
                memcpy((uint8_t *)sin[i], in[i] + off, cp);
            memset((uint8_t *)sin[i] + cp, 0, kn - cp);
        }
        c->ops->run(mt, kn, sin, sout);
        for (unsigned i = 0; i < mt->rows; i++) {
            size_t want = out_len ? out_len[i] : len;
            if (want > off)
                memcpy(out[i] + off, sout[i], want - off < n ? want - off : n);
        }
    }
    free(scratch);
    return 0;
}

int ec_codec_encode(struct ec_codec *c, const void *const data[], const size_t data_len[],
                    void *const parity[], size_t len)
{
    if (c == NULL || data == NULL || parity == NULL)
        return -EINVAL;
    for (unsigned j = 0; j < c->k; j++)
        if (data[j] == NULL || misaligned(data[j]) || (data_len && data_len[j] > len))
            return -EINVAL;
    for (unsigned i = 0; i < c->m; i++)
        if (parity[i] == NULL || misaligned(parity[i]))
            return -EINVAL;
    if (len == 0)
        return 0;
    return apply(c, &c->enc, (const uint8_t *const *)data, data_len, (uint8_t *const *)parity, NULL,
                 len);
}

int ec_codec_encode_rows(struct ec_codec *c, const void *data, size_t data_len,
                         void *const parity[])
{
    const uint8_t *in[EC_K_MAX];
    uint8_t *out[EC_M_MAX];
    size_t in_len[EC_K_MAX], rowb, nfull, tail;

    if (c == NULL || data == NULL || parity == NULL || misaligned(data))
        return -EINVAL;
    rowb = (size_t)c->k * EC_BLOCK_SIZE;
    for (unsigned i = 0; i < c->m; i++)
        if (parity[i] == NULL || misaligned(parity[i]))
            return -EINVAL;
    nfull = data_len / rowb;
    tail = data_len % rowb;
    for (size_t r = 0; r < nfull; r++) {
        for (unsigned j = 0; j < c->k; j++)
            in[j] = (const uint8_t *)data + r * rowb + (size_t)j * EC_BLOCK_SIZE;
        for (unsigned i = 0; i < c->m; i++)
            out[i] = (uint8_t *)parity[i] + r * EC_BLOCK_SIZE;
        c->ops->run(&c->enc, EC_BLOCK_SIZE, in, out);
    }
    if (tail == 0)
        return 0;
    for (unsigned j = 0; j < c->k; j++) {
        size_t b0 = (size_t)j * EC_BLOCK_SIZE;
        in[j] = (const uint8_t *)data + nfull * rowb + b0;
        in_len[j] = tail <= b0 ? 0 : (tail - b0 < EC_BLOCK_SIZE ? tail - b0 : EC_BLOCK_SIZE);
        if (in_len[j] == 0)
            in[j] = data; /* never read past in_len; any valid pointer */
    }
    for (unsigned i = 0; i < c->m; i++)
        out[i] = (uint8_t *)parity[i] + nfull * EC_BLOCK_SIZE;
    return apply(c, &c->enc, in, in_len, out, NULL, in_len[0]);
}

static unsigned bucket_of(uint64_t have, uint64_t want)
{
    uint64_t h = (have * 0x9E3779B97F4A7C15ull) ^ (want * 0xC2B2AE3D27D4EB4Full);
    return (unsigned)(h >> 56) % EC_DEC_BUCKETS;
}

/*
 * Prepare a decoding matrix. When two or more data parts are wanted, all
 * other data parts are inputs and parity 0 (all-ones row: the XOR of all
 * data) is an input, the lowest wanted
 * data part t0 = P0 ^ (present data) ^ (the other lost data parts): a
 * backend that supports it computes t0 with XORs only and folds in the
 * other outputs at the end, instead of a dense row of multiplies.
 */
static int dec_init(struct ec_codec *c, struct ec_mat *mt, uint64_t have, uint64_t want,
                    unsigned rows, const uint8_t *coef)
{
    const uint64_t dmask = (1ull << c->k) - 1;
    uint64_t wd = want & dmask, crows = 0;
    uint8_t ccoef[EC_PARTS_MAX];
    unsigned r = 0, i = 0;

    /* Needs every data part either present or wanted, and parity 0 present. */
    if (!c->ops->chain || rows > 4 || __builtin_popcountll(wd) < 2 || !(have >> c->k & 1) ||
        ((have | want) & dmask) != dmask)
        return ec_mat_init(mt, c->ops, rows, c->k, coef);
    /* Rows follow ascending part order, so t0 (lowest lost data part) is row 0. */
    for (unsigned p = 0; p < c->k + c->m; p++) {
        if (have >> p & 1)
            ccoef[i++] = p <= c->k; /* data parts and parity 0 */
        if (want >> p & 1) {
            if (p < c->k && r > 0)
                crows |= 1ull << r;
            r++;
        }
    }
    return ec_mat_init_chain(mt, c->ops, rows, c->k, coef, 0, crows, ccoef);
}

/* Find or build the decoding matrix for (have, want). *tmp is set when the
 * returned entry is not cached and must be freed by the caller. */
static int dec_get(struct ec_codec *c, uint64_t have, uint64_t want, struct ec_dec **out, int *tmp)
{
    unsigned b = bucket_of(have, want), rows = (unsigned)__builtin_popcountll(want);
    uint8_t coef[EC_M_MAX * EC_K_MAX];
    struct ec_dec *d;
    int ret;

    *tmp = 0;
    pthread_rwlock_rdlock(&c->lock);
    for (d = c->dec[b]; d != NULL; d = d->next)
        if (d->have == have && d->want == want)
            break;
    pthread_rwlock_unlock(&c->lock);
    if (d != NULL) {
        *out = d;
        return 0;
    }
    ret = ec_matrix_decode(c->k, c->m, c->enc.coef, have, want, coef);
    if (ret < 0)
        return ret;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->have = have;
    d->want = want;
    if (dec_init(c, &d->mat, have, want, rows, coef) < 0) {
        free(d);
        return -ENOMEM;
    }
    pthread_rwlock_wrlock(&c->lock);
    {
        struct ec_dec *e;
        for (e = c->dec[b]; e != NULL; e = e->next)
            if (e->have == have && e->want == want)
                break;
        if (e != NULL) { /* another thread won the race: use its entry */
            pthread_rwlock_unlock(&c->lock);
            ec_mat_release(&d->mat);
            free(d);
            *out = e;
            return 0;
        }
        if (c->ndec < EC_DEC_MAX) {
            d->next = c->dec[b];
            c->dec[b] = d;
            c->ndec++;
        } else {
            *tmp = 1;
        }
    }
    pthread_rwlock_unlock(&c->lock);
    *out = d;
    return 0;
}

int ec_codec_decode(struct ec_codec *c, void *const parts[], const size_t part_len[], uint64_t want,
                    size_t len)
{
    const unsigned n = c ? c->k + c->m : 0;
    const uint8_t *in[EC_K_MAX];
    uint8_t *out[EC_M_MAX];
    size_t in_len[EC_K_MAX], out_len[EC_M_MAX];
    uint64_t have = 0;
    unsigned nin = 0, nout = 0;
    struct ec_dec *d;
    int tmp, ret;

    if (c == NULL || parts == NULL || (want >> n) != 0)
        return -EINVAL;
    if (want == 0)
        return 0;
    if ((unsigned)__builtin_popcountll(want) > c->m)
        return -ERANGE;
    for (unsigned p = 0; p < n; p++) {
        if (part_len != NULL && part_len[p] > len)
            return -EINVAL;
        if (parts[p] != NULL && misaligned(parts[p]))
            return -EINVAL;
        if (want >> p & 1) {
            if (parts[p] == NULL)
                return -EINVAL;
            out[nout] = parts[p];
            out_len[nout++] = part_len ? part_len[p] : len;
        } else if (parts[p] != NULL && nin < c->k) {
            have |= 1ull << p;
            in[nin] = parts[p];
            in_len[nin++] = part_len ? part_len[p] : len;
        }
    }
    if (nin < c->k)
        return -ERANGE;
    if (len == 0)
        return 0;
    ret = dec_get(c, have, want, &d, &tmp);
    if (ret < 0)
        return ret;
    ret = apply(c, &d->mat, in, in_len, out, out_len, len);
    if (tmp) {
        ec_mat_release(&d->mat);
        free(d);
    }
    return ret;
}

int ec_codec_reconstruct(struct ec_codec *c, const void *const parts[], const size_t part_len[],
                         unsigned target, void *out, size_t len)
{
    void *p[EC_PARTS_MAX];
    if (c == NULL || parts == NULL || target >= c->k + c->m || out == NULL)
        return -EINVAL;
    for (unsigned i = 0; i < c->k + c->m; i++)
        p[i] = (void *)parts[i];
    p[target] = out;
    return ec_codec_decode(c, p, part_len, 1ull << target, len);
}

int ec_codec_update(struct ec_codec *c, unsigned part, const void *old_data, const void *new_data,
                    void *const parity[], size_t len)
{
    _Alignas(EC_KERNEL_ALIGN) uint8_t delta[EC_SCRATCH];
    const uint8_t *o = old_data, *nw = new_data;
    uint8_t *out[EC_M_MAX];

    if (c == NULL || part >= c->k || old_data == NULL || new_data == NULL || parity == NULL)
        return -EINVAL;
    for (unsigned i = 0; i < c->m; i++)
        if (parity[i] == NULL || misaligned(parity[i]))
            return -EINVAL;
    if (misaligned(old_data) || misaligned(new_data))
        return -EINVAL;
    for (size_t off = 0; off < len; off += EC_SCRATCH) {
        size_t n = len - off < EC_SCRATCH ? len - off : EC_SCRATCH;
        size_t bulk = n & ~(size_t)(EC_KERNEL_ALIGN - 1);
        for (size_t i = 0; i < n; i++)
            delta[i] = o[off + i] ^ nw[off + i];
        for (unsigned i = 0; i < c->m; i++)
            out[i] = (uint8_t *)parity[i] + off;
        if (bulk > 0)
            c->ops->madd(&c->col[part], bulk, delta, out);
        /* The last < 64 bytes: scalar, so no kernel touches bytes past len. */
        for (unsigned i = 0; i < c->m && bulk < n; i++)
            for (size_t x = bulk; x < n; x++)
                out[i][x] ^= ec_gf_mul(c->col[part].coef[i], delta[x]);
    }
    return 0;
}
