/*
 * locks.c - file locks for the clients: flock(2) whole-file locks and POSIX
 * fcntl byte-range locks, held here so that every mount of the cluster sees
 * the same ones (issue 9).
 *
 * Decisions a reader must know:
 *  - Soft state, as in MooseFS: the table lives in memory only. A master
 *    restart forgets every lock and clients do not reclaim them
 *    (docs/master.md "Locks").
 *  - A lock belongs to (session, owner): the owner is FUSE's lock_owner, the
 *    process for POSIX locks and the open file for flock. The two kinds never
 *    conflict with each other, as on Linux.
 *  - A request that conflicts and may wait (wait_id != 0) is queued on its
 *    inode with its request id, and answered only when it is granted (after
 *    an unlock, a close or a session end) or when LOCK_CANCEL names its
 *    wait_id (ERROR(EINTR)). Waiters are tried in arrival order and each one
 *    that fits is granted, so readers may pass a waiting writer. There is no
 *    deadlock detection: a cycle of waiters across mounts waits until a
 *    signal interrupts one of them.
 *  - A session that ends drops its locks and its waiters at once, without
 *    the OPEN_GRACE_MS that open handles get: the processes of a mount that
 *    died are gone with it, and nobody else should wait for them.
 *
 * Invariant: the POSIX locks of one (session, owner) on one inode never
 * overlap, and two of them with the same type never touch (posix_set merges
 * them), so a new range only ever has to be merged with its neighbours.
 *
 * Loop thread only, like the rest of the master.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD "locks"

/* Locks plus waiters one session may have: past it, LOCK gets ENOLCK. */
#define LOCKS_PER_SESSION 100000u

struct lk {
    struct lk *next;
    struct lock_sess *s;
    uint64_t owner, start, end; /* end inclusive */
    uint32_t pid;
    uint8_t kind, type;
};

struct lk_wait {
    struct lk_wait *next;
    struct client *cl;
    struct lock_sess *s;
    uint64_t req_id;
    struct cn_lock m; /* the request (flock ranges already widened) */
};

struct lk_file {
    struct lk_file *next; /* hash chain */
    uint64_t ino;
    struct lk *locks;
    struct lk_wait *wq; /* arrival order */
};

struct locks {
    struct lk_file **b;
    size_t nb, n;
};

/* ---- the inode table --------------------------------------------------------- */

static size_t slot(const struct locks *L, uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (L->nb - 1);
}

static void grow(struct locks *L)
{
    size_t onb = L->nb;
    struct lk_file **old = L->b;
    L->nb *= 2;
    L->b = cn_xcalloc(L->nb, sizeof(*L->b));
    for (size_t i = 0; i < onb; i++)
        for (struct lk_file *f = old[i], *n; f; f = n) {
            n = f->next;
            size_t k = slot(L, f->ino);
            f->next = L->b[k];
            L->b[k] = f;
        }
    free(old);
}

static struct lk_file *file_get(struct locks *L, uint64_t ino, int create)
{
    for (struct lk_file *f = L->b[slot(L, ino)]; f; f = f->next)
        if (f->ino == ino)
            return f;
    if (!create)
        return NULL;
    if (L->n >= L->nb)
        grow(L);
    struct lk_file *f = cn_xcalloc(1, sizeof(*f));
    f->ino = ino;
    size_t k = slot(L, ino);
    f->next = L->b[k];
    L->b[k] = f;
    L->n++;
    return f;
}

/* Free f when it holds no lock and no waiter. */
static void file_put(struct locks *L, struct lk_file *f)
{
    if (!f || f->locks || f->wq)
        return;
    for (struct lk_file **pp = &L->b[slot(L, f->ino)]; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            free(f);
            L->n--;
            return;
        }
    cn_log_error(MOD, "%s:%d: BUG: lock record of inode %llu is not in its chain", __FILE__,
                 __LINE__, (unsigned long long)f->ino);
    abort();
}

/* ---- lock lists ---------------------------------------------------------------- */

