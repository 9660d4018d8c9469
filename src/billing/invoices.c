/*
 * invoices.c — invoices as orders and renewals create them (see invoices.h).
 *
 * Owns the SQL over `invoices` and `invoice_items`. The number comes from
 * billing/docnum (invoice.number_format, doc_sequences) inside the caller's
 * transaction: on PostgreSQL the sequence's row lock serialises concurrent
 * invoices until commit, on SQLite the BEGIN IMMEDIATE write lock does; a
 * rollback gives the number back, so numbers stay gapless. The seller and
 * buyer are frozen on the invoice (billing/parties) in the same transaction;
 * items and totals are never updated once written (corrections are credit
 * notes, billing/credit_notes).
 *
 * The admin API functions (invoices_create_json, invoices_cancel) open their
 * own transaction; invoices_create runs in the caller's.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/invoices.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/credit_notes.h"
#include "billing/docnum.h"
#include "billing/listing.h"
#include "billing/parties.h"
#include "billing/tax.h"
#include "core/json.h"
#include "core/money.h"
#include "core/numfmt.h"
#include "core/str.h"
#include "core/utc.h"
#include "events/events.h"

#define DESCRIPTION_MAX 500

static const char SQL_INSERT[] =
    "INSERT INTO invoices (number, client_id, status, currency, subtotal, tax, total,"
    " amount_paid, amount_refunded, due_date, created_at, updated_at)"
    " VALUES ($1, $2, 'unpaid', $3, $4, 0, $4, 0, 0, $5, $6, $6) RETURNING id";

static const char SQL_INSERT_ITEM[] =
    "INSERT INTO invoice_items (invoice_id, service_id, kind, description, quantity,"
    " unit_amount, amount, period_start, period_end)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

static const char SQL_GET[] =
    "SELECT id, number, client_id, status, currency, subtotal, tax, total, amount_paid,"
    " amount_refunded, due_date, paid_at, created_at, updated_at FROM invoices WHERE id = $1";

static const char SQL_ITEMS[] =
    "SELECT id, service_id, kind, description, quantity, unit_amount, amount, period_start,"
    " period_end FROM invoice_items WHERE invoice_id = $1 ORDER BY id";

static int bind_fail(struct lumi_err *err)
{
    return err_set(err, LUMI_EDB, "cannot bind a parameter");
}

/* Checks items and computes their amounts and the subtotal without overflow. */
static int check_items(const struct invoice_item_in *items, size_t nitems, int64_t *amounts,
                       int64_t *subtotal, struct lumi_err *err)
{
    static const char *const kinds[] = {"setup", "recurring", "other", "funds", "discount"};
    int64_t sum = 0;
    if (nitems == 0)
        return err_set(err, LUMI_EINVAL, "an invoice needs at least one item");
    for (size_t i = 0; i < nitems; i++) {
        const struct invoice_item_in *it = &items[i];
        bool kind_ok = it->kind == NULL;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && !kind_ok; k++)
            kind_ok = strcmp(it->kind, kinds[k]) == 0;
        if (it->description == NULL || it->description[0] == '\0' ||
            strlen(it->description) > DESCRIPTION_MAX)
            return err_set(err, LUMI_EINVAL, "item %zu needs a description of 1 to %d bytes", i + 1,
                           DESCRIPTION_MAX);
        if (!kind_ok)
            return err_set(err, LUMI_EINVAL, "item %zu has an unknown kind '%s'", i + 1, it->kind);
        if (it->quantity <= 0 || it->quantity > INT32_MAX)
            return err_set(err, LUMI_EINVAL, "item %zu: quantity must be from 1 to %d", i + 1,
                           INT32_MAX);
        /* Only a discount line (a coupon, issue 14) is negative. */
        if (it->unit_amount < 0 && (it->kind == NULL || strcmp(it->kind, "discount") != 0))
            return err_set(err, LUMI_EINVAL, "item %zu: unit_amount must be >= 0", i + 1);
        if (__builtin_mul_overflow(it->quantity, it->unit_amount, &amounts[i]) ||
            amounts[i] > MONEY_AMOUNT_MAX || amounts[i] < -MONEY_AMOUNT_MAX)
            return err_set(err, LUMI_EINVAL,
                           "item %zu: quantity × unit_amount is above the largest amount, %" PRId64
                           " minor units",
                           i + 1, MONEY_AMOUNT_MAX);
        if (__builtin_add_overflow(sum, amounts[i], &sum) || sum > MONEY_AMOUNT_MAX)
            return err_set(err, LUMI_EINVAL,
                           "the invoice total is above the largest amount, %" PRId64 " minor units",
                           MONEY_AMOUNT_MAX);
    }
    if (sum < 0)
        return err_set(err, LUMI_EINVAL, "the discounts are larger than the items");
    *subtotal = sum;
    return 0;
}

