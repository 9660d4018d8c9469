/*
 * fake_http.h — the HTTP server under every fake upstream (panels, gateways).
 *
 * A fake listens on 127.0.0.1 on a free port (libmicrohttpd, one internal
 * thread, so handlers never run concurrently with each other). Each request
 * is recorded (method, path, query, headers, body) for assertions, then
 * either answered by the fake's handler or hit by an injected fault. Faults
 * are armed from the test thread for the next N requests (optionally only
 * those whose path contains a substring) and model what real upstreams do:
 * 500s, 429 with Retry-After, slow answers, the connection dropped AFTER the
 * handler ran (the remote object exists but the client saw no answer), and
 * malformed bodies. State shared between the handler and the test is
 * protected with fake_lock()/fake_unlock().
 */
#ifndef LUMI_TEST_FAKE_HTTP_H
#define LUMI_TEST_FAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct fake_server;

struct fake_request {
    const char *method;
    const char *path;        /* without the query string, not decoded */
    const char *query;       /* raw query string after '?', "" when none */
    const char *body;        /* NUL-terminated */
    size_t body_len;
    const char *basic_user;  /* decoded HTTP Basic credentials, NULL when absent */
    const char *basic_password;
    void *priv;
};

/** Request header (case-insensitive) or NULL. */
const char *fake_header(const struct fake_request *r, const char *name);

/** Query parameter, URL-decoded (first occurrence), or NULL. "filter[email]" works as a name. */
const char *fake_query(const struct fake_request *r, const char *name);

/** Form field of an application/x-www-form-urlencoded body (decoded) or NULL. Caller frees. */
char *fake_form(const struct fake_request *r, const char *name);

struct fake_response {
    int status;                 /* default 200 */
    const char *content_type;   /* static; default application/json */
    struct buf body;
    void *priv;
};

void fake_add_header(struct fake_response *w, const char *name, const char *value);
/** Sets status and a body (copied). */
void fake_reply(struct fake_response *w, int status, const char *content_type, const char *body);

/** The fake's logic; runs on the server thread with the fake locked. */
typedef void (*fake_handler)(void *state, const struct fake_request *r, struct fake_response *w);

/** Starts a fake on 127.0.0.1:<free port>; aborts the test on failure. */
struct fake_server *fake_start(fake_handler handler, void *state);

/**
 * As fake_start, over HTTPS (libmicrohttpd's TLS) with the given PEM
 * certificate and private key (copied); fake_url is then
 * "https://localhost:PORT", so the certificate should name localhost.
 * Aborts the test when libmicrohttpd lacks TLS support or refuses the key.
 */
struct fake_server *fake_start_tls(fake_handler handler, void *state, const char *cert_pem,
                                   const char *key_pem);

/** Stops it and frees everything (NULL is a no-op). Does not free state. */
void fake_stop(struct fake_server *f);

/** "http://127.0.0.1:PORT" ("https://localhost:PORT" for fake_start_tls) (borrowed). */
const char *fake_url(const struct fake_server *f);
int fake_port(const struct fake_server *f);

enum fake_fault {
    FAKE_FAULT_NONE = 0,
    FAKE_FAULT_500,        /* answer 500 with a plain error page, without running the handler */
    FAKE_FAULT_429,        /* answer 429 with Retry-After: param seconds */
    FAKE_FAULT_SLOW,       /* sleep param ms, then run the handler normally */
    FAKE_FAULT_DROP_AFTER, /* run the handler (state changes), then close without answering */
    FAKE_FAULT_DROP_BEFORE,/* close without running the handler */
    FAKE_FAULT_MALFORMED,  /* run the handler, then replace the body with garbage */
    FAKE_FAULT_HTML,       /* answer 200 text/html "<html>…Login…</html>" without running the handler */
};

/**
 * Arms fault for the next `count` requests whose path contains path_filter
 * (NULL: any request). param: seconds for 429, milliseconds for SLOW.
 * A new call replaces the previous fault.
 */
void fake_fault(struct fake_server *f, enum fake_fault fault, int count, int param,
                const char *path_filter);

/** Delays every answer by ms (0: none), without blocking other connections. */
void fake_set_latency(struct fake_server *f, int ms);

/** Number of requests received so far (faulted ones included). */
size_t fake_request_count(struct fake_server *f);

/** A recorded request (0 = first), copied into out (caller frees with fake_recorded_free); -1 if none. */
struct fake_recorded {
    char *method, *path, *query, *body, *authorization, *content_type, *accept;
    char *basic_user;
};
int fake_recorded(struct fake_server *f, size_t index, struct fake_recorded *out);
/** The last request whose method and path match exactly (path without query); -1 if none. */
int fake_find_last(struct fake_server *f, const char *method, const char *path,
                   struct fake_recorded *out);
void fake_recorded_free(struct fake_recorded *r);

/** Forgets recorded requests. */
void fake_clear_requests(struct fake_server *f);

/** Serialises the test thread with the fake's handler (for reading/changing state). */
void fake_lock(struct fake_server *f);
void fake_unlock(struct fake_server *f);

#endif
