/*
 * payments.c — applies payments, refunds and chargebacks to invoices (see
 * payments.h); owns the SQL over `transactions` and the money columns and
 * status of `invoices`.
 *
 * Order of work inside the caller's transaction: lock the invoice row (FOR
 * UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write
 * lock), look the reference up (a duplicate wins over everything else, so a
 * redelivered payment of a now-paid invoice is a no-op and not a mismatch),
 * decide, then write. The transactions row is inserted with ON CONFLICT DO
 * NOTHING before anything else is written, so a concurrent twin that slipped
 * past the look-up still ends as a duplicate with nothing changed.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 * Money is int64 minor units; every sum is overflow-checked.
 */
#include "billing/payments.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "billing/credit.h"
#include "billing/credit_notes.h"
#include "billing/invoices.h"
#include "core/json.h"
#include "core/money.h"
#include "core/utc.h"
#include "events/events.h"
#include "provisioning/services.h"

#define REF_MAX 255

static const char SQL_INVOICE[] =
    "SELECT status, currency, total, amount_paid, amount_refunded, paid_at, client_id, kind"
    " FROM invoices WHERE id = $1";
static const char SQL_INVOICE_LOCKED[] =
    "SELECT status, currency, total, amount_paid, amount_refunded, paid_at, client_id, kind"
    " FROM invoices WHERE id = $1 FOR UPDATE";

static const char SQL_SEEN[] =
    "SELECT id FROM transactions WHERE gateway = $1 AND kind = $2 AND gateway_ref = $3";

static const char SQL_INSERT_TX[] =
    "INSERT INTO transactions (invoice_id, gateway, kind, gateway_ref, amount, currency, status,"
    " details, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7, $8)"
    " ON CONFLICT (gateway, kind, gateway_ref) DO NOTHING RETURNING id";

static const char SQL_UPDATE_INVOICE[] =
    "UPDATE invoices SET status = $2, amount_paid = $3, amount_refunded = $4,"
    " paid_at = COALESCE(paid_at, $5), updated_at = $6 WHERE id = $1";

static const char SQL_LIST_TX[] =
    "SELECT id, gateway, kind, gateway_ref, amount, currency, status, details, created_at"
    " FROM transactions WHERE invoice_id = $1 ORDER BY id";

static const char *const KINDS[] = {"payment", "refund", "chargeback", "chargeback_reversal", NULL};
static const char *const GATEWAYS[] = {"stripe", "paypal", "manual", "credit", NULL};

struct invoice_state {
    char status[24];
    char currency[8];
    int64_t total, paid, refunded;
    bool was_paid_before; /* paid_at is set */
    int64_t client_id;
    bool add_funds; /* kind 'add_funds': paid means credit, not provisioning */
};

