/*
 * fake_stripe.h — a stateful fake of the Stripe API for tests, on fake_http
 * (contract: shared/contracts/stripe.md; object shapes from Stripe's
 * fixtures3.json).
 *
 * Endpoints: POST /v1/checkout/sessions (validated like Stripe: form body,
 * Bearer sk_test_… key or 401, mode=payment, success_url, line_items with
 * lower-case currency, integer unit_amount ≥ 0, non-empty product name,
 * quantity ≥ 1, ≤ 100 items of one currency, metadata values ≤ 500 chars,
 * unknown parameters refused; 400 invalid_request_error with code and param)
 * and GET /v1/checkout/sessions/{id} (404 resource_missing). Idempotency:
 * the same Idempotency-Key with the same body replays the first answer with
 * `Idempotent-Replayed: true`; with another body it is a 400
 * idempotency_error. Sessions are cs_test_<n>, url "<fake url>/pay/cs_test_<n>",
 * open/unpaid, payment_intent null until fake_stripe_complete.
 *
 * Webhook bodies: the event builders return the JSON of a Stripe event
 * (fixture-shaped, ~2-3 KB) wrapping the session, charge, dispute or
 * payment_intent; fake_stripe_sign signs one with the webhook secret.
 *
 * Every function here may be called from the test thread while the fake
 * runs; each takes the fake's lock itself.
 */
#ifndef LUMI_TEST_FAKE_STRIPE_H
#define LUMI_TEST_FAKE_STRIPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakes/fake_http.h"

struct fake_stripe;

/** Starts the fake accepting secret_key (an sk_test_… key, copied) and signing webhooks with
 *  webhook_secret (whsec_…, copied). Aborts the test on failure. */
struct fake_stripe *fake_stripe_start(const char *secret_key, const char *webhook_secret);

/** "http://127.0.0.1:PORT" — the STRIPE_API_BASE to configure (borrowed). */
const char *fake_stripe_url(struct fake_stripe *f);

/** The HTTP server under the fake: fake_fault, recorded requests (borrowed). */
struct fake_server *fake_stripe_server(struct fake_stripe *f);

/** Stops the fake and frees everything (NULL is a no-op). */
void fake_stripe_stop(struct fake_stripe *f);

/* ---- behaviour ---- */

/**
 * The next `count` requests answer HTTP `status` with a Stripe error body
 * (api_error for 5xx, idempotency_error "lock_timeout" for 409, rate_limit for
 * 429) without running the endpoint. should_retry: -1 no Stripe-Should-Retry
 * header, 0 "false", 1 "true". Unlike fake_fault, these requests are in the
 * fake's own log (fake_stripe_request), Idempotency-Key included.
 */
void fake_stripe_fail_next(struct fake_stripe *f, int count, int status, int should_retry);

/* ---- state ---- */

/** Number of checkout sessions created. */
size_t fake_stripe_session_count(struct fake_stripe *f);

/** A copy of the session as the API shows it (new reference), or NULL. */
json_t *fake_stripe_session_json(struct fake_stripe *f, const char *session_id);

/**
 * The buyer finished: status "complete", payment_status "paid" or "unpaid"
 * (an async method still pending), payment_intent pi_test_<n> and charge
 * ch_test_<n> assigned on the first call and kept afterwards. 0, or -1 when
 * there is no such session.
 */
int fake_stripe_complete(struct fake_stripe *f, const char *session_id, bool paid);

/** status "expired" (url null). 0, or -1 when there is no such session. */
int fake_stripe_expire(struct fake_stripe *f, const char *session_id);

/** The charge id assigned by fake_stripe_complete (copied into out), or -1. */
int fake_stripe_charge_of(struct fake_stripe *f, const char *session_id, char *out, size_t outsz);

/* ---- requests the endpoints saw ---- */

/** One request as the fake's handler saw it (faults armed with fake_fault are not here). */
struct fake_stripe_req {
    char method[8];
    char path[256];
    char idempotency_key[256]; /* "" when absent */
    char stripe_version[64];   /* "" when absent */
    char content_type[96];
    int status;    /* what the fake answered */
    bool replayed; /* answered from the idempotency store */
};

/** Requests seen by the handler so far. */
size_t fake_stripe_request_count(struct fake_stripe *f);

/** Request `index` (0 = first) copied into out: 0, or -1 when there is none. */
int fake_stripe_request(struct fake_stripe *f, size_t index, struct fake_stripe_req *out);

/**
 * Decodes an application/x-www-form-urlencoded body into {name: value} (names
 * and values percent-decoded, '+' a space, the last of repeated names wins).
 * New reference (NULL only when out of memory). For assertions on what the
 * client sent.
 */
json_t *fake_stripe_form_decode(const char *body, size_t len);

/* ---- webhook events (new JSON strings, caller frees; NULL when not possible) ---- */

/*
 * event_id: the id to give the event (a redelivery of an event the test made
 * before), or NULL for a fresh evt_test_<n>. Every builder returns NULL when
 * the session does not exist (or, for refund/dispute, has no payment yet).
 */

/** `type` (checkout.session.completed, .async_payment_succeeded, .async_payment_failed,
 *  .expired) wrapping the session as it is now. */
char *fake_stripe_event_session(struct fake_stripe *f, const char *type, const char *session_id,
                                const char *event_id);

/** charge.refunded for the session's charge: amount_refunded = cumulative_refunded
 *  (refunded true when it reaches the amount), payment_intent, currency. */
char *fake_stripe_event_refund(struct fake_stripe *f, const char *session_id,
                               int64_t cumulative_refunded, const char *event_id);

/** charge.dispute.created for the session's charge: amount, reason "fraudulent",
 *  status "needs_response", payment_intent and charge. */
char *fake_stripe_event_dispute(struct fake_stripe *f, const char *session_id, int64_t amount,
                                const char *event_id);

/** payment_intent.payment_failed with metadata.invoice_id and last_payment_error.message.
 *  The payment intent (id, amount, currency) is that of the latest session of the invoice
 *  when there is one, else a fresh pi_test_<n> of 0 usd. */
char *fake_stripe_event_pi_failed(struct fake_stripe *f, int64_t invoice_id, const char *message,
                                  const char *event_id);

/** The "id" of an event body made above, copied into out: 0 or -1. */
int fake_stripe_event_id(const char *body, char *out, size_t outsz);

/** A Stripe-Signature header value "t=<t>,v1=<hex>" for body under the webhook secret
 *  (caller frees), as Stripe would send with the delivery. */
char *fake_stripe_sign(struct fake_stripe *f, const char *body, int64_t t);

#endif
