/*
 * loopcopy.c - the loopback copy bandwidth that a repair is compared with.
 *
 * usage: loopcopy [--size SIZE] [--sync-mib N] [--block KIB] [--json] DIR
 *
 * What a chunkserver-to-chunkserver copy must do at the least, with nothing
 * of a file system around it: read a file that is not in the page cache,
 * send its bytes over one TCP connection on 127.0.0.1, and write them into a
 * new file on the same file system with an fdatasync every --sync-mib MiB
 * and one at the end. bench/heal_bench.sh divides repair MiB/s by this.
 *
 * Steps, in DIR (which should be on the disk the file systems under test
 * use, not tmpfs):
 *   1. write loopcopy.src, --size bytes of pseudo-random data (not zeros:
 *      neither side may skip or compress them), fdatasync it, then
 *      POSIX_FADV_DONTNEED so that its pages leave the cache (a cold read,
 *      like a repair reading a part nobody read lately). Not timed.
 *   2. timed: a sender thread reads loopcopy.src in --block pieces and
 *      writes them to a connected TCP socket on 127.0.0.1; the main thread
 *      receives into a buffer and write()s into loopcopy.dst, fdatasync every
 *      --sync-mib MiB (default 64, one per 64 MiB chunk: the fewest syncs a
 *      copy can do and still be durable chunk by chunk) and at the end. The
 *      clock stops after the last fdatasync returns.
 *   3. both files are deleted.
 * Prints "loopcopy: N MiB in S s = R MiB/s" or, with --json, one object
 * {"bytes", "seconds", "mib_per_s", "sync_mib", "block"}. MiB = 2^20 bytes.
 *
 * Decision a reader must know: one stream, one connection. A repair that runs
 * several copies at once on a 2-CPU machine shares the same disk; the
 * single stream is the plain bandwidth of the path, not a parallel ceiling.
 */
#include "cn_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRC_NAME "loopcopy.src"
#define DST_NAME "loopcopy.dst"

struct sender {
    int fd;        /* source file, owned by the thread until it returns */
    int sock;      /* connected socket, owned by the thread */
    size_t block;  /* bytes per read() */
    uint64_t size; /* bytes to send */
    int err;       /* 0, or errno of the failed call */
    const char *what;
};

static void die(const char *what, const char *path)
{
    fprintf(stderr, "loopcopy: %s %s: %s\n", what, path ? path : "", strerror(errno));
    exit(1);
}

