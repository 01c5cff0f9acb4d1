/*
 * admin_online.c - a consistent copy of a running master's metadata, for
 * `cairn-admin dump --master HOST:PORT`.
 *
 * Asks the master's chunkserver port for one checkpoint (HELLO role
 * METALOGGER, then ML_SNAPSHOT; docs/protocol.md) and writes the streamed
 * files into a new directory, which is then an ordinary (stopped) master
 * database the offline dump reads. The master neither remembers this peer
 * nor holds changelog entries back for it. Blocking sockets, one request:
 * a tool, not a daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_online.h"
#include "net.h"
#include "wire.h"

#define CALL_MS  30000
#define FRAME_MS 120000

static int say(char *err, size_t errlen, int rc, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return rc;
}

/* One ML_SNAP_FILE piece into dir; *fd/cur/have track the open file. */
static int put_piece(const char *dir, const struct cn_ml_snap_file *f, int *fd, char *cur,
                     uint64_t *have, uint32_t *files, char *err, size_t errlen)
{
    char name[256], path[4096 + 300];
    if (f->name.len == 0 || f->name.len > 255 || memchr(f->name.ptr, '/', f->name.len) ||
        memchr(f->name.ptr, 0, f->name.len) || f->name.ptr[0] == '.' || f->offset > f->size ||
        f->data.len > f->size - f->offset)
        return say(err, errlen, -EPROTO, "the master sent a bad checkpoint piece%s%s", "", "");
    memcpy(name, f->name.ptr, f->name.len);
    name[f->name.len] = 0;
    if (strcmp(name, cur) != 0) {
        if (*fd >= 0 || f->offset != 0)
            return say(err, errlen, -EPROTO, "checkpoint file %s%s starts midway", name, "");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (*fd < 0)
            return say(err, errlen, -errno, "%s: %s", path, strerror(errno));
        snprintf(cur, 256, "%s", name);
        *have = 0;
        (*files)++;
    } else if (*fd < 0 || f->offset != *have) {
        return say(err, errlen, -EPROTO, "checkpoint file %s%s: piece out of order", name, "");
    }
    if (f->data.len && write(*fd, f->data.ptr, f->data.len) != (ssize_t)f->data.len)
        return say(err, errlen, -EIO, "writing %s: %s", name, strerror(errno));
    *have += f->data.len;
    if (*have == f->size) {
        int rc = fsync(*fd) ? -errno : 0;
        close(*fd);
        *fd = -1;
        if (rc)
            return say(err, errlen, rc, "fsync %s: %s", name, strerror(-rc));
    }
    return 0;
}

int admin_fetch_checkpoint(const char *master, const char *dir, uint64_t *seq, char *err,
                           size_t errlen)
{
    struct cn_addr addr;
    if (cn_parse_addr(master, 9420, &addr) < 0 || addr.port == 0 || !addr.host[0])
        return say(err, errlen, -EINVAL,
                   "bad master address %s%s (want HOST:PORT of its "
                   "chunkserver port)",
                   master, "");
    if (mkdir(dir, 0700))
        return say(err, errlen, -errno, "%s: %s", dir, strerror(errno));
    int fd = cn_sock_connect(&addr, 5000);
    if (fd < 0)
        return say(err, errlen, fd, "cannot connect to the master at %s: %s", master,
                   cn_strerror(fd));
    struct cn_buf pl = {0};
    struct cn_frame_hdr h;
    char e2[256] = "";
    int out = -1, rc;
    char cur[256] = "";
    uint64_t have = 0;
    uint32_t files = 0;
    struct cn_hello hello = {CN_ROLE_METALOGGER,    CN_WIRE_VERSION_MIN, CN_WIRE_VERSION,
                             CN_STR("cairn-admin"), {NULL, 0},           {NULL, 0}};
    rc = cn_sock_call(fd, CN_MSG_HELLO, 1, &hello, &h, &pl, CALL_MS, e2, sizeof(e2));
    if (!rc) {
        struct cn_ml_snapshot s = {CN_STR("cairn-admin")};
        rc = cn_sock_call(fd, CN_MSG_ML_SNAPSHOT, 2, &s, &h, &pl, CALL_MS, e2, sizeof(e2));
    }
    if (rc) {
        say(err, errlen, rc, "the master at %s refused a checkpoint: %s", master,
            e2[0] ? e2 : cn_strerror(rc));
        goto out;
    }
    for (;;) {
        rc = cn_sock_recv_frame(fd, &h, &pl, 0, FRAME_MS);
        if (rc) {
            say(err, errlen, rc, "receiving the checkpoint from %s: %s", master, cn_strerror(rc));
            goto out;
        }
        if (h.type == CN_MSG_ML_SNAP_FILE) {
            struct cn_ml_snap_file f;
            rc = cn_msg_decode(h.type, pl.data, pl.len, &f);
            if (!rc)
                rc = put_piece(dir, &f, &out, cur, &have, &files, err, errlen);
            else
                say(err, errlen, rc, "bad frame from %s: %s", master, cn_strerror(rc));
            cn_msg_free(h.type, &f);
            if (rc)
                goto out;
        } else if (h.type == CN_MSG_ML_SNAP_END) {
            struct cn_ml_snap_end e;
            rc = cn_msg_decode(h.type, pl.data, pl.len, &e);
            if (rc || out >= 0 || e.files != files) {
                rc = -EPROTO;
                say(err, errlen, rc, "the checkpoint from %s is incomplete%s", master, "");
                goto out;
            }
            *seq = e.seq;
            break;
        } else {
            rc = -EPROTO;
            say(err, errlen, rc, "unexpected %s from the master at %s",
                cn_msg_name(h.type) ? cn_msg_name(h.type) : "frame", master);
            goto out;
        }
    }
    rc = 0;
out:
    if (out >= 0)
        close(out);
    cn_buf_release(&pl);
    close(fd);
    return rc;
}
