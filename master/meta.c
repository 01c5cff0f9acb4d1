/*
 * meta.c - open/close of the metadata database, the superblock, record
 * codecs, and the commit path (turns).
 *
 * One RocksDB holds everything (docs/format.md, "Master metadata"). A turn
 * collects the mutations of one loop turn in a WriteBatchWithIndex, so the
 * turn's own reads see them (get_from_batch_and_db, iterator with base),
 * and commits them with one synced write.
 *
 * Invariants of the commit path (tests cite them as "commit invariant N"):
 *  1. Nothing reaches the database before meta_txn_commit(): every
 *     mutation goes to m->batch, which only the commit writes.
 *  2. The superblock counters (next inode, next chunk, usage) are written
 *     in the same batch as the records that consume or change them, so
 *     after a crash no id is reused and no count drifts.
 *  3. The commit is one RocksDB Write with sync=true (WAL fsynced): after a
 *     crash a turn is present entirely or not at all, and a turn for which
 *     commit returned 0 survives.
 *  4. An operation that fails is rolled back to the save point taken at its
 *     start (batch, counters and freed list): a turn holds whole
 *     operations only.
 *  5. A failed commit applies nothing, restores the counters to the last
 *     committed state and marks the store broken: writes are refused until
 *     it is reopened (STYLE 12), because RocksDB may or may not have the
 *     WAL record on disk.
 *  6. The caller answers a turn's requests only after commit returned 0.
 *  7. A written turn carries its changelog entry (changelog.c) in the same
 *     batch: the entry exists if and only if the mutation is applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta_int.h"

const char *meta_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case META_ECORRUPT:
        return "metadata record is corrupt";
    case META_ENOTOURS:
        return "not a Cairn metadata database";
    case META_EVERSION:
        return "unsupported metadata format version";
    case META_EBROKEN:
        return "metadata store broken by a failed commit; reopen it";
    case META_ENOTXN:
        return "metadata mutation outside a turn";
    case META_EDB:
        return "RocksDB error";
    default:
        return err < 0 ? strerror(-err) : "unknown";
    }
}

const char *meta_last_error(const struct meta *m)
{
    return m->last_error;
}

void meta_set_log(struct meta *m, void (*fn)(void *ctx, const char *msg), void *ctx)
{
    m->log_fn = fn;
    m->log_ctx = ctx;
}

void meta_set_open_check(struct meta *m, int (*fn)(void *ctx, uint64_t ino), void *ctx)
{
    m->open_fn = fn;
    m->open_ctx = ctx;
}

int meta_corrupt_at(struct meta *m, const char *file, int line, const char *what)
{
    if (m) {
        snprintf(m->last_error, sizeof(m->last_error), "meta: corrupt %s (found at %s:%d)", what,
                 file, line);
        if (m->log_fn)
            m->log_fn(m->log_ctx, m->last_error);
    }
    return META_ECORRUPT;
}

int meta_db_error(struct meta *m, char *rerr, const char *what)
{
    snprintf(m->last_error, sizeof(m->last_error), "meta: %s: %s", what, rerr ? rerr : "?");
    rocksdb_free(rerr);
    if (m->log_fn)
        m->log_fn(m->log_ctx, m->last_error);
    return META_EDB;
}

void meta_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

/* ---- freed lists ----------------------------------------------------------- */

void meta_freed_release(struct meta_freed *f)
{
    if (!f)
        return;
    free(f->ids);
    f->ids = NULL;
    f->n = f->cap = 0;
}

int meta_freed_add(struct meta_freed *f, uint64_t id)
{
    if (!f)
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        uint64_t *ids = realloc(f->ids, cap * sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        f->ids = ids;
        f->cap = cap;
    }
    f->ids[f->n++] = id;
    return 0;
}

/* ---- codecs ------------------------------------------------------------------ */

size_t meta_sb_encode(const struct meta_sb *sb, uint8_t *b)
{
    memset(b, 0, META_SB_LEN);
    b[0] = META_REC_V1;
    memcpy(b + 1, META_SB_MAGIC, 7);
    meta_put32(b + 8, META_FORMAT_VERSION);
    meta_put32(b + 12, META_SB_LEN);
    memcpy(b + 16, sb->fsid, 16);
    meta_put64(b + 32, sb->next_ino);
    meta_put64(b + 40, sb->next_chunk);
    meta_put64(b + 48, sb->inodes);
    meta_put64(b + 56, sb->used_bytes);
    meta_put64(b + 64, sb->chunks);
    return META_SB_LEN;
}

