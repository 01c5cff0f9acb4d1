/*
 * lc_core.c - libcairn's I/O thread: the master connection that heals
 * itself, one connection per chunkserver, and the request queue between
 * callers and the loop.
 *
 * Invariants:
 *  1. Every lc_op handed to lc_submit() is finished exactly once (op_finish),
 *     with a reply, an error, or -EIO once its master deadline passed.
 *  2. A master request whose connection dropped, or that could not be sent
 *     because the master is down, waits in m->waitq and is sent again after
 *     the next successful HELLO; it never waits past its deadline (the sweep
 *     timer checks every 250 ms).
 *  3. Chunkserver requests are tried once: the data path above decides where
 *     to try next. A chunkserver that refused a connection is not dialled
 *     again for CS_RETRY_MS; requests meanwhile fail at once, so failover to
 *     another copy is immediate.
 *  4. A connection attempt that outlives its timeout is abandoned by
 *     generation number: a late success is closed, never used.
 *  5. The exception to 2 is a session-bound request (op->session_bound: an
 *     unlock or a lock cancel): when the master is not connected, or the
 *     connection drops before the reply, it finishes at once as done, with
 *     an empty reply. Its session is gone, and the master drops a
 *     session's locks and waiters when its connection ends: a close() must
 *     not wait for a master that is down to unlock what it no longer holds.
 *  6. A request sent with a caller (op->cred) is preceded on the same
 *     connection by a CREDS with the caller's groups unless m->creds says
 *     this session has them; m->creds is emptied at each new session, so a
 *     request sent again after a reconnect brings its CREDS along
 *     (test_43_mount_acl, step 8).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_time.h"
#include "ec.h"
#include "lc_int.h"
#include "log.h"
#include "xmalloc.h"

#define CS_CONNECT_MS 3000
#define CS_RETRY_MS   1000
#define MASTER_TRY_MS 20000 /* one attempt of a master request */
#define SWEEP_MS      250

enum { ST_DOWN, ST_CONNECTING, ST_HELLO, ST_UP };

/* What this session's master was told of one uid's groups (CREDS slot). */
struct lc_creds_slot {
    int used;
    uint32_t uid, ngroups;
    uint32_t groups[CN_CREDS_GROUPS];
};

struct lc_master {
    struct cn_conn *conn;
    int state;
    uint64_t gen;
    struct lc_creds_slot creds[CN_CREDS_SLOTS]; /* emptied with each new session */
    uint32_t creds_next;                        /* slot to reuse when all are taken */
    struct lc_op *waitq, **wtail;
    uint32_t backoff_ms;
    uint64_t retry_at; /* next connection attempt (ms), 0 = now */
    uint64_t connect_deadline;
    char last_err[160];
};

struct lc_cs {
    struct lc_cs *next;
    char addr[280];
    struct cn_conn *conn;
    int state;
    uint64_t gen;
    uint64_t connect_deadline;
    uint64_t down_until; /* invariant 3 */
    int down_err;
    struct lc_op *waitq, **wtail;
};

struct attempt {
    struct lc *c;
    struct lc_cs *cs; /* NULL: the master */
    uint64_t gen;
};

uint64_t lc_now_ms(void)
{
    return cn_now_ms();
}

void lc_op_init(struct lc_op *op)
{
    memset(op, 0, sizeof(*op));
    pthread_mutex_init(&op->mu, NULL);
    pthread_cond_init(&op->cv, NULL);
}

void lc_op_release(struct lc_op *op)
{
    cn_buf_release(&op->payload);
    cn_buf_release(&op->reply);
    pthread_mutex_destroy(&op->mu);
    pthread_cond_destroy(&op->cv);
}

