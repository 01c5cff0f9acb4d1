/*
 * test_namespace.c - the POSIX namespace of the master's metadata layer:
 * every operation and its error codes, the rename matrix, readdir resume,
 * hard links, xattrs, truncate, turns (read-your-writes, abort) and a
 * randomised operation mix checked by meta_check after every turn.
 */
#include <sys/xattr.h>

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
TestSuite(namespace, .init = setup, .fini = teardown, .timeout = 60);

#define M (T.m)

Test(namespace, root_exists)
{ /* a fresh database has root inode 1: a directory, nlink 2, its own parent */
    struct meta_attr a;
    ASSERT_RC(meta_getattr(M, META_ROOT_INO, &a), 0);
    cr_assert(S_ISDIR(a.mode));
    cr_assert_eq(a.nlink, 2);
    cr_assert_eq(a.parent, META_ROOT_INO);
    ASSERT_RC(meta_getattr(M, 999, &a), -ENOENT);
    mt_check(M);
}

Test(namespace, create_lookup_and_errors)
{ /* mknod/create/lookup and every name and parent error */
    struct meta_attr a, b;
    char longname[300];
    uint64_t f = mt_create(M, 1, "file");
    ASSERT_RC(meta_lookup(M, 1, "file", &a), 0);
    cr_assert_eq(a.ino, f);
    cr_assert(S_ISREG(a.mode));
    cr_assert_eq(a.mode & 07777, 0644);
    cr_assert_eq(a.uid, 1000);
    cr_assert_eq(a.nlink, 1);
    ASSERT_RC(meta_lookup(M, 1, "nope", &a), -ENOENT);
    ASSERT_RC(meta_lookup(M, f, "x", &a), -ENOTDIR);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "file", S_IFREG | 0600, 0, 0, 0, NULL)), -EEXIST);
    ASSERT_RC(TURN(M, meta_mknod(M, 77, "x", S_IFREG | 0600, 0, 0, 0, NULL)), -ENOENT);
    ASSERT_RC(TURN(M, meta_mknod(M, f, "x", S_IFREG | 0600, 0, 0, 0, NULL)), -ENOTDIR);
    memset(longname, 'a', 256);
    longname[256] = '\0';
    ASSERT_RC(TURN(M, meta_mknod(M, 1, longname, S_IFREG, 0, 0, 0, NULL)), -ENAMETOOLONG);
    ASSERT_RC(meta_lookup(M, 1, longname, &a), -ENAMETOOLONG);
    longname[255] = '\0';
    ASSERT_RC(TURN(M, meta_mknod(M, 1, longname, S_IFREG, 0, 0, 0, NULL)), 0);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "a/b", S_IFREG, 0, 0, 0, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "", S_IFREG, 0, 0, 0, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, ".", S_IFREG, 0, 0, 0, NULL)), -EEXIST);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "..", S_IFREG, 0, 0, 0, NULL)), -EEXIST);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "d", S_IFDIR | 0755, 0, 0, 0, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "fifo", S_IFIFO | 0600, 0, 0, 0, &a)), 0);
    cr_assert(S_ISFIFO(a.mode));
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "tty", S_IFCHR | 0600, 0x0501, 0, 0, &a)), 0);
    ASSERT_RC(meta_getattr(M, a.ino, &b), 0);
    cr_assert(S_ISCHR(b.mode));
    cr_assert_eq(b.rdev, 0x0501);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "sock", S_IFSOCK | 0600, 0, 0, 0, NULL)), 0);
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "blk", S_IFBLK | 0600, 0x0801, 0, 0, NULL)), 0);
    mt_check(M);
}

Test(namespace, parent_times_update)
{ /* creating an entry sets the parent's mtime and ctime to the child's time */
    struct meta_attr a, p;
    ASSERT_RC(TURN(M, meta_mknod(M, 1, "f", S_IFREG | 0644, 0, 0, 0, &a)), 0);
    ASSERT_RC(meta_getattr(M, 1, &p), 0);
    cr_assert_eq(p.mtime.tv_sec, a.ctime.tv_sec);
    cr_assert_eq(p.mtime.tv_nsec, a.ctime.tv_nsec);
    cr_assert_eq(p.ctime.tv_nsec, a.ctime.tv_nsec);
}

Test(namespace, mkdir_nlink_and_parent)
{ /* mkdir: child nlink 2 with parent set; parent nlink counts subdirectories */
    struct meta_attr a;
    uint64_t d = mt_mkdir(M, 1, "d");
    uint64_t e = mt_mkdir(M, d, "e");
    ASSERT_RC(meta_getattr(M, 1, &a), 0);
    cr_assert_eq(a.nlink, 3);
    ASSERT_RC(meta_getattr(M, d, &a), 0);
    cr_assert_eq(a.nlink, 3);
    cr_assert_eq(a.parent, 1);
    ASSERT_RC(meta_getattr(M, e, &a), 0);
    cr_assert_eq(a.nlink, 2);
    cr_assert_eq(a.parent, d);
    ASSERT_RC(TURN(M, meta_mkdir(M, 1, "d", 0755, 0, 0, NULL)), -EEXIST);
    mt_check(M);
}

