/*
 * test_cls.c - storage classes (common/cls.c): every SPEC form of cls.h
 * parses to the fields it names, every error names its token and column,
 * label expressions match by their truth tables, durations convert both
 * ways, and SPEC text and class records round-trip; the record decoder
 * refuses every out-of-range field, every truncation, and survives every
 * single-byte corruption.
 *
 * The randomised round trips print their seed; rerun one with
 * CLS_SEED=<seed> ./test_cls.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cls.h"

static char err[1024];

/* ---- helpers ------------------------------------------------------------ */

static struct cn_cls_state parse_ok(const char *spec, int state)
{
    struct cn_cls_state s;
    err[0] = '\0';
    int rc = cn_cls_spec_parse(spec, state, &s, err, sizeof(err));
    cr_assert_eq(rc, 0, "spec '%s' (%s): rc %d, %s", spec, cn_cls_state_name(state), rc, err);
    return s;
}

/* The spec fails with `"TOKEN" at column COL: ...MSG...`, and leaves out alone. */
static void parse_err(const char *spec, int state, size_t col, const char *tok, const char *msg)
{
    struct cn_cls_state s;
    char want[512];
    memset(&s, 0xab, sizeof(s));
    err[0] = '\0';
    int rc = cn_cls_spec_parse(spec, state, &s, err, sizeof(err));
    cr_assert_eq(rc, -EINVAL, "spec '%s' (%s): rc %d, want -EINVAL", spec, cn_cls_state_name(state),
                 rc);
    snprintf(want, sizeof(want), "\"%s\" at column %zu: ", tok, col);
    cr_assert(strncmp(err, want, strlen(want)) == 0, "spec '%s': error '%s', want prefix '%s'",
              spec, err, want);
    cr_assert(strstr(err, msg) != NULL, "spec '%s': error '%s' lacks '%s'", spec, err, msg);
    for (size_t i = 0; i < sizeof(s); i++)
        cr_assert_eq(((unsigned char *)&s)[i], 0xab, "spec '%s': out changed on error", spec);
}

static void lexpr_err(const char *text, size_t col, const char *msg)
{
    struct cn_lexpr e;
    char want[512];
    err[0] = '\0';
    int rc = cn_lexpr_parse(text, &e, err, sizeof(err));
    cr_assert_eq(rc, -EINVAL, "'%s': rc %d, want -EINVAL", text, rc);
    snprintf(want, sizeof(want), "at column %zu: ", col);
    cr_assert(strstr(err, want) != NULL, "'%s': error '%s', want '%s'", text, err, want);
    cr_assert(strstr(err, msg) != NULL, "'%s': error '%s' lacks '%s'", text, err, msg);
    cr_assert_eq(cn_lexpr_match(&e, 0, "a"), 0, "a failed parse never matches");
}

static int state_eq(const struct cn_cls_state *a, const struct cn_cls_state *b)
{
    return a->layout.kind == b->layout.kind && a->layout.k == b->layout.k &&
           a->layout.m == b->layout.m && a->mode == b->mode && a->compress == b->compress &&
           a->after_s == b->after_s && strcmp(a->labels, b->labels) == 0;
}

static int cls_eq(const struct cn_cls *a, const struct cn_cls *b)
{
    if (a->builtin != b->builtin || strcmp(a->name, b->name) != 0)
        return 0;
    for (int i = 0; i < CN_ST_N; i++)
        if (!state_eq(&a->st[i], &b->st[i]))
            return 0;
    return 1;
}

static unsigned seed_get(void)
{
    const char *s = getenv("CLS_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "test_cls: seed %u (rerun with CLS_SEED=%u)\n", seed, seed);
    return seed;
}

/* ---- layouts ------------------------------------------------------------ */

Test(cls, layout_parse_and_print, .description = "copies=N and ec=K+M parse exactly, in range")
{
    static const struct {
        const char *s;
        uint8_t kind, k, m;
        unsigned parts, spare;
    } ok[] = {
        {"copies=1", CN_LAYOUT_COPIES, 1, 0, 1, 0},     {"copies=2", CN_LAYOUT_COPIES, 2, 0, 2, 1},
        {"copies=16", CN_LAYOUT_COPIES, 16, 0, 16, 15}, {"ec=1+1", CN_LAYOUT_EC, 1, 1, 2, 1},
        {"ec=4+2", CN_LAYOUT_EC, 4, 2, 6, 2},           {"ec=8+3", CN_LAYOUT_EC, 8, 3, 11, 3},
        {"ec=39+1", CN_LAYOUT_EC, 39, 1, 40, 1},        {"ec=20+20", CN_LAYOUT_EC, 20, 20, 40, 20}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct cn_layout l;
        char buf[16];
        cr_assert_eq(cn_layout_parse(ok[i].s, &l), 0, "%s", ok[i].s);
        cr_assert(l.kind == ok[i].kind && l.k == ok[i].k && l.m == ok[i].m, "%s: %u %u %u", ok[i].s,
                  l.kind, l.k, l.m);
        cr_assert_eq(cn_layout_parts(&l), ok[i].parts, "%s", ok[i].s);
        cr_assert_eq(cn_layout_spare(&l), ok[i].spare, "%s", ok[i].s);
        cr_assert_str_eq(cn_layout_str(&l, buf, sizeof(buf)), ok[i].s);
    }
    static const char *const bad[] = {"",
                                      "copies=",
                                      "copies=0",
                                      "copies=17",
                                      "copies=-1",
                                      "copies=+2",
                                      "copies=2x",
                                      "copies= 2",
                                      "COPIES=2",
                                      "copy=2",
                                      "ec=4",
                                      "ec=4+",
                                      "ec=+2",
                                      "ec=0+2",
                                      "ec=4+0",
                                      "ec=21+20",
                                      "ec=4+2+1",
                                      "ec=4-2",
                                      "ec=4+2 ",
                                      "ec=99999999999999999999+1",
                                      "copies=99999999999999999999",
                                      "none"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cn_layout l = {9, 9, 9};
        cr_assert_eq(cn_layout_parse(bad[i], &l), -EINVAL, "'%s' parsed", bad[i]);
        cr_assert_eq(l.kind, 9, "'%s': out changed", bad[i]);
    }
    struct cn_layout none = {0};
    char buf[16];
    cr_assert_str_eq(cn_layout_str(&none, buf, sizeof(buf)), "none");
    cr_assert_eq(cn_layout_parts(&none), 0);
    cr_assert_eq(cn_layout_spare(&none), 0);
}

/* ---- SPEC parsing ------------------------------------------------------- */

Test(cls, spec_examples, .description = "the SPECs of the brief parse to the fields they name")
{
    struct cn_cls_state s = parse_ok("copies=2 labels=ssd", CN_ST_CREATE);
    cr_assert(s.layout.kind == CN_LAYOUT_COPIES && s.layout.k == 2 && s.layout.m == 0);
    cr_assert_str_eq(s.labels, "ssd");
    cr_assert_eq(s.mode, CN_MODE_DEFAULT);
    cr_assert_eq(s.compress, CN_COMPRESS_NONE);
    cr_assert_eq(s.after_s, 0);

    s = parse_ok("ec=4+2 labels=usbhdd", CN_ST_KEEP);
    cr_assert(s.layout.kind == CN_LAYOUT_EC && s.layout.k == 4 && s.layout.m == 2);
    cr_assert_str_eq(s.labels, "usbhdd");

    s = parse_ok("copies=3 labels=ssd,ssd,backup", CN_ST_CREATE);
    cr_assert_eq(s.layout.k, 3);
    cr_assert_str_eq(s.labels, "ssd,ssd,backup");

    s = parse_ok("copies=2 mode=strict", CN_ST_TRASH);
    cr_assert_eq(s.mode, CN_MODE_STRICT);
    cr_assert_str_eq(s.labels, "");

    s = parse_ok("ec=8+3 labels=hdd|ssd mode=loose compress=zstd after=2s", CN_ST_ARCHIVE);
    cr_assert(s.layout.kind == CN_LAYOUT_EC && s.layout.k == 8 && s.layout.m == 3);
    cr_assert_str_eq(s.labels, "hdd|ssd");
    cr_assert_eq(s.mode, CN_MODE_LOOSE);
    cr_assert_eq(s.compress, CN_COMPRESS_ZSTD);
    cr_assert_eq(s.after_s, 2);
}

Test(cls, spec_every_form,
     .description = "every key and value form of cls.h, any order, any blanks")
{
    struct cn_cls_state s;
    for (int st = 0; st < CN_ST_N; st++) {
        if (st == CN_ST_ARCHIVE)
            continue;
        s = parse_ok("copies=1", st);
        cr_assert(s.layout.kind == CN_LAYOUT_COPIES && s.layout.k == 1);
        s = parse_ok("copies=16", st);
        cr_assert_eq(s.layout.k, 16);
        s = parse_ok("ec=1+1", st);
        cr_assert(s.layout.kind == CN_LAYOUT_EC && s.layout.k == 1 && s.layout.m == 1);
        s = parse_ok("ec=30+10", st);
        cr_assert(s.layout.k == 30 && s.layout.m == 10);
    }
    s = parse_ok("labels=ssd copies=2", CN_ST_CREATE);
    cr_assert(s.layout.k == 2 && strcmp(s.labels, "ssd") == 0, "layout after labels");
    s = parse_ok("  \tcopies=2 \t labels=ssd\t ", CN_ST_CREATE);
    cr_assert(s.layout.k == 2 && strcmp(s.labels, "ssd") == 0, "blanks around and between");
    s = parse_ok("copies=2 mode=loose", CN_ST_CREATE);
    cr_assert_eq(s.mode, CN_MODE_LOOSE);
    s = parse_ok("copies=2 compress=zstd", CN_ST_CREATE);
    cr_assert_eq(s.compress, CN_COMPRESS_ZSTD);
    s = parse_ok("copies=2 compress=none", CN_ST_CREATE);
    cr_assert_eq(s.compress, CN_COMPRESS_NONE);
    s = parse_ok("copies=2 labels=*", CN_ST_CREATE);
    cr_assert_str_eq(s.labels, "", "'*' alone is stored as \"\"");
    s = parse_ok("copies=2 labels=", CN_ST_CREATE);
    cr_assert_str_eq(s.labels, "", "empty labels= is anything");
    s = parse_ok("copies=2 labels=zone=a", CN_ST_CREATE);
    cr_assert_str_eq(s.labels, "zone=a", "the key ends at the first '='");
    s = parse_ok("copies=2 labels=(ssd|hdd)&!backup,*", CN_ST_CREATE);
    cr_assert_str_eq(s.labels, "(ssd|hdd)&!backup,*");
    s = parse_ok("ec=4+2 labels=a,b,c,d,e,f", CN_ST_CREATE);
    cr_assert_str_eq(s.labels, "a,b,c,d,e,f", "one element per part");

    static const struct {
        const char *spec;
        uint32_t secs;
    } after[] = {{"ec=4+2 after=120", 120},        {"ec=4+2 after=30s", 30},
                 {"ec=4+2 after=15m", 900},        {"ec=4+2 after=24h", 86400},
                 {"ec=4+2 after=7d", 604800},      {"after=1 copies=1", 1},
                 {"ec=4+2 after=3650d", 315360000}};
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
        s = parse_ok(after[i].spec, CN_ST_ARCHIVE);
        cr_assert_eq(s.after_s, after[i].secs, "%s: %u", after[i].spec, s.after_s);
    }
    cr_assert_eq(cn_cls_spec_parse("copies=2", CN_ST_CREATE, &s, NULL, 0), 0, "err may be NULL");
}

