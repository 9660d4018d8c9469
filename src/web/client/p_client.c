/*
 * p_client.c — the client area /client/...: login and logout, the home page
 * (services and unpaid invoices), the lists and pages of the client's
 * services and invoices, and the invoice page the gateways return to.
 *
 * Isolation: every lookup is scoped to the logged-in client
 * (auth_client_scope). Lists select only the client's ids; a single service
 * or invoice is read with the API's domain function and then compared with
 * the client, and another client's id answers exactly the page of an id
 * that does not exist (404, never 403, which would tell that it exists).
 *
 * Login runs through accounts_login with policy.client_area, so only clients
 * get in, with the admin login's throttling and LOGIN / LOGIN_FAILED audit
 * rows; the form has its own CSRF token in a short-lived cookie (no session
 * exists yet), like /admin/login.
 *
 * Gateway returns: Stripe comes back to /client/invoices/{id}?paid=stripe&
 * rt=…&session_id=…; the session is applied through checkout_stripe_return
 * (the webhook's path) only for the invoice's owner or with a valid return
 * token (rt, signed into success_url, so an expired session still works —
 * then the page shows the outcome and a login link, nothing of the invoice);
 * anyone else causes no call to Stripe (issue 17, finding 4). PayPal comes
 * back through /api/paypal/capture, which redirects here with the outcome
 * as a signed flash (web/flash.h); the page itself always shows the
 * invoice's status from the database, to its owner only (finding 9).
 *
 * Handlers run on the request's worker thread with its connection; no
 * shared state.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "billing/checkout.h"
#include "billing/clients.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "billing/products.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"
#include "provisioning/cancellations.h"
#include "provisioning/changes.h"
#include "provisioning/services.h"
#include "web/gateways.h"
#include "web/credit_view.h"
#include "web/page.h"
#include "web/tax_view.h"
#include "web/client/pages_client.h"

/* Rows on one page of a list, and on the home page. */
#define LIST_ROWS 50
#define HOME_ROWS 10

#define NO_INVOICE "There is no such invoice."
#define NO_SERVICE "There is no such service."

/*
 * The ids of one client's rows, newest first. $1 = the client, $2 = the id
 * below which to start (the cursor) or, for the invoices of a service, the
 * service; $3 = how many rows to fetch. The rows themselves are then read
 * with the domain's *_get functions, so the pages show what the API shows.
 * (These belong in billing/ and provisioning/ as a client filter of
 * invoices_list and services_list; until then they live here, read-only,
 * served by the indexes on (client_id, id).)
 */
static const char SQL_INVOICE_IDS[] = "SELECT id FROM invoices WHERE client_id = $1 AND id < $2"
                                      " ORDER BY id DESC LIMIT $3";
static const char SQL_UNPAID_IDS[] =
    "SELECT id FROM invoices WHERE client_id = $1 AND id < $2"
    " AND status IN ('unpaid', 'partially_paid') ORDER BY id DESC LIMIT $3";
static const char SQL_SERVICE_IDS[] = "SELECT id FROM services WHERE client_id = $1 AND id < $2"
                                      " ORDER BY id DESC LIMIT $3";
static const char SQL_SERVICE_INVOICE_IDS[] =
    "SELECT DISTINCT i.id FROM invoices i JOIN invoice_items t ON t.invoice_id = i.id"
    " WHERE i.client_id = $1 AND t.service_id = $2 ORDER BY i.id DESC LIMIT $3";

/* ---- login ---------------------------------------------------------------- */

void p_client_login_form(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    char csrf[AUTH_CSRF_LEN];
    const char *next = web_query(req, "next");
    /* Already logged in (a bookmark, the back button): straight on. */
    if (auth_session_principal(req, AUTH_AREA_CLIENT, csrf, &err) == 0) {
        web_redirect(resp, page_next_is_safe(next, AUTH_AREA_CLIENT) ? next : "/client");
        page_security_headers(resp);
        return;
    }
    page_login_render(req, resp, AUTH_AREA_CLIENT, 200, "client_login.html", "Log in", NULL, next,
                      NULL);
}

