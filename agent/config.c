/*
 * config.c: the INI configuration, parsed once into an immutable struct (see config.h and
 * docs/configuration.md).
 *
 * Every key is one row of config_keys[] (after Redis config.c): the section it lives in, its
 * name, its type, bounds, the field it sets and its default. Adding a key is one row; adding a
 * section type is one row of section_kinds[], a base() function returning the struct its keys
 * write to (and an add() function if it is "[kind:NAME]" and may repeat), and its key rows.
 *
 * inih splits "key = value", strips whitespace and comments. We drive it through our own reader
 * (config_reader) because of what Debian's libinih 55 does on its own (ini.c, r55 plus Debian's
 * INI_RUNTIME_OPTIONS patch; each point was also checked against the installed library):
 *   - the handler gets no line number (INI_HANDLER_LINENO is 0 in <ini.h>), so the reader
 *     counts lines and the handler reads p->lineno;
 *   - a line longer than its buffer is cut and the rest parsed as the next line; the reader
 *     reads whole physical lines and reports one over CONFIG_MAX_LINE instead;
 *   - section names are copied into char[50] (MAX_SECTION), silently cutting a long
 *     [database:NAME], and a section with no keys never reaches the handler; the reader parses
 *     section headers itself and hands inih a blank line in their place;
 *   - inih reports only the first malformed line (its return value); with ini_allow_no_value a
 *     line without '=' reaches the handler instead, with its line number, so every one is
 *     reported. That holds only while the handler never returns 0 (ini.c skips no-value lines
 *     once an error is recorded), so config_handler always returns 1;
 *   - with ini_allow_multiline (on by default) an indented line continues the previous key:
 *     inih calls the handler again with that key and the line as its value (it does not
 *     append), so "path = /srv/my" then "  data.db" would read as a duplicate "path". The
 *     reader hands inih each line without its indentation, so inih never sees a continuation,
 *     and multiline is off too; the handler names the indented line as one without '='.
 *
 * inih's options are process-wide globals; config_parse() sets them and puts them back. Not
 * thread-safe: load the configuration from one thread at a time (main, at start and on reload).
 */
#include "config.h"
#include "safeopen.h"
#include "sqlitever.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_LINE 4608 /* bytes in a line without its line end: a PATH_MAX path + room */
#define CONFIG_MAX_PATH 4095 /* PATH_MAX (4096, <linux/limits.h>) less its NUL */
#define CONFIG_MAX_NAME 128  /* bytes in a database name: it becomes a metric label */
#define CONFIG_MAX_HOST 253  /* DNS name, RFC 1035 2.3.4, less the final dot */
/* Sections in one file: a fleet of 10,000 explicit [database:NAME] sections must load (issue
 * 10); the cap only bounds memory for a runaway generated file. */
#define CONFIG_MAX_SECTIONS 100000
#define CONFIG_MAX_ERRORS 100 /* written; the rest are counted */
#define CONFIG_ECHO_MAX 60    /* bytes of a bad value quoted back in a message */

/* Bytes in the file: CONFIG_MAX_SECTIONS sections of a dozen keys with comments fit in well
 * under 4 MiB, and no more is ever read (a file that grows while being read, /dev/zero). */
#define CONFIG_MAX_FILE_BYTES (4 * 1024 * 1024)

#define SEC INT64_C(1000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* Bounds (min, max) shared by an [agent] key and the [database:NAME] key inheriting it. */
#define SAMPLE_BOUNDS 100, HOUR
#define CHECK_BOUNDS 100, 7 * DAY
#define TIMEOUT_BOUNDS 100, HOUR
#define YIELD_BOUNDS 0, 10 * SEC
/* check_wal_pin_max: 0 (never step aside for it) .. 1 TiB */
#define PIN_BOUNDS 0, (INT64_C(1) << 40)
#define PORT_BOUNDS 1, 65535
#define PATH_BOUNDS 1, CONFIG_MAX_PATH /* bytes */
#define RESCAN_BOUNDS SEC, DAY
/* evidence_max_bytes: 1 MiB .. 16 TiB */
#define EVIDENCE_BOUNDS (INT64_C(1) << 20), (INT64_C(1) << 44)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const check_kind_names[CHECK_CONFIG_KIND_COUNT] = {
    [CHECK_OFF] = "off",
    [CHECK_QUICK] = "quick",
    [CHECK_INTEGRITY] = "integrity",
    [CHECK_AUTO] = "auto",
};

const char *config_check_kind_str(enum check_kind k)
{
    if ((unsigned)k >= CHECK_CONFIG_KIND_COUNT)
        return "unknown";
    return check_kind_names[k];
}

/* ---- durations ---------------------------------------------------------------------------- */

static const struct {
    const char *suffix;
    int64_t ms;
} duration_units[] = {
    {"d", DAY}, {"h", HOUR}, {"m", MINUTE}, {"s", SEC}, {"ms", 1}, {"", SEC},
};

/* Decimal digits only (no sign, no space) into *out, at most max. Returns the first byte after
 * the digits, or NULL for no digits or a value over max. */
static const char *parse_digits(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    if (p == s)
        return NULL;
    *out = v;
    return p;
}

int config_parse_duration(const char *s, int64_t *ms)
{
    uint64_t v;
    const char *rest;

    if (!s)
        return -1;
    rest = parse_digits(s, INT64_MAX, &v);
    if (!rest)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(duration_units); i++) {
        if (strcmp(rest, duration_units[i].suffix) != 0)
            continue;
        if (v > (uint64_t)(INT64_MAX / duration_units[i].ms))
            return -1;
        *ms = (int64_t)v * duration_units[i].ms;
        return 0;
    }
    return -1;
}

