/*
 * main.c - cairn-metalogger: keeps a live copy of the master's metadata.
 *
 * It connects to the master's chunkserver port (HELLO role METALOGGER),
 * says which changelog entry its copy holds (ML_FOLLOW) and then applies
 * what the master streams: the changelog entries after that one, or first a
 * checkpoint of the whole database when its copy is missing or too old
 * (docs/master.md, "Changelog and metaloggers"). The copy is an ordinary
 * master database in DIR/meta: `cairn-master --from-metalogger DIR` starts
 * a master on it.
 *
 * Durability: entries are applied without fsync as they arrive; once per
 * loop iteration (after a burst of frames) the WAL is fsynced and the last
 * entry is acknowledged (ML_ACK), so an acknowledged entry survives a crash
 * of this machine, and a restart resumes from the copy's own head.
 *
 * A checkpoint is received into DIR/meta.incoming and replaces DIR/meta
 * only once every file is complete and fsynced: a crash or a cut connection
 * during the copy leaves the old copy as it was.
 *
 * One line goes to stdout once the copy follows the master:
 *     following seq=N
 * and the log says whether it got there through a checkpoint or entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cn_time.h"
#include "config.h"
#include "log.h"
#include "meta.h"
#include "net.h"
#include "wire.h"
#include "xmalloc.h"

#define MOD             "metalogger"
#define DEFAULT_CFG     "/etc/cairn/metalogger.cfg"
#define CALL_TIMEOUT_MS 10000
#define PING_MS         5000
#define BACKOFF_MIN_MS  200
#define BACKOFF_MAX_MS  5000
#define ENTRY_MAX       (256u << 20) /* bytes of one changelog entry we accept */
#define SNAP_FILES_MAX  100000u

struct ml_config {
    struct cn_addr master;
    char *data_path;
    char *name;
    int64_t changelog_entries;
    uint64_t cache_size;
    char *log_file, *log_level;
};

#define OFF(f) offsetof(struct ml_config, f)
static const struct cn_opt opt_tab[] = {
    {"", "MASTER", CN_OPT_ADDR, OFF(master), "127.0.0.1:9420", 1, 65535, 0,
     "the master's chunkserver port (HOST:PORT)"},
    {"", "DATA_PATH", CN_OPT_STR, OFF(data_path), "/var/lib/cairn/metalogger", 0, 0, 0,
     "directory of the copy (DATA_PATH/meta is a master database)"},
    {"", "NAME", CN_OPT_STR, OFF(name), NULL, 0, 0, 0,
     "name shown in `cairn status` (default: the host name)"},
    {"", "CHANGELOG_ENTRIES", CN_OPT_INT, OFF(changelog_entries), "100000", 100, 100000000, 1,
     "changelog entries kept in the copy (for metaloggers of a master promoted from it)"},
    {"", "CACHE_SIZE", CN_OPT_SIZE, OFF(cache_size), "32M", 8 << 20, (int64_t)1 << 40, 0,
     "RocksDB block cache of the copy"},
    {"", "LOG_FILE", CN_OPT_STR, OFF(log_file), NULL, 0, 0, 1,
     "append log lines to this file too (reopened on SIGHUP)"},
    {"", "LOG_LEVEL", CN_OPT_STR, OFF(log_level), "info", 0, 0, 1, "error, warn, info or debug"},
    CN_OPT_END,
};

struct ml {
    uv_loop_t *loop;
    struct ml_config cfg;
    char maddr[300];
    char meta_dir[PATH_MAX], in_dir[PATH_MAX], old_dir[PATH_MAX];
    struct meta *m; /* the copy; NULL until one exists */
    struct cn_conn *c;
    int connecting, stopping, warned, following;
    uint32_t backoff_ms;
    uv_timer_t retry, ping;
    uv_check_t check;
    uv_signal_t sig_term, sig_int, sig_hup;
    /* entry being reassembled */
    uint64_t e_seq, e_ms;
    uint32_t e_total, e_have;
    uint8_t *e_buf;
    int dirty; /* applied entries not yet fsynced and acknowledged */
    uint64_t last_acked;
    /* checkpoint being received */
    int snapping;
    int snap_fd;
    char snap_name[256];
    uint64_t snap_size, snap_have;
    uint32_t snap_files;
    struct meta_epoch snap_epoch; /* the master's history, from ML_FOLLOW_R */
    /* counters in the log at exit (tests read them) */
    uint64_t entries_applied, snapshots;
};

