/*
 * log.c - formatting and output of log lines (see log.h for the why).
 *
 * Line format: "2026-11-26 06:21:36.123 cairn-master[1234] info: module: text\n".
 * A line longer than the buffer is cut and ends with "...". The file is
 * swapped under writers with dup2(), so cn_log_reopen() needs no lock.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048

/* Deliberate global (log.h): the logger's configuration, owned by cn_log_init(). */
int cn_log_max_level = CN_LOG_INFO;
static struct {
    int to_stderr;
    int fd; /* -1: no file */
    int to_syslog;
    char ident[64];
    char path[4096];
} g_log = {1, -1, 0, "cairn", ""};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int cn_log_level_parse(const char *s)
{
    for (int i = 0; i <= CN_LOG_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return CN_LOG_WARN;
    return -1;
}

const char *cn_log_level_name(int level)
{
    return level >= 0 && level <= CN_LOG_DEBUG ? level_names[level] : "?";
}

int cn_log_init(const struct cn_log_config *cfg)
{
    int fd = -1;
    if (cfg->file && cfg->file[0]) {
        fd = open(cfg->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
    }
    if (g_log.fd >= 0)
        close(g_log.fd);
    if (g_log.to_syslog)
        closelog();
    g_log.fd = fd;
    snprintf(g_log.path, sizeof(g_log.path), "%s", fd >= 0 ? cfg->file : "");
    snprintf(g_log.ident, sizeof(g_log.ident), "%s", cfg->ident ? cfg->ident : "cairn");
    g_log.to_stderr = cfg->to_stderr;
    g_log.to_syslog = cfg->to_syslog;
    if (g_log.to_syslog)
        openlog(g_log.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    cn_log_set_level(cfg->level);
    return 0;
}

void cn_log_set_level(int level)
{
    if (level < CN_LOG_ERROR)
        level = CN_LOG_ERROR;
    if (level > CN_LOG_DEBUG)
        level = CN_LOG_DEBUG;
    __atomic_store_n(&cn_log_max_level, level, __ATOMIC_RELAXED);
}

int cn_log_reopen(void)
{
    if (g_log.fd < 0)
        return 0;
    int fd = open(g_log.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = dup2(fd, g_log.fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

void cn_log_close(void)
{
    if (g_log.fd >= 0)
        close(g_log.fd);
    if (g_log.to_syslog)
        closelog();
    g_log.fd = -1;
    g_log.to_syslog = 0;
    g_log.to_stderr = 1;
    cn_log_set_level(CN_LOG_INFO);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failing log */
        p += w;
        n -= (size_t)w;
    }
}

void cn_log_vwrite(int level, const char *module, const char *fmt, va_list ap)
{
    char line[LINE_MAX_BYTES];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    int head = snprintf(line, sizeof(line),
                        "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        ts.tv_nsec / 1000000, g_log.ident, (int)getpid(), cn_log_level_name(level));
    if (head < 0)
        return;
    size_t n = (size_t)head;
    size_t body = n; /* syslog gets the line without our timestamp */
    int m = snprintf(line + n, sizeof(line) - n, "%s: ", module ? module : "-");
    n += m > 0 ? (size_t)m : 0;
    if (n < sizeof(line)) {
        m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        n += m > 0 ? (size_t)m : 0;
    }
    if (n > sizeof(line) - 2) { /* cut: keep room for "...\n" */
        n = sizeof(line) - 2;
        memcpy(line + n - 3, "...", 3);
    }
    line[n++] = '\n';
    if (g_log.to_stderr)
        write_all(2, line, n);
    if (g_log.fd >= 0)
        write_all(g_log.fd, line, n);
    if (g_log.to_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        int lv = level < 0 ? 0 : level > CN_LOG_DEBUG ? CN_LOG_DEBUG : level;
        syslog(prio[lv], "%.*s", (int)(n - 1 - body), line + body);
    }
}

void cn_log_write(int level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_log_vwrite(level, module, fmt, ap);
    va_end(ap);
}
