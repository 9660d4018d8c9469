/*
 * p_products.c — /admin/products: the catalogue list, the two-step add form
 * (choose the server, then the product with that panel's module
 * configuration), the edit form and deletion.
 *
 * Every change goes through the functions behind /api/admin/products
 * (products_create, products_update, products_delete): the form is turned
 * into the same JSON body the API takes, so the rules, messages and audit
 * rows are the API's. The page's own work is only the translation: typed
 * amounts ("12.50") become minor units with money_parse for the chosen
 * currency, number fields of the module configuration become integers.
 *
 * Prices: the main price (the single fields price, setup_fee, currency,
 * billing_cycle, shown first in the store) and the rows of the prices editor
 * (price_cycle_N, price_currency_N, price_amount_N, price_setup_N for N = 1..,
 * the stored extra prices then PRICE_BLANK_ROWS blank ones) become one
 * "prices" list, main price first; a row left without an amount is dropped,
 * which is how a price is removed.
 *
 * For Pterodactyl the nest, egg and location choices are read live from the
 * product's server on every form render (ptero_list_nests/_eggs/_locations);
 * when the panel cannot be reached the form shows the panel's message and
 * plain number inputs instead, so a product can still be saved. Editing
 * replaces only the configuration keys the form knows; keys set through the
 * API (environment, port_range, …) are kept.
 *
 * Handlers run on the request's worker thread; no shared state. The panel
 * secret lives in a stack struct server_conn, wiped before returning.
 */
#include <stdio.h>
#include <string.h>

#include "billing/products.h"
#include "core/money.h"
#include "core/str.h"
#include "panels/pterodactyl.h"
#include "provisioning/servers.h"
#include "web/page.h"
#include "web/admin/pages_billing.h"

/* Products per list page. */
#define LIST_PAGE 50
/* A page waits at most this long for the panel's choices. */
#define PANEL_TIMEOUT_MS 10000
#define PANEL_CONNECT_TIMEOUT_MS 3000
/* Blank rows the prices editor offers for adding prices, and the most rows it reads. */
#define PRICE_BLANK_ROWS 3
#define PRICE_ROWS_MAX PRODUCTS_PRICES_MAX
/* Largest number accepted in a module configuration field. */
#define CFG_INT_MAX INT64_C(1000000000000)

enum cfg_kind { CFG_INT, CFG_STR, CFG_INT_LIST };

/* One module configuration field of a panel type: form field → config key. */
struct cfg_field {
    const char *panel;
    const char *form;
    const char *key;
    enum cfg_kind kind;
    int64_t min;
};

/* DESIGN.md "Product config per panel type", the fields the form offers. */
static const struct cfg_field CFG_FIELDS[] = {
    {"pterodactyl", "nest_id", "nest_id", CFG_INT, 1},
    {"pterodactyl", "egg_id", "egg_id", CFG_INT, 1},
    {"pterodactyl", "location_id", "location_ids", CFG_INT_LIST, 1},
    {"pterodactyl", "memory", "memory", CFG_INT, 0},
    {"pterodactyl", "swap", "swap", CFG_INT, -1},
    {"pterodactyl", "disk", "disk", CFG_INT, 0},
    {"pterodactyl", "io", "io", CFG_INT, 0},
    {"pterodactyl", "cpu", "cpu", CFG_INT, 0},
    {"pterodactyl", "databases", "databases", CFG_INT, 0},
    {"pterodactyl", "allocations", "allocations", CFG_INT, 0},
    {"pterodactyl", "backups", "backups", CFG_INT, 0},
    {"pterodactyl", "docker_image", "docker_image", CFG_STR, 0},
    {"directadmin", "package", "package", CFG_STR, 0},
    {"directadmin", "ip", "ip", CFG_STR, 0},
    {"virtfusion", "package_id", "package_id", CFG_INT, 1},
    {"virtfusion", "hypervisor_group_id", "hypervisor_group_id", CFG_INT, 1},
    {"virtfusion", "ipv4", "ipv4", CFG_INT, 0},
    {"virtfusion", "os_template_id", "os_template_id", CFG_INT, 1},
    {"virtfusion", "hostname", "hostname", CFG_STR, 0},
};
#define CFG_FIELD_COUNT (sizeof CFG_FIELDS / sizeof CFG_FIELDS[0])