Test(namespace, symlink_readlink)
{ /* symlink stores its target; readlink returns it, -ERANGE/-EINVAL otherwise */
    struct meta_attr a;
    char buf[64], big[5000];
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_symlink(M, 1, "l", "some/where", 5, 6, &a)), 0);
    cr_assert(S_ISLNK(a.mode));
    cr_assert_eq(a.size, 10);
    ASSERT_RC(meta_readlink(M, a.ino, buf, sizeof(buf)), 10);
    cr_assert_eq(memcmp(buf, "some/where", 10), 0);
    ASSERT_RC(meta_readlink(M, a.ino, buf, 3), -ERANGE);
    ASSERT_RC(meta_readlink(M, f, buf, sizeof(buf)), -EINVAL);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_RC(TURN(M, meta_symlink(M, 1, "l2", big, 0, 0, NULL)), -ENAMETOOLONG);
    ASSERT_RC(TURN(M, meta_symlink(M, 1, "l3", "", 0, 0, NULL)), -ENOENT);
    big[META_SYMLINK_MAX] = '\0';
    ASSERT_RC(TURN(M, meta_symlink(M, 1, "l4", big, 0, 0, &a)), 0);
    mt_reopen(&T);
    ASSERT_RC(meta_readlink(M, a.ino, big, sizeof(big)), (int)META_SYMLINK_MAX);
    mt_check(M);
}

Test(namespace, hard_links_nlink)
{ /* link raises nlink; unlink lowers it; the last unlink frees the inode */
    struct meta_attr a;
    struct meta_statfs st;
    uint64_t d = mt_mkdir(M, 1, "d");
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_link(M, f, d, "g", &a)), 0);
    cr_assert_eq(a.nlink, 2);
    ASSERT_RC(TURN(M, meta_link(M, f, 1, "h", &a)), 0);
    cr_assert_eq(a.nlink, 3);
    ASSERT_RC(TURN(M, meta_link(M, f, 1, "h", NULL)), -EEXIST);
    ASSERT_RC(TURN(M, meta_link(M, d, 1, "dl", NULL)), -EPERM);
    ASSERT_RC(TURN(M, meta_link(M, 4242, 1, "x", NULL)), -ENOENT);
    ASSERT_RC(TURN(M, meta_link(M, f, f, "x", NULL)), -ENOTDIR);
    mt_check(M);
    meta_statfs(M, &st);
    cr_assert_eq(st.inodes, 3);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "f", NULL)), 0);
    ASSERT_RC(meta_getattr(M, f, &a), 0);
    cr_assert_eq(a.nlink, 2);
    ASSERT_RC(TURN(M, meta_unlink(M, d, "g", NULL)), 0);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "h", NULL)), 0);
    ASSERT_RC(meta_getattr(M, f, &a), -ENOENT);
    meta_statfs(M, &st);
    cr_assert_eq(st.inodes, 2);
    mt_check(M);
}

Test(namespace, unlink_errors)
{ /* unlink: -EISDIR for directories, -ENOENT for missing, -ENOTDIR parent */
    uint64_t f = mt_create(M, 1, "f");
    mt_mkdir(M, 1, "d");
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "d", NULL)), -EISDIR);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "zz", NULL)), -ENOENT);
    ASSERT_RC(TURN(M, meta_unlink(M, f, "zz", NULL)), -ENOTDIR);
    mt_check(M);
}

Test(namespace, rmdir_rules)
{ /* rmdir: -ENOTEMPTY, -ENOTDIR, -EINVAL for ".", success restores parent nlink */
    struct meta_attr a;
    uint64_t d = mt_mkdir(M, 1, "d");
    mt_create(M, d, "f");
    mt_create(M, 1, "file");
    ASSERT_RC(TURN(M, meta_rmdir(M, 1, "d")), -ENOTEMPTY);
    ASSERT_RC(TURN(M, meta_rmdir(M, 1, "file")), -ENOTDIR);
    ASSERT_RC(TURN(M, meta_rmdir(M, 1, "none")), -ENOENT);
    ASSERT_RC(TURN(M, meta_rmdir(M, d, ".")), -EINVAL);
    ASSERT_RC(TURN(M, meta_rmdir(M, d, "..")), -ENOTEMPTY);
    ASSERT_RC(TURN(M, meta_unlink(M, d, "f", NULL)), 0);
    ASSERT_RC(TURN(M, meta_rmdir(M, 1, "d")), 0);
    ASSERT_RC(meta_getattr(M, d, &a), -ENOENT);
    ASSERT_RC(meta_getattr(M, 1, &a), 0);
    cr_assert_eq(a.nlink, 2);
    mt_check(M);
}

/* ---- rename matrix ---------------------------------------------------------- */

/*
 * Tree for each case:  /a/  /a/f  /a/sub/  /a/sub/deep/  /b/  /b/g  /b/empty/
 *                      /b/full/x  /h (hard link of /a/f)
 */
struct tree {
    uint64_t a, f, sub, deep, b, g, empty, full, x;
};

