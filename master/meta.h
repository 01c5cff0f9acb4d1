/*
 * meta.h - the master's metadata layer: POSIX namespace and chunk table in
 * one RocksDB database.
 *
 * Everything the master must not forget lives here: inodes, directory
 * entries, extended attributes, each file's chunk map and the chunk table
 * (versions, committed lengths, write leases). Chunk *locations* are soft
 * state reported by chunkservers and are not stored (DESIGN.md, Master).
 * docs/format.md ("Master metadata") documents every key and value byte by
 * byte; docs/master.md explains the model.
 *
 * Two decisions a caller must know:
 *
 * 1. Mutations happen inside a turn: meta_txn_begin(), any number of
 *    operations, meta_txn_commit(). Operations inside a turn see the turn's
 *    earlier, uncommitted operations; the commit writes the whole turn as
 *    one RocksDB WriteBatch with sync=true. The daemon answers no request of
 *    the turn before the commit returns 0 (group commit). A failed
 *    operation changes nothing (it is rolled back to a save point); a failed
 *    commit applies nothing and leaves the store refusing writes
 *    (META_EBROKEN) until it is reopened. Reads work inside and outside a
 *    turn.
 *
 * 2. No full copy of the metadata is kept in memory: every call reads
 *    RocksDB (through its block cache, sized by meta_options.cache_bytes).
 *    Only the superblock counters are cached.
 *
 * Threading: a `struct meta` belongs to one thread (the master's loop
 * thread). No function may be called concurrently on one handle.
 *
 * Ownership: pointers passed in are borrowed for the duration of the call
 * unless stated; out-structures are filled by the callee and owned by the
 * caller. No function keeps a pointer it was given, except the callbacks
 * installed with meta_set_*().
 *
 * Errors: 0 (or a non-negative count) on success, -errno for POSIX errors
 * (the namespace calls return what the corresponding system call would),
 * or a META_E* code; meta_strerror() names both. No permission checks are
 * made here: the daemon checks credentials against the attributes first.
 */
#ifndef CAIRN_META_H
#define CAIRN_META_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define META_VERSION_MAJOR 0
#define META_VERSION_MINOR 1

#define META_FORMAT_VERSION 1u          /* superblock format_version written by this code */
#define META_ROOT_INO       1u          /* inode number of the root directory */
#define META_CHUNK_SIZE     (64u << 20) /* bytes of file data per chunk (DESIGN.md) */
#define META_NAME_MAX       255u        /* bytes of one directory entry name */
#define META_SYMLINK_MAX    4095u       /* bytes of a symlink target */
#define META_XATTR_NAME_MAX 255u        /* bytes of an xattr name */
#define META_XATTR_SIZE_MAX 65536u      /* bytes of an xattr value */
#define META_XATTR_LIST_MAX 65536u      /* bytes of a file's listxattr result */

/* Project error codes (errno values are returned negated as they are). */
enum {
    META_ECORRUPT = -1101, /* a stored record is malformed (see meta_corrupt_where) */
    META_ENOTOURS = -1102, /* the database has no Cairn metadata superblock */
    META_EVERSION = -1103, /* Cairn metadata of an unsupported format version */
    META_EBROKEN = -1104,  /* a commit failed; store refuses writes until reopened */
    META_ENOTXN = -1105,   /* a mutation outside meta_txn_begin()/commit() */
    META_EDB = -1106,      /* RocksDB reported an error (text in meta_last_error) */
};

/* Name of an error returned by any meta_ function (static string). */
const char *meta_strerror(int err);

struct meta; /* opaque handle: one open metadata database */

/* ---- open / close ------------------------------------------------------ */

struct meta_options {
    size_t cache_bytes; /* RocksDB block cache (also holds index and filter blocks); 0 = 64 MiB */
    size_t write_buffer_bytes; /* one memtable; at most two exist; 0 = 32 MiB */
    int create;                /* format an empty/missing database (never reformats) */
    int no_sync;               /* tests only: commit without fsync (loses durability) */
};

