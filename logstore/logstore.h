/*
 * logstore.h - public API of the log-structured segment store.
 *
 * One logstore owns one disk (a block device or a preallocated regular file).
 * The disk holds a superblock (and a copy at the end), two checkpoint slots
 * and fixed-size segments. Every mutation is a record appended to the log:
 * block data, part commit, part delete (tombstone), and the relocation
 * records compaction writes. Records are appended in groups (one header page
 * per group, payloads 4 KiB aligned behind it) and a group is acknowledged
 * only after fdatasync; concurrent appenders share one group and one sync
 * (group commit). docs/format.md documents every byte on disk.
 *
 * Versions make writes atomic: blocks appended under a new version of a part
 * are invisible to readers of the committed version until ls_commit() of that
 * version; an uncommitted version is dropped on recovery.
 *
 * Threading model: a `struct ls` is safe to use from any number of threads at
 * once. Appenders block until their record is durable; readers never block on
 * disk writes (only on a short index lookup under the store's mutex);
 * compaction and scrub are meant to run from one background thread each and
 * throttle themselves. Callbacks run on the calling thread with no lock held.
 *
 * Errors: functions return 0 or a non-negative count on success, a negative
 * errno or an LS_E* code on failure; ls_strerror() names both. Where a
 * function takes `char *err, size_t errlen`, a human-readable reason (what
 * failed, on what, what to do) is written there on failure; err may be NULL.
 */
#ifndef CAIRN_LOGSTORE_H
#define CAIRN_LOGSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define LS_VERSION_MAJOR 0
#define LS_VERSION_MINOR 1

#define LS_FORMAT_VERSION      2      /* on-disk format written by this code */
#define LS_FORMAT_VERSION_MIN  1      /* oldest format it opens (upgraded on writable open) */
#define LS_PAGE                4096u  /* alignment of every on-disk structure */
#define LS_BLOCK_MAX           65536u /* largest payload of one block record */
#define LS_SEGMENT_DEFAULT     (64u << 20)
#define LS_SEGMENT_MIN         (1u << 20)
#define LS_SEGMENT_MAX         (1u << 30)
#define LS_MAX_BLOCKS_PER_PART 65536u /* block index bound: 4 GiB parts */

/* Project error codes (errno values are returned negated as they are). */
enum {
    LS_ECORRUPT = -1001,   /* checksum mismatch or malformed on-disk structure */
    LS_ENOTOURS = -1002,   /* no logstore superblock: not a Cairn disk */
    LS_EVERSION = -1003,   /* a Cairn disk of an unsupported format version */
    LS_ECLUSTER = -1004,   /* a Cairn disk of another cluster */
    LS_EBROKEN = -1005,    /* a write failed midway; store refuses writes until reopened */
    LS_EINDEXFULL = -1006, /* checkpoint area cannot hold a bigger index */
};

/* Name of an error returned by any ls_ function (static string). */
const char *ls_strerror(int err);

/* ---- devices ----------------------------------------------------------- */

/*
 * A device is the I/O vtable the store does all its I/O through, so tests can
 * inject faults (ENOSPC, EIO, short and torn writes, lost unsynced data).
 * Offsets and lengths the store passes are multiples of LS_PAGE; when
 * `direct` is set, buffers are LS_PAGE aligned too. pread/pwritev return the
 * byte count (short counts allowed) or -errno.
 */
struct ls_dev {
    ssize_t (*pread)(struct ls_dev *d, void *buf, size_t len, uint64_t off);
    ssize_t (*pwritev)(struct ls_dev *d, const struct iovec *iov, int iovcnt, uint64_t off);
    int (*sync)(struct ls_dev *d);
    void (*close)(struct ls_dev *d);
    uint64_t size; /* usable bytes */
    int direct;    /* requires aligned buffers (O_DIRECT) */
    void *priv;
};

#define LS_DEV_DIRECT 0x1 /* use O_DIRECT on regular files too */
#define LS_DEV_RDONLY 0x2

/*
 * Open a block device or regular file. Block devices always use O_DIRECT.
 * Caller owns *out and frees it with (*out)->close(*out), or hands it to
 * ls_open_dev()/ls_format_dev() which then own it.
 */
