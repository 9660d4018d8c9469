/*
 * coupons.c — discount codes (see coupons.h). Owns the SQL over `coupons`,
 * `coupon_uses` and the coupon columns of `services`.
 *
 * Redeeming: the code is looked up and checked (active, expiry, product,
 * currency, uses) for a clear 400, then one use is taken with
 *   UPDATE coupons SET uses = uses + 1 WHERE id = $1 AND active = 1
 *     AND (max_uses = 0 OR uses < max_uses)
 * whose row count is the only authority: on PostgreSQL a racing order waits
 * for the row lock and re-checks the WHERE on the committed row, on SQLite
 * writers are serialised; the loser gets LUMI_ECONFLICT and its order rolls
 * back whole.
 *
 * Percent discounts round half away from zero in minor units (value is in
 * basis points: 1000 = 10 %). A renewal keeps discounting after the coupon
 * is deactivated or expires: the client got the deal when ordering.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/coupons.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "billing/invoices.h"
#include "core/json.h"
#include "core/money.h"
#include "core/utc.h"

#define LIST_MAX 1000
#define PRODUCTS_MAX 100
#define CYCLES_MAX 1000
#define USES_MAX 1000000000
#define FIXED_MAX INT64_C(100000000000)

#define COUPON_COLUMNS                                                                             \
    "id, code, kind, value, currency, cycles, product_ids, max_uses, uses, expires_at, active,"   \
    " created_at, updated_at"

static const char SQL_LIST[] =
    "SELECT " COUPON_COLUMNS " FROM coupons ORDER BY id DESC LIMIT 1000";
static const char SQL_GET[] = "SELECT " COUPON_COLUMNS " FROM coupons WHERE id = $1";
static const char SQL_BY_CODE[] = "SELECT " COUPON_COLUMNS " FROM coupons WHERE code = $1";
static const char SQL_INSERT[] =
    "INSERT INTO coupons (code, kind, value, currency, cycles, product_ids, max_uses, uses,"
    " expires_at, active, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $10) RETURNING id";
static const char SQL_UPDATE[] =
    "UPDATE coupons SET code = $2, kind = $3, value = $4, currency = $5, cycles = $6,"
    " product_ids = $7, max_uses = $8, expires_at = $9, active = $10, updated_at = $11"
    " WHERE id = $1";
static const char SQL_USED[] =
    "SELECT (SELECT COUNT(*) FROM coupon_uses WHERE coupon_id = $1)"
    " + (SELECT COUNT(*) FROM services WHERE coupon_id = $1)";
static const char SQL_DELETE[] = "DELETE FROM coupons WHERE id = $1";
static const char SQL_PRODUCT[] = "SELECT id FROM products WHERE id = $1";
static const char SQL_TAKE_USE[] =
    "UPDATE coupons SET uses = uses + 1, updated_at = $2 WHERE id = $1 AND active = 1"
    " AND (max_uses = 0 OR uses < max_uses)";
static const char SQL_INSERT_USE[] =
    "INSERT INTO coupon_uses (coupon_id, client_id, invoice_id, service_id, created_at)"
    " VALUES ($1, $2, $3, $4, $5)";
static const char SQL_SERVICE_SET[] =
    "UPDATE services SET coupon_id = $2, coupon_cycles_left = $3 WHERE id = $1";
static const char SQL_SERVICE_COUPON[] =
    "SELECT c.code, c.kind, c.value, c.currency, c.cycles, s.coupon_cycles_left, c.id"
    " FROM services s JOIN coupons c ON c.id = s.coupon_id WHERE s.id = $1";
static const char SQL_SERVICE_COUNT_DOWN[] =
    "UPDATE services SET coupon_cycles_left = coupon_cycles_left - 1"
    " WHERE id = $1 AND coupon_cycles_left > 0";

static const char *const KINDS[] = {"percent", "fixed", NULL};

/* A coupon as validated, before it is written. */
struct cdef {
    char code[COUPON_CODE_MAX + 1];
    char kind[8];
    int64_t value;
    char currency[4]; /* "" = none */
    int64_t cycles;
    char *product_ids; /* JSON text, owned */
    int64_t max_uses;
    char expires_at[UTC_ISO_LEN]; /* "" = never */
    bool active;
    int64_t uses;
};

