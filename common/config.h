/*
 * config.h - option-table driven INI configuration for every daemon.
 *
 * A daemon describes its options once, in one table (section, name, type,
 * default, bounds, reloadable, help), and that table drives parsing (inih),
 * validation, defaults, `--dump-config` and the shipped example config
 * (STYLE 19; Redis config.c, MooseFS mfs*.cfg). Values land in the daemon's
 * own config struct through offsetof(), so options are plain typed fields.
 *
 * Errors name the file and line and say what is allowed:
 *   master.cfg:12: HEARTBEAT_S = 0: must be between 1 and 3600
 * Unknown keys are errors, not warnings: a misspelt option silently ignored
 * is a setting the operator believes in and does not have.
 *
 * Names and sections match case-insensitively. Thread-safety: functions take
 * all their state as arguments; a config struct belongs to one thread.
 */
#ifndef CN_CONFIG_H
#define CN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A host and port. host is a hostname or an IPv4/IPv6 literal (no brackets);
 * "" or "*" means every interface for a listening socket. */
struct cn_addr {
    char host[256];
    uint16_t port;
};

enum cn_opt_type {
    CN_OPT_STR,      /* char * (allocated; cn_config_release frees), NULL for "" */
    CN_OPT_INT,      /* int64_t, min..max */
    CN_OPT_BOOL,     /* int 0/1: yes/no, true/false, on/off, 1/0 */
    CN_OPT_SIZE,     /* uint64_t bytes: 4096, 64K, 1M, 2G, 1T (powers of 1024) */
    CN_OPT_DURATION, /* int64_t milliseconds: 500ms, 10s, 5m, 2h, 7d (bare = seconds) */
    CN_OPT_ADDR,     /* struct cn_addr: host:port, [v6]:port, :port, or port */
};

struct cn_opt {
    const char *section; /* INI section, "" for keys before any section */
    const char *name;    /* e.g. "HEARTBEAT_S" */
    enum cn_opt_type type;
    size_t off;       /* offsetof(struct daemon_config, field) */
    const char *def;  /* default as text, parsed like the file; NULL = empty */
    int64_t min, max; /* INT/SIZE/DURATION/ADDR(port) bounds; min == max == 0: none */
    int reloadable;   /* 1: cn_config_reload() applies it to a running daemon */
    const char *help; /* one line, shown by --dump-config */
};
/* Tables end with an entry whose name is NULL. */
#define CN_OPT_END                                                                                 \
    {                                                                                              \
        NULL, NULL, 0, 0, NULL, 0, 0, 0, NULL                                                      \
    }

/* Set every option to its default. 0, or -EINVAL with the reason in err (a
 * bad default is a bug in the table, reported like a bad file value). */
int cn_config_defaults(const struct cn_opt *tab, void *cfg, char *err, size_t errlen);

/* Defaults, then the file at `path`. 0, -ENOENT/-EACCES/... when the file
 * cannot be read, or -EINVAL for the first bad line; err receives a message
 * "path:line: ...". On error cfg holds defaults plus the lines before the
 * bad one; release it with cn_config_release() either way. */
int cn_config_load(const struct cn_opt *tab, void *cfg, const char *path, char *err, size_t errlen);

/* Set one option from text, e.g. a command-line "-o SECTION.NAME=VALUE"
 * override; `where` prefixes errors ("command line"). 0 or -EINVAL. */
int cn_config_set(const struct cn_opt *tab, void *cfg, const char *section, const char *name,
                  const char *value, const char *where, char *err, size_t errlen);

/* Re-read `path` into a scratch copy; if it is valid, copy the reloadable
 * options into cfg. Returns the number of non-reloadable options whose new
 * value differs (they need a restart; their names are listed in err), or a
 * negative error as cn_config_load() (cfg untouched). */
int cn_config_reload(const struct cn_opt *tab, void *cfg, size_t cfg_size, const char *path,
                     char *err, size_t errlen);

/* Free the strings of cfg (STR options) and set them to NULL. */
void cn_config_release(const struct cn_opt *tab, void *cfg);

/* Print cfg as an INI file with each option's help, default and bounds as
 * comments: the output of `--dump-config`, and a valid input for load. */
void cn_config_dump(const struct cn_opt *tab, const void *cfg, FILE *out);

/* Value parsers, also used for command-line flags. 0 or -EINVAL. */
int cn_parse_size(const char *s, uint64_t *out);
int cn_parse_duration_ms(const char *s, int64_t *out);
int cn_parse_bool(const char *s, int *out);
int cn_parse_int(const char *s, int64_t *out);
/* host:port, [v6]:port, :port or a bare port (host ""). default_port is used
 * for a bare host without ":" (0: a port is required). */
int cn_parse_addr(const char *s, uint16_t default_port, struct cn_addr *out);
/* "host:port" / "[v6]:port" into buf (always NUL-terminated). */
const char *cn_addr_format(const struct cn_addr *a, char *buf, size_t len);

#endif
