/*
 * replicate.c - CS_CMD_COPY_PART: this chunkserver pulls one part from
 * another chunkserver and stores it as one of its own (MooseFS
 * `replicator.c`). The master sends it to repair a missing or bad copy, and
 * to move parts off a disk that is leaving.
 *
 * Decisions a reader must know:
 *  1. The pull is a pipeline of READ_BLOCK requests over the peer pool
 *     (peers.c), at most COPY_WINDOW blocks between "requested" and
 *     "written", so one copy never holds more than COPY_WINDOW * 64 KiB and
 *     never floods the source. Copies of different parts run side by side;
 *     a second copy of a (chunk, part) already being copied is refused.
 *  2. Every block's CRC is checked against its data on arrival; any error
 *     fails the whole copy. Nothing is readable before the final commit:
 *     blocks are written under the command's version, uncommitted, and the
 *     commit goes in the same ls_writev() batch as the last blocks (the
 *     logstore never keeps a commit without the blocks before it).
 *  3. Before the pull, whatever this server holds of the part at or below
 *     the version (a committed copy the master counts as bad or missing, or
 *     the uncommitted leftovers of an earlier attempt) is deleted, so a hole
 *     of the new copy can never show an older block through. A newer
 *     committed version is refused with ERROR(ESTALE).
 *  4. A failed copy answers ERROR and leaves nothing committed; its
 *     uncommitted blocks are deleted before the answer, and the partref is
 *     dropped again when the part has nothing committed.
 *  5. Logstore calls run on the thread pool (STYLE 16). The answer goes to
 *     the master session the command came on; if that session ended, the
 *     copy still finishes and the next registration reports it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "cs.h"
#include "ec.h"
#include "log.h"
#include "xmalloc.h"

#define COPY_WINDOW     16    /* blocks between requested and written (decision 1) */
#define READ_TIMEOUT_MS 30000 /* one READ_BLOCK from the source */

enum { SLOT_FREE, SLOT_READING, SLOT_READY, SLOT_WRITING };

struct slot {
    struct cs_copy *cp;
    struct cn_read_block rb; /* borrowed by cs_peer_call until on_read */
    uint32_t block, len;     /* len 0: a hole */
    int state;
    uint8_t *buf; /* LS_BLOCK_MAX bytes, allocated on first use */
};

struct cs_copy {
    uv_work_t work;
    struct cs_ctx *ctx;
    struct cs_copy *next; /* ctx->copies */
    uint64_t session, req_id;
    struct cn_cs_copy_part cmd; /* src_addr points to src */
    char src[300];
    uint16_t disk_idx;
    struct cs_disk *disk;
    int refs;      /* reads and pool work in flight, plus one while a loop call runs */
    int prepared;  /* decision 3 done */
    int writing;   /* a batch runs on the pool */
    int committed; /* the commit is durable */
    int created;   /* the partref was added for this copy */
    int deleted;   /* a committed local copy was deleted by the prep step */
    int cleaned;   /* a failed copy's uncommitted blocks were dropped */
    uint64_t deleted_version;
    int wrc; /* result of the pool work, read by its done callback */
    char werr[400];
    uint32_t nblocks, next_block, nwritten; /* nwritten counts holes too */
    uint64_t bytes;
    uint64_t t0_ms;
    int rc; /* first error */
    char err[400];
    struct ls_write batch[COPY_WINDOW + 1];
    size_t nbatch;
    int batch_commit;
    struct slot slots[COPY_WINDOW];
};

static void fill_window(struct cs_copy *cp);
static void maybe_write(struct cs_copy *cp);

/* Record the first failure; later ones keep the first reason. */
static void copy_fail(struct cs_copy *cp, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void copy_fail(struct cs_copy *cp, int rc, const char *fmt, ...)
{
    if (cp->rc)
        return;
    cp->rc = rc ? rc : -EIO;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cp->err, sizeof(cp->err), fmt, ap);
    va_end(ap);
}

static void copy_free(struct cs_copy *cp)
{
    for (int i = 0; i < COPY_WINDOW; i++)
        free(cp->slots[i].buf);
    free(cp);
}

static void unlink_copy(struct cs_copy *cp)
{
    for (struct cs_copy **pp = &cp->ctx->copies; *pp; pp = &(*pp)->next)
        if (*pp == cp) {
            *pp = cp->next;
            return;
        }
}

