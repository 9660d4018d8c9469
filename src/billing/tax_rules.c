/*
 * tax_rules.c — the admin's tax rules: validation, storage, audit (see
 * tax_rules.h).
 *
 * Owns the SQL that writes `tax_rules` (billing/tax.c only reads the active
 * ones). A rule is handled as a JSON object like clients and products: rows
 * are read into one, input is validated into one of normalised values, an
 * update merges the second into the first, and the merged object is written
 * and audited. Uniqueness of the active (country, region) pair is checked in
 * the write transaction (SQLite: BEGIN IMMEDIATE serialises writers;
 * PostgreSQL: the transaction takes an advisory lock first).
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/tax_rules.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "billing/listing.h"
#include "billing/tax.h"
#include "core/json.h"
#include "core/utc.h"

#define REGION_MAX 100
#define RULES_LOCK_KEY INT64_C(0x6c756d6974617872) /* "lumitaxr" */

#define RULE_COLUMNS "id, name, country, region, rate_bp, inclusive, active, created_at, updated_at"

static const char SQL_GET[] = "SELECT " RULE_COLUMNS " FROM tax_rules WHERE id = $1";
static const char SQL_LIST[] =
    "SELECT " RULE_COLUMNS " FROM tax_rules WHERE id > $1 ORDER BY id LIMIT $2";
static const char SQL_INSERT[] =
    "INSERT INTO tax_rules (name, country, region, rate_bp, inclusive, active, created_at,"
    " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id";
static const char SQL_UPDATE[] =
    "UPDATE tax_rules SET name = $1, country = $2, region = $3, rate_bp = $4, inclusive = $5,"
    " active = $6, updated_at = $7 WHERE id = $8";
static const char SQL_DELETE[] = "DELETE FROM tax_rules WHERE id = $1";
static const char SQL_USED[] = "SELECT COUNT(*) FROM invoice_taxes WHERE rule_id = $1";
static const char SQL_CLASH[] =
    "SELECT id FROM tax_rules WHERE active = 1 AND country = $1 AND region = $2 AND id <> $3"
    " ORDER BY id LIMIT 1";

static const char *const KEYS[] = {"name",      "country", "region", "rate",
                                   "inclusive", "active",  NULL};

/* ---- JSON ------------------------------------------------------------------- */

static json_t *rule_row(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:b, s:s, s:s}", "id",
                          (json_int_t)db_col_int64(st, 0), "name", db_col_text(st, 1), "country",
                          db_col_text(st, 2), "region",
                          db_col_text(st, 3) != NULL ? db_col_text(st, 3) : "", "rate",
                          (json_int_t)db_col_int64(st, 4), "inclusive", db_col_int64(st, 5) != 0,
                          "active", db_col_int64(st, 6) != 0, "created_at", db_col_text(st, 7),
                          "updated_at", db_col_text(st, 8));
    if (o == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory reading a tax rule");
    return o;
}

/* An ISO 3166-1 alpha-2 code, any case, into up (upper-case); false otherwise. */
static bool country_code(const char *s, char up[3])
{
    if (s == NULL || strlen(s) != 2)
        return false;
    for (int i = 0; i < 2; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z')
            return false;
        up[i] = c;
    }
    up[2] = '\0';
    return true;
}

