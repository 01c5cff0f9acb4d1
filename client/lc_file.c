/*
 * lc_file.c - libcairn's data path: write sessions, buffered block writes
 * down the chunk's chain, commits, reads with failover and read-ahead,
 * truncation, and the background flusher.
 *
 * Invariants:
 *  1. A byte acknowledged by lc_write() stays in this client's memory
 *     (struct lc_wblk) until the version holding it is committed, so a write
 *     chain that breaks is rebuilt from the master and every block of the
 *     session sent again; nothing is ever half-committed.
 *  2. A retained block is one contiguous range [lo, hi). A write that would
 *     leave a gap first fills the block from its committed content, so a
 *     block is always sent as bytes the reader must see (the chunkserver
 *     merges the range over the committed block).
 *  3. A version is committed only after every block sent under it was
 *     acknowledged by the whole chain (in->inflight == 0 and the session did
 *     not fail) and COMMIT_PART succeeded on the whole chain; WRITE_END
 *     comes last. A flush that cannot reach that state rolls the version
 *     back and reports -EIO to fsync/close.
 *  4. Reads see this client's writes: a read of an inode with open write
 *     sessions commits them first.
 *  5. Data returned by a read matches the CRC the chunkserver sent with it;
 *     a mismatch is treated like an unreachable server (next copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cls.h"
#include "ec.h"
#include "lc_int.h"
#include "log.h"
#include "xmalloc.h"

#define MAX_CHAIN     40  /* copies' chain, or an EC chunk's K+M parts */
#define ADDR_MAX      128 /* host:port of a chunkserver (longer ones are skipped) */
#define MAX_INFLIGHT  64  /* blocks in flight per inode */
#define LOC_TTL_MS    5000
#define LOC_SLOTS     16
#define RA_MAX_BLOCKS 256
#define RETRIES       4
/* Copies take turns by stretches of this many blocks (1 MiB): each server
 * sees runs it can read ahead on its disk, and a long read uses them all. */
#define STRETCH_BLOCKS 16

struct lc_wblk {
    uint8_t *data;
    uint32_t lo, hi;
    int dirty;
};

struct lc_wsess {
    struct lc_wsess *next;
    uint32_t index;
    uint64_t chunk, version, lease;
    uint32_t lease_ms;
    uint64_t started;
    struct lc_cred cred;
    char chain[MAX_CHAIN][ADDR_MAX]; /* EC: chain[p] holds part p */
    uint32_t nchain;
    uint16_t part;
    uint8_t ec_k, ec_m; /* ec=K+M (ec_commit), or 0: copies down the chain */
    uint8_t wflags;     /* CN_WF_* from WRITE_BEGIN_R, sent in every WRITE_BLOCK */
    int shrunk;         /* cut_tail: the chunk ends earlier than before */
    struct lc_wblk *blk[LC_BLOCKS_PER_CHUNK];
    /* under in->cmu */
    int failed;
    int fail_rc; /* -errno of the last failure */
    char errtext[200];
};

struct lc_loc {
    uint32_t index;
    int valid;
    uint64_t fetched;
    uint64_t chunk, version, file_size;
    uint32_t nlocs;
    uint32_t nprimary;  /* copies: locs [0, nprimary) are not labelled backup */
    uint8_t ec_k, ec_m; /* ec=K+M: part[i] is the part addr[i] holds; 0: copies */
    uint16_t part[MAX_CHAIN];
    char addr[MAX_CHAIN][ADDR_MAX];
};

struct lc_loc_cache {
    pthread_mutex_t mu;
    struct lc_loc *slot; /* LOC_SLOTS entries, allocated at the first locate */
    uint32_t next;
};

/* A block fetched ahead (read-ahead) or for the current read. */
struct rblk {
    struct rblk *next;
    uint64_t fblock; /* file offset / LC_BLOCK_SIZE */
    int done;
    struct lc_op op;
    struct lc_fh *fh;
    uint64_t chunk, version;
    uint16_t part;
    uint32_t tried; /* index of the location asked */
    int ec;         /* a data part of an EC chunk: a timeout marks its server slow */
    int users;      /* readers waiting on or copying from it (under rmu) */
    uint64_t gen;   /* the inode's write generation when it was fetched */
};

struct lc_fh {
    struct lc *c;
    struct lc_inode *in;
    struct lc_cred cred;
    int flags;
    pthread_mutex_t rmu; /* read-ahead state */
    pthread_cond_t rcv;
    struct rblk *ra; /* fetched or in flight */
    uint32_t nra;
    uint64_t next_off;
    uint64_t ra_win;
    struct lc_fh *fnext, **fpprev; /* c->fhs: handles not released yet (under imu) */
};

/* ---- inode table ---------------------------------------------------------- */

struct lc_inode *lc_inode_get(struct lc *c, uint64_t ino, int create)
{
    size_t h = ino % (sizeof(c->itab) / sizeof(c->itab[0]));
    pthread_mutex_lock(&c->imu);
    struct lc_inode *in = c->itab[h];
    while (in && in->ino != ino)
        in = in->hnext;
    if (!in && create) {
        in = cn_xcalloc(1, sizeof(*in));
        in->ino = ino;
        in->c = c;
        pthread_mutex_init(&in->mu, NULL);
        pthread_mutex_init(&in->cmu, NULL);
        pthread_cond_init(&in->ccv, NULL);
        in->locs = cn_xcalloc(1, sizeof(*in->locs));
        pthread_mutex_init(&in->locs->mu, NULL);
        in->hnext = c->itab[h];
        c->itab[h] = in;
    }
    if (in)
        in->refs++;
    pthread_mutex_unlock(&c->imu);
    return in;
}

void lc_inode_put(struct lc_inode *in)
{
    struct lc *c = in->c;
    size_t h = in->ino % (sizeof(c->itab) / sizeof(c->itab[0]));
    pthread_mutex_lock(&c->imu);
    if (--in->refs > 0 || in->ws) {
        pthread_mutex_unlock(&c->imu);
        return;
    }
    for (struct lc_inode **pp = &c->itab[h]; *pp; pp = &(*pp)->hnext)
        if (*pp == in) {
            *pp = in->hnext;
            break;
        }
    pthread_mutex_unlock(&c->imu);
    lc_inode_free(in);
}

void lc_inode_free(struct lc_inode *in)
{
    pthread_mutex_destroy(&in->locs->mu);
    free(in->locs->slot);
    free(in->locs);
    lc_lk_inode_free(in);
    pthread_mutex_destroy(&in->mu);
    pthread_mutex_destroy(&in->cmu);
    pthread_cond_destroy(&in->ccv);
    free(in);
}

uint64_t lc_dirty_size(struct lc *c, uint64_t ino)
{
    uint64_t s = 0;
    size_t h = ino % (sizeof(c->itab) / sizeof(c->itab[0]));
    pthread_mutex_lock(&c->imu);
    for (struct lc_inode *in = c->itab[h]; in; in = in->hnext)
        if (in->ino == ino && in->ws)
            s = __atomic_load_n(&in->size, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&c->imu);
    return s;
}

/* ---- chunk locations ------------------------------------------------------ */

static void loc_drop(struct lc_inode *in, uint32_t index)
{
    struct lc_loc_cache *lc = in->locs;
    pthread_mutex_lock(&lc->mu);
    for (int i = 0; lc->slot && i < LOC_SLOTS; i++)
        if (lc->slot[i].valid && lc->slot[i].index == index)
            lc->slot[i].valid = 0;
    pthread_mutex_unlock(&lc->mu);
}

static void loc_drop_all(struct lc_inode *in)
{
    pthread_mutex_lock(&in->locs->mu);
    for (int i = 0; in->locs->slot && i < LOC_SLOTS; i++)
        in->locs->slot[i].valid = 0;
    pthread_mutex_unlock(&in->locs->mu);
}

/* Where chunk `index` of the inode is (cached LOC_TTL_MS). */
/* A copy on a server or disk labelled `backup` (labels=ssd,ssd,backup):
 * read only when no other copy answers. */
static int loc_is_backup(const struct cn_loc *l)
{
    char lab[512];
    if (l->labels.len >= sizeof(lab))
        return 0;
    memcpy(lab, l->labels.ptr, l->labels.len);
    lab[l->labels.len] = 0;
    return cn_labels_have(lab, "backup");
}

/* The k-th copy to try for file block fblock: stretches of blocks spread
 * over the primary copies, then the backup copies in order. */
static uint32_t loc_spread(const struct lc_loc *l, uint64_t fblock, uint32_t k)
{
    uint32_t np = l->nprimary && l->nprimary <= l->nlocs ? l->nprimary : l->nlocs;
    if (k >= np)
        return k;
    return (uint32_t)((fblock / STRETCH_BLOCKS + k) % np);
}

