/*
 * test_11_master_cs.c - the master's chunkserver registry driven by real
 * CS_REGISTER / CS_HEARTBEAT frames from the test: ids, disks and states in
 * ADM_SERVERS, placement of copies=2 on distinct servers, locations from
 * reported parts, chunk health in ADM_STATUS, ADM_INFO, a server becoming
 * unreachable then lost, and DELETE_PART for freed or unknown chunks.
 */
#include "itest.h"

/* A short grace (servers become lost quickly; silent ones are dropped) */
static void setup_fast(void)
{
    it_init();
    it_write_cfg("GOAL = 2\nCS_TIMEOUT_MS = 400ms\nCS_GRACE_MS = 400ms\nHEARTBEAT_MS = 200ms\n");
    it_start_master(1);
}

/* A grace long enough for test connections that do not heartbeat */
static void setup(void)
{
    it_init();
    it_write_cfg("GOAL = 2\nCS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\n");
    it_start_master(1);
}

TestSuite(master_cs, .init = setup, .fini = it_fini, .timeout = 60);

static uint64_t cs_register(int fd, uint64_t id, const char *name, const char *addr,
                            uint64_t free_b, struct cn_cs_part *parts, uint32_t nparts)
{
    struct cn_cs_disk d = {.path = cn_str_of("/dev/test0"),
                           .labels = CN_STR("hdd"),
                           .total = free_b * 2,
                           .used = free_b,
                           .free = free_b};
    d.uuid[0] = (uint8_t)name[2];
    struct cn_cs_register r = {id, cn_str_of(name), CN_STR("hdd"), cn_str_of(addr), &d,
                               1,  parts,           nparts};
    struct cn_cs_register_r rr;
    int rc = it_call(fd, CN_MSG_CS_REGISTER, &r, &rr);
    cr_assert_eq(rc, 0, "CS_REGISTER %s: %s", name, cn_strerror(rc));
    cr_assert_neq(rr.cs_id, 0);
    cr_assert_eq(rr.heartbeat_ms, 200);
    return rr.cs_id;
}

/* Heartbeat, then a PING on the same connection: when PONG is back the
 * heartbeat has been processed (frames of a connection are handled in order). */
static void cs_heartbeat(int fd, struct cn_cs_part *parts, uint32_t n)
{
    struct cn_cs_heartbeat hb = {NULL, 0, parts, n};
    struct cn_buf b = {0};
    cr_assert_eq(cn_msg_frame(&b, CN_MSG_CS_HEARTBEAT, 0, &hb), 0);
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
    struct cn_ping p = {42};
    cr_assert_eq(it_call(fd, CN_MSG_PING, &p, NULL), 0);
}

/* The state of server `name` in ADM_SERVERS. */
static const char *server_state(int fd, const char *name, char *buf, size_t len)
{
    json_t *j = it_admin(fd, CN_MSG_ADM_SERVERS, NULL);
    json_t *a = json_object_get(j, "servers"), *s;
    size_t i;
    buf[0] = 0;
    json_array_foreach(a, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            snprintf(buf, len, "%s", json_string_value(json_object_get(s, "state")));
    }
    json_decref(j);
    return buf;
}

/* Deliberate deviation from STYLE 17: a server's state change has no event
 * a client can wait on, so ask again (bounded by the deadline). */
static void wait_state(int fd, const char *name, const char *want)
{
    char buf[32];
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    while (strcmp(server_state(fd, name, buf, sizeof(buf)), want) != 0) {
        cr_assert_gt(cn_ms_left(deadline), 0, "%s stayed %s, want %s", name, buf, want);
        poll(NULL, 0, 20);
    }
}

static json_int_t chunks_count(int fd, const char *key)
{
    json_t *j = it_admin(fd, CN_MSG_ADM_STATUS, NULL);
    json_int_t v = json_integer_value(json_object_get(json_object_get(j, "chunks"), key));
    json_decref(j);
    return v;
}

/* Proves: registration assigns ids, shows servers with their disks, and a
 * server that comes back under its name keeps its id. */
