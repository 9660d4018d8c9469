/*
 * p_invoices.c — /admin/invoices: the list with a status filter and keyset
 * paging, one invoice with its items, totals and transactions, the manual
 * payment and cancel forms, and the form for a new invoice.
 *
 * Every read and change goes through the functions behind
 * /api/admin/invoices (invoices_list, invoices_get, payments_list_for_invoice,
 * payments_manual, invoices_cancel, invoices_create_json): a form is turned
 * into the JSON body the API takes, so the rules, messages and audit rows are
 * the API's. The one thing a page adds is reading an admin's decimal amount
 * ("12.50") into minor units with money_parse, in the invoice's currency.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/clients.h"
#include "billing/invoices.h"
#include "billing/listing.h"
#include "billing/payments.h"
#include "core/money.h"
#include "core/str.h"
#include "web/credit_view.h"
#include "web/page.h"
#include "web/tax_view.h"
#include "web/admin/pages_invoices.h"

#define PAGE_SIZE 50
/* Item rows on the new-invoice form (the API takes up to 100; the form offers a few). */
#define ITEM_ROWS 5
#define TEXT_MAX 80

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v ? v : "";
}

static const char *badge_class(const char *status)
{
    if (status == NULL)
        return "badge";
    if (str_eq(status, "paid"))
        return "badge badge-ok";
    if (str_eq(status, "cancelled") || str_eq(status, "refunded"))
        return "badge badge-bad";
    return "badge badge-warn";
}

/* "partially paid" for "partially_paid". */
static void status_label(const char *status, char *out, size_t sz)
{
    str_copy(out, status != NULL ? status : "", sz);
    for (char *p = out; *p != '\0'; p++)
        if (*p == '_')
            *p = ' ';
}

/* Adds status_label, badge and the money texts to an invoice object as invoices_get answers it. */
static void decorate_invoice(json_t *inv)
{
    const char *cur = json_string_value(json_object_get(inv, "currency"));
    const char *status = json_string_value(json_object_get(inv, "status"));
    char label[32];
    int64_t total = json_integer_value(json_object_get(inv, "total"));
    int64_t paid = json_integer_value(json_object_get(inv, "amount_paid"));
    status_label(status, label, sizeof label);
    json_object_set_new(inv, "status_label", json_string(label));
    json_object_set_new(inv, "badge", json_string(badge_class(status)));
    page_set_money(inv, "subtotal_text", json_integer_value(json_object_get(inv, "subtotal")), cur);
    page_set_money(inv, "tax_text", json_integer_value(json_object_get(inv, "tax")), cur);
    tax_view_decorate(inv); /* Tax and VAT (issue 14): each rate's line */
    page_set_money(inv, "total_text", total, cur);
    page_set_money(inv, "paid_text", paid, cur);
    page_set_money(inv, "refunded_text",
                   json_integer_value(json_object_get(inv, "amount_refunded")), cur);
    bool open = status != NULL && (str_eq(status, "unpaid") || str_eq(status, "partially_paid"));
    int64_t due = open ? total - paid : 0;
    page_set_money(inv, "due_text", due, cur);
    /* The payment form's default: what is due, as the admin would type it. */
    char num[MONEY_TEXT_MAX] = "";
    if (open && cur != NULL && money_format(due, cur, num, sizeof num) < 0)
        num[0] = '\0';
    json_object_set_new(inv, "due_plain", json_string(num));
    const char *due_date = json_string_value(json_object_get(inv, "due_date"));
    char day[11] = "";
    if (due_date != NULL)
        snprintf(day, sizeof day, "%.10s", due_date);
    json_object_set_new(inv, "due_day", json_string(day));
}

/* "First Last", else the company, else the e-mail. */
static void client_label(const json_t *c, char *out, size_t sz)
{
    const char *first = json_string_value(json_object_get(c, "first_name"));
    const char *last = json_string_value(json_object_get(c, "last_name"));
    const char *company = json_string_value(json_object_get(c, "company"));
    const char *email = json_string_value(json_object_get(c, "email"));
    bool f = str_present(first), l = str_present(last);
    if (f || l)
        snprintf(out, sz, "%s%s%s", f ? first : "", f && l ? " " : "", l ? last : "");
    else if (str_present(company))
        str_copy(out, company, sz);
    else
        str_copy(out, email != NULL ? email : "", sz);
}

