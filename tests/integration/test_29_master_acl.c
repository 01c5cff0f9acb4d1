/*
 * test_29_master_acl.c - POSIX ACLs and supplementary groups in the real
 * master's permission checks (issue 9, "POSIX ACLs"):
 *  - a named user entry grants what the mode denies, limited by the mask;
 *    chmod rewrites the mask; other and owner entries behave as the mode;
 *  - named and owning groups match through the groups a session declared
 *    with CREDS (and not before);
 *  - malformed ACL values are refused with EINVAL, a non-owner gets EPERM,
 *    a default ACL on a file EACCES; an access ACL sets the mode;
 *  - a directory's default ACL is inherited by create, mknod and mkdir
 *    (masked by the create mode, umask ignored); without one the umask
 *    applies.
 */
#include "itest.h"

#include "acl.h"

static void setup(void)
{
    it_init();
    it_write_cfg("GOAL = 1\nHEALTH_START_MS = 1h\n");
    it_start_master(1);
}

TestSuite(master_acl, .init = setup, .fini = it_fini, .timeout = 60);

#define E(tag, perm, id)                                                                           \
    (struct cn_acl_entry)                                                                          \
    {                                                                                              \
        (tag), (perm), (id)                                                                        \
    }

static int setacl(int fd, uint64_t ino, const char *name, const struct cn_acl *a, uint32_t uid)
{
    uint8_t buf[4 + 8 * CN_ACL_MAX_ENTRIES];
    size_t n = cn_acl_encode(a, buf);
    struct cn_setxattr m = {ino, cn_str_of(name), {buf, (uint32_t)n}, 0, uid, uid};
    return it_call(fd, CN_MSG_SETXATTR, &m, NULL);
}

static int setraw(int fd, uint64_t ino, const void *v, size_t n, uint32_t uid)
{
    struct cn_setxattr m = {ino, CN_STR(CN_ACL_XATTR_ACCESS), {v, (uint32_t)n}, 0, uid, uid};
    return it_call(fd, CN_MSG_SETXATTR, &m, NULL);
}

/* The ACL xattr `name` of ino as uid; -ENODATA when there is none. */
static int getacl(int fd, uint64_t ino, const char *name, uint32_t uid, struct cn_acl *out)
{
    struct cn_getxattr m = {ino, cn_str_of(name), 65536, uid, uid};
    struct cn_xattr_r r;
    int rc = it_call(fd, CN_MSG_GETXATTR, &m, &r);
    if (rc)
        return rc;
    cr_assert_eq(cn_acl_decode(r.value.ptr, r.value.len, out), 0, "stored ACL decodes");
    return 0;
}

static int open_as(int fd, uint64_t ino, uint32_t flags, uint32_t uid, uint32_t gid)
{
    struct cn_open m = {ino, flags, uid, gid};
    int rc = it_call(fd, CN_MSG_OPEN, &m, NULL);
    if (!rc) {
        struct cn_ino_req rel = {ino};
        ASSERT_ERR(it_call(fd, CN_MSG_RELEASE, &rel, NULL), 0);
    }
    return rc;
}

static uint32_t mode_of(int fd, uint64_t ino)
{
    struct cn_ino_req m = {ino};
    struct cn_attr_r r;
    ASSERT_ERR(it_call(fd, CN_MSG_GETATTR, &m, &r), 0);
    return r.attr.mode;
}

static void chmod_as(int fd, uint64_t ino, uint32_t mode, uint32_t uid)
{
    struct cn_setattr m = {
        .ino = ino, .valid = CN_SETATTR_MODE, .mode = mode, .cuid = uid, .cgid = uid};
    ASSERT_ERR(it_call(fd, CN_MSG_SETATTR, &m, NULL), 0);
}

static void creds(int fd, uint32_t slot, uint32_t uid, const uint32_t *groups, uint32_t n)
{
    struct cn_gid g[CN_CREDS_GROUPS];
    for (uint32_t i = 0; i < n; i++)
        g[i].gid = groups[i];
    struct cn_creds m = {slot, uid, g, n};
    ASSERT_ERR(it_call(fd, CN_MSG_CREDS, &m, NULL), 0);
}

/* A world-writable directory for the users of the test, and a 0600 file of uid 1000 in it. */
static uint64_t file_1000(int fd, uint64_t *dir)
{
    struct cn_attr d, f;
    ASSERT_ERR(it_mkdir(fd, 1, "t", 0777, 0, &d), 0);
    ASSERT_ERR(it_create(fd, d.ino, "f", 0600, 1000, &f), 0);
    struct cn_ino_req rel = {f.ino};
    ASSERT_ERR(it_call(fd, CN_MSG_RELEASE, &rel, NULL), 0);
    if (dir)
        *dir = d.ino;
    return f.ino;
}