Test(master_cs, register_and_servers, .init = setup_fast)
{
    int cs = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    uint64_t id = cs_register(cs, 0, "cs1", "127.0.0.1:1", 1 << 30, NULL, 0);
    int cl = it_connect(it.cport, CN_ROLE_ADMIN);
    json_t *j = it_admin(cl, CN_MSG_ADM_SERVERS, NULL);
    json_t *s = json_array_get(json_object_get(j, "servers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(s, "name")), "cs1");
    cr_assert_str_eq(json_string_value(json_object_get(s, "state")), "online");
    cr_assert_eq(json_array_size(json_object_get(s, "disks")), 1);
    json_decref(j);
    j = it_admin(cl, CN_MSG_ADM_DISKS, NULL);
    cr_assert_eq(json_array_size(json_object_get(j, "disks")), 1);
    json_decref(j);
    close(cs);
    wait_state(cl, "cs1", "unreachable");
    wait_state(cl, "cs1", "lost");
    cs = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    cr_assert_eq(cs_register(cs, 0, "cs1", "127.0.0.1:1", 1 << 30, NULL, 0), id);
    wait_state(cl, "cs1", "online");
    /* a second server gets another id even if it claims cs1's */
    int cs2 = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    cr_assert_neq(cs_register(cs2, id, "cs2", "127.0.0.1:2", 1 << 30, NULL, 0), id);
    close(cs2);
    close(cs);
    close(cl);
}

/* Proves: copies=2 go to distinct servers; reported parts become locations;
 * health counts follow the servers' states; freeing the file sends DELETE_PART. */
Test(master_cs, write_locate_health_delete)
{
    int cs[3];
    uint64_t ids[3];
    char name[16], addr[32];
    for (int i = 0; i < 3; i++) {
        cs[i] = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
        snprintf(name, sizeof(name), "cs%d", i + 1);
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 7000 + i);
        ids[i] = cs_register(cs[i], 0, name, addr, (uint64_t)(i + 1) << 30, NULL, 0);
    }
    int cl = it_client();
    struct cn_attr f;
    ASSERT_ERR(it_create(cl, 1, "f", 0644, 0, &f), 0);
    struct cn_write_begin wb = {f.ino, 0, 0, 0};
    struct cn_write_begin_r wr;
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    cr_assert_eq(wr.nlocs, 2);
    cr_assert_neq(wr.locs[0].cs_id, wr.locs[1].cs_id);
    uint64_t chunk = wr.chunk, version = wr.version, lease = wr.lease;
    int holder[2];
    for (int k = 0; k < 2; k++) {
        holder[k] = -1;
        for (int i = 0; i < 3; i++)
            if (ids[i] == wr.locs[k].cs_id)
                holder[k] = i;
        cr_assert_geq(holder[k], 0);
    }
    uint16_t parts[2] = {wr.locs[0].part, wr.locs[1].part};
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    /* a second writer is refused while the lease is held */
    int cl2 = it_client();
    ASSERT_ERR(it_call(cl2, CN_MSG_WRITE_BEGIN, &wb, NULL), -EAGAIN);
    close(cl2);
    /* the chain stores the parts and reports them */
    for (int k = 0; k < 2; k++) {
        struct cn_cs_part p = {chunk, version, parts[k], 0, 0};
        cs_heartbeat(cs[holder[k]], &p, 1);
    }
    struct cn_write_end we = {f.ino, 0, chunk, version, lease, 1000, CN_ST_OK};
    struct cn_attr_r ar;
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &we, &ar), 0);
    cr_assert_eq(ar.attr.size, 1000);
    /* the same WRITE_END again (a retry after a reply lost with a killed
     * master) is answered as the first time, and changes nothing */
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &we, &ar), 0);
    cr_assert_eq(ar.attr.size, 1000);
    /* a rollback of the committed version is refused */
    struct cn_write_end undo = we;
    undo.status = CN_ST_EIO;
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &undo, NULL), -ESTALE);
    struct cn_chunk_locate lc = {f.ino, 0};
    struct cn_chunk_locate_r lr;
    ASSERT_ERR(it_call(cl, CN_MSG_CHUNK_LOCATE, &lc, &lr), 0);
    cr_assert_eq(lr.chunk, chunk);
    cr_assert_eq(lr.version, version);
    cr_assert_eq(lr.nlocs, 2);
    cn_msg_free(CN_MSG_CHUNK_LOCATE_R, &lr);
    cr_assert_eq(chunks_count(cl, "ok"), 1);
    /* a rewrite goes to the servers holding the chunk, under a new version;
     * a failed write rolls back to the committed one */
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    cr_assert_eq(wr.chunk, chunk);
    cr_assert_eq(wr.version, version + 1);
    cr_assert_eq(wr.nlocs, 2);
    for (uint32_t k = 0; k < 2; k++)
        cr_assert(wr.locs[k].cs_id == ids[holder[0]] || wr.locs[k].cs_id == ids[holder[1]]);
    struct cn_write_end fail = {f.ino, 0, chunk, wr.version, wr.lease, 5000, CN_ST_EIO};
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &fail, &ar), 0);
    cr_assert_eq(ar.attr.size, 1000, "a rolled back write does not change the size");
    ASSERT_ERR(it_call(cl, CN_MSG_CHUNK_LOCATE, &lc, &lr), 0);
    cr_assert_eq(lr.version, version);
    cr_assert_eq(lr.nlocs, 2);
    cn_msg_free(CN_MSG_CHUNK_LOCATE_R, &lr);
    json_t *info = it_admin(cl, CN_MSG_ADM_INFO, "/f");
    json_t *c0 = json_array_get(json_object_get(info, "chunks"), 0);
    cr_assert_eq(json_integer_value(json_object_get(c0, "version")), (json_int_t)version);
    cr_assert_eq(json_array_size(json_object_get(c0, "parts")), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(c0, "parts"), 0), "disk")),
        "/dev/test0");
    json_decref(info);
    /* one holder goes away: endangered, one location left */
    close(cs[holder[0]]);
    snprintf(name, sizeof(name), "cs%d", holder[0] + 1);
    wait_state(cl, name, "unreachable");
    cr_assert_eq(chunks_count(cl, "endangered"), 1);
    ASSERT_ERR(it_call(cl, CN_MSG_CHUNK_LOCATE, &lc, &lr), 0);
    cr_assert_eq(lr.nlocs, 1);
    cn_msg_free(CN_MSG_CHUNK_LOCATE_R, &lr);
    /* close (the CREATE's handle), then unlink frees the chunk: the
     * remaining holder is told to delete its part */
    struct cn_ino_req rel = {f.ino};
    ASSERT_ERR(it_call(cl, CN_MSG_RELEASE, &rel, NULL), 0);
    ASSERT_ERR(it_name_op(cl, CN_MSG_UNLINK, 1, "f", 0), 0);
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    cr_assert_eq(cn_sock_recv_frame(cs[holder[1]], &h, &b, 0, IT_TIMEOUT_MS), 0);
    cr_assert_eq(h.type, CN_MSG_CS_CMD_DELETE_PART);
    struct cn_cs_delete_part dp;
    cr_assert_eq(cn_msg_decode(h.type, b.data, b.len, &dp), 0);
    cr_assert_eq(dp.chunk, chunk);
    cr_assert_eq(dp.version, version);
    struct cn_empty e = {0};
    cn_buf_reset(&b);
    cn_msg_frame(&b, CN_MSG_CS_CMD_DELETE_PART_R, h.req_id, &e);
    cn_sock_send(cs[holder[1]], b.data, b.len, IT_TIMEOUT_MS);
    cn_buf_release(&b);
    cr_assert_eq(chunks_count(cl, "endangered"), 0);
    for (int i = 0; i < 3; i++)
        if (i != holder[0])
            close(cs[i]);
    close(cl);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
}