/* Everything has returned: update the part map, log, answer, free. */
static void copy_finish(struct cs_copy *cp)
{
    struct cs_ctx *ctx = cp->ctx;
    const struct cn_cs_copy_part *m = &cp->cmd;
    unlink_copy(cp);
    if (!cp->rc && cp->disk->gone) {
        cp->rc = -EIO;
        snprintf(cp->err, sizeof(cp->err), "copy chunk %016llx part %u from %s: disk %s vanished",
                 (unsigned long long)m->chunk, m->part, cp->src, cp->disk->path);
    }
    struct cs_partref *p = cs_part_find(ctx, m->chunk, m->part);
    if (!cp->rc) {
        if (!p) /* a DELETE_PART ran meanwhile; the commit is newer than it */
            p = cs_part_add(ctx, m->chunk, m->part, cp->disk_idx);
        p->disk = cp->disk_idx;
        p->version = m->version;
        cs_note_change(ctx, m->chunk, m->version, m->part, cp->disk_idx, 0);
        cn_log_info("replicate",
                    "copied chunk %016llx part %u version %llu from %s part %u: %llu bytes in "
                    "%llu ms (disk %s)",
                    (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, cp->src,
                    m->src_part, (unsigned long long)cp->bytes,
                    (unsigned long long)(cn_now_ms() - cp->t0_ms), cp->disk->path);
    } else {
        /* decision 4: no partref for a part with nothing committed */
        struct ls_part_info pi;
        if (p && (cp->created || cp->deleted) && p->disk == cp->disk_idx &&
            (ls_part_stat(cp->disk->ls, m->chunk, m->part, &pi) || !pi.committed)) {
            cs_part_remove(ctx, m->chunk, m->part);
            if (cp->deleted)
                cs_note_change(ctx, m->chunk, cp->deleted_version, m->part, cp->disk_idx, 1);
        }
        cn_log_warn("replicate", "%s", cp->err);
    }
    struct cn_conn *c = cs_master_conn(ctx, cp->session);
    if (c) {
        if (cp->rc) {
            enum cn_status st = cp->rc == -ESTALE      ? CN_ST_ESTALE
                                : cp->rc == -ECANCELED ? CN_ST_SHUTDOWN
                                                       : cs_status_of(cp->rc);
            cn_conn_send_error(c, cp->req_id, st, cp->err);
        } else {
            struct cn_empty e = {0};
            cn_conn_send_msg(c, CN_MSG_CS_CMD_COPY_PART_R, cp->req_id, &e);
        }
    }
    cs_disk_drop(ctx, cp->disk_idx);
    copy_free(cp);
}

static int queue(struct cs_copy *cp, uv_work_cb fn, uv_after_work_cb done);
static void work_cleanup(uv_work_t *w);
static void cleanup_done(uv_work_t *w, int status);

static void copy_put(struct cs_copy *cp)
{
    if (--cp->refs)
        return;
    if (cp->rc && cp->rc != -ESTALE && cp->prepared && !cp->committed && !cp->cleaned &&
        cp->disk->ls) {
        /* decision 4: the blocks written so far would stay on the disk,
         * uncommitted and uncounted, until a restart; drop them first */
        cp->cleaned = 1;
        if (queue(cp, work_cleanup, cleanup_done) == 0)
            return;
    }
    if (cp->rc || cp->committed) {
        copy_finish(cp);
        return;
    }
    /* nothing in flight and not done: only possible if the window could not
     * be refilled, which fill_window rules out; treat as a bug */
    CN_BUG("copy of chunk %016llx part %u stalled", (unsigned long long)cp->cmd.chunk,
           cp->cmd.part);
}

/* ---- pool work ------------------------------------------------------------ */

/* Pool side: record the work's failure for its done callback (the loop may
 * fail the copy meanwhile, so the pool never touches cp->rc). */
static void work_fail(struct cs_copy *cp, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void work_fail(struct cs_copy *cp, int rc, const char *fmt, ...)
{
    cp->wrc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cp->werr, sizeof(cp->werr), fmt, ap);
    va_end(ap);
}

/* Decision 3, on the pool: drop what is held at or below the version. */
static void work_prep(uv_work_t *w)
{
    struct cs_copy *cp = w->data;
    const struct cn_cs_copy_part *m = &cp->cmd;
    struct ls_part_info pi;
    int rc = ls_part_stat(cp->disk->ls, m->chunk, m->part, &pi);
    if (rc == -ENOENT)
        return;
    if (rc) {
        work_fail(cp, rc, "copy chunk %016llx part %u from %s: local state on disk %s: %s",
                  (unsigned long long)m->chunk, m->part, cp->src, cp->disk->path, ls_strerror(rc));
        return;
    }
    if (pi.committed && pi.version > m->version) {
        work_fail(cp, -ESTALE,
                  "copy chunk %016llx part %u version %llu from %s: this server holds the newer "
                  "version %llu; not copied",
                  (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, cp->src,
                  (unsigned long long)pi.version);
        return;
    }
    rc = ls_delete(cp->disk->ls, m->chunk, m->part, m->version);
    if (rc && rc != -ENOENT) {
        work_fail(cp, rc,
                  "copy chunk %016llx part %u from %s: cannot drop the old local copy on disk %s: "
                  "%s",
                  (unsigned long long)m->chunk, m->part, cp->src, cp->disk->path, ls_strerror(rc));
        return;
    }
    if (pi.committed) {
        cp->deleted = 1;
        cp->deleted_version = pi.version;
    }
}

static void work_batch(uv_work_t *w)
{
    struct cs_copy *cp = w->data;
    int rc = ls_writev(cp->disk->ls, cp->batch, cp->nbatch);
    if (rc) {
        const struct ls_write *bad = NULL;
        for (size_t i = 0; i < cp->nbatch && !bad; i++)
            if (cp->batch[i].result)
                bad = &cp->batch[i];
        work_fail(cp, rc, "copy chunk %016llx part %u from %s: %s %u on disk %s: %s",
                  (unsigned long long)cp->cmd.chunk, cp->cmd.part, cp->src,
                  bad && bad->type == LS_REC_COMMIT ? "commit of" : "write of block",
                  bad && bad->type == LS_REC_BLOCK ? bad->block : cp->nblocks, cp->disk->path,
                  ls_strerror(rc));
    }
}

/* A failed copy: drop its uncommitted blocks (the prep step already dropped
 * everything else at or below the version). */
static void work_cleanup(uv_work_t *w)
{
    struct cs_copy *cp = w->data;
    struct ls_part_info pi;
    int rc = ls_part_stat(cp->disk->ls, cp->cmd.chunk, cp->cmd.part, &pi);
    if (rc == 0 && pi.committed && pi.version >= cp->cmd.version)
        rc = 0; /* committed meanwhile by someone else: nothing of ours to drop */
    else if (rc == 0)
        rc = ls_delete(cp->disk->ls, cp->cmd.chunk, cp->cmd.part, cp->cmd.version);
    cp->wrc = rc == -ENOENT ? 0 : rc;
}

static void cleanup_done(uv_work_t *w, int status)
{
    struct cs_copy *cp = w->data;
    cp->ctx->work_inflight--;
    if (cp->wrc || status)
        cn_log_warn("replicate",
                    "copy chunk %016llx part %u: cannot drop the failed copy's blocks: %s",
                    (unsigned long long)cp->cmd.chunk, cp->cmd.part,
                    cp->wrc ? ls_strerror(cp->wrc) : cn_strerror(status));
    copy_put(cp);
}

static void prep_done(uv_work_t *w, int status)
{
    struct cs_copy *cp = w->data;
    cp->ctx->work_inflight--;
    if (cp->wrc)
        copy_fail(cp, cp->wrc, "%s", cp->werr);
    if (status)
        copy_fail(cp, status, "copy chunk %016llx part %u from %s: cannot run on the pool: %s",
                  (unsigned long long)cp->cmd.chunk, cp->cmd.part, cp->src, cn_strerror(status));
    if (!cp->rc) {
        struct cs_partref *p = cs_part_find(cp->ctx, cp->cmd.chunk, cp->cmd.part);
        if (cp->deleted && p)
            p->version = 0; /* nothing committed until the copy commits */
        cp->prepared = 1;
        fill_window(cp);
        maybe_write(cp); /* an empty part commits at once */
    }
    copy_put(cp);
}

static void batch_done(uv_work_t *w, int status)
{
    struct cs_copy *cp = w->data;
    cp->ctx->work_inflight--;
    if (cp->wrc)
        copy_fail(cp, cp->wrc, "%s", cp->werr);
    cp->writing = 0;
    if (status)
        copy_fail(cp, status, "copy chunk %016llx part %u from %s: cannot run on the pool: %s",
                  (unsigned long long)cp->cmd.chunk, cp->cmd.part, cp->src, cn_strerror(status));
    for (int i = 0; i < COPY_WINDOW; i++) {
        struct slot *s = &cp->slots[i];
        if (s->state != SLOT_WRITING)
            continue;
        s->state = SLOT_FREE;
        if (!cp->rc) {
            cp->nwritten++;
            cp->bytes += s->len;
        }
    }
    if (!cp->wrc && !status && cp->batch_commit)
        cp->committed = 1; /* durable, even if the copy was cancelled meanwhile */
    else if (!cp->rc) {
        fill_window(cp);
        maybe_write(cp);
    }
    copy_put(cp);
}

static int queue(struct cs_copy *cp, uv_work_cb fn, uv_after_work_cb done)
{
    cp->work.data = cp;
    cp->refs++;
    cp->ctx->work_inflight++;
    int rc = uv_queue_work(cp->ctx->loop, &cp->work, fn, done);
    if (rc) {
        cp->ctx->work_inflight--;
        cp->refs--;
        copy_fail(cp, rc, "copy chunk %016llx part %u from %s: cannot queue the disk work: %s",
                  (unsigned long long)cp->cmd.chunk, cp->cmd.part, cp->src, cn_strerror(rc));
    }
    return rc;
}

/* ---- the pipeline (loop thread) ------------------------------------------ */

/* Write what has arrived, with the commit once every block is accounted for. */
static void maybe_write(struct cs_copy *cp)
{
    if (cp->rc || cp->writing || cp->committed || !cp->prepared)
        return;
    const struct cn_cs_copy_part *m = &cp->cmd;
    int reading = 0;
    cp->nbatch = 0;
    for (int i = 0; i < COPY_WINDOW; i++) {
        struct slot *s = &cp->slots[i];
        if (s->state == SLOT_READING)
            reading = 1;
        if (s->state != SLOT_READY)
            continue;
        if (!s->len) { /* a hole stays a hole */
            s->state = SLOT_FREE;
            cp->nwritten++;
            continue;
        }
        struct ls_write *w = &cp->batch[cp->nbatch++];
        memset(w, 0, sizeof(*w));
        w->type = LS_REC_BLOCK;
        w->flags = m->flags & CN_WF_COMPRESS ? LS_WRITE_COMPRESS : 0;
        w->chunk = m->chunk;
        w->part = m->part;
        w->version = m->version;
        w->block = s->block;
        w->data = s->buf;
        w->len = s->len;
        s->state = SLOT_WRITING;
    }
    cp->batch_commit =
        !reading && cp->next_block == cp->nblocks && cp->nwritten + cp->nbatch == cp->nblocks;
    if (cp->batch_commit) {
        struct ls_write *w = &cp->batch[cp->nbatch++];
        memset(w, 0, sizeof(*w));
        w->type = LS_REC_COMMIT;
        w->chunk = m->chunk;
        w->part = m->part;
        w->version = m->version;
        w->size = m->size;
    }
    if (!cp->nbatch) {
        fill_window(cp); /* holes freed slots */
        return;
    }
    cp->writing = 1;
    if (queue(cp, work_batch, batch_done)) {
        cp->writing = 0;
        for (int i = 0; i < COPY_WINDOW; i++)
            if (cp->slots[i].state == SLOT_WRITING)
                cp->slots[i].state = SLOT_FREE;
    }
}

static void on_read(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                    const uint8_t *payload, void *ud)
{
    (void)c;
    struct slot *s = ud;
    struct cs_copy *cp = s->cp;
    const struct cn_cs_copy_part *m = &cp->cmd;
    s->state = SLOT_FREE;
    if (cp->rc)
        goto out;
    if (status) {
        struct cn_error e;
        if (h && h->type == CN_MSG_ERROR && cn_msg_decode(CN_MSG_ERROR, payload, h->len, &e) == 0)
            copy_fail(cp, status,
                      "copy chunk %016llx part %u version %llu from %s part %u: block %u: %.*s",
                      (unsigned long long)m->chunk, m->part, (unsigned long long)m->version,
                      cp->src, m->src_part, s->block, (int)e.text.len, e.text.ptr);
        else
            copy_fail(cp, status,
                      "copy chunk %016llx part %u version %llu from %s part %u: block %u: %s",
                      (unsigned long long)m->chunk, m->part, (unsigned long long)m->version,
                      cp->src, m->src_part, s->block, cn_strerror(status));
        goto out;
    }
    struct cn_read_block_r r;
    if (cn_msg_decode(CN_MSG_READ_BLOCK_R, payload, h->len, &r) || r.data.len > LS_BLOCK_MAX) {
        copy_fail(cp, CN_EMALFORMED,
                  "copy chunk %016llx part %u from %s: block %u: malformed READ_BLOCK reply",
                  (unsigned long long)m->chunk, m->part, cp->src, s->block);
        goto out;
    }
    if (ec_crc32c(0, r.data.ptr, r.data.len) != r.crc) { /* decision 2 */
        copy_fail(cp, LS_ECORRUPT,
                  "copy chunk %016llx part %u version %llu from %s part %u: block %u does not "
                  "match its CRC (damaged in transit); copy abandoned",
                  (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, cp->src,
                  m->src_part, s->block);
        goto out;
    }
    if (r.data.len) {
        if (!s->buf)
            s->buf = cn_xmalloc(LS_BLOCK_MAX);
        memcpy(s->buf, r.data.ptr, r.data.len);
    }
    s->len = r.data.len;
    s->state = SLOT_READY;
    maybe_write(cp);
    fill_window(cp);
out:
    copy_put(cp);
}

/* Request blocks until the window is full (decision 1). */
static void fill_window(struct cs_copy *cp)
{
    struct cs_ctx *ctx = cp->ctx;
    cp->refs++; /* cs_peer_call may answer at once (unreachable peer) */
    for (int i = 0; i < COPY_WINDOW && cp->next_block < cp->nblocks; i++) {
        struct slot *s = &cp->slots[i];
        if (cp->rc)
            break;
        if (ctx->stopping) {
            copy_fail(cp, -ECANCELED,
                      "copy chunk %016llx part %u from %s: chunkserver shutting down",
                      (unsigned long long)cp->cmd.chunk, cp->cmd.part, cp->src);
            break;
        }
        if (s->state != SLOT_FREE)
            continue;
        s->cp = cp;
        s->block = cp->next_block++;
        s->len = 0;
        s->state = SLOT_READING;
        s->rb.chunk = cp->cmd.chunk;
        s->rb.version = cp->cmd.version;
        s->rb.part = cp->cmd.src_part;
        s->rb.block = s->block;
        s->rb.offset = 0;
        s->rb.length = 0; /* the whole stored block; 0 bytes back: a hole */
        cp->refs++;
        cs_peer_call(ctx, cp->cmd.src_addr, CN_MSG_READ_BLOCK, &s->rb, READ_TIMEOUT_MS, on_read, s);
    }
    copy_put(cp);
}

/* ---- entry points ---------------------------------------------------------- */

static void refuse(struct cn_conn *c, uint64_t req_id, enum cn_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(struct cn_conn *c, uint64_t req_id, enum cn_status st, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cn_log_warn("replicate", "%s", text);
    cn_conn_send_error(c, req_id, st, text);
}

void cs_copy_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                   const struct cn_cs_copy_part *m)
{
    char src[300];
    snprintf(src, sizeof(src), "%.*s", (int)m->src_addr.len, m->src_addr.ptr);
    if (ctx->stopping) {
        refuse(c, req_id, CN_ST_SHUTDOWN, "copy chunk %016llx part %u: chunkserver shutting down",
               (unsigned long long)m->chunk, m->part);
        return;
    }
    if (m->src_addr.len >= sizeof(src) || !m->src_addr.len) {
        refuse(c, req_id, CN_ST_EINVAL, "copy chunk %016llx part %u: bad source address '%s'",
               (unsigned long long)m->chunk, m->part, src);
        return;
    }
    uint64_t nblocks = (m->size + LS_BLOCK_MAX - 1) / LS_BLOCK_MAX;
    if (nblocks > LS_MAX_BLOCKS_PER_PART) {
        refuse(c, req_id, CN_ST_EFBIG,
               "copy chunk %016llx part %u from %s: size %llu is more than a part can hold",
               (unsigned long long)m->chunk, m->part, src, (unsigned long long)m->size);
        return;
    }
    for (struct cs_copy *o = ctx->copies; o; o = o->next)
        if (o->cmd.chunk == m->chunk && o->cmd.part == m->part) {
            refuse(c, req_id, CN_ST_EAGAIN,
                   "copy chunk %016llx part %u from %s: a copy of this part (version %llu from "
                   "%s) is already running",
                   (unsigned long long)m->chunk, m->part, src, (unsigned long long)o->cmd.version,
                   o->src);
            return;
        }
    if (cs_rebuild_running(ctx, m->chunk, m->part)) {
        refuse(c, req_id, CN_ST_EAGAIN,
               "copy chunk %016llx part %u from %s: a rebuild of this part is running",
               (unsigned long long)m->chunk, m->part, src);
        return;
    }
    int created = 0;
    struct cs_partref *p = cs_part_find(ctx, m->chunk, m->part);
    if (p && p->version > m->version) {
        refuse(c, req_id, CN_ST_ESTALE,
               "copy chunk %016llx part %u version %llu from %s: this server holds the newer "
               "version %llu; not copied",
               (unsigned long long)m->chunk, m->part, (unsigned long long)m->version, src,
               (unsigned long long)p->version);
        return;
    }
    if (p && !cs_disk_ready(ctx, p->disk)) {
        refuse(c, req_id, CN_ST_EIO,
               "copy chunk %016llx part %u from %s: the part's disk %s is missing",
               (unsigned long long)m->chunk, m->part, src, ctx->disks[p->disk].path);
        return;
    }
    if (!p) {
        int d = cs_disk_pick(ctx);
        if (d < 0) {
            refuse(c, req_id, CN_ST_ENOSPC,
                   "copy chunk %016llx part %u from %s: no writable disk on this chunkserver",
                   (unsigned long long)m->chunk, m->part, src);
            return;
        }
        p = cs_part_add(ctx, m->chunk, m->part, (uint16_t)d);
        created = 1;
    }
    struct cs_copy *cp = cn_xcalloc(1, sizeof(*cp));
    cp->created = created;
    cp->ctx = ctx;
    cp->session = session;
    cp->req_id = req_id;
    cp->cmd = *m;
    memcpy(cp->src, src, sizeof(src));
    cp->cmd.src_addr = cn_str_of(cp->src);
    cp->disk_idx = p->disk;
    cp->disk = &ctx->disks[p->disk];
    cs_disk_hold(ctx, p->disk); /* ready: checked or picked above */
    cp->nblocks = (uint32_t)nblocks;
    cp->t0_ms = cn_now_ms();
    cp->next = ctx->copies;
    ctx->copies = cp;
    cp->refs = 1;
    queue(cp, work_prep, prep_done);
    copy_put(cp);
}

void cs_copy_stop(struct cs_ctx *ctx)
{
    /* no new reads start (fill_window checks ctx->stopping); reads in flight
     * fail when peers.c closes its connections, pool work returns */
    for (struct cs_copy *cp = ctx->copies; cp; cp = cp->next)
        copy_fail(cp, -ECANCELED, "copy chunk %016llx part %u from %s: chunkserver shutting down",
                  (unsigned long long)cp->cmd.chunk, cp->cmd.part, cp->src);
}

void cs_copy_free(struct cs_ctx *ctx)
{
    /* only after a forced stop (main.c) can copies remain: their callbacks
     * will never run */
    while (ctx->copies) {
        struct cs_copy *cp = ctx->copies;
        ctx->copies = cp->next;
        copy_free(cp);
    }
}

int cs_copy_running(struct cs_ctx *ctx, uint64_t chunk, uint16_t part)
{
    for (struct cs_copy *o = ctx->copies; o; o = o->next)
        if (o->cmd.chunk == chunk && o->cmd.part == part)
            return 1;
    return 0;
}
