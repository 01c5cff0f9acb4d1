/*
 * test_18_master_health.c - the master's health loop against chunkservers
 * played by the test (CS_REGISTER / CS_HEARTBEAT from sockets), so every
 * command the master sends can be seen and answered, or not, at will:
 *  - repair order: a chunk one failure from loss is copied before one with
 *    a failure to spare, even when it comes later in the chunk table;
 *  - COPY_PART names a current copy as source, with the part's size;
 *  - a drain copies first and deletes the leaving copy only after the copy
 *    was answered; DISK_MARK reaches the marked server;
 *  - a surplus copy is deleted when a server comes back;
 *  - a chunk with no copy left is reported by its path;
 *  - ADM_MARK errors name what was wrong, and a client role may not mark.
 */
#include "itest.h"

#include <poll.h>

static void setup(void)
{
    it_init();
    it_write_cfg("GOAL = 3\nCS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\nHEALTH_START_MS = 0\n"
                 "HEALTH_PERIOD_MS = 50ms\nSERVER_JOBS = 1\nREBALANCE_RATE_MBPS = 0\n");
    it_start_master(1);
}

static void setup_goal2(void)
{
    it_init();
    it_write_cfg("GOAL = 2\nCS_TIMEOUT_MS = 30s\nCS_GRACE_MS = 300ms\nHEARTBEAT_MS = 200ms\n"
                 "HEALTH_START_MS = 0\nHEALTH_PERIOD_MS = 50ms\nREBALANCE_RATE_MBPS = 0\n");
    it_start_master(1);
}

TestSuite(master_health, .fini = it_fini, .timeout = 90);

#define MIB (1ull << 20)

/* A fake chunkserver with one disk of 2 * free_b bytes, uuid[0] = tag. */
static int fake_cs(const char *name, const char *addr, uint64_t free_b, uint8_t tag)
{
    int fd = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    struct cn_cs_disk d = {.path = CN_STR("/dev/fake"),
                           .labels = CN_STR(""),
                           .total = 2 * free_b + 1,
                           .used = free_b,
                           .free = free_b};
    d.uuid[0] = tag;
    struct cn_cs_register r = {0, cn_str_of(name), CN_STR(""), cn_str_of(addr), &d, 1, NULL, 0};
    struct cn_cs_register_r rr;
    int rc = it_call(fd, CN_MSG_CS_REGISTER, &r, &rr);
    cr_assert_eq(rc, 0, "CS_REGISTER %s: %s", name, cn_strerror(rc));
    return fd;
}

/* Report parts (status 0 present, 1 gone), then PING so they are processed. */
static void report(int fd, uint64_t chunk, uint64_t version, uint8_t status)
{
    struct cn_cs_part p = {chunk, version, 0, 0, status};
    struct cn_cs_heartbeat hb = {NULL, 0, &p, 1};
    struct cn_buf b = {0};
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_CS_HEARTBEAT, 0, &hb), 0);
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
    struct cn_ping ping = {7};
    cr_assert_eq(it_call(fd, CN_MSG_PING, &ping, NULL), 0);
}

/* Create /NAME with one committed chunk of `len` bytes on the chain the
 * master picks; returns the chunk id and version. */
static void write_chunk(int cl, uint64_t parent, const char *name, uint64_t len, uint64_t *chunk,
                        uint64_t *version, uint32_t *nlocs)
{
    struct cn_attr f;
    ASSERT_ERR(it_create(cl, parent, name, 0644, 0, &f), 0);
    struct cn_write_begin wb = {f.ino, 0, 0, 0};
    struct cn_write_begin_r wr;
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    *chunk = wr.chunk;
    *version = wr.version;
    *nlocs = wr.nlocs;
    struct cn_write_end we = {f.ino, 0, wr.chunk, wr.version, wr.lease, len, CN_ST_OK};
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &we, NULL), 0);
    struct cn_ino_req rel = {f.ino}; /* closed, as a mount does */
    ASSERT_ERR(it_call(cl, CN_MSG_RELEASE, &rel, NULL), 0);
}

/* The next command frame on a fake chunkserver within ms; 0 or -ETIMEDOUT. */
static int next_cmd(int fd, struct cn_frame_hdr *h, struct cn_buf *b, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return -ETIMEDOUT;
    cn_buf_reset(b);
    int rc = cn_sock_recv_frame(fd, h, b, 0, IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "reading a command: %s", cn_strerror(rc));
    return 0;
}

