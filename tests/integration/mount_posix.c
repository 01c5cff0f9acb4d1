/*
 * mount_posix.c - POSIX behaviour of a Cairn FUSE mount, through the real
 * system calls. Plain C (no Criterion) so it runs inside any directory:
 *
 *   mount_posix MOUNT_DIR [SEED]
 *
 * Works in MOUNT_DIR/posix.PID (removed at the end when everything passed).
 * Every check prints file:line, the expression and errno when it fails and
 * exits 1. The EACCES checks fork a child running as uid/gid 65534, so the
 * mount must allow other users (-o allow_other) and MOUNT_DIR must be
 * reachable by them; a positive control in the child makes a mount that
 * refuses everybody fail the test instead of passing it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            int e_ = errno;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s)\n", __FILE__, __LINE__, #cond, \
                    e_, strerror(e_));                                                             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* expr must fail with -1 and exactly errno err. */
#define CHECK_ERR(expr, err)                                                                       \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long)(expr);                                                                    \
        int e_ = errno;                                                                            \
        if (r_ != -1 || e_ != (err)) {                                                             \
            fprintf(stderr,                                                                        \
                    "%s:%d: CHECK_ERR failed: %s returned %ld errno %d (%s), want -1 %s\n",        \
                    __FILE__, __LINE__, #expr, r_, e_, strerror(e_), #err);                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static char base[PATH_MAX];
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static const char *P(const char *rel)
{
    static char bufs[8][PATH_MAX];
    static int n;
    char *b = bufs[n++ % 8];
    int len = snprintf(b, PATH_MAX, "%s/%s", base, rel);
    CHECK(len > 0 && len < PATH_MAX);
    return b;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(close(fd) == 0);
}

/* Reads the whole file into buf (at most cap bytes); returns the length. */
static size_t read_file(const char *path, void *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, (char *)buf + got, cap - got);
        CHECK(r >= 0);
        if (r == 0)
            break;
        got += (size_t)r;
        CHECK(got <= cap);
        if (got == cap) {
            char extra;
            CHECK(read(fd, &extra, 1) == 0);
            break;
        }
    }
    CHECK(close(fd) == 0);
    return got;
}

/* The whole file at path must be exactly want. */
#define check_content(path, want) check_content_at(__LINE__, path, want)
static void check_content_at(int line, const char *path, const char *want)
{
    char buf[4096];
    size_t n = read_file(path, buf, sizeof(buf) - 1);
    buf[n] = 0;
    if (n != strlen(want) || memcmp(buf, want, n) != 0) {
        fprintf(stderr, "%s:%d: content of %s is \"%.64s\" (%zu bytes), want \"%s\"\n", __FILE__,
                line, path, buf, n, want);
        exit(1);
    }
}

static void test_create_write_read(void)
{
    struct stat st;
    const char *f = P("cw");
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0640);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello world\n", 12) == 12);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == 12);
    CHECK(close(fd) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(st.st_size == 12);
    CHECK(st.st_nlink == 1);
    CHECK(st.st_uid == 0 && st.st_gid == 0);
    check_content(f, "hello world\n");
    CHECK_ERR(open(f, O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);

    /* append */
    fd = open(f, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, "abc", 3) == 3);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == 15);
    CHECK(close(fd) == 0);
    check_content(f, "hello world\nabc");

    /* overwrite in the middle, O_RDWR */
    fd = open(f, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "WORLD", 5, 6) == 5);
    char buf[32];
    CHECK(pread(fd, buf, sizeof(buf), 0) == 15);
    CHECK(memcmp(buf, "hello WORLD\nabc", 15) == 0);
    CHECK(close(fd) == 0);

    /* O_TRUNC */
    fd = open(f, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == 0);
    CHECK(close(fd) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_size == 0);
    check_content(f, "");

    /* creat() of an empty file, mode honoured with umask 0 */
    fd = open(P("cw_empty"), O_RDONLY | O_CREAT, 0604);
    CHECK(fd >= 0);
    CHECK(read(fd, buf, sizeof(buf)) == 0);
    CHECK(close(fd) == 0);
    CHECK(stat(P("cw_empty"), &st) == 0);
    CHECK((st.st_mode & 07777) == 0604 && st.st_size == 0);

    /* mtime moves on a write */
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    CHECK(utimensat(AT_FDCWD, f, old, 0) == 0);
    fd = open(f, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(write(fd, "x", 1) == 1);
    CHECK(close(fd) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_mtim.tv_sec > 1000);
    printf("ok create/write/read/append/O_TRUNC\n");
}

