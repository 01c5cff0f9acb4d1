/*
 * test_compact_concurrent.c - compaction under concurrent writers and
 * readers loses nothing; a full disk is a clear error and recovers.
 *
 * Concurrency test: a file-backed 20 MiB disk with 1 MiB segments; two
 * writer threads overwrite and delete their own parts (creating dead space),
 * two reader threads read random blocks of all parts, one thread runs
 * ls_compact() in a loop. Each part has a generation counter the writer
 * bumps around every commit/delete (seqlock style): a reader whose part did
 * not change during its read must get exactly the model's bytes or hole; a
 * reader racing a change may get the old or new state, or -ESTALE/-ENOENT,
 * but never an error such as LS_ECORRUPT and never bytes that were not
 * written to that block (payloads are self-describing, faultdev.h). At the
 * end every committed block reads back exactly, compaction freed segments,
 * and a crash image (the file copied while open) and a clean reopen both
 * replay the compaction's MOVE records to the same state.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultdev.h"
#include "logstore.h"

#if defined(__SANITIZE_ADDRESS__)
#define CC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CC_ASAN 1
#endif
#endif
#ifndef CC_ASAN
#define CC_ASAN 0
#endif

#define DISK_BYTES (20ull << 20)
#define SEG_BYTES  (1u << 20)
#define NPARTS     16 /* writer w owns parts w, w+2, ... */
#define NB         8
#define BLK        ((uint64_t)LS_BLOCK_MAX)
#define CHUNK0     0xC0C0000ull

struct blk {
    int present;
    uint64_t version, nonce;
    uint32_t len;
};

struct cpart {
    pthread_mutex_t mu;
    uint64_t gen; /* odd while a commit/delete is in flight */
    int exists;
    uint64_t version;
    struct blk tab[NB];
};

struct shared {
    struct ls *ls;
    struct cpart parts[NPARTS];
    atomic_int writers_left;
    volatile int stop;
    pthread_mutex_t mu; /* with cv: "compaction made progress" / "a writer committed" */
    pthread_cond_t cv;
    uint64_t progress;
    uint64_t seed;
    int iters;
    /* results */
    atomic_ullong reads_strict, reads_racy, enospc_waits, compact_rounds, segs_freed;
    uint64_t min_free; /* lowest free_bytes the compactor saw (compactor thread only) */
    char fail[512];
    atomic_int failed;
};

static char g_dir[64];

static void fail(struct shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct shared *sh, const char *fmt, ...)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&sh->failed, &expected, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->fail, sizeof(sh->fail), fmt, ap);
        va_end(ap);
    }
    sh->stop = 1;
}

static void kick(struct shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    sh->progress++;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* Wait until progress moves past `seen` or timeout_ms passes. */
static void wait_progress(struct shared *sh, uint64_t seen, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)timeout_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&sh->mu);
    while (sh->progress == seen && !sh->stop)
        if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&sh->mu);
}

static uint64_t progress_now(struct shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    uint64_t p = sh->progress;
    pthread_mutex_unlock(&sh->mu);
    return p;
}

/* Is buf a payload some write produced for (chunk, part, block)? */
static int self_consistent(const uint8_t *buf, ssize_t n, uint64_t chunk, uint16_t part,
                           uint32_t block, uint8_t *tmp)
{
    if (n < FD_PHDR)
        return 0;
    uint32_t magic, len, p32, b;
    uint64_t c, version, nonce;
    memcpy(&magic, buf, 4);
    memcpy(&len, buf + 4, 4);
    memcpy(&c, buf + 8, 8);
    memcpy(&p32, buf + 16, 4);
    memcpy(&b, buf + 20, 4);
    memcpy(&version, buf + 24, 8);
    memcpy(&nonce, buf + 32, 8);
    if (magic != FD_PMAGIC || len != (uint32_t)n || c != chunk || p32 != part || b != block)
        return 0;
    fd_fill_payload(tmp, chunk, part, version, block, nonce, len);
    return memcmp(tmp, buf, len) == 0;
}

