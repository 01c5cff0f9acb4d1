/*
 * disks.c - the chunkserver's disks: one logstore each, the part map, and the
 * background scrub and compaction threads.
 *
 * Decisions a reader must know:
 *  - A disk that fails to open (missing, another cluster's, damaged) is
 *    logged with what to do and left out; the server runs with the others.
 *    Only when no disk opens does start-up fail.
 *  - The part map ((chunk, part) -> disk) is rebuilt from ls_list_parts() at
 *    start and is owned by the loop thread. The logstore is the truth; the
 *    map only says which disk to ask.
 *  - Scrub and compaction run in two threads per disk (the logstore wants one
 *    background thread each, and throttles itself). They never touch loop
 *    state: bad blocks go through a mutex-protected queue and a uv_async.
 *  - A disk can vanish while the server runs (a USB disk unplugged, a disk
 *    whose I/O fails). Every DISK_CHECK_MS a pool job stat()s each path; a
 *    path that is gone or names another file or device than at open (st_dev,
 *    st_ino, st_rdev), or a logstore gone broken, makes the disk `gone` at
 *    once: nothing new is routed to it (cs_disk_ready), its parts answer EIO,
 *    and the master hears "missing" in an immediate heartbeat. Pool work
 *    holds the disk (cs_disk_hold) from queueing to its done callback; the
 *    disk's threads are told to stop, and once nothing holds it a pool job
 *    joins them and closes the logstore. Then its parts leave the part map
 *    (no "gone" report: the master keeps counting them for its grace time).
 *  - A closed disk (vanished, or failed at start-up) is retried every
 *    DISK_RETRY_MS and by CS_CMD_DISK_RESCAN: a pool job opens it and lists
 *    its parts, the loop adds them to the map and reports them as present.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cn_time.h"
#include "cs.h"
#include "log.h"
#include "xmalloc.h"

#define SCRUB_STEP_BYTES (8ull << 20) /* one ls_scrub call, then check stop */
#define SCRUB_PAUSE_MS   60000        /* between passes */
#define COMPACT_DEAD_PCT 25 /* compact once dead space is this share of the written space */

/* ---- config syntax -------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

void cs_disks_free(struct cs_disk *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].path);
        free(d[i].labels);
    }
    free(d);
}

/* One entry: `[*]PATH [LABEL LABEL ...]`; labels become "a,b". */
static int parse_entry(char *e, struct cs_disk *d, char *err, size_t errlen)
{
    e = trim(e);
    if (*e == '*') {
        d->remove = 1;
        e = trim(e + 1);
    }
    char *lb = strchr(e, '[');
    char labels[512] = "";
    if (lb) {
        char *rb = strchr(lb, ']');
        if (!rb || trim(rb + 1)[0]) {
            snprintf(err, errlen, "DISKS: '%s': labels go in [ ] at the end of the entry", e);
            return -EINVAL;
        }
        *rb = 0;
        *lb = 0;
        size_t n = 0;
        for (char *p = lb + 1; *p;) {
            while (*p == ' ' || *p == '\t')
                p++;
            if (!*p)
                break;
            size_t w = strcspn(p, " \t");
            if (n + w + 2 > sizeof(labels)) {
                snprintf(err, errlen, "DISKS: labels of '%s' too long", e);
                return -EINVAL;
            }
            if (n)
                labels[n++] = ',';
            memcpy(labels + n, p, w);
            n += w;
            labels[n] = 0;
            p += w;
        }
    }
    e = trim(e);
    if (!*e) {
        snprintf(err, errlen, "DISKS: empty disk path in the list");
        return -EINVAL;
    }
    d->path = cn_xstrdup(e);
    d->labels = cn_xstrdup(labels);
    return 0;
}

int cs_disks_parse(const char *spec, struct cs_disk **out, size_t *n, char *err, size_t errlen)
{
    struct cs_disk *d = NULL;
    size_t nd = 0;
    int rc = 0;
    char *s = cn_xstrdup(spec ? spec : "");
    char *p = s;
    while (*p) {
        /* split at commas outside [ ] */
        char *q = p;
        int depth = 0;
        while (*q && (depth || *q != ',')) {
            depth += *q == '[' ? 1 : *q == ']' ? -1 : 0;
            q++;
        }
        int last = !*q;
        *q = 0;
        if (*trim(p)) {
            d = cn_xrealloc(d, (nd + 1) * sizeof(*d));
            memset(&d[nd], 0, sizeof(*d));
            rc = parse_entry(p, &d[nd], err, errlen);
            if (rc)
                goto out;
            nd++;
        }
        if (last)
            break;
        p = q + 1;
    }
    if (!nd) {
        snprintf(err, errlen, "DISKS: no disk configured (DISKS = /path/one, /path/two [ssd])");
        rc = -EINVAL;
    }
out:
    free(s);
    if (rc) {
        cs_disks_free(d, nd);
        return rc;
    }
    *out = d;
    *n = nd;
    return 0;
}

