/*
 * gateways.h — the payment gateways as the handlers see them (private to
 * src/web/): one process-wide context built from the configuration on first
 * use (Stripe settings, the shared PayPal client with its token cache, the
 * PayPal certificate cache, the webhook secrets). The configuration is
 * immutable once loaded, so the context never changes afterwards.
 */
#ifndef LUMI_WEB_GATEWAYS_H
#define LUMI_WEB_GATEWAYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "billing/checkout.h"
#include "gateways/paypal_sig.h"
#include "web/http.h"

#define GATEWAYS_MAX_SECRETS 8

/** The context for billing/checkout.h and webhooks.h (never NULL). */
const struct pay_ctx *gateways_ctx(void);

/** STRIPE_WEBHOOK_SECRET split at commas (rotation); *n = 0 when not configured. */
const char *const *gateways_stripe_secrets(size_t *n);

/** PAYPAL_CERT_HOSTS split at commas, NULL-terminated; NULL = the default (paypal.com). */
const char *const *gateways_paypal_cert_hosts(void);

/** The certificate cache for PayPal's local verification (NULL when out of memory). */
struct paypal_cert_cache *gateways_paypal_certs(void);

/* Shared by h_stripe.c and h_paypal.c. */

/** The invoice id of a checkout request (JSON {invoice_id} or form field); 0 when answered (400).
 */
int64_t checkout_invoice_id(struct web_req *req, struct web_resp *resp);

/** Answers a started checkout: JSON 200, or 303 to its url for a form post; err when NULL (a
 * form post then goes back to /client/invoices/{invoice_id} with the reason). Takes started. */
void checkout_reply(struct web_req *req, struct web_resp *resp, int64_t invoice_id,
                    json_t *started, const struct lumi_err *err);

/**
 * The buyer's words for a payment result (pay_outcome.result): *kind is the
 * flash kind (ok | warn | error | info), the text is constant.
 */
const char *payment_outcome_text(const char *result, const char **kind);

/** The audit actor of a gateway ("stripe" | "paypal") calling from ip / user_agent (borrowed). */
struct audit_actor gateway_actor(const char *gateway, const char *ip, const char *user_agent);

/**
 * A verified webhook on its way to the group commit: the parsed event, what
 * was prepared before the transaction (may be NULL), and the raw body and
 * caller borrowed from the request (valid until it is answered).
 */
struct webhook_delivery {
    json_t *event;
    json_t *prepared;
    const char *raw;
    size_t len;
    const char *ip;
    const char *user_agent;
};

/** Takes event and prepared (released even on failure); NULL when out of memory. */
struct webhook_delivery *webhook_delivery_new(const struct web_req *req, json_t *event,
                                              json_t *prepared);

/** Frees a delivery and what it holds (a free_arg for web_reply_after_commit). */
void webhook_delivery_free(void *arg);

struct webhook_outcome;
/**
 * Answers a webhook outcome: 200 {received, status, message, invoice_id?};
 * "retry" → 409; rc < 0 → the error. Returns 0 to keep the changes, < 0 to
 * roll them back (for web_tx_fn).
 */
int webhook_reply(struct web_resp *resp, int rc, const struct webhook_outcome *out,
                  const struct lumi_err *err);

#endif