/*
 * Opens (and with opt->create, formats) the database in directory `dir`.
 * On failure *out is NULL and a reason for people is written to err.
 * Returns 0, META_ENOTOURS (a RocksDB without our superblock, or a
 * directory with no database and create unset), META_EVERSION,
 * META_ECORRUPT or META_EDB. Caller closes with meta_close().
 */
int meta_open(const char *dir, const struct meta_options *opt, struct meta **out, char *err,
              size_t errlen);

/* Aborts an open turn (nothing of it is applied) and frees m. NULL is a no-op. */
void meta_close(struct meta *m);

/* Static-lifetime text of the last RocksDB error or corruption location. */
const char *meta_last_error(const struct meta *m);

/*
 * Installs a log callback (the library never logs by itself); called for
 * corruption reports and RocksDB errors. fn may be NULL. ctx is borrowed
 * until meta_close or the next call.
 */
void meta_set_log(struct meta *m, void (*fn)(void *ctx, const char *msg), void *ctx);

/*
 * Installs the "is this inode open?" predicate. When the last link of an
 * inode goes away and fn says it is open, the inode is kept as an orphan
 * (nlink 0, listed under the 'O' prefix) instead of being freed; the caller
 * frees it with meta_orphan_release() at last close. Without a predicate,
 * inodes are freed at their last unlink.
 */
void meta_set_open_check(struct meta *m, int (*fn)(void *ctx, uint64_t ino), void *ctx);

/* ---- turns (group commit) ---------------------------------------------- */

/* Starts a turn. -EBUSY if one is open, META_EBROKEN after a failed commit. */
int meta_txn_begin(struct meta *m);

/*
 * Writes the turn with one synced WriteBatch. Returns 0 (everything
 * durable) or META_EDB/META_EBROKEN (nothing applied, store broken). The
 * turn is closed either way.
 */
int meta_txn_commit(struct meta *m);
/* The same with sync = 0: the batch reaches RocksDB's WAL (in the page
 * cache: it survives a crash of the process, not of the machine) without an
 * fsync; meta_sync() later makes every such commit durable. */
int meta_txn_commit_sync(struct meta *m, int sync);
/* fsync the WAL: every commit so far is durable. 0 or META_EDB. */
int meta_sync(struct meta *m);

/* Drops the turn: nothing of it is applied, counters return to their state. */
void meta_txn_abort(struct meta *m);

/* 1 if a turn is open. */
int meta_txn_active(const struct meta *m);

/* ---- freed chunk lists -------------------------------------------------- */

/*
 * Chunks whose file data went away (truncate, last unlink, rename over a
 * file). The caller tells chunkservers to delete their parts, but only
 * after the turn committed. Initialise with {0}; free with meta_freed_release.
 */
struct meta_freed {
    uint64_t *ids;
    size_t n, cap;
};
void meta_freed_release(struct meta_freed *f);

/* ---- attributes ---------------------------------------------------------- */

struct meta_attr {
    uint64_t ino;
    uint32_t mode; /* S_IF* type bits | permission bits */
    uint32_t uid, gid;
    uint32_t nlink;
    uint64_t rdev;   /* devices only */
    uint64_t size;   /* bytes (symlinks: target length; directories: 0) */
    uint64_t parent; /* directories: parent directory (root: itself); else 0 */
    struct timespec atime, mtime, ctime;
};

/* meta_setattr() field mask */
#define META_SET_MODE      0x01u /* permission bits (07777) only; type bits kept */
#define META_SET_UID       0x02u
#define META_SET_GID       0x04u
#define META_SET_SIZE      0x08u /* regular files; drops chunks past the end */
#define META_SET_ATIME     0x10u
#define META_SET_MTIME     0x20u
#define META_SET_ATIME_NOW 0x40u
#define META_SET_MTIME_NOW 0x80u
#define META_SET_CTIME     0x100u /* explicit ctime (restores, metalogger replay) */