static int loc_get(struct lc_inode *in, uint32_t index, int fresh, struct lc_loc *out)
{
    struct lc_loc_cache *lc = in->locs;
    uint64_t now = lc_now_ms();
    pthread_mutex_lock(&lc->mu);
    for (int i = 0; lc->slot && i < LOC_SLOTS && !fresh; i++) {
        struct lc_loc *l = &lc->slot[i];
        if (l->valid && l->index == index && now - l->fetched < LOC_TTL_MS) {
            *out = *l;
            pthread_mutex_unlock(&lc->mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&lc->mu);
    struct cn_chunk_locate m = {in->ino, index};
    struct cn_chunk_locate_r r;
    struct lc_op op;
    lc_op_init(&op);
    int rc = lc_mcall(in->c, CN_MSG_CHUNK_LOCATE, &m, &r, &op);
    if (!rc) {
        memset(out, 0, sizeof(*out));
        out->index = index;
        out->valid = 1;
        out->fetched = now;
        out->chunk = r.chunk;
        out->version = r.version;
        out->file_size = r.file_size;
        out->ec_k = r.ec_k;
        out->ec_m = r.ec_m;
        /* copies labelled `backup` go last: read only when the others fail */
        for (int backup = 0; backup < 2; backup++) {
            for (uint32_t i = 0; i < r.nlocs && out->nlocs < MAX_CHAIN; i++) {
                if (r.locs[i].addr.len >= sizeof(out->addr[0]) ||
                    loc_is_backup(&r.locs[i]) != backup)
                    continue;
                memcpy(out->addr[out->nlocs], r.locs[i].addr.ptr, r.locs[i].addr.len);
                out->addr[out->nlocs][r.locs[i].addr.len] = 0;
                out->part[out->nlocs] = r.locs[i].part;
                out->nlocs++;
            }
            if (!backup)
                out->nprimary = out->nlocs;
        }
        if (!out->nprimary)
            out->nprimary = out->nlocs;
        cn_msg_free(CN_MSG_CHUNK_LOCATE_R, &r);
        pthread_mutex_lock(&lc->mu);
        if (!lc->slot)
            lc->slot = cn_xcalloc(LOC_SLOTS, sizeof(*lc->slot));
        lc->slot[lc->next++ % LOC_SLOTS] = *out;
        pthread_mutex_unlock(&lc->mu);
    }
    lc_op_release(&op);
    return rc;
}

/* ---- block reads ---------------------------------------------------------- */

static void encode_read(struct lc_op *op, const struct lc_loc *l, uint32_t li, uint32_t block,
                        uint32_t off, uint32_t len)
{
    struct cn_read_block m = {l->chunk, l->version, l->part[li], block, off, len};
    lc_encode_framed(op, CN_MSG_READ_BLOCK, &m, 64);
    op->to_master = 0;
    snprintf(op->addr, sizeof(op->addr), "%s", l->addr[li]);
}

/* Check a finished READ_BLOCK op (invariant 5): data and length, or -errno. */
static int read_result(struct lc_op *op, const uint8_t **data, uint32_t *len)
{
    if (op->status)
        return op->status;
    struct cn_read_block_r r;
    if (op->rtype != CN_MSG_READ_BLOCK_R ||
        cn_msg_decode(CN_MSG_READ_BLOCK_R, op->reply.data, op->reply.len, &r))
        return -EPROTO;
    if (ec_crc32c(0, r.data.ptr, r.data.len) != r.crc)
        return -EBADMSG;
    *data = r.data.ptr;
    *len = r.data.len;
    return 0;
}

/* ---- erasure-coded chunks: reads ---------------------------------------------
 * Block b of an ec=K+M chunk is block b div K (its row) of data part b mod K
 * (DESIGN.md "Data model"); each row's M parity blocks code the row's K
 * data blocks, zero-padded logically to the longest. A read asks the data
 * part's server; a failed or damaged answer rebuilds the block from any K
 * other parts of its row (a degraded read). */

static int ec_codec_of(struct lc *c, unsigned k, unsigned m, struct ec_codec **out)
{
    char err[200];
    pthread_mutex_lock(&c->ecmu);
    int rc = c->ec ? 0 : ec_ctx_create(&c->ec, EC_BACKEND_AUTO, err, sizeof(err));
    pthread_mutex_unlock(&c->ecmu);
    if (rc) {
        cn_log_error("ec", "no erasure coding context: %s", err);
        return -EIO;
    }
    return ec_codec_get(c->ec, k, m, out) ? -EIO : 0;
}

/* The location holding part p of an EC chunk, or -1. */
static int ec_loc_of(const struct lc_loc *l, unsigned p)
{
    for (uint32_t i = 0; i < l->nlocs; i++)
        if (l->part[i] == p)
            return (int)i;
    return -1;
}

/* Block `row` of the part at location li, whole, into buf (LC_BLOCK_SIZE,
 * zero-filled past what is stored). A hole reads as zeros. */
#define SLOW_PENALTY_MS 10000 /* a slow or failed part server is asked last this long */

/* 1 if the server at addr was slow or failed within SLOW_PENALTY_MS. */
static int slow_is(struct lc *c, const char *addr)
{
    uint64_t now = lc_now_ms();
    int hit = 0;
    pthread_mutex_lock(&c->slowmu);
    for (size_t i = 0; i < sizeof(c->slow) / sizeof(c->slow[0]) && !hit; i++)
        hit = c->slow[i].until > now && strcmp(c->slow[i].addr, addr) == 0;
    pthread_mutex_unlock(&c->slowmu);
    return hit;
}

/* Remember addr as slow: its entry, else a free or the oldest slot. */
static void slow_mark(struct lc *c, const char *addr)
{
    uint64_t now = lc_now_ms();
    size_t n = sizeof(c->slow) / sizeof(c->slow[0]), pick = 0;
    pthread_mutex_lock(&c->slowmu);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c->slow[i].addr, addr) == 0) {
            pick = i;
            break;
        }
        if (c->slow[i].until < c->slow[pick].until)
            pick = i;
    }
    snprintf(c->slow[pick].addr, sizeof(c->slow[pick].addr), "%s", addr);
    c->slow[pick].until = now + SLOW_PENALTY_MS;
    pthread_mutex_unlock(&c->slowmu);
}

/* Row `row` of the part at l->addr[li] into buf. A server that does not
 * answer within timeout_ms, or fails, is remembered as slow. */
static int ec_part_block(struct lc *c, const struct lc_loc *l, uint32_t li, uint32_t row,
                         uint8_t *buf, uint32_t timeout_ms)
{
    struct lc_op op;
    lc_op_init(&op);
    encode_read(&op, l, li, row, 0, 0);
    op.timeout_ms = timeout_ms;
    lc_wait_call(c, &op);
    const uint8_t *d;
    uint32_t n = 0;
    int rc = read_result(&op, &d, &n);
    if (rc == 0) {
        if (n > LC_BLOCK_SIZE)
            n = LC_BLOCK_SIZE;
        memcpy(buf, d, n);
    }
    memset(buf + (rc ? 0 : n), 0, LC_BLOCK_SIZE - (rc ? 0 : n));
    lc_op_release(&op);
    if (rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ECONNABORTED ||
        rc == -EPIPE || rc == -EHOSTUNREACH || rc == -ENETUNREACH || rc == -ENOTCONN)
        slow_mark(c, l->addr[li]); /* the server, not the part: its other parts too */
    return rc;
}

