/*
 * convert.c - CS_CMD_CONVERT: this chunkserver turns a replicated chunk into
 * an erasure-coded one (DESIGN.md "Storage classes": conversion runs on
 * chunkservers; the master moves no data).
 *
 * The coded copy is a new chunk (its own id, version 1) so its parts never
 * meet the copies' keys on a server that holds both; the master switches
 * the file to it only after every part is committed, then deletes the
 * copies. A crash anywhere leaves the copies as they were and, at worst,
 * parts of a chunk id the master does not know, which it deletes when they
 * are reported.
 *
 * Decisions a reader must know:
 *  1. One thread of the pool, blocking sockets: a connection to one source
 *     copy and one to each target (this server included, through its own
 *     data port). Per row, the K blocks are read (pipelined on the source
 *     connection), the M parity blocks encoded, and the K + M blocks sent
 *     to their targets at once; the next row starts when all K + M are
 *     acknowledged (durable). Then COMMIT_PART on every target.
 *  2. Any failure fails the whole conversion; the master deletes whatever
 *     parts of the new chunk were written and tries again later.
 *  3. The reverse (`decode`, ec=K+M -> copies) runs the same way: one
 *     connection to each of K parts (data parts first, so a healthy chunk
 *     needs no decoding), per row the K blocks are read and any missing
 *     data block decoded, and the row's data blocks go, as blocks r*K + j
 *     of part 0, to every target at once (no chain: each target is told
 *     directly). Then COMMIT_PART at the chunk's length on every target.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_time.h"
#include "cs.h"
#include "ec.h"
#include "log.h"
#include "net.h"
#include "xmalloc.h"

#define MOD        "convert"
#define CONNECT_MS 3000
#define CALL_MS    30000

struct cs_convert {
    uv_work_t work;
    struct cs_ctx *ctx;
    uint64_t session, req_id, t0_ms, bytes;
    struct cn_cs_convert cmd; /* srcs and targets point into the copies below */
    char (*src)[300];
    uint16_t *src_part; /* decode: the part src[i] holds */
    uint32_t nsrc;
    char (*dst)[300];
    uint32_t ndst;
    int rc;
    char err[512];
};

/* "ec=4+2", or "copies=2 from ec=4+2" for the reverse */
static const char *describe(const struct cs_convert *cv, char *buf, size_t len)
{
    if (cv->cmd.decode)
        snprintf(buf, len, "copies=%u from ec=%u+%u", cv->ndst, cv->cmd.k, cv->cmd.m);
    else
        snprintf(buf, len, "ec=%u+%u", cv->cmd.k, cv->cmd.m);
    return buf;
}

static void fail(struct cs_convert *cv, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct cs_convert *cv, int rc, const char *fmt, ...)
{
    if (cv->rc)
        return;
    cv->rc = rc;
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    char d[64];
    snprintf(cv->err, sizeof(cv->err), "convert chunk %016llx v%llu to %016llx (%s): %s",
             (unsigned long long)cv->cmd.chunk, (unsigned long long)cv->cmd.version,
             (unsigned long long)cv->cmd.new_chunk, describe(cv, d, sizeof(d)), text);
}

static int send_msg(int fd, uint16_t type, uint64_t req, const void *msg)
{
    struct cn_buf b = {0};
    int rc = cn_msg_frame(&b, type, req, msg);
    if (!rc)
        rc = cn_sock_send(fd, b.data, b.len, CALL_MS);
    cn_buf_release(&b);
    return rc;
}

/* The answer to request `req` on fd: 0 (of type want), or -errno with text. */
static int recv_reply(int fd, uint64_t req, uint16_t want, struct cn_buf *reply, char *err,
                      size_t errlen)
{
    uint64_t deadline = cn_now_ms() + CALL_MS;
    for (;;) {
        struct cn_frame_hdr h;
        int left = cn_ms_left(deadline);
        if (!left)
            return -ETIMEDOUT;
        int rc = cn_sock_recv_frame(fd, &h, reply, 0, left);
        if (rc)
            return rc;
        if (h.req_id != req)
            continue;
        if (h.type == want)
            return 0;
        struct cn_error e;
        if (h.type == CN_MSG_ERROR && !cn_msg_decode(CN_MSG_ERROR, reply->data, reply->len, &e)) {
            snprintf(err, errlen, "%.*s", (int)e.text.len, e.text.ptr);
            return -cn_status_to_errno(e.status);
        }
        return CN_EMALFORMED;
    }
}

