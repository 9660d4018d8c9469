/*
 * services.c — orders and lifecycle requests of services (see services.h).
 *
 * Owns the SQL over `services`, the reads of `provision_attempts`, the
 * placement of a new service on a server (a product's server, or the best
 * server of its group), and the settings row "installation.id" that makes
 * remote keys unique per installation. Panel calls never happen here: a
 * decision is a row in `jobs`, written in the same transaction as the check
 * that allowed it (provision.c runs it later).
 *
 * An order reads the product's price rows (product_prices, read-only here)
 * to charge the cycle and currency asked for. The admin's order and the
 * client's own (the store) are one code path, order_place; the client's adds
 * its checks (visible product, confirmed e-mail per the setting
 * store.require_verified_email) and words a full server as "out of stock".
 * An order with nothing to pay settles its 0 invoice in the same transaction.
 *
 * Placement takes a slot with servers_reserve_slot, a guarded UPDATE, so two
 * concurrent orders can never overfill a server; a candidate that filled up
 * since it was listed is skipped for the next one. On PostgreSQL the service
 * row is locked (FOR UPDATE) while a request checks its status; on SQLite
 * BEGIN IMMEDIATE already serialises writers.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "provisioning/services.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/products.h"
#include "billing/coupons.h"
#include "billing/invoices.h"
#include "billing/listing.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/rowjson.h"
#include "db/settings.h"
#include "provisioning/changes.h"
#include "provisioning/jobs.h"
#include "provisioning/servers.h"
#include "settings/registry.h"

#define DOMAIN_MAX 253
#define REASON_MAX 200
#define CANDIDATES_MAX 64
#define ATTEMPTS_SHOWN 20

#define SERVICE_COLUMNS                                                                            \
    "id, client_id, product_id, server_id, status, suspend_reason, remote_key, external_id,"       \
    " username, domain, billing_cycle, recurring_amount, currency, next_due_date, last_error,"     \
    " created_at, updated_at, terminated_at"

static const char SQL_GET[] = "SELECT " SERVICE_COLUMNS " FROM services WHERE id = $1";

static const char SQL_LIST[] =
    "SELECT " SERVICE_COLUMNS " FROM services WHERE id > $1 ORDER BY id LIMIT $2";

static const char SQL_LIST_STATUS[] =
    "SELECT " SERVICE_COLUMNS " FROM services WHERE id > $1 AND status = $3"
    " ORDER BY id LIMIT $2";

static const char SQL_LIST_CLIENT[] =
    "SELECT " SERVICE_COLUMNS " FROM services WHERE id > $1 AND client_id = $3"
    " ORDER BY id LIMIT $2";

static const char SQL_STATE[] = "SELECT status FROM services WHERE id = $1";
static const char SQL_STATE_LOCKED[] = "SELECT status FROM services WHERE id = $1 FOR UPDATE";

static const char SQL_CLIENT[] = "SELECT role, status, email_verified_at FROM users WHERE id = $1";

static const char SQL_PRODUCT[] =
    "SELECT name, server_id, server_group, fill_strategy, price, currency, billing_cycle,"
    " setup_fee, autosetup, active, visible, requires_domain FROM products WHERE id = $1";

/* The product's prices, its first (the default) first. */
static const char SQL_PRICES[] =
    "SELECT billing_cycle, currency, amount, setup_fee FROM product_prices"
    " WHERE product_id = $1 ORDER BY id";

static const char SQL_SERVER_TYPE[] = "SELECT type FROM servers WHERE id = $1";

/* Servers of a group that have room, best first. An unlimited server
 * (max_accounts 0) counts as empty; ratios are compared in millionths so
 * both engines order them the same way without floating point. */
static const char SQL_GROUP_LEAST_FULL[] =
    "SELECT id FROM servers WHERE group_name = $1 AND active = 1"
    " AND (max_accounts = 0 OR account_count < max_accounts)"
    " ORDER BY CASE WHEN max_accounts = 0 THEN 0"
    " ELSE CAST(account_count AS BIGINT) * 1000000 / max_accounts END, fill_order, id LIMIT $2";

static const char SQL_GROUP_IN_ORDER[] =
    "SELECT id FROM servers WHERE group_name = $1 AND active = 1"
    " AND (max_accounts = 0 OR account_count < max_accounts)"
    " ORDER BY fill_order, id LIMIT $2";

static const char SQL_INSTALLATION_CREATE[] =
    "INSERT INTO settings (key, value, updated_at) VALUES ('installation.id', $1, $2)"
    " ON CONFLICT (key) DO NOTHING";

static const char SQL_INSERT[] =
    "INSERT INTO services (client_id, product_id, server_id, status, remote_key, domain,"
    " billing_cycle, recurring_amount, currency, next_due_date, created_at, updated_at)"
    " VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id";

static const char SQL_SET_REMOTE_KEY[] = "UPDATE services SET remote_key = $1 WHERE id = $2";

static const char SQL_OPEN_TERMINATION[] =
    "SELECT COUNT(*) FROM jobs WHERE service_id = $1 AND action = 'terminate'"
    " AND status IN ('queued', 'running')";

static const char SQL_ATTEMPTS[] =
    "SELECT id, job_id, server_id, action, attempt, started_at, duration_ms, outcome,"
    " http_status, error FROM provision_attempts WHERE service_id = $1"
    " ORDER BY id DESC LIMIT $2";

static const char SQL_PAID_ITEMS[] =
    "SELECT i.service_id, i.kind, i.period_end, s.status, s.suspend_reason, p.autosetup"
    " FROM invoice_items i JOIN services s ON s.id = i.service_id"
    " JOIN products p ON p.id = s.product_id WHERE i.invoice_id = $1 ORDER BY i.id";