static void build(struct tree *t)
{
    t->a = mt_mkdir(M, 1, "a");
    t->f = mt_create(M, t->a, "f");
    t->sub = mt_mkdir(M, t->a, "sub");
    t->deep = mt_mkdir(M, t->sub, "deep");
    t->b = mt_mkdir(M, 1, "b");
    t->g = mt_create(M, t->b, "g");
    t->empty = mt_mkdir(M, t->b, "empty");
    t->full = mt_mkdir(M, t->b, "full");
    t->x = mt_create(M, t->full, "x");
    ASSERT_RC(TURN(M, meta_link(M, t->f, 1, "h", NULL)), 0);
}

static uint64_t ino_of(uint64_t dir, const char *name)
{
    struct meta_attr a;
    int rc = meta_lookup(M, dir, name, &a);
    return rc == 0 ? a.ino : 0;
}

static uint32_t nlink_of(uint64_t ino)
{
    struct meta_attr a;
    ASSERT_RC(meta_getattr(M, ino, &a), 0);
    return a.nlink;
}

Test(namespace, rename_file_same_dir)
{ /* rename a file within a directory: old name gone, new name same inode */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.a, "f2", 0, NULL)), 0);
    cr_assert_eq(ino_of(t.a, "f"), 0);
    cr_assert_eq(ino_of(t.a, "f2"), t.f);
    mt_check(M);
}

Test(namespace, rename_file_across_dirs)
{ /* rename a file to another directory */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "f", 0, NULL)), 0);
    cr_assert_eq(ino_of(t.b, "f"), t.f);
    cr_assert_eq(nlink_of(t.f), 2);
    mt_check(M);
}

Test(namespace, rename_file_over_file)
{ /* a file replaces a file; the replaced inode and its chunks are freed */
    struct tree t;
    struct meta_freed fr = {0};
    struct meta_chunk c;
    struct meta_attr a;
    build(&t);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, t.g, 0, 9, 0, 1000, &c)), 0);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "g", 0, &fr)), 0);
    cr_assert_eq(ino_of(t.b, "g"), t.f);
    ASSERT_RC(meta_getattr(M, t.g, &a), -ENOENT);
    cr_assert_eq(fr.n, 1);
    cr_assert_eq(fr.ids[0], c.id);
    ASSERT_RC(meta_chunk_get(M, c.id, &c), -ENOENT);
    meta_freed_release(&fr);
    mt_check(M);
}

Test(namespace, rename_file_over_linked_file)
{ /* replacing one link of a multiply-linked file only lowers its nlink */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.b, "g", 1, "h", 0, NULL)), 0);
    cr_assert_eq(ino_of(1, "h"), t.g);
    cr_assert_eq(nlink_of(t.f), 1);
    mt_check(M);
}

Test(namespace, rename_file_over_dir)
{ /* a file cannot replace a directory: -EISDIR */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "empty", 0, NULL)), -EISDIR);
    mt_check(M);
}

Test(namespace, rename_dir_over_file)
{ /* a directory cannot replace a file: -ENOTDIR */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "sub", t.b, "g", 0, NULL)), -ENOTDIR);
    mt_check(M);
}

Test(namespace, rename_dir_over_empty_dir)
{ /* a directory replaces an empty one across directories; nlinks follow */
    struct tree t;
    struct meta_attr a;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "sub", t.b, "empty", 0, NULL)), 0);
    cr_assert_eq(ino_of(t.b, "empty"), t.sub);
    ASSERT_RC(meta_getattr(M, t.empty, &a), -ENOENT);
    ASSERT_RC(meta_getattr(M, t.sub, &a), 0);
    cr_assert_eq(a.parent, t.b);
    cr_assert_eq(nlink_of(t.a), 2);
    cr_assert_eq(nlink_of(t.b), 4);
    mt_check(M);
}

Test(namespace, rename_dir_over_empty_dir_same_parent)
{ /* same-directory replacement of an empty directory drops one subdir link */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.b, "full", t.b, "empty", 0, NULL)), 0);
    cr_assert_eq(ino_of(t.b, "empty"), t.full);
    cr_assert_eq(nlink_of(t.b), 3);
    mt_check(M);
}

Test(namespace, rename_dir_over_nonempty_dir)
{ /* a directory cannot replace a non-empty one: -ENOTEMPTY */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "sub", t.b, "full", 0, NULL)), -ENOTEMPTY);
    mt_check(M);
}

Test(namespace, rename_dir_into_own_subtree)
{ /* moving a directory below itself is -EINVAL, also onto itself as parent */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, 1, "a", t.deep, "a", 0, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_rename(M, 1, "a", t.a, "a2", 0, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "sub", t.sub, "s", 0, NULL)), -EINVAL);
    mt_check(M);
}

Test(namespace, rename_dir_across_updates_dotdot)
{ /* moving a directory updates its '..' and both parents' nlink */
    struct tree t;
    struct meta_attr a;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "sub", t.b, "moved", 0, NULL)), 0);
    ASSERT_RC(meta_getattr(M, t.sub, &a), 0);
    cr_assert_eq(a.parent, t.b);
    cr_assert_eq(nlink_of(t.a), 2);
    cr_assert_eq(nlink_of(t.b), 5);
    cr_assert_eq(ino_of(t.sub, "deep"), t.deep);
    mt_check(M);
}

