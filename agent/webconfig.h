/*
 * webconfig.h: the Prometheus exporter-toolkit web configuration file ("--web.config.file" of
 * node_exporter and every other exporter; `promtool check web-config` validates it): TLS, HTTP
 * response headers and basic-auth users, in YAML.
 *
 *   tls_server_config:
 *     cert_file: /etc/sqlite-agent/tls.crt
 *     key_file: /etc/sqlite-agent/tls.key
 *     client_auth_type: RequireAndVerifyClientCert
 *     client_ca_file: /etc/sqlite-agent/clients-ca.crt
 *     min_version: TLS12
 *   http_server_config:
 *     headers:
 *       X-Frame-Options: deny
 *   basic_auth_users:
 *     prometheus: $2y$10$...
 *
 * The format is exporter-toolkit's web/tls_config.go (Config, TLSConfig, HTTPConfig) and
 * web/handler.go (the headers it lets one set); docs/webconfig.md says what GnuTLS does of
 * each key. webconfig_parse() reads the YAML into paths and names, no I/O; webconfig_load()
 * also reads the PEM files and checks them (certificate and key match, CA parses, GnuTLS takes
 * the priority string), so a bad file is refused at --check-config, not at the first
 * handshake. Both report every problem, one line each, "FILE:LINE: KEY: reason".
 */
#ifndef SQLITE_AGENT_WEBCONFIG_H
#define SQLITE_AGENT_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define WEBCONFIG_FILE_MAX (64u << 10) /* bytes of YAML: a real file is well under 4 KiB */
#define WEBCONFIG_PEM_MAX (1u << 20)   /* bytes of one PEM file: a CA bundle is ~200 KiB */
#define WEBCONFIG_USERS_MAX 256
#define WEBCONFIG_NAME_MAX 256 /* bytes of a user name (and of its password when checked) */
#define WEBCONFIG_HEADERS_MAX 8
#define WEBCONFIG_HEADER_VALUE_MAX 1024
#define WEBCONFIG_CIPHERS_MAX 32
#define WEBCONFIG_CURVES_MAX 8
#define WEBCONFIG_PRIORITIES_MAX 1024 /* the GnuTLS priority string built from the file */
#define WEBCONFIG_BCRYPT_LEN 60       /* "$2b$10$" + 22 salt + 31 hash characters */

/* exporter-toolkit's client_auth_type values (Go's tls.ClientAuthType names). */
enum webconfig_client_auth {
    WEBCONFIG_NO_CLIENT_CERT = 0,
    WEBCONFIG_REQUEST_CLIENT_CERT,
    WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,
    WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,
    WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

/* TLS versions, in order; exporter-toolkit spells them TLS10 .. TLS13. */
enum webconfig_tls_version {
    WEBCONFIG_TLS10 = 1,
    WEBCONFIG_TLS11,
    WEBCONFIG_TLS12,
    WEBCONFIG_TLS13
};

struct webconfig_user {
    char *name;
    char hash[WEBCONFIG_BCRYPT_LEN + 1];
};

struct webconfig_header {
    const char *name; /* one of the names exporter-toolkit allows (static) */
    char *value;
};

struct webconfig {
    char *file; /* the file it was loaded from, for messages */
    /* tls_server_config; tls is false when neither cert_file nor key_file is set (as in
     * exporter-toolkit: then the server speaks plain HTTP). Paths are resolved against the
     * file's directory, as exporter-toolkit does. */
    bool tls;
    char *cert_file, *key_file, *client_ca_file;
    enum webconfig_client_auth client_auth;
    enum webconfig_tls_version min_version, max_version;
    bool prefer_server_cipher_suites;
    char priorities[WEBCONFIG_PRIORITIES_MAX]; /* for MHD_OPTION_HTTPS_PRIORITIES */
    /* Filled by webconfig_load(): the PEM text, NUL-terminated, as libmicrohttpd takes it. */
    char *cert_pem, *key_pem, *ca_pem;
    /* http_server_config.headers: added to every response. */
    size_t nheaders;
    struct webconfig_header headers[WEBCONFIG_HEADERS_MAX];
    /* basic_auth_users: when any, every request needs one of them. */
    size_t nusers;
    struct webconfig_user *users;
};

/* Parses YAML text (len bytes; need not be NUL-terminated) named name in messages. Returns a
 * new webconfig with no PEM loaded, or NULL after writing every problem to errors. */
struct webconfig *webconfig_parse(const unsigned char *buf, size_t len, const char *name,
                                  FILE *errors);

/* Reads and parses the file at path, then reads and checks the PEM files it names. NULL after
 * writing every problem to errors. */
struct webconfig *webconfig_load(const char *path, FILE *errors);

void webconfig_free(struct webconfig *wc); /* accepts NULL */

/* True when s (len bytes) is a bcrypt hash crypt(3) verifies: $2a$, $2b$ or $2y$, a two-digit
 * cost from 04 to 31, 53 characters of bcrypt's base64. Pure. */
bool webconfig_is_bcrypt(const char *s, size_t len);

/* "NoClientCert", ...: exporter-toolkit's spelling. */
const char *webconfig_client_auth_str(enum webconfig_client_auth a);

#endif