/* ---- writers ------------------------------------------------------------ */

struct wctx {
    struct shared *sh;
    int id;
};

static int write_retry(struct shared *sh, struct ls_write *w, size_t n)
{
    for (int tries = 0;; tries++) {
        uint64_t seen = progress_now(sh);
        int rc = ls_writev(sh->ls, w, n);
        if (rc != -ENOSPC || sh->stop)
            return rc;
        if (tries > 2000)
            return rc;
        atomic_fetch_add(&sh->enospc_waits, 1);
        wait_progress(sh, seen, 50); /* the compaction thread frees space */
    }
}

static void *writer(void *arg)
{
    struct wctx *wc = arg;
    struct shared *sh = wc->sh;
    uint64_t rng = sh->seed ^ (0x1000ull * (uint64_t)(wc->id + 1));
    uint8_t *bufs[NB];
    for (int i = 0; i < NB; i++)
        bufs[i] = malloc(LS_BLOCK_MAX);
    uint64_t nonce = ((uint64_t)wc->id + 1) << 40;
    for (int it = 0; it < sh->iters && !sh->stop; it++) {
        int pi = wc->id + 2 * (int)fd_below(&rng, NPARTS / 2);
        struct cpart *cp = &sh->parts[pi];
        uint64_t chunk = CHUNK0 + (uint64_t)pi;
        /* Only this writer changes this part: reading its fields needs no lock. */
        uint64_t r = fd_below(&rng, 100);
        if (r < 12 && cp->exists) {
            pthread_mutex_lock(&cp->mu);
            cp->gen++;
            pthread_mutex_unlock(&cp->mu);
            int rc = ls_delete(sh->ls, chunk, 0, cp->version);
            if (rc) {
                fail(sh, "writer %d: ls_delete part %d: %d (%s)", wc->id, pi, rc, ls_strerror(rc));
                break;
            }
            pthread_mutex_lock(&cp->mu);
            cp->exists = 0;
            memset(cp->tab, 0, sizeof(cp->tab));
            cp->gen++;
            pthread_mutex_unlock(&cp->mu);
            kick(sh);
            continue;
        }
        uint64_t v = (cp->exists ? cp->version : 0) + 1 + fd_below(&rng, 3);
        if (v <= cp->version)
            v = cp->version + 1;
        /* A new version: some blocks (all of them a fifth of the time), then commit. */
        struct ls_write w[NB + 1];
        struct blk nb[NB];
        memset(w, 0, sizeof(w));
        memset(nb, 0, sizeof(nb));
        int n = 0;
        int all = fd_below(&rng, 5) == 0 || !cp->exists;
        for (uint32_t b = 0; b < NB; b++) {
            if (!all && fd_below(&rng, 3) != 0)
                continue;
            uint32_t len = FD_PHDR + (uint32_t)fd_below(&rng, LS_BLOCK_MAX - FD_PHDR + 1);
            nb[b] = (struct blk){1, v, ++nonce, len};
            fd_fill_payload(bufs[n], chunk, 0, v, b, nonce, len);
            w[n] = (struct ls_write){.type = LS_REC_BLOCK,
                                     .chunk = chunk,
                                     .part = 0,
                                     .version = v,
                                     .block = b,
                                     .data = bufs[n],
                                     .len = len};
            n++;
        }
        /* Split: blocks in one batch, the commit on its own (a separate group). */
        int rc = n ? write_retry(sh, w, (size_t)n) : 0;
        if (rc) {
            fail(sh, "writer %d: ls_writev of %d blocks, part %d v%" PRIu64 ": %d (%s)", wc->id, n,
                 pi, v, rc, ls_strerror(rc));
            break;
        }
        pthread_mutex_lock(&cp->mu);
        cp->gen++;
        pthread_mutex_unlock(&cp->mu);
        struct ls_write c = {
            .type = LS_REC_COMMIT, .chunk = chunk, .part = 0, .version = v, .size = NB * BLK};
        rc = write_retry(sh, &c, 1);
        if (rc) {
            fail(sh, "writer %d: commit part %d v%" PRIu64 ": %d (%s)", wc->id, pi, v, rc,
                 ls_strerror(rc));
            break;
        }
        pthread_mutex_lock(&cp->mu);
        if (!cp->exists)
            memset(cp->tab, 0, sizeof(cp->tab));
        for (int b = 0; b < NB; b++)
            if (nb[b].present)
                cp->tab[b] = nb[b];
        cp->exists = 1;
        cp->version = v;
        cp->gen++;
        pthread_mutex_unlock(&cp->mu);
        kick(sh);
    }
    for (int i = 0; i < NB; i++)
        free(bufs[i]);
    atomic_fetch_sub(&sh->writers_left, 1);
    kick(sh);
    return NULL;
}

