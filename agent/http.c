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
 *
 * Responses are small and built whole before they are queued. What a local client could do to
 * take /metrics away from Prometheus, and what stops it:
 *
 * - Hold every connection slot. libmicrohttpd's connection timeout defaults to none and, when
 *   set, counts idle time only: one header line every 8 s kept a connection open for ever. So
 *   a whole request has a deadline (HTTP_REQUEST_DEADLINE_S, from the connection's start or the
 *   end of its previous request to the end of the response), enforced by a small sweeper
 *   thread that shuts the socket down (shutdown(2), not close: libmicrohttpd owns the
 *   descriptor, sees the end of the stream and closes the connection itself); while every
 *   slot is taken the deadline is HTTP_FULL_DEADLINE_S. A connection whose client hung up
 *   mid-request is shut down at once. And one address gets at most HTTP_PER_IP_LIMIT of the
 *   HTTP_CONNECTION_LIMIT slots.
 * - Flood the log. Every message of libmicrohttpd goes through log_msg_as() under its format
 *   string as the cause, so a repeated one is rate limited (log.h).
 * - Exhaust descriptors (or meet an agent that did). With none left and no connection open,
 *   libmicrohttpd 0.9.75 retries accept(2) in a busy loop, logging two lines each time
 *   (daemon.c, MHD_accept_connection: "Hit process or system resource limit at FIRST
 *   connection ... Will try busy waiting"): 815,128 lines/s were seen. Its logger is called in
 *   that loop, from its own thread, so that is where the loop is broken: the first time, the
 *   reserve descriptor kept for this is given up so the next accept can succeed and be served;
 *   when there is no reserve left, the logger sleeps HTTP_EMFILE_BACKOFF_MS. The sweeper takes
 *   the reserve back once a descriptor is free. With some connections open libmicrohttpd
 *   stops accepting by itself until one closes (at_limit), so nothing is needed there.
 */
#include "http.h"

#include <stdatomic.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "clock.h"
#include "expo.h"
#include "httpauth.h"
#include "log.h"

#define HTTP_CONNECTION_LIMIT 64
/* Below the global limit, so that one address (a local user, a stuck client) cannot take all
 * of them; Prometheus needs one per scraping server. */
#define HTTP_PER_IP_LIMIT 16
#define HTTP_CONNECTION_TIMEOUT_S 10 /* idle: libmicrohttpd's own */
/* A whole request, from connection start or the end of the previous request on it to the end
 * of its response. Prometheus's default scrape_timeout is 10 s: a scrape that takes longer has
 * failed there already. */
#define HTTP_REQUEST_DEADLINE_S 10
/* While every slot is taken, a connection gets this long instead: a real scrape is answered
 * in milliseconds, so what holds a slot that long while others wait (in the listen queue,
 * unseen) is idle or slow, and gives way. 64 slow connections from 4 addresses otherwise kept
 * every scrape waiting for the full deadline, again and again. */
#define HTTP_FULL_DEADLINE_S 1
#define HTTP_SWEEP_INTERVAL_MS 100
/* A connection whose client has hung up before its request was complete is shut down once it
 * is this old. libmicrohttpd 0.9.75 noticed such a hang-up only at the idle timeout when the
 * partial request and the FIN were already queued when it accepted the connection (strace:
 * 64 accepts every 10 s, each batch closed by the timeout); after 500 slow connections closed,
 * the next scrape waited 60 s in the listen queue. The grace lets a client that half-closes
 * after a whole request (legal, rare) have it read first. */
#define HTTP_HANGUP_GRACE_S 0.2
#define HTTP_EMFILE_BACKOFF_MS 100
/* The exposition for thousands of databases is a few megabytes; past this, something is wrong
 * and the scrape fails with 500 rather than eating memory. */
#define HTTP_BODY_MAX (64u << 20)

#define HTTP_AUTH_REALM "sqlite-agent"
#define HTTP_OPTIONS_MAX 8 /* the options that differ between daemons: listen, TLS */
/* On reload, how long the old daemon may finish the requests it has before it is stopped (its
 * idle keep-alive connections are then closed; clients open new ones). */
#define HTTP_DRAIN_MS 2000
#define HTTP_DRAIN_POLL_MS 10

/* One open connection, for the deadline. */
struct http_conn {
    struct MHD_Connection *conn; /* NULL: slot free */
    int fd;                      /* libmicrohttpd's; only shut down, never closed here */
    double start;                /* clock_mono_s() when its current request's time began */
    bool answering;              /* its request is complete and being answered */
    bool shut;                   /* shut down by the sweeper already */
};

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
    /* The rendered exposition to serve; NULL: render per scrape. Set by main's thread while
     * libmicrohttpd's already answers (http_set_expo), hence atomic. */
    _Atomic(struct expo *) expo;
    const struct build_info *bi;
    unsigned flags; /* for the daemon a reload starts */
    /* Between libmicrohttpd's thread (its callbacks) and the sweeper; held for a few
     * assignments or one shutdown(2), never across a request. Private to http.c. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    struct http_conn conns[HTTP_CONNECTION_LIMIT];
    int reserve_fd; /* -1: given up to accept(2), to be taken back */
    pthread_t sweeper;
    bool sweeper_started;
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

    struct expo *e = atomic_load(&h->expo);
    if (e == NULL || expo_copy(e, gzip, &body, &len) != 0)
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

/* libmicrohttpd's format for its busy retry of accept(2) with no descriptor left and no
 * connection open (0.9.75, daemon.c, MHD_accept_connection). */
static const char mhd_fd_exhausted[] = "Hit process or system resource limit at FIRST";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Called from libmicrohttpd's thread, in its accept loop among other places (see the top). */
static void on_fd_exhausted(struct http *h)
{
    int fd = -1;

    pthread_mutex_lock(&h->lock);
    fd = h->reserve_fd;
    h->reserve_fd = -1;
    pthread_mutex_unlock(&h->lock);
    if (fd >= 0)
        close(fd); /* /dev/null: no lock of any database lives on it */
    else
        sleep_ms(HTTP_EMFILE_BACKOFF_MS);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http *h = cls;
    char msg[256];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg_as(LOG_WARN, fmt, "http server", "detail", msg, NULL);
    if (h != NULL && strncmp(fmt, mhd_fd_exhausted, sizeof(mhd_fd_exhausted) - 1) == 0)
        on_fd_exhausted(h);
}

static struct http_conn *conn_find(struct http *h, const struct MHD_Connection *conn)
{
    for (size_t i = 0; i < HTTP_CONNECTION_LIMIT; i++)
        if (h->conns[i].conn == conn)
            return &h->conns[i];
    return NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection starts or is closed. libmicrohttpd calls CLOSED
 * before it closes the descriptor (daemon.c, MHD_cleanup_connections), so under h->lock a
 * descriptor in conns[] is always still that connection's. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http *h = cls;
    (void)socket_context;

    pthread_mutex_lock(&h->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct http_conn *c = conn_find(h, NULL);
        /* libmicrohttpd admits at most HTTP_CONNECTION_LIMIT, so a slot is free. */
        if (c != NULL && ci != NULL)
            *c = (struct http_conn){conn, ci->connect_fd, clock_mono_s(), false, false};
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct http_conn *c = conn_find(h, conn);
        if (c != NULL)
            c->conn = NULL;
    }
    pthread_mutex_unlock(&h->lock);
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request was answered; the next one's time starts now. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http *h = cls;
    (void)req_cls;
    (void)toe;

    pthread_mutex_lock(&h->lock);
    struct http_conn *c = conn_find(h, conn);
    if (c != NULL) {
        c->start = clock_mono_s();
        c->answering = false;
    }
    pthread_mutex_unlock(&h->lock);
}

/* The access handler runs once the request's headers are complete. */
static void mark_answering(struct http *h, const struct MHD_Connection *conn)
{
    pthread_mutex_lock(&h->lock);
    struct http_conn *c = conn_find(h, conn);
    if (c != NULL)
        c->answering = true;
    pthread_mutex_unlock(&h->lock);
}

/* True when the client has closed its side (Linux: POLLRDHUP) or the socket failed. Looks
 * only; libmicrohttpd's descriptor is left as it is. */
static bool peer_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};

    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static size_t conns_open(const struct http *h)
{
    size_t n = 0;

    for (size_t i = 0; i < HTTP_CONNECTION_LIMIT; i++)
        n += h->conns[i].conn != NULL && !h->conns[i].shut;
    return n;
}

