/*
 * test_config.c - option-table INI config: a good file lands in the struct,
 * every error path names file:line and says what is allowed, --dump-config
 * output loads back to the same values, reload applies only reloadable
 * options, and the size/duration/address parsers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

struct tcfg {
    char *data_dir;
    int64_t heartbeat_s;
    int verbose;
    uint64_t cache;
    int64_t timeout_ms;
    struct cn_addr listen;
    char *label;
};

#define O(f) offsetof(struct tcfg, f)
static const struct cn_opt tab[] = {
    {"", "DATA_DIR", CN_OPT_STR, O(data_dir), "/var/lib/cairn", 0, 0, 0, "where metadata lives"},
    {"master", "HEARTBEAT_S", CN_OPT_INT, O(heartbeat_s), "10", 1, 3600, 1,
     "seconds between heartbeats"},
    {"master", "VERBOSE", CN_OPT_BOOL, O(verbose), "no", 0, 0, 1, "log more"},
    {"master", "CACHE", CN_OPT_SIZE, O(cache), "64M", 1 << 20, 1ll << 40, 0, "cache size"},
    {"master", "TIMEOUT", CN_OPT_DURATION, O(timeout_ms), "30s", 100, 86400000, 1,
     "request timeout"},
    {"master", "LISTEN", CN_OPT_ADDR, O(listen), "*:9421", 1, 65535, 0, "client port"},
    {"master", "LABEL", CN_OPT_STR, O(label), NULL, 0, 0, 1, "free text"},
    CN_OPT_END,
};

static char dir[64]; /* this test's temp dir (each test runs in its own process) */

