/*
 * p_account.c — the client's own account as pages: /client/signup,
 * /client/verify, /client/password-reset[/confirm], /client/account (profile,
 * billing address, password, two-factor sign-in) and the code step of the
 * client login (/client/login/code).
 *
 * Every page calls the functions of accounts/signup.h and accounts.h that the
 * JSON API calls (h_client_account.c), and says in words what went wrong.
 *
 * CSRF: the forms of visitors (no session yet: sign-up, verify, reset) carry
 * a random token in the field form_csrf that must equal the cookie
 * lumi_form_csrf (Path=/client, SameSite=Strict, HttpOnly), compared in
 * constant time; the account forms carry the session's csrf_token
 * (page_require_client). The verification link opens a page with a button:
 * only its POST spends the token, so a mail scanner that fetches the link
 * confirms nothing. The access log writes the path without its query
 * string, so a token from a link reaches no log; the pages carry no-store.
 *
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "billing/clients.h"
#include "core/crypto.h"
#include "core/str.h"
#include "settings/registry.h"
#include "web/page.h"
#include "web/client/pages_client.h"

#define FORM_CSRF_COOKIE "lumi_form_csrf"
#define LOGIN_CHALLENGE_COOKIE "lumi_client_challenge"

static const char *const SIGNUP_FIELDS[] = {
    "email",    "password", "first_name", "last_name", "company", "phone",   "address1",
    "address2", "city",     "state",      "postcode",  "country", "website", NULL};
static const char *const PROFILE_FIELDS[] = {"first_name", "last_name", "company", "phone",
                                             "address1",   "address2",  "city",    "state",
                                             "postcode",   "country",   NULL};

/* ---- visitors' forms ------------------------------------------------------- */

/* data gets "form_csrf" and the cookie is set; false (500 answered) without randomness. */
static bool form_csrf_issue(struct web_req *req, struct web_resp *resp, json_t *data)
{
    char token[65];
    if (crypto_random_token(32, token, sizeof token) != 0) {
        json_decref(data);
        page_error(req, resp, 500, NULL, "could not make a random token");
        return false;
    }
    json_object_set_new(data, "form_csrf", json_string(token));
    return true;
}

static void form_csrf_cookie(struct web_resp *resp, const json_t *data)
{
    const char *t = json_string_value(json_object_get(data, "form_csrf"));
    if (t != NULL)
        page_set_cookie(resp, FORM_CSRF_COOKIE, t, "/client", "Strict", PAGE_LOGIN_CSRF_TTL_S);
}

static bool form_csrf_ok(struct web_req *req)
{
    const char *sent = web_form_value(req, "form_csrf");
    const char *cookie = web_cookie(req, FORM_CSRF_COOKIE);
    size_t n = cookie ? strlen(cookie) : 0;
    return sent != NULL && n >= 32 && strlen(sent) == n && crypto_ct_equal(sent, cookie, n);
}

/* Renders a visitor's form tmpl with data (taken), a fresh form token, and error as flash. */
static void render_visitor(struct web_req *req, struct web_resp *resp, int status, const char *tmpl,
                           const char *title, json_t *data, const char *error)
{
    if (data == NULL)
        data = json_object();
    json_object_set_new(data, "title", json_string(title));
    if (!form_csrf_issue(req, resp, data))
        return;
    page_set_error(data, error);
    json_incref(data);
    page_render(req, resp, status, NULL, tmpl, data);
    form_csrf_cookie(resp, data);
    json_decref(data);
}

static void render_notice(struct web_req *req, struct web_resp *resp, int status, const char *title,
                          const char *message, const char *href, const char *label)
{
    json_t *data = json_pack("{s:s s:s}", "title", title, "message", message);
    if (href != NULL)
        json_object_set_new(data, "link", json_pack("{s:s s:s}", "href", href, "label", label));
    page_render(req, resp, status, NULL, "client_notice.html", data);
}

static const char EXPIRED_FORM[] =
    "The form expired or did not come from this site; please try again.";

/* The posted fields (non-empty ones) as a JSON object, for the domain and to refill the form. */
static json_t *form_object(struct web_req *req, const char *const *fields)
{
    json_t *o = json_object();
    for (size_t i = 0; fields[i] != NULL; i++) {
        const char *v = web_form_value(req, fields[i]);
        if (v != NULL && (v[0] != '\0' || str_eq(fields[i], "website")))
            json_object_set_new(o, fields[i], json_string(v));
    }
    return o;
}

