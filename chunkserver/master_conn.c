/*
 * master_conn.c - the chunkserver's session with the master (MooseFS
 * `csserv`/`masterconn`): HELLO, CS_REGISTER with every part, CS_HEARTBEAT
 * with space and the parts changed since the previous one, and the master's
 * commands (CS_CMD_DELETE_PART, CS_CMD_DISK_MARK, CS_CMD_DISK_RESCAN;
 * CS_CMD_COPY_PART is run by replicate.c).
 *
 * Decisions a reader must know:
 *  - Chunk locations are soft state on the master, so every (re)connection
 *    registers again with the full part list; the change list kept for
 *    heartbeats is cleared at registration, except bad-CRC reports, which
 *    the full list cannot express.
 *  - The master being down never stops the data path: the data port and the
 *    disks do not depend on this module. Reconnection backs off from 200 ms
 *    to 5 s.
 *  - A delete runs on the thread pool like every logstore call and is
 *    answered when durable. Deleting a part this server does not hold
 *    answers OK (the master's wish is already true).
 *  - A disk mark from the master lives in memory only: the master sends its
 *    marks again after every registration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs.h"
#include "log.h"
#include "xmalloc.h"

#define BACKOFF_MIN_MS  200
#define BACKOFF_MAX_MS  5000
#define CALL_TIMEOUT_MS 10000

struct cs_master {
    struct cs_ctx *ctx;
    struct cn_conn *c; /* NULL when not connected */
    int connecting;
    int registered;
    uint64_t session; /* numbers connections: answers go to the session asked */
    uint64_t cs_id;   /* assigned by the master; kept across reconnects */
    uint32_t heartbeat_ms;
    uint32_t backoff_ms;
    uv_timer_t retry, beat;
    int warned; /* "master unreachable" logged once per outage */
    char addr[300];
};

struct delreq {
    uv_work_t work;
    struct cs_master *m;
    uint64_t session; /* the connection the command came on */
    uint64_t req_id;
    struct cn_cs_delete_part cmd;
    struct cs_disk *disk;
    uint16_t disk_idx;
    int rc;
};

static void connect_now(struct cs_master *m);
static void on_beat(uv_timer_t *t);
static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

static void schedule_retry(struct cs_master *m)
{
    if (m->ctx->stopping)
        return;
    uv_timer_start(&m->retry, on_retry, m->backoff_ms, 0);
    m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
}

/* ---- register / heartbeat ------------------------------------------------ */

static void fill_disks(struct cs_ctx *ctx, struct cn_cs_disk **out, uint32_t *n)
{
    *out = cn_xcalloc(ctx->ndisks ? ctx->ndisks : 1, sizeof(**out));
    for (size_t i = 0; i < ctx->ndisks; i++)
        cs_disk_describe(ctx, i, &(*out)[i]);
    *n = (uint32_t)ctx->ndisks;
}

static void advertise(struct cs_ctx *ctx, char *buf, size_t len)
{
    if (ctx->cfg.advertise && ctx->cfg.advertise[0]) {
        snprintf(buf, len, "%s", ctx->cfg.advertise);
        return;
    }
    struct cn_addr a = ctx->cfg.listen;
    a.port = ctx->data_port;
    if (!a.host[0] || !strcmp(a.host, "*") || !strcmp(a.host, "0.0.0.0") || !strcmp(a.host, "::")) {
        if (gethostname(a.host, sizeof(a.host) - 1))
            snprintf(a.host, sizeof(a.host), "127.0.0.1");
    }
    cn_addr_format(&a, buf, len);
}

