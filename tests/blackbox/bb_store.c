/*
 * bb_store.c — the public store and a client's own orders through the real
 * binary, with a fake Stripe and a fake Pterodactyl over real HTTP:
 * GET /api/store/products lists the visible, active products only, with
 * their prices and stock and nothing internal; a hidden product is a 404 on
 * the store; a client orders through POST /api/client/orders and the
 * invoice is the chosen cycle and currency's price plus its setup fee; a
 * cycle or currency the product is not sold in is a 400 naming the field;
 * an unconfirmed e-mail cannot order while store.require_verified_email is
 * on; two buyers racing for the last slot get one service and one "out of
 * stock"; another client's invoice is a 404 on the API and the page; the
 * store's order form needs the CSRF token; paying the order's invoice with
 * the fake Stripe provisions the service, and the pages follow it to active.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_stripe.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/testdb.h"

#define SECRET_KEY "5c1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define STRIPE_KEY "sk_test_bbStoreKey0123456789abcdef"
#define WHSEC "whsec_bb_store_secret"
#define PTERO_KEY "ptla_StoreTestKey0123456789abcdefABCDEFghijklmn"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
#define ADMIN_EMAIL "store-admin@example.com"
#define ADMIN_PASSWORD "Store-Admin-Password-1"
#define A_EMAIL "ann@example.com"
#define B_EMAIL "ben@example.com"
#define U_EMAIL "una@example.com"
#define PASSWORD "Store-Client-Password-1"
#define HIDDEN_NAME "Secret staff-only plan"
#define SETTLE_S 30

struct ctx {
    struct fake_stripe *stripe;
    struct fake_ptero *ptero;
    int64_t server, last_slot_server;
    int64_t a_id, b_id, u_id;
    int64_t game, hidden, last_slot;
    char a[200], b[200], u[200]; /* client session cookies */
    char a_csrf[80], b_csrf[80], u_csrf[80];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static struct http_result get(const char *path, const char *cookie)
{
    return browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
}

static void assert_contains(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) == NULL)
        fail_msg("answer (%ld) lacks '%s':\n%s", r->status, needle, buf_cstr(&r->body));
}

static void assert_lacks(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) != NULL)
        fail_msg("answer (%ld) shows '%s':\n%s", r->status, needle, buf_cstr(&r->body));
}

static void assert_redirect(const struct http_result *r, const char *location_prefix)
{
    char *loc = http_header(r, "Location");
    if (r->status != 303 || loc == NULL ||
        strncmp(loc, location_prefix, strlen(location_prefix)) != 0)
        fail_msg("want 303 to %s…, got %ld to %s\n%s", location_prefix, r->status,
                 loc ? loc : "(none)", buf_cstr(&r->body));
    free(loc);
}

/* A client's API call with the session cookie and (when csrf) the X-CSRF-Token header. */
static int client_call(const char *method, const char *path, const char *cookie, const char *csrf,
                       const char *body, struct http_result *r)
{
    char url[256], cookie_h[256], csrf_h[128];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    if (cookie != NULL) {
        snprintf(cookie_h, sizeof cookie_h, "Cookie: %s", cookie);
        headers[n++] = cookie_h;
    }
    if (csrf != NULL) {
        snprintf(csrf_h, sizeof csrf_h, "X-CSRF-Token: %s", csrf);
        headers[n++] = csrf_h;
    }
    memset(r, 0, sizeof *r);
    return http_request(method, url, headers, body, r);
}

