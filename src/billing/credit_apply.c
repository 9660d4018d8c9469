/*
 * credit_apply.c — paying invoices from credit and the add-funds invoice
 * (see credit_apply.h). Reads `invoices` (locked) and `users.currency`; every
 * write goes through credit.c, payments.c and invoices.c.
 *
 * Order inside the transaction: lock the invoice, read what is due and the
 * balance, spend min(both) with credit.c's guarded UPDATE (a concurrent spend
 * that got there first makes it refuse: read again, up to SPEND_TRIES), then
 * record the spend as a payment through payments_apply and tie the ledger row
 * to that transaction.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/credit_apply.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "billing/credit.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "core/json.h"
#include "core/money.h"
#include "core/utc.h"
#include "settings/registry.h"

#define SPEND_TRIES 3

static const char SQL_INVOICE[] =
    "SELECT client_id, currency, status, total, amount_paid, kind FROM invoices WHERE id = $1";
static const char SQL_INVOICE_LOCKED[] =
    "SELECT client_id, currency, status, total, amount_paid, kind FROM invoices WHERE id = $1"
    " FOR UPDATE";
static const char SQL_CLIENT_CURRENCY[] =
    "SELECT currency FROM users WHERE id = $1 AND role = 'client'";

struct inv {
    int64_t client_id, total, paid;
    char currency[8], status[24];
    bool add_funds;
};

static int load(struct db *db, int64_t id, struct inv *v, struct lumi_err *err)
{
    const char *sql = db_kind(db) == DB_POSTGRES ? SQL_INVOICE_LOCKED : SQL_INVOICE;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind a parameter")
                                          : db_step(st, err);
    if (rc == DB_DONE)
        rc = err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", id);
    if (rc == DB_ROW) {
        v->client_id = db_col_int64(st, 0);
        snprintf(v->currency, sizeof v->currency, "%s", db_col_text(st, 1));
        snprintf(v->status, sizeof v->status, "%s", db_col_text(st, 2));
        v->total = db_col_int64(st, 3);
        v->paid = db_col_int64(st, 4);
        v->add_funds = strcmp(db_col_text(st, 5), "add_funds") == 0;
        rc = 0;
    }
    db_finalize(st);
    return rc;
}

static bool payable(const struct inv *v)
{
    return !v->add_funds && v->total > v->paid &&
           (strcmp(v->status, "unpaid") == 0 || strcmp(v->status, "partially_paid") == 0);
}

/* Spends up to want from the balance; *spent = 0 when the balance is empty. */
static int spend(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                 const struct inv *v, int64_t want, int64_t *spent, int64_t *ledger_id,
                 struct lumi_err *err)
{
    char note[80];
    snprintf(note, sizeof note, "Applied to invoice %" PRId64, invoice_id);
    *spent = 0;
    for (int i = 0; i < SPEND_TRIES; i++) {
        int64_t balance = 0;
        int rc = credit_balance(db, v->client_id, v->currency, &balance, err);
        if (rc < 0)
            return rc;
        int64_t take = balance < want ? balance : want;
        if (take <= 0)
            return 0;
        struct credit_change c = {.client_id = v->client_id,
                                  .currency = v->currency,
                                  .amount = -take,
                                  .kind = "applied",
                                  .action = "CREDIT_APPLIED",
                                  .invoice_id = invoice_id,
                                  .note = note};
        rc = credit_change_in_tx(db, actor, &c, ledger_id, err);
        if (rc == 0) {
            *spent = take;
            return 0;
        }
        if (rc != LUMI_ECONFLICT)
            return rc;
        err_clear(err); /* a concurrent spend won: read the balance again */
    }
    return 0;
}

int credit_apply_in_tx(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                       int64_t *applied, struct lumi_err *err)
{
    struct lumi_err local;
    struct inv v = {0};
    struct payment_result res = {0};
    char ref[48];
    int64_t spent = 0, ledger_id = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (applied != NULL)
        *applied = 0;
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "credit_apply_in_tx needs an open transaction");
    rc = load(db, invoice_id, &v, err);
    if (rc < 0 || !payable(&v))
        return rc;
    rc = spend(db, actor, invoice_id, &v, v.total - v.paid, &spent, &ledger_id, err);
    if (rc < 0 || spent == 0)
        return rc;
    snprintf(ref, sizeof ref, "ledger-%" PRId64, ledger_id);
    struct payment_in p = {.kind = "payment",
                           .gateway = "credit",
                           .gateway_ref = ref,
                           .amount = spent,
                           .currency = v.currency,
                           .invoice_id = invoice_id};
    rc = payments_apply(db, actor, &p, &res, err);
    if (rc < 0)
        return rc;
    if (res.outcome != PAYMENT_APPLIED)
        return err_set(err, LUMI_EINTERNAL, "credit could not pay invoice %" PRId64 ": %s",
                       invoice_id, res.message);
    rc = credit_ledger_link(db, ledger_id, res.transaction_id, err);
    if (rc == 0)
        rc = invoices_add_credit_applied(db, invoice_id, spent, err);
    if (rc < 0)
        return rc;
    if (applied != NULL)
        *applied = spent;
    return 0;
}

