/*
 * test_xmalloc.c - daemons' allocation wrappers return usable memory, and an
 * impossible request aborts with a message instead of returning NULL; the
 * monotonic clock helpers move forward and count down deadlines.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "xmalloc.h"

Test(xmalloc, allocations_work)
{
    char *p = cn_xmalloc(0);
    cr_assert_not_null(p, "size 0 gives a freeable pointer");
    free(p);
    int *z = cn_xcalloc(100, sizeof(int));
    for (int i = 0; i < 100; i++)
        cr_assert_eq(z[i], 0);
    z = cn_xrealloc(z, 1000 * sizeof(int));
    z[999] = 1;
    free(z);
    char *s = cn_xstrdup("cairn");
    cr_assert_str_eq(s, "cairn");
    free(s);
    s = cn_xstrndup("abcdef", 3);
    cr_assert_str_eq(s, "abc");
    free(s);
}

Test(xmalloc, overflow_aborts, .signal = SIGABRT)
{
    void *p = cn_xcalloc(SIZE_MAX / 2, 4);
    free(p);
}

Test(time, monotonic_and_deadlines)
{
    uint64_t a = cn_now_ns(), b = cn_now_ns();
    cr_assert_geq(b, a);
    uint64_t now = cn_now_ms();
    cr_assert_eq(cn_ms_left(now - 1), 0, "a passed deadline has no time left");
    int left = cn_ms_left(now + 10000);
    cr_assert(left > 9000 && left <= 10000, "left %d", left);
    struct timespec w = cn_wall_now();
    cr_assert_gt(w.tv_sec, 1700000000, "wall clock is real time");
}