static void answer(int fd, const struct cn_frame_hdr *h)
{
    struct cn_empty e = {0};
    struct cn_buf b = {0};
    cn_msg_frame(&b, h->type | CN_MSG_REPLY, h->req_id, &e);
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
}

/* Wait for a COPY_PART on fd (answering DISK_MARKs on the way). */
static void expect_copy(int fd, struct cn_cs_copy_part *cp, struct cn_frame_hdr *h,
                        struct cn_buf *b)
{
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        cr_assert_gt(cn_ms_left(deadline), 0, "no COPY_PART arrived");
        if (next_cmd(fd, h, b, 200))
            continue;
        if (h->type == CN_MSG_CS_CMD_DISK_MARK) {
            answer(fd, h);
            continue;
        }
        cr_assert_eq(h->type, CN_MSG_CS_CMD_COPY_PART, "got 0x%04x instead of COPY_PART", h->type);
        cr_assert_eq(cn_msg_decode(h->type, b->data, b->len, cp), 0);
        return;
    }
}

/* Proves: the chunk one failure from loss is repaired first, although it
 * comes after the other in the chunk table; the command names a current
 * copy and the committed length. One writable target and SERVER_JOBS = 1
 * make the master choose. */
Test(master_health, endangered_first, .init = setup)
{
    /* cs1, cs2 hold data; only cs3 has room for new copies */
    int cs1 = fake_cs("cs1", "127.0.0.1:7001", 0, 1);
    int cs2 = fake_cs("cs2", "127.0.0.1:7002", 0, 2);
    int cs3 = fake_cs("cs3", "127.0.0.1:7003", 4096 * MIB, 3);
    int cl = it_client();
    uint64_t b_id, b_ver, a_id, a_ver;
    uint32_t n;
    /* B first (lower id): ends with 2 of 3 copies; A: 1 of 3 */
    write_chunk(cl, 1, "b", 5 * MIB, &b_id, &b_ver, &n);
    write_chunk(cl, 1, "a", 7 * MIB, &a_id, &a_ver, &n);
    cr_assert_lt(b_id, a_id);
    cr_assert_eq(n, 3);
    /* the chains were all three servers. A loses two copies first, then B
     * one: whenever the loop sees B under goal it sees A too */
    report(cs2, a_id, a_ver, 1);
    report(cs3, a_id, a_ver, 1);
    report(cs3, b_id, b_ver, 1);
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    struct cn_cs_copy_part cp;
    expect_copy(cs3, &cp, &h, &b);
    cr_assert_eq(cp.chunk, a_id, "the chunk with a failure to spare was copied first");
    cr_assert_eq(cp.version, a_ver);
    cr_assert_eq(cp.size, 7 * MIB);
    cr_assert(cn_str_eq(cp.src_addr, "127.0.0.1:7001"), "source must hold the chunk");
    /* nothing else while that copy runs (one job per target) */
    struct cn_frame_hdr h2;
    struct cn_buf b2 = {0};
    cr_assert_eq(next_cmd(cs3, &h2, &b2, 400), -ETIMEDOUT, "a second copy started on cs3");
    answer(cs3, &h);
    /* now A and B both have one failure to spare: B gets its copy next */
    expect_copy(cs3, &cp, &h, &b);
    cr_assert_eq(cp.chunk, b_id);
    cr_assert_eq(cp.size, 5 * MIB);
    answer(cs3, &h);
    json_t *j = it_admin(cl, CN_MSG_ADM_STATUS, NULL);
    json_t *hj = json_object_get(j, "health");
    cr_assert_geq(json_integer_value(json_object_get(hj, "copies_done")), 2);
    json_decref(j);
    cn_buf_release(&b);
    cn_buf_release(&b2);
    close(cs1);
    close(cs2);
    close(cs3);
    close(cl);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

static json_t *mark(int adm, const char *server, const char *disk, int leaving, int *err)
{
    struct cn_adm_mark m = {cn_str_of(server), cn_str_of(disk), (uint8_t)leaving};
    struct cn_json_r r;
    *err = it_call(adm, CN_MSG_ADM_MARK, &m, &r);
    if (*err)
        return NULL;
    json_error_t je;
    return json_loadb((const char *)r.json.ptr, r.json.len, 0, &je);
}

/* Proves: draining a server copies first and deletes the leaving copy only
 * after the copy was answered; the marked server gets DISK_MARK; the mark
 * survives a master restart; errors name the unknown server or disk, and a
 * client connection may not mark. */
Test(master_health, drain_copies_then_deletes, .init = setup_goal2)
{
    int cs1 = fake_cs("cs1", "127.0.0.1:7101", 4096 * MIB, 1);
    int cs2 = fake_cs("cs2", "127.0.0.1:7102", 4096 * MIB, 2);
    int cl = it_client();
    uint64_t c_id, c_ver;
    uint32_t n;
    write_chunk(cl, 1, "c", 3 * MIB, &c_id, &c_ver, &n);
    cr_assert_eq(n, 2);
    report(cs1, c_id, c_ver, 0);
    report(cs2, c_id, c_ver, 0);
    int cs3 = fake_cs("cs3", "127.0.0.1:7103", 4096 * MIB, 3);
    int adm = it_connect(it.cport, CN_ROLE_ADMIN);
    int err;
    cr_assert_null(mark(cl, "cs1", "", 1, &err));
    cr_assert_eq(err, -EPERM, "a client role marked a server");
    cr_assert_null(mark(adm, "nosuch", "", 1, &err));
    cr_assert_eq(err, -ENOENT);
    cr_assert_null(mark(adm, "cs1", "/dev/other", 1, &err));
    cr_assert_eq(err, -ENOENT);
    json_t *j = mark(adm, "cs1", "0", 1, &err);
    cr_assert_eq(err, 0, "mark: %s", cn_strerror(err));
    cr_assert_str_eq(json_string_value(json_object_get(j, "disk")), "/dev/fake");
    json_decref(j);
    /* cs1 is told, and the copy goes to cs3 (the only server without it) */
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    cr_assert_eq(next_cmd(cs1, &h, &b, IT_TIMEOUT_MS), 0);
    cr_assert_eq(h.type, CN_MSG_CS_CMD_DISK_MARK);
    struct cn_cs_disk_mark dm;
    cr_assert_eq(cn_msg_decode(h.type, b.data, b.len, &dm), 0);
    cr_assert_eq(dm.uuid[0], 1);
    cr_assert_eq(dm.leaving, 1);
    answer(cs1, &h);
    struct cn_cs_copy_part cp;
    struct cn_frame_hdr hc;
    struct cn_buf bc = {0};
    expect_copy(cs3, &cp, &hc, &bc);
    cr_assert_eq(cp.chunk, c_id);
    /* while the copy is unanswered, cs1 must not be told to delete */
    struct cn_frame_hdr h2;
    cr_assert_eq(next_cmd(cs1, &h2, &b, 500), -ETIMEDOUT, "leaving copy touched before the copy");
    answer(cs3, &hc);
    cr_assert_eq(next_cmd(cs1, &h2, &b, IT_TIMEOUT_MS), 0, "the leaving copy was not deleted");
    cr_assert_eq(h2.type, CN_MSG_CS_CMD_DELETE_PART);
    struct cn_cs_delete_part dp;
    cr_assert_eq(cn_msg_decode(h2.type, b.data, b.len, &dp), 0);
    cr_assert_eq(dp.chunk, c_id);
    answer(cs1, &h2);
    /* the disk view: leaving, no parts, safe to pull */
    j = it_admin(adm, CN_MSG_ADM_DISKS, NULL);
    json_t *d;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(j, "disks"), i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "server")), "cs1"))
            continue;
        seen = 1;
        cr_assert(json_is_true(json_object_get(d, "leaving")));
        cr_assert_str_eq(json_string_value(json_object_get(d, "mark")), "master");
        cr_assert_eq(json_integer_value(json_object_get(d, "parts")), 0);
        cr_assert(json_is_true(json_object_get(d, "safe_to_pull")));
    }
    cr_assert(seen);
    json_decref(j);
    /* the mark is in the metadata: a restarted master still has it */
    close(adm);
    close(cl);
    close(cs1);
    close(cs2);
    close(cs3);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
    it_start_master(0);
    cs1 = fake_cs("cs1", "127.0.0.1:7101", 4096 * MIB, 1);
    cr_assert_eq(next_cmd(cs1, &h, &b, IT_TIMEOUT_MS), 0);
    cr_assert_eq(h.type, CN_MSG_CS_CMD_DISK_MARK, "no DISK_MARK after the restart");
    answer(cs1, &h);
    adm = it_connect(it.cport, CN_ROLE_ADMIN);
    j = mark(adm, "cs1", "/dev/fake", 0, &err);
    cr_assert_eq(err, 0);
    cr_assert(json_is_false(json_object_get(j, "leaving")));
    json_decref(j);
    cn_buf_release(&b);
    cn_buf_release(&bc);
    close(adm);
    close(cs1);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: a server that comes back with a copy the health loop already
 * replaced makes the chunk overgoal, and the surplus copy is deleted; a
 * chunk with no copy left is listed as lost with its file's path. */