Test(cls, spec_errors, .description = "each error class quotes its token and gives its column")
{
    /* unknown keys, tokens without '=' */
    parse_err("copies=2 colour=red", CN_ST_CREATE, 10, "colour=red", "unknown key");
    parse_err("copies=2 Labels=a", CN_ST_CREATE, 10, "Labels=a", "unknown key");
    parse_err("copies=2 labels", CN_ST_CREATE, 10, "labels", "expected key=value");
    parse_err("copies=2\tssd", CN_ST_CREATE, 10, "ssd", "expected key=value");
    parse_err("=2 copies=2", CN_ST_CREATE, 1, "=2", "unknown key");
    /* repeated keys and layouts */
    parse_err("copies=2 copies=3", CN_ST_CREATE, 10, "copies=3", "second layout");
    parse_err("copies=2 ec=4+2", CN_ST_CREATE, 10, "ec=4+2", "second layout");
    parse_err("ec=4+2  labels=a ec=4+2", CN_ST_CREATE, 18, "ec=4+2", "first is at column 1");
    parse_err("copies=2 mode=strict mode=loose", CN_ST_CREATE, 22, "mode=loose",
              "mode= given twice (first at column 10)");
    parse_err("labels=a copies=2 labels=b", CN_ST_CREATE, 19, "labels=b", "given twice");
    parse_err("copies=2 compress=zstd compress=zstd", CN_ST_CREATE, 24, "compress=zstd",
              "given twice");
    parse_err("ec=4+2 after=1d after=1d", CN_ST_ARCHIVE, 17, "after=1d", "given twice");
    /* missing layout, after= misplaced or missing */
    parse_err("labels=ssd", CN_ST_CREATE, 11, "labels=ssd", "no layout");
    parse_err("", CN_ST_KEEP, 1, "", "no layout");
    parse_err("   ", CN_ST_CREATE, 4, "   ", "no layout");
    parse_err("copies=2 after=1d", CN_ST_CREATE, 10, "after=1d", "archive state only");
    parse_err("after=1d copies=2", CN_ST_KEEP, 1, "after=1d", "archive state only");
    parse_err("copies=2 after=1d", CN_ST_TRASH, 10, "after=1d", "archive state only");
    parse_err("ec=4+2", CN_ST_ARCHIVE, 7, "ec=4+2", "needs after=");
    /* per-part list against the layout */
    parse_err("copies=2 labels=a,b,c", CN_ST_CREATE, 10, "labels=a,b,c",
              "3 label expressions for the 2 parts of copies=2");
    parse_err("labels=a,b ec=4+2", CN_ST_CREATE, 1, "labels=a,b",
              "2 label expressions for the 6 parts of ec=4+2");
    /* layout ranges */
    parse_err("copies=0", CN_ST_CREATE, 1, "copies=0", "expected copies=N with 1 <= N <= 16");
    parse_err("mode=loose copies=17", CN_ST_CREATE, 12, "copies=17", "1 <= N <= 16");
    parse_err("copies=two", CN_ST_CREATE, 1, "copies=two", "expected copies=N");
    parse_err("labels=a ec=4+", CN_ST_CREATE, 10, "ec=4+",
              "expected ec=K+M with K, M >= 1 and K+M <= 40");
    parse_err("ec=0+2", CN_ST_CREATE, 1, "ec=0+2", "expected ec=K+M");
    parse_err("ec=4+0", CN_ST_CREATE, 1, "ec=4+0", "expected ec=K+M");
    parse_err("ec=30+11", CN_ST_CREATE, 1, "ec=30+11", "K+M <= 40");
    /* option values */
    parse_err("copies=2 mode=fast", CN_ST_CREATE, 10, "mode=fast",
              "expected mode=strict or mode=loose");
    parse_err("copies=2 mode=STRICT", CN_ST_CREATE, 10, "mode=STRICT", "expected mode=");
    parse_err("copies=2 mode=", CN_ST_CREATE, 10, "mode=", "expected mode=");
    parse_err("copies=2 compress=lz4", CN_ST_CREATE, 10, "compress=lz4",
              "expected compress=zstd or compress=none");
    parse_err("ec=4+2 after=0", CN_ST_ARCHIVE, 8, "after=0", "expected after=DURATION");
    parse_err("ec=4+2 after=3651d", CN_ST_ARCHIVE, 8, "after=3651d", "10 years");
    parse_err("ec=4+2 after=1w", CN_ST_ARCHIVE, 8, "after=1w", "expected after=");
    parse_err("ec=4+2 after=", CN_ST_ARCHIVE, 8, "after=", "expected after=");
    /* bytes that are not printable are quoted as \xNN */
    parse_err("copies=2\n", CN_ST_CREATE, 1, "copies=2\\x0a", "expected copies=N");

    struct cn_cls_state s;
    cr_assert_eq(cn_cls_spec_parse("copies=2", CN_ST_N, &s, err, sizeof(err)), -EINVAL);
    cr_assert_eq(cn_cls_spec_parse("copies=2", -1, &s, err, sizeof(err)), -EINVAL);
    cr_assert_eq(cn_cls_spec_parse("copies=0", 0, &s, NULL, 0), -EINVAL, "err may be NULL");
    char small[8];
    cr_assert_eq(cn_cls_spec_parse("copies=0", 0, &s, small, sizeof(small)), -EINVAL);
    cr_assert_eq(strlen(small), sizeof(small) - 1, "message cut to the buffer");
}