/* The form to show again: the input without the password. */
static json_t *refill(const json_t *input)
{
    json_t *form = json_deep_copy(input);
    json_object_del(form, "password");
    return json_pack("{s:o}", "form", form);
}

/* ---- sign-up ------------------------------------------------------------------ */

static bool signup_open(struct web_req *req)
{
    bool on = true;
    struct lumi_err err = {0};
    return settings_reg_bool(req->db, "store.signup_enabled", &on, &err) != 0 || on;
}

void p_client_signup_form(struct web_req *req, struct web_resp *resp)
{
    bool open = signup_open(req);
    render_visitor(req, resp, open ? 200 : 403, "client_signup.html", "Sign up",
                   json_pack("{s:b}", "closed", !open), NULL);
}

void p_client_signup(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct signup_origin o = {web_client_ip(req), req->user_agent};
    if (!form_csrf_ok(req)) {
        render_visitor(req, resp, 403, "client_signup.html", "Sign up", NULL, EXPIRED_FORM);
        return;
    }
    json_t *input = form_object(req, SIGNUP_FIELDS);
    int rc = signup_register(req->db, input, &o, &err);
    if (rc == 0) {
        render_notice(req, resp, 200, "Check your e-mail",
                      "Thank you. If the address can be used, a message to confirm it is on its "
                      "way: open the link in it within 48 hours.",
                      "/client/login", "Go to the login");
    } else if (rc == LUMI_EFORBIDDEN) {
        render_visitor(req, resp, 403, "client_signup.html", "Sign up",
                       json_pack("{s:b}", "closed", 1), NULL);
    } else {
        char msg[sizeof err.msg + 32];
        snprintf(msg, sizeof msg, "%s%s",
                 rc == LUMI_ETHROTTLED ? "" : "Please check the form: ", err.msg);
        render_visitor(req, resp, rc == LUMI_ETHROTTLED ? 429 : page_form_status(&err),
                       "client_signup.html", "Sign up", refill(input), msg);
    }
    json_decref(input);
}

/* ---- verification ----------------------------------------------------------------- */

void p_client_verify_form(struct web_req *req, struct web_resp *resp)
{
    const char *token = web_query(req, "token");
    if (!str_present(token) || strlen(token) > 128) {
        render_notice(req, resp, 400, "Confirm your e-mail address",
                      "This link is incomplete: open the whole link from the message we sent.",
                      NULL, NULL);
        return;
    }
    render_visitor(req, resp, 200, "client_verify.html", "Confirm your e-mail address",
                   json_pack("{s:s}", "token", token), NULL);
}

void p_client_verify(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct signup_origin o = {web_client_ip(req), req->user_agent};
    const char *token = web_form_value(req, "token");
    if (!form_csrf_ok(req)) {
        render_visitor(req, resp, 403, "client_verify.html", "Confirm your e-mail address",
                       json_pack("{s:s}", "token", token != NULL ? token : ""), EXPIRED_FORM);
        return;
    }
    if (signup_verify(req->db, token, &o, &err) != 0) {
        render_notice(req, resp, page_form_status(&err), "Confirm your e-mail address", err.msg,
                      "/client/login", "Go to the login");
        return;
    }
    render_notice(req, resp, 200, "E-mail confirmed",
                  "Your e-mail address is confirmed. You can log in now.", "/client/login",
                  "Log in");
}

/* ---- password reset ------------------------------------------------------------------ */

void p_client_reset_form(struct web_req *req, struct web_resp *resp)
{
    render_visitor(req, resp, 200, "client_reset.html", "Forgot your password?", NULL, NULL);
}

void p_client_reset(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct signup_origin o = {web_client_ip(req), req->user_agent};
    const char *email = web_form_value(req, "email");
    if (!form_csrf_ok(req)) {
        render_visitor(req, resp, 403, "client_reset.html", "Forgot your password?", NULL,
                       EXPIRED_FORM);
        return;
    }
    int rc = signup_reset_request(req->db, email, &o, &err);
    if (rc != 0) {
        render_visitor(req, resp, rc == LUMI_ETHROTTLED ? 429 : page_form_status(&err),
                       "client_reset.html", "Forgot your password?",
                       json_pack("{s:{s:s}}", "form", "email", email != NULL ? email : ""),
                       err.msg);
        return;
    }
    render_notice(req, resp, 200, "Check your e-mail",
                  "If an account has this address, a message with a link to choose a new "
                  "password is on its way; the link works for one hour.",
                  "/client/login", "Back to the login");
}

