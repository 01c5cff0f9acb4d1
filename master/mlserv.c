/*
 * mlserv.c - the master's side of metaloggers: a first copy from a RocksDB
 * checkpoint, then the changelog entry by entry (docs/master.md,
 * "Changelog and metaloggers"; bytes in docs/protocol.md).
 *
 * A metalogger connects to the chunkserver port with HELLO role METALOGGER;
 * cs_serv.c hands the connection over here. ML_FOLLOW says what it has (file
 * system id, last entry applied). If the next entry is still stored, the
 * master streams entries from there; otherwise it makes a checkpoint next to
 * DATA_PATH, streams its files (ML_SNAP_FILE, ML_SNAP_END) and then the
 * entries after the checkpoint's. Entries are read back from RocksDB, so a
 * metalogger that is behind catches up at its own pace; the writer is pumped
 * after every commit and every tick while the connection's queue is below
 * ML_QUEUE bytes.
 *
 * The master remembers every metalogger it saw in this run with the last
 * entry it acknowledged (ML_ACK): the changelog keeps what the slowest one
 * still needs, but never more than CHANGELOG_ENTRIES entries; one that falls
 * further behind gets a new checkpoint.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn_time.h"
#include "log.h"
#include "master_int.h"
#include "xmalloc.h"

#define MOD      "mlserv"
#define ML_QUEUE (8u << 20) /* bytes queued to one metalogger before we wait */
#define ML_PIECE (1u << 20) /* bytes of one ML_ENTRY / ML_SNAP_FILE frame */

struct ml_file {
    char *name;
    uint64_t size;
};

struct ml_peer {
    struct master *M;
    struct cn_conn *c;
    struct ml_known *k;
    char name[72]; /* for the log: the metalogger's name, or "dump:NAME" */
    int following; /* ML_FOLLOW answered; entries after `sent` go out */
    int oneshot;   /* ML_SNAPSHOT: one checkpoint, then nothing */
    uint64_t sent; /* last entry sent */
    /* the checkpoint being sent */
    char *cp_dir;
    struct ml_file *files;
    size_t nfiles, cur;
    uint64_t off;
    int fd;
    uint64_t cp_seq;
    struct ml_peer *next;
};

static void snap_done(struct ml_peer *p);

static struct ml_known *known_get(struct master *M, const char *name)
{
    for (struct ml_known *k = M->mls; k; k = k->next)
        if (!strcmp(k->name, name))
            return k;
    struct ml_known *k = cn_xcalloc(1, sizeof(*k));
    k->name = cn_xstrdup(name);
    k->next = M->mls;
    M->mls = k;
    return k;
}