static void test_truncate(void)
{
    struct stat st;
    const char *f = P("tr");
    static char data[300000], buf[300001];
    memset(data, 'x', sizeof(data));
    write_file(f, data, sizeof(data));
    CHECK(truncate(f, 10) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_size == 10);
    CHECK(truncate(f, 200000) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_size == 200000);
    CHECK(read_file(f, buf, sizeof(buf)) == 200000);
    for (size_t i = 0; i < 200000; i++) {
        if (buf[i] != (i < 10 ? 'x' : 0)) {
            fprintf(stderr, "truncate: byte %zu is 0x%02x\n", i, (unsigned char)buf[i]);
            CHECK(!"shrink then extend reads zeros");
        }
    }
    /* ftruncate on an open fd, then extend by a write after a hole */
    int fd = open(f, O_RDWR);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 5) == 0);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == 5);
    CHECK(pwrite(fd, "end", 3, 100000) == 3);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == 100003);
    CHECK(pread(fd, buf, sizeof(buf), 0) == 100003);
    CHECK(memcmp(buf, "xxxxx", 5) == 0);
    for (size_t i = 5; i < 100000; i++) {
        if (buf[i] != 0) {
            fprintf(stderr, "ftruncate 5 + pwrite at 100000: byte %zu is 0x%02x\n", i,
                    (unsigned char)buf[i]);
            CHECK(!"the hole after a shrink reads zeros");
        }
    }
    CHECK(memcmp(buf + 100000, "end", 3) == 0);
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(pread(fd, buf, 10, 0) == 0);
    CHECK(close(fd) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_size == 0);
    CHECK_ERR(truncate(f, -1), EINVAL);
    printf("ok truncate\n");
}

static void test_rename(void)
{
    struct stat st, st2;
    write_file(P("rn_a"), "AAA", 3);
    write_file(P("rn_b"), "BBBBB", 5);
    CHECK(stat(P("rn_a"), &st) == 0);
    /* over an existing target: the target's old content is gone */
    CHECK(rename(P("rn_a"), P("rn_b")) == 0);
    CHECK_ERR(stat(P("rn_a"), &st2), ENOENT);
    CHECK(stat(P("rn_b"), &st2) == 0);
    CHECK(st2.st_ino == st.st_ino);
    CHECK(st2.st_size == 3);
    check_content(P("rn_b"), "AAA");
    /* plain rename */
    CHECK(rename(P("rn_b"), P("rn_c")) == 0);
    CHECK_ERR(access(P("rn_b"), F_OK), ENOENT);
    check_content(P("rn_c"), "AAA");
    /* across directories */
    CHECK(mkdir(P("rn_d1"), 0755) == 0);
    CHECK(mkdir(P("rn_d2"), 0755) == 0);
    CHECK(rename(P("rn_c"), P("rn_d1/c")) == 0);
    check_content(P("rn_d1/c"), "AAA");
    CHECK(rename(P("rn_d1/c"), P("rn_d2/c2")) == 0);
    CHECK_ERR(access(P("rn_d1/c"), F_OK), ENOENT);
    check_content(P("rn_d2/c2"), "AAA");
    /* across directories over an existing target */
    write_file(P("rn_d1/t"), "TTTT", 4);
    CHECK(rename(P("rn_d1/t"), P("rn_d2/c2")) == 0);
    check_content(P("rn_d2/c2"), "TTTT");
    CHECK_ERR(access(P("rn_d1/t"), F_OK), ENOENT);
    /* directory rename with contents */
    CHECK(mkdir(P("rn_d1/sub"), 0755) == 0);
    write_file(P("rn_d1/sub/deep"), "deep", 4);
    CHECK(rename(P("rn_d1"), P("rn_d3")) == 0);
    CHECK_ERR(stat(P("rn_d1"), &st), ENOENT);
    CHECK(stat(P("rn_d3"), &st) == 0 && S_ISDIR(st.st_mode));
    check_content(P("rn_d3/sub/deep"), "deep");
    /* directory into another directory */
    CHECK(rename(P("rn_d3/sub"), P("rn_d2/sub")) == 0);
    check_content(P("rn_d2/sub/deep"), "deep");
    CHECK_ERR(access(P("rn_d3/sub"), F_OK), ENOENT);
    /* directory over an empty directory */
    CHECK(mkdir(P("rn_empty"), 0755) == 0);
    CHECK(rename(P("rn_d2/sub"), P("rn_empty")) == 0);
    check_content(P("rn_empty/deep"), "deep");
    /* directory over a non-empty one: ENOTEMPTY (POSIX also allows EEXIST) */
    errno = 0;
    CHECK(rename(P("rn_d3"), P("rn_empty")) == -1);
    CHECK(errno == ENOTEMPTY || errno == EEXIST);
    /* into its own subdirectory */
    CHECK(mkdir(P("rn_d3/inner"), 0755) == 0);
    CHECK_ERR(rename(P("rn_d3"), P("rn_d3/inner/x")), EINVAL);
    CHECK_ERR(rename(P("rn_d3"), P("rn_d3/x")), EINVAL);
    /* file over a directory, directory over a file */
    write_file(P("rn_f"), "f", 1);
    CHECK_ERR(rename(P("rn_f"), P("rn_d3")), EISDIR);
    CHECK_ERR(rename(P("rn_d3"), P("rn_f")), ENOTDIR);
    CHECK_ERR(rename(P("rn_missing"), P("rn_x")), ENOENT);
    /* rename onto itself (same hard link): nothing happens */
    CHECK(rename(P("rn_f"), P("rn_f")) == 0);
    check_content(P("rn_f"), "f");
    /* RENAME_NOREPLACE via renameat2 */
    write_file(P("rn_g"), "g", 1);
    CHECK_ERR(renameat2(AT_FDCWD, P("rn_g"), AT_FDCWD, P("rn_f"), RENAME_NOREPLACE), EEXIST);
    check_content(P("rn_f"), "f");
    printf("ok rename\n");
}