const char *payment_outcome_name(enum payment_outcome o)
{
    switch (o) {
    case PAYMENT_APPLIED:
        return "applied";
    case PAYMENT_DUPLICATE:
        return "duplicate";
    case PAYMENT_MISMATCH:
        return "mismatch";
    }
    return "unknown";
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static int bind_fail(struct lumi_err *err)
{
    return err_set(err, LUMI_EDB, "cannot bind a parameter");
}

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static int check_input(const struct payment_in *p, struct lumi_err *err)
{
    if (!in_list(p->kind, KINDS))
        return err_set(err, LUMI_EINVAL,
                       "kind must be one of payment, refund, chargeback, chargeback_reversal");
    if (!in_list(p->gateway, GATEWAYS))
        return err_set(err, LUMI_EINVAL, "gateway must be one of stripe, paypal, manual, credit");
    if (p->gateway_ref == NULL || p->gateway_ref[0] == '\0' || strlen(p->gateway_ref) > REF_MAX)
        return err_set(err, LUMI_EINVAL, "the reference must be 1 to %d bytes", REF_MAX);
    if (p->amount <= 0)
        return err_set(err, LUMI_EINVAL, "the amount must be a positive number of minor units");
    if (p->currency == NULL || !money_currency_valid(p->currency))
        return err_set(err, LUMI_EINVAL, "unknown currency '%s'",
                       p->currency != NULL ? p->currency : "");
    if (p->invoice_id <= 0)
        return err_set(err, LUMI_EINVAL, "a payment needs an invoice id");
    if (p->details != NULL && !json_is_object(p->details))
        return err_set(err, LUMI_EINVAL, "payment details must be a JSON object");
    return 0;
}

static int load_invoice(struct db *db, int64_t id, struct invoice_state *inv, struct lumi_err *err)
{
    int rc;
    const char *sql = db_kind(db) == DB_POSTGRES ? SQL_INVOICE_LOCKED : SQL_INVOICE;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", id);
        goto out;
    }
    if (rc < 0)
        goto out;
    if (snprintf(inv->status, sizeof inv->status, "%s", db_col_text(st, 0)) >=
            (int)sizeof inv->status ||
        snprintf(inv->currency, sizeof inv->currency, "%s", db_col_text(st, 1)) >=
            (int)sizeof inv->currency) {
        rc = err_set(err, LUMI_EINTERNAL, "invoice %" PRId64 " has a malformed row", id);
        goto out;
    }
    inv->total = db_col_int64(st, 2);
    inv->paid = db_col_int64(st, 3);
    inv->refunded = db_col_int64(st, 4);
    inv->was_paid_before = !db_col_is_null(st, 5);
    inv->client_id = db_col_int64(st, 6);
    inv->add_funds = strcmp(db_col_text(st, 7), "add_funds") == 0;
    rc = 0;
out:
    db_finalize(st);
    return rc;
}

/* 1 when the reference was seen before, 0 when not. */
static int seen_before(struct db *db, const struct payment_in *p, struct lumi_err *err)
{
    int64_t id = 0;
    const char *params[] = {p->gateway, p->kind, p->gateway_ref};
    return db_query_int64_opt(db, SQL_SEEN, 3, params, &id, err);
}

/*
 * Decides the invoice's new money columns and status. Returns 0 when the
 * movement applies, 1 with *why filled when it is a mismatch (the invoice
 * must not change), or LUMI_EINVAL on overflow.
 */
static int decide(const struct payment_in *p, const struct invoice_state *inv, int64_t *paid,
                  int64_t *refunded, const char **status, int64_t *expected, char *why,
                  size_t whysz, struct lumi_err *err)
{
    int64_t due = inv->total - inv->paid;
    int64_t refundable = inv->paid - inv->refunded;
    *paid = inv->paid;
    *refunded = inv->refunded;
    *expected = 0;
    if (strcasecmp(p->currency, inv->currency) != 0) {
        snprintf(why, whysz, "the invoice is in %s, the %s is in %s", inv->currency, p->kind,
                 p->currency);
        return 1;
    }
    if (strcmp(inv->status, "cancelled") == 0) {
        snprintf(why, whysz, "the invoice is cancelled");
        return 1;
    }
    if (strcmp(p->kind, "payment") == 0) {
        *expected = due;
        if (strcmp(inv->status, "unpaid") != 0 && strcmp(inv->status, "partially_paid") != 0) {
            snprintf(why, whysz, "the invoice is %s: nothing is due", inv->status);
            return 1;
        }
        if (p->amount > due) {
            snprintf(why, whysz,
                     "the payment of %" PRId64 " is more than the %" PRId64 " still due", p->amount,
                     due);
            return 1;
        }
        if (p->must_settle && p->amount != due) {
            snprintf(why, whysz,
                     "the payment of %" PRId64 " does not settle the %" PRId64 " still due",
                     p->amount, due);
            return 1;
        }
        if (__builtin_add_overflow(inv->paid, p->amount, paid))
            return err_set(err, LUMI_EINVAL, "the amount paid would overflow");
        *status = *paid == inv->total ? "paid" : "partially_paid";
        return 0;
    }
    if (strcmp(p->kind, "chargeback_reversal") == 0) {
        *expected = inv->refunded;
        if (p->amount > inv->refunded) {
            snprintf(why, whysz,
                     "the reversal of %" PRId64 " is more than the %" PRId64 " refunded", p->amount,
                     inv->refunded);
            return 1;
        }
        *refunded = inv->refunded - p->amount;
        if (*refunded > 0)
            *status = "partially_refunded";
        else
            *status = inv->paid == inv->total ? "paid" : "partially_paid";
        return 0;
    }
    /* refund or chargeback: money going back out */
    *expected = refundable;
    if (p->amount > refundable) {
        snprintf(why, whysz,
                 "the %s of %" PRId64 " is more than the %" PRId64 " paid and not refunded",
                 p->kind, p->amount, refundable);
        return 1;
    }
    if (__builtin_add_overflow(inv->refunded, p->amount, refunded))
        return err_set(err, LUMI_EINVAL, "the amount refunded would overflow");
    *status = *refunded == inv->paid ? "refunded" : "partially_refunded";
    return 0;
}

