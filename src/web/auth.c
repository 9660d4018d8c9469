/*
 * auth.c — admin authentication: API tokens and session cookies with CSRF.
 *
 * Tokens and session cookies are stored only as their SHA-256; a lookup
 * hashes what the caller sent and compares in the database (the hash of a
 * 256-bit random value leaks nothing useful through timing). Runs on the
 * request's worker thread with its connection; no shared state.
 */
#include "web/auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/str.h"
#include "core/utc.h"

static int deny(struct web_resp *resp, int status, const char *code, const char *msg)
{
    if (status == 401)
        web_add_header(resp, "WWW-Authenticate", "Bearer realm=\"lumi\"");
    web_reply_error(resp, status, code, "%s", msg);
    return -1;
}

static void set_principal_user(struct web_principal *who, int64_t user_id, const char *role,
                               const char *email)
{
    who->user_id = user_id;
    str_copy(who->role, role ? role : "", sizeof who->role);
    str_copy(who->email, email ? email : "", sizeof who->email);
}

static bool is_staff_role(const char *role)
{
    return auth_role_bit(role) != 0;
}

/* ---- staff roles (issue 16) ---------------------------------------------- */

unsigned auth_role_bit(const char *role)
{
    if (role == NULL)
        return 0;
    if (str_eq(role, "admin"))
        return WEB_ROLE_ADMIN;
    if (str_eq(role, "billing"))
        return WEB_ROLE_BILLING;
    if (str_eq(role, "support"))
        return WEB_ROLE_SUPPORT;
    if (str_eq(role, "readonly"))
        return WEB_ROLE_READONLY;
    return 0;
}

bool auth_role_may(const char *role, unsigned roles)
{
    unsigned bit = auth_role_bit(role);
    return bit == WEB_ROLE_ADMIN || (bit & roles) != 0;
}

int auth_require_role(struct web_req *req, struct web_resp *resp, unsigned roles)
{
    if (str_eq(req->who.role, "client") || auth_role_may(req->who.role, roles))
        return 0;
    web_reply_error(resp, 403, "forbidden",
                    "the %s role may not use %s %s; ask an admin for access",
                    req->who.role[0] ? req->who.role : "unknown", req->method, req->path);
    return -1;
}

/* Notes a token's use at most once a minute: the condition keeps it to one write. */
static const char SQL_TOKEN_USED[] = "UPDATE api_tokens SET last_used_at = $1 WHERE id = "
                                     "CAST($2 AS BIGINT) AND (last_used_at IS NULL OR "
                                     "last_used_at < $3)";
#define TOKEN_USED_EVERY_S 60

/*
 * Why the token on st's row (columns: id, revoked_at 2, expires_at 6,
 * last_used_at 7) may not be used, or NULL when it may — then its use is
 * noted, unless that was done within the last minute (no write at all then).
 */
static const char *token_refusal(struct db *db, struct db_stmt *st)
{
    char now[UTC_ISO_LEN], used_before[UTC_ISO_LEN], tid[24];
    int64_t t = utc_now();
    utc_format(t, now);
    if (!db_col_is_null(st, 2))
        return "the API token has been revoked";
    const char *expires = db_col_text(st, 6), *used = db_col_text(st, 7);
    if (expires != NULL && strcmp(expires, now) <= 0)
        return "the API token has expired; create a new one";
    utc_format(t - TOKEN_USED_EVERY_S, used_before);
    if (used == NULL || strcmp(used, used_before) < 0) {
        struct lumi_err ignored;
        snprintf(tid, sizeof tid, "%lld", (long long)db_col_int64(st, 0));
        const char *p[] = {now, tid, used_before};
        db_execp(db, SQL_TOKEN_USED, 3, p, NULL, &ignored);
    }
    return NULL;
}

