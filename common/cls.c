/*
 * cls.c - storage classes: SPEC parsing and formatting, label expressions,
 * durations and the stored class record (the contract is common/cls.h).
 *
 * Two decisions a reader must know:
 *
 * 1. Canonical forms. A state's labels are kept as the expression text
 *    with blanks removed ("*" alone becomes ""), and cn_cls_spec_format
 *    leaves every option at its default out, so format -> parse gives back
 *    the same state. The decoder accepts only records the encoder writes
 *    (unset states all zero, canonical labels, after_s in range), so a
 *    decoded class always formats to SPECs that parse, and
 *    encode(decode(bytes)) == bytes.
 * 2. Label expressions compile to postfix programs checked at parse time
 *    (nesting depth LX_MAX_DEPTH, CN_LEXPR_MAX_NODES nodes), and
 *    cn_lexpr_match evaluates them with a fixed stack, re-checking every
 *    node, so a malformed struct gives "no match", never a wild read.
 */
#include "cls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LX_MAX_DEPTH 32u        /* nested parentheses in a label expression */
#define DUR_MAX_S    315360000u /* 10 years of 365 days */
#define QUOTE_MAX    128u       /* bytes of a token quoted in an error message */

static const char *const state_names[CN_ST_N] = {"create", "keep", "archive", "trash"};

const char *cn_cls_state_name(int state)
{
    if (state < 0 || state >= CN_ST_N)
        return "unknown";
    return state_names[state];
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '=' || c == '-';
}

/* Decimal digits s[0..n) into *v; refuses empty, non-digits and values
 * above max (checked digit by digit, so no overflow). */
static int parse_uint(const char *s, size_t n, uint32_t max, uint32_t *v)
{
    uint64_t x = 0;
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        x = x * 10 + (uint64_t)(s[i] - '0');
        if (x > max)
            return -EINVAL;
    }
    *v = (uint32_t)x;
    return 0;
}

/* Appends the token t[0..n) to an error message: quoted, bytes outside
 * printable ASCII as \xNN, cut at QUOTE_MAX bytes. */
static void quote(char *out, size_t outlen, const char *t, size_t n)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < n && i < QUOTE_MAX && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (n > QUOTE_MAX && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* err = "TOKEN" at column COL: MESSAGE */
static void __attribute__((format(printf, 6, 7)))
set_err(char *err, size_t errlen, const char *tok, size_t toklen, size_t col, const char *fmt, ...)
{
    char q[QUOTE_MAX * 4 + 8], msg[256];
    va_list ap;
    if (!err || errlen == 0)
        return;
    quote(q, sizeof(q), tok, toklen);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "\"%s\" at column %zu: %s", q, col, msg);
}

/* ---- layouts ------------------------------------------------------------ */

unsigned cn_layout_parts(const struct cn_layout *l)
{
    switch (l->kind) {
    case CN_LAYOUT_COPIES:
        return l->k;
    case CN_LAYOUT_EC:
        return (unsigned)l->k + l->m;
    default:
        return 0;
    }
}

unsigned cn_layout_spare(const struct cn_layout *l)
{
    switch (l->kind) {
    case CN_LAYOUT_COPIES:
        return l->k ? l->k - 1u : 0;
    case CN_LAYOUT_EC:
        return l->m;
    default:
        return 0;
    }
}

char *cn_layout_str(const struct cn_layout *l, char *buf, size_t len)
{
    if (l->kind == CN_LAYOUT_COPIES)
        snprintf(buf, len, "copies=%u", (unsigned)l->k);
    else if (l->kind == CN_LAYOUT_EC)
        snprintf(buf, len, "ec=%u+%u", (unsigned)l->k, (unsigned)l->m);
    else
        snprintf(buf, len, "none");
    return buf;
}

static int layout_valid(const struct cn_layout *l)
{
    switch (l->kind) {
    case CN_LAYOUT_COPIES:
        return l->k >= 1 && l->k <= CN_CLS_MAX_COPIES && l->m == 0;
    case CN_LAYOUT_EC:
        return l->k >= 1 && l->m >= 1 && (unsigned)l->k + l->m <= CN_CLS_MAX_PARTS;
    default:
        return 0;
    }
}

