/*
 * turn.c - group commit: every mutation of one loop turn goes to RocksDB in
 * one WriteBatch before any reply of that turn leaves the master, synced
 * (META_SYNC_MS = 0, the default) or fsynced by the tick every META_SYNC_MS.
 *
 * The first mutation of a loop iteration opens a meta turn and starts a
 * uv_check handle; libuv runs check handles right after the iteration's I/O
 * callbacks, so every request read in that iteration (all pipelined frames
 * of all connections) lands in the same batch. The check callback commits,
 * then sends the held replies. One fsync thus serves a whole burst.
 *
 * Invariants of the commit path (tests/integration/test_10_master_meta.c
 * cites them):
 *  1. No reply to a request handled while a turn is open leaves the master
 *     before meta_txn_commit() of that turn returned 0 — not even a reply to
 *     a read, since it may have seen the turn's uncommitted writes.
 *  2. Chunks freed by a turn are deleted on chunkservers only after the turn
 *     committed; a failed commit forgets them (nothing was freed).
 *  3. A failed commit answers every held request with ERROR(EIO), and the
 *     store is reopened before the next turn (META_EBROKEN is sticky); if it
 *     cannot be reopened the daemon exits loudly rather than serve stale
 *     metadata.
 *  4. A reply to a client that went away meanwhile is dropped, never sent
 *     to a reused connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

static void on_check(uv_check_t *h)
{
    turn_end(h->data);
}

int turn_init(struct master *M)
{
    memset(&M->turn, 0, sizeof(M->turn));
    int rc = uv_check_init(M->loop, &M->turn.check);
    M->turn.check.data = M;
    return rc;
}

void turn_release(struct master *M)
{
    if (M->turn.active)
        turn_end(M);
    uv_close((uv_handle_t *)&M->turn.check, NULL);
    free(M->turn.held);
    meta_freed_release(&M->turn.freed);
}

int turn_begin(struct master *M)
{
    if (M->turn.active)
        return 0;
    int rc = meta_txn_begin(M->meta);
    if (rc)
        return rc;
    M->turn.active = 1;
    uv_check_start(&M->turn.check, on_check);
    return 0;
}

void turn_reply(struct master *M, struct client *cl, struct cn_conn *c, uint64_t req_id,
                uint16_t type, const void *msg)
{
    if (!M->turn.active) {
        int rc = cn_conn_send_msg(c, type, req_id, msg);
        if (rc)
            cn_conn_close(c, rc);
        return;
    }
    struct turn *t = &M->turn;
    if (t->nheld == t->capheld) {
        t->capheld = t->capheld ? t->capheld * 2 : 64;
        t->held = cn_xrealloc(t->held, t->capheld * sizeof(*t->held));
    }
    struct held_reply *h = &t->held[t->nheld++];
    memset(h, 0, sizeof(*h));
    h->cl = cl;
    h->req_id = req_id;
    client_ref(cl);
    int rc = cn_msg_frame(&h->frame, type, req_id, msg);
    if (rc) {
        /* Cannot happen for well-formed replies; answer with an error. */
        cn_log_error("turn", "encoding reply type 0x%04x: %s", type, cn_strerror(rc));
        cn_buf_reset(&h->frame);
        struct cn_error e = {CN_ST_EIO, CN_STR("reply too large")};
        cn_msg_frame(&h->frame, CN_MSG_ERROR, req_id, &e);
    }
}

static void reopen_store(struct master *M)
{
    char err[512];
    struct meta_options o = {
        .cache_bytes = M->cfg.cache_size,
        .write_buffer_bytes = M->cfg.write_buffer_size,
    };
    meta_close(M->meta);
    M->meta = NULL;
    int rc = meta_open(M->cfg.data_path, &o, &M->meta, err, sizeof(err));
    if (rc) {
        /* Invariant 3: never serve from a store we cannot trust. */
        cn_log_error("turn", "reopening metadata in %s after a failed commit: %s (%s); exiting",
                     M->cfg.data_path, meta_strerror(rc), err);
        exit(1);
    }
    cn_log_warn("turn", "metadata store reopened after a failed commit");
}

void turn_end(struct master *M)
{
    struct turn *t = &M->turn;
    if (!t->active)
        return;
    uv_check_stop(&t->check);
    t->active = 0;
    int sync = M->cfg.meta_sync_ms == 0;
    int rc = meta_txn_commit_sync(M->meta, sync);
    if (!rc && !sync)
        t->wal_dirty = 1;
    if (rc) {
        t->commit_failures++;
        cn_log_error("turn", "commit of %zu requests failed: %s (%s)", t->nheld, meta_strerror(rc),
                     meta_last_error(M->meta));
    } else {
        t->commits++;
    }
    for (size_t i = 0; i < t->nheld; i++) {
        struct held_reply *h = &t->held[i];
        struct cn_conn *c = client_conn(h->cl);
        if (c) { /* invariant 4 */
            if (rc) {
                cn_conn_send_error(c, h->req_id, CN_ST_EIO, "metadata commit failed");
            } else if (cn_conn_send(c, h->frame.data, h->frame.len)) {
                cn_conn_close(c, -EPIPE);
            }
        }
        client_unref(h->cl);
        cn_buf_release(&h->frame);
    }
    t->nheld = 0;
    if (!rc) { /* invariant 2 */
        for (size_t i = 0; i < t->freed.n; i++)
            cs_serv_chunk_freed(M, t->freed.ids[i]);
        mlserv_pump(M); /* the new changelog entry */
        snapshot_after_commit(M);
    } else {
        snapshot_forget(M);
    }
    t->freed.n = 0;
    if (rc)
        reopen_store(M);
}

void turn_tick(struct master *M, uint64_t now_ms)
{
    struct turn *t = &M->turn;
    if (!t->wal_dirty || now_ms - t->last_sync_ms < (uint64_t)M->cfg.meta_sync_ms)
        return;
    t->wal_dirty = 0;
    t->last_sync_ms = now_ms;
    int rc = meta_sync(M->meta);
    if (rc) {
        cn_log_error("turn", "WAL sync failed: %s (%s)", meta_strerror(rc),
                     meta_last_error(M->meta));
        reopen_store(M);
    }
}
