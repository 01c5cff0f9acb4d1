/*
 * balance.c - evens out the disks of this chunkserver (MooseFS's chunkserver
 * does the same between its own disks). The master balances between
 * servers and never puts two parts of a chunk on one server, so a disk
 * added to an existing server would otherwise fill only with new writes.
 *
 * Every BALANCE_TICK_MS, when the fullest and the emptiest usable disk
 * (open, not broken, not leaving) differ by more than LOCAL_BALANCE_BAND
 * percent points of live bytes, one part moves from the fullest to the
 * emptiest, if the move narrows the gap. One move at a time.
 *
 * Decisions a reader must know:
 *  1. The copy runs on the thread pool: every block of the committed
 *     version is read from the source disk (CRC checked by the logstore)
 *     and written to the target under the same version, then committed
 *     there. Anything the target held of the part at or below that version
 *     is deleted first (leftovers of an aborted move).
 *  2. The switch happens on the loop thread, and only when nothing changed:
 *     the part is still on the source at the same version, with no
 *     uncommitted version and no write or commit routed to it (`busy`, set
 *     by client_serv.c) and no COPY_PART running on it. Then the part map
 *     points at the target, the heartbeat reports the new disk, and the
 *     source copy is deleted. Otherwise the target copy is deleted.
 *  3. A read routed to the source just before the switch may find the part
 *     gone and fail; the client retries (another copy, or this server again,
 *     which now reads the target).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "cs.h"
#include "log.h"
#include "xmalloc.h"

#define BALANCE_TICK_MS 2000
#define BATCH           16
#define SCAN_MAX        512 /* parts looked at per tick */

struct cs_balance {
    struct cs_ctx *ctx;
    uv_timer_t timer;
    int running;
    size_t cursor; /* bucket to look at first */
    /* the move in progress */
    uv_work_t work;
    uint64_t chunk, version, size, bytes;
    uint16_t part, src, dst;
    int rc;
    uint64_t start_ms;
    uint64_t moves; /* done since start */
};

static int usable(const struct cs_disk *d, struct ls_stats *st)
{
    return d->ls && !d->gone && !d->remove && !d->master_leaving && ls_stats(d->ls, st) == 0 &&
           !st->broken && st->disk_bytes > 0;
}

/* ---- the copy (thread pool) ------------------------------------------------ */

int cs_part_clone(struct ls *src, uint64_t chunk, uint16_t part, uint64_t version, struct ls *dst,
                  uint64_t dst_chunk, uint64_t *bytes)
{
    struct ls_part_info pi;
    int rc = ls_part_stat(src, chunk, part, &pi);
    if (rc == 0 && (!pi.committed || pi.version != version || pi.npending))
        rc = -EAGAIN; /* written meanwhile */
    if (rc == 0) {
        rc = ls_delete(dst, dst_chunk, part, version);
        if (rc == -ENOENT)
            rc = 0;
    }
    uint8_t *buf = rc ? NULL : cn_xmalloc((size_t)BATCH * LS_BLOCK_MAX);
    /* a part stored in fewer bytes than its length was compressed (or has
     * holes): store the clone compressed too, where that saves space */
    int wflags = rc == 0 && pi.stored_bytes < pi.size ? LS_WRITE_COMPRESS : 0;
    struct ls_write wv[BATCH + 1];
    size_t n = 0;
    uint32_t nblocks = (uint32_t)((pi.size + LS_BLOCK_MAX - 1) / LS_BLOCK_MAX);
    for (uint32_t blk = 0; rc == 0 && blk <= nblocks; blk++) {
        if (blk < nblocks) {
            uint8_t *p = buf + n * LS_BLOCK_MAX;
            ssize_t len = ls_read(src, chunk, part, version, blk, p, LS_BLOCK_MAX);
            if (len == -ENODATA)
                continue; /* a hole stays a hole */
            if (len < 0) {
                rc = (int)len;
                break;
            }
            wv[n++] = (struct ls_write){.type = LS_REC_BLOCK,
                                        .flags = wflags,
                                        .chunk = dst_chunk,
                                        .part = part,
                                        .version = version,
                                        .block = blk,
                                        .data = p,
                                        .len = (uint32_t)len};
            if (bytes)
                *bytes += (uint64_t)len;
        }
        int last = blk == nblocks;
        if (last)
            wv[n++] = (struct ls_write){.type = LS_REC_COMMIT,
                                        .chunk = dst_chunk,
                                        .part = part,
                                        .version = version,
                                        .size = pi.size};
        if (n == BATCH || last) {
            rc = ls_writev(dst, wv, n);
            n = 0;
        }
    }
    free(buf);
    return rc;
}

