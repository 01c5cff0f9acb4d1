/*
 * cs.h - state shared by the modules of cairn-chunkserver.
 *
 * main.c owns the one `struct cs_ctx` (STYLE 4); every module takes it as an
 * argument. Everything in it belongs to the libuv loop thread unless a field
 * says otherwise: the per-disk background threads (scrub, compaction) touch
 * only their `struct cs_disk` and the bad-block queue, under its mutex.
 */
#ifndef CAIRN_CS_H
#define CAIRN_CS_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "logstore.h"
#include "net.h"
#include "wire.h"

/* The daemon's configuration (option table in main.c). */
struct cs_config {
    char *name;
    char *labels;
    struct cn_addr master;
    struct cn_addr listen;
    char *advertise;
    char *disks;
    char *cluster_id;
    int64_t heartbeat_ms;
    char *log_file;
    char *log_level;
    int64_t compact_rate_mbps;
    int64_t compact_period_ms;
    int64_t scrub_rate_mbps;
    int64_t local_balance_band;
    int64_t disk_check_ms;
    int64_t disk_retry_ms;
};

/* One configured disk. Background threads read `ls` (thread-safe) and their
 * own fields; the loop reads the rest. A disk that vanishes is `gone` at
 * once and closed once its `refs` drained (disks.c, decisions). */
struct cs_disk {
    char *path;
    char *labels;       /* comma-separated, "" if none */
    int remove;         /* '*' in the config: marked for removal (draining later) */
    int master_leaving; /* CS_CMD_DISK_MARK leaving=1: no new parts (memory only) */
    struct ls *ls;      /* NULL: closed (failed to open, or vanished and closed) */
    uint8_t uuid[16];
    struct cs_ctx *ctx;
    pthread_t scrub_thr, compact_thr;
    int threads; /* 1 once the two threads run */
    struct ls_scrub_cursor cursor;
    volatile int stop; /* set under bad_mu: this disk's threads exit */
    /* loop thread: */
    int gone;                /* vanished: no new work, its parts are unavailable */
    int was_open;            /* opened once in this run: closed means missing, not failed */
    int refs;                /* pool work using `ls` (cs_disk_hold) */
    int closing;             /* the close job runs */
    int opening;             /* a reopen job runs */
    uint64_t dev, ino, rdev; /* stat() of the path when it opened */
    uint64_t next_try_ms;    /* auto-retry of a closed disk */
};

/* Where a part lives: (chunk, part) -> disk, with its committed version. */
struct cs_partref {
    uint64_t chunk;
    uint64_t version; /* committed version; 0 while only a write session exists */
    uint16_t part;
    uint16_t disk;
    uint16_t busy; /* writes and commits routed to it and not answered (balance.c waits) */
    struct cs_partref *next;
};

struct cs_bad {
    uint64_t chunk, version;
    uint16_t part, disk;
};

struct cs_ctx {
    uv_loop_t *loop;
    struct cs_config cfg;
    const char *cfg_path;
    uint8_t cluster_id[16];
    int have_cluster_id;

    struct cs_disk *disks;
    size_t ndisks;

    /* part map (loop thread) */
    struct cs_partref **buckets;
    size_t nbuckets, nparts;

    /* parts changed since the last heartbeat (loop thread) */
    struct cn_cs_part *changes;
    size_t nchanges, capchanges;

    /* bad blocks found by scrub threads: queue under bad_mu, drained by the
     * loop through bad_async */
    pthread_mutex_t bad_mu;
    pthread_cond_t stop_cv; /* background threads wait on it with bad_mu */
    struct cs_bad *bad;
    size_t nbad, capbad;
    uv_async_t bad_async;
    volatile int stop;                               /* set under bad_mu; background threads exit */
    volatile int scrub_rate_mbps, compact_rate_mbps; /* reloadable, atomics */
    volatile int balance_band;                       /* reloadable: LOCAL_BALANCE_BAND */
    struct cs_balance *balance;                      /* balance.c */
    volatile int64_t compact_period_ms;

