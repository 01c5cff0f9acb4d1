/*
 * test_chunkserver.c - real cairn-chunkserver processes on loopback, with
 * file-backed disks formatted by the logstore library in a mkdtemp dir.
 * MASTER points at a closed port: the data path must work without a master.
 *
 * Each test owns its work dir, waits only on events with timeouts (the
 * daemon's "ready" line on a pipe, replies, a pidfd), kills its children by
 * PID and removes its files in .fini. Invariants cited are those at the top
 * of chunkserver/client_serv.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cn_time.h"
#include "ec.h"
#include "logstore.h"
#include "net.h"
#include "wire.h"

#define TMO_MS  15000 /* one start or one call (ASan builds are slow) */
#define NCS     4
#define BLK     LS_BLOCK_MAX
#define DEAD_MS 1 /* port 1 on loopback: nothing listens there */

struct csproc {
    pid_t pid;
    int out_fd;
    uint16_t port;
    char cfg[160];
};

static char dir[64];
static struct csproc cs[NCS];
static struct cn_buf rbuf;
static uint64_t next_id;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    int st = 0;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        struct pollfd p = {pfd, POLLIN, 0};
        poll(&p, 1, timeout_ms);
        close(pfd);
    }
    return waitpid(pid, &st, WNOHANG) == pid ? st : -1;
}

/* Stop server i with sig; returns its wait status (-1 if it had to be killed). */
static int stop_cs(int i, int sig)
{
    struct csproc *p = &cs[i];
    int st = -1;
    if (p->pid > 0) {
        kill(p->pid, sig);
        st = wait_exit(p->pid, TMO_MS);
        if (st < 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
    }
    p->pid = 0;
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    return st;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cairn-cs-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < NCS; i++)
        cs[i].out_fd = -1;
}

static void teardown(void)
{
    for (int i = 0; i < NCS; i++)
        stop_cs(i, SIGKILL);
    cn_buf_release(&rbuf);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_disk_sized(const char *path, const uint8_t *cluster, uint64_t size)
{
    struct ls_format_opts o = {0};
    char err[256];
    o.size = size;
    o.segment_bytes = 1u << 20;
    if (cluster)
        memcpy(o.cluster_id, cluster, 16);
    cr_assert_eq(ls_format(path, &o, err, sizeof(err)), 0, "format %s: %s", path, err);
}

static void make_disk(const char *path, const uint8_t *cluster)
{
    make_disk_sized(path, cluster, 24u << 20);
}

/* Write server i's config: its own disk(s), LISTEN port 0, dead master. */
static void write_cfg(int i, const char *disks, const char *extra)
{
    snprintf(cs[i].cfg, sizeof(cs[i].cfg), "%s/cs%d.cfg", dir, i);
    FILE *f = fopen(cs[i].cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "# written by test_chunkserver\nNAME = cs%d\nLABELS = test\nLISTEN = 127.0.0.1:0\n"
            "MASTER = 127.0.0.1:%d\nDISKS = %s\nLOG_LEVEL = debug\n%s",
            i, DEAD_MS, disks, extra ? extra : "");
    fclose(f);
}

/* Fork/exec cairn-chunkserver with args; stdout to a pipe, stderr to DIR/csI.err. */
static pid_t spawn(int i, char *const argv[], int *out_fd)
{
    int pfd[2];
    char errpath[160];
    cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
    snprintf(errpath, sizeof(errpath), "%s/cs%d.err", dir, i);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
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

/* Read from fd until a line starting with prefix (0) or EOF/timeout. */
static int read_line(int fd, const char *prefix, char *line, size_t len, int timeout_ms)
{
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    size_t have = 0;
    for (;;) {
        char *nl;
        line[have] = 0;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            if (!strncmp(line, prefix, strlen(prefix)))
                return 0;
            size_t rest = have - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest + 1);
            have = rest;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int left = cn_ms_left(deadline);
        if (left == 0 || poll(&p, 1, left) <= 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, line + have, len - 1 - have);
        if (n <= 0)
            return -EPIPE;
        have += (size_t)n;
    }
}

/* Start server i from its config; 0 once ready, else -EPIPE (exited). */
static int try_start_cs(int i)
{
    char *argv[] = {CAIRN_CS_BIN, "-c", cs[i].cfg, NULL};
    char line[256];
    cs[i].pid = spawn(i, argv, &cs[i].out_fd);
    int rc = read_line(cs[i].out_fd, "ready ", line, sizeof(line), TMO_MS);
    if (rc)
        return rc;
    unsigned port;
    cr_assert_eq(sscanf(line, "ready data_port=%u", &port), 1, "%s", line);
    cs[i].port = (uint16_t)port;
    return 0;
}

static void start_cs(int i)
{
    int rc = try_start_cs(i);
    cr_assert_eq(rc, 0, "cs%d did not become ready: %s (see %s/cs%d.err)", i, cn_strerror(rc), dir,
                 i);
}

/* A fresh server i with one new disk. */
static void new_cs(int i)
{
    char disk[160];
    snprintf(disk, sizeof(disk), "%s/cs%d-d0.img", dir, i);
    make_disk(disk, NULL);
    write_cfg(i, disk, NULL);
    start_cs(i);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return calloc(1, 1);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static char *err_log(int i)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/cs%d.err", dir, i);
    return slurp(p);
}

/* Wait until server i's log holds needle: inotify on the log file, bounded. */
static int wait_log(int i, const char *needle, int timeout_ms)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/cs%d.err", dir, i);
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    cr_assert_geq(in, 0);
    inotify_add_watch(in, p, IN_MODIFY);
    uint64_t deadline = cn_now_ms() + (uint64_t)timeout_ms;
    int found;
    while (!(found = strstr(err_log(i), needle) != NULL)) {
        struct pollfd pf = {in, POLLIN, 0};
        int left = cn_ms_left(deadline);
        if (left == 0 || poll(&pf, 1, left) <= 0)
            break;
        char ev[4096];
        while (read(in, ev, sizeof(ev)) > 0)
            ;
    }
    close(in);
    return found;
}