Test(namespace, rename_same_inode_noop)
{ /* renaming onto another link of the same inode changes nothing */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", 1, "h", 0, NULL)), 0);
    cr_assert_eq(ino_of(t.a, "f"), t.f);
    cr_assert_eq(ino_of(1, "h"), t.f);
    cr_assert_eq(nlink_of(t.f), 2);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.a, "f", 0, NULL)), 0);
    mt_check(M);
}

Test(namespace, rename_flags_and_missing)
{ /* NOREPLACE gives -EEXIST, a missing source -ENOENT, bad flags -EINVAL */
    struct tree t;
    build(&t);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "g", META_RENAME_NOREPLACE, NULL)), -EEXIST);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "nope", t.b, "z", 0, NULL)), -ENOENT);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", 999, "z", 0, NULL)), -ENOENT);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.g, "z", 0, NULL)), -ENOTDIR);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "z", 2 /* EXCHANGE */, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "a/b", 0, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_rename(M, t.a, "f", t.b, "z", META_RENAME_NOREPLACE, NULL)), 0);
    mt_check(M);
}

/* ---- readdir ---------------------------------------------------------------- */

struct rd {
    char names[64][META_NAME_MAX + 1];
    int n, limit;
};

static int rd_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
    struct rd *r = ctx;
    (void)ino;
    (void)type;
    if (r->n >= r->limit)
        return 1;
    cr_assert_eq(strlen(name), len);
    snprintf(r->names[r->n++], sizeof(r->names[0]), "%s", name);
    return 0;
}

Test(namespace, readdir_order_and_types)
{ /* readdir returns every entry once, in name order, with its type */
    struct rd r = {.limit = 64};
    mt_create(M, 1, "b");
    mt_mkdir(M, 1, "a");
    mt_create(M, 1, "c");
    ASSERT_RC(meta_readdir(M, 1, NULL, rd_cb, &r), 0);
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.names[0], "a");
    cr_assert_str_eq(r.names[1], "b");
    cr_assert_str_eq(r.names[2], "c");
    ASSERT_RC(meta_readdir(M, 777, NULL, rd_cb, &r), -ENOENT);
    ASSERT_RC(meta_readdir(M, ino_of(1, "b"), NULL, rd_cb, &r), -ENOTDIR);
}

Test(namespace, readdir_resume_across_changes)
{ /* the cookie (last name) resumes correctly after inserts and deletes */
    struct rd r = {.limit = 3};
    char name[16], cookie[META_NAME_MAX + 1];
    for (int i = 0; i < 10; i += 2) {
        snprintf(name, sizeof(name), "n%02d", i);
        mt_create(M, 1, name);
    }
    ASSERT_RC(meta_readdir(M, 1, NULL, rd_cb, &r), 1);
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.names[2], "n04");
    snprintf(cookie, sizeof(cookie), "%s", r.names[2]);
    /* delete the cookie's own entry and one before it, insert before and after */
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "n04", NULL)), 0);
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "n00", NULL)), 0);
    mt_create(M, 1, "n01");
    mt_create(M, 1, "n05");
    mt_create(M, 1, "n99");
    r.n = 0;
    r.limit = 64;
    ASSERT_RC(meta_readdir(M, 1, cookie, rd_cb, &r), 0);
    cr_assert_eq(r.n, 4);
    cr_assert_str_eq(r.names[0], "n05");
    cr_assert_str_eq(r.names[1], "n06");
    cr_assert_str_eq(r.names[2], "n08");
    cr_assert_str_eq(r.names[3], "n99");
}

Test(namespace, readdir_prefix_names_stay_in_dir)
{ /* entries of directory N never leak into N's neighbours' listings */
    struct rd r = {.limit = 64};
    uint64_t d1 = mt_mkdir(M, 1, "d1");
    uint64_t d2 = mt_mkdir(M, 1, "d2");
    mt_create(M, d1, "x");
    mt_create(M, d2, "y");
    ASSERT_RC(meta_readdir(M, d1, NULL, rd_cb, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.names[0], "x");
    r.n = 0;
    ASSERT_RC(meta_readdir(M, d2, "x", rd_cb, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.names[0], "y");
}

/* ---- setattr / truncate ------------------------------------------------------ */

Test(namespace, setattr_fields_and_ctime)
{ /* setattr changes mode (type kept), ids, times with ns; ctime moves */
    struct meta_attr a, b;
    struct meta_setattr sa = {0};
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(meta_getattr(M, f, &a), 0);
    sa.valid = META_SET_MODE | META_SET_UID | META_SET_GID | META_SET_ATIME | META_SET_MTIME;
    sa.mode = S_IFDIR | 04711; /* type bits are ignored */
    sa.uid = 7;
    sa.gid = 8;
    sa.atime = (struct timespec){.tv_sec = 1000, .tv_nsec = 123456789};
    sa.mtime = (struct timespec){.tv_sec = -5, .tv_nsec = 999999999};
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, &b, NULL)), 0);
    cr_assert(S_ISREG(b.mode));
    cr_assert_eq(b.mode & 07777, 04711);
    cr_assert_eq(b.uid, 7);
    cr_assert_eq(b.gid, 8);
    mt_reopen(&T);
    ASSERT_RC(meta_getattr(M, f, &b), 0);
    cr_assert_eq(b.atime.tv_sec, 1000);
    cr_assert_eq(b.atime.tv_nsec, 123456789);
    cr_assert_eq(b.mtime.tv_sec, -5);
    cr_assert_eq(b.mtime.tv_nsec, 999999999);
    cr_assert(b.ctime.tv_sec > a.ctime.tv_sec ||
              (b.ctime.tv_sec == a.ctime.tv_sec && b.ctime.tv_nsec >= a.ctime.tv_nsec));
    sa.valid = META_SET_ATIME_NOW | META_SET_MTIME_NOW;
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, &b, NULL)), 0);
    cr_assert(b.mtime.tv_sec > 1000);
    sa.valid = META_SET_ATIME;
    sa.atime.tv_nsec = 1000000000;
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, NULL, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_setattr(M, 999, &sa, NULL, NULL)), -ENOENT);
}

