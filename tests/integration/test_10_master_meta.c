/*
 * test_10_master_meta.c - the real cairn-master over the wire: every
 * namespace request and its error codes, POSIX permission checks, group
 * commit (master/turn.c invariants 1 and 3's "acknowledged means durable")
 * and a SIGKILL under load after which every acknowledged mutation is in the
 * database and meta_check() finds it consistent.
 */
#include "itest.h"
#include "meta.h"

#include <sys/xattr.h>

static void setup(void)
{
    it_init();
    it_write_cfg(NULL);
    it_start_master(1);
}

TestSuite(master_meta, .init = setup, .fini = it_fini, .timeout = 60);

/* Proves: each namespace request works through the wire and fails with the errno POSIX gives. */
Test(master_meta, namespace_ops_and_errors)
{
    int fd = it_client();
    struct cn_attr d = {0}, f = {0}, a = {0};
    ASSERT_ERR(it_mkdir(fd, 1, "d", 0755, 0, &d), 0);
    cr_assert(S_ISDIR(d.mode));
    ASSERT_ERR(it_mkdir(fd, 1, "d", 0755, 0, NULL), -EEXIST);
    ASSERT_ERR(it_create(fd, d.ino, "f", 0644, 0, &f), 0);
    cr_assert(S_ISREG(f.mode));
    ASSERT_ERR(it_lookup(fd, d.ino, "f", 0, &a), 0);
    cr_assert_eq(a.ino, f.ino);
    ASSERT_ERR(it_lookup(fd, d.ino, "nope", 0, NULL), -ENOENT);
    ASSERT_ERR(it_lookup(fd, f.ino, "x", 0, NULL), -ENOTDIR);

    /* getattr, setattr (chmod, truncate grows), truncate */
    struct cn_ino_req gi = {f.ino};
    struct cn_attr_r ar;
    ASSERT_ERR(it_call(fd, CN_MSG_GETATTR, &gi, &ar), 0);
    cr_assert_eq(ar.attr.mode & 07777, 0644);
    struct cn_setattr sa = {
        .ino = f.ino, .valid = CN_SETATTR_MODE | CN_SETATTR_SIZE, .mode = 0600, .size = 12345};
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &sa, &ar), 0);
    cr_assert_eq(ar.attr.mode & 07777, 0600);
    cr_assert_eq(ar.attr.size, 12345);
    struct cn_truncate tr = {f.ino, 10, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_TRUNCATE, &tr, &ar), 0);
    cr_assert_eq(ar.attr.size, 10);
    struct cn_truncate trd = {d.ino, 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_TRUNCATE, &trd, NULL), -EISDIR);

    /* mknod fifo, symlink/readlink, link */
    struct cn_mknod mk = {d.ino, CN_STR("fifo"), S_IFIFO | 0644, 0, 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_MKNOD, &mk, &ar), 0);
    cr_assert(S_ISFIFO(ar.attr.mode));
    struct cn_symlink sl = {d.ino, CN_STR("sl"), CN_STR("../target"), 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_SYMLINK, &sl, &ar), 0);
    struct cn_ino_req rl = {ar.attr.ino};
    struct cn_readlink_r rlr;
    ASSERT_ERR(it_call(fd, CN_MSG_READLINK, &rl, &rlr), 0);
    cr_assert(cn_str_eq(rlr.target, "../target"));
    ASSERT_ERR(it_call(fd, CN_MSG_READLINK, &gi, NULL), -EINVAL);
    struct cn_link ln = {f.ino, 1, CN_STR("hard"), 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_LINK, &ln, &ar), 0);
    cr_assert_eq(ar.attr.nlink, 2);
    struct cn_link lnd = {d.ino, 1, CN_STR("dlink"), 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_LINK, &lnd, NULL), -EPERM);

    /* rename: across directories, over an existing file, dir over non-empty dir */
    struct cn_attr e = {0};
    ASSERT_ERR(it_mkdir(fd, 1, "e", 0755, 0, &e), 0);
    ASSERT_ERR(it_create(fd, e.ino, "g", 0644, 0, NULL), 0);
    struct cn_rename rn = {d.ino, CN_STR("f"), e.ino, CN_STR("g"), 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_RENAME, &rn, NULL), 0);
    ASSERT_ERR(it_lookup(fd, e.ino, "g", 0, &a), 0);
    cr_assert_eq(a.ino, f.ino);
    ASSERT_ERR(it_lookup(fd, d.ino, "f", 0, NULL), -ENOENT);
    struct cn_rename rn2 = {1, CN_STR("d"), 1, CN_STR("e"), 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_RENAME, &rn2, NULL), -ENOTEMPTY);
    struct cn_rename rn3 = {1, CN_STR("d"), 1, CN_STR("hard"), 1 /* NOREPLACE */, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_RENAME, &rn3, NULL), -EEXIST);
    struct cn_rename rn4 = {1, CN_STR("d"), d.ino, CN_STR("sub"), 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_RENAME, &rn4, NULL), -EINVAL);

    /* unlink, rmdir */
    ASSERT_ERR(it_name_op(fd, CN_MSG_UNLINK, 1, "e", 0), -EISDIR);
    ASSERT_ERR(it_name_op(fd, CN_MSG_RMDIR, 1, "e", 0), -ENOTEMPTY);
    ASSERT_ERR(it_name_op(fd, CN_MSG_RMDIR, 1, "hard", 0), -ENOTDIR);
    ASSERT_ERR(it_name_op(fd, CN_MSG_UNLINK, e.ino, "g", 0), 0);
    ASSERT_ERR(it_name_op(fd, CN_MSG_UNLINK, e.ino, "g", 0), -ENOENT);
    ASSERT_ERR(it_name_op(fd, CN_MSG_RMDIR, 1, "e", 0), 0);

    /* xattrs */
    struct cn_setxattr sx = {f.ino, CN_STR("user.k"), {(const uint8_t *)"v1", 2}, 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_SETXATTR, &sx, NULL), 0);
    sx.flags = XATTR_CREATE;
    ASSERT_ERR(it_call(fd, CN_MSG_SETXATTR, &sx, NULL), -EEXIST);
    struct cn_getxattr gx = {f.ino, CN_STR("user.k"), 0, 0, 0};
    struct cn_xattr_r xr;
    ASSERT_ERR(it_call(fd, CN_MSG_GETXATTR, &gx, &xr), 0);
    cr_assert_eq(xr.size, 2);
    gx.size = 100;
    ASSERT_ERR(it_call(fd, CN_MSG_GETXATTR, &gx, &xr), 0);
    cr_assert(xr.value.len == 2 && memcmp(xr.value.ptr, "v1", 2) == 0);
    gx.size = 1;
    ASSERT_ERR(it_call(fd, CN_MSG_GETXATTR, &gx, NULL), -ERANGE);
    struct cn_listxattr lx = {f.ino, 100, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_LISTXATTR, &lx, &xr), 0);
    cr_assert(xr.value.len == 7 && memcmp(xr.value.ptr, "user.k", 7) == 0);
    struct cn_name_req rx = {f.ino, CN_STR("user.k"), 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_REMOVEXATTR, &rx, NULL), 0);
    ASSERT_ERR(it_call(fd, CN_MSG_REMOVEXATTR, &rx, NULL), -ENODATA);

    /* statfs, open */
    struct cn_empty em = {0};
    struct cn_statfs_r st;
    ASSERT_ERR(it_call(fd, CN_MSG_STATFS, &em, &st), 0);
    cr_assert_eq(st.namemax, 255);
    struct cn_open op = {f.ino, O_RDWR | O_TRUNC, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_OPEN, &op, &ar), 0);
    cr_assert_eq(ar.attr.size, 0);
    struct cn_open opd = {d.ino, O_WRONLY, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_OPEN, &opd, NULL), -EISDIR);
    struct cn_create cx = {1, CN_STR("hard"), 0644, O_CREAT | O_EXCL | O_RDWR, 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_CREATE, &cx, NULL), -EEXIST);

    /* WRITE_BEGIN with no chunkserver registered: NO_SERVERS (ENOSPC) */
    struct cn_write_begin wb = {f.ino, 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_WRITE_BEGIN, &wb, NULL), -ENOSPC);
    struct cn_chunk_locate cl = {f.ino, 0};
    struct cn_chunk_locate_r clr;
    ASSERT_ERR(it_call(fd, CN_MSG_CHUNK_LOCATE, &cl, &clr), 0);
    cr_assert_eq(clr.chunk, 0, "a hole");
    cn_msg_free(CN_MSG_CHUNK_LOCATE_R, &clr);
    close(fd);
}

