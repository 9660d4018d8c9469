/*
 * credit.h — a client's credit balance per currency, kept on a ledger.
 *
 * The bottom of the credit feature: it knows balances and the ledger, never
 * invoices' payment logic, so payments.c may call it (an over-payment's
 * surplus, an add-funds invoice paid) without a circle. Applying credit to an
 * invoice — a payment from credit — lives above payments in credit_apply.h.
 *
 * Every change is one credit_ledger row with the balance after it plus one
 * audit row, inside the caller's transaction. A spend is a guarded UPDATE
 * (… WHERE balance >= amount), so concurrent spends can never overdraw a
 * balance (the CHECK (balance >= 0) backs it up).
 */
#ifndef LUMI_BILLING_CREDIT_H
#define LUMI_BILLING_CREDIT_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** The bounds of an admin's change and of an add-funds amount, minor units. */
#define CREDIT_ADJUST_MAX INT64_C(100000000000) /* 1,000,000,000.00 */
#define CREDIT_FUNDS_MIN INT64_C(100)
#define CREDIT_FUNDS_MAX INT64_C(10000000) /* 100,000.00 in a two-decimal currency */

/** One change. Strings borrowed. */
struct credit_change {
    int64_t client_id;
    const char *currency;   /* three letters, either case */
    int64_t amount;         /* > 0 adds, < 0 spends; never 0 */
    const char *kind;       /* ledger kind: overpayment, admin, add_funds, applied */
    const char *action;     /* audit action: CREDIT_ADDED, CREDIT_REMOVED, CREDIT_APPLIED */
    int64_t invoice_id;     /* 0: none */
    int64_t transaction_id; /* 0: none; (transaction_id, kind) is unique */
    const char *note;       /* reason shown in the ledger; may be NULL */
};

/**
 * Applies c inside the caller's open transaction: the balance, one ledger
 * row (its id in *ledger_id, may be NULL) and the audit row (entity
 * "client"). A spend larger than the balance is LUMI_ECONFLICT ("the credit
 * balance is X, less than Y") and changes nothing. A (transaction_id, kind)
 * recorded before answers 1 and changes nothing (a replayed payment).
 */
int credit_change_in_tx(struct db *db, const struct audit_actor *actor,
                        const struct credit_change *c, int64_t *ledger_id, struct lumi_err *err);

/**
 * An add-funds invoice became paid (payments_apply, in its transaction):
 * the sum of its "funds" lines goes to the client's credit (ledger kind
 * add_funds, tied to transaction_id so it happens once).
 */
int credit_on_funds_paid(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                         int64_t client_id, const char *currency, int64_t transaction_id,
                         struct lumi_err *err);

/** The balance (0 when none) of a client in a currency. */
int credit_balance(struct db *db, int64_t client_id, const char *currency, int64_t *balance,
                   struct lumi_err *err);

/** Sets a ledger row's transaction (the payment a spend became). */
int credit_ledger_link(struct db *db, int64_t ledger_id, int64_t transaction_id,
                       struct lumi_err *err);

/**
 * {client_id, balances: [{currency, balance}], ledger: [{id, currency, amount,
 * balance_after, kind, invoice_id, transaction_id, note, created_at}],
 * next_cursor} — the ledger newest first, a page of at most limit rows
 * with ids below before_id (0: from the newest). LUMI_ENOTFOUND when the
 * client does not exist.
 */
json_t *credit_get(struct db *db, int64_t client_id, int64_t before_id, int limit,
                   struct lumi_err *err);

/**
 * The admin's change (own transaction): body {amount (+ add, − remove, not
 * 0), currency, reason (required)}. Removing more than the balance is
 * LUMI_ECONFLICT. Answers credit_get's first page.
 */
json_t *credit_admin_adjust(struct db *db, const struct audit_actor *actor, int64_t client_id,
                            const json_t *body, struct lumi_err *err);

#endif
