/*
 * p_clients.c — /admin/clients: the list, the add and edit forms, and a
 * client's page with their services and invoices.
 *
 * Every change goes through the functions behind /api/admin/clients
 * (clients_create, clients_update): a form is turned into the same JSON body
 * the API takes, so the rules, messages and audit rows are the API's. The
 * password is write-only: never rendered, never pre-filled; left blank on the
 * edit form it is not changed. Handlers run on the request's worker thread;
 * no shared state.
 *
 * The client's page shows the first LISTING_PAGE_MAX of their services and
 * invoices (services_list_of_client, invoices_list_of: the API's
 * ?client_id= lists) and says so when there are more.
 */
#include <stdio.h>
#include <string.h>

#include "accounts/signup.h"
#include "billing/clients.h"
#include "billing/invoices.h"
#include "core/money.h"
#include "core/str.h"
#include "provisioning/services.h"
#include "web/credit_view.h"
#include "web/page.h"
#include "web/admin/pages_billing.h"

/* Clients per list page. */
#define LIST_PAGE 50
/* Rows of services (and of invoices) read to find one client's. */

/* The text fields of the form, in the order the form shows them. */
static const char *const TEXT_FIELDS[] = {
    "email", "first_name", "last_name", "company",  "phone",  "address1", "address2", "city",
    "state", "postcode",   "country",   "currency", "region", "tax_id",   NULL};

/* Fields that cannot be cleared: left blank on the edit form they are not sent. */
static bool keep_when_blank(const char *name)
{
    return str_eq(name, "email") || str_eq(name, "currency");
}

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v ? v : "";
}

/*
 * The API's JSON body from the form. Creating: the fields typed (blank ones
 * left to the domain's defaults). Editing: blank text fields become null
 * (cleared), except e-mail and currency; status always; the password only
 * when one was typed.
 */
static json_t *body_from_form(struct web_req *req, bool creating)
{
    json_t *b = json_object();
    if (b == NULL)
        return NULL;
    for (size_t i = 0; TEXT_FIELDS[i] != NULL; i++) {
        const char *name = TEXT_FIELDS[i];
        const char *v = form_str(req, name);
        if (*v != '\0')
            json_object_set_new(b, name, json_string(v));
        else if (str_eq(name, "email"))
            json_object_set_new(b, name, json_string(""));
        else if (!creating && !keep_when_blank(name))
            json_object_set_new(b, name, json_null());
    }
    /* Tax (issue 14): an unticked box is "not exempt" on both forms. */
    json_object_set_new(b, "tax_exempt", json_boolean(str_eq(form_str(req, "tax_exempt"), "1")));
    const char *pw = form_str(req, "password");
    if (*pw != '\0')
        json_object_set_new(b, "password", json_string(pw));
    if (!creating) {
        const char *status = form_str(req, "status");
        json_object_set_new(b, "status", json_string(*status ? status : "active"));
    }
    return b;
}

/* What was typed, to show again after a validation error (never the password). */
static json_t *typed_values(struct web_req *req)
{
    json_t *v = json_object();
    if (v == NULL)
        return NULL;
    for (size_t i = 0; TEXT_FIELDS[i] != NULL; i++)
        json_object_set_new(v, TEXT_FIELDS[i], json_string(form_str(req, TEXT_FIELDS[i])));
    json_object_set_new(v, "status", json_string(form_str(req, "status")));
    json_object_set_new(v, "tax_exempt", json_boolean(str_eq(form_str(req, "tax_exempt"), "1")));
    return v;
}

/* The form's view data; values is borrowed. */
static json_t *form_view(const json_t *values, int64_t id, const char *error)
{
    const char *status = json_string_value(json_object_get(values, "status"));
    json_t *v = json_pack("{s:s s:O s:b s:b s:b}", "title", id > 0 ? "Edit client" : "Add client",
                          "client", values, "editing", id > 0, "creating", id <= 0, "disabled",
                          status != NULL && str_eq(status, "disabled"));
    if (v == NULL)
        return NULL;
    if (id > 0)
        json_object_set_new(v, "id", json_integer(id));
    page_set_error(v, error);
    return v;
}

void p_clients_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    /* ?q= (issue 15): clients whose e-mail, name or company contains it. */
    const char *q = web_query(req, "q");
    if (q == NULL || q[0] == '\0') {
        json_t *rows = page_list_rows(req, resp, &ctx, clients_list, LIST_PAGE, &next);
        if (rows != NULL)
            page_render_list(req, resp, &ctx, "clients.html", "Clients", "clients", rows, next);
        return;
    }
    struct lumi_err err = {0};
    int64_t cursor = 0;
    if (page_query_cursor(req, resp, &ctx, "cursor must be a positive whole number", &cursor) != 0)
        return;
    json_t *rows = clients_search(req->db, q, cursor, LIST_PAGE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, page_form_status(&err), &ctx, err.msg);
        return;
    }
    json_t *data = json_pack("{s:s s:o s:s}", "title", "Clients", "clients", rows, "q", q);
    page_set_paging(data, "/admin/clients", &(struct page_filter){"q", q}, 1, cursor, next);
    page_render(req, resp, 200, &ctx, "clients.html", data);
}

void p_clients_new(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    json_t *values = json_pack("{s:s s:s}", "currency", "usd", "status", "active");
    page_render(req, resp, 200, &ctx, "client_form.html", form_view(values, 0, NULL));
    json_decref(values);
}

/*
 * Sends the form to clients_create (id 0) or clients_update (id > 0): the
 * saved client, or NULL after answering with the form again and the domain's
 * message (or 404 for a client that is gone).
 */
