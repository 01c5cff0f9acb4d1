/*
 * dump.c - the master's metadata as a versioned text dump and back:
 * `cairn-admin dump`, `restore` and `verify` (docs/format.md, "Metadata
 * dump (cairn-admin dump), version 1").
 *
 * Decisions a reader must know:
 *
 * 1. Logical, not raw. Every record is decoded through the metadata codecs
 *    (meta_int.h) and written as named JSON fields; restore builds each key
 *    and value with the same encoders and runs the decoder over the result,
 *    so a dump can be read with grep/jq and is checked field by field.
 *    Keys under a prefix this version does not decode (the reserved T, K
 *    and anything later) become "raw" records (key and value in hex) and
 *    are restored verbatim: nothing is dropped silently. A known prefix is
 *    never raw: a malformed record there stops the dump (it would not
 *    restore), naming the key.
 * 2. Byte strings (names, symlink targets, xattr values, server names) are
 *    JSON strings when they are valid UTF-8 (controls, '"' and '\' escaped)
 *    and otherwise hex under the field name plus "_hex", so a dump keeps
 *    standard JSON meaning and still carries any byte exactly.
 * 3. Deterministic: records in key order, numbers in one spelling, no
 *    timestamp. The dump of one state is always the same bytes, so dump ->
 *    restore -> dump is byte-identical and two backups compare with cmp.
 *    The reader insists on strictly increasing keys (no duplicates).
 * 4. Truncation and corruption are found three ways: zstd's frame checksum,
 *    the trailer line (record counts and a CRC32C over every earlier line)
 *    and, after a restore, meta_check() on the result. Restore writes into
 *    DIR.tmp-restore and renames it onto DIR only when all three passed.
 * 5. The changelog ('L': head and entries) is not dumped: it is the
 *    metaloggers' replication stream, not the namespace. A restored
 *    database starts a new history (a new epoch at entry 0), so no
 *    metalogger mistakes its old entries for the restored master's; each
 *    copies a checkpoint of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "dump.h"
#include "ec.h"
#include "meta_int.h"

#define DUMP_MAGIC    "cairn-dump"
#define MARK_NAME_MAX 200u       /* as master/marks.c */
#define RAW_KEY_MAX   1024u      /* longest key of a raw record */
#define RAW_VALUE_MAX (8u << 20) /* longest value of a raw record (changelog batches) */
#define VALUE_BUF     (1u + META_XATTR_SIZE_MAX) /* >= every decoded record's value */
_Static_assert(VALUE_BUF >= META_INODE_LEN + META_SYMLINK_MAX, "inode value fits VALUE_BUF");
_Static_assert(2 * RAW_VALUE_MAX + 2 * RAW_KEY_MAX + 64 < DUMP_LINE_MAX, "raw record fits a line");
#define ZSTD_LEVEL  3
#define BATCH_BYTES (4u << 20) /* restore: RocksDB write batch size */
#define JFIELDS_MAX 24

const char *dump_strerror(int err)
{
    switch (err) {
    case DUMP_ENOTDUMP:
        return "not a cairn metadata dump";
    case DUMP_EVERSION:
        return "unsupported cairn dump version";
    case DUMP_EBAD:
        return "malformed, truncated or inconsistent dump";
    case DUMP_ERUNNING:
        return "a running master holds the metadata directory";
    case DUMP_ETARGET:
        return "restore target is not empty";
    case DUMP_EZSTD:
        return "zstd compression error";
    default:
        return meta_strerror(err);
    }
}

static int errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- byte helpers ----------------------------------------------------------- */

static const char hexdig[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Up to the first 48 key bytes in hex, for messages. */
static const char *key_hex(const uint8_t *k, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < len; i++) {
        if (i == 48) {
            snprintf(buf + o, len - o, "...");
            return buf;
        }
        buf[o++] = hexdig[k[i] >> 4];
        buf[o++] = hexdig[k[i] & 15];
    }
    buf[o] = '\0';
    return buf;
}

/* Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* ---- record rules shared by writer and reader --------------------------------
 * Each returns NULL when the bytes are acceptable, else what is wrong. The
 * writer applies them before it writes a line, so every dump it completes
 * restores (dump.h). */

static const char *dentry_name_bad(const uint8_t *p, size_t n)
{
    if (n == 0 || n > META_NAME_MAX)
        return "name length not 1..255";
    if (memchr(p, '\0', n) || memchr(p, '/', n))
        return "name holds a NUL or '/'";
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return "name is . or ..";
    return NULL;
}

static const char *xattr_name_bad(const uint8_t *p, size_t n)
{
    if (n == 0 || n > META_XATTR_NAME_MAX)
        return "xattr name length not 1..255";
    if (memchr(p, '\0', n))
        return "xattr name holds a NUL";
    return NULL;
}

static const char *server_name_bad(const uint8_t *p, size_t n)
{
    if (n == 0 || n > MARK_NAME_MAX)
        return "server name length not 1..200";
    if (memchr(p, '\0', n))
        return "server name holds a NUL";
    return NULL;
}

static bool prefix_known(uint8_t c)
{
    switch (c) {
    case META_K_SUPER:
    case META_K_INODE:
    case META_K_DENTRY:
    case META_K_XATTR:
    case META_K_FCHUNK:
    case META_K_CHUNK:
    case META_K_ORPHAN:
    case META_K_MARK:
        return true;
    default:
        return false;
    }
}

static const char *const type_names[16] = {
    [1] = "fifo", [2] = "chr", [4] = "dir", [6] = "blk", [8] = "reg", [10] = "lnk", [12] = "sock",
};

/* The decoder's reason without the "meta: corrupt" prefix and source location. */
static const char *corrupt_text(struct meta *sc)
{
    char *p = strstr(sc->last_error, " (found at ");
    if (p)
        *p = '\0';
    p = strstr(sc->last_error, "corrupt ");
    return p ? p + 8 : sc->last_error;
}

/* ---- writer ---------------------------------------------------------------------- */

struct lbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void lb_put(struct lbuf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void lb_puts(struct lbuf *b, const char *s)
{
    lb_put(b, s, strlen(s));
}

/* ,"key": */
static void lb_key(struct lbuf *b, const char *key)
{
    lb_puts(b, ",\"");
    lb_puts(b, key);
    lb_puts(b, "\":");
}

static void lb_u64(struct lbuf *b, const char *key, uint64_t v)
{
    char t[24];
    lb_key(b, key);
    lb_put(b, t, (size_t)snprintf(t, sizeof(t), "%llu", (unsigned long long)v));
}

static void lb_i64(struct lbuf *b, const char *key, int64_t v)
{
    char t[24];
    lb_key(b, key);
    lb_put(b, t, (size_t)snprintf(t, sizeof(t), "%lld", (long long)v));
}

static void lb_hexstr(struct lbuf *b, const char *key, const uint8_t *p, size_t n)
{
    lb_key(b, key);
    lb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        char t[2] = {hexdig[p[i] >> 4], hexdig[p[i] & 15]};
        lb_put(b, t, 2);
    }
    lb_puts(b, "\"");
}

/* Decision 2: "key":"text" for valid UTF-8, else "key_hex":"...". */
static void lb_bytes(struct lbuf *b, const char *key, const uint8_t *p, size_t n)
{
    if (!utf8_valid(p, n)) {
        char k[32];
        snprintf(k, sizeof(k), "%s_hex", key);
        lb_hexstr(b, k, p, n);
        return;
    }
    lb_key(b, key);
    lb_puts(b, "\"");
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
            continue;
        lb_put(b, p + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char t[2] = {'\\', (char)c};
            lb_put(b, t, 2);
        } else {
            char t[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
            lb_put(b, t, 6);
        }
    }
    lb_put(b, p + run, n - run);
    lb_puts(b, "\"");
}

struct dump_w {
    FILE *out;
    ZSTD_CCtx *z;
    uint8_t *zout;
    size_t zcap;
    uint32_t crc; /* over every line before the trailer, newlines included */
    struct lbuf line;
    struct meta_inode in; /* 4 KiB: kept off the stack */
    struct meta scratch;  /* collects the decoders' corruption text */
    char *err;
    size_t errlen;
};

