/*
 * webhooks.h — gateway events, applied exactly once.
 *
 * Each function runs inside the caller's open transaction (the HTTP layer's
 * group commit), so the event row, the effect and the audit rows commit
 * together, or not at all:
 *   1. look the event up in webhook_events (gateway, event id) — when it is
 *      there the outcome is "duplicate" and nothing else happens;
 *   2. apply the effect through payments_apply() / the checkouts table;
 *   3. insert the event's row with the outcome (status processed | ignored |
 *      failed, error = the readable reason), so an admin sees what arrived
 *      and what it did. Should a twin delivery have committed the same event
 *      in between, the outcome is "retry" instead.
 * Signatures are checked before (stripe_sig.h, paypal_sig.h, paypal.h).
 */
#ifndef LUMI_BILLING_WEBHOOKS_H
#define LUMI_BILLING_WEBHOOKS_H

#include <jansson.h>
#include <stddef.h>

#include "audit/audit.h"
#include "billing/checkout.h"
#include "core/err.h"
#include "db/db.h"

struct webhook_outcome {
    /* "processed" | "ignored" | "failed" | "duplicate": answer 200.
     * "retry": the caller must roll back and answer 409 so the gateway
     * delivers again later (a refund or dispute for a payment Lumi has not
     * recorded yet — deliveries arrive in any order). */
    char status[12];
    int64_t invoice_id; /* 0 when none */
    char message[240];  /* what it did or why not */
};

/**
 * Applies a verified Stripe event (ev = the parsed body, raw = the body as
 * received, stored on the row). Acts on the types of the contract:
 * checkout.session.completed / async_payment_succeeded (pay, must settle
 * exactly what is due), async_payment_failed and payment_intent.payment_failed
 * (PAYMENT_FAILED), checkout.session.expired (close the checkout unless
 * complete), charge.refunded (the increase of amount_refunded since the last
 * recorded total, through the payment_intent), charge.dispute.created
 * (chargeback, PAYMENT_DISPUTED). Other types → "ignored". An event that is
 * not Lumi's (no metadata.invoice_id, unknown payment_intent and no
 * invoice id) → "ignored"; an unknown invoice, wrong currency or amount →
 * "failed" with PAYMENT_MISMATCH audited.
 * Returns 0 with *out filled, or a negative LUMI_E* (database) code.
 */
int webhooks_stripe_apply(struct db *db, const struct audit_actor *actor, const json_t *ev,
                          const char *raw, size_t len, struct webhook_outcome *out,
                          struct lumi_err *err);

/**
 * Network work a PayPal event needs before its transaction, done outside
 * it: CHECKOUT.ORDER.APPROVED captures the order server-side (*prepared =
 * the captured order, or NULL with a failure noted in it as
 * {"error": "...", "issue": "..."} for a 422). Other events: *prepared =
 * NULL. LUMI_EUPSTREAM when PayPal could not be reached (→ answer 503 so
 * PayPal delivers again), LUMI_EBUSY when PayPal is not configured.
 */
int webhooks_paypal_prepare(const struct pay_ctx *ctx, const json_t *ev, json_t **prepared,
                            struct lumi_err *err);

/**
 * Applies a verified PayPal event (see the contract's table):
 * PAYMENT.CAPTURE.COMPLETED pays (if the capture call has not already),
 * DENIED/DECLINED → PAYMENT_FAILED, PENDING noted, REFUNDED → refund of that
 * capture's invoice (the capture id from links[rel=up]), REVERSED →
 * chargeback (PAYMENT_DISPUTED), CHECKOUT.ORDER.APPROVED → applies
 * `prepared`. Same conventions as webhooks_stripe_apply.
 */
int webhooks_paypal_apply(struct db *db, const struct audit_actor *actor, const json_t *ev,
                          const char *raw, size_t len, const json_t *prepared,
                          struct webhook_outcome *out, struct lumi_err *err);

/** Keyset page (newest first) of webhook_events without payload: {id, gateway, event_id,
 *  event_type, status, error, received_at, processed_at}. gateway/status may be NULL. */
json_t *webhooks_list(struct db *db, const char *gateway, const char *status, int64_t before_id,
                      int limit, int64_t *next_cursor, struct lumi_err *err);

/** One webhook_events row as webhooks_list answers it plus "payload" (the body as received,
 *  text), or NULL with LUMI_ENOTFOUND. */
json_t *webhooks_get(struct db *db, int64_t id, struct lumi_err *err);

#endif