static void work(uv_work_t *w)
{
    struct cs_convert *cv = w->data;
    const struct cn_cs_convert *m = &cv->cmd;
    unsigned k = m->k, np = (unsigned)m->k + m->m;
    struct ec_layout el = {EC_LAYOUT_RS, 0, m->k, m->m};
    int src = -1, dst[EC_PARTS_MAX];
    uint8_t *buf[EC_PARTS_MAX] = {0};
    struct cn_buf reply = {0};
    struct ec_codec *codec = NULL;
    char err[300] = "";
    for (unsigned p = 0; p < np; p++)
        dst[p] = -1;
    if (!cv->ctx->ec || ec_codec_get(cv->ctx->ec, m->k, m->m, &codec)) {
        fail(cv, -EIO, "no codec");
        return;
    }
    for (uint32_t i = 0; i < cv->nsrc && src < 0; i++)
        src = cs_peer_open_sync(cv->ctx, cv->src[i], CONNECT_MS, CALL_MS);
    if (src < 0) {
        fail(cv, -EIO, "no source copy answers");
        goto out;
    }
    for (unsigned p = 0; p < np; p++) {
        dst[p] = cs_peer_open_sync(cv->ctx, cv->dst[p], CONNECT_MS, CALL_MS);
        if (dst[p] < 0) {
            fail(cv, dst[p], "target %s of part %u: %s", cv->dst[p], p, cn_strerror(dst[p]));
            goto out;
        }
        if (!(buf[p] = aligned_alloc(64, LS_BLOCK_MAX))) {
            fail(cv, -ENOMEM, "out of memory");
            goto out;
        }
    }
    uint32_t rows = ec_geom_rows(&el, m->length);
    uint64_t req = 2;
    for (uint32_t r = 0; r < rows && !cv->rc; r++) {
        size_t lens[EC_PARTS_MAX];
        ec_geom_part_lens(&el, m->length, r, 1, lens);
        /* the row's K blocks of the copy, pipelined */
        uint64_t first = req;
        for (unsigned j = 0; j < k && !cv->rc; j++) {
            struct cn_read_block q = {m->chunk, m->version, 0, r * k + j, 0, 0};
            int rc = lens[j] ? send_msg(src, CN_MSG_READ_BLOCK, req, &q) : 0;
            if (rc)
                fail(cv, rc, "asking the source for block %u: %s", r * k + j, cn_strerror(rc));
            req++;
        }
        /* the source answers pipelined reads in any order */
        unsigned want = 0;
        uint64_t pending = 0;
        for (unsigned j = 0; j < k; j++) {
            memset(buf[j], 0, LS_BLOCK_MAX);
            if (lens[j]) {
                pending |= 1ull << j;
                want++;
            }
        }
        uint64_t deadline = cn_now_ms() + CALL_MS;
        while (want && !cv->rc) {
            struct cn_frame_hdr fh;
            int left = cn_ms_left(deadline);
            int rc = left ? cn_sock_recv_frame(src, &fh, &reply, 0, left) : -ETIMEDOUT;
            uint64_t j = rc ? 0 : fh.req_id - first;
            if (rc == 0 && (fh.req_id < first || j >= k || !(pending >> j & 1)))
                continue; /* not one of this row's */
            struct cn_read_block_r rr;
            struct cn_error e;
            if (rc == 0 && fh.type == CN_MSG_ERROR &&
                !cn_msg_decode(CN_MSG_ERROR, reply.data, reply.len, &e)) {
                snprintf(err, sizeof(err), "%.*s", (int)e.text.len, e.text.ptr);
                rc = -cn_status_to_errno(e.status);
            } else if (rc == 0 && (fh.type != CN_MSG_READ_BLOCK_R ||
                                   cn_msg_decode(CN_MSG_READ_BLOCK_R, reply.data, reply.len, &rr) ||
                                   rr.data.len > LS_BLOCK_MAX)) {
                rc = CN_EMALFORMED;
            } else if (rc == 0 && ec_crc32c(0, rr.data.ptr, rr.data.len) != rr.crc) {
                rc = -EBADMSG;
            }
            if (rc) {
                fail(cv, rc, "row %u from the source: %s", r, err[0] ? err : cn_strerror(rc));
                break;
            }
            memcpy(buf[j], rr.data.ptr, rr.data.len);
            pending &= ~(1ull << j);
            want--;
        }
        if (cv->rc)
            break;
        if (ec_codec_encode(codec, (const void *const *)buf, lens, (void *const *)(buf + k),
                            lens[0])) {
            fail(cv, -EIO, "row %u: encode failed", r);
            break;
        }
        /* the row's K + M blocks to their targets at once */
        uint64_t wfirst = req;
        for (unsigned p = 0; p < np && !cv->rc; p++) {
            size_t len = p < k ? lens[p] : lens[0];
            if (len) {
                struct cn_write_block wb = {.chunk = m->new_chunk,
                                            .version = 1,
                                            .part = (uint16_t)p,
                                            .block = r,
                                            .crc = ec_crc32c(0, buf[p], len),
                                            .flags = m->flags,
                                            .data = {buf[p], (uint32_t)len}};
                int rc = send_msg(dst[p], CN_MSG_WRITE_BLOCK, req, &wb);
                if (rc)
                    fail(cv, rc, "sending part %u row %u to %s: %s", p, r, cv->dst[p],
                         cn_strerror(rc));
                cv->bytes += len;
            }
            req++;
        }
        for (unsigned p = 0; p < np && !cv->rc; p++) {
            size_t len = p < k ? lens[p] : lens[0];
            if (!len)
                continue;
            int rc = recv_reply(dst[p], wfirst + p, CN_MSG_WRITE_BLOCK_R, &reply, err, sizeof(err));
            if (rc)
                fail(cv, rc, "part %u row %u on %s: %s", p, r, cv->dst[p],
                     err[0] ? err : cn_strerror(rc));
        }
    }
    for (unsigned p = 0; p < np && !cv->rc; p++) {
        uint64_t size = 0;
        ec_geom_part_size(&el, m->length, p, &size);
        struct cn_commit_part cp = {m->new_chunk, 1, (uint16_t)p, size, NULL, 0};
        struct cn_frame_hdr rh;
        int rc = cn_sock_call(dst[p], CN_MSG_COMMIT_PART, req++, &cp, &rh, &reply, CALL_MS, err,
                              sizeof(err));
        if (rc)
            fail(cv, rc, "commit of part %u on %s: %s", p, cv->dst[p],
                 err[0] ? err : cn_strerror(rc));
    }
out:
    cn_buf_release(&reply);
    if (src >= 0)
        close(src);
    for (unsigned p = 0; p < np; p++) {
        if (dst[p] >= 0)
            close(dst[p]);
        free(buf[p]);
    }
}

