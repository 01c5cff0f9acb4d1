/*
 * config.c - parsing, validation and dumping of INI files against an option
 * table (see config.h for the why).
 *
 * inih does the INI syntax; it does not give handlers the line number, so we
 * read through our own line-counting reader (ini_parse_stream) and report the
 * first error only: later errors are often consequences of the first.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- value parsers ------------------------------------------------------ */

/* Leading decimal digits of s into *v (no sign); returns the rest or NULL. */
static const char *parse_digits(const char *s, uint64_t *v)
{
    uint64_t n = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return NULL;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return NULL;
        n = n * 10 + d;
    }
    *v = n;
    return p;
}

int cn_parse_int(const char *s, int64_t *out)
{
    int neg = (*s == '-');
    uint64_t v;
    const char *end = parse_digits(s + neg, &v);
    if (!end || *end || v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return -EINVAL;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int cn_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    const char *p = parse_digits(s, &v);
    if (!p)
        return -EINVAL;
    unsigned shift = 0;
    switch (toupper((unsigned char)*p)) {
    case 0:
        break;
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    case 'B':
        if (p[1])
            return -EINVAL;
        break;
    default:
        return -EINVAL;
    }
    if (shift) {
        p++;
        /* accept K, KB, KiB */
        if (*p == 'i' || *p == 'I')
            p++;
        if (*p == 'b' || *p == 'B')
            p++;
        if (*p)
            return -EINVAL;
        if (v > (UINT64_MAX >> shift))
            return -EINVAL;
        v <<= shift;
    }
    *out = v;
    return 0;
}

int cn_parse_duration_ms(const char *s, int64_t *out)
{
    uint64_t v;
    const char *p = parse_digits(s, &v);
    if (!p)
        return -EINVAL;
    uint64_t mul;
    if (*p == 0 || strcmp(p, "s") == 0)
        mul = 1000;
    else if (strcmp(p, "ms") == 0)
        mul = 1;
    else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
        mul = 60000;
    else if (strcmp(p, "h") == 0)
        mul = 3600000;
    else if (strcmp(p, "d") == 0)
        mul = 86400000;
    else
        return -EINVAL;
    if (v > (uint64_t)INT64_MAX / mul)
        return -EINVAL;
    *out = (int64_t)(v * mul);
    return 0;
}

int cn_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_port(const char *s, uint16_t *out)
{
    uint64_t v;
    const char *end = parse_digits(s, &v);
    if (!end || *end || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

static int valid_hostname(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return 0;
    }
    return h[0] != '-' && h[0] != '.';
}

int cn_parse_addr(const char *s, uint16_t default_port, struct cn_addr *out)
{
    struct cn_addr a;
    memset(&a, 0, sizeof(a));
    const char *host = s, *port = NULL;
    size_t hlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return -EINVAL;
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != 0)
            return -EINVAL;
        if (hlen == 0 || hlen >= sizeof(a.host))
            return -EINVAL;
        memcpy(a.host, host, hlen);
        struct in6_addr in6;
        if (inet_pton(AF_INET6, a.host, &in6) != 1)
            return -EINVAL;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            return -EINVAL; /* a bare IPv6 literal: it needs [brackets] */
        if (!colon) {
            uint16_t p;
            if (*s && parse_port(s, &p) == 0) { /* a bare port */
                a.port = p;
                *out = a;
                return 0;
            }
            hlen = strlen(s);
        } else {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
        if (hlen >= sizeof(a.host))
            return -EINVAL;
        if (!(hlen == 0 || (hlen == 1 && host[0] == '*')) && !valid_hostname(host, hlen))
            return -EINVAL;
        if (!(hlen == 1 && host[0] == '*'))
            memcpy(a.host, host, hlen);
    }
    if (port) {
        if (parse_port(port, &a.port))
            return -EINVAL;
    } else {
        if (!default_port)
            return -EINVAL;
        a.port = default_port;
    }
    *out = a;
    return 0;
}

const char *cn_addr_format(const struct cn_addr *a, char *buf, size_t len)
{
    if (strchr(a->host, ':'))
        snprintf(buf, len, "[%s]:%u", a->host, (unsigned)a->port);
    else
        snprintf(buf, len, "%s:%u", a->host[0] ? a->host : "*", (unsigned)a->port);
    return buf;
}

/* ---- formatting --------------------------------------------------------- */

static void fmt_size(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && v && (v & 1023) == 0) {
        v >>= 10;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%" PRIu64, v);
    else
        snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
}

static void fmt_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < 4; i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%" PRId64 "ms", ms);
}

