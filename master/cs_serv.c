/*
 * cs_serv.c - the chunkserver port: registry of chunkservers, where each
 * chunk's parts are, and the commands the master sends them.
 *
 * Locations are soft state (DESIGN.md, Master): a chunkserver reports all
 * its parts in CS_REGISTER and the changes in each CS_HEARTBEAT; nothing of
 * it is written to RocksDB, and a restarted master learns it all again from
 * the re-registrations. Servers are keyed by name: a chunkserver that comes
 * back under the same name gets its old id (and the id it sends is honoured
 * when no other server uses it), so ids survive master restarts without
 * being persisted.
 *
 * A server whose connection drops is "unreachable": its parts are kept (they
 * still count for the health loop) but not served to readers; after
 * CS_GRACE_MS it is "lost" and its parts are forgotten, so repair starts. A
 * server silent for CS_TIMEOUT_MS while connected is dropped. A disk that
 * an online server reports missing (unplugged, or failed) is treated the
 * same way on its own: its parts are unreachable at once (cs_loc_state) and
 * forgotten after CS_GRACE_MS, so a brief unplug copies nothing; when it is
 * back, the server reports its parts again. Removal marks
 * (`cairn disk|server remove`) live in the metadata ('M' keys) and a list
 * here; a marked disk is told so (CS_CMD_DISK_MARK) after each registration.
 * Parts of chunks the metadata no longer has, or older than the committed
 * version with no write in progress, are deleted on the reporting server.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD "cs_serv"

#define CMD_TIMEOUT_MS 30000u

struct cs_peer {
    struct master *M;
    struct cs_server *srv; /* NULL until CS_REGISTER */
    int hello;
};

const char *cs_state_name(enum cs_state s)
{
    switch (s) {
    case CS_ONLINE:
        return "online";
    case CS_UNREACHABLE:
        return "unreachable";
    default:
        return "lost";
    }
}

uint64_t cs_server_free(const struct cs_server *s)
{
    uint64_t f = 0;
    for (uint32_t i = 0; i < s->ndisks; i++)
        if (s->disks[i].state == 0)
            f += s->disks[i].free;
    return f;
}

/* ---- chunk -> locations hash ---------------------------------------------------- */

static size_t bucket_of(const struct cs_registry *g, uint64_t chunk)
{
    return (size_t)((chunk * 0x9E3779B97F4A7C15ull) >> 17) & (g->nbuckets - 1);
}

struct cs_chunk_locs *cs_locs_get(struct master *M, uint64_t chunk)
{
    struct cs_registry *g = &M->reg;
    if (!g->nbuckets)
        return NULL;
    for (struct cs_chunk_locs *e = g->buckets[bucket_of(g, chunk)]; e; e = e->next)
        if (e->chunk == chunk)
            return e;
    return NULL;
}

static void grow(struct cs_registry *g)
{
    size_t nb = g->nbuckets ? g->nbuckets * 2 : 1024;
    struct cs_chunk_locs **b = cn_xcalloc(nb, sizeof(*b));
    size_t old = g->nbuckets;
    struct cs_chunk_locs **ob = g->buckets;
    g->buckets = b;
    g->nbuckets = nb;
    for (size_t i = 0; i < old; i++) {
        for (struct cs_chunk_locs *e = ob[i], *n; e; e = n) {
            n = e->next;
            size_t k = bucket_of(g, e->chunk);
            e->next = b[k];
            b[k] = e;
        }
    }
    free(ob);
}

static struct cs_chunk_locs *locs_ensure(struct master *M, uint64_t chunk);

static void loc_set(struct master *M, uint64_t chunk, struct cs_server *s, uint16_t part,
                    uint16_t disk, uint64_t version)
{
    struct cs_chunk_locs *e = locs_ensure(M, chunk);
    for (uint32_t i = 0; i < e->n; i++) {
        if (e->v[i].srv == s && e->v[i].part == part) {
            e->v[i].version = version;
            e->v[i].disk = disk;
            return;
        }
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->v = cn_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n++] = (struct cs_loc){s, version, part, disk};
    s->nparts++;
}