/* Reply to request `req` (a READ_BLOCK) on fd into buf (LS_BLOCK_MAX,
 * zero-filled past the data); 0 or -errno with text in err. */
static int read_reply(int fd, uint64_t req, struct cn_buf *reply, uint8_t *buf, char *err,
                      size_t errlen)
{
    int rc = recv_reply(fd, req, CN_MSG_READ_BLOCK_R, reply, err, errlen);
    if (rc)
        return rc;
    struct cn_read_block_r rr;
    if (cn_msg_decode(CN_MSG_READ_BLOCK_R, reply->data, reply->len, &rr) ||
        rr.data.len > LS_BLOCK_MAX)
        return CN_EMALFORMED;
    if (ec_crc32c(0, rr.data.ptr, rr.data.len) != rr.crc)
        return -EBADMSG;
    memcpy(buf, rr.data.ptr, rr.data.len);
    memset(buf + rr.data.len, 0, LS_BLOCK_MAX - rr.data.len);
    return 0;
}

/* Decision 3: ec=K+M -> copies of new_chunk on every target. */
static void work_decode(uv_work_t *w)
{
    struct cs_convert *cv = w->data;
    const struct cn_cs_convert *m = &cv->cmd;
    unsigned k = m->k, np = (unsigned)m->k + m->m, nsrc = 0;
    struct ec_layout el = {EC_LAYOUT_RS, 0, m->k, m->m};
    int src[EC_PARTS_MAX], dst[CN_CONVERT_COPIES_MAX];
    uint8_t *buf[EC_PARTS_MAX] = {0};
    struct cn_buf reply = {0};
    struct ec_codec *codec = NULL;
    char err[300] = "";
    for (unsigned p = 0; p < np; p++)
        src[p] = -1;
    for (unsigned t = 0; t < cv->ndst; t++)
        dst[t] = -1;
    if (!cv->ctx->ec || ec_codec_get(cv->ctx->ec, m->k, m->m, &codec)) {
        fail(cv, -EIO, "no codec");
        return;
    }
    /* K sources, data parts first (pass 0), then parity */
    for (unsigned pass = 0; pass < 2 && nsrc < k; pass++)
        for (uint32_t i = 0; i < cv->nsrc && nsrc < k; i++) {
            unsigned p = cv->src_part[i];
            if (p >= np || src[p] >= 0 || (pass == 0) != (p < k))
                continue;
            src[p] = cs_peer_open_sync(cv->ctx, cv->src[i], CONNECT_MS, CALL_MS);
            nsrc += src[p] >= 0;
        }
    if (nsrc < k) {
        fail(cv, -EIO, "only %u of the %u parts needed answer", nsrc, k);
        goto out;
    }
    for (unsigned p = 0; p < np; p++)
        if (!(buf[p] = aligned_alloc(64, LS_BLOCK_MAX))) {
            fail(cv, -ENOMEM, "out of memory");
            goto out;
        }
    for (unsigned t = 0; t < cv->ndst; t++) {
        dst[t] = cs_peer_open_sync(cv->ctx, cv->dst[t], CONNECT_MS, CALL_MS);
        if (dst[t] < 0) {
            fail(cv, dst[t], "target %s: %s", cv->dst[t], cn_strerror(dst[t]));
            goto out;
        }
    }
    uint32_t rows = ec_geom_rows(&el, m->length);
    uint64_t req = 2;
    for (uint32_t r = 0; r < rows && !cv->rc; r++) {
        size_t lens[EC_PARTS_MAX];
        ec_geom_part_lens(&el, m->length, r, 1, lens);
        uint64_t first = req;
        for (unsigned p = 0; p < np && !cv->rc; p++, req++) {
            size_t len = p < k ? lens[p] : lens[0];
            if (src[p] < 0 || !len)
                continue;
            struct cn_read_block q = {m->chunk, m->version, (uint16_t)p, r, 0, 0};
            int rc = send_msg(src[p], CN_MSG_READ_BLOCK, req, &q);
            if (rc)
                fail(cv, rc, "asking part %u for row %u: %s", p, r, cn_strerror(rc));
        }
        uint64_t missing = 0;
        void *parts[EC_PARTS_MAX];
        for (unsigned p = 0; p < np && !cv->rc; p++) {
            size_t len = p < k ? lens[p] : lens[0];
            parts[p] = src[p] >= 0 ? buf[p] : NULL;
            if (src[p] < 0) {
                if (p < k && len) {
                    missing |= 1ull << p;
                    parts[p] = buf[p];
                }
                continue;
            }
            if (!len) {
                memset(buf[p], 0, LS_BLOCK_MAX);
                continue;
            }
            err[0] = 0;
            int rc = read_reply(src[p], first + p, &reply, buf[p], err, sizeof(err));
            if (rc)
                fail(cv, rc, "row %u of part %u: %s", r, p, err[0] ? err : cn_strerror(rc));
        }
        if (!cv->rc && missing && ec_codec_decode(codec, parts, lens, missing, lens[0]))
            fail(cv, -EIO, "row %u: decode failed", r);
        /* the row's data blocks to every target, then their answers */
        uint64_t wfirst = req;
        for (unsigned j = 0; j < k && !cv->rc; j++) {
            if (!lens[j])
                continue;
            struct cn_write_block wb = {.chunk = m->new_chunk,
                                        .version = 1,
                                        .block = r * k + j,
                                        .crc = ec_crc32c(0, buf[j], lens[j]),
                                        .flags = m->flags,
                                        .data = {buf[j], (uint32_t)lens[j]}};
            for (unsigned t = 0; t < cv->ndst && !cv->rc; t++) {
                int rc = send_msg(dst[t], CN_MSG_WRITE_BLOCK, wfirst + j * cv->ndst + t, &wb);
                if (rc)
                    fail(cv, rc, "sending block %u to %s: %s", r * k + j, cv->dst[t],
                         cn_strerror(rc));
            }
            cv->bytes += lens[j] * cv->ndst;
        }
        /* each target answers its k writes in any order */
        for (unsigned t = 0; t < cv->ndst && !cv->rc; t++) {
            uint64_t pending = 0;
            for (unsigned j = 0; j < k; j++)
                pending |= (uint64_t)(lens[j] != 0) << j;
            uint64_t deadline = cn_now_ms() + CALL_MS;
            while (pending && !cv->rc) {
                struct cn_frame_hdr fh;
                int left = cn_ms_left(deadline);
                int rc = left ? cn_sock_recv_frame(dst[t], &fh, &reply, 0, left) : -ETIMEDOUT;
                uint64_t j = 0;
                if (rc == 0) {
                    if (fh.req_id < wfirst + t || (fh.req_id - wfirst - t) % cv->ndst)
                        continue; /* not one of this row's */
                    j = (fh.req_id - wfirst - t) / cv->ndst;
                    if (j >= k || !(pending >> j & 1))
                        continue;
                    struct cn_error e;
                    if (fh.type == CN_MSG_ERROR &&
                        !cn_msg_decode(CN_MSG_ERROR, reply.data, reply.len, &e)) {
                        snprintf(err, sizeof(err), "%.*s", (int)e.text.len, e.text.ptr);
                        rc = -cn_status_to_errno(e.status);
                    } else if (fh.type != CN_MSG_WRITE_BLOCK_R) {
                        snprintf(err, sizeof(err), "unexpected reply");
                        rc = CN_EMALFORMED;
                    }
                } else {
                    snprintf(err, sizeof(err), "%s", cn_strerror(rc));
                }
                if (rc)
                    fail(cv, rc, "row %u on %s: %s", r, cv->dst[t], err);
                pending &= ~(1ull << j);
            }
        }
        req = wfirst + (uint64_t)k * cv->ndst;
    }
    for (unsigned t = 0; t < cv->ndst && !cv->rc; t++) {
        struct cn_commit_part cp = {m->new_chunk, 1, 0, m->length, NULL, 0};
        struct cn_frame_hdr rh;
        err[0] = 0;
        int rc = cn_sock_call(dst[t], CN_MSG_COMMIT_PART, req++, &cp, &rh, &reply, CALL_MS, err,
                              sizeof(err));
        if (rc)
            fail(cv, rc, "commit on %s: %s", cv->dst[t], err[0] ? err : cn_strerror(rc));
    }
out:
    cn_buf_release(&reply);
    for (unsigned p = 0; p < np; p++) {
        if (src[p] >= 0)
            close(src[p]);
        free(buf[p]);
    }
    for (unsigned t = 0; t < cv->ndst; t++)
        if (dst[t] >= 0)
            close(dst[t]);
}