void p_client_login(struct web_req *req, struct web_resp *resp)
{
    struct accounts_session s;
    int rc = page_login_password(req, resp, AUTH_AREA_CLIENT, "client_login.html",
                                 "This account cannot use the client area.", &s);
    if (rc == ACCOUNTS_LOGIN_NEED_CODE) /* two-factor sign-in: the code step (p_account.c) */
        p_client_login_need_code(req, resp, &s, web_form_value(req, "next"));
    else if (rc == 0)
        page_login_finish(resp, AUTH_AREA_CLIENT, &s, web_form_value(req, "next"));
}

void p_client_logout(struct web_req *req, struct web_resp *resp)
{
    page_logout(req, resp, AUTH_AREA_CLIENT);
}

/* ---- views: what the templates get ------------------------------------------ */

/* "partially_paid" → "partially paid", into out. */
static void label_of(const char *status, char *out, size_t outsz)
{
    str_copy(out, status ? status : "", outsz);
    for (char *p = out; *p; p++)
        if (*p == '_')
            *p = ' ';
}

static void set_label(json_t *o, const char *key, const char *status)
{
    char label[64];
    label_of(status, label, sizeof label);
    json_object_set_new(o, key, json_string(label));
}

/* Sets o[key] to "12.50 USD" (amount in currency's minor units); nothing for an unknown currency.
 */
static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* Sets o[key] to the date of an ISO-8601 time ("2026-11-25T00:19:08Z" → "2026-11-25"): the
 * day is what a payer needs to know. */
static void set_day(json_t *o, const char *key, const char *iso)
{
    char day[11];
    str_copy(day, iso != NULL ? iso : "", sizeof day);
    json_object_set_new(o, key, json_string(day));
}

static int64_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* What can still be paid on an invoice (as checkout.c computes it), 0 when nothing. */
static int64_t amount_due(const json_t *inv)
{
    const char *status = str_of(inv, "status");
    if (!str_eq(status, "unpaid") && !str_eq(status, "partially_paid"))
        return 0;
    int64_t due = int_of(inv, "total") - int_of(inv, "amount_paid");
    return due > 0 ? due : 0;
}

/* Adds the display fields of an invoice (in place): amounts as text, status label, due, overdue. */
static void invoice_view(json_t *inv)
{
    static const char *const amounts[] = {"subtotal",        "tax", "total", "amount_paid",
                                          "amount_refunded", NULL};
    char today[UTC_ISO_LEN];
    const char *currency = json_string_value(json_object_get(inv, "currency"));
    for (size_t i = 0; amounts[i] != NULL; i++)
        page_add_money_text(inv, amounts[i], currency);
    tax_view_decorate(inv); /* Tax and VAT (issue 14): each rate's line */
    set_label(inv, "status_label", str_of(inv, "status"));
    int64_t due = amount_due(inv);
    json_object_set_new(inv, "payable", json_boolean(due > 0));
    page_set_money(inv, "due_text", due, currency);
    utc_now_iso(today);
    const char *due_date = str_of(inv, "due_date");
    set_day(inv, "due_on", due_date);
    if (json_is_string(json_object_get(inv, "paid_at")))
        set_day(inv, "paid_on", str_of(inv, "paid_at"));
    json_object_set_new(
        inv, "overdue",
        json_boolean(due > 0 && *due_date != '\0' && strncmp(due_date, today, 10) < 0));
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(inv, "items"), i, item)
    {
        page_add_money_text(item, "unit_amount", currency);
        page_add_money_text(item, "amount", currency);
    }
}

/*
 * The service as its client sees it: what was ordered and its state, never
 * the panel's internals (server, remote key, jobs, attempts, errors).
 */
static json_t *service_view(struct db *db, const json_t *s)
{
    struct lumi_err err = {0};
    const char *currency = json_string_value(json_object_get(s, "currency"));
    json_t *v = json_pack(
        "{s:O? s:O? s:O? s:O? s:O? s:O? s:O? s:O?}", "id", json_object_get(s, "id"), "status",
        json_object_get(s, "status"), "suspend_reason", json_object_get(s, "suspend_reason"),
        "domain", json_object_get(s, "domain"), "username", json_object_get(s, "username"),
        "billing_cycle", json_object_get(s, "billing_cycle"), "next_due_date",
        json_object_get(s, "next_due_date"), "created_at", json_object_get(s, "created_at"));
    if (v == NULL)
        return NULL;
    set_label(v, "status_label", str_of(s, "status"));
    set_day(v, "next_due_on", str_of(s, "next_due_date"));
    set_day(v, "ordered_on", str_of(s, "created_at"));
    page_set_money(v, "recurring_text", int_of(s, "recurring_amount"), currency);
    json_t *product = products_get(db, int_of(s, "product_id"), &err);
    char name[64];
    if (product != NULL)
        json_object_set_new(v, "product_name", json_string(str_of(product, "name")));
    else if (snprintf(name, sizeof name, "Product #%lld", (long long)int_of(s, "product_id")) > 0)
        json_object_set_new(v, "product_name", json_string(name));
    json_decref(product);
    return v;
}

