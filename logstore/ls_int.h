/*
 * ls_int.h - private declarations shared by the logstore's modules.
 *
 * On-disk layout (docs/format.md is the byte-level contract):
 *   page 0                 superblock
 *   slot A, slot B         checkpoint slots (newest valid generation wins)
 *   segments               nseg fixed-size segments, from seg_base
 *   last page              superblock copy
 *
 * In memory, one mutex (ls->mu) protects the index, the segment table and
 * the group-commit queue. Device I/O is never done with it held.
 */
#ifndef CAIRN_LS_INT_H
#define CAIRN_LS_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "logstore.h"

/* ---- on-disk constants -------------------------------------------------- */

#define LS_SB_MAGIC       "CAIRNLS1"  /* 8 bytes at offset 0 */
#define LS_SB_LEN         128u        /* bytes covered by the superblock CRC (+4) */
#define LS_GROUP_MAGIC    0x5247534cu /* "LSGR" little-endian */
#define LS_CKPT_MAGIC     0x4b43534cu /* "LSCK" little-endian */
#define LS_GROUP_HDR      64u
#define LS_ENTRY_SIZE     64u
#define LS_GROUP_MAX_RECS ((LS_PAGE - LS_GROUP_HDR) / LS_ENTRY_SIZE) /* 63 */
#define LS_GROUP_MAX_DATA (4u << 20) /* payload bytes per group, at most */
#define LS_NO_SEG         0xffffffffu
#define LS_CKPT_SEG_ENTRY 32u
#define LS_CKPT_PART_HDR  40u
#define LS_CKPT_BLK_ENTRY 16u
#define LS_EF_ZSTD        0x01u /* entry flag: the payload is one zstd frame */
#define LS_ZSTD_LEVEL     1     /* fast: compression runs in the writer's thread */

/* ---- little-endian helpers over a bounded buffer ------------------------ */

static inline void ls_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void ls_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ls_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t ls_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t ls_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ls_get64(const uint8_t *p)
{
    return (uint64_t)ls_get32(p) | ((uint64_t)ls_get32(p + 4) << 32);
}

static inline uint64_t ls_pages(uint64_t bytes)
{
    return (bytes + LS_PAGE - 1) / LS_PAGE;
}

/* ---- superblock / layout ------------------------------------------------ */

struct ls_sb {
    uint32_t version;
    uint8_t disk_uuid[16];
    uint8_t cluster_id[16];
    uint64_t disk_bytes;
    uint32_t seg_bytes;
    uint32_t nseg;
    uint64_t seg_base; /* byte offset of segment 0 */
    uint64_t slot_off[2];
    uint64_t slot_bytes;
    uint64_t format_time;
    uint32_t flags;
};

void ls_sb_encode(const struct ls_sb *sb, uint8_t page[LS_PAGE]);
/* 0, LS_ENOTOURS, LS_EVERSION or LS_ECORRUPT (CRC / impossible geometry). */
int ls_sb_decode(const uint8_t page[LS_PAGE], uint64_t dev_size, struct ls_sb *sb);
/* Geometry for a device of `size` bytes; -ENOSPC if too small. */
int ls_layout(uint64_t size, uint32_t seg_bytes, struct ls_sb *sb);
uint64_t ls_disk_tag(const uint8_t uuid[16]);
/* Sleep so that `bytes` done since t0 (CLOCK_MONOTONIC) stay at rate_mbps
 * (<= 0: no limit). Background work only (compaction, scrub). */
void ls_throttle(const struct timespec *t0, uint64_t bytes, double rate_mbps);

/* ---- group header and record entries ------------------------------------ */

struct ls_ghdr {
    uint16_t nrec;
    uint64_t seq;
    uint64_t prev_seq;
    uint64_t tag;
    uint32_t seg;
    uint32_t page;     /* page offset of the group inside its segment */
    uint32_t npages;   /* header page + payload pages */
    uint32_t next_seg; /* LINK groups: the segment the log continues in */
    uint64_t time_s;
    uint32_t entries_crc;
};

struct ls_entry {
    uint8_t type;
    uint8_t flags;
    uint16_t part;
    uint32_t block;
    uint64_t chunk;
    uint64_t version;
    uint32_t len;
    uint32_t crc;
    uint32_t data_page; /* payload page relative to the group's header page */
    uint32_t raw_len;   /* LS_EF_ZSTD: uncompressed length; else 0 */
    uint64_t aux;       /* COMMIT: size; MOVE: old absolute payload page */
};