static int bind_fail(struct lumi_err *err)
{
    return err_set(err, LUMI_EDB, "cannot bind a parameter");
}

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static json_t *text_or_null(struct db_stmt *st, int col)
{
    return db_col_is_null(st, col) ? json_null() : json_string(db_col_text(st, col));
}

static json_t *coupon_row(struct db_stmt *st)
{
    const char *ids = db_col_text(st, 6);
    json_t *products = json_loads(ids != NULL ? ids : "[]", JSON_REJECT_DUPLICATES, NULL);
    if (products == NULL)
        products = json_array();
    return json_pack("{s:I, s:s, s:s, s:I, s:o, s:I, s:o, s:I, s:I, s:o, s:b, s:s, s:s}", "id",
                     (json_int_t)db_col_int64(st, 0), "code", db_col_text(st, 1), "kind",
                     db_col_text(st, 2), "value", (json_int_t)db_col_int64(st, 3), "currency",
                     text_or_null(st, 4), "cycles", (json_int_t)db_col_int64(st, 5),
                     "product_ids", products, "max_uses", (json_int_t)db_col_int64(st, 7), "uses",
                     (json_int_t)db_col_int64(st, 8), "expires_at", text_or_null(st, 9), "active",
                     db_col_int64(st, 10) != 0, "created_at", db_col_text(st, 11), "updated_at",
                     db_col_text(st, 12));
}

/* The one row of sql bound to id (or to text when id is 0), or NULL (LUMI_ENOTFOUND). */
static json_t *fetch(struct db *db, const char *sql, int64_t id, const char *text,
                     struct lumi_err *err)
{
    json_t *row = NULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return NULL;
    int rc = (text != NULL ? db_bind_text(st, 1, text) : db_bind_int64(st, 1, id)) < 0
                 ? bind_fail(err)
                 : db_step(st, err);
    if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "coupon not found");
    if (rc == DB_ROW) {
        row = coupon_row(st);
        if (row == NULL)
            nomem(err);
    }
    db_finalize(st);
    return row;
}

json_t *coupons_list(struct db *db, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *rows = json_array(), *result = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    struct db_stmt *st = db_prepare(db, SQL_LIST, err);
    if (st == NULL || rows == NULL)
        goto out;
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *row = coupon_row(st);
        if (row == NULL || json_array_append_new(rows, row) < 0) {
            nomem(err);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    result = rows;
    rows = NULL;
out:
    if (result == NULL && err->code == 0)
        nomem(err);
    db_finalize(st);
    json_decref(rows);
    return result;
}

json_t *coupons_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return fetch(db, SQL_GET, id, NULL, err);
}

/* ---- validation ---------------------------------------------------------- */

static int take_code(const char *in, char out[COUPON_CODE_MAX + 1], struct lumi_err *err)
{
    size_t n = strlen(in);
    if (n == 0 || n > COUPON_CODE_MAX)
        return err_set(err, LUMI_EINVAL, "field 'code' must be 1 to %d characters",
                       COUPON_CODE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return err_set(err, LUMI_EINVAL,
                           "field 'code' may hold only letters, digits, '-' and '_'");
        out[i] = (char)toupper(c);
    }
    out[n] = '\0';
    return 0;
}