/* 0, META_ENOTOURS, META_EVERSION or META_ECORRUPT. */
int meta_sb_decode(const uint8_t *v, size_t len, struct meta_sb *out)
{
    if (len < 16 || memcmp(v + 1, META_SB_MAGIC, 7) != 0)
        return META_ENOTOURS;
    if (v[0] != META_REC_V1 || meta_get32(v + 8) != META_FORMAT_VERSION)
        return META_EVERSION;
    if (len != META_SB_LEN || meta_get32(v + 12) != META_SB_LEN)
        return META_ECORRUPT;
    memset(out, 0, sizeof(*out));
    memcpy(out->fsid, v + 16, 16);
    out->next_ino = meta_get64(v + 32);
    out->next_chunk = meta_get64(v + 40);
    out->inodes = meta_get64(v + 48);
    out->used_bytes = meta_get64(v + 56);
    out->chunks = meta_get64(v + 64);
    if (out->next_ino <= META_ROOT_INO || out->next_chunk == 0 || out->inodes == 0)
        return META_ECORRUPT;
    return 0;
}

static void put_time(uint8_t *s, uint8_t *ns, const struct timespec *t)
{
    meta_put64(s, (uint64_t)(int64_t)t->tv_sec);
    meta_put32(ns, (uint32_t)t->tv_nsec);
}

size_t meta_inode_encode(const struct meta_inode *in, uint8_t *b)
{
    const struct meta_attr *a = &in->a;
    memset(b, 0, META_INODE_LEN);
    b[0] = META_REC_V1;
    meta_put16(b + 2, in->target_len);
    meta_put32(b + 4, a->mode);
    meta_put32(b + 8, a->uid);
    meta_put32(b + 12, a->gid);
    meta_put32(b + 16, a->nlink);
    meta_put32(b + 20, in->class_id);
    meta_put64(b + 24, a->rdev);
    meta_put64(b + 32, a->size);
    put_time(b + 40, b + 64, &a->atime);
    put_time(b + 48, b + 68, &a->mtime);
    put_time(b + 56, b + 72, &a->ctime);
    meta_put64(b + 80, a->parent);
    memcpy(b + META_INODE_LEN, in->target, in->target_len);
    return META_INODE_LEN + in->target_len;
}

static int get_time(const uint8_t *s, const uint8_t *ns, struct timespec *t)
{
    uint32_t n = meta_get32(ns);
    if (n >= 1000000000u)
        return -1;
    t->tv_sec = (time_t)(int64_t)meta_get64(s);
    t->tv_nsec = (long)n;
    return 0;
}

int meta_inode_decode(struct meta *m, const uint8_t *v, size_t len, uint64_t ino,
                      struct meta_inode *out)
{
    struct meta_attr *a = &out->a;
    if (len < META_INODE_LEN || v[0] != META_REC_V1)
        return META_CORRUPT(m, "inode record: short or unknown record version");
    out->target_len = meta_get16(v + 2);
    if (out->target_len > META_SYMLINK_MAX || len != META_INODE_LEN + out->target_len)
        return META_CORRUPT(m, "inode record: length does not match its symlink target");
    memset(a, 0, sizeof(*a));
    a->ino = ino;
    a->mode = meta_get32(v + 4);
    a->uid = meta_get32(v + 8);
    a->gid = meta_get32(v + 12);
    a->nlink = meta_get32(v + 16);
    out->class_id = meta_get32(v + 20);
    a->rdev = meta_get64(v + 24);
    a->size = meta_get64(v + 32);
    if (get_time(v + 40, v + 64, &a->atime) || get_time(v + 48, v + 68, &a->mtime) ||
        get_time(v + 56, v + 72, &a->ctime))
        return META_CORRUPT(m, "inode record: nanoseconds out of range");
    a->parent = meta_get64(v + 80);
    switch (a->mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK:
        break;
    default:
        return META_CORRUPT(m, "inode record: unknown file type");
    }
    if ((a->mode & S_IFMT) == S_IFLNK ? out->target_len == 0 : out->target_len != 0)
        return META_CORRUPT(m, "inode record: symlink target on a non-symlink or missing");
    /* directories always have a parent; other inodes may name the directory
     * that accounts for them in quotas (0 in databases from before quotas) */
    if ((a->mode & S_IFMT) == S_IFDIR && a->parent == 0)
        return META_CORRUPT(m, "inode record: a directory without a parent");
    if (a->size > INT64_MAX)
        return META_CORRUPT(m, "inode record: size above 2^63");
    memcpy(out->target, v + META_INODE_LEN, out->target_len);
    return 0;
}

