/*
 * test_crash.c - the SIGKILL crash harness of the logstore.
 *
 * The parent formats a 64 MiB file-backed disk with 1 MiB segments. Each
 * round it forks a child that opens the disk and runs random operations:
 * block writes (single and batched), commits, deletes, and now and then a
 * compaction or a checkpoint. Before each call the child writes a "B" line
 * describing it to a pipe, after the call returns a "D" line: an operation
 * with a D line is acknowledged; the one B line without its D is the single
 * in-flight operation. The parent SIGKILLs the child at a random moment
 * (after a random number of acknowledged operations plus a random delay, or
 * a few ms after the fork so that recovery itself gets killed), reopens the
 * store and checks it against its model of acknowledged operations:
 *  - every committed block reads back exactly (the payload is self-describing:
 *    chunk, part, version, block, nonce and length in its first bytes, the
 *    rest derived from them), with the latest acknowledged commit semantics
 *    of ls_writev (a commit overlays the version's blocks on the older
 *    committed table, cut at the size);
 *  - deleted parts are gone; each acknowledged uncommitted version is either
 *    dropped whole (what logstore.h promises; uncommitted_dropped_at_recovery
 *    holds the store to it) or kept exactly: never half of it;
 *  - nothing else is served: ls_list_parts lists exactly the model's parts,
 *    and every block index that is not in the model reads as a hole.
 * Only the in-flight op may have happened or not: a commit or delete whole,
 * a batch of blocks whole or a prefix of it (format.md: the tail group is
 * cut at its first bad record); the parent adopts what the store shows if
 * it is one of those states.
 * State carries over: the same disk is reopened each round and the child
 * continues with new versions (it is forked from the parent, so it inherits
 * the model). The parent opens read-only every other round, so the next
 * child both cuts a torn tail and replays a longer log.
 *
 * The file also holds the faultdev tests (suite "faults"): sticky error
 * state, short writes and simulated power loss.
 *
 * Env: CAIRN_TEST_SEED replays a run (the operations; kill timing is not
 * reproducible), CAIRN_CRASH_ROUNDS sets the rounds (default 200; also the
 * number of power cuts of faults.power_loss).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultdev.h"
#include "logstore.h"

#define NCHUNK     6
#define NPART      3
#define NBLK       12
#define MAXPEND    3
#define CHUNK_BASE 0x5eed0000ull
#define DISK_BYTES (64ull << 20)
#define SEG_BYTES  (1u << 20)
#define MAX_OPS    48
#define LINE_MAX_  512

struct blk {
    int present;
    uint64_t version;
    uint64_t nonce;
    uint32_t len;
};

struct pend {
    uint64_t version;
    struct blk tab[NBLK];
};

struct part_m {
    int exists; /* a committed version exists */
    uint64_t version;
    uint64_t size;
    struct blk tab[NBLK];
    int npend;
    struct pend pend[MAXPEND];
};

struct model {
    struct part_m p[NCHUNK][NPART];
};

/* One operation, as announced on the pipe. */
struct op {
    char kind; /* W write, C commit, X delete, K compact, P checkpoint */
    int c, p;
    uint64_t version;
    uint64_t size;
    int n;
    uint32_t block[4];
    uint64_t nonce[4];
    uint32_t len[4];
};

/* Fixture state: the test's own process only. */
static char g_dir[64];
static pid_t g_child = -1;

static uint64_t chunk_id(int c)
{
    return CHUNK_BASE + (uint64_t)c;
}

/* ---- model --------------------------------------------------------------- */

static struct pend *pend_find(struct part_m *pm, uint64_t v)
{
    for (int i = 0; i < pm->npend; i++)
        if (pm->pend[i].version == v)
            return &pm->pend[i];
    return NULL;
}

static void pend_drop_upto(struct part_m *pm, uint64_t v)
{
    int j = 0;
    for (int i = 0; i < pm->npend; i++)
        if (pm->pend[i].version > v)
            pm->pend[j++] = pm->pend[i];
    pm->npend = j;
}

static uint64_t pend_max(const struct part_m *pm)
{
    uint64_t m = 0;
    for (int i = 0; i < pm->npend; i++)
        if (pm->pend[i].version > m)
            m = pm->pend[i].version;
    return m;
}

static void model_apply(struct model *m, const struct op *o)
{
    if (o->kind != 'W' && o->kind != 'C' && o->kind != 'X')
        return;
    struct part_m *pm = &m->p[o->c][o->p];
    if (o->kind == 'W') {
        struct pend *pd = pend_find(pm, o->version);
        if (!pd) {
            cr_assert_lt(pm->npend, MAXPEND, "model: too many pending versions");
            pd = &pm->pend[pm->npend++];
            memset(pd, 0, sizeof(*pd));
            pd->version = o->version;
        }
        for (int i = 0; i < o->n; i++) {
            struct blk *b = &pd->tab[o->block[i]];
            b->present = 1;
            b->version = o->version;
            b->nonce = o->nonce[i];
            b->len = o->len[i];
        }
    } else if (o->kind == 'C') {
        struct pend *pd = pend_find(pm, o->version);
        if (!pm->exists)
            memset(pm->tab, 0, sizeof(pm->tab));
        for (int b = 0; b < NBLK; b++) {
            if (pd && pd->tab[b].present)
                pm->tab[b] = pd->tab[b];
            if ((uint64_t)b * LS_BLOCK_MAX >= o->size)
                pm->tab[b].present = 0;
        }
        pm->exists = 1;
        pm->version = o->version;
        pm->size = o->size;
        pend_drop_upto(pm, o->version);
    } else {
        if (pm->exists && pm->version <= o->version) {
            pm->exists = 0;
            memset(pm->tab, 0, sizeof(pm->tab));
            pm->version = 0;
            pm->size = 0;
        }
        pend_drop_upto(pm, o->version);
    }
}

