/*
 * master_int.h - private declarations shared by the modules of cairn-master.
 *
 * main.c owns the one `struct master` (STYLE 4); every other module takes it
 * as its first argument. Everything here runs on the loop thread only: the
 * metadata handle, the chunkserver registry and the held replies are never
 * touched from another thread, so nothing locks.
 */
#ifndef CAIRN_MASTER_INT_H
#define CAIRN_MASTER_INT_H

#include <stdint.h>
#include <uv.h>

#include "cls.h"
#include "config.h"
#include "meta.h"
#include "net.h"
#include "wire.h"

#define MASTER_NAME "cairn-master 0.1"

struct master_config {
    char *data_path;
    struct cn_addr client_listen;
    struct cn_addr cs_listen;
    int64_t heartbeat_ms;
    int64_t cs_timeout_ms;
    int64_t cs_grace_ms;
    int64_t health_period_ms, health_start_ms;
    int64_t repair_rate_mbps, rebalance_rate_mbps, server_rate_mbps, server_jobs;
    int64_t balance_band;
    int64_t open_grace_ms;
    int64_t lease_ms;
    uint64_t cache_size;
    uint64_t write_buffer_size;
    int64_t goal;
    int64_t meta_sync_ms;
    int64_t changelog_entries;
    int64_t trash_time_ms;
    char *log_file;
    char *log_level;
};

/* ---- group commit (turn.c) ---------------------------------------------- */

struct client; /* client_serv.c */

struct held_reply {
    struct client *cl; /* NULL once the client is gone */
    uint64_t req_id;
    struct cn_buf frame; /* the encoded reply frame */
};

struct turn {
    uv_check_t check; /* runs after the loop's I/O callbacks: ends the turn */
    int active;
    struct held_reply *held;
    size_t nheld, capheld;
    struct meta_freed freed; /* chunks freed by this turn's mutations */
    uint64_t commits, commit_failures;
    int wal_dirty; /* commits since the last WAL fsync (META_SYNC_MS > 0) */
    uint64_t last_sync_ms;
};

/* ---- chunkserver registry (cs_serv.c) ------------------------------------ */

enum cs_state { CS_ONLINE = 0, CS_UNREACHABLE = 1, CS_LOST = 2 };

struct cs_disk_info {
    uint8_t uuid[16];
    char *path, *labels;
    uint64_t total, used, free;
    uint8_t state;  /* as reported: enum cn_disk_state */
    uint8_t marked; /* marked for removal through the master (`cairn disk remove`) */
    /* CN_DISK_MISSING: since when (kept across heartbeats), and whether its
     * parts were forgotten once CS_GRACE_MS ran out (cs_serv_tick) */
    uint64_t missing_since_ms;
    int forgotten;
};

struct cs_server {
    uint64_t id;
    char *name, *labels, *addr;
    struct cs_disk_info *disks;
    uint32_t ndisks;
    enum cs_state state;
    struct cn_conn *conn; /* NULL unless online */
    uint64_t last_seen_ms, down_since_ms;
    uint64_t nparts;
    int marked; /* the whole server is marked for removal (`cairn server remove`) */
    /* health.c: copies running with this server as source / target, and the
     * token buckets of SERVER_RATE_MBPS (bytes; may go negative) */
    unsigned src_jobs, dst_jobs;
    double src_tokens, dst_tokens;
};

/* One reported part: soft state, never persisted (DESIGN.md, Master). */
struct cs_loc {
    struct cs_server *srv;
    uint64_t version;
    uint16_t part, disk;
};

struct cs_chunk_locs {
    struct cs_chunk_locs *next; /* hash chain */
    uint64_t chunk;
    uint32_t n, cap;
    struct cs_loc *v;
    /* the servers handed out with the chunk's current lease (WRITE_BEGIN), and
     * the part each writes (0 for copies); NULL when no write runs */
    struct cs_server **chain;
    uint16_t *chain_part;
    uint32_t nchain;
};

