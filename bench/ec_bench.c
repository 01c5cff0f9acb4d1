/*
 * ec_bench.c - throughput of the ec library against memcpy, on one core.
 *
 * Usage: ec_bench [--json]
 *
 * Working set per measurement: one row of K blocks of EC_BLOCK_SIZE (the unit
 * a client encodes), hot in cache, like the memcpy reference of the same K
 * blocks it is compared with. GB/s always counts data bytes (K blocks), for
 * decode too (M data parts lost, rebuilt from the other K-M data parts and
 * the M parity parts). Each figure is the median of RUNS timed runs of about
 * RUN_S seconds each; ratio_to_memcpy is the median of per-run ratios to a
 * memcpy run taken right before (see measure()). --json prints one JSON
 * array (built with jansson).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ec.h"

#define RUNS  9
#define RUN_S 0.02
#define B     EC_BLOCK_SIZE

struct meas {
    const char *op;
    const char *backend; /* NULL if not applicable */
    unsigned k, m;       /* 0 if not applicable */
    int chosen;
    double gbps, ratio;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef int (*op_fn)(void *arg);

/* GB/s of one timed run of about RUN_S seconds. */
static double run_once(op_fn fn, void *arg, size_t bytes)
{
    unsigned long n = 0;
    double t0 = now_s(), t;
    do {
        for (int j = 0; j < 16; j++)
            if (fn(arg) != 0) {
                fprintf(stderr, "ec_bench: operation failed\n");
                exit(1);
            }
        n += 16;
        t = now_s() - t0;
    } while (t < RUN_S);
    return (double)n * (double)bytes / t / 1e9;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return v[n / 2];
}

/*
 * Median GB/s of fn over RUNS runs, and the median of the per-run ratios to
 * a memcpy run of the same bytes taken right before it: on a shared machine
 * the pairs see the same load, so the ratio is far steadier than the
 * absolute figure.
 */
static double measure(op_fn fn, op_fn ref, void *arg, size_t bytes, double *ratio)
{
    double g[RUNS], r[RUNS];
    for (int w = 0; w < 20; w++) /* warm caches and tables */
        fn(arg), ref(arg);
    for (int i = 0; i < RUNS; i++) {
        double base = run_once(ref, arg, bytes);
        g[i] = run_once(fn, arg, bytes);
        r[i] = g[i] / base;
    }
    *ratio = median(r, RUNS);
    return median(g, RUNS);
}

struct args {
    struct ec_codec *c;
    unsigned k, m;
    uint8_t *src, *dst;
    void *parts[EC_PARTS_MAX];
    uint64_t want;
    volatile uint32_t sink;
};

static int do_memcpy(void *p)
{
    struct args *a = p;
    memcpy(a->dst, a->src, (size_t)a->k * B);
    __asm__ volatile("" ::: "memory"); /* keep the copy */
    return 0;
}

static int do_encode(void *p)
{
    struct args *a = p;
    return ec_codec_encode(a->c, (const void *const *)a->parts, NULL, a->parts + a->k, B);
}

static int do_decode(void *p)
{
    struct args *a = p;
    return ec_codec_decode(a->c, a->parts, NULL, a->want, B);
}

static int do_crc(void *p)
{
    struct args *a = p;
    uint32_t crc = 0;
    for (unsigned j = 0; j < a->k; j++)
        crc ^= ec_crc32c(0, a->src + (size_t)j * B, B);
    a->sink = crc;
    return 0;
}

