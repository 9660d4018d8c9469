/*
 * p_store.c — the public store: /store (groups, products, starting prices,
 * out-of-stock badges), /store/products/{id} (each price with its setup fee,
 * a currency choice when there are several, the domain field when needed,
 * the order form) and POST /store/products/{id}/order, which places the
 * order through orders_place_client — the function behind POST
 * /api/client/orders — and sends the buyer to the new invoice with its Pay
 * buttons.
 *
 * The pages read the catalogue through products_store_list/_get, which
 * answer only visible, active products and nothing internal, so a hidden
 * product is a 404 here exactly like a missing one. Visitors may browse;
 * ordering needs a client's session (page_require_client: a form post needs
 * the session's CSRF token, a visitor is sent to /client/login?next=…).
 *
 * Handlers run on the request's worker thread with its connection; no
 * shared state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/products.h"
#include "core/money.h"
#include "core/str.h"
#include "provisioning/orders.h"
#include "provisioning/services.h"
#include "web/page.h"
#include "web/client/pages_client.h"

#define NO_PRODUCT "There is no such product in the store."

struct cycle_text {
    const char *cycle, *label, *per;
};

/* What a cycle reads as on the page: its name and what a price is "per". */
static const struct cycle_text CYCLE_TEXTS[] = {
    {"monthly", "Monthly", "/ month"},
    {"quarterly", "Quarterly", "/ 3 months"},
    {"semiannually", "Every 6 months", "/ 6 months"},
    {"annually", "Annually", "/ year"},
    {"biennially", "Every 2 years", "/ 2 years"},
    {"onetime", "One-time", "once"},
    {"free", "Free", ""},
};

