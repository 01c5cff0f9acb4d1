/*
 * acl.c - POSIX ACL values: decode (bytes from clients, so bounds-checked and
 * never asserting; fuzzed by tests/fuzz/fuzz_acl.c), encode, and the
 * standard access check (owner, named users, groups, other).
 */
#include "acl.h"

#include <errno.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Tag order of posix_acl_valid(): each tag's rank. */
static int rank(uint16_t tag)
{
    switch (tag) {
    case CN_ACL_USER_OBJ:
        return 0;
    case CN_ACL_USER:
        return 1;
    case CN_ACL_GROUP_OBJ:
        return 2;
    case CN_ACL_GROUP:
        return 3;
    case CN_ACL_MASK:
        return 4;
    case CN_ACL_OTHER:
        return 5;
    default:
        return -1;
    }
}

int cn_acl_decode(const void *buf, size_t len, struct cn_acl *out)
{
    const uint8_t *p = buf;
    out->n = 0;
    if (len < 4 || (len - 4) % 8 != 0 || get32(p) != CN_ACL_VERSION)
        return -EINVAL;
    size_t n = (len - 4) / 8;
    if (n > CN_ACL_MAX_ENTRIES)
        return -EINVAL;
    if (n == 0)
        return 0;
    int last = -1, named = 0, counts[6] = {0};
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = p + 4 + 8 * i;
        struct cn_acl_entry e = {get16(q), get16(q + 2), get32(q + 4)};
        int r = rank(e.tag);
        if (r < 0 || r < last || (e.perm & ~7u))
            return -EINVAL;
        if (r == last && e.tag != CN_ACL_USER && e.tag != CN_ACL_GROUP)
            return -EINVAL; /* one USER_OBJ, GROUP_OBJ, MASK, OTHER */
        if (e.tag == CN_ACL_USER || e.tag == CN_ACL_GROUP) {
            named = 1;
            for (size_t k = 0; k < out->n; k++)
                if (out->e[k].tag == e.tag && out->e[k].id == e.id)
                    return -EINVAL;
        } else {
            e.id = 0xFFFFFFFFu; /* ACL_UNDEFINED_ID, as the kernel writes it */
        }
        counts[r]++;
        last = r;
        out->e[out->n++] = e;
    }
    if (!counts[0] || !counts[2] || !counts[5] || (named && !counts[4])) {
        out->n = 0;
        return -EINVAL;
    }
    return 0;
}

size_t cn_acl_size(const struct cn_acl *a)
{
    return 4 + 8 * (size_t)a->n;
}

size_t cn_acl_encode(const struct cn_acl *a, uint8_t *buf)
{
    put32(buf, CN_ACL_VERSION);
    for (uint32_t i = 0; i < a->n; i++) {
        uint8_t *q = buf + 4 + 8 * i;
        put16(q, a->e[i].tag);
        put16(q + 2, a->e[i].perm);
        put32(q + 4, a->e[i].id);
    }
    return cn_acl_size(a);
}

int cn_acl_is_minimal(const struct cn_acl *a)
{
    return a->n == 3;
}

static struct cn_acl_entry *find(struct cn_acl *a, uint16_t tag)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->e[i].tag == tag)
            return &a->e[i];
    return NULL;
}

/* The entry that holds the group-class bits: MASK, else GROUP_OBJ. */
static struct cn_acl_entry *group_class(struct cn_acl *a)
{
    struct cn_acl_entry *m = find(a, CN_ACL_MASK);
    return m ? m : find(a, CN_ACL_GROUP_OBJ);
}

uint32_t cn_acl_mode(const struct cn_acl *a)
{
    struct cn_acl *w = (struct cn_acl *)a; /* find() does not write */
    struct cn_acl_entry *u = find(w, CN_ACL_USER_OBJ), *g = group_class(w),
                        *o = find(w, CN_ACL_OTHER);
    return (u ? u->perm : 0u) << 6 | (g ? g->perm : 0u) << 3 | (o ? o->perm : 0u);
}

void cn_acl_chmod(struct cn_acl *a, uint32_t mode)
{
    struct cn_acl_entry *u = find(a, CN_ACL_USER_OBJ), *g = group_class(a),
                        *o = find(a, CN_ACL_OTHER);
    if (u)
        u->perm = (uint16_t)((mode >> 6) & 7);
    if (g)
        g->perm = (uint16_t)((mode >> 3) & 7);
    if (o)
        o->perm = (uint16_t)(mode & 7);
}

void cn_acl_create_masq(struct cn_acl *a, uint32_t *mode)
{
    struct cn_acl_entry *u = find(a, CN_ACL_USER_OBJ), *g = group_class(a),
                        *o = find(a, CN_ACL_OTHER);
    if (u)
        u->perm &= (uint16_t)((*mode >> 6) & 7);
    if (g)
        g->perm &= (uint16_t)((*mode >> 3) & 7);
    if (o)
        o->perm &= (uint16_t)(*mode & 7);
    *mode = (*mode & ~0777u) | cn_acl_mode(a);
}

static int in_groups(const struct cn_acl_who *who, uint32_t gid)
{
    if (who->gid == gid)
        return 1;
    for (uint32_t i = 0; i < who->ngroups; i++)
        if (who->groups[i] == gid)
            return 1;
    return 0;
}

unsigned cn_acl_granted(const struct cn_acl *a, uint32_t owner, uint32_t group, uint32_t mode,
                        const struct cn_acl_who *who)
{
    unsigned mask = (mode >> 3) & 7, other = mode & 7;
    if (who->uid == owner)
        return (mode >> 6) & 7;
    if (!a || a->n == 0)
        return in_groups(who, group) ? mask : other;
    for (uint32_t i = 0; i < a->n; i++)
        if (a->e[i].tag == CN_ACL_USER && a->e[i].id == who->uid)
            return a->e[i].perm & mask;
    /* Groups: the union of every matching entry, then the mask. GROUP_OBJ's
     * own bits come from the ACL: with a MASK the mode's group bits are the
     * mask, not the owning group's entry. */
    int matched = 0;
    unsigned bits = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        const struct cn_acl_entry *e = &a->e[i];
        if ((e->tag == CN_ACL_GROUP_OBJ && in_groups(who, group)) ||
            (e->tag == CN_ACL_GROUP && in_groups(who, e->id))) {
            matched = 1;
            bits |= e->perm;
        }
    }
    if (matched)
        return bits & mask;
    return other;
}
