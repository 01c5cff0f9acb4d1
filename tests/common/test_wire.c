/*
 * test_wire.c - the wire codec: header layout and checks, golden bytes of a
 * few messages (pinning docs/protocol.md), round trips of every message in
 * the catalog, every truncation failing cleanly, garbage never crashing, and
 * the status/errno mapping. Randomised tests print their seed; set
 * CAIRN_TEST_SEED to replay one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ec.h"
#include "wire.h"
#include "wire_int.h"

static uint64_t test_seed(const char *test)
{
    const char *env = getenv("CAIRN_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
    if (!seed)
        seed = 1;
    fprintf(stderr, "%s: seed %llu (replay with CAIRN_TEST_SEED=%llu)\n", test,
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

/* Encode msg of type; returns the payload (caller releases). */
static struct cn_buf encode(uint16_t type, const void *msg)
{
    struct cn_buf b = {0};
    int rc = cn_msg_encode(&b, type, msg);
    cr_assert_eq(rc, 0, "encode %s: %s", cn_msg_name(type), cn_strerror(rc));
    return b;
}

Test(wire, header_layout_is_pinned, .description = "header bytes match docs/protocol.md")
{
    struct cn_frame_hdr h = {0, 0, CN_MSG_LOOKUP, 0x1122334455667788ull, 0x00010203};
    uint8_t b[CN_WIRE_HDR_SIZE];
    cn_wire_hdr_pack(&h, b);
    const uint8_t want[20] = {'C',  'A',  'R',  'N',  3,    0,    0x00, 0x03, 0x88, 0x77,
                              0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x03, 0x02, 0x01, 0x00};
    cr_assert_arr_eq(b, want, 20);
    uint32_t crc = ec_crc32c(0, b, 20);
    cr_assert_eq(b[20] | b[21] << 8 | b[22] << 16 | (uint32_t)b[23] << 24, crc);
    struct cn_frame_hdr g;
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), 0);
    cr_assert_eq(g.type, CN_MSG_LOOKUP);
    cr_assert_eq(g.req_id, 0x1122334455667788ull);
    cr_assert_eq(g.len, 0x00010203u);
    cr_assert_eq(g.version, CN_WIRE_VERSION);
}

/* Re-seal a modified header so only the field under test is wrong. */
static void reseal(uint8_t *b)
{
    uint32_t crc = ec_crc32c(0, b, CN_HDR_OFF_HDR_CRC);
    for (int i = 0; i < 4; i++)
        b[CN_HDR_OFF_HDR_CRC + i] = (uint8_t)(crc >> (8 * i));
}

Test(wire, header_errors_are_distinct, .description = "not-ours, version, CRC, size, flags")
{
    struct cn_frame_hdr h = {0, 0, CN_MSG_PING, 7, 8}, g;
    uint8_t b[CN_WIRE_HDR_SIZE];

    cn_wire_hdr_pack(&h, b);
    b[0] = 'X';
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_ENOTOURS);

    cn_wire_hdr_pack(&h, b);
    b[CN_HDR_OFF_VERSION] = CN_WIRE_VERSION + 1;
    reseal(b);
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_EVERSION);
    b[CN_HDR_OFF_VERSION] = CN_WIRE_VERSION_MIN - 1;
    reseal(b);
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_EVERSION);
    b[CN_HDR_OFF_VERSION] = 0;
    reseal(b);
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_EVERSION);

    cn_wire_hdr_pack(&h, b);
    b[CN_HDR_OFF_REQ_ID] ^= 1;
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_EHDRCRC);

    h.len = CN_WIRE_MAX_PAYLOAD;
    cn_wire_hdr_pack(&h, b);
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), 0);
    h.len = CN_WIRE_MAX_PAYLOAD + 1;
    cn_wire_hdr_pack(&h, b);
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_ETOOBIG);

    h.len = 0;
    h.flags = 0x80;
    cn_wire_hdr_pack(&h, b);
    cr_assert_eq(cn_wire_hdr_unpack(b, &g), CN_EMALFORMED);
}