static struct lk *lk_add(struct lk_file *f, struct lock_sess *s, uint64_t owner, uint64_t start,
                         uint64_t end, uint32_t pid, uint8_t kind, uint8_t type)
{
    struct lk *l = cn_xcalloc(1, sizeof(*l));
    *l = (struct lk){f->locks, s, owner, start, end, pid, kind, type};
    f->locks = l;
    s->n++;
    return l;
}

static void lk_free(struct lk *l)
{
    l->s->n--;
    free(l);
}

static int same_owner(const struct lk *l, const struct lock_sess *s, uint64_t owner, uint8_t kind)
{
    return l->kind == kind && l->s == s && l->owner == owner;
}

/* The first lock of another owner that keeps (s, owner) from taking `type`
 * on [start, end], or NULL. */
static const struct lk *conflict(const struct lk_file *f, const struct lock_sess *s, uint64_t owner,
                                 uint8_t kind, uint8_t type, uint64_t start, uint64_t end)
{
    for (const struct lk *l = f->locks; l; l = l->next) {
        if (l->kind != kind || (l->s == s && l->owner == owner))
            continue;
        if (l->type != CN_LK_WRLCK && type != CN_LK_WRLCK)
            continue;
        if (l->start <= end && start <= l->end)
            return l;
    }
    return NULL;
}

/* POSIX semantics: the owner's locks inside [start, end] are replaced by
 * `type` (UNLCK: removed), splitting a lock that sticks out on both sides;
 * then the new range absorbs the owner's touching locks of the same type. */
static void posix_set(struct lk_file *f, struct lock_sess *s, uint64_t owner, uint8_t type,
                      uint64_t start, uint64_t end, uint32_t pid)
{
    for (struct lk **pp = &f->locks; *pp;) {
        struct lk *l = *pp;
        if (!same_owner(l, s, owner, CN_LK_POSIX) || l->end < start || l->start > end) {
            pp = &l->next;
            continue;
        }
        if (l->start < start && l->end > end) { /* split: keep both ends */
            struct lk *r = cn_xcalloc(1, sizeof(*r));
            *r = *l;
            r->start = end + 1; /* end < l->end: no overflow */
            r->next = l->next;
            l->next = r;
            l->end = start - 1; /* start > l->start >= 0 */
            s->n++;
            pp = &r->next;
        } else if (l->start < start) {
            l->end = start - 1;
            pp = &l->next;
        } else if (l->end > end) {
            l->start = end + 1;
            pp = &l->next;
        } else {
            *pp = l->next;
            lk_free(l);
        }
    }
    if (type == CN_LK_UNLCK)
        return;
    for (struct lk **pp = &f->locks; *pp;) {
        struct lk *l = *pp;
        int touches =
            same_owner(l, s, owner, CN_LK_POSIX) && l->type == type &&
            ((start > 0 && l->end == start - 1) || (end < UINT64_MAX && l->start == end + 1));
        if (!touches) {
            pp = &l->next;
            continue;
        }
        if (l->start < start)
            start = l->start;
        if (l->end > end)
            end = l->end;
        *pp = l->next;
        lk_free(l);
    }
    lk_add(f, s, owner, start, end, pid, CN_LK_POSIX, type);
}

/* flock: one whole-file lock per owner, replaced or removed. */
static void flock_set(struct lk_file *f, struct lock_sess *s, uint64_t owner, uint8_t type,
                      uint32_t pid)
{
    for (struct lk **pp = &f->locks; *pp;) {
        struct lk *l = *pp;
        if (same_owner(l, s, owner, CN_LK_FLOCK)) {
            *pp = l->next;
            lk_free(l);
        } else {
            pp = &l->next;
        }
    }
    if (type != CN_LK_UNLCK)
        lk_add(f, s, owner, 0, UINT64_MAX, pid, CN_LK_FLOCK, type);
}

static void lock_set(struct lk_file *f, struct lock_sess *s, const struct cn_lock *m)
{
    if (m->kind == CN_LK_FLOCK)
        flock_set(f, s, m->owner, m->type, m->pid);
    else
        posix_set(f, s, m->owner, m->type, m->start, m->end, m->pid);
}

/* ---- waiters ------------------------------------------------------------------- */

