/*
 * wire.h - the Cairn wire protocol: frame header, status codes, every message.
 *
 * This is the one module that defines what travels between Cairn processes
 * (master, chunkservers, metaloggers, clients, the admin CLI). docs/protocol.md
 * documents the same thing byte by byte; a change here changes that page in
 * the same commit and, if incompatible, bumps CN_WIRE_VERSION.
 *
 * Decisions a reader must know:
 *  - A frame is a fixed 24-byte header (magic, version, flags, type, request
 *    id, payload length, header CRC32C) followed by `len` payload bytes. The
 *    header CRC exists because a flipped bit in the length field would
 *    desynchronise the stream silently; the payload is not checksummed as a
 *    whole: bulk block data carries its own CRC32C in the message's fixed
 *    fields (end to end, checked against the stored block CRC), and metadata
 *    payloads are validated field by field by the decoders.
 *  - Messages are described by a field table (wire.c) and encoded/decoded by
 *    one generic walker, so every message gets the same bounds checks and the
 *    tests and fuzzers can iterate the whole catalog. Encoding never writes a
 *    C struct; every integer is put little-endian explicitly.
 *  - Decoded strings and byte fields are borrowed slices into the payload
 *    buffer (zero copy, not NUL-terminated); arrays are allocated and released
 *    with cn_msg_free(). A reply has the request's type with CN_MSG_REPLY set
 *    and the request's id; any request may instead get CN_MSG_ERROR.
 *  - Status codes on the wire are enum cn_status, never raw errno values.
 *
 * Thread-safety: every function here is pure (no shared state) and may be
 * called from any thread.
 */
#ifndef CN_WIRE_H
#define CN_WIRE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* ---- frame header ---------------------------------------------------- */

#define CN_WIRE_MAGIC       0x4E524143u /* "CARN" in little-endian byte order */
#define CN_WIRE_VERSION     3u          /* the protocol version this code speaks */
#define CN_WIRE_VERSION_MIN 3u          /* the oldest version it still accepts */
#define CN_WIRE_HDR_SIZE    24u
/* Largest payload: a 1 MiB data payload plus fields fits with room to spare. */
#define CN_WIRE_MAX_PAYLOAD (4u << 20)
#define CN_WIRE_MAX_FRAME   (CN_WIRE_HDR_SIZE + CN_WIRE_MAX_PAYLOAD)
#define CN_WIRE_MAX_STR     4096u /* longest string field (a path or symlink target) */
#define CN_WIRE_NAME_MAX    255u  /* longest directory entry name */

/* Header byte offsets (docs/protocol.md "Frame header"). */
enum {
    CN_HDR_OFF_MAGIC = 0,    /* u32 CN_WIRE_MAGIC */
    CN_HDR_OFF_VERSION = 4,  /* u8 protocol version of this frame */
    CN_HDR_OFF_FLAGS = 5,    /* u8 flags, CN_WF_*; unknown bits are rejected */
    CN_HDR_OFF_TYPE = 6,     /* u16 message type, enum cn_msg_type */
    CN_HDR_OFF_REQ_ID = 8,   /* u64 request id, echoed by the reply */
    CN_HDR_OFF_LEN = 16,     /* u32 payload length, <= CN_WIRE_MAX_PAYLOAD */
    CN_HDR_OFF_HDR_CRC = 20, /* u32 CRC32C of bytes 0..19 */
};
static_assert(CN_HDR_OFF_HDR_CRC + 4 == CN_WIRE_HDR_SIZE, "header size");
static_assert(CN_HDR_OFF_REQ_ID % 8 == 0, "request id is naturally aligned");
static_assert(CN_HDR_OFF_LEN == CN_HDR_OFF_REQ_ID + 8, "header offsets");
static_assert(CN_WIRE_MAX_PAYLOAD >= (1u << 20) + 4096u, "a 1 MiB data payload must fit");

/* Frame flags. Version 1 defines none; a frame with any bit set is rejected
 * so a later version can give a bit a meaning old peers must not ignore. */
#define CN_WF_KNOWN 0x00u

/* The unpacked header. */
struct cn_frame_hdr {
    uint8_t version;
    uint8_t flags;
    uint16_t type;
    uint64_t req_id;
    uint32_t len;
};

/* Project error codes of common/ (errno values are returned negated). */
enum {
    CN_ENOTOURS = -1101,   /* bad magic: the peer does not speak Cairn */
    CN_EVERSION = -1102,   /* a Cairn frame of an unsupported protocol version */
    CN_EHDRCRC = -1103,    /* header CRC mismatch: stream corrupt or desynchronised */
    CN_ETOOBIG = -1104,    /* payload length over CN_WIRE_MAX_PAYLOAD */
    CN_EMALFORMED = -1105, /* payload does not decode as its message type */
    CN_EUNKNOWN = -1106,   /* message type not in this catalog */
};

/* Name of any error returned by a cn_ function: -errno or CN_E* (static
 * string or a thread-local buffer; any thread). */
const char *cn_strerror(int err);

/* Write the 24 header bytes for `h` into `out` (h->version is ignored and
 * CN_WIRE_VERSION written). Any thread. */
void cn_wire_hdr_pack(const struct cn_frame_hdr *h, uint8_t out[CN_WIRE_HDR_SIZE]);

/* Parse and check the header in `in` (at least CN_WIRE_HDR_SIZE bytes):
 * 0, CN_ENOTOURS, CN_EVERSION, CN_EHDRCRC, CN_ETOOBIG or CN_EMALFORMED
 * (unknown flags). Magic is checked before the CRC so "not ours" stays
 * distinguishable from "corrupt". Any thread. */
int cn_wire_hdr_unpack(const uint8_t *in, struct cn_frame_hdr *h);

/* Pick the protocol version for a peer that speaks peer_min..peer_max: the
 * highest version both sides speak. 0 with *out set, or CN_EVERSION when the
 * ranges do not overlap (reply ERROR(UNSUPPORTED) and close). Any thread. */
int cn_wire_negotiate(uint16_t peer_min, uint16_t peer_max, uint16_t *out);

/* ---- status codes (stable: values never change meaning) -------------- */

