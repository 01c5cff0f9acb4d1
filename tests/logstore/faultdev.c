/*
 * faultdev.c - fault-injecting ls_dev wrapper (see faultdev.h).
 *
 * Every call takes the handle's mutex, so I/O through a faultdev is
 * serialised; that is fine for tests and keeps the overlay simple. The
 * overlay is a flat array of whole pages (LS_PAGE), newest content per page
 * offset: the number of unsynced pages between two syncs is small.
 */
#include "faultdev.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

struct ov_page {
    uint64_t off;
    uint8_t *data; /* LS_PAGE bytes */
};

struct faultdev {
    pthread_mutex_t mu;
    struct ls_dev dev; /* the wrapper handed to the store */
    struct ls_dev *lower;
    const uint8_t *view; /* faultdev_view(): borrowed image instead of lower */
    int own_lower;
    int closed;
    int dead; /* after faultdev_crash(): writes and syncs fail */

    uint64_t writes, syncs, faults, shorts;
    uint64_t fail_write_at, fail_sync_at, tear_at; /* absolute call numbers; 0 = off */
    int fail_write_err, fail_sync_err;
    size_t tear_keep;
    uint64_t short_period;

    uint64_t crash_at_write, crash_at_sync, crash_seed; /* absolute call numbers; 0 = off */
    double crash_keep;
    uint8_t *crash_img;

    int power_loss;
    struct ov_page *ov;
    size_t nov, capov;
};

static uint8_t *crash_image(struct faultdev *f, uint64_t seed, double keep_prob);