static struct http_result client_api(const char *method, const char *path, const char *cookie,
                                     const char *csrf, const char *body)
{
    struct http_result r;
    if (client_call(method, path, cookie, csrf, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

/* The error message of an error envelope (borrowed; "" when none). */
static const char *error_message(const struct http_result *r)
{
    const char *m =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m != NULL ? m : "";
}

/* POST /api/client/orders as the client; expects status; answers the JSON (caller decrefs). */
static json_t *order(const char *cookie, const char *csrf, const char *body, long status)
{
    struct http_result r = client_api("POST", "/api/client/orders", cookie, csrf, body);
    if (r.status != status)
        fail_msg("order %s: want %ld, got %ld %s", body, status, r.status, buf_cstr(&r.body));
    json_t *j = json_incref(r.json);
    http_result_free(&r);
    return j;
}

static int64_t client(const char *email)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"first_name\":\"C\","
             "\"last_name\":\"Store\"}",
             email);
    return bb_create_ok("/api/admin/clients", body);
}

static void set_verified(int64_t id, bool verified)
{
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE users SET email_verified_at = %s WHERE id = %" PRId64,
             verified ? "created_at" : "NULL", id);
    testdb_exec(bb_db(), sql);
}

static void login(const char *email, char *cookie, size_t sz, char *csrf)
{
    long st = browse_login(bb_base_url(), "client", email, PASSWORD, cookie, sz);
    if (st != 303 || cookie[0] == '\0')
        fail_msg("client login of %s answered %ld", email, st);
    browse_csrf(bb_base_url(), cookie, "/client", csrf);
}

static int64_t server(const char *name, int max_accounts)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\",\"max_accounts\":%d}",
             name, fake_ptero_url(C->ptero), max_accounts);
    return bb_create_ok("/api/admin/servers", body);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->stripe = fake_stripe_start(STRIPE_KEY, WHSEC);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_SECRET_KEY=%s", STRIPE_KEY);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_env_add("STRIPE_API_BASE=%s", fake_stripe_url(C->stripe));
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "store-test");
    bb_serve();

    C->server = server("Game 1", 0);
    C->last_slot_server = server("Game last slot", 1);
    char body[1500];
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 2G\",\"type\":\"game_server\",\"group\":\"Game servers\","
             "\"description\":\"Two gigabytes for your world\",\"sort_order\":1,"
             "\"prices\":[{\"billing_cycle\":\"monthly\",\"currency\":\"usd\",\"amount\":1500,"
             "\"setup_fee\":500},{\"billing_cycle\":\"annually\",\"currency\":\"USD\","
             "\"amount\":15000},{\"billing_cycle\":\"monthly\",\"currency\":\"eur\","
             "\"amount\":1400,\"setup_fee\":400}],"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"payment\",\"config\":" GAME_CONFIG "}",
             C->server);
    C->game = bb_create_ok("/api/admin/products", body);
    snprintf(body, sizeof body,
             "{\"name\":\"" HIDDEN_NAME "\",\"type\":\"game_server\",\"group\":\"Game servers\","
             "\"visible\":false,\"price\":100,\"currency\":\"usd\",\"billing_cycle\":\"monthly\","
             "\"server_id\":%" PRId64 ",\"config\":" GAME_CONFIG "}",
             C->server);
    C->hidden = bb_create_ok("/api/admin/products", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Last slot\",\"type\":\"game_server\",\"group\":\"Game servers\","
             "\"price\":1000,\"currency\":\"usd\",\"billing_cycle\":\"monthly\","
             "\"server_id\":%" PRId64 ",\"autosetup\":\"manual\",\"config\":" GAME_CONFIG "}",
             C->last_slot_server);
    C->last_slot = bb_create_ok("/api/admin/products", body);

    C->a_id = client(A_EMAIL);
    C->b_id = client(B_EMAIL);
    C->u_id = client(U_EMAIL);
    set_verified(C->a_id, true);
    set_verified(C->b_id, true);
    set_verified(C->u_id, false);
    login(A_EMAIL, C->a, sizeof C->a, C->a_csrf);
    login(B_EMAIL, C->b, sizeof C->b, C->b_csrf);
    login(U_EMAIL, C->u, sizeof C->u, C->u_csrf);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_stripe_stop(C->stripe);
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void store_api_lists_visible_products_with_prices_and_nothing_internal(void **state)
{
    (void)state;
    struct http_result r = client_api("GET", "/api/store/products", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, HIDDEN_NAME);
    static const char *const internals[] = {
        "server_id",     "server_group", "config",  "nest_id", "autosetup",
        "fill_strategy", "max_accounts", "api_key", "Game 1",  NULL};
    for (size_t i = 0; internals[i] != NULL; i++)
        assert_lacks(&r, internals[i]);
    json_t *groups = json_object_get(r.json, "groups");
    assert_int_equal(json_array_size(groups), 1);
    json_t *g = json_array_get(groups, 0);
    assert_string_equal(bb_str(g, "name"), "Game servers");
    json_t *products = json_object_get(g, "products");
    assert_int_equal(json_array_size(products), 2); /* the game and the last slot */
    json_t *p = json_array_get(products, 1);        /* sort_order 1 after 0 */
    assert_int_equal(bb_int(p, "id"), C->game);
    assert_true(json_is_true(json_object_get(p, "in_stock")));
    json_t *prices = json_object_get(p, "prices");
    assert_int_equal(json_array_size(prices), 3);
    json_t *annual = json_array_get(prices, 1);
    assert_string_equal(bb_str(annual, "billing_cycle"), "annually");
    assert_string_equal(bb_str(annual, "currency"), "usd");
    assert_int_equal(bb_int(annual, "amount"), 15000);
    assert_int_equal(bb_int(annual, "setup_fee"), 0);
    http_result_free(&r);

    /* The admin's product mirrors the first price in the old fields. */
    json_t *admin = bb_json("GET", NULL, 200, "/api/admin/products/%" PRId64, C->game);
    assert_int_equal(bb_int(admin, "price"), 1500);
    assert_string_equal(bb_str(admin, "billing_cycle"), "monthly");
    assert_int_equal(bb_int(admin, "setup_fee"), 500);
    assert_string_equal(bb_str(admin, "group"), "Game servers");
    json_decref(admin);
}