/* Layout from s[0..n) (not NUL-terminated). */
static int layout_parse_n(const char *s, size_t n, struct cn_layout *out)
{
    struct cn_layout l = {0};
    uint32_t a, b;
    if (n > 7 && memcmp(s, "copies=", 7) == 0) {
        if (parse_uint(s + 7, n - 7, CN_CLS_MAX_COPIES, &a) != 0)
            return -EINVAL;
        l.kind = CN_LAYOUT_COPIES;
        l.k = (uint8_t)a;
    } else if (n > 3 && memcmp(s, "ec=", 3) == 0) {
        const char *plus = memchr(s + 3, '+', n - 3);
        if (!plus)
            return -EINVAL;
        size_t kn = (size_t)(plus - (s + 3)), mn = n - 3 - kn - 1;
        if (parse_uint(s + 3, kn, CN_CLS_MAX_PARTS, &a) != 0 ||
            parse_uint(plus + 1, mn, CN_CLS_MAX_PARTS, &b) != 0)
            return -EINVAL;
        l.kind = CN_LAYOUT_EC;
        l.k = (uint8_t)a;
        l.m = (uint8_t)b;
    } else {
        return -EINVAL;
    }
    if (!layout_valid(&l))
        return -EINVAL;
    *out = l;
    return 0;
}

int cn_layout_parse(const char *s, struct cn_layout *out)
{
    return layout_parse_n(s, strlen(s), out);
}

/* ---- durations ---------------------------------------------------------- */

static int dur_parse_n(const char *s, size_t n, uint32_t *secs)
{
    uint32_t unit = 1, v;
    if (n == 0)
        return -EINVAL;
    switch (s[n - 1]) {
    case 's':
        unit = 1;
        n--;
        break;
    case 'm':
        unit = 60;
        n--;
        break;
    case 'h':
        unit = 3600;
        n--;
        break;
    case 'd':
        unit = 86400;
        n--;
        break;
    default:
        break;
    }
    if (parse_uint(s, n, DUR_MAX_S, &v) != 0 || v == 0 || v > DUR_MAX_S / unit)
        return -EINVAL;
    *secs = v * unit;
    return 0;
}

int cn_dur_parse(const char *s, uint32_t *secs)
{
    return dur_parse_n(s, strlen(s), secs);
}

char *cn_dur_str(uint32_t secs, char *buf, size_t len)
{
    if (secs != 0 && secs % 86400 == 0)
        snprintf(buf, len, "%ud", secs / 86400);
    else if (secs != 0 && secs % 3600 == 0)
        snprintf(buf, len, "%uh", secs / 3600);
    else if (secs != 0 && secs % 60 == 0)
        snprintf(buf, len, "%um", secs / 60);
    else
        snprintf(buf, len, "%us", secs);
    return buf;
}

/* ---- label sets --------------------------------------------------------- */

/* Calls fn on each element of a comma-separated set, blanks around it
 * trimmed; stops at the first nonzero return and returns it. */
