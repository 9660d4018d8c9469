/*
 * credit.c — credit balances and their ledger (see credit.h). Owns the SQL
 * over `credit_balances` and `credit_ledger`.
 *
 * An addition is an upsert (INSERT … ON CONFLICT DO UPDATE balance = balance
 * + amount); a spend is UPDATE … WHERE balance >= amount RETURNING balance:
 * no row back means the balance was too small at that instant, whatever
 * other transactions did, so no spend can overdraw (PostgreSQL re-checks the
 * WHERE on the row's newest version after waiting for its lock; SQLite has
 * one writer at a time). The ledger row carries the balance the UPDATE
 * returned.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/credit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/money.h"
#include "core/utc.h"

#define NOTE_MAX 500
#define PAGE_MAX 200

static const char SQL_ADD[] =
    "INSERT INTO credit_balances (client_id, currency, balance, updated_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, currency)"
    " DO UPDATE SET balance = credit_balances.balance + excluded.balance,"
    " updated_at = excluded.updated_at RETURNING balance";

static const char SQL_SPEND[] =
    "UPDATE credit_balances SET balance = balance - $3, updated_at = $4"
    " WHERE client_id = $1 AND currency = $2 AND balance >= $3 RETURNING balance";

static const char SQL_BALANCE[] =
    "SELECT balance FROM credit_balances WHERE client_id = $1 AND currency = $2";

static const char SQL_SEEN[] =
    "SELECT id FROM credit_ledger WHERE transaction_id = $1 AND kind = $2";

static const char SQL_INSERT_LEDGER[] =
    "INSERT INTO credit_ledger (client_id, currency, amount, balance_after, kind, invoice_id,"
    " transaction_id, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";

static const char SQL_LINK[] = "UPDATE credit_ledger SET transaction_id = $2 WHERE id = $1";

static const char SQL_CLIENT[] = "SELECT id FROM users WHERE id = $1 AND role = 'client'";

static const char SQL_BALANCES[] =
    "SELECT currency, balance FROM credit_balances WHERE client_id = $1 ORDER BY currency";

static const char SQL_LEDGER[] =
    "SELECT id, currency, amount, balance_after, kind, invoice_id, transaction_id, note,"
    " created_at FROM credit_ledger WHERE client_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

static int bind_fail(struct lumi_err *err)
{
    return err_set(err, LUMI_EDB, "cannot bind a parameter");
}

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static int bind_id_or_null(struct db_stmt *st, int idx, int64_t id)
{
    return id > 0 ? db_bind_int64(st, idx, id) : db_bind_null(st, idx);
}

/* The new balance after adding (sign > 0) or spending; 0 rows on a spend = too little. */
static int move_balance(struct db *db, const struct credit_change *c, const char *cur,
                        const char *now, int64_t *after, struct lumi_err *err)
{
    int rc;
    int64_t magnitude = c->amount > 0 ? c->amount : -c->amount;
    struct db_stmt *st = db_prepare(db, c->amount > 0 ? SQL_ADD : SQL_SPEND, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, c->client_id) < 0 || db_bind_text(st, 2, cur) < 0 ||
        db_bind_int64(st, 3, magnitude) < 0 || db_bind_text(st, 4, now) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        *after = db_col_int64(st, 0);
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = 1; /* the spend's guard refused */
    }
out:
    db_finalize(st);
    return rc;
}

static int insert_ledger(struct db *db, const struct credit_change *c, const char *cur,
                         int64_t after, const char *now, int64_t *id, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_INSERT_LEDGER, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, c->client_id) < 0 || db_bind_text(st, 2, cur) < 0 ||
        db_bind_int64(st, 3, c->amount) < 0 || db_bind_int64(st, 4, after) < 0 ||
        db_bind_text(st, 5, c->kind) < 0 || bind_id_or_null(st, 6, c->invoice_id) < 0 ||
        bind_id_or_null(st, 7, c->transaction_id) < 0 ||
        db_bind_text(st, 8, c->note != NULL ? c->note : "") < 0 || db_bind_text(st, 9, now) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step_id(st, "a ledger row", id, err);
out:
    db_finalize(st);
    return rc;
}

static int audit_change(struct db *db, const struct audit_actor *actor,
                        const struct credit_change *c, const char *cur, int64_t after,
                        int64_t ledger_id, struct lumi_err *err)
{
    json_t *d = json_pack("{s:I, s:s, s:I, s:I, s:s, s:I, s:s}", "ledger_id", (json_int_t)ledger_id,
                          "currency", cur, "amount", (json_int_t)c->amount, "balance_after",
                          (json_int_t)after, "kind", c->kind, "client_id",
                          (json_int_t)c->client_id, "note", c->note != NULL ? c->note : "");
    if (d == NULL)
        return nomem(err);
    int rc = 0;
    if (c->invoice_id > 0)
        rc = jsonx_set_int(d, "invoice_id", c->invoice_id);
    if (rc == 0 && c->transaction_id > 0)
        rc = jsonx_set_int(d, "transaction_id", c->transaction_id);
    if (rc < 0)
        rc = nomem(err);
    else
        rc = audit_append_id(db, actor, c->action, "client", c->client_id, d, err);
    json_decref(d);
    return rc;
}

