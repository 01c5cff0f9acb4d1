/*
 * compress.c - zstd compression of block payloads (LS_WRITE_COMPRESS).
 *
 * Payloads are stored in whole 4 KiB pages, so a compressed payload is kept
 * only when it needs fewer pages than the plain one: the compressor is given
 * an output buffer one page smaller than the plain payload's pages and a
 * frame that does not fit is simply not used. That bound also keeps every
 * stored frame below 64 KiB (the index packs its length into 16 bits).
 *
 * The record CRC covers the stored frame, so scrub, compaction and recovery
 * verify compressed records without decompressing them. Reads decompress
 * after the CRC matched and also demand the frame's own content checksum and
 * an exact decompressed length: any failure is LS_ECORRUPT, never data.
 *
 * zstd contexts are costly to create, so a few idle ones are kept in the
 * store (under their own mutex, never ls->mu) and reused by any thread.
 */
#include <errno.h>
#include <zstd.h>

#include "ls_int.h"

static ZSTD_CCtx *cctx_get(struct ls *ls)
{
    ZSTD_CCtx *c = NULL;
    pthread_mutex_lock(&ls->z_mu);
    if (ls->ncctx > 0)
        c = ls->cctx[--ls->ncctx];
    pthread_mutex_unlock(&ls->z_mu);
    if (c)
        return c;
    c = ZSTD_createCCtx();
    if (!c)
        return NULL;
    /* Frame checksum: a second check of the plain bytes after decompression. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, LS_ZSTD_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1))) {
        ZSTD_freeCCtx(c);
        return NULL;
    }
    return c;
}

static void cctx_put(struct ls *ls, ZSTD_CCtx *c)
{
    pthread_mutex_lock(&ls->z_mu);
    if (ls->ncctx < LS_ZCTX_KEEP) {
        ls->cctx[ls->ncctx++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&ls->z_mu);
    ZSTD_freeCCtx(c); /* accepts NULL */
}

static ZSTD_DCtx *dctx_get(struct ls *ls)
{
    ZSTD_DCtx *d = NULL;
    pthread_mutex_lock(&ls->z_mu);
    if (ls->ndctx > 0)
        d = ls->dctx[--ls->ndctx];
    pthread_mutex_unlock(&ls->z_mu);
    return d ? d : ZSTD_createDCtx();
}

static void dctx_put(struct ls *ls, ZSTD_DCtx *d)
{
    pthread_mutex_lock(&ls->z_mu);
    if (ls->ndctx < LS_ZCTX_KEEP) {
        ls->dctx[ls->ndctx++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&ls->z_mu);
    ZSTD_freeDCtx(d);
}

void ls_zstd_release(struct ls *ls)
{
    while (ls->ncctx > 0)
        ZSTD_freeCCtx(ls->cctx[--ls->ncctx]);
    while (ls->ndctx > 0)
        ZSTD_freeDCtx(ls->dctx[--ls->ndctx]);
}

int ls_zstd_compress(struct ls *ls, void *dst, const void *src, uint32_t len)
{
    uint64_t pages = ls_pages(len);
    if (pages < 2)
        return 0; /* one page cannot shrink */
    size_t cap = (size_t)(pages - 1) * LS_PAGE;
    ZSTD_CCtx *c = cctx_get(ls);
    if (!c)
        return -ENOMEM;
    size_t r = ZSTD_compress2(c, dst, cap, src, len);
    if (ZSTD_isError(r)) {
        /* dstSize_tooSmall: it would not save a page. Anything else leaves
         * the context in an unknown state: reset it before reuse. */
        ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
        r = 0;
    }
    cctx_put(ls, c);
    return (int)r;
}

int ls_zstd_decompress(struct ls *ls, void *dst, uint32_t len, const void *src, uint32_t zlen)
{
    ZSTD_DCtx *d = dctx_get(ls);
    if (!d)
        return -ENOMEM;
    /* Exactly one frame that declares exactly len bytes, and decodes to them. */
    unsigned long long declared = ZSTD_getFrameContentSize(src, zlen);
    size_t fsize = ZSTD_findFrameCompressedSize(src, zlen);
    int rc = LS_ECORRUPT;
    if (declared == len && !ZSTD_isError(fsize) && fsize == zlen) {
        size_t r = ZSTD_decompressDCtx(d, dst, len, src, zlen);
        if (!ZSTD_isError(r) && r == len)
            rc = 0;
    }
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    dctx_put(ls, d);
    return rc;
}