static int labels_each(const char *labels, int (*fn)(const char *, size_t, void *), void *arg)
{
    const char *p = labels;
    if (!p)
        return 0;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *a = p, *b = p + n;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        int r = fn(a, (size_t)(b - a), arg);
        if (r)
            return r;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

struct want {
    const char *s;
    size_t n;
};

static int eq_label(const char *l, size_t n, void *arg)
{
    const struct want *w = arg;
    return n == w->n && memcmp(l, w->s, n) == 0;
}

static int have_n(const char *labels, const char *label, size_t n)
{
    struct want w = {label, n};
    if (n == 0)
        return 0;
    return labels_each(labels, eq_label, &w);
}

int cn_labels_have(const char *labels, const char *label)
{
    if (!label)
        return 0;
    return have_n(labels, label, strlen(label));
}

struct zone {
    char *buf;
    size_t len, out;
};

static int find_zone(const char *l, size_t n, void *arg)
{
    struct zone *z = arg;
    if (n <= 5 || memcmp(l, "zone=", 5) != 0)
        return 0;
    n -= 5;
    if (z->len == 0)
        return 1;
    if (n >= z->len)
        n = z->len - 1;
    memcpy(z->buf, l + 5, n);
    z->buf[n] = '\0';
    z->out = n;
    return 1;
}

size_t cn_labels_zone(const char *labels, char *buf, size_t len)
{
    struct zone z = {buf, len, 0};
    if (len > 0)
        buf[0] = '\0';
    labels_each(labels, find_zone, &z);
    return z.out;
}

/* ---- label expressions -------------------------------------------------- */

enum lx_tok { T_END, T_LABEL, T_ANY, T_NOT, T_AND, T_OR, T_LP, T_RP, T_COMMA, T_BAD };

/* Parser state. Positions are byte offsets in the raw text (for errors);
 * coff is the token's offset in the canonical text (blanks removed). */
struct lx {
    const char *s;
    size_t pos;  /* raw offset past the current token */
    size_t cpos; /* canonical offset past the current token */
    int tok;
    size_t tpos, tlen, toff;
    int prev; /* token before the current one (T_END at the start) */
    size_t prev_pos;
    struct cn_lexpr *e;
    size_t err_pos;
    char msg[192];
};

static int lx_fail(struct lx *x, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lx_fail(struct lx *x, size_t pos, const char *fmt, ...)
{
    va_list ap;
    x->err_pos = pos;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Where an error about the current token points: the token, or at the end
 * of the text the token before it (the dangling operator). */
static size_t lx_here(const struct lx *x)
{
    return x->tok == T_END && x->prev != T_END ? x->prev_pos : x->tpos;
}

static int lx_next(struct lx *x)
{
    const char *s = x->s;
    x->prev = x->tok;
    x->prev_pos = x->tpos;
    while (is_blank(s[x->pos]))
        x->pos++;
    x->tpos = x->pos;
    x->toff = x->cpos;
    x->tlen = 1;
    char c = s[x->pos];
    switch (c) {
    case '\0':
        x->tok = T_END;
        x->tlen = 0;
        return 0;
    case '*':
        x->tok = T_ANY;
        break;
    case '!':
        x->tok = T_NOT;
        break;
    case '&':
        x->tok = T_AND;
        break;
    case '|':
        x->tok = T_OR;
        break;
    case '(':
        x->tok = T_LP;
        break;
    case ')':
        x->tok = T_RP;
        break;
    case ',':
        x->tok = T_COMMA;
        break;
    default:
        if (!is_label_char(c)) {
            x->tok = T_BAD;
            if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                return lx_fail(x, x->pos,
                               "'%c' is not allowed: labels are made of A-Z a-z 0-9 _ . : = -", c);
            return lx_fail(x, x->pos,
                           "byte 0x%02x is not allowed: labels are made of A-Z a-z 0-9 _ . : = -",
                           (unsigned char)c);
        }
        size_t n = 0;
        while (is_label_char(s[x->pos + n]))
            n++;
        if (n > CN_CLS_LABEL_MAX)
            return lx_fail(x, x->pos, "label longer than %u bytes", CN_CLS_LABEL_MAX);
        x->tok = T_LABEL;
        x->tlen = n;
        break;
    }
    x->pos += x->tlen;
    x->cpos += x->tlen;
    return 0;
}

static const char *tok_text(int tok)
{
    switch (tok) {
    case T_NOT:
        return "'!'";
    case T_AND:
        return "'&'";
    case T_OR:
        return "'|'";
    case T_LP:
        return "'('";
    case T_COMMA:
        return "','";
    default:
        return "";
    }
}

static int lx_emit(struct lx *x, uint8_t op, size_t at, size_t off, size_t len)
{
    struct cn_lexpr *e = x->e;
    if (e->nnodes >= CN_LEXPR_MAX_NODES)
        return lx_fail(x, at, "expression too long: more than %u labels and operators",
                       CN_LEXPR_MAX_NODES);
    e->node[e->nnodes].op = op;
    e->node[e->nnodes].len = (uint8_t)len;
    e->node[e->nnodes].off = (uint16_t)off;
    e->nnodes++;
    return 0;
}

static int lx_expr(struct lx *x, unsigned depth);

/* factor := '!' factor | '(' expr ')' | '*' | LABEL; the '!' chain is
 * read in a loop, so only parentheses nest. */
static int lx_factor(struct lx *x, unsigned depth)
{
    size_t not_at = x->tpos; /* the first '!' of the chain */
    unsigned nnot = 0;       /* <= 255: one per byte of the text */
    int rc;
    while (x->tok == T_NOT) {
        nnot++;
        if ((rc = lx_next(x)) != 0)
            return rc;
    }
    switch (x->tok) {
    case T_ANY:
        if ((rc = lx_emit(x, CN_LX_ANY, x->tpos, 0, 0)) != 0)
            return rc;
        break;
    case T_LABEL:
        if ((rc = lx_emit(x, CN_LX_LABEL, x->tpos, x->toff, x->tlen)) != 0)
            return rc;
        break;
    case T_LP: {
        size_t lp = x->tpos;
        if (depth >= LX_MAX_DEPTH)
            return lx_fail(x, lp, "parentheses nested deeper than %u", LX_MAX_DEPTH);
        if ((rc = lx_next(x)) != 0 || (rc = lx_expr(x, depth + 1)) != 0)
            return rc;
        if (x->tok == T_END)
            return lx_fail(x, lp, "'(' is never closed");
        if (x->tok != T_RP)
            return lx_fail(x, x->tpos, "expected '&', '|' or ')'");
        break;
    }
    default:
        if (x->prev == T_END || x->prev == T_COMMA)
            return lx_fail(x, lx_here(x), "expected a label, '*', '!' or '('");
        return lx_fail(x, lx_here(x), "expected a label, '*', '!' or '(' after %s",
                       tok_text(x->prev));
    }
    if ((rc = lx_next(x)) != 0)
        return rc;
    for (; nnot > 0; nnot--)
        if ((rc = lx_emit(x, CN_LX_NOT, not_at, 0, 0)) != 0)
            return rc;
    return 0;
}

/* term := factor ('&' factor)* */
static int lx_term(struct lx *x, unsigned depth)
{
    int rc = lx_factor(x, depth);
    while (rc == 0 && x->tok == T_AND) {
        size_t at = x->tpos;
        if ((rc = lx_next(x)) != 0 || (rc = lx_factor(x, depth)) != 0)
            return rc;
        rc = lx_emit(x, CN_LX_AND, at, 0, 0);
    }
    return rc;
}

/* expr := term ('|' term)* */
static int lx_expr(struct lx *x, unsigned depth)
{
    int rc = lx_term(x, depth);
    while (rc == 0 && x->tok == T_OR) {
        size_t at = x->tpos;
        if ((rc = lx_next(x)) != 0 || (rc = lx_term(x, depth)) != 0)
            return rc;
        rc = lx_emit(x, CN_LX_OR, at, 0, 0);
    }
    return rc;
}

/* list := expr (',' expr)*, into x->e. On error: -EINVAL with x->err_pos
 * (raw offset) and x->msg. */
static int lx_parse(struct lx *x, const char *text, struct cn_lexpr *e)
{
    size_t n = 0;
    int rc;
    memset(x, 0, sizeof(*x));
    x->s = text;
    x->e = e;
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; text[i]; i++) {
        if (is_blank(text[i]))
            continue;
        if (n == CN_CLS_LABELS_MAX)
            return lx_fail(x, i, "expression longer than %u bytes", CN_CLS_LABELS_MAX);
        e->text[n++] = text[i];
    }
    e->text[n] = '\0';
    if (n == 0 || (n == 1 && e->text[0] == '*')) {
        e->text[0] = '\0';
        e->nparts = 1;
        e->start[1] = 1;
        e->nnodes = 1;
        e->node[0].op = CN_LX_ANY;
        return 0;
    }
    x->tok = T_END;
    if ((rc = lx_next(x)) != 0)
        return rc;
    for (;;) {
        if (x->tok == T_COMMA || x->tok == T_END)
            return lx_fail(x, x->tok == T_COMMA ? x->tpos : x->prev_pos,
                           "empty element in the label list");
        if (e->nparts == CN_CLS_MAX_PARTS)
            return lx_fail(x, x->prev_pos, "more than %u elements in the label list",
                           CN_CLS_MAX_PARTS);
        e->start[e->nparts] = e->nnodes;
        if ((rc = lx_expr(x, 0)) != 0)
            return rc;
        e->nparts++;
        e->start[e->nparts] = e->nnodes;
        if (x->tok == T_END)
            return 0;
        if (x->tok != T_COMMA)
            return lx_fail(x, x->tpos, "expected '&', '|', ',' or the end");
        if ((rc = lx_next(x)) != 0)
            return rc;
    }
}

int cn_lexpr_parse(const char *text, struct cn_lexpr *out, char *err, size_t errlen)
{
    struct lx x;
    int rc = lx_parse(&x, text, out);
    if (rc != 0) {
        out->nparts = 0;
        out->nnodes = 0;
        set_err(err, errlen, text, strlen(text), x.err_pos + 1, "%s", x.msg);
    }
    return rc;
}

int cn_lexpr_match(const struct cn_lexpr *e, unsigned part, const char *labels)
{
    uint8_t st[CN_LEXPR_MAX_NODES];
    size_t sp = 0;
    if (e->nparts == 0 || e->nparts > CN_CLS_MAX_PARTS)
        return 0;
    unsigned i = part < e->nparts ? part : e->nparts - 1u;
    unsigned a = e->start[i], b = e->start[i + 1];
    if (a >= b || b > e->nnodes || e->nnodes > CN_LEXPR_MAX_NODES)
        return 0;
    for (unsigned k = a; k < b; k++) {
        const struct cn_lexpr_node *nd = &e->node[k];
        switch (nd->op) {
        case CN_LX_LABEL:
            if (nd->len == 0 || (size_t)nd->off + nd->len > CN_CLS_LABELS_MAX ||
                sp == CN_LEXPR_MAX_NODES)
                return 0;
            st[sp++] = (uint8_t)have_n(labels, e->text + nd->off, nd->len);
            break;
        case CN_LX_ANY:
            if (sp == CN_LEXPR_MAX_NODES)
                return 0;
            st[sp++] = 1;
            break;
        case CN_LX_NOT:
            if (sp < 1)
                return 0;
            st[sp - 1] = !st[sp - 1];
            break;
        case CN_LX_AND:
        case CN_LX_OR:
            if (sp < 2)
                return 0;
            sp--;
            st[sp - 1] = nd->op == CN_LX_AND ? (st[sp - 1] && st[sp]) : (st[sp - 1] || st[sp]);
            break;
        default:
            return 0;
        }
    }
    return sp == 1 ? st[0] : 0;
}

/* ---- class states and SPECs --------------------------------------------- */

int cn_cls_name_ok(const char *name)
{
    size_t n = 0;
    if (!name || name[0] == '-')
        return 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= CN_CLS_NAME_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '+' || c == '-'))
            return 0;
    }
    return n >= 1;
}

