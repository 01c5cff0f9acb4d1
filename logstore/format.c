/*
 * format.c - the logstore's on-disk headers: superblock, group headers and
 * record entries, and formatting a disk.
 *
 * Every decoder here takes bytes from the disk and checks every field before
 * anything uses it: magic, format version, CRC32C, and that every length and
 * offset points inside the structure it belongs to. "Not a logstore" (bad
 * magic) and "unsupported version" are different errors (LS_ENOTOURS,
 * LS_EVERSION); a checksum or range failure is LS_ECORRUPT. Nothing read from
 * disk ever reaches an assert.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ec.h"
#include "ls_int.h"

const char *ls_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case LS_ECORRUPT:
        return "data corrupt (checksum mismatch or malformed structure)";
    case LS_ENOTOURS:
        return "not a Cairn logstore disk";
    case LS_EVERSION:
        return "unsupported logstore format version";
    case LS_ECLUSTER:
        return "disk belongs to another cluster";
    case LS_EBROKEN:
        return "store stopped writing after an I/O error; reopen it";
    case LS_EINDEXFULL:
        return "index checkpoint area full";
    default:
        return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

void ls_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void ls_logf(struct ls *ls, int level, const char *fmt, ...)
{
    if (!ls->log)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ls->log(ls->log_arg, level, buf);
}

void ls_throttle(const struct timespec *t0, uint64_t bytes, double rate_mbps)
{
    if (rate_mbps <= 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
    double due = (double)bytes / (rate_mbps * 1e6);
    if (due > elapsed) {
        /* Rate limiting, not waiting for a condition: sleep off the excess. */
        double d = due - elapsed;
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

uint64_t ls_disk_tag(const uint8_t uuid[16])
{
    uint64_t t = ls_get64(uuid) ^ ls_get64(uuid + 8);
    return t ? t : 1;
}

/* ---- superblock --------------------------------------------------------- */

void ls_sb_encode(const struct ls_sb *sb, uint8_t page[LS_PAGE])
{
    memset(page, 0, LS_PAGE);
    memcpy(page, LS_SB_MAGIC, 8);
    ls_put32(page + 8, sb->version);
    ls_put32(page + 12, LS_SB_LEN);
    memcpy(page + 16, sb->disk_uuid, 16);
    memcpy(page + 32, sb->cluster_id, 16);
    ls_put64(page + 48, sb->disk_bytes);
    ls_put32(page + 56, sb->seg_bytes);
    ls_put32(page + 60, sb->nseg);
    ls_put64(page + 64, sb->seg_base);
    ls_put64(page + 72, sb->slot_off[0]);
    ls_put64(page + 80, sb->slot_off[1]);
    ls_put64(page + 88, sb->slot_bytes);
    ls_put64(page + 96, sb->format_time);
    ls_put32(page + 104, sb->flags);
    ls_put32(page + LS_SB_LEN - 4, ec_crc32c(0, page, LS_SB_LEN - 4));
}

static bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

int ls_sb_decode(const uint8_t page[LS_PAGE], uint64_t dev_size, struct ls_sb *sb)
{
    if (memcmp(page, LS_SB_MAGIC, 8) != 0)
        return LS_ENOTOURS;
    uint32_t version = ls_get32(page + 8);
    bool crc_ok = ls_get32(page + LS_SB_LEN - 4) == ec_crc32c(0, page, LS_SB_LEN - 4);
    if (version < LS_FORMAT_VERSION_MIN || version > LS_FORMAT_VERSION)
        return LS_EVERSION; /* a future header may be laid out differently */
    if (!crc_ok || ls_get32(page + 12) != LS_SB_LEN)
        return LS_ECORRUPT;
    memset(sb, 0, sizeof(*sb));
    sb->version = version;
    memcpy(sb->disk_uuid, page + 16, 16);
    memcpy(sb->cluster_id, page + 32, 16);
    sb->disk_bytes = ls_get64(page + 48);
    sb->seg_bytes = ls_get32(page + 56);
    sb->nseg = ls_get32(page + 60);
    sb->seg_base = ls_get64(page + 64);
    sb->slot_off[0] = ls_get64(page + 72);
    sb->slot_off[1] = ls_get64(page + 80);
    sb->slot_bytes = ls_get64(page + 88);
    sb->format_time = ls_get64(page + 96);
    sb->flags = ls_get32(page + 104);
    /* Geometry must be self-consistent and fit the device. */
    if (!pow2(sb->seg_bytes) || sb->seg_bytes < LS_SEGMENT_MIN || sb->seg_bytes > LS_SEGMENT_MAX)
        return LS_ECORRUPT;
    if (sb->disk_bytes % LS_PAGE || sb->disk_bytes > dev_size || sb->nseg == 0)
        return LS_ECORRUPT;
    if (sb->slot_bytes < 2 * LS_PAGE || sb->slot_bytes % LS_PAGE)
        return LS_ECORRUPT;
    if (sb->slot_off[0] != LS_PAGE || sb->slot_off[1] != LS_PAGE + sb->slot_bytes)
        return LS_ECORRUPT;
    if (sb->seg_base < sb->slot_off[1] + sb->slot_bytes || sb->seg_base % LS_PAGE)
        return LS_ECORRUPT;
    uint64_t end = sb->seg_base + (uint64_t)sb->nseg * sb->seg_bytes;
    if (end > sb->disk_bytes - LS_PAGE || end / LS_PAGE > UINT32_MAX)
        return LS_ECORRUPT;
    return 0;
}

