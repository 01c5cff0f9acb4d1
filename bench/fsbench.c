/*
 * fsbench.c - file system workloads through a mounted directory.
 *
 * usage: fsbench [options] DIR   (fsbench --help lists the options)
 *
 * Runs, inside DIR, the phases bench/mount_bench.sh compares between Cairn and
 * MooseFS, each timed on its own, and prints a table (or one JSON array with
 * --json):
 *   seqwrite  one file of --size bytes written in 1 MiB write()s; the time
 *             includes the fsync and close, so no data is left in a cache;
 *   seqread   the same file read back in 1 MiB read()s after dropping the page
 *             cache, from a freshly opened descriptor;
 *   randread  4 KiB pread()s at random 4 KiB-aligned offsets of that file, for
 *             --rand-seconds or exactly --rand-ops reads (IOPS);
 *   create    --files empty files made by open(O_CREAT|O_EXCL) + close;
 *   stat      stat() of each of them;
 *   unlink    unlink() of each of them.
 * One process does everything, one call at a time: the figures are latencies
 * of a single client, not of a parallel load. MB is 10^6 bytes.
 *
 * Decisions a reader must know:
 *  1. Every byte read is checked. Each 8-byte word of the file holds a function
 *     of its offset and --seed, so a file system that loses, misplaces or zeroes
 *     data fails the run instead of looking fast. Making and checking the
 *     pattern costs ~30 us per MiB, in the timed loops of both file systems.
 *  2. Before seqread, randread and stat the page, dentry and inode caches are
 *     dropped (sync; echo 3 > /proc/sys/vm/drop_caches; needs root, or
 *     --no-drop-caches). Otherwise a 2 GiB file just written is read from
 *     memory and stat answers from the kernel's attribute cache: the figures
 *     would measure the kernel, not the file system. The same drop also empties
 *     the cache of the chunk files below a file system's servers on this host.
 *  3. randread sets POSIX_FADV_RANDOM so the kernel asks the file system for
 *     4 KiB, not a read-ahead window; what the file system does below that (its
 *     own read-ahead or caches) is part of what is measured.
 *  4. Any failed call ends the program with a message naming the call, the
 *     path and the offset or file number, and exit status 1.
 */
#include "cn_time.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEQ_BLOCK    (1u << 20) /* bytes per write()/read() of seqwrite/seqread */
#define RAND_BLOCK   4096u      /* bytes per pread() of randread */
#define DATA_NAME    "fsbench.data"
#define FILES_DIR    "fsbench.files"
#define PATTERN_MULT 0x9E3779B97F4A7C15ull

enum phase {
    PH_SEQWRITE,
    PH_SEQREAD,
    PH_RANDREAD,
    PH_CREATE,
    PH_STAT,
    PH_UNLINK,
    PH_COUNT,
};

static const char *const phase_names[PH_COUNT] = {
    "seqwrite", "seqread", "randread", "create", "stat", "unlink",
};

static const char *const phase_units[PH_COUNT] = {
    "MB/s", "MB/s", "IOPS", "ops/s", "ops/s", "ops/s",
};

struct opts {
    const char *dir;
    uint64_t size;       /* bytes of the data file, a multiple of SEQ_BLOCK */
    uint64_t rand_ops;   /* 0: run randread for rand_seconds instead */
    double rand_seconds; /* randread duration when rand_ops is 0 */
    unsigned files;      /* files of create/stat/unlink */
    uint64_t seed;       /* pattern and random offsets */
    unsigned phases;     /* bit (1 << enum phase) per selected phase */
    int json;
    int drop_caches;
    int keep; /* leave the data file and the files behind */
};

struct result {
    int ran;
    double value;   /* in phase_units[] */
    double seconds; /* timed part only */
    uint64_t ops;   /* calls timed: writes, reads, or files */
    uint64_t bytes; /* payload moved; 0 for the metadata phases */
};

/* Prints "fsbench: <message>" to stderr and exits with status 1. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("fsbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double seconds_since(uint64_t start_ns)
{
    return (double)(cn_now_ns() - start_ns) / 1e9;
}

/* The pattern word at byte offset `off` (a multiple of 8) of the data file. */
static inline uint64_t pattern_word(uint64_t off, uint64_t seed)
{
    return ((off >> 3) + 1) * PATTERN_MULT ^ seed;
}

