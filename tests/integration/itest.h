/*
 * itest.h - helpers of the integration suites: a work dir per test, the
 * real cairn-master started on loopback with ports it picks itself (port 0,
 * reported on its "ready" line), blocking wire calls, and cleanup that
 * always kills the children by PID and removes the dir (it_fini, run from
 * each test's .fini).
 *
 * Waiting is event-driven: the ready line is read with poll() on a pipe,
 * a child's exit is waited for with poll() on a pidfd; nothing sleeps.
 */
#ifndef CAIRN_ITEST_H
#define CAIRN_ITEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cn_time.h"
#include "net.h"
#include "wire.h"

#ifndef CAIRN_MASTER_BIN
#error "CAIRN_MASTER_BIN must name the cairn-master binary"
#endif

#define IT_TIMEOUT_MS 10000 /* one wire call or one start (ASan builds are slow) */

struct it_proc {
    pid_t pid;
    int out_fd; /* its stdout (the ready line) */
};

struct itest {
    char dir[64];
    char cfg[128];
    struct it_proc master;
    struct it_proc extra[4]; /* other daemons a test started */
    uint16_t cport, csport;
    struct cn_buf rbuf; /* the last reply; decoded slices borrow from it */
    uint64_t next_id;
};

static struct itest it; /* one test per process (Criterion forks) */

static inline int it_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Wait up to timeout_ms for pid to exit; returns its wait status or -1. */
static inline int it_wait(pid_t pid, int timeout_ms)
{
    int st = 0;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        struct pollfd p = {pfd, POLLIN, 0};
        poll(&p, 1, timeout_ms);
        close(pfd);
    }
    if (waitpid(pid, &st, WNOHANG) == pid)
        return st;
    return -1;
}

static inline void it_kill(struct it_proc *p, int sig)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, sig);
    if (it_wait(p->pid, IT_TIMEOUT_MS) < 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
}

/* SIGTERM and wait: returns the exit code (ASan/LSan findings make it non-zero). */
static inline int it_stop(struct it_proc *p)
{
    kill(p->pid, SIGTERM);
    int st = it_wait(p->pid, IT_TIMEOUT_MS);
    if (st < 0)
        it_kill(p, SIGKILL);
    p->pid = 0;
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void it_init(void)
{
    memset(&it, 0, sizeof(it));
    it.master.out_fd = -1;
    for (int i = 0; i < 4; i++)
        it.extra[i].out_fd = -1;
    snprintf(it.dir, sizeof(it.dir), "/tmp/cairn-it-XXXXXX");
    cr_assert_not_null(mkdtemp(it.dir));
    snprintf(it.cfg, sizeof(it.cfg), "%s/master.cfg", it.dir);
}

static inline void it_fini(void)
{
    it_kill(&it.master, SIGKILL);
    for (int i = 0; i < 4; i++)
        it_kill(&it.extra[i], SIGKILL);
    cn_buf_release(&it.rbuf);
    if (it.dir[0])
        nftw(it.dir, it_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write the master's config: loopback, port 0, DATA_PATH in the work dir, plus `extra`. */
static inline void it_write_cfg(const char *extra)
{
    FILE *f = fopen(it.cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "# written by the test\nDATA_PATH = %s/db\nCLIENT_LISTEN = 127.0.0.1:0\n"
            "CS_LISTEN = 127.0.0.1:0\nLOG_FILE = %s/master.log\nCACHE_SIZE = 8M\n%s%s",
            it.dir, it.dir, extra ? extra : "",
            /* deletes free at once unless a test asks for the trash (after
             * `extra`, so its line numbers stay as the tests expect) */
            extra && strstr(extra, "TRASH_TIME") ? "" : "TRASH_TIME = 0\n");
    fclose(f);
}

/* Fork/exec argv with stdout to a pipe and stderr to DIR/name.err. */
static inline pid_t it_spawn(char *const argv[], const char *name, int *out_fd)
{
    int pfd[2];
    cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
    char errpath[160];
    snprintf(errpath, sizeof(errpath), "%s/%s.err", it.dir, name);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* a test killed by its timeout runs no .fini: take the daemon along */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int e = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(pfd[1], 1);
        if (e >= 0)
            dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    *out_fd = pfd[0];
    return pid;
}

/* Read the child's stdout until a line starting with `prefix`; copy it to line. */
static inline int it_read_line(int fd, const char *prefix, char *line, size_t len, int timeout_ms)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    size_t have = 0;
    for (;;) {
        char *nl;
        line[have] = 0;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            if (strncmp(line, prefix, strlen(prefix)) == 0)
                return 0;
            size_t rest = have - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest + 1);
            have = rest;
        }
        int left = cn_ms_left(deadline);
        struct pollfd p = {fd, POLLIN, 0};
        if (left == 0 || poll(&p, 1, left) <= 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, line + have, len - 1 - have);
        if (n <= 0)
            return -EPIPE; /* exited before it was ready */
        have += (size_t)n;
    }
}