/* Validates in into out (normalised members present); create: required ones and defaults. */
static int validate(const json_t *in, bool create, json_t *out, struct lumi_err *err)
{
    const char *name = NULL, *country = NULL, *region = NULL;
    int64_t rate = 0;
    bool flag = false;
    char cc[3];
    int rc;
    if (!json_is_object(in))
        return err_set(err, LUMI_EINVAL, "the body must be a JSON object");
    if (jsonx_check_keys(in, KEYS, err) < 0)
        return LUMI_EINVAL;
    if (!create && json_object_size(in) == 0)
        return err_set(err, LUMI_EINVAL, "request body must name at least one field to change");
    rc = jsonx_take_str(in, "name", create, TAX_NAME_MAX, &name, err);
    if (rc < 0)
        return rc;
    if (rc == 0 && !create && json_is_null(json_object_get(in, "name")))
        return err_set(err, LUMI_EINVAL, "field 'name' cannot be null");
    if (rc == 1 && name[0] == '\0')
        return err_set(err, LUMI_EINVAL, "field 'name' must not be empty");
    if (rc == 1 && jsonx_set_str(out, "name", name) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    const json_t *cv = json_object_get(in, "country");
    if (cv != NULL || create) {
        if (!country_code(json_string_value(cv), cc))
            return err_set(err, LUMI_EINVAL,
                           "field 'country' must be an ISO 3166-1 alpha-2 country code such as "
                           "\"DE\"");
        country = cc;
        if (jsonx_set_str(out, "country", country) < 0)
            return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    const json_t *rv = json_object_get(in, "region");
    if (rv != NULL && !json_is_null(rv)) {
        if (jsonx_take_str(in, "region", false, REGION_MAX, &region, err) < 0)
            return LUMI_EINVAL;
    }
    if ((rv != NULL || create) && jsonx_set_str(out, "region", region != NULL ? region : "") < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    const json_t *pv = json_object_get(in, "rate");
    if (pv != NULL || create) {
        if (!json_is_integer(pv) || json_integer_value(pv) < 0 ||
            json_integer_value(pv) > TAX_RATE_MAX)
            return err_set(err, LUMI_EINVAL,
                           "field 'rate' must be an integer number of basis points from 0 to %d "
                           "(1900 = 19.00 %%)",
                           TAX_RATE_MAX);
        rate = json_integer_value(pv);
        if (jsonx_set_int(out, "rate", rate) < 0)
            return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    static const char *const flags[] = {"inclusive", "active"};
    for (int i = 0; i < 2; i++) {
        const json_t *fv = json_object_get(in, flags[i]);
        if (fv != NULL && !json_is_boolean(fv))
            return err_set(err, LUMI_EINVAL, "field '%s' must be true or false", flags[i]);
        flag = fv != NULL ? json_is_true(fv) : i == 1;
        if ((fv != NULL || create) && jsonx_set_bool(out, flags[i], flag) < 0)
            return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- storage ---------------------------------------------------------------- */

static int bind_rule(struct db_stmt *st, const json_t *r, const char *now, struct lumi_err *err)
{
    if (db_bind_text(st, 1, json_string_value(json_object_get(r, "name"))) < 0 ||
        db_bind_text(st, 2, json_string_value(json_object_get(r, "country"))) < 0 ||
        db_bind_text(st, 3, json_string_value(json_object_get(r, "region"))) < 0 ||
        db_bind_int64(st, 4, json_integer_value(json_object_get(r, "rate"))) < 0 ||
        db_bind_int64(st, 5, json_is_true(json_object_get(r, "inclusive"))) < 0 ||
        db_bind_int64(st, 6, json_is_true(json_object_get(r, "active"))) < 0 ||
        db_bind_text(st, 7, now) < 0)
        return err_set(err, LUMI_EDB, "cannot bind a parameter");
    return 0;
}

/* 409 when another active rule covers the same place (the rule would be ambiguous). */
static int check_clash(struct db *db, const json_t *r, int64_t id, struct lumi_err *err)
{
    if (!json_is_true(json_object_get(r, "active")))
        return 0;
    const char *country = json_string_value(json_object_get(r, "country"));
    const char *region = json_string_value(json_object_get(r, "region"));
    char idtext[24];
    int64_t other = 0;
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    const char *p[] = {country, region, idtext};
    int rc = db_query_int64(db, SQL_CLASH, 3, p, &other, err);
    if (rc == LUMI_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    return err_set(err, LUMI_ECONFLICT,
                   "tax rule %" PRId64 " already applies to %s%s%s; change or deactivate it "
                   "first (one active rule per country and region)",
                   other, country, region[0] != '\0' ? " region " : " (whole country)", region);
}

static int begin_locked(struct db *db, struct lumi_err *err)
{
    int rc = db_begin(db, err);
    if (rc == 0 && db_kind(db) == DB_POSTGRES)
        rc = db_tx_lock(db, RULES_LOCK_KEY, err);
    if (rc < 0 && db_in_tx(db))
        db_rollback(db);
    return rc;
}

static int insert_rule(struct db *db, const json_t *r, const char *now, int64_t *id,
                       struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = bind_rule(st, r, now, err);
    if (rc == 0)
        rc = db_step_id(st, "a tax rule", id, err);
    db_finalize(st);
    return rc;
}

static int update_rule(struct db *db, int64_t id, const json_t *r, const char *now,
                       struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_UPDATE, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = bind_rule(st, r, now, err);
    if (rc == 0 && db_bind_int64(st, 8, id) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* ---- public ------------------------------------------------------------------ */

json_t *tax_rules_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                       struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return listing_page(db, SQL_LIST, after_id, limit, rule_row, next_cursor, err);
}

json_t *tax_rules_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return listing_get(db, SQL_GET, id, rule_row, "tax rule", err);
}

json_t *tax_rules_create(struct db *db, const struct audit_actor *actor, const json_t *body,
                         struct lumi_err *err)
{
    struct lumi_err local;
    char now[UTC_ISO_LEN];
    int64_t id = 0;
    json_t *r = json_object(), *result = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (r == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (validate(body, true, r, err) < 0 || begin_locked(db, err) < 0)
        goto out;
    in_tx = true;
    utc_now_iso(now);
    if (check_clash(db, r, 0, err) < 0 || insert_rule(db, r, now, &id, err) < 0)
        goto out;
    result = tax_rules_get(db, id, err);
    if (result == NULL ||
        audit_append_id(db, actor, "TAX_RULE_CREATED", "tax_rule", id, result, err) < 0 ||
        db_commit(db, err) < 0) {
        json_decref(result);
        result = NULL;
        goto out;
    }
    in_tx = false;
out:
    if (in_tx)
        db_rollback(db);
    json_decref(r);
    return result;
}

json_t *tax_rules_update(struct db *db, const struct audit_actor *actor, int64_t id,
                         const json_t *patch, struct lumi_err *err)
{
    struct lumi_err local;
    char now[UTC_ISO_LEN];
    json_t *want = json_object(), *cur = NULL, *changed = NULL, *details = NULL, *result = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (want == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (validate(patch, false, want, err) < 0 || begin_locked(db, err) < 0)
        goto out;
    in_tx = true;
    cur = tax_rules_get(db, id, err);
    if (cur == NULL)
        goto out;
    changed = jsonx_apply_changes(cur, want);
    if (changed == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (json_object_size(changed) == 0) {
        result = cur; /* nothing differs: no write, no audit row */
        cur = NULL;
        goto out;
    }
    utc_now_iso(now);
    details = json_pack("{s:O}", "changed", changed);
    if (details == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (check_clash(db, cur, id, err) < 0 || update_rule(db, id, cur, now, err) < 0 ||
        audit_append_id(db, actor, "TAX_RULE_UPDATED", "tax_rule", id, details, err) < 0)
        goto out;
    result = tax_rules_get(db, id, err);
    if (result == NULL || db_commit(db, err) < 0) {
        json_decref(result);
        result = NULL;
        goto out;
    }
    in_tx = false;
out:
    if (in_tx)
        db_rollback(db);
    json_decref(want);
    json_decref(cur);
    json_decref(changed);
    json_decref(details);
    return result;
}

int tax_rules_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                     struct lumi_err *err)
{
    struct lumi_err local;
    char idtext[24];
    int64_t used = 0;
    json_t *cur = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    const char *p[] = {idtext};
    rc = begin_locked(db, err);
    if (rc < 0)
        return rc;
    cur = tax_rules_get(db, id, err);
    if (cur == NULL) {
        rc = err->code;
        goto out;
    }
    rc = db_query_int64(db, SQL_USED, 1, p, &used, err);
    if (rc < 0)
        goto out;
    if (used > 0) {
        rc = err_set(err, LUMI_ECONFLICT,
                     "tax rule %" PRId64 " is on %" PRId64 " invoice(s) and cannot be deleted; "
                     "deactivate it instead (active: false)",
                     id, used);
        goto out;
    }
    rc = db_execp(db, SQL_DELETE, 1, p, NULL, err);
    if (rc == 0)
        rc = audit_append_id(db, actor, "TAX_RULE_DELETED", "tax_rule", id, cur, err);
    if (rc == 0)
        rc = db_commit(db, err);
out:
    if (rc < 0)
        db_rollback(db);
    json_decref(cur);
    return rc < 0 ? rc : 0;
}