static struct cs_chunk_locs *locs_ensure(struct master *M, uint64_t chunk)
{
    struct cs_registry *g = &M->reg;
    struct cs_chunk_locs *e = cs_locs_get(M, chunk);
    if (e)
        return e;
    if (g->nchunks >= g->nbuckets)
        grow(g);
    e = cn_xcalloc(1, sizeof(*e));
    e->chunk = chunk;
    size_t k = bucket_of(g, chunk);
    e->next = g->buckets[k];
    g->buckets[k] = e;
    g->nchunks++;
    return e;
}

static void chain_free(struct cs_chunk_locs *e)
{
    free(e->chain);
    free(e->chain_part);
    e->chain = NULL;
    e->chain_part = NULL;
    e->nchain = 0;
}

void cs_chain_set(struct master *M, uint64_t chunk, struct cs_server **srv, const uint16_t *part,
                  unsigned n)
{
    struct cs_chunk_locs *e = locs_ensure(M, chunk);
    chain_free(e);
    e->chain = cn_xmalloc((n ? n : 1) * sizeof(*e->chain));
    e->chain_part = cn_xcalloc(n ? n : 1, sizeof(*e->chain_part));
    memcpy(e->chain, srv, n * sizeof(*srv));
    if (part)
        memcpy(e->chain_part, part, n * sizeof(*part));
    e->nchain = n;
}

void cs_chain_committed(struct master *M, uint64_t chunk, uint64_t version)
{
    struct cs_chunk_locs *e = cs_locs_get(M, chunk);
    if (!e)
        return;
    for (uint32_t k = 0; k < e->nchain; k++) {
        if (!e->chain[k])
            continue;
        uint16_t disk = 0, part = e->chain_part[k];
        for (uint32_t i = 0; i < e->n; i++)
            if (e->v[i].srv == e->chain[k] && e->v[i].part == part)
                disk = e->v[i].disk;
        loc_set(M, chunk, e->chain[k], part, disk, version);
    }
    chain_free(e);
}

struct cs_server *cs_server_by_id(struct master *M, uint64_t id)
{
    for (size_t i = 0; i < M->reg.nservers; i++)
        if (M->reg.servers[i]->id == id)
            return M->reg.servers[i];
    return NULL;
}

static void chunk_drop_if_empty(struct master *M, struct cs_chunk_locs *e)
{
    if (e->n)
        return;
    struct cs_registry *g = &M->reg;
    for (struct cs_chunk_locs **pp = &g->buckets[bucket_of(g, e->chunk)]; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            chain_free(e);
            free(e->v);
            free(e);
            g->nchunks--;
            return;
        }
    }
}

/* Remove server s's part (part < 0: every part of s) of chunk. */
static void loc_del(struct master *M, uint64_t chunk, struct cs_server *s, int part)
{
    struct cs_chunk_locs *e = cs_locs_get(M, chunk);
    if (!e)
        return;
    for (uint32_t i = 0; i < e->n;) {
        if (e->v[i].srv == s && (part < 0 || e->v[i].part == part)) {
            e->v[i] = e->v[--e->n];
            s->nparts--;
        } else {
            i++;
        }
    }
    chunk_drop_if_empty(M, e);
}

/* Forget every part of s (re-registration, lost server). */
static void locs_forget_server(struct master *M, struct cs_server *s)
{
    struct cs_registry *g = &M->reg;
    for (size_t b = 0; b < g->nbuckets && s->nparts; b++) {
        for (struct cs_chunk_locs *e = g->buckets[b], *n; e; e = n) {
            n = e->next;
            for (uint32_t i = 0; i < e->n;) {
                if (e->v[i].srv == s) {
                    e->v[i] = e->v[--e->n];
                    s->nparts--;
                } else {
                    i++;
                }
            }
            chunk_drop_if_empty(M, e);
        }
    }
    s->nparts = 0;
}

void cs_loc_set(struct master *M, uint64_t chunk, struct cs_server *s, uint16_t part, uint16_t disk,
                uint64_t version)
{
    loc_set(M, chunk, s, part, disk, version);
}

void cs_loc_del(struct master *M, uint64_t chunk, struct cs_server *s, int part)
{
    loc_del(M, chunk, s, part);
}

int cs_disk_leaving(const struct cs_server *s, const struct cs_disk_info *d)
{
    return s->marked || d->marked || d->state == 2;
}

enum cs_state cs_loc_state(const struct cs_loc *l)
{
    const struct cs_server *s = l->srv;
    if (s->state != CS_ONLINE)
        return s->state;
    if (l->disk < s->ndisks && s->disks[l->disk].state == CN_DISK_MISSING)
        return CS_UNREACHABLE;
    return CS_ONLINE;
}

