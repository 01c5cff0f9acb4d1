/*
 * wire.c - frame header, status codes and the table-driven message codec.
 *
 * Every message is a list of fields (kind + offset into its C struct); one
 * encoder and one decoder walk those lists. The decoder is the code that
 * faces the network, so it is written to be boring: a sticky-error reader
 * whose every get checks the remaining length first, array counts checked
 * against the bytes left before anything is allocated (a count that cannot
 * fit is malformed, so a 4 MiB frame can never make us allocate more than a
 * small multiple of itself), strings bounded and NUL-free, and no trailing
 * bytes. Nothing here asserts on input.
 */
#include "wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec.h"
#include "wire_int.h"

/* ---- errors and status -------------------------------------------------- */

const char *cn_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case CN_ENOTOURS:
        return "not a Cairn peer (bad magic)";
    case CN_EVERSION:
        return "unsupported Cairn protocol version";
    case CN_EHDRCRC:
        return "frame header CRC mismatch";
    case CN_ETOOBIG:
        return "frame payload too large";
    case CN_EMALFORMED:
        return "malformed message";
    case CN_EUNKNOWN:
        return "unknown message type";
    }
    if (err < 0 && err > -4096) {
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
    }
    return "unknown error";
}

static const struct {
    uint16_t st;
    int err;
    const char *name;
} status_map[] = {
    {CN_ST_OK, 0, "OK"},
    {CN_ST_EPERM, EPERM, "EPERM"},
    {CN_ST_ENOENT, ENOENT, "ENOENT"},
    {CN_ST_EIO, EIO, "EIO"},
    {CN_ST_EACCES, EACCES, "EACCES"},
    {CN_ST_EEXIST, EEXIST, "EEXIST"},
    {CN_ST_EXDEV, EXDEV, "EXDEV"},
    {CN_ST_ENOTDIR, ENOTDIR, "ENOTDIR"},
    {CN_ST_EISDIR, EISDIR, "EISDIR"},
    {CN_ST_EINVAL, EINVAL, "EINVAL"},
    {CN_ST_EFBIG, EFBIG, "EFBIG"},
    {CN_ST_ENOSPC, ENOSPC, "ENOSPC"},
    {CN_ST_EROFS, EROFS, "EROFS"},
    {CN_ST_EMLINK, EMLINK, "EMLINK"},
    {CN_ST_ENAMETOOLONG, ENAMETOOLONG, "ENAMETOOLONG"},
    {CN_ST_ENOTEMPTY, ENOTEMPTY, "ENOTEMPTY"},
    {CN_ST_ENODATA, ENODATA, "ENODATA"},
    {CN_ST_ERANGE, ERANGE, "ERANGE"},
    {CN_ST_E2BIG, E2BIG, "E2BIG"},
    {CN_ST_ENOTSUP, ENOTSUP, "ENOTSUP"},
    {CN_ST_ETIMEDOUT, ETIMEDOUT, "ETIMEDOUT"},
    {CN_ST_EAGAIN, EAGAIN, "EAGAIN"},
    {CN_ST_ESTALE, ESTALE, "ESTALE"},
    {CN_ST_ENOMEM, ENOMEM, "ENOMEM"},
    {CN_ST_EBADF, EBADF, "EBADF"},
    {CN_ST_ELOOP, ELOOP, "ELOOP"},
    {CN_ST_EDQUOT, EDQUOT, "EDQUOT"},
    {CN_ST_EINTR, EINTR, "EINTR"},
    {CN_ST_ENOLCK, ENOLCK, "ENOLCK"},
    /* Cairn conditions: errno is only the direction they map to. */
    {CN_ST_BAD_VERSION, ESTALE, "BAD_VERSION"},
    {CN_ST_BAD_CRC, EIO, "BAD_CRC"},
    {CN_ST_NO_SERVERS, ENOSPC, "NO_SERVERS"},
    {CN_ST_LEASE, EAGAIN, "LEASE"},
    {CN_ST_NO_CHUNK, ENOENT, "NO_CHUNK"},
    {CN_ST_PROTOCOL, EPROTO, "PROTOCOL"},
    {CN_ST_AUTH, EACCES, "AUTH"},
    {CN_ST_UNSUPPORTED, ENOTSUP, "UNSUPPORTED"},
    {CN_ST_SHUTDOWN, EAGAIN, "SHUTDOWN"},
};
#define NSTATUS (sizeof(status_map) / sizeof(status_map[0]))

enum cn_status cn_status_from_errno(int err)
{
    switch (err) { /* project codes first: they are negative by nature */
    case CN_EMALFORMED:
    case CN_ENOTOURS:
    case CN_EHDRCRC:
    case CN_ETOOBIG:
        return CN_ST_PROTOCOL;
    case CN_EUNKNOWN:
    case CN_EVERSION:
        return CN_ST_UNSUPPORTED;
    }
    if (err < 0)
        err = -err;
    if (err == EWOULDBLOCK)
        err = EAGAIN;
    if (err == EOPNOTSUPP)
        err = ENOTSUP;
    if (err == EPROTO || err == EBADMSG)
        return CN_ST_PROTOCOL;
    /* The first entry with this errno is the plain errno status. */
    for (size_t i = 0; i < NSTATUS; i++)
        if (status_map[i].err == err)
            return (enum cn_status)status_map[i].st;
    return CN_ST_EIO;
}

int cn_status_to_errno(uint16_t st)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (status_map[i].st == st)
            return status_map[i].err;
    return EIO;
}

const char *cn_status_name(uint16_t st)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (status_map[i].st == st)
            return status_map[i].name;
    return "UNKNOWN";
}

/* ---- little-endian helpers ---------------------------------------------- */

static inline void le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

struct cn_str cn_str_of(const char *s)
{
    struct cn_str r = {s ? s : "", s ? (uint32_t)strlen(s) : 0};
    return r;
}