Test(cls, spec_error_exact_text, .description = "the two messages of the brief, byte for byte")
{
    struct cn_cls_state s;
    cr_assert_eq(cn_cls_spec_parse("labels=a ec=4+", CN_ST_CREATE, &s, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "\"ec=4+\" at column 10: expected ec=K+M with K, M >= 1 and K+M <= 40");
    cr_assert_eq(cn_cls_spec_parse("labels=ssd& copies=2", CN_ST_CREATE, &s, err, sizeof(err)),
                 -EINVAL);
    cr_assert_str_eq(err,
                     "\"labels=ssd&\" at column 11: expected a label, '*', '!' or '(' after '&'");
}

Test(cls, spec_label_errors, .description = "a bad expression in labels= points at its character")
{
    /* labels= token at column 10, so its value starts at column 17 */
    parse_err("copies=2 labels=ssd&", CN_ST_CREATE, 20, "labels=ssd&", "after '&'");
    parse_err("copies=2 labels=ss$d", CN_ST_CREATE, 19, "labels=ss$d", "'$' is not allowed");
    parse_err("copies=2 labels=a,,b", CN_ST_CREATE, 19, "labels=a,,b", "empty element");
    parse_err("copies=2 labels=a,", CN_ST_CREATE, 18, "labels=a,", "empty element");
    parse_err("copies=2 labels=,a", CN_ST_CREATE, 17, "labels=,a", "empty element");
    parse_err("copies=2 labels=(a|b", CN_ST_CREATE, 17, "labels=(a|b", "never closed");
    parse_err("copies=2 labels=a|", CN_ST_CREATE, 18, "labels=a|", "after '|'");
    parse_err("copies=2 labels=a)", CN_ST_CREATE, 18, "labels=a)", "expected '&', '|', ','");
    parse_err("copies=2 labels=a&|b", CN_ST_CREATE, 19, "labels=a&|b", "after '&'");
    parse_err("copies=2 labels=!", CN_ST_CREATE, 17, "labels=!", "after '!'");
    parse_err("copies=2 labels=()", CN_ST_CREATE, 18, "labels=()", "after '('");
    parse_err("copies=2 labels=(a,b)", CN_ST_CREATE, 19, "labels=(a,b)",
              "expected '&', '|' or ')'");
    parse_err("copies=2 labels=a*", CN_ST_CREATE, 18, "labels=a*", "expected '&', '|', ','");
    parse_err("copies=2 labels=abcdefghijabcdefghijabcdefghij12345", CN_ST_CREATE, 17,
              "labels=abcdefghijabcdefghijabcdefghij12345", "longer than 31");
    /* a 263-byte token: quoted up to 128 bytes and "..." */
    char spec[400], quoted[200];
    snprintf(spec, sizeof(spec), "copies=2 labels=%0256d", 0);
    snprintf(quoted, sizeof(quoted), "labels=%0121d...", 0);
    parse_err(spec, CN_ST_CREATE, 10 + 7 + 255, quoted, "longer than 255 bytes");
}

/* ---- SPEC formatting and round trips ------------------------------------ */

Test(cls, spec_format_canonical,
     .description = "format gives the canonical SPEC, defaults left out")
{
    static const struct {
        const char *in;
        int state;
        const char *out;
    } t[] = {
        {"copies=2", CN_ST_CREATE, "copies=2"},
        {"compress=none mode=loose labels=* copies=2", CN_ST_KEEP, "copies=2 mode=loose"},
        {"mode=strict labels=ssd ec=4+2", CN_ST_CREATE, "ec=4+2 labels=ssd mode=strict"},
        {"after=86400 labels=a compress=zstd ec=4+2", CN_ST_ARCHIVE,
         "ec=4+2 labels=a compress=zstd after=1d"},
        {"ec=8+3 labels=hdd|ssd mode=loose compress=zstd after=2s", CN_ST_ARCHIVE,
         "ec=8+3 labels=hdd|ssd mode=loose compress=zstd after=2s"},
        {"ec=4+2 after=129600", CN_ST_ARCHIVE, "ec=4+2 after=36h"},
        {"copies=3 labels=ssd,ssd,backup", CN_ST_TRASH, "copies=3 labels=ssd,ssd,backup"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct cn_cls_state s = parse_ok(t[i].in, t[i].state);
        char buf[512];
        int n = cn_cls_spec_format(&s, t[i].state, buf, sizeof(buf));
        cr_assert_eq(n, (int)strlen(t[i].out), "'%s': %d", t[i].in, n);
        cr_assert_str_eq(buf, t[i].out);
        /* exactly n + 1 bytes fit, n do not */
        cr_assert_eq(cn_cls_spec_format(&s, t[i].state, buf, (size_t)n + 1), n);
        cr_assert_eq(cn_cls_spec_format(&s, t[i].state, buf, (size_t)n), -ERANGE);
        struct cn_cls_state r = parse_ok(buf, t[i].state);
        cr_assert(state_eq(&s, &r), "'%s' -> '%s' parses differently", t[i].in, buf);
    }
    struct cn_cls_state unset = {0};
    char buf[64];
    cr_assert_eq(cn_cls_spec_format(&unset, CN_ST_KEEP, buf, sizeof(buf)), -EINVAL);
}

/* A random expression over labels a..e, without blanks. */
static void gen_expr(char *out, size_t len, unsigned depth)
{
    static const char *const lab[] = {"a", "b", "c", "zone=d", "e.f-g_h:1"};
    int r = rand() % (depth ? 7 : 3);
    char x[256], y[256];
    switch (r) {
    case 0:
    case 1:
        snprintf(out, len, "%s", lab[rand() % 5]);
        break;
    case 2:
        snprintf(out, len, "*");
        break;
    case 3:
        gen_expr(x, sizeof(x), depth - 1);
        snprintf(out, len, "!%s", x);
        break;
    case 4:
        gen_expr(x, sizeof(x), depth - 1);
        gen_expr(y, sizeof(y), depth - 1);
        snprintf(out, len, "%s&%s", x, y);
        break;
    case 5:
        gen_expr(x, sizeof(x), depth - 1);
        gen_expr(y, sizeof(y), depth - 1);
        snprintf(out, len, "%s|%s", x, y);
        break;
    default:
        gen_expr(x, sizeof(x), depth - 1);
        snprintf(out, len, "(%s)", x);
        break;
    }
}

static void gen_state(struct cn_cls_state *s, int state)
{
    struct cn_lexpr e;
    memset(s, 0, sizeof(*s));
    if (rand() % 2) {
        s->layout.kind = CN_LAYOUT_COPIES;
        s->layout.k = (uint8_t)(1 + rand() % 16);
    } else {
        s->layout.kind = CN_LAYOUT_EC;
        s->layout.k = (uint8_t)(1 + rand() % 20);
        s->layout.m = (uint8_t)(1 + rand() % (40 - s->layout.k));
    }
    s->mode = (uint8_t)(rand() % 3);
    s->compress = (uint8_t)(rand() % 2);
    if (state == CN_ST_ARCHIVE) {
        static const uint32_t unit[] = {1, 60, 3600, 86400};
        uint32_t u = unit[rand() % 4];
        s->after_s = (uint32_t)(1 + rand() % (315360000 / u)) * u;
    }
    do {
        char text[1024];
        switch (rand() % 3) {
        case 0:
            text[0] = '\0';
            break;
        case 1:
            gen_expr(text, sizeof(text), 4);
            break;
        default: { /* one element per part */
            size_t o = 0;
            unsigned parts = cn_layout_parts(&s->layout);
            for (unsigned i = 0; i < parts && o < sizeof(text) - 40; i++) {
                char x[256];
                gen_expr(x, sizeof(x), 1);
                o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", i ? "," : "", x);
            }
            break;
        }
        }
        if (strlen(text) > CN_CLS_LABELS_MAX || cn_lexpr_parse(text, &e, NULL, 0) != 0 ||
            (e.nparts > 1 && e.nparts != cn_layout_parts(&s->layout)))
            continue;
        if (strcmp(text, "*") == 0)
            text[0] = '\0';
        memcpy(s->labels, text, strlen(text) + 1); /* <= 255 bytes, checked above */
        break;
    } while (1);
}

Test(cls, spec_round_trip_random, .description = "parse(format(x)) == x for random states")
{
    srand(seed_get());
    for (int i = 0; i < 20000; i++) {
        int state = i % CN_ST_N;
        struct cn_cls_state s, r;
        char buf[512];
        gen_state(&s, state);
        int n = cn_cls_spec_format(&s, state, buf, sizeof(buf));
        cr_assert(n > 0, "format: %d", n);
        err[0] = '\0';
        cr_assert_eq(cn_cls_spec_parse(buf, state, &r, err, sizeof(err)), 0, "'%s' (%s): %s", buf,
                     cn_cls_state_name(state), err);
        cr_assert(state_eq(&s, &r), "'%s' (%s) parses to another state", buf,
                  cn_cls_state_name(state));
        char again[512];
        cr_assert_eq(cn_cls_spec_format(&r, state, again, sizeof(again)), n);
        cr_assert_str_eq(again, buf, "format is stable");
    }
}

/* ---- label expressions -------------------------------------------------- */

/* Label set with the labels a, b, c of the bits of m (bit 0: a). */
static const char *set_of(unsigned m)
{
    static const char *const sets[8] = {"", "a", "b", "a,b", "c", "a,c", "b,c", "a,b,c"};
    return sets[m];
}

Test(cls, lexpr_truth_tables, .description = "operators, precedence and parentheses, all 8 sets")
{
    static const struct {
        const char *expr;
        uint8_t truth; /* bit m: value on set_of(m) */
    } t[] = {
        {"a", 0xaa},                 /* a */
        {"a|b", 0xee},               /* a or b */
        {"a&b", 0x88},               /* a and b */
        {"!a", 0x55},                /* not a */
        {"*", 0xff},                 /* anything */
        {"", 0xff},                  /* anything */
        {"(a|b)&!c", 0x0e},          /* (a or b) and not c */
        {"!a&b", 0x44},              /* (not a) and b */
        {"a|b&c", 0xea},             /* a or (b and c) */
        {"a&b|c", 0xf8},             /* (a and b) or c */
        {"!(a|b)", 0x11},            /* neither */
        {"!!a", 0xaa},               /* double negation */
        {"a&!b&!c", 0x02},           /* only a */
        {" ( a | b ) & ! c ", 0x0e}, /* blanks between tokens are ignored */
        {"((((a))))", 0xaa},
        {"*&!c", 0x0f},
        {"a|*", 0xff},
        {"!*", 0x00},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct cn_lexpr e;
        err[0] = '\0';
        cr_assert_eq(cn_lexpr_parse(t[i].expr, &e, err, sizeof(err)), 0, "'%s': %s", t[i].expr,
                     err);
        cr_assert_eq(e.nparts, 1);
        for (unsigned m = 0; m < 8; m++) {
            int want = (t[i].truth >> m) & 1;
            for (unsigned part = 0; part < 3; part++)
                cr_assert_eq(cn_lexpr_match(&e, part, set_of(m)), want,
                             "'%s' on {%s} part %u: got %d, want %d", t[i].expr, set_of(m), part,
                             !want, want);
        }
    }
}

Test(cls, lexpr_text_canonical, .description = "text is stored without blanks; '*' alone is \"\"")
{
    struct cn_lexpr e;
    cr_assert_eq(cn_lexpr_parse(" ( a | b ) & ! c , d ", &e, NULL, 0), 0);
    cr_assert_str_eq(e.text, "(a|b)&!c,d");
    cr_assert_eq(e.nparts, 2);
    cr_assert_eq(e.start[0], 0);
    cr_assert_eq(e.start[2], e.nnodes);
    /* postfix of the first element: a b | c ! & */
    static const uint8_t ops[] = {CN_LX_LABEL, CN_LX_LABEL, CN_LX_OR,
                                  CN_LX_LABEL, CN_LX_NOT,   CN_LX_AND};
    cr_assert_eq(e.start[1], 6);
    for (unsigned i = 0; i < 6; i++)
        cr_assert_eq(e.node[i].op, ops[i], "node %u: op %u", i, e.node[i].op);
    cr_assert_eq(e.node[3].off, 7);
    cr_assert_eq(e.node[3].len, 1);
    cr_assert_eq(e.text[e.node[3].off], 'c');
    static const char *const any[] = {"", "*", "  *\t", " "};
    for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++) {
        cr_assert_eq(cn_lexpr_parse(any[i], &e, NULL, 0), 0, "'%s'", any[i]);
        cr_assert_str_eq(e.text, "", "'%s'", any[i]);
        cr_assert_eq(e.nparts, 1);
        cr_assert_eq(cn_lexpr_match(&e, 0, NULL), 1, "'%s' matches the empty set", any[i]);
        cr_assert_eq(cn_lexpr_match(&e, 7, "x,y"), 1);
    }
}

Test(cls, lexpr_exact_labels,
     .description = "a label matches a whole label of the set, case-sensitive")
{
    struct cn_lexpr e;
    cr_assert_eq(cn_lexpr_parse("ssd", &e, NULL, 0), 0);
    static const struct {
        const char *set;
        int want;
    } t[] = {{"ssd", 1},       {"hdd,ssd", 1}, {"ssd,hdd", 1}, {" hdd , ssd ", 1},
             {"ssd2", 0},      {"xssd", 0},    {"SSD", 0},     {"ss", 0},
             {"ss,d", 0},      {"", 0},        {NULL, 0},      {"zone=ssd", 0},
             {"hdd,,ssd,", 1}, {",", 0}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        cr_assert_eq(cn_lexpr_match(&e, 0, t[i].set), t[i].want, "ssd on {%s}",
                     t[i].set ? t[i].set : "NULL");
    cr_assert_eq(cn_lexpr_parse("zone=a", &e, NULL, 0), 0);
    cr_assert_eq(cn_lexpr_match(&e, 0, "ssd,zone=a"), 1);
    cr_assert_eq(cn_lexpr_match(&e, 0, "ssd,zone=ab"), 0);
    cr_assert_eq(cn_lexpr_parse("!ssd", &e, NULL, 0), 0);
    cr_assert_eq(cn_lexpr_match(&e, 0, NULL), 1, "NULL is the empty set");

    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", "ssd"), 1);
    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", "fast"), 1);
    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", "zone=a"), 1);
    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", "zone"), 0);
    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", "a"), 0);
    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", "Fast"), 0);
    cr_assert_eq(cn_labels_have("ssd,fast,zone=a", ""), 0);
    cr_assert_eq(cn_labels_have("a,,b", ""), 0, "the empty label is never in a set");
    cr_assert_eq(cn_labels_have(NULL, "a"), 0);
    cr_assert_eq(cn_labels_have("", "a"), 0);
}

Test(cls, lexpr_per_part,
     .description = "element i applies to part i; parts past the list use the last")
{
    struct cn_lexpr e;
    cr_assert_eq(cn_lexpr_parse("ssd,ssd,backup", &e, NULL, 0), 0);
    cr_assert_eq(e.nparts, 3);
    cr_assert_eq(cn_lexpr_match(&e, 0, "ssd"), 1);
    cr_assert_eq(cn_lexpr_match(&e, 1, "ssd"), 1);
    cr_assert_eq(cn_lexpr_match(&e, 2, "ssd"), 0);
    cr_assert_eq(cn_lexpr_match(&e, 0, "backup"), 0);
    cr_assert_eq(cn_lexpr_match(&e, 2, "backup"), 1);
    cr_assert_eq(cn_lexpr_match(&e, 3, "backup"), 1, "part 3 uses the last element");
    cr_assert_eq(cn_lexpr_match(&e, 1000, "backup"), 1);
    cr_assert_eq(cn_lexpr_match(&e, 3, "ssd"), 0);

    cr_assert_eq(cn_lexpr_parse("a,b|c,!a,*", &e, NULL, 0), 0);
    cr_assert_eq(e.nparts, 4);
    for (unsigned m = 0; m < 8; m++) {
        const char *s = set_of(m);
        cr_assert_eq(cn_lexpr_match(&e, 0, s), (m & 1) != 0, "part 0 on {%s}", s);
        cr_assert_eq(cn_lexpr_match(&e, 1, s), (m & 6) != 0, "part 1 on {%s}", s);
        cr_assert_eq(cn_lexpr_match(&e, 2, s), (m & 1) == 0, "part 2 on {%s}", s);
        cr_assert_eq(cn_lexpr_match(&e, 3, s), 1, "part 3 on {%s}", s);
        cr_assert_eq(cn_lexpr_match(&e, 9, s), 1, "part 9 on {%s}", s);
    }
    cr_assert_eq(cn_lexpr_parse("hdd", &e, NULL, 0), 0);
    for (unsigned part = 0; part < 40; part++)
        cr_assert_eq(cn_lexpr_match(&e, part, "hdd"), 1, "one element applies to every part");
}

Test(cls, lexpr_errors, .description = "syntax errors give the column of the offending character")
{
    lexpr_err("ssd&", 4, "expected a label, '*', '!' or '(' after '&'");
    lexpr_err("&ssd", 1, "expected a label, '*', '!' or '('");
    lexpr_err("a b", 3, "expected '&', '|', ',' or the end");
    lexpr_err("a ,, b", 4, "empty element");
    lexpr_err(",a", 1, "empty element");
    lexpr_err("a,", 2, "empty element");
    lexpr_err("a, ", 2, "empty element");
    lexpr_err(",", 1, "empty element");
    lexpr_err("!(a", 2, "never closed");
    lexpr_err("a)", 2, "expected '&', '|', ',' or the end");
    lexpr_err("a|(b&)", 6, "after '&'");
    lexpr_err("ab#", 3, "'#' is not allowed");
    lexpr_err("a\x01", 2, "byte 0x01");
    lexpr_err("a b\n", 3, "expected '&', '|', ','");
    lexpr_err("!!!", 3, "after '!'");
    lexpr_err("a & b | ", 7, "after '|'");
    lexpr_err("abcdefghijabcdefghijabcdefghij12", 1, "longer than 31 bytes");
    struct cn_lexpr e;
    cr_assert_eq(cn_lexpr_parse("abcdefghijabcdefghijabcdefghij1", &e, NULL, 0), 0,
                 "a 31-byte label is fine");
    cr_assert_eq(cn_lexpr_parse("a", &e, err, sizeof(err)), 0);
    cr_assert_eq(cn_lexpr_parse("a&", &e, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "\"a&\" at column 2: expected a label, '*', '!' or '(' after '&'");
}

Test(cls, lexpr_limits, .description = "depth, node, element and length limits, each with a column")
{
    struct cn_lexpr e;
    char t[1024];
    size_t o;

    /* 32 nested parentheses parse; 33 do not (column of the 33rd '(') */
    for (int depth = 32; depth <= 33; depth++) {
        o = 0;
        for (int i = 0; i < depth; i++)
            t[o++] = '(';
        t[o++] = 'a';
        for (int i = 0; i < depth; i++)
            t[o++] = ')';
        t[o] = '\0';
        if (depth == 32)
            cr_assert_eq(cn_lexpr_parse(t, &e, NULL, 0), 0, "depth 32");
        else
            lexpr_err(t, 33, "nested deeper than 32");
    }
    /* a 1000-deep '(' run is refused, not a stack overflow (also past 255 bytes) */
    memset(t, '(', 1000);
    t[1000] = '\0';
    lexpr_err(t, 256, "longer than 255 bytes");
    memset(t, '(', 200);
    t[200] = '\0';
    lexpr_err(t, 33, "nested deeper than 32");

    /* nodes: "!(" + 64 labels joined by '&' + ")" is exactly 128 nodes */
    o = (size_t)snprintf(t, sizeof(t), "!(");
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(t + o, sizeof(t) - o, "%sa", i ? "&" : "");
    snprintf(t + o, sizeof(t) - o, ")");
    cr_assert_eq(cn_lexpr_parse(t, &e, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(e.nnodes, CN_LEXPR_MAX_NODES);
    cr_assert_eq(cn_lexpr_match(&e, 0, "a"), 0);
    cr_assert_eq(cn_lexpr_match(&e, 0, "b"), 1);
    /* 65 labels and 64 '&' are 129: the 64th '&' (column 128) is one too many */
    o = 0;
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(t + o, sizeof(t) - o, "%sa", i ? "&" : "");
    lexpr_err(t, 128, "expression too long");
    /* 300 '!' (past the node limit, inside no limit of depth) */
    memset(t, '!', 200);
    memcpy(t + 200, "a", 2);
    lexpr_err(t, 1, "expression too long");

    /* 40 elements parse; the 41st is refused at the comma before it */
    o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(t + o, sizeof(t) - o, "%sa", i ? "," : "");
    cr_assert_eq(cn_lexpr_parse(t, &e, NULL, 0), 0);
    cr_assert_eq(e.nparts, 40);
    snprintf(t + o, sizeof(t) - o, ",b");
    lexpr_err(t, 80, "more than 40 elements");

    /* 255 bytes parse (8 labels of 31 and 7 '|'), blanks not counted; 256 do not */
    o = 0;
    for (int i = 0; i < 8; i++)
        o += (size_t)snprintf(t + o, sizeof(t) - o, "%s%.31s", i ? " | " : "",
                              "abcdefghijabcdefghijabcdefghij0");
    cr_assert_eq(cn_lexpr_parse(t, &e, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(strlen(e.text), 255);
    snprintf(t + o, sizeof(t) - o, " &  b"); /* the '&' is byte 256 */
    lexpr_err(t, o + 2, "longer than 255 bytes");
}

Test(cls, labels_zone, .description = "the value of the first zone=NAME label")
{
    char z[32];
    cr_assert_eq(cn_labels_zone("ssd,zone=a,zone=b", z, sizeof(z)), 1);
    cr_assert_str_eq(z, "a");
    cr_assert_eq(cn_labels_zone("zone=rack-12", z, sizeof(z)), 7);
    cr_assert_str_eq(z, "rack-12");
    cr_assert_eq(cn_labels_zone("ssd, zone=b ", z, sizeof(z)), 1);
    cr_assert_str_eq(z, "b");
    memcpy(z, "junk", 5);
    cr_assert_eq(cn_labels_zone("ssd,fast", z, sizeof(z)), 0);
    cr_assert_str_eq(z, "");
    cr_assert_eq(cn_labels_zone("zone,xzone=c,zone=", z, sizeof(z)), 0, "no zone=NAME here");
    cr_assert_str_eq(z, "");
    cr_assert_eq(cn_labels_zone("zone=,zone=x", z, sizeof(z)), 1, "an empty zone= is skipped");
    cr_assert_str_eq(z, "x");
    cr_assert_eq(cn_labels_zone(NULL, z, sizeof(z)), 0);
    cr_assert_str_eq(z, "");
    cr_assert_eq(cn_labels_zone("", z, sizeof(z)), 0);
    cr_assert_eq(cn_labels_zone("zone=abcdef", z, 3), 2, "cut to the buffer");
    cr_assert_str_eq(z, "ab");
    cr_assert_eq(cn_labels_zone("zone=abcdef", z, 0), 0);
}

/* ---- durations, names, states ------------------------------------------- */

Test(cls, durations, .description = "parse with suffixes and bounds; print the largest exact unit")
{
    static const struct {
        const char *s;
        uint32_t v;
    } ok[] = {{"120", 120},
              {"1", 1},
              {"30s", 30},
              {"15m", 900},
              {"24h", 86400},
              {"7d", 604800},
              {"0001", 1},
              {"315360000", 315360000},
              {"3650d", 315360000},
              {"87600h", 315360000},
              {"5256000m", 315360000}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t v = 0;
        cr_assert_eq(cn_dur_parse(ok[i].s, &v), 0, "'%s'", ok[i].s);
        cr_assert_eq(v, ok[i].v, "'%s': %u", ok[i].s, v);
    }
    static const char *const bad[] = {"",
                                      "0",
                                      "0s",
                                      "0d",
                                      "s",
                                      "10x",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1.5h",
                                      "1dd",
                                      "1D",
                                      "315360001",
                                      "3651d",
                                      "87601h",
                                      "5256001m",
                                      "99999999999999999999",
                                      "18446744073709551617s",
                                      "4294967296",
                                      "1w"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t v = 77;
        cr_assert_eq(cn_dur_parse(bad[i], &v), -EINVAL, "'%s' parsed", bad[i]);
        cr_assert_eq(v, 77, "'%s': out changed", bad[i]);
    }
    static const struct {
        uint32_t v;
        const char *s;
    } str[] = {{1, "1s"},         {59, "59s"},
               {60, "1m"},        {90, "90s"},
               {120, "2m"},       {3600, "1h"},
               {5400, "90m"},     {86400, "1d"},
               {129600, "36h"},   {604800, "7d"},
               {86401, "86401s"}, {315360000, "3650d"},
               {0, "0s"},         {4294967295u, "4294967295s"}};
    for (size_t i = 0; i < sizeof(str) / sizeof(str[0]); i++) {
        char buf[16];
        cr_assert_str_eq(cn_dur_str(str[i].v, buf, sizeof(buf)), str[i].s);
    }
    for (uint32_t v = 1; v < 200000; v += 37) {
        char buf[16];
        uint32_t back = 0;
        cr_assert_eq(cn_dur_parse(cn_dur_str(v, buf, sizeof(buf)), &back), 0);
        cr_assert_eq(back, v, "%u -> %s -> %u", v, buf, back);
    }
}

Test(cls, names, .description = "class names: 1..63 of [A-Za-z0-9_.+-], not starting with '-'")
{
    static const char *const ok[] = {"2cp", "ec4+2", "a", "x.y_z-1", "A+B", "a-", "_", "."};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_eq(cn_cls_name_ok(ok[i]), 1, "'%s'", ok[i]);
    static const char *const bad[] = {"", "-a", "a b", "a/b", "a,b", "caf\xc3\xa9", "a\tb", "a=b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(cn_cls_name_ok(bad[i]), 0, "'%s'", bad[i]);
    cr_assert_eq(cn_cls_name_ok(NULL), 0);
    char n[80];
    memset(n, 'x', sizeof(n));
    n[63] = '\0';
    cr_assert_eq(cn_cls_name_ok(n), 1, "63 bytes");
    n[63] = 'x';
    n[64] = '\0';
    cr_assert_eq(cn_cls_name_ok(n), 0, "64 bytes");
}

Test(cls, state_names_and_effective, .description = "unset states fall back as cls.h says")
{
    cr_assert_str_eq(cn_cls_state_name(CN_ST_CREATE), "create");
    cr_assert_str_eq(cn_cls_state_name(CN_ST_KEEP), "keep");
    cr_assert_str_eq(cn_cls_state_name(CN_ST_ARCHIVE), "archive");
    cr_assert_str_eq(cn_cls_state_name(CN_ST_TRASH), "trash");
    cr_assert_not_null(cn_cls_state_name(CN_ST_N));
    cr_assert_not_null(cn_cls_state_name(-1));

    struct cn_cls c;
    memset(&c, 0, sizeof(c));
    c.st[CN_ST_CREATE] = parse_ok("copies=2", CN_ST_CREATE);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_CREATE), CN_ST_CREATE);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_KEEP), CN_ST_CREATE, "keep unset: create");
    cr_assert_eq(cn_cls_effective(&c, CN_ST_ARCHIVE), -1, "archive unset: none");
    cr_assert_eq(cn_cls_effective(&c, CN_ST_TRASH), CN_ST_CREATE, "trash unset: keep's: create");
    c.st[CN_ST_KEEP] = parse_ok("copies=3", CN_ST_KEEP);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_KEEP), CN_ST_KEEP);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_TRASH), CN_ST_KEEP, "trash unset: keep");
    c.st[CN_ST_ARCHIVE] = parse_ok("ec=4+2 after=1d", CN_ST_ARCHIVE);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_ARCHIVE), CN_ST_ARCHIVE);
    c.st[CN_ST_TRASH] = parse_ok("copies=1", CN_ST_TRASH);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_TRASH), CN_ST_TRASH);
    memset(&c.st[CN_ST_KEEP], 0, sizeof(c.st[CN_ST_KEEP]));
    cr_assert_eq(cn_cls_effective(&c, CN_ST_KEEP), CN_ST_CREATE);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_TRASH), CN_ST_TRASH);
    cr_assert_eq(cn_cls_effective(&c, CN_ST_N), -1);
    cr_assert_eq(cn_cls_effective(&c, -1), -1);
}

