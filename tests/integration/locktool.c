/*
 * locktool.c - takes fcntl and flock locks for the lock tests and the lock
 * benchmark (test_27_mount_locks.sh, bench/lock_bench.sh), so that neither
 * needs python or flock(1).
 *
 *   locktool hold FILE posix r|w START LEN [nb]   lock (F_SETLKW, or F_SETLK
 *   locktool hold FILE ofd r|w START LEN [nb]     with nb; ofd: F_OFD_SETLKW
 *   locktool hold FILE flock sh|ex [nb]           or F_OFD_SETLK), print "locked MS"
 *                                                 (MS waited), keep the lock
 *                                                 until stdin ends; "eagain"
 *                                                 and exit 11 when nb fails
 *   locktool getlk FILE r|w START LEN             "none" or "r|w START LEN PID"
 *   locktool bench FILE posix|flock SECONDS       blocking lock + unlock of the
 *                                                 whole file in a loop; prints
 *                                                 "cycles N seconds S rate R"
 *
 * Exit status: 0 done, 11 EAGAIN, 4 EINTR, 1 any other error, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: locktool hold FILE posix|ofd r|w START LEN [nb]\n"
                    "       locktool hold FILE flock sh|ex [nb]\n"
                    "       locktool getlk FILE r|w START LEN\n"
                    "       locktool bench FILE posix|flock SECONDS\n");
    return 2;
}

static int fail(const char *what, const char *file)
{
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) {
        printf("eagain\n");
        return 11;
    }
    fprintf(stderr, "locktool: %s %s: %s\n", what, file, strerror(e));
    return e == EINTR ? 4 : 1;
}

/* Block until stdin ends (the test closes its end to release the lock). */
static void wait_stdin(void)
{
    char buf[256];
    while (read(0, buf, sizeof(buf)) > 0) {
    }
}

static int cmd_hold(int argc, char **argv)
{
    if (argc < 5)
        return usage();
    const char *file = argv[2];
    int ofd = strcmp(argv[3], "ofd") == 0;
    int posix = ofd || strcmp(argv[3], "posix") == 0;
    int nb = strcmp(argv[argc - 1], "nb") == 0;
    int fd = open(file, O_RDWR);
    if (fd < 0)
        return fail("open", file);
    double t0 = now_s();
    if (posix) {
        if (argc < 7)
            return usage();
        struct flock fl = {0};
        fl.l_type = argv[4][0] == 'w' ? F_WRLCK : F_RDLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = strtoll(argv[5], NULL, 0);
        fl.l_len = strtoll(argv[6], NULL, 0);
        int cmd = ofd ? (nb ? F_OFD_SETLK : F_OFD_SETLKW) : (nb ? F_SETLK : F_SETLKW);
        if (fcntl(fd, cmd, &fl) < 0)
            return fail("fcntl", file);
    } else {
        int op = strcmp(argv[4], "ex") == 0 ? LOCK_EX : LOCK_SH;
        if (flock(fd, op | (nb ? LOCK_NB : 0)) < 0)
            return fail("flock", file);
    }
    printf("locked %.0f\n", (now_s() - t0) * 1000);
    fflush(stdout);
    wait_stdin();
    close(fd);
    return 0;
}

static int cmd_getlk(int argc, char **argv)
{
    if (argc < 6)
        return usage();
    int fd = open(argv[2], O_RDWR);
    if (fd < 0)
        return fail("open", argv[2]);
    struct flock fl = {0};
    fl.l_type = argv[3][0] == 'w' ? F_WRLCK : F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = strtoll(argv[4], NULL, 0);
    fl.l_len = strtoll(argv[5], NULL, 0);
    if (fcntl(fd, F_GETLK, &fl) < 0)
        return fail("fcntl F_GETLK", argv[2]);
    if (fl.l_type == F_UNLCK)
        printf("none\n");
    else
        printf("%s %lld %lld %d\n", fl.l_type == F_WRLCK ? "w" : "r", (long long)fl.l_start,
               (long long)fl.l_len, (int)fl.l_pid);
    close(fd);
    return 0;
}

static int cmd_bench(int argc, char **argv)
{
    if (argc < 5)
        return usage();
    int posix = strcmp(argv[3], "posix") == 0;
    double secs = atof(argv[4]);
    int fd = open(argv[2], O_RDWR);
    if (fd < 0)
        return fail("open", argv[2]);
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
    long n = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        int rc = posix ? fcntl(fd, F_SETLKW, &lk) : flock(fd, LOCK_EX);
        if (rc < 0)
            return fail("lock", argv[2]);
        rc = posix ? fcntl(fd, F_SETLK, &un) : flock(fd, LOCK_UN);
        if (rc < 0)
            return fail("unlock", argv[2]);
        n++;
        t = now_s();
    }
    printf("cycles %ld seconds %.3f rate %.1f\n", n, t - t0, (double)n / (t - t0));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        return usage();
    if (!strcmp(argv[1], "hold"))
        return cmd_hold(argc, argv);
    if (!strcmp(argv[1], "getlk"))
        return cmd_getlk(argc, argv);
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(argc, argv);
    return usage();
}
