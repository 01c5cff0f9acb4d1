/*
 * rebuild.c - CS_CMD_REBUILD_PART: this chunkserver rebuilds one lost part
 * of an erasure-coded chunk from K other parts, pulled from their servers,
 * and stores it as its own (DESIGN.md "Master": "reconstruct an EC part
 * from K others"; the master moves no data).
 *
 * Decisions a reader must know:
 *  1. The work runs on one thread of the pool with blocking sockets: it
 *     connects to the sources the master listed (the first K that answer
 *     HELLO), and for each row asks each of them for that row's block,
 *     checks its CRC, decodes the wanted part's block (ec library) and
 *     appends it. Rows go to the logstore 16 at a time; the commit is in
 *     the last batch, so nothing is readable before the whole part is.
 *  2. As for copies (replicate.c decision 3), whatever this server holds of
 *     the part at or below the version is deleted first; a newer committed
 *     version is refused with ESTALE. A rebuild of a part already being
 *     copied or rebuilt here is refused with EAGAIN.
 *  3. Any failure (a source gone, a CRC mismatch, a disk error) fails the
 *     whole rebuild, answers ERROR and leaves nothing committed; the
 *     master's health loop tries again, with the sources online then.
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

#define MOD            "rebuild"
#define ROWS_PER_WRITE 16
#define SRC_CONNECT_MS 3000
#define SRC_CALL_MS    30000

struct cs_rebuild {
    uv_work_t work;
    struct cs_ctx *ctx;
    struct cs_rebuild *next; /* ctx->rebuilds */
    uint64_t session, req_id, t0_ms;
    struct cn_cs_rebuild_part cmd; /* srcs point into src/src_part */
    char (*src)[300];
    uint16_t *src_part;
    uint16_t disk_idx;
    struct cs_disk *disk;
    int created, deleted;
    uint64_t deleted_version, bytes;
    int rc;
    char err[400];
};

static void fail(struct cs_rebuild *rb, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct cs_rebuild *rb, int rc, const char *fmt, ...)
{
    if (rb->rc)
        return;
    rb->rc = rc;
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(rb->err, sizeof(rb->err), "rebuild chunk %016llx part %u version %llu: %s",
             (unsigned long long)rb->cmd.chunk, rb->cmd.part, (unsigned long long)rb->cmd.version,
             text);
}

/* Decision 2, on the pool. */
static int prep(struct cs_rebuild *rb)
{
    const struct cn_cs_rebuild_part *m = &rb->cmd;
    struct ls_part_info pi;
    int rc = ls_part_stat(rb->disk->ls, m->chunk, m->part, &pi);
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        fail(rb, rc, "local state on disk %s: %s", rb->disk->path, ls_strerror(rc));
        return rc;
    }
    if (pi.committed && pi.version > m->version) {
        fail(rb, -ESTALE, "this server holds the newer version %llu",
             (unsigned long long)pi.version);
        return -ESTALE;
    }
    rc = ls_delete(rb->disk->ls, m->chunk, m->part, m->version);
    if (rc && rc != -ENOENT) {
        fail(rb, rc, "cannot drop the old local part on disk %s: %s", rb->disk->path,
             ls_strerror(rc));
        return rc;
    }
    if (pi.committed) {
        rb->deleted = 1;
        rb->deleted_version = pi.version;
    }
    return 0;
}

/* Block `row` of part `part` from the source on fd into buf (zero-padded). */
static int src_read(int fd, const struct cn_cs_rebuild_part *m, uint16_t part, uint32_t row,
                    uint64_t req, uint8_t *buf, char *err, size_t errlen)
{
    struct cn_read_block q = {m->chunk, m->version, part, row, 0, 0};
    struct cn_buf reply = {0};
    struct cn_frame_hdr rh;
    int rc = cn_sock_call(fd, CN_MSG_READ_BLOCK, req, &q, &rh, &reply, SRC_CALL_MS, err, errlen);
    struct cn_read_block_r r;
    if (rc == 0 && (rh.type != CN_MSG_READ_BLOCK_R ||
                    cn_msg_decode(CN_MSG_READ_BLOCK_R, reply.data, reply.len, &r) ||
                    r.data.len > LS_BLOCK_MAX))
        rc = CN_EMALFORMED;
    if (rc == 0 && ec_crc32c(0, r.data.ptr, r.data.len) != r.crc) {
        snprintf(err, errlen, "CRC mismatch");
        rc = -EBADMSG;
    }
    if (rc == 0) {
        memcpy(buf, r.data.ptr, r.data.len);
        memset(buf + r.data.len, 0, LS_BLOCK_MAX - r.data.len);
    }
    cn_buf_release(&reply);
    return rc;
}