/* ---- pipe protocol ------------------------------------------------------- */

static void op_format(const struct op *o, char *buf, size_t len)
{
    int n = snprintf(buf, len, "B %c %d %d %" PRIu64 " %" PRIu64 " %d", o->kind, o->c, o->p,
                     o->version, o->size, o->n);
    for (int i = 0; i < o->n && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, " %u %" PRIu64 " %u", o->block[i], o->nonce[i],
                      o->len[i]);
    if (n > 0 && (size_t)n < len - 1) {
        buf[n] = '\n';
        buf[n + 1] = 0;
    }
}

static int op_parse(const char *line, struct op *o)
{
    memset(o, 0, sizeof(*o));
    char *end;
    if (line[0] != 'B' || line[1] != ' ')
        return -1;
    o->kind = line[2];
    const char *s = line + 3;
    o->c = (int)strtol(s, &end, 10);
    s = end;
    o->p = (int)strtol(s, &end, 10);
    s = end;
    o->version = strtoull(s, &end, 10);
    s = end;
    o->size = strtoull(s, &end, 10);
    s = end;
    o->n = (int)strtol(s, &end, 10);
    s = end;
    if (o->n < 0 || o->n > 4 || o->c < 0 || o->c >= NCHUNK || o->p < 0 || o->p >= NPART)
        return -1;
    for (int i = 0; i < o->n; i++) {
        o->block[i] = (uint32_t)strtoul(s, &end, 10);
        s = end;
        o->nonce[i] = strtoull(s, &end, 10);
        s = end;
        o->len[i] = (uint32_t)strtoul(s, &end, 10);
        s = end;
        if (o->block[i] >= NBLK)
            return -1;
    }
    return 0;
}

static void write_line(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t r = write(fd, s + off, len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            _exit(4);
        off += (size_t)r;
    }
}

/* ---- the child ----------------------------------------------------------- */

static void child_fail(int fd, const char *what, int rc)
{
    char line[LINE_MAX_];
    snprintf(line, sizeof(line), "E %s: %d (%s)\n", what, rc, ls_strerror(rc));
    write_line(fd, line);
    _exit(3);
}

/* Choose the next operation on the child's copy of the model. */
static void child_pick(struct model *m, uint64_t *rng, uint64_t *next_version, uint64_t *next_nonce,
                       struct op *o)
{
    memset(o, 0, sizeof(*o));
    uint64_t r = fd_below(rng, 100);
    o->c = (int)fd_below(rng, NCHUNK);
    o->p = (int)fd_below(rng, NPART);
    struct part_m *pm = &m->p[o->c][o->p];
    if (r < 3) {
        o->kind = 'K';
        return;
    }
    if (r < 5) {
        o->kind = 'P';
        return;
    }
    if (r < 12 && (pm->exists || pm->npend)) {
        o->kind = 'X';
        o->version = pm->version > pend_max(pm) ? pm->version : pend_max(pm);
        return;
    }
    if (r < 40 && pm->npend) {
        o->kind = 'C';
        /* Mostly the newest pending version; sometimes an older one. */
        struct pend *pd = &pm->pend[fd_below(rng, 4) == 0 ? fd_below(rng, (uint64_t)pm->npend)
                                                          : (uint64_t)pm->npend - 1];
        o->version = pd->version;
        int top = 0;
        for (int b = 0; b < NBLK; b++)
            if (pd->tab[b].present || (pm->exists && pm->tab[b].present))
                top = b + 1;
        if (fd_below(rng, 5) == 0)
            top = (int)fd_below(rng, (uint64_t)top + 1); /* cut blocks off the end */
        o->size = (uint64_t)top * LS_BLOCK_MAX;
        return;
    }
    o->kind = 'W';
    if (pm->npend && (pm->npend == MAXPEND || fd_below(rng, 10) < 7))
        o->version = pm->pend[pm->npend - 1].version; /* newest pending */
    else
        o->version = (*next_version)++;
    o->n = 1 + (int)fd_below(rng, 3);
    for (int i = 0; i < o->n; i++) {
        uint32_t b;
        int dup;
        do {
            b = (uint32_t)fd_below(rng, NBLK);
            dup = 0;
            for (int j = 0; j < i; j++)
                dup |= o->block[j] == b;
        } while (dup);
        o->block[i] = b;
        o->nonce[i] = (*next_nonce)++;
        o->len[i] = FD_PHDR +
                    (uint32_t)fd_below(rng, fd_below(rng, 4) == 0 ? LS_BLOCK_MAX - FD_PHDR : 12288);
    }
}