static int insert_invoice(struct db *db, const char *number, int64_t client_id,
                          const char *currency, int64_t subtotal, const char *due_date,
                          const char *now, int64_t *id, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_text(st, 1, number) < 0 || db_bind_int64(st, 2, client_id) < 0 ||
        db_bind_text(st, 3, currency) < 0 || db_bind_int64(st, 4, subtotal) < 0 ||
        db_bind_text(st, 5, due_date) < 0 || db_bind_text(st, 6, now) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step_id(st, "an invoice", id, err);
out:
    db_finalize(st);
    return rc;
}

static int insert_item(struct db *db, int64_t invoice_id, const struct invoice_item_in *it,
                       int64_t amount, struct lumi_err *err)
{
    int rc = 0;
    struct db_stmt *st = db_prepare(db, SQL_INSERT_ITEM, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, invoice_id) < 0 ||
        (it->service_id > 0 ? db_bind_int64(st, 2, it->service_id) : db_bind_null(st, 2)) < 0 ||
        db_bind_text(st, 3, it->kind != NULL ? it->kind : "other") < 0 ||
        db_bind_text(st, 4, it->description) < 0 || db_bind_int64(st, 5, it->quantity) < 0 ||
        db_bind_int64(st, 6, it->unit_amount) < 0 || db_bind_int64(st, 7, amount) < 0 ||
        db_bind_text(st, 8, it->period_start) < 0 || db_bind_text(st, 9, it->period_end) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc > 0)
        rc = err_set(err, LUMI_EDB, "an INSERT returned rows");
out:
    db_finalize(st);
    return rc;
}

/* A credit line taken off an invoice (invoices_create_credited); amount > 0. */
struct credit_line {
    const char *description;
    int64_t amount;
    int64_t service_id;
};

static int create_invoice(struct db *db, const struct audit_actor *actor, int64_t client_id,
                          const char *currency, const char *due_date,
                          const struct invoice_item_in *items, size_t nitems,
                          const struct credit_line *credit, int64_t *id_out, char *number_out,
                          size_t number_size, struct lumi_err *err);

int invoices_create(struct db *db, const struct audit_actor *actor, int64_t client_id,
                    const char *currency, const char *due_date, const struct invoice_item_in *items,
                    size_t nitems, int64_t *id_out, struct lumi_err *err)
{
    return create_invoice(db, actor, client_id, currency, due_date, items, nitems, NULL, id_out,
                          NULL, 0, err);
}

int invoices_create_credited(struct db *db, const struct audit_actor *actor, int64_t client_id,
                             const char *currency, const char *due_date,
                             const struct invoice_item_in *items, size_t nitems,
                             const char *credit_description, int64_t credit,
                             int64_t credit_service_id, int64_t *id_out, char *number_out,
                             size_t number_size, struct lumi_err *err)
{
    struct credit_line c = {credit_description, credit, credit_service_id};
    return create_invoice(db, actor, client_id, currency, due_date, items, nitems,
                          credit > 0 ? &c : NULL, id_out, number_out, number_size, err);
}