static json_t *save_form(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                         int64_t id)
{
    struct lumi_err err = {0};
    json_t *client = NULL;
    json_t *body = body_from_form(req, id <= 0);
    if (body == NULL) {
        err_set(&err, LUMI_ENOMEM, "out of memory");
    } else {
        struct audit_actor actor = auth_actor(req);
        client = id > 0 ? clients_update(req->db, &actor, id, body, &err)
                        : clients_create(req->db, &actor, body, &err);
        json_decref(body);
    }
    if (client != NULL)
        return client;
    if (id > 0 && err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, ctx, "client not found");
        return NULL;
    }
    json_t *values = typed_values(req);
    page_render(req, resp, page_form_status(&err), ctx, "client_form.html",
                form_view(values, id, err.msg));
    json_decref(values);
    return NULL;
}

void p_clients_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    json_t *client = save_form(req, resp, &ctx, 0);
    if (client == NULL)
        return;
    char path[64], msg[400];
    snprintf(path, sizeof path, "/admin/clients/%lld",
             (long long)json_integer_value(json_object_get(client, "id")));
    snprintf(msg, sizeof msg, "Client %s added.",
             json_string_value(json_object_get(client, "email")));
    json_decref(client);
    page_redirect_flash(resp, path, "ok", msg);
}

/* The client of the {id} in the path, or NULL after answering 404 (or the domain's error). */
static json_t *client_or_error(struct web_req *req, struct web_resp *resp,
                               const struct page_ctx *ctx, int64_t *id)
{
    struct lumi_err err = {0};
    *id = page_id_or_404(req, resp, ctx, "client not found");
    if (*id <= 0)
        return NULL;
    json_t *c = clients_get(req->db, *id, &err);
    if (c == NULL)
        page_error(req, resp, err_http_status(err.code), ctx,
                   err.code == LUMI_ENOTFOUND ? "client not found" : err.msg);
    return c;
}

void p_clients_detail(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t id = 0;
    bool svc_partial = false, inv_partial = false;
    json_t *services = NULL, *invoices = NULL, *data = NULL;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    json_t *c = client_or_error(req, resp, &ctx, &id);
    if (c == NULL)
        return;
    int64_t more = 0;
    services = services_list_of_client(req->db, id, 0, LISTING_PAGE_MAX, &more, &err);
    svc_partial = more > 0;
    if (services != NULL)
        invoices =
            invoices_list_of(req->db, INVOICES_OF_CLIENT, id, 0, LISTING_PAGE_MAX, &more, &err);
    inv_partial = more > 0;
    if (invoices == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        goto out;
    }
    size_t i;
    json_t *row;
    json_array_foreach(services, i, row) page_add_money_text(row, "recurring_amount", NULL);
    json_array_foreach(invoices, i, row)
    {
        page_add_money_text(row, "total", NULL);
        page_add_money_text(row, "amount_paid", NULL);
    }
    data = json_pack("{s:s s:O s:O s:O s:b s:b s:b}", "title", "Client", "client", c, "services",
                     services, "invoices", invoices, "services_partial", svc_partial,
                     "invoices_partial", inv_partial, "disabled",
                     str_eq(json_string_value(json_object_get(c, "status")), "disabled"));
    if (data != NULL) {
        /* The mail sent to this client: the outbox filtered by the address. */
        struct buf href;
        buf_init(&href, 1024);
        if (buf_append_str(&href, "/admin/emails?to=") == 0 &&
            page_url_encode(&href, json_string_value(json_object_get(c, "email"))) == 0)
            json_object_set_new(data, "emails_href", json_string(buf_cstr(&href)));
        buf_free(&href);
        json_object_set_new(data, "scan_max", json_integer(LISTING_PAGE_MAX));
        credit_view_client(req->db, id, data); /* issue 14 */
    }
    page_render(req, resp, 200, &ctx, "client_detail.html", data);
out:
    json_decref(services);
    json_decref(invoices);
    json_decref(c);
}

void p_clients_edit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    json_t *c = client_or_error(req, resp, &ctx, &id);
    if (c == NULL)
        return;
    page_render(req, resp, 200, &ctx, "client_form.html", form_view(c, id, NULL));
    json_decref(c);
}

void p_clients_update(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    int64_t id = page_id_or_404(req, resp, &ctx, "client not found");
    json_t *client = id > 0 ? save_form(req, resp, &ctx, id) : NULL;
    if (client == NULL)
        return;
    json_decref(client);
    char path[64];
    snprintf(path, sizeof path, "/admin/clients/%lld", (long long)id);
    page_redirect_flash(resp, path, "ok", "Client saved.");
}

/* ---- the e-mail verification by hand (client accounts, issue 13) ---------- */

/* POSTs of the client page's verification buttons: the domain call, then back with its outcome. */
static void verification_action(struct web_req *req, struct web_resp *resp, bool mark)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char back[64];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    int64_t id = page_id_or_404(req, resp, &ctx, "client not found");
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    int rc = mark ? signup_mark_verified(req->db, &actor, id, &err)
                  : signup_resend_verification(req->db, &actor, id, &err);
    if (rc == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, "client not found");
        return;
    }
    snprintf(back, sizeof back, "/admin/clients/%lld", (long long)id);
    if (rc != 0)
        page_redirect_flash(resp, back, "error", err.msg);
    else
        page_redirect_flash(resp, back, "ok",
                            mark ? "The e-mail address is marked verified."
                                 : "A new verification message was queued (see Emails; "
                                   "without SMTP it is recorded, not sent).");
}

void p_clients_mark_verified(struct web_req *req, struct web_resp *resp)
{
    verification_action(req, resp, true);
}

void p_clients_resend_verification(struct web_req *req, struct web_resp *resp)
{
    verification_action(req, resp, false);
}
