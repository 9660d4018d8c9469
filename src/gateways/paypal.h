/*
 * paypal.h — the PayPal REST client: OAuth token (cached), Orders v2 (create,
 * capture, get), Payments v2 (get capture), and webhook verification through
 * PayPal's verify-webhook-signature call (mode `api`; mode `local` is
 * paypal_sig.h). No database, no HTTP server.
 *
 * A client is shared by all threads (its token cache has its own lock and
 * never holds it across a request). The token is fetched with HTTP Basic
 * client_id:client_secret, cached until 60 s before expires_in, and fetched
 * again once when another call answers 401. Connection errors, timeouts, 429
 * and 5xx are retried with backoff up to max_attempts with the same
 * PayPal-Request-Id. PayPal's error body {name, message, debug_id, details}
 * becomes the hc_error message ("PayPal: UNPROCESSABLE_ENTITY
 * ORDER_NOT_APPROVED: … (debug_id …)") and the first details[].issue is
 * given back in paypal_err.issue.
 */
#ifndef LUMI_GATEWAYS_PAYPAL_H
#define LUMI_GATEWAYS_PAYPAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/http_client.h"
#include "gateways/paypal_sig.h"

#define PAYPAL_ID_MAX 128

struct paypal_conf {
    const char *api_base;      /* PAYPAL_API_BASE (already resolved from PAYPAL_MODE) */
    const char *client_id;     /* PAYPAL_CLIENT_ID */
    const char *client_secret; /* PAYPAL_CLIENT_SECRET */
    const char *webhook_id;    /* PAYPAL_WEBHOOK_ID (for verification) */
    const char *ca_file;       /* LUMI_CA_FILE or NULL */
    int timeout_ms;            /* per attempt; 0 → 20000 */
    int max_attempts;          /* 0 → 3 */
    int backoff_ms;            /* 0 → 500 */
};

struct paypal_err {
    struct hc_error hc;
    char issue[64];    /* details[0].issue, e.g. "ORDER_ALREADY_CAPTURED"; "" when none */
    char debug_id[64]; /* PayPal's debug_id; "" when none */
};

struct paypal_client;

/** A client with copies of conf's strings. NULL when out of memory. */
struct paypal_client *paypal_client_new(const struct paypal_conf *conf);
void paypal_client_free(struct paypal_client *pc);

/** Tokens fetched so far (for tests: proves caching). */
int paypal_client_token_fetches(struct paypal_client *pc);

struct paypal_item {
    const char *name;    /* ≤ 127 chars (cut on a UTF-8 boundary) */
    int64_t unit_amount; /* minor units ≥ 0 */
    int64_t quantity;    /* ≥ 1 */
};

struct paypal_order_in {
    const char *currency; /* any case; sent upper-case */
    const struct paypal_item *items;
    size_t nitems;              /* ≥ 1; item_total = Σ unit_amount × quantity */
    int64_t tax_total;          /* ≥ 0, breakdown.tax_total when > 0; amount = item_total + it */
    const char *invoice_number; /* reference_id and invoice_id (≤ 127) */
    int64_t invoice_id;         /* custom_id */
    const char *return_url;
    const char *cancel_url;
    const char *request_id;     /* PayPal-Request-Id, 1..108 chars, required */
};

/** POST /v2/checkout/orders. 0 with *out = the order (new ref), or -1 with err. */
int paypal_order_create(struct paypal_client *pc, const struct paypal_order_in *in, json_t **out,
                        struct paypal_err *err);

/**
 * POST /v2/checkout/orders/{id}/capture with body {} and request_id. A 422
 * ORDER_ALREADY_CAPTURED is not an error: the order is read with
 * paypal_order_get and returned. Other 422s (ORDER_NOT_APPROVED,
 * INSTRUMENT_DECLINED, …) are -1 with err->issue set.
 */
int paypal_order_capture(struct paypal_client *pc, const char *order_id, const char *request_id,
                         json_t **out, struct paypal_err *err);

/** GET /v2/checkout/orders/{id}. */
int paypal_order_get(struct paypal_client *pc, const char *order_id, json_t **out,
                     struct paypal_err *err);

/** The buyer's link of a created order: rel "payer-action", else "approve". Borrowed; NULL if none. */
const char *paypal_order_payer_url(const json_t *order);

/** What Lumi reads from a capture object (or a refund object: same fields). */
struct paypal_capture {
    char id[PAYPAL_ID_MAX];
    char status[32];       /* COMPLETED | PENDING | DECLINED | FAILED | REFUNDED | … */
    char currency[4];      /* lower-case */
    int64_t amount;        /* minor units; -1 when absent or unparseable */
    int64_t invoice_id;    /* custom_id as a positive integer; 0 when absent */
    char order_id[PAYPAL_ID_MAX];   /* supplementary_data.related_ids.order_id, "" if absent */
    char up_capture_id[PAYPAL_ID_MAX]; /* refunds: capture id from links[rel="up"] …/captures/{id} */
    char reason[128];      /* status_details.reason, "" if absent */
};

/** Fills *c from a capture or refund object; LUMI_EINVAL naming the bad field. */
int paypal_capture_parse(const json_t *obj, struct paypal_capture *c, struct lumi_err *err);

/** The first capture of a captured order (purchase_units[0].payments.captures[0]); borrowed or NULL. */
const json_t *paypal_order_first_capture(const json_t *order);

/**
 * Mode `api`: POST /v1/notifications/verify-webhook-signature with the
 * headers, webhook_id from conf and the raw body embedded unchanged (not
 * re-serialised) as webhook_event. *verified = true on "SUCCESS". A missing
 * header is -1 with HC_INVALID and nothing sent.
 */
int paypal_verify_webhook_api(struct paypal_client *pc, const struct paypal_sig_headers *h,
                              const char *body, size_t len, bool *verified,
                              struct paypal_err *err);

#endif
