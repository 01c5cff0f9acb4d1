/*
 * meta_int.h - private declarations shared by meta.c, namespace.c, chunks.c
 * and check.c: the handle, the key schema, record codecs and the key/value
 * helpers that read through the open turn.
 *
 * Keys are a one-byte prefix then big-endian integers (so RocksDB's byte
 * order is numeric order and one prefix is one contiguous range). Values
 * start with a record version byte; integers in values are little-endian.
 * docs/format.md ("Master metadata") is the byte-level contract.
 */
#ifndef CAIRN_META_INT_H
#define CAIRN_META_INT_H

#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "meta.h"

/* ---- key prefixes --------------------------------------------------------- */

#define META_K_SUPER     'S' /* "S": superblock and counters */
#define META_K_INODE     'I' /* 'I' ino64 */
#define META_K_DENTRY    'D' /* 'D' parent64 name */
#define META_K_XATTR     'X' /* 'X' ino64 name */
#define META_K_FCHUNK    'F' /* 'F' ino64 index32 */
#define META_K_CHUNK     'C' /* 'C' chunk64 */
#define META_K_ORPHAN    'O' /* 'O' ino64 */
#define META_K_TRASH     'T' /* 'T' ino64: a deleted inode in the trash (trash.c) */
#define META_K_TRASHQ    'U' /* 'U' expires64 ino64: the trash by expiry time */
#define META_K_TRASHTIME 'Y' /* 'Y' ino64: an explicit trashtime */
#define META_K_QUOTA     'Q' /* 'Q' ino64: a directory quota and its usage (quota.c) */
#define META_K_CHUNKREF  'P' /* 'P' chunk64 ino64 index32: a snapshot's share (snapshot.c) */
#define META_K_CLASS     'K' /* reserved: storage classes */
#define META_K_CHANGES   'L' /* "L": changelog head; 'L' seq64: entries (changelog.c) */
#define META_K_MARK      'M' /* 'M' server NUL [disk uuid16]: removal marks (marks.c) */

#define META_KEY_MAX (1 + 8 + META_NAME_MAX)

#define META_SB_MAGIC    "CAIRNMD" /* 7 bytes after the record version */
#define META_SB_LEN      72u
#define META_INODE_LEN   88u /* fixed part; symlinks append their target */
#define META_DENTRY_LEN  10u
#define META_FCHUNK_LEN  9u
#define META_CHUNK_LEN   80u
#define META_REC_V1      1u
#define META_CLHEAD_LEN  33u /* "L": version, last seq, epoch, previous epoch, epoch start (u64) */
#define META_CLENTRY_HDR 9u  /* 'L' seq: version, wall ms u64, then the batch */

/* ---- the handle ------------------------------------------------------------ */

struct meta_sb {
    uint8_t fsid[16];
    uint64_t next_ino, next_chunk;
    uint64_t inodes, used_bytes, chunks;
};

struct meta {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_writeoptions_t *wopts_nosync; /* meta_txn_commit_sync(m, 0) */
    rocksdb_writebatch_wi_t *batch;       /* the open turn; reused between turns */
    bool txn;                             /* a turn is open */
    bool broken;                          /* a commit failed: refuse writes (STYLE 12) */
    struct meta_sb sb;                    /* counters as of the last operation */
    struct meta_sb sb_txn;                /* counters at meta_txn_begin (for abort) */
    struct meta_sb sb_op;                 /* counters at the operation's start */
    size_t freed_op_n;                    /* freed->n at the operation's start */
    struct meta_freed *freed_op;
    void (*log_fn)(void *ctx, const char *msg);
    void *log_ctx;
    int (*open_fn)(void *ctx, uint64_t ino);
    void *open_ctx;
    uint64_t cl_seq;           /* changelog: last committed entry (0: none) */
    uint64_t cl_first;         /* oldest entry kept */
    uint64_t cl_first_pending; /* cl_first once the batch being written lands */
    uint64_t cl_trim_below;    /* entries below may be deleted */
    uint64_t cl_epoch, cl_prev_epoch, cl_epoch_start; /* the history (changelog.c) */
    uint32_t trash_default_s;                         /* trashtime without a 'Y' (trash.c) */
    bool has_quotas;      /* a 'Q' key exists (or existed since open): quota.c walks */
    struct meta_cow *cow; /* chunks unshared by this turn (snapshot.c) */
    size_t ncow, capcow, ncow_op;
    char last_error[256];
};

/* ---- byte helpers ---------------------------------------------------------- */

static inline void meta_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline void meta_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline uint64_t meta_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
static inline uint32_t meta_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void meta_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void meta_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void meta_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t meta_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t meta_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t meta_get64(const uint8_t *p)
{
    return (uint64_t)meta_get32(p) | ((uint64_t)meta_get32(p + 4) << 32);
}

/* ---- keys ------------------------------------------------------------------- */

struct meta_key {
    uint8_t b[META_KEY_MAX];
    size_t len;
};

static inline void meta_key_ino(struct meta_key *k, char prefix, uint64_t ino)
{
    k->b[0] = (uint8_t)prefix;
    meta_put_be64(k->b + 1, ino);
    k->len = 9;
}
/* prefix + id + name (dentry, xattr); name length already validated */
static inline void meta_key_name(struct meta_key *k, char prefix, uint64_t id, const char *name,
                                 size_t nlen)
{
    meta_key_ino(k, prefix, id);
    memcpy(k->b + 9, name, nlen);
    k->len = 9 + nlen;
}
static inline void meta_key_fchunk(struct meta_key *k, uint64_t ino, uint32_t index)
{
    meta_key_ino(k, META_K_FCHUNK, ino);
    meta_put_be32(k->b + 9, index);
    k->len = 13;
}