Test(namespace, setattr_size_rules)
{ /* size: -EISDIR on directories, -EINVAL on others, grows used bytes */
    struct meta_setattr sa = {.valid = META_SET_SIZE, .size = 5000};
    struct meta_statfs st;
    struct meta_attr a;
    uint64_t f = mt_create(M, 1, "f");
    uint64_t d = mt_mkdir(M, 1, "d");
    ASSERT_RC(TURN(M, meta_symlink(M, 1, "l", "t", 0, 0, &a)), 0);
    ASSERT_RC(TURN(M, meta_setattr(M, d, &sa, NULL, NULL)), -EISDIR);
    ASSERT_RC(TURN(M, meta_setattr(M, a.ino, &sa, NULL, NULL)), -EINVAL);
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, &a, NULL)), 0);
    cr_assert_eq(a.size, 5000);
    meta_statfs(M, &st);
    cr_assert_eq(st.used_bytes, 5000);
    sa.size = (uint64_t)INT64_MAX + 1;
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, NULL, NULL)), -EFBIG);
    mt_check(M);
}

struct chunk_list {
    struct meta_chunk c[16];
    int n;
};
static int chunk_cb(void *ctx, const struct meta_chunk *c)
{
    struct chunk_list *l = ctx;
    l->c[l->n++] = *c;
    return 0;
}

Test(namespace, truncate_drops_chunks)
{ /* truncate frees chunks past the end, cuts the straddling one, keeps the rest */
    struct meta_setattr sa = {.valid = META_SET_SIZE};
    struct meta_freed fr = {0};
    struct meta_chunk c[3];
    struct chunk_list l = {0};
    struct meta_statfs st;
    uint64_t f = mt_create(M, 1, "f");
    for (uint32_t i = 0; i < 3; i++) {
        ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f, i, 1, 0, 100, &c[i])), 0);
        ASSERT_RC(
            TURN(M, meta_chunk_lease_commit(M, c[i].id, 1, c[i].version, META_CHUNK_SIZE, NULL)),
            0);
    }
    meta_statfs(M, &st);
    cr_assert_eq(st.used_bytes, 3ull * META_CHUNK_SIZE);
    cr_assert_eq(st.chunks, 3);
    sa.size = META_CHUNK_SIZE + 100;
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, NULL, &fr)), 0);
    cr_assert_eq(fr.n, 1);
    cr_assert_eq(fr.ids[0], c[2].id);
    ASSERT_RC(meta_file_chunks(M, f, chunk_cb, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.c[0].length, META_CHUNK_SIZE);
    cr_assert_eq(l.c[1].length, 100);
    meta_statfs(M, &st);
    cr_assert_eq(st.used_bytes, META_CHUNK_SIZE + 100);
    cr_assert_eq(st.chunks, 2);
    /* to an exact chunk boundary: chunk 1 goes, chunk 0 is untouched */
    fr.n = 0;
    sa.size = META_CHUNK_SIZE;
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, NULL, &fr)), 0);
    cr_assert_eq(fr.n, 1);
    cr_assert_eq(fr.ids[0], c[1].id);
    /* to zero: everything goes */
    fr.n = 0;
    sa.size = 0;
    ASSERT_RC(TURN(M, meta_setattr(M, f, &sa, NULL, &fr)), 0);
    cr_assert_eq(fr.n, 1);
    cr_assert_eq(fr.ids[0], c[0].id);
    meta_freed_release(&fr);
    mt_check(M);
}

/* ---- xattrs -------------------------------------------------------------------- */