int ls_layout(uint64_t size, uint32_t seg_bytes, struct ls_sb *sb)
{
    memset(sb, 0, sizeof(*sb));
    size &= ~(uint64_t)(LS_PAGE - 1);
    if (seg_bytes == 0)
        seg_bytes = LS_SEGMENT_DEFAULT;
    if (!pow2(seg_bytes) || seg_bytes < LS_SEGMENT_MIN || seg_bytes > LS_SEGMENT_MAX)
        return -EINVAL;
    if (size / LS_PAGE > UINT32_MAX)
        return -EFBIG; /* payload pages are addressed with 32 bits: 16 TiB */
    /* Each checkpoint slot gets 1/256 of the disk (at least 1 MiB): enough for
     * 16 index bytes per 4 KiB page, i.e. any mix of blocks >= 8 KiB. */
    uint64_t slot = size / 256;
    if (slot < (1u << 20))
        slot = 1u << 20;
    slot = (slot + LS_PAGE - 1) & ~(uint64_t)(LS_PAGE - 1);
    uint64_t base = LS_PAGE + 2 * slot;
    base = (base + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    if (size < base + LS_PAGE)
        return -ENOSPC;
    uint64_t nseg = (size - LS_PAGE - base) / seg_bytes;
    if (nseg < 4)
        return -ENOSPC;
    sb->version = LS_FORMAT_VERSION;
    sb->disk_bytes = size;
    sb->seg_bytes = seg_bytes;
    sb->nseg = (uint32_t)nseg;
    sb->seg_base = base;
    sb->slot_off[0] = LS_PAGE;
    sb->slot_off[1] = LS_PAGE + slot;
    sb->slot_bytes = slot;
    return 0;
}

/* ---- group header and entries ------------------------------------------- */

void ls_ghdr_encode(const struct ls_ghdr *g, uint8_t *p)
{
    memset(p, 0, LS_GROUP_HDR);
    ls_put32(p + 0, LS_GROUP_MAGIC);
    ls_put16(p + 4, LS_FORMAT_VERSION);
    ls_put16(p + 6, g->nrec);
    ls_put64(p + 8, g->seq);
    ls_put64(p + 16, g->prev_seq);
    ls_put64(p + 24, g->tag);
    ls_put32(p + 32, g->seg);
    ls_put32(p + 36, g->page);
    ls_put32(p + 40, g->npages);
    ls_put32(p + 44, g->next_seg);
    ls_put64(p + 48, g->time_s);
    ls_put32(p + 56, g->entries_crc);
    ls_put32(p + 60, ec_crc32c(0, p, 60));
}

void ls_entry_encode(const struct ls_entry *e, uint8_t *p)
{
    memset(p, 0, LS_ENTRY_SIZE);
    p[0] = e->type;
    p[1] = e->flags;
    ls_put16(p + 2, e->part);
    ls_put32(p + 4, e->block);
    ls_put64(p + 8, e->chunk);
    ls_put64(p + 16, e->version);
    ls_put32(p + 24, e->len);
    ls_put32(p + 28, e->crc);
    ls_put32(p + 32, e->data_page);
    ls_put32(p + 36, e->raw_len);
    ls_put64(p + 40, e->aux);
}

int ls_group_decode(const uint8_t *p, uint32_t seg_pages, struct ls_ghdr *g,
                    struct ls_entry ents[LS_GROUP_MAX_RECS])
{
    uint16_t version = ls_get16(p + 4);
    if (ls_get32(p) != LS_GROUP_MAGIC || version < LS_FORMAT_VERSION_MIN ||
        version > LS_FORMAT_VERSION)
        return LS_ECORRUPT;
    if (ls_get32(p + 60) != ec_crc32c(0, p, 60))
        return LS_ECORRUPT;
    g->nrec = ls_get16(p + 6);
    g->seq = ls_get64(p + 8);
    g->prev_seq = ls_get64(p + 16);
    g->tag = ls_get64(p + 24);
    g->seg = ls_get32(p + 32);
    g->page = ls_get32(p + 36);
    g->npages = ls_get32(p + 40);
    g->next_seg = ls_get32(p + 44);
    g->time_s = ls_get64(p + 48);
    g->entries_crc = ls_get32(p + 56);
    if (g->nrec > LS_GROUP_MAX_RECS || g->npages == 0 || g->page >= seg_pages ||
        g->npages > seg_pages - g->page || g->seq != g->prev_seq + 1)
        return LS_ECORRUPT;
    const uint8_t *ep = p + LS_GROUP_HDR;
    if (ec_crc32c(0, ep, (size_t)g->nrec * LS_ENTRY_SIZE) != g->entries_crc)
        return LS_ECORRUPT;
    uint32_t next_data = 1; /* payloads follow the header page in entry order */
    for (unsigned i = 0; i < g->nrec; i++, ep += LS_ENTRY_SIZE) {
        struct ls_entry *e = &ents[i];
        e->type = ep[0];
        e->flags = ep[1];
        e->part = ls_get16(ep + 2);
        e->block = ls_get32(ep + 4);
        e->chunk = ls_get64(ep + 8);
        e->version = ls_get64(ep + 16);
        e->len = ls_get32(ep + 24);
        e->crc = ls_get32(ep + 28);
        e->data_page = ls_get32(ep + 32);
        e->raw_len = ls_get32(ep + 36);
        e->aux = ls_get64(ep + 40);
        /* Flags: only LS_EF_ZSTD, only on payload records, only from version 2. */
        uint8_t allowed =
            version >= 2 && (e->type == LS_REC_BLOCK || e->type == LS_REC_MOVE) ? LS_EF_ZSTD : 0;
        if (e->flags & ~allowed)
            return LS_ECORRUPT;
        switch (e->type) {
        case LS_REC_BLOCK:
        case LS_REC_MOVE:
            if (e->len == 0 || e->len > LS_BLOCK_MAX || e->block >= LS_MAX_BLOCKS_PER_PART)
                return LS_ECORRUPT;
            if (e->flags & LS_EF_ZSTD) {
                /* kept only when it saves a page, so also below 64 KiB */
                if (e->raw_len == 0 || e->raw_len > LS_BLOCK_MAX ||
                    ls_pages(e->len) >= ls_pages(e->raw_len))
                    return LS_ECORRUPT;
            } else if (e->raw_len != 0) {
                return LS_ECORRUPT;
            }
            if (e->data_page != next_data || e->data_page >= g->npages ||
                ls_pages(e->len) > g->npages - e->data_page)
                return LS_ECORRUPT;
            next_data = e->data_page + (uint32_t)ls_pages(e->len);
            break;
        case LS_REC_COMMIT:
        case LS_REC_DELETE:
            if (e->len != 0 || e->data_page != 0 || e->raw_len != 0)
                return LS_ECORRUPT;
            break;
        default:
            return LS_ECORRUPT;
        }
    }
    if (next_data != g->npages)
        return LS_ECORRUPT;
    if (g->nrec == 0 && g->next_seg == LS_NO_SEG)
        return LS_ECORRUPT; /* an empty group must be a LINK */
    return 0;
}

/* ---- format ------------------------------------------------------------- */

int ls_checkpoint_format(struct ls_dev *dev, const struct ls_sb *sb); /* recovery.c */

int ls_format_dev(struct ls_dev *dev, const struct ls_format_opts *opts, char *err, size_t errlen)
{
    struct ls_sb sb, old;
    uint8_t *page = ls_aligned_alloc(LS_PAGE);
    int rc;
    if (!page)
        return -ENOMEM;
    rc = ls_pread_full(dev, page, LS_PAGE, 0);
    if (rc < 0) {
        ls_errf(err, errlen, "cannot read the first page: %s", ls_strerror(rc));
        goto out;
    }
    rc = ls_sb_decode(page, dev->size, &old);
    if (rc != LS_ENOTOURS && !opts->force) {
        ls_errf(err, errlen,
                "already holds a Cairn logstore%s; refusing to format it (use --force to "
                "destroy its data)",
                rc == 0 ? "" : " (damaged or of another version)");
        rc = -EEXIST;
        goto out;
    }
    rc = ls_layout(dev->size, opts->segment_bytes, &sb);
    if (rc == -EINVAL) {
        ls_errf(err, errlen,
                "segment size %u is invalid: it must be a power of two from 1 MiB to 1 GiB",
                opts->segment_bytes);
        goto out;
    } else if (rc < 0) {
        ls_errf(err, errlen, "device of %llu bytes is %s for a logstore with %u-byte segments",
                (unsigned long long)dev->size,
                rc == -EFBIG ? "too large (16 TiB max)" : "too small",
                opts->segment_bytes ? opts->segment_bytes : LS_SEGMENT_DEFAULT);
        goto out;
    }
    if (getrandom(sb.disk_uuid, 16, 0) != 16) {
        rc = -errno;
        ls_errf(err, errlen, "getrandom: %s", strerror(errno));
        goto out;
    }
    memcpy(sb.cluster_id, opts->cluster_id, 16);
    sb.format_time = (uint64_t)time(NULL);

    /* Invalidate the old superblocks first, so a crash mid-format leaves a
     * disk that is plainly "not ours" rather than half old, half new. */
    memset(page, 0, LS_PAGE);
    struct iovec iov = {page, LS_PAGE};
    if ((rc = ls_pwritev_full(dev, &iov, 1, 0)) < 0 ||
        (rc = ls_pwritev_full(dev, &(struct iovec){page, LS_PAGE}, 1, dev->size - LS_PAGE)) < 0 ||
        (rc = dev->sync(dev)) < 0) {
        ls_errf(err, errlen, "cannot write: %s", ls_strerror(rc));
        goto out;
    }
    rc = ls_checkpoint_format(dev, &sb);
    if (rc < 0) {
        ls_errf(err, errlen, "cannot write the initial checkpoint: %s", ls_strerror(rc));
        goto out;
    }
    ls_sb_encode(&sb, page);
    if ((rc = ls_pwritev_full(dev, &(struct iovec){page, LS_PAGE}, 1, dev->size - LS_PAGE)) < 0 ||
        (rc = dev->sync(dev)) < 0 ||
        (rc = ls_pwritev_full(dev, &(struct iovec){page, LS_PAGE}, 1, 0)) < 0 ||
        (rc = dev->sync(dev)) < 0) {
        ls_errf(err, errlen, "cannot write the superblock: %s", ls_strerror(rc));
        goto out;
    }
    rc = 0;
out:
    free(page);
    return rc;
}

int ls_format(const char *path, const struct ls_format_opts *opts, char *err, size_t errlen)
{
    struct ls_dev *dev = NULL;
    int rc;
    if (opts->size) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            rc = -errno;
            ls_errf(err, errlen, "disk %s: cannot create: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return rc;
        }
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < opts->size) {
            /* Preallocate so a full file system cannot fail our writes later. */
            int e = posix_fallocate(fd, 0, (off_t)opts->size);
            if (e != 0) {
                ls_errf(err, errlen, "disk %s: cannot preallocate %llu bytes: %s", path,
                        (unsigned long long)opts->size, strerror(e));
                close(fd);
                return -e;
            }
        }
        close(fd);
    }
    rc = ls_dev_open_path(path, 0, &dev, err, errlen);
    if (rc < 0)
        return rc;
    char sub[256] = "";
    rc = ls_format_dev(dev, opts, sub, sizeof(sub));
    if (rc < 0)
        ls_errf(err, errlen, "disk %s: %s", path, sub);
    dev->close(dev);
    return rc;
}
