/*
 * placement.c - where the parts of a new chunk go.
 *
 * For `copies=N` the master picks N distinct online chunkservers (a server
 * is the failure domain, DESIGN.md "Data model"), drawing without
 * replacement with a probability proportional to each server's free space,
 * so emptier servers fill faster and a new, empty server is not flooded the
 * way a strict "most free first" rule would flood it. Fewer servers than N
 * give fewer parts (the chunk starts under goal and the health loop fixes
 * it later); none gives NO_SERVERS to the writer. With a storage class
 * (placement_pick_goal), part i goes only to servers its labels allow; in
 * loose mode a part no such server can take goes anywhere (the health loop
 * moves it home when the labelled space appears), in strict mode it is
 * not placed at all (the chunk starts under goal).
 *
 * Zones: a server labelled `zone=NAME` is in zone NAME, one without such a
 * label is a zone of its own. A chunk keeps at most one copy (copies=N) or
 * M parts (ec=K+M) per zone, so losing a zone costs what the layout
 * survives; with fewer zones than that needs, the parts are spread evenly
 * (at most ceil(parts / zones) per zone). The cap is a rule while some
 * writable server satisfies it; a new chunk that cannot satisfy it is
 * placed anyway (it must be written now).
 */
#include <stdlib.h>
#include <string.h>

#include "master_int.h"

/* xorshift64*: placement needs spread, not secrecy; seeded from the session base. */
uint64_t placement_rand(struct master *M)
{
    uint64_t x = M->place_rng ? M->place_rng : (M->session_base | 1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    M->place_rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

struct cs_server *placement_draw(struct master *M, placement_ok_fn ok, void *ctx,
                                 uint64_t (*free_of)(const struct cs_server *))
{
    struct cs_registry *g = &M->reg;
    /* weights: free MiB plus one, so full servers still count when nothing else is up */
    unsigned __int128 total = 0;
    for (size_t i = 0; i < g->nservers; i++)
        if (ok(M, g->servers[i], ctx))
            total += (free_of(g->servers[i]) >> 20) + 1;
    if (total == 0)
        return NULL;
    unsigned __int128 x = ((unsigned __int128)placement_rand(M) << 64 | placement_rand(M)) % total;
    for (size_t i = 0; i < g->nservers; i++) {
        struct cs_server *s = g->servers[i];
        if (!ok(M, s, ctx))
            continue;
        uint64_t w = (free_of(s) >> 20) + 1;
        if (x < w)
            return s;
        x -= w;
    }
    return NULL;
}

/* ---- zones ---------------------------------------------------------------- */

int placement_same_zone(const struct cs_server *a, const struct cs_server *b)
{
    if (a == b)
        return 1;
    char za[64], zb[64];
    if (!cn_labels_zone(a->labels, za, sizeof(za)) || !cn_labels_zone(b->labels, zb, sizeof(zb)))
        return 0;
    return strcmp(za, zb) == 0;
}

unsigned placement_zones(struct master *M)
{
    struct cs_registry *g = &M->reg;
    unsigned n = 0;
    for (size_t i = 0; i < g->nservers; i++) {
        if (g->servers[i]->state != CS_ONLINE)
            continue;
        size_t j = 0;
        while (j < i && (g->servers[j]->state != CS_ONLINE ||
                         !placement_same_zone(g->servers[i], g->servers[j])))
            j++;
        n += j == i;
    }
    return n;
}

unsigned placement_zone_cap(const struct chunk_goal *g, unsigned nzones)
{
    unsigned parts = g->copies ? g->copies : 1;
    unsigned base = g->ec ? g->layout.m : 1;
    if (base == 0)
        base = 1;
    unsigned even = nzones ? (parts + nzones - 1) / nzones : parts;
    return base > even ? base : even;
}

/* ---- picking -------------------------------------------------------------- */

struct pick_ctx {
    struct cs_server **taken;
    unsigned n;
    const struct chunk_goal *g; /* NULL: labels not looked at */
    unsigned cap;               /* parts per zone; 0: no zone rule */
};

static int online_not_taken(struct master *M, const struct cs_server *s, void *ctx)
{
    struct pick_ctx *p = ctx;
    (void)M;
    unsigned same = 0;
    for (unsigned k = 0; k < p->n; k++) {
        if (p->taken[k] == s)
            return 0;
        same += p->cap && placement_same_zone(p->taken[k], s);
    }
    if (p->cap && same >= p->cap)
        return 0;
    return s->state == CS_ONLINE && (!p->g || class_server_ok(p->g, p->n, s));
}

unsigned placement_pick(struct master *M, unsigned n, struct cs_server **out)
{
    return placement_pick_goal(M, NULL, n, out);
}

unsigned placement_pick_goal(struct master *M, const struct chunk_goal *g, unsigned n,
                             struct cs_server **out)
{
    struct pick_ctx p = {out, 0, g, g ? placement_zone_cap(g, placement_zones(M)) : 0};
    while (p.n < n) {
        struct cs_server *s = placement_draw(M, online_not_taken, &p, cs_server_free);
        if (!s && p.cap) { /* no server keeps the zone rule: write the chunk anyway */
            unsigned cap = p.cap;
            p.cap = 0;
            s = placement_draw(M, online_not_taken, &p, cs_server_free);
            p.cap = cap;
        }
        if (!s && g && g->mode == CN_MODE_LOOSE) {
            p.g = NULL; /* loose: this part anywhere; the health loop moves it home later */
            s = placement_draw(M, online_not_taken, &p, cs_server_free);
            p.g = g;
        }
        if (!s)
            break;
        out[p.n++] = s;
    }
    return p.n;
}
