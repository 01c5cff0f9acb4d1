/*
 * layout.c - layout strings ("copies=N", "ec=K+M") and chunk geometry.
 *
 * The parser is strict (decimal, no spaces, no signs, no leading zeros) so
 * that every accepted string prints back unchanged: a layout string is a
 * name an operator types and the master stores, and two spellings of one
 * layout would be two names.
 *
 * Geometry follows DESIGN.md: block b of a chunk is data part b mod K, row
 * b div K. A COPIES layout is treated as K = 1 (every copy holds every
 * block). A part's blocks are stored back to back, so a part's bytes for a
 * range of rows are one contiguous range, and the bytes of a part in rows
 * [0, R) are min(part size, R * EC_BLOCK_SIZE).
 */
#include "ec_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define COPIES_HELP "expected copies=N with 1 <= N <= 8"
#define RS_HELP     "expected ec=K+M with 2 <= K <= 32, 1 <= M <= 8, K+M <= 40"

void ec_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Describe character c for a message: printable as 'c', others as \xNN. */
static const char *chardesc(char buf[8], unsigned char c)
{
    if (c == '\0')
        snprintf(buf, 8, "end");
    else if (isprint(c))
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "\\x%02x", c);
    return buf;
}

/*
 * Parse a decimal number at *pp (no sign, no leading zero). Returns 0 and
 * advances *pp; -1 if there is no digit; -2 on a leading zero. Values above
 * 999999 saturate (they are out of every range anyway).
 */
static int parse_num(const char **pp, unsigned *out)
{
    const char *p = *pp;
    unsigned v = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    if (p[0] == '0' && isdigit((unsigned char)p[1]))
        return -2;
    while (isdigit((unsigned char)*p)) {
        if (v < 1000000)
            v = v * 10 + (unsigned)(*p - '0');
        p++;
    }
    *pp = p;
    *out = v;
    return 0;
}

int ec_layout_check(const struct ec_layout *l, char *err, size_t errlen)
{
    if (l == NULL) {
        ec_seterr(err, errlen, "layout: NULL");
        return -EINVAL;
    }
    if (l->type == EC_LAYOUT_COPIES) {
        if (l->copies < 1 || l->copies > EC_COPIES_MAX) {
            ec_seterr(err, errlen, "layout copies=%u: copy count out of range (%s)", l->copies,
                      COPIES_HELP);
            return -EINVAL;
        }
        return 0;
    }
    if (l->type != EC_LAYOUT_RS) {
        ec_seterr(err, errlen, "layout: unknown type %d (expected copies=N or ec=K+M)",
                  (int)l->type);
        return -EINVAL;
    }
    if (l->k < EC_K_MIN || l->k > EC_K_MAX) {
        ec_seterr(err, errlen, "layout ec=%u+%u: data part count K=%u out of range (%s)", l->k,
                  l->m, l->k, RS_HELP);
        return -EINVAL;
    }
    if (l->m < EC_M_MIN || l->m > EC_M_MAX) {
        ec_seterr(err, errlen, "layout ec=%u+%u: parity part count M=%u out of range (%s)", l->k,
                  l->m, l->m, RS_HELP);
        return -EINVAL;
    }
    if (l->k + l->m > EC_PARTS_MAX) {
        ec_seterr(err, errlen, "layout ec=%u+%u: K+M=%u parts is more than %u (%s)", l->k, l->m,
                  l->k + l->m, EC_PARTS_MAX, RS_HELP);
        return -EINVAL;
    }
    return 0;
}

