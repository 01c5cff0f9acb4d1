/* test_layout.c - layout strings parse/print exactly, geometry matches a brute-force model. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ec.h"
#include "ec_test_util.h"

static struct ec_layout parse_ok(const char *s)
{
    struct ec_layout l;
    char err[256] = "";
    int r = ec_layout_parse(&l, s, err, sizeof(err));
    cr_assert_eq(r, 0, "parse \"%s\": %d %s", s, r, err);
    return l;
}

static void parse_bad(const char *s, const char *needle)
{
    struct ec_layout l;
    char err[256] = "";
    int r = ec_layout_parse(&l, s, err, sizeof(err));
    cr_assert_eq(r, -EINVAL, "parse \"%s\" should fail, got %d", s, r);
    cr_assert(strstr(err, needle) != NULL, "parse \"%s\": message \"%s\" lacks \"%s\"", s, err,
              needle);
}

Test(layout, round_trip_every_valid_layout)
{
    /* Every valid layout prints back exactly as parsed. */
    char in[32], out[EC_LAYOUT_STR];
    for (unsigned n = 1; n <= EC_COPIES_MAX; n++) {
        snprintf(in, sizeof(in), "copies=%u", n);
        struct ec_layout l = parse_ok(in);
        cr_assert_eq(l.type, EC_LAYOUT_COPIES);
        cr_assert_eq(l.copies, n);
        cr_assert_eq(ec_layout_nparts(&l), n);
        cr_assert_eq(ec_layout_print(&l, out, sizeof(out)), (int)strlen(in));
        cr_assert_str_eq(out, in);
    }
    for (unsigned k = EC_K_MIN; k <= EC_K_MAX; k++)
        for (unsigned m = EC_M_MIN; m <= EC_M_MAX && k + m <= EC_PARTS_MAX; m++) {
            snprintf(in, sizeof(in), "ec=%u+%u", k, m);
            struct ec_layout l = parse_ok(in);
            cr_assert_eq(l.type, EC_LAYOUT_RS);
            cr_assert_eq(l.k, k);
            cr_assert_eq(l.m, m);
            cr_assert_eq(ec_layout_nparts(&l), k + m);
            cr_assert_eq(ec_layout_print(&l, out, sizeof(out)), (int)strlen(in));
            cr_assert_str_eq(out, in);
        }
}

Test(layout, bad_strings_get_precise_errors)
{
    /* Each kind of mistake is named in the message. */
    parse_bad("", "unknown layout type");
    parse_bad("raid5", "unknown layout type");
    parse_bad("copies=", "missing copy count");
    parse_bad("copies=0", "out of range");
    parse_bad("copies=9", "out of range");
    parse_bad("copies=02", "leading zero");
    parse_bad("copies=2x", "unexpected 'x' at offset 8");
    parse_bad("copies=-1", "missing copy count");
    parse_bad("copies=99999999999999999999", "out of range");
    parse_bad("ec=", "missing data part count K");
    parse_bad("ec=4", "expected '+' after K at offset 4, found end");
    parse_bad("ec=4-2", "expected '+' after K at offset 4, found '-'");
    parse_bad("ec=4+", "missing parity part count M");
    parse_bad("ec=1+1", "K=1 out of range");
    parse_bad("ec=33+1", "K=33 out of range");
    parse_bad("ec=4+0", "M=0 out of range");
    parse_bad("ec=4+9", "M=9 out of range");
    parse_bad("ec=32+9", "M=9 out of range");
}

Test(layout, limits_and_print_errors)
{
    /* K+M = 40 is the largest accepted; print reports a short buffer. */
    struct ec_layout l;
    char err[256], small[4];
    cr_assert_eq(ec_layout_parse(&l, "ec=32+8", err, sizeof(err)), 0, "%s", err);
    l.k = 33;
    cr_assert_eq(ec_layout_check(&l, err, sizeof(err)), -EINVAL);
    l = parse_ok("ec=4+2");
    cr_assert_eq(ec_layout_print(&l, small, sizeof(small)), -ENOSPC);
    cr_assert_eq(ec_layout_parse(&l, "ec=4+2 ", err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "unexpected ' ' at offset 6") != NULL, "%s", err);
    cr_assert_eq(ec_layout_parse(&l, "ec=4+\x01", err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "\\x01") != NULL, "%s", err);
    /* A NULL error buffer is allowed. */
    cr_assert_eq(ec_layout_parse(&l, "bogus", NULL, 0), -EINVAL);
}