/* Chunk block `block` of EC chunk l into buf (LC_BLOCK_SIZE, zero-padded). */
static int ec_read_block(struct lc *c, const struct lc_loc *l, uint32_t block, uint8_t *buf)
{
    unsigned k = l->ec_k, m = l->ec_m, want = block % k;
    uint32_t row = block / k;
    int li = ec_loc_of(l, want);
    /* the data part, unless its server was slow lately: then the row is
     * decoded from the others straight away (a stopped or overloaded disk
     * costs ec_slow_ms once, not on every block) */
    int asked = li >= 0 && !slow_is(c, l->addr[li]);
    if (asked && ec_part_block(c, l, (uint32_t)li, row, buf, c->o.ec_slow_ms) == 0) {
        LC_STAT_ADD(c, blocks_read, 1);
        return 0;
    }
    LC_STAT_ADD(c, read_failovers, 1);
    struct ec_codec *codec;
    int rc = ec_codec_of(c, k, m, &codec);
    if (rc)
        return rc;
    void *parts[EC_PARTS_MAX] = {0};
    unsigned have = 0;
    uint64_t tried = asked ? 1ull << want : 0;
    /* pass 0: parts on servers not slow lately; pass 1: the others, and
     * the data part itself when it was only skipped for being slow */
    for (unsigned pass = 0; pass < 2 && have < k && rc == 0; pass++)
        for (unsigned p = 0; p < k + m && have < k && rc == 0; p++) {
            int pl = tried >> p & 1 ? -1 : ec_loc_of(l, p);
            if (pl < 0 || (pass == 0 && slow_is(c, l->addr[pl])))
                continue;
            tried |= 1ull << p;
            if (p == want) {
                if (ec_part_block(c, l, (uint32_t)pl, row, buf, c->o.cs_timeout_ms) == 0) {
                    for (unsigned q = 0; q < k + m; q++)
                        free(parts[q]);
                    LC_STAT_ADD(c, blocks_read, 1);
                    return 0;
                }
                continue;
            }
            uint8_t *pb = aligned_alloc(64, LC_BLOCK_SIZE);
            if (!pb) {
                rc = -ENOMEM;
                break;
            }
            if (ec_part_block(c, l, (uint32_t)pl, row, pb, c->o.cs_timeout_ms) == 0) {
                parts[p] = pb;
                have++;
            } else {
                free(pb);
            }
        }
    if (rc == 0 && have < k) {
        cn_log_warn("read", "chunk %016llx v%llu row %u: only %u of %u parts readable",
                    (unsigned long long)l->chunk, (unsigned long long)l->version, row, have, k);
        rc = -EIO;
    }
    uint8_t *out = rc ? NULL : aligned_alloc(64, LC_BLOCK_SIZE);
    if (rc == 0 && !out)
        rc = -ENOMEM;
    if (rc == 0) {
        parts[want] = out;
        rc = ec_codec_decode(codec, parts, NULL, 1ull << want, LC_BLOCK_SIZE) ? -EIO : 0;
        if (rc == 0)
            memcpy(buf, out, LC_BLOCK_SIZE);
        parts[want] = NULL;
        LC_STAT_ADD(c, degraded_reads, 1);
    }
    free(out);
    for (unsigned p = 0; p < k + m; p++)
        free(parts[p]);
    return rc;
}

/* Read [off, off+len) of file block `fblock` into buf, zero-filling what
 * the part does not store; tries every copy, then asks the master again. */
static int read_block_sync(struct lc_fh *fh, uint64_t fblock, uint32_t off, uint32_t len,
                           uint8_t *buf, uint32_t skip_loc, int skip)
{
    struct lc_inode *in = fh->in;
    uint32_t index = (uint32_t)(fblock / LC_BLOCKS_PER_CHUNK);
    uint32_t block = (uint32_t)(fblock % LC_BLOCKS_PER_CHUNK);
    for (int attempt = 0; attempt < RETRIES; attempt++) {
        struct lc_loc l;
        int rc = loc_get(in, index, attempt > 0, &l);
        if (rc)
            return rc;
        if (!l.chunk) { /* a hole */
            memset(buf, 0, len);
            return 0;
        }
        if (l.ec_k) {
            uint8_t *tmp = cn_xmalloc(LC_BLOCK_SIZE);
            rc = ec_read_block(fh->c, &l, block, tmp);
            if (rc == 0)
                memcpy(buf, tmp + off, len);
            free(tmp);
            if (rc == 0)
                return 0;
            l.nlocs = 0; /* ask the master again below */
        }
        for (uint32_t k = 0; k < l.nlocs; k++) {
            uint32_t li = loc_spread(&l, fblock, k);
            if (skip && attempt == 0 && li == skip_loc && l.nlocs > 1)
                continue;
            struct lc_op op;
            lc_op_init(&op);
            encode_read(&op, &l, li, block, off, len);
            op.timeout_ms = fh->c->o.cs_timeout_ms;
            lc_wait_call(fh->c, &op);
            const uint8_t *d;
            uint32_t n;
            rc = read_result(&op, &d, &n);
            if (!rc) {
                if (n > len)
                    n = len;
                memcpy(buf, d, n);
                memset(buf + n, 0, len - n);
                LC_STAT_ADD(fh->c, blocks_read, 1);
                lc_op_release(&op);
                return 0;
            }
            LC_STAT_ADD(fh->c, read_failovers, 1);
            lc_op_release(&op);
        }
        loc_drop(in, index);
        if (attempt + 1 < RETRIES) {
            struct timespec ts = {0, 200 * 1000 * 1000L * (attempt + 1)};
            nanosleep(&ts, NULL);
        }
    }
    return -EIO; /* every copy failed, whatever the last reason */
}

/* Blocks fetched before the file's last write or truncation are stale. */
static uint64_t ra_gen(struct lc_fh *fh)
{
    return __atomic_load_n(&fh->in->wgen, __ATOMIC_ACQUIRE);
}

static void rblk_done(struct lc_op *op)
{
    struct rblk *rb = op->ud;
    struct lc_fh *fh = rb->fh;
    if (rb->ec && op->status == -ETIMEDOUT)
        slow_mark(fh->c, op->addr);
    pthread_mutex_lock(&fh->rmu);
    rb->done = 1;
    pthread_cond_broadcast(&fh->rcv);
    pthread_mutex_unlock(&fh->rmu);
}

static void rblk_free(struct rblk *rb)
{
    lc_op_release(&rb->op);
    free(rb);
}

/* Start fetching whole block fblock (caller holds fh->rmu). */
static void ra_issue(struct lc_fh *fh, uint64_t fblock)
{
    for (struct rblk *r = fh->ra; r; r = r->next)
        if (r->fblock == fblock && r->gen == ra_gen(fh))
            return;
    struct lc_loc l;
    uint32_t index = (uint32_t)(fblock / LC_BLOCKS_PER_CHUNK);
    pthread_mutex_unlock(&fh->rmu);
    int rc = loc_get(fh->in, index, 0, &l);
    pthread_mutex_lock(&fh->rmu);
    if (rc || !l.chunk || !l.nlocs)
        return; /* the synchronous path will handle holes and errors */
    for (struct rblk *r = fh->ra; r; r = r->next)
        if (r->fblock == fblock && r->gen == ra_gen(fh))
            return;
    struct rblk *rb = cn_xcalloc(1, sizeof(*rb));
    lc_op_init(&rb->op);
    rb->fblock = fblock;
    rb->gen = ra_gen(fh);
    rb->fh = fh;
    uint32_t block = (uint32_t)(fblock % LC_BLOCKS_PER_CHUNK);
    if (l.ec_k) { /* the data part's block; a failure goes to the degraded read */
        int li = ec_loc_of(&l, block % l.ec_k);
        if (li < 0 || slow_is(fh->c, l.addr[li])) { /* the reader decodes it */
            lc_op_release(&rb->op);
            free(rb);
            return;
        }
        rb->tried = (uint32_t)li;
        rb->ec = 1;
        encode_read(&rb->op, &l, rb->tried, block / l.ec_k, 0, 0);
    } else {
        rb->tried = loc_spread(&l, fblock, 0);
        encode_read(&rb->op, &l, rb->tried, block, 0, 0);
    }
    rb->op.timeout_ms = rb->ec ? fh->c->o.ec_slow_ms : fh->c->o.cs_timeout_ms;
    rb->op.done = rblk_done;
    rb->op.ud = rb;
    rb->next = fh->ra;
    fh->ra = rb;
    fh->nra++;
    lc_submit(fh->c, &rb->op);
}

/* Drop fetched blocks outside [lo, hi) (caller holds rmu; waits for none). */
static void ra_trim(struct lc_fh *fh, uint64_t lo, uint64_t hi)
{
    for (struct rblk **pp = &fh->ra; *pp;) {
        struct rblk *r = *pp;
        if ((r->fblock < lo || r->fblock >= hi || r->gen != ra_gen(fh)) && r->done && !r->users) {
            *pp = r->next;
            fh->nra--;
            rblk_free(r);
        } else {
            pp = &r->next;
        }
    }
}

static void ra_remove(struct lc_fh *fh, struct rblk *rb)
{
    for (struct rblk **pp = &fh->ra; *pp; pp = &(*pp)->next)
        if (*pp == rb) {
            *pp = rb->next;
            fh->nra--;
            rblk_free(rb);
            return;
        }
}

static void ra_clear(struct lc_fh *fh)
{
    pthread_mutex_lock(&fh->rmu);
    while (fh->ra) {
        struct rblk *r = fh->ra;
        while (!r->done)
            pthread_cond_wait(&fh->rcv, &fh->rmu);
        fh->ra = r->next;
        rblk_free(r);
    }
    fh->nra = 0;
    pthread_mutex_unlock(&fh->rmu);
}

