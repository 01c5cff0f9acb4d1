/*
 * net.c - framed TCP connections on libuv, and blocking sockets (see net.h).
 *
 * Read path: libuv reads into one per-connection 64 KiB buffer; a frame that
 * lies wholly inside it is handed out in place (no copy, the common case for
 * metadata), and only a frame that spans reads is assembled in a payload
 * buffer sized from the already-validated header. The header is checked
 * before a single payload byte is buffered, so a hostile length can never
 * make us allocate more than the configured maximum.
 *
 * Lifetime: a connection is freed in its uv_close callback, never earlier, so
 * callbacks that close it mid-buffer leave valid memory; `closing` stops the
 * parse loop.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cn_time.h"
#include "log.h"

#define RBUF_SIZE (64u * 1024u)

struct cn_listener {
    uv_tcp_t tcp;
    cn_accept_cb cb;
    void *ud;
    uint16_t port;
};

/* An outstanding cn_conn_call(). Few are in flight per connection (a write
 * chain, a heartbeat), so a list is enough. */
struct pending {
    struct pending *next;
    uint64_t id;
    uint64_t deadline_ms;
    cn_reply_cb cb;
    void *ud;
};

struct cn_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* fires for the earliest call deadline */
    int handles_open; /* tcp + timer; freed when both are closed */
    struct pending *calls;
    uint64_t next_id;
    const struct cn_conn_ops *ops;
    void *ud;
    int closing;
    int paused;
    int close_err;
    uint8_t *stash; /* bytes read but not parsed while paused */
    size_t stash_len;
    uint32_t max_payload;
    size_t pending;
    /* frame assembly */
    uint8_t hdr[CN_WIRE_HDR_SIZE];
    size_t hdr_have;
    struct cn_frame_hdr h;
    int in_payload;
    uint8_t *payload;
    size_t payload_have;
    size_t payload_cap;
    uint8_t rbuf[RBUF_SIZE];
    uint8_t *rbig; /* a larger read buffer (cn_conn_set_read_buffer), used instead */
    size_t rbig_len;
    char peer[64];
};

struct wreq {
    uv_write_t req;
    struct cn_conn *c;
    size_t n;
    uint8_t *owned; /* a frame handed over by send_owned(), freed with the request */
    uint8_t data[];
};