struct meta_setattr {
    uint32_t valid; /* META_SET_* */
    uint32_t mode, uid, gid;
    uint64_t size;
    struct timespec atime, mtime, ctime;
};

/* ---- namespace (master/namespace.c) -------------------------------------
 * Names are NUL-terminated, 1..255 bytes, no '/', not "." or "..". Every
 * mutation needs an open turn (else META_ENOTXN). `out` may be NULL. */

/* Attributes of `name` in directory `parent`: -ENOENT, -ENOTDIR. */
int meta_lookup(struct meta *m, uint64_t parent, const char *name, struct meta_attr *out);

/* Attributes of inode `ino`: -ENOENT. */
int meta_getattr(struct meta *m, uint64_t ino, struct meta_attr *out);

/*
 * Changes the attributes sa->valid names; ctime becomes now (or sa->ctime).
 * A size change on a regular file updates mtime and appends the chunks
 * past the new end to `freed` (may be NULL only if the size grows); the
 * chunk straddling the new end keeps its id and its committed length is
 * cut (the caller zeroes that part's tail). -EISDIR (size of a directory),
 * -EINVAL (size of another type), -EFBIG (size above 2^63 - 1).
 */
int meta_setattr(struct meta *m, uint64_t ino, const struct meta_setattr *sa, struct meta_attr *out,
                 struct meta_freed *freed);

/*
 * Creates a regular file, fifo, socket or device (type from mode: S_IFREG,
 * S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK; other types -EINVAL). -EEXIST,
 * -ENOENT (no parent), -ENOTDIR, -ENAMETOOLONG, -EINVAL (bad name).
 */
int meta_mknod(struct meta *m, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
               uint32_t uid, uint32_t gid, struct meta_attr *out);

/* Creates a directory (mode's permission bits); parent nlink + 1. */
int meta_mkdir(struct meta *m, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
               uint32_t gid, struct meta_attr *out);

/* Creates a symlink to `target` (1..4095 bytes, else -ENAMETOOLONG/-ENOENT). */
int meta_symlink(struct meta *m, uint64_t parent, const char *name, const char *target,
                 uint32_t uid, uint32_t gid, struct meta_attr *out);

/*
 * Copies the target of symlink `ino` into buf (not NUL-terminated) and
 * returns its length; -EINVAL if not a symlink, -ERANGE if len is short.
 */
int meta_readlink(struct meta *m, uint64_t ino, char *buf, size_t len);

/* New hard link to non-directory `ino`: -EPERM for directories, -EMLINK. */
int meta_link(struct meta *m, uint64_t ino, uint64_t newparent, const char *newname,
              struct meta_attr *out);

/* Removes a non-directory entry (-EISDIR for directories). Frees the inode at nlink 0. */
int meta_unlink(struct meta *m, uint64_t parent, const char *name, struct meta_freed *freed);

/* Removes an empty directory: -ENOTEMPTY, -ENOTDIR, -EBUSY for the root. */
int meta_rmdir(struct meta *m, uint64_t parent, const char *name);

#define META_RENAME_NOREPLACE 1u /* as RENAME_NOREPLACE: -EEXIST if the target exists */

/*
 * POSIX rename, over an existing target if allowed: a directory replaces
 * only an empty directory (-ENOTEMPTY, -ENOTDIR), a non-directory only a
 * non-directory (-EISDIR); moving a directory under itself is -EINVAL.
 * Renaming onto another link of the same inode does nothing. A replaced
 * target loses a link (freed at nlink 0; its chunks go to `freed`).
 * RENAME_EXCHANGE is not supported (-EINVAL).
 */
int meta_rename(struct meta *m, uint64_t oldparent, const char *oldname, uint64_t newparent,
                const char *newname, uint32_t flags, struct meta_freed *freed);

