/*
 * peers.c - connections from this chunkserver to the next hops of write
 * chains (WRITE_BLOCK / COMMIT_PART forwarding).
 *
 * One connection per peer address, opened on first use, reused for every
 * later request and dropped when the peer closes it. Requests made while the
 * connection and its HELLO are still in flight wait in a queue; if the peer
 * cannot be reached, every waiting request is answered with the error at
 * once, so a write never hangs on a dead hop and never gets a partial ack.
 * Everything runs on the loop thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cs.h"
#include "log.h"
#include "xmalloc.h"

struct pending {
    uint16_t type;
    const void *msg;
    uint32_t timeout_ms;
    cn_reply_cb cb;
    void *ud;
    struct pending *next;
};

struct peer {
    char key[300];
    struct cs_ctx *ctx;
    struct cn_conn *c; /* NULL while connecting */
    int ready;         /* HELLO answered */
    struct pending *head, *tail;
    struct peer *next;
};

struct cs_peers {
    struct peer *list;
};

static const struct cn_conn_ops peer_ops;

static void unlink_peer(struct cs_ctx *ctx, struct peer *p)
{
    for (struct peer **pp = &ctx->peers->list; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* Answer every waiting request with status and forget the peer. */
static void fail_all(struct peer *p, int status)
{
    struct pending *q = p->head;
    p->head = p->tail = NULL;
    while (q) {
        struct pending *nx = q->next;
        q->cb(NULL, status, NULL, NULL, q->ud);
        free(q);
        q = nx;
    }
}

static void flush(struct peer *p)
{
    struct pending *q = p->head;
    p->head = p->tail = NULL;
    while (q) {
        struct pending *nx = q->next;
        int rc = cn_conn_call(p->c, q->type, q->msg, q->timeout_ms, q->cb, q->ud);
        if (rc)
            q->cb(NULL, rc, NULL, NULL, q->ud);
        free(q);
        q = nx;
    }
}

static void on_hello(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                     const uint8_t *payload, void *ud)
{
    struct peer *p = ud;
    if (status) {
        cn_log_warn("peers", "chunkserver %s refused the handshake: %s", p->key,
                    cn_strerror(status));
        if (c)
            cn_conn_close(c, 0); /* on_close fails the queue */
        return;
    }
    p->ready = 1;
    flush(p);
}

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    /* late replies after a timeout, or requests we do not serve here */
    (void)c, (void)h, (void)payload, (void)ud;
}

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct peer *p = ud;
    unlink_peer(p->ctx, p);
    fail_all(p, err ? err : -ECONNRESET);
    free(p);
}

static const struct cn_conn_ops peer_ops = {on_frame, on_close};

static void on_connect(struct cn_conn *c, int status, void *ud)
{
    struct peer *p = ud;
    if (status) {
        cn_log_warn("peers", "cannot reach chunkserver %s: %s", p->key, cn_strerror(status));
        unlink_peer(p->ctx, p);
        fail_all(p, status);
        free(p);
        return;
    }
    p->c = c;
    if (p->ctx->stopping) {
        cn_conn_close(c, 0);
        return;
    }
    struct cn_hello hello = {0};
    hello.role = CN_ROLE_CHUNKSERVER;
    hello.ver_min = CN_WIRE_VERSION_MIN;
    hello.ver_max = CN_WIRE_VERSION;
    hello.name = cn_str_of(p->ctx->cfg.name ? p->ctx->cfg.name : "cairn-chunkserver");
    int rc = cn_conn_call(c, CN_MSG_HELLO, &hello, 10000, on_hello, p);
    if (rc)
        cn_conn_close(c, rc);
}

void cs_peer_call(struct cs_ctx *ctx, struct cn_str addr, uint16_t type, const void *msg,
                  uint32_t timeout_ms, cn_reply_cb cb, void *ud)
{
    char key[300];
    struct cn_addr a;
    if (addr.len >= sizeof(key)) {
        cb(NULL, -EINVAL, NULL, NULL, ud);
        return;
    }
    memcpy(key, addr.ptr, addr.len);
    key[addr.len] = 0;
    struct peer *p;
    for (p = ctx->peers->list; p; p = p->next)
        if (!strcmp(p->key, key))
            break;
    if (!p) {
        if (cn_parse_addr(key, 0, &a) || !a.port) {
            cb(NULL, -EINVAL, NULL, NULL, ud);
            return;
        }
        p = cn_xcalloc(1, sizeof(*p));
        memcpy(p->key, key, addr.len + 1);
        p->ctx = ctx;
        int rc = cn_conn_connect(ctx->loop, &a, &peer_ops, on_connect, p);
        if (rc) {
            free(p);
            cb(NULL, rc, NULL, NULL, ud);
            return;
        }
        p->next = ctx->peers->list;
        ctx->peers->list = p;
    }
    if (p->ready) {
        int rc = cn_conn_call(p->c, type, msg, timeout_ms, cb, ud);
        if (rc)
            cb(NULL, rc, NULL, NULL, ud);
        return;
    }
    struct pending *q = cn_xcalloc(1, sizeof(*q));
    q->type = type;
    q->msg = msg;
    q->timeout_ms = timeout_ms;
    q->cb = cb;
    q->ud = ud;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
}

int cs_peers_init(struct cs_ctx *ctx)
{
    ctx->peers = cn_xcalloc(1, sizeof(*ctx->peers));
    return 0;
}

void cs_peers_release(struct cs_ctx *ctx)
{
    if (!ctx->peers)
        return;
    /* close connected peers; their on_close frees them. Connecting ones
     * finish (and fail or close) while the loop drains. */
    for (struct peer *p = ctx->peers->list; p; p = p->next)
        if (p->c)
            cn_conn_close(p->c, 0);
}

void cs_peers_free(struct cs_ctx *ctx)
{
    free(ctx->peers);
    ctx->peers = NULL;
}

int cs_peer_open_sync(struct cs_ctx *ctx, const char *addr, int connect_ms, int call_ms)
{
    struct cn_addr a;
    if (cn_parse_addr(addr, 0, &a) < 0 || !a.port)
        return -EINVAL;
    int fd = cn_sock_connect(&a, connect_ms);
    if (fd < 0)
        return fd;
    struct cn_hello hello = {0};
    hello.role = CN_ROLE_CHUNKSERVER;
    hello.ver_min = CN_WIRE_VERSION_MIN;
    hello.ver_max = CN_WIRE_VERSION;
    hello.name = cn_str_of(ctx->cfg.name ? ctx->cfg.name : "cairn-chunkserver");
    struct cn_buf reply = {0};
    struct cn_frame_hdr rh;
    int rc = cn_sock_call(fd, CN_MSG_HELLO, 1, &hello, &rh, &reply, call_ms, NULL, 0);
    cn_buf_release(&reply);
    if (rc == 0 && rh.type != CN_MSG_HELLO_R)
        rc = CN_EMALFORMED;
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}
