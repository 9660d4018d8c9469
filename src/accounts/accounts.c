/*
 * accounts.c — users, API tokens and sessions (see accounts.h).
 *
 * Threading: functions use only the connection they are given, apart from
 * the dummy password hash (computed once under pthread_once) that makes a
 * login for an unknown e-mail cost as much as one for a known e-mail.
 *
 * Second factor: every check that spends something (a TOTP step, a recovery
 * code, a login challenge) is a conditional UPDATE/DELETE whose row count is
 * checked inside the transaction that opens the session, so two requests
 * racing with the same code or challenge cannot both win on either engine.
 * Decrypted secrets live on the stack only and are wiped before returning.
 */
#include "accounts/accounts.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/str.h"
#include "accounts/throttle.h"

#define EMAIL_MAX 254

int accounts_check_email(const char *email, struct lumi_err *err)
{
    size_t n = email ? strlen(email) : 0;
    const char *at = email ? strchr(email, '@') : NULL;
    if (n < 3 || n > EMAIL_MAX || at == NULL || at == email || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL || strpbrk(email, " \t\r\n<>,;\"") != NULL)
        return err_set(err, LUMI_EINVAL, "'%s' is not a valid e-mail address",
                       n <= EMAIL_MAX && email ? email : "(too long)");
    return 0;
}

static void lower_email(const char *in, char out[EMAIL_MAX + 2])
{
    str_copy(out, in ? in : "", EMAIL_MAX + 2);
    str_lower(out);
}

