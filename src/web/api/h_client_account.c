/*
 * h_client_account.c — a client's own account over the JSON API:
 *   POST /api/client/signup                  → 202 {"status":"check_email", message}
 *   POST /api/client/verify {token}          → 200
 *   POST /api/client/verify/resend           → 202 (signed in, not verified yet)
 *   POST /api/client/password-reset {email}  → 202 (always the same answer)
 *   POST /api/client/password-reset/confirm {token, password} → 200
 *   GET|PATCH /api/client/profile            (not the e-mail address)
 *   POST /api/client/password {current_password, new_password} → 200
 *   GET /api/client/totp, POST /api/client/totp (begin), /totp/confirm {code},
 *   /totp/disable {password | code}
 * and for admins: POST /api/admin/clients/{id}/verify (mark verified by hand)
 * and /api/admin/clients/{id}/resend-verification.
 *
 * All of it calls accounts/signup.h and accounts/accounts.h, like the pages.
 * Sign-up and reset requests answer the same status and body whatever the
 * address: the answer never tells whether an account exists. Throttled
 * requests answer 429 with code "too_many_requests" (as every throttle of the
 * API); a closed sign-up 403 with code "signup_disabled". The client's login
 * and logout are the admin's, in h_auth.c.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "billing/clients.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "web/auth.h"
#include "web/api/api.h"

#define CHECK_EMAIL_MSG                                                                            \
    "Thank you. If the address can be used, a message to confirm it is on its way: open the "      \
    "link in it within 48 hours."
#define RESET_SENT_MSG                                                                             \
    "If an account has this address, a message with a link to choose a new password is on its "    \
    "way; the link works for one hour."

static struct signup_origin origin_of(const struct web_req *req)
{
    return (struct signup_origin){web_client_ip(req), req->user_agent};
}

/* The domain's refusal, with the codes of this API for throttles and a closed sign-up. */
static void reply_refused(struct web_resp *resp, const struct lumi_err *err)
{
    if (err->code == LUMI_ETHROTTLED) {
        web_add_header(resp, "Retry-After", "3600");
        web_reply_err(resp, err);
    } else if (err->code == LUMI_EFORBIDDEN) {
        web_reply_error(resp, 403, "signup_disabled", "%s", err->msg);
    } else {
        web_reply_err(resp, err);
    }
}

/* Only a client's own session or token may use the client's account routes. */
static bool require_client(struct web_req *req, struct web_resp *resp)
{
    if (str_eq(req->who.role, "client") && req->who.user_id > 0)
        return true;
    web_reply_error(resp, 403, "forbidden", "these routes are for client accounts");
    return false;
}

void h_client_signup(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct signup_origin o = origin_of(req);
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (signup_register(req->db, body, &o, &err) != 0)
        reply_refused(resp, &err);
    else
        web_reply_json(resp, 202,
                       json_pack("{s:s s:s}", "status", "check_email", "message", CHECK_EMAIL_MSG));
    json_decref(body);
}

/* {token} of the body into *token; answers 400 and returns false when missing. */
static bool take_token(json_t *body, const char *const *fields, const char **token,
                       struct web_resp *resp)
{
    struct lumi_err err = {0};
    if (jsonx_check_keys(body, fields, &err) != 0 ||
        jsonx_take_str(body, "token", true, 128, token, &err) < 0) {
        web_reply_err(resp, &err);
        return false;
    }
    return true;
}

void h_client_verify(struct web_req *req, struct web_resp *resp)
{
    static const char *const fields[] = {"token", NULL};
    struct lumi_err err = {0};
    struct signup_origin o = origin_of(req);
    const char *token = NULL;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (take_token(body, fields, &token, resp)) {
        if (signup_verify(req->db, token, &o, &err) != 0)
            web_reply_err(resp, &err);
        else
            web_reply_json(resp, 200,
                           json_pack("{s:s s:s}", "status", "verified", "message",
                                     "E-mail address confirmed; you can log in now."));
    }
    json_decref(body);
}

void h_client_reset_request(struct web_req *req, struct web_resp *resp)
{
    static const char *const fields[] = {"email", NULL};
    struct lumi_err err = {0};
    struct signup_origin o = origin_of(req);
    const char *email = NULL;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (jsonx_check_keys(body, fields, &err) != 0 ||
        jsonx_take_str(body, "email", true, 254, &email, &err) < 0)
        web_reply_err(resp, &err);
    else if (signup_reset_request(req->db, email, &o, &err) != 0)
        reply_refused(resp, &err);
    else
        web_reply_json(resp, 202,
                       json_pack("{s:s s:s}", "status", "check_email", "message", RESET_SENT_MSG));
    json_decref(body);
}

void h_client_reset_confirm(struct web_req *req, struct web_resp *resp)
{
    static const char *const fields[] = {"token", "password", NULL};
    struct lumi_err err = {0};
    struct signup_origin o = origin_of(req);
    const char *token = NULL, *password = NULL;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (take_token(body, fields, &token, resp)) {
        if (jsonx_take_str(body, "password", true, 1024, &password, &err) < 0 ||
            signup_reset_confirm(req->db, token, password, &o, &err) != 0)
            web_reply_err(resp, &err);
        else
            web_reply_json(resp, 200,
                           json_pack("{s:s s:s}", "status", "password_set", "message",
                                     "Your new password is set and every session was ended; "
                                     "log in with the new password."));
    }
    json_decref(body);
}

/* ---- profile and password ----------------------------------------------------- */

