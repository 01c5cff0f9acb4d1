/*
 * test_14_cs_master.c - a real cairn-chunkserver against the real
 * cairn-master: registration with disks and parts, re-registration after
 * the master is SIGKILLed and restarted, and the master's DELETE_PART of a
 * part it does not know.
 *
 * Uses itest.h (work dir, master start on a ready line, cleanup by PID in
 * .fini). The master's chunkserver port is fixed here (found free at start)
 * because the chunkserver must find the restarted master at the same place.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include "itest.h"
#include "ec.h"
#include "logstore.h"

static uint16_t free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t l = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static uint16_t cs_port; /* the master's chunkserver port */
static uint16_t data_port;

static void write_master_cfg(void)
{
    FILE *f = fopen(it.cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "DATA_PATH = %s/db\nCLIENT_LISTEN = 127.0.0.1:0\nCS_LISTEN = 127.0.0.1:%u\n"
            "LOG_FILE = %s/master.log\nCACHE_SIZE = 8M\n",
            it.dir, cs_port, it.dir);
    fclose(f);
}

static void start_cs(void)
{
    char disk[160], cfg[160], line[256];
    snprintf(disk, sizeof(disk), "%s/cs-d0.img", it.dir);
    snprintf(cfg, sizeof(cfg), "%s/cs.cfg", it.dir);
    struct ls_format_opts o = {0};
    char err[256];
    o.size = 24u << 20;
    o.segment_bytes = 1u << 20;
    cr_assert_eq(ls_format(disk, &o, err, sizeof(err)), 0, "%s", err);
    /* a committed part the master has never heard of */
    struct ls *ls;
    static uint8_t blk[4096];
    memset(blk, 7, sizeof(blk));
    cr_assert_eq(ls_open(disk, NULL, &ls, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ls_append(ls, 0x5150, 0, 3, 0, blk, sizeof(blk)), 0);
    cr_assert_eq(ls_commit(ls, 0x5150, 0, 3, sizeof(blk)), 0);
    cr_assert_eq(ls_close(ls), 0);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "NAME = cs-it\nLABELS = ssd\nLISTEN = 127.0.0.1:0\nMASTER = 127.0.0.1:%u\n"
            "DISKS = %s [fast]\nHEARTBEAT_MS = 200\n",
            cs_port, disk);
    fclose(f);
    char *argv[] = {CAIRN_CS_BIN, "-c", cfg, NULL};
    it.extra[0].pid = it_spawn(argv, "cs", &it.extra[0].out_fd);
    int rc = it_read_line(it.extra[0].out_fd, "ready ", line, sizeof(line), IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "chunkserver not ready: %s (see %s/cs.err)", cn_strerror(rc), it.dir);
    unsigned p;
    cr_assert_eq(sscanf(line, "ready data_port=%u", &p), 1);
    data_port = (uint16_t)p;
}

/* Wait (bounded) until the master lists cs-it online; returns its JSON (decref). */
static json_t *wait_online(int *fd)
{
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        json_t *j = it_admin(*fd, CN_MSG_ADM_SERVERS, NULL);
        json_t *a = json_object_get(j, "servers");
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *s = json_array_get(a, i);
            if (!strcmp(json_string_value(json_object_get(s, "name")), "cs-it") &&
                !strcmp(json_string_value(json_object_get(s, "state")), "online")) {
                json_incref(s);
                json_decref(j);
                return s;
            }
        }
        json_decref(j);
        cr_assert(cn_now_ms() < deadline, "chunkserver never registered (see %s)", it.dir);
        /* wait for the next heartbeat-sized interval on an event that never
         * comes (the chunkserver's stdout), not a sleep */
        struct pollfd p = {it.extra[0].out_fd, POLLIN, 0};
        poll(&p, 1, 50);
    }
}

/* 1 once reading the unknown part says NO_CHUNK (the master had it deleted). */
static int part_gone(void)
{
    int fd = it_connect(data_port, CN_ROLE_CLIENT);
    struct cn_read_block m = {0x5150, 0, 0, 0, 0, 0};
    int rc = it_call(fd, CN_MSG_READ_BLOCK, &m, NULL);
    close(fd);
    return rc == -ENOENT;
}

TestSuite(cs_master, .init = it_init, .fini = it_fini, .timeout = 60);

/* Proves: the chunkserver registers with name, labels, address and disks,
 * the master's DELETE_PART removes a part it does not know, and the server
 * registers again after the master is SIGKILLed and restarted. */
