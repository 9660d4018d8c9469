/*
 * tokens.c — API tokens: creation, the list admins see, revocation (see
 * tokens.h). The token is 32 random bytes as hex after "lumi_"; it leaves
 * this module once, in token_out, and is wiped here. Runs on the caller's
 * connection; no shared state.
 */
#include "accounts/tokens.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/rowjson.h"

#define EMAIL_MAX 254

static const char SQL_INSERT[] =
    "INSERT INTO api_tokens (name, token_hash, prefix, user_id, created_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
static const char SQL_OWNER[] = "SELECT id FROM users WHERE email = $1";
/* status is worked out by the caller's clock ($1 = now), the same on both engines. */
#define SQL_LIST                                                                                   \
    "SELECT t.id, t.name, t.prefix, t.user_id AS owner_id, u.email AS owner_email, "               \
    "COALESCE(u.role, 'admin') AS role, t.created_at, t.expires_at, t.last_used_at, "              \
    "t.revoked_at, CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked' "                             \
    "WHEN t.expires_at IS NOT NULL AND t.expires_at <= $1 THEN 'expired' ELSE 'active' END "       \
    "AS status FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id"
static const char SQL_LIST_ALL[] = SQL_LIST " ORDER BY t.id DESC";
static const char SQL_LIST_ONE[] = SQL_LIST " WHERE t.id = $2";
static const char SQL_REVOKE[] =
    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
static const char SQL_NAME[] = "SELECT name, prefix, revoked_at FROM api_tokens WHERE id = $1";

static const char *const INT_COLUMNS[] = {"id", "owner_id", NULL};

static int finish_tx(struct db *db, int rc, struct lumi_err *err)
{
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

static int check_new(const struct tokens_new *in, struct lumi_err *err)
{
    if (!str_present(in->name) || strlen(in->name) > 100)
        return err_set(err, LUMI_EINVAL,
                       "field 'name': the token name must be 1 to 100 characters");
    if (in->expires_days < 0 || in->expires_days > TOKENS_MAX_DAYS)
        return err_set(err, LUMI_EINVAL,
                       "field 'expires_days' must be a whole number of days from 1 to %d "
                       "(or 0 / absent: never)",
                       TOKENS_MAX_DAYS);
    return 0;
}

static int owner_id(struct db *db, const char *email, int64_t *id, struct lumi_err *err)
{
    char mail[EMAIL_MAX + 2];
    str_copy(mail, email, sizeof mail);
    str_lower(mail);
    const char *p[] = {mail};
    int rc = db_query_int64(db, SQL_OWNER, 1, p, id, err);
    if (rc == LUMI_ENOTFOUND)
        err_set(err, rc, "field 'user': no user with e-mail %s", mail);
    return rc;
}

static int insert_token(struct db *db, const struct tokens_new *in, int64_t owner, const char *hash,
                        const char *prefix, const char *now, const char *expires, int64_t *id,
                        struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    db_bind_text(st, 1, in->name);
    db_bind_text(st, 2, hash);
    db_bind_text(st, 3, prefix);
    if (owner > 0)
        db_bind_int64(st, 4, owner);
    else
        db_bind_null(st, 4);
    db_bind_text(st, 5, now);
    db_bind_text(st, 6, expires);
    int rc = db_step_id(st, "token", id, err);
    db_finalize(st);
    return rc;
}

int tokens_create(struct db *db, const struct audit_actor *actor, const struct tokens_new *in,
                  char token_out[TOKENS_LEN], int64_t *id_out, struct lumi_err *err)
{
    char random_hex[65], token[TOKENS_LEN], hash[CRYPTO_SHA256_HEX], prefix[13];
    char now[UTC_ISO_LEN], expires[UTC_ISO_LEN];
    int64_t owner = 0, id = 0;
    int rc = check_new(in, err);
    if (rc != 0)
        return rc;
    if (crypto_random_token(32, random_hex, sizeof random_hex) != 0)
        return err_set(err, LUMI_EINTERNAL, "no randomness for a token");
    snprintf(token, sizeof token, "lumi_%s", random_hex);
    crypto_sha256_hex(token, strlen(token), hash);
    str_copy(prefix, token, sizeof prefix);
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t + in->expires_days * 86400, expires);

    rc = db_begin(db, err);
    if (rc != 0)
        goto wipe;
    if (in->owner_email != NULL)
        rc = owner_id(db, in->owner_email, &owner, err);
    if (rc == 0)
        rc = insert_token(db, in, owner, hash, prefix, now, in->expires_days > 0 ? expires : NULL,
                          &id, err);
    if (rc == 0) {
        json_t *owner_json = json_null();
        if (owner > 0)
            owner_json = json_integer(owner);
        rc = audit_append_id_take(db, actor, "TOKEN_CREATED", "api_token", id,
                                  json_pack("{s:s s:s s:o s:s?}", "name", in->name, "prefix",
                                            prefix, "owner_id", owner_json, "expires_at",
                                            in->expires_days > 0 ? expires : NULL),
                                  err);
    }
    rc = finish_tx(db, rc, err);
    if (rc == 0) {
        str_copy(token_out, token, TOKENS_LEN);
        if (id_out != NULL)
            *id_out = id;
    }
wipe:
    sodium_memzero(token, sizeof token);
    sodium_memzero(random_hex, sizeof random_hex);
    return rc;
}

