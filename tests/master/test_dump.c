/*
 * test_dump.c - cairn-admin dump / restore (master/dump.c): a namespace with
 * every record kind round-trips byte for byte (dump -> restore -> dump) and
 * reads back through the meta API; truncated, corrupted, edited or foreign
 * input, a non-empty target and a running master are refused, and a failed
 * restore leaves neither the target nor its temporary directory.
 */
#include <sys/wait.h>
#include <zstd.h>

#include "dump.h"
#include "meta_int.h"
#include "meta_test_util.h"

static struct mt T;
static char base[64]; /* scratch directory for restore targets */

static void setup(void)
{
    mt_init(&T);
    snprintf(base, sizeof(base), "/tmp/cairn-dump-XXXXXX");
    cr_assert_not_null(mkdtemp(base));
}
static void teardown(void)
{
    if (T.m)
        mt_fini(&T);
    else
        nftw(T.dir, mt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(base, mt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
TestSuite(dump, .init = setup, .fini = teardown, .timeout = 120);

#define M (T.m)

struct blob {
    char *p;
    size_t n;
};

static int open_pred(void *ctx, uint64_t ino)
{
    return ino == *(uint64_t *)ctx;
}

static const char odd1[] = "\xff\xfe-not-utf8";
static const char odd2[] = "tab\there \"quoted\" back\\slash \x7f del";
static const char utf8[] = "caf\xc3\xa9 \xe2\x82\xac";
static uint8_t binval[300];
static uint8_t disk_uuid[16];

static void put_raw(const void *k, size_t klen, const void *v, size_t vlen)
{
    char *rerr = NULL;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put(M->db, wo, k, klen, v, vlen, &rerr);
    rocksdb_writeoptions_destroy(wo);
    cr_assert_null(rerr, "put: %s", rerr);
}

/* Every record kind: dirs, files with chunks (one leased), a symlink, a
 * hard link, a fifo and a device, xattrs with binary values and odd names,
 * names that are not UTF-8, an orphan, removal marks, and a raw key under
 * the reserved storage-class prefix. */
static void build(void)
{
    struct meta_attr a;
    struct meta_chunk c;
    struct meta_freed fr = {0};
    uint64_t d1, d2, f1, f2, orphan;

    for (size_t i = 0; i < sizeof(binval); i++)
        binval[i] = (uint8_t)(i * 7);
    memset(disk_uuid, 0xa5, sizeof(disk_uuid));
    d1 = mt_mkdir(M, META_ROOT_INO, "dir");
    d2 = mt_mkdir(M, d1, odd1);
    f1 = mt_create(M, d1, "file");
    f2 = mt_create(M, d2, odd2);
    mt_create(M, META_ROOT_INO, utf8);
    ASSERT_RC(TURN(M, meta_symlink(M, META_ROOT_INO, "link", "dir/file\x01\xff", 0, 0, &a)), 0);
    ASSERT_RC(TURN(M, meta_link(M, f1, d2, "hard", &a)), 0);
    ASSERT_RC(TURN(M, meta_mknod(M, d1, "fifo", S_IFIFO | 0600, 0, 5, 6, &a)), 0);
    ASSERT_RC(TURN(M, meta_mknod(M, d1, "dev", S_IFCHR | 0660, 0x0801, 0, 6, &a)), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f1, "user.bin", binval, sizeof(binval), 0)), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, f1, "user.text", "hello \"x\"", 9, 0)), 0);
    ASSERT_RC(TURN(M, meta_xattr_set(M, d1, "user.\xc0odd", "", 0, 0)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f1, 0, 9, 1000, 5000, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 9, c.version, 4096, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f1, 3, 9, 1000, 5000, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_commit(M, c.id, 9, c.version, 100, &c)), 0);
    ASSERT_RC(TURN(M, meta_chunk_lease_begin(M, f2, 0, 11, 1000, -5, &c)), 0); /* left leased */
    orphan = mt_create(M, META_ROOT_INO, "orphan");
    meta_set_open_check(M, open_pred, &orphan);
    ASSERT_RC(TURN(M, meta_unlink(M, META_ROOT_INO, "orphan", &fr)), 0);
    meta_set_open_check(M, NULL, NULL);
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs1", disk_uuid, 1)), 0);
    ASSERT_RC(TURN(M, meta_mark_put(M, "cs2", NULL, 1)), 0);
    put_raw("K\x00\x01", 3, "\x00zz", 3);
    meta_freed_release(&fr);
    mt_check(M);
}

