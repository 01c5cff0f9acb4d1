/*
 * client_serv.c - the data port: READ_BLOCK, WRITE_BLOCK and COMMIT_PART from
 * clients and from the previous chunkserver of a write chain.
 *
 * Every logstore call runs on libuv's thread pool (uv_queue_work); the loop
 * only decodes, forwards and replies (STYLE 16). A write is forwarded to the
 * next hop at the same moment its local write starts, so the chain's copies
 * are written in parallel and the client's NIC carries each byte once.
 *
 * Invariants of the write path (tests/integration/test_chunkserver.c cites them):
 *  1. WRITE_BLOCK_R / COMMIT_PART_R is sent only when the local write is
 *     durable (ls_append/ls_commit returned 0) AND the next hop answered OK.
 *     Any failure on either side answers ERROR: there is no partial ack.
 *  2. A block whose data does not match the message's CRC is neither stored
 *     nor forwarded (BAD_CRC): the CRC is end to end.
 *  3. Blocks are written under the message's version; they become readable
 *     as the committed version only through COMMIT_PART (logstore versions),
 *     so an abandoned chain write never changes what readers see.
 *  4. A partial-block write (offset > 0, or shorter than the stored block) is
 *     a read-modify-write of the block as this version sees it, so a stored
 *     block is always whole and carries one CRC.
 *  5. Two writes of the same block never run their local read-modify-write
 *     at once: the later one waits for the earlier (in arrival order), so
 *     neither loses the other's bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "ec.h"
#include "log.h"
#include "xmalloc.h"

#define MAX_INFLIGHT   64    /* per connection; the connection pauses beyond it */
#define FWD_TIMEOUT_MS 30000 /* the next hop's answer, including its own chain */

struct cs_client {
    struct cn_listener *l;
    struct creq *writes; /* WRITE_BLOCKs whose local write runs now */
    struct cconn *conns;
    uint64_t next_session;
};

/* One accepted connection. Freed when closed and no request is in flight. */
struct cconn {
    struct cs_ctx *ctx;
    struct cn_conn *c; /* NULL once closed */
    int hello;
    int inflight;
    struct cconn *prev, *next;
};

/* One request from decode to reply. */
struct creq {
    uv_work_t work;
    struct cconn *cc;
    uint16_t type;
    uint64_t req_id;
    uint8_t *payload;  /* copy of the frame payload: decoded slices point here */
    void *payload_mem; /* allocation holding payload (page-aligned block data) */
    union {
        struct cn_read_block rb;
        struct cn_write_block wb;
        struct cn_commit_part cp;
    } m;
    union { /* the message forwarded to the next hop: chain minus its first */
        struct cn_write_block wb;
        struct cn_commit_part cp;
    } fwd;
    struct cs_disk *disk;
    uint16_t disk_idx;
    int busy; /* counted in its part's `busy` (balance.c must not move it meanwhile) */
    int held; /* holds its disk (cs_disk_hold) until freed */
    /* local side */
    int local_rc;
    int local_done;
    char local_err[160];
    /* forward side */
    int fwd_rc; /* 0, or -errno / CN_E* */
    int fwd_done;
    uint16_t fwd_status;
    char fwd_err[300];
    /* read result */
    struct cn_buf frame; /* READ_BLOCK_R, built by the worker */
    /* invariant 5: writes of one block run one at a time */
    uv_work_cb fn;
    struct creq *lnext; /* cs_client.writes: local writes running */
    struct creq *wnext; /* writes of the same block waiting for this one */
};

static void cconn_put(struct cconn *cc)
{
    if (cc->c || cc->inflight)
        return;
    free(cc);
}