ssize_t lc_read(struct lc_fh *fh, void *buf, size_t size, uint64_t off)
{
    struct lc_inode *in = fh->in;
    uint64_t fsize;
    pthread_mutex_lock(&in->mu);
    if (in->ws) { /* invariant 4 */
        int rc = lc_inode_flush(in);
        if (rc) {
            pthread_mutex_unlock(&in->mu);
            return rc;
        }
    }
    fsize = in->size;
    pthread_mutex_unlock(&in->mu);
    if (!size)
        return 0;
    struct lc_loc l;
    int rc = loc_get(in, (uint32_t)(off / LC_CHUNK_SIZE), 0, &l);
    if (rc)
        return rc;
    if (l.file_size > fsize)
        fsize = l.file_size;
    if (off >= fsize)
        return 0;
    if (size > fsize - off)
        size = (size_t)(fsize - off);

    uint64_t first = off / LC_BLOCK_SIZE, last = (off + size - 1) / LC_BLOCK_SIZE;
    pthread_mutex_lock(&fh->rmu);
    /* The kernel's own read-ahead sends neighbouring reads in parallel and
     * out of order: anything near the last end counts as sequential. */
    uint64_t near = 2u << 20;
    int seq = off + near >= fh->next_off && off <= fh->next_off + near;
    if (!seq || off + size > fh->next_off)
        fh->next_off = off + size;
    if (seq) {
        uint64_t w = fh->ra_win ? fh->ra_win * 2 : 4 * LC_BLOCK_SIZE;
        fh->ra_win = w > fh->c->o.readahead_bytes ? fh->c->o.readahead_bytes : w;
        uint64_t hi = (off + size + fh->ra_win) / LC_BLOCK_SIZE;
        uint64_t maxb = (fsize + LC_BLOCK_SIZE - 1) / LC_BLOCK_SIZE;
        if (hi > maxb)
            hi = maxb;
        if (hi > first + RA_MAX_BLOCKS)
            hi = first + RA_MAX_BLOCKS;
        ra_trim(fh, first, hi + 1);
        for (uint64_t b = first; b < hi; b++)
            ra_issue(fh, b);
    } else {
        fh->ra_win = 0;
        ra_trim(fh, first, last + 1);
    }
    pthread_mutex_unlock(&fh->rmu);

    uint8_t *out = buf;
    uint64_t pos = off, end = off + size;
    while (pos < end) {
        uint64_t fb = pos / LC_BLOCK_SIZE;
        uint32_t boff = (uint32_t)(pos % LC_BLOCK_SIZE);
        uint32_t n = LC_BLOCK_SIZE - boff;
        if (n > end - pos)
            n = (uint32_t)(end - pos);
        struct rblk *rb = NULL;
        pthread_mutex_lock(&fh->rmu);
        for (struct rblk *r = fh->ra; r; r = r->next)
            if (r->fblock == fb && r->gen == ra_gen(fh))
                rb = r;
        if (rb)
            rb->users++; /* keeps rb from being freed by another reader's trim */
        while (rb && !rb->done)
            pthread_cond_wait(&fh->rcv, &fh->rmu);
        const uint8_t *d = NULL;
        uint32_t dl = 0;
        int ok = rb && read_result(&rb->op, &d, &dl) == 0;
        if (ok) {
            uint32_t have = dl > boff ? dl - boff : 0;
            if (have > n)
                have = n;
            memcpy(out, d + boff, have);
            memset(out + have, 0, n - have);
            LC_STAT_ADD(fh->c, blocks_read, 1);
        }
        uint32_t tried = rb ? rb->tried : 0;
        if (rb && --rb->users == 0 && !ok)
            ra_remove(fh, rb);
        pthread_mutex_unlock(&fh->rmu);
        if (!ok) {
            if (rb)
                LC_STAT_ADD(fh->c, read_failovers, 1);
            rc = read_block_sync(fh, fb, boff, n, out, tried, rb != NULL);
            if (rc) {
                pthread_mutex_lock(&fh->rmu);
                ra_trim(fh, 1, 0); /* drop finished entries: they may be stale */
                pthread_mutex_unlock(&fh->rmu);
                return rc;
            }
        }
        out += n;
        pos += n;
    }
    return (ssize_t)size;
}

/* ---- write sessions -------------------------------------------------------- */

struct wop {
    struct lc_op op;
    struct lc_inode *in;
    struct lc_wsess *ws;
};

static void wop_done(struct lc_op *op)
{
    struct wop *w = op->ud;
    struct lc_inode *in = w->in;
    pthread_mutex_lock(&in->cmu);
    if (op->status && !w->ws->failed) {
        w->ws->failed = 1;
        w->ws->fail_rc = op->status;
        snprintf(w->ws->errtext, sizeof(w->ws->errtext), "%s",
                 op->err[0] ? op->err : cn_strerror(op->status));
    }
    in->inflight--;
    pthread_cond_broadcast(&in->ccv);
    pthread_mutex_unlock(&in->cmu);
    lc_op_release(op);
    free(w);
}

static void wait_inflight(struct lc_inode *in, int max)
{
    pthread_mutex_lock(&in->cmu);
    while (in->inflight > max)
        pthread_cond_wait(&in->ccv, &in->cmu);
    pthread_mutex_unlock(&in->cmu);
}

static uint32_t chain_hops(const struct lc_wsess *ws, struct cn_hop *hops)
{
    for (uint32_t i = 1; i < ws->nchain; i++)
        hops[i - 1].addr = cn_str_of(ws->chain[i]);
    return ws->nchain ? ws->nchain - 1 : 0;
}

static void send_block(struct lc_inode *in, struct lc_wsess *ws, uint32_t bno)
{
    struct lc_wblk *b = ws->blk[bno];
    struct cn_hop hops[MAX_CHAIN];
    wait_inflight(in, MAX_INFLIGHT - 1);
    struct wop *w = cn_xcalloc(1, sizeof(*w));
    lc_op_init(&w->op);
    w->in = in;
    w->ws = ws;
    uint32_t len = b->hi - b->lo;
    struct cn_write_block m = {.chunk = ws->chunk,
                               .version = ws->version,
                               .part = ws->part,
                               .block = bno,
                               .offset = b->lo,
                               .crc = ec_crc32c(0, b->data + b->lo, len),
                               .flags = ws->wflags,
                               .chain = hops,
                               .nchain = chain_hops(ws, hops),
                               .data = {b->data + b->lo, len}};
    lc_encode_framed(&w->op, CN_MSG_WRITE_BLOCK, &m, len + 64 + 300u * m.nchain);
    snprintf(w->op.addr, sizeof(w->op.addr), "%s", ws->chain[0]);
    w->op.timeout_ms = in->c->o.cs_timeout_ms;
    w->op.done = wop_done;
    w->op.ud = w;
    b->dirty = 0;
    pthread_mutex_lock(&in->cmu);
    in->inflight++;
    pthread_mutex_unlock(&in->cmu);
    LC_STAT_ADD(in->c, blocks_written, 1);
    lc_submit(in->c, &w->op);
}

