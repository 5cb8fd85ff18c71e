/*
 * webconfig.c: the exporter-toolkit web configuration file (see webconfig.h, docs/webconfig.md).
 *
 * What each key means comes from exporter-toolkit (web/tls_config.go, web/handler.go, as
 * vendored by Debian 12's prometheus 2.42): the YAML is decoded strictly (yaml.UnmarshalStrict,
 * so an unknown or repeated key is an error), relative paths are relative to the file's
 * directory, TLS is on when cert_file or key_file is set, min_version defaults to TLS12,
 * client_ca_file without a client_auth_type is an error, and only five response headers may be
 * set, two of them only to fixed values.
 *
 * Where GnuTLS (through libmicrohttpd) cannot do what Go's crypto/tls does, the file is refused
 * with the reason rather than half-applied:
 *   - libmicrohttpd asks the client for a certificate only when it holds a trust store
 *     (MHD_OPTION_HTTPS_MEM_TRUST), so every client_auth_type but NoClientCert needs
 *     client_ca_file here;
 *   - GnuTLS chooses key exchange, cipher and MAC separately, so cipher_suites becomes "those
 *     key exchanges x those ciphers x those MACs" (which contains the listed suites and may
 *     allow a few combinations more); as in Go, it does not limit TLS 1.3;
 *   - client_allowed_sans and http2: true are not done; client_allowed_sans is refused and
 *     http2 is accepted and ignored (the server speaks HTTP/1.1; a client falls back).
 */
#include "webconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WEBCONFIG_MAX_ERRORS 50
#define WEBCONFIG_ECHO_MAX 60 /* bytes of a bad value quoted back */
#define WEBCONFIG_PATH_MAX 4095

/* ---- tables ------------------------------------------------------------------------------- */

static const char *const client_auth_names[] = {
    [WEBCONFIG_NO_CLIENT_CERT] = "NoClientCert",
    [WEBCONFIG_REQUEST_CLIENT_CERT] = "RequestClientCert",
    [WEBCONFIG_REQUIRE_ANY_CLIENT_CERT] = "RequireAnyClientCert",
    [WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN] = "VerifyClientCertIfGiven",
    [WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT] = "RequireAndVerifyClientCert",
};

const char *webconfig_client_auth_str(enum webconfig_client_auth a)
{
    if ((unsigned)a >= ARRAY_LEN(client_auth_names))
        return "unknown";
    return client_auth_names[a];
}

static const struct {
    const char *name;     /* exporter-toolkit */
    const char *priority; /* GnuTLS */
} tls_versions[] = {
    [WEBCONFIG_TLS10] = {"TLS10", "VERS-TLS1.0"},
    [WEBCONFIG_TLS11] = {"TLS11", "VERS-TLS1.1"},
    [WEBCONFIG_TLS12] = {"TLS12", "VERS-TLS1.2"},
    [WEBCONFIG_TLS13] = {"TLS13", "VERS-TLS1.3"},
};

/* Go's cipher suite names (crypto/tls cipher_suites.go) and the GnuTLS key exchange, cipher and
 * MAC of each (gnutls_cipher_suite_get_name() lists GnuTLS's own). TLS 1.3 suites are not
 * configurable in Go either: they are accepted and change nothing (kx NULL). Go's RC4 and 3DES
 * suites are not here: Debian's GnuTLS does not offer them. */
static const struct cipher_suite {
    const char *go;
    const char *kx, *cipher, *mac;
} cipher_suites[] = {
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "RSA", "AES-128-CBC", "SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA", "AES-128-CBC", "SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA", "AES-128-CBC", "SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_AES_128_GCM_SHA256", NULL, NULL, NULL},
    {"TLS_AES_256_GCM_SHA384", NULL, NULL, NULL},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL, NULL, NULL},
};

/* The ciphers GnuTLS uses for TLS 1.3 (RFC 8446 B.4): kept whatever cipher_suites says,
 * because GnuTLS has one cipher list for every version. */
static const char *const tls13_ciphers[] = {"AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305",
                                            "AES-128-CCM"};

/* Go's curve names (crypto/tls common.go CurveID) and GnuTLS's groups. */
static const struct {
    const char *go, *group;
} curves[] = {
    {"CurveP256", "GROUP-SECP256R1"},
    {"CurveP384", "GROUP-SECP384R1"},
    {"CurveP521", "GROUP-SECP521R1"},
    {"X25519", "GROUP-X25519"},
};

