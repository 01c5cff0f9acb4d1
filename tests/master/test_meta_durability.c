/*
 * test_meta_durability.c - what survives a crash and what a damaged
 * database does: a child process commits turns and acknowledges each one
 * through a pipe, the parent SIGKILLs it at a random point, reopens, and
 * finds every acknowledged turn whole and meta_check clean (commit
 * invariants 3 and 6); turns are all-or-nothing (invariant 3); foreign,
 * newer and corrupt databases and records give errors, never a crash.
 *
 * The corruption tests write raw bytes through the handle's own RocksDB
 * (meta_int.h), the way a bad disk or a bug would leave them.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "meta_test_util.h"
#include "meta_int.h"

static struct mt T;
static void setup(void)
{
    mt_init(&T);
}
static void teardown(void)
{
    mt_fini(&T);
}
TestSuite(durability, .init = setup, .fini = teardown, .timeout = 120);

#define M (T.m)

/* ---- crash: SIGKILL during a stream of turns ------------------------------------ */

static int find_dir(struct meta *m, const char *name, uint64_t *ino)
{
    struct meta_attr a;
    int rc = meta_lookup(m, 1, name, &a);
    if (rc == 0)
        *ino = a.ino;
    return rc;
}

/* Child body: turn i creates /t<i> and /sub/c<i> and churns /churn; acks i. */
static void child_run(const char *dir, int fd, uint64_t seed)
{
    struct meta_options o = {.create = 0, .cache_bytes = 8u << 20};
    struct meta *m;
    uint64_t sub = 0, churn = 0, x = seed | 1;
    char name[32], err[256];
    uint32_t i = 0;

    if (meta_open(dir, &o, &m, err, sizeof(err)) < 0)
        _exit(2);
    if (find_dir(m, "sub", &sub) < 0 || find_dir(m, "churn", &churn) < 0)
        _exit(3);
    for (;; i++) { /* resume after the last turn that made it */
        snprintf(name, sizeof(name), "t%06u", i);
        if (meta_lookup(m, 1, name, NULL) == -ENOENT)
            break;
    }
    for (;; i++) {
        if (meta_txn_begin(m) < 0)
            _exit(4);
        snprintf(name, sizeof(name), "t%06u", i);
        if (meta_mknod(m, 1, name, S_IFREG | 0644, 0, 0, 0, NULL) < 0)
            _exit(5);
        snprintf(name, sizeof(name), "c%06u", i);
        if (meta_mkdir(m, sub, name, 0755, 0, 0, NULL) < 0)
            _exit(6);
        for (int k = 0; k < 6; k++) {
            char a[8], b[8];
            struct meta_attr at;
            snprintf(a, sizeof(a), "e%d", (int)(mt_rand(&x) % 16));
            snprintf(b, sizeof(b), "e%d", (int)(mt_rand(&x) % 16));
            switch (mt_rand(&x) % 5) {
            case 0:
                meta_mknod(m, churn, a, S_IFREG | 0644, 0, 0, 0, NULL);
                break;
            case 1:
                meta_unlink(m, churn, a, NULL);
                break;
            case 2:
                meta_rename(m, churn, a, churn, b, 0, NULL);
                break;
            case 3:
                if (meta_lookup(m, churn, a, &at) == 0 && S_ISREG(at.mode))
                    meta_link(m, at.ino, churn, b, NULL);
                break;
            case 4:
                if (meta_lookup(m, churn, a, &at) == 0 && S_ISREG(at.mode)) {
                    struct meta_chunk c;
                    if (meta_chunk_lease_begin(m, at.ino, 0, 1, 0, 1, &c) == 0)
                        meta_chunk_lease_commit(m, c.id, 1, c.version, mt_rand(&x) % 9999, NULL);
                }
                break;
            }
        }
        if (meta_txn_commit(m) < 0)
            _exit(7);
        if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i)) /* acknowledged only now */
            _exit(8);
    }
}