static ssize_t lower_read_all(struct ls_dev *d, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = d->pread(d, buf + done, len - done, off + done);
        if (r < 0)
            return r;
        if (r == 0)
            return -EIO;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static ssize_t lower_write_all(struct ls_dev *d, const uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        struct iovec v = {.iov_base = (void *)(buf + done), .iov_len = len - done};
        ssize_t r = d->pwritev(d, &v, 1, off + done);
        if (r < 0)
            return r;
        if (r == 0)
            return -EIO;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

/* Read the device below the overlay: the lower device or the viewed image. */
static ssize_t base_read(struct faultdev *f, uint8_t *buf, size_t len, uint64_t off)
{
    if (f->view) {
        if (off > f->dev.size || len > f->dev.size - off)
            return -EINVAL;
        memcpy(buf, f->view + off, len);
        return (ssize_t)len;
    }
    return lower_read_all(f->lower, buf, len, off);
}

static struct ov_page *ov_find(struct faultdev *f, uint64_t off)
{
    for (size_t i = 0; i < f->nov; i++)
        if (f->ov[i].off == off)
            return &f->ov[i];
    return NULL;
}

/* The overlay page for `off`, created from the lower device's content. */
static struct ov_page *ov_get(struct faultdev *f, uint64_t off, int *err)
{
    struct ov_page *p = ov_find(f, off);
    if (p)
        return p;
    if (f->nov == f->capov) {
        size_t cap = f->capov ? f->capov * 2 : 64;
        struct ov_page *n = realloc(f->ov, cap * sizeof(*n));
        if (!n) {
            *err = -ENOMEM;
            return NULL;
        }
        f->ov = n;
        f->capov = cap;
    }
    uint8_t *data = aligned_alloc(LS_PAGE, LS_PAGE);
    if (!data) {
        *err = -ENOMEM;
        return NULL;
    }
    ssize_t r = base_read(f, data, LS_PAGE, off);
    if (r < 0) {
        free(data);
        *err = (int)r;
        return NULL;
    }
    p = &f->ov[f->nov++];
    p->off = off;
    p->data = data;
    return p;
}

static void ov_clear(struct faultdev *f)
{
    for (size_t i = 0; i < f->nov; i++)
        free(f->ov[i].data);
    f->nov = 0;
}

/* Persist buf at off: into the overlay in power-loss mode, else to lower. */
static int put_bytes(struct faultdev *f, const uint8_t *buf, size_t len, uint64_t off)
{
    if (!f->power_loss && !f->view) {
        ssize_t r = lower_write_all(f->lower, buf, len, off);
        return r < 0 ? (int)r : 0;
    }
    size_t done = 0;
    while (done < len) {
        uint64_t pos = off + done;
        uint64_t page = pos - pos % LS_PAGE;
        size_t in = (size_t)(pos - page);
        size_t n = LS_PAGE - in;
        if (n > len - done)
            n = len - done;
        int err = 0;
        struct ov_page *p = ov_get(f, page, &err);
        if (!p)
            return err;
        memcpy(p->data + in, buf + done, n);
        done += n;
    }
    return 0;
}

static ssize_t fd_pread(struct ls_dev *d, void *buf, size_t len, uint64_t off)
{
    struct faultdev *f = d->priv;
    pthread_mutex_lock(&f->mu);
    ssize_t r = f->view ? base_read(f, buf, len, off) : f->lower->pread(f->lower, buf, len, off);
    if (r > 0) {
        /* Unsynced pages are visible to reads, as in a page cache. */
        for (size_t i = 0; i < f->nov; i++) {
            uint64_t po = f->ov[i].off;
            if (po + LS_PAGE <= off || po >= off + (uint64_t)r)
                continue;
            uint64_t from = po > off ? po : off;
            uint64_t to = po + LS_PAGE < off + (uint64_t)r ? po + LS_PAGE : off + (uint64_t)r;
            memcpy((uint8_t *)buf + (from - off), f->ov[i].data + (from - po), to - from);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

static ssize_t fd_pwritev(struct ls_dev *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
    struct faultdev *f = d->priv;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    uint8_t *buf =
        aligned_alloc(LS_PAGE, total ? (total + LS_PAGE - 1) / LS_PAGE * LS_PAGE : LS_PAGE);
    if (!buf)
        return -ENOMEM;
    size_t pos = 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(buf + pos, iov[i].iov_base, iov[i].iov_len);
        pos += iov[i].iov_len;
    }

    ssize_t ret;
    pthread_mutex_lock(&f->mu);
    uint64_t n = ++f->writes;
    if (f->dead) {
        ret = -EIO;
    } else if (f->crash_at_write == n) {
        /* Power cut during this write: it may land (partly) among the unsynced pages. */
        f->crash_at_write = 0;
        f->faults++;
        if (put_bytes(f, buf, total, off) == 0)
            f->crash_img = crash_image(f, f->crash_seed, f->crash_keep);
        f->dead = 1;
        ret = -EIO;
    } else if (f->fail_write_at == n) {
        f->fail_write_at = 0;
        f->faults++;
        ret = f->fail_write_err;
    } else if (f->tear_at == n) {
        f->tear_at = 0;
        f->faults++;
        size_t keep = f->tear_keep < total ? f->tear_keep : total;
        int e = keep ? put_bytes(f, buf, keep, off) : 0;
        ret = e ? e : -EIO;
    } else if (f->short_period && n % f->short_period == 0 && total > LS_PAGE) {
        /* A page-aligned prefix, at least one page, less than all. */
        size_t pages = total / LS_PAGE;
        size_t keep = (pages > 1 ? 1 + (size_t)(n % (pages - 1)) : 1) * LS_PAGE;
        if (keep >= total)
            keep = total - LS_PAGE;
        f->shorts++;
        int e = put_bytes(f, buf, keep, off);
        ret = e ? e : (ssize_t)keep;
    } else {
        int e = put_bytes(f, buf, total, off);
        ret = e ? e : (ssize_t)total;
    }
    pthread_mutex_unlock(&f->mu);
    free(buf);
    return ret;
}

static int fd_sync(struct ls_dev *d)
{
    struct faultdev *f = d->priv;
    int ret = 0;
    pthread_mutex_lock(&f->mu);
    uint64_t n = ++f->syncs;
    if (f->dead) {
        ret = -EIO;
    } else if (f->crash_at_sync == n) {
        /* Power cut before this sync completes. */
        f->crash_at_sync = 0;
        f->faults++;
        f->crash_img = crash_image(f, f->crash_seed, f->crash_keep);
        f->dead = 1;
        ret = -EIO;
    } else if (f->fail_sync_at == n) {
        f->fail_sync_at = 0;
        f->faults++;
        ov_clear(f); /* the kernel may drop dirty pages after a failed fsync */
        ret = f->fail_sync_err;
    } else if (f->view) {
        ret = 0; /* a view keeps its writes in the overlay for good */
    } else {
        for (size_t i = 0; i < f->nov && ret == 0; i++) {
            ssize_t r = lower_write_all(f->lower, f->ov[i].data, LS_PAGE, f->ov[i].off);
            if (r < 0)
                ret = (int)r;
        }
        if (ret == 0) {
            ov_clear(f);
            ret = f->lower->sync(f->lower);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return ret;
}

static void fd_close(struct ls_dev *d)
{
    struct faultdev *f = d->priv;
    pthread_mutex_lock(&f->mu);
    ov_clear(f);
    if (f->own_lower && f->lower)
        f->lower->close(f->lower);
    f->lower = NULL;
    f->closed = 1;
    pthread_mutex_unlock(&f->mu);
}

struct ls_dev *faultdev_view(const uint8_t *image, uint64_t size, struct faultdev **ctl)
{
    struct faultdev *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->view = image;
    f->dev.pread = fd_pread;
    f->dev.pwritev = fd_pwritev;
    f->dev.sync = fd_sync;
    f->dev.close = fd_close;
    f->dev.size = size;
    f->dev.priv = f;
    *ctl = f;
    return &f->dev;
}

struct ls_dev *faultdev_wrap(struct ls_dev *lower, int own_lower, struct faultdev **ctl)
{
    struct faultdev *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->lower = lower;
    f->own_lower = own_lower;
    f->dev.pread = fd_pread;
    f->dev.pwritev = fd_pwritev;
    f->dev.sync = fd_sync;
    f->dev.close = fd_close;
    f->dev.size = lower->size;
    f->dev.direct = lower->direct;
    f->dev.priv = f;
    *ctl = f;
    return &f->dev;
}

void faultdev_free(struct faultdev *f)
{
    if (!f)
        return;
    if (!f->closed)
        fd_close(&f->dev);
    free(f->ov);
    free(f->crash_img);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void faultdev_fail_write(struct faultdev *f, uint64_t nth, int err)
{
    pthread_mutex_lock(&f->mu);
    f->fail_write_at = f->writes + nth;
    f->fail_write_err = err;
    pthread_mutex_unlock(&f->mu);
}

void faultdev_fail_sync(struct faultdev *f, uint64_t nth, int err)
{
    pthread_mutex_lock(&f->mu);
    f->fail_sync_at = f->syncs + nth;
    f->fail_sync_err = err;
    pthread_mutex_unlock(&f->mu);
}

void faultdev_short_writes(struct faultdev *f, uint64_t period)
{
    pthread_mutex_lock(&f->mu);
    f->short_period = period;
    pthread_mutex_unlock(&f->mu);
}

void faultdev_tear_write(struct faultdev *f, uint64_t nth, size_t keep)
{
    pthread_mutex_lock(&f->mu);
    f->tear_at = f->writes + nth;
    f->tear_keep = keep;
    pthread_mutex_unlock(&f->mu);
}

void faultdev_set_power_loss(struct faultdev *f, int on)
{
    pthread_mutex_lock(&f->mu);
    f->power_loss = on;
    pthread_mutex_unlock(&f->mu);
}

void faultdev_disarm(struct faultdev *f)
{
    pthread_mutex_lock(&f->mu);
    f->fail_write_at = f->fail_sync_at = f->tear_at = 0;
    f->short_period = 0;
    pthread_mutex_unlock(&f->mu);
}

/* The power-cut image (mu held): lower/view plus a random subset of the overlay. */
static uint8_t *crash_image(struct faultdev *f, uint64_t seed, double keep_prob)
{
    if (!f->lower && !f->view)
        return NULL;
    size_t size = (size_t)f->dev.size;
    uint8_t *img = malloc(size);
    if (!img)
        return NULL;
    if (base_read(f, img, size, 0) < 0) {
        free(img);
        return NULL;
    }
    uint64_t s = seed;
    for (size_t i = 0; i < f->nov; i++) {
        double u = (double)(fd_rand(&s) >> 11) / (double)(1ull << 53);
        if (u < keep_prob) {
            memcpy(img + f->ov[i].off, f->ov[i].data, LS_PAGE);
        } else if (fd_below(&s, 8) == 0) {
            size_t sectors = (size_t)fd_below(&s, LS_PAGE / 512);
            memcpy(img + f->ov[i].off, f->ov[i].data, sectors * 512);
        }
    }
    ov_clear(f);
    f->dead = 1;
    return img;
}

uint8_t *faultdev_crash(struct faultdev *f, uint64_t seed, double keep_prob, size_t *len)
{
    pthread_mutex_lock(&f->mu);
    uint8_t *img = crash_image(f, seed, keep_prob);
    if (img)
        *len = (size_t)f->dev.size;
    pthread_mutex_unlock(&f->mu);
    return img;
}

void faultdev_crash_at(struct faultdev *f, uint64_t nth_write, uint64_t nth_sync, uint64_t seed,
                       double keep_prob)
{
    pthread_mutex_lock(&f->mu);
    f->crash_at_write = nth_write ? f->writes + nth_write : 0;
    f->crash_at_sync = nth_sync ? f->syncs + nth_sync : 0;
    f->crash_seed = seed;
    f->crash_keep = keep_prob;
    pthread_mutex_unlock(&f->mu);
}

uint8_t *faultdev_take_crash_image(struct faultdev *f, size_t *len)
{
    pthread_mutex_lock(&f->mu);
    uint8_t *img = f->crash_img;
    f->crash_img = NULL;
    if (img)
        *len = (size_t)f->dev.size;
    pthread_mutex_unlock(&f->mu);
    return img;
}

void faultdev_counts(struct faultdev *f, struct faultdev_counts *out)
{
    pthread_mutex_lock(&f->mu);
    out->writes = f->writes;
    out->syncs = f->syncs;
    out->faults = f->faults;
    out->short_writes = f->shorts;
    out->unsynced = f->nov;
    pthread_mutex_unlock(&f->mu);
}