/* Invariant 1. */
static void op_finish(struct lc_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void op_finish(struct lc_op *op, int status, const char *fmt, ...)
{
    op->status = status;
    if (fmt && !op->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(op->err, sizeof(op->err), fmt, ap);
        va_end(ap);
    }
    if (op->done) {
        op->done(op);
        return;
    }
    pthread_mutex_lock(&op->mu);
    op->finished = 1;
    pthread_cond_signal(&op->cv);
    pthread_mutex_unlock(&op->mu);
}

/* Invariant 5: a session-bound request whose session ended. */
static void finish_unsent(struct lc_op *op)
{
    op->rtype = op->type | CN_MSG_REPLY;
    cn_buf_reset(&op->reply);
    op_finish(op, 0, NULL);
}

static void take_reply(struct lc_op *op, int status, const struct cn_frame_hdr *h,
                       const uint8_t *payload)
{
    op->rtype = h->type;
    cn_buf_reset(&op->reply);
    cn_put_raw(&op->reply, payload, h->len);
    if (h->type == CN_MSG_ERROR) {
        struct cn_error e;
        if (cn_msg_decode(CN_MSG_ERROR, payload, h->len, &e) == 0) {
            op->wire_status = e.status;
            snprintf(op->err, sizeof(op->err), "%.*s", (int)e.text.len, e.text.ptr);
        }
        if (!status)
            status = -EPROTO;
    }
    op_finish(op, status, NULL);
}

/* ---- the master ----------------------------------------------------------- */

static void master_send(struct lc *c, struct lc_op *op);
static void master_connect(struct lc *c);

static void wq_push(struct lc_op **head, struct lc_op ***tail, struct lc_op *op)
{
    op->next = NULL;
    if (!*head) {
        *head = op;
    } else {
        **tail = op;
    }
    *tail = &op->next;
}

static void master_queue(struct lc *c, struct lc_op *op)
{
    struct lc_master *m = c->m;
    if (!m->waitq)
        m->wtail = &m->waitq;
    wq_push(&m->waitq, &m->wtail, op);
}

/* Fail what waited too long (invariant 2); with all=1, everything. */
static void master_sweep(struct lc *c, int all)
{
    struct lc_master *m = c->m;
    uint64_t now = lc_now_ms();
    struct lc_op *keep = NULL, **kt = &keep, *expired = NULL;
    for (struct lc_op *op = m->waitq, *nx; op; op = nx) {
        nx = op->next;
        op->next = NULL;
        if (all || now >= op->deadline_ms || __atomic_load_n(&op->cancel, __ATOMIC_ACQUIRE)) {
            op->next = expired;
            expired = op;
        } else {
            *kt = op;
            kt = &op->next;
        }
    }
    m->waitq = keep;
    m->wtail = kt;
    while (expired) {
        struct lc_op *op = expired;
        expired = op->next;
        if (!all && __atomic_load_n(&op->cancel, __ATOMIC_ACQUIRE)) {
            op_finish(op, -EINTR, "interrupted while the master was unreachable");
            continue;
        }
        op_finish(op, -EIO, "master %s unreachable%s%s", c->master_str, m->last_err[0] ? ": " : "",
                  m->last_err);
    }
}

static void master_down(struct lc *c, const char *why)
{
    struct lc_master *m = c->m;
    if (why)
        snprintf(m->last_err, sizeof(m->last_err), "%s", why);
    m->state = ST_DOWN;
    m->conn = NULL;
    m->gen++;
    m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 100;
    if (m->backoff_ms > 1000)
        m->backoff_ms = 1000;
    m->retry_at = lc_now_ms() + m->backoff_ms;
}

static void on_mreply(struct cn_conn *conn, int status, const struct cn_frame_hdr *h,
                      const uint8_t *payload, void *ud)
{
    struct lc_op *op = ud;
    if (h) {
        take_reply(op, status, h, payload);
        return;
    }
    /* No reply: the connection died or the attempt timed out (invariant 2). */
    struct lc *cl = cn_conn_data(conn);
    if (status == -ETIMEDOUT)
        cn_conn_close(conn, -ETIMEDOUT);
    if (op->session_bound) {
        finish_unsent(op);
        return;
    }
    pthread_mutex_lock(&cl->qmu);
    int stopping = cl->stopping;
    pthread_mutex_unlock(&cl->qmu);
    if (stopping) { /* lc_close closed the connection: nothing is sent again */
        op_finish(op, -ESHUTDOWN, "client is shutting down");
        return;
    }
    LC_STAT_ADD(cl, master_retries, 1);
    op->attempts++;
    if (lc_now_ms() >= op->deadline_ms) {
        op_finish(op, -EIO, "master %s did not answer in time", cl->master_str);
        return;
    }
    master_queue(cl, op);
}

static void on_creds_reply(struct cn_conn *conn, int status, const struct cn_frame_hdr *h,
                           const uint8_t *payload, void *ud)
{
    (void)conn;
    (void)payload;
    (void)ud;
    if (status || (h && h->type != CN_MSG_CREDS_R))
        cn_log_warn("libcairn",
                    "CREDS refused by the master: %s (groups of one user are not "
                    "checked there until its next change)",
                    cn_strerror(status ? status : -EPROTO));
}

/* Before a request of u: a CREDS with u's groups unless this session's
 * master has them already. Frames of one connection are handled in order,
 * so the request that follows sees them; a reconnect empties the table and
 * the request, sent again, brings its CREDS along. */
static void creds_sync(struct lc *c, const struct lc_cred *u)
{
    struct lc_master *m = c->m;
    uint32_t n = u->ngroups < CN_CREDS_GROUPS ? u->ngroups : CN_CREDS_GROUPS;
    struct lc_creds_slot *s = NULL;
    for (uint32_t i = 0; i < CN_CREDS_SLOTS && !s; i++)
        if (m->creds[i].used && m->creds[i].uid == u->uid)
            s = &m->creds[i];
    if (s && s->ngroups == n && !memcmp(s->groups, u->groups, n * sizeof(uint32_t)))
        return;
    for (uint32_t i = 0; i < CN_CREDS_SLOTS && !s; i++)
        if (!m->creds[i].used)
            s = &m->creds[i];
    if (!s)
        s = &m->creds[m->creds_next++ % CN_CREDS_SLOTS];
    struct cn_gid g[CN_CREDS_GROUPS];
    for (uint32_t i = 0; i < n; i++)
        g[i].gid = u->groups[i];
    struct cn_creds cm = {(uint32_t)(s - m->creds), u->uid, g, n};
    s->used = 0;
    if (cn_conn_call(m->conn, CN_MSG_CREDS, &cm, c->o.connect_timeout_ms, on_creds_reply, NULL))
        return; /* the request fails the same way and comes back after a reconnect */
    s->used = 1;
    s->uid = u->uid;
    s->ngroups = n;
    memcpy(s->groups, u->groups, n * sizeof(uint32_t));
}

static void master_send(struct lc *c, struct lc_op *op)
{
    if (op->cred)
        creds_sync(c, op->cred);
    uint64_t now = lc_now_ms();
    uint64_t left = op->deadline_ms > now ? op->deadline_ms - now : 1;
    uint32_t try_ms = op->try_ms ? op->try_ms : MASTER_TRY_MS;
    uint32_t t = left < try_ms ? (uint32_t)left : try_ms;
    LC_STAT_ADD(c, master_calls, 1);
    int rc = cn_conn_call_payload(c->m->conn, op->type, op->payload.data, op->payload.len, t,
                                  on_mreply, op);
    if (rc == -EPIPE && op->session_bound) {
        finish_unsent(op);
        return;
    }
    if (rc == -EPIPE) {
        master_queue(c, op);
        return;
    }
    if (rc)
        op_finish(op, rc, "send to master: %s", cn_strerror(rc));
}

static void master_flush(struct lc *c)
{
    struct lc_master *m = c->m;
    struct lc_op *q = m->waitq;
    m->waitq = NULL;
    m->wtail = &m->waitq;
    while (q) {
        struct lc_op *op = q;
        q = op->next;
        op->next = NULL;
        if (__atomic_load_n(&op->cancel, __ATOMIC_ACQUIRE))
            op_finish(op, -EINTR, "interrupted while the master was unreachable");
        else if (m->state == ST_UP)
            master_send(c, op);
        else
            master_queue(c, op);
    }
}

/* A frame no call waits for, on any connection: a reply after its attempt
 * timed out is dropped; a request is refused. */
static void on_unasked(struct cn_conn *conn, const struct cn_frame_hdr *h, const uint8_t *payload,
                       void *ud)
{
    (void)payload;
    (void)ud;
    if (!(h->type & CN_MSG_REPLY))
        cn_conn_send_error(conn, h->req_id, CN_ST_UNSUPPORTED, "a client serves no requests");
}

/* Invariant 4: drop a connection attempt that is no longer the current one. */
static void attempt_drop(struct attempt *a, struct cn_conn *conn)
{
    free(a);
    if (conn) {
        cn_conn_set_owner(conn, NULL, NULL);
        cn_conn_close(conn, 0);
    }
}

/* The first frame on a new connection; its reply goes to cb with `a`. */
static int send_hello(struct lc *c, struct cn_conn *conn, uint32_t timeout_ms, cn_reply_cb cb,
                      struct attempt *a)
{
    struct cn_hello hm = {CN_ROLE_CLIENT,
                          CN_WIRE_VERSION_MIN,
                          CN_WIRE_VERSION,
                          cn_str_of(c->o.name ? c->o.name : "libcairn"),
                          {0},
                          {0}};
    return cn_conn_call(conn, CN_MSG_HELLO, &hm, timeout_ms, cb, a);
}

static void on_reopen_reply(struct cn_conn *conn, int status, const struct cn_frame_hdr *h,
                            const uint8_t *payload, void *ud)
{
    (void)conn;
    (void)h;
    (void)payload;
    (void)ud;
    if (status)
        cn_log_warn("libcairn", "REOPEN refused by the master: %s", cn_strerror(status));
}

/* A new session: claim the handles still open (one entry per handle), so
 * files unlinked while open survive the reconnect. Sent before any queued
 * request; frames of one connection are handled in order. */
static void send_reopen(struct lc *c, struct cn_conn *conn)
{
    struct cn_reopen r = {NULL, 0};
    uint32_t cap = 0;
    pthread_mutex_lock(&c->imu);
    for (size_t h = 0; h < sizeof(c->itab) / sizeof(c->itab[0]); h++)
        for (struct lc_inode *in = c->itab[h]; in; in = in->hnext)
            for (int k = 0; k < in->nopen; k++) {
                if (r.ninos == cap) {
                    cap = cap ? cap * 2 : 64;
                    r.inos = cn_xrealloc(r.inos, cap * sizeof(*r.inos));
                }
                r.inos[r.ninos++].ino = in->ino;
            }
    pthread_mutex_unlock(&c->imu);
    if (r.ninos) {
        int rc =
            cn_conn_call(conn, CN_MSG_REOPEN, &r, c->o.connect_timeout_ms, on_reopen_reply, NULL);
        if (rc)
            cn_log_warn("libcairn", "cannot send REOPEN (%u handles): %s", r.ninos,
                        cn_strerror(rc));
    }
    free(r.inos);
}

static void on_mclose(struct cn_conn *conn, int err, void *ud)
{
    struct lc *c = ud;
    struct lc_master *m = c->m;
    if (m->conn != conn)
        return;
    char why[160];
    snprintf(why, sizeof(why), "connection lost (%s)", err ? cn_strerror(err) : "closed");
    master_down(c, why);
    LC_STAT_ADD(c, master_reconnects, 1);
}

static const struct cn_conn_ops master_ops = {on_unasked, on_mclose};

static void on_mhello(struct cn_conn *conn, int status, const struct cn_frame_hdr *h,
                      const uint8_t *payload, void *ud)
{
    struct attempt *a = ud;
    struct lc *c = a->c;
    struct lc_master *m = c->m;
    int mine = a->gen == m->gen && m->conn == conn;
    free(a);
    if (!mine)
        return;
    if (status || !h || h->type != CN_MSG_HELLO_R) {
        char why[160];
        struct cn_error e;
        if (h && h->type == CN_MSG_ERROR && cn_msg_decode(CN_MSG_ERROR, payload, h->len, &e) == 0)
            snprintf(why, sizeof(why), "handshake refused: %.*s", (int)e.text.len, e.text.ptr);
        else
            snprintf(why, sizeof(why), "handshake failed: %s",
                     cn_strerror(status ? status : -EPROTO));
        m->conn = NULL;
        cn_conn_close(conn, 0);
        master_down(c, why);
        return;
    }
    m->state = ST_UP;
    m->backoff_ms = 0;
    m->last_err[0] = 0;
    memset(m->creds, 0, sizeof(m->creds)); /* a new session knows no groups */
    send_reopen(c, conn);
    master_flush(c);
}

static void on_mconnect(struct cn_conn *conn, int status, void *ud)
{
    struct attempt *a = ud;
    struct lc *c = a->c;
    struct lc_master *m = c->m;
    if (a->gen != m->gen || m->state != ST_CONNECTING) {
        attempt_drop(a, conn);
        return;
    }
    if (status) {
        char why[160];
        snprintf(why, sizeof(why), "%s", cn_strerror(status));
        free(a);
        master_down(c, why);
        return;
    }
    m->conn = conn;
    m->state = ST_HELLO;
    cn_conn_set_owner(conn, &master_ops, c);
    int rc = send_hello(c, conn, c->o.connect_timeout_ms, on_mhello, a);
    if (rc) {
        free(a);
        m->conn = NULL;
        cn_conn_close(conn, rc);
        master_down(c, "could not send HELLO");
    }
}

static void master_connect(struct lc *c)
{
    struct lc_master *m = c->m;
    struct attempt *a = cn_xcalloc(1, sizeof(*a));
    m->gen++;
    a->c = c;
    a->gen = m->gen;
    m->state = ST_CONNECTING;
    m->connect_deadline = lc_now_ms() + c->o.connect_timeout_ms;
    int rc = cn_conn_connect(&c->loop, &c->master_addr, &master_ops, on_mconnect, a);
    if (rc) {
        free(a);
        master_down(c, cn_strerror(rc));
    }
}

/* ---- chunkservers --------------------------------------------------------- */

static struct lc_cs *cs_get(struct lc *c, const char *addr)
{
    for (struct lc_cs *s = c->cs; s; s = s->next)
        if (!strcmp(s->addr, addr))
            return s;
    struct lc_cs *s = cn_xcalloc(1, sizeof(*s));
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->wtail = &s->waitq;
    s->next = c->cs;
    c->cs = s;
    return s;
}

static void cs_fail_all(struct lc_cs *s, int err)
{
    struct lc_op *q = s->waitq;
    s->waitq = NULL;
    s->wtail = &s->waitq;
    while (q) {
        struct lc_op *op = q;
        q = op->next;
        op_finish(op, err, "chunkserver %s: %s", s->addr, cn_strerror(err));
    }
}

static void cs_down(struct lc_cs *s, int err)
{
    s->state = ST_DOWN;
    s->conn = NULL;
    s->gen++;
    s->down_until = lc_now_ms() + CS_RETRY_MS;
    s->down_err = err;
    cs_fail_all(s, err);
}

static void on_csreply(struct cn_conn *conn, int status, const struct cn_frame_hdr *h,
                       const uint8_t *payload, void *ud)
{
    (void)conn;
    struct lc_op *op = ud;
    if (h) {
        take_reply(op, status, h, payload);
        return;
    }
    op_finish(op, status ? status : -EIO, "chunkserver %s: %s", op->addr, cn_strerror(status));
}

int lc_encode_framed(struct lc_op *op, uint16_t type, const void *msg, size_t size_hint)
{
    cn_buf_reset(&op->payload);
    cn_buf_reserve(&op->payload, CN_WIRE_HDR_SIZE + size_hint);
    uint8_t room[CN_WIRE_HDR_SIZE] = {0};
    cn_put_raw(&op->payload, room, sizeof(room));
    op->type = type;
    return cn_msg_encode(&op->payload, type, msg);
}

static void cs_send(struct lc_cs *s, struct lc_op *op)
{
    int rc = cn_conn_call_owned(s->conn, op->type, &op->payload, op->timeout_ms, on_csreply, op);
    if (rc)
        op_finish(op, rc, "send to chunkserver %s: %s", s->addr, cn_strerror(rc));
}

static void on_csclose(struct cn_conn *conn, int err, void *ud)
{
    struct lc_cs *s = ud;
    if (s->conn != conn)
        return;
    s->state = ST_DOWN;
    s->conn = NULL;
    s->gen++;
    (void)err;
}

static const struct cn_conn_ops cs_ops = {on_unasked, on_csclose};

static void on_cshello(struct cn_conn *conn, int status, const struct cn_frame_hdr *h,
                       const uint8_t *payload, void *ud)
{
    (void)payload;
    struct attempt *a = ud;
    struct lc_cs *s = a->cs;
    int mine = a->gen == s->gen && s->conn == conn;
    free(a);
    if (!mine)
        return;
    if (status || !h || h->type != CN_MSG_HELLO_R) {
        s->conn = NULL;
        cn_conn_close(conn, 0);
        cs_down(s, status ? status : -EPROTO);
        return;
    }
    s->state = ST_UP;
    struct lc_op *q = s->waitq;
    s->waitq = NULL;
    s->wtail = &s->waitq;
    while (q) {
        struct lc_op *op = q;
        q = op->next;
        cs_send(s, op);
    }
}

static void on_csconnect(struct cn_conn *conn, int status, void *ud)
{
    struct attempt *a = ud;
    struct lc_cs *s = a->cs;
    struct lc *c = a->c;
    if (a->gen != s->gen || s->state != ST_CONNECTING) {
        attempt_drop(a, conn);
        return;
    }
    if (status) {
        free(a);
        cs_down(s, status);
        return;
    }
    s->conn = conn;
    s->state = ST_HELLO;
    cn_conn_set_read_buffer(conn, 512u << 10);
    cn_conn_set_owner(conn, &cs_ops, s);
    int rc = send_hello(c, conn, CS_CONNECT_MS, on_cshello, a);
    if (rc) {
        free(a);
        s->conn = NULL;
        cn_conn_close(conn, rc);
        cs_down(s, rc);
    }
}

static void cs_dispatch(struct lc *c, struct lc_op *op)
{
    struct lc_cs *s = cs_get(c, op->addr);
    if (s->state == ST_UP) {
        cs_send(s, op);
        return;
    }
    if (s->state == ST_DOWN && lc_now_ms() < s->down_until) { /* invariant 3 */
        op_finish(op, s->down_err ? s->down_err : -ECONNREFUSED, "chunkserver %s: %s", s->addr,
                  cn_strerror(s->down_err ? s->down_err : -ECONNREFUSED));
        return;
    }
    wq_push(&s->waitq, &s->wtail, op);
    if (s->state != ST_DOWN)
        return;
    struct cn_addr a;
    if (cn_parse_addr(s->addr, 0, &a) || !a.port) {
        cs_down(s, -EINVAL);
        return;
    }
    struct attempt *at = cn_xcalloc(1, sizeof(*at));
    s->gen++;
    at->c = c;
    at->cs = s;
    at->gen = s->gen;
    s->state = ST_CONNECTING;
    s->connect_deadline = lc_now_ms() + CS_CONNECT_MS;
    int rc = cn_conn_connect(&c->loop, &a, &cs_ops, on_csconnect, at);
    if (rc) {
        free(at);
        cs_down(s, rc);
    }
}

/* ---- the loop --------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct lc *c = t->data;
    struct lc_master *m = c->m;
    uint64_t now = lc_now_ms();
    if (m->state == ST_CONNECTING && now >= m->connect_deadline)
        master_down(c, "connection attempt timed out");
    if (m->state != ST_UP)
        master_sweep(c, 0);
    if (m->state == ST_DOWN && m->waitq && now >= m->retry_at)
        master_connect(c);
    for (struct lc_cs *s = c->cs; s; s = s->next)
        if (s->state == ST_CONNECTING && now >= s->connect_deadline)
            cs_down(s, -ETIMEDOUT);
}

static void on_wake(uv_async_t *w)
{
    struct lc *c = w->data;
    pthread_mutex_lock(&c->qmu);
    struct lc_op *q = c->qhead;
    int stopping = c->stopping;
    c->qhead = c->qtail = NULL;
    pthread_mutex_unlock(&c->qmu);
    while (q) {
        struct lc_op *op = q;
        q = op->next;
        op->next = NULL;
        if (stopping) {
            op_finish(op, -ESHUTDOWN, "client is shutting down");
            continue;
        }
        if (!op->to_master) {
            cs_dispatch(c, op);
            continue;
        }
        if (c->m->state == ST_UP) {
            master_send(c, op);
            continue;
        }
        if (op->session_bound) {
            finish_unsent(op);
            continue;
        }
        master_queue(c, op);
        if (c->m->state == ST_DOWN && lc_now_ms() >= c->m->retry_at)
            master_connect(c);
    }
    if (!stopping)
        return;
    /* Shut down: close everything; the loop ends when the handles are gone. */
    master_sweep(c, 1);
    if (c->m->conn)
        cn_conn_close(c->m->conn, 0);
    c->m->conn = NULL;
    c->m->state = ST_DOWN;
    c->m->gen++;
    for (struct lc_cs *s = c->cs; s; s = s->next) {
        if (s->conn)
            cn_conn_close(s->conn, 0);
        s->gen++;
        s->state = ST_DOWN;
        s->conn = NULL;
        cs_fail_all(s, -ESHUTDOWN);
    }
    uv_timer_stop(&c->mtimer);
    uv_close((uv_handle_t *)&c->mtimer, NULL);
    uv_close((uv_handle_t *)&c->wake, NULL);
}

