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
