/*
 * log.h: logfmt lines on stderr, e.g.
 *   ts=2026-11-25T14:19:34.123Z level=error msg="check found corruption" db=orders path=/srv/o.db
 *
 * or with log_format = json one JSON object a line (valid UTF-8: bad bytes become U+FFFD):
 *   {"ts":"2026-11-25T14:19:34.123Z","level":"error","msg":"check found corruption","db":"orders"}
 *
 * Fields are given as key/value string pairs ending with NULL; values are quoted and escaped
 * when logfmt needs it. Thread-safe: each line is written with one write(2).
 *
 * Rate limited: at most LOGLIMIT_BURST lines per cause per LOGLIMIT_WINDOW_S (loglimit.h); the
 * cause is msg plus the value of a "db" field. What was dropped is counted and reported.
 */
#ifndef SQLITE_AGENT_LOG_H
#define SQLITE_AGENT_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON };

void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error"; returns 0, or -1 for anything else. */
int log_parse_level(const char *s, enum log_level *out);

/* Lines dropped by the rate limit since start. */
unsigned long long log_lines_dropped(void);

/* "logfmt", "json"; returns 0, or -1 for anything else. */
int log_parse_format(const char *s, enum log_format *out);
void log_set_format(enum log_format f);

void log_msg(enum log_level level, const char *msg, ...) __attribute__((sentinel));
/* As log_msg, rate limited under cause instead of msg: for messages whose text varies with
 * each line (libmicrohttpd's, already formatted: the cause is its format string). */
void log_msg_as(enum log_level level, const char *cause, const char *msg, ...)
    __attribute__((sentinel));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Formats one logfmt line into buf (at most len bytes, always terminated) without writing it:
 * what log_msg() writes, minus the timestamp. For tests. */
void log_format(char *buf, unsigned long len, enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

/* The same as one JSON object, minus the timestamp: {"level":...,"msg":...,...}. For tests. */
void log_format_json(char *buf, unsigned long len, enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

#endif