enum http_conn_verdict http_conn_judge(double age_s, bool answering, bool all_taken, bool hung_up)
{
    /* A request being answered keeps the whole deadline even when every slot is taken: a big
     * exposition to a distant Prometheus may take more than a second. */
    double deadline = all_taken && !answering ? HTTP_FULL_DEADLINE_S : HTTP_REQUEST_DEADLINE_S;

    if (age_s >= deadline)
        return HTTP_CONN_DEADLINE;
    if (!answering && hung_up && age_s >= HTTP_HANGUP_GRACE_S)
        return HTTP_CONN_HANGUP;
    return HTTP_CONN_KEEP;
}

/* Shuts down the connections past their deadline (returns how many) and those whose client
 * hung up mid-request (how many in *hangups). Under h->lock. */
static unsigned sweep(struct http *h, double now, unsigned *hangups)
{
    unsigned n = 0;
    bool full = conns_open(h) >= HTTP_CONNECTION_LIMIT;

    for (size_t i = 0; i < HTTP_CONNECTION_LIMIT; i++) {
        struct http_conn *c = &h->conns[i];
        if (c->conn == NULL || c->shut)
            continue;
        double age = now - c->start;
        /* poll(2) only when the answer can matter. */
        bool hung_up = !c->answering && age >= HTTP_HANGUP_GRACE_S && peer_hung_up(c->fd);
        enum http_conn_verdict v = http_conn_judge(age, c->answering, full, hung_up);
        if (v == HTTP_CONN_KEEP)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        c->shut = true;
        n += v == HTTP_CONN_DEADLINE;
        *hangups += v == HTTP_CONN_HANGUP;
    }
    return n;
}