Test(durability, sigkill_keeps_acknowledged_turns)
{ /* every acknowledged turn survives SIGKILL whole; the namespace stays consistent */
    uint64_t seed = mt_seed(), x = seed | 1;
    mt_mkdir(M, 1, "sub");
    mt_mkdir(M, 1, "churn");
    for (int round = 0; round < 4; round++) {
        int p[2];
        int64_t last = -1;
        uint32_t v;
        int want = 3 + (int)(mt_rand(&x) % 25), got = 0, status;
        meta_close(M);
        M = NULL;
        cr_assert_eq(pipe(p), 0);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            close(p[0]);
            child_run(T.dir, p[1], seed + (uint64_t)round);
        }
        close(p[1]);
        while (got < want && read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
            last = v;
            got++;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "seed %llu: child exited early with %d",
                  (unsigned long long)seed, WEXITSTATUS(status));
        while (read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) /* acks sent before death */
            last = v;
        close(p[0]);
        cr_assert_geq(last, 0, "seed %llu: no turn acknowledged", (unsigned long long)seed);

        mt_open(&T, 0);
        uint64_t sub = 0;
        cr_assert_eq(find_dir(M, "sub", &sub), 0);
        for (uint32_t i = 0;; i++) {
            char t[32], c[32];
            snprintf(t, sizeof(t), "t%06u", i);
            snprintf(c, sizeof(c), "c%06u", i);
            int ht = meta_lookup(M, 1, t, NULL), hc = meta_lookup(M, sub, c, NULL);
            cr_assert(ht == 0 || ht == -ENOENT);
            cr_assert_eq(ht, hc, "seed %llu: turn %u only half there (%d %d)",
                         (unsigned long long)seed, i, ht, hc);
            if (i <= (uint32_t)last)
                cr_assert_eq(ht, 0, "seed %llu round %d: acknowledged turn %u lost",
                             (unsigned long long)seed, round, i);
            else if (ht == -ENOENT)
                break;
        }
        mt_check(M);
    }
}

/* ---- foreign, newer and broken databases --------------------------------------------- */

static void raw_put(struct meta *m, const void *k, size_t klen, const void *v, size_t vlen)
{
    char *rerr = NULL;
    rocksdb_put(m->db, m->wopts, k, klen, v, vlen, &rerr);
    cr_assert_null(rerr, "%s", rerr);
}

static void raw_get(struct meta *m, const void *k, size_t klen, uint8_t *buf, size_t *len)
{
    char *rerr = NULL, *v;
    v = rocksdb_get(m->db, m->ropts, k, klen, len, &rerr);
    cr_assert_not_null(v);
    memcpy(buf, v, *len);
    rocksdb_free(v);
}

static int noop_dirent(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
    (void)ctx;
    (void)name;
    (void)len;
    (void)ino;
    (void)type;
    return 0;
}

static int noop_chunk(void *ctx, const struct meta_chunk *c)
{
    (void)ctx;
    (void)c;
    return 0;
}

static int reopen_rc(struct mt *t, int create)
{
    struct meta_options o = {.create = create, .no_sync = 1};
    char err[256];
    meta_close(t->m);
    t->m = NULL;
    return meta_open(t->dir, &o, &t->m, err, sizeof(err));
}

Test(durability, open_missing_database)
{ /* a missing database without create is "not ours", with a reason */
    struct meta_options o = {0};
    struct meta *m = (struct meta *)1;
    char err[256];
    char path[128];
    snprintf(path, sizeof(path), "%s/does-not-exist", T.dir);
    ASSERT_RC(meta_open(path, &o, &m, err, sizeof(err)), META_ENOTOURS);
    cr_assert_null(m);
    cr_assert(strstr(err, "does-not-exist") != NULL, "%s", err);
    cr_assert_neq(access(path, F_OK), 0, "a failed open created %s", path);
    cr_assert_eq(mkdir(path, 0700), 0); /* an empty directory: no database either */
    ASSERT_RC(meta_open(path, &o, &m, err, sizeof(err)), META_ENOTOURS);
}

Test(durability, open_foreign_database)
{ /* a RocksDB without our superblock is refused even with create */
    char *rerr = NULL;
    raw_put(M, "S", 1, "x", 1); /* replaced below by deleting it */
    rocksdb_delete(M->db, M->wopts, "S", 1, &rerr);
    cr_assert_null(rerr);
    ASSERT_RC(reopen_rc(&T, 1), META_ENOTOURS);
}

/* Puts one key with RocksDB itself (the metadata handle must be closed). */
static void db_put(const char *dir, const void *k, size_t klen, const void *v, size_t vlen)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
    char *rerr = NULL;
    rocksdb_t *db = rocksdb_open(o, dir, &rerr);
    cr_assert_null(rerr, "%s", rerr);
    rocksdb_put(db, w, k, klen, v, vlen, &rerr);
    cr_assert_null(rerr, "%s", rerr);
    rocksdb_close(db);
    rocksdb_writeoptions_destroy(w);
    rocksdb_options_destroy(o);
}

