/*
 * p_account.c — /admin/account: the signed-in admin's own account and its
 * optional second factor (TOTP, RFC 6238) with recovery codes.
 *
 * Switching it on takes three steps: "Enable" makes a pending secret
 * (accounts_totp_begin) and redirects to the set-up page, which shows the
 * secret in base32 and as an otpauth:// URI (text for the authenticator app;
 * no QR code); a current code confirms it (accounts_totp_confirm), and the
 * answer to that post shows the recovery codes — rendered directly, not
 * through Post/Redirect/Get, because they exist nowhere else and are shown
 * only once. Switching it off needs the password or a current code.
 * Every page here carries no-store (page_security_headers), as they show
 * secrets. Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "accounts/accounts.h"
#include "core/str.h"
#include "web/page.h"
#include "web/admin/pages_account.h"

static void render_account(struct web_req *req, struct web_resp *resp, int status,
                           struct page_ctx *ctx, const char *error)
{
    struct lumi_err err = {0};
    struct accounts_totp_status st;
    int rc = accounts_totp_status(req->db, req->who.user_id, &st, &err);
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), ctx, err.msg);
        return;
    }
    json_t *data =
        json_pack("{s:s s:{s:s s:s} s:{s:b s:b s:I}}", "title", "Your account", "account", "email",
                  req->who.email, "role", req->who.role, "totp", "enabled", st.enabled, "pending",
                  st.pending, "recovery_left", (json_int_t)st.recovery_left);
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "account.html", data);
}

void p_account_show(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    render_account(req, resp, 200, &ctx, NULL);
}

void p_account_totp_begin(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    if (accounts_totp_begin(req->db, req->who.user_id, &err) != 0) {
        page_redirect_flash(resp, "/admin/account", "error", err.msg);
        return;
    }
    web_redirect(resp, "/admin/account/totp");
    page_security_headers(resp);
}

/* The set-up page with the pending secret; error (may be NULL) as its flash. */
static void render_setup(struct web_req *req, struct web_resp *resp, int status,
                         struct page_ctx *ctx, const char *error)
{
    struct lumi_err err = {0};
    char b32[TOTP_SECRET_B32_LEN], uri[TOTP_URI_MAX], grouped[TOTP_SECRET_B32_LEN * 2];
    int rc = accounts_totp_pending(req->db, req->who.user_id, b32, uri, &err);
    if (rc == LUMI_ENOTFOUND) {
        page_redirect_flash(resp, "/admin/account", "error",
                            "Press \"Enable\" to set up two-factor sign-in.");
        return;
    }
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), ctx, err.msg);
        return;
    }
    /* Groups of four are easier to type into an app by hand. */
    size_t g = 0;
    for (size_t i = 0; b32[i] != '\0' && g + 2 < sizeof grouped; i++) {
        if (i > 0 && i % 4 == 0)
            grouped[g++] = ' ';
        grouped[g++] = b32[i];
    }
    grouped[g] = '\0';
    json_t *data = json_pack("{s:s s:s s:s s:s}", "title", "Set up two-factor sign-in", "secret",
                             b32, "secret_grouped", grouped, "uri", uri);
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "account_totp.html", data);
    sodium_memzero(b32, sizeof b32);
    sodium_memzero(grouped, sizeof grouped);
    sodium_memzero(uri, sizeof uri);
}

void p_account_totp_setup(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    render_setup(req, resp, 200, &ctx, NULL);
}

void p_account_totp_confirm(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    struct audit_actor actor = auth_actor(req);
    const char *code = web_form_value(req, "code");
    int rc =
        accounts_totp_confirm(req->db, &actor, req->who.user_id, code ? code : "", codes, &err);
    if (rc == LUMI_EINVAL) {
        render_setup(req, resp, 400, &ctx, err.msg);
        return;
    }
    if (rc == LUMI_ENOTFOUND || rc == LUMI_ECONFLICT) {
        page_redirect_flash(resp, "/admin/account", "error", err.msg);
        return;
    }
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), &ctx, err.msg);
        return;
    }
    json_t *list = json_array();
    for (int i = 0; list != NULL && i < ACCOUNTS_RECOVERY_CODES; i++)
        json_array_append_new(list, json_string(codes[i]));
    sodium_memzero(codes, sizeof codes);
    json_t *data =
        json_pack("{s:s s:o}", "title", "Your recovery codes", "codes", list ? list : json_array());
    if (data != NULL)
        json_object_set_new(data, "flash",
                            page_flash("ok", "Two-factor sign-in is on. Save your recovery codes "
                                             "now: they are shown only this once."));
    page_render(req, resp, 200, &ctx, "account_codes.html", data);
}

void p_account_totp_disable(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    struct audit_actor actor = auth_actor(req);
    struct accounts_login_policy policy;
    page_login_policy(&policy, AUTH_AREA_ADMIN);
    int rc =
        accounts_totp_disable(req->db, &actor, req->who.user_id, web_form_value(req, "password"),
                              web_form_value(req, "code"), &policy, &err);
    if (rc == LUMI_EAUTH || rc == LUMI_EINVAL || rc == LUMI_ETHROTTLED) {
        render_account(req, resp, err_http_status(rc), &ctx,
                       rc == LUMI_EAUTH ? "Wrong password or code; two-factor sign-in is still on."
                                        : err.msg);
        return;
    }
    if (rc == LUMI_ECONFLICT) {
        page_redirect_flash(resp, "/admin/account", "error", err.msg);
        return;
    }
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), &ctx, err.msg);
        return;
    }
    page_redirect_flash(resp, "/admin/account", "ok", "Two-factor sign-in is off.");
}
