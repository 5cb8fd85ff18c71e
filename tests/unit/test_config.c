/*
 * test_config.c: config_load(), config_load_string(), config_parse_duration(), and the inih
 * behaviour config.c relies on or works around.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "configtext.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The config as text, one line for [agent] and one per database: what the tables compare. */
static char *config_dump(const struct config *c)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    cr_assert_not_null(f);
    fprintf(f,
            "listen=%s host=%s port=%u sample=%lld check_every=%lld timeout=%lld workers=%d "
            "log=%s\n",
            c->listen, c->listen_host, (unsigned)c->listen_port, (long long)c->sample_interval_ms,
            (long long)c->check_interval_ms, (long long)c->check_timeout_ms, c->check_workers,
            level_names[c->log_level]);
    for (size_t i = 0; i < c->ndbs; i++) {
        const struct db_config *d = &c->dbs[i];
        fprintf(f, "db %s path=%s check=%s sample=%lld check_every=%lld timeout=%lld\n", d->name,
                d->path, config_check_kind_str(d->check), (long long)d->sample_interval_ms,
                (long long)d->check_interval_ms, (long long)d->check_timeout_ms);
    }
    fclose(f);
    return out;
}

/* ---- durations ----------------------------------------------------------------------------- */

Test(config, parse_duration)
{
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } cases[] = {
        {"500ms", 0, 500},
        {"15s", 0, 15000},
        {"5m", 0, 300000},
        {"1h", 0, 3600000},
        {"7d", 0, 604800000},
        {"30", 0, 30000},
        {"0", 0, 0},
        {"0ms", 0, 0},
        {"007s", 0, 7000},
        {"9223372036854775807ms", 0, INT64_MAX},
        {"9223372036854775807", -1, 0},   /* seconds: overflows as ms */
        {"9223372036854775808ms", -1, 0}, /* one past INT64_MAX */
        {"99999999999999999999999", -1, 0},
        {"106751991167d", 0, INT64_C(9223372036828800000)}, /* the largest whole day count */
        {"106751991168d", -1, 0},
        {"", -1, 0},
        {"s", -1, 0},
        {"ms", -1, 0},
        {"-5s", -1, 0},
        {"+5s", -1, 0},
        {" 5s", -1, 0},
        {"5 s", -1, 0},
        {"5s ", -1, 0},
        {"1.5s", -1, 0},
        {"1m30s", -1, 0},
        {"5S", -1, 0},
        {"5sec", -1, 0},
        {"5us", -1, 0},
        {"0x10", -1, 0},
        {"ten", -1, 0},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t ms = -42;
        int rc = config_parse_duration(cases[i].in, &ms);
        cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].in, rc);
        if (cases[i].rc == 0)
            cr_expect_eq(ms, cases[i].ms, "\"%s\": %lld ms", cases[i].in, (long long)ms);
        else
            cr_expect_eq(ms, -42, "\"%s\": *ms written on failure", cases[i].in);
    }
    cr_expect_eq(config_parse_duration(NULL, &(int64_t){0}), -1);
}

/* ---- files that load ----------------------------------------------------------------------- */

#define AGENT_DEFAULTS                                                                             \
    "listen=127.0.0.1:10150 host=127.0.0.1 port=10150 sample=15000 check_every=300000 "            \
    "timeout=60000 workers=1 log=info\n"
#define DB_DEFAULTS "check=quick sample=15000 check_every=300000 timeout=60000\n"
#define X10 "xxxxxxxxxx"
#define X60 X10 X10 X10 X10 X10 X10