Test(namespace, xattr_set_get_list_remove)
{ /* xattrs: CREATE/REPLACE flags, size query, ERANGE, E2BIG, ENODATA, list */
    char buf[128];
    static char big[META_XATTR_SIZE_MAX + 2];
    char name[300];
    uint64_t f = mt_create(M, 1, "f");
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.a", "1234", 4, XATTR_REPLACE)), -ENODATA);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.a", "1234", 4, XATTR_CREATE)), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.a", "zz", 2, XATTR_CREATE)), -EEXIST);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.a", "xy", 2, XATTR_REPLACE)), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.b", "", 0, 0)), 0);
    ASSERT_RC(meta_xattr_get(M, f, "user.a", NULL, 0), 2);
    ASSERT_RC(meta_xattr_get(M, f, "user.a", buf, 1), -ERANGE);
    ASSERT_RC(meta_xattr_get(M, f, "user.a", buf, sizeof(buf)), 2);
    cr_assert_eq(memcmp(buf, "xy", 2), 0);
    ASSERT_RC(meta_xattr_get(M, f, "user.b", buf, sizeof(buf)), 0);
    ASSERT_RC(meta_xattr_get(M, f, "user.c", buf, sizeof(buf)), -ENODATA);
    ASSERT_RC(meta_xattr_list(M, f, NULL, 0), 14);
    ASSERT_RC(meta_xattr_list(M, f, buf, 5), -ERANGE);
    ASSERT_RC(meta_xattr_list(M, f, buf, sizeof(buf)), 14);
    cr_assert_eq(memcmp(buf, "user.a\0user.b\0", 14), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.big", big, sizeof(big) - 1, 0)), -E2BIG);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.big", big, META_XATTR_SIZE_MAX, 0)), 0);
    memset(name, 'n', 256);
    name[256] = '\0';
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, name, "v", 1, 0)), -ERANGE);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "", "v", 1, 0)), -ERANGE);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f, "user.x", "v", 1, XATTR_CREATE | XATTR_REPLACE)),
              -EINVAL);
    ASSERT_RC(TURN(M, meta_xattr_set(M, 999, "user.x", "v", 1, 0)), -ENOENT);
    ASSERT_RC(TURN(M, meta_xattr_remove(M, f, "user.a")), 0);
    ASSERT_RC(TURN(M, meta_xattr_remove(M, f, "user.a")), -ENODATA);
    ASSERT_RC(meta_xattr_list(M, f, buf, sizeof(buf)), 16);
    /* unlink removes the xattrs with the inode */
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "f", NULL)), 0);
    mt_check(M);
}

/* ---- turns ----------------------------------------------------------------------- */

Test(namespace, turn_reads_its_own_writes)
{ /* inside a turn, lookups, readdir and getattr see the turn's uncommitted ops */
    struct meta_attr a;
    struct rd r = {.limit = 64};
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_mkdir(M, 1, "d", 0755, 0, 0, &a), 0);
    ASSERT_RC(meta_mknod(M, a.ino, "f", S_IFREG | 0644, 0, 0, 0, NULL), 0);
    ASSERT_RC(meta_lookup(M, a.ino, "f", NULL), 0);
    ASSERT_RC(meta_readdir(M, a.ino, NULL, rd_cb, &r), 0);
    cr_assert_eq(r.n, 1);
    ASSERT_RC(meta_rmdir(M, 1, "d"), -ENOTEMPTY);
    ASSERT_RC(meta_unlink(M, a.ino, "f", NULL), 0);
    ASSERT_RC(meta_rmdir(M, 1, "d"), 0);
    ASSERT_RC(meta_mknod(M, 1, "g", S_IFREG | 0644, 0, 0, 0, NULL), 0);
    ASSERT_RC(meta_txn_commit(M), 0);
    ASSERT_RC(meta_lookup(M, 1, "d", NULL), -ENOENT);
    ASSERT_RC(meta_lookup(M, 1, "g", NULL), 0);
    mt_check(M);
}

Test(namespace, aborted_turn_leaves_nothing)
{ /* an aborted turn is invisible, and its counters are restored (invariant 2) */
    struct meta_statfs st0, st1;
    meta_statfs(M, &st0);
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_mknod(M, 1, "f", S_IFREG | 0644, 0, 0, 0, NULL), 0);
    ASSERT_RC(meta_mkdir(M, 1, "d", 0755, 0, 0, NULL), 0);
    meta_txn_abort(M);
    ASSERT_RC(meta_lookup(M, 1, "f", NULL), -ENOENT);
    ASSERT_RC(meta_lookup(M, 1, "d", NULL), -ENOENT);
    meta_statfs(M, &st1);
    cr_assert_eq(st1.inodes, st0.inodes);
    cr_assert_eq(st1.next_ino, st0.next_ino);
    mt_reopen(&T);
    ASSERT_RC(meta_lookup(M, 1, "f", NULL), -ENOENT);
    mt_check(M);
}

Test(namespace, failed_op_rolls_back_alone)
{ /* a failing operation leaves the turn's earlier operations intact (invariant 4) */
    struct tree t;
    build(&t);
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_mknod(M, 1, "kept", S_IFREG, 0, 0, 0, NULL), 0);
    ASSERT_RC(meta_rename(M, t.a, "sub", t.b, "full", 0, NULL), -ENOTEMPTY);
    ASSERT_RC(meta_xattr_set(M, t.f, "user.x", "v", 1, XATTR_REPLACE), -ENODATA);
    ASSERT_RC(meta_txn_commit(M), 0);
    ASSERT_RC(meta_lookup(M, 1, "kept", NULL), 0);
    mt_check(M);
}