static int take_products(struct db *db, const json_t *v, struct cdef *d, struct lumi_err *err)
{
    size_t i;
    json_t *item;
    if (!json_is_array(v) || json_array_size(v) > PRODUCTS_MAX)
        return err_set(err, LUMI_EINVAL,
                       "field 'product_ids' must be a list of at most %d product ids", PRODUCTS_MAX);
    json_array_foreach(v, i, item)
    {
        int64_t id = json_is_integer(item) ? json_integer_value(item) : 0, found = 0;
        char idt[24];
        if (id <= 0)
            return err_set(err, LUMI_EINVAL, "field 'product_ids[%zu]' must be a product id", i);
        snprintf(idt, sizeof idt, "%" PRId64, id);
        const char *params[] = {idt};
        int rc = db_query_int64_opt(db, SQL_PRODUCT, 1, params, &found, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return err_set(err, LUMI_EINVAL, "field 'product_ids[%zu]': no product %" PRId64, i,
                           id);
    }
    free(d->product_ids);
    d->product_ids = json_dumps(v, JSON_COMPACT);
    return d->product_ids != NULL ? 0 : nomem(err);
}

static int take_expiry(const json_t *body, struct cdef *d, struct lumi_err *err)
{
    const json_t *v = json_object_get(body, "expires_at");
    int64_t t = 0;
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        d->expires_at[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || utc_parse(json_string_value(v), &t, NULL) < 0)
        return err_set(err, LUMI_EINVAL,
                       "field 'expires_at' must be a date (YYYY-MM-DD) or date-time (ISO 8601)");
    utc_format(t, d->expires_at);
    return 0;
}

static int take_currency(const json_t *body, struct cdef *d, struct lumi_err *err)
{
    const json_t *v = json_object_get(body, "currency");
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        d->currency[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || money_currency_normalize(json_string_value(v), d->currency) < 0)
        return err_set(err, LUMI_EINVAL, "field 'currency' is not a known currency");
    return 0;
}

/* Applies the members of body onto d (a default or the stored coupon), then checks the whole. */
static int apply_body(struct db *db, const json_t *body, struct cdef *d, bool create,
                      struct lumi_err *err)
{
    static const char *const allowed[] = {"code",     "kind",       "value",  "currency",
                                          "cycles",   "product_ids", "max_uses", "expires_at",
                                          "active",   NULL};
    const char *s = NULL;
    json_t *products = NULL;
    int rc;
    if (!json_is_object(body))
        return err_set(err, LUMI_EINVAL, "the body must be a JSON object");
    if (jsonx_check_keys(body, allowed, err) < 0)
        return LUMI_EINVAL;
    rc = jsonx_take_str(body, "code", create, COUPON_CODE_MAX, &s, err);
    if (rc < 0 || (rc == 1 && take_code(s, d->code, err) < 0))
        return LUMI_EINVAL;
    rc = jsonx_take_enum(body, "kind", create, KINDS, &s, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        snprintf(d->kind, sizeof d->kind, "%s", s);
    if (jsonx_take_int(body, "value", create, 1, FIXED_MAX, &d->value, err) < 0 ||
        take_currency(body, d, err) < 0 ||
        jsonx_take_int(body, "cycles", false, 0, CYCLES_MAX, &d->cycles, err) < 0 ||
        jsonx_take_int(body, "max_uses", false, 0, USES_MAX, &d->max_uses, err) < 0 ||
        jsonx_take_bool(body, "active", false, &d->active, err) < 0 ||
        take_expiry(body, d, err) < 0)
        return LUMI_EINVAL;
    products = json_object_get(body, "product_ids");
    if (products != NULL && !json_is_null(products) && take_products(db, products, d, err) < 0)
        return err->code;
    if (strcmp(d->kind, "percent") == 0 && d->value > 10000)
        return err_set(err, LUMI_EINVAL,
                       "field 'value' of a percent coupon is in basis points: 1 to 10000 "
                       "(10000 = 100 %%)");
    if (strcmp(d->kind, "percent") == 0 && d->currency[0] != '\0')
        return err_set(err, LUMI_EINVAL,
                       "field 'currency' is only for fixed coupons (a percent applies to any)");
    if (strcmp(d->kind, "fixed") == 0 && d->currency[0] == '\0')
        return err_set(err, LUMI_EINVAL, "field 'currency' is required for a fixed coupon");
    if (d->max_uses > 0 && d->uses > d->max_uses)
        return err_set(err, LUMI_EINVAL,
                       "field 'max_uses' cannot be below the %" PRId64 " uses already made",
                       d->uses);
    return 0;
}

/* Binds d's columns from index first: code, kind, value, currency … active. */
static int bind_def(struct db_stmt *st, int first, const struct cdef *d)
{
    return db_bind_text(st, first, d->code) < 0 || db_bind_text(st, first + 1, d->kind) < 0 ||
                   db_bind_int64(st, first + 2, d->value) < 0 ||
                   db_bind_text(st, first + 3, d->currency[0] ? d->currency : NULL) < 0 ||
                   db_bind_int64(st, first + 4, d->cycles) < 0 ||
                   db_bind_text(st, first + 5, d->product_ids ? d->product_ids : "[]") < 0 ||
                   db_bind_int64(st, first + 6, d->max_uses) < 0 ||
                   db_bind_text(st, first + 7, d->expires_at[0] ? d->expires_at : NULL) < 0 ||
                   db_bind_int64(st, first + 8, d->active ? 1 : 0) < 0
               ? -1
               : 0;
}

static int audit_coupon(struct db *db, const struct audit_actor *actor, const char *action,
                        int64_t id, const json_t *coupon, struct lumi_err *err)
{
    json_t *d = coupon != NULL ? json_deep_copy(coupon) : json_object();
    if (d == NULL)
        return nomem(err);
    int rc = audit_append_id(db, actor, action, "coupon", id, d, err);
    json_decref(d);
    return rc;
}

static int code_taken(struct lumi_err *err, const char *code)
{
    return err_set(err, LUMI_ECONFLICT, "field 'code': coupon %s already exists", code);
}

json_t *coupons_create(struct db *db, const struct audit_actor *actor, const json_t *body,
                       struct lumi_err *err)
{
    struct lumi_err local;
    struct cdef d = {.cycles = 1, .active = true};
    char now[UTC_ISO_LEN];
    int64_t id = 0;
    json_t *result = NULL;
    struct db_stmt *st = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    if (apply_body(db, body, &d, true, err) < 0)
        goto out;
    utc_now_iso(now);
    st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        goto out;
    if (bind_def(st, 1, &d) < 0 || db_bind_text(st, 10, now) < 0) {
        bind_fail(err);
        goto out;
    }
    int rc = db_step(st, err);
    if (rc == LUMI_ECONFLICT) {
        code_taken(err, d.code);
        goto out;
    }
    if (rc != DB_ROW)
        goto out;
    id = db_col_int64(st, 0);
    db_finalize(st);
    st = NULL;
    result = fetch(db, SQL_GET, id, NULL, err);
    if (result == NULL || audit_coupon(db, actor, "COUPON_CREATED", id, result, err) < 0 ||
        db_commit(db, err) < 0) {
        json_decref(result);
        result = NULL;
        goto out;
    }
    in_tx = false;
out:
    db_finalize(st);
    if (in_tx)
        db_rollback(db);
    free(d.product_ids);
    return result;
}

/* The stored coupon as a cdef (for PATCH). */
static int load_def(const json_t *c, struct cdef *d, struct lumi_err *err)
{
    snprintf(d->code, sizeof d->code, "%s", json_string_value(json_object_get(c, "code")));
    snprintf(d->kind, sizeof d->kind, "%s", json_string_value(json_object_get(c, "kind")));
    d->value = json_integer_value(json_object_get(c, "value"));
    const char *cur = json_string_value(json_object_get(c, "currency"));
    snprintf(d->currency, sizeof d->currency, "%s", cur != NULL ? cur : "");
    d->cycles = json_integer_value(json_object_get(c, "cycles"));
    d->product_ids = json_dumps(json_object_get(c, "product_ids"), JSON_COMPACT);
    d->max_uses = json_integer_value(json_object_get(c, "max_uses"));
    d->uses = json_integer_value(json_object_get(c, "uses"));
    const char *exp = json_string_value(json_object_get(c, "expires_at"));
    snprintf(d->expires_at, sizeof d->expires_at, "%s", exp != NULL ? exp : "");
    d->active = json_is_true(json_object_get(c, "active"));
    return d->product_ids != NULL ? 0 : nomem(err);
}

json_t *coupons_update(struct db *db, const struct audit_actor *actor, int64_t id,
                       const json_t *body, struct lumi_err *err)
{
    struct lumi_err local;
    struct cdef d = {0};
    char now[UTC_ISO_LEN];
    json_t *before = NULL, *result = NULL, *details = NULL;
    struct db_stmt *st = NULL;
    bool in_tx = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    before = fetch(db, SQL_GET, id, NULL, err);
    if (before == NULL || load_def(before, &d, err) < 0 || apply_body(db, body, &d, false, err) < 0)
        goto out;
    utc_now_iso(now);
    st = db_prepare(db, SQL_UPDATE, err);
    if (st == NULL)
        goto out;
    if (db_bind_int64(st, 1, id) < 0 || bind_def(st, 2, &d) < 0 || db_bind_text(st, 11, now) < 0) {
        bind_fail(err);
        goto out;
    }
    int rc = db_step(st, err);
    if (rc == LUMI_ECONFLICT) {
        code_taken(err, d.code);
        goto out;
    }
    if (rc < 0)
        goto out;
    db_finalize(st);
    st = NULL;
    result = fetch(db, SQL_GET, id, NULL, err);
    if (result == NULL)
        goto out;
    details = json_pack("{s:O, s:O}", "before", before, "after", result);
    if (details == NULL || audit_append_id(db, actor, "COUPON_UPDATED", "coupon", id, details,
                                           err) < 0 ||
        db_commit(db, err) < 0) {
        if (details == NULL)
            nomem(err);
        json_decref(result);
        result = NULL;
        goto out;
    }
    in_tx = false;
out:
    db_finalize(st);
    if (in_tx)
        db_rollback(db);
    json_decref(before);
    json_decref(details);
    free(d.product_ids);
    return result;
}

int coupons_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                   struct lumi_err *err)
{
    struct lumi_err local;
    char idt[24];
    int64_t used = 0;
    json_t *before = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    before = fetch(db, SQL_GET, id, NULL, err);
    if (before == NULL) {
        rc = err->code;
        goto out;
    }
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *params[] = {idt};
    rc = db_query_int64(db, SQL_USED, 1, params, &used, err);
    if (rc < 0)
        goto out;
    if (used > 0) {
        rc = err_set(err, LUMI_ECONFLICT,
                     "coupon %s has been used; deactivate it (PATCH {\"active\": false}) instead",
                     json_string_value(json_object_get(before, "code")));
        goto out;
    }
    rc = db_execp(db, SQL_DELETE, 1, params, NULL, err);
    if (rc == 0)
        rc = audit_coupon(db, actor, "COUPON_DELETED", id, before, err);
    if (rc == 0)
        rc = db_commit(db, err);
out:
    if (rc < 0)
        db_rollback(db);
    json_decref(before);
    return rc < 0 ? rc : 0;
}

/* ---- redeeming at order ------------------------------------------------- */

static bool product_allowed(const json_t *ids, int64_t product_id)
{
    size_t i;
    json_t *v;
    if (json_array_size(ids) == 0)
        return true;
    json_array_foreach(ids, i, v)
    {
        if (json_integer_value(v) == product_id)
            return true;
    }
    return false;
}

static int check_redeemable(const json_t *c, const char *code, int64_t product_id,
                            const char *currency, struct lumi_err *err)
{
    const char *exp = json_string_value(json_object_get(c, "expires_at"));
    const char *cur = json_string_value(json_object_get(c, "currency"));
    int64_t t = 0, max = json_integer_value(json_object_get(c, "max_uses"));
    if (!json_is_true(json_object_get(c, "active")))
        return err_set(err, LUMI_EINVAL, "field 'coupon': coupon %s is not active", code);
    if (exp != NULL && utc_parse(exp, &t, NULL) == 0 && t <= utc_now())
        return err_set(err, LUMI_EINVAL, "field 'coupon': coupon %s expired on %.10s", code, exp);
    if (!product_allowed(json_object_get(c, "product_ids"), product_id))
        return err_set(err, LUMI_EINVAL, "field 'coupon': coupon %s does not apply to this product",
                       code);
    if (cur != NULL && strcasecmp(cur, currency) != 0)
        return err_set(err, LUMI_EINVAL,
                       "field 'coupon': coupon %s is for orders in %s, this order is in %s", code,
                       cur, currency);
    if (max > 0 && json_integer_value(json_object_get(c, "uses")) >= max)
        return err_set(err, LUMI_ECONFLICT, "field 'coupon': coupon %s has no uses left", code);
    return 0;
}

int coupons_redeem_in_tx(struct db *db, const char *code, int64_t product_id,
                         const char *currency, struct coupon_pick *pick, struct lumi_err *err)
{
    char upper[COUPON_CODE_MAX + 1], now[UTC_ISO_LEN], idt[24];
    int64_t changed = 0;
    json_t *c = NULL;
    int rc;
    memset(pick, 0, sizeof *pick);
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "coupons_redeem_in_tx needs an open transaction");
    if (code == NULL || take_code(code, upper, err) < 0)
        return err_set(err, LUMI_EINVAL, "field 'coupon': no such coupon");
    c = fetch(db, SQL_BY_CODE, 0, upper, err);
    if (c == NULL) {
        if (err->code == LUMI_ENOTFOUND)
            return err_set(err, LUMI_EINVAL, "field 'coupon': no coupon %s", upper);
        return err->code;
    }
    rc = check_redeemable(c, upper, product_id, currency, err);
    if (rc < 0)
        goto out;
    pick->id = json_integer_value(json_object_get(c, "id"));
    snprintf(pick->code, sizeof pick->code, "%s", upper);
    snprintf(pick->kind, sizeof pick->kind, "%s", json_string_value(json_object_get(c, "kind")));
    pick->value = json_integer_value(json_object_get(c, "value"));
    pick->cycles = json_integer_value(json_object_get(c, "cycles"));
    utc_now_iso(now);
    snprintf(idt, sizeof idt, "%" PRId64, pick->id);
    const char *params[] = {idt, now};
    rc = db_execp(db, SQL_TAKE_USE, 2, params, &changed, err);
    if (rc == 0 && changed != 1)
        rc = err_set(err, LUMI_ECONFLICT,
                     "field 'coupon': coupon %s has no uses left (another order took the last "
                     "one)",
                     upper);
out:
    if (rc < 0)
        memset(pick, 0, sizeof *pick);
    json_decref(c);
    return rc;
}