void ls_ghdr_encode(const struct ls_ghdr *g, uint8_t *page);
void ls_entry_encode(const struct ls_entry *e, uint8_t *p);
/*
 * Decode a group header page: checks magic, version (1 or 2), header CRC,
 * entry count, entries CRC, and that every entry's type, flags, lengths and
 * payload range lie inside the group and the group inside a segment of
 * seg_pages pages. Returns 0 or LS_ECORRUPT; on success fills g and
 * ents[0..nrec). Version-1 groups never carry flags.
 */
int ls_group_decode(const uint8_t *page, uint32_t seg_pages, struct ls_ghdr *g,
                    struct ls_entry ents[LS_GROUP_MAX_RECS]);

/* ---- index -------------------------------------------------------------- */

/*
 * One block of the index. The two lengths are packed into 32 bits so the
 * index stays 12 bytes per block: lengths are 1..65536 (len_m1 holds len - 1)
 * and a compressed payload is kept only when it needs fewer pages than the
 * plain one, so it is at most 15 pages (61440 bytes).
 */
struct ls_bent {
    uint32_t page;   /* absolute device page of the payload; 0 = absent */
    uint32_t crc;    /* CRC32C of the stored bytes (the zstd frame if zlen) */
    uint16_t len_m1; /* logical (uncompressed) length - 1 */
    uint16_t zlen;   /* 0: stored plain; else length of the stored zstd frame */
};
_Static_assert(sizeof(struct ls_bent) == 12, "index entry grew");

/* Logical length: what ls_read returns. */
static inline uint32_t ls_bent_len(const struct ls_bent *b)
{
    return (uint32_t)b->len_m1 + 1;
}
/* Bytes on disk (before padding to a page). */
static inline uint32_t ls_bent_stored(const struct ls_bent *b)
{
    return b->zlen ? b->zlen : ls_bent_len(b);
}
/* len 1..LS_BLOCK_MAX; zlen 0 or < LS_BLOCK_MAX (callers validate). */
static inline struct ls_bent ls_bent_make(uint32_t page, uint32_t crc, uint32_t len, uint32_t zlen)
{
    struct ls_bent b = {page, crc, (uint16_t)(len - 1), (uint16_t)zlen};
    return b;
}
/* The index entry a BLOCK or MOVE record makes for its payload at `page`. */
static inline struct ls_bent ls_entry_bent(const struct ls_entry *e, uint32_t page)
{
    if (e->flags & LS_EF_ZSTD)
        return ls_bent_make(page, e->crc, e->raw_len, e->len);
    return ls_bent_make(page, e->crc, e->len, 0);
}

struct ls_btab {
    uint32_t n;    /* entries allocated (block indexes 0..n-1) */
    uint32_t used; /* entries present */
    struct ls_bent *e;
};

struct ls_pend {
    uint64_t version;
    struct ls_btab t;
    struct ls_pend *next;
};

struct ls_part {
    uint64_t chunk;
    uint16_t part;
    bool committed;
    uint64_t version;
    uint64_t size;
    struct ls_btab t;
    struct ls_pend *pend;
    struct ls_part *hnext;
};

struct ls_index {
    struct ls_part **buckets;
    size_t nbuckets;
    size_t nparts;
    uint64_t nentries;     /* block entries, committed + pending */
    uint64_t nzentries;    /* of which stored compressed */
    uint64_t zsaved_pages; /* pages those save against storing them plain */
    uint64_t ntabs;        /* committed tables + pending tables (checkpoint records) */
};

struct ls_seg {
    int state;
    uint32_t used_pages; /* pages written since opened */
    uint32_t live_pages; /* payload pages referenced by the index */
    uint32_t pins;       /* readers in flight */
    bool free_when_unpinned;
    uint64_t max_seq;
    uint64_t mtime;
};

/* ---- the store ---------------------------------------------------------- */

struct ls_group; /* segment.c */

#define LS_ZCTX_KEEP 8 /* idle zstd contexts cached per direction */

struct ls {
    struct ls_dev *dev;
    struct ls_sb sb;
    uint64_t tag;
    uint32_t seg_pages;
    uint32_t base_page; /* sb.seg_base / LS_PAGE */
    bool read_only;
    uint64_t ckpt_every;
    uint32_t reserve;
    ls_log_fn log;
    void *log_arg;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ls_index idx;
    struct ls_seg *segs;
    uint32_t nfree;

    /* log head */
    uint32_t cur_seg;
    uint32_t cur_page;    /* next free page inside cur_seg */
    uint64_t last_seq;    /* last durable (written and synced, or replayed) group */
    uint64_t durable_seq; /* groups <= this are durable and applied */

