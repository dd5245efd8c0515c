/* log.c — the process logger (stderr) and the pure cores' log callback. */
#include "common/common.h"

#include <string.h>
#include <strings.h>
#include <time.h>

int wp_log_level_global = WP_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void wp_log_set_level(int level)
{
    if (level < WP_LOG_ERROR)
        level = WP_LOG_ERROR;
    if (level > WP_LOG_TRACE)
        level = WP_LOG_TRACE;
    wp_log_level_global = level;
}

int wp_log_level_parse(const char *s)
{
    for (size_t i = 0; i < WP_ARRAY_LEN(level_names); i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void wp_log_write(int level, const char *component, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    const char *lv = (level >= 0 && level <= WP_LOG_TRACE) ? level_names[level] : "?";
    /* One fprintf per line keeps lines whole when processes share stderr. */
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s [%s] %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, lv, component ? component : "-", msg);
}

void wp_logger_logf(const wp_logger *lg, int level, uint64_t now_ns, const char *fmt, ...)
{
    if (lg == NULL || lg->fn == NULL || level > lg->level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lg->fn(lg->ctx, level, now_ns, msg);
}