/* A removal mark from the metadata: (server name, disk uuid or whole server). */
struct cs_mark {
    char *server;
    uint8_t uuid[16];
    int whole; /* 1: the whole server */
};

struct cs_registry {
    struct cs_mark *marks;
    size_t nmarks;
    struct cs_server **servers; /* never freed while the daemon runs */
    size_t nservers, capservers;
    struct cs_chunk_locs **buckets;
    size_t nbuckets, nchunks;
    uint64_t deletes_sent;
};

/* ---- metaloggers (mlserv.c) ------------------------------------------------ */

/* A metalogger seen in this run (kept after it disconnects: the changelog
 * holds its entries back, up to CHANGELOG_ENTRIES). */
struct ml_known {
    struct ml_known *next;
    char *name;
    char addr[64];
    uint64_t acked; /* last entry it confirmed applied */
    uint64_t last_seen_ms;
    uint64_t snapshots; /* checkpoints sent to it */
    int connected, seen;
};
struct ml_peer; /* one connection */

/* ---- the daemon -------------------------------------------------------------- */

struct master {
    uv_loop_t *loop;
    const char *cfg_path; /* NULL: defaults only */
    struct master_config cfg;
    struct meta *meta;
    struct turn turn;
    struct cs_registry reg;
    struct cn_listener *client_l, *cs_l;
    struct client *clients;   /* list of open client connections */
    struct ml_known *mls;     /* metaloggers seen (mlserv.c) */
    struct ml_peer *ml_peers; /* their connections */
    uint64_t ml_checkpoints;  /* checkpoints made, for unique directory names */
    struct cow *cows;         /* snapshot_serv.c: copy-on-write copies running */
    uint64_t session_base, next_session;
    uint64_t place_rng; /* placement.c's random state */
    uv_timer_t tick;
    uint64_t last_lease_scan_ms;
    uint64_t last_trash_ms; /* trash_serv.c: last expiry pass */
    /* Wall ms: the latest expiry of any lease granted (or possibly left by
     * the previous run), and the wall time of the last expiry scan. Once a
     * scan ran after leases_until_ms no lease can be live: scans stop. */
    int64_t leases_until_ms, last_scan_wall_ms;
    struct cls_table *classes; /* class_serv.c */
    struct health *health;     /* health.c */
    struct opens *opens;       /* opens.c */
    struct locks *locks;       /* locks.c */
    uint64_t started_ms;
    uv_signal_t sig_term, sig_int, sig_hup;
    int stopping;
};

/* Translate a -errno or META_E* into a wire status. */
enum cn_status master_status(int err);

/* turn.c: begin the loop turn's transaction if none is open. 0 or an error
 * (the store is broken: the request gets ERROR(IO)). */
int turn_init(struct master *M);
void turn_release(struct master *M);
int turn_begin(struct master *M);
/* Send a reply now, or hold it until the turn commits when one is open. */
void turn_reply(struct master *M, struct client *cl, struct cn_conn *c, uint64_t req_id,
                uint16_t type, const void *msg);
/* Commit now (also called by the check handle and at shutdown). */
void turn_end(struct master *M);
/* META_SYNC_MS > 0: fsync the WAL when the interval passed (from the tick). */
void turn_tick(struct master *M, uint64_t now_ms);

/* client_serv.c */
int client_serv_init(struct master *M, char *err, size_t errlen);
void client_serv_release(struct master *M);
struct cn_conn *client_conn(struct client *cl); /* NULL once closed */
void client_unref(struct client *cl);
void client_ref(struct client *cl);

/* cs_serv.c */
int cs_serv_init(struct master *M, char *err, size_t errlen);
void cs_serv_release(struct master *M);
void cs_serv_tick(struct master *M, uint64_t now_ms);
/* After the loop drained: free the registry. */
void cs_serv_free(struct master *M);
/* A chunk's data went away: tell every server holding a part to delete it. */
void cs_serv_chunk_freed(struct master *M, uint64_t chunk);
/* Locations of a chunk, or NULL. Borrowed until the next registry change. */
struct cs_chunk_locs *cs_locs_get(struct master *M, uint64_t chunk);
/* Remember the chain a write lease was given; when that version commits
 * (cs_chain_committed), its servers hold it at once, before their next
 * heartbeat says so: a writer that begins again right away must get the
 * copies that have the data, never a fresh placement. */