static void work(uv_work_t *w)
{
    struct cs_rebuild *rb = w->data;
    const struct cn_cs_rebuild_part *m = &rb->cmd;
    unsigned k = m->k, np = (unsigned)m->k + m->m;
    struct ec_layout el = {EC_LAYOUT_RS, 0, m->k, m->m};
    int fds[EC_PARTS_MAX];
    uint16_t parts[EC_PARTS_MAX];
    unsigned nfd = 0;
    void *bufs[EC_PARTS_MAX] = {0};
    uint8_t *out[ROWS_PER_WRITE] = {0};
    struct ls_write batch[ROWS_PER_WRITE + 1];
    struct ec_codec *codec = NULL;
    if (prep(rb))
        return;
    if (!rb->ctx->ec || ec_codec_get(rb->ctx->ec, m->k, m->m, &codec)) {
        fail(rb, -EIO, "no codec for ec=%u+%u", m->k, m->m);
        return;
    }
    for (uint32_t i = 0; i < m->nsrcs && nfd < k; i++) {
        int fd = cs_peer_open_sync(rb->ctx, rb->src[i], SRC_CONNECT_MS, SRC_CALL_MS);
        if (fd >= 0) {
            fds[nfd] = fd;
            parts[nfd++] = rb->src_part[i];
        } else {
            cn_log_warn(MOD, "chunk %016llx: source %s (part %u) unreachable: %s",
                        (unsigned long long)m->chunk, rb->src[i], rb->src_part[i], cn_strerror(fd));
        }
    }
    if (nfd < k) {
        fail(rb, -EIO, "only %u of the %u sources needed answer", nfd, k);
        goto out;
    }
    for (unsigned i = 0; i < ROWS_PER_WRITE; i++)
        if (!(out[i] = aligned_alloc(64, LS_BLOCK_MAX))) {
            fail(rb, -ENOMEM, "out of memory");
            goto out;
        }
    for (unsigned i = 0; i < nfd; i++)
        if (!(bufs[parts[i]] = aligned_alloc(64, LS_BLOCK_MAX))) {
            fail(rb, -ENOMEM, "out of memory");
            goto out;
        }
    uint32_t rows = ec_geom_rows(&el, m->length);
    uint64_t req = 2, part_size = 0;
    ec_geom_part_size(&el, m->length, m->part, &part_size);
    size_t nb = 0;
    for (uint32_t r = 0; r < rows && !rb->rc; r++) {
        size_t lens[EC_PARTS_MAX];
        ec_geom_part_lens(&el, m->length, r, 1, lens);
        for (unsigned i = 0; i < nfd && !rb->rc; i++) {
            char err[200] = "";
            int rc = src_read(fds[i], m, parts[i], r, req++, bufs[parts[i]], err, sizeof(err));
            if (rc)
                fail(rb, rc, "row %u from part %u: %s", r, parts[i],
                     err[0] ? err : cn_strerror(rc));
        }
        if (rb->rc)
            break;
        if (ec_codec_reconstruct(codec, (const void *const *)bufs, NULL, m->part, out[nb],
                                 LS_BLOCK_MAX)) {
            fail(rb, -EIO, "row %u: decode failed", r);
            break;
        }
        if (lens[m->part]) {
            batch[nb] =
                (struct ls_write){.type = LS_REC_BLOCK,
                                  .flags = m->flags & CN_WF_COMPRESS ? LS_WRITE_COMPRESS : 0,
                                  .chunk = m->chunk,
                                  .part = m->part,
                                  .version = m->version,
                                  .block = r,
                                  .data = out[nb],
                                  .len = (uint32_t)lens[m->part]};
            rb->bytes += lens[m->part];
            nb++;
        }
        int last = r + 1 == rows;
        if (nb == ROWS_PER_WRITE || last) {
            if (last) /* decision 1: the commit goes with the last blocks */
                batch[nb++] = (struct ls_write){.type = LS_REC_COMMIT,
                                                .chunk = m->chunk,
                                                .part = m->part,
                                                .version = m->version,
                                                .size = part_size};
            int rc = ls_writev(rb->disk->ls, batch, nb);
            if (rc)
                fail(rb, rc, "writing rows to disk %s: %s", rb->disk->path, ls_strerror(rc));
            nb = 0;
        }
    }
    if (!rb->rc && rows == 0) { /* an empty chunk: commit an empty part */
        int rc = ls_commit(rb->disk->ls, m->chunk, m->part, m->version, 0);
        if (rc)
            fail(rb, rc, "commit on disk %s: %s", rb->disk->path, ls_strerror(rc));
    }
out:
    struct ls_part_info pi;
    if (rb->rc && rb->rc != -ESTALE &&
        !(ls_part_stat(rb->disk->ls, m->chunk, m->part, &pi) == 0 && pi.committed &&
          pi.version >= m->version)) {
        /* prep() dropped everything at or below the version: what is left
         * there is this attempt's uncommitted blocks, which nobody would
         * ever commit or count */
        int rc = ls_delete(rb->disk->ls, m->chunk, m->part, m->version);
        if (rc && rc != -ENOENT)
            cn_log_warn(MOD, "chunk %016llx part %u: cannot drop the failed attempt's blocks: %s",
                        (unsigned long long)m->chunk, m->part, ls_strerror(rc));
    }
    for (unsigned i = 0; i < nfd; i++)
        close(fds[i]);
    for (unsigned i = 0; i < np; i++)
        free(bufs[i]);
    for (unsigned i = 0; i < ROWS_PER_WRITE; i++)
        free(out[i]);
}