enum cn_status {
    CN_ST_OK = 0,
    CN_ST_EPERM = 1,
    CN_ST_ENOENT = 2,
    CN_ST_EIO = 3,
    CN_ST_EACCES = 4,
    CN_ST_EEXIST = 5,
    CN_ST_EXDEV = 6,
    CN_ST_ENOTDIR = 7,
    CN_ST_EISDIR = 8,
    CN_ST_EINVAL = 9,
    CN_ST_EFBIG = 10,
    CN_ST_ENOSPC = 11,
    CN_ST_EROFS = 12,
    CN_ST_EMLINK = 13,
    CN_ST_ENAMETOOLONG = 14,
    CN_ST_ENOTEMPTY = 15,
    CN_ST_ENODATA = 16, /* no such xattr */
    CN_ST_ERANGE = 17,
    CN_ST_E2BIG = 18,
    CN_ST_ENOTSUP = 19,
    CN_ST_ETIMEDOUT = 20,
    CN_ST_EAGAIN = 21, /* busy, retry (e.g. chunk locked by another writer) */
    CN_ST_ESTALE = 22,
    CN_ST_ENOMEM = 23,
    CN_ST_EBADF = 24,
    CN_ST_ELOOP = 25,
    CN_ST_EDQUOT = 26,
    CN_ST_EINTR = 27,  /* a waiting request was cancelled (LOCK_CANCEL) */
    CN_ST_ENOLCK = 28, /* lock table full for this session */
    /* Cairn-specific conditions; mapped to the nearest errno for callers. */
    CN_ST_BAD_VERSION = 100, /* chunk/part version mismatch -> ESTALE */
    CN_ST_BAD_CRC = 101,     /* data CRC mismatch -> EIO */
    CN_ST_NO_SERVERS = 102,  /* not enough chunkservers for the layout -> ENOSPC */
    CN_ST_LEASE = 103,       /* write lease missing, expired or held by another -> EAGAIN */
    CN_ST_NO_CHUNK = 104,    /* chunk or part not found -> ENOENT */
    CN_ST_PROTOCOL = 105,    /* malformed or unexpected message -> EPROTO */
    CN_ST_AUTH = 106,        /* handshake authentication failed -> EACCES */
    CN_ST_UNSUPPORTED = 107, /* message type or protocol version unknown -> ENOTSUP */
    CN_ST_SHUTDOWN = 108,    /* peer is shutting down -> EAGAIN */
};

/* errno (positive or negative) -> status; unknown errno -> CN_ST_EIO. */
enum cn_status cn_status_from_errno(int err);
/* status -> positive errno; unknown status -> EIO. */
int cn_status_to_errno(uint16_t st);
/* "ENOENT", "BAD_CRC", ...; "UNKNOWN" for values outside the enum. */
const char *cn_status_name(uint16_t st);

/* ---- byte slices ------------------------------------------------------ */

/* Borrowed bytes: a decoded string or byte field points into the payload it
 * was decoded from and lives as long as that buffer. Strings are not
 * NUL-terminated (print with "%.*s", (int)s.len, s.ptr). */
struct cn_str {
    const char *ptr;
    uint32_t len;
};
struct cn_bytes {
    const uint8_t *ptr;
    uint32_t len;
};
#define CN_STR(lit) ((struct cn_str){(lit), (uint32_t)(sizeof(lit) - 1)})
/* A cn_str over a NUL-terminated string (borrowed; NULL gives an empty one). */
struct cn_str cn_str_of(const char *s);
/* 1 if s equals the NUL-terminated c. */
int cn_str_eq(struct cn_str s, const char *c);

/* Growing writer. Starts zeroed ({0}); a failed allocation or an oversized
 * put sets a sticky `err` (-ENOMEM / -EMSGSIZE) and later puts do nothing.
 * Caller releases with cn_buf_release(). One thread at a time. */
struct cn_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err;
};
void cn_buf_release(struct cn_buf *b);
void cn_buf_reset(struct cn_buf *b); /* len = 0, err = 0, memory kept */
int cn_buf_reserve(struct cn_buf *b, size_t extra);
void cn_put_u8(struct cn_buf *b, uint8_t v);
void cn_put_u16(struct cn_buf *b, uint16_t v);
void cn_put_u32(struct cn_buf *b, uint32_t v);
void cn_put_u64(struct cn_buf *b, uint64_t v);
void cn_put_raw(struct cn_buf *b, const void *p, size_t n);
/* u16 length + bytes; -EMSGSIZE (sticky) when n > CN_WIRE_MAX_STR. */
void cn_put_str(struct cn_buf *b, const char *p, size_t n);
/* u32 length + bytes. */
void cn_put_bytes(struct cn_buf *b, const void *p, size_t n);

/* Bounds-checked reader over borrowed bytes. Every get checks the remaining
 * length first; on a short read it sets the sticky `err` (CN_EMALFORMED),
 * returns 0 / an empty slice, and every later get fails too, so a decoder
 * may read all fields and check `err` once. */
struct cn_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err;
};
static inline struct cn_rd cn_rd_init(const void *p, size_t len)
{
    struct cn_rd r = {(const uint8_t *)p, len, 0, 0};
    return r;
}
static inline size_t cn_rd_left(const struct cn_rd *r)
{
    return r->err ? 0 : r->len - r->off;
}
uint8_t cn_get_u8(struct cn_rd *r);
uint16_t cn_get_u16(struct cn_rd *r);
uint32_t cn_get_u32(struct cn_rd *r);
uint64_t cn_get_u64(struct cn_rd *r);
const uint8_t *cn_get_raw(struct cn_rd *r, size_t n); /* NULL on error */
/* u16 length + bytes, length <= CN_WIRE_MAX_STR, no NUL byte inside. */
struct cn_str cn_get_str(struct cn_rd *r);
/* u32 length + bytes. */
struct cn_bytes cn_get_bytes(struct cn_rd *r);

/* ---- message catalog -------------------------------------------------- */

/* Set in the type of every reply: reply type = request type | CN_MSG_REPLY. */
#define CN_MSG_REPLY 0x8000u

/* Roles announced in HELLO. */
enum cn_role {
    CN_ROLE_CLIENT = 1,
    CN_ROLE_CHUNKSERVER = 2,
    CN_ROLE_METALOGGER = 3,
    CN_ROLE_ADMIN = 4,
    CN_ROLE_MASTER = 5, /* master -> chunkserver command connections, later */
};

/*
 * Every message. "A -> B" is the direction; fields are listed in wire order
 * (docs/protocol.md gives the bytes). str = u16 length + bytes, bytes = u32
 * length + bytes, T[] = u32 count + elements. Unless noted, a reply to a
 * request is either its _R message or ERROR with the same request id.
 */
enum cn_msg_type {
    /* -- session (any connection) -- */
    CN_MSG_HELLO = 0x0001,   /* peer -> server: role u8, ver_min u16, ver_max u16,
                                name str, nonce bytes, auth bytes. First frame. */
    CN_MSG_HELLO_R = 0x8001, /* server -> peer: version u16 (chosen), session u64,
                                name str, nonce bytes (challenge, later) */
    CN_MSG_ERROR = 0x8000,   /* any -> any, reply to any request: status u16, text str */
    CN_MSG_PING = 0x0002,    /* any -> any: token u64 */
    CN_MSG_PING_R = 0x8002,  /* PONG: token u64 (echoed) */