static const char SQL_ADVANCE_DUE[] =
    "UPDATE services SET next_due_date = $1, updated_at = $2"
    " WHERE id = $3 AND (next_due_date IS NULL OR next_due_date < $1)";

static const char *const STATUSES[] = {"pending",    "provisioning", "active",    "suspended",
                                       "terminated", "failed",       "cancelled", NULL};
static const char *const SUSPEND_REASONS[] = {"overdue", "manual", "abuse", "dispute", NULL};
static const char *const ORDER_KEYS[] = {"client_id", "product_id", "domain", "billing_cycle",
                                         "currency",  "coupon",     NULL};
/* A client orders for themself: the client comes from the session, never the body. */
static const char *const CLIENT_ORDER_KEYS[] = {"product_id", "domain", "billing_cycle", "currency",
                                                "coupon",     NULL};
static const char *const CYCLES[] = {"monthly",    "quarterly", "semiannually", "annually",
                                     "biennially", "onetime",   "free",         NULL};

/* Columns answered as integers; everything else is text or null. */
static const char *const INT_COLUMNS[] = {
    "id",     "client_id", "product_id",  "server_id",   "recurring_amount",
    "job_id", "attempt",   "duration_ms", "http_status", NULL};

/* ---- small helpers ------------------------------------------------------ */

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static int bind_fail(struct lumi_err *err)
{
    return err_set(err, LUMI_EDB, "cannot bind a parameter");
}

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

/* A row as the module answers it (the listing callback). */
static json_t *row_to_json(struct db_stmt *st, struct lumi_err *err)
{
    return db_row_json(st, INT_COLUMNS, err);
}

/* Runs sql with $1 = id and answers its rows as a JSON array. limit > 0 binds $2. */
static json_t *rows_by_id(struct db *db, const char *sql, int64_t id, int limit,
                          struct lumi_err *err)
{
    json_t *rows = json_array();
    json_t *result = NULL;
    int rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL || rows == NULL)
        goto out;
    if (db_bind_int64(st, 1, id) < 0 || (limit > 0 && db_bind_int64(st, 2, limit) < 0)) {
        bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *row = row_to_json(st, err);
        if (row == NULL || json_array_append_new(rows, row) < 0)
            goto out;
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

/* The services row as JSON, or NULL with LUMI_ENOTFOUND. */
static json_t *fetch_service(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *rows = rows_by_id(db, SQL_GET, id, 0, err);
    json_t *s = NULL;
    if (rows == NULL)
        return NULL;
    if (json_array_size(rows) == 0)
        err_set(err, LUMI_ENOTFOUND, "service %" PRId64 " not found", id);
    else
        s = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return s;
}

/* First column of the first row of sql ($1 = id when id > 0) as text into out. */
static int query_text(struct db *db, const char *sql, int64_t id, char *out, size_t outsz,
                      struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    if (id > 0 && db_bind_int64(st, 1, id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        const char *v = db_col_text(st, 0);
        str_copy(out, v != NULL ? v : "", outsz);
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = LUMI_ENOTFOUND;
    }
out:
    db_finalize(st);
    return rc;
}

/* ---- orders ------------------------------------------------------------- */

struct order {
    bool by_client; /* the client's own order (the store), not an admin's */
    int64_t client_id;
    int64_t product_id;
    char domain[DOMAIN_MAX + 1]; /* "" when none */
    char want_cycle[16];         /* asked for; "" = the product's first price */
    char want_currency[8];       /* asked for, lower-case; "" = any */
    /* from the product */
    char name[256];
    int64_t server_id; /* 0 when the product names a group */
    char group[256];
    char fill[16];
    int64_t price, setup_fee;
    char currency[8];
    char cycle[16];
    char autosetup[16];
    bool visible, requires_domain;
    /* decided here */
    int64_t placed;
    char server_type[16];
    /* issue 14: the coupon asked for ("" = none), as redeemed, and its discount */
    char coupon[COUPON_CODE_MAX + 1];
    struct coupon_pick pick;
    int64_t discount;
};

/* Hostname rules: labels of [a-z0-9-] (1..63, no '-' at either end), at least two labels. */
static int normalise_domain(const char *in, char out[DOMAIN_MAX + 1], struct lumi_err *err)
{
    size_t n = strlen(in), label = 0, labels = 1;
    if (n > DOMAIN_MAX)
        return err_set(err, LUMI_EINVAL, "field 'domain' is longer than %d characters", DOMAIN_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)in[i]);
        bool end_of_label = i + 1 == n || in[i + 1] == '.';
        if (c == '.') {
            if (label == 0 || i + 1 == n)
                goto bad;
            label = 0;
            labels++;
        } else if (isalnum((unsigned char)c) || c == '-') {
            if (c == '-' && (label == 0 || end_of_label))
                goto bad;
            if (++label > 63)
                goto bad;
        } else {
            goto bad;
        }
        out[i] = c;
    }
    out[n] = '\0';
    if (labels < 2)
        goto bad;
    return 0;
bad:
    return err_set(err, LUMI_EINVAL,
                   "field 'domain' must be a domain name such as \"example.com\" (letters, "
                   "digits, '-' and '.')");
}