Test(master_acl, named_user_and_mask)
{
    /* a named user reads what the mode denies; the mask and chmod limit it */
    int fd = it_client();
    uint64_t f = file_1000(fd, NULL);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 2000, 2000), -EACCES);
    struct cn_acl a = {5,
                       {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_USER, 4, 2000),
                        E(CN_ACL_GROUP_OBJ, 0, 0), E(CN_ACL_MASK, 4, 0), E(CN_ACL_OTHER, 0, 0)}};
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &a, 1000), 0);
    cr_assert_eq(mode_of(fd, f), S_IFREG | 0640u, "mode follows the ACL: %o", mode_of(fd, f));
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 2000, 2000), 0);
    ASSERT_ERR(open_as(fd, f, O_WRONLY, 2000, 2000), -EACCES);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 3000, 3000), -EACCES);
    ASSERT_ERR(open_as(fd, f, O_RDWR, 1000, 1000), 0);

    /* rw- for the user, but the mask lets only r- through */
    a.e[1].perm = 6;
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &a, 1000), 0);
    ASSERT_ERR(open_as(fd, f, O_WRONLY, 2000, 2000), -EACCES);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 2000, 2000), 0);

    /* chmod 0600: the mask becomes ---, the named user loses read */
    chmod_as(fd, f, 0600, 1000);
    struct cn_acl got;
    ASSERT_ERR(getacl(fd, f, CN_ACL_XATTR_ACCESS, 2000, &got), 0);
    cr_assert_eq(got.n, 5);
    cr_assert_eq(got.e[3].tag, CN_ACL_MASK);
    cr_assert_eq(got.e[3].perm, 0, "mask after chmod 0600: %u", got.e[3].perm);
    cr_assert_eq(got.e[1].perm, 6, "named entry kept: %u", got.e[1].perm);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 2000, 2000), -EACCES);
    /* chmod 0660 opens the mask again */
    chmod_as(fd, f, 0660, 1000);
    ASSERT_ERR(open_as(fd, f, O_RDWR, 2000, 2000), 0);

    /* a minimal ACL is the mode: nothing stored, mode set */
    struct cn_acl m3 = {
        3, {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_GROUP_OBJ, 4, 0), E(CN_ACL_OTHER, 4, 0)}};
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &m3, 1000), 0);
    cr_assert_eq(mode_of(fd, f), S_IFREG | 0644u);
    ASSERT_ERR(getacl(fd, f, CN_ACL_XATTR_ACCESS, 0, &got), -ENODATA);
    ASSERT_ERR(open_as(fd, f, O_WRONLY, 2000, 2000), -EACCES);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 2000, 2000), 0);
    close(fd);
}

Test(master_acl, groups_other_owner)
{
    /* named and owning groups match through CREDS; other; the owner class */
    int fd = it_client();
    uint64_t f = file_1000(fd, NULL);
    struct cn_acl a = {5,
                       {E(CN_ACL_USER_OBJ, 0, 0), E(CN_ACL_GROUP_OBJ, 0, 0),
                        E(CN_ACL_GROUP, 4, 500), E(CN_ACL_MASK, 6, 0), E(CN_ACL_OTHER, 0, 0)}};
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &a, 1000), 0);
    cr_assert_eq(mode_of(fd, f), S_IFREG | 0060u);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 3000, 3000), -EACCES);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 3000, 500), 0); /* primary group */
    uint32_t g[] = {7, 500};
    creds(fd, 0, 3000, g, 2);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 3000, 3000), 0); /* supplementary */
    ASSERT_ERR(open_as(fd, f, O_WRONLY, 3000, 3000), -EACCES);
    /* the owner class applies to the owner, even when groups would give more */
    uint32_t g1000[] = {500};
    creds(fd, 1, 1000, g1000, 1);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 1000, 1000), -EACCES);
    /* a new declaration replaces the old one */
    creds(fd, 0, 3000, g, 1);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 3000, 3000), -EACCES);
    /* owning group via a supplementary group, plain mode (no ACL) */
    chmod_as(fd, f, 0640, 1000);
    struct cn_acl m3 = {
        3, {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_GROUP_OBJ, 4, 0), E(CN_ACL_OTHER, 0, 0)}};
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &m3, 1000), 0);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 4000, 4000), -EACCES);
    uint32_t g4[] = {1000};
    creds(fd, 2, 4000, g4, 1);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 4000, 4000), 0);
    /* other */
    struct cn_acl o = {4,
                       {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_USER, 0, 5000),
                        E(CN_ACL_GROUP_OBJ, 4, 0), E(CN_ACL_MASK, 0, 0)}};
    o.e[o.n++] = E(CN_ACL_OTHER, 4, 0);
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &o, 1000), 0);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 6000, 6000), 0);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 5000, 5000), -EACCES); /* named user ---, not other */
    /* a session's groups stay in it */
    int fd2 = it_client();
    ASSERT_ERR(open_as(fd2, f, O_RDONLY, 4000, 4000), 0); /* other r-- */
    chmod_as(fd, f, 0640, 1000);
    ASSERT_ERR(open_as(fd2, f, O_RDONLY, 4000, 4000), -EACCES);
    ASSERT_ERR(open_as(fd, f, O_RDONLY, 4000, 4000), 0);
    /* CREDS bounds */
    struct cn_creds bad = {CN_CREDS_SLOTS, 1, NULL, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_CREDS, &bad, NULL), -EINVAL);
    close(fd2);
    close(fd);
}

