/*
 * products.c — the product catalogue: validation, storage, audit.
 *
 * Owns the SQL over `products` and `product_prices` (and the read-only
 * checks against `servers` and `services` that guard it, and the store's
 * read of server room for in_stock). A product's prices are a list kept in
 * the admin's order; an update that changes them replaces the rows, and the
 * product's single price columns are rewritten to mirror the first. The fields are one declarative table,
 * FIELDS[], that drives validation, defaults, what a PATCH null means, and
 * how a column is read back into JSON; the INSERT/UPDATE statements list the
 * same columns in the same order. A product is handled as a JSON object:
 * rows are read into one, input is validated into one of normalised values,
 * an update merges the second into the first, and the merged object is what
 * gets written and audited.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/products.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"

enum kind {
    K_TEXT,     /* string up to max_len; a required one must not be empty */
    K_ENUM,     /* one of choices */
    K_AMOUNT,   /* integer minor units, 0..PRODUCTS_AMOUNT_MAX */
    K_CURRENCY, /* ISO 4217 code, stored lower-case */
    K_SERVER,   /* id of an existing server, or null */
    K_CONFIG,   /* JSON object, stored as canonical text */
    K_BOOL,     /* stored as 0/1 */
    K_ORDER,    /* integer -PRODUCTS_SORT_MAX..PRODUCTS_SORT_MAX */
};

struct field {
    const char *name;
    enum kind kind;
    bool required;              /* on create */
    size_t max_len;             /* K_TEXT */
    const char *const *choices; /* K_ENUM */
    const char *dflt;           /* JSON literal set on create when absent; NULL when required */
    const char *on_null;        /* JSON literal a PATCH null sets; NULL when null is refused */
};

static const char *const TYPES[] = {"hosting", "vps", "game_server", "other", NULL};
static const char *const FILL[] = {"least_full", "in_order", NULL};
static const char *const CYCLES[] = {"monthly",    "quarterly", "semiannually", "annually",
                                     "biennially", "onetime",   "free",         NULL};
/* Months of each cycle, in the order of CYCLES (0: never renews). */
static const int CYCLE_MONTHS[] = {1, 3, 6, 12, 24, 0, 0};
_Static_assert(sizeof CYCLE_MONTHS / sizeof CYCLE_MONTHS[0] == sizeof CYCLES / sizeof CYCLES[0] - 1,
               "one month count per cycle");

static const char *const AUTOSETUP[] = {"order", "payment", "manual", "never", NULL};

