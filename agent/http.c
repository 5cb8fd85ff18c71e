/*
 * http.c: /metrics, /healthz and a landing page on libmicrohttpd.
 *
 * libmicrohttpd's connection timeout defaults to none, so one idle client could hold a
 * connection forever: both a timeout and a connection limit are set. Responses are small and
 * built whole before they are queued.
 */
#include "http.h"

#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <zlib.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

#define HTTP_CONNECTION_LIMIT 64
#define HTTP_CONNECTION_TIMEOUT_S 10
/* The exposition for thousands of databases is a few megabytes; past this, something is wrong
 * and the scrape fails with 500 rather than eating memory. */
#define HTTP_BODY_MAX (64u << 20)

struct http {
    struct MHD_Daemon *daemon;
    struct state *state;
    const struct build_info *bi;
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

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, unsigned status, const char *type,
                                   const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return queue(conn, status, r);
}

static enum MHD_Result send_metrics(struct http *h, struct MHD_Connection *conn)
{
    double t0 = clock_mono_s();
    struct snapshot *snap = state_snapshot(h->state, clock_wall_ms());
    struct buf body;
    struct MHD_Response *r = NULL;

    buf_init(&body, HTTP_BODY_MAX);
    if (snap == NULL || metrics_render(snap, h->bi, snap->taken_ms, &body) != 0) {
        snapshot_free(snap);
        buf_free(&body);
        log_error("cannot render metrics", NULL);
        return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "render failed\n");
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
    return queue(conn, MHD_HTTP_OK, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct http *h = cls;
    (void)version;
    (void)upload_data;
    (void)req_cls;

    bool known =
        strcmp(url, "/") == 0 || strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0;
    if (!known)
        return send_static(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        *upload_data_size = 0; /* ignore any body */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen("method not allowed\n"), (void *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
        if (r == NULL)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
        return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    }
    if (strcmp(url, "/metrics") == 0)
        return send_metrics(h, conn);
    if (strcmp(url, "/healthz") == 0)
        return send_static(conn, MHD_HTTP_OK, "text/plain", "ok\n");
    return send_static(conn, MHD_HTTP_OK, "text/html; charset=utf-8", landing_page);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("http server", "detail", msg, NULL);
}

struct http *http_start(const char *host, uint16_t port, struct state *st,
                        const struct build_info *bi)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[8];
    struct http *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->state = st;
    h->bi = bi;
    snprintf(service, sizeof(service), "%u", port);
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        log_error("cannot resolve listen address", "host", host, "error", gai_strerror(rc), NULL);
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, h,
        /* First, so that it also receives messages about the options after it. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->daemon == NULL) {
        log_error("cannot listen", "host", host, "port", service, NULL);
        free(h);
        return NULL;
    }
    return h;
}

void http_stop(struct http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