/* Inserts the row; *tx_id = 0 when a concurrent twin got there first. */
static int insert_tx(struct db *db, const struct payment_in *p, const char *now, int64_t *tx_id,
                     struct lumi_err *err)
{
    int rc;
    char *details = NULL;
    char currency[4];
    struct db_stmt *st = NULL;
    *tx_id = 0;
    rc = money_currency_normalize(p->currency, currency);
    if (rc < 0) {
        rc = err_set(err, LUMI_EINVAL, "unknown currency '%s'", p->currency);
        goto out;
    }
    details = p->details != NULL ? jsonx_dump(p->details) : NULL;
    if (p->details != NULL && details == NULL) {
        rc = nomem(err);
        goto out;
    }
    st = db_prepare(db, SQL_INSERT_TX, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    if (db_bind_int64(st, 1, p->invoice_id) < 0 || db_bind_text(st, 2, p->gateway) < 0 ||
        db_bind_text(st, 3, p->kind) < 0 || db_bind_text(st, 4, p->gateway_ref) < 0 ||
        db_bind_int64(st, 5, p->amount) < 0 || db_bind_text(st, 6, currency) < 0 ||
        db_bind_text(st, 7, details != NULL ? details : "{}") < 0 || db_bind_text(st, 8, now) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        *tx_id = db_col_int64(st, 0);
        rc = 0;
    }
out:
    db_finalize(st);
    free(details);
    return rc < 0 ? rc : 0;
}

static int update_invoice(struct db *db, int64_t id, const char *status, int64_t paid,
                          int64_t refunded, const char *paid_at, const char *now,
                          struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_UPDATE_INVOICE, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, id) < 0 || db_bind_text(st, 2, status) < 0 ||
        db_bind_int64(st, 3, paid) < 0 || db_bind_int64(st, 4, refunded) < 0 ||
        db_bind_text(st, 5, paid_at) < 0 || db_bind_text(st, 6, now) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc > 0)
        rc = err_set(err, LUMI_EDB, "an UPDATE returned rows");
out:
    db_finalize(st);
    return rc;
}

/* The common audit details: gateway, reference, amount, currency, invoice. */
static json_t *movement_details(const struct payment_in *p)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "gateway", p->gateway, "kind", p->kind,
                     "gateway_ref", p->gateway_ref, "amount", (json_int_t)p->amount, "currency",
                     p->currency, "invoice_id", (json_int_t)p->invoice_id);
}

static int audit_mismatch(struct db *db, const struct audit_actor *actor,
                          const struct payment_in *p, const struct invoice_state *inv,
                          int64_t expected, const char *why, struct lumi_err *err)
{
    int rc;
    json_t *d = movement_details(p);
    if (d == NULL)
        return nomem(err);
    json_t *exp = json_pack("{s:I, s:s, s:s}", "amount", (json_int_t)expected, "currency",
                            inv->currency, "invoice_status", inv->status);
    json_t *rec = json_pack("{s:I, s:s}", "amount", (json_int_t)p->amount, "currency", p->currency);
    if (json_object_set_new(d, "expected", exp) < 0 ||
        json_object_set_new(d, "received", rec) < 0 || jsonx_set_str(d, "reason", why) < 0) {
        rc = nomem(err);
        goto out;
    }
    rc = audit_append_id(db, actor, "PAYMENT_MISMATCH", "invoice", p->invoice_id, d, err);
out:
    json_decref(d);
    return rc;
}