static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    uint64_t v = strtoull(s, &end, 10);
    if (errno || end == s)
        return 0;
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    return *end ? 0 : v;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *send_main(void *arg)
{
    struct sender *S = arg;
    char *buf = malloc(S->block);
    uint64_t left = S->size;
    if (!buf) {
        S->err = ENOMEM;
        S->what = "malloc";
        goto out;
    }
    while (left > 0) {
        size_t want = left < S->block ? (size_t)left : S->block;
        ssize_t r = read(S->fd, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            S->err = r < 0 ? errno : EIO;
            S->what = "read " SRC_NAME;
            goto out;
        }
        if (write_all(S->sock, buf, (size_t)r) < 0) {
            S->err = errno;
            S->what = "send";
            goto out;
        }
        left -= (uint64_t)r;
    }
out:
    free(buf);
    close(S->sock);
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: loopcopy [--size SIZE] [--sync-mib N] [--block KIB] [--json] DIR\n"
               "  --size SIZE    bytes to copy, K/M/G suffixes (default 1G)\n"
               "  --sync-mib N   fdatasync the copy every N MiB (default 64)\n"
               "  --block KIB    read/write size in KiB (default 1024)\n"
               "  --json         one JSON object instead of a line of text\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"size", required_argument, NULL, 's'},  {"sync-mib", required_argument, NULL, 'y'},
        {"block", required_argument, NULL, 'b'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    uint64_t size = 1ull << 30, sync_mib = 64;
    size_t block = 1u << 20;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 's':
            size = parse_size(optarg);
            break;
        case 'y':
            sync_mib = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            block = (size_t)strtoull(optarg, NULL, 10) << 10;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || size == 0 || sync_mib == 0 || block == 0) {
        usage(stderr);
        return 2;
    }
    const char *dir = argv[optind];
    if (chdir(dir) < 0)
        die("chdir", dir);

    /* 1. the source file, cold. */
    char *buf = malloc(block);
    if (!buf)
        die("malloc", NULL);
    int src = open(SRC_NAME, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (src < 0)
        die("create", SRC_NAME);
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    for (uint64_t off = 0; off < size; off += block) {
        size_t n = size - off < block ? (size_t)(size - off) : block;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, 8);
        }
        if (write_all(src, buf, n) < 0)
            die("write", SRC_NAME);
    }
    if (fdatasync(src) < 0)
        die("fdatasync", SRC_NAME);
    posix_fadvise(src, 0, 0, POSIX_FADV_DONTNEED);
    if (lseek(src, 0, SEEK_SET) < 0)
        die("lseek", SRC_NAME);

    int dst = open(DST_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (dst < 0)
        die("create", DST_NAME);
    int lsock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsock, 1) < 0 ||
        getsockname(lsock, (struct sockaddr *)&sa, &salen) < 0)
        die("listen on", "127.0.0.1");

    /* 2. timed: connect, stream, write with periodic fdatasync. */
    uint64_t t0 = cn_now_ns();
    struct sender S = {.fd = src, .block = block, .size = size};
    S.sock = socket(AF_INET, SOCK_STREAM, 0);
    if (S.sock < 0 || connect(S.sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect to", "127.0.0.1");
    int rsock = accept(lsock, NULL, NULL);
    if (rsock < 0)
        die("accept on", "127.0.0.1");
    pthread_t th;
    if (pthread_create(&th, NULL, send_main, &S) != 0)
        die("pthread_create", NULL);
    uint64_t got = 0, since_sync = 0, sync_bytes = sync_mib << 20;
    size_t fill = 0;
    for (;;) {
        ssize_t r = recv(rsock, buf + fill, block - fill, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("recv", NULL);
        if (r > 0)
            fill += (size_t)r;
        if (fill == block || (r == 0 && fill > 0)) {
            if (write_all(dst, buf, fill) < 0)
                die("write", DST_NAME);
            got += fill;
            since_sync += fill;
            fill = 0;
            if (since_sync >= sync_bytes) {
                if (fdatasync(dst) < 0)
                    die("fdatasync", DST_NAME);
                since_sync = 0;
            }
        }
        if (r == 0)
            break;
    }
    if (fdatasync(dst) < 0)
        die("fdatasync", DST_NAME);
    uint64_t t1 = cn_now_ns();
    pthread_join(th, NULL);
    if (S.err) {
        errno = S.err;
        die(S.what, NULL);
    }
    if (got != size) {
        fprintf(stderr, "loopcopy: received %" PRIu64 " of %" PRIu64 " bytes\n", got, size);
        return 1;
    }

    /* 3. clean up. */
    close(rsock);
    close(lsock);
    close(dst);
    close(src);
    unlink(SRC_NAME);
    unlink(DST_NAME);
    free(buf);

    double s = (double)(t1 - t0) / 1e9, mibs = (double)size / 1048576.0 / s;
    if (json)
        printf("{\"bytes\": %" PRIu64
               ", \"seconds\": %.3f, \"mib_per_s\": %.1f, \"sync_mib\": %" PRIu64
               ", \"block\": %zu}\n",
               size, s, mibs, sync_mib, block);
    else
        printf("loopcopy: %" PRIu64 " MiB in %.2f s = %.1f MiB/s (fdatasync every %" PRIu64
               " MiB)\n",
               size >> 20, s, mibs, sync_mib);
    return 0;
}