static void work_move(uv_work_t *w)
{
    struct cs_balance *b = w->data;
    struct cs_ctx *ctx = b->ctx;
    b->rc = cs_part_clone(ctx->disks[b->src].ls, b->chunk, b->part, b->version,
                          ctx->disks[b->dst].ls, b->chunk, &b->bytes);
}

struct del_work {
    uv_work_t work;
    struct cs_ctx *ctx;
    struct ls *ls;
    uint64_t chunk, version;
    uint16_t part, disk;
};

static void work_delete(uv_work_t *w)
{
    struct del_work *d = (struct del_work *)w;
    int rc = ls_delete(d->ls, d->chunk, d->part, d->version);
    if (rc && rc != -ENOENT)
        cn_log_warn("balance", "delete of chunk %016llx part %u after a move: %s",
                    (unsigned long long)d->chunk, d->part, ls_strerror(rc));
}

static void delete_done(uv_work_t *w, int status)
{
    struct del_work *d = (struct del_work *)w;
    (void)status;
    d->ctx->work_inflight--;
    cs_disk_drop(d->ctx, d->disk);
    free(d);
}

static void queue_delete(struct cs_ctx *ctx, uint16_t disk, uint64_t chunk, uint16_t part,
                         uint64_t version)
{
    if (cs_disk_hold(ctx, disk))
        return; /* vanished: the part goes when the master sees it again */
    struct del_work *d = cn_xcalloc(1, sizeof(*d));
    d->ctx = ctx;
    d->disk = disk;
    d->ls = ctx->disks[disk].ls;
    d->chunk = chunk;
    d->part = part;
    d->version = version;
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &d->work, work_delete, delete_done)) {
        ctx->work_inflight--;
        cs_disk_drop(ctx, disk);
        free(d);
    }
}

static void move_done(uv_work_t *w, int status)
{
    struct cs_balance *b = w->data;
    struct cs_ctx *ctx = b->ctx;
    ctx->work_inflight--;
    b->running = 0;
    if (status && !b->rc)
        b->rc = status;
    struct cs_partref *p = cs_part_find(ctx, b->chunk, b->part);
    struct ls_part_info pi;
    int gone = ctx->disks[b->src].gone || ctx->disks[b->dst].gone;
    int same = !gone && b->rc == 0 && p && p->disk == b->src && p->version == b->version &&
               !p->busy && !cs_copy_running(ctx, b->chunk, b->part) &&
               ls_part_stat(ctx->disks[b->src].ls, b->chunk, b->part, &pi) == 0 && pi.committed &&
               pi.version == b->version && !pi.npending;
    if (!same) {
        if (b->rc && b->rc != -EAGAIN)
            cn_log_warn("balance", "move of chunk %016llx part %u from %s to %s failed: %s",
                        (unsigned long long)b->chunk, b->part, ctx->disks[b->src].path,
                        ctx->disks[b->dst].path, ls_strerror(b->rc));
        if (!ctx->stopping)
            queue_delete(ctx, b->dst, b->chunk, b->part, b->version);
        goto out;
    }
    p->disk = b->dst;
    cs_note_change(ctx, b->chunk, b->version, b->part, b->dst, 0);
    if (!ctx->stopping)
        queue_delete(ctx, b->src, b->chunk, b->part, b->version);
    b->moves++;
    cn_log_info("balance", "moved chunk %016llx part %u (%llu bytes) from %s to %s in %llu ms",
                (unsigned long long)b->chunk, b->part, (unsigned long long)b->bytes,
                ctx->disks[b->src].path, ctx->disks[b->dst].path,
                (unsigned long long)(cn_now_ms() - b->start_ms));
out:
    cs_disk_drop(ctx, b->src);
    cs_disk_drop(ctx, b->dst);
}

