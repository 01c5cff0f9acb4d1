/*
 * fuzz_wire.c - libFuzzer target for everything that parses network bytes in
 * common/wire.c: the frame header and every message decoder.
 *
 * The first input byte picks the target: 0xFF = the header parser (then the
 * decoder named by the header's type, on the rest), 0xFE = the POSIX ACL
 * decoder of common/acl.c (SETXATTR values the master checks), otherwise the
 * byte indexes the message catalog. Properties checked beyond "no crash, no
 * overread" (ASan): the result is 0 or CN_EMALFORMED, and anything that
 * decodes re-encodes to exactly the input bytes (the encoding is canonical).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "wire.h"

static void check_decoder(uint16_t type, const uint8_t *p, size_t n)
{
    size_t sz = cn_msg_struct_size(type);
    if (!sz)
        return;
    /* An exact-size copy, so any read past the end hits ASan's redzone. */
    uint8_t *copy = malloc(n ? n : 1);
    void *m = calloc(1, sz);
    if (!copy || !m)
        abort();
    memcpy(copy, p, n);
    int rc = cn_msg_decode(type, copy, n, m);
    if (rc != 0 && rc != CN_EMALFORMED)
        abort();
    if (rc == 0) {
        struct cn_buf b = {0};
        if (cn_msg_encode(&b, type, m) != 0 || b.len != n || (n && memcmp(b.data, copy, n)))
            abort();
        cn_buf_release(&b);
    }
    cn_msg_free(type, m);
    free(m);
    free(copy);
}

/* ACL values: 0 or -EINVAL; what decodes re-encodes to a value that decodes
 * to the same entries, and the mode helpers stay within their bits. */
static void check_acl(const uint8_t *p, size_t n)
{
    static struct cn_acl a, b;
    static uint8_t out[4 + 8 * CN_ACL_MAX_ENTRIES];
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, p, n);
    int rc = cn_acl_decode(copy, n, &a);
    if (rc != 0 && rc != -EINVAL)
        abort();
    if (rc == 0) {
        size_t len = cn_acl_encode(&a, out);
        if (len != n || cn_acl_decode(out, len, &b) != 0 || b.n != a.n ||
            memcmp(a.e, b.e, a.n * sizeof(a.e[0])))
            abort();
        uint32_t mode = n > 4 ? copy[4] | (uint32_t)copy[5] << 8 : 0644;
        struct cn_acl_who who = {n > 6 ? copy[6] : 0, n > 7 ? copy[7] : 0, NULL, 0};
        if (cn_acl_granted(&a, 1, 1, mode, &who) > 7 || cn_acl_mode(&a) > 0777)
            abort();
        if (a.n) {
            cn_acl_chmod(&a, mode);
            if (cn_acl_mode(&a) != (mode & 0777))
                abort();
            cn_acl_create_masq(&b, &mode);
            if ((mode & 0777) != cn_acl_mode(&b))
                abort();
        }
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    if (sel == 0xFF) {
        if (size < CN_WIRE_HDR_SIZE)
            return 0;
        struct cn_frame_hdr h;
        int rc = cn_wire_hdr_unpack(data, &h);
        if (rc == 0 && h.len <= size - CN_WIRE_HDR_SIZE)
            check_decoder(h.type, data + CN_WIRE_HDR_SIZE, h.len);
        return 0;
    }
    if (sel == 0xFE) {
        check_acl(data, size);
        return 0;
    }
    check_decoder(cn_msg_type_at(sel % cn_msg_count()), data, size);
    return 0;
}