/* Run one operation; returns its result. buf: 4 buffers of LS_BLOCK_MAX bytes. */
static int exec_op(struct ls *ls, const struct op *op, uint8_t **buf)
{
    const struct op o = *op;
    int rc = 0;
    uint64_t ch = chunk_id(o.c);
    switch (o.kind) {
    case 'W': {
        struct ls_write w[4];
        memset(w, 0, sizeof(w));
        for (int i = 0; i < o.n; i++) {
            fd_fill_payload(buf[i], ch, (uint16_t)o.p, o.version, o.block[i], o.nonce[i], o.len[i]);
            w[i].type = LS_REC_BLOCK;
            w[i].chunk = ch;
            w[i].part = (uint16_t)o.p;
            w[i].version = o.version;
            w[i].block = o.block[i];
            w[i].data = buf[i];
            w[i].len = o.len[i];
        }
        if (o.n == 1)
            rc = ls_append(ls, ch, (uint16_t)o.p, o.version, o.block[0], buf[0], o.len[0]);
        else
            rc = ls_writev(ls, w, (size_t)o.n);
        break;
    }
    case 'C':
        rc = ls_commit(ls, ch, (uint16_t)o.p, o.version, o.size);
        break;
    case 'X':
        rc = ls_delete(ls, ch, (uint16_t)o.p, o.version);
        break;
    case 'K': {
        struct ls_compact_opts co = {0};
        struct ls_compact_result cres;
        co.max_segments = 8;
        co.max_live_ratio = 0.95;
        rc = ls_compact(ls, &co, &cres);
        break;
    }
    case 'P':
        rc = ls_checkpoint(ls);
        break;
    }
    return rc;
}

static void child_run(int fd, struct model *m, uint64_t seed, int round)
{
    uint64_t rng = seed ^ ((uint64_t)round * 0xD1B54A32D192ED03ull);
    uint64_t next_version = ((uint64_t)round + 1) << 20;
    uint64_t next_nonce = ((uint64_t)round + 1) << 24;
    char path[128], err[256], line[LINE_MAX_];
    snprintf(path, sizeof(path), "%s/disk", g_dir);
    struct ls_open_opts oo = {0};
    oo.checkpoint_bytes = fd_below(&rng, 2) ? (2u << 20) : 0; /* auto checkpoints too */
    struct ls *ls = NULL;
    int rc = ls_open(path, &oo, &ls, err, sizeof(err));
    if (rc)
        child_fail(fd, err, rc);
    write_line(fd, "R\n");
    uint8_t *buf[4];
    for (int i = 0; i < 4; i++)
        buf[i] = malloc(LS_BLOCK_MAX);
    for (int k = 0; k < MAX_OPS; k++) {
        struct ls_stats st;
        struct op o;
        rc = ls_stats(ls, &st);
        if (rc)
            child_fail(fd, "ls_stats", rc);
        if (st.free_segments < 20) {
            memset(&o, 0, sizeof(o));
            o.kind = 'K';
        } else {
            child_pick(m, &rng, &next_version, &next_nonce, &o);
        }
        op_format(&o, line, sizeof(line));
        write_line(fd, line);
        rc = exec_op(ls, &o, buf);
        if (rc < 0) {
            snprintf(err, sizeof(err), "op %c chunk %d part %d version %" PRIu64, o.kind, o.c, o.p,
                     o.version);
            child_fail(fd, err, rc);
        }
        model_apply(m, &o);
        write_line(fd, "D\n");
    }
    write_line(fd, "Z\n");
    /* Wait for the SIGKILL; the parent never lets us go. */
    for (;;)
        pause();
}

/* ---- the parent's check --------------------------------------------------- */

/* Read one block and compare with the expected write (x) or error (want_err when !x). */
static int expect_read(struct ls *ls, int c, int p, uint64_t rv, int b, const struct blk *x,
                       ssize_t want_err, uint8_t *buf, uint8_t *exp, char *why, size_t whylen)
{
    uint64_t ch = chunk_id(c);
    ssize_t n = ls_read(ls, ch, (uint16_t)p, rv, (uint32_t)b, buf, LS_BLOCK_MAX);
    char d[200] = "";
    if (n > 0)
        fd_describe_payload(buf, n, d, sizeof(d));
    if (x) {
        fd_fill_payload(exp, ch, (uint16_t)p, x->version, (uint32_t)b, x->nonce, x->len);
        if (n == (ssize_t)x->len && memcmp(buf, exp, x->len) == 0)
            return 0;
        snprintf(why, whylen,
                 "part %d/%d block %d (read version %" PRIu64 "): expected %u bytes of version "
                 "%" PRIu64 " nonce %" PRIu64 "; got %zd (%s) %s",
                 c, p, b, rv, x->len, x->version, x->nonce, n, n < 0 ? ls_strerror((int)n) : "data",
                 d);
        return -1;
    }
    if (n == want_err)
        return 0;
    snprintf(why, whylen,
             "part %d/%d block %d (read version %" PRIu64 "): expected %zd (%s), nothing "
             "acknowledged; got %zd (%s) %s",
             c, p, b, rv, want_err, ls_strerror((int)want_err), n,
             n < 0 ? ls_strerror((int)n) : "data", d);
    return -1;
}

/*
 * Compare one part of the store with a candidate model part. The committed
 * state must match exactly. Each pending version of the candidate must be
 * either dropped entirely (-ESTALE, what logstore.h promises for recovery)
 * or kept exactly (its blocks over the committed ones); *out receives the
 * part as found. Returns 0 or -1 with the first difference in why.
 */