/* Commits the open transaction, or rolls it back when rc says it failed. */
static int finish_tx(struct db *db, int rc, struct lumi_err *err)
{
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

/* Prepares sql with parameters bound by types: 'i' an int64_t, 't' a const char * (NULL binds SQL
 * NULL). NULL when it cannot be prepared. */
static struct db_stmt *prepare_bound(struct db *db, const char *sql, const char *types, va_list ap,
                                     struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    for (int i = 0; st != NULL && types[i] != '\0'; i++) {
        if (types[i] == 'i')
            db_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else
            db_bind_text(st, i + 1, va_arg(ap, const char *));
    }
    return st;
}

/*
 * Runs one statement with parameters bound by types (prepare_bound). *changes
 * (may be NULL) gets the rows changed. 0 or a negative code.
 */
static int run(struct db *db, const char *sql, const char *types, int64_t *changes,
               struct lumi_err *err, ...)
{
    va_list ap;
    va_start(ap, err);
    struct db_stmt *st = prepare_bound(db, sql, types, ap, err);
    va_end(ap);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    int rc = db_step(st, err);
    if (rc >= 0 && changes != NULL)
        *changes = db_changes(st);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/*
 * Runs a query with parameters bound by types (prepare_bound) up to its first
 * row. DB_ROW with *st on that row (the caller reads it and finalizes *st);
 * otherwise *st is NULL and the answer DB_DONE (no row) or a negative code.
 */
static int first_row(struct db *db, struct db_stmt **st, const char *sql, const char *types,
                     struct lumi_err *err, ...)
{
    va_list ap;
    va_start(ap, err);
    *st = prepare_bound(db, sql, types, ap, err);
    va_end(ap);
    if (*st == NULL)
        return err ? err->code : LUMI_EDB;
    int rc = db_step(*st, err);
    if (rc != DB_ROW) {
        db_finalize(*st);
        *st = NULL;
    }
    return rc;
}

bool accounts_is_staff_role(const char *role)
{
    return role != NULL && (str_eq(role, "admin") || str_eq(role, "billing") ||
                            str_eq(role, "support") || str_eq(role, "readonly"));
}

int accounts_create_user(struct db *db, const struct audit_actor *actor, const char *email,
                         const char *role, const char *password, int64_t *id_out,
                         struct lumi_err *err)
{
    static const char sql[] =
        "INSERT INTO users (email, role, password_hash, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $4) RETURNING id";
    char mail[EMAIL_MAX + 2], hash[CRYPTO_PWHASH_MAX], now[UTC_ISO_LEN], idtext[24];
    int rc = accounts_check_email(email, err);
    if (rc != 0)
        return rc;
    if (!accounts_is_staff_role(role) && !str_eq(role, "client"))
        return err_set(err, LUMI_EINVAL,
                       "role must be admin, billing, support, readonly or client");
    rc = password_check(password, !str_eq(role, "client"), "password", err);
    if (rc != 0)
        return rc;
    rc = crypto_password_hash(password, hash, err);
    if (rc != 0)
        return rc;
    lower_email(email, mail);
    utc_now_iso(now);

    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st;
    rc = first_row(db, &st, sql, "tttt", err, mail, role, hash, now);
    int64_t id = rc == DB_ROW ? db_col_int64(st, 0) : 0;
    db_finalize(st);
    if (rc == LUMI_ECONFLICT) {
        err_set(err, rc, "a user with e-mail %s already exists", mail);
        goto out;
    }
    if (rc != DB_ROW) {
        rc = rc < 0 ? rc : err_set(err, LUMI_EDB, "user insert returned no id");
        goto out;
    }
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *action = str_eq(role, "admin")    ? "ADMIN_CREATED"
                         : str_eq(role, "client") ? "CLIENT_CREATED"
                                                  : "STAFF_CREATED";
    json_t *details = json_pack("{s:s s:s}", "email", mail, "role", role);
    rc = audit_append(db, actor, action, "user", idtext, details, NULL, err);
    json_decref(details);
    if (rc == 0 && id_out != NULL)
        *id_out = id;
out:
    return finish_tx(db, rc, err);
}

/* Finds a user's id by e-mail: 0, LUMI_ENOTFOUND or a database error. */
static int user_id_by_email(struct db *db, const char *mail, int64_t *id, struct lumi_err *err)
{
    const char *params[] = {mail};
    int rc = db_query_int64(db, "SELECT id FROM users WHERE email = $1", 1, params, id, err);
    if (rc == LUMI_ENOTFOUND)
        err_set(err, rc, "no user with e-mail %s", mail);
    return rc;
}

int accounts_set_staff_password(struct db *db, const struct audit_actor *actor, const char *email,
                                const char *password, struct lumi_err *err)
{
    char mail[EMAIL_MAX + 2], hash[CRYPTO_PWHASH_MAX], now[UTC_ISO_LEN], idtext[24];
    int64_t id = 0, changed = 0;
    int rc = password_check(password, true, "password", err);
    if (rc == 0)
        rc = crypto_password_hash(password, hash, err);
    if (rc != 0)
        return rc;
    lower_email(email, mail);
    utc_now_iso(now);
    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st;
    rc = first_row(db, &st,
                   "SELECT id FROM users WHERE email = $1 AND role <> 'client'",
                   "t", err, mail);
    if (rc == DB_ROW) {
        id = db_col_int64(st, 0);
        db_finalize(st);
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "no admin or staff member with e-mail %s", mail);
    }
    if (rc == 0)
        rc = run(db, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", "tti",
                 &changed, err, hash, now, id);
    if (rc == 0)
        rc = run(db, "DELETE FROM sessions WHERE user_id = $1", "i", NULL, err, id);
    if (rc == 0)
        rc = run(db, "DELETE FROM login_challenges WHERE user_id = $1", "i", NULL, err, id);
    if (rc == 0) {
        snprintf(idtext, sizeof idtext, "%lld", (long long)id);
        json_t *details = json_pack("{s:s s:b}", "by", "cli", "sessions_ended", 1);
        rc = audit_append(db, actor, "PASSWORD_CHANGED", "user", idtext, details, NULL, err);
        json_decref(details);
    }
    rc = finish_tx(db, rc, err);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* --- login ------------------------------------------------------------- */

static char dummy_hash[CRYPTO_PWHASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy_hash(void)
{
    char pw[33];
    crypto_random_token(16, pw, sizeof pw);
    if (crypto_password_hash(pw, dummy_hash, NULL) != 0)
        dummy_hash[0] = '\0';
}

static int count_recent(struct db *db, const char *sql, const char *key, int64_t window_s,
                        int64_t *n, struct lumi_err *err)
{
    char since[UTC_ISO_LEN];
    utc_format(utc_now() - window_s, since);
    const char *params[] = {key, since};
    return db_query_int64(db, sql, 2, params, n, err);
}

/* Records one audit row in its own transaction. */
static int audit_alone(struct db *db, const struct audit_actor *actor, const char *action,
                       const char *entity_id, json_t *details, struct lumi_err *err)
{
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = audit_append(db, actor, action, "user", entity_id, details, NULL, err);
    return finish_tx(db, rc, err);
}

struct login_user {
    int64_t id;
    char role[16];
    char status[16];
    char hash[CRYPTO_PWHASH_MAX];
    bool totp; /* a second factor is on */
};

static int find_login_user(struct db *db, const char *mail, struct login_user *u,
                           struct lumi_err *err)
{
    struct db_stmt *st;
    int rc =
        first_row(db, &st,
                  "SELECT id, role, status, password_hash, "
                  "CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END FROM users WHERE email = $1",
                  "t", err, mail);
    u->id = 0;
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return rc;
    u->id = db_col_int64(st, 0);
    str_copy(u->role, db_col_text(st, 1), sizeof u->role);
    str_copy(u->status, db_col_text(st, 2), sizeof u->status);
    str_copy(u->hash, db_col_text(st, 3) ? db_col_text(st, 3) : "", sizeof u->hash);
    u->totp = db_col_int64(st, 4) != 0;
    db_finalize(st);
    return 0;
}

/* Inserts the session and its LOGIN row inside the caller's transaction;
 * factor ("password", "totp", "recovery_code") goes into the audit details. */
static int open_session_tx(struct db *db, const struct audit_actor *actor, int64_t user_id,
                           const char *factor, const char *ip, const char *user_agent,
                           const struct accounts_login_policy *p, struct accounts_session *out,
                           struct lumi_err *err)
{
    static const char sql[] =
        "INSERT INTO sessions (token_hash, user_id, csrf_token, ip, user_agent, created_at, "
        "expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6) RETURNING id";
    char hash[CRYPTO_SHA256_HEX], now[UTC_ISO_LEN], idtext[24];
    crypto_random_token(32, out->token, sizeof out->token);
    crypto_random_token(32, out->csrf_token, sizeof out->csrf_token);
    crypto_sha256_hex(out->token, strlen(out->token), hash);
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t + p->session_ttl_s, out->expires_at);

    struct db_stmt *st;
    char c_ip[AUDIT_TEXT_MAX + 1], c_ua[AUDIT_TEXT_MAX + 1];
    int rc = first_row(db, &st, sql, "tittttt", err, hash, user_id, out->csrf_token,
                       audit_clean_text(ip, c_ip), audit_clean_text(user_agent, c_ua), now,
                       out->expires_at);
    int64_t sid = rc == DB_ROW ? db_col_int64(st, 0) : 0;
    db_finalize(st);
    if (rc != DB_ROW)
        return rc < 0 ? rc : err_set(err, LUMI_EDB, "session insert returned no id");
    snprintf(idtext, sizeof idtext, "%lld", (long long)user_id);
    json_t *details = json_pack("{s:I s:s}", "session_id", (json_int_t)sid, "factor", factor);
    rc = audit_append(db, actor, "LOGIN", "user", idtext, details, NULL, err);
    json_decref(details);
    return rc;
}

static int open_session(struct db *db, const struct audit_actor *actor, const struct login_user *u,
                        const char *ip, const char *user_agent,
                        const struct accounts_login_policy *p, struct accounts_session *out,
                        struct lumi_err *err)
{
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = open_session_tx(db, actor, u->id, "password", ip, user_agent, p, out, err);
    return finish_tx(db, rc, err);
}

/* Stores a new login challenge for user_id (its hash only) and writes the
 * token into out->challenge. Expired challenges of the user go at the same time. */
static int open_challenge(struct db *db, int64_t user_id, const char *ip,
                          struct accounts_session *out, struct lumi_err *err)
{
    static const char sql[] =
        "INSERT INTO login_challenges (token_hash, user_id, ip, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)";
    char hash[CRYPTO_SHA256_HEX], now[UTC_ISO_LEN], expires[UTC_ISO_LEN];
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t + ACCOUNTS_CHALLENGE_TTL_S, expires);
    crypto_random_token(32, out->challenge, sizeof out->challenge);
    crypto_sha256_hex(out->challenge, strlen(out->challenge), hash);

    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = run(db, "DELETE FROM login_challenges WHERE user_id = $1 AND expires_at < $2", "it", NULL,
             err, user_id, now);
    if (rc == 0)
        rc = run(db, sql, "tittt", NULL, err, hash, user_id, ip, now, expires);
    rc = finish_tx(db, rc, err);
    if (rc != 0)
        sodium_memzero(out->challenge, sizeof out->challenge);
    return rc;
}

int accounts_login(struct db *db, const char *email, const char *password, const char *ip,
                   const char *user_agent, const struct accounts_login_policy *policy,
                   struct accounts_session *out, struct lumi_err *err)
{
    char mail[EMAIL_MAX + 2], idtext[24] = "";
    struct login_user u;
    struct audit_actor actor = {"user", NULL, NULL, ip, user_agent};
    memset(out, 0, sizeof *out);
    if (email == NULL || password == NULL || strlen(email) > EMAIL_MAX || strlen(password) > 1024)
        return err_set(err, LUMI_EINVAL, "email and password are required");
    lower_email(email, mail);
    actor.email = mail;

    struct throttle_hit hit;
    int rc = throttle_login_check(db, mail, ip, policy, &hit, err);
    if (rc == LUMI_ETHROTTLED) {
        struct lumi_err ignored;
        throttle_login_throttled(db, &actor, NULL, &hit, &ignored);
    }
    if (rc != 0)
        return rc;
    rc = find_login_user(db, mail, &u, err);
    if (rc != 0)
        return rc;

    pthread_once(&dummy_once, make_dummy_hash);
    bool known = u.id > 0 && u.hash[0] != '\0';
    bool ok = crypto_password_verify(known ? u.hash : dummy_hash, password) && known;
    bool staff = accounts_is_staff_role(u.role);
    bool allowed = ok && str_eq(u.status, "active") &&
                   (policy->client_area ? str_eq(u.role, "client") : staff);
    if (u.id > 0) {
        snprintf(idtext, sizeof idtext, "%lld", (long long)u.id);
        actor.id = idtext;
    }
    if (!allowed) {
        struct lumi_err aerr;
        const char *reason = !ok ? "wrong e-mail or password" : "account not allowed";
        /* Counted first, on its own: the throttle never depends on the audit row. */
        rc = throttle_login_failed(db, mail, ip, err);
        if (rc != 0)
            return rc;
        json_t *details = json_pack("{s:s}", "reason", reason);
        int arc = audit_alone(db, &actor, "LOGIN_FAILED", u.id > 0 ? idtext : NULL, details, &aerr);
        json_decref(details);
        if (arc != 0) {
            if (err != NULL)
                *err = aerr;
            return arc;
        }
        if (!ok)
            return err_set(err, LUMI_EAUTH, "wrong e-mail or password");
        return err_set(err, LUMI_EFORBIDDEN,
                       policy->client_area ? "this account cannot sign in to the client area"
                                           : "this account cannot sign in to the admin area");
    }
    if (u.totp) {
        rc = open_challenge(db, u.id, ip, out, err);
        if (rc != 0)
            return rc;
        out->user_id = u.id;
        str_copy(out->role, u.role, sizeof out->role);
        str_copy(out->email, mail, sizeof out->email);
        err_set(err, LUMI_EAUTH, "enter the code from your authenticator app");
        return ACCOUNTS_LOGIN_NEED_CODE;
    }
    rc = open_session(db, &actor, &u, ip, user_agent, policy, out, err);
    if (rc == 0) {
        out->user_id = u.id;
        str_copy(out->role, u.role, sizeof out->role);
        str_copy(out->email, mail, sizeof out->email);
    }
    return rc;
}

int accounts_logout(struct db *db, const struct audit_actor *actor, int64_t session_id,
                    struct lumi_err *err)
{
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", (long long)session_id);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    const char *params[] = {idtext};
    rc = db_execp(db, "DELETE FROM sessions WHERE id = CAST($1 AS BIGINT)", 1, params, NULL, err);
    if (rc == 0) {
        json_t *details = json_pack("{s:I}", "session_id", (json_int_t)session_id);
        rc = audit_append(db, actor, "LOGOUT", "user", actor->id, details, NULL, err);
        json_decref(details);
    }
    return finish_tx(db, rc, err);
}

/* --- second factor ------------------------------------------------------ */

#define TOTP_ISSUER "Lumi"
#define SEALED_MAX 256 /* "v1." + base64url(nonce, tag, a 32-character secret) fits easily */

/* What the second-factor functions need to know about one user. */
struct totp_user {
    int64_t id;
    char idtext[24];
    char email[EMAIL_MAX + 2];
    char role[16];
    char status[16];
    char hash[CRYPTO_PWHASH_MAX];
    char secret[SEALED_MAX];  /* sealed; "" = second factor off */
    char pending[SEALED_MAX]; /* sealed; "" = nothing being set up */
    int64_t last_step;        /* TOTP_STEP_NONE when no code was accepted yet */
};

static void totp_user_wipe(struct totp_user *tu)
{
    sodium_memzero(tu, sizeof *tu);
}

static int load_totp_user(struct db *db, int64_t user_id, struct totp_user *tu,
                          struct lumi_err *err)
{
    struct db_stmt *st;
    memset(tu, 0, sizeof *tu);
    int rc = first_row(db, &st,
                       "SELECT email, role, status, password_hash, totp_secret, totp_pending, "
                       "totp_last_step FROM users WHERE id = $1",
                       "i", err, user_id);
    if (rc == DB_DONE)
        return err_set(err, LUMI_ENOTFOUND, "no user with id %lld", (long long)user_id);
    if (rc != DB_ROW)
        return rc;
    tu->id = user_id;
    snprintf(tu->idtext, sizeof tu->idtext, "%lld", (long long)user_id);
    str_copy(tu->email, db_col_text(st, 0), sizeof tu->email);
    str_copy(tu->role, db_col_text(st, 1), sizeof tu->role);
    str_copy(tu->status, db_col_text(st, 2), sizeof tu->status);
    str_copy(tu->hash, db_col_text(st, 3) ? db_col_text(st, 3) : "", sizeof tu->hash);
    str_copy(tu->secret, db_col_text(st, 4) ? db_col_text(st, 4) : "", sizeof tu->secret);
    str_copy(tu->pending, db_col_text(st, 5) ? db_col_text(st, 5) : "", sizeof tu->pending);
    tu->last_step = db_col_is_null(st, 6) ? TOTP_STEP_NONE : db_col_int64(st, 6);
    db_finalize(st);
    return 0;
}

/* Seals a base32 secret for users.<column> of user_id (caller frees), bound to the row. */
static char *seal_secret(int64_t user_id, const char *column, const char *b32, struct lumi_err *err)
{
    char ad[64];
    const uint8_t *key = config_secret_key();
    if (key == NULL) {
        err_set(err, LUMI_EINVAL, "LUMI_SECRET_KEY is not set: cannot store a second factor");
        return NULL;
    }
    snprintf(ad, sizeof ad, "users.%s:%lld", column, (long long)user_id);
    char *sealed = crypto_seal(key, ad, b32, strlen(b32));
    if (sealed == NULL)
        err_set(err, LUMI_EINTERNAL, "could not encrypt the second-factor secret");
    else if (strlen(sealed) >= SEALED_MAX) {
        free(sealed);
        sealed = NULL;
        err_set(err, LUMI_EINTERNAL, "the sealed second-factor secret is unexpectedly long");
    }
    return sealed;
}

/* Opens what seal_secret made into b32 (wiped by the caller after use). */
static int open_secret(int64_t user_id, const char *column, const char *sealed,
                       char b32[TOTP_SECRET_B32_LEN], struct lumi_err *err)
{
    char ad[64];
    struct buf plain;
    const uint8_t *key = config_secret_key();
    if (key == NULL)
        return err_set(err, LUMI_EINVAL,
                       "LUMI_SECRET_KEY is not set: cannot check a second factor");
    snprintf(ad, sizeof ad, "users.%s:%lld", column, (long long)user_id);
    buf_init(&plain, TOTP_SECRET_B32_LEN - 1);
    int rc = crypto_open(key, ad, sealed, &plain, err);
    if (rc == 0)
        str_copy(b32, buf_cstr(&plain), TOTP_SECRET_B32_LEN);
    else
        err_set(err, LUMI_EINVAL,
                "the second-factor secret of user %lld cannot be decrypted (was LUMI_SECRET_KEY "
                "changed?)",
                (long long)user_id);
    if (plain.data != NULL)
        sodium_memzero(plain.data, plain.cap);
    buf_free(&plain);
    return rc;
}

/* A TOTP code is 6 digits (spaces allowed); anything else is tried as a recovery code. */
static bool looks_like_totp(const char *code)
{
    int digits = 0;
    for (const char *p = code; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p != ' ')
            return false;
    }
    return digits == TOTP_DIGITS;
}