static int read_choice(const json_t *in, struct order *o, struct lumi_err *err)
{
    const char *cycle = NULL, *currency = NULL;
    int rc = jsonx_take_enum(in, "billing_cycle", false, CYCLES, &cycle, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        str_copy(o->want_cycle, cycle, sizeof o->want_cycle);
    rc = jsonx_take_str(in, "currency", false, 16, &currency, err);
    if (rc < 0)
        return rc;
    if (rc == 1 && money_currency_normalize(currency, o->want_currency) < 0)
        return err_set(err, LUMI_EINVAL,
                       "field 'currency' must be a known ISO 4217 currency code such as \"usd\"");
    return 0;
}

static int read_order(const json_t *in, struct order *o, struct lumi_err *err)
{
    const char *domain = NULL;
    int rc = jsonx_check_keys(in, o->by_client ? CLIENT_ORDER_KEYS : ORDER_KEYS, err);
    if (rc < 0)
        return rc;
    if (!o->by_client) {
        rc = jsonx_take_int(in, "client_id", true, 1, INT64_MAX, &o->client_id, err);
        if (rc < 0)
            return rc;
    }
    rc = jsonx_take_int(in, "product_id", true, 1, INT64_MAX, &o->product_id, err);
    if (rc < 0)
        return rc;
    rc = read_choice(in, o, err);
    if (rc < 0)
        return rc;
    const char *coupon = NULL;
    rc = jsonx_take_str(in, "coupon", false, COUPON_CODE_MAX, &coupon, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        snprintf(o->coupon, sizeof o->coupon, "%s", coupon);
    rc = jsonx_take_str(in, "domain", false, DOMAIN_MAX, &domain, err);
    if (rc < 0)
        return rc;
    if (rc == 1 && domain[0] != '\0')
        return normalise_domain(domain, o->domain, err);
    return 0;
}

/* The client exists, is active and, for their own order while the setting says so, verified. */
static int check_client(struct db *db, const struct order *o, struct lumi_err *err)
{
    int rc;
    bool must_verify = false;
    int64_t id = o->client_id;
    if (o->by_client) {
        rc = settings_reg_bool(db, SERVICES_VERIFIED_SETTING, &must_verify, err);
        if (rc < 0)
            return rc;
    }
    struct db_stmt *st = db_prepare(db, SQL_CLIENT, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc < 0)
        goto out;
    if (rc == DB_DONE || !str_eq(db_col_text(st, 0), "client"))
        rc = err_set(err, LUMI_EINVAL, "field 'client_id': client %" PRId64 " does not exist", id);
    else if (!str_eq(db_col_text(st, 1), "active"))
        rc = err_set(err, LUMI_EINVAL, "field 'client_id': client %" PRId64 " is disabled", id);
    else if (must_verify && db_col_is_null(st, 2))
        rc = err_set(err, LUMI_EFORBIDDEN,
                     "please confirm your e-mail address first: open the link in the message we "
                     "sent you, then order again");
    else
        rc = 0;
out:
    db_finalize(st);
    return rc;
}

static int load_product(struct db *db, struct order *o, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_PRODUCT, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, o->product_id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step(st, err);
    if (rc < 0)
        goto out;
    if (rc == DB_DONE) {
        rc = err_set(err, LUMI_EINVAL, "field 'product_id': product %" PRId64 " does not exist",
                     o->product_id);
        goto out;
    }
    /* A client cannot tell a hidden product from a missing one. */
    if (o->by_client && db_col_int64(st, 10) == 0) {
        rc = err_set(err, LUMI_EINVAL, "field 'product_id': product %" PRId64 " does not exist",
                     o->product_id);
        goto out;
    }
    if (db_col_int64(st, 9) == 0) {
        rc = err_set(err, LUMI_EINVAL, "field 'product_id': product %" PRId64 " is not active",
                     o->product_id);
        goto out;
    }
    str_copy(o->name, db_col_text(st, 0), sizeof o->name);
    o->server_id = db_col_is_null(st, 1) ? 0 : db_col_int64(st, 1);
    str_copy(o->group, db_col_is_null(st, 2) ? "" : db_col_text(st, 2), sizeof o->group);
    str_copy(o->fill, db_col_text(st, 3), sizeof o->fill);
    o->price = db_col_int64(st, 4);
    str_copy(o->currency, db_col_text(st, 5), sizeof o->currency);
    str_copy(o->cycle, db_col_text(st, 6), sizeof o->cycle);
    o->setup_fee = db_col_int64(st, 7);
    str_copy(o->autosetup, db_col_text(st, 8), sizeof o->autosetup);
    o->visible = db_col_int64(st, 10) != 0;
    o->requires_domain = db_col_int64(st, 11) != 0;
    rc = 0;
out:
    db_finalize(st);
    return rc;
}

/* Whether a price row (cycle, currency) answers what the order asked for. */
static bool price_fits(const struct order *o, const char *cycle, const char *currency)
{
    return (o->want_cycle[0] == '\0' || str_eq(cycle, o->want_cycle)) &&
           (o->want_currency[0] == '\0' || str_eq(currency, o->want_currency));
}

/*
 * Chooses the price row: the first of the product's prices (in the admin's
 * order) with the cycle and currency asked for; nothing asked for is the
 * first price, as before prices were lists. What fits nothing is LUMI_EINVAL
 * naming the field that does not fit.
 */
static int choose_price(struct db *db, struct order *o, struct lumi_err *err)
{
    int rc;
    bool cycle_seen = false, found = false;
    struct db_stmt *st = db_prepare(db, SQL_PRICES, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, o->product_id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    while (!found && (rc = db_step(st, err)) == DB_ROW) {
        const char *cycle = db_col_text(st, 0), *currency = db_col_text(st, 1);
        cycle_seen = cycle_seen || o->want_cycle[0] == '\0' || str_eq(cycle, o->want_cycle);
        if (!price_fits(o, cycle, currency))
            continue;
        found = true;
        str_copy(o->cycle, cycle, sizeof o->cycle);
        str_copy(o->currency, currency, sizeof o->currency);
        o->price = db_col_int64(st, 2);
        o->setup_fee = db_col_int64(st, 3);
    }
    if (rc < 0)
        goto out;
    if (!found && !cycle_seen)
        rc = err_set(err, LUMI_EINVAL, "field 'billing_cycle': product %" PRId64 " is not sold %s",
                     o->product_id, o->want_cycle);
    else if (!found)
        rc = err_set(err, LUMI_EINVAL,
                     "field 'currency': product %" PRId64 " has no %s%sprice in %s", o->product_id,
                     o->want_cycle, o->want_cycle[0] != '\0' ? " " : "", o->want_currency);
    else
        rc = products_cycle_months(o->cycle) < 0
                 ? err_set(err, LUMI_EINTERNAL, "product %" PRId64 " has an unknown billing cycle",
                           o->product_id)
                 : 0;
out:
    db_finalize(st);
    return rc;
}

/* The group's servers with room, best first, into ids (at most CANDIDATES_MAX). */
static int group_candidates(struct db *db, const struct order *o, int64_t *ids, size_t *n,
                            struct lumi_err *err)
{
    int rc;
    const char *sql = strcmp(o->fill, "in_order") == 0 ? SQL_GROUP_IN_ORDER : SQL_GROUP_LEAST_FULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    *n = 0;
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_text(st, 1, o->group) < 0 || db_bind_int64(st, 2, CANDIDATES_MAX) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW && *n < CANDIDATES_MAX)
        ids[(*n)++] = db_col_int64(st, 0);
    if (rc > 0)
        rc = 0;
out:
    db_finalize(st);
    return rc;
}

static int place(struct db *db, struct order *o, struct lumi_err *err)
{
    int64_t ids[CANDIDATES_MAX];
    size_t n = 0;
    int rc;
    if (o->server_id > 0) {
        rc = servers_reserve_slot(db, o->server_id, err);
        if (rc < 0)
            return rc;
        o->placed = o->server_id;
        return 0;
    }
    if (o->group[0] == '\0')
        return err_set(err, LUMI_EINVAL, "product %" PRId64 " has no server or server group",
                       o->product_id);
    rc = group_candidates(db, o, ids, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        /* Another order may have taken the last slot since the list was read. */
        rc = servers_reserve_slot(db, ids[i], err);
        if (rc == 0) {
            o->placed = ids[i];
            err_clear(err);
            return 0;
        }
        if (rc != LUMI_ECONFLICT)
            return rc;
    }
    return err_set(err, LUMI_ECONFLICT,
                   "no active server in group '%.200s' has room for product %" PRId64, o->group,
                   o->product_id);
}

/* The installation's id: 8 random hex characters, created once. */
static int installation_id(struct db *db, char out[16], const char *now, struct lumi_err *err)
{
    char fresh[16];
    if (crypto_random_token(4, fresh, sizeof fresh) < 0)
        return err_set(err, LUMI_EINTERNAL, "cannot make an installation id");
    const char *params[] = {fresh, now};
    int rc = db_execp(db, SQL_INSTALLATION_CREATE, 2, params, NULL, err);
    settings_forget();
    if (rc < 0)
        return rc;
    rc = settings_get(db, "installation.id", out, 16, err);
    if (rc == 0)
        return err_set(err, LUMI_EINTERNAL, "the installation id is missing");
    return rc < 0 ? rc : 0;
}

static int insert_service(struct db *db, const struct order *o, const char *now,
                          const char *next_due, int64_t *id, struct lumi_err *err)
{
    char tmp_key[48] = "tmp-";
    int rc;
    /* Unique until the id is known and the real key replaces it below. */
    if (crypto_random_token(16, tmp_key + 4, sizeof tmp_key - 4) < 0)
        return err_set(err, LUMI_EINTERNAL, "cannot make a temporary key");
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, o->client_id) < 0 || db_bind_int64(st, 2, o->product_id) < 0 ||
        db_bind_int64(st, 3, o->placed) < 0 || db_bind_text(st, 4, tmp_key) < 0 ||
        db_bind_text(st, 5, o->domain[0] != '\0' ? o->domain : NULL) < 0 ||
        db_bind_text(st, 6, o->cycle) < 0 || db_bind_int64(st, 7, o->price) < 0 ||
        db_bind_text(st, 8, o->currency) < 0 || db_bind_text(st, 9, next_due) < 0 ||
        db_bind_text(st, 10, now) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    rc = db_step_id(st, "a service", id, err);
out:
    db_finalize(st);
    return rc;
}

static int set_remote_key(struct db *db, int64_t id, const char *installation, char *key,
                          size_t keysz, struct lumi_err *err)
{
    char idt[24];
    if (snprintf(key, keysz, "lumi-%s-%" PRId64, installation, id) >= (int)keysz)
        return err_set(err, LUMI_EINTERNAL, "remote key too long");
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *params[] = {key, idt};
    return db_execp(db, SQL_SET_REMOTE_KEY, 2, params, NULL, err);
}

/* The first invoice: the setup fee (when there is one) and the first period. */
static int first_invoice(struct db *db, const struct audit_actor *actor, struct order *o,
                         int64_t service_id, const char *now, const char *next_due,
                         int64_t *invoice_id, struct lumi_err *err)
{
    char setup_desc[300], period_desc[600];
    struct invoice_item_in items[3];
    struct coupon_line discount;
    size_t n = 0;
    const char *sep = o->domain[0] != '\0' ? " - " : "";
    if (o->setup_fee > 0) {
        snprintf(setup_desc, sizeof setup_desc, "Setup fee: %.200s", o->name);
        items[n++] =
            (struct invoice_item_in){setup_desc, 1, o->setup_fee, service_id, "setup", NULL, NULL};
    }
    if (next_due != NULL) {
        snprintf(period_desc, sizeof period_desc, "%.200s%s%s (%.10s to %.10s)", o->name, sep,
                 o->domain, now, next_due);
        items[n++] = (struct invoice_item_in){period_desc, 1,   o->price, service_id,
                                              "recurring", now, next_due};
    } else {
        snprintf(period_desc, sizeof period_desc, "%.200s%s%s", o->name, sep, o->domain);
        items[n++] =
            (struct invoice_item_in){period_desc, 1, o->price, service_id, "other", NULL, NULL};
    }
    /* Issue 14: a coupon's discount line on what this invoice charges. */
    int64_t charged = 0;
    if (__builtin_add_overflow(o->setup_fee, o->price, &charged))
        return err_set(err, LUMI_EINVAL, "the invoice total is too large");
    if (coupons_line(&o->pick, charged, o->currency, &discount, err) < 0)
        return err->code;
    o->discount = discount.amount;
    if (discount.amount > 0)
        items[n++] = (struct invoice_item_in){
            discount.description, 1, -discount.amount, service_id, "discount", NULL, NULL};
    return invoices_create(db, actor, o->client_id, o->currency, now, items, n, invoice_id, err);
}

/* The answer to an order: the service, its invoice and its job (or null). */
static json_t *order_answer(struct db *db, int64_t service_id, int64_t invoice_id, int64_t job_id,
                            struct lumi_err *err)
{
    json_t *s = fetch_service(db, service_id, err);
    json_t *inv = NULL, *job = NULL;
    if (s == NULL)
        return NULL;
    inv = invoices_get(db, invoice_id, err);
    if (inv == NULL)
        goto fail;
    if (job_id > 0) {
        job = jobs_get(db, job_id, err);
        if (job == NULL)
            goto fail;
    } else {
        job = json_null();
    }
    if (json_object_set_new(s, "invoice_id", json_integer(invoice_id)) < 0 ||
        json_object_set_new(s, "invoice", inv) < 0 || json_object_set_new(s, "job", job) < 0) {
        nomem(err);
        json_decref(s);
        return NULL;
    }
    return s;
fail:
    json_decref(inv);
    json_decref(s);
    return NULL;
}

/* Places the product on a server; a client hears "out of stock", not which server is full. */
static int place_order(struct db *db, struct order *o, struct lumi_err *err)
{
    int rc = place(db, o, err);
    if (rc == LUMI_ECONFLICT && o->by_client)
        return err_set(err, LUMI_ECONFLICT,
                       "'%.200s' is out of stock: no server has room for it right now; please try "
                       "again later or choose another product",
                       o->name);
    return rc;
}

/* What the order needs besides the product: a domain when asked for or on DirectAdmin. */
static int check_domain(const struct order *o, struct lumi_err *err)
{
    if (o->domain[0] != '\0')
        return 0;
    if (strcmp(o->server_type, "directadmin") == 0)
        return err_set(err, LUMI_EINVAL,
                       "field 'domain' is required: product %" PRId64 " is hosted on DirectAdmin",
                       o->product_id);
    if (o->requires_domain)
        return err_set(err, LUMI_EINVAL,
                       "field 'domain' is required: product %" PRId64 " needs a domain name",
                       o->product_id);
    return 0;
}

/*
 * An order with nothing to pay (a free product, or a price and setup fee of
 * 0): its invoice is settled at once and the order goes on as a paid one
 * would (autosetup "payment" provisions now), so no unpaid 0.00 invoice ever
 * waits for a payment that cannot come.
 */
static int settle_if_free(struct db *db, const struct audit_actor *actor, const struct order *o,
                          int64_t invoice_id, struct lumi_err *err)
{
    if ((o->price != 0 || o->setup_fee != 0) && o->discount < o->price + o->setup_fee)
        return 0;
    bool settled = false;
    int rc = invoices_settle_zero(db, actor, invoice_id, &settled, err);
    if (rc < 0)
        return rc;
    if (!settled)
        return err_set(err, LUMI_EINTERNAL, "the 0 invoice %" PRId64 " of a free order is not unpaid",
                       invoice_id);
    return services_on_invoice_paid(db, actor, invoice_id, err);
}

/* The one order path of both the admin's and the client's order (caller's transaction). */
int services_order_in_tx(struct db *db, const struct audit_actor *actor, const json_t *input,
                         int64_t client_id, struct services_placed *placed, struct lumi_err *err)
{
    struct lumi_err local;
    struct order o;
    char now[UTC_ISO_LEN], due[UTC_ISO_LEN], installation[16], remote_key[64];
    const char *next_due = NULL;
    int64_t service_id = 0, invoice_id = 0, job_id = 0;
    json_t *details = NULL;
    int rc = -1;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&o, 0, sizeof o);
    memset(placed, 0, sizeof *placed);
    if (!db_in_tx(db)) {
        err_set(err, LUMI_EINTERNAL, "services_order_in_tx needs an open transaction");
        goto out;
    }
    o.by_client = client_id > 0;
    o.client_id = client_id;
    if (read_order(input, &o, err) < 0)
        goto out;
    if (check_client(db, &o, err) < 0 || load_product(db, &o, err) < 0 ||
        choose_price(db, &o, err) < 0)
        goto out;
    /* Issue 14: the coupon's use is taken here; a lost race rolls the whole order back. */
    if (o.coupon[0] != '\0' &&
        coupons_redeem_in_tx(db, o.coupon, o.product_id, o.currency, &o.pick, err) < 0)
        goto out;
    if (place_order(db, &o, err) < 0)
        goto out;
    if (query_text(db, SQL_SERVER_TYPE, o.placed, o.server_type, sizeof o.server_type, err) < 0 ||
        check_domain(&o, err) < 0)
        goto out;
    int64_t t = utc_now();
    utc_format(t, now);
    int months = products_cycle_months(o.cycle);
    if (months > 0) {
        if (utc_format(utc_add_months(t, months), due) < 0) {
            err_set(err, LUMI_EINTERNAL, "cannot compute the next due date");
            goto out;
        }
        next_due = due;
    }
    if (installation_id(db, installation, now, err) < 0 ||
        insert_service(db, &o, now, next_due, &service_id, err) < 0 ||
        set_remote_key(db, service_id, installation, remote_key, sizeof remote_key, err) < 0 ||
        first_invoice(db, actor, &o, service_id, now, next_due, &invoice_id, err) < 0 ||
        coupons_record_use(db, &o.pick, o.client_id, invoice_id, service_id, o.discount, err) < 0)
        goto out;
    if (strcmp(o.autosetup, "order") == 0 &&
        jobs_enqueue(db, service_id, "provision", NULL, &job_id, err) < 0)
        goto out;
    details = json_pack("{s:I, s:I, s:I, s:s, s:s?, s:I, s:s, s:I, s:s, s:s, s:o, s:s}",
                        "client_id", (json_int_t)o.client_id, "product_id",
                        (json_int_t)o.product_id, "server_id", (json_int_t)o.placed, "remote_key",
                        remote_key, "domain", o.domain[0] != '\0' ? o.domain : NULL, "invoice_id",
                        (json_int_t)invoice_id, "autosetup", o.autosetup, "recurring_amount",
                        (json_int_t)o.price, "currency", o.currency, "billing_cycle", o.cycle,
                        "job_id", job_id > 0 ? json_integer(job_id) : json_null(), "channel",
                        o.by_client ? "store" : "admin");
    if (details == NULL) {
        nomem(err);
        goto out;
    }
    if (audit_append_id(db, actor, "SERVICE_ORDERED", "service", service_id, details, err) < 0 ||
        settle_if_free(db, actor, &o, invoice_id, err) < 0)
        goto out;
    *placed = (struct services_placed){service_id, invoice_id, job_id};
    rc = 0;
out:
    json_decref(details);
    if (rc < 0 && err->code == 0)
        err_set(err, LUMI_EINTERNAL, "the order could not be placed");
    return rc < 0 ? err->code : 0;
}