/* ---- part map ----------------------------------------------------------- */

static size_t part_hash(const struct cs_ctx *ctx, uint64_t chunk, uint16_t part)
{
    uint64_t h = (chunk ^ ((uint64_t)part << 48)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (ctx->nbuckets - 1);
}

struct cs_partref *cs_part_find(struct cs_ctx *ctx, uint64_t chunk, uint16_t part)
{
    for (struct cs_partref *r = ctx->buckets[part_hash(ctx, chunk, part)]; r; r = r->next)
        if (r->chunk == chunk && r->part == part)
            return r;
    return NULL;
}

static void grow(struct cs_ctx *ctx)
{
    size_t nb = ctx->nbuckets * 2;
    struct cs_partref **old = ctx->buckets;
    size_t on = ctx->nbuckets;
    ctx->buckets = cn_xcalloc(nb, sizeof(*ctx->buckets));
    ctx->nbuckets = nb;
    for (size_t i = 0; i < on; i++)
        for (struct cs_partref *r = old[i], *nx; r; r = nx) {
            nx = r->next;
            size_t h = part_hash(ctx, r->chunk, r->part);
            r->next = ctx->buckets[h];
            ctx->buckets[h] = r;
        }
    free(old);
}

struct cs_partref *cs_part_add(struct cs_ctx *ctx, uint64_t chunk, uint16_t part, uint16_t disk)
{
    if (ctx->nparts + 1 > ctx->nbuckets)
        grow(ctx);
    struct cs_partref *r = cn_xcalloc(1, sizeof(*r));
    r->chunk = chunk;
    r->part = part;
    r->disk = disk;
    size_t h = part_hash(ctx, chunk, part);
    r->next = ctx->buckets[h];
    ctx->buckets[h] = r;
    ctx->nparts++;
    return r;
}

void cs_part_remove(struct cs_ctx *ctx, uint64_t chunk, uint16_t part)
{
    for (struct cs_partref **pp = &ctx->buckets[part_hash(ctx, chunk, part)]; *pp;
         pp = &(*pp)->next) {
        struct cs_partref *r = *pp;
        if (r->chunk == chunk && r->part == part) {
            *pp = r->next;
            free(r);
            ctx->nparts--;
            return;
        }
    }
}

/* ---- space, changes, errors --------------------------------------------- */

int cs_disk_pick(struct cs_ctx *ctx)
{
    int best = -ENOSPC;
    uint64_t best_free = 0;
    for (size_t i = 0; i < ctx->ndisks; i++) {
        struct cs_disk *d = &ctx->disks[i];
        struct ls_stats st;
        if (!cs_disk_ready(ctx, (uint16_t)i) || d->remove || d->master_leaving ||
            ls_stats(d->ls, &st) || st.broken)
            continue;
        if (best < 0 || st.free_bytes > best_free) {
            best = (int)i;
            best_free = st.free_bytes;
        }
    }
    return best;
}

void cs_disk_describe(struct cs_ctx *ctx, size_t i, struct cn_cs_disk *out)
{
    struct cs_disk *d = &ctx->disks[i];
    struct ls_stats st;
    memset(out, 0, sizeof(*out));
    memcpy(out->uuid, d->uuid, 16);
    out->path = cn_str_of(d->path);
    out->labels = cn_str_of(d->labels);
    if (d->gone || (!d->ls && d->was_open)) {
        out->state = CN_DISK_MISSING;
        return;
    }
    if (!d->ls || ls_stats(d->ls, &st)) {
        out->state = CN_DISK_FAILED;
        return;
    }
    out->total = st.disk_bytes;
    out->free = st.free_bytes;
    /* payload still referenced: the master balances by it, and dead bytes
     * come back through compaction */
    out->used = st.live_bytes;
    /* a master mark is the master's own knowledge: only the config's `*`
     * is reported as draining */
    out->state = st.broken ? CN_DISK_READONLY : d->remove ? CN_DISK_DRAINING : CN_DISK_OK;
}

int cs_disk_ready(const struct cs_ctx *ctx, uint16_t i)
{
    const struct cs_disk *d = &ctx->disks[i];
    return d->ls && !d->gone;
}

int cs_disk_hold(struct cs_ctx *ctx, uint16_t i)
{
    if (!cs_disk_ready(ctx, i))
        return -EIO;
    ctx->disks[i].refs++;
    return 0;
}

static void maybe_close(struct cs_ctx *ctx, uint16_t i);

void cs_disk_drop(struct cs_ctx *ctx, uint16_t i)
{
    struct cs_disk *d = &ctx->disks[i];
    if (d->refs <= 0)
        CN_BUG("disk %s dropped more often than held", d->path);
    if (--d->refs == 0 && d->gone)
        maybe_close(ctx, i);
}

void cs_note_change(struct cs_ctx *ctx, uint64_t chunk, uint64_t version, uint16_t part,
                    uint16_t disk, uint8_t status)
{
    if (ctx->nchanges == ctx->capchanges) {
        ctx->capchanges = ctx->capchanges ? ctx->capchanges * 2 : 64;
        ctx->changes = cn_xrealloc(ctx->changes, ctx->capchanges * sizeof(*ctx->changes));
    }
    struct cn_cs_part *p = &ctx->changes[ctx->nchanges++];
    p->chunk = chunk;
    p->version = version;
    p->part = part;
    p->disk = disk;
    p->status = status;
}

void cs_report_bad(struct cs_ctx *ctx, uint64_t chunk, uint64_t version, uint16_t part,
                   uint16_t disk)
{
    cn_log_error("disks",
                 "disk %s: chunk %016llx part %u version %llu has a block that fails its CRC; "
                 "reporting it to the master (run cairn-disk check on the disk if this repeats)",
                 ctx->disks[disk].path, (unsigned long long)chunk, part,
                 (unsigned long long)version);
    cs_note_change(ctx, chunk, version, part, disk, 2);
}

enum cn_status cs_status_of(int err)
{
    switch (err) {
    case 0:
        return CN_ST_OK;
    case LS_ECORRUPT:
        return CN_ST_BAD_CRC;
    case -ESTALE:
        return CN_ST_BAD_VERSION;
    case -ENOENT:
        return CN_ST_NO_CHUNK;
    case LS_EINDEXFULL:
        return CN_ST_ENOSPC;
    case LS_EBROKEN:
    case LS_ENOTOURS:
    case LS_EVERSION:
    case LS_ECLUSTER:
        return CN_ST_EIO;
    default:
        return cn_status_from_errno(err);
    }
}

/* ---- background threads ------------------------------------------------- */

static int stopped(const struct cs_disk *d)
{
    return d->ctx->stop || d->stop;
}

/* Wait up to ms for the server's or the disk's stop; returns it. */
static int wait_stop(struct cs_disk *d, int64_t ms)
{
    struct cs_ctx *ctx = d->ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ctx->bad_mu);
    while (!stopped(d) && pthread_cond_timedwait(&ctx->stop_cv, &ctx->bad_mu, &ts) == 0)
        ;
    int s = stopped(d);
    pthread_mutex_unlock(&ctx->bad_mu);
    return s;
}

