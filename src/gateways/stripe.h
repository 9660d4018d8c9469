/*
 * stripe.h — the Stripe API client: Checkout Sessions (create, retrieve) and
 * the parsing of the Stripe objects Lumi acts on. No database, no HTTP
 * server: the billing domain calls this.
 *
 * Requests are form-encoded with bracket nesting and explicit array indexes,
 * `Authorization: Bearer <secret key>`, a pinned `Stripe-Version`, and (for
 * create) an `Idempotency-Key` that the caller chooses and that is reused on
 * every retry. Connection errors, timeouts, 409 and 5xx are retried with
 * exponential backoff and jitter up to conf->max_attempts, unless Stripe
 * answers `Stripe-Should-Retry: false` (and `true` forces a retry). Errors are
 * the shared hc_error taxonomy, with Stripe's own error.message (never the
 * key) in the message.
 */
#ifndef LUMI_GATEWAYS_STRIPE_H
#define LUMI_GATEWAYS_STRIPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/http_client.h"

#define STRIPE_API_VERSION "2026-07-29.dahlia"
#define STRIPE_MAX_LINE_ITEMS 100
#define STRIPE_ID_MAX 256 /* cs_…, pi_…, ch_…, evt_… ids we keep */

struct stripe_conf {
    const char *api_base;   /* STRIPE_API_BASE, no trailing slash needed */
    const char *secret_key; /* STRIPE_SECRET_KEY */
    const char *ca_file;    /* extra CA bundle (LUMI_CA_FILE) or NULL */
    int timeout_ms;         /* per attempt; 0 → 20000 */
    int max_attempts;       /* 0 → 3 */
    int backoff_ms;         /* first backoff; 0 → 500 (doubling, ±20 % jitter) */
};

struct stripe_line {
    const char *name;    /* product_data[name], ≤ 250 chars (longer is cut on a UTF-8 boundary) */
    int64_t unit_amount; /* minor units ≥ 0 */
    int64_t quantity;    /* ≥ 1 */
};

struct stripe_checkout_in {
    const char *currency; /* any case; sent lower-case */
    const struct stripe_line *lines;
    size_t nlines;                   /* 1..STRIPE_MAX_LINE_ITEMS */
    const char *success_url;         /* may contain {CHECKOUT_SESSION_ID} (sent unescaped braces ok) */
    const char *cancel_url;
    const char *client_reference_id; /* invoice number */
    int64_t invoice_id;              /* metadata[invoice_id] and payment_intent_data[metadata][invoice_id] */
    const char *customer_email;      /* may be NULL */
    const char *idempotency_key;     /* 1..255 chars, required */
};

/** What Lumi reads from a checkout.session object. Strings are "" when absent. */
struct stripe_session {
    char id[STRIPE_ID_MAX];
    char status[16];         /* open | complete | expired */
    char payment_status[24]; /* paid | unpaid | no_payment_required */
    char currency[4];        /* lower-case */
    int64_t amount_total;    /* -1 when absent/null */
    int64_t invoice_id;      /* metadata.invoice_id as a positive integer; 0 when absent/bad */
    char payment_intent[STRIPE_ID_MAX]; /* string id, or the id of an expanded object */
    char client_reference_id[128];
    char url[2048];
    int64_t expires_at;      /* 0 when absent */
};

/**
 * Creates a Checkout Session (POST /v1/checkout/sessions). On success *out is
 * Stripe's session object (new reference) and 0 is returned; -1 with err
 * filled otherwise (HC_INVALID for 400/402/404, HC_AUTH for 401, ...).
 * Arguments are checked first (HC_INVALID, nothing sent).
 */
int stripe_checkout_create(const struct stripe_conf *conf, const struct stripe_checkout_in *in,
                           json_t **out, struct hc_error *err);

/** GET /v1/checkout/sessions/{id} (id is URL-escaped). Same conventions. */
int stripe_checkout_retrieve(const struct stripe_conf *conf, const char *session_id, json_t **out,
                             struct hc_error *err);

/** Fills *s from a checkout.session object; LUMI_EINVAL naming the field when it is not one. */
int stripe_session_parse(const json_t *obj, struct stripe_session *s, struct lumi_err *err);

/** The envelope of a webhook event. type and id borrowed from ev. */
struct stripe_event {
    const char *id;       /* evt_… */
    const char *type;     /* "checkout.session.completed", … */
    const json_t *object; /* data.object */
    int64_t created;
    bool livemode;
};

/**
 * Parses a webhook body (validated in full, as strictly as jsonx_parse) into
 * only what Lumi reads of an event: the scalars at the top and the members
 * of data.object that Lumi's handlers read (listed in stripe.c). A Stripe
 * object is a few KB of members Lumi never looks at, and building them all
 * was a quarter of the CPU of a delivery. New reference, or NULL with err
 * (LUMI_EINVAL, LUMI_ENOMEM).
 */
json_t *stripe_event_load(const char *body, size_t len, struct lumi_err *err);

/**
 * Reads the envelope {id, object:"event", type, data:{object:{…}}} of a
 * parsed body; LUMI_EINVAL naming what is missing. Pointers borrow from ev.
 */
int stripe_event_parse(const json_t *ev, struct stripe_event *out, struct lumi_err *err);

/**
 * The "payment_intent" of an object (a string id, or an expanded object's
 * id), or NULL. Borrowed.
 */
const char *stripe_payment_intent_of(const json_t *obj);

#endif