static void on_register(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                        const uint8_t *payload, void *ud)
{
    struct cs_master *m = ud;
    struct cn_cs_register_r r;
    if (status || cn_msg_decode(CN_MSG_CS_REGISTER_R, payload, h->len, &r)) {
        cn_log_warn("master_conn", "master %s refused the registration: %s", m->addr,
                    status ? cn_strerror(status) : "malformed reply");
        if (c)
            cn_conn_close(c, 0);
        return;
    }
    m->cs_id = r.cs_id;
    m->heartbeat_ms = r.heartbeat_ms ? r.heartbeat_ms : (uint32_t)m->ctx->cfg.heartbeat_ms;
    m->registered = 1;
    m->backoff_ms = BACKOFF_MIN_MS;
    cn_log_info("master_conn", "registered with master %s as chunkserver %llu (%zu parts)", m->addr,
                (unsigned long long)m->cs_id, m->ctx->nparts);
    uv_timer_start(&m->beat, on_beat, m->heartbeat_ms, m->heartbeat_ms);
}

static void send_register(struct cs_master *m)
{
    struct cs_ctx *ctx = m->ctx;
    struct cn_cs_register reg = {0};
    char addr[300];
    advertise(ctx, addr, sizeof(addr));
    reg.cs_id = m->cs_id;
    reg.name = cn_str_of(ctx->cfg.name);
    reg.labels = cn_str_of(ctx->cfg.labels);
    reg.addr = cn_str_of(addr);
    fill_disks(ctx, &reg.disks, &reg.ndisks);
    reg.parts = cn_xcalloc(ctx->nparts ? ctx->nparts : 1, sizeof(*reg.parts));
    for (size_t i = 0; i < ctx->nbuckets; i++)
        for (struct cs_partref *p = ctx->buckets[i]; p; p = p->next) {
            if (!cs_disk_ready(ctx, p->disk))
                continue; /* on a vanished disk */
            uint64_t version = p->version;
            uint8_t status = 0;
            if (!version) {
                /* A write session only: reported as status 3 with its
                 * highest version, so that a new master drops what a
                 * conversion it never heard of left behind. */
                struct ls_part_info pi;
                struct ls *ls = ctx->disks[p->disk].ls;
                if (!ls || ls_part_stat(ls, p->chunk, p->part, &pi) || !pi.npending)
                    continue;
                version = pi.pending_max;
                status = 3;
            }
            struct cn_cs_part *e = &reg.parts[reg.nparts++];
            e->chunk = p->chunk;
            e->version = version;
            e->part = p->part;
            e->disk = p->disk;
            e->status = status;
        }
    /* the full list replaces the changes, except bad-CRC reports */
    size_t k = 0;
    for (size_t i = 0; i < ctx->nchanges; i++)
        if (ctx->changes[i].status == 2)
            ctx->changes[k++] = ctx->changes[i];
    ctx->nchanges = k;
    int rc = cn_conn_call(m->c, CN_MSG_CS_REGISTER, &reg, CALL_TIMEOUT_MS, on_register, m);
    if (rc) {
        cn_log_warn("master_conn", "cannot send CS_REGISTER (%u parts): %s", reg.nparts,
                    cn_strerror(rc));
        cn_conn_close(m->c, rc);
    }
    free(reg.disks);
    free(reg.parts);
}

static void on_beat(uv_timer_t *t)
{
    struct cs_master *m = t->data;
    struct cs_ctx *ctx = m->ctx;
    if (!m->c || !m->registered)
        return;
    struct cn_cs_heartbeat hb = {0};
    fill_disks(ctx, &hb.disks, &hb.ndisks);
    hb.changed = ctx->changes;
    hb.nchanged = (uint32_t)ctx->nchanges;
    int rc = cn_conn_send_msg(m->c, CN_MSG_CS_HEARTBEAT, 0, &hb);
    free(hb.disks);
    if (rc) {
        cn_log_warn("master_conn", "heartbeat: %s", cn_strerror(rc));
        return;
    }
    ctx->nchanges = 0;
}

void cs_master_beat_now(struct cs_ctx *ctx)
{
    struct cs_master *m = ctx->master;
    if (m && m->c && m->registered)
        on_beat(&m->beat);
}