int ls_dev_open_path(const char *path, int flags, struct ls_dev **out, char *err, size_t errlen);

/*
 * A device in memory (zero-filled), for tests and the fuzzer. If `image` is
 * non-NULL its first min(image_len, size) bytes are copied in.
 */
int ls_dev_open_mem(uint64_t size, const void *image, size_t image_len, struct ls_dev **out);
/* The bytes of a memory device (size d->size), e.g. to copy a crash image. */
uint8_t *ls_dev_mem_data(struct ls_dev *d);

/* ---- format / open / close ---------------------------------------------- */

struct ls_format_opts {
    uint64_t size;          /* regular file: preallocate to this size; 0 = use current size */
    uint32_t segment_bytes; /* 0 = LS_SEGMENT_DEFAULT; power of two in [MIN, MAX] */
    uint8_t cluster_id[16]; /* all zero = no cluster yet */
    int force;              /* overwrite an existing logstore */
};

/* Format a disk. Refuses an existing logstore unless opts->force. */
int ls_format(const char *path, const struct ls_format_opts *opts, char *err, size_t errlen);
/* Same on an open device; the device stays the caller's. */
int ls_format_dev(struct ls_dev *dev, const struct ls_format_opts *opts, char *err, size_t errlen);

typedef void (*ls_log_fn)(void *arg, int level, const char *msg);
#define LS_LOG_ERR  3
#define LS_LOG_WARN 4
#define LS_LOG_INFO 6

struct ls_open_opts {
    const uint8_t *cluster_id; /* 16 bytes; NULL = accept any cluster */
    int read_only;             /* no writes at all: no recovery cut, no checkpoint */
    int direct;                /* O_DIRECT on regular files (ls_open only) */
    uint64_t checkpoint_bytes; /* checkpoint after this many bytes appended; 0 = 256 MiB */
    uint32_t reserve_segments; /* kept free for compaction/deletes; 0 = default 2 */
    ls_log_fn log;             /* optional; called with no lock held */
    void *log_arg;
};

struct ls;

/* Open (and recover) a logstore. Caller closes with ls_close(). */
int ls_open(const char *path, const struct ls_open_opts *opts, struct ls **out, char *err,
            size_t errlen);
/* Same on a device; the store takes ownership of dev, also on failure. */
int ls_open_dev(struct ls_dev *dev, const struct ls_open_opts *opts, struct ls **out, char *err,
                size_t errlen);
/* Write a final checkpoint (if writable and healthy) and free everything. */
int ls_close(struct ls *ls);

/* ---- writes: each returns once durable ---------------------------------- */

enum ls_rec_type {
    LS_REC_BLOCK = 1,
    LS_REC_COMMIT = 2,
    LS_REC_DELETE = 3,
    LS_REC_MOVE = 4, /* written by compaction only */
    LS_REC_LINK = 5, /* group that chains to the next segment; no records */
};

/* ls_write.flags */
#define LS_WRITE_COMPRESS 0x1 /* BLOCK: store zstd-compressed if that saves disk pages */

/* One write of a batch. `data` is borrowed until the call returns. */
struct ls_write {
    int type;  /* LS_REC_BLOCK, LS_REC_COMMIT or LS_REC_DELETE */
    int flags; /* LS_WRITE_*; 0 = plain */
    uint64_t chunk;
    uint16_t part;
    uint64_t version;
    uint32_t block;   /* BLOCK */
    const void *data; /* BLOCK: payload, 1..LS_BLOCK_MAX bytes */
    uint32_t len;
    uint64_t size; /* COMMIT: part length in bytes (blocks past it are dropped) */
    int result;    /* out: 0 or negative error for this write */
};