static int check_part(struct ls *ls, int c, int p, const struct part_m *e, struct part_m *out,
                      uint8_t *buf, uint8_t *exp, char *why, size_t whylen)
{
    uint64_t ch = chunk_id(c);
    *out = *e;
    out->npend = 0;
    for (int b = 0; b < NBLK; b++) {
        const struct blk *x = e->exists && e->tab[b].present ? &e->tab[b] : NULL;
        if (expect_read(ls, c, p, 0, b, x, e->exists ? -ENODATA : -ENOENT, buf, exp, why, whylen))
            return -1;
        if (e->exists && expect_read(ls, c, p, e->version, b, x, -ENODATA, buf, exp, why, whylen))
            return -1;
    }
    for (int i = 0; i < e->npend; i++) {
        const struct pend *pd = &e->pend[i];
        ssize_t n = ls_read(ls, ch, (uint16_t)p, pd->version, 0, buf, LS_BLOCK_MAX);
        /* Dropped: no such version, or no such part when nothing else was left of it. */
        int dropped = n == -ESTALE || (n == -ENOENT && !e->exists);
        for (int b = 0; b < NBLK; b++) {
            const struct blk *x = pd->tab[b].present               ? &pd->tab[b]
                                  : e->exists && e->tab[b].present ? &e->tab[b]
                                                                   : NULL;
            if (dropped)
                x = NULL;
            if (expect_read(ls, c, p, pd->version, b, x, dropped ? n : -ENODATA, buf, exp, why,
                            whylen)) {
                size_t l = strlen(why);
                snprintf(why + l, whylen - l, " [pending version %" PRIu64 " %s]", pd->version,
                         dropped ? "dropped" : "kept");
                return -1;
            }
        }
        if (!dropped)
            out->pend[out->npend++] = *pd;
    }

    struct ls_part_info pi;
    int rc = ls_part_stat(ls, ch, (uint16_t)p, &pi);
    if (!e->exists && !out->npend) {
        if (rc != -ENOENT) {
            snprintf(why, whylen,
                     "part %d/%d: expected absent (-ENOENT), ls_part_stat gave %d (%s), "
                     "version %" PRIu64 " committed %d npending %u",
                     c, p, rc, ls_strerror(rc), rc == 0 ? pi.version : 0,
                     rc == 0 ? pi.committed : 0, rc == 0 ? pi.npending : 0);
            return -1;
        }
        return 0;
    }
    uint32_t nb = 0;
    uint64_t bytes = 0;
    for (int b = 0; b < NBLK; b++)
        if (e->exists && e->tab[b].present) {
            nb++;
            bytes += e->tab[b].len;
        }
    if (rc != 0) {
        snprintf(why, whylen,
                 "part %d/%d: expected it (version %" PRIu64 "), ls_part_stat: %d (%s)", c, p,
                 e->version, rc, ls_strerror(rc));
        return -1;
    }
    if (pi.committed != e->exists ||
        (e->exists && (pi.version != e->version || pi.size != e->size || pi.nblocks != nb ||
                       pi.stored_bytes != bytes)) ||
        pi.npending != (uint32_t)out->npend || (out->npend && pi.pending_max != pend_max(out))) {
        snprintf(why, whylen,
                 "part %d/%d: expected committed %d version %" PRIu64 " size %" PRIu64
                 " nblocks %u bytes %" PRIu64 " npending %d pending_max %" PRIu64
                 "; got committed %d version %" PRIu64 " size %" PRIu64 " nblocks %u bytes %" PRIu64
                 " npending %u pending_max %" PRIu64,
                 c, p, e->exists, e->version, e->size, nb, bytes, out->npend, pend_max(out),
                 pi.committed, pi.version, pi.size, pi.nblocks, pi.stored_bytes, pi.npending,
                 pi.pending_max);
        return -1;
    }
    return 0;
}

struct list_ctx {
    const struct model *m;
    int n;
    char why[512];
};

static int list_cb(const struct ls_part_info *pi, void *arg)
{
    struct list_ctx *lc = arg;
    lc->n++;
    uint64_t c = pi->chunk - CHUNK_BASE;
    if (pi->chunk < CHUNK_BASE || c >= NCHUNK || pi->part >= NPART) {
        snprintf(lc->why, sizeof(lc->why), "ls_list_parts: unknown part %" PRIx64 "/%u listed",
                 pi->chunk, pi->part);
        return 1;
    }
    const struct part_m *pm = &lc->m->p[c][pi->part];
    int ok =
        pm->exists ? pi->committed && pi->version == pm->version : !pi->committed && pm->npend > 0;
    if (!ok || pi->npending != (uint32_t)pm->npend) {
        snprintf(lc->why, sizeof(lc->why),
                 "ls_list_parts: part %" PRIu64 "/%u listed with committed %d version %" PRIu64
                 " npending %u; model: committed %d version %" PRIu64 " npending %d",
                 c, pi->part, pi->committed, pi->version, pi->npending, pm->exists, pm->version,
                 pm->npend);
        return 1;
    }
    return 0;
}

/*
 * Check every part of a reopened store against the model and resolve the
 * in-flight op (the model then holds what the store has). `round` labels
 * failures.
 */