/* ---- wire ---------------------------------------------------------------- */

static int connect_raw(uint16_t port)
{
    struct cn_addr a = {"127.0.0.1", port};
    int fd = cn_sock_connect(&a, TMO_MS);
    cr_assert_geq(fd, 0, "connect to %u: %s", port, cn_strerror(fd));
    return fd;
}

static char last_err[512];

static int call(int fd, uint16_t type, const void *msg, void *reply)
{
    struct cn_frame_hdr h;
    last_err[0] = 0;
    int rc = cn_sock_call(fd, type, ++next_id, msg, &h, &rbuf, TMO_MS, last_err, sizeof(last_err));
    if (rc)
        return rc;
    cr_assert_eq(h.type, type | CN_MSG_REPLY);
    if (reply)
        cr_assert_eq(cn_msg_decode(h.type, rbuf.data, rbuf.len, reply), 0);
    return 0;
}

static int conn(int i)
{
    int fd = connect_raw(cs[i].port);
    struct cn_hello h = {CN_ROLE_CLIENT, CN_WIRE_VERSION_MIN, CN_WIRE_VERSION,
                         CN_STR("test"), {NULL, 0},           {NULL, 0}};
    struct cn_hello_r hr;
    int rc = call(fd, CN_MSG_HELLO, &h, &hr);
    cr_assert_eq(rc, 0, "HELLO: %s", cn_strerror(rc));
    return fd;
}

static char hopbuf[NCS][32];

/* Write through server `first` with chain `next` (indices into cs, -1 ends;
 * -2 = a dead port). */
static int write_block(int fd, uint64_t chunk, uint64_t ver, uint32_t block, uint32_t off,
                       const void *data, uint32_t len, const int *next)
{
    struct cn_hop hops[NCS];
    uint32_t n = 0;
    for (; next && next[n] != -1; n++) {
        snprintf(hopbuf[n], sizeof(hopbuf[n]), "127.0.0.1:%u",
                 next[n] == -2 ? DEAD_MS : cs[next[n]].port);
        hops[n].addr = cn_str_of(hopbuf[n]);
    }
    struct cn_write_block m = {0};
    m.chunk = chunk;
    m.version = ver;
    m.part = 0;
    m.block = block;
    m.offset = off;
    m.crc = ec_crc32c(0, data, len);
    m.chain = hops;
    m.nchain = n;
    m.data.ptr = data;
    m.data.len = len;
    return call(fd, CN_MSG_WRITE_BLOCK, &m, NULL);
}

static int commit(int fd, uint64_t chunk, uint64_t ver, uint64_t size, const int *next)
{
    struct cn_hop hops[NCS];
    uint32_t n = 0;
    for (; next && next[n] != -1; n++) {
        snprintf(hopbuf[n], sizeof(hopbuf[n]), "127.0.0.1:%u", cs[next[n]].port);
        hops[n].addr = cn_str_of(hopbuf[n]);
    }
    struct cn_commit_part m = {chunk, ver, 0, size, hops, n};
    return call(fd, CN_MSG_COMMIT_PART, &m, NULL);
}

