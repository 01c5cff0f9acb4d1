/*
 * test_28_master_locks.c - file locks in the master (issue 9, master/locks.c)
 * with two client sessions on loopback, no chunkserver needed:
 *  - POSIX ranges: shared locks overlap, an exclusive one conflicts (EAGAIN),
 *    GETLK names the lock in the way; flock and POSIX locks are independent;
 *  - an unlock in the middle splits a range, touching ranges of one owner
 *    merge, a downgrade in the middle splits by type;
 *  - a waiting LOCK is answered only when the holder unlocks;
 *  - LOCK_CANCEL answers a waiter with EINTR;
 *  - a waiter is granted when the holder's connection closes (POSIX and flock);
 *  - bad requests: no such inode, start after end, unknown kind;
 *  - a flock conversion drops the old lock before it fails or waits.
 * (Numbered after the mount test of the same family, test_27.)
 */
#include "itest.h"

#include <poll.h>

static void setup(void)
{
    it_init();
    it_write_cfg("GOAL = 1\nHEALTH_START_MS = 1h\n");
    it_start_master(1);
}

TestSuite(master_locks, .init = setup, .fini = it_fini, .timeout = 60);

#define EOF_ CN_LK_EOF

static uint64_t mkfile(int cl, const char *name)
{
    struct cn_attr f = {0};
    ASSERT_ERR(it_create(cl, 1, name, 0644, 0, &f), 0);
    return f.ino;
}

static int lk(int fd, uint64_t ino, uint64_t owner, uint8_t kind, uint8_t type, uint64_t start,
              uint64_t end)
{
    struct cn_lock m = {ino, owner, start, end, 0, 4242, kind, type};
    return it_call(fd, CN_MSG_LOCK, &m, NULL);
}

static int px(int fd, uint64_t ino, uint64_t owner, uint8_t type, uint64_t start, uint64_t end)
{
    return lk(fd, ino, owner, CN_LK_POSIX, type, start, end);
}

/* GETLK for a write lock on [start, end]: the conflicting lock in *r. */
static void getlk(int fd, uint64_t ino, uint64_t owner, uint64_t start, uint64_t end,
                  struct cn_getlk_r *r)
{
    struct cn_getlk m = {ino, owner, start, end, 1, CN_LK_POSIX, CN_LK_WRLCK};
    ASSERT_ERR(it_call(fd, CN_MSG_GETLK, &m, r), 0);
}

/* Send a LOCK that may wait; returns its request id (the reply comes later). */
static uint64_t lk_send(int fd, uint64_t ino, uint64_t owner, uint8_t kind, uint8_t type,
                        uint64_t start, uint64_t end, uint64_t wait_id)
{
    struct cn_lock m = {ino, owner, start, end, wait_id, 4343, kind, type};
    struct cn_buf b = {0};
    uint64_t id = ++it.next_id;
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_LOCK, id, &m), 0);
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
    return id;
}

/* The answer to request `id` within ms: 0 (LOCK_R), -errno (ERROR) or
 * -ETIMEDOUT. Frames answering other requests are skipped. */
static int lk_recv(int fd, uint64_t id, int ms)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)ms;
    struct cn_buf b = {0};
    int rc = -ETIMEDOUT;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = cn_ms_left(deadline);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        struct cn_frame_hdr h;
        cr_assert_eq(cn_sock_recv_frame(fd, &h, &b, 0, IT_TIMEOUT_MS), 0);
        if (h.req_id != id)
            continue;
        if (h.type == CN_MSG_ERROR) {
            struct cn_error e;
            cr_assert_eq(cn_msg_decode(h.type, b.data, b.len, &e), 0);
            rc = -cn_status_to_errno(e.status);
        } else {
            cr_assert_eq(h.type, CN_MSG_LOCK_R, "reply type 0x%04x", h.type);
            rc = 0;
        }
        break;
    }
    cn_buf_release(&b);
    return rc;
}

/* Proves: shared ranges overlap, exclusive ones conflict both ways, GETLK
 * names the lock in the way, and flock does not see POSIX locks. */
