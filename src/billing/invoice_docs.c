/*
 * invoice_docs.c — gathers an invoice's or credit note's document data and
 * renders its PDF (see invoice_docs.h).
 *
 * Owns only reads: the invoice through invoices_get, the client through
 * clients_get, the transactions through payments_list_for_invoice, and two
 * small SELECTs of its own for what an older invoice JSON lacks (its
 * invoice_taxes and credit_notes rows) and for a credit note. The company
 * settings are read through the settings registry; a company.* key the
 * registry does not know yet is read from the settings table directly, so
 * the document is right both before and after the company profile exists.
 *
 * Threading: no state; uses only the connection it is given.
 */
#include "billing/invoice_docs.h"

#include <stdio.h>
#include <string.h>

#include "billing/clients.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "core/config.h"
#include "core/json.h"
#include "core/str.h"
#include "db/rowjson.h"
#include "db/settings.h"
#include "documents/pdf.h"
#include "settings/registry.h"

#define SETTING_MAX 4096
#define FROZEN_DEPTH 8

static const char SQL_TAXES[] =
    "SELECT name, country, region, rate_bp, inclusive, base, amount FROM invoice_taxes"
    " WHERE invoice_id = $1 ORDER BY id";

static const char SQL_CREDIT_NOTES[] =
    "SELECT id, number, amount, tax, reason, created_at FROM credit_notes"
    " WHERE invoice_id = $1 ORDER BY id";

static const char SQL_CREDIT_NOTE[] =
    "SELECT n.id, n.number, n.invoice_id, n.client_id, n.currency, n.amount, n.tax, n.reason,"
    " n.seller, n.buyer, n.created_at, i.number AS invoice_number"
    " FROM credit_notes n JOIN invoices i ON i.id = n.invoice_id WHERE n.id = $1";

static const char SQL_FROZEN[] = "SELECT seller, buyer FROM invoices WHERE id = $1";

/* ---- the company --------------------------------------------------------------- */

/* A company.* / invoice.* setting into out, "" when it is unset or unknown. */
static void company_setting(struct db *db, const char *key, char *out, size_t outsz)
{
    struct lumi_err e;
    out[0] = '\0';
    err_clear(&e);
    int rc = settings_reg_text(db, key, out, outsz, &e);
    if (rc == LUMI_EINVAL) /* not in the registry (yet): the row, if any */
        rc = settings_get(db, key, out, outsz, &e) < 0 ? -1 : 0;
    if (rc < 0)
        out[0] = '\0';
}

/* SMTP_FROM's display name ("Acme Hosting <billing@…>" → "Acme Hosting"), else "Lumi". */
static void from_name(char *out, size_t outsz)
{
    const char *from = config_str("SMTP_FROM");
    const char *lt = from != NULL ? strchr(from, '<') : NULL;
    str_copy(out, "Lumi", outsz);
    if (lt == NULL)
        return;
    const char *s = from, *e = lt;
    while (s < e && (*s == ' ' || *s == '"'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '"'))
        e--;
    if (e > s && (size_t)(e - s) < outsz) {
        memcpy(out, s, (size_t)(e - s));
        out[e - s] = '\0';
    }
}

/* The seller as the settings say today. */
static json_t *seller_now(struct db *db)
{
    static const char *const KEYS[][2] = {{"name", "company.name"},
                                          {"address", "company.address"},
                                          {"country", "company.country"},
                                          {"tax_id", "company.tax_id"},
                                          {"email", "company.email"}};
    char v[SETTING_MAX];
    json_t *s = json_object();
    for (size_t i = 0; s != NULL && i < sizeof KEYS / sizeof KEYS[0]; i++) {
        company_setting(db, KEYS[i][1], v, sizeof v);
        if (str_eq(KEYS[i][0], "name") && !str_present(v))
            from_name(v, sizeof v);
        jsonx_set_str(s, KEYS[i][0], v);
    }
    return s;
}

