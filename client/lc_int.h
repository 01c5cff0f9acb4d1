/*
 * lc_int.h - what the files of libcairn share: the client handle, requests
 * handed to the I/O thread, the inode table of the data path.
 *
 * Locking (never taken in another order):
 *   lc_inode.mu  - a caller's whole data operation on one inode (write,
 *                  flush, truncate); held across blocking calls.
 *   lc_inode.cmu - completion counters of that inode's in-flight blocks;
 *                  taken by the I/O thread, held for a few instructions.
 *   lc.imu       - the inode table, and the lock-owner records (lkown).
 *   lc.qmu       - the queue to the I/O thread.
 * The I/O thread never takes lc_inode.mu, so a caller holding it may wait for
 * a reply without deadlocking the loop.
 */
#ifndef CAIRN_LC_INT_H
#define CAIRN_LC_INT_H

#include <pthread.h>
#include <uv.h>

#include "config.h"
#include "libcairn.h"
#include "net.h"

/* One request for the I/O thread. */
struct lc_op {
    struct lc_op *next;
    int to_master;
    char addr[280]; /* chunkserver host:port */
    uint16_t type;
    struct cn_buf payload;      /* encoded request (owned) */
    uint32_t timeout_ms;        /* one attempt */
    uint64_t deadline_ms;       /* master requests: give up after */
    uint32_t try_ms;            /* master requests: one attempt (0: MASTER_TRY_MS) */
    int cancel;                 /* atomic: a waiting lock was interrupted (lc_lock.c) */
    int session_bound;          /* master requests that only mean something in the session
                                   they started in (unlocks): never sent again after a
                                   reconnect, answered "done" instead (lc_core.c) */
    const struct lc_cred *cred; /* master requests: the caller, whose groups go first in a
                                   CREDS when the session lacks them (borrowed; NULL: none) */
    int attempts;
    /* result */
    int status;           /* 0 or -errno */
    uint16_t wire_status; /* CN_ST_* of an ERROR reply, 0 otherwise */
    uint16_t rtype;
    struct cn_buf reply; /* reply payload (owned) */
    char err[200];
    /* completion: done() on the I/O thread, or wake the waiter */
    void (*done)(struct lc_op *op);
    void *ud;
    uint32_t tag; /* for done(): which block, which slot */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
};

struct lc_wsess;
struct lc_loc_cache;

/* Per-inode state of the data path, shared by every open handle. */
struct lc_inode {
    uint64_t ino;
    int refs;  /* open handles + temporary users (under lc.imu) */
    int nopen; /* open handles the master counts (under lc.imu): REOPEN after a reconnect */
    struct lc_inode *hnext;
    struct lc *c;
    pthread_mutex_t mu;
    uint64_t size;          /* file length as this client knows it */
    struct lc_wsess *ws;    /* chunks being written */
    uint64_t buffered;      /* bytes held by write sessions */
    uint64_t last_write;    /* ms, for the idle flusher */
    int werr;               /* error of a background flush, for the next fsync/close */
    uint64_t wgen;          /* bumped by every write and truncation (read-ahead validity) */
    int lk_used;            /* atomic: CN_LK_* kinds this client ever locked here (lc_lock.c) */
    struct lc_lkown *lkown; /* (owner, handle) of POSIX locks taken (lc_lock.c; under lc.imu) */
    struct lc_loc_cache *locs;
    /* completion of in-flight blocks (cmu) */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    int inflight;
};

struct lc_master;
struct lc_cs;

struct lc {
    struct lc_options o;
    char master_str[280];
    struct cn_addr master_addr;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t mtimer;
    pthread_t thr;
    pthread_mutex_t qmu;
    struct lc_op *qhead, *qtail;
    int stopping;
    struct lc_master *m; /* I/O thread only */
    struct lc_cs *cs;    /* I/O thread only */
    /* inode table */
    pthread_mutex_t imu;
    struct lc_inode *itab[1024];
    struct lc_fh *fhs; /* handles not released yet (lc_file.c; under imu) */
    /* flusher */
    pthread_t fthr;
    pthread_mutex_t fmu;
    pthread_cond_t fcv;
    int fstop;
    /* counters (atomics) */
    struct lc_stats st;
    uint64_t lk_wait_ids; /* atomic: the last wait_id of a blocking lock */
    /* erasure coding (lc_file.c): created at the first EC chunk */
    pthread_mutex_t ecmu;
    struct ec_ctx *ec;
    /* EC reads (lc_file.c): part servers that were slow or failed lately
     * are not asked first (degraded read straight away) until `until` */
    pthread_mutex_t slowmu;
    struct {
        char addr[128];
        uint64_t until;
    } slow[8];
};

/* ---- lc_core.c ---- */
void lc_op_init(struct lc_op *op);
void lc_op_release(struct lc_op *op);
/* Hand op to the I/O thread (any thread). */
void lc_submit(struct lc *c, struct lc_op *op);
/* Submit and wait. Returns op->status. */
int lc_wait_call(struct lc *c, struct lc_op *op);
/* Encode msg, call the master (retrying through outages) and decode the
 * reply into out (slices borrow op->reply; lc_op_release after use). */
int lc_mcall(struct lc *c, uint16_t type, const void *msg, void *out, struct lc_op *op);
/* lc_mcall in two halves, for a caller that submits (lc_submit) and waits
 * itself: encode and set the deadline; then decode the finished op. */
int lc_mcall_prepare(struct lc *c, uint16_t type, const void *msg, struct lc_op *op);
int lc_mcall_decode(struct lc_op *op, uint16_t type, void *out);
/* Same to a chunkserver, one attempt. */
int lc_cscall(struct lc *c, const char *addr, uint16_t type, const void *msg, void *out,
              struct lc_op *op, uint32_t timeout_ms);
uint64_t lc_now_ms(void);
/* Encode a chunkserver request with room for the frame header in front, so
 * the I/O thread hands the buffer to the socket without a copy (every
 * chunkserver request is encoded so; master requests keep their payload
 * for a resend). */
int lc_encode_framed(struct lc_op *op, uint16_t type, const void *msg, size_t size_hint);
#define LC_STAT_ADD(c, field, n) __atomic_add_fetch(&(c)->st.field, (n), __ATOMIC_RELAXED)

/* ---- lc_file.c ---- */
struct lc_inode *lc_inode_get(struct lc *c, uint64_t ino, int create);
void lc_inode_put(struct lc_inode *in);
/* lc_close, after the I/O thread stopped: free an inode, and the handles
 * the caller never released (a mount stopped with files still open). */
void lc_inode_free(struct lc_inode *in);
void lc_fh_free_all(struct lc *c);
int lc_inode_flush(struct lc_inode *in); /* caller holds in->mu */
int lc_flusher_start(struct lc *c);
void lc_flusher_stop(struct lc *c);
/* The client and the inode of a handle (borrowed while fh is open). */
struct lc *lc_fh_client(const struct lc_fh *fh);
struct lc_inode *lc_fh_inode(const struct lc_fh *fh);
/* ---- lc_lock.c ---- */
/* The last close of an open file (lc_release): drop the POSIX locks of
 * every owner that locked through this handle and free the record. */
void lc_lk_fh_release(struct lc_fh *fh);
/* Free an inode's lock-owner records (lc_close, for handles never released). */
void lc_lk_inode_free(struct lc_inode *in);
/* Size to report for ino if this client has unflushed writes, else 0. */
uint64_t lc_dirty_size(struct lc *c, uint64_t ino);

#endif
