/*
 * log.c: logfmt (or JSON) lines on stderr.
 *
 * One line per event, built in a stack buffer and written with a single write(2) so lines from
 * different threads never interleave (POSIX: writes up to PIPE_BUF to a pipe are atomic; to a
 * file or terminal one write is as good as it gets).
 *
 * Every line passes a rate limit per cause (loglimit.h): the cause is the message plus its db
 * field, or what log_msg_as() names. Lines over the limit are counted and reported as one
 * "log lines dropped" line when the cause's window ends, with the next line logged.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loglimit.h"
#include "utf8.h"

#define LOG_LINE_MAX 2048
/* Room kept at the end of a JSON line for the closing quote, brace and newline, so a cut line
 * is still one valid JSON object. */
#define LOG_JSON_TAIL 4
#define LOG_REPORTS_MAX 8 /* "log lines dropped" lines written before one line */

static atomic_int log_level = LOG_INFO;
static atomic_int log_fmt = LOG_FORMAT_LOGFMT;

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loglimit limit; /* behind limit_lock */
static atomic_ullong dropped_total;

unsigned long long log_lines_dropped(void)
{
    return atomic_load(&dropped_total);
}

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

void log_set_format(enum log_format f)
{
    atomic_store(&log_fmt, f);
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = LOG_FORMAT_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
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

/* A JSON string (RFC 8259, 7) of v, valid UTF-8 whatever v holds: bytes that start no
 * well-formed sequence become U+FFFD. Each escape goes in whole or not at all, and nothing is
 * written past len - 1 - LOG_JSON_TAIL, so the caller can always close the line. */
static void put_json_string(char *buf, size_t len, size_t *pos, const char *v)
{
    size_t end = len - 1 - LOG_JSON_TAIL;
    const unsigned char *p = (const unsigned char *)(v ? v : "");
    size_t n = strlen((const char *)p);

    put(buf, len, pos, "\"", 1);
    while (n > 0) {
        char esc[8];
        const char *unit = esc;
        size_t ulen, step = 1;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            ulen = 2;
        } else if (*p < 0x20) {
            ulen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
        } else if ((step = utf8_seq_len(p, n)) == 0) {
            unit = UTF8_REPLACEMENT;
            ulen = UTF8_REPLACEMENT_LEN;
            step = 1;
        } else {
            unit = (const char *)p;
            ulen = step;
        }
        if (*pos + ulen > end)
            break;
        put(buf, len, pos, unit, ulen);
        p += step;
        n -= step;
    }
    put(buf, len, pos, "\"", 1);
}

static void put_pair(char *buf, size_t len, size_t *pos, const char *key, const char *value,
                     bool json)
{
    if (json) {
        /* The key whole and room to open and close its value, or the pair is left out. */
        if (*pos + strlen(key) + 6 + LOG_JSON_TAIL > len - 1)
            return;
        put(buf, len, pos, ",", 1);
        put_json_string(buf, len, pos, key);
        put(buf, len, pos, ":", 1);
        put_json_string(buf, len, pos, value);
        return;
    }
    put(buf, len, pos, " ", 1);
    put(buf, len, pos, key, strlen(key));
    put(buf, len, pos, "=", 1);
    put_value(buf, len, pos, value);
}

/* level, msg and the key/value pairs of ap; in JSON, without the braces. */
static void format_fields(char *buf, size_t len, size_t *pos, enum log_level level, const char *msg,
                          va_list ap, bool json)
{
    if (json) {
        put(buf, len, pos, "\"level\":\"", 9);
        put(buf, len, pos, level_names[level], strlen(level_names[level]));
        put(buf, len, pos, "\"", 1);
        put_pair(buf, len, pos, "msg", msg, true);
    } else {
        put(buf, len, pos, "level=", 6);
        put(buf, len, pos, level_names[level], strlen(level_names[level]));
        put(buf, len, pos, " msg=", 5);
        put_value(buf, len, pos, msg);
    }
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        put_pair(buf, len, pos, key, value, json);
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
    format_fields(buf, len, &pos, level, msg, ap, false);
    va_end(ap);
}