Test(namespace, mutation_needs_turn)
{ /* mutations outside a turn are refused; turns do not nest */
    ASSERT_RC(meta_mknod(M, 1, "f", S_IFREG, 0, 0, 0, NULL), META_ENOTXN);
    ASSERT_RC(meta_txn_begin(M), 0);
    ASSERT_RC(meta_txn_begin(M), -EBUSY);
    ASSERT_RC(meta_txn_commit(M), 0);
    ASSERT_RC(meta_txn_commit(M), META_ENOTXN);
    cr_assert_str_eq(meta_strerror(META_ENOTXN), "metadata mutation outside a turn");
}

/* ---- orphans ----------------------------------------------------------------------- */

static uint64_t open_ino;
static int is_open(void *ctx, uint64_t ino)
{
    (void)ctx;
    return ino == open_ino;
}

Test(namespace, orphan_kept_until_release)
{ /* an open file's last unlink keeps it as an orphan; release/purge free it */
    struct meta_attr a;
    struct meta_check_stats cs;
    char err[256];
    uint64_t f = mt_create(M, 1, "f");
    uint64_t g = mt_create(M, 1, "g");
    meta_set_open_check(M, is_open, NULL);
    open_ino = f;
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "f", NULL)), 0);
    ASSERT_RC(meta_getattr(M, f, &a), 0);
    cr_assert_eq(a.nlink, 0);
    ASSERT_RC(meta_check(M, &cs, err, sizeof(err)), 0);
    cr_assert_eq(cs.orphans, 1);
    ASSERT_RC(TURN(M, meta_link(M, f, 1, "back", NULL)), -ENOENT);
    ASSERT_RC(TURN(M, meta_orphan_release(M, f, NULL)), 0);
    ASSERT_RC(meta_getattr(M, f, &a), -ENOENT);
    open_ino = g;
    ASSERT_RC(TURN(M, meta_unlink(M, 1, "g", NULL)), 0);
    mt_reopen(&T); /* restart: no session is open any more */
    ASSERT_RC(TURN(M, meta_orphans_purge(M, NULL)), 1);
    ASSERT_RC(meta_getattr(M, g, &a), -ENOENT);
    mt_check(M);
}

/* ---- randomised mix ------------------------------------------------------------------ */

/* A model of the directory entries: what each successful operation must have done. */
struct ment {
    uint64_t parent, ino;
    char name[8];
    bool dir;
};
struct model {
    struct ment e[1024];
    int n;
};

static int model_find(const struct model *md, uint64_t parent, const char *name)
{
    for (int i = 0; i < md->n; i++)
        if (md->e[i].parent == parent && strcmp(md->e[i].name, name) == 0)
            return i;
    return -1;
}

static void model_add(struct model *md, uint64_t parent, const char *name, uint64_t ino, bool dir)
{
    cr_assert_lt(md->n, 1024);
    md->e[md->n] = (struct ment){.parent = parent, .ino = ino, .dir = dir};
    snprintf(md->e[md->n].name, sizeof(md->e[0].name), "%s", name);
    md->n++;
}

static void model_del(struct model *md, int i)
{
    md->e[i] = md->e[--md->n];
}

struct listing {
    char name[64][8];
    uint64_t ino[64];
    int n;
};
static int listing_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
    struct listing *l = ctx;
    (void)type;
    cr_assert_lt(l->n, 64);
    cr_assert_lt(len, sizeof(l->name[0]));
    memcpy(l->name[l->n], name, len + 1);
    l->ino[l->n++] = ino;
    return 0;
}

/* Every model directory lists exactly the model's entries. */
static void model_compare(const struct model *md, uint64_t seed, int turn)
{
    for (int d = -1; d < md->n; d++) {
        uint64_t dir = d < 0 ? 1 : md->e[d].ino;
        struct listing l = {.n = 0};
        int want = 0;
        if (d >= 0 && !md->e[d].dir)
            continue;
        ASSERT_RC(meta_readdir(M, dir, NULL, listing_cb, &l), 0);
        for (int i = 0; i < md->n; i++)
            want += md->e[i].parent == dir;
        cr_assert_eq(l.n, want, "seed %llu turn %d: dir %llu lists %d entries, model %d",
                     (unsigned long long)seed, turn, (unsigned long long)dir, l.n, want);
        for (int i = 0; i < l.n; i++) {
            int j = model_find(md, dir, l.name[i]);
            cr_assert(j >= 0 && md->e[j].ino == l.ino[i],
                      "seed %llu turn %d: dir %llu entry %s -> %llu not in the model",
                      (unsigned long long)seed, turn, (unsigned long long)dir, l.name[i],
                      (unsigned long long)l.ino[i]);
        }
    }
}

