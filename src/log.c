/*
 * Log lines: "2026-11-24T19:57:09.123Z info message". The whole line is formatted into a
 * stack buffer and written with one write(2), so lines from a crash or a signal never
 * interleave and stdio never allocates a buffer after startup.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *const log_level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warning",
    [LOG_ERROR] = "error",
};

void log_line(enum log_level level, const char *format, ...)
{
    char line[LOG_LINE_BYTES_MAX];
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    int head = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                        utc.tm_sec, now.tv_nsec / 1000000, log_level_names[level]);
    if (head < 0) {
        return;
    }
    va_list args;
    va_start(args, format);
    int body = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, format, args);
    va_end(args);
    size_t length = (size_t)head + (body < 0 ? 0 : (size_t)body);
    if (length > sizeof(line) - 2) {
        length = sizeof(line) - 2;
    }
    line[length] = '\n';
    ssize_t written = write(STDERR_FILENO, line, length + 1);
    (void)written; /* Nowhere left to report a failed log write. */
}