Test(cls, builtins, .description = "the four built-in classes, field by field")
{
    struct cn_cls b[4];
    memset(b, 0x5a, sizeof(b));
    cr_assert_eq(cn_cls_builtins(b, 4), 4);
    static const struct {
        uint32_t id;
        const char *name;
        uint8_t copies, k, m;
    } want[] = {{CN_CLS_2CP, "2cp", 2, 0, 0},
                {CN_CLS_3CP, "3cp", 3, 0, 0},
                {CN_CLS_EC4_2, "ec4+2", 2, 4, 2},
                {CN_CLS_EC8_3, "ec8+3", 2, 8, 3}};
    cr_assert_eq(CN_CLS_2CP, 1);
    cr_assert_eq(CN_CLS_EC8_3, 4);
    for (int i = 0; i < 4; i++) {
        const struct cn_cls *c = &b[i];
        cr_assert_eq(c->id, want[i].id);
        cr_assert_eq(c->builtin, 1);
        cr_assert_str_eq(c->name, want[i].name);
        cr_assert_eq(cn_cls_name_ok(c->name), 1);
        for (int s = CN_ST_CREATE; s <= CN_ST_KEEP; s++) {
            const struct cn_cls_state *st = &c->st[s];
            cr_assert(st->layout.kind == CN_LAYOUT_COPIES && st->layout.k == want[i].copies &&
                          st->layout.m == 0,
                      "%s %s", c->name, cn_cls_state_name(s));
            cr_assert(st->mode == CN_MODE_DEFAULT && st->compress == CN_COMPRESS_NONE &&
                      st->after_s == 0 && st->labels[0] == '\0');
        }
        const struct cn_cls_state *a = &c->st[CN_ST_ARCHIVE];
        if (want[i].k) {
            cr_assert(a->layout.kind == CN_LAYOUT_EC && a->layout.k == want[i].k &&
                      a->layout.m == want[i].m);
            cr_assert_eq(a->after_s, 86400);
            cr_assert_eq(a->mode, CN_MODE_DEFAULT);
            cr_assert_str_eq(a->labels, "");
            cr_assert_eq(cn_cls_effective(c, CN_ST_ARCHIVE), CN_ST_ARCHIVE);
        } else {
            cr_assert_eq(a->layout.kind, CN_LAYOUT_NONE);
            cr_assert_eq(cn_cls_effective(c, CN_ST_ARCHIVE), -1);
        }
        cr_assert_eq(c->st[CN_ST_TRASH].layout.kind, CN_LAYOUT_NONE);
        cr_assert_eq(cn_cls_effective(c, CN_ST_TRASH), CN_ST_KEEP);
    }
    struct cn_cls two[3];
    memset(two, 0x5a, sizeof(two));
    cr_assert_eq(cn_cls_builtins(two, 2), 4, "returns 4 whatever max is");
    cr_assert_str_eq(two[1].name, "3cp");
    cr_assert_eq(two[2].id, 0x5a5a5a5au, "nothing written past max");
    cr_assert_eq(cn_cls_builtins(NULL, 0), 4);
}

