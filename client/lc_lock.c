/*
 * lc_lock.c - file locks through the master: flock and POSIX byte ranges
 * (LOCK, GETLK, LOCK_CANCEL in docs/protocol.md). The master holds every
 * lock; this side keeps none, only which kinds it ever asked for on an
 * inode, so that a close sends an unlock only to files that were locked.
 *
 * Decisions a reader must know:
 *  - A blocking request is one master call without a time limit: the master
 *    answers it when the lock is granted. It completes on the I/O thread
 *    (lc_setlk_async), so a waiting lock holds no caller thread: cairn-mount
 *    answers the kernel from the callback, and a thousand waiters do not
 *    use up its FUSE workers. It gets a wait_id (unique in this client) so
 *    that another thread, interrupted by a signal, can cancel it with
 *    LOCK_CANCEL (lc_lk_cancel). The request and its cancel are handed to
 *    the I/O thread under the waiter's mutex, request first, so the master
 *    sees them in that order on the one connection.
 *  - A cancel while the master is unreachable finishes the waiting request
 *    with -EINTR on this side (lc_core.c checks op->cancel), so an
 *    interrupted caller never waits for a master that is down.
 *  - Locks live in the master session: when the connection drops, the
 *    master releases them. So an unlock (and a cancel) is bound to its
 *    session: with the master unreachable it is done at once, never sent
 *    to a later session (lc_core.c invariant 5), and a close() does not
 *    wait for the master. A blocking request sent again after a reconnect
 *    waits anew in the new session; locks already held are not reclaimed
 *    (docs/client.md "Locks").
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lc_int.h"
#include "log.h"
#include "xmalloc.h"

enum { W_IDLE, W_SENT, W_CANCELLED, W_DONE };

struct lc_lkwait {
    pthread_mutex_t mu;
    int state;
    struct lc *c;
    struct lc_op op; /* the LOCK, once sent; lives as long as w */
    uint64_t wait_id;
    lc_lock_cb cb;
    void *ud;
};

struct lc_lkwait *lc_lkwait_new(void)
{
    struct lc_lkwait *w = cn_xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    lc_op_init(&w->op);
    return w;
}