/* Brute-force model of where chunk byte x lives. */
static void model(unsigned k, uint64_t x, unsigned *part, uint64_t *part_off)
{
    uint64_t b = x / EC_BLOCK_SIZE;
    *part = (unsigned)(b % k);
    *part_off = (b / k) * EC_BLOCK_SIZE + x % EC_BLOCK_SIZE;
}

Test(layout, geometry_matches_model)
{
    /* locate/offset are inverse; part sizes, part lens, range parts and part
     * ranges agree with a per-block brute-force model on random inputs. */
    uint64_t seed = test_seed(), st = seed;
    const char *layouts[] = {"copies=3", "ec=2+1",  "ec=4+2", "ec=6+3",
                             "ec=8+3",   "ec=10+4", "ec=32+8"};
    for (size_t li = 0; li < sizeof(layouts) / sizeof(layouts[0]); li++) {
        struct ec_layout l = parse_ok(layouts[li]);
        unsigned k = l.type == EC_LAYOUT_COPIES ? 1 : l.k, n = ec_layout_nparts(&l);
        for (int iter = 0; iter < 200; iter++) {
            uint64_t off = rnd(&st) % EC_CHUNK_SIZE, back;
            struct ec_loc loc;
            unsigned mp;
            uint64_t mo;
            cr_assert_eq(ec_geom_locate(&l, off, &loc), 0);
            model(k, off, &mp, &mo);
            cr_assert(loc.part == mp && (uint64_t)loc.row * EC_BLOCK_SIZE + loc.offset == mo,
                      "seed=%llu %s off=%llu", (unsigned long long)seed, layouts[li],
                      (unsigned long long)off);
            cr_assert_eq(ec_geom_offset(&l, &loc, &back), 0);
            cr_assert_eq(back, off, "seed=%llu", (unsigned long long)seed);

            /* Chunk length: often near block/row boundaries. */
            uint64_t len;
            switch (iter % 4) {
            case 0:
                len = rnd(&st) % (EC_CHUNK_SIZE + 1);
                break;
            case 1:
                len = rnd_range(&st, 0, 3) * k * EC_BLOCK_SIZE + rnd_range(&st, 0, 2) - 1;
                len = len > EC_CHUNK_SIZE ? 0 : len;
                break;
            default:
                len = rnd(&st) % (5ull * k * EC_BLOCK_SIZE);
            }
            uint64_t sizes[EC_PARTS_MAX] = {0}, total = 0;
            uint32_t rows = ec_geom_rows(&l, len);
            for (unsigned p = 0; p < n; p++) {
                cr_assert_eq(ec_geom_part_size(&l, len, p, &sizes[p]), 0);
                cr_assert(sizes[p] <= (uint64_t)rows * EC_BLOCK_SIZE);
            }
            if (l.type == EC_LAYOUT_RS) {
                for (unsigned p = 0; p < k; p++)
                    total += sizes[p];
                cr_assert_eq(total, len, "seed=%llu %s len=%llu", (unsigned long long)seed,
                             layouts[li], (unsigned long long)len);
                for (unsigned p = k; p < n; p++)
                    cr_assert_eq(sizes[p], sizes[0]);
                if (len > 0) {
                    /* The last byte lives in the last row, at the end of its part. */
                    model(k, len - 1, &mp, &mo);
                    cr_assert_eq(sizes[mp], mo + 1, "seed=%llu", (unsigned long long)seed);
                    cr_assert_eq((mo / EC_BLOCK_SIZE) + 1, rows);
                }
            } else {
                for (unsigned p = 0; p < n; p++)
                    cr_assert_eq(sizes[p], len);
            }
            /* part_lens over a row range = difference of prefix sizes. */
            uint32_t r0 = (uint32_t)rnd_range(&st, 0, rows + 1);
            uint32_t nr = (uint32_t)rnd_range(&st, 0, rows + 1);
            size_t lens[EC_PARTS_MAX];
            cr_assert_eq(ec_geom_part_lens(&l, len, r0, nr, lens), 0);
            for (unsigned p = 0; p < n; p++) {
                uint64_t a = (uint64_t)r0 * EC_BLOCK_SIZE, b = (uint64_t)(r0 + nr) * EC_BLOCK_SIZE;
                uint64_t want = (sizes[p] < b ? sizes[p] : b) - (sizes[p] < a ? sizes[p] : a);
                cr_assert_eq(lens[p], want, "seed=%llu part %u", (unsigned long long)seed, p);
            }

            /* Byte range -> parts and per-part ranges, against the model. */
            uint64_t roff = rnd(&st) % EC_CHUNK_SIZE;
            uint64_t rlen =
                rnd(&st) % (iter % 2 ? 4 * EC_BLOCK_SIZE : (uint64_t)k * 3 * EC_BLOCK_SIZE);
            if (rlen > EC_CHUNK_SIZE - roff)
                rlen = EC_CHUNK_SIZE - roff;
            uint64_t mask, mmask = 0, lo[EC_PARTS_MAX], hi[EC_PARTS_MAX];
            for (unsigned p = 0; p < k; p++)
                lo[p] = UINT64_MAX, hi[p] = 0;
            /* Walk block by block (ends are enough: a part's bytes are contiguous). */
            for (uint64_t x = roff; x < roff + rlen;) {
                uint64_t bend = (x / EC_BLOCK_SIZE + 1) * EC_BLOCK_SIZE;
                uint64_t e = bend < roff + rlen ? bend : roff + rlen;
                model(k, x, &mp, &mo);
                mmask |= 1ull << mp;
                if (mo < lo[mp])
                    lo[mp] = mo;
                if (mo + (e - x) > hi[mp])
                    hi[mp] = mo + (e - x);
                x = e;
            }
            cr_assert_eq(ec_geom_range_parts(&l, roff, rlen, &mask), 0);
            cr_assert_eq(mask, mmask, "seed=%llu %s off=%llu len=%llu", (unsigned long long)seed,
                         layouts[li], (unsigned long long)roff, (unsigned long long)rlen);
            for (unsigned p = 0; p < k; p++) {
                uint64_t po, pl;
                cr_assert_eq(ec_geom_part_range(&l, roff, rlen, p, &po, &pl), 0);
                if (!(mmask >> p & 1))
                    cr_assert_eq(pl, 0, "seed=%llu", (unsigned long long)seed);
                else
                    cr_assert(po == lo[p] && pl == hi[p] - lo[p],
                              "seed=%llu %s part %u: got [%llu,+%llu) want [%llu,%llu)",
                              (unsigned long long)seed, layouts[li], p, (unsigned long long)po,
                              (unsigned long long)pl, (unsigned long long)lo[p],
                              (unsigned long long)hi[p]);
            }
        }
    }
}