int main(int argc, char **argv)
{
    static const unsigned geo[][2] = {{4, 2}, {8, 3}, {10, 4}};
    static const enum ec_backend backends[] = {EC_BACKEND_ISAL, EC_BACKEND_AVX2,
                                               EC_BACKEND_JERASURE};
    struct meas ms[64];
    size_t nm = 0;
    int json = 0, ret = 1;
    struct ec_ctx *ctx[3] = {NULL, NULL, NULL}, *autoctx = NULL;
    enum ec_backend chosen;
    char err[256];
    struct args a;

    if (argc == 2 && strcmp(argv[1], "--json") == 0)
        json = 1;
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--json]\n", argv[0]);
        return 2;
    }
    /* One core: stay where we started. */
    {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(sched_getcpu(), &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
    if (ec_ctx_create(&autoctx, EC_BACKEND_AUTO, err, sizeof(err)) < 0) {
        fprintf(stderr, "ec_bench: %s\n", err);
        return 1;
    }
    chosen = ec_ctx_backend(autoctx);
    for (int i = 0; i < 3; i++) {
        int r = ec_ctx_create(&ctx[i], backends[i], err, sizeof(err));
        if (r == -ENOTSUP) { /* e.g. avx2 on a CPU without it: skip that backend */
            fprintf(stderr, "ec_bench: skipping: %s\n", err);
            ctx[i] = NULL;
        } else if (r < 0) {
            fprintf(stderr, "ec_bench: %s\n", err);
            goto out;
        }
    }

    memset(&a, 0, sizeof(a));
    a.src = aligned_alloc(64, (size_t)EC_PARTS_MAX * B);
    a.dst = aligned_alloc(64, (size_t)EC_PARTS_MAX * B);
    if (a.src == NULL || a.dst == NULL) {
        fprintf(stderr, "ec_bench: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < (size_t)EC_PARTS_MAX * B; i++)
        a.src[i] = (uint8_t)(i * 2654435761u >> 13), a.dst[i] = 0;
    a.k = 8; /* memcpy reference for crc32c */

    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
        unsigned k = geo[g][0], m = geo[g][1];
        a.k = k;
        a.m = m;
        double one, mc = measure(do_memcpy, do_memcpy, &a, (size_t)k * B, &one);
        ms[nm++] = (struct meas){"memcpy", NULL, k, 0, 0, mc, 1.0};
        for (int bi = 0; bi < 3; bi++) {
            if (ctx[bi] == NULL)
                continue;
            if (ec_codec_get(ctx[bi], k, m, &a.c) < 0)
                goto out;
            for (unsigned p = 0; p < k + m; p++)
                a.parts[p] = a.src + (size_t)p * B;
            /* Parity must be real before decoding from it. */
            if (do_encode(&a) != 0)
                goto out;
            double re, enc = measure(do_encode, do_memcpy, &a, (size_t)k * B, &re);
            ms[nm++] = (struct meas){.op = "encode",
                                     .backend = ec_backend_name(backends[bi]),
                                     .k = k,
                                     .m = m,
                                     .chosen = backends[bi] == chosen,
                                     .gbps = enc,
                                     .ratio = re};
            /* Lose the first M data parts; rebuild them into dst. */
            a.want = (1ull << m) - 1;
            for (unsigned p = 0; p < m; p++)
                a.parts[p] = a.dst + (size_t)p * B;
            double rd, dec = measure(do_decode, do_memcpy, &a, (size_t)k * B, &rd);
            for (unsigned p = 0; p < m; p++)
                if (memcmp(a.dst + (size_t)p * B, a.src + (size_t)p * B, B) != 0) {
                    fprintf(stderr, "ec_bench: decode produced wrong bytes\n");
                    goto out;
                }
            ms[nm++] = (struct meas){.op = "decode",
                                     .backend = ec_backend_name(backends[bi]),
                                     .k = k,
                                     .m = m,
                                     .chosen = backends[bi] == chosen,
                                     .gbps = dec,
                                     .ratio = rd};
        }
    }
    a.k = 8;
    double rc, crc = measure(do_crc, do_memcpy, &a, (size_t)8 * B, &rc);
    ms[nm++] = (struct meas){"crc32c", NULL, 8, 0, 0, crc, rc};

    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < nm; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "op", json_string(ms[i].op));
            if (ms[i].backend != NULL) {
                json_object_set_new(o, "backend", json_string(ms[i].backend));
                json_object_set_new(o, "chosen", json_boolean(ms[i].chosen));
            }
            if (strcmp(ms[i].op, "crc32c") != 0)
                json_object_set_new(o, "k", json_integer(ms[i].k));
            if (ms[i].m != 0)
                json_object_set_new(o, "m", json_integer(ms[i].m));
            json_object_set_new(o, "block_bytes", json_integer(B));
            json_object_set_new(o, "gbps", json_real(ms[i].gbps));
            json_object_set_new(o, "ratio_to_memcpy", json_real(ms[i].ratio));
            json_array_append_new(arr, o);
        }
        if (json_dumpf(arr, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(4)) < 0) {
            json_decref(arr);
            goto out;
        }
        putchar('\n');
        json_decref(arr);
    } else {
        printf("ec_bench: one core, one row of K x %u KiB blocks hot in cache, median of %d "
               "runs; auto picks %s\n\n",
               B / 1024, RUNS, ec_backend_name(chosen));
        printf("%-8s %-9s %5s %9s %10s\n", "op", "backend", "K+M", "GB/s", "/memcpy");
        for (size_t i = 0; i < nm; i++) {
            char km[16] = "-";
            if (ms[i].m != 0)
                snprintf(km, sizeof(km), "%u+%u", ms[i].k, ms[i].m);
            else if (strcmp(ms[i].op, "memcpy") == 0)
                snprintf(km, sizeof(km), "%u blk", ms[i].k);
            printf("%-8s %-9s %5s %9.2f %10.2f%s\n", ms[i].op, ms[i].backend ? ms[i].backend : "-",
                   km, ms[i].gbps, ms[i].ratio, ms[i].chosen ? "  *" : "");
        }
        printf("\n* = backend picked by EC_BACKEND_AUTO\n");
    }
    ret = 0;
out:
    free(a.src);
    free(a.dst);
    for (int i = 0; i < 3; i++)
        ec_ctx_destroy(ctx[i]);
    ec_ctx_destroy(autoctx);
    return ret;
}
