/*
 * fuzz_cls.c - libFuzzer target for common/cls.c: the class record decoder
 * (bytes from the metadata store and from changelog replay), the SPEC
 * parser and the label expression compiler (text from `cairn class`).
 *
 * The input is used twice. As bytes, for cn_cls_decode: a record that
 * decodes is canonical, so it encodes back to the same bytes, decodes
 * again to the same class, and each of its states formats to a SPEC that
 * parses back to it. As NUL-terminated text: for cn_cls_spec_parse in all
 * four states (a SPEC that parses formats to one that parses to the same
 * state, and formatting is stable; a failure always has a message), for
 * cn_lexpr_parse (the compiled postfix programs must agree with a direct
 * recursive evaluation of the canonical text on fixed label sets, and the
 * canonical text must compile to the same program), for the label-set
 * readers and for cn_dur_parse.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const sets[] = {"",    "a",         "a,b",          "b,c",
                                   "a,c", "a,b,c",     "ssd,zone=a",   "hdd,backup,zone=b",
                                   "ssd", "x, a ,y,,", "SSD,Ssd,ssd2", "zone=a,zone=b"};
#define NSETS (sizeof(sets) / sizeof(sets[0]))

static int state_eq(const struct cn_cls_state *a, const struct cn_cls_state *b)
{
    return a->layout.kind == b->layout.kind && a->layout.k == b->layout.k &&
           a->layout.m == b->layout.m && a->mode == b->mode && a->compress == b->compress &&
           a->after_s == b->after_s && strcmp(a->labels, b->labels) == 0;
}

/* A set state formats to a SPEC that parses back to it, formatted alike. */
static void check_spec_round_trip(const struct cn_cls_state *s, int state)
{
    char spec[512], again[512], err[256];
    struct cn_cls_state back;
    int n = cn_cls_spec_format(s, state, spec, sizeof(spec));
    if (n <= 0 || (size_t)n != strlen(spec))
        abort();
    if (cn_cls_spec_parse(spec, state, &back, err, sizeof(err)) != 0 || !state_eq(s, &back))
        abort();
    if (cn_cls_spec_format(&back, state, again, sizeof(again)) != n || strcmp(spec, again) != 0)
        abort();
    if (cn_cls_spec_format(s, state, again, (size_t)n) != -ERANGE)
        abort();
}

static void fuzz_record(const uint8_t *data, size_t size)
{
    struct cn_cls c, d;
    uint8_t buf[CN_CLS_REC_MAX];
    /* an exact-size copy, so any read past the end hits ASan's redzone */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    int rc = cn_cls_decode(copy, size, &c);
    free(copy);
    if (rc == -EINVAL)
        return;
    if (rc != 0)
        abort();
    size_t n = cn_cls_encode(&c, buf);
    if (n > CN_CLS_REC_MAX || n != size || memcmp(buf, data, n) != 0)
        abort(); /* the decoder took a non-canonical record */
    if (cn_cls_decode(buf, n, &d) != 0 || d.builtin != c.builtin || strcmp(d.name, c.name) != 0)
        abort();
    if (!cn_cls_name_ok(c.name) || c.st[CN_ST_CREATE].layout.kind == CN_LAYOUT_NONE)
        abort();
    for (int i = 0; i < CN_ST_N; i++) {
        if (!state_eq(&c.st[i], &d.st[i]))
            abort();
        if (c.st[i].layout.kind != CN_LAYOUT_NONE)
            check_spec_round_trip(&c.st[i], i);
    }
    if (cn_cls_effective(&c, CN_ST_KEEP) < 0 || cn_cls_effective(&c, CN_ST_TRASH) < 0)
        abort();
}

/* ---- reference evaluation of a canonical expression (no blanks, valid) -- */

struct ref {
    const char *p;
    const char *set;
};

static int ref_expr(struct ref *r);

