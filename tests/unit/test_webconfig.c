/*
 * test_webconfig.c: webconfig_parse() (the exporter-toolkit format and every refusal, named by
 * file, line and key), the GnuTLS priority string it builds, bcrypt hash recognition,
 * httpauth's cache of successful checks, and the watchdog's liveness verdict.
 *
 * The PEM side of webconfig_load() (certificates made by openssl) is in
 * tests/integration/test_tls.py, with the real server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpauth.h"
#include "notify.h"
#include "webconfig.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* bcrypt, cost 4 (the lowest, so the tests are quick), of "secret" and of "pa:ss word" */
#define HASH_SECRET "$2b$04$6H/EK97XFforh6h1he1Snuhls6NDFLNW9YcF1FDv4AmlCsNkGfss6"
#define HASH_SPACE "$2b$04$gZmro2guNyb.YRcOX3LLauEqt0ADG/DK2Q.pXabagcSAAZB99NehG"
#define TLS_OK "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"

/* Parses text as "/etc/w/web.yml"; returns what was written to errors (caller frees). */
static char *parse(const char *text, struct webconfig **out)
{
    char *errs = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&errs, &len);

    cr_assert_not_null(f);
    *out = webconfig_parse((const unsigned char *)text, strlen(text), "/etc/w/web.yml", f);
    fclose(f);
    return errs;
}