static struct blob dump_meta(struct meta *m, struct dump_stats *st)
{
    struct blob b = {0};
    char err[512];
    FILE *f = open_memstream(&b.p, &b.n);
    cr_assert_not_null(f);
    int rc = dump_write_meta(m, f, st, err, sizeof(err));
    cr_assert_eq(rc, 0, "dump_write_meta: %s (%s)", dump_strerror(rc), err);
    fclose(f);
    return b;
}

static struct blob dump_path(const char *dir)
{
    struct blob b = {0};
    char err[512];
    FILE *f = open_memstream(&b.p, &b.n);
    cr_assert_not_null(f);
    int rc = dump_dir(dir, f, NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "dump_dir %s: %s (%s)", dir, dump_strerror(rc), err);
    fclose(f);
    return b;
}

static int restore_blob(const void *p, size_t n, const char *dir, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)p, n ? n : 1, "rb");
    cr_assert_not_null(f);
    if (n == 0) /* fmemopen refuses size 0: read one byte past the end instead */
        fgetc(f);
    int rc = dump_restore(f, dir, NULL, err, errlen);
    fclose(f);
    return rc;
}

static int exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* The restore into path failed and left neither path nor path.tmp-restore. */
static void assert_nothing_left(const char *path)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp-restore", path);
    cr_assert(!exists(path), "%s exists after a failed restore", path);
    cr_assert(!exists(tmp), "%s exists after a failed restore", tmp);
}

static struct blob decompress(const struct blob *z)
{
    struct blob b = {0};
    unsigned long long n = ZSTD_getFrameContentSize(z->p, z->n);
    cr_assert(n != ZSTD_CONTENTSIZE_ERROR);
    size_t cap = n == ZSTD_CONTENTSIZE_UNKNOWN ? 64u << 20 : (size_t)n;
    b.p = malloc(cap);
    size_t r = ZSTD_decompress(b.p, cap, z->p, z->n);
    cr_assert(!ZSTD_isError(r), "decompress: %s", ZSTD_getErrorName(r));
    b.n = r;
    return b;
}

static struct blob compress(const void *p, size_t n)
{
    struct blob b = {0};
    size_t cap = ZSTD_compressBound(n);
    b.p = malloc(cap);
    size_t r = ZSTD_compress(b.p, cap, p, n, 1);
    cr_assert(!ZSTD_isError(r));
    b.n = r;
    return b;
}

