/*
 * test_marks.c - the metadata records of the health loop: removal marks
 * ('M' keys: set, clear, survive a reopen, rejected names, a corrupt record
 * is reported) and the reverse path lookup used to name lost chunks.
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
TestSuite(marks, .init = setup, .fini = teardown, .timeout = 60);

#define M (T.m)

struct seen {
    char names[8][64];
    int whole[8];
    uint8_t uuid[8][16];
    int n;
};

static int collect(void *ctx, const char *server, const uint8_t *uuid)
{
    struct seen *s = ctx;
    cr_assert_lt(s->n, 8);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", server);
    s->whole[s->n] = uuid == NULL;
    if (uuid)
        memcpy(s->uuid[s->n], uuid, 16);
    s->n++;
    return 0;
}

Test(marks, set_clear_and_reopen)
{
    uint8_t u1[16], u2[16];
    memset(u1, 0xab, sizeof(u1));
    memset(u2, 0x01, sizeof(u2));
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs1", u1, 1)), 0);
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs1", u2, 1)), 0);
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs2", NULL, 1)), 0);
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs1", u2, 0)), 0); /* keep: cleared */
    mt_reopen(&T);
    struct seen s = {0};
    ASSERT_RC(meta_marks_iter(M, collect, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.names[0], "cs1");
    cr_assert_eq(s.whole[0], 0);
    cr_assert_eq(memcmp(s.uuid[0], u1, 16), 0);
    cr_assert_str_eq(s.names[1], "cs2");
    cr_assert_eq(s.whole[1], 1);
    /* clearing a mark that does not exist is not an error */
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs3", NULL, 0)), 0);
    mt_check(M);
}

Test(marks, bad_names_rejected)
{
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    ASSERT_RC(TURN(M, meta_mark_put(M, "", NULL, 1)), -EINVAL);
    ASSERT_RC(TURN(M, meta_mark_put(M, longname, NULL, 1)), -EINVAL);
    ASSERT_RC(meta_mark_put(M, "cs1", NULL, 1), META_ENOTXN); /* outside a turn */
    struct seen s = {0};
    ASSERT_RC(meta_marks_iter(M, collect, &s), 0);
    cr_assert_eq(s.n, 0);
}

Test(marks, path_of_inode)
{
    char path[4096];
    uint64_t a = mt_mkdir(M, 1, "a");
    uint64_t b = mt_mkdir(M, a, "bb");
    uint64_t f = mt_create(M, b, "file.bin");
    uint64_t g = mt_create(M, 1, "top");
    ASSERT_RC(meta_ino_path(M, f, path, sizeof(path)), 0);
    cr_assert_str_eq(path, "/a/bb/file.bin");
    ASSERT_RC(meta_ino_path(M, g, path, sizeof(path)), 0);
    cr_assert_str_eq(path, "/top");
    ASSERT_RC(meta_ino_path(M, 1, path, sizeof(path)), 0);
    cr_assert_str_eq(path, "/");
    ASSERT_RC(meta_ino_path(M, f, path, 8), -ENAMETOOLONG);
    ASSERT_RC(meta_ino_path(M, 999999, path, sizeof(path)), -ENOENT);
}