/* Applies a successful rename to the model. */
static void model_rename(struct model *md, uint64_t p1, const char *n1, uint64_t p2, const char *n2)
{
    int s = model_find(md, p1, n1), t = model_find(md, p2, n2);
    cr_assert_geq(s, 0, "rename succeeded on a name the model lacks");
    if (t >= 0 && md->e[t].ino == md->e[s].ino)
        return;
    if (t >= 0) {
        model_del(md, t);
        s = model_find(md, p1, n1);
    }
    md->e[s].parent = p2;
    snprintf(md->e[s].name, sizeof(md->e[s].name), "%s", n2);
}

Test(namespace, random_ops_stay_consistent)
{ /* random ops in random turns (some aborted) match a model and keep meta_check clean */
    uint64_t seed = mt_seed(), x = seed | 1;
    uint64_t dirs[32] = {1};
    int ndirs = 1;
    struct meta_freed freed = {0};
    static struct model md, md_turn;
    md.n = 0;
    for (int turn = 0; turn < 150; turn++) {
        md_turn = md;
        ASSERT_RC(meta_txn_begin(M), 0);
        int nops = 1 + (int)(mt_rand(&x) % 8);
        for (int op = 0; op < nops; op++) {
            char n1[8], n2[8];
            uint64_t p1 = dirs[mt_rand(&x) % (uint64_t)ndirs];
            uint64_t p2 = dirs[mt_rand(&x) % (uint64_t)ndirs];
            struct meta_attr a;
            int rc = 0, i;
            snprintf(n1, sizeof(n1), "e%d", (int)(mt_rand(&x) % 12));
            snprintf(n2, sizeof(n2), "e%d", (int)(mt_rand(&x) % 12));
            switch (mt_rand(&x) % 10) {
            case 0:
                rc = meta_mknod(M, p1, n1, S_IFREG | 0644, 0, 0, 0, &a);
                if (rc == 0)
                    model_add(&md, p1, n1, a.ino, false);
                break;
            case 1:
                rc = meta_mkdir(M, p1, n1, 0755, 0, 0, &a);
                if (rc == 0)
                    model_add(&md, p1, n1, a.ino, true);
                if (rc == 0 && ndirs < 32)
                    dirs[ndirs++] = a.ino;
                break;
            case 2:
            case 3:
                i = model_find(&md, p1, n1);
                rc = mt_rand(&x) % 2 ? meta_unlink(M, p1, n1, NULL) : meta_rmdir(M, p1, n1);
                if (rc == 0) {
                    cr_assert_geq(i, 0, "seed %llu: removed a name the model lacks",
                                  (unsigned long long)seed);
                    model_del(&md, i);
                }
                break;
            case 4:
            case 5:
                rc = meta_rename(M, p1, n1, p2, n2, 0, NULL);
                if (rc == 0)
                    model_rename(&md, p1, n1, p2, n2);
                break;
            case 6:
                if (meta_lookup(M, p1, n1, &a) == 0) {
                    rc = meta_link(M, a.ino, p2, n2, NULL);
                    if (rc == 0)
                        model_add(&md, p2, n2, a.ino, false);
                }
                break;
            case 7: /* write a chunk: lease and commit */
                if (meta_lookup(M, p1, n1, &a) == 0 && S_ISREG(a.mode)) {
                    struct meta_chunk c;
                    uint32_t idx = (uint32_t)(mt_rand(&x) % 4);
                    rc = meta_chunk_lease_begin(M, a.ino, idx, 1, 0, 1, &c);
                    if (rc == 0)
                        rc = meta_chunk_lease_commit(M, c.id, 1, c.version,
                                                     mt_rand(&x) % (META_CHUNK_SIZE + 1), NULL);
                }
                break;
            case 8: /* truncate */
                if (meta_lookup(M, p1, n1, &a) == 0) {
                    struct meta_setattr sa = {.valid = META_SET_SIZE,
                                              .size = mt_rand(&x) % (3ull * META_CHUNK_SIZE)};
                    rc = meta_setattr(M, a.ino, &sa, NULL, &freed);
                }
                break;
            case 9:
                if (meta_lookup(M, p1, n1, &a) == 0)
                    rc = meta_xattr_set(M, a.ino, n2, n1, 3, 0);
                break;
            }
            cr_assert(rc == 0 || (rc < 0 && rc > -200), "seed %llu turn %d: op gave %d (%s)",
                      (unsigned long long)seed, turn, rc, meta_strerror(rc));
        }
        if (mt_rand(&x) % 5 == 0) {
            meta_txn_abort(M);
            md = md_turn;
        } else {
            ASSERT_RC(meta_txn_commit(M), 0);
        }
        char err[512];
        int rc = meta_check(M, NULL, err, sizeof(err));
        cr_assert_eq(rc, 0, "seed %llu turn %d: %s", (unsigned long long)seed, turn, err);
        model_compare(&md, seed, turn);
        freed.n = 0;
        /* forget directories that went away */
        for (int i = 1; i < ndirs; i++) {
            struct meta_attr a;
            if (meta_getattr(M, dirs[i], &a) != 0) {
                dirs[i] = dirs[--ndirs];
                i--;
            }
        }
    }
    meta_freed_release(&freed);
}