/* A per-part list must have one element or one per part; returns the
 * element count when it does not fit, else 0. */
static unsigned labels_misfit(const struct cn_lexpr *e, const struct cn_layout *l)
{
    return e->nparts > 1 && e->nparts != cn_layout_parts(l) ? e->nparts : 0;
}

enum { K_LAYOUT, K_LABELS, K_MODE, K_COMPRESS, K_AFTER, K_N };

static int spec_key(const char *k, size_t n)
{
    static const struct {
        const char *name;
        int key;
    } keys[] = {{"copies", K_LAYOUT}, {"ec", K_LAYOUT},         {"labels", K_LABELS},
                {"mode", K_MODE},     {"compress", K_COMPRESS}, {"after", K_AFTER}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strlen(keys[i].name) == n && memcmp(keys[i].name, k, n) == 0)
            return keys[i].key;
    return -1;
}

static int val_is(const char *v, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(v, want, n) == 0;
}

int cn_cls_spec_parse(const char *spec, int state, struct cn_cls_state *out, char *err,
                      size_t errlen)
{
    struct cn_cls_state s;
    struct cn_lexpr e;
    size_t seen[K_N] = {0}; /* column of each key's token, 0 = not seen */
    size_t labels_at = 0, labels_len = 0, len = strlen(spec);
    const char *p = spec;
    memset(&s, 0, sizeof(s));
    if (state < 0 || state >= CN_ST_N) {
        set_err(err, errlen, spec, len, 1, "unknown class state %d", state);
        return -EINVAL;
    }
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        const char *t = p;
        while (*p && !is_blank(*p))
            p++;
        size_t tn = (size_t)(p - t), col = (size_t)(t - spec) + 1;
        const char *eq = memchr(t, '=', tn);
        if (!eq) {
            set_err(err, errlen, t, tn, col,
                    "expected key=value (copies=, ec=, labels=, mode=, compress=, after=)");
            return -EINVAL;
        }
        const char *v = eq + 1;
        size_t vn = tn - (size_t)(v - t);
        int key = spec_key(t, (size_t)(eq - t));
        if (key < 0) {
            set_err(err, errlen, t, tn, col,
                    "unknown key (use copies=, ec=, labels=, mode=, compress=, after=)");
            return -EINVAL;
        }
        if (key == K_LAYOUT && seen[K_LAYOUT]) {
            set_err(err, errlen, t, tn, col,
                    "a second layout (the first is at column %zu): give one of copies=N or "
                    "ec=K+M",
                    seen[K_LAYOUT]);
            return -EINVAL;
        }
        if (seen[key]) {
            set_err(err, errlen, t, tn, col, "%.*s= given twice (first at column %zu)",
                    (int)(eq - t), t, seen[key]);
            return -EINVAL;
        }
        seen[key] = col;
        switch (key) {
        case K_LAYOUT:
            if (layout_parse_n(t, tn, &s.layout) != 0) {
                if (t[0] == 'c')
                    set_err(err, errlen, t, tn, col, "expected copies=N with 1 <= N <= %u",
                            CN_CLS_MAX_COPIES);
                else
                    set_err(err, errlen, t, tn, col, "expected ec=K+M with K, M >= 1 and K+M <= %u",
                            CN_CLS_MAX_PARTS);
                return -EINVAL;
            }
            break;
        case K_LABELS: {
            char text[CN_CLS_LABELS_MAX + 2];
            struct lx x;
            /* a longer value fails in lx_parse at byte 256 all the same */
            size_t cn = vn < sizeof(text) - 1 ? vn : sizeof(text) - 1;
            memcpy(text, v, cn);
            text[cn] = '\0';
            if (lx_parse(&x, text, &e) != 0) {
                set_err(err, errlen, t, tn, col + (size_t)(v - t) + x.err_pos, "%s", x.msg);
                return -EINVAL;
            }
            labels_at = col;
            labels_len = tn;
            memcpy(s.labels, e.text, sizeof(s.labels));
            break;
        }
        case K_MODE:
            if (val_is(v, vn, "strict")) {
                s.mode = CN_MODE_STRICT;
            } else if (val_is(v, vn, "loose")) {
                s.mode = CN_MODE_LOOSE;
            } else {
                set_err(err, errlen, t, tn, col, "expected mode=strict or mode=loose");
                return -EINVAL;
            }
            break;
        case K_COMPRESS:
            if (val_is(v, vn, "zstd")) {
                s.compress = CN_COMPRESS_ZSTD;
            } else if (val_is(v, vn, "none")) {
                s.compress = CN_COMPRESS_NONE;
            } else {
                set_err(err, errlen, t, tn, col, "expected compress=zstd or compress=none");
                return -EINVAL;
            }
            break;
        case K_AFTER:
            if (state != CN_ST_ARCHIVE) {
                set_err(err, errlen, t, tn, col,
                        "after= applies to the archive state only, not to %s", state_names[state]);
                return -EINVAL;
            }
            if (dur_parse_n(v, vn, &s.after_s) != 0) {
                set_err(err, errlen, t, tn, col,
                        "expected after=DURATION above 0 and at most 10 years "
                        "(120, 30s, 15m, 24h, 7d)");
                return -EINVAL;
            }
            break;
        }
    }
    if (!seen[K_LAYOUT]) {
        set_err(err, errlen, spec, len, len + 1, "no layout: the %s state needs copies=N or ec=K+M",
                state_names[state]);
        return -EINVAL;
    }
    if (state == CN_ST_ARCHIVE && !seen[K_AFTER]) {
        set_err(err, errlen, spec, len, len + 1,
                "the archive state needs after=DURATION (120, 30s, 15m, 24h, 7d)");
        return -EINVAL;
    }
    if (labels_at && labels_misfit(&e, &s.layout)) {
        char lb[16];
        set_err(err, errlen, spec + labels_at - 1, labels_len, labels_at,
                "%u label expressions for the %u parts of %s: give one, or one per part",
                (unsigned)e.nparts, cn_layout_parts(&s.layout),
                cn_layout_str(&s.layout, lb, sizeof(lb)));
        return -EINVAL;
    }
    *out = s;
    return 0;
}

