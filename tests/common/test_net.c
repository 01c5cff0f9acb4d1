/*
 * test_net.c - framed connections over loopback (127.0.0.1 only): a libuv
 * server on its own thread answers a blocking client; frames arrive whole
 * whether sent at once, pipelined or byte by byte; bad magic, oversize,
 * per-connection limits and undecodable payloads close the connection (and
 * only it); blocking calls time out; the async client connects and talks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cn_time.h"
#include "ec.h"
#include "log.h"
#include "net.h"

struct srv {
    uv_loop_t loop;
    uv_async_t stop;
    struct cn_listener *l;
    uint16_t port;
    uint32_t max_payload;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closes;
    int last_err;
    struct cn_conn *conns[64]; /* open connections (loop thread only) */
};

static void srv_on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *p,
                         void *ud)
{
    switch (h->type) {
    case CN_MSG_PING: {
        struct cn_ping m;
        int rc = cn_msg_decode(CN_MSG_PING, p, h->len, &m);
        if (rc) {
            cn_conn_close(c, rc);
            return;
        }
        cn_conn_send_msg(c, CN_MSG_PING_R, h->req_id, &m);
        return;
    }
    case CN_MSG_WRITE_BLOCK: {
        struct cn_write_block w;
        int rc = cn_msg_decode(CN_MSG_WRITE_BLOCK, p, h->len, &w);
        if (rc) {
            cn_conn_close(c, rc);
            return;
        }
        if (ec_crc32c(0, w.data.ptr, w.data.len) != w.crc) {
            cn_conn_send_error(c, h->req_id, CN_ST_BAD_CRC, "block 0: data CRC mismatch");
        } else {
            struct cn_empty e = {0};
            cn_conn_send_msg(c, CN_MSG_WRITE_BLOCK_R, h->req_id, &e);
        }
        cn_msg_free(CN_MSG_WRITE_BLOCK, &w);
        return;
    }
    case CN_MSG_HELLO:
        return; /* never answered: lets the client time out */
    default:
        cn_conn_send_error(c, h->req_id, CN_ST_UNSUPPORTED, "unknown message");
    }
}