static void check_store(struct ls *ls, struct model *m, const struct op *inflight,
                        int have_inflight, int round, uint8_t *buf, uint8_t *exp)
{
    char why[768], why1[768], why2[768];
    int rc;
    struct model *alt = malloc(sizeof(*alt));
    for (int c = 0; c < NCHUNK; c++) {
        for (int p = 0; p < NPART; p++) {
            struct part_m found;
            if (check_part(ls, c, p, &m->p[c][p], &found, buf, exp, why, sizeof(why)) == 0) {
                m->p[c][p] = found;
                continue;
            }
            /*
             * The in-flight op may have become durable: a commit or delete
             * whole, a batch of blocks whole or a prefix of it (recovery cuts
             * a torn tail group at its first bad record, format.md).
             */
            int on_part = have_inflight && inflight->c == c && inflight->p == p &&
                          (inflight->kind == 'W' || inflight->kind == 'C' || inflight->kind == 'X');
            int fits = 0;
            for (int k = on_part ? (inflight->kind == 'W' ? inflight->n : 1) : 0; k > 0 && !fits;
                 k--) {
                struct op part_op = *inflight;
                if (part_op.kind == 'W')
                    part_op.n = k;
                *alt = *m;
                model_apply(alt, &part_op);
                fits = check_part(ls, c, p, &alt->p[c][p], &found, buf, exp,
                                  k == (inflight->kind == 'W' ? inflight->n : 1) ? why1 : why2,
                                  sizeof(why1)) == 0;
            }
            if (fits) {
                m->p[c][p] = found;
                continue;
            }
            if (on_part)
                cr_assert_fail("round %d: part %d/%d fits neither state (in-flight op %c "
                               "version %" PRIu64 ").\n  without it: %s\n  with it: %s",
                               round, c, p, inflight->kind, inflight->version, why, why1);
            cr_assert_fail("round %d: %s (in-flight op: %c on %d/%d)", round, why,
                           have_inflight ? inflight->kind : '-', have_inflight ? inflight->c : -1,
                           have_inflight ? inflight->p : -1);
        }
    }
    free(alt);

    struct list_ctx lc = {.m = m, .n = 0};
    rc = ls_list_parts(ls, list_cb, &lc);
    cr_assert_geq(rc, 0, "round %d: %s", round, lc.why);
    int want = 0;
    for (int c = 0; c < NCHUNK; c++)
        for (int p = 0; p < NPART; p++)
            want += m->p[c][p].exists || m->p[c][p].npend;
    cr_assert_eq(lc.n, want, "round %d: ls_list_parts listed %d parts, model has %d", round, lc.n,
                 want);
}

/* Reopen the disk after a SIGKILL and check it. */
static void parent_check(struct model *m, const struct op *inflight, int have_inflight, int round,
                         int read_only, uint8_t *buf, uint8_t *exp)
{
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/disk", g_dir);
    struct ls_open_opts oo = {0};
    oo.read_only = read_only;
    struct ls *ls = NULL;
    int rc = ls_open(path, &oo, &ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "round %d: reopen after SIGKILL failed: %d (%s): %s", round, rc,
                 ls_strerror(rc), err);
    check_store(ls, m, inflight, have_inflight, round, buf, exp);
    rc = ls_close(ls);
    cr_assert_eq(rc, 0, "round %d: ls_close: %d (%s)", round, rc, ls_strerror(rc));
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void crash_fini(void)
{
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
        g_child = -1;
    }
    if (g_dir[0])
        nftw(g_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* SIGKILL at random moments never loses an acknowledged op and never serves anything else. */
Test(crash, sigkill_rounds, .fini = crash_fini)
{
    uint64_t seed = fd_test_seed("crash.sigkill_rounds");
    uint64_t rng = seed;
    int rounds = 200;
    const char *env = getenv("CAIRN_CRASH_ROUNDS");
    if (env && *env)
        rounds = atoi(env);

    snprintf(g_dir, sizeof(g_dir), "/tmp/cairn-crash-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/disk", g_dir);
    struct ls_format_opts fo = {0};
    fo.size = DISK_BYTES;
    fo.segment_bytes = SEG_BYTES;
    int rc = ls_format(path, &fo, err, sizeof(err));
    cr_assert_eq(rc, 0, "ls_format: %d (%s): %s", rc, ls_strerror(rc), err);

    struct model *m = calloc(1, sizeof(*m));
    uint8_t *buf = malloc(LS_BLOCK_MAX), *exp = malloc(LS_BLOCK_MAX);
    int killed_early = 0, total_acks = 0, kills_in[256] = {0};
    double t0 = fd_now_ms();

    for (int round = 0; round < rounds; round++) {
        int pfd[2];
        cr_assert_eq(pipe(pfd), 0);
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(pfd[0]);
            child_run(pfd[1], m, seed, round);
            _exit(0);
        }
        g_child = pid;
        close(pfd[1]);

        /* When to kill: mostly after K acks plus a random delay, sometimes early. */
        int early = fd_below(&rng, 8) == 0;
        int kill_after = 1 + (int)fd_below(&rng, 24);
        double start = fd_now_ms();
        double deadline = early ? start + (double)fd_below(&rng, 4000) / 1000.0 : 0;
        int killed = 0, eof = 0, acks = 0;
        char lbuf[8192];
        size_t lfill = 0;
        struct op inflight;
        int have_inflight = 0;
        char child_err[LINE_MAX_] = "";

        while (!eof) {
            double now = fd_now_ms();
            cr_assert_lt(now - start, 20000.0, "round %d: child made no progress for 20 s", round);
            if (!killed && deadline > 0 && now >= deadline) {
                kill(pid, SIGKILL);
                killed = 1;
            }
            int timeout = 100;
            if (!killed && deadline > 0) {
                double left = deadline - now;
                timeout = left < 0 ? 0 : (int)left + 1;
                if (timeout > 100)
                    timeout = 100;
            }
            struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
            int pr = poll(&pf, 1, timeout);
            if (pr < 0 && errno == EINTR)
                continue;
            cr_assert_geq(pr, 0, "poll: %s", strerror(errno));
            if (pr == 0)
                continue;
            ssize_t r = read(pfd[0], lbuf + lfill, sizeof(lbuf) - 1 - lfill);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                eof = 1;
                break;
            }
            lfill += (size_t)r;
            lbuf[lfill] = 0;
            char *ls0 = lbuf, *nl;
            while ((nl = strchr(ls0, '\n')) != NULL) {
                *nl = 0;
                if (ls0[0] == 'B') {
                    cr_assert_eq(op_parse(ls0, &inflight), 0, "bad line from child: %s", ls0);
                    have_inflight = 1;
                } else if (ls0[0] == 'D') {
                    cr_assert(have_inflight, "D line without B");
                    model_apply(m, &inflight);
                    have_inflight = 0;
                    acks++;
                    if (!killed && !early && acks >= kill_after)
                        deadline = fd_now_ms() + (double)fd_below(&rng, 3000) / 1000.0;
                } else if (ls0[0] == 'E') {
                    snprintf(child_err, sizeof(child_err), "%.400s", ls0);
                } else if (ls0[0] == 'Z' && !killed) {
                    kill(pid, SIGKILL);
                    killed = 1;
                }
                ls0 = nl + 1;
            }
            lfill = strlen(ls0);
            memmove(lbuf, ls0, lfill);
        }
        close(pfd[0]);
        if (!killed)
            kill(pid, SIGKILL);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        g_child = -1;
        cr_assert(!child_err[0], "round %d: child failed: %s", round, child_err);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: child ended with status %#x, not by our SIGKILL", round, status);
        killed_early += acks == 0;
        if (have_inflight)
            kills_in[(unsigned char)inflight.kind]++;
        total_acks += acks;
        parent_check(m, &inflight, have_inflight, round, round % 2, buf, exp);
    }
    fprintf(stderr,
            "crash.sigkill_rounds: %d rounds, %d acknowledged ops, %d kills before the first "
            "ack; kills during: write %d, commit %d, delete %d, compaction %d, checkpoint %d; "
            "%.1f s\n",
            rounds, total_acks, killed_early, kills_in['W'], kills_in['C'], kills_in['X'],
            kills_in['K'], kills_in['P'], (fd_now_ms() - t0) / 1000.0);
    free(m);
    free(buf);
    free(exp);
}

