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