static const char *audit_action(const char *kind)
{
    if (strcmp(kind, "payment") == 0)
        return "PAYMENT_RECEIVED";
    if (strcmp(kind, "refund") == 0)
        return "PAYMENT_REFUNDED";
    return "PAYMENT_DISPUTED"; /* chargeback and its reversal */
}

/* The outgoing event of a movement (issue 16); chargebacks have none (yet). */
static const char *event_type(const char *kind)
{
    if (strcmp(kind, "payment") == 0)
        return "payment.received";
    if (strcmp(kind, "refund") == 0)
        return "payment.refunded";
    return NULL;
}

static int audit_applied(struct db *db, const struct audit_actor *actor, const struct payment_in *p,
                         int64_t tx_id, const char *from, const char *to, int64_t paid,
                         int64_t refunded, struct lumi_err *err)
{
    int rc;
    json_t *d = movement_details(p);
    if (d == NULL)
        return nomem(err);
    if (jsonx_set_int(d, "transaction_id", tx_id) < 0 ||
        jsonx_set_str(d, "status_from", from) < 0 || jsonx_set_str(d, "status_to", to) < 0 ||
        jsonx_set_int(d, "amount_paid", paid) < 0 ||
        jsonx_set_int(d, "amount_refunded", refunded) < 0) {
        rc = nomem(err);
        goto out;
    }
    rc = audit_append_id(db, actor, audit_action(p->kind), "invoice", p->invoice_id, d, err);
    if (rc == 0 && event_type(p->kind) != NULL) /* outgoing event (issue 16) */
        rc = events_emit(db, event_type(p->kind), "invoice", p->invoice_id,
                         json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "id",
                                   (json_int_t)tx_id, "object", p->kind, "invoice_id",
                                   (json_int_t)p->invoice_id, "amount", (json_int_t)p->amount,
                                   "currency", p->currency, "gateway", p->gateway, "gateway_ref",
                                   p->gateway_ref, "invoice_status", to, "amount_paid",
                                   (json_int_t)paid, "amount_refunded", (json_int_t)refunded),
                         err);
out:
    json_decref(d);
    return rc;
}

static int audit_paid(struct db *db, const struct audit_actor *actor, const struct payment_in *p,
                      int64_t total, struct lumi_err *err)
{
    json_t *d = json_pack("{s:s, s:s, s:I, s:s}", "gateway", p->gateway, "gateway_ref",
                          p->gateway_ref, "total", (json_int_t)total, "currency", p->currency);
    if (d == NULL)
        return nomem(err);
    int rc = audit_append_id(db, actor, "INVOICE_PAID", "invoice", p->invoice_id, d, err);
    json_decref(d);
    if (rc == 0) /* outgoing event (issue 16) */
        rc = events_emit(db, "invoice.paid", "invoice", p->invoice_id,
                         json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s}", "id",
                                   (json_int_t)p->invoice_id, "object", "invoice", "total",
                                   (json_int_t)total, "currency", p->currency, "status", "paid",
                                   "gateway", p->gateway, "gateway_ref", p->gateway_ref),
                         err);
    return rc;
}

/* ---- issue 14: over-payments and add funds go to credit ----------------- */

/*
 * What a payment brings beyond what is due, when it can be kept as credit: a
 * gateway's payment in the invoice's currency to an invoice that still has
 * something due. Anything else (another currency, a paid or cancelled
 * invoice) stays a mismatch as before — and so does an admin's manual
 * payment, where a larger amount is far more often a typing slip than money
 * (the admin records what is due and adds the rest as credit with a reason).
 */
static int64_t overpayment_surplus(const struct payment_in *p, const struct invoice_state *inv)
{
    int64_t due = inv->total - inv->paid;
    if (strcmp(p->kind, "payment") != 0 || strcmp(p->gateway, "manual") == 0 ||
        strcasecmp(p->currency, inv->currency) != 0 ||
        (strcmp(inv->status, "unpaid") != 0 && strcmp(inv->status, "partially_paid") != 0) ||
        due <= 0 || p->amount <= due)
        return 0;
    return p->amount - due;
}

