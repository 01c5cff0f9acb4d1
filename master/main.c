/*
 * main.c - cairn-master: options, start order, signals, the periodic tick.
 *
 * This file owns the daemon's one `struct master` (STYLE 4); every module
 * gets it as an argument. Modules start in the order of `start_tab` and stop
 * in reverse (MooseFS RunTab): the metadata store first (nothing may listen
 * before the database is known good), then group commit, the chunkserver
 * port, the client port, and the tick. The daemon stays in the foreground
 * and logs to stderr (and LOG_FILE): supervisors (systemd) do the rest.
 *
 * When both ports listen, one line goes to stdout:
 *     ready client_port=9421 cs_port=9420
 * (the real ports, useful with port 0); tests and scripts wait for it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"

#define MOD         "main"
#define DEFAULT_CFG "/etc/cairn/master.cfg"

#define OFF(f) offsetof(struct master_config, f)
static const struct cn_opt opt_tab[] = {
    {"", "DATA_PATH", CN_OPT_STR, OFF(data_path), "/var/lib/cairn/master", 0, 0, 0,
     "directory of the metadata database (RocksDB)"},
    {"", "CLIENT_LISTEN", CN_OPT_ADDR, OFF(client_listen), "*:9421", 0, 65535, 0,
     "address for clients, mounts and the admin CLI (* = every interface)"},
    {"", "CS_LISTEN", CN_OPT_ADDR, OFF(cs_listen), "*:9420", 0, 65535, 0,
     "address chunkservers connect to"},
    {"", "HEARTBEAT_MS", CN_OPT_DURATION, OFF(heartbeat_ms), "1s", 100, 60000, 1,
     "interval chunkservers are told to send heartbeats at"},
    {"", "CS_TIMEOUT_MS", CN_OPT_DURATION, OFF(cs_timeout_ms), "60s", 200, 86400000, 1,
     "a connected chunkserver silent this long is dropped (it becomes unreachable)"},
    {"", "CS_GRACE_MS", CN_OPT_DURATION, OFF(cs_grace_ms), "300s", 0, 604800000, 1,
     "an unreachable chunkserver is lost after this long: its parts count as missing "
     "and repair starts"},
    {"", "HEALTH_PERIOD_MS", CN_OPT_DURATION, OFF(health_period_ms), "1s", 10, 3600000, 1,
     "the health loop scans the chunk table and queues work this often"},
    {"", "HEALTH_START_MS", CN_OPT_DURATION, OFF(health_start_ms), "30s", 0, 3600000, 1,
     "after the master starts, wait this long for chunkservers to register before "
     "repairing or reporting lost chunks"},
    {"", "REPAIR_RATE_MBPS", CN_OPT_INT, OFF(repair_rate_mbps), "0", 0, 1000000, 1,
     "cluster-wide repair and drain copy rate in MB/s (0: unlimited); chunks one "
     "failure from loss ignore it"},
    {"", "REBALANCE_RATE_MBPS", CN_OPT_INT, OFF(rebalance_rate_mbps), "100", 0, 1000000, 1,
     "cluster-wide rebalance copy rate in MB/s (0: rebalance off)"},
    {"", "SERVER_RATE_MBPS", CN_OPT_INT, OFF(server_rate_mbps), "0", 0, 1000000, 1,
     "copy rate per chunkserver, as source and as target, in MB/s (0: unlimited)"},
    {"", "SERVER_JOBS", CN_OPT_INT, OFF(server_jobs), "8", 1, 256, 1,
     "copies running at once per chunkserver, as source and as target"},
    {"", "OPEN_GRACE_MS", CN_OPT_DURATION, OFF(open_grace_ms), "60s", 0, 3600000, 1,
     "a client session that ended keeps its open files (unlinked ones included) this long, "
     "for the mount to reconnect and claim them; also after a master restart"},
    {"", "BALANCE_BAND", CN_OPT_INT, OFF(balance_band), "5", 1, 50, 1,
     "rebalance until every disk's usage is within this many percent points of the mean"},
    {"", "LEASE_MS", CN_OPT_DURATION, OFF(lease_ms), "60s", 100, 3600000, 1,
     "lifetime of a chunk write lease; an expired lease rolls back"},
    {"", "CACHE_SIZE", CN_OPT_SIZE, OFF(cache_size), "256M", 8 << 20, (int64_t)1 << 40, 0,
     "RocksDB block cache for the metadata"},
    {"", "WRITE_BUFFER_SIZE", CN_OPT_SIZE, OFF(write_buffer_size), "32M", 1 << 20, (int64_t)1 << 34,
     0,
     "RocksDB memtable size (at most two exist): with CACHE_SIZE, what bounds the master's "
     "metadata memory"},
    {"", "GOAL", CN_OPT_INT, OFF(goal), "2", 1, 16, 1, "copies of each chunk (copies=N)"},
    {"", "META_SYNC_MS", CN_OPT_DURATION, OFF(meta_sync_ms), "0", 0, 10000, 1,
     "0: fsync every metadata turn before its replies; N: fsync the WAL every N ms "
     "(a master crash loses nothing, a power loss up to N ms of acknowledged changes)"},
    {"", "CHANGELOG_ENTRIES", CN_OPT_INT, OFF(changelog_entries), "100000", 100, 100000000, 1,
     "changelog entries kept at most for metaloggers that are behind (one entry per "
     "metadata commit); a metalogger further behind copies a checkpoint again"},
    {"", "TRASH_TIME", CN_OPT_DURATION, OFF(trash_time_ms), "24h", 0, (int64_t)4294967295 * 1000, 1,
     "how long deleted files stay in the trash where neither they nor a directory above them "
     "have their own trashtime (0: deletes free the space at once)"},
    {"", "LOG_FILE", CN_OPT_STR, OFF(log_file), NULL, 0, 0, 1,
     "append log lines to this file too (reopened on SIGHUP)"},
    {"", "LOG_LEVEL", CN_OPT_STR, OFF(log_level), "info", 0, 0, 1, "error, warn, info or debug"},
    CN_OPT_END,
};

/* ---- logging glue -------------------------------------------------------------- */