void log_format_json(char *buf, unsigned long len, enum log_level level, const char *msg, ...)
{
    size_t pos = 0;
    va_list ap;

    if (len < 2)
        return;
    buf[0] = '\0';
    put(buf, len, &pos, "{", 1);
    va_start(ap, msg);
    format_fields(buf, len - 1, &pos, level, msg, ap, true);
    va_end(ap);
    buf[pos++] = '}';
    buf[pos] = '\0';
}

/* FNV-1a, 64 bit, over s and its terminating NUL, continuing from h. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    do {
        h ^= *p;
        h *= 0x100000001b3ull;
    } while (*p++);
    return h;
}

/* The cause of a line: its cause (or msg) and the value of its db field, if any. */
static uint64_t cause_key(const char *cause, va_list ap)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, cause);

    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        if (strcmp(key, "db") == 0 && value != NULL)
            h = fnv1a(h, value);
    }
    return h;
}

static void write_line(enum log_level level, const char *msg, va_list ap)
{
    char line[LOG_LINE_MAX];
    size_t pos = 0;
    struct timespec ts;
    struct tm tm;
    char stamp[40], ms[24];
    bool json = atomic_load(&log_fmt) == LOG_FORMAT_JSON;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ms, sizeof(ms), ".%03dZ", (int)(ts.tv_nsec / 1000000));
    line[0] = '\0';
    put(line, sizeof(line), &pos, json ? "{\"ts\":\"" : "ts=", json ? 7 : 3);
    put(line, sizeof(line), &pos, stamp, strlen(stamp));
    put(line, sizeof(line), &pos, ms, strlen(ms));
    put(line, sizeof(line), &pos, json ? "\"," : " ", json ? 2 : 1);
    format_fields(line, sizeof(line) - 1, &pos, level, msg, ap, json);
    if (json)
        line[pos++] = '}';
    line[pos++] = '\n';
    /* Nothing useful to do if stderr is gone. */
    if (write(STDERR_FILENO, line, pos) < 0)
        return;
}

/* Writes one line through write_line; the fields come as a va_list already started. */
static void write_fields(enum log_level level, const char *msg, ...)
{
    va_list ap;

    va_start(ap, msg);
    write_line(level, msg, ap);
    va_end(ap);
}

/* Takes the rate limit's decision for one line, and writes the drop reports it is owed. */
static bool admit(const char *cause, va_list ap)
{
    struct loglimit_report reports[LOG_REPORTS_MAX];
    struct timespec ts;
    va_list aq;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    va_copy(aq, ap);
    uint64_t key = cause_key(cause, aq);
    va_end(aq);
    pthread_mutex_lock(&limit_lock);
    unsigned n = loglimit_collect(&limit, ts.tv_sec, reports, LOG_REPORTS_MAX);
    bool ok = loglimit_admit(&limit, key, cause, ts.tv_sec);
    pthread_mutex_unlock(&limit_lock);
    if (!ok)
        atomic_fetch_add(&dropped_total, 1);
    for (unsigned i = 0; i < n; i++) {
        char count[24], window[24];
        snprintf(count, sizeof(count), "%lu", reports[i].dropped);
        snprintf(window, sizeof(window), "%ds", LOGLIMIT_WINDOW_S);
        write_fields(LOG_WARN, "log lines dropped (rate limit per cause)", "cause", reports[i].name,
                     "dropped", count, "window", window, NULL);
    }
    return ok;
}

static void vlog(enum log_level level, const char *cause, const char *msg, va_list ap)
{
    va_list aq;

    if ((int)level < atomic_load(&log_level))
        return;
    va_copy(aq, ap);
    bool ok = admit(cause ? cause : msg, aq);
    va_end(aq);
    if (ok)
        write_line(level, msg, ap);
}

void log_msg(enum log_level level, const char *msg, ...)
{
    va_list ap;

    va_start(ap, msg);
    vlog(level, NULL, msg, ap);
    va_end(ap);
}

void log_msg_as(enum log_level level, const char *cause, const char *msg, ...)
{
    va_list ap;

    va_start(ap, msg);
    vlog(level, cause, msg, ap);
    va_end(ap);
}
