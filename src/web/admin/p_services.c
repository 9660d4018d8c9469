/*
 * p_services.c — /admin/services: the list with its status filter, the order
 * form, one service's page (every field, its jobs and provision attempts, the
 * actions its status allows) and the lifecycle buttons.
 *
 * Every read and change goes through the functions behind
 * /api/admin/services (services_list, services_get, orders_place,
 * services_request, services_retry): a form becomes the same JSON body or
 * arguments the API takes, so the rules, messages, jobs and audit rows are
 * the API's. A page never calls a panel; the worker runs the queued job and
 * the page shows what it did on the next visit.
 *
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "billing/clients.h"
#include "billing/invoices.h"
#include "billing/listing.h"
#include "billing/products.h"
#include "core/money.h"
#include "core/str.h"
#include "provisioning/cancellations.h"
#include "provisioning/changes.h"
#include "provisioning/servers.h"
#include "provisioning/orders.h"
#include "provisioning/services.h"
#include "web/page.h"
#include "web/admin/pages_services.h"

#define PAGE_SIZE 50
/* The order form lists at most this many clients and products (one page of each). */
#define CHOICES_MAX LISTING_PAGE_MAX

static const char *const STATUSES[] = {"pending",    "provisioning", "active",    "suspended",
                                       "terminated", "failed",       "cancelled", NULL};
static const char *const SUSPEND_REASONS[] = {"manual", "overdue", "abuse", "dispute", NULL};

/* ---- view helpers -------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static int64_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v != NULL ? v : "";
}

/* A client as people name it: "First Last", else the company, else the e-mail. */
static void client_label(const json_t *c, char *out, size_t sz)
{
    const char *first = str_of(c, "first_name"), *last = str_of(c, "last_name");
    if (*first != '\0' || *last != '\0')
        snprintf(out, sz, "%s%s%s", first, *first != '\0' && *last != '\0' ? " " : "", last);
    else if (*str_of(c, "company") != '\0')
        snprintf(out, sz, "%s", str_of(c, "company"));
    else
        snprintf(out, sz, "%s", str_of(c, "email"));
}

/*
 * The display name of client ('c'), product ('p') or server ('s') id,
 * looked up through the domain once per page and kept in cache (a JSON
 * object "c12" → name). "" when it cannot be read (deleted, or not a client).
 */
static const char *name_of(struct web_req *req, json_t *cache, char kind, int64_t id)
{
    char key[32], label[400] = "";
    struct lumi_err err = {0};
    if (id <= 0 || cache == NULL)
        return "";
    snprintf(key, sizeof key, "%c%lld", kind, (long long)id);
    const char *have = json_string_value(json_object_get(cache, key));
    if (have != NULL)
        return have;
    json_t *row = kind == 'c'   ? clients_get(req->db, id, &err)
                  : kind == 'p' ? products_get(req->db, id, &err)
                                : servers_get(req->db, id, &err);
    if (row != NULL) {
        if (kind == 'c')
            client_label(row, label, sizeof label);
        else
            snprintf(label, sizeof label, "%s", str_of(row, "name"));
    }
    json_decref(row);
    json_object_set_new(cache, key, json_string(label));
    return json_string_value(json_object_get(cache, key));
}

/* The names of the page's clients into cache ("c<id>") in one statement (issue 15:
 * a round trip per client costs tens of milliseconds on PostgreSQL). */
static void prefill_clients(struct web_req *req, json_t *rows, json_t *cache)
{
    int64_t ids[CLIENTS_MANY_MAX];
    size_t i, n = 0;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (n < CLIENTS_MANY_MAX)
            ids[n++] = int_of(row, "client_id");
    }
    json_t *many = cache != NULL ? clients_get_many(req->db, ids, n, NULL) : NULL;
    const char *id;
    json_t *c;
    json_object_foreach(many, id, c)
    {
        char key[32], label[400];
        client_label(c, label, sizeof label);
        snprintf(key, sizeof key, "c%s", id);
        json_object_set_new(cache, key, json_string(label));
    }
    json_decref(many);
}