Test(master_health, surplus_deleted_and_lost_named, .init = setup_goal2)
{
    int cs1 = fake_cs("cs1", "127.0.0.1:7201", 4096 * MIB, 1);
    int cs2 = fake_cs("cs2", "127.0.0.1:7202", 4096 * MIB, 2);
    int cs3 = fake_cs("cs3", "127.0.0.1:7203", 4096 * MIB, 3);
    int cl = it_client();
    struct cn_attr dir;
    ASSERT_ERR(it_mkdir(cl, 1, "photos", 0755, 0, &dir), 0);
    uint64_t c_id, c_ver, l_id, l_ver;
    uint32_t n;
    write_chunk(cl, dir.ino, "kept.jpg", MIB, &c_id, &c_ver, &n);
    write_chunk(cl, dir.ino, "gone.jpg", MIB, &l_id, &l_ver, &n);
    /* the chunk on all three (one surplus); the other on nobody */
    report(cs1, c_id, c_ver, 0);
    report(cs2, c_id, c_ver, 0);
    report(cs3, c_id, c_ver, 0);
    report(cs1, l_id, l_ver, 1);
    report(cs2, l_id, l_ver, 1);
    report(cs3, l_id, l_ver, 1);
    /* exactly one of the three gets DELETE_PART for c */
    int deletes = 0;
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    int fds[3] = {cs1, cs2, cs3};
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    while (!deletes && cn_ms_left(deadline) > 0) {
        for (int k = 0; k < 3; k++) {
            if (next_cmd(fds[k], &h, &b, 50))
                continue;
            cr_assert_eq(h.type, CN_MSG_CS_CMD_DELETE_PART, "got 0x%04x", h.type);
            struct cn_cs_delete_part dp;
            cr_assert_eq(cn_msg_decode(h.type, b.data, b.len, &dp), 0);
            cr_assert_eq(dp.chunk, c_id);
            answer(fds[k], &h);
            deletes++;
        }
    }
    cr_assert_eq(deletes, 1, "surplus copies deleted: %d", deletes);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(next_cmd(fds[k], &h, &b, 200), -ETIMEDOUT, "more than the surplus deleted");
    /* the lost chunk, by path */
    json_t *j = NULL;
    deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        j = it_admin(cl, CN_MSG_ADM_STATUS, NULL);
        if (json_array_size(json_object_get(j, "lost_chunks")) > 0)
            break;
        json_decref(j);
        cr_assert_gt(cn_ms_left(deadline), 0, "no lost chunk reported");
        poll(NULL, 0, 50);
    }
    json_t *l = json_array_get(json_object_get(j, "lost_chunks"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(l, "path")), "/photos/gone.jpg");
    cr_assert_eq(json_integer_value(json_object_get(l, "index")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "chunks"), "lost")), 1);
    json_decref(j);
    /* the operator gives up on the file: the report goes with it */
    ASSERT_ERR(it_name_op(cl, CN_MSG_UNLINK, dir.ino, "gone.jpg", 0), 0);
    deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        j = it_admin(cl, CN_MSG_ADM_STATUS, NULL);
        size_t left = json_array_size(json_object_get(j, "lost_chunks"));
        json_decref(j);
        if (left == 0)
            break;
        cr_assert_gt(cn_ms_left(deadline), 0, "a deleted file's chunk is still reported lost");
        poll(NULL, 0, 50);
    }
    cn_buf_release(&b);
    close(cs1);
    close(cs2);
    close(cs3);
    close(cl);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}