static void on_hello(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                     const uint8_t *payload, void *ud)
{
    struct cs_master *m = ud;
    if (status) {
        cn_log_warn("master_conn", "master %s refused the handshake: %s", m->addr,
                    cn_strerror(status));
        if (c)
            cn_conn_close(c, 0);
        return;
    }
    send_register(m);
}

/* ---- commands ----------------------------------------------------------- */

static void work_delete(uv_work_t *w)
{
    struct delreq *d = w->data;
    d->rc = ls_delete(d->disk->ls, d->cmd.chunk, d->cmd.part, d->cmd.version);
}

static void delete_done(uv_work_t *w, int status)
{
    struct delreq *d = w->data;
    struct cs_master *m = d->m;
    struct cs_ctx *ctx = m->ctx;
    ctx->work_inflight--;
    if (status && !d->rc)
        d->rc = status;
    if (!d->rc) {
        struct ls_part_info pi;
        struct cs_partref *p = cs_part_find(ctx, d->cmd.chunk, d->cmd.part);
        if (ls_part_stat(d->disk->ls, d->cmd.chunk, d->cmd.part, &pi) == -ENOENT && p &&
            p->disk == d->disk_idx) {
            cs_part_remove(ctx, d->cmd.chunk, d->cmd.part);
            cs_note_change(ctx, d->cmd.chunk, d->cmd.version, d->cmd.part, d->disk_idx, 1);
        }
        cn_log_info("master_conn", "deleted chunk %016llx part %u version %llu",
                    (unsigned long long)d->cmd.chunk, d->cmd.part,
                    (unsigned long long)d->cmd.version);
    }
    cs_disk_drop(ctx, d->disk_idx);
    struct cn_conn *c = cs_master_conn(ctx, d->session);
    if (c) { /* still the same session: answer */
        if (d->rc) {
            char text[200];
            snprintf(text, sizeof(text), "delete chunk %016llx part %u: %s",
                     (unsigned long long)d->cmd.chunk, d->cmd.part, ls_strerror(d->rc));
            cn_conn_send_error(c, d->req_id, cs_status_of(d->rc), text);
        } else {
            struct cn_empty e = {0};
            cn_conn_send_msg(c, CN_MSG_CS_CMD_DELETE_PART_R, d->req_id, &e);
        }
    }
    free(d);
}

static void disk_mark(struct cs_master *m, struct cn_conn *c, const struct cn_frame_hdr *h,
                      const uint8_t *payload)
{
    struct cs_ctx *ctx = m->ctx;
    struct cn_cs_disk_mark cmd;
    if (cn_msg_decode(h->type, payload, h->len, &cmd)) {
        cn_conn_close(c, CN_EMALFORMED);
        return;
    }
    for (size_t i = 0; i < ctx->ndisks; i++) {
        struct cs_disk *d = &ctx->disks[i];
        if ((!d->ls && !d->was_open) || memcmp(d->uuid, cmd.uuid, 16))
            continue; /* a missing disk keeps its mark for when it is back */
        if (d->master_leaving != !!cmd.leaving)
            cn_log_info("master_conn", "disk %s: %s", d->path,
                        cmd.leaving
                            ? "marked leaving by the master; no new parts go to it"
                            : "leaving mark cleared by the master; it takes new parts again");
        d->master_leaving = !!cmd.leaving;
        struct cn_empty e = {0};
        cn_conn_send_msg(c, CN_MSG_CS_CMD_DISK_MARK_R, h->req_id, &e);
        return;
    }
    char hex[33], text[200];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", cmd.uuid[i]);
    snprintf(text, sizeof(text), "disk mark: no open disk with uuid %s on chunkserver %s", hex,
             ctx->cfg.name ? ctx->cfg.name : "");
    cn_log_warn("master_conn", "%s", text);
    cn_conn_send_error(c, h->req_id, CN_ST_ENOENT, text);
}