/*
 * Checks code against tu's second factor inside the open transaction and
 * spends it: a TOTP code's step becomes the last used one (only if newer, so
 * a replay or a racing request with the same code fails), a recovery code is
 * marked used. *kind gets "totp" or "recovery_code". 0, LUMI_EAUTH, or a
 * database error.
 */
static int spend_code(struct db *db, const struct totp_user *tu, const char *code,
                      const char **kind, struct lumi_err *err)
{
    char b32[TOTP_SECRET_B32_LEN], hex[TOTP_RECOVERY_HEX], now[UTC_ISO_LEN];
    struct lumi_err ignored;
    int64_t step = 0, changes = 0;
    int rc;
    utc_now_iso(now);
    if (looks_like_totp(code)) {
        *kind = "totp";
        rc = open_secret(tu->id, "totp_secret", tu->secret, b32, err);
        if (rc != 0)
            return rc;
        rc =
            totp_verify(b32, code, utc_now(), ACCOUNTS_TOTP_WINDOW, tu->last_step, &step, &ignored);
        sodium_memzero(b32, sizeof b32);
        if (rc != 0)
            return err_set(err, LUMI_EAUTH, "wrong or already used code");
        rc = run(db,
                 "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND "
                 "(totp_last_step IS NULL OR totp_last_step < $1)",
                 "ii", &changes, err, step, tu->id);
    } else {
        *kind = "recovery_code";
        if (totp_recovery_hash(code, hex, &ignored) != 0)
            return err_set(err, LUMI_EAUTH, "wrong or already used code");
        rc = run(db,
                 "UPDATE totp_recovery_codes SET used_at = $1 WHERE user_id = $2 AND "
                 "code_hash = $3 AND used_at IS NULL",
                 "tit", &changes, err, now, tu->id, hex);
    }
    if (rc != 0)
        return rc;
    return changes == 1 ? 0 : err_set(err, LUMI_EAUTH, "wrong or already used code");
}