static void connect_now(struct ml *L);

/* ---- the copy ---------------------------------------------------------------- */

static void meta_log(void *ctx, const char *msg)
{
    (void)ctx;
    cn_log_error("meta", "%s", msg);
}

/* Opens DIR/meta if it exists. 0 (L->m may stay NULL: no copy yet) or an error. */
static int copy_open(struct ml *L)
{
    char err[512];
    if (access(L->meta_dir, F_OK) != 0)
        return 0;
    struct meta_options o = {.cache_bytes = L->cfg.cache_size};
    int rc = meta_open(L->meta_dir, &o, &L->m, err, sizeof(err));
    if (rc) {
        cn_log_error(MOD, "the copy in %s cannot be opened: %s; move it aside to start over",
                     L->meta_dir, err);
        return rc;
    }
    meta_set_log(L->m, meta_log, L);
    return 0;
}

static uint64_t copy_seq(struct ml *L)
{
    return L->m ? meta_changelog_seq(L->m) : 0;
}

/* fsync + acknowledge what was applied since the last call. */
static void flush_ack(struct ml *L)
{
    if (!L->dirty || !L->m)
        return;
    int rc = meta_sync(L->m);
    if (rc) {
        cn_log_error(MOD, "fsync of the copy: %s (%s); exiting", meta_strerror(rc),
                     meta_last_error(L->m));
        exit(1);
    }
    L->dirty = 0;
    uint64_t seq = copy_seq(L);
    meta_changelog_trim(L->m, seq + 1 > (uint64_t)L->cfg.changelog_entries
                                  ? seq + 1 - (uint64_t)L->cfg.changelog_entries
                                  : 0);
    if (L->c && L->following && seq != L->last_acked) {
        struct cn_ml_ack a = {seq};
        if (cn_conn_send_msg(L->c, CN_MSG_ML_ACK, 0, &a) == 0)
            L->last_acked = seq;
    }
}

static void on_check(uv_check_t *h)
{
    flush_ack(h->data);
}

/* ---- receiving a checkpoint ----------------------------------------------------- */

static void snap_abort(struct ml *L)
{
    if (L->snap_fd >= 0)
        close(L->snap_fd);
    L->snap_fd = -1;
    L->snapping = 0;
    meta_checkpoint_remove(L->in_dir);
}