static void *sweeper_main(void *arg)
{
    struct http *h = arg;
    struct timespec until;

    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        unsigned hangups = 0;
        unsigned n = sweep(h, clock_mono_s(), &hangups);
        if (h->reserve_fd < 0)
            h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (n > 0 || hangups > 0) {
            char count[16];
            snprintf(count, sizeof(count), "%u", n);
            /* Not under h->lock: the state's lock and the log's are never taken inside it. */
            pthread_mutex_unlock(&h->lock);
            state_http_closed(h->state, n, hangups);
            if (n > 0)
                log_warn("closed HTTP connections past the request deadline", "connections", count,
                         NULL);
            pthread_mutex_lock(&h->lock);
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += HTTP_SWEEP_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&h->wake, &h->lock, &until);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static int sync_init(struct http *h)
{
    pthread_condattr_t ca;

    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        pthread_cond_destroy(&h->wake);
        return -1;
    }
    return 0;
}

static void http_free(struct http *h)
{
    if (h == NULL)
        return;
    if (h->sweeper_started) {
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->sweeper, NULL);
    }
    if (h->reserve_fd >= 0)
        close(h->reserve_fd);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
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
    mark_answering(srv->http, conn);
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
    srv->daemon =
        MHD_start_daemon(flags, port, NULL, NULL, on_request, srv,
                         /* First, so that it also receives messages about the options after it. */
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_ARRAY, opts,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
                         MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
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
    if (sync_init(h) != 0) {
        webconfig_free(wc);
        free(h);
        return NULL;
    }
    h->state = st;
    h->bi = bi;
    /* Taken before the sampler opens anything, so it is there when descriptors run out. */
    h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    snprintf(service, sizeof(service), "%u", port);
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        log_error("cannot resolve listen address", "host", host, "error", gai_strerror(rc), NULL);
        webconfig_free(wc);
        goto fail;
    }
    rc = pthread_create(&h->sweeper, NULL, sweeper_main, h);
    if (rc != 0) {
        log_error("cannot start a thread", "thread", "http deadline", "error", strerror(rc), NULL);
        webconfig_free(wc);
        goto fail;
    }
    h->sweeper_started = true;
    /* MHD_USE_ITC: MHD_quiesce_daemon needs it with an internal polling thread. */
    h->flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        h->flags |= MHD_USE_IPv6;
    h->srv = server_start(h, wc, ai->ai_addr, MHD_INVALID_SOCKET, port);
    if (h->srv == NULL) {
        log_error("cannot listen", "host", host, "port", service, NULL);
        goto fail;
    }
    freeaddrinfo(ai);
    return h;
fail:
    if (ai != NULL)
        freeaddrinfo(ai);
    http_free(h);
    return NULL;
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
    http_free(h);
}

void http_set_expo(struct http *h, struct expo *e)
{
    atomic_store(&h->expo, e);
}