static void meta_log(void *ctx, const char *msg)
{
    (void)ctx;
    cn_log_error("meta", "%s", msg);
}

static int apply_log(struct master *M, char *err, size_t errlen)
{
    int level = cn_log_level_parse(M->cfg.log_level ? M->cfg.log_level : "info");
    if (level < 0) {
        snprintf(err, errlen, "LOG_LEVEL = %s: must be error, warn, info or debug",
                 M->cfg.log_level);
        return -EINVAL;
    }
    struct cn_log_config lc = {level, 1, M->cfg.log_file, 0, "cairn-master"};
    int rc = cn_log_init(&lc);
    if (rc)
        snprintf(err, errlen, "LOG_FILE = %s: %s", M->cfg.log_file, strerror(-rc));
    return rc;
}

/* ---- start-order table ----------------------------------------------------------- */

static int create_fs; /* --create: format an empty DATA_PATH */

static const char *from_ml; /* --from-metalogger DIR */

/* A metalogger's copy (DIR/meta) becomes DATA_PATH: a RocksDB checkpoint, so
 * the metalogger's own copy stays as it was. DATA_PATH must be missing or
 * empty: promoting never overwrites metadata. */
static int promote(struct master *M, char *err, size_t errlen)
{
    char src[4096], e2[512];
    const char *dst = M->cfg.data_path;
    snprintf(src, sizeof(src), "%s/meta", from_ml);
    if (rmdir(dst) && errno != ENOENT) {
        if (errno == ENOTEMPTY || errno == EEXIST)
            snprintf(err, errlen,
                     "--from-metalogger: DATA_PATH %s is not empty; move the old metadata aside "
                     "first (promoting never overwrites it)",
                     dst);
        else
            snprintf(err, errlen, "--from-metalogger: DATA_PATH %s: %s", dst, strerror(errno));
        return -EEXIST;
    }
    struct meta *ml = NULL;
    struct meta_options o = {.cache_bytes = 8u << 20};
    int rc = meta_open(src, &o, &ml, e2, sizeof(e2));
    if (rc) {
        snprintf(err, errlen,
                 "--from-metalogger %s: %s (is the metalogger still running? stop it first)",
                 from_ml, e2);
        return rc;
    }
    uint64_t seq = 0;
    rc = meta_checkpoint(ml, dst, &seq, e2, sizeof(e2));
    meta_close(ml);
    if (rc) {
        snprintf(err, errlen, "--from-metalogger: %s", e2);
        return rc;
    }
    cn_log_warn(MOD,
                "promoted the metalogger copy in %s to %s: metadata as of changelog entry %llu",
                from_ml, dst, (unsigned long long)seq);
    return 0;
}