int cs_loc_leaving(const struct cs_loc *l)
{
    const struct cs_server *s = l->srv;
    if (l->disk < s->ndisks)
        return cs_disk_leaving(s, &s->disks[l->disk]);
    return s->marked;
}

unsigned cs_live_copies(struct master *M, uint64_t chunk, uint64_t version)
{
    struct cs_chunk_locs *e = cs_locs_get(M, chunk);
    unsigned n = 0;
    for (uint32_t i = 0; e && i < e->n; i++)
        if (cs_loc_state(&e->v[i]) == CS_ONLINE && e->v[i].version == version)
            n++;
    return n;
}

/* ---- commands ------------------------------------------------------------------ */

struct del_ctx {
    struct master *M;
    uint64_t chunk;
    uint16_t part;
};

static void on_delete_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                            const uint8_t *payload, void *ud)
{
    struct del_ctx *d = ud;
    (void)h;
    (void)payload;
    if (status)
        cn_log_warn(MOD, "%s: delete of chunk %016llx part %u: %s", cn_conn_peer(c),
                    (unsigned long long)d->chunk, d->part, cn_strerror(status));
    free(d);
}

static void send_delete(struct master *M, struct cs_server *s, uint64_t chunk, uint64_t version,
                        uint16_t part)
{
    if (!s->conn)
        return; /* it will report the part again at registration and be told then */
    struct cn_cs_delete_part m = {chunk, version, part};
    struct del_ctx *d = cn_xmalloc(sizeof(*d));
    *d = (struct del_ctx){M, chunk, part};
    int rc =
        cn_conn_call(s->conn, CN_MSG_CS_CMD_DELETE_PART, &m, CMD_TIMEOUT_MS, on_delete_reply, d);
    if (rc) {
        free(d);
        return;
    }
    M->reg.deletes_sent++;
    cn_log_debug(MOD, "%s: delete chunk %016llx v%llu part %u", s->name, (unsigned long long)chunk,
                 (unsigned long long)version, part);
}

void cs_delete_part(struct master *M, struct cs_server *s, uint64_t chunk, uint64_t version,
                    uint16_t part)
{
    send_delete(M, s, chunk, version, part);
    loc_del(M, chunk, s, part);
}

void cs_serv_chunk_freed(struct master *M, uint64_t chunk)
{
    if (snapshot_defer_delete(M, chunk))
        return; /* a copy-on-write reads it: deleted when that is done */
    struct cs_chunk_locs *e = cs_locs_get(M, chunk);
    if (!e)
        return;
    for (uint32_t i = 0; i < e->n; i++)
        send_delete(M, e->v[i].srv, chunk, e->v[i].version, e->v[i].part);
    while (e->n) { /* forget them now: the chunk is gone from the metadata */
        e->v[e->n - 1].srv->nparts--;
        e->n--;
    }
    chunk_drop_if_empty(M, e);
}

/* A part failed its CRC (scrub or a read). It no longer counts; when
 * another current copy is online it is deleted, and the health loop makes
 * a new copy. The last copy is left on its disk: a part with one bad block
 * still holds the rest of the chunk for whoever salvages it. */
static void bad_part_reported(struct master *M, struct cs_server *s, const struct cn_cs_part *p)
{
    struct meta_chunk c;
    if (meta_chunk_get(M->meta, p->chunk, &c) != 0)
        return;
    unsigned good = cs_live_copies(M, p->chunk, c.committed_version);
    cn_log_warn(MOD, "%s: chunk %016llx part %u version %llu failed its CRC; %u good copies left%s",
                s->name, (unsigned long long)p->chunk, p->part, (unsigned long long)p->version,
                good, good ? ": deleting it, the health loop makes a new copy" : "");
    if (good)
        send_delete(M, s, p->chunk, p->version, p->part);
    health_kick(M);
}

/* A reported part: record it, or tell the server to drop it if the
 * metadata says it is garbage. */