/* The product's own text fields, as the form names them. */
static const char *const TEXT_FIELDS[] = {"name",          "description", "type",  "currency",
                                          "billing_cycle", "autosetup",   "price", "setup_fee",
                                          "group",         "sort_order",  NULL};

struct choice {
    const char *value, *label;
};

static const struct choice TYPES[] = {{"hosting", "Web hosting"},
                                      {"vps", "VPS"},
                                      {"game_server", "Game server"},
                                      {"other", "Other"},
                                      {NULL, NULL}};
static const struct choice CYCLES[] = {{"monthly", "Monthly"},
                                       {"quarterly", "Quarterly"},
                                       {"semiannually", "Semi-annually"},
                                       {"annually", "Annually"},
                                       {"biennially", "Biennially"},
                                       {"onetime", "One time"},
                                       {"free", "Free"},
                                       {NULL, NULL}};
static const struct choice AUTOSETUPS[] = {{"payment", "When the first invoice is paid"},
                                           {"order", "As soon as it is ordered"},
                                           {"manual", "When an admin starts it"},
                                           {"never", "Never (set up by hand)"},
                                           {NULL, NULL}};

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v ? v : "";
}

/* A panel type's label, and the product type a new product on it most likely has. */
struct panel {
    const char *type, *label, *default_type;
};

static const struct panel PANELS[] = {{"pterodactyl", "Pterodactyl", "game_server"},
                                      {"directadmin", "DirectAdmin", "hosting"},
                                      {"virtfusion", "VirtFusion", "vps"},
                                      {NULL, "no server", "other"}};

/* The entry of panel (NULL or unknown: the last one, "no server"). */
static const struct panel *panel_of(const char *panel)
{
    size_t i = 0;
    while (PANELS[i].type != NULL && !str_eq(PANELS[i].type, panel))
        i++;
    return &PANELS[i];
}

/* [{value, label, selected}] for a <select>; current may be NULL. */
static json_t *options(const struct choice *c, const char *current)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && c[i].value != NULL; i++)
        json_array_append_new(a, json_pack("{s:s s:s s:b}", "value", c[i].value, "label",
                                           c[i].label, "selected", str_eq(c[i].value, current)));
    return a;
}

static void set_int_text(json_t *obj, const char *key, int64_t n)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)n);
    json_object_set_new(obj, key, json_string(t));
}

static void set_money_text(json_t *obj, const char *key, const json_t *amount, const char *cur)
{
    char t[MONEY_TEXT_MAX];
    if (json_is_integer(amount) && cur != NULL &&
        money_format(json_integer_value(amount), cur, t, sizeof t) == 0)
        json_object_set_new(obj, key, json_string(t));
}

/* ---- form values (all strings, as typed) ---------------------------------- */

static const char *const ROW_FIELDS[] = {"cycle", "currency", "amount", "setup", NULL};