static int create_invoice(struct db *db, const struct audit_actor *actor, int64_t client_id,
                          const char *currency, const char *due_date,
                          const struct invoice_item_in *items, size_t nitems,
                          const struct credit_line *credit, int64_t *id_out, char *number_out,
                          size_t number_size, struct lumi_err *err)
{
    struct lumi_err local;
    char now[UTC_ISO_LEN];
    char number[NUMFMT_OUT_MAX];
    int64_t *amounts = NULL;
    int64_t subtotal = 0, id = 0, total = 0;
    json_t *details = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!db_in_tx(db)) {
        rc = err_set(err, LUMI_EINTERNAL, "invoices_create needs an open transaction");
        goto out;
    }
    if (currency == NULL || due_date == NULL || client_id <= 0) {
        rc = err_set(err, LUMI_EINVAL, "an invoice needs a client, a currency and a due date");
        goto out;
    }
    amounts = calloc(nitems > 0 ? nitems : 1, sizeof *amounts);
    if (amounts == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    rc = check_items(items, nitems, amounts, &subtotal, err);
    if (rc < 0)
        goto out;
    if (credit != NULL &&
        (credit->amount <= 0 || credit->amount > subtotal || credit->description == NULL ||
         credit->description[0] == '\0' || strlen(credit->description) > DESCRIPTION_MAX)) {
        rc = err_set(err, LUMI_EINVAL, "a credit line needs a description and 1 to %" PRId64,
                     subtotal);
        goto out;
    }
    if (credit != NULL)
        subtotal -= credit->amount;
    utc_now_iso(now);
    rc = docnum_take(db, "invoice", utc_now(), number, sizeof number, err);
    if (rc < 0)
        goto out;
    rc = insert_invoice(db, number, client_id, currency, subtotal, due_date, now, &id, err);
    /* The client is a foreign key: a violation means it does not exist. */
    if (rc == LUMI_EINVAL)
        rc = err_set(err, LUMI_EINVAL, "client %" PRId64 " does not exist", client_id);
    if (rc < 0)
        goto out;
    /* Issue 14 (company): the seller and buyer as they are now, frozen on the invoice. */
    rc = parties_freeze_invoice(db, id, client_id, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < nitems; i++) {
        rc = insert_item(db, id, &items[i], amounts[i], err);
        if (rc < 0)
            goto out;
    }
    if (credit != NULL) {
        struct invoice_item_in line = {
            credit->description, 1, -credit->amount, credit->service_id, "other", NULL, NULL};
        rc = insert_item(db, id, &line, -credit->amount, err);
        if (rc < 0)
            goto out;
    }
    /* Tax (issue 14): invoice_taxes, invoices.tax, tax_note and total from the lines written. */
    rc = tax_apply_invoice(db, id, &total, err);
    if (rc == 0 && total > MONEY_AMOUNT_MAX)
        rc = err_set(err, LUMI_EINVAL,
                     "the invoice total with tax is above the largest amount, %" PRId64
                     " minor units",
                     MONEY_AMOUNT_MAX);
    if (rc < 0)
        goto out;
    details = json_pack("{s:s, s:I, s:s, s:I}", "number", number, "total", (json_int_t)total,
                        "currency", currency, "client_id", (json_int_t)client_id);
    if (details == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    rc = audit_append_id(db, actor, "INVOICE_CREATED", "invoice", id, details, err);
    if (rc == 0) /* outgoing event (issue 16) */
        rc = events_emit(db, "invoice.created", "invoice", id,
                         json_pack("{s:I, s:s, s:s, s:I, s:s, s:I, s:s, s:s}", "id", (json_int_t)id,
                                   "object", "invoice", "number", number, "client_id",
                                   (json_int_t)client_id, "currency", currency, "total",
                                   (json_int_t)total, "due_date", due_date, "status", "unpaid"),
                         err);
    if (rc < 0)
        goto out;
    if (id_out != NULL)
        *id_out = id;
    if (number_out != NULL && number_size > 0)
        str_copy(number_out, number, number_size);
out:
    json_decref(details);
    free(amounts);
    return rc < 0 ? rc : 0;
}

/* ---- reading ------------------------------------------------------------ */

static int invoices_read_credit(struct db *db, int64_t id, json_t *inv, struct lumi_err *err);

static json_t *text_or_null(struct db_stmt *st, int col)
{
    return db_col_is_null(st, col) ? json_null() : json_string(db_col_text(st, col));
}

static json_t *int_or_null(struct db_stmt *st, int col)
{
    return db_col_is_null(st, col) ? json_null() : json_integer(db_col_int64(st, col));
}

static json_t *item_row(struct db_stmt *st)
{
    return json_pack("{s:I, s:o, s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "id",
                     (json_int_t)db_col_int64(st, 0), "service_id", int_or_null(st, 1), "kind",
                     db_col_text(st, 2), "description", db_col_text(st, 3), "quantity",
                     (json_int_t)db_col_int64(st, 4), "unit_amount",
                     (json_int_t)db_col_int64(st, 5), "amount", (json_int_t)db_col_int64(st, 6),
                     "period_start", text_or_null(st, 7), "period_end", text_or_null(st, 8));
}

static json_t *invoice_row(struct db_stmt *st)
{
    return json_pack("{s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:s, s:s}", "id",
                     (json_int_t)db_col_int64(st, 0), "number", db_col_text(st, 1), "client_id",
                     (json_int_t)db_col_int64(st, 2), "status", db_col_text(st, 3), "currency",
                     db_col_text(st, 4), "subtotal", (json_int_t)db_col_int64(st, 5), "tax",
                     (json_int_t)db_col_int64(st, 6), "total", (json_int_t)db_col_int64(st, 7),
                     "amount_paid", (json_int_t)db_col_int64(st, 8), "amount_refunded",
                     (json_int_t)db_col_int64(st, 9), "due_date", db_col_text(st, 10), "paid_at",
                     text_or_null(st, 11), "created_at", db_col_text(st, 12), "updated_at",
                     db_col_text(st, 13));
}

static json_t *fetch_items(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *items = json_array();
    json_t *result = NULL;
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_ITEMS, err);
    if (st == NULL || items == NULL)
        goto out;
    if (db_bind_int64(st, 1, id) < 0) {
        bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *row = item_row(st);
        if (row == NULL || json_array_append_new(items, row) < 0) {
            err_set(err, LUMI_ENOMEM, "out of memory reading invoice items");
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    result = items;
    items = NULL;
out:
    if (result == NULL && err->code == 0)
        err_set(err, LUMI_ENOMEM, "out of memory");
    db_finalize(st);
    json_decref(items);
    return result;
}

static const char SQL_TAX_NOTE[] = "SELECT tax_note FROM invoices WHERE id = $1";

/* Tax (issue 14): the applied taxes and the invoice's tax note. */
static int add_taxes(struct db *db, json_t *inv, int64_t id, struct lumi_err *err)
{
    json_t *taxes = tax_invoice_taxes(db, id, err);
    if (taxes == NULL || json_object_set_new(inv, "taxes", taxes) < 0)
        return taxes == NULL ? LUMI_EDB : err_set(err, LUMI_ENOMEM, "out of memory");
    struct db_stmt *st = db_prepare(db, SQL_TAX_NOTE, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, id) < 0 ? bind_fail(err) : db_step(st, err);
    if (rc == DB_ROW)
        rc = json_object_set_new(inv, "tax_note",
                                 json_string(db_col_text(st, 0) ? db_col_text(st, 0) : "")) < 0
                 ? err_set(err, LUMI_ENOMEM, "out of memory")
                 : 0;
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

json_t *invoices_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *inv = NULL;
    json_t *result = NULL;
    json_t *items = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    if (st == NULL)
        goto out;
    if (db_bind_int64(st, 1, id) < 0) {
        bind_fail(err);
        goto out;
    }
    int rc = db_step(st, err);
    if (rc == DB_DONE) {
        err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", id);
        goto out;
    }
    if (rc < 0)
        goto out;
    inv = invoice_row(st);
    db_finalize(st);
    st = NULL;
    if (inv == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory reading an invoice");
        goto out;
    }
    items = fetch_items(db, id, err);
    if (items == NULL)
        goto out;
    if (json_object_set_new(inv, "items", items) < 0) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    /* Issue 14: taxes, credit, kind, the frozen seller and buyer, the credit notes. */
    if (add_taxes(db, inv, id, err) < 0 || invoices_read_credit(db, id, inv, err) < 0 ||
        parties_add_to_invoice_json(db, id, inv, err) < 0 ||
        credit_notes_add_to_invoice_json(db, id, inv, err) < 0)
        goto out;
    result = inv;
    inv = NULL;
out:
    db_finalize(st);
    json_decref(inv);
    return result;
}

/* ---- the admin API: create from JSON, list, cancel ---------------------- */

#define ITEMS_MAX 100

const char *const INVOICE_STATUSES[] = {
    "unpaid", "paid", "partially_paid", "refunded", "partially_refunded", "cancelled", NULL};

static const char SQL_LIST[] =
    "SELECT id, number, client_id, status, currency, subtotal, tax, total, amount_paid,"
    " amount_refunded, due_date, paid_at, created_at, updated_at FROM invoices"
    " WHERE id > $1 ORDER BY id LIMIT $2";

#define INVOICE_LIST_COLUMNS                                                                     \
    "id, number, client_id, status, currency, subtotal, tax, total, amount_paid,"                 \
    " amount_refunded, due_date, paid_at, created_at, updated_at"

static const char SQL_LIST_CLIENT[] = "SELECT " INVOICE_LIST_COLUMNS " FROM invoices"
                                      " WHERE id > $1 AND client_id = $3 ORDER BY id LIMIT $2";

static const char SQL_LIST_SERVICE[] =
    "SELECT " INVOICE_LIST_COLUMNS " FROM invoices WHERE id > $1"
    " AND id IN (SELECT invoice_id FROM invoice_items WHERE service_id = $3) ORDER BY id LIMIT $2";

static const char SQL_LIST_STATUS[] =
    "SELECT id, number, client_id, status, currency, subtotal, tax, total, amount_paid,"
    " amount_refunded, due_date, paid_at, created_at, updated_at FROM invoices"
    " WHERE id > $1 AND status = $3 ORDER BY id LIMIT $2";

static const char SQL_STATE[] =
    "SELECT status, amount_paid, amount_refunded, number FROM invoices WHERE id = $1";
static const char SQL_STATE_LOCKED[] =
    "SELECT status, amount_paid, amount_refunded, number FROM invoices WHERE id = $1 FOR UPDATE";

static const char SQL_SERVICE_OWNER[] = "SELECT client_id FROM services WHERE id = $1";

static const char SQL_CANCEL[] =
    "UPDATE invoices SET status = 'cancelled', updated_at = $2 WHERE id = $1";

/* Reads items[i] into *it; the messages name the member ("items[2].quantity"). */
static int take_item(const json_t *obj, size_t i, struct invoice_item_in *it, struct lumi_err *err)
{
    static const char *const allowed[] = {"description", "quantity", "unit_amount", "service_id",
                                          NULL};
    struct lumi_err inner = {0};
    int64_t service_id = 0;
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "field 'items[%zu]' must be an object", i);
    memset(it, 0, sizeof *it);
    it->kind = "other";
    if (jsonx_check_keys(obj, allowed, &inner) < 0 ||
        jsonx_take_str(obj, "description", true, DESCRIPTION_MAX, &it->description, &inner) < 0 ||
        jsonx_take_int(obj, "quantity", true, 1, INT32_MAX, &it->quantity, &inner) < 0 ||
        jsonx_take_int(obj, "unit_amount", true, 0, MONEY_AMOUNT_MAX, &it->unit_amount, &inner) <
            0 ||
        jsonx_take_int(obj, "service_id", false, 1, INT64_MAX, &service_id, &inner) < 0)
        return err_set(err, LUMI_EINVAL, "items[%zu]: %s", i, inner.msg);
    if (it->description[0] == '\0')
        return err_set(err, LUMI_EINVAL, "items[%zu]: field 'description' must not be empty", i);
    it->service_id = service_id;
    return 0;
}

/* An item's service must exist and belong to the invoice's client. */
static int check_service(struct db *db, size_t i, int64_t service_id, int64_t client_id,
                         struct lumi_err *err)
{
    char idtext[24];
    int64_t owner = 0;
    snprintf(idtext, sizeof idtext, "%" PRId64, service_id);
    const char *params[] = {idtext};
    int rc = db_query_int64(db, SQL_SERVICE_OWNER, 1, params, &owner, err);
    if (rc == LUMI_ENOTFOUND)
        return err_set(err, LUMI_EINVAL,
                       "items[%zu]: field 'service_id': service %" PRId64 " does not exist", i,
                       service_id);
    if (rc < 0)
        return rc;
    if (owner != client_id)
        return err_set(err, LUMI_EINVAL,
                       "items[%zu]: field 'service_id': service %" PRId64
                       " belongs to another client",
                       i, service_id);
    return 0;
}

json_t *invoices_create_json(struct db *db, const struct audit_actor *actor, const json_t *body,
                             struct lumi_err *err)
{
    static const char *const allowed[] = {"client_id", "currency", "due_date", "items", NULL};
    struct lumi_err local;
    struct invoice_item_in *items = NULL;
    const char *currency_in = NULL, *due_in = NULL;
    char currency[4], due[UTC_ISO_LEN];
    int64_t client_id = 0, id = 0, due_t = 0;
    json_t *result = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (jsonx_check_keys(body, allowed, err) < 0 ||
        jsonx_take_int(body, "client_id", true, 1, INT64_MAX, &client_id, err) < 0 ||
        jsonx_take_str(body, "currency", true, 3, &currency_in, err) < 0 ||
        jsonx_take_str(body, "due_date", false, 40, &due_in, err) < 0)
        goto out;
    if (money_currency_normalize(currency_in, currency) < 0) {
        err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency code");
        goto out;
    }
    if (due_in != NULL) {
        if (utc_parse(due_in, &due_t, NULL) < 0) {
            err_set(err, LUMI_EINVAL, "field 'due_date' must be a date (YYYY-MM-DD)");
            goto out;
        }
    } else {
        due_t = utc_now();
    }
    if (utc_format(due_t, due) < 0) {
        err_set(err, LUMI_EINVAL, "field 'due_date' is out of range");
        goto out;
    }
    const json_t *arr = json_object_get(body, "items");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > ITEMS_MAX) {
        err_set(err, LUMI_EINVAL, "field 'items' must be a list of 1 to %d items", ITEMS_MAX);
        goto out;
    }
    size_t n = json_array_size(arr);
    items = calloc(n, sizeof *items);
    if (items == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (take_item(json_array_get(arr, i), i, &items[i], err) < 0)
            goto out;
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    for (size_t i = 0; i < n; i++)
        if (items[i].service_id > 0 &&
            check_service(db, i, items[i].service_id, client_id, err) < 0)
            goto out;
    if (invoices_create(db, actor, client_id, currency, due, items, n, &id, err) < 0)
        goto out;
    if (db_commit(db, err) < 0)
        goto out;
    in_tx = false;
    result = invoices_get(db, id, err);
out:
    if (in_tx)
        db_rollback(db);
    free(items);
    return result;
}

/* invoice_row in the shape listing_page wants. */
static json_t *invoice_row_fn(struct db_stmt *st, struct lumi_err *err)
{
    (void)err;
    return invoice_row(st);
}

json_t *invoices_list(struct db *db, const char *status, int64_t after_id, int limit,
                      int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    *next_cursor = 0;
    bool known = status == NULL;
    for (size_t i = 0; !known && INVOICE_STATUSES[i] != NULL; i++)
        known = strcmp(status, INVOICE_STATUSES[i]) == 0;
    if (!known) {
        err_set(err, LUMI_EINVAL,
                "status must be one of unpaid, paid, partially_paid, refunded,"
                " partially_refunded, cancelled");
        return NULL;
    }
    return listing_page_filtered(db, status != NULL ? SQL_LIST_STATUS : SQL_LIST, status, after_id,
                                 limit, invoice_row_fn, next_cursor, err);
}

json_t *invoices_list_of(struct db *db, enum invoices_owner owner, int64_t owner_id,
                         int64_t after_id, int limit, int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    *next_cursor = 0;
    if (owner_id <= 0) {
        err_set(err, LUMI_EINVAL, "%s must be a positive id",
                owner == INVOICES_OF_CLIENT ? "client_id" : "service_id");
        return NULL;
    }
    return listing_page_owned(db, owner == INVOICES_OF_CLIENT ? SQL_LIST_CLIENT : SQL_LIST_SERVICE,
                              owner_id, after_id, limit, invoice_row_fn, next_cursor, err);
}

int invoices_cancel(struct db *db, const struct audit_actor *actor, int64_t id,
                    struct lumi_err *err)
{
    struct lumi_err local;
    struct db_stmt *st = NULL;
    char now[UTC_ISO_LEN];
    char status[24] = "", number[32] = "";
    int64_t paid = 0, refunded = 0;
    json_t *details = NULL;
    bool in_tx = false;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    rc = db_begin(db, err);
    if (rc < 0)
        goto out;
    in_tx = true;
    st = db_prepare(db, db_kind(db) == DB_POSTGRES ? SQL_STATE_LOCKED : SQL_STATE, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
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
    snprintf(status, sizeof status, "%s", db_col_text(st, 0));
    paid = db_col_int64(st, 1);
    refunded = db_col_int64(st, 2);
    snprintf(number, sizeof number, "%s", db_col_text(st, 3));
    db_finalize(st);
    st = NULL;
    if (strcmp(status, "unpaid") != 0 || paid != 0 || refunded != 0) {
        rc = err_set(err, LUMI_ECONFLICT,
                     "invoice %s is %s with %" PRId64 " paid: only an unpaid invoice with "
                     "nothing paid can be cancelled",
                     number, status, paid);
        goto out;
    }
    utc_now_iso(now);
    const char *params[] = {NULL, now};
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    params[0] = idtext;
    rc = db_execp(db, SQL_CANCEL, 2, params, NULL, err);
    if (rc < 0)
        goto out;
    details = json_pack("{s:s, s:s}", "number", number, "status_from", status);
    if (details == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    rc = audit_append_id(db, actor, "INVOICE_CANCELLED", "invoice", id, details, err);
    if (rc < 0)
        goto out;
    rc = db_commit(db, err);
    if (rc < 0)
        goto out;
    in_tx = false;
out:
    db_finalize(st);
    if (in_tx)
        db_rollback(db);
    json_decref(details);
    return rc < 0 ? rc : 0;
}

/* ---- issue 13: cancellations and upgrades ------------------------------ */

static const char SQL_CANCEL_IN_TX[] =
    "UPDATE invoices SET status = 'cancelled', updated_at = $2"
    " WHERE id = $1 AND status = 'unpaid' AND amount_paid = 0 AND amount_refunded = 0";

static const char SQL_SETTLE_ZERO[] =
    "UPDATE invoices SET status = 'paid', paid_at = $2, updated_at = $2"
    " WHERE id = $1 AND status = 'unpaid' AND total = 0";

static const char SQL_NUMBER[] = "SELECT number FROM invoices WHERE id = $1";

/* Runs sql ($1 = id, $2 = now); *changed gets the number of rows changed. */
static int update_by_id(struct db *db, const char *sql, int64_t id, int64_t *changed,
                        struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    if (db_bind_int64(st, 1, id) < 0 || db_bind_text(st, 2, now) < 0)
        rc = bind_fail(err);
    if (rc == 0)
        rc = db_step(st, err);
    *changed = rc >= 0 ? db_changes(st) : 0;
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int number_of(struct db *db, int64_t id, char number[32], struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_NUMBER, err);
    if (st == NULL)
        return LUMI_EDB;
    number[0] = '\0';
    int rc = db_bind_int64(st, 1, id) < 0 ? bind_fail(err) : db_step(st, err);
    if (rc == DB_ROW)
        snprintf(number, 32, "%s", db_col_text(st, 0) != NULL ? db_col_text(st, 0) : "");
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

int invoices_cancel_in_tx(struct db *db, const struct audit_actor *actor, int64_t id,
                          const char *why, struct lumi_err *err)
{
    char number[32];
    int64_t changed = 0;
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "invoices_cancel_in_tx needs an open transaction");
    int rc = update_by_id(db, SQL_CANCEL_IN_TX, id, &changed, err);
    if (rc == 0)
        rc = number_of(db, id, number, err);
    if (rc < 0)
        return rc;
    if (changed != 1)
        return err_set(
            err, LUMI_ECONFLICT,
            "invoice %" PRId64 " is not unpaid with nothing paid; it cannot be cancelled", id);
    json_t *details =
        json_pack("{s:s, s:s, s:s?}", "number", number, "status_from", "unpaid", "reason", why);
    if (details == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    rc = audit_append_id(db, actor, "INVOICE_CANCELLED", "invoice", id, details, err);
    json_decref(details);
    return rc < 0 ? rc : 0;
}

int invoices_settle_zero(struct db *db, const struct audit_actor *actor, int64_t id, bool *settled,
                         struct lumi_err *err)
{
    char number[32];
    int64_t changed = 0;
    if (settled != NULL)
        *settled = false;
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "invoices_settle_zero needs an open transaction");
    int rc = update_by_id(db, SQL_SETTLE_ZERO, id, &changed, err);
    if (rc < 0 || changed != 1)
        return rc;
    rc = number_of(db, id, number, err);
    if (rc < 0)
        return rc;
    json_t *details = json_pack("{s:s, s:I, s:s, s:s}", "number", number, "amount", (json_int_t)0,
                                "gateway", "none", "settled", "zero_total");
    if (details == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    rc = audit_append_id(db, actor, "INVOICE_PAID", "invoice", id, details, err);
    json_decref(details);
    if (rc == 0) /* outgoing event (issue 16) */
        rc = events_emit(db, "invoice.paid", "invoice", id,
                         json_pack("{s:I, s:s, s:s, s:I, s:s}", "id", (json_int_t)id, "object",
                                   "invoice", "number", number, "total", (json_int_t)0, "status",
                                   "paid"),
                         err);
    if (rc == 0 && settled != NULL)
        *settled = true;
    return rc < 0 ? rc : 0;
}

/* ---- issue 14: credit and coupons -------------------------------------- */

static const char SQL_CREDIT_COLS[] =
    "SELECT discount, credit_applied FROM invoices WHERE id = $1";
static const char SQL_SET_ADD_FUNDS[] = "UPDATE invoices SET kind = 'add_funds' WHERE id = $1";
static const char SQL_SET_DISCOUNT[] = "UPDATE invoices SET discount = $2 WHERE id = $1";
static const char SQL_ADD_CREDIT_APPLIED[] =
    "UPDATE invoices SET credit_applied = credit_applied + $2 WHERE id = $1";

/* invoices_get's discount and credit_applied members. */
static int invoices_read_credit(struct db *db, int64_t id, json_t *inv, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_CREDIT_COLS, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, id) < 0 ? bind_fail(err) : db_step(st, err);
    if (rc == DB_ROW &&
        (jsonx_set_int(inv, "discount", db_col_int64(st, 0)) < 0 ||
         jsonx_set_int(inv, "credit_applied", db_col_int64(st, 1)) < 0))
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

int invoices_mark_add_funds(struct db *db, int64_t id, struct lumi_err *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *params[] = {idt};
    return db_execp(db, SQL_SET_ADD_FUNDS, 1, params, NULL, err);
}

int invoices_add_credit_applied(struct db *db, int64_t id, int64_t amount, struct lumi_err *err)
{
    char idt[24], amt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    snprintf(amt, sizeof amt, "%" PRId64, amount);
    const char *params[] = {idt, amt};
    return db_execp(db, SQL_ADD_CREDIT_APPLIED, 2, params, NULL, err);
}

int invoices_set_discount(struct db *db, int64_t id, int64_t discount, struct lumi_err *err)
{
    char idt[24], amt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    snprintf(amt, sizeof amt, "%" PRId64, discount);
    const char *params[] = {idt, amt};
    return db_execp(db, SQL_SET_DISCOUNT, 2, params, NULL, err);
}
