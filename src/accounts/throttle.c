/*
 * throttle.c — the login throttle over rate_events (see throttle.h).
 *
 * Owns the rate_events kinds login_fail_ai (account, IP), login_fail_ip,
 * login_fail_acct, login_throttled (a throttled attempt, counted only) and
 * login_throttled_row (a throttled attempt that wrote LOGIN_THROTTLED).
 * Rows older than a day are pruned as new ones are written (as signup.c does).
 *
 * Threading: no state; uses only the connection it is given.
 */
#include "accounts/throttle.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"

#define KEEP_S (24 * 3600)
#define ACCOUNT_WINDOW_S 3600

static const char SQL_COUNT[] =
    "SELECT COUNT(*) FROM rate_events WHERE kind = $1 AND key = $2 AND at >= $3";
static const char SQL_NOTE[] = "INSERT INTO rate_events (kind, key, at) VALUES ($1, $2, $3)";
static const char SQL_PRUNE[] = "DELETE FROM rate_events WHERE at < $1";
static const char SQL_LAST_ROW[] =
    "SELECT at FROM rate_events WHERE kind = 'login_throttled_row' AND key = $1"
    " ORDER BY at DESC LIMIT 1";

struct keys {
    char ai[CRYPTO_SHA256_HEX];   /* account + IP */
    char acct[CRYPTO_SHA256_HEX]; /* account */
    const char *ip;
};

static void keys_make(const char *mail, const char *ip, struct keys *k)
{
    char both[600];
    snprintf(both, sizeof both, "%s\n%s", mail, ip != NULL ? ip : "-");
    crypto_sha256_hex(both, strlen(both), k->ai);
    crypto_sha256_hex(mail, strlen(mail), k->acct);
    k->ip = ip;
}

static int count_since(struct db *db, const char *kind, const char *key, const char *since,
                       int64_t *n, struct lumi_err *err)
{
    const char *p[] = {kind, key, since};
    return db_query_int64(db, SQL_COUNT, 3, p, n, err);
}

static int count_window(struct db *db, const char *kind, const char *key, int64_t window_s,
                        int64_t *n, struct lumi_err *err)
{
    char since[UTC_ISO_LEN];
    utc_format(utc_now() - window_s, since);
    return count_since(db, kind, key, since, n, err);
}

/* Inside the open transaction: one event, and the old ones pruned. */
static int note(struct db *db, const char *kind, const char *key, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], old[UTC_ISO_LEN];
    int64_t t = utc_now();
    utc_format(t, now);
    utc_format(t - KEEP_S, old);
    const char *p[] = {kind, key, now};
    int rc = db_execp(db, SQL_NOTE, 3, p, NULL, err);
    const char *q[] = {old};
    if (rc == 0)
        rc = db_execp(db, SQL_PRUNE, 1, q, NULL, err);
    return rc;
}

static int finish(struct db *db, int rc, struct lumi_err *err)
{
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

static int hit_set(struct throttle_hit *hit, const char *scope, const char *key, int64_t window_s,
                   struct lumi_err *err)
{
    hit->scope = scope;
    snprintf(hit->key, sizeof hit->key, "%s:%s", scope, key);
    hit->window_s = window_s;
    return err_set(err, LUMI_ETHROTTLED, "too many failed logins; try again in %lld minutes",
                   (long long)((window_s + 59) / 60));
}

int throttle_login_check(struct db *db, const char *mail, const char *ip,
                         const struct accounts_login_policy *p, struct throttle_hit *hit,
                         struct lumi_err *err)
{
    struct keys k;
    int64_t n = 0;
    int rc = 0;
    int64_t per_account = p->account_max_per_hour > 0 ? p->account_max_per_hour : 100;
    bool account = mail != NULL && mail[0] != '\0';
    keys_make(account ? mail : "", ip, &k);
    memset(hit, 0, sizeof *hit);
    if (account) {
        rc = count_window(db, "login_fail_ai", k.ai, p->window_s, &n, err);
        if (rc == 0 && n >= p->max_failures)
            return hit_set(hit, "account_ip", k.ai, p->window_s, err);
    }
    if (rc == 0 && ip != NULL) {
        rc = count_window(db, "login_fail_ip", ip, p->window_s, &n, err);
        if (rc == 0 && n >= 4 * p->max_failures)
            return hit_set(hit, "ip", ip, p->window_s, err);
    }
    if (rc == 0 && account) {
        rc = count_window(db, "login_fail_acct", k.acct, ACCOUNT_WINDOW_S, &n, err);
        if (rc == 0 && n >= per_account)
            return hit_set(hit, "account", k.acct, ACCOUNT_WINDOW_S, err);
    }
    return rc;
}

int throttle_login_failed(struct db *db, const char *mail, const char *ip, struct lumi_err *err)
{
    struct keys k;
    bool account = mail != NULL && mail[0] != '\0';
    keys_make(account ? mail : "", ip, &k);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    if (account)
        rc = note(db, "login_fail_ai", k.ai, err);
    if (rc == 0 && ip != NULL)
        rc = note(db, "login_fail_ip", ip, err);
    if (rc == 0 && account)
        rc = note(db, "login_fail_acct", k.acct, err);
    return finish(db, rc, err);
}

int throttle_login_throttled(struct db *db, const struct audit_actor *actor, const char *entity_id,
                             const struct throttle_hit *hit, struct lumi_err *err)
{
    char last[UTC_ISO_LEN] = "", since[UTC_ISO_LEN];
    int64_t rows = 0, unreported = 0;
    log_warn("auth.throttled", "scope=%s", hit->scope);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = count_window(db, "login_throttled_row", hit->key, hit->window_s, &rows, err);
    if (rc == 0 && rows > 0) {
        rc = note(db, "login_throttled", hit->key, err);
        return finish(db, rc, err);
    }
    /* The first throttled attempt of this window: one row, carrying the count of
     * the attempts only counted since the key's previous row. */
    struct db_stmt *st = rc == 0 ? db_prepare(db, SQL_LAST_ROW, err) : NULL;
    if (st != NULL) {
        db_bind_text(st, 1, hit->key);
        int s = db_step(st, err);
        if (s == DB_ROW && db_col_text(st, 0) != NULL)
            str_copy(last, db_col_text(st, 0), sizeof last);
        else if (s < 0)
            rc = s;
        db_finalize(st);
    } else if (rc == 0) {
        rc = err ? err->code : LUMI_EDB;
    }
    utc_format(utc_now() - KEEP_S, since);
    if (rc == 0)
        rc = count_since(db, "login_throttled", hit->key, last[0] ? last : since, &unreported, err);
    if (rc == 0) {
        json_t *details = json_pack("{s:s s:I s:I}", "scope", hit->scope, "window_s",
                                    (json_int_t)hit->window_s, "throttled_since_last_row",
                                    (json_int_t)unreported);
        rc = audit_append(db, actor, "LOGIN_THROTTLED", "user", entity_id, details, NULL, err);
        json_decref(details);
    }
    if (rc == 0)
        rc = note(db, "login_throttled_row", hit->key, err);
    return finish(db, rc, err);
}
