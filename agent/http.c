/*
 * http.c: /metrics, /healthz and a landing page on libmicrohttpd.
 *
 * libmicrohttpd's connection timeout defaults to none, so one idle client could hold a
 * connection forever: both a timeout and a connection limit are set. Responses are small and
 * built whole before they are queued.
 *
 * With a web configuration file (webconfig.h) the server speaks TLS through libmicrohttpd's
 * GnuTLS and asks for basic auth on every path. A reload (certificate rotation) starts a new
 * daemon on the same listening socket (MHD_quiesce_daemon hands it over, so no connection is
 * refused meanwhile) and stops the old one; each daemon has its own struct http_server, so a
 * request the old one is still answering sees the old configuration whole.
 */
#include "http.h"

#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "buf.h"
#include "clock.h"
#include "expo.h"
#include "httpauth.h"
#include "log.h"

#define HTTP_CONNECTION_LIMIT 64
#define HTTP_CONNECTION_TIMEOUT_S 10
/* The exposition for thousands of databases is a few megabytes; past this, something is wrong
 * and the scrape fails with 500 rather than eating memory. */
#define HTTP_BODY_MAX (64u << 20)

#define HTTP_AUTH_REALM "sqlite-agent"
#define HTTP_OPTIONS_MAX 8 /* the options that differ between daemons: listen, TLS */
/* On reload, how long the old daemon may finish the requests it has before it is stopped (its
 * idle keep-alive connections are then closed; clients open new ones). */
#define HTTP_DRAIN_MS 2000
#define HTTP_DRAIN_POLL_MS 10

/* One libmicrohttpd daemon and what it serves with. */
struct http_server {
    struct http *http;
    struct MHD_Daemon *daemon;
    struct webconfig *wc;  /* owned; NULL: plain HTTP, no auth */
    struct httpauth *auth; /* NULL without basic_auth_users */
};

struct http {
    struct http_server *srv;
    struct state *state;
    struct expo *expo; /* the rendered exposition to serve; NULL: render per scrape */
    const struct build_info *bi;
    unsigned flags; /* for the daemon a reload starts */
};

static const char landing_page[] =
    "<!DOCTYPE html>\n<html><head><title>sqlite-agent</title></head><body>\n"
    "<h1>sqlite-agent</h1>\n<p>Watches SQLite database files, read-only.</p>\n"
    "<ul><li><a href=\"metrics\">metrics</a></li><li><a href=\"healthz\">healthz</a></li></ul>\n"
    "</body></html>\n";

/* Skips optional whitespace. */
static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses ";q=VALUE" parameters of one coding; returns false when q is zero. */
static bool q_nonzero(const char *p, const char *end)
{
    while (p < end) {
        p = skip_ows(p);
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            double q = strtod(p + 2, NULL);
            return q > 0.0;
        }
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (semi == NULL)
            break;
        p = semi + 1;
    }
    return true;
}

