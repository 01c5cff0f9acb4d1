/*
 * test_changelog.c - the master's changelog (master/changelog.c): one entry
 * per committed turn, replay of the entries onto a checkpoint gives a
 * byte-identical database, trimming, and the guards of the replica side.
 */
#include <rocksdb/c.h>

#include "meta_test_util.h"

/* Every key and value of a closed database directory, in key order, as one
 * buffer "klen key vlen value ..." so two databases compare with memcmp. */
static char *db_image(const char *dir, size_t *len)
{
    char *rerr = NULL;
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_t *db = rocksdb_open_for_read_only(o, dir, 0, &rerr);
    cr_assert_null(rerr, "open %s: %s", dir, rerr);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    char *img = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&img, &n);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        fwrite(&kl, sizeof(kl), 1, f);
        fwrite(k, 1, kl, f);
        fwrite(&vl, sizeof(vl), 1, f);
        fwrite(v, 1, vl, f);
    }
    fclose(f);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    *len = n;
    return img;
}

static void some_work(struct meta *m, int round)
{
    char name[32];
    snprintf(name, sizeof(name), "d%d", round);
    uint64_t d = mt_mkdir(m, META_ROOT_INO, name);
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        uint64_t f = mt_create(m, d, name);
        ASSERT_RC(TURN(m, meta_xattr_set(m, f, "user.x", "\0\1\2", 3, 0)), 0);
    }
    struct meta_freed fr = {0};
    ASSERT_RC(TURN(m, meta_unlink(m, d, "f0", &fr)), 0);
    meta_freed_release(&fr);
}

Test(changelog, one_entry_per_committed_turn)
{
    struct mt t;
    mt_init(&t);
    uint64_t s0 = meta_changelog_seq(t.m);
    cr_assert_eq(s0, 1, "the format of a new database is entry 1, got %llu",
                 (unsigned long long)s0);
    mt_mkdir(t.m, META_ROOT_INO, "a");
    cr_assert_eq(meta_changelog_seq(t.m), s0 + 1);
    /* an empty turn writes nothing and numbers nothing */
    cr_assert_eq(meta_txn_begin(t.m), 0);
    cr_assert_eq(meta_txn_commit(t.m), 0);
    cr_assert_eq(meta_changelog_seq(t.m), s0 + 1);
    /* a failed operation inside a turn leaves no trace in the entry */
    struct meta_attr a;
    cr_assert_eq(meta_txn_begin(t.m), 0);
    ASSERT_RC(meta_mkdir(t.m, META_ROOT_INO, "a", 0755, 0, 0, &a), -EEXIST);
    ASSERT_RC(meta_mkdir(t.m, META_ROOT_INO, "b", 0755, 0, 0, &a), 0);
    cr_assert_eq(meta_txn_commit(t.m), 0);
    cr_assert_eq(meta_changelog_seq(t.m), s0 + 2);
    uint64_t ms;
    char *rep;
    size_t len;
    uint32_t count;
    ASSERT_RC(meta_changelog_get(t.m, s0 + 2, &ms, &rep, &len), 0);
    cr_assert_eq(meta_cl_rep_check(rep, len, &count), 0);
    cr_assert(count >= 3, "mkdir writes inode, dentry, parent and superblock: %u", count);
    cr_assert(ms > 1600000000000ull, "entry time is wall ms: %llu", (unsigned long long)ms);
    free(rep);
    ASSERT_RC(meta_changelog_get(t.m, s0 + 3, NULL, NULL, NULL), -ENOENT);
    /* the head survives a reopen */
    mt_reopen(&t);
    cr_assert_eq(meta_changelog_seq(t.m), s0 + 2);
    cr_assert_eq(meta_changelog_first(t.m), 1);
    mt_fini(&t);
}