static void fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        uv_ip4_name(in, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        uv_ip6_name(in6, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}

/* ---- connections -------------------------------------------------------- */

static struct cn_conn *conn_new(uv_loop_t *loop)
{
    struct cn_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (uv_tcp_init(loop, &c->tcp)) {
        free(c);
        return NULL;
    }
    uv_timer_init(loop, &c->timer); /* cannot fail */
    c->handles_open = 2;
    c->tcp.data = c;
    c->timer.data = c;
    c->next_id = 1;
    c->max_payload = CN_WIRE_MAX_PAYLOAD;
    snprintf(c->peer, sizeof(c->peer), "?");
    return c;
}

static void conn_set_peer(struct cn_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        fmt_sockaddr(&ss, c->peer, sizeof(c->peer));
}

/* Last handle closed: fail outstanding calls, tell the owner, free. */
static void on_conn_closed(uv_handle_t *h)
{
    struct cn_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    int err = c->close_err && c->close_err != UV_EOF ? c->close_err : -ECONNRESET;
    while (c->calls) {
        struct pending *p = c->calls;
        c->calls = p->next;
        p->cb(c, err, NULL, NULL, p->ud);
        free(p);
    }
    if (c->ops && c->ops->on_close)
        c->ops->on_close(c, c->close_err, c->ud);
    free(c->payload);
    free(c->stash);
    free(c->rbig);
    free(c);
}

void cn_conn_set_read_buffer(struct cn_conn *c, size_t size)
{
    if (c->rbig || size <= RBUF_SIZE)
        return; /* set once; the buffer may be in use by the read in progress */
    c->rbig = malloc(size);
    if (c->rbig)
        c->rbig_len = size;
}

/* Close both handles of a connection that never reached its owner. */
static void conn_discard(struct cn_conn *c)
{
    c->closing = 1;
    c->ops = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

void cn_conn_close(struct cn_conn *c, int err)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_err = err;
    if (err && err != UV_EOF)
        cn_log_warn("net", "%s: %s; closing connection", c->peer, cn_strerror(err));
    else
        cn_log_debug("net", "%s: connection closed", c->peer);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct cn_conn *c = h->data;
    if (c->rbig) {
        buf->base = (char *)c->rbig;
        buf->len = c->rbig_len;
        return;
    }
    buf->base = (char *)c->rbuf;
    buf->len = sizeof(c->rbuf);
}

/* Header complete in c->hdr: validate it. 0 or an error (connection closed). */
static int take_header(struct cn_conn *c)
{
    int rc = cn_wire_hdr_unpack(c->hdr, &c->h);
    if (!rc && c->h.len > c->max_payload)
        rc = CN_ETOOBIG;
    if (rc) {
        cn_conn_close(c, rc);
        return rc;
    }
    c->hdr_have = 0;
    c->in_payload = 1;
    c->payload_have = 0;
    return 0;
}

static void deliver(struct cn_conn *c, const uint8_t *payload)
{
    c->in_payload = 0;
    if (c->h.type & CN_MSG_REPLY) {
        for (struct pending **pp = &c->calls; *pp; pp = &(*pp)->next) {
            struct pending *p = *pp;
            if (p->id != c->h.req_id)
                continue;
            *pp = p->next;
            int status = 0;
            if (c->h.type == CN_MSG_ERROR) {
                struct cn_error e;
                status = cn_msg_decode(CN_MSG_ERROR, payload, c->h.len, &e);
                if (!status)
                    status = -cn_status_to_errno(e.status);
            }
            p->cb(c, status, &c->h, payload, p->ud);
            free(p);
            return;
        }
    }
    if (c->ops && c->ops->on_frame)
        c->ops->on_frame(c, &c->h, payload, c->ud);
}

/* Parse n bytes at p into frames. Stops early when the owner pauses the
 * connection; the unparsed rest is stashed for cn_conn_resume(). */
static void feed(struct cn_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->closing && !c->paused) {
        if (!c->in_payload) {
            /* Fast path: whole header and payload inside this read. */
            if (c->hdr_have == 0 && n >= CN_WIRE_HDR_SIZE) {
                memcpy(c->hdr, p, CN_WIRE_HDR_SIZE);
                p += CN_WIRE_HDR_SIZE;
                n -= CN_WIRE_HDR_SIZE;
            } else {
                size_t k = CN_WIRE_HDR_SIZE - c->hdr_have;
                if (k > n)
                    k = n;
                memcpy(c->hdr + c->hdr_have, p, k);
                c->hdr_have += k;
                p += k;
                n -= k;
                if (c->hdr_have < CN_WIRE_HDR_SIZE)
                    break;
            }
            if (take_header(c))
                return;
            if (c->h.len <= n) {
                const uint8_t *payload = p;
                p += c->h.len;
                n -= c->h.len;
                deliver(c, payload);
                continue;
            }
            if (c->payload_cap < c->h.len) {
                uint8_t *np = realloc(c->payload, c->h.len);
                if (!np) {
                    cn_conn_close(c, -ENOMEM);
                    return;
                }
                c->payload = np;
                c->payload_cap = c->h.len;
            }
        }
        size_t k = c->h.len - c->payload_have;
        if (k > n)
            k = n;
        memcpy(c->payload + c->payload_have, p, k);
        c->payload_have += k;
        p += k;
        n -= k;
        if (c->payload_have == c->h.len)
            deliver(c, c->payload);
    }
    if (n > 0 && c->paused && !c->closing) {
        /* p may point into the old stash: copy before freeing it. */
        uint8_t *st = malloc(n);
        if (!st) {
            cn_conn_close(c, -ENOMEM);
            return;
        }
        memcpy(st, p, n);
        free(c->stash);
        c->stash = st;
        c->stash_len = n;
    }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cn_conn *c = s->data;
    if (nread < 0) {
        cn_conn_close(c, (int)nread);
        return;
    }
    feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

void cn_conn_pause(struct cn_conn *c)
{
    if (c->paused || c->closing)
        return;
    c->paused = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
}

void cn_conn_resume(struct cn_conn *c)
{
    if (!c->paused || c->closing)
        return;
    c->paused = 0;
    if (c->stash) {
        uint8_t *st = c->stash;
        size_t n = c->stash_len;
        c->stash = NULL;
        c->stash_len = 0;
        feed(c, st, n); /* may pause again and re-stash a copy of the rest */
        free(st);
    }
    if (!c->paused && !c->closing) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc)
            cn_conn_close(c, rc);
    }
}

