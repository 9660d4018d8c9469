/*
 * signup.c — a client's own account (see signup.h): sign-up, verification
 * and reset tokens with their mails, password change, profile, and the
 * admin's manual verification.
 *
 * Owns the SQL over account_tokens and rate_events, and the password and
 * session rows a reset or a password change rewrites. The client row itself
 * is written through billing/clients.h.
 *
 * Order of work: validation and the argon2id hash run before the write
 * transaction opens (the SQLite write lock is held only for the writes);
 * the token, its mail (rendered here, queued with the token sealed) and the
 * audit row then commit together or not at all. A token lives on this stack
 * only and is wiped before returning.
 *
 * Threading: no state of its own; uses only the connection it is given.
 */
#include "accounts/signup.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "billing/clients.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/password.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/outbox.h"
#include "mail/render.h"
#include "notify/notify.h"
#include "settings/registry.h"

#define EMAIL_MAX 254
#define TOKEN_HEX 64
#define RATE_KEEP_S (24 * 3600)

static const char SQL_RATE_COUNT[] =
    "SELECT COUNT(*) FROM rate_events WHERE kind = $1 AND key = $2 AND at >= $3";
static const char SQL_RATE_NOTE[] = "INSERT INTO rate_events (kind, key, at) VALUES ($1, $2, $3)";
static const char SQL_RATE_PRUNE[] = "DELETE FROM rate_events WHERE at < $1";

static const char SQL_TOKEN_VOID[] =
    "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
static const char SQL_TOKEN_NEW[] =
    "INSERT INTO account_tokens (user_id, purpose, token_hash, ip, created_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
/* Spends a token only while it is unused and unexpired: a racing second use changes nothing. */
static const char SQL_TOKEN_SPEND[] =
    "UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3"
    " AND used_at IS NULL AND expires_at > $1 RETURNING user_id";

static const char SQL_USER_BY_EMAIL[] = "SELECT id FROM users WHERE email = $1";
static const char SQL_CLIENT_BY_EMAIL[] =
    "SELECT id FROM users WHERE email = $1 AND role = 'client' AND status = 'active'";
static const char SQL_USER_HASH[] = "SELECT password_hash FROM users WHERE id = $1";
static const char SQL_SET_PASSWORD[] =
    "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3";
static const char SQL_SET_PASSWORD_VERIFIED[] =
    "UPDATE users SET password_hash = $1, updated_at = $2,"
    " email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3";
static const char SQL_END_SESSIONS[] = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2";
static const char SQL_END_CHALLENGES[] = "DELETE FROM login_challenges WHERE user_id = $1";

static const char *const PROFILE_KEYS[] = {"first_name", "last_name", "company", "phone",
                                           "address1",   "address2",  "city",    "state",
                                           "postcode",   "country",   NULL};

#define VERIFY_GONE                                                                                \
    "this confirmation link is invalid, has expired (links work for 48 hours) or was already "     \
    "used; if your address is not confirmed yet, log in and ask for a new link on your "           \
    "account page"
#define RESET_GONE                                                                                 \
    "this password-reset link is invalid, has expired (links work for one hour) or was "           \
    "already used; ask for a new one"

/* ---- small helpers ------------------------------------------------------- */