    /* -- chunkserver <-> master -- */
    CN_MSG_CS_REGISTER = 0x0100,        /* cs -> master: cs_id u64 (0 = new), name str, labels str,
                                           addr str (host:port for clients), disks cs_disk[],
                                           parts cs_part[] */
    CN_MSG_CS_REGISTER_R = 0x8100,      /* master -> cs: cs_id u64, heartbeat_ms u32 */
    CN_MSG_CS_HEARTBEAT = 0x0101,       /* cs -> master: disks cs_disk[] (space now),
                                           changed cs_part[] (since last heartbeat); no reply */
    CN_MSG_CS_CMD_DELETE_PART = 0x0102, /* master -> cs: chunk u64, version u64, part u16;
                                       reply: empty _R or ERROR */
    CN_MSG_CS_CMD_DELETE_PART_R = 0x8102,
    CN_MSG_CS_CMD_COPY_PART = 0x0103, /* master -> cs: chunk u64, version u64, part u16,
                                     src_addr str, src_part u16, size u64 (committed length
                                     of the part); reply: empty _R or ERROR */
    CN_MSG_CS_CMD_COPY_PART_R = 0x8103,
    CN_MSG_CS_CMD_DUP_PART = 0x0105,   /* master -> cs: chunk u64, version u64, part u16, new_chunk
                                          u64: duplicate the committed part locally under
                                          new_chunk (a snapshot's copy-on-write) */
    CN_MSG_CS_CMD_DUP_PART_R = 0x8105, /* empty (ERROR NO_CHUNK/ESTALE if not held so) */
    CN_MSG_CS_CMD_REBUILD_PART = 0x0106,   /* master -> cs: chunk u64, version u64, part u16,
                                              k u8, m u8, length u64, srcs {addr str, part u16}[] */
    CN_MSG_CS_CMD_REBUILD_PART_R = 0x8106, /* empty */
    CN_MSG_CS_CMD_CONVERT = 0x0107,        /* master -> cs: chunk u64, version u64, length u64,
                                              new_chunk u64, k u8, m u8, srcs[], targets[] */
    CN_MSG_CS_CMD_CONVERT_R = 0x8107,      /* empty: every part of new_chunk committed */
    CN_MSG_CS_CMD_DISK_MARK = 0x0104,      /* master -> cs: uuid (16 bytes), leaving u8
                                              (1: no new parts on this disk); reply: empty _R */
    CN_MSG_CS_CMD_DISK_MARK_R = 0x8104,
    CN_MSG_CS_CMD_DISK_RESCAN = 0x0108,   /* master -> cs: empty: reopen every disk that is
                                             missing or failed to open (`cairn disk rescan`) */
    CN_MSG_CS_CMD_DISK_RESCAN_R = 0x8108, /* reopened u32 (disks back), closed u32 (disks still
                                             missing or failed), sent once every try ended */

    /* -- data path: client or chunkserver -> chunkserver -- */
    CN_MSG_READ_BLOCK = 0x0200,    /* chunk u64, version u64, part u16, block u32,
                                      offset u32, length u32 (within the block) */
    CN_MSG_READ_BLOCK_R = 0x8200,  /* crc u32 (CRC32C of data), data bytes (last) */
    CN_MSG_WRITE_BLOCK = 0x0201,   /* chunk u64, version u64, part u16, block u32, offset u32,
                                      crc u32 (CRC32C of data), chain str[] (next hops),
                                      data bytes (last) */
    CN_MSG_WRITE_BLOCK_R = 0x8201, /* empty: durable on this server and all of the chain */
    CN_MSG_COMMIT_PART = 0x0202,   /* chunk u64, version u64, part u16, size u64,
                                      chain str[]; makes `version` readable */
    CN_MSG_COMMIT_PART_R = 0x8202, /* empty */

    /* -- client -> master: metadata. uid/gid are the caller's credentials. -- */
    CN_MSG_LOOKUP = 0x0300,        /* parent u64, name str, uid u32, gid u32 */
    CN_MSG_LOOKUP_R = 0x8300,      /* attr */
    CN_MSG_GETATTR = 0x0301,       /* ino u64 */
    CN_MSG_GETATTR_R = 0x8301,     /* attr */
    CN_MSG_SETATTR = 0x0302,       /* ino u64, valid u32 (CN_SETATTR_*), mode u32, uid u32,
                                      gid u32, size u64, atime ts, mtime ts, cuid u32, cgid u32 */
    CN_MSG_SETATTR_R = 0x8302,     /* attr */
    CN_MSG_MKNOD = 0x0303,         /* parent u64, name str, mode u32 (type bits included:
                                      S_IFREG = create), rdev u32, uid u32, gid u32,
                                      umask u32 (applied unless the parent has a
                                      default ACL) */
    CN_MSG_MKNOD_R = 0x8303,       /* attr */
    CN_MSG_MKDIR = 0x0304,         /* parent u64, name str, mode u32, uid u32, gid u32,
                                      umask u32 */
    CN_MSG_MKDIR_R = 0x8304,       /* attr */
    CN_MSG_UNLINK = 0x0305,        /* parent u64, name str, uid u32, gid u32 */
    CN_MSG_UNLINK_R = 0x8305,      /* empty */
    CN_MSG_RMDIR = 0x0306,         /* parent u64, name str, uid u32, gid u32 */
    CN_MSG_RMDIR_R = 0x8306,       /* empty */
    CN_MSG_RENAME = 0x0307,        /* parent u64, name str, newparent u64, newname str,
                                      flags u32 (RENAME_NOREPLACE/EXCHANGE), uid u32, gid u32 */
    CN_MSG_RENAME_R = 0x8307,      /* empty */
    CN_MSG_LINK = 0x0308,          /* ino u64, newparent u64, newname str, uid u32, gid u32 */
    CN_MSG_LINK_R = 0x8308,        /* attr */
    CN_MSG_SYMLINK = 0x0309,       /* parent u64, name str, target str, uid u32, gid u32 */
    CN_MSG_SYMLINK_R = 0x8309,     /* attr */
    CN_MSG_READLINK = 0x030A,      /* ino u64 */
    CN_MSG_READLINK_R = 0x830A,    /* target str */
    CN_MSG_READDIR = 0x030B,       /* ino u64, cookie u64 (0 = start), max u32, uid u32, gid u32 */
    CN_MSG_READDIR_R = 0x830B,     /* eof u8, entries dirent[] */
    CN_MSG_STATFS = 0x030C,        /* empty */
    CN_MSG_STATFS_DIR = 0x031A,    /* ino u64: statfs seen from a directory: a directory under a
                                      quota sees the quota as its size */
    CN_MSG_STATFS_DIR_R = 0x831A,  /* as STATFS_R */
    CN_MSG_STATFS_R = 0x830C,      /* total u64, free u64, avail u64 (bytes), files u64,
                                      ffree u64, bsize u32, namemax u32 */
    CN_MSG_SETXATTR = 0x030D,      /* ino u64, name str, value bytes, flags u32, uid u32, gid u32 */
    CN_MSG_SETXATTR_R = 0x830D,    /* empty */
    CN_MSG_GETXATTR = 0x030E,      /* ino u64, name str, size u32 (0 = ask the size), uid, gid */
    CN_MSG_GETXATTR_R = 0x830E,    /* size u32, value bytes (empty when asked for the size) */
    CN_MSG_LISTXATTR = 0x030F,     /* ino u64, size u32, uid u32, gid u32 */
    CN_MSG_LISTXATTR_R = 0x830F,   /* size u32, names bytes (NUL-separated) */
    CN_MSG_REMOVEXATTR = 0x0310,   /* ino u64, name str, uid u32, gid u32 */
    CN_MSG_REMOVEXATTR_R = 0x8310, /* empty */
    CN_MSG_OPEN = 0x0311,          /* ino u64, flags u32 (O_*), uid u32, gid u32 */
    CN_MSG_OPEN_R = 0x8311,        /* attr */
    CN_MSG_CHUNK_LOCATE = 0x0312,  /* ino u64, index u32 (chunk number in the file) */
    CN_MSG_CHUNK_LOCATE_R = 0x8312, /* chunk u64 (0 = hole), version u64, file_size u64,
                                       locs loc[] */
    CN_MSG_WRITE_BEGIN = 0x0313,    /* ino u64, index u32, uid u32, gid u32 */
    CN_MSG_WRITE_BEGIN_R = 0x8313,  /* chunk u64, version u64 (new), lease u64, lease_ms u32,
                                       locs loc[] (write chain, in order) */
    CN_MSG_WRITE_END = 0x0314,      /* ino u64, index u32, chunk u64, version u64, lease u64,
                                       size u64 (new file length), status u16 (OK = commit,
                                       else roll back) */
    CN_MSG_WRITE_END_R = 0x8314,    /* attr */
    CN_MSG_TRUNCATE = 0x0315,       /* ino u64, size u64, uid u32, gid u32 */
    CN_MSG_TRUNCATE_R = 0x8315,     /* attr */
    CN_MSG_CREATE = 0x0316,         /* parent u64, name str, mode u32, flags u32 (O_*), uid u32,
                                       gid u32, umask u32: MKNOD of a regular file and OPEN
                                       in one trip */
    CN_MSG_CREATE_R = 0x8316,       /* attr */
    CN_MSG_RELEASE = 0x0317,        /* ino u64: one open handle of the inode was closed */
    CN_MSG_RELEASE_R = 0x8317,      /* empty */
    CN_MSG_REOPEN = 0x0318,         /* inos ino_req[]: the handles this client has open, one
                                       entry per handle (sent first after a reconnect) */
    CN_MSG_REOPEN_R = 0x8318,       /* empty */
    CN_MSG_CREDS = 0x0319,          /* slot u32 (< CN_CREDS_SLOTS), uid u32, groups gid[]
                                       (<= CN_CREDS_GROUPS): the supplementary groups of uid
                                       for this session's later requests (docs/master.md) */
    CN_MSG_CREDS_R = 0x8319,        /* empty */