/* "10 %", "12.5 %" from basis points. */
static void percent_text(int64_t bp, char *out, size_t sz)
{
    if (bp % 100 == 0)
        snprintf(out, sz, "%" PRId64 " %%", bp / 100);
    else if (bp % 10 == 0)
        snprintf(out, sz, "%" PRId64 ".%" PRId64 " %%", bp / 100, (bp % 100) / 10);
    else
        snprintf(out, sz, "%" PRId64 ".%02" PRId64 " %%", bp / 100, bp % 100);
}

static int line_of(const char *code, const char *kind, int64_t value, int64_t base,
                   const char *currency, struct coupon_line *line, struct lumi_err *err)
{
    char what[48];
    int64_t d = 0;
    memset(line, 0, sizeof *line);
    if (base <= 0)
        return 0;
    if (strcmp(kind, "percent") == 0) {
        if (__builtin_mul_overflow(base, value, &d) || __builtin_add_overflow(d, 5000, &d))
            return err_set(err, LUMI_EINVAL, "the discount is too large to compute");
        d /= 10000;
        percent_text(value, what, sizeof what);
    } else {
        d = value;
        money_format_text(value, currency, what, sizeof what);
    }
    if (d > base)
        d = base;
    if (d <= 0)
        return 0;
    line->amount = d;
    snprintf(line->description, sizeof line->description, "Coupon %s (\u2212%s)", code, what);
    return 0;
}