static void test_link_symlink_unlink(void)
{
    struct stat st, st2;
    char buf[PATH_MAX];
    write_file(P("ln_a"), "linked", 6);
    CHECK(link(P("ln_a"), P("ln_b")) == 0);
    CHECK(stat(P("ln_a"), &st) == 0);
    CHECK(stat(P("ln_b"), &st2) == 0);
    CHECK(st.st_ino == st2.st_ino);
    CHECK(st.st_nlink == 2 && st2.st_nlink == 2);
    CHECK(mkdir(P("ln_dir"), 0755) == 0);
    CHECK(link(P("ln_a"), P("ln_dir/c")) == 0);
    CHECK(stat(P("ln_a"), &st) == 0);
    CHECK(st.st_nlink == 3);
    /* a write through one name is seen through the others */
    int fd = open(P("ln_b"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "!", 1) == 1);
    CHECK(close(fd) == 0);
    check_content(P("ln_a"), "linked!");
    check_content(P("ln_dir/c"), "linked!");
    CHECK(unlink(P("ln_a")) == 0);
    CHECK_ERR(stat(P("ln_a"), &st), ENOENT);
    CHECK(stat(P("ln_b"), &st) == 0);
    CHECK(st.st_nlink == 2);
    CHECK(unlink(P("ln_dir/c")) == 0);
    CHECK(stat(P("ln_b"), &st) == 0);
    CHECK(st.st_nlink == 1);
    check_content(P("ln_b"), "linked!");
    CHECK_ERR(link(P("ln_b"), P("ln_b")), EEXIST);
    CHECK_ERR(link(P("ln_missing"), P("ln_x")), ENOENT);
    CHECK_ERR(link(P("ln_dir"), P("ln_dirlink")), EPERM);

    /* symlink + readlink */
    const char *target = "some/relative/../target";
    CHECK(symlink(target, P("sl")) == 0);
    ssize_t n = readlink(P("sl"), buf, sizeof(buf));
    CHECK(n == (ssize_t)strlen(target));
    CHECK(memcmp(buf, target, (size_t)n) == 0);
    CHECK(lstat(P("sl"), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK(st.st_size == (off_t)strlen(target));
    CHECK_ERR(stat(P("sl"), &st), ENOENT); /* dangling */
    CHECK(symlink("ln_b", P("sl2")) == 0);
    check_content(P("sl2"), "linked!");
    CHECK(stat(P("sl2"), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 7);
    CHECK_ERR(symlink("x", P("sl2")), EEXIST);
    CHECK_ERR(readlink(P("ln_b"), buf, sizeof(buf)), EINVAL);
    /* a long target (1000 bytes) */
    char longt[1001];
    memset(longt, 'L', 1000);
    longt[1000] = 0;
    CHECK(symlink(longt, P("sl3")) == 0);
    CHECK(readlink(P("sl3"), buf, sizeof(buf)) == 1000);
    CHECK(memcmp(buf, longt, 1000) == 0);
    /* unlink removes the link, not the target */
    CHECK(unlink(P("sl2")) == 0);
    CHECK_ERR(lstat(P("sl2"), &st), ENOENT);
    check_content(P("ln_b"), "linked!");

    CHECK_ERR(unlink(P("ln_dir")), EISDIR);
    CHECK_ERR(unlink(P("ln_missing")), ENOENT);
    printf("ok link/symlink/unlink\n");
}

static void test_unlink_open(void)
{
    struct stat st;
    char buf[64];
    int fd;
    /* unlink of an open file: the data stays readable through the fd */
    write_file(P("ul_open"), "still here", 10);
    fd = open(P("ul_open"), O_RDWR);
    CHECK(fd >= 0);
    CHECK(unlink(P("ul_open")) == 0);
    CHECK_ERR(stat(P("ul_open"), &st), ENOENT);
    CHECK(pread(fd, buf, sizeof(buf), 0) == 10);
    CHECK(memcmp(buf, "still here", 10) == 0);
    CHECK(pwrite(fd, "!", 1, 10) == 1);
    CHECK(pread(fd, buf, sizeof(buf), 0) == 11);
    CHECK(memcmp(buf, "still here!", 11) == 0);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_nlink == 0 && st.st_size == 11);
    CHECK(close(fd) == 0);
    CHECK_ERR(unlink(P("ul_open")), ENOENT);
    printf("ok unlink of an open file\n");
}

static void test_mkdir_rmdir_readdir(void)
{
    struct stat st;
    CHECK(mkdir(P("md"), 0751) == 0);
    CHECK(stat(P("md"), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0751);
    CHECK_ERR(mkdir(P("md"), 0755), EEXIST);
    CHECK(mkdir(P("md/sub"), 0700) == 0);
    CHECK_ERR(rmdir(P("md")), ENOTEMPTY);
    CHECK(rmdir(P("md/sub")) == 0);
    CHECK_ERR(stat(P("md/sub"), &st), ENOENT);
    write_file(P("md/file"), "", 0);
    CHECK_ERR(rmdir(P("md")), ENOTEMPTY);
    CHECK_ERR(rmdir(P("md/file")), ENOTDIR);
    CHECK(unlink(P("md/file")) == 0);
    CHECK(rmdir(P("md")) == 0);
    CHECK_ERR(rmdir(P("md")), ENOENT);
    CHECK_ERR(mkdir(P("md/x"), 0755), ENOENT);

    /* readdir: 300 entries, each listed exactly once */
    enum { N = 300 };
    CHECK(mkdir(P("rd"), 0755) == 0);
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "rd/entry_%03d_%s", i, i % 10 == 0 ? "dir" : "file");
        if (i % 10 == 0)
            CHECK(mkdir(P(name), 0755) == 0);
        else
            write_file(P(name), name, (size_t)(i % 7));
    }
    for (int pass = 0; pass < 2; pass++) {
        int seen[N] = {0}, dots = 0, dotdots = 0;
        DIR *d = opendir(P("rd"));
        CHECK(d != NULL);
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0) {
                dots++;
                continue;
            }
            if (strcmp(de->d_name, "..") == 0) {
                dotdots++;
                continue;
            }
            int idx;
            char kind[8];
            if (sscanf(de->d_name, "entry_%3d_%4s", &idx, kind) != 2 || idx < 0 || idx >= N) {
                fprintf(stderr, "readdir: unexpected entry '%s'\n", de->d_name);
                CHECK(!"unexpected readdir entry");
            }
            if (pass == 1 && idx % 2 == 1) {
                fprintf(stderr, "readdir: removed entry '%s' still listed\n", de->d_name);
                CHECK(!"removed entry listed");
            }
            seen[idx]++;
            if (de->d_type != DT_UNKNOWN)
                CHECK(de->d_type == (idx % 10 == 0 ? DT_DIR : DT_REG));
            errno = 0;
        }
        CHECK(errno == 0);
        CHECK(closedir(d) == 0);
        CHECK(dots == 1 && dotdots == 1);
        for (int i = 0; i < N; i++) {
            int want = (pass == 1 && i % 2 == 1) ? 0 : 1;
            if (seen[i] != want) {
                fprintf(stderr, "readdir pass %d: entry %d seen %d times, want %d\n", pass, i,
                        seen[i], want);
                CHECK(!"each entry listed exactly once");
            }
        }
        if (pass == 0) {
            for (int i = 1; i < N; i += 2) {
                snprintf(name, sizeof(name), "rd/entry_%03d_file", i);
                CHECK(unlink(P(name)) == 0);
            }
        }
    }
    printf("ok mkdir/rmdir/readdir (%d entries)\n", N);
}