static void reply_error(struct cn_conn *c, uint64_t req_id, enum cn_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(struct cn_conn *c, uint64_t req_id, enum cn_status st, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cn_conn_send_error(c, req_id, st, text);
}

static void req_free(struct creq *r)
{
    struct cconn *cc = r->cc;
    if (r->held)
        cs_disk_drop(cc->ctx, r->disk_idx);
    if (r->busy) {
        uint64_t chunk = r->type == CN_MSG_WRITE_BLOCK ? r->m.wb.chunk : r->m.cp.chunk;
        uint16_t part = r->type == CN_MSG_WRITE_BLOCK ? r->m.wb.part : r->m.cp.part;
        struct cs_partref *p = cs_part_find(cc->ctx, chunk, part);
        if (p && p->busy)
            p->busy--;
    }
    cn_msg_free(r->type, &r->m);
    free(r->payload_mem);
    cn_buf_release(&r->frame);
    free(r);
    cc->inflight--;
    if (cc->c && cc->inflight == MAX_INFLIGHT - 1)
        cn_conn_resume(cc->c);
    cconn_put(cc);
}

/* ---- completion: invariant 1 -------------------------------------------- */

static void req_finish(struct creq *r)
{
    if (!r->local_done || !r->fwd_done)
        return;
    struct cs_ctx *ctx = r->cc->ctx;
    struct cn_conn *c = r->cc->c;
    if (r->type == CN_MSG_COMMIT_PART && r->local_rc == 0) {
        struct cs_partref *p = cs_part_find(ctx, r->m.cp.chunk, r->m.cp.part);
        if (p && r->m.cp.version > p->version) {
            p->version = r->m.cp.version;
            cs_note_change(ctx, p->chunk, p->version, p->part, p->disk, 0);
        }
    }
    if (r->local_rc == LS_ECORRUPT) {
        uint64_t v = r->type == CN_MSG_READ_BLOCK ? r->m.rb.version : r->m.wb.version;
        cs_report_bad(ctx, r->m.rb.chunk, v, r->m.rb.part, r->disk_idx);
    }
    if (!c)
        goto out;
    if (r->local_rc) {
        reply_error(c, r->req_id, cs_status_of(r->local_rc), "chunkserver %s: %s%s%s",
                    ctx->cfg.name ? ctx->cfg.name : "", r->local_err[0] ? r->local_err : "",
                    r->local_err[0] ? ": " : "", ls_strerror(r->local_rc));
    } else if (r->fwd_rc) {
        reply_error(c, r->req_id, r->fwd_status ? r->fwd_status : cs_status_of(r->fwd_rc), "%s",
                    r->fwd_err);
    } else if (r->type == CN_MSG_READ_BLOCK) {
        struct cn_frame_hdr h = {CN_WIRE_VERSION, 0, CN_MSG_READ_BLOCK_R, r->req_id,
                                 (uint32_t)(r->frame.len - CN_WIRE_HDR_SIZE)};
        cn_wire_hdr_pack(&h, r->frame.data);
        cn_conn_send_owned(c, &r->frame);
    } else {
        struct cn_empty e = {0};
        cn_conn_send_msg(c, r->type | CN_MSG_REPLY, r->req_id, &e);
    }
out:
    req_free(r);
}

/* ---- workers (thread pool): only the logstore and the request ----------- */

static void work_read(uv_work_t *w)
{
    struct creq *r = w->data;
    struct cn_read_block *m = &r->m.rb;
    /* The reply frame is built here, around the block: header room, crc,
     * data length, then the block read straight into place (no copies on
     * the loop thread; req_finish only fills the header). */
    enum { DATA_AT = CN_WIRE_HDR_SIZE + 8 };
    struct cn_buf *f = &r->frame;
    if (cn_buf_reserve(f, DATA_AT + LS_BLOCK_MAX)) {
        r->local_rc = -ENOMEM;
        return;
    }
    uint8_t *buf = f->data + DATA_AT;
    /* Only committed data is served: blocks of an uncommitted version (a
     * copy or rebuild of the part in progress, a write not committed here)
     * would read as holes where they have not arrived yet. */
    struct ls_part_info pi;
    ssize_t n = ls_part_stat(r->disk->ls, m->chunk, m->part, &pi);
    if (n == 0 && !pi.committed)
        n = -ENOENT;
    else if (n == 0 && m->version && m->version != pi.version)
        n = -ESTALE;
    if (n == 0)
        n = ls_read(r->disk->ls, m->chunk, m->part, m->version, m->block, buf, LS_BLOCK_MAX);
    if (n == -ENODATA) { /* a hole inside the part reads as zeros */
        memset(buf, 0, LS_BLOCK_MAX);
        n = m->length
                ? (ssize_t)((uint64_t)m->offset + m->length > LS_BLOCK_MAX ? LS_BLOCK_MAX
                                                                           : m->offset + m->length)
                : 0;
    }
    if (n < 0) {
        r->local_rc = (int)n;
        snprintf(r->local_err, sizeof(r->local_err),
                 "read chunk %016llx part %u version %llu block %u on disk %s",
                 (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, m->block,
                 r->disk->path);
        return;
    }
    uint32_t len = (uint32_t)n;
    uint32_t off = m->offset > len ? len : m->offset;
    uint32_t want = m->length ? m->length : len - off;
    if (want > len - off)
        want = len - off;
    if (off)
        memmove(buf, buf + off, want);
    uint32_t crc = ec_crc32c(0, buf, want);
    for (int i = 0; i < 4; i++) { /* READ_BLOCK_R: crc u32, data bytes (u32 length) */
        f->data[CN_WIRE_HDR_SIZE + i] = (uint8_t)(crc >> (8 * i));
        f->data[CN_WIRE_HDR_SIZE + 4 + i] = (uint8_t)(want >> (8 * i));
    }
    f->len = DATA_AT + want;
}

static void work_write(uv_work_t *w)
{
    struct creq *r = w->data;
    struct cn_write_block *m = &r->m.wb;
    struct ls *ls = r->disk->ls;
    const uint8_t *data = m->data.ptr;
    uint32_t len = m->data.len;
    uint8_t *merged = NULL;
    if (m->offset || len < LS_BLOCK_MAX) { /* invariant 4 */
        merged = cn_xcalloc(1, LS_BLOCK_MAX);
        ssize_t n = ls_read(ls, m->chunk, m->part, m->version, m->block, merged, LS_BLOCK_MAX);
        if (n == -ESTALE || n == -ENOENT) /* first block of this version */
            n = ls_read(ls, m->chunk, m->part, 0, m->block, merged, LS_BLOCK_MAX);
        if (n == -ENOENT || n == -ENODATA || n == -ESTALE)
            n = 0;
        if (n < 0) {
            r->local_rc = (int)n;
            snprintf(r->local_err, sizeof(r->local_err), "read of block %u for a partial write",
                     m->block);
            free(merged);
            return;
        }
        if (n > 0 && (uint64_t)n > (uint64_t)m->offset + len)
            len = (uint32_t)n;
        else
            len = m->offset + len;
        memcpy(merged + m->offset, m->data.ptr, m->data.len);
        data = merged;
    }
    struct ls_write wr = {.type = LS_REC_BLOCK,
                          .flags = m->flags & CN_WF_COMPRESS ? LS_WRITE_COMPRESS : 0,
                          .chunk = m->chunk,
                          .part = m->part,
                          .version = m->version,
                          .block = m->block,
                          .data = data,
                          .len = len};
    r->local_rc = ls_writev(ls, &wr, 1);
    free(merged);
}

static void work_commit(uv_work_t *w)
{
    struct creq *r = w->data;
    struct cn_commit_part *m = &r->m.cp;
    r->local_rc = ls_commit(r->disk->ls, m->chunk, m->part, m->version, m->size);
}

static void work_done(uv_work_t *w, int status);

static void start_local(struct creq *r)
{
    r->cc->ctx->work_inflight++;
    int rc = uv_queue_work(r->cc->ctx->loop, &r->work, r->fn, work_done);
    if (rc)
        work_done(&r->work, rc);
}

static int same_block(const struct creq *a, const struct creq *b)
{
    return a->m.wb.chunk == b->m.wb.chunk && a->m.wb.part == b->m.wb.part &&
           a->m.wb.block == b->m.wb.block;
}

/* Invariant 5: run now, or queue behind the running write of the same block. */
static void start_write(struct creq *r)
{
    struct cs_client *cl = r->cc->ctx->client;
    for (struct creq *o = cl->writes; o; o = o->lnext)
        if (same_block(o, r)) {
            while (o->wnext)
                o = o->wnext;
            o->wnext = r;
            return;
        }
    r->lnext = cl->writes;
    cl->writes = r;
    start_local(r);
}

static void end_write(struct creq *r)
{
    struct cs_client *cl = r->cc->ctx->client;
    for (struct creq **pp = &cl->writes; *pp; pp = &(*pp)->lnext)
        if (*pp == r) {
            *pp = r->lnext;
            break;
        }
    struct creq *n = r->wnext;
    if (n) { /* the next waiter takes r's place, with the rest behind it */
        n->lnext = cl->writes;
        cl->writes = n;
        start_local(n);
    }
}

static void work_done(uv_work_t *w, int status)
{
    struct creq *r = w->data;
    r->cc->ctx->work_inflight--;
    if (status && !r->local_rc)
        r->local_rc = status;
    if (r->type == CN_MSG_WRITE_BLOCK)
        end_write(r);
    r->local_done = 1;
    req_finish(r);
}

/* ---- forwarding --------------------------------------------------------- */

static void on_fwd_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                         const uint8_t *payload, void *ud)
{
    struct creq *r = ud;
    const struct cn_hop *hop =
        r->type == CN_MSG_WRITE_BLOCK ? &r->m.wb.chain[0] : &r->m.cp.chain[0];
    if (status) {
        r->fwd_rc = status;
        struct cn_error e;
        if (h && h->type == CN_MSG_ERROR && cn_msg_decode(CN_MSG_ERROR, payload, h->len, &e) == 0) {
            r->fwd_status = e.status;
            snprintf(r->fwd_err, sizeof(r->fwd_err), "%.*s", (int)e.text.len, e.text.ptr);
        } else {
            r->fwd_status = status == -ETIMEDOUT ? CN_ST_ETIMEDOUT : CN_ST_EIO;
            snprintf(r->fwd_err, sizeof(r->fwd_err),
                     "forward to chunkserver %.*s failed: %s; the write is not complete",
                     (int)hop->addr.len, hop->addr.ptr, cn_strerror(status));
        }
    }
    r->fwd_done = 1;
    req_finish(r);
}

/* Forward the request with the chain minus its first hop. The forwarded
 * message borrows r (its payload copy) until on_fwd_reply. */
static void forward(struct creq *r)
{
    struct cs_ctx *ctx = r->cc->ctx;
    struct cn_hop *chain = r->type == CN_MSG_WRITE_BLOCK ? r->m.wb.chain : r->m.cp.chain;
    uint32_t n = r->type == CN_MSG_WRITE_BLOCK ? r->m.wb.nchain : r->m.cp.nchain;
    if (!n) {
        r->fwd_done = 1;
        return;
    }
    /* the forwarded copy lives in r so that it stays valid while queued on
     * a peer that is still connecting */
    if (r->type == CN_MSG_WRITE_BLOCK) {
        r->fwd.wb = r->m.wb;
        r->fwd.wb.chain = chain + 1;
        r->fwd.wb.nchain = n - 1;
    } else {
        r->fwd.cp = r->m.cp;
        r->fwd.cp.chain = chain + 1;
        r->fwd.cp.nchain = n - 1;
    }
    cs_peer_call(ctx, chain[0].addr, r->type, &r->fwd, FWD_TIMEOUT_MS, on_fwd_reply, r);
}

/* ---- dispatch ------------------------------------------------------------ */

static void on_hello(struct cconn *cc, const struct cn_frame_hdr *h, const uint8_t *payload)
{
    struct cn_hello m;
    if (cn_msg_decode(CN_MSG_HELLO, payload, h->len, &m)) {
        cn_conn_close(cc->c, CN_EMALFORMED);
        return;
    }
    uint16_t v;
    if (cn_wire_negotiate(m.ver_min, m.ver_max, &v)) {
        cn_conn_send_error(cc->c, h->req_id, CN_ST_UNSUPPORTED,
                           "no common protocol version with this chunkserver");
        cn_conn_close(cc->c, 0);
        return;
    }
    struct cn_hello_r r = {0};
    r.version = v;
    r.session = ++cc->ctx->client->next_session;
    r.name = cn_str_of(cc->ctx->cfg.name ? cc->ctx->cfg.name : "cairn-chunkserver");
    cn_conn_send_msg(cc->c, CN_MSG_HELLO_R, h->req_id, &r);
    cc->hello = 1;
}

/* Validate and find the disk of a data request; 0 or a reply already sent. */
static int route(struct creq *r)
{
    struct cs_ctx *ctx = r->cc->ctx;
    struct cn_conn *c = r->cc->c;
    uint64_t chunk = r->m.rb.chunk;
    uint16_t part = r->m.rb.part;
    if (r->type == CN_MSG_WRITE_BLOCK) {
        chunk = r->m.wb.chunk, part = r->m.wb.part;
    } else if (r->type == CN_MSG_COMMIT_PART) {
        chunk = r->m.cp.chunk, part = r->m.cp.part;
    }
    struct cs_partref *p = cs_part_find(ctx, chunk, part);
    if (!p && r->type == CN_MSG_READ_BLOCK) {
        reply_error(c, r->req_id, CN_ST_NO_CHUNK, "chunk %016llx part %u is not on this server",
                    (unsigned long long)chunk, part);
        return -1;
    }
    if (!p) { /* a new part: the disk with most free space */
        int d = cs_disk_pick(ctx);
        if (d < 0) {
            reply_error(c, r->req_id, CN_ST_ENOSPC, "no writable disk on this chunkserver");
            return -1;
        }
        p = cs_part_add(ctx, chunk, part, (uint16_t)d);
    }
    r->disk_idx = p->disk;
    r->disk = &ctx->disks[p->disk];
    if (r->type != CN_MSG_READ_BLOCK) {
        p->busy++;
        r->busy = 1;
    }
    if (cs_disk_hold(ctx, p->disk)) { /* failed to open, or vanished */
        reply_error(c, r->req_id, CN_ST_EIO, "disk %s of this part is missing", r->disk->path);
        return -1;
    }
    r->held = 1;
    return 0;
}

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    struct cconn *cc = ud;
    if (!cc->hello) {
        if (h->type != CN_MSG_HELLO) {
            cn_conn_send_error(c, h->req_id, CN_ST_PROTOCOL, "HELLO must be the first frame");
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        on_hello(cc, h, payload);
        return;
    }
    if (h->type == CN_MSG_PING) {
        struct cn_ping p;
        if (cn_msg_decode(CN_MSG_PING, payload, h->len, &p)) {
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        cn_conn_send_msg(c, CN_MSG_PING_R, h->req_id, &p);
        return;
    }
    uv_work_cb fn;
    switch (h->type) {
    case CN_MSG_READ_BLOCK:
        fn = work_read;
        break;
    case CN_MSG_WRITE_BLOCK:
        fn = work_write;
        break;
    case CN_MSG_COMMIT_PART:
        fn = work_commit;
        break;
    default:
        if (h->type & CN_MSG_REPLY)
            return; /* a stray reply: nothing asked for it */
        cn_conn_send_error(c, h->req_id, CN_ST_UNSUPPORTED,
                           "message type not served on a chunkserver's data port");
        return;
    }
    struct creq *r = cn_xcalloc(1, sizeof(*r));
    r->cc = cc;
    r->type = h->type;
    r->req_id = h->req_id;
    /* A block's bytes land on a page boundary of the copy, so the logstore
     * writes a whole block by reference instead of through a bounce buffer. */
    size_t pad = 0;
    if (h->type == CN_MSG_WRITE_BLOCK) {
        struct cn_write_block probe;
        if (cn_msg_decode(h->type, payload, h->len, &probe) == 0 && probe.data.len) {
            size_t doff = (size_t)(probe.data.ptr - payload);
            pad = (LS_PAGE - doff % LS_PAGE) % LS_PAGE;
        }
        cn_msg_free(h->type, &probe);
    }
    if (posix_memalign(&r->payload_mem, LS_PAGE, pad + (h->len ? h->len : 1)))
        abort(); /* out of memory, like cn_xmalloc */
    r->payload = (uint8_t *)r->payload_mem + pad;
    memcpy(r->payload, payload, h->len);
    cc->inflight++;
    if (cn_msg_decode(h->type, r->payload, h->len, &r->m)) {
        cn_conn_close(c, CN_EMALFORMED);
        req_free(r);
        return;
    }
    if (h->type == CN_MSG_WRITE_BLOCK) {
        struct cn_write_block *m = &r->m.wb;
        if (!m->data.len || (uint64_t)m->offset + m->data.len > LS_BLOCK_MAX) {
            reply_error(c, h->req_id, CN_ST_EINVAL,
                        "block write of %u bytes at offset %u does not fit a %u-byte block",
                        m->data.len, m->offset, LS_BLOCK_MAX);
            req_free(r);
            return;
        }
        if (ec_crc32c(0, m->data.ptr, m->data.len) != m->crc) { /* invariant 2 */
            reply_error(c, h->req_id, CN_ST_BAD_CRC,
                        "block data does not match its CRC (damaged in transit); not stored");
            req_free(r);
            return;
        }
    }
    if (route(r)) {
        req_free(r);
        return;
    }
    if (cc->inflight >= MAX_INFLIGHT)
        cn_conn_pause(c);
    r->work.data = r;
    r->fn = fn;
    if (h->type == CN_MSG_READ_BLOCK)
        r->fwd_done = 1;
    else
        forward(r);
    if (h->type == CN_MSG_WRITE_BLOCK)
        start_write(r);
    else
        start_local(r);
}

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct cconn *cc = ud;
    struct cs_client *cl = cc->ctx->client;
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        cl->conns = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    cc->c = NULL;
    cconn_put(cc);
}

static const struct cn_conn_ops client_ops = {on_frame, on_close};

static void on_accept(struct cn_listener *l, struct cn_conn *c, void *ud)
{
    struct cs_ctx *ctx = ud;
    if (ctx->stopping) {
        cn_conn_close(c, 0);
        return;
    }
    struct cconn *cc = cn_xcalloc(1, sizeof(*cc));
    cc->ctx = ctx;
    cc->c = c;
    cc->next = ctx->client->conns;
    if (cc->next)
        cc->next->prev = cc;
    ctx->client->conns = cc;
    cn_conn_set_read_buffer(c, 512u << 10); /* write frames arrive whole */
    cn_conn_start(c, &client_ops, cc);
}

int cs_client_init(struct cs_ctx *ctx)
{
    char err[512];
    ctx->client = cn_xcalloc(1, sizeof(*ctx->client));
    int rc = cn_listener_open(ctx->loop, &ctx->cfg.listen, on_accept, ctx, &ctx->client->l, err,
                              sizeof(err));
    if (rc) {
        cn_log_error("client_serv", "%s", err);
        return rc;
    }
    struct cn_addr bound = ctx->cfg.listen;
    char a[300];
    ctx->data_port = bound.port = cn_listener_port(ctx->client->l);
    cn_log_info("client_serv", "serving data on %s", cn_addr_format(&bound, a, sizeof(a)));
    return 0;
}

void cs_client_release(struct cs_ctx *ctx)
{
    struct cs_client *cl = ctx->client;
    if (!cl)
        return;
    if (cl->l)
        cn_listener_close(cl->l);
    cl->l = NULL;
    for (struct cconn *cc = cl->conns; cc; cc = cc->next)
        if (cc->c)
            cn_conn_close(cc->c, 0);
}

void cs_client_free(struct cs_ctx *ctx)
{
    free(ctx->client);
    ctx->client = NULL;
}