static int meta_start(struct master *M, char *err, size_t errlen)
{
    if (from_ml) {
        int prc = promote(M, err, errlen);
        if (prc)
            return prc;
    }
    struct meta_options o = {.cache_bytes = M->cfg.cache_size,
                             .write_buffer_bytes = M->cfg.write_buffer_size,
                             .create = create_fs};
    int rc = meta_open(M->cfg.data_path, &o, &M->meta, err, errlen);
    if (rc == META_ENOTOURS && !create_fs) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n,
                 " (if this is a new installation, start once with --create to initialise an "
                 "empty file system in %s)",
                 M->cfg.data_path);
    }
    if (rc)
        return rc;
    meta_set_log(M->meta, meta_log, M);
    meta_set_trash_default(M->meta, (uint32_t)(M->cfg.trash_time_ms / 1000));
    if (from_ml) {
        /* The copy may lack the dead master's last entries, which other
         * metaloggers may hold: from here on, a new history. */
        rc = meta_changelog_fork(M->meta);
        if (rc) {
            snprintf(err, errlen, "--from-metalogger: %s", meta_last_error(M->meta));
            return rc;
        }
    }
    return 0;
}

static void meta_stop(struct master *M)
{
    meta_close(M->meta);
    M->meta = NULL;
}

static int turn_start(struct master *M, char *err, size_t errlen)
{
    int rc = turn_init(M);
    if (rc) {
        snprintf(err, errlen, "uv_check_init: %s", uv_strerror(rc));
        return rc;
    }
    /* Files unlinked while open in the previous run stay until mounts had
     * OPEN_GRACE_MS to reconnect and claim them (opens.c). */
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    struct master *M = t->data;
    uint64_t now = cn_now_ms();
    cs_serv_tick(M, now);
    health_tick(M, now);
    opens_tick(M, now);
    mlserv_tick(M, now);
    trash_tick(M, now);
    turn_tick(M, now);
    uint64_t every = (uint64_t)M->cfg.lease_ms / 4;
    if (every < 100)
        every = 100;
    if (every > 1000)
        every = 1000;
    int64_t wall = cn_wall_ms();
    /* a full scan of the chunk table, so only while a lease may be live */
    if (now - M->last_lease_scan_ms >= every && M->last_scan_wall_ms <= M->leases_until_ms) {
        M->last_lease_scan_ms = now;
        M->last_scan_wall_ms = wall;
        if (turn_begin(M) == 0) {
            int n = meta_chunk_leases_expire(M->meta, wall);
            if (n > 0)
                cn_log_info(MOD, "rolled back %d expired write leases", n);
            else if (n < 0)
                cn_log_error(MOD, "lease expiry: %s", meta_strerror(n));
        }
    }
}

static int tick_start(struct master *M, char *err, size_t errlen)
{
    int64_t wall = cn_wall_ms();
    /* leases of the previous run may still be in the table */
    M->leases_until_ms = wall + M->cfg.lease_ms;
    int rc = uv_timer_init(M->loop, &M->tick);
    if (!rc) {
        M->tick.data = M;
        rc = uv_timer_start(&M->tick, on_tick, 100, 100);
    }
    if (rc)
        snprintf(err, errlen, "tick timer: %s", uv_strerror(rc));
    return rc;
}