Test(dump, round_trip_is_byte_identical_and_reads_back)
{
    struct dump_stats st, st2;
    char path[128], err[512];
    struct meta *r = NULL;
    struct meta_attr a, b;
    struct meta_statfs s1, s2;
    uint8_t buf[512];
    char lbuf[64];
    int rc;

    build();
    struct blob d1 = dump_meta(M, &st);
    cr_assert_eq(st.supers, 1);
    cr_assert_eq(st.orphans, 1);
    cr_assert_eq(st.marks, 2);
    cr_assert_eq(st.xattrs, 3);
    cr_assert_eq(st.fchunks, 3);
    cr_assert_eq(st.chunks, 3);
    cr_assert_geq(st.raws, 1); /* the 'K' key */
    cr_assert_eq(dump_check_buf(d1.p, d1.n, 1, &st2, err, sizeof(err)), 0, "check: %s", err);
    cr_assert_eq(st2.records, st.records);

    snprintf(path, sizeof(path), "%s/restored", base);
    rc = restore_blob(d1.p, d1.n, path, err, sizeof(err));
    cr_assert_eq(rc, 0, "restore: %s (%s)", dump_strerror(rc), err);
    struct blob d2 = dump_path(path);
    cr_assert_eq(d2.n, d1.n, "second dump %zu bytes, first %zu", d2.n, d1.n);
    cr_assert_eq(memcmp(d1.p, d2.p, d1.n), 0, "dump -> restore -> dump differs");

    struct meta_options o = {0};
    rc = meta_open(path, &o, &r, err, sizeof(err));
    cr_assert_eq(rc, 0, "open restored: %s", err);
    meta_statfs(M, &s1);
    meta_statfs(r, &s2);
    cr_assert_eq(memcmp(&s1, &s2, sizeof(s1)), 0, "statfs differs");
    ASSERT_RC(meta_lookup(M, META_ROOT_INO, "dir", &a), 0);
    ASSERT_RC(meta_lookup(r, META_ROOT_INO, "dir", &b), 0);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "attributes of /dir differ");
    ASSERT_RC(meta_lookup(r, a.ino, odd1, &b), 0);
    ASSERT_RC(meta_lookup(r, b.ino, odd2, &b), 0);
    ASSERT_RC(meta_lookup(r, a.ino, "file", &a), 0);
    cr_assert_eq(a.nlink, 2);
    cr_assert_eq(a.size, 3 * (uint64_t)META_CHUNK_SIZE + 100);
    rc = meta_xattr_get(r, a.ino, "user.bin", buf, sizeof(buf));
    cr_assert_eq(rc, (int)sizeof(binval));
    cr_assert_eq(memcmp(buf, binval, sizeof(binval)), 0);
    ASSERT_RC(meta_lookup(r, META_ROOT_INO, "link", &b), 0);
    rc = meta_readlink(r, b.ino, lbuf, sizeof(lbuf));
    cr_assert_eq(rc, 10);
    cr_assert_eq(memcmp(lbuf, "dir/file\x01\xff", 10), 0);
    ASSERT_RC(meta_lookup(r, META_ROOT_INO, utf8, &b), 0);
    struct meta_chunk c1, c2;
    ASSERT_RC(meta_file_chunk_get(M, a.ino, 3, &c1), 0);
    ASSERT_RC(meta_file_chunk_get(r, a.ino, 3, &c2), 0);
    cr_assert_eq(memcmp(&c1, &c2, sizeof(c1)), 0, "chunk 3 differs");
    char merr[256];
    cr_assert_eq(meta_check(r, NULL, merr, sizeof(merr)), 0, "%s", merr);
    meta_close(r);
    free(d1.p);
    free(d2.p);
}

Test(dump, text_is_greppable_json_lines)
{
    build();
    struct blob z = dump_meta(M, NULL);
    struct blob t = decompress(&z);
    char *s = strndup(t.p, t.n);
    cr_assert(strncmp(s, "{\"format\":\"cairn-dump\",\"version\":1,", 35) == 0, "header: %.80s", s);
    cr_assert_not_null(strstr(s, "\"name\":\"caf\xc3\xa9 \xe2\x82\xac\""));
    cr_assert_not_null(strstr(s, "\"name_hex\":\"fffe2d6e6f742d75746638\""));
    cr_assert_not_null(
        strstr(s, "\"name\":\"tab\\u0009here \\\"quoted\\\" back\\\\slash \\u007f del\""));
    cr_assert_not_null(strstr(s, "{\"t\":\"mark\",\"server\":\"cs2\"}"));
    cr_assert_not_null(strstr(s, "\"disk\":\"a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5\""));
    cr_assert_not_null(
        strstr(s, "{\"t\":\"raw\",\"key_hex\":\"4b0001\",\"value_hex\":\"007a7a\"}"));
    cr_assert_not_null(strstr(s, "\"value\":\"hello \\\"x\\\"\""));
    cr_assert_not_null(strstr(s, "\"mode\":\"040755\""));
    cr_assert_not_null(strstr(s, "\"expiry_ms\":-5"));
    cr_assert_not_null(strstr(s, "{\"t\":\"end\",\"records\":"));
    cr_assert_eq(s[t.n - 1], '\n');
    free(s);
    free(t.p);
    free(z.p);
}