/* {id, label, email} of a client; label "client N" when it cannot be read. */
/* The view of client id: from known (clients_get_many's answer) when there, else read. */
static json_t *client_view_known(struct web_req *req, int64_t id, json_t *known)
{
    char label[420], key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    json_t *c = json_incref(json_object_get(known, key));
    if (c == NULL)
        c = clients_get(req->db, id, NULL);
    if (c != NULL)
        client_label(c, label, sizeof label);
    else
        snprintf(label, sizeof label, "client %" PRId64, id);
    const char *email = json_string_value(json_object_get(c, "email"));
    json_t *v = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "label", label, "email",
                          email != NULL ? email : "");
    json_decref(c);
    return v;
}

static json_t *client_view(struct web_req *req, int64_t id)
{
    return client_view_known(req, id, NULL);
}

/* The clients of a page's rows in one statement (issue 15: a round trip per
 * client costs tens of milliseconds on PostgreSQL); NULL reads them one by one. */
static json_t *clients_of_rows(struct web_req *req, json_t *rows)
{
    int64_t ids[CLIENTS_MANY_MAX];
    size_t i, n = 0;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (n < CLIENTS_MANY_MAX)
            ids[n++] = json_integer_value(json_object_get(row, "client_id"));
    }
    return clients_get_many(req->db, ids, n, NULL);
}

/* ---- list --------------------------------------------------------------- */

void p_invoices_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t next = 0, cursor = 0;
    const char *status = NULL;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    if (page_query_choice(req, resp, &ctx, "status", INVOICE_STATUSES,
                          "status must be one of unpaid, paid, partially_paid, refunded,"
                          " partially_refunded, cancelled",
                          &status) != 0 ||
        page_query_cursor(req, resp, &ctx, "cursor must be a next-page cursor (a positive id)",
                          &cursor) != 0)
        return;
    json_t *rows = invoices_list(req->db, status, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    /* One look-up for the page's clients, not one per row. */
    json_t *known = clients_of_rows(req, rows);
    json_t *clients = json_object();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        char key[24];
        int64_t cid = json_integer_value(json_object_get(row, "client_id"));
        snprintf(key, sizeof key, "%" PRId64, cid);
        json_t *cv = json_object_get(clients, key);
        if (cv == NULL) {
            cv = client_view_known(req, cid, known);
            json_object_set_new(clients, key, cv);
        }
        json_object_set(row, "client", cv);
        decorate_invoice(row);
    }
    json_decref(known);
    json_decref(clients);
    json_t *statuses = json_array();
    for (size_t k = 0; INVOICE_STATUSES[k] != NULL; k++) {
        char label[32];
        status_label(INVOICE_STATUSES[k], label, sizeof label);
        json_array_append_new(statuses,
                              json_pack("{s:s, s:s, s:b}", "value", INVOICE_STATUSES[k], "label",
                                        label, "selected", status == INVOICE_STATUSES[k]));
    }
    json_t *data = json_pack("{s:s, s:o, s:o, s:s}", "title", "Invoices", "invoices", rows,
                             "statuses", statuses, "status", status != NULL ? status : "");
    page_set_paging(data, "/admin/invoices", &(struct page_filter){"status", status}, 1, cursor,
                    next);
    page_render(req, resp, 200, &ctx, "invoices.html", data);
}

/* ---- detail, manual payment, cancel ------------------------------------- */

/*
 * Renders the invoice page with status; error (may be NULL) is shown as the
 * flash, amount/reference (may be NULL) refill the payment form.
 */
static void render_detail_with(struct web_req *req, struct web_resp *resp,
                               const struct page_ctx *ctx, int64_t id, int status,
                               const char *error, const char *amount, const char *reference,
                               const json_t *extra);

static void render_detail(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                          int64_t id, int status, const char *error, const char *amount,
                          const char *reference)
{
    render_detail_with(req, resp, ctx, id, status, error, amount, reference, NULL);
}

void p_invoices_render(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       int64_t id, int status, const char *error, const json_t *extra)
{
    render_detail_with(req, resp, ctx, id, status, error, NULL, NULL, extra);
}

