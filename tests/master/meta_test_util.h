/*
 * meta_test_util.h - shared helpers of the master metadata suites: a fresh
 * database in a mkdtemp directory (removed at the end), one-operation turns,
 * and the seed of randomised tests (printed; CAIRN_TEST_SEED sets it).
 */
#ifndef CAIRN_META_TEST_UTIL_H
#define CAIRN_META_TEST_UTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"

struct mt {
    char dir[64];
    struct meta *m;
};

static inline void mt_open(struct mt *t, int no_sync)
{
    struct meta_options o = {.create = 1, .no_sync = no_sync, .cache_bytes = 8u << 20};
    char err[256];
    int rc = meta_open(t->dir, &o, &t->m, err, sizeof(err));
    cr_assert_eq(rc, 0, "meta_open %s: %s (%s)", t->dir, meta_strerror(rc), err);
}

static inline void mt_init(struct mt *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/cairn-meta-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    mt_open(t, 1);
}

static int mt_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void mt_fini(struct mt *t)
{
    meta_close(t->m);
    t->m = NULL;
    nftw(t->dir, mt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void mt_reopen(struct mt *t)
{
    meta_close(t->m);
    t->m = NULL;
    mt_open(t, 1);
}

/* Runs one expression as a whole turn; evaluates to the expression's result. */
#define TURN(m, expr)                                                                              \
    ({                                                                                             \
        cr_assert_eq(meta_txn_begin(m), 0);                                                        \
        int _rc = (expr);                                                                          \
        int _crc = meta_txn_commit(m);                                                             \
        cr_assert_eq(_crc, 0, "commit: %s", meta_strerror(_crc));                                  \
        _rc;                                                                                       \
    })

#define ASSERT_RC(expr, want)                                                                      \
    do {                                                                                           \
        int _got = (expr);                                                                         \
        cr_assert_eq(_got, (want), "%s: got %d (%s), want %d (%s)", #expr, _got,                   \
                     meta_strerror(_got), (int)(want), meta_strerror(want));                       \
    } while (0)

static inline void mt_check(struct meta *m)
{
    char err[512];
    int rc = meta_check(m, NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "meta_check: %s", err);
}

static inline uint64_t mt_seed(void)
{
    const char *s = getenv("CAIRN_TEST_SEED");
    uint64_t seed;
    if (s && *s) {
        seed = strtoull(s, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    }
    fprintf(stderr, "seed: CAIRN_TEST_SEED=%llu\n", (unsigned long long)seed);
    return seed;
}

static inline uint64_t mt_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Inode number of a created entry (asserting success). */
static inline uint64_t mt_create(struct meta *m, uint64_t parent, const char *name)
{
    struct meta_attr a;
    ASSERT_RC(TURN(m, meta_mknod(m, parent, name, S_IFREG | 0644, 0, 1000, 1000, &a)), 0);
    return a.ino;
}

static inline uint64_t mt_mkdir(struct meta *m, uint64_t parent, const char *name)
{
    struct meta_attr a;
    ASSERT_RC(TURN(m, meta_mkdir(m, parent, name, 0755, 1000, 1000, &a)), 0);
    return a.ino;
}

/* A file `name` in parent with one committed chunk of `len` bytes; its id in *chunk. */
static inline uint64_t mt_with_chunk(struct meta *m, uint64_t parent, const char *name,
                                     uint64_t len, uint64_t *chunk)
{
    uint64_t f = mt_create(m, parent, name);
    struct meta_chunk c;
    ASSERT_RC(TURN(m, meta_chunk_lease_begin(m, f, 0, 7, 0, 100, &c)), 0);
    ASSERT_RC(TURN(m, meta_chunk_lease_commit(m, c.id, 7, c.version, len, &c)), 0);
    *chunk = c.id;
    return f;
}

/* 1 if chunk id is in the freed list. */
static inline int mt_freed_has(const struct meta_freed *fr, uint64_t id)
{
    for (size_t i = 0; i < fr->n; i++)
        if (fr->ids[i] == id)
            return 1;
    return 0;
}

#endif
