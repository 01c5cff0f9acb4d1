/*
 * test_quota.c - directory quotas in the metadata layer (master/quota.c):
 * usage counted when a quota is set and kept exact through creates,
 * unlinks, size changes, commits and moves; hard limits refuse with
 * EDQUOT; a soft limit refuses once its grace ran out; nested quotas.
 */
#include "meta_test_util.h"

static struct meta_quota qget(struct meta *m, uint64_t dir)
{
    struct meta_quota q;
    ASSERT_RC(meta_quota_get(m, dir, &q), 0);
    return q;
}

static void qset(struct meta *m, uint64_t dir, uint64_t hb, uint64_t sb, uint64_t hi, uint64_t si,
                 uint32_t grace)
{
    struct meta_quota lim = {0};
    lim.hard_bytes = hb;
    lim.soft_bytes = sb;
    lim.hard_inodes = hi;
    lim.soft_inodes = si;
    lim.grace_s = grace;
    ASSERT_RC(TURN(m, meta_quota_set(m, dir, &lim)), 0);
}

static int grow(struct meta *m, uint64_t ino, uint64_t size)
{
    struct meta_setattr sa = {0};
    struct meta_freed fr = {0};
    sa.valid = META_SET_SIZE;
    sa.size = size;
    int rc = TURN(m, meta_setattr(m, ino, &sa, NULL, &fr));
    meta_freed_release(&fr);
    return rc;
}

Test(quota, counts_limits_and_moves)
{
    struct mt t;
    mt_init(&t);
    uint64_t d = mt_mkdir(t.m, META_ROOT_INO, "d");
    uint64_t f = mt_create(t.m, d, "f");
    ASSERT_RC(grow(t.m, f, 1000), 0);
    uint64_t sub = mt_mkdir(t.m, d, "sub");
    mt_create(t.m, sub, "g");
    /* a new quota counts what is there: f, sub, g */
    qset(t.m, d, 5000, 0, 5, 0, 0);
    struct meta_quota q = qget(t.m, d);
    cr_assert_eq(q.used_inodes, 3);
    cr_assert_eq(q.used_bytes, 1000);

    /* bytes: growth past the hard limit is refused, within it counted */
    ASSERT_RC(grow(t.m, f, 6000), -EDQUOT);
    ASSERT_RC(grow(t.m, f, 5000), 0);
    cr_assert_eq(qget(t.m, d).used_bytes, 5000);
    ASSERT_RC(grow(t.m, f, 10), 0);
    cr_assert_eq(qget(t.m, d).used_bytes, 10);

    /* a committed write counts (never refused: checked before writing) */
    struct meta_chunk c;
    ASSERT_RC(TURN(t.m, meta_chunk_lease_begin(t.m, f, 0, 7, 0, 100, &c)), 0);
    ASSERT_RC(TURN(t.m, meta_chunk_lease_commit(t.m, c.id, 7, c.version, 4000, &c)), 0);
    cr_assert_eq(qget(t.m, d).used_bytes, 4000);
    ASSERT_RC(meta_quota_check(t.m, d, 1001, 0), -EDQUOT);
    ASSERT_RC(meta_quota_check(t.m, sub, 1000, 0), 0);

    /* inodes: 3 used of 5 */
    struct meta_attr a;
    mt_create(t.m, sub, "h");
    ASSERT_RC(TURN(t.m, meta_mknod(t.m, d, "i", S_IFREG | 0644, 0, 0, 0, &a)), 0);
    ASSERT_RC(TURN(t.m, meta_mknod(t.m, sub, "j", S_IFREG | 0644, 0, 0, 0, &a)), -EDQUOT);
    ASSERT_RC(TURN(t.m, meta_mkdir(t.m, d, "k", 0755, 0, 0, &a)), -EDQUOT);
    cr_assert_eq(qget(t.m, d).used_inodes, 5);
    struct meta_freed fr = {0};
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, sub, "h", &fr)), 0);
    cr_assert_eq(qget(t.m, d).used_inodes, 4);

    /* moves: a file out, then the whole sub tree out and back */
    ASSERT_RC(TURN(t.m, meta_rename(t.m, d, "f", META_ROOT_INO, "f", 0, &fr)), 0);
    q = qget(t.m, d);
    cr_assert_eq(q.used_inodes, 3);
    cr_assert_eq(q.used_bytes, 0);
    ASSERT_RC(TURN(t.m, meta_rename(t.m, d, "sub", META_ROOT_INO, "sub", 0, &fr)), 0);
    cr_assert_eq(qget(t.m, d).used_inodes, 1, "sub and g left with it");
    ASSERT_RC(TURN(t.m, meta_rename(t.m, META_ROOT_INO, "f", sub, "f", 0, &fr)), 0);
    ASSERT_RC(TURN(t.m, meta_rename(t.m, META_ROOT_INO, "sub", d, "sub", 0, &fr)), 0);
    q = qget(t.m, d);
    cr_assert_eq(q.used_inodes, 4, "sub, g, f back: %llu", (unsigned long long)q.used_inodes);
    cr_assert_eq(q.used_bytes, 4000);
    meta_freed_release(&fr);
    mt_check(t.m);
    /* the counters stay exact: a fresh count agrees */
    uint64_t bytes = 0, inodes = 0;
    ASSERT_RC(meta_quota_subtree(t.m, d, &bytes, &inodes), 0);
    cr_assert_eq(bytes, q.used_bytes);
    cr_assert_eq(inodes, q.used_inodes);
    mt_fini(&t);
}

Test(quota, soft_limit_grace_and_nesting)
{
    struct mt t;
    mt_init(&t);
    uint64_t top = mt_mkdir(t.m, META_ROOT_INO, "top");
    uint64_t in = mt_mkdir(t.m, top, "in");
    qset(t.m, top, 0, 0, 3, 0, 0);
    qset(t.m, in, 0, 0, 0, 1, 0); /* soft 1, no grace */
    struct meta_attr a;
    mt_create(t.m, in, "a");
    /* crossing the soft limit is allowed once and starts the grace period */
    ASSERT_RC(TURN(t.m, meta_mknod(t.m, in, "b", S_IFREG | 0644, 0, 0, 0, &a)), 0);
    cr_assert_neq(qget(t.m, in).inodes_over_since, 0);
    /* grace 0 ran out: refused */
    ASSERT_RC(TURN(t.m, meta_mknod(t.m, in, "c", S_IFREG | 0644, 0, 0, 0, &a)), -EDQUOT);
    /* back under: the grace period ends */
    struct meta_freed fr = {0};
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, in, "b", &fr)), 0);
    cr_assert_eq(qget(t.m, in).inodes_over_since, 0);
    /* the outer quota counts the inner tree: in, a = 2 of 3 */
    cr_assert_eq(qget(t.m, top).used_inodes, 2);
    mt_create(t.m, top, "x");
    ASSERT_RC(TURN(t.m, meta_mknod(t.m, top, "y", S_IFREG | 0644, 0, 0, 0, &a)), -EDQUOT);
    /* removal of the inner quota leaves the outer one counting */
    ASSERT_RC(TURN(t.m, meta_quota_remove(t.m, in)), 0);
    struct meta_quota q;
    ASSERT_RC(meta_quota_get(t.m, in, &q), -ENOENT);
    ASSERT_RC(meta_quota_nearest(t.m, in, &q), 0);
    cr_assert_eq(q.ino, top);
    meta_freed_release(&fr);
    mt_check(t.m);
    mt_fini(&t);
}