json_t *services_order_answer(struct db *db, const struct services_placed *placed,
                              struct lumi_err *err)
{
    return order_answer(db, placed->service_id, placed->invoice_id, placed->job_id, err);
}

/* ---- reading ------------------------------------------------------------ */

json_t *services_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *s = NULL, *jobs = NULL, *attempts = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    s = fetch_service(db, id, err);
    if (s == NULL)
        goto fail;
    jobs = jobs_of_service(db, id, err);
    if (jobs == NULL)
        goto fail;
    attempts = rows_by_id(db, SQL_ATTEMPTS, id, ATTEMPTS_SHOWN, err);
    if (attempts == NULL)
        goto fail;
    if (json_object_set_new(s, "jobs", jobs) < 0 ||
        json_object_set_new(s, "attempts", attempts) < 0) {
        jobs = attempts = NULL;
        nomem(err);
        goto fail;
    }
    return s;
fail:
    json_decref(jobs);
    json_decref(attempts);
    json_decref(s);
    return NULL;
}

json_t *services_list(struct db *db, const char *status, int64_t after_id, int limit,
                      int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    *next_cursor = 0;
    if (status != NULL && !in_list(status, STATUSES)) {
        err_set(err, LUMI_EINVAL,
                "status must be one of pending, provisioning, active, suspended, terminated, "
                "failed, cancelled");
        return NULL;
    }
    return listing_page_filtered(db, status != NULL ? SQL_LIST_STATUS : SQL_LIST, status, after_id,
                                 limit, row_to_json, next_cursor, err);
}