Test(wire, golden_bytes, .description = "PING, LOOKUP, ERROR, attr encode as documented")
{
    struct cn_ping p = {0x0102030405060708ull};
    struct cn_buf b = encode(CN_MSG_PING, &p);
    const uint8_t ping[] = {8, 7, 6, 5, 4, 3, 2, 1};
    cr_assert_eq(b.len, sizeof(ping));
    cr_assert_arr_eq(b.data, ping, sizeof(ping));
    cn_buf_release(&b);

    struct cn_name_req l = {1, CN_STR("ab"), 1000, 100};
    b = encode(CN_MSG_LOOKUP, &l);
    const uint8_t lookup[] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 'a', 'b', 0xe8, 3, 0, 0, 100, 0, 0, 0};
    cr_assert_eq(b.len, sizeof(lookup));
    cr_assert_arr_eq(b.data, lookup, sizeof(lookup));
    cn_buf_release(&b);

    struct cn_error e = {CN_ST_ENOENT, CN_STR("no")};
    b = encode(CN_MSG_ERROR, &e);
    const uint8_t err[] = {2, 0, 2, 0, 'n', 'o'};
    cr_assert_eq(b.len, sizeof(err));
    cr_assert_arr_eq(b.data, err, sizeof(err));
    cn_buf_release(&b);

    struct cn_attr_r a = {{.ino = 5, .mode = 0100644, .atime = {-1, 999999999}}};
    b = encode(CN_MSG_GETATTR_R, &a);
    cr_assert_eq(b.len, CN_ATTR_WIRE_SIZE);
    cr_assert_eq(b.data[0], 5);
    cr_assert_eq(b.data[44], 0xff, "atime.sec at offset 44, two's complement");
    cr_assert_eq(b.data[52] | b.data[53] << 8 | b.data[54] << 16 | (uint32_t)b.data[55] << 24,
                 999999999u);
    struct cn_attr_r d;
    cr_assert_eq(cn_msg_decode(CN_MSG_GETATTR_R, b.data, b.len, &d), 0);
    cr_assert_eq(d.attr.atime.sec, -1);
    cr_assert_eq(d.attr.mode, 0100644u);
    cn_buf_release(&b);

    struct cn_buf f = {0};
    cr_assert_eq(cn_msg_frame(&f, CN_MSG_PING, 9, &p), 0);
    cr_assert_eq(f.len, CN_WIRE_HDR_SIZE + 8);
    struct cn_frame_hdr h;
    cr_assert_eq(cn_wire_hdr_unpack(f.data, &h), 0);
    cr_assert_eq(h.len, 8);
    cr_assert_eq(h.req_id, 9);
    cn_buf_release(&f);
}

Test(wire, lock_bytes, .description = "LOCK and GETLK_R encode as docs/protocol.md says")
{
    struct cn_lock l = {0x11, 0x22, 0x33, CN_LK_EOF, 0x44, 0x55, CN_LK_POSIX, CN_LK_WRLCK};
    struct cn_buf b = encode(CN_MSG_LOCK, &l);
    cr_assert_eq(b.len, 46);
    const size_t off[] = {0, 8, 16, 32, 40};
    const uint8_t val[] = {0x11, 0x22, 0x33, 0x44, 0x55};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(b.data[off[i]], val[i], "byte %zu: got 0x%02x", off[i], b.data[off[i]]);
    cr_assert_eq(b.data[24], 0xff, "end at offset 24");
    cr_assert_eq(b.data[31], 0x7f, "end = 2^63-1, little-endian");
    cr_assert_eq(b.data[44], CN_LK_POSIX);
    cr_assert_eq(b.data[45], CN_LK_WRLCK);
    cn_buf_release(&b);

    struct cn_getlk_r r = {CN_LK_RDLCK, 0x10, 0x20, 0x30, 0x40};
    b = encode(CN_MSG_GETLK_R, &r);
    cr_assert_eq(b.len, 29);
    cr_assert_eq(b.data[0], CN_LK_RDLCK);
    cr_assert_eq(b.data[1], 0x10);
    cr_assert_eq(b.data[9], 0x20);
    cr_assert_eq(b.data[17], 0x30);
    cr_assert_eq(b.data[21], 0x40);
    cn_buf_release(&b);

    struct cn_lock_cancel c = {7};
    b = encode(CN_MSG_LOCK_CANCEL, &c);
    cr_assert_eq(b.len, 8);
    cr_assert_eq(b.data[0], 7);
    cn_buf_release(&b);
    cr_assert_eq(CN_ST_EINTR, 27, "wire values never change");
    cr_assert_eq(CN_ST_ENOLCK, 28);
}