/* Fills `len` bytes (a multiple of 8) with the pattern of file offset `off`. */
static void pattern_fill(unsigned char *buf, size_t len, uint64_t off, uint64_t seed)
{
    uint64_t *w = (uint64_t *)buf;

    for (size_t i = 0; i < len / 8; i++)
        w[i] = pattern_word(off + 8 * i, seed);
}

/* The offset whose pattern word is `w`, inverting pattern_word() (odd multiplier). */
static uint64_t pattern_offset(uint64_t w, uint64_t seed)
{
    uint64_t inv = PATTERN_MULT; /* Newton's iteration: 5 steps give 64 bits */

    for (int i = 0; i < 5; i++)
        inv *= 2 - PATTERN_MULT * inv;
    return ((w ^ seed) * inv - 1) << 3;
}

/*
 * Checks `len` bytes that `phase` read from file offset `off`; dies naming the
 * first bad word and, when it is a word of the file, the offset it belongs to.
 */
static void pattern_check(const unsigned char *buf, size_t len, uint64_t off, uint64_t seed,
                          const char *path, const char *phase, uint64_t size)
{
    const uint64_t *w = (const uint64_t *)buf;

    for (size_t i = 0; i < len / 8; i++) {
        uint64_t want = pattern_word(off + 8 * i, seed), from;
        char where[96] = "";

        if (w[i] == want)
            continue;
        from = pattern_offset(w[i], seed);
        if (from < size)
            snprintf(where, sizeof(where), ", the word written at offset %" PRIu64, from);
        die("%s: %s: wrong data at offset %" PRIu64 " (read %016" PRIx64 "%s; wrote %016" PRIx64
            "): the file system returned bytes that were not written there",
            phase, path, off + 8 * i, w[i], where, want);
    }
}

/* xorshift64*: the offsets of randread; deterministic for a given --seed. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void drop_caches(const struct opts *o)
{
    int fd;

    if (!o->drop_caches)
        return;
    sync();
    fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0)
        die("open /proc/sys/vm/drop_caches: %s (needs root; or pass --no-drop-caches and read "
            "the figures as cached)",
            strerror(errno));
    if (write(fd, "3", 1) != 1)
        die("write /proc/sys/vm/drop_caches: %s", strerror(errno));
    if (close(fd) != 0)
        die("close /proc/sys/vm/drop_caches: %s", strerror(errno));
}

static void *xaligned(size_t len)
{
    void *p = NULL;
    int err = posix_memalign(&p, 4096, len);

    if (err != 0)
        die("allocating %zu bytes: %s", len, strerror(err));
    return p;
}

static void run_seqwrite(const struct opts *o, const char *path, struct result *r)
{
    unsigned char *buf = xaligned(SEQ_BLOCK);
    uint64_t start, off;
    int fd;

    if (unlink(path) != 0 && errno != ENOENT)
        die("unlink %s (left over from an earlier run): %s", path, strerror(errno));
    start = cn_now_ns();
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        die("open %s for writing: %s", path, strerror(errno));
    for (off = 0; off < o->size; off += SEQ_BLOCK) {
        size_t done = 0;

        pattern_fill(buf, SEQ_BLOCK, off, o->seed);
        while (done < SEQ_BLOCK) {
            ssize_t n = write(fd, buf + done, SEQ_BLOCK - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                die("write %s at offset %" PRIu64 ": %s", path, off + done,
                    n < 0 ? strerror(errno) : "wrote nothing");
            done += (size_t)n;
        }
    }
    if (fsync(fd) != 0)
        die("fsync %s: %s", path, strerror(errno));
    if (close(fd) != 0)
        die("close %s after writing: %s", path, strerror(errno));
    r->seconds = seconds_since(start);
    r->ops = o->size / SEQ_BLOCK;
    r->bytes = o->size;
    r->value = (double)o->size / 1e6 / r->seconds;
    free(buf);
}

/* Opens the data file for reading and checks it is at least --size bytes. */
static int open_data(const struct opts *o, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        die("open %s for reading: %s%s", path, strerror(errno),
            errno == ENOENT ? " (run the seqwrite phase first)" : "");
    if (fstat(fd, &st) != 0)
        die("fstat %s: %s", path, strerror(errno));
    if ((uint64_t)st.st_size < o->size)
        die("%s holds %lld bytes, fewer than --size %" PRIu64 " (run the seqwrite phase first)",
            path, (long long)st.st_size, o->size);
    return fd;
}