/* Proves: a part of a chunk the metadata does not know is deleted at registration. */
Test(master_cs, garbage_part_deleted_at_register)
{
    int cs = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    struct cn_cs_part p = {0xdead0001, 3, 0, 0, 0};
    struct cn_cs_disk d = {.path = CN_STR("/d"), .labels = CN_STR(""), .free = 1 << 20};
    struct cn_cs_register r = {0, CN_STR("cs9"), CN_STR(""), CN_STR("127.0.0.1:9"), &d, 1, &p, 1};
    struct cn_buf b = {0};
    cn_msg_frame(&b, CN_MSG_CS_REGISTER, 7, &r);
    cr_assert_eq(cn_sock_send(cs, b.data, b.len, IT_TIMEOUT_MS), 0);
    int got_delete = 0, got_reply = 0;
    for (int i = 0; i < 2; i++) {
        struct cn_frame_hdr h;
        cr_assert_eq(cn_sock_recv_frame(cs, &h, &b, 0, IT_TIMEOUT_MS), 0);
        if (h.type == CN_MSG_CS_CMD_DELETE_PART) {
            struct cn_cs_delete_part dp;
            cr_assert_eq(cn_msg_decode(h.type, b.data, b.len, &dp), 0);
            cr_assert_eq(dp.chunk, 0xdead0001);
            got_delete = 1;
        }
        got_reply |= h.type == CN_MSG_CS_REGISTER_R;
    }
    cr_assert(got_delete && got_reply);
    cn_buf_release(&b);
    close(cs);
}

static void setup_short_lease(void)
{
    it_init();
    it_write_cfg("GOAL = 1\nLEASE_MS = 300ms\nCS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\n");
    it_start_master(1);
}

static int leased(int fd, const char *path)
{
    json_t *j = it_admin(fd, CN_MSG_ADM_INFO, path);
    json_t *c0 = json_array_get(json_object_get(j, "chunks"), 0);
    int v = json_is_true(json_object_get(c0, "leased"));
    json_decref(j);
    return v;
}