/* Read a block into out (returns length or -errno); checks the reply CRC. */
static int read_block(int fd, uint64_t chunk, uint64_t ver, uint32_t block, uint32_t off,
                      uint32_t len, uint8_t *out)
{
    struct cn_read_block m = {chunk, ver, 0, block, off, len};
    struct cn_read_block_r r;
    int rc = call(fd, CN_MSG_READ_BLOCK, &m, &r);
    if (rc)
        return rc;
    cr_assert_eq(r.crc, ec_crc32c(0, r.data.ptr, r.data.len), "reply CRC");
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

TestSuite(chunkserver, .init = setup, .fini = teardown, .timeout = 60);

/* Proves: a 3-server chain stores every block on every server, byte-exact,
 * readable from each server directly once committed (invariants 1 and 3). */
Test(chunkserver, chain_write_commit_read_every_copy)
{
    for (int i = 0; i < 3; i++)
        new_cs(i);
    static uint8_t data[4][BLK], got[BLK];
    uint32_t lens[4] = {BLK, BLK, BLK, 1234};
    const int chain[] = {1, 2, -1};
    int fd = conn(0);
    for (uint32_t b = 0; b < 4; b++) {
        fill(data[b], lens[b], b + 1);
        int rc = write_block(fd, 0x42, 7, b, 0, data[b], lens[b], chain);
        cr_assert_eq(rc, 0, "write block %u: %s %s", b, cn_strerror(rc), last_err);
    }
    uint64_t size = 3ull * BLK + 1234;
    cr_assert_eq(commit(fd, 0x42, 7, size, chain), 0, "%s", last_err);
    for (int i = 0; i < 3; i++) {
        int rfd = conn(i);
        for (uint32_t b = 0; b < 4; b++) {
            int n = read_block(rfd, 0x42, 7, b, 0, 0, got);
            cr_assert_eq(n, (int)lens[b], "cs%d block %u: %d (%s)", i, b, n, last_err);
            cr_assert_eq(memcmp(got, data[b], lens[b]), 0, "cs%d block %u differs", i, b);
        }
        /* a range inside a block */
        cr_assert_eq(read_block(rfd, 0x42, 0, 1, 1000, 333, got), 333);
        cr_assert_eq(memcmp(got, data[1] + 1000, 333), 0);
        close(rfd);
    }
    close(fd);
}

/* Proves: blocks of an uncommitted version are invisible to readers of the
 * committed one, and a partial write is a read-modify-write (invariants 3, 4). */
Test(chunkserver, uncommitted_invisible_and_partial_write)
{
    for (int i = 0; i < 2; i++)
        new_cs(i);
    static uint8_t v1[BLK], patch[500], got[BLK], want[BLK];
    const int chain[] = {1, -1};
    fill(v1, BLK, 11);
    fill(patch, sizeof(patch), 12);
    int fd = conn(0);
    cr_assert_eq(write_block(fd, 9, 1, 0, 0, v1, BLK, chain), 0, "%s", last_err);
    cr_assert_eq(commit(fd, 9, 1, BLK, chain), 0, "%s", last_err);
    /* version 2 patches 500 bytes at offset 1000, not committed */
    cr_assert_eq(write_block(fd, 9, 2, 0, 1000, patch, sizeof(patch), chain), 0, "%s", last_err);
    memcpy(want, v1, BLK);
    memcpy(want + 1000, patch, sizeof(patch));
    for (int i = 0; i < 2; i++) {
        int rfd = conn(i);
        cr_assert_eq(read_block(rfd, 9, 0, 0, 0, 0, got), BLK);
        cr_assert_eq(memcmp(got, v1, BLK), 0, "cs%d: committed read sees version 2", i);
        cr_assert_eq(read_block(rfd, 9, 1, 0, 0, 0, got), BLK);
        cr_assert_eq(memcmp(got, v1, BLK), 0);
        /* an uncommitted version is not served (it could read as holes) */
        cr_assert_eq(read_block(rfd, 9, 2, 0, 0, 0, got), -ESTALE, "cs%d serves version 2", i);
        close(rfd);
    }
    cr_assert_eq(commit(fd, 9, 2, BLK, chain), 0, "%s", last_err);
    int rfd = conn(1);
    cr_assert_eq(read_block(rfd, 9, 0, 0, 0, 0, got), BLK);
    cr_assert_eq(memcmp(got, want, BLK), 0, "version 2 is not v1 + patch");
    cr_assert_eq(read_block(rfd, 9, 2, 0, 0, 0, got), BLK);
    cr_assert_eq(memcmp(got, want, BLK), 0);
    /* an old version is refused, not served */
    cr_assert_eq(read_block(rfd, 9, 1, 0, 0, 0, got), -ESTALE);
    close(rfd);
    /* a bad CRC is refused and not forwarded (invariant 2) */
    struct cn_write_block m = {0};
    m.chunk = 10, m.version = 1, m.crc = 1234, m.data.ptr = v1, m.data.len = 100;
    cr_assert_eq(call(fd, CN_MSG_WRITE_BLOCK, &m, NULL), -EIO, "%s", last_err);
    close(fd);
}

/* Proves: a down hop fails the write with a clear error; no partial ack (invariant 1). */
Test(chunkserver, dead_forward_target_fails_the_write)
{
    for (int i = 0; i < 2; i++)
        new_cs(i);
    static uint8_t d[BLK];
    fill(d, BLK, 3);
    const int chain[] = {1, -2, -1};
    int fd = conn(0);
    int rc = write_block(fd, 5, 1, 0, 0, d, BLK, chain);
    cr_assert_neq(rc, 0, "write acknowledged although the last hop is down");
    cr_assert_not_null(strstr(last_err, "127.0.0.1:1"), "error does not name the hop: %s",
                       last_err);
    /* a server that was running and stopped: same */
    stop_cs(1, SIGKILL);
    const int chain2[] = {1, -1};
    rc = write_block(fd, 6, 1, 0, 0, d, BLK, chain2);
    cr_assert_neq(rc, 0, "write acknowledged although the next hop was killed");
    /* and the server goes on serving */
    cr_assert_eq(write_block(fd, 7, 1, 0, 0, d, BLK, NULL), 0, "%s", last_err);
    close(fd);
}

/* Proves: committed parts survive SIGTERM (clean close) and SIGKILL restarts. */
Test(chunkserver, restart_keeps_committed_parts)
{
    new_cs(0);
    static uint8_t d[BLK], got[BLK];
    for (int round = 0; round < 2; round++) {
        int sig = round ? SIGKILL : SIGTERM;
        fill(d, BLK, 20 + round);
        int fd = conn(0);
        cr_assert_eq(write_block(fd, 100 + round, 1, 0, 0, d, BLK, NULL), 0, "%s", last_err);
        cr_assert_eq(commit(fd, 100 + round, 1, BLK, NULL), 0, "%s", last_err);
        /* an uncommitted session that must not survive */
        cr_assert_eq(write_block(fd, 100 + round, 2, 0, 0, got, 77, NULL), 0, "%s", last_err);
        close(fd);
        int st = stop_cs(0, sig);
        if (sig == SIGTERM)
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM exit status %d (see %s)", st,
                      dir);
        start_cs(0);
        fd = conn(0);
        cr_assert_eq(read_block(fd, 100 + round, 0, 0, 0, 0, got), BLK, "%s", last_err);
        cr_assert_eq(memcmp(got, d, BLK), 0, "after %s", strsignal(sig));
        cr_assert_eq(read_block(fd, 100 + round, 2, 0, 0, 0, got), -ESTALE);
        close(fd);
    }
    cr_assert_not_null(strstr(err_log(0), "shutting down"));
}