/* exporter-toolkit web/handler.go extraHTTPHeaders: the headers one may set, and the values
 * allowed where only some are. */
static const struct {
    const char *name;
    const char *allowed[3]; /* NULL-terminated; empty: any value */
} allowed_headers[] = {
    {"Strict-Transport-Security", {NULL}},
    {"X-Content-Type-Options", {"nosniff", NULL}},
    {"X-Frame-Options", {"deny", "sameorigin", NULL}},
    {"X-XSS-Protection", {NULL}},
    {"Content-Security-Policy", {NULL}},
};

/* ---- parse state and messages ------------------------------------------------------------- */

struct wparse {
    const char *file;
    FILE *errors;
    int nerrors;
    yaml_document_t *doc;
    struct webconfig *wc;
    /* tls_server_config pieces gathered before the priority string is built */
    const struct cipher_suite *ciphers[WEBCONFIG_CIPHERS_MAX];
    size_t nciphers;
    const char *groups[WEBCONFIG_CURVES_MAX];
    size_t ngroups;
    bool min_set, max_set, auth_set;
    int tls_line, ca_line, min_line;
};

static void werror(struct wparse *p, const yaml_node_t *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "FILE:LINE: KEY: reason" (LINE of the node, when there is one). */
static void werror(struct wparse *p, const yaml_node_t *at, const char *key, const char *fmt, ...)
{
    va_list ap;

    p->nerrors++;
    if (p->errors == NULL || p->nerrors > WEBCONFIG_MAX_ERRORS)
        return;
    fprintf(p->errors, "%s:", p->file);
    if (at != NULL)
        fprintf(p->errors, "%lu:", (unsigned long)at->start_mark.line + 1);
    if (key != NULL)
        fprintf(p->errors, " %s:", key);
    fputc(' ', p->errors);
    va_start(ap, fmt);
    vfprintf(p->errors, fmt, ap);
    va_end(ap);
    fputc('\n', p->errors);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* A scalar's text, or NULL for another kind of node. */
static const char *scalar(const yaml_node_t *n, size_t *len)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE)
        return NULL;
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty plain scalar, "~" or "null" (YAML 1.1, as go-yaml v2 reads it). A
 * null string field is left unset, as Go leaves it "". */
static bool is_null(const yaml_node_t *n)
{
    size_t len;
    const char *s = scalar(n, &len);

    if (s == NULL || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0));
}

static bool scalar_is(const yaml_node_t *n, const char *want)
{
    size_t len;
    const char *s = scalar(n, &len);

    return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* The echo of a bad value: at most WEBCONFIG_ECHO_MAX bytes, control bytes as '?'. */
static const char *echo(const yaml_node_t *n, char *buf, size_t cap)
{
    size_t len, i;
    const char *s = scalar(n, &len);

    if (s == NULL)
        return n != NULL && n->type == YAML_MAPPING_NODE ? "(a mapping)" : "(a list)";
    for (i = 0; i < len && i < WEBCONFIG_ECHO_MAX && i + 4 < cap; i++)
        buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (i < len && i + 4 < cap)
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = '\0';
    return buf;
}

/* ---- keys --------------------------------------------------------------------------------- */

/* One key of a mapping: its name, and what to do with its value. */
struct wkey {
    const char *name;
    void (*set)(struct wparse *p, const yaml_node_t *v, const char *key);
};

#define WKEYS_MAX 16 /* keys in one table of struct wkey */

/* Walks a mapping's pairs: each key must be a known one, once. path names the mapping in
 * messages ("tls_server_config"); NULL for the top level. */
static void walk_mapping(struct wparse *p, const yaml_node_t *m, const char *path,
                         const struct wkey *keys, size_t nkeys)
{
    bool seen[WKEYS_MAX] = {false};
    char full[128], buf[WEBCONFIG_ECHO_MAX + 4];

    if (nkeys > WKEYS_MAX) { /* a table too long for seen[]: a bug here, not in the file */
        werror(p, m, path, "internal error: too many keys");
        return;
    }
    if (m->type != YAML_MAPPING_NODE) {
        werror(p, m, path, "expected a mapping of keys, got \"%s\"", echo(m, buf, sizeof(buf)));
        return;
    }
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
        size_t i;
        for (i = 0; i < nkeys && !scalar_is(k, keys[i].name); i++)
            ;
        if (i == nkeys) {
            if (path != NULL)
                werror(p, k, path, "unknown key \"%s\"", echo(k, buf, sizeof(buf)));
            else
                werror(p, k, NULL, "unknown key \"%s\"", echo(k, buf, sizeof(buf)));
            continue;
        }
        snprintf(full, sizeof(full), "%s%s%s", path ? path : "", path ? "." : "", keys[i].name);
        if (seen[i]) {
            werror(p, k, full, "duplicate key");
            continue;
        }
        seen[i] = true;
        keys[i].set(p, v, full);
    }
}