struct scrub_arg {
    struct cs_disk *d;
    uint16_t idx;
};

static void on_bad_block(const struct ls_bad_block *b, void *arg)
{
    struct cs_disk *d = arg;
    struct cs_ctx *ctx = d->ctx;
    pthread_mutex_lock(&ctx->bad_mu);
    if (ctx->nbad == ctx->capbad) {
        ctx->capbad = ctx->capbad ? ctx->capbad * 2 : 16;
        ctx->bad = cn_xrealloc(ctx->bad, ctx->capbad * sizeof(*ctx->bad));
    }
    struct cs_bad *e = &ctx->bad[ctx->nbad++];
    e->chunk = b->chunk;
    e->version = b->version;
    e->part = b->part;
    e->disk = (uint16_t)(d - ctx->disks);
    pthread_mutex_unlock(&ctx->bad_mu);
    uv_async_send(&ctx->bad_async);
}

static void *scrub_main(void *arg)
{
    struct cs_disk *d = arg;
    struct cs_ctx *ctx = d->ctx;
    while (!stopped(d)) {
        int rate = __atomic_load_n(&ctx->scrub_rate_mbps, __ATOMIC_RELAXED);
        if (rate <= 0) { /* scrub off: look again later (a reload may enable it) */
            if (wait_stop(d, 1000))
                break;
            continue;
        }
        uint64_t passes = d->cursor.passes;
        int rc = ls_scrub(d->ls, &d->cursor, SCRUB_STEP_BYTES, rate, on_bad_block, d);
        if (rc < 0)
            cn_log_warn("disks", "disk %s: scrub: %s", d->path, ls_strerror(rc));
        if (rc < 0 || d->cursor.passes != passes)
            if (wait_stop(d, SCRUB_PAUSE_MS))
                break;
    }
    return NULL;
}