static void tick_stop(struct master *M)
{
    uv_timer_stop(&M->tick);
    uv_close((uv_handle_t *)&M->tick, NULL);
}

static void shutdown_begin(struct master *M);

static void on_signal(uv_signal_t *h, int signum)
{
    struct master *M = h->data;
    if (signum != SIGHUP) {
        cn_log_info(MOD, "%s: shutting down", strsignal(signum));
        shutdown_begin(M);
        return;
    }
    char err[512] = "";
    if (M->cfg_path) {
        int rc = cn_config_reload(opt_tab, &M->cfg, sizeof(M->cfg), M->cfg_path, err, sizeof(err));
        if (rc < 0) {
            cn_log_error(MOD, "reload: %s; keeping the running configuration", err);
            return;
        }
        if (rc > 0)
            cn_log_warn(MOD, "reload: %s changed but need a restart", err);
    }
    int lvl = cn_log_level_parse(M->cfg.log_level ? M->cfg.log_level : "info");
    if (lvl >= 0)
        cn_log_set_level(lvl);
    else
        cn_log_error(MOD, "reload: LOG_LEVEL = %s: must be error, warn, info or debug",
                     M->cfg.log_level);
    cn_log_reopen();
    if (M->meta)
        meta_set_trash_default(M->meta, (uint32_t)(M->cfg.trash_time_ms / 1000));
    if (M->meta && M->classes && classes_load(M) < 0) /* the default class follows GOAL */
        cn_log_error(MOD, "reload: the storage classes could not be read again");
    cn_log_info(MOD, "configuration reloaded");
}

static int signals_start(struct master *M, char *err, size_t errlen)
{
    uv_signal_t *hs[] = {&M->sig_term, &M->sig_int, &M->sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        int rc = uv_signal_init(M->loop, hs[i]);
        hs[i]->data = M;
        if (!rc)
            rc = uv_signal_start(hs[i], on_signal, nums[i]);
        if (rc) {
            snprintf(err, errlen, "signal %d: %s", nums[i], uv_strerror(rc));
            return rc;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void signals_stop(struct master *M)
{
    uv_signal_t *hs[] = {&M->sig_term, &M->sig_int, &M->sig_hup};
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)hs[i], NULL);
}

static int ready_start(struct master *M, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    char a[300], b[300];
    cn_log_info(MOD, "serving: clients on %s (port %u), chunkservers on %s (port %u), goal %lld",
                cn_addr_format(&M->cfg.client_listen, a, sizeof(a)), cn_listener_port(M->client_l),
                cn_addr_format(&M->cfg.cs_listen, b, sizeof(b)), cn_listener_port(M->cs_l),
                (long long)M->cfg.goal);
    printf("ready client_port=%u cs_port=%u\n", cn_listener_port(M->client_l),
           cn_listener_port(M->cs_l));
    fflush(stdout);
    return 0;
}

static int ml_start(struct master *M, char *err, size_t errlen)
{
    (void)M;
    (void)err;
    (void)errlen;
    return 0; /* nothing to start: metaloggers arrive on the chunkserver port */
}

static void turn_stop(struct master *M)
{
    turn_release(M);
}

struct start_step {
    const char *name;
    int (*start)(struct master *M, char *err, size_t errlen);
    void (*stop)(struct master *M); /* NULL: nothing to undo */
};

static const struct start_step start_tab[] = {
    {"metadata", meta_start, meta_stop},
    {"group commit", turn_start, turn_stop},
    {"storage classes", classes_init, classes_free},
    {"open files", opens_init, opens_release},
    {"locks", locks_init, locks_release},
    {"signals", signals_start, signals_stop},
    {"metaloggers", ml_start, mlserv_release},
    {"chunkserver port", cs_serv_init, cs_serv_release},
    {"client port", client_serv_init, client_serv_release},
    {"health loop", health_init, health_release},
    {"tick", tick_start, tick_stop},
    {"ready", ready_start, NULL},
};
#define NSTEPS (sizeof(start_tab) / sizeof(start_tab[0]))

static size_t started; /* steps started, for the reverse walk */

/* Stop everything but the metadata store: the loop then drains and returns. */
static void shutdown_begin(struct master *M)
{
    M->stopping = 1;
    turn_end(M); /* commit and answer what is in flight */
    while (started > 1) {
        const struct start_step *s = &start_tab[--started];
        if (s->stop)
            s->stop(M);
    }
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: cairn-master [-c FILE] [-f] [--create] [--from-metalogger DIR] "
               "[--dump-config]\n"
               "  -c FILE         configuration (default " DEFAULT_CFG " if it exists)\n"
               "  -f              stay in the foreground (always the case)\n"
               "  --create        initialise an empty file system if DATA_PATH is empty\n"
               "  --from-metalogger DIR\n"
               "                  start on a copy of a stopped metalogger's metadata (DIR is its\n"
               "                  DATA_PATH); DATA_PATH must be missing or empty\n"
               "  --dump-config   print the effective configuration and exit\n");
}