/* The largest unit that divides ms exactly: 100ms, 1s, 7d. */
static void duration_format(int64_t ms, char *buf, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(duration_units); i++) {
        int64_t u = duration_units[i].ms;
        if (ms != 0 && ms % u == 0 && duration_units[i].suffix[0]) {
            snprintf(buf, len, "%lld%s", (long long)(ms / u), duration_units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%lldms", (long long)ms);
}

/* ---- value types ------------------------------------------------------------------------- */

struct config_key;

struct value_type {
    /* Parses value into the key's field of base (the section's struct). Returns 0, or -1 with
     * the reason in why. Owns nothing it is given; frees the field's old string, if any. */
    int (*set)(const struct config_key *k, void *base, const char *value, char *why, size_t len);
    size_t size; /* bytes copied when a key falls back to another; 0: never falls back */
};

enum section_id { SECTION_AGENT, SECTION_DATABASE, SECTION_ALERTMANAGER, SECTION_GLOB };

struct config_key {
    enum section_id section;
    size_t offset; /* of the field in the section's struct */
    const char *name;
    const struct value_type *type;
    int64_t min, max; /* bounds: of the value, of a port, or of a string's length */
    const char *def;  /* default, set through the same parser; NULL: none */
    unsigned flags;
};

#define KEY_REQUIRED 1u /* a section without it is an error */
#define KEY_INHERIT 2u  /* unset: the [agent] key of the same name's value, wherever it is */

/* A bad value quoted back in a message: cut at CONFIG_ECHO_MAX bytes, never inside a UTF-8
 * sequence, with "..." when cut. */
static const char *value_echo(const char *value, char *buf, size_t len)
{
    size_t n = strlen(value);

    if (n <= CONFIG_ECHO_MAX || len < CONFIG_ECHO_MAX + 4) {
        snprintf(buf, len, "%s", value);
        return buf;
    }
    n = CONFIG_ECHO_MAX;
    while (n > 0 && ((unsigned char)value[n] & 0xC0) == 0x80)
        n--;
    snprintf(buf, len, "%.*s...", (int)n, value);
    return buf;
}

static char *str_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int set_duration(const struct config_key *k, void *base, const char *value, char *why,
                        size_t len)
{
    int64_t ms;
    char echo[CONFIG_ECHO_MAX + 4], lo[32], hi[32];

    if (config_parse_duration(value, &ms) != 0) {
        snprintf(why, len,
                 "invalid duration \"%s\" (expected e.g. 500ms, 15s, 5m, 1h, 1d or whole seconds)",
                 value_echo(value, echo, sizeof(echo)));
        return -1;
    }
    if (ms < k->min || ms > k->max) {
        duration_format(k->min, lo, sizeof(lo));
        duration_format(k->max, hi, sizeof(hi));
        snprintf(why, len, "\"%s\" is out of range (%s..%s)", value_echo(value, echo, sizeof(echo)),
                 lo, hi);
        return -1;
    }
    *(int64_t *)((char *)base + k->offset) = ms;
    return 0;
}

static int set_int(const struct config_key *k, void *base, const char *value, char *why, size_t len)
{
    uint64_t v;
    const char *rest = parse_digits(value, INT64_MAX, &v);
    char echo[CONFIG_ECHO_MAX + 4];

    if (!rest || *rest) {
        snprintf(why, len, "invalid number \"%s\" (expected a whole number)",
                 value_echo(value, echo, sizeof(echo)));
        return -1;
    }
    if ((int64_t)v < k->min || (int64_t)v > k->max) {
        snprintf(why, len, "\"%s\" is out of range (%lld..%lld)",
                 value_echo(value, echo, sizeof(echo)), (long long)k->min, (long long)k->max);
        return -1;
    }
    *(int *)((char *)base + k->offset) = (int)v;
    return 0;
}

static int set_check(const struct config_key *k, void *base, const char *value, char *why,
                     size_t len)
{
    char echo[CONFIG_ECHO_MAX + 4];

    for (int i = 0; i < CHECK_CONFIG_KIND_COUNT; i++) {
        if (strcmp(value, check_kind_names[i]) == 0) {
            *(enum check_kind *)((char *)base + k->offset) = (enum check_kind)i;
            return 0;
        }
    }
    snprintf(why, len, "invalid value \"%s\" (expected quick, integrity, auto or off)",
             value_echo(value, echo, sizeof(echo)));
    return -1;
}

static int set_watch(const struct config_key *k, void *base, const char *value, char *why,
                     size_t len)
{
    char echo[CONFIG_ECHO_MAX + 4];
    enum watch_mode *field = (enum watch_mode *)((char *)base + k->offset);

    if (strcmp(value, "normal") == 0 || strcmp(value, "close") == 0) {
        *field = value[0] == 'c' ? WATCH_CLOSE : WATCH_NORMAL;
        return 0;
    }
    snprintf(why, len, "invalid value \"%s\" (expected normal or close)",
             value_echo(value, echo, sizeof(echo)));
    return -1;
}

static int set_log_level(const struct config_key *k, void *base, const char *value, char *why,
                         size_t len)
{
    enum log_level level;
    char echo[CONFIG_ECHO_MAX + 4];

    if (log_parse_level(value, &level) != 0) {
        snprintf(why, len, "invalid value \"%s\" (expected debug, info, warn or error)",
                 value_echo(value, echo, sizeof(echo)));
        return -1;
    }
    *(enum log_level *)((char *)base + k->offset) = level;
    return 0;
}

static int set_log_format(const struct config_key *k, void *base, const char *value, char *why,
                          size_t len)
{
    enum log_format f;
    char echo[CONFIG_ECHO_MAX + 4];

    if (log_parse_format(value, &f) != 0) {
        snprintf(why, len, "invalid value \"%s\" (expected logfmt or json)",
                 value_echo(value, echo, sizeof(echo)));
        return -1;
    }
    *(enum log_format *)((char *)base + k->offset) = f;
    return 0;
}

/* "idle" or "normal": the CPU and I/O priority of check threads (prio.h). */
static int set_priority(const struct config_key *k, void *base, const char *value, char *why,
                        size_t len)
{
    char echo[CONFIG_ECHO_MAX + 4];

    if (strcmp(value, "idle") == 0 || strcmp(value, "normal") == 0) {
        *(enum check_priority *)((char *)base + k->offset) =
            value[0] == 'i' ? CHECK_PRIORITY_IDLE : CHECK_PRIORITY_NORMAL;
        return 0;
    }
    snprintf(why, len, "invalid value \"%s\" (expected idle or normal)",
             value_echo(value, echo, sizeof(echo)));
    return -1;
}

/* A string whose length (in bytes) is within the key's bounds. */
static int set_string(const struct config_key *k, void *base, const char *value, char *why,
                      size_t len)
{
    size_t n = strlen(value);
    char **field = (char **)((char *)base + k->offset);
    char *s;

    if ((int64_t)n < k->min || (int64_t)n > k->max) {
        snprintf(why, len, "%zu bytes long (must be %lld..%lld)", n, (long long)k->min,
                 (long long)k->max);
        return -1;
    }
    /* inih keeps quotes; a quoted value is a mistake, not a name that starts with '"'. */
    if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
        snprintf(why, len, "value is in quotes, which would be kept as part of it; remove them");
        return -1;
    }
    s = str_dup(value, n);
    if (!s) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    free(*field);
    *field = s;
    return 0;
}

/* A host name or IPv4 address, as libc's resolver takes it: letters, digits, '-', '.'. An
 * all-digits-and-dots host must be a valid dotted quad, so "127.0.0.300" is caught here. */
static const char *host_check(const char *host)
{
    bool numeric = true;

    if (strlen(host) > CONFIG_MAX_HOST)
        return "host name too long";
    for (const char *p = host; *p; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.')
            return "invalid host name";
        if (c != '.' && !(c >= '0' && c <= '9'))
            numeric = false;
    }
    if (numeric) {
        struct in_addr a;
        if (inet_pton(AF_INET, host, &a) != 1)
            return "invalid IPv4 address";
    }
    return NULL;
}

/* "HOST:PORT" or "[V6]:PORT". Sets listen, listen_host (no brackets) and listen_port of a
 * struct config; k->min..k->max bound the port. */
static int set_listen(const struct config_key *k, void *base, const char *value, char *why,
                      size_t len)
{
    struct config *c = base;
    const char *host, *port, *err = NULL;
    size_t hostlen;
    uint64_t p;
    char echo[CONFIG_ECHO_MAX + 4], hostbuf[CONFIG_MAX_HOST + 2];
    char *listen = NULL, *listen_host = NULL;

    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':') {
            err = "expected [IPV6]:PORT";
            goto out;
        }
        host = value + 1;
        hostlen = (size_t)(close - host);
        port = close + 2;
    } else {
        const char *colon = strrchr(value, ':');
        if (!colon) {
            err = "expected HOST:PORT or [IPV6]:PORT";
            goto out;
        }
        host = value;
        hostlen = (size_t)(colon - value);
        port = colon + 1;
        if (memchr(host, ':', hostlen)) {
            err = "an IPv6 address needs brackets, e.g. [::1]:10150";
            goto out;
        }
        if (hostlen == 0) {
            err = "missing host (0.0.0.0 or [::] listen on every interface)";
            goto out;
        }
    }
    if (hostlen > CONFIG_MAX_HOST) {
        err = "host name too long";
        goto out;
    }
    memcpy(hostbuf, host, hostlen);
    hostbuf[hostlen] = '\0';
    if (value[0] == '[') {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, hostbuf, &a6) != 1) {
            err = "invalid IPv6 address";
            goto out;
        }
    } else if ((err = host_check(hostbuf)) != NULL) {
        goto out;
    }
    {
        const char *rest = parse_digits(port, UINT16_MAX, &p);
        if (!rest || *rest || (int64_t)p < k->min || (int64_t)p > k->max) {
            err = "port must be a number from 1 to 65535";
            goto out;
        }
    }
    listen = str_dup(value, strlen(value));
    listen_host = str_dup(hostbuf, hostlen);
    if (!listen || !listen_host) {
        err = "out of memory";
        goto out;
    }
    free(c->listen);
    free(c->listen_host);
    c->listen = listen;
    c->listen_host = listen_host;
    c->listen_port = (uint16_t)p;
    listen = listen_host = NULL;
