/*
 * dev.c - the devices a logstore does its I/O through.
 *
 * Every read, write and sync of the store goes through struct ls_dev so that
 * tests can wrap a device and inject faults (STYLE 23). Two devices live
 * here: a POSIX one over a block device or regular file (O_DIRECT on block
 * devices, and on files when asked), and a zero-filled memory one for tests
 * and fuzzing. Short reads and writes are retried by the full-I/O helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_int.h"

struct posix_dev {
    struct ls_dev d;
    int fd;
};

static ssize_t posix_pread(struct ls_dev *d, void *buf, size_t len, uint64_t off)
{
    struct posix_dev *p = (struct posix_dev *)d;
    ssize_t r = pread(p->fd, buf, len, (off_t)off);
    return r < 0 ? -errno : r;
}

static ssize_t posix_pwritev(struct ls_dev *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
    struct posix_dev *p = (struct posix_dev *)d;
    ssize_t r = pwritev(p->fd, iov, iovcnt, (off_t)off);
    return r < 0 ? -errno : r;
}

static int posix_sync(struct ls_dev *d)
{
    struct posix_dev *p = (struct posix_dev *)d;
    return fdatasync(p->fd) < 0 ? -errno : 0;
}

static void posix_close(struct ls_dev *d)
{
    struct posix_dev *p = (struct posix_dev *)d;
    close(p->fd);
    free(p);
}

int ls_dev_open_path(const char *path, int flags, struct ls_dev **out, char *err, size_t errlen)
{
    struct stat st;
    int oflags = (flags & LS_DEV_RDONLY) ? O_RDONLY : O_RDWR;
    int fd = open(path, oflags | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        ls_errf(err, errlen, "disk %s: cannot open: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        ls_errf(err, errlen, "disk %s: fstat: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    uint64_t size;
    int direct = 0;
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
            int e = errno;
            ls_errf(err, errlen, "disk %s: cannot read block device size: %s", path, strerror(e));
            close(fd);
            return -e;
        }
        direct = 1;
    } else if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
        direct = (flags & LS_DEV_DIRECT) != 0;
    } else {
        ls_errf(err, errlen, "disk %s: not a block device or regular file", path);
        close(fd);
        return -EINVAL;
    }
    if (direct) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
            int e = errno;
            ls_errf(err, errlen, "disk %s: O_DIRECT not supported here: %s", path, strerror(e));
            close(fd);
            return -e;
        }
    }
    struct posix_dev *p = calloc(1, sizeof(*p));
    if (!p) {
        close(fd);
        return -ENOMEM;
    }
    p->fd = fd;
    p->d.pread = posix_pread;
    p->d.pwritev = posix_pwritev;
    p->d.sync = posix_sync;
    p->d.close = posix_close;
    p->d.size = size & ~(uint64_t)(LS_PAGE - 1);
    p->d.direct = direct;
    *out = &p->d;
    return 0;
}

struct mem_dev {
    struct ls_dev d;
    uint8_t *mem;
};

static ssize_t mem_pread(struct ls_dev *d, void *buf, size_t len, uint64_t off)
{
    struct mem_dev *m = (struct mem_dev *)d;
    if (off >= d->size)
        return 0;
    if (len > d->size - off)
        len = d->size - off;
    memcpy(buf, m->mem + off, len);
    return (ssize_t)len;
}

static ssize_t mem_pwritev(struct ls_dev *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
    struct mem_dev *m = (struct mem_dev *)d;
    size_t done = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (off + done + iov[i].iov_len > d->size)
            return done ? (ssize_t)done : -ENOSPC;
        memcpy(m->mem + off + done, iov[i].iov_base, iov[i].iov_len);
        done += iov[i].iov_len;
    }
    return (ssize_t)done;
}

static int mem_sync(struct ls_dev *d)
{
    (void)d;
    return 0;
}

static void mem_close(struct ls_dev *d)
{
    struct mem_dev *m = (struct mem_dev *)d;
    free(m->mem);
    free(m);
}

int ls_dev_open_mem(uint64_t size, const void *image, size_t image_len, struct ls_dev **out)
{
    size &= ~(uint64_t)(LS_PAGE - 1);
    if (size == 0 || size > ((uint64_t)1 << 40))
        return -EINVAL;
    struct mem_dev *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->mem = calloc(1, size);
    if (!m->mem) {
        free(m);
        return -ENOMEM;
    }
    if (image)
        memcpy(m->mem, image, image_len < size ? image_len : size);
    m->d.pread = mem_pread;
    m->d.pwritev = mem_pwritev;
    m->d.sync = mem_sync;
    m->d.close = mem_close;
    m->d.size = size;
    *out = &m->d;
    return 0;
}

uint8_t *ls_dev_mem_data(struct ls_dev *d)
{
    return d->pread == mem_pread ? ((struct mem_dev *)d)->mem : NULL;
}

int ls_pread_full(struct ls_dev *d, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = d->pread(d, p, len, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EIO; /* past the end of the device */
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

int ls_pwritev_full(struct ls_dev *d, struct iovec *iov, int iovcnt, uint64_t off)
{
    while (iovcnt > 0) {
        ssize_t r = d->pwritev(d, iov, iovcnt, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EIO;
        off += (uint64_t)r;
        size_t left = (size_t)r;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0 && left > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

void *ls_aligned_alloc(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, LS_PAGE, len ? len : LS_PAGE) != 0)
        return NULL;
    return p;
}
