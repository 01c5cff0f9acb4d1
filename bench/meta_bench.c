/*
 * meta_bench.c - metadata load through libcairn: create empty files, stat
 * them in random order, and probe how long a client waits across a master
 * promotion (bench/RESULTS.md "Metadata at 1 M and 10 M files (issue 8)").
 *
 * usage: meta_bench create -m HOST:PORT --from A --to B [options]
 *        meta_bench stat   -m HOST:PORT --count N [--sample K] [--seed S] [options]
 *        meta_bench probe  -m HOST:PORT
 * options: --dirs D (default 1000) --threads T (default 64) --conns C
 *          (default 1) --json
 *
 * The tree: /mb/dNNN (D directories), file number i is /mb/d<i mod D>/f<i>.
 * create makes the missing directories, then files [A, B) with lc_mknod
 * (S_IFREG, no open handle: nothing enters the master's open table); stat
 * looks up files [0, N) in a seeded random permutation, or only its first K
 * (--sample: K distinct files drawn at random from all N). bench/meta_bench.sh
 * runs them on a cairn-local cluster and samples RSS, disk and metalogger lag
 * between the phases.
 *
 * Decisions a reader must know:
 *  1. Many requests in flight. The master fsyncs once per loop turn and puts
 *     every request of that turn in the same commit, so one caller waiting for
 *     each reply measures fsync latency, not the metadata path. T threads
 *     share C libcairn handles (the library is thread-safe, one I/O thread per
 *     handle); thread t owns directories d with d mod T == t, so no two
 *     threads insert into one directory at once.
 *  2. The results are checked and the program fails (exit 1) on any
 *     mismatch: every create returns a new regular file of size 0, the
 *     master's inode count (statfs) grows by exactly the files and
 *     directories made, and every stat finds a regular file, size 0, nlink 1.
 *  3. A stat is lc_lookup(directory inode, name), what stat(2) of a path costs
 *     once the directories are cached by the kernel; the directory inodes are
 *     looked up once before the clock starts.
 *  4. probe opens a client while the master is alive, prints "ready", waits
 *     for a line on stdin (sent after the master was killed, just before the
 *     promotion starts), then repeats one lookup until it succeeds and prints
 *     the wall-clock time of that success, so the script can subtract the
 *     time it started the promotion. The client's own reconnect (backoff up
 *     to 1 s) is part of what is measured, as a mount would see it.
 * Output: human lines on stderr (progress once a second), and with --json one
 * JSON object on stdout.
 */
#include "cn_time.h"
#include "libcairn.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ROOT_INO   1u /* the master's root directory (META_ROOT_INO) */
#define TOP_NAME   "mb"
#define CHUNK      256u /* stat: permutation entries a thread takes at once */
#define WINDOWS    10u  /* create: rate reported per tenth of the range */
#define NAME_BYTES 32

enum mode { MODE_CREATE, MODE_STAT, MODE_PROBE };

struct bench {
    enum mode mode;
    const char *master;
    uint64_t from, to; /* create: file numbers [from, to) */
    uint64_t count;    /* stat: files [0, count) */
    uint64_t sample;   /* stat: how many of them (0: all) */
    uint64_t seed;
    uint32_t dirs, threads, conns;
    int json;

    struct lc **lc;    /* conns handles, owned */
    uint64_t *dir_ino; /* dirs inode numbers, owned */
    uint32_t *perm;    /* stat: the permutation, owned */
    atomic_uint_fast64_t done;
    atomic_uint_fast64_t next; /* stat: next permutation index to hand out */
    atomic_int failed;         /* first failure stops every thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t running; /* worker threads not finished, under mu */
    char err[512];    /* first failure, under mu */
};

struct worker {
    struct bench *b;
    uint32_t id;
};

static const struct lc_cred root_cred = {.uid = 0, .gid = 0};

static void usage(void)
{
    fprintf(stderr,
            "usage: meta_bench create -m HOST:PORT --from A --to B [options]\n"
            "       meta_bench stat   -m HOST:PORT --count N [--sample K] [--seed S] [options]\n"
            "       meta_bench probe  -m HOST:PORT\n"
            "options: --dirs D (1000) --threads T (64) --conns C (1) --json\n");
    exit(2);
}