static int w_emit(struct dump_w *w, const void *p, size_t n, ZSTD_EndDirective end)
{
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer o = {w->zout, w->zcap, 0};
        size_t r = ZSTD_compressStream2(w->z, &o, &in, end);
        if (ZSTD_isError(r))
            return errf(w->err, w->errlen, DUMP_EZSTD, "dump: zstd: %s", ZSTD_getErrorName(r));
        if (o.pos && fwrite(w->zout, 1, o.pos, w->out) != o.pos)
            return errf(w->err, w->errlen, -EIO, "dump: write: %s", strerror(errno));
        if (end == ZSTD_e_end ? r == 0 : in.pos == in.size)
            return 0;
    }
}

/* Ends the line in w->line, adds it to the CRC (unless it is the trailer) and compresses it. */
static int w_line(struct dump_w *w, bool trailer)
{
    int rc;
    lb_puts(&w->line, "}\n");
    if (w->line.oom)
        return errf(w->err, w->errlen, -ENOMEM, "dump: out of memory");
    if (!trailer)
        w->crc = ec_crc32c(w->crc, w->line.p, w->line.len);
    rc = w_emit(w, w->line.p, w->line.len, ZSTD_e_continue);
    w->line.len = 0;
    return rc;
}

static int w_corrupt(struct dump_w *w, const uint8_t *k, size_t klen, const char *what)
{
    char kh[112];
    return errf(w->err, w->errlen, META_ECORRUPT,
                "dump: key %s: %s; refusing to write a dump that would not restore (repair the "
                "metadata first)",
                key_hex(k, klen, kh, sizeof(kh)), what);
}

/* One record as one line (without the closing brace, which w_line adds). */
static int w_record(struct dump_w *w, struct dump_stats *st, const uint8_t *k, size_t klen,
                    const uint8_t *v, size_t vlen)
{
    struct lbuf *b = &w->line;
    const char *bad;
    int rc;

    if (klen == 0 || !prefix_known(k[0])) {
        if (klen == 0 || klen > RAW_KEY_MAX || vlen > RAW_VALUE_MAX)
            return w_corrupt(w, k, klen,
                             "key over 1 KiB or value over 8 MiB: too long for a raw record");
        lb_puts(b, "{\"t\":\"raw\"");
        lb_hexstr(b, "key_hex", k, klen);
        lb_hexstr(b, "value_hex", v, vlen);
        st->raws++;
        goto out;
    }
    switch (k[0]) {
    case META_K_SUPER: {
        struct meta_sb sb;
        if (klen != 1 || meta_sb_decode(v, vlen, &sb) != 0)
            return w_corrupt(w, k, klen, "superblock key or record malformed");
        lb_puts(b, "{\"t\":\"super\"");
        lb_hexstr(b, "fsid", sb.fsid, 16);
        lb_u64(b, "next_ino", sb.next_ino);
        lb_u64(b, "next_chunk", sb.next_chunk);
        lb_u64(b, "inodes", sb.inodes);
        lb_u64(b, "used_bytes", sb.used_bytes);
        lb_u64(b, "chunks", sb.chunks);
        st->supers++;
        break;
    }
    case META_K_INODE: {
        struct meta_inode *in = &w->in;
        const struct meta_attr *a = &in->a;
        char mode[16];
        if (klen != 9)
            return w_corrupt(w, k, klen, "inode key is not 9 bytes");
        uint64_t ino = meta_get_be64(k + 1);
        if (ino == 0)
            return w_corrupt(w, k, klen, "inode number 0");
        if (meta_inode_decode(&w->scratch, v, vlen, ino, in) != 0)
            return w_corrupt(w, k, klen, corrupt_text(&w->scratch));
        snprintf(mode, sizeof(mode), "0%o", a->mode);
        lb_puts(b, "{\"t\":\"inode\"");
        lb_u64(b, "ino", ino);
        lb_key(b, "mode");
        lb_puts(b, "\"");
        lb_puts(b, mode);
        lb_puts(b, "\"");
        lb_u64(b, "uid", a->uid);
        lb_u64(b, "gid", a->gid);
        lb_u64(b, "nlink", a->nlink);
        lb_u64(b, "class", in->class_id);
        lb_u64(b, "rdev", a->rdev);
        lb_u64(b, "size", a->size);
        lb_u64(b, "parent", a->parent);
        lb_i64(b, "atime", (int64_t)a->atime.tv_sec);
        lb_u64(b, "atime_ns", (uint64_t)a->atime.tv_nsec);
        lb_i64(b, "mtime", (int64_t)a->mtime.tv_sec);
        lb_u64(b, "mtime_ns", (uint64_t)a->mtime.tv_nsec);
        lb_i64(b, "ctime", (int64_t)a->ctime.tv_sec);
        lb_u64(b, "ctime_ns", (uint64_t)a->ctime.tv_nsec);
        if (in->target_len)
            lb_bytes(b, "target", (const uint8_t *)in->target, in->target_len);
        st->inodes++;
        break;
    }
    case META_K_DENTRY: {
        struct meta_dentry d;
        if (klen < 10 || meta_get_be64(k + 1) == 0)
            return w_corrupt(w, k, klen, "dentry key too short or parent 0");
        if ((bad = dentry_name_bad(k + 9, klen - 9)) != NULL)
            return w_corrupt(w, k, klen, bad);
        if (meta_dentry_decode(&w->scratch, v, vlen, &d) != 0)
            return w_corrupt(w, k, klen, corrupt_text(&w->scratch));
        if (!type_names[d.type])
            return w_corrupt(w, k, klen, "dentry of an unknown file type");
        lb_puts(b, "{\"t\":\"dentry\"");
        lb_u64(b, "parent", meta_get_be64(k + 1));
        lb_bytes(b, "name", k + 9, klen - 9);
        lb_u64(b, "ino", d.ino);
        lb_key(b, "type");
        lb_puts(b, "\"");
        lb_puts(b, type_names[d.type]);
        lb_puts(b, "\"");
        st->dentries++;
        break;
    }
    case META_K_XATTR:
        if (klen < 10 || meta_get_be64(k + 1) == 0)
            return w_corrupt(w, k, klen, "xattr key too short or inode 0");
        if ((bad = xattr_name_bad(k + 9, klen - 9)) != NULL)
            return w_corrupt(w, k, klen, bad);
        if (vlen < 1 || v[0] != META_REC_V1 || vlen - 1 > META_XATTR_SIZE_MAX)
            return w_corrupt(w, k, klen, "xattr record: bad record version or length");
        lb_puts(b, "{\"t\":\"xattr\"");
        lb_u64(b, "ino", meta_get_be64(k + 1));
        lb_bytes(b, "name", k + 9, klen - 9);
        lb_bytes(b, "value", v + 1, vlen - 1);
        st->xattrs++;
        break;
    case META_K_FCHUNK:
        if (klen != 13 || meta_get_be64(k + 1) == 0)
            return w_corrupt(w, k, klen, "file chunk key is not 13 bytes or inode 0");
        if (vlen != META_FCHUNK_LEN || v[0] != META_REC_V1 || meta_get64(v + 1) == 0)
            return w_corrupt(w, k, klen, "file chunk record: bad length, version or chunk id 0");
        lb_puts(b, "{\"t\":\"fchunk\"");
        lb_u64(b, "ino", meta_get_be64(k + 1));
        lb_u64(b, "index", meta_get_be32(k + 9));
        lb_u64(b, "chunk", meta_get64(v + 1));
        st->fchunks++;
        break;
    case META_K_CHUNK: {
        struct meta_chunk c;
        if (klen != 9 || meta_get_be64(k + 1) == 0)
            return w_corrupt(w, k, klen, "chunk key is not 9 bytes or id 0");
        if (meta_chunk_decode(&w->scratch, v, vlen, meta_get_be64(k + 1), &c) != 0)
            return w_corrupt(w, k, klen, corrupt_text(&w->scratch));
        lb_puts(b, "{\"t\":\"chunk\"");
        lb_u64(b, "id", c.id);
        lb_u64(b, "ino", c.ino);
        lb_u64(b, "index", c.index);
        lb_u64(b, "class", c.class_id);
        lb_u64(b, "lease", c.lease);
        lb_u64(b, "version", c.version);
        lb_u64(b, "committed", c.committed_version);
        lb_u64(b, "issued", c.issued_version);
        lb_u64(b, "length", c.length);
        lb_u64(b, "holder", c.lease_holder);
        lb_i64(b, "expiry_ms", c.lease_expiry_ms);
        if (c.layout[0]) /* kind | k << 8 | m << 16; absent: not recorded */
            lb_u64(b, "layout",
                   c.layout[0] | (uint32_t)c.layout[1] << 8 | (uint32_t)c.layout[2] << 16);
        st->chunks++;
        break;
    }
    case META_K_ORPHAN:
        if (klen != 9 || meta_get_be64(k + 1) == 0)
            return w_corrupt(w, k, klen, "orphan key is not 9 bytes or inode 0");
        if (vlen != 1 || v[0] != META_REC_V1)
            return w_corrupt(w, k, klen, "orphan record: not the one version byte");
        lb_puts(b, "{\"t\":\"orphan\"");
        lb_u64(b, "ino", meta_get_be64(k + 1));
        st->orphans++;
        break;
    case META_K_MARK: {
        const uint8_t *nul = klen > 1 ? memchr(k + 1, '\0', klen - 1) : NULL;
        size_t n = nul ? (size_t)(nul - k - 1) : 0, rest = nul ? klen - 2 - n : 0;
        if (!nul || server_name_bad(k + 1, n) || (rest != 0 && rest != 16) || vlen != 1 ||
            v[0] != META_REC_V1)
            return w_corrupt(w, k, klen, "removal mark record: bad key or value");
        lb_puts(b, "{\"t\":\"mark\"");
        lb_bytes(b, "server", k + 1, n);
        if (rest)
            lb_hexstr(b, "disk", k + 2 + n, 16);
        st->marks++;
        break;
    }
    default: /* prefix_known() lists exactly the cases above */
        return w_corrupt(w, k, klen, "prefix_known() and w_record() disagree");
    }
out:
    st->records++;
    rc = w_line(w, false);
    return rc;
}

