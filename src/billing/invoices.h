/*
 * invoices.h — invoices as orders and renewals create them.
 *
 * (The payment side — gateways, partial payments, refunds — extends this
 * module in its own issue.) Numbers follow invoice.number_format (default
 * "INV-{SEQ:6}": "INV-000001", …) and are gapless per sequence: taken by
 * billing/docnum in the caller's transaction, so a rolled-back invoice does
 * not use one. The seller and buyer are frozen on the invoice when it is
 * created (billing/parties); items and totals never change afterwards.
 */
#ifndef LUMI_BILLING_INVOICES_H
#define LUMI_BILLING_INVOICES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

struct invoice_item_in {
    const char *description;
    int64_t quantity;          /* > 0 */
    int64_t unit_amount;       /* minor units, >= 0 */
    int64_t service_id;        /* 0: none */
    const char *kind;          /* "setup" | "recurring" | "other" | "funds" | "discount" (the
                                  one kind whose unit_amount may be < 0) */
    const char *period_start;  /* ISO-8601 or NULL */
    const char *period_end;
};

/**
 * Creates an unpaid invoice with items inside the caller's transaction and
 * audits INVOICE_CREATED. Totals are computed here (subtotal = Σ quantity ×
 * unit_amount, checked for overflow; tax and total by tax_apply_invoice,
 * see billing/tax.h). *id_out gets the id.
 */
int invoices_create(struct db *db, const struct audit_actor *actor, int64_t client_id,
                    const char *currency, const char *due_date,
                    const struct invoice_item_in *items, size_t nitems, int64_t *id_out,
                    struct lumi_err *err);

/** {id, number, client_id, status, currency, subtotal, tax, total, amount_paid,
 *  amount_refunded, due_date, paid_at, items:[…], kind, seller, buyer (null on invoices
 *  older than issue 14), credit_notes:[…]} or NULL with LUMI_ENOTFOUND. */
json_t *invoices_get(struct db *db, int64_t id, struct lumi_err *err);

/** Statuses an invoice can have, NULL-terminated (for ?status= filters). */
extern const char *const INVOICE_STATUSES[];

/**
 * The admin's POST /api/admin/invoices (own transaction): body {client_id,
 * currency, due_date? (YYYY-MM-DD, default today), items: [{description,
 * quantity, unit_amount, service_id?}]}. LUMI_EINVAL naming the field
 * ("items[2].quantity ..."). Answers the invoice as invoices_get does.
 */
json_t *invoices_create_json(struct db *db, const struct audit_actor *actor, const json_t *body,
                             struct lumi_err *err);

/** Keyset page (ascending ids) of invoices without items, optionally of one status. */
json_t *invoices_list(struct db *db, const char *status, int64_t after_id, int limit,
                      int64_t *next_cursor, struct lumi_err *err);

/** Whose invoices invoices_list_of answers. */
enum invoices_owner { INVOICES_OF_CLIENT, INVOICES_OF_SERVICE };

/** As invoices_list, only those of one client, or those with an item of one service. */
json_t *invoices_list_of(struct db *db, enum invoices_owner owner, int64_t owner_id,
                         int64_t after_id, int limit, int64_t *next_cursor, struct lumi_err *err);

/**
 * Cancels an unpaid invoice with nothing paid (own transaction) and audits
 * INVOICE_CANCELLED. LUMI_ECONFLICT naming the status otherwise,
 * LUMI_ENOTFOUND when there is no such invoice.
 */
int invoices_cancel(struct db *db, const struct audit_actor *actor, int64_t id,
                    struct lumi_err *err);

/* ---- issue 13: cancellations and upgrades ------------------------------ */

/**
 * As invoices_create, plus, when credit > 0, one credit line after the items:
 * description, quantity 1, unit_amount -credit (at most the items' sum, so
 * the total stays >= 0), kind "other", for credit_service_id (0: none). The
 * invoice's number goes into number_out (number_size bytes; NULL: not asked),
 * sparing the caller a read (a renewal's log line).
 */
int invoices_create_credited(struct db *db, const struct audit_actor *actor, int64_t client_id,
                             const char *currency, const char *due_date,
                             const struct invoice_item_in *items, size_t nitems,
                             const char *credit_description, int64_t credit,
                             int64_t credit_service_id, int64_t *id_out, char *number_out,
                             size_t number_size, struct lumi_err *err);

/**
 * Inside the caller's transaction: cancels an unpaid invoice with nothing
 * paid and audits INVOICE_CANCELLED with why (e.g. "service cancelled").
 * LUMI_ECONFLICT when it is not unpaid or something was paid.
 */
int invoices_cancel_in_tx(struct db *db, const struct audit_actor *actor, int64_t id,
                          const char *why, struct lumi_err *err);

/**
 * Inside the caller's transaction: an unpaid invoice whose total is 0 (an
 * order with nothing to pay, a renewal a credit covered entirely) is marked
 * paid and audited INVOICE_PAID {gateway "none", settled "zero_total"}.
 * *settled (may be NULL) tells whether it was; an invoice that is not an
 * unpaid 0 invoice is left alone.
 */
int invoices_settle_zero(struct db *db, const struct audit_actor *actor, int64_t id, bool *settled,
                         struct lumi_err *err);

/* ---- issue 14: credit and coupons -------------------------------------- */

/** Inside the caller's transaction: makes a new invoice an add-funds one (kind 'add_funds'). */
int invoices_mark_add_funds(struct db *db, int64_t id, struct lumi_err *err);

/** Inside the caller's transaction: records amount more paid from credit (credit_applied). */
int invoices_add_credit_applied(struct db *db, int64_t id, int64_t amount, struct lumi_err *err);

/** Inside the caller's transaction: records a new invoice's coupon discount (invoices.discount). */
int invoices_set_discount(struct db *db, int64_t id, int64_t discount, struct lumi_err *err);

#endif
