/*
 * pay_apply.h — private to src/billing: what the webhooks (webhooks.c) and
 * the buyer's return / capture (checkout.c) share, so that both paths apply
 * a Stripe session or a PayPal capture through the very same code and
 * therefore the very same gateway reference (the PaymentIntent id, the
 * capture id): whichever comes second is a duplicate.
 *
 * Everything here runs inside the caller's open transaction.
 */
#ifndef LUMI_BILLING_PAY_APPLY_H
#define LUMI_BILLING_PAY_APPLY_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "billing/checkout.h"
#include "core/err.h"
#include "db/db.h"

#define PA_ID_MAX 256

/** What Lumi reads from a Stripe checkout.session. Strings "" when absent. */
struct pa_session {
    char id[PA_ID_MAX];
    char payment_status[24];
    char currency[8];
    int64_t amount_total; /* -1 when absent */
    char invoice_raw[64]; /* metadata.invoice_id as given ("" when absent) */
    int64_t invoice_id;   /* the same as a positive integer, 0 when not one */
    char payment_intent[PA_ID_MAX];
};

/** What Lumi reads from a PayPal capture or refund object. */
struct pa_capture {
    char id[PA_ID_MAX];
    char status[32];
    char currency[8];              /* lower-case when valid */
    int64_t amount;                /* minor units, -1 when absent or unparseable */
    char invoice_raw[64];          /* custom_id as given */
    int64_t invoice_id;            /* custom_id as a positive integer, 0 otherwise */
    char order_id[PA_ID_MAX];      /* supplementary_data.related_ids.order_id */
    char up_capture_id[PA_ID_MAX]; /* refunds: the capture of links[rel=up] */
    char reason[128];              /* status_details.reason */
};

/** Reads a checkout.session object (never fails on missing fields; LUMI_EINVAL when not an object).
 */
int pa_session_read(const json_t *obj, struct pa_session *s, struct lumi_err *err);

/** Reads a capture/refund object likewise. */
int pa_capture_read(const json_t *obj, struct pa_capture *c, struct lumi_err *err);

/** "<gateway>/<event id>" context for audit details; event_id may be NULL (return path). */
struct pa_src {
    const char *gateway;  /* "stripe" | "paypal" */
    const char *event_id; /* NULL outside a webhook */
};

/**
 * Applies a Stripe session whose payment may have completed: "ignored" (no
 * metadata.invoice_id), "failed" (no such invoice: PAYMENT_MISMATCH
 * audited), "pending" (payment_status unpaid), "paid", "duplicate" (that
 * PaymentIntent is already recorded), "mismatch" (amount/currency; audited
 * by payments_apply). Marks the checkouts row complete (or failed on a
 * mismatch). Negative LUMI_E* on a database error.
 */
int pa_stripe_session(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                      const struct pa_session *s, struct pay_outcome *out, struct lumi_err *err);

/**
 * Applies a PayPal capture (status COMPLETED pays, PENDING "pending",
 * DECLINED/DENIED/FAILED → PAYMENT_FAILED and "failed"). The invoice comes
 * from custom_id, else from the checkouts row of the order (order_id, or
 * c->order_id when NULL). Same outcomes as pa_stripe_session.
 */
int pa_paypal_capture(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                      const struct pa_capture *c, const char *order_id, struct pay_outcome *out,
                      struct lumi_err *err);

/**
 * 1 when invoice id exists, 0 when not (then PAYMENT_MISMATCH is audited
 * against entity invoice / raw and out->message says so), < 0 on error.
 */
int pa_invoice_check(struct db *db, const struct audit_actor *actor, const char *raw, int64_t id,
                     json_t *details, struct pay_outcome *out, struct lumi_err *err);

/** Audits PAYMENT_FAILED {gateway, event_id, reference, invoice_id, amount, currency, message}. */
int pa_audit_failed(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                    const char *reference, int64_t invoice_id, int64_t amount, const char *currency,
                    const char *message, struct lumi_err *err);

/**
 * Sets a checkouts row's status (and updated_at) unless it is already one
 * of the NULL-terminated `keep` statuses (keep may be NULL). *changed (may be
 * NULL) = rows changed.
 */
int pa_checkout_set(struct db *db, const char *gateway, const char *ref, const char *status,
                    const char *const *keep, int64_t *changed, struct lumi_err *err);

/** The invoice of a checkouts row; 0 when there is none. */
int pa_checkout_invoice(struct db *db, const char *gateway, const char *ref, int64_t *invoice_id,
                        struct lumi_err *err);

#endif