static void part_reported(struct master *M, struct cs_server *s, const struct cn_cs_part *p)
{
    if (p->status == 3) {
        /* Uncommitted blocks of a chunk this master does not know and is
         * not converting to: a conversion started by an earlier master
         * (or one that failed) left them. Nobody will commit them. */
        struct meta_chunk c;
        if (meta_chunk_get(M->meta, p->chunk, &c) == -ENOENT && !health_converting(M, p->chunk))
            send_delete(M, s, p->chunk, p->version, p->part);
        return;
    }
    if (p->status != 0) { /* gone, or failed its CRC: not a usable copy */
        loc_del(M, p->chunk, s, p->part);
        if (p->status == 2)
            bad_part_reported(M, s, p);
        return;
    }
    struct meta_chunk c;
    int rc = meta_chunk_get(M->meta, p->chunk, &c);
    if (rc == -ENOENT && health_converting(M, p->chunk))
        return; /* written by a conversion; counted when it switches */
    if (rc == -ENOENT || (rc == 0 && p->version < c.committed_version &&
                          (c.lease != META_LEASE_WRITE || p->version < c.version))) {
        send_delete(M, s, p->chunk, p->version, p->part);
        return;
    }
    loc_set(M, p->chunk, s, p->part, p->disk, p->version);
}

/* ---- registration and heartbeats ---------------------------------------------- */

/* The reported disks replace the known ones; a disk that stays missing
 * keeps the time it went missing (matched by index and uuid). */
static void set_disks(struct cs_server *s, const struct cn_cs_disk *d, uint32_t n, int64_t grace_ms)
{
    struct cs_disk_info *old = s->disks;
    uint32_t nold = s->ndisks;
    uint64_t now = cn_now_ms();
    s->disks = cn_xcalloc(n ? n : 1, sizeof(*s->disks));
    s->ndisks = n;
    for (uint32_t i = 0; i < n; i++) {
        struct cs_disk_info *k = &s->disks[i];
        const struct cs_disk_info *o =
            i < nold && !memcmp(old[i].uuid, d[i].uuid, 16) ? &old[i] : NULL;
        memcpy(k->uuid, d[i].uuid, 16);
        k->path = cn_xstrndup(d[i].path.ptr, d[i].path.len);
        k->labels = cn_xstrndup(d[i].labels.ptr, d[i].labels.len);
        k->total = d[i].total;
        k->used = d[i].used;
        k->free = d[i].free;
        k->state = d[i].state;
        if (k->state != CN_DISK_MISSING) {
            if (o && o->state == CN_DISK_MISSING)
                cn_log_info(MOD, "chunkserver %s: disk %s is back (after %llu ms)", s->name,
                            k->path, (unsigned long long)(now - o->missing_since_ms));
            continue;
        }
        if (o && o->state == CN_DISK_MISSING) {
            k->missing_since_ms = o->missing_since_ms;
            k->forgotten = o->forgotten;
        } else {
            k->missing_since_ms = now;
            if (o)
                cn_log_warn(MOD,
                            "chunkserver %s: disk %s is missing; its parts are not read now and "
                            "are re-created elsewhere if it is not back within %lld ms",
                            s->name, k->path, (long long)grace_ms);
        }
    }
    for (uint32_t i = 0; i < nold; i++) {
        free(old[i].path);
        free(old[i].labels);
    }
    free(old);
}

/* Forget the parts on disk k of s (missing past the grace time). */
static uint64_t locs_forget_disk(struct master *M, struct cs_server *s, uint16_t k)
{
    struct cs_registry *g = &M->reg;
    uint64_t n = 0;
    for (size_t b = 0; b < g->nbuckets && s->nparts; b++) {
        for (struct cs_chunk_locs *e = g->buckets[b], *nx; e; e = nx) {
            nx = e->next;
            for (uint32_t i = 0; i < e->n;) {
                if (e->v[i].srv == s && e->v[i].disk == k) {
                    e->v[i] = e->v[--e->n];
                    s->nparts--;
                    n++;
                } else {
                    i++;
                }
            }
            chunk_drop_if_empty(M, e);
        }
    }
    return n;
}

/* ---- removal marks ------------------------------------------------------------ */

/* Set s->marked and each disk's `marked` from the registry's mark list. */
static void marks_apply(struct master *M, struct cs_server *s)
{
    struct cs_registry *g = &M->reg;
    s->marked = 0;
    for (uint32_t k = 0; k < s->ndisks; k++)
        s->disks[k].marked = 0;
    for (size_t i = 0; i < g->nmarks; i++) {
        if (strcmp(g->marks[i].server, s->name) != 0)
            continue;
        if (g->marks[i].whole)
            s->marked = 1;
        for (uint32_t k = 0; k < s->ndisks; k++)
            if (!g->marks[i].whole && !memcmp(s->disks[k].uuid, g->marks[i].uuid, 16))
                s->disks[k].marked = 1;
    }
}