void cs_chain_set(struct master *M, uint64_t chunk, struct cs_server **srv, const uint16_t *part,
                  unsigned n);
void cs_chain_committed(struct master *M, uint64_t chunk, uint64_t version);
/* The server with this id, or NULL. */
struct cs_server *cs_server_by_id(struct master *M, uint64_t id);
/* Live copies of `version` (parts on online servers). */
unsigned cs_live_copies(struct master *M, uint64_t chunk, uint64_t version);
const char *cs_state_name(enum cs_state s);
uint64_t cs_server_free(const struct cs_server *s);
/* The state of one part's location: its server's, except that a part on a
 * disk its online server reports missing is unreachable (not read, not a
 * source, still counted) until CS_GRACE_MS forgets it, like the parts of an
 * unreachable server. */
enum cs_state cs_loc_state(const struct cs_loc *l);
/* `cairn disk rescan [SERVER]`: send CS_CMD_DISK_RESCAN to the named online
 * server, or every online one (server "" or NULL); the names asked are
 * appended to `asked` (a JSON array). 0 or -ENOENT with a message in err. */
struct json_t;
int cs_rescan(struct master *M, const char *server, struct json_t *asked, char *err, size_t errlen);

/* Part `l` is on a disk or server marked for removal (by the operator
 * through the master, or '*' in the chunkserver's config). */
int cs_loc_leaving(const struct cs_loc *l);
int cs_disk_leaving(const struct cs_server *s, const struct cs_disk_info *d);
/* Load the removal marks from the metadata (startup). */
int cs_marks_load(struct master *M, char *err, size_t errlen);
/* `cairn disk|server remove|keep`: resolve, persist (in the open turn),
 * apply. disk NULL/empty = the whole server. 0 or -ENOENT/-EINVAL with a
 * message in err. */
int cs_mark_set(struct master *M, const char *server, const char *disk, int leaving, char *err,
                size_t errlen, char *disk_out, size_t disk_outlen);
/* Record / forget one part location (health.c after a copy or a delete). */
void cs_loc_set(struct master *M, uint64_t chunk, struct cs_server *s, uint16_t part, uint16_t disk,
                uint64_t version);
void cs_loc_del(struct master *M, uint64_t chunk, struct cs_server *s, int part);
/* Send CS_CMD_DELETE_PART for one part (and forget it). */
void cs_delete_part(struct master *M, struct cs_server *s, uint64_t chunk, uint64_t version,
                    uint16_t part);

/* health.c: the health loop (DESIGN.md "Master"): classify, repair, drain,
 * delete surplus, rebalance. */
int health_init(struct master *M, char *err, size_t errlen);
void health_release(struct master *M);
void health_tick(struct master *M, uint64_t now_ms);
void health_free(struct master *M); /* after the loop drained */
/* Something changed (a server lost or back, a bad part, a mark): start a
 * pass at the next tick instead of waiting for HEALTH_PERIOD_MS. */
void health_kick(struct master *M);
/* JSON pieces for admin.c (jansson objects, new references). */
struct json_t;
struct json_t *health_json(struct master *M);
struct json_t *health_lost_json(struct master *M);

/* admin.c: a path inside the file system to its attributes (and the
 * directory it is in); -ENOENT, -ENOTDIR, -ENAMETOOLONG. */
int admin_resolve(struct master *M, struct cn_str path, struct meta_attr *out, uint64_t *parent);

/* trash_serv.c: ADM_TRASH / ADM_TRASHTIME JSON (NULL and *err on failure;
 * changes go into the open turn); tick frees what expired. */
char *trash_json(struct master *M, const struct cn_adm_trash *r, int *err);
char *trashtime_json(struct master *M, const struct cn_adm_trashtime *r, int *err);
void trash_tick(struct master *M, uint64_t now_ms);