/* Write text to a fresh file named NAME in a temp dir; returns the path. */
static char *write_file(const char *name, const char *text)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/cairn-test-config.XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
    }
    char *path = malloc(256);
    snprintf(path, 256, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Remove a file of write_file(), and the temp dir once it is empty. */
static void drop_file(char *path)
{
    unlink(path);
    free(path);
    if (dir[0] && rmdir(dir) == 0)
        dir[0] = 0;
}

/* Load text as master.cfg; returns rc, message in err. */
static int load(const char *text, struct tcfg *c, char *err, size_t errlen)
{
    char *path = write_file("master.cfg", text);
    memset(c, 0, sizeof(*c));
    int rc = cn_config_load(tab, c, path, err, errlen);
    drop_file(path);
    return rc;
}

/* Expect `text` to fail with exactly "master.cfg path prefix + want". */
static void expect_error(const char *text, const char *want)
{
    struct tcfg c;
    char err[512] = "";
    int rc = load(text, &c, err, sizeof(err));
    cr_assert_eq(rc, -EINVAL, "rc %d for:\n%s", rc, text);
    const char *base = strstr(err, "master.cfg");
    cr_assert_not_null(base, "error names the file: %s", err);
    cr_assert_str_eq(base, want);
    cn_config_release(tab, &c);
}

Test(config, good_file, .description = "every type parses into its field; defaults fill the rest")
{
    struct tcfg c;
    char err[256] = "";
    int rc = load("DATA_DIR = /srv/meta\n"
                  "; a comment\n"
                  "[master]\n"
                  "heartbeat_s = 5   ; names match case-insensitively\n"
                  "\n"
                  "# another comment style\n"
                  "VERBOSE = yes\n"
                  "CACHE = 2G\n"
                  "TIMEOUT = 1500ms\n"
                  "LISTEN = [::1]:9500\n",
                  &c, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(c.data_dir, "/srv/meta");
    cr_assert_eq(c.heartbeat_s, 5);
    cr_assert_eq(c.verbose, 1);
    cr_assert_eq(c.cache, 2ull << 30);
    cr_assert_eq(c.timeout_ms, 1500);
    cr_assert_str_eq(c.listen.host, "::1");
    cr_assert_eq(c.listen.port, 9500);
    cr_assert_null(c.label, "no default: NULL");
    cn_config_release(tab, &c);
    cr_assert_null(c.data_dir);

    rc = load("", &c, err, sizeof(err));
    cr_assert_eq(rc, 0);
    cr_assert_eq(c.heartbeat_s, 10);
    cr_assert_eq(c.cache, 64ull << 20);
    cr_assert_eq(c.timeout_ms, 30000);
    cr_assert_str_eq(c.listen.host, "");
    cr_assert_eq(c.listen.port, 9421);
    cn_config_release(tab, &c);
}

Test(config, error_messages, .description = "each error path gives file:line and the rule")
{
    expect_error("[master]\n\nHEARTBEAT_S = 0\n",
                 "master.cfg:3: HEARTBEAT_S = 0: must be between 1 and 3600");
    expect_error("[master]\nHEARTBEAT_S = ten\n",
                 "master.cfg:2: HEARTBEAT_S = ten: expected an integer");
    expect_error("[master]\nHEARTBEAT_S = 99999999999999999999999\n",
                 "master.cfg:2: HEARTBEAT_S = 99999999999999999999999: expected an integer");
    expect_error("[master]\nHEARTBAET_S = 3\n",
                 "master.cfg:2: unknown option HEARTBAET_S in section [master] "
                 "(--dump-config lists the options)");
    expect_error("NOPE = 1\n",
                 "master.cfg:1: unknown option NOPE (--dump-config lists the options)");
    expect_error("[other]\nHEARTBEAT_S = 3\n",
                 "master.cfg:2: unknown option HEARTBEAT_S in section [other] "
                 "(--dump-config lists the options)");
    expect_error("[master]\nCACHE = 12Q\n",
                 "master.cfg:2: CACHE = 12Q: expected a size such as 4096, 64K, 512M, 2G or 1T");
    expect_error("[master]\nCACHE = 1K\n", "master.cfg:2: CACHE = 1K: must be between 1M and 1T");
    expect_error("[master]\nTIMEOUT = 5 minutes\n",
                 "master.cfg:2: TIMEOUT = 5 minutes: expected a duration such as 500ms, 10s, 5m, "
                 "2h or 7d");
    expect_error("[master]\nTIMEOUT = 2d\n",
                 "master.cfg:2: TIMEOUT = 2d: must be between 100ms and 1d");
    expect_error("[master]\nVERBOSE = maybe\n",
                 "master.cfg:2: VERBOSE = maybe: expected yes/no, true/false, on/off or 1/0");
    expect_error("[master]\nLISTEN = ::1:80\n",
                 "master.cfg:2: LISTEN = ::1:80: expected host:port, [ipv6]:port, :port or a port");
    expect_error("[master]\nLISTEN = host:0\n",
                 "master.cfg:2: LISTEN = host:0: port must be between 1 and 65535");
    expect_error("[master]\nHEARTBEAT_S = 3\nVERBOSE = 1\nheartbeat_s = 4\n",
                 "master.cfg:4: heartbeat_s set twice (first at line 2); keep one");
    char longline[400];
    snprintf(longline, sizeof(longline), "[master]\nLABEL = %0300d\n", 7);
    expect_error(longline, "master.cfg:2: line longer than 198 bytes; shorten it");
    expect_error("[master]\nthis line has no equals sign\n",
                 "master.cfg:2: syntax error: expected [section] or NAME = VALUE");
}

Test(config, missing_file, .description = "an unreadable file is an errno, named in the message")
{
    struct tcfg c;
    char err[256];
    memset(&c, 0, sizeof(c));
    int rc = cn_config_load(tab, &c, "/nonexistent/x.cfg", err, sizeof(err));
    cr_assert_eq(rc, -ENOENT);
    cr_assert_str_eq(err, "/nonexistent/x.cfg: cannot open config file: No such file or directory");
    cn_config_release(tab, &c);
}

Test(config, dump_loads_back,
     .description = "--dump-config output is a valid config with the same values")
{
    struct tcfg c, d;
    char err[256] = "";
    cr_assert_eq(load("[master]\nHEARTBEAT_S = 7\nCACHE = 3M\nTIMEOUT = 90s\nLABEL = rack 1\n"
                      "LISTEN = 127.0.0.1:1234\n",
                      &c, err, sizeof(err)),
                 0, "%s", err);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cn_config_dump(tab, &c, f);
    fclose(f);
    cr_assert_not_null(strstr(text, "# seconds between heartbeats\n# integer, default: 10, range "
                                    "1..3600, reloadable\nHEARTBEAT_S = 7\n"),
                       "%s", text);
    cr_assert_not_null(strstr(text, "TIMEOUT = 90s\n"), "%s", text);
    cr_assert_not_null(strstr(text, "CACHE = 3M\n"), "%s", text);
    cr_assert_not_null(strstr(text, "LISTEN = 127.0.0.1:1234\n"), "%s", text);
    cr_assert_eq(load(text, &d, err, sizeof(err)), 0, "%s\n%s", err, text);
    cr_assert_eq(d.heartbeat_s, 7);
    cr_assert_eq(d.cache, 3u << 20);
    cr_assert_eq(d.timeout_ms, 90000);
    cr_assert_str_eq(d.label, "rack 1");
    cr_assert_str_eq(d.data_dir, "/var/lib/cairn");
    cr_assert_eq(d.listen.port, 1234);
    free(text);
    cn_config_release(tab, &c);
    cn_config_release(tab, &d);
}

Test(config, reload_applies_reloadable_only)
{
    struct tcfg c;
    char err[256] = "";
    char *path = write_file("reload.cfg", "[master]\nHEARTBEAT_S = 7\nCACHE = 3M\n");
    memset(&c, 0, sizeof(c));
    cr_assert_eq(cn_config_load(tab, &c, path, err, sizeof(err)), 0);
    free(path);
    path = write_file("reload.cfg", "[master]\nHEARTBEAT_S = 8\nCACHE = 4M\nLABEL = x\n");
    int rc = cn_config_reload(tab, &c, sizeof(c), path, err, sizeof(err));
    cr_assert_eq(rc, 1, "one non-reloadable change");
    cr_assert_str_eq(err, "CACHE: changed, restart to apply");
    cr_assert_eq(c.heartbeat_s, 8);
    cr_assert_str_eq(c.label, "x");
    cr_assert_eq(c.cache, 3u << 20, "CACHE needs a restart");
    free(path);
    path = write_file("reload.cfg", "[master]\nHEARTBEAT_S = 0\n");
    rc = cn_config_reload(tab, &c, sizeof(c), path, err, sizeof(err));
    cr_assert_eq(rc, -EINVAL, "a bad file changes nothing");
    cr_assert_eq(c.heartbeat_s, 8);
    drop_file(path);
    cn_config_release(tab, &c);
}

Test(config, set_from_command_line)
{
    struct tcfg c;
    char err[256] = "";
    memset(&c, 0, sizeof(c));
    cr_assert_eq(cn_config_defaults(tab, &c, err, sizeof(err)), 0);
    cr_assert_eq(cn_config_set(tab, &c, "master", "TIMEOUT", "2m", "-o", err, sizeof(err)), 0);
    cr_assert_eq(c.timeout_ms, 120000);
    cr_assert_eq(cn_config_set(tab, &c, "master", "X", "1", "-o", err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "-o: unknown option master.X (--dump-config lists the options)");
    cn_config_release(tab, &c);
}

Test(config, parsers, .description = "sizes, durations, bools, addresses: valid and invalid")
{
    uint64_t u;
    int64_t i;
    int b;
    cr_assert_eq(cn_parse_size("0", &u), 0);
    cr_assert_eq(u, 0);
    cr_assert_eq(cn_parse_size("64K", &u), 0);
    cr_assert_eq(u, 65536);
    cr_assert_eq(cn_parse_size("1KiB", &u), 0);
    cr_assert_eq(u, 1024);
    cr_assert_eq(cn_parse_size("3t", &u), 0);
    cr_assert_eq(u, 3ull << 40);
    cr_assert_eq(cn_parse_size("16777216T", &u), -EINVAL, "overflow");
    cr_assert_eq(cn_parse_size("-1", &u), -EINVAL);
    cr_assert_eq(cn_parse_size("", &u), -EINVAL);
    cr_assert_eq(cn_parse_size("1.5G", &u), -EINVAL);
    cr_assert_eq(cn_parse_duration_ms("10", &i), 0);
    cr_assert_eq(i, 10000, "bare number is seconds");
    cr_assert_eq(cn_parse_duration_ms("7d", &i), 0);
    cr_assert_eq(i, 7 * 86400000ll);
    cr_assert_eq(cn_parse_duration_ms("5m", &i), 0);
    cr_assert_eq(i, 300000);
    cr_assert_eq(cn_parse_duration_ms("2h", &i), 0);
    cr_assert_eq(i, 7200000);
    cr_assert_eq(cn_parse_duration_ms("1w", &i), -EINVAL);
    cr_assert_eq(cn_parse_duration_ms("ms", &i), -EINVAL);
    cr_assert_eq(cn_parse_bool("On", &b), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(cn_parse_bool("FALSE", &b), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(cn_parse_int("-42", &i), 0);
    cr_assert_eq(i, -42);
    cr_assert_eq(cn_parse_int("9223372036854775808", &i), -EINVAL);

    struct cn_addr a;
    char buf[300];
    cr_assert_eq(cn_parse_addr("127.0.0.1:9420", 0, &a), 0);
    cr_assert_str_eq(a.host, "127.0.0.1");
    cr_assert_eq(a.port, 9420);
    cr_assert_eq(cn_parse_addr("[2001:db8::1]:80", 0, &a), 0);
    cr_assert_str_eq(a.host, "2001:db8::1");
    cr_assert_str_eq(cn_addr_format(&a, buf, sizeof(buf)), "[2001:db8::1]:80");
    cr_assert_eq(cn_parse_addr("master.example.org", 9421, &a), 0);
    cr_assert_str_eq(a.host, "master.example.org");
    cr_assert_eq(a.port, 9421, "default port");
    cr_assert_eq(cn_parse_addr("master.example.org", 0, &a), -EINVAL, "port required");
    cr_assert_eq(cn_parse_addr("9420", 0, &a), 0);
    cr_assert_str_eq(a.host, "");
    cr_assert_eq(a.port, 9420);
    cr_assert_eq(cn_parse_addr(":9420", 0, &a), 0);
    cr_assert_eq(cn_parse_addr("*:9420", 0, &a), 0);
    cr_assert_str_eq(a.host, "");
    cr_assert_str_eq(cn_addr_format(&a, buf, sizeof(buf)), "*:9420");
    cr_assert_eq(cn_parse_addr("[::1]", 7, &a), 0);
    cr_assert_eq(a.port, 7);
    cr_assert_eq(cn_parse_addr("::1", 0, &a), -EINVAL, "IPv6 needs brackets");
    cr_assert_eq(cn_parse_addr("[::1", 0, &a), -EINVAL);
    cr_assert_eq(cn_parse_addr("[nothex]:1", 0, &a), -EINVAL);
    cr_assert_eq(cn_parse_addr("host:65536", 0, &a), -EINVAL);
    cr_assert_eq(cn_parse_addr("ho st:1", 0, &a), -EINVAL);
    cr_assert_eq(cn_parse_addr("host:", 0, &a), -EINVAL);
    cr_assert_eq(cn_parse_addr("", 0, &a), -EINVAL);
}
