/*
 * parties.c — seller and buyer details frozen on documents (see parties.h).
 *
 * Owns the SQL that writes and reads invoices.seller / invoices.buyer and
 * reads the client's address for them. The JSON is stored compact with
 * sorted keys, so the same parties always give the same text.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/parties.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "settings/registry.h"

#define SETTING_MAX 2048

static const char SQL_BUYER[] =
    "SELECT TRIM(first_name || ' ' || last_name), company, email, address1, address2, city,"
    " CASE WHEN region <> '' THEN region ELSE state END, postcode, country, tax_id"
    " FROM users WHERE id = $1";
static const char SQL_FREEZE[] = "UPDATE invoices SET seller = $2, buyer = $3 WHERE id = $1";
static const char SQL_PARTIES[] = "SELECT kind, seller, buyer FROM invoices WHERE id = $1";

static const char *const BUYER_FIELDS[] = {"name",     "company", "email",  "address1",
                                           "address2", "city",    "region", "postcode",
                                           "country",  "tax_id",  NULL};

json_t *parties_seller(struct db *db, struct lumi_err *err)
{
    static const char *const keys[][2] = {{"name", "company.name"},
                                          {"address", "company.address"},
                                          {"country", "company.country"},
                                          {"tax_id", "company.tax_id"},
                                          {"email", "company.email"}};
    char v[SETTING_MAX];
    json_t *s = json_object();
    if (s == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (settings_reg_text(db, keys[i][1], v, sizeof v, err) < 0 ||
            json_object_set_new(s, keys[i][0], json_string(v)) < 0) {
            if (err->code == 0)
                err_set(err, LUMI_ENOMEM, "out of memory");
            json_decref(s);
            return NULL;
        }
    }
    return s;
}

json_t *parties_buyer(struct db *db, int64_t client_id, struct lumi_err *err)
{
    json_t *b = NULL;
    struct db_stmt *st = db_prepare(db, SQL_BUYER, err);
    if (st == NULL)
        return NULL;
    if (db_bind_int64(st, 1, client_id) < 0) {
        err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    int rc = db_step(st, err);
    if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "client %" PRId64 " not found", client_id);
    if (rc != DB_ROW)
        goto out;
    b = json_object();
    for (int i = 0; b != NULL && BUYER_FIELDS[i] != NULL; i++) {
        const char *v = db_col_text(st, i);
        if (json_object_set_new(b, BUYER_FIELDS[i], json_string(v != NULL ? v : "")) < 0) {
            json_decref(b);
            b = NULL;
        }
    }
    if (b == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
out:
    db_finalize(st);
    return b;
}

int parties_freeze_invoice(struct db *db, int64_t invoice_id, int64_t client_id,
                           struct lumi_err *err)
{
    char idtext[24];
    char *seller_text = NULL, *buyer_text = NULL;
    int rc = 0;
    json_t *seller = parties_seller(db, err);
    json_t *buyer = seller != NULL ? parties_buyer(db, client_id, err) : NULL;
    if (buyer == NULL) {
        rc = err->code != 0 ? err->code : LUMI_EINTERNAL;
        goto out;
    }
    seller_text = json_dumps(seller, JSON_COMPACT | JSON_SORT_KEYS);
    buyer_text = json_dumps(buyer, JSON_COMPACT | JSON_SORT_KEYS);
    if (seller_text == NULL || buyer_text == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(idtext, sizeof idtext, "%" PRId64, invoice_id);
    const char *params[] = {idtext, seller_text, buyer_text};
    rc = db_execp(db, SQL_FREEZE, 3, params, NULL, err);
out:
    free(seller_text);
    free(buyer_text);
    json_decref(seller);
    json_decref(buyer);
    return rc < 0 ? rc : 0;
}

/* The stored JSON text as a value: null when absent (or not JSON, which Lumi never writes). */
static json_t *parsed_or_null(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return v != NULL ? v : json_null();
}

int parties_of_invoice(struct db *db, int64_t invoice_id, char **seller, char **buyer,
                       struct lumi_err *err)
{
    int rc;
    *seller = *buyer = NULL;
    struct db_stmt *st = db_prepare(db, SQL_PARTIES, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    if (db_bind_int64(st, 1, invoice_id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", invoice_id);
        goto out;
    }
    if (rc < 0)
        goto out;
    rc = 0;
    if (!db_col_is_null(st, 1))
        *seller = str_dup(db_col_text(st, 1));
    if (!db_col_is_null(st, 2))
        *buyer = str_dup(db_col_text(st, 2));
    if ((!db_col_is_null(st, 1) && *seller == NULL) || (!db_col_is_null(st, 2) && *buyer == NULL))
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
out:
    db_finalize(st);
    if (rc < 0) {
        free(*seller);
        free(*buyer);
        *seller = *buyer = NULL;
    }
    return rc;
}

int parties_add_to_invoice_json(struct db *db, int64_t id, json_t *inv, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_PARTIES, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    if (db_bind_int64(st, 1, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_DONE)
        rc = err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", id);
    if (rc != DB_ROW)
        goto out;
    rc = 0;
    const char *kind = db_col_text(st, 0);
    if (json_object_set_new(inv, "kind", json_string(kind != NULL ? kind : "standard")) < 0 ||
        json_object_set_new(inv, "seller", parsed_or_null(db_col_text(st, 1))) < 0 ||
        json_object_set_new(inv, "buyer", parsed_or_null(db_col_text(st, 2))) < 0)
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}