static void hidden_product_is_a_404_on_the_store(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/store/products/%" PRId64, C->hidden);
    struct http_result r = get(path, NULL);
    assert_int_equal(r.status, 404);
    assert_lacks(&r, HIDDEN_NAME);
    http_result_free(&r);
    r = get(path, C->a); /* logged in changes nothing */
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = get("/store/products/999999", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);

    r = get("/store", NULL);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, HIDDEN_NAME);
    assert_contains(&r, "Minecraft 2G");
    assert_contains(&r, "from 12.50 USD / month"); /* annually 150.00: 12.50 a month */
    http_result_free(&r);

    /* A visitor sees the prices and is asked to log in (and come back) or sign up. */
    snprintf(path, sizeof path, "/store/products/%" PRId64, C->game);
    r = get(path, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "15.00 USD / month");
    assert_contains(&r, "5.00 USD");
    assert_contains(&r, "150.00 USD / year");
    assert_contains(&r, "?currency&#61;eur"); /* "=" escaped in the attribute */
    assert_contains(&r, "/client/login?next&#61;/store/products/");
    assert_contains(&r, "/client/signup");
    assert_lacks(&r, "Order now");
    http_result_free(&r);
    snprintf(path, sizeof path, "/store/products/%" PRId64 "?currency=eur", C->game);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "14.00 EUR / month");
    assert_contains(&r, "4.00 EUR");
    assert_contains(&r, "Order now");
    http_result_free(&r);

    /* Nor can the API order it. */
    char body[100];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->hidden);
    json_t *j = order(C->a, C->a_csrf, body, 400);
    json_decref(j);
}