Test(dump, truncated_or_corrupt_dump_leaves_nothing)
{
    char path[128], err[512];
    build();
    struct blob d = dump_meta(M, NULL);
    snprintf(path, sizeof(path), "%s/target", base);
    size_t cuts[] = {0, 1, 3, 4, 10, d.n / 3, d.n / 2, d.n - 20, d.n - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        int rc = restore_blob(d.p, cuts[i], path, err, sizeof(err));
        cr_assert(rc == DUMP_EBAD || rc == DUMP_ENOTDUMP, "cut at %zu: rc %d (%s)", cuts[i], rc,
                  err);
        assert_nothing_left(path);
    }
    /* a flipped compressed byte either fails, or is one zstd does not use
     * (reserved header bits, equivalent table encodings) and the content
     * restored is the very same */
    struct blob text = decompress(&d);
    for (size_t pos = 4; pos < d.n; pos += d.n / 11) {
        d.p[pos] ^= 0x10;
        int rc = restore_blob(d.p, d.n, path, err, sizeof(err));
        if (rc == 0) {
            struct blob again = dump_path(path), t2 = decompress(&again);
            cr_assert(t2.n == text.n && memcmp(t2.p, text.p, text.n) == 0,
                      "byte %zu flipped: restored, with different content", pos);
            nftw(path, mt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
            free(again.p);
            free(t2.p);
        } else {
            cr_assert_eq(rc, DUMP_EBAD, "byte %zu flipped: rc %d (%s)", pos, rc, err);
        }
        assert_nothing_left(path);
        d.p[pos] ^= 0x10;
    }
    /* any changed byte of the text is refused (CRC32C, counts, syntax) */
    for (size_t pos = 0; pos < text.n; pos += text.n / 13 + 1) {
        for (int bit = 0; bit < 8; bit += 3) {
            text.p[pos] ^= (char)(1 << bit);
            struct blob z = compress(text.p, text.n);
            int rc = restore_blob(z.p, z.n, path, err, sizeof(err));
            cr_assert(rc == DUMP_EBAD || rc == DUMP_ENOTDUMP || rc == DUMP_EVERSION,
                      "text byte %zu bit %d flipped: rc %d (%s)", pos, bit, rc, err);
            assert_nothing_left(path);
            text.p[pos] ^= (char)(1 << bit);
            free(z.p);
        }
    }
    free(text.p);
    /* trailing garbage after a complete dump */
    char *more = malloc(d.n + 4);
    memcpy(more, d.p, d.n);
    memcpy(more + d.n, "junk", 4);
    cr_assert_neq(restore_blob(more, d.n + 4, path, err, sizeof(err)), 0);
    assert_nothing_left(path);
    /* the intact dump still restores into the same place */
    int rc = restore_blob(d.p, d.n, path, err, sizeof(err));
    cr_assert_eq(rc, 0, "restore: %s", err);
    free(more);
    free(d.p);
}

/* Replaces the first occurrence of `from` in the text of dump z (which
 * must exist) with `to`, and returns the text (not recompressed). */
static struct blob edit(const struct blob *z, const char *from, const char *to)
{
    struct blob t = decompress(z), o = {0};
    char *hit = memmem(t.p, t.n, from, strlen(from));
    cr_assert_not_null(hit, "no \"%s\" in the dump", from);
    size_t at = (size_t)(hit - t.p), fl = strlen(from), tl = strlen(to);
    o.n = t.n - fl + tl;
    o.p = malloc(o.n);
    memcpy(o.p, t.p, at);
    memcpy(o.p + at, to, tl);
    memcpy(o.p + at + tl, t.p + at + fl, t.n - at - fl);
    free(t.p);
    return o;
}

static void expect_text_error(const struct blob *text, int want, const char *msg)
{
    char err[512], path[128];
    int rc = dump_check_buf(text->p, text->n, 0, NULL, err, sizeof(err));
    cr_assert_eq(rc, want, "check: rc %d (%s), want %d", rc, err, want);
    cr_assert_not_null(strstr(err, msg), "error \"%s\" does not say \"%s\"", err, msg);
    /* and the same through a compressed restore */
    struct blob z = compress(text->p, text->n);
    snprintf(path, sizeof(path), "%s/edited", base);
    rc = restore_blob(z.p, z.n, path, err, sizeof(err));
    cr_assert_eq(rc, want, "restore: rc %d (%s), want %d", rc, err, want);
    assert_nothing_left(path);
    free(z.p);
}

Test(dump, edited_dump_is_refused_with_line_number)
{
    build();
    struct blob z = dump_meta(M, NULL);
    struct blob e;

    e = edit(&z, "\"uid\":1000", "\"uid\":1001"); /* valid record, CRC mismatch */
    expect_text_error(&e, DUMP_EBAD, "CRC32C");
    free(e.p);
    e = edit(&z, "\"version\":1,", "\"version\":2,");
    expect_text_error(&e, DUMP_EVERSION, "line 1: dump format version 2");
    free(e.p);
    e = edit(&z, "cairn-dump", "other-dump");
    expect_text_error(&e, DUMP_ENOTDUMP, "line 1: not a cairn dump");
    free(e.p);
    e = edit(&z, "\"t\":\"orphan\"", "\"t\":\"orphan\",\"x\":1");
    expect_text_error(&e, DUMP_EBAD, "unknown field \"x\"");
    free(e.p);
    e = edit(&z, "\"t\":\"dentry\"", "\"t\":\"dentry2\"");
    expect_text_error(&e, DUMP_EBAD, "line 5: unknown record type \"dentry2\"");
    free(e.p);
    e = edit(&z, "\"atime_ns\":", "\"atime_ns\":9999999999");
    expect_text_error(&e, DUMP_EBAD, "atime_ns");
    free(e.p);
    e = edit(&z, "\"t\":\"raw\",\"key_hex\":\"4b", "\"t\":\"raw\",\"key_hex\":\"49");
    expect_text_error(&e, DUMP_EBAD, "raw record");
    free(e.p);
    e = edit(&z, "\"name\":\"dir\"", "\"name\":\"a/b\"");
    expect_text_error(&e, DUMP_EBAD, "'/'");
    free(e.p);
    e = edit(&z, "\"name\":\"dir\"", "\"name\":\"..\"");
    expect_text_error(&e, DUMP_EBAD, "name is . or ..");
    free(e.p);
    e = edit(&z, "{\"t\":\"end\"", "{\"t\":\"orphan\",\"ino\":1}\n{\"t\":\"end\"");
    expect_text_error(&e, DUMP_EBAD, "out of key order");
    free(e.p);
    e = edit(&z, "{\"t\":\"end\"", "{\"t\":\"inode\",\"ino\":1}\n{\"t\":\"end\"");
    expect_text_error(&e, DUMP_EBAD, "field \"mode\"");
    free(e.p);
    e = edit(&z, "\"name\":\"dir\"", "\"name\":\"d\\u00e9\"");
    expect_text_error(&e, DUMP_EBAD, "\\u escapes above");
    free(e.p);
    free(z.p);
}

Test(dump, text_without_trailer_or_with_extra_lines)
{
    build();
    struct blob z = dump_meta(M, NULL);
    struct blob t = decompress(&z);
    char err[512];
    /* without the trailer line */
    char *end = memmem(t.p, t.n, "{\"t\":\"end\"", 10);
    cr_assert_not_null(end);
    size_t body = (size_t)(end - t.p);
    cr_assert_eq(dump_check_buf(t.p, body, 0, NULL, err, sizeof(err)), DUMP_EBAD);
    cr_assert_not_null(strstr(err, "without its trailer"), "%s", err);
    /* cut inside the trailer */
    cr_assert_eq(dump_check_buf(t.p, t.n - 1, 0, NULL, err, sizeof(err)), DUMP_EBAD);
    cr_assert_not_null(strstr(err, "ends inside this line"), "%s", err);
    /* a line after the trailer */
    char *more = malloc(t.n + 3);
    memcpy(more, t.p, t.n);
    memcpy(more + t.n, "{}\n", 3);
    cr_assert_eq(dump_check_buf(more, t.n + 3, 0, NULL, err, sizeof(err)), DUMP_EBAD);
    cr_assert_not_null(strstr(err, "after the trailer"), "%s", err);
    cr_assert_eq(dump_check_buf(more, t.n + 2, 0, NULL, err, sizeof(err)), DUMP_EBAD);
    cr_assert_not_null(strstr(err, "after the trailer"), "no newline: %s", err);
    /* a dropped record line is caught by the counts */
    char *l2 = memchr(t.p, '\n', t.n) + 1, *l3 = memchr(l2, '\n', t.n - (size_t)(l2 - t.p)) + 1;
    size_t cut = (size_t)(l3 - l2);
    memcpy(more, t.p, (size_t)(l2 - t.p));
    memcpy(more + (l2 - t.p), l3, t.n - (size_t)(l3 - t.p));
    cr_assert_eq(dump_check_buf(more, t.n - cut, 0, NULL, err, sizeof(err)), DUMP_EBAD);
    cr_assert_not_null(strstr(err, "trailer counts"), "%s", err);
    /* not compressed where compression is expected */
    cr_assert_eq(dump_check_buf(t.p, t.n, 1, NULL, err, sizeof(err)), DUMP_ENOTDUMP);
    free(more);
    free(t.p);
    free(z.p);
}

Test(dump, restore_refuses_non_empty_target_and_leftover_temp)
{
    char path[128], tmp[160], file[192], err[512];
    build();
    struct blob d = dump_meta(M, NULL);
    snprintf(path, sizeof(path), "%s/full", base);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(file, sizeof(file), "%s/keep", path);
    FILE *f = fopen(file, "w");
    fclose(f);
    ASSERT_RC(restore_blob(d.p, d.n, path, err, sizeof(err)), DUMP_ETARGET);
    cr_assert_not_null(strstr(err, "not empty"), "%s", err);
    cr_assert(exists(file), "the target's file went away");
    unlink(file);
    /* an empty directory is a fine target; a trailing slash is too */
    snprintf(tmp, sizeof(tmp), "%s/", path);
    int rc = restore_blob(d.p, d.n, tmp, err, sizeof(err));
    cr_assert_eq(rc, 0, "restore into an empty dir: %s", err);
    /* leftover temp directory from an interrupted restore */
    snprintf(path, sizeof(path), "%s/again", base);
    snprintf(tmp, sizeof(tmp), "%s.tmp-restore", path);
    cr_assert_eq(mkdir(tmp, 0755), 0);
    ASSERT_RC(restore_blob(d.p, d.n, path, err, sizeof(err)), DUMP_ETARGET);
    cr_assert_not_null(strstr(err, "interrupted"), "%s", err);
    cr_assert(exists(tmp), "restore removed a temp dir it did not make");
    free(d.p);
}

Test(dump, refuses_a_running_master)
{
    int ready[2], hold[2];
    char c, err[512];
    build();
    meta_close(M);
    M = NULL;
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(hold), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* the "master": holds the database until the parent closes hold[1] */
        struct meta *m = NULL;
        struct meta_options o = {0};
        close(ready[0]);
        close(hold[1]);
        if (meta_open(T.dir, &o, &m, err, sizeof(err)) != 0)
            _exit(1);
        c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        while (read(hold[0], &c, 1) > 0)
            ;
        meta_close(m);
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    cr_assert_eq(read(ready[0], &c, 1), 1, "child could not open the database");
    FILE *f = fopen("/dev/null", "w");
    int rc = dump_dir(T.dir, f, NULL, err, sizeof(err));
    fclose(f);
    close(hold[1]);
    int status;
    waitpid(pid, &status, 0);
    cr_assert_eq(rc, DUMP_ERUNNING, "rc %d (%s)", rc, err);
    cr_assert_not_null(strstr(err, "the master is running on"), "%s", err);
    cr_assert_not_null(strstr(err, "stop it or use the online dump"), "%s", err);
    /* stopped: the offline dump works */
    struct blob d = dump_path(T.dir);
    cr_assert_gt(d.n, 0);
    free(d.p);
}

Test(dump, large_raw_value_round_trips)
{
    char path[128], err[512];
    size_t n = 3u << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 131 + (i >> 12));
    put_raw("K\x01", 2, big, n);
    struct blob d1 = dump_meta(M, NULL);
    snprintf(path, sizeof(path), "%s/big", base);
    int rc = restore_blob(d1.p, d1.n, path, err, sizeof(err));
    cr_assert_eq(rc, 0, "restore: %s", err);
    struct blob d2 = dump_path(path);
    cr_assert(d1.n == d2.n && memcmp(d1.p, d2.p, d1.n) == 0, "dump -> restore -> dump differs");
    free(big);
    free(d1.p);
    free(d2.p);
}

Test(dump, corrupt_record_stops_the_dump)
{
    struct blob b = {0};
    char err[512];
    uint8_t bad[META_INODE_LEN] = {META_REC_V1}; /* mode 0: no file type */
    put_raw("I\0\0\0\0\0\0\0\x63", 9, bad, sizeof(bad));
    FILE *f = open_memstream(&b.p, &b.n);
    int rc = dump_write_meta(M, f, NULL, err, sizeof(err));
    fclose(f);
    cr_assert_eq(rc, META_ECORRUPT, "rc %d (%s)", rc, err);
    cr_assert_not_null(strstr(err, "key 490000000000000063"), "%s", err);
    cr_assert_not_null(strstr(err, "unknown file type"), "%s", err);
    free(b.p);
}