    uint16_t data_port;          /* bound port of LISTEN (which may say 0) */
    int stopping;                /* shutdown started: no new connections */
    int work_inflight;           /* queued logstore calls (loop thread) */
    struct cs_client *client;    /* client_serv.c */
    struct cs_peers *peers;      /* peers.c */
    struct cs_master *master;    /* master_conn.c */
    struct cs_copy *copies;      /* replicate.c: CS_CMD_COPY_PART in flight */
    struct cs_rebuild *rebuilds; /* rebuild.c: CS_CMD_REBUILD_PART in flight */
    struct ec_ctx *ec;           /* rebuild.c: created at the first rebuild */
    uv_timer_t disk_timer;       /* disks.c: DISK_CHECK_MS */
    int disk_checking;           /* a check job runs */
};

/* ---- disks.c ---- */
/* Parse a DISKS value: entries separated by commas, each `[*]PATH [LABEL ...]`.
 * Fills ctx->disks (paths and labels only). 0 or -EINVAL with err. */
int cs_disks_parse(const char *spec, struct cs_disk **out, size_t *n, char *err, size_t errlen);
void cs_disks_free(struct cs_disk *d, size_t n);
int cs_disks_init(struct cs_ctx *ctx);
void cs_disks_stop(struct cs_ctx *ctx);    /* loop side: join threads, close the async */
void cs_disks_release(struct cs_ctx *ctx); /* after the loop: close the logstores */
struct cs_partref *cs_part_find(struct cs_ctx *ctx, uint64_t chunk, uint16_t part);
struct cs_partref *cs_part_add(struct cs_ctx *ctx, uint64_t chunk, uint16_t part, uint16_t disk);
void cs_part_remove(struct cs_ctx *ctx, uint64_t chunk, uint16_t part);
/* Disk for a new part: open, writable, not marked for removal (config `*`
 * or the master's DISK_MARK), most free space. -ENOSPC if none. */
int cs_disk_pick(struct cs_ctx *ctx);
/* Disk i is open and has not vanished: work may be routed to it. Loop thread. */
int cs_disk_ready(const struct cs_ctx *ctx, uint16_t i);
/* Pool work that uses disk i's `ls` holds the disk from before it is queued
 * until its done callback has made its last logstore call: a vanished disk
 * is closed only once nothing holds it. hold returns -EIO (and takes no
 * hold) when the disk is not ready. Loop thread. */
int cs_disk_hold(struct cs_ctx *ctx, uint16_t i);
void cs_disk_drop(struct cs_ctx *ctx, uint16_t i);
/* CS_CMD_DISK_RESCAN and the auto-retry: try to reopen every closed disk.
 * cb (may be NULL) runs once every try ended, with the disks reopened and
 * those still closed; ud is borrowed until then. Loop thread. */
typedef void (*cs_rescan_cb)(struct cs_ctx *ctx, unsigned reopened, unsigned closed, void *ud);
void cs_disks_rescan(struct cs_ctx *ctx, cs_rescan_cb cb, void *ud);
/* Space of disk i as the wire reports it (path/labels borrowed from ctx). */
void cs_disk_describe(struct cs_ctx *ctx, size_t i, struct cn_cs_disk *out);
/* Remember a change for the next heartbeat. status: 0 present, 1 gone, 2 bad. */
void cs_note_change(struct cs_ctx *ctx, uint64_t chunk, uint64_t version, uint16_t part,
                    uint16_t disk, uint8_t status);
/* A read found a bad block (loop thread): log it and queue it for the master. */
void cs_report_bad(struct cs_ctx *ctx, uint64_t chunk, uint64_t version, uint16_t part,
                   uint16_t disk);
/* balance.c: copies every block of the committed `version` of (chunk, part)
 * from src to (dst_chunk, part) on dst, CRC-checked, holes kept, then
 * commits it there; whatever dst held of (dst_chunk, part) at or below the
 * version goes first. Thread pool. 0, -EAGAIN (the part changed) or a
 * logstore error; *bytes (may be NULL) grows by the bytes copied. */