/*
 * Calls fn for the entries of directory `dir` in byte order of their names,
 * starting strictly after `after` (NULL or "" = from the first). fn returns
 * 0 to go on, non-zero to stop (that entry counts as not delivered). The
 * resume cookie is the last delivered name: it stays valid whatever is
 * inserted or deleted meanwhile (even the cookie's own entry). "." and ".."
 * are not stored; the caller synthesises them (meta_attr.parent).
 * Returns 0 at the end of the directory, 1 if fn stopped, or an error.
 * `name` passed to fn is borrowed for the call and NUL-terminated. fn may
 * read (getattr for readdirplus) but must not mutate the database.
 */
typedef int (*meta_dirent_fn)(void *ctx, const char *name, size_t namelen, uint64_t ino,
                              uint32_t mode_type);
int meta_readdir(struct meta *m, uint64_t dir, const char *after, meta_dirent_fn fn, void *ctx);

struct meta_statfs {
    uint64_t inodes;     /* inodes in use (incl. root and orphans) */
    uint64_t used_bytes; /* sum of regular file sizes */
    uint64_t chunks;     /* chunks in the chunk table */
    uint64_t next_ino, next_chunk;
    uint8_t fsid[16];
};
int meta_statfs(struct meta *m, struct meta_statfs *out);

/* xattrs. flags: 0, XATTR_CREATE (-EEXIST) or XATTR_REPLACE (-ENODATA).
 * Name 1..255 bytes (else -ERANGE), value <= 64 KiB (else -E2BIG). */
int meta_xattr_set(struct meta *m, uint64_t ino, const char *name, const void *value, size_t len,
                   int flags);
/* Copies the value into buf and returns its length; size 0 only returns the
 * length; -ERANGE if size is short, -ENODATA if absent. */
int meta_xattr_get(struct meta *m, uint64_t ino, const char *name, void *buf, size_t size);
/* Names as "a\0b\0", like listxattr; size 0 returns the length needed. */
int meta_xattr_list(struct meta *m, uint64_t ino, char *buf, size_t size);
int meta_xattr_remove(struct meta *m, uint64_t ino, const char *name);

/* Frees an orphan (unlinked while open) at its last close: its chunks go to freed. */
int meta_orphan_release(struct meta *m, uint64_t ino, struct meta_freed *freed);
/* Frees every orphan the open predicate (meta_set_open_check) does not
 * say is open: after a restart, once clients had time to claim theirs.
 * Returns how many were freed. */
int meta_orphans_purge(struct meta *m, struct meta_freed *freed);

/* ---- trash (master/trash.c) -------------------------------------------------
 * A file, symlink or directory whose last name goes away stays in the trash
 * for its trashtime (0: freed at once, as without a trash). */

/* Trashtime of entries without an explicit one above them (seconds). */
void meta_set_trash_default(struct meta *m, uint32_t seconds);
/* Effective trashtime of ino (its own, else the nearest directory's from
 * `parent` up, else the default); *explicit_ says whether ino has its own. */
int meta_trashtime_get(struct meta *m, uint64_t ino, uint64_t parent, uint32_t *secs,
                       int *explicit_);
/* Sets (secs >= 0) or clears (secs < 0) ino's own trashtime. Needs a turn. */
int meta_trashtime_set(struct meta *m, uint64_t ino, int64_t secs);

struct meta_trash_item {
    uint64_t ino;
    uint8_t kind;                  /* 1 file (or other non-directory), 2 directory, 3 symlink */
    uint64_t deleted_s, expires_s; /* wall seconds */
    uint64_t parent;               /* the directory it was in */
    uint64_t size;                 /* bytes (files) */
    char name[META_NAME_MAX + 1];
};
typedef int (*meta_trash_fn)(void *ctx, const struct meta_trash_item *it);
/* Every item in inode order; fn's non-zero return stops the walk. */
int meta_trash_list(struct meta *m, meta_trash_fn fn, void *ctx);
int meta_trash_get(struct meta *m, uint64_t ino, struct meta_trash_item *out);
/* Where the item was: trashed directories above it are followed by their
 * own records; "?/..." when the directory above is gone. */
