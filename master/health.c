/*
 * health.c - the health loop (DESIGN.md "Master"): keeps every chunk at its
 * goal by itself. MooseFS calls it the chunk loop, Ceph recovery/backfill.
 *
 * Each tick scans a slice of the chunk table (SCAN_BATCH chunks from a
 * cursor) and classifies every chunk by its parts of the committed version:
 *   valid    - on a server online or unreachable-within-grace (it may come back);
 *   leaving  - valid, but on a disk or server marked for removal;
 *   keep     - valid and not leaving: what redundancy will be once drains end.
 * and files work into the next pass's queues:
 *   repair[s] - fewer valid copies than the goal; s = valid - 1 failures to
 *               spare. Lower s first: a chunk one failure from loss goes
 *               before one with two to spare.
 *   drain     - enough valid copies, but fewer than the goal outside leaving
 *               disks: copy first, the leaving copy is deleted afterwards.
 *   delete    - more copies online than the goal, or a leaving copy no
 *               longer needed: delete the surplus.
 * When a pass ends, its queues replace the ones being worked on. Entries are
 * hints: a chunk is evaluated again when its turn comes (its parts may have
 * moved meanwhile), so a stale entry costs one lookup, never a wrong copy.
 *
 * Decisions a reader must know:
 *  - A copy is done by the target chunkserver (CS_CMD_COPY_PART), which
 *    pulls the part from a source; the master moves no data. The new part
 *    counts as soon as the target answers.
 *  - Nothing is ever deleted that would leave fewer than `goal` current
 *    copies on online servers: drains and moves copy first.
 *  - Parts of a version other than the committed one are deleted (no write
 *    in progress), unless they are all that is left of the chunk.
 *  - After the master starts, repair and lost reports wait HEALTH_START_MS
 *    for the chunkservers to register; before that every chunk looks lost.
 *  - Limits: SERVER_JOBS copies per server as source and as target;
 *    SERVER_RATE_MBPS per server; REPAIR_RATE_MBPS for repair and drain
 *    together, which a chunk one failure from loss ignores; REBALANCE_RATE_MBPS
 *    for rebalancing. Token buckets are charged a copy's bytes when it starts.
 *  - Rebalance plans a round of moves from the fullest disk to the servers
 *    whose emptiest disk is least used, with projected usage, when some disk
 *    is more than BALANCE_BAND points from the mean, until the fullest and
 *    the emptiest disk are within half the band of it;
 *    it runs only when nothing needs repair or draining, and a new round
 *    waits until the last one's effects show in the heartbeats.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "ec.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD "health"

#define SCAN_BATCH      50000u /* chunks per tick */
#define QUEUE_MAX       200000u
#define NSPARE          16u
#define COPY_TIMEOUT_MS 600000u
#define RATE_SLOTS      10u /* seconds of throughput history */
#define LOST_MAX        1000u
#define LOST_PATHS      20u /* lost chunks whose path is looked up per pass */
#define ROUND_MOVES     512u
#define MIB             (1024.0 * 1024.0)

enum job_kind { JOB_REPAIR, JOB_DRAIN, JOB_MOVE, JOB_REBUILD, JOB_CONVERT };

#define CONVERT_MAX 4u  /* conversions in flight */
#define CONVERT_IDS 64u /* chunk ids reserved at a time for conversions */

struct queue {
    uint64_t *v;
    size_t n, cap, head;
};

struct lost {
    uint64_t chunk, ino;
    uint64_t pass; /* the last pass that found it lost */
    uint32_t index;
    char *path; /* NULL until looked up */
};

struct job {
    struct master *M;
    struct job *prev, *next;
    enum job_kind kind;
    uint64_t chunk, version, bytes, start_ms;
    uint16_t part;
    struct cs_server *src, *dst;
    int detached; /* the health loop went away: free on reply, touch nothing */
    /* JOB_CONVERT: the coded chunk being written, and part i's server;
     * decode: copies=ncopies written from the ec=k+m chunk, one per target */
    uint64_t new_chunk;
    uint8_t k, m;
    int decode;
    unsigned ncopies;
    struct cs_server *targets[EC_PARTS_MAX];
};

struct move {
    uint64_t chunk;
    struct cs_server *from, *to;
};

struct health {
    struct master *M;
    int stopping;
    uint64_t last_scan_ms, last_tick_ms;
    /* the pass being scanned */
    uint64_t cursor;
    struct queue next_repair[NSPARE], next_drain, next_delete, next_convert;
    uint64_t next_bytes_to_repair, next_lost;
    /* the queues being worked on (from the last complete pass) */
    struct queue repair[NSPARE], drain, del, convert;
    uint64_t conv_id_next, conv_id_end; /* reserved chunk ids left for conversions */
    uint64_t converts_done, converts_failed;
    uint64_t bytes_to_repair, nlost_pass;
    uint64_t passes;
    /* rebalance */
    struct move *moves;
    size_t nmoves, capmoves, movehead;
    uint64_t last_move_done_ms;
    int balanced;
    int kick;    /* something changed (a server lost or back, a mark): pass now */
    int working; /* inside work(): no recursion from a reply */
    /* copies in flight */
    struct job *jobs;
    unsigned njobs;
    /* token buckets (bytes) */
    double repair_tokens, rebalance_tokens;
    /* lost chunks */
    struct lost *lost;
    size_t nlost;
    unsigned paths_this_pass;
    /* statistics */
    uint64_t copies_done, copies_failed, bytes_copied, deletes_done, moves_done;
    uint64_t slot_bytes[RATE_SLOTS];
    uint64_t slot_sec;
};

static void delete_surplus(struct health *H, const struct meta_chunk *c);
static void work(struct health *H, uint64_t now_ms);

/* ---- small containers ------------------------------------------------------------ */

static void q_push(struct queue *q, uint64_t v)
{
    if (q->n - q->head >= QUEUE_MAX)
        return; /* the next pass finds it again */
    if (q->n == q->cap) {
        if (q->head > q->cap / 2) { /* slide the live part to the front */
            memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof(*q->v));
            q->n -= q->head;
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 256;
            q->v = cn_xrealloc(q->v, q->cap * sizeof(*q->v));
        }
    }
    q->v[q->n++] = v;
}

static size_t q_len(const struct queue *q)
{
    return q->n - q->head;
}

static void q_clear(struct queue *q)
{
    q->n = q->head = 0;
}

static void q_free(struct queue *q)
{
    free(q->v);
    memset(q, 0, sizeof(*q));
}

/* Move the scanned pass's queue into the working one. */
static void q_swap(struct queue *work, struct queue *next)
{
    struct queue t = *work;
    *work = *next;
    *next = t;
    q_clear(next);
}

static int job_on_chunk(const struct health *H, uint64_t chunk)
{
    for (const struct job *j = H->jobs; j; j = j->next)
        if (j->chunk == chunk)
            return 1;
    return 0;
}

/* ---- classification ---------------------------------------------------------------- */

struct eval {
    unsigned valid, keep, online_keep, online_leaving, online, misplaced;
};

/* A coded chunk to decode: its state wants copies, or a codable other
 * ec=K'+M' (reached through copies=M'+1, then encoded). */
static int decode_wanted(const struct chunk_goal *g)
{
    if (!g->ec)
        return 0;
    if (g->target.kind == CN_LAYOUT_COPIES)
        return g->target.k >= 1 && g->target.k <= CN_CONVERT_COPIES_MAX;
    return g->target.kind == CN_LAYOUT_EC &&
           (g->target.k != g->layout.k || g->target.m != g->layout.m) &&
           class_layout_codable(&g->target, NULL, 0) == 0;
}

/* A part that must go: on a disk or server marked for removal, outside
 * the labels of the chunk's class, or a copy too many in its zone (zone_mark)
 * (misplaced: it counts as readable, and is replaced by a part in the right
 * place before it is deleted). */
static int loc_away(const struct chunk_goal *g, const struct cs_loc *l)
{
    if (cs_loc_leaving(l) || !class_loc_home(g, l->srv, l->disk))
        return 1;
    for (unsigned i = 0; i < g->nzone_away; i++)
        if (g->zone_away[i] == l->srv)
            return 1;
    return 0;
}

static int server_writable(const struct cs_server *s);
static int holds_chunk(const struct cs_chunk_locs *e, const struct cs_server *s);

