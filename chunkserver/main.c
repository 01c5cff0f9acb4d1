/*
 * main.c - cairn-chunkserver: the process, its configuration and its
 * start-up and shutdown order.
 *
 * This file owns the daemon's only globals (the context and the option
 * table, STYLE 4). Modules start in the order of `modules[]` (MooseFS
 * RunTab) and stop in reverse: first each module's loop-side `stop` (close
 * listeners and connections, stop background threads), then the loop runs
 * until every handle and queued logstore call has finished, then each
 * module's `fini` frees what it owns. Disks are closed last, after every
 * write has returned, so a clean shutdown always ends with a checkpoint.
 *
 * SIGTERM/SIGINT: clean shutdown. SIGHUP: reload the reloadable options
 * (LOG_LEVEL, rates) and reopen the log file.
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cs.h"
#include "log.h"
#include "xmalloc.h"

#define PROG        "cairn-chunkserver"
#define DEFAULT_CFG "/etc/cairn/chunkserver.cfg"

static struct cs_ctx g_ctx;
static uv_loop_t g_loop; /* global so that what a forced stop leaves is still reachable */
static uv_signal_t g_sigterm, g_sigint, g_sighup;
static uv_timer_t g_stop_timer;
static int g_exit_code, g_forced;

#define STOP_GRACE_MS 2000

#define OFF(f) offsetof(struct cs_config, f)
static const struct cn_opt g_opts[] = {
    {"", "NAME", CN_OPT_STR, OFF(name), NULL, 0, 0, 0,
     "name of this chunkserver in the cluster (default: the host name)"},
    {"", "LABELS", CN_OPT_STR, OFF(labels), NULL, 0, 0, 0,
     "comma-separated labels of this server (ssd,zone1); storage classes select on them"},
    {"", "MASTER", CN_OPT_ADDR, OFF(master), "127.0.0.1:9420", 1, 65535, 0,
     "master host:port to register with"},
    {"", "LISTEN", CN_OPT_ADDR, OFF(listen), "*:9422", 0, 65535, 0,
     "data port for clients and other chunkservers (host:port; * = every interface)"},
    {"", "ADVERTISE", CN_OPT_STR, OFF(advertise), NULL, 0, 0, 0,
     "host:port clients reach this server at (default: LISTEN, or the host name for *)"},
    {"", "DISKS", CN_OPT_STR, OFF(disks), NULL, 0, 0, 0,
     "disks, comma-separated: [*]PATH [LABEL ...]; a leading * marks a disk for removal"},
    {"", "CLUSTER_ID", CN_OPT_STR, OFF(cluster_id), NULL, 0, 0, 0,
     "32 hex digits; disks of another cluster are refused (empty: accept any)"},
    {"", "HEARTBEAT_MS", CN_OPT_INT, OFF(heartbeat_ms), "1000", 100, 600000, 0,
     "heartbeat period in ms until the master sets its own"},
    {"", "LOG_FILE", CN_OPT_STR, OFF(log_file), NULL, 0, 0, 0,
     "append log lines to this file as well as stderr (reopened on SIGHUP)"},
    {"", "LOG_LEVEL", CN_OPT_STR, OFF(log_level), "info", 0, 0, 1, "error, warn, info or debug"},
    {"", "COMPACT_RATE_MBPS", CN_OPT_INT, OFF(compact_rate_mbps), "50", 0, 100000, 1,
     "compaction copy rate per disk in MB/s (0: unthrottled)"},
    {"", "COMPACT_PERIOD_MS", CN_OPT_INT, OFF(compact_period_ms), "10000", 100, 3600000, 1,
     "how often each disk checks whether compaction is due (dead space over 25%)"},
    {"", "SCRUB_RATE_MBPS", CN_OPT_INT, OFF(scrub_rate_mbps), "10", 0, 100000, 1,
     "scrub read rate per disk in MB/s (0: scrub off)"},
    {"", "LOCAL_BALANCE_BAND", CN_OPT_INT, OFF(local_balance_band), "5", 0, 100, 1,
     "move parts from the fullest to the emptiest disk of this server while their usage "
     "differs by more than this many percent points (0: off)"},
    {"", "DISK_CHECK_MS", CN_OPT_INT, OFF(disk_check_ms), "1000", 100, 60000, 0,
     "how often each disk's path is checked; a disk whose path is gone or names another "
     "file or device, or whose logstore failed, is reported missing at once"},
    {"", "DISK_RETRY_MS", CN_OPT_INT, OFF(disk_retry_ms), "5000", 0, 3600000, 1,
     "retry a missing or failed disk this often once its path exists again (0: only "
     "`cairn disk rescan` reopens it)"},
    CN_OPT_END,
};