static void *io_main(void *arg)
{
    struct lc *c = arg;
    uv_run(&c->loop, UV_RUN_DEFAULT);
    return NULL;
}

void lc_submit(struct lc *c, struct lc_op *op)
{
    op->next = NULL;
    pthread_mutex_lock(&c->qmu);
    if (c->qtail)
        c->qtail->next = op;
    else
        c->qhead = op;
    c->qtail = op;
    pthread_mutex_unlock(&c->qmu);
    uv_async_send(&c->wake);
}

int lc_wait_call(struct lc *c, struct lc_op *op)
{
    op->finished = 0;
    op->done = NULL;
    lc_submit(c, op);
    pthread_mutex_lock(&op->mu);
    while (!op->finished)
        pthread_cond_wait(&op->cv, &op->mu);
    pthread_mutex_unlock(&op->mu);
    return op->status;
}

static int finish_decode(struct lc_op *op, uint16_t type, void *out)
{
    if (op->status) {
        if (op->status == -EPROTO && op->rtype == CN_MSG_ERROR)
            return -EIO;
        return op->status;
    }
    if (op->rtype != (type | CN_MSG_REPLY)) {
        snprintf(op->err, sizeof(op->err), "unexpected reply type 0x%04x to %s", op->rtype,
                 cn_msg_name(type));
        return op->status = -EPROTO;
    }
    if (out && cn_msg_decode(op->rtype, op->reply.data, op->reply.len, out)) {
        snprintf(op->err, sizeof(op->err), "malformed %s", cn_msg_name(op->rtype));
        return op->status = -EPROTO;
    }
    return 0;
}