json_t *services_list_of_client(struct db *db, int64_t client_id, int64_t after_id, int limit,
                                int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    *next_cursor = 0;
    if (client_id <= 0) {
        err_set(err, LUMI_EINVAL, "client_id must be a positive id");
        return NULL;
    }
    return listing_page_owned(db, SQL_LIST_CLIENT, client_id, after_id, limit, row_to_json,
                              next_cursor, err);
}

/* ---- lifecycle requests ------------------------------------------------- */

/* Reads (and on PostgreSQL locks) the service's status. */
static int lock_status(struct db *db, int64_t id, char status[24], struct lumi_err *err)
{
    const char *sql = db_kind(db) == DB_POSTGRES ? SQL_STATE_LOCKED : SQL_STATE;
    int rc = query_text(db, sql, id, status, 24, err);
    if (rc == LUMI_ENOTFOUND)
        return err_set(err, LUMI_ENOTFOUND, "service %" PRId64 " not found", id);
    return rc;
}

/* Whether the status allows the action; LUMI_ECONFLICT with the reason when not. */
static int check_transition(int64_t id, const char *action, const char *status,
                            struct lumi_err *err)
{
    if (strcmp(action, "provision") == 0) {
        if (strcmp(status, "pending") == 0 || strcmp(status, "failed") == 0)
            return 0;
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64
                       " is %s; only pending or failed services can be provisioned",
                       id, status);
    }
    if (strcmp(action, "suspend") == 0) {
        if (strcmp(status, "active") == 0)
            return 0;
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " is %s; only active services can be suspended", id,
                       status);
    }
    if (strcmp(action, "unsuspend") == 0) {
        if (strcmp(status, "suspended") == 0)
            return 0;
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " is %s; only suspended services can be unsuspended", id,
                       status);
    }
    if (strcmp(status, "terminated") == 0 || strcmp(status, "cancelled") == 0)
        return err_set(err, LUMI_ECONFLICT, "service %" PRId64 " is already %s", id, status);
    return 0;
}

