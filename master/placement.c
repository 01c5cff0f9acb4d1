/*
 * placement.c - where the parts of a new chunk go.
 *
 * For `copies=N` the master picks N distinct online chunkservers (a server
 * is the failure domain, DESIGN.md "Data model"), drawing without
 * replacement with a probability proportional to each server's free space,
 * so emptier servers fill faster and a new, empty server is not flooded the
 * way a strict "most free first" rule would flood it. Fewer servers than N
 * give fewer parts (the chunk starts under goal and the health loop fixes
 * it later); none gives NO_SERVERS to the writer. Labels and storage classes
 * come with the class work and are not looked at yet.
 */
#include <stdlib.h>

#include "master_int.h"

/* xorshift64*: placement needs spread, not secrecy; seeded from the session base. */
static uint64_t next_rand(struct master *M)
{
    uint64_t x = M->place_rng ? M->place_rng : (M->session_base | 1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    M->place_rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

unsigned placement_pick(struct master *M, unsigned n, struct cs_server **out)
{
    struct cs_registry *g = &M->reg;
    unsigned got = 0;
    while (got < n) {
        /* weights: free space in MiB plus one, so full servers still count when nothing else is up
         */
        unsigned __int128 total = 0;
        for (size_t i = 0; i < g->nservers; i++) {
            struct cs_server *s = g->servers[i];
            int taken = 0;
            for (unsigned k = 0; k < got; k++)
                taken |= out[k] == s;
            if (s->state == CS_ONLINE && !taken)
                total += (cs_server_free(s) >> 20) + 1;
        }
        if (total == 0)
            break;
        unsigned __int128 x = ((unsigned __int128)next_rand(M) << 64 | next_rand(M)) % total;
        for (size_t i = 0; i < g->nservers; i++) {
            struct cs_server *s = g->servers[i];
            int taken = 0;
            for (unsigned k = 0; k < got; k++)
                taken |= out[k] == s;
            if (s->state != CS_ONLINE || taken)
                continue;
            uint64_t w = (cs_server_free(s) >> 20) + 1;
            if (x < w) {
                out[got++] = s;
                break;
            }
            x -= w;
        }
    }
    return got;
}