/* Proves: readdir lists ".", ".." and every entry exactly once across small pages. */
Test(master_meta, readdir_pages)
{
    int fd = it_client();
    struct cn_attr d = {0};
    ASSERT_ERR(it_mkdir(fd, 1, "big", 0755, 0, &d), 0);
    enum { N = 50 };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "file%03d", i);
        ASSERT_ERR(it_create(fd, d.ino, name, 0644, 0, NULL), 0);
    }
    int seen[N] = {0}, dots = 0, total = 0;
    uint64_t cookie = 0;
    for (int pages = 0; pages < 100; pages++) {
        struct cn_readdir rq = {d.ino, cookie, 7, 0, 0};
        struct cn_readdir_r rr;
        ASSERT_ERR(it_call(fd, CN_MSG_READDIR, &rq, &rr), 0);
        for (uint32_t i = 0; i < rr.nentries; i++) {
            struct cn_str nm = rr.entries[i].name;
            cookie = rr.entries[i].cookie;
            total++;
            if (cn_str_eq(nm, ".") || cn_str_eq(nm, "..")) {
                dots++;
                continue;
            }
            cr_assert_eq(nm.len, 7);
            int k = (nm.ptr[4] - '0') * 100 + (nm.ptr[5] - '0') * 10 + (nm.ptr[6] - '0');
            cr_assert(k >= 0 && k < N);
            seen[k]++;
            cr_assert(S_ISREG(rr.entries[i].attr.mode));
        }
        int eof = rr.eof;
        cn_msg_free(CN_MSG_READDIR_R, &rr);
        if (eof)
            break;
    }
    cr_assert_eq(dots, 2);
    cr_assert_eq(total, N + 2);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "file%03d seen %d times", i, seen[i]);
    /* random seek: cookie 10 resumes after the 10th entry (fresh connection, no cursor) */
    int fd2 = it_client();
    struct cn_readdir rq = {d.ino, 10, 1000, 0, 0};
    struct cn_readdir_r rr;
    ASSERT_ERR(it_call(fd2, CN_MSG_READDIR, &rq, &rr), 0);
    cr_assert_eq(rr.nentries, N + 2 - 10);
    cr_assert(rr.eof);
    cn_msg_free(CN_MSG_READDIR_R, &rr);
    close(fd2);
    close(fd);
}