void cn_conn_start(struct cn_conn *c, const struct cn_conn_ops *ops, void *ud)
{
    c->ops = ops;
    c->ud = ud;
    if (c->paused)
        return; /* cn_conn_resume() starts reading */
    int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc)
        cn_conn_close(c, rc);
}

void cn_conn_set_owner(struct cn_conn *c, const struct cn_conn_ops *ops, void *ud)
{
    c->ops = ops;
    c->ud = ud;
}

void cn_conn_set_max_payload(struct cn_conn *c, uint32_t max)
{
    c->max_payload = max < CN_WIRE_MAX_PAYLOAD ? max : CN_WIRE_MAX_PAYLOAD;
}

static void write_cb(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct cn_conn *c = w->c;
    c->pending -= w->n;
    free(w->owned);
    free(w);
    if (status && status != UV_ECANCELED)
        cn_conn_close(c, status);
}

int cn_conn_send(struct cn_conn *c, const void *p, size_t n)
{
    if (c->closing)
        return -EPIPE;
    struct wreq *w = malloc(sizeof(*w) + n);
    if (!w)
        return -ENOMEM;
    w->c = c;
    w->n = n;
    w->owned = NULL;
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc) {
        free(w);
        cn_conn_close(c, rc);
        return rc;
    }
    c->pending += n;
    return 0;
}

static int send_owned(struct cn_conn *c, struct cn_buf *b);

/* Queue the frame in b without copying it: the write request takes b's
 * memory (b is left empty) and frees it when written. */
int cn_conn_send_owned(struct cn_conn *c, struct cn_buf *b)
{
    return send_owned(c, b);
}

static int send_owned(struct cn_conn *c, struct cn_buf *b)
{
    if (c->closing) {
        cn_buf_release(b);
        return -EPIPE;
    }
    struct wreq *w = malloc(sizeof(*w));
    if (!w) {
        cn_buf_release(b);
        return -ENOMEM;
    }
    w->c = c;
    w->n = b->len;
    w->owned = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    uv_buf_t ub = uv_buf_init((char *)w->owned, (unsigned)w->n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, write_cb);
    if (rc) {
        free(w->owned);
        free(w);
        cn_conn_close(c, rc);
        return rc;
    }
    c->pending += w->n;
    return 0;
}

int cn_conn_send_msg(struct cn_conn *c, uint16_t type, uint64_t req_id, const void *msg)
{
    struct cn_buf b = {0};
    int rc = cn_msg_frame(&b, type, req_id, msg);
    if (!rc)
        return send_owned(c, &b);
    cn_buf_release(&b);
    return rc;
}

int cn_conn_send_error(struct cn_conn *c, uint64_t req_id, enum cn_status st, const char *text)
{
    struct cn_error e = {(uint16_t)st, cn_str_of(text)};
    if (e.text.len > CN_WIRE_MAX_STR)
        e.text.len = CN_WIRE_MAX_STR;
    return cn_conn_send_msg(c, CN_MSG_ERROR, req_id, &e);
}