/* A queued termination makes every other request moot. */
static int check_no_termination(struct db *db, int64_t id, struct lumi_err *err)
{
    char idt[24];
    int64_t n = 0;
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *params[] = {idt};
    int rc = db_query_int64(db, SQL_OPEN_TERMINATION, 1, params, &n, err);
    if (rc < 0)
        return rc;
    if (n > 0)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " has a termination queued; nothing else can be "
                       "requested",
                       id);
    return 0;
}

/* Audits SERVICE_<WHAT>_REQUESTED; extra (may be NULL) is merged into the details. */
static int audit_request(struct db *db, const struct audit_actor *actor, int64_t id,
                         const char *what, int64_t job_id, const char *reason, json_t *extra,
                         struct lumi_err *err)
{
    char action[64];
    size_t i = 0;
    for (const char *p = "SERVICE_"; *p; p++)
        action[i++] = *p;
    for (const char *p = what; *p && i < 40; p++)
        action[i++] = (char)toupper((unsigned char)*p);
    str_copy(action + i, "_REQUESTED", sizeof action - i);
    json_t *details = json_pack("{s:I, s:s?}", "job_id", (json_int_t)job_id, "reason", reason);
    if (details == NULL || (extra != NULL && json_object_update(details, extra) < 0)) {
        json_decref(details);
        return nomem(err);
    }
    int rc = audit_append_id(db, actor, action, "service", id, details, err);
    json_decref(details);
    return rc;
}

