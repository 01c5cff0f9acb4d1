/*
 * test_13_master_chunkserver.c - the real cairn-chunkserver against the
 * real cairn-master: it registers with its disk, shows up online in
 * ADM_SERVERS with the disk's space, and becomes unreachable when stopped.
 * Built only when the cairn-chunkserver target exists.
 */
#include "itest.h"

#ifndef CAIRN_CHUNKSERVER_BIN
#error "CAIRN_CHUNKSERVER_BIN must name the cairn-chunkserver binary"
#endif

static void setup(void)
{
    it_init();
    it_write_cfg("CS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\n");
    it_start_master(1);
}

TestSuite(master_chunkserver, .init = setup, .fini = it_fini, .timeout = 60);

/* Bounded re-ask (STYLE 17 deviation: registration has no event visible from outside). */
static json_t *wait_server(int fd, const char *name, const char *state)
{
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        json_t *j = it_admin(fd, CN_MSG_ADM_SERVERS, NULL);
        json_t *s;
        size_t i;
        json_array_foreach(json_object_get(j, "servers"), i, s)
        {
            if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0 &&
                strcmp(json_string_value(json_object_get(s, "state")), state) == 0) {
                json_incref(s);
                json_decref(j);
                return s;
            }
        }
        json_decref(j);
        cr_assert_gt(cn_ms_left(deadline), 0, "%s never became %s", name, state);
        poll(NULL, 0, 50);
    }
}

/* Proves: a real chunkserver registers and ADM_SERVERS shows it with its disk. */
Test(master_chunkserver, registers_and_shows_in_servers)
{
    char disk[160], cfg[160], line[256];
    snprintf(disk, sizeof(disk), "%s/disk0", it.dir);
    char *fmt[] = {CAIRN_DISK_BIN, "format", "--size", "256M", "--segment-size", "16M", disk, NULL};
    int fd;
    pid_t p = it_spawn(fmt, "disk", &fd);
    it_read_line(fd, "formatted", line, sizeof(line), IT_TIMEOUT_MS); /* it prints one line */
    close(fd);
    int st = it_wait(p, IT_TIMEOUT_MS);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cairn-disk format failed");
    snprintf(cfg, sizeof(cfg), "%s/cs.cfg", it.dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "NAME = csA\nLABELS = hdd\nMASTER = 127.0.0.1:%u\nLISTEN = 127.0.0.1:0\nDISKS = %s\n"
            "LOG_FILE = %s/cs.log\n",
            it.csport, disk, it.dir);
    fclose(f);
    char *argv[] = {CAIRN_CHUNKSERVER_BIN, "-c", cfg, NULL};
    it.extra[0].pid = it_spawn(argv, "cs", &it.extra[0].out_fd);
    int rc = it_read_line(it.extra[0].out_fd, "ready ", line, sizeof(line), IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "cairn-chunkserver not ready (see %s/cs.err)", it.dir);
    int cl = it_connect(it.cport, CN_ROLE_ADMIN);
    json_t *s = wait_server(cl, "csA", "online");
    json_t *disks = json_object_get(s, "disks");
    cr_assert_eq(json_array_size(disks), 1);
    cr_assert_gt(json_integer_value(json_object_get(json_array_get(disks, 0), "total")), 0);
    json_decref(s);
    it_stop(&it.extra[0]);
    s = wait_server(cl, "csA", "unreachable");
    json_decref(s);
    close(cl);
}
