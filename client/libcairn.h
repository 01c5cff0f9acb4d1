/*
 * libcairn.h - the Cairn client library: metadata calls to the master and the
 * file data path to the chunkservers, behind blocking, thread-safe calls.
 *
 * cairn-mount (FUSE) is its main user; tests and tools may use it directly.
 *
 * Model:
 *  - One I/O thread runs a libuv loop with the connection to the master and
 *    one connection per chunkserver; callers on any thread hand it encoded
 *    requests and sleep until the reply. Nothing here blocks the loop.
 *  - The master connection heals itself: a request sent while the master is
 *    unreachable (or lost with a dropped connection) is sent again after a
 *    reconnect until `master_timeout_ms` has passed since the call began, then
 *    fails with -EIO. At lc_open() the master must answer within
 *    `connect_timeout_ms`, so a wrong address fails at once with a message.
 *  - Writes are buffered per inode into whole 64 KiB blocks and sent down
 *    the chunk's write chain as they fill (several in flight); the chunk's
 *    new version is committed (COMMIT_PART on the chain, WRITE_END at the
 *    master) at lc_flush() — fsync and close — when the buffered bytes pass
 *    `write_buffer_bytes`, or by the background flusher once a session has
 *    been idle for `flush_idle_ms` or is old enough that its lease could
 *    expire. Sent blocks stay buffered until their commit, so a chain that
 *    breaks (a chunkserver dies) is replaced and the blocks sent again.
 *  - Reads go to one holder of each part and fail over to the others on a
 *    connection error, a timeout, a CRC mismatch (checked here, end to end)
 *    or a stale version, then ask the master again. Sequential reads are
 *    detected per open handle and prefetched (read-ahead window doubling up
 *    to `readahead_bytes`).
 *
 * Every call returns 0 (or a count) or -errno.
 */
#ifndef CAIRN_LIBCAIRN_H
#define CAIRN_LIBCAIRN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "wire.h"

#define LC_CHUNK_SIZE       (64ull << 20) /* bytes of a file per chunk (master's META_CHUNK_SIZE) */
#define LC_BLOCK_SIZE       (64u << 10)   /* bytes per block (logstore's LS_BLOCK_MAX) */
#define LC_BLOCKS_PER_CHUNK ((uint32_t)(LC_CHUNK_SIZE / LC_BLOCK_SIZE))

struct lc;    /* a client: one master, its chunkservers, the I/O thread */
struct lc_fh; /* an open file */

struct lc_options {
    uint32_t connect_timeout_ms; /* lc_open: master must answer by then (default 5000) */
    uint32_t master_timeout_ms;  /* retry window of a master call (default 60000) */
    uint32_t cs_timeout_ms;      /* one chunkserver request (default 30000) */
    uint64_t write_buffer_bytes; /* buffered bytes per file before a commit (default 64 MiB) */
    uint32_t readahead_bytes;    /* largest read-ahead window (default 8 MiB) */
    uint32_t flush_idle_ms;      /* commit a write session idle this long (default 1000) */
    const char *name;            /* sent in HELLO (e.g. "cairn-mount@host") */
    uint32_t ec_slow_ms; /* an EC data part slower than this is rebuilt from the others (2000) */
};

/* Connect to the master at "host:port". 0 with *out, or -errno with a
 * human-readable reason in err ("master 10.0.0.1:9421: connection refused"). */
int lc_open(const char *master, const struct lc_options *o, struct lc **out, char *err,
            size_t errlen);
void lc_close(struct lc *c); /* flushes nothing: lc_release every handle first */

/* The calling user of a request (FUSE passes the caller's ids). The
 * master learns each uid's supplementary groups once per session (a CREDS
 * message libcairn sends before the first request that carries a group
 * list the master has not seen for that uid: docs/client.md). */
struct lc_cred {
    uint32_t uid, gid;
    uint32_t umask;   /* create, mkdir, mknod: applied by the master unless
                         the parent directory has a default ACL */
    uint32_t ngroups; /* supplementary groups (the first CN_CREDS_GROUPS) */
    uint32_t groups[CN_CREDS_GROUPS];
};

/* ---- metadata ---------------------------------------------------------- */

void lc_attr_to_stat(const struct cn_attr *a, struct stat *st);
int lc_lookup(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
              struct cn_attr *out);
/* getattr reports the size of unflushed writes of this client too. */
int lc_getattr(struct lc *c, uint64_t ino, struct cn_attr *out);
/* m.ino and m.valid set; a size change flushes and cuts the data too. */
int lc_setattr(struct lc *c, const struct lc_cred *u, const struct cn_setattr *m,
               struct cn_attr *out);
int lc_mknod(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
             uint32_t mode, uint32_t rdev, struct cn_attr *out);
int lc_mkdir(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
             uint32_t mode, struct cn_attr *out);
int lc_unlink(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name);
int lc_rmdir(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name);
int lc_rename(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, uint32_t flags);
int lc_link(struct lc *c, const struct lc_cred *u, uint64_t ino, uint64_t newparent,
            const char *newname, struct cn_attr *out);
int lc_symlink(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
               const char *target, struct cn_attr *out);