int cn_cls_spec_format(const struct cn_cls_state *s, int state, char *buf, size_t len)
{
    char t[512], lb[16], db[16];
    size_t ln = strnlen(s->labels, CN_CLS_LABELS_MAX);
    int n;
    if (state < 0 || state >= CN_ST_N || s->layout.kind == CN_LAYOUT_NONE ||
        s->layout.kind > CN_LAYOUT_EC || s->mode > CN_MODE_LOOSE || s->compress > CN_COMPRESS_ZSTD)
        return -EINVAL;
    n = snprintf(t, sizeof(t), "%s%s%.*s%s%s%s%s", cn_layout_str(&s->layout, lb, sizeof(lb)),
                 ln ? " labels=" : "", (int)ln, s->labels,
                 s->mode == CN_MODE_STRICT  ? " mode=strict"
                 : s->mode == CN_MODE_LOOSE ? " mode=loose"
                                            : "",
                 s->compress == CN_COMPRESS_ZSTD ? " compress=zstd" : "",
                 state == CN_ST_ARCHIVE ? " after=" : "",
                 state == CN_ST_ARCHIVE ? cn_dur_str(s->after_s, db, sizeof(db)) : "");
    if (n < 0 || (size_t)n >= sizeof(t))
        return -ERANGE; /* cannot happen: t holds the longest SPEC */
    if ((size_t)n >= len)
        return -ERANGE;
    memcpy(buf, t, (size_t)n + 1);
    return n;
}

