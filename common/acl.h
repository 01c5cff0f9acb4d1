/*
 * acl.h - POSIX ACLs in the Linux xattr format (system.posix_acl_access,
 * system.posix_acl_default): a bounds-checked decoder, an encoder, and the
 * permission rules the master applies (docs/master.md "ACLs").
 *
 * Value format (little-endian): version u32 (2), then entries of
 * {tag u16, perm u16, id u32}. The decoder accepts only what the kernel's
 * posix_acl_valid() accepts: entries in tag order (USER_OBJ, USER..., GROUP_OBJ,
 * GROUP..., MASK, OTHER), one each of USER_OBJ/GROUP_OBJ/OTHER, a MASK when
 * any named entry exists, no named id twice, perm bits within rwx.
 *
 * The mode is the authority for the owner, group-class and other bits; an
 * access ACL keeps its USER_OBJ, MASK (or GROUP_OBJ) and OTHER entries equal
 * to them (cn_acl_chmod), and evaluation reads those three from the mode.
 */
#ifndef CAIRN_ACL_H
#define CAIRN_ACL_H

#include <stddef.h>
#include <stdint.h>

#define CN_ACL_XATTR_ACCESS  "system.posix_acl_access"
#define CN_ACL_XATTR_DEFAULT "system.posix_acl_default"
#define CN_ACL_VERSION       2u
#define CN_ACL_MAX_ENTRIES   256u /* more is refused (EINVAL): 2 KiB of xattr value */

enum {
    CN_ACL_USER_OBJ = 0x01,
    CN_ACL_USER = 0x02,
    CN_ACL_GROUP_OBJ = 0x04,
    CN_ACL_GROUP = 0x08,
    CN_ACL_MASK = 0x10,
    CN_ACL_OTHER = 0x20,
};

struct cn_acl_entry {
    uint16_t tag, perm;
    uint32_t id; /* uid or gid of USER/GROUP entries; ignored otherwise */
};

struct cn_acl {
    uint32_t n;
    struct cn_acl_entry e[CN_ACL_MAX_ENTRIES];
};

/* The caller of a permission check: uid, primary gid and supplementary
 * groups (borrowed for the call). */
struct cn_acl_who {
    uint32_t uid, gid;
    const uint32_t *groups;
    uint32_t ngroups;
};

/* Decode and validate len bytes. 0, or -EINVAL for anything malformed
 * (never reads outside buf[0..len)). A value of the header alone decodes
 * to n = 0 (an empty ACL: "no ACL" for a default ACL). Any thread. */
int cn_acl_decode(const void *buf, size_t len, struct cn_acl *out);
/* Bytes cn_acl_encode writes for a. */
size_t cn_acl_size(const struct cn_acl *a);
/* Encode into buf (at least cn_acl_size bytes). Returns the size. */
size_t cn_acl_encode(const struct cn_acl *a, uint8_t *buf);
/* Only USER_OBJ, GROUP_OBJ and OTHER: the mode says it all. */
int cn_acl_is_minimal(const struct cn_acl *a);
/* The 0777 bits an access ACL implies (group bits = MASK, else GROUP_OBJ). */
uint32_t cn_acl_mode(const struct cn_acl *a);
/* chmod: set USER_OBJ, MASK (or GROUP_OBJ) and OTHER from mode's 0777 bits. */
void cn_acl_chmod(struct cn_acl *a, uint32_t mode);
/* Creation from a parent's default ACL: turn *a (a copy of the default)
 * into the new inode's access ACL, masked by the create mode (like the
 * kernel's posix_acl_create_masq), and set *mode's 0777 bits from it. */
void cn_acl_create_masq(struct cn_acl *a, uint32_t *mode);
/* The rwx bits (0..7) the standard algorithm grants `who` on an inode of
 * owner/group/mode with access ACL a (NULL: the mode alone). Root is not
 * special here. */
unsigned cn_acl_granted(const struct cn_acl *a, uint32_t owner, uint32_t group, uint32_t mode,
                        const struct cn_acl_who *who);

#endif