    /* -- client -> master: file locks (master/locks.c; soft state). A lock
       belongs to (session, owner); kind CN_LK_POSIX or CN_LK_FLOCK, the two
       kinds never conflict with each other. end is inclusive; "to the end of
       the file" is 2^63-1. -- */
    CN_MSG_LOCK = 0x0320,          /* ino u64, owner u64, start u64, end u64, wait_id u64 (0 =
                                      do not wait), pid u32, kind u8, type u8 (CN_LK_UNLCK/
                                      RDLCK/WRLCK). Conflict: ERROR(EAGAIN) at once, or with a
                                      wait_id the reply is held until granted or cancelled
                                      (ERROR(EINTR)). */
    CN_MSG_LOCK_R = 0x8320,        /* empty: granted (or unlocked) */
    CN_MSG_GETLK = 0x0321,         /* ino u64, owner u64, start u64, end u64, pid u32,
                                      kind u8, type u8 */
    CN_MSG_GETLK_R = 0x8321,       /* type u8 (CN_LK_UNLCK: no conflict), start u64, end u64,
                                      pid u32, session u64 of a conflicting lock */
    CN_MSG_LOCK_CANCEL = 0x0322,   /* wait_id u64: the held LOCK with this wait_id gets
                                      ERROR(EINTR); nothing if none waits */
    CN_MSG_LOCK_CANCEL_R = 0x8322, /* empty */

    /* -- admin -> master; every reply is json: bytes (UTF-8 JSON object) -- */
    CN_MSG_ADM_STATUS = 0x0400,      /* empty */
    CN_MSG_ADM_STATUS_R = 0x8400,    /* json */
    CN_MSG_ADM_SERVERS = 0x0401,     /* empty */
    CN_MSG_ADM_SERVERS_R = 0x8401,   /* json */
    CN_MSG_ADM_DISKS = 0x0402,       /* empty */
    CN_MSG_ADM_DISKS_R = 0x8402,     /* json */
    CN_MSG_ADM_INFO = 0x0403,        /* path str (inside the file system) */
    CN_MSG_ADM_INFO_R = 0x8403,      /* json */
    CN_MSG_ADM_MARK = 0x0404,        /* server str, disk str ("" = the whole server),
                                        leaving u8 (1 remove, 0 keep) */
    CN_MSG_ADM_MARK_R = 0x8404,      /* json */
    CN_MSG_ADM_FSCK = 0x0405,        /* repair u8 (admin role): metadata fsck */
    CN_MSG_ADM_FSCK_R = 0x8405,      /* json */
    CN_MSG_ADM_TRASH = 0x0406,       /* op u8 (1 ls, 2 restore, 3 purge), id u64, path str (ls:
                                        pattern; restore: original path), to str, all u8 */
    CN_MSG_ADM_TRASH_R = 0x8406,     /* json */
    CN_MSG_ADM_TRASHTIME = 0x0407,   /* path str, op u8 (0 get, 1 set, 2 clear), seconds u64,
                                        recursive u8 */
    CN_MSG_ADM_TRASHTIME_R = 0x8407, /* json */
    CN_MSG_ADM_QUOTA = 0x0408,       /* op u8 (1 set, 2 get, 3 rm, 4 ls), path str, hard_bytes
                                        u64, soft_bytes u64, hard_inodes u64, soft_inodes u64,
                                        grace_s u32 (0 = no limit) */
    CN_MSG_ADM_QUOTA_R = 0x8408,     /* json */
    CN_MSG_ADM_SNAPSHOT = 0x0409,    /* src str, dst str (paths inside the file system) */
    CN_MSG_ADM_SNAPSHOT_R = 0x8409,  /* json */
    CN_MSG_ADM_CLASS = 0x040A,       /* op u8 (1 add, 2 ls, 3 show, 4 edit, 5 rm, 6 set, 7 get),
                                        name str, path str, recursive u8, create/keep/archive/trash
                                        SPEC str ("" not given, "-" unset on edit) */
    CN_MSG_ADM_CLASS_R = 0x840A,     /* json */
    CN_MSG_ADM_RESCAN = 0x040B,      /* server str ("" = every online chunkserver): forward
                                        CS_CMD_DISK_RESCAN (admin role) */
    CN_MSG_ADM_RESCAN_R = 0x840B,    /* json: the servers asked */

