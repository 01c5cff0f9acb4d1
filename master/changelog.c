/*
 * changelog.c - the master's changelog: every committed turn, numbered, kept
 * in RocksDB next to the mutation it describes (DESIGN.md, Master).
 *
 * A changelog entry is the turn's WriteBatch itself, in RocksDB's batch
 * representation: the metalogger applies it to its own copy and obtains
 * exactly the master's keys. meta_txn_commit_sync() calls cl_append() just
 * before the write: the entry ('L' seq) and the head ("L") go into the same
 * batch, so an entry exists if and only if its mutation is applied. The
 * batch representation is taken before the entry is added, so entries never
 * contain changelog keys.
 *
 * Epochs: entries are numbered within a history. A promotion (a master
 * started from a metalogger's copy, which may lack the dead master's last
 * entries) or a restore from a dump starts a new epoch at the current
 * number; a copy may follow only within its own epoch, or from the
 * previous epoch when it holds nothing past the fork. Otherwise entries
 * with the same numbers could say different things, so it copies a
 * checkpoint instead.
 *
 * Trimming: the master names the oldest entry it still needs
 * (meta_changelog_trim); each commit deletes up to CL_TRIM_STEP older
 * entries in its own batch, so trimming never needs a turn of its own.
 *
 * docs/format.md ("Changelog") has the bytes; docs/master.md ("Changelog and
 * metaloggers") the model.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "meta_int.h"

#define CL_TRIM_STEP 256 /* entries deleted per commit at most */

static void cl_key(struct meta_key *k, uint64_t seq)
{
    meta_key_ino(k, META_K_CHANGES, seq);
}

static uint64_t cl_random(void)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&v, sizeof(v), 1, f) != 1)
            v = 0;
        fclose(f);
    }
    if (v == 0) {
        struct timespec ts;
        meta_now(&ts);
        v = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 48);
    }
    return v ? v : 1;
}

static void cl_head(struct meta *m, uint64_t seq, uint8_t *head)
{
    head[0] = META_REC_V1;
    meta_put64(head + 1, seq);
    meta_put64(head + 9, m->cl_epoch);
    meta_put64(head + 17, m->cl_prev_epoch);
    meta_put64(head + 25, m->cl_epoch_start);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    meta_now(&ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int meta_cl_load(struct meta *m)
{
    char *rerr = NULL;
    size_t vlen = 0;
    struct meta_key k = {.b = {META_K_CHANGES}, .len = 1};
    char *v = rocksdb_get(m->db, m->ropts, (const char *)k.b, k.len, &vlen, &rerr);
    if (rerr)
        return meta_db_error(m, rerr, "read changelog head");
    m->cl_seq = 0;
    m->cl_epoch = m->cl_prev_epoch = m->cl_epoch_start = 0;
    if (v) {
        const uint8_t *p = (const uint8_t *)v;
        int ok = (vlen == META_CLHEAD_LEN || vlen == 9) && p[0] == META_REC_V1;
        if (ok)
            m->cl_seq = meta_get64(p + 1);
        if (ok && vlen == META_CLHEAD_LEN) {
            m->cl_epoch = meta_get64(p + 9);
            m->cl_prev_epoch = meta_get64(p + 17);
            m->cl_epoch_start = meta_get64(p + 25);
        }
        rocksdb_free(v);
        if (!ok)
            return META_CORRUPT(m, "changelog head");
    }
    if (m->cl_epoch == 0) { /* no history yet (new, restored, or written before epochs) */
        m->cl_epoch = cl_random();
        m->cl_epoch_start = m->cl_seq;
    }
    /* the oldest entry still stored */
    uint8_t seek[9];
    seek[0] = META_K_CHANGES;
    meta_put_be64(seek + 1, 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    if (!it)
        return -ENOMEM;
    rocksdb_iter_seek(it, (const char *)seek, sizeof(seek));
    m->cl_first = m->cl_seq + 1;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it, &klen);
        if (klen == 9 && key[0] == META_K_CHANGES)
            m->cl_first = meta_get_be64(key + 1);
    }
    rocksdb_iter_destroy(it);
    m->cl_trim_below = 0;
    return 0;
}

/* Adds the deletes of up to CL_TRIM_STEP entries below the trim point to wb
 * (NULL: the turn's batch); *first becomes the oldest entry kept once the batch is written. */
static void cl_trim(struct meta *m, rocksdb_writebatch_t *wb, uint64_t *first)
{
    uint64_t below = m->cl_trim_below;
    if (below > m->cl_seq + 1)
        below = m->cl_seq + 1; /* always keep the newest entry's successor slot */
    if (*first >= below)
        return;
    uint8_t seek[9];
    seek[0] = META_K_CHANGES;
    meta_put_be64(seek + 1, *first);
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    if (!it)
        return;
    int n = 0;
    uint64_t next = below;
    for (rocksdb_iter_seek(it, (const char *)seek, sizeof(seek)); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen;
        const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it, &klen);
        if (klen != 9 || key[0] != META_K_CHANGES)
            break;
        uint64_t s = meta_get_be64(key + 1);
        if (s >= below || n == CL_TRIM_STEP) {
            next = s < below ? s : below;
            break;
        }
        if (wb)
            rocksdb_writebatch_delete(wb, (const char *)key, klen);
        else
            rocksdb_writebatch_wi_delete(m->batch, (const char *)key, klen);
        n++;
    }
    rocksdb_iter_destroy(it);
    *first = next;
}

