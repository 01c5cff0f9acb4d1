/*
 * test_disk_tool.c - cairn-disk through its real command line: format,
 * check, ls, cat and stats on a file-backed disk, clean and damaged.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logstore.h"

static char dir[64], disk[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cairn-disk-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(disk, sizeof(disk), "%s/d.img", dir);
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Run cairn-disk with args; capture stdout+stderr into out; return exit code. */
static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char args[512], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "exec 2>&1; %s %s", CAIRN_DISK_BIN, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

/* Write chunk 0xab part 1 (3 blocks, last one short) and chunk 0x10 part 0. */
static void populate(void)
{
    struct ls *ls;
    char err[256];
    cr_assert_eq(ls_open(disk, NULL, &ls, err, sizeof(err)), 0, "%s", err);
    uint8_t buf[LS_BLOCK_MAX];
    for (uint32_t b = 0; b < 3; b++) {
        fill(buf, sizeof(buf), b);
        cr_assert_eq(ls_append(ls, 0xab, 1, 4, b, buf, b == 2 ? 1000 : LS_BLOCK_MAX), 0);
    }
    cr_assert_eq(ls_commit(ls, 0xab, 1, 4, 2 * LS_BLOCK_MAX + 1000), 0);
    fill(buf, 4096, 9);
    cr_assert_eq(ls_append(ls, 0x10, 0, 1, 0, buf, 4096), 0);
    cr_assert_eq(ls_commit(ls, 0x10, 0, 1, 4096), 0);
    cr_assert_eq(ls_close(ls), 0);
}

TestSuite(disk_tool, .init = setup, .fini = teardown);

/* Proves: format preallocates, refuses an existing logstore, rejects bad options. */
Test(disk_tool, format_and_refusals)
{
    char out[4096];
    cr_assert_eq(run(out, sizeof(out), "format --size 48M --segment-size 2M %s", disk), 0, "%s",
                 out);
    cr_assert(strstr(out, "formatted") != NULL, "%s", out);
    struct stat st;
    cr_assert_eq(stat(disk, &st), 0);
    cr_assert_eq(st.st_size, 48 << 20);
    cr_assert_eq(run(out, sizeof(out), "format --size 48M %s", disk), 1);
    cr_assert(strstr(out, "refusing") != NULL, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "format --size 12Q %s", disk), 2);
    cr_assert(strstr(out, "--size") != NULL, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "format --segment-size 3M --force %s", disk), 1);
    cr_assert(strstr(out, "power of two") != NULL, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "frobnicate %s", disk), 2);
    cr_assert_eq(run(out, sizeof(out), "check %s/missing", dir), 1);
    cr_assert(strstr(out, "missing") != NULL, "%s", out);
}

/* Proves: ls, cat and stats report exactly what the library wrote. */
Test(disk_tool, ls_cat_stats)
{
    char out[16384];
    cr_assert_eq(run(out, sizeof(out), "format --size 48M --segment-size 2M %s", disk), 0);
    populate();
    cr_assert_eq(run(out, sizeof(out), "ls --json %s", disk), 0, "%s", out);
    json_error_t je;
    json_t *a = json_loads(out, 0, &je);
    cr_assert_not_null(a, "ls --json is not JSON: %s\n%s", je.text, out);
    cr_assert_eq(json_array_size(a), 2);
    json_t *p0 = json_array_get(a, 0), *p1 = json_array_get(a, 1);
    cr_assert_str_eq(json_string_value(json_object_get(p0, "chunk")), "0000000000000010");
    cr_assert_str_eq(json_string_value(json_object_get(p1, "chunk")), "00000000000000ab");
    cr_assert_eq(json_integer_value(json_object_get(p1, "version")), 4);
    cr_assert_eq(json_integer_value(json_object_get(p1, "size")), 2 * LS_BLOCK_MAX + 1000);
    cr_assert_eq(json_integer_value(json_object_get(p1, "blocks")), 3);
    json_decref(a);

    char path[256];
    snprintf(path, sizeof(path), "%s/part.bin", dir);
    cr_assert_eq(run(out, sizeof(out), "cat %s ab 1 > %s", disk, path), 0, "%s", out);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static uint8_t got[3 * LS_BLOCK_MAX], want[3 * LS_BLOCK_MAX];
    size_t n = fread(got, 1, sizeof(got), f);
    fclose(f);
    cr_assert_eq(n, 2 * LS_BLOCK_MAX + 1000);
    for (unsigned b = 0; b < 3; b++)
        fill(want + b * LS_BLOCK_MAX, LS_BLOCK_MAX, b);
    cr_assert(memcmp(got, want, n) == 0, "cat returned different bytes");
    cr_assert_eq(run(out, sizeof(out), "cat %s ab 7 > %s", disk, path), 1);
    cr_assert(strstr(out, "not on this disk") != NULL, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "cat %s zz 1 > %s", disk, path), 2);

    cr_assert_eq(run(out, sizeof(out), "stats --json %s", disk), 0, "%s", out);
    json_t *s = json_loads(out, 0, &je);
    cr_assert_not_null(s, "%s", je.text);
    cr_assert_eq(json_integer_value(json_object_get(s, "parts")), 2);
    cr_assert_eq(json_integer_value(json_object_get(s, "blocks")), 4);
    cr_assert_eq(json_integer_value(json_object_get(s, "live_bytes")),
                 2 * LS_BLOCK_MAX + 4096 + 4096);
    cr_assert_eq(json_integer_value(json_object_get(s, "segment_bytes")), 2 << 20);
    cr_assert_gt(json_array_size(json_object_get(s, "segment_table")), 3);
    json_decref(s);
    cr_assert_eq(run(out, sizeof(out), "stats %s", disk), 0);
    cr_assert(strstr(out, "segments of 2 MiB") != NULL, "%s", out);
}