/*
 * Append a batch; returns once every accepted write is durable. Returns 0 if
 * all succeeded, else the first error (each write's own result is in
 * w[i].result). Rules checked before anything is written:
 *  - BLOCK: version > the committed version of the part (else -ESTALE);
 *    block < LS_MAX_BLOCKS_PER_PART; 1 <= len <= LS_BLOCK_MAX.
 *  - COMMIT: version > committed version (else -ESTALE). The new committed
 *    block table is the old one overlaid with the blocks written under this
 *    version, cut at `size`; older uncommitted versions are dropped.
 *  - DELETE: removes the part if its committed version <= version (else
 *    -ESTALE), with its uncommitted versions <= version.
 * -ENOSPC when the disk is full (commits and deletes may still use the
 * reserve), LS_EINDEXFULL when the checkpoint area is full, LS_EBROKEN after
 * a failed write.
 * A batch is not atomic before it is acknowledged: a crash during the call
 * may leave any prefix of it (records are applied in order, so a COMMIT
 * never survives without the blocks before it in the batch).
 * LS_WRITE_COMPRESS on a BLOCK compresses it (zstd, in the calling thread)
 * and stores the compressed form only if it needs fewer 4 KiB pages than the
 * plain payload; either way ls_read returns the plain bytes. Other flags and
 * flags on other record types are ignored.
 */
int ls_writev(struct ls *ls, struct ls_write *w, size_t n);

/* Convenience wrappers around ls_writev() for one record. */
int ls_append(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint32_t block,
              const void *data, uint32_t len);
int ls_commit(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint64_t size);
int ls_delete(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version);

/* ---- reads -------------------------------------------------------------- */

/*
 * Read one block of a part into buf (any alignment, buflen >= the block's
 * length). version 0 or the committed version reads the committed part; an
 * uncommitted version reads that version's blocks over the committed ones.
 * Returns the block length, -ENOENT (no such part), -ESTALE (no such
 * version), -ENODATA (block not stored: a hole), -ENOBUFS (buflen too small)
 * or LS_ECORRUPT (stored CRC does not match, or a compressed payload does not
 * decompress to exactly its recorded length: never returns wrong data).
 * Compressed blocks come back decompressed; buflen is compared with the
 * uncompressed length.
 */
ssize_t ls_read(struct ls *ls, uint64_t chunk, uint16_t part, uint64_t version, uint32_t block,
                void *buf, size_t buflen);

struct ls_part_info {
    uint64_t chunk;
    uint16_t part;
    int committed;         /* 0: only uncommitted versions exist */
    uint64_t version;      /* committed version */
    uint64_t size;         /* committed length in bytes */
    uint32_t nblocks;      /* stored blocks of the committed version */
    uint64_t stored_bytes; /* payload bytes of those blocks on disk (compressed size) */
    uint32_t npending;     /* uncommitted versions */
    uint64_t pending_max;  /* highest uncommitted version, 0 if none */
};

/* Info of one part; -ENOENT if absent. */
int ls_part_stat(struct ls *ls, uint64_t chunk, uint16_t part, struct ls_part_info *out);

/*
 * Call cb for every part, sorted by (chunk, part). The index is copied first,
 * so cb may call other ls_ functions. A non-zero return from cb stops the
 * walk and is returned. Returns the number of parts visited otherwise.
 */
int ls_list_parts(struct ls *ls, int (*cb)(const struct ls_part_info *, void *), void *arg);

/* ---- space and statistics ----------------------------------------------- */

struct ls_stats {
    uint8_t disk_uuid[16];
    uint8_t cluster_id[16];
    uint64_t disk_bytes; /* device size */
    uint32_t segment_bytes;
    uint32_t nsegments;
    uint32_t free_segments;
    uint64_t free_bytes; /* writable now: free segments + rest of the open one */
    uint64_t live_bytes; /* payload pages referenced by the index */
    uint64_t dead_bytes; /* written pages no longer referenced (reclaimable) */
    uint64_t nparts;
    uint64_t nblocks;
    uint64_t seq;             /* last durable group sequence number */
    uint64_t checkpoint_seq;  /* sequence number covered by the last checkpoint */
    uint64_t index_bytes;     /* current checkpoint size */
    uint64_t index_capacity;  /* checkpoint slot size */
    uint64_t appended_bytes;  /* since open */
    uint64_t syncs;           /* fdatasync calls since open */
    uint64_t compacted_bytes; /* moved by compaction since open */
    uint64_t freed_segments;  /* by compaction since open */
    uint64_t recovery_groups; /* groups replayed at open */
    uint64_t recovery_cut;    /* records cut off the tail at open */
    uint64_t corrupt_groups;  /* damaged groups skipped at open (data lost, see log) */
    int broken;               /* sticky write error state */
    /* compression (LS_WRITE_COMPRESS) */
    uint64_t compressed_blocks;      /* live blocks stored compressed */
    uint64_t compressed_saved_bytes; /* disk bytes (whole pages) they save vs plain */
    uint64_t compressed_writes;      /* blocks written compressed since open */
    uint64_t compress_skipped;       /* asked to compress, stored plain (no page saved) */
};