Test(master_locks, shared_exclusive_conflicts)
{
    int a = it_client(), b = it_client();
    uint64_t ino = mkfile(a, "f");
    ASSERT_ERR(px(a, ino, 1, CN_LK_RDLCK, 0, 99), 0);
    ASSERT_ERR(px(b, ino, 1, CN_LK_RDLCK, 50, 149), 0); /* same owner id, other session */
    ASSERT_ERR(px(b, ino, 2, CN_LK_WRLCK, 50, 60), -EAGAIN);
    ASSERT_ERR(px(b, ino, 2, CN_LK_WRLCK, 100, 200), -EAGAIN); /* b's owner 1 holds 100..149 */
    ASSERT_ERR(px(b, ino, 1, CN_LK_WRLCK, 100, 200), 0);       /* its own: an upgrade */
    ASSERT_ERR(px(a, ino, 1, CN_LK_RDLCK, 150, 150), -EAGAIN);
    struct cn_getlk_r r;
    getlk(b, ino, 2, 0, 10, &r);
    cr_assert_eq(r.type, CN_LK_RDLCK);
    cr_assert_eq(r.start, 0);
    cr_assert_eq(r.end, 99);
    cr_assert_eq(r.pid, 4242);
    getlk(a, ino, 1, 300, EOF_, &r);
    cr_assert_eq(r.type, CN_LK_UNLCK, "no lock past 200, got type %u %llu..%llu", r.type,
                 (unsigned long long)r.start, (unsigned long long)r.end);
    /* flock and POSIX locks are independent; flock: shared vs exclusive */
    ASSERT_ERR(lk(a, ino, 9, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), 0);
    ASSERT_ERR(lk(b, ino, 9, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), -EAGAIN);
    ASSERT_ERR(lk(a, ino, 9, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0); /* downgrade */
    ASSERT_ERR(lk(b, ino, 9, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0);
    ASSERT_ERR(lk(b, ino, 8, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), -EAGAIN);
    close(a);
    close(b);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: an unlock in the middle splits a range; touching ranges of one
 * owner merge; a downgrade in the middle leaves three ranges. */
Test(master_locks, split_and_merge)
{
    int a = it_client(), b = it_client();
    uint64_t ino = mkfile(a, "f");
    struct cn_getlk_r r;
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 0, 99), 0);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 40, 59), 0);
    ASSERT_ERR(px(b, ino, 1, CN_LK_WRLCK, 40, 59), 0);
    ASSERT_ERR(px(b, ino, 1, CN_LK_WRLCK, 39, 39), -EAGAIN);
    ASSERT_ERR(px(b, ino, 1, CN_LK_WRLCK, 60, 60), -EAGAIN);
    getlk(b, ino, 1, 0, 45, &r);
    cr_assert(r.type == CN_LK_WRLCK && r.start == 0 && r.end == 39, "left part %llu..%llu",
              (unsigned long long)r.start, (unsigned long long)r.end);
    getlk(b, ino, 1, 50, 70, &r);
    cr_assert(r.type == CN_LK_WRLCK && r.start == 60 && r.end == 99, "right part %llu..%llu",
              (unsigned long long)r.start, (unsigned long long)r.end);
    ASSERT_ERR(px(b, ino, 1, CN_LK_UNLCK, 0, EOF_), 0);
    /* a fills the hole again: the three ranges become one */
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 40, 59), 0);
    getlk(b, ino, 1, 50, 50, &r);
    cr_assert(r.start == 0 && r.end == 99, "merged %llu..%llu", (unsigned long long)r.start,
              (unsigned long long)r.end);
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 100, 199), 0); /* touching on the right */
    getlk(b, ino, 1, 150, 150, &r);
    cr_assert(r.start == 0 && r.end == 199, "merged %llu..%llu", (unsigned long long)r.start,
              (unsigned long long)r.end);
    /* downgrade 50..50: write 0..49, read 50, write 51..199 */
    ASSERT_ERR(px(a, ino, 1, CN_LK_RDLCK, 50, 50), 0);
    ASSERT_ERR(px(b, ino, 1, CN_LK_RDLCK, 50, 50), 0);
    ASSERT_ERR(px(b, ino, 2, CN_LK_RDLCK, 49, 49), -EAGAIN);
    ASSERT_ERR(px(b, ino, 2, CN_LK_RDLCK, 51, 51), -EAGAIN);
    ASSERT_ERR(px(b, ino, 2, CN_LK_WRLCK, 50, 50), -EAGAIN);
    /* a unlocks everything: b takes the whole file */
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 0, EOF_), 0);
    ASSERT_ERR(px(b, ino, 2, CN_LK_UNLCK, 0, EOF_), 0);
    ASSERT_ERR(px(b, ino, 1, CN_LK_WRLCK, 0, EOF_), 0);
    close(a);
    close(b);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: a waiting LOCK gets no answer while the conflict lasts, is
 * granted when the holder unlocks, and LOCK_CANCEL ends a wait with EINTR. */
