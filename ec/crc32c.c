/*
 * crc32c.c - CRC32C for every checksum Cairn stores or sends.
 *
 * ISA-L's crc32_iscsi() is the fast path (SSE4.2 crc32 instruction with
 * three-way interleaving, PCLMUL folding). It takes and returns the CRC
 * register without the final inversion, so we invert on the way in and out to
 * get the standard, chainable CRC32C.
 */
#include "ec.h"

#include <isa-l/crc.h>

uint32_t ec_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    /* crc32_iscsi takes an int length; feed huge buffers in slices. */
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        crc = ~crc32_iscsi((unsigned char *)p, (int)n, ~crc);
        p += n;
        len -= n;
    }
    return crc;
}