static int snap_begin(struct ml *L)
{
    snap_abort(L);
    if (mkdir(L->in_dir, 0700) && errno != EEXIST) {
        cn_log_error(MOD, "%s: %s", L->in_dir, strerror(errno));
        return -errno;
    }
    L->snapping = 1;
    L->snap_files = 0;
    L->snap_name[0] = 0;
    return 0;
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int snap_file(struct ml *L, const struct cn_ml_snap_file *f)
{
    if (!L->snapping || f->name.len == 0 || f->name.len > 255 ||
        memchr(f->name.ptr, '/', f->name.len) || memchr(f->name.ptr, 0, f->name.len) ||
        f->name.ptr[0] == '.' || f->offset > f->size || f->data.len > f->size - f->offset)
        return CN_EMALFORMED;
    int same =
        strlen(L->snap_name) == f->name.len && !memcmp(L->snap_name, f->name.ptr, f->name.len);
    if (!same) {
        if (L->snap_fd >= 0 || f->offset != 0 || ++L->snap_files > SNAP_FILES_MAX)
            return CN_EMALFORMED; /* previous file incomplete, or a file starts midway */
        memcpy(L->snap_name, f->name.ptr, f->name.len);
        L->snap_name[f->name.len] = 0;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", L->in_dir, L->snap_name);
        L->snap_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (L->snap_fd < 0) {
            cn_log_error(MOD, "%s: %s", path, strerror(errno));
            return -errno;
        }
        L->snap_size = f->size;
        L->snap_have = 0;
    } else if (L->snap_fd < 0 || f->offset != L->snap_have || f->size != L->snap_size) {
        return CN_EMALFORMED;
    }
    size_t done = 0;
    while (done < f->data.len) {
        ssize_t n = write(L->snap_fd, f->data.ptr + done, f->data.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cn_log_error(MOD, "writing %s/%s: %s", L->in_dir, L->snap_name, strerror(errno));
            return -errno;
        }
        done += (size_t)n;
    }
    L->snap_have += f->data.len;
    if (L->snap_have == L->snap_size) {
        int rc = fsync(L->snap_fd) ? -errno : 0;
        close(L->snap_fd);
        L->snap_fd = -1;
        if (rc)
            return rc;
    }
    return 0;
}

static int snap_end(struct ml *L, const struct cn_ml_snap_end *e)
{
    if (!L->snapping || L->snap_fd >= 0 || e->files != L->snap_files)
        return CN_EMALFORMED;
    int rc = fsync_path(L->in_dir, 1);
    if (rc)
        return rc;
    /* the swap: old copy aside, new one in, old one gone */
    meta_close(L->m);
    L->m = NULL;
    meta_checkpoint_remove(L->old_dir);
    if (access(L->meta_dir, F_OK) == 0 && rename(L->meta_dir, L->old_dir)) {
        cn_log_error(MOD, "rename %s: %s", L->meta_dir, strerror(errno));
        return -errno;
    }
    if (rename(L->in_dir, L->meta_dir)) {
        cn_log_error(MOD, "rename %s: %s", L->in_dir, strerror(errno));
        return -errno;
    }
    fsync_path(L->cfg.data_path, 1);
    meta_checkpoint_remove(L->old_dir);
    L->snapping = 0;
    rc = copy_open(L);
    if (rc)
        return rc;
    if (!L->m || copy_seq(L) != e->seq) {
        cn_log_error(MOD, "the checkpoint holds entry %llu, the master announced %llu",
                     (unsigned long long)copy_seq(L), (unsigned long long)e->seq);
        return CN_EMALFORMED;
    }
    meta_changelog_adopt(L->m, &L->snap_epoch); /* persisted with the next entry */
    L->snapshots++;
    cn_log_info(MOD, "checkpoint installed: the copy holds entry %llu (%u files)",
                (unsigned long long)e->seq, e->files);
    L->dirty = 1; /* acknowledge it */
    printf("following seq=%llu\n", (unsigned long long)e->seq);
    fflush(stdout);
    return 0;
}

/* ---- entries ---------------------------------------------------------------------- */

static int entry_piece(struct ml *L, const struct cn_ml_entry *e)
{
    if (L->snapping || !L->m || e->total < 12 || e->total > ENTRY_MAX)
        return CN_EMALFORMED;
    if (e->offset == 0) {
        if (e->seq != copy_seq(L) + 1 || L->e_buf)
            return CN_EMALFORMED;
        L->e_buf = malloc(e->total);
        if (!L->e_buf)
            return -ENOMEM;
        L->e_seq = e->seq;
        L->e_ms = e->time_ms;
        L->e_total = e->total;
        L->e_have = 0;
    } else if (!L->e_buf || e->seq != L->e_seq || e->total != L->e_total ||
               e->offset != L->e_have) {
        return CN_EMALFORMED;
    }
    if (e->data.len > L->e_total - L->e_have)
        return CN_EMALFORMED;
    memcpy(L->e_buf + L->e_have, e->data.ptr, e->data.len);
    L->e_have += e->data.len;
    if (L->e_have < L->e_total)
        return 0;
    int rc = meta_changelog_apply(L->m, L->e_seq, L->e_ms, L->e_buf, L->e_total, 0);
    free(L->e_buf);
    L->e_buf = NULL;
    if (rc == -EINVAL || rc == -ESPIPE)
        return CN_EMALFORMED;
    if (rc) {
        cn_log_error(MOD, "applying entry %llu: %s (%s); exiting", (unsigned long long)L->e_seq,
                     meta_strerror(rc), meta_last_error(L->m));
        exit(1);
    }
    L->entries_applied++;
    L->dirty = 1;
    return 0;
}

/* ---- connection ------------------------------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

static void schedule_retry(struct ml *L)
{
    if (L->stopping)
        return;
    uv_timer_start(&L->retry, on_retry, L->backoff_ms, 0);
    L->backoff_ms = L->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : L->backoff_ms * 2;
}

union ml_msg {
    struct cn_ml_entry entry;
    struct cn_ml_snap_file file;
    struct cn_ml_snap_end end;
};

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    struct ml *L = ud;
    if (h->type & CN_MSG_REPLY)
        return; /* a late reply to a call that timed out */
    if (h->type != CN_MSG_ML_ENTRY && h->type != CN_MSG_ML_SNAP_FILE &&
        h->type != CN_MSG_ML_SNAP_END) {
        cn_conn_close(c, CN_EUNKNOWN);
        return;
    }
    union ml_msg u;
    int rc = cn_msg_decode(h->type, payload, h->len, &u);
    if (!rc && !L->following)
        rc = CN_EMALFORMED;
    if (!rc) {
        if (h->type == CN_MSG_ML_ENTRY)
            rc = entry_piece(L, &u.entry);
        else if (h->type == CN_MSG_ML_SNAP_FILE)
            rc = snap_file(L, &u.file);
        else
            rc = snap_end(L, &u.end);
    }
    cn_msg_free(h->type, &u);
    if (rc)
        cn_conn_close(c, rc);
}

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct ml *L = ud;
    (void)c;
    flush_ack(L);
    if (L->snapping) {
        cn_log_warn(MOD, "checkpoint copy cut short; the old copy stays");
        snap_abort(L);
    }
    free(L->e_buf);
    L->e_buf = NULL;
    L->c = NULL;
    L->following = 0;
    uv_timer_stop(&L->ping);
    if (!L->stopping)
        cn_log_warn(MOD, "master %s: connection lost (%s); reconnecting", L->maddr,
                    err ? cn_strerror(err) : "closed");
    schedule_retry(L);
}