int lc_mcall_prepare(struct lc *c, uint16_t type, const void *msg, struct lc_op *op)
{
    op->to_master = 1;
    op->type = type;
    cn_buf_reset(&op->payload);
    int rc = cn_msg_encode(&op->payload, type, msg);
    if (rc)
        return rc;
    if (!op->deadline_ms)
        op->deadline_ms = lc_now_ms() + c->o.master_timeout_ms;
    return 0;
}

int lc_mcall_decode(struct lc_op *op, uint16_t type, void *out)
{
    return finish_decode(op, type, out);
}

int lc_mcall(struct lc *c, uint16_t type, const void *msg, void *out, struct lc_op *op)
{
    int rc = lc_mcall_prepare(c, type, msg, op);
    if (rc)
        return rc;
    lc_wait_call(c, op);
    return finish_decode(op, type, out);
}

int lc_cscall(struct lc *c, const char *addr, uint16_t type, const void *msg, void *out,
              struct lc_op *op, uint32_t timeout_ms)
{
    op->to_master = 0;
    op->type = type;
    snprintf(op->addr, sizeof(op->addr), "%s", addr);
    op->timeout_ms = timeout_ms ? timeout_ms : c->o.cs_timeout_ms;
    int rc = lc_encode_framed(op, type, msg, 256);
    if (rc)
        return rc;
    lc_wait_call(c, op);
    return finish_decode(op, type, out);
}