void h_client_profile_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    if (!require_client(req, resp))
        return;
    json_t *c = clients_get(req->db, req->who.user_id, &err);
    if (c == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, c);
}

void h_client_profile_update(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    if (!require_client(req, resp))
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *c = signup_profile_update(req->db, &actor, req->who.user_id, body, &err);
    if (c == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, c);
    json_decref(body);
}

void h_client_password(struct web_req *req, struct web_resp *resp)
{
    static const char *const fields[] = {"current_password", "new_password", NULL};
    struct lumi_err err = {0};
    const char *current = NULL, *next = NULL;
    if (!require_client(req, resp))
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    if (jsonx_check_keys(body, fields, &err) != 0 ||
        jsonx_take_str(body, "current_password", true, 1024, &current, &err) < 0 ||
        jsonx_take_str(body, "new_password", true, 1024, &next, &err) < 0)
        web_reply_err(resp, &err);
    else if (signup_password_change(req->db, &actor, req->who.user_id, req->who.session_id, current,
                                    next, &err) != 0)
        reply_refused(resp, &err);
    else
        web_reply_json(resp, 200,
                       json_pack("{s:s s:s}", "status", "password_changed", "message",
                                 "Your password was changed; your other sessions were ended."));
    json_decref(body);
}

/* ---- second factor -------------------------------------------------------------- */

static json_t *totp_state(struct web_req *req, struct lumi_err *err)
{
    struct accounts_totp_status st;
    if (accounts_totp_status(req->db, req->who.user_id, &st, err) != 0)
        return NULL;
    return json_pack("{s:b s:b s:I}", "enabled", st.enabled, "pending", st.pending,
                     "recovery_codes_left", (json_int_t)st.recovery_left);
}

void h_client_totp_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    if (!require_client(req, resp))
        return;
    json_t *o = totp_state(req, &err);
    if (o == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, o);
}

/* Starts the set-up and answers the new secret (shown to its owner once per set-up). */
void h_client_totp_begin(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    char b32[TOTP_SECRET_B32_LEN], uri[TOTP_URI_MAX];
    if (!require_client(req, resp))
        return;
    if (accounts_totp_begin(req->db, req->who.user_id, &err) != 0 ||
        accounts_totp_pending(req->db, req->who.user_id, b32, uri, &err) != 0) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200,
                   json_pack("{s:s s:s s:s}", "secret", b32, "otpauth_uri", uri, "message",
                             "add this key to your authenticator app, then confirm with a code"));
    sodium_memzero(b32, sizeof b32);
    sodium_memzero(uri, sizeof uri);
}

void h_client_totp_confirm(struct web_req *req, struct web_resp *resp)
{
    static const char *const fields[] = {"code", NULL};
    struct lumi_err err = {0};
    char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN];
    const char *code = NULL;
    if (!require_client(req, resp))
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    if (jsonx_check_keys(body, fields, &err) != 0 ||
        jsonx_take_str(body, "code", true, 64, &code, &err) < 0 ||
        accounts_totp_confirm(req->db, &actor, req->who.user_id, code, codes, &err) != 0) {
        web_reply_err(resp, &err);
        goto out;
    }
    json_t *list = json_array();
    for (int i = 0; i < ACCOUNTS_RECOVERY_CODES; i++)
        json_array_append_new(list, json_string(codes[i]));
    web_reply_json(resp, 200, json_pack("{s:b s:o}", "enabled", 1, "recovery_codes", list));
    sodium_memzero(codes, sizeof codes);
out:
    json_decref(body);
}

void h_client_totp_disable(struct web_req *req, struct web_resp *resp)
{
    static const char *const fields[] = {"password", "code", NULL};
    struct lumi_err err = {0};
    const char *password = NULL, *code = NULL;
    if (!require_client(req, resp))
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    struct accounts_login_policy policy = {
        .max_failures = config_int("LUMI_LOGIN_MAX_FAILURES"),
        .window_s = config_int("LUMI_LOGIN_WINDOW"),
        .session_ttl_s = AUTH_SESSION_TTL_S,
        .client_area = true,
    };
    if (jsonx_check_keys(body, fields, &err) != 0 ||
        jsonx_take_str(body, "password", false, 1024, &password, &err) < 0 ||
        jsonx_take_str(body, "code", false, 64, &code, &err) < 0 ||
        accounts_totp_disable(req->db, &actor, req->who.user_id, password, code, &policy, &err) !=
            0)
        reply_refused(resp, &err);
    else
        web_reply_json(resp, 200, json_pack("{s:b}", "enabled", 0));
    json_decref(body);
}

void h_client_verify_resend(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    if (!require_client(req, resp))
        return;
    struct audit_actor actor = auth_actor(req);
    if (signup_resend_own(req->db, &actor, req->who.user_id, &err) != 0)
        reply_refused(resp, &err);
    else
        web_reply_json(resp, 202,
                       json_pack("{s:s s:s}", "status", "check_email", "message",
                                 "A new link to confirm your e-mail address is on its way."));
}

/* ---- admin: the verification by hand ------------------------------------------- */

void h_admin_client_verify(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "no such client");
        return;
    }
    struct audit_actor actor = auth_actor(req);
    json_t *c = NULL;
    if (signup_mark_verified(req->db, &actor, id, &err) != 0 ||
        (c = clients_get(req->db, id, &err)) == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, c);
}

void h_admin_client_resend_verification(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "no such client");
        return;
    }
    struct audit_actor actor = auth_actor(req);
    if (signup_resend_verification(req->db, &actor, id, &err) != 0)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 202, json_pack("{s:s}", "status", "verification_sent"));
}