/* ---- contract of recovery for uncommitted versions ------------------------ */

/* logstore.h promises "an uncommitted version is dropped on recovery": after a crash it is gone. */
Test(crash, uncommitted_dropped_at_recovery)
{
    struct ls_dev *dev;
    char err[256];
    cr_assert_eq(ls_dev_open_mem(DISK_BYTES, NULL, 0, &dev), 0);
    struct ls_format_opts fo = {.segment_bytes = SEG_BYTES};
    cr_assert_eq(ls_format_dev(dev, &fo, err, sizeof(err)), 0, "%s", err);
    struct ls_open_opts oo = {.checkpoint_bytes = 1ull << 50};
    struct ls *ls;
    cr_assert_eq(ls_open_dev(dev, &oo, &ls, err, sizeof(err)), 0, "%s", err);
    uint8_t *a = malloc(LS_BLOCK_MAX), *b = malloc(LS_BLOCK_MAX), *got = malloc(LS_BLOCK_MAX);
    fd_fill_payload(a, 77, 1, 1, 0, 1, 5000);
    fd_fill_payload(b, 77, 1, 2, 0, 2, 6000);
    cr_assert_eq(ls_append(ls, 77, 1, 1, 0, a, 5000), 0);
    cr_assert_eq(ls_commit(ls, 77, 1, 1, LS_BLOCK_MAX), 0);
    cr_assert_eq(ls_append(ls, 77, 1, 2, 0, b, 6000), 0); /* acknowledged, never committed */
    struct ls_dev *img;
    cr_assert_eq(ls_dev_open_mem(DISK_BYTES, ls_dev_mem_data(dev), DISK_BYTES, &img), 0);
    ls_close(ls);

    cr_assert_eq(ls_open_dev(img, &oo, &ls, err, sizeof(err)), 0, "%s", err);
    ssize_t n = ls_read(ls, 77, 1, 0, 0, got, LS_BLOCK_MAX);
    cr_assert(n == 5000 && memcmp(got, a, 5000) == 0, "committed block: got %zd", n);
    struct ls_part_info pi;
    cr_assert_eq(ls_part_stat(ls, 77, 1, &pi), 0);
    n = ls_read(ls, 77, 1, 2, 0, got, LS_BLOCK_MAX);
    ls_close(ls); /* before asserting: keep LeakSanitizer quiet on failure */
    free(a);
    free(b);
    free(got);
    cr_assert(pi.npending == 0 && n == -ESTALE,
              "uncommitted version 2 survived recovery: npending %u pending_max %" PRIu64
              ", read of version 2 gave %zd (%s)",
              pi.npending, pi.pending_max, n, n < 0 ? ls_strerror((int)n) : "its data");
}

/* ---- faultdev: sticky errors, short writes, power loss -------------------- */

struct fenv {
    struct ls_dev *mem; /* lower device, ours unless handed to a store */
    struct faultdev *ctl;
    struct ls *ls;
    struct model m;
    uint64_t rng, next_version, next_nonce;
    uint8_t *bufs[4];
    uint8_t *buf, *exp;
};

static void fenv_init(struct fenv *e, uint64_t seed)
{
    memset(e, 0, sizeof(*e));
    e->rng = seed;
    e->next_version = 1;
    e->next_nonce = 1;
    for (int i = 0; i < 4; i++)
        e->bufs[i] = malloc(LS_BLOCK_MAX);
    e->buf = malloc(LS_BLOCK_MAX);
    e->exp = malloc(LS_BLOCK_MAX);
}

static void fenv_release(struct fenv *e)
{
    for (int i = 0; i < 4; i++)
        free(e->bufs[i]);
    free(e->buf);
    free(e->exp);
}