static const struct cn_conn_ops ml_ops = {on_frame, on_close};

static void on_ping_reply(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                          const uint8_t *payload, void *ud)
{
    (void)h;
    (void)payload;
    (void)ud;
    if (status && c)
        cn_conn_close(c, status); /* master silent: reconnect */
}

static void on_ping(uv_timer_t *t)
{
    struct ml *L = t->data;
    struct cn_ping p = {cn_now_ms()};
    if (L->c)
        cn_conn_call(L->c, CN_MSG_PING, &p, CALL_TIMEOUT_MS, on_ping_reply, L);
}

static void on_follow(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                      const uint8_t *payload, void *ud)
{
    struct ml *L = ud;
    struct cn_ml_follow_r r;
    if (status) {
        cn_log_error(MOD, "master %s refused to feed this copy: %s", L->maddr, cn_strerror(status));
        if (c)
            cn_conn_close(c, 0);
        return;
    }
    if (cn_msg_decode(CN_MSG_ML_FOLLOW_R, payload, h->len, &r) || r.mode > 1) {
        cn_msg_free(CN_MSG_ML_FOLLOW_R, &r);
        cn_conn_close(c, CN_EMALFORMED);
        return;
    }
    L->backoff_ms = BACKOFF_MIN_MS;
    L->following = 1;
    L->snap_epoch = (struct meta_epoch){r.epoch, r.prev_epoch, r.epoch_start};
    if (r.mode == 1) {
        cn_log_info(MOD, "copying a checkpoint of the master as of entry %llu (the copy had %llu)",
                    (unsigned long long)r.seq, (unsigned long long)copy_seq(L));
        if (snap_begin(L))
            cn_conn_close(c, -EIO);
    } else {
        struct meta_epoch ep = {r.epoch, r.prev_epoch, r.epoch_start};
        meta_changelog_adopt(L->m, &ep);
        cn_log_info(MOD, "following the master from entry %llu (master at %llu)",
                    (unsigned long long)copy_seq(L) + 1, (unsigned long long)r.seq);
        printf("following seq=%llu\n", (unsigned long long)copy_seq(L));
        fflush(stdout);
    }
    cn_msg_free(CN_MSG_ML_FOLLOW_R, &r);
    uv_timer_start(&L->ping, on_ping, PING_MS, PING_MS);
}

static void on_hello(struct cn_conn *c, int status, const struct cn_frame_hdr *h,
                     const uint8_t *payload, void *ud)
{
    struct ml *L = ud;
    (void)h;
    (void)payload;
    if (status) {
        cn_log_warn(MOD, "master %s refused the handshake: %s", L->maddr, cn_strerror(status));
        if (c)
            cn_conn_close(c, 0);
        return;
    }
    struct meta_statfs sf = {0};
    if (L->m)
        meta_statfs(L->m, &sf);
    struct meta_epoch ep = {0, 0, 0};
    if (L->m)
        meta_changelog_epoch(L->m, &ep);
    struct cn_ml_follow f = {
        cn_str_of(L->cfg.name), {sf.fsid, L->m ? 16 : 0}, copy_seq(L), ep.epoch};
    L->last_acked = copy_seq(L);
    int rc = cn_conn_call(c, CN_MSG_ML_FOLLOW, &f, CALL_TIMEOUT_MS, on_follow, L);
    if (rc)
        cn_conn_close(c, rc);
}