int credit_change_in_tx(struct db *db, const struct audit_actor *actor,
                        const struct credit_change *c, int64_t *ledger_id, struct lumi_err *err)
{
    struct lumi_err local;
    char cur[4], now[UTC_ISO_LEN], txt[24];
    int64_t after = 0, id = 0, have = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "credit_change_in_tx needs an open transaction");
    if (c == NULL || c->client_id <= 0 || c->amount == 0 || c->amount == INT64_MIN ||
        c->kind == NULL || c->action == NULL)
        return err_set(err, LUMI_EINVAL, "a credit change needs a client, a kind and an amount");
    if (c->currency == NULL || money_currency_normalize(c->currency, cur) < 0)
        return err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency");
    if (c->note != NULL && strlen(c->note) > NOTE_MAX)
        return err_set(err, LUMI_EINVAL, "the note is longer than %d bytes", NOTE_MAX);
    if (c->transaction_id > 0) {
        snprintf(txt, sizeof txt, "%" PRId64, c->transaction_id);
        const char *params[] = {txt, c->kind};
        rc = db_query_int64_opt(db, SQL_SEEN, 2, params, &id, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (ledger_id != NULL)
                *ledger_id = id;
            return 1;
        }
    }
    utc_now_iso(now);
    rc = move_balance(db, c, cur, now, &after, err);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (credit_balance(db, c->client_id, cur, &have, err) < 0)
            return LUMI_EDB;
        return err_set(err, LUMI_ECONFLICT,
                       "the credit balance is %" PRId64 " %s, less than the %" PRId64
                       " to take",
                       have, cur, -c->amount);
    }
    rc = insert_ledger(db, c, cur, after, now, &id, err);
    if (rc < 0)
        return rc;
    rc = audit_change(db, actor, c, cur, after, id, err);
    if (rc < 0)
        return rc;
    if (ledger_id != NULL)
        *ledger_id = id;
    return 0;
}

int credit_balance(struct db *db, int64_t client_id, const char *currency, int64_t *balance,
                   struct lumi_err *err)
{
    char cur[4], idt[24];
    if (money_currency_normalize(currency, cur) < 0)
        return err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency");
    snprintf(idt, sizeof idt, "%" PRId64, client_id);
    const char *params[] = {idt, cur};
    *balance = 0;
    int rc = db_query_int64_opt(db, SQL_BALANCE, 2, params, balance, err);
    return rc < 0 ? rc : 0;
}

int credit_ledger_link(struct db *db, int64_t ledger_id, int64_t transaction_id,
                       struct lumi_err *err)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, ledger_id);
    snprintf(b, sizeof b, "%" PRId64, transaction_id);
    const char *params[] = {a, b};
    return db_execp(db, SQL_LINK, 2, params, NULL, err);
}

static const char SQL_FUNDS[] =
    "SELECT COALESCE(SUM(amount), 0) FROM invoice_items WHERE invoice_id = $1 AND kind = 'funds'";

int credit_on_funds_paid(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                         int64_t client_id, const char *currency, int64_t transaction_id,
                         struct lumi_err *err)
{
    char idt[24], note[80];
    int64_t funds = 0;
    snprintf(idt, sizeof idt, "%" PRId64, invoice_id);
    const char *params[] = {idt};
    int rc = db_query_int64(db, SQL_FUNDS, 1, params, &funds, err);
    if (rc < 0 || funds <= 0)
        return rc;
    snprintf(note, sizeof note, "Funds added by invoice %" PRId64, invoice_id);
    struct credit_change c = {.client_id = client_id,
                              .currency = currency,
                              .amount = funds,
                              .kind = "add_funds",
                              .action = "CREDIT_ADDED",
                              .invoice_id = invoice_id,
                              .transaction_id = transaction_id,
                              .note = note};
    rc = credit_change_in_tx(db, actor, &c, NULL, err);
    return rc < 0 ? rc : 0;
}

/* ---- reading ------------------------------------------------------------ */

static json_t *id_or_null(struct db_stmt *st, int col)
{
    return db_col_is_null(st, col) ? json_null() : json_integer(db_col_int64(st, col));
}