out:
    free(listen);
    free(listen_host);
    if (err) {
        snprintf(why, len, "invalid address \"%s\": %s", value_echo(value, echo, sizeof(echo)),
                 err);
        return -1;
    }
    return 0;
}

/* A list value: words separated by spaces or commas, each handed to one() with its index.
 * At most max words; what is a word is up to one(). Returns the count, or -1 with why set. */
static long split_words(const char *value, size_t max, const char *what,
                        int (*one)(void *dst, size_t i, const char *w, size_t n, char *why,
                                   size_t len),
                        void *dst, char *why, size_t len)
{
    const char *p = value;
    size_t count = 0;

    while (*p) {
        size_t n = strcspn(p, " \t,");
        if (n == 0) {
            p++;
            continue;
        }
        if (count == max) {
            snprintf(why, len, "more than %zu %s", max, what);
            return -1;
        }
        if (one(dst, count, p, n, why, len) != 0)
            return -1;
        count++;
        p += n;
    }
    return (long)count;
}

#define URLS_MAX 8

static void urls_free(struct alertmanager_config *am)
{
    for (size_t i = 0; am->urls && i < URLS_MAX; i++)
        free(am->urls[i]);
    free(am->urls);
    am->urls = NULL;
    am->nurls = 0;
}

static int one_url(void *dst, size_t i, const char *w, size_t n, char *why, size_t len)
{
    char **urls = dst;

    if (!(n > 7 && strncmp(w, "http://", 7) == 0) && !(n > 8 && strncmp(w, "https://", 8) == 0)) {
        int shown = n > 200 ? 200 : (int)n;
        snprintf(why, len, "\"%.*s\" is not an http:// or https:// URL", shown, w);
        return -1;
    }
    urls[i] = str_dup(w, n);
    if (!urls[i]) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    return 0;
}

/* Alertmanager base URLs: "http://a:9093 http://b:9093". The key's field is ignored: the
 * list fills struct alertmanager_config's urls and nurls. */
static int set_urls(const struct config_key *k, void *base, const char *value, char *why,
                    size_t len)
{
    struct alertmanager_config *am = base;
    (void)k;

    urls_free(am);
    am->urls = calloc(URLS_MAX, sizeof(*am->urls));
    if (!am->urls) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    long n = split_words(value, URLS_MAX, "URLs", one_url, am->urls, why, len);
    if (n == 0)
        snprintf(why, len, "no URL given");
    if (n <= 0)
        return -1;
    am->nurls = (size_t)n;
    return 0;
}

#define PATCHED_MAX 32

static int one_version(void *dst, size_t i, const char *w, size_t n, char *why, size_t len)
{
    uint32_t *versions = dst;

    if (sqlitever_parse_n(w, n, &versions[i]))
        return 0;
    int shown = n > 40 ? 40 : (int)n;
    snprintf(why, len, "\"%.*s\" is not an SQLite version like 3.40.1", shown, w);
    return -1;
}

/* SQLite versions, "3.40.1 3.44.2". The key's field is ignored: the list fills struct
 * config's patched and npatched. */
static int set_versions(const struct config_key *k, void *base, const char *value, char *why,
                        size_t len)
{
    struct config *c = base;
    (void)k;

    free(c->patched);
    c->npatched = 0;
    c->patched = calloc(PATCHED_MAX, sizeof(*c->patched));
    if (!c->patched) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    long n = split_words(value, PATCHED_MAX, "versions", one_version, c->patched, why, len);
    if (n < 0)
        return -1;
    c->npatched = (size_t)n;
    return 0;
}