/* Proves: a block corrupted on disk reads as BAD_CRC (EIO), never as data, and
 * is reported for the master. */
Test(chunkserver, corrupt_block_is_refused)
{
    new_cs(0);
    static uint8_t d[BLK], got[BLK];
    fill(d, BLK, 77);
    int fd = conn(0);
    cr_assert_eq(write_block(fd, 0xc0, 1, 0, 0, d, BLK, NULL), 0, "%s", last_err);
    cr_assert_eq(commit(fd, 0xc0, 1, BLK, NULL), 0, "%s", last_err);
    char disk[160];
    snprintf(disk, sizeof(disk), "%s/cs0-d0.img", dir);
    int dfd = open(disk, O_RDWR);
    cr_assert_geq(dfd, 0);
    struct stat sb;
    fstat(dfd, &sb);
    uint8_t *map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
    cr_assert_neq(map, MAP_FAILED);
    uint8_t *hit = memmem(map, (size_t)sb.st_size, d, 4096);
    cr_assert_not_null(hit, "block not found in the disk file");
    hit[100] ^= 0x5a;
    msync(map, (size_t)sb.st_size, MS_SYNC);
    munmap(map, (size_t)sb.st_size);
    close(dfd);
    int rc = read_block(fd, 0xc0, 0, 0, 0, 0, got);
    cr_assert_eq(rc, -EIO, "read of a corrupt block: %d (%s)", rc, last_err);
    cr_assert_not_null(strstr(last_err, "ECORRUPT") ? last_err : strstr(last_err, "CRC"),
                       "error text: %s", last_err);
    close(fd);
    cr_assert_not_null(strstr(err_log(0), "fails its CRC"), "bad part not reported");
}

/* Proves: garbage and malformed frames close that connection; the server serves on. */
Test(chunkserver, garbage_closes_connection_server_survives)
{
    new_cs(0);
    static uint8_t junk[4096], got[BLK];
    fill(junk, sizeof(junk), 5);
    /* 1. not Cairn at all */
    int fd = connect_raw(cs[0].port);
    cr_assert_eq(cn_sock_send(fd, junk, sizeof(junk), TMO_MS), 0);
    struct cn_frame_hdr h;
    struct cn_buf b = {0};
    int rc = cn_sock_recv_frame(fd, &h, &b, 0, TMO_MS);
    cr_assert(rc == -ECONNRESET || rc == -EPIPE, "garbage: %s", cn_strerror(rc));
    close(fd);
    /* 2. a valid header whose payload does not decode as READ_BLOCK */
    fd = conn(0);
    uint8_t frame[CN_WIRE_HDR_SIZE + 5];
    struct cn_frame_hdr fh = {1, 0, CN_MSG_READ_BLOCK, 9, 5};
    cn_wire_hdr_pack(&fh, frame);
    memset(frame + CN_WIRE_HDR_SIZE, 0xff, 5);
    cr_assert_eq(cn_sock_send(fd, frame, sizeof(frame), TMO_MS), 0);
    do {
        rc = cn_sock_recv_frame(fd, &h, &b, 0, TMO_MS);
    } while (rc == 0);
    cr_assert(rc == -ECONNRESET || rc == -EPIPE, "malformed: %s", cn_strerror(rc));
    close(fd);
    /* 3. a request before HELLO */
    fd = connect_raw(cs[0].port);
    struct cn_ping p = {1};
    rc = call(fd, CN_MSG_PING, &p, NULL);
    cr_assert_neq(rc, 0);
    close(fd);
    cn_buf_release(&b);
    /* still serving */
    fd = conn(0);
    fill(got, 100, 1);
    cr_assert_eq(write_block(fd, 1, 1, 0, 0, got, 100, NULL), 0, "%s", last_err);
    cr_assert_eq(commit(fd, 1, 1, 100, NULL), 0, "%s", last_err);
    cr_assert_eq(read_block(fd, 1, 1, 0, 0, 0, got), 100, "%s", last_err);
    close(fd);
}

/* Proves: a missing disk and another cluster's disk are reported; the rest serve.
 * With no usable disk the server refuses to start, saying why. */