    /* -- metalogger <-> master (the chunkserver port; docs/protocol.md) -- */
    CN_MSG_ML_FOLLOW = 0x0500,     /* ml -> master: name str, fsid bytes (0 or 16), seq u64 (last
                                      entry applied, 0 = none), epoch u64 (its history) */
    CN_MSG_ML_FOLLOW_R = 0x8500,   /* mode u8 (0 entries follow from seq + 1, 1 a snapshot
                                      follows), seq u64 (master's last entry), fsid bytes (16),
                                      epoch u64, prev_epoch u64, epoch_start u64 */
    CN_MSG_ML_ENTRY = 0x0501,      /* master -> ml, no reply: seq u64, time_ms u64, total u32
                                      (batch bytes), offset u32, data bytes (a piece of the batch) */
    CN_MSG_ML_ACK = 0x0502,        /* ml -> master, no reply: seq u64 (durably applied) */
    CN_MSG_ML_SNAP_FILE = 0x0503,  /* master -> ml, no reply: name str, size u64, offset u64,
                                      data bytes (a piece of one checkpoint file) */
    CN_MSG_ML_SNAP_END = 0x0504,   /* master -> ml, no reply: seq u64, files u32 */
    CN_MSG_ML_SNAPSHOT = 0x0505,   /* online dump -> master: name str: one checkpoint
                                      (ML_SNAP_FILE..., ML_SNAP_END), nothing after */
    CN_MSG_ML_SNAPSHOT_R = 0x8505, /* seq u64 (the entry it holds), fsid bytes (16) */
};

/* ---- message structs --------------------------------------------------- */

struct cn_ts {
    int64_t sec;
    uint32_t nsec;
};

/* File attributes, encoded once (80 bytes) wherever a message says "attr". */
struct cn_attr {
    uint64_t ino;
    uint32_t mode; /* S_IF* type bits | permission bits */
    uint32_t uid;
    uint32_t gid;
    uint32_t nlink;
    uint32_t rdev;
    uint64_t size;
    uint64_t blocks; /* 512-byte units */
    struct cn_ts atime, mtime, ctime;
};
#define CN_ATTR_WIRE_SIZE 80u

struct cn_hello {
    uint8_t role; /* enum cn_role */
    uint16_t ver_min, ver_max;
    struct cn_str name; /* free text: host/daemon name and software version */
    struct cn_bytes nonce;
    struct cn_bytes auth;
};
struct cn_hello_r {
    uint16_t version;
    uint64_t session;
    struct cn_str name;
    struct cn_bytes nonce;
};
struct cn_error {
    uint16_t status; /* enum cn_status */
    struct cn_str text;
};
struct cn_ping {
    uint64_t token;
};
struct cn_empty {
    uint8_t unused; /* C needs a member; nothing is encoded */
};

struct cn_cs_disk {
    uint8_t uuid[16];
    struct cn_str path;
    struct cn_str labels; /* comma-separated */
    uint64_t total, used, free;
    uint8_t state; /* enum cn_disk_state */
};
/* A disk's state in cs_disk (docs/protocol.md). */
enum cn_disk_state {
    CN_DISK_OK = 0,
    CN_DISK_READONLY = 1, /* its logstore refused writes (broken) */
    CN_DISK_DRAINING = 2, /* '*' in the chunkserver's DISKS */
    CN_DISK_FAILED = 3,   /* did not open at start-up, and has not opened since */
    CN_DISK_MISSING = 4,  /* was open, then vanished (path gone or replaced, or I/O errors) */
};
struct cn_cs_part {
    uint64_t chunk;
    uint64_t version;
    uint16_t part;
    uint16_t disk;  /* index into the register message's disks */
    uint8_t status; /* 0 present, 1 gone, 2 bad CRC, 3 uncommitted only (register) */
};
struct cn_cs_register {
    uint64_t cs_id;
    struct cn_str name, labels, addr;
    struct cn_cs_disk *disks;
    uint32_t ndisks;
    struct cn_cs_part *parts;
    uint32_t nparts;
};
struct cn_cs_register_r {
    uint64_t cs_id;
    uint32_t heartbeat_ms;
};
struct cn_cs_heartbeat {
    struct cn_cs_disk *disks;
    uint32_t ndisks;
    struct cn_cs_part *changed;
    uint32_t nchanged;
};
struct cn_cs_delete_part {
    uint64_t chunk, version;
    uint16_t part;
};
/* Write flags (WRITE_BLOCK, WRITE_BEGIN_R, CS_CMD_COPY/REBUILD/CONVERT):
 * how the receiving chunkserver stores the blocks. */
#define CN_WF_COMPRESS 0x01 /* zstd-compress each block when that saves space */

struct cn_cs_copy_part {
    uint64_t chunk, version;
    uint16_t part;
    struct cn_str src_addr;
    uint16_t src_part;
    uint64_t size;
    uint8_t flags; /* CN_WF_* for the copy written here */
};
struct cn_cs_disk_mark {
    uint8_t uuid[16];
    uint8_t leaving;
};

/* One hop of a write chain: an address "host:port". */
struct cn_hop {
    struct cn_str addr;
};
struct cn_read_block {
    uint64_t chunk, version;
    uint16_t part;
    uint32_t block, offset, length;
};
struct cn_read_block_r {
    uint32_t crc;
    struct cn_bytes data;
};
struct cn_write_block {
    uint64_t chunk, version;
    uint16_t part;
    uint32_t block, offset, crc;
    uint8_t flags; /* CN_WF_*; forwarded along the chain */
    struct cn_hop *chain;
    uint32_t nchain;
    struct cn_bytes data; /* the raw tail of the frame */
};
struct cn_commit_part {
    uint64_t chunk, version;
    uint16_t part;
    uint64_t size;
    struct cn_hop *chain;
    uint32_t nchain;
};

