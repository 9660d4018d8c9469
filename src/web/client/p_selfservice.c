/*
 * p_selfservice.c — the self-service part of the client's service page
 * /client/services/{id}: the panel's address and login name, "Log in to the
 * panel" (single sign-on where the panel offers it), "Reset panel password"
 * (a job; the new password shown once on this page), VirtFusion power
 * buttons, and links to the cancellation and upgrade pages.
 *
 * The same domain functions as /api/client/services/{id}/… (selfservice.c),
 * so the page never knows more or less than the API. Form posts go through
 * page_require_client (the session's csrf_token field) and answer 303: back
 * to the service page with the outcome as a notice, or, for a sign-on, to
 * the panel's one-time login URL. Another client's service answers 404 like
 * a missing one. Runs on the request's worker thread; no shared state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "provisioning/selfservice.h"
#include "web/page.h"
#include "web/client/pages_client.h"

#define NO_SERVICE "There is no such service."

static void service_path(int64_t id, char *out, size_t size)
{
    snprintf(out, size, "/client/services/%" PRId64, id);
}

/* The notice for a refused action: what the client can do about it. */
static const char *refusal(const struct lumi_err *err)
{
    return err->msg[0] != '\0' ? err->msg : "The action could not be done.";
}

/* The password part: a notice while the reset runs, the password once, a failure. */
static void add_reveal(struct web_req *req, int64_t me, int64_t id, json_t *section)
{
    struct lumi_err err = {0};
    struct audit_actor actor = auth_actor(req);
    json_t *r = selfservice_password_reveal(req->db, &actor, me, id, &err);
    if (r == NULL) {
        json_object_set_new(section, "reset_error", json_string(err.msg));
        return;
    }
    const char *state = json_string_value(json_object_get(r, "state"));
    const char *pw = json_string_value(json_object_get(r, "password"));
    if (pw != NULL)
        json_object_set_new(section, "reveal", json_pack("{s:s}", "password", pw));
    else if (str_eq(state, "pending"))
        json_object_set_new(section, "reset_pending", json_true());
    else if (str_eq(state, "failed"))
        json_object_set_new(section, "reset_failed", json_true());
    json_decref(r);
}

json_t *p_selfservice_section(struct web_req *req, int64_t me, int64_t id)
{
    struct lumi_err err = {0};
    json_t *view = selfservice_service(req->db, me, id, &err);
    if (view == NULL)
        return json_null();
    json_t *panel = json_object_get(view, "panel");
    const char *login = json_string_value(json_object_get(panel, "login"));
    json_t *s =
        json_pack("{s:I, s:O, s:b, s:b, s:b}", "id", (json_int_t)id, "panel", panel, "active",
                  str_eq(json_string_value(json_object_get(view, "status")), "active"), "sso",
                  str_eq(login, "sso"), "power", json_is_true(json_object_get(panel, "power")));
    json_decref(view);
    if (s == NULL)
        return json_null();
    add_reveal(req, me, id, s);
    return s;
}

/* Common start of the form posts: the session, its CSRF token, the id. */
static int64_t start(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    if (page_require_client(req, resp, ctx) != 0)
        return 0;
    ctx->nav = "services";
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        page_error(req, resp, 404, ctx, NO_SERVICE);
    return id;
}

/* A refusal as the page shows it: 404 as the error page, the rest as a notice. */
static void refused(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                    int64_t id, const struct lumi_err *err)
{
    char path[64];
    if (err->code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, ctx, NO_SERVICE);
        return;
    }
    service_path(id, path, sizeof path);
    page_redirect_flash(resp, path, "error", refusal(err));
}

void p_client_service_login(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t id = start(req, resp, &ctx);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *login = selfservice_login(req->db, &actor, auth_client_scope(req), id, &err);
    if (login == NULL) {
        refused(req, resp, &ctx, id, &err);
        return;
    }
    web_add_header(resp, "Cache-Control", "no-store");
    web_redirect(resp, json_string_value(json_object_get(login, "url")));
    json_decref(login);
}

void p_client_service_password(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char path[64];
    int64_t id = start(req, resp, &ctx);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *job = selfservice_password_reset(req->db, &actor, auth_client_scope(req), id, &err);
    if (job == NULL) {
        refused(req, resp, &ctx, id, &err);
        return;
    }
    json_decref(job);
    service_path(id, path, sizeof path);
    page_redirect_flash(resp, path, "ok",
                        "Your panel password is being reset. The new password appears on this "
                        "page once it is set.");
}

void p_client_service_power(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char path[64];
    int64_t id = start(req, resp, &ctx);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    const char *action = web_form_value(req, "action");
    json_t *out = selfservice_power(req->db, &actor, auth_client_scope(req), id, action, &err);
    if (out == NULL) {
        refused(req, resp, &ctx, id, &err);
        return;
    }
    service_path(id, path, sizeof path);
    page_redirect_flash(resp, path, "ok", json_string_value(json_object_get(out, "message")));
    json_decref(out);
}
