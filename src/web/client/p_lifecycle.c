/*
 * p_lifecycle.c — /client/services/{id}/cancel and /client/services/{id}/
 * upgrade: a client's cancellation request and plan change, as forms.
 *
 * The pages call the same domain functions as /api/client/services/{id}/
 * cancel and /upgrade (cancellations.c, changes.c) with the client as owner,
 * so another client's service answers the 404 of one that does not exist.
 * Form posts need the session's csrf_token (page_require_client). A refusal
 * re-renders the page with the domain's message and its status (400, 409);
 * success answers 303: to the upgrade's invoice, else back to the page with
 * a notice.
 *
 * Handlers run on the request's worker thread with its connection.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/products.h"
#include "core/str.h"
#include "core/utc.h"
#include "provisioning/cancellations.h"
#include "provisioning/changes.h"
#include "provisioning/services.h"
#include "web/client/pages_lifecycle.h"
#include "web/page.h"

#define NO_SERVICE "There is no such service."

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static void set_day(json_t *o, const char *key, const char *iso)
{
    char day[11];
    str_copy(day, iso != NULL ? iso : "", sizeof day);
    json_object_set_new(o, key, json_string(day));
}

/* The client's service {id, status, product_name, domain, next_due_on}, or NULL after a 404. */
static json_t *own_service(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                           int64_t *id)
{
    struct lumi_err err = {0};
    *id = web_param_id(req, "id");
    json_t *s = *id > 0 ? services_get(req->db, *id, &err) : NULL;
    if (s == NULL && *id > 0 && err.code != LUMI_ENOTFOUND) {
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return NULL;
    }
    if (s == NULL ||
        json_integer_value(json_object_get(s, "client_id")) != auth_client_scope(req)) {
        json_decref(s);
        page_error(req, resp, 404, ctx, NO_SERVICE);
        return NULL;
    }
    json_t *v =
        json_pack("{s:I s:s s:s s:s}", "id", (json_int_t)*id, "status", str_of(s, "status"),
                  "domain", str_of(s, "domain"), "billing_cycle", str_of(s, "billing_cycle"));
    if (v != NULL) {
        set_day(v, "next_due_on", str_of(s, "next_due_date"));
        json_t *p =
            products_get(req->db, json_integer_value(json_object_get(s, "product_id")), &err);
        json_object_set_new(v, "product_name", json_string(p != NULL ? str_of(p, "name") : ""));
        json_decref(p);
    }
    json_decref(s);
    if (v == NULL)
        page_error(req, resp, 500, ctx, "out of memory");
    return v;
}

static void back_to(struct web_resp *resp, int64_t id, const char *what, const char *kind,
                    const char *msg)
{
    char base[96];
    snprintf(base, sizeof base, "/client/services/%" PRId64 "/%s", id, what);
    page_redirect_flash(resp, base, kind, msg);
}

static void render_upgrade(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                           int status, const char *error);

/* ---- cancellation ------------------------------------------------------------ */

static void render_cancel(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                          int status, const char *error)
{
    struct lumi_err err = {0};
    int64_t id;
    json_t *svc = own_service(req, resp, ctx, &id);
    if (svc == NULL)
        return;
    json_t *pending = cancellations_pending(req->db, id, &err);
    if (pending == NULL) {
        json_decref(svc);
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    if (json_is_object(pending)) {
        set_day(pending, "run_on", str_of(pending, "run_at"));
        json_object_set_new(pending, "end_of_period",
                            json_boolean(str_eq(str_of(pending, "timing"), "end_of_period")));
    }
    const char *st = str_of(svc, "status");
    bool can = (str_eq(st, "active") || str_eq(st, "suspended")) && !json_is_object(pending);
    json_t *data =
        json_pack("{s:s s:o s:o s:b s:b}", "title", "Cancel service", "service", svc, "pending",
                  pending, "can_request", can, "has_due", str_of(svc, "next_due_on")[0] != '\0');
    if (data != NULL && error != NULL)
        json_object_set_new(data, "flash", page_flash("error", error));
    page_render(req, resp, status, ctx, "client_cancel.html", data);
}

void p_client_cancel_form(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    render_cancel(req, resp, &ctx, 200, NULL);
}

/* A refused action: the page again with the message and the error's status; 404 as a 404. */
static void refused(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                    const struct lumi_err *err, bool cancel)
{
    if (err->code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, ctx, NO_SERVICE);
        return;
    }
    if (cancel)
        render_cancel(req, resp, ctx, err_http_status(err->code), err->msg);
    else
        render_upgrade(req, resp, ctx, err_http_status(err->code), err->msg);
}