/* Bearer token: 0 ok, <0 answered. */
static int auth_token(struct web_req *req, struct web_resp *resp, const char *token,
                      bool staff_only)
{
    static const char sql[] =
        "SELECT t.id, t.user_id, t.revoked_at, u.role, u.email, u.status, t.expires_at, "
        "t.last_used_at FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = $1";
    char hash[CRYPTO_SHA256_HEX];
    struct lumi_err err;
    crypto_sha256_hex(token, strlen(token), hash);
    struct db_stmt *st = db_prepare(req->db, sql, &err);
    if (st == NULL) {
        web_reply_err(resp, &err);
        return -1;
    }
    db_bind_text(st, 1, hash);
    int rc = db_step(st, &err);
    if (rc < 0) {
        db_finalize(st);
        web_reply_err(resp, &err);
        return -1;
    }
    const char *refused = rc == DB_DONE ? "the API token is invalid" : token_refusal(req->db, st);
    if (refused != NULL) {
        db_finalize(st);
        return deny(resp, 401, "unauthorized", refused);
    }
    struct web_principal *who = &req->who;
    who->kind = PRINCIPAL_TOKEN;
    who->token_id = db_col_int64(st, 0);
    snprintf(who->id_text, sizeof who->id_text, "%lld", (long long)who->token_id);
    bool owned = !db_col_is_null(st, 1);
    if (owned)
        set_principal_user(who, db_col_int64(st, 1), db_col_text(st, 3), db_col_text(st, 4));
    else
        set_principal_user(who, 0, "admin", NULL);
    bool disabled = owned && !str_eq(db_col_text(st, 5), "active");
    db_finalize(st);
    if (disabled || (staff_only && !is_staff_role(who->role)))
        return deny(resp, 403, "forbidden", "this account cannot use the admin API");
    return 0;
}

static bool is_safe_method(const char *m)
{
    return str_eq(m, "GET") || str_eq(m, "HEAD");
}

/* A session row with its user; column 7 is last_seen_at. */
static const char SQL_SESSION[] =
    "SELECT s.id, s.user_id, s.csrf_token, s.expires_at, u.role, u.email, u.status, "
    "s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1";
/* Moves last_seen_at on, at most once a minute (the condition keeps it to one write). */
static const char SQL_SESSION_SEEN[] = "UPDATE sessions SET last_seen_at = $1 WHERE id = "
                                       "CAST($2 AS BIGINT) AND last_seen_at < $3";
#define SESSION_SEEN_EVERY_S 60

/*
 * The session on st's row is alive: before its absolute expiry and used
 * within LUMI_SESSION_IDLE_S. Notes the use (cheaply) when it is.
 */
static bool session_alive(struct db *db, struct db_stmt *st)
{
    char now[UTC_ISO_LEN], idle_since[UTC_ISO_LEN], seen_before[UTC_ISO_LEN], sid[24];
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t - config_int("LUMI_SESSION_IDLE_S"), idle_since);
    const char *expires = db_col_text(st, 3), *seen = db_col_text(st, 7);
    if (expires == NULL || strcmp(expires, now) <= 0)
        return false;
    if (seen != NULL && strcmp(seen, idle_since) < 0)
        return false;
    utc_format(t - SESSION_SEEN_EVERY_S, seen_before);
    if (seen == NULL || strcmp(seen, seen_before) < 0) {
        struct lumi_err ignored;
        snprintf(sid, sizeof sid, "%lld", (long long)db_col_int64(st, 0));
        const char *p[] = {now, sid, seen_before};
        db_execp(db, SQL_SESSION_SEEN, 3, p, NULL, &ignored);
    }
    return true;
}

/* Session cookie: 0 ok, <0 answered. */
static int auth_session(struct web_req *req, struct web_resp *resp, const char *cookie,
                        bool staff_only)
{
    char hash[CRYPTO_SHA256_HEX];
    struct lumi_err err;
    crypto_sha256_hex(cookie, strlen(cookie), hash);
    struct db_stmt *st = db_prepare(req->db, SQL_SESSION, &err);
    if (st == NULL) {
        web_reply_err(resp, &err);
        return -1;
    }
    db_bind_text(st, 1, hash);
    int rc = db_step(st, &err);
    if (rc < 0) {
        db_finalize(st);
        web_reply_err(resp, &err);
        return -1;
    }
    if (rc == DB_DONE || !session_alive(req->db, st)) {
        db_finalize(st);
        return deny(resp, 401, "unauthorized", "the session has expired; log in again");
    }
    struct web_principal *who = &req->who;
    who->kind = PRINCIPAL_USER;
    who->session_id = db_col_int64(st, 0);
    set_principal_user(who, db_col_int64(st, 1), db_col_text(st, 4), db_col_text(st, 5));
    snprintf(who->id_text, sizeof who->id_text, "%lld", (long long)who->user_id);
    bool disabled = !str_eq(db_col_text(st, 6), "active");
    const char *csrf = db_col_text(st, 2);
    const char *sent = web_header(req, "X-CSRF-Token");
    if (sent == NULL && web_is_form(req))
        sent = web_form_value(req, "csrf_token"); /* a page's form post */
    bool csrf_ok = sent != NULL && csrf != NULL && strlen(sent) == strlen(csrf) &&
                   crypto_ct_equal(sent, csrf, strlen(csrf));
    db_finalize(st);
    if (disabled || (staff_only && !is_staff_role(who->role)))
        return deny(resp, 403, "forbidden", "this account cannot use the admin API");
    if (!is_safe_method(req->method) && !csrf_ok)
        return deny(resp, 403, "forbidden", "missing or invalid X-CSRF-Token header");
    return 0;
}