/* ---- start order -------------------------------------------------------- */

static int peers_init(struct cs_ctx *c)
{
    return cs_peers_init(c);
}

struct module {
    const char *name;
    int (*init)(struct cs_ctx *);
    void (*stop)(struct cs_ctx *); /* loop side: close handles */
    void (*fini)(struct cs_ctx *); /* after the loop drained */
};

static const struct module modules[] = {
    {"disks", cs_disks_init, cs_disks_stop, cs_disks_release},
    {"balance", cs_balance_init, cs_balance_release, cs_balance_free},
    {"peers", peers_init, cs_peers_release, cs_peers_free},
    {"client_serv", cs_client_init, cs_client_release, cs_client_free},
    {"master_conn", cs_master_init, cs_master_release, cs_master_free},
};
#define NMODULES (sizeof(modules) / sizeof(modules[0]))

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

/* A TCP connect cannot be cancelled: one to a master behind a dead VPN
 * would hold the loop for minutes. Once no logstore call is in flight (so
 * closing the disks is safe), stop waiting for such connects. */
static void on_stop_timer(uv_timer_t *t)
{
    struct cs_ctx *ctx = t->data;
    if (ctx->work_inflight)
        return;
    cn_log_warn("main",
                "shutdown: connections still opening after %d ms (master unreachable?); "
                "not waiting for them",
                STOP_GRACE_MS);
    g_forced = 1;
    uv_stop(t->loop);
}

static void shutdown_begin(struct cs_ctx *ctx, size_t started)
{
    if (ctx->stopping)
        return;
    ctx->stopping = 1;
    for (size_t i = started; i-- > 0;)
        modules[i].stop(ctx);
    uv_close((uv_handle_t *)&g_sigterm, noop_close);
    uv_close((uv_handle_t *)&g_sigint, noop_close);
    uv_close((uv_handle_t *)&g_sighup, noop_close);
    /* unref'd: it never keeps the loop alive by itself */
    uv_timer_start(&g_stop_timer, on_stop_timer, STOP_GRACE_MS, STOP_GRACE_MS);
    uv_unref((uv_handle_t *)&g_stop_timer);
}

/* ---- config -------------------------------------------------------------- */

static int parse_cluster_id(const char *s, uint8_t out[16])
{
    int n = 0;
    for (; *s; s++) {
        if (*s == '-')
            continue;
        if (!isxdigit((unsigned char)*s) || n >= 32)
            return -EINVAL;
        int v = isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);
        out[n / 2] = (uint8_t)(n % 2 ? (out[n / 2] | v) : v << 4);
        n++;
    }
    return n == 32 ? 0 : -EINVAL;
}

/* Line of the first `name = ` in path, for messages about values the option
 * table cannot check; 0 if not found. */
