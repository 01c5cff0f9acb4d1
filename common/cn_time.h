/*
 * cn_time.h - clocks for timeouts, deadlines and periodic work.
 *
 * Named cn_time.h, not time.h: common/ is a public include directory, and a
 * common/time.h would shadow the C library's <time.h> in every target.
 *
 * Everything that measures an interval uses the monotonic clock: wall-clock
 * time jumps (NTP, an operator's `date`) must never fire or stall a timeout.
 * Wall time is only for what people read (log lines, mtime) and is named so.
 * Header-only; every function may be called from any thread.
 */
#ifndef CN_CN_TIME_H
#define CN_CN_TIME_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds since an arbitrary origin (boot). */
static inline uint64_t cn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic milliseconds since an arbitrary origin (boot). */
static inline uint64_t cn_now_ms(void)
{
    return cn_now_ns() / 1000000u;
}

/* Wall-clock time (CLOCK_REALTIME), for timestamps people read and file times. */
static inline struct timespec cn_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

/* Wall-clock milliseconds since the epoch (lease expiries in the metadata). */
static inline int64_t cn_wall_ms(void)
{
    struct timespec ts = cn_wall_now();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until the monotonic `deadline_ms`; 0 once it has passed. */
static inline int cn_ms_left(uint64_t deadline_ms)
{
    uint64_t now = cn_now_ms();
    if (now >= deadline_ms)
        return 0;
    uint64_t left = deadline_ms - now;
    return left > 0x7fffffffu ? 0x7fffffff : (int)left;
}

#endif
