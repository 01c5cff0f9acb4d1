/* test_crc32c.c - CRC32C matches the standard check value and chains. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ec.h"

Test(crc32c, check_value)
{
    /* The CRC32C "check" value from the RocZoo catalogue of parametrised CRCs. */
    cr_assert_eq(ec_crc32c(0, "123456789", 9), 0xE3069283u, "got %08x",
                 ec_crc32c(0, "123456789", 9));
    cr_assert_eq(ec_crc32c(0, "", 0), 0u);
}

Test(crc32c, chains_over_splits)
{
    unsigned char buf[8192];
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rand_r(&seed);
    uint32_t whole = ec_crc32c(0, buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 97) {
        uint32_t c = ec_crc32c(ec_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut);
        cr_assert_eq(c, whole, "split at %zu: %08x != %08x", cut, c, whole);
    }
}

Test(crc32c, combine_equals_crc_of_concatenation)
{
    /* combine(CRC(A), CRC(B), |B|) == CRC(A||B) for random splits, incl. empty parts. */
    static unsigned char buf[3 * 65536 + 17];
    unsigned seed = 777;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rand_r(&seed);
    uint32_t whole = ec_crc32c(0, buf, sizeof(buf));
    size_t cuts[] = {0, 1, 7, 4096, 65536, 65537, 100000, sizeof(buf) - 1, sizeof(buf)};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        size_t c = cuts[i];
        uint32_t a = ec_crc32c(0, buf, c), b = ec_crc32c(0, buf + c, sizeof(buf) - c);
        uint32_t got = ec_crc32c_combine(a, b, sizeof(buf) - c);
        cr_assert_eq(got, whole, "cut %zu: %08x != %08x", c, got, whole);
    }
    /* Block CRCs of a chunk combine into the chunk CRC. */
    uint32_t acc = 0;
    for (size_t off = 0; off < sizeof(buf); off += 65536) {
        size_t n = sizeof(buf) - off < 65536 ? sizeof(buf) - off : 65536;
        acc = ec_crc32c_combine(acc, ec_crc32c(0, buf + off, n), n);
    }
    cr_assert_eq(acc, whole, "%08x != %08x", acc, whole);
}

Test(crc32c, combine_long_zero_runs)
{
    /* Lengths with high bits set (table entries beyond 2^20) match a direct CRC. */
    static unsigned char zeros[1 << 22];
    uint32_t a = ec_crc32c(0, "abc", 3);
    uint32_t direct = ec_crc32c(a, zeros, sizeof(zeros));
    uint32_t z = ec_crc32c(0, zeros, sizeof(zeros));
    cr_assert_eq(ec_crc32c_combine(a, z, sizeof(zeros)), direct);
    /* Associativity over a 3-way split with a large middle. */
    uint32_t b = ec_crc32c(0, "defg", 4);
    uint32_t ab = ec_crc32c_combine(ec_crc32c_combine(a, z, sizeof(zeros)), b, 4);
    uint32_t bc = ec_crc32c_combine(z, b, 4);
    cr_assert_eq(ab, ec_crc32c_combine(a, bc, sizeof(zeros) + 4));
    cr_assert_eq(ec_crc32c_combine(a, 0, 0), a);
}

/* Table-driven CRC32C, independent of ISA-L and of the library's fast paths. */
static uint32_t ref_table[256];

static void ref_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        ref_table[i] = c;
    }
}

static uint32_t ref_crc32c(uint32_t crc, const unsigned char *p, size_t len)
{
    crc = ~crc;
    while (len--)
        crc = ref_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

Test(crc32c, matches_reference_on_every_path)
{
    /* Every length up to 3000 (both sides of the 2 KiB parallel-path threshold)
     * and random long lengths/offsets/initial values equal a bytewise reference. */
    static unsigned char buf[300000];
    unsigned seed = 4242;
    ref_init();
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rand_r(&seed);
    for (size_t len = 0; len <= 3000; len++) {
        size_t off = len % 7;
        uint32_t init = (uint32_t)rand_r(&seed) * 2654435761u;
        uint32_t got = ec_crc32c(init, buf + off, len), want = ref_crc32c(init, buf + off, len);
        cr_assert_eq(got, want, "len %zu off %zu init %08x: %08x != %08x", len, off, init, got,
                     want);
    }
    for (int it = 0; it < 200; it++) {
        size_t off = (size_t)rand_r(&seed) % 64;
        size_t len = 2048 + (size_t)rand_r(&seed) % (sizeof(buf) - 2048 - 64);
        if (it < 8)
            len = (size_t)248 * (it + 9) + (size_t)(it % 3) - 1; /* step multiples +-1 */
        uint32_t init = (uint32_t)rand_r(&seed);
        uint32_t got = ec_crc32c(init, buf + off, len), want = ref_crc32c(init, buf + off, len);
        cr_assert_eq(got, want, "len %zu off %zu init %08x: %08x != %08x", len, off, init, got,
                     want);
    }
    /* A whole 64 KiB block, the logstore's unit. */
    cr_assert_eq(ec_crc32c(0, buf, 65536), ref_crc32c(0, buf, 65536));
}