/* ---- readers ------------------------------------------------------------ */

static void *reader(void *arg)
{
    struct wctx *rc_ = arg;
    struct shared *sh = rc_->sh;
    uint64_t rng = sh->seed ^ (0xABCDull * (uint64_t)(rc_->id + 7));
    uint8_t *buf = malloc(LS_BLOCK_MAX), *exp = malloc(LS_BLOCK_MAX);
    while (atomic_load(&sh->writers_left) > 0 && !sh->stop) {
        int pi = (int)fd_below(&rng, NPARTS);
        uint32_t b = (uint32_t)fd_below(&rng, NB);
        struct cpart *cp = &sh->parts[pi];
        uint64_t chunk = CHUNK0 + (uint64_t)pi;
        pthread_mutex_lock(&cp->mu);
        uint64_t g1 = cp->gen;
        int exists = cp->exists;
        uint64_t version = cp->version;
        struct blk x = cp->tab[b];
        pthread_mutex_unlock(&cp->mu);
        uint64_t rv = exists && fd_below(&rng, 2) ? version : 0;
        ssize_t n = ls_read(sh->ls, chunk, 0, rv, b, buf, LS_BLOCK_MAX);
        pthread_mutex_lock(&cp->mu);
        uint64_t g2 = cp->gen;
        pthread_mutex_unlock(&cp->mu);
        if (g1 == g2 && !(g1 & 1)) {
            atomic_fetch_add(&sh->reads_strict, 1);
            char d[200] = "";
            if (n > 0)
                fd_describe_payload(buf, n, d, sizeof(d));
            if (exists && x.present) {
                fd_fill_payload(exp, chunk, 0, x.version, b, x.nonce, x.len);
                if (n != (ssize_t)x.len || memcmp(buf, exp, x.len) != 0) {
                    fail(sh,
                         "reader %d: part %d block %u (read version %" PRIu64
                         "): expected %u bytes of v%" PRIu64 " nonce %" PRIu64 ", got %zd (%s) %s",
                         rc_->id, pi, b, rv, x.len, x.version, x.nonce, n,
                         n < 0 ? ls_strerror((int)n) : "", d);
                    break;
                }
            } else if (n != (exists ? -ENODATA : -ENOENT)) {
                fail(sh, "reader %d: part %d block %u: expected %s, got %zd (%s) %s", rc_->id, pi,
                     b, exists ? "-ENODATA" : "-ENOENT", n, n < 0 ? ls_strerror((int)n) : "", d);
                break;
            }
        } else {
            /* Raced a commit/delete: old or new state, never an error or foreign bytes. */
            atomic_fetch_add(&sh->reads_racy, 1);
            if (n >= 0 ? !self_consistent(buf, n, chunk, 0, b, exp)
                       : (n != -ESTALE && n != -ENOENT && n != -ENODATA)) {
                char d[200] = "";
                if (n > 0)
                    fd_describe_payload(buf, n, d, sizeof(d));
                fail(sh, "reader %d (racing a commit): part %d block %u: got %zd (%s) %s", rc_->id,
                     pi, b, n, n < 0 ? ls_strerror((int)n) : "", d);
                break;
            }
        }
    }
    free(buf);
    free(exp);
    return NULL;
}