static void on_mark_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                          const uint8_t *payload, void *ud)
{
    (void)h;
    (void)payload;
    (void)ud;
    if (status && c)
        cn_log_warn(MOD, "%s: disk mark: %s", cn_conn_peer(c), cn_strerror(status));
}

/* Tell an online server which of its disks take no new parts. */
static void marks_send(struct cs_server *s, int all)
{
    if (!s->conn)
        return;
    for (uint32_t k = 0; k < s->ndisks; k++) {
        struct cn_cs_disk_mark m = {{0}, (uint8_t)(s->marked || s->disks[k].marked)};
        if (!m.leaving && !all)
            continue;
        memcpy(m.uuid, s->disks[k].uuid, 16);
        cn_conn_call(s->conn, CN_MSG_CS_CMD_DISK_MARK, &m, CMD_TIMEOUT_MS, on_mark_reply, NULL);
    }
}

static int mark_load_fn(void *ctx, const char *server, const uint8_t *uuid)
{
    struct cs_registry *g = ctx;
    g->marks = cn_xrealloc(g->marks, (g->nmarks + 1) * sizeof(*g->marks));
    struct cs_mark *k = &g->marks[g->nmarks++];
    memset(k, 0, sizeof(*k));
    k->server = cn_xstrdup(server);
    k->whole = uuid == NULL;
    if (uuid)
        memcpy(k->uuid, uuid, 16);
    return 0;
}

int cs_marks_load(struct master *M, char *err, size_t errlen)
{
    int rc = meta_marks_iter(M->meta, mark_load_fn, &M->reg);
    if (rc < 0) {
        snprintf(err, errlen, "removal marks: %s", meta_strerror(rc));
        return rc;
    }
    if (M->reg.nmarks)
        cn_log_info(MOD, "%zu removal marks loaded", M->reg.nmarks);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The disk `spec` names on s: its path, its 0-based index, or its uuid in hex. */
static int disk_resolve(const struct cs_server *s, const char *spec)
{
    for (uint32_t k = 0; k < s->ndisks; k++)
        if (!strcmp(s->disks[k].path, spec))
            return (int)k;
    size_t n = strlen(spec);
    if (n > 0 && n <= 4 && strspn(spec, "0123456789") == n) {
        unsigned long v = strtoul(spec, NULL, 10);
        if (v < s->ndisks)
            return (int)v;
    }
    if (n == 32) {
        uint8_t u[16];
        int ok = 1;
        for (int i = 0; i < 16 && ok; i++) {
            int a = hexval(spec[2 * i]), b = hexval(spec[2 * i + 1]);
            ok = a >= 0 && b >= 0;
            u[i] = (uint8_t)(a << 4 | (b < 0 ? 0 : b));
        }
        for (uint32_t k = 0; ok && k < s->ndisks; k++)
            if (!memcmp(s->disks[k].uuid, u, 16))
                return (int)k;
    }
    return -1;
}

int cs_mark_set(struct master *M, const char *server, const char *disk, int leaving, char *err,
                size_t errlen, char *disk_out, size_t disk_outlen)
{
    struct cs_registry *g = &M->reg;
    struct cs_server *s = NULL;
    for (size_t i = 0; i < g->nservers; i++)
        if (!strcmp(g->servers[i]->name, server))
            s = g->servers[i];
    if (!s) {
        snprintf(err, errlen, "no chunkserver named '%s' has registered with this master", server);
        return -ENOENT;
    }
    const uint8_t *uuid = NULL;
    if (disk && disk[0]) {
        int k = disk_resolve(s, disk);
        if (k < 0) {
            snprintf(err, errlen,
                     "chunkserver '%s' has no disk '%s' (give its path, 0-based index or uuid "
                     "as `cairn disks` lists them)",
                     server, disk);
            return -ENOENT;
        }
        uuid = s->disks[k].uuid;
        snprintf(disk_out, disk_outlen, "%s", s->disks[k].path);
    }
    int rc = meta_mark_put(M->meta, server, uuid, leaving);
    if (rc < 0) {
        snprintf(err, errlen, "cannot store the mark: %s", meta_strerror(rc));
        return rc;
    }
    /* the registry's list follows the metadata (the turn commits before the reply) */
    for (size_t i = 0; i < g->nmarks; i++) {
        struct cs_mark *k = &g->marks[i];
        if (!strcmp(k->server, server) && k->whole == (uuid == NULL) &&
            (!uuid || !memcmp(k->uuid, uuid, 16))) {
            free(k->server);
            g->marks[i] = g->marks[--g->nmarks];
            break;
        }
    }
    if (leaving)
        mark_load_fn(g, server, uuid);
    marks_apply(M, s);
    marks_send(s, 1);
    health_kick(M);
    cn_log_info(MOD, "%s %s%s%s marked %s", uuid ? "disk" : "chunkserver", server, uuid ? ":" : "",
                uuid ? disk_out : "", leaving ? "for removal (draining)" : "to keep");
    return 0;
}

static void on_rescan_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                            const uint8_t *payload, void *ud)
{
    struct cn_cs_disk_rescan_r r;
    (void)ud;
    if (!status && h && cn_msg_decode(h->type, payload, h->len, &r) == 0)
        cn_log_info(MOD, "%s: disk rescan: %u disk(s) back, %u still missing or failed",
                    cn_conn_peer(c), r.reopened, r.closed);
    else if (c)
        cn_log_warn(MOD, "%s: disk rescan: %s", cn_conn_peer(c),
                    status ? cn_strerror(status) : "malformed reply");
}