bool http_accepts_gzip(const char *value)
{
    const char *p = value;

    if (p == NULL)
        return false;
    while (*p) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *tok = skip_ows(p);
        size_t n = 0;
        while (tok + n < end && tok[n] != ';' && tok[n] != ' ' && tok[n] != '\t')
            n++;
        bool match = (n == 4 && strncasecmp(tok, "gzip", 4) == 0) || (n == 1 && tok[0] == '*');
        if (match) {
            const char *semi = memchr(tok, ';', (size_t)(end - tok));
            if (semi == NULL || q_nonzero(semi + 1, end))
                return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

/* gzip (RFC 1952) of in, in a malloc'ed block the caller frees. NULL on failure. */
static void *gzip_body(const char *in, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: a gzip wrapper instead of zlib's; level 1: scrapes are frequent and the text is
     * repetitive enough that the fastest level already shrinks it several times. */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, len);
    unsigned char *out = malloc(cap);
    if (out == NULL) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void add_config_headers(const struct http_server *srv, struct MHD_Response *r)
{
    for (size_t i = 0; srv->wc != NULL && i < srv->wc->nheaders; i++)
        MHD_add_response_header(r, srv->wc->headers[i].name, srv->wc->headers[i].value);
}

static enum MHD_Result queue(const struct http_server *srv, struct MHD_Connection *conn,
                             unsigned status, struct MHD_Response *r)
{
    if (r == NULL)
        return MHD_NO;
    add_config_headers(srv, r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(const struct http_server *srv, struct MHD_Connection *conn,
                                   unsigned status, const char *type, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return queue(srv, conn, status, r);
}

/* The exposition expo.c rendered last: a copy of its gzip, or its text. False when there is
 * none yet (the caller renders); else true, and *ret is what to return. */
static bool send_rendered(const struct http_server *srv, struct MHD_Connection *conn,
                          enum MHD_Result *ret)
{
    struct http *h = srv->http;
    const char *ae =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    bool gzip = http_accepts_gzip(ae);
    void *body;
    size_t len;

    if (h->expo == NULL || expo_copy(h->expo, gzip, &body, &len) != 0)
        return false;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        *ret = MHD_NO;
        return true;
    }
    if (gzip)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    state_scrape_served(h->state);
    *ret = queue(srv, conn, MHD_HTTP_OK, r);
    return true;
}

static enum MHD_Result send_metrics(const struct http_server *srv, struct MHD_Connection *conn)
{
    struct http *h = srv->http;
    enum MHD_Result ret;

    if (send_rendered(srv, conn, &ret))
        return ret;
    double t0 = clock_mono_s();
    struct snapshot *snap = state_snapshot(h->state, clock_wall_ms());
    struct buf body;
    struct MHD_Response *r = NULL;

    buf_init(&body, HTTP_BODY_MAX);
    if (snap == NULL || metrics_render(snap, h->bi, snap->taken_ms, &body) != 0) {
        snapshot_free(snap);
        buf_free(&body);
        log_error("cannot render metrics", NULL);
        return send_static(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
                           "render failed\n");
    }
    snapshot_free(snap);

    const char *ae =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    size_t zlen = 0;
    void *z = http_accepts_gzip(ae) ? gzip_body(body.data, body.len, &zlen) : NULL;
    if (z != NULL) {
        r = MHD_create_response_from_buffer(zlen, z, MHD_RESPMEM_MUST_FREE);
        if (r == NULL)
            free(z);
        else
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
        buf_free(&body);
    } else {
        r = MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_FREE);
        if (r == NULL)
            buf_free(&body);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    state_scrape_done(h->state, clock_mono_s() - t0);
    return queue(srv, conn, MHD_HTTP_OK, r);
}

/* The web config's gate: a TLS client certificate, then basic auth. False when the request
 * must not go on; *ret is then what to return (MHD_NO drops the connection unanswered, as a
 * TLS server that requires a client certificate would at the handshake). */
static bool request_allowed(const struct http_server *srv, struct MHD_Connection *conn,
                            enum MHD_Result *ret)
{
    if (srv->wc == NULL)
        return true;
    if (srv->wc->tls) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!httpauth_client_cert_ok(srv->wc, ci ? ci->tls_session : NULL)) {
            state_http_denied(srv->http->state, true);
            *ret = MHD_NO;
            return false;
        }
    }
    if (srv->auth == NULL)
        return true;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(conn, &pass);
    bool ok =
        user != NULL && pass != NULL && httpauth_check_basic(srv->auth, user, pass, strlen(pass));
    if (pass != NULL) {
        explicit_bzero(pass, strlen(pass));
        MHD_free(pass);
    }
    MHD_free(user);
    if (ok)
        return true;
    state_http_denied(srv->http->state, false);
    static const char body[] = "unauthorized\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    *ret = MHD_NO;
    if (r != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
        add_config_headers(srv, r);
        *ret = MHD_queue_basic_auth_fail_response(conn, HTTP_AUTH_REALM, r);
        MHD_destroy_response(r);
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    const struct http_server *srv = cls;
    enum MHD_Result denied;
    (void)version;
    (void)upload_data;
    (void)req_cls;

    if (!request_allowed(srv, conn, &denied))
        return denied;
    bool known =
        strcmp(url, "/") == 0 || strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0;
    if (!known)
        return send_static(srv, conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        *upload_data_size = 0; /* ignore any body */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen("method not allowed\n"), (void *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
        if (r == NULL)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
        return queue(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    }
    if (strcmp(url, "/metrics") == 0)
        return send_metrics(srv, conn);
    if (strcmp(url, "/healthz") == 0)
        return send_static(srv, conn, MHD_HTTP_OK, "text/plain", "ok\n");
    return send_static(srv, conn, MHD_HTTP_OK, "text/html; charset=utf-8", landing_page);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("http server", "detail", msg, NULL);
}

static void server_free(struct http_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->daemon != NULL)
        MHD_stop_daemon(srv->daemon);
    httpauth_free(srv->auth);
    webconfig_free(srv->wc);
    free(srv);
}

/* The TLS options of wc (MHD_USE_TLS goes in *flags); returns how many were written. */
static size_t tls_options(const struct webconfig *wc, unsigned *flags, struct MHD_OptionItem *o)
{
    size_t n = 0;

    if (wc == NULL || !wc->tls)
        return 0;
    *flags |= MHD_USE_TLS;
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, wc->cert_pem};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, wc->key_pem};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)wc->priorities};
    if (wc->ca_pem != NULL) /* libmicrohttpd then asks the client for a certificate */
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, wc->ca_pem};
    return n;
}