int meta_trash_path(struct meta *m, const struct meta_trash_item *it, char *buf, size_t len);
/* Puts the item back under its name, in its directory (restored first when
 * it is in the trash too) or in directory `to` (0: where it was).
 * -EEXIST (the name is taken), -ENOENT (its directory is gone: give `to`). */
int meta_trash_restore(struct meta *m, uint64_t ino, uint64_t to);
/* Frees the item now (an orphan instead while it is open). */
int meta_trash_purge(struct meta *m, uint64_t ino, struct meta_freed *freed);
/* Frees up to max items expired at now_s; returns how many. */
int meta_trash_expire(struct meta *m, uint64_t now_s, size_t max, struct meta_freed *freed);

struct meta_chunk; /* below: the chunk table */

/* ---- snapshots (master/snapshot.c) -----------------------------------------------
 * Copies of a file or tree that share its chunks until one side writes. */
struct meta_snapshot_stats {
    uint64_t inodes, files, dirs, bytes, chunks_shared;
};
/* Copies src (a file or a whole tree) to name in directory dst_parent:
 * new inodes, entries and xattrs; the chunks are shared. -EEXIST, -EINVAL
 * (a tree into itself), -EBUSY (a file in it is being written: retry). */
int meta_snapshot(struct meta *m, uint64_t src, uint64_t dst_parent, const char *name,
                  struct meta_snapshot_stats *st);
/* 1 if chunk is shared by a snapshot, 0 if not, or an error. */
int meta_chunk_shared(struct meta *m, uint64_t chunk);
/* Gives file position (ino, index) a private copy of its shared chunk
 * (metadata only; *out is the chunk it now has). A no-op when not shared. */
int meta_chunk_unshare(struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk *out);
/* Chunk copies the last turns asked for: the parts of `from` at `version`
 * are to be duplicated under `to` by the chunkservers holding them. */
struct meta_cow {
    uint64_t from, to, version;
};
size_t meta_cow_take(struct meta *m, struct meta_cow *out, size_t max);

/* ---- quotas (master/quota.c) --------------------------------------------------
 * On directories: logical bytes of regular files and inodes below them,
 * each with an optional hard limit and a soft one with a grace period
 * (0 = no limit). Usage is kept in the same turns as the changes. */
struct meta_quota {
    uint64_t ino; /* the directory */
    uint64_t hard_bytes, soft_bytes, hard_inodes, soft_inodes;
    uint32_t grace_s;
    uint64_t bytes_over_since, inodes_over_since; /* wall s over the soft limit; 0 = not */
    uint64_t used_bytes, used_inodes;
};
/* Sets the limits of dir's quota (a new one counts the tree below). Turn. */
int meta_quota_set(struct meta *m, uint64_t dir, const struct meta_quota *limits);
int meta_quota_get(struct meta *m, uint64_t dir, struct meta_quota *out);
int meta_quota_remove(struct meta *m, uint64_t dir);
/* The quota of dir or of the nearest directory above it with one: -ENOENT. */
int meta_quota_nearest(struct meta *m, uint64_t dir, struct meta_quota *out);
int meta_quota_list(struct meta *m, int (*fn)(void *ctx, const struct meta_quota *q), void *ctx);
/* -EDQUOT if adding bytes/inodes below dir would pass a hard limit, or a
 * soft one whose grace period ran out. */
int meta_quota_check(struct meta *m, uint64_t dir, uint64_t bytes, uint64_t inodes);
/* Bytes and inodes below dir (a full walk of its tree). */
int meta_quota_subtree(struct meta *m, uint64_t dir, uint64_t *bytes, uint64_t *inodes);

/* ---- chunk table (master/chunks.c) ---------------------------------------- */

#define META_LEASE_NONE  0u
#define META_LEASE_WRITE 1u