struct cn_name_req { /* LOOKUP, UNLINK, RMDIR, REMOVEXATTR (parent = ino) */
    uint64_t parent;
    struct cn_str name;
    uint32_t uid, gid;
};
struct cn_ino_req { /* GETATTR, READLINK */
    uint64_t ino;
};
struct cn_attr_r { /* every reply that is just attributes */
    struct cn_attr attr;
};
#define CN_SETATTR_MODE      0x01u
#define CN_SETATTR_UID       0x02u
#define CN_SETATTR_GID       0x04u
#define CN_SETATTR_SIZE      0x08u
#define CN_SETATTR_ATIME     0x10u
#define CN_SETATTR_MTIME     0x20u
#define CN_SETATTR_ATIME_NOW 0x40u
#define CN_SETATTR_MTIME_NOW 0x80u
struct cn_setattr {
    uint64_t ino;
    uint32_t valid;
    uint32_t mode, uid, gid;
    uint64_t size;
    struct cn_ts atime, mtime;
    uint32_t cuid, cgid; /* caller */
};
struct cn_mknod {
    uint64_t parent;
    struct cn_str name;
    uint32_t mode, rdev, uid, gid, umask;
};
struct cn_mkdir {
    uint64_t parent;
    struct cn_str name;
    uint32_t mode, uid, gid, umask;
};
struct cn_rename {
    uint64_t parent;
    struct cn_str name;
    uint64_t newparent;
    struct cn_str newname;
    uint32_t flags, uid, gid;
};
struct cn_link {
    uint64_t ino, newparent;
    struct cn_str newname;
    uint32_t uid, gid;
};
struct cn_symlink {
    uint64_t parent;
    struct cn_str name, target;
    uint32_t uid, gid;
};
struct cn_readlink_r {
    struct cn_str target;
};
struct cn_readdir {
    uint64_t ino, cookie;
    uint32_t max, uid, gid;
};
struct cn_dirent {
    struct cn_str name;
    uint64_t cookie; /* pass back to continue after this entry */
    struct cn_attr attr;
};
struct cn_readdir_r {
    uint8_t eof;
    struct cn_dirent *entries;
    uint32_t nentries;
};
struct cn_statfs_r {
    uint64_t total, free, avail, files, ffree;
    uint32_t bsize, namemax;
};
struct cn_setxattr {
    uint64_t ino;
    struct cn_str name;
    struct cn_bytes value;
    uint32_t flags, uid, gid;
};
struct cn_getxattr {
    uint64_t ino;
    struct cn_str name;
    uint32_t size, uid, gid;
};
struct cn_xattr_r { /* GETXATTR_R, LISTXATTR_R */
    uint32_t size;
    struct cn_bytes value;
};
struct cn_listxattr {
    uint64_t ino;
    uint32_t size, uid, gid;
};
struct cn_open {
    uint64_t ino;
    uint32_t flags, uid, gid;
};
struct cn_chunk_locate {
    uint64_t ino;
    uint32_t index;
};
/* Where one part of a chunk is. */
struct cn_loc {
    uint64_t cs_id;
    struct cn_str addr; /* host:port of the chunkserver */
    uint16_t part;
    struct cn_str labels;
};
struct cn_chunk_locate_r {
    uint64_t chunk, version, file_size;
    struct cn_loc *locs;
    uint32_t nlocs;
    uint8_t ec_k, ec_m; /* the chunk's layout: ec=K+M, or 0, 0 for copies */
};
struct cn_write_begin {
    uint64_t ino;
    uint32_t index, uid, gid;
};
struct cn_write_begin_r {
    uint64_t chunk, version, lease;
    uint32_t lease_ms;
    struct cn_loc *locs;
    uint32_t nlocs;
    uint8_t ec_k, ec_m; /* ec=K+M: locs hold part 0..K+M-1, one each; 0, 0: copies (a chain) */
    uint8_t flags;      /* CN_WF_* to put in every WRITE_BLOCK */
};
struct cn_write_end {
    uint64_t ino;
    uint32_t index;
    uint64_t chunk, version, lease, size;
    uint16_t status;
};
struct cn_create {
    uint64_t parent;
    struct cn_str name;
    uint32_t mode, flags, uid, gid, umask;
};
struct cn_truncate {
    uint64_t ino, size;
    uint32_t uid, gid;
};
struct cn_reopen { /* REOPEN */
    struct cn_ino_req *inos;
    uint32_t ninos;
};
#define CN_CREDS_SLOTS  64u /* CREDS: uids a session may describe at once */
#define CN_CREDS_GROUPS 32u /* CREDS: supplementary groups kept per uid */
struct cn_gid {
    uint32_t gid;
};
struct cn_creds { /* CREDS */
    uint32_t slot, uid;
    struct cn_gid *groups;
    uint32_t ngroups;
};
#define CN_LK_POSIX 1u /* fcntl byte-range lock, owner = the process (FUSE lock_owner) */
#define CN_LK_FLOCK 2u /* flock(2) whole-file lock, owner = the open file */
#define CN_LK_UNLCK 0u
#define CN_LK_RDLCK 1u                    /* shared */
#define CN_LK_WRLCK 2u                    /* exclusive */
#define CN_LK_EOF   0x7FFFFFFFFFFFFFFFull /* end of a lock "to the end of the file" */

struct cn_lock { /* LOCK */
    uint64_t ino, owner, start, end, wait_id;
    uint32_t pid;
    uint8_t kind, type;
};
struct cn_getlk { /* GETLK */
    uint64_t ino, owner, start, end;
    uint32_t pid;
    uint8_t kind, type;
};
struct cn_getlk_r {
    uint8_t type;
    uint64_t start, end;
    uint32_t pid;
    uint64_t session;
};
struct cn_lock_cancel {
    uint64_t wait_id;
};
struct cn_path_req { /* ADM_INFO */
    struct cn_str path;
};
struct cn_adm_mark { /* ADM_MARK */
    struct cn_str server, disk;
    uint8_t leaving;
};
struct cn_ml_follow { /* ML_FOLLOW */
    struct cn_str name;
    struct cn_bytes fsid;
    uint64_t seq, epoch;
};
struct cn_ml_follow_r { /* ML_FOLLOW_R */
    uint8_t mode;
    uint64_t seq;
    struct cn_bytes fsid;
    uint64_t epoch, prev_epoch, epoch_start;
};
struct cn_ml_entry { /* ML_ENTRY */
    uint64_t seq, time_ms;
    uint32_t total, offset;
    struct cn_bytes data;
};
struct cn_ml_ack { /* ML_ACK */
    uint64_t seq;
};
struct cn_ml_snap_file { /* ML_SNAP_FILE */
    struct cn_str name;
    uint64_t size, offset;
    struct cn_bytes data;
};
struct cn_ml_snapshot { /* ML_SNAPSHOT */
    struct cn_str name;
};
struct cn_ml_snapshot_r { /* ML_SNAPSHOT_R */
    uint64_t seq;
    struct cn_bytes fsid;
};
struct cn_ml_snap_end { /* ML_SNAP_END */
    uint64_t seq;
    uint32_t files;
};
struct cn_adm_trash { /* ADM_TRASH */
    uint8_t op;
    uint64_t id;
    struct cn_str path, to;
    uint8_t all;
};
struct cn_adm_trashtime { /* ADM_TRASHTIME */
    struct cn_str path;
    uint8_t op;
    uint64_t seconds;
    uint8_t recursive;
};
struct cn_cs_dup_part { /* CS_CMD_DUP_PART */
    uint64_t chunk, version;
    uint16_t part;
    uint64_t new_chunk;
};
struct cn_adm_snapshot { /* ADM_SNAPSHOT */
    struct cn_str src, dst;
};
struct cn_adm_quota { /* ADM_QUOTA */
    uint8_t op;
    struct cn_str path;
    uint64_t hard_bytes, soft_bytes, hard_inodes, soft_inodes;
    uint32_t grace_s;
};
struct cn_cs_src {
    struct cn_str addr;
    uint16_t part;
};
struct cn_cs_rebuild_part { /* CS_CMD_REBUILD_PART */
    uint64_t chunk, version;
    uint16_t part; /* rebuilt here */
    uint8_t k, m;
    uint64_t length; /* the chunk's committed length */
    struct cn_cs_src *srcs;
    uint32_t nsrcs;
    uint8_t flags; /* CN_WF_* for the part written here */
};
#define CN_CONVERT_COPIES_MAX 16     /* CS_CMD_CONVERT decode: most copies written */
struct cn_cs_convert {               /* CS_CMD_CONVERT */
    uint64_t chunk, version, length; /* the replicated chunk (read from srcs, part 0) */
    uint64_t new_chunk;              /* written as ec=K+M, version 1: part i on targets[i] */
    uint8_t k, m;
    struct cn_cs_src *srcs;
    uint32_t nsrcs;
    struct cn_cs_src *targets;
    uint32_t ntargets;
    uint8_t flags;  /* CN_WF_* for the parts' WRITE_BLOCKs */
    uint8_t decode; /* 1: the reverse: the ec=K+M chunk (srcs: its parts) is written
                       as copies of new_chunk (part 0, version 1) on every target */
};
struct cn_adm_class { /* ADM_CLASS */
    uint8_t op;
    struct cn_str name, path;
    uint8_t recursive;
    struct cn_str spec[4]; /* create, keep, archive, trash */
};
struct cn_adm_rescan { /* ADM_RESCAN */
    struct cn_str server;
};
struct cn_cs_disk_rescan_r { /* CS_CMD_DISK_RESCAN_R */
    uint32_t reopened, closed;
};
struct cn_adm_fsck { /* ADM_FSCK */
    uint8_t repair;
};
struct cn_json_r { /* every ADM_*_R */
    struct cn_bytes json;
};