/* snapshot_serv.c: ADM_SNAPSHOT's JSON (the copy is in the open turn);
 * after each commit, the chunk copies its turn asked for (or, after a
 * failed commit, forget them); the chunk a copy-on-write target is being
 * filled from (0: none); 1 if the delete of chunk must wait for a copy. */
struct cn_adm_snapshot;
char *snapshot_json(struct master *M, const struct cn_adm_snapshot *r, int *err);
void snapshot_after_commit(struct master *M);
void snapshot_forget(struct master *M);
uint64_t snapshot_cow_source(struct master *M, uint64_t to);
int snapshot_defer_delete(struct master *M, uint64_t chunk);
void snapshot_free(struct master *M);

/* quota_serv.c: ADM_QUOTA's JSON (NULL and *err on failure; set/rm in the
 * open turn); statfs numbers of a directory under a quota (unchanged
 * without one). */
char *quota_json(struct master *M, const struct cn_adm_quota *r, int *err);
int quota_statfs(struct master *M, uint64_t ino, struct cn_statfs_r *sr);

/* fsck_serv.c: ADM_FSCK's JSON (NULL and *err on failure); with repair the
 * changes are in the open turn (the reply waits for its commit). */
char *fsck_json(struct master *M, int repair, int *err);

/* mlserv.c: metaloggers. adopt takes a connection that said HELLO as one;
 * pump sends what is queued (after each commit); tick also sets the
 * changelog's trim point. */
void mlserv_adopt(struct master *M, struct cn_conn *c);
void mlserv_pump(struct master *M);
void mlserv_tick(struct master *M, uint64_t now_ms);
void mlserv_release(struct master *M);
void mlserv_free(struct master *M);
/* Seconds since the oldest entry a metalogger lacks was written (0: none
 * missing, -1: trimmed away). */
double mlserv_lag_seconds(struct master *M, const struct ml_known *k);

/* opens.c: open handles per client session, for files unlinked while open. */
struct open_set;
int opens_init(struct master *M, char *err, size_t errlen);
void opens_release(struct master *M);
void opens_tick(struct master *M, uint64_t now_ms);
struct open_set *opens_session(void);
void opens_add(struct master *M, struct open_set *s, uint64_t ino);
void opens_del(struct master *M, struct open_set *s, uint64_t ino);
/* The connection ended: its handles stay counted for OPEN_GRACE_MS. */
void opens_session_end(struct master *M, struct open_set *s);

/* locks.c: flock and POSIX locks of the clients (soft state). One
 * lock_sess per client connection; `id` is its session number (0 before
 * HELLO), `n` counts its locks and waiters. */
struct lock_sess {
    uint64_t id;
    uint32_t n;
};
int locks_init(struct master *M, char *err, size_t errlen);
void locks_release(struct master *M);
struct lock_sess *locks_session(void);
/* The connection ended: its locks go at once, its waiters are dropped
 * unanswered, and waiters of other sessions they blocked are granted. */
void locks_session_end(struct master *M, struct lock_sess *s);
/* LOCK, GETLK, LOCK_CANCEL: 0 when answered (or, for a LOCK that waits,
 * when the answer is held), else -errno for the caller's ERROR reply. */
int locks_lock(struct master *M, struct client *cl, struct lock_sess *s, uint64_t req_id,
               const struct cn_lock *m);
int locks_getlk(struct master *M, struct client *cl, struct lock_sess *s, uint64_t req_id,
                const struct cn_getlk *m);
int locks_cancel(struct master *M, struct client *cl, struct lock_sess *s, uint64_t req_id,
                 const struct cn_lock_cancel *m);

/* placement.c: pick up to n distinct online servers weighted by free
 * space. Returns how many were picked (0 when none is online). */
unsigned placement_pick(struct master *M, unsigned n, struct cs_server **out);
/* The same for part i = 0.. of a chunk with goal g (labels, mode). */
struct chunk_goal;
unsigned placement_pick_goal(struct master *M, const struct chunk_goal *g, unsigned n,
                             struct cs_server **out);