Test(master_acl, malformed_and_refused)
{
    /* bad values: EINVAL; non-owner: EPERM; default ACL on a file: EACCES */
    int fd = it_client();
    uint64_t dir;
    uint64_t f = file_1000(fd, &dir);
    uint8_t v1[12] = {1, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff}; /* version 1 */
    ASSERT_ERR(setraw(fd, f, v1, sizeof(v1), 1000), -EINVAL);
    uint8_t shortv[7] = {2, 0, 0, 0, 1, 0, 6};
    ASSERT_ERR(setraw(fd, f, shortv, sizeof(shortv), 1000), -EINVAL);
    ASSERT_ERR(setraw(fd, f, shortv, 3, 1000), -EINVAL);
    ASSERT_ERR(setraw(fd, f, shortv, 4, 1000), -EINVAL); /* no entries: not an access ACL */
    struct cn_acl bad[] = {
        /* named user without a mask */
        {4,
         {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_USER, 4, 7), E(CN_ACL_GROUP_OBJ, 0, 0),
          E(CN_ACL_OTHER, 0, 0)}},
        /* out of order */
        {3, {E(CN_ACL_GROUP_OBJ, 6, 0), E(CN_ACL_USER_OBJ, 4, 0), E(CN_ACL_OTHER, 0, 0)}},
        /* a user twice */
        {6,
         {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_USER, 4, 7), E(CN_ACL_USER, 6, 7),
          E(CN_ACL_GROUP_OBJ, 0, 0), E(CN_ACL_MASK, 6, 0), E(CN_ACL_OTHER, 0, 0)}},
        /* perm beyond rwx */
        {3, {E(CN_ACL_USER_OBJ, 8, 0), E(CN_ACL_GROUP_OBJ, 4, 0), E(CN_ACL_OTHER, 0, 0)}},
        /* unknown tag */
        {4,
         {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_GROUP_OBJ, 4, 0), E(0x40, 0, 0),
          E(CN_ACL_OTHER, 0, 0)}},
        /* no other */
        {2, {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_GROUP_OBJ, 4, 0)}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(setacl(fd, f, CN_ACL_XATTR_ACCESS, &bad[i], 1000), -EINVAL, "case %zu", i);
    cr_assert_eq(mode_of(fd, f), S_IFREG | 0600u, "refused values change nothing");
    struct cn_acl ok = {
        3, {E(CN_ACL_USER_OBJ, 6, 0), E(CN_ACL_GROUP_OBJ, 4, 0), E(CN_ACL_OTHER, 4, 0)}};
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_ACCESS, &ok, 2000), -EPERM);
    ASSERT_ERR(setacl(fd, f, CN_ACL_XATTR_DEFAULT, &ok, 1000), -EACCES);
    ASSERT_ERR(setacl(fd, dir, CN_ACL_XATTR_DEFAULT, &ok, 2000), -EPERM);
    close(fd);
}