Test(config, load_ok)
{
    static const struct {
        const char *name;
        const char *text;
        const char *dump;
    } cases[] = {
        {"minimal: every default", "[database:orders]\npath = /srv/orders.sqlite3\n",
         AGENT_DEFAULTS "db orders path=/srv/orders.sqlite3 " DB_DEFAULTS},
        {"the README example, inline comments and all",
         "[agent]\n"
         "listen = 127.0.0.1:10150      ; loopback by default\n"
         "sample_interval = 15s         ; cheap header sampling\n"
         "check_interval = 5m           ; quick_check / integrity_check\n"
         "check_timeout = 60s           ; a check that runs longer is aborted\n"
         "check_workers = 1             ; threads running checks (1..16)\n"
         "log_level = info              ; debug | info | warn | error\n"
         "\n"
         "[database:orders]             ; the name after \"database:\" is the db label\n"
         "path = /srv/app/orders.sqlite3\n"
         "check = quick                 ; quick | integrity | off\n"
         "check_interval = 1m           ; per-database overrides of the [agent] intervals\n"
         "sample_interval = 5s\n"
         "check_timeout = 30s\n",
         AGENT_DEFAULTS
         "db orders path=/srv/app/orders.sqlite3 check=quick sample=5000 check_every=60000 "
         "timeout=30000\n"},
        {"databases inherit [agent] values even when [agent] comes last",
         "[database:a]\npath = /a\ncheck_timeout = 2s\n"
         "[database:b]\npath = /b\ncheck = integrity\n"
         "[agent]\nsample_interval = 500ms\ncheck_interval = 1h\ncheck_timeout = 10s\n"
         "check_workers = 16\nlog_level = debug\n",
         "listen=127.0.0.1:10150 host=127.0.0.1 port=10150 sample=500 check_every=3600000 "
         "timeout=10000 workers=16 log=debug\n"
         "db a path=/a check=quick sample=500 check_every=3600000 timeout=2000\n"
         "db b path=/b check=integrity sample=500 check_every=3600000 timeout=10000\n"},
        {"bounds are inclusive; plain numbers are seconds",
         "[agent]\nsample_interval = 100ms\ncheck_interval = 7d\ncheck_timeout = 3600\n"
         "[database:a]\npath = /a\ncheck = off\nsample_interval = 1h\ncheck_interval = 1\n"
         "check_timeout = 100ms\n",
         "listen=127.0.0.1:10150 host=127.0.0.1 port=10150 sample=100 check_every=604800000 "
         "timeout=3600000 workers=1 log=info\n"
         "db a path=/a check=off sample=3600000 check_every=1000 timeout=100\n"},
        {"path with spaces", "[database:a]\npath = /srv/my data/o.db\n",
         AGENT_DEFAULTS "db a path=/srv/my data/o.db " DB_DEFAULTS},
        {"';' and '#' inside a path, no space before ';'", "[database:a]\npath = /srv/a;b#c.db\n",
         AGENT_DEFAULTS "db a path=/srv/a;b#c.db " DB_DEFAULTS},
        {"' #' is not a comment after a value", "[database:a]\npath = /srv/a #1.db\n",
         AGENT_DEFAULTS "db a path=/srv/a #1.db " DB_DEFAULTS},
        {"' ;' starts a comment, even inside a path (documented)",
         "[database:a]\npath = /srv/a ;b.db\n", AGENT_DEFAULTS "db a path=/srv/a " DB_DEFAULTS},
        {"a tab before ';' starts a comment too", "[database:a]\npath = /srv/a\t;b.db\n",
         AGENT_DEFAULTS "db a path=/srv/a " DB_DEFAULTS},
        {"UTF-8 path and name", "[database:données]\npath = /srv/données/日本.db\n",
         AGENT_DEFAULTS "db données path=/srv/données/日本.db " DB_DEFAULTS},
        {"relative path, kept as written", "[database:a]\npath = data/./a.db\n",
         AGENT_DEFAULTS "db a path=data/./a.db " DB_DEFAULTS},
        {"a path that does not exist is fine", "[database:a]\npath = /nonexistent/dir/a.db\n",
         AGENT_DEFAULTS "db a path=/nonexistent/dir/a.db " DB_DEFAULTS},
        {"CRLF line ends", "[agent]\r\nlisten = [::1]:9000\r\n[database:a]\r\npath = /a\r\n",
         "listen=[::1]:9000 host=::1 port=9000 sample=15000 check_every=300000 timeout=60000 "
         "workers=1 log=info\n"
         "db a path=/a " DB_DEFAULTS},
        {"UTF-8 BOM", "\xEF\xBB\xBF[database:a]\npath = /a\n",
         AGENT_DEFAULTS "db a path=/a " DB_DEFAULTS},
        {"UTF-8 BOM, CRLF, comments and blank lines",
         "\xEF\xBB\xBF; comment\r\n\r\n# other comment\r\n  ; indented comment\r\n"
         "[database:a] ; trailing\r\npath=/a\r\n\r\n",
         AGENT_DEFAULTS "db a path=/a " DB_DEFAULTS},
        {"no line end on the last line", "[database:a]\npath = /a",
         AGENT_DEFAULTS "db a path=/a " DB_DEFAULTS},
        {"listen: host name, any address, highest port",
         "[agent]\nlisten = localhost:8080\n[database:a]\npath = /a\n",
         "listen=localhost:8080 host=localhost port=8080 sample=15000 check_every=300000 "
         "timeout=60000 workers=1 log=info\n"
         "db a path=/a " DB_DEFAULTS},
        {"listen: IPv6 any", "[agent]\nlisten = [::]:65535\n[database:a]\npath = /a\n",
         "listen=[::]:65535 host=:: port=65535 sample=15000 check_every=300000 timeout=60000 "
         "workers=1 log=info\n"
         "db a path=/a " DB_DEFAULTS},
        {"listen: IPv4 any, lowest port", "[agent]\nlisten = 0.0.0.0:1\n[database:a]\npath = /a\n",
         "listen=0.0.0.0:1 host=0.0.0.0 port=1 sample=15000 check_every=300000 timeout=60000 "
         "workers=1 log=info\n"
         "db a path=/a " DB_DEFAULTS},
        {"'key: value' works as 'key = value' (inih)", "[database:a]\npath: /a\n",
         AGENT_DEFAULTS "db a path=/a " DB_DEFAULTS},
        {"indented keys and spaced headers", "  [ database : a ]  # comment\n\tpath = /a\n",
         AGENT_DEFAULTS "db a path=/a " DB_DEFAULTS},
        {"'=' inside a value", "[database:a]\npath = /srv/k=v.db\n",
         AGENT_DEFAULTS "db a path=/srv/k=v.db " DB_DEFAULTS},
        {"names longer than inih's 50-byte section buffer stay whole and distinct",
         "[database:" X60 "1]\npath = /1\n[database:" X60 "2]\npath = /2\n",
         AGENT_DEFAULTS "db " X60 "1 path=/1 " DB_DEFAULTS "db " X60 "2 path=/2 " DB_DEFAULTS},
        {"databases keep file order; names are case-sensitive",
         "[database:b]\npath = /b\n[database:A]\npath = /A\n[database:a]\npath = /a\n",
         AGENT_DEFAULTS "db b path=/b " DB_DEFAULTS "db A path=/A " DB_DEFAULTS
                        "db a path=/a " DB_DEFAULTS},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config *c;
        char *errs = load(cases[i].text, &c);
        cr_expect_str_empty(errs, "%s: errors:\n%s", cases[i].name, errs);
        cr_expect_not_null(c, "%s: NULL", cases[i].name);
        if (c) {
            char *d = config_dump(c);
            cr_expect_str_eq(d, cases[i].dump, "%s:\n got: %s want: %s", cases[i].name, d,
                             cases[i].dump);
            cr_expect_str_eq(c->file, "t.ini", "%s", cases[i].name);
            free(d);
        }
        config_free(c);
        free(errs);
    }
}

/* ---- files that do not --------------------------------------------------------------------- */

#define DB_OK "[database:ok]\npath = /ok\n"