/* The surplus to the client's credit, tied to the payment's transaction (a replay adds nothing). */
static int surplus_to_credit(struct db *db, const struct audit_actor *actor,
                             const struct payment_in *p, const struct invoice_state *inv,
                             int64_t surplus, int64_t tx_id, struct lumi_err *err)
{
    char note[120];
    snprintf(note, sizeof note, "Over-payment of invoice %" PRId64 " (%s %.80s)", p->invoice_id,
             p->gateway, p->gateway_ref);
    struct credit_change c = {.client_id = inv->client_id,
                              .currency = inv->currency,
                              .amount = surplus,
                              .kind = "overpayment",
                              .action = "CREDIT_ADDED",
                              .invoice_id = p->invoice_id,
                              .transaction_id = tx_id,
                              .note = note};
    int rc = credit_change_in_tx(db, actor, &c, NULL, err);
    return rc < 0 ? rc : 0;
}

/* A paid add-funds invoice: its funds lines become credit instead of provisioning. */
static int paid_add_funds(struct db *db, const struct audit_actor *actor,
                          const struct payment_in *p, const struct invoice_state *inv,
                          int64_t tx_id, struct lumi_err *err)
{
    int rc = credit_on_funds_paid(db, actor, p->invoice_id, inv->client_id, inv->currency, tx_id,
                                  err);
    return rc < 0 ? rc : 0;
}

int payments_apply(struct db *db, const struct audit_actor *actor, const struct payment_in *p,
                   struct payment_result *out, struct lumi_err *err)
{
    struct lumi_err local;
    struct invoice_state inv = {0};
    struct payment_result res = {0};
    char now[UTC_ISO_LEN];
    int64_t paid = 0, refunded = 0, expected = 0, tx_id = 0;
    const char *status = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!db_in_tx(db)) {
        rc = err_set(err, LUMI_EINTERNAL, "payments_apply needs an open transaction");
        goto out;
    }
    rc = p != NULL ? check_input(p, err) : err_set(err, LUMI_EINVAL, "no payment given");
    if (rc < 0)
        goto out;
    rc = load_invoice(db, p->invoice_id, &inv, err);
    if (rc < 0)
        goto out;
    snprintf(res.status, sizeof res.status, "%s", inv.status);
    rc = seen_before(db, p, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        res.outcome = PAYMENT_DUPLICATE;
        rc = 0;
        goto out;
    }
    /* An over-payment settles what is due; the rest goes to credit below. */
    int64_t surplus = overpayment_surplus(p, &inv);
    struct payment_in due_part = *p;
    due_part.amount -= surplus;
    rc = decide(&due_part, &inv, &paid, &refunded, &status, &expected, res.message,
                sizeof res.message, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        res.outcome = PAYMENT_MISMATCH;
        rc = audit_mismatch(db, actor, p, &inv, expected, res.message, err);
        goto out;
    }
    utc_now_iso(now);
    rc = insert_tx(db, p, now, &tx_id, err);
    if (rc < 0)
        goto out;
    if (tx_id == 0) {
        res.outcome = PAYMENT_DUPLICATE;
        goto out;
    }
    res.outcome = PAYMENT_APPLIED;
    res.transaction_id = tx_id;
    res.became_paid = strcmp(status, "paid") == 0 && !inv.was_paid_before;
    snprintf(res.status, sizeof res.status, "%s", status);
    rc = update_invoice(db, p->invoice_id, status, paid, refunded, res.became_paid ? now : NULL,
                        now, err);
    if (rc < 0)
        goto out;
    rc = audit_applied(db, actor, p, tx_id, inv.status, status, paid, refunded, err);
    if (rc < 0)
        goto out;
    if (surplus > 0) {
        rc = surplus_to_credit(db, actor, p, &inv, surplus, tx_id, err);
        if (rc < 0)
            goto out;
    }
    if (res.became_paid) {
        rc = audit_paid(db, actor, p, inv.total, err);
        if (rc < 0)
            goto out;
        if (inv.add_funds)
            rc = paid_add_funds(db, actor, p, &inv, tx_id, err);
        else
            rc = services_on_invoice_paid(db, actor, p->invoice_id, err);
        if (rc < 0)
            goto out;
    }
    if (strcmp(p->kind, "chargeback") == 0) {
        rc = services_on_chargeback(db, actor, p->invoice_id, NULL, err);
        if (rc < 0)
            goto out;
    }
    /* Issue 14 (company): every refund recorded is documented by a credit note. */
    if (strcmp(p->kind, "refund") == 0) {
        char reason[160];
        snprintf(reason, sizeof reason, "Refund via %s (%s)", p->gateway, p->gateway_ref);
        rc = credit_notes_for_refund(db, actor, p->invoice_id, tx_id, p->amount, reason, NULL, err);
        if (rc < 0)
            goto out;
    }