static void run_seqread(const struct opts *o, const char *path, struct result *r)
{
    unsigned char *buf = xaligned(SEQ_BLOCK);
    uint64_t start, off;
    int fd;

    drop_caches(o);
    start = cn_now_ns();
    fd = open_data(o, path);
    for (off = 0; off < o->size; off += SEQ_BLOCK) {
        size_t done = 0;

        while (done < SEQ_BLOCK) {
            ssize_t n = read(fd, buf + done, SEQ_BLOCK - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                die("read %s at offset %" PRIu64 ": %s", path, off + done, strerror(errno));
            if (n == 0)
                die("read %s: end of file at offset %" PRIu64 ", expected %" PRIu64 " bytes", path,
                    off + done, o->size);
            done += (size_t)n;
        }
        pattern_check(buf, SEQ_BLOCK, off, o->seed, path, "seqread", o->size);
    }
    if (close(fd) != 0)
        die("close %s after reading: %s", path, strerror(errno));
    r->seconds = seconds_since(start);
    r->ops = o->size / SEQ_BLOCK;
    r->bytes = o->size;
    r->value = (double)o->size / 1e6 / r->seconds;
    free(buf);
}

static void run_randread(const struct opts *o, const char *path, struct result *r)
{
    unsigned char *buf = xaligned(RAND_BLOCK);
    uint64_t blocks = o->size / RAND_BLOCK, rng = o->seed | 1, ops = 0, start, limit_ns;
    int fd, err;

    drop_caches(o);
    fd = open_data(o, path);
    err = posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    if (err != 0)
        die("posix_fadvise(RANDOM) %s: %s", path, strerror(err));
    limit_ns = (uint64_t)(o->rand_seconds * 1e9);
    start = cn_now_ns();
    for (;;) {
        uint64_t off = (rng_next(&rng) % blocks) * RAND_BLOCK;
        ssize_t n;

        if (o->rand_ops ? ops >= o->rand_ops : (ops % 16 == 0 && cn_now_ns() - start >= limit_ns))
            break;
        do
            n = pread(fd, buf, RAND_BLOCK, (off_t)off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            die("pread %s at offset %" PRIu64 ": %s", path, off, strerror(errno));
        if (n != (ssize_t)RAND_BLOCK)
            die("pread %s at offset %" PRIu64 ": %zd bytes instead of %u", path, off, n,
                RAND_BLOCK);
        pattern_check(buf, RAND_BLOCK, off, o->seed, path, "randread", o->size);
        ops++;
    }
    r->seconds = seconds_since(start);
    if (close(fd) != 0)
        die("close %s after random reads: %s", path, strerror(errno));
    r->ops = ops;
    r->bytes = ops * RAND_BLOCK;
    r->value = (double)ops / r->seconds;
    free(buf);
}

/* Writes the path of file number `i` of the metadata phases into `buf`. */
static void file_path(char *buf, size_t len, const char *dir, unsigned i)
{
    int n = snprintf(buf, len, "%s/" FILES_DIR "/f%06u", dir, i);

    if (n < 0 || (size_t)n >= len)
        die("path of file %u under %s is too long", i, dir);
}

static void run_files(const struct opts *o, enum phase ph, struct result *r)
{
    char path[4096];
    uint64_t start;
    unsigned i;

    if (ph == PH_STAT)
        drop_caches(o);
    start = cn_now_ns();
    for (i = 0; i < o->files; i++) {
        file_path(path, sizeof(path), o->dir, i);
        if (ph == PH_CREATE) {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0)
                die("create %s (file %u of %u): %s", path, i + 1, o->files, strerror(errno));
            if (close(fd) != 0)
                die("close %s after create: %s", path, strerror(errno));
        } else if (ph == PH_STAT) {
            struct stat st;
            if (stat(path, &st) != 0)
                die("stat %s (file %u of %u): %s%s", path, i + 1, o->files, strerror(errno),
                    errno == ENOENT ? " (run the create phase first)" : "");
            if (!S_ISREG(st.st_mode) || st.st_size != 0)
                die("stat %s: mode %o size %lld, expected an empty regular file", path,
                    (unsigned)st.st_mode, (long long)st.st_size);
        } else {
            if (unlink(path) != 0)
                die("unlink %s (file %u of %u): %s", path, i + 1, o->files, strerror(errno));
        }
    }
    r->seconds = seconds_since(start);
    r->ops = o->files;
    r->bytes = 0;
    r->value = (double)o->files / r->seconds;
}

/* Removes what a run left behind, untimed, unless --keep. */
static void cleanup(const struct opts *o, const char *data_path, const char *files_dir)
{
    char path[4096];
    struct stat st;

    if (o->keep)
        return;
    if (unlink(data_path) != 0 && errno != ENOENT)
        die("removing %s: %s", data_path, strerror(errno));
    if (stat(files_dir, &st) != 0) {
        if (errno == ENOENT)
            return;
        die("stat %s: %s", files_dir, strerror(errno));
    }
    for (unsigned i = 0; i < o->files; i++) {
        file_path(path, sizeof(path), o->dir, i);
        if (unlink(path) != 0 && errno != ENOENT)
            die("removing %s: %s", path, strerror(errno));
    }
    if (rmdir(files_dir) != 0)
        die("removing %s: %s (files other than fsbench's are in it?)", files_dir, strerror(errno));
}

/* Parses "2G", "256MiB", "1048576" into bytes; binary multiples. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    default:
        break;
    }
    if (shift && strcmp(end, "iB") == 0)
        end += 2;
    else if (shift && strcmp(end, "B") == 0)
        end += 1;
    if (*end != '\0' || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_phases(const char *s, unsigned *out)
{
    char buf[256];
    char *p, *save = NULL;
    int n = snprintf(buf, sizeof(buf), "%s", s);

    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    *out = 0;
    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < PH_COUNT; i++) {
            if (strcmp(p, phase_names[i]) == 0) {
                *out |= 1u << i;
                found = 1;
            }
        }
        if (!found)
            return -1;
    }
    return *out ? 0 : -1;
}

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [options] DIR\n"
            "Runs file system workloads inside DIR (e.g. a mount point) and prints\n"
            "one figure per phase; MB = 10^6 bytes.\n"
            "  --phases LIST      comma-separated subset of\n"
            "                     seqwrite,seqread,randread,create,stat,unlink (default: all)\n"
            "  --size SIZE        data file size, a multiple of 1 MiB (default 2G; K/M/G/T)\n"
            "  --rand-ops N       randread: exactly N 4 KiB reads (default: time-based)\n"
            "  --rand-seconds S   randread: read for S seconds (default 10)\n"
            "  --files N          create/stat/unlink: N empty files (default 10000)\n"
            "  --seed N           data pattern and random offsets (default 1)\n"
            "  --no-drop-caches   do not drop the page cache before read phases and stat\n"
            "                     (dropping needs root)\n"
            "  --keep             leave " DATA_NAME " and " FILES_DIR "/ in DIR\n"
            "  --json             print one JSON array instead of a table\n",
            argv0);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_SIZE = 256, O_RAND_OPS, O_RAND_SEC, O_FILES, O_SEED, O_PHASES, O_NODROP, O_KEEP };
    static const struct option longopts[] = {
        {"size", required_argument, NULL, O_SIZE},
        {"rand-ops", required_argument, NULL, O_RAND_OPS},
        {"rand-seconds", required_argument, NULL, O_RAND_SEC},
        {"files", required_argument, NULL, O_FILES},
        {"seed", required_argument, NULL, O_SEED},
        {"phases", required_argument, NULL, O_PHASES},
        {"no-drop-caches", no_argument, NULL, O_NODROP},
        {"keep", no_argument, NULL, O_KEEP},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct opts){
        .size = 2ull << 30,
        .rand_seconds = 10.0,
        .files = 10000,
        .seed = 1,
        .phases = (1u << PH_COUNT) - 1,
        .drop_caches = 1,
    };
    while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
        char *end;

        switch (c) {
        case O_SIZE:
            if (parse_size(optarg, &o->size) != 0 || o->size == 0 || o->size % SEQ_BLOCK != 0)
                die("--size %s: want a positive multiple of 1 MiB, e.g. 2G or 256M", optarg);
            break;
        case O_RAND_OPS:
            errno = 0;
            o->rand_ops = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || o->rand_ops == 0)
                die("--rand-ops %s: want a positive count", optarg);
            break;
        case O_RAND_SEC:
            errno = 0;
            o->rand_seconds = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || end == optarg || !(o->rand_seconds > 0))
                die("--rand-seconds %s: want a positive number of seconds", optarg);
            break;
        case O_FILES: {
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || v == 0 || v > 999999)
                die("--files %s: want 1..999999", optarg);
            o->files = (unsigned)v;
            break;
        }
        case O_SEED:
            errno = 0;
            o->seed = strtoull(optarg, &end, 0);
            if (errno != 0 || *end != '\0' || end == optarg)
                die("--seed %s: want an integer", optarg);
            break;
        case O_PHASES:
            if (parse_phases(optarg, &o->phases) != 0)
                die("--phases %s: want a comma-separated subset of "
                    "seqwrite,seqread,randread,create,stat,unlink",
                    optarg);
            break;
        case O_NODROP:
            o->drop_caches = 0;
            break;
        case O_KEEP:
            o->keep = 1;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'h':
            usage(stdout, argv[0]);
            exit(0);
        default:
            usage(stderr, argv[0]);
            exit(2);
        }
    }
    if (optind != argc - 1) {
        usage(stderr, argv[0]);
        exit(2);
    }
    o->dir = argv[optind];
}

static void print_json(const struct opts *o, const struct result *res)
{
    json_t *arr = json_array();

    if (!arr)
        die("out of memory building the JSON output");
    for (int i = 0; i < PH_COUNT; i++) {
        json_t *obj;

        if (!res[i].ran)
            continue;
        obj = json_pack("{s:s, s:f, s:s, s:f, s:I, s:I, s:I, s:I}", "phase", phase_names[i],
                        "value", res[i].value, "unit", phase_units[i], "seconds", res[i].seconds,
                        "ops", (json_int_t)res[i].ops, "bytes", (json_int_t)res[i].bytes, "size",
                        (json_int_t)o->size, "files", (json_int_t)o->files);
        if (!obj || json_array_append_new(arr, obj) != 0)
            die("out of memory building the JSON output");
    }
    if (json_dumpf(arr, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) != 0)
        die("writing the JSON output: %s", strerror(errno));
    json_decref(arr);
    putchar('\n');
}

static void print_table(const struct opts *o, const struct result *res)
{
    printf("fsbench in %s: file %" PRIu64 " MiB, %u files, seed %" PRIu64 "%s\n", o->dir,
           o->size >> 20, o->files, o->seed, o->drop_caches ? "" : ", caches NOT dropped");
    printf("%-9s %12s %-6s %9s %10s\n", "phase", "result", "unit", "seconds", "ops");
    for (int i = 0; i < PH_COUNT; i++) {
        if (!res[i].ran)
            continue;
        printf("%-9s %12.1f %-6s %9.3f %10" PRIu64 "\n", phase_names[i], res[i].value,
               phase_units[i], res[i].seconds, res[i].ops);
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    struct result res[PH_COUNT] = {{0}};
    char data_path[4096], files_dir[4096];
    struct stat st;
    int n;

    parse_args(argc, argv, &o);
    if (stat(o.dir, &st) != 0)
        die("%s: %s", o.dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        die("%s: not a directory", o.dir);
    n = snprintf(data_path, sizeof(data_path), "%s/" DATA_NAME, o.dir);
    if (n < 0 || (size_t)n >= sizeof(data_path))
        die("%s: path too long", o.dir);
    n = snprintf(files_dir, sizeof(files_dir), "%s/" FILES_DIR, o.dir);
    if (n < 0 || (size_t)n >= sizeof(files_dir))
        die("%s: path too long", o.dir);
    if (o.size < RAND_BLOCK)
        die("--size must be at least %u bytes", RAND_BLOCK);

    if (o.phases & (1u << PH_SEQWRITE))
        run_seqwrite(&o, data_path, &res[PH_SEQWRITE]);
    if (o.phases & (1u << PH_SEQREAD))
        run_seqread(&o, data_path, &res[PH_SEQREAD]);
    if (o.phases & (1u << PH_RANDREAD))
        run_randread(&o, data_path, &res[PH_RANDREAD]);
    if (o.phases & (1u << PH_CREATE)) {
        if (mkdir(files_dir, 0755) != 0 && errno != EEXIST)
            die("mkdir %s: %s", files_dir, strerror(errno));
        run_files(&o, PH_CREATE, &res[PH_CREATE]);
    }
    if (o.phases & (1u << PH_STAT))
        run_files(&o, PH_STAT, &res[PH_STAT]);
    if (o.phases & (1u << PH_UNLINK))
        run_files(&o, PH_UNLINK, &res[PH_UNLINK]);
    for (int i = 0; i < PH_COUNT; i++)
        res[i].ran = (o.phases >> i) & 1;
    cleanup(&o, data_path, files_dir);

    if (o.json)
        print_json(&o, res);
    else
        print_table(&o, res);
    if (fflush(stdout) != 0 || ferror(stdout))
        die("writing the results to stdout: %s", strerror(errno));
    return 0;
}