/* One server `ok` accepts, drawn with weight free_of(s) in MiB + 1; NULL
 * when it accepts none. placement_rand: the draws' random numbers. */
typedef int (*placement_ok_fn)(struct master *M, const struct cs_server *s, void *ctx);
struct cs_server *placement_draw(struct master *M, placement_ok_fn ok, void *ctx,
                                 uint64_t (*free_of)(const struct cs_server *));
uint64_t placement_rand(struct master *M);
/* Zones: 1 if a and b are in one zone (zone=NAME labels; a server without
 * one is a zone of its own); the number of zones with an online server; the
 * most parts of a chunk with goal g one zone may hold when nzones exist. */
int placement_same_zone(const struct cs_server *a, const struct cs_server *b);
unsigned placement_zones(struct master *M);
unsigned placement_zone_cap(const struct chunk_goal *g, unsigned nzones);

/* class_serv.c: storage classes as the loop uses them. */
struct cls_rt {
    struct cn_cls c;
    struct cn_lexpr lx[CN_ST_N]; /* each state's labels, compiled */
};
/* What a chunk should look like now. */
struct chunk_goal {
    const struct cls_rt *cls;
    int state;               /* CN_ST_CREATE / KEEP / ARCHIVE */
    struct cn_layout target; /* the state's layout */
    struct cn_layout layout; /* the layout written and kept now (EC: copies=M+1 for now) */
    unsigned copies;         /* copies: layout.k; EC: K + M parts */
    int ec;                  /* layout is ec=K+M: parts are distinct (part index) */
    const struct cn_lexpr *lx;
    uint8_t mode;   /* CN_MODE_STRICT or CN_MODE_LOOSE */
    uint8_t wflags; /* CN_WF_* for parts written in this state (compress=zstd) */
    /* health.c zone_mark: servers whose copy is one too many in its zone */
#define ZONE_AWAY_MAX 8
    const struct cs_server *zone_away[ZONE_AWAY_MAX];
    unsigned nzone_away;
};
int classes_init(struct master *M, char *err, size_t errlen);
int classes_load(struct master *M);
void classes_free(struct master *M);
/* Class `id` (0: the default, through GOAL); never NULL. */
const struct cls_rt *class_rt(struct master *M, uint32_t id);
/* The goal of chunk c; writing: a write is starting or running. */
void class_goal(struct master *M, const struct meta_chunk *c, int writing, struct chunk_goal *g);
/* 1 if part `part` of a chunk with goal g may live on server s. */
int class_server_ok(const struct chunk_goal *g, unsigned part, const struct cs_server *s);
/* 1 if a part on server s, disk index `disk`, lies where the goal's labels
 * allow (any element of a per-part list). */
int class_loc_home(const struct chunk_goal *g, const struct cs_server *s, uint16_t disk);
/* The per-part list element no home part fills yet (0 without a list). */
unsigned class_missing_part(const struct chunk_goal *g, const struct cs_chunk_locs *e,
                            uint64_t version);
/* health.c: 1 while chunk id is the new chunk of a conversion in flight
 * (its parts exist before its record; reports of them are not garbage). */
int health_converting(struct master *M, uint64_t chunk);
/* 0 if the ec library codes layout l (K 2..32, M 1..8), else -EINVAL
 * with the reason in err. Copies layouts: 0. */
int class_layout_codable(const struct cn_layout *l, char *err, size_t errlen);
struct cn_adm_class;
/* ADM_CLASS's JSON (NULL, *err and a reason in msg on failure). */
char *class_json(struct master *M, const struct cn_adm_class *r, int *err, char *msg,
                 size_t msglen);

/* admin.c: the JSON answer to an ADM_* request; caller frees with free().
 * NULL with *err set (a -errno) when the request cannot be answered. */
char *admin_json(struct master *M, uint16_t type, const struct cn_path_req *info, int *err);

#endif