/* WRITE_BEGIN: take (or renew) the lease and learn the chain. */
static int sess_lease(struct lc_inode *in, struct lc_wsess *ws, char *err, size_t errlen)
{
    struct cn_write_begin m = {in->ino, ws->index, ws->cred.uid, ws->cred.gid};
    struct cn_write_begin_r r;
    struct lc_op op;
    uint64_t t0 = lc_now_ms();
    int rc;
    for (unsigned pause = 100;; pause = pause < 800 ? pause * 2 : 1000) {
        lc_op_init(&op);
        rc = lc_mcall(in->c, CN_MSG_WRITE_BEGIN, &m, &r, &op);
        /* Busy states that pass: another writer's (or our previous
         * session's) lease, copies not registered yet after a restart, no
         * server online for a moment. Waited out like a master outage. */
        uint16_t ws_st = op.wire_status;
        int busy = ws_st == CN_ST_LEASE || ws_st == CN_ST_NO_CHUNK || ws_st == CN_ST_NO_SERVERS;
        /* no server at all: chunkservers re-register within their reconnect
         * backoff (5 s) after a master restart; wait a bit longer than that */
        uint64_t limit = in->c->o.master_timeout_ms;
        if (ws_st == CN_ST_NO_SERVERS && limit > 15000)
            limit = 15000;
        if (!rc || !busy || lc_now_ms() - t0 >= limit)
            break;
        lc_op_release(&op);
        usleep(pause * 1000u);
    }
    if (rc) {
        snprintf(err, errlen, "%s", op.err[0] ? op.err : cn_strerror(rc));
        if (op.wire_status == CN_ST_NO_SERVERS)
            rc = -ENOSPC;
        lc_op_release(&op);
        return rc;
    }
    ws->chunk = r.chunk;
    ws->version = r.version;
    ws->lease = r.lease;
    ws->lease_ms = r.lease_ms;
    ws->started = lc_now_ms();
    ws->nchain = 0;
    ws->part = 0;
    ws->ec_k = r.ec_k;
    ws->ec_m = r.ec_m;
    ws->wflags = r.flags;
    if (ws->ec_k) { /* chain[p]: the server of part p, each part exactly once */
        unsigned n = (unsigned)ws->ec_k + ws->ec_m, got = 0;
        uint8_t seen[MAX_CHAIN] = {0};
        for (uint32_t i = 0; n <= MAX_CHAIN && i < r.nlocs; i++) {
            unsigned p = r.locs[i].part;
            if (p >= n || seen[p] || r.locs[i].addr.len >= sizeof(ws->chain[0]))
                continue;
            memcpy(ws->chain[p], r.locs[i].addr.ptr, r.locs[i].addr.len);
            ws->chain[p][r.locs[i].addr.len] = 0;
            seen[p] = 1;
            got++;
        }
        cn_msg_free(CN_MSG_WRITE_BEGIN_R, &r);
        lc_op_release(&op);
        if (got != n) {
            snprintf(err, errlen, "master gave %u of the %u parts of an ec=%u+%u chunk", got, n,
                     ws->ec_k, ws->ec_m);
            return -EIO;
        }
        ws->nchain = n;
        return 0;
    }
    for (uint32_t i = 0; i < r.nlocs && ws->nchain < MAX_CHAIN; i++) {
        if (r.locs[i].addr.len >= sizeof(ws->chain[0]))
            continue;
        memcpy(ws->chain[ws->nchain], r.locs[i].addr.ptr, r.locs[i].addr.len);
        ws->chain[ws->nchain][r.locs[i].addr.len] = 0;
        ws->nchain++;
    }
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &r);
    lc_op_release(&op);
    if (!ws->nchain) {
        snprintf(err, errlen, "master gave an empty write chain");
        return -EIO;
    }
    return 0;
}

static struct lc_wsess *sess_find(struct lc_inode *in, uint32_t index)
{
    for (struct lc_wsess *ws = in->ws; ws; ws = ws->next)
        if (ws->index == index)
            return ws;
    return NULL;
}

static int sess_open(struct lc_inode *in, const struct lc_cred *u, uint32_t index,
                     struct lc_wsess **out)
{
    struct lc_wsess *ws = sess_find(in, index);
    if (ws) {
        *out = ws;
        return 0;
    }
    ws = cn_xcalloc(1, sizeof(*ws));
    ws->index = index;
    ws->cred = *u;
    char err[200];
    int rc = sess_lease(in, ws, err, sizeof(err));
    if (rc) {
        free(ws);
        return rc;
    }
    ws->next = in->ws;
    in->ws = ws;
    *out = ws;
    return 0;
}

static void sess_free(struct lc_inode *in, struct lc_wsess *ws)
{
    for (struct lc_wsess **pp = &in->ws; *pp; pp = &(*pp)->next)
        if (*pp == ws) {
            *pp = ws->next;
            break;
        }
    for (uint32_t i = 0; i < LC_BLOCKS_PER_CHUNK; i++)
        if (ws->blk[i]) {
            free(ws->blk[i]->data);
            free(ws->blk[i]);
            in->buffered -= LC_BLOCK_SIZE;
        }
    free(ws);
}

/* Invariant 2: make block bno of the session hold [0, max(hi, stored)) by
 * reading its committed content around the retained range. */
static int block_fill(struct lc_inode *in, struct lc_wsess *ws, uint32_t bno)
{
    struct lc_wblk *b = ws->blk[bno];
    struct lc_loc l;
    int rc = loc_get(in, ws->index, 1, &l);
    if (rc)
        return rc;
    uint8_t *tmp = cn_xcalloc(1, LC_BLOCK_SIZE);
    uint32_t stored = 0;
    if (l.chunk && l.version && l.ec_k) {
        if (ec_read_block(in->c, &l, bno, tmp)) {
            free(tmp);
            return -EIO;
        }
        stored = LC_BLOCK_SIZE; /* zero-padded; cut at the file's end below */
    } else if (l.chunk && l.version) {
        rc = -EIO;
        for (uint32_t k = 0; k < l.nlocs && rc; k++) {
            struct lc_op op;
            lc_op_init(&op);
            encode_read(&op, &l, k, bno, 0, 0);
            op.timeout_ms = in->c->o.cs_timeout_ms;
            lc_wait_call(in->c, &op);
            const uint8_t *d;
            uint32_t n;
            rc = read_result(&op, &d, &n);
            if (!rc) {
                memcpy(tmp, d, n);
                stored = n;
            }
            lc_op_release(&op);
        }
        if (rc) {
            free(tmp);
            return -EIO;
        }
    }
    /* cut what lies past the file's end: it reads as zeros */
    uint64_t bstart = (uint64_t)ws->index * LC_CHUNK_SIZE + (uint64_t)bno * LC_BLOCK_SIZE;
    uint64_t fsz = l.file_size;
    if (fsz < bstart + stored)
        stored = fsz > bstart ? (uint32_t)(fsz - bstart) : 0;
    memcpy(b->data, tmp, b->lo < stored ? b->lo : stored);
    if (stored > b->hi)
        memcpy(b->data + b->hi, tmp + b->hi, stored - b->hi);
    if (b->lo > stored)
        memset(b->data + stored, 0, b->lo - stored);
    b->lo = 0;
    if (stored > b->hi)
        b->hi = stored;
    free(tmp);
    return 0;
}

/* Rebuild a broken chain and send every retained block again (invariant 1). */
static int sess_recover(struct lc_inode *in, struct lc_wsess *ws, char *err, size_t errlen)
{
    wait_inflight(in, 0);
    LC_STAT_ADD(in->c, chain_rebuilds, 1);
    cn_log_warn("write", "inode %llu chunk %u (%016llx v%llu): chain %s... failed (%s); rebuilding",
                (unsigned long long)in->ino, ws->index, (unsigned long long)ws->chunk,
                (unsigned long long)ws->version, ws->chain[0], err);
    int rc = sess_lease(in, ws, err, errlen);
    if (rc) {
        cn_log_warn("write", "inode %llu chunk %u: no new chain: %s", (unsigned long long)in->ino,
                    ws->index, err);
        return rc;
    }
    pthread_mutex_lock(&in->cmu);
    ws->failed = 0;
    pthread_mutex_unlock(&in->cmu);
    for (uint32_t i = 0; i < LC_BLOCKS_PER_CHUNK; i++)
        if (ws->blk[i] && ws->blk[i]->hi > ws->blk[i]->lo)
            send_block(in, ws, i);
    wait_inflight(in, 0);
    return 0;
}

static int write_end(struct lc_inode *in, struct lc_wsess *ws, uint16_t status)
{
    struct cn_write_end m = {in->ino,   ws->index, ws->chunk, ws->version,
                             ws->lease, in->size,  status};
    struct cn_attr_r r;
    struct lc_op op;
    lc_op_init(&op);
    int rc = lc_mcall(in->c, CN_MSG_WRITE_END, &m, &r, &op);
    if (!rc && status == CN_ST_OK && r.attr.size > in->size)
        in->size = r.attr.size;
    lc_op_release(&op);
    return rc;
}

static int sess_failed(struct lc_inode *in, struct lc_wsess *ws, char *err, size_t errlen)
{
    pthread_mutex_lock(&in->cmu);
    int failed = ws->failed;
    if (failed)
        snprintf(err, errlen, "%s", ws->errtext);
    pthread_mutex_unlock(&in->cmu);
    return failed;
}

static int sess_commit(struct lc_inode *in, struct lc_wsess *ws);

/* ---- erasure-coded chunks: writes --------------------------------------------
 * An EC session keeps its blocks as a copies session does (invariant 1) but
 * sends nothing before it commits: then each row it touched is completed
 * from the committed content, its parity encoded, and the row's blocks of
 * this session and all its parity blocks go to the parts' servers (one
 * server per part, no chain). The version commits on every part, each cut
 * at its own length, only when every block was acknowledged (invariant 3);
 * a part that was not written to moves to the new version unchanged. */

/* Bytes of chunk block b in a chunk of psize bytes. */
static uint32_t blk_len(uint64_t psize, uint32_t b)
{
    uint64_t s = (uint64_t)b * LC_BLOCK_SIZE;
    if (s >= psize)
        return 0;
    return psize - s >= LC_BLOCK_SIZE ? LC_BLOCK_SIZE : (uint32_t)(psize - s);
}

