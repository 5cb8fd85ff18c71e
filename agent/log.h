/*
 * log.h: logfmt lines on stderr, e.g.
 *   ts=2026-11-25T14:19:34.123Z level=error msg="check found corruption" db=orders path=/srv/o.db
 *
 * Fields are given as key/value string pairs ending with NULL; values are quoted and escaped
 * when logfmt needs it. Thread-safe: each line is written with one write(2).
 */
#ifndef SQLITE_AGENT_LOG_H
#define SQLITE_AGENT_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error"; returns 0, or -1 for anything else. */
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *msg, ...) __attribute__((sentinel));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Formats one logfmt line into buf (at most len bytes, always terminated) without writing it:
 * what log_msg() writes, minus the timestamp. For tests. */
void log_format(char *buf, unsigned long len, enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

#endif