/* ---- live status after an order (issue 13) ----------------------------------- */

/* Seconds between refreshes of a page whose service is being set up. */
#define REFRESH_S 5

/*
 * Whether the service is being set up right now: provisioning, or pending
 * with a provision job queued or running (paid, waiting for a worker). A
 * pending service that waits for its payment is not: refreshing would not
 * change it.
 */
static bool service_working(const json_t *s)
{
    const char *status = str_of(s, "status");
    if (str_eq(status, "provisioning"))
        return true;
    if (!str_eq(status, "pending"))
        return false;
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(s, "jobs"), i, job)
    {
        const char *js = str_of(job, "status");
        if (str_eq(str_of(job, "action"), "provision") &&
            (str_eq(js, "queued") || str_eq(js, "running")))
            return true;
    }
    return false;
}

/*
 * The services an invoice pays for, as their client sees them with their
 * live status, into data "services"; data "refresh" while one is being set
 * up, so the page follows it (pending → provisioning → active) without
 * JavaScript.
 */
static void add_invoice_services(struct db *db, const json_t *inv, json_t *data)
{
    struct lumi_err err = {0};
    json_t *list = json_array();
    bool working = false;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(inv, "items"), i, item)
    {
        int64_t sid = int_of(item, "service_id");
        bool seen = sid <= 0;
        for (size_t j = 0; j < json_array_size(list) && !seen; j++)
            seen = int_of(json_array_get(list, j), "id") == sid;
        if (seen || list == NULL)
            continue;
        json_t *s = services_get(db, sid, &err);
        json_t *v = s != NULL ? service_view(db, s) : NULL;
        if (v != NULL) {
            bool w = service_working(s);
            working = working || w;
            json_object_set_new(v, "working", json_boolean(w));
            json_array_append_new(list, v);
        }
        json_decref(s);
    }
    json_object_set_new(data, "services", list);
    if (working)
        json_object_set_new(data, "refresh", json_integer(REFRESH_S));
}

/* ---- scoped lookups ------------------------------------------------------------ */

struct id_page {
    int64_t ids[LIST_ROWS];
    size_t n;
    int64_t next; /* the cursor of the following page, 0 when none */
};

/* Runs one of the SQL_*_IDS above: at most limit (≤ LIST_ROWS) ids into p. */
static int scoped_ids(struct db *db, const char *sql, int64_t client_id, int64_t arg, size_t limit,
                      struct id_page *p, struct lumi_err *err)
{
    int rc;
    memset(p, 0, sizeof *p);
    if (limit > LIST_ROWS)
        limit = LIST_ROWS;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    /* One row more than shown tells whether another page follows. */
    if (db_bind_int64(st, 1, client_id) < 0 || db_bind_int64(st, 2, arg) < 0 ||
        db_bind_int64(st, 3, (int64_t)limit + 1) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (p->n == limit) {
            p->next = p->ids[limit - 1];
            break;
        }
        p->ids[p->n++] = db_col_int64(st, 0);
    }
    if (rc == DB_ROW || rc == DB_DONE)
        rc = 0;
out:
    db_finalize(st);
    return rc;
}

/* The client's invoice id with its view fields, or NULL: LUMI_ENOTFOUND also for another's. */
static json_t *own_invoice(struct db *db, int64_t client_id, int64_t id, struct lumi_err *err)
{
    json_t *inv = id > 0 ? invoices_get(db, id, err) : NULL;
    if (id <= 0 || (inv != NULL && int_of(inv, "client_id") != client_id)) {
        json_decref(inv);
        err_set(err, LUMI_ENOTFOUND, NO_INVOICE);
        return NULL;
    }
    if (inv != NULL)
        invoice_view(inv);
    return inv;
}