Test(chunkserver, bad_disks_reported_others_serve)
{
    char good[160], foreign[160], missing[160], disks[600];
    uint8_t ours[16], theirs[16];
    memset(ours, 0x11, 16);
    memset(theirs, 0x22, 16);
    snprintf(good, sizeof(good), "%s/good.img", dir);
    snprintf(foreign, sizeof(foreign), "%s/foreign.img", dir);
    snprintf(missing, sizeof(missing), "%s/missing.img", dir);
    make_disk(good, ours);
    make_disk(foreign, theirs);
    snprintf(disks, sizeof(disks), "%s, %s [hdd usb], *%s", missing, foreign, good);
    write_cfg(0, disks, "CLUSTER_ID = 11111111111111111111111111111111\n");
    start_cs(0);
    char *log = err_log(0);
    cr_assert_not_null(strstr(log, missing), "missing disk not reported:\n%s", log);
    cr_assert_not_null(strstr(log, "another cluster"), "foreign disk not reported:\n%s", log);
    cr_assert_not_null(strstr(log, "marked for removal"), "removal mark not reported:\n%s", log);
    /* the disk marked for removal takes no new part: nothing is writable */
    static uint8_t d[1000];
    int fd = conn(0);
    cr_assert_eq(write_block(fd, 1, 1, 0, 0, d, sizeof(d), NULL), -ENOSPC, "%s", last_err);
    close(fd);
    stop_cs(0, SIGTERM);
    snprintf(disks, sizeof(disks), "%s, %s [hdd]", missing, good);
    write_cfg(0, disks, "CLUSTER_ID = 11111111111111111111111111111111\n");
    start_cs(0);
    fd = conn(0);
    cr_assert_eq(write_block(fd, 1, 1, 0, 0, d, sizeof(d), NULL), 0, "%s", last_err);
    close(fd);
    stop_cs(0, SIGTERM);
    /* nothing usable: refuse to start */
    write_cfg(0, missing, NULL);
    int rc = try_start_cs(0);
    cr_assert_neq(rc, 0);
    int st = wait_exit(cs[0].pid, TMO_MS);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status %d", st);
    cs[0].pid = 0;
    cr_assert_not_null(strstr(err_log(0), "no disk could be opened"));
}