static void client_orders_the_chosen_price_through_the_api(void **state)
{
    (void)state;
    int64_t before = bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->a_id);
    char body[200];
    snprintf(body, sizeof body,
             "{\"product_id\":%" PRId64 ",\"billing_cycle\":\"monthly\",\"currency\":\"EUR\"}",
             C->game);
    json_t *j = order(C->a, C->a_csrf, body, 201);
    json_t *svc = json_object_get(j, "service");
    json_t *inv = json_object_get(j, "invoice");
    assert_string_equal(bb_str(svc, "status"), "pending");
    assert_string_equal(bb_str(svc, "billing_cycle"), "monthly");
    assert_string_equal(bb_str(svc, "currency"), "eur");
    assert_int_equal(bb_int(svc, "recurring_amount"), 1400);
    assert_null(json_object_get(svc, "server_id"));
    assert_null(json_object_get(svc, "remote_key"));
    assert_string_equal(bb_str(inv, "currency"), "eur");
    assert_int_equal(bb_int(inv, "total"), 1400 + 400);
    assert_int_equal(bb_int(inv, "client_id"), C->a_id);
    json_decref(j);

    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 ",\"billing_cycle\":\"annually\"}",
             C->game);
    j = order(C->a, C->a_csrf, body, 201);
    assert_int_equal(bb_int(json_object_get(j, "invoice"), "total"), 15000);
    json_decref(j);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->a_id),
                     before + 2);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'SERVICE_ORDERED'"
                              " AND actor_email = '" A_EMAIL "'"),
                     2);

    /* What the product is not sold in: 400 naming the field, nothing ordered. */
    static const struct {
        const char *extra, *field;
    } bad[] = {
        {",\"billing_cycle\":\"weekly\"", "billing_cycle"},
        {",\"billing_cycle\":\"biennially\"", "billing_cycle"},
        {",\"billing_cycle\":\"annually\",\"currency\":\"eur\"", "currency"},
        {",\"currency\":\"gbp\"", "currency"},
        {",\"currency\":\"zzz\"", "currency"},
        {",\"client_id\":2", "client_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "%s}", C->game, bad[i].extra);
        struct http_result r = client_api("POST", "/api/client/orders", C->a, C->a_csrf, body);
        if (r.status != 400 || strstr(error_message(&r), bad[i].field) == NULL)
            fail_msg("%s: %ld %s", body, r.status, buf_cstr(&r.body));
        http_result_free(&r);
    }
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->a_id),
                     before + 2);

    /* A cookie write without the CSRF token, or no session at all: refused. */
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->game);
    j = order(C->a, NULL, body, 403);
    json_decref(j);
    j = order(NULL, NULL, body, 401);
    json_decref(j);

    /* The admin's order takes the cycle and currency too. */
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64
             ",\"billing_cycle\":\"annually\",\"currency\":\"usd\"}",
             C->b_id, C->game);
    j = bb_json("POST", body, 201, "/api/admin/services");
    assert_int_equal(bb_int(json_object_get(j, "invoice"), "total"), 15000);
    json_decref(j);
}

static void unverified_client_cannot_order_while_the_setting_is_on(void **state)
{
    (void)state;
    char body[100];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->game);
    struct http_result r = client_api("POST", "/api/client/orders", C->u, C->u_csrf, body);
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "email_not_verified");
    assert_non_null(strstr(error_message(&r), "confirm your e-mail"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->u_id),
                     0);

    /* The store's form says the same. */
    char path[80], form[200];
    snprintf(path, sizeof path, "/store/products/%" PRId64 "/order", C->game);
    snprintf(form, sizeof form, "csrf_token=%s&billing_cycle=monthly&currency=usd", C->u_csrf);
    r = browse(bb_base_url(), "POST", path, C->u, form, NULL);
    assert_int_equal(r.status, 403);
    assert_contains(&r, "confirm your e-mail");
    http_result_free(&r);

    /* Switched off, the same client can order. */
    json_decref(
        bb_json("PATCH", "{\"store.require_verified_email\":false}", 200, "/api/admin/settings"));
    json_decref(order(C->u, C->u_csrf, body, 201));
    json_decref(
        bb_json("PATCH", "{\"store.require_verified_email\":true}", 200, "/api/admin/settings"));
    json_decref(order(C->u, C->u_csrf, body, 403));
}

struct racer {
    const char *cookie, *csrf;
    char body[100];
    long status;
    char answer[600];
};