Test(cs_master, registers_and_reregisters_after_master_restart)
{
    cs_port = free_port();
    write_master_cfg();
    it_start_master(1);
    start_cs();
    int fd = it_connect(it.cport, CN_ROLE_ADMIN);
    json_t *s = wait_online(&fd);
    char want_addr[64];
    snprintf(want_addr, sizeof(want_addr), "127.0.0.1:%u", data_port);
    cr_assert_str_eq(json_string_value(json_object_get(s, "addr")), want_addr);
    cr_assert_str_eq(json_string_value(json_object_get(s, "labels")), "ssd");
    json_t *disks = json_object_get(s, "disks");
    cr_assert_eq(json_array_size(disks), 1);
    json_t *d = json_array_get(disks, 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "labels")), "fast");
    cr_assert_gt(json_integer_value(json_object_get(d, "total")), 0);
    json_decref(s);
    close(fd);

    /* the master deletes the part it has no chunk for */
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    while (!part_gone()) {
        cr_assert(cn_now_ms() < deadline, "the unknown part was never deleted");
        struct pollfd p = {it.extra[0].out_fd, POLLIN, 0};
        poll(&p, 1, 50);
    }

    /* SIGKILL the master, start it again on the same ports' config */
    it_kill(&it.master, SIGKILL);
    it_start_master(0);
    fd = it_connect(it.cport, CN_ROLE_ADMIN);
    s = wait_online(&fd);
    cr_assert_str_eq(json_string_value(json_object_get(s, "addr")), want_addr);
    json_decref(s);
    close(fd);
}

/* Start chunkserver k (it.extra[k]) named csK with a fresh disk; returns its port. */
static uint16_t start_cs_k(int k)
{
    char disk[160], cfg[160], line[256], err[256];
    snprintf(disk, sizeof(disk), "%s/cs%d-d0.img", it.dir, k);
    snprintf(cfg, sizeof(cfg), "%s/cs%d.cfg", it.dir, k);
    struct ls_format_opts o = {0};
    o.size = 24u << 20;
    o.segment_bytes = 1u << 20;
    cr_assert_eq(ls_format(disk, &o, err, sizeof(err)), 0, "%s", err);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f, "NAME = cs%d\nLISTEN = 127.0.0.1:0\nMASTER = 127.0.0.1:%u\nDISKS = %s\n", k, cs_port,
            disk);
    fclose(f);
    char *argv[] = {CAIRN_CS_BIN, "-c", cfg, NULL};
    char name[16];
    snprintf(name, sizeof(name), "cs%d", k);
    it.extra[k].pid = it_spawn(argv, name, &it.extra[k].out_fd);
    int rc = it_read_line(it.extra[k].out_fd, "ready ", line, sizeof(line), IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "cs%d not ready: %s", k, cn_strerror(rc));
    unsigned p;
    cr_assert_eq(sscanf(line, "ready data_port=%u", &p), 1);
    return (uint16_t)p;
}

/* CHUNK_LOCATE until it lists `want` locations (heartbeats carry the
 * commits, registrations the parts); bounded. */
static struct cn_chunk_locate_r locate(int fd, uint64_t ino, uint32_t want)
{
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        struct cn_chunk_locate m = {ino, 0};
        static struct cn_chunk_locate_r r;
        cn_msg_free(CN_MSG_CHUNK_LOCATE_R, &r);
        int rc = it_call(fd, CN_MSG_CHUNK_LOCATE, &m, &r);
        cr_assert_eq(rc, 0, "CHUNK_LOCATE: %s", cn_strerror(rc));
        if (r.nlocs >= want)
            return r;
        cr_assert(cn_now_ms() < deadline, "only %u of %u locations", r.nlocs, want);
        struct pollfd p = {it.extra[0].out_fd, POLLIN, 0};
        poll(&p, 1, 50);
    }
}

/* Read block b of (chunk, version) from every location; compare. */
static void read_all(const struct cn_chunk_locate_r *r, uint32_t b, const uint8_t *want,
                     uint32_t len)
{
    /* copy the locations first: they borrow it.rbuf, which it_connect reuses */
    char addrs[8][64];
    uint16_t parts[8];
    uint32_t n = r->nlocs < 8 ? r->nlocs : 8;
    uint64_t chunk = r->chunk, version = r->version;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(addrs[i], sizeof(addrs[i]), "%.*s", (int)r->locs[i].addr.len, r->locs[i].addr.ptr);
        parts[i] = r->locs[i].part;
    }
    struct cn_buf rb = {0};
    for (uint32_t i = 0; i < n; i++) {
        struct cn_addr ad;
        cr_assert_eq(cn_parse_addr(addrs[i], 0, &ad), 0, "%s", addrs[i]);
        int fd = it_connect(ad.port, CN_ROLE_CLIENT);
        struct cn_read_block m = {chunk, version, parts[i], b, 0, 0};
        struct cn_frame_hdr h;
        char err[256];
        int rc =
            cn_sock_call(fd, CN_MSG_READ_BLOCK, 1, &m, &h, &rb, IT_TIMEOUT_MS, err, sizeof(err));
        cr_assert_eq(rc, 0, "read from %s: %s %s", addrs[i], cn_strerror(rc), err);
        struct cn_read_block_r rr;
        cr_assert_eq(cn_msg_decode(h.type, rb.data, rb.len, &rr), 0);
        cr_assert_eq(rr.data.len, len, "%s: %u bytes", addrs[i], rr.data.len);
        cr_assert_eq(memcmp(rr.data.ptr, want, len), 0, "%s: data differs", addrs[i]);
        close(fd);
    }
    cn_buf_release(&rb);
}

