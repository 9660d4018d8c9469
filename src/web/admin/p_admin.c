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
#include "core/crypto.h"
#include "core/str.h"
#include "web/page.h"
#include "web/admin/pages_account.h"
#include "web/admin/routes_pages.h"

#define LOGIN_CHALLENGE_COOKIE "lumi_login_challenge"

static void render_login(struct web_req *req, struct web_resp *resp, int status, const char *email,
                         const char *next, const char *error)
{
    page_login_render(req, resp, AUTH_AREA_ADMIN, status, "login.html", "Log in", email, next,
                      error);
}

static void render_code(struct web_req *req, struct web_resp *resp, int status, const char *next,
                        const char *error)
{
    page_login_render(req, resp, AUTH_AREA_ADMIN, status, "login_totp.html", "Two-factor code",
                      NULL, next, error);
}

/* The session is open: its cookie, the login cookies cleared, 303 to next. */
static void finish_login(struct web_resp *resp, struct accounts_session *s, const char *next)
{
    page_login_finish(resp, AUTH_AREA_ADMIN, s, next);
    page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, "", "/admin/login", "Strict", 0);
}

void p_login_form(struct web_req *req, struct web_resp *resp)
{
    render_login(req, resp, 200, NULL, web_query(req, "next"), NULL);
}

void p_login(struct web_req *req, struct web_resp *resp)
{
    struct accounts_session s;
    const char *next = web_form_value(req, "next");
    int rc = page_login_password(req, resp, AUTH_AREA_ADMIN, "login.html",
                                 "This account cannot use the admin pages.", &s);
    if (rc == ACCOUNTS_LOGIN_NEED_CODE) {
        render_code(req, resp, 200, next, NULL);
        page_set_cookie(resp, LOGIN_CHALLENGE_COOKIE, s.challenge, "/admin/login", "Strict",
                        ACCOUNTS_CHALLENGE_TTL_S);
        crypto_random(s.challenge, sizeof s.challenge);
        return;
    }
    if (rc == 0)
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
    page_login_policy(&policy, AUTH_AREA_ADMIN);
    struct accounts_session s;
    int rc = accounts_login_code(req->db, challenge, code, web_client_ip(req), req->user_agent, &policy,
                                 &s, &err);
    if (rc == LUMI_ETHROTTLED) {
        char retry[24];
        render_code(req, resp, 429, next,
                    "Too many failed attempts; wait a few minutes and try again.");
        snprintf(retry, sizeof retry, "%lld", (long long)policy.window_s);
        web_add_header(resp, "Retry-After", retry);
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
    page_logout(req, resp, AUTH_AREA_ADMIN);
}