static json_t *list_rows(struct db *db, int64_t id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, id > 0 ? SQL_LIST_ONE : SQL_LIST_ALL, err);
    if (st == NULL)
        return NULL;
    db_bind_text(st, 1, now);
    if (id > 0)
        db_bind_int64(st, 2, id);
    json_t *rows = json_array();
    int rc = 0;
    while (rows != NULL && (rc = db_step(st, err)) == DB_ROW) {
        json_t *row = db_row_json(st, INT_COLUMNS, err);
        if (row == NULL || json_array_append_new(rows, row) != 0) {
            rc = LUMI_ENOMEM;
            break;
        }
    }
    db_finalize(st);
    if (rows == NULL || rc < 0) {
        json_decref(rows);
        if (rows == NULL || rc == LUMI_ENOMEM)
            err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    return rows;
}

json_t *tokens_list(struct db *db, struct lumi_err *err)
{
    return list_rows(db, 0, err);
}

json_t *tokens_get(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *rows = list_rows(db, id, err);
    if (rows == NULL)
        return NULL;
    json_t *one = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    if (one == NULL)
        err_set(err, LUMI_ENOTFOUND, "no API token with id %lld", (long long)id);
    return one;
}

int tokens_revoke(struct db *db, const struct audit_actor *actor, int64_t id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], name[128] = "", prefix[16] = "";
    bool revoked = false;
    utc_now_iso(now);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st = db_prepare(db, SQL_NAME, err);
    rc = st != NULL ? 0 : (err ? err->code : LUMI_EDB);
    if (rc == 0) {
        db_bind_int64(st, 1, id);
        rc = db_step(st, err);
        if (rc == DB_ROW) {
            str_copy(name, db_col_text(st, 0), sizeof name);
            str_copy(prefix, db_col_text(st, 1), sizeof prefix);
            revoked = !db_col_is_null(st, 2);
            rc = 0;
        } else if (rc == DB_DONE) {
            rc = err_set(err, LUMI_ENOTFOUND, "no API token with id %lld", (long long)id);
        }
    }
    db_finalize(st);
    if (rc == 0 && revoked)
        rc = err_set(err, LUMI_ECONFLICT, "API token %lld is already revoked", (long long)id);
    if (rc == 0) {
        st = db_prepare(db, SQL_REVOKE, err);
        rc = st != NULL ? 0 : (err ? err->code : LUMI_EDB);
        if (rc == 0) {
            db_bind_text(st, 1, now);
            db_bind_int64(st, 2, id);
            rc = db_step(st, err);
            rc = rc < 0 ? rc : 0;
        }
        db_finalize(st);
    }
    if (rc == 0)
        rc = audit_append_id_take(db, actor, "TOKEN_REVOKED", "api_token", id,
                                  json_pack("{s:s s:s}", "name", name, "prefix", prefix), err);
    return finish_tx(db, rc, err);
}