int cs_rescan(struct master *M, const char *server, json_t *asked, char *err, size_t errlen)
{
    struct cs_registry *g = &M->reg;
    int found = 0;
    for (size_t i = 0; i < g->nservers; i++) {
        struct cs_server *s = g->servers[i];
        if (server && server[0] && strcmp(s->name, server))
            continue;
        found = 1;
        if (!s->conn)
            continue;
        struct cn_empty e = {0};
        /* a rescan opens and lists whole disks: give it the command timeout */
        if (cn_conn_call(s->conn, CN_MSG_CS_CMD_DISK_RESCAN, &e, CMD_TIMEOUT_MS, on_rescan_reply,
                         NULL) == 0)
            json_array_append_new(asked, json_string(s->name));
    }
    if (server && server[0] && !found) {
        snprintf(err, errlen, "no chunkserver named '%s' has registered with this master", server);
        return -ENOENT;
    }
    if (server && server[0] && !json_array_size(asked)) {
        snprintf(err, errlen, "chunkserver '%s' is not online; it reopens its disks by itself",
                 server);
        return -ENOENT;
    }
    return 0;
}

static struct cs_server *find_server(struct master *M, struct cn_str name, uint64_t id)
{
    struct cs_registry *g = &M->reg;
    for (size_t i = 0; i < g->nservers; i++)
        if (cn_str_eq(name, g->servers[i]->name))
            return g->servers[i];
    uint64_t max_id = 0;
    int id_taken = id == 0;
    for (size_t i = 0; i < g->nservers; i++) {
        if (g->servers[i]->id > max_id)
            max_id = g->servers[i]->id;
        if (g->servers[i]->id == id)
            id_taken = 1;
    }
    struct cs_server *s = cn_xcalloc(1, sizeof(*s));
    s->id = id_taken ? max_id + 1 : id;
    s->name = cn_xstrndup(name.ptr, name.len);
    s->state = CS_LOST;
    if (g->nservers == g->capservers) {
        g->capservers = g->capservers ? g->capservers * 2 : 16;
        g->servers = cn_xrealloc(g->servers, g->capservers * sizeof(*g->servers));
    }
    g->servers[g->nservers++] = s;
    return s;
}