Test(config, load_errors)
{
    static const struct {
        const char *name;
        const char *text;
        const char *errors;
    } cases[] = {
        {"unknown section; its keys are not reported", "[agnet]\nlisten = x\n" DB_OK,
         "t.ini:1: [agnet]: unknown section (expected [agent], [alertmanager], "
         "[database:NAME] or [databases:NAME])\n"},
        {"unknown key", "[agent]\nsample_intreval = 5s\n" DB_OK,
         "t.ini:2: sample_intreval: unknown key in [agent]\n"},
        {"key of the other section",
         "[agent]\npath = /a\n[database:a]\npath = /a\ncheck_workers = 2\n",
         "t.ini:2: path: unknown key in [agent] (it goes in [database:NAME])\n"
         "t.ini:5: check_workers: unknown key in [database:a] (it goes in [agent])\n"},
        {"step-aside keys (issue 8)",
         "[agent]\ncheck_yield_after = 11s\ncheck_max_read_rate = -1\ncheck_priority = low\n"
         "[database:a]\npath = /a\ncheck_priority = idle\n",
         "t.ini:2: check_yield_after: \"11s\" is out of range (0ms..10s)\n"
         "t.ini:3: check_max_read_rate: invalid number \"-1\" (expected a whole number)\n"
         "t.ini:4: check_priority: invalid value \"low\" (expected idle or normal)\n"
         "t.ini:7: check_priority: unknown key in [database:a] (it goes in [agent])\n"},
        {"patched versions", "[agent]\npatched_sqlite_versions = 3.40.1, 3.x\n" DB_OK,
         "t.ini:2: patched_sqlite_versions: \"3.x\" is not an SQLite version like 3.40.1\n"},
        {"alertmanager urls",
         "[alertmanager]\nurls = ftp://x\n[alertmanager]\nresend_interval = 1m\n" DB_OK,
         "t.ini:2: urls: \"ftp://x\" is not an http:// or https:// URL\n"
         "t.ini:3: [alertmanager]: duplicate section (first at line 1)\n"
         "t.ini:3: [alertmanager]: missing required key \"urls\"\n"},
        {"alertmanager without urls", "[alertmanager]\ntimeout = 5s\n" DB_OK,
         "t.ini:1: [alertmanager]: missing required key \"urls\"\n"},
        {"keys are case-sensitive", "[database:a]\nPath = /a\npath = /a\n",
         "t.ini:2: Path: unknown key in [database:a]\n"},
        {"bad durations", "[agent]\nsample_interval = 5 m\ncheck_interval = -5s\n" DB_OK,
         "t.ini:2: sample_interval: invalid duration \"5 m\" (expected e.g. 500ms, 15s, 5m, 1h, "
         "1d or whole seconds)\n"
         "t.ini:3: check_interval: invalid duration \"-5s\" (expected e.g. 500ms, 15s, 5m, 1h, "
         "1d or whole seconds)\n"},
        {"durations out of range",
         "[agent]\nsample_interval = 50ms\ncheck_interval = 8d\ncheck_timeout = 0\n"
         "[database:a]\npath = /a\nsample_interval = 3601\ncheck_interval = 99ms\n"
         "check_timeout = 2h\n",
         "t.ini:2: sample_interval: \"50ms\" is out of range (100ms..1h)\n"
         "t.ini:3: check_interval: \"8d\" is out of range (100ms..7d)\n"
         "t.ini:4: check_timeout: \"0\" is out of range (100ms..1h)\n"
         "t.ini:7: sample_interval: \"3601\" is out of range (100ms..1h)\n"
         "t.ini:8: check_interval: \"99ms\" is out of range (100ms..7d)\n"
         "t.ini:9: check_timeout: \"2h\" is out of range (100ms..1h)\n"},
        {"duration overflow", "[agent]\ncheck_interval = 9223372036854775807h\n" DB_OK,
         "t.ini:2: check_interval: invalid duration \"9223372036854775807h\" (expected e.g. "
         "500ms, 15s, 5m, 1h, 1d or whole seconds)\n"},
        {"check_workers",
         "[agent]\ncheck_workers = 0\n[agent]\ncheck_workers = 17\n[agent]\ncheck_workers = -1\n"
         "[agent]\ncheck_workers = two\n[agent]\ncheck_workers = 99999999999999999999\n" DB_OK,
         "t.ini:2: check_workers: \"0\" is out of range (1..16)\n"
         "t.ini:3: [agent]: duplicate section (first at line 1)\n"
         "t.ini:4: check_workers: \"17\" is out of range (1..16)\n"
         "t.ini:5: [agent]: duplicate section (first at line 1)\n"
         "t.ini:6: check_workers: invalid number \"-1\" (expected a whole number)\n"
         "t.ini:7: [agent]: duplicate section (first at line 1)\n"
         "t.ini:8: check_workers: invalid number \"two\" (expected a whole number)\n"
         "t.ini:9: [agent]: duplicate section (first at line 1)\n"
         "t.ini:10: check_workers: invalid number \"99999999999999999999\" (expected a whole "
         "number)\n"},
        {"check and log_level values",
         "[agent]\nlog_level = verbose\n[database:a]\npath = /a\ncheck = Quick\n",
         "t.ini:2: log_level: invalid value \"verbose\" (expected debug, info, warn or error)\n"
         "t.ini:5: check: invalid value \"Quick\" (expected quick, integrity, auto or off)\n"},
        {"log_format value", "[agent]\nlog_format = JSON\n" DB_OK,
         "t.ini:2: log_format: invalid value \"JSON\" (expected logfmt or json)\n"},
        {"listen values",
         "[agent]\nlisten = 10150\n[agent]\nlisten = ::1:10150\n[agent]\nlisten = :10150\n"
         "[agent]\nlisten = 127.0.0.1:0\n[agent]\nlisten = 127.0.0.1:65536\n"
         "[agent]\nlisten = [::1]10150\n[agent]\nlisten = [zz]:1\n"
         "[agent]\nlisten = 127.0.0.300:1\n[agent]\nlisten = host_name:1\n"
         "[agent]\nlisten = 127.0.0.1:10150  # '#' is no comment\n" DB_OK,
         "t.ini:2: listen: invalid address \"10150\": expected HOST:PORT or [IPV6]:PORT\n"
         "t.ini:3: [agent]: duplicate section (first at line 1)\n"
         "t.ini:4: listen: invalid address \"::1:10150\": an IPv6 address needs brackets, e.g. "
         "[::1]:10150\n"
         "t.ini:5: [agent]: duplicate section (first at line 1)\n"
         "t.ini:6: listen: invalid address \":10150\": missing host (0.0.0.0 or [::] listen on "
         "every interface)\n"
         "t.ini:7: [agent]: duplicate section (first at line 1)\n"
         "t.ini:8: listen: invalid address \"127.0.0.1:0\": port must be a number from 1 to "
         "65535\n"
         "t.ini:9: [agent]: duplicate section (first at line 1)\n"
         "t.ini:10: listen: invalid address \"127.0.0.1:65536\": port must be a number from 1 to "
         "65535\n"
         "t.ini:11: [agent]: duplicate section (first at line 1)\n"
         "t.ini:12: listen: invalid address \"[::1]10150\": expected [IPV6]:PORT\n"
         "t.ini:13: [agent]: duplicate section (first at line 1)\n"
         "t.ini:14: listen: invalid address \"[zz]:1\": invalid IPv6 address\n"
         "t.ini:15: [agent]: duplicate section (first at line 1)\n"
         "t.ini:16: listen: invalid address \"127.0.0.300:1\": invalid IPv4 address\n"
         "t.ini:17: [agent]: duplicate section (first at line 1)\n"
         "t.ini:18: listen: invalid address \"host_name:1\": invalid host name\n"
         "t.ini:19: [agent]: duplicate section (first at line 1)\n"
         "t.ini:20: listen: invalid address \"127.0.0.1:10150  # '#' is no comment\": port must "
         "be a number from 1 to 65535\n"},
        {"duplicate database name",
         "[database:a]\npath = /a\n[database:b]\npath = /b\n[database:a]\npath = /c\n",
         "t.ini:5: [database:a]: duplicate database name (first at line 1)\n"},
        {"duplicate key", "[database:a]\npath = /a\ncheck = off\npath = /b\n",
         "t.ini:4: path: duplicate key (first set at line 2)\n"},
        {"empty database name", "[database:]\npath = /a\n",
         "t.ini:1: [database:]: empty database name\n"},
        {"blank database name", "[database:  ]\npath = /a\n",
         "t.ini:1: [database:  ]: empty database name\n"},
        {"database name with a control character", "[database:a\x01z]\npath = /a\n",
         "t.ini:1: [database:a\x01z]: database name contains a control character\n"},
        {"database name too long", "[database:" X60 X60 "123456789]\npath = /a\n",
         "t.ini:1: [database:" X60 X60 "123456789]: database name longer than 128 bytes\n"},
        {"section without its name", "[database]\npath = /a\n" DB_OK,
         "t.ini:1: [database]: missing name (expected [database:NAME])\n"},
        {"[agent] with a name", "[agent:main]\nlisten = x\n" DB_OK,
         "t.ini:1: [agent:main]: [agent] takes no name\n"},
        {"missing path", "[database:a]\ncheck = off\n" DB_OK "[database:b]\n",
         "t.ini:1: [database:a]: missing required key \"path\"\n"
         "t.ini:5: [database:b]: missing required key \"path\"\n"},
        {"key outside any section", "path = /a\n" DB_OK,
         "t.ini:1: path: key outside any section\n"},
        {"line without '='", "[database:a]\npath = /a\njunk\n",
         "t.ini:3: junk: expected \"key = value\"\n"},
        {"a value does not continue onto an indented line",
         "[database:a]\npath = /srv/my\n    data.db\n",
         "t.ini:3: data.db: expected \"key = value\" (a value cannot continue onto an indented "
         "line)\n"},
        {"header without ']': its keys are skipped", "[database:a\npath = /a\n",
         "t.ini:1: [database:a: missing ']'\n"
         "t.ini: warning: no [database:NAME] section: nothing to watch\n"},
        {"text after ']'", "[agent] x\nlisten = nonsense\n" DB_OK,
         "t.ini:1: [agent]: unexpected text after ']'\n"},
        {"empty values", "[database:a]\npath =\ncheck = ; only a comment\n",
         "t.ini:2: path: empty value\n"
         "t.ini:3: check: empty value\n"},
        {"quoted path", "[database:a]\npath = \"/srv/a.db\"\n",
         "t.ini:2: path: value is in quotes, which would be kept as part of it; remove them\n"},
        {"a long bad value is cut in the message", "[database:a]\npath = /a\ncheck = " X60 "yyy\n",
         "t.ini:3: check: invalid value \"" X60 "...\" (expected quick, integrity, auto or off)\n"},
        {"every problem, in file order, then the per-section checks",
         "log_level = info\n"
         "[agent]\n"
         "check_workers = 0\n"
         "check_workers = 2\n"
         "colour = blue\n"
         "[alertmanagr]\n"
         "url = http://x\n"
         "[database:a]\n"
         "check = sometimes\n"
         "[database:a]\n"
         "path = /a\n"
         "[database:]\n"
         "path = /b\n"
         "sample_interval = 1y\n",
         "t.ini:1: log_level: key outside any section\n"
         "t.ini:3: check_workers: \"0\" is out of range (1..16)\n"
         "t.ini:4: check_workers: duplicate key (first set at line 3)\n"
         "t.ini:5: colour: unknown key in [agent]\n"
         "t.ini:6: [alertmanagr]: unknown section (expected [agent], [alertmanager], "
         "[database:NAME] or [databases:NAME])\n"
         "t.ini:9: check: invalid value \"sometimes\" (expected quick, integrity, auto or off)\n"
         "t.ini:10: [database:a]: duplicate database name (first at line 8)\n"
         "t.ini:12: [database:]: empty database name\n"
         "t.ini:14: sample_interval: invalid duration \"1y\" (expected e.g. 500ms, 15s, 5m, 1h, "
         "1d or whole seconds)\n"
         "t.ini:8: [database:a]: missing required key \"path\"\n"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config *c;
        char *errs = load(cases[i].text, &c);
        cr_expect_null(c, "%s: loaded", cases[i].name);
        cr_expect_str_eq(errs, cases[i].errors, "%s:\n got: %s want: %s", cases[i].name, errs,
                         cases[i].errors);
        config_free(c);
        free(errs);
    }
}

/* ---- long lines ---------------------------------------------------------------------------- */

enum gen { GEN_PATH, GEN_COMMENT, GEN_COMMENT_CRLF, GEN_LONG_HEADER, GEN_MANY_ERRORS, GEN_DBS };

/* text for a generated case, n being the size of the part that varies */
static char *gen_text(enum gen g, size_t n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    cr_assert_not_null(f);
    switch (g) {
    case GEN_PATH: /* path = /ppp..., n bytes of path */
        fputs("[database:a]\npath = /", f);
        for (size_t i = 1; i < n; i++)
            fputc('p', f);
        fputc('\n', f);
        break;
    case GEN_COMMENT: /* a comment line of n bytes */
    case GEN_COMMENT_CRLF:
        fputs("[database:a]\npath = /a\n#", f);
        for (size_t i = 1; i < n; i++)
            fputc('c', f);
        fputs(g == GEN_COMMENT_CRLF ? "\r\n" : "\n", f);
        break;
    case GEN_LONG_HEADER: /* a header line of n bytes, then a key that would be bad in [a] */
        fputs("[database:a]\npath = /a\n[database:", f);
        for (size_t i = 11; i < n; i++)
            fputc('d', f);
        fputs("]\ncheck = bogus\n", f);
        break;
    case GEN_MANY_ERRORS: /* n unknown keys */
        fputs("[database:a]\npath = /a\n", f);
        for (size_t i = 0; i < n; i++)
            fputs("bogus = 1\n", f);
        break;
    case GEN_DBS: /* n databases */
        for (size_t i = 1; i <= n; i++)
            fprintf(f, "[database:d%zu]\npath = /d%zu\n", i, i);
        break;
    }
    fclose(f);
    return out;
}

Test(config, long_lines)
{
    static const struct {
        const char *name;
        enum gen gen;
        size_t n;
        size_t path_len;   /* when it loads */
        const char *first; /* first line of errors when it does not */
        int nlines;        /* lines of errors */
        const char *last;  /* last line of errors */
    } cases[] = {
        {"300-byte path (inih alone would cut at 200)", GEN_PATH, 300, 300, NULL, 0, NULL},
        {"PATH_MAX - 1 path", GEN_PATH, 4095, 4095, NULL, 0, NULL},
        {"path one byte too long", GEN_PATH, 4096, 0,
         "t.ini:2: path: 4096 bytes long (must be 1..4095)", 1, NULL},
        {"5000-byte line", GEN_PATH, 4993, 0, "t.ini:2: line longer than 4608 bytes", 2,
         "t.ini:1: [database:a]: missing required key \"path\""},
        {"line of exactly the maximum", GEN_COMMENT, 4608, 2, NULL, 0, NULL},
        {"line of the maximum, CRLF", GEN_COMMENT_CRLF, 4608, 2, NULL, 0, NULL},
        {"line one byte over", GEN_COMMENT, 4609, 0, "t.ini:3: line longer than 4608 bytes", 1,
         "t.ini:3: line longer than 4608 bytes"},
        {"100 KiB line", GEN_COMMENT, 100 * 1024, 0, "t.ini:3: line longer than 4608 bytes", 1,
         "t.ini:3: line longer than 4608 bytes"},
        {"a long header's keys do not land in the section before", GEN_LONG_HEADER, 5000, 0,
         "t.ini:3: line longer than 4608 bytes", 1, "t.ini:3: line longer than 4608 bytes"},
        {"a header of the maximum is read whole", GEN_LONG_HEADER, 4608, 0,
         "t.ini:3: [database:ddd", 3, "missing required key \"path\""},
        {"errors are capped at 100, then counted", GEN_MANY_ERRORS, 150, 0,
         "t.ini:3: bogus: unknown key in [database:a]", 102, "t.ini: 150 errors in all"},
        {"10,000 databases (a fleet, issue 10)", GEN_DBS, 10000, 3, NULL, 0, NULL},
        {"100,000 databases", GEN_DBS, 100000, 3, NULL, 0, NULL},
        {"100,001 databases", GEN_DBS, 100001, 0,
         "t.ini:200001: [database:d100001]: too many sections (at most 100000)", 1, NULL},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config *c;
        char *text = gen_text(cases[i].gen, cases[i].n);
        char *errs = load(text, &c);
        int nlines = 0;

        for (const char *p = errs; *p; p++)
            nlines += *p == '\n';
        cr_expect_eq(nlines, cases[i].nlines, "%s: %d lines of errors:\n%.2000s", cases[i].name,
                     nlines, errs);
        if (!cases[i].first) {
            cr_expect_not_null(c, "%s", cases[i].name);
            if (c) {
                cr_expect_eq(strlen(c->dbs[0].path), cases[i].path_len, "%s", cases[i].name);
                cr_expect_eq(c->dbs[0].path[0], '/', "%s", cases[i].name);
            }
        } else {
            cr_expect_null(c, "%s", cases[i].name);
            cr_expect_eq(strncmp(errs, cases[i].first, strlen(cases[i].first)), 0,
                         "%s: first error: %.200s", cases[i].name, errs);
            if (cases[i].last && nlines > 0) {
                size_t len = strlen(errs), ll = strlen(cases[i].last);
                cr_expect(len > ll && errs[len - 1] == '\n' &&
                              strncmp(errs + len - 1 - ll, cases[i].last, ll) == 0,
                          "%s: last error: %.300s", cases[i].name,
                          errs + (len > 300 ? len - 300 : 0));
            }
        }
        config_free(c);
        free(errs);
        free(text);
    }
}

/* ---- real files ---------------------------------------------------------------------------- */

#define BYTES(s) s, sizeof(s) - 1

Test(config, load_file)
{
    static const struct {
        const char *name;
        const char *file; /* created in a fresh directory; NULL: not created */
        const char *bytes;
        size_t len;        /* of bytes; NUL bytes allowed */
        bool dir;          /* load the directory itself */
        const char *other; /* load this path instead ("fifo": a FIFO made in the directory) */
        off_t size;        /* when not 0: the file is truncated (extended) to this size */
        const char *dump;  /* when it loads */
        const char *error; /* otherwise: printf format, %s being the path */
    } cases[] = {
        {"BOM and CRLF", "a.ini",
         BYTES("\xEF\xBB\xBF[agent]\r\ncheck_workers = 3\r\n[database:a]\r\npath = /a b\r\n"),
         false, NULL, 0,
         "listen=127.0.0.1:10150 host=127.0.0.1 port=10150 sample=15000 check_every=300000 "
         "timeout=60000 workers=3 log=info\n"
         "db a path=/a b " DB_DEFAULTS,
         NULL},
        {"NUL byte in a line", "b.ini", BYTES("[database:a]\npath = /a\0b\n"), false, NULL, 0, NULL,
         "%s:2: line contains a NUL byte\n"
         "%s:1: [database:a]: missing required key \"path\"\n"},
        {"missing file", NULL, NULL, 0, false, NULL, 0, NULL,
         "%s: cannot open: No such file or directory\n"},
        /* Anything but a regular file is refused before it is read: a FIFO or /dev/zero would
         * block or never end (and a reload with them, SIGTERM with it). */
        {"a directory", NULL, NULL, 0, true, NULL, 0, NULL, "%s: not a regular file\n"},
        {"a FIFO", NULL, NULL, 0, false, "fifo", 0, NULL, "%s: not a regular file\n"},
        {"/dev/zero", NULL, NULL, 0, false, "/dev/zero", 0, NULL, "%s: not a regular file\n"},
        {"over the size cap", "big.ini", BYTES("[agent]\n"), false, NULL, 4 * 1024 * 1024 + 1, NULL,
         "%s: larger than 4194304 bytes\n"},
    };
    char dir[] = "/tmp/test_config.XXXXXX";

    cr_assert_not_null(mkdtemp(dir));
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char path[256], want[1024], *errs = NULL;
        size_t errlen = 0;
        FILE *ef = open_memstream(&errs, &errlen);
        struct config *c;

        snprintf(path, sizeof(path), "%s/%s", dir, cases[i].file ? cases[i].file : "none.ini");
        if (cases[i].dir)
            snprintf(path, sizeof(path), "%s", dir);
        if (cases[i].other && strcmp(cases[i].other, "fifo") == 0) {
            snprintf(path, sizeof(path), "%s/fifo", dir);
            cr_assert_eq(mkfifo(path, 0600), 0);
        } else if (cases[i].other) {
            snprintf(path, sizeof(path), "%s", cases[i].other);
        }
        if (cases[i].file) {
            FILE *f = fopen(path, "wb");
            cr_assert_not_null(f);
            cr_assert_eq(fwrite(cases[i].bytes, 1, cases[i].len, f), cases[i].len);
            fclose(f);
            if (cases[i].size)
                cr_assert_eq(truncate(path, cases[i].size), 0);
        }
        c = config_load(path, ef);
        fclose(ef);
        if (cases[i].dump) {
            cr_expect_str_empty(errs, "%s: %s", cases[i].name, errs);
            cr_expect_not_null(c, "%s", cases[i].name);
            if (c) {
                char *d = config_dump(c);
                cr_expect_str_eq(d, cases[i].dump, "%s: %s", cases[i].name, d);
                cr_expect_str_eq(c->file, path, "%s", cases[i].name);
                free(d);
            }
        } else {
            snprintf(want, sizeof(want), cases[i].error, path, path);
            cr_expect_null(c, "%s", cases[i].name);
            cr_expect_str_eq(errs, want, "%s:\n got: %s want: %s", cases[i].name, errs, want);
        }
        config_free(c);
        free(errs);
        if (cases[i].file)
            unlink(path);
    }
    rmdir(dir);
}