/* Copies or EC parts placed before the zones allowed the rule (a zone
 * added later, a zone label added): the parts past the zone's cap, in
 * location order, are marked away in g, so the health loop makes a copy in
 * a zone with room and then deletes them, like misplaced parts. Only when
 * such a zone has a writable server that may take the chunk: otherwise the
 * crowded copies stay (no copy and delete back and forth). */
static void zone_mark(struct master *M, struct chunk_goal *g, const struct cs_chunk_locs *e,
                      uint64_t version)
{
    g->nzone_away = 0;
    if (!e)
        return;
    unsigned cap = placement_zone_cap(g, placement_zones(M));
    const struct cs_loc *stay[ZONE_AWAY_MAX * 4];
    unsigned nstay = 0;
    for (uint32_t i = 0; i < e->n && nstay < ZONE_AWAY_MAX * 4; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version == version && cs_loc_state(l) == CS_ONLINE && !cs_loc_leaving(l) &&
            class_loc_home(g, l->srv, l->disk))
            stay[nstay++] = l;
    }
    const struct cs_server *away[ZONE_AWAY_MAX];
    unsigned naway = 0;
    for (unsigned i = 0; i < nstay && naway < ZONE_AWAY_MAX; i++) {
        unsigned before = 0;
        for (unsigned j = 0; j < i; j++)
            before += placement_same_zone(stay[j]->srv, stay[i]->srv);
        if (before >= cap)
            away[naway++] = stay[i]->srv;
    }
    if (!naway)
        return;
    /* enough copies in their right zones already: only deletes follow */
    struct cs_registry *reg = &M->reg;
    int room = nstay - naway >= g->copies;
    for (size_t i = 0; i < reg->nservers && !room; i++) {
        const struct cs_server *s = reg->servers[i];
        if (!server_writable(s) || holds_chunk(e, s) || !class_server_ok(g, 0, s))
            continue;
        unsigned load = 0;
        for (unsigned j = 0; j < nstay; j++)
            load += placement_same_zone(stay[j]->srv, s);
        room = load < cap;
    }
    if (!room)
        return;
    for (unsigned i = 0; i < naway; i++)
        g->zone_away[i] = away[i];
    g->nzone_away = naway;
}

static void evaluate(const struct chunk_goal *g, const struct cs_chunk_locs *e, uint64_t version,
                     struct eval *ev)
{
    memset(ev, 0, sizeof(*ev));
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version != version || cs_loc_state(l) == CS_LOST)
            continue;
        int online = cs_loc_state(l) == CS_ONLINE;
        int leaving = loc_away(g, l);
        ev->misplaced += leaving && !cs_loc_leaving(l);
        ev->valid++;
        ev->online += online;
        if (!leaving) {
            ev->keep++;
            ev->online_keep += online;
        } else {
            ev->online_leaving += online;
        }
    }
}

/* An EC chunk's parts are not interchangeable: count the distinct part
 * indices that are readable (valid) and online, and the online parts that
 * repeat an index already held (left behind by a move). */
static void ec_count(const struct chunk_goal *g, const struct cs_chunk_locs *e, uint64_t version,
                     unsigned *valid, unsigned *online, unsigned *dups)
{
    uint64_t v = 0, o = 0;
    unsigned np = (unsigned)g->layout.k + g->layout.m;
    *dups = 0;
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version != version || cs_loc_state(l) == CS_LOST || l->part >= np)
            continue;
        uint64_t bit = 1ull << l->part;
        if (cs_loc_state(l) == CS_ONLINE) {
            *dups += (o & bit) != 0;
            o |= bit;
        }
        v |= bit;
    }
    *valid = (unsigned)__builtin_popcountll(v);
    *online = (unsigned)__builtin_popcountll(o);
}

/* The part indices of an EC chunk held somewhere they may stay (not on a
 * leaving disk or server, inside the labels, within the zone cap). */
static uint64_t ec_home(const struct chunk_goal *g, const struct cs_chunk_locs *e, uint64_t version)
{
    uint64_t h = 0;
    unsigned np = (unsigned)g->layout.k + g->layout.m;
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version == version && cs_loc_state(l) != CS_LOST && l->part < np && !loc_away(g, l))
            h |= 1ull << l->part;
    }
    return h;
}

static int lease_live(const struct meta_chunk *c, int64_t now_wall)
{
    return c->lease == META_LEASE_WRITE && c->lease_expiry_ms > now_wall;
}

/* More copies online than the goal, or a leaving copy no longer needed. */
static int has_surplus(const struct eval *ev, unsigned goal)
{
    return ev->online_keep > goal || (ev->online_keep >= goal && ev->online_leaving);
}

/* Load chunk `id` if the loop may act on it now: it has committed data
 * (of `version`, when not 0), no live write lease and no copy running. */
static int chunk_ready(struct health *H, uint64_t id, uint64_t version, struct meta_chunk *c)
{
    return meta_chunk_get(H->M->meta, id, c) == 0 && c->committed_version &&
           (!version || c->committed_version == version) && !lease_live(c, cn_wall_ms()) &&
           !job_on_chunk(H, id);
}

/* Delete parts of another version than the committed one on online servers,
 * when a current copy exists (nothing of the chunk would be lost). */
static void drop_stale(struct master *M, const struct meta_chunk *c, const struct eval *ev)
{
    if (!ev->online)
        return;
    struct cs_chunk_locs *e = cs_locs_get(M, c->id);
    for (uint32_t i = 0; e && i < e->n;) {
        struct cs_loc l = e->v[i];
        if (l.version != c->committed_version && cs_loc_state(&l) == CS_ONLINE) {
            cn_log_info(MOD, "chunk %016llx: deleting version %llu on %s (current %llu)",
                        (unsigned long long)c->id, (unsigned long long)l.version, l.srv->name,
                        (unsigned long long)c->committed_version);
            cs_delete_part(M, l.srv, c->id, l.version, l.part);
            e = cs_locs_get(M, c->id); /* the entry may be gone */
            i = 0;
            continue;
        }
        i++;
    }
}

static int lost_find(const struct health *H, uint64_t chunk)
{
    for (size_t i = 0; i < H->nlost; i++)
        if (H->lost[i].chunk == chunk)
            return (int)i;
    return -1;
}

static void lost_forget(struct health *H, uint64_t chunk)
{
    int i = lost_find(H, chunk);
    if (i < 0)
        return;
    free(H->lost[i].path);
    H->lost[i] = H->lost[--H->nlost];
    cn_log_info(MOD, "chunk %016llx is readable again", (unsigned long long)chunk);
}

static void lost_note(struct health *H, const struct meta_chunk *c)
{
    struct master *M = H->M;
    int i = lost_find(H, c->id);
    if (i >= 0) {
        H->lost[i].pass = H->passes;
        return;
    }
    if (H->nlost >= LOST_MAX)
        return;
    struct lost *l = &H->lost[H->nlost++];
    memset(l, 0, sizeof(*l));
    l->pass = H->passes;
    l->chunk = c->id;
    l->ino = c->ino;
    l->index = c->index;
    if (H->paths_this_pass < LOST_PATHS) {
        char path[4096];
        H->paths_this_pass++;
        if (meta_ino_path(M->meta, c->ino, path, sizeof(path)) == 0)
            l->path = cn_xstrdup(path);
    }
    cn_log_error(MOD,
                 "LOST: chunk %016llx (file %s, inode %llu, chunk index %u, bytes %llu-%llu): no "
                 "copy of version %llu is left on any chunkserver",
                 (unsigned long long)c->id, l->path ? l->path : "(path not looked up)",
                 (unsigned long long)c->ino, c->index,
                 (unsigned long long)c->index * META_CHUNK_SIZE,
                 (unsigned long long)c->index * META_CHUNK_SIZE + c->length,
                 (unsigned long long)c->committed_version);
}

struct scan_ctx {
    struct health *H;
    int64_t now_wall;
    int active; /* past HEALTH_START_MS */
    unsigned left;
    uint64_t last_id;
};