/* Start the master (with --create if asked); waits for its ready line. */
static inline void it_start_master(int create)
{
    char *argv[] = {CAIRN_MASTER_BIN, "-c", it.cfg, create ? "--create" : NULL, NULL};
    it.master.pid = it_spawn(argv, "master", &it.master.out_fd);
    char line[256];
    int rc = it_read_line(it.master.out_fd, "ready ", line, sizeof(line), IT_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "cairn-master did not become ready: %s (see %s/master.err)",
                 cn_strerror(rc), it.dir);
    unsigned c, s;
    cr_assert_eq(sscanf(line, "ready client_port=%u cs_port=%u", &c, &s), 2, "%s", line);
    it.cport = (uint16_t)c;
    it.csport = (uint16_t)s;
}

static inline int it_connect_raw(uint16_t port)
{
    struct cn_addr a = {"127.0.0.1", port};
    int fd = cn_sock_connect(&a, IT_TIMEOUT_MS);
    cr_assert_geq(fd, 0, "connect to port %u: %s", port, cn_strerror(fd));
    return fd;
}

/* Send one request, expect its _R (decoded into reply, may be NULL) or an
 * ERROR (returned as -errno). Slices of reply borrow it.rbuf until the next call. */
static inline int it_call(int fd, uint16_t type, const void *msg, void *reply)
{
    struct cn_frame_hdr h;
    char err[256] = "";
    int rc =
        cn_sock_call(fd, type, ++it.next_id, msg, &h, &it.rbuf, IT_TIMEOUT_MS, err, sizeof(err));
    if (rc)
        return rc;
    cr_assert_eq(h.type, type | CN_MSG_REPLY, "reply type 0x%04x to 0x%04x", h.type, type);
    if (reply) {
        int d = cn_msg_decode(h.type, it.rbuf.data, it.rbuf.len, reply);
        cr_assert_eq(d, 0, "decoding reply 0x%04x: %s", h.type, cn_strerror(d));
    }
    return 0;
}

/* Connect and say HELLO in `role`. */
static inline int it_connect(uint16_t port, uint8_t role)
{
    int fd = it_connect_raw(port);
    struct cn_hello h = {role,     CN_WIRE_VERSION_MIN, CN_WIRE_VERSION, CN_STR("itest"), {NULL, 0},
                         {NULL, 0}};
    struct cn_hello_r hr;
    int rc = it_call(fd, CN_MSG_HELLO, &h, &hr);
    cr_assert_eq(rc, 0, "HELLO: %s", cn_strerror(rc));
    cr_assert_eq(hr.version, CN_WIRE_VERSION);
    return fd;
}

static inline int it_client(void)
{
    return it_connect(it.cport, CN_ROLE_CLIENT);
}

/* 1 if the peer closed fd (EOF or reset) within the timeout. */
static inline int it_closed_by_peer(int fd)
{
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    int rc;
    do {
        rc = cn_sock_recv_frame(fd, &h, &b, 0, IT_TIMEOUT_MS);
    } while (rc == 0);
    cn_buf_release(&b);
    return rc == -ECONNRESET || rc == -EPIPE;
}

/* ---- metadata calls ------------------------------------------------------------- */

static inline int it_mkdir(int fd, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
                           struct cn_attr *out)
{
    struct cn_mkdir m = {parent, cn_str_of(name), mode, uid, uid, 0};
    struct cn_attr_r r;
    int rc = it_call(fd, CN_MSG_MKDIR, &m, &r);
    if (!rc && out)
        *out = r.attr;
    return rc;
}

static inline int it_create(int fd, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
                            struct cn_attr *out)
{
    struct cn_create m = {parent, cn_str_of(name), mode, O_CREAT | O_RDWR, uid, uid, 0};
    struct cn_attr_r r;
    int rc = it_call(fd, CN_MSG_CREATE, &m, &r);
    if (!rc && out)
        *out = r.attr;
    return rc;
}

static inline int it_lookup(int fd, uint64_t parent, const char *name, uint32_t uid,
                            struct cn_attr *out)
{
    struct cn_name_req m = {parent, cn_str_of(name), uid, uid};
    struct cn_attr_r r;
    int rc = it_call(fd, CN_MSG_LOOKUP, &m, &r);
    if (!rc && out)
        *out = r.attr;
    return rc;
}

static inline int it_name_op(int fd, uint16_t type, uint64_t parent, const char *name, uint32_t uid)
{
    struct cn_name_req m = {parent, cn_str_of(name), uid, uid};
    return it_call(fd, type, &m, NULL);
}

/* Parse the JSON of an ADM_* reply (caller json_decref()s). */
#include <jansson.h>
static inline json_t *it_admin(int fd, uint16_t type, const char *path)
{
    struct cn_json_r r;
    struct cn_path_req p = {cn_str_of(path ? path : "/")};
    struct cn_empty e = {0};
    int rc = it_call(fd, type, type == CN_MSG_ADM_INFO ? (const void *)&p : (const void *)&e, &r);
    cr_assert_eq(rc, 0, "admin 0x%04x: %s", type, cn_strerror(rc));
    json_error_t je;
    json_t *j = json_loadb((const char *)r.json.ptr, r.json.len, 0, &je);
    cr_assert_not_null(j, "bad JSON from the master: %s", je.text);
    return j;
}

#define ASSERT_ERR(expr, want)                                                                     \
    do {                                                                                           \
        int _got = (expr);                                                                         \
        cr_assert_eq(_got, (want), "%s: got %d (%s), want %d (%s)", #expr, _got,                   \
                     cn_strerror(_got), (want), cn_strerror(want));                                \
    } while (0)

#endif