Test(webconfig, parse_ok)
{
    static const struct {
        const char *name, *text;
        bool tls;
        const char *cert, *ca, *priorities;
        int client_auth;
        size_t nusers, nheaders;
    } cases[] = {
        {"empty file: plain HTTP, nothing required", "", false, NULL, NULL, "", 0, 0, 0},
        {"null sections", "tls_server_config:\nhttp_server_config: ~\nbasic_auth_users: null\n",
         false, NULL, NULL, "", 0, 0, 0},
        {"TLS with defaults: TLS 1.2 and 1.3, relative paths from the file's directory", TLS_OK,
         true, "/etc/w/c.pem", NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3", 0, 0, 0},
        {"absolute path kept, versions bounded",
         "tls_server_config:\n  cert_file: /x/c.pem\n  key_file: k.pem\n"
         "  min_version: TLS13\n  max_version: TLS13\n",
         true, "/x/c.pem", NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.3", 0, 0, 0},
        {"mTLS",
         TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n", true,
         "/etc/w/c.pem", "/etc/w/ca.pem", "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3",
         WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT, 0, 0},
        {"cipher suites: TLS 1.2 components, TLS 1.3 ciphers kept",
         TLS_OK "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
                "    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n    - TLS_AES_128_GCM_SHA256\n"
                "  prefer_server_cipher_suites: true\n  curve_preferences: [X25519, CurveP256]\n",
         true, "/etc/w/c.pem", NULL,
         "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE:-KX-ALL:-CIPHER-ALL:"
         "-MAC-ALL:+ECDHE-RSA:+AES-128-GCM:+AEAD:+ECDHE-ECDSA:+AES-256-GCM:+CHACHA20-POLY1305:"
         "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1",
         0, 0, 0},
        {"cipher suites with TLS 1.2 only: no TLS 1.3 ciphers added",
         TLS_OK "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n",
         true, "/etc/w/c.pem", NULL,
         "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:-CIPHER-ALL:-MAC-ALL:+ECDHE-RSA:+AES-128-CBC:+SHA1",
         0, 0, 0},
        {"headers and users, http2 accepted",
         "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n"
         "    Strict-Transport-Security: max-age=31536000\n"
         "basic_auth_users:\n  prometheus: " HASH_SECRET "\n  'a b': '" HASH_SPACE "'\n",
         false, NULL, NULL, "", 0, 2, 2},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct webconfig *wc;
        char *errs = parse(cases[i].text, &wc);
        cr_assert_not_null(wc, "%s: refused: %s", cases[i].name, errs);
        cr_expect_str_empty(errs, "%s: %s", cases[i].name, errs);
        cr_expect_eq(wc->tls, cases[i].tls, "%s: tls", cases[i].name);
        if (cases[i].cert)
            cr_expect_str_eq(wc->cert_file, cases[i].cert, "%s", cases[i].name);
        if (cases[i].ca)
            cr_expect_str_eq(wc->client_ca_file, cases[i].ca, "%s", cases[i].name);
        cr_expect_str_eq(wc->priorities, cases[i].priorities, "%s: got %s", cases[i].name,
                         wc->priorities);
        cr_expect_eq((int)wc->client_auth, cases[i].client_auth, "%s", cases[i].name);
        cr_expect_eq(wc->nusers, cases[i].nusers, "%s: users", cases[i].name);
        cr_expect_eq(wc->nheaders, cases[i].nheaders, "%s: headers", cases[i].name);
        webconfig_free(wc);
        free(errs);
    }
}

Test(webconfig, parse_errors)
{
    static const struct {
        const char *name, *text, *errors;
    } cases[] = {
        {"bad YAML", "tls_server_config: [\n",
         "/etc/w/web.yml:2: invalid YAML: did not find expected node content while parsing a "
         "flow node\n"},
        {"not a mapping", "- a\n",
         "/etc/w/web.yml:1: expected a mapping of keys, got \"(a list)\"\n"},
        {"unknown top-level key", "tls_config:\n  cert_file: a\n",
         "/etc/w/web.yml:1: unknown key \"tls_config\"\n"},
        {"unknown key in tls_server_config", TLS_OK "  cert: x\n",
         "/etc/w/web.yml:4: tls_server_config: unknown key \"cert\"\n"},
        {"duplicate key", TLS_OK "  cert_file: d.pem\n",
         "/etc/w/web.yml:4: tls_server_config.cert_file: duplicate key\n"},
        {"key without cert", "tls_server_config:\n  key_file: k.pem\n",
         "/etc/w/web.yml: tls_server_config.cert_file: missing (key_file is set, line 2)\n"},
        {"TLS settings without a certificate", "tls_server_config:\n  min_version: TLS13\n",
         "/etc/w/web.yml: tls_server_config: TLS settings without cert_file and key_file (line "
         "2)\n"},
        {"bad client_auth_type", TLS_OK "  client_auth_type: Always\n",
         "/etc/w/web.yml:4: tls_server_config.client_auth_type: invalid value \"Always\" "
         "(expected NoClientCert, RequestClientCert, RequireAnyClientCert, "
         "VerifyClientCertIfGiven or RequireAndVerifyClientCert)\n"},
        {"CA without client auth (exporter-toolkit's rule)", TLS_OK "  client_ca_file: ca.pem\n",
         "/etc/w/web.yml: tls_server_config.client_ca_file: client CA set without a "
         "client_auth_type (line 4)\n"},
        {"client auth without a CA (libmicrohttpd's limit)",
         TLS_OK "  client_auth_type: RequireAnyClientCert\n",
         "/etc/w/web.yml: tls_server_config.client_ca_file: client_auth_type "
         "RequireAnyClientCert needs client_ca_file: libmicrohttpd asks for a client "
         "certificate only when it has a CA to check it against\n"},
        {"bad TLS version", TLS_OK "  min_version: TLS1.2\n",
         "/etc/w/web.yml:4: tls_server_config.min_version: invalid TLS version \"TLS1.2\" "
         "(expected TLS10, TLS11, TLS12 or TLS13)\n"},
        {"min above max", TLS_OK "  min_version: TLS13\n  max_version: TLS12\n",
         "/etc/w/web.yml: tls_server_config.min_version: TLS13 is above max_version TLS12 (line "
         "4)\n"},
        {"unknown cipher suite", TLS_OK "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
         "/etc/w/web.yml:4: tls_server_config.cipher_suites: unknown or unsupported cipher suite "
         "\"TLS_RSA_WITH_RC4_128_SHA\" (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; "
         "RC4 and 3DES suites are not available)\n"},
        {"cipher_suites not a list", TLS_OK "  cipher_suites: TLS_AES_128_GCM_SHA256\n",
         "/etc/w/web.yml:4: tls_server_config.cipher_suites: expected a list, got "
         "\"TLS_AES_128_GCM_SHA256\"\n"},
        {"unknown curve", TLS_OK "  curve_preferences: [P256]\n",
         "/etc/w/web.yml:4: tls_server_config.curve_preferences: unknown curve \"P256\" (expected "
         "CurveP256, CurveP384, CurveP521, X25519)\n"},
        {"client_allowed_sans", TLS_OK "  client_allowed_sans: [a.example]\n",
         "/etc/w/web.yml:4: tls_server_config.client_allowed_sans: not supported by sqlite-agent "
         "(verify client names with the CA)\n"},
        {"bad boolean", TLS_OK "  prefer_server_cipher_suites: sometimes\n",
         "/etc/w/web.yml:4: tls_server_config.prefer_server_cipher_suites: expected true or "
         "false, got \"sometimes\"\n"},
        {"header exporter-toolkit does not allow",
         "http_server_config:\n  headers:\n    Server: x\n",
         "/etc/w/web.yml:3: http_server_config.headers: header \"Server\" cannot be set "
         "(exporter-toolkit allows Strict-Transport-Security, X-Content-Type-Options, "
         "X-Frame-Options, X-XSS-Protection, Content-Security-Policy)\n"},
        {"header value not allowed",
         "http_server_config:\n  headers:\n    X-Frame-Options: allow\n"
         "    X-Content-Type-Options: sniff\n",
         "/etc/w/web.yml:3: http_server_config.headers.X-Frame-Options: invalid value \"allow\" "
         "(expected deny or sameorigin)\n"
         "/etc/w/web.yml:4: http_server_config.headers.X-Content-Type-Options: invalid value "
         "\"sniff\" (expected nosniff)\n"},
        {"unknown key in http_server_config", "http_server_config:\n  header: {}\n",
         "/etc/w/web.yml:2: http_server_config: unknown key \"header\"\n"},
        {"a password instead of a hash: not echoed", "basic_auth_users:\n  prom: hunter2\n",
         "/etc/w/web.yml:2: basic_auth_users.prom: not a bcrypt hash (expected $2y$, $2b$ or "
         "$2a$, a cost, 53 characters; make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')\n"},
        {"user name with ':'", "basic_auth_users:\n  'a:b': " HASH_SECRET "\n",
         "/etc/w/web.yml:2: basic_auth_users: invalid user name \"a:b\" (1 to 256 bytes, no ':', "
         "as basic auth sends it)\n"},
        {"duplicate user", "basic_auth_users:\n  a: " HASH_SECRET "\n  a: " HASH_SECRET "\n",
         "/etc/w/web.yml:3: basic_auth_users.a: duplicate key\n"},
        {"users not a mapping", "basic_auth_users: [a]\n",
         "/etc/w/web.yml:1: basic_auth_users: expected a mapping of user: bcrypt hash, got \"(a "
         "list)\"\n"},
        {"every problem at once",
         "tls_server_config:\n  cert_file: c\n  bogus: 1\nbasic_auth_users:\n  u: x\nextra: 1\n",
         "/etc/w/web.yml:3: tls_server_config: unknown key \"bogus\"\n"
         "/etc/w/web.yml:5: basic_auth_users.u: not a bcrypt hash (expected $2y$, $2b$ or $2a$, "
         "a cost, 53 characters; make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')\n"
         "/etc/w/web.yml:6: unknown key \"extra\"\n"
         "/etc/w/web.yml: tls_server_config.key_file: missing (cert_file is set, line 2)\n"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct webconfig *wc;
        char *errs = parse(cases[i].text, &wc);
        cr_expect_null(wc, "%s: accepted", cases[i].name);
        cr_expect_str_eq(errs, cases[i].errors, "%s:\n got: %s want: %s", cases[i].name, errs,
                         cases[i].errors);
        webconfig_free(wc);
        free(errs);
    }
}

Test(webconfig, oversized_file_refused)
{
    size_t n = WEBCONFIG_FILE_MAX + 1;
    unsigned char *big = malloc(n);
    char *errs = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&errs, &len);

    cr_assert_not_null(big);
    memset(big, '#', n);
    cr_expect_null(webconfig_parse(big, n, "w.yml", f));
    fclose(f);
    cr_expect_str_eq(errs, "w.yml: larger than 65536 bytes\n");
    free(errs);
    free(big);
}

Test(webconfig, missing_file_named)
{
    char *errs = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&errs, &len);

    cr_expect_null(webconfig_load("/nonexistent/web.yml", f));
    fclose(f);
    cr_expect_str_eq(errs,
                     "/nonexistent/web.yml: cannot open /nonexistent/web.yml: No such file or "
                     "directory\n");
    free(errs);
}

Test(webconfig, is_bcrypt)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {HASH_SECRET, true},
        {"$2y$10$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcxQy", true},
        {"$2a$31$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcxQy", true},
        {"$2x$10$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcxQy", false}, /* variant */
        {"$2b$03$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcxQy", false}, /* cost */
        {"$2b$32$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcxQy", false},
        {"$2b$10$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcxQ", false},  /* short */
        {"$2b$10$aMzxkoPf0JVUsKmBfNXgrut2Eqxn..jNDzxD.fhydyw3b.R/kcx+y", false}, /* '+' */
        {"$6$salt$hash", false},
        {"", false},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(webconfig_is_bcrypt(cases[i].s, strlen(cases[i].s)), cases[i].ok, "%s",
                     cases[i].s);
}