int credit_auto_apply(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                      struct lumi_err *err)
{
    bool on = true;
    int rc = settings_reg_bool(db, "credit.auto_apply", &on, err);
    if (rc < 0)
        return rc;
    return on ? credit_apply_in_tx(db, actor, invoice_id, NULL, err) : 0;
}

int credit_available_for_invoice(struct db *db, int64_t invoice_id, int64_t *amount,
                                 char currency[8], struct lumi_err *err)
{
    struct inv v = {0};
    int64_t balance = 0;
    *amount = 0;
    currency[0] = '\0';
    struct db_stmt *st = db_prepare(db, SQL_INVOICE, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, invoice_id) < 0 ? err_set(err, LUMI_EDB, "cannot bind")
                                                  : db_step(st, err);
    if (rc == DB_ROW) {
        v.client_id = db_col_int64(st, 0);
        snprintf(v.currency, sizeof v.currency, "%s", db_col_text(st, 1));
        snprintf(v.status, sizeof v.status, "%s", db_col_text(st, 2));
        v.total = db_col_int64(st, 3);
        v.paid = db_col_int64(st, 4);
        v.add_funds = strcmp(db_col_text(st, 5), "add_funds") == 0;
    }
    db_finalize(st);
    if (rc != DB_ROW)
        return rc < 0 ? rc : 0;
    snprintf(currency, 8, "%s", v.currency);
    if (!payable(&v))
        return 0;
    rc = credit_balance(db, v.client_id, v.currency, &balance, err);
    if (rc < 0)
        return rc;
    *amount = balance < v.total - v.paid ? balance : v.total - v.paid;
    return 0;
}

json_t *credit_apply_invoice(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                             int64_t client_id, struct lumi_err *err)
{
    struct lumi_err local;
    struct inv v = {0};
    int64_t applied = 0, balance = 0;
    json_t *result = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    if (load(db, invoice_id, &v, err) < 0)
        goto out;
    if (client_id > 0 && v.client_id != client_id) {
        err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", invoice_id);
        goto out;
    }
    if (v.add_funds) {
        err_set(err, LUMI_ECONFLICT, "credit cannot pay an add-funds invoice");
        goto out;
    }
    if (!payable(&v)) {
        err_set(err, LUMI_ECONFLICT, "invoice %" PRId64 " is %s: nothing is due", invoice_id,
                v.status);
        goto out;
    }
    if (credit_apply_in_tx(db, actor, invoice_id, &applied, err) < 0)
        goto out;
    if (applied == 0) {
        if (credit_balance(db, v.client_id, v.currency, &balance, err) < 0)
            goto out;
        err_set(err, LUMI_ECONFLICT, "there is no credit in %s to apply", v.currency);
        goto out;
    }
    if (db_commit(db, err) < 0)
        goto out;
    in_tx = false;
    result = invoices_get(db, invoice_id, err);
    if (result != NULL && jsonx_set_int(result, "credit_applied_now", applied) < 0) {
        json_decref(result);
        result = NULL;
        err_set(err, LUMI_ENOMEM, "out of memory");
    }
out:
    if (in_tx)
        db_rollback(db);
    return result;
}

/* ---- add funds ----------------------------------------------------------- */

static int client_currency(struct db *db, int64_t client_id, char cur[8], struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_CLIENT_CURRENCY, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, client_id) < 0 ? err_set(err, LUMI_EDB, "cannot bind")
                                                 : db_step(st, err);
    if (rc == DB_DONE)
        rc = err_set(err, LUMI_ENOTFOUND, "client %" PRId64 " not found", client_id);
    if (rc == DB_ROW) {
        snprintf(cur, 8, "%s", db_col_text(st, 0));
        rc = 0;
    }
    db_finalize(st);
    return rc;
}

json_t *credit_add_funds(struct db *db, const struct audit_actor *actor, int64_t client_id,
                         const json_t *body, struct lumi_err *err)
{
    static const char *const allowed[] = {"amount", "currency", NULL};
    struct lumi_err local;
    const char *given = NULL;
    char own[8], cur[4], now[UTC_ISO_LEN];
    int64_t amount = 0, invoice_id = 0;
    json_t *result = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!json_is_object(body)) {
        err_set(err, LUMI_EINVAL, "the body must be a JSON object");
        goto out;
    }
    if (jsonx_check_keys(body, allowed, err) < 0 ||
        jsonx_take_int(body, "amount", true, CREDIT_FUNDS_MIN, CREDIT_FUNDS_MAX, &amount, err) <
            0 ||
        jsonx_take_str(body, "currency", false, 3, &given, err) < 0)
        goto out;
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    if (client_currency(db, client_id, own, err) < 0)
        goto out;
    if (money_currency_normalize(given != NULL ? given : own, cur) < 0) {
        err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency");
        goto out;
    }
    utc_now_iso(now);
    struct invoice_item_in item = {"Add funds to credit balance", 1, amount, 0, "funds", NULL,
                                   NULL};
    if (invoices_create(db, actor, client_id, cur, now, &item, 1, &invoice_id, err) < 0 ||
        invoices_mark_add_funds(db, invoice_id, err) < 0 || db_commit(db, err) < 0)
        goto out;
    in_tx = false;
    result = invoices_get(db, invoice_id, err);
out:
    if (in_tx)
        db_rollback(db);
    return result;
}
