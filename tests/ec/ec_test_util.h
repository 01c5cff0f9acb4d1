/*
 * ec_test_util.h - seeded randomness for the ec tests.
 *
 * Every randomised test takes its seed from CAIRN_TEST_SEED if set, else
 * from the clock, and puts "seed=N" in every assertion message so a failure
 * can be replayed with CAIRN_TEST_SEED=N.
 */
#ifndef CAIRN_EC_TEST_UTIL_H
#define CAIRN_EC_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t test_seed(void)
{
    const char *s = getenv("CAIRN_TEST_SEED");
    struct timespec ts;
    if (s != NULL && *s != '\0')
        return strtoull(s, NULL, 0);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
}

/* splitmix64: small, good enough, reproducible. */
static inline uint64_t rnd(uint64_t *st)
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rnd_range(uint64_t *st, uint64_t lo, uint64_t hi)
{
    return lo + rnd(st) % (hi - lo + 1);
}

static inline void rnd_fill(uint64_t *st, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = rnd(st);
        memcpy(p + i, &v, 8);
    }
    for (; i < len; i++)
        p[i] = (uint8_t)rnd(st);
}

#endif