struct challenge {
    int64_t id;
    int64_t user_id;
    int64_t attempts;
    char expires_at[UTC_ISO_LEN];
};

static int find_challenge(struct db *db, const char *hash, struct challenge *ch,
                          struct lumi_err *err)
{
    struct db_stmt *st;
    int rc = first_row(db, &st,
                       "SELECT id, user_id, attempts, expires_at FROM login_challenges WHERE "
                       "token_hash = $1",
                       "t", err, hash);
    if (rc == DB_DONE)
        return LUMI_ENOTFOUND;
    if (rc != DB_ROW)
        return rc;
    ch->id = db_col_int64(st, 0);
    ch->user_id = db_col_int64(st, 1);
    ch->attempts = db_col_int64(st, 2);
    str_copy(ch->expires_at, db_col_text(st, 3), sizeof ch->expires_at);
    db_finalize(st);
    return 0;
}

/* LOGIN_FAILED for the second step, in its own transaction; optionally
 * voids the challenge (delete) or counts a wrong code against it. */
static int second_step_failed(struct db *db, const struct audit_actor *actor,
                              const struct challenge *ch, bool void_it, const char *reason,
                              const char *factor, struct lumi_err *err)
{
    int rc = throttle_login_failed(db, actor->email, actor->ip, err);
    if (rc == 0)
        rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    if (ch != NULL && void_it)
        rc = run(db, "DELETE FROM login_challenges WHERE id = $1", "i", NULL, err, ch->id);
    else if (ch != NULL)
        rc = run(db, "UPDATE login_challenges SET attempts = attempts + 1 WHERE id = $1", "i", NULL,
                 err, ch->id);
    if (rc == 0) {
        json_t *details = factor ? json_pack("{s:s s:s}", "reason", reason, "factor", factor)
                                 : json_pack("{s:s}", "reason", reason);
        rc = audit_append(db, actor, "LOGIN_FAILED", "user", actor->id, details, NULL, err);
        json_decref(details);
    }
    return finish_tx(db, rc, err);
}

