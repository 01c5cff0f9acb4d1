/*
 * net.h - framed connections over TCP: libuv side for daemons, blocking side
 * for the CLI and tests.
 *
 * Daemon side: a listener accepts connections on one libuv loop; each
 * connection reads frames incrementally (24-byte header, then exactly `len`
 * payload bytes), enforces the maximum payload before allocating anything,
 * and hands whole frames to the owner's callback. A bad header (not Cairn,
 * wrong version, header CRC, too big) closes the connection with one log
 * line; the owner closes it the same way when a payload does not decode
 * (cn_conn_close(c, CN_EMALFORMED)). Writes are copied and queued; the owner
 * watches cn_conn_pending() for back-pressure. cn_conn_call() sends a request
 * and routes its reply (or a timeout, or the connection's end) to a callback. Everything of one
 * connection runs on its loop's thread (STYLE 16), so nothing here locks.
 *
 * Blocking side: cn_sock_* are plain sockets with poll() deadlines, for one
 * request at a time (the admin CLI, tests). Never used inside a loop callback.
 *
 * This module logs through common/log.h: it is daemon plumbing, not a library
 * with its own host, and a dropped peer must leave a trace.
 */
#ifndef CN_NET_H
#define CN_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "wire.h"

struct cn_conn;
struct cn_listener;

struct cn_conn_ops {
    /* A whole frame arrived. `payload` (h->len bytes) is borrowed until the
     * callback returns; it may call cn_conn_send*() and cn_conn_close(). */
    void (*on_frame)(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud);
    /* The connection is gone: err is 0 after cn_conn_close(c, 0), UV_EOF when
     * the peer closed, a CN_E* code for a bad frame, or a libuv error. `c` is
     * freed right after this returns. Optional. */
    void (*on_close)(struct cn_conn *c, int err, void *ud);
};

/* A new connection, not reading yet: call cn_conn_start() (or close it). */
typedef void (*cn_accept_cb)(struct cn_listener *l, struct cn_conn *c, void *ud);

/* Listen on addr (host "" = every interface; port 0 = pick one) with
 * SO_REUSEADDR; accepted sockets get TCP_NODELAY. *out is owned by the caller
 * until cn_listener_close(). 0 or a libuv error (negative errno); err gets
 * "listen on HOST:PORT: reason". Loop thread; resolves a host name
 * synchronously, so call it at start-up, not from a callback. */
int cn_listener_open(uv_loop_t *loop, const struct cn_addr *addr, cn_accept_cb cb, void *ud,
                     struct cn_listener **out, char *err, size_t errlen);
/* The bound port (useful after port 0). */
uint16_t cn_listener_port(const struct cn_listener *l);
/* Stop listening; memory is released once the loop processes the close.
 * Connections already accepted are unaffected. */
void cn_listener_close(struct cn_listener *l);

/* Connect to addr asynchronously (name resolution included). on_connect runs
 * on the loop with status 0 and a connection that is already reading frames
 * with `ops`, or with a negative status and c == NULL (nothing to free).
 * 0 or a negative error if the attempt cannot even start. */
typedef void (*cn_connect_cb)(struct cn_conn *c, int status, void *ud);
int cn_conn_connect(uv_loop_t *loop, const struct cn_addr *addr, const struct cn_conn_ops *ops,
                    cn_connect_cb on_connect, void *ud);

/* Start reading frames with ops/ud. Loop thread. */
void cn_conn_start(struct cn_conn *c, const struct cn_conn_ops *ops, void *ud);
/* Stop delivering frames (back-pressure: too many requests in flight).
 * Takes effect at once, even inside on_frame: frames already read are kept
 * and delivered after cn_conn_resume(). Loop thread; both idempotent. */
void cn_conn_pause(struct cn_conn *c);
void cn_conn_resume(struct cn_conn *c);
/* Hand an already reading connection to another owner (ops/ud), e.g. from
 * the connect callback's context to the long-lived one. Loop thread. */
void cn_conn_set_owner(struct cn_conn *c, const struct cn_conn_ops *ops, void *ud);
/* Read with a buffer of `size` bytes instead of the built-in 64 KiB, so
 * bulk frames (a 64 KiB block plus fields) arrive in one read and are
 * delivered without reassembly. Once per connection; loop thread. */
