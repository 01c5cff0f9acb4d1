/*
 * test_chunks.c - the chunk table: allocation on first lease, versions,
 * lease begin/renew/commit/rollback/expiry, file chunk lists, the table
 * iterator, and freeing at unlink.
 */
#include "meta_test_util.h"

static struct mt T;
static void setup(void)
{
    mt_init(&T);
}
static void teardown(void)
{
    mt_fini(&T);
}
TestSuite(chunks, .init = setup, .fini = teardown, .timeout = 60);

#define M (T.m)

Test(chunks, lease_on_hole_allocates)
{ /* the first lease on a hole creates the chunk: version 1, nothing committed */
    struct meta_chunk c, d;
    struct meta_statfs st;
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(meta_file_chunk_get(M, f, 0, &c), -ENOENT);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 42, 1000, 2000, &c)), 0);
    cr_assert_neq(c.id, 0);
    cr_assert_eq(c.ino, f);
    cr_assert_eq(c.index, 0);
    cr_assert_eq(c.version, 1);
    cr_assert_eq(c.committed_version, 0);
    cr_assert_eq(c.lease, META_LEASE_WRITE);
    cr_assert_eq(c.lease_holder, 42);
    cr_assert_eq(c.lease_expiry_ms, 2000);
    ASSERT_RC(meta_file_chunk_get(M, f, 0, &d), 0);
    cr_assert_eq(d.id, c.id);
    meta_statfs(M, &st);
    cr_assert_eq(st.chunks, 1);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 1, 42, 1000, 2000, &d)), 0);
    cr_assert_neq(d.id, c.id);
    mt_check(M);
}

Test(chunks, commit_sets_version_length_and_size)
{ /* commit makes the lease's version readable and grows the file */
    struct meta_chunk c;
    struct meta_attr a;
    struct meta_statfs st;
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 2, 7, 0, 100, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 7, c.version, 1234, &c)), 0);
    cr_assert_eq(c.committed_version, 1);
    cr_assert_eq(c.length, 1234);
    cr_assert_eq(c.lease, META_LEASE_NONE);
    ASSERT_RC(meta_getattr(M, f, &a), 0);
    cr_assert_eq(a.size, 2ull * META_CHUNK_SIZE + 1234);
    meta_statfs(M, &st);
    cr_assert_eq(st.used_bytes, a.size);
    /* a commit never shrinks the file */
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 7, 0, 100, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 7, c.version, 10, NULL)), 0);
    ASSERT_RC(meta_getattr(M, f, &a), 0);
    cr_assert_eq(a.size, 2ull * META_CHUNK_SIZE + 1234);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 7, c.version, 10, NULL)), -ESTALE);
    mt_check(M);
}

Test(chunks, versions_bump_and_never_reuse)
{ /* each new lease issues a new version; a rollback never reissues one */
    struct meta_chunk c;
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 100, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 1, 1, 500, NULL)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 100, &c)), 0);
    cr_assert_eq(c.version, 2);
    ASSERT_RC(TURN(M, meta_chunk_lease_rollback(M, c.id)), 0);
    ASSERT_RC(meta_chunk_get(M, c.id, &c), 0);
    cr_assert_eq(c.version, 1);
    cr_assert_eq(c.committed_version, 1);
    cr_assert_eq(c.length, 500);
    cr_assert_eq(c.lease, META_LEASE_NONE);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 100, &c)), 0);
    cr_assert_eq(c.version, 3);
    cr_assert_eq(c.issued_version, 3);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 1, 2, 9, NULL)), -ESTALE);
    ASSERT_RC(TURN(M, meta_chunk_lease_rollback(M, 9999)), -ENOENT);
    mt_check(M);
}

Test(chunks, one_writer_per_chunk)
{ /* another holder gets -EBUSY until the lease expires; renewals keep the version */
    struct meta_chunk c, d;
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 100, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 2, 50, 150, &d)), -EBUSY);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 50, 300, &d)), 0);
    cr_assert_eq(d.version, c.version);
    cr_assert_eq(d.lease_expiry_ms, 300);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 2, 200, 400, &d)), -EBUSY);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 2, 300, 400, &d)), 0);
    cr_assert_eq(d.lease_holder, 2);
    cr_assert_eq(d.version, c.version + 1);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 1, c.version, 1, NULL)), -ESTALE);
    mt_check(M);
}

Test(chunks, leases_expire_scan)
{ /* the expiry scan rolls back exactly the expired leases */
    struct meta_chunk c[3];
    uint64_t f = mt_create(M, 1, "f");
    for (uint32_t i = 0; i < 3; i++)
        ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, i, 1, 0, 100 * (i + 1), &c[i])), 0);
    ASSERT_RC(TURN(M, meta_chunk_leases_expire(M, 250)), 2);
    ASSERT_RC(meta_chunk_get(M, c[0].id, &c[0]), 0);
    ASSERT_RC(meta_chunk_get(M, c[2].id, &c[2]), 0);
    cr_assert_eq(c[0].lease, META_LEASE_NONE);
    cr_assert_eq(c[0].version, 0);
    cr_assert_eq(c[2].lease, META_LEASE_WRITE);
    ASSERT_RC(TURN(M, meta_chunk_leases_expire(M, 250)), 0);
    mt_check(M);
}

