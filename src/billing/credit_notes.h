/*
 * credit_notes.h — credit notes: the numbered documents of money given back.
 *
 * An issued invoice never changes; a correction or a refund is a credit
 * note against it (table credit_notes): a number from
 * credit_note.number_format (billing/docnum), the amount (gross, tax
 * included, > 0) and its tax part, a reason, and the seller and buyer frozen
 * as they stand on the invoice.
 *
 * Two ways one is made:
 * - by an admin, POST /api/admin/invoices/{id}/credit-notes {amount,
 *   reason}: the amount is at most what the invoice still holds — paid,
 *   minus refunded (refunds, whose notes are made automatically, and
 *   chargebacks), minus the admins' earlier credit notes;
 * - automatically, for every refund recorded by payments_apply (Stripe,
 *   PayPal), in the refund's own transaction, one per refund transaction
 *   (credit_notes.transaction_id is unique; a replayed refund makes none).
 *
 * Tax part: invoice tax × amount / invoice total, rounded half away from
 * zero to the minor unit (0 when the invoice's total or tax is 0).
 *
 * JSON of a note: {id, number, invoice_id, invoice_number, client_id,
 * currency, amount, tax, reason, transaction_id (null for a manual one),
 * seller, buyer, created_at}.
 */
#ifndef LUMI_BILLING_CREDIT_NOTES_H
#define LUMI_BILLING_CREDIT_NOTES_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

#define CREDIT_NOTE_REASON_MAX 500

/**
 * Inside the caller's transaction (payments_apply, for a refund it has just
 * recorded as transaction_id): makes the refund's credit note of amount and
 * audits CREDIT_NOTE_CREATED. A note for that transaction already there:
 * nothing is done. *id_out (may be NULL) gets the note's id (0 when none
 * was made).
 */
int credit_notes_for_refund(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                            int64_t transaction_id, int64_t amount, const char *reason,
                            int64_t *id_out, struct lumi_err *err);

/**
 * The admin's POST /api/admin/invoices/{id}/credit-notes (own transaction):
 * body {amount (minor units, >= 1), reason (1 to 500 characters)}.
 * LUMI_ENOTFOUND for no such invoice; LUMI_EINVAL naming the field
 * ("field 'amount': at most 500 can be credited ..."). Answers the note.
 */
json_t *credit_notes_create_json(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                                 const json_t *body, struct lumi_err *err);

/** One note as above, or NULL with LUMI_ENOTFOUND. */
json_t *credit_notes_get(struct db *db, int64_t id, struct lumi_err *err);

/** Keyset page (ascending ids) of notes, without seller and buyer. */
json_t *credit_notes_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                          struct lumi_err *err);

/**
 * Adds "credit_notes": [{id, number, amount, tax, reason, transaction_id,
 * created_at}] (oldest first) to inv, the invoice JSON of invoice_id.
 */
int credit_notes_add_to_invoice_json(struct db *db, int64_t invoice_id, json_t *inv,
                                     struct lumi_err *err);

#endif