int lc_open(const char *master, const struct lc_options *o, struct lc **out, char *err,
            size_t errlen)
{
    struct lc *c = cn_xcalloc(1, sizeof(*c));
    if (o)
        c->o = *o;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = 5000;
    if (!c->o.master_timeout_ms)
        c->o.master_timeout_ms = 60000;
    if (!c->o.cs_timeout_ms)
        c->o.cs_timeout_ms = 30000;
    if (!c->o.write_buffer_bytes)
        c->o.write_buffer_bytes = 64ull << 20;
    if (!c->o.readahead_bytes)
        c->o.readahead_bytes = 8u << 20;
    if (!c->o.flush_idle_ms)
        c->o.flush_idle_ms = 1000;
    if (!c->o.ec_slow_ms)
        c->o.ec_slow_ms = 2000;
    snprintf(c->master_str, sizeof(c->master_str), "%s", master);
    if (cn_parse_addr(master, 9421, &c->master_addr)) {
        snprintf(err, errlen, "bad master address '%s' (expected HOST:PORT)", master);
        free(c);
        return -EINVAL;
    }
    c->m = cn_xcalloc(1, sizeof(*c->m));
    c->m->wtail = &c->m->waitq;
    pthread_mutex_init(&c->qmu, NULL);
    pthread_mutex_init(&c->imu, NULL);
    pthread_mutex_init(&c->fmu, NULL);
    pthread_mutex_init(&c->ecmu, NULL);
    pthread_mutex_init(&c->slowmu, NULL);
    pthread_cond_init(&c->fcv, NULL);
    uv_loop_init(&c->loop);
    uv_async_init(&c->loop, &c->wake, on_wake);
    c->wake.data = c;
    uv_timer_init(&c->loop, &c->mtimer);
    c->mtimer.data = c;
    uv_timer_start(&c->mtimer, on_tick, SWEEP_MS, SWEEP_MS);
    if (pthread_create(&c->thr, NULL, io_main, c)) {
        snprintf(err, errlen, "cannot start the I/O thread");
        uv_close((uv_handle_t *)&c->wake, NULL);
        uv_close((uv_handle_t *)&c->mtimer, NULL);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
        free(c->m);
        free(c);
        return -EAGAIN;
    }
    /* The first call proves the master is there (connect + HELLO + PING). */
    struct lc_op op;
    lc_op_init(&op);
    op.deadline_ms = lc_now_ms() + c->o.connect_timeout_ms;
    struct cn_ping p = {0x636169726eull};
    int rc = lc_mcall(c, CN_MSG_PING, &p, NULL, &op);
    if (rc) {
        snprintf(err, errlen, "%s", op.err[0] ? op.err : cn_strerror(rc));
        lc_op_release(&op);
        lc_close(c);
        return rc == -EIO ? -EHOSTUNREACH : rc;
    }
    lc_op_release(&op);
    if (lc_flusher_start(c)) {
        snprintf(err, errlen, "cannot start the flusher thread");
        lc_close(c);
        return -EAGAIN;
    }
    *out = c;
    return 0;
}

