/*
 * test_acl.c - POSIX ACL values (common/acl.c): the bytes setfacl writes
 * decode (golden value), the kernel's validity rules are enforced, encode
 * is the inverse of decode, and the access algorithm, chmod and create
 * masking give what Linux gives.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "acl.h"

#define U 0xFFFFFFFFu

static struct cn_acl a;

static int decode_entries(const uint16_t (*e)[2], const uint32_t *ids, size_t n)
{
    uint8_t b[4 + 8 * 16] = {2, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        uint8_t *q = b + 4 + 8 * i;
        q[0] = (uint8_t)e[i][0];
        q[1] = (uint8_t)(e[i][0] >> 8);
        q[2] = (uint8_t)e[i][1];
        q[3] = 0;
        memcpy(q + 4, &ids[i], 4); /* little-endian host (x86-64, aarch64) */
    }
    return cn_acl_decode(b, 4 + 8 * n, &a);
}

Test(acl, golden_value_of_setfacl,
     .description = "user::rw- user:1000:r-- group::--- mask::r-- other::---")
{
    const uint8_t v[] = {2,    0, 0, 0,                          /* version */
                         1,    0, 6, 0, 0xff, 0xff, 0xff, 0xff,  /* USER_OBJ rw- */
                         2,    0, 4, 0, 0xe8, 0x03, 0,    0,     /* USER 1000 r-- */
                         4,    0, 0, 0, 0xff, 0xff, 0xff, 0xff,  /* GROUP_OBJ --- */
                         0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  /* MASK r-- */
                         0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}; /* OTHER --- */
    cr_assert_eq(cn_acl_decode(v, sizeof(v), &a), 0);
    cr_assert_eq(a.n, 5);
    cr_assert_eq(a.e[1].tag, CN_ACL_USER);
    cr_assert_eq(a.e[1].id, 1000);
    cr_assert_eq(cn_acl_mode(&a), 0640, "mode %o", cn_acl_mode(&a));
    uint8_t out[sizeof(v)];
    cr_assert_eq(cn_acl_size(&a), sizeof(v));
    cr_assert_eq(cn_acl_encode(&a, out), sizeof(v));
    cr_assert_arr_eq(out, v, sizeof(v));
}

Test(acl, invalid_values, .description = "what posix_acl_valid refuses is EINVAL")
{
    uint8_t v[12] = {2, 0, 0, 0};
    cr_assert_eq(cn_acl_decode(v, 0, &a), -EINVAL);
    cr_assert_eq(cn_acl_decode(v, 3, &a), -EINVAL);
    cr_assert_eq(cn_acl_decode(v, 4, &a), 0, "header alone: empty");
    cr_assert_eq(a.n, 0);
    cr_assert_eq(cn_acl_decode(v, 11, &a), -EINVAL, "partial entry");
    v[0] = 1;
    cr_assert_eq(cn_acl_decode(v, 4, &a), -EINVAL, "version 1");
    uint32_t ids[8] = {U, U, U, U, U, U, U, U};
    const uint16_t dup_obj[][2] = {{1, 6}, {1, 6}, {4, 4}, {0x20, 4}};
    cr_assert_eq(decode_entries(dup_obj, ids, 4), -EINVAL, "USER_OBJ twice");
    const uint16_t no_mask[][2] = {{1, 6}, {2, 4}, {4, 4}, {0x20, 4}};
    cr_assert_eq(decode_entries(no_mask, ids, 4), -EINVAL, "named entry without a mask");
    const uint16_t order[][2] = {{1, 6}, {4, 4}, {2, 4}, {0x10, 4}, {0x20, 4}};
    cr_assert_eq(decode_entries(order, ids, 5), -EINVAL, "USER after GROUP_OBJ");
    const uint16_t perm[][2] = {{1, 0x16}, {4, 4}, {0x20, 4}};
    cr_assert_eq(decode_entries(perm, ids, 3), -EINVAL, "perm beyond rwx");
    const uint16_t no_other[][2] = {{1, 6}, {4, 4}};
    cr_assert_eq(decode_entries(no_other, ids, 2), -EINVAL, "no OTHER");
    const uint16_t two_users[][2] = {{1, 6}, {2, 4}, {2, 6}, {4, 4}, {0x10, 6}, {0x20, 0}};
    uint32_t same[6] = {U, 7, 7, U, U, U};
    cr_assert_eq(decode_entries(two_users, same, 6), -EINVAL, "user 7 twice");
    uint32_t diff[6] = {U, 7, 8, U, U, U};
    cr_assert_eq(decode_entries(two_users, diff, 6), 0);
    cr_assert_eq(a.n, 6);
}