static int scan_fn(void *ctx, const struct meta_chunk *c)
{
    struct scan_ctx *x = ctx;
    struct health *H = x->H;
    struct master *M = H->M;
    x->last_id = c->id;
    if (x->left-- == 0)
        return 1;
    if (!c->committed_version || lease_live(c, x->now_wall) || job_on_chunk(H, c->id) ||
        snapshot_cow_source(M, c->id))
        return 0; /* ... or its parts are being made from a snapshot's (snapshot_serv.c) */
    struct eval ev;
    struct chunk_goal g;
    class_goal(M, c, 0, &g);
    unsigned goal = g.copies;
    struct cs_chunk_locs *e = cs_locs_get(M, c->id);
    zone_mark(M, &g, e, c->committed_version);
    evaluate(&g, e, c->committed_version, &ev);
    /* EC: P distinct readable parts of K + M, P - K failures to spare */
    unsigned ec_valid = 0, ec_online = 0, ec_dups = 0;
    if (g.ec)
        ec_count(&g, e, c->committed_version, &ec_valid, &ec_online, &ec_dups);
    if (g.ec ? ec_valid < g.layout.k : ev.valid == 0) {
        if (x->active) {
            H->next_lost++;
            lost_note(H, c);
        }
        return 0;
    }
    if (H->nlost)
        lost_forget(H, c->id);
    if (x->active)
        drop_stale(M, c, &ev);
    if (g.ec) {
        /* a missing part is rebuilt by a chunkserver from K others; the
         * fewest parts to spare first, as for copies */
        unsigned home = (unsigned)__builtin_popcountll(ec_home(&g, e, c->committed_version));
        if (ec_valid < goal) {
            H->next_bytes_to_repair += (c->length / g.layout.k + 1) * (goal - ec_valid);
            unsigned spare = ec_valid - g.layout.k;
            q_push(&H->next_repair[spare < NSPARE ? spare : NSPARE - 1], c->id);
        } else if (home < goal) {
            /* a part only on a leaving disk or server, outside its labels
             * or in a crowded zone: copied to its place, then deleted */
            H->next_bytes_to_repair += (c->length / g.layout.k + 1) * (goal - home);
            q_push(&H->next_drain, c->id);
        } else if (ec_dups) {
            q_push(&H->next_delete, c->id);
        } else if (x->active && decode_wanted(&g) && meta_chunk_shared(M->meta, c->id) == 0) {
            q_push(&H->next_convert, c->id); /* its state wants copies, or another K+M */
        }
        return 0;
    }
    /* a replicated chunk whose state wants ec=K+M is written anew coded */
    if (x->active && g.target.kind == CN_LAYOUT_EC && ev.online &&
        class_layout_codable(&g.target, NULL, 0) == 0 && meta_chunk_shared(M->meta, c->id) == 0)
        q_push(&H->next_convert, c->id);
    if (ev.keep < goal) {
        H->next_bytes_to_repair += (uint64_t)c->length * (goal - ev.keep);
        if (ev.valid < goal) {
            unsigned spare = ev.valid - 1 < NSPARE ? ev.valid - 1 : NSPARE - 1;
            q_push(&H->next_repair[spare], c->id);
        } else {
            q_push(&H->next_drain, c->id);
        }
    } else if (has_surplus(&ev, goal)) {
        q_push(&H->next_delete, c->id);
    }
    return 0;
}

static void scan_step(struct health *H, uint64_t now_ms)
{
    struct master *M = H->M;
    struct scan_ctx x = {H, cn_wall_ms(),
                         now_ms - M->started_ms >= (uint64_t)M->cfg.health_start_ms, SCAN_BATCH, 0};
    int rc = meta_chunk_iter(M->meta, H->cursor, scan_fn, &x);
    if (rc < 0) {
        cn_log_error(MOD, "chunk scan: %s", meta_strerror(rc));
        return;
    }
    if (rc == 1) { /* batch full: continue from the chunk that did not fit */
        H->cursor = x.last_id;
        return;
    }
    /* the pass is complete: lost chunks it did not find again (their file
     * went away) are forgotten; its queues become the work */
    for (size_t i = 0; i < H->nlost;) {
        if (H->lost[i].pass != H->passes) {
            free(H->lost[i].path);
            H->lost[i] = H->lost[--H->nlost];
        } else {
            i++;
        }
    }
    for (unsigned s = 0; s < NSPARE; s++)
        q_swap(&H->repair[s], &H->next_repair[s]);
    q_swap(&H->drain, &H->next_drain);
    q_swap(&H->del, &H->next_delete);
    q_swap(&H->convert, &H->next_convert);
    H->bytes_to_repair = H->next_bytes_to_repair;
    H->nlost_pass = H->next_lost;
    H->next_bytes_to_repair = H->next_lost = 0;
    H->cursor = 0;
    H->passes++;
    H->paths_this_pass = 0;
    H->last_scan_ms = now_ms;
}

/* ---- limits --------------------------------------------------------------------- */

static double rate_bps(int64_t mbps)
{
    return (double)mbps * 1000.0 * 1000.0;
}

static void refill(double *tokens, int64_t mbps, double dt)
{
    if (mbps <= 0) {
        *tokens = 0;
        return;
    }
    double cap = rate_bps(mbps) > 64 * MIB ? rate_bps(mbps) : 64 * MIB;
    *tokens += rate_bps(mbps) * dt;
    if (*tokens > cap)
        *tokens = cap;
}

static int server_can(const struct master *M, const struct cs_server *s, int as_src)
{
    if (s->state != CS_ONLINE || !s->conn)
        return 0;
    unsigned jobs = as_src ? s->src_jobs : s->dst_jobs;
    if (jobs >= (unsigned)M->cfg.server_jobs)
        return 0;
    if (M->cfg.server_rate_mbps > 0 && (as_src ? s->src_tokens : s->dst_tokens) < 0)
        return 0;
    return 1;
}

/* A server new parts may go to: online, not leaving, with a writable disk. */
static int server_writable(const struct cs_server *s)
{
    if (s->state != CS_ONLINE || s->marked)
        return 0;
    for (uint32_t k = 0; k < s->ndisks; k++)
        if (s->disks[k].state == 0 && !s->disks[k].marked && s->disks[k].free > 0)
            return 1;
    return 0;
}

static uint64_t writable_free(const struct cs_server *s)
{
    uint64_t f = 0;
    for (uint32_t k = 0; k < s->ndisks; k++)
        if (s->disks[k].state == 0 && !s->disks[k].marked)
            f += s->disks[k].free;
    return f;
}

static int holds_chunk(const struct cs_chunk_locs *e, const struct cs_server *s)
{
    for (uint32_t i = 0; e && i < e->n; i++)
        if (e->v[i].srv == s)
            return 1;
    return 0;
}

struct target_ctx {
    const struct cs_chunk_locs *e;
    uint64_t bytes;
    const struct chunk_goal *g; /* labels; NULL: any */
    unsigned part;
    unsigned cap;     /* parts per zone (placement.c); 0: no zone rule */
    uint64_t version; /* the chunk's committed version (zone_load) */
    int busy_ok;      /* 1: servers without a free job slot count too */
};

/* Parts of the chunk that stay (current version, online, not leaving) in
 * s's zone: a copy about to be deleted does not hold its zone's place. */
static unsigned zone_load(const struct cs_chunk_locs *e, uint64_t version,
                          const struct cs_server *s)
{
    unsigned n = 0;
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        n += l->version == version && cs_loc_state(l) == CS_ONLINE && !cs_loc_leaving(l) &&
             placement_same_zone(l->srv, s);
    }
    return n;
}

static int target_ok(struct master *M, const struct cs_server *s, void *ctx)
{
    const struct target_ctx *t = ctx;
    return server_writable(s) && (t->busy_ok || server_can(M, s, 0)) && !holds_chunk(t->e, s) &&
           writable_free(s) > t->bytes && (!t->g || class_server_ok(t->g, t->part, s)) &&
           (!t->cap || zone_load(t->e, t->version, s) < t->cap);
}

/* A target for a new copy, weighted by writable free space (placement.c),
 * where goal g's labels allow part `part` (any_labels: anywhere, the loose
 * fallback) and the zone rule holds. Only when no writable server at all
 * keeps the zone rule (busy or not) does the copy go to a zone that has its
 * share already: a server that is busy now must not turn into a lasting
 * zone violation. */
