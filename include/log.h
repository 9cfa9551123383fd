/*
 * Logging to stderr, one line per event: a UTC timestamp, a level and the message. No
 * colours and no buffering, so journald and test harnesses read it as it happens. Lines
 * are formatted on the stack (LOG_LINE_BYTES_MAX); nothing is allocated.
 */
#ifndef KV_LOG_H
#define KV_LOG_H

enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

#define LOG_LINE_BYTES_MAX 1024u

void log_line(enum log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_line(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_line(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_line(LOG_ERROR, __VA_ARGS__)

#endif