static void peer_unlink(struct ml_peer *p)
{
    for (struct ml_peer **pp = &p->M->ml_peers; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void snap_free(struct ml_peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    for (size_t i = 0; i < p->nfiles; i++)
        free(p->files[i].name);
    free(p->files);
    p->files = NULL;
    p->nfiles = p->cur = 0;
    if (p->cp_dir) {
        meta_checkpoint_remove(p->cp_dir);
        free(p->cp_dir);
        p->cp_dir = NULL;
    }
}

/* Makes the checkpoint and lists its files. 0 or an error (logged). */
static int snap_start(struct ml_peer *p)
{
    struct master *M = p->M;
    char err[512];
    size_t n = strlen(M->cfg.data_path) + 64;
    p->cp_dir = cn_xmalloc(n);
    snprintf(p->cp_dir, n, "%s.ml-checkpoint-%llu", M->cfg.data_path,
             (unsigned long long)++M->ml_checkpoints);
    meta_checkpoint_remove(p->cp_dir); /* a leftover of a crashed run */
    uint64_t t0 = cn_now_ms();
    int rc = meta_checkpoint(M->meta, p->cp_dir, &p->cp_seq, err, sizeof(err));
    if (rc) {
        cn_log_error(MOD, "metalogger %s: %s", p->name, err);
        free(p->cp_dir);
        p->cp_dir = NULL;
        return rc;
    }
    DIR *d = opendir(p->cp_dir);
    if (!d) {
        rc = -errno;
        cn_log_error(MOD, "metalogger %s: %s: %s", p->name, p->cp_dir, strerror(errno));
        snap_free(p);
        return rc;
    }
    struct dirent *e;
    size_t cap = 0;
    uint64_t bytes = 0;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", p->cp_dir, e->d_name);
        if (stat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        if (p->nfiles == cap) {
            cap = cap ? cap * 2 : 16;
            p->files = cn_xrealloc(p->files, cap * sizeof(*p->files));
        }
        p->files[p->nfiles].name = cn_xstrdup(e->d_name);
        p->files[p->nfiles].size = (uint64_t)st.st_size;
        p->nfiles++;
        bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    p->cur = 0;
    p->off = 0;
    p->fd = -1;
    if (p->k)
        p->k->snapshots++;
    cn_log_info(MOD,
                "metalogger %s: sending a checkpoint as of entry %llu (%zu files, %llu bytes, "
                "made in %llu ms)",
                p->name, (unsigned long long)p->cp_seq, p->nfiles, (unsigned long long)bytes,
                (unsigned long long)(cn_now_ms() - t0));
    return 0;
}

/* Sends the next piece of the checkpoint; 1 if something was sent. */
static int snap_pump(struct ml_peer *p)
{
    static uint8_t buf[ML_PIECE];
    if (p->cur == p->nfiles) {
        struct cn_ml_snap_end e = {p->cp_seq, (uint32_t)p->nfiles};
        if (cn_conn_send_msg(p->c, CN_MSG_ML_SNAP_END, 0, &e)) {
            cn_conn_close(p->c, -EPIPE);
            return 0;
        }
        snap_done(p);
        return 1;
    }
    struct ml_file *f = &p->files[p->cur];
    if (p->fd < 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", p->cp_dir, f->name);
        p->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (p->fd < 0) {
            cn_log_error(MOD, "metalogger %s: %s: %s", p->name, path, strerror(errno));
            cn_conn_close(p->c, -EIO);
            return 0;
        }
    }
    size_t want = f->size - p->off < ML_PIECE ? (size_t)(f->size - p->off) : ML_PIECE;
    ssize_t got = want ? pread(p->fd, buf, want, (off_t)p->off) : 0;
    if (got < 0 || (size_t)got != want) {
        cn_log_error(MOD, "metalogger %s: reading checkpoint file %s: %s", p->name, f->name,
                     got < 0 ? strerror(errno) : "short read");
        cn_conn_close(p->c, -EIO);
        return 0;
    }
    struct cn_ml_snap_file m = {{f->name, strlen(f->name)}, f->size, p->off, {buf, want}};
    if (cn_conn_send_msg(p->c, CN_MSG_ML_SNAP_FILE, 0, &m)) {
        cn_conn_close(p->c, -EPIPE);
        return 0;
    }
    p->off += want;
    if (p->off == f->size) {
        close(p->fd);
        p->fd = -1;
        p->cur++;
        p->off = 0;
    }
    return 1;
}

static void snap_done(struct ml_peer *p)
{
    p->sent = p->cp_seq;
    snap_free(p);
}

/* Sends entry sent + 1; 1 if sent, 0 if nothing to send or the peer closed. */
static int entry_pump(struct ml_peer *p)
{
    struct master *M = p->M;
    if (p->sent >= meta_changelog_seq(M->meta))
        return 0;
    uint64_t seq = p->sent + 1, ms;
    char *rep;
    size_t len;
    int rc = meta_changelog_get(M->meta, seq, &ms, &rep, &len);
    if (rc == -ENOENT) {
        cn_log_warn(MOD,
                    "metalogger %s: entry %llu was trimmed before it was sent; it must copy a "
                    "checkpoint again",
                    p->name, (unsigned long long)seq);
        cn_conn_close(p->c, -ESPIPE);
        return 0;
    }
    if (rc) {
        cn_log_error(MOD, "changelog entry %llu: %s (%s)", (unsigned long long)seq,
                     meta_strerror(rc), meta_last_error(M->meta));
        cn_conn_close(p->c, -EIO);
        return 0;
    }
    for (size_t off = 0; off < len; off += ML_PIECE) {
        size_t n = len - off < ML_PIECE ? len - off : ML_PIECE;
        struct cn_ml_entry e = {seq, ms, (uint32_t)len, (uint32_t)off, {(uint8_t *)rep + off, n}};
        if (cn_conn_send_msg(p->c, CN_MSG_ML_ENTRY, 0, &e)) {
            free(rep);
            cn_conn_close(p->c, -EPIPE);
            return 0;
        }
    }
    free(rep);
    p->sent = seq;
    return 1;
}

static void pump(struct ml_peer *p)
{
    while (p->following && (p->cp_dir || !p->oneshot) && cn_conn_pending(p->c) < ML_QUEUE) {
        int sent = p->cp_dir ? snap_pump(p) : entry_pump(p);
        if (!sent)
            break;
    }
}

void mlserv_pump(struct master *M)
{
    for (struct ml_peer *p = M->ml_peers, *n; p; p = n) {
        n = p->next; /* pump may close p (its close callback runs later) */
        pump(p);
    }
}

static void on_follow(struct ml_peer *p, uint64_t req_id, const struct cn_ml_follow *f)
{
    struct master *M = p->M;
    struct meta_statfs sf;
    meta_statfs(M->meta, &sf);
    if (p->following || f->name.len == 0 || f->name.len > 64) {
        cn_conn_close(p->c, CN_EMALFORMED);
        return;
    }
    char name[65];
    memcpy(name, f->name.ptr, f->name.len);
    name[f->name.len] = 0;
    if (f->fsid.len == 16 && memcmp(f->fsid.ptr, sf.fsid, 16) != 0) {
        cn_log_error(MOD,
                     "metalogger %s (%s) holds a copy of another file system; refusing it (move "
                     "its directory aside to start a new copy)",
                     name, cn_conn_peer(p->c));
        cn_conn_send_error(p->c, req_id, CN_ST_EINVAL,
                           "this metalogger's copy belongs to another file system");
        return;
    }
    for (struct ml_peer *o = M->ml_peers; o; o = o->next) {
        if (o != p && o->k && !strcmp(o->k->name, name)) {
            cn_conn_send_error(p->c, req_id, CN_ST_EEXIST,
                               "a metalogger of this name is already connected");
            return;
        }
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->k = known_get(M, name);
    p->k->connected = 1;
    p->k->last_seen_ms = cn_now_ms();
    snprintf(p->k->addr, sizeof(p->k->addr), "%s", cn_conn_peer(p->c));
    uint64_t head = meta_changelog_seq(M->meta);
    int snapshot = !(f->fsid.len == 16 && meta_changelog_may_follow(M->meta, f->epoch, f->seq));
    if (!snapshot) {
        p->sent = f->seq;
        if (f->seq > p->k->acked || !p->k->seen)
            p->k->acked = f->seq;
    } else {
        if (snap_start(p)) {
            cn_conn_send_error(p->c, req_id, CN_ST_EIO, "master cannot make a checkpoint");
            return;
        }
        p->k->acked = p->cp_seq; /* it needs the entries after the checkpoint */
    }
    p->k->seen = 1;
    struct meta_epoch ep;
    meta_changelog_epoch(M->meta, &ep);
    struct cn_ml_follow_r r = {
        (uint8_t)snapshot, snapshot ? p->cp_seq : head, {sf.fsid, 16}, ep.epoch, ep.prev, ep.start};
    if (cn_conn_send_msg(p->c, CN_MSG_ML_FOLLOW_R, req_id, &r)) {
        cn_conn_close(p->c, -EPIPE);
        return;
    }
    cn_log_info(MOD, "metalogger %s (%s) follows from entry %llu%s", name, cn_conn_peer(p->c),
                (unsigned long long)(snapshot ? p->cp_seq : f->seq) + 1,
                snapshot ? " after a checkpoint" : "");
    p->following = 1;
    pump(p);
}

/* ML_SNAPSHOT: a consistent copy for an online dump (cairn-admin), not a
 * follower: nothing is remembered and no entry is held back for it. */
static void on_snapshot(struct ml_peer *p, uint64_t req_id, const struct cn_ml_snapshot *m)
{
    struct meta_statfs sf;
    if (p->following || p->k || m->name.len > 64) {
        cn_conn_close(p->c, CN_EMALFORMED);
        return;
    }
    snprintf(p->name, sizeof(p->name), "dump:%.*s", (int)m->name.len, m->name.ptr);
    if (snap_start(p)) {
        cn_conn_send_error(p->c, req_id, CN_ST_EIO, "master cannot make a checkpoint");
        return;
    }
    meta_statfs(p->M->meta, &sf);
    struct cn_ml_snapshot_r r = {p->cp_seq, {sf.fsid, 16}};
    if (cn_conn_send_msg(p->c, CN_MSG_ML_SNAPSHOT_R, req_id, &r)) {
        cn_conn_close(p->c, -EPIPE);
        return;
    }
    p->oneshot = 1;
    p->following = 1;
    pump(p);
}

union ml_msg {
    struct cn_ml_snapshot snapshot;
    struct cn_ml_follow follow;
    struct cn_ml_ack ack;
    struct cn_ping ping;
};

static void on_frame(struct cn_conn *c, const struct cn_frame_hdr *h, const uint8_t *payload,
                     void *ud)
{
    struct ml_peer *p = ud;
    if (h->type & CN_MSG_REPLY)
        return;
    if (h->type != CN_MSG_ML_FOLLOW && h->type != CN_MSG_ML_ACK && h->type != CN_MSG_PING &&
        h->type != CN_MSG_ML_SNAPSHOT) {
        cn_conn_close(c, CN_EUNKNOWN);
        return;
    }
    union ml_msg u;
    int rc = cn_msg_decode(h->type, payload, h->len, &u);
    if (rc) {
        cn_msg_free(h->type, &u);
        cn_conn_close(c, rc);
        return;
    }
    if (h->type == CN_MSG_ML_FOLLOW) {
        on_follow(p, h->req_id, &u.follow);
    } else if (h->type == CN_MSG_ML_SNAPSHOT) {
        on_snapshot(p, h->req_id, &u.snapshot);
    } else if (h->type == CN_MSG_ML_ACK) {
        if (!p->k || u.ack.seq > p->sent) {
            cn_conn_close(c, CN_EMALFORMED); /* acknowledges what it was never sent */
        } else {
            p->k->acked = u.ack.seq;
            p->k->last_seen_ms = cn_now_ms();
        }
    } else {
        if (p->k)
            p->k->last_seen_ms = cn_now_ms();
        cn_conn_send_msg(c, CN_MSG_PING_R, h->req_id, &u.ping);
    }
    cn_msg_free(h->type, &u);
}

static void on_close(struct cn_conn *c, int err, void *ud)
{
    struct ml_peer *p = ud;
    (void)c;
    if (p->k) {
        p->k->connected = 0;
        if (!p->M->stopping)
            cn_log_warn(MOD, "metalogger %s disconnected (%s) at entry %llu", p->name,
                        err ? cn_strerror(err) : "closed", (unsigned long long)p->k->acked);
    }
    snap_free(p);
    peer_unlink(p);
    free(p);
}

static const struct cn_conn_ops ml_ops = {on_frame, on_close};

void mlserv_adopt(struct master *M, struct cn_conn *c)
{
    struct ml_peer *p = cn_xcalloc(1, sizeof(*p));
    p->M = M;
    p->c = c;
    p->fd = -1;
    p->next = M->ml_peers;
    M->ml_peers = p;
    cn_conn_set_owner(c, &ml_ops, p);
}

void mlserv_tick(struct master *M, uint64_t now_ms)
{
    (void)now_ms;
    mlserv_pump(M);
    /* the changelog keeps what the slowest known metalogger needs, bounded */
    uint64_t head = meta_changelog_seq(M->meta), below = head + 1;
    for (struct ml_known *k = M->mls; k; k = k->next)
        if (k->acked + 1 < below)
            below = k->acked + 1;
    uint64_t keep = (uint64_t)M->cfg.changelog_entries;
    if (!M->mls || head + 1 - below > keep)
        below = head + 1 > keep ? head + 1 - keep : 0;
    meta_changelog_trim(M->meta, below);
}

void mlserv_release(struct master *M)
{
    for (struct ml_peer *p = M->ml_peers; p; p = p->next)
        cn_conn_close(p->c, 0);
}

void mlserv_free(struct master *M)
{
    for (struct ml_known *k = M->mls, *n; k; k = n) {
        n = k->next;
        free(k->name);
        free(k);
    }
    M->mls = NULL;
}

double mlserv_lag_seconds(struct master *M, const struct ml_known *k)
{
    uint64_t head = meta_changelog_seq(M->meta);
    if (k->acked >= head)
        return 0;
    uint64_t ms = 0;
    if (meta_changelog_get(M->meta, k->acked + 1, &ms, NULL, NULL) != 0)
        return -1; /* trimmed: it needs a new copy */
    int64_t d = cn_wall_ms() - (int64_t)ms;
    return d > 0 ? (double)d / 1000.0 : 0;
}