int meta_dentry_decode(struct meta *m, const uint8_t *v, size_t len, struct meta_dentry *out)
{
    if (len != META_DENTRY_LEN || v[0] != META_REC_V1)
        return META_CORRUPT(m, "dentry record: bad length or record version");
    out->type = v[1];
    out->ino = meta_get64(v + 2);
    if (out->ino == 0 || out->type == 0 || out->type > (S_IFMT >> 12))
        return META_CORRUPT(m, "dentry record: zero inode or bad type");
    return 0;
}

size_t meta_chunk_encode(const struct meta_chunk *c, uint8_t *b)
{
    memset(b, 0, META_CHUNK_LEN);
    b[0] = META_REC_V1;
    b[1] = (uint8_t)c->lease;
    meta_put32(b + 4, c->class_id);
    meta_put64(b + 8, c->ino);
    meta_put32(b + 16, c->index);
    meta_put64(b + 24, c->version);
    meta_put64(b + 32, c->committed_version);
    meta_put64(b + 40, c->issued_version);
    meta_put64(b + 48, c->length);
    meta_put64(b + 56, c->lease_holder);
    meta_put64(b + 64, (uint64_t)c->lease_expiry_ms);
    memcpy(b + 72, c->layout, 3);
    return META_CHUNK_LEN;
}

int meta_chunk_decode(struct meta *m, const uint8_t *v, size_t len, uint64_t id,
                      struct meta_chunk *c)
{
    if (len != META_CHUNK_LEN || v[0] != META_REC_V1)
        return META_CORRUPT(m, "chunk record: bad length or record version");
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->lease = v[1];
    c->class_id = meta_get32(v + 4);
    c->ino = meta_get64(v + 8);
    c->index = meta_get32(v + 16);
    c->version = meta_get64(v + 24);
    c->committed_version = meta_get64(v + 32);
    c->issued_version = meta_get64(v + 40);
    c->length = meta_get64(v + 48);
    c->lease_holder = meta_get64(v + 56);
    c->lease_expiry_ms = (int64_t)meta_get64(v + 64);
    memcpy(c->layout, v + 72, 3);
    if (c->layout[0] > 2 || c->lease > META_LEASE_WRITE || c->length > META_CHUNK_SIZE ||
        c->committed_version > c->issued_version || c->version > c->issued_version || c->ino == 0)
        return META_CORRUPT(m, "chunk record: field out of range");
    return 0;
}

/* ---- key/value access ------------------------------------------------------------ */

int meta_kv_get(struct meta *m, const struct meta_key *k, char **val, size_t *vlen)
{
    char *rerr = NULL, *v;
    if (m->txn)
        v = rocksdb_writebatch_wi_get_from_batch_and_db(m->batch, m->db, m->ropts,
                                                        (const char *)k->b, k->len, vlen, &rerr);
    else
        v = rocksdb_get(m->db, m->ropts, (const char *)k->b, k->len, vlen, &rerr);
    if (rerr)
        return meta_db_error(m, rerr, "get");
    if (!v)
        return -ENOENT;
    *val = v;
    return 0;
}

void meta_kv_put(struct meta *m, const struct meta_key *k, const void *val, size_t vlen)
{
    rocksdb_writebatch_wi_put(m->batch, (const char *)k->b, k->len, val, vlen);
}

void meta_kv_del(struct meta *m, const struct meta_key *k)
{
    rocksdb_writebatch_wi_delete(m->batch, (const char *)k->b, k->len);
}