/* Proves: owner/group/other bits are enforced from the request's uid/gid; root bypasses. */
Test(master_meta, permissions)
{
    int fd = it_client();
    struct cn_attr home = {0}, priv = {0}, f = {0}, tmp = {0};
    ASSERT_ERR(it_mkdir(fd, 1, "home", 0755, 1000, NULL), -EACCES); /* root is 0755 root */
    ASSERT_ERR(it_mkdir(fd, 1, "home", 0755, 0, &home), 0);
    struct cn_setattr ch = {
        .ino = home.ino, .valid = CN_SETATTR_UID | CN_SETATTR_GID, .uid = 1000, .gid = 1000};
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &ch, NULL), 0);
    /* uid 1000 owns home: can create; uid 2000 cannot */
    ASSERT_ERR(it_create(fd, home.ino, "mine", 0644, 1000, &f), 0);
    cr_assert_eq(f.uid, 1000);
    ASSERT_ERR(it_create(fd, home.ino, "theirs", 0644, 2000, NULL), -EACCES);
    ASSERT_ERR(it_mkdir(fd, home.ino, "x", 0755, 2000, NULL), -EACCES);
    ASSERT_ERR(it_lookup(fd, home.ino, "mine", 2000, NULL), 0);
    ASSERT_ERR(it_name_op(fd, CN_MSG_UNLINK, home.ino, "mine", 2000), -EACCES);
    /* 0700 directory: no search for others, root still passes */
    ASSERT_ERR(it_mkdir(fd, home.ino, "priv", 0700, 1000, &priv), 0);
    ASSERT_ERR(it_create(fd, priv.ino, "s", 0600, 1000, NULL), 0);
    ASSERT_ERR(it_lookup(fd, priv.ino, "s", 2000, NULL), -EACCES);
    ASSERT_ERR(it_lookup(fd, priv.ino, "s", 0, NULL), 0);
    struct cn_readdir rd = {priv.ino, 0, 10, 2000, 2000};
    ASSERT_ERR(it_call(fd, CN_MSG_READDIR, &rd, NULL), -EACCES);
    /* open for writing a 0644 file of someone else */
    struct cn_open op = {f.ino, O_WRONLY, 2000, 2000};
    ASSERT_ERR(it_call(fd, CN_MSG_OPEN, &op, NULL), -EACCES);
    op.flags = O_RDONLY;
    ASSERT_ERR(it_call(fd, CN_MSG_OPEN, &op, NULL), 0);
    /* group bits: gid 1000 may write a 0664 file */
    struct cn_setattr sa = {
        .ino = f.ino, .valid = CN_SETATTR_MODE, .mode = 0664, .cuid = 1000, .cgid = 1000};
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &sa, NULL), 0);
    struct cn_open og = {f.ino, O_WRONLY, 3000, 1000};
    ASSERT_ERR(it_call(fd, CN_MSG_OPEN, &og, NULL), 0);
    /* chmod/chown by others, truncate without write permission */
    sa.cuid = 2000;
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &sa, NULL), -EPERM);
    struct cn_setattr so = {
        .ino = f.ino, .valid = CN_SETATTR_UID, .uid = 2000, .cuid = 1000, .cgid = 1000};
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &so, NULL), -EPERM);
    so.cuid = 0;
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &so, NULL), 0);
    struct cn_truncate tr = {f.ino, 0, 4000, 4000};
    ASSERT_ERR(it_call(fd, CN_MSG_TRUNCATE, &tr, NULL), -EACCES);
    struct cn_setxattr sx = {f.ino, CN_STR("user.a"), {(const uint8_t *)"1", 1}, 0, 4000, 4000};
    ASSERT_ERR(it_call(fd, CN_MSG_SETXATTR, &sx, NULL), -EACCES);
    /* sticky directory: others' files cannot be removed or renamed away */
    ASSERT_ERR(it_mkdir(fd, 1, "tmp", 01777, 0, &tmp), 0);
    ASSERT_ERR(it_create(fd, tmp.ino, "a", 0644, 1000, NULL), 0);
    ASSERT_ERR(it_name_op(fd, CN_MSG_UNLINK, tmp.ino, "a", 2000), -EPERM);
    struct cn_rename rn = {tmp.ino, CN_STR("a"), tmp.ino, CN_STR("b"), 0, 2000, 2000};
    ASSERT_ERR(it_call(fd, CN_MSG_RENAME, &rn, NULL), -EPERM);
    ASSERT_ERR(it_name_op(fd, CN_MSG_UNLINK, tmp.ino, "a", 1000), 0);
    close(fd);
}