/* The access and default ACLs of a new inode under a directory with a default ACL. */
Test(master_acl, default_inheritance)
{
    int fd = it_client();
    struct cn_attr d, f, s, n, plain;
    ASSERT_ERR(it_mkdir(fd, 1, "d", 0777, 0, &d), 0);
    struct cn_acl def = {5,
                         {E(CN_ACL_USER_OBJ, 7, 0), E(CN_ACL_USER, 7, 2000),
                          E(CN_ACL_GROUP_OBJ, 5, 0), E(CN_ACL_MASK, 7, 0), E(CN_ACL_OTHER, 0, 0)}};
    ASSERT_ERR(setacl(fd, d.ino, CN_ACL_XATTR_DEFAULT, &def, 0), 0);

    /* create 0666 with umask 022: the umask is ignored, the mask is rw- */
    struct cn_create cm = {d.ino, CN_STR("f"), 0666, O_CREAT | O_RDWR, 1000, 1000, 022};
    struct cn_attr_r ar;
    ASSERT_ERR(it_call(fd, CN_MSG_CREATE, &cm, &ar), 0);
    f = ar.attr;
    cr_assert_eq(f.mode, S_IFREG | 0660u, "created mode %o", f.mode);
    struct cn_acl got;
    ASSERT_ERR(getacl(fd, f.ino, CN_ACL_XATTR_ACCESS, 3000, &got), 0);
    cr_assert_eq(got.n, 5);
    cr_assert_eq(got.e[0].perm, 6);
    cr_assert_eq(got.e[1].tag, CN_ACL_USER);
    cr_assert_eq(got.e[1].id, 2000);
    cr_assert_eq(got.e[1].perm, 7);
    cr_assert_eq(got.e[3].perm, 6, "mask = create mode's group bits: %u", got.e[3].perm);
    ASSERT_ERR(getacl(fd, f.ino, CN_ACL_XATTR_DEFAULT, 0, &got), -ENODATA);
    ASSERT_ERR(open_as(fd, f.ino, O_RDWR, 2000, 2000), 0);
    ASSERT_ERR(open_as(fd, f.ino, O_RDONLY, 3000, 3000), -EACCES);

    /* mkdir 0777 with umask 077: access ACL and the default ACL, mode 0770 */
    struct cn_mkdir mm = {d.ino, CN_STR("sub"), 0777, 1000, 1000, 077};
    ASSERT_ERR(it_call(fd, CN_MSG_MKDIR, &mm, &ar), 0);
    s = ar.attr;
    cr_assert_eq(s.mode, S_IFDIR | 0770u, "mkdir mode %o", s.mode);
    ASSERT_ERR(getacl(fd, s.ino, CN_ACL_XATTR_DEFAULT, 0, &got), 0);
    cr_assert_eq(got.n, 5);
    cr_assert_eq(got.e[3].perm, 7, "default ACL copied unmasked");
    ASSERT_ERR(getacl(fd, s.ino, CN_ACL_XATTR_ACCESS, 0, &got), 0);
    cr_assert_eq(got.n, 5);
    cr_assert_eq(got.e[1].perm, 7);

    /* mknod of a fifo 0640: masked by the mode */
    struct cn_mknod nm = {s.ino, CN_STR("p"), S_IFIFO | 0640, 0, 1000, 1000, 022};
    ASSERT_ERR(it_call(fd, CN_MSG_MKNOD, &nm, &ar), 0);
    n = ar.attr;
    cr_assert_eq(n.mode, S_IFIFO | 0640u, "mknod mode %o", n.mode);
    ASSERT_ERR(getacl(fd, n.ino, CN_ACL_XATTR_ACCESS, 0, &got), 0);
    cr_assert_eq(got.e[3].perm, 4);

    /* no default ACL: the umask applies and no ACL is made */
    struct cn_create pm = {1, CN_STR("plain"), 0666, O_CREAT | O_RDWR, 0, 0, 022};
    ASSERT_ERR(it_call(fd, CN_MSG_CREATE, &pm, &ar), 0);
    plain = ar.attr;
    cr_assert_eq(plain.mode, S_IFREG | 0644u, "plain mode %o", plain.mode);
    ASSERT_ERR(getacl(fd, plain.ino, CN_ACL_XATTR_ACCESS, 0, &got), -ENODATA);
    struct cn_mkdir pd = {1, CN_STR("plaind"), 0777, 0, 0, 027};
    ASSERT_ERR(it_call(fd, CN_MSG_MKDIR, &pd, &ar), 0);
    cr_assert_eq(ar.attr.mode, S_IFDIR | 0750u, "plain mkdir mode %o", ar.attr.mode);

    /* a default ACL is removed by an empty value (header only) */
    uint8_t hdr[4] = {2, 0, 0, 0};
    struct cn_setxattr rm = {d.ino, CN_STR(CN_ACL_XATTR_DEFAULT), {hdr, 4}, 0, 0, 0};
    ASSERT_ERR(it_call(fd, CN_MSG_SETXATTR, &rm, NULL), 0);
    ASSERT_ERR(getacl(fd, d.ino, CN_ACL_XATTR_DEFAULT, 0, &got), -ENODATA);
    close(fd);
}