void p_client_cancel(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t id = web_param_id(req, "id");
    const char *when = web_form_value(req, "when");
    const char *reason = web_form_value(req, "reason");
    struct audit_actor actor = auth_actor(req);
    json_t *r = cancellations_request(req->db, &actor, id > 0 ? id : 0, auth_client_scope(req),
                                      when != NULL ? when : "", reason, &err);
    if (r == NULL) {
        refused(req, resp, &ctx, &err, true);
        return;
    }
    bool now = str_eq(str_of(r, "timing"), "immediate");
    json_decref(r);
    back_to(resp, id, "cancel", "ok",
            now ? "Cancellation requested: your service is being terminated now."
                : "Cancellation requested: the service ends at the end of its billing period.");
}

void p_client_cancel_withdraw(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    json_t *r =
        cancellations_withdraw(req->db, &actor, id > 0 ? id : 0, auth_client_scope(req), &err);
    if (r == NULL) {
        refused(req, resp, &ctx, &err, true);
        return;
    }
    json_decref(r);
    back_to(resp, id, "cancel", "ok", "Your cancellation request was withdrawn.");
}

/* ---- upgrade / downgrade ------------------------------------------------------ */

/* Adds the display texts of an option (in place). */
static void option_view(json_t *o)
{
    const char *currency = str_of(o, "currency");
    int64_t p = json_integer_value(json_object_get(o, "prorated_amount"));
    page_add_money_text(o, "amount", currency);
    page_set_money(o, "prorated_text", p < 0 ? -p : p, currency);
    json_object_set_new(o, "is_upgrade", json_boolean(p > 0));
    json_object_set_new(o, "is_credit", json_boolean(p < 0));
}

static void render_upgrade(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                           int status, const char *error)
{
    struct lumi_err err = {0};
    int64_t id;
    json_t *svc = own_service(req, resp, ctx, &id);
    if (svc == NULL)
        return;
    json_t *opts = changes_options(req->db, id, auth_client_scope(req), utc_now(), &err);
    if (opts == NULL) {
        json_decref(svc);
        page_error(req, resp, err.code == LUMI_ENOTFOUND ? 404 : err_http_status(err.code), ctx,
                   err.code == LUMI_ENOTFOUND ? NO_SERVICE : err.msg);
        return;
    }
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(opts, "options"), i, o) option_view(o);
    page_add_money_text(opts, "recurring_amount", NULL);
    set_day(opts, "period_end_on", str_of(opts, "period_end"));
    json_t *open = json_object_get(opts, "open_change");
    if (json_is_object(open)) {
        json_object_set_new(open, "awaiting",
                            json_boolean(str_eq(str_of(open, "status"), "awaiting_payment")));
        int64_t p = json_integer_value(json_object_get(open, "prorated_amount"));
        page_set_money(open, "prorated_text", p < 0 ? -p : p, str_of(open, "currency"));
    }
    bool active = str_eq(str_of(svc, "status"), "active");
    json_t *data = json_pack("{s:s s:o s:o s:b}", "title", "Change plan", "service", svc, "change",
                             opts, "active", active);
    if (data != NULL && error != NULL)
        json_object_set_new(data, "flash", page_flash("error", error));
    page_render(req, resp, status, ctx, "client_upgrade.html", data);
}

void p_client_upgrade_form(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    render_upgrade(req, resp, &ctx, 200, NULL);
}

void p_client_upgrade(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t product_id = 0;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t id = web_param_id(req, "id");
    const char *pid = web_form_value(req, "product_id");
    if (pid == NULL || str_to_i64z(pid, 1, INT64_MAX, &product_id) != 0) {
        err_set(&err, LUMI_EINVAL, "Choose one of the plans below.");
        refused(req, resp, &ctx, &err, false);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    json_t *r = changes_request(req->db, &actor, id > 0 ? id : 0, auth_client_scope(req),
                                product_id, utc_now(), &err);
    if (r == NULL) {
        refused(req, resp, &ctx, &err, false);
        return;
    }
    int64_t invoice = json_integer_value(json_object_get(json_object_get(r, "invoice"), "id"));
    json_decref(r);
    if (invoice > 0) {
        char loc[64];
        snprintf(loc, sizeof loc, "/client/invoices/%" PRId64, invoice);
        web_redirect(resp, loc);
        page_security_headers(resp);
        return;
    }
    back_to(resp, id, "upgrade", "ok",
            "Your plan change is queued; any credit is taken off your next renewal invoice.");
}

void p_client_upgrade_withdraw(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "services";
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    json_t *r = changes_withdraw(req->db, &actor, id > 0 ? id : 0, auth_client_scope(req), &err);
    if (r == NULL) {
        refused(req, resp, &ctx, &err, false);
        return;
    }
    json_decref(r);
    back_to(resp, id, "upgrade", "ok", "The upgrade was withdrawn and its invoice cancelled.");
}