/* The invoices of ids (all the client's, selected by scoped_ids) as a new array, or NULL. */
static json_t *invoices_of(struct db *db, int64_t client_id, const struct id_page *p,
                           struct lumi_err *err)
{
    json_t *rows = json_array();
    for (size_t i = 0; rows != NULL && i < p->n; i++) {
        json_t *inv = own_invoice(db, client_id, p->ids[i], err);
        if (inv == NULL) {
            json_decref(rows);
            return NULL;
        }
        json_object_del(inv, "items"); /* the lists show totals only */
        json_array_append_new(rows, inv);
    }
    if (rows == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return rows;
}

/* The services of ids as client views in a new array, or NULL. */
static json_t *services_of(struct db *db, const struct id_page *p, struct lumi_err *err)
{
    json_t *rows = json_array();
    for (size_t i = 0; rows != NULL && i < p->n; i++) {
        json_t *s = services_get(db, p->ids[i], err);
        json_t *v = s != NULL ? service_view(db, s) : NULL;
        json_decref(s);
        if (v == NULL) {
            if (err->code == 0)
                err_set(err, LUMI_ENOMEM, "out of memory");
            json_decref(rows);
            return NULL;
        }
        json_array_append_new(rows, v);
    }
    if (rows == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return rows;
}

/* ---- pages -------------------------------------------------------------------- */

void p_client_home(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    struct id_page ids;
    json_t *data = NULL, *client = NULL, *services = NULL, *invoices = NULL;
    bool more_services = false;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    int64_t me = auth_client_scope(req);
    client = clients_get(req->db, me, &err);
    if (client == NULL)
        goto fail;
    if (scoped_ids(req->db, SQL_SERVICE_IDS, me, INT64_MAX, HOME_ROWS, &ids, &err) != 0)
        goto fail;
    services = services_of(req->db, &ids, &err);
    more_services = ids.next > 0;
    if (services == NULL ||
        scoped_ids(req->db, SQL_UNPAID_IDS, me, INT64_MAX, LIST_ROWS, &ids, &err) != 0)
        goto fail;
    invoices = invoices_of(req->db, me, &ids, &err);
    if (invoices == NULL)
        goto fail;
    data = json_pack("{s:s s:o s:{s:o s:b} s:{s:o s:b}}", "title", "Your account", "client", client,
                     "services", "rows", services, "more", more_services, "unpaid", "rows",
                     invoices, "more", ids.next > 0);
    page_render(req, resp, 200, &ctx, "client_home.html", data);
    return;
fail:
    json_decref(client);
    json_decref(services);
    json_decref(invoices);
    page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
}

/*
 * One keyset page of the client's services or invoices, newest first
 * (?cursor= is the last id seen), rendered as tmpl with data {title,
 * <key>: {rows}, next_cursor}.
 */
static void render_list(struct web_req *req, struct web_resp *resp, bool invoices)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    struct id_page ids;
    int64_t cursor;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = invoices ? "invoices" : "services";
    if (page_query_cursor(req, resp, &ctx, "The cursor must be a positive whole number.",
                          &cursor) != 0)
        return;
    int64_t me = auth_client_scope(req);
    json_t *rows = NULL;
    if (scoped_ids(req->db, invoices ? SQL_INVOICE_IDS : SQL_SERVICE_IDS, me,
                   cursor > 0 ? cursor : INT64_MAX, LIST_ROWS, &ids, &err) == 0)
        rows = invoices ? invoices_of(req->db, me, &ids, &err) : services_of(req->db, &ids, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_t *data = json_pack("{s:s s:{s:o}}", "title", invoices ? "Your invoices" : "Your services",
                             ctx.nav, "rows", rows);
    if (data != NULL && ids.next > 0)
        json_object_set_new(data, "next_cursor", json_integer(ids.next));
    page_render(req, resp, 200, &ctx, invoices ? "client_invoices.html" : "client_services.html",
                data);
}

void p_client_services(struct web_req *req, struct web_resp *resp)
{
    render_list(req, resp, false);
}

void p_client_service(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    struct id_page ids;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t me = auth_client_scope(req);
    int64_t id = web_param_id(req, "id");
    json_t *s = id > 0 ? services_get(req->db, id, &err) : NULL;
    if (s == NULL && id > 0 && err.code != LUMI_ENOTFOUND) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    if (s == NULL || int_of(s, "client_id") != me) {
        json_decref(s);
        page_error(req, resp, 404, &ctx, NO_SERVICE);
        return;
    }
    json_t *view = service_view(req->db, s);
    bool working = service_working(s);
    json_decref(s);
    json_t *invoices = NULL;
    if (view != NULL &&
        scoped_ids(req->db, SQL_SERVICE_INVOICE_IDS, me, id, LIST_ROWS, &ids, &err) == 0)
        invoices = invoices_of(req->db, me, &ids, &err);
    if (view == NULL || invoices == NULL) {
        json_decref(view);
        page_error(req, resp, err.code != 0 ? err_http_status(err.code) : 500, &ctx,
                   err.code != 0 ? err.msg : "out of memory");
        return;
    }
    json_t *data = json_pack("{s:s s:o s:{s:o}}", "title", "Service", "service", view, "invoices",
                             "rows", invoices);
    if (data != NULL) /* self-service: panel login, password reset, power (p_selfservice.c) */
        json_object_set_new(data, "selfservice", p_selfservice_section(req, me, id));
    if (data != NULL) { /* a pending cancellation or plan change (p_lifecycle.c's pages) */
        json_t *c = cancellations_pending_of(req->db, id, me, &err);
        json_t *ch = changes_open(req->db, id, &err);
        if (json_is_object(c)) /* the day, as the page shows dates */
            json_object_set_new(c, "run_on", json_stringn(str_of(c, "run_at"),
                                                          strnlen(str_of(c, "run_at"), 10)));
        if (json_is_object(ch))
            json_object_set_new(ch, "awaiting_payment",
                                json_boolean(str_eq(str_of(ch, "status"), "awaiting_payment")));
        json_object_set_new(data, "cancellation", json_is_object(c) ? c : json_null());
        json_object_set_new(data, "change", json_is_object(ch) ? ch : json_null());
        if (!json_is_object(c))
            json_decref(c);
        if (!json_is_object(ch))
            json_decref(ch);
    }
    if (data != NULL && working) /* live status while it is set up (issue 13) */
        json_object_set_new(data, "refresh", json_integer(REFRESH_S));
    page_render(req, resp, 200, &ctx, "client_service.html", data);
}

void p_client_invoices(struct web_req *req, struct web_resp *resp)
{
    render_list(req, resp, true);
}

/* ---- the invoice page and the gateways' returns ---------------------------------- */

struct outcome {
    int status;       /* of the page */
    const char *kind; /* flash kind: ok | warn | error | info */
    const char *text;
};

/* The buyer's view of a payment result (pay_outcome.result). */
static struct outcome outcome_of(const char *result)
{
    struct outcome o = {200, "info", NULL};
    o.text = payment_outcome_text(result, &o.kind);
    return o;
}

/* Renders the invoice page of the client's invoice id with flash (taken; may be NULL). */
static void render_invoice(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                           int status, int64_t id, json_t *flash)
{
    struct lumi_err err = {0};
    int64_t me = auth_client_scope(req);
    ctx->nav = "invoices";
    json_t *inv = own_invoice(req->db, me, id, &err);
    json_t *txs = inv != NULL ? payments_list_for_invoice(req->db, id, &err) : NULL;
    if (txs == NULL) {
        json_decref(inv);
        json_decref(flash);
        page_error(req, resp, err.code == LUMI_ENOTFOUND ? 404 : err_http_status(err.code), ctx,
                   err.code == LUMI_ENOTFOUND ? NO_INVOICE : err.msg);
        return;
    }
    /* A payment as its payer sees it: when, how, how much, its state; never gateway details. */
    json_t *payments = json_array();
    size_t i;
    json_t *tx;
    json_array_foreach(txs, i, tx)
    {
        json_t *p = json_pack("{s:O? s:O? s:O?}", "created_at", json_object_get(tx, "created_at"),
                              "gateway", json_object_get(tx, "gateway"), "status",
                              json_object_get(tx, "status"));
        if (p == NULL)
            continue;
        set_label(p, "kind_label", str_of(tx, "kind"));
        page_set_money(p, "amount_text", int_of(tx, "amount"), str_of(tx, "currency"));
        json_array_append_new(payments, p);
    }
    json_decref(txs);
    /* Credit notes (issue 14, company): their amounts as money. */
    json_array_foreach(json_object_get(inv, "credit_notes"), i, tx)
        page_set_money(tx, "amount_text", int_of(tx, "amount"), str_of(inv, "currency"));
    const struct pay_ctx *pay = gateways_ctx();
    bool payable = json_is_true(json_object_get(inv, "payable"));
    char title[96];
    snprintf(title, sizeof title, "Invoice %s", str_of(inv, "number"));
    json_t *data = json_pack("{s:s s:o s:o s:b s:b}", "title", title, "invoice", inv, "payments",
                             payments, "pay_stripe", payable && pay->stripe != NULL, "pay_paypal",
                             payable && pay->paypal != NULL);
    if (data != NULL)
        add_invoice_services(req->db, json_object_get(data, "invoice"), data);
    credit_view_invoice(req->db, data); /* issue 14 */
    if (data != NULL && flash != NULL)
        json_object_set_new(data, "flash", flash);
    else
        json_decref(flash);
    page_render(req, resp, status, ctx, "client_invoice.html", data);
}

/*
 * A gateway's return with its outcome: above the invoice when the client is
 * logged in and the invoice is theirs; otherwise the outcome alone, with a
 * login link, and nothing of the invoice.
 */
static void render_outcome(struct web_req *req, struct web_resp *resp, int64_t id, struct outcome o)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    memset(&ctx, 0, sizeof ctx);
    ctx.area = AUTH_AREA_CLIENT;
    bool in = auth_session_principal(req, AUTH_AREA_CLIENT, ctx.csrf, &err) == 0;
    if (in) {
        json_t *inv = own_invoice(req->db, auth_client_scope(req), id, &err);
        bool own = inv != NULL;
        json_decref(inv);
        if (own) {
            render_invoice(req, resp, &ctx, o.status, id, page_flash(o.kind, o.text));
            return;
        }
    }
    char next[64];
    snprintf(next, sizeof next, "/client/invoices/%lld", (long long)id);
    json_t *data = json_pack("{s:s s:o s:s s:b}", "title", "Payment", "flash",
                             page_flash(o.kind, o.text), "next", next, "logged_in", in);
    if (in)
        ctx.nav = "invoices";
    page_render(req, resp, o.status, in ? &ctx : NULL, "client_payment.html", data);
}

/*
 * Whether this Stripe return may ask Stripe: the invoice's owner is signed
 * in, or the URL carries the return token signed for this invoice.
 */
static bool stripe_return_admitted(struct web_req *req, int64_t id)
{
    struct lumi_err err = {0};
    char csrf[AUTH_CSRF_LEN];
    if (checkout_return_token_ok(id, web_query(req, "rt"), utc_now()))
        return true;
    if (auth_session_principal(req, AUTH_AREA_CLIENT, csrf, &err) != 0)
        return false;
    json_t *inv = own_invoice(req->db, auth_client_scope(req), id, &err);
    bool own = inv != NULL;
    json_decref(inv);
    return own;
}

void h_client_invoice(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    const char *paid = web_query(req, "paid");
    const char *session_id = web_query(req, "session_id");
    if (id > 0 && str_eq(paid, "stripe") && str_present(session_id) &&
        !stripe_return_admitted(req, id)) {
        /* Neither the owner nor the buyer's return link: nothing is asked of Stripe. */
        render_outcome(req, resp, id,
                       (struct outcome){200, "info", "Log in to see this invoice and its payment."});
        return;
    }
    if (id > 0 && str_eq(paid, "stripe") && str_present(session_id)) {
        struct pay_outcome out;
        memset(&out, 0, sizeof out);
        struct audit_actor actor = gateway_actor("stripe", web_client_ip(req), req->user_agent);
        struct outcome o;
        if (checkout_stripe_return(req->db, gateways_ctx(), &actor, id, session_id, &out, &err) !=
            0)
            o = (struct outcome){err.code == LUMI_EUPSTREAM || err.code == LUMI_EBUSY ? 502
                                 : err.code == LUMI_ETHROTTLED                       ? 429
                                                                                     : 400,
                                 "error",
                                 "We could not confirm this payment with Stripe yet. If you "
                                 "paid, the invoice will be updated shortly."};
        else
            o = outcome_of(out.result);
        render_outcome(req, resp, id, o);
        return;
    }
    /* ?paid=paypal&result=… (older links) is the plain invoice page: the
     * outcome came as a flash, the status comes from the database. */
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    render_invoice(req, resp, &ctx, 200, id, NULL);
}