struct meta_chunk {
    uint64_t id;
    uint64_t ino;               /* owning file */
    uint32_t index;             /* chunk index within the file */
    uint32_t class_id;          /* storage class (0 = the default class): the file's */
    uint8_t layout[3];          /* layout the parts are in: kind, k, m (common/cls.h
                                   struct cn_layout); kind 0 = not recorded yet */
    uint64_t version;           /* current: the lease's version while leased */
    uint64_t committed_version; /* readable version; 0 = never committed */
    uint64_t issued_version;    /* highest version ever issued (never reused) */
    uint64_t length;            /* committed bytes in the chunk */
    uint32_t lease;             /* META_LEASE_* */
    uint64_t lease_holder;      /* session id of the writer */
    int64_t lease_expiry_ms;    /* wall clock, ms since the epoch */
};

/* Chunk id at (ino, index): -ENOENT for a hole. */
int meta_file_chunk_get(struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk *out);

/*
 * Begins (or renews) a write lease on chunk `index` of regular file `ino`,
 * creating the chunk if it is a hole. A new lease issues a new version
 * (issued_version + 1); a renewal by the same holder keeps it and moves the
 * expiry. -EBUSY if another holder's lease has not expired at now_ms,
 * -EINVAL (not a regular file / index past 2^63 bytes).
 */
int meta_chunk_lease_begin(struct meta *m, uint64_t ino, uint32_t index, uint64_t holder,
                           int64_t now_ms, int64_t expiry_ms, struct meta_chunk *out);

/*
 * Commits the lease's version: committed_version = version, length =
 * `length` (<= META_CHUNK_SIZE), lease cleared; the file grows to cover the
 * chunk's data and its mtime/ctime become now. -ESTALE if the chunk has no
 * lease of `holder` at `version` (expired and rolled back, superseded, or
 * the chunk was freed by a truncate or the file's last unlink).
 */
int meta_chunk_lease_commit(struct meta *m, uint64_t chunk_id, uint64_t holder, uint64_t version,
                            uint64_t length, struct meta_chunk *out);

/* Drops a lease: the version goes back to the committed one. -ENOENT. */
int meta_chunk_lease_rollback(struct meta *m, uint64_t chunk_id);

/* Rolls back every lease expired at now_ms (a full scan). Returns how many. */
int meta_chunk_leases_expire(struct meta *m, int64_t now_ms);

int meta_chunk_get(struct meta *m, uint64_t chunk_id, struct meta_chunk *out);

/* Calls fn for each chunk of file `ino` in index order (for `cairn info`). */
/* fn may read but must not mutate the database; c is borrowed for the call. */
typedef int (*meta_chunk_fn)(void *ctx, const struct meta_chunk *c);
int meta_file_chunks(struct meta *m, uint64_t ino, meta_chunk_fn fn, void *ctx);

/*
 * Calls fn for every chunk with id >= from_id in id order (the health
 * loop walks the table in slices; resume with the last id + 1). Returns 0
 * at the end, 1 if fn stopped, or an error.
 */
int meta_chunk_iter(struct meta *m, uint64_t from_id, meta_chunk_fn fn, void *ctx);

/* ---- consistency check (master/check.c) ------------------------------------ */

struct meta_check_stats {
    uint64_t inodes, dentries, xattrs, file_chunks, chunks, orphans;
};

/*
 * Offline fsck: every dentry points to an inode of its type, nlink counts
 * match the links, directories have one parent, no unreachable inode that
 * is not an orphan, chunk map and table agree, counters match. Uses memory
 * proportional to the inode count (an offline tool, not for the loop).
 * Returns 0 or META_ECORRUPT with the first problem in err.
 */
int meta_check(struct meta *m, struct meta_check_stats *st, char *err, size_t errlen);

/*
 * Online fsck (`cairn fsck`): like meta_check, but every problem is a
 * finding passed to ops->found, and with `repair` (inside an open turn) it
 * is fixed: dangling entries and chunk references removed, chunks named by
 * no file deleted (ids to freed), chunks no chunkserver holds dropped (the
 * range reads as zeros), versions set to the newest held, nlink and the
 * superblock counters recomputed, inodes named by no entry made orphans
 * (the caller frees them with meta_orphans_purge). ops->parts gives the
 * versions chunkservers reported for a chunk (soft state); NULL skips the
 * chunk-presence checks. Memory: about 32 bytes per inode for the scan.
 */
