/*
 * xmalloc.c - the one place daemons die of out-of-memory (see xmalloc.h).
 * The message goes straight to fd 2 with write(): the logger may itself need
 * memory, and stdio may be what just failed.
 */
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
    char msg[96];
    int len =
        snprintf(msg, sizeof(msg), "cairn: out of memory allocating %zu bytes; aborting\n", n);
    if (len > 0 && write(2, msg, (size_t)len) < 0) {
        /* nothing left to report to */
    }
    abort();
}

void *cn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *cn_xcalloc(size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        oom(SIZE_MAX);
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *cn_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *cn_xstrdup(const char *s)
{
    return cn_xstrndup(s, strlen(s));
}

char *cn_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cn_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}