static void on_register(struct cs_peer *p, struct cn_conn *c, uint64_t req_id,
                        const struct cn_cs_register *m)
{
    struct master *M = p->M;
    if (p->srv || m->name.len == 0 || m->addr.len == 0) {
        cn_conn_close(c, CN_EMALFORMED);
        return;
    }
    struct cs_server *s = find_server(M, m->name, m->cs_id);
    if (s->conn) { /* the same name connected twice: the newer one wins */
        cn_log_warn(MOD, "%s: %s registers again; dropping its old connection", cn_conn_peer(c),
                    s->name);
        struct cs_peer *old = cn_conn_data(s->conn);
        old->srv = NULL;
        cn_conn_close(s->conn, 0);
    }
    free(s->labels);
    free(s->addr);
    s->labels = cn_xstrndup(m->labels.ptr, m->labels.len);
    s->addr = cn_xstrndup(m->addr.ptr, m->addr.len);
    set_disks(s, m->disks, m->ndisks, M->cfg.cs_grace_ms);
    marks_apply(M, s);
    s->conn = c;
    s->state = CS_ONLINE;
    s->last_seen_ms = cn_now_ms();
    p->srv = s;
    locs_forget_server(M, s);
    for (uint32_t i = 0; i < m->nparts; i++)
        part_reported(M, s, &m->parts[i]);
    cn_log_info(MOD, "%s: chunkserver %s (id %llu, %s) registered with %u disks, %u parts",
                cn_conn_peer(c), s->name, (unsigned long long)s->id, s->addr, m->ndisks, m->nparts);
    struct cn_cs_register_r r = {s->id, (uint32_t)M->cfg.heartbeat_ms};
    cn_conn_send_msg(c, CN_MSG_CS_REGISTER_R, req_id, &r);
    marks_send(s, 0);
    health_kick(M); /* its parts count again: surplus copies may go */
}

static void on_heartbeat(struct cs_peer *p, struct cn_conn *c, const struct cn_cs_heartbeat *m)
{
    struct cs_server *s = p->srv;
    if (!s) {
        cn_conn_close(c, CN_EMALFORMED); /* heartbeat before registration */
        return;
    }
    s->last_seen_ms = cn_now_ms();
    if (m->ndisks) {
        set_disks(s, m->disks, m->ndisks, p->M->cfg.cs_grace_ms);
        marks_apply(p->M, s);
    }
    for (uint32_t i = 0; i < m->nchanged; i++)
        part_reported(p->M, s, &m->changed[i]);
}

union cs_msg {
    struct cn_hello hello;
    struct cn_cs_register reg;
    struct cn_cs_heartbeat hb;
    struct cn_ping ping;
};

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    struct cs_peer *p = ud;
    if (h->type & CN_MSG_REPLY)
        return; /* a late reply to a command that timed out */
    union cs_msg u;
    int ok_type = h->type == CN_MSG_HELLO || h->type == CN_MSG_CS_REGISTER ||
                  h->type == CN_MSG_CS_HEARTBEAT || h->type == CN_MSG_PING;
    if (!ok_type) {
        cn_conn_close(c, CN_EUNKNOWN);
        return;
    }
    int rc = cn_msg_decode(h->type, payload, h->len, &u);
    if (rc) {
        cn_msg_free(h->type, &u);
        cn_conn_close(c, rc);
        return;
    }
    if (!p->hello) {
        uint16_t ver;
        int role = h->type == CN_MSG_HELLO ? u.hello.role : 0;
        if ((role != CN_ROLE_CHUNKSERVER && role != CN_ROLE_METALOGGER) ||
            cn_wire_negotiate(u.hello.ver_min, u.hello.ver_max, &ver)) {
            cn_conn_close(c, CN_EMALFORMED);
        } else if (role == CN_ROLE_METALOGGER) { /* mlserv.c takes the connection */
            struct cn_hello_r hr = {
                ver, ++p->M->next_session + p->M->session_base, CN_STR(MASTER_NAME), {NULL, 0}};
            cn_conn_send_msg(c, CN_MSG_HELLO_R, h->req_id, &hr);
            mlserv_adopt(p->M, c);
            free(p);
        } else {
            p->hello = 1;
            struct cn_hello_r hr = {
                ver, ++p->M->next_session + p->M->session_base, CN_STR(MASTER_NAME), {NULL, 0}};
            cn_conn_send_msg(c, CN_MSG_HELLO_R, h->req_id, &hr);
        }
    } else if (h->type == CN_MSG_CS_REGISTER) {
        on_register(p, c, h->req_id, &u.reg);
    } else if (h->type == CN_MSG_CS_HEARTBEAT) {
        on_heartbeat(p, c, &u.hb);
    } else if (h->type == CN_MSG_PING) {
        cn_conn_send_msg(c, CN_MSG_PING_R, h->req_id, &u.ping);
    } else {
        cn_conn_close(c, CN_EMALFORMED);
    }
    cn_msg_free(h->type, &u);
}

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct cs_peer *p = ud;
    (void)c;
    if (p->srv) {
        p->srv->conn = NULL;
        p->srv->state = CS_UNREACHABLE;
        p->srv->down_since_ms = cn_now_ms();
        if (!p->M->stopping)
            cn_log_warn(MOD, "chunkserver %s unreachable (%s)", p->srv->name,
                        err ? cn_strerror(err) : "closed");
    }
    free(p);
}