int dump_write_iter(rocksdb_iterator_t *it, FILE *out, struct dump_stats *st, char *err,
                    size_t errlen)
{
    struct dump_w w = {.out = out, .err = err, .errlen = errlen};
    struct dump_stats s = {0};
    struct meta_sb sb;
    const char *k, *v;
    size_t klen, vlen;
    char *rerr = NULL;
    int rc;

    /* the header names the file system: read the superblock from the same
     * iterator (one snapshot) before walking from the first key */
    rocksdb_iter_seek(it, "S", 1);
    k = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &klen) : NULL;
    if (!k || klen != 1 || k[0] != META_K_SUPER)
        return errf(err, errlen, META_ENOTOURS, "dump: no Cairn metadata superblock");
    v = rocksdb_iter_value(it, &vlen);
    rc = meta_sb_decode((const uint8_t *)v, vlen, &sb);
    if (rc < 0)
        return errf(err, errlen, rc, "dump: superblock: %s", meta_strerror(rc));

    w.z = ZSTD_createCCtx();
    w.zcap = ZSTD_CStreamOutSize();
    w.zout = malloc(w.zcap);
    if (!w.z || !w.zout) {
        rc = errf(err, errlen, -ENOMEM, "dump: out of memory");
        goto out;
    }
    if (ZSTD_isError(ZSTD_CCtx_setParameter(w.z, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w.z, ZSTD_c_checksumFlag, 1))) {
        rc = errf(err, errlen, DUMP_EZSTD, "dump: zstd refuses its parameters");
        goto out;
    }

    lb_puts(&w.line, "{\"format\":\"" DUMP_MAGIC "\"");
    lb_u64(&w.line, "version", DUMP_FORMAT_VERSION);
    lb_u64(&w.line, "meta_format", META_FORMAT_VERSION);
    lb_hexstr(&w.line, "fsid", sb.fsid, 16);
    rc = w_line(&w, false);
    for (rocksdb_iter_seek_to_first(it); rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        k = rocksdb_iter_key(it, &klen);
        v = rocksdb_iter_value(it, &vlen);
        if (klen > 0 && k[0] == META_K_CHANGES)
            continue; /* replication state, not the namespace (decision 5) */
        rc = w_record(&w, &s, (const uint8_t *)k, klen, (const uint8_t *)v, vlen);
    }
    if (rc < 0)
        goto out;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr) {
        rc = errf(err, errlen, META_EDB, "dump: reading the database: %s", rerr);
        rocksdb_free(rerr);
        goto out;
    }
    if (s.supers != 1) { /* the seek above found it: the walk must have too */
        rc = errf(err, errlen, META_ECORRUPT, "dump: the superblock vanished during the walk");
        goto out;
    }

    {
        char crc[16];
        lb_puts(&w.line, "{\"t\":\"end\"");
        lb_u64(&w.line, "records", s.records);
        lb_u64(&w.line, "super", s.supers);
        lb_u64(&w.line, "inodes", s.inodes);
        lb_u64(&w.line, "dentries", s.dentries);
        lb_u64(&w.line, "xattrs", s.xattrs);
        lb_u64(&w.line, "fchunks", s.fchunks);
        lb_u64(&w.line, "chunks", s.chunks);
        lb_u64(&w.line, "orphans", s.orphans);
        lb_u64(&w.line, "marks", s.marks);
        lb_u64(&w.line, "raw", s.raws);
        snprintf(crc, sizeof(crc), "%08x", w.crc);
        lb_key(&w.line, "crc32c");
        lb_puts(&w.line, "\"");
        lb_puts(&w.line, crc);
        lb_puts(&w.line, "\"");
    }
    rc = w_line(&w, true);
    if (rc == 0)
        rc = w_emit(&w, NULL, 0, ZSTD_e_end);
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = errf(err, errlen, -EIO, "dump: write: %s", strerror(errno));
    if (rc == 0 && st)
        *st = s;
out:
    free(w.line.p);
    free(w.zout);
    ZSTD_freeCCtx(w.z);
    return rc;
}

int dump_write_meta(struct meta *m, FILE *out, struct dump_stats *st, char *err, size_t errlen)
{
    /* a plain database iterator: committed state only, one implicit snapshot */
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    int rc;
    if (!it)
        return errf(err, errlen, -ENOMEM, "dump: out of memory");
    rc = dump_write_iter(it, out, st, err, errlen);
    rocksdb_iter_destroy(it);
    return rc;
}

/* pid of another process holding RocksDB's LOCK file in dir (-1: unknown
 * pid), 0 if none. RocksDB locks it with fcntl(F_SETLK, F_WRLCK). Closing
 * the probe drops this process's own fcntl locks on the file (dump.h). */
static int lock_holder(const char *dir)
{
    char path[PATH_MAX];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd, pid = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/LOCK", dir) >= sizeof(path))
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        pid = fl.l_pid > 0 ? (int)fl.l_pid : -1;
    close(fd);
    return pid;
}

int dump_dir(const char *dir, FILE *out, struct dump_stats *st, char *err, size_t errlen)
{
    struct meta_options o = {.create = 0};
    struct meta *m = NULL;
    char why[512];
    int rc;
    if (access(dir, F_OK) != 0) /* meta_open's hint (format it) is wrong advice here */
        return errf(err, errlen, -errno, "dump: metadata directory %s: %s", dir, strerror(errno));
    rc = meta_open(dir, &o, &m, why, sizeof(why));
    if (rc < 0) {
        int pid = lock_holder(dir);
        if (pid > 0)
            return errf(err, errlen, DUMP_ERUNNING,
                        "the master is running on %s (pid %d holds its lock); stop it or use the "
                        "online dump",
                        dir, pid);
        if (pid < 0)
            return errf(err, errlen, DUMP_ERUNNING,
                        "the master is running on %s (its lock is held); stop it or use the "
                        "online dump",
                        dir);
        return errf(err, errlen, rc, "%s", why[0] ? why : meta_strerror(rc));
    }
    rc = dump_write_meta(m, out, st, err, errlen);
    meta_close(m);
    return rc;
}