static void *race(void *arg)
{
    struct racer *x = arg;
    struct http_result r;
    if (client_call("POST", "/api/client/orders", x->cookie, x->csrf, x->body, &r) == 0) {
        x->status = r.status;
        snprintf(x->answer, sizeof x->answer, "%s", buf_cstr(&r.body));
    }
    http_result_free(&r);
    return NULL;
}

static void two_buyers_racing_for_the_last_slot_get_one_service(void **state)
{
    (void)state;
    struct racer x[2] = {{C->a, C->a_csrf, "", 0, ""}, {C->b, C->b_csrf, "", 0, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        snprintf(x[i].body, sizeof x[i].body, "{\"product_id\":%" PRId64 "}", C->last_slot);
        pthread_create(&th[i], NULL, race, &x[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int won = (x[0].status == 201) + (x[1].status == 201);
    int lost = (x[0].status == 409) + (x[1].status == 409);
    if (won != 1 || lost != 1)
        fail_msg("want one 201 and one 409: %ld %s / %ld %s", x[0].status, x[0].answer, x[1].status,
                 x[1].answer);
    const char *refusal = x[0].status == 409 ? x[0].answer : x[1].answer;
    assert_non_null(strstr(refusal, "out of stock"));
    assert_null(strstr(refusal, "is full")); /* which server is full is not the buyer's business */
    assert_null(strstr(refusal, "Game last slot"));
    assert_int_equal(
        bb_count("SELECT account_count FROM servers WHERE id = %" PRId64, C->last_slot_server), 1);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM services WHERE product_id = %" PRId64, C->last_slot), 1);

    /* The store shows it out of stock now. */
    struct http_result r = get("/store", NULL);
    assert_contains(&r, "Out of stock");
    http_result_free(&r);
    r = client_api("GET", "/api/store/products", NULL, NULL, NULL);
    json_t *p = json_array_get(
        json_object_get(json_array_get(json_object_get(r.json, "groups"), 0), "products"), 0);
    assert_int_equal(bb_int(p, "id"), C->last_slot);
    assert_true(json_is_false(json_object_get(p, "in_stock")));
    http_result_free(&r);
}

/* The newest invoice of client (by id). */
static int64_t newest_invoice(int64_t client_id)
{
    return bb_count("SELECT COALESCE(MAX(id), 0) FROM invoices WHERE client_id = %" PRId64,
                    client_id);
}

static void another_clients_invoice_is_a_404_on_the_api_and_the_page(void **state)
{
    (void)state;
    char body[100], path[80];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->game);
    json_decref(order(C->a, C->a_csrf, body, 201));
    int64_t inv = newest_invoice(C->a_id);
    assert_true(inv > 0);

    snprintf(path, sizeof path, "/api/client/invoices/%" PRId64, inv);
    struct http_result own = client_api("GET", path, C->a, NULL, NULL);
    assert_int_equal(own.status, 200);
    assert_int_equal(bb_int(own.json, "id"), inv);
    http_result_free(&own);
    struct http_result other = client_api("GET", path, C->b, NULL, NULL);
    struct http_result missing = client_api("GET", "/api/client/invoices/999999", C->b, NULL, NULL);
    assert_int_equal(other.status, 404);
    assert_int_equal(missing.status, 404);
    assert_string_equal(buf_cstr(&other.body), buf_cstr(&missing.body));
    http_result_free(&other);
    http_result_free(&missing);

    /* The lists hold one's own only. */
    struct http_result list = client_api("GET", "/api/client/invoices", C->b, NULL, NULL);
    assert_int_equal(list.status, 200);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(list.json, "data"), i, row)
        assert_int_equal(bb_int(row, "client_id"), C->b_id);
    http_result_free(&list);
    list = client_api("GET", "/api/client/invoices", C->a, NULL, NULL);
    bool found = false;
    json_array_foreach(json_object_get(list.json, "data"), i, row) found =
        found || bb_int(row, "id") == inv;
    assert_true(found);
    http_result_free(&list);

    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    struct http_result page = get(path, C->b);
    assert_int_equal(page.status, 404);
    assert_lacks(&page, "Minecraft 2G");
    http_result_free(&page);
    page = get(path, C->a);
    assert_int_equal(page.status, 200);
    assert_contains(&page, "Minecraft 2G");
    assert_contains(&page, "Services on this invoice");
    assert_lacks(&page, "http-equiv=\"refresh\""); /* unpaid: nothing is being set up */
    http_result_free(&page);
}

static void the_order_form_needs_the_csrf_token(void **state)
{
    (void)state;
    char path[80], form[200];
    int64_t before = bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->b_id);
    snprintf(path, sizeof path, "/store/products/%" PRId64 "/order", C->game);
    struct http_result r = browse(bb_base_url(), "POST", path, C->b, "billing_cycle=monthly", NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=%064d&billing_cycle=monthly", 7);
    r = browse(bb_base_url(), "POST", path, C->b, form, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    /* A visitor is sent to log in, and back to the product afterwards. */
    r = browse(bb_base_url(), "POST", path, NULL, "billing_cycle=monthly", NULL);
    assert_redirect(&r, "/client/login?next=/store/products/");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->b_id),
                     before);

    /* The form as the page has it: 303 to the new invoice. */
    char csrf[80];
    snprintf(path, sizeof path, "/store/products/%" PRId64, C->game);
    browse_csrf(bb_base_url(), C->b, path, csrf);
    snprintf(path, sizeof path, "/store/products/%" PRId64 "/order", C->game);
    snprintf(form, sizeof form, "csrf_token=%s&billing_cycle=annually&currency=usd", csrf);
    r = browse(bb_base_url(), "POST", path, C->b, form, NULL);
    assert_redirect(&r, "/client/invoices/");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE client_id = %" PRId64, C->b_id),
                     before + 1);
    assert_int_equal(
        bb_count("SELECT total FROM invoices WHERE id = %" PRId64, newest_invoice(C->b_id)), 15000);
}