/* Run the binary with args, capture stdout+stderr; returns the exit code. */
static int run(char *out, size_t outlen, const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "exec 2>&1; %s %s", CAIRN_CS_BIN, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Proves: --dump-config prints every option; config errors name file:line. */
Test(chunkserver, dump_config_and_errors)
{
    static char out[16384];
    char args[256];
    cr_assert_eq(run(out, sizeof(out), "--dump-config"), 0, "%s", out);
    const char *names[] = {
        "NAME",           "LABELS",       "MASTER",   "LISTEN",    "DISKS",
        "CLUSTER_ID",     "HEARTBEAT_MS", "LOG_FILE", "LOG_LEVEL", "COMPACT_RATE_MBPS",
        "SCRUB_RATE_MBPS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_not_null(strstr(out, names[i]), "--dump-config lacks %s", names[i]);
    cr_assert_not_null(strstr(out, "9420"));

    write_cfg(0, "/x", "HEARTBEAT_MS = 5\n");
    snprintf(args, sizeof(args), "-c %s", cs[0].cfg);
    cr_assert_eq(run(out, sizeof(out), args), 2, "%s", out);
    cr_assert_not_null(strstr(out, "cs0.cfg:8:"), "no file:line in: %s", out);

    write_cfg(0, "/x", "BOGUS = 1\n");
    cr_assert_eq(run(out, sizeof(out), args), 2);
    cr_assert_not_null(strstr(out, "cs0.cfg:8: unknown option BOGUS"), "%s", out);

    write_cfg(0, "/x [ssd", NULL);
    cr_assert_eq(run(out, sizeof(out), args), 2);
    cr_assert_not_null(strstr(out, "cs0.cfg:6: DISKS"), "%s", out);

    write_cfg(0, "/x", "CLUSTER_ID = xyz\n");
    cr_assert_eq(run(out, sizeof(out), args), 2);
    cr_assert_not_null(strstr(out, "cs0.cfg:8: CLUSTER_ID"), "%s", out);

    snprintf(args, sizeof(args), "-c %s/nope.cfg", dir);
    cr_assert_eq(run(out, sizeof(out), args), 2);
    cr_assert_not_null(strstr(out, "nope.cfg"), "%s", out);
}

/* Proves: the background scrub finds a block corrupted while the server was
 * down, with no read asking for it, and reports it. */
Test(chunkserver, scrub_finds_corruption)
{
    char disk[160];
    snprintf(disk, sizeof(disk), "%s/cs0-d0.img", dir);
    make_disk(disk, NULL);
    write_cfg(0, disk, "SCRUB_RATE_MBPS = 0\n");
    start_cs(0);
    static uint8_t d[BLK];
    fill(d, BLK, 99);
    int fd = conn(0);
    cr_assert_eq(write_block(fd, 0x5c, 1, 0, 0, d, BLK, NULL), 0, "%s", last_err);
    cr_assert_eq(commit(fd, 0x5c, 1, BLK, NULL), 0, "%s", last_err);
    close(fd);
    cr_assert(WIFEXITED(stop_cs(0, SIGTERM)));
    int dfd = open(disk, O_RDWR);
    struct stat sb;
    fstat(dfd, &sb);
    uint8_t *map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
    uint8_t *hit = memmem(map, (size_t)sb.st_size, d, 4096);
    cr_assert_not_null(hit);
    hit[7] ^= 1;
    munmap(map, (size_t)sb.st_size);
    close(dfd);
    write_cfg(0, disk, "SCRUB_RATE_MBPS = 100\n");
    start_cs(0);
    cr_assert(wait_log(0, "fails its CRC", TMO_MS), "scrub did not report the bad block:\n%s",
              err_log(0));
    cr_assert_not_null(strstr(err_log(0), "chunk 000000000000005c"));
}

/* Proves: SIGHUP applies reloadable options, names the ones needing a
 * restart, and keeps serving; a broken file keeps the running config. */
Test(chunkserver, sighup_reload)
{
    new_cs(0);
    char disk[160];
    snprintf(disk, sizeof(disk), "%s/cs0-d0.img", dir);
    write_cfg(0, disk, "SCRUB_RATE_MBPS = 20\nHEARTBEAT_MS = 2000\n");
    kill(cs[0].pid, SIGHUP);
    cr_assert(wait_log(0, "configuration reloaded", TMO_MS), "%s", err_log(0));
    cr_assert_not_null(strstr(err_log(0), "HEARTBEAT_MS"), "%s", err_log(0));
    write_cfg(0, disk, "NOPE = 1\n");
    kill(cs[0].pid, SIGHUP);
    cr_assert(wait_log(0, "keeping the running configuration", TMO_MS), "%s", err_log(0));
    static uint8_t d[100];
    int fd = conn(0);
    cr_assert_eq(write_block(fd, 1, 1, 0, 0, d, sizeof(d), NULL), 0, "%s", last_err);
    close(fd);
    cr_assert(WIFEXITED(stop_cs(0, SIGTERM)));
}

/* Proves: pipelined partial writes of one block, sent without waiting for
 * replies, all land, on every server of the chain (invariants 4 and 5). */
Test(chunkserver, pipelined_partial_writes_of_one_block)
{
    for (int i = 0; i < 2; i++)
        new_cs(i);
    enum { N = 48, PIECE = 100, STRIDE = 1000 };
    static uint8_t pieces[N][PIECE], want[BLK], got[BLK];
    char hop[32];
    snprintf(hop, sizeof(hop), "127.0.0.1:%u", cs[1].port);
    struct cn_hop h1 = {cn_str_of(hop)};
    struct cn_buf out = {0};
    for (int i = 0; i < N; i++) {
        fill(pieces[i], PIECE, 500 + i);
        memcpy(want + i * STRIDE, pieces[i], PIECE);
        struct cn_write_block m = {0};
        m.chunk = 0x99, m.version = 1, m.block = 0, m.offset = i * STRIDE;
        m.crc = ec_crc32c(0, pieces[i], PIECE);
        m.chain = &h1, m.nchain = 1;
        m.data.ptr = pieces[i], m.data.len = PIECE;
        cr_assert_eq(cn_msg_frame(&out, CN_MSG_WRITE_BLOCK, 1000 + i, &m), 0);
    }
    int fd = conn(0);
    cr_assert_eq(cn_sock_send(fd, out.data, out.len, TMO_MS), 0);
    cn_buf_release(&out);
    for (int i = 0; i < N; i++) {
        struct cn_frame_hdr h;
        cr_assert_eq(cn_sock_recv_frame(fd, &h, &rbuf, 0, TMO_MS), 0);
        cr_assert_eq(h.type, CN_MSG_WRITE_BLOCK_R, "write %llu failed",
                     (unsigned long long)h.req_id - 1000);
    }
    uint32_t len = (N - 1) * STRIDE + PIECE;
    const int chain[] = {1, -1};
    cr_assert_eq(commit(fd, 0x99, 1, len, chain), 0, "%s", last_err);
    for (int i = 0; i < 2; i++) {
        int rfd = conn(i);
        cr_assert_eq(read_block(rfd, 0x99, 0, 0, 0, 0, got), (int)len);
        for (int k = 0; k < N; k++)
            cr_assert_eq(memcmp(got + k * STRIDE, pieces[k], PIECE), 0, "cs%d lost piece %d", i, k);
        cr_assert_eq(memcmp(got, want, len), 0);
        close(rfd);
    }
    /* 300 pipelined reads: more than the server keeps in flight per
     * connection, so it pauses and resumes reading; every one answers */
    enum { NR = 300 };
    for (int i = 0; i < NR; i++) {
        struct cn_read_block m = {0x99, 0, 0, 0, (uint32_t)(i % N) * STRIDE, PIECE};
        cr_assert_eq(cn_msg_frame(&out, CN_MSG_READ_BLOCK, 5000 + i, &m), 0);
    }
    cr_assert_eq(cn_sock_send(fd, out.data, out.len, TMO_MS), 0);
    cn_buf_release(&out);
    static int seen[NR];
    for (int i = 0; i < NR; i++) {
        struct cn_frame_hdr h;
        struct cn_read_block_r r;
        cr_assert_eq(cn_sock_recv_frame(fd, &h, &rbuf, 0, TMO_MS), 0, "reply %d", i);
        cr_assert_eq(h.type, CN_MSG_READ_BLOCK_R);
        int k = (int)(h.req_id - 5000);
        cr_assert(k >= 0 && k < NR && !seen[k]);
        seen[k] = 1;
        cr_assert_eq(cn_msg_decode(h.type, rbuf.data, rbuf.len, &r), 0);
        cr_assert_eq(r.data.len, PIECE);
        cr_assert_eq(memcmp(r.data.ptr, pieces[k % N], PIECE), 0, "read %d", k);
    }
    close(fd);
}

/* Proves: random partial writes over several versions, some committed and
 * some abandoned, read back from every server of a 3-chain exactly as a
 * model of committed bytes says (invariants 1, 3, 4). Seed: CAIRN_SEED. */
Test(chunkserver, random_versions_match_model)
{
    enum { NB = 6, ROUNDS = 12 };
    unsigned seed =
        getenv("CAIRN_SEED") ? (unsigned)atoi(getenv("CAIRN_SEED")) : (unsigned)cn_now_ns();
    fprintf(stderr, "random_versions_match_model: CAIRN_SEED=%u\n", seed);
    srandom(seed);
    for (int i = 0; i < 3; i++)
        new_cs(i);
    static uint8_t com[NB][BLK], pend[NB][BLK], buf[BLK], got[BLK];
    static uint32_t com_len[NB], pend_len[NB];
    const int chain[] = {1, 2, -1};
    uint64_t size = 0, pend_size;
    int fd = conn(0);
    for (int v = 1; v <= ROUNDS; v++) {
        memcpy(pend, com, sizeof(com));
        memcpy(pend_len, com_len, sizeof(com_len));
        pend_size = size;
        int nw = 1 + (int)(random() % 8);
        for (int k = 0; k < nw; k++) {
            uint32_t b = (uint32_t)(random() % NB);
            uint32_t off = (uint32_t)(random() % BLK);
            uint32_t len = 1 + (uint32_t)(random() % (BLK - off));
            fill(buf, len, (unsigned)random());
            int rc = write_block(fd, 0x7a, (uint64_t)v, b, off, buf, len, chain);
            cr_assert_eq(rc, 0, "seed %u v%d: write b%u off %u len %u: %s", seed, v, b, off, len,
                         last_err);
            memcpy(pend[b] + off, buf, len);
            if (off + len > pend_len[b])
                pend_len[b] = off + len;
            if ((uint64_t)b * BLK + pend_len[b] > pend_size)
                pend_size = (uint64_t)b * BLK + pend_len[b];
        }
        if (random() % 3) { /* commit; else abandon the version */
            cr_assert_eq(commit(fd, 0x7a, (uint64_t)v, pend_size, chain), 0, "%s", last_err);
            memcpy(com, pend, sizeof(com));
            memcpy(com_len, pend_len, sizeof(com_len));
            size = pend_size;
        }
    }
    close(fd);
    if (!size)
        return; /* nothing committed with this seed */
    for (int i = 0; i < 3; i++) {
        int rfd = conn(i);
        for (uint32_t b = 0; b < NB; b++) {
            int n = read_block(rfd, 0x7a, 0, b, 0, 0, got);
            if (!com_len[b] && (uint64_t)b * BLK >= size)
                continue; /* past the end */
            if (n == 0 && !com_len[b])
                continue; /* a hole */
            cr_assert_eq(n, (int)com_len[b], "seed %u cs%d block %u: %d bytes (%s), want %u", seed,
                         i, b, n, last_err, com_len[b]);
            cr_assert_eq(memcmp(got, com[b], com_len[b]), 0, "seed %u cs%d block %u differs", seed,
                         i, b);
        }
        close(rfd);
    }
}

/* Which disk file holds the committed part (opened read-only); -1 if none. */
static int disk_of(const char *const *disks, int n, uint64_t chunk)
{
    for (int i = 0; i < n; i++) {
        struct ls_open_opts o = {0};
        struct ls *ls;
        struct ls_part_info pi;
        char err[256];
        o.read_only = 1;
        cr_assert_eq(ls_open(disks[i], &o, &ls, err, sizeof(err)), 0, "%s", err);
        int rc = ls_part_stat(ls, chunk, 0, &pi);
        ls_close(ls);
        if (rc == 0 && pi.committed)
            return i;
    }
    return -1;
}

/* Proves: a new part goes to the disk with the most free space; a full
 * disk answers ENOSPC, keeps what it stored readable, and the server serves on. */
Test(chunkserver, placement_and_full_disk)
{
    char small[160], big[160], cfg[400];
    snprintf(small, sizeof(small), "%s/small.img", dir);
    snprintf(big, sizeof(big), "%s/big.img", dir);
    make_disk_sized(small, NULL, 12u << 20);
    make_disk_sized(big, NULL, 24u << 20);
    snprintf(cfg, sizeof(cfg), "%s, %s", small, big);
    write_cfg(0, cfg, "SCRUB_RATE_MBPS = 0\n");
    start_cs(0);
    static uint8_t d[BLK], got[BLK];
    fill(d, BLK, 1);
    int fd = conn(0);
    cr_assert_eq(write_block(fd, 0xa, 1, 0, 0, d, BLK, NULL), 0, "%s", last_err);
    cr_assert_eq(commit(fd, 0xa, 1, BLK, NULL), 0, "%s", last_err);
    close(fd);
    cr_assert(WIFEXITED(stop_cs(0, SIGTERM)));
    const char *disks[] = {small, big};
    cr_assert_eq(disk_of(disks, 2, 0xa), 1, "the first part did not go to the emptier disk");

    /* one small disk: fill it until ENOSPC */
    write_cfg(0, small, "SCRUB_RATE_MBPS = 0\n");
    start_cs(0);
    fd = conn(0);
    int rc = 0;
    uint32_t b;
    for (b = 0; b < 1000 && rc == 0; b++) {
        fill(d, BLK, b);
        rc = write_block(fd, 0xf, 1, b, 0, d, BLK, NULL);
    }
    cr_assert_eq(rc, -ENOSPC, "filling the disk ended with %d (%s) after %u blocks", rc, last_err,
                 b);
    /* what was stored stays readable once committed (commits may use the reserve) */
    cr_assert_eq(commit(fd, 0xf, 1, (uint64_t)(b - 1) * BLK, NULL), 0, "%s", last_err);
    fill(d, BLK, 0);
    cr_assert_eq(read_block(fd, 0xf, 0, 0, 0, 0, got), BLK, "%s", last_err);
    cr_assert_eq(memcmp(got, d, BLK), 0);
    close(fd);
}

/* Proves: SIGTERM stops the server promptly and cleanly even while its
 * connect to the master hangs (a master whose accept queue is full drops
 * SYNs, like one behind a dead VPN). */
Test(chunkserver, sigterm_with_master_connect_hanging)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t al = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(ls, 0), 0);
    getsockname(ls, (struct sockaddr *)&a, &al);
    int fill_fds[4];
    for (int i = 0; i < 4; i++) { /* fill the accept queue; never accepted */
        fill_fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill_fds[i], (struct sockaddr *)&a, sizeof(a));
    }
    char disk[160], extra[128];
    snprintf(disk, sizeof(disk), "%s/cs0-d0.img", dir);
    make_disk(disk, NULL);
    snprintf(extra, sizeof(extra), "MASTER = 127.0.0.1:%u\n", ntohs(a.sin_port));
    write_cfg(0, disk, NULL);
    /* the later MASTER line would be a duplicate: rewrite the file by hand */
    FILE *f = fopen(cs[0].cfg, "w");
    fprintf(f, "LISTEN = 127.0.0.1:0\nDISKS = %s\n%s", disk, extra);
    fclose(f);
    start_cs(0);
    uint64_t t0 = cn_now_ms();
    int st = stop_cs(0, SIGTERM);
    uint64_t took = cn_now_ms() - t0;
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d after %llu ms", st,
              (unsigned long long)took);
    cr_assert_lt(took, 8000, "shutdown took %llu ms", (unsigned long long)took);
    cr_assert_not_null(strstr(err_log(0), "not waiting for them"), "%s", err_log(0));
    for (int i = 0; i < 4; i++)
        close(fill_fds[i]);
    close(ls);
}