/* Records the first failure (printf-style) and tells every thread to stop. */
static void fail(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct bench *b, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&b->mu);
    if (!atomic_load(&b->failed)) {
        va_start(ap, fmt);
        vsnprintf(b->err, sizeof(b->err), fmt, ap);
        va_end(ap);
        atomic_store(&b->failed, 1);
    }
    pthread_mutex_unlock(&b->mu);
}

static void file_name(uint64_t i, char *buf)
{
    snprintf(buf, NAME_BYTES, "f%" PRIu64, i);
}

static int check_file(struct bench *b, uint64_t i, const struct cn_attr *a, const char *what)
{
    if (!S_ISREG(a->mode) || a->size != 0 || a->nlink != 1) {
        fail(b,
             "%s of file %" PRIu64 " (ino %" PRIu64 "): mode 0%o size %" PRIu64
             " nlink %u, expected a regular file, size 0, nlink 1",
             what, i, a->ino, a->mode, a->size, a->nlink);
        return -1;
    }
    return 0;
}

/* Finishes one worker: the last one wakes the reporter. */
static void worker_done(struct bench *b)
{
    pthread_mutex_lock(&b->mu);
    b->running--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* create: rounds r of the range; in each, one file in each own directory. */
static void *create_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    struct lc *c = b->lc[w->id % b->conns];
    char name[NAME_BYTES];
    struct cn_attr a;

    for (uint64_t r = b->from / b->dirs; r < b->to / b->dirs; r++) {
        for (uint32_t d = w->id; d < b->dirs; d += b->threads) {
            uint64_t i = r * b->dirs + d;
            if (atomic_load_explicit(&b->failed, memory_order_relaxed))
                goto out;
            file_name(i, name);
            int rc = lc_mknod(c, &root_cred, b->dir_ino[d], name, S_IFREG | 0644, 0, &a);
            if (rc) {
                fail(b, "mknod /%s/d%03u/%s: %s", TOP_NAME, d, name, strerror(-rc));
                goto out;
            }
            if (check_file(b, i, &a, "mknod"))
                goto out;
            atomic_fetch_add_explicit(&b->done, 1, memory_order_relaxed);
        }
    }
out:
    worker_done(b);
    return NULL;
}

static void *stat_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    struct lc *c = b->lc[w->id % b->conns];
    char name[NAME_BYTES];
    struct cn_attr a;

    for (;;) {
        uint64_t k = atomic_fetch_add(&b->next, CHUNK);
        if (k >= b->sample)
            break;
        uint64_t end = k + CHUNK < b->sample ? k + CHUNK : b->sample;
        for (; k < end; k++) {
            uint64_t i = b->perm[k];
            uint32_t d = (uint32_t)(i % b->dirs);
            if (atomic_load_explicit(&b->failed, memory_order_relaxed))
                goto out;
            file_name(i, name);
            int rc = lc_lookup(c, &root_cred, b->dir_ino[d], name, &a);
            if (rc) {
                fail(b, "lookup /%s/d%03u/%s: %s", TOP_NAME, d, name, strerror(-rc));
                goto out;
            }
            if (check_file(b, i, &a, "lookup"))
                goto out;
            atomic_fetch_add_explicit(&b->done, 1, memory_order_relaxed);
        }
    }
out:
    worker_done(b);
    return NULL;
}

/* splitmix64: the permutation's random numbers, reproducible from --seed. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int make_perm(struct bench *b)
{
    uint64_t s = b->seed;
    b->perm = malloc(b->count * sizeof(*b->perm));
    if (!b->perm)
        return -ENOMEM;
    for (uint64_t k = 0; k < b->count; k++)
        b->perm[k] = (uint32_t)k;
    for (uint64_t k = 0; k < b->sample && k + 1 < b->count; k++) { /* Fisher-Yates, first K */
        uint64_t j = k + splitmix(&s) % (b->count - k);
        uint32_t t = b->perm[k];
        b->perm[k] = b->perm[j];
        b->perm[j] = t;
    }
    return 0;
}