static void *compact_main(void *arg)
{
    struct cs_disk *d = arg;
    struct cs_ctx *ctx = d->ctx;
    while (!wait_stop(d, __atomic_load_n(&ctx->compact_period_ms, __ATOMIC_RELAXED))) {
        struct ls_stats st;
        if (ls_stats(d->ls, &st) || st.broken)
            continue;
        uint64_t written = st.live_bytes + st.dead_bytes;
        cn_log_debug("disks", "disk %s: live %llu dead %llu bytes, %u of %u segments free", d->path,
                     (unsigned long long)st.live_bytes, (unsigned long long)st.dead_bytes,
                     st.free_segments, st.nsegments);
        if (!written || st.dead_bytes * 100 < written * COMPACT_DEAD_PCT)
            continue;
        struct ls_compact_opts o = {0};
        struct ls_compact_result r = {0};
        o.rate_mbps = __atomic_load_n(&ctx->compact_rate_mbps, __ATOMIC_RELAXED);
        o.stop = &d->stop; /* cs_disks_stop sets it too */
        o.max_segments = 16;
        int rc = ls_compact(d->ls, &o, &r);
        if (rc)
            cn_log_warn("disks", "disk %s: compaction: %s", d->path, ls_strerror(rc));
        else if (r.segments_freed)
            cn_log_info("disks", "disk %s: compaction freed %u segments, moved %llu bytes", d->path,
                        r.segments_freed, (unsigned long long)r.bytes_moved);
    }
    return NULL;
}

static void on_bad_async(uv_async_t *a)
{
    struct cs_ctx *ctx = a->data;
    pthread_mutex_lock(&ctx->bad_mu);
    struct cs_bad *list = ctx->bad;
    size_t n = ctx->nbad;
    ctx->bad = NULL;
    ctx->nbad = ctx->capbad = 0;
    pthread_mutex_unlock(&ctx->bad_mu);
    for (size_t i = 0; i < n; i++)
        cs_report_bad(ctx, list[i].chunk, list[i].version, list[i].part, list[i].disk);
    free(list);
}

/* ---- open / close -------------------------------------------------------- */

static void ls_log(void *arg, int level, const char *msg)
{
    struct cs_disk *d = arg;
    int l = level <= LS_LOG_ERR ? CN_LOG_ERROR : level <= LS_LOG_WARN ? CN_LOG_WARN : CN_LOG_INFO;
    CN_LOG(l, "logstore", "disk %s: %s", d->path, msg);
}

struct list_arg {
    struct cs_ctx *ctx;
    uint16_t disk;
};

/* A committed part found on disk i: into the map, or, when another disk of
 * this server holds it too, the newer version wins. 1 if the map now points
 * at disk i for it. */
static int part_found(struct cs_ctx *ctx, uint16_t i, uint64_t chunk, uint16_t part,
                      uint64_t version)
{
    struct cs_partref *r = cs_part_find(ctx, chunk, part);
    if (r) {
        cn_log_warn("disks",
                    "chunk %016llx part %u is on disk %s (version %llu) and disk %s "
                    "(version %llu); serving the newer one",
                    (unsigned long long)chunk, part, ctx->disks[r->disk].path,
                    (unsigned long long)r->version, ctx->disks[i].path,
                    (unsigned long long)version);
        /* a write session (version 0) stays on the disk its blocks went to */
        if (version <= r->version || r->busy || r->version == 0)
            return 0;
        r->disk = i;
        r->version = version;
        return 1;
    }
    r = cs_part_add(ctx, chunk, part, i);
    r->version = version;
    return 1;
}

static int on_part(const struct ls_part_info *pi, void *arg)
{
    struct list_arg *a = arg;
    if (!pi->committed)
        return 0; /* write sessions do not survive a restart */
    part_found(a->ctx, a->disk, pi->chunk, pi->part, pi->version);
    return 0;
}

static void remember_identity(struct cs_disk *d, const struct stat *st)
{
    d->dev = (uint64_t)st->st_dev;
    d->ino = (uint64_t)st->st_ino;
    d->rdev = (uint64_t)st->st_rdev;
}

static void log_open_error(struct cs_disk *d, int rc, const char *err, int level)
{
    CN_LOG(level, "disks", "disk %s: cannot open (%s); serving without it (%s)", d->path,
           err[0] ? err : ls_strerror(rc),
           rc == LS_ENOTOURS ? "format it with: cairn-disk format DISK"
           : rc == LS_ECLUSTER
               ? "it belongs to another cluster; reformat with: cairn-disk format --force DISK"
           : rc == -ENOENT ? "plug it in or fix the path; the chunkserver retries it"
                           : "check the path and run: cairn-disk check DISK");
}

static void open_opts(struct cs_ctx *ctx, struct cs_disk *d, struct ls_open_opts *o)
{
    memset(o, 0, sizeof(*o));
    d->ctx = ctx;
    o->cluster_id = ctx->have_cluster_id ? ctx->cluster_id : NULL;
    o->log = ls_log;
    o->log_arg = d;
}