rocksdb_iterator_t *meta_iter_open(struct meta *m, const void *seek, size_t seeklen)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    if (it && m->txn) /* takes over the base iterator */
        it = rocksdb_writebatch_wi_create_iterator_with_base(m->batch, it);
    if (it)
        rocksdb_iter_seek(it, seek, seeklen);
    return it;
}

int meta_inode_load(struct meta *m, uint64_t ino, struct meta_inode *out)
{
    struct meta_key k;
    char *v = NULL;
    size_t vlen;
    int rc;
    if (ino == 0)
        return -ENOENT;
    meta_key_ino(&k, META_K_INODE, ino);
    rc = meta_kv_get(m, &k, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = meta_inode_decode(m, (const uint8_t *)v, vlen, ino, out);
    rocksdb_free(v);
    return rc;
}

void meta_inode_store(struct meta *m, const struct meta_inode *in)
{
    uint8_t buf[META_INODE_LEN + META_SYMLINK_MAX];
    struct meta_key k;
    size_t n = meta_inode_encode(in, buf);
    meta_key_ino(&k, META_K_INODE, in->a.ino);
    meta_kv_put(m, &k, buf, n);
}

/* ---- operations and turns ---------------------------------------------------------- */

int meta_op_begin(struct meta *m, struct meta_freed *freed)
{
    if (m->broken)
        return META_EBROKEN;
    if (!m->txn)
        return META_ENOTXN;
    rocksdb_writebatch_wi_set_save_point(m->batch);
    m->sb_op = m->sb;
    m->freed_op = freed;
    m->freed_op_n = freed ? freed->n : 0;
    m->ncow_op = m->ncow;
    return 0;
}

int meta_op_end(struct meta *m, int rc)
{
    if (rc < 0) { /* commit invariant 4 */
        char *rerr = NULL;
        rocksdb_writebatch_wi_rollback_to_save_point(m->batch, &rerr);
        if (rerr) {
            m->broken = true;
            meta_db_error(m, rerr, "rollback to save point");
        }
        m->sb = m->sb_op;
        if (m->freed_op)
            m->freed_op->n = m->freed_op_n;
        m->ncow = m->ncow_op;
    } else if (memcmp(&m->sb, &m->sb_op, sizeof(m->sb)) != 0) {
        uint8_t buf[META_SB_LEN];
        struct meta_key k = {.b = {META_K_SUPER}, .len = 1};
        meta_kv_put(m, &k, buf, meta_sb_encode(&m->sb, buf)); /* commit invariant 2 */
    }
    m->freed_op = NULL;
    return rc;
}

int meta_txn_begin(struct meta *m)
{
    if (m->broken)
        return META_EBROKEN;
    if (m->txn)
        return -EBUSY;
    rocksdb_writebatch_wi_clear(m->batch);
    m->sb_txn = m->sb;
    m->txn = true;
    return 0;
}

int meta_txn_commit(struct meta *m)
{
    return meta_txn_commit_sync(m, 1);
}

int meta_sync(struct meta *m)
{
    char *rerr = NULL;
    rocksdb_flush_wal(m->db, 1, &rerr);
    if (rerr) {
        m->broken = true;
        return meta_db_error(m, rerr, "WAL sync");
    }
    return 0;
}

int meta_txn_commit_sync(struct meta *m, int sync)
{
    char *rerr = NULL;
    if (!m->txn)
        return META_ENOTXN;
    m->txn = false;
    if (m->broken) {
        rocksdb_writebatch_wi_clear(m->batch);
        m->sb = m->sb_txn;
        return META_EBROKEN;
    }
    int wrote = 0;
    if (rocksdb_writebatch_wi_count(m->batch) > 0) { /* commit invariants 1, 3 */
        if (meta_cl_append(m) < 0) { /* the entry goes into the same write (invariant 7) */
            rocksdb_writebatch_wi_clear(m->batch);
            m->broken = true;
            m->sb = m->sb_txn;
            return META_EBROKEN;
        }
        rocksdb_write_writebatch_wi(m->db, sync ? m->wopts : m->wopts_nosync, m->batch, &rerr);
        wrote = 1;
    }
    rocksdb_writebatch_wi_clear(m->batch);
    if (rerr) { /* commit invariant 5 */
        m->broken = true;
        m->sb = m->sb_txn;
        m->ncow = 0;
        return meta_db_error(m, rerr, "commit");
    }
    if (wrote)
        meta_cl_committed(m);
    return 0;
}

void meta_txn_abort(struct meta *m)
{
    if (!m->txn)
        return;
    rocksdb_writebatch_wi_clear(m->batch);
    m->sb = m->sb_txn;
    m->ncow = 0; /* pairs are taken after every commit: these were the turn's */
    m->txn = false;
}

int meta_txn_active(const struct meta *m)
{
    return m->txn;
}

/* ---- open / close ------------------------------------------------------------------ */

static void fill_fsid(uint8_t fsid[16])
{
    struct timespec ts;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, fsid, 16) : -1;
    if (fd >= 0)
        close(fd);
    if (n != 16) { /* no urandom: time and pid are unique enough for an id */
        meta_now(&ts);
        meta_put64(fsid, (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32));
        meta_put64(fsid + 8, (uint64_t)ts.tv_nsec);
    }
}