static void arm_timer(struct cn_conn *c);

static void on_call_timer(uv_timer_t *t)
{
    struct cn_conn *c = t->data;
    uint64_t now = cn_now_ms();
    struct pending *expired = NULL;
    for (struct pending **pp = &c->calls; *pp;) {
        struct pending *p = *pp;
        if (p->deadline_ms <= now) {
            *pp = p->next;
            p->next = expired;
            expired = p;
        } else {
            pp = &p->next;
        }
    }
    /* Callbacks run after the list is consistent: they may call again. */
    while (expired) {
        struct pending *p = expired;
        expired = p->next;
        if (!c->closing)
            p->cb(c, -ETIMEDOUT, NULL, NULL, p->ud);
        else
            p->cb(c, -ECONNRESET, NULL, NULL, p->ud);
        free(p);
    }
    if (!c->closing)
        arm_timer(c);
}

static void arm_timer(struct cn_conn *c)
{
    if (!c->calls) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t first = c->calls->deadline_ms;
    for (struct pending *p = c->calls; p; p = p->next)
        if (p->deadline_ms < first)
            first = p->deadline_ms;
    uint64_t now = cn_now_ms();
    uv_timer_start(&c->timer, on_call_timer, first > now ? first - now : 0, 0);
}

/* A call's bookkeeping, made before its frame is queued (so the frame can
 * carry the id) and linked by call_track() once the frame is queued. */
static struct pending *call_new(struct cn_conn *c, uint32_t timeout_ms, cn_reply_cb cb, void *ud)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->id = c->next_id++;
    p->cb = cb;
    p->ud = ud;
    p->deadline_ms = cn_now_ms() + timeout_ms;
    return p;
}

static void call_track(struct cn_conn *c, struct pending *p)
{
    p->next = c->calls;
    c->calls = p;
    arm_timer(c);
}

int cn_conn_call(struct cn_conn *c, uint16_t type, const void *msg, uint32_t timeout_ms,
                 cn_reply_cb cb, void *ud)
{
    if (c->closing)
        return -EPIPE;
    struct pending *p = call_new(c, timeout_ms, cb, ud);
    if (!p)
        return -ENOMEM;
    int rc = cn_conn_send_msg(c, type, p->id, msg);
    if (rc) {
        free(p);
        return rc;
    }
    call_track(c, p);
    return 0;
}

int cn_conn_call_payload(struct cn_conn *c, uint16_t type, const void *payload, size_t len,
                         uint32_t timeout_ms, cn_reply_cb cb, void *ud)
{
    if (len > CN_WIRE_MAX_PAYLOAD)
        return -EMSGSIZE;
    struct cn_buf f = {0};
    uint8_t room[CN_WIRE_HDR_SIZE] = {0};
    cn_buf_reserve(&f, sizeof(room) + len);
    cn_put_raw(&f, room, sizeof(room));
    cn_put_raw(&f, payload, len);
    return cn_conn_call_owned(c, type, &f, timeout_ms, cb, ud);
}

int cn_conn_call_owned(struct cn_conn *c, uint16_t type, struct cn_buf *frame, uint32_t timeout_ms,
                       cn_reply_cb cb, void *ud)
{
    if (frame->err || frame->len < CN_WIRE_HDR_SIZE ||
        frame->len - CN_WIRE_HDR_SIZE > CN_WIRE_MAX_PAYLOAD) {
        int err = frame->err == -ENOMEM ? -ENOMEM : -EMSGSIZE;
        cn_buf_release(frame);
        return err;
    }
    if (c->closing) {
        cn_buf_release(frame);
        return -EPIPE;
    }
    struct pending *p = call_new(c, timeout_ms, cb, ud);
    if (!p) {
        cn_buf_release(frame);
        return -ENOMEM;
    }
    struct cn_frame_hdr h = {CN_WIRE_VERSION, 0, type, p->id,
                             (uint32_t)(frame->len - CN_WIRE_HDR_SIZE)};
    cn_wire_hdr_pack(&h, frame->data);
    int rc = send_owned(c, frame);
    if (rc) {
        free(p);
        return rc;
    }
    call_track(c, p);
    return 0;
}