static void ec_send(struct lc_inode *in, struct lc_wsess *ws, unsigned part, uint32_t row,
                    const uint8_t *data, uint32_t len)
{
    wait_inflight(in, MAX_INFLIGHT - 1);
    struct wop *w = cn_xcalloc(1, sizeof(*w));
    lc_op_init(&w->op);
    w->in = in;
    w->ws = ws;
    struct cn_write_block m = {.chunk = ws->chunk,
                               .version = ws->version,
                               .part = (uint16_t)part,
                               .block = row,
                               .crc = ec_crc32c(0, data, len),
                               .flags = ws->wflags,
                               .data = {data, len}};
    lc_encode_framed(&w->op, CN_MSG_WRITE_BLOCK, &m, len + 64);
    snprintf(w->op.addr, sizeof(w->op.addr), "%s", ws->chain[part]);
    w->op.timeout_ms = in->c->o.cs_timeout_ms;
    w->op.done = wop_done;
    w->op.ud = w;
    pthread_mutex_lock(&in->cmu);
    in->inflight++;
    pthread_mutex_unlock(&in->cmu);
    LC_STAT_ADD(in->c, blocks_written, 1);
    lc_submit(in->c, &w->op);
}

static void ec_fail(struct lc_inode *in, struct lc_wsess *ws, int rc, const char *what)
{
    pthread_mutex_lock(&in->cmu);
    if (!ws->failed) {
        ws->failed = 1;
        ws->fail_rc = rc;
        snprintf(ws->errtext, sizeof(ws->errtext), "%.190s", what);
    }
    pthread_mutex_unlock(&in->cmu);
}

/* One attempt: every touched row encoded and sent, then every part committed. */
static int ec_commit_once(struct lc_inode *in, struct lc_wsess *ws, uint64_t psize)
{
    unsigned k = ws->ec_k, m = ws->ec_m;
    struct ec_codec *codec;
    int rc = ec_codec_of(in->c, k, m, &codec);
    if (rc)
        return rc;
    uint8_t *buf[EC_PARTS_MAX] = {0};
    for (unsigned p = 0; p < k + m; p++)
        if (!(buf[p] = aligned_alloc(64, LC_BLOCK_SIZE)))
            rc = -ENOMEM;
    struct lc_loc l;
    int have_loc = 0;
    uint32_t nrows = (uint32_t)((psize + (uint64_t)LC_BLOCK_SIZE * k - 1) / LC_BLOCK_SIZE / k);
    for (uint32_t r = 0; r < nrows && rc == 0; r++) {
        /* after a shrink, the new last row's parity still codes the cut
         * bytes: that row is encoded again */
        int touched = ws->shrunk && r == nrows - 1;
        for (unsigned j = 0; j < k; j++) {
            uint32_t b = r * k + j;
            touched |= b < LC_BLOCKS_PER_CHUNK && ws->blk[b];
        }
        if (!touched)
            continue;
        size_t dlen[EC_PARTS_MAX];
        for (unsigned j = 0; j < k && rc == 0; j++) {
            uint32_t b = r * k + j, bl = blk_len(psize, b);
            struct lc_wblk *wb = b < LC_BLOCKS_PER_CHUNK ? ws->blk[b] : NULL;
            dlen[j] = bl;
            memset(buf[j], 0, LC_BLOCK_SIZE);
            if (!bl)
                continue;
            if (!wb || wb->lo > 0 || wb->hi < bl) { /* the rest of the block as committed */
                if (!have_loc && (rc = loc_get(in, ws->index, 1, &l)) == 0)
                    have_loc = 1;
                if (rc == 0 && l.chunk == ws->chunk && l.version && l.ec_k == k)
                    rc = ec_read_block(in->c, &l, b, buf[j]);
            }
            if (rc == 0 && wb && wb->hi > wb->lo)
                memcpy(buf[j] + wb->lo, wb->data + wb->lo, wb->hi - wb->lo);
            if (bl < LC_BLOCK_SIZE)
                memset(buf[j] + bl, 0, LC_BLOCK_SIZE - bl);
        }
        if (rc)
            break;
        size_t plen = dlen[0]; /* block 0 of a row is its longest */
        if (ec_codec_encode(codec, (const void *const *)buf, dlen, (void *const *)(buf + k),
                            plen)) {
            rc = -EIO;
            break;
        }
        /* A chunkserver merges a block over the committed one and never
         * shortens it: after a shrink, bytes past the new end are sent as
         * zeros and the last row's parity as a whole zero-padded block, so
         * stale bytes never feed a later degraded read. */
        for (unsigned j = 0; j < k; j++) {
            uint32_t b = r * k + j;
            struct lc_wblk *wb = b < LC_BLOCKS_PER_CHUNK ? ws->blk[b] : NULL;
            uint32_t send = wb && wb->hi > dlen[j] ? wb->hi : (uint32_t)dlen[j];
            if (send && wb)
                ec_send(in, ws, j, r, buf[j], send);
        }
        uint32_t psend = (uint32_t)plen;
        if (ws->shrunk && plen < LC_BLOCK_SIZE) {
            for (unsigned i = 0; i < m; i++)
                memset(buf[k + i] + plen, 0, LC_BLOCK_SIZE - plen);
            psend = LC_BLOCK_SIZE;
        }
        for (unsigned i = 0; i < m; i++)
            ec_send(in, ws, k + i, r, buf[k + i], psend);
    }
    wait_inflight(in, 0);
    for (unsigned p = 0; p < k + m; p++)
        free(buf[p]);
    char err[200];
    if (rc == 0 && sess_failed(in, ws, err, sizeof(err)))
        rc = -EIO;
    struct ec_layout el = {EC_LAYOUT_RS, 0, k, m};
    for (unsigned p = 0; p < k + m && rc == 0; p++) {
        uint64_t size = 0;
        ec_geom_part_size(&el, psize, p, &size);
        struct cn_commit_part cm = {ws->chunk, ws->version, (uint16_t)p, size, NULL, 0};
        struct lc_op op;
        lc_op_init(&op);
        rc = lc_cscall(in->c, ws->chain[p], CN_MSG_COMMIT_PART, &cm, NULL, &op, 0);
        if (rc) {
            char what[256];
            snprintf(what, sizeof(what), "commit of part %u on %.100s: %.80s", p, ws->chain[p],
                     op.err[0] ? op.err : cn_strerror(rc));
            ec_fail(in, ws, rc, what);
        }
        lc_op_release(&op);
    }
    return rc;
}

/* sess_commit for an EC session. */
static int ec_commit(struct lc_inode *in, struct lc_wsess *ws)
{
    uint64_t start = (uint64_t)ws->index * LC_CHUNK_SIZE;
    uint64_t psize = in->size > start ? in->size - start : 0;
    if (psize > LC_CHUNK_SIZE)
        psize = LC_CHUNK_SIZE;
    char err[200] = "";
    int rc = -EIO;
    for (int attempt = 0; attempt < RETRIES; attempt++) {
        if (attempt) {
            /* a part's server failed: a new lease, and after a fresh placement
             * (a chunk never committed) the whole session again */
            usleep(100000u * (unsigned)attempt);
            if ((rc = sess_lease(in, ws, err, sizeof(err))))
                break;
            if (!ws->ec_k) /* placed as copies this time (too few servers) */
                return sess_commit(in, ws);
            pthread_mutex_lock(&in->cmu);
            ws->failed = 0;
            pthread_mutex_unlock(&in->cmu);
            LC_STAT_ADD(in->c, chain_rebuilds, 1);
        }
        rc = ec_commit_once(in, ws, psize);
        if (rc == 0)
            break;
        sess_failed(in, ws, err, sizeof(err));
        cn_log_warn("write", "inode %llu chunk %u (%016llx v%llu, ec=%u+%u): %s; retrying",
                    (unsigned long long)in->ino, ws->index, (unsigned long long)ws->chunk,
                    (unsigned long long)ws->version, ws->ec_k, ws->ec_m,
                    err[0] ? err : cn_strerror(rc));
    }
    if (rc == 0) {
        rc = write_end(in, ws, CN_ST_OK);
        if (rc)
            cn_log_error("write", "inode %llu chunk %u: WRITE_END: %s", (unsigned long long)in->ino,
                         ws->index, cn_strerror(rc));
        if (rc == -ESTALE)
            rc = -EIO;
        LC_STAT_ADD(in->c, commits, 1);
    } else {
        cn_log_error("write", "inode %llu chunk %u (%016llx v%llu): not committed: %s",
                     (unsigned long long)in->ino, ws->index, (unsigned long long)ws->chunk,
                     (unsigned long long)ws->version, err[0] ? err : cn_strerror(rc));
        write_end(in, ws, CN_ST_EIO);
        int why = rc ? rc : ws->fail_rc;
        rc = why == -ENOSPC || why == -EDQUOT ? why : -EIO;
    }
    loc_drop(in, ws->index);
    sess_free(in, ws);
    return rc;
}