static struct cs_server *pick_target(struct master *M, const struct cs_chunk_locs *e,
                                     uint64_t version, uint64_t bytes, const struct chunk_goal *g,
                                     unsigned part, int any_labels)
{
    struct target_ctx t = {.e = e,
                           .bytes = bytes,
                           .g = any_labels ? NULL : g,
                           .part = part,
                           .cap = placement_zone_cap(g, placement_zones(M)),
                           .version = version};
    struct cs_server *s = placement_draw(M, target_ok, &t, writable_free);
    if (s || !t.cap)
        return s;
    t.busy_ok = 1;
    if (placement_draw(M, target_ok, &t, writable_free))
        return NULL; /* a zone server will have a slot later */
    t.busy_ok = 0;
    t.cap = 0;
    return placement_draw(M, target_ok, &t, writable_free);
}

/* A source: a current copy on an online server with a free job slot;
 * random among them, so a failing source is not retried forever. */
static const struct cs_loc *pick_source(struct master *M, const struct cs_chunk_locs *e,
                                        uint64_t version)
{
    const struct cs_loc *c[16];
    unsigned n = 0;
    for (uint32_t i = 0; e && i < e->n && n < 16; i++)
        if (e->v[i].version == version && server_can(M, e->v[i].srv, 1))
            c[n++] = &e->v[i];
    return n ? c[placement_rand(M) % n] : NULL;
}

/* ---- copies ---------------------------------------------------------------------- */

static void rate_account(struct health *H, uint64_t bytes)
{
    uint64_t sec = cn_now_ms() / 1000;
    if (sec != H->slot_sec) {
        for (uint64_t s = H->slot_sec + 1; s <= sec && s <= H->slot_sec + RATE_SLOTS; s++)
            H->slot_bytes[s % RATE_SLOTS] = 0;
        H->slot_sec = sec;
    }
    H->slot_bytes[sec % RATE_SLOTS] += bytes;
}

static double bytes_per_sec(struct health *H)
{
    rate_account(H, 0); /* age the slots */
    uint64_t sum = 0;
    for (unsigned i = 0; i < RATE_SLOTS; i++)
        if (i != H->slot_sec % RATE_SLOTS) /* the current second is partial */
            sum += H->slot_bytes[i];
    return (double)sum / (RATE_SLOTS - 1);
}

static void job_unlink(struct health *H, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        H->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    H->njobs--;
    j->src->src_jobs--;
    j->dst->dst_jobs--;
}

/* A job whose command was sent: listed, its servers' job slots taken, and
 * `charge` bytes taken from their token buckets (SERVER_RATE_MBPS). */
static void job_link(struct health *H, struct job *j, uint64_t charge)
{
    j->next = H->jobs;
    if (H->jobs)
        H->jobs->prev = j;
    H->jobs = j;
    H->njobs++;
    j->src->src_jobs++;
    j->dst->dst_jobs++;
    j->src->src_tokens -= (double)charge;
    j->dst->dst_tokens -= (double)charge;
}

static const char *kind_name(enum job_kind k)
{
    return k == JOB_REPAIR    ? "repair"
           : k == JOB_DRAIN   ? "drain"
           : k == JOB_MOVE    ? "move"
           : k == JOB_REBUILD ? "rebuild"
                              : "conversion";
}

/* After a successful move: delete the copy the move was for, if the chunk
 * still has more than its goal online without it. */
static void finish_move(struct health *H, const struct job *j)
{
    struct master *M = H->M;
    struct cs_server *from = j->src;
    struct meta_chunk c;
    if (!chunk_ready(H, j->chunk, j->version, &c))
        return;
    struct cs_chunk_locs *e = cs_locs_get(M, j->chunk);
    struct eval ev;
    struct chunk_goal g;
    class_goal(M, &c, 0, &g);
    zone_mark(M, &g, e, c.committed_version);
    evaluate(&g, e, c.committed_version, &ev);
    if (ev.online_keep <= g.copies)
        return;
    for (uint32_t i = 0; e && i < e->n; i++)
        if (e->v[i].srv == from && e->v[i].version == c.committed_version &&
            cs_loc_state(&e->v[i]) == CS_ONLINE) {
            cs_delete_part(M, from, j->chunk, c.committed_version, e->v[i].part);
            H->deletes_done++;
            return;
        }
}

static void on_copy_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                          const uint8_t *payload, void *ud)
{
    struct job *j = ud;
    (void)c;
    if (j->detached) {
        free(j);
        return;
    }
    struct master *M = j->M;
    struct health *H = M->health;
    job_unlink(H, j);
    uint64_t ms = cn_now_ms() - j->start_ms;
    if (status == 0) {
        H->copies_done++;
        H->bytes_copied += j->bytes;
        rate_account(H, j->bytes);
        /* counts now; the target's heartbeat fills in the disk */
        cs_loc_set(M, j->chunk, j->dst, j->part, 0xFFFF, j->version);
        cn_log_info(MOD, "%s of chunk %016llx v%llu: %s -> %s, %llu bytes in %llu ms",
                    kind_name(j->kind), (unsigned long long)j->chunk,
                    (unsigned long long)j->version, j->src->name, j->dst->name,
                    (unsigned long long)j->bytes, (unsigned long long)ms);
        if (j->kind == JOB_MOVE) {
            H->moves_done++;
            H->last_move_done_ms = cn_now_ms();
            finish_move(H, j);
        } else {
            /* a drained chunk's leaving copy can go now */
            struct meta_chunk mc;
            if (chunk_ready(H, j->chunk, j->version, &mc))
                delete_surplus(H, &mc);
        }
    } else {
        char text[256] = "";
        struct cn_error er;
        if (h && payload && cn_msg_decode(CN_MSG_ERROR, payload, h->len, &er) == 0)
            snprintf(text, sizeof(text), ": %.*s", (int)er.text.len, er.text.ptr);
        H->copies_failed++;
        cn_log_warn(MOD, "%s of chunk %016llx v%llu from %s to %s failed after %llu ms: %s%s",
                    kind_name(j->kind), (unsigned long long)j->chunk,
                    (unsigned long long)j->version, j->src->name, j->dst->name,
                    (unsigned long long)ms, cn_strerror(status), text);
        if (j->kind == JOB_MOVE)
            H->last_move_done_ms = cn_now_ms();
    }
    free(j);
    work(H, cn_now_ms());
}

static int start_copy(struct health *H, enum job_kind kind, const struct meta_chunk *c,
                      const struct cs_loc *src, struct cs_server *dst)
{
    struct master *M = H->M;
    struct cs_server *from = src->srv;
    struct chunk_goal g;
    class_goal(M, c, 0, &g);
    uint64_t size = c->length; /* a copy; an EC part is shorter */
    if (g.ec) {
        struct ec_layout el = {EC_LAYOUT_RS, 0, g.layout.k, g.layout.m};
        if (ec_geom_part_size(&el, c->length, src->part, &size))
            return -EINVAL;
    }
    struct cn_cs_copy_part m = {
        c->id, c->committed_version, src->part, cn_str_of(from->addr), src->part, size, g.wflags};
    struct job *j = cn_xcalloc(1, sizeof(*j));
    j->M = M;
    j->kind = kind;
    j->chunk = c->id;
    j->version = c->committed_version;
    j->bytes = size;
    j->part = src->part;
    j->src = from;
    j->dst = dst;
    j->start_ms = cn_now_ms();
    int rc =
        cn_conn_call(dst->conn, CN_MSG_CS_CMD_COPY_PART, &m, COPY_TIMEOUT_MS, on_copy_reply, j);
    if (rc) {
        free(j);
        return rc;
    }
    job_link(H, j, c->length);
    cn_log_debug(MOD, "%s chunk %016llx v%llu: %s -> %s", kind_name(kind),
                 (unsigned long long)c->id, (unsigned long long)c->committed_version, from->name,
                 dst->name);
    return 0;
}

/* ---- working the queues -------------------------------------------------------------- */

enum outcome { DONE, NOT_NOW };

/* Delete the surplus of one chunk: leaving copies first, then those on the
 * fullest disks, never going below the goal online. */