/* Open a store on faultdev(mem). */
static void fenv_open(struct fenv *e, int own_mem)
{
    char err[256];
    struct ls_dev *d = faultdev_wrap(e->mem, own_mem, &e->ctl);
    cr_assert_not_null(d);
    struct ls_open_opts oo = {0};
    int rc = ls_open_dev(d, &oo, &e->ls, err, sizeof(err));
    cr_assert_eq(rc, 0, "open: %d (%s): %s", rc, ls_strerror(rc), err);
}

/* One random acknowledged op (or a compaction when space runs low). */
static int fenv_step(struct fenv *e, struct op *o)
{
    struct ls_stats st;
    int rc = ls_stats(e->ls, &st);
    cr_assert_eq(rc, 0);
    if (st.free_segments < 20) {
        memset(o, 0, sizeof(*o));
        o->kind = 'K';
    } else {
        child_pick(&e->m, &e->rng, &e->next_version, &e->next_nonce, o);
    }
    rc = exec_op(e->ls, o, e->bufs);
    if (rc >= 0)
        model_apply(&e->m, o);
    return rc;
}

/* A new write of version next_version to part 0/0, block 0. */
static struct op fresh_write(struct fenv *e)
{
    struct op o = {.kind = 'W', .c = 0, .p = 0, .version = e->next_version++, .n = 2};
    o.block[0] = 0;
    o.block[1] = 1;
    o.nonce[0] = e->next_nonce++;
    o.nonce[1] = e->next_nonce++;
    o.len[0] = 9000;
    o.len[1] = 300;
    return o;
}

/* A failed/torn write or sync makes the store sticky-broken; reads work; reopen has all acked. */
/*
 * Kinds: write EIO, write ENOSPC, sync EIO, torn write. The call fails,
 * later writes, commits, deletes get LS_EBROKEN, a checkpoint fails, reads
 * still work, and a reopen has everything acknowledged and accepts writes.
 */
Test(faults, sticky_error_state)
{
    static const char *kinds[] = {"write EIO", "write ENOSPC", "sync EIO", "torn write"};
    uint64_t seed = fd_test_seed("faults.sticky_error_state");
    for (int k = 0; k < 4; k++) {
        struct fenv e;
        fenv_init(&e, seed + (uint64_t)k);
        char err[256];
        cr_assert_eq(ls_dev_open_mem(DISK_BYTES, NULL, 0, &e.mem), 0);
        struct ls_format_opts fo = {.segment_bytes = SEG_BYTES};
        cr_assert_eq(ls_format_dev(e.mem, &fo, err, sizeof(err)), 0, "%s", err);
        fenv_open(&e, 0);
        for (int i = 0; i < 40; i++) {
            struct op o;
            int rc = fenv_step(&e, &o);
            cr_assert_geq(rc, 0, "%s: op %d (%c) before the fault: %d (%s)", kinds[k], i, o.kind,
                          rc, ls_strerror(rc));
        }
        switch (k) {
        case 0:
            faultdev_fail_write(e.ctl, 1, -EIO);
            break;
        case 1:
            faultdev_fail_write(e.ctl, 1, -ENOSPC);
            break;
        case 2:
            faultdev_fail_sync(e.ctl, 1, -EIO);
            break;
        case 3:
            faultdev_tear_write(e.ctl, 1, LS_PAGE + 100);
            break;
        }
        struct op failed = fresh_write(&e);
        int rc = exec_op(e.ls, &failed, e.bufs);
        cr_assert_lt(rc, 0, "%s: the write went through the fault and returned %d", kinds[k], rc);
        struct ls_stats st;
        cr_assert_eq(ls_stats(e.ls, &st), 0);
        cr_assert_neq(st.broken, 0, "%s: stats.broken is 0 after a failed write", kinds[k]);
        struct op more = fresh_write(&e);
        rc = exec_op(e.ls, &more, e.bufs);
        cr_assert_eq(rc, LS_EBROKEN, "%s: a write after the failure: want LS_EBROKEN, got %d (%s)",
                     kinds[k], rc, ls_strerror(rc));
        rc = ls_commit(e.ls, chunk_id(0), 0, failed.version, LS_BLOCK_MAX);
        cr_assert_eq(rc, LS_EBROKEN, "%s: commit after the failure: %d (%s)", kinds[k], rc,
                     ls_strerror(rc));
        rc = ls_delete(e.ls, chunk_id(1), 1, 1ull << 40);
        cr_assert_eq(rc, LS_EBROKEN, "%s: delete after the failure: %d (%s)", kinds[k], rc,
                     ls_strerror(rc));
        cr_assert_lt(ls_checkpoint(e.ls), 0, "%s: checkpoint of a broken store succeeded",
                     kinds[k]);
        /* Reads still work and are exact (the failed write may or may not show). */
        struct model live = e.m;
        check_store(e.ls, &live, &failed, 1, k, e.buf, e.exp);
        ls_close(e.ls);
        faultdev_free(e.ctl);

        /* Reopen the same bytes without faults: everything acknowledged is there. */
        struct ls_open_opts oo = {0};
        rc = ls_open_dev(e.mem, &oo, &e.ls, err, sizeof(err));
        cr_assert_eq(rc, 0, "%s: reopen: %d (%s): %s", kinds[k], rc, ls_strerror(rc), err);
        check_store(e.ls, &e.m, &failed, 1, k, e.buf, e.exp);
        struct op after = fresh_write(&e);
        rc = exec_op(e.ls, &after, e.bufs);
        cr_assert_eq(rc, 0, "%s: write after reopen: %d (%s)", kinds[k], rc, ls_strerror(rc));
        ls_close(e.ls);
        fenv_release(&e);
    }
}