static int find_line(const char *path, const char *name)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    char buf[4096];
    int line = 0, found = 0;
    size_t n = strlen(name);
    while (f && fgets(buf, sizeof(buf), f)) {
        line++;
        char *p = buf;
        while (isspace((unsigned char)*p))
            p++;
        if (!strncasecmp(p, name, n) && (isspace((unsigned char)p[n]) || p[n] == '=')) {
            found = line;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Checks beyond the option table. 0 or -EINVAL with "file:line: ..." in err. */
static int validate(struct cs_ctx *ctx, char *err, size_t errlen)
{
    struct cs_config *c = &ctx->cfg;
    const char *path = ctx->cfg_path ? ctx->cfg_path : "config";
    char detail[512];
    if (cn_log_level_parse(c->log_level ? c->log_level : "info") < 0) {
        snprintf(err, errlen, "%s:%d: LOG_LEVEL = %s: must be error, warn, info or debug", path,
                 find_line(ctx->cfg_path, "LOG_LEVEL"), c->log_level);
        return -EINVAL;
    }
    if (c->cluster_id && c->cluster_id[0]) {
        if (parse_cluster_id(c->cluster_id, ctx->cluster_id)) {
            snprintf(err, errlen, "%s:%d: CLUSTER_ID = %s: must be 32 hex digits", path,
                     find_line(ctx->cfg_path, "CLUSTER_ID"), c->cluster_id);
            return -EINVAL;
        }
        ctx->have_cluster_id = 1;
    }
    if (cs_disks_parse(c->disks, &ctx->disks, &ctx->ndisks, detail, sizeof(detail))) {
        snprintf(err, errlen, "%s:%d: %s", path, find_line(ctx->cfg_path, "DISKS"), detail);
        return -EINVAL;
    }
    if (!c->name || !c->name[0]) {
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        free(c->name);
        c->name = cn_xstrdup(host[0] ? host : "chunkserver");
    }
    if (!c->labels)
        c->labels = cn_xstrdup("");
    return 0;
}

static void apply_runtime(struct cs_ctx *ctx)
{
    cn_log_set_level(cn_log_level_parse(ctx->cfg.log_level ? ctx->cfg.log_level : "info"));
    __atomic_store_n(&ctx->scrub_rate_mbps, (int)ctx->cfg.scrub_rate_mbps, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->balance_band, (int)ctx->cfg.local_balance_band, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->compact_rate_mbps, (int)ctx->cfg.compact_rate_mbps, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->compact_period_ms, ctx->cfg.compact_period_ms, __ATOMIC_RELAXED);
}

/* ---- signals -------------------------------------------------------------- */

static void on_stop_signal(uv_signal_t *s, int signum)
{
    cn_log_info("main", "%s: shutting down", strsignal(signum));
    shutdown_begin(s->data, NMODULES);
}

static void on_sighup(uv_signal_t *s, int signum)
{
    struct cs_ctx *ctx = s->data;
    char err[1024] = "";
    int rc = cn_config_reload(g_opts, &ctx->cfg, sizeof(ctx->cfg), ctx->cfg_path, err, sizeof(err));
    if (rc < 0) {
        cn_log_error("main", "reload: %s; keeping the running configuration", err);
    } else {
        if (cn_log_level_parse(ctx->cfg.log_level ? ctx->cfg.log_level : "") < 0) {
            cn_log_error("main", "reload: LOG_LEVEL = %s is not a level; keeping info",
                         ctx->cfg.log_level);
            free(ctx->cfg.log_level);
            ctx->cfg.log_level = cn_xstrdup("info");
        }
        apply_runtime(ctx);
        if (rc > 0)
            cn_log_warn("main", "reload: %s (restart to apply)", err);
        cn_log_info("main", "configuration reloaded from %s", ctx->cfg_path);
    }
    cn_log_reopen();
}

/* One line on stdout once serving: "ready data_port=N". Launchers
 * (cairn-local, the tests) wait for it instead of polling the port, and learn
 * the port when LISTEN asks for port 0. Same convention as cairn-master. */
static void notify_ready(struct cs_ctx *ctx)
{
    printf("ready data_port=%u\n", (unsigned)ctx->data_port);
    fflush(stdout);
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [-c FILE] [-f] [--dump-config]\n"
               "  -c, --config FILE  configuration file (default " DEFAULT_CFG " if it exists)\n"
               "  -f                 foreground (always; logs go to stderr and LOG_FILE)\n"
               "  --dump-config      print the effective configuration and exit\n");
}

int main(int argc, char **argv)
{
    struct cs_ctx *ctx = &g_ctx;
    int dump = 0;
    /* Block buffers (64 KiB + header) come and go at a high rate: keep them
     * in the heap instead of mmap/munmap and page faults per block. */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    char err[1024] = "";
    size_t started = 0;
    static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
                                          {"dump-config", no_argument, NULL, 'D'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"foreground", no_argument, NULL, 'f'},
                                          {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:fh", lopts, NULL)) != -1) {
        switch (o) {
        case 'c':
            ctx->cfg_path = optarg;
            break;
        case 'D':
            dump = 1;
            break;
        case 'f': /* habit: the daemon always stays in the foreground */
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!ctx->cfg_path && access(DEFAULT_CFG, R_OK) == 0)
        ctx->cfg_path = DEFAULT_CFG;
    int rc = ctx->cfg_path ? cn_config_load(g_opts, &ctx->cfg, ctx->cfg_path, err, sizeof(err))
                           : cn_config_defaults(g_opts, &ctx->cfg, err, sizeof(err));
    if (rc) {
        fprintf(stderr, PROG ": %s\n", err);
        cn_config_release(g_opts, &ctx->cfg);
        return 2;
    }
    if (dump) {
        cn_config_dump(g_opts, &ctx->cfg, stdout);
        cn_config_release(g_opts, &ctx->cfg);
        return 0;
    }
    if (validate(ctx, err, sizeof(err))) {
        fprintf(stderr, PROG ": %s\n", err);
        cn_config_release(g_opts, &ctx->cfg);
        return 2;
    }
    struct cn_log_config lc = {cn_log_level_parse(ctx->cfg.log_level), 1, ctx->cfg.log_file, 0,
                               PROG};
    if (cn_log_init(&lc)) {
        fprintf(stderr, PROG ": cannot open log file %s: %s\n", ctx->cfg.log_file, strerror(errno));
        g_exit_code = 2;
        goto out_cfg;
    }
    apply_runtime(ctx);
    signal(SIGPIPE, SIG_IGN);
    /* logstore calls block until fdatasync: give the pool room for many */
    setenv("UV_THREADPOOL_SIZE", "32", 0);
    uv_loop_init(&g_loop);
    ctx->loop = &g_loop;
    uv_timer_init(&g_loop, &g_stop_timer);
    g_stop_timer.data = ctx;
    uv_signal_init(&g_loop, &g_sigterm);
    uv_signal_init(&g_loop, &g_sigint);
    uv_signal_init(&g_loop, &g_sighup);
    g_sigterm.data = g_sigint.data = g_sighup.data = ctx;
    uv_signal_start(&g_sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&g_sigint, on_stop_signal, SIGINT);
    uv_signal_start(&g_sighup, on_sighup, SIGHUP);

    for (; started < NMODULES; started++) {
        rc = modules[started].init(ctx);
        if (rc) {
            cn_log_error("main", "%s failed to start: %s; exiting", modules[started].name,
                         cn_strerror(rc));
            g_exit_code = 1;
            if (modules[started].fini == cs_disks_release)
                started++; /* disks clean up after a partial open */
            shutdown_begin(ctx, started);
            break;
        }
    }
    if (!g_exit_code) {
        cn_log_info("main", "chunkserver %s started with %zu disk(s), %zu part(s)", ctx->cfg.name,
                    ctx->ndisks, ctx->nparts);
        notify_ready(ctx);
    }
    uv_run(&g_loop, UV_RUN_DEFAULT);
    for (size_t i = started; i-- > 0;)
        modules[i].fini(ctx);
    if (!g_forced) {
        uv_close((uv_handle_t *)&g_stop_timer, noop_close);
        uv_run(&g_loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&g_loop))
            cn_log_warn("main", "event loop closed with handles still open");
    }
    if (!g_exit_code)
        cn_log_info("main", "stopped cleanly");
    cn_log_close();
out_cfg:
    cs_disks_free(ctx->disks, ctx->ndisks);
    cn_config_release(g_opts, &ctx->cfg);
    return g_exit_code;
}