/* Invariant 3: commit one session; frees it whatever happens. */
static int sess_commit(struct lc_inode *in, struct lc_wsess *ws)
{
    if (ws->ec_k)
        return ec_commit(in, ws);
    char err[200] = "";
    int rc = 0;
    for (uint32_t i = 0; i < LC_BLOCKS_PER_CHUNK; i++)
        if (ws->blk[i] && ws->blk[i]->dirty)
            send_block(in, ws, i);
    wait_inflight(in, 0);
    uint64_t start = (uint64_t)ws->index * LC_CHUNK_SIZE;
    int committed = 0;
    for (int attempt = 0; attempt < RETRIES && !committed; attempt++) {
        if (sess_failed(in, ws, err, sizeof(err))) {
            if (attempt)
                usleep(100000u * (unsigned)attempt);
            if ((rc = sess_recover(in, ws, err, sizeof(err))))
                break;
            if (sess_failed(in, ws, err, sizeof(err)))
                continue;
        }
        uint64_t psize = in->size > start ? in->size - start : 0;
        if (psize > LC_CHUNK_SIZE)
            psize = LC_CHUNK_SIZE;
        struct cn_hop hops[MAX_CHAIN];
        struct cn_commit_part cm = {ws->chunk, ws->version, ws->part,
                                    psize,     hops,        chain_hops(ws, hops)};
        struct lc_op op;
        lc_op_init(&op);
        rc = lc_cscall(in->c, ws->chain[0], CN_MSG_COMMIT_PART, &cm, NULL, &op, 0);
        if (rc) {
            pthread_mutex_lock(&in->cmu);
            ws->failed = 1;
            ws->fail_rc = rc;
            snprintf(ws->errtext, sizeof(ws->errtext), "commit: %.180s",
                     op.err[0] ? op.err : cn_strerror(rc));
            pthread_mutex_unlock(&in->cmu);
        } else {
            committed = 1;
        }
        lc_op_release(&op);
    }
    if (!committed)
        cn_log_error("write", "inode %llu chunk %u (%016llx v%llu): not committed: %s",
                     (unsigned long long)in->ino, ws->index, (unsigned long long)ws->chunk,
                     (unsigned long long)ws->version, err[0] ? err : cn_strerror(rc));
    if (committed) {
        rc = write_end(in, ws, CN_ST_OK);
        if (rc)
            cn_log_error("write", "inode %llu chunk %u: WRITE_END: %s", (unsigned long long)in->ino,
                         ws->index, cn_strerror(rc));
        if (rc == -ESTALE)
            rc = -EIO; /* the lease was lost (expired or taken over): data not committed */
        LC_STAT_ADD(in->c, commits, 1);
    } else {
        write_end(in, ws, CN_ST_EIO); /* roll back; best effort */
        /* what the application sees: out of space or quota stays that;
         * everything else (servers gone, timeouts, CRC) is EIO */
        int why = rc ? rc : ws->fail_rc;
        rc = why == -ENOSPC || why == -EDQUOT ? why : -EIO;
    }
    loc_drop(in, ws->index);
    sess_free(in, ws);
    return rc;
}

int lc_inode_flush(struct lc_inode *in)
{
    int rc = 0;
    while (in->ws) {
        int r = sess_commit(in, in->ws);
        if (r && !rc)
            rc = r;
    }
    return rc;
}

ssize_t lc_write(struct lc_fh *fh, const void *buf, size_t size, uint64_t off)
{
    struct lc_inode *in = fh->in;
    const uint8_t *p = buf;
    uint64_t pos = off, end = off + size;
    int rc = 0;
    if (end < off || end > (uint64_t)UINT32_MAX * LC_CHUNK_SIZE)
        return -EFBIG;
    pthread_mutex_lock(&in->mu);
    while (pos < end) {
        uint32_t index = (uint32_t)(pos / LC_CHUNK_SIZE);
        struct lc_wsess *ws;
        if ((rc = sess_open(in, &fh->cred, index, &ws)))
            break;
        uint32_t bno = (uint32_t)((pos % LC_CHUNK_SIZE) / LC_BLOCK_SIZE);
        uint32_t boff = (uint32_t)(pos % LC_BLOCK_SIZE);
        uint32_t n = LC_BLOCK_SIZE - boff;
        if (n > end - pos)
            n = (uint32_t)(end - pos);
        struct lc_wblk *b = ws->blk[bno];
        if (!b) {
            b = cn_xcalloc(1, sizeof(*b));
            b->data = cn_xmalloc(LC_BLOCK_SIZE); /* only [lo, hi) is ever read */
            b->lo = b->hi = boff;
            ws->blk[bno] = b;
            in->buffered += LC_BLOCK_SIZE;
        } else if (boff > b->hi || boff + n < b->lo) {
            if ((rc = block_fill(in, ws, bno)))
                break;
            if (boff > b->hi) /* past what the block stores: zeros */
                memset(b->data + b->hi, 0, boff - b->hi);
        }
        memcpy(b->data + boff, p, n);
        if (boff < b->lo)
            b->lo = boff;
        if (boff + n > b->hi)
            b->hi = boff + n;
        b->dirty = 1;
        if (b->lo == 0 && b->hi == LC_BLOCK_SIZE && !ws->ec_k)
            send_block(in, ws, bno); /* EC sessions send whole rows at commit */
        pos += n;
        p += n;
        if (pos > in->size)
            __atomic_store_n(&in->size, pos, __ATOMIC_RELAXED);
    }
    in->last_write = lc_now_ms();
    __atomic_add_fetch(&in->wgen, 1, __ATOMIC_RELEASE);
    if (!rc && in->buffered >= in->c->o.write_buffer_bytes)
        rc = lc_inode_flush(in);
    for (struct lc_wsess *ws = in->ws, *nx; !rc && ws; ws = nx) {
        nx = ws->next;
        if (in->last_write - ws->started > ws->lease_ms / 3)
            rc = sess_commit(in, ws);
    }
    pthread_mutex_unlock(&in->mu);
    if (rc)
        return pos > off ? (ssize_t)(pos - off) : rc;
    return (ssize_t)size;
}

/* ---- open / release / truncate -------------------------------------------- */

static struct lc_fh *fh_new(struct lc *c, struct lc_inode *in, const struct lc_cred *u, int flags)
{
    struct lc_fh *fh = cn_xcalloc(1, sizeof(*fh));
    fh->c = c;
    fh->in = in;
    fh->cred = *u;
    fh->flags = flags;
    pthread_mutex_init(&fh->rmu, NULL);
    pthread_cond_init(&fh->rcv, NULL);
    /* the master counted this handle (OPEN/CREATE answered) */
    pthread_mutex_lock(&c->imu);
    in->nopen++;
    fh->fnext = c->fhs;
    if (c->fhs)
        c->fhs->fpprev = &fh->fnext;
    fh->fpprev = &c->fhs;
    c->fhs = fh;
    pthread_mutex_unlock(&c->imu);
    return fh;
}

int lc_openf(struct lc *c, const struct lc_cred *u, uint64_t ino, int flags, struct lc_fh **fhp,
             struct cn_attr *out)
{
    struct lc_inode *in = lc_inode_get(c, ino, 1);
    pthread_mutex_lock(&in->mu);
    int rc = 0;
    if (flags & O_TRUNC)
        rc = lc_inode_flush(in);
    struct cn_open m = {ino, (uint32_t)flags, u->uid, u->gid};
    struct cn_attr_r r;
    struct lc_op op;
    lc_op_init(&op);
    op.cred = u;
    if (!rc)
        rc = lc_mcall(c, CN_MSG_OPEN, &m, &r, &op);
    if (!rc) {
        if (!in->ws || (flags & O_TRUNC))
            in->size = r.attr.size;
        else if (r.attr.size > in->size)
            in->size = r.attr.size;
        if (flags & O_TRUNC) {
            __atomic_add_fetch(&in->wgen, 1, __ATOMIC_RELEASE);
            loc_drop_all(in);
        }
        *out = r.attr;
        if (in->size > out->size)
            out->size = in->size;
    }
    lc_op_release(&op);
    pthread_mutex_unlock(&in->mu);
    if (rc) {
        lc_inode_put(in);
        return rc;
    }
    *fhp = fh_new(c, in, u, flags);
    return 0;
}