int ec_layout_parse(struct ec_layout *out, const char *text, char *err, size_t errlen)
{
    struct ec_layout l = {0};
    const char *p;
    char cd[8];
    int r;

    if (out == NULL || text == NULL) {
        ec_seterr(err, errlen, "layout: NULL string");
        return -EINVAL;
    }
    if (strncmp(text, "copies=", 7) == 0) {
        p = text + 7;
        l.type = EC_LAYOUT_COPIES;
        r = parse_num(&p, &l.copies);
        if (r == -1) {
            ec_seterr(err, errlen,
                      "layout \"%.40s\": missing copy count at offset %td, found %s (%s)", text,
                      p - text, chardesc(cd, (unsigned char)*p), COPIES_HELP);
            return -EINVAL;
        }
        if (r == -2) {
            ec_seterr(err, errlen, "layout \"%.40s\": copy count has a leading zero (%s)", text,
                      COPIES_HELP);
            return -EINVAL;
        }
    } else if (strncmp(text, "ec=", 3) == 0) {
        p = text + 3;
        l.type = EC_LAYOUT_RS;
        r = parse_num(&p, &l.k);
        if (r == -1) {
            ec_seterr(err, errlen,
                      "layout \"%.40s\": missing data part count K at offset %td, found %s (%s)",
                      text, p - text, chardesc(cd, (unsigned char)*p), RS_HELP);
            return -EINVAL;
        }
        if (r == -2) {
            ec_seterr(err, errlen, "layout \"%.40s\": K has a leading zero (%s)", text, RS_HELP);
            return -EINVAL;
        }
        if (*p != '+') {
            ec_seterr(err, errlen,
                      "layout \"%.40s\": expected '+' after K at offset %td, found %s (%s)", text,
                      p - text, chardesc(cd, (unsigned char)*p), RS_HELP);
            return -EINVAL;
        }
        p++;
        r = parse_num(&p, &l.m);
        if (r == -1) {
            ec_seterr(err, errlen,
                      "layout \"%.40s\": missing parity part count M at offset %td, found %s (%s)",
                      text, p - text, chardesc(cd, (unsigned char)*p), RS_HELP);
            return -EINVAL;
        }
        if (r == -2) {
            ec_seterr(err, errlen, "layout \"%.40s\": M has a leading zero (%s)", text, RS_HELP);
            return -EINVAL;
        }
    } else {
        ec_seterr(err, errlen,
                  "layout \"%.40s\": unknown layout type (expected copies=N or ec=K+M)", text);
        return -EINVAL;
    }
    if (*p != '\0') {
        ec_seterr(err, errlen, "layout \"%.40s\": unexpected %s at offset %td (%s)", text,
                  chardesc(cd, (unsigned char)*p), p - text,
                  l.type == EC_LAYOUT_COPIES ? COPIES_HELP : RS_HELP);
        return -EINVAL;
    }
    r = ec_layout_check(&l, err, errlen);
    if (r < 0)
        return r;
    *out = l;
    return 0;
}

int ec_layout_print(const struct ec_layout *l, char *buf, size_t size)
{
    int n;
    if (ec_layout_check(l, NULL, 0) < 0 || (buf == NULL && size > 0))
        return -EINVAL;
    if (l->type == EC_LAYOUT_COPIES)
        n = snprintf(buf, size, "copies=%u", l->copies);
    else
        n = snprintf(buf, size, "ec=%u+%u", l->k, l->m);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= size)
        return -ENOSPC;
    return n;
}

unsigned ec_layout_nparts(const struct ec_layout *l)
{
    if (ec_layout_check(l, NULL, 0) < 0)
        return 0;
    return l->type == EC_LAYOUT_COPIES ? l->copies : l->k + l->m;
}

/* Data parts as geometry sees them (COPIES: 1); 0 if the layout is invalid. */
static uint64_t geom_k(const struct ec_layout *l)
{
    if (ec_layout_check(l, NULL, 0) < 0)
        return 0;
    return l->type == EC_LAYOUT_COPIES ? 1 : l->k;
}

int ec_geom_locate(const struct ec_layout *l, uint64_t chunk_off, struct ec_loc *loc)
{
    uint64_t k = geom_k(l), b;
    if (k == 0 || loc == NULL || chunk_off >= EC_CHUNK_SIZE)
        return -EINVAL;
    b = chunk_off / EC_BLOCK_SIZE;
    loc->part = (unsigned)(b % k);
    loc->row = (uint32_t)(b / k);
    loc->offset = (uint32_t)(chunk_off % EC_BLOCK_SIZE);
    return 0;
}

int ec_geom_offset(const struct ec_layout *l, const struct ec_loc *loc, uint64_t *chunk_off)
{
    uint64_t k = geom_k(l), off;
    if (k == 0 || loc == NULL || chunk_off == NULL || loc->part >= k ||
        loc->offset >= EC_BLOCK_SIZE)
        return -EINVAL;
    off = ((uint64_t)loc->row * k + loc->part) * EC_BLOCK_SIZE + loc->offset;
    if (off >= EC_CHUNK_SIZE)
        return -EINVAL;
    *chunk_off = off;
    return 0;
}