/* ---- compactor ---------------------------------------------------------- */

static void *compactor(void *arg)
{
    struct shared *sh = arg;
    while (atomic_load(&sh->writers_left) > 0 && !sh->stop) {
        uint64_t seen = progress_now(sh);
        struct ls_stats st;
        if (ls_stats(sh->ls, &st) == 0 && st.free_bytes < sh->min_free)
            sh->min_free = st.free_bytes;
        struct ls_compact_opts co = {0};
        co.max_segments = 4;
        co.stop = &sh->stop;
        struct ls_compact_result res = {0};
        int rc = ls_compact(sh->ls, &co, &res);
        if (rc) {
            fail(sh, "ls_compact: %d (%s)", rc, ls_strerror(rc));
            break;
        }
        if (res.corrupt_skipped) {
            fail(sh, "ls_compact skipped %u corrupt blocks on a healthy disk", res.corrupt_skipped);
            break;
        }
        atomic_fetch_add(&sh->compact_rounds, 1);
        atomic_fetch_add(&sh->segs_freed, res.segments_freed);
        if (res.segments_freed)
            kick(sh);
        else
            wait_progress(sh, seen, 20); /* nothing to do until writers make dead space */
    }
    return NULL;
}

/* ---- final checks --------------------------------------------------------- */

