/*
 * server.h — the HTTP server: libmicrohttpd for I/O, Lumi's pool for work.
 *
 * libmicrohttpd runs an epoll thread pool that only reads requests and writes
 * responses. A complete request is suspended and queued to Lumi's worker pool
 * (bounded; a full queue answers 503), where the route table picks a handler
 * that runs with the worker's own database connection; the connection is then
 * resumed with the response. Bodies above max_body answer 413 without being
 * buffered. A request waiting longer than request_timeout_s answers 503.
 * A request that has not fully arrived recv_timeout_s after its first line
 * (however slowly it trickles in) has its connection closed; connections are
 * limited per client address and in total.
 *
 * Every request gets a random request id (X-Request-Id) and one access-log
 * line. web_server_stop() stops accepting, lets in-flight requests finish
 * (up to a deadline), then frees everything.
 */
#ifndef LUMI_WEB_SERVER_H
#define LUMI_WEB_SERVER_H

#include <stddef.h>

#include "core/err.h"
#include "web/http.h"

typedef void (*web_handler_fn)(struct web_req *req, struct web_resp *resp);

enum web_auth {
    WEB_AUTH_PUBLIC = 0, /* anyone */
    WEB_AUTH_ADMIN, /* admin or staff: Bearer token, or session cookie + X-CSRF-Token on writes */
    WEB_AUTH_USER,  /* any account, clients included (handlers scope clients to their data) */
    /* Anyone, and the handler runs on the I/O thread that read the request
     * instead of a worker: for handlers that never block and never use
     * req->db (they check a signature, parse, and hand their write to the
     * group commit with web_reply_after_commit). Sparing the hand-off to a
     * worker and back is a fifth of the CPU of a webhook delivery. */
    WEB_AUTH_PUBLIC_INLINE,
};

/*
 * Staff roles (issue 16). A route names the roles besides admin that may call
 * it; admins may call every route, and a route that names none is for admins
 * only, so a route added without thought is safe. Clients are not staff: on
 * WEB_AUTH_USER routes they are scoped by the handlers instead.
 */
#define WEB_ROLE_ADMIN 0x1u
#define WEB_ROLE_BILLING 0x2u
#define WEB_ROLE_SUPPORT 0x4u
#define WEB_ROLE_READONLY 0x8u
#define WEB_ROLES_STAFF (WEB_ROLE_BILLING | WEB_ROLE_SUPPORT | WEB_ROLE_READONLY)

/** One route: method + pattern with {name} segments ("/api/admin/products/{id}"). */
struct web_route {
    const char *method;
    const char *pattern;
    enum web_auth auth;
    web_handler_fn handler;
    unsigned roles; /* WEB_ROLE_* bits: staff besides admins who may call it; 0 = admins only */
};

struct web_config {
    const char *listen;          /* "ADDR:PORT"; port 0 picks a free one */
    const char *database_url;    /* each worker opens its own connection */
    size_t max_body;             /* bytes; larger bodies → 413 */
    int io_threads;              /* libmicrohttpd pool size */
    int workers;                 /* handler threads */
    int queue_max;               /* queued requests before 503 */
    int request_timeout_s;       /* queue + handler deadline */
    int batch_max;               /* group commit: most requests per transaction (0: off, then
                                    web_reply_after_commit answers 503) */
    int pg_writers;              /* group commit: writer connections on PostgreSQL (0: 1) */
    const struct web_route *routes;  /* terminated by a {NULL} entry; borrowed */
    /* Hostile traffic (issue 17, finding 2); 0 = libmicrohttpd's default / off. */
    int max_connections;         /* open connections in all (fitted to RLIMIT_NOFILE) */
    int max_conn_per_ip;         /* open connections per client address */
    int recv_timeout_s;          /* a request's line, headers and body must arrive within this */
};

struct web_server;

/** Binds and starts serving. NULL with err (e.g. "127.0.0.1:8080: address in use"). */
struct web_server *web_server_start(const struct web_config *cfg, struct lumi_err *err);

/** The port actually bound (useful with port 0). */
int web_server_port(const struct web_server *s);

/** Graceful stop: no new connections, in-flight requests finish, then free. NULL is a no-op. */
void web_server_stop(struct web_server *s);

#endif