/* ---- records ------------------------------------------------------------------ */

struct meta_inode {
    struct meta_attr a;
    uint32_t class_id;
    uint16_t target_len;           /* symlinks */
    char target[META_SYMLINK_MAX]; /* symlinks; not NUL-terminated */
};

struct meta_dentry {
    uint64_t ino;
    uint8_t type; /* S_IFMT >> 12 of the child */
};

/* Encoders write into buf (big enough: META_INODE_LEN + target) and return the length. */
size_t meta_inode_encode(const struct meta_inode *in, uint8_t *buf);
int meta_inode_decode(struct meta *m, const uint8_t *v, size_t len, uint64_t ino,
                      struct meta_inode *out);
int meta_sb_decode(const uint8_t *v, size_t len, struct meta_sb *out);
size_t meta_sb_encode(const struct meta_sb *sb, uint8_t *buf);
size_t meta_chunk_encode(const struct meta_chunk *c, uint8_t *buf);
int meta_chunk_decode(struct meta *m, const uint8_t *v, size_t len, uint64_t id,
                      struct meta_chunk *out);
int meta_dentry_decode(struct meta *m, const uint8_t *v, size_t len, struct meta_dentry *out);

/* ---- corruption and errors ---------------------------------------------------- */

/* Records where a malformed record was found and returns META_ECORRUPT. */
int meta_corrupt_at(struct meta *m, const char *file, int line, const char *what);
#define META_CORRUPT(m, what) meta_corrupt_at((m), __FILE__, __LINE__, (what))

/* Takes ownership of a RocksDB error string, records it, returns META_EDB. */
int meta_db_error(struct meta *m, char *rerr, const char *what);

/* ---- key/value access through the open turn ------------------------------------ */

/* Value of key (from the turn, else the database) into a malloc'ed buffer the
 * caller frees with rocksdb_free(); 0, -ENOENT or META_EDB. */
int meta_kv_get(struct meta *m, const struct meta_key *k, char **val, size_t *vlen);
void meta_kv_put(struct meta *m, const struct meta_key *k, const void *val, size_t vlen);
void meta_kv_del(struct meta *m, const struct meta_key *k);

/* An iterator over the turn and the database, positioned at the first key
 * >= seek. Caller destroys with rocksdb_iter_destroy(). NULL on no memory. */
rocksdb_iterator_t *meta_iter_open(struct meta *m, const void *seek, size_t seeklen);

/* Operation brackets: begin checks the turn and sets a save point; end rolls
 * the batch, the counters and `freed` back when rc < 0, and returns rc. */
int meta_op_begin(struct meta *m, struct meta_freed *freed);
int meta_op_end(struct meta *m, int rc);

/* Records in `freed` (may be NULL: then ignored). -ENOMEM. */
int meta_freed_add(struct meta_freed *f, uint64_t id);

/* Reads and decodes an inode: 0, -ENOENT, META_ECORRUPT, META_EDB. */
int meta_inode_load(struct meta *m, uint64_t ino, struct meta_inode *out);
void meta_inode_store(struct meta *m, const struct meta_inode *in);

/* Deletes the chunks of ino with index >= first; ids go to freed. */
int meta_chunks_drop_from(struct meta *m, uint64_t ino, uint32_t first, struct meta_freed *freed);
/* Cuts the committed length of chunk (ino, index) to at most len. */
int meta_chunk_cut(struct meta *m, uint64_t ino, uint32_t index, uint64_t len);

void meta_now(struct timespec *ts);

/* namespace.c for trash.c: a dentry; the end of an inode with no name left
 * (an orphan if it is open, else freed with its chunks). */
int meta_ns_dentry_get(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                       struct meta_dentry *out);
void meta_ns_dentry_put(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                        uint64_t ino, uint32_t mode);
int meta_ns_inode_release(struct meta *m, struct meta_inode *in, struct meta_freed *freed);
/* quota.c: usage changes of `dir` and the directories above it (bytes of
 * regular files, inodes); check before growing (-EDQUOT); a file or tree
 * moving from one directory to another. */
int meta_quota_charge(struct meta *m, uint64_t dir, int64_t bytes, int64_t inodes);
int meta_quota_move(struct meta *m, uint64_t ino, uint64_t from, uint64_t to, uint64_t size,
                    int is_dir);

/* snapshot.c: is (ino, index) a reference (not the owner) of chunk; one
 * file position lets go of chunk c (the chunk is freed to `freed` when it
 * was the last; the first reference becomes the owner); unshare inside an
 * open operation (*c becomes the private copy; 1 if it was shared). */
int meta_chunk_is_ref(struct meta *m, uint64_t chunk, uint64_t ino, uint32_t index);
int meta_chunk_ref_drop(struct meta *m, const struct meta_chunk *c, uint64_t ino, uint32_t index,
                        struct meta_freed *freed);
int meta_chunk_unshare_in(struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk *c);

/* trash.c: an inode whose last name went away, into the trash for secs. */
int meta_trash_put(struct meta *m, struct meta_inode *in, uint64_t parent, const char *name,
                   size_t nlen, const struct timespec *now, uint32_t secs);

/* changelog.c: head and oldest entry at open; the entry of the batch being
 * committed (added to it); bookkeeping once that write succeeded. */
int meta_cl_load(struct meta *m);
/* quota.c: whether any quota exists, at open. */
int meta_quota_load(struct meta *m);
int meta_cl_append(struct meta *m);
void meta_cl_committed(struct meta *m);

#endif
