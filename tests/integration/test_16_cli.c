/*
 * test_16_cli.c - the `cairn` admin CLI against the real cairn-master (and a
 * real cairn-chunkserver): status --json carries the chunk health counts
 * and the servers array, the human tables name the chunkserver and its
 * disk, info shows a file, an unreachable master fails fast naming the
 * address, and usage errors exit 2.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "itest.h"

#ifndef CAIRN_CLI_BIN
#error "CAIRN_CLI_BIN must name the cairn binary"
#endif
#ifndef CAIRN_CHUNKSERVER_BIN
#error "CAIRN_CHUNKSERVER_BIN must name the cairn-chunkserver binary"
#endif

static void setup(void)
{
    it_init();
    it_write_cfg("CS_TIMEOUT_MS = 30s\nHEARTBEAT_MS = 200ms\n");
    it_start_master(1);
}

TestSuite(cli, .init = setup, .fini = it_fini, .timeout = 60);

struct run {
    int code; /* exit code, -1 if killed or timed out */
    uint64_t ms;
    char out[16384]; /* stdout and stderr together */
};

/* Run cairn with argv[1..] (NULL-terminated), env CAIRN_MASTER=env_master if set. */
static void run_cli(struct run *r, const char *env_master, char *const args[])
{
    char *argv[16] = {CAIRN_CLI_BIN};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int pfd[2];
    cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
    uint64_t t0 = cn_now_ms();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        if (env_master)
            setenv("CAIRN_MASTER", env_master, 1);
        else
            unsetenv("CAIRN_MASTER");
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t have = 0;
    uint64_t deadline = t0 + IT_TIMEOUT_MS;
    for (;;) {
        int left = cn_ms_left(deadline);
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (left == 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t k = read(pfd[0], r->out + have, sizeof(r->out) - 1 - have);
        if (k <= 0)
            break;
        have += (size_t)k;
        if (have == sizeof(r->out) - 1)
            break;
    }
    r->out[have] = 0;
    close(pfd[0]);
    int st = it_wait(pid, cn_ms_left(deadline));
    if (st < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    r->ms = cn_now_ms() - t0;
    r->code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *master_arg(char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%u", it.cport);
    return buf;
}

/* Format a disk and start cairn-chunkserver csA into it.extra[0]; returns the disk path. */
static void start_chunkserver(char *disk, size_t dlen)
{
    char cfg[160], line[256];
    snprintf(disk, dlen, "%s/disk0", it.dir);
    char *fmt[] = {CAIRN_DISK_BIN, "format", "--size", "256M", "--segment-size", "16M", disk, NULL};
    int fd;
    pid_t p = it_spawn(fmt, "disk", &fd);
    it_read_line(fd, "formatted", line, sizeof(line), IT_TIMEOUT_MS);
    close(fd);
    int st = it_wait(p, IT_TIMEOUT_MS);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cairn-disk format failed");
    snprintf(cfg, sizeof(cfg), "%s/cs.cfg", it.dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "NAME = csA\nLABELS = hdd\nMASTER = 127.0.0.1:%u\nLISTEN = 127.0.0.1:0\nDISKS = %s\n"
            "LOG_FILE = %s/cs.log\n",
            it.csport, disk, it.dir);
    fclose(f);
    char *argv[] = {CAIRN_CHUNKSERVER_BIN, "-c", cfg, NULL};
    it.extra[0].pid = it_spawn(argv, "cs", &it.extra[0].out_fd);
    int rc = it_read_line(it.extra[0].out_fd, "ready ", line, sizeof(line), IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "cairn-chunkserver not ready (see %s/cs.err)", it.dir);
}

/* Proves: status --json is the master's object with chunk health counts and servers[]. */
Test(cli, status_json_has_chunks_and_servers)
{
    char m[64];
    struct run r;
    run_cli(&r, NULL, (char *[]){"-m", master_arg(m, sizeof(m)), "status", "--json", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    cr_assert_not_null(j, "not JSON (%s): %s", je.text, r.out);
    json_t *c = json_object_get(j, "chunks");
    cr_assert(json_is_object(c), "%s", r.out);
    const char *keys[] = {"ok", "undergoal", "endangered", "lost"};
    for (int i = 0; i < 4; i++)
        cr_assert(json_is_integer(json_object_get(c, keys[i])), "chunks.%s: %s", keys[i], r.out);
    cr_assert(json_is_array(json_object_get(j, "servers")), "%s", r.out);
    cr_assert(strchr(r.out, '\n') != strrchr(r.out, '\n'), "not pretty-printed: %s", r.out);
    json_decref(j);

    /* the address from $CAIRN_MASTER, human output */
    run_cli(&r, m, (char *[]){"status", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    cr_assert_not_null(strstr(r.out, "endangered"), "%s", r.out);
}

/* Proves: the human tables of servers, disks and status name the registered chunkserver. */
Test(cli, servers_and_disks_human_tables)
{
    char m[64], disk[160];
    struct run r;
    start_chunkserver(disk, sizeof(disk));
    master_arg(m, sizeof(m));
    /* Bounded re-ask (STYLE 17 deviation: registration has no event visible from outside). */
    uint64_t deadline = cn_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        run_cli(&r, NULL, (char *[]){"-m", m, "servers", NULL});
        cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
        if (strstr(r.out, "csA") && strstr(r.out, "online"))
            break;
        cr_assert_gt(cn_ms_left(deadline), 0, "csA never shown online: %s", r.out);
        poll(NULL, 0, 50);
    }
    cr_assert_not_null(strstr(r.out, "hdd"), "labels: %s", r.out);
    run_cli(&r, NULL, (char *[]){"-m", m, "disks", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    cr_assert_not_null(strstr(r.out, disk), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "csA"), "%s", r.out);
    run_cli(&r, NULL, (char *[]){"-m", m, "status", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    cr_assert_not_null(strstr(r.out, "csA"), "%s", r.out);
    run_cli(&r, NULL, (char *[]){"-m", m, "--json", "disks", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(j, "disks")), 1, "%s", r.out);
    json_decref(j);
}

/* Proves: info shows an absolute path's inode; a missing path exits 1. */
Test(cli, info_path)
{
    char m[64];
    struct run r;
    int fd = it_client();
    struct cn_attr a;
    cr_assert_eq(it_create(fd, 1, "f1", 0644, 0, &a), 0);
    close(fd);
    master_arg(m, sizeof(m));
    run_cli(&r, NULL, (char *[]){"-m", m, "--json", "info", "/f1", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert_eq((uint64_t)json_integer_value(json_object_get(j, "ino")), a.ino, "%s", r.out);
    cr_assert(json_is_array(json_object_get(j, "chunks")), "%s", r.out);
    json_decref(j);
    run_cli(&r, NULL, (char *[]){"-m", m, "info", "/f1", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
    cr_assert_not_null(strstr(r.out, "chunks: 0"), "%s", r.out);
    run_cli(&r, NULL, (char *[]){"-m", m, "info", "/nope", NULL});
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.out);
    cr_assert_not_null(strstr(r.out, "/nope"), "%s", r.out);
}

/* Proves: a closed port fails within 5 s with exit 1 and the address in the message. */
Test(cli, unreachable_master_exits_1_fast)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s); /* nothing listens there now */
    char m[64];
    snprintf(m, sizeof(m), "127.0.0.1:%u", ntohs(sa.sin_port));
    struct run r;
    run_cli(&r, NULL, (char *[]){"-m", m, "status", NULL});
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.out);
    cr_assert_lt(r.ms, 5000, "took %llu ms", (unsigned long long)r.ms);
    cr_assert_not_null(strstr(r.out, m), "address not named: %s", r.out);
}

/* Proves: usage errors exit 2 with a message. */
Test(cli, bad_usage_exits_2)
{
    struct run r;
    char *cases[][4] = {
        {NULL},
        {"frobnicate", NULL},
        {"info", NULL},
        {"status", "extra", NULL},
        {"--bogus", "status", NULL},
        {"-m", NULL},
        {"-m", "127.0.0.1:notaport", "status", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_cli(&r, NULL, cases[i]);
        cr_assert_eq(r.code, 2, "case %zu: exit %d: %s", i, r.code, r.out);
        cr_assert_not_null(strstr(r.out, "cairn: "), "case %zu: %s", i, r.out);
    }
    run_cli(&r, NULL, (char *[]){"info", "relative/path", NULL});
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.out);
    cr_assert_not_null(strstr(r.out, "mount"), "%s", r.out);
}
