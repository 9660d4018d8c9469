/*
 * p_admin.c — GET/POST /admin/login, POST /admin/logout.
 *
 * Login runs through accounts_login, exactly as POST /api/admin/login: the
 * same throttling, the same LOGIN / LOGIN_FAILED audit rows. The login form
 * has its own CSRF token (no session exists yet): a random value in a
 * short-lived cookie, echoed in a hidden field and compared in constant time,
 * so another site cannot log a browser into an account of its choosing.
 *
 * With a second factor on (accounts.h), a right password opens no session:
 * the answer is the code form, and the login challenge travels in its own
 * HttpOnly cookie (path /admin/login, SameSite=Strict, five minutes), never
 * in the page. POST /admin/login/code exchanges it and a code for the
 * session through accounts_login_code, with the same throttling and audit.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/str.h"
#include "web/page.h"
#include "web/pages_account.h"
#include "web/routes_pages.h"

#define LOGIN_CHALLENGE_COOKIE "lumi_login_challenge"

/* Renders tmpl (the login form or the code form) with a fresh login CSRF
 * token in cookie and field. */
static void render_form(struct web_req *req, struct web_resp *resp, int status, const char *tmpl,
                        const char *title, const char *email, const char *next, const char *error)
{
    char token[65];
    if (page_login_csrf_new(token) != 0) {
        page_error(req, resp, 500, NULL, "could not make a random token");
        return;
    }
    json_t *data = json_pack("{s:s s:s s:s s:s}", "title", title, "login_csrf", token, "email",
                             email ? email : "", "next", page_next_is_safe(next, AUTH_AREA_ADMIN) ? next : "");
    if (data != NULL && error != NULL)
        json_object_set_new(data, "flash", page_flash("error", error));
    page_render(req, resp, status, NULL, tmpl, data);
    page_login_csrf_cookie(resp, AUTH_AREA_ADMIN, token);
}

static void render_login(struct web_req *req, struct web_resp *resp, int status, const char *email,
                         const char *next, const char *error)
{
    render_form(req, resp, status, "login.html", "Log in", email, next, error);
}

static void render_code(struct web_req *req, struct web_resp *resp, int status, const char *next,
                        const char *error)
{
    render_form(req, resp, status, "login_totp.html", "Two-factor code", NULL, next, error);
}

static void login_policy(struct accounts_login_policy *policy)
{
    *policy = (struct accounts_login_policy){
        .max_failures = config_int("LUMI_LOGIN_MAX_FAILURES"),
        .window_s = config_int("LUMI_LOGIN_WINDOW"),
        .session_ttl_s = AUTH_SESSION_TTL_S,
    };
}

static void add_retry_after(struct web_resp *resp, const struct accounts_login_policy *policy)
{
    char retry[24];
    snprintf(retry, sizeof retry, "%lld", (long long)policy->window_s);
    web_add_header(resp, "Retry-After", retry);
}

/* The session is open: its cookie, the login cookies cleared, 303 to next. */
static void finish_login(struct web_resp *resp, struct accounts_session *s, const char *next)
{
    web_redirect(resp, page_next_is_safe(next, AUTH_AREA_ADMIN) ? next : "/admin");
    page_security_headers(resp);
    page_set_cookie(resp, AUTH_SESSION_COOKIE, s->token, "/", "Lax", AUTH_SESSION_TTL_S);
    page_login_csrf_cookie(resp, AUTH_AREA_ADMIN, "");
    page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, "", "/admin/login", "Strict", 0);
    crypto_random(s->token, sizeof s->token); /* the cookie value lives on only in the header */
}

void p_login_form(struct web_req *req, struct web_resp *resp)
{
    render_login(req, resp, 200, NULL, web_query(req, "next"), NULL);
}

void p_login(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *email = web_form_value(req, "email");
    const char *password = web_form_value(req, "password");
    const char *next = web_form_value(req, "next");
    if (!page_login_csrf_ok(req)) {
        render_login(req, resp, 403, email, next,
                     "The login form expired or did not come from this site; please try again.");
        return;
    }
    if (!str_present(email) || !str_present(password) || strlen(email) > 254 ||
        strlen(password) > 1024) {
        render_login(req, resp, 400, email, next, "Enter your e-mail address and password.");
        return;
    }
    struct accounts_login_policy policy;
    login_policy(&policy);
    struct accounts_session s;
    int rc = accounts_login(req->db, email, password, req->client_ip, req->user_agent, &policy, &s,
                            &err);
    if (rc == ACCOUNTS_LOGIN_NEED_CODE) {
        render_code(req, resp, 200, next, NULL);
        page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, s.challenge, "/admin/login", "Strict",
                   ACCOUNTS_CHALLENGE_TTL_S);
        crypto_random(s.challenge, sizeof s.challenge);
        return;
    }
    if (rc == LUMI_ETHROTTLED) {
        render_login(req, resp, 429, email, next,
                     "Too many failed attempts; wait a few minutes and try again.");
        add_retry_after(resp, &policy);
        return;
    }
    if (rc == LUMI_EAUTH || rc == LUMI_EFORBIDDEN) {
        render_login(req, resp, rc == LUMI_EAUTH ? 401 : 403, email, next,
                     rc == LUMI_EAUTH ? "Wrong e-mail address or password."
                                      : "This account cannot use the admin pages.");
        return;
    }
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), NULL, err.msg);
        return;
    }
    finish_login(resp, &s, next);
}

void p_login_code_form(struct web_req *req, struct web_resp *resp)
{
    (void)req;
    /* The code form exists only as the answer to a right password. */
    web_redirect(resp, "/admin/login");
    page_security_headers(resp);
}

void p_login_code(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *code = web_form_value(req, "code");
    const char *next = web_form_value(req, "next");
    const char *challenge = web_cookie(req, LOGIN_CHALLENGE_COOKIE);
    if (!page_login_csrf_ok(req)) {
        render_code(req, resp, 403, next,
                    "The form expired or did not come from this site; please try again.");
        return;
    }
    if (challenge == NULL || strlen(challenge) != 64) {
        render_login(req, resp, 401, NULL, next,
                     "This sign-in has expired; enter your e-mail address and password again.");
        return;
    }
    if (!str_present(code) || strlen(code) > 64) {
        render_code(req, resp, 400, next,
                    "Enter the 6-digit code from your authenticator app or a recovery code.");
        return;
    }
    struct accounts_login_policy policy;
    login_policy(&policy);
    struct accounts_session s;
    int rc = accounts_login_code(req->db, challenge, code, req->client_ip, req->user_agent, &policy,
                                 &s, &err);
    if (rc == LUMI_ETHROTTLED) {
        render_code(req, resp, 429, next,
                    "Too many failed attempts; wait a few minutes and try again.");
        add_retry_after(resp, &policy);
        return;
    }
    if (rc == LUMI_EAUTH || rc == LUMI_EINVAL) {
        render_code(req, resp, rc == LUMI_EAUTH ? 401 : 400, next,
                    "Wrong or already used code; type the code the app shows now.");
        return;
    }
    if (rc == LUMI_ENOTFOUND) {
        render_login(req, resp, 401, NULL, next, err.msg);
        page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, "", "/admin/login", "Strict", 0);
        return;
    }
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), NULL, err.msg);
        return;
    }
    finish_login(resp, &s, next);
}

void p_logout(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (accounts_logout(req->db, &actor, req->who.session_id, &err) != 0) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    web_redirect(resp, "/admin/login");
    page_security_headers(resp);
    page_set_cookie(resp, AUTH_SESSION_COOKIE, "", "/", "Lax", 0);
}