size_t cn_conn_pending(const struct cn_conn *c)
{
    return c->pending;
}

const char *cn_conn_peer(const struct cn_conn *c)
{
    return c->peer;
}

void *cn_conn_data(const struct cn_conn *c)
{
    return c->ud;
}

/* ---- listener ----------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_new_connection(uv_stream_t *server, int status)
{
    struct cn_listener *l = server->data;
    if (status < 0) {
        cn_log_warn("net", "accept on port %u: %s", (unsigned)l->port, uv_strerror(status));
        return;
    }
    struct cn_conn *c = conn_new(server->loop);
    if (!c) {
        cn_log_error("net", "accept on port %u: out of memory; connection dropped",
                     (unsigned)l->port);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        conn_discard(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_set_peer(c);
    cn_log_debug("net", "%s: connected to port %u", c->peer, (unsigned)l->port);
    l->cb(l, c, l->ud);
}

/* Resolve addr to a sockaddr (numeric or by name; "" = any). */
static int resolve(const struct cn_addr *a, int passive, struct sockaddr_storage *ss)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(port, sizeof(port), "%u", (unsigned)a->port);
    int rc = getaddrinfo(a->host[0] ? a->host : (passive ? NULL : "127.0.0.1"), port, &hints, &res);
    if (rc || !res)
        return -EHOSTUNREACH;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int cn_listener_open(uv_loop_t *loop, const struct cn_addr *addr, cn_accept_cb cb, void *ud,
                     struct cn_listener **out, char *err, size_t errlen)
{
    char where[300];
    struct sockaddr_storage ss;
    struct cn_listener *l = NULL;
    cn_addr_format(addr, where, sizeof(where));
    int rc = resolve(addr, 1, &ss);
    if (rc) {
        snprintf(err, errlen, "listen on %s: cannot resolve host %s", where, addr->host);
        return rc;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "listen on %s: out of memory", where);
        return -ENOMEM;
    }
    l->cb = cb;
    l->ud = ud;
    l->tcp.data = l;
    rc = uv_tcp_init(loop, &l->tcp);
    if (rc) {
        free(l);
        goto fail;
    }
    /* libuv sets SO_REUSEADDR on bind for TCP. */
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_new_connection);
    if (rc) {
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
        goto fail;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &blen);
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *out = l;
    return 0;
fail:
    snprintf(err, errlen, "listen on %s: %s (is another daemon using the port?)", where,
             uv_strerror(rc));
    return rc;
}

uint16_t cn_listener_port(const struct cn_listener *l)
{
    return l->port;
}

