/*
 * test_trash.c - the trash of the metadata layer (master/trash.c): deleted
 * files and directories wait with their data, paths are rebuilt through
 * trashed directories, restore brings the tree back, expiry and purge free
 * the chunks, trashtime 0 frees at once, and meta_check accepts all of it.
 */
#include "meta_test_util.h"

struct collect {
    struct meta_trash_item items[16];
    int n;
};

static int collect_fn(void *ctx, const struct meta_trash_item *it)
{
    struct collect *c = ctx;
    if (c->n < 16)
        c->items[c->n++] = *it;
    return 0;
}

Test(trash, rm_rf_then_restore_the_tree)
{
    struct mt t;
    mt_init(&t);
    meta_set_trash_default(t.m, 3600);
    uint64_t d = mt_mkdir(t.m, META_ROOT_INO, "d");
    uint64_t e = mt_mkdir(t.m, d, "e");
    uint64_t chunk;
    uint64_t f = mt_with_chunk(t.m, e, "f", 1000, &chunk);
    struct meta_freed fr = {0};
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, e, "f", &fr)), 0);
    ASSERT_RC(TURN(t.m, meta_rmdir(t.m, d, "e")), 0);
    ASSERT_RC(TURN(t.m, meta_rmdir(t.m, META_ROOT_INO, "d")), 0);
    cr_assert_eq(fr.n, 0, "nothing is freed while in the trash");
    struct meta_attr a;
    ASSERT_RC(meta_lookup(t.m, META_ROOT_INO, "d", &a), -ENOENT);
    mt_check(t.m);

    struct collect c = {0};
    ASSERT_RC(meta_trash_list(t.m, collect_fn, &c), 0);
    cr_assert_eq(c.n, 3);
    char path[4096];
    struct meta_trash_item fi;
    ASSERT_RC(meta_trash_get(t.m, f, &fi), 0);
    cr_assert_eq(fi.kind, 1);
    cr_assert_eq(fi.size, 1000);
    cr_assert(fi.expires_s >= fi.deleted_s + 3600);
    ASSERT_RC(meta_trash_path(t.m, &fi, path, sizeof(path)), 0);
    cr_assert_str_eq(path, "/d/e/f");

    /* restoring the file brings its directories back first */
    ASSERT_RC(TURN(t.m, meta_trash_restore(t.m, f, 0)), 0);
    ASSERT_RC(meta_lookup(t.m, META_ROOT_INO, "d", &a), 0);
    cr_assert_eq(a.ino, d);
    cr_assert_eq(a.nlink, 3, "d holds e again: nlink %u", a.nlink);
    ASSERT_RC(meta_lookup(t.m, e, "f", &a), 0);
    cr_assert_eq(a.nlink, 1);
    cr_assert_eq(a.size, 1000);
    struct meta_chunk ch;
    ASSERT_RC(meta_file_chunk_get(t.m, f, 0, &ch), 0);
    cr_assert_eq(ch.id, chunk);
    c.n = 0;
    ASSERT_RC(meta_trash_list(t.m, collect_fn, &c), 0);
    cr_assert_eq(c.n, 0);
    mt_check(t.m);
    meta_freed_release(&fr);
    mt_fini(&t);
}

Test(trash, conflicts_expiry_purge_and_trashtime_zero)
{
    struct mt t;
    mt_init(&t);
    meta_set_trash_default(t.m, 3600);
    uint64_t d = mt_mkdir(t.m, META_ROOT_INO, "d");
    uint64_t c1, c2, c3;
    uint64_t f1 = mt_with_chunk(t.m, d, "f", 1000, &c1);
    struct meta_freed fr = {0};
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, d, "f", &fr)), 0);
    /* the name is taken again: restore refuses, --to elsewhere works */
    mt_with_chunk(t.m, d, "f", 1000, &c2);
    ASSERT_RC(TURN(t.m, meta_trash_restore(t.m, f1, 0)), -EEXIST);
    uint64_t other = mt_mkdir(t.m, META_ROOT_INO, "other");
    ASSERT_RC(TURN(t.m, meta_trash_restore(t.m, f1, other)), 0);
    struct meta_attr a;
    ASSERT_RC(meta_lookup(t.m, other, "f", &a), 0);

    /* rename over a file puts the old one in the trash */
    uint64_t g = mt_with_chunk(t.m, d, "g", 1000, &c3);
    ASSERT_RC(TURN(t.m, meta_rename(t.m, other, "f", d, "g", 0, &fr)), 0);
    struct meta_trash_item it;
    ASSERT_RC(meta_trash_get(t.m, g, &it), 0);
    cr_assert_str_eq(it.name, "g");
    mt_check(t.m);

    /* expiry frees the chunk */
    ASSERT_RC(TURN(t.m, meta_trash_expire(t.m, it.expires_s - 1, 100, &fr)), 0);
    cr_assert_not(mt_freed_has(&fr, c3));
    ASSERT_RC(TURN(t.m, meta_trash_expire(t.m, it.expires_s, 100, &fr)), 1);
    cr_assert(mt_freed_has(&fr, c3), "the expired file's chunk is freed");
    ASSERT_RC(meta_getattr(t.m, g, &a), -ENOENT);

    /* purge frees at once */
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, d, "f", &fr)), 0);
    cr_assert_not(mt_freed_has(&fr, c2));
    uint64_t f2 = 0;
    struct collect c = {0};
    ASSERT_RC(meta_trash_list(t.m, collect_fn, &c), 0);
    cr_assert_eq(c.n, 1);
    f2 = c.items[0].ino;
    ASSERT_RC(TURN(t.m, meta_trash_purge(t.m, f2, &fr)), 0);
    cr_assert(mt_freed_has(&fr, c2));

    /* trashtime 0 on the directory: deleted files are freed at once */
    ASSERT_RC(TURN(t.m, meta_trashtime_set(t.m, d, 0)), 0);
    uint32_t secs = 99;
    int expl = 1;
    uint64_t c4;
    uint64_t h = mt_with_chunk(t.m, d, "h", 1000, &c4);
    ASSERT_RC(meta_trashtime_get(t.m, h, d, &secs, &expl), 0);
    cr_assert_eq(secs, 0);
    cr_assert_eq(expl, 0, "inherited, not its own");
    ASSERT_RC(TURN(t.m, meta_unlink(t.m, d, "h", &fr)), 0);
    cr_assert(mt_freed_has(&fr, c4));
    ASSERT_RC(meta_trash_get(t.m, h, &it), -ENOENT);
    mt_check(t.m);
    meta_freed_release(&fr);
    mt_fini(&t);
}