static void srv_on_close(struct cn_conn *c, int err, void *ud)
{
    struct srv *s = ud;
    for (int i = 0; i < 64; i++)
        if (s->conns[i] == c)
            s->conns[i] = NULL;
    pthread_mutex_lock(&s->mu);
    s->closes++;
    s->last_err = err;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const struct cn_conn_ops srv_ops = {srv_on_frame, srv_on_close};

static void srv_on_accept(struct cn_listener *l, struct cn_conn *c, void *ud)
{
    struct srv *s = ud;
    if (s->max_payload)
        cn_conn_set_max_payload(c, s->max_payload);
    for (int i = 0; i < 64; i++) {
        if (!s->conns[i]) {
            s->conns[i] = c;
            break;
        }
    }
    cn_conn_start(c, &srv_ops, s);
}

/* Close everything so uv_run() returns and the loop closes cleanly. */
static void srv_stop_cb(uv_async_t *a)
{
    struct srv *s = a->data;
    cn_listener_close(s->l);
    for (int i = 0; i < 64; i++)
        if (s->conns[i])
            cn_conn_close(s->conns[i], 0);
    uv_close((uv_handle_t *)a, NULL);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static struct srv *srv_start(uint32_t max_payload)
{
    struct srv *s = calloc(1, sizeof(*s));
    char err[256];
    struct cn_addr a;
    cr_assert_eq(cn_parse_addr("127.0.0.1:0", 0, &a), 0);
    uv_loop_init(&s->loop);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->max_payload = max_payload;
    s->stop.data = s;
    uv_async_init(&s->loop, &s->stop, srv_stop_cb);
    int rc = cn_listener_open(&s->loop, &a, srv_on_accept, s, &s->l, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    s->port = cn_listener_port(s->l);
    cr_assert_neq(s->port, 0);
    pthread_create(&s->th, NULL, srv_main, s);
    return s;
}

/* Stop the loop thread after closing every handle; frees s. */
static void srv_stop(struct srv *s)
{
    uv_async_send(&s->stop);
    pthread_join(s->th, NULL);
    cr_assert_eq(uv_loop_close(&s->loop), 0, "no handle leaked");
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* Wait until the server has seen `n` closes; returns the last error. */
static int srv_wait_closes(struct srv *s, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&s->mu);
    while (s->closes < n)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts))
            break;
    int closes = s->closes, err = s->last_err;
    pthread_mutex_unlock(&s->mu);
    cr_assert_geq(closes, n, "server saw %d closes, wanted %d", closes, n);
    return err;
}

static int client(struct srv *s)
{
    struct cn_addr a = {"127.0.0.1", s->port};
    int fd = cn_sock_connect(&a, 2000);
    cr_assert_geq(fd, 0, "connect: %s", cn_strerror(fd));
    return fd;
}

static void ping(int fd, uint64_t token)
{
    struct cn_ping p = {token}, r;
    struct cn_frame_hdr h;
    struct cn_buf reply = {0};
    char err[128];
    int rc = cn_sock_call(fd, CN_MSG_PING, token, &p, &h, &reply, 2000, err, sizeof(err));
    cr_assert_eq(rc, 0, "ping: %s", cn_strerror(rc));
    cr_assert_eq(h.type, CN_MSG_PING_R);
    cr_assert_eq(cn_msg_decode(CN_MSG_PING_R, reply.data, reply.len, &r), 0);
    cr_assert_eq(r.token, token);
    cn_buf_release(&reply);
}

/* The server must have closed fd: reading gives EOF. */
static void expect_closed(int fd)
{
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    int rc = cn_sock_recv_frame(fd, &h, &b, 0, 3000);
    cr_assert_eq(rc, -ECONNRESET, "expected the server to close; got %s", cn_strerror(rc));
    cn_buf_release(&b);
}

static void quiet(void)
{
    struct cn_log_config cfg = {CN_LOG_ERROR, 1, NULL, 0, "test_net"};
    cn_log_init(&cfg);
}

TestSuite(net, .init = quiet, .timeout = 30);

Test(net, ping_pong, .description = "a request is answered with its id")
{
    struct srv *s = srv_start(0);
    int fd = client(s);
    ping(fd, 1);
    ping(fd, 0xdeadbeefcafeull);
    close(fd);
    srv_wait_closes(s, 1);
    srv_stop(s);
}

Test(net, pipelined_and_byte_by_byte, .description = "frame assembly across reads")
{
    struct srv *s = srv_start(0);
    int fd = client(s);
    struct cn_buf b = {0};
    for (uint64_t i = 1; i <= 200; i++) {
        struct cn_ping p = {i};
        cr_assert_eq(cn_msg_frame(&b, CN_MSG_PING, i, &p), 0);
    }
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, 2000), 0);
    struct cn_buf r = {0};
    for (uint64_t i = 1; i <= 200; i++) {
        struct cn_frame_hdr h;
        cr_assert_eq(cn_sock_recv_frame(fd, &h, &r, 0, 2000), 0);
        cr_assert_eq(h.req_id, i, "replies in order");
    }
    cn_buf_reset(&b);
    struct cn_ping p = {77};
    cn_msg_frame(&b, CN_MSG_PING, 77, &p);
    for (size_t i = 0; i < b.len; i++)
        cr_assert_eq(cn_sock_send(fd, b.data + i, 1, 2000), 0);
    struct cn_frame_hdr h;
    cr_assert_eq(cn_sock_recv_frame(fd, &h, &r, 0, 2000), 0);
    cr_assert_eq(h.req_id, 77);
    cn_buf_release(&b);
    cn_buf_release(&r);
    close(fd);
    srv_stop(s);
}