Test(durability, open_superblock_checks)
{ /* bad magic: not ours; newer format: version error; bad length or counters: corrupt */
    uint8_t sb[META_SB_LEN + 8], bad[META_SB_LEN + 8];
    size_t len;
    raw_get(M, "S", 1, sb, &len);
    cr_assert_eq(len, META_SB_LEN);
    meta_close(M);
    M = NULL;

    memcpy(bad, sb, len);
    bad[3] ^= 0xff;
    db_put(T.dir, "S", 1, bad, len);
    ASSERT_RC(reopen_rc(&T, 0), META_ENOTOURS);
    ASSERT_RC(reopen_rc(&T, 1), META_ENOTOURS); /* create never reformats */

    memcpy(bad, sb, len);
    meta_put32(bad + 8, META_FORMAT_VERSION + 1);
    db_put(T.dir, "S", 1, bad, len);
    ASSERT_RC(reopen_rc(&T, 0), META_EVERSION);

    db_put(T.dir, "S", 1, sb, len - 1);
    ASSERT_RC(reopen_rc(&T, 0), META_ECORRUPT);

    memcpy(bad, sb, len);
    meta_put64(bad + 32, 0); /* next_ino 0 */
    db_put(T.dir, "S", 1, bad, len);
    ASSERT_RC(reopen_rc(&T, 0), META_ECORRUPT);

    db_put(T.dir, "S", 1, sb, len);
    ASSERT_RC(reopen_rc(&T, 0), 0);
    mt_check(M);
}

static int log_calls;
static void count_log(void *ctx, const char *msg)
{
    (void)ctx;
    cr_assert(strstr(msg, "meta: corrupt") != NULL, "%s", msg);
    log_calls++;
}

Test(durability, corrupt_records_are_errors)
{ /* malformed inode, dentry, chunk, map and xattr values give META_ECORRUPT, and are logged */
    struct meta_key k;
    struct meta_attr a;
    struct meta_chunk c;
    uint8_t junk[4] = {9, 2, 3, 4}; /* record version 9 does not exist */
    char buf[16];
    uint64_t f = mt_create(M, 1, "f");
    uint64_t g = mt_create(M, 1, "g");
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, g, 0, 1, 0, 10, &c)), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, g, "user.a", "v", 1, 0)), 0);

    meta_set_log(M, count_log, NULL);
    meta_key_ino(&k, META_K_INODE, f);
    raw_put(M, k.b, k.len, junk, sizeof(junk));
    ASSERT_RC(meta_getattr(M, f, &a), META_ECORRUPT);
    cr_assert_eq(log_calls, 1);
    ASSERT_RC(meta_lookup(M, 1, "f", &a), META_ECORRUPT);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "f", NULL)), META_ECORRUPT);
    cr_assert(strstr(meta_last_error(M), "inode") != NULL, "%s", meta_last_error(M));
    ASSERT_RC(meta_check(M, NULL, NULL, 0), META_ECORRUPT);
    raw_put(M, "D\0\0\0\0\0\0\0\1f", 10, junk, 3); /* the dentry of f */
    ASSERT_RC(meta_lookup(M, 1, "f", &a), META_ECORRUPT);
    ASSERT_RC(meta_readdir(M, 1, NULL, noop_dirent, NULL), META_ECORRUPT);

    meta_key_ino(&k, META_K_CHUNK, c.id);
    raw_put(M, k.b, k.len, junk, sizeof(junk));
    ASSERT_RC(meta_chunk_get(M, c.id, &c), META_ECORRUPT);
    ASSERT_RC(meta_file_chunk_get(M, g, 0, &c), META_ECORRUPT);
    ASSERT_RC(meta_chunk_iter(M, 0, noop_chunk, NULL), META_ECORRUPT);

    meta_key_fchunk(&k, g, 0);
    raw_put(M, k.b, k.len, junk, sizeof(junk));
    ASSERT_RC(meta_file_chunk_get(M, g, 0, &c), META_ECORRUPT);
    ASSERT_RC(meta_file_chunks(M, g, noop_chunk, NULL), META_ECORRUPT);

    meta_key_name(&k, META_K_XATTR, g, "user.a", 6);
    raw_put(M, k.b, k.len, junk, sizeof(junk));
    ASSERT_RC(meta_xattr_get(M, g, "user.a", buf, sizeof(buf)), META_ECORRUPT);
}