/* Proves: the shipped example config loads and is the defaults, so it stays
 * in sync with the option table (STYLE 19). */
Test(chunkserver, shipped_example_config_matches_the_table)
{
    static char a[16384], b[16384];
    char ex[512], args[600];
    snprintf(ex, sizeof(ex), "%s", __FILE__);
    char *slash = strstr(ex, "tests/integration/");
    cr_assert_not_null(slash, "%s", ex);
    snprintf(slash, sizeof(ex) - (size_t)(slash - ex), "chunkserver/chunkserver.cfg.example");
    cr_assert_eq(access(ex, R_OK), 0, "%s", ex);
    snprintf(args, sizeof(args), "-c %s --dump-config", ex);
    cr_assert_eq(run(a, sizeof(a), args), 0, "%s", a);
    cr_assert_eq(run(b, sizeof(b), "--dump-config"), 0);
    cr_assert_str_eq(a, b,
                     "chunkserver.cfg.example is out of date: regenerate it with "
                     "cairn-chunkserver --dump-config");
}

/* Proves: the compaction thread frees segments that mix a few live blocks
 * with many overwritten ones, and every live block stays readable, also
 * after a restart. */
Test(chunkserver, compaction_reclaims_overwritten_blocks)
{
    char disk[160];
    snprintf(disk, sizeof(disk), "%s/cs0-d0.img", dir);
    make_disk(disk, NULL);
    write_cfg(0, disk, "SCRUB_RATE_MBPS = 0\nCOMPACT_PERIOD_MS = 100\nCOMPACT_RATE_MBPS = 0\n");
    start_cs(0);
    enum { NV = 64 };
    static uint8_t d[BLK], got[BLK], keep[NV][4096];
    int fd = conn(0);
    for (uint64_t v = 1; v <= NV; v++) {
        /* a small part that stays live, next to a big block overwritten each time */
        fill(keep[v - 1], 4096, 1000 + (unsigned)v);
        cr_assert_eq(write_block(fd, 0x1000 + v, 1, 0, 0, keep[v - 1], 4096, NULL), 0);
        cr_assert_eq(commit(fd, 0x1000 + v, 1, 4096, NULL), 0, "%s", last_err);
        fill(d, BLK, (unsigned)v);
        cr_assert_eq(write_block(fd, 0xcc, v, 0, 0, d, BLK, NULL), 0, "%s", last_err);
        cr_assert_eq(commit(fd, 0xcc, v, BLK, NULL), 0, "%s", last_err);
    }
    cr_assert(wait_log(0, "compaction freed", TMO_MS), "no compaction:\n%s", err_log(0));
    for (int round = 0; round < 2; round++) {
        for (uint64_t v = 1; v <= NV; v++) {
            cr_assert_eq(read_block(fd, 0x1000 + v, 0, 0, 0, 0, got), 4096, "%s", last_err);
            cr_assert_eq(memcmp(got, keep[v - 1], 4096), 0, "part %llu after compaction",
                         (unsigned long long)v);
        }
        cr_assert_eq(read_block(fd, 0xcc, 0, 0, 0, 0, got), BLK, "%s", last_err);
        cr_assert_eq(memcmp(got, d, BLK), 0);
        close(fd);
        if (round == 0) {
            cr_assert(WIFEXITED(stop_cs(0, SIGTERM)));
            start_cs(0);
        }
        fd = conn(0);
    }
    close(fd);
}