int cn_cls_effective(const struct cn_cls *c, int state)
{
    switch (state) {
    case CN_ST_CREATE:
        return CN_ST_CREATE;
    case CN_ST_KEEP:
        return c->st[CN_ST_KEEP].layout.kind != CN_LAYOUT_NONE ? CN_ST_KEEP : CN_ST_CREATE;
    case CN_ST_ARCHIVE:
        return c->st[CN_ST_ARCHIVE].layout.kind != CN_LAYOUT_NONE ? CN_ST_ARCHIVE : -1;
    case CN_ST_TRASH:
        return c->st[CN_ST_TRASH].layout.kind != CN_LAYOUT_NONE ? CN_ST_TRASH
                                                                : cn_cls_effective(c, CN_ST_KEEP);
    default:
        return -1;
    }
}

size_t cn_cls_builtins(struct cn_cls *out, size_t max)
{
    static const struct {
        const char *name;
        uint8_t copies, ec_k, ec_m; /* ec_k 0: no archive state */
    } b[] = {{"2cp", 2, 0, 0}, {"3cp", 3, 0, 0}, {"ec4+2", 2, 4, 2}, {"ec8+3", 2, 8, 3}};
    size_t n = sizeof(b) / sizeof(b[0]);
    for (size_t i = 0; i < n && i < max; i++) {
        struct cn_cls *c = &out[i];
        memset(c, 0, sizeof(*c));
        c->id = (uint32_t)(CN_CLS_2CP + i);
        c->builtin = 1;
        snprintf(c->name, sizeof(c->name), "%s", b[i].name);
        c->st[CN_ST_CREATE].layout.kind = CN_LAYOUT_COPIES;
        c->st[CN_ST_CREATE].layout.k = b[i].copies;
        c->st[CN_ST_KEEP] = c->st[CN_ST_CREATE];
        if (b[i].ec_k) {
            struct cn_cls_state *a = &c->st[CN_ST_ARCHIVE];
            a->layout.kind = CN_LAYOUT_EC;
            a->layout.k = b[i].ec_k;
            a->layout.m = b[i].ec_m;
            a->after_s = 86400;
        }
    }
    return n;
}