/* The directories: made when create finds them missing. Adds the number of
 * directories it made to *made. */
static int setup_dirs(struct bench *b, uint64_t *made)
{
    struct lc *c = b->lc[0];
    struct cn_attr a;
    char name[NAME_BYTES];
    uint64_t top;
    int rc = lc_lookup(c, &root_cred, ROOT_INO, TOP_NAME, &a);
    if (rc == -ENOENT && b->mode == MODE_CREATE) {
        rc = lc_mkdir(c, &root_cred, ROOT_INO, TOP_NAME, 0755, &a);
        if (!rc)
            (*made)++;
    }
    if (rc) {
        fprintf(stderr, "meta_bench: /%s: %s\n", TOP_NAME, strerror(-rc));
        return rc;
    }
    top = a.ino;
    for (uint32_t d = 0; d < b->dirs; d++) {
        snprintf(name, sizeof(name), "d%03u", d);
        rc = lc_lookup(c, &root_cred, top, name, &a);
        if (rc == -ENOENT && b->mode == MODE_CREATE) {
            rc = lc_mkdir(c, &root_cred, top, name, 0755, &a);
            if (!rc)
                (*made)++;
        }
        if (rc) {
            fprintf(stderr, "meta_bench: /%s/%s: %s\n", TOP_NAME, name, strerror(-rc));
            return rc;
        }
        if (!S_ISDIR(a.mode)) {
            fprintf(stderr, "meta_bench: /%s/%s: not a directory (mode 0%o)\n", TOP_NAME, name,
                    a.mode);
            return -ENOTDIR;
        }
        b->dir_ino[d] = a.ino;
    }
    return 0;
}

/* Runs the workers and prints progress once a second until they finish.
 * windows[] (create only) gets the rate of each tenth of the work. */
static double run_workers(struct bench *b, void *(*fn)(void *), uint64_t total, double *windows)
{
    pthread_t *tid = calloc(b->threads, sizeof(*tid));
    struct worker *w = calloc(b->threads, sizeof(*w));
    uint64_t t0 = cn_now_ns(), last_ns = t0, last_done = 0, win_ns = t0;
    uint32_t win = 0, started = 0;

    if (!tid || !w) {
        fail(b, "out of memory for %u threads", b->threads);
        goto out;
    }
    b->running = b->threads;
    for (; started < b->threads; started++) {
        w[started] = (struct worker){b, started};
        int e = pthread_create(&tid[started], NULL, fn, &w[started]);
        if (e) {
            fail(b, "pthread_create: %s", strerror(e));
            pthread_mutex_lock(&b->mu);
            b->running -= b->threads - started;
            pthread_mutex_unlock(&b->mu);
            break;
        }
    }
    pthread_mutex_lock(&b->mu);
    while (b->running) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&b->cv, &b->mu, &until);
        uint64_t now = cn_now_ns(), done = atomic_load(&b->done);
        while (windows && win < WINDOWS && done >= total * (win + 1) / WINDOWS) {
            uint64_t n = total / WINDOWS;
            windows[win++] = n / ((double)(now - win_ns) / 1e9);
            win_ns = now;
        }
        if (now - last_ns >= 1000000000u || !b->running) {
            fprintf(stderr, "meta_bench: %.0f s: %" PRIu64 "/%" PRIu64 ", %.0f/s now\n",
                    (double)(now - t0) / 1e9, done, total,
                    (double)(done - last_done) / ((double)(now - last_ns) / 1e9));
            last_ns = now;
            last_done = done;
        }
    }
    pthread_mutex_unlock(&b->mu);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
out:
    free(tid);
    free(w);
    return (double)(cn_now_ns() - t0) / 1e9;
}

static int files_count(struct bench *b, uint64_t *files)
{
    struct cn_statfs_r s;
    int rc = lc_statfs(b->lc[0], &s);
    if (rc) {
        fprintf(stderr, "meta_bench: statfs: %s\n", strerror(-rc));
        return rc;
    }
    *files = s.files - s.ffree;
    return 0;
}

