/*
 * test_log.c - the logger: lines carry level and module, the level is checked
 * before the arguments are evaluated, long lines are cut, the file can be
 * reopened after rotation.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char path[64];

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/cairn-test-log.XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    struct cn_log_config cfg = {CN_LOG_INFO, 0, path, 0, "tlog"};
    cr_assert_eq(cn_log_init(&cfg), 0);
}

static void teardown(void)
{
    cn_log_close();
    unlink(path);
}

static int evaluated;
static int side_effect(void)
{
    evaluated++;
    return 42;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, line_format, .description = "level, module and text on one line")
{
    cn_log_info("cs_serv", "disk %s: %d%% full", "/dev/sdb", 93);
    cn_log_warn("net", "peer gone");
    char *s = slurp(path);
    cr_assert_not_null(strstr(s, "] info: cs_serv: disk /dev/sdb: 93% full\n"), "%s", s);
    cr_assert_not_null(strstr(s, "] warn: net: peer gone\n"), "%s", s);
    cr_assert_not_null(strstr(s, " tlog["), "%s", s);
}

Test(log, level_checked_before_formatting)
{
    evaluated = 0;
    cn_log_debug("m", "value %d", side_effect());
    cr_assert_eq(evaluated, 0, "debug arguments not evaluated at info level");
    cn_log_set_level(CN_LOG_DEBUG);
    cn_log_debug("m", "value %d", side_effect());
    cr_assert_eq(evaluated, 1);
    cr_assert_not_null(strstr(slurp(path), "debug: m: value 42\n"));
    cn_log_set_level(CN_LOG_ERROR);
    cn_log_warn("m", "dropped");
    cr_assert_null(strstr(slurp(path), "dropped"));
}

Test(log, long_lines_are_cut)
{
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    cn_log_error("m", "%s", big);
    char *s = slurp(path);
    size_t n = strlen(s);
    cr_assert_lt(n, 2100);
    cr_assert_eq(s[n - 1], '\n');
    cr_assert_eq(strncmp(s + n - 4, "...", 3), 0);
}

Test(log, reopen_after_rotation)
{
    char rotated[80];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    cn_log_info("m", "before");
    cr_assert_eq(rename(path, rotated), 0);
    cr_assert_eq(cn_log_reopen(), 0);
    cn_log_info("m", "after");
    cr_assert_not_null(strstr(slurp(rotated), "before"));
    cr_assert_null(strstr(slurp(rotated), "after"));
    cr_assert_not_null(strstr(slurp(path), "after"));
    unlink(rotated);
}

Test(log, levels_parse)
{
    cr_assert_eq(cn_log_level_parse("debug"), CN_LOG_DEBUG);
    cr_assert_eq(cn_log_level_parse("WARNING"), CN_LOG_WARN);
    cr_assert_eq(cn_log_level_parse("loud"), -1);
    cr_assert_str_eq(cn_log_level_name(CN_LOG_ERROR), "error");
    struct cn_log_config bad = {CN_LOG_INFO, 0, "/nonexistent/dir/log", 0, "x"};
    cr_assert_lt(cn_log_init(&bad), 0, "unopenable file is an error");
}