/* ---- the stored record -------------------------------------------------- */

size_t cn_cls_encode(const struct cn_cls *c, uint8_t *buf)
{
    size_t o = 0, n = strnlen(c->name, CN_CLS_NAME_MAX);
    buf[o++] = CN_CLS_REC_VERSION;
    buf[o++] = c->builtin ? 1 : 0;
    buf[o++] = (uint8_t)n;
    memcpy(buf + o, c->name, n);
    o += n;
    for (int i = 0; i < CN_ST_N; i++) {
        const struct cn_cls_state *s = &c->st[i];
        if (s->layout.kind == CN_LAYOUT_NONE) { /* unset: all zero, the one form decode takes */
            memset(buf + o, 0, 10);
            o += 10;
            continue;
        }
        size_t ln = strnlen(s->labels, CN_CLS_LABELS_MAX);
        buf[o++] = s->layout.kind;
        buf[o++] = s->layout.k;
        buf[o++] = s->layout.m;
        buf[o++] = s->mode;
        buf[o++] = s->compress;
        for (int k = 0; k < 4; k++)
            buf[o++] = (uint8_t)(s->after_s >> (8 * k));
        buf[o++] = (uint8_t)ln;
        memcpy(buf + o, s->labels, ln);
        o += ln;
    }
    return o;
}