/* ---- class records ------------------------------------------------------ */

Test(cls, record_golden, .description = "the byte layout of cls.h, for 2cp and ec4+2")
{
    struct cn_cls b[4];
    uint8_t buf[CN_CLS_REC_MAX];
    cn_cls_builtins(b, 4);
    static const uint8_t cp2[] = {1, 1, 3, '2', 'c', 'p',              /* version, builtin, name */
                                  1, 2, 0, 0,   0,   0,   0, 0, 0, 0,  /* create copies=2 */
                                  1, 2, 0, 0,   0,   0,   0, 0, 0, 0,  /* keep copies=2 */
                                  0, 0, 0, 0,   0,   0,   0, 0, 0, 0,  /* archive unset */
                                  0, 0, 0, 0,   0,   0,   0, 0, 0, 0}; /* trash unset */
    size_t n = cn_cls_encode(&b[0], buf);
    cr_assert_eq(n, sizeof(cp2));
    cr_assert_arr_eq(buf, cp2, sizeof(cp2));
    static const uint8_t ec42[] = {
        1, 1, 5, 'e', 'c', '4', '+', '2', 1, 2, 0, 0, 0, 0,    0,    0,    0, 0, 1, 2,
        0, 0, 0, 0,   0,   0,   0,   0,   2, 4, 2, 0, 0, 0x80, 0x51, 0x01, 0, 0, /* ec=4+2, 86400 LE
                                                                                  */
        0, 0, 0, 0,   0,   0,   0,   0,   0, 0};
    n = cn_cls_encode(&b[2], buf);
    cr_assert_eq(n, sizeof(ec42));
    cr_assert_arr_eq(buf, ec42, sizeof(ec42));

    struct cn_cls c;
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "x");
    c.st[0] = parse_ok("ec=4+2 labels=ssd mode=strict compress=zstd", CN_ST_CREATE);
    static const uint8_t rich[] = {1,   0,   1,   'x', /* not built-in, name "x" */
                                   2,   4,   2,   1,   1, 0, 0, 0, 0, 3,
                                   's', 's', 'd', /* ec=4+2 strict zstd labels=ssd */
                                   0,   0,   0,   0,   0, 0, 0, 0, 0, 0,  /* keep unset */
                                   0,   0,   0,   0,   0, 0, 0, 0, 0, 0,  /* archive unset */
                                   0,   0,   0,   0,   0, 0, 0, 0, 0, 0}; /* trash unset */
    n = cn_cls_encode(&c, buf);
    cr_assert_eq(n, sizeof(rich));
    cr_assert_arr_eq(buf, rich, sizeof(rich));
}