/* Pipeline n MKDIRs named prefix%d under the root; returns how many were acknowledged OK. */
static int pipeline_mkdirs(int fd, const char *prefix, int n, int acked[])
{
    struct cn_buf b = {0};
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        struct cn_mkdir m = {1, cn_str_of(name), 0755, 0, 0, 0};
        cr_assert_eq(cn_msg_frame(&b, CN_MSG_MKDIR, 1000000 + (uint64_t)i, &m), 0);
    }
    cr_assert_eq(cn_sock_send(fd, b.data, b.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&b);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        struct cn_frame_hdr h;
        struct cn_buf r = {0};
        int rc = cn_sock_recv_frame(fd, &h, &r, 0, IT_TIMEOUT_MS);
        cn_buf_release(&r);
        if (rc)
            break;
        if (h.type == CN_MSG_MKDIR_R) {
            int k = (int)(h.req_id - 1000000);
            cr_assert(k >= 0 && k < n);
            acked[k] = 1;
            ok++;
        }
    }
    return ok;
}

/* Proves (turn.c invariant 1): pipelined mutations of two connections share
 * commits, and all acknowledged ones survive a restart. */
Test(master_meta, group_commit_two_connections)
{
    enum { N = 300 };
    int a = it_client(), b = it_client();
    /* send both bursts before reading either, so their frames share loop turns */
    struct cn_buf fa = {0}, fb = {0};
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "a%d", i);
        struct cn_mkdir m = {1, cn_str_of(name), 0755, 0, 0, 0};
        cn_msg_frame(&fa, CN_MSG_MKDIR, 1000000 + (uint64_t)i, &m);
        snprintf(name, sizeof(name), "b%d", i);
        struct cn_mkdir m2 = {1, cn_str_of(name), 0755, 0, 0, 0};
        cn_msg_frame(&fb, CN_MSG_MKDIR, 1000000 + (uint64_t)i, &m2);
    }
    cr_assert_eq(cn_sock_send(a, fa.data, fa.len, IT_TIMEOUT_MS), 0);
    cr_assert_eq(cn_sock_send(b, fb.data, fb.len, IT_TIMEOUT_MS), 0);
    cn_buf_release(&fa);
    cn_buf_release(&fb);
    int na = 0, nb = 0;
    for (int i = 0; i < N; i++) {
        struct cn_frame_hdr h;
        struct cn_buf r = {0};
        cr_assert_eq(cn_sock_recv_frame(a, &h, &r, 0, IT_TIMEOUT_MS), 0);
        na += h.type == CN_MSG_MKDIR_R;
        cr_assert_eq(cn_sock_recv_frame(b, &h, &r, 0, IT_TIMEOUT_MS), 0);
        nb += h.type == CN_MSG_MKDIR_R;
        cn_buf_release(&r);
    }
    cr_assert_eq(na, N);
    cr_assert_eq(nb, N);
    json_t *st = it_admin(a, CN_MSG_ADM_STATUS, NULL);
    json_int_t commits = json_integer_value(json_object_get(st, "commits"));
    cr_log_info("group commit: %d mutations in %lld commits", 2 * N, (long long)commits);
    cr_assert_lt(commits, 2 * N, "mutations were not grouped (%lld commits)", (long long)commits);
    json_decref(st);
    close(a);
    close(b);
    /* clean restart: every acknowledged directory is there */
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
    it_start_master(0);
    int fd = it_client();
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "a%d", i);
        ASSERT_ERR(it_lookup(fd, 1, name, 0, NULL), 0);
        snprintf(name, sizeof(name), "b%d", i);
        ASSERT_ERR(it_lookup(fd, 1, name, 0, NULL), 0);
    }
    close(fd);
}