/* Writes the superblock and the root directory in one synced batch. */
static int meta_format(struct meta *m)
{
    struct meta_inode root;
    int rc;
    memset(&m->sb, 0, sizeof(m->sb));
    fill_fsid(m->sb.fsid);
    m->sb.next_ino = META_ROOT_INO + 1;
    m->sb.next_chunk = 1;
    m->sb.inodes = 1;
    memset(&root, 0, sizeof(root));
    root.a.ino = META_ROOT_INO;
    root.a.mode = S_IFDIR | 0755;
    root.a.nlink = 2;
    root.a.parent = META_ROOT_INO;
    meta_now(&root.a.atime);
    root.a.mtime = root.a.ctime = root.a.atime;
    rc = meta_txn_begin(m);
    if (rc < 0)
        return rc;
    meta_inode_store(m, &root);
    rc = meta_class_builtins(m);
    if (rc < 0) {
        meta_txn_abort(m);
        return rc;
    }
    {
        uint8_t buf[META_SB_LEN];
        struct meta_key k = {.b = {META_K_SUPER}, .len = 1};
        meta_kv_put(m, &k, buf, meta_sb_encode(&m->sb, buf));
    }
    return meta_txn_commit(m);
}

/* 1 if the database holds no key at all. */
static int meta_db_empty(struct meta *m)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    int empty;
    rocksdb_iter_seek_to_first(it);
    empty = !rocksdb_iter_valid(it);
    rocksdb_iter_destroy(it);
    return empty;
}