/* A user's first success pays bcrypt, the next ones are answered by the cache; a wrong password
 * or an unknown user pays bcrypt every time and is never cached. */
Test(httpauth, cache_and_verdicts)
{
    static const char yaml[] =
        "basic_auth_users:\n  prom: " HASH_SECRET "\n"
        "  'a b': '$2y$04$gZmro2guNyb.YRcOX3LLauEqt0ADG/DK2Q.pXabagcSAAZB99NehG'\n";
    static const struct {
        const char *user, *pass;
        bool ok;
        uint64_t runs, hits; /* totals after this check */
    } steps[] = {
        {"prom", "secret", true, 1, 0},    {"prom", "secret", true, 1, 1},
        {"prom", "secret", true, 1, 2},    {"prom", "wrong", false, 2, 2},
        {"prom", "wrong", false, 3, 2},    {"nobody", "secret", false, 4, 2},
        {"prom", "secre", false, 5, 2},    {"a b", "pa:ss word", true, 6, 2}, /* $2y$ */
        {"a b", "pa:ss word", true, 6, 3}, {"prom", "secret", true, 6, 4},
    };
    struct webconfig *wc;
    char *errs = parse(yaml, &wc);
    cr_assert_not_null(wc, "%s", errs);
    free(errs);
    struct httpauth *a = httpauth_new(wc);
    cr_assert_not_null(a);
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        uint64_t runs, hits;
        bool ok = httpauth_check_basic(a, steps[i].user, steps[i].pass, strlen(steps[i].pass));
        httpauth_counts(a, &runs, &hits);
        cr_expect_eq(ok, steps[i].ok, "step %zu: %s", i, steps[i].user);
        cr_expect_eq(runs, steps[i].runs, "step %zu: bcrypt runs %llu", i,
                     (unsigned long long)runs);
        cr_expect_eq(hits, steps[i].hits, "step %zu: cache hits %llu", i, (unsigned long long)hits);
    }
    /* a NUL inside the password never matches "secret" */
    cr_expect_not(httpauth_check_basic(a, "prom", "secret\0x", 8));
    httpauth_free(a);
    webconfig_free(wc);
}

