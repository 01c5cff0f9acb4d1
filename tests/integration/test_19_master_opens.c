/*
 * test_19_master_opens.c - files unlinked while open (issue 9, "open-deleted
 * files") against the real master, with a chunkserver played by the test:
 *  - unlink of an open file keeps the inode (nlink 0) and its chunk; the
 *    last RELEASE frees it and the chunkserver is told to delete the part;
 *  - two handles: the first RELEASE keeps it, the second frees it;
 *  - rename over an open file orphans the overwritten one the same way;
 *  - a session that ends keeps its handles for OPEN_GRACE_MS, then frees;
 *  - a reconnected client claims its handles with REOPEN and keeps the
 *    file past the old session's grace; also across a master restart;
 *  - a RELEASE of a handle the session does not hold changes nothing.
 */
#include "itest.h"

#include <poll.h>

#define GRACE_MS 400

static void setup(void)
{
    it_init();
    it_write_cfg("GOAL = 1\nCS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\nOPEN_GRACE_MS = 400ms\n"
                 "HEALTH_START_MS = 1h\n");
    it_start_master(1);
}

TestSuite(master_opens, .init = setup, .fini = it_fini, .timeout = 60);

static int fake_cs(void)
{
    int fd = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    struct cn_cs_disk d = {.path = CN_STR("/dev/fake"),
                           .labels = CN_STR(""),
                           .total = 1ull << 34,
                           .used = 0,
                           .free = 1ull << 33};
    d.uuid[0] = 9;
    struct cn_cs_register r = {0, CN_STR("cs1"), CN_STR(""), CN_STR("127.0.0.1:7301"), &d,
                               1, NULL,          0};
    struct cn_cs_register_r rr;
    cr_assert_eq(it_call(fd, CN_MSG_CS_REGISTER, &r, &rr), 0);
    return fd;
}

/* Create NAME in the root with one committed chunk; the handle stays open. */
static uint64_t create_written(int cl, const char *name, uint64_t *chunk)
{
    struct cn_attr f;
    ASSERT_ERR(it_create(cl, 1, name, 0644, 0, &f), 0);
    struct cn_write_begin wb = {f.ino, 0, 0, 0};
    struct cn_write_begin_r wr;
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    *chunk = wr.chunk;
    struct cn_write_end we = {f.ino, 0, wr.chunk, wr.version, wr.lease, 4096, CN_ST_OK};
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &we, NULL), 0);
    return f.ino;
}

static int getattr(int cl, uint64_t ino, struct cn_attr *a)
{
    struct cn_ino_req m = {ino};
    struct cn_attr_r r;
    int rc = it_call(cl, CN_MSG_GETATTR, &m, &r);
    if (!rc && a)
        *a = r.attr;
    return rc;
}

static void release(int cl, uint64_t ino)
{
    struct cn_ino_req m = {ino};
    ASSERT_ERR(it_call(cl, CN_MSG_RELEASE, &m, NULL), 0);
}

static void open_ino(int cl, uint64_t ino)
{
    struct cn_open m = {ino, O_RDWR, 0, 0};
    ASSERT_ERR(it_call(cl, CN_MSG_OPEN, &m, NULL), 0);
}

/* 1 when the chunkserver is told to delete `chunk` within ms (answered). */
static int got_delete(int cs, uint64_t chunk, int ms)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)ms;
    struct cn_buf b = {0};
    int found = 0;
    while (!found && cn_ms_left(deadline) > 0) {
        struct pollfd p = {cs, POLLIN, 0};
        if (poll(&p, 1, (int)cn_ms_left(deadline)) <= 0)
            break;
        struct cn_frame_hdr h;
        cn_buf_reset(&b);
        cr_assert_eq(cn_sock_recv_frame(cs, &h, &b, 0, IT_TIMEOUT_MS), 0);
        if (h.type != CN_MSG_CS_CMD_DELETE_PART)
            continue;
        struct cn_cs_delete_part dp;
        cr_assert_eq(cn_msg_decode(h.type, b.data, b.len, &dp), 0);
        struct cn_empty e = {0};
        struct cn_buf o = {0};
        cn_msg_frame(&o, CN_MSG_CS_CMD_DELETE_PART_R, h.req_id, &e);
        cn_sock_send(cs, o.data, o.len, IT_TIMEOUT_MS);
        cn_buf_release(&o);
        found = dp.chunk == chunk;
    }
    cn_buf_release(&b);
    return found;
}

/* Proves: the open file outlives its unlink until its last handle goes;
 * then the inode is gone and its part deleted. */