int meta_open(const char *dir, const struct meta_options *opt, struct meta **out, char *err,
              size_t errlen)
{
    struct meta_options defaults = {0};
    struct meta *m;
    char *rerr = NULL, *v = NULL;
    size_t vlen = 0;
    struct meta_key k = {.b = {META_K_SUPER}, .len = 1};
    int rc;

    *out = NULL;
    if (!opt)
        opt = &defaults;
    if (err && errlen)
        err[0] = '\0';
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->opts = rocksdb_options_create();
    m->cache = rocksdb_cache_create_lru(opt->cache_bytes ? opt->cache_bytes : (64u << 20));
    m->topts = rocksdb_block_based_options_create();
    m->ropts = rocksdb_readoptions_create();
    m->wopts = rocksdb_writeoptions_create();
    m->wopts_nosync = rocksdb_writeoptions_create();
    m->batch = rocksdb_writebatch_wi_create(0, 1); /* overwrite_keys: latest put wins */
    if (!m->opts || !m->cache || !m->topts || !m->ropts || !m->wopts || !m->wopts_nosync ||
        !m->batch) {
        rc = -ENOMEM;
        goto fail;
    }
    rocksdb_block_based_options_set_block_cache(m->topts, m->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(m->topts, 1);
    /* lookups are point reads of keys that often do not exist (create checks):
     * a bloom filter spares a block read per table. The table options own it. */
    rocksdb_block_based_options_set_filter_policy(m->topts,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    /* Partitioned index and filters: a large table's filter is many small
     * blocks, not one that outgrows a shard of the block cache and is read
     * again for every lookup (bench/RESULTS.md, 10 M files); the small top
     * level stays pinned. */
    rocksdb_block_based_options_set_index_type(
        m->topts, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(m->topts, 1);
    rocksdb_block_based_options_set_metadata_block_size(m->topts, 4096);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(m->topts, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(m->topts, 1);
    rocksdb_options_set_block_based_table_factory(m->opts, m->topts);
    /* Memory is bounded by configuration, not by the namespace: the cache
     * holds data, index and filter blocks; at most two memtables exist. */
    rocksdb_options_set_write_buffer_size(m->opts, opt->write_buffer_bytes ? opt->write_buffer_bytes
                                                                           : (32u << 20));
    rocksdb_options_set_max_write_buffer_number(m->opts, 2);
    rocksdb_options_set_create_if_missing(m->opts, opt->create ? 1 : 0);
    rocksdb_options_set_paranoid_checks(m->opts, 1);
    rocksdb_writeoptions_set_sync(m->wopts, opt->no_sync ? 0 : 1);

    if (!opt->create && access(dir, F_OK) != 0) { /* rocksdb_open would create the directory */
        rc = META_ENOTOURS;
        if (err)
            snprintf(err, errlen,
                     "metadata %s: no such directory (create it with the format option)", dir);
        goto fail;
    }
    m->db = rocksdb_open(m->opts, dir, &rerr);
    if (rerr) {
        rc = opt->create ? META_EDB : META_ENOTOURS;
        if (err)
            snprintf(err, errlen, "metadata %s: cannot open: %s%s", dir, rerr,
                     opt->create ? "" : " (create it with the format option)");
        rocksdb_free(rerr);
        goto fail;
    }
    rc = meta_quota_load(m);
    if (rc == 0)
        rc = meta_cl_load(m); /* before a format: its commit is the history's entry 1 */
    if (rc < 0) {
        if (err)
            snprintf(err, errlen, "metadata %s: changelog: %s (%s)", dir, meta_strerror(rc),
                     m->last_error);
        goto fail;
    }
    v = rocksdb_get(m->db, m->ropts, (const char *)k.b, k.len, &vlen, &rerr);
    if (rerr) {
        rc = meta_db_error(m, rerr, "read superblock");
        if (err)
            snprintf(err, errlen, "metadata %s: %s", dir, m->last_error);
        goto fail;
    }
    if (!v) {
        if (!opt->create || !meta_db_empty(m)) {
            rc = META_ENOTOURS;
            if (err)
                snprintf(err, errlen, "metadata %s: no Cairn superblock; %s", dir,
                         meta_db_empty(m) ? "empty database (create it with the format option)"
                                          : "this RocksDB belongs to something else; refusing it");
            goto fail;
        }
        rc = meta_format(m);
        if (rc < 0) {
            if (err)
                snprintf(err, errlen, "metadata %s: format failed: %s", dir, m->last_error);
            goto fail;
        }
    } else {
        rc = meta_sb_decode((const uint8_t *)v, vlen, &m->sb);
        rocksdb_free(v);
        if (rc < 0) {
            if (err)
                snprintf(err, errlen, "metadata %s: superblock: %s", dir, meta_strerror(rc));
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    meta_close(m);
    return rc;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    if (m->db)
        rocksdb_close(m->db);
    if (m->batch)
        rocksdb_writebatch_wi_destroy(m->batch);
    if (m->wopts)
        rocksdb_writeoptions_destroy(m->wopts);
    if (m->wopts_nosync)
        rocksdb_writeoptions_destroy(m->wopts_nosync);
    if (m->ropts)
        rocksdb_readoptions_destroy(m->ropts);
    if (m->opts)
        rocksdb_options_destroy(m->opts);
    if (m->topts)
        rocksdb_block_based_options_destroy(m->topts);
    if (m->cache)
        rocksdb_cache_destroy(m->cache);
    free(m->cow);
    free(m);
}

int meta_statfs(struct meta *m, struct meta_statfs *out)
{
    memset(out, 0, sizeof(*out));
    out->inodes = m->sb.inodes;
    out->used_bytes = m->sb.used_bytes;
    out->chunks = m->sb.chunks;
    out->next_ino = m->sb.next_ino;
    out->next_chunk = m->sb.next_chunk;
    memcpy(out->fsid, m->sb.fsid, 16);
    return 0;
}