void p_client_reset_confirm_form(struct web_req *req, struct web_resp *resp)
{
    const char *token = web_query(req, "token");
    if (!str_present(token) || strlen(token) > 128) {
        render_notice(req, resp, 400, "Choose a new password",
                      "This link is incomplete: open the whole link from the message we sent, "
                      "or ask for a new one.",
                      "/client/password-reset", "Ask for a new link");
        return;
    }
    render_visitor(req, resp, 200, "client_reset_confirm.html", "Choose a new password",
                   json_pack("{s:s}", "token", token), NULL);
}

void p_client_reset_confirm(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct signup_origin o = {web_client_ip(req), req->user_agent};
    const char *token = web_form_value(req, "token");
    const char *password = web_form_value(req, "password");
    json_t *again = json_pack("{s:s}", "token", token != NULL ? token : "");
    if (!form_csrf_ok(req)) {
        render_visitor(req, resp, 403, "client_reset_confirm.html", "Choose a new password", again,
                       EXPIRED_FORM);
        return;
    }
    int rc = signup_reset_confirm(req->db, token, password, &o, &err);
    if (rc == LUMI_EINVAL) {
        render_visitor(req, resp, 400, "client_reset_confirm.html", "Choose a new password", again,
                       err.msg);
        return;
    }
    json_decref(again);
    if (rc != 0) {
        render_notice(req, resp, err_http_status(rc), "Choose a new password", err.msg,
                      "/client/password-reset", "Ask for a new link");
        return;
    }
    render_notice(req, resp, 200, "Password changed",
                  "Your new password is set and you were signed out everywhere. Log in with the "
                  "new password.",
                  "/client/login", "Log in");
}

/* ---- the account page ------------------------------------------------------------------- */

static void render_account(struct web_req *req, struct web_resp *resp, int status,
                           struct page_ctx *ctx, json_t *form, const char *error)
{
    struct lumi_err err = {0};
    struct accounts_totp_status st;
    json_t *c = clients_get(req->db, req->who.user_id, &err);
    if (c == NULL || accounts_totp_status(req->db, req->who.user_id, &st, &err) != 0) {
        json_decref(c);
        json_decref(form);
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    bool verified = !json_is_null(json_object_get(c, "email_verified_at"));
    json_t *data =
        json_pack("{s:s s:O s:o s:b s:{s:b s:I}}", "title", "Your account", "client", c, "form",
                  form != NULL ? form : json_deep_copy(c), "verified", verified, "totp", "enabled",
                  st.enabled, "recovery_left", (json_int_t)st.recovery_left);
    json_decref(c);
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "client_account.html", data);
}

void p_client_account(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    render_account(req, resp, 200, &ctx, NULL, NULL);
}

void p_client_account_profile(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    /* Every field of the form is sent: an emptied optional field clears it. */
    json_t *patch = json_object();
    for (size_t i = 0; PROFILE_FIELDS[i] != NULL; i++) {
        const char *v = web_form_value(req, PROFILE_FIELDS[i]);
        if (v != NULL)
            json_object_set_new(patch, PROFILE_FIELDS[i], json_string(v));
    }
    struct audit_actor actor = auth_actor(req);
    json_t *c = signup_profile_update(req->db, &actor, req->who.user_id, patch, &err);
    if (c == NULL) {
        render_account(req, resp, page_form_status(&err), &ctx, patch, err.msg);
        return;
    }
    json_decref(c);
    json_decref(patch);
    page_redirect_flash(resp, "/client/account", "ok", "Your profile was saved.");
}

void p_client_account_password(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    struct audit_actor actor = auth_actor(req);
    int rc = signup_password_change(req->db, &actor, req->who.user_id, req->who.session_id,
                                    web_form_value(req, "current_password"),
                                    web_form_value(req, "new_password"), &err);
    if (rc != 0) {
        render_account(req, resp, rc == LUMI_ETHROTTLED ? 429 : page_form_status(&err), &ctx, NULL,
                       err.msg);
        return;
    }
    page_redirect_flash(resp, "/client/account", "ok",
                        "Your password was changed; your other sessions were ended.");
}

void p_client_account_resend(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (signup_resend_own(req->db, &actor, req->who.user_id, &err) != 0)
        page_redirect_flash(resp, "/client/account", "error", err.msg);
    else
        page_redirect_flash(resp, "/client/account", "ok",
                            "A new link to confirm your e-mail address is on its way.");
}