struct meta_fsck_finding {
    const char *kind; /* dangling_entry, dangling_chunk_ref, orphan_chunk, missing_chunk,
                         wrong_version, bad_nlink, unreachable_inode, counters, corrupt_* */
    uint64_t ino, chunk;
    uint32_t index;
    int repaired;
    char detail[256];
};
struct meta_fsck_ops {
    int (*parts)(void *ctx, uint64_t chunk, uint64_t *versions, int max);
    void (*found)(void *ctx, const struct meta_fsck_finding *f);
    void *ctx;
};
struct meta_fsck_stats {
    uint64_t inodes, dentries, chunks, findings, repaired, unreachable_freed;
};
int meta_fsck(struct meta *m, int repair, const struct meta_fsck_ops *ops, struct meta_freed *freed,
              struct meta_fsck_stats *st);

/* ---- storage classes (master/class.c) -----------------------------------------
 * Class records ('K' id32; common/cls.h has the record and the SPEC). Id 0
 * is the default class, never stored. Mutations need a turn. */
struct cn_cls;
int meta_class_get(struct meta *m, uint32_t id, struct cn_cls *out);       /* -ENOENT */
int meta_class_find(struct meta *m, const char *name, struct cn_cls *out); /* -ENOENT */
/* Every class in id order; fn's non-zero return stops the walk (returns 1). */
int meta_class_list(struct meta *m, int (*fn)(void *ctx, const struct cn_cls *c), void *ctx);
/* Stores c: a new class when c->id is 0 (the id is set), else replaces
 * class c->id. -EEXIST (another class has the name), -EINVAL, -ENOSPC,
 * -ENOENT (no class c->id). */
int meta_class_put(struct meta *m, struct cn_cls *c);
/* Removes class id: -EBUSY when an inode is in it (*user names one). */
int meta_class_del(struct meta *m, uint32_t id, uint64_t *user);
/* Adds the built-in classes that are missing (new file systems, and those
 * from before classes). Returns how many were added. Needs a turn. */
int meta_class_builtins(struct meta *m);
struct meta_class_set_stats {
    uint64_t inodes, chunks;
};
/* Puts inode ino (and with recursive, the tree below a directory) in class
 * id (0: the default), with the chunks of the files. -ENOENT (no such class
 * or inode). One turn: for trees of up to millions of entries. */
int meta_class_set(struct meta *m, uint64_t ino, uint32_t id, int recursive,
                   struct meta_class_set_stats *st);
int meta_class_of(struct meta *m, uint64_t ino, uint32_t *id);
/* Reserves n chunk ids (the first in *first) for chunks written before
 * their records exist (conversions); durable with the turn. */
int meta_chunk_ids_reserve(struct meta *m, uint32_t n, uint64_t *first);
/* Switches a file position from chunk_id (committed at `version`, no
 * lease, not shared) to the reserved new_id holding the same bytes in
 * layout `layout` (version 1); chunk_id goes to freed. -ESTALE (written or
 * moved meanwhile), -EBUSY (shared with a snapshot), -EINVAL, -EEXIST. */
int meta_chunk_convert(struct meta *m, uint64_t chunk_id, uint64_t version, uint64_t new_id,
                       const uint8_t layout[3], struct meta_freed *freed);
/* Records the layout chunk_id's parts are in now (kind, k, m). */
int meta_chunk_layout_set(struct meta *m, uint64_t chunk_id, const uint8_t layout[3]);

/* ---- removal marks and reverse paths (master/marks.c) ------------------- */

/* Set (on) or clear the removal mark of a server's disk (uuid) or of the
 * whole server (uuid NULL). Needs an open turn. -EINVAL: bad server name. */