Test(net, megabyte_block_and_error_reply, .description = "1 MiB payload; ERROR maps to errno")
{
    struct srv *s = srv_start(0);
    int fd = client(s);
    static uint8_t data[1 << 20];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    struct cn_write_block w = {.chunk = 1,
                               .version = 1,
                               .crc = ec_crc32c(0, data, sizeof(data)),
                               .data = {data, sizeof(data)}};
    struct cn_frame_hdr h;
    struct cn_buf r = {0};
    char err[128] = "";
    int rc = cn_sock_call(fd, CN_MSG_WRITE_BLOCK, 5, &w, &h, &r, 5000, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s %s", cn_strerror(rc), err);
    cr_assert_eq(h.type, CN_MSG_WRITE_BLOCK_R);
    w.crc ^= 1;
    rc = cn_sock_call(fd, CN_MSG_WRITE_BLOCK, 6, &w, &h, &r, 5000, err, sizeof(err));
    cr_assert_eq(rc, -EIO);
    cr_assert_str_eq(err, "BAD_CRC: block 0: data CRC mismatch");
    struct cn_empty e;
    rc = cn_sock_call(fd, CN_MSG_STATFS, 7, &e, &h, &r, 5000, err, sizeof(err));
    cr_assert_eq(rc, -ENOTSUP);
    cn_buf_release(&r);
    close(fd);
    srv_stop(s);
}

Test(net, bad_frames_close_only_that_connection)
{
    struct srv *s = srv_start(0);
    int closes = 0;

    int fd = client(s);
    cr_assert_eq(cn_sock_send(fd, "GET / HTTP/1.0\r\n\r\n......", 24, 1000), 0);
    expect_closed(fd);
    close(fd);
    cr_assert_eq(srv_wait_closes(s, ++closes), CN_ENOTOURS);

    fd = client(s);
    struct cn_frame_hdr big = {1, 0, CN_MSG_PING, 1, CN_WIRE_MAX_PAYLOAD + 1};
    uint8_t hb[CN_WIRE_HDR_SIZE];
    cn_wire_hdr_pack(&big, hb);
    cr_assert_eq(cn_sock_send(fd, hb, sizeof(hb), 1000), 0);
    expect_closed(fd);
    close(fd);
    cr_assert_eq(srv_wait_closes(s, ++closes), CN_ETOOBIG);

    fd = client(s);
    cn_wire_hdr_pack(&(struct cn_frame_hdr){1, 0, CN_MSG_PING, 1, 8}, hb);
    hb[CN_HDR_OFF_LEN] ^= 4; /* corrupted length: caught by the header CRC */
    cr_assert_eq(cn_sock_send(fd, hb, sizeof(hb), 1000), 0);
    expect_closed(fd);
    close(fd);
    cr_assert_eq(srv_wait_closes(s, ++closes), CN_EHDRCRC);

    fd = client(s);
    cn_wire_hdr_pack(&(struct cn_frame_hdr){1, 0, CN_MSG_PING, 1, 3}, hb);
    cr_assert_eq(cn_sock_send(fd, hb, sizeof(hb), 1000), 0);
    cr_assert_eq(cn_sock_send(fd, "abc", 3, 1000), 0); /* a PING payload is 8 bytes */
    expect_closed(fd);
    close(fd);
    cr_assert_eq(srv_wait_closes(s, ++closes), CN_EMALFORMED);

    fd = client(s);
    ping(fd, 99); /* still serving */
    close(fd);
    srv_stop(s);
}

Test(net, per_connection_payload_limit)
{
    struct srv *s = srv_start(1024);
    int fd = client(s);
    ping(fd, 1);
    static uint8_t data[2000];
    struct cn_write_block w = {.crc = ec_crc32c(0, data, sizeof(data)),
                               .data = {data, sizeof(data)}};
    struct cn_buf b = {0};
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_WRITE_BLOCK, 2, &w), 0);
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, 1000), 0);
    expect_closed(fd);
    cr_assert_eq(srv_wait_closes(s, 1), CN_ETOOBIG);
    cn_buf_release(&b);
    close(fd);
    srv_stop(s);
}

Test(net, timeouts, .description = "an unanswered call and a refused connect fail in bounded time")
{
    struct srv *s = srv_start(0);
    int fd = client(s);
    struct cn_hello hello = {
        .role = CN_ROLE_ADMIN, .ver_min = CN_WIRE_VERSION_MIN, .ver_max = CN_WIRE_VERSION};
    struct cn_frame_hdr h;
    struct cn_buf r = {0};
    uint64_t t0 = cn_now_ms();
    int rc = cn_sock_call(fd, CN_MSG_HELLO, 1, &hello, &h, &r, 200, NULL, 0);
    uint64_t dt = cn_now_ms() - t0;
    cr_assert_eq(rc, -ETIMEDOUT, "%s", cn_strerror(rc));
    cr_assert_geq(dt, 190);
    cr_assert_lt(dt, 2000);
    cn_buf_release(&r);
    close(fd);
    srv_stop(s);

    /* a bound but not listening port refuses at once */
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    cr_assert_eq(bind(sfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    getsockname(sfd, (struct sockaddr *)&sin, &sl);
    struct cn_addr a = {"127.0.0.1", ntohs(sin.sin_port)};
    rc = cn_sock_connect(&a, 1000);
    cr_assert_eq(rc, -ECONNREFUSED, "%s", cn_strerror(rc));
    close(sfd);
}

/* ---- async client and server on one loop -------------------------------- */

struct duo {
    struct cn_listener *l;
    uint64_t got_token;
    int connect_status;
    int client_closed;
};

static void duo_client_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *p,
                             void *ud)
{
    struct duo *d = ud;
    struct cn_ping r;
    if (h->type == CN_MSG_PING_R && cn_msg_decode(CN_MSG_PING_R, p, h->len, &r) == 0)
        d->got_token = r.token;
    cn_conn_close(c, 0);
    cn_listener_close(d->l);
}

static void duo_client_close(struct cn_conn *c, int err, void *ud)
{
    ((struct duo *)ud)->client_closed = 1;
}

static const struct cn_conn_ops duo_client_ops = {duo_client_frame, duo_client_close};

static void duo_on_connect(struct cn_conn *c, int status, void *ud)
{
    struct duo *d = ud;
    d->connect_status = status;
    if (status) {
        cn_listener_close(d->l);
        return;
    }
    struct cn_ping p = {4242};
    cn_conn_send_msg(c, CN_MSG_PING, 1, &p);
}

static void duo_srv_close(struct cn_conn *c, int err, void *ud)
{
}
static const struct cn_conn_ops duo_srv_ops = {srv_on_frame, duo_srv_close};
static void duo_accept(struct cn_listener *l, struct cn_conn *c, void *ud)
{
    cn_conn_start(c, &duo_srv_ops, ud);
}

Test(net, async_connect_on_one_loop, .description = "cn_conn_connect talks to a listener")
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct duo d = {0};
    struct cn_addr a = {"127.0.0.1", 0};
    char err[256];
    cr_assert_eq(cn_listener_open(&loop, &a, duo_accept, &d, &d.l, err, sizeof(err)), 0, "%s", err);
    a.port = cn_listener_port(d.l);
    cr_assert_eq(cn_conn_connect(&loop, &a, &duo_client_ops, duo_on_connect, &d), 0);
    /* Ends when every handle is closed: the client closes itself, the server
     * side sees EOF and closes, the listener is closed by the client. */
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(d.connect_status, 0);
    cr_assert_eq(d.got_token, 4242);
    cr_assert(d.client_closed);
    cr_assert_eq(uv_loop_close(&loop), 0, "no handle leaked");
}