static void test_attrs(void)
{
    struct stat st;
    const char *f = P("attr");
    write_file(f, "a", 1);
    CHECK(chmod(f, 0751) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK((st.st_mode & 07777) == 0751 && S_ISREG(st.st_mode));
    CHECK(chmod(f, 04640) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK((st.st_mode & 07777) == 04640);
    int fd = open(f, O_RDONLY);
    CHECK(fd >= 0);
    CHECK(fchmod(fd, 0600) == 0);
    CHECK(fstat(fd, &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(close(fd) == 0);

    CHECK(chown(f, 1234, 5678) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_uid == 1234 && st.st_gid == 5678);
    CHECK(chown(f, (uid_t)-1, 42) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_uid == 1234 && st.st_gid == 42);
    CHECK(chown(f, 77, (gid_t)-1) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_uid == 77 && st.st_gid == 42);
    CHECK(symlink("attr", P("attr_sl")) == 0);
    CHECK(lchown(P("attr_sl"), 99, 98) == 0);
    CHECK(lstat(P("attr_sl"), &st) == 0);
    CHECK(st.st_uid == 99 && st.st_gid == 98);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_uid == 77 && st.st_gid == 42);

    /* utimens with nanoseconds */
    struct timespec ts[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
    CHECK(utimensat(AT_FDCWD, f, ts, 0) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789);
    CHECK(st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 987654321);
    struct timespec ts2[2] = {{0, UTIME_OMIT}, {1600000000, 1}};
    CHECK(utimensat(AT_FDCWD, f, ts2, 0) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789);
    CHECK(st.st_mtim.tv_sec == 1600000000 && st.st_mtim.tv_nsec == 1);
    struct timespec before;
    CHECK(clock_gettime(CLOCK_REALTIME, &before) == 0);
    struct timespec ts3[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    CHECK(utimensat(AT_FDCWD, f, ts3, 0) == 0);
    CHECK(stat(f, &st) == 0);
    CHECK(st.st_atim.tv_sec >= before.tv_sec - 1 && st.st_atim.tv_sec <= before.tv_sec + 5);
    CHECK(st.st_mtim.tv_sec == 1600000000 && st.st_mtim.tv_nsec == 1);
    /* on a directory, and on a symlink itself */
    CHECK(mkdir(P("attr_d"), 0755) == 0);
    CHECK(utimensat(AT_FDCWD, P("attr_d"), ts, 0) == 0);
    CHECK(stat(P("attr_d"), &st) == 0);
    CHECK(st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 987654321);
    CHECK(utimensat(AT_FDCWD, P("attr_sl"), ts2, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(lstat(P("attr_sl"), &st) == 0);
    CHECK(st.st_mtim.tv_sec == 1600000000 && st.st_mtim.tv_nsec == 1);
    /* a directory's mtime moves when an entry is added */
    CHECK(mkdir(P("attr_d/x"), 0755) == 0);
    CHECK(stat(P("attr_d"), &st) == 0);
    CHECK(st.st_mtim.tv_sec > 1500000000);
    printf("ok chmod/chown/utimens\n");
}

static void test_xattr(void)
{
    const char *f = P("xa");
    char buf[256];
    write_file(f, "x", 1);
    CHECK(setxattr(f, "user.one", "value1", 6, 0) == 0);
    CHECK(getxattr(f, "user.one", NULL, 0) == 6);
    CHECK(getxattr(f, "user.one", buf, sizeof(buf)) == 6);
    CHECK(memcmp(buf, "value1", 6) == 0);
    CHECK_ERR(getxattr(f, "user.one", buf, 3), ERANGE);
    const char bin[5] = {0, 1, 0, (char)0xff, 0};
    CHECK(setxattr(f, "user.bin", bin, sizeof(bin), XATTR_CREATE) == 0);
    CHECK(getxattr(f, "user.bin", buf, sizeof(buf)) == 5);
    CHECK(memcmp(buf, bin, 5) == 0);
    CHECK(setxattr(f, "user.empty", "", 0, 0) == 0);
    CHECK(getxattr(f, "user.empty", buf, sizeof(buf)) == 0);
    CHECK_ERR(setxattr(f, "user.one", "zz", 2, XATTR_CREATE), EEXIST);
    CHECK(getxattr(f, "user.one", buf, sizeof(buf)) == 6);
    CHECK_ERR(setxattr(f, "user.none", "zz", 2, XATTR_REPLACE), ENODATA);
    CHECK_ERR(getxattr(f, "user.none", buf, sizeof(buf)), ENODATA);
    CHECK(setxattr(f, "user.one", "v2", 2, XATTR_REPLACE) == 0);
    CHECK(getxattr(f, "user.one", buf, sizeof(buf)) == 2);
    CHECK(memcmp(buf, "v2", 2) == 0);

    /* listxattr: exactly the three names, in any order */
    ssize_t need = listxattr(f, NULL, 0);
    const size_t want = sizeof("user.one") + sizeof("user.bin") + sizeof("user.empty");
    CHECK(need == (ssize_t)want);
    CHECK_ERR(listxattr(f, buf, 4), ERANGE);
    ssize_t n = listxattr(f, buf, sizeof(buf));
    CHECK(n == (ssize_t)want);
    int one = 0, bn = 0, empty = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
        if (strcmp(buf + i, "user.one") == 0)
            one++;
        else if (strcmp(buf + i, "user.bin") == 0)
            bn++;
        else if (strcmp(buf + i, "user.empty") == 0)
            empty++;
        else
            CHECK(!"unexpected xattr name");
    }
    CHECK(one == 1 && bn == 1 && empty == 1);

    CHECK(removexattr(f, "user.one") == 0);
    CHECK_ERR(getxattr(f, "user.one", buf, sizeof(buf)), ENODATA);
    CHECK_ERR(removexattr(f, "user.one"), ENODATA);
    CHECK(listxattr(f, buf, sizeof(buf)) == (ssize_t)(sizeof("user.bin") + sizeof("user.empty")));
    CHECK(removexattr(f, "user.bin") == 0);
    CHECK(removexattr(f, "user.empty") == 0);
    CHECK(listxattr(f, buf, sizeof(buf)) == 0);
    /* on a directory, and a value survives a rename */
    CHECK(mkdir(P("xa_d"), 0755) == 0);
    CHECK(setxattr(P("xa_d"), "user.d", "dir", 3, 0) == 0);
    CHECK(getxattr(P("xa_d"), "user.d", buf, sizeof(buf)) == 3);
    CHECK(setxattr(f, "user.keep", "kept", 4, 0) == 0);
    CHECK(rename(f, P("xa_d/renamed")) == 0);
    CHECK(getxattr(P("xa_d/renamed"), "user.keep", buf, sizeof(buf)) == 4);
    CHECK(memcmp(buf, "kept", 4) == 0);
    CHECK_ERR(getxattr(P("xa_missing"), "user.x", buf, sizeof(buf)), ENOENT);
    printf("ok xattr\n");
}

/* pwrite/pread at random offsets, against a reference copy in memory. */
static void test_random_io(void)
{
    enum { SPAN = 6 << 20, OPS = 600 };
    unsigned char *ref = calloc(1, SPAN + (1 << 20));
    unsigned char *buf = malloc(SPAN + (1 << 20));
    unsigned char *chunk = malloc(1 << 17);
    CHECK(ref && buf && chunk);
    const char *f = P("rio");
    int fd = open(f, O_RDWR | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0);
    size_t size = 0;
    for (int op = 0; op < OPS; op++) {
        size_t off = (size_t)(rnd() % SPAN);
        size_t len = 1 + (size_t)(rnd() % (op % 5 == 0 ? (1 << 17) : 4096));
        if (rnd() % 3 != 0) {
            for (size_t i = 0; i < len; i++)
                chunk[i] = (unsigned char)rnd();
            CHECK(pwrite(fd, chunk, len, (off_t)off) == (ssize_t)len);
            memcpy(ref + off, chunk, len);
            if (off + len > size)
                size = off + len;
        } else {
            ssize_t r = pread(fd, buf, len, (off_t)off);
            size_t want = off >= size ? 0 : (off + len > size ? size - off : len);
            if (r != (ssize_t)want || memcmp(buf, ref + off, want) != 0) {
                size_t bad = 0, first = 0;
                for (size_t i = 0; r == (ssize_t)want && i < want; i++) {
                    if (buf[i] != ref[off + i] && bad++ == 0)
                        first = i;
                }
                fprintf(
                    stderr,
                    "random io op %d: pread(off %zu, len %zu) = %zd, want %zu; %zu bytes differ, "
                    "first at %zu: 0x%02x, want 0x%02x\n",
                    op, off, len, r, want, bad, off + first, buf[first], ref[off + first]);
                CHECK(!"pread matches the reference");
            }
        }
        if (op == OPS / 2)
            CHECK(fsync(fd) == 0);
    }
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == (off_t)size);
    CHECK(close(fd) == 0);
    /* the whole file, through a new descriptor */
    CHECK(read_file(f, buf, SPAN + (1 << 20)) == size);
    for (size_t i = 0; i < size; i++) {
        if (buf[i] != ref[i]) {
            fprintf(stderr, "random io: byte %zu is 0x%02x, want 0x%02x\n", i, buf[i], ref[i]);
            CHECK(!"file matches the reference");
        }
    }
    printf("ok pread/pwrite random (%d ops, %zu bytes)\n", OPS, size);

    /* a small write, then at once a larger read that covers it (50 times
     * over a 4 MiB file): the read returns the new bytes */
    fd = open(P("rio_rw"), O_RDWR | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0);
    memset(buf, 'a', 4 << 20);
    CHECK(write(fd, buf, 4 << 20) == 4 << 20);
    CHECK(close(fd) == 0);
    fd = open(P("rio_rw"), O_RDWR);
    CHECK(fd >= 0);
    for (int i = 0; i < 50; i++) {
        off_t x = (off_t)(i * 37 % 60) * 65536 + 100000;
        memset(chunk, 'B' + i % 20, 3547);
        CHECK(pwrite(fd, chunk, 3547, x) == 3547);
        CHECK(pread(fd, buf, 129067, x - 97669) == 129067);
        if (memcmp(buf + 97669, chunk, 3547) != 0) {
            fprintf(stderr,
                    "write then read, step %d: pwrite(3547 B at %lld), pread(129067 B at %lld) "
                    "returns old data at %lld: 0x%02x\n",
                    i, (long long)x, (long long)(x - 97669), (long long)x, buf[97669]);
            CHECK(!"a read sees the write before it");
        }
    }
    CHECK(close(fd) == 0);
    CHECK(unlink(P("rio_rw")) == 0);
    printf("ok write then a covering read\n");

    /* a write across the 64 MiB chunk boundary and a hole before it */
    const off_t cb = 64LL << 20;
    fd = open(P("rio_big"), O_RDWR | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0);
    for (size_t i = 0; i < 8192; i++)
        chunk[i] = (unsigned char)rnd();
    CHECK(pwrite(fd, chunk, 8192, cb - 4096) == 8192);
    CHECK(fstat(fd, &st) == 0);
    CHECK(st.st_size == cb + 4096);
    CHECK(pread(fd, buf, 8192, cb - 4096) == 8192);
    CHECK(memcmp(buf, chunk, 8192) == 0);
    CHECK(pread(fd, buf, 4096, cb - 8192) == 4096);
    for (size_t i = 0; i < 4096; i++)
        CHECK(buf[i] == 0);
    CHECK(pread(fd, buf, 100, 1000) == 100);
    for (size_t i = 0; i < 100; i++)
        CHECK(buf[i] == 0);
    CHECK(close(fd) == 0);
    fd = open(P("rio_big"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK(pread(fd, buf, 16384, cb - 8192) == 12288);
    for (size_t i = 0; i < 4096; i++)
        CHECK(buf[i] == 0);
    CHECK(memcmp(buf + 4096, chunk, 8192) == 0);
    CHECK(close(fd) == 0);
    CHECK(unlink(P("rio_big")) == 0);
    printf("ok write across the chunk boundary\n");
    free(ref);
    free(buf);
    free(chunk);
}

static void test_errors(void)
{
    struct stat st;
    char name[300];
    CHECK_ERR(open(P("er_missing"), O_RDONLY), ENOENT);
    CHECK_ERR(stat(P("er_missing"), &st), ENOENT);
    CHECK_ERR(open(P("er_nodir/f"), O_WRONLY | O_CREAT, 0644), ENOENT);
    CHECK_ERR(opendir(P("er_missing")) == NULL ? -1 : 0, ENOENT);
    CHECK(mkdir(P("er_d"), 0755) == 0);
    CHECK_ERR(mkdir(P("er_d"), 0755), EEXIST);
    write_file(P("er_f"), "f", 1);
    CHECK_ERR(mkdir(P("er_f"), 0755), EEXIST);
    CHECK_ERR(open(P("er_d"), O_WRONLY), EISDIR);
    CHECK_ERR(open(P("er_d"), O_RDWR), EISDIR);
    CHECK_ERR(open(P("er_f/x"), O_RDONLY), ENOTDIR);
    CHECK_ERR(open(P("er_f/x"), O_WRONLY | O_CREAT, 0644), ENOTDIR);
    CHECK_ERR(mkdir(P("er_f/x"), 0755), ENOTDIR);
    CHECK_ERR(open(P("er_f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    CHECK(mkdir(P("er_d/s"), 0755) == 0);
    CHECK_ERR(rmdir(P("er_d")), ENOTEMPTY);
    CHECK_ERR(rename(P("er_d"), P("er_d/s/t")), EINVAL);
    /* names: NAME_MAX (255) works, 256 is ENAMETOOLONG */
    memset(name, 'n', sizeof(name));
    memcpy(name, "er_", 3);
    name[255] = 0;
    int fd = open(P(name), O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0);
    CHECK(close(fd) == 0);
    CHECK(stat(P(name), &st) == 0);
    CHECK(unlink(P(name)) == 0);
    name[255] = 'n';
    name[256] = 0;
    CHECK_ERR(open(P(name), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
    CHECK_ERR(mkdir(P(name), 0755), ENAMETOOLONG);
    CHECK_ERR(stat(P(name), &st), ENAMETOOLONG);
    CHECK_ERR(rename(P("er_f"), P(name)), ENAMETOOLONG);
    CHECK_ERR(symlink("x", P(name)), ENAMETOOLONG);
    CHECK_ERR(link(P("er_f"), P(name)), ENAMETOOLONG);
    check_content(P("er_f"), "f");
    printf("ok error codes\n");
}

/* As uid/gid 65534 in a child: 0700 dirs and 0644 files of root are closed. */
static void test_eacces(void)
{
    struct stat st;
    CHECK(mkdir(P("ac_open"), 0755) == 0);
    write_file(P("ac_open/readable"), "public", 6);
    CHECK(chmod(P("ac_open/readable"), 0644) == 0);
    CHECK(mkdir(P("ac_priv"), 0700) == 0);
    write_file(P("ac_priv/secret"), "secret", 6);
    CHECK(chmod(P("ac_priv/secret"), 0644) == 0);
    CHECK(mkdir(P("ac_shared"), 0777) == 0);
    CHECK(chmod(P("ac_shared"), 0777) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Relative paths from inside the test directory: the directories
         * above the mount (a CI chroot's root may be 0700) are not what
         * this checks, and the user need not be able to cross them. */
        CHECK(chdir(base) == 0);
        CHECK(setgroups(0, NULL) == 0);
        CHECK(setresgid(65534, 65534, 65534) == 0);
        CHECK(setresuid(65534, 65534, 65534) == 0);
        CHECK(geteuid() == 65534);
        /* positive control: the mount lets this user in at all */
        check_content("ac_open/readable", "public");
        CHECK(stat("ac_priv", &st) == 0);
        CHECK_ERR(open("ac_priv/secret", O_RDONLY), EACCES);
        CHECK_ERR(stat("ac_priv/secret", &st), EACCES);
        CHECK_ERR(opendir("ac_priv") == NULL ? -1 : 0, EACCES);
        CHECK_ERR(open("ac_priv/new", O_WRONLY | O_CREAT, 0644), EACCES);
        CHECK_ERR(open("ac_open/readable", O_WRONLY), EACCES);
        CHECK_ERR(open("ac_open/new", O_WRONLY | O_CREAT, 0644), EACCES);
        CHECK_ERR(mkdir("ac_open/newdir", 0755), EACCES);
        CHECK_ERR(unlink("ac_open/readable"), EACCES);
        CHECK_ERR(rename("ac_open/readable", "ac_shared/stolen"), EACCES);
        CHECK_ERR(chmod("ac_open/readable", 0666), EPERM);
        CHECK_ERR(chown("ac_shared/../ac_open/readable", 65534, 65534), EPERM);
        CHECK_ERR(truncate("ac_open/readable", 0), EACCES);
        CHECK_ERR(setxattr("ac_open/readable", "user.x", "1", 1, 0), EACCES);
        /* where it may write, what it creates is its own */
        write_file("ac_shared/mine", "mine", 4);
        CHECK(stat("ac_shared/mine", &st) == 0);
        CHECK(st.st_uid == 65534 && st.st_gid == 65534);
        CHECK(chmod("ac_shared/mine", 0600) == 0);
        fflush(NULL);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_content(P("ac_priv/secret"), "secret");
    check_content(P("ac_open/readable"), "public");
    CHECK(stat(P("ac_shared/mine"), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600 && st.st_uid == 65534);
    printf("ok EACCES as uid 65534\n");
}

/* Removes the tree under path (depth first). */
static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        CHECK(d != NULL);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[PATH_MAX];
            int len = snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            CHECK(len > 0 && len < (int)sizeof(sub));
            rm_tree(sub);
        }
        CHECK(closedir(d) == 0);
        CHECK(rmdir(path) == 0);
    } else {
        CHECK(unlink(path) == 0);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mount_posix MOUNT_DIR [SEED]\n");
        return 2;
    }
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (rng_state == 0)
        rng_state = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("seed %llu\n", (unsigned long long)rng_state);
    umask(0);
    int len = snprintf(base, sizeof(base), "%s/posix.%d", argv[1], (int)getpid());
    CHECK(len > 0 && len < (int)sizeof(base));
    CHECK(mkdir(base, 0755) == 0);
    CHECK(chmod(base, 0755) == 0);

    /* Each section in its own child: a failure ends that section only, so
     * one run reports every broken section; the exit status is 1 if any. */
    static const struct {
        const char *name;
        void (*fn)(void);
    } sections[] = {
        {"create/write/read", test_create_write_read},
        {"truncate", test_truncate},
        {"rename", test_rename},
        {"link/symlink/unlink", test_link_symlink_unlink},
        {"unlink of an open file", test_unlink_open},
        {"mkdir/rmdir/readdir", test_mkdir_rmdir_readdir},
        {"chmod/chown/utimens", test_attrs},
        {"xattr", test_xattr},
        {"pread/pwrite", test_random_io},
        {"errors", test_errors},
        {"EACCES", test_eacces},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        /* Open-deleted ("sustained") files need open counts on the master,
         * which come with the namespace-features issue (9); until then the
         * section runs only when asked for. */
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            sections[i].fn();
            fflush(NULL);
            _exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("FAIL %s\n", sections[i].name);
            failed++;
        }
    }
    if (failed) {
        printf("%d section(s) failed; files left in %s\n", failed, base);
        return 1;
    }

    rm_tree(base);
    struct stat st;
    CHECK_ERR(stat(base, &st), ENOENT);
    printf("PASS\n");
    return 0;
}