Test(master_locks, waiter_granted_on_unlock_and_cancelled)
{
    int a = it_client(), b = it_client();
    uint64_t ino = mkfile(a, "f");
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 0, 99), 0);
    uint64_t id = lk_send(b, ino, 1, CN_LK_POSIX, CN_LK_WRLCK, 50, 50, 11);
    ASSERT_ERR(lk_recv(b, id, 300), -ETIMEDOUT);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 0, 49), 0); /* not enough */
    ASSERT_ERR(lk_recv(b, id, 200), -ETIMEDOUT);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 50, 99), 0);
    ASSERT_ERR(lk_recv(b, id, IT_TIMEOUT_MS), 0);
    ASSERT_ERR(px(a, ino, 1, CN_LK_RDLCK, 50, 50), -EAGAIN); /* b holds it now */
    /* a waits for b's range, then cancels */
    id = lk_send(a, ino, 1, CN_LK_POSIX, CN_LK_RDLCK, 0, EOF_, 12);
    ASSERT_ERR(lk_recv(a, id, 200), -ETIMEDOUT);
    struct cn_lock_cancel c = {12};
    struct cn_buf fb = {0};
    uint64_t cid = ++it.next_id;
    cr_assert_eq(cn_msg_frame(&fb, CN_MSG_LOCK_CANCEL, cid, &c), 0);
    cr_assert_eq(cn_sock_send(a, fb.data, fb.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&fb);
    ASSERT_ERR(lk_recv(a, id, IT_TIMEOUT_MS), -EINTR);
    /* the cancelled waiter holds nothing: b's unlock grants nobody, b relocks */
    ASSERT_ERR(px(b, ino, 1, CN_LK_UNLCK, 0, EOF_), 0);
    ASSERT_ERR(px(b, ino, 2, CN_LK_WRLCK, 0, EOF_), 0);
    /* a cancel of nothing is answered too */
    struct cn_lock_cancel c2 = {999};
    ASSERT_ERR(it_call(b, CN_MSG_LOCK_CANCEL, &c2, NULL), 0);
    close(a);
    close(b);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: when the holder's connection closes, its locks go at once and the
 * waiters of another session are granted (POSIX and flock). */
Test(master_locks, waiter_granted_when_holder_disconnects)
{
    int a = it_client(), b = it_client();
    uint64_t ino = mkfile(a, "f");
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 0, EOF_), 0);
    ASSERT_ERR(lk(a, ino, 5, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), 0);
    uint64_t p = lk_send(b, ino, 1, CN_LK_POSIX, CN_LK_WRLCK, 10, 20, 21);
    uint64_t f = lk_send(b, ino, 6, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0, 22);
    ASSERT_ERR(lk_recv(b, p, 300), -ETIMEDOUT);
    uint64_t t0 = cn_now_ms();
    close(a); /* the mount died */
    ASSERT_ERR(lk_recv(b, p, IT_TIMEOUT_MS), 0);
    ASSERT_ERR(lk_recv(b, f, IT_TIMEOUT_MS), 0);
    cr_assert_lt(cn_now_ms() - t0, 3000, "took %llu ms", (unsigned long long)(cn_now_ms() - t0));
    /* and a new session of the same mount competes with b as anyone else */
    int a2 = it_client();
    ASSERT_ERR(px(a2, ino, 1, CN_LK_RDLCK, 15, 15), -EAGAIN);
    ASSERT_ERR(lk(a2, ino, 5, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0);
    ASSERT_ERR(lk(a2, ino, 7, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), -EAGAIN);
    close(a2);
    close(b);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: a waiter whose own connection closes is dropped, and does not
 * later take the lock from others. */
Test(master_locks, waiter_connection_closes)
{
    int a = it_client(), b = it_client(), c = it_client();
    uint64_t ino = mkfile(a, "f");
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 0, 0), 0);
    lk_send(b, ino, 1, CN_LK_POSIX, CN_LK_WRLCK, 0, 0, 31);
    struct cn_getlk_r r;
    getlk(c, ino, 1, 0, 0, &r); /* a round trip on the master: b's LOCK is queued */
    close(b);
    getlk(c, ino, 1, 0, 0, &r);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 0, 0), 0);
    ASSERT_ERR(px(c, ino, 1, CN_LK_WRLCK, 0, 0), 0);
    close(a);
    close(c);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: bad requests are refused with an error, not a crash or a lock. */