Test(chunks, lease_rules)
{ /* leases only on regular files that exist */
    struct meta_chunk c;
    uint64_t d = mt_mkdir(M, 1, "d");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, d, 0, 1, 0, 100, &c)), -EINVAL);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, 999, 0, 1, 0, 100, &c)), -ENOENT);
    ASSERT_RC(meta_chunk_lease_begin(M, 1, 0, 1, 0, 100, &c), META_ENOTXN);
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 100, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 1, c.version, META_CHUNK_SIZE + 1, NULL)),
              -EINVAL);
}

struct clist {
    uint64_t ids[64];
    uint32_t idx[64];
    int n, limit;
};
static int clist_cb(void *ctx, const struct meta_chunk *c)
{
    struct clist *l = ctx;
    if (l->n >= l->limit)
        return 1;
    l->ids[l->n] = c->id;
    l->idx[l->n++] = c->index;
    return 0;
}

Test(chunks, file_chunks_in_index_order)
{ /* a file's chunks list in index order, and only that file's */
    struct meta_chunk c;
    struct clist l = {.limit = 64};
    uint64_t f = mt_create(M, 1, "f");
    uint64_t g = mt_create(M, 1, "g");
    uint32_t order[] = {5, 0, 300, 2};
    for (int i = 0; i < 4; i++)
        ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, order[i], 1, 0, 10, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, g, 1, 1, 0, 10, &c)), 0);
    ASSERT_RC(meta_file_chunks(M, f, clist_cb, &l), 0);
    cr_assert_eq(l.n, 4);
    cr_assert_eq(l.idx[0], 0);
    cr_assert_eq(l.idx[1], 2);
    cr_assert_eq(l.idx[2], 5);
    cr_assert_eq(l.idx[3], 300);
}

Test(chunks, table_iteration_resumes)
{ /* the whole-table iterator walks ids in order and resumes from an id */
    struct meta_chunk c;
    struct clist l = {.limit = 3};
    uint64_t f = mt_create(M, 1, "f");
    for (uint32_t i = 0; i < 10; i++)
        ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, i, 1, 0, 10, &c)), 0);
    ASSERT_RC(meta_chunk_iter(M, 0, clist_cb, &l), 1);
    cr_assert_eq(l.n, 3);
    uint64_t last = l.ids[2];
    l.n = 0;
    l.limit = 64;
    ASSERT_RC(meta_chunk_iter(M, last + 1, clist_cb, &l), 0);
    cr_assert_eq(l.n, 7);
    for (int i = 1; i < l.n; i++)
        cr_assert_gt(l.ids[i], l.ids[i - 1]);
    cr_assert_gt(l.ids[0], last);
}

Test(chunks, unlink_frees_chunks)
{ /* the last unlink frees the file's chunks and reports their ids */
    struct meta_chunk c[3];
    struct meta_freed fr = {0};
    struct meta_statfs st;
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_link(M, f, 1, "g", NULL)), 0);
    for (uint32_t i = 0; i < 3; i++)
        ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, i, 1, 0, 10, &c[i])), 0);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "f", &fr)), 0);
    cr_assert_eq(fr.n, 0);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "g", &fr)), 0);
    cr_assert_eq(fr.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(fr.ids[i], c[i].id);
        ASSERT_RC(meta_chunk_get(M, c[i].id, &c[i]), -ENOENT);
    }
    meta_statfs(M, &st);
    cr_assert_eq(st.chunks, 0);
    meta_freed_release(&fr);
    mt_check(M);
}

Test(chunks, freed_rolled_back_with_failed_op)
{ /* a failed operation takes its freed ids back out of the list (invariant 4) */
    struct meta_freed fr = {0};
    uint64_t f = mt_create(M, 1, "f");
    struct meta_chunk c;
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 10, &c)), 0);
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_unlink(M, 1, "f", &fr), 0);
    cr_assert_eq(fr.n, 1);
    ASSERT_RC(meta_unlink(M, 1, "f", &fr), -ENOENT);
    cr_assert_eq(fr.n, 1);
    meta_txn_abort(M);
    ASSERT_RC(meta_chunk_get(M, c.id, &c), 0);
    meta_freed_release(&fr);
}

Test(chunks, commit_after_truncate_is_stale)
{ /* a lease whose chunk a truncate freed cannot commit: -ESTALE, nothing changes */
    struct meta_setattr sa = {.valid = META_SET_SIZE, .size = 0};
    struct meta_chunk c;
    struct meta_attr a;
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 1, 1, 0, 10, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 1, c.version, 100, NULL)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 1, 1, 0, 10, &c)), 0);
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, NULL, NULL)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 1, c.version, 100, NULL)), -ESTALE);
    ASSERT_RC(meta_getattr(M, f, &a), 0);
    cr_assert_eq(a.size, 0);
    mt_check(M);
}