static int finish_tx(struct db *db, int rc, struct lumi_err *err)
{
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

static void id_text(int64_t id, char out[24])
{
    snprintf(out, 24, "%lld", (long long)id);
}

/* The first column of the first row as int64 (params as text): 1 found, 0 none, < 0. */
static int query_id(struct db *db, const char *sql, int n, const char *const *p, int64_t *out,
                    struct lumi_err *err)
{
    return db_query_int64_opt(db, sql, n, p, out, err);
}

static int audit_client(struct db *db, const struct audit_actor *actor, const char *action,
                        int64_t client_id, json_t *details, struct lumi_err *err)
{
    int rc = audit_append_id(db, actor, action, "client", client_id, details, err);
    json_decref(details);
    return rc;
}

static bool token_well_formed(const char *t)
{
    if (t == NULL || strlen(t) != TOKEN_HEX)
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* A client's new password (sign-up, reset, change): the one rule set, core/password.h. */
static int check_password(const char *pw, const char *field, struct lumi_err *err)
{
    return password_check(pw, false, field, err);
}

/* ---- throttles (rate_events) --------------------------------------------- */

/* LUMI_ETHROTTLED (with msg) when key had limit events of kind in the window. */
static int rate_check(struct db *db, const char *kind, const char *key, int64_t limit,
                      const char *msg, struct lumi_err *err)
{
    char since[UTC_ISO_LEN];
    int64_t n = 0;
    utc_format(utc_now() - SIGNUP_WINDOW_S, since);
    const char *p[] = {kind, key != NULL ? key : "", since};
    int rc = db_query_int64(db, SQL_RATE_COUNT, 3, p, &n, err);
    if (rc != 0)
        return rc;
    if (n >= limit) {
        log_warn("accounts.throttled", "kind=%s", kind);
        return err_set(err, LUMI_ETHROTTLED, "%s", msg);
    }
    return 0;
}

/* Records one event (inside the open transaction) and prunes the old ones. */
static int rate_note(struct db *db, const char *kind, const char *key, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], old[UTC_ISO_LEN];
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t - RATE_KEEP_S, old);
    const char *p[] = {kind, key != NULL ? key : "", now};
    int rc = db_execp(db, SQL_RATE_NOTE, 3, p, NULL, err);
    const char *q[] = {old};
    if (rc == 0)
        rc = db_execp(db, SQL_RATE_PRUNE, 1, q, NULL, err);
    return rc;
}

/* An address as a rate key: its SHA-256, so rate_events holds no addresses. */
static void mail_key(const char *mail, char out[CRYPTO_SHA256_HEX])
{
    crypto_sha256_hex(mail, strlen(mail), out);
}

/* ---- tokens and their mails ----------------------------------------------- */

/*
 * Makes a token of purpose for user_id inside the open transaction (its
 * hash stored; the user's unused older ones of that purpose deleted).
 * token gets the token, *id its row.
 */
static int token_issue(struct db *db, int64_t user_id, const char *purpose, int64_t ttl_s,
                       const char *ip, char token[TOKEN_HEX + 1], int64_t *id, struct lumi_err *err)
{
    char hash[CRYPTO_SHA256_HEX], now[UTC_ISO_LEN], until[UTC_ISO_LEN], uid[24];
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t + ttl_s, until);
    id_text(user_id, uid);
    if (crypto_random_token(32, token, TOKEN_HEX + 1) != 0)
        return err_set(err, LUMI_EINTERNAL, "no randomness for a token");
    crypto_sha256_hex(token, strlen(token), hash);
    const char *v[] = {uid, purpose};
    int rc = db_execp(db, SQL_TOKEN_VOID, 2, v, NULL, err);
    const char *p[] = {uid, purpose, hash, ip, now, until};
    if (rc == 0) {
        rc = query_id(db, SQL_TOKEN_NEW, 6, p, id, err);
        rc = rc == 1 ? 0 : rc < 0 ? rc : err_set(err, LUMI_EDB, "token insert returned no id");
    }
    return rc;
}

/* Spends token of purpose inside the open transaction: *user_id, or LUMI_ENOTFOUND (gone). */
static int token_spend(struct db *db, const char *token, const char *purpose, const char *gone,
                       int64_t *user_id, struct lumi_err *err)
{
    char hash[CRYPTO_SHA256_HEX], now[UTC_ISO_LEN];
    utc_now_iso(now);
    crypto_sha256_hex(token, strlen(token), hash);
    const char *p[] = {now, hash, purpose};
    int rc = query_id(db, SQL_TOKEN_SPEND, 3, p, user_id, err);
    if (rc == 0)
        return err_set(err, LUMI_ENOTFOUND, "%s", gone);
    return rc < 0 ? rc : 0;
}

/* The client's name for the greeting: first and last name, else the address. */
static void client_name(const json_t *c, char *out, size_t outsz)
{
    const char *first = json_string_value(json_object_get(c, "first_name"));
    const char *last = json_string_value(json_object_get(c, "last_name"));
    snprintf(out, outsz, "%s%s%s", first != NULL ? first : "",
             str_present(first) && str_present(last) ? " " : "", last != NULL ? last : "");
    if (!str_present(out))
        str_copy(out, json_string_value(json_object_get(c, "email")), outsz);
}

/*
 * Renders tmpl for client_id with url_key = LUMI_BASE_URL + path +
 * "?token=" + OUTBOX_SECRET_MARK, and queues it (inside the open
 * transaction) with the token as the message's sealed secret. Nothing when
 * mail.send.<tmpl> is off (*queued false).
 */