/* ---- reader ------------------------------------------------------------------------ */

/* A record ready for the database; returns 0 or a negative code (message in err). */
typedef int (*rec_sink)(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen);

/* One field of a flat JSON object, pointing into the line. */
struct jfield {
    const char *name;
    size_t nlen;
    bool str;      /* string (v: the bytes between the quotes, still escaped) or integer */
    const char *v; /* integer: optional '-' and digits */
    size_t vlen;
};

struct jrec {
    struct jfield f[JFIELDS_MAX];
    int n;
    uint32_t used; /* bit i: f[i] was read */
};

struct dump_rd {
    char *line; /* the line being assembled */
    size_t len, cap;
    unsigned long long lineno; /* lines completed (the current one while it is processed) */
    int state;                 /* 0: expect the header, 1: records, 2: after the trailer */
    uint32_t crc;
    bool have_root;
    struct dump_stats st;
    uint8_t fsid[16];
    uint8_t prev[RAW_KEY_MAX]; /* key of the last record; prevlen 0: none yet */
    size_t prevlen;
    uint8_t key[RAW_KEY_MAX];
    uint8_t *val; /* VALUE_BUF bytes */
    uint8_t *raw; /* value of a raw record, grown to rawcap as needed */
    size_t rawcap;
    struct meta_inode in;
    struct meta scratch; /* collects the decoders' corruption text */
    rec_sink sink;
    void *ctx;
    char *err;
    size_t errlen;
};