/* As render_detail; extra's members (may be NULL) are added to the page's data. */
static void render_detail_with(struct web_req *req, struct web_resp *resp,
                               const struct page_ctx *ctx, int64_t id, int status,
                               const char *error, const char *amount, const char *reference,
                               const json_t *extra)
{
    struct lumi_err err = {0};
    json_t *inv = invoices_get(req->db, id, &err);
    if (inv == NULL) {
        page_error(req, resp, err.code == LUMI_ENOTFOUND ? 404 : err_http_status(err.code), ctx,
                   err.code == LUMI_ENOTFOUND ? "invoice not found" : err.msg);
        return;
    }
    json_t *txs = payments_list_for_invoice(req->db, id, &err);
    if (txs == NULL) {
        json_decref(inv);
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    const char *cur = json_string_value(json_object_get(inv, "currency"));
    const char *st = json_string_value(json_object_get(inv, "status"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(inv, "items"), i, it)
    {
        page_set_money(it, "unit_text", json_integer_value(json_object_get(it, "unit_amount")),
                       cur);
        page_set_money(it, "amount_text", json_integer_value(json_object_get(it, "amount")), cur);
    }
    json_array_foreach(txs, i, it)
    {
        char label[32];
        const char *kind = json_string_value(json_object_get(it, "kind"));
        status_label(kind, label, sizeof label);
        json_object_set_new(it, "kind_label", json_string(label));
        json_object_set_new(
            it, "money_out",
            json_boolean(kind != NULL && (str_eq(kind, "refund") || str_eq(kind, "chargeback"))));
        page_set_money(it, "amount_text", json_integer_value(json_object_get(it, "amount")),
                       json_string_value(json_object_get(it, "currency")));
    }
    /* Credit notes (issue 14, company): their amounts as money, and whether one can be made. */
    json_array_foreach(json_object_get(inv, "credit_notes"), i, it)
    {
        page_set_money(it, "amount_text", json_integer_value(json_object_get(it, "amount")), cur);
        page_set_money(it, "tax_text", json_integer_value(json_object_get(it, "tax")), cur);
    }
    json_object_set_new(inv, "can_credit",
                        json_boolean(json_integer_value(json_object_get(inv, "amount_paid")) > 0));
    decorate_invoice(inv);
    bool can_pay = st != NULL && (str_eq(st, "unpaid") || str_eq(st, "partially_paid"));
    bool can_cancel = st != NULL && str_eq(st, "unpaid") &&
                      json_integer_value(json_object_get(inv, "amount_paid")) == 0;
    char title[64];
    snprintf(title, sizeof title, "Invoice %s", json_string_value(json_object_get(inv, "number")));
    json_t *client = client_view(req, json_integer_value(json_object_get(inv, "client_id")));
    json_t *data = json_pack(
        "{s:s, s:o, s:o, s:o, s:b, s:b, s:s, s:s}", "title", title, "invoice", inv, "transactions",
        txs, "client", client, "can_pay", can_pay, "can_cancel", can_cancel, "pay_amount",
        amount != NULL ? amount : json_string_value(json_object_get(inv, "due_plain")),
        "pay_reference", reference != NULL ? reference : "");
    page_set_error(data, error);
    credit_view_invoice(req->db, data); /* issue 14 */
    if (data != NULL && extra != NULL)
        json_object_update(data, (json_t *)extra);
    page_render(req, resp, status, ctx, "invoice_detail.html", data);
}

void p_invoices_detail(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t id = page_id_or_404(req, resp, &ctx, "invoice not found");
    if (id > 0)
        render_detail(req, resp, &ctx, id, 200, NULL, NULL, NULL);
}

void p_invoices_pay(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char currency[8] = "";
    int64_t minor = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t id = web_param_id(req, "id");
    json_t *inv = id > 0 ? invoices_get(req->db, id, &err) : NULL;
    if (inv == NULL) {
        page_error(req, resp,
                   id <= 0 || err.code == LUMI_ENOTFOUND ? 404 : err_http_status(err.code), &ctx,
                   id <= 0 || err.code == LUMI_ENOTFOUND ? "invoice not found" : err.msg);
        return;
    }
    str_copy(currency, json_string_value(json_object_get(inv, "currency")), sizeof currency);
    json_decref(inv);
    const char *amount = form_str(req, "amount"), *reference = form_str(req, "reference");
    if (money_parse(amount, currency, &minor, &err) < 0) {
        char msg[LUMI_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "field 'amount': %s", err.msg);
        render_detail(req, resp, &ctx, id, 400, msg, amount, reference);
        return;
    }
    if (minor <= 0) {
        render_detail(req, resp, &ctx, id, 400, "field 'amount' must be more than 0", amount,
                      reference);
        return;
    }
    json_t *body = json_pack("{s:I, s:s}", "amount", (json_int_t)minor, "reference", reference);
    struct audit_actor actor = auth_actor(req);
    json_t *res = body != NULL ? payments_manual(req->db, &actor, id, body, &err) : NULL;
    json_decref(body);
    if (res == NULL) {
        if (err.code == 0)
            err_set(&err, LUMI_ENOMEM, "out of memory");
        render_detail(req, resp, &ctx, id, err_http_status(err.code), err.msg, amount, reference);
        return;
    }
    char base[64], money[TEXT_MAX], msg[400];
    money_format_text(minor, currency, money, sizeof money);
    /* A reference is unique across all manual payments: reusing one (on this or another
     * invoice) records nothing, as the API's "duplicate": true says; the admin must know. */
    bool duplicate = json_is_true(json_object_get(res, "duplicate"));
    if (duplicate)
        snprintf(msg, sizeof msg,
                 "A manual payment with reference '%s' was already recorded: nothing changed.",
                 reference);
    else
        snprintf(msg, sizeof msg, "Payment of %s recorded (reference '%s').", money, reference);
    json_decref(res);
    snprintf(base, sizeof base, "/admin/invoices/%" PRId64, id);
    page_redirect_flash(resp, base, duplicate ? "error" : "ok", msg);
}

void p_invoices_cancel(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    if (id <= 0 || invoices_cancel(req->db, &actor, id, &err) < 0) {
        if (id <= 0 || err.code == LUMI_ENOTFOUND)
            page_error(req, resp, 404, &ctx, "invoice not found");
        else
            render_detail(req, resp, &ctx, id, err_http_status(err.code), err.msg, NULL, NULL);
        return;
    }
    char base[64];
    snprintf(base, sizeof base, "/admin/invoices/%" PRId64, id);
    page_redirect_flash(resp, base, "ok", "Invoice cancelled.");
}

/* ---- new invoice -------------------------------------------------------- */

/*
 * The new-invoice form's data: the clients to choose from (a select when
 * they fit on one page, else a number field), and the values to show
 * (from the posted form when form_values, else defaults).
 */
static json_t *new_form_view(struct web_req *req, bool form_values, int64_t client_id,
                             const char *error)
{
    struct lumi_err err = {0};
    int64_t next = 0;
    json_t *clients = clients_list(req->db, 0, CLIENTS_PAGE_MAX, &next, &err);
    json_t *choices = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(clients, i, c)
    {
        char label[420], text[700];
        int64_t id = json_integer_value(json_object_get(c, "id"));
        client_label(c, label, sizeof label);
        const char *email = json_string_value(json_object_get(c, "email"));
        if (email != NULL && !str_eq(email, label))
            snprintf(text, sizeof text, "%s <%s>", label, email);
        else
            str_copy(text, label, sizeof text);
        json_array_append_new(choices, json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "label",
                                                 text, "selected", id == client_id));
    }
    json_decref(clients);
    json_t *rows = json_array();
    for (int r = 1; r <= ITEM_ROWS; r++) {
        char dn[24], qn[24], un[24];
        snprintf(dn, sizeof dn, "description_%d", r);
        snprintf(qn, sizeof qn, "quantity_%d", r);
        snprintf(un, sizeof un, "unit_amount_%d", r);
        json_array_append_new(rows, json_pack("{s:i, s:s, s:s, s:s}", "n", r, "description",
                                              form_values ? form_str(req, dn) : "", "quantity",
                                              form_values ? form_str(req, qn) : "1", "unit_amount",
                                              form_values ? form_str(req, un) : ""));
    }
    char cid[24] = "";
    if (client_id > 0)
        snprintf(cid, sizeof cid, "%" PRId64, client_id);
    json_t *v = json_pack("{s:s, s:o, s:b, s:o, s:s, s:s, s:s}", "title", "New invoice", "clients",
                          choices, "client_select", next == 0 && json_array_size(choices) > 0,
                          "rows", rows, "client_id", form_values ? form_str(req, "client_id") : cid,
                          "currency", form_values ? form_str(req, "currency") : "usd", "due_date",
                          form_values ? form_str(req, "due_date") : "");
    page_set_error(v, error);
    return v;
}

void p_invoices_new(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t client_id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    const char *c = web_query(req, "client_id");
    if (c != NULL && *c != '\0' && str_to_i64z(c, 1, INT64_MAX, &client_id) != 0) {
        page_error(req, resp, 400, &ctx, "client_id must be a client's id");
        return;
    }
    page_render(req, resp, 200, &ctx, "invoice_new.html",
                new_form_view(req, false, client_id, NULL));
}

/*
 * The API's body from the form: rows whose description and unit amount are
 * both empty are left out. LUMI_EINVAL naming the field otherwise.
 */
static json_t *body_from_form(struct web_req *req, struct lumi_err *err)
{
    int64_t client_id = 0;
    char currency[4];
    const char *cur_in = form_str(req, "currency");
    if (str_to_i64z(form_str(req, "client_id"), 1, INT64_MAX, &client_id) != 0) {
        err_set(err, LUMI_EINVAL, "field 'client_id': choose a client");
        return NULL;
    }
    if (money_currency_normalize(cur_in, currency) < 0) {
        err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency code");
        return NULL;
    }
    json_t *items = json_array();
    json_t *body = json_pack("{s:I, s:s, s:o}", "client_id", (json_int_t)client_id, "currency",
                             currency, "items", items);
    if (body == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    const char *due = form_str(req, "due_date");
    if (*due != '\0')
        json_object_set_new(body, "due_date", json_string(due));
    for (int r = 1; r <= ITEM_ROWS; r++) {
        char dn[24], qn[24], un[24];
        int64_t qty = 0, unit = 0;
        struct lumi_err perr = {0};
        snprintf(dn, sizeof dn, "description_%d", r);
        snprintf(qn, sizeof qn, "quantity_%d", r);
        snprintf(un, sizeof un, "unit_amount_%d", r);
        const char *d = form_str(req, dn), *q = form_str(req, qn), *u = form_str(req, un);
        if (*d == '\0' && *u == '\0')
            continue;
        if (str_to_i64z(*q != '\0' ? q : "1", 1, INT32_MAX, &qty) != 0) {
            err_set(err, LUMI_EINVAL, "item %d: the quantity must be a whole number from 1", r);
            goto fail;
        }
        if (money_parse(u, currency, &unit, &perr) < 0) {
            err_set(err, LUMI_EINVAL, "item %d: unit amount: %s", r, perr.msg);
            goto fail;
        }
        if (unit < 0) {
            err_set(err, LUMI_EINVAL, "item %d: the unit amount must not be negative", r);
            goto fail;
        }
        if (json_array_append_new(items, json_pack("{s:s, s:I, s:I}", "description", d, "quantity",
                                                   (json_int_t)qty, "unit_amount",
                                                   (json_int_t)unit)) < 0) {
            err_set(err, LUMI_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (json_array_size(items) == 0) {
        err_set(err, LUMI_EINVAL, "add at least one item with a description and a unit amount");
        goto fail;
    }
    return body;
fail:
    json_decref(body);
    return NULL;
}

void p_invoices_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t client_id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    json_t *inv = NULL;
    json_t *body = body_from_form(req, &err);
    if (body != NULL) {
        struct audit_actor actor = auth_actor(req);
        inv = invoices_create_json(req->db, &actor, body, &err);
        json_decref(body);
    }
    if (inv == NULL) {
        if (err.code == 0)
            err_set(&err, LUMI_ENOMEM, "out of memory");
        if (str_to_i64z(form_str(req, "client_id"), 1, INT64_MAX, &client_id) != 0)
            client_id = 0;
        page_render(req, resp, page_form_status(&err), &ctx, "invoice_new.html",
                    new_form_view(req, true, client_id, err.msg));
        return;
    }
    char base[64], msg[120];
    snprintf(base, sizeof base, "/admin/invoices/%" PRId64,
             (int64_t)json_integer_value(json_object_get(inv, "id")));
    snprintf(msg, sizeof msg, "Invoice %s created.",
             json_string_value(json_object_get(inv, "number")));
    json_decref(inv);
    page_redirect_flash(resp, base, "ok", msg);
}