Test(cls, record_round_trip,
     .description = "decode(encode(x)) == x for built-ins and random classes")
{
    struct cn_cls b[4], d;
    uint8_t buf[CN_CLS_REC_MAX], again[CN_CLS_REC_MAX];
    cn_cls_builtins(b, 4);
    for (int i = 0; i < 4; i++) {
        size_t n = cn_cls_encode(&b[i], buf);
        memset(&d, 0x5a, sizeof(d));
        cr_assert_eq(cn_cls_decode(buf, n, &d), 0, "%s", b[i].name);
        cr_assert(cls_eq(&b[i], &d), "%s differs after decode", b[i].name);
        cr_assert_eq(d.id, 0, "the id is not stored");
    }
    srand(seed_get());
    for (int i = 0; i < 5000; i++) {
        struct cn_cls c;
        memset(&c, 0, sizeof(c));
        c.builtin = (uint8_t)(rand() % 2);
        size_t nl = 1 + (size_t)rand() % CN_CLS_NAME_MAX;
        for (size_t k = 0; k < nl; k++)
            c.name[k] = "abcXYZ019_.+-"[rand() % (k ? 13 : 12)];
        for (int s = 0; s < CN_ST_N; s++)
            if (s == CN_ST_CREATE || rand() % 2)
                gen_state(&c.st[s], s);
        size_t n = cn_cls_encode(&c, buf);
        cr_assert(n <= CN_CLS_REC_MAX);
        cr_assert_eq(cn_cls_decode(buf, n, &d), 0, "class %d (%s)", i, c.name);
        cr_assert(cls_eq(&c, &d), "class %d (%s) differs after decode", i, c.name);
        cr_assert_eq(cn_cls_encode(&d, again), n);
        cr_assert_arr_eq(again, buf, n, "encode(decode(bytes)) == bytes");
    }
    /* the largest record fits CN_CLS_REC_MAX */
    struct cn_cls big;
    memset(&big, 0, sizeof(big));
    memset(big.name, 'n', CN_CLS_NAME_MAX);
    for (int s = 0; s < CN_ST_N; s++) {
        struct cn_cls_state *st = &big.st[s];
        st->layout = (struct cn_layout){CN_LAYOUT_EC, 8, 3};
        st->after_s = s == CN_ST_ARCHIVE ? 60 : 0;
        size_t o = 0; /* 8 labels of 31 bytes and 7 '|': 255 bytes */
        for (int k = 0; k < 8; k++)
            o += (size_t)snprintf(st->labels + o, sizeof(st->labels) - o, "%s%c%030d", k ? "|" : "",
                                  'a' + k, k);
        cr_assert_eq(o, CN_CLS_LABELS_MAX);
    }
    size_t n = cn_cls_encode(&big, buf);
    cr_assert(n <= CN_CLS_REC_MAX, "%zu", n);
    cr_assert_eq(cn_cls_decode(buf, n, &d), 0);
    cr_assert(cls_eq(&big, &d));
}