int coupons_line(const struct coupon_pick *pick, int64_t base, const char *currency,
                 struct coupon_line *line, struct lumi_err *err)
{
    memset(line, 0, sizeof *line);
    if (pick == NULL || pick->id <= 0)
        return 0;
    return line_of(pick->code, pick->kind, pick->value, base, currency, line, err);
}

int coupons_note_discount(struct db *db, int64_t invoice_id, int64_t discount,
                          struct lumi_err *err)
{
    return discount > 0 ? invoices_set_discount(db, invoice_id, discount, err) : 0;
}

int coupons_record_use(struct db *db, const struct coupon_pick *pick, int64_t client_id,
                       int64_t invoice_id, int64_t service_id, int64_t discount,
                       struct lumi_err *err)
{
    char cid[24], uid[24], iid[24], sid[24], left[24], now[UTC_ISO_LEN];
    if (pick == NULL || pick->id <= 0)
        return 0;
    utc_now_iso(now);
    snprintf(cid, sizeof cid, "%" PRId64, pick->id);
    snprintf(uid, sizeof uid, "%" PRId64, client_id);
    snprintf(iid, sizeof iid, "%" PRId64, invoice_id);
    snprintf(sid, sizeof sid, "%" PRId64, service_id);
    const char *use[] = {cid, uid, iid, service_id > 0 ? sid : NULL, now};
    int rc = db_execp(db, SQL_INSERT_USE, 5, use, NULL, err);
    if (rc == 0)
        rc = coupons_note_discount(db, invoice_id, discount, err);
    if (rc < 0 || service_id <= 0 || pick->cycles == 1)
        return rc;
    /* 0 = every renewal (the count is not used); n = n - 1 renewals after this invoice */
    snprintf(left, sizeof left, "%" PRId64, pick->cycles == 0 ? 0 : pick->cycles - 1);
    const char *svc[] = {sid, cid, left};
    return db_execp(db, SQL_SERVICE_SET, 3, svc, NULL, err);
}

