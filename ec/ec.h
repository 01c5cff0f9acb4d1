/*
 * ec.h - public API of the ec library: chunk layouts, Reed-Solomon coding and
 * CRC32C checksums.
 *
 * Pure library: no logging, no global mutable state visible to callers; all
 * functions are thread-safe unless a comment says otherwise.
 */
#ifndef CAIRN_EC_H
#define CAIRN_EC_H

#include <stddef.h>
#include <stdint.h>

#define EC_VERSION_MAJOR 0
#define EC_VERSION_MINOR 1

/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), hardware accelerated.
 * Standard semantics: ec_crc32c(0, "123456789", 9) == 0xE3069283, and
 * ec_crc32c(ec_crc32c(0, a, la), b, lb) is the CRC of a followed by b.
 * This is the one checksum function every on-disk and wire format uses.
 */
uint32_t ec_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
