/*
 * opens.c - which inodes the clients hold open, so that a file unlinked (or
 * renamed over) while open lives on as an orphan (meta 'O' key) until its
 * last close: MooseFS's "sustained" files, POSIX's open-unlinked files.
 *
 * Decisions a reader must know:
 *  - Counted per handle: every OPEN or CREATE that succeeds adds one to the
 *    client's session and to a table ino -> handles over all sessions;
 *    every RELEASE takes one away. A RELEASE of a handle the session does
 *    not hold is ignored (opened before a master restart and never claimed
 *    again): counts never go negative.
 *  - A session that ends (a mount that crashed, or lost its connection)
 *    keeps its counts for OPEN_GRACE_MS. A mount that reconnects sends
 *    REOPEN with one entry per handle it still has, before anything else;
 *    when the old session expires, its counts go.
 *  - At startup no session exists, so orphans left by the previous run are
 *    freed OPEN_GRACE_MS after the start, except those a reconnected mount
 *    claimed meanwhile (meta_orphans_purge asks the same predicate).
 *  - When an inode's last handle goes and it has no link left, it is freed
 *    in the current turn; its chunks are deleted after the commit, as for
 *    an unlink.
 *  Loop thread only, like the rest of the master.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD "opens"

struct open_ent {
    uint64_t ino;
    uint32_t n;
};

struct open_set {
    struct open_ent *v;
    size_t n, cap;
    uint64_t expires_ms;
    struct open_set *next; /* the list of ended sessions */
};

struct open_node {
    uint64_t ino;
    uint64_t n;
    struct open_node *next;
};

struct opens {
    struct open_node **b;
    size_t nb, n;
    struct open_set *dying;
    int purged; /* the startup purge of old orphans ran */
};

static size_t slot(const struct opens *o, uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (o->nb - 1);
}

static struct open_node *node_get(struct opens *o, uint64_t ino)
{
    for (struct open_node *e = o->b[slot(o, ino)]; e; e = e->next)
        if (e->ino == ino)
            return e;
    return NULL;
}

static void grow(struct opens *o)
{
    size_t nb = o->nb * 2;
    struct open_node **b = cn_xcalloc(nb, sizeof(*b));
    struct open_node **old = o->b;
    size_t onb = o->nb;
    o->b = b;
    o->nb = nb;
    for (size_t i = 0; i < onb; i++)
        for (struct open_node *e = old[i], *n; e; e = n) {
            n = e->next;
            size_t k = slot(o, e->ino);
            e->next = b[k];
            b[k] = e;
        }
    free(old);
}

static void global_add(struct opens *o, uint64_t ino, uint64_t n)
{
    struct open_node *e = node_get(o, ino);
    if (!e) {
        if (o->n >= o->nb)
            grow(o);
        e = cn_xcalloc(1, sizeof(*e));
        e->ino = ino;
        size_t k = slot(o, ino);
        e->next = o->b[k];
        o->b[k] = e;
        o->n++;
    }
    e->n += n;
}

/* Take n handles of ino away; 1 when none is left. */
static int global_sub(struct opens *o, uint64_t ino, uint64_t n)
{
    for (struct open_node **pp = &o->b[slot(o, ino)]; *pp; pp = &(*pp)->next) {
        struct open_node *e = *pp;
        if (e->ino != ino)
            continue;
        e->n = e->n > n ? e->n - n : 0;
        if (e->n)
            return 0;
        *pp = e->next;
        free(e);
        o->n--;
        return 1;
    }
    return 1;
}

static int is_open(void *ctx, uint64_t ino)
{
    struct master *M = ctx;
    struct open_node *e = node_get(M->opens, ino);
    return e && e->n > 0;
}

/* No handle is left: free the inode if it has no link either. */
static void last_close(struct master *M, uint64_t ino)
{
    struct meta_attr a;
    if (meta_getattr(M->meta, ino, &a) != 0 || a.nlink != 0)
        return;
    int rc = turn_begin(M);
    if (!rc)
        rc = meta_orphan_release(M->meta, ino, &M->turn.freed);
    if (rc && rc != -ENOENT)
        cn_log_error(MOD, "freeing orphan inode %llu at its last close: %s",
                     (unsigned long long)ino, meta_strerror(rc));
    else if (!rc)
        cn_log_debug(MOD, "orphan inode %llu freed at its last close", (unsigned long long)ino);
}

struct open_set *opens_session(void)
{
    return cn_xcalloc(1, sizeof(struct open_set));
}

void opens_add(struct master *M, struct open_set *s, uint64_t ino)
{
    if (!s || !M->opens)
        return;
    size_t i = 0;
    while (i < s->n && s->v[i].ino != ino)
        i++;
    if (i == s->n) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->v = cn_xrealloc(s->v, s->cap * sizeof(*s->v));
        }
        s->v[s->n++] = (struct open_ent){ino, 0};
    }
    s->v[i].n++;
    global_add(M->opens, ino, 1);
}

void opens_del(struct master *M, struct open_set *s, uint64_t ino)
{
    if (!s || !M->opens)
        return;
    size_t i = 0;
    while (i < s->n && s->v[i].ino != ino)
        i++;
    if (i == s->n)
        return; /* not held by this session: ignored */
    if (--s->v[i].n == 0)
        s->v[i] = s->v[--s->n];
    if (global_sub(M->opens, ino, 1))
        last_close(M, ino);
}

void opens_session_end(struct master *M, struct open_set *s)
{
    if (!s)
        return;
    if (s->n == 0 || !M->opens || M->stopping) {
        free(s->v);
        free(s);
        return;
    }
    s->expires_ms = cn_now_ms() + (uint64_t)M->cfg.open_grace_ms;
    s->next = M->opens->dying;
    M->opens->dying = s;
}

void opens_tick(struct master *M, uint64_t now_ms)
{
    struct opens *o = M->opens;
    if (!o)
        return;
    for (struct open_set **pp = &o->dying; *pp;) {
        struct open_set *s = *pp;
        if (now_ms < s->expires_ms) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        for (size_t i = 0; i < s->n; i++)
            if (global_sub(o, s->v[i].ino, s->v[i].n))
                last_close(M, s->v[i].ino);
        free(s->v);
        free(s);
    }
    if (!o->purged && now_ms - M->started_ms >= (uint64_t)M->cfg.open_grace_ms) {
        o->purged = 1;
        int rc = turn_begin(M);
        int n = rc ? rc : meta_orphans_purge(M->meta, &M->turn.freed);
        if (n < 0)
            cn_log_error(MOD, "freeing the orphans of the previous run: %s", meta_strerror(n));
        else if (n > 0)
            cn_log_info(MOD, "freed %d orphan inodes no client claimed since the start", n);
    }
}

int opens_init(struct master *M, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct opens *o = cn_xcalloc(1, sizeof(*o));
    o->nb = 256;
    o->b = cn_xcalloc(o->nb, sizeof(*o->b));
    M->opens = o;
    meta_set_open_check(M->meta, is_open, M);
    return 0;
}

void opens_release(struct master *M)
{
    struct opens *o = M->opens;
    if (!o)
        return;
    meta_set_open_check(M->meta, NULL, NULL);
    for (struct open_set *s = o->dying, *n; s; s = n) {
        n = s->next;
        free(s->v);
        free(s);
    }
    for (size_t i = 0; i < o->nb; i++)
        for (struct open_node *e = o->b[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(o->b);
    free(o);
    M->opens = NULL;
}