int main(int argc, char **argv)
{
    static struct master M;
    static const struct option longopts[] = {{"create", no_argument, NULL, 'C'},
                                             {"from-metalogger", required_argument, NULL, 'P'},
                                             {"dump-config", no_argument, NULL, 'D'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int dump = 0, opt, rc = 1;
    char err[1024] = "";
    while ((opt = getopt_long(argc, argv, "c:fh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            M.cfg_path = optarg;
            break;
        case 'f':
            break;
        case 'C':
            create_fs = 1;
            break;
        case 'P':
            from_ml = optarg;
            break;
        case 'D':
            dump = 1;
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
    if (!M.cfg_path && access(DEFAULT_CFG, F_OK) == 0)
        M.cfg_path = DEFAULT_CFG;
    int crc = M.cfg_path ? cn_config_load(opt_tab, &M.cfg, M.cfg_path, err, sizeof(err))
                         : cn_config_defaults(opt_tab, &M.cfg, err, sizeof(err));
    if (!crc && !M.cfg.data_path) {
        snprintf(err, sizeof(err), "%s: DATA_PATH is empty: set the metadata directory",
                 M.cfg_path ? M.cfg_path : "defaults");
        crc = -EINVAL;
    }
    if (crc) {
        fprintf(stderr, "cairn-master: configuration: %s\n", err);
        cn_config_release(opt_tab, &M.cfg);
        return 2;
    }
    if (dump) {
        cn_config_dump(opt_tab, &M.cfg, stdout);
        cn_config_release(opt_tab, &M.cfg);
        return 0;
    }
    if (apply_log(&M, err, sizeof(err))) {
        fprintf(stderr, "cairn-master: configuration: %s\n", err);
        cn_config_release(opt_tab, &M.cfg);
        return 2;
    }
    M.loop = uv_default_loop();
    struct timespec w = cn_wall_now();
    /* Session ids are lease holders stored in the chunk table: never reuse
     * one across restarts, so start from the wall clock. */
    M.session_base = ((uint64_t)w.tv_sec * 1000 + (uint64_t)w.tv_nsec / 1000000) << 16;
    for (started = 0; started < NSTEPS; started++) {
        err[0] = 0;
        int src = start_tab[started].start(&M, err, sizeof(err));
        if (src) {
            cn_log_error(MOD, "start: %s: %s", start_tab[started].name,
                         err[0] ? err : meta_strerror(src));
            shutdown_begin(&M);
            goto out;
        }
    }
    uv_run(M.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    shutdown_begin(&M);
    uv_run(M.loop, UV_RUN_DEFAULT); /* let closing handles finish */
    if (started == 1)
        meta_stop(&M);
    started = 0;
    health_free(&M);
    cs_serv_free(&M);
    mlserv_free(&M);
    snapshot_free(&M);
    if (uv_loop_close(M.loop))
        cn_log_warn(MOD, "loop closed with handles still open");
    cn_log_info(MOD, "stopped");
    cn_config_release(opt_tab, &M.cfg);
    cn_log_close();
    return rc;
}