static int count_cb(const struct ls_part_info *pi, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void check_all(struct ls *ls, struct shared *sh, const char *when)
{
    uint8_t *buf = malloc(LS_BLOCK_MAX), *exp = malloc(LS_BLOCK_MAX);
    int want = 0;
    for (int pi = 0; pi < NPARTS; pi++) {
        struct cpart *cp = &sh->parts[pi];
        uint64_t chunk = CHUNK0 + (uint64_t)pi;
        want += cp->exists;
        struct ls_part_info info;
        int rc = ls_part_stat(ls, chunk, 0, &info);
        if (!cp->exists) {
            cr_assert_eq(rc, -ENOENT, "%s: deleted part %d: ls_part_stat %d", when, pi, rc);
            continue;
        }
        cr_assert(rc == 0 && info.committed && info.version == cp->version,
                  "%s: part %d: want committed v%" PRIu64 ", got rc %d committed %d v%" PRIu64,
                  when, pi, cp->version, rc, rc ? 0 : info.committed, rc ? 0 : info.version);
        for (uint32_t b = 0; b < NB; b++) {
            ssize_t n = ls_read(ls, chunk, 0, 0, b, buf, LS_BLOCK_MAX);
            const struct blk *x = &cp->tab[b];
            char d[200] = "";
            if (n > 0)
                fd_describe_payload(buf, n, d, sizeof(d));
            if (!x->present) {
                cr_assert_eq(n, -ENODATA, "%s: part %d block %u: want a hole, got %zd %s", when, pi,
                             b, n, d);
                continue;
            }
            fd_fill_payload(exp, chunk, 0, x->version, b, x->nonce, x->len);
            cr_assert(n == (ssize_t)x->len && memcmp(buf, exp, x->len) == 0,
                      "%s: part %d block %u: expected %u bytes of v%" PRIu64 " nonce %" PRIu64
                      ", got %zd (%s) %s",
                      when, pi, b, x->len, x->version, x->nonce, n,
                      n < 0 ? ls_strerror((int)n) : "", d);
        }
    }
    int listed = 0;
    cr_assert_geq(ls_list_parts(ls, count_cb, &listed), 0);
    cr_assert_eq(listed, want, "%s: %d parts listed, %d expected", when, listed, want);
    free(buf);
    free(exp);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void cc_fini(void)
{
    if (g_dir[0])
        nftw(g_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(in >= 0 && out >= 0, "copy %s: %s", from, strerror(errno));
    uint8_t *b = malloc(1 << 20);
    ssize_t n;
    while ((n = read(in, b, 1 << 20)) > 0)
        cr_assert_eq(write(out, b, (size_t)n), n);
    free(b);
    close(in);
    close(out);
}

/* Compaction under 2 writers, 2 readers and itself loses nothing and serves nothing wrong. */
Test(compact, concurrent_writers_readers, .fini = cc_fini)
{
    struct shared *sh = calloc(1, sizeof(*sh));
    sh->seed = fd_test_seed("compact.concurrent_writers_readers");
    sh->iters = CC_ASAN ? 200 : 400;
    snprintf(g_dir, sizeof(g_dir), "/tmp/cairn-compact-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    char path[128], copy[128], err[256];
    snprintf(path, sizeof(path), "%s/disk", g_dir);
    snprintf(copy, sizeof(copy), "%s/crash", g_dir);
    struct ls_format_opts fo = {.size = DISK_BYTES, .segment_bytes = SEG_BYTES};
    int rc = ls_format(path, &fo, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_format: %d (%s): %s", rc, ls_strerror(rc), err);
    struct ls_open_opts oo = {.checkpoint_bytes = 4u << 20};
    rc = ls_open(path, &oo, &sh->ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_open: %d (%s): %s", rc, ls_strerror(rc), err);
    for (int i = 0; i < NPARTS; i++)
        pthread_mutex_init(&sh->parts[i].mu, NULL);
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    atomic_store(&sh->writers_left, 2);
    sh->min_free = UINT64_MAX;

    double t0 = fd_now_ms();
    pthread_t tw[2], tr[2], tc;
    struct wctx wc[2] = {{sh, 0}, {sh, 1}}, rcx[2] = {{sh, 0}, {sh, 1}};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_create(&tw[i], NULL, writer, &wc[i]), 0);
        cr_assert_eq(pthread_create(&tr[i], NULL, reader, &rcx[i]), 0);
    }
    cr_assert_eq(pthread_create(&tc, NULL, compactor, sh), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(tw[i], NULL);
        pthread_join(tr[i], NULL);
    }
    pthread_join(tc, NULL);
    cr_assert(!atomic_load(&sh->failed), "%s", sh->fail);

    struct ls_stats before, after;
    cr_assert_eq(ls_stats(sh->ls, &before), 0);
    fprintf(stderr,
            "compact.concurrent: %.1f s, %llu strict reads, %llu racing reads, %llu compactions "
            "freeing %llu segments, %llu ENOSPC waits, dead %" PRIu64 " KiB, free segs %u, "
            "appended %" PRIu64 " MiB, lowest free %" PRIu64 " MiB\n",
            (fd_now_ms() - t0) / 1000, (unsigned long long)sh->reads_strict,
            (unsigned long long)sh->reads_racy, (unsigned long long)sh->compact_rounds,
            (unsigned long long)sh->segs_freed, (unsigned long long)sh->enospc_waits,
            before.dead_bytes >> 10, before.free_segments, before.appended_bytes >> 20,
            sh->min_free >> 20);
    cr_assert_gt(sh->segs_freed, 0, "compaction freed no segment while writers ran");
    cr_assert_gt(before.compacted_bytes, 0, "compaction moved nothing");
    cr_assert_gt(sh->reads_strict, 100, "readers barely ran (%llu strict reads)",
                 (unsigned long long)sh->reads_strict);
    check_all(sh->ls, sh, "after the run");

    /* Compaction had to reclaim space: far more was appended than the disk holds. */
    uint64_t usable = (uint64_t)before.nsegments * SEG_BYTES;
    cr_assert_gt(before.appended_bytes, usable,
                 "only %" PRIu64 " bytes appended, disk has %" PRIu64 ": no reclaim was needed",
                 before.appended_bytes, usable);
    /* A final compaction; free space is above the run's low point. */
    struct ls_compact_opts co = {.max_live_ratio = 0.95};
    struct ls_compact_result res;
    cr_assert_eq(ls_compact(sh->ls, &co, &res), 0);
    cr_assert_eq(ls_stats(sh->ls, &after), 0);
    cr_assert_gt(after.free_bytes, sh->min_free,
                 "free bytes %" PRIu64 " did not grow from the low point %" PRIu64,
                 after.free_bytes, sh->min_free);
    cr_assert_leq(after.dead_bytes, before.dead_bytes, "dead bytes grew: %" PRIu64 " -> %" PRIu64,
                  before.dead_bytes, after.dead_bytes);
    check_all(sh->ls, sh, "after the final compaction");

    /* Crash image (everything acknowledged is durable) and a clean reopen. */
    copy_file(path, copy);
    cr_assert_eq(ls_close(sh->ls), 0);
    struct ls *ls;
    rc = ls_open(copy, &oo, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "open crash copy: %d (%s): %s", rc, ls_strerror(rc), err);
    check_all(ls, sh, "crash copy");
    cr_assert_eq(ls_close(ls), 0);
    rc = ls_open(path, &oo, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "reopen: %d (%s): %s", rc, ls_strerror(rc), err);
    check_all(ls, sh, "clean reopen");
    cr_assert_eq(ls_close(ls), 0);
    free(sh);
}

/* ---- full disk ------------------------------------------------------------ */

/* A full disk is a clean -ENOSPC; data stays readable; deletes + compaction make space again. */
Test(compact, enospc_then_recover)
{
    uint64_t rng = fd_test_seed("compact.enospc_then_recover");
    struct ls_dev *dev;
    char err[256];
    const uint64_t size = 24ull << 20;
    cr_assert_eq(ls_dev_open_mem(size, NULL, 0, &dev), 0);
    struct ls_format_opts fo = {.segment_bytes = SEG_BYTES};
    cr_assert_eq(ls_format_dev(dev, &fo, err, sizeof(err)), 0, "%s", err);
    struct ls *ls;
    struct ls_open_opts oo = {0};
    cr_assert_eq(ls_open_dev(dev, &oo, &ls, err, sizeof(err)), 0, "%s", err);

    struct shared *sh = calloc(1, sizeof(*sh)); /* only parts[] as the model */
    enum { MAXP = 512 };
    struct big {
        int exists;
        uint64_t nonce[4];
        uint32_t len[4];
    } *parts = calloc(MAXP, sizeof(*parts));
    uint8_t *buf = malloc(LS_BLOCK_MAX), *exp = malloc(LS_BLOCK_MAX);
    uint64_t nonce = 1;
    int np = 0, rc = 0;
    /* Fill: parts of 4 blocks of ~64 KiB, each committed. */
    for (; np < MAXP; np++) {
        struct big *p = &parts[np];
        for (int b = 0; b < 4 && rc == 0; b++) {
            p->nonce[b] = nonce++;
            p->len[b] = LS_BLOCK_MAX - (uint32_t)fd_below(&rng, 4096);
            fd_fill_payload(buf, 1000 + (uint64_t)np, 0, 1, (uint32_t)b, p->nonce[b], p->len[b]);
            rc = ls_append(ls, 1000 + (uint64_t)np, 0, 1, (uint32_t)b, buf, p->len[b]);
        }
        if (rc)
            break;
        rc = ls_commit(ls, 1000 + (uint64_t)np, 0, 1, 4 * BLK);
        cr_assert_eq(rc, 0, "commit %d: %d (%s)", np, rc, ls_strerror(rc));
        p->exists = 1;
    }
    cr_assert_eq(rc, -ENOSPC, "filling the disk ended with %d (%s), want -ENOSPC", rc,
                 ls_strerror(rc));
    cr_assert_gt(np, 10);
    struct ls_stats st;
    cr_assert_eq(ls_stats(ls, &st), 0);
    cr_assert_eq(st.broken, 0, "ENOSPC made the store broken");
    /* Still full: another append fails the same way, no damage. */
    fd_fill_payload(buf, 999, 0, 1, 0, 1, LS_BLOCK_MAX);
    rc = ls_append(ls, 999, 0, 1, 0, buf, LS_BLOCK_MAX);
    cr_assert_eq(rc, -ENOSPC, "a 64 KiB append on the full disk: %d (%s)", rc, ls_strerror(rc));

    /* Everything committed reads back. */
    for (int i = 0; i < np; i++)
        for (uint32_t b = 0; b < 4; b++) {
            ssize_t n = ls_read(ls, 1000 + (uint64_t)i, 0, 0, b, buf, LS_BLOCK_MAX);
            fd_fill_payload(exp, 1000 + (uint64_t)i, 0, 1, b, parts[i].nonce[b], parts[i].len[b]);
            cr_assert(n == parts[i].len[b] && memcmp(buf, exp, (size_t)n) == 0,
                      "full disk: part %d block %u: got %zd (%s)", i, b, n,
                      n < 0 ? ls_strerror((int)n) : "data");
        }

    /* Delete every other part (deletes may use the reserve), compact, write again. */
    for (int i = 0; i < np; i += 2) {
        rc = ls_delete(ls, 1000 + (uint64_t)i, 0, 1);
        cr_assert_eq(rc, 0, "delete on a full disk: part %d: %d (%s)", i, rc, ls_strerror(rc));
        parts[i].exists = 0;
    }
    struct ls_stats s0, s1;
    cr_assert_eq(ls_stats(ls, &s0), 0);
    struct ls_compact_opts co = {0};
    struct ls_compact_result res;
    rc = ls_compact(ls, &co, &res);
    cr_assert_eq(rc, 0, "compaction of a full disk: %d (%s)", rc, ls_strerror(rc));
    cr_assert_eq(ls_stats(ls, &s1), 0);
    cr_assert_gt(s1.free_bytes, s0.free_bytes,
                 "compaction freed nothing: free %" PRIu64 " -> %" PRIu64 ", %u segments freed",
                 s0.free_bytes, s1.free_bytes, res.segments_freed);
    int again = 0;
    for (int i = 0; i < np / 4; i++) {
        int k = np + 1 + i;
        if (k >= MAXP)
            break;
        struct big *p = &parts[k];
        for (uint32_t b = 0; b < 4; b++) {
            p->nonce[b] = nonce++;
            p->len[b] = 30000;
            fd_fill_payload(buf, 1000 + (uint64_t)k, 0, 1, b, p->nonce[b], p->len[b]);
            rc = ls_append(ls, 1000 + (uint64_t)k, 0, 1, b, buf, p->len[b]);
            cr_assert_eq(rc, 0, "append after deletes + compaction: part %d: %d (%s)", k, rc,
                         ls_strerror(rc));
        }
        cr_assert_eq(ls_commit(ls, 1000 + (uint64_t)k, 0, 1, 4 * BLK), 0);
        p->exists = 1;
        again++;
    }
    cr_assert_gt(again, 0);
    /* Reopen (crash image) and check every part. */
    struct ls_dev *img;
    cr_assert_eq(ls_dev_open_mem(size, ls_dev_mem_data(dev), size, &img), 0);
    cr_assert_eq(ls_close(ls), 0);
    cr_assert_eq(ls_open_dev(img, &oo, &ls, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < np + 1 + again; i++)
        for (uint32_t b = 0; b < 4; b++) {
            ssize_t n = ls_read(ls, 1000 + (uint64_t)i, 0, 0, b, buf, LS_BLOCK_MAX);
            if (!parts[i].exists) {
                cr_assert_eq(n, -ENOENT, "deleted part %d block %u: got %zd", i, b, n);
                continue;
            }
            fd_fill_payload(exp, 1000 + (uint64_t)i, 0, 1, b, parts[i].nonce[b], parts[i].len[b]);
            cr_assert(n == parts[i].len[b] && memcmp(buf, exp, (size_t)n) == 0,
                      "after reopen: part %d block %u: got %zd (%s)", i, b, n,
                      n < 0 ? ls_strerror((int)n) : "data");
        }
    ls_close(ls);
    free(parts);
    free(sh);
    free(buf);
    free(exp);
}