Test(changelog, replay_onto_checkpoint_is_identical)
{
    struct mt a, b;
    mt_init(&a);
    some_work(a.m, 0);
    cr_assert(strlen(a.dir) + 6 <= sizeof(b.dir));
    memcpy(b.dir, a.dir, strlen(a.dir));
    memcpy(b.dir + strlen(a.dir), "-copy", 6);
    char err[256];
    uint64_t cp_seq = 0;
    ASSERT_RC(meta_checkpoint(a.m, b.dir, &cp_seq, err, sizeof(err)), 0);
    cr_assert_eq(cp_seq, meta_changelog_seq(a.m));
    some_work(a.m, 1);
    some_work(a.m, 2);
    uint64_t end = meta_changelog_seq(a.m);
    cr_assert(end > cp_seq + 10);

    struct meta_options o = {.no_sync = 1};
    cr_assert_eq(meta_open(b.dir, &o, &b.m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(meta_changelog_seq(b.m), cp_seq);
    /* out of order and garbage are refused and change nothing */
    char *rep;
    size_t len;
    uint64_t ms;
    ASSERT_RC(meta_changelog_get(a.m, cp_seq + 2, &ms, &rep, &len), 0);
    ASSERT_RC(meta_changelog_apply(b.m, cp_seq + 2, ms, rep, len, 0), -ESPIPE);
    free(rep);
    ASSERT_RC(meta_changelog_get(a.m, cp_seq + 1, &ms, &rep, &len), 0);
    rep[len - 1] ^= 0x40; /* the last value byte: still a valid batch */
    char *bad = malloc(len + 1);
    memcpy(bad, rep, len);
    bad[len] = 1; /* a trailing tag with no key */
    ASSERT_RC(meta_changelog_apply(b.m, cp_seq + 1, ms, bad, len + 1, 0), -EINVAL);
    bad[12] = 7; /* a record type the master never writes */
    ASSERT_RC(meta_changelog_apply(b.m, cp_seq + 1, ms, bad, len, 0), -EINVAL);
    free(bad);
    free(rep);
    cr_assert_eq(meta_changelog_seq(b.m), cp_seq);

    for (uint64_t s = cp_seq + 1; s <= end; s++) {
        ASSERT_RC(meta_changelog_get(a.m, s, &ms, &rep, &len), 0);
        ASSERT_RC(meta_changelog_apply(b.m, s, ms, rep, len, s == end), 0);
        free(rep);
    }
    cr_assert_eq(meta_changelog_seq(b.m), end);
    meta_close(b.m);
    b.m = NULL;
    meta_close(a.m);
    a.m = NULL;
    size_t la, lb;
    char *ia = db_image(a.dir, &la), *ib = db_image(b.dir, &lb);
    cr_assert_eq(la, lb, "replayed copy differs in size: %zu vs %zu", la, lb);
    cr_assert_eq(memcmp(ia, ib, la), 0, "replayed copy differs");
    free(ia);
    free(ib);
    /* the copy is a working master database */
    mt_open(&b, 1);
    mt_check(b.m);
    struct meta_attr at;
    ASSERT_RC(meta_lookup(b.m, META_ROOT_INO, "d2", &at), 0);
    mt_fini(&b);
    mt_open(&a, 1);
    mt_fini(&a);
}

Test(changelog, trim_keeps_what_is_asked)
{
    struct mt t;
    mt_init(&t);
    char n[16];
    for (int r = 0; r < 60; r++) {
        snprintf(n, sizeof(n), "x%d", r);
        mt_mkdir(t.m, META_ROOT_INO, n);
    }
    uint64_t end = meta_changelog_seq(t.m);
    meta_changelog_trim(t.m, end - 9);
    mt_mkdir(t.m, META_ROOT_INO, "y");
    cr_assert_eq(meta_changelog_first(t.m), end - 9);
    ASSERT_RC(meta_changelog_get(t.m, end - 10, NULL, NULL, NULL), -ENOENT);
    ASSERT_RC(meta_changelog_get(t.m, end - 9, NULL, NULL, NULL), 0);
    /* asking for more than exists keeps the newest entry */
    meta_changelog_trim(t.m, UINT64_MAX);
    mt_mkdir(t.m, META_ROOT_INO, "z");
    uint64_t now = meta_changelog_seq(t.m);
    ASSERT_RC(meta_changelog_get(t.m, now, NULL, NULL, NULL), 0);
    ASSERT_RC(meta_changelog_get(t.m, now - 1, NULL, NULL, NULL), -ENOENT);
    mt_reopen(&t);
    cr_assert_eq(meta_changelog_first(t.m), now);
    cr_assert_eq(meta_changelog_seq(t.m), now);
    mt_fini(&t);
}

Test(changelog, epochs_keep_forked_histories_apart)
{
    struct mt a, b;
    mt_init(&a);
    some_work(a.m, 0);
    cr_assert(strlen(a.dir) + 6 <= sizeof(b.dir));
    memcpy(b.dir, a.dir, strlen(a.dir));
    memcpy(b.dir + strlen(a.dir), "-fork", 6);
    char err[256];
    uint64_t s = 0;
    ASSERT_RC(meta_checkpoint(a.m, b.dir, &s, err, sizeof(err)), 0);
    struct meta_epoch ea, eb;
    meta_changelog_epoch(a.m, &ea);
    cr_assert_neq(ea.epoch, 0);
    /* the old master goes on a little: a copy that follows it gets ahead of b */
    some_work(a.m, 1);
    uint64_t ahead = meta_changelog_seq(a.m);
    cr_assert(meta_changelog_may_follow(a.m, ea.epoch, s), "a copy at %llu follows a",
              (unsigned long long)s);

    /* b is promoted: a new history from s on */
    struct meta_options o = {.no_sync = 1};
    cr_assert_eq(meta_open(b.dir, &o, &b.m, err, sizeof(err)), 0, "%s", err);
    ASSERT_RC(meta_changelog_fork(b.m), 0);
    meta_changelog_epoch(b.m, &eb);
    cr_assert_neq(eb.epoch, ea.epoch);
    cr_assert_eq(eb.prev, ea.epoch);
    cr_assert_eq(eb.start, s);
    some_work(b.m, 5);
    some_work(b.m, 6);
    cr_assert(meta_changelog_seq(b.m) > ahead, "b's numbers pass the copy's");
    /* a copy of the old history at the fork point may follow b ... */
    cr_assert(meta_changelog_may_follow(b.m, ea.epoch, s));
    /* ... one that went past it (entries b never had) may not, whatever the numbers */
    cr_assert_not(meta_changelog_may_follow(b.m, ea.epoch, ahead));
    cr_assert_not(meta_changelog_may_follow(b.m, 12345, s));
    cr_assert(meta_changelog_may_follow(b.m, eb.epoch, meta_changelog_seq(b.m)));
    /* the history survives a restart */
    meta_close(b.m);
    cr_assert_eq(meta_open(b.dir, &o, &b.m, err, sizeof(err)), 0, "%s", err);
    struct meta_epoch eb2;
    meta_changelog_epoch(b.m, &eb2);
    cr_assert_eq(eb2.epoch, eb.epoch);
    cr_assert_eq(eb2.prev, eb.prev);
    cr_assert_eq(eb2.start, eb.start);
    mt_fini(&b);
    mt_fini(&a);
}
