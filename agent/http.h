/*
 * http.h: the libmicrohttpd glue. Routes, compression and headers; the exposition itself comes
 * from metrics.c, rendered from a snapshot copy, so a scrape never waits for a check.
 */
#ifndef SQLITE_AGENT_HTTP_H
#define SQLITE_AGENT_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "state.h"
#include "webconfig.h"

struct http;

/* Listens on host:port (numeric IPv4 or IPv6, or a name) with libmicrohttpd's own thread.
 * st and bi must outlive the server. wc (taken, NULL for plain HTTP without auth): TLS, headers
 * and basic-auth users from the web config file. NULL on failure, logged. */
struct http *http_start(const char *host, uint16_t port, struct state *st,
                        const struct build_info *bi, struct webconfig *wc);
/* Serves on with wc (taken) instead, on the same socket. Returns 0, or -1 (logged) with the
 * old web config still served. */
int http_reload(struct http *h, struct webconfig *wc);
void http_stop(struct http *h); /* accepts NULL */

/* True when an Accept-Encoding header value accepts gzip (RFC 9110 12.5.3: a "gzip" or "*"
 * coding whose q is not 0). Pure; exposed for tests. */
bool http_accepts_gzip(const char *accept_encoding);

struct expo;
/* Serve /metrics from e's last render (expo.h) instead of rendering per scrape. Call before
 * the first request can arrive, or with e NULL to go back; e must outlive the server. */
void http_set_expo(struct http *h, struct expo *e);
/* What the deadline sweeper does with one open connection, from its facts: the seconds since
 * its request's time began, whether that request is complete and being answered, whether
 * every connection slot is taken, whether the client hung up. Pure; exposed for tests. */
enum http_conn_verdict {
    HTTP_CONN_KEEP = 0,
    HTTP_CONN_DEADLINE, /* past the request deadline (1 s for an unanswered request while
                         * every slot is taken, else 10 s): shut down */
    HTTP_CONN_HANGUP,   /* the client hung up before its request was complete: shut down */
};
enum http_conn_verdict http_conn_judge(double age_s, bool answering, bool all_taken, bool hung_up);

#endif