int meta_cl_append(struct meta *m)
{
    size_t replen = 0;
    const char *rep = rocksdb_writebatch_wi_data(m->batch, &replen);
    uint8_t *val = malloc(META_CLENTRY_HDR + replen);
    if (!val)
        return -ENOMEM;
    val[0] = META_REC_V1;
    meta_put64(val + 1, wall_ms());
    memcpy(val + META_CLENTRY_HDR, rep, replen); /* rep changes with the puts below */
    uint64_t seq = m->cl_seq + 1;
    struct meta_key k;
    cl_key(&k, seq);
    rocksdb_writebatch_wi_put(m->batch, (const char *)k.b, k.len, (const char *)val,
                              META_CLENTRY_HDR + replen);
    free(val);
    uint8_t head[META_CLHEAD_LEN];
    cl_head(m, seq, head);
    struct meta_key hk = {.b = {META_K_CHANGES}, .len = 1};
    rocksdb_writebatch_wi_put(m->batch, (const char *)hk.b, hk.len, (const char *)head,
                              sizeof(head));
    m->cl_first_pending = m->cl_first;
    cl_trim(m, NULL, &m->cl_first_pending);
    return 0;
}

void meta_cl_committed(struct meta *m)
{
    m->cl_seq++;
    m->cl_first = m->cl_first_pending;
    if (m->cl_first > m->cl_seq)
        m->cl_first = m->cl_seq; /* the newest entry is always kept */
}

uint64_t meta_changelog_seq(const struct meta *m)
{
    return m->cl_seq;
}

uint64_t meta_changelog_first(const struct meta *m)
{
    return m->cl_first;
}

void meta_changelog_trim(struct meta *m, uint64_t below)
{
    m->cl_trim_below = below;
}

int meta_changelog_get(struct meta *m, uint64_t seq, uint64_t *time_ms, char **rep, size_t *len)
{
    char *rerr = NULL;
    size_t vlen = 0;
    struct meta_key k;
    cl_key(&k, seq);
    char *v = rocksdb_get(m->db, m->ropts, (const char *)k.b, k.len, &vlen, &rerr);
    if (rerr)
        return meta_db_error(m, rerr, "read changelog entry");
    if (!v)
        return -ENOENT;
    const uint8_t *p = (const uint8_t *)v;
    if (vlen < META_CLENTRY_HDR || p[0] != META_REC_V1 ||
        meta_cl_rep_check(p + META_CLENTRY_HDR, vlen - META_CLENTRY_HDR, NULL) < 0) {
        rocksdb_free(v);
        return META_CORRUPT(m, "changelog entry");
    }
    if (time_ms)
        *time_ms = meta_get64(p + 1);
    if (rep) {
        *len = vlen - META_CLENTRY_HDR;
        memmove(v, v + META_CLENTRY_HDR, *len);
        *rep = v;
    } else {
        rocksdb_free(v);
    }
    return 0;
}

/* LEB128 varint32 as RocksDB writes it; 0 or -1 on a short or long one. */
static int get_varint32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint32_t v = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        if (shift == 28 && (b & 0xf0))
            return -1;
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Our key prefixes; a changelog entry must never carry anything else. */
static int known_prefix(uint8_t c)
{
    return c == META_K_SUPER || c == META_K_INODE || c == META_K_DENTRY || c == META_K_XATTR ||
           c == META_K_FCHUNK || c == META_K_CHUNK || c == META_K_ORPHAN || c == META_K_TRASH ||
           c == META_K_CLASS || c == META_K_MARK || c == META_K_TRASHQ || c == META_K_TRASHTIME ||
           c == META_K_QUOTA || c == META_K_CHUNKREF;
}