int accounts_login_code(struct db *db, const char *challenge, const char *code, const char *ip,
                        const char *user_agent, const struct accounts_login_policy *policy,
                        struct accounts_session *out, struct lumi_err *err)
{
    static const char expired_msg[] = "this sign-in has expired or was already used; enter your "
                                      "e-mail address and password again";
    char hash[CRYPTO_SHA256_HEX], now[UTC_ISO_LEN];
    struct audit_actor actor = {"user", NULL, NULL, ip, user_agent};
    struct totp_user tu;
    struct challenge ch;
    struct lumi_err aerr;
    const char *kind = "totp";
    int rc;
    memset(out, 0, sizeof *out);
    memset(&tu, 0, sizeof tu);
    if (challenge == NULL || strlen(challenge) != 64 || code == NULL || strlen(code) > 64)
        return err_set(err, LUMI_EINVAL, "a login challenge and a code are required");
    if (!str_present(code))
        return err_set(err, LUMI_EINVAL,
                       "enter the code from your authenticator app or a recovery code");
    crypto_sha256_hex(challenge, 64, hash);
    utc_now_iso(now);

    rc = find_challenge(db, hash, &ch, err);
    if (rc == LUMI_ENOTFOUND) {
        /* Guessing challenges counts against the address like guessing passwords. */
        struct throttle_hit hit;
        rc = throttle_login_check(db, "", ip, policy, &hit, err);
        if (rc == LUMI_ETHROTTLED)
            throttle_login_throttled(db, &actor, NULL, &hit, &aerr);
        if (rc != 0)
            return rc;
        rc = second_step_failed(db, &actor, NULL, false, "unknown login challenge", NULL, &aerr);
        if (rc != 0) {
            if (err != NULL)
                *err = aerr;
            return rc;
        }
        return err_set(err, LUMI_ENOTFOUND, "%s", expired_msg);
    }
    if (rc != 0)
        return rc;
    rc = load_totp_user(db, ch.user_id, &tu, err);
    if (rc != 0)
        goto out;
    actor.id = tu.idtext;
    actor.email = tu.email;
    struct throttle_hit hit;
    rc = throttle_login_check(db, tu.email, ip, policy, &hit, err);
    if (rc == LUMI_ETHROTTLED)
        throttle_login_throttled(db, &actor, tu.idtext, &hit, &aerr);
    if (rc != 0)
        goto out;
    bool staff = accounts_is_staff_role(tu.role);
    bool area_ok = policy->client_area ? str_eq(tu.role, "client") : staff;
    if (strcmp(ch.expires_at, now) < 0 || ch.attempts >= ACCOUNTS_CHALLENGE_ATTEMPTS ||
        tu.secret[0] == '\0' || !str_eq(tu.status, "active") || !area_ok) {
        rc = second_step_failed(db, &actor, &ch, true, "login challenge expired", NULL, &aerr);
        if (rc == 0)
            rc = err_set(err, LUMI_ENOTFOUND, "%s", expired_msg);
        else if (err != NULL)
            *err = aerr;
        goto out;
    }

