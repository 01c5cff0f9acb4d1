/*
 * xmalloc.h - allocation that aborts on out-of-memory, for daemons only.
 *
 * A daemon that cannot allocate a few bytes cannot do anything useful, and
 * unwinding every path for it costs more than it saves (Redis zmalloc, git
 * xmalloc): daemons call these and die with a clear message. Libraries
 * (logstore, ec, the wire codec in common/) never call them: they return
 * -ENOMEM and let the host decide. Any thread.
 */
#ifndef CN_XMALLOC_H
#define CN_XMALLOC_H

#include <stddef.h>

/* Never return NULL: print "out of memory allocating N bytes" and abort().
 * Caller frees with free(). A size of 0 returns a unique, freeable pointer. */
void *cn_xmalloc(size_t n);
void *cn_xcalloc(size_t nmemb, size_t size); /* aborts on overflow as well */
void *cn_xrealloc(void *p, size_t n);
char *cn_xstrdup(const char *s);
char *cn_xstrndup(const char *s, size_t n);

#endif