void p_client_account_totp_begin(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char b32[TOTP_SECRET_B32_LEN], uri[TOTP_URI_MAX];
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    if (accounts_totp_begin(req->db, req->who.user_id, &err) != 0 ||
        accounts_totp_pending(req->db, req->who.user_id, b32, uri, &err) != 0) {
        page_redirect_flash(resp, "/client/account", "error", err.msg);
        return;
    }
    page_render(
        req, resp, 200, &ctx, "client_account_totp.html",
        json_pack("{s:s s:s s:s}", "title", "Two-factor sign-in", "secret", b32, "uri", uri));
    sodium_memzero(b32, sizeof b32);
    sodium_memzero(uri, sizeof uri);
}

void p_client_account_totp_confirm(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN];
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "account";
    struct audit_actor actor = auth_actor(req);
    if (accounts_totp_confirm(req->db, &actor, req->who.user_id, web_form_value(req, "code"), codes,
                              &err) != 0) {
        page_redirect_flash(resp, "/client/account", "error", err.msg);
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < ACCOUNTS_RECOVERY_CODES; i++)
        json_array_append_new(list, json_string(codes[i]));
    sodium_memzero(codes, sizeof codes);
    page_render(req, resp, 200, &ctx, "client_account_codes.html",
                json_pack("{s:s s:o}", "title", "Recovery codes", "codes", list));
}

void p_client_account_totp_disable(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    struct accounts_login_policy policy;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    page_login_policy(&policy, AUTH_AREA_CLIENT);
    struct audit_actor actor = auth_actor(req);
    if (accounts_totp_disable(req->db, &actor, req->who.user_id, web_form_value(req, "password"),
                              web_form_value(req, "code"), &policy, &err) != 0) {
        page_redirect_flash(resp, "/client/account", "error", err.msg);
        return;
    }
    page_redirect_flash(resp, "/client/account", "ok", "Two-factor sign-in is off.");
}

/* ---- the code step of the client login ------------------------------------------------ */

void p_client_login_need_code(struct web_req *req, struct web_resp *resp,
                              struct accounts_session *s, const char *next)
{
    page_login_render(req, resp, AUTH_AREA_CLIENT, 200, "client_login_totp.html", "Two-factor code",
                      NULL, next, NULL);
    page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, s->challenge, "/client/login", "Strict",
                    ACCOUNTS_CHALLENGE_TTL_S);
    sodium_memzero(s, sizeof *s);
}

void p_client_login_code(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct accounts_login_policy policy;
    struct accounts_session s;
    const char *code = web_form_value(req, "code");
    const char *next = web_form_value(req, "next");
    const char *challenge = web_cookie(req, LOGIN_CHALLENGE_COOKIE);
    if (!page_login_csrf_ok(req)) {
        page_login_render(req, resp, AUTH_AREA_CLIENT, 403, "client_login_totp.html",
                          "Two-factor code", NULL, next, EXPIRED_FORM);
        return;
    }
    if (challenge == NULL || strlen(challenge) != 64) {
        page_login_render(req, resp, AUTH_AREA_CLIENT, 401, "client_login.html", "Log in", NULL,
                          next,
                          "This sign-in has expired; enter your e-mail address and "
                          "password again.");
        return;
    }
    page_login_policy(&policy, AUTH_AREA_CLIENT);
    int rc = accounts_login_code(req->db, challenge, code != NULL ? code : "", web_client_ip(req),
                                 req->user_agent, &policy, &s, &err);
    if (rc == LUMI_ENOTFOUND) {
        page_login_render(req, resp, AUTH_AREA_CLIENT, 401, "client_login.html", "Log in", NULL,
                          next, err.msg);
        page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, "", "/client/login", "Strict", 0);
        return;
    }
    if (rc != 0) {
        int status = rc == LUMI_ETHROTTLED ? 429 : rc == LUMI_EAUTH ? 401 : page_form_status(&err);
        page_login_render(req, resp, AUTH_AREA_CLIENT, status, "client_login_totp.html",
                          "Two-factor code", NULL, next,
                          rc == LUMI_EAUTH ? "Wrong or already used code; type the code the app "
                                             "shows now."
                                           : err.msg);
        return;
    }
    page_login_finish(resp, AUTH_AREA_CLIENT, &s, next);
    page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, "", "/client/login", "Strict", 0);
}