static void delete_surplus(struct health *H, const struct meta_chunk *c)
{
    struct master *M = H->M;
    struct chunk_goal g;
    class_goal(M, c, 0, &g);
    unsigned goal = g.copies;
    if (g.ec) {
        /* one online part per index: the others of an index go, leaving or
         * misplaced ones first */
        struct cs_chunk_locs *e = cs_locs_get(M, c->id);
        zone_mark(M, &g, e, c->committed_version);
        unsigned np = (unsigned)g.layout.k + g.layout.m;
        for (unsigned p = 0; e && p < np; p++) {
            const struct cs_loc *keep = NULL;
            for (uint32_t i = 0; i < e->n; i++) {
                const struct cs_loc *l = &e->v[i];
                if (l->part != p || l->version != c->committed_version ||
                    cs_loc_state(l) != CS_ONLINE)
                    continue;
                if (!keep || (loc_away(&g, keep) && !loc_away(&g, l)))
                    keep = l;
            }
            for (uint32_t i = 0; keep && i < e->n;) {
                const struct cs_loc *l = &e->v[i];
                if (l != keep && l->part == p && l->version == c->committed_version &&
                    cs_loc_state(l) == CS_ONLINE) {
                    struct cs_server *ks = keep->srv;
                    cn_log_info(MOD, "chunk %016llx: deleting the second part %u on %s",
                                (unsigned long long)c->id, p, l->srv->name);
                    cs_delete_part(M, l->srv, c->id, c->committed_version, l->part);
                    H->deletes_done++;
                    e = cs_locs_get(M, c->id); /* the entry may have changed */
                    keep = NULL;
                    for (uint32_t j = 0; e && j < e->n; j++)
                        if (e->v[j].srv == ks && e->v[j].part == p)
                            keep = &e->v[j];
                    i = 0;
                    if (!e)
                        break;
                    continue;
                }
                i++;
            }
        }
        return;
    }
    for (;;) {
        struct cs_chunk_locs *e = cs_locs_get(M, c->id);
        struct eval ev;
        zone_mark(M, &g, e, c->committed_version);
        evaluate(&g, e, c->committed_version, &ev);
        if (!has_surplus(&ev, goal))
            return;
        const struct cs_loc *victim = NULL;
        double worst = -1;
        for (uint32_t i = 0; e && i < e->n; i++) {
            const struct cs_loc *l = &e->v[i];
            if (l->version != c->committed_version || cs_loc_state(l) != CS_ONLINE)
                continue;
            double score;
            if (loc_away(&g, l))
                score = 1000;
            else if (ev.online_keep > goal && l->disk < l->srv->ndisks &&
                     l->srv->disks[l->disk].total)
                score = (double)l->srv->disks[l->disk].used / (double)l->srv->disks[l->disk].total;
            else if (ev.online_keep > goal)
                score = 0;
            else
                continue;
            if (score > worst) {
                worst = score;
                victim = l;
            }
        }
        if (!victim)
            return;
        cn_log_info(MOD, "chunk %016llx: deleting the %s copy on %s", (unsigned long long)c->id,
                    cs_loc_leaving(victim) ? "leaving"
                    : loc_away(&g, victim) ? "misplaced"
                                           : "surplus",
                    victim->srv->name);
        cs_delete_part(M, victim->srv, c->id, c->committed_version, victim->part);
        H->deletes_done++;
    }
}

/* A coded chunk missing a part: the first missing index is rebuilt on a
 * server holding no part of the chunk (and allowed by the labels for that
 * part), which decodes it from the online parts (CS_CMD_REBUILD_PART). */
static int start_copy(struct health *H, enum job_kind kind, const struct meta_chunk *c,
                      const struct cs_loc *src, struct cs_server *dst);

/* Every index is readable, but part p only where it may not stay: copy it
 * (CS_CMD_COPY_PART, same index) to a server where it may; delete_surplus
 * drops the old one once the new one is reported. */
static enum outcome ec_move(struct health *H, const struct meta_chunk *c,
                            const struct chunk_goal *g, const struct cs_chunk_locs *e,
                            enum job_kind kind)
{
    struct master *M = H->M;
    unsigned np = (unsigned)g->layout.k + g->layout.m;
    uint64_t home = ec_home(g, e, c->committed_version);
    for (unsigned p = 0; p < np; p++) {
        if (home >> p & 1)
            continue;
        const struct cs_loc *src = NULL;
        for (uint32_t i = 0; e && i < e->n; i++) {
            const struct cs_loc *l = &e->v[i];
            if (l->part == p && l->version == c->committed_version &&
                cs_loc_state(l) == CS_ONLINE && server_can(M, l->srv, 1))
                src = l;
        }
        if (!src)
            continue;
        uint64_t part_bytes = c->length / g->layout.k + EC_BLOCK_SIZE;
        struct cs_server *dst = pick_target(M, e, c->committed_version, part_bytes, g, p, 0);
        if (!dst)
            continue;
        if (start_copy(H, kind, c, src, dst))
            return NOT_NOW;
        cn_log_info(MOD, "chunk %016llx: moving part %u from %s to %s (%s)",
                    (unsigned long long)c->id, p, src->srv->name, dst->name,
                    cs_loc_leaving(src) ? "leaving" : "misplaced");
        return DONE;
    }
    return DONE;
}

static enum outcome ec_rebuild(struct health *H, const struct meta_chunk *c,
                               const struct chunk_goal *g0, int urgent, enum job_kind kind)
{
    struct chunk_goal zg = *g0, *g = &zg;
    zone_mark(H->M, g, cs_locs_get(H->M, c->id), c->committed_version);
    struct master *M = H->M;
    unsigned k = g->layout.k, np = (unsigned)g->layout.k + g->layout.m;
    struct cs_chunk_locs *e = cs_locs_get(M, c->id);
    uint64_t valid = 0;
    struct cn_cs_src srcs[EC_PARTS_MAX];
    struct cs_server *first = NULL;
    uint32_t nsrc = 0;
    for (uint32_t i = 0; e && i < e->n; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version != c->committed_version || cs_loc_state(l) == CS_LOST || l->part >= np)
            continue;
        if (cs_loc_state(l) == CS_ONLINE && !(valid >> l->part & 1) && nsrc < EC_PARTS_MAX) {
            srcs[nsrc].addr = cn_str_of(l->srv->addr);
            srcs[nsrc].part = l->part;
            if (!first || l->srv->src_jobs < first->src_jobs)
                first = l->srv;
            nsrc++;
        }
        valid |= 1ull << l->part;
    }
    unsigned missing = np;
    for (unsigned p = 0; p < np && missing == np; p++)
        if (!(valid >> p & 1))
            missing = p;
    if (missing == np) {
        if ((unsigned)__builtin_popcountll(ec_home(g, e, c->committed_version)) < np)
            return ec_move(H, c, g, e, kind);
        delete_surplus(H, c);
        return DONE;
    }
    if (nsrc < k)
        return nsrc ? NOT_NOW : DONE; /* lost for now: waits for parts to come back */
    if (!urgent && M->cfg.repair_rate_mbps > 0 && H->repair_tokens < 0)
        return NOT_NOW;
    if (!server_can(M, first, 1))
        return NOT_NOW;
    uint64_t part_bytes = c->length / k + EC_BLOCK_SIZE;
    struct cs_server *dst = pick_target(M, e, c->committed_version, part_bytes, g, missing, 0);
    if (!dst && g->mode == CN_MODE_LOOSE)
        dst = pick_target(M, e, c->committed_version, part_bytes, g, missing, 1);
    if (!dst)
        return NOT_NOW;
    struct cn_cs_rebuild_part m = {c->id,
                                   c->committed_version,
                                   (uint16_t)missing,
                                   (uint8_t)k,
                                   g->layout.m,
                                   c->length,
                                   srcs,
                                   nsrc,
                                   g->wflags};
    struct job *j = cn_xcalloc(1, sizeof(*j));
    j->M = M;
    j->kind = JOB_REBUILD;
    j->chunk = c->id;
    j->version = c->committed_version;
    j->bytes = part_bytes;
    j->part = (uint16_t)missing;
    j->src = first;
    j->dst = dst;
    j->start_ms = cn_now_ms();
    if (cn_conn_call(dst->conn, CN_MSG_CS_CMD_REBUILD_PART, &m, COPY_TIMEOUT_MS, on_copy_reply,
                     j)) {
        free(j);
        return NOT_NOW;
    }
    job_link(H, j, part_bytes);
    if (!urgent)
        H->repair_tokens -= (double)part_bytes;
    cn_log_info(MOD, "rebuild chunk %016llx v%llu part %u (ec=%u+%u) on %s from %u parts",
                (unsigned long long)c->id, (unsigned long long)c->committed_version, missing, k,
                g->layout.m, dst->name, nsrc);
    return DONE;
}

