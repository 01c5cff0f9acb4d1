/*
 * crc32c.c - CRC32C for every checksum Cairn stores or sends.
 *
 * ISA-L's crc32_iscsi() is the fast path (SSE4.2 crc32 instruction with
 * three-way interleaving, PCLMUL folding). It takes and returns the CRC
 * register without the final inversion, so we invert on the way in and out to
 * get the standard, chainable CRC32C.
 *
 * ec_crc32c_combine() is zlib's crc32_combine() for the Castagnoli
 * polynomial: CRC(A || B) = CRC(A) * x^(8 * len(B)) mod P  xor  CRC(B); the
 * pre/post inversions cancel. Powers x^(2^n) mod P are a constant table
 * (tests recompute it).
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

#define CRC32C_POLY 0x82F63B78u /* reflected, x^32 implied */

/* x2n[n] = x^(2^n) mod P, reflected (bit 31 is x^0). */
static const uint32_t x2n[32] = {
    0x40000000, 0x20000000, 0x08000000, 0x00800000, 0x00008000, 0x82f63b78, 0x6ea2d55c, 0x18b8ea18,
    0x510ac59a, 0xb82be955, 0xb8fdb1e7, 0x88e56f72, 0x74c360a4, 0xe4172b16, 0x0d65762a, 0x35d73a62,
    0x28461564, 0xbf455269, 0xe2ea32dc, 0xfe7740e6, 0xf946610b, 0x3c204f8f, 0x538586e3, 0x59726915,
    0x734d5309, 0xbc1ac763, 0x7d0722cc, 0xd289cabe, 0xe94ca9bc, 0x05b74f3f, 0xa51e1f42, 0x40000000,
};

/* a * b mod P, both reflected. */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

uint32_t ec_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
    uint32_t p = 1u << 31; /* x^0 */
    unsigned k = 3;        /* len2 counts bytes: x^(8 * len2) = x^(len2 * 2^3) */
    for (; len2 != 0; len2 >>= 1, k++)
        if (len2 & 1)
            p = multmodp(x2n[k & 31], p);
    return multmodp(p, crc1) ^ crc2;
}