static void reply_to(struct master *M, struct lk_wait *w, int err)
{
    struct cn_conn *c = client_conn(w->cl);
    if (!c)
        return;
    if (!err) {
        struct cn_empty e = {0};
        turn_reply(M, w->cl, c, w->req_id, CN_MSG_LOCK_R, &e);
    } else {
        struct cn_error e = {master_status(err), CN_STR("lock request cancelled")};
        turn_reply(M, w->cl, c, w->req_id, CN_MSG_ERROR, &e);
    }
}

/* Something was unlocked on f: grant every waiter that fits now, oldest
 * first. A grant may itself release ranges (a downgrade), so the scan
 * starts over after each one. */
static void wake(struct master *M, struct lk_file *f)
{
    struct lk_wait **pp = &f->wq;
    while (*pp) {
        struct lk_wait *w = *pp;
        const struct cn_lock *m = &w->m;
        if (conflict(f, w->s, m->owner, m->kind, m->type, m->start, m->end)) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->s->n--;
        lock_set(f, w->s, m);
        cn_log_debug(MOD, "inode %llu: waiter of session %llu granted", (unsigned long long)f->ino,
                     (unsigned long long)w->s->id);
        reply_to(M, w, 0);
        free(w);
        pp = &f->wq;
    }
}

/* ---- requests ---------------------------------------------------------------------- */

static int lock_check(const struct cn_lock *m)
{
    if (m->kind != CN_LK_POSIX && m->kind != CN_LK_FLOCK)
        return -EINVAL;
    if (m->type > CN_LK_WRLCK || m->start > m->end)
        return -EINVAL;
    return 0;
}

int locks_lock(struct master *M, struct client *cl, struct lock_sess *s, uint64_t req_id,
               const struct cn_lock *req)
{
    struct locks *L = M->locks;
    struct cn_lock m = *req;
    if (m.kind == CN_LK_FLOCK) { /* whole file, whatever the request says */
        m.start = 0;
        m.end = UINT64_MAX;
    }
    int rc = lock_check(&m);
    if (rc)
        return rc;
    struct cn_empty e = {0};
    if (m.type == CN_LK_UNLCK) {
        struct lk_file *f = file_get(L, m.ino, 0);
        if (f) {
            lock_set(f, s, &m);
            wake(M, f);
            file_put(L, f);
        }
        turn_reply(M, cl, client_conn(cl), req_id, CN_MSG_LOCK_R, &e);
        return 0;
    }
    struct meta_attr a;
    if ((rc = meta_getattr(M->meta, m.ino, &a)))
        return rc;
    if (s->n >= LOCKS_PER_SESSION)
        return -ENOLCK;
    struct lk_file *f = file_get(L, m.ino, 1);
    if (!conflict(f, s, m.owner, m.kind, m.type, m.start, m.end)) {
        lock_set(f, s, &m);
        wake(M, f); /* a downgrade or a narrower range may free waiters */
        turn_reply(M, cl, client_conn(cl), req_id, CN_MSG_LOCK_R, &e);
        return 0;
    }
    if (m.kind == CN_LK_FLOCK) {
        /* As Linux: a flock conversion drops the old lock before it waits
         * (or fails), so two holders upgrading at once cannot deadlock. */
        m.type = CN_LK_UNLCK;
        lock_set(f, s, &m);
        m.type = req->type;
        wake(M, f);
    }
    if (!m.wait_id) {
        file_put(L, f);
        return -EAGAIN;
    }
    struct lk_wait *w = cn_xcalloc(1, sizeof(*w));
    w->cl = cl;
    w->s = s;
    w->req_id = req_id;
    w->m = m;
    struct lk_wait **pp = &f->wq;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    s->n++;
    cn_log_debug(MOD, "inode %llu: session %llu waits (wait_id %llu)", (unsigned long long)m.ino,
                 (unsigned long long)s->id, (unsigned long long)m.wait_id);
    return 0;
}