int lc_create(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
              uint32_t mode, int flags, struct lc_fh **fhp, struct cn_attr *out)
{
    struct cn_create m = {parent, cn_str_of(name), mode, (uint32_t)flags, u->uid, u->gid, u->umask};
    struct cn_attr_r r;
    struct lc_op op;
    lc_op_init(&op);
    op.cred = u;
    int rc = lc_mcall(c, CN_MSG_CREATE, &m, &r, &op);
    lc_op_release(&op);
    if (rc)
        return rc;
    *out = r.attr;
    struct lc_inode *in = lc_inode_get(c, r.attr.ino, 1);
    pthread_mutex_lock(&in->mu);
    if (!in->ws)
        in->size = r.attr.size;
    pthread_mutex_unlock(&in->mu);
    *fhp = fh_new(c, in, u, flags);
    return 0;
}

int lc_flush(struct lc_fh *fh)
{
    struct lc_inode *in = fh->in;
    pthread_mutex_lock(&in->mu);
    int rc = lc_inode_flush(in);
    if (!rc && in->werr)
        rc = in->werr;
    in->werr = 0;
    pthread_mutex_unlock(&in->mu);
    return rc;
}

int lc_release(struct lc_fh *fh)
{
    struct lc *c = fh->c;
    int rc = lc_flush(fh);
    lc_lk_fh_release(fh); /* open-file-owned POSIX locks (lc_lock.c) */
    /* Uncounted first, then told: a reconnect in between never claims a
     * handle whose RELEASE is already on its way (the master ignores a
     * RELEASE it holds no handle for). */
    pthread_mutex_lock(&c->imu);
    fh->in->nopen--;
    *fh->fpprev = fh->fnext;
    if (fh->fnext)
        fh->fnext->fpprev = fh->fpprev;
    pthread_mutex_unlock(&c->imu);
    struct cn_ino_req m = {fh->in->ino};
    struct lc_op op;
    lc_op_init(&op);
    int rrc = lc_mcall(c, CN_MSG_RELEASE, &m, NULL, &op);
    lc_op_release(&op);
    if (!rc)
        rc = rrc;
    ra_clear(fh);
    pthread_mutex_destroy(&fh->rmu);
    pthread_cond_destroy(&fh->rcv);
    lc_inode_put(fh->in);
    free(fh);
    return rc;
}

void lc_fh_free_all(struct lc *c)
{
    while (c->fhs) {
        struct lc_fh *fh = c->fhs;
        c->fhs = fh->fnext;
        ra_clear(fh); /* every fetch has finished: the I/O thread is gone */
        pthread_mutex_destroy(&fh->rmu);
        pthread_cond_destroy(&fh->rcv);
        free(fh);
    }
}

uint64_t lc_fh_ino(const struct lc_fh *fh)
{
    return fh->in->ino;
}

struct lc *lc_fh_client(const struct lc_fh *fh)
{
    return fh->c;
}

struct lc_inode *lc_fh_inode(const struct lc_fh *fh)
{
    return fh->in;
}

/* After a shrink to `size`, make the chunk the new end falls in forget the
 * bytes past it on every copy: zero the rest of the end block and commit
 * the part cut at the new length, so a later extension reads zeros. */
static int cut_tail(struct lc *c, const struct lc_cred *u, uint64_t ino, uint64_t size)
{
    uint32_t index = (uint32_t)(size / LC_CHUNK_SIZE);
    uint64_t cut = size % LC_CHUNK_SIZE;
    if (!cut)
        return 0; /* on a chunk boundary: the master freed every later chunk */
    struct lc_inode *in = lc_inode_get(c, ino, 1);
    pthread_mutex_lock(&in->mu);
    struct lc_loc l;
    int rc = loc_get(in, index, 1, &l);
    if (!rc && l.chunk) {
        in->size = size;
        struct lc_wsess *ws;
        rc = sess_open(in, u, index, &ws);
        if (!rc)
            ws->shrunk = 1;
        if (!rc && cut % LC_BLOCK_SIZE) {
            uint32_t bno = (uint32_t)(cut / LC_BLOCK_SIZE);
            struct lc_wblk *b = cn_xcalloc(1, sizeof(*b));
            b->data = cn_xcalloc(1, LC_BLOCK_SIZE);
            b->lo = (uint32_t)(cut % LC_BLOCK_SIZE);
            b->hi = LC_BLOCK_SIZE;
            b->dirty = 1;
            ws->blk[bno] = b;
            in->buffered += LC_BLOCK_SIZE;
        }
        if (!rc)
            rc = lc_inode_flush(in);
    }
    loc_drop_all(in);
    __atomic_add_fetch(&in->wgen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&in->mu);
    lc_inode_put(in);
    return rc;
}

int lc_setattr(struct lc *c, const struct lc_cred *u, const struct cn_setattr *m,
               struct cn_attr *out)
{
    struct cn_setattr sa = *m;
    sa.cuid = u->uid;
    sa.cgid = u->gid;
    uint64_t old = 0;
    struct lc_inode *in = NULL;
    if (sa.valid & CN_SETATTR_SIZE) {
        in = lc_inode_get(c, sa.ino, 0);
        if (in) {
            pthread_mutex_lock(&in->mu);
            int rc = lc_inode_flush(in);
            pthread_mutex_unlock(&in->mu);
            if (rc) {
                lc_inode_put(in);
                return rc;
            }
        }
        struct cn_attr a;
        int rc = lc_getattr(c, sa.ino, &a);
        if (rc) {
            if (in)
                lc_inode_put(in);
            return rc;
        }
        old = a.size;
    }
    struct lc_op op;
    struct cn_attr_r r;
    lc_op_init(&op);
    op.cred = u;
    int rc = lc_mcall(c, CN_MSG_SETATTR, &sa, &r, &op);
    lc_op_release(&op);
    if (!rc) {
        *out = r.attr;
        if ((sa.valid & CN_SETATTR_SIZE) && sa.size < old)
            rc = cut_tail(c, u, sa.ino, sa.size);
        if (in) {
            pthread_mutex_lock(&in->mu);
            __atomic_add_fetch(&in->wgen, 1, __ATOMIC_RELEASE);
            in->size = sa.size;
            loc_drop_all(in);
            pthread_mutex_unlock(&in->mu);
        }
    }
    if (in)
        lc_inode_put(in);
    if (!rc && !(sa.valid & CN_SETATTR_SIZE)) {
        uint64_t d = lc_dirty_size(c, out->ino);
        if (d > out->size)
            out->size = d;
    }
    return rc;
}

/* ---- background flusher --------------------------------------------------- */

static void *flusher_main(void *arg)
{
    struct lc *c = arg;
    pthread_mutex_lock(&c->fmu);
    while (!c->fstop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->fcv, &c->fmu, &ts);
        if (c->fstop)
            break;
        pthread_mutex_unlock(&c->fmu);
        /* Collect inodes with idle or old sessions, holding a reference. */
        struct lc_inode *todo[64];
        int n = 0;
        uint64_t now = lc_now_ms();
        pthread_mutex_lock(&c->imu);
        for (size_t h = 0; h < sizeof(c->itab) / sizeof(c->itab[0]) && n < 64; h++)
            for (struct lc_inode *in = c->itab[h]; in && n < 64; in = in->hnext) {
                if (!in->ws)
                    continue;
                uint64_t lw = __atomic_load_n(&in->last_write, __ATOMIC_RELAXED);
                if (now - lw >= c->o.flush_idle_ms) {
                    in->refs++;
                    todo[n++] = in;
                }
            }
        pthread_mutex_unlock(&c->imu);
        for (int i = 0; i < n; i++) {
            struct lc_inode *in = todo[i];
            if (pthread_mutex_trylock(&in->mu) == 0) {
                if (in->ws && lc_now_ms() - in->last_write >= c->o.flush_idle_ms) {
                    int rc = lc_inode_flush(in);
                    if (rc && !in->werr)
                        in->werr = rc; /* reported by the next fsync or close */
                }
                pthread_mutex_unlock(&in->mu);
            }
            lc_inode_put(in);
        }
        pthread_mutex_lock(&c->fmu);
    }
    pthread_mutex_unlock(&c->fmu);
    return NULL;
}

int lc_flusher_start(struct lc *c)
{
    return pthread_create(&c->fthr, NULL, flusher_main, c) ? -EAGAIN : 0;
}

void lc_flusher_stop(struct lc *c)
{
    if (!c->fthr)
        return;
    pthread_mutex_lock(&c->fmu);
    c->fstop = 1;
    pthread_cond_signal(&c->fcv);
    pthread_mutex_unlock(&c->fmu);
    pthread_join(c->fthr, NULL);
    c->fthr = 0;
}