static int open_disk(struct cs_ctx *ctx, uint16_t i)
{
    struct cs_disk *d = &ctx->disks[i];
    struct ls_open_opts o;
    char err[512] = "";
    open_opts(ctx, d, &o);
    struct stat sb;
    int rc = stat(d->path, &sb) ? -errno : ls_open(d->path, &o, &d->ls, err, sizeof(err));
    if (rc) {
        log_open_error(d, rc, err, CN_LOG_ERROR);
        d->ls = NULL;
        return rc;
    }
    remember_identity(d, &sb);
    d->was_open = 1;
    struct ls_stats st;
    ls_stats(d->ls, &st);
    memcpy(d->uuid, st.disk_uuid, 16);
    struct list_arg la = {ctx, i};
    int np = ls_list_parts(d->ls, on_part, &la);
    cn_log_info("disks", "disk %s: %d parts, %llu of %llu bytes free%s%s%s", d->path,
                np < 0 ? 0 : np, (unsigned long long)st.free_bytes,
                (unsigned long long)st.disk_bytes, d->labels[0] ? ", labels " : "", d->labels,
                d->remove ? ", marked for removal" : "");
    return 0;
}

static void start_threads(struct cs_disk *d)
{
    d->stop = 0;
    if (pthread_create(&d->scrub_thr, NULL, scrub_main, d))
        CN_BUG("pthread_create failed");
    if (pthread_create(&d->compact_thr, NULL, compact_main, d))
        CN_BUG("pthread_create failed");
    d->threads = 1;
}

/* ---- a disk that vanishes ------------------------------------------------- */

struct close_job {
    uv_work_t work;
    struct cs_ctx *ctx;
    uint16_t disk;
    int threads, rc;
};

static void work_close(uv_work_t *w)
{
    struct close_job *j = w->data;
    struct cs_disk *d = &j->ctx->disks[j->disk];
    if (j->threads) {
        pthread_join(d->scrub_thr, NULL);
        pthread_join(d->compact_thr, NULL);
    }
    j->rc = ls_close(d->ls);
}

static void close_done(uv_work_t *w, int status)
{
    struct close_job *j = w->data;
    struct cs_ctx *ctx = j->ctx;
    struct cs_disk *d = &ctx->disks[j->disk];
    (void)status; /* a queued job cannot be cancelled here: it ran */
    ctx->work_inflight--;
    d->ls = NULL;
    d->threads = 0;
    d->closing = 0;
    d->next_try_ms = cn_now_ms() + (uint64_t)ctx->cfg.disk_retry_ms;
    /* its parts leave the map without a "gone" report: the master keeps
     * them for its grace time (a brief unplug re-replicates nothing) */
    size_t dropped = 0;
    for (size_t b = 0; b < ctx->nbuckets; b++)
        for (struct cs_partref **pp = &ctx->buckets[b]; *pp;) {
            struct cs_partref *r = *pp;
            if (r->disk == j->disk) {
                *pp = r->next;
                free(r);
                ctx->nparts--;
                dropped++;
            } else {
                pp = &r->next;
            }
        }
    cn_log_warn("disks",
                "disk %s: closed after it vanished (%s); %zu parts unavailable until it "
                "is back (then: cairn disk rescan, or wait for the retry)",
                d->path, j->rc ? ls_strerror(j->rc) : "clean close", dropped);
    free(j);
}

static void maybe_close(struct cs_ctx *ctx, uint16_t i)
{
    struct cs_disk *d = &ctx->disks[i];
    if (!d->gone || !d->ls || d->refs || d->closing || ctx->stopping)
        return; /* at shutdown cs_disks_release closes it */
    struct close_job *j = cn_xcalloc(1, sizeof(*j));
    j->ctx = ctx;
    j->disk = i;
    j->threads = d->threads;
    j->work.data = j;
    d->closing = 1;
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &j->work, work_close, close_done)) {
        ctx->work_inflight--;
        d->closing = 0;
        free(j);
    }
}

/* Disk i vanished: no new work, its threads stop, master told now. */
static void disk_vanished(struct cs_ctx *ctx, uint16_t i, const char *why)
{
    struct cs_disk *d = &ctx->disks[i];
    d->gone = 1;
    cn_log_error("disks",
                 "disk %s: %s; its parts are unavailable (clients read other copies) and the "
                 "master counts them missing after its grace time; plug it back, then run: "
                 "cairn disk rescan %s (or wait for the automatic retry)",
                 d->path, why, ctx->cfg.name ? ctx->cfg.name : "");
    pthread_mutex_lock(&ctx->bad_mu);
    d->stop = 1;
    pthread_cond_broadcast(&ctx->stop_cv);
    pthread_mutex_unlock(&ctx->bad_mu);
    cs_master_beat_now(ctx);
    maybe_close(ctx, i);
}