    rc = db_begin(db, err);
    if (rc != 0)
        goto out;
    int64_t gone = 0;
    rc = spend_code(db, &tu, code, &kind, err);
    if (rc == 0)
        rc = run(db, "DELETE FROM login_challenges WHERE id = $1", "i", &gone, err, ch.id);
    if (rc == 0 && gone != 1)
        rc = err_set(err, LUMI_ENOTFOUND, "%s", expired_msg); /* a racing request won */
    if (rc == 0)
        rc = open_session_tx(db, &actor, tu.id, kind, ip, user_agent, policy, out, err);
    if (rc == 0 && str_eq(kind, "recovery_code")) {
        int64_t left = 0;
        const char *params[] = {tu.idtext};
        rc = db_query_int64(db,
                            "SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = "
                            "CAST($1 AS BIGINT) AND used_at IS NULL",
                            1, params, &left, err);
        if (rc == 0) {
            json_t *details = json_pack("{s:I}", "remaining", (json_int_t)left);
            rc = audit_append(db, &actor, "RECOVERY_CODE_USED", "user", tu.idtext, details, NULL,
                              err);
            json_decref(details);
        }
    }
    rc = finish_tx(db, rc, err);
    if (rc == LUMI_EAUTH) {
        bool last = ch.attempts + 1 >= ACCOUNTS_CHALLENGE_ATTEMPTS;
        int arc =
            second_step_failed(db, &actor, &ch, last, "wrong second-factor code", kind, &aerr);
        if (arc != 0) {
            rc = arc;
            if (err != NULL)
                *err = aerr;
        } else if (last) {
            rc = err_set(err, LUMI_ENOTFOUND,
                         "wrong code, and too many wrong codes for this sign-in; enter your "
                         "e-mail address and password again");
        } else {
            rc = err_set(err, LUMI_EAUTH, "wrong or already used code");
        }
    }
    if (rc == 0) {
        out->user_id = tu.id;
        str_copy(out->role, tu.role, sizeof out->role);
        str_copy(out->email, tu.email, sizeof out->email);
    }
out:
    if (rc != 0)
        sodium_memzero(out, sizeof *out);
    totp_user_wipe(&tu);
    return rc;
}

int accounts_totp_status(struct db *db, int64_t user_id, struct accounts_totp_status *out,
                         struct lumi_err *err)
{
    struct db_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = first_row(db, &st,
                       "SELECT CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END, "
                       "CASE WHEN totp_pending IS NULL THEN 0 ELSE 1 END, "
                       "(SELECT COUNT(*) FROM totp_recovery_codes r WHERE r.user_id = users.id "
                       "AND r.used_at IS NULL) FROM users WHERE id = $1",
                       "i", err, user_id);
    if (rc == DB_DONE)
        return err_set(err, LUMI_ENOTFOUND, "no user with id %lld", (long long)user_id);
    if (rc != DB_ROW)
        return rc;
    out->enabled = db_col_int64(st, 0) != 0;
    out->pending = db_col_int64(st, 1) != 0;
    out->recovery_left = db_col_int64(st, 2);
    db_finalize(st);
    return 0;
}