/* A file path: relative to the web config's directory, as exporter-toolkit's SetDirectory. */
static void set_path(struct wparse *p, const yaml_node_t *v, const char *key, char **field)
{
    size_t len;
    const char *s = scalar(v, &len);
    const char *slash = strrchr(p->file, '/');
    size_t dirlen =
        slash != NULL && s != NULL && len > 0 && s[0] != '/' ? (size_t)(slash - p->file) + 1 : 0;
    char buf[WEBCONFIG_ECHO_MAX + 4];

    if (is_null(v))
        return;
    if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL) {
        werror(p, v, key, "expected a file name, got \"%s\"", echo(v, buf, sizeof(buf)));
        return;
    }
    if (dirlen + len > WEBCONFIG_PATH_MAX) {
        werror(p, v, key, "path longer than %d bytes", WEBCONFIG_PATH_MAX);
        return;
    }
    char *path = malloc(dirlen + len + 1);
    if (path == NULL) {
        werror(p, v, key, "out of memory");
        return;
    }
    memcpy(path, p->file, dirlen);
    memcpy(path + dirlen, s, len);
    path[dirlen + len] = '\0';
    free(*field);
    *field = path;
}

static void set_cert_file(struct wparse *p, const yaml_node_t *v, const char *key)
{
    set_path(p, v, key, &p->wc->cert_file);
}

static void set_key_file(struct wparse *p, const yaml_node_t *v, const char *key)
{
    set_path(p, v, key, &p->wc->key_file);
}

static void set_client_ca_file(struct wparse *p, const yaml_node_t *v, const char *key)
{
    p->ca_line = (int)v->start_mark.line + 1;
    set_path(p, v, key, &p->wc->client_ca_file);
}

static void set_client_auth(struct wparse *p, const yaml_node_t *v, const char *key)
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    if (is_null(v))
        return;
    for (size_t i = 0; i < ARRAY_LEN(client_auth_names); i++) {
        if (scalar_is(v, client_auth_names[i])) {
            p->wc->client_auth = (enum webconfig_client_auth)i;
            p->auth_set = true;
            return;
        }
    }
    werror(p, v, key,
           "invalid value \"%s\" (expected NoClientCert, RequestClientCert, RequireAnyClientCert, "
           "VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
           echo(v, buf, sizeof(buf)));
}

static bool parse_version(struct wparse *p, const yaml_node_t *v, const char *key,
                          enum webconfig_tls_version *out)
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    for (int i = WEBCONFIG_TLS10; i <= WEBCONFIG_TLS13; i++) {
        if (scalar_is(v, tls_versions[i].name)) {
            *out = (enum webconfig_tls_version)i;
            return true;
        }
    }
    werror(p, v, key, "invalid TLS version \"%s\" (expected TLS10, TLS11, TLS12 or TLS13)",
           echo(v, buf, sizeof(buf)));
    return false;
}

static void set_min_version(struct wparse *p, const yaml_node_t *v, const char *key)
{
    p->min_line = (int)v->start_mark.line + 1;
    if (!is_null(v) && parse_version(p, v, key, &p->wc->min_version))
        p->min_set = true;
}

static void set_max_version(struct wparse *p, const yaml_node_t *v, const char *key)
{
    if (!is_null(v) && parse_version(p, v, key, &p->wc->max_version))
        p->max_set = true;
}

static bool parse_bool(struct wparse *p, const yaml_node_t *v, const char *key, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    char buf[WEBCONFIG_ECHO_MAX + 4];

    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (scalar_is(v, yes[i]) || scalar_is(v, no[i])) {
            *out = scalar_is(v, yes[i]);
            return true;
        }
    }
    werror(p, v, key, "expected true or false, got \"%s\"", echo(v, buf, sizeof(buf)));
    return false;
}