int coupons_for_renewal(struct db *db, int64_t service_id, int64_t base, const char *currency,
                        struct coupon_line *line, struct lumi_err *err)
{
    char code[COUPON_CODE_MAX + 1], kind[8], cur[8], sid[24];
    int64_t value = 0, cycles = 0, left = 0;
    memset(line, 0, sizeof *line);
    struct db_stmt *st = db_prepare(db, SQL_SERVICE_COUPON, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, service_id) < 0 ? bind_fail(err) : db_step(st, err);
    if (rc == DB_ROW) {
        snprintf(code, sizeof code, "%s", db_col_text(st, 0));
        snprintf(kind, sizeof kind, "%s", db_col_text(st, 1));
        value = db_col_int64(st, 2);
        snprintf(cur, sizeof cur, "%s", db_col_is_null(st, 3) ? "" : db_col_text(st, 3));
        cycles = db_col_int64(st, 4);
        left = db_col_int64(st, 5);
    }
    db_finalize(st);
    if (rc != DB_ROW)
        return rc < 0 ? rc : 0;
    if ((cycles != 0 && left <= 0) || (cur[0] != '\0' && strcasecmp(cur, currency) != 0))
        return 0;
    rc = line_of(code, kind, value, base, currency, line, err);
    if (rc < 0 || line->amount == 0 || cycles == 0)
        return rc;
    snprintf(sid, sizeof sid, "%" PRId64, service_id);
    const char *params[] = {sid};
    return db_execp(db, SQL_SERVICE_COUNT_DOWN, 1, params, NULL, err);
}
