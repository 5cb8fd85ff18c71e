/*
 * log.c: logfmt lines on stderr.
 *
 * One line per event, built in a stack buffer and written with a single write(2) so lines from
 * different threads never interleave (POSIX: writes up to PIPE_BUF to a pipe are atomic; to a
 * file or terminal one write is as good as it gets).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static atomic_int log_level = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, level);
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Appends to buf at *pos, never past len - 1; the line is cut, never overflowed. */
static void put(char *buf, size_t len, size_t *pos, const char *s, size_t n)
{
    if (*pos >= len - 1)
        return;
    if (n > len - 1 - *pos)
        n = len - 1 - *pos;
    memcpy(buf + *pos, s, n);
    *pos += n;
    buf[*pos] = '\0';
}

static bool needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
            return true;
    return false;
}

/* logfmt value: bare when it can be, else quoted with \" \\ \n \t and \xNN escapes. */
static void put_value(char *buf, size_t len, size_t *pos, const char *v)
{
    if (v == NULL)
        v = "";
    if (!needs_quotes(v)) {
        put(buf, len, pos, v, strlen(v));
        return;
    }
    put(buf, len, pos, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[5];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(buf, len, pos, esc, 2);
        } else if (*p == '\n') {
            put(buf, len, pos, "\\n", 2);
        } else if (*p == '\t') {
            put(buf, len, pos, "\\t", 2);
        } else if (*p < ' ' || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            put(buf, len, pos, esc, 4);
        } else {
            put(buf, len, pos, (const char *)p, 1);
        }
    }
    put(buf, len, pos, "\"", 1);
}

static void format_fields(char *buf, size_t len, size_t *pos, enum log_level level, const char *msg,
                          va_list ap)
{
    put(buf, len, pos, "level=", 6);
    put(buf, len, pos, level_names[level], strlen(level_names[level]));
    put(buf, len, pos, " msg=", 5);
    put_value(buf, len, pos, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        put(buf, len, pos, " ", 1);
        put(buf, len, pos, key, strlen(key));
        put(buf, len, pos, "=", 1);
        put_value(buf, len, pos, value);
    }
}

void log_format(char *buf, unsigned long len, enum log_level level, const char *msg, ...)
{
    size_t pos = 0;
    va_list ap;

    if (len == 0)
        return;
    buf[0] = '\0';
    va_start(ap, msg);
    format_fields(buf, len, &pos, level, msg, ap);
    va_end(ap);
}

void log_msg(enum log_level level, const char *msg, ...)
{
    char line[LOG_LINE_MAX];
    size_t pos = 0;
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    va_list ap;

    if ((int)level < atomic_load(&log_level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    line[0] = '\0';
    put(line, sizeof(line), &pos, "ts=", 3);
    put(line, sizeof(line), &pos, stamp, strlen(stamp));
    snprintf(stamp, sizeof(stamp), ".%03ldZ ", ts.tv_nsec / 1000000);
    put(line, sizeof(line), &pos, stamp, strlen(stamp));
    va_start(ap, msg);
    format_fields(line, sizeof(line) - 1, &pos, level, msg, ap);
    va_end(ap);
    line[pos++] = '\n';
    /* Nothing useful to do if stderr is gone. */
    if (write(STDERR_FILENO, line, pos) < 0)
        return;
}