    /* group commit */
    struct ls_group *filling;
    bool flushing;
    int broken;            /* sticky: first write error */
    uint64_t queued_pages; /* pages of filling + flushing groups */
    uint64_t queued_index; /* checkpoint bytes those groups' BLOCKs may add */
    uint8_t *zero_page;    /* LS_PAGE of zeros for payload padding */

    /* checkpoints */
    pthread_mutex_t ckpt_mu;
    uint64_t ckpt_seq;
    uint64_t ckpt_gen;
    int ckpt_slot;       /* slot of the newest checkpoint */
    uint64_t since_ckpt; /* bytes appended since */
    bool ckpt_wanted;

    pthread_mutex_t compact_mu;

    /* zstd contexts kept for reuse (compress.c) */
    pthread_mutex_t z_mu;
    void *cctx[LS_ZCTX_KEEP];
    void *dctx[LS_ZCTX_KEEP];
    int ncctx, ndctx;

    /* statistics */
    uint64_t appended_bytes, syncs, compacted_bytes, freed_segments;
    uint64_t recovery_groups, recovery_cut, corrupt_groups;
    uint64_t compressed_writes, compress_skipped;
};

/* log through the host callback (formats only if a callback is set) */
void ls_logf(struct ls *ls, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ls_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* index.c */
int ls_index_init(struct ls_index *x);
void ls_index_free(struct ls_index *x);
struct ls_part *ls_index_find(struct ls_index *x, uint64_t chunk, uint16_t part);
struct ls_part *ls_index_get(struct ls_index *x, uint64_t chunk, uint16_t part);
void ls_index_drop_if_empty(struct ls *ls, struct ls_part *p);
struct ls_pend *ls_pend_find(struct ls_part *p, uint64_t version);
/* Checks a foreground write against the index without changing it (mu held). */
int ls_index_check(struct ls *ls, const struct ls_entry *e, const void *data);
/* Apply one durable record at absolute payload page `page` (mu held). */
int ls_index_apply(struct ls *ls, const struct ls_entry *e, uint32_t page);
/* Set/clear one entry keeping segment live counts right (mu held). */
int ls_btab_set(struct ls *ls, struct ls_btab *t, uint32_t block, const struct ls_bent *v);
void ls_btab_free(struct ls *ls, struct ls_btab *t);
uint64_t ls_ckpt_estimate(const struct ls *ls);
static inline uint32_t ls_page_seg(const struct ls *ls, uint32_t page)
{
    return (page - ls->base_page) / ls->seg_pages;
}

/* segment.c */
int ls_write_init(struct ls *ls);
void ls_write_release(struct ls *ls);
/*
 * Append n records and wait until they are durable and applied. data[i] is
 * the payload of BLOCK/MOVE records (len bytes). results[i] gets each
 * record's outcome. `internal` (compaction) skips the foreground checks and
 * may use the reserved segments. Returns the first error or 0.
 */
int ls_submit(struct ls *ls, const struct ls_entry *ents, const void *const *data, int *results,
              size_t n, bool internal);
uint32_t ls_seg_take_free(struct ls *ls);
void ls_seg_free(struct ls *ls, uint32_t s);

/* A live block entry copied out of the index (compaction, scrub). */
struct ls_live {
    uint64_t chunk;
    uint64_t version;
    uint16_t part;
    uint32_t block;
    struct ls_bent b;
};
/* Entries with lo <= page < hi, sorted by page (mu held; caller frees *out). */
int ls_collect_live(struct ls *ls, uint32_t lo, uint32_t hi, struct ls_live **out, size_t *count);

/* recovery.c */
int ls_checkpoint_write(struct ls *ls);

/* compress.c */
void ls_zstd_release(struct ls *ls);
/*
 * Compress src (len bytes) into dst if the result needs fewer pages than
 * len: returns the frame length (1..cap), 0 if it would not save a page, or
 * -ENOMEM. dst holds at least (ls_pages(len) - 1) * LS_PAGE bytes.
 */
int ls_zstd_compress(struct ls *ls, void *dst, const void *src, uint32_t len);
/* Decompress a verified frame into exactly len bytes: 0, LS_ECORRUPT or -ENOMEM. */
int ls_zstd_decompress(struct ls *ls, void *dst, uint32_t len, const void *src, uint32_t zlen);

/* io helpers (dev.c) */
int ls_pread_full(struct ls_dev *d, void *buf, size_t len, uint64_t off);
int ls_pwritev_full(struct ls_dev *d, struct iovec *iov, int iovcnt, uint64_t off);
void *ls_aligned_alloc(size_t len);

#endif