/* What every document takes from the settings: the logo and the footer. */
static json_t *doc_opts(struct db *db)
{
    char v[SETTING_MAX];
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    company_setting(db, "company.logo_path", v, sizeof v);
    if (str_present(v))
        jsonx_set_str(o, "logo_path", v);
    company_setting(db, "invoice.footer", v, sizeof v);
    if (str_present(v))
        jsonx_set_str(o, "footer", v);
    return o;
}

/* ---- the buyer ----------------------------------------------------------------- */

/* The buyer from the client's record as it is now; NULL when the client is gone. */
static json_t *buyer_now(struct db *db, int64_t client_id)
{
    struct lumi_err e;
    char name[512];
    err_clear(&e);
    json_t *c = clients_get(db, client_id, &e);
    if (c == NULL)
        return NULL;
    const char *first = json_string_value(json_object_get(c, "first_name"));
    const char *last = json_string_value(json_object_get(c, "last_name"));
    snprintf(name, sizeof name, "%s%s%s", first != NULL ? first : "",
             str_present(first) && str_present(last) ? " " : "", last != NULL ? last : "");
    json_t *b = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "name",
                          name, "company", json_object_get(c, "company"), "email",
                          json_object_get(c, "email"), "address1", json_object_get(c, "address1"),
                          "address2", json_object_get(c, "address2"), "city",
                          json_object_get(c, "city"), "region", json_object_get(c, "region"),
                          "postcode", json_object_get(c, "postcode"), "country",
                          json_object_get(c, "country"), "tax_id", json_object_get(c, "tax_id"));
    if (b != NULL && json_object_get(b, "region") == NULL)
        json_object_set(b, "region", json_object_get(c, "state"));
    json_decref(c);
    return b;
}

/* ---- rows ---------------------------------------------------------------------- */

/* Every row of sql ($1 = id) as db_row_json objects. */
static json_t *rows_of(struct db *db, const char *sql, int64_t id, const char *const *ints,
                       struct lumi_err *err)
{
    json_t *rows = json_array();
    struct db_stmt *st = rows != NULL ? db_prepare(db, sql, err) : NULL;
    int rc = -1;
    if (st == NULL)
        goto out;
    db_bind_int64(st, 1, id);
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *r = db_row_json(st, ints, err);
        if (r == NULL || json_array_append_new(rows, r) < 0) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            break;
        }
    }