static void fmt_bound(const struct cn_opt *o, int64_t v, char *buf, size_t len)
{
    if (o->type == CN_OPT_SIZE)
        fmt_size((uint64_t)v, buf, len);
    else if (o->type == CN_OPT_DURATION)
        fmt_duration(v, buf, len);
    else
        snprintf(buf, len, "%" PRId64, v);
}

static void fmt_value(const struct cn_opt *o, const void *cfg, char *buf, size_t len)
{
    const char *p = (const char *)cfg + o->off;
    switch (o->type) {
    case CN_OPT_STR: {
        const char *s = *(char *const *)p;
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case CN_OPT_INT:
        snprintf(buf, len, "%" PRId64, *(const int64_t *)p);
        break;
    case CN_OPT_BOOL:
        snprintf(buf, len, "%s", *(const int *)p ? "yes" : "no");
        break;
    case CN_OPT_SIZE:
        fmt_size(*(const uint64_t *)p, buf, len);
        break;
    case CN_OPT_DURATION:
        fmt_duration(*(const int64_t *)p, buf, len);
        break;
    case CN_OPT_ADDR:
        cn_addr_format((const struct cn_addr *)p, buf, len);
        break;
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- setting one option ------------------------------------------------- */

static const char *type_hint(enum cn_opt_type t)
{
    switch (t) {
    case CN_OPT_STR:
        return "expected text";
    case CN_OPT_INT:
        return "expected an integer";
    case CN_OPT_BOOL:
        return "expected yes/no, true/false, on/off or 1/0";
    case CN_OPT_SIZE:
        return "expected a size such as 4096, 64K, 512M, 2G or 1T";
    case CN_OPT_DURATION:
        return "expected a duration such as 500ms, 10s, 5m, 2h or 7d";
    case CN_OPT_ADDR:
        return "expected host:port, [ipv6]:port, :port or a port";
    }
    return "bad value";
}

/* Parse `value` for option o and store it in cfg; `where` is "file:line". */
static int opt_set(const struct cn_opt *o, void *cfg, const char *value, const char *where,
                   char *err, size_t errlen)
{
    char *p = (char *)cfg + o->off;
    int64_t num = 0;
    int has_range = o->min != 0 || o->max != 0;
    int rc = 0;
    union {
        int64_t i;
        uint64_t u;
        int b;
        struct cn_addr a;
    } v;
    memset(&v, 0, sizeof(v));
    switch (o->type) {
    case CN_OPT_STR: {
        char *s = NULL;
        if (value && *value) {
            s = strdup(value);
            if (!s)
                return -ENOMEM;
        }
        free(*(char **)p);
        *(char **)p = s;
        return 0;
    }
    case CN_OPT_INT:
        rc = cn_parse_int(value, &v.i);
        num = v.i;
        break;
    case CN_OPT_BOOL:
        rc = cn_parse_bool(value, &v.b);
        has_range = 0;
        break;
    case CN_OPT_SIZE:
        rc = cn_parse_size(value, &v.u);
        if (!rc && v.u > INT64_MAX)
            rc = -EINVAL;
        num = (int64_t)v.u;
        break;
    case CN_OPT_DURATION:
        rc = cn_parse_duration_ms(value, &v.i);
        num = v.i;
        break;
    case CN_OPT_ADDR:
        rc = cn_parse_addr(value, 0, &v.a);
        num = v.a.port;
        break;
    }
    if (rc) {
        set_err(err, errlen, "%s: %s = %s: %s", where, o->name, value, type_hint(o->type));
        return -EINVAL;
    }
    if (has_range && (num < o->min || num > o->max)) {
        char lo[32], hi[32];
        fmt_bound(o, o->min, lo, sizeof(lo));
        fmt_bound(o, o->max, hi, sizeof(hi));
        set_err(err, errlen, "%s: %s = %s: %s must be between %s and %s", where, o->name, value,
                o->type == CN_OPT_ADDR ? "port" : "value", lo, hi);
        /* the common message form for plain numbers reads better without "value" */
        if (o->type != CN_OPT_ADDR)
            set_err(err, errlen, "%s: %s = %s: must be between %s and %s", where, o->name, value,
                    lo, hi);
        return -EINVAL;
    }
    switch (o->type) {
    case CN_OPT_INT:
    case CN_OPT_DURATION:
        *(int64_t *)p = v.i;
        break;
    case CN_OPT_SIZE:
        *(uint64_t *)p = v.u;
        break;
    case CN_OPT_BOOL:
        *(int *)p = v.b;
        break;
    case CN_OPT_ADDR:
        *(struct cn_addr *)p = v.a;
        break;
    case CN_OPT_STR:
        break;
    }
    return 0;
}

static const struct cn_opt *opt_find(const struct cn_opt *tab, const char *section,
                                     const char *name)
{
    for (const struct cn_opt *o = tab; o->name; o++)
        if (strcasecmp(o->section ? o->section : "", section ? section : "") == 0 &&
            strcasecmp(o->name, name) == 0)
            return o;
    return NULL;
}

int cn_config_defaults(const struct cn_opt *tab, void *cfg, char *err, size_t errlen)
{
    for (const struct cn_opt *o = tab; o->name; o++) {
        int rc = opt_set(o, cfg, o->def ? o->def : "", "default", err, errlen);
        if (rc == -EINVAL && (o->type == CN_OPT_STR || !o->def))
            continue; /* no default: the field stays zero */
        if (rc)
            return rc;
    }
    return 0;
}

int cn_config_set(const struct cn_opt *tab, void *cfg, const char *section, const char *name,
                  const char *value, const char *where, char *err, size_t errlen)
{
    const struct cn_opt *o = opt_find(tab, section, name);
    if (!o) {
        set_err(err, errlen, "%s: unknown option %s%s%s (--dump-config lists the options)", where,
                section && *section ? section : "", section && *section ? "." : "", name);
        return -EINVAL;
    }
    return opt_set(o, cfg, value, where, err, errlen);
}

void cn_config_release(const struct cn_opt *tab, void *cfg)
{
    for (const struct cn_opt *o = tab; o->name; o++) {
        if (o->type != CN_OPT_STR)
            continue;
        char **p = (char **)((char *)cfg + o->off);
        free(*p);
        *p = NULL;
    }
}

/* ---- loading a file ----------------------------------------------------- */

struct load_ctx {
    const struct cn_opt *tab;
    void *cfg;
    const char *path;
    FILE *f;
    int line;
    int rc;    /* first error */
    int *seen; /* line where each option was set, 0 = not yet */
    char *err;
    size_t errlen;
};

/* fgets that counts lines. inih reads at most `num` bytes per line; a longer
 * line would be split into garbage, so it is refused here (and parsing
 * stops, as if at end of file, with the error recorded). */
static char *counting_reader(char *str, int num, void *stream)
{
    struct load_ctx *c = stream;
    if (c->rc)
        return NULL;
    char *s = fgets(str, num, c->f);
    if (!s)
        return NULL;
    c->line++;
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] != '\n' && !feof(c->f)) {
        set_err(c->err, c->errlen, "%s:%d: line longer than %d bytes; shorten it", c->path, c->line,
                num - 2);
        c->rc = -EINVAL;
        return NULL;
    }
    return s;
}

static int cfg_line_handler(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *c = user;
    if (c->rc)
        return 1;
    char where[512];
    snprintf(where, sizeof(where), "%s:%d", c->path, c->line);
    const struct cn_opt *o = opt_find(c->tab, section, name);
    if (!o) {
        if (section && *section)
            set_err(c->err, c->errlen,
                    "%s: unknown option %s in section [%s] (--dump-config lists the options)",
                    where, name, section);
        else
            set_err(c->err, c->errlen, "%s: unknown option %s (--dump-config lists the options)",
                    where, name);
        c->rc = -EINVAL;
        return 1;
    }
    size_t idx = (size_t)(o - c->tab);
    if (c->seen[idx]) {
        set_err(c->err, c->errlen, "%s: %s set twice (first at line %d); keep one", where, name,
                c->seen[idx]);
        c->rc = -EINVAL;
        return 1;
    }
    c->seen[idx] = c->line;
    c->rc = opt_set(o, c->cfg, value, where, c->err, c->errlen);
    return 1;
}

int cn_config_load(const struct cn_opt *tab, void *cfg, const char *path, char *err, size_t errlen)
{
    struct load_ctx c = {tab, cfg, path, NULL, 0, 0, NULL, err, errlen};
    size_t n = 0;
    int rc = cn_config_defaults(tab, cfg, err, errlen);
    if (rc)
        return rc;
    for (const struct cn_opt *o = tab; o->name; o++)
        n++;
    c.seen = calloc(n + 1, sizeof(int));
    if (!c.seen)
        return -ENOMEM;
    c.f = fopen(path, "r");
    if (!c.f) {
        rc = -errno;
        set_err(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        goto out;
    }
    int line = ini_parse_stream(counting_reader, &c, cfg_line_handler, &c);
    if (c.rc) {
        rc = c.rc;
    } else if (line > 0) {
        set_err(err, errlen, "%s:%d: syntax error: expected [section] or NAME = VALUE", path, line);
        rc = -EINVAL;
    } else if (line < 0) {
        set_err(err, errlen, "%s: cannot parse: out of memory", path);
        rc = -ENOMEM;
    }
out:
    if (c.f)
        fclose(c.f);
    free(c.seen);
    return rc;
}

static int opt_equal(const struct cn_opt *o, const void *a, const void *b)
{
    const char *pa = (const char *)a + o->off, *pb = (const char *)b + o->off;
    switch (o->type) {
    case CN_OPT_STR: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    case CN_OPT_INT:
    case CN_OPT_DURATION:
    case CN_OPT_SIZE:
        return memcmp(pa, pb, 8) == 0;
    case CN_OPT_BOOL:
        return *(const int *)pa == *(const int *)pb;
    case CN_OPT_ADDR: {
        const struct cn_addr *x = (const void *)pa, *y = (const void *)pb;
        return x->port == y->port && strcmp(x->host, y->host) == 0;
    }
    }
    return 0;
}

int cn_config_reload(const struct cn_opt *tab, void *cfg, size_t cfg_size, const char *path,
                     char *err, size_t errlen)
{
    int changed = 0;
    size_t used = 0;
    void *tmp = calloc(1, cfg_size);
    if (!tmp)
        return -ENOMEM;
    int rc = cn_config_load(tab, tmp, path, err, errlen);
    if (rc)
        goto out;
    if (err && errlen)
        err[0] = 0;
    for (const struct cn_opt *o = tab; o->name; o++) {
        if (opt_equal(o, cfg, tmp))
            continue;
        if (!o->reloadable) {
            if (err && used < errlen) {
                int m = snprintf(err + used, errlen - used, "%s%s", changed ? ", " : "", o->name);
                used += m > 0 ? (size_t)m : 0;
            }
            changed++;
            continue;
        }
        size_t sz = o->type == CN_OPT_STR    ? sizeof(char *)
                    : o->type == CN_OPT_BOOL ? sizeof(int)
                    : o->type == CN_OPT_ADDR ? sizeof(struct cn_addr)
                                             : 8;
        if (o->type == CN_OPT_STR)
            free(*(char **)((char *)cfg + o->off));
        memcpy((char *)cfg + o->off, (char *)tmp + o->off, sz);
        if (o->type == CN_OPT_STR)
            *(char **)((char *)tmp + o->off) = NULL; /* moved */
    }
    if (changed && err && used < errlen)
        snprintf(err + used, errlen - used, ": changed, restart to apply");
    rc = changed;
out:
    cn_config_release(tab, tmp);
    free(tmp);
    return rc;
}

/* ---- dumping ------------------------------------------------------------ */

static const char *type_name(enum cn_opt_type t)
{
    static const char *const names[] = {"text", "integer", "yes/no", "size", "duration", "address"};
    return (unsigned)t < 6 ? names[t] : "?";
}

void cn_config_dump(const struct cn_opt *tab, const void *cfg, FILE *out)
{
    const char *section = "";
    char val[320];
    for (const struct cn_opt *o = tab; o->name; o++) {
        const char *sec = o->section ? o->section : "";
        if (strcasecmp(sec, section) != 0) {
            fprintf(out, "\n[%s]\n", sec);
            section = sec;
        }
        fprintf(out, "\n# %s\n# %s, default: %s", o->help ? o->help : "", type_name(o->type),
                o->def && *o->def ? o->def : "(none)");
        if ((o->min || o->max) && o->type != CN_OPT_BOOL && o->type != CN_OPT_STR) {
            char lo[32], hi[32];
            fmt_bound(o, o->min, lo, sizeof(lo));
            fmt_bound(o, o->max, hi, sizeof(hi));
            fprintf(out, ", %s %s..%s", o->type == CN_OPT_ADDR ? "port" : "range", lo, hi);
        }
        fprintf(out, "%s\n", o->reloadable ? ", reloadable" : ", restart to change");
        fmt_value(o, cfg, val, sizeof(val));
        fprintf(out, "%s = %s\n", o->name, val);
    }
}