/* A new daemon for h serving with wc (taken, also on failure), listening on sa, or on the
 * socket fd when sa is NULL. NULL on failure, logged by libmicrohttpd. */
static struct http_server *server_start(struct http *h, struct webconfig *wc,
                                        const struct sockaddr *sa, MHD_socket fd, uint16_t port)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    struct MHD_OptionItem opts[HTTP_OPTIONS_MAX];
    unsigned flags = h->flags;
    size_t n = 0;

    if (srv == NULL) {
        webconfig_free(wc);
        return NULL;
    }
    srv->http = h;
    srv->wc = wc;
    if (wc != NULL && wc->nusers > 0 && (srv->auth = httpauth_new(wc)) == NULL) {
        server_free(srv);
        return NULL;
    }
    if (sa != NULL)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)sa};
    else
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL};
    n += tls_options(wc, &flags, opts + n);
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    srv->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, srv,
        /* First, so that it also receives messages about the options after it. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_ARRAY, opts,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        server_free(srv);
        return NULL;
    }
    return srv;
}

struct http *http_start(const char *host, uint16_t port, struct state *st,
                        const struct build_info *bi, struct webconfig *wc)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[8];
    struct http *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        webconfig_free(wc);
        return NULL;
    }
    h->state = st;
    h->bi = bi;
    snprintf(service, sizeof(service), "%u", port);
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        log_error("cannot resolve listen address", "host", host, "error", gai_strerror(rc), NULL);
        webconfig_free(wc);
        free(h);
        return NULL;
    }
    /* MHD_USE_ITC: MHD_quiesce_daemon needs it with an internal polling thread. */
    h->flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        h->flags |= MHD_USE_IPv6;
    h->srv = server_start(h, wc, ai->ai_addr, MHD_INVALID_SOCKET, port);
    freeaddrinfo(ai);
    if (h->srv == NULL) {
        log_error("cannot listen", "host", host, "port", service, NULL);
        free(h);
        return NULL;
    }
    return h;
}

/* Waits (bounded) for a quiesced daemon's connections to end, so that a scrape under way
 * during a reload is answered rather than cut. */
static void drain(struct MHD_Daemon *d)
{
    struct timespec pause = {0, HTTP_DRAIN_POLL_MS * 1000000L};

    for (int64_t end = clock_mono_ms() + HTTP_DRAIN_MS; clock_mono_ms() < end;) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (info == NULL || info->num_connections == 0)
            return;
        nanosleep(&pause, NULL);
    }
}

int http_reload(struct http *h, struct webconfig *wc)
{
    struct http_server *old = h->srv, *srv;
    MHD_socket fd = MHD_quiesce_daemon(old->daemon);

    if (fd == MHD_INVALID_SOCKET) {
        log_error("cannot hand the listening socket to a new server; keeping the old one", NULL);
        webconfig_free(wc);
        return -1;
    }
    srv = server_start(h, wc, NULL, fd, 0);
    if (srv == NULL) {
        /* The old configuration worked on this socket a moment ago: serve it again. */
        log_error("cannot start the server with the new web config; keeping the old one", NULL);
        srv = server_start(h, old->wc, NULL, fd, 0);
        old->wc = NULL;
        if (srv == NULL) {
            log_error("cannot restart the server either", NULL);
            exit(EXIT_FAILURE);
        }
        server_free(old);
        h->srv = srv;
        return -1;
    }
    drain(old->daemon);
    server_free(old); /* its daemon was quiesced: stopping it leaves the socket open */
    h->srv = srv;
    return 0;
}

void http_stop(struct http *h)
{
    if (h == NULL)
        return;
    server_free(h->srv);
    free(h);
}

void http_set_expo(struct http *h, struct expo *e)
{
    h->expo = e;
}