/* ---- conversion copies -> ec=K+M ------------------------------------------------------
 * A replicated chunk whose class state wants ec=K+M is written anew as a
 * coded chunk with its own id by a chunkserver (CS_CMD_CONVERT: it reads a
 * copy, encodes, writes the K + M parts to their servers and commits them);
 * then, in one turn, the file's map switches to the new chunk and the old
 * one is freed (its copies deleted after the commit). Ids are reserved in a
 * committed turn before any part is written under them. A write to the
 * chunk meanwhile, a failure or a master restart discards the new parts
 * (the copies stay as they were); the next pass tries again. */

int health_converting(struct master *M, uint64_t chunk)
{
    struct health *H = M->health;
    for (const struct job *j = H ? H->jobs : NULL; j; j = j->next)
        if (j->kind == JOB_CONVERT && j->new_chunk == chunk)
            return 1;
    return 0;
}

/* Servers the conversion writes to, and the part each holds. */
static unsigned convert_ntargets(const struct job *j)
{
    return j->decode ? j->ncopies : (unsigned)j->k + j->m;
}

static void convert_discard(struct master *M, const struct job *j)
{
    for (unsigned p = 0; p < convert_ntargets(j); p++)
        if (j->targets[p]->state == CS_ONLINE)
            cs_delete_part(M, j->targets[p], j->new_chunk, 1, j->decode ? 0 : (uint16_t)p);
}

/* "ec=4+2", or "copies=2" for a decode */
static const char *convert_layout(const struct job *j, char *buf, size_t len)
{
    if (j->decode)
        snprintf(buf, len, "copies=%u", j->ncopies);
    else
        snprintf(buf, len, "ec=%u+%u", j->k, j->m);
    return buf;
}

static void on_convert_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                             const uint8_t *payload, void *ud)
{
    struct job *j = ud;
    (void)c;
    if (j->detached) {
        free(j);
        return;
    }
    struct master *M = j->M;
    struct health *H = M->health;
    job_unlink(H, j);
    uint64_t ms = cn_now_ms() - j->start_ms;
    int rc = status;
    char text[256] = "";
    if (rc && h && payload) {
        struct cn_error er;
        if (cn_msg_decode(CN_MSG_ERROR, payload, h->len, &er) == 0)
            snprintf(text, sizeof(text), ": %.*s", (int)er.text.len, er.text.ptr);
    }
    if (rc == 0 && (rc = turn_begin(M)) == 0) {
        uint8_t layout[3] = {CN_LAYOUT_EC, j->k, j->m};
        if (j->decode) {
            layout[0] = CN_LAYOUT_COPIES;
            layout[1] = (uint8_t)j->ncopies;
            layout[2] = 0;
        }
        rc =
            meta_chunk_convert(M->meta, j->chunk, j->version, j->new_chunk, layout, &M->turn.freed);
    }
    if (rc == 0) {
        for (unsigned p = 0; p < convert_ntargets(j); p++)
            cs_loc_set(M, j->new_chunk, j->targets[p], j->decode ? 0 : (uint16_t)p, 0xFFFF, 1);
        H->converts_done++;
        rate_account(H, j->bytes);
        char d[32];
        cn_log_info(MOD, "converted chunk %016llx v%llu to %016llx (%s) on %s..., %llu ms",
                    (unsigned long long)j->chunk, (unsigned long long)j->version,
                    (unsigned long long)j->new_chunk, convert_layout(j, d, sizeof(d)), j->dst->name,
                    (unsigned long long)ms);
    } else {
        H->converts_failed++;
        convert_discard(M, j);
        cn_log_warn(MOD, "conversion of chunk %016llx v%llu to %016llx failed after %llu ms: %s%s",
                    (unsigned long long)j->chunk, (unsigned long long)j->version,
                    (unsigned long long)j->new_chunk, (unsigned long long)ms, cn_strerror(rc),
                    text);
    }
    free(j);
    work(H, cn_now_ms());
}

static enum outcome start_convert(struct health *H, uint64_t id)
{
    struct master *M = H->M;
    struct meta_chunk c;
    struct chunk_goal g;
    if (!chunk_ready(H, id, 0, &c))
        return DONE;
    class_goal(M, &c, 0, &g);
    /* copies -> ec=K+M (encode), or ec=K+M -> copies (decode) */
    int decode = decode_wanted(&g);
    if ((!decode &&
         (g.ec || g.target.kind != CN_LAYOUT_EC || class_layout_codable(&g.target, NULL, 0))) ||
        meta_chunk_shared(M->meta, c.id) != 0)
        return DONE;
    /* decode: N copies, or M'+1 on the way to another ec=K'+M' (the next
     * pass encodes those; the same failures survived meanwhile) */
    unsigned nt = !decode                             ? (unsigned)g.target.k + g.target.m
                  : g.target.kind == CN_LAYOUT_COPIES ? g.target.k
                                                      : (unsigned)g.target.m + 1;
    if (decode && (nt < 1 || nt > CN_CONVERT_COPIES_MAX))
        return DONE;
    struct cn_cs_src srcs[EC_PARTS_MAX + 8], tgts[EC_PARTS_MAX];
    struct cs_server *src = NULL;
    uint32_t nsrc = 0;
    struct cs_chunk_locs *e = cs_locs_get(M, c.id);
    for (uint32_t i = 0; e && i < e->n && nsrc < EC_PARTS_MAX + 8; i++) {
        const struct cs_loc *l = &e->v[i];
        if (l->version != c.committed_version || cs_loc_state(l) != CS_ONLINE)
            continue;
        srcs[nsrc].addr = cn_str_of(l->srv->addr);
        srcs[nsrc++].part = l->part;
        if (!src || l->srv->src_jobs < src->src_jobs)
            src = l->srv;
    }
    if (!nsrc || (decode && nsrc < g.layout.k))
        return DONE;
    /* the servers where the target state's labels put its parts */
    struct chunk_goal tg = g;
    tg.layout = decode ? (struct cn_layout){CN_LAYOUT_COPIES, (uint8_t)nt, 0} : g.target;
    tg.ec = !decode;
    tg.copies = nt;
    struct cs_server *pick[EC_PARTS_MAX];
    if (placement_pick_goal(M, &tg, nt, pick) < nt || !server_can(M, pick[0], 0) ||
        !server_can(M, src, 1))
        return NOT_NOW;
    if (H->conv_id_next == H->conv_id_end) {
        uint64_t first, fails = M->turn.commit_failures;
        if (turn_begin(M) || meta_chunk_ids_reserve(M->meta, CONVERT_IDS, &first))
            return NOT_NOW;
        turn_end(M); /* durable before any part is written under these ids */
        if (M->turn.commit_failures != fails)
            return NOT_NOW;
        H->conv_id_next = first;
        H->conv_id_end = first + CONVERT_IDS;
    }
    struct job *j = cn_xcalloc(1, sizeof(*j));
    j->M = M;
    j->kind = JOB_CONVERT;
    j->chunk = c.id;
    j->version = c.committed_version;
    j->bytes = c.length;
    j->src = src;
    j->dst = pick[0];
    j->start_ms = cn_now_ms();
    j->new_chunk = H->conv_id_next++;
    j->decode = decode;
    j->ncopies = decode ? nt : 0;
    j->k = decode ? g.layout.k : g.target.k;
    j->m = decode ? g.layout.m : g.target.m;
    for (unsigned p = 0; p < nt; p++) {
        j->targets[p] = pick[p];
        tgts[p].addr = cn_str_of(pick[p]->addr);
        tgts[p].part = decode ? 0 : (uint16_t)p;
    }
    struct cn_cs_convert m = {
        c.id,     c.committed_version, c.length, j->new_chunk, j->k, j->m, srcs, nsrc, tgts, nt,
        g.wflags, (uint8_t)decode};
    if (cn_conn_call(pick[0]->conn, CN_MSG_CS_CMD_CONVERT, &m, COPY_TIMEOUT_MS, on_convert_reply,
                     j)) {
        free(j);
        return NOT_NOW;
    }
    job_link(H, j, 0);
    char d[32];
    cn_log_info(MOD, "converting chunk %016llx v%llu (%llu bytes) to %016llx %s on %s",
                (unsigned long long)c.id, (unsigned long long)c.committed_version,
                (unsigned long long)c.length, (unsigned long long)j->new_chunk,
                convert_layout(j, d, sizeof(d)), pick[0]->name);
    return DONE;
}