uint32_t ec_geom_rows(const struct ec_layout *l, uint64_t chunk_len)
{
    uint64_t k = geom_k(l), nblocks;
    if (k == 0)
        return 0;
    nblocks = (chunk_len + EC_BLOCK_SIZE - 1) / EC_BLOCK_SIZE;
    return (uint32_t)((nblocks + k - 1) / k);
}

/* Stored size of data part p (< k) of a chunk of len bytes. */
static uint64_t data_part_size(uint64_t k, uint64_t len, uint64_t p)
{
    uint64_t nfull = len / EC_BLOCK_SIZE, rem = len % EC_BLOCK_SIZE;
    uint64_t nblk = nfull / k + (p < nfull % k ? 1 : 0);
    return nblk * EC_BLOCK_SIZE + (rem != 0 && nfull % k == p ? rem : 0);
}

int ec_geom_part_size(const struct ec_layout *l, uint64_t chunk_len, unsigned part, uint64_t *size)
{
    uint64_t k = geom_k(l);
    if (k == 0 || size == NULL || chunk_len > EC_CHUNK_SIZE || part >= ec_layout_nparts(l))
        return -EINVAL;
    if (l->type == EC_LAYOUT_COPIES)
        *size = chunk_len;
    else
        *size = data_part_size(k, chunk_len, part < k ? part : 0);
    return 0;
}

int ec_geom_part_lens(const struct ec_layout *l, uint64_t chunk_len, uint32_t row0, uint32_t nrows,
                      size_t lens[])
{
    uint64_t k = geom_k(l), lo, hi, sz;
    unsigned n = ec_layout_nparts(l);
    if (k == 0 || lens == NULL || chunk_len > EC_CHUNK_SIZE)
        return -EINVAL;
    lo = (uint64_t)row0 * EC_BLOCK_SIZE;
    hi = ((uint64_t)row0 + nrows) * EC_BLOCK_SIZE;
    for (unsigned p = 0; p < n; p++) {
        if (l->type == EC_LAYOUT_COPIES)
            sz = chunk_len;
        else
            sz = data_part_size(k, chunk_len, p < k ? p : 0);
        lens[p] = (size_t)((sz < hi ? sz : hi) - (sz < lo ? sz : lo));
    }
    return 0;
}

int ec_geom_range_parts(const struct ec_layout *l, uint64_t off, uint64_t len, uint64_t *mask)
{
    uint64_t k = geom_k(l), b1, b2, m = 0;
    if (k == 0 || mask == NULL || off > EC_CHUNK_SIZE || len > EC_CHUNK_SIZE - off)
        return -EINVAL;
    if (len > 0) {
        b1 = off / EC_BLOCK_SIZE;
        b2 = (off + len - 1) / EC_BLOCK_SIZE;
        if (b2 - b1 + 1 >= k)
            m = k == 64 ? ~0ull : (1ull << k) - 1;
        else
            for (uint64_t b = b1; b <= b2; b++)
                m |= 1ull << (b % k);
    }
    *mask = m;
    return 0;
}

int ec_geom_part_range(const struct ec_layout *l, uint64_t off, uint64_t len, unsigned part,
                       uint64_t *part_off, uint64_t *part_len)
{
    uint64_t k = geom_k(l), b1, b2, first, last, start, end;
    if (k == 0 || part_off == NULL || part_len == NULL || part >= k || off > EC_CHUNK_SIZE ||
        len > EC_CHUNK_SIZE - off)
        return -EINVAL;
    *part_off = 0;
    *part_len = 0;
    if (len == 0)
        return 0;
    b1 = off / EC_BLOCK_SIZE;
    b2 = (off + len - 1) / EC_BLOCK_SIZE;
    first = b1 + (part + k - b1 % k) % k; /* first block >= b1 on this part */
    if (first > b2)
        return 0;
    last = b2 - (b2 % k + k - part) % k; /* last block <= b2 on this part */
    start = (first / k) * EC_BLOCK_SIZE + (first == b1 ? off % EC_BLOCK_SIZE : 0);
    if (last == b2)
        end = (last / k) * EC_BLOCK_SIZE + (off + len - 1) % EC_BLOCK_SIZE + 1;
    else
        end = (last / k + 1) * EC_BLOCK_SIZE;
    *part_off = start;
    *part_len = end - start;
    return 0;
}