/* Adds client_name, product_name, server_name and recurring_text to a service object. */
static void decorate(struct web_req *req, json_t *svc, json_t *cache)
{
    char money[80];
    json_object_set_new(svc, "client_name",
                        json_string(name_of(req, cache, 'c', int_of(svc, "client_id"))));
    json_object_set_new(svc, "product_name",
                        json_string(name_of(req, cache, 'p', int_of(svc, "product_id"))));
    json_object_set_new(svc, "server_name",
                        json_string(name_of(req, cache, 's', int_of(svc, "server_id"))));
    money_format_text(int_of(svc, "recurring_amount"), str_of(svc, "currency"), money, sizeof money);
    json_object_set_new(svc, "recurring_text", json_string(money));
}

/* ---- list ---------------------------------------------------------------- */

void p_services_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *status = NULL;
    int64_t cursor = 0, next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    if (page_query_choice(req, resp, &ctx, "status", STATUSES,
                          "status must be one of pending, provisioning, active, suspended, "
                          "terminated, failed, cancelled",
                          &status) != 0 ||
        page_query_cursor(req, resp, &ctx, "cursor must be a positive id from a 'Next page' link",
                          &cursor) != 0)
        return;
    json_t *rows = services_list(req->db, status, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_t *cache = json_object();
    size_t i;
    json_t *row;
    prefill_clients(req, rows, cache);
    json_array_foreach(rows, i, row)
    {
        decorate(req, row, cache);
    }
    json_decref(cache);
    json_t *data = json_pack("{s:s s:o s:o}", "title", "Services", "services", rows, "tabs",
                             page_status_tabs("/admin/services", STATUSES, status));
    page_set_paging(data, "/admin/services", &(struct page_filter){"status", status}, 1, cursor,
                    next);
    page_render(req, resp, 200, &ctx, "services.html", data);
}

/* ---- order form ---------------------------------------------------------- */

/* The cycles the form offers; the product's prices decide which are accepted. */
static const char *const ORDER_CYCLES[] = {"monthly",  "quarterly",  "semiannually", "annually",
                                           "biennially", "onetime", "free",         NULL};

/*
 * The order form's view: the client and product choices (the first page of
 * each, the chosen ones marked), the typed domain and, after a refusal, the
 * domain's message.
 */
static json_t *order_view(struct web_req *req, int64_t client_id, int64_t product_id,
                          const char *domain, const char *cycle, const char *currency,
                          const char *error)
{
    struct lumi_err err = {0};
    int64_t next_c = 0, next_p = 0;
    char label[600], money[80];
    json_t *clients = clients_list(req->db, 0, CHOICES_MAX, &next_c, &err);
    json_t *products =
        clients != NULL ? products_list(req->db, 0, CHOICES_MAX, &next_p, &err) : NULL;
    json_t *copts = json_array(), *popts = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(clients, i, row)
    {
        char name[400];
        client_label(row, name, sizeof name);
        snprintf(label, sizeof label, "#%lld %s <%s>%s", (long long)int_of(row, "id"), name,
                 str_of(row, "email"),
                 str_eq(str_of(row, "status"), "disabled") ? " (disabled)" : "");
        json_array_append_new(copts, json_pack("{s:I s:s s:b}", "id", (json_int_t)int_of(row, "id"),
                                               "label", label, "selected",
                                               int_of(row, "id") == client_id));
    }
    json_array_foreach(products, i, row)
    {
        money_format_text(int_of(row, "price"), str_of(row, "currency"), money, sizeof money);
        snprintf(label, sizeof label, "#%lld %s — %s %s%s", (long long)int_of(row, "id"),
                 str_of(row, "name"), money, str_of(row, "billing_cycle"),
                 json_is_false(json_object_get(row, "active")) ? " (inactive)" : "");
        json_array_append_new(popts, json_pack("{s:I s:s s:b}", "id", (json_int_t)int_of(row, "id"),
                                               "label", label, "selected",
                                               int_of(row, "id") == product_id));
    }
    json_decref(clients);
    json_decref(products);
    json_t *cycles = json_array();
    for (size_t k = 0; ORDER_CYCLES[k] != NULL; k++)
        json_array_append_new(cycles, json_pack("{s:s s:b}", "name", ORDER_CYCLES[k], "selected",
                                                cycle != NULL && str_eq(cycle, ORDER_CYCLES[k])));
    json_t *v = json_pack("{s:s s:o s:o s:o s:s s:s s:b s:b}", "title", "Order a service",
                          "clients", copts, "products", popts, "cycles", cycles, "domain",
                          domain ? domain : "", "currency", currency ? currency : "",
                          "more_clients", next_c > 0, "more_products", next_p > 0);
    if (v == NULL)
        return NULL;
    if (err.code != 0 && error == NULL)
        error = err.msg;
    page_set_error(v, error);
    return v;
}