static unsigned jobs_of(const struct health *H, enum job_kind k);

/* Conversions come after repair: at most CONVERT_MAX at a time. */
static void work_converts(struct health *H)
{
    unsigned blocked = 0;
    size_t n = q_len(&H->convert);
    for (size_t i = 0; i < n && blocked < 16 && jobs_of(H, JOB_CONVERT) < CONVERT_MAX; i++) {
        uint64_t id = H->convert.v[H->convert.head++];
        if (start_convert(H, id) == NOT_NOW) {
            q_push(&H->convert, id);
            blocked++;
        }
    }
}

/* One queued chunk: re-evaluate and act. NOT_NOW when limits stop it. */
static enum outcome work_chunk(struct health *H, uint64_t id, enum job_kind kind, int urgent)
{
    struct master *M = H->M;
    struct meta_chunk c;
    if (!chunk_ready(H, id, 0, &c))
        return DONE;
    struct chunk_goal g;
    class_goal(M, &c, 0, &g);
    unsigned goal = g.copies;
    if (g.ec)
        return ec_rebuild(H, &c, &g, urgent, kind);
    struct cs_chunk_locs *e = cs_locs_get(M, id);
    zone_mark(M, &g, e, c.committed_version);
    struct eval ev;
    evaluate(&g, e, c.committed_version, &ev);
    if (ev.keep >= goal) {
        delete_surplus(H, &c);
        return DONE;
    }
    if (!urgent && M->cfg.repair_rate_mbps > 0 && H->repair_tokens < 0)
        return NOT_NOW;
    const struct cs_loc *src = pick_source(M, e, c.committed_version);
    if (!src)
        return ev.online ? NOT_NOW : DONE; /* no readable copy: waits for one */
    /* a part where the labels want it; in loose mode, when the chunk is
     * short of readable parts and no such server is there, anywhere */
    struct cs_server *dst = pick_target(M, e, c.committed_version, c.length, &g,
                                        class_missing_part(&g, e, c.committed_version), 0);
    if (!dst && g.mode == CN_MODE_LOOSE && ev.valid < goal)
        dst = pick_target(M, e, c.committed_version, c.length, &g, 0, 1);
    if (!dst)
        return NOT_NOW;
    if (start_copy(H, kind, &c, src, dst))
        return NOT_NOW;
    if (!urgent)
        H->repair_tokens -= (double)c.length;
    return DONE;
}

/* Work one queue until it is empty or too many entries in a row could not
 * start (limits): those stay queued. */
static void work_queue(struct health *H, struct queue *q, enum job_kind kind, int urgent)
{
    unsigned blocked = 0;
    size_t n = q_len(q);
    for (size_t i = 0; i < n && blocked < 64; i++) {
        uint64_t id = q->v[q->head++];
        if (work_chunk(H, id, kind, urgent) == NOT_NOW) {
            q_push(q, id); /* to the back */
            blocked++;
        } else {
            blocked = 0;
        }
    }
}

static void work_deletes(struct health *H)
{
    size_t n = q_len(&H->del);
    for (size_t i = 0; i < n && i < 4096; i++) {
        struct meta_chunk c;
        if (chunk_ready(H, H->del.v[H->del.head++], 0, &c))
            delete_surplus(H, &c);
    }
}

/* ---- rebalance ------------------------------------------------------------------------ */

struct dview {
    struct cs_server *s;
    uint32_t k;
    double used, total, free; /* projected */
};

static int disk_usable(const struct cs_server *s, const struct cs_disk_info *d)
{
    return s->state == CS_ONLINE && !cs_disk_leaving(s, d) && d->state == 0 && d->total > 0;
}

/* The disk a chunkserver writes a new part to: the most free bytes
 * (cs_disk_pick in chunkserver/disks.c); the projection must agree with it
 * or a round keeps planning moves onto a disk that never receives them. */
static struct dview *target_disk(struct dview *v, size_t n, const struct cs_server *s)
{
    struct dview *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].s == s && (!best || v[i].free > best->free))
            best = &v[i];
    return best;
}

static double min_usage(const struct dview *v, size_t n)
{
    double m = 1e9;
    for (size_t i = 0; i < n; i++)
        if (v[i].used / v[i].total < m)
            m = v[i].used / v[i].total;
    return m;
}

static void plan_round(struct health *H)
{
    struct master *M = H->M;
    struct cs_registry *g = &M->reg;
    double band = (double)M->cfg.balance_band / 100.0;
    struct dview *v = NULL;
    size_t n = 0, cap = 0;
    double su = 0, st = 0;
    for (size_t i = 0; i < g->nservers; i++) {
        struct cs_server *s = g->servers[i];
        for (uint32_t k = 0; k < s->ndisks; k++) {
            if (!disk_usable(s, &s->disks[k]))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = cn_xrealloc(v, cap * sizeof(*v));
            }
            v[n++] = (struct dview){s, k, (double)s->disks[k].used, (double)s->disks[k].total,
                                    (double)s->disks[k].free};
            su += (double)s->disks[k].used;
            st += (double)s->disks[k].total;
        }
    }
    if (n < 2 || st <= 0) {
        free(v);
        return;
    }
    double mean = su / st;
    int outside = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].used / v[i].total > mean + band || v[i].used / v[i].total < mean - band)
            outside = 1;
    H->balanced = !outside;
    if (!outside) {
        free(v);
        return;
    }
    /* source: the fullest disk; its current parts, in hash order */
    struct dview *src = &v[0];
    for (size_t i = 1; i < n; i++)
        if (v[i].used / v[i].total > src->used / src->total)
            src = &v[i];
    for (size_t b = 0; b < g->nbuckets && H->nmoves < ROUND_MOVES; b++) {
        for (struct cs_chunk_locs *e = g->buckets[b]; e && H->nmoves < ROUND_MOVES; e = e->next) {
            const struct cs_loc *l = NULL;
            for (uint32_t i = 0; i < e->n; i++)
                if (e->v[i].srv == src->s && e->v[i].disk == src->k)
                    l = &e->v[i];
            if (!l)
                continue;
            if (src->used / src->total <= mean + band / 2 && min_usage(v, n) >= mean - band / 2)
                goto done;
            struct meta_chunk c;
            if (!chunk_ready(H, e->chunk, l->version, &c))
                continue;
            /* target: the server whose write disk is least used, not holding the chunk */
            struct dview *best = NULL;
            for (size_t i = 0; i < n; i++) {
                if (v[i].s == src->s || holds_chunk(e, v[i].s) || !server_writable(v[i].s))
                    continue;
                struct dview *t = target_disk(v, n, v[i].s);
                if (t && (!best || t->used / t->total < best->used / best->total))
                    best = t;
            }
            if (!best)
                continue;
            double len = (double)c.length;
            /* only a move that narrows the spread */
            if ((src->used - len) / src->total < (best->used + len) / best->total)
                continue;
            if (best->used / best->total >= mean + band / 2)
                continue; /* this chunk's other copy sits on the emptiest server */
            if (H->nmoves == H->capmoves) {
                H->capmoves = H->capmoves ? H->capmoves * 2 : 64;
                H->moves = cn_xrealloc(H->moves, H->capmoves * sizeof(*H->moves));
            }
            H->moves[H->nmoves++] = (struct move){e->chunk, src->s, best->s};
            src->used -= len;
            best->used += len;
            best->free -= len;
        }
    }
done:
    if (H->nmoves)
        cn_log_info(MOD, "rebalance: %zu moves planned from %s:%s (%.1f%% used, mean %.1f%%)",
                    H->nmoves, src->s->name, src->s->disks[src->k].path,
                    100.0 * (double)src->s->disks[src->k].used / src->total, 100.0 * mean);
    free(v);
}