Test(acl, access_algorithm, .description = "owner, named user & mask, groups (any) & mask, other")
{
    uint32_t ids[] = {U, 2000, U, 500, 600, U, U};
    const uint16_t e[][2] = {{1, 0}, {2, 7}, {4, 1}, {8, 4}, {8, 2}, {0x10, 6}, {0x20, 1}};
    cr_assert_eq(decode_entries(e, ids, 7), 0);
    uint32_t mode = 0060 | 0001; /* owner ---, mask rw-, other --x */
    struct cn_acl_who owner = {1000, 1000, NULL, 0}, named = {2000, 9, NULL, 0};
    cr_assert_eq(cn_acl_granted(&a, 1000, 100, mode, &owner), 0, "owner: USER_OBJ only");
    cr_assert_eq(cn_acl_granted(&a, 1000, 100, mode, &named), 6, "named user & mask");
    uint32_t g[] = {500, 600};
    struct cn_acl_who both = {3000, 3000, g, 2}, none = {3000, 3000, NULL, 0};
    cr_assert_eq(cn_acl_granted(&a, 1000, 100, mode, &both), 6, "union of r and w");
    cr_assert_eq(cn_acl_granted(&a, 1000, 100, mode, &none), 1, "other");
    struct cn_acl_who owning = {3000, 100, NULL, 0};
    cr_assert_eq(cn_acl_granted(&a, 1000, 100, mode, &owning), 0, "GROUP_OBJ --x & mask rw-");
    /* without an ACL: the mode, group through a supplementary group */
    uint32_t g100[] = {100};
    struct cn_acl_who sup = {3000, 3000, g100, 1};
    cr_assert_eq(cn_acl_granted(NULL, 1000, 100, 0640, &sup), 4);
    cr_assert_eq(cn_acl_granted(NULL, 1000, 100, 0640, &none), 0);
}

Test(acl, chmod_and_create_masq, .description = "chmod sets the mask; create masks by the mode")
{
    uint32_t ids[] = {U, 2000, U, U, U};
    const uint16_t e[][2] = {{1, 7}, {2, 7}, {4, 5}, {0x10, 7}, {0x20, 5}};
    cr_assert_eq(decode_entries(e, ids, 5), 0);
    struct cn_acl def = a;
    cn_acl_chmod(&a, 0600);
    cr_assert_eq(a.e[3].perm, 0, "mask");
    cr_assert_eq(a.e[1].perm, 7, "named entry untouched");
    cr_assert_eq(a.e[2].perm, 5, "GROUP_OBJ untouched with a mask");
    cr_assert_eq(cn_acl_mode(&a), 0600);
    uint32_t mode = 0100666;
    cn_acl_create_masq(&def, &mode);
    cr_assert_eq(mode, 0100664, "mode %o", mode);
    cr_assert_eq(def.e[3].perm, 6);
    cr_assert_eq(def.e[4].perm, 4);
    /* a minimal ACL: GROUP_OBJ holds the group bits */
    const uint16_t m[][2] = {{1, 7}, {4, 7}, {0x20, 7}};
    cr_assert_eq(decode_entries(m, ids, 3), 0);
    cr_assert(cn_acl_is_minimal(&a));
    mode = 040750;
    cn_acl_create_masq(&a, &mode);
    cr_assert_eq(mode, 040750);
    cr_assert_eq(a.e[1].perm, 5);
}
