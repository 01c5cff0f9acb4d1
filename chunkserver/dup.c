/*
 * dup.c - CS_CMD_DUP_PART: the copy-on-write of a chunk shared by a
 * snapshot (docs/master.md, "Snapshots"). The master gave a file position a
 * private chunk id; every server holding the old chunk's committed part
 * duplicates it locally under the new id, on the same disk, so no data
 * crosses the network. The copy runs on the thread pool (cs_part_clone);
 * the new part joins the part map and the next heartbeat, then the master
 * gets its answer.
 */
#include <errno.h>
#include <stdlib.h>

#include "cn_time.h"
#include "cs.h"
#include "log.h"
#include "xmalloc.h"

struct dup {
    uv_work_t work;
    struct cs_ctx *ctx;
    uint64_t session, req_id;
    struct cn_cs_dup_part cmd;
    uint16_t disk;
    uint64_t bytes, t0;
    int rc;
};

static void work_dup(uv_work_t *w)
{
    struct dup *d = w->data;
    struct ls *ls = d->ctx->disks[d->disk].ls;
    d->rc = cs_part_clone(ls, d->cmd.chunk, d->cmd.part, d->cmd.version, ls, d->cmd.new_chunk,
                          &d->bytes);
}

static void dup_done(uv_work_t *w, int status)
{
    struct dup *d = w->data;
    struct cs_ctx *ctx = d->ctx;
    const struct cn_cs_dup_part *m = &d->cmd;
    ctx->work_inflight--;
    if (status && !d->rc)
        d->rc = status;
    if (!d->rc && ctx->disks[d->disk].gone)
        d->rc = -EIO; /* vanished meanwhile: the copy is not served */
    cs_disk_drop(ctx, d->disk);
    if (!d->rc) {
        struct cs_partref *p = cs_part_find(ctx, m->new_chunk, m->part);
        if (!p)
            p = cs_part_add(ctx, m->new_chunk, m->part, d->disk);
        p->disk = d->disk;
        p->version = m->version;
        cs_note_change(ctx, m->new_chunk, m->version, m->part, d->disk, 0);
        cn_log_info(
            "dup",
            "chunk %016llx part %u version %llu duplicated as %016llx: %llu bytes in %llu ms",
            (unsigned long long)m->chunk, m->part, (unsigned long long)m->version,
            (unsigned long long)m->new_chunk, (unsigned long long)d->bytes,
            (unsigned long long)(cn_now_ms() - d->t0));
    } else {
        cn_log_warn("dup", "duplicating chunk %016llx part %u as %016llx: %s",
                    (unsigned long long)m->chunk, m->part, (unsigned long long)m->new_chunk,
                    ls_strerror(d->rc));
    }
    struct cn_conn *c = cs_master_conn(ctx, d->session);
    if (c) {
        if (d->rc) {
            cn_conn_send_error(c, d->req_id, cs_status_of(d->rc), ls_strerror(d->rc));
        } else {
            struct cn_empty e = {0};
            cn_conn_send_msg(c, CN_MSG_CS_CMD_DUP_PART_R, d->req_id, &e);
        }
    }
    free(d);
}

void cs_dup_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                  const struct cn_cs_dup_part *cmd)
{
    struct cs_partref *p = cs_part_find(ctx, cmd->chunk, cmd->part);
    if (!p || p->version != cmd->version || !cs_disk_ready(ctx, p->disk) || cmd->new_chunk == 0 ||
        cmd->new_chunk == cmd->chunk) {
        cn_conn_send_error(c, req_id, p ? CN_ST_ESTALE : CN_ST_NO_CHUNK,
                           p ? "not at that version here" : "no such part here");
        return;
    }
    struct dup *d = cn_xcalloc(1, sizeof(*d));
    d->ctx = ctx;
    d->session = session;
    d->req_id = req_id;
    d->cmd = *cmd;
    d->disk = p->disk;
    d->t0 = cn_now_ms();
    d->work.data = d;
    cs_disk_hold(ctx, p->disk);
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &d->work, work_dup, dup_done)) {
        ctx->work_inflight--;
        cs_disk_drop(ctx, p->disk);
        cn_conn_send_error(c, req_id, CN_ST_EIO, "cannot queue the copy");
        free(d);
    }
}