static void convert_free(struct cs_convert *cv)
{
    free(cv->src);
    free(cv->src_part);
    free(cv->dst);
    free(cv);
}

static void done(uv_work_t *w, int status)
{
    struct cs_convert *cv = w->data;
    struct cs_ctx *ctx = cv->ctx;
    ctx->work_inflight--;
    if (status)
        fail(cv, status, "cannot run on the pool: %s", cn_strerror(status));
    char d[64];
    if (cv->rc)
        cn_log_warn(MOD, "%s", cv->err);
    else
        cn_log_info(MOD,
                    "converted chunk %016llx v%llu to %016llx (%s): %llu bytes sent in %llu ms",
                    (unsigned long long)cv->cmd.chunk, (unsigned long long)cv->cmd.version,
                    (unsigned long long)cv->cmd.new_chunk, describe(cv, d, sizeof(d)),
                    (unsigned long long)cv->bytes, (unsigned long long)(cn_now_ms() - cv->t0_ms));
    struct cn_conn *c = cs_master_conn(ctx, cv->session);
    if (c) {
        if (cv->rc) {
            cn_conn_send_error(c, cv->req_id, cs_status_of(cv->rc), cv->err);
        } else {
            struct cn_empty e = {0};
            cn_conn_send_msg(c, CN_MSG_CS_CMD_CONVERT_R, cv->req_id, &e);
        }
    }
    convert_free(cv);
}