static int do_create(struct bench *b)
{
    uint64_t made = 0, before, after, n = b->to - b->from;
    double windows[WINDOWS] = {0};
    int rc = files_count(b, &before);
    if (rc)
        return 1;
    if (setup_dirs(b, &made))
        return 1;
    double secs = run_workers(b, create_main, n, windows);
    if (atomic_load(&b->failed)) {
        fprintf(stderr, "meta_bench: create failed: %s\n", b->err);
        return 1;
    }
    if (files_count(b, &after))
        return 1;
    if (after - before != n + made || atomic_load(&b->done) != n) {
        fprintf(stderr,
                "meta_bench: create: %" PRIu64 " calls succeeded and the master's inodes grew by "
                "%" PRIu64 ", expected %" PRIu64 " files + %" PRIu64 " directories\n",
                (uint64_t)atomic_load(&b->done), after - before, n, made);
        return 1;
    }
    fprintf(stderr,
            "meta_bench: created %" PRIu64 " files in %.1f s: %.0f/s (%u threads, %u conns)\n", n,
            secs, n / secs, b->threads, b->conns);
    if (b->json) {
        printf("{\"op\":\"create\",\"from\":%" PRIu64 ",\"to\":%" PRIu64 ",\"files\":%" PRIu64
               ",\"seconds\":%.3f,\"per_s\":%.1f,\"threads\":%u,\"conns\":%u,\"dirs\":%u,"
               "\"inodes\":%" PRIu64 ",\"window_per_s\":[",
               b->from, b->to, n, secs, n / secs, b->threads, b->conns, b->dirs, after);
        for (uint32_t i = 0; i < WINDOWS; i++)
            printf("%s%.1f", i ? "," : "", windows[i]);
        printf("]}\n");
    }
    return 0;
}

static int do_stat(struct bench *b)
{
    uint64_t made = 0;
    if (setup_dirs(b, &made))
        return 1;
    if (make_perm(b)) {
        fprintf(stderr, "meta_bench: out of memory for %" PRIu64 " entries\n", b->count);
        return 1;
    }
    double secs = run_workers(b, stat_main, b->sample, NULL);
    if (atomic_load(&b->failed)) {
        fprintf(stderr, "meta_bench: stat failed: %s\n", b->err);
        return 1;
    }
    if (atomic_load(&b->done) != b->sample) {
        fprintf(stderr, "meta_bench: stat: %" PRIu64 " of %" PRIu64 " files checked\n",
                (uint64_t)atomic_load(&b->done), b->sample);
        return 1;
    }
    fprintf(stderr,
            "meta_bench: stat %" PRIu64 " of %" PRIu64 " files in random order in %.1f s: %.0f/s\n",
            b->sample, b->count, secs, b->sample / secs);
    if (b->json)
        printf("{\"op\":\"stat\",\"files\":%" PRIu64 ",\"of\":%" PRIu64
               ",\"seconds\":%.3f,\"per_s\":%.1f,"
               "\"threads\":%u,\"conns\":%u,\"seed\":%" PRIu64 "}\n",
               b->sample, b->count, secs, b->sample / secs, b->threads, b->conns, b->seed);
    return 0;
}