static const struct cycle_text *cycle_text(const char *cycle)
{
    for (size_t i = 0; i < sizeof CYCLE_TEXTS / sizeof CYCLE_TEXTS[0]; i++)
        if (str_eq(cycle, CYCLE_TEXTS[i].cycle))
            return &CYCLE_TEXTS[i];
    return &CYCLE_TEXTS[5];
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static int64_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/*
 * "from 5.00 USD / month": the lowest monthly cost (rounded up, never
 * understated) among the recurring prices in the first price's currency;
 * else the one-time price; "Free" when a free price exists and nothing
 * else costs less.
 */
static void set_from_text(json_t *product)
{
    const json_t *prices = json_object_get(product, "prices");
    const char *currency = str_of(json_array_get(prices, 0), "currency");
    int64_t best = -1, once = -1;
    bool has_free = false;
    size_t i;
    json_t *p;
    json_array_foreach(prices, i, p)
    {
        if (!str_eq(str_of(p, "currency"), currency))
            continue;
        int months = products_cycle_months(str_of(p, "billing_cycle"));
        int64_t amount = int_of(p, "amount");
        if (str_eq(str_of(p, "billing_cycle"), "free"))
            has_free = true;
        else if (months > 0 && (best < 0 || (amount + months - 1) / months < best))
            best = (amount + months - 1) / months;
        else if (months == 0 && (once < 0 || amount < once))
            once = amount;
    }
    char money[64], text[96];
    if (has_free) {
        str_copy(text, "Free", sizeof text);
    } else if (best >= 0) {
        money_format_text(best, currency, money, sizeof money);
        snprintf(text, sizeof text, "from %s / month", money);
    } else {
        money_format_text(once > 0 ? once : 0, currency, money, sizeof money);
        snprintf(text, sizeof text, "%s one-time", money);
    }
    json_object_set_new(product, "from_text", json_string(text));
}

/* The visitor's client session, when there is one: fills ctx (area client) and req->who. */
static bool visitor_session(struct web_req *req, struct page_ctx *ctx)
{
    struct lumi_err err = {0};
    memset(ctx, 0, sizeof *ctx);
    ctx->area = AUTH_AREA_CLIENT;
    ctx->nav = "store";
    return auth_session_principal(req, AUTH_AREA_CLIENT, ctx->csrf, &err) == 0;
}

void p_store(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    bool in = visitor_session(req, &ctx);
    json_t *store = products_store_list(req->db, &err);
    if (store == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    size_t g, i;
    json_t *group, *product;
    json_array_foreach(json_object_get(store, "groups"), g, group)
    {
        if (str_eq(str_of(group, "name"), ""))
            json_object_set_new(group, "label", json_string("Other products"));
        else
            json_object_set(group, "label", json_object_get(group, "name"));
        json_array_foreach(json_object_get(group, "products"), i, product) set_from_text(product);
    }
    json_object_set_new(store, "title", json_string("Store"));
    json_object_set_new(store, "logged_in", json_boolean(in));
    page_render(req, resp, 200, &ctx, "store.html", store);
}

/* The rows of the chosen currency, for the order form: cycle, price and setup fee as text. */
static json_t *price_rows(const json_t *prices, const char *currency, const char *chosen_cycle)
{
    json_t *rows = json_array();
    size_t i;
    json_t *p;
    bool checked = false;
    json_array_foreach(prices, i, p)
    {
        if (rows == NULL || !str_eq(str_of(p, "currency"), currency))
            continue;
        const struct cycle_text *t = cycle_text(str_of(p, "billing_cycle"));
        json_t *row =
            json_pack("{s:s s:s s:s}", "billing_cycle", t->cycle, "label", t->label, "per", t->per);
        if (row == NULL)
            continue;
        page_set_money(row, "amount_text", int_of(p, "amount"), currency);
        if (int_of(p, "setup_fee") > 0)
            page_set_money(row, "setup_text", int_of(p, "setup_fee"), currency);
        bool check = chosen_cycle != NULL ? str_eq(chosen_cycle, t->cycle) : !checked;
        json_object_set_new(row, "checked", json_boolean(check && !checked));
        checked = checked || check;
        json_array_append_new(rows, row);
    }
    return rows;
}

/* The product's currencies (first-seen order) as links: [{code, label, href, active}]. */
static json_t *currency_links(const json_t *product, const char *current)
{
    json_t *list = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(product, "prices"), i, p)
    {
        const char *code = str_of(p, "currency");
        bool seen = false;
        for (size_t j = 0; j < json_array_size(list) && !seen; j++)
            seen = str_eq(str_of(json_array_get(list, j), "code"), code);
        if (seen || list == NULL)
            continue;
        char upper[4] = {0}, href[96];
        for (size_t k = 0; k < 3 && code[k] != '\0'; k++)
            upper[k] = (char)(code[k] >= 'a' && code[k] <= 'z' ? code[k] - 32 : code[k]);
        snprintf(href, sizeof href, "/store/products/%" PRId64 "?currency=%s",
                 int_of(product, "id"), code);
        json_array_append_new(list, json_pack("{s:s s:s s:s s:b}", "code", code, "label", upper,
                                              "href", href, "active", str_eq(code, current)));
    }
    return list;
}

/*
 * Renders the product page of id with status and flash (taken; may be NULL);
 * form (may be NULL) holds what the buyer sent, shown again after a refusal.
 */
static void render_product(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                           bool in, int status, int64_t id, const char *currency_wanted,
                           const char *cycle, const char *domain, json_t *flash)
{
    struct lumi_err err = {0};
    json_t *product = id > 0 ? products_store_get(req->db, id, &err) : NULL;
    if (product == NULL) {
        json_decref(flash);
        bool missing = id <= 0 || err.code == LUMI_ENOTFOUND;
        page_error(req, resp, missing ? 404 : err_http_status(err.code), ctx,
                   missing ? NO_PRODUCT : err.msg);
        return;
    }
    const json_t *prices = json_object_get(product, "prices");
    const char *currency = str_of(json_array_get(prices, 0), "currency");
    size_t i;
    json_t *p;
    json_array_foreach(prices, i, p)
    {
        if (currency_wanted != NULL && str_eq(str_of(p, "currency"), currency_wanted)) {
            currency = str_of(p, "currency");
            break;
        }
    }
    json_t *currencies = currency_links(product, currency);
    char self[64], login[160];
    snprintf(self, sizeof self, "/store/products/%" PRId64, id);
    snprintf(login, sizeof login, "/client/login?next=%s", self);
    set_from_text(product);
    json_t *data = json_pack(
        "{s:O s:O s:o s:o s:b s:s s:s s:s s:s s:s}", "title", json_object_get(product, "name"),
        "product", product, "prices", price_rows(prices, currency, cycle), "currencies", currencies,
        "several_currencies", json_array_size(currencies) > 1, "currency", currency, "login_href",
        login, "signup_href", "/client/signup", "domain", domain ? domain : "", "action", self);
    json_decref(product);
    if (data != NULL) {
        json_object_set_new(data, "logged_in", json_boolean(in));
        if (flash != NULL)
            json_object_set_new(data, "flash", flash);
        else
            json_decref(flash);
    } else {
        json_decref(flash);
    }
    page_render(req, resp, status, ctx, "store_product.html", data);
}

void p_store_product(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    bool in = visitor_session(req, &ctx);
    render_product(req, resp, &ctx, in, 200, web_param_id(req, "id"), web_query(req, "currency"),
                   NULL, NULL, NULL);
}

/* A visitor without a client session: to the login, and back to the product page afterwards. */
static bool send_visitor_to_login(struct web_req *req, struct web_resp *resp, int64_t id)
{
    struct page_ctx probe;
    if (visitor_session(req, &probe))
        return false;
    char path[96];
    snprintf(path, sizeof path, "/client/login?next=/store/products/%" PRId64, id);
    web_redirect(resp, path);
    page_security_headers(resp);
    return true;
}

/* The status of the product page after a refused order. */
static int refusal_status(const struct lumi_err *err)
{
    return err->code == LUMI_EFORBIDDEN ? 403 : page_form_status(err);
}

void p_store_order(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (send_visitor_to_login(req, resp, id) || page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "store";
    const char *cycle = web_form_value(req, "billing_cycle");
    const char *currency = web_form_value(req, "currency");
    const char *domain = web_form_value(req, "domain");
    json_t *body = json_pack("{s:I}", "product_id", (json_int_t)id);
    if (body != NULL && str_present(cycle))
        json_object_set_new(body, "billing_cycle", json_string(cycle));
    if (body != NULL && str_present(currency))
        json_object_set_new(body, "currency", json_string(currency));
    if (body != NULL && str_present(domain))
        json_object_set_new(body, "domain", json_string(domain));
    /* Issue 14: the coupon field, checked by orders_place like the API's. */
    const char *coupon = web_form_value(req, "coupon");
    if (body != NULL && str_present(coupon))
        json_object_set_new(body, "coupon", json_string(coupon));
    struct audit_actor actor = auth_actor(req);
    json_t *placed =
        body != NULL && id > 0
            ? orders_place_client(req->db, &actor, auth_client_scope(req), body, &err)
            : NULL;
    json_decref(body);
    if (placed == NULL) {
        if (err.code == 0)
            err_set(&err, LUMI_ENOTFOUND, NO_PRODUCT);
        render_product(req, resp, &ctx, true, refusal_status(&err), id, currency, cycle, domain,
                       page_flash("error", err.msg));
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, int_of(placed, "invoice_id"));
    json_decref(placed);
    page_redirect_flash(resp, path, "ok",
                        "Thank you for your order. Pay this invoice and your service is set up "
                        "straight away.");
}