static void set_prefer_server(struct wparse *p, const yaml_node_t *v, const char *key)
{
    if (!is_null(v))
        parse_bool(p, v, key, &p->wc->prefer_server_cipher_suites);
}

/* Each item of a list, to one(); a null value is an empty list. */
static void walk_list(struct wparse *p, const yaml_node_t *v, const char *key,
                      void (*one)(struct wparse *p, const yaml_node_t *item, const char *key))
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    if (is_null(v))
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        werror(p, v, key, "expected a list, got \"%s\"", echo(v, buf, sizeof(buf)));
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
        one(p, yaml_document_get_node(p->doc, *it), key);
}

static void one_cipher(struct wparse *p, const yaml_node_t *item, const char *key)
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    for (size_t i = 0; i < ARRAY_LEN(cipher_suites); i++) {
        if (!scalar_is(item, cipher_suites[i].go))
            continue;
        if (p->nciphers == WEBCONFIG_CIPHERS_MAX) {
            werror(p, item, key, "more than %d cipher suites", WEBCONFIG_CIPHERS_MAX);
            return;
        }
        p->ciphers[p->nciphers++] = &cipher_suites[i];
        return;
    }
    werror(p, item, key,
           "unknown or unsupported cipher suite \"%s\" (Go's names, e.g. "
           "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; RC4 and 3DES suites are not available)",
           echo(item, buf, sizeof(buf)));
}

static void set_cipher_suites(struct wparse *p, const yaml_node_t *v, const char *key)
{
    walk_list(p, v, key, one_cipher);
}

static void one_curve(struct wparse *p, const yaml_node_t *item, const char *key)
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    for (size_t i = 0; i < ARRAY_LEN(curves); i++) {
        if (!scalar_is(item, curves[i].go))
            continue;
        if (p->ngroups == WEBCONFIG_CURVES_MAX) {
            werror(p, item, key, "more than %d curves", WEBCONFIG_CURVES_MAX);
            return;
        }
        p->groups[p->ngroups++] = curves[i].group;
        return;
    }
    werror(p, item, key, "unknown curve \"%s\" (expected CurveP256, CurveP384, CurveP521, X25519)",
           echo(item, buf, sizeof(buf)));
}

static void set_curves(struct wparse *p, const yaml_node_t *v, const char *key)
{
    walk_list(p, v, key, one_curve);
}

static void set_unsupported(struct wparse *p, const yaml_node_t *v, const char *key)
{
    if (!is_null(v) && !(v->type == YAML_SEQUENCE_NODE &&
                         v->data.sequence.items.start == v->data.sequence.items.top))
        werror(p, v, key, "not supported by sqlite-agent (verify client names with the CA)");
}

static const struct wkey tls_keys[] = {
    {"cert_file", set_cert_file},
    {"key_file", set_key_file},
    {"client_auth_type", set_client_auth},
    {"client_ca_file", set_client_ca_file},
    {"cipher_suites", set_cipher_suites},
    {"curve_preferences", set_curves},
    {"min_version", set_min_version},
    {"max_version", set_max_version},
    {"prefer_server_cipher_suites", set_prefer_server},
    {"client_allowed_sans", set_unsupported},
};

static void set_tls(struct wparse *p, const yaml_node_t *v, const char *key)
{
    p->tls_line = (int)v->start_mark.line + 1;
    if (!is_null(v))
        walk_mapping(p, v, key, tls_keys, ARRAY_LEN(tls_keys));
}