/* Polls the service until its status is want, or fails. */
static void wait_status(int64_t id, const char *want)
{
    for (int i = 0; i < SETTLE_S * 10; i++) {
        json_t *s = bb_json("GET", NULL, 200, "/api/admin/services/%" PRId64, id);
        bool done = strcmp(bb_str(s, "status"), want) == 0;
        json_decref(s);
        if (done)
            return;
        bb_sleep_ms(100);
    }
    fail_msg("service %" PRId64 " never became %s", id, want);
}

static void paying_with_stripe_provisions_the_ordered_service(void **state)
{
    (void)state;
    char path[300], form[300], csrf[80], cs[128];
    snprintf(path, sizeof path, "/store/products/%" PRId64, C->game);
    browse_csrf(bb_base_url(), C->a, path, csrf);
    snprintf(path, sizeof path, "/store/products/%" PRId64 "/order", C->game);
    snprintf(form, sizeof form, "csrf_token=%s&billing_cycle=monthly&currency=usd", csrf);
    struct http_result r = browse(bb_base_url(), "POST", path, C->a, form, NULL);
    assert_redirect(&r, "/client/invoices/");
    char *loc = http_header(&r, "Location");
    int64_t inv = strtoll(loc + strlen("/client/invoices/"), NULL, 10);
    free(loc);
    http_result_free(&r);
    int64_t svc = bb_count("SELECT service_id FROM invoice_items WHERE invoice_id = %" PRId64
                           " AND kind = 'recurring'",
                           inv);
    assert_int_equal(bb_count("SELECT total FROM invoices WHERE id = %" PRId64, inv), 2000);

    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "Pay with Stripe");
    assert_contains(&r, "20.00 USD");
    http_result_free(&r);

    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%s", inv, csrf);
    r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 303);
    loc = http_header(&r, "Location");
    snprintf(cs, sizeof cs, "%s", strrchr(loc, '/') + 1);
    free(loc);
    http_result_free(&r);
    assert_int_equal(fake_stripe_complete(C->stripe, cs, true), 0);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "?paid=stripe&session_id=%s", inv, cs);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "invoice is paid");
    http_result_free(&r);

    wait_status(svc, "active");
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    r = get(path, C->a);
    assert_contains(&r, "badge-active");
    assert_lacks(&r, "http-equiv=\"refresh\"");
    http_result_free(&r);
    snprintf(path, sizeof path, "/client/services/%" PRId64, svc);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "badge-active");
    assert_lacks(&r, "http-equiv=\"refresh\"");
    http_result_free(&r);
}