/* Short writes (a page-aligned prefix accepted) are continued: nothing fails, nothing is lost. */
Test(faults, short_writes)
{
    struct fenv e;
    fenv_init(&e, fd_test_seed("faults.short_writes"));
    char err[256];
    cr_assert_eq(ls_dev_open_mem(DISK_BYTES, NULL, 0, &e.mem), 0);
    struct ls_format_opts fo = {.segment_bytes = SEG_BYTES};
    cr_assert_eq(ls_format_dev(e.mem, &fo, err, sizeof(err)), 0, "%s", err);
    fenv_open(&e, 0);
    faultdev_short_writes(e.ctl, 3);
    for (int i = 0; i < 300; i++) {
        struct op o;
        int rc = fenv_step(&e, &o);
        cr_assert_geq(rc, 0, "op %d (%c) with short writes: %d (%s)", i, o.kind, rc,
                      ls_strerror(rc));
    }
    struct faultdev_counts fc;
    faultdev_counts(e.ctl, &fc);
    cr_assert_gt(fc.short_writes, 10, "only %" PRIu64 " short writes happened", fc.short_writes);
    check_store(e.ls, &e.m, NULL, 0, 0, e.buf, e.exp);
    cr_assert_eq(ls_close(e.ls), 0);
    faultdev_free(e.ctl);
    struct ls_open_opts oo = {0};
    cr_assert_eq(ls_open_dev(e.mem, &oo, &e.ls, err, sizeof(err)), 0, "%s", err);
    check_store(e.ls, &e.m, NULL, 0, 1, e.buf, e.exp);
    ls_close(e.ls);
    fenv_release(&e);
}

/* Power cuts that drop random unsynced pages lose nothing acknowledged and serve nothing else. */
/*
 * Writes since the last sync are kept in an overlay and a cut (during a
 * write, before a sync, or during open) persists a random subset of those
 * pages, some torn; state carries over from cut to cut.
 */
Test(faults, power_loss)
{
    uint64_t seed = fd_test_seed("faults.power_loss");
    struct fenv e;
    fenv_init(&e, seed);
    char err[256];
    cr_assert_eq(ls_dev_open_mem(DISK_BYTES, NULL, 0, &e.mem), 0);
    struct ls_format_opts fo = {.segment_bytes = SEG_BYTES};
    cr_assert_eq(ls_format_dev(e.mem, &fo, err, sizeof(err)), 0, "%s", err);
#if defined(__SANITIZE_ADDRESS__)
    int cuts = 25;
#else
    int cuts = 80;
#endif
    const char *env = getenv("CAIRN_CRASH_ROUNDS");
    if (env && *env)
        cuts = atoi(env);
    struct op inflight;
    int have_inflight = 0, total_ops = 0;
    uint8_t *img = NULL;
    for (int cut = 0; cut <= cuts; cut++) {
        if (img) {
            cr_assert_eq(ls_dev_open_mem(DISK_BYTES, img, DISK_BYTES, &e.mem), 0);
            free(img);
            img = NULL;
        }
        struct ls_dev *d = faultdev_wrap(e.mem, 1, &e.ctl);
        faultdev_set_power_loss(e.ctl, 1);
        uint64_t cseed = fd_rand(&e.rng);
        int during_open = cut > 0 && cut < cuts && fd_below(&e.rng, 6) == 0;
        if (during_open)
            faultdev_crash_at(e.ctl, 1 + fd_below(&e.rng, 3), 0, cseed, 0.5);
        struct ls_open_opts oo = {0};
        oo.checkpoint_bytes = fd_below(&e.rng, 2) ? (1u << 20) : 0;
        int rc = ls_open_dev(d, &oo, &e.ls, err, sizeof(err));
        if (rc != 0) {
            cr_assert(during_open, "cut %d: open failed: %d (%s): %s", cut, rc, ls_strerror(rc),
                      err);
            size_t len;
            img = faultdev_take_crash_image(e.ctl, &len);
            cr_assert_not_null(img, "cut %d: open failed but no power cut happened", cut);
            faultdev_free(e.ctl);
            continue;
        }
        check_store(e.ls, &e.m, &inflight, have_inflight, cut, e.buf, e.exp);
        have_inflight = 0;
        if (cut == cuts) {
            ls_close(e.ls);
            faultdev_free(e.ctl);
            break;
        }
        if (!during_open) {
            if (fd_below(&e.rng, 2))
                faultdev_crash_at(e.ctl, 1 + fd_below(&e.rng, 40), 0, cseed, 0.5);
            else
                faultdev_crash_at(e.ctl, 0, 1 + fd_below(&e.rng, 20), cseed, 0.5);
        }
        for (int i = 0; i < 400; i++) {
            struct op o;
            rc = fenv_step(&e, &o);
            if (rc < 0) {
                inflight = o;
                have_inflight = 1;
                break;
            }
            total_ops++;
        }
        size_t len;
        img = faultdev_take_crash_image(e.ctl, &len);
        cr_assert_not_null(img, "cut %d: ops stopped (in-flight %c: %d) without a power cut", cut,
                           have_inflight ? inflight.kind : '-', rc);
        ls_close(e.ls);
        faultdev_free(e.ctl);
    }
    free(img);
    fprintf(stderr, "faults.power_loss: %d cuts, %d acknowledged ops\n", cuts, total_ops);
    fenv_release(&e);
}