Test(master_opens, unlink_while_open_then_last_release)
{
    int cs = fake_cs();
    int cl = it_client();
    uint64_t chunk;
    uint64_t ino = create_written(cl, "f", &chunk); /* handle 1 (CREATE) */
    open_ino(cl, ino);                              /* handle 2 */
    ASSERT_ERR(it_name_op(cl, CN_MSG_UNLINK, 1, "f", 0), 0);
    struct cn_attr a;
    ASSERT_ERR(it_lookup(cl, 1, "f", 0, &a), -ENOENT);
    ASSERT_ERR(getattr(cl, ino, &a), 0);
    cr_assert_eq(a.nlink, 0);
    cr_assert_eq(a.size, 4096);
    /* still writable: a new version of its chunk commits */
    struct cn_write_begin wb = {ino, 0, 0, 0};
    struct cn_write_begin_r wr;
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    struct cn_write_end we = {ino, 0, wr.chunk, wr.version, wr.lease, 8192, CN_ST_OK};
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &we, NULL), 0);
    release(cl, ino);
    ASSERT_ERR(getattr(cl, ino, &a), 0); /* one handle left */
    cr_assert_eq(a.size, 8192);
    cr_assert_eq(got_delete(cs, chunk, 300), 0, "part deleted while a handle is open");
    release(cl, ino);
    ASSERT_ERR(getattr(cl, ino, &a), -ENOENT);
    cr_assert(got_delete(cs, chunk, IT_TIMEOUT_MS), "the chunkserver was not told to free it");
    /* a RELEASE nobody holds is harmless */
    release(cl, ino);
    close(cl);
    close(cs);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: rename over an open file keeps the overwritten file for its handle. */
Test(master_opens, rename_over_open_file)
{
    int cs = fake_cs();
    int cl = it_client();
    uint64_t c1, c2;
    uint64_t victim = create_written(cl, "old", &c1);
    uint64_t other = create_written(cl, "new", &c2);
    release(cl, other);
    struct cn_rename rn = {1, CN_STR("new"), 1, CN_STR("old"), 0, 0, 0};
    ASSERT_ERR(it_call(cl, CN_MSG_RENAME, &rn, NULL), 0);
    struct cn_attr a;
    ASSERT_ERR(getattr(cl, victim, &a), 0);
    cr_assert_eq(a.nlink, 0);
    release(cl, victim);
    ASSERT_ERR(getattr(cl, victim, &a), -ENOENT);
    cr_assert(got_delete(cs, c1, IT_TIMEOUT_MS));
    ASSERT_ERR(it_lookup(cl, 1, "old", 0, &a), 0);
    cr_assert_eq(a.ino, other);
    close(cl);
    close(cs);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: a dead session's handles hold the file for OPEN_GRACE_MS only;
 * a reconnected client that sends REOPEN keeps it; so does a restarted
 * master, for the client that claims it. */
Test(master_opens, session_end_grace_and_reopen)
{
    int cs = fake_cs();
    int cl = it_client();
    uint64_t ca, cb;
    uint64_t a_ino = create_written(cl, "a", &ca);
    uint64_t b_ino = create_written(cl, "b", &cb);
    ASSERT_ERR(it_name_op(cl, CN_MSG_UNLINK, 1, "a", 0), 0);
    ASSERT_ERR(it_name_op(cl, CN_MSG_UNLINK, 1, "b", 0), 0);
    close(cl); /* the mount's connection drops */
    int cl2 = it_client();
    struct cn_attr at;
    ASSERT_ERR(getattr(cl2, a_ino, &at), 0); /* within the grace */
    /* the reconnected mount still has b open: it claims it */
    struct cn_ino_req items[1] = {{b_ino}};
    struct cn_reopen ro = {items, 1};
    ASSERT_ERR(it_call(cl2, CN_MSG_REOPEN, &ro, NULL), 0);
    poll(NULL, 0, GRACE_MS * 3);
    ASSERT_ERR(getattr(cl2, a_ino, &at), -ENOENT); /* nobody claimed a */
    cr_assert(got_delete(cs, ca, IT_TIMEOUT_MS));
    ASSERT_ERR(getattr(cl2, b_ino, &at), 0);
    cr_assert_eq(at.nlink, 0);
    /* the master restarts: b survives its start for the claiming client */
    close(cl2);
    close(cs);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
    it_start_master(0);
    cs = fake_cs();
    int cl3 = it_client();
    ASSERT_ERR(it_call(cl3, CN_MSG_REOPEN, &ro, NULL), 0);
    poll(NULL, 0, GRACE_MS * 3);
    ASSERT_ERR(getattr(cl3, b_ino, &at), 0);
    release(cl3, b_ino);
    ASSERT_ERR(getattr(cl3, b_ino, &at), -ENOENT);
    close(cl3);
    close(cs);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: after a restart an orphan nobody claims goes after the grace. */
Test(master_opens, unclaimed_orphan_freed_after_restart)
{
    int cl = it_client();
    uint64_t c;
    struct cn_attr f;
    ASSERT_ERR(it_create(cl, 1, "x", 0644, 0, &f), 0);
    (void)c;
    ASSERT_ERR(it_name_op(cl, CN_MSG_UNLINK, 1, "x", 0), 0);
    close(cl);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
    it_start_master(0);
    cl = it_client();
    struct cn_attr a;
    ASSERT_ERR(getattr(cl, f.ino, &a), 0); /* kept for the grace */
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    while (getattr(cl, f.ino, &a) == 0) {
        cr_assert_gt(cn_ms_left(deadline), 0, "the unclaimed orphan was never freed");
        poll(NULL, 0, 50);
    }
    close(cl);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}