/* Order matters: it is the column order of SQL_INSERT and SQL_UPDATE. */
static const struct field FIELDS[] = {
    {"name", K_TEXT, true, 200, NULL, NULL, NULL},
    {"description", K_TEXT, false, 10000, NULL, "\"\"", "\"\""},
    {"type", K_ENUM, true, 0, TYPES, NULL, NULL},
    {"server_id", K_SERVER, false, 0, NULL, "null", "null"},
    {"server_group", K_TEXT, false, 200, NULL, "null", "null"},
    {"fill_strategy", K_ENUM, false, 0, FILL, "\"least_full\"", NULL},
    {"price", K_AMOUNT, true, 0, NULL, NULL, NULL},
    {"currency", K_CURRENCY, true, 0, NULL, NULL, NULL},
    {"billing_cycle", K_ENUM, true, 0, CYCLES, NULL, NULL},
    {"setup_fee", K_AMOUNT, false, 0, NULL, "0", NULL},
    {"autosetup", K_ENUM, false, 0, AUTOSETUP, "\"payment\"", NULL},
    {"config", K_CONFIG, false, 0, NULL, "{}", "{}"},
    {"active", K_BOOL, false, 0, NULL, "true", NULL},
    {"group", K_TEXT, false, 100, NULL, "\"\"", "\"\""},
    {"visible", K_BOOL, false, 0, NULL, "true", NULL},
    {"requires_domain", K_BOOL, false, 0, NULL, "false", NULL},
    {"sort_order", K_ORDER, false, 0, NULL, "0", NULL},
    {"taxable", K_BOOL, false, 0, NULL, "true", NULL}, /* tax rules apply to its lines */
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const char *const KEYS[] = {
    "name",    "description", "type",          "server_id",       "server_group", "fill_strategy",
    "price",   "currency",    "billing_cycle", "setup_fee",       "autosetup",    "config",
    "active",  "group",       "visible",       "requires_domain", "sort_order",   "prices",
    "taxable", NULL,
};

/* The old single-price fields: shorthand for a one-price list, and the mirror of the first price.
 */
static const char *const PRICE_PARTS[] = {"price", "currency", "billing_cycle", "setup_fee", NULL};

#define PRODUCT_COLUMNS                                                                            \
    "id, name, description, type, server_id, server_group, fill_strategy, price, currency, "       \
    "billing_cycle, setup_fee, autosetup, config, active, store_group AS \"group\", visible,"      \
    " requires_domain, sort_order, taxable, created_at, updated_at"

static const char SQL_GET[] = "SELECT " PRODUCT_COLUMNS " FROM products WHERE id = $1";

/* PostgreSQL: the row stays locked until commit, so concurrent read-modify-write
 * changes cannot overwrite each other and no service can start using a product
 * being deleted. SQLite writers are already serialised by BEGIN IMMEDIATE. */
static const char SQL_GET_LOCKED[] =
    "SELECT " PRODUCT_COLUMNS " FROM products WHERE id = $1 FOR UPDATE";

static const char SQL_LIST[] =
    "SELECT " PRODUCT_COLUMNS " FROM products WHERE id > $1 ORDER BY id LIMIT $2";

/* $1..$18 are FIELDS in order, $19 created_at, $20 updated_at. */
static const char SQL_INSERT[] =
    "INSERT INTO products (name, description, type, server_id, server_group, fill_strategy,"
    " price, currency, billing_cycle, setup_fee, autosetup, config, active, store_group,"
    " visible, requires_domain, sort_order, taxable, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
    " $19, $20) RETURNING id";

static const char SQL_UPDATE[] =
    "UPDATE products SET name = $1, description = $2, type = $3, server_id = $4,"
    " server_group = $5, fill_strategy = $6, price = $7, currency = $8, billing_cycle = $9,"
    " setup_fee = $10, autosetup = $11, config = $12, active = $13, store_group = $14,"
    " visible = $15, requires_domain = $16, sort_order = $17, taxable = $18, created_at = $19,"
    " updated_at = $20 WHERE id = $21";

/* A product's prices in the order the admin gave them; the first is mirrored in products. */
static const char SQL_PRICES[] =
    "SELECT billing_cycle, currency, amount, setup_fee FROM product_prices"
    " WHERE product_id = $1 ORDER BY id";

static const char SQL_PRICES_DELETE[] = "DELETE FROM product_prices WHERE product_id = $1";

static const char SQL_PRICE_INSERT[] =
    "INSERT INTO product_prices (product_id, billing_cycle, currency, amount, setup_fee)"
    " VALUES ($1, $2, $3, $4, $5)";

/*
 * The public store: visible, active products with whether a server has room
 * (in_stock) and whether an order needs a domain (the product says so, or a
 * server it may land on is DirectAdmin). Nothing of the servers themselves
 * leaves this query.
 */
#define SERVER_OF_PRODUCT                                                                          \
    "(s.id = p.server_id OR (p.server_id IS NULL AND s.group_name = p.server_group))"
#define STORE_COLUMNS                                                                              \
    "p.id, p.name, p.description, p.type, p.store_group AS \"group\", p.sort_order,"               \
    " CASE WHEN EXISTS (SELECT 1 FROM servers s WHERE " SERVER_OF_PRODUCT                          \
    " AND s.active = 1 AND (s.max_accounts = 0 OR s.account_count < s.max_accounts))"              \
    " THEN 1 ELSE 0 END AS in_stock,"                                                              \
    " CASE WHEN p.requires_domain = 1 OR EXISTS (SELECT 1 FROM servers s WHERE " SERVER_OF_PRODUCT \
    " AND s.type = 'directadmin') THEN 1 ELSE 0 END AS requires_domain"

static const char SQL_STORE_LIST[] =
    "SELECT " STORE_COLUMNS " FROM products p WHERE p.visible = 1 AND p.active = 1"
    " ORDER BY CASE WHEN p.store_group = '' THEN 1 ELSE 0 END, p.store_group, p.sort_order, p.id";

static const char SQL_STORE_GET[] =
    "SELECT " STORE_COLUMNS " FROM products p WHERE p.id = $1 AND p.visible = 1 AND p.active = 1";

static const char SQL_DELETE[] = "DELETE FROM products WHERE id = $1";

static const char SQL_SERVER_EXISTS[] = "SELECT COUNT(*) FROM servers WHERE id = $1";

static const char SQL_SERVICES_USING[] = "SELECT COUNT(*) FROM services WHERE product_id = $1";

/* ---- validation --------------------------------------------------------- */

static const struct field *field_named(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(FIELDS[i].name, name) == 0)
            return &FIELDS[i];
    return NULL;
}