/* ---- async calls --------------------------------------------------------- */

struct calls {
    struct cn_listener *l;
    struct cn_conn *client;
    int step;
    int ping_status;
    uint64_t ping_token;
    int error_status;
    int timeout_status;
    int orphan_status;
    int server_closed_conns;
};

static void calls_next(struct calls *k);

static void calls_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                        const uint8_t *p, void *ud)
{
    struct calls *k = ud;
    switch (k->step++) {
    case 0: { /* PING */
        struct cn_ping r = {0};
        k->ping_status = status;
        if (!status)
            cn_msg_decode(CN_MSG_PING_R, p, h->len, &r);
        k->ping_token = r.token;
        break;
    }
    case 1: /* STATFS: the test server answers ERROR(UNSUPPORTED) */
        k->error_status = status;
        cr_assert_not_null(h, "an ERROR reply comes with its frame");
        cr_assert_eq(h->type, CN_MSG_ERROR);
        break;
    case 2: /* HELLO: never answered */
        k->timeout_status = status;
        break;
    case 3: /* outstanding when the connection closes */
        k->orphan_status = status;
        cn_listener_close(k->l);
        return;
    }
    calls_next(k);
}

static void calls_next(struct calls *k)
{
    struct cn_ping p = {0x5151};
    struct cn_empty e = {0};
    struct cn_hello hello = {
        .role = CN_ROLE_CLIENT, .ver_min = CN_WIRE_VERSION_MIN, .ver_max = CN_WIRE_VERSION};
    switch (k->step) {
    case 0:
        cr_assert_eq(cn_conn_call(k->client, CN_MSG_PING, &p, 2000, calls_reply, k), 0);
        break;
    case 1:
        cr_assert_eq(cn_conn_call(k->client, CN_MSG_STATFS, &e, 2000, calls_reply, k), 0);
        break;
    case 2:
        cr_assert_eq(cn_conn_call(k->client, CN_MSG_HELLO, &hello, 100, calls_reply, k), 0);
        break;
    case 3:
        cr_assert_eq(cn_conn_call(k->client, CN_MSG_HELLO, &hello, 5000, calls_reply, k), 0);
        cn_conn_close(k->client, 0);
        break;
    }
}

static void calls_on_connect(struct cn_conn *c, int status, void *ud)
{
    struct calls *k = ud;
    cr_assert_eq(status, 0);
    k->client = c;
    calls_next(k);
}

static void calls_ignore_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *p,
                               void *ud)
{
}
static const struct cn_conn_ops calls_client_ops = {calls_ignore_frame, NULL};