/* ---- reopening ------------------------------------------------------------ */

struct rescan {
    cs_rescan_cb cb;
    void *ud;
    unsigned pending, reopened, closed;
};

struct found {
    uint64_t chunk, version;
    uint16_t part;
};

struct reopen_job {
    uv_work_t work;
    struct cs_ctx *ctx;
    struct rescan *rs; /* NULL: the automatic retry */
    uint16_t disk;
    struct ls *ls;
    struct stat sb;
    int rc;
    char err[512];
    struct found *parts;
    size_t nparts, cap;
};

static int collect_part(const struct ls_part_info *pi, void *arg)
{
    struct reopen_job *j = arg;
    if (!pi->committed)
        return 0;
    if (j->nparts == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 256;
        j->parts = cn_xrealloc(j->parts, j->cap * sizeof(*j->parts));
    }
    j->parts[j->nparts++] = (struct found){pi->chunk, pi->version, pi->part};
    return 0;
}

static void work_reopen(uv_work_t *w)
{
    struct reopen_job *j = w->data;
    struct cs_disk *d = &j->ctx->disks[j->disk];
    struct ls_open_opts o;
    open_opts(j->ctx, d, &o);
    if (stat(d->path, &j->sb)) {
        j->rc = -errno;
        return;
    }
    j->rc = ls_open(d->path, &o, &j->ls, j->err, sizeof(j->err));
    if (!j->rc) {
        int rc = ls_list_parts(j->ls, collect_part, j);
        if (rc < 0) {
            snprintf(j->err, sizeof(j->err), "listing its parts: %s", ls_strerror(rc));
            ls_close(j->ls);
            j->ls = NULL;
            j->rc = rc;
        }
    }
}

/* One try of rs ended: reopened 1, 0 (still closed) or -1 (not a try). */
static void rescan_done_one(struct cs_ctx *ctx, struct rescan *rs, int reopened)
{
    if (!rs)
        return;
    if (reopened > 0)
        rs->reopened++;
    else if (reopened == 0)
        rs->closed++;
    if (--rs->pending)
        return;
    if (rs->cb)
        rs->cb(ctx, rs->reopened, rs->closed, rs->ud);
    free(rs);
}

/* A part the rescanned disk holds at a version no newer than the copy the
 * server made on another disk meanwhile: deleted from the rescanned disk on
 * the pool, or its space would never come back. */
struct stale_dup {
    uv_work_t work;
    struct cs_ctx *ctx;
    uint16_t disk, part;
    uint64_t chunk, version;
    int rc;
};

static void work_stale_dup(uv_work_t *w)
{
    struct stale_dup *x = w->data;
    x->rc = ls_delete(x->ctx->disks[x->disk].ls, x->chunk, x->part, x->version);
}

static void stale_dup_done(uv_work_t *w, int status)
{
    struct stale_dup *x = w->data;
    struct cs_ctx *ctx = x->ctx;
    ctx->work_inflight--;
    if (status || (x->rc && x->rc != -ENOENT))
        cn_log_warn("disks", "disk %s: cannot delete the stale copy of chunk %016llx part %u: %s",
                    ctx->disks[x->disk].path, (unsigned long long)x->chunk, x->part,
                    status ? cn_strerror(status) : ls_strerror(x->rc));
    else
        cn_log_info("disks",
                    "disk %s: deleted chunk %016llx part %u version %llu: the server holds it "
                    "on another disk",
                    ctx->disks[x->disk].path, (unsigned long long)x->chunk, x->part,
                    (unsigned long long)x->version);
    cs_disk_drop(ctx, x->disk);
    free(x);
}

static void stale_dup_delete(struct cs_ctx *ctx, uint16_t disk, uint64_t chunk, uint16_t part,
                             uint64_t version)
{
    if (cs_disk_hold(ctx, disk))
        return;
    struct stale_dup *x = cn_xcalloc(1, sizeof(*x));
    *x = (struct stale_dup){
        .ctx = ctx, .disk = disk, .part = part, .chunk = chunk, .version = version};
    x->work.data = x;
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &x->work, work_stale_dup, stale_dup_done)) {
        ctx->work_inflight--;
        cs_disk_drop(ctx, disk);
        free(x);
    }
}