/* Proves (turn.c invariant 1): after SIGKILL during a mutation load, every
 * acknowledged mutation is in the database and the database is consistent. */
static void sigkill_under_load(void)
{
    enum { BURST = 100, ROUNDS = 40 };
    static int acked[ROUNDS][BURST];
    int fd = it_client();
    int total = 0, round;
    char prefix[32];
    /* a writer that keeps sending while the master dies under it */
    for (round = 0; round < ROUNDS; round++) {
        snprintf(prefix, sizeof(prefix), "r%d_", round);
        if (round == 5) {
            /* kill with a burst in flight: send it, then SIGKILL before reading */
            struct cn_buf b = {0};
            char name[64];
            for (int i = 0; i < BURST; i++) {
                snprintf(name, sizeof(name), "%s%d", prefix, i);
                struct cn_mkdir m = {1, cn_str_of(name), 0755, 0, 0, 0};
                cn_msg_frame(&b, CN_MSG_MKDIR, 1000000 + (uint64_t)i, &m);
            }
            cn_sock_send(fd, b.data, b.len, IT_TIMEOUT_MS);
            cn_buf_release(&b);
            /* read a few acks so the kill lands mid-burst, then kill */
            for (int i = 0; i < 10; i++) {
                struct cn_frame_hdr h;
                struct cn_buf r = {0};
                if (cn_sock_recv_frame(fd, &h, &r, 0, IT_TIMEOUT_MS) == 0 &&
                    h.type == CN_MSG_MKDIR_R) {
                    acked[round][h.req_id - 1000000] = 1;
                    total++;
                }
                cn_buf_release(&r);
            }
            kill(it.master.pid, SIGKILL);
            for (;;) { /* acks that were already on the wire still count */
                struct cn_frame_hdr h;
                struct cn_buf r = {0};
                int rc = cn_sock_recv_frame(fd, &h, &r, 0, IT_TIMEOUT_MS);
                cn_buf_release(&r);
                if (rc)
                    break;
                if (h.type == CN_MSG_MKDIR_R) {
                    acked[round][h.req_id - 1000000] = 1;
                    total++;
                }
            }
            break;
        }
        total += pipeline_mkdirs(fd, prefix, BURST, acked[round]);
    }
    close(fd);
    it_kill(&it.master, SIGKILL);
    cr_assert_gt(total, 5 * BURST);

    /* the daemon is dead: open its database directly */
    char db[128], err[256];
    snprintf(db, sizeof(db), "%s/db", it.dir);
    struct meta *m;
    struct meta_options o = {.cache_bytes = 8u << 20};
    int rc = meta_open(db, &o, &m, err, sizeof(err));
    cr_assert_eq(rc, 0, "meta_open: %s", err);
    int present = 0;
    for (int r = 0; r <= round && r < ROUNDS; r++) {
        for (int i = 0; i < BURST; i++) {
            char name[64];
            snprintf(name, sizeof(name), "r%d_%d", r, i);
            int lr = meta_lookup(m, 1, name, NULL);
            if (acked[r][i])
                cr_assert_eq(lr, 0, "acknowledged mkdir %s lost: %s", name, meta_strerror(lr));
            present += lr == 0;
        }
    }
    struct meta_check_stats cs;
    rc = meta_check(m, &cs, err, sizeof(err));
    cr_assert_eq(rc, 0, "meta_check: %s", err);
    cr_log_info("sigkill: %d acknowledged, %d present", total, present);
    meta_close(m);
    /* and the daemon restarts on it */
    it_start_master(0);
    fd = it_client();
    ASSERT_ERR(it_lookup(fd, 1, "r0_0", 0, NULL), 0);
    close(fd);
}

Test(master_meta, sigkill_under_load)
{
    sigkill_under_load();
}

static void setup_wal_interval(void)
{
    it_init();
    it_write_cfg("META_SYNC_MS = 200ms\n");
    it_start_master(1);
}

/* Proves: with META_SYNC_MS (WAL fsynced every 200 ms, not per turn) a
 * SIGKILL of the master still loses no acknowledged mutation: the turn's
 * WAL write happened before its replies. */
Test(master_meta, sigkill_under_load_wal_interval, .init = setup_wal_interval)
{
    sigkill_under_load();
}