void cn_conn_set_read_buffer(struct cn_conn *c, size_t size);
/* Lower the largest payload accepted from this peer (default CN_WIRE_MAX_PAYLOAD). */
void cn_conn_set_max_payload(struct cn_conn *c, uint32_t max);
/* Queue n bytes (copied). 0, -ENOMEM, or -EPIPE once the connection is closing. */
int cn_conn_send(struct cn_conn *c, const void *p, size_t n);
/* Queue a whole frame (header included) without copying it: the
 * connection takes b's memory (b is left empty, also on error). */
int cn_conn_send_owned(struct cn_conn *c, struct cn_buf *b);
/* Encode and queue one frame. 0 or an error of cn_msg_frame() / cn_conn_send(). */
int cn_conn_send_msg(struct cn_conn *c, uint16_t type, uint64_t req_id, const void *msg);
/* The answer to a cn_conn_call(): status 0 with the reply frame (h, payload
 * borrowed for the callback), -errno of an ERROR reply (frame given, so the
 * text can be decoded), -ETIMEDOUT, or the connection's close error
 * (-ECONNRESET when it simply went away; h and payload NULL then). */
typedef void (*cn_reply_cb)(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                            const uint8_t *payload, void *ud);
/* Send a request with a fresh request id and call cb exactly once with its
 * reply, an error, or a timeout after timeout_ms. Replies that match an
 * outstanding call go to cb, not on_frame; a reply arriving after its
 * timeout goes to on_frame (ignore it). 0 (cb will run) or an error (it will
 * not). Loop thread. */
int cn_conn_call(struct cn_conn *c, uint16_t type, const void *msg, uint32_t timeout_ms,
                 cn_reply_cb cb, void *ud);
/* cn_conn_call() for a payload the caller encoded already (on any thread):
 * the header is added and the bytes are copied once into the write queue. */
int cn_conn_call_payload(struct cn_conn *c, uint16_t type, const void *payload, size_t len,
                         uint32_t timeout_ms, cn_reply_cb cb, void *ud);
/* The same without any copy: `frame` holds CN_WIRE_HDR_SIZE bytes of room
 * for the header followed by the encoded payload; the connection takes its
 * memory (frame is left empty, also on error). */
int cn_conn_call_owned(struct cn_conn *c, uint16_t type, struct cn_buf *frame, uint32_t timeout_ms,
                       cn_reply_cb cb, void *ud);
/* Reply ERROR(status, text) to req_id. */
int cn_conn_send_error(struct cn_conn *c, uint64_t req_id, enum cn_status st, const char *text);
/* Close: pending writes are dropped, on_close(err) runs from the loop. A
 * negative CN_E* or errno err is logged as the reason. Idempotent. */
void cn_conn_close(struct cn_conn *c, int err);
/* Bytes queued and not yet written (back-pressure). */
size_t cn_conn_pending(const struct cn_conn *c);
/* "127.0.0.1:40312": the peer, for log lines. Borrowed while c lives. */
const char *cn_conn_peer(const struct cn_conn *c);
/* The ud passed to cn_conn_start() / cn_conn_connect(). */
void *cn_conn_data(const struct cn_conn *c);

/* ---- blocking client side (CLI, tests) ---------------------------------- */

/* Connect with a timeout; returns a socket fd (O_NONBLOCK, TCP_NODELAY,
 * caller closes) or -errno (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH...;
 * resolution failures give -EHOSTUNREACH). */
int cn_sock_connect(const struct cn_addr *addr, int timeout_ms);
/* Send all n bytes before the timeout. 0 or -errno (-ETIMEDOUT, -EPIPE...). */
int cn_sock_send(int fd, const void *p, size_t n, int timeout_ms);
/* Receive one frame: header into *h, payload into `payload` (reset first,
 * payload->len == h->len). 0, -ETIMEDOUT, -ECONNRESET (EOF), a CN_E* header
 * error, or payloads over max_payload (0 = CN_WIRE_MAX_PAYLOAD) CN_ETOOBIG. */
int cn_sock_recv_frame(int fd, struct cn_frame_hdr *h, struct cn_buf *payload, uint32_t max_payload,
                       int timeout_ms);
/* Send one request and wait for the frame that answers req_id (frames with
 * other ids are skipped). The reply payload is left in `reply` for
 * cn_msg_decode(); an ERROR reply returns the status as -errno with the
 * decoded text in err. */
int cn_sock_call(int fd, uint16_t type, uint64_t req_id, const void *msg, struct cn_frame_hdr *rh,
                 struct cn_buf *reply, int timeout_ms, char *err, size_t errlen);

#endif