Test(config, null_errors_stream_and_globals_restored)
{
    /* errors may be NULL; the inih options config.c changes are put back. */
    bool multiline = ini_allow_multiline, use_stack = ini_use_stack, no_value = ini_allow_no_value;
    int max_line = ini_max_line, initial_alloc = ini_initial_alloc;
    struct config *c = config_load_string("[agent]\nbogus = 1\n", "x", NULL);

    cr_expect_null(c);
    c = config_load_string("[database:a]\npath = /a\n", NULL, NULL);
    cr_expect_not_null(c);
    config_free(c);
    config_free(NULL);
    cr_expect_null(config_load(NULL, NULL));
    cr_expect_null(config_load_string(NULL, "x", NULL));
    cr_expect_eq(ini_allow_multiline, multiline);
    cr_expect_eq(ini_use_stack, use_stack);
    cr_expect_eq(ini_allow_no_value, no_value);
    cr_expect_eq(ini_max_line, max_line);
    cr_expect_eq(ini_initial_alloc, initial_alloc);
    for (int k = 0; k <= CHECK_KIND_COUNT; k++)
        cr_expect_not_null(config_check_kind_str((enum check_kind)k));
    cr_expect_str_eq(config_check_kind_str(CHECK_INTEGRITY), "integrity");
    cr_expect_str_eq(config_check_kind_str(CHECK_OFF), "off");
}