void cs_convert_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                      const struct cn_cs_convert *m)
{
    struct ec_layout el = {EC_LAYOUT_RS, 0, m->k, m->m};
    const char *bad = NULL;
    if (ctx->stopping)
        bad = "chunkserver shutting down";
    else if (ec_layout_check(&el, NULL, 0) || m->length > EC_CHUNK_SIZE || !m->nsrcs ||
             !m->new_chunk || m->decode > 1 ||
             (m->decode ? !m->ntargets || m->ntargets > CN_CONVERT_COPIES_MAX
                        : m->ntargets != (uint32_t)m->k + m->m))
        bad = "bad layout, length, sources or targets";
    for (uint32_t i = 0; !bad && m->decode && i < m->nsrcs; i++)
        if (m->srcs[i].part >= (unsigned)m->k + m->m)
            bad = "bad source part";
    for (uint32_t i = 0; !bad && i < m->nsrcs; i++)
        if (!m->srcs[i].addr.len || m->srcs[i].addr.len >= 300)
            bad = "bad source address";
    for (uint32_t i = 0; !bad && i < m->ntargets; i++)
        if (!m->targets[i].addr.len || m->targets[i].addr.len >= 300)
            bad = "bad target address";
    if (!bad && !ctx->ec) {
        char err[200];
        if (ec_ctx_create(&ctx->ec, EC_BACKEND_AUTO, err, sizeof(err)))
            bad = "no erasure coding context";
    }
    if (bad) {
        char text[400];
        snprintf(text, sizeof(text), "convert chunk %016llx: %s", (unsigned long long)m->chunk,
                 bad);
        cn_log_warn(MOD, "%s", text);
        cn_conn_send_error(c, req_id, ctx->stopping ? CN_ST_SHUTDOWN : CN_ST_EINVAL, text);
        return;
    }
    struct cs_convert *cv = cn_xcalloc(1, sizeof(*cv));
    cv->ctx = ctx;
    cv->session = session;
    cv->req_id = req_id;
    cv->cmd = *m;
    cv->cmd.srcs = NULL; /* borrowed from the frame */
    cv->cmd.targets = NULL;
    cv->nsrc = m->nsrcs;
    cv->ndst = m->ntargets;
    cv->src = cn_xcalloc(m->nsrcs, sizeof(*cv->src));
    cv->src_part = cn_xcalloc(m->nsrcs, sizeof(*cv->src_part));
    cv->dst = cn_xcalloc(m->ntargets, sizeof(*cv->dst));
    for (uint32_t i = 0; i < m->nsrcs; i++) {
        memcpy(cv->src[i], m->srcs[i].addr.ptr, m->srcs[i].addr.len);
        cv->src_part[i] = m->srcs[i].part;
    }
    for (uint32_t i = 0; i < m->ntargets; i++)
        memcpy(cv->dst[i], m->targets[i].addr.ptr, m->targets[i].addr.len);
    cv->t0_ms = cn_now_ms();
    cv->work.data = cv;
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &cv->work, m->decode ? work_decode : work, done)) {
        ctx->work_inflight--;
        cn_conn_send_error(c, req_id, CN_ST_EIO, "convert: cannot queue the work");
        convert_free(cv);
    }
}