static int authenticate(struct web_req *req, struct web_resp *resp, bool staff_only)
{
    memset(&req->who, 0, sizeof req->who);
    const char *authz = web_header(req, "Authorization");
    if (authz != NULL) {
        if (strncasecmp(authz, "Bearer ", 7) != 0 || !str_present(authz + 7))
            return deny(resp, 401, "unauthorized",
                        "the Authorization header must be 'Bearer <token>'");
        const char *token = authz + 7;
        while (*token == ' ')
            token++;
        return auth_token(req, resp, token, staff_only);
    }
    const char *cookie = web_cookie(req, AUTH_SESSION_COOKIE);
    if (cookie != NULL && *cookie != '\0')
        return auth_session(req, resp, cookie, staff_only);
    cookie = staff_only ? NULL : web_cookie(req, AUTH_CLIENT_COOKIE);
    if (cookie != NULL && *cookie != '\0')
        return auth_session(req, resp, cookie, false);
    return deny(resp, 401, "unauthorized",
                "authentication required: send 'Authorization: Bearer <token>' or log in");
}

int auth_require_admin(struct web_req *req, struct web_resp *resp)
{
    return authenticate(req, resp, true);
}

int auth_require_user(struct web_req *req, struct web_resp *resp)
{
    return authenticate(req, resp, false);
}

int64_t auth_client_scope(const struct web_req *req)
{
    return str_eq(req->who.role, "client") ? req->who.user_id : 0;
}

struct audit_actor auth_actor(const struct web_req *req)
{
    struct audit_actor a = {
        .type = req->who.kind == PRINCIPAL_TOKEN ? "api_token" : "user",
        .id = req->who.id_text[0] ? req->who.id_text : NULL,
        .email = req->who.email[0] ? req->who.email : NULL,
        .ip = web_client_ip(req),
        .user_agent = req->user_agent,
    };
    return a;
}

int auth_session_principal(struct web_req *req, enum auth_area area, char csrf[AUTH_CSRF_LEN],
                           struct lumi_err *err)
{
    char hash[CRYPTO_SHA256_HEX];
    memset(&req->who, 0, sizeof req->who);
    csrf[0] = '\0';
    const char *cookie =
        web_cookie(req, area == AUTH_AREA_CLIENT ? AUTH_CLIENT_COOKIE : AUTH_SESSION_COOKIE);
    if (cookie == NULL || *cookie == '\0')
        return err_set(err, LUMI_EAUTH, "not logged in");
    crypto_sha256_hex(cookie, strlen(cookie), hash);
    struct db_stmt *st = db_prepare(req->db, SQL_SESSION, err);
    if (st == NULL)
        return err->code;
    db_bind_text(st, 1, hash);
    int rc = db_step(st, err);
    if (rc < 0) {
        db_finalize(st);
        return rc;
    }
    if (rc == DB_DONE || !session_alive(req->db, st)) {
        db_finalize(st);
        return err_set(err, LUMI_EAUTH, "the session has expired; log in again");
    }
    struct web_principal *who = &req->who;
    who->kind = PRINCIPAL_USER;
    who->session_id = db_col_int64(st, 0);
    set_principal_user(who, db_col_int64(st, 1), db_col_text(st, 4), db_col_text(st, 5));
    snprintf(who->id_text, sizeof who->id_text, "%lld", (long long)who->user_id);
    bool disabled = !str_eq(db_col_text(st, 6), "active");
    const char *token = db_col_text(st, 2);
    str_copy(csrf, token ? token : "", AUTH_CSRF_LEN);
    db_finalize(st);
    bool fits = area == AUTH_AREA_CLIENT ? str_eq(who->role, "client") : is_staff_role(who->role);
    if (disabled || !fits) {
        memset(&req->who, 0, sizeof req->who);
        csrf[0] = '\0';
        return err_set(err, LUMI_EFORBIDDEN, area == AUTH_AREA_CLIENT
                                                 ? "this account cannot use the client area"
                                                 : "this account cannot use the admin pages");
    }
    return 0;
}