int ls_stats(struct ls *ls, struct ls_stats *out);

enum ls_seg_state { LS_SEG_FREE = 0, LS_SEG_OPEN = 1, LS_SEG_SEALED = 2, LS_SEG_COMPACTING = 3 };

struct ls_seg_info {
    uint32_t index;
    int state;        /* enum ls_seg_state */
    uint64_t offset;  /* byte offset on the device */
    uint64_t written; /* bytes written since the segment was opened */
    uint64_t live;    /* bytes referenced by the index */
    uint64_t dead;    /* written - live */
    uint64_t max_seq; /* newest group in it */
    uint64_t mtime;   /* unix seconds of its newest group */
};

/* Fill up to n entries; returns the number of segments (may be > n). */
int ls_segments(struct ls *ls, struct ls_seg_info *out, uint32_t n);

/* Write a checkpoint of the index now (durable on return). */
int ls_checkpoint(struct ls *ls);

/* ---- compaction --------------------------------------------------------- */

struct ls_compact_opts {
    uint32_t max_segments;    /* stop after freeing this many; 0 = no limit */
    double rate_mbps;         /* throttle of bytes copied, MB/s; 0 = unthrottled */
    double max_live_ratio;    /* only victims with live/written below this; 0 = 0.9 */
    uint32_t target_free;     /* stop once this many segments are free; 0 = no target */
    const volatile int *stop; /* optional: set non-zero to stop early */
};

struct ls_compact_result {
    uint32_t segments_freed;
    uint64_t bytes_moved;
    uint64_t records_moved;
    uint32_t corrupt_skipped; /* live blocks with a bad CRC left in place */
};

/*
 * Compact: pick victims by cost-benefit ((1-u)*age/(1+u), u = live ratio),
 * copy their live blocks to the head of the log, free them. Safe under
 * concurrent appends and reads; readers of a moving block are never failed.
 * Returns 0 (also when nothing was worth compacting) or an error.
 */
int ls_compact(struct ls *ls, const struct ls_compact_opts *opts, struct ls_compact_result *res);

/* ---- scrub and check ---------------------------------------------------- */

struct ls_bad_block {
    uint64_t chunk;
    uint16_t part;
    uint64_t version; /* version the block belongs to (committed or pending) */
    uint32_t block;
    uint64_t offset; /* byte offset on the device */
    uint32_t len;    /* bytes stored there (the compressed length if compressed) */
    int error;       /* LS_ECORRUPT or -EIO */
};

/* Position of a resumable scrub pass; zero-initialise to start. */
struct ls_scrub_cursor {
    uint64_t next_offset; /* device byte offset to resume from */
    uint64_t passes;      /* completed passes */
};

/*
 * Re-read live blocks in device order from the cursor, at most max_bytes
 * (0 = to the end of the pass), verifying CRCs; cb is called for each bad
 * block. When a pass completes the cursor wraps and passes is incremented.
 * Returns the number of bad blocks found in this call, or an error.
 */
int ls_scrub(struct ls *ls, struct ls_scrub_cursor *cur, uint64_t max_bytes, double rate_mbps,
             void (*cb)(const struct ls_bad_block *, void *), void *arg);

/* A damaged structure found by ls_check(). */
struct ls_check_issue {
    uint64_t offset;  /* device byte offset */
    uint32_t segment; /* UINT32_MAX if not in a segment */
    char what[160];   /* e.g. "group header CRC mismatch" */
};

/*
 * Verify a disk read-only: superblocks, checkpoints, every group header of
 * the log since the checkpoint and every live record's payload. Calls cb per
 * problem (bad blocks come through bad_cb). Returns the number of problems.
 */
int ls_check(struct ls *ls, void (*cb)(const struct ls_check_issue *, void *),
             void (*bad_cb)(const struct ls_bad_block *, void *), void *arg);

#endif