/* The prices editor's rows as typed: [{cycle, currency, amount, setup}] up to the last posted. */
static json_t *rows_from_form(struct web_req *req)
{
    json_t *rows = json_array();
    for (int n = 1; rows != NULL && n <= PRICE_ROWS_MAX; n++) {
        char name[32];
        snprintf(name, sizeof name, "price_cycle_%d", n);
        if (web_form_value(req, name) == NULL)
            break;
        json_t *row = json_object();
        for (size_t i = 0; row != NULL && ROW_FIELDS[i] != NULL; i++) {
            snprintf(name, sizeof name, "price_%s_%d", ROW_FIELDS[i], n);
            json_object_set_new(row, ROW_FIELDS[i], json_string(form_str(req, name)));
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

/* The stored prices after the first as editor rows (amounts typed in their currency). */
static json_t *rows_from_product(const json_t *p)
{
    json_t *rows = json_array();
    const json_t *prices = json_object_get(p, "prices");
    for (size_t i = 1; rows != NULL && i < json_array_size(prices); i++) {
        const json_t *x = json_array_get(prices, i);
        const char *cur = json_string_value(json_object_get(x, "currency"));
        json_t *row =
            json_pack("{s:s s:s}", "cycle", json_string_value(json_object_get(x, "billing_cycle")),
                      "currency", cur);
        if (row == NULL)
            continue;
        set_money_text(row, "amount", json_object_get(x, "amount"), cur);
        set_money_text(row, "setup", json_object_get(x, "setup_fee"), cur);
        json_array_append_new(rows, row);
    }
    return rows;
}

/* What the form holds, by form field name; the ones of panel's config only. */
static json_t *values_from_form(struct web_req *req, const char *panel)
{
    json_t *v = json_object();
    if (v == NULL)
        return NULL;
    for (size_t i = 0; TEXT_FIELDS[i] != NULL; i++)
        json_object_set_new(v, TEXT_FIELDS[i], json_string(form_str(req, TEXT_FIELDS[i])));
    json_object_set_new(v, "active", json_boolean(web_form_value(req, "active") != NULL));
    json_object_set_new(v, "visible", json_boolean(web_form_value(req, "visible") != NULL));
    json_object_set_new(v, "requires_domain",
                        json_boolean(web_form_value(req, "requires_domain") != NULL));
    json_object_set_new(v, "taxable", json_boolean(web_form_value(req, "taxable") != NULL));
    json_object_set_new(v, "rows", rows_from_form(req));
    for (size_t i = 0; i < CFG_FIELD_COUNT; i++)
        if (str_eq(CFG_FIELDS[i].panel, panel))
            json_object_set_new(v, CFG_FIELDS[i].form,
                                json_string(form_str(req, CFG_FIELDS[i].form)));
    /* The egg <select> carries "nest:egg"; it wins over the fallback inputs. */
    const char *egg = form_str(req, "egg");
    const char *colon = strchr(egg, ':');
    if (str_eq(panel, "pterodactyl") && colon != NULL) {
        char nest[24];
        size_t n = (size_t)(colon - egg);
        if (n < sizeof nest) {
            memcpy(nest, egg, n);
            nest[n] = '\0';
            json_object_set_new(v, "nest_id", json_string(nest));
            json_object_set_new(v, "egg_id", json_string(colon + 1));
        }
    }
    return v;
}

/* The stored product as the form shows it. */
static json_t *values_from_product(const json_t *p, const char *panel)
{
    json_t *v = json_object();
    if (v == NULL)
        return NULL;
    const char *cur = json_string_value(json_object_get(p, "currency"));
    static const char *const copy[] = {"name",          "description", "type", "currency",
                                       "billing_cycle", "autosetup",   NULL};
    for (size_t i = 0; copy[i] != NULL; i++) {
        const char *s = json_string_value(json_object_get(p, copy[i]));
        json_object_set_new(v, copy[i], json_string(s ? s : ""));
    }
    set_money_text(v, "price", json_object_get(p, "price"), cur);
    set_money_text(v, "setup_fee", json_object_get(p, "setup_fee"), cur);
    json_object_set_new(v, "active", json_boolean(json_is_true(json_object_get(p, "active"))));
    json_object_set_new(v, "visible", json_boolean(json_is_true(json_object_get(p, "visible"))));
    json_object_set_new(v, "requires_domain",
                        json_boolean(json_is_true(json_object_get(p, "requires_domain"))));
    json_object_set_new(v, "taxable", json_boolean(json_is_true(json_object_get(p, "taxable"))));
    const char *group = json_string_value(json_object_get(p, "group"));
    json_object_set_new(v, "group", json_string(group ? group : ""));
    set_int_text(v, "sort_order", json_integer_value(json_object_get(p, "sort_order")));
    json_object_set_new(v, "rows", rows_from_product(p));
    const json_t *cfg = json_object_get(p, "config");
    for (size_t i = 0; i < CFG_FIELD_COUNT; i++) {
        const struct cfg_field *f = &CFG_FIELDS[i];
        if (!str_eq(f->panel, panel))
            continue;
        const json_t *x = json_object_get(cfg, f->key);
        if (f->kind == CFG_INT_LIST)
            x = json_array_get(x, 0);
        if (json_is_integer(x))
            set_int_text(v, f->form, json_integer_value(x));
        else if (json_is_string(x))
            json_object_set_new(v, f->form, json_string(json_string_value(x)));
    }
    return v;
}

/* ---- form values → the API's JSON body ----------------------------------- */

static int parse_amount(const char *field, const char *text, const char *cur, int64_t *out,
                        struct lumi_err *err)
{
    struct lumi_err perr = {0};
    if (money_parse(text, cur, out, &perr) == 0)
        return 0;
    return err_set(err, LUMI_EINVAL, "field '%s': %s", field, perr.msg);
}

/*
 * The config object: base (borrowed, may be NULL: the stored config when
 * editing) with the panel's form fields set, or removed when left blank.
 * NULL with LUMI_EINVAL naming the field when a number is not one.
 */
static json_t *config_from_values(const json_t *v, const char *panel, const json_t *base,
                                  struct lumi_err *err)
{
    json_t *cfg = json_is_object(base) ? json_deep_copy(base) : json_object();
    if (cfg == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < CFG_FIELD_COUNT; i++) {
        const struct cfg_field *f = &CFG_FIELDS[i];
        if (!str_eq(f->panel, panel))
            continue;
        const char *s = json_string_value(json_object_get(v, f->form));
        if (s == NULL || *s == '\0') {
            json_object_del(cfg, f->key);
            continue;
        }
        if (f->kind == CFG_STR) {
            json_object_set_new(cfg, f->key, json_string(s));
            continue;
        }
        int64_t n = 0;
        if (str_to_i64z(s, f->min, CFG_INT_MAX, &n) != 0) {
            err_set(err, LUMI_EINVAL, "field 'config.%s' must be a whole number from %lld", f->key,
                    (long long)f->min);
            json_decref(cfg);
            return NULL;
        }
        if (f->kind == CFG_INT_LIST)
            json_object_set_new(cfg, f->key, json_pack("[I]", (json_int_t)n));
        else
            json_object_set_new(cfg, f->key, json_integer(n));
    }
    return cfg;
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/*
 * Appends the editor's rows (typed, borrowed) to prices as the API's
 * {billing_cycle, currency, amount, setup_fee}; a row without an amount is
 * left out. LUMI_EINVAL naming the row when an amount is not one.
 */
static int prices_from_rows(const json_t *rows, json_t *prices, struct lumi_err *err)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        char field[48];
        int64_t amount = 0, setup = 0;
        const char *cur = str_of(row, "currency");
        if (*str_of(row, "amount") == '\0')
            continue;
        if (!money_currency_valid(cur))
            return err_set(err, LUMI_EINVAL,
                           "price row %zu: field 'currency' must be a known ISO 4217 currency code "
                           "such as \"usd\"",
                           i + 1);
        snprintf(field, sizeof field, "price row %zu amount", i + 1);
        if (parse_amount(field, str_of(row, "amount"), cur, &amount, err) != 0)
            return LUMI_EINVAL;
        snprintf(field, sizeof field, "price row %zu setup fee", i + 1);
        if (*str_of(row, "setup") != '\0' &&
            parse_amount(field, str_of(row, "setup"), cur, &setup, err) != 0)
            return LUMI_EINVAL;
        json_array_append_new(prices,
                              json_pack("{s:s s:s s:I s:I}", "billing_cycle", str_of(row, "cycle"),
                                        "currency", cur, "amount", (json_int_t)amount, "setup_fee",
                                        (json_int_t)setup));
    }
    return 0;
}

/*
 * The body of POST /api/admin/products (creating) or of the PATCH (editing)
 * from the form values. The amounts are parsed for the typed currency; an
 * unknown currency is left for products_* to refuse with its own message.
 */
static json_t *body_from_values(const json_t *v, const char *panel, int64_t server_id,
                                const json_t *base_config, bool creating, struct lumi_err *err)
{
    json_t *b = json_object();
    json_t *cfg = NULL;
    int64_t price = 0, setup = 0;
    int rc = 0;
    if (b == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    static const char *const plain[] = {"name", "type", NULL};
    for (size_t i = 0; plain[i] != NULL; i++)
        json_object_set_new(b, plain[i],
                            json_string(json_string_value(json_object_get(v, plain[i]))));
    const char *desc = json_string_value(json_object_get(v, "description"));
    if (desc != NULL && *desc != '\0')
        json_object_set_new(b, "description", json_string(desc));
    else if (!creating)
        json_object_set_new(b, "description", json_null());
    const char *autosetup = json_string_value(json_object_get(v, "autosetup"));
    if (autosetup != NULL && *autosetup != '\0')
        json_object_set_new(b, "autosetup", json_string(autosetup));
    const char *cur = json_string_value(json_object_get(v, "currency"));
    if (money_currency_valid(cur)) {
        rc =
            parse_amount("price", json_string_value(json_object_get(v, "price")), cur, &price, err);
        if (rc != 0)
            goto out;
        const char *fee = json_string_value(json_object_get(v, "setup_fee"));
        if (fee != NULL && *fee != '\0') {
            rc = parse_amount("setup_fee", fee, cur, &setup, err);
            if (rc != 0)
                goto out;
        }
    }
    json_t *prices = json_array();
    json_array_append_new(prices,
                          json_pack("{s:s s:s s:I s:I}", "billing_cycle",
                                    str_of(v, "billing_cycle"), "currency", str_of(v, "currency"),
                                    "amount", (json_int_t)price, "setup_fee", (json_int_t)setup));
    json_object_set_new(b, "prices", prices);
    rc = prices_from_rows(json_object_get(v, "rows"), prices, err);
    if (rc != 0)
        goto out;
    json_object_set_new(b, "group", json_string(str_of(v, "group")));
    int64_t order = 0;
    if (*str_of(v, "sort_order") != '\0' &&
        str_to_i64z(str_of(v, "sort_order"), -PRODUCTS_SORT_MAX, PRODUCTS_SORT_MAX, &order) != 0) {
        rc = err_set(err, LUMI_EINVAL, "field 'sort_order' must be a whole number from %d to %d",
                     -PRODUCTS_SORT_MAX, PRODUCTS_SORT_MAX);
        goto out;
    }
    json_object_set_new(b, "sort_order", json_integer(order));
    json_object_set_new(b, "visible", json_boolean(json_is_true(json_object_get(v, "visible"))));
    json_object_set_new(b, "requires_domain",
                        json_boolean(json_is_true(json_object_get(v, "requires_domain"))));
    json_object_set_new(b, "taxable", json_boolean(json_is_true(json_object_get(v, "taxable"))));
    if (creating && server_id > 0)
        json_object_set_new(b, "server_id", json_integer(server_id));
    json_object_set_new(b, "active", json_boolean(json_is_true(json_object_get(v, "active"))));
    cfg = config_from_values(v, panel, base_config, err);
    if (cfg == NULL) {
        rc = LUMI_EINVAL;
        goto out;
    }
    json_object_set_new(b, "config", cfg);
out:
    if (rc != 0) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* ---- live Pterodactyl choices --------------------------------------------- */

/*
 * Adds "nests" ([{name, eggs:[{value:"nest:egg", name, selected}]}]) and
 * "locations" ([{id, label, selected}]) read from the server to view, with
 * "ptero_live": true; or "panel_error" with the panel's message.
 */
static void load_ptero_choices(struct db *db, int64_t server_id, const json_t *values, json_t *view)
{
    struct server_conn sc;
    struct lumi_err err = {0};
    struct hc_error he;
    json_t *nests = NULL, *groups = NULL, *locs = NULL, *locations = NULL;
    bool have_conn = false;
    memset(&sc, 0, sizeof sc);
    memset(&he, 0, sizeof he);
    const char *cur_nest = json_string_value(json_object_get(values, "nest_id"));
    const char *cur_egg = json_string_value(json_object_get(values, "egg_id"));
    const char *cur_loc = json_string_value(json_object_get(values, "location_id"));

    if (servers_conn(db, server_id, &sc, &err) != 0) {
        json_object_set_new(view, "panel_error", json_string(err.msg));
        goto out;
    }
    have_conn = true;
    sc.conn.timeout_ms = PANEL_TIMEOUT_MS;
    sc.conn.connect_timeout_ms = PANEL_CONNECT_TIMEOUT_MS;
    nests = ptero_list_nests(&sc.conn, &he);
    if (nests == NULL)
        goto panel_failed;
    groups = json_array();
    size_t i;
    json_t *nest;
    json_array_foreach(nests, i, nest)
    {
        int64_t nid = json_integer_value(json_object_get(nest, "id"));
        json_t *eggs = ptero_list_eggs(&sc.conn, nid, &he);
        if (eggs == NULL)
            goto panel_failed;
        json_t *opts = json_array();
        size_t j;
        json_t *egg;
        json_array_foreach(eggs, j, egg)
        {
            int64_t eid = json_integer_value(json_object_get(egg, "id"));
            char value[48], n_text[24], e_text[24];
            snprintf(value, sizeof value, "%lld:%lld", (long long)nid, (long long)eid);
            snprintf(n_text, sizeof n_text, "%lld", (long long)nid);
            snprintf(e_text, sizeof e_text, "%lld", (long long)eid);
            const char *name = json_string_value(json_object_get(egg, "name"));
            json_array_append_new(
                opts, json_pack("{s:s s:s s:b}", "value", value, "name", name ? name : e_text,
                                "selected", str_eq(cur_nest, n_text) && str_eq(cur_egg, e_text)));
        }
        json_decref(eggs);
        const char *nname = json_string_value(json_object_get(nest, "name"));
        json_array_append_new(groups,
                              json_pack("{s:s s:o}", "name", nname ? nname : "?", "eggs", opts));
    }
    locs = ptero_list_locations(&sc.conn, &he);
    if (locs == NULL)
        goto panel_failed;
    locations = json_array();
    json_t *loc;
    json_array_foreach(locs, i, loc)
    {
        int64_t lid = json_integer_value(json_object_get(loc, "id"));
        char l_text[24], label[600];
        snprintf(l_text, sizeof l_text, "%lld", (long long)lid);
        const char *s = json_string_value(json_object_get(loc, "short"));
        const char *l = json_string_value(json_object_get(loc, "long"));
        if (l != NULL && *l != '\0')
            snprintf(label, sizeof label, "%s (%s)", s ? s : l_text, l);
        else
            snprintf(label, sizeof label, "%s", s ? s : l_text);
        json_array_append_new(locations, json_pack("{s:I s:s s:b}", "id", (json_int_t)lid, "label",
                                                   label, "selected", str_eq(cur_loc, l_text)));
    }
    json_object_set_new(view, "nests", groups);
    json_object_set_new(view, "locations", locations);
    groups = locations = NULL;
    json_object_set_new(view, "ptero_live", json_true());
    goto out;
panel_failed:
    json_object_set_new(view, "panel_error", json_string(he.message));
out:
    json_decref(nests);
    json_decref(groups);
    json_decref(locs);
    json_decref(locations);
    if (have_conn)
        servers_conn_clear(&sc);
}

/* ---- views ---------------------------------------------------------------- */

/* The prices editor: the rows given (borrowed) then PRICE_BLANK_ROWS blank ones, numbered 1... */
static json_t *editor_rows(const json_t *rows)
{
    json_t *out = json_array();
    size_t n = json_array_size(rows);
    for (size_t i = 0; out != NULL && i < n + PRICE_BLANK_ROWS && i < PRICE_ROWS_MAX; i++) {
        const json_t *r = json_array_get(rows, i); /* NULL for a blank row */
        json_t *row = json_pack("{s:I s:s s:s s:s s:o}", "n", (json_int_t)(i + 1), "currency",
                                str_of(r, "currency"), "amount", str_of(r, "amount"), "setup",
                                str_of(r, "setup"), "cycles", options(CYCLES, str_of(r, "cycle")));
        json_array_append_new(out, row);
    }
    return out;
}

/*
 * The form's view data. server (borrowed) is the product's server or NULL;
 * values (borrowed) what to show; id > 0 when editing; error may be NULL.
 */
static json_t *form_view(struct db *db, const json_t *server, const json_t *values, int64_t id,
                         const char *error)
{
    const char *panel = json_string_value(json_object_get(server, "type"));
    int64_t server_id = json_integer_value(json_object_get(server, "id"));
    json_t *v = json_pack(
        "{s:s s:b s:b s:I s:s s:b s:b s:b s:b s:O s:o s:o s:o}", "title",
        id > 0 ? "Edit product" : "Add product", "editing", id > 0, "creating", id <= 0,
        "server_id", (json_int_t)server_id, "panel_label", panel_of(panel)->label, "is_ptero",
        str_eq(panel, "pterodactyl"), "is_da", str_eq(panel, "directadmin"), "is_vf",
        str_eq(panel, "virtfusion"), "no_server", server == NULL, "v", values, "types",
        options(TYPES, json_string_value(json_object_get(values, "type"))), "cycles",
        options(CYCLES, json_string_value(json_object_get(values, "billing_cycle"))), "autosetups",
        options(AUTOSETUPS, json_string_value(json_object_get(values, "autosetup"))));
    if (v == NULL)
        return NULL;
    json_object_set_new(v, "price_rows", editor_rows(json_object_get(values, "rows")));
    const char *sname = json_string_value(json_object_get(server, "name"));
    if (sname != NULL)
        json_object_set_new(v, "server_name", json_string(sname));
    if (id > 0)
        json_object_set_new(v, "id", json_integer(id));
    page_set_error(v, error);
    if (str_eq(panel, "pterodactyl"))
        load_ptero_choices(db, server_id, values, v);
    return v;
}

/* A new product's starting values for the panel. */
static json_t *default_values(const char *panel)
{
    return json_pack("{s:s s:s s:s s:s s:s s:s s:b s:b s:b s:b s:s s:s s:[]}", "type",
                     panel_of(panel)->default_type, "currency", "usd", "billing_cycle", "monthly",
                     "autosetup", "payment", "price", "", "setup_fee", "0.00", "active", 1,
                     "visible", 1, "requires_domain", 0, "taxable", 1, "group", "", "sort_order",
                     "0", "rows");
}

void p_products_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "products";
    json_t *rows = page_list_rows(req, resp, &ctx, products_list, LIST_PAGE, &next);
    if (rows == NULL)
        return;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *cur = json_string_value(json_object_get(row, "currency"));
        set_money_text(row, "price_text", json_object_get(row, "price"), cur);
        set_money_text(row, "setup_fee_text", json_object_get(row, "setup_fee"), cur);
    }
    page_render_list(req, resp, &ctx, "products.html", "Products", "products", rows, next);
}

/* Step 1 of adding: the servers to choose from. */
static void render_server_choice(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    struct lumi_err err = {0};
    int64_t next = 0;
    json_t *rows = servers_list(req->db, 0, SERVERS_PAGE_MAX, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_object_set_new(
        row, "type_label",
        json_string(panel_of(json_string_value(json_object_get(row, "type")))->label));
    page_render(
        req, resp, 200, ctx, "product_server.html",
        json_pack("{s:s s:o s:b}", "title", "Add product", "servers", rows, "more", next > 0));
}

/*
 * The server of a form (server_id text; "0" = none) into *server (NULL for
 * none). < 0 after answering 400 (malformed) or 404 (no such server).
 */
static int server_of(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                     const char *text, json_t **server)
{
    struct lumi_err err = {0};
    int64_t sid = 0;
    *server = NULL;
    if (str_to_i64z(text, 0, INT64_MAX, &sid) != 0) {
        page_error(req, resp, 400, ctx, "server_id must be a server's id, or 0 for no server");
        return -1;
    }
    if (sid == 0)
        return 0;
    *server = servers_get(req->db, sid, &err);
    if (*server == NULL) {
        page_error(req, resp, err.code == LUMI_ENOTFOUND ? 404 : err_http_status(err.code), ctx,
                   err.code == LUMI_ENOTFOUND ? "server not found" : err.msg);
        return -1;
    }
    return 0;
}

void p_products_new(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    json_t *server = NULL;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "products";
    const char *sid = web_query(req, "server_id");
    if (sid == NULL || *sid == '\0') {
        render_server_choice(req, resp, &ctx);
        return;
    }
    if (server_of(req, resp, &ctx, sid, &server) != 0)
        return;
    json_t *values = default_values(json_string_value(json_object_get(server, "type")));
    page_render(req, resp, 200, &ctx, "product_form.html",
                form_view(req->db, server, values, 0, NULL));
    json_decref(values);
    json_decref(server);
}

void p_products_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    json_t *server = NULL, *values = NULL, *body = NULL, *product = NULL;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "products";
    if (server_of(req, resp, &ctx, form_str(req, "server_id"), &server) != 0)
        return;
    const char *panel = json_string_value(json_object_get(server, "type"));
    int64_t sid = json_integer_value(json_object_get(server, "id"));
    values = values_from_form(req, panel);
    if (values == NULL) {
        page_error(req, resp, 500, &ctx, "out of memory");
        goto out;
    }
    body = body_from_values(values, panel, sid, NULL, true, &err);
    if (body != NULL) {
        struct audit_actor actor = auth_actor(req);
        product = products_create(req->db, &actor, body, &err);
    }
    if (product == NULL) {
        page_render(req, resp, page_form_status(&err), &ctx, "product_form.html",
                    form_view(req->db, server, values, 0, err.msg));
        goto out;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "Product '%s' added.",
             json_string_value(json_object_get(product, "name")));
    page_redirect_flash(resp, "/admin/products", "ok", msg);
out:
    json_decref(product);
    json_decref(body);
    json_decref(values);
    json_decref(server);
}

/*
 * The product of the {id} in the path and its server (NULL when it has none,
 * or when that server is gone: the form then offers no module fields).
 * < 0 after answering 404.
 */
static int product_and_server(struct web_req *req, struct web_resp *resp,
                              const struct page_ctx *ctx, int64_t *id, json_t **product,
                              json_t **server)
{
    struct lumi_err err = {0};
    *product = *server = NULL;
    *id = web_param_id(req, "id");
    if (*id > 0)
        *product = products_get(req->db, *id, &err);
    if (*product == NULL) {
        if (*id <= 0 || err.code == LUMI_ENOTFOUND)
            page_error(req, resp, 404, ctx, "product not found");
        else
            page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return -1;
    }
    json_t *sid = json_object_get(*product, "server_id");
    if (json_is_integer(sid))
        *server = servers_get(req->db, json_integer_value(sid), &err);
    return 0;
}

void p_products_edit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    json_t *product = NULL, *server = NULL;
    int64_t id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "products";
    if (product_and_server(req, resp, &ctx, &id, &product, &server) != 0)
        return;
    json_t *values =
        values_from_product(product, json_string_value(json_object_get(server, "type")));
    page_render(req, resp, 200, &ctx, "product_form.html",
                form_view(req->db, server, values, id, NULL));
    json_decref(values);
    json_decref(product);
    json_decref(server);
}

void p_products_update(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    json_t *product = NULL, *server = NULL, *values = NULL, *body = NULL, *saved = NULL;
    int64_t id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "products";
    if (product_and_server(req, resp, &ctx, &id, &product, &server) != 0)
        return;
    const char *panel = json_string_value(json_object_get(server, "type"));
    values = values_from_form(req, panel);
    if (values == NULL) {
        page_error(req, resp, 500, &ctx, "out of memory");
        goto out;
    }
    body = body_from_values(values, panel, 0, json_object_get(product, "config"), false, &err);
    if (body != NULL) {
        struct audit_actor actor = auth_actor(req);
        saved = products_update(req->db, &actor, id, body, &err);
    }
    if (saved == NULL) {
        page_render(req, resp, page_form_status(&err), &ctx, "product_form.html",
                    form_view(req->db, server, values, id, err.msg));
        goto out;
    }
    page_redirect_flash(resp, "/admin/products", "ok", "Product saved.");
out:
    json_decref(saved);
    json_decref(body);
    json_decref(values);
    json_decref(product);
    json_decref(server);
}

void p_products_delete(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    if (id <= 0)
        page_redirect_flash(resp, "/admin/products", "error", "product not found");
    else if (products_delete(req->db, &actor, id, &err) != 0)
        page_redirect_flash(resp, "/admin/products", "error", err.msg);
    else
        page_redirect_flash(resp, "/admin/products", "ok", "Product deleted.");
}
