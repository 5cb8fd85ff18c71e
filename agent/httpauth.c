/*
 * httpauth.c: basic auth against bcrypt hashes with a cache of successes, and the TLS client
 * certificate verdict (see httpauth.h).
 */
#include "httpauth.h"

#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Checked against when the user does not exist, so that an unknown user takes as long as a
 * wrong password (exporter-toolkit does the same): a bcrypt hash of a fixed phrase, cost 10,
 * the cost `htpasswd -B` and the docs use. */
static const char dummy_hash[] = "$2b$10$V5I7FNXBOhD1KKqRJDxyp.XpI3EEaOTHN8WJVjLOABmtTwB5t90EG";

struct cache_entry {
    bool used;
    unsigned char digest[HTTPAUTH_DIGEST_LEN];
};

struct httpauth {
    const struct webconfig *wc;
    pthread_mutex_t lock; /* the cache and the counts; never held across bcrypt */
    struct cache_entry cache[HTTPAUTH_CACHE_MAX];
    size_t next; /* the slot the next success goes to: the oldest */
    uint64_t bcrypt_runs, cache_hits;
};

struct httpauth *httpauth_new(const struct webconfig *wc)
{
    struct httpauth *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->wc = wc;
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void httpauth_free(struct httpauth *a)
{
    if (a == NULL)
        return;
    pthread_mutex_destroy(&a->lock);
    explicit_bzero(a->cache, sizeof(a->cache));
    free(a);
}

bool httpauth_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;

    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

/* SHA-256 over user, NUL, password, NUL, hash: the hash in it means a user whose hash changed
 * on reload never matches an old entry (each reload also starts a new cache). */
static int pair_digest(const char *user, const char *pass, size_t pass_len, const char *hash,
                       unsigned char out[HTTPAUTH_DIGEST_LEN])
{
    gnutls_hash_hd_t h;

    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return -1;
    gnutls_hash(h, user, strlen(user) + 1);
    gnutls_hash(h, pass, pass_len);
    gnutls_hash(h, "", 1);
    gnutls_hash(h, hash, strlen(hash));
    gnutls_hash_deinit(h, out);
    return 0;
}

/* Looks at every slot whatever it finds, so the time does not tell which one matched. */
static bool cache_has(struct httpauth *a, const unsigned char *digest)
{
    bool hit = false;

    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < HTTPAUTH_CACHE_MAX; i++)
        hit |= a->cache[i].used & httpauth_equal(a->cache[i].digest, digest, HTTPAUTH_DIGEST_LEN);
    if (hit)
        a->cache_hits++;
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void cache_put(struct httpauth *a, const unsigned char *digest)
{
    pthread_mutex_lock(&a->lock);
    a->cache[a->next].used = true;
    memcpy(a->cache[a->next].digest, digest, HTTPAUTH_DIGEST_LEN);
    a->next = (a->next + 1) % HTTPAUTH_CACHE_MAX;
    pthread_mutex_unlock(&a->lock);
}

/* bcrypt of pass under hash's salt and cost, compared with hash. crypt_r wants a NUL-terminated
 * phrase; a password with a NUL byte in it cannot match (crypt(3) would cut it). */
static bool bcrypt_matches(struct httpauth *a, const char *pass, size_t pass_len, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd)); /* 32 KiB: not on the HTTP thread's stack */
    char phrase[WEBCONFIG_NAME_MAX + 1];
    bool ok = false;

    pthread_mutex_lock(&a->lock);
    a->bcrypt_runs++;
    pthread_mutex_unlock(&a->lock);
    if (cd == NULL || pass_len > WEBCONFIG_NAME_MAX || memchr(pass, '\0', pass_len) != NULL)
        goto out;
    memcpy(phrase, pass, pass_len);
    phrase[pass_len] = '\0';
    const char *out = crypt_r(phrase, hash, cd);
    ok = out != NULL && strlen(out) == WEBCONFIG_BCRYPT_LEN &&
         httpauth_equal(out, hash, WEBCONFIG_BCRYPT_LEN);
out:
    explicit_bzero(phrase, sizeof(phrase));
    free(cd);
    return ok;
}

bool httpauth_check_basic(struct httpauth *a, const char *user, const char *pass, size_t pass_len)
{
    const struct webconfig_user *u = NULL;
    unsigned char digest[HTTPAUTH_DIGEST_LEN];

    if (a == NULL || user == NULL || pass == NULL)
        return false;
    for (size_t i = 0; i < a->wc->nusers && u == NULL; i++) {
        if (strcmp(a->wc->users[i].name, user) == 0)
            u = &a->wc->users[i];
    }
    if (u == NULL) {
        bcrypt_matches(a, pass, pass_len, dummy_hash);
        return false;
    }
    if (pair_digest(user, pass, pass_len, u->hash, digest) != 0)
        return bcrypt_matches(a, pass, pass_len, u->hash);
    if (cache_has(a, digest))
        return true;
    if (!bcrypt_matches(a, pass, pass_len, u->hash))
        return false;
    cache_put(a, digest);
    return true;
}

void httpauth_counts(struct httpauth *a, uint64_t *bcrypt_runs, uint64_t *cache_hits)
{
    pthread_mutex_lock(&a->lock);
    *bcrypt_runs = a->bcrypt_runs;
    *cache_hits = a->cache_hits;
    pthread_mutex_unlock(&a->lock);
}

/*
 * Go's tls.ClientAuthType, after the handshake (libmicrohttpd lets GnuTLS only request a
 * certificate; see webconfig.c): RequestClientCert takes any or none, RequireAnyClientCert
 * needs one, VerifyClientCertIfGiven checks one if sent, RequireAndVerifyClientCert needs one
 * that the client CA signed. gnutls_certificate_verify_peers2 checks the chain against the
 * trust store libmicrohttpd loaded from MHD_OPTION_HTTPS_MEM_TRUST, and the validity dates.
 */
bool httpauth_client_cert_ok(const struct webconfig *wc, void *gnutls_session)
{
    gnutls_session_t s = gnutls_session;
    unsigned int n = 0, status = 0;
    bool given;

    if (wc == NULL || !wc->tls || wc->client_auth == WEBCONFIG_NO_CLIENT_CERT ||
        wc->client_auth == WEBCONFIG_REQUEST_CLIENT_CERT)
        return true;
    if (s == NULL)
        return false;
    given = gnutls_certificate_get_peers(s, &n) != NULL && n > 0;
    if (!given)
        return wc->client_auth == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN;
    if (wc->client_auth == WEBCONFIG_REQUIRE_ANY_CLIENT_CERT)
        return true;
    return gnutls_certificate_verify_peers2(s, &status) == GNUTLS_E_SUCCESS && status == 0;
}