static void a_free_product_is_ordered_without_anything_to_pay(void **state)
{
    (void)state;
    char body[600];
    snprintf(body, sizeof body,
             "{\"name\":\"Free trial\",\"type\":\"game_server\",\"prices\":[{\"billing_cycle\":"
             "\"free\",\"currency\":\"usd\",\"amount\":0}],\"server_id\":%" PRId64
             ",\"autosetup\":\"payment\",\"config\":" GAME_CONFIG "}",
             C->server);
    int64_t free_id = bb_create_ok("/api/admin/products", body);
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", free_id);
    json_t *j = order(C->b, C->b_csrf, body, 201);
    json_t *inv = json_object_get(j, "invoice");
    assert_int_equal(bb_int(inv, "total"), 0);
    assert_string_equal(bb_str(inv, "status"), "paid");
    assert_true(json_is_null(json_object_get(json_object_get(j, "service"), "next_due_date")));
    wait_status(bb_int(json_object_get(j, "service"), "id"), "active");
    json_decref(j);

    /* A free price that costs something is refused, naming the field. */
    struct http_result r =
        bb_api("POST", "/api/admin/products",
               "{\"name\":\"Bad\",\"type\":\"other\",\"prices\":[{"
               "\"billing_cycle\":\"free\",\"currency\":\"usd\",\"amount\":5}]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "prices[0]"));
    http_result_free(&r);
    r = bb_api("POST", "/api/admin/products",
               "{\"name\":\"Dup\",\"type\":\"other\",\"prices\":[{\"billing_cycle\":"
               "\"monthly\",\"currency\":\"usd\",\"amount\":5},{\"billing_cycle\":\"monthly\","
               "\"currency\":\"USD\",\"amount\":6}]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "prices[1]"));
    http_result_free(&r);
    /* No price at all, or both forms at once: refused, naming prices. */
    r = bb_api("POST", "/api/admin/products",
               "{\"name\":\"None\",\"type\":\"other\",\"prices\":[]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "prices"));
    http_result_free(&r);
    r = bb_api("POST", "/api/admin/products",
               "{\"name\":\"Both\",\"type\":\"other\",\"price\":5,\"prices\":[{\"billing_cycle\":"
               "\"monthly\",\"currency\":\"usd\",\"amount\":5}]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "prices"));
    http_result_free(&r);
}

static void admin_edits_the_prices_in_the_product_form(void **state)
{
    (void)state;
    char admin[200], csrf[80], path[96], form[1200];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, admin, sizeof admin);
    snprintf(path, sizeof path, "/admin/products/%" PRId64 "/edit", C->game);
    struct http_result r = get(path, admin);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "name=\"price\" value=\"15.00\"");
    assert_contains(&r, "name=\"price_amount_1\" value=\"150.00\"");
    assert_contains(&r, "name=\"price_currency_2\" value=\"eur\"");
    assert_contains(&r, "name=\"price_amount_5\" value=\"\""); /* 2 stored + 3 blank rows */
    assert_contains(&r, "name=\"group\" value=\"Game servers\"");
    http_result_free(&r);
    browse_csrf(bb_base_url(), admin, path, csrf);

    /* Drop the euro row, add a biennial one; the main price stays first. */
    snprintf(form, sizeof form,
             "csrf_token=%s&name=Minecraft+2G&type=game_server&price=15.00&setup_fee=5.00"
             "&currency=usd&billing_cycle=monthly&autosetup=payment&active=1&visible=1"
             "&group=Game+servers&sort_order=1&egg=1%%3A1&memory=1024&disk=2048"
             "&price_cycle_1=annually&price_currency_1=usd&price_amount_1=150.00&price_setup_1="
             "&price_cycle_2=monthly&price_currency_2=eur&price_amount_2=&price_setup_2="
             "&price_cycle_3=biennially&price_currency_3=USD&price_amount_3=250.00"
             "&price_setup_3=1.00",
             csrf);
    snprintf(path, sizeof path, "/admin/products/%" PRId64, C->game);
    r = browse(bb_base_url(), "POST", path, admin, form, NULL);
    assert_redirect(&r, "/admin/products");
    http_result_free(&r);
    json_t *p = bb_json("GET", NULL, 200, "/api/admin/products/%" PRId64, C->game);
    json_t *prices = json_object_get(p, "prices");
    assert_int_equal(json_array_size(prices), 3);
    assert_string_equal(bb_str(json_array_get(prices, 0), "billing_cycle"), "monthly");
    assert_string_equal(bb_str(json_array_get(prices, 2), "billing_cycle"), "biennially");
    assert_int_equal(bb_int(json_array_get(prices, 2), "amount"), 25000);
    assert_int_equal(bb_int(json_array_get(prices, 2), "setup_fee"), 100);
    assert_int_equal(bb_int(p, "price"), 1500);
    json_decref(p);
    assert_true(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'PRODUCT_UPDATED'"
                         " AND details LIKE '%%biennially%%'") >= 1);

    /* A biennial order is invoiced its own price. */
    char body[160];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 ",\"billing_cycle\":\"biennially\"}",
             C->game);
    json_t *j = order(C->a, C->a_csrf, body, 201);
    assert_int_equal(bb_int(json_object_get(j, "invoice"), "total"), 25000 + 100);
    json_decref(j);
}

