/*
 * payments.h — money arriving at and leaving invoices.
 *
 * payments_apply() is THE one path by which a payment, refund or chargeback
 * changes an invoice, whatever the gateway (Stripe and PayPal webhooks, the
 * buyer's return, the admin's manual payment). It runs inside the caller's
 * transaction so that the gateway's own bookkeeping (webhook event rows,
 * checkouts) commits or rolls back together with the invoice.
 */
#ifndef LUMI_BILLING_PAYMENTS_H
#define LUMI_BILLING_PAYMENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** What arrived. All strings borrowed. */
struct payment_in {
    const char *kind;        /* "payment" | "refund" | "chargeback" | "chargeback_reversal" */
    const char *gateway;     /* "stripe" | "paypal" | "manual" */
    const char *gateway_ref; /* unique per (gateway, kind): charge, refund, dispute id ... */
    int64_t amount;          /* minor units, > 0 */
    const char *currency;    /* three letters, either case */
    int64_t invoice_id;
    const json_t *details; /* optional object stored on the transactions row; borrowed */
    bool must_settle;      /* a payment must equal what is due exactly (a gateway checkout
                              made for the full amount), else PAYMENT_MISMATCH */
};

enum payment_outcome {
    PAYMENT_APPLIED = 1,   /* the invoice changed */
    PAYMENT_DUPLICATE = 2, /* this (gateway, kind, gateway_ref) was seen before: nothing changed */
    PAYMENT_MISMATCH = 3,  /* currency/amount/status do not fit: invoice unchanged, audited */
};

/** Filled by payments_apply when it returns 0 (untouched on an error). */
struct payment_result {
    enum payment_outcome outcome;
    int64_t transaction_id; /* the new row (0 for a duplicate) */
    char status[24];        /* the invoice's status afterwards */
    bool became_paid;       /* first time the invoice became paid */
    char message[200];      /* for a mismatch: why, readable by an admin */
};

/** Text form of an outcome: "applied", "duplicate", "mismatch". */
const char *payment_outcome_name(enum payment_outcome o);

/**
 * Applies p inside the caller's open transaction:
 * - inserts the transactions row; a (gateway, kind, gateway_ref) seen before
 *   → PAYMENT_DUPLICATE and nothing else happens (not an error);
 * - a currency other than the invoice's, a payment larger than what is due,
 *   a payment to a cancelled or fully paid invoice, a refund larger than
 *   what was paid and not refunded → PAYMENT_MISMATCH: no transactions row
 *   (so a corrected retry with the same reference can still apply), the
 *   invoice is not touched, PAYMENT_MISMATCH audited with expected and
 *   received — the audit row is the record that money arrived;
 *   except (issue 14) a gateway's (not a manual) payment in the
 *   invoice's currency larger than what is still due: it settles the due
 *   part and the surplus goes to the client's credit (ledger kind
 *   overpayment, once per transaction);
 *   a paid add-funds invoice credits its funds instead of provisioning;
 * - otherwise updates amount_paid / amount_refunded and the status
 *   (unpaid → partially_paid → paid; paid → partially_refunded → refunded;
 *   a chargeback is a refund of the disputed amount, a reversal gives it
 *   back), audits PAYMENT_RECEIVED / PAYMENT_REFUNDED / PAYMENT_DISPUTED, and
 *   when the invoice becomes paid for the first time sets paid_at, audits
 *   INVOICE_PAID and calls services_on_invoice_paid().
 * Errors: LUMI_EINVAL (bad input), LUMI_ENOTFOUND (no such invoice),
 * LUMI_EDB...; the caller then rolls back.
 */
int payments_apply(struct db *db, const struct audit_actor *actor, const struct payment_in *p,
                   struct payment_result *out, struct lumi_err *err);

/** The invoice's transactions, oldest first (new array; caller decrefs). */
json_t *payments_list_for_invoice(struct db *db, int64_t invoice_id, struct lumi_err *err);

/**
 * A manual payment by an admin (own transaction): body {amount, reference}
 * applied with gateway "manual" and gateway_ref = reference. Answers the
 * invoice (with items) plus "duplicate": true|false. A mismatch is
 * LUMI_ECONFLICT with a readable message; its PAYMENT_MISMATCH audit row is
 * committed all the same so the attempt stays on record.
 */
json_t *payments_manual(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                        const json_t *body, struct lumi_err *err);

#endif