static void reopen_done(uv_work_t *w, int status)
{
    struct reopen_job *j = w->data;
    struct cs_ctx *ctx = j->ctx;
    struct cs_disk *d = &ctx->disks[j->disk];
    ctx->work_inflight--;
    d->opening = 0;
    if (status && !j->rc)
        j->rc = status;
    d->next_try_ms = cn_now_ms() + (uint64_t)ctx->cfg.disk_retry_ms;
    if (j->rc) {
        /* the retry runs every few seconds: only an operator's rescan logs loudly */
        log_open_error(d, j->rc, j->err, j->rs ? CN_LOG_WARN : CN_LOG_DEBUG);
        rescan_done_one(ctx, j->rs, 0);
        goto out;
    }
    struct ls_stats st;
    ls_stats(j->ls, &st);
    if (d->was_open && memcmp(d->uuid, st.disk_uuid, 16))
        cn_log_warn("disks", "disk %s: another disk is at this path now (new uuid); taking it",
                    d->path);
    memcpy(d->uuid, st.disk_uuid, 16);
    remember_identity(d, &j->sb);
    d->ls = j->ls;
    d->was_open = 1;
    d->gone = 0;
    size_t added = 0;
    for (size_t k = 0; k < j->nparts; k++) {
        const struct found *f = &j->parts[k];
        if (part_found(ctx, j->disk, f->chunk, f->part, f->version)) {
            cs_note_change(ctx, f->chunk, f->version, f->part, j->disk, 0);
            added++;
            continue;
        }
        const struct cs_partref *r = cs_part_find(ctx, f->chunk, f->part);
        if (r && r->disk != j->disk && r->version >= f->version && !r->busy)
            stale_dup_delete(ctx, j->disk, f->chunk, f->part, f->version);
    }
    if (!ctx->stopping)
        start_threads(d);
    cn_log_info("disks", "disk %s: back online: %zu parts, %llu of %llu bytes free", d->path, added,
                (unsigned long long)st.free_bytes, (unsigned long long)st.disk_bytes);
    cs_master_beat_now(ctx);
    rescan_done_one(ctx, j->rs, 1);
out:
    free(j->parts);
    free(j);
}

static int reopen_start(struct cs_ctx *ctx, uint16_t i, struct rescan *rs)
{
    struct cs_disk *d = &ctx->disks[i];
    if (d->ls || d->opening || d->closing || ctx->stopping)
        return -EBUSY;
    struct reopen_job *j = cn_xcalloc(1, sizeof(*j));
    j->ctx = ctx;
    j->rs = rs;
    j->disk = i;
    j->work.data = j;
    d->opening = 1;
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &j->work, work_reopen, reopen_done)) {
        ctx->work_inflight--;
        d->opening = 0;
        free(j);
        return -EIO;
    }
    return 0;
}

void cs_disks_rescan(struct cs_ctx *ctx, cs_rescan_cb cb, void *ud)
{
    struct rescan *rs = cn_xcalloc(1, sizeof(*rs));
    rs->cb = cb;
    rs->ud = ud;
    rs->pending = 1; /* held until every try is queued */
    for (size_t i = 0; i < ctx->ndisks; i++) {
        struct cs_disk *d = &ctx->disks[i];
        if (d->ls && !d->gone)
            continue;
        if (d->ls || d->closing || d->opening) {
            rs->closed++; /* still draining, or already being tried */
            continue;
        }
        rs->pending++;
        if (reopen_start(ctx, (uint16_t)i, rs)) {
            rs->pending--;
            rs->closed++;
        }
    }
    rescan_done_one(ctx, rs, -1); /* the hold above */
}

/* ---- the periodic check ---------------------------------------------------- */

struct check_job {
    uv_work_t work;
    struct cs_ctx *ctx;
    size_t n;
    struct {
        int rc;
        uint64_t dev, ino, rdev;
    } * r;
};

static void work_check(uv_work_t *w)
{
    struct check_job *j = w->data;
    for (size_t i = 0; i < j->n; i++) {
        struct stat sb;
        if (stat(j->ctx->disks[i].path, &sb)) {
            j->r[i].rc = -errno;
            continue;
        }
        j->r[i].dev = (uint64_t)sb.st_dev;
        j->r[i].ino = (uint64_t)sb.st_ino;
        j->r[i].rdev = (uint64_t)sb.st_rdev;
    }
}

