/*
 * faultdev.h - a fault-injecting struct ls_dev for the logstore fault suites.
 *
 * A faultdev wraps another device (usually a memory device) and forwards all
 * I/O to it, except where the test armed a fault: the Nth write or sync fails
 * with an errno, a write is short (persists a page-aligned prefix and returns
 * its count, which the store must accept and continue), or a write is torn
 * (persists an arbitrary byte prefix, then fails with -EIO).
 *
 * Power loss (SQLite test6.c style): with power-loss mode on, writes stay in
 * an overlay of pages until the next successful sync moves them to the lower
 * device. faultdev_crash() then produces the image a power cut would leave:
 * the lower device plus a random subset of the unsynced pages, some of them
 * torn at a 512-byte sector boundary. A failed sync drops the overlay (as
 * Linux may after an fsync error), so nothing unsynced survives it.
 *
 * The control handle outlives the device: the store closes the device (and
 * the lower one too when own_lower is set); the test frees the handle with
 * faultdev_free() afterwards. All functions are thread-safe.
 *
 * The header also carries the tiny RNG and seed helper the fault suites share.
 */
#ifndef CAIRN_TESTS_FAULTDEV_H
#define CAIRN_TESTS_FAULTDEV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "logstore.h"

struct faultdev;

/*
 * Wrap `lower`. Returns the device to hand to ls_open_dev()/ls_format_dev(),
 * or NULL on out-of-memory. *ctl receives the control handle. If own_lower,
 * closing the returned device also closes lower; otherwise lower stays the
 * caller's (e.g. to reopen it directly after the store is closed).
 */
struct ls_dev *faultdev_wrap(struct ls_dev *lower, int own_lower, struct faultdev **ctl);
/*
 * A device over a borrowed image (size bytes, must outlive the device) that
 * never changes it: the store's writes land in a private page overlay that
 * reads see and close discards. Opens a crash image without copying it.
 */
struct ls_dev *faultdev_view(const uint8_t *image, uint64_t size, struct faultdev **ctl);
/* Free the control handle; call after the wrapper device was closed. */
void faultdev_free(struct faultdev *f);

/* The `nth` pwritev from now (1 = the next one) returns `err` and writes nothing. */
void faultdev_fail_write(struct faultdev *f, uint64_t nth, int err);
/* The `nth` sync from now returns `err` (and drops unsynced pages in power-loss mode). */
void faultdev_fail_sync(struct faultdev *f, uint64_t nth, int err);
/* Every `period`-th pwritev (0 = never) writes only a page-aligned prefix and returns its count. */
void faultdev_short_writes(struct faultdev *f, uint64_t period);
/* The `nth` pwritev from now persists its first `keep` bytes, then returns -EIO. */
void faultdev_tear_write(struct faultdev *f, uint64_t nth, size_t keep);
/* Power-loss mode: keep writes in an overlay until a successful sync. */
void faultdev_set_power_loss(struct faultdev *f, int on);
/* Clear all armed faults (power-loss mode is kept). */
void faultdev_disarm(struct faultdev *f);

/*
 * Simulate a power cut: return a malloc'ed image (size of the lower device,
 * *len set) of the lower device plus each unsynced page with probability
 * keep_prob (a further 1/8 of pages persists only a torn prefix of whole
 * 512-byte sectors). Afterwards the device is dead: every write and sync
 * fails with -EIO and changes nothing. Caller frees the image.
 */
uint8_t *faultdev_crash(struct faultdev *f, uint64_t seed, double keep_prob, size_t *len);

/*
 * Arm a power cut at the nth_write-th pwritev from now (the write lands in
 * the overlay first) or before the nth_sync-th sync (0 = not on that
 * event): the image faultdev_crash() would return is kept for
 * faultdev_take_crash_image(), and the call fails with -EIO as does all I/O
 * after it. Needs power-loss mode.
 */
void faultdev_crash_at(struct faultdev *f, uint64_t nth_write, uint64_t nth_sync, uint64_t seed,
                       double keep_prob);