static void unlink_rebuild(struct cs_rebuild *rb)
{
    for (struct cs_rebuild **pp = &rb->ctx->rebuilds; *pp; pp = &(*pp)->next)
        if (*pp == rb) {
            *pp = rb->next;
            return;
        }
}

static void rebuild_free(struct cs_rebuild *rb)
{
    free(rb->src);
    free(rb->src_part);
    free(rb);
}

static void done(uv_work_t *w, int status)
{
    struct cs_rebuild *rb = w->data;
    struct cs_ctx *ctx = rb->ctx;
    const struct cn_cs_rebuild_part *m = &rb->cmd;
    ctx->work_inflight--;
    unlink_rebuild(rb);
    if (status)
        fail(rb, status, "cannot run on the pool: %s", cn_strerror(status));
    if (!rb->rc && rb->disk->gone)
        fail(rb, -EIO, "disk %s vanished", rb->disk->path);
    struct cs_partref *p = cs_part_find(ctx, m->chunk, m->part);
    if (!rb->rc) {
        if (!p)
            p = cs_part_add(ctx, m->chunk, m->part, rb->disk_idx);
        p->disk = rb->disk_idx;
        p->version = m->version;
        cs_note_change(ctx, m->chunk, m->version, m->part, rb->disk_idx, 0);
        cn_log_info(MOD,
                    "rebuilt chunk %016llx part %u version %llu (ec=%u+%u): %llu bytes in %llu ms "
                    "(disk %s)",
                    (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, m->k,
                    m->m, (unsigned long long)rb->bytes,
                    (unsigned long long)(cn_now_ms() - rb->t0_ms), rb->disk->path);
    } else {
        struct ls_part_info pi;
        if (p && (rb->created || rb->deleted) && p->disk == rb->disk_idx &&
            (ls_part_stat(rb->disk->ls, m->chunk, m->part, &pi) || !pi.committed)) {
            cs_part_remove(ctx, m->chunk, m->part);
            if (rb->deleted)
                cs_note_change(ctx, m->chunk, rb->deleted_version, m->part, rb->disk_idx, 1);
        }
        cn_log_warn(MOD, "%s", rb->err);
    }
    struct cn_conn *c = cs_master_conn(ctx, rb->session);
    if (c) {
        if (rb->rc) {
            enum cn_status st = rb->rc == -ESTALE ? CN_ST_ESTALE : cs_status_of(rb->rc);
            cn_conn_send_error(c, rb->req_id, st, rb->err);
        } else {
            struct cn_empty e = {0};
            cn_conn_send_msg(c, CN_MSG_CS_CMD_REBUILD_PART_R, rb->req_id, &e);
        }
    }
    cs_disk_drop(ctx, rb->disk_idx);
    rebuild_free(rb);
}

static void refuse(struct cn_conn *c, uint64_t req_id, enum cn_status st,
                   const struct cn_cs_rebuild_part *m, const char *why)
{
    char text[400];
    snprintf(text, sizeof(text), "rebuild chunk %016llx part %u version %llu: %s",
             (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, why);
    cn_log_warn(MOD, "%s", text);
    cn_conn_send_error(c, req_id, st, text);
}

int cs_rebuild_running(struct cs_ctx *ctx, uint64_t chunk, uint16_t part)
{
    for (struct cs_rebuild *o = ctx->rebuilds; o; o = o->next)
        if (o->cmd.chunk == chunk && o->cmd.part == part)
            return 1;
    return 0;
}

void cs_rebuild_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                      const struct cn_cs_rebuild_part *m)
{
    struct ec_layout el = {EC_LAYOUT_RS, 0, m->k, m->m};
    if (ctx->stopping) {
        refuse(c, req_id, CN_ST_SHUTDOWN, m, "chunkserver shutting down");
        return;
    }
    if (ec_layout_check(&el, NULL, 0) || m->part >= (unsigned)m->k + m->m ||
        m->length > EC_CHUNK_SIZE || m->nsrcs < m->k || m->nsrcs > EC_PARTS_MAX) {
        refuse(c, req_id, CN_ST_EINVAL, m, "bad layout, part, length or source count");
        return;
    }
    for (uint32_t i = 0; i < m->nsrcs; i++)
        if (!m->srcs[i].addr.len || m->srcs[i].addr.len >= 300 || m->srcs[i].part == m->part ||
            m->srcs[i].part >= (unsigned)m->k + m->m) {
            refuse(c, req_id, CN_ST_EINVAL, m, "bad source address or part");
            return;
        }
    if (cs_copy_running(ctx, m->chunk, m->part) || cs_rebuild_running(ctx, m->chunk, m->part)) {
        refuse(c, req_id, CN_ST_EAGAIN, m, "a copy or rebuild of this part is running");
        return;
    }
    if (!ctx->ec) {
        char err[200];
        if (ec_ctx_create(&ctx->ec, EC_BACKEND_AUTO, err, sizeof(err))) {
            refuse(c, req_id, CN_ST_EIO, m, err);
            return;
        }
    }
    int created = 0;
    struct cs_partref *p = cs_part_find(ctx, m->chunk, m->part);
    if (p && p->version > m->version) {
        refuse(c, req_id, CN_ST_ESTALE, m, "this server holds a newer version");
        return;
    }
    if (p && !cs_disk_ready(ctx, p->disk)) {
        refuse(c, req_id, CN_ST_EIO, m, "the part's disk is missing");
        return;
    }
    if (!p) {
        int d = cs_disk_pick(ctx);
        if (d < 0) {
            refuse(c, req_id, CN_ST_ENOSPC, m, "no writable disk on this chunkserver");
            return;
        }
        p = cs_part_add(ctx, m->chunk, m->part, (uint16_t)d);
        created = 1;
    }
    struct cs_rebuild *rb = cn_xcalloc(1, sizeof(*rb));
    rb->ctx = ctx;
    rb->session = session;
    rb->req_id = req_id;
    rb->cmd = *m;
    rb->src = cn_xcalloc(m->nsrcs, sizeof(*rb->src));
    rb->src_part = cn_xcalloc(m->nsrcs, sizeof(*rb->src_part));
    for (uint32_t i = 0; i < m->nsrcs; i++) {
        memcpy(rb->src[i], m->srcs[i].addr.ptr, m->srcs[i].addr.len);
        rb->src_part[i] = m->srcs[i].part;
    }
    rb->cmd.srcs = NULL; /* borrowed from the frame: not kept */
    rb->created = created;
    rb->disk_idx = p->disk;
    rb->disk = &ctx->disks[p->disk];
    rb->t0_ms = cn_now_ms();
    rb->work.data = rb;
    rb->next = ctx->rebuilds;
    ctx->rebuilds = rb;
    cs_disk_hold(ctx, p->disk); /* ready: checked or picked above */
    ctx->work_inflight++;
    int rc = uv_queue_work(ctx->loop, &rb->work, work, done);
    if (rc) {
        ctx->work_inflight--;
        cs_disk_drop(ctx, rb->disk_idx);
        unlink_rebuild(rb);
        if (created)
            cs_part_remove(ctx, m->chunk, m->part);
        rebuild_free(rb);
        {
            refuse(c, req_id, CN_ST_EIO, m, "cannot queue the work");
            return;
        }
    }
}

void cs_rebuild_free(struct cs_ctx *ctx)
{
    while (ctx->rebuilds) {
        struct cs_rebuild *rb = ctx->rebuilds;
        ctx->rebuilds = rb->next;
        rebuild_free(rb);
    }
    ec_ctx_destroy(ctx->ec);
    ctx->ec = NULL;
}