/* Proves, end to end with the real master: a file's chunk written through
 * the chain WRITE_BEGIN returns is readable from every copy CHUNK_LOCATE
 * lists, and is listed again after the master is SIGKILLed and restarted
 * (the chunkservers' re-registration rebuilds the locations). */
Test(cs_master, file_write_through_master_chain_survives_master_restart)
{
    cs_port = free_port();
    write_master_cfg();
    FILE *f = fopen(it.cfg, "a");
    fprintf(f, "HEARTBEAT_MS = 200ms\nGOAL = 2\n");
    fclose(f);
    it_start_master(1);
    start_cs_k(0);
    start_cs_k(1);
    int fd = it_connect(it.cport, CN_ROLE_CLIENT);
    struct cn_attr a;
    cr_assert_eq(it_create(fd, 1, "f", 0644 | S_IFREG, 0, &a), 0);
    /* both servers online before placing */
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    struct cn_write_begin wbm = {a.ino, 0, 0, 0};
    struct cn_write_begin_r wb;
    for (;;) {
        int rc = it_call(fd, CN_MSG_WRITE_BEGIN, &wbm, &wb);
        if (rc == 0 && wb.nlocs == 2)
            break;
        cr_assert(cn_now_ms() < deadline, "WRITE_BEGIN: %s, %u locs", cn_strerror(rc),
                  rc ? 0 : wb.nlocs);
        if (rc == 0) { /* placed on one server only: roll back, try again */
            struct cn_write_end we = {a.ino, 0, wb.chunk, wb.version, wb.lease, 0, CN_ST_EIO};
            cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wb);
            it_call(fd, CN_MSG_WRITE_END, &we, NULL);
        }
        struct pollfd p = {it.extra[0].out_fd, POLLIN, 0};
        poll(&p, 1, 50);
    }
    char first[64], second[64];
    snprintf(first, sizeof(first), "%.*s", (int)wb.locs[0].addr.len, wb.locs[0].addr.ptr);
    snprintf(second, sizeof(second), "%.*s", (int)wb.locs[1].addr.len, wb.locs[1].addr.ptr);
    uint64_t chunk = wb.chunk, version = wb.version, lease = wb.lease;
    uint16_t part = wb.locs[0].part;
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wb);

    static uint8_t data[2][65536];
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < sizeof(data[b]); i++)
            data[b][i] = (uint8_t)(i * 13 + b * 7 + (i >> 8));
    struct cn_addr fa;
    cr_assert_eq(cn_parse_addr(first, 0, &fa), 0);
    int cfd = it_connect(fa.port, CN_ROLE_CLIENT);
    struct cn_hop hop = {cn_str_of(second)};
    struct cn_buf rb = {0};
    struct cn_frame_hdr h;
    char err[256];
    for (uint32_t b = 0; b < 2; b++) {
        struct cn_write_block m = {0};
        m.chunk = chunk, m.version = version, m.part = part, m.block = b;
        m.crc = ec_crc32c(0, data[b], sizeof(data[b]));
        m.chain = &hop, m.nchain = 1;
        m.data.ptr = data[b], m.data.len = sizeof(data[b]);
        int rc = cn_sock_call(cfd, CN_MSG_WRITE_BLOCK, 10 + b, &m, &h, &rb, IT_TIMEOUT_MS, err,
                              sizeof(err));
        cr_assert_eq(rc, 0, "WRITE_BLOCK %u: %s %s", b, cn_strerror(rc), err);
    }
    struct cn_commit_part cp = {chunk, version, part, 2 * 65536, &hop, 1};
    int rc =
        cn_sock_call(cfd, CN_MSG_COMMIT_PART, 20, &cp, &h, &rb, IT_TIMEOUT_MS, err, sizeof(err));
    cr_assert_eq(rc, 0, "COMMIT_PART: %s %s", cn_strerror(rc), err);
    cn_buf_release(&rb);
    close(cfd);
    struct cn_write_end we = {a.ino, 0, chunk, version, lease, 2 * 65536, CN_ST_OK};
    cr_assert_eq(it_call(fd, CN_MSG_WRITE_END, &we, NULL), 0);

    struct cn_chunk_locate_r r = locate(fd, a.ino, 2);
    cr_assert_eq(r.chunk, chunk);
    cr_assert_eq(r.file_size, 2 * 65536);
    read_all(&r, 1, data[1], 65536);
    close(fd);

    it_kill(&it.master, SIGKILL);
    it_start_master(0);
    fd = it_connect(it.cport, CN_ROLE_CLIENT);
    r = locate(fd, a.ino, 2);
    cr_assert_eq(r.chunk, chunk);
    read_all(&r, 0, data[0], 65536);
    read_all(&r, 1, data[1], 65536);
    close(fd);
}