static void one_header(struct wparse *p, const yaml_node_t *k, const yaml_node_t *v,
                       const char *key)
{
    struct webconfig *wc = p->wc;
    char buf[WEBCONFIG_ECHO_MAX + 4], full[160];
    size_t i, len = 0;
    const char *s = scalar(v, &len);

    for (i = 0; i < ARRAY_LEN(allowed_headers) && !scalar_is(k, allowed_headers[i].name); i++)
        ;
    if (i == ARRAY_LEN(allowed_headers)) {
        werror(p, k, key,
               "header \"%s\" cannot be set (exporter-toolkit allows Strict-Transport-Security, "
               "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
               "Content-Security-Policy)",
               echo(k, buf, sizeof(buf)));
        return;
    }
    snprintf(full, sizeof(full), "%s.%s", key, allowed_headers[i].name);
    for (size_t j = 0; j < wc->nheaders; j++) {
        if (wc->headers[j].name == allowed_headers[i].name) {
            werror(p, k, full, "duplicate key");
            return;
        }
    }
    bool ok = allowed_headers[i].allowed[0] == NULL;
    for (size_t j = 0; allowed_headers[i].allowed[j] != NULL && !ok; j++)
        ok = scalar_is(v, allowed_headers[i].allowed[j]);
    if (s == NULL || !ok || len > WEBCONFIG_HEADER_VALUE_MAX) {
        werror(p, v, full, "invalid value \"%s\"%s", echo(v, buf, sizeof(buf)),
               allowed_headers[i].allowed[0] == NULL
                   ? ""
                   : (allowed_headers[i].allowed[1] ? " (expected deny or sameorigin)"
                                                    : " (expected nosniff)"));
        return;
    }
    for (size_t j = 0; j < len; j++) {
        if ((unsigned char)s[j] < 0x20 || s[j] == 0x7f) {
            werror(p, v, full, "value contains a control character");
            return;
        }
    }
    wc->headers[wc->nheaders].name = allowed_headers[i].name;
    wc->headers[wc->nheaders].value = dup_n(s, len);
    if (wc->headers[wc->nheaders].value == NULL)
        werror(p, v, full, "out of memory");
    else
        wc->nheaders++;
}

static void set_headers(struct wparse *p, const yaml_node_t *v, const char *key)
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    if (is_null(v))
        return;
    if (v->type != YAML_MAPPING_NODE) {
        werror(p, v, key, "expected a mapping of header: value, got \"%s\"",
               echo(v, buf, sizeof(buf)));
        return;
    }
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++)
        one_header(p, yaml_document_get_node(p->doc, pr->key),
                   yaml_document_get_node(p->doc, pr->value), key);
}

static void set_http2(struct wparse *p, const yaml_node_t *v, const char *key)
{
    bool on;

    if (!is_null(v))
        parse_bool(p, v, key, &on); /* accepted and ignored: HTTP/1.1 only (see the top) */
}

static const struct wkey http_keys[] = {
    {"headers", set_headers},
    {"http2", set_http2},
};

static void set_http(struct wparse *p, const yaml_node_t *v, const char *key)
{
    if (!is_null(v))
        walk_mapping(p, v, key, http_keys, ARRAY_LEN(http_keys));
}