/* CS_CMD_DISK_RESCAN: answered once every reopen tried, on the session asked. */
struct rescan_req {
    uint64_t session, req_id;
};

static void rescan_answer(struct cs_ctx *ctx, unsigned reopened, unsigned closed, void *ud)
{
    struct rescan_req *q = ud;
    cn_log_info("master_conn", "disk rescan asked by the master: %u disk(s) back, %u still closed",
                reopened, closed);
    struct cn_conn *c = cs_master_conn(ctx, q->session);
    if (c) {
        struct cn_cs_disk_rescan_r r = {reopened, closed};
        cn_conn_send_msg(c, CN_MSG_CS_CMD_DISK_RESCAN_R, q->req_id, &r);
    }
    free(q);
}

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    struct cs_master *m = ud;
    struct cs_ctx *ctx = m->ctx;
    if (h->type & CN_MSG_REPLY)
        return; /* a reply after its timeout */
    if (h->type == CN_MSG_CS_CMD_DISK_RESCAN) {
        struct cn_empty e;
        if (cn_msg_decode(h->type, payload, h->len, &e)) {
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        struct rescan_req *q = cn_xmalloc(sizeof(*q));
        *q = (struct rescan_req){m->session, h->req_id};
        cs_disks_rescan(ctx, rescan_answer, q);
        return;
    }
    if (h->type == CN_MSG_CS_CMD_DISK_MARK) {
        disk_mark(m, c, h, payload);
        return;
    }
    if (h->type == CN_MSG_CS_CMD_COPY_PART) {
        struct cn_cs_copy_part cp;
        if (cn_msg_decode(h->type, payload, h->len, &cp)) {
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        cs_copy_start(ctx, c, m->session, h->req_id, &cp);
        return;
    }
    if (h->type == CN_MSG_CS_CMD_REBUILD_PART) {
        struct cn_cs_rebuild_part rp;
        if (cn_msg_decode(h->type, payload, h->len, &rp)) {
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        cs_rebuild_start(ctx, c, m->session, h->req_id, &rp);
        cn_msg_free(h->type, &rp);
        return;
    }
    if (h->type == CN_MSG_CS_CMD_CONVERT) {
        struct cn_cs_convert cv;
        if (cn_msg_decode(h->type, payload, h->len, &cv)) {
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        cs_convert_start(ctx, c, m->session, h->req_id, &cv);
        cn_msg_free(h->type, &cv);
        return;
    }
    if (h->type == CN_MSG_CS_CMD_DUP_PART) {
        struct cn_cs_dup_part dp;
        if (cn_msg_decode(h->type, payload, h->len, &dp)) {
            cn_conn_close(c, CN_EMALFORMED);
            return;
        }
        cs_dup_start(ctx, c, m->session, h->req_id, &dp);
        return;
    }
    if (h->type != CN_MSG_CS_CMD_DELETE_PART) {
        cn_conn_send_error(c, h->req_id, CN_ST_UNSUPPORTED,
                           "command not supported by this chunkserver yet");
        return;
    }
    struct cn_cs_delete_part cmd;
    if (cn_msg_decode(h->type, payload, h->len, &cmd)) {
        cn_conn_close(c, CN_EMALFORMED);
        return;
    }
    struct cs_partref *p = cs_part_find(ctx, cmd.chunk, cmd.part);
    if (p && !cs_disk_ready(ctx, p->disk)) {
        cn_conn_send_error(c, h->req_id, CN_ST_EIO, "the part's disk is missing");
        return;
    }
    if (!p) {
        struct cn_empty e = {0};
        cn_conn_send_msg(c, CN_MSG_CS_CMD_DELETE_PART_R, h->req_id, &e);
        return;
    }
    struct delreq *d = cn_xcalloc(1, sizeof(*d));
    d->m = m;
    d->session = m->session;
    d->req_id = h->req_id;
    d->cmd = cmd;
    d->disk = &ctx->disks[p->disk];
    d->disk_idx = p->disk;
    d->work.data = d;
    cs_disk_hold(ctx, p->disk);
    ctx->work_inflight++;
    int rc = uv_queue_work(ctx->loop, &d->work, work_delete, delete_done);
    if (rc) {
        ctx->work_inflight--;
        cs_disk_drop(ctx, p->disk);
        cn_conn_send_error(c, h->req_id, CN_ST_EIO, "cannot queue the delete");
        free(d);
    }
}

/* ---- connection lifecycle ------------------------------------------------ */

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct cs_master *m = ud;
    m->c = NULL;
    uv_timer_stop(&m->beat);
    if (m->registered)
        cn_log_warn("master_conn",
                    "lost the master %s (%s); data keeps being served, "
                    "reconnecting",
                    m->addr, err ? cn_strerror(err) : "closed");
    m->registered = 0;
    schedule_retry(m);
}

static const struct cn_conn_ops master_ops = {on_frame, on_close};

static void on_connect(struct cn_conn *c, int status, void *ud)
{
    struct cs_master *m = ud;
    m->connecting = 0;
    if (status) {
        if (!m->warned)
            cn_log_warn("master_conn", "cannot reach the master %s: %s; retrying", m->addr,
                        cn_strerror(status));
        m->warned = 1;
        schedule_retry(m);
        return;
    }
    if (m->ctx->stopping) {
        cn_conn_close(c, 0);
        return;
    }
    m->warned = 0;
    m->c = c;
    m->session++;
    struct cn_hello hello = {0};
    hello.role = CN_ROLE_CHUNKSERVER;
    hello.ver_min = CN_WIRE_VERSION_MIN;
    hello.ver_max = CN_WIRE_VERSION;
    hello.name = cn_str_of(m->ctx->cfg.name);
    int rc = cn_conn_call(c, CN_MSG_HELLO, &hello, CALL_TIMEOUT_MS, on_hello, m);
    if (rc)
        cn_conn_close(c, rc);
}

static void connect_now(struct cs_master *m)
{
    if (m->ctx->stopping || m->c || m->connecting)
        return;
    m->connecting = 1;
    int rc = cn_conn_connect(m->ctx->loop, &m->ctx->cfg.master, &master_ops, on_connect, m);
    if (rc) {
        m->connecting = 0;
        schedule_retry(m);
    }
}

int cs_master_init(struct cs_ctx *ctx)
{
    struct cs_master *m = cn_xcalloc(1, sizeof(*m));
    ctx->master = m;
    m->ctx = ctx;
    m->backoff_ms = BACKOFF_MIN_MS;
    cn_addr_format(&ctx->cfg.master, m->addr, sizeof(m->addr));
    uv_timer_init(ctx->loop, &m->retry);
    uv_timer_init(ctx->loop, &m->beat);
    m->retry.data = m;
    m->beat.data = m;
    connect_now(m);
    return 0;
}

struct cn_conn *cs_master_conn(struct cs_ctx *ctx, uint64_t session)
{
    struct cs_master *m = ctx->master;
    return m && m->c && m->session == session ? m->c : NULL;
}

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

void cs_master_release(struct cs_ctx *ctx)
{
    struct cs_master *m = ctx->master;
    if (!m)
        return;
    uv_timer_stop(&m->retry);
    uv_timer_stop(&m->beat);
    uv_close((uv_handle_t *)&m->retry, noop_close);
    uv_close((uv_handle_t *)&m->beat, noop_close);
    cs_copy_stop(ctx);
    if (m->c)
        cn_conn_close(m->c, 0);
}

void cs_master_free(struct cs_ctx *ctx)
{
    cs_copy_free(ctx);
    cs_rebuild_free(ctx);
    free(ctx->master);
    ctx->master = NULL;
}