Test(net, async_calls, .description = "replies, ERROR, timeouts and closes reach the caller once")
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct calls k = {0};
    struct cn_addr a = {"127.0.0.1", 0};
    char err[256];
    cr_assert_eq(cn_listener_open(&loop, &a, duo_accept, NULL, &k.l, err, sizeof(err)), 0, "%s",
                 err);
    a.port = cn_listener_port(k.l);
    cr_assert_eq(cn_conn_connect(&loop, &a, &calls_client_ops, calls_on_connect, &k), 0);
    uint64_t t0 = cn_now_ms();
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(k.ping_status, 0);
    cr_assert_eq(k.ping_token, 0x5151);
    cr_assert_eq(k.error_status, -ENOTSUP);
    cr_assert_eq(k.timeout_status, -ETIMEDOUT);
    cr_assert_eq(k.orphan_status, -ECONNRESET);
    cr_assert_eq(k.step, 4, "each callback ran exactly once");
    cr_assert_lt(cn_now_ms() - t0, 3000, "the 5 s call ended with its connection");
    cr_assert_eq(uv_loop_close(&loop), 0, "no handle leaked");
}

/* ---- pause / resume -------------------------------------------------------- */

struct pz {
    struct cn_listener *l;
    struct cn_conn *srv;
    uv_timer_t timer;
    int delivered;
    int delivered_at_timer;
    int replies;
};

static void pz_timer(uv_timer_t *t)
{
    struct pz *z = t->data;
    z->delivered_at_timer = z->delivered;
    cn_conn_resume(z->srv);
}

static void pz_srv_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *p,
                         void *ud)
{
    struct pz *z = ud;
    z->delivered++;
    srv_on_frame(c, h, p, ud);
    if (z->delivered == 3) { /* pause mid-buffer: later frames wait for resume */
        cn_conn_pause(c);
        uv_timer_start(&z->timer, pz_timer, 50, 0);
    }
}
static void pz_srv_close(struct cn_conn *c, int err, void *ud)
{
}
static const struct cn_conn_ops pz_srv_ops = {pz_srv_frame, pz_srv_close};

static void pz_accept(struct cn_listener *l, struct cn_conn *c, void *ud)
{
    struct pz *z = ud;
    z->srv = c;
    cn_conn_start(c, &pz_srv_ops, z);
}

static void pz_client_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *p,
                            void *ud)
{
    struct pz *z = ud;
    if (++z->replies == 10) {
        cn_conn_close(c, 0);
        cn_listener_close(z->l);
        uv_close((uv_handle_t *)&z->timer, NULL);
    }
}
static const struct cn_conn_ops pz_client_ops = {pz_client_frame, NULL};

static void pz_on_connect(struct cn_conn *c, int status, void *ud)
{
    cr_assert_eq(status, 0);
    struct cn_buf b = {0};
    for (uint64_t i = 1; i <= 10; i++) {
        struct cn_ping p = {i};
        cn_msg_frame(&b, CN_MSG_PING, i, &p);
    }
    cr_assert_eq(cn_conn_send(c, b.data, b.len), 0, "10 frames in one write");
    cn_buf_release(&b);
}

Test(net, pause_holds_frames_until_resume)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct pz z = {0};
    uv_timer_init(&loop, &z.timer);
    z.timer.data = &z;
    struct cn_addr a = {"127.0.0.1", 0};
    char err[256];
    cr_assert_eq(cn_listener_open(&loop, &a, pz_accept, &z, &z.l, err, sizeof(err)), 0, "%s", err);
    a.port = cn_listener_port(z.l);
    cr_assert_eq(cn_conn_connect(&loop, &a, &pz_client_ops, pz_on_connect, &z), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(z.delivered_at_timer, 3, "nothing delivered while paused");
    cr_assert_eq(z.delivered, 10);
    cr_assert_eq(z.replies, 10);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(net, bad_frame_leaves_a_log_line, .description = "the operator can see who sent what")
{
    char path[] = "/tmp/cairn-test-net-log.XXXXXX";
    int lfd = mkstemp(path);
    cr_assert_geq(lfd, 0);
    struct cn_log_config cfg = {CN_LOG_WARN, 0, path, 0, "test_net"};
    cr_assert_eq(cn_log_init(&cfg), 0);
    struct srv *s = srv_start(0);
    int fd = client(s);
    cr_assert_eq(cn_sock_send(fd, "SSH-2.0-OpenSSH_9.2p1 Debian\r\n", 30, 1000), 0);
    expect_closed(fd);
    close(fd);
    srv_wait_closes(s, 1);
    srv_stop(s);
    char buf[4096] = "";
    ssize_t n = pread(lfd, buf, sizeof(buf) - 1, 0);
    cr_assert_gt(n, 0);
    cr_assert_not_null(strstr(buf, "warn: net: 127.0.0.1:"), "%s", buf);
    cr_assert_not_null(strstr(buf, ": not a Cairn peer (bad magic); closing connection\n"), "%s",
                       buf);
    close(lfd);
    unlink(path);
}
