/*
 * accounts.c — users, API tokens and sessions (see accounts.h).
 *
 * Threading: functions use only the connection they are given, apart from
 * the dummy password hash (computed once under pthread_once) that makes a
 * login for an unknown e-mail cost as much as one for a known e-mail.
 */
#include "accounts/accounts.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

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
    if (!str_eq(role, "admin") && !str_eq(role, "staff") && !str_eq(role, "client"))
        return err_set(err, LUMI_EINVAL, "role must be admin, staff or client");
    rc = crypto_password_hash(password, hash, err);
    if (rc != 0)
        return rc;
    lower_email(email, mail);
    utc_now_iso(now);

    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL) {
        rc = err ? err->code : LUMI_EDB;
        goto out;
    }
    db_bind_text(st, 1, mail);
    db_bind_text(st, 2, role);
    db_bind_text(st, 3, hash);
    db_bind_text(st, 4, now);
    rc = db_step(st, err);
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
    const char *action = str_eq(role, "admin")   ? "ADMIN_CREATED"
                         : str_eq(role, "staff") ? "STAFF_CREATED"
                                                 : "CLIENT_CREATED";
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

int accounts_token_create(struct db *db, const struct audit_actor *actor, const char *name,
                          const char *owner_email, char token_out[ACCOUNTS_TOKEN_LEN],
                          int64_t *id_out, struct lumi_err *err)
{
    static const char sql[] =
        "INSERT INTO api_tokens (name, token_hash, prefix, user_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id";
    char random_hex[65], token[ACCOUNTS_TOKEN_LEN], hash[CRYPTO_SHA256_HEX], prefix[13];
    char now[UTC_ISO_LEN], mail[EMAIL_MAX + 2], idtext[24];
    int64_t owner = 0;
    if (!str_present(name) || strlen(name) > 100)
        return err_set(err, LUMI_EINVAL, "the token name must be 1 to 100 characters");

    crypto_random_token(32, random_hex, sizeof random_hex);
    snprintf(token, sizeof token, "lumi_%s", random_hex);
    crypto_sha256_hex(token, strlen(token), hash);
    str_copy(prefix, token, sizeof prefix);
    utc_now_iso(now);

    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    if (owner_email != NULL) {
        lower_email(owner_email, mail);
        rc = user_id_by_email(db, mail, &owner, err);
        if (rc != 0)
            goto out;
    }
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL) {
        rc = err ? err->code : LUMI_EDB;
        goto out;
    }
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, hash);
    db_bind_text(st, 3, prefix);
    if (owner > 0)
        db_bind_int64(st, 4, owner);
    else
        db_bind_null(st, 4);
    db_bind_text(st, 5, now);
    rc = db_step(st, err);
    int64_t id = rc == DB_ROW ? db_col_int64(st, 0) : 0;
    db_finalize(st);
    if (rc != DB_ROW) {
        rc = rc < 0 ? rc : err_set(err, LUMI_EDB, "token insert returned no id");
        goto out;
    }
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    json_t *details = json_pack("{s:s s:s s:o}", "name", name, "prefix", prefix, "owner",
                                owner_email ? json_string(mail) : json_null());
    rc = audit_append(db, actor, "TOKEN_CREATED", "api_token", idtext, details, NULL, err);
    json_decref(details);
    if (rc == 0) {
        str_copy(token_out, token, ACCOUNTS_TOKEN_LEN);
        if (id_out != NULL)
            *id_out = id;
    }
out:
    rc = finish_tx(db, rc, err);
    sodium_memzero(token, sizeof token);
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

/* LUMI_ETHROTTLED when the e-mail or the IP failed too often recently. */
static int check_throttle(struct db *db, const char *mail, const char *ip,
                          const struct accounts_login_policy *p, struct lumi_err *err)
{
    int64_t by_mail = 0, by_ip = 0;
    int rc = count_recent(db,
                          "SELECT COUNT(*) FROM audit_log WHERE actor_email = $1 "
                          "AND action = 'LOGIN_FAILED' AND at >= $2",
                          mail, p->window_s, &by_mail, err);
    if (rc == 0 && ip != NULL)
        rc = count_recent(db,
                          "SELECT COUNT(*) FROM audit_log WHERE ip = $1 "
                          "AND action = 'LOGIN_FAILED' AND at >= $2",
                          ip, p->window_s, &by_ip, err);
    if (rc != 0)
        return rc;
    if (by_mail >= p->max_failures || by_ip >= 4 * p->max_failures)
        return err_set(err, LUMI_ETHROTTLED,
                       "too many failed logins; try again in %lld minutes",
                       (long long)((p->window_s + 59) / 60));
    return 0;
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
};