int meta_mark_put(struct meta *m, const char *server, const uint8_t *uuid, int on);
typedef int (*meta_mark_fn)(void *ctx, const char *server, const uint8_t *uuid);
/* Every mark; fn's non-zero return stops the walk (returns 1). */
int meta_marks_iter(struct meta *m, meta_mark_fn fn, void *ctx);
/* "/dir/file" of inode ino (one of its names for hard links), found by
 * scanning the dentries: O(entries), for reports only. -ENOENT (no name:
 * an orphan), -ENAMETOOLONG. */
int meta_ino_path(struct meta *m, uint64_t ino, char *buf, size_t len);

/* ---- changelog (master/changelog.c) ------------------------------------------
 * Every committed turn is one changelog entry numbered 1, 2, 3...: the
 * turn's RocksDB batch, stored under 'L' seq in the same write. Metaloggers
 * replay entries in order into their own copy (docs/master.md). */

/* Sequence number of the last committed entry (0: none yet). */
uint64_t meta_changelog_seq(const struct meta *m);
/* Oldest entry still stored (seq + 1 when none is). */
uint64_t meta_changelog_first(const struct meta *m);
/* Entries with seq < below may be deleted; later commits delete them a few
 * hundred at a time. The newest entry is always kept. */
void meta_changelog_trim(struct meta *m, uint64_t below);
/*
 * Entry seq: its wall time (ms since the epoch) and its batch bytes in a
 * buffer the caller frees with free() (rep may be NULL: time only).
 * 0, -ENOENT (trimmed or never written), META_ECORRUPT, META_EDB.
 */
int meta_changelog_get(struct meta *m, uint64_t seq, uint64_t *time_ms, char **rep, size_t *len);
/* Checks that `rep` is a RocksDB batch of Put/Delete records of Cairn keys
 * only (the metalogger's guard before applying bytes from the wire).
 * 0 (*count = records, count may be NULL) or -EINVAL. */
int meta_cl_rep_check(const void *rep, size_t len, uint32_t *count);
/*
 * Metalogger side: applies entry `seq` (which must be the next one: -ESPIPE
 * otherwise) received from the master, with the entry itself and the head,
 * in one write (fsynced if sync). Trims like the master (meta_changelog_trim).
 * 0, -EINVAL (rep fails meta_cl_rep_check), -EBUSY (a turn is open), META_EDB.
 */
int meta_changelog_apply(struct meta *m, uint64_t seq, uint64_t time_ms, const void *rep,
                         size_t len, int sync);
/* A consistent copy of the committed database in the new directory `dir`
 * (hard links where possible), as of changelog entry *seq. 0 or META_EDB. */
int meta_checkpoint(struct meta *m, const char *dir, uint64_t *seq, char *err, size_t errlen);
/* The changelog's history: entries after `start` belong to `epoch`; those up
 * to it were written under `prev` (docs/master.md, "Changelog and
 * metaloggers"). */
struct meta_epoch {
    uint64_t epoch, prev, start;
};
void meta_changelog_epoch(const struct meta *m, struct meta_epoch *e);
/* Metalogger: its copy continues the master's history `e` (written with the
 * next applied entry). */
void meta_changelog_adopt(struct meta *m, const struct meta_epoch *e);
/* 1 if a copy at (epoch, seq) can continue with this database's entries
 * (same history, nothing the history lacks, next entry still stored). */
int meta_changelog_may_follow(const struct meta *m, uint64_t epoch, uint64_t seq);
/* Starts a new epoch at the current entry and writes the head at once
 * (synced): after a promotion or anything else that may fork the history.
 * 0, -EBUSY (a turn is open) or META_EDB. */
int meta_changelog_fork(struct meta *m);
/* Deletes a checkpoint (or a half-received copy of one): the files of the
 * flat directory `dir`, then dir. 0 (also when it does not exist) or -errno. */
int meta_checkpoint_remove(const char *dir);

#endif