/* ---- inih facts ------------------------------------------------------------------------------
 * What Debian's libinih 55 does with its default options, and with the options changed the
 * way config.c could change them. If one of these fails, the library changed under us: re-read
 * the top of config.c and docs/configuration.md. Values longer than 40 bytes are recorded as
 * their length. */

struct calls {
    FILE *f;
};

static int record(void *user, const char *section, const char *name, const char *value)
{
    struct calls *c = user;

    (void)section;
    if (value && strlen(value) > 40)
        fprintf(c->f, "%s=(%zu bytes)|", name, strlen(value));
    else
        fprintf(c->f, "%s=%s|", name, value ? value : "(null)");
    return 1;
}

Test(config, inih_facts)
{
    static const struct {
        const char *name;
        const char *text; /* "k = " + pad 'x's + "\n" when NULL */
        size_t pad;
        bool use_stack;
        int max_line, initial_alloc;
        bool multiline;
        const char *calls;
        int rc; /* ini_parse_stream's: 0, or the first bad line */
    } cases[] = {
        {"' ;' cuts an inline comment", "k = v ; c\n", 0, true, 200, 200, true, "k=v|", 0},
        {"tab ';' too", "k = v\t;c\n", 0, true, 200, 200, true, "k=v|", 0},
        {"';' without space before it is data", "k = a;b\n", 0, true, 200, 200, true, "k=a;b|", 0},
        {"'#' is a comment only at line start", "k = a #b\n#k = c\n", 0, true, 200, 200, true,
         "k=a #b|", 0},
        {"quotes are kept", "k = \"v\"\n", 0, true, 200, 200, true, "k=\"v\"|", 0},
        {"an indented line continues the value (multiline, default on)", "k = a\n  b\n", 0, true,
         200, 200, true, "k=a|k=b|", 0},
        {"with multiline off it is a line without '='", "k = a\n  b\n", 0, true, 200, 200, false,
         "k=a|", 2},
        {"a 300-byte line is cut at 200; the rest is the next line", NULL, 296, true, 200, 200,
         true, "k=(195 bytes)|", 2},
        {"stack buffer: raising ini_max_line is enough (a VLA in this build)", NULL, 9000, true,
         10000, 200, true, "k=(9000 bytes)|", 0},
        {"heap buffer: ini_max_line alone is not; ini_initial_alloc sizes it", NULL, 9000, false,
         10000, 200, true, "k=(195 bytes)|", 2},
        {"heap buffer sized by ini_initial_alloc", NULL, 9000, false, 10000, 10000, true,
         "k=(9000 bytes)|", 0},
    };

    cr_assert_eq(ini_max_line, 200, "Debian's default");
    cr_assert(ini_use_stack && ini_allow_multiline && ini_allow_inline_comments);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *text = NULL, *out = NULL;
        size_t len = 0;
        struct calls calls;
        int rc;

        if (cases[i].text) {
            text = strdup(cases[i].text);
        } else {
            text = malloc(cases[i].pad + 8);
            cr_assert_not_null(text);
            memcpy(text, "k = ", 4);
            memset(text + 4, 'x', cases[i].pad);
            strcpy(text + 4 + cases[i].pad, "\n");
        }
        calls.f = open_memstream(&out, &len);
        cr_assert_not_null(calls.f);
        ini_use_stack = cases[i].use_stack;
        ini_max_line = cases[i].max_line;
        ini_initial_alloc = cases[i].initial_alloc;
        ini_allow_multiline = cases[i].multiline;
        rc = ini_parse_string(text, record, &calls);
        ini_use_stack = true;
        ini_max_line = 200;
        ini_initial_alloc = 200;
        ini_allow_multiline = true;
        fclose(calls.f);
        cr_expect_str_eq(out, cases[i].calls, "%s: %s", cases[i].name, out);
        cr_expect_eq(rc, cases[i].rc, "%s: rc %d", cases[i].name, rc);
        free(out);
        free(text);
    }
}