/* Target into buf (NUL-terminated, cut at size-1); returns its length. */
int lc_readlink(struct lc *c, uint64_t ino, char *buf, size_t size);
/* One batch of entries after `cookie` (0 = start; "." and ".." come first
 * with cookies 1 and 2). cb returns non-zero to stop (the entry it refused
 * is not consumed). *eof set when the directory has no more entries. */
typedef int (*lc_dirent_cb)(const struct cn_dirent *e, void *ud);
int lc_readdir(struct lc *c, const struct lc_cred *u, uint64_t ino, uint64_t cookie, uint32_t max,
               lc_dirent_cb cb, void *ud, int *eof);
int lc_statfs(struct lc *c, struct cn_statfs_r *out);
/* The same seen from directory (or file) ino: under a directory quota the
 * quota's limits and usage replace the cluster's size and free space. */
int lc_statfs_dir(struct lc *c, uint64_t ino, struct cn_statfs_r *out);
int lc_setxattr(struct lc *c, const struct lc_cred *u, uint64_t ino, const char *name,
                const void *value, size_t size, uint32_t flags);
/* size 0: returns the size needed. Otherwise copies into buf; -ERANGE if small. */
int lc_getxattr(struct lc *c, const struct lc_cred *u, uint64_t ino, const char *name, void *buf,
                size_t size);
int lc_listxattr(struct lc *c, const struct lc_cred *u, uint64_t ino, void *buf, size_t size);
int lc_removexattr(struct lc *c, const struct lc_cred *u, uint64_t ino, const char *name);

/* ---- files ------------------------------------------------------------- */

/* Open an existing file (flags O_*; O_TRUNC truncates) or create one
 * (lc_create: O_EXCL honoured). The handle is released with lc_release(),
 * which commits buffered writes first. */
int lc_openf(struct lc *c, const struct lc_cred *u, uint64_t ino, int flags, struct lc_fh **fh,
             struct cn_attr *out);
int lc_create(struct lc *c, const struct lc_cred *u, uint64_t parent, const char *name,
              uint32_t mode, int flags, struct lc_fh **fh, struct cn_attr *out);
ssize_t lc_read(struct lc_fh *fh, void *buf, size_t size, uint64_t off);
ssize_t lc_write(struct lc_fh *fh, const void *buf, size_t size, uint64_t off);
/* Commit every buffered write of the file (all handles of this client). */
int lc_flush(struct lc_fh *fh);
int lc_release(struct lc_fh *fh);
uint64_t lc_fh_ino(const struct lc_fh *fh);

/* ---- locks --------------------------------------------------------------- */

/* flock and POSIX byte-range locks, held by the master for every client
 * (docs/client.md "Locks"). A lock belongs to this client's master session
 * and `owner` (FUSE's lock_owner: the process for POSIX locks, the open file
 * for flock); locks of one owner on other clients are someone else's. */
struct lc_lock {
    uint64_t owner;
    uint64_t start, end; /* bytes, end inclusive; CN_LK_EOF = to the end of the file */
    uint32_t pid;        /* the caller's, reported to GETLK of others */
    uint8_t kind;        /* CN_LK_POSIX or CN_LK_FLOCK (range ignored) */
    uint8_t type;        /* CN_LK_UNLCK, CN_LK_RDLCK or CN_LK_WRLCK */
};
/* A blocking request another thread may interrupt. Made and freed by the
 * caller around one lc_setlk() or lc_setlk_async(); lc_lk_cancel() may be
 * called from any thread until lc_lkwait_free(). */
struct lc_lkwait;
struct lc_lkwait *lc_lkwait_new(void);
void lc_lkwait_free(struct lc_lkwait *w);
/* Take or release a lock. w NULL: -EAGAIN at once on a conflict. Otherwise
 * wait (without a time limit) until granted: 0, or -EINTR once
 * lc_lk_cancel(w) was called (also before the call). Any thread. */
int lc_setlk(struct lc_fh *fh, const struct lc_lock *l, struct lc_lkwait *w);
/* The waiting form without a waiting thread: 0 when the request was sent,
 * and then cb(ud, rc) runs exactly once on libcairn's I/O thread with what
 * lc_setlk would return (cb must not block; it may lc_lkwait_free(w)).
 * Otherwise -errno at once (-EINTR: cancelled already) and cb never runs. */
typedef void (*lc_lock_cb)(void *ud, int rc);
int lc_setlk_async(struct lc_fh *fh, const struct lc_lock *l, struct lc_lkwait *w, lc_lock_cb cb,
                   void *ud);
void lc_lk_cancel(struct lc_lkwait *w);
/* F_GETLK: l->type becomes CN_LK_UNLCK when l could be taken, else l holds
 * one conflicting lock (type, range, holder's pid). */
int lc_getlk(struct lc_fh *fh, struct lc_lock *l);
/* Drop every lock of `owner` of this kind on fh's file (close: FUSE flush
 * for POSIX, release for flock). No master call when this client never
 * locked the file. */
int lc_lk_release(struct lc_fh *fh, uint64_t owner, uint8_t kind);

/* Counters for tests and `-o debug` (monotonic since lc_open). */
struct lc_stats {
    uint64_t master_calls, master_retries, master_reconnects;
    uint64_t blocks_written, blocks_read, read_failovers, chain_rebuilds, commits;
    uint64_t degraded_reads; /* EC blocks rebuilt from other parts of their row */
};
void lc_get_stats(struct lc *c, struct lc_stats *out);

#endif