void lc_close(struct lc *c)
{
    if (!c)
        return;
    lc_flusher_stop(c);
    pthread_mutex_lock(&c->qmu);
    c->stopping = 1;
    pthread_mutex_unlock(&c->qmu);
    uv_async_send(&c->wake);
    pthread_join(c->thr, NULL);
    uv_loop_close(&c->loop);
    lc_fh_free_all(c);
    for (struct lc_cs *s = c->cs, *n; s; s = n) {
        n = s->next;
        free(s);
    }
    for (size_t i = 0; i < sizeof(c->itab) / sizeof(c->itab[0]); i++)
        while (c->itab[i]) {
            struct lc_inode *in = c->itab[i];
            c->itab[i] = in->hnext;
            lc_inode_free(in);
        }
    free(c->m);
    ec_ctx_destroy(c->ec);
    pthread_mutex_destroy(&c->ecmu);
    pthread_mutex_destroy(&c->slowmu);
    pthread_mutex_destroy(&c->qmu);
    pthread_mutex_destroy(&c->imu);
    pthread_mutex_destroy(&c->fmu);
    pthread_cond_destroy(&c->fcv);
    free(c);
}

void lc_get_stats(struct lc *c, struct lc_stats *out)
{
    uint64_t *src = (uint64_t *)&c->st, *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