struct rd {
    const uint8_t *p;
    size_t len, off;
};

static int rd_u8(struct rd *r, uint8_t *v)
{
    if (r->len - r->off < 1)
        return -EINVAL;
    *v = r->p[r->off++];
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
    if (r->len - r->off < 4)
        return -EINVAL;
    const uint8_t *q = r->p + r->off;
    *v = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    r->off += 4;
    return 0;
}

/* n bytes into a NUL-terminated string; refuses NUL bytes inside. */
static int rd_str(struct rd *r, size_t n, char *out)
{
    if (r->len - r->off < n || memchr(r->p + r->off, '\0', n))
        return -EINVAL;
    memcpy(out, r->p + r->off, n);
    out[n] = '\0';
    r->off += n;
    return 0;
}

static int decode_state(struct rd *r, int i, struct cn_cls_state *s)
{
    uint8_t ln;
    if (rd_u8(r, &s->layout.kind) || rd_u8(r, &s->layout.k) || rd_u8(r, &s->layout.m) ||
        rd_u8(r, &s->mode) || rd_u8(r, &s->compress) || rd_u32(r, &s->after_s) || rd_u8(r, &ln) ||
        rd_str(r, ln, s->labels))
        return -EINVAL;
    if (s->layout.kind == CN_LAYOUT_NONE)
        return i != CN_ST_CREATE && s->layout.k == 0 && s->layout.m == 0 && s->mode == 0 &&
                       s->compress == 0 && s->after_s == 0 && ln == 0
                   ? 0
                   : -EINVAL;
    if (!layout_valid(&s->layout) || s->mode > CN_MODE_LOOSE || s->compress > CN_COMPRESS_ZSTD)
        return -EINVAL;
    if (i == CN_ST_ARCHIVE ? s->after_s == 0 || s->after_s > DUR_MAX_S : s->after_s != 0)
        return -EINVAL;
    struct cn_lexpr e;
    struct lx x;
    if (strpbrk(s->labels, " \t") || lx_parse(&x, s->labels, &e) != 0 ||
        strcmp(e.text, s->labels) != 0 || labels_misfit(&e, &s->layout))
        return -EINVAL; /* canonical text only: what cn_cls_spec_parse stores */
    return 0;
}

int cn_cls_decode(const uint8_t *buf, size_t len, struct cn_cls *out)
{
    struct rd r = {buf, len, 0};
    struct cn_cls c;
    uint8_t v, nlen;
    memset(&c, 0, sizeof(c));
    if (rd_u8(&r, &v) || v != CN_CLS_REC_VERSION || rd_u8(&r, &c.builtin) || c.builtin > 1 ||
        rd_u8(&r, &nlen) || nlen > CN_CLS_NAME_MAX || rd_str(&r, nlen, c.name) ||
        !cn_cls_name_ok(c.name))
        return -EINVAL;
    for (int i = 0; i < CN_ST_N; i++)
        if (decode_state(&r, i, &c.st[i]) != 0)
            return -EINVAL;
    if (r.off != len)
        return -EINVAL;
    *out = c;
    return 0;
}