out:
    if (rc >= 0 && out != NULL)
        *out = res;
    return rc < 0 ? rc : 0;
}

/* ---- reading ------------------------------------------------------------ */

json_t *payments_list_for_invoice(struct db *db, int64_t invoice_id, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *rows = json_array(), *result = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    struct db_stmt *st = db_prepare(db, SQL_LIST_TX, err);
    if (st == NULL || rows == NULL)
        goto out;
    if (db_bind_int64(st, 1, invoice_id) < 0) {
        bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *details = jsonx_parse_object(db_col_text(st, 7), strlen(db_col_text(st, 7)), err);
        if (details == NULL)
            goto out;
        json_t *row =
            json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:s}", "id",
                      (json_int_t)db_col_int64(st, 0), "gateway", db_col_text(st, 1), "kind",
                      db_col_text(st, 2), "gateway_ref", db_col_text(st, 3), "amount",
                      (json_int_t)db_col_int64(st, 4), "currency", db_col_text(st, 5), "status",
                      db_col_text(st, 6), "details", details, "created_at", db_col_text(st, 8));
        if (row == NULL || json_array_append_new(rows, row) < 0) {
            nomem(err);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    result = rows;
    rows = NULL;
out:
    if (result == NULL && err->code == 0)
        nomem(err);
    db_finalize(st);
    json_decref(rows);
    return result;
}

/* ---- the admin's manual payment ----------------------------------------- */

json_t *payments_manual(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                        const json_t *body, struct lumi_err *err)
{
    static const char *const allowed[] = {"amount", "reference", NULL};
    struct lumi_err local;
    struct payment_result res = {0};
    struct invoice_state inv = {0};
    const char *reference = NULL;
    int64_t amount = 0;
    json_t *result = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (jsonx_check_keys(body, allowed, err) < 0 ||
        jsonx_take_int(body, "amount", true, 1, MONEY_AMOUNT_MAX, &amount, err) < 0 ||
        jsonx_take_str(body, "reference", true, REF_MAX, &reference, err) < 0)
        goto out;
    if (reference[0] == '\0') {
        err_set(err, LUMI_EINVAL, "field 'reference' must not be empty");
        goto out;
    }
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    /* The manual payment is in the invoice's own currency by definition. */
    if (load_invoice(db, invoice_id, &inv, err) < 0)
        goto out;
    struct payment_in p = {.kind = "payment",
                           .gateway = "manual",
                           .gateway_ref = reference,
                           .amount = amount,
                           .currency = inv.currency,
                           .invoice_id = invoice_id,
                           .details = NULL};
    if (payments_apply(db, actor, &p, &res, err) < 0)
        goto out;
    if (db_commit(db, err) < 0)
        goto out;
    in_tx = false;
    if (res.outcome == PAYMENT_MISMATCH) {
        err_set(err, LUMI_ECONFLICT, "payment not applied: %s", res.message);
        goto out;
    }
    result = invoices_get(db, invoice_id, err);
    if (result != NULL &&
        (jsonx_set_bool(result, "duplicate", res.outcome == PAYMENT_DUPLICATE) < 0)) {
        json_decref(result);
        result = NULL;
        nomem(err);
    }
out:
    if (in_tx)
        db_rollback(db);
    return result;
}