int accounts_totp_begin(struct db *db, int64_t user_id, struct lumi_err *err)
{
    char b32[TOTP_SECRET_B32_LEN], now[UTC_ISO_LEN];
    char *sealed = NULL;
    int64_t changes = 0;
    struct totp_user tu;
    int rc = load_totp_user(db, user_id, &tu, err);
    if (rc != 0)
        goto out;
    if (tu.secret[0] != '\0') {
        rc = err_set(err, LUMI_ECONFLICT, "the second factor is already on; switch it off first");
        goto out;
    }
    rc = totp_secret_new(b32, sizeof b32, err);
    if (rc != 0)
        goto out;
    sealed = seal_secret(user_id, "totp_pending", b32, err);
    sodium_memzero(b32, sizeof b32);
    if (sealed == NULL) {
        rc = err ? err->code : LUMI_EINTERNAL;
        goto out;
    }
    utc_now_iso(now);
    rc = run(db,
             "UPDATE users SET totp_pending = $1, updated_at = $2 WHERE id = $3 AND "
             "totp_secret IS NULL",
             "tti", &changes, err, sealed, now, user_id);
    if (rc == 0 && changes != 1)
        rc = err_set(err, LUMI_ECONFLICT, "the second factor is already on; switch it off first");
out:
    free(sealed);
    totp_user_wipe(&tu);
    return rc;
}

int accounts_totp_pending(struct db *db, int64_t user_id, char b32[TOTP_SECRET_B32_LEN],
                          char uri[TOTP_URI_MAX], struct lumi_err *err)
{
    struct totp_user tu;
    b32[0] = '\0';
    uri[0] = '\0';
    int rc = load_totp_user(db, user_id, &tu, err);
    if (rc == 0 && tu.pending[0] == '\0')
        rc = err_set(err, LUMI_ENOTFOUND, "no second factor is being set up");
    if (rc == 0)
        rc = open_secret(user_id, "totp_pending", tu.pending, b32, err);
    if (rc == 0)
        rc = totp_uri(uri, TOTP_URI_MAX, TOTP_ISSUER, tu.email, b32, err);
    if (rc != 0) {
        sodium_memzero(b32, TOTP_SECRET_B32_LEN);
        uri[0] = '\0';
    }
    totp_user_wipe(&tu);
    return rc;
}

/* Removes the second factor of tu inside the open transaction; audits TOTP_DISABLED. */
static int disable_tx(struct db *db, const struct audit_actor *actor, const struct totp_user *tu,
                      const char *method, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    int rc = run(db,
                 "UPDATE users SET totp_secret = NULL, totp_pending = NULL, "
                 "totp_last_step = NULL, updated_at = $1 WHERE id = $2",
                 "ti", NULL, err, now, tu->id);
    if (rc == 0)
        rc = run(db, "DELETE FROM totp_recovery_codes WHERE user_id = $1", "i", NULL, err, tu->id);
    if (rc == 0)
        rc = run(db, "DELETE FROM login_challenges WHERE user_id = $1", "i", NULL, err, tu->id);
    if (rc == 0) {
        json_t *details = json_pack("{s:s s:s}", "method", method, "email", tu->email);
        rc = audit_append(db, actor, "TOTP_DISABLED", "user", tu->idtext, details, NULL, err);
        json_decref(details);
    }
    return rc;
}

int accounts_totp_confirm(struct db *db, const struct audit_actor *actor, int64_t user_id,
                          const char *code, char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN],
                          struct lumi_err *err)
{
    char b32[TOTP_SECRET_B32_LEN] = "", now[UTC_ISO_LEN], hex[TOTP_RECOVERY_HEX];
    char *sealed = NULL;
    struct totp_user tu;
    struct lumi_err ignored;
    int64_t step = 0, changes = 0;
    bool in_tx = false;
    memset(codes, 0, sizeof(char[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN]));
    int rc = load_totp_user(db, user_id, &tu, err);
    if (rc != 0)
        goto out;
    if (tu.secret[0] != '\0') {
        rc = err_set(err, LUMI_ECONFLICT, "the second factor is already on");
        goto out;
    }
    if (tu.pending[0] == '\0') {
        rc = err_set(err, LUMI_ENOTFOUND, "no second factor is being set up; start again");
        goto out;
    }
    rc = open_secret(user_id, "totp_pending", tu.pending, b32, err);
    if (rc != 0)
        goto out;
    if (code == NULL || strlen(code) > 64 ||
        totp_verify(b32, code, utc_now(), ACCOUNTS_TOTP_WINDOW, TOTP_STEP_NONE, &step, &ignored) !=
            0) {
        rc = err_set(err, LUMI_EINVAL,
                     "that code is not right: type the 6-digit code the app shows now (and "
                     "check that the device's clock is correct)");
        goto out;
    }
    sealed = seal_secret(user_id, "totp_secret", b32, err);
    if (sealed == NULL) {
        rc = err ? err->code : LUMI_EINTERNAL;
        goto out;
    }
    rc = totp_recovery_codes(ACCOUNTS_RECOVERY_CODES, codes, err);
    if (rc != 0)
        goto out;
    utc_now_iso(now);
    rc = db_begin(db, err);
    if (rc != 0)
        goto out;
    in_tx = true;
    /* Only the pending secret the code was checked against becomes the secret. */
    rc = run(db,
             "UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2, "
             "updated_at = $3 WHERE id = $4 AND totp_secret IS NULL AND totp_pending = $5",
             "titit", &changes, err, sealed, step, now, user_id, tu.pending);
    if (rc == 0 && changes != 1)
        rc = err_set(err, LUMI_ECONFLICT, "the set-up changed meanwhile; start again");
    if (rc == 0)
        rc = run(db, "DELETE FROM totp_recovery_codes WHERE user_id = $1", "i", NULL, err, user_id);
    for (int i = 0; rc == 0 && i < ACCOUNTS_RECOVERY_CODES; i++) {
        rc = totp_recovery_hash(codes[i], hex, err);
        if (rc == 0)
            rc = run(db,
                     "INSERT INTO totp_recovery_codes (user_id, code_hash, created_at) "
                     "VALUES ($1, $2, $3)",
                     "itt", NULL, err, user_id, hex, now);
    }
    if (rc == 0) {
        json_t *details =
            json_pack("{s:s s:i}", "email", tu.email, "recovery_codes", ACCOUNTS_RECOVERY_CODES);
        rc = audit_append(db, actor, "TOTP_ENABLED", "user", tu.idtext, details, NULL, err);
        json_decref(details);
    }
out:
    if (in_tx)
        rc = finish_tx(db, rc, err);
    if (rc != 0)
        sodium_memzero(codes, sizeof(char[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN]));
    sodium_memzero(b32, sizeof b32);
    free(sealed);
    totp_user_wipe(&tu);
    return rc;
}