/* A record under construction. */
struct rec {
    uint8_t b[CN_CLS_REC_MAX + 16];
    size_t n;
};

static void rec_head(struct rec *r, uint8_t version, uint8_t builtin, const char *name, size_t nlen)
{
    r->n = 0;
    r->b[r->n++] = version;
    r->b[r->n++] = builtin;
    r->b[r->n++] = (uint8_t)nlen;
    memcpy(r->b + r->n, name, nlen);
    r->n += nlen;
}

static void rec_state(struct rec *r, uint8_t kind, uint8_t k, uint8_t m, uint8_t mode,
                      uint8_t compress, uint32_t after, const char *labels, size_t llen)
{
    uint8_t *p = r->b + r->n;
    p[0] = kind;
    p[1] = k;
    p[2] = m;
    p[3] = mode;
    p[4] = compress;
    for (int i = 0; i < 4; i++)
        p[5 + i] = (uint8_t)(after >> (8 * i));
    p[9] = (uint8_t)llen;
    memcpy(p + 10, labels, llen);
    r->n += 10 + llen;
}

#define S_UNSET(r) rec_state(r, 0, 0, 0, 0, 0, 0, "", 0)
#define S_CP2(r)   rec_state(r, 1, 2, 0, 0, 0, 0, "", 0)

static int rec_decode(const struct rec *r)
{
    struct cn_cls c;
    return cn_cls_decode(r->b, r->n, &c);
}

/* A record with one bad state at index `at` (the others valid). */
static int with_state(int at, uint8_t kind, uint8_t k, uint8_t m, uint8_t mode, uint8_t compress,
                      uint32_t after, const char *labels)
{
    struct rec r;
    rec_head(&r, 1, 0, "c", 1);
    for (int i = 0; i < CN_ST_N; i++) {
        if (i == at)
            rec_state(&r, kind, k, m, mode, compress, after, labels, strlen(labels));
        else if (i == CN_ST_CREATE)
            S_CP2(&r);
        else
            S_UNSET(&r);
    }
    return rec_decode(&r);
}