void cn_listener_close(struct cn_listener *l)
{
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

/* ---- outgoing connections ------------------------------------------------ */

struct connect_req {
    uv_getaddrinfo_t gai;
    uv_connect_t conn;
    struct cn_conn *c;
    const struct cn_conn_ops *ops;
    cn_connect_cb cb;
    void *ud;
};

static void on_connected(uv_connect_t *req, int status)
{
    struct connect_req *r = req->data;
    struct cn_conn *c = r->c;
    if (status) {
        conn_discard(c);
        r->cb(NULL, status, r->ud);
        free(r);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_set_peer(c);
    cn_conn_start(c, r->ops, r->ud);
    r->cb(c, 0, r->ud);
    free(r);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    struct connect_req *r = gai->data;
    int rc = status;
    if (!rc) {
        r->c = conn_new(gai->loop);
        rc = r->c ? 0 : -ENOMEM;
    }
    if (!rc) {
        r->conn.data = r;
        rc = uv_tcp_connect(&r->conn, &r->c->tcp, res->ai_addr, on_connected);
        if (rc)
            conn_discard(r->c);
    }
    uv_freeaddrinfo(res);
    if (rc) {
        r->cb(NULL, rc, r->ud);
        free(r);
    }
}

int cn_conn_connect(uv_loop_t *loop, const struct cn_addr *addr, const struct cn_conn_ops *ops,
                    cn_connect_cb on_connect, void *ud)
{
    struct connect_req *r = calloc(1, sizeof(*r));
    struct addrinfo hints;
    char port[8];
    if (!r)
        return -ENOMEM;
    r->ops = ops;
    r->cb = on_connect;
    r->ud = ud;
    r->gai.data = r;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", (unsigned)addr->port);
    int rc = uv_getaddrinfo(loop, &r->gai, on_resolved, addr->host[0] ? addr->host : "127.0.0.1",
                            port, &hints);
    if (rc)
        free(r);
    return rc;
}

/* ---- blocking sockets ---------------------------------------------------- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {fd, events, 0};
        int rc = poll(&pfd, 1, cn_ms_left(deadline));
        if (rc > 0)
            return 0;
        if (rc == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

int cn_sock_connect(const struct cn_addr *addr, int timeout_ms)
{
    struct sockaddr_storage ss;
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    int rc = resolve(addr, 0, &ss);
    if (rc)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    socklen_t sl =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
            goto fail;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc)
            goto fail;
        int soerr = 0;
        socklen_t el = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
        if (soerr) {
            rc = -soerr;
            goto fail;
        }
    }
    return fd;
fail:
    close(fd);
    return rc;
}

int cn_sock_send(int fd, const void *p, size_t n, int timeout_ms)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = send(fd, q, n, MSG_NOSIGNAL);
        if (w > 0) {
            q += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc)
            return rc;
    }
    return 0;
}

static int recv_exact(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0)
            return -ECONNRESET;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc)
            return rc;
    }
    return 0;
}

int cn_sock_recv_frame(int fd, struct cn_frame_hdr *h, struct cn_buf *payload, uint32_t max_payload,
                       int timeout_ms)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    uint8_t hdr[CN_WIRE_HDR_SIZE];
    int rc = recv_exact(fd, hdr, sizeof(hdr), deadline);
    if (rc)
        return rc;
    rc = cn_wire_hdr_unpack(hdr, h);
    if (rc)
        return rc;
    if (max_payload && h->len > max_payload)
        return CN_ETOOBIG;
    cn_buf_reset(payload);
    rc = cn_buf_reserve(payload, h->len);
    if (rc)
        return rc;
    rc = recv_exact(fd, payload->data, h->len, deadline);
    if (rc)
        return rc;
    payload->len = h->len;
    return 0;
}

int cn_sock_call(int fd, uint16_t type, uint64_t req_id, const void *msg, struct cn_frame_hdr *rh,
                 struct cn_buf *reply, int timeout_ms, char *err, size_t errlen)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    struct cn_buf b = {0};
    int rc = cn_msg_frame(&b, type, req_id, msg);
    if (!rc)
        rc = cn_sock_send(fd, b.data, b.len, timeout_ms);
    cn_buf_release(&b);
    if (rc)
        return rc;
    for (;;) {
        int left = cn_ms_left(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        rc = cn_sock_recv_frame(fd, rh, reply, 0, left);
        if (rc)
            return rc;
        if (rh->req_id != req_id)
            continue;
        if (rh->type != CN_MSG_ERROR)
            return 0;
        struct cn_error e;
        rc = cn_msg_decode(CN_MSG_ERROR, reply->data, reply->len, &e);
        if (rc)
            return rc;
        if (err && errlen)
            snprintf(err, errlen, "%s: %.*s", cn_status_name(e.status), (int)e.text.len,
                     e.text.ptr);
        return -cn_status_to_errno(e.status);
    }
}
