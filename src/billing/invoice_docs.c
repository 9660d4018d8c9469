/*
 * invoice_docs.c — gathers an invoice's or credit note's document data and
 * renders its PDF (see invoice_docs.h).
 *
 * Owns no SQL: the invoice through invoices_get (items, taxes, credit notes,
 * the frozen seller and buyer), a credit note through credit_notes_get, the
 * transactions through payments_list_for_invoice, and for a document from
 * before the parties were frozen, the parties as they are now
 * (parties_seller / parties_buyer). Logo and footer come from the settings
 * registry.
 *
 * Threading: no state; uses only the connection it is given.
 */
#include "billing/invoice_docs.h"

#include <stdio.h>
#include <string.h>

#include "billing/credit_notes.h"
#include "billing/invoices.h"
#include "billing/parties.h"
#include "billing/payments.h"
#include "core/config.h"
#include "core/json.h"
#include "core/str.h"
#include "documents/pdf.h"
#include "settings/registry.h"

#define SETTING_MAX 4096

/* ---- the parties and the settings ------------------------------------------- */

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

/*
 * Fills doc's "seller" and "buyer" when they are not objects (a document
 * from before they were frozen): the seller as the settings say now, the
 * buyer as the client's record says now. A seller without a name gets
 * SMTP_FROM's display name, so a document always says who issued it.
 */
static int fill_parties(struct db *db, json_t *doc, int64_t client_id, struct lumi_err *err)
{
    if (!json_is_object(json_object_get(doc, "seller"))) {
        json_t *s = parties_seller(db, err);
        if (s == NULL)
            return err->code != 0 ? err->code : LUMI_ENOMEM;
        json_object_set_new(doc, "seller", s);
    }
    json_t *seller = json_object_get(doc, "seller");
    if (!str_present(json_string_value(json_object_get(seller, "name")))) {
        char name[256];
        from_name(name, sizeof name);
        json_object_set_new(seller, "name", json_string(name));
    }
    if (!json_is_object(json_object_get(doc, "buyer"))) {
        struct lumi_err ignore;
        err_clear(&ignore);
        json_t *b = parties_buyer(db, client_id, &ignore); /* NULL: the client is gone */
        json_object_set_new(doc, "buyer", b != NULL ? b : json_object());
    }
    return 0;
}

/* What every document takes from the settings: the logo and the footer. */
static json_t *doc_opts(struct db *db)
{
    char v[SETTING_MAX];
    struct lumi_err ignore;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    err_clear(&ignore);
    if (settings_reg_text(db, "company.logo_path", v, sizeof v, &ignore) == 0 && str_present(v))
        jsonx_set_str(o, "logo_path", v);
    if (settings_reg_text(db, "invoice.footer", v, sizeof v, &ignore) == 0 && str_present(v))
        jsonx_set_str(o, "footer", v);
    return o;
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
    json_t *v = NULL;
    json_t *inv = invoices_get(db, id, err); /* items, taxes, credit notes, frozen parties */
    if (inv == NULL)
        return NULL;
    int64_t owner = json_integer_value(json_object_get(inv, "client_id"));
    if (client_id > 0 && owner != client_id) {
        err_set(err, LUMI_ENOTFOUND, "invoice %lld not found", (long long)id);
        goto fail;
    }
    if (fill_parties(db, inv, owner, err) != 0)
        goto fail;
    if ((v = payment_refs(db, id, err)) == NULL)
        goto fail;
    json_object_set_new(inv, "payments", v);
    return inv;
fail:
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
    json_t *opts = NULL;
    json_t *cn = credit_notes_get(db, id, err);
    int rc;
    if (cn == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    rc = fill_parties(db, cn, json_integer_value(json_object_get(cn, "client_id")), err);
    if (rc != 0)
        goto out;
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