Test(wire, typed_round_trip, .description = "CS_REGISTER, WRITE_BLOCK, READDIR_R keep every field")
{
    struct cn_cs_disk disks[2] = {
        {.uuid = {1, 2, 3},
         .path = CN_STR("/dev/sdb"),
         .labels = CN_STR("ssd,fast"),
         .total = 1ull << 40,
         .used = 5,
         .free = (1ull << 40) - 5,
         .state = 2},
        {.uuid = {9}, .path = CN_STR("/srv/d2"), .labels = CN_STR(""), .total = 7}};
    struct cn_cs_part parts[1] = {{.chunk = 42, .version = 3, .part = 1, .disk = 1}};
    struct cn_cs_register r = {.cs_id = 77,
                               .name = CN_STR("cs1"),
                               .labels = CN_STR("hdd"),
                               .addr = CN_STR("10.0.0.1:9422"),
                               .disks = disks,
                               .ndisks = 2,
                               .parts = parts,
                               .nparts = 1};
    struct cn_buf b = encode(CN_MSG_CS_REGISTER, &r);
    struct cn_cs_register d;
    cr_assert_eq(cn_msg_decode(CN_MSG_CS_REGISTER, b.data, b.len, &d), 0);
    cr_assert_eq(d.cs_id, 77);
    cr_assert(cn_str_eq(d.addr, "10.0.0.1:9422"));
    cr_assert_eq(d.ndisks, 2);
    cr_assert(cn_str_eq(d.disks[0].labels, "ssd,fast"));
    cr_assert_eq(d.disks[0].uuid[2], 3);
    cr_assert_eq(d.disks[0].free, (1ull << 40) - 5);
    cr_assert_eq(d.disks[0].state, 2);
    cr_assert_eq(d.disks[1].labels.len, 0);
    cr_assert_eq(d.nparts, 1);
    cr_assert_eq(d.parts[0].chunk, 42);
    cr_assert_eq(d.parts[0].disk, 1);
    cn_msg_free(CN_MSG_CS_REGISTER, &d);
    cr_assert_null(d.disks);
    cn_buf_release(&b);

    static uint8_t data[1 << 20];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    struct cn_hop chain[2] = {{CN_STR("a:1")}, {CN_STR("[::1]:2")}};
    struct cn_write_block w = {.chunk = 1,
                               .version = 2,
                               .part = 3,
                               .block = 4,
                               .offset = 0,
                               .crc = ec_crc32c(0, data, sizeof(data)),
                               .chain = chain,
                               .nchain = 2,
                               .data = {data, sizeof(data)}};
    struct cn_buf f = {0};
    cr_assert_eq(cn_msg_frame(&f, CN_MSG_WRITE_BLOCK, 1, &w), 0, "a 1 MiB block fits a frame");
    struct cn_write_block wd;
    cr_assert_eq(
        cn_msg_decode(CN_MSG_WRITE_BLOCK, f.data + CN_WIRE_HDR_SIZE, f.len - CN_WIRE_HDR_SIZE, &wd),
        0);
    cr_assert_eq(wd.data.len, sizeof(data));
    cr_assert_eq(ec_crc32c(0, wd.data.ptr, wd.data.len), w.crc);
    cr_assert(cn_str_eq(wd.chain[1].addr, "[::1]:2"));
    cr_assert(wd.data.ptr + wd.data.len == f.data + f.len, "data is the raw tail of the frame");
    cn_msg_free(CN_MSG_WRITE_BLOCK, &wd);
    cn_buf_release(&f);

    struct cn_dirent ents[3] = {{CN_STR("."), 1, {.ino = 1}},
                                {CN_STR(".."), 2, {.ino = 1}},
                                {CN_STR("file"), 3, {.ino = 9, .size = 12345}}};
    struct cn_readdir_r rd = {.eof = 1, .entries = ents, .nentries = 3};
    b = encode(CN_MSG_READDIR_R, &rd);
    struct cn_readdir_r rdd;
    cr_assert_eq(cn_msg_decode(CN_MSG_READDIR_R, b.data, b.len, &rdd), 0);
    cr_assert_eq(rdd.nentries, 3);
    cr_assert(cn_str_eq(rdd.entries[2].name, "file"));
    cr_assert_eq(rdd.entries[2].attr.size, 12345);
    cr_assert_eq(rdd.entries[2].cookie, 3);
    cn_msg_free(CN_MSG_READDIR_R, &rdd);
    cn_buf_release(&b);
}