void p_services_new(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t client_id = 0, product_id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    /* ?client_id= / ?product_id= preselect (links from a client's or product's page). */
    const char *c = web_query(req, "client_id"), *p = web_query(req, "product_id");
    if (c != NULL && str_to_i64z(c, 1, INT64_MAX, &client_id) != 0)
        client_id = 0;
    if (p != NULL && str_to_i64z(p, 1, INT64_MAX, &product_id) != 0)
        product_id = 0;
    page_render(req, resp, 200, &ctx, "service_new.html",
                order_view(req, client_id, product_id, "", NULL, NULL, NULL));
}

/* A chosen id from the form: 0 when missing or not a positive whole number. */
static int64_t form_id(struct web_req *req, const char *name)
{
    int64_t v = 0;
    if (str_to_i64z(form_str(req, name), 1, INT64_MAX, &v) != 0)
        return 0;
    return v;
}

void p_services_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char msg[300];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t client_id = form_id(req, "client_id"), product_id = form_id(req, "product_id");
    const char *domain = form_str(req, "domain");
    const char *cycle = form_str(req, "billing_cycle"), *currency = form_str(req, "currency");
    json_t *service = NULL;
    if (client_id <= 0)
        err_set(&err, LUMI_EINVAL, "Choose a client.");
    else if (product_id <= 0)
        err_set(&err, LUMI_EINVAL, "Choose a product.");
    else {
        json_t *body = json_pack("{s:I s:I}", "client_id", (json_int_t)client_id, "product_id",
                                 (json_int_t)product_id);
        if (body != NULL && *domain != '\0')
            json_object_set_new(body, "domain", json_string(domain));
        /* Empty: the product's main price. */
        if (body != NULL && *cycle != '\0')
            json_object_set_new(body, "billing_cycle", json_string(cycle));
        if (body != NULL && *currency != '\0')
            json_object_set_new(body, "currency", json_string(currency));
        struct audit_actor actor = auth_actor(req);
        if (body != NULL)
            service = orders_place(req->db, &actor, body, &err);
        else
            err_set(&err, LUMI_ENOMEM, "out of memory");
        json_decref(body);
    }
    if (service == NULL) {
        page_render(req, resp, page_form_status(&err), &ctx, "service_new.html",
                    order_view(req, client_id, product_id, domain, cycle, currency, err.msg));
        return;
    }
    int64_t id = int_of(service, "id");
    const json_t *job = json_object_get(service, "job");
    if (json_is_object(job))
        snprintf(msg, sizeof msg,
                 "Service #%lld ordered: invoice #%lld created, provision queued (job #%lld).",
                 (long long)id, (long long)int_of(service, "invoice_id"),
                 (long long)int_of(job, "id"));
    else
        snprintf(msg, sizeof msg, "Service #%lld ordered: invoice #%lld created.", (long long)id,
                 (long long)int_of(service, "invoice_id"));
    json_decref(service);
    char base[64];
    snprintf(base, sizeof base, "/admin/services/%lld", (long long)id);
    page_redirect_flash(resp, base, "ok", msg);
}

/* ---- detail -------------------------------------------------------------- */

/* True when the service has a queued or running job of action. */
static bool job_open(const json_t *svc, const char *action)
{
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(svc, "jobs"), i, job)
    {
        const char *js = str_of(job, "status");
        if (str_eq(str_of(job, "action"), action) &&
            (str_eq(js, "queued") || str_eq(js, "running")))
            return true;
    }
    return false;
}

/*
 * Which lifecycle buttons make sense for the service now: the rules of
 * services_request, minus an action whose job is already open (asking again
 * would only answer the same job) and everything once a termination is queued.
 */