/* The image of an armed power cut that happened (malloc'ed, caller frees), or NULL. */
uint8_t *faultdev_take_crash_image(struct faultdev *f, size_t *len);

struct faultdev_counts {
    uint64_t writes;       /* pwritev calls */
    uint64_t syncs;        /* sync calls */
    uint64_t faults;       /* injected faults fired */
    uint64_t short_writes; /* short writes done */
    uint64_t unsynced;     /* pages in the overlay now */
};
void faultdev_counts(struct faultdev *f, struct faultdev_counts *out);

/* ---- shared helpers of the fault suites --------------------------------- */

/* splitmix64: tiny, fast, good enough to drive tests. */
static inline uint64_t fd_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t fd_below(uint64_t *s, uint64_t n)
{
    return fd_rand(s) % n;
}

/*
 * The seed of a randomised test: $CAIRN_TEST_SEED if set, else fresh. Prints
 * it (with the test's name) so a failure can be replayed.
 */
static inline uint64_t fd_test_seed(const char *name)
{
    const char *env = getenv("CAIRN_TEST_SEED");
    uint64_t seed;
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
        seed = fd_rand(&s) & 0xFFFFFFFFFFFFull;
    }
    fprintf(stderr, "%s: seed %llu (replay with CAIRN_TEST_SEED=%llu)\n", name,
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

/*
 * Self-describing test payloads: the first FD_PHDR bytes carry magic, length,
 * chunk, part, block, version and nonce; the rest derives from them. Any
 * served block can be checked for self-consistency and mapped back to the
 * write that produced it. len >= FD_PHDR.
 */
#define FD_PHDR   48
#define FD_PMAGIC 0x48535243u

static inline void fd_fill_payload(uint8_t *buf, uint64_t chunk, uint16_t part, uint64_t version,
                                   uint32_t block, uint64_t nonce, uint32_t len)
{
    uint32_t magic = FD_PMAGIC, p32 = part;
    memset(buf, 0, FD_PHDR);
    memcpy(buf + 0, &magic, 4);
    memcpy(buf + 4, &len, 4);
    memcpy(buf + 8, &chunk, 8);
    memcpy(buf + 16, &p32, 4);
    memcpy(buf + 20, &block, 4);
    memcpy(buf + 24, &version, 8);
    memcpy(buf + 32, &nonce, 8);
    uint64_t s = chunk * 0x100000001B3ull ^ version * 31 ^ ((uint64_t)block << 40) ^
                 (nonce * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)part << 56) ^ len;
    uint64_t x = 0;
    for (uint32_t i = FD_PHDR; i < len; i++) {
        if ((i - FD_PHDR) % 8 == 0)
            x = fd_rand(&s);
        buf[i] = (uint8_t)(x >> (8 * ((i - FD_PHDR) % 8)));
    }
}

/* What a served payload claims to be, for failure messages. */
static inline void fd_describe_payload(const uint8_t *buf, ssize_t n, char *out, size_t outlen)
{
    if (n < FD_PHDR) {
        snprintf(out, outlen, "%zd bytes, too short to be a test payload", n);
        return;
    }
    uint32_t magic, len, part, block;
    uint64_t chunk, version, nonce;
    memcpy(&magic, buf + 0, 4);
    memcpy(&len, buf + 4, 4);
    memcpy(&chunk, buf + 8, 8);
    memcpy(&part, buf + 16, 4);
    memcpy(&block, buf + 20, 4);
    memcpy(&version, buf + 24, 8);
    memcpy(&nonce, buf + 32, 8);
    snprintf(out, outlen,
             "%zd bytes claiming magic %08x chunk %llx part %u version %llu block %u nonce %llu "
             "len %u",
             n, magic, (unsigned long long)chunk, part, (unsigned long long)version, block,
             (unsigned long long)nonce, len);
}

/* Monotonic milliseconds. */
static inline double fd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