/* crypt(3)'s bcrypt alphabet (libxcrypt crypt-bcrypt.c, BF_itoa64). */
static bool bcrypt_char(char c)
{
    return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

bool webconfig_is_bcrypt(const char *s, size_t len)
{
    if (s == NULL || len != WEBCONFIG_BCRYPT_LEN)
        return false;
    if (s[0] != '$' || s[1] != '2' || (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$')
        return false;
    if (s[4] < '0' || s[4] > '3' || s[5] < '0' || s[5] > '9' || s[6] != '$')
        return false;
    int cost = (s[4] - '0') * 10 + (s[5] - '0');
    if (cost < 4 || cost > 31)
        return false;
    for (size_t i = 7; i < len; i++) {
        if (!bcrypt_char(s[i]))
            return false;
    }
    return true;
}

static void one_user(struct wparse *p, const yaml_node_t *k, const yaml_node_t *v, const char *key)
{
    struct webconfig *wc = p->wc;
    char buf[WEBCONFIG_ECHO_MAX + 4], full[WEBCONFIG_NAME_MAX + 32];
    size_t nlen = 0, hlen = 0;
    const char *name = scalar(k, &nlen);
    const char *hash = scalar(v, &hlen);

    if (name == NULL || nlen == 0 || nlen > WEBCONFIG_NAME_MAX || memchr(name, ':', nlen) ||
        memchr(name, '\0', nlen)) {
        werror(p, k, key,
               "invalid user name \"%s\" (1 to %d bytes, no ':', as basic auth sends it)",
               echo(k, buf, sizeof(buf)), WEBCONFIG_NAME_MAX);
        return;
    }
    snprintf(full, sizeof(full), "%s.%.*s", key, (int)nlen, name);
    for (size_t j = 0; j < wc->nusers; j++) {
        if (strlen(wc->users[j].name) == nlen && memcmp(wc->users[j].name, name, nlen) == 0) {
            werror(p, k, full, "duplicate key");
            return;
        }
    }
    if (!webconfig_is_bcrypt(hash, hash ? hlen : 0)) {
        /* The value is a password hash: never echo it. */
        werror(p, v, full,
               "not a bcrypt hash (expected $2y$, $2b$ or $2a$, a cost, 53 characters; make one "
               "with htpasswd -nBC 10 \"\" | tr -d ':\\n')");
        return;
    }
    if (wc->nusers == WEBCONFIG_USERS_MAX) {
        werror(p, k, full, "more than %d users", WEBCONFIG_USERS_MAX);
        return;
    }
    struct webconfig_user *u = &wc->users[wc->nusers];
    u->name = dup_n(name, nlen);
    if (u->name == NULL) {
        werror(p, k, full, "out of memory");
        return;
    }
    memcpy(u->hash, hash, WEBCONFIG_BCRYPT_LEN);
    u->hash[WEBCONFIG_BCRYPT_LEN] = '\0';
    wc->nusers++;
}

static void set_users(struct wparse *p, const yaml_node_t *v, const char *key)
{
    char buf[WEBCONFIG_ECHO_MAX + 4];

    if (is_null(v))
        return;
    if (v->type != YAML_MAPPING_NODE) {
        werror(p, v, key, "expected a mapping of user: bcrypt hash, got \"%s\"",
               echo(v, buf, sizeof(buf)));
        return;
    }
    p->wc->users = calloc(WEBCONFIG_USERS_MAX, sizeof(*p->wc->users));
    if (p->wc->users == NULL) {
        werror(p, v, key, "out of memory");
        return;
    }
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++)
        one_user(p, yaml_document_get_node(p->doc, pr->key),
                 yaml_document_get_node(p->doc, pr->value), key);
}

static const struct wkey top_keys[] = {
    {"tls_server_config", set_tls},
    {"http_server_config", set_http},
    {"basic_auth_users", set_users},
};

/* ---- after the walk ------------------------------------------------------------------------ */

static int append(char *dst, size_t cap, size_t *used, const char *s)
{
    size_t n = strlen(s);

    if (*used + n + 1 > cap)
        return -1;
    memcpy(dst + *used, s, n + 1);
    *used += n;
    return 0;
}

/* Adds ":+NAME" unless NAME is already in the string (key exchanges and MACs repeat). */
static int append_once(char *dst, size_t cap, size_t *used, const char *name)
{
    char item[64];

    snprintf(item, sizeof(item), ":+%s", name);
    if (strstr(dst, item) != NULL)
        return 0;
    return append(dst, cap, used, item);
}

/* The GnuTLS priority string (gnutls manual, 6.12 "Priority strings"): NORMAL, then only the
 * versions from min to max, then the cipher suites and curves when given. */
static int build_priorities(struct wparse *p)
{
    struct webconfig *wc = p->wc;
    char *d = wc->priorities;
    size_t cap = sizeof(wc->priorities), used = 0;
    int rc = append(d, cap, &used, "NORMAL:-VERS-ALL");

    for (int v = wc->min_version; v <= (int)wc->max_version && rc == 0; v++)
        rc = append_once(d, cap, &used, tls_versions[v].priority);
    if (wc->prefer_server_cipher_suites && rc == 0)
        rc = append(d, cap, &used, ":%SERVER_PRECEDENCE");
    bool tls12_suites = false;
    for (size_t i = 0; i < p->nciphers; i++)
        tls12_suites |= p->ciphers[i]->kx != NULL;
    if (tls12_suites && rc == 0) {
        rc = append(d, cap, &used, ":-KX-ALL:-CIPHER-ALL:-MAC-ALL");
        for (size_t i = 0; i < p->nciphers && rc == 0; i++) {
            const struct cipher_suite *c = p->ciphers[i];
            if (c->kx == NULL)
                continue;
            rc = append_once(d, cap, &used, c->kx);
            if (rc == 0)
                rc = append_once(d, cap, &used, c->cipher);
            if (rc == 0)
                rc = append_once(d, cap, &used, c->mac);
        }
        for (size_t i = 0;
             wc->max_version == WEBCONFIG_TLS13 && i < ARRAY_LEN(tls13_ciphers) && rc == 0; i++)
            rc = append_once(d, cap, &used, tls13_ciphers[i]);
        if (wc->max_version == WEBCONFIG_TLS13 && rc == 0)
            rc = append_once(d, cap, &used, "AEAD");
    }
    if (p->ngroups > 0 && rc == 0) {
        rc = append(d, cap, &used, ":-GROUP-ALL");
        for (size_t i = 0; i < p->ngroups && rc == 0; i++)
            rc = append_once(d, cap, &used, p->groups[i]);
    }
    return rc;
}

/* The rules exporter-toolkit applies once the file is decoded (tls_config.go getTLSConfig),
 * and the ones libmicrohttpd adds (see the top of the file). */
static void finish(struct wparse *p)
{
    struct webconfig *wc = p->wc;
    yaml_node_t *none = NULL;
    char where[32];

    snprintf(where, sizeof(where), "%d", p->tls_line);
    wc->tls = wc->cert_file != NULL || wc->key_file != NULL;
    if (wc->tls && wc->cert_file == NULL)
        werror(p, none, "tls_server_config.cert_file", "missing (key_file is set, line %s)", where);
    if (wc->tls && wc->key_file == NULL)
        werror(p, none, "tls_server_config.key_file", "missing (cert_file is set, line %s)", where);
    if (!wc->tls && (wc->client_ca_file || p->auth_set || p->min_set || p->max_set || p->nciphers ||
                     p->ngroups))
        werror(p, none, "tls_server_config",
               "TLS settings without cert_file and key_file (line %s)", where);
    if (wc->client_ca_file != NULL && wc->client_auth == WEBCONFIG_NO_CLIENT_CERT)
        werror(p, none, "tls_server_config.client_ca_file",
               "client CA set without a client_auth_type (line %d)", p->ca_line);
    if (wc->client_ca_file == NULL && wc->client_auth != WEBCONFIG_NO_CLIENT_CERT)
        werror(p, none, "tls_server_config.client_ca_file",
               "client_auth_type %s needs client_ca_file: libmicrohttpd asks for a client "
               "certificate only when it has a CA to check it against",
               client_auth_names[wc->client_auth]);
    if (wc->min_version > wc->max_version)
        werror(p, none, "tls_server_config.min_version", "%s is above max_version %s (line %d)",
               tls_versions[wc->min_version].name, tls_versions[wc->max_version].name, p->min_line);
    if (wc->tls && build_priorities(p) != 0)
        werror(p, none, "tls_server_config", "cipher settings too long");
}

struct webconfig *webconfig_parse(const unsigned char *buf, size_t len, const char *name,
                                  FILE *errors)
{
    struct wparse p = {.file = name ? name : "(web config)", .errors = errors};
    yaml_parser_t parser;
    yaml_document_t doc;
    bool parser_ok = false, doc_ok = false;
    struct webconfig *out = NULL;

    p.wc = calloc(1, sizeof(*p.wc));
    if (p.wc == NULL || (p.wc->file = dup_n(p.file, strlen(p.file))) == NULL) {
        werror(&p, NULL, NULL, "out of memory");
        goto out;
    }
    p.wc->min_version = WEBCONFIG_TLS12; /* exporter-toolkit's default */
    p.wc->max_version = WEBCONFIG_TLS13;
    if (len > WEBCONFIG_FILE_MAX) {
        werror(&p, NULL, NULL, "larger than %u bytes", WEBCONFIG_FILE_MAX);
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        werror(&p, NULL, NULL, "out of memory");
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_string(&parser, buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        p.nerrors++;
        if (errors != NULL)
            fprintf(errors, "%s:%lu: invalid YAML: %s%s%s\n", p.file,
                    (unsigned long)parser.problem_mark.line + 1,
                    parser.problem ? parser.problem : "error", parser.context ? " " : "",
                    parser.context ? parser.context : "");
        goto out;
    }
    doc_ok = true;
    p.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && !is_null(root))
        walk_mapping(&p, root, NULL, top_keys, ARRAY_LEN(top_keys));
    finish(&p);
    if (p.nerrors == 0) {
        out = p.wc;
        p.wc = NULL;
    }
out:
    if (doc_ok)
        yaml_document_delete(&doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    if (p.nerrors > WEBCONFIG_MAX_ERRORS && errors != NULL)
        fprintf(errors, "%s: %d errors in all\n", p.file, p.nerrors);
    webconfig_free(p.wc);
    return out;
}

/* ---- files -------------------------------------------------------------------------------- */

/* The whole file at path, NUL-terminated, at most max bytes. NULL with the reason in why. */
static char *read_file(const char *path, size_t max, size_t *len, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char *data = NULL;
    struct stat st;
    size_t n = 0;

    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(why, whylen, "%s is larger than %zu bytes", path, max);
        goto out;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, data + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(why, whylen, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "short");
            free(data);
            data = NULL;
            goto out;
        }
        n += (size_t)r;
    }
    data[n] = '\0';
    *len = n;
out:
    close(fd);
    return data;
}

/* Reads the PEM files and lets GnuTLS check them: the key matches the certificate, the CA file
 * holds at least one certificate, the priority string is one GnuTLS takes. */
static void load_pem(struct wparse *p)
{
    struct webconfig *wc = p->wc;
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_priority_t prio = NULL;
    const char *err_pos = NULL;
    size_t clen = 0, klen = 0, alen = 0;
    char why[512];
    int rc;

    if (!wc->tls)
        return;
    wc->cert_pem = read_file(wc->cert_file, WEBCONFIG_PEM_MAX, &clen, why, sizeof(why));
    if (wc->cert_pem == NULL)
        werror(p, NULL, "tls_server_config.cert_file", "%s", why);
    wc->key_pem = read_file(wc->key_file, WEBCONFIG_PEM_MAX, &klen, why, sizeof(why));
    if (wc->key_pem == NULL)
        werror(p, NULL, "tls_server_config.key_file", "%s", why);
    if (wc->client_ca_file != NULL) {
        wc->ca_pem = read_file(wc->client_ca_file, WEBCONFIG_PEM_MAX, &alen, why, sizeof(why));
        if (wc->ca_pem == NULL)
            werror(p, NULL, "tls_server_config.client_ca_file", "%s", why);
    }
    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        werror(p, NULL, NULL, "out of memory");
        return;
    }
    if (wc->cert_pem != NULL && wc->key_pem != NULL) {
        gnutls_datum_t c = {(unsigned char *)wc->cert_pem, (unsigned)clen};
        gnutls_datum_t k = {(unsigned char *)wc->key_pem, (unsigned)klen};
        rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (rc < 0)
            werror(p, NULL, "tls_server_config.key_file",
                   "%s and %s are not a PEM certificate and its unencrypted key: %s", wc->cert_file,
                   wc->key_file, gnutls_strerror(rc));
    }
    if (wc->ca_pem != NULL) {
        gnutls_datum_t a = {(unsigned char *)wc->ca_pem, (unsigned)alen};
        rc = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
        if (rc <= 0)
            werror(p, NULL, "tls_server_config.client_ca_file", "%s holds no PEM certificate%s%s",
                   wc->client_ca_file, rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
    }
    gnutls_certificate_free_credentials(cred);
    rc = gnutls_priority_init(&prio, wc->priorities, &err_pos);
    if (rc < 0)
        werror(p, NULL, "tls_server_config",
               "GnuTLS refuses these versions and ciphers (\"%s\", at \"%.20s\"): %s",
               wc->priorities, err_pos ? err_pos : "", gnutls_strerror(rc));
    else
        gnutls_priority_deinit(prio);
}

struct webconfig *webconfig_load(const char *path, FILE *errors)
{
    struct wparse p = {.file = path, .errors = errors};
    size_t len = 0;
    char why[512];
    char *text;

    if (path == NULL)
        return NULL;
    text = read_file(path, WEBCONFIG_FILE_MAX, &len, why, sizeof(why));
    if (text == NULL) {
        if (errors != NULL)
            fprintf(errors, "%s: %s\n", path, why);
        return NULL;
    }
    p.wc = webconfig_parse((const unsigned char *)text, len, path, errors);
    free(text);
    if (p.wc == NULL)
        return NULL;
    load_pem(&p);
    if (p.nerrors > 0) {
        webconfig_free(p.wc);
        return NULL;
    }
    return p.wc;
}

void webconfig_free(struct webconfig *wc)
{
    if (wc == NULL)
        return;
    free(wc->file);
    free(wc->cert_file);
    free(wc->key_file);
    free(wc->client_ca_file);
    free(wc->cert_pem);
    if (wc->key_pem != NULL) {
        explicit_bzero(wc->key_pem, strlen(wc->key_pem));
        free(wc->key_pem);
    }
    free(wc->ca_pem);
    for (size_t i = 0; i < wc->nheaders; i++)
        free(wc->headers[i].value);
    for (size_t i = 0; i < wc->nusers; i++)
        free(wc->users[i].name);
    free(wc->users);
    free(wc);
}
