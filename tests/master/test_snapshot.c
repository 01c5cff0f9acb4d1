/*
 * test_snapshot.c - snapshots in the metadata layer (master/snapshot.c):
 * a tree copied with its chunks shared, copy-on-write at the first write
 * or cut, ownership handed over when the owner goes, chunks freed only
 * when the last sharer lets go, and meta_check agreeing all along.
 */
#include "meta_test_util.h"

static uint64_t at(struct meta *m, uint64_t dir, const char *name)
{
    struct meta_attr a;
    ASSERT_RC(meta_lookup(m, dir, name, &a), 0);
    return a.ino;
}

Test(snapshot, share_then_copy_on_write)
{
    struct mt t;
    mt_init(&t);
    uint64_t d = mt_mkdir(t.m, META_ROOT_INO, "d");
    uint64_t s = mt_mkdir(t.m, d, "s");
    uint64_t c1, c2;
    uint64_t f = mt_with_chunk(t.m, d, "f", 3000, &c1);
    uint64_t g = mt_with_chunk(t.m, s, "g", 3000, &c2);
    ASSERT_RC(TURN(t.m, meta_xattr_set(t.m, f, "user.k", "v", 1, 0)), 0);
    struct meta_attr la;
    ASSERT_RC(TURN(t.m, meta_symlink(t.m, d, "l", "f", 0, 0, &la)), 0);
    struct meta_statfs before;
    meta_statfs(t.m, &before);

    struct meta_snapshot_stats st;
    ASSERT_RC(TURN(t.m, meta_snapshot(t.m, d, META_ROOT_INO, "snap", &st)), 0);
    cr_assert_eq(st.inodes, 5, "d, s, f, g, l: %llu", (unsigned long long)st.inodes);
    cr_assert_eq(st.chunks_shared, 2);
    struct meta_statfs after;
    meta_statfs(t.m, &after);
    cr_assert_eq(after.chunks, before.chunks, "a snapshot makes no chunk");
    cr_assert_eq(after.inodes, before.inodes + 5);
    mt_check(t.m);

    uint64_t sn = at(t.m, META_ROOT_INO, "snap");
    uint64_t sf = at(t.m, sn, "f"), sg = at(t.m, at(t.m, sn, "s"), "g");
    struct meta_chunk c;
    ASSERT_RC(meta_file_chunk_get(t.m, sf, 0, &c), 0);
    cr_assert_eq(c.id, c1);
    cr_assert_eq(meta_chunk_shared(t.m, c1), 1);
    char buf[8];
    ASSERT_RC(meta_xattr_get(t.m, sf, "user.k", buf, sizeof(buf)), 1);
    ASSERT_RC(meta_readlink(t.m, at(t.m, sn, "l"), buf, sizeof(buf)), 1);
    struct meta_attr a;
    ASSERT_RC(meta_getattr(t.m, sf, &a), 0);
    cr_assert_eq(a.size, 3000);

    /* a shared chunk gets no lease: the writer unshares first */
    struct meta_chunk lc;
    ASSERT_RC(TURN(t.m, meta_chunk_lease_begin(t.m, sf, 0, 9, 0, 100, &lc)), -EBUSY);
    struct meta_chunk priv;
    ASSERT_RC(TURN(t.m, meta_chunk_unshare(t.m, sf, 0, &priv)), 1);
    cr_assert_neq(priv.id, c1);
    cr_assert_eq(priv.committed_version, c.committed_version);
    cr_assert_eq(priv.length, 3000);
    cr_assert_eq(meta_chunk_shared(t.m, c1), 0);
    struct meta_cow cw[4];
    cr_assert_eq(meta_cow_take(t.m, cw, 4), 1);
    cr_assert_eq(cw[0].from, c1);
    cr_assert_eq(cw[0].to, priv.id);
    ASSERT_RC(TURN(t.m, meta_chunk_lease_begin(t.m, sf, 0, 9, 0, 100, &lc)), 0);
    mt_check(t.m);

    /* unlink of one sharer frees nothing; of the last, the chunk */
    struct meta_freed fr = {0};
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, s, "g", &fr)), 0); /* the owner goes first */
    cr_assert_not(mt_freed_has(&fr, c2));
    ASSERT_RC(meta_file_chunk_get(t.m, sg, 0, &c), 0);
    cr_assert_eq(c.ino, sg, "ownership moved to the snapshot's file");
    mt_check(t.m);
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, at(t.m, sn, "s"), "g", &fr)), 0);
    cr_assert(mt_freed_has(&fr, c2));
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, d, "f", &fr)), 0);
    cr_assert(mt_freed_has(&fr, c1), "d/f held c1 alone after the unshare");
    (void)g;
    mt_check(t.m);
    meta_freed_release(&fr);
    mt_fini(&t);
}

Test(snapshot, truncate_cuts_a_private_copy_and_refusals)
{
    struct mt t;
    mt_init(&t);
    uint64_t c1;
    uint64_t f = mt_with_chunk(t.m, META_ROOT_INO, "f", 3000, &c1);
    ASSERT_RC(TURN(t.m, meta_snapshot(t.m, f, META_ROOT_INO, "f2", NULL)), 0);
    struct meta_setattr sa = {0};
    struct meta_freed fr = {0};
    sa.valid = META_SET_SIZE;
    sa.size = 100;
    ASSERT_RC(TURN(t.m, meta_setattr(t.m, f, &sa, NULL, &fr)), 0);
    struct meta_chunk c;
    ASSERT_RC(meta_file_chunk_get(t.m, at(t.m, META_ROOT_INO, "f2"), 0, &c), 0);
    cr_assert_eq(c.id, c1);
    cr_assert_eq(c.length, 3000, "the snapshot keeps its length");
    ASSERT_RC(meta_file_chunk_get(t.m, f, 0, &c), 0);
    cr_assert_neq(c.id, c1);
    cr_assert_eq(c.length, 100);
    mt_check(t.m);

    uint64_t d = mt_mkdir(t.m, META_ROOT_INO, "d");
    uint64_t in = mt_mkdir(t.m, d, "in");
    ASSERT_RC(TURN(t.m, meta_snapshot(t.m, d, in, "loop", NULL)), -EINVAL);
    ASSERT_RC(TURN(t.m, meta_snapshot(t.m, d, META_ROOT_INO, "f2", NULL)), -EEXIST);
    struct meta_chunk lc;
    uint64_t w = mt_create(t.m, d, "w");
    ASSERT_RC(TURN(t.m, meta_chunk_lease_begin(t.m, w, 0, 9, 0, INT64_MAX, &lc)), 0);
    ASSERT_RC(TURN(t.m, meta_snapshot(t.m, d, META_ROOT_INO, "d2", NULL)), -EBUSY);
    meta_freed_release(&fr);
    mt_check(t.m);
    mt_fini(&t);
}
