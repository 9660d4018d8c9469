/*
 * credit_apply.h — credit meeting invoices: paying an invoice from the
 * client's credit balance, and the add-funds invoice that fills it.
 *
 * Above payments.h and credit.h (it calls both; neither calls it). A payment
 * from credit is an ordinary payments_apply() with gateway "credit" and the
 * reference "ledger-<ledger row id>", so an invoice credit pays in full is
 * marked paid — and provisioned — by the one path every payment takes.
 */
#ifndef LUMI_BILLING_CREDIT_APPLY_H
#define LUMI_BILLING_CREDIT_APPLY_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/**
 * Inside the caller's transaction: pays as much of the invoice's due as the
 * client's balance in its currency covers (CREDIT_APPLIED, a ledger row
 * kind "applied", a transactions row gateway "credit", invoices.
 * credit_applied). *applied (may be NULL) gets the amount, 0 when there was
 * nothing to apply (no balance, nothing due, an add-funds invoice).
 */
int credit_apply_in_tx(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                       int64_t *applied, struct lumi_err *err);

/**
 * Inside the caller's transaction, for a new invoice (orders, renewals):
 * credit_apply_in_tx when the setting credit.auto_apply is on.
 */
int credit_auto_apply(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                      struct lumi_err *err);

/**
 * What credit_apply_in_tx would take now (no lock, for the invoice pages'
 * button): min(balance, due) of a payable invoice that is not an add-funds
 * one, else 0. *currency (8 bytes) gets the invoice's currency.
 */
int credit_available_for_invoice(struct db *db, int64_t invoice_id, int64_t *amount,
                                 char currency[8], struct lumi_err *err);

/**
 * The invoice page's "apply credit" (own transaction). client_id > 0 limits
 * it to that client's invoices (another's is LUMI_ENOTFOUND). LUMI_ECONFLICT
 * when nothing is due, the invoice is an add-funds one, or there is no
 * credit in its currency. Answers the invoice (invoices_get) plus
 * "credit_applied_now".
 */
json_t *credit_apply_invoice(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                             int64_t client_id, struct lumi_err *err);

/**
 * A client's "add funds" (own transaction): body {amount (CREDIT_FUNDS_MIN
 * to CREDIT_FUNDS_MAX minor units), currency? (default the client's)}
 * creates an unpaid invoice of kind add_funds with one "funds" line, to be
 * paid through the gateways. Answers the invoice.
 */
json_t *credit_add_funds(struct db *db, const struct audit_actor *actor, int64_t client_id,
                         const json_t *body, struct lumi_err *err);

#endif