int cs_part_clone(struct ls *src, uint64_t chunk, uint16_t part, uint64_t version, struct ls *dst,
                  uint64_t dst_chunk, uint64_t *bytes);
/* dup.c: CS_CMD_DUP_PART, a snapshot's copy-on-write on this server. */
void cs_dup_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                  const struct cn_cs_dup_part *cmd);

/* logstore error -> wire status. */
enum cn_status cs_status_of(int err);

/* ---- client_serv.c ---- */
int cs_client_init(struct cs_ctx *ctx);
void cs_client_release(struct cs_ctx *ctx);
void cs_client_free(struct cs_ctx *ctx); /* after the loop drained */

/* ---- peers.c: connections to other chunkservers (write chains) ---- */
int cs_peers_init(struct cs_ctx *ctx);
void cs_peers_release(struct cs_ctx *ctx);
void cs_peers_free(struct cs_ctx *ctx); /* after the loop drained */
/* Send a request to the chunkserver at addr (host:port), connecting and
 * saying HELLO first if needed; cb runs exactly once (c NULL when the peer
 * could not be reached). msg is borrowed until cb runs. Loop thread. */
void cs_peer_call(struct cs_ctx *ctx, struct cn_str addr, uint16_t type, const void *msg,
                  uint32_t timeout_ms, cn_reply_cb cb, void *ud);

/* ---- replicate.c ---- */
/* A CS_CMD_COPY_PART of (chunk, part) is running. */
int cs_copy_running(struct cs_ctx *ctx, uint64_t chunk, uint16_t part);
/* peers.c, for pool threads: a blocking connection to a chunkserver's data
 * port that said HELLO (an fd the caller closes), or -errno. */
int cs_peer_open_sync(struct cs_ctx *ctx, const char *addr, int connect_ms, int call_ms);
/* rebuild.c: CS_CMD_REBUILD_PART (an EC part decoded from K others). */
struct cn_cs_rebuild_part;
void cs_rebuild_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                      const struct cn_cs_rebuild_part *m);
int cs_rebuild_running(struct cs_ctx *ctx, uint64_t chunk, uint16_t part);
/* convert.c: CS_CMD_CONVERT (a replicated chunk written anew as ec=K+M). */
struct cn_cs_convert;
void cs_convert_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                      const struct cn_cs_convert *m);
/* At exit: what a forced stop left (their callbacks never ran), and the codec context. */
void cs_rebuild_free(struct cs_ctx *ctx);

/* ---- balance.c: moves parts from the fullest to the emptiest disk ---- */
int cs_balance_init(struct cs_ctx *ctx);
void cs_balance_release(struct cs_ctx *ctx);
void cs_balance_free(struct cs_ctx *ctx);

/* ---- master_conn.c ---- */
int cs_master_init(struct cs_ctx *ctx);
void cs_master_release(struct cs_ctx *ctx);
void cs_master_free(struct cs_ctx *ctx); /* after the loop drained */
/* The master connection if it is still session `session` (sessions are
 * numbered per connection, from 1), else NULL. Loop thread. */
struct cn_conn *cs_master_conn(struct cs_ctx *ctx, uint64_t session);
/* Send a heartbeat now (a disk changed state). Loop thread. */
void cs_master_beat_now(struct cs_ctx *ctx);

/* ---- replicate.c: CS_CMD_COPY_PART ---- */
/* Copy part m->src_part of the chunkserver at m->src_addr into this server as
 * m->part (see the file's comment). Answers req_id exactly once, on the
 * master connection of `session` if it still exists: at once for a refusal
 * (c is that connection), else when the copy ends. m is borrowed for the
 * call only. Loop thread. */
void cs_copy_start(struct cs_ctx *ctx, struct cn_conn *c, uint64_t session, uint64_t req_id,
                   const struct cn_cs_copy_part *m);
void cs_copy_stop(struct cs_ctx *ctx); /* shutdown: fail the copies in flight */
void cs_copy_free(struct cs_ctx *ctx); /* after the loop drained */

#endif