/* ---- choosing a move (loop) ----------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct cs_ctx *ctx = t->data;
    struct cs_balance *b = ctx->balance;
    int band = __atomic_load_n(&ctx->balance_band, __ATOMIC_RELAXED);
    if (b->running || ctx->stopping || band <= 0 || ctx->ndisks < 2)
        return;
    double umax = -1, umin = 2;
    int src = -1, dst = -1;
    struct ls_stats ss, ds;
    memset(&ss, 0, sizeof(ss));
    memset(&ds, 0, sizeof(ds));
    for (size_t i = 0; i < ctx->ndisks; i++) {
        struct ls_stats st;
        if (!usable(&ctx->disks[i], &st))
            continue;
        double u = (double)st.live_bytes / (double)st.disk_bytes;
        if (u > umax) {
            umax = u;
            src = (int)i;
            ss = st;
        }
        if (u < umin) {
            umin = u;
            dst = (int)i;
            ds = st;
        }
    }
    if (src < 0 || dst < 0 || src == dst || (umax - umin) * 100.0 <= band)
        return;
    /* a part of the fullest disk whose move narrows the gap */
    size_t looked = 0;
    for (size_t k = 0; k < ctx->nbuckets && looked < SCAN_MAX; k++) {
        size_t h = (b->cursor + k) % ctx->nbuckets;
        for (struct cs_partref *p = ctx->buckets[h]; p && looked < SCAN_MAX; p = p->next) {
            if (p->disk != src || !p->version || p->busy || cs_copy_running(ctx, p->chunk, p->part))
                continue;
            looked++;
            struct ls_part_info pi;
            if (ls_part_stat(ctx->disks[src].ls, p->chunk, p->part, &pi) || !pi.committed ||
                pi.npending || pi.version != p->version)
                continue;
            double len = (double)pi.stored_bytes;
            if (((double)ss.live_bytes - len) / (double)ss.disk_bytes <
                    ((double)ds.live_bytes + len) / (double)ds.disk_bytes ||
                len >= (double)ds.free_bytes)
                continue;
            b->cursor = h;
            b->chunk = p->chunk;
            b->part = p->part;
            b->version = p->version;
            b->src = (uint16_t)src;
            b->dst = (uint16_t)dst;
            b->rc = 0;
            b->bytes = 0;
            b->start_ms = cn_now_ms();
            b->work.data = b;
            b->running = 1;
            cs_disk_hold(ctx, b->src); /* both usable(): ready */
            cs_disk_hold(ctx, b->dst);
            ctx->work_inflight++;
            if (uv_queue_work(ctx->loop, &b->work, work_move, move_done)) {
                ctx->work_inflight--;
                b->running = 0;
                cs_disk_drop(ctx, b->src);
                cs_disk_drop(ctx, b->dst);
            }
            return;
        }
    }
    b->cursor = (b->cursor + 1) % (ctx->nbuckets ? ctx->nbuckets : 1);
}

int cs_balance_init(struct cs_ctx *ctx)
{
    struct cs_balance *b = cn_xcalloc(1, sizeof(*b));
    ctx->balance = b;
    b->ctx = ctx;
    uv_timer_init(ctx->loop, &b->timer);
    b->timer.data = ctx;
    uv_timer_start(&b->timer, on_tick, BALANCE_TICK_MS, BALANCE_TICK_MS);
    return 0;
}

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

void cs_balance_release(struct cs_ctx *ctx)
{
    struct cs_balance *b = ctx->balance;
    if (!b)
        return;
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, noop_close);
}

void cs_balance_free(struct cs_ctx *ctx)
{
    free(ctx->balance);
    ctx->balance = NULL;
}
