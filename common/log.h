/*
 * log.h - the one logger of every Cairn daemon and tool.
 *
 * Each message starts with the name of the module that logs it
 * ("cs_serv: ...") so a line says where it comes from without a stack. The
 * macros compare the level before evaluating their arguments, so a debug line
 * in a hot path costs one load and a branch when debug is off.
 *
 * Output goes to stderr, a file (opened O_APPEND; cn_log_reopen() after
 * logrotate) and/or syslog. Each line is formatted into a local buffer and
 * written with one write(2), so lines from several threads never interleave.
 *
 * The logger's configuration is the one deliberate global outside a daemon's
 * main.c: logging is needed from every module and thread, and threading a
 * context pointer into every call site would cost more than it buys. It is
 * set only by cn_log_init()/cn_log_set_level() (called from main.c) and
 * released by cn_log_close().
 */
#ifndef CN_LOG_H
#define CN_LOG_H

#include <stdarg.h>
#include <stdlib.h>

enum cn_log_level {
    CN_LOG_ERROR = 0,
    CN_LOG_WARN = 1,
    CN_LOG_INFO = 2,
    CN_LOG_DEBUG = 3,
};

struct cn_log_config {
    int level;         /* enum cn_log_level: messages above it are dropped */
    int to_stderr;     /* 1: write lines to stderr */
    const char *file;  /* NULL or a path to append to (borrowed for the call) */
    int to_syslog;     /* 1: also send to syslog(3), facility LOG_DAEMON */
    const char *ident; /* program name for lines and syslog, e.g. "cairn-master" */
};

/* Deliberate exception to "no globals" (see the file comment); read by the
 * macros, written only by cn_log_init()/cn_log_set_level(). */
extern int cn_log_max_level;

/* Configure the logger. Call from main() before other threads start. Returns
 * 0 or -errno when the file cannot be opened (the old settings stay then). */
int cn_log_init(const struct cn_log_config *cfg);
/* Change the level at run time (config reload). Any thread. */
void cn_log_set_level(int level);
/* Reopen the log file (after rotation). 0 or -errno. Loop thread of main.c. */
int cn_log_reopen(void);
/* Close the file and syslog; logging falls back to stderr at INFO. */
void cn_log_close(void);
/* "error"/"warn"/"info"/"debug" -> level, or -1. */
int cn_log_level_parse(const char *s);
const char *cn_log_level_name(int level);

/* Write one line now (no level check: use the macros). Any thread. */
void cn_log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cn_log_vwrite(int level, const char *module, const char *fmt, va_list ap);

#define CN_LOG(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= __atomic_load_n(&cn_log_max_level, __ATOMIC_RELAXED))                       \
            cn_log_write((level), (module), __VA_ARGS__);                                          \
    } while (0)
#define cn_log_error(module, ...) CN_LOG(CN_LOG_ERROR, module, __VA_ARGS__)
#define cn_log_warn(module, ...)  CN_LOG(CN_LOG_WARN, module, __VA_ARGS__)
#define cn_log_info(module, ...)  CN_LOG(CN_LOG_INFO, module, __VA_ARGS__)
#define cn_log_debug(module, ...) CN_LOG(CN_LOG_DEBUG, module, __VA_ARGS__)

/* Impossible state: log file:line and abort (STYLE 11: not for bad input). */
#define CN_BUG(fmt, ...)                                                                           \
    do {                                                                                           \
        cn_log_write(CN_LOG_ERROR, "BUG", "%s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__);       \
        abort();                                                                                   \
    } while (0)

#endif