static const struct cn_conn_ops cs_ops = {on_frame, on_close};

static void on_accept(struct cn_listener *l, struct cn_conn *c, void *ud)
{
    struct master *M = ud;
    (void)l;
    if (M->stopping) {
        cn_conn_close(c, 0);
        return;
    }
    struct cs_peer *p = cn_xcalloc(1, sizeof(*p));
    p->M = M;
    cn_conn_start(c, &cs_ops, p);
}

void cs_serv_tick(struct master *M, uint64_t now_ms)
{
    struct cs_registry *g = &M->reg;
    uint64_t timeout = (uint64_t)M->cfg.cs_timeout_ms;
    uint64_t grace = (uint64_t)M->cfg.cs_grace_ms;
    for (size_t i = 0; i < g->nservers; i++) {
        struct cs_server *s = g->servers[i];
        if (s->state == CS_ONLINE && s->conn && now_ms - s->last_seen_ms > timeout) {
            cn_log_warn(MOD, "chunkserver %s: no heartbeat for %llu ms; dropping it", s->name,
                        (unsigned long long)(now_ms - s->last_seen_ms));
            cn_conn_close(s->conn, -ETIMEDOUT);
        } else if (s->state == CS_ONLINE) {
            for (uint32_t k = 0; k < s->ndisks; k++) {
                struct cs_disk_info *d = &s->disks[k];
                if (d->state != CN_DISK_MISSING || d->forgotten ||
                    now_ms - d->missing_since_ms < grace)
                    continue;
                d->forgotten = 1;
                uint64_t n = locs_forget_disk(M, s, (uint16_t)k);
                cn_log_warn(MOD,
                            "chunkserver %s: disk %s missing for %llu ms; forgetting its %llu "
                            "parts (the health loop re-creates them)",
                            s->name, d->path, (unsigned long long)(now_ms - d->missing_since_ms),
                            (unsigned long long)n);
                health_kick(M);
            }
        } else if (s->state == CS_UNREACHABLE && now_ms - s->down_since_ms >= grace) {
            s->state = CS_LOST;
            cn_log_warn(MOD, "chunkserver %s lost (unreachable for %llu ms); forgetting %llu parts",
                        s->name, (unsigned long long)(now_ms - s->down_since_ms),
                        (unsigned long long)s->nparts);
            locs_forget_server(M, s);
            health_kick(M);
        }
    }
}

int cs_serv_init(struct master *M, char *err, size_t errlen)
{
    int rc = cs_marks_load(M, err, errlen);
    if (rc < 0)
        return rc;
    return cn_listener_open(M->loop, &M->cfg.cs_listen, on_accept, M, &M->cs_l, err, errlen);
}

void cs_serv_release(struct master *M)
{
    struct cs_registry *g = &M->reg;
    if (M->cs_l)
        cn_listener_close(M->cs_l);
    M->cs_l = NULL;
    for (size_t i = 0; i < g->nservers; i++)
        if (g->servers[i]->conn)
            cn_conn_close(g->servers[i]->conn, 0);
}

/* After the loop has drained: free the registry. */
void cs_serv_free(struct master *M)
{
    struct cs_registry *g = &M->reg;
    for (size_t b = 0; b < g->nbuckets; b++) {
        for (struct cs_chunk_locs *e = g->buckets[b], *n; e; e = n) {
            n = e->next;
            chain_free(e);
            free(e->v);
            free(e);
        }
    }
    free(g->buckets);
    for (size_t i = 0; i < g->nservers; i++) {
        struct cs_server *s = g->servers[i];
        set_disks(s, NULL, 0, 0);
        free(s->disks);
        free(s->name);
        free(s->labels);
        free(s->addr);
        free(s);
    }
    free(g->servers);
    for (size_t i = 0; i < g->nmarks; i++)
        free(g->marks[i].server);
    free(g->marks);
    memset(g, 0, sizeof(*g));
}