int accounts_totp_disable(struct db *db, const struct audit_actor *actor, int64_t user_id,
                          const char *password, const char *code,
                          const struct accounts_login_policy *policy, struct lumi_err *err)
{
    struct totp_user tu;
    struct lumi_err aerr;
    const char *method = "password";
    int64_t failures = 0;
    bool in_tx = false;
    int rc = load_totp_user(db, user_id, &tu, err);
    if (rc != 0)
        goto out;
    if (tu.secret[0] == '\0') {
        rc = err_set(err, LUMI_ECONFLICT, "the second factor is not on");
        goto out;
    }
    bool by_password = str_present(password);
    if (!by_password && !str_present(code)) {
        rc = err_set(err, LUMI_EINVAL, "enter your password or a current code");
        goto out;
    }
    if ((by_password && strlen(password) > 1024) || (!by_password && strlen(code) > 64)) {
        rc = err_set(err, LUMI_EINVAL, "the password or code is too long");
        goto out;
    }
    rc = count_recent(db,
                      "SELECT COUNT(*) FROM audit_log WHERE entity = 'user' AND entity_id = $1 "
                      "AND action = 'TOTP_DISABLE_FAILED' AND at >= $2",
                      tu.idtext, policy->window_s, &failures, err);
    if (rc != 0)
        goto out;
    if (failures >= policy->max_failures) {
        rc = err_set(err, LUMI_ETHROTTLED, "too many failed attempts; try again in %lld minutes",
                     (long long)((policy->window_s + 59) / 60));
        goto out;
    }
    /* The slow password hash runs before the write transaction opens. */
    bool password_ok =
        by_password && tu.hash[0] != '\0' && crypto_password_verify(tu.hash, password);
    if (by_password && !password_ok) {
        rc = err_set(err, LUMI_EAUTH, "wrong password");
        goto failed;
    }
    rc = db_begin(db, err);
    if (rc != 0)
        goto out;
    in_tx = true;
    if (!by_password)
        rc = spend_code(db, &tu, code, &method, err);
    if (rc == 0)
        rc = disable_tx(db, actor, &tu, method, err);
    rc = finish_tx(db, rc, err);
    in_tx = false;
    if (rc != LUMI_EAUTH)
        goto out;
failed:;
    json_t *details = json_pack("{s:s}", "reason", by_password ? "wrong password" : "wrong code");
    int arc = audit_alone(db, actor, "TOTP_DISABLE_FAILED", tu.idtext, details, &aerr);
    json_decref(details);
    if (arc != 0) {
        rc = arc;
        if (err != NULL)
            *err = aerr;
    }
out:
    if (in_tx)
        rc = finish_tx(db, rc, err);
    totp_user_wipe(&tu);
    return rc;
}

int accounts_totp_reset(struct db *db, const struct audit_actor *actor, const char *email,
                        struct lumi_err *err)
{
    char mail[EMAIL_MAX + 2];
    struct totp_user tu;
    int64_t id = 0;
    memset(&tu, 0, sizeof tu);
    lower_email(email, mail);
    int rc = user_id_by_email(db, mail, &id, err);
    if (rc == 0)
        rc = load_totp_user(db, id, &tu, err);
    if (rc == 0 && tu.secret[0] == '\0' && tu.pending[0] == '\0')
        rc = err_set(err, LUMI_ECONFLICT, "%s has no second factor", mail);
    if (rc == 0) {
        rc = db_begin(db, err);
        if (rc == 0) {
            rc = disable_tx(db, actor, &tu, "reset", err);
            rc = finish_tx(db, rc, err);
        }
    }
    totp_user_wipe(&tu);
    return rc;
}