out:
    db_finalize(st);
    if (rc < 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* A frozen JSON column ("seller"/"buyer" text) as an object, or NULL. */
static json_t *frozen(const json_t *row, const char *key)
{
    const char *t = json_string_value(json_object_get(row, key));
    json_t *v = str_present(t) ? jsonx_parse(t, strlen(t), FROZEN_DEPTH, NULL) : NULL;
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* Sets key of o to v (taken) unless o already has an object (or array) there. */
static void fill(json_t *o, const char *key, json_t *v)
{
    json_t *cur = json_object_get(o, key);
    if (v == NULL)
        return;
    if ((json_is_object(cur) && json_object_size(cur) > 0) ||
        (json_is_array(cur) && json_array_size(cur) > 0))
        json_decref(v);
    else
        json_object_set_new(o, key, v);
}

/* The payment references: the transactions without their gateway details. */
static json_t *payment_refs(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *txs = payments_list_for_invoice(db, id, err);
    size_t i;
    json_t *t;
    json_array_foreach(txs, i, t)
        json_object_del(t, "details");
    return txs;
}

/* ---- invoices ------------------------------------------------------------------ */

json_t *invoice_docs_invoice(struct db *db, int64_t id, int64_t client_id, struct lumi_err *err)
{
    static const char *const TAX_INTS[] = {"rate_bp", "inclusive", "base", "amount", NULL};
    static const char *const CN_INTS[] = {"id", "amount", "tax", NULL};
    json_t *inv = invoices_get(db, id, err);
    json_t *row = NULL, *v = NULL;
    if (inv == NULL)
        return NULL;
    int64_t owner = json_integer_value(json_object_get(inv, "client_id"));
    if (client_id > 0 && owner != client_id) {
        err_set(err, LUMI_ENOTFOUND, "invoice %lld not found", (long long)id);
        goto fail;
    }
    row = db_one_row_json(db, SQL_FROZEN, id, NULL, err);
    if (row == NULL)
        goto fail;
    fill(inv, "seller", frozen(row, "seller"));
    fill(inv, "seller", seller_now(db));
    fill(inv, "buyer", frozen(row, "buyer"));
    fill(inv, "buyer", buyer_now(db, owner));
    if (!json_is_array(json_object_get(inv, "taxes"))) {
        if ((v = rows_of(db, SQL_TAXES, id, TAX_INTS, err)) == NULL)
            goto fail;
        json_object_set_new(inv, "taxes", v);
    }
    if (!json_is_array(json_object_get(inv, "credit_notes"))) {
        if ((v = rows_of(db, SQL_CREDIT_NOTES, id, CN_INTS, err)) == NULL)
            goto fail;
        json_object_set_new(inv, "credit_notes", v);
    }
    if ((v = payment_refs(db, id, err)) == NULL)
        goto fail;
    json_object_set_new(inv, "payments", v);
    json_decref(row);
    return inv;
fail:
    json_decref(row);
    json_decref(inv);
    return NULL;
}

/* "INV-000001" → "INV-000001.pdf", anything unsafe in a file name made '_'. */
static void file_name(const char *number, char name[INVOICE_DOCS_NAME_MAX])
{
    size_t n = 0;
    for (const char *p = number != NULL ? number : ""; *p && n < INVOICE_DOCS_NAME_MAX - 5; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        name[n++] = ok ? c : '_';
    }
    if (n == 0)
        name[n++] = 'd';
    memcpy(name + n, ".pdf", 5);
}

int invoice_docs_invoice_pdf(struct db *db, int64_t id, int64_t client_id, struct buf *out,
                             char name[INVOICE_DOCS_NAME_MAX], struct lumi_err *err)
{
    json_t *inv = invoice_docs_invoice(db, id, client_id, err);
    json_t *opts = inv != NULL ? doc_opts(db) : NULL;
    int rc = inv == NULL ? (err->code != 0 ? err->code : LUMI_ENOTFOUND)
             : opts == NULL ? err_set(err, LUMI_ENOMEM, "out of memory")
                            : pdf_invoice(inv, opts, out, err);
    if (rc == 0)
        file_name(json_string_value(json_object_get(inv, "number")), name);
    json_decref(opts);
    json_decref(inv);
    return rc;
}

/* ---- credit notes ----------------------------------------------------------------- */

int invoice_docs_credit_note_pdf(struct db *db, int64_t id, struct buf *out,
                                 char name[INVOICE_DOCS_NAME_MAX], struct lumi_err *err)
{
    static const char *const INTS[] = {"id", "invoice_id", "client_id", "amount", "tax", NULL};
    json_t *opts = NULL;
    json_t *cn = db_one_row_json(db, SQL_CREDIT_NOTE, id, INTS, err);
    int rc;
    if (cn == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    if (json_is_null(cn)) {
        rc = err_set(err, LUMI_ENOTFOUND, "credit note %lld not found", (long long)id);
        goto out;
    }
    json_t *seller = frozen(cn, "seller"), *buyer = frozen(cn, "buyer");
    json_object_del(cn, "seller");
    json_object_del(cn, "buyer");
    fill(cn, "seller", seller);
    fill(cn, "seller", seller_now(db));
    fill(cn, "buyer", buyer);
    fill(cn, "buyer", buyer_now(db, json_integer_value(json_object_get(cn, "client_id"))));
    opts = doc_opts(db);
    rc = opts != NULL ? pdf_credit_note(cn, opts, out, err)
                      : err_set(err, LUMI_ENOMEM, "out of memory");
    if (rc == 0)
        file_name(json_string_value(json_object_get(cn, "number")), name);
out:
    json_decref(opts);
    json_decref(cn);
    return rc;
}