static int read_balances(struct db *db, int64_t client_id, json_t *out, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_BALANCES, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, client_id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *row = json_pack("{s:s, s:I}", "currency", db_col_text(st, 0), "balance",
                                (json_int_t)db_col_int64(st, 1));
        if (row == NULL || json_array_append_new(out, row) < 0) {
            rc = nomem(err);
            goto out;
        }
    }
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int read_ledger(struct db *db, int64_t client_id, int64_t before_id, int limit, json_t *out,
                       int64_t *next, struct lumi_err *err)
{
    int rc, n = 0;
    int64_t last = 0;
    struct db_stmt *st = db_prepare(db, SQL_LEDGER, err);
    *next = 0;
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, client_id) < 0 ||
        db_bind_int64(st, 2, before_id > 0 ? before_id : INT64_MAX) < 0 ||
        db_bind_int64(st, 3, limit + 1) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (n == limit) {
            *next = last;
            continue;
        }
        last = db_col_int64(st, 0);
        json_t *row = json_pack(
            "{s:I, s:s, s:I, s:I, s:s, s:o, s:o, s:s, s:s}", "id", (json_int_t)last, "currency",
            db_col_text(st, 1), "amount", (json_int_t)db_col_int64(st, 2), "balance_after",
            (json_int_t)db_col_int64(st, 3), "kind", db_col_text(st, 4), "invoice_id",
            id_or_null(st, 5), "transaction_id", id_or_null(st, 6), "note", db_col_text(st, 7),
            "created_at", db_col_text(st, 8));
        if (row == NULL || json_array_append_new(out, row) < 0) {
            rc = nomem(err);
            goto out;
        }
        n++;
    }
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

json_t *credit_get(struct db *db, int64_t client_id, int64_t before_id, int limit,
                   struct lumi_err *err)
{
    struct lumi_err local;
    char idt[24];
    int64_t found = 0, next = 0;
    json_t *balances = json_array(), *ledger = json_array(), *result = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (balances == NULL || ledger == NULL) {
        nomem(err);
        goto out;
    }
    if (limit <= 0 || limit > PAGE_MAX)
        limit = 50;
    snprintf(idt, sizeof idt, "%" PRId64, client_id);
    const char *params[] = {idt};
    int rc = db_query_int64_opt(db, SQL_CLIENT, 1, params, &found, err);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        err_set(err, LUMI_ENOTFOUND, "client %" PRId64 " not found", client_id);
        goto out;
    }
    if (read_balances(db, client_id, balances, err) < 0 ||
        read_ledger(db, client_id, before_id, limit, ledger, &next, err) < 0)
        goto out;
    result = json_pack("{s:I, s:O, s:O, s:o}", "client_id", (json_int_t)client_id, "balances",
                       balances, "ledger", ledger, "next_cursor",
                       next > 0 ? json_integer(next) : json_null());
    if (result == NULL)
        nomem(err);
out:
    json_decref(balances);
    json_decref(ledger);
    return result;
}

/* ---- the admin's change -------------------------------------------------- */

json_t *credit_admin_adjust(struct db *db, const struct audit_actor *actor, int64_t client_id,
                            const json_t *body, struct lumi_err *err)
{
    static const char *const allowed[] = {"amount", "currency", "reason", NULL};
    struct lumi_err local;
    const char *currency = NULL, *reason = NULL;
    char cur[4], idt[24];
    int64_t amount = 0, found = 0;
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
        jsonx_take_int(body, "amount", true, -CREDIT_ADJUST_MAX, CREDIT_ADJUST_MAX, &amount,
                       err) < 0 ||
        jsonx_take_str(body, "currency", true, 3, &currency, err) < 0 ||
        jsonx_take_str(body, "reason", true, NOTE_MAX, &reason, err) < 0)
        goto out;
    if (amount == 0) {
        err_set(err, LUMI_EINVAL, "field 'amount' must not be 0 (positive adds, negative removes)");
        goto out;
    }
    if (money_currency_normalize(currency, cur) < 0) {
        err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency");
        goto out;
    }
    if (reason[0] == '\0') {
        err_set(err, LUMI_EINVAL, "field 'reason' must not be empty");
        goto out;
    }
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    snprintf(idt, sizeof idt, "%" PRId64, client_id);
    const char *params[] = {idt};
    int rc = db_query_int64_opt(db, SQL_CLIENT, 1, params, &found, err);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        err_set(err, LUMI_ENOTFOUND, "client %" PRId64 " not found", client_id);
        goto out;
    }
    struct credit_change c = {.client_id = client_id,
                              .currency = cur,
                              .amount = amount,
                              .kind = "admin",
                              .action = amount > 0 ? "CREDIT_ADDED" : "CREDIT_REMOVED",
                              .note = reason};
    if (credit_change_in_tx(db, actor, &c, NULL, err) < 0)
        goto out;
    if (db_commit(db, err) < 0)
        goto out;
    in_tx = false;
    result = credit_get(db, client_id, 0, 50, err);
out:
    if (in_tx)
        db_rollback(db);
    return result;
}