static int rd_failrc(struct dump_rd *rd, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rd_failrc(struct dump_rd *rd, int rc, const char *fmt, ...)
{
    va_list ap;
    if (rd->err && rd->errlen) {
        int o = snprintf(rd->err, rd->errlen, "line %llu: ", rd->lineno);
        if (o >= 0 && (size_t)o < rd->errlen) {
            va_start(ap, fmt);
            vsnprintf(rd->err + o, rd->errlen - (size_t)o, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}
#define rd_fail(rd, ...) rd_failrc((rd), DUMP_EBAD, __VA_ARGS__)

#define WS()                                                                                       \
    while (i < n && (s[i] == ' ' || s[i] == '\t'))                                                 \
    i++

/* Parses one flat object {"name":value,...} with string or integer values. */
static int j_parse(const char *s, size_t n, struct jrec *r, const char **why, size_t *at)
{
    size_t i = 0;
    r->n = 0;
    r->used = 0;
    WS();
    if (i >= n || s[i] != '{') {
        *why = "expected '{'";
        goto bad;
    }
    i++;
    for (;;) {
        struct jfield *f = &r->f[r->n < JFIELDS_MAX ? r->n : 0];
        WS();
        if (i >= n || s[i] != '"') {
            *why = "expected a field name";
            goto bad;
        }
        if (r->n == JFIELDS_MAX) {
            *why = "too many fields";
            goto bad;
        }
        f->name = s + ++i;
        while (i < n &&
               ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            i++;
        f->nlen = (size_t)(s + i - f->name);
        if (i >= n || s[i] != '"' || f->nlen == 0) {
            *why = "a field name must be [a-z0-9_]+";
            goto bad;
        }
        i++;
        for (int j = 0; j < r->n; j++) {
            if (r->f[j].nlen == f->nlen && memcmp(r->f[j].name, f->name, f->nlen) == 0) {
                *why = "duplicate field";
                goto bad;
            }
        }
        WS();
        if (i >= n || s[i] != ':') {
            *why = "expected ':'";
            goto bad;
        }
        i++;
        WS();
        if (i < n && s[i] == '"') {
            f->str = true;
            f->v = s + ++i;
            while (i < n && s[i] != '"') {
                if ((uint8_t)s[i] < 0x20) {
                    *why = "control byte inside a string";
                    goto bad;
                }
                if (s[i] == '\\')
                    i++; /* the escaped byte; j_unescape checks it */
                i++;
            }
            if (i >= n) {
                *why = "unterminated string";
                goto bad;
            }
            f->vlen = (size_t)(s + i - f->v);
            i++;
        } else if (i < n && (s[i] == '-' || (s[i] >= '0' && s[i] <= '9'))) {
            size_t d;
            f->str = false;
            f->v = s + i;
            if (s[i] == '-')
                i++;
            d = i;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == d) {
                *why = "a number needs digits";
                goto bad;
            }
            f->vlen = (size_t)(s + i - f->v);
        } else {
            *why = "a value must be a string or an integer";
            goto bad;
        }
        r->n++;
        WS();
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}') {
            i++;
            break;
        }
        *why = "expected ',' or '}'";
        goto bad;
    }
    WS();
    if (i != n) {
        *why = "text after the object";
        goto bad;
    }
    return 0;
bad:
    *at = i + 1;
    return -1;
}

static struct jfield *j_get(struct jrec *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->n; i++) {
        if (r->f[i].nlen == n && memcmp(r->f[i].name, name, n) == 0) {
            r->used |= 1u << i;
            return &r->f[i];
        }
    }
    return NULL;
}

static bool j_is(const struct jfield *f, const char *s)
{
    return f->str && f->vlen == strlen(s) && memcmp(f->v, s, f->vlen) == 0;
}

static int rd_unused(struct dump_rd *rd, const struct jrec *r)
{
    for (int i = 0; i < r->n; i++) {
        if (!(r->used & (1u << i)))
            return rd_fail(rd, "unknown field \"%.*s\"", (int)r->f[i].nlen, r->f[i].name);
    }
    return 0;
}

/* magnitude of an integer field's digits; -1 on overflow */
static int digits_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int rd_u64(struct dump_rd *rd, struct jrec *r, const char *name, uint64_t max, uint64_t *out)
{
    struct jfield *f = j_get(r, name);
    uint64_t v;
    if (!f)
        return rd_fail(rd, "field \"%s\" missing", name);
    if (f->str || f->v[0] == '-')
        return rd_fail(rd, "field \"%s\" is not an unsigned integer", name);
    if (digits_u64(f->v, f->vlen, &v) != 0 || v > max)
        return rd_fail(rd, "field \"%s\" out of range (0..%llu)", name, (unsigned long long)max);
    *out = v;
    return 0;
}

static int rd_u32(struct dump_rd *rd, struct jrec *r, const char *name, uint32_t *out)
{
    uint64_t v;
    int rc = rd_u64(rd, r, name, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int rd_i64(struct dump_rd *rd, struct jrec *r, const char *name, int64_t *out)
{
    struct jfield *f = j_get(r, name);
    bool neg;
    uint64_t v;
    if (!f)
        return rd_fail(rd, "field \"%s\" missing", name);
    if (f->str)
        return rd_fail(rd, "field \"%s\" is not an integer", name);
    neg = f->v[0] == '-';
    if (digits_u64(f->v + neg, f->vlen - neg, &v) != 0 ||
        v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return rd_fail(rd, "field \"%s\" out of the signed 64-bit range", name);
    *out = !neg ? (int64_t)v : v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return 0;
}

static int rd_hexval(struct dump_rd *rd, const struct jfield *f, const char *name, uint8_t *buf,
                     size_t cap, size_t *n)
{
    if (!f->str)
        return rd_fail(rd, "field \"%s\" is not a string", name);
    if (f->vlen % 2)
        return rd_fail(rd, "field \"%s\": odd number of hex digits", name);
    if (f->vlen / 2 > cap)
        return rd_fail(rd, "field \"%s\" longer than %zu bytes", name, cap);
    for (size_t i = 0; i < f->vlen / 2; i++) {
        int hi = hexval((uint8_t)f->v[2 * i]), lo = hexval((uint8_t)f->v[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return rd_fail(rd, "field \"%s\": not hex digits", name);
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = f->vlen / 2;
    return 0;
}

/* A fixed-size hex field (ids). */
static int rd_hexfix(struct dump_rd *rd, struct jrec *r, const char *name, uint8_t *buf, size_t len)
{
    struct jfield *f = j_get(r, name);
    size_t n;
    int rc;
    if (!f)
        return rd_fail(rd, "field \"%s\" missing", name);
    rc = rd_hexval(rd, f, name, buf, len, &n);
    if (rc == 0 && n != len)
        return rd_fail(rd, "field \"%s\" must be %zu bytes (%zu hex digits)", name, len, 2 * len);
    return rc;
}

/* JSON string contents to bytes: the escapes of RFC 8259 with \u only below U+0080 (the
 * writer escapes nothing else; see decision 2). */
static int j_unescape(struct dump_rd *rd, const struct jfield *f, const char *name, uint8_t *buf,
                      size_t cap, size_t *n)
{
    size_t o = 0, i = 0;
    while (i < f->vlen) {
        uint8_t c = (uint8_t)f->v[i++];
        if (c == '\\') {
            if (i >= f->vlen)
                return rd_fail(rd, "field \"%s\": lone backslash", name);
            c = (uint8_t)f->v[i++];
            switch (c) {
            case '"':
            case '\\':
            case '/':
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                int d[4];
                if (f->vlen - i < 4)
                    return rd_fail(rd, "field \"%s\": short \\u escape", name);
                for (int k = 0; k < 4; k++)
                    d[k] = hexval((uint8_t)f->v[i + k]);
                if (d[0] < 0 || d[1] < 0 || d[2] < 0 || d[3] < 0 || d[0] || d[1] || d[2] > 7)
                    return rd_fail(rd,
                                   "field \"%s\": \\u escapes above \\u007f are not used by "
                                   "this format (write the character itself, or use %s_hex)",
                                   name, name);
                c = (uint8_t)(d[2] << 4 | d[3]);
                i += 4;
                break;
            }
            default:
                return rd_fail(rd, "field \"%s\": unknown escape \\%c", name, c);
            }
        }
        if (o == cap)
            return rd_fail(rd, "field \"%s\" longer than %zu bytes", name, cap);
        buf[o++] = c;
    }
    *n = o;
    return 0;
}

/* A byte string: "name" (JSON text) or "name_hex". 1 if absent and optional. */
static int rd_bytes(struct dump_rd *rd, struct jrec *r, const char *name, uint8_t *buf, size_t cap,
                    size_t *n, bool optional)
{
    char hk[32];
    struct jfield *t, *h;
    snprintf(hk, sizeof(hk), "%s_hex", name);
    t = j_get(r, name);
    h = j_get(r, hk);
    if (t && h)
        return rd_fail(rd, "both \"%s\" and \"%s\" given", name, hk);
    if (h)
        return rd_hexval(rd, h, hk, buf, cap, n);
    if (!t) {
        if (optional)
            return 1;
        return rd_fail(rd, "field \"%s\" (or \"%s\") missing", name, hk);
    }
    if (!t->str)
        return rd_fail(rd, "field \"%s\" is not a string", name);
    return j_unescape(rd, t, name, buf, cap, n);
}

static int keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int _rc = (x);                                                                             \
        if (_rc != 0)                                                                              \
            return _rc < 0 ? _rc : rd_fail(rd, "internal: unexpected %d", _rc);                    \
    } while (0)

static int rd_inode(struct dump_rd *rd, struct jrec *r, size_t *klen, size_t *vlen)
{
    struct meta_inode *in = &rd->in;
    struct meta_attr *a = &in->a;
    struct jfield *f;
    uint64_t ino, mode = 0, ns[3];
    int64_t sec[3];
    size_t n = 0;
    int rc;

    memset(a, 0, sizeof(*a));
    in->class_id = 0;
    TRY(rd_u64(rd, r, "ino", UINT64_MAX, &ino));
    if (ino == 0)
        return rd_fail(rd, "inode number 0");
    f = j_get(r, "mode");
    if (!f || !f->str || f->vlen == 0 || f->vlen > 12)
        return rd_fail(rd, "field \"mode\" must be an octal string such as \"0100644\"");
    for (size_t i = 0; i < f->vlen; i++) {
        if (f->v[i] < '0' || f->v[i] > '7')
            return rd_fail(rd, "field \"mode\": not an octal digit");
        mode = mode * 8 + (uint64_t)(f->v[i] - '0');
    }
    if (mode > UINT32_MAX)
        return rd_fail(rd, "field \"mode\" above 32 bits");
    a->mode = (uint32_t)mode;
    TRY(rd_u32(rd, r, "uid", &a->uid));
    TRY(rd_u32(rd, r, "gid", &a->gid));
    TRY(rd_u32(rd, r, "nlink", &a->nlink));
    TRY(rd_u32(rd, r, "class", &in->class_id));
    TRY(rd_u64(rd, r, "rdev", UINT64_MAX, &a->rdev));
    TRY(rd_u64(rd, r, "size", INT64_MAX, &a->size));
    TRY(rd_u64(rd, r, "parent", UINT64_MAX, &a->parent));
    TRY(rd_i64(rd, r, "atime", &sec[0]));
    TRY(rd_u64(rd, r, "atime_ns", 999999999, &ns[0]));
    TRY(rd_i64(rd, r, "mtime", &sec[1]));
    TRY(rd_u64(rd, r, "mtime_ns", 999999999, &ns[1]));
    TRY(rd_i64(rd, r, "ctime", &sec[2]));
    TRY(rd_u64(rd, r, "ctime_ns", 999999999, &ns[2]));
    a->atime.tv_sec = (time_t)sec[0];
    a->atime.tv_nsec = (long)ns[0];
    a->mtime.tv_sec = (time_t)sec[1];
    a->mtime.tv_nsec = (long)ns[1];
    a->ctime.tv_sec = (time_t)sec[2];
    a->ctime.tv_nsec = (long)ns[2];
    rc = rd_bytes(rd, r, "target", (uint8_t *)in->target, META_SYMLINK_MAX, &n, true);
    if (rc < 0)
        return rc;
    in->target_len = (uint16_t)(rc == 1 ? 0 : n);
    if (rc == 0 && n == 0)
        return rd_fail(rd, "empty symlink target");
    a->ino = ino;
    rd->key[0] = META_K_INODE;
    meta_put_be64(rd->key + 1, ino);
    *klen = 9;
    *vlen = meta_inode_encode(in, rd->val);
    if (meta_inode_decode(&rd->scratch, rd->val, *vlen, ino, in) != 0)
        return rd_fail(rd, "inode %llu: %s", (unsigned long long)ino, corrupt_text(&rd->scratch));
    if (ino == META_ROOT_INO)
        rd->have_root = true;
    return 0;
}

static int rd_chunk(struct dump_rd *rd, struct jrec *r, size_t *klen, size_t *vlen)
{
    struct meta_chunk c = {0};
    uint64_t lease;
    TRY(rd_u64(rd, r, "id", UINT64_MAX, &c.id));
    if (c.id == 0)
        return rd_fail(rd, "chunk id 0");
    TRY(rd_u64(rd, r, "ino", UINT64_MAX, &c.ino));
    TRY(rd_u32(rd, r, "index", &c.index));
    TRY(rd_u32(rd, r, "class", &c.class_id));
    TRY(rd_u64(rd, r, "lease", META_LEASE_WRITE, &lease));
    c.lease = (uint32_t)lease;
    TRY(rd_u64(rd, r, "version", UINT64_MAX, &c.version));
    TRY(rd_u64(rd, r, "committed", UINT64_MAX, &c.committed_version));
    TRY(rd_u64(rd, r, "issued", UINT64_MAX, &c.issued_version));
    TRY(rd_u64(rd, r, "length", META_CHUNK_SIZE, &c.length));
    TRY(rd_u64(rd, r, "holder", UINT64_MAX, &c.lease_holder));
    TRY(rd_i64(rd, r, "expiry_ms", &c.lease_expiry_ms));
    if (j_get(r, "layout")) {
        uint64_t lay;
        TRY(rd_u64(rd, r, "layout", 0xffffff, &lay));
        c.layout[0] = (uint8_t)lay;
        c.layout[1] = (uint8_t)(lay >> 8);
        c.layout[2] = (uint8_t)(lay >> 16);
    }
    rd->key[0] = META_K_CHUNK;
    meta_put_be64(rd->key + 1, c.id);
    *klen = 9;
    *vlen = meta_chunk_encode(&c, rd->val);
    if (meta_chunk_decode(&rd->scratch, rd->val, *vlen, c.id, &c) != 0)
        return rd_fail(rd, "chunk %llu: %s", (unsigned long long)c.id, corrupt_text(&rd->scratch));
    return 0;
}

/* Builds the key and value of one record line into rd->key / rd->val. */
static int rd_record(struct dump_rd *rd, struct jrec *r, const struct jfield *t)
{
    uint8_t *k = rd->key, *v = rd->val;
    size_t klen = 0, vlen = 0, n = 0;
    uint64_t a, b;
    const char *bad;
    int rc;

    if (j_is(t, "super")) {
        struct meta_sb sb = {0}, chk;
        TRY(rd_hexfix(rd, r, "fsid", sb.fsid, 16));
        TRY(rd_u64(rd, r, "next_ino", UINT64_MAX, &sb.next_ino));
        TRY(rd_u64(rd, r, "next_chunk", UINT64_MAX, &sb.next_chunk));
        TRY(rd_u64(rd, r, "inodes", UINT64_MAX, &sb.inodes));
        TRY(rd_u64(rd, r, "used_bytes", UINT64_MAX, &sb.used_bytes));
        TRY(rd_u64(rd, r, "chunks", UINT64_MAX, &sb.chunks));
        if (memcmp(sb.fsid, rd->fsid, 16) != 0)
            return rd_fail(rd, "superblock fsid differs from the header's");
        k[0] = META_K_SUPER;
        klen = 1;
        vlen = meta_sb_encode(&sb, v);
        if (meta_sb_decode(v, vlen, &chk) != 0)
            return rd_fail(rd, "superblock counters out of range (next_ino > 1, next_chunk > 0, "
                               "inodes > 0)");
        rd->st.supers++;
    } else if (j_is(t, "inode")) {
        TRY(rd_inode(rd, r, &klen, &vlen));
        rd->st.inodes++;
    } else if (j_is(t, "dentry")) {
        struct meta_dentry d;
        struct jfield *ty;
        int type = 0;
        TRY(rd_u64(rd, r, "parent", UINT64_MAX, &a));
        if (a == 0)
            return rd_fail(rd, "dentry parent 0");
        TRY(rd_bytes(rd, r, "name", k + 9, META_NAME_MAX, &n, false));
        if ((bad = dentry_name_bad(k + 9, n)) != NULL)
            return rd_fail(rd, "dentry %s", bad);
        TRY(rd_u64(rd, r, "ino", UINT64_MAX, &b));
        ty = j_get(r, "type");
        for (int i = 1; ty && i < 16; i++) {
            if (type_names[i] && j_is(ty, type_names[i]))
                type = i;
        }
        if (!type)
            return rd_fail(rd, "dentry \"type\" must be one of fifo chr dir blk reg lnk sock");
        k[0] = META_K_DENTRY;
        meta_put_be64(k + 1, a);
        klen = 9 + n;
        v[0] = META_REC_V1;
        v[1] = (uint8_t)type;
        meta_put64(v + 2, b);
        vlen = META_DENTRY_LEN;
        if (meta_dentry_decode(&rd->scratch, v, vlen, &d) != 0)
            return rd_fail(rd, "%s", corrupt_text(&rd->scratch));
        rd->st.dentries++;
    } else if (j_is(t, "xattr")) {
        TRY(rd_u64(rd, r, "ino", UINT64_MAX, &a));
        if (a == 0)
            return rd_fail(rd, "xattr of inode 0");
        TRY(rd_bytes(rd, r, "name", k + 9, META_XATTR_NAME_MAX, &n, false));
        if ((bad = xattr_name_bad(k + 9, n)) != NULL)
            return rd_fail(rd, "%s", bad);
        k[0] = META_K_XATTR;
        meta_put_be64(k + 1, a);
        klen = 9 + n;
        TRY(rd_bytes(rd, r, "value", v + 1, META_XATTR_SIZE_MAX, &n, false));
        v[0] = META_REC_V1;
        vlen = 1 + n;
        rd->st.xattrs++;
    } else if (j_is(t, "fchunk")) {
        uint32_t index;
        TRY(rd_u64(rd, r, "ino", UINT64_MAX, &a));
        TRY(rd_u32(rd, r, "index", &index));
        TRY(rd_u64(rd, r, "chunk", UINT64_MAX, &b));
        if (a == 0 || b == 0)
            return rd_fail(rd, "file chunk with inode 0 or chunk id 0");
        k[0] = META_K_FCHUNK;
        meta_put_be64(k + 1, a);
        meta_put_be32(k + 9, index);
        klen = 13;
        v[0] = META_REC_V1;
        meta_put64(v + 1, b);
        vlen = META_FCHUNK_LEN;
        rd->st.fchunks++;
    } else if (j_is(t, "chunk")) {
        TRY(rd_chunk(rd, r, &klen, &vlen));
        rd->st.chunks++;
    } else if (j_is(t, "orphan")) {
        TRY(rd_u64(rd, r, "ino", UINT64_MAX, &a));
        if (a == 0)
            return rd_fail(rd, "orphan inode 0");
        k[0] = META_K_ORPHAN;
        meta_put_be64(k + 1, a);
        klen = 9;
        v[0] = META_REC_V1;
        vlen = 1;
        rd->st.orphans++;
    } else if (j_is(t, "mark")) {
        TRY(rd_bytes(rd, r, "server", k + 1, MARK_NAME_MAX, &n, false));
        if ((bad = server_name_bad(k + 1, n)) != NULL)
            return rd_fail(rd, "%s", bad);
        k[0] = META_K_MARK;
        k[1 + n] = 0;
        klen = 2 + n;
        if (j_get(r, "disk")) {
            TRY(rd_hexfix(rd, r, "disk", k + klen, 16));
            klen += 16;
        }
        v[0] = META_REC_V1;
        vlen = 1;
        rd->st.marks++;
    } else if (j_is(t, "raw")) {
        struct jfield *f = j_get(r, "key_hex");
        if (!f)
            return rd_fail(rd, "field \"key_hex\" missing");
        TRY(rd_hexval(rd, f, "key_hex", k, RAW_KEY_MAX, &klen));
        if (klen == 0 || prefix_known(k[0]))
            return rd_fail(rd, "a raw record's key must be non-empty and not under a prefix "
                               "this format decodes (S I D X F C O M)");
        f = j_get(r, "value_hex");
        if (!f)
            return rd_fail(rd, "field \"value_hex\" missing");
        if (f->vlen / 2 > RAW_VALUE_MAX)
            return rd_fail(rd, "field \"value_hex\" longer than %u bytes", RAW_VALUE_MAX);
        if (f->vlen / 2 > rd->rawcap) {
            uint8_t *p = realloc(rd->raw, f->vlen / 2);
            if (!p)
                return errf(rd->err, rd->errlen, -ENOMEM, "out of memory");
            rd->raw = p;
            rd->rawcap = f->vlen / 2;
        }
        v = rd->raw;
        TRY(rd_hexval(rd, f, "value_hex", v, rd->rawcap, &vlen));
        rd->st.raws++;
    } else {
        return rd_fail(rd, "unknown record type \"%.*s\"", (int)t->vlen, t->v);
    }
    TRY(rd_unused(rd, r));
    if (rd->prevlen && keycmp(k, klen, rd->prev, rd->prevlen) <= 0)
        return rd_fail(rd, "record out of key order or a duplicate (a dump lists keys in "
                           "increasing byte order)");
    memcpy(rd->prev, k, klen);
    rd->prevlen = klen;
    rd->st.records++;
    rc = rd->sink ? rd->sink(rd->ctx, k, klen, v, vlen) : 0;
    return rc;
}

static int rd_header(struct dump_rd *rd, const char *s, size_t n)
{
    struct jrec r;
    struct jfield *f;
    const char *why;
    size_t at;
    uint64_t ver;

    if (j_parse(s, n, &r, &why, &at) != 0 || !(f = j_get(&r, "format")) || !j_is(f, DUMP_MAGIC))
        return rd_failrc(rd, DUMP_ENOTDUMP,
                         "not a cairn dump header (expected {\"format\":\"" DUMP_MAGIC "\",...})");
    f = j_get(&r, "version");
    if (!f || f->str || f->v[0] == '-' || digits_u64(f->v, f->vlen, &ver) != 0)
        return rd_failrc(rd, DUMP_ENOTDUMP, "dump header without a version number");
    if (ver != DUMP_FORMAT_VERSION)
        return rd_failrc(rd, DUMP_EVERSION,
                         "dump format version %llu; this cairn-admin reads version %u (use a "
                         "matching cairn-admin)",
                         (unsigned long long)ver, DUMP_FORMAT_VERSION);
    TRY(rd_u64(rd, &r, "meta_format", UINT32_MAX, &ver));
    if (ver != META_FORMAT_VERSION)
        return rd_failrc(rd, DUMP_EVERSION,
                         "dump of metadata format %llu; this cairn-admin writes format %u",
                         (unsigned long long)ver, META_FORMAT_VERSION);
    TRY(rd_hexfix(rd, &r, "fsid", rd->fsid, 16));
    return rd_unused(rd, &r);
}

static int rd_trailer(struct dump_rd *rd, struct jrec *r)
{
    const struct {
        const char *name;
        uint64_t have;
    } c[] = {
        {"records", rd->st.records},   {"super", rd->st.supers},    {"inodes", rd->st.inodes},
        {"dentries", rd->st.dentries}, {"xattrs", rd->st.xattrs},   {"fchunks", rd->st.fchunks},
        {"chunks", rd->st.chunks},     {"orphans", rd->st.orphans}, {"marks", rd->st.marks},
        {"raw", rd->st.raws},
    };
    uint8_t crc[4];
    uint64_t v;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        TRY(rd_u64(rd, r, c[i].name, UINT64_MAX, &v));
        if (v != c[i].have)
            return rd_fail(rd,
                           "trailer counts %llu %s but the dump holds %llu (truncated or edited "
                           "dump)",
                           (unsigned long long)v, c[i].name, (unsigned long long)c[i].have);
    }
    TRY(rd_hexfix(rd, r, "crc32c", crc, 4));
    if (((uint32_t)crc[0] << 24 | (uint32_t)crc[1] << 16 | (uint32_t)crc[2] << 8 | crc[3]) !=
        rd->crc)
        return rd_fail(rd,
                       "trailer CRC32C %02x%02x%02x%02x, the lines before it give %08x "
                       "(corrupt or edited dump)",
                       crc[0], crc[1], crc[2], crc[3], rd->crc);
    TRY(rd_unused(rd, r));
    if (rd->st.supers != 1)
        return rd_fail(rd, "the dump has no superblock record");
    if (!rd->have_root)
        return rd_fail(rd, "the dump has no root directory (inode 1)");
    return 0;
}

static int rd_line(struct dump_rd *rd, const char *s, size_t n)
{
    struct jrec r;
    struct jfield *t;
    const char *why;
    size_t at;
    int rc;

    rd->lineno++;
    if (rd->state == 2)
        return rd_fail(rd, "data after the trailer line");
    if (rd->state == 0) {
        rc = rd_header(rd, s, n);
    } else {
        if (j_parse(s, n, &r, &why, &at) != 0)
            return rd_fail(rd, "not a record of this format: %s (column %zu)", why, at);
        t = j_get(&r, "t");
        if (!t || !t->str)
            return rd_fail(rd, "record without its type field \"t\"");
        if (j_is(t, "end")) {
            rc = rd_trailer(rd, &r);
            if (rc == 0)
                rd->state = 2;
            return rc;
        }
        rc = rd_record(rd, &r, t);
    }
    if (rc == 0) {
        rd->state = 1;
        rd->crc = ec_crc32c(rd->crc, s, n);
        rd->crc = ec_crc32c(rd->crc, "\n", 1);
    }
    return rc;
}

/* Splits decompressed bytes into lines. */
static int rd_feed(struct dump_rd *rd, const uint8_t *p, size_t n)
{
    while (n) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        int rc;
        if (rd->len + take + 1 > DUMP_LINE_MAX) {
            rd->lineno++;
            return rd_fail(rd, "longer than %u bytes: not a line of this format", DUMP_LINE_MAX);
        }
        if (nl && rd->len == 0) { /* the whole line is here: no copy */
            rc = rd_line(rd, (const char *)p, take);
        } else {
            if (rd->len + take > rd->cap) {
                size_t cap = rd->cap ? rd->cap : 4096;
                while (cap < rd->len + take)
                    cap *= 2;
                char *np = realloc(rd->line, cap);
                if (!np)
                    return errf(rd->err, rd->errlen, -ENOMEM, "out of memory");
                rd->line = np;
                rd->cap = cap;
            }
            memcpy(rd->line + rd->len, p, take);
            rd->len += take;
            if (!nl)
                return 0;
            rc = rd_line(rd, rd->line, rd->len);
            rd->len = 0;
        }
        if (rc != 0)
            return rc;
        p += take + 1;
        n -= take + 1;
    }
    return 0;
}

static int rd_finish(struct dump_rd *rd)
{
    if (rd->len) {
        rd->lineno++;
        return rd_fail(rd, rd->state == 2 ? "data after the trailer line"
                                          : "the dump ends inside this line (truncated dump)");
    }
    if (rd->state == 0)
        return errf(rd->err, rd->errlen, DUMP_ENOTDUMP, "empty dump: no header line");
    if (rd->state != 2)
        return errf(rd->err, rd->errlen, DUMP_EBAD,
                    "the dump ends after line %llu without its trailer line (truncated dump)",
                    rd->lineno);
    return 0;
}

struct src {
    FILE *f; /* or the memory below */
    const uint8_t *p;
    size_t n, off;
};

static size_t src_read(struct src *s, uint8_t *buf, size_t cap)
{
    size_t k;
    if (s->f)
        return fread(buf, 1, cap, s->f);
    k = s->n - s->off < cap ? s->n - s->off : cap;
    if (k)
        memcpy(buf, s->p + s->off, k);
    s->off += k;
    return k;
}

/* Decompresses the source into rd, then checks that the dump ended properly. */
static int rd_run(struct dump_rd *rd, struct src *s)
{
    static const uint8_t zmagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    ZSTD_DCtx *z = ZSTD_createDCtx();
    size_t icap = ZSTD_DStreamInSize(), ocap = ZSTD_DStreamOutSize(), pending = 0;
    uint8_t *ib = malloc(icap), *ob = malloc(ocap);
    bool first = true;
    int rc = 0;

    if (!z || !ib || !ob) {
        rc = errf(rd->err, rd->errlen, -ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        size_t got = src_read(s, ib, icap);
        bool full;
        if (got == 0) {
            if (s->f && ferror(s->f))
                rc = errf(rd->err, rd->errlen, -EIO, "reading the dump: %s", strerror(errno));
            break;
        }
        if (first && (got < 4 || memcmp(ib, zmagic, 4) != 0)) {
            rc = errf(rd->err, rd->errlen, DUMP_ENOTDUMP,
                      "not a cairn dump: the input is not zstd-compressed");
            goto out;
        }
        first = false;
        ZSTD_inBuffer in = {ib, got, 0};
        do {
            ZSTD_outBuffer o = {ob, ocap, 0};
            size_t r = ZSTD_decompressStream(z, &o, &in);
            if (ZSTD_isError(r)) {
                rc = errf(rd->err, rd->errlen, DUMP_EBAD,
                          "after %llu complete lines: the compressed data is corrupt (%s)",
                          rd->lineno, ZSTD_getErrorName(r));
                goto out;
            }
            pending = r;
            rc = rd_feed(rd, ob, o.pos);
            if (rc != 0)
                goto out;
            full = o.pos == o.size;
        } while (in.pos < in.size || full);
    }
    if (rc != 0)
        goto out;
    if (first) {
        rc = errf(rd->err, rd->errlen, DUMP_ENOTDUMP, "not a cairn dump: empty input");
        goto out;
    }
    if (pending != 0) {
        rc = errf(rd->err, rd->errlen, DUMP_EBAD,
                  "the compressed stream ends early, after %llu complete lines (truncated "
                  "dump)",
                  rd->lineno);
        goto out;
    }
    rc = rd_finish(rd);
out:
    free(ib);
    free(ob);
    ZSTD_freeDCtx(z);
    return rc;
}

static struct dump_rd *rd_create(rec_sink sink, void *ctx, char *err, size_t errlen)
{
    struct dump_rd *rd = calloc(1, sizeof(*rd));
    if (!rd || !(rd->val = malloc(VALUE_BUF))) {
        free(rd);
        errf(err, errlen, -ENOMEM, "out of memory");
        return NULL;
    }
    rd->sink = sink;
    rd->ctx = ctx;
    rd->err = err;
    rd->errlen = errlen;
    return rd;
}

static void rd_destroy(struct dump_rd *rd)
{
    if (!rd)
        return;
    free(rd->line);
    free(rd->val);
    free(rd->raw);
    free(rd);
}

int dump_check_buf(const void *buf, size_t len, int compressed, struct dump_stats *st, char *err,
                   size_t errlen)
{
    struct dump_rd *rd = rd_create(NULL, NULL, err, errlen);
    struct src s = {.p = buf, .n = len};
    int rc;
    if (!rd)
        return -ENOMEM;
    if (compressed) {
        rc = rd_run(rd, &s);
    } else {
        rc = rd_feed(rd, buf, len);
        if (rc == 0)
            rc = rd_finish(rd);
    }
    if (rc == 0 && st)
        *st = rd->st;
    rd_destroy(rd);
    return rc;
}

int dump_check_file(FILE *in, struct dump_stats *st, char *err, size_t errlen)
{
    struct dump_rd *rd = rd_create(NULL, NULL, err, errlen);
    struct src s = {.f = in};
    int rc;
    if (!rd)
        return -ENOMEM;
    rc = rd_run(rd, &s);
    if (rc == 0 && st)
        *st = rd->st;
    rd_destroy(rd);
    return rc;
}

/* ---- restore ------------------------------------------------------------------------ */

struct rs {
    rocksdb_t *db;
    rocksdb_writebatch_t *b;
    rocksdb_writeoptions_t *wo;
    size_t bytes;
    char *err;
    size_t errlen;
};

static int rs_flush(struct rs *r, int sync)
{
    char *rerr = NULL;
    rocksdb_writeoptions_set_sync(r->wo, (unsigned char)sync);
    rocksdb_write(r->db, r->wo, r->b, &rerr);
    rocksdb_writebatch_clear(r->b);
    r->bytes = 0;
    if (rerr) {
        errf(r->err, r->errlen, META_EDB, "restore: writing the database: %s", rerr);
        rocksdb_free(rerr);
        return META_EDB;
    }
    return 0;
}

static int rs_put(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct rs *r = ctx;
    rocksdb_writebatch_put(r->b, (const char *)k, klen, (const char *)v, vlen);
    r->bytes += klen + vlen;
    return r->bytes >= BATCH_BYTES ? rs_flush(r, 0) : 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* 0 if dir is missing or an empty directory. */
static int target_check(const char *dir, char *err, size_t errlen)
{
    struct stat sb;
    struct dirent *e;
    DIR *d;
    if (lstat(dir, &sb) != 0)
        return errno == ENOENT ? 0
                               : errf(err, errlen, -errno, "restore: %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return errf(err, errlen, DUMP_ETARGET,
                    "restore: %s exists and is not a directory; restore into a new or empty "
                    "directory",
                    dir);
    d = opendir(dir);
    if (!d)
        return errf(err, errlen, -errno, "restore: %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            int rc = errf(err, errlen, DUMP_ETARGET,
                          "restore: %s is not empty (it holds %s); restore only into a missing "
                          "or empty directory (move the old metadata away first)",
                          dir, e->d_name);
            closedir(d);
            return rc;
        }
    }
    closedir(d);
    return 0;
}

/* fsync the directory holding path, so a rename there is durable. */
static void sync_parent(const char *path)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd;
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == path)
        snprintf(parent, sizeof(parent), "/");
    else
        snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int dump_restore(FILE *in, const char *dir_in, struct dump_stats *st, char *err, size_t errlen)
{
    char dir[PATH_MAX - 16], tmp[PATH_MAX], why[512], *rerr = NULL;
    struct meta_options o = {.create = 0};
    rocksdb_options_t *opts = NULL;
    rocksdb_t *db = NULL;
    struct meta *m = NULL;
    struct dump_rd *rd = NULL;
    struct rs rs = {.err = err, .errlen = errlen};
    struct src s = {.f = in};
    size_t n = strlen(dir_in);
    bool made = false;
    int rc;

    while (n > 1 && dir_in[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(dir))
        return errf(err, errlen, -EINVAL, "restore: bad target directory name");
    memcpy(dir, dir_in, n);
    dir[n] = '\0';
    snprintf(tmp, sizeof(tmp), "%s.tmp-restore", dir);
    rc = target_check(dir, err, errlen);
    if (rc < 0)
        return rc;
    if (access(tmp, F_OK) == 0)
        return errf(err, errlen, DUMP_ETARGET,
                    "restore: %s exists (left by an interrupted restore?); remove it and retry",
                    tmp);

    /* a bare RocksDB, not meta_open(create): formatting would add keys (a
     * root, a superblock, whatever a later format writes) that the dump may
     * not overwrite; the result must hold the dump's keys and nothing else */
    opts = rocksdb_options_create();
    if (!opts) {
        rc = errf(err, errlen, -ENOMEM, "restore: out of memory");
        goto out;
    }
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_options_set_error_if_exists(opts, 1);
    rocksdb_options_set_paranoid_checks(opts, 1);
    made = true; /* rocksdb may have created the directory even on failure */
    db = rocksdb_open(opts, tmp, &rerr);
    if (rerr) {
        rc = errf(err, errlen, META_EDB, "restore: creating %s: %s", tmp, rerr);
        rocksdb_free(rerr);
        goto out;
    }
    rs.db = db;
    rs.b = rocksdb_writebatch_create();
    rs.wo = rocksdb_writeoptions_create();
    rd = rd_create(rs_put, &rs, err, errlen);
    if (!rs.b || !rs.wo || !rd) {
        rc = errf(err, errlen, -ENOMEM, "restore: out of memory");
        goto out;
    }
    rc = rd_run(rd, &s);
    if (rc == 0)
        rc = rs_flush(&rs, 1);
    rocksdb_close(db);
    db = NULL;
    if (rc != 0)
        goto out;

    /* the records passed one by one; now the whole: links, counts, chunk map */
    rc = meta_open(tmp, &o, &m, why, sizeof(why));
    if (rc < 0) {
        errf(err, errlen, rc, "restore: reopening the result: %s", why);
        goto out;
    }
    rc = meta_check(m, NULL, why, sizeof(why));
    meta_close(m);
    m = NULL;
    if (rc < 0) {
        errf(err, errlen, rc,
             "restore: the restored metadata fails its consistency check: %s (was the dump "
             "edited, or taken from damaged metadata?)",
             why);
        goto out;
    }
    if (rename(tmp, dir) != 0) {
        rc = errf(err, errlen, -errno, "restore: rename %s to %s: %s", tmp, dir, strerror(errno));
        goto out;
    }
    made = false;
    sync_parent(dir);
    if (st)
        *st = rd->st;
out:
    meta_close(m);
    if (db)
        rocksdb_close(db);
    if (opts)
        rocksdb_options_destroy(opts);
    rd_destroy(rd);
    if (rs.wo)
        rocksdb_writeoptions_destroy(rs.wo);
    if (rs.b)
        rocksdb_writebatch_destroy(rs.b);
    if (made)
        nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc < 0 ? rc : 0;
}
