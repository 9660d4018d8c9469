/*
 * p_staff.c — /admin/staff (staff members and their roles, issue 16) and
 * /admin/tokens (API tokens, issue 17), admins only by their routes.
 *
 * Every change goes through the functions behind /api/admin/staff and
 * /api/admin/tokens (staff_create, staff_set_role, staff_set_active,
 * tokens_create, tokens_revoke), so rules, messages and audit rows are the
 * API's. A new token is shown once, on the page that answers the form post
 * (never in a URL). Handlers run on the request's worker thread.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/staff.h"
#include "accounts/tokens.h"
#include "core/str.h"
#include "web/admin/pages_staff.h"
#include "web/page.h"

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v != NULL ? v : "";
}

/* ---- staff ---------------------------------------------------------------- */

static void render_staff(struct web_req *req, struct web_resp *resp, int status,
                         const struct page_ctx *ctx, const char *error)
{
    struct lumi_err err = {0};
    json_t *rows = staff_list(req->db, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *role = json_string_value(json_object_get(row, "role"));
        json_object_set_new(
            row, "active",
            json_boolean(str_eq(json_string_value(json_object_get(row, "status")), "active")));
        json_object_set_new(
            row, "is_me",
            json_boolean(json_integer_value(json_object_get(row, "id")) == req->who.user_id));
        json_t *roles = json_array();
        static const char *const names[] = {"admin", "billing", "support", "readonly", NULL};
        for (size_t k = 0; names[k] != NULL; k++)
            json_array_append_new(roles, json_pack("{s:s s:b}", "name", names[k], "selected",
                                                   role != NULL && str_eq(role, names[k])));
        json_object_set_new(row, "roles", roles);
    }
    json_t *data = json_pack("{s:s s:o}", "title", "Staff", "staff", rows);
    if (error != NULL) {
        page_set_error(data, error);
        json_object_set_new(
            data, "v",
            json_pack("{s:s s:s}", "email", form_str(req, "email"), "role", form_str(req, "role")));
    }
    struct page_ctx c = *ctx;
    c.nav = "staff";
    page_render(req, resp, status, &c, "staff.html", data);
}

void p_staff_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    render_staff(req, resp, 200, &ctx, NULL);
}

void p_staff_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (staff_create(req->db, &actor, form_str(req, "email"), form_str(req, "role"),
                     form_str(req, "password"), NULL, &err) != 0) {
        render_staff(req, resp, page_form_status(&err), &ctx, err.msg);
        return;
    }
    page_redirect_flash(resp, "/admin/staff", "ok", "Staff member created.");
}

/* The {id} of a staff route, or 0 after answering 404. */
static int64_t staff_id(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx)
{
    return page_id_or_404(req, resp, ctx, "No such staff member.");
}

static void answer_change(struct web_resp *resp, int rc, const struct lumi_err *err,
                          const char *done)
{
    if (rc == 0)
        page_redirect_flash(resp, "/admin/staff", "ok", done);
    else
        page_redirect_flash(resp, "/admin/staff", "error", err->msg);
}

void p_staff_role(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = staff_id(req, resp, &ctx);
    if (id == 0)
        return;
    struct audit_actor actor = auth_actor(req);
    int rc = staff_set_role(req->db, &actor, id, form_str(req, "role"), &err);
    answer_change(resp, rc, &err, "Role changed.");
}

static void set_active(struct web_req *req, struct web_resp *resp, bool active)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = staff_id(req, resp, &ctx);
    if (id == 0)
        return;
    struct audit_actor actor = auth_actor(req);
    int rc = staff_set_active(req->db, &actor, id, active, &err);
    answer_change(resp, rc, &err, active ? "Staff member enabled." : "Staff member disabled.");
}

void p_staff_disable(struct web_req *req, struct web_resp *resp)
{
    set_active(req, resp, false);
}

void p_staff_enable(struct web_req *req, struct web_resp *resp)
{
    set_active(req, resp, true);
}

/* ---- API tokens ----------------------------------------------------------- */

static void render_tokens(struct web_req *req, struct web_resp *resp, int status,
                          const struct page_ctx *ctx, const char *error, json_t *created)
{
    struct lumi_err err = {0};
    json_t *rows = tokens_list(req->db, &err);
    json_t *staff = rows != NULL ? staff_list(req->db, &err) : NULL;
    if (rows == NULL || staff == NULL) {
        json_decref(rows);
        json_decref(created);
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *s = json_string_value(json_object_get(row, "status"));
        json_object_set_new(row, "is_active", json_boolean(s != NULL && str_eq(s, "active")));
    }
    json_array_foreach(staff, i, row)
    {
        json_object_set_new(
            row, "selected",
            json_boolean(json_integer_value(json_object_get(row, "id")) == req->who.user_id));
    }
    json_t *data =
        json_pack("{s:s s:o s:o}", "title", "API tokens", "tokens", rows, "staff", staff);
    if (created != NULL)
        json_object_set_new(data, "created", created);
    page_set_error(data, error);
    struct page_ctx c = *ctx;
    c.nav = "tokens";
    page_render(req, resp, status, &c, "tokens.html", data);
}

void p_tokens_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    render_tokens(req, resp, 200, &ctx, NULL, NULL);
}

void p_tokens_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char token[TOKENS_LEN];
    int64_t id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    struct tokens_new in = {.name = form_str(req, "name")};
    const char *user = form_str(req, "user"), *days = form_str(req, "expires_days");
    in.owner_email = *user != '\0' ? user : NULL;
    if (*days != '\0' && str_to_i64z(days, 0, TOKENS_MAX_DAYS, &in.expires_days) != 0) {
        render_tokens(req, resp, 400, &ctx,
                      "Expires after: a whole number of days (empty or 0 for never).", NULL);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    if (tokens_create(req->db, &actor, &in, token, &id, &err) != 0) {
        render_tokens(req, resp, page_form_status(&err), &ctx, err.msg, NULL);
        return;
    }
    json_t *created =
        json_pack("{s:I s:s s:s}", "id", (json_int_t)id, "name", in.name, "token", token);
    sodium_memzero(token, sizeof token);
    render_tokens(req, resp, 201, &ctx, NULL, created);
}

void p_tokens_revoke(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, "No such API token.");
    if (id == 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (tokens_revoke(req->db, &actor, id, &err) != 0)
        page_redirect_flash(resp, "/admin/tokens", "error", err.msg);
    else
        page_redirect_flash(resp, "/admin/tokens", "ok", "Token revoked; it no longer works.");
}