static void check_done(uv_work_t *w, int status)
{
    struct check_job *j = w->data;
    struct cs_ctx *ctx = j->ctx;
    ctx->work_inflight--;
    ctx->disk_checking = 0;
    uint64_t now = cn_now_ms();
    for (size_t i = 0; i < j->n && !status && !ctx->stopping; i++) {
        struct cs_disk *d = &ctx->disks[i];
        char why[200];
        if (cs_disk_ready(ctx, (uint16_t)i)) {
            struct ls_stats st;
            why[0] = 0;
            if (j->r[i].rc)
                snprintf(why, sizeof(why), "vanished (%s)", strerror(-j->r[i].rc));
            else if (j->r[i].dev != d->dev || j->r[i].ino != d->ino || j->r[i].rdev != d->rdev)
                snprintf(why, sizeof(why), "vanished (the path names another file or device now)");
            else if (ls_stats(d->ls, &st) == 0 && st.broken)
                snprintf(why, sizeof(why), "failed (its logstore stopped on an I/O error)");
            if (why[0])
                disk_vanished(ctx, (uint16_t)i, why);
        } else if (!d->ls && !d->opening && !d->closing && ctx->cfg.disk_retry_ms > 0 &&
                   !j->r[i].rc && now >= d->next_try_ms) {
            reopen_start(ctx, (uint16_t)i, NULL);
        }
    }
    free(j->r);
    free(j);
}

static void on_disk_timer(uv_timer_t *t)
{
    struct cs_ctx *ctx = t->data;
    if (ctx->disk_checking || ctx->stopping)
        return;
    struct check_job *j = cn_xcalloc(1, sizeof(*j));
    j->ctx = ctx;
    j->n = ctx->ndisks;
    j->r = cn_xcalloc(j->n ? j->n : 1, sizeof(*j->r));
    j->work.data = j;
    ctx->disk_checking = 1;
    ctx->work_inflight++;
    if (uv_queue_work(ctx->loop, &j->work, work_check, check_done)) {
        ctx->work_inflight--;
        ctx->disk_checking = 0;
        free(j->r);
        free(j);
    }
}

int cs_disks_init(struct cs_ctx *ctx)
{
    size_t ok = 0;
    ctx->nbuckets = 1024;
    ctx->buckets = cn_xcalloc(ctx->nbuckets, sizeof(*ctx->buckets));
    pthread_mutex_init(&ctx->bad_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    uv_async_init(ctx->loop, &ctx->bad_async, on_bad_async);
    ctx->bad_async.data = ctx;
    uv_timer_init(ctx->loop, &ctx->disk_timer);
    ctx->disk_timer.data = ctx;
    for (size_t i = 0; i < ctx->ndisks; i++)
        if (open_disk(ctx, (uint16_t)i) == 0)
            ok++;
    if (!ok) {
        cn_log_error("disks", "no disk could be opened; refusing to start (see the errors above)");
        return -ENODEV;
    }
    for (size_t i = 0; i < ctx->ndisks; i++)
        if (ctx->disks[i].ls)
            start_threads(&ctx->disks[i]);
    uv_timer_start(&ctx->disk_timer, on_disk_timer, (uint64_t)ctx->cfg.disk_check_ms,
                   (uint64_t)ctx->cfg.disk_check_ms);
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

void cs_disks_stop(struct cs_ctx *ctx)
{
    pthread_mutex_lock(&ctx->bad_mu);
    ctx->stop = 1;
    for (size_t i = 0; i < ctx->ndisks; i++)
        ctx->disks[i].stop = 1;
    pthread_cond_broadcast(&ctx->stop_cv);
    pthread_mutex_unlock(&ctx->bad_mu);
    uv_timer_stop(&ctx->disk_timer);
    uv_close((uv_handle_t *)&ctx->disk_timer, close_cb);
    for (size_t i = 0; i < ctx->ndisks; i++) {
        struct cs_disk *d = &ctx->disks[i];
        if (d->threads && !d->closing) { /* a close job joins its own */
            pthread_join(d->scrub_thr, NULL);
            pthread_join(d->compact_thr, NULL);
            d->threads = 0;
        }
    }
    on_bad_async(&ctx->bad_async); /* report what the threads found last */
    uv_close((uv_handle_t *)&ctx->bad_async, close_cb);
}

void cs_disks_release(struct cs_ctx *ctx)
{
    for (size_t i = 0; i < ctx->ndisks; i++) {
        struct cs_disk *d = &ctx->disks[i];
        if (d->ls) {
            int rc = ls_close(d->ls);
            if (rc)
                cn_log_error("disks", "disk %s: close: %s", d->path, ls_strerror(rc));
            d->ls = NULL;
        }
    }
    if (ctx->buckets) {
        for (size_t i = 0; i < ctx->nbuckets; i++)
            for (struct cs_partref *r = ctx->buckets[i], *nx; r; r = nx) {
                nx = r->next;
                free(r);
            }
        free(ctx->buckets);
        ctx->buckets = NULL;
    }
    pthread_mutex_destroy(&ctx->bad_mu);
    pthread_cond_destroy(&ctx->stop_cv);
    free(ctx->bad);
    ctx->bad = NULL;
    free(ctx->changes);
    ctx->changes = NULL;
}
