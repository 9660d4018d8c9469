/*
 * http_client.h — the one outbound HTTP client (libcurl), and the error
 * taxonomy shared by every integration (panels and payment gateways).
 *
 * hc_perform() sends one request with connect and total timeouts, TLS
 * verification on (an extra CA file may be given), a cap on the answer size,
 * only http/https, and an optional per-key rate limit (requests per minute,
 * e.g. one key per panel server). Any HTTP answer, whatever its status, is a
 * success of the transport: the caller then classifies the status with
 * hc_classify(), which fills a generic message that the integration may
 * replace with a better one. curl_global_init must have run (lumi serve and
 * the tests do it once, before threads start).
 */
#ifndef LUMI_CORE_HTTP_CLIENT_H
#define LUMI_CORE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/** What went wrong, in terms an integration and the retry logic share. */
enum hc_class {
    HC_OK = 0,
    HC_CONNECTION,   /* DNS, refused, TLS: nothing reached the upstream. Retryable. */
    HC_TIMEOUT,      /* no (complete) answer in time. Retryable; see `ambiguous`. */
    HC_AUTH,         /* 401/403 (or a login page): fix the credentials. Permanent. */
    HC_NOT_FOUND,    /* 404. Permanent (callers decide when it means "already gone"). */
    HC_INVALID,      /* 400/409/422: the upstream refused the input. Permanent. */
    HC_RATE_LIMITED, /* 429 (retry_after_s set when the upstream said). Retryable. */
    HC_UPSTREAM,     /* 5xx, 423 locked: the upstream failed or is busy. Retryable. */
    HC_BAD_RESPONSE, /* an answer that cannot be parsed or is not what the API promises. Retryable. */
};

#define HC_MSG_MAX 512

struct hc_error {
    enum hc_class cls;
    bool retryable;        /* worth trying again later */
    bool ambiguous;        /* the request may have been processed although no answer arrived */
    long http_status;      /* 0 when no answer */
    int retry_after_s;     /* from Retry-After, else 0 */
    char message[HC_MSG_MAX]; /* what an admin can act on; never contains a credential */
};

/** "connection", "timeout", "auth", "not_found", "invalid", "rate_limited", "upstream", "bad_response". */
const char *hc_class_name(enum hc_class cls);

/** Sets *e (class, retryable from the class, message printf-style). Returns -1. */
int hc_fail(struct hc_error *e, enum hc_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct hc_request {
    const char *method;           /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *url;              /* absolute http(s) URL */
    const char *const *headers;   /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;             /* may be NULL */
    size_t body_len;
    const char *basic_user;       /* HTTP Basic auth when non-NULL */
    const char *basic_password;
    int connect_timeout_ms;       /* default 5000 */
    int timeout_ms;               /* total, default 30000 */
    size_t max_response;          /* default 8 MiB */
    const char *ca_file;          /* extra CA bundle, or NULL for the system's */
    const char *rate_key;         /* NULL: no limit; else requests share a per-key budget */
    int rate_per_minute;          /* budget for rate_key (waits, never fails) */
    const char *resolve;          /* "host:port:address": connect there, without DNS and
                                     without a proxy (outgoing events pin what they checked) */
};

struct hc_response {
    long status;
    struct buf body;
    struct buf headers;           /* raw header lines of the final answer */
    int64_t elapsed_ms;
};

/**
 * Performs req. 0 when an HTTP answer arrived (res filled, any status);
 * -1 with err filled otherwise: HC_CONNECTION (nothing sent), HC_TIMEOUT
 * (ambiguous when the request had been sent), or HC_TIMEOUT with ambiguous
 * set when the connection dropped after sending (the upstream may have acted),
 * HC_BAD_RESPONSE for an answer over max_response. err->message names the
 * host but never the credentials. Free res with hc_response_free even on error.
 */
int hc_perform(const struct hc_request *req, struct hc_response *res, struct hc_error *err);

void hc_response_free(struct hc_response *res);

/** Value of a response header (first, case-insensitive) copied into out; NULL when absent. */
const char *hc_header(const struct hc_response *res, const char *name, char *out, size_t outsz);

/**
 * Classifies res->status: 2xx/3xx → 0 (HC_OK); otherwise -1 with err filled
 * by class (401/403 auth, 404 not_found, 400/409/422 invalid, 423 upstream
 * "locked", 429 rate_limited with Retry-After, 5xx upstream) and a generic
 * message "<what> answered HTTP 503". `what` names the upstream ("Pterodactyl").
 */
int hc_classify(const struct hc_response *res, const char *what, struct hc_error *err);

/** Percent-encodes s for a URL path segment or query value into out (appended). */
int hc_url_escape(struct buf *out, const char *s);

/** True when a libcurl result code (a CURLcode) is a TLS failure: handshake, certificate,
 *  CA file, pinning. Shared by the HTTP and the SMTP client. */
bool hc_is_tls_error(int curl_code);

#endif
