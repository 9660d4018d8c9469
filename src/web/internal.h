/*
 * internal.h — what the server (server.c), the router (router.c) and the
 * handler helpers (http.c) share about one request/response exchange.
 * Private to src/web/: handlers see only http.h.
 *
 * One `struct web_exchange` lives from the first access-handler call of a
 * request to libmicrohttpd's completion callback. Everything a handler can
 * reach from req/resp (strings, header lists, parameters) is allocated from
 * its arena and freed at once with it. It is used by one thread at a time:
 * the I/O thread until it is queued, one worker until it is resumed, then the
 * I/O thread again.
 */
#ifndef LUMI_WEB_INTERNAL_H
#define LUMI_WEB_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "web/http.h"
#include "web/server.h"

#define WEB_MAX_PARAMS 8         /* {name} segments in one pattern */
#define WEB_MAX_RESP_HEADERS 32  /* web_add_header calls per response */
#define WEB_RESP_MAX (64u << 20) /* response body cap */
#define WEB_REQUEST_ID_LEN 16    /* hex characters */

struct MHD_Connection;
struct deferred;

/** Request-scoped bump allocator: many small allocations, one free. */
struct web_arena {
    struct arena_block *head;
};

void *arena_alloc(struct web_arena *a, size_t n);
/** Copy of s in the arena; NULL when s is NULL or out of memory. */
char *arena_strdup(struct web_arena *a, const char *s);
void arena_free(struct web_arena *a);

struct web_kv {
    const char *name;
    const char *value; /* may be NULL (a query flag without '=') */
};

struct web_kvlist {
    struct web_kv *v;
    size_t n;
};

enum web_phase {
    PHASE_RECEIVING = 0, /* headers and body arriving (I/O thread) */
    PHASE_QUEUED,        /* suspended, owned by the worker pool */
    PHASE_READY,         /* response filled by a worker, resume pending */
    PHASE_SENT,          /* response handed to libmicrohttpd */
};

struct web_exchange {
    struct web_server *server;
    struct MHD_Connection *conn;
    struct web_arena arena;
    struct web_req req;
    struct web_resp resp;

    struct buf upload;         /* body so far; max = max_body */
    bool too_large;            /* the body went over max_body: discard, answer 413 */
    bool db_failed;            /* a handler answered LUMI_EDB: the worker reopens its connection */
    struct deferred *deferred; /* set: answered by the group commit once the worker is done */

    struct web_kvlist headers;
    struct web_kvlist cookies;
    struct web_kvlist query;
    struct web_kv params[WEB_MAX_PARAMS];
    size_t nparams;
    struct web_kv resp_headers[WEB_MAX_RESP_HEADERS];
    size_t nresp_headers;

    const struct web_route *route;
    _Atomic int phase;  /* enum web_phase */
    int64_t started_ms; /* monotonic */
    int64_t queued_ms;  /* monotonic, when handed to the pool */
    size_t sent_bytes;  /* response body length, for the access log */
    int file_fd;        /* >= 0: the body is this file (web_reply_file), not resp.body */
    uint64_t file_len;
    char request_id[WEB_REQUEST_ID_LEN + 1];
    char client_ip[64]; /* the effective client (web_client_ip): peer_ip unless a trusted proxy says */
    char peer_ip[64];   /* the TCP peer */
    bool https;         /* effective scheme (web_is_https) */
    int64_t started_ns; /* monotonic, for the metrics' latency histogram */
    const char *wh_gateway; /* web_note_webhook: a gateway's delivery (static string) */
    char wh_outcome[16];
};

/** The exchange a handler's req/resp belong to. */
static inline struct web_exchange *exchange_of_req(const struct web_req *req)
{
    return (struct web_exchange *)req->priv;
}

static inline struct web_exchange *exchange_of_resp(const struct web_resp *resp)
{
    return (struct web_exchange *)resp->priv;
}

/** Looks name up in a list (case-insensitive when nocase); NULL when absent. */
const char *kv_find(const struct web_kvlist *l, const char *name, bool nocase);

/** Monotonic clock in milliseconds. */
int64_t web_now_ms(void);

#endif