static void on_connect(struct cn_conn *c, int status, void *ud)
{
    struct ml *L = ud;
    L->connecting = 0;
    if (status) {
        if (!L->warned)
            cn_log_warn(MOD, "cannot reach the master %s: %s; retrying", L->maddr,
                        cn_strerror(status));
        L->warned = 1;
        schedule_retry(L);
        return;
    }
    if (L->stopping) {
        cn_conn_close(c, 0);
        return;
    }
    L->warned = 0;
    L->c = c;
    cn_conn_set_read_buffer(c, 2u << 20);
    struct cn_hello hello = {0};
    hello.role = CN_ROLE_METALOGGER;
    hello.ver_min = CN_WIRE_VERSION_MIN;
    hello.ver_max = CN_WIRE_VERSION;
    hello.name = cn_str_of(L->cfg.name);
    int rc = cn_conn_call(c, CN_MSG_HELLO, &hello, CALL_TIMEOUT_MS, on_hello, L);
    if (rc)
        cn_conn_close(c, rc);
}

static void connect_now(struct ml *L)
{
    if (L->stopping || L->c || L->connecting)
        return;
    L->connecting = 1;
    int rc = cn_conn_connect(L->loop, &L->cfg.master, &ml_ops, on_connect, L);
    if (rc) {
        L->connecting = 0;
        schedule_retry(L);
    }
}