static json_t *allowed_actions(const json_t *svc)
{
    const char *st = str_of(svc, "status");
    bool ended = str_eq(st, "terminated") || str_eq(st, "cancelled");
    bool failed_job = false;
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(svc, "jobs"), i, job)
    {
        if (str_eq(str_of(job, "status"), "failed"))
            failed_job = true;
    }
    bool open = !ended && !job_open(svc, "terminate");
    json_t *reasons = json_array();
    for (i = 0; SUSPEND_REASONS[i] != NULL; i++)
        json_array_append_new(reasons, json_string(SUSPEND_REASONS[i]));
    return json_pack("{s:b s:b s:b s:b s:b s:o}", "provision",
                     open && (str_eq(st, "pending") || str_eq(st, "failed")) &&
                         !job_open(svc, "provision"),
                     "suspend", open && str_eq(st, "active") && !job_open(svc, "suspend"),
                     "unsuspend", open && str_eq(st, "suspended") && !job_open(svc, "unsuspend"),
                     "terminate", open, "retry", open && failed_job, "suspend_reasons", reasons);
}

void p_services_detail(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char title[64];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t id = page_id_or_404(req, resp, &ctx, "service not found");
    if (id <= 0)
        return;
    json_t *svc = services_get(req->db, id, &err);
    if (svc == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_t *cache = json_object();
    decorate(req, svc, cache);
    json_decref(cache);
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(svc, "jobs"), i, job)
    {
        page_decorate_job(job);
    }
    int64_t more = 0;
    json_t *invoices =
        invoices_list_of(req->db, INVOICES_OF_SERVICE, id, 0, LISTING_PAGE_MAX, &more, &err);
    if (invoices == NULL) {
        json_decref(svc);
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_t *inv;
    json_array_foreach(invoices, i, inv)
    {
        char total[64];
        money_format_text(json_integer_value(json_object_get(inv, "total")),
                        json_string_value(json_object_get(inv, "currency")), total, sizeof total);
        json_object_set_new(inv, "total_text", json_string(total));
    }
    json_object_set_new(svc, "invoices", invoices);
    /* A pending cancellation request and an open plan change (issue 13), when there are. */
    json_t *pending = cancellations_pending(req->db, id, &err);
    json_t *change = changes_open(req->db, id, &err);
    json_object_set_new(svc, "cancel_request", pending != NULL ? pending : json_null());
    json_object_set_new(svc, "open_change", change != NULL ? change : json_null());
    snprintf(title, sizeof title, "Service #%lld", (long long)id);
    json_t *actions = allowed_actions(svc);
    page_render(req, resp, 200, &ctx, "service_detail.html",
                json_pack("{s:s s:o s:o}", "title", title, "service", svc, "can", actions));
}

/* ---- lifecycle buttons --------------------------------------------------- */

/*
 * Queues action (NULL = retry the failed job) with the form's optional
 * reason, as POST /api/admin/services/{id}/{action} does, and answers 303 to
 * the service's page with "<Label> queued (job #N)" or the domain's message.
 */
static void request_action(struct web_req *req, struct web_resp *resp, const char *action,
                           const char *label)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char base[64], msg[300];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t id = page_id_or_404(req, resp, &ctx, "service not found");
    if (id <= 0)
        return;
    const char *reason = web_form_value(req, "reason");
    if (reason != NULL && strlen(reason) > 200) {
        snprintf(base, sizeof base, "/admin/services/%lld", (long long)id);
        page_redirect_flash(resp, base, "error", "The reason is longer than 200 characters.");
        return;
    }
    struct audit_actor actor = auth_actor(req);
    json_t *job = action != NULL ? services_request(req->db, &actor, id, action, reason, &err)
                                 : services_retry(req->db, &actor, id, &err);
    if (job == NULL && err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, err.msg);
        return;
    }
    snprintf(base, sizeof base, "/admin/services/%lld", (long long)id);
    if (job == NULL) {
        page_redirect_flash(resp, base, "error", err.msg);
        return;
    }
    snprintf(msg, sizeof msg, "%s queued (job #%lld).", label, (long long)int_of(job, "id"));
    json_decref(job);
    page_redirect_flash(resp, base, "ok", msg);
}

void p_services_provision(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "provision", "Provision");
}

void p_services_suspend(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "suspend", "Suspend");
}

void p_services_unsuspend(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "unsuspend", "Unsuspend");
}

void p_services_terminate(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "terminate", "Terminate");
}

void p_services_retry(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, NULL, "Retry");
}
