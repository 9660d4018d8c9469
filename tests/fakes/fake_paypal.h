/*
 * fake_paypal.h — a stateful fake of PayPal's REST API for tests, on
 * fake_http (contract: shared/contracts/paypal.md).
 *
 * It answers: POST /v1/oauth2/token (HTTP Basic client_id:secret and the
 * form grant_type=client_credentials; tokens "A21AA…<n>", each valid until
 * the test expires them), POST /v2/checkout/orders (Bearer check, validation of the
 * body per the contract with PayPal's error body, PayPal-Request-Id replay),
 * GET /v2/checkout/orders/{id}, POST /v2/checkout/orders/{id}/capture
 * (ORDER_NOT_APPROVED until the test approves it, ORDER_ALREADY_CAPTURED on a
 * second capture, replay with the same request id) and POST
 * /v1/notifications/verify-webhook-signature (SUCCESS only when the embedded
 * raw event verifies against the fake's own key with its webhook id).
 *
 * Signing (mode `local`): at start the fake makes an RSA-2048 key and a
 * self-signed certificate for localhost (valid now-1d..now+30d). A second,
 * TLS server (fake_start_tls) with that certificate serves its PEM at
 * /certs/webhook.pem; fake_paypal_sign signs deliveries with the key, and
 * fake_paypal_ca_file is a temporary PEM file to trust that server.
 *
 * Every function may be called from the test thread while the fake runs;
 * each takes the fake's lock itself.
 */
#ifndef LUMI_TEST_FAKE_PAYPAL_H
#define LUMI_TEST_FAKE_PAYPAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakes/fake_http.h"
#include "gateways/paypal_sig.h"

struct fake_paypal;

/** Starts the fake (strings copied); aborts the test on failure. webhook_id is what
 *  verify-webhook-signature expects. */
struct fake_paypal *fake_paypal_start(const char *client_id, const char *client_secret,
                                      const char *webhook_id);

/** Stops both servers, removes the CA file, frees everything (NULL is a no-op). */
void fake_paypal_stop(struct fake_paypal *fp);

/** "http://127.0.0.1:PORT": the API base to configure (borrowed). */
const char *fake_paypal_url(struct fake_paypal *fp);

/** The API's HTTP server: faults and recorded requests (borrowed). */
struct fake_server *fake_paypal_http(struct fake_paypal *fp);

/** The TLS server serving the certificate (borrowed). */
struct fake_server *fake_paypal_cert_http(struct fake_paypal *fp);

/* ---- token ---- */

/** expires_in of the next tokens (default 32400). */
void fake_paypal_set_expires_in(struct fake_paypal *fp, int seconds);

/** Every token issued so far stops working: the next call with one gets 401 AUTHENTICATION_FAILURE. */
void fake_paypal_expire_token(struct fake_paypal *fp);

/** Successful token requests so far. */
int fake_paypal_token_fetches(struct fake_paypal *fp);

/* ---- orders ---- */

/** Marks the order approved by the buyer (as after the payer-action redirect). 0, or -1 if none. */
int fake_paypal_approve(struct fake_paypal *fp, const char *order_id);

/** Status of the next capture: "COMPLETED" (default), "PENDING" or "DECLINED" (copied; one use). */
void fake_paypal_set_next_capture_status(struct fake_paypal *fp, const char *status);

/** The next capture answers 422 INSTRUMENT_DECLINED (one use). */
void fake_paypal_decline_next_capture(struct fake_paypal *fp);

/** How many requests reaching the fake's logic carried PayPal-Request-Id: request_id
 *  (requests hit by an injected 500/429 fault never reach it). */
int fake_paypal_request_id_uses(struct fake_paypal *fp, const char *request_id);

/** Orders created so far. */
size_t fake_paypal_order_count(struct fake_paypal *fp);

/** A copy of the order as GET shows it (new reference), or NULL. */
json_t *fake_paypal_order_json(struct fake_paypal *fp, const char *order_id);

/* ---- webhook events (newly allocated JSON text; caller frees) ---- */

/**
 * PAYMENT.CAPTURE.COMPLETED / DENIED / DECLINED / PENDING for the order's
 * capture (the order's first capture when captured, else a new capture of its
 * amount). event_id NULL = a new unique "WH-…" id. NULL if no such order.
 */
char *fake_paypal_event_capture(struct fake_paypal *fp, const char *event_type,
                                const char *order_id, const char *event_id);

/**
 * PAYMENT.CAPTURE.REFUNDED or PAYMENT.CAPTURE.REVERSED: a refund resource of
 * amount (minor units, currency any case) whose links[rel=up] is
 * …/v2/payments/captures/{capture_id}. event_id as above.
 */
char *fake_paypal_event_refund(struct fake_paypal *fp, const char *event_type,
                               const char *capture_id, int64_t amount, const char *currency,
                               const char *event_id);

/** CHECKOUT.ORDER.APPROVED with the order (status APPROVED). NULL if no such order. */
char *fake_paypal_event_order_approved(struct fake_paypal *fp, const char *order_id,
                                       const char *event_id);

/* ---- signed deliveries ---- */

/** The PAYPAL-* header values of one signed delivery. */
struct fake_paypal_sig {
    char transmission_id[64];
    char transmission_time[32];
    char cert_url[128];
    char auth_algo[16];
    char transmission_sig[PAYPAL_SIG_B64_MAX];
};

/** Signs body[0..len) for webhook_id as PayPal does; 0 or -1. */
int fake_paypal_sign(struct fake_paypal *fp, const char *body, size_t len, const char *webhook_id,
                     struct fake_paypal_sig *out);

/** Points h at s's fields (borrowed from s). */
void fake_paypal_sig_headers(const struct fake_paypal_sig *s, struct paypal_sig_headers *h);

/** Path of a PEM file holding the fake's certificate (a CA file to trust the TLS server). */
const char *fake_paypal_ca_file(struct fake_paypal *fp);

/** "https://localhost:PORT/certs/webhook.pem" (borrowed). */
const char *fake_paypal_cert_url(struct fake_paypal *fp);

/** The certificate PEM (borrowed). */
const char *fake_paypal_cert_pem(struct fake_paypal *fp);

#endif