/* ---- main --------------------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct ml *L = h->data;
    if (signum == SIGHUP) {
        cn_log_reopen();
        return;
    }
    cn_log_info(MOD, "%s: shutting down", strsignal(signum));
    L->stopping = 1;
    uv_timer_stop(&L->retry);
    uv_timer_stop(&L->ping);
    if (L->c)
        cn_conn_close(L->c, 0);
    uv_close((uv_handle_t *)&L->retry, NULL);
    uv_close((uv_handle_t *)&L->ping, NULL);
    uv_close((uv_handle_t *)&L->check, NULL);
    uv_close((uv_handle_t *)&L->sig_term, NULL);
    uv_close((uv_handle_t *)&L->sig_int, NULL);
    uv_close((uv_handle_t *)&L->sig_hup, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cairn-metalogger [-c FILE] [--master HOST:PORT] [--dir DIR] [--name NAME]\n"
               "                        [-o NAME=VALUE] [--dump-config]\n"
               "  -c FILE           configuration (default " DEFAULT_CFG " if it exists)\n"
               "  --master H:P      the master's chunkserver port (MASTER)\n"
               "  --dir DIR         where the copy lives (DATA_PATH)\n"
               "  --name NAME       name shown by `cairn status` (NAME)\n"
               "  -o NAME=VALUE     set any configuration option\n"
               "  --dump-config     print the effective configuration and exit\n");
}

int main(int argc, char **argv)
{
    static struct ml L;
    static const struct option longopts[] = {
        {"master", required_argument, NULL, 'm'}, {"dir", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},   {"dump-config", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *cfg_path = NULL;
    struct {
        const char *name, *value;
    } sets[64];
    int nsets = 0, dump = 0, opt;
    char err[1024] = "";
    while ((opt = getopt_long(argc, argv, "c:fo:h", longopts, NULL)) != -1) {
        const char *name = NULL;
        switch (opt) {
        case 'c':
            cfg_path = optarg;
            break;
        case 'f':
            break;
        case 'm':
            name = "MASTER";
            break;
        case 'd':
            name = "DATA_PATH";
            break;
        case 'n':
            name = "NAME";
            break;
        case 'o': {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "cairn-metalogger: -o %s: expected NAME=VALUE\n", optarg);
                return 2;
            }
            *eq = 0;
            if (nsets < 64)
                sets[nsets++] = (typeof(sets[0])){optarg, eq + 1};
            break;
        }
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
        if (name && nsets < 64)
            sets[nsets++] = (typeof(sets[0])){name, optarg};
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!cfg_path && access(DEFAULT_CFG, F_OK) == 0)
        cfg_path = DEFAULT_CFG;
    int rc = cfg_path ? cn_config_load(opt_tab, &L.cfg, cfg_path, err, sizeof(err))
                      : cn_config_defaults(opt_tab, &L.cfg, err, sizeof(err));
    for (int i = 0; !rc && i < nsets; i++)
        rc = cn_config_set(opt_tab, &L.cfg, "", sets[i].name, sets[i].value, "command line", err,
                           sizeof(err));
    if (!rc && !L.cfg.data_path) {
        snprintf(err, sizeof(err), "DATA_PATH is empty: set the directory of the copy");
        rc = -EINVAL;
    }
    if (!rc && !L.cfg.name) {
        char host[256] = "metalogger";
        gethostname(host, sizeof(host) - 1);
        L.cfg.name = cn_xstrdup(host);
    }
    if (!rc && (strlen(L.cfg.name) == 0 || strlen(L.cfg.name) > 64)) {
        snprintf(err, sizeof(err), "NAME = %s: must be 1..64 bytes", L.cfg.name);
        rc = -EINVAL;
    }
    if (!rc && strlen(L.cfg.data_path) > PATH_MAX - 32) {
        snprintf(err, sizeof(err), "DATA_PATH is too long");
        rc = -EINVAL;
    }
    if (rc) {
        fprintf(stderr, "cairn-metalogger: configuration: %s\n", err);
        cn_config_release(opt_tab, &L.cfg);
        return 2;
    }
    if (dump) {
        cn_config_dump(opt_tab, &L.cfg, stdout);
        cn_config_release(opt_tab, &L.cfg);
        return 0;
    }
    int level = cn_log_level_parse(L.cfg.log_level ? L.cfg.log_level : "info");
    struct cn_log_config lc = {level < 0 ? CN_LOG_INFO : level, 1, L.cfg.log_file, 0,
                               "cairn-metalogger"};
    if (cn_log_init(&lc)) {
        fprintf(stderr, "cairn-metalogger: LOG_FILE %s cannot be opened\n", L.cfg.log_file);
        return 2;
    }
    snprintf(L.meta_dir, sizeof(L.meta_dir), "%s/meta", L.cfg.data_path);
    snprintf(L.in_dir, sizeof(L.in_dir), "%s/meta.incoming", L.cfg.data_path);
    snprintf(L.old_dir, sizeof(L.old_dir), "%s/meta.old", L.cfg.data_path);
    cn_addr_format(&L.cfg.master, L.maddr, sizeof(L.maddr));
    if (mkdir(L.cfg.data_path, 0700) && errno != EEXIST) {
        cn_log_error(MOD, "DATA_PATH %s: %s", L.cfg.data_path, strerror(errno));
        return 1;
    }
    meta_checkpoint_remove(L.in_dir); /* a copy cut short by a crash */
    if (access(L.meta_dir, F_OK) != 0 && access(L.old_dir, F_OK) == 0)
        rename(L.old_dir, L.meta_dir); /* crashed between the two renames of a swap */
    meta_checkpoint_remove(L.old_dir);
    if (copy_open(&L))
        return 1;
    cn_log_info(MOD, "%s: copy in %s holds entry %llu; master %s", L.cfg.name, L.meta_dir,
                (unsigned long long)copy_seq(&L), L.maddr);
    L.loop = uv_default_loop();
    L.snap_fd = -1;
    L.backoff_ms = BACKOFF_MIN_MS;
    signal(SIGPIPE, SIG_IGN);
    uv_timer_init(L.loop, &L.retry);
    uv_timer_init(L.loop, &L.ping);
    uv_check_init(L.loop, &L.check);
    L.retry.data = L.ping.data = L.check.data = &L;
    uv_check_start(&L.check, on_check);
    uv_signal_t *hs[] = {&L.sig_term, &L.sig_int, &L.sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(L.loop, hs[i]);
        hs[i]->data = &L;
        uv_signal_start(hs[i], on_signal, nums[i]);
    }
    uv_timer_start(&L.retry, on_retry, 0, 0);
    uv_run(L.loop, UV_RUN_DEFAULT);
    flush_ack(&L);
    cn_log_info(MOD, "stopped at entry %llu (this run: %llu entries applied, %llu checkpoints)",
                (unsigned long long)copy_seq(&L), (unsigned long long)L.entries_applied,
                (unsigned long long)L.snapshots);
    meta_close(L.m);
    uv_loop_close(L.loop);
    cn_config_release(opt_tab, &L.cfg);
    cn_log_close();
    return 0;
}