/* The cache is bounded: more distinct successes than it holds push the oldest out. */
Test(httpauth, cache_is_bounded)
{
    char yaml[WEBCONFIG_FILE_MAX / 4] = "basic_auth_users:\n";
    size_t used = strlen(yaml);
    struct webconfig *wc;
    uint64_t runs, hits;

    for (int i = 0; i <= HTTPAUTH_CACHE_MAX; i++)
        used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "  u%d: %s\n", i, HASH_SECRET);
    char *errs = parse(yaml, &wc);
    cr_assert_not_null(wc, "%s", errs);
    free(errs);
    struct httpauth *a = httpauth_new(wc);
    char user[16];
    for (int i = 0; i <= HTTPAUTH_CACHE_MAX; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        cr_expect(httpauth_check_basic(a, user, "secret", 6));
    }
    cr_expect(httpauth_check_basic(a, "u0", "secret", 6));  /* pushed out: bcrypt again */
    cr_expect(httpauth_check_basic(a, "u64", "secret", 6)); /* the newest: cached */
    httpauth_counts(a, &runs, &hits);
    cr_expect_eq(runs, HTTPAUTH_CACHE_MAX + 2);
    cr_expect_eq(hits, 1);
    httpauth_free(a);
    webconfig_free(wc);
}

Test(httpauth, equal)
{
    cr_expect(httpauth_equal("abc", "abc", 3));
    cr_expect_not(httpauth_equal("abc", "abd", 3));
    cr_expect(httpauth_equal("", "x", 0));
}

Test(notify, sampling_alive)
{
    static const struct {
        const char *name;
        size_t ndbs;
        int64_t last, start, now, interval;
        bool alive;
    } cases[] = {
        {"no database: nothing to sample", 0, 0, 0, 1000000, 1000, true},
        {"recent pass", 2, 10000, 0, 12000, 1000, true},
        {"no pass yet, just started", 2, 0, 5000, 9000, 1000, true},
        {"no pass long after start", 2, 0, 5000, 5000 + 3 * 1000 + 10001, 1000, false},
        {"at the limit", 1, 10000, 0, 10000 + 3 * 15000 + 10000, 15000, true},
        {"past the limit", 1, 10000, 0, 10000 + 3 * 15000 + 10001, 15000, false},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(notify_sampling_alive(cases[i].ndbs, cases[i].last, cases[i].start,
                                           cases[i].now, cases[i].interval),
                     cases[i].alive, "%s", cases[i].name);
}