int meta_cl_rep_check(const void *rep, size_t len, uint32_t *count)
{
    /* RocksDB's WriteBatch: sequence u64le, count u32le, then records
     * tag u8 | varint32 klen | key [| varint32 vlen | value]. Only the two
     * tags the master writes are accepted: 1 = Put, 0 = Delete. */
    const uint8_t *p = rep, *end = p + len;
    if (len < 12)
        return -EINVAL;
    uint32_t n = meta_get32(p + 8), seen = 0;
    p += 12;
    while (p < end) {
        uint8_t tag = *p++;
        uint32_t klen, vlen = 0;
        if (tag > 1 || get_varint32(&p, end, &klen) || klen == 0 || klen > META_KEY_MAX ||
            (size_t)(end - p) < klen)
            return -EINVAL;
        if (!known_prefix(p[0]))
            return -EINVAL;
        p += klen;
        if (tag == 1) {
            if (get_varint32(&p, end, &vlen) || (size_t)(end - p) < vlen)
                return -EINVAL;
            p += vlen;
        }
        seen++;
    }
    if (seen != n || n == 0)
        return -EINVAL;
    if (count)
        *count = n;
    return 0;
}

int meta_checkpoint(struct meta *m, const char *dir, uint64_t *seq, char *err, size_t errlen)
{
    char *rerr = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(m->db, &rerr);
    if (rerr) {
        snprintf(err, errlen, "checkpoint: %s", rerr);
        rocksdb_free(rerr);
        return META_EDB;
    }
    /* log_size_for_flush 0: flush the memtable so the copy needs no WAL */
    rocksdb_checkpoint_create(cp, dir, 0, &rerr);
    rocksdb_checkpoint_object_destroy(cp);
    if (rerr) {
        snprintf(err, errlen, "checkpoint into %s: %s", dir, rerr);
        rocksdb_free(rerr);
        return META_EDB;
    }
    if (seq)
        *seq = m->cl_seq;
    return 0;
}

int meta_changelog_apply(struct meta *m, uint64_t seq, uint64_t time_ms, const void *rep,
                         size_t len, int sync)
{
    if (m->txn)
        return -EBUSY;
    if (m->broken)
        return META_EBROKEN;
    if (seq != m->cl_seq + 1)
        return -ESPIPE;
    if (meta_cl_rep_check(rep, len, NULL) < 0)
        return -EINVAL;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create_from(rep, len);
    uint8_t *val = malloc(META_CLENTRY_HDR + len);
    if (!wb || !val) {
        if (wb)
            rocksdb_writebatch_destroy(wb);
        free(val);
        return -ENOMEM;
    }
    /* The entry is kept too, so a promoted copy can feed other metaloggers. */
    val[0] = META_REC_V1;
    meta_put64(val + 1, time_ms);
    memcpy(val + META_CLENTRY_HDR, rep, len);
    struct meta_key k;
    cl_key(&k, seq);
    rocksdb_writebatch_put(wb, (const char *)k.b, k.len, (const char *)val, META_CLENTRY_HDR + len);
    free(val);
    uint8_t head[META_CLHEAD_LEN];
    cl_head(m, seq, head);
    struct meta_key hk = {.b = {META_K_CHANGES}, .len = 1};
    rocksdb_writebatch_put(wb, (const char *)hk.b, hk.len, (const char *)head, sizeof(head));
    uint64_t first = m->cl_first;
    cl_trim(m, wb, &first);
    char *rerr = NULL;
    rocksdb_write(m->db, sync ? m->wopts : m->wopts_nosync, wb, &rerr);
    rocksdb_writebatch_destroy(wb);
    if (rerr) {
        m->broken = true;
        return meta_db_error(m, rerr, "apply changelog entry");
    }
    m->cl_seq = seq;
    m->cl_first = first > seq ? seq : first;
    return 0;
}

int meta_checkpoint_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(dir) ? -errno : 0;
}

void meta_changelog_epoch(const struct meta *m, struct meta_epoch *e)
{
    e->epoch = m->cl_epoch;
    e->prev = m->cl_prev_epoch;
    e->start = m->cl_epoch_start;
}

void meta_changelog_adopt(struct meta *m, const struct meta_epoch *e)
{
    m->cl_epoch = e->epoch;
    m->cl_prev_epoch = e->prev;
    m->cl_epoch_start = e->start;
}

int meta_changelog_may_follow(const struct meta *m, uint64_t epoch, uint64_t seq)
{
    if (seq > m->cl_seq)
        return 0; /* it holds entries this history does not have */
    if (epoch != m->cl_epoch && !(epoch == m->cl_prev_epoch && seq <= m->cl_epoch_start))
        return 0; /* another history past the fork */
    return seq == m->cl_seq || seq + 1 >= m->cl_first;
}

int meta_changelog_fork(struct meta *m)
{
    if (m->txn)
        return -EBUSY;
    m->cl_prev_epoch = m->cl_epoch;
    m->cl_epoch = cl_random();
    m->cl_epoch_start = m->cl_seq;
    uint8_t head[META_CLHEAD_LEN];
    cl_head(m, m->cl_seq, head);
    char *rerr = NULL;
    rocksdb_put(m->db, m->wopts, (const char *)"L", 1, (const char *)head, sizeof(head), &rerr);
    if (rerr)
        return meta_db_error(m, rerr, "write changelog head");
    return 0;
}