/* Type -> C struct, for the typed wrappers below and for tests. */
#define CN_MSG_STRUCTS(X)                                                                          \
    X(CN_MSG_HELLO, cn_hello)                                                                      \
    X(CN_MSG_HELLO_R, cn_hello_r)                                                                  \
    X(CN_MSG_ERROR, cn_error)                                                                      \
    X(CN_MSG_PING, cn_ping)                                                                        \
    X(CN_MSG_PING_R, cn_ping)                                                                      \
    X(CN_MSG_CS_REGISTER, cn_cs_register)                                                          \
    X(CN_MSG_CS_REGISTER_R, cn_cs_register_r)                                                      \
    X(CN_MSG_CS_HEARTBEAT, cn_cs_heartbeat)                                                        \
    X(CN_MSG_CS_CMD_DELETE_PART, cn_cs_delete_part)                                                \
    X(CN_MSG_CS_CMD_DELETE_PART_R, cn_empty)                                                       \
    X(CN_MSG_CS_CMD_COPY_PART, cn_cs_copy_part)                                                    \
    X(CN_MSG_CS_CMD_COPY_PART_R, cn_empty)                                                         \
    X(CN_MSG_CS_CMD_DISK_MARK, cn_cs_disk_mark)                                                    \
    X(CN_MSG_CS_CMD_DISK_MARK_R, cn_empty)                                                         \
    X(CN_MSG_READ_BLOCK, cn_read_block)                                                            \
    X(CN_MSG_READ_BLOCK_R, cn_read_block_r)                                                        \
    X(CN_MSG_WRITE_BLOCK, cn_write_block)                                                          \
    X(CN_MSG_WRITE_BLOCK_R, cn_empty)                                                              \
    X(CN_MSG_COMMIT_PART, cn_commit_part)                                                          \
    X(CN_MSG_COMMIT_PART_R, cn_empty)                                                              \
    X(CN_MSG_LOOKUP, cn_name_req)                                                                  \
    X(CN_MSG_LOOKUP_R, cn_attr_r)                                                                  \
    X(CN_MSG_GETATTR, cn_ino_req)                                                                  \
    X(CN_MSG_GETATTR_R, cn_attr_r)                                                                 \
    X(CN_MSG_SETATTR, cn_setattr)                                                                  \
    X(CN_MSG_SETATTR_R, cn_attr_r)                                                                 \
    X(CN_MSG_MKNOD, cn_mknod)                                                                      \
    X(CN_MSG_MKNOD_R, cn_attr_r)                                                                   \
    X(CN_MSG_MKDIR, cn_mkdir)                                                                      \
    X(CN_MSG_MKDIR_R, cn_attr_r)                                                                   \
    X(CN_MSG_UNLINK, cn_name_req)                                                                  \
    X(CN_MSG_UNLINK_R, cn_empty)                                                                   \
    X(CN_MSG_RMDIR, cn_name_req)                                                                   \
    X(CN_MSG_RMDIR_R, cn_empty)                                                                    \
    X(CN_MSG_RENAME, cn_rename)                                                                    \
    X(CN_MSG_RENAME_R, cn_empty)                                                                   \
    X(CN_MSG_LINK, cn_link)                                                                        \
    X(CN_MSG_LINK_R, cn_attr_r)                                                                    \
    X(CN_MSG_SYMLINK, cn_symlink)                                                                  \
    X(CN_MSG_SYMLINK_R, cn_attr_r)                                                                 \
    X(CN_MSG_READLINK, cn_ino_req)                                                                 \
    X(CN_MSG_READLINK_R, cn_readlink_r)                                                            \
    X(CN_MSG_READDIR, cn_readdir)                                                                  \
    X(CN_MSG_READDIR_R, cn_readdir_r)                                                              \
    X(CN_MSG_STATFS, cn_empty)                                                                     \
    X(CN_MSG_STATFS_R, cn_statfs_r)                                                                \
    X(CN_MSG_SETXATTR, cn_setxattr)                                                                \
    X(CN_MSG_SETXATTR_R, cn_empty)                                                                 \
    X(CN_MSG_GETXATTR, cn_getxattr)                                                                \
    X(CN_MSG_GETXATTR_R, cn_xattr_r)                                                               \
    X(CN_MSG_LISTXATTR, cn_listxattr)                                                              \
    X(CN_MSG_LISTXATTR_R, cn_xattr_r)                                                              \
    X(CN_MSG_REMOVEXATTR, cn_name_req)                                                             \
    X(CN_MSG_REMOVEXATTR_R, cn_empty)                                                              \
    X(CN_MSG_OPEN, cn_open)                                                                        \
    X(CN_MSG_OPEN_R, cn_attr_r)                                                                    \
    X(CN_MSG_CHUNK_LOCATE, cn_chunk_locate)                                                        \
    X(CN_MSG_CHUNK_LOCATE_R, cn_chunk_locate_r)                                                    \
    X(CN_MSG_WRITE_BEGIN, cn_write_begin)                                                          \
    X(CN_MSG_WRITE_BEGIN_R, cn_write_begin_r)                                                      \
    X(CN_MSG_WRITE_END, cn_write_end)                                                              \
    X(CN_MSG_WRITE_END_R, cn_attr_r)                                                               \
    X(CN_MSG_TRUNCATE, cn_truncate)                                                                \
    X(CN_MSG_TRUNCATE_R, cn_attr_r)                                                                \
    X(CN_MSG_CREATE, cn_create)                                                                    \
    X(CN_MSG_CREATE_R, cn_attr_r)                                                                  \
    X(CN_MSG_RELEASE, cn_ino_req)                                                                  \
    X(CN_MSG_RELEASE_R, cn_empty)                                                                  \
    X(CN_MSG_REOPEN, cn_reopen)                                                                    \
    X(CN_MSG_REOPEN_R, cn_empty)                                                                   \
    X(CN_MSG_CREDS, cn_creds)                                                                      \
    X(CN_MSG_CREDS_R, cn_empty)                                                                    \
    X(CN_MSG_LOCK, cn_lock)                                                                        \
    X(CN_MSG_LOCK_R, cn_empty)                                                                     \
    X(CN_MSG_GETLK, cn_getlk)                                                                      \
    X(CN_MSG_GETLK_R, cn_getlk_r)                                                                  \
    X(CN_MSG_LOCK_CANCEL, cn_lock_cancel)                                                          \
    X(CN_MSG_LOCK_CANCEL_R, cn_empty)                                                              \
    X(CN_MSG_ADM_STATUS, cn_empty)                                                                 \
    X(CN_MSG_ADM_STATUS_R, cn_json_r)                                                              \
    X(CN_MSG_ADM_SERVERS, cn_empty)                                                                \
    X(CN_MSG_ADM_SERVERS_R, cn_json_r)                                                             \
    X(CN_MSG_ADM_DISKS, cn_empty)                                                                  \
    X(CN_MSG_ADM_DISKS_R, cn_json_r)                                                               \
    X(CN_MSG_ADM_INFO, cn_path_req)                                                                \
    X(CN_MSG_ADM_INFO_R, cn_json_r)                                                                \
    X(CN_MSG_ADM_MARK, cn_adm_mark)                                                                \
    X(CN_MSG_ADM_MARK_R, cn_json_r)                                                                \
    X(CN_MSG_ADM_FSCK, cn_adm_fsck)                                                                \
    X(CN_MSG_ADM_FSCK_R, cn_json_r)                                                                \
    X(CN_MSG_ADM_TRASH, cn_adm_trash)                                                              \
    X(CN_MSG_ADM_TRASH_R, cn_json_r)                                                               \
    X(CN_MSG_ADM_TRASHTIME, cn_adm_trashtime)                                                      \
    X(CN_MSG_ADM_TRASHTIME_R, cn_json_r)                                                           \
    X(CN_MSG_ADM_QUOTA, cn_adm_quota)                                                              \
    X(CN_MSG_ADM_CLASS, cn_adm_class)                                                              \
    X(CN_MSG_CS_CMD_REBUILD_PART, cn_cs_rebuild_part)                                              \
    X(CN_MSG_CS_CMD_REBUILD_PART_R, cn_empty)                                                      \
    X(CN_MSG_CS_CMD_CONVERT, cn_cs_convert)                                                        \
    X(CN_MSG_CS_CMD_CONVERT_R, cn_empty)                                                           \
    X(CN_MSG_ADM_CLASS_R, cn_json_r)                                                               \
    X(CN_MSG_ADM_SNAPSHOT, cn_adm_snapshot)                                                        \
    X(CN_MSG_ADM_SNAPSHOT_R, cn_json_r)                                                            \
    X(CN_MSG_CS_CMD_DUP_PART, cn_cs_dup_part)                                                      \
    X(CN_MSG_CS_CMD_DUP_PART_R, cn_empty)                                                          \
    X(CN_MSG_ADM_QUOTA_R, cn_json_r)                                                               \
    X(CN_MSG_STATFS_DIR, cn_ino_req)                                                               \
    X(CN_MSG_STATFS_DIR_R, cn_statfs_r)                                                            \
    X(CN_MSG_ML_FOLLOW, cn_ml_follow)                                                              \
    X(CN_MSG_ML_FOLLOW_R, cn_ml_follow_r)                                                          \
    X(CN_MSG_ML_ENTRY, cn_ml_entry)                                                                \
    X(CN_MSG_ML_ACK, cn_ml_ack)                                                                    \
    X(CN_MSG_ML_SNAP_FILE, cn_ml_snap_file)                                                        \
    X(CN_MSG_ML_SNAP_END, cn_ml_snap_end)                                                          \
    X(CN_MSG_ML_SNAPSHOT, cn_ml_snapshot)                                                          \
    X(CN_MSG_ML_SNAPSHOT_R, cn_ml_snapshot_r)                                                      \
    X(CN_MSG_CS_CMD_DISK_RESCAN, cn_empty)                                                         \
    X(CN_MSG_CS_CMD_DISK_RESCAN_R, cn_cs_disk_rescan_r)                                            \
    X(CN_MSG_ADM_RESCAN, cn_adm_rescan)                                                            \
    X(CN_MSG_ADM_RESCAN_R, cn_json_r)