static int set_new(json_t *obj, const char *key, json_t *v, struct lumi_err *err)
{
    if (json_object_set_new(obj, key, v) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 1;
}

/* Sets obj[key] to a JSON literal from FIELDS (trusted constant text). */
static int set_literal(json_t *obj, const char *key, const char *literal, struct lumi_err *err)
{
    return set_new(obj, key, json_loads(literal, JSON_DECODE_ANY, NULL), err);
}

static int take_text(const json_t *in, const struct field *f, bool required, json_t **out,
                     struct lumi_err *err)
{
    const char *s = NULL;
    int rc = jsonx_take_str(in, f->name, required, f->max_len, &s, err);
    if (rc <= 0)
        return rc;
    if (f->required && s[0] == '\0')
        return err_set(err, LUMI_EINVAL, "field '%s' must not be empty", f->name);
    *out = json_string(s);
    return 1;
}

static int take_currency(const json_t *in, const struct field *f, bool required, json_t **out,
                         struct lumi_err *err)
{
    const char *s = NULL;
    int rc = jsonx_take_str(in, f->name, required, 16, &s, err);
    if (rc <= 0)
        return rc;
    char code[4];
    if (money_currency_normalize(s, code) < 0)
        return err_set(err, LUMI_EINVAL,
                       "field '%s' must be a known ISO 4217 currency code such as \"usd\"",
                       f->name);
    *out = json_string(code);
    return 1;
}

static int take_config(const json_t *in, const struct field *f, bool required, json_t **out,
                       struct lumi_err *err)
{
    json_t *obj = NULL;
    int rc = jsonx_take_object(in, f->name, required, &obj, err);
    if (rc <= 0)
        return rc;
    char *text = jsonx_dump_canonical(obj);
    if (text == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    size_t len = strlen(text);
    free(text);
    if (len > PRODUCTS_CONFIG_MAX)
        return err_set(err, LUMI_EINVAL, "field '%s' is larger than %d bytes", f->name,
                       PRODUCTS_CONFIG_MAX);
    *out = json_deep_copy(obj);
    return 1;
}

/* Reads one member per its kind into a new value in *out: 1, 0 (absent) or < 0. */
static int take_value(const json_t *in, const struct field *f, bool required, json_t **out,
                      struct lumi_err *err)
{
    const char *s = NULL;
    int64_t n = 0;
    bool b = false;
    int rc;
    switch (f->kind) {
    case K_TEXT:
        return take_text(in, f, required, out, err);
    case K_CURRENCY:
        return take_currency(in, f, required, out, err);
    case K_CONFIG:
        return take_config(in, f, required, out, err);
    case K_ENUM:
        rc = jsonx_take_enum(in, f->name, required, f->choices, &s, err);
        if (rc == 1)
            *out = json_string(s);
        return rc;
    case K_AMOUNT:
    case K_SERVER:
        rc = jsonx_take_int(in, f->name, required, f->kind == K_SERVER ? 1 : 0,
                            f->kind == K_SERVER ? INT64_MAX : PRODUCTS_AMOUNT_MAX, &n, err);
        if (rc == 1)
            *out = json_integer(n);
        return rc;
    case K_ORDER:
        rc = jsonx_take_int(in, f->name, required, -PRODUCTS_SORT_MAX, PRODUCTS_SORT_MAX, &n, err);
        if (rc == 1)
            *out = json_integer(n);
        return rc;
    case K_BOOL:
        rc = jsonx_take_bool(in, f->name, required, &b, err);
        if (rc == 1)
            *out = json_boolean(b);
        return rc;
    }
    return err_set(err, LUMI_EINTERNAL, "field '%s' has no reader", f->name);
}

static int take_field(const json_t *in, const struct field *f, bool create, json_t *out,
                      struct lumi_err *err)
{
    if (!create && json_is_null(json_object_get(in, f->name))) {
        if (f->on_null == NULL)
            return err_set(err, LUMI_EINVAL, "field '%s' cannot be null", f->name);
        return set_literal(out, f->name, f->on_null, err);
    }
    json_t *v = NULL;
    int rc = take_value(in, f, create && f->required, &v, err);
    if (rc <= 0)
        return rc;
    return set_new(out, f->name, v, err);
}

static bool is_price_part(const char *name)
{
    for (size_t i = 0; PRICE_PARTS[i] != NULL; i++)
        if (strcmp(PRICE_PARTS[i], name) == 0)
            return true;
    return false;
}

static bool has_price_parts(const json_t *in)
{
    for (size_t i = 0; PRICE_PARTS[i] != NULL; i++)
        if (json_object_get(in, PRICE_PARTS[i]) != NULL)
            return true;
    return false;
}

/* Prefixes err's message with "field 'prices[i]': " so it names the element. */
static int price_error(struct lumi_err *err, size_t i)
{
    char msg[LUMI_ERR_MSG_MAX];
    str_copy(msg, err->msg, sizeof msg);
    return err_set(err, err->code, "prices[%zu]: %s", i, msg);
}

/* Reads one element of "prices" into a new normalised object in *out. */
static int take_price(const json_t *in, size_t i, json_t **out, struct lumi_err *err)
{
    static const char *const keys[] = {"billing_cycle", "currency", "amount", "setup_fee", NULL};
    const char *cycle = NULL, *currency = NULL;
    int64_t amount = 0, setup = 0;
    char code[4];
    if (!json_is_object(in))
        return err_set(err, LUMI_EINVAL,
                       "field 'prices[%zu]' must be an object {billing_cycle, currency, amount, "
                       "setup_fee}",
                       i);
    if (jsonx_check_keys(in, keys, err) < 0 ||
        jsonx_take_enum(in, "billing_cycle", true, CYCLES, &cycle, err) < 0 ||
        jsonx_take_str(in, "currency", true, 16, &currency, err) < 0 ||
        jsonx_take_int(in, "amount", true, 0, PRODUCTS_AMOUNT_MAX, &amount, err) < 0 ||
        jsonx_take_int(in, "setup_fee", false, 0, PRODUCTS_AMOUNT_MAX, &setup, err) < 0)
        return price_error(err, i);
    if (money_currency_normalize(currency, code) < 0)
        return err_set(err, LUMI_EINVAL,
                       "prices[%zu]: field 'currency' must be a known ISO 4217 currency code such "
                       "as \"usd\"",
                       i);
    *out = json_pack("{s:s, s:s, s:I, s:I}", "billing_cycle", cycle, "currency", code, "amount",
                     (json_int_t)amount, "setup_fee", (json_int_t)setup);
    return *out != NULL ? 0 : err_set(err, LUMI_ENOMEM, "out of memory");
}

/* The rules across a price list: not empty, free costs nothing, one price per (currency, cycle). */
static int check_prices(const json_t *prices, struct lumi_err *err)
{
    size_t n = json_array_size(prices);
    if (n == 0)
        return err_set(err, LUMI_EINVAL, "field 'prices' must list at least one price");
    if (n > PRODUCTS_PRICES_MAX)
        return err_set(err, LUMI_EINVAL, "field 'prices' lists more than %d prices",
                       PRODUCTS_PRICES_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(prices, i);
        const char *cycle = json_string_value(json_object_get(a, "billing_cycle"));
        const char *cur = json_string_value(json_object_get(a, "currency"));
        if (strcmp(cycle, "free") == 0 &&
            (json_integer_value(json_object_get(a, "amount")) != 0 ||
             json_integer_value(json_object_get(a, "setup_fee")) != 0))
            return err_set(err, LUMI_EINVAL,
                           "prices[%zu]: a 'free' price must have amount 0 and setup_fee 0", i);
        for (size_t j = 0; j < i; j++) {
            const json_t *b = json_array_get(prices, j);
            if (strcmp(cycle, json_string_value(json_object_get(b, "billing_cycle"))) == 0 &&
                strcmp(cur, json_string_value(json_object_get(b, "currency"))) == 0)
                return err_set(err, LUMI_EINVAL,
                               "prices[%zu]: there is already a %s price in %s (prices[%zu])", i,
                               cycle, cur, j);
        }
    }
    return 0;
}

static int take_prices(const json_t *in, json_t *out, struct lumi_err *err)
{
    const json_t *list = json_object_get(in, "prices");
    json_t *prices = NULL;
    size_t i;
    json_t *v;
    if (!json_is_array(list))
        return err_set(err, LUMI_EINVAL,
                       "field 'prices' must be an array of {billing_cycle, currency, amount, "
                       "setup_fee}");
    if (json_array_size(list) > PRODUCTS_PRICES_MAX)
        return err_set(err, LUMI_EINVAL, "field 'prices' lists more than %d prices",
                       PRODUCTS_PRICES_MAX);
    prices = json_array();
    if (prices == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    json_array_foreach(list, i, v)
    {
        json_t *p = NULL;
        if (take_price(v, i, &p, err) < 0 || json_array_append_new(prices, p) < 0) {
            json_decref(prices);
            return err->code != 0 ? err->code : err_set(err, LUMI_ENOMEM, "out of memory");
        }
    }
    if (check_prices(prices, err) < 0) {
        json_decref(prices);
        return err->code;
    }
    return set_new(out, "prices", prices, err);
}

/* Validates in into out: the normalised values of the fields present (create: all, with defaults).
 * With "prices" the single price fields are neither required nor accepted. */
static int validate(const json_t *in, bool create, json_t *out, struct lumi_err *err)
{
    bool listed = json_object_get(in, "prices") != NULL;
    int rc = jsonx_check_keys(in, KEYS, err);
    if (rc < 0)
        return rc;
    if (listed && has_price_parts(in))
        return err_set(err, LUMI_EINVAL,
                       "field 'prices': give either prices or the single price fields (price, "
                       "currency, billing_cycle, setup_fee), not both");
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &FIELDS[i];
        bool part = is_price_part(f->name);
        if (listed && part)
            continue;
        rc = take_field(in, f, create, out, err);
        if (rc < 0)
            return rc;
        if (rc == 0 && create && f->dflt != NULL) {
            rc = set_literal(out, f->name, f->dflt, err);
            if (rc < 0)
                return rc;
        }
    }
    return listed ? take_prices(in, out, err) : 0;
}

/*
 * Settles want's prices against the stored product cur (NULL on create):
 * the single price fields, when given, replace the first price (the other
 * prices stay); then want's single price fields mirror its first price, so
 * the old columns always do.
 */
static int resolve_prices(const json_t *cur, json_t *want, struct lumi_err *err)
{
    json_t *prices = json_object_get(want, "prices");
    if (prices == NULL) {
        if (!has_price_parts(want))
            return 0;
        const json_t *old = cur != NULL ? json_object_get(cur, "prices") : NULL;
        json_t *first = json_deep_copy(json_array_get(old, 0));
        json_t *list = json_array();
        if (first == NULL)
            first = json_object();
        if (first == NULL || list == NULL || json_array_append_new(list, first) < 0) {
            json_decref(list);
            return err_set(err, LUMI_ENOMEM, "out of memory");
        }
        static const char *const from[] = {"price", "currency", "billing_cycle", "setup_fee"};
        static const char *const to[] = {"amount", "currency", "billing_cycle", "setup_fee"};
        for (size_t i = 0; i < 4; i++) {
            json_t *v = json_object_get(want, from[i]);
            if (v != NULL)
                json_object_set(first, to[i], v);
        }
        if (json_object_get(first, "setup_fee") == NULL)
            json_object_set_new(first, "setup_fee", json_integer(0));
        for (size_t i = 1; i < json_array_size(old); i++)
            json_array_append_new(list, json_deep_copy(json_array_get(old, i)));
        const char *cycle = json_string_value(json_object_get(first, "billing_cycle"));
        if (strcmp(cycle, "free") == 0 &&
            (json_integer_value(json_object_get(first, "amount")) != 0 ||
             json_integer_value(json_object_get(first, "setup_fee")) != 0)) {
            json_decref(list);
            return err_set(err, LUMI_EINVAL,
                           "field 'price': a 'free' product must have price 0 and setup_fee 0");
        }
        if (check_prices(list, err) < 0) {
            json_decref(list);
            return err_set(err, LUMI_EINVAL,
                           "field 'billing_cycle': the product already has a %s price in %s", cycle,
                           json_string_value(json_object_get(first, "currency")));
        }
        if (set_new(want, "prices", list, err) < 0)
            return err->code;
        prices = list;
    }
    const json_t *first = json_array_get(prices, 0);
    if (json_object_set(want, "price", json_object_get(first, "amount")) < 0 ||
        json_object_set(want, "currency", json_object_get(first, "currency")) < 0 ||
        json_object_set(want, "billing_cycle", json_object_get(first, "billing_cycle")) < 0 ||
        json_object_set(want, "setup_fee", json_object_get(first, "setup_fee")) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

/* ---- storage ------------------------------------------------------------ */

/* The stored config was written by this module; failing to parse it is a broken invariant. */
static json_t *parse_config(const char *text, struct lumi_err *err)
{
    json_t *v = jsonx_parse_object(text, strlen(text), NULL);
    if (v == NULL)
        err_set(err, LUMI_EINTERNAL, "a stored product config is not a JSON object");
    return v;
}

static json_t *column_value(struct db_stmt *st, int col, const struct field *f,
                            struct lumi_err *err)
{
    const char *text = db_col_text(st, col);
    if (f == NULL)
        return json_string(text != NULL ? text : "");
    if (db_col_is_null(st, col))
        return json_null();
    switch (f->kind) {
    case K_AMOUNT:
    case K_SERVER:
    case K_ORDER:
        return json_integer(db_col_int64(st, col));
    case K_BOOL:
        return json_boolean(db_col_int64(st, col) != 0);
    case K_CONFIG:
        return parse_config(text, err);
    case K_TEXT:
    case K_ENUM:
    case K_CURRENCY:
        break;
    }
    return json_string(text);
}

static json_t *row_to_json(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < db_col_count(st); i++) {
        const char *name = db_col_name(st, i);
        json_t *v = strcmp(name, "id") == 0 ? json_integer(db_col_int64(st, i))
                                            : column_value(st, i, field_named(name), err);
        if (json_object_set_new(o, name, v) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    if (o == NULL && (err == NULL || err->code == 0))
        err_set(err, LUMI_ENOMEM, "out of memory reading a product");
    return o;
}

/* The product's prices as a new array, oldest first. */
static json_t *read_prices(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *prices = json_array();
    json_t *result = NULL;
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_PRICES, err);
    if (st == NULL || prices == NULL)
        goto out;
    if (db_bind_int64(st, 1, id) < 0) {
        err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *p =
            json_pack("{s:s, s:s, s:I, s:I}", "billing_cycle", db_col_text(st, 0), "currency",
                      db_col_text(st, 1), "amount", (json_int_t)db_col_int64(st, 2), "setup_fee",
                      (json_int_t)db_col_int64(st, 3));
        if (p == NULL || json_array_append_new(prices, p) < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    result = prices;
    prices = NULL;
out:
    if (result == NULL && err->code == 0)
        err_set(err, LUMI_ENOMEM, "out of memory reading prices");
    db_finalize(st);
    json_decref(prices);
    return result;
}

/* Sets o["prices"] from product_prices. */
static int attach_prices(struct db *db, json_t *o, struct lumi_err *err)
{
    json_t *prices = read_prices(db, json_integer_value(json_object_get(o, "id")), err);
    if (prices == NULL)
        return err->code;
    return set_new(o, "prices", prices, err) < 0 ? err->code : 0;
}

/* attach_prices on every product of an array; a NULL rows passes through. */
static json_t *attach_all(struct db *db, json_t *rows, struct lumi_err *err)
{
    size_t i;
    json_t *o;
    json_array_foreach(rows, i, o)
    {
        if (attach_prices(db, o, err) < 0) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

/* Runs one statement of the price list: $1 the product, then (when v) its price's columns. */
static int price_step(struct db *db, const char *sql, int64_t id, const json_t *v,
                      struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    rc = db_bind_int64(st, 1, id);
    if (rc >= 0 && v != NULL &&
        (db_bind_text(st, 2, json_string_value(json_object_get(v, "billing_cycle"))) < 0 ||
         db_bind_text(st, 3, json_string_value(json_object_get(v, "currency"))) < 0 ||
         db_bind_int64(st, 4, json_integer_value(json_object_get(v, "amount"))) < 0 ||
         db_bind_int64(st, 5, json_integer_value(json_object_get(v, "setup_fee"))) < 0))
        rc = -1;
    if (rc < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc > 0)
        rc = rc == DB_DONE ? 0 : err_set(err, LUMI_EDB, "a price statement returned rows");
out:
    db_finalize(st);
    return rc;
}

/* Replaces the product's prices with the list p["prices"], in its order. */
static int write_prices(struct db *db, int64_t id, const json_t *p, struct lumi_err *err)
{
    size_t i;
    json_t *v;
    int rc = price_step(db, SQL_PRICES_DELETE, id, NULL, err);
    json_array_foreach(json_object_get(p, "prices"), i, v)
    {
        if (rc < 0)
            break;
        rc = price_step(db, SQL_PRICE_INSERT, id, v, err);
    }
    return rc < 0 ? rc : 0;
}

/* The row as JSON with its prices; lock: for a change inside the open transaction. */
static json_t *fetch_product(struct db *db, int64_t id, bool lock, struct lumi_err *err)
{
    const char *sql = lock && db_kind(db) == DB_POSTGRES ? SQL_GET_LOCKED : SQL_GET;
    json_t *o = listing_get(db, sql, id, row_to_json, "product", err);
    if (o != NULL && attach_prices(db, o, err) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Runs sql with $1 = id; *count gets the first column of the first row. */
static int count_by_id(struct db *db, const char *sql, int64_t id, int64_t *count,
                       struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    if (db_bind_int64(st, 1, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        *count = db_col_int64(st, 0);
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_EDB, "a COUNT returned no row");
    }
out:
    db_finalize(st);
    return rc;
}

static int check_server(struct db *db, const json_t *want, struct lumi_err *err)
{
    const json_t *v = json_object_get(want, "server_id");
    if (!json_is_integer(v))
        return 0;
    int64_t id = json_integer_value(v);
    int64_t n = 0;
    int rc = count_by_id(db, SQL_SERVER_EXISTS, id, &n, err);
    if (rc < 0)
        return rc;
    if (n == 0)
        return err_set(err, LUMI_EINVAL, "server %" PRId64 " does not exist", id);
    return 0;
}

static int bind_value(struct db_stmt *st, int idx, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return db_bind_text(st, idx, json_string_value(v));
    case JSON_INTEGER:
        return db_bind_int64(st, idx, json_integer_value(v));
    case JSON_TRUE:
        return db_bind_int64(st, idx, 1);
    case JSON_FALSE:
        return db_bind_int64(st, idx, 0);
    case JSON_OBJECT: {
        char *text = jsonx_dump_canonical(v);
        int rc = text != NULL ? db_bind_text(st, idx, text) : LUMI_ENOMEM;
        free(text);
        return rc;
    }
    case JSON_NULL:
    case JSON_ARRAY:
    case JSON_REAL:
        break;
    }
    return db_bind_null(st, idx);
}

/* Binds FIELDS, created_at, updated_at of p as $1..$15; returns the next index. */
static int bind_product(struct db_stmt *st, const json_t *p, struct lumi_err *err)
{
    static const char *const stamps[] = {"created_at", "updated_at"};
    int idx = 1;
    int rc = 0;
    for (size_t i = 0; i < NFIELDS && rc >= 0; i++, idx++)
        rc = bind_value(st, idx, json_object_get(p, FIELDS[i].name));
    for (size_t i = 0; i < 2 && rc >= 0; i++, idx++)
        rc = db_bind_text(st, idx, json_string_value(json_object_get(p, stamps[i])));
    if (rc < 0)
        return err_set(err, rc == LUMI_ENOMEM ? LUMI_ENOMEM : LUMI_EDB, "cannot bind a parameter");
    return idx;
}

static int insert_product(struct db *db, const json_t *p, int64_t *id, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    rc = bind_product(st, p, err);
    if (rc < 0)
        goto out;
    rc = db_step_id(st, "a product", id, err);
out:
    db_finalize(st);
    return rc;
}

static int update_product(struct db *db, int64_t id, const json_t *p, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_UPDATE, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    rc = bind_product(st, p, err);
    if (rc < 0)
        goto out;
    if (db_bind_int64(st, rc, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_DONE && db_changes(st) != 1)
        rc = err_set(err, LUMI_ENOTFOUND, "product %" PRId64 " not found", id);
    else if (rc > 0)
        rc = err_set(err, LUMI_EDB, "an UPDATE returned rows");
out:
    db_finalize(st);
    return rc;
}

static int delete_product(struct db *db, int64_t id, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_DELETE, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    if (db_bind_int64(st, 1, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    /* A foreign-key violation here means a service appeared since the count. */
    if (rc == LUMI_EINVAL)
        rc = err_set(err, LUMI_ECONFLICT,
                     "product %" PRId64 " is used by a service; set active=false instead", id);
    else if (rc == DB_DONE && db_changes(st) != 1)
        rc = err_set(err, LUMI_ENOTFOUND, "product %" PRId64 " not found", id);
    else if (rc > 0)
        rc = err_set(err, LUMI_EDB, "a DELETE returned rows");
out:
    db_finalize(st);
    return rc;
}

/* ---- public ------------------------------------------------------------- */

json_t *products_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                      struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return attach_all(
        db, listing_page(db, SQL_LIST, after_id, limit, row_to_json, next_cursor, err), err);
}

json_t *products_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return fetch_product(db, id, false, err);
}

json_t *products_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                        struct lumi_err *err)
{
    struct lumi_err local;
    char now[UTC_ISO_LEN];
    json_t *p = NULL;
    json_t *result = NULL;
    int64_t id = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    p = json_object();
    if (p == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (validate(input, true, p, err) < 0 || resolve_prices(NULL, p, err) < 0)
        goto out;
    utc_now_iso(now);
    if (set_new(p, "created_at", json_string(now), err) < 0 ||
        set_new(p, "updated_at", json_string(now), err) < 0)
        goto out;
    if (db_begin(db, err) < 0)
        goto out;
    if (check_server(db, p, err) < 0 || insert_product(db, p, &id, err) < 0 ||
        write_prices(db, id, p, err) < 0)
        goto out;
    result = fetch_product(db, id, false, err);
    if (result == NULL)
        goto out;
    if (audit_append_id(db, actor, "PRODUCT_CREATED", "product", id, result, err) < 0 ||
        db_commit(db, err) < 0) {
        json_decref(result);
        result = NULL;
    }
out:
    if (result == NULL)
        db_rollback(db);
    json_decref(p);
    return result;
}

json_t *products_update(struct db *db, const struct audit_actor *actor, int64_t id,
                        const json_t *patch, struct lumi_err *err)
{
    struct lumi_err local;
    char now[UTC_ISO_LEN];
    json_t *want = NULL;
    json_t *cur = NULL;
    json_t *changed = NULL;
    json_t *details = NULL;
    json_t *result = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (json_object_size(patch) == 0) {
        err_set(err, LUMI_EINVAL, "request body must name at least one field to change");
        goto out;
    }
    want = json_object();
    if (want == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (validate(patch, false, want, err) < 0)
        goto out;
    if (db_begin(db, err) < 0)
        goto out;
    cur = fetch_product(db, id, true, err);
    if (cur == NULL || resolve_prices(cur, want, err) < 0)
        goto out;
    changed = jsonx_apply_changes(cur, want);
    if (changed == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (json_object_size(changed) == 0) {
        /* Nothing differs from what is stored: no write, no audit row. */
        db_rollback(db);
        result = cur;
        cur = NULL;
        goto out;
    }
    if (json_object_get(changed, "server_id") != NULL && check_server(db, cur, err) < 0)
        goto out;
    utc_now_iso(now);
    details = json_pack("{s:O}", "changed", changed);
    if (details == NULL || set_new(cur, "updated_at", json_string(now), err) < 0) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (update_product(db, id, cur, err) < 0 ||
        (json_object_get(changed, "prices") != NULL && write_prices(db, id, cur, err) < 0))
        goto out;
    if (audit_append_id(db, actor, "PRODUCT_UPDATED", "product", id, details, err) < 0 ||
        db_commit(db, err) < 0)
        goto out;
    result = cur;
    cur = NULL;
out:
    if (result == NULL)
        db_rollback(db);
    json_decref(want);
    json_decref(cur);
    json_decref(changed);
    json_decref(details);
    return result;
}

int products_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                    struct lumi_err *err)
{
    struct lumi_err local;
    json_t *cur = NULL;
    int64_t used = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    rc = db_begin(db, err);
    if (rc < 0)
        goto out;
    cur = fetch_product(db, id, true, err);
    if (cur == NULL) {
        rc = err->code;
        goto out;
    }
    rc = count_by_id(db, SQL_SERVICES_USING, id, &used, err);
    if (rc < 0)
        goto out;
    if (used > 0) {
        rc = err_set(err, LUMI_ECONFLICT,
                     "product %" PRId64 " is used by %" PRId64
                     " service%s; set active=false instead",
                     id, used, used == 1 ? "" : "s");
        goto out;
    }
    rc = delete_product(db, id, err);
    if (rc < 0)
        goto out;
    rc = audit_append_id(db, actor, "PRODUCT_DELETED", "product", id, cur, err);
    if (rc < 0)
        goto out;
    rc = db_commit(db, err);
out:
    if (rc < 0)
        db_rollback(db);
    json_decref(cur);
    return rc;
}

/* ---- the public store ----------------------------------------------------- */

/* A row of STORE_COLUMNS as the store shows it (nothing internal is selected). */
static json_t *store_row(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b, s:b}", "id",
                          (json_int_t)db_col_int64(st, 0), "name", db_col_text(st, 1),
                          "description", db_col_text(st, 2) ? db_col_text(st, 2) : "", "type",
                          db_col_text(st, 3), "group", db_col_text(st, 4) ? db_col_text(st, 4) : "",
                          "sort_order", (json_int_t)db_col_int64(st, 5), "in_stock",
                          db_col_int64(st, 6) != 0, "requires_domain", db_col_int64(st, 7) != 0);
    if (o == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory reading a product");
    return o;
}

/* Appends product to the last group of groups, or to a new one when its group differs. */
static int add_to_group(json_t *groups, json_t *product, struct lumi_err *err)
{
    const char *name = json_string_value(json_object_get(product, "group"));
    json_t *last = json_array_get(groups, json_array_size(groups) - 1);
    if (last == NULL || strcmp(json_string_value(json_object_get(last, "name")), name) != 0) {
        last = json_pack("{s:s, s:[]}", "name", name, "products");
        if (last == NULL || json_array_append_new(groups, last) < 0) {
            json_decref(product);
            return err_set(err, LUMI_ENOMEM, "out of memory");
        }
    }
    if (json_array_append_new(json_object_get(last, "products"), product) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

json_t *products_store_list(struct db *db, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *groups = NULL, *result = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    struct db_stmt *st = db_prepare(db, SQL_STORE_LIST, err);
    groups = json_array();
    if (st == NULL || groups == NULL)
        goto out;
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *p = store_row(st, err);
        if (p == NULL || add_to_group(groups, p, err) < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    db_finalize(st);
    st = NULL;
    /* Prices once the statement is done: one open statement per connection at a time. */
    for (size_t g = 0; g < json_array_size(groups); g++) {
        const json_t *products = json_object_get(json_array_get(groups, g), "products");
        for (size_t i = 0; i < json_array_size(products); i++)
            if (attach_prices(db, json_array_get(products, i), err) < 0)
                goto out;
    }
    result = json_pack("{s:O}", "groups", groups);
out:
    if (result == NULL && err->code == 0)
        err_set(err, LUMI_ENOMEM, "out of memory");
    db_finalize(st);
    json_decref(groups);
    return result;
}

json_t *products_store_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    json_t *o = listing_get(db, SQL_STORE_GET, id, store_row, "product", err);
    if (o != NULL && attach_prices(db, o, err) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int products_cycle_months(const char *billing_cycle)
{
    for (size_t i = 0; billing_cycle != NULL && CYCLES[i] != NULL; i++)
        if (strcmp(billing_cycle, CYCLES[i]) == 0)
            return CYCLE_MONTHS[i];
    return -1;
}