Test(durability, random_damage_never_crashes)
{ /* random truncations and byte flips of records give errors or values, never crashes */
    uint64_t seed = mt_seed(), x = seed | 1;
    struct meta_key ki, kd, kc;
    struct meta_chunk c;
    uint8_t vi[256], vd[32], vc[128], bad[256];
    size_t li, ld, lc;
    uint64_t d = mt_mkdir(M, 1, "d");
    uint64_t f = mt_create(M, d, "f");
    ASSERT_RC(TURN(M, meta_symlink(M, d, "l", "target", 0, 0, NULL)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, 0, 1, 0, 10, &c)), 0);
    meta_key_ino(&ki, META_K_INODE, f);
    meta_key_name(&kd, META_K_DENTRY, d, "f", 1);
    meta_key_ino(&kc, META_K_CHUNK, c.id);
    raw_get(M, ki.b, ki.len, vi, &li);
    raw_get(M, kd.b, kd.len, vd, &ld);
    raw_get(M, kc.b, kc.len, vc, &lc);
    for (int it = 0; it < 300; it++) {
        struct meta_key *k = it % 3 == 0 ? &ki : it % 3 == 1 ? &kd : &kc;
        const uint8_t *orig = it % 3 == 0 ? vi : it % 3 == 1 ? vd : vc;
        size_t len = it % 3 == 0 ? li : it % 3 == 1 ? ld : lc;
        memcpy(bad, orig, len);
        if (mt_rand(&x) % 2)
            len = (size_t)(mt_rand(&x) % (len + 1));
        for (int j = (int)(mt_rand(&x) % 4); j > 0 && len; j--)
            bad[mt_rand(&x) % len] ^= (uint8_t)(1 + mt_rand(&x) % 255);
        raw_put(M, k->b, k->len, bad, len);
        struct meta_attr a;
        struct meta_setattr sa = {.valid = META_SET_SIZE, .size = 1};
        int rcs[6];
        rcs[0] = meta_getattr(M, f, &a);
        rcs[1] = meta_lookup(M, d, "f", &a);
        rcs[2] = meta_readdir(M, d, NULL, noop_dirent, NULL) == 0 ? 0 : -1;
        rcs[3] = meta_chunk_get(M, c.id, &c);
        rcs[4] = TURN(M, meta_setattr(M, f, &sa, NULL, NULL));
        rcs[5] = meta_check(M, NULL, NULL, 0);
        for (int r = 0; r < 6; r++)
            cr_assert(rcs[r] <= 0, "seed %llu iteration %d call %d: %d", (unsigned long long)seed,
                      it, r, rcs[r]);
        raw_put(M, ki.b, ki.len, vi, li); /* repair for the next round */
        raw_put(M, kd.b, kd.len, vd, ld);
        raw_put(M, kc.b, kc.len, vc, lc);
    }
}

Test(durability, broken_store_refuses_writes)
{ /* after a failed commit (simulated) nothing of the turn applies, writes are refused until
     reopen (commit invariant 5) */
    struct meta_statfs st0, st1;
    meta_statfs(M, &st0);
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_mknod(M, 1, "f", S_IFREG | 0644, 0, 0, 0, NULL), 0);
    M->broken = true; /* what a failed rocksdb_write leaves behind */
    ASSERT_RC(meta_mknod(M, 1, "g", S_IFREG | 0644, 0, 0, 0, NULL), META_EBROKEN);
    ASSERT_RC(meta_txn_commit(M), META_EBROKEN);
    ASSERT_RC(meta_txn_begin(M), META_EBROKEN);
    ASSERT_RC(meta_lookup(M, 1, "f", NULL), -ENOENT);
    meta_statfs(M, &st1);
    cr_assert_eq(st1.next_ino, st0.next_ino);
    mt_reopen(&T);
    ASSERT_RC(meta_lookup(M, 1, "f", NULL), -ENOENT);
    mt_create(M, 1, "f");
    mt_check(M);
}

static void check_fails(const char *want)
{
    char err[512];
    ASSERT_RC(meta_check(M, NULL, err, sizeof(err)), META_ECORRUPT);
    cr_assert(strstr(err, want) != NULL, "meta_check said \"%s\", expected \"%s\"", err, want);
}