json_t *services_request(struct db *db, const struct audit_actor *actor, int64_t id,
                         const char *action, const char *reason, struct lumi_err *err)
{
    struct lumi_err local;
    char status[24];
    int64_t job_id = 0;
    json_t *args = NULL, *extra = NULL, *job = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (action == NULL || (strcmp(action, "provision") != 0 && strcmp(action, "suspend") != 0 &&
                           strcmp(action, "unsuspend") != 0 && strcmp(action, "terminate") != 0)) {
        err_set(err, LUMI_EINVAL, "action must be one of provision, suspend, unsuspend, terminate");
        goto out;
    }
    if (reason != NULL && reason[0] == '\0')
        reason = NULL;
    if (strcmp(action, "suspend") == 0) {
        if (reason == NULL)
            reason = "manual";
        if (!in_list(reason, SUSPEND_REASONS)) {
            err_set(err, LUMI_EINVAL, "reason must be one of overdue, manual, abuse, dispute");
            goto out;
        }
    } else if (reason != NULL && strlen(reason) > REASON_MAX) {
        err_set(err, LUMI_EINVAL, "reason is longer than %d characters", REASON_MAX);
        goto out;
    }
    if (reason != NULL) {
        args = json_pack("{s:s}", "reason", reason);
        if (args == NULL) {
            nomem(err);
            goto out;
        }
    }
    if (db_begin(db, err) < 0 || lock_status(db, id, status, err) < 0 ||
        check_transition(id, action, status, err) < 0 || check_no_termination(db, id, err) < 0)
        goto out;
    if (jobs_enqueue(db, id, action, args, &job_id, err) < 0)
        goto out;
    extra = json_pack("{s:s}", "status", status);
    if (extra == NULL) {
        nomem(err);
        goto out;
    }
    if (audit_request(db, actor, id, action, job_id, reason, extra, err) < 0)
        goto out;
    job = jobs_get(db, job_id, err);
    if (job != NULL && db_commit(db, err) < 0) {
        json_decref(job);
        job = NULL;
    }
out:
    if (job == NULL)
        db_rollback(db);
    json_decref(args);
    json_decref(extra);
    return job;
}

json_t *services_retry(struct db *db, const struct audit_actor *actor, int64_t id,
                       struct lumi_err *err)
{
    struct lumi_err local;
    char status[24];
    int64_t job_id = 0;
    json_t *job = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (db_begin(db, err) < 0 || lock_status(db, id, status, err) < 0)
        goto out;
    if (strcmp(status, "terminated") == 0 || strcmp(status, "cancelled") == 0) {
        err_set(err, LUMI_ECONFLICT, "service %" PRId64 " is %s; nothing to retry", id, status);
        goto out;
    }
    int rc = jobs_requeue_failed(db, id, &job_id, err);
    if (rc == LUMI_ENOTFOUND) {
        err_set(err, LUMI_ECONFLICT, "service %" PRId64 " has no failed job to retry", id);
        goto out;
    }
    if (rc < 0 || audit_request(db, actor, id, "retry", job_id, NULL, NULL, err) < 0)
        goto out;
    job = jobs_get(db, job_id, err);
    if (job != NULL && db_commit(db, err) < 0) {
        json_decref(job);
        job = NULL;
    }
out:
    if (job == NULL)
        db_rollback(db);
    return job;
}

/* ---- payment ------------------------------------------------------------ */

struct paid_item {
    int64_t service_id;
    bool recurring;
    char period_end[UTC_ISO_LEN];
    char status[24];
    char suspend_reason[24];
    char autosetup[16];
};