Test(master_locks, bad_requests)
{
    int a = it_client();
    uint64_t ino = mkfile(a, "f");
    ASSERT_ERR(px(a, 999999, 1, CN_LK_WRLCK, 0, 0), -ENOENT);
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 10, 9), -EINVAL);
    ASSERT_ERR(lk(a, ino, 1, 7, CN_LK_WRLCK, 0, 0), -EINVAL);
    ASSERT_ERR(px(a, ino, 1, 3, 0, 0), -EINVAL);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 0, EOF_), 0); /* unlock of nothing */
    ASSERT_ERR(px(a, ino, 1, CN_LK_WRLCK, 0, UINT64_MAX), 0);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, UINT64_MAX, UINT64_MAX), 0);
    ASSERT_ERR(px(a, ino, 1, CN_LK_UNLCK, 0, 0), 0);
    close(a);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: a flock conversion that fails drops the old lock first, as Linux
 * does (two sharers upgrading cannot deadlock), and GETLK reports flock
 * locks as whole-file ones. */
Test(master_locks, flock_conversion_and_getlk)
{
    int a = it_client(), b = it_client();
    uint64_t ino = mkfile(a, "f");
    ASSERT_ERR(lk(a, ino, 1, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0);
    ASSERT_ERR(lk(b, ino, 1, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0);
    ASSERT_ERR(lk(a, ino, 1, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), -EAGAIN); /* a's LOCK_SH is gone */
    ASSERT_ERR(lk(b, ino, 1, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), 0);
    struct cn_getlk m = {ino, 1, 5, 6, 1, CN_LK_FLOCK, CN_LK_RDLCK};
    struct cn_getlk_r r;
    ASSERT_ERR(it_call(a, CN_MSG_GETLK, &m, &r), 0);
    cr_assert_eq(r.type, CN_LK_WRLCK);
    cr_assert(r.start == 0 && r.end == UINT64_MAX, "%llu..%llu", (unsigned long long)r.start,
              (unsigned long long)r.end);
    cr_assert_neq(r.session, 0);
    /* a blocked upgrade waits without its old lock, and gets it at b's unlock */
    ASSERT_ERR(lk(b, ino, 1, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0); /* downgrade */
    ASSERT_ERR(lk(a, ino, 1, CN_LK_FLOCK, CN_LK_RDLCK, 0, 0), 0);
    uint64_t id = lk_send(a, ino, 1, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0, 41);
    ASSERT_ERR(lk_recv(a, id, 200), -ETIMEDOUT);
    ASSERT_ERR(lk(b, ino, 1, CN_LK_FLOCK, CN_LK_WRLCK, 0, 0), 0); /* a's LOCK_SH went */
    ASSERT_ERR(lk(b, ino, 1, CN_LK_FLOCK, CN_LK_UNLCK, 0, 0), 0);
    ASSERT_ERR(lk_recv(a, id, IT_TIMEOUT_MS), 0);
    close(a);
    close(b);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}