Test(config, patched_versions_and_alertmanager)
{
    FILE *errs = fopen("/dev/null", "w");
    struct config *c =
        config_load_string("[agent]\npatched_sqlite_versions = 3.40.1 3.44.2,3.8.11.1\n"
                           "[alertmanager]\nurls = http://a:9093 https://b/\n"
                           "[database:a]\npath = /a\n",
                           "t.ini", errs);
    fclose(errs);
    cr_assert_not_null(c);
    cr_expect_eq(c->npatched, 3);
    cr_expect_eq(c->patched[0], 3040001);
    cr_expect_eq(c->patched[1], 3044002);
    cr_expect_eq(c->patched[2], 3008011);
    cr_expect_eq(c->am.nurls, 2);
    cr_expect_str_eq(c->am.urls[1], "https://b/");
    cr_expect_eq(c->am.resend_interval_ms, 60000);
    cr_expect_eq(c->am.timeout_ms, 10000);
    cr_expect_not_null(c->am.runbook_url);
    config_free(c);
}

/* The close watch's keys (issue 12) and check = auto. */
Test(config, close_watch_keys)
{
    static const struct {
        const char *text;
        const char *errors; /* NULL: loads */
        int64_t interval_ms;
        int max;
        enum watch_mode watch;
        enum check_kind check;
    } cases[] = {
        {"[database:a]\npath = /a\n", NULL, 2, 8, WATCH_NORMAL, CHECK_QUICK},
        {"[agent]\nwalindex_watch_interval = 5ms\nwalindex_watch_max = 0\n"
         "[database:a]\npath = /a\nwatch = close\ncheck = auto\n",
         NULL, 5, 0, WATCH_CLOSE, CHECK_AUTO},
        {"[agent]\nwalindex_watch_interval = 1s\nwalindex_watch_max = 1024\n"
         "[database:a]\npath = /a\nwatch = normal\n",
         NULL, 1000, 1024, WATCH_NORMAL, CHECK_QUICK},
        {"[agent]\nwalindex_watch_interval = 0ms\n[database:a]\npath = /a\n",
         "t.ini:2: walindex_watch_interval: \"0ms\" is out of range (1ms..1s)\n", 0, 0, 0, 0},
        {"[agent]\nwalindex_watch_max = 1025\n[database:a]\npath = /a\n",
         "t.ini:2: walindex_watch_max: \"1025\" is out of range (0..1024)\n", 0, 0, 0, 0},
        {"[database:a]\npath = /a\nwatch = Close\n",
         "t.ini:3: watch: invalid value \"Close\" (expected normal or close)\n", 0, 0, 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *c = NULL;
        char *errs = load(cases[i].text, &c);

        if (cases[i].errors) {
            cr_expect_null(c, "case %zu", i);
            cr_expect_str_eq(errs, cases[i].errors, "case %zu", i);
        } else {
            cr_assert_not_null(c, "case %zu: %s", i, errs);
            cr_expect_eq(c->walindex_watch_interval_ms, cases[i].interval_ms, "case %zu", i);
            cr_expect_eq(c->walindex_watch_max, cases[i].max, "case %zu", i);
            cr_expect_eq(c->dbs[0].watch, cases[i].watch, "case %zu", i);
            cr_expect_eq(c->dbs[0].check, cases[i].check, "case %zu", i);
        }
        config_free(c);
        free(errs);
    }
    cr_expect_str_eq(config_check_kind_str(CHECK_AUTO), "auto");
}

/* A file without databases loads (a packaged default watches nothing until edited), with a
 * warning; the web config and [alertmanager] TLS/auth keys name files that must be readable. */
Test(config, no_databases_web_config_and_alertmanager_auth)
{
    static const struct {
        const char *name, *text, *errors;
        bool loads;
    } cases[] = {
        {"no databases", "[agent]\nlog_level = warn\n",
         "t.ini: warning: no [database:NAME] section: nothing to watch\n", true},
        {"empty file", "", "t.ini: warning: no [database:NAME] section: nothing to watch\n", true},
        {"web config file readable",
         "[agent]\nweb_config_file = /dev/null\n[database:a]\npath=/a\n", "", true},
        {"web config file missing",
         "[agent]\nweb_config_file = /nonexistent/web.yml\n[database:a]\npath=/a\n",
         "t.ini:2: web_config_file: cannot read /nonexistent/web.yml: No such file or directory\n",
         false},
        {"alertmanager with everything",
         "[alertmanager]\nurls = https://a\nca_file = /dev/null\ncert_file = /dev/null\n"
         "key_file = /dev/null\nbasic_auth_username = am\nbasic_auth_password_file = /dev/null\n"
         "[database:a]\npath=/a\n",
         "", true},
        {"alertmanager halves and both auths",
         "[alertmanager]\nurls = https://a\ncert_file = /dev/null\nbasic_auth_username = am\n"
         "bearer_token_file = /dev/null\n[database:a]\npath=/a\n",
         "t.ini: [alertmanager]: cert_file and key_file go together\n"
         "t.ini: [alertmanager]: basic_auth_username and basic_auth_password_file go together\n"
         "t.ini: [alertmanager]: basic auth and bearer_token_file exclude each other\n",
         false},
        {"alertmanager CA missing",
         "[alertmanager]\nurls = https://a\nca_file = /nonexistent/ca.pem\n[database:a]\npath=/a\n",
         "t.ini:3: ca_file: cannot read /nonexistent/ca.pem: No such file or directory\n", false},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config *c;
        char *errs = load(cases[i].text, &c);
        cr_expect_eq(c != NULL, cases[i].loads, "%s: loaded %d", cases[i].name, c != NULL);
        cr_expect_str_eq(errs, cases[i].errors, "%s:\n got: %s want: %s", cases[i].name, errs,
                         cases[i].errors);
        config_free(c);
        free(errs);
    }
}

Test(config, log_format)
{
    static const struct {
        const char *text;
        enum log_format want;
    } cases[] = {
        {"[database:a]\npath = /a\n", LOG_FORMAT_LOGFMT},
        {"[agent]\nlog_format = logfmt\n[database:a]\npath = /a\n", LOG_FORMAT_LOGFMT},
        {"[agent]\nlog_format = json\n[database:a]\npath = /a\n", LOG_FORMAT_JSON},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *errs = fopen("/dev/null", "w");
        struct config *c = config_load_string(cases[i].text, "t.ini", errs);
        fclose(errs);
        cr_assert_not_null(c, "%s", cases[i].text);
        cr_expect_eq(c->log_format, cases[i].want, "%s", cases[i].text);
        config_free(c);
    }
}

/* The keys of issue 8: defaults, [agent] values, and per-database overrides that inherit. */
Test(config, step_aside_keys)
{
    static const struct {
        const char *text;
        int64_t yield_ms, db_yield_ms;
        int rate, db_rate;
        enum check_priority prio;
        int64_t pin, db_pin;
    } cases[] = {
        {"[database:a]\npath = /a\n", 10, 10, 0, 0, CHECK_PRIORITY_IDLE, 32 << 20, 32 << 20},
        {"[agent]\ncheck_yield_after = 50ms\ncheck_max_read_rate = 1048576\n"
         "check_priority = normal\ncheck_wal_pin_max = 4MiB\n[database:a]\npath = /a\n",
         50, 50, 1048576, 1048576, CHECK_PRIORITY_NORMAL, 4 << 20, 4 << 20},
        {"[database:a]\npath = /a\ncheck_yield_after = 0\ncheck_max_read_rate = 5000000\n"
         "check_wal_pin_max = 0\n[agent]\ncheck_yield_after = 10s\n",
         10000, 0, 0, 5000000, CHECK_PRIORITY_IDLE, 32 << 20, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *c = config_load_string(cases[i].text, "t.ini", NULL);
        cr_assert_not_null(c, "case %zu", i);
        cr_expect_eq(c->check_yield_after_ms, cases[i].yield_ms, "case %zu", i);
        cr_expect_eq(c->dbs[0].check_yield_after_ms, cases[i].db_yield_ms, "case %zu", i);
        cr_expect_eq(c->check_max_read_rate, cases[i].rate, "case %zu", i);
        cr_expect_eq(c->dbs[0].check_max_read_rate, cases[i].db_rate, "case %zu", i);
        cr_expect_eq(c->check_wal_pin_max, cases[i].pin, "case %zu", i);
        cr_expect_eq(c->dbs[0].check_wal_pin_max, cases[i].db_pin, "case %zu", i);
        cr_expect_eq(c->check_priority, cases[i].prio, "case %zu", i);
        config_free(c);
    }
}