/* Proves: check is clean on a good disk and names the record after a byte flip. */
Test(disk_tool, check_names_damage)
{
    char out[16384];
    cr_assert_eq(run(out, sizeof(out), "format --size 48M --segment-size 2M %s", disk), 0);
    populate();
    cr_assert_eq(run(out, sizeof(out), "check %s", disk), 0, "%s", out);
    cr_assert(strstr(out, "OK") != NULL, "%s", out);
    /* Find block 1 of chunk 0xab by its contents and flip one byte. */
    uint8_t want[4096];
    fill(want, sizeof(want), 1);
    FILE *f = fopen(disk, "r+b");
    cr_assert_not_null(f);
    static uint8_t page[4096];
    long off = -1;
    for (long o = 0; fread(page, 1, sizeof(page), f) == sizeof(page); o += 4096)
        if (memcmp(page, want, sizeof(page)) == 0) {
            off = o;
            break;
        }
    cr_assert_geq(off, 0, "block not found on disk");
    page[10] ^= 1;
    cr_assert_eq(fseek(f, off, SEEK_SET), 0);
    cr_assert_eq(fwrite(page, 1, sizeof(page), f), sizeof(page));
    fclose(f);
    cr_assert_eq(run(out, sizeof(out), "check %s", disk), 1, "%s", out);
    cr_assert(strstr(out, "chunk 00000000000000ab part 1 version 4 block 1") != NULL, "%s", out);
    cr_assert(strstr(out, "DAMAGED") != NULL, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "check --json %s", disk), 1);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    cr_assert(json_is_false(json_object_get(j, "ok")));
    cr_assert_eq(json_integer_value(json_object_get(j, "problems")), 1);
    json_decref(j);
    char path[256];
    snprintf(path, sizeof(path), "%s/part.bin", dir);
    cr_assert_eq(run(out, sizeof(out), "cat %s ab 1 > %s", disk, path), 1);
    cr_assert(strstr(out, "block 1") != NULL, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "cat --force %s ab 1 > %s", disk, path), 1);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_size, 2 * LS_BLOCK_MAX + 1000, "--force must write the whole part");
}

static char loopdev[64];

static void loop_teardown(void)
{
    if (loopdev[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
        if (system(cmd) != 0)
            fprintf(stderr, "could not detach %s\n", loopdev);
        loopdev[0] = 0;
    }
    teardown();
}

/* Proves: a real block device (a loop device) is formatted, written with O_DIRECT and checked. */
Test(disk_tool, block_device, .init = setup, .fini = loop_teardown)
{
    char out[4096], cmd[512];
    snprintf(cmd, sizeof(cmd), "truncate -s 40M %s && losetup -f --show %s 2>/dev/null", disk,
             disk);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    if (!fgets(loopdev, sizeof(loopdev), p))
        loopdev[0] = 0;
    pclose(p);
    loopdev[strcspn(loopdev, "\n")] = 0;
    if (strncmp(loopdev, "/dev/loop", 9) != 0) {
        loopdev[0] = 0;
        cr_skip_test("no loop devices here (losetup failed)");
    }
    cr_assert_eq(run(out, sizeof(out), "format --segment-size 2M %s", loopdev), 0, "%s", out);
    struct ls *ls;
    char err[256];
    cr_assert_eq(ls_open(loopdev, NULL, &ls, err, sizeof(err)), 0, "%s", err);
    static uint8_t buf[LS_BLOCK_MAX + 1];
    fill(buf + 1, 5000, 3); /* unaligned buffer and length: must be bounced */
    cr_assert_eq(ls_append(ls, 0x77, 0, 1, 0, buf + 1, 5000), 0);
    cr_assert_eq(ls_commit(ls, 0x77, 0, 1, 5000), 0);
    uint8_t got[5000];
    cr_assert_eq(ls_read(ls, 0x77, 0, 0, 0, got, sizeof(got)), 5000);
    cr_assert(memcmp(got, buf + 1, 5000) == 0);
    cr_assert_eq(ls_close(ls), 0);
    cr_assert_eq(run(out, sizeof(out), "check %s", loopdev), 0, "%s", out);
    cr_assert_eq(run(out, sizeof(out), "ls %s", loopdev), 0, "%s", out);
    cr_assert(strstr(out, "0000000000000077") != NULL, "%s", out);
}