static void pages_refresh_while_the_service_is_being_set_up(void **state)
{
    (void)state;
    char body[600], path[96];
    snprintf(body, sizeof body,
             "{\"name\":\"Set up at once\",\"type\":\"game_server\",\"price\":100,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"server_id\":%" PRId64
             ",\"autosetup\":\"order\",\"config\":" GAME_CONFIG "}",
             C->server);
    int64_t product = bb_create_ok("/api/admin/products", body);
    /* The panel answers 429 for a minute: the provision job waits, queued, to retry. */
    fake_ptero_throttle(C->ptero, 1000, 60);
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", product);
    json_t *j = order(C->a, C->a_csrf, body, 201);
    int64_t svc = bb_int(json_object_get(j, "service"), "id");
    int64_t inv = bb_int(json_object_get(j, "invoice"), "id");
    json_decref(j);
    snprintf(path, sizeof path, "/client/services/%" PRId64, svc);
    struct http_result r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "<meta http-equiv=\"refresh\" content=\"5\">");
    assert_contains(&r, "being set up");
    http_result_free(&r);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "<meta http-equiv=\"refresh\" content=\"5\">");
    http_result_free(&r);
    fake_ptero_throttle(C->ptero, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_api_lists_visible_products_with_prices_and_nothing_internal),
        cmocka_unit_test(hidden_product_is_a_404_on_the_store),
        cmocka_unit_test(client_orders_the_chosen_price_through_the_api),
        cmocka_unit_test(unverified_client_cannot_order_while_the_setting_is_on),
        cmocka_unit_test(two_buyers_racing_for_the_last_slot_get_one_service),
        cmocka_unit_test(another_clients_invoice_is_a_404_on_the_api_and_the_page),
        cmocka_unit_test(the_order_form_needs_the_csrf_token),
        cmocka_unit_test(paying_with_stripe_provisions_the_ordered_service),
        cmocka_unit_test(a_free_product_is_ordered_without_anything_to_pay),
        cmocka_unit_test(admin_edits_the_prices_in_the_product_form),
        cmocka_unit_test(pages_refresh_while_the_service_is_being_set_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