static void work_moves(struct health *H)
{
    struct master *M = H->M;
    unsigned blocked = 0;
    while (H->movehead < H->nmoves && blocked < 16) {
        if (H->rebalance_tokens < 0)
            return;
        struct move mv = H->moves[H->movehead];
        struct meta_chunk c;
        struct cs_chunk_locs *e = cs_locs_get(M, mv.chunk);
        const struct cs_loc *src = NULL;
        for (uint32_t i = 0; e && i < e->n; i++)
            if (e->v[i].srv == mv.from)
                src = &e->v[i];
        struct chunk_goal g;
        int ok = src && chunk_ready(H, mv.chunk, src->version, &c);
        if (ok)
            class_goal(M, &c, 0, &g);
        if (!ok || holds_chunk(e, mv.to) || !server_writable(mv.to) ||
            (class_loc_home(&g, src->srv, src->disk) && !class_server_ok(&g, 0, mv.to)) ||
            (!placement_same_zone(mv.from, mv.to) &&
             zone_load(e, c.committed_version, mv.to) >=
                 placement_zone_cap(&g, placement_zones(M)))) {
            H->movehead++; /* no longer valid: skip */
            continue;
        }
        if (!server_can(M, mv.from, 1) || !server_can(M, mv.to, 0)) {
            /* rotate: another move may have free servers */
            H->moves[H->movehead] = H->moves[H->nmoves - 1];
            H->moves[H->nmoves - 1] = mv;
            blocked++;
            continue;
        }
        H->movehead++;
        if (start_copy(H, JOB_MOVE, &c, src, mv.to) == 0)
            H->rebalance_tokens -= (double)c.length;
    }
    if (H->movehead >= H->nmoves)
        H->nmoves = H->movehead = 0;
}

static unsigned jobs_of(const struct health *H, enum job_kind k)
{
    unsigned n = 0;
    for (const struct job *j = H->jobs; j; j = j->next)
        n += j->kind == k;
    return n;
}

static size_t repair_backlog(const struct health *H)
{
    size_t n = q_len(&H->drain);
    for (unsigned s = 0; s < NSPARE; s++)
        n += q_len(&H->repair[s]);
    return n;
}

static void rebalance(struct health *H, uint64_t now_ms)
{
    struct master *M = H->M;
    if (M->cfg.rebalance_rate_mbps <= 0) {
        H->nmoves = H->movehead = 0;
        return;
    }
    if (repair_backlog(H) || jobs_of(H, JOB_REPAIR) || jobs_of(H, JOB_DRAIN) ||
        jobs_of(H, JOB_REBUILD) || H->nlost_pass)
        return; /* safety first */
    if (H->nmoves) {
        work_moves(H);
        return;
    }
    /* a new round once the last one shows in two heartbeats */
    if (jobs_of(H, JOB_MOVE) ||
        now_ms - H->last_move_done_ms < 2 * (uint64_t)M->cfg.heartbeat_ms + 200 ||
        now_ms - H->last_scan_ms > 2 * (uint64_t)M->cfg.health_period_ms + 1000)
        return;
    plan_round(H);
    work_moves(H);
}

/* ---- the tick --------------------------------------------------------------------------- */

/* Start what the queues and limits allow: from the tick, and at once when a
 * copy finishes (its slot is free now; waiting for the tick would idle it). */
static void work(struct health *H, uint64_t now_ms)
{
    struct master *M = H->M;
    if (H->working || H->stopping || now_ms - M->started_ms < (uint64_t)M->cfg.health_start_ms)
        return;
    H->working = 1;
    for (unsigned s = 0; s < NSPARE; s++)
        work_queue(H, &H->repair[s], JOB_REPAIR, s == 0);
    work_queue(H, &H->drain, JOB_DRAIN, 0);
    work_deletes(H);
    work_converts(H);
    rebalance(H, now_ms);
    H->working = 0;
}

void health_tick(struct master *M, uint64_t now_ms)
{
    struct health *H = M->health;
    if (!H || H->stopping)
        return;
    double dt = H->last_tick_ms ? (double)(now_ms - H->last_tick_ms) / 1000.0 : 0;
    H->last_tick_ms = now_ms;
    refill(&H->repair_tokens, M->cfg.repair_rate_mbps, dt);
    refill(&H->rebalance_tokens, M->cfg.rebalance_rate_mbps, dt);
    for (size_t i = 0; i < M->reg.nservers; i++) {
        refill(&M->reg.servers[i]->src_tokens, M->cfg.server_rate_mbps, dt);
        refill(&M->reg.servers[i]->dst_tokens, M->cfg.server_rate_mbps, dt);
    }
    /* scan: a slice per tick while a pass runs; a new pass every period,
     * or at once after a kick */
    if (H->cursor != 0 || H->kick ||
        now_ms - H->last_scan_ms >= (uint64_t)M->cfg.health_period_ms) {
        if (H->cursor == 0)
            H->kick = 0;
        scan_step(H, now_ms);
    }
    work(H, now_ms);
}

void health_kick(struct master *M)
{
    if (M->health)
        M->health->kick = 1;
}

/* ---- admin -------------------------------------------------------------------------------- */

json_t *health_json(struct master *M)
{
    struct health *H = M->health;
    if (!H)
        return json_object();
    double bps = bytes_per_sec(H);
    json_int_t eta = -1;
    if (H->bytes_to_repair == 0)
        eta = 0;
    else if (bps > 0)
        eta = (json_int_t)((double)H->bytes_to_repair / bps + 0.5);
    size_t rq = 0;
    for (unsigned s = 0; s < NSPARE; s++)
        rq += q_len(&H->repair[s]);
    uint64_t now = cn_now_ms();
    int starting = now - M->started_ms < (uint64_t)M->cfg.health_start_ms;
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:b, s:b}",
        "repair_queue", (json_int_t)rq, "endangered_queue", (json_int_t)q_len(&H->repair[0]),
        "drain_queue", (json_int_t)q_len(&H->drain), "rebalance_queue",
        (json_int_t)(H->nmoves - H->movehead), "delete_queue", (json_int_t)q_len(&H->del),
        "inflight", (json_int_t)H->njobs, "bytes_per_sec", (json_int_t)bps, "bytes_to_repair",
        (json_int_t)H->bytes_to_repair, "eta_seconds", eta, "copies_done",
        (json_int_t)H->copies_done, "copies_failed", (json_int_t)H->copies_failed, "bytes_copied",
        (json_int_t)H->bytes_copied, "deletes_done", (json_int_t)H->deletes_done, "moves_done",
        (json_int_t)H->moves_done, "passes", (json_int_t)H->passes, "lost",
        (json_int_t)H->nlost_pass, "starting", starting, "balanced", H->balanced);
    if (o) {
        json_object_set_new(o, "convert_queue", json_integer((json_int_t)q_len(&H->convert)));
        json_object_set_new(o, "converts_done", json_integer((json_int_t)H->converts_done));
        json_object_set_new(o, "converts_failed", json_integer((json_int_t)H->converts_failed));
    }
    return o;
}

json_t *health_lost_json(struct master *M)
{
    struct health *H = M->health;
    json_t *a = json_array();
    for (size_t i = 0; H && i < H->nlost; i++) {
        struct lost *l = &H->lost[i];
        char id[17];
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)l->chunk);
        if (!l->path && i < LOST_PATHS) {
            char path[4096];
            if (meta_ino_path(M->meta, l->ino, path, sizeof(path)) == 0)
                l->path = cn_xstrdup(path);
        }
        json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:s?}", "chunk", id, "ino",
                                           (json_int_t)l->ino, "index", (json_int_t)l->index,
                                           "path", l->path));
    }
    return a;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int health_init(struct master *M, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct health *H = cn_xcalloc(1, sizeof(*H));
    H->M = M;
    H->lost = cn_xcalloc(LOST_MAX, sizeof(*H->lost));
    M->health = H;
    M->started_ms = cn_now_ms();
    return 0;
}

/* Stop working; copies in flight are answered (or failed) as the
 * connections close, after which health_free() releases everything. */
void health_release(struct master *M)
{
    struct health *H = M->health;
    if (!H)
        return;
    H->stopping = 1;
    for (struct job *j = H->jobs, *n; j; j = n) {
        n = j->next;
        j->detached = 1;
    }
    H->jobs = NULL;
    H->njobs = 0;
}

void health_free(struct master *M)
{
    struct health *H = M->health;
    if (!H)
        return;
    for (unsigned s = 0; s < NSPARE; s++) {
        q_free(&H->repair[s]);
        q_free(&H->next_repair[s]);
    }
    q_free(&H->drain);
    q_free(&H->next_drain);
    q_free(&H->del);
    q_free(&H->next_delete);
    q_free(&H->convert);
    q_free(&H->next_convert);
    for (size_t i = 0; i < H->nlost; i++)
        free(H->lost[i].path);
    free(H->lost);
    free(H->moves);
    free(H);
    M->health = NULL;
}