Test(wire, catalog_matches_structs, .description = "every type is named and sized as wire.h says")
{
#define CHECK(T, S)                                                                                \
    cr_assert_eq(cn_msg_struct_size(T), sizeof(struct S), "%s", #T);                               \
    cr_assert_not_null(cn_msg_name(T), "%s", #T);
    CN_MSG_STRUCTS(CHECK)
#undef CHECK
    size_t n = 0;
#define COUNT(T, S) n++;
    CN_MSG_STRUCTS(COUNT)
#undef COUNT
    cr_assert_eq(n, cn_msg_count());
    for (size_t i = 0; i < cn_msg_count(); i++) {
        uint16_t t = cn_msg_type_at(i);
        if (t != CN_MSG_ERROR && (t & CN_MSG_REPLY))
            cr_assert_not_null(cn_msg_name(t & ~CN_MSG_REPLY), "reply %s has a request",
                               cn_msg_name(t));
    }
    cr_assert_null(cn_msg_name(0x7777));
    uint8_t x[8] = {0};
    struct cn_ping p;
    cr_assert_eq(cn_msg_decode(0x7777, x, 8, &p), CN_EUNKNOWN);
}

/* Every message: random values survive encode -> decode -> encode
 * byte-identically; every strict prefix and one trailing byte fail cleanly. */
Test(wire, every_message_round_trips_and_truncates, .timeout = 60)
{
    uint64_t seed = test_seed("every_message_round_trips_and_truncates");
    for (size_t i = 0; i < cn_msg_count(); i++) {
        uint16_t t = cn_msg_type_at(i);
        size_t sz = cn_msg_struct_size(t);
        for (int iter = 0; iter < 20; iter++) {
            void *m = calloc(1, sz), *d = calloc(1, sz);
            cr_assert_eq(cn_msg_fill_random(t, m, &seed), 0);
            struct cn_buf b = encode(t, m);
            int rc = cn_msg_decode(t, b.data, b.len, d);
            cr_assert_eq(rc, 0, "%s: decode of own encoding: %s", cn_msg_name(t), cn_strerror(rc));
            struct cn_buf b2 = encode(t, d);
            cr_assert_eq(b2.len, b.len, "%s: re-encoded length", cn_msg_name(t));
            cr_assert(b.len == 0 || memcmp(b.data, b2.data, b.len) == 0, "%s: bytes differ",
                      cn_msg_name(t));
            cn_msg_free(t, d);
            /* Each prefix in its own exact-size allocation, so ASan sees any overread. */
            for (size_t cut = 0; cut < b.len; cut++) {
                uint8_t *p = malloc(cut ? cut : 1);
                memcpy(p, b.data, cut);
                rc = cn_msg_decode(t, p, cut, d);
                cr_assert_eq(rc, CN_EMALFORMED, "%s cut at %zu of %zu: got %d", cn_msg_name(t), cut,
                             b.len, rc);
                cn_msg_free(t, d);
                free(p);
            }
            cn_put_u8(&b, 0);
            rc = cn_msg_decode(t, b.data, b.len, d);
            cr_assert_eq(rc, CN_EMALFORMED, "%s with a trailing byte", cn_msg_name(t));
            cn_msg_free(t, d);
            cn_buf_release(&b);
            cn_buf_release(&b2);
            cn_msg_free(t, m);
            free(m);
            free(d);
        }
    }
}

Test(wire, decoder_rejects_lies, .description = "huge counts, long strings, NUL in strings")
{
    struct cn_buf b = {0};
    /* READDIR_R: eof, then a count of 2^32-1 entries in 4 bytes of payload */
    cn_put_u8(&b, 1);
    cn_put_u32(&b, 0xffffffffu);
    struct cn_readdir_r r;
    cr_assert_eq(cn_msg_decode(CN_MSG_READDIR_R, b.data, b.len, &r), CN_EMALFORMED);
    cn_buf_reset(&b);
    /* READLINK_R: string length over CN_WIRE_MAX_STR, with the bytes present */
    uint8_t big[CN_WIRE_MAX_STR + 1];
    memset(big, 'a', sizeof(big));
    cn_put_u16(&b, (uint16_t)sizeof(big));
    cn_put_raw(&b, big, sizeof(big));
    struct cn_readlink_r l;
    cr_assert_eq(cn_msg_decode(CN_MSG_READLINK_R, b.data, b.len, &l), CN_EMALFORMED);
    cn_buf_reset(&b);
    cn_put_str(&b, "a\0b", 3);
    cr_assert_eq(cn_msg_decode(CN_MSG_READLINK_R, b.data, b.len, &l), CN_EMALFORMED);
    cn_buf_reset(&b);
    /* a bytes length past the frame */
    cn_put_u32(&b, 1);
    cn_put_u32(&b, 100);
    struct cn_read_block_r rb;
    cr_assert_eq(cn_msg_decode(CN_MSG_READ_BLOCK_R, b.data, b.len, &rb), CN_EMALFORMED);
    /* encoder refuses what the decoder would refuse */
    cn_buf_reset(&b);
    struct cn_readlink_r too_long = {{(const char *)big, sizeof(big)}};
    cr_assert_eq(cn_msg_encode(&b, CN_MSG_READLINK_R, &too_long), -EMSGSIZE);
    cr_assert_eq(b.len, 0, "a failed encode leaves the buffer as it was");
    cr_assert_eq(b.err, 0);
    cn_buf_release(&b);
}

Test(wire, garbage_never_crashes, .timeout = 60)
{
    uint64_t seed = test_seed("garbage_never_crashes");
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = cn_rand_next(&seed) % 200;
        uint8_t *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            p[i] = (uint8_t)cn_rand_next(&seed);
        /* bias toward small counts and lengths so decoders get deep */
        if (len > 4 && (iter & 1))
            p[0] = p[1] = p[2] = p[3] = p[4] = 0;
        uint16_t t = cn_msg_type_at(cn_rand_next(&seed) % cn_msg_count());
        size_t sz = cn_msg_struct_size(t);
        void *m = calloc(1, sz);
        int rc = cn_msg_decode(t, p, len, m);
        cr_assert(rc == 0 || rc == CN_EMALFORMED, "%s: rc %d", cn_msg_name(t), rc);
        if (rc == 0) { /* the encoding is canonical: what decodes re-encodes identically */
            struct cn_buf b = encode(t, m);
            cr_assert_eq(b.len, len);
            cr_assert(len == 0 || memcmp(b.data, p, len) == 0);
            cn_buf_release(&b);
        }
        cn_msg_free(t, m);
        free(m);
        if (len >= CN_WIRE_HDR_SIZE) {
            struct cn_frame_hdr h;
            rc = cn_wire_hdr_unpack(p, &h);
            cr_assert_neq(rc, 0, "random bytes are not a valid header");
        }
        free(p);
    }
}

Test(wire, status_errno_mapping, .description = "stable codes, both directions, names")
{
    cr_assert_eq(CN_ST_ENOENT, 2, "wire values never change");
    cr_assert_eq(CN_ST_BAD_CRC, 101);
    const int errs[] = {EPERM,     ENOENT,  EIO,    EACCES, EEXIST,  EXDEV,     ENOTDIR,
                        EISDIR,    EINVAL,  EFBIG,  ENOSPC, EROFS,   EMLINK,    ENAMETOOLONG,
                        ENOTEMPTY, ENODATA, ERANGE, E2BIG,  ENOTSUP, ETIMEDOUT, EAGAIN,
                        ESTALE,    ENOMEM,  EBADF,  ELOOP,  EDQUOT,  EINTR,     ENOLCK};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        enum cn_status st = cn_status_from_errno(errs[i]);
        cr_assert_neq(st, CN_ST_OK);
        cr_assert_eq(cn_status_to_errno(st), errs[i], "errno %d -> %s -> %d", errs[i],
                     cn_status_name(st), cn_status_to_errno(st));
        cr_assert_eq(cn_status_from_errno(-errs[i]), st, "negative errno accepted");
        cr_assert_str_neq(cn_status_name(st), "UNKNOWN");
    }
    cr_assert_eq(cn_status_from_errno(0), CN_ST_OK);
    cr_assert_eq(cn_status_from_errno(EOPNOTSUPP), CN_ST_ENOTSUP);
    cr_assert_eq(cn_status_from_errno(ENOTSOCK), CN_ST_EIO, "unknown errno degrades to EIO");
    cr_assert_eq(cn_status_from_errno(CN_EMALFORMED), CN_ST_PROTOCOL);
    cr_assert_eq(cn_status_to_errno(CN_ST_BAD_CRC), EIO);
    cr_assert_eq(cn_status_to_errno(CN_ST_BAD_VERSION), ESTALE);
    cr_assert_eq(cn_status_to_errno(CN_ST_LEASE), EAGAIN);
    cr_assert_eq(cn_status_to_errno(9999), EIO);
    cr_assert_str_eq(cn_status_name(9999), "UNKNOWN");
    cr_assert_str_eq(cn_status_name(CN_ST_NO_SERVERS), "NO_SERVERS");
    cr_assert_str_eq(cn_strerror(CN_ENOTOURS), "not a Cairn peer (bad magic)");
    cr_assert_str_eq(cn_strerror(-ENOENT), "No such file or directory");
}

