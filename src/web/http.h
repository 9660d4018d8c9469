/*
 * http.h — what a route handler sees: the request, the response, helpers.
 *
 * Handlers run on Lumi's worker pool (never on libmicrohttpd's I/O threads),
 * one request per thread at a time, with the worker's own database connection
 * in req->db. Everything reachable from req is request-scoped and freed by the
 * server after the response is sent. Handlers fill *resp through the helpers
 * below; a handler that sets nothing answers 500.
 */
#ifndef LUMI_WEB_HTTP_H
#define LUMI_WEB_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/err.h"
#include "db/db.h"

struct web_server;

/** The authenticated caller (filled by the server before admin handlers run). */
struct web_principal {
    enum { PRINCIPAL_NONE = 0, PRINCIPAL_USER, PRINCIPAL_TOKEN } kind;
    int64_t user_id;     /* 0 for an installation-wide token */
    int64_t token_id;    /* PRINCIPAL_TOKEN only */
    int64_t session_id;  /* PRINCIPAL_USER by cookie */
    char role[16];       /* "admin" | "billing" | "support" | "readonly" | "client" */
    char email[256];
    char id_text[32];    /* user id (or token id) as text, for audit rows */
};

struct web_req {
    const char *method;      /* "GET", "POST", ... */
    const char *path;        /* decoded path, without the query string */
    const char *request_id;  /* random id, also sent as X-Request-Id and logged */
    const char *client_ip;
    const char *user_agent;  /* may be NULL */
    const char *body;        /* NUL-terminated; body_len bytes */
    size_t body_len;
    struct db *db;           /* the worker's connection */
    struct web_principal who;
    void *priv;              /* server internals (headers, params, query) */
};

struct web_resp {
    int status;
    const char *content_type; /* static string; default application/json */
    struct buf body;
    void *priv;               /* server internals (extra headers) */
};

/** Path parameter by name ("{id}" in the route pattern) or NULL. */
const char *web_param(const struct web_req *req, const char *name);

/** Path parameter as a positive id; 0 when missing or not a positive integer. */
int64_t web_param_id(const struct web_req *req, const char *name);

/** Query-string value (URL-decoded) or NULL. */
const char *web_query(const struct web_req *req, const char *name);

/** Request header (case-insensitive name) or NULL. */
const char *web_header(const struct web_req *req, const char *name);

/** Cookie value by name or NULL. */
const char *web_cookie(const struct web_req *req, const char *name);

/**
 * Parses the body as a JSON object (Content-Type must be application/json).
 * On failure answers 400 invalid_request with the parser's message (or 415)
 * and returns NULL; the handler just returns. Caller decrefs the result.
 */
json_t *web_json_body(struct web_req *req, struct web_resp *resp);

/** True when the body is application/x-www-form-urlencoded (an HTML form post). */
bool web_is_form(const struct web_req *req);

/** A field of a form body, URL-decoded (request-scoped), or NULL when absent or not a form. */
const char *web_form_value(struct web_req *req, const char *name);

/**
 * Reads the paging parameters of a list route: ?limit= (1..max, default
 * def) and ?cursor= (a next_cursor from an earlier page: a positive id).
 * On a bad value answers 400 naming the parameter and returns < 0.
 */
int web_page_params(struct web_req *req, struct web_resp *resp, int def, int max, int *limit,
                    int64_t *cursor);

/**
 * Reads an optional query parameter that must be one of the NULL-terminated
 * choices: *out is NULL when absent or empty. On another value answers 400
 * listing the choices and returns < 0.
 */
int web_query_enum(struct web_req *req, struct web_resp *resp, const char *name,
                   const char *const *choices, const char **out);

/**
 * Reads an optional query parameter that must be a positive id: *out is 0
 * when absent or empty. On another value answers 400 and returns < 0.
 */
int web_query_id(struct web_req *req, struct web_resp *resp, const char *name, int64_t *out);

/** Answers 200 {"data": rows, "next_cursor": "<next>" | null (when next is 0)}; takes rows. */
void web_reply_page(struct web_resp *resp, json_t *rows, int64_t next);

/** Answers status with a JSON value (stolen reference: the helper decrefs it). */
void web_reply_json(struct web_resp *resp, int status, json_t *value);

/**
 * Answers 201 Created with obj (taken) and "Location: <collection>/<obj.id>",
 * e.g. web_reply_created(resp, "/api/admin/products", product).
 */
void web_reply_created(struct web_resp *resp, const char *collection, json_t *obj);

/** Answers status with value (taken) when it is not NULL, else the error err describes. */
void web_reply_result(struct web_resp *resp, int status, json_t *value,
                      const struct lumi_err *err);

/** Answers with the error envelope {"error":{"code","message"}}. */
void web_reply_error(struct web_resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Answers the status and envelope that err->code maps to (err_http_status/err_code_name). */
void web_reply_err(struct web_resp *resp, const struct lumi_err *err);

/** Answers text with the given content type (copied). */
/**
 * Answers status with the whole of file f as the body (from its start), sent
 * from the file by libmicrohttpd rather than copied into memory: for answers
 * that may be larger than the in-memory cap (audit exports). Takes f (closed
 * here, also on failure). A file that cannot be sized answers 500.
 */
void web_reply_file(struct web_resp *resp, int status, const char *content_type, FILE *f);

void web_reply_text(struct web_resp *resp, int status, const char *content_type,
                    const char *text, size_t len);

/** Adds a response header (copied). */
void web_add_header(struct web_resp *resp, const char *name, const char *value);

/**
 * A step of work that must be durable before the answer: runs inside a
 * transaction shared with other requests; fills resp and returns 0 to keep
 * its changes, or a negative code to have them rolled back alone (resp is
 * still the answer). It may run twice, the second time in its own savepoint
 * (see db/batch.h): it must do nothing outside the transaction, and the
 * second run's resp is the answer.
 */
typedef int (*web_tx_fn)(struct db *db, void *arg, struct web_resp *resp);

/**
 * Group commit (db/batch.h): hands fn to the server's batch writer and
 * answers only once the transaction holding it is committed — durable, on
 * disk — or 503 when that commit fails. The handler must return right after
 * this call and not touch req or resp again; arg is released with free_arg
 * (may be NULL) once fn has run. fn runs on the batch thread, not the
 * handler's, and must not use req->db.
 */
void web_reply_after_commit(struct web_req *req, struct web_resp *resp, web_tx_fn fn, void *arg,
                            void (*free_arg)(void *));

/*
 * Operations (proxies): the client behind LUMI_TRUSTED_PROXIES. Use these
 * wherever the client's address or scheme matters (audit rows, throttles,
 * sessions, cookies); web_client_ip(req) holds the same address.
 */
/** The client's address: the TCP peer, or what a trusted proxy's X-Forwarded-For names. */
const char *web_client_ip(const struct web_req *req);

/** True when the client used https: LUMI_BASE_URL is https, or a trusted proxy says so. */
bool web_is_https(const struct web_req *req);

/** web_is_https for the request resp answers: whether cookies get the Secure flag. */
bool web_resp_is_https(const struct web_resp *resp);

/**
 * Operations (metrics): notes that this exchange is a webhook delivery of
 * gateway (a string constant; NULL keeps the one noted before) and what
 * became of it (copied), for lumi_webhook_deliveries_total. Counted once the
 * answer is sent; an answer of 5xx counts as "error".
 */
void web_note_webhook(struct web_resp *resp, const char *gateway, const char *outcome);

/** Redirect (303 See Other) to location. */
void web_redirect(struct web_resp *resp, const char *location);

#endif