/* A size in bytes: whole bytes, or a whole number of KiB, MiB, GiB or TiB. */
static int set_bytes(const struct config_key *k, void *base, const char *value, char *why,
                     size_t len)
{
    static const struct {
        const char *suffix;
        int shift;
    } units[] = {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
    uint64_t v;
    const char *rest = parse_digits(value, INT64_MAX, &v);
    char echo[CONFIG_ECHO_MAX + 4];

    for (size_t i = 0; rest != NULL && i < ARRAY_LEN(units); i++) {
        if (strcmp(rest, units[i].suffix) != 0)
            continue;
        bool over = v > (uint64_t)(INT64_MAX >> units[i].shift);
        int64_t bytes = over ? INT64_MAX : (int64_t)(v << units[i].shift);
        if (bytes < k->min || bytes > k->max) {
            snprintf(why, len, "\"%s\" is out of range (%lld..%lld bytes)",
                     value_echo(value, echo, sizeof(echo)), (long long)k->min, (long long)k->max);
            return -1;
        }
        *(int64_t *)((char *)base + k->offset) = bytes;
        return 0;
    }
    snprintf(why, len, "invalid size \"%s\" (expected bytes, or e.g. 512MiB, 4GiB)",
             value_echo(value, echo, sizeof(echo)));
    return -1;
}

static const struct value_type type_duration = {set_duration, sizeof(int64_t)};
static const struct value_type type_int = {set_int, sizeof(int)};
static const struct value_type type_check = {set_check, sizeof(enum check_kind)};

static int set_metrics(const struct config_key *k, void *base, const char *value, char *why,
                       size_t len)
{
    char echo[CONFIG_ECHO_MAX + 4];
    enum metrics_level *field = (enum metrics_level *)((char *)base + k->offset);

    if (strcmp(value, "full") == 0)
        *field = METRICS_FULL;
    else if (strcmp(value, "basic") == 0)
        *field = METRICS_BASIC;
    else {
        snprintf(why, len, "invalid value \"%s\" (expected full or basic)",
                 value_echo(value, echo, sizeof(echo)));
        return -1;
    }
    return 0;
}

static const struct value_type type_metrics = {set_metrics, sizeof(enum metrics_level)};
static const struct value_type type_watch = {set_watch, sizeof(enum watch_mode)};
static const struct value_type type_log_level = {set_log_level, sizeof(enum log_level)};
static const struct value_type type_log_format = {set_log_format, sizeof(enum log_format)};
static const struct value_type type_string = {set_string, 0};
static const struct value_type type_priority = {set_priority, sizeof(enum check_priority)};
static const struct value_type type_listen = {set_listen, 0};
static const struct value_type type_urls = {set_urls, 0};
static const struct value_type type_versions = {set_versions, 0};
static const struct value_type type_bytes = {set_bytes, sizeof(int64_t)};

/* A path to a file this process can read now: a missing certificate or password file is found
 * at --check-config, not at the first alert. */
static int set_file(const struct config_key *k, void *base, const char *value, char *why,
                    size_t len)
{
    if (set_string(k, base, value, why, len) != 0)
        return -1;
    FILE *f = fopen(value, "r");
    if (f == NULL) {
        snprintf(why, len, "cannot read %s: %s", value, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

static const struct value_type type_file = {set_file, 0};

/* ---- the keys ---------------------------------------------------------------------------- */

#define A(field) SECTION_AGENT, offsetof(struct config, field)
#define D(field) SECTION_DATABASE, offsetof(struct db_config, field)
#define M(field) SECTION_ALERTMANAGER, offsetof(struct alertmanager_config, field)
#define G(field) SECTION_GLOB, offsetof(struct glob_config, field)
#define RUNBOOK_DEFAULT "https://github.com/OWNER/sqlite-agent/blob/main/docs/runbook.md"
#define URL_BOUNDS 1, CONFIG_URL_MAX
#define LISTEN_DEFAULT CONFIG_DEFAULT_LISTEN /* "127.0.0.1:10150", config.h */

/* Bounds and defaults are documented in docs/configuration.md: change both together. */
/* clang-format off */
static const struct config_key config_keys[] = {
    /* section and field    name               type             bounds          default, flags */
    {A(listen),             "listen",          &type_listen,    PORT_BOUNDS,    LISTEN_DEFAULT, 0},
    {A(sample_interval_ms), "sample_interval", &type_duration,  SAMPLE_BOUNDS,  "15s", 0},
    {A(check_interval_ms),  "check_interval",  &type_duration,  CHECK_BOUNDS,   "5m", 0},
    {A(check_timeout_ms),   "check_timeout",   &type_duration,  TIMEOUT_BOUNDS, "60s", 0},
    {A(check_workers),      "check_workers",   &type_int,       1, 16,          "1", 0},
    {A(log_level),          "log_level",       &type_log_level, 0, 0,           "info", 0},
    {A(log_format),         "log_format",      &type_log_format, 0, 0,          "logfmt", 0},
    {A(check_yield_after_ms), "check_yield_after", &type_duration, YIELD_BOUNDS, "10ms", 0},
    {A(check_wal_pin_max),  "check_wal_pin_max", &type_bytes,   PIN_BOUNDS,     "32MiB", 0},
    {A(check_max_read_rate), "check_max_read_rate", &type_int,  0, INT_MAX,     "0", 0},
    {A(check_priority),     "check_priority",  &type_priority,  0, 0,           "idle", 0},
    {A(patched),    "patched_sqlite_versions", &type_versions,  0, 0,           NULL, 0},
    {A(walindex_watch_interval_ms), "walindex_watch_interval", &type_duration, 1, 1000, "2ms", 0},
    {A(walindex_watch_max), "walindex_watch_max", &type_int,    0, 1024,        "8", 0},
    {A(evidence_dir),       "evidence_dir",    &type_string,    PATH_BOUNDS,    NULL, 0},
    {A(evidence_max_bytes), "evidence_max_bytes", &type_bytes,  EVIDENCE_BOUNDS, "1GiB", 0},
    {A(web_config_file),    "web_config_file", &type_file,      PATH_BOUNDS,    NULL, 0},
    {A(rescan_interval_ms), "rescan_interval", &type_duration,  RESCAN_BOUNDS,  "1m", 0},
    {A(max_databases),      "max_databases",   &type_int,       1, 1000000,     "20000", 0},
    {D(path),               "path",            &type_string,    PATH_BOUNDS,    NULL, KEY_REQUIRED},
    {D(check),              "check",           &type_check,     0, 0,           "quick", 0},
    {D(sample_interval_ms), "sample_interval", &type_duration,  SAMPLE_BOUNDS,  NULL, KEY_INHERIT},
    {D(check_interval_ms),  "check_interval",  &type_duration,  CHECK_BOUNDS,   NULL, KEY_INHERIT},
    {D(check_timeout_ms),   "check_timeout",   &type_duration,  TIMEOUT_BOUNDS, NULL, KEY_INHERIT},
    {D(watch),              "watch",           &type_watch,     0, 0,           "normal", 0},
    {D(check_yield_after_ms), "check_yield_after", &type_duration, YIELD_BOUNDS, NULL, KEY_INHERIT},
    {D(check_wal_pin_max),  "check_wal_pin_max", &type_bytes,   PIN_BOUNDS,     NULL, KEY_INHERIT},
    {D(check_max_read_rate), "check_max_read_rate", &type_int,  0, INT_MAX,     NULL, KEY_INHERIT},
    {D(metrics),            "metrics",         &type_metrics,   0, 0,           "full", 0},
    /* [databases:NAME] takes these and every [database:NAME] row but path: see key_find. */
    {G(tmpl.metrics),       "metrics",         &type_metrics,   0, 0,           "basic", 0},
    {G(pattern),            "glob",            &type_string,    PATH_BOUNDS,    NULL, KEY_REQUIRED},
    {G(rescan_interval_ms), "rescan_interval", &type_duration,  RESCAN_BOUNDS,  NULL, KEY_INHERIT},
    {M(urls),               "urls",            &type_urls,      0, 0,           NULL, KEY_REQUIRED},
    {M(resend_interval_ms), "resend_interval", &type_duration,  1000, 3600000,  "1m", 0},
    {M(timeout_ms),         "timeout",         &type_duration,  100, 60000,     "10s", 0},
    {M(runbook_url),        "runbook_url",     &type_string,    URL_BOUNDS,     RUNBOOK_DEFAULT, 0},
    {M(external_url),       "external_url",    &type_string,    URL_BOUNDS,     NULL, 0},
    {M(ca_file),            "ca_file",         &type_file,      PATH_BOUNDS,    NULL, 0},
    {M(cert_file),          "cert_file",       &type_file,      PATH_BOUNDS,    NULL, 0},
    {M(key_file),           "key_file",        &type_file,      PATH_BOUNDS,    NULL, 0},
    {M(username),     "basic_auth_username",   &type_string,    1, 256,         NULL, 0},
    {M(password_file), "basic_auth_password_file", &type_file,  PATH_BOUNDS,    NULL, 0},
    {M(bearer_token_file),  "bearer_token_file", &type_file,    PATH_BOUNDS,    NULL, 0},
};
/* clang-format on */

#define CONFIG_NKEYS ARRAY_LEN(config_keys)

/* Whether row k is a key of the section kind id. A [databases:NAME] section takes its own rows
 * and the [database:NAME] ones but path (its glob stands for the paths): struct glob_config
 * begins with a struct db_config, so those rows' offsets hold for it too. */
static bool key_in_section(const struct config_key *k, enum section_id id)
{
    if (k->section == id)
        return true;
    return id == SECTION_GLOB && k->section == SECTION_DATABASE && strcmp(k->name, "path") != 0;
}

_Static_assert(offsetof(struct glob_config, tmpl) == 0, "[database:] rows write into tmpl");

static const struct config_key *key_find(enum section_id section, const char *name)
{
    /* A section's own row first: rescan_interval in [databases:] is not the [agent] one. */
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (config_keys[i].section == section && strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    }
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (key_in_section(&config_keys[i], section) && strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    }
    return NULL;
}

/* ---- the sections ------------------------------------------------------------------------ */

struct parse;

struct section_kind {
    enum section_id id;
    const char *name; /* "agent" for [agent]; "database" for [database:NAME] */
    /* Named kinds only ("[kind:NAME]", repeatable): appends an instance, sets *index.
     * Returns 0, or -1 with the reason in why. */
    int (*add)(struct config *c, const char *name, size_t *index, char *why, size_t len);
    /* The struct instance index's keys write to (unnamed kinds: index is 0). */
    void *(*base)(struct config *c, size_t index);
    const char *missing; /* the warning when the file has none; NULL: optional */
};

static void *agent_base(struct config *c, size_t index)
{
    (void)index;
    return c;
}

/* arr (holding n elements of size bytes) with room for one more, or NULL when out of memory
 * (arr is then unchanged). Doubles, so the capacity is n rounded up to a power of two and need
 * not be stored. */
static void *array_grow(void *arr, size_t n, size_t size)
{
    if (n != 0 && (n & (n - 1)) != 0)
        return arr;
    return realloc(arr, (n ? 2 * n : 1) * size);
}

static int database_add(struct config *c, const char *name, size_t *index, char *why, size_t len)
{
    struct db_config *dbs = array_grow(c->dbs, c->ndbs, sizeof(*dbs));

    if (!dbs) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    c->dbs = dbs;
    memset(&dbs[c->ndbs], 0, sizeof(dbs[0]));
    dbs[c->ndbs].name = str_dup(name, strlen(name));
    if (!dbs[c->ndbs].name) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    *index = c->ndbs++;
    return 0;
}

static void *database_base(struct config *c, size_t index)
{
    return &c->dbs[index];
}

static int glob_add(struct config *c, const char *name, size_t *index, char *why, size_t len)
{
    struct glob_config *globs = array_grow(c->globs, c->nglobs, sizeof(*globs));

    if (!globs) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    c->globs = globs;
    memset(&globs[c->nglobs], 0, sizeof(globs[0]));
    globs[c->nglobs].tmpl.name = str_dup(name, strlen(name));
    if (!globs[c->nglobs].tmpl.name) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    *index = c->nglobs++;
    return 0;
}

static void *glob_base(struct config *c, size_t index)
{
    return &c->globs[index];
}

static void *alertmanager_base(struct config *c, size_t index)
{
    (void)index;
    return &c->am;
}

static const struct section_kind section_kinds[] = {
    {SECTION_AGENT, "agent", NULL, agent_base, NULL},
    {SECTION_ALERTMANAGER, "alertmanager", NULL, alertmanager_base, NULL},
    {SECTION_DATABASE, "database", database_add, database_base,
     "no [database:NAME] section: nothing to watch"},
    {SECTION_GLOB, "databases", glob_add, glob_base, NULL},
};

/* One "[...]" header in the file, kept for the checks made once the file is read. */
struct section {
    const struct section_kind *kind;
    size_t index; /* for kind->base() */
    char *header; /* "[database:orders]", for messages */
    char *name;   /* "orders"; NULL for unnamed kinds */
    int line;
    int key_line[CONFIG_NKEYS]; /* the line each key was set on; 0: not set */
};

struct parse {
    const char *file; /* for messages */
    FILE *errors;
    int nerrors;
    struct config *cfg;

    FILE *in; /* the file, or NULL to read text */
    const char *text;
    int read_errno;

    int lineno; /* of the line inih is working on */
    bool indented;
    char raw[CONFIG_MAX_LINE + 2];

    struct section *sections;
    size_t nsections;
    long cur;      /* keys go to sections[cur]; -1 before the first header */
    bool skipping; /* the current header was bad: its keys are ignored */
    bool too_many;
    /* Open addressing over (kind, name) -> section index + 1 (0: empty), so that a file of
     * 10,000 sections finds duplicates without comparing every pair. */
    size_t *byname;
    size_t byname_cap; /* a power of two, at least twice nsections */
};

static size_t section_hash(const struct section_kind *kind, const char *name, size_t n)
{
    size_t h = (size_t)14695981039346656037ULL ^ (size_t)(uintptr_t)kind;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)name[i]) * (size_t)1099511628211ULL;
    return h;
}

static bool section_is(const struct section *s, const struct section_kind *kind, const char *name,
                       size_t n)
{
    if (s->kind != kind)
        return false;
    if (!kind->add)
        return true;
    return s->name && strlen(s->name) == n && memcmp(s->name, name, n) == 0;
}

/* The earlier section of this kind and name (any, for an unnamed kind), or NULL. */
static const struct section *section_find(const struct parse *p, const struct section_kind *kind,
                                          const char *name, size_t n)
{
    if (p->byname_cap == 0)
        return NULL;
    if (!kind->add)
        n = 0;
    for (size_t h = section_hash(kind, name, n) & (p->byname_cap - 1);;
         h = (h + 1) & (p->byname_cap - 1)) {
        if (p->byname[h] == 0)
            return NULL;
        const struct section *s = &p->sections[p->byname[h] - 1];
        if (section_is(s, kind, name, n))
            return s;
    }
}

static void section_index_add(struct parse *p, size_t i)
{
    const struct section *s = &p->sections[i];
    size_t n = s->kind->add && s->name ? strlen(s->name) : 0;
    size_t h = section_hash(s->kind, s->name ? s->name : "", n) & (p->byname_cap - 1);

    if (section_find(p, s->kind, s->name ? s->name : "", n)) /* a duplicate: the first stays */
        return;
    while (p->byname[h] != 0)
        h = (h + 1) & (p->byname_cap - 1);
    p->byname[h] = i + 1;
}

/* Room for one more section in the index. Returns 0, or -1 when out of memory. */
static int section_index_grow(struct parse *p)
{
    size_t cap = p->byname_cap ? p->byname_cap : 64;

    while (cap < 2 * (p->nsections + 1))
        cap *= 2;
    if (cap == p->byname_cap)
        return 0;
    size_t *byname = calloc(cap, sizeof(*byname));
    if (!byname)
        return -1;
    free(p->byname);
    p->byname = byname;
    p->byname_cap = cap;
    for (size_t i = 0; i < p->nsections; i++)
        section_index_add(p, i);
    return 0;
}

static void parse_error(struct parse *p, int line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "FILE:LINE: WHAT: reason" (no LINE when line is 0, no WHAT when NULL). */
static void parse_error(struct parse *p, int line, const char *what, const char *fmt, ...)
{
    va_list ap;

    p->nerrors++;
    if (!p->errors || p->nerrors > CONFIG_MAX_ERRORS + 1)
        return;
    if (p->nerrors == CONFIG_MAX_ERRORS + 1) {
        fprintf(p->errors, "%s: too many errors; not showing the rest\n", p->file);
        return;
    }
    fprintf(p->errors, "%s:", p->file);
    if (line > 0)
        fprintf(p->errors, "%d:", line);
    if (what)
        fprintf(p->errors, " %s:", what);
    fputc(' ', p->errors);
    va_start(ap, fmt);
    vfprintf(p->errors, fmt, ap);
    va_end(ap);
    fputc('\n', p->errors);
}

static void apply_defaults(struct parse *p, enum section_id id, void *base)
{
    char why[256];

    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (!key_in_section(k, id) || !k->def)
            continue;
        /* Only out of memory fails here: tests load every default. */
        if (k->type->set(k, base, k->def, why, sizeof(why)) != 0)
            parse_error(p, 0, k->name, "default \"%s\": %s", k->def, why);
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* s[0..n) without the whitespace around it. */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

/* "[KIND]" or "[KIND:NAME]" with an optional ';' or '#' comment after it; line is a
 * NUL-terminated raw line starting at '['. Starts a new section, or a skipped one. */
static void section_begin(struct parse *p, const char *line)
{
    const char *close = strchr(line, ']');
    const char *in, *colon, *kname, *name = NULL, *after;
    size_t inlen, klen, namelen = 0;
    const struct section_kind *kind = NULL;
    struct section *s = NULL;
    char *header = NULL, *dbname = NULL, why[256];
    int line_no = p->lineno;

    p->skipping = true;
    if (!close) {
        size_t n = strlen(line);
        trim(&line, &n);
        parse_error(p, line_no, NULL, "%.*s: missing ']'", (int)n, line);
        goto out;
    }
    header = str_dup(line, (size_t)(close - line) + 1);
    if (!header)
        goto oom;
    for (after = close + 1; is_space(*after); after++)
        ;
    if (*after && *after != ';' && *after != '#') {
        parse_error(p, line_no, header, "unexpected text after ']'");
        goto out;
    }
    in = line + 1;
    inlen = (size_t)(close - in);
    colon = memchr(in, ':', inlen);
    kname = in;
    klen = colon ? (size_t)(colon - in) : inlen;
    trim(&kname, &klen);
    if (colon) {
        name = colon + 1;
        namelen = (size_t)(close - name);
        trim(&name, &namelen);
    }
    for (size_t i = 0; i < ARRAY_LEN(section_kinds); i++) {
        if (strlen(section_kinds[i].name) == klen &&
            memcmp(section_kinds[i].name, kname, klen) == 0)
            kind = &section_kinds[i];
    }
    if (!kind) {
        char expected[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < ARRAY_LEN(section_kinds) && used < sizeof(expected); i++) {
            const char *sep = i == 0 ? "" : i + 1 == ARRAY_LEN(section_kinds) ? " or " : ", ";
            int w = snprintf(expected + used, sizeof(expected) - used, "%s[%s%s]", sep,
                             section_kinds[i].name, section_kinds[i].add ? ":NAME" : "");
            used += w > 0 ? (size_t)w : 0;
        }
        parse_error(p, line_no, header, "unknown section (expected %s)", expected);
        goto out;
    }
    if (!kind->add && colon) {
        parse_error(p, line_no, header, "[%s] takes no name", kind->name);
        goto out;
    }
    if (kind->add && !colon) {
        parse_error(p, line_no, header, "missing name (expected [%s:NAME])", kind->name);
        goto out;
    }
    if (p->nsections >= CONFIG_MAX_SECTIONS) {
        if (!p->too_many)
            parse_error(p, line_no, header, "too many sections (at most %d)", CONFIG_MAX_SECTIONS);
        p->too_many = true;
        goto out;
    }

    /* From here the section is kept and its keys checked, even when it is in error. */
    if (kind->add) {
        if (namelen == 0)
            parse_error(p, line_no, header, "empty %s name", kind->name);
        else if (namelen > CONFIG_MAX_NAME)
            parse_error(p, line_no, header, "%s name longer than %d bytes", kind->name,
                        CONFIG_MAX_NAME);
        for (size_t i = 0; i < namelen; i++) {
            unsigned char c = (unsigned char)name[i];
            if (c < 0x20 || c == 0x7F) {
                parse_error(p, line_no, header, "%s name contains a control character", kind->name);
                break;
            }
        }
    }
    {
        const struct section *o = section_find(p, kind, name, namelen);
        if (o && !kind->add)
            parse_error(p, line_no, header, "duplicate section (first at line %d)", o->line);
        else if (o)
            parse_error(p, line_no, header, "duplicate %s name (first at line %d)", kind->name,
                        o->line);
    }
    if (section_index_grow(p) != 0)
        goto oom;
    s = array_grow(p->sections, p->nsections, sizeof(*s));
    if (!s)
        goto oom;
    p->sections = s;
    s = &p->sections[p->nsections];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->line = line_no;
    if (kind->add) {
        dbname = str_dup(name, namelen);
        if (!dbname || kind->add(p->cfg, dbname, &s->index, why, sizeof(why)) != 0)
            goto oom;
        apply_defaults(p, kind->id, kind->base(p->cfg, s->index));
    }
    s->header = header;
    s->name = dbname;
    header = dbname = NULL;
    section_index_add(p, p->nsections);
    p->cur = (long)p->nsections++;
    p->skipping = false;
    goto out;
oom:
    parse_error(p, line_no, NULL, "out of memory");
out:
    free(header);
    free(dbname);
}

/* ---- inih glue --------------------------------------------------------------------------- */

/* fgets() for inih, over the file or the text: one whole physical line per call, so the line
 * count is ours. A section header, comment, or a line we reject is handed over as a blank
 * line; a "key = value" line as read, minus its line end and a first-line UTF-8 BOM. */
static char *config_reader(char *str, int num, void *stream)
{
    struct parse *p = stream;
    size_t n = 0, kept = 0;
    bool nul = false, any = false;
    const char *start;
    int c;

    for (;;) {
        if (p->in) {
            c = getc(p->in);
            if (c == EOF && ferror(p->in))
                p->read_errno = errno ? errno : EIO;
        } else {
            c = *p->text ? (unsigned char)*p->text++ : EOF;
        }
        if (c == EOF)
            break;
        any = true;
        if (c == '\n')
            break;
        if (c == '\0')
            nul = true;
        if (kept < CONFIG_MAX_LINE + 1)
            p->raw[kept++] = (char)c;
        n++;
    }
    if (!any || num < 2)
        return NULL;
    p->lineno++;
    if (n > 0 && n == kept && p->raw[n - 1] == '\r') /* CRLF */
        n = --kept;
    p->raw[kept] = '\0';

    str[0] = '\n';
    str[1] = '\0';
    start = p->raw;
    if (p->lineno == 1 && kept >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
        n -= 3;
    }
    p->indented = is_space(*start);
    while (is_space(*start))
        start++;
    if (n > CONFIG_MAX_LINE || n + 2 > (size_t)num) {
        parse_error(p, p->lineno, NULL, "line longer than %d bytes", CONFIG_MAX_LINE);
        /* It may have been a header: keep the next keys from landing in the section above. */
        if (*start == '[')
            p->skipping = true;
        return str;
    }
    if (nul) {
        parse_error(p, p->lineno, NULL, "line contains a NUL byte");
        if (*start == '[')
            p->skipping = true;
        return str;
    }
    if (*start == '[') {
        section_begin(p, start);
        return str;
    }
    if (*start == '\0' || *start == ';' || *start == '#')
        return str;
    n = strlen(start); /* no NUL inside, and n + 2 <= num: checked above */
    memcpy(str, start, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

/* Called by inih for each "key = value" line (value NULL for a line without '='), while
 * p->lineno is that line. Always returns 1: see the top of the file. */
static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    const struct config_key *k;
    struct section *s;
    char why[512];
    size_t i;

    (void)section; /* inih's copy is cut at 50 bytes; the reader tracks sections */
    if (!value) {
        parse_error(p, p->lineno, name, "expected \"key = value\"%s",
                    p->indented ? " (a value cannot continue onto an indented line)" : "");
        return 1;
    }
    if (p->skipping)
        return 1;
    if (p->cur < 0) {
        parse_error(p, p->lineno, name, "key outside any section");
        return 1;
    }
    s = &p->sections[p->cur];
    k = key_find(s->kind->id, name);
    if (!k) {
        const struct section_kind *home = NULL;
        for (size_t j = 0; j < ARRAY_LEN(section_kinds) && !home; j++) {
            if (key_find(section_kinds[j].id, name))
                home = &section_kinds[j];
        }
        if (home)
            parse_error(p, p->lineno, name, "unknown key in %s (it goes in [%s%s])", s->header,
                        home->name, home->add ? ":NAME" : "");
        else
            parse_error(p, p->lineno, name, "unknown key in %s", s->header);
        return 1;
    }
    i = (size_t)(k - config_keys);
    if (s->key_line[i]) {
        parse_error(p, p->lineno, name, "duplicate key (first set at line %d)", s->key_line[i]);
        return 1;
    }
    s->key_line[i] = p->lineno;
    if (*value == '\0')
        parse_error(p, p->lineno, name, "empty value");
    else if (k->type->set(k, s->kind->base(p->cfg, s->index), value, why, sizeof(why)) != 0)
        parse_error(p, p->lineno, name, "%s", why);
    return 1;
}

/* [alertmanager] keys that only make sense together. */
static void alertmanager_finish(struct parse *p)
{
    const struct alertmanager_config *am = &p->cfg->am;

    if ((am->cert_file == NULL) != (am->key_file == NULL))
        parse_error(p, 0, "[alertmanager]", "cert_file and key_file go together");
    if ((am->username == NULL) != (am->password_file == NULL))
        parse_error(p, 0, "[alertmanager]",
                    "basic_auth_username and basic_auth_password_file go together");
    if (am->username != NULL && am->bearer_token_file != NULL)
        parse_error(p, 0, "[alertmanager]", "basic auth and bearer_token_file exclude each other");
}

/* Once the whole file is read: required keys, fallbacks (so section order does not matter),
 * and sections the file must have. */
static void config_finish(struct parse *p)
{
    for (size_t i = 0; i < p->nsections; i++) {
        struct section *s = &p->sections[i];
        void *base = s->kind->base(p->cfg, s->index);
        for (size_t j = 0; j < CONFIG_NKEYS; j++) {
            const struct config_key *k = &config_keys[j], *from;
            if (!key_in_section(k, s->kind->id) || s->key_line[j])
                continue;
            if (k->flags & KEY_REQUIRED) {
                parse_error(p, s->line, s->header, "missing required key \"%s\"", k->name);
            } else if (k->flags & KEY_INHERIT) {
                from = key_find(SECTION_AGENT, k->name);
                if (from && from->type == k->type && k->type->size)
                    memcpy((char *)base + k->offset, (char *)p->cfg + from->offset, k->type->size);
                else
                    parse_error(p, 0, k->name, "internal error: bad fallback");
            }
        }
    }
    alertmanager_finish(p);
    for (size_t i = 0; i < ARRAY_LEN(section_kinds); i++) {
        bool found = false;
        for (size_t j = 0; j < p->nsections && !found; j++)
            found = p->sections[j].kind == &section_kinds[i] ||
                    /* a glob section watches databases too */
                    (section_kinds[i].id == SECTION_DATABASE &&
                     p->sections[j].kind->id == SECTION_GLOB);
        /* A warning, not an error: a packaged default config watches nothing until edited
         * and must still load (main.c says so again at start). */
        if (!found && section_kinds[i].missing && p->errors)
            fprintf(p->errors, "%s: warning: %s\n", p->file, section_kinds[i].missing);
    }
}

struct ini_options {
    bool multiline, bom, inline_comments, use_stack, allow_realloc, stop_on_first, no_value;
    int max_line, initial_alloc;
    char *start_prefixes, *inline_prefixes;
};

static void ini_options_save(struct ini_options *o)
{
    o->multiline = ini_allow_multiline;
    o->bom = ini_allow_bom;
    o->inline_comments = ini_allow_inline_comments;
    o->use_stack = ini_use_stack;
    o->allow_realloc = ini_allow_realloc;
    o->stop_on_first = ini_stop_on_first_error;
    o->no_value = ini_allow_no_value;
    o->max_line = ini_max_line;
    o->initial_alloc = ini_initial_alloc;
    o->start_prefixes = ini_start_comment_prefixes;
    o->inline_prefixes = ini_inline_comment_prefixes;
}

static void ini_options_restore(const struct ini_options *o)
{
    ini_allow_multiline = o->multiline;
    ini_allow_bom = o->bom;
    ini_allow_inline_comments = o->inline_comments;
    ini_use_stack = o->use_stack;
    ini_allow_realloc = o->allow_realloc;
    ini_stop_on_first_error = o->stop_on_first;
    ini_allow_no_value = o->no_value;
    ini_max_line = o->max_line;
    ini_initial_alloc = o->initial_alloc;
    ini_start_comment_prefixes = o->start_prefixes;
    ini_inline_comment_prefixes = o->inline_prefixes;
}

static char start_comment_prefixes[] = ";#";
static char inline_comment_prefixes[] = ";";

/* Reads p->in or p->text into a new config. Returns it (the caller owns it), or NULL after
 * writing every problem to p->errors. */
static struct config *config_parse(struct parse *p, const char *name)
{
    struct ini_options saved;
    struct config *c = NULL;
    int rc;

    p->file = name ? name : "(config)";
    p->cur = -1;
    p->cfg = calloc(1, sizeof(*p->cfg));
    if (!p->cfg || !(p->cfg->file = str_dup(p->file, strlen(p->file)))) {
        parse_error(p, 0, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ARRAY_LEN(section_kinds); i++) {
        if (!section_kinds[i].add)
            apply_defaults(p, section_kinds[i].id, section_kinds[i].base(p->cfg, 0));
    }

    ini_options_save(&saved);
    ini_allow_multiline = false;      /* the reader strips indentation anyway: see the top */
    ini_allow_bom = false;            /* the reader strips it */
    ini_allow_inline_comments = true; /* "key = value ; comment" */
    ini_inline_comment_prefixes = inline_comment_prefixes;
    ini_start_comment_prefixes = start_comment_prefixes;
    ini_stop_on_first_error = false;
    ini_allow_no_value = true; /* a line without '=' reaches the handler, with its number */
    /* The heap buffer is ini_initial_alloc bytes whatever ini_max_line says (ini.c r55+Debian),
     * and without realloc it never grows: size both for our longest line plus "\r\n\0". The
     * stack buffer would be a VLA of ini_max_line in this build, but heap does not depend on
     * that patch detail. */
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_max_line = CONFIG_MAX_LINE + 3;
    ini_initial_alloc = CONFIG_MAX_LINE + 3;
    rc = ini_parse_stream(config_reader, p, config_handler, p);
    ini_options_restore(&saved);

    if (rc == -2)
        parse_error(p, 0, NULL, "out of memory");
    if (p->read_errno)
        parse_error(p, 0, NULL, "read error: %s", strerror(p->read_errno));
    else
        config_finish(p);
    if (p->nerrors == 0) {
        c = p->cfg;
        p->cfg = NULL;
    }
out:
    config_free(p->cfg);
    for (size_t i = 0; i < p->nsections; i++) {
        free(p->sections[i].header);
        free(p->sections[i].name);
    }
    free(p->sections);
    free(p->byname);
    if (p->nerrors > CONFIG_MAX_ERRORS && p->errors)
        fprintf(p->errors, "%s: %d errors in all\n", p->file, p->nerrors);
    return c;
}

/* The whole file, at most CONFIG_MAX_FILE_BYTES of it, into a new buffer (*size bytes; the
 * caller frees it). Only a regular file is opened, and without blocking (safeopen.h): a FIFO or
 * /dev/zero named as the config would hang --check-config and a SIGHUP reload, during which
 * SIGTERM waits. NULL after saying why on errors. */
static char *config_read_file(const char *path, size_t *size, FILE *errors)
{
    struct stat st;
    int fd = -1, err = 0;
    char *buf = NULL;
    size_t got = 0;
    enum safeopen_result r = safeopen_open(path, SAFEOPEN_FOLLOW, &fd, &st, &err);

    if (r != SAFEOPEN_OK) {
        if (errors && (r == SAFEOPEN_NOT_REGULAR || r == SAFEOPEN_CHANGED))
            fprintf(errors, "%s: not a regular file\n", path);
        else if (errors)
            fprintf(errors, "%s: cannot open: %s\n", path, strerror(safeopen_errno(r, err)));
        goto fail;
    }
    /* One byte more than the cap: a file that grew past it since fstat is caught too. */
    buf = (size_t)st.st_size <= CONFIG_MAX_FILE_BYTES ? malloc(CONFIG_MAX_FILE_BYTES + 1) : NULL;
    while (buf && got <= CONFIG_MAX_FILE_BYTES) {
        ssize_t n = read(fd, buf + got, CONFIG_MAX_FILE_BYTES + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errors)
                fprintf(errors, "%s: read error: %s\n", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (!buf || got > CONFIG_MAX_FILE_BYTES) {
        if (errors && (buf || (size_t)st.st_size > CONFIG_MAX_FILE_BYTES))
            fprintf(errors, "%s: larger than %d bytes\n", path, CONFIG_MAX_FILE_BYTES);
        else if (errors)
            fprintf(errors, "%s: out of memory\n", path);
        goto fail;
    }
    close(fd); /* the config file: never a monitored database, no SQLite lock on it */
    *size = got;
    return buf;
fail:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

struct config *config_load(const char *path, FILE *errors)
{
    struct parse *p;
    struct config *c = NULL;
    char *text = NULL;
    size_t size = 0;

    if (!path)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p) {
        if (errors)
            fprintf(errors, "%s: out of memory\n", path);
        return NULL;
    }
    p->errors = errors;
    text = config_read_file(path, &size, errors);
    if (!text)
        goto out;
    /* The bytes as read, NULs and all, through the same reader as ever (glibc's fmemopen
     * takes a size of 0 since 2.22: an empty file reads as EOF). */
    p->in = fmemopen(text, size, "r");
    if (!p->in) {
        if (errors)
            fprintf(errors, "%s: out of memory\n", path);
        goto out;
    }
    c = config_parse(p, path);
out:
    if (p->in)
        fclose(p->in);
    free(text);
    free(p);
    return c;
}

struct config *config_load_string(const char *text, const char *name, FILE *errors)
{
    struct parse *p;
    struct config *c;

    if (!text)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p) {
        if (errors)
            fprintf(errors, "%s: out of memory\n", name ? name : "(config)");
        return NULL;
    }
    p->errors = errors;
    p->text = text;
    c = config_parse(p, name);
    free(p);
    return c;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    /* A config_with_dbs() copy owns its list and each entry's name and path, nothing else: any
     * other string of a struct db_config belongs to base (its section or glob template). */
    for (size_t i = 0; i < c->ndbs; i++) {
        free(c->dbs[i].name);
        free(c->dbs[i].path);
    }
    free(c->dbs);
    if (c->base) {
        free(c);
        return;
    }
    for (size_t i = 0; i < c->nglobs; i++) {
        free(c->globs[i].tmpl.name);
        free(c->globs[i].pattern);
    }
    free(c->globs);
    urls_free(&c->am);
    free(c->patched);
    free(c->am.runbook_url);
    free(c->am.external_url);
    free(c->am.ca_file);
    free(c->am.cert_file);
    free(c->am.key_file);
    free(c->am.username);
    free(c->am.password_file);
    free(c->am.bearer_token_file);
    free(c->web_config_file);
    free(c->evidence_dir);
    free(c->listen);
    free(c->listen_host);
    free(c->file);
    free(c);
}

struct config *config_with_dbs(const struct config *base, struct db_config *dbs, size_t ndbs)
{
    struct config *c = malloc(sizeof(*c));

    if (!c) {
        for (size_t i = 0; i < ndbs; i++) {
            free(dbs[i].name);
            free(dbs[i].path);
        }
        free(dbs);
        return NULL;
    }
    *c = *base;
    c->base = base->base ? base->base : base;
    c->dbs = dbs;
    c->ndbs = ndbs;
    return c;
}