/* ---- encode / decode --------------------------------------------------- */

/* Name of a message type ("LOOKUP", "LOOKUP_R"), or NULL if not in the catalog. */
const char *cn_msg_name(uint16_t type);
/* sizeof the C struct of `type`, 0 if unknown (tests, generic callers). */
size_t cn_msg_struct_size(uint16_t type);
/* The i-th message type of the catalog, for i < cn_msg_count(). */
size_t cn_msg_count(void);
uint16_t cn_msg_type_at(size_t i);

/* Append the payload of `msg` (a struct of `type`, borrowed for the call) to
 * `b`. 0, CN_EUNKNOWN, -EMSGSIZE (a string over CN_WIRE_MAX_STR or a payload
 * over CN_WIRE_MAX_PAYLOAD) or -ENOMEM. On error `b` keeps its old length. */
int cn_msg_encode(struct cn_buf *b, uint16_t type, const void *msg);

/* Append a whole frame (header + payload) to `b`. Same errors. */
int cn_msg_frame(struct cn_buf *b, uint16_t type, uint64_t req_id, const void *msg);

/* Decode `len` bytes of payload into `msg` (a struct of `type`, zeroed
 * first). Slices in `msg` borrow from `payload`; arrays are allocated and the
 * caller releases them with cn_msg_free() (also after an error: safe).
 * 0, CN_EUNKNOWN, CN_EMALFORMED (short, overlong, bad count or string,
 * trailing bytes) or -ENOMEM. Never reads outside payload[0..len). */
int cn_msg_decode(uint16_t type, const void *payload, size_t len, void *msg);

/* Release the arrays cn_msg_decode() allocated in `msg`; fields are zeroed. */
void cn_msg_free(uint16_t type, void *msg);

#endif
