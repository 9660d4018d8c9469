/*
 * checkout.h — paying an invoice through a gateway: starting a Stripe
 * Checkout Session or a PayPal order for what is due, applying the Stripe
 * session when the buyer returns, and capturing the PayPal order.
 *
 * Gateway calls are made outside any database transaction; what they answer
 * is then applied in one transaction through payments_apply() — the same
 * path the webhooks take (webhooks.h), so whichever of the return and the
 * webhook comes first pays the invoice and the other changes nothing (both
 * use the same gateway reference: the PaymentIntent id for Stripe, the
 * capture id for PayPal).
 */
#ifndef LUMI_BILLING_CHECKOUT_H
#define LUMI_BILLING_CHECKOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"
#include "gateways/paypal.h"
#include "gateways/stripe.h"

/** What the gateways need from the installation. All borrowed. */
struct pay_ctx {
    const char *base_url;             /* LUMI_BASE_URL, no trailing slash */
    const struct stripe_conf *stripe; /* NULL: Stripe is not configured */
    struct paypal_client *paypal;     /* NULL: PayPal is not configured */
};

/** What applying a gateway answer did (return path, capture, webhook). */
struct pay_outcome {
    char result[16];         /* "paid" | "pending" | "failed" | "duplicate" | "mismatch" | "ignored" */
    int64_t invoice_id;      /* 0 when not known */
    char invoice_status[24]; /* afterwards; "" when no invoice */
    char message[240];       /* readable: why pending/failed/mismatch */
};

/**
 * Starts a Stripe Checkout for what is still due on the invoice. client_id
 * > 0 restricts to that client's invoices (another client's → LUMI_ENOTFOUND).
 * An open session recorded for the same invoice and amount and not about to
 * expire is answered again instead of creating another; otherwise a session
 * is created (one line item per invoice item plus one for an exclusive tax,
 * so amount_total is the invoice's taxed total; or one "Balance of INV-…"
 * line when partly paid or a line is negative; Idempotency-Key derived from
 * the invoice and the attempt number) and recorded in `checkouts` (status
 * open), audited CHECKOUT_CREATED. Answers {url, session_id}. Errors:
 * LUMI_ENOTFOUND, LUMI_ECONFLICT (nothing due: paid, cancelled, refunded),
 * LUMI_EBUSY (Stripe not configured → 503), LUMI_EUPSTREAM with Stripe's
 * message.
 */
json_t *checkout_stripe_start(struct db *db, const struct pay_ctx *ctx,
                              const struct audit_actor *actor, int64_t invoice_id,
                              int64_t client_id, struct lumi_err *err);

/**
 * The buyer came back to success_url. The session must be one recorded for
 * invoice_id (else LUMI_ENOTFOUND) and the invoice's returns within 5 a
 * minute (else LUMI_ETHROTTLED) — both checked before Stripe is asked; then
 * retrieves the session from Stripe (one attempt, 5 s), requires its
 * metadata.invoice_id to be invoice_id (else LUMI_EINVAL), and applies it
 * like checkout.session.completed in its own transaction. The caller admits
 * only the invoice's owner or a valid return token (checkout_return_token_ok).
 */
int checkout_stripe_return(struct db *db, const struct pay_ctx *ctx,
                           const struct audit_actor *actor, int64_t invoice_id,
                           const char *session_id, struct pay_outcome *out, struct lumi_err *err);

/** "EXPIRY.HEX" and its NUL. */
#define CHECKOUT_RETURN_TOKEN_MAX 96

/**
 * The return token in Stripe's success_url (rt=…): the invoice id and an
 * expiry (now + 48 h) signed with LUMI_SECRET_KEY. 0, or < 0 without a key.
 */
int checkout_return_token(int64_t invoice_id, int64_t now, char out[CHECKOUT_RETURN_TOKEN_MAX]);

/** Whether token is a return token for invoice_id that has not expired at now. */
bool checkout_return_token_ok(int64_t invoice_id, const char *token, int64_t now);

/**
 * PayPal twin of checkout_stripe_start: answers {url, order_id} (payer-action
 * or approve link). The items go with breakdown {item_total, tax_total} whose
 * sum, the order's value, is the invoice's taxed total.
 */
json_t *checkout_paypal_start(struct db *db, const struct pay_ctx *ctx,
                              const struct audit_actor *actor, int64_t invoice_id,
                              int64_t client_id, struct lumi_err *err);

/**
 * The buyer came back with ?token=<order id>: finds the checkout (unknown
 * order → LUMI_ENOTFOUND), captures it (PayPal-Request-Id derived from the
 * order, so a repeat is idempotent; ORDER_ALREADY_CAPTURED reads the order),
 * and applies the capture in one transaction: COMPLETED pays the invoice
 * after checking amount and currency; PENDING → "pending"; DECLINED/FAILED
 * → PAYMENT_FAILED audited, "failed"; 422 ORDER_NOT_APPROVED /
 * INSTRUMENT_DECLINED → "failed" with PayPal's reason (not an error).
 * out->invoice_id is always set for the redirect.
 */
int checkout_paypal_capture(struct db *db, const struct pay_ctx *ctx,
                            const struct audit_actor *actor, const char *order_id,
                            struct pay_outcome *out, struct lumi_err *err);

#endif