static int paid_items(struct db *db, int64_t invoice_id, struct paid_item **out, size_t *n,
                      struct lumi_err *err)
{
    struct paid_item *items = NULL;
    size_t cap = 0;
    int rc;
    *n = 0;
    struct db_stmt *st = db_prepare(db, SQL_PAID_ITEMS, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, invoice_id) < 0) {
        rc = bind_fail(err);
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (*n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            struct paid_item *grown = realloc(items, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = nomem(err);
                goto out;
            }
            items = grown;
            cap = ncap;
        }
        struct paid_item *it = &items[(*n)++];
        memset(it, 0, sizeof *it);
        it->service_id = db_col_int64(st, 0);
        it->recurring = str_eq(db_col_text(st, 1), "recurring") && !db_col_is_null(st, 2);
        if (it->recurring)
            str_copy(it->period_end, db_col_text(st, 2), sizeof it->period_end);
        str_copy(it->status, db_col_text(st, 3), sizeof it->status);
        if (!db_col_is_null(st, 4))
            str_copy(it->suspend_reason, db_col_text(st, 4), sizeof it->suspend_reason);
        str_copy(it->autosetup, db_col_text(st, 5), sizeof it->autosetup);
    }
out:
    db_finalize(st);
    if (rc < 0) {
        free(items);
        *n = 0;
        return rc;
    }
    *out = items;
    return 0;
}

/* An invoice may bill one service twice (setup fee and period): act on its first item only. */
static bool first_item_of_service(const struct paid_item *items, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (items[j].service_id == items[i].service_id)
            return false;
    return true;
}

static int queue_after_payment(struct db *db, const struct audit_actor *actor,
                               const struct paid_item *it, int64_t invoice_id, struct lumi_err *err)
{
    const char *action = NULL;
    int64_t job_id = 0;
    if (strcmp(it->status, "pending") == 0 && strcmp(it->autosetup, "payment") == 0)
        action = "provision";
    /* Only Lumi's own overdue suspension is lifted by a payment, never an admin's. */
    else if (strcmp(it->status, "suspended") == 0 && strcmp(it->suspend_reason, "overdue") == 0)
        action = "unsuspend";
    if (action == NULL)
        return 0;
    int rc = jobs_enqueue(db, it->service_id, action, NULL, &job_id, err);
    if (rc < 0)
        return rc;
    json_t *extra =
        json_pack("{s:I, s:s}", "invoice_id", (json_int_t)invoice_id, "trigger", "invoice_paid");
    if (extra == NULL)
        return nomem(err);
    rc = audit_request(db, actor, it->service_id, action, job_id, NULL, extra, err);
    json_decref(extra);
    return rc;
}

int services_on_invoice_paid(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                             struct lumi_err *err)
{
    struct lumi_err local;
    struct paid_item *items = NULL;
    size_t n = 0;
    char now[UTC_ISO_LEN];
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "services_on_invoice_paid needs an open transaction");
    rc = paid_items(db, invoice_id, &items, &n, err);
    if (rc < 0)
        goto out;
    utc_now_iso(now);
    for (size_t i = 0; i < n; i++) {
        if (first_item_of_service(items, i)) {
            rc = queue_after_payment(db, actor, &items[i], invoice_id, err);
            if (rc < 0)
                goto out;
        }
        if (items[i].recurring) {
            char idt[24];
            snprintf(idt, sizeof idt, "%" PRId64, items[i].service_id);
            const char *params[] = {items[i].period_end, now, idt};
            rc = db_execp(db, SQL_ADVANCE_DUE, 3, params, NULL, err);
            if (rc < 0)
                goto out;
        }
    }
    /* An upgrade's invoice: its change_package job is queued now, never before. */
    rc = changes_on_invoice_paid(db, actor, invoice_id, err);
out:
    free(items);
    return rc;
}

/* ---- chargeback ---------------------------------------------------------- */

/*
 * billing.dispute_action: true to suspend (the registry's default), false
 * for "none". The registry refuses a stored value that is neither.
 */
static int dispute_suspends(struct db *db, bool *suspend, struct lumi_err *err)
{
    char v[16];
    *suspend = true;
    int rc = settings_reg_text(db, SERVICES_DISPUTE_SETTING, v, sizeof v, err);
    if (rc == 0)
        *suspend = !str_eq(v, "none");
    return rc;
}

int services_on_chargeback(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                           int *queued, struct lumi_err *err)
{
    struct lumi_err local;
    struct paid_item *items = NULL;
    size_t n = 0;
    bool suspend;
    int count = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (queued != NULL)
        *queued = 0;
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "services_on_chargeback needs an open transaction");
    int rc = dispute_suspends(db, &suspend, err);
    if (rc < 0 || !suspend)
        return rc;
    rc = paid_items(db, invoice_id, &items, &n, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!first_item_of_service(items, i) || !str_eq(items[i].status, "active"))
            continue;
        int64_t job_id = 0;
        json_t *args = json_pack("{s:s}", "reason", "dispute");
        rc = args != NULL ? jobs_enqueue(db, items[i].service_id, "suspend", args, &job_id, err)
                          : nomem(err);
        json_decref(args);
        if (rc < 0)
            goto out;
        json_t *extra = json_pack("{s:I, s:s}", "invoice_id", (json_int_t)invoice_id, "trigger",
                                  "chargeback");
        rc = extra != NULL ? audit_request(db, actor, items[i].service_id, "suspend", job_id,
                                           "dispute", extra, err)
                           : nomem(err);
        json_decref(extra);
        if (rc < 0)
            goto out;
        count++;
    }
    rc = 0;
    if (queued != NULL)
        *queued = count;
out:
    free(items);
    return rc;
}