Test(wire, buffers_and_readers, .description = "sticky errors, bounds, growth")
{
    struct cn_buf b = {0};
    for (int i = 0; i < 1000; i++)
        cn_put_u64(&b, (uint64_t)i << 40);
    cr_assert_eq(b.len, 8000);
    struct cn_rd r = cn_rd_init(b.data, b.len);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(cn_get_u64(&r), (uint64_t)i << 40);
    cr_assert_eq(cn_rd_left(&r), 0);
    cr_assert_eq(r.err, 0);
    cr_assert_eq(cn_get_u8(&r), 0);
    cr_assert_eq(r.err, CN_EMALFORMED, "reading past the end is sticky");
    cr_assert_eq(cn_get_u32(&r), 0);
    cr_assert_null(cn_get_raw(&r, 0));
    cn_buf_release(&b);
    cr_assert_null(b.data);
}

Test(wire, version_negotiation, .description = "highest common version, or a clear refusal")
{
    uint16_t v = 0;
    cr_assert_eq(cn_wire_negotiate(CN_WIRE_VERSION, CN_WIRE_VERSION, &v), 0);
    cr_assert_eq(v, CN_WIRE_VERSION);
    cr_assert_eq(cn_wire_negotiate(CN_WIRE_VERSION_MIN, 9, &v), 0);
    cr_assert_eq(v, CN_WIRE_VERSION, "a newer peer falls back to ours");
    cr_assert_eq(cn_wire_negotiate(CN_WIRE_VERSION + 1, 9, &v), CN_EVERSION,
                 "a peer too new for us");
    cr_assert_eq(cn_wire_negotiate(0, CN_WIRE_VERSION_MIN - 1, &v), CN_EVERSION,
                 "a peer too old for us (version 1 before the EC data path)");
    cr_assert_eq(cn_wire_negotiate(3, 1, &v), CN_EVERSION, "an empty range");
}