Test(durability, check_finds_damage)
{ /* meta_check reports a dangling entry, a wrong nlink, a detached cycle, counter drift */
    struct meta_inode in;
    struct meta_key k;
    uint64_t f = mt_create(M, 1, "f");
    uint64_t a = mt_mkdir(M, 1, "a");
    uint64_t b = mt_mkdir(M, a, "b");
    mt_check(M);

    /* nlink one too high */
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_inode_load(M, f, &in), 0);
    in.a.nlink = 2;
    meta_inode_store(M, &in);
    ASSERT_RC(meta_txn_commit(M), 0);
    check_fails("nlink 2 but 1 entries");

    /* the inode is gone under its entry */
    meta_key_ino(&k, META_K_INODE, f);
    ASSERT_RC(meta_txn_begin(M), 0);
    meta_kv_del(M, &k);
    ASSERT_RC(meta_txn_commit(M), 0);
    check_fails("missing inode");
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "f", NULL)), META_ECORRUPT);

    /* repair: recreate f's inode with nlink 1 */
    in.a.nlink = 1;
    ASSERT_RC(meta_txn_begin(M), 0);
    meta_inode_store(M, &in);
    ASSERT_RC(meta_txn_commit(M), 0);
    mt_check(M);

    /* /a moved under its own child /a/b behind the namespace's back */
    ASSERT_RC(meta_txn_begin(M), 0);
    meta_key_name(&k, META_K_DENTRY, 1, "a", 1);
    meta_kv_del(M, &k);
    {
        uint8_t v[META_DENTRY_LEN] = {META_REC_V1, S_IFDIR >> 12};
        meta_put64(v + 2, a);
        meta_key_name(&k, META_K_DENTRY, b, "a", 1);
        meta_kv_put(M, &k, v, sizeof(v));
    }
    ASSERT_RC(meta_inode_load(M, a, &in), 0);
    in.a.parent = b;
    meta_inode_store(M, &in);
    ASSERT_RC(meta_inode_load(M, b, &in), 0);
    in.a.nlink = 3;
    meta_inode_store(M, &in);
    ASSERT_RC(meta_inode_load(M, 1, &in), 0);
    in.a.nlink = 2;
    meta_inode_store(M, &in);
    ASSERT_RC(meta_txn_commit(M), 0);
    check_fails("does not reach the root");
}

Test(durability, check_finds_counter_drift)
{ /* a superblock counter that disagrees with the records is reported */
    mt_create(M, 1, "f");
    M->sb.inodes++;
    check_fails("superblock counters");
}

struct pager {
    char last[META_NAME_MAX + 1];
    int page, total;
};
static int pager_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
    struct pager *p = ctx;
    (void)ino;
    (void)type;
    if (p->page == 100)
        return 1;
    cr_assert_gt(strcmp(name, p->last), 0, "'%s' after '%s'", name, p->last);
    memcpy(p->last, name, len + 1);
    p->page++;
    p->total++;
    return 0;
}

Test(durability, many_entries_from_tables)
{ /* 3000 entries read back from flushed tables after reopen, in 100-entry pages */
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    struct pager p = {.last = ""};
    char name[32], *rerr = NULL;
    for (int t = 0; t < 30; t++) {
        ASSERT_RC(meta_txn_begin(M), 0);
        for (int i = 0; i < 100; i++) {
            snprintf(name, sizeof(name), "file-%05d", t * 100 + i);
            ASSERT_RC(meta_mknod(M, 1, name, S_IFREG | 0644, 0, 0, 0, NULL), 0);
        }
        ASSERT_RC(meta_txn_commit(M), 0);
    }
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(M->db, fo, &rerr);
    cr_assert_null(rerr, "%s", rerr);
    rocksdb_flushoptions_destroy(fo);
    mt_reopen(&T);
    int rc;
    do {
        p.page = 0;
        rc = meta_readdir(M, 1, p.last, pager_cb, &p);
        cr_assert(rc == 0 || rc == 1);
    } while (rc == 1);
    cr_assert_eq(p.total, 3000);
    ASSERT_RC(meta_lookup(M, 1, "file-02999", NULL), 0);
    ASSERT_RC(meta_lookup(M, 1, "file-03000", NULL), -ENOENT);
    mt_check(M);
}