/* Proves: the tick rolls back an expired lease; the late writer's commit is
 * refused (ESTALE) and another writer then gets a new version. */
Test(master_cs, lease_expiry_rolls_back, .init = setup_short_lease)
{
    int cs = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
    cs_register(cs, 0, "cs1", "127.0.0.1:7001", 1 << 30, NULL, 0);
    int a = it_client(), b = it_client();
    struct cn_attr f;
    ASSERT_ERR(it_create(a, 1, "f", 0644, 0, &f), 0);
    struct cn_write_begin wb = {f.ino, 0, 0, 0};
    struct cn_write_begin_r wr;
    ASSERT_ERR(it_call(a, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    cr_assert_eq(wr.lease_ms, 300);
    uint64_t chunk = wr.chunk, version = wr.version, lease = wr.lease;
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    ASSERT_ERR(it_call(b, CN_MSG_WRITE_BEGIN, &wb, NULL), -EAGAIN);
    cr_assert(leased(b, "/f"));
    /* Deliberate deviation from STYLE 17: expiry is a timer inside the
     * master with nothing to wait on from outside; ask again, bounded. */
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    while (leased(b, "/f")) {
        cr_assert_gt(cn_ms_left(deadline), 0, "lease never expired");
        poll(NULL, 0, 50);
    }
    struct cn_write_end we = {f.ino, 0, chunk, version, lease, 10, CN_ST_OK};
    ASSERT_ERR(it_call(a, CN_MSG_WRITE_END, &we, NULL), -ESTALE);
    ASSERT_ERR(it_call(b, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
    cr_assert_eq(wr.chunk, chunk);
    cr_assert_gt(wr.version, version, "an abandoned version is never reused");
    cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
    close(a);
    close(b);
    close(cs);
}

static void setup_goal3(void)
{
    it_init();
    it_write_cfg("GOAL = 3\nCS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\n");
    it_start_master(1);
}

/* Proves: ADM_STATUS classifies against GOAL (3 live = ok, 2 = undergoal,
 * 1 = endangered, 0 = lost) and lists servers with name, state and disks. */
Test(master_cs, status_health_classes, .init = setup_goal3)
{
    int cs[3];
    char name[16], addr[32];
    for (int i = 0; i < 3; i++) {
        cs[i] = it_connect(it.csport, CN_ROLE_CHUNKSERVER);
        snprintf(name, sizeof(name), "cs%d", i + 1);
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 7100 + i);
        cs_register(cs[i], 0, name, addr, 1 << 30, NULL, 0);
    }
    int cl = it_client();
    /* four files, one chunk each, left with 3, 2, 1 and 0 copies */
    for (int k = 0; k < 4; k++) {
        struct cn_attr f;
        snprintf(name, sizeof(name), "f%d", k);
        ASSERT_ERR(it_create(cl, 1, name, 0644, 0, &f), 0);
        struct cn_write_begin wb = {f.ino, 0, 0, 0};
        struct cn_write_begin_r wr;
        ASSERT_ERR(it_call(cl, CN_MSG_WRITE_BEGIN, &wb, &wr), 0);
        cr_assert_eq(wr.nlocs, 3);
        struct cn_write_end we = {f.ino, 0, wr.chunk, wr.version, wr.lease, 1, CN_ST_OK};
        cn_msg_free(CN_MSG_WRITE_BEGIN_R, &wr);
        /* the commit makes the whole chain hold the version at once ... */
        ASSERT_ERR(it_call(cl, CN_MSG_WRITE_END, &we, NULL), 0);
        /* ... then k of the three report the part gone */
        for (int i = 0; i < 3; i++) {
            struct cn_cs_part p = {wr.chunk, wr.version, 0, 0, (uint8_t)(i < 3 - k ? 0 : 1)};
            cs_heartbeat(cs[i], &p, 1);
        }
    }
    json_t *j = it_admin(cl, CN_MSG_ADM_STATUS, NULL);
    json_t *c = json_object_get(j, "chunks");
    cr_assert_eq(json_integer_value(json_object_get(c, "ok")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "undergoal")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "endangered")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "lost")), 1);
    json_t *servers = json_object_get(j, "servers");
    cr_assert_eq(json_array_size(servers), 3);
    json_t *s0 = json_array_get(servers, 0);
    cr_assert(json_is_string(json_object_get(s0, "name")));
    cr_assert_str_eq(json_string_value(json_object_get(s0, "state")), "online");
    cr_assert_eq(json_array_size(json_object_get(s0, "disks")), 1);
    json_decref(j);
    for (int i = 0; i < 3; i++)
        close(cs[i]);
    close(cl);
}