Test(layout, geometry_rejects_out_of_range)
{
    /* Offsets beyond a chunk and bad part indexes are -EINVAL. */
    struct ec_layout l = parse_ok("ec=4+2"), bad = {.type = EC_LAYOUT_RS, .k = 1, .m = 1};
    struct ec_loc loc = {.part = 4};
    uint64_t v, v2;
    size_t lens[8];
    cr_assert_eq(ec_geom_locate(&l, EC_CHUNK_SIZE, &loc), -EINVAL);
    cr_assert_eq(ec_geom_offset(&l, &loc, &v), -EINVAL);
    cr_assert_eq(ec_geom_part_size(&l, EC_CHUNK_SIZE + 1ull, 0, &v), -EINVAL);
    cr_assert_eq(ec_geom_part_size(&l, 100, 6, &v), -EINVAL);
    cr_assert_eq(ec_geom_range_parts(&l, EC_CHUNK_SIZE - 1, 2, &v), -EINVAL);
    cr_assert_eq(ec_geom_part_range(&l, 0, 10, 4, &v, &v2), -EINVAL);
    cr_assert_eq(ec_geom_part_lens(&bad, 10, 0, 1, lens), -EINVAL);
    cr_assert_eq(ec_geom_rows(&l, EC_CHUNK_SIZE), EC_CHUNK_SIZE / EC_BLOCK_SIZE / 4);
    cr_assert_eq(ec_geom_rows(&l, 0), 0);
    cr_assert_eq(ec_geom_rows(&l, 1), 1);
}
