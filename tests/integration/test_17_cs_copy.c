/*
 * test_17_cs_copy.c - the chunkserver's master commands CS_CMD_COPY_PART and
 * CS_CMD_DISK_MARK (chunkserver/replicate.c, master_conn.c) through real
 * cairn-chunkserver processes on loopback.
 *
 * The test plays the master: it listens on a loopback port, accepts the
 * chunkserver's connection, answers HELLO and CS_REGISTER, and then sends
 * commands on that connection, collecting the heartbeats that arrive in
 * between. Source servers get a dead MASTER (port 1) and are written
 * through their data port. Decisions cited are those at the top of
 * chunkserver/replicate.c. Uses itest.h for the work dir, spawning and
 * cleanup by PID.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include "itest.h"
#include "ec.h"
#include "logstore.h"

#define BLK LS_BLOCK_MAX

/* ---- servers -------------------------------------------------------------- */

static uint16_t port_of[4];

/* Format the disks and start it.extra[k] (csK) with MASTER at master_port
 * (1: nobody). ndisks disks of size_mb each. Returns the data port. */
static uint16_t start_cs(int k, uint16_t master_port, int ndisks, unsigned size_mb)
{
    char disks[600] = "", cfg[160], line[256], err[256];
    for (int d = 0; d < ndisks; d++) {
        char path[160];
        snprintf(path, sizeof(path), "%s/cs%d-d%d.img", it.dir, k, d);
        struct ls_format_opts o = {0};
        o.size = (uint64_t)size_mb << 20;
        o.segment_bytes = 1u << 20;
        cr_assert_eq(ls_format(path, &o, err, sizeof(err)), 0, "%s", err);
        size_t n = strlen(disks);
        snprintf(disks + n, sizeof(disks) - n, "%s%s", d ? ", " : "", path);
    }
    snprintf(cfg, sizeof(cfg), "%s/cs%d.cfg", it.dir, k);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "NAME = cs%d\nLISTEN = 127.0.0.1:0\nMASTER = 127.0.0.1:%u\nDISKS = %s\n"
            "SCRUB_RATE_MBPS = 0\nLOG_LEVEL = debug\n",
            k, master_port, disks);
    fclose(f);
    char *argv[] = {CAIRN_CS_BIN, "-c", cfg, NULL};
    char name[16];
    snprintf(name, sizeof(name), "cs%d", k);
    it.extra[k].pid = it_spawn(argv, name, &it.extra[k].out_fd);
    int rc = it_read_line(it.extra[k].out_fd, "ready ", line, sizeof(line), IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "cs%d not ready: %s (see %s/cs%d.err)", k, cn_strerror(rc), it.dir, k);
    unsigned p;
    cr_assert_eq(sscanf(line, "ready data_port=%u", &p), 1, "%s", line);
    port_of[k] = (uint16_t)p;
    return (uint16_t)p;
}

/* ---- the test as the master ------------------------------------------------ */

#define MAX_SEEN 256

struct fake_master {
    int lfd, fd;
    uint16_t port;
    struct cn_buf buf;
    /* from CS_REGISTER */
    uint8_t uuid[4][16];
    uint32_t ndisks;
    uint8_t disk_state[4];
    uint64_t disk_used[4];
    /* parts reported in heartbeats since the last fm_forget() */
    struct cn_cs_part seen[MAX_SEEN];
    size_t nseen;
    unsigned beats;
};

static struct fake_master fm;

static void fm_listen(void)
{
    fm.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fm.lfd, 0);
    struct sockaddr_in a = {0};
    socklen_t l = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fm.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fm.lfd, 4), 0);
    getsockname(fm.lfd, (struct sockaddr *)&a, &l);
    fm.port = ntohs(a.sin_port);
    fm.fd = -1;
}