Test(cls, record_rejects,
     .description = "every out-of-range field and non-canonical form is EINVAL")
{
    struct rec r;
    /* the builder itself makes valid records */
    rec_head(&r, 1, 0, "c", 1);
    S_CP2(&r);
    for (int i = 1; i < CN_ST_N; i++)
        S_UNSET(&r);
    cr_assert_eq(rec_decode(&r), 0);
    cr_assert_eq(with_state(CN_ST_ARCHIVE, 2, 4, 2, 2, 1, 60, "a|b,c,d,e,f,g"), 0);
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 16, 0, 1, 0, 0, "zone=a"), 0);

    /* head */
    r.b[0] = 0;
    cr_assert_eq(rec_decode(&r), -EINVAL, "version 0");
    r.b[0] = 2;
    cr_assert_eq(rec_decode(&r), -EINVAL, "version 2");
    r.b[0] = 1;
    r.b[1] = 2;
    cr_assert_eq(rec_decode(&r), -EINVAL, "builtin 2");
    r.b[1] = 0;
    r.n++;
    r.b[r.n - 1] = 0;
    cr_assert_eq(rec_decode(&r), -EINVAL, "a trailing byte");
    static const char *const badnames[] = {"", "-x", "a b", "a/b", "a\0b"};
    static const size_t badlen[] = {0, 2, 3, 3, 3};
    for (size_t i = 0; i < 5; i++) {
        rec_head(&r, 1, 0, badnames[i], badlen[i]);
        S_CP2(&r);
        for (int k = 1; k < CN_ST_N; k++)
            S_UNSET(&r);
        cr_assert_eq(rec_decode(&r), -EINVAL, "name %zu", i);
    }
    char longname[70];
    memset(longname, 'n', sizeof(longname));
    rec_head(&r, 1, 0, longname, 64);
    S_CP2(&r);
    for (int k = 1; k < CN_ST_N; k++)
        S_UNSET(&r);
    cr_assert_eq(rec_decode(&r), -EINVAL, "64-byte name");
    rec_head(&r, 1, 0, longname, 63);
    S_CP2(&r);
    for (int k = 1; k < CN_ST_N; k++)
        S_UNSET(&r);
    cr_assert_eq(rec_decode(&r), 0, "63-byte name");

    /* create must be set; unset states are all zero */
    cr_assert_eq(with_state(CN_ST_CREATE, 0, 0, 0, 0, 0, 0, ""), -EINVAL, "create unset");
    cr_assert_eq(with_state(CN_ST_KEEP, 0, 2, 0, 0, 0, 0, ""), -EINVAL, "unset with k");
    cr_assert_eq(with_state(CN_ST_KEEP, 0, 0, 1, 0, 0, 0, ""), -EINVAL, "unset with m");
    cr_assert_eq(with_state(CN_ST_KEEP, 0, 0, 0, 1, 0, 0, ""), -EINVAL, "unset with mode");
    cr_assert_eq(with_state(CN_ST_KEEP, 0, 0, 0, 0, 1, 0, ""), -EINVAL, "unset with compress");
    cr_assert_eq(with_state(CN_ST_ARCHIVE, 0, 0, 0, 0, 0, 60, ""), -EINVAL, "unset with after");
    cr_assert_eq(with_state(CN_ST_TRASH, 0, 0, 0, 0, 0, 0, "a"), -EINVAL, "unset with labels");
    /* layouts */
    cr_assert_eq(with_state(CN_ST_KEEP, 3, 2, 0, 0, 0, 0, ""), -EINVAL, "kind 3");
    cr_assert_eq(with_state(CN_ST_KEEP, 255, 2, 0, 0, 0, 0, ""), -EINVAL, "kind 255");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 0, 0, 0, 0, 0, ""), -EINVAL, "copies=0");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 17, 0, 0, 0, 0, ""), -EINVAL, "copies=17");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 1, 0, 0, 0, ""), -EINVAL, "copies with m");
    cr_assert_eq(with_state(CN_ST_KEEP, 2, 0, 2, 0, 0, 0, ""), -EINVAL, "ec=0+2");
    cr_assert_eq(with_state(CN_ST_KEEP, 2, 4, 0, 0, 0, 0, ""), -EINVAL, "ec=4+0");
    cr_assert_eq(with_state(CN_ST_KEEP, 2, 30, 11, 0, 0, 0, ""), -EINVAL, "ec=30+11");
    cr_assert_eq(with_state(CN_ST_KEEP, 2, 30, 10, 0, 0, 0, ""), 0, "ec=30+10");
    /* options */
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 3, 0, 0, ""), -EINVAL, "mode 3");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 0, 2, 0, ""), -EINVAL, "compress 2");
    cr_assert_eq(with_state(CN_ST_CREATE, 1, 2, 0, 0, 0, 60, ""), -EINVAL, "after in create");
    cr_assert_eq(with_state(CN_ST_TRASH, 1, 2, 0, 0, 0, 1, ""), -EINVAL, "after in trash");
    cr_assert_eq(with_state(CN_ST_ARCHIVE, 1, 2, 0, 0, 0, 0, ""), -EINVAL, "archive after 0");
    cr_assert_eq(with_state(CN_ST_ARCHIVE, 1, 2, 0, 0, 0, 315360001, ""), -EINVAL,
                 "archive after > 10 years");
    cr_assert_eq(with_state(CN_ST_ARCHIVE, 1, 2, 0, 0, 0, 315360000, ""), 0);
    /* labels */
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 0, 0, 0, "a&"), -EINVAL, "does not parse");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 0, 0, 0, "a b"), -EINVAL, "blank");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 0, 0, 0, "a |b"), -EINVAL, "blank");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 0, 0, 0, "\ta"), -EINVAL, "tab");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 2, 0, 0, 0, 0, "*"), -EINVAL, "'*' is stored as \"\"");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 3, 0, 0, 0, 0, "a,b"), -EINVAL, "2 elements, 3 parts");
    cr_assert_eq(with_state(CN_ST_KEEP, 1, 3, 0, 0, 0, 0, "a,b,c"), 0);
    rec_head(&r, 1, 0, "c", 1);
    S_CP2(&r);
    rec_state(&r, 1, 2, 0, 0, 0, 0, "a\0b", 3);
    S_UNSET(&r);
    S_UNSET(&r);
    cr_assert_eq(rec_decode(&r), -EINVAL, "NUL in labels");
}

/* Valid records to cut and corrupt: the built-ins and a class using every field. */
static size_t sample_records(uint8_t recs[][CN_CLS_REC_MAX], size_t *lens)
{
    struct cn_cls b[5];
    cn_cls_builtins(b, 4);
    memset(&b[4], 0, sizeof(b[4]));
    snprintf(b[4].name, sizeof(b[4].name), "rich.class+1");
    b[4].st[0] = parse_ok("ec=4+2 labels=a,b,c,d,e,(f|g)&!h mode=strict", CN_ST_CREATE);
    b[4].st[1] = parse_ok("copies=3 labels=zone=a|zone=b compress=zstd", CN_ST_KEEP);
    b[4].st[2] = parse_ok("ec=8+3 labels=hdd mode=loose after=7d", CN_ST_ARCHIVE);
    b[4].st[3] = parse_ok("copies=1 labels=!backup", CN_ST_TRASH);
    for (size_t i = 0; i < 5; i++)
        lens[i] = cn_cls_encode(&b[i], recs[i]);
    return 5;
}

Test(cls, record_truncations, .description = "every proper prefix of a valid record is EINVAL")
{
    uint8_t recs[5][CN_CLS_REC_MAX];
    size_t lens[5], n = sample_records(recs, lens);
    for (size_t i = 0; i < n; i++) {
        struct cn_cls c;
        cr_assert_eq(cn_cls_decode(recs[i], lens[i], &c), 0, "record %zu whole", i);
        for (size_t len = 0; len < lens[i]; len++) {
            /* an exact-size heap copy, so an overread would touch past the block */
            uint8_t *cut = malloc(len ? len : 1);
            cr_assert_not_null(cut);
            memcpy(cut, recs[i], len);
            memset(&c, 0x5a, sizeof(c));
            cr_assert_eq(cn_cls_decode(cut, len, &c), -EINVAL, "record %zu cut at %zu", i, len);
            cr_assert_eq(c.builtin, 0x5a, "out untouched on failure");
            free(cut);
        }
        cr_assert_eq(cn_cls_decode(NULL, 0, &c), -EINVAL);
    }
}

Test(cls, record_corruptions, .description = "every single-byte change decodes cleanly or fails")
{
    uint8_t recs[5][CN_CLS_REC_MAX];
    size_t lens[5], n = sample_records(recs, lens), accepted = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *bad = malloc(lens[i]);
        cr_assert_not_null(bad);
        for (size_t pos = 0; pos < lens[i]; pos++) {
            for (unsigned v = 0; v < 256; v++) {
                struct cn_cls c;
                uint8_t again[CN_CLS_REC_MAX];
                memcpy(bad, recs[i], lens[i]);
                bad[pos] = (uint8_t)v;
                int rc = cn_cls_decode(bad, lens[i], &c);
                cr_assert(rc == 0 || rc == -EINVAL, "rc %d", rc);
                if (rc != 0)
                    continue;
                accepted++;
                /* what decodes is canonical: it encodes back to the same bytes */
                cr_assert_eq(cn_cls_encode(&c, again), lens[i], "record %zu byte %zu = %u", i, pos,
                             v);
                cr_assert_arr_eq(again, bad, lens[i], "record %zu byte %zu = %u", i, pos, v);
                for (int s = 0; s < CN_ST_N; s++) {
                    char spec[512];
                    struct cn_cls_state back;
                    if (c.st[s].layout.kind == CN_LAYOUT_NONE)
                        continue;
                    cr_assert(cn_cls_spec_format(&c.st[s], s, spec, sizeof(spec)) > 0);
                    cr_assert_eq(cn_cls_spec_parse(spec, s, &back, err, sizeof(err)), 0, "'%s': %s",
                                 spec, err);
                    cr_assert(state_eq(&back, &c.st[s]), "'%s'", spec);
                }
            }
        }
        free(bad);
    }
    cr_assert(accepted > 0, "some changes (a label letter, a copy count) are still valid");
}