static int find_login_user(struct db *db, const char *mail, struct login_user *u,
                           struct lumi_err *err)
{
    struct db_stmt *st =
        db_prepare(db, "SELECT id, role, status, password_hash FROM users WHERE email = $1", err);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    db_bind_text(st, 1, mail);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        u->id = db_col_int64(st, 0);
        str_copy(u->role, db_col_text(st, 1), sizeof u->role);
        str_copy(u->status, db_col_text(st, 2), sizeof u->status);
        str_copy(u->hash, db_col_text(st, 3) ? db_col_text(st, 3) : "", sizeof u->hash);
        rc = 0;
    } else if (rc == DB_DONE) {
        u->id = 0;
        rc = 0;
    }
    db_finalize(st);
    return rc;
}

static int open_session(struct db *db, const struct audit_actor *actor, const struct login_user *u,
                        const char *ip, const char *user_agent,
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

    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL) {
        rc = err ? err->code : LUMI_EDB;
        goto out;
    }
    db_bind_text(st, 1, hash);
    db_bind_int64(st, 2, u->id);
    db_bind_text(st, 3, out->csrf_token);
    db_bind_text(st, 4, ip);
    db_bind_text(st, 5, user_agent);
    db_bind_text(st, 6, now);
    db_bind_text(st, 7, out->expires_at);
    rc = db_step(st, err);
    int64_t sid = rc == DB_ROW ? db_col_int64(st, 0) : 0;
    db_finalize(st);
    if (rc != DB_ROW) {
        rc = rc < 0 ? rc : err_set(err, LUMI_EDB, "session insert returned no id");
        goto out;
    }
    snprintf(idtext, sizeof idtext, "%lld", (long long)u->id);
    json_t *details = json_pack("{s:I}", "session_id", (json_int_t)sid);
    rc = audit_append(db, actor, "LOGIN", "user", idtext, details, NULL, err);
    json_decref(details);
out:
    return finish_tx(db, rc, err);
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

    int rc = check_throttle(db, mail, ip, policy, err);
    if (rc == LUMI_ETHROTTLED) {
        struct lumi_err ignored;
        log_warn("auth.throttled", "ip=%s", ip ? ip : "-");
        audit_alone(db, &actor, "LOGIN_THROTTLED", NULL, NULL, &ignored);
    }
    if (rc != 0)
        return rc;
    rc = find_login_user(db, mail, &u, err);
    if (rc != 0)
        return rc;

    pthread_once(&dummy_once, make_dummy_hash);
    bool known = u.id > 0 && u.hash[0] != '\0';
    bool ok = crypto_password_verify(known ? u.hash : dummy_hash, password) && known;
    bool staff = str_eq(u.role, "admin") || str_eq(u.role, "staff");
    bool allowed = ok && str_eq(u.status, "active") &&
                   (policy->client_area ? str_eq(u.role, "client") : staff);
    if (u.id > 0) {
        snprintf(idtext, sizeof idtext, "%lld", (long long)u.id);
        actor.id = idtext;
    }
    if (!allowed) {
        struct lumi_err aerr;
        const char *reason = !ok ? "wrong e-mail or password" : "account not allowed";
        json_t *details = json_pack("{s:s}", "reason", reason);
        int arc = audit_alone(db, &actor, "LOGIN_FAILED", u.id > 0 ? idtext : NULL, details,
                              &aerr);
        json_decref(details);
        if (arc != 0) {
            if (err != NULL)
                *err = aerr;
            return arc;
        }
        if (!ok)
            return err_set(err, LUMI_EAUTH, "wrong e-mail or password");
        return err_set(err, LUMI_EFORBIDDEN, policy->client_area
                                                 ? "this account cannot sign in to the client area"
                                                 : "this account cannot sign in to the admin area");
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