int cn_str_eq(struct cn_str s, const char *c)
{
    size_t n = strlen(c);
    return n == s.len && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

void cn_buf_release(struct cn_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void cn_buf_reset(struct cn_buf *b)
{
    b->len = 0;
    b->err = 0;
}

int cn_buf_reserve(struct cn_buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (extra > SIZE_MAX / 4 - b->len) {
        b->err = -ENOMEM;
        return b->err;
    }
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->err = -ENOMEM;
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static uint8_t *buf_take(struct cn_buf *b, size_t n)
{
    if (cn_buf_reserve(b, n))
        return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void cn_put_u8(struct cn_buf *b, uint8_t v)
{
    uint8_t *p = buf_take(b, 1);
    if (p)
        *p = v;
}
void cn_put_u16(struct cn_buf *b, uint16_t v)
{
    uint8_t *p = buf_take(b, 2);
    if (p)
        le16(p, v);
}
void cn_put_u32(struct cn_buf *b, uint32_t v)
{
    uint8_t *p = buf_take(b, 4);
    if (p)
        le32(p, v);
}
void cn_put_u64(struct cn_buf *b, uint64_t v)
{
    uint8_t *p = buf_take(b, 8);
    if (p)
        le64(p, v);
}
void cn_put_raw(struct cn_buf *b, const void *src, size_t n)
{
    uint8_t *p = n ? buf_take(b, n) : NULL;
    if (p)
        memcpy(p, src, n);
}
void cn_put_str(struct cn_buf *b, const char *p, size_t n)
{
    if (n > CN_WIRE_MAX_STR) {
        if (!b->err)
            b->err = -EMSGSIZE;
        return;
    }
    cn_put_u16(b, (uint16_t)n);
    cn_put_raw(b, p, n);
}
void cn_put_bytes(struct cn_buf *b, const void *p, size_t n)
{
    if (n > CN_WIRE_MAX_PAYLOAD) {
        if (!b->err)
            b->err = -EMSGSIZE;
        return;
    }
    cn_put_u32(b, (uint32_t)n);
    cn_put_raw(b, p, n);
}

/* Returns the n bytes at the cursor, or NULL (and sets err) if fewer remain. */
static const uint8_t *rd_take(struct cn_rd *r, size_t n)
{
    if (r->err)
        return NULL;
    if (n > r->len - r->off) {
        r->err = CN_EMALFORMED;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t cn_get_u8(struct cn_rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? p[0] : 0;
}
uint16_t cn_get_u16(struct cn_rd *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p ? rd16(p) : 0;
}
uint32_t cn_get_u32(struct cn_rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? rd32(p) : 0;
}
uint64_t cn_get_u64(struct cn_rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? rd64(p) : 0;
}
const uint8_t *cn_get_raw(struct cn_rd *r, size_t n)
{
    return rd_take(r, n);
}
struct cn_str cn_get_str(struct cn_rd *r)
{
    struct cn_str s = {"", 0};
    uint16_t n = cn_get_u16(r);
    if (r->err)
        return s;
    if (n > CN_WIRE_MAX_STR) {
        r->err = CN_EMALFORMED;
        return s;
    }
    const uint8_t *p = rd_take(r, n);
    if (!p)
        return s;
    if (memchr(p, 0, n)) {
        r->err = CN_EMALFORMED;
        return s;
    }
    s.ptr = (const char *)p;
    s.len = n;
    return s;
}
struct cn_bytes cn_get_bytes(struct cn_rd *r)
{
    struct cn_bytes s = {NULL, 0};
    uint32_t n = cn_get_u32(r);
    const uint8_t *p = rd_take(r, n);
    if (p) {
        s.ptr = p;
        s.len = n;
    }
    return s;
}

/* ---- frame header ------------------------------------------------------- */

void cn_wire_hdr_pack(const struct cn_frame_hdr *h, uint8_t out[CN_WIRE_HDR_SIZE])
{
    le32(out + CN_HDR_OFF_MAGIC, CN_WIRE_MAGIC);
    out[CN_HDR_OFF_VERSION] = CN_WIRE_VERSION;
    out[CN_HDR_OFF_FLAGS] = h->flags;
    le16(out + CN_HDR_OFF_TYPE, h->type);
    le64(out + CN_HDR_OFF_REQ_ID, h->req_id);
    le32(out + CN_HDR_OFF_LEN, h->len);
    le32(out + CN_HDR_OFF_HDR_CRC, ec_crc32c(0, out, CN_HDR_OFF_HDR_CRC));
}

int cn_wire_hdr_unpack(const uint8_t *in, struct cn_frame_hdr *h)
{
    memset(h, 0, sizeof(*h));
    if (rd32(in + CN_HDR_OFF_MAGIC) != CN_WIRE_MAGIC)
        return CN_ENOTOURS;
    if (rd32(in + CN_HDR_OFF_HDR_CRC) != ec_crc32c(0, in, CN_HDR_OFF_HDR_CRC))
        return CN_EHDRCRC;
    h->version = in[CN_HDR_OFF_VERSION];
    h->flags = in[CN_HDR_OFF_FLAGS];
    h->type = rd16(in + CN_HDR_OFF_TYPE);
    h->req_id = rd64(in + CN_HDR_OFF_REQ_ID);
    h->len = rd32(in + CN_HDR_OFF_LEN);
    if (h->version < CN_WIRE_VERSION_MIN || h->version > CN_WIRE_VERSION)
        return CN_EVERSION;
    if (h->flags & ~CN_WF_KNOWN)
        return CN_EMALFORMED;
    if (h->len > CN_WIRE_MAX_PAYLOAD)
        return CN_ETOOBIG;
    return 0;
}

int cn_wire_negotiate(uint16_t peer_min, uint16_t peer_max, uint16_t *out)
{
    uint16_t hi = peer_max < CN_WIRE_VERSION ? peer_max : CN_WIRE_VERSION;
    uint16_t lo = peer_min > CN_WIRE_VERSION_MIN ? peer_min : CN_WIRE_VERSION_MIN;
    if (peer_min > peer_max || lo > hi)
        return CN_EVERSION;
    *out = hi;
    return 0;
}

/* ---- message descriptions ----------------------------------------------- */

enum fkind {
    FK_END,
    FK_U8,
    FK_U16,
    FK_U32,
    FK_U64,
    FK_STR,    /* struct cn_str: u16 len + bytes */
    FK_BYTES,  /* struct cn_bytes: u32 len + bytes */
    FK_UUID,   /* uint8_t[16], raw */
    FK_STRUCT, /* nested fixed struct, `elem` */
    FK_ARRAY,  /* pointer at off, uint32_t count at cnt_off, u32 count + elements */
};

struct desc;
struct field {
    uint8_t kind;
    uint16_t off;
    uint16_t cnt_off;
    const struct desc *elem;
};
struct desc {
    size_t size;
    const struct field *f;
};

#define F(k, S, m)                                                                                 \
    {                                                                                              \
        k, offsetof(struct S, m), 0, NULL                                                          \
    }
#define FS(S, m, d)                                                                                \
    {                                                                                              \
        FK_STRUCT, offsetof(struct S, m), 0, &d                                                    \
    }
#define FA(S, m, n, d)                                                                             \
    {                                                                                              \
        FK_ARRAY, offsetof(struct S, m), offsetof(struct S, n), &d                                 \
    }
#define FEND                                                                                       \
    {                                                                                              \
        FK_END, 0, 0, NULL                                                                         \
    }
#define DESC(name, S) static const struct desc name = {sizeof(struct S), name##_f}

static const struct field d_ts_f[] = {F(FK_U64, cn_ts, sec), F(FK_U32, cn_ts, nsec), FEND};
DESC(d_ts, cn_ts);
static const struct field d_attr_f[] = {
    F(FK_U64, cn_attr, ino),  F(FK_U32, cn_attr, mode),   F(FK_U32, cn_attr, uid),
    F(FK_U32, cn_attr, gid),  F(FK_U32, cn_attr, nlink),  F(FK_U32, cn_attr, rdev),
    F(FK_U64, cn_attr, size), F(FK_U64, cn_attr, blocks), FS(cn_attr, atime, d_ts),
    FS(cn_attr, mtime, d_ts), FS(cn_attr, ctime, d_ts),   FEND};
DESC(d_attr, cn_attr);

static const struct field d_hello_f[] = {F(FK_U8, cn_hello, role),
                                         F(FK_U16, cn_hello, ver_min),
                                         F(FK_U16, cn_hello, ver_max),
                                         F(FK_STR, cn_hello, name),
                                         F(FK_BYTES, cn_hello, nonce),
                                         F(FK_BYTES, cn_hello, auth),
                                         FEND};
DESC(d_hello, cn_hello);
static const struct field d_hello_r_f[] = {
    F(FK_U16, cn_hello_r, version), F(FK_U64, cn_hello_r, session), F(FK_STR, cn_hello_r, name),
    F(FK_BYTES, cn_hello_r, nonce), FEND};
DESC(d_hello_r, cn_hello_r);
static const struct field d_error_f[] = {F(FK_U16, cn_error, status), F(FK_STR, cn_error, text),
                                         FEND};
DESC(d_error, cn_error);
static const struct field d_ping_f[] = {F(FK_U64, cn_ping, token), FEND};
DESC(d_ping, cn_ping);
static const struct field d_empty_f[] = {FEND};
DESC(d_empty, cn_empty);

static const struct field d_cs_disk_f[] = {
    F(FK_UUID, cn_cs_disk, uuid),  F(FK_STR, cn_cs_disk, path),
    F(FK_STR, cn_cs_disk, labels), F(FK_U64, cn_cs_disk, total),
    F(FK_U64, cn_cs_disk, used),   F(FK_U64, cn_cs_disk, free),
    F(FK_U8, cn_cs_disk, state),   FEND};
DESC(d_cs_disk, cn_cs_disk);
static const struct field d_cs_part_f[] = {
    F(FK_U64, cn_cs_part, chunk), F(FK_U64, cn_cs_part, version), F(FK_U16, cn_cs_part, part),
    F(FK_U16, cn_cs_part, disk),  F(FK_U8, cn_cs_part, status),   FEND};
DESC(d_cs_part, cn_cs_part);
static const struct field d_cs_register_f[] = {F(FK_U64, cn_cs_register, cs_id),
                                               F(FK_STR, cn_cs_register, name),
                                               F(FK_STR, cn_cs_register, labels),
                                               F(FK_STR, cn_cs_register, addr),
                                               FA(cn_cs_register, disks, ndisks, d_cs_disk),
                                               FA(cn_cs_register, parts, nparts, d_cs_part),
                                               FEND};
DESC(d_cs_register, cn_cs_register);
static const struct field d_cs_register_r_f[] = {F(FK_U64, cn_cs_register_r, cs_id),
                                                 F(FK_U32, cn_cs_register_r, heartbeat_ms), FEND};
DESC(d_cs_register_r, cn_cs_register_r);
static const struct field d_cs_heartbeat_f[] = {FA(cn_cs_heartbeat, disks, ndisks, d_cs_disk),
                                                FA(cn_cs_heartbeat, changed, nchanged, d_cs_part),
                                                FEND};
DESC(d_cs_heartbeat, cn_cs_heartbeat);
static const struct field d_cs_delete_part_f[] = {F(FK_U64, cn_cs_delete_part, chunk),
                                                  F(FK_U64, cn_cs_delete_part, version),
                                                  F(FK_U16, cn_cs_delete_part, part), FEND};
DESC(d_cs_delete_part, cn_cs_delete_part);
static const struct field d_cs_copy_part_f[] = {
    F(FK_U64, cn_cs_copy_part, chunk),    F(FK_U64, cn_cs_copy_part, version),
    F(FK_U16, cn_cs_copy_part, part),     F(FK_STR, cn_cs_copy_part, src_addr),
    F(FK_U16, cn_cs_copy_part, src_part), F(FK_U64, cn_cs_copy_part, size),
    F(FK_U8, cn_cs_copy_part, flags),     FEND};
DESC(d_cs_copy_part, cn_cs_copy_part);
static const struct field d_cs_disk_mark_f[] = {F(FK_UUID, cn_cs_disk_mark, uuid),
                                                F(FK_U8, cn_cs_disk_mark, leaving), FEND};
DESC(d_cs_disk_mark, cn_cs_disk_mark);

static const struct field d_hop_f[] = {F(FK_STR, cn_hop, addr), FEND};
DESC(d_hop, cn_hop);
static const struct field d_read_block_f[] = {F(FK_U64, cn_read_block, chunk),
                                              F(FK_U64, cn_read_block, version),
                                              F(FK_U16, cn_read_block, part),
                                              F(FK_U32, cn_read_block, block),
                                              F(FK_U32, cn_read_block, offset),
                                              F(FK_U32, cn_read_block, length),
                                              FEND};
DESC(d_read_block, cn_read_block);
static const struct field d_read_block_r_f[] = {F(FK_U32, cn_read_block_r, crc),
                                                F(FK_BYTES, cn_read_block_r, data), FEND};
DESC(d_read_block_r, cn_read_block_r);
static const struct field d_write_block_f[] = {
    F(FK_U64, cn_write_block, chunk),  F(FK_U64, cn_write_block, version),
    F(FK_U16, cn_write_block, part),   F(FK_U32, cn_write_block, block),
    F(FK_U32, cn_write_block, offset), F(FK_U32, cn_write_block, crc),
    F(FK_U8, cn_write_block, flags),   FA(cn_write_block, chain, nchain, d_hop),
    F(FK_BYTES, cn_write_block, data), FEND};
DESC(d_write_block, cn_write_block);
static const struct field d_commit_part_f[] = {
    F(FK_U64, cn_commit_part, chunk),         F(FK_U64, cn_commit_part, version),
    F(FK_U16, cn_commit_part, part),          F(FK_U64, cn_commit_part, size),
    FA(cn_commit_part, chain, nchain, d_hop), FEND};
DESC(d_commit_part, cn_commit_part);

static const struct field d_name_req_f[] = {
    F(FK_U64, cn_name_req, parent), F(FK_STR, cn_name_req, name), F(FK_U32, cn_name_req, uid),
    F(FK_U32, cn_name_req, gid), FEND};
DESC(d_name_req, cn_name_req);
static const struct field d_ino_req_f[] = {F(FK_U64, cn_ino_req, ino), FEND};
DESC(d_ino_req, cn_ino_req);
static const struct field d_attr_r_f[] = {FS(cn_attr_r, attr, d_attr), FEND};
DESC(d_attr_r, cn_attr_r);
static const struct field d_setattr_f[] = {F(FK_U64, cn_setattr, ino),
                                           F(FK_U32, cn_setattr, valid),
                                           F(FK_U32, cn_setattr, mode),
                                           F(FK_U32, cn_setattr, uid),
                                           F(FK_U32, cn_setattr, gid),
                                           F(FK_U64, cn_setattr, size),
                                           FS(cn_setattr, atime, d_ts),
                                           FS(cn_setattr, mtime, d_ts),
                                           F(FK_U32, cn_setattr, cuid),
                                           F(FK_U32, cn_setattr, cgid),
                                           FEND};
DESC(d_setattr, cn_setattr);
static const struct field d_mknod_f[] = {F(FK_U64, cn_mknod, parent), F(FK_STR, cn_mknod, name),
                                         F(FK_U32, cn_mknod, mode),   F(FK_U32, cn_mknod, rdev),
                                         F(FK_U32, cn_mknod, uid),    F(FK_U32, cn_mknod, gid),
                                         F(FK_U32, cn_mknod, umask),  FEND};
DESC(d_mknod, cn_mknod);
static const struct field d_mkdir_f[] = {F(FK_U64, cn_mkdir, parent),
                                         F(FK_STR, cn_mkdir, name),
                                         F(FK_U32, cn_mkdir, mode),
                                         F(FK_U32, cn_mkdir, uid),
                                         F(FK_U32, cn_mkdir, gid),
                                         F(FK_U32, cn_mkdir, umask),
                                         FEND};
DESC(d_mkdir, cn_mkdir);
static const struct field d_rename_f[] = {
    F(FK_U64, cn_rename, parent),    F(FK_STR, cn_rename, name),
    F(FK_U64, cn_rename, newparent), F(FK_STR, cn_rename, newname),
    F(FK_U32, cn_rename, flags),     F(FK_U32, cn_rename, uid),
    F(FK_U32, cn_rename, gid),       FEND};
DESC(d_rename, cn_rename);
static const struct field d_link_f[] = {F(FK_U64, cn_link, ino),     F(FK_U64, cn_link, newparent),
                                        F(FK_STR, cn_link, newname), F(FK_U32, cn_link, uid),
                                        F(FK_U32, cn_link, gid),     FEND};
DESC(d_link, cn_link);
static const struct field d_symlink_f[] = {
    F(FK_U64, cn_symlink, parent), F(FK_STR, cn_symlink, name), F(FK_STR, cn_symlink, target),
    F(FK_U32, cn_symlink, uid),    F(FK_U32, cn_symlink, gid),  FEND};
DESC(d_symlink, cn_symlink);
static const struct field d_readlink_r_f[] = {F(FK_STR, cn_readlink_r, target), FEND};
DESC(d_readlink_r, cn_readlink_r);
static const struct field d_readdir_f[] = {
    F(FK_U64, cn_readdir, ino), F(FK_U64, cn_readdir, cookie), F(FK_U32, cn_readdir, max),
    F(FK_U32, cn_readdir, uid), F(FK_U32, cn_readdir, gid),    FEND};
DESC(d_readdir, cn_readdir);
static const struct field d_dirent_f[] = {F(FK_STR, cn_dirent, name), F(FK_U64, cn_dirent, cookie),
                                          FS(cn_dirent, attr, d_attr), FEND};
DESC(d_dirent, cn_dirent);
static const struct field d_readdir_r_f[] = {F(FK_U8, cn_readdir_r, eof),
                                             FA(cn_readdir_r, entries, nentries, d_dirent), FEND};
DESC(d_readdir_r, cn_readdir_r);
static const struct field d_statfs_r_f[] = {
    F(FK_U64, cn_statfs_r, total),   F(FK_U64, cn_statfs_r, free),
    F(FK_U64, cn_statfs_r, avail),   F(FK_U64, cn_statfs_r, files),
    F(FK_U64, cn_statfs_r, ffree),   F(FK_U32, cn_statfs_r, bsize),
    F(FK_U32, cn_statfs_r, namemax), FEND};
DESC(d_statfs_r, cn_statfs_r);
static const struct field d_setxattr_f[] = {F(FK_U64, cn_setxattr, ino),
                                            F(FK_STR, cn_setxattr, name),
                                            F(FK_BYTES, cn_setxattr, value),
                                            F(FK_U32, cn_setxattr, flags),
                                            F(FK_U32, cn_setxattr, uid),
                                            F(FK_U32, cn_setxattr, gid),
                                            FEND};
DESC(d_setxattr, cn_setxattr);
static const struct field d_getxattr_f[] = {
    F(FK_U64, cn_getxattr, ino), F(FK_STR, cn_getxattr, name), F(FK_U32, cn_getxattr, size),
    F(FK_U32, cn_getxattr, uid), F(FK_U32, cn_getxattr, gid),  FEND};
DESC(d_getxattr, cn_getxattr);
static const struct field d_xattr_r_f[] = {F(FK_U32, cn_xattr_r, size),
                                           F(FK_BYTES, cn_xattr_r, value), FEND};
DESC(d_xattr_r, cn_xattr_r);
static const struct field d_listxattr_f[] = {
    F(FK_U64, cn_listxattr, ino), F(FK_U32, cn_listxattr, size), F(FK_U32, cn_listxattr, uid),
    F(FK_U32, cn_listxattr, gid), FEND};
DESC(d_listxattr, cn_listxattr);
static const struct field d_open_f[] = {F(FK_U64, cn_open, ino), F(FK_U32, cn_open, flags),
                                        F(FK_U32, cn_open, uid), F(FK_U32, cn_open, gid), FEND};
DESC(d_open, cn_open);
static const struct field d_chunk_locate_f[] = {F(FK_U64, cn_chunk_locate, ino),
                                                F(FK_U32, cn_chunk_locate, index), FEND};
DESC(d_chunk_locate, cn_chunk_locate);
static const struct field d_loc_f[] = {F(FK_U64, cn_loc, cs_id), F(FK_STR, cn_loc, addr),
                                       F(FK_U16, cn_loc, part), F(FK_STR, cn_loc, labels), FEND};
DESC(d_loc, cn_loc);
static const struct field d_chunk_locate_r_f[] = {F(FK_U64, cn_chunk_locate_r, chunk),
                                                  F(FK_U64, cn_chunk_locate_r, version),
                                                  F(FK_U64, cn_chunk_locate_r, file_size),
                                                  FA(cn_chunk_locate_r, locs, nlocs, d_loc),
                                                  F(FK_U8, cn_chunk_locate_r, ec_k),
                                                  F(FK_U8, cn_chunk_locate_r, ec_m),
                                                  FEND};
DESC(d_chunk_locate_r, cn_chunk_locate_r);
static const struct field d_write_begin_f[] = {
    F(FK_U64, cn_write_begin, ino), F(FK_U32, cn_write_begin, index),
    F(FK_U32, cn_write_begin, uid), F(FK_U32, cn_write_begin, gid), FEND};
DESC(d_write_begin, cn_write_begin);
static const struct field d_write_begin_r_f[] = {F(FK_U64, cn_write_begin_r, chunk),
                                                 F(FK_U64, cn_write_begin_r, version),
                                                 F(FK_U64, cn_write_begin_r, lease),
                                                 F(FK_U32, cn_write_begin_r, lease_ms),
                                                 FA(cn_write_begin_r, locs, nlocs, d_loc),
                                                 F(FK_U8, cn_write_begin_r, ec_k),
                                                 F(FK_U8, cn_write_begin_r, ec_m),
                                                 F(FK_U8, cn_write_begin_r, flags),
                                                 FEND};
DESC(d_write_begin_r, cn_write_begin_r);
static const struct field d_write_end_f[] = {
    F(FK_U64, cn_write_end, ino),    F(FK_U32, cn_write_end, index),
    F(FK_U64, cn_write_end, chunk),  F(FK_U64, cn_write_end, version),
    F(FK_U64, cn_write_end, lease),  F(FK_U64, cn_write_end, size),
    F(FK_U16, cn_write_end, status), FEND};
DESC(d_write_end, cn_write_end);
static const struct field d_truncate_f[] = {
    F(FK_U64, cn_truncate, ino), F(FK_U64, cn_truncate, size), F(FK_U32, cn_truncate, uid),
    F(FK_U32, cn_truncate, gid), FEND};
DESC(d_truncate, cn_truncate);
static const struct field d_create_f[] = {F(FK_U64, cn_create, parent), F(FK_STR, cn_create, name),
                                          F(FK_U32, cn_create, mode),   F(FK_U32, cn_create, flags),
                                          F(FK_U32, cn_create, uid),    F(FK_U32, cn_create, gid),
                                          F(FK_U32, cn_create, umask),  FEND};
DESC(d_create, cn_create);
static const struct field d_path_req_f[] = {F(FK_STR, cn_path_req, path), FEND};
DESC(d_path_req, cn_path_req);
static const struct field d_reopen_f[] = {FA(cn_reopen, inos, ninos, d_ino_req), FEND};
DESC(d_reopen, cn_reopen);
static const struct field d_gid_f[] = {F(FK_U32, cn_gid, gid), FEND};
DESC(d_gid, cn_gid);
static const struct field d_creds_f[] = {F(FK_U32, cn_creds, slot), F(FK_U32, cn_creds, uid),
                                         FA(cn_creds, groups, ngroups, d_gid), FEND};
DESC(d_creds, cn_creds);
static const struct field d_lock_f[] = {
    F(FK_U64, cn_lock, ino), F(FK_U64, cn_lock, owner),   F(FK_U64, cn_lock, start),
    F(FK_U64, cn_lock, end), F(FK_U64, cn_lock, wait_id), F(FK_U32, cn_lock, pid),
    F(FK_U8, cn_lock, kind), F(FK_U8, cn_lock, type),     FEND};
DESC(d_lock, cn_lock);
static const struct field d_getlk_f[] = {F(FK_U64, cn_getlk, ino),   F(FK_U64, cn_getlk, owner),
                                         F(FK_U64, cn_getlk, start), F(FK_U64, cn_getlk, end),
                                         F(FK_U32, cn_getlk, pid),   F(FK_U8, cn_getlk, kind),
                                         F(FK_U8, cn_getlk, type),   FEND};
DESC(d_getlk, cn_getlk);
static const struct field d_getlk_r_f[] = {
    F(FK_U8, cn_getlk_r, type), F(FK_U64, cn_getlk_r, start),   F(FK_U64, cn_getlk_r, end),
    F(FK_U32, cn_getlk_r, pid), F(FK_U64, cn_getlk_r, session), FEND};
DESC(d_getlk_r, cn_getlk_r);
static const struct field d_lock_cancel_f[] = {F(FK_U64, cn_lock_cancel, wait_id), FEND};
DESC(d_lock_cancel, cn_lock_cancel);
static const struct field d_adm_mark_f[] = {F(FK_STR, cn_adm_mark, server),
                                            F(FK_STR, cn_adm_mark, disk),
                                            F(FK_U8, cn_adm_mark, leaving), FEND};
DESC(d_adm_mark, cn_adm_mark);
static const struct field d_adm_trash_f[] = {
    F(FK_U8, cn_adm_trash, op),  F(FK_U64, cn_adm_trash, id), F(FK_STR, cn_adm_trash, path),
    F(FK_STR, cn_adm_trash, to), F(FK_U8, cn_adm_trash, all), FEND};
DESC(d_adm_trash, cn_adm_trash);
static const struct field d_adm_trashtime_f[] = {
    F(FK_STR, cn_adm_trashtime, path), F(FK_U8, cn_adm_trashtime, op),
    F(FK_U64, cn_adm_trashtime, seconds), F(FK_U8, cn_adm_trashtime, recursive), FEND};
DESC(d_adm_trashtime, cn_adm_trashtime);
static const struct field d_cs_dup_part_f[] = {
    F(FK_U64, cn_cs_dup_part, chunk), F(FK_U64, cn_cs_dup_part, version),
    F(FK_U16, cn_cs_dup_part, part), F(FK_U64, cn_cs_dup_part, new_chunk), FEND};
DESC(d_cs_dup_part, cn_cs_dup_part);
static const struct field d_adm_snapshot_f[] = {F(FK_STR, cn_adm_snapshot, src),
                                                F(FK_STR, cn_adm_snapshot, dst), FEND};
DESC(d_adm_snapshot, cn_adm_snapshot);
static const struct field d_adm_quota_f[] = {
    F(FK_U8, cn_adm_quota, op),           F(FK_STR, cn_adm_quota, path),
    F(FK_U64, cn_adm_quota, hard_bytes),  F(FK_U64, cn_adm_quota, soft_bytes),
    F(FK_U64, cn_adm_quota, hard_inodes), F(FK_U64, cn_adm_quota, soft_inodes),
    F(FK_U32, cn_adm_quota, grace_s),     FEND};
DESC(d_adm_quota, cn_adm_quota);
static const struct field d_cs_src_f[] = {F(FK_STR, cn_cs_src, addr), F(FK_U16, cn_cs_src, part),
                                          FEND};
DESC(d_cs_src, cn_cs_src);
static const struct field d_cs_rebuild_part_f[] = {F(FK_U64, cn_cs_rebuild_part, chunk),
                                                   F(FK_U64, cn_cs_rebuild_part, version),
                                                   F(FK_U16, cn_cs_rebuild_part, part),
                                                   F(FK_U8, cn_cs_rebuild_part, k),
                                                   F(FK_U8, cn_cs_rebuild_part, m),
                                                   F(FK_U64, cn_cs_rebuild_part, length),
                                                   FA(cn_cs_rebuild_part, srcs, nsrcs, d_cs_src),
                                                   F(FK_U8, cn_cs_rebuild_part, flags),
                                                   FEND};
DESC(d_cs_rebuild_part, cn_cs_rebuild_part);
static const struct field d_cs_convert_f[] = {F(FK_U64, cn_cs_convert, chunk),
                                              F(FK_U64, cn_cs_convert, version),
                                              F(FK_U64, cn_cs_convert, length),
                                              F(FK_U64, cn_cs_convert, new_chunk),
                                              F(FK_U8, cn_cs_convert, k),
                                              F(FK_U8, cn_cs_convert, m),
                                              FA(cn_cs_convert, srcs, nsrcs, d_cs_src),
                                              FA(cn_cs_convert, targets, ntargets, d_cs_src),
                                              F(FK_U8, cn_cs_convert, flags),
                                              F(FK_U8, cn_cs_convert, decode),
                                              FEND};
DESC(d_cs_convert, cn_cs_convert);
static const struct field d_adm_class_f[] = {F(FK_U8, cn_adm_class, op),
                                             F(FK_STR, cn_adm_class, name),
                                             F(FK_STR, cn_adm_class, path),
                                             F(FK_U8, cn_adm_class, recursive),
                                             F(FK_STR, cn_adm_class, spec[0]),
                                             F(FK_STR, cn_adm_class, spec[1]),
                                             F(FK_STR, cn_adm_class, spec[2]),
                                             F(FK_STR, cn_adm_class, spec[3]),
                                             FEND};
DESC(d_adm_class, cn_adm_class);
static const struct field d_adm_rescan_f[] = {F(FK_STR, cn_adm_rescan, server), FEND};
DESC(d_adm_rescan, cn_adm_rescan);
static const struct field d_cs_disk_rescan_r_f[] = {F(FK_U32, cn_cs_disk_rescan_r, reopened),
                                                    F(FK_U32, cn_cs_disk_rescan_r, closed), FEND};
DESC(d_cs_disk_rescan_r, cn_cs_disk_rescan_r);
static const struct field d_adm_fsck_f[] = {F(FK_U8, cn_adm_fsck, repair), FEND};
DESC(d_adm_fsck, cn_adm_fsck);
static const struct field d_ml_follow_f[] = {
    F(FK_STR, cn_ml_follow, name), F(FK_BYTES, cn_ml_follow, fsid), F(FK_U64, cn_ml_follow, seq),
    F(FK_U64, cn_ml_follow, epoch), FEND};
DESC(d_ml_follow, cn_ml_follow);
static const struct field d_ml_follow_r_f[] = {F(FK_U8, cn_ml_follow_r, mode),
                                               F(FK_U64, cn_ml_follow_r, seq),
                                               F(FK_BYTES, cn_ml_follow_r, fsid),
                                               F(FK_U64, cn_ml_follow_r, epoch),
                                               F(FK_U64, cn_ml_follow_r, prev_epoch),
                                               F(FK_U64, cn_ml_follow_r, epoch_start),
                                               FEND};
DESC(d_ml_follow_r, cn_ml_follow_r);
static const struct field d_ml_entry_f[] = {
    F(FK_U64, cn_ml_entry, seq),    F(FK_U64, cn_ml_entry, time_ms), F(FK_U32, cn_ml_entry, total),
    F(FK_U32, cn_ml_entry, offset), F(FK_BYTES, cn_ml_entry, data),  FEND};
DESC(d_ml_entry, cn_ml_entry);
static const struct field d_ml_ack_f[] = {F(FK_U64, cn_ml_ack, seq), FEND};
DESC(d_ml_ack, cn_ml_ack);
static const struct field d_ml_snap_file_f[] = {
    F(FK_STR, cn_ml_snap_file, name), F(FK_U64, cn_ml_snap_file, size),
    F(FK_U64, cn_ml_snap_file, offset), F(FK_BYTES, cn_ml_snap_file, data), FEND};
DESC(d_ml_snap_file, cn_ml_snap_file);
static const struct field d_ml_snapshot_f[] = {F(FK_STR, cn_ml_snapshot, name), FEND};
DESC(d_ml_snapshot, cn_ml_snapshot);
static const struct field d_ml_snapshot_r_f[] = {F(FK_U64, cn_ml_snapshot_r, seq),
                                                 F(FK_BYTES, cn_ml_snapshot_r, fsid), FEND};
DESC(d_ml_snapshot_r, cn_ml_snapshot_r);
static const struct field d_ml_snap_end_f[] = {F(FK_U64, cn_ml_snap_end, seq),
                                               F(FK_U32, cn_ml_snap_end, files), FEND};
DESC(d_ml_snap_end, cn_ml_snap_end);
static const struct field d_json_r_f[] = {F(FK_BYTES, cn_json_r, json), FEND};
DESC(d_json_r, cn_json_r);

/* The catalog: every message type, its name and its description. */
static const struct {
    uint16_t type;
    const char *name;
    const struct desc *d;
} catalog[] = {
    {CN_MSG_HELLO, "HELLO", &d_hello},
    {CN_MSG_HELLO_R, "HELLO_R", &d_hello_r},
    {CN_MSG_ERROR, "ERROR", &d_error},
    {CN_MSG_PING, "PING", &d_ping},
    {CN_MSG_PING_R, "PING_R", &d_ping},
    {CN_MSG_CS_REGISTER, "CS_REGISTER", &d_cs_register},
    {CN_MSG_CS_REGISTER_R, "CS_REGISTER_R", &d_cs_register_r},
    {CN_MSG_CS_HEARTBEAT, "CS_HEARTBEAT", &d_cs_heartbeat},
    {CN_MSG_CS_CMD_DELETE_PART, "CS_CMD_DELETE_PART", &d_cs_delete_part},
    {CN_MSG_CS_CMD_DELETE_PART_R, "CS_CMD_DELETE_PART_R", &d_empty},
    {CN_MSG_CS_CMD_COPY_PART, "CS_CMD_COPY_PART", &d_cs_copy_part},
    {CN_MSG_CS_CMD_COPY_PART_R, "CS_CMD_COPY_PART_R", &d_empty},
    {CN_MSG_CS_CMD_DISK_MARK, "CS_CMD_DISK_MARK", &d_cs_disk_mark},
    {CN_MSG_CS_CMD_DISK_MARK_R, "CS_CMD_DISK_MARK_R", &d_empty},
    {CN_MSG_READ_BLOCK, "READ_BLOCK", &d_read_block},
    {CN_MSG_READ_BLOCK_R, "READ_BLOCK_R", &d_read_block_r},
    {CN_MSG_WRITE_BLOCK, "WRITE_BLOCK", &d_write_block},
    {CN_MSG_WRITE_BLOCK_R, "WRITE_BLOCK_R", &d_empty},
    {CN_MSG_COMMIT_PART, "COMMIT_PART", &d_commit_part},
    {CN_MSG_COMMIT_PART_R, "COMMIT_PART_R", &d_empty},
    {CN_MSG_LOOKUP, "LOOKUP", &d_name_req},
    {CN_MSG_LOOKUP_R, "LOOKUP_R", &d_attr_r},
    {CN_MSG_GETATTR, "GETATTR", &d_ino_req},
    {CN_MSG_GETATTR_R, "GETATTR_R", &d_attr_r},
    {CN_MSG_SETATTR, "SETATTR", &d_setattr},
    {CN_MSG_SETATTR_R, "SETATTR_R", &d_attr_r},
    {CN_MSG_MKNOD, "MKNOD", &d_mknod},
    {CN_MSG_MKNOD_R, "MKNOD_R", &d_attr_r},
    {CN_MSG_MKDIR, "MKDIR", &d_mkdir},
    {CN_MSG_MKDIR_R, "MKDIR_R", &d_attr_r},
    {CN_MSG_UNLINK, "UNLINK", &d_name_req},
    {CN_MSG_UNLINK_R, "UNLINK_R", &d_empty},
    {CN_MSG_RMDIR, "RMDIR", &d_name_req},
    {CN_MSG_RMDIR_R, "RMDIR_R", &d_empty},
    {CN_MSG_RENAME, "RENAME", &d_rename},
    {CN_MSG_RENAME_R, "RENAME_R", &d_empty},
    {CN_MSG_LINK, "LINK", &d_link},
    {CN_MSG_LINK_R, "LINK_R", &d_attr_r},
    {CN_MSG_SYMLINK, "SYMLINK", &d_symlink},
    {CN_MSG_SYMLINK_R, "SYMLINK_R", &d_attr_r},
    {CN_MSG_READLINK, "READLINK", &d_ino_req},
    {CN_MSG_READLINK_R, "READLINK_R", &d_readlink_r},
    {CN_MSG_READDIR, "READDIR", &d_readdir},
    {CN_MSG_READDIR_R, "READDIR_R", &d_readdir_r},
    {CN_MSG_STATFS, "STATFS", &d_empty},
    {CN_MSG_STATFS_R, "STATFS_R", &d_statfs_r},
    {CN_MSG_SETXATTR, "SETXATTR", &d_setxattr},
    {CN_MSG_SETXATTR_R, "SETXATTR_R", &d_empty},
    {CN_MSG_GETXATTR, "GETXATTR", &d_getxattr},
    {CN_MSG_GETXATTR_R, "GETXATTR_R", &d_xattr_r},
    {CN_MSG_LISTXATTR, "LISTXATTR", &d_listxattr},
    {CN_MSG_LISTXATTR_R, "LISTXATTR_R", &d_xattr_r},
    {CN_MSG_REMOVEXATTR, "REMOVEXATTR", &d_name_req},
    {CN_MSG_REMOVEXATTR_R, "REMOVEXATTR_R", &d_empty},
    {CN_MSG_OPEN, "OPEN", &d_open},
    {CN_MSG_OPEN_R, "OPEN_R", &d_attr_r},
    {CN_MSG_CHUNK_LOCATE, "CHUNK_LOCATE", &d_chunk_locate},
    {CN_MSG_CHUNK_LOCATE_R, "CHUNK_LOCATE_R", &d_chunk_locate_r},
    {CN_MSG_WRITE_BEGIN, "WRITE_BEGIN", &d_write_begin},
    {CN_MSG_WRITE_BEGIN_R, "WRITE_BEGIN_R", &d_write_begin_r},
    {CN_MSG_WRITE_END, "WRITE_END", &d_write_end},
    {CN_MSG_WRITE_END_R, "WRITE_END_R", &d_attr_r},
    {CN_MSG_TRUNCATE, "TRUNCATE", &d_truncate},
    {CN_MSG_TRUNCATE_R, "TRUNCATE_R", &d_attr_r},
    {CN_MSG_CREATE, "CREATE", &d_create},
    {CN_MSG_CREATE_R, "CREATE_R", &d_attr_r},
    {CN_MSG_RELEASE, "RELEASE", &d_ino_req},
    {CN_MSG_RELEASE_R, "RELEASE_R", &d_empty},
    {CN_MSG_REOPEN, "REOPEN", &d_reopen},
    {CN_MSG_REOPEN_R, "REOPEN_R", &d_empty},
    {CN_MSG_CREDS, "CREDS", &d_creds},
    {CN_MSG_CREDS_R, "CREDS_R", &d_empty},
    {CN_MSG_LOCK, "LOCK", &d_lock},
    {CN_MSG_LOCK_R, "LOCK_R", &d_empty},
    {CN_MSG_GETLK, "GETLK", &d_getlk},
    {CN_MSG_GETLK_R, "GETLK_R", &d_getlk_r},
    {CN_MSG_LOCK_CANCEL, "LOCK_CANCEL", &d_lock_cancel},
    {CN_MSG_LOCK_CANCEL_R, "LOCK_CANCEL_R", &d_empty},
    {CN_MSG_ADM_STATUS, "ADM_STATUS", &d_empty},
    {CN_MSG_ADM_STATUS_R, "ADM_STATUS_R", &d_json_r},
    {CN_MSG_ADM_SERVERS, "ADM_SERVERS", &d_empty},
    {CN_MSG_ADM_SERVERS_R, "ADM_SERVERS_R", &d_json_r},
    {CN_MSG_ADM_DISKS, "ADM_DISKS", &d_empty},
    {CN_MSG_ADM_DISKS_R, "ADM_DISKS_R", &d_json_r},
    {CN_MSG_ADM_INFO, "ADM_INFO", &d_path_req},
    {CN_MSG_ADM_INFO_R, "ADM_INFO_R", &d_json_r},
    {CN_MSG_ADM_MARK, "ADM_MARK", &d_adm_mark},
    {CN_MSG_ADM_MARK_R, "ADM_MARK_R", &d_json_r},
    {CN_MSG_ADM_FSCK, "ADM_FSCK", &d_adm_fsck},
    {CN_MSG_ADM_FSCK_R, "ADM_FSCK_R", &d_json_r},
    {CN_MSG_ADM_TRASH, "ADM_TRASH", &d_adm_trash},
    {CN_MSG_ADM_TRASH_R, "ADM_TRASH_R", &d_json_r},
    {CN_MSG_ADM_TRASHTIME, "ADM_TRASHTIME", &d_adm_trashtime},
    {CN_MSG_ADM_TRASHTIME_R, "ADM_TRASHTIME_R", &d_json_r},
    {CN_MSG_ADM_QUOTA, "ADM_QUOTA", &d_adm_quota},
    {CN_MSG_ADM_SNAPSHOT, "ADM_SNAPSHOT", &d_adm_snapshot},
    {CN_MSG_ADM_SNAPSHOT_R, "ADM_SNAPSHOT_R", &d_json_r},
    {CN_MSG_CS_CMD_DUP_PART, "CS_CMD_DUP_PART", &d_cs_dup_part},
    {CN_MSG_CS_CMD_DUP_PART_R, "CS_CMD_DUP_PART_R", &d_empty},
    {CN_MSG_ADM_QUOTA_R, "ADM_QUOTA_R", &d_json_r},
    {CN_MSG_ADM_CLASS, "ADM_CLASS", &d_adm_class},
    {CN_MSG_CS_CMD_REBUILD_PART, "CS_CMD_REBUILD_PART", &d_cs_rebuild_part},
    {CN_MSG_CS_CMD_REBUILD_PART_R, "CS_CMD_REBUILD_PART_R", &d_empty},
    {CN_MSG_CS_CMD_CONVERT, "CS_CMD_CONVERT", &d_cs_convert},
    {CN_MSG_CS_CMD_CONVERT_R, "CS_CMD_CONVERT_R", &d_empty},
    {CN_MSG_ADM_CLASS_R, "ADM_CLASS_R", &d_json_r},
    {CN_MSG_STATFS_DIR, "STATFS_DIR", &d_ino_req},
    {CN_MSG_STATFS_DIR_R, "STATFS_DIR_R", &d_statfs_r},
    {CN_MSG_ML_FOLLOW, "ML_FOLLOW", &d_ml_follow},
    {CN_MSG_ML_FOLLOW_R, "ML_FOLLOW_R", &d_ml_follow_r},
    {CN_MSG_ML_ENTRY, "ML_ENTRY", &d_ml_entry},
    {CN_MSG_ML_ACK, "ML_ACK", &d_ml_ack},
    {CN_MSG_ML_SNAP_FILE, "ML_SNAP_FILE", &d_ml_snap_file},
    {CN_MSG_ML_SNAP_END, "ML_SNAP_END", &d_ml_snap_end},
    {CN_MSG_ML_SNAPSHOT, "ML_SNAPSHOT", &d_ml_snapshot},
    {CN_MSG_CS_CMD_DISK_RESCAN, "CS_CMD_DISK_RESCAN", &d_empty},
    {CN_MSG_CS_CMD_DISK_RESCAN_R, "CS_CMD_DISK_RESCAN_R", &d_cs_disk_rescan_r},
    {CN_MSG_ADM_RESCAN, "ADM_RESCAN", &d_adm_rescan},
    {CN_MSG_ADM_RESCAN_R, "ADM_RESCAN_R", &d_json_r},
    {CN_MSG_ML_SNAPSHOT_R, "ML_SNAPSHOT_R", &d_ml_snapshot_r},
};
#define NCATALOG (sizeof(catalog) / sizeof(catalog[0]))

static int catalog_find(uint16_t type)
{
    for (size_t i = 0; i < NCATALOG; i++)
        if (catalog[i].type == type)
            return (int)i;
    return -1;
}

const char *cn_msg_name(uint16_t type)
{
    int i = catalog_find(type);
    return i < 0 ? NULL : catalog[i].name;
}

size_t cn_msg_struct_size(uint16_t type)
{
    int i = catalog_find(type);
    return i < 0 ? 0 : catalog[i].d->size;
}

size_t cn_msg_count(void)
{
    return NCATALOG;
}

uint16_t cn_msg_type_at(size_t i)
{
    return i < NCATALOG ? catalog[i].type : 0;
}

/* ---- the walker --------------------------------------------------------- */

#define AT(base, off, T)  ((T *)((char *)(base) + (off)))
#define CAT(base, off, T) ((const T *)((const char *)(base) + (off)))

/* Smallest encoding of one element of `d`: bounds array counts on decode. */
static size_t min_size(const struct desc *d)
{
    size_t n = 0;
    for (const struct field *f = d->f; f->kind != FK_END; f++) {
        switch (f->kind) {
        case FK_U8:
            n += 1;
            break;
        case FK_U16:
        case FK_STR:
            n += 2;
            break;
        case FK_U32:
        case FK_BYTES:
        case FK_ARRAY:
            n += 4;
            break;
        case FK_U64:
            n += 8;
            break;
        case FK_UUID:
            n += 16;
            break;
        case FK_STRUCT:
            n += min_size(f->elem);
            break;
        }
    }
    return n;
}

static void encode_fields(struct cn_buf *b, const struct desc *d, const void *m)
{
    for (const struct field *f = d->f; f->kind != FK_END && !b->err; f++) {
        switch (f->kind) {
        case FK_U8:
            cn_put_u8(b, *CAT(m, f->off, uint8_t));
            break;
        case FK_U16:
            cn_put_u16(b, *CAT(m, f->off, uint16_t));
            break;
        case FK_U32:
            cn_put_u32(b, *CAT(m, f->off, uint32_t));
            break;
        case FK_U64:
            cn_put_u64(b, *CAT(m, f->off, uint64_t));
            break;
        case FK_STR: {
            const struct cn_str *s = CAT(m, f->off, struct cn_str);
            cn_put_str(b, s->ptr, s->len);
            break;
        }
        case FK_BYTES: {
            const struct cn_bytes *s = CAT(m, f->off, struct cn_bytes);
            cn_put_bytes(b, s->ptr, s->len);
            break;
        }
        case FK_UUID:
            cn_put_raw(b, CAT(m, f->off, uint8_t), 16);
            break;
        case FK_STRUCT:
            encode_fields(b, f->elem, CAT(m, f->off, char));
            break;
        case FK_ARRAY: {
            const char *arr = *CAT(m, f->off, char *);
            uint32_t n = *CAT(m, f->cnt_off, uint32_t);
            cn_put_u32(b, n);
            for (uint32_t i = 0; i < n && !b->err; i++)
                encode_fields(b, f->elem, arr + (size_t)i * f->elem->size);
            break;
        }
        }
    }
}

static void free_fields(const struct desc *d, void *m)
{
    for (const struct field *f = d->f; f->kind != FK_END; f++) {
        if (f->kind != FK_ARRAY)
            continue;
        char **arr = AT(m, f->off, char *);
        uint32_t *n = AT(m, f->cnt_off, uint32_t);
        for (uint32_t i = 0; *arr && i < *n; i++)
            free_fields(f->elem, *arr + (size_t)i * f->elem->size);
        free(*arr);
        *arr = NULL;
        *n = 0;
    }
}

/* Decode into m (zeroed by the caller). Arrays are stored as soon as they are
 * allocated, with their full count of zeroed elements, so free_fields() can
 * always clean up after a failure. */
static int decode_fields(struct cn_rd *r, const struct desc *d, void *m)
{
    for (const struct field *f = d->f; f->kind != FK_END && !r->err; f++) {
        switch (f->kind) {
        case FK_U8:
            *AT(m, f->off, uint8_t) = cn_get_u8(r);
            break;
        case FK_U16:
            *AT(m, f->off, uint16_t) = cn_get_u16(r);
            break;
        case FK_U32:
            *AT(m, f->off, uint32_t) = cn_get_u32(r);
            break;
        case FK_U64:
            *AT(m, f->off, uint64_t) = cn_get_u64(r);
            break;
        case FK_STR:
            *AT(m, f->off, struct cn_str) = cn_get_str(r);
            break;
        case FK_BYTES:
            *AT(m, f->off, struct cn_bytes) = cn_get_bytes(r);
            break;
        case FK_UUID: {
            const uint8_t *p = cn_get_raw(r, 16);
            if (p)
                memcpy(AT(m, f->off, uint8_t), p, 16);
            break;
        }
        case FK_STRUCT: {
            int rc = decode_fields(r, f->elem, AT(m, f->off, char));
            if (rc)
                return rc;
            break;
        }
        case FK_ARRAY: {
            uint32_t n = cn_get_u32(r);
            if (r->err)
                break;
            /* A count whose smallest encoding exceeds the bytes left is a lie. */
            if ((uint64_t)n * min_size(f->elem) > cn_rd_left(r))
                return CN_EMALFORMED;
            if (n == 0)
                break;
            char *arr = calloc(n, f->elem->size);
            if (!arr)
                return -ENOMEM;
            *AT(m, f->off, char *) = arr;
            *AT(m, f->cnt_off, uint32_t) = n;
            for (uint32_t i = 0; i < n; i++) {
                int rc = decode_fields(r, f->elem, arr + (size_t)i * f->elem->size);
                if (rc)
                    return rc;
                if (r->err)
                    break;
            }
            break;
        }
        }
    }
    return r->err;
}

int cn_msg_encode(struct cn_buf *b, uint16_t type, const void *msg)
{
    int i = catalog_find(type);
    if (i < 0)
        return CN_EUNKNOWN;
    if (b->err)
        return b->err;
    size_t start = b->len;
    encode_fields(b, catalog[i].d, msg);
    int rc = b->err;
    if (!rc && b->len - start > CN_WIRE_MAX_PAYLOAD)
        rc = -EMSGSIZE;
    if (rc) {
        b->len = start;
        b->err = 0;
    }
    return rc;
}

int cn_msg_frame(struct cn_buf *b, uint16_t type, uint64_t req_id, const void *msg)
{
    if (b->err)
        return b->err;
    size_t start = b->len;
    if (cn_buf_reserve(b, CN_WIRE_HDR_SIZE)) {
        int rc = b->err;
        b->err = 0;
        return rc;
    }
    b->len += CN_WIRE_HDR_SIZE;
    int rc = cn_msg_encode(b, type, msg);
    if (rc) {
        b->len = start;
        return rc;
    }
    struct cn_frame_hdr h = {CN_WIRE_VERSION, 0, type, req_id,
                             (uint32_t)(b->len - start - CN_WIRE_HDR_SIZE)};
    cn_wire_hdr_pack(&h, b->data + start);
    return 0;
}

int cn_msg_decode(uint16_t type, const void *payload, size_t len, void *msg)
{
    int i = catalog_find(type);
    if (i < 0)
        return CN_EUNKNOWN;
    const struct desc *d = catalog[i].d;
    memset(msg, 0, d->size);
    if (len > CN_WIRE_MAX_PAYLOAD)
        return CN_EMALFORMED;
    struct cn_rd r = cn_rd_init(payload, len);
    int rc = decode_fields(&r, d, msg);
    if (!rc && cn_rd_left(&r) != 0)
        rc = CN_EMALFORMED; /* trailing bytes: no message has optional tails */
    if (rc)
        free_fields(d, msg);
    return rc;
}

void cn_msg_free(uint16_t type, void *msg)
{
    int i = catalog_find(type);
    if (i >= 0 && msg)
        free_fields(catalog[i].d, msg);
}

/* ---- test support (wire_int.h) ------------------------------------------ */

uint64_t cn_rand_next(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Printable text for strings (no NUL) and bytes. */
static const char sample_text[] =
    "The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ "
    "abcdefghijklmnopqrstuvwxyz -_.:/[]@#%^&*()+={}|<>?,!~ the end of the sample text...";

static int fill_fields(const struct desc *d, void *m, uint64_t *seed, int depth)
{
    for (const struct field *f = d->f; f->kind != FK_END; f++) {
        uint64_t r = cn_rand_next(seed);
        switch (f->kind) {
        case FK_U8:
            *AT(m, f->off, uint8_t) = (uint8_t)r;
            break;
        case FK_U16:
            *AT(m, f->off, uint16_t) = (uint16_t)r;
            break;
        case FK_U32:
            *AT(m, f->off, uint32_t) = (uint32_t)r;
            break;
        case FK_U64:
            *AT(m, f->off, uint64_t) = r;
            break;
        case FK_STR: {
            struct cn_str *s = AT(m, f->off, struct cn_str);
            s->len = (uint32_t)(r % 48);
            s->ptr = sample_text + (r >> 32) % (sizeof(sample_text) - 1 - s->len);
            break;
        }
        case FK_BYTES: {
            struct cn_bytes *s = AT(m, f->off, struct cn_bytes);
            s->len = (uint32_t)(r % 100);
            s->ptr = (const uint8_t *)sample_text + (r >> 32) % (sizeof(sample_text) - 1 - s->len);
            break;
        }
        case FK_UUID:
            for (int i = 0; i < 16; i++)
                AT(m, f->off, uint8_t)[i] = (uint8_t)(r >> (i * 4));
            break;
        case FK_STRUCT: {
            int rc = fill_fields(f->elem, AT(m, f->off, char), seed, depth);
            if (rc)
                return rc;
            break;
        }
        case FK_ARRAY: {
            uint32_t n = depth > 0 ? 0 : (uint32_t)(r % 5);
            if (n == 0)
                break;
            char *arr = calloc(n, f->elem->size);
            if (!arr)
                return -ENOMEM;
            *AT(m, f->off, char *) = arr;
            *AT(m, f->cnt_off, uint32_t) = n;
            for (uint32_t i = 0; i < n; i++) {
                int rc = fill_fields(f->elem, arr + (size_t)i * f->elem->size, seed, depth + 1);
                if (rc)
                    return rc;
            }
            break;
        }
        }
    }
    return 0;
}

int cn_msg_fill_random(uint16_t type, void *msg, uint64_t *seed)
{
    int i = catalog_find(type);
    if (i < 0)
        return CN_EUNKNOWN;
    memset(msg, 0, catalog[i].d->size);
    int rc = fill_fields(catalog[i].d, msg, seed, 0);
    if (rc)
        free_fields(catalog[i].d, msg);
    return rc;
}