static int token_mail(struct db *db, int64_t client_id, int64_t token_id, const char *tmpl,
                      const char *url_key, const char *path, const char *token, bool *queued,
                      struct lumi_err *err)
{
    char key[96], name[512], url[700], event[48];
    struct mail_rendered r = {0};
    json_t *data = NULL, *client = NULL;
    bool on = true;
    *queued = false;
    snprintf(key, sizeof key, "mail.send.%s", tmpl);
    int rc = settings_reg_bool(db, key, &on, err);
    if (rc != 0 || !on)
        return rc;
    client = clients_get(db, client_id, err);
    if (client == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    data = notify_mail_data();
    if (data == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    client_name(client, name, sizeof name);
    jsonx_set_str(client, "name", name);
    json_object_set(data, "client", client);
    const char *base = config_str("LUMI_BASE_URL");
    snprintf(url, sizeof url, "%s%s?token=%s", base != NULL ? base : "", path, OUTBOX_SECRET_MARK);
    jsonx_set_str(data, url_key, url);
    rc = mail_render(tmpl, data, &r, err);
    if (rc != 0)
        goto out;
    snprintf(event, sizeof event, "account_token:%lld", (long long)token_id);
    struct outbox_new m = {
        .event_key = event,
        .tmpl = tmpl,
        .to = json_string_value(json_object_get(client, "email")),
        .client_id = client_id,
        .entity = "client",
        .entity_id = client_id,
        .subject = r.subject,
        .text = r.text,
        .html = r.html,
        .secret = token,
    };
    rc = outbox_enqueue(db, &m, err);
    if (rc >= 0) {
        *queued = rc == 1;
        rc = 0;
    }
out:
    mail_rendered_clear(&r);
    json_decref(data);
    json_decref(client);
    return rc;
}

/* A verification token and its mail for client_id, inside the open transaction. */
static int verification_tx(struct db *db, int64_t client_id, const char *ip, bool *queued,
                           struct lumi_err *err)
{
    char token[TOKEN_HEX + 1];
    int64_t tid = 0;
    int rc = token_issue(db, client_id, "verify", SIGNUP_VERIFY_TTL_S, ip, token, &tid, err);
    if (rc == 0)
        rc = token_mail(db, client_id, tid, "account_verification", "verify_url", "/client/verify",
                        token, queued, err);
    sodium_memzero(token, sizeof token);
    return rc;
}

/* ---- sign-up ---------------------------------------------------------------- */

static bool honeypot_filled(const json_t *input)
{
    const json_t *v = json_object_get(input, SIGNUP_HONEYPOT);
    if (v == NULL || json_is_null(v))
        return false;
    return !json_is_string(v) || str_present(json_string_value(v));
}

/* The sign-up's transaction: a new client, or a note that the address has one. */
static int register_tx(struct db *db, const struct clients_signup *s, const struct signup_origin *o,
                       struct lumi_err *err)
{
    char uid[24] = "";
    const char *mail = json_string_value(json_object_get(s->fields, "email"));
    struct audit_actor actor = {"user", NULL, mail, o->ip, o->user_agent};
    int64_t id = 0;
    bool queued = false;
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = rate_note(db, "signup", o->ip, err);
    const char *p[] = {mail};
    if (rc == 0)
        rc = query_id(db, SQL_USER_BY_EMAIL, 1, p, &id, err);
    if (rc == 1) {
        /* The owner already has an account: nothing is made, the answer is the same. */
        actor.email = NULL;
        rc = audit_append_id(db, &actor, "SIGNUP_EXISTING_EMAIL", "user", id, NULL, err);
        return finish_tx(db, rc, err);
    }
    if (rc == 0)
        rc = clients_signup_insert_tx(db, s, o->ip, &id, err);
    if (rc == 0) {
        id_text(id, uid);
        actor.id = uid;
        rc = audit_client(db, &actor, "CLIENT_SIGNED_UP", id,
                          json_pack("{s:s s:s}", "email", mail, "ip", o->ip ? o->ip : ""), err);
    }
    if (rc == 0)
        rc = verification_tx(db, id, o->ip, &queued, err);
    if (rc == 0)
        rc = audit_client(db, &actor, "VERIFICATION_SENT", id,
                          json_pack("{s:s s:b}", "by", "sign-up", "mailed", queued), err);
    rc = finish_tx(db, rc, err);
    /* Taken meanwhile by a racing sign-up: the same answer as for a known address. */
    if (rc == LUMI_ECONFLICT) {
        err_clear(err);
        rc = 0;
    }
    return rc;
}

int signup_register(struct db *db, const json_t *input, const struct signup_origin *o,
                    struct lumi_err *err)
{
    struct clients_signup s = {0};
    json_t *copy = NULL;
    bool on = true;
    int rc = settings_reg_bool(db, "store.signup_enabled", &on, err);
    if (rc != 0)
        return rc;
    if (!on)
        return err_set(err, LUMI_EFORBIDDEN,
                       "sign-up is closed at the moment; please contact us to open an account");
    if (!json_is_object(input))
        return err_set(err, LUMI_EINVAL, "the body must be a JSON object");
    if (honeypot_filled(input)) {
        log_info("accounts.signup_honeypot", "ip=%s", o->ip ? o->ip : "-");
        return 0;
    }
    rc = rate_check(db, "signup", o->ip, SIGNUP_PER_IP,
                    "too many sign-ups from your network; please try again in an hour", err);
    if (rc != 0)
        return rc;
    copy = json_copy((json_t *)input);
    if (copy == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    json_object_del(copy, SIGNUP_HONEYPOT);
    rc = clients_signup_check(copy, &s, err);
    if (rc == 0)
        rc = register_tx(db, &s, o, err);
    sodium_memzero(s.pwhash, sizeof s.pwhash);
    clients_signup_clear(&s);
    json_decref(copy);
    return rc;
}

/* ---- verification ---------------------------------------------------------- */

int signup_verify(struct db *db, const char *token, const struct signup_origin *o,
                  struct lumi_err *err)
{
    char uid[24];
    int64_t user_id = 0;
    if (!str_present(token))
        return err_set(err, LUMI_EINVAL, "field 'token' is required");
    if (!token_well_formed(token))
        return err_set(err, LUMI_ENOTFOUND, "%s", VERIFY_GONE);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = token_spend(db, token, "verify", VERIFY_GONE, &user_id, err);
    if (rc == 0)
        rc = clients_verify_email_tx(db, user_id, err);
    if (rc >= 0) {
        id_text(user_id, uid);
        struct audit_actor actor = {"user", uid, NULL, o->ip, o->user_agent};
        rc = audit_client(db, &actor, "EMAIL_VERIFIED", user_id,
                          json_pack("{s:s}", "method", "link"), err);
    }
    return finish_tx(db, rc, err);
}

int signup_mark_verified(struct db *db, const struct audit_actor *actor, int64_t client_id,
                         struct lumi_err *err)
{
    char uid[24];
    id_text(client_id, uid);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = clients_verify_email_tx(db, client_id, err);
    if (rc == 0)
        rc = err_set(err, LUMI_ECONFLICT, "the client's e-mail address is verified already");
    if (rc == 1) {
        const char *v[] = {uid, "verify"};
        rc = db_execp(db, SQL_TOKEN_VOID, 2, v, NULL, err);
    }
    if (rc == 0)
        rc = audit_client(db, actor, "EMAIL_VERIFIED", client_id,
                          json_pack("{s:s}", "method", "admin"), err);
    return finish_tx(db, rc, err);
}

/* 0 when client_id exists and is not verified yet; LUMI_ECONFLICT, LUMI_ENOTFOUND. */
static int check_unverified(struct db *db, int64_t client_id, struct lumi_err *err)
{
    json_t *c = clients_get(db, client_id, err);
    if (c == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    bool verified = !json_is_null(json_object_get(c, "email_verified_at"));
    json_decref(c);
    return verified ? err_set(err, LUMI_ECONFLICT, "the e-mail address is verified already") : 0;
}

/* A new verification mail for client_id, asked for by `by` ("admin" or "client"). */
static int resend_verification(struct db *db, const struct audit_actor *actor, int64_t client_id,
                               const char *by, struct lumi_err *err)
{
    bool on = true, queued = false;
    int rc = check_unverified(db, client_id, err);
    if (rc != 0)
        return rc;
    rc = settings_reg_bool(db, "mail.send.account_verification", &on, err);
    if (rc != 0)
        return rc;
    if (!on)
        return err_set(err, LUMI_EINVAL,
                       "the setting mail.send.account_verification is off: no verification mail "
                       "can be sent; mark the client verified instead");
    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = verification_tx(db, client_id, actor->ip, &queued, err);
    if (rc == 0)
        rc = audit_client(db, actor, "VERIFICATION_SENT", client_id,
                          json_pack("{s:s s:b}", "by", by, "mailed", queued), err);
    if (rc == 0 && str_eq(by, "client"))
        rc = rate_note(db, "verify_resend", actor->id, err);
    return finish_tx(db, rc, err);
}

int signup_resend_verification(struct db *db, const struct audit_actor *actor, int64_t client_id,
                               struct lumi_err *err)
{
    return resend_verification(db, actor, client_id, "admin", err);
}

int signup_resend_own(struct db *db, const struct audit_actor *actor, int64_t client_id,
                      struct lumi_err *err)
{
    char uid[24];
    id_text(client_id, uid);
    struct audit_actor a = *actor;
    a.id = uid;
    int rc = check_unverified(db, client_id, err);
    if (rc != 0)
        return rc;
    rc = rate_check(db, "verify_resend", uid, SIGNUP_RESEND_PER_CLIENT,
                    "a new link was sent several times in the last hour; please check your "
                    "mailbox (and its spam folder) or try again later",
                    err);
    return rc != 0 ? rc : resend_verification(db, &a, client_id, "client", err);
}

/* ---- password reset ----------------------------------------------------------- */

int signup_reset_request(struct db *db, const char *email, const struct signup_origin *o,
                         struct lumi_err *err)
{
    char mail[EMAIL_MAX + 2], mkey[CRYPTO_SHA256_HEX], token[TOKEN_HEX + 1] = "", uid[24];
    static const char busy[] = "too many password-reset requests; please try again in an hour";
    int64_t id = 0, tid = 0;
    bool queued = false;
    if (!str_present(email))
        return err_set(err, LUMI_EINVAL, "field 'email' is required");
    if (accounts_check_email(email, err) != 0)
        return err_set(err, LUMI_EINVAL, "field 'email' must be an e-mail address");
    str_copy(mail, email, sizeof mail);
    str_lower(mail);
    mail_key(mail, mkey);
    int rc = rate_check(db, "reset_ip", o->ip, SIGNUP_RESET_PER_IP, busy, err);
    if (rc == 0)
        rc = rate_check(db, "reset_email", mkey, SIGNUP_RESET_PER_EMAIL, busy, err);
    if (rc != 0)
        return rc;
    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = rate_note(db, "reset_ip", o->ip, err);
    if (rc == 0)
        rc = rate_note(db, "reset_email", mkey, err);
    const char *p[] = {mail};
    if (rc == 0)
        rc = query_id(db, SQL_CLIENT_BY_EMAIL, 1, p, &id, err);
    if (rc == 1) {
        id_text(id, uid);
        struct audit_actor actor = {"user", NULL, NULL, o->ip, o->user_agent};
        rc = token_issue(db, id, "reset", SIGNUP_RESET_TTL_S, o->ip, token, &tid, err);
        if (rc == 0)
            rc = token_mail(db, id, tid, "account_password_reset", "reset_url",
                            "/client/password-reset/confirm", token, &queued, err);
        if (rc == 0)
            rc = audit_client(db, &actor, "PASSWORD_RESET_REQUESTED", id,
                              json_pack("{s:b}", "mailed", queued), err);
    }
    sodium_memzero(token, sizeof token);
    return finish_tx(db, rc, err);
}

/* Sets the password hash of user_id and ends its sessions but keep_session
 * (0: all) and login challenges, inside the open transaction; *ended gets how many. */
static int rewrite_password(struct db *db, int64_t user_id, const char *hash, bool verified,
                            int64_t keep_session, int64_t *ended, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], uid[24], keep[24];
    utc_now_iso(now);
    id_text(user_id, uid);
    id_text(keep_session, keep);
    const char *p[] = {hash, now, uid};
    int rc = db_execp(db, verified ? SQL_SET_PASSWORD_VERIFIED : SQL_SET_PASSWORD, 3, p, NULL, err);
    const char *s[] = {uid, keep};
    if (rc == 0)
        rc = db_execp(db, SQL_END_SESSIONS, 2, s, ended, err);
    const char *c[] = {uid};
    if (rc == 0)
        rc = db_execp(db, SQL_END_CHALLENGES, 1, c, NULL, err);
    return rc;
}

int signup_reset_confirm(struct db *db, const char *token, const char *password,
                         const struct signup_origin *o, struct lumi_err *err)
{
    char hash[CRYPTO_PWHASH_MAX], uid[24];
    int64_t user_id = 0, ended = 0;
    if (!str_present(token))
        return err_set(err, LUMI_EINVAL, "field 'token' is required");
    int rc = check_password(password, "password", err);
    if (rc != 0)
        return rc;
    if (!token_well_formed(token))
        return err_set(err, LUMI_ENOTFOUND, "%s", RESET_GONE);
    rc = crypto_password_hash(password, hash, err);
    if (rc != 0)
        return rc;
    rc = db_begin(db, err);
    if (rc != 0)
        goto out;
    rc = token_spend(db, token, "reset", RESET_GONE, &user_id, err);
    if (rc == 0) {
        id_text(user_id, uid);
        const char *v[] = {uid, "reset"};
        rc = db_execp(db, SQL_TOKEN_VOID, 2, v, NULL, err);
    }
    if (rc == 0)
        rc = rewrite_password(db, user_id, hash, true, 0, &ended, err);
    if (rc == 0) {
        struct audit_actor actor = {"user", uid, NULL, o->ip, o->user_agent};
        rc = audit_client(db, &actor, "PASSWORD_RESET", user_id,
                          json_pack("{s:I}", "sessions_ended", (json_int_t)ended), err);
    }
    rc = finish_tx(db, rc, err);
out:
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* ---- signed-in changes ------------------------------------------------------- */

int signup_password_change(struct db *db, const struct audit_actor *actor, int64_t user_id,
                           int64_t keep_session_id, const char *current, const char *next,
                           struct lumi_err *err)
{
    char uid[24], stored[CRYPTO_PWHASH_MAX] = "", hash[CRYPTO_PWHASH_MAX] = "";
    int64_t ended = 0;
    struct db_stmt *st = NULL;
    id_text(user_id, uid);
    if (!str_present(current) || strlen(current) > PASSWORD_MAX)
        return err_set(err, LUMI_EINVAL, "field 'current_password' is required");
    int rc = check_password(next, "new_password", err);
    if (rc != 0)
        return rc;
    rc = rate_check(db, "password_change", uid, SIGNUP_PASSWORD_TRIES,
                    "too many wrong passwords; please try again in an hour", err);
    if (rc != 0)
        return rc;
    st = db_prepare(db, SQL_USER_HASH, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_int64(st, 1, user_id);
    rc = db_step(st, err);
    if (rc == DB_ROW && db_col_text(st, 0) != NULL)
        str_copy(stored, db_col_text(st, 0), sizeof stored);
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (stored[0] == '\0' || !crypto_password_verify(stored, current)) {
        rc = db_begin(db, err);
        if (rc == 0)
            rc = finish_tx(db, rate_note(db, "password_change", uid, err), err);
        return rc != 0 ? rc
                       : err_set(err, LUMI_EINVAL,
                                 "field 'current_password' is not your current password");
    }
    rc = crypto_password_hash(next, hash, err);
    if (rc != 0)
        goto out;
    rc = db_begin(db, err);
    if (rc != 0)
        goto out;
    rc = rewrite_password(db, user_id, hash, false, keep_session_id, &ended, err);
    if (rc == 0)
        rc = audit_client(db, actor, "PASSWORD_CHANGED", user_id,
                          json_pack("{s:I}", "sessions_ended", (json_int_t)ended), err);
    rc = finish_tx(db, rc, err);
out:
    sodium_memzero(stored, sizeof stored);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

json_t *signup_profile_update(struct db *db, const struct audit_actor *actor, int64_t client_id,
                              const json_t *patch, struct lumi_err *err)
{
    if (!json_is_object(patch)) {
        err_set(err, LUMI_EINVAL, "the body must be a JSON object");
        return NULL;
    }
    if (json_object_get(patch, "email") != NULL) {
        err_set(err, LUMI_EINVAL,
                "field 'email' cannot be changed here; please ask our support team to change "
                "your e-mail address");
        return NULL;
    }
    if (jsonx_check_keys(patch, PROFILE_KEYS, err) != 0)
        return NULL;
    return clients_update(db, actor, client_id, patch, err);
}