static void fm_send(uint16_t type, uint64_t req_id, const void *msg)
{
    struct cn_buf b = {0};
    cr_assert_eq(cn_msg_frame(&b, type, req_id, msg), 0);
    cr_assert_eq(cn_sock_send(fm.fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
}

static void fm_heartbeat(const uint8_t *payload, uint32_t len)
{
    struct cn_cs_heartbeat hb;
    cr_assert_eq(cn_msg_decode(CN_MSG_CS_HEARTBEAT, payload, len, &hb), 0);
    for (uint32_t i = 0; i < hb.nchanged && fm.nseen < MAX_SEEN; i++)
        fm.seen[fm.nseen++] = hb.changed[i];
    for (uint32_t i = 0; i < hb.ndisks && i < 4; i++) {
        fm.disk_state[i] = hb.disks[i].state;
        fm.disk_used[i] = hb.disks[i].used;
    }
    fm.beats++;
    cn_msg_free(CN_MSG_CS_HEARTBEAT, &hb);
}

/* Accept the chunkserver, answer HELLO and CS_REGISTER (heartbeat 100 ms). */
static void fm_accept(void)
{
    struct pollfd p = {fm.lfd, POLLIN, 0};
    cr_assert_eq(poll(&p, 1, IT_TIMEOUT_MS), 1, "the chunkserver never connected");
    fm.fd = accept4(fm.lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(fm.fd, 0);
    struct cn_frame_hdr h;
    cr_assert_eq(cn_sock_recv_frame(fm.fd, &h, &fm.buf, 0, IT_TIMEOUT_MS), 0);
    cr_assert_eq(h.type, CN_MSG_HELLO);
    struct cn_hello_r hr = {1, 1, CN_STR("fake-master"), {NULL, 0}};
    fm_send(CN_MSG_HELLO_R, h.req_id, &hr);
    cr_assert_eq(cn_sock_recv_frame(fm.fd, &h, &fm.buf, 0, IT_TIMEOUT_MS), 0);
    cr_assert_eq(h.type, CN_MSG_CS_REGISTER);
    struct cn_cs_register reg;
    cr_assert_eq(cn_msg_decode(h.type, fm.buf.data, fm.buf.len, &reg), 0);
    fm.ndisks = reg.ndisks;
    for (uint32_t i = 0; i < reg.ndisks && i < 4; i++) {
        memcpy(fm.uuid[i], reg.disks[i].uuid, 16);
        fm.disk_state[i] = reg.disks[i].state;
    }
    cn_msg_free(CN_MSG_CS_REGISTER, &reg);
    struct cn_cs_register_r rr = {42, 100};
    fm_send(CN_MSG_CS_REGISTER_R, h.req_id, &rr);
}

static char fm_err[512];

/* Send a command and wait for its answer; heartbeats in between are
 * collected. 0, or -errno of an ERROR with its text in fm_err. */
static int fm_call(uint16_t type, const void *msg, int timeout_ms)
{
    static uint64_t id = 100;
    uint64_t my = ++id;
    fm_send(type, my, msg);
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    fm_err[0] = 0;
    for (;;) {
        struct cn_frame_hdr h;
        int rc = cn_sock_recv_frame(fm.fd, &h, &fm.buf, 0, cn_ms_left(deadline));
        cr_assert_eq(rc, 0, "waiting for the answer to 0x%04x: %s", type, cn_strerror(rc));
        if (h.type == CN_MSG_CS_HEARTBEAT) {
            fm_heartbeat(fm.buf.data, h.len);
            continue;
        }
        cr_assert_eq(h.req_id, my, "frame 0x%04x with id %llu", h.type,
                     (unsigned long long)h.req_id);
        if (h.type == CN_MSG_ERROR) {
            struct cn_error e;
            cr_assert_eq(cn_msg_decode(h.type, fm.buf.data, h.len, &e), 0);
            snprintf(fm_err, sizeof(fm_err), "%.*s", (int)e.text.len, e.text.ptr);
            return -cn_status_to_errno(e.status);
        }
        cr_assert_eq(h.type, type | CN_MSG_REPLY);
        return 0;
    }
}

/* Collect heartbeats until n more have arrived. */
static void fm_beats(unsigned n)
{
    unsigned want = fm.beats + n;
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    while (fm.beats < want) {
        struct cn_frame_hdr h;
        int rc = cn_sock_recv_frame(fm.fd, &h, &fm.buf, 0, cn_ms_left(deadline));
        cr_assert_eq(rc, 0, "waiting for heartbeats: %s", cn_strerror(rc));
        cr_assert_eq(h.type, CN_MSG_CS_HEARTBEAT, "unexpected frame 0x%04x", h.type);
        fm_heartbeat(fm.buf.data, h.len);
    }
}

/* The last report of (chunk, part) seen, or NULL. */
static const struct cn_cs_part *fm_seen(uint64_t chunk, uint16_t part)
{
    const struct cn_cs_part *r = NULL;
    for (size_t i = 0; i < fm.nseen; i++)
        if (fm.seen[i].chunk == chunk && fm.seen[i].part == part)
            r = &fm.seen[i];
    return r;
}

/* Wait (bounded, by heartbeats) until (chunk, part) is reported. */
static const struct cn_cs_part *fm_wait_seen(uint64_t chunk, uint16_t part)
{
    for (int i = 0; i < 50 && !fm_seen(chunk, part); i++)
        fm_beats(1);
    const struct cn_cs_part *r = fm_seen(chunk, part);
    cr_assert_not_null(r, "chunk %llx part %u never reported", (unsigned long long)chunk, part);
    return r;
}

static int copy_part(uint64_t chunk, uint64_t version, uint16_t part, const char *src,
                     uint16_t src_part, uint64_t size)
{
    struct cn_cs_copy_part m = {chunk, version, part, cn_str_of(src), src_part, size, 0};
    return fm_call(CN_MSG_CS_CMD_COPY_PART, &m, 3 * IT_TIMEOUT_MS);
}

/* ---- data port -------------------------------------------------------------- */

static struct cn_buf dbuf;
static char data_err[512];

static int dcall(int fd, uint16_t type, const void *msg, void *reply)
{
    struct cn_frame_hdr h;
    static uint64_t id;
    data_err[0] = 0;
    int rc =
        cn_sock_call(fd, type, ++id, msg, &h, &dbuf, IT_TIMEOUT_MS, data_err, sizeof(data_err));
    if (rc)
        return rc;
    cr_assert_eq(h.type, type | CN_MSG_REPLY);
    if (reply)
        cr_assert_eq(cn_msg_decode(h.type, dbuf.data, dbuf.len, reply), 0);
    return 0;
}

static int data_conn(uint16_t port)
{
    return it_connect(port, CN_ROLE_CLIENT);
}

static void put_block(int fd, uint64_t chunk, uint64_t ver, uint16_t part, uint32_t block,
                      const uint8_t *data, uint32_t len)
{
    struct cn_write_block m = {0};
    m.chunk = chunk, m.version = ver, m.part = part, m.block = block;
    m.crc = ec_crc32c(0, data, len);
    m.data.ptr = data, m.data.len = len;
    int rc = dcall(fd, CN_MSG_WRITE_BLOCK, &m, NULL);
    cr_assert_eq(rc, 0, "write block %u: %s %s", block, cn_strerror(rc), data_err);
}

static void put_commit(int fd, uint64_t chunk, uint64_t ver, uint16_t part, uint64_t size)
{
    struct cn_commit_part m = {chunk, ver, part, size, NULL, 0};
    int rc = dcall(fd, CN_MSG_COMMIT_PART, &m, NULL);
    cr_assert_eq(rc, 0, "commit: %s %s", cn_strerror(rc), data_err);
}

/* READ_BLOCK the whole stored block: its length (0 = a hole) or -errno. */
static int get_block(int fd, uint64_t chunk, uint64_t ver, uint16_t part, uint32_t block,
                     uint8_t *out)
{
    struct cn_read_block m = {chunk, ver, part, block, 0, 0};
    struct cn_read_block_r r;
    int rc = dcall(fd, CN_MSG_READ_BLOCK, &m, &r);
    if (rc)
        return rc;
    cr_assert_eq(r.crc, ec_crc32c(0, r.data.ptr, r.data.len), "reply CRC of block %u", block);
    memcpy(out, r.data.ptr, r.data.len);
    return (int)r.data.len;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
}

/* Write a part: nblocks blocks, holes where hole(b), the last one `last`
 * bytes long; committed at the exact size. Returns the size. */
static uint64_t put_part(uint16_t port, uint64_t chunk, uint64_t ver, uint16_t part,
                         uint32_t nblocks, uint32_t last, int (*hole)(uint32_t), unsigned seed)
{
    static uint8_t d[BLK];
    int fd = data_conn(port);
    for (uint32_t b = 0; b < nblocks; b++) {
        if (hole && hole(b))
            continue;
        fill(d, BLK, seed + b);
        put_block(fd, chunk, ver, part, b, d, b + 1 == nblocks ? last : BLK);
    }
    uint64_t size = (uint64_t)(nblocks - 1) * BLK + last;
    put_commit(fd, chunk, ver, part, size);
    close(fd);
    return size;
}

/* Every block of (chunk, ver) reads the same from a's part pa and b's part
 * pb: same length (holes included), same bytes. Returns the holes seen. */
static unsigned same_blocks(uint16_t a, uint16_t pa, uint16_t b, uint16_t pb, uint64_t chunk,
                            uint64_t ver, uint32_t nblocks)
{
    static uint8_t x[BLK], y[BLK];
    int fa = data_conn(a), fb = data_conn(b);
    unsigned holes = 0;
    for (uint32_t i = 0; i < nblocks; i++) {
        int na = get_block(fa, chunk, ver, pa, i, x);
        cr_assert_geq(na, 0, "source block %u: %s %s", i, cn_strerror(na), data_err);
        int nb = get_block(fb, chunk, ver, pb, i, y);
        cr_assert_geq(nb, 0, "copied block %u: %s %s", i, cn_strerror(nb), data_err);
        cr_assert_eq(nb, na, "block %u: %d bytes in the copy, %d in the source", i, nb, na);
        for (int k = 0; k < na; k++)
            cr_assert_eq(y[k], x[k], "block %u byte %d: 0x%02x in the copy, 0x%02x in the source",
                         i, k, y[k], x[k]);
        holes += na == 0;
    }
    close(fa);
    close(fb);
    return holes;
}

static int holes_2_17(uint32_t b)
{
    return b == 2 || b == 17;
}

static char addr_buf[4][32];
static const char *addr(int k)
{
    snprintf(addr_buf[k], sizeof(addr_buf[k]), "127.0.0.1:%u", port_of[k]);
    return addr_buf[k];
}

static void fini(void)
{
    if (fm.fd >= 0)
        close(fm.fd);
    if (fm.lfd >= 0)
        close(fm.lfd);
    cn_buf_release(&fm.buf);
    cn_buf_release(&dbuf);
    it_fini();
}

static void init(void)
{
    it_init();
    memset(&fm, 0, sizeof(fm));
    fm.lfd = fm.fd = -1;
}

TestSuite(cs_copy, .init = init, .fini = fini, .timeout = 120);

/* Proves: a 40-block part with two holes and a partial last block (more
 * blocks than the pipeline window) is copied byte for byte into another
 * part index on another server, holes stay holes, the copy is reported in
 * a heartbeat, and a second server copies it on from the first copy. */
Test(cs_copy, multiblock_part_with_holes_copied_exactly)
{
    fm_listen();
    start_cs(0, 1, 1, 24);
    uint64_t size = put_part(port_of[0], 0x70, 5, 0, 40, 1000, holes_2_17, 7);
    start_cs(1, fm.port, 1, 24);
    fm_accept();
    int rc = copy_part(0x70, 5, 3, addr(0), 0, size);
    cr_assert_eq(rc, 0, "COPY_PART: %s %s", cn_strerror(rc), fm_err);
    cr_assert_eq(same_blocks(port_of[0], 0, port_of[1], 3, 0x70, 5, 40), 2, "holes");
    /* nothing past the size */
    static uint8_t x[BLK];
    int fd = data_conn(port_of[1]);
    cr_assert_eq(get_block(fd, 0x70, 5, 3, 39, x), 1000);
    cr_assert_eq(get_block(fd, 0x70, 5, 3, 40, x), 0, "a block past the size");
    close(fd);
    const struct cn_cs_part *p = fm_wait_seen(0x70, 3);
    cr_assert_eq(p->version, 5);
    cr_assert_eq(p->status, 0);
    /* a part the source does not hold */
    rc = copy_part(0x71, 2, 0, addr(0), 0, BLK);
    cr_assert_eq(rc, -ENOENT, "copying a part the source does not hold: %d %s", rc, fm_err);
    cr_assert(strstr(fm_err, addr(0)), "error text does not name the source: %s", fm_err);
    /* an empty part is just a commit */
    rc = copy_part(0x72, 2, 0, addr(0), 0, 0);
    cr_assert_eq(rc, 0, "empty part: %s %s", cn_strerror(rc), fm_err);
    cr_assert_eq(fm_wait_seen(0x72, 0)->version, 2);
    fd = data_conn(port_of[1]);
    cr_assert_eq(get_block(fd, 0x72, 2, 0, 0, x), 0, "an empty part reads as a hole");
    close(fd);
    int code = it_stop(&it.extra[1]);
    cr_assert_eq(code, 0, "cs1 exited with %d (sanitizer? see %s/cs1.err)", code, it.dir);
}

/* Proves: a copy from an unreachable source or from a source without that
 * version fails with an ERROR naming chunk and source, and leaves nothing:
 * no readable part, no heartbeat report (decision 4). */
Test(cs_copy, failed_copy_leaves_nothing)
{
    fm_listen();
    start_cs(0, 1, 1, 24);
    uint64_t size = put_part(port_of[0], 0x80, 3, 0, 4, BLK, NULL, 1);
    start_cs(1, fm.port, 1, 24);
    fm_accept();
    int rc = copy_part(0x80, 3, 0, "127.0.0.1:1", 0, size);
    cr_assert_lt(rc, 0, "a copy from a dead address succeeded");
    cr_assert(strstr(fm_err, "127.0.0.1:1") && strstr(fm_err, "0000000000000080"), "error text: %s",
              fm_err);
    /* the source has version 3, not 4 */
    rc = copy_part(0x80, 4, 0, addr(0), 0, size);
    cr_assert_lt(rc, 0, "a copy of a version the source lacks succeeded");
    cr_assert(strstr(fm_err, addr(0)), "error text: %s", fm_err);
    static uint8_t x[BLK];
    int fd = data_conn(port_of[1]);
    rc = get_block(fd, 0x80, 0, 0, 0, x);
    cr_assert_eq(rc, -ENOENT, "the failed copy is readable: %d", rc);
    close(fd);
    fm_beats(3);
    cr_assert_null(fm_seen(0x80, 0), "a failed copy was reported");
    /* and a good copy afterwards works */
    rc = copy_part(0x80, 3, 0, addr(0), 0, size);
    cr_assert_eq(rc, 0, "COPY_PART: %s %s", cn_strerror(rc), fm_err);
    cr_assert_eq(same_blocks(port_of[0], 0, port_of[1], 0, 0x80, 3, 4), 0);
    int code = it_stop(&it.extra[1]);
    cr_assert_eq(code, 0, "cs1 exited with %d (sanitizer? see %s/cs1.err)", code, it.dir);
}

static int hole_1(uint32_t b)
{
    return b == 1;
}

/* Proves: a part held at the same version is replaced by the source's
 * bytes, including a hole where the old copy had data (decision 3); a part
 * held at a newer version answers ESTALE and stays as it was; two copies of
 * one part at once: the second is refused; copies of different parts run
 * side by side. */
Test(cs_copy, same_version_replaced_newer_refused)
{
    fm_listen();
    start_cs(0, 1, 1, 24);
    uint64_t size = put_part(port_of[0], 0x90, 5, 0, 3, 5000, hole_1, 11);
    put_part(port_of[0], 0x91, 5, 0, 2, BLK, NULL, 12);
    start_cs(1, fm.port, 1, 24);
    /* cs1 holds 0x90 v5 with other bytes and no hole, 0x91 at v7 */
    put_part(port_of[1], 0x90, 5, 0, 3, BLK, NULL, 99);
    put_part(port_of[1], 0x91, 7, 0, 2, BLK, NULL, 77);
    fm_accept();
    int rc = copy_part(0x90, 5, 0, addr(0), 0, size);
    cr_assert_eq(rc, 0, "COPY_PART over the same version: %s %s", cn_strerror(rc), fm_err);
    cr_assert_eq(same_blocks(port_of[0], 0, port_of[1], 0, 0x90, 5, 3), 1,
                 "the old copy's block shows through the hole");
    rc = copy_part(0x91, 5, 0, addr(0), 0, 2 * BLK);
    cr_assert_eq(rc, -ESTALE, "COPY_PART under a newer version: %d %s", rc, fm_err);
    static uint8_t want[BLK], got[BLK];
    int fd = data_conn(port_of[1]);
    for (uint32_t b = 0; b < 2; b++) {
        fill(want, BLK, 77 + b);
        cr_assert_eq(get_block(fd, 0x91, 7, 0, b, got), BLK, "%s", data_err);
        cr_assert_eq(memcmp(got, want, BLK), 0, "the newer part changed (block %u)", b);
    }
    close(fd);

    /* two at once for one part, plus one for another part: sent together */
    uint64_t big = put_part(port_of[0], 0x92, 1, 0, 64, BLK, NULL, 3);
    put_part(port_of[0], 0x93, 1, 0, 64, BLK, NULL, 4);
    struct cn_cs_copy_part m1 = {0x92, 1, 0, cn_str_of(addr(0)), 0, big, 0};
    struct cn_cs_copy_part m2 = {0x93, 1, 0, cn_str_of(addr(0)), 0, big, 0};
    struct cn_buf b = {0};
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_CS_CMD_COPY_PART, 501, &m1), 0);
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_CS_CMD_COPY_PART, 502, &m1), 0);
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_CS_CMD_COPY_PART, 503, &m2), 0);
    cr_assert_eq(cn_sock_send(fm.fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
    int ok[3] = {0}, busy = 0, answers = 0;
    uint64_t deadline = cn_now_ms() + 3 * IT_TIMEOUT_MS;
    while (answers < 3) {
        struct cn_frame_hdr h;
        rc = cn_sock_recv_frame(fm.fd, &h, &fm.buf, 0, cn_ms_left(deadline));
        cr_assert_eq(rc, 0, "answers: %s", cn_strerror(rc));
        if (h.type == CN_MSG_CS_HEARTBEAT) {
            fm_heartbeat(fm.buf.data, h.len);
            continue;
        }
        cr_assert(h.req_id >= 501 && h.req_id <= 503);
        answers++;
        if (h.type == CN_MSG_CS_CMD_COPY_PART_R)
            ok[h.req_id - 501] = 1;
        else {
            struct cn_error e;
            cr_assert_eq(cn_msg_decode(CN_MSG_ERROR, fm.buf.data, h.len, &e), 0);
            cr_assert_eq(h.req_id, 502, "copy %llu failed: %.*s", (unsigned long long)h.req_id,
                         (int)e.text.len, e.text.ptr);
            cr_assert_eq(e.status, CN_ST_EAGAIN, "%.*s", (int)e.text.len, e.text.ptr);
            busy = 1;
        }
    }
    cr_assert(ok[0] && ok[2] && busy, "ok %d %d %d busy %d", ok[0], ok[1], ok[2], busy);
    same_blocks(port_of[0], 0, port_of[1], 0, 0x92, 1, 64);
    same_blocks(port_of[0], 0, port_of[1], 0, 0x93, 1, 64);
}

/* Proves: DISK_MARK leaving steers new parts (client writes and copies) to
 * the other disk and back when cleared; the mark is not reported as
 * draining; an unknown uuid answers ENOENT; `used` counts live bytes. */
Test(cs_copy, disk_mark_steers_new_parts)
{
    fm_listen();
    start_cs(0, 1, 1, 24);
    uint64_t size = put_part(port_of[0], 0xa0, 1, 0, 3, BLK, NULL, 5);
    start_cs(1, fm.port, 2, 24);
    fm_accept();
    cr_assert_eq(fm.ndisks, 2);
    for (int d = 0; d < 2; d++) {
        struct cn_cs_disk_mark dm = {{0}, 1};
        memcpy(dm.uuid, fm.uuid[d], 16);
        int rc = fm_call(CN_MSG_CS_CMD_DISK_MARK, &dm, IT_TIMEOUT_MS);
        cr_assert_eq(rc, 0, "DISK_MARK: %s %s", cn_strerror(rc), fm_err);
        memcpy(dm.uuid, fm.uuid[1 - d], 16);
        dm.leaving = 0;
        rc = fm_call(CN_MSG_CS_CMD_DISK_MARK, &dm, IT_TIMEOUT_MS);
        cr_assert_eq(rc, 0, "DISK_MARK: %s %s", cn_strerror(rc), fm_err);
        /* a client write lands on the other disk */
        put_part(port_of[1], 0xb0 + (uint64_t)d, 1, 0, 1, BLK, NULL, 9);
        const struct cn_cs_part *p = fm_wait_seen(0xb0 + (uint64_t)d, 0);
        cr_assert_eq(p->disk, 1 - d, "part written with disk %d leaving went to disk %u", d,
                     p->disk);
        /* so does a copy */
        rc = copy_part(0xa0, 1, (uint16_t)(1 + d), addr(0), 0, size);
        cr_assert_eq(rc, 0, "COPY_PART: %s %s", cn_strerror(rc), fm_err);
        p = fm_wait_seen(0xa0, (uint16_t)(1 + d));
        cr_assert_eq(p->disk, 1 - d, "copy with disk %d leaving went to disk %u", d, p->disk);
        fm_beats(1);
        cr_assert_eq(fm.disk_state[d], 0, "a master mark reported as state %u", fm.disk_state[d]);
        cr_assert_geq(fm.disk_used[1 - d], (uint64_t)BLK, "used %llu",
                      (unsigned long long)fm.disk_used[1 - d]);
    }
    struct cn_cs_disk_mark dm = {{0}, 1};
    memset(dm.uuid, 0xee, 16);
    int rc = fm_call(CN_MSG_CS_CMD_DISK_MARK, &dm, IT_TIMEOUT_MS);
    cr_assert_eq(rc, -ENOENT, "DISK_MARK of an unknown disk: %d %s", rc, fm_err);
    cr_assert(strstr(fm_err, "eeeeeeee"), "error text: %s", fm_err);
}

/* Proves: SIGTERM while copies are in flight stops the server cleanly (exit
 * 0: no sanitizer finding, no crash), and what it held stays readable. */
Test(cs_copy, sigterm_with_copies_in_flight)
{
    fm_listen();
    start_cs(0, 1, 1, 48);
    uint64_t size = put_part(port_of[0], 0xc0, 1, 0, 300, BLK, NULL, 21);
    start_cs(1, fm.port, 1, 96);
    fm_accept();
    struct cn_buf b = {0};
    for (uint16_t p = 0; p < 3; p++) {
        struct cn_cs_copy_part m = {0xc0, 1, p, cn_str_of(addr(0)), 0, size, 0};
        cr_assert_eq(cn_msg_frame(&b, CN_MSG_CS_CMD_COPY_PART, 600 + p, &m), 0);
    }
    cr_assert_eq(cn_sock_send(fm.fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
    /* stop at the next heartbeat: the copies are running (19 MB each) */
    struct cn_frame_hdr h;
    cr_assert_eq(cn_sock_recv_frame(fm.fd, &h, &fm.buf, 0, IT_TIMEOUT_MS), 0);
    int code = it_stop(&it.extra[1]);
    cr_assert_eq(code, 0, "cs1 exited with %d during copies (see %s/cs1.err)", code, it.dir);
    code = it_stop(&it.extra[0]);
    cr_assert_eq(code, 0, "cs0 exited with %d (see %s/cs0.err)", code, it.dir);
}
