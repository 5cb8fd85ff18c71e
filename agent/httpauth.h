/*
 * httpauth.h: who may talk to the HTTP server, from the web configuration file: basic-auth
 * users (bcrypt through libcrypt's crypt_r) and TLS client certificates (GnuTLS).
 *
 * bcrypt costs tens of milliseconds by design, and Prometheus sends the same user and password
 * with every scrape, so a successful check is remembered: the SHA-256 of (user, password, the
 * user's hash) goes into a small cache, and a request whose digest is there is let in without
 * bcrypt. Only digests are kept, never a password; failures are never cached (each one pays
 * bcrypt, which is what slows a guesser down). Comparisons run in constant time.
 */
#ifndef SQLITE_AGENT_HTTPAUTH_H
#define SQLITE_AGENT_HTTPAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "webconfig.h"

#define HTTPAUTH_CACHE_MAX 64 /* remembered (user, password) pairs; the oldest makes room */
#define HTTPAUTH_DIGEST_LEN 32

struct httpauth;

/* wc must outlive it. NULL when out of memory. */
struct httpauth *httpauth_new(const struct webconfig *wc);
void httpauth_free(struct httpauth *a); /* accepts NULL */

/* True when user and password (pass_len bytes: a password may hold any byte) are those of a
 * basic_auth_users entry. Thread-safe. */
bool httpauth_check_basic(struct httpauth *a, const char *user, const char *pass, size_t pass_len);

/* How many checks paid bcrypt, and how many the cache answered: for tests and the bench. */
void httpauth_counts(struct httpauth *a, uint64_t *bcrypt_runs, uint64_t *cache_hits);

/* Constant-time equality of n bytes. */
bool httpauth_equal(const void *a, const void *b, size_t n);

/* The client certificate verdict for a TLS session (a gnutls_session_t) under wc's
 * client_auth_type: true when the request may go on. */
bool httpauth_client_cert_ok(const struct webconfig *wc, void *gnutls_session);

#endif