void lc_lkwait_free(struct lc_lkwait *w)
{
    if (!w)
        return;
    lc_op_release(&w->op);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* An owner that took a POSIX lock through a handle: the record lives on
 * the inode until the owner's flush or the handle's last close. */
struct lc_lkown {
    struct lc_lkown *next;
    uint64_t owner;
    const struct lc_fh *fh;
};

static void note_owner(struct lc_fh *fh, uint64_t owner)
{
    struct lc *c = lc_fh_client(fh);
    struct lc_inode *in = lc_fh_inode(fh);
    pthread_mutex_lock(&c->imu);
    struct lc_lkown *o = in->lkown;
    while (o && (o->owner != owner || o->fh != fh))
        o = o->next;
    if (!o) {
        o = cn_xcalloc(1, sizeof(*o));
        *o = (struct lc_lkown){in->lkown, owner, fh};
        in->lkown = o;
    }
    pthread_mutex_unlock(&c->imu);
}

/* Forget records of `owner` (any handle), or of handle `fh` (any owner);
 * the owners forgotten for fh go to *out (caller frees). */
static uint32_t forget_owners(struct lc_fh *fh, const uint64_t *owner, uint64_t **out)
{
    struct lc *c = lc_fh_client(fh);
    struct lc_inode *in = lc_fh_inode(fh);
    uint32_t n = 0;
    pthread_mutex_lock(&c->imu);
    for (struct lc_lkown **pp = &in->lkown; *pp;) {
        struct lc_lkown *o = *pp;
        if (owner ? o->owner != *owner : o->fh != fh) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        if (out) {
            *out = cn_xrealloc(*out, (n + 1) * sizeof(**out));
            (*out)[n++] = o->owner;
        }
        free(o);
    }
    pthread_mutex_unlock(&c->imu);
    return n;
}

static void mark_used(struct lc_fh *fh, uint8_t kind, uint64_t owner)
{
    __atomic_or_fetch(&lc_fh_inode(fh)->lk_used, (int)kind, __ATOMIC_RELAXED);
    if (kind == CN_LK_POSIX)
        note_owner(fh, owner);
}

static int lock_check(const struct lc_lock *l)
{
    if ((l->kind != CN_LK_POSIX && l->kind != CN_LK_FLOCK) || l->type > CN_LK_WRLCK ||
        l->start > l->end)
        return -EINVAL;
    return 0;
}

/* The waiting LOCK finished (I/O thread): tell the caller. */
static void wait_done(struct lc_op *op)
{
    struct lc_lkwait *w = op->ud;
    int rc = lc_mcall_decode(op, CN_MSG_LOCK, NULL);
    if (rc && rc != -EAGAIN && rc != -EINTR)
        cn_log_debug("libcairn", "waiting lock: %s%s%s", cn_strerror(rc), op->err[0] ? ": " : "",
                     op->err);
    pthread_mutex_lock(&w->mu);
    w->state = W_DONE;
    pthread_mutex_unlock(&w->mu);
    w->cb(w->ud, rc); /* may free w */
}

int lc_setlk_async(struct lc_fh *fh, const struct lc_lock *l, struct lc_lkwait *w, lc_lock_cb cb,
                   void *ud)
{
    struct lc *c = lc_fh_client(fh);
    int rc = lock_check(l);
    if (rc)
        return rc;
    struct cn_lock m = {lc_fh_ino(fh), l->owner, l->start, l->end, 0, l->pid, l->kind, l->type};
    if (l->type != CN_LK_UNLCK)
        mark_used(fh, l->kind, l->owner);
    m.wait_id = __atomic_add_fetch(&c->lk_wait_ids, 1, __ATOMIC_RELAXED);
    w->op.deadline_ms = UINT64_MAX / 2; /* no limit: the master answers when granted */
    w->op.try_ms = UINT32_MAX;          /* and a silent attempt must not close the connection */
    if ((rc = lc_mcall_prepare(c, CN_MSG_LOCK, &m, &w->op)))
        return rc;
    pthread_mutex_lock(&w->mu);
    if (w->state == W_CANCELLED) {
        pthread_mutex_unlock(&w->mu);
        return -EINTR;
    }
    w->c = c;
    w->wait_id = m.wait_id;
    w->cb = cb;
    w->ud = ud;
    w->state = W_SENT;
    w->op.done = wait_done;
    w->op.ud = w;
    lc_submit(c, &w->op);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
};

static void sync_done(void *ud, int rc)
{
    struct sync_wait *s = ud;
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    s->rc = rc;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int lc_setlk(struct lc_fh *fh, const struct lc_lock *l, struct lc_lkwait *w)
{
    int rc = lock_check(l);
    if (rc)
        return rc;
    if (w && l->type != CN_LK_UNLCK) {
        struct sync_wait s = {.done = 0};
        pthread_mutex_init(&s.mu, NULL);
        pthread_cond_init(&s.cv, NULL);
        rc = lc_setlk_async(fh, l, w, sync_done, &s);
        pthread_mutex_lock(&s.mu);
        while (!rc && !s.done)
            pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        pthread_cond_destroy(&s.cv);
        pthread_mutex_destroy(&s.mu);
        return rc ? rc : s.rc;
    }
    struct cn_lock m = {lc_fh_ino(fh), l->owner, l->start, l->end, 0, l->pid, l->kind, l->type};
    if (l->type != CN_LK_UNLCK)
        mark_used(fh, l->kind, l->owner);
    struct lc_op op;
    lc_op_init(&op);
    op.session_bound = l->type == CN_LK_UNLCK; /* lc_core.c invariant 5 */
    rc = lc_mcall(lc_fh_client(fh), CN_MSG_LOCK, &m, NULL, &op);
    if (rc && rc != -EAGAIN)
        cn_log_debug("libcairn", "lock on inode %llu: %s%s%s", (unsigned long long)m.ino,
                     cn_strerror(rc), op.err[0] ? ": " : "", op.err);
    lc_op_release(&op);
    return rc;
}

static void cancel_done(struct lc_op *op)
{
    if (op->status)
        cn_log_warn("libcairn", "LOCK_CANCEL: %s", op->err[0] ? op->err : cn_strerror(op->status));
    lc_op_release(op);
    free(op);
}

void lc_lk_cancel(struct lc_lkwait *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->state == W_SENT) {
        __atomic_store_n(&w->op.cancel, 1, __ATOMIC_RELEASE);
        struct lc_op *op = cn_xmalloc(sizeof(*op));
        lc_op_init(op);
        struct cn_lock_cancel m = {w->wait_id};
        if (lc_mcall_prepare(w->c, CN_MSG_LOCK_CANCEL, &m, op) == 0) {
            op->done = cancel_done;
            op->session_bound = 1;
            lc_submit(w->c, op); /* after the LOCK: same queue, same connection */
        } else {
            lc_op_release(op);
            free(op);
        }
    }
    if (w->state != W_DONE)
        w->state = W_CANCELLED;
    pthread_mutex_unlock(&w->mu);
}

int lc_getlk(struct lc_fh *fh, struct lc_lock *l)
{
    int rc = lock_check(l);
    if (rc)
        return rc;
    struct cn_getlk m = {lc_fh_ino(fh), l->owner, l->start, l->end, l->pid, l->kind, l->type};
    struct cn_getlk_r r;
    struct lc_op op;
    lc_op_init(&op);
    rc = lc_mcall(lc_fh_client(fh), CN_MSG_GETLK, &m, &r, &op);
    if (!rc) {
        l->type = r.type;
        if (r.type != CN_LK_UNLCK) {
            l->start = r.start;
            l->end = r.end;
            l->pid = r.pid;
        }
    }
    lc_op_release(&op);
    return rc;
}

void lc_lk_inode_free(struct lc_inode *in)
{
    while (in->lkown) {
        struct lc_lkown *o = in->lkown;
        in->lkown = o->next;
        free(o);
    }
}

/* Linux leaves unlock-on-close of POSIX locks to the FUSE flush of the
 * closing process, which names that process as the owner (lc_lk_release,
 * which also forgets the owner's records). An open file description lock
 * (F_OFD_SETLK) is owned by the open file instead, and nothing unlocks it
 * when the file closes: so the last close of a handle unlocks every owner
 * that locked through it and has not flushed since. A process that did
 * lock through it has closed it, and flushed, before the handle can go, so
 * what is left are open-file owners. */
void lc_lk_fh_release(struct lc_fh *fh)
{
    if (!(__atomic_load_n(&lc_fh_inode(fh)->lk_used, __ATOMIC_RELAXED) & CN_LK_POSIX))
        return;
    uint64_t *owners = NULL;
    uint32_t n = forget_owners(fh, NULL, &owners);
    for (uint32_t i = 0; i < n; i++) {
        struct lc_lock l = {owners[i], 0, UINT64_MAX, 0, CN_LK_POSIX, CN_LK_UNLCK};
        int rc = lc_setlk(fh, &l, NULL);
        if (rc)
            cn_log_warn("libcairn", "inode %llu: releasing POSIX locks at the last close: %s",
                        (unsigned long long)lc_fh_ino(fh), cn_strerror(rc));
    }
    free(owners);
}

int lc_lk_release(struct lc_fh *fh, uint64_t owner, uint8_t kind)
{
    if (!(__atomic_load_n(&lc_fh_inode(fh)->lk_used, __ATOMIC_RELAXED) & kind))
        return 0; /* never locked here: no round trip at every close */
    if (kind == CN_LK_POSIX)
        forget_owners(fh, &owner, NULL);
    struct lc_lock l = {owner, 0, UINT64_MAX, 0, kind, CN_LK_UNLCK};
    return lc_setlk(fh, &l, NULL);
}
