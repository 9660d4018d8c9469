/*
 * h_auth.c — POST /api/admin/login, POST /api/admin/logout, GET /api/admin/me,
 * and the client area's POST /api/client/login and /api/client/logout (the
 * same login, the lumi_client_session cookie, only clients admitted).
 *
 * Login answers the session cookie (HttpOnly, SameSite=Lax, Secure when
 * LUMI_BASE_URL is https) and the CSRF token the browser must send back in
 * X-CSRF-Token on every request that changes something.
 *
 * With a second factor on, {email, password} opens no session: the answer is
 * 401 with error code "second_factor_required" and a "challenge" (valid for
 * five minutes, single use); a second POST of {challenge, code} with a
 * current TOTP code or a recovery code then opens the session.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "accounts/accounts.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "web/auth.h"
#include "web/api/api.h"

/* The session cookie of the area: lumi_session or lumi_client_session. */
static void set_session_cookie(struct web_resp *resp, enum auth_area area, const char *value,
                               int64_t max_age)
{
    char cookie[256];
    bool secure = web_resp_is_https(resp);
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s",
             area == AUTH_AREA_CLIENT ? AUTH_CLIENT_COOKIE : AUTH_SESSION_COOKIE, value,
             (long long)max_age, secure ? "; Secure" : "");
    web_add_header(resp, "Set-Cookie", cookie);
}

static void reply_session(struct web_resp *resp, enum auth_area area, struct accounts_session *s)
{
    set_session_cookie(resp, area, s->token, AUTH_SESSION_TTL_S);
    web_reply_json(resp, 200,
                   json_pack("{s:{s:I s:s s:s} s:s s:s}", "user", "id", (json_int_t)s->user_id,
                             "email", s->email, "role", s->role, "csrf_token", s->csrf_token,
                             "expires_at", s->expires_at));
}

/*
 * The one login of both areas: {email, password}, or {challenge, code} after
 * a second_factor_required answer. Only admins and staff get into the admin
 * area, only clients into the client area (accounts_login's policy).
 */
static void login(struct web_req *req, struct web_resp *resp, enum auth_area area)
{
    static const char *const fields[] = {"email", "password", "challenge", "code", NULL};
    struct lumi_err err = {0};
    struct accounts_session s;
    const char *email = NULL, *password = NULL, *challenge = NULL, *code = NULL;
    memset(&s, 0, sizeof s);
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (jsonx_check_keys(body, fields, &err) != 0 ||
        jsonx_take_str(body, "challenge", false, 64, &challenge, &err) < 0 ||
        jsonx_take_str(body, "code", challenge != NULL, 64, &code, &err) < 0 ||
        jsonx_take_str(body, "email", challenge == NULL, 254, &email, &err) < 0 ||
        jsonx_take_str(body, "password", challenge == NULL, 1024, &password, &err) < 0) {
        web_reply_err(resp, &err);
        goto out;
    }
    struct accounts_login_policy policy = {
        .max_failures = config_int("LUMI_LOGIN_MAX_FAILURES"),
        .window_s = config_int("LUMI_LOGIN_WINDOW"),
        .account_max_per_hour = config_int("LUMI_LOGIN_ACCOUNT_MAX"),
        .session_ttl_s = AUTH_SESSION_TTL_S,
        .client_area = area == AUTH_AREA_CLIENT,
    };
    int rc = challenge != NULL ? accounts_login_code(req->db, challenge, code, web_client_ip(req),
                                                     req->user_agent, &policy, &s, &err)
                               : accounts_login(req->db, email, password, web_client_ip(req),
                                                req->user_agent, &policy, &s, &err);
    if (rc == ACCOUNTS_LOGIN_NEED_CODE) {
        web_reply_json(resp, 401,
                       json_pack("{s:{s:s s:s} s:s s:i}", "error", "code", "second_factor_required",
                                 "message",
                                 "enter a code from your authenticator app or a recovery code, "
                                 "with this challenge",
                                 "challenge", s.challenge, "expires_in", ACCOUNTS_CHALLENGE_TTL_S));
        goto out;
    }
    if (rc == LUMI_ETHROTTLED) {
        char retry[24];
        snprintf(retry, sizeof retry, "%lld", (long long)policy.window_s);
        web_add_header(resp, "Retry-After", retry);
    }
    if (rc == LUMI_ENOTFOUND) /* an expired or spent challenge: log in again */
        err.code = LUMI_EAUTH;
    if (rc != 0) {
        web_reply_err(resp, &err);
        goto out;
    }
    reply_session(resp, area, &s);
out:
    sodium_memzero(&s, sizeof s); /* the session token and the challenge */
    json_decref(body);
}

/* Ends the caller's session (a token caller has none) and clears the area's cookie. */
static void logout(struct web_req *req, struct web_resp *resp, enum auth_area area)
{
    struct lumi_err err = {0};
    if (req->who.kind == PRINCIPAL_USER && req->who.session_id > 0) {
        struct audit_actor actor = auth_actor(req);
        if (accounts_logout(req->db, &actor, req->who.session_id, &err) != 0) {
            web_reply_err(resp, &err);
            return;
        }
        set_session_cookie(resp, area, "", 0);
    }
    web_reply_text(resp, 204, "text/plain", "", 0);
}

void h_admin_login(struct web_req *req, struct web_resp *resp)
{
    login(req, resp, AUTH_AREA_ADMIN);
}

void h_admin_logout(struct web_req *req, struct web_resp *resp)
{
    logout(req, resp, AUTH_AREA_ADMIN);
}

void h_client_login(struct web_req *req, struct web_resp *resp)
{
    login(req, resp, AUTH_AREA_CLIENT);
}

void h_client_logout(struct web_req *req, struct web_resp *resp)
{
    logout(req, resp, AUTH_AREA_CLIENT);
}

void h_admin_me(struct web_req *req, struct web_resp *resp)
{
    const struct web_principal *w = &req->who;
    web_reply_json(resp, 200,
                   json_pack("{s:s s:I s:s s:s}", "auth",
                             w->kind == PRINCIPAL_TOKEN ? "api_token" : "session", "user_id",
                             (json_int_t)w->user_id, "role", w->role, "email", w->email));
}