int locks_getlk(struct master *M, struct client *cl, struct lock_sess *s, uint64_t req_id,
                const struct cn_getlk *m)
{
    if ((m->kind != CN_LK_POSIX && m->kind != CN_LK_FLOCK) || m->type > CN_LK_WRLCK ||
        (m->kind == CN_LK_POSIX && m->start > m->end))
        return -EINVAL;
    struct cn_getlk_r r = {CN_LK_UNLCK, m->start, m->end, m->pid, 0};
    struct lk_file *f = file_get(M->locks, m->ino, 0);
    const struct lk *l = NULL;
    if (f && m->type != CN_LK_UNLCK) {
        uint64_t start = m->kind == CN_LK_FLOCK ? 0 : m->start;
        uint64_t end = m->kind == CN_LK_FLOCK ? UINT64_MAX : m->end;
        l = conflict(f, s, m->owner, m->kind, m->type, start, end);
    }
    if (l)
        r = (struct cn_getlk_r){l->type, l->start, l->end, l->pid, l->s->id};
    turn_reply(M, cl, client_conn(cl), req_id, CN_MSG_GETLK_R, &r);
    return 0;
}

int locks_cancel(struct master *M, struct client *cl, struct lock_sess *s, uint64_t req_id,
                 const struct cn_lock_cancel *m)
{
    struct locks *L = M->locks;
    struct lk_wait *found = NULL;
    struct lk_file *ff = NULL;
    for (size_t i = 0; i < L->nb && !found && m->wait_id; i++)
        for (struct lk_file *f = L->b[i]; f && !found; f = f->next)
            for (struct lk_wait **pp = &f->wq; *pp; pp = &(*pp)->next)
                if ((*pp)->s == s && (*pp)->m.wait_id == m->wait_id) {
                    found = *pp;
                    *pp = found->next;
                    ff = f;
                    break;
                }
    if (found) {
        s->n--;
        reply_to(M, found, -EINTR);
        free(found);
        file_put(L, ff);
    }
    struct cn_empty e = {0};
    turn_reply(M, cl, client_conn(cl), req_id, CN_MSG_LOCK_CANCEL_R, &e);
    return 0;
}

/* ---- sessions and lifecycle ---------------------------------------------------------- */

struct lock_sess *locks_session(void)
{
    return cn_xcalloc(1, sizeof(struct lock_sess));
}

void locks_session_end(struct master *M, struct lock_sess *s)
{
    struct locks *L = M->locks;
    if (!s)
        return;
    for (size_t i = 0; L && s->n && i < L->nb; i++)
        for (struct lk_file *f = L->b[i], *next; f; f = next) {
            next = f->next;
            int gone = 0;
            for (struct lk **pp = &f->locks; *pp;) {
                struct lk *l = *pp;
                if (l->s == s) {
                    *pp = l->next;
                    lk_free(l);
                    gone++;
                } else {
                    pp = &l->next;
                }
            }
            for (struct lk_wait **pp = &f->wq; *pp;) {
                struct lk_wait *w = *pp;
                if (w->s == s) {
                    *pp = w->next;
                    s->n--;
                    free(w); /* the connection is gone: nobody to answer */
                } else {
                    pp = &w->next;
                }
            }
            if (gone) {
                cn_log_debug(MOD, "inode %llu: %d locks of ended session %llu released",
                             (unsigned long long)f->ino, gone, (unsigned long long)s->id);
                wake(M, f);
            }
            file_put(L, f);
        }
    free(s);
}

int locks_init(struct master *M, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct locks *L = cn_xcalloc(1, sizeof(*L));
    L->nb = 256;
    L->b = cn_xcalloc(L->nb, sizeof(*L->b));
    M->locks = L;
    return 0;
}

void locks_release(struct master *M)
{
    struct locks *L = M->locks;
    if (!L)
        return;
    for (size_t i = 0; i < L->nb; i++)
        for (struct lk_file *f = L->b[i], *n; f; f = n) {
            n = f->next;
            for (struct lk *l = f->locks, *ln; l; l = ln) {
                ln = l->next;
                l->s->n--;
                free(l);
            }
            for (struct lk_wait *w = f->wq, *wn; w; w = wn) {
                wn = w->next;
                w->s->n--;
                free(w);
            }
            free(f);
        }
    free(L->b);
    free(L);
    M->locks = NULL;
}