static int do_probe(struct bench *b)
{
    uint64_t made = 0;
    char line[64], name[NAME_BYTES];
    struct cn_attr a;
    int rc;

    b->dirs = 1; /* file 0 lives in d000 */
    if (setup_dirs(b, &made))
        return 1;
    file_name(0, name);
    rc = lc_lookup(b->lc[0], &root_cred, b->dir_ino[0], name, &a);
    if (rc) {
        fprintf(stderr, "meta_bench: probe: lookup /%s/d000/%s: %s\n", TOP_NAME, name,
                strerror(-rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "meta_bench: probe: stdin closed before the go line\n");
        return 1;
    }
    uint64_t t0 = cn_now_ns(), tries = 0;
    do {
        tries++;
        rc = lc_lookup(b->lc[0], &root_cred, b->dir_ino[0], name, &a);
    } while (rc && cn_now_ns() - t0 < 300ull * 1000000000u);
    if (rc) {
        fprintf(stderr, "meta_bench: probe: no successful lookup within 300 s: %s\n",
                strerror(-rc));
        return 1;
    }
    if (check_file(b, 0, &a, "probe lookup")) {
        fprintf(stderr, "meta_bench: probe: %s\n", b->err);
        return 1;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    printf("{\"op\":\"probe\",\"ok_wall_ns\":%" PRIu64 ",\"waited_s\":%.3f,\"tries\":%" PRIu64
           "}\n",
           (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec,
           (double)(cn_now_ns() - t0) / 1e9, tries);
    return 0;
}

static uint64_t parse_u64(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "meta_bench: %s %s: not a number\n", opt, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"master", required_argument, NULL, 'm'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"dirs", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 'T'},
        {"conns", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"sample", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    struct bench b = {.seed = 1, .dirs = 1000, .threads = 64, .conns = 1};
    char err[256];
    int opt, status = 1;

    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "create"))
        b.mode = MODE_CREATE;
    else if (!strcmp(argv[1], "stat"))
        b.mode = MODE_STAT;
    else if (!strcmp(argv[1], "probe"))
        b.mode = MODE_PROBE;
    else
        usage();
    optind = 2;
    while ((opt = getopt_long(argc, argv, "m:", opts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            b.master = optarg;
            break;
        case 'f':
            b.from = parse_u64("--from", optarg);
            break;
        case 't':
            b.to = parse_u64("--to", optarg);
            break;
        case 'n':
            b.count = parse_u64("--count", optarg);
            break;
        case 's':
            b.seed = parse_u64("--seed", optarg);
            break;
        case 'd':
            b.dirs = (uint32_t)parse_u64("--dirs", optarg);
            break;
        case 'T':
            b.threads = (uint32_t)parse_u64("--threads", optarg);
            break;
        case 'c':
            b.conns = (uint32_t)parse_u64("--conns", optarg);
            break;
        case 'j':
            b.json = 1;
            break;
        case 'k':
            b.sample = parse_u64("--sample", optarg);
            break;
        default:
            usage();
        }
    }
    if (!b.master || optind != argc || !b.dirs || b.dirs > 1000 || !b.threads || b.threads > 1024 ||
        !b.conns || b.conns > b.threads)
        usage();
    if (b.mode == MODE_CREATE &&
        (b.to <= b.from || b.from % b.dirs || b.to % b.dirs || b.to > UINT32_MAX)) {
        fprintf(stderr, "meta_bench: create needs --from < --to, both multiples of --dirs %u\n",
                b.dirs);
        return 2;
    }
    if (b.mode == MODE_STAT && (!b.count || b.count > UINT32_MAX || b.sample > b.count)) {
        fprintf(stderr, "meta_bench: stat needs --count N (1 .. 2^32-1), --sample K <= N\n");
        return 2;
    }
    if (!b.sample)
        b.sample = b.count;
    if (b.mode == MODE_PROBE)
        b.conns = 1;
    if (b.mode == MODE_CREATE && b.threads > b.dirs)
        b.threads = b.dirs; /* a thread owns at least one directory */

    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.lc = calloc(b.conns, sizeof(*b.lc));
    b.dir_ino = calloc(b.dirs, sizeof(*b.dir_ino));
    if (!b.lc || !b.dir_ino) {
        fprintf(stderr, "meta_bench: out of memory\n");
        goto out;
    }
    for (uint32_t i = 0; i < b.conns; i++) {
        struct lc_options o = {.name = "meta_bench",
                               .master_timeout_ms = b.mode == MODE_PROBE ? 300000 : 0};
        int rc = lc_open(b.master, &o, &b.lc[i], err, sizeof(err));
        if (rc) {
            fprintf(stderr, "meta_bench: %s\n", err);
            goto out;
        }
    }
    if (b.mode == MODE_CREATE)
        status = do_create(&b);
    else if (b.mode == MODE_STAT)
        status = do_stat(&b);
    else
        status = do_probe(&b);
out:
    for (uint32_t i = 0; b.lc && i < b.conns; i++)
        if (b.lc[i])
            lc_close(b.lc[i]);
    free(b.lc);
    free(b.dir_ino);
    free(b.perm);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    return status;
}