static int ref_factor(struct ref *r)
{
    if (*r->p == '!') {
        r->p++;
        return !ref_factor(r);
    }
    if (*r->p == '(') {
        r->p++;
        int v = ref_expr(r);
        if (*r->p != ')')
            abort();
        r->p++;
        return v;
    }
    if (*r->p == '*') {
        r->p++;
        return 1;
    }
    char label[CN_CLS_LABEL_MAX + 1];
    size_t n = strspn(r->p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:=-");
    if (n == 0 || n > CN_CLS_LABEL_MAX)
        abort();
    memcpy(label, r->p, n);
    label[n] = '\0';
    r->p += n;
    return cn_labels_have(r->set, label);
}

static int ref_term(struct ref *r)
{
    int v = ref_factor(r);
    while (*r->p == '&') {
        r->p++;
        int w = ref_factor(r); /* always read: no short circuit of the cursor */
        v = v && w;
    }
    return v;
}

static int ref_expr(struct ref *r)
{
    int v = ref_term(r);
    while (*r->p == '|') {
        r->p++;
        int w = ref_term(r);
        v = v || w;
    }
    return v;
}

/* The value of element `elem` of canonical text t on set. */
static int ref_match(const char *t, unsigned elem, const char *set)
{
    struct ref r = {t, set};
    if (*t == '\0')
        return 1;
    for (unsigned i = 0; i < elem; i++) {
        r.p = strchr(r.p, ',');
        if (!r.p)
            abort();
        r.p++;
    }
    int v = ref_expr(&r);
    if (*r.p != ',' && *r.p != '\0')
        abort();
    return v;
}

static void fuzz_lexpr(const char *text)
{
    struct cn_lexpr e, e2;
    char err[256];
    err[0] = '\0';
    int rc = cn_lexpr_parse(text, &e, err, sizeof(err));
    if (rc != 0) {
        if (rc != -EINVAL || err[0] != '"')
            abort();
        return;
    }
    if (e.nparts < 1 || e.nparts > CN_CLS_MAX_PARTS || e.nnodes > CN_LEXPR_MAX_NODES ||
        e.start[0] != 0 || e.start[e.nparts] != e.nnodes || strlen(e.text) > CN_CLS_LABELS_MAX ||
        strpbrk(e.text, " \t") || strcmp(e.text, "*") == 0)
        abort();
    if (cn_lexpr_parse(e.text, &e2, err, sizeof(err)) != 0 || e2.nparts != e.nparts ||
        e2.nnodes != e.nnodes || strcmp(e2.text, e.text) != 0 ||
        memcmp(e2.start, e.start, sizeof(e.start)) != 0 ||
        memcmp(e2.node, e.node, e.nnodes * sizeof(e.node[0])) != 0)
        abort(); /* canonical text compiles to the same program */
    for (unsigned part = 0; part <= e.nparts; part++) {
        unsigned elem = part < e.nparts ? part : e.nparts - 1u;
        for (size_t s = 0; s < NSETS; s++)
            if (cn_lexpr_match(&e, part, sets[s]) != ref_match(e.text, elem, sets[s]))
                abort();
    }
}

static void fuzz_text(const char *text)
{
    for (int st = 0; st < CN_ST_N; st++) {
        struct cn_cls_state s;
        char err[256];
        err[0] = '\0';
        int rc = cn_cls_spec_parse(text, st, &s, err, sizeof(err));
        if (rc != 0) {
            if (rc != -EINVAL || err[0] != '"')
                abort();
            continue;
        }
        if (s.layout.kind == CN_LAYOUT_NONE || (st == CN_ST_ARCHIVE) != (s.after_s != 0))
            abort();
        check_spec_round_trip(&s, st);
    }
    fuzz_lexpr(text);

    /* the text as a label set */
    static const char *const exprs[] = {"a", "!a&b", "zone=a|ssd", "*"};
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        struct cn_lexpr e;
        if (cn_lexpr_parse(exprs[i], &e, NULL, 0) != 0)
            abort();
        if (cn_lexpr_match(&e, 0, text) != ref_match(e.text, 0, text))
            abort();
    }
    char z[8];
    size_t zn = cn_labels_zone(text, z, sizeof(z));
    if (zn >= sizeof(z) || strlen(z) != zn)
        abort();

    uint32_t secs;
    if (cn_dur_parse(text, &secs) == 0) {
        char d[16];
        uint32_t back;
        if (secs == 0 || cn_dur_parse(cn_dur_str(secs, d, sizeof(d)), &back) != 0 || back != secs)
            abort();
    }
    struct cn_layout l;
    if (cn_layout_parse(text, &l) == 0) {
        char lb[16];
        struct cn_layout back;
        if (cn_layout_parse(cn_layout_str(&l, lb, sizeof(lb)), &back) != 0 || back.kind != l.kind ||
            back.k != l.k || back.m != l.m || cn_layout_parts(&l) == 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_record(data, size);
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_text(text);
    free(text);
    return 0;
}
