/*
 * bb_client_area.c — the client area /client/... through the real binary, as
 * a customer's browser uses it, with a fake Stripe over real HTTP: every page
 * sends a visitor without a session to /client/login; an admin's session does
 * not open the client area and a client's does not open /admin; wrong
 * passwords answer 401 and are audited; a client sees their own invoices and
 * services and gets the 404 of a missing id for another client's, with none
 * of that client's data on the page; the invoice page offers "Pay with
 * Stripe" (a form posting to /api/stripe/checkout with the session's CSRF
 * token, answered with a 303 to the gateway) and, after the buyer paid at the
 * fake, the return page says so and the API shows the invoice paid — also
 * when the client's session has expired, then without the invoice; PayPal's
 * outcomes come as a signed flash, never from the URL (issue 17, finding 9);
 * a Stripe return asks Stripe only for the owner or with the return token
 * (finding 4); stored markup renders as text.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "fakes/fake_paypal.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_stripe.h"
#include "core/str.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "3c1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define STRIPE_KEY "sk_test_bbClientAreaKey0123456789"
#define WHSEC "whsec_bb_client_area_secret"
#define PTERO_KEY "ptla_ClientAreaTestKey0123456789abcdefABCDEFgh"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
#define PP_CLIENT "bb-client-area-paypal-id"
#define PP_SECRET "bb-client-area-paypal-secret"
#define PP_WEBHOOK "WH-CLIENTAREA-1"
#define ADMIN_EMAIL "area-admin@example.com"
#define ADMIN_PASSWORD "Area-Admin-Password-1"
#define A_EMAIL "ada@example.com"
#define A_PASSWORD "Ada-Client-Password-1"
#define B_EMAIL "bob@example.com"
#define B_PASSWORD "Bob-Client-Password-1"
#define A_NAME "<script>alert('ada')</script>"
#define A_ITEM "<script>alert('item')</script> Web hosting"
#define B_ITEM "Bob secret hosting plan"
#define B_DOMAIN "bob-secret.example.net"
#define A_DOMAIN "ada-site.example.org"

struct ctx {
    struct fake_stripe *stripe;
    struct fake_paypal *pp;
    struct fake_ptero *ptero;
    char admin[200];                 /* "lumi_session=…" */
    char a[200], b[200];             /* "lumi_client_session=…" of clients A and B */
    int64_t a_id, b_id;              /* clients */
    int64_t a_inv, b_inv;            /* an invoice of each */
    char a_number[32], b_number[32]; /* their numbers */
    int64_t a_service, b_service;    /* a service of each */
    int64_t b_service_inv;           /* the first invoice of B's service */
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static struct http_result get(const char *path, const char *cookie)
{
    return browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
}

static json_t *api_get(const char *fmt, int64_t id)
{
    char path[128];
    snprintf(path, sizeof path, fmt, id);
    return bb_json("GET", NULL, 200, "%s", path);
}

static void assert_contains(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) == NULL)
        fail_msg("page (%ld) lacks '%s':\n%s", r->status, needle, buf_cstr(&r->body));
}

static void assert_lacks(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) != NULL)
        fail_msg("page (%ld) shows '%s':\n%s", r->status, needle, buf_cstr(&r->body));
}

static void assert_redirect(const struct http_result *r, const char *location_prefix)
{
    char *loc = http_header(r, "Location");
    if (r->status != 303 || loc == NULL ||
        strncmp(loc, location_prefix, strlen(location_prefix)) != 0)
        fail_msg("want 303 to %s…, got %ld to %s", location_prefix, r->status,
                 loc ? loc : "(none)");
    free(loc);
}

/*
 * Where Stripe sends the buyer back after paying session cs: the session's
 * success_url (as Lumi gave it to Stripe, with its return token) with the
 * session id filled in, as a local path.
 */
static void stripe_return_path(const char *cs, char *out, size_t sz)
{
    json_t *session = fake_stripe_session_json(C->stripe, cs);
    assert_non_null(session);
    const char *url = bb_str(session, "success_url");
    const char *local = strstr(url, "/client/invoices/");
    const char *slot = strstr(url, "{CHECKOUT_SESSION_ID}");
    assert_non_null(local);
    assert_non_null(slot);
    assert_non_null(strstr(url, "rt="));
    snprintf(out, sz, "%.*s%s%s", (int)(slot - local), local, cs,
             slot + strlen("{CHECKOUT_SESSION_ID}"));
    json_decref(session);
}

/* The cookie's value after "name=". */
static const char *cookie_value(const char *cookie)
{
    const char *eq = strchr(cookie, '=');
    assert_non_null(eq);
    return eq + 1;
}

/* Logs in as a client through the form; fails the test unless it worked. */
static void login_client(const char *email, const char *password, char *out, size_t sz)
{
    long st = browse_login(bb_base_url(), "client", email, password, out, sz);
    if (st != 303 || out[0] == '\0')
        fail_msg("client login of %s answered %ld", email, st);
}

/* An invoice of one item for client, through the admin API; its number into number. */
static int64_t invoice_for(int64_t client, const char *description, int64_t amount, char *number,
                           size_t nsz)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":"
             "\"%s\",\"quantity\":2,\"unit_amount\":%" PRId64 "}]}",
             client, description, amount);
    int64_t id = bb_create_ok("/api/admin/invoices", body);
    json_t *inv = api_get("/api/admin/invoices/%" PRId64, id);
    snprintf(number, nsz, "%s", bb_str(inv, "number"));
    json_decref(inv);
    assert_true(number[0] != '\0');
    return id;
}

/* Orders the product for client; answers the service (its first invoice into *invoice). */
static int64_t order_for(int64_t client, int64_t product, const char *domain, int64_t *invoice)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 ",\"domain\":\"%s\"}", client,
             product, domain);
    struct http_result r = bb_api("POST", "/api/admin/services", body);
    if (r.status != 201)
        fail_msg("order: %ld %s", r.status, buf_cstr(&r.body));
    int64_t id = bb_int(r.json, "id");
    if (invoice != NULL)
        *invoice = bb_int(r.json, "invoice_id");
    http_result_free(&r);
    return id;
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->stripe = fake_stripe_start(STRIPE_KEY, WHSEC);
    C->ptero = fake_ptero_start(PTERO_KEY);
    C->pp = fake_paypal_start(PP_CLIENT, PP_SECRET, PP_WEBHOOK);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_SECRET_KEY=%s", STRIPE_KEY);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_env_add("STRIPE_API_BASE=%s", fake_stripe_url(C->stripe));
    bb_env_add("PAYPAL_API_BASE=%s", fake_paypal_url(C->pp));
    bb_env_add("PAYPAL_CLIENT_ID=%s", PP_CLIENT);
    bb_env_add("PAYPAL_CLIENT_SECRET=%s", PP_SECRET);
    bb_env_add("PAYPAL_WEBHOOK_ID=%s", PP_WEBHOOK);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "client-area-test");
    bb_serve();

    char body[600];
    snprintf(body, sizeof body,
             "{\"email\":\"" A_EMAIL "\",\"password\":\"" A_PASSWORD "\",\"first_name\":\"%s\","
             "\"last_name\":\"Lovelace\"}",
             "<script>alert('ada')</script>");
    C->a_id = bb_create_ok("/api/admin/clients", body);
    C->b_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"" B_EMAIL "\",\"password\":\"" B_PASSWORD
                                           "\",\"first_name\":\"Bob\",\"last_name\":\"B\"}");
    C->a_inv = invoice_for(C->a_id, A_ITEM, 1000, C->a_number, sizeof C->a_number);
    C->b_inv = invoice_for(C->b_id, B_ITEM, 4321, C->b_number, sizeof C->b_number);

    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    int64_t server = bb_create_ok("/api/admin/servers", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"setup_fee\":500,"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"manual\",\"config\":" GAME_CONFIG "}",
             server);
    int64_t product = bb_create_ok("/api/admin/products", body);
    C->a_service = order_for(C->a_id, product, A_DOMAIN, NULL);
    C->b_service = order_for(C->b_id, product, B_DOMAIN, &C->b_service_inv);

    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, C->admin, sizeof C->admin);
    login_client(A_EMAIL, A_PASSWORD, C->a, sizeof C->a);
    login_client(B_EMAIL, B_PASSWORD, C->b, sizeof C->b);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_stripe_stop(C->stripe);
    fake_paypal_stop(C->pp);
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void client_pages_send_a_visitor_to_the_login(void **state)
{
    (void)state;
    char path[5][64];
    snprintf(path[0], sizeof path[0], "/client");
    snprintf(path[1], sizeof path[1], "/client/services");
    snprintf(path[2], sizeof path[2], "/client/invoices");
    snprintf(path[3], sizeof path[3], "/client/invoices/%" PRId64, C->a_inv);
    snprintf(path[4], sizeof path[4], "/client/services/%" PRId64, C->a_service);
    for (size_t i = 0; i < 5; i++) {
        struct http_result r = get(path[i], NULL);
        assert_redirect(&r, "/client/login");
        assert_lacks(&r, C->a_number);
        http_result_free(&r);
    }
    /* The login page brings the visitor back to the page asked for. */
    struct http_result r = get(path[3], NULL);
    char *loc = http_header(&r, "Location");
    char want[96];
    snprintf(want, sizeof want, "/client/login?next=/client/invoices/%" PRId64, C->a_inv);
    assert_string_equal(loc, want);
    free(loc);
    http_result_free(&r);

    r = browse(bb_base_url(), "POST", "/client/logout", NULL, "csrf_token=x", NULL);
    assert_redirect(&r, "/client/login");
    http_result_free(&r);

    /* A cookie of no session is no session. */
    r = get("/client", "lumi_client_session=0123456789abcdef0123456789abcdef");
    assert_redirect(&r, "/client/login");
    http_result_free(&r);
}

static void admin_and_client_sessions_do_not_cross(void **state)
{
    (void)state;
    char cookie[240];
    /* An admin's session in either cookie does not open the client area. */
    struct http_result r = get("/client", C->admin);
    assert_redirect(&r, "/client/login");
    http_result_free(&r);
    snprintf(cookie, sizeof cookie, "lumi_client_session=%s", cookie_value(C->admin));
    r = get("/client/invoices", cookie);
    assert_redirect(&r, "/client/login");
    http_result_free(&r);
    /* A client's session in either cookie does not open /admin. */
    r = get("/admin", C->a);
    assert_redirect(&r, "/admin/login");
    http_result_free(&r);
    snprintf(cookie, sizeof cookie, "lumi_session=%s", cookie_value(C->a));
    r = get("/admin/servers", cookie);
    assert_redirect(&r, "/admin/login");
    http_result_free(&r);

    /* Each login form admits only its own kind of account. */
    char out[200];
    assert_int_equal(
        browse_login(bb_base_url(), "client", ADMIN_EMAIL, ADMIN_PASSWORD, out, sizeof out), 403);
    assert_string_equal(out, "");
    assert_int_equal(browse_login(bb_base_url(), "admin", A_EMAIL, A_PASSWORD, out, sizeof out),
                     403);
    assert_string_equal(out, "");

    /* A logged-in client asking for the login form goes straight on. */
    r = get("/client/login?next=/client/services", C->a);
    assert_redirect(&r, "/client/services");
    http_result_free(&r);

    /* The client's own session works, and the admin's still does. */
    r = get("/client", C->a);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    r = get("/admin/servers", C->admin);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

static void wrong_password_is_refused_and_audited(void **state)
{
    (void)state;
    int64_t failed = bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND "
                              "actor_email = '" B_EMAIL "'");
    int64_t ok = bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN' AND "
                          "actor_email = '" B_EMAIL "'");
    char token[80], field[80], form[400];
    struct http_result r = get("/client/login", NULL);
    assert_int_equal(r.status, 200);
    assert_true(browse_set_cookie_value(&r, "lumi_login_csrf", token, sizeof token));
    char *line = browse_set_cookie_line(&r, "lumi_login_csrf");
    assert_non_null(strstr(line, "Path=/client/login"));
    free(line);
    assert_true(
        browse_attr_after(buf_cstr(&r.body), "name=\"login_csrf\" value=\"", field, sizeof field));
    assert_string_equal(field, token);
    assert_contains(&r, "action=\"/client/login\"");
    http_result_free(&r);

    char cookies[120];
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", token);
    snprintf(form, sizeof form, "login_csrf=%s&email=bob%%40example.com&password=wrong-one-1234",
             token);
    r = browse(bb_base_url(), "POST", "/client/login", cookies, form, NULL);
    assert_int_equal(r.status, 401);
    assert_contains(&r, "Wrong e-mail address or password.");
    assert_contains(&r, "value=\"bob@example.com\"");
    assert_null(browse_set_cookie_line(&r, "lumi_client_session"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND "
                              "actor_email = '" B_EMAIL "'"),
                     failed + 1);

    /* The form's own CSRF token is needed even with the right password. */
    snprintf(form, sizeof form, "email=bob%%40example.com&password=" B_PASSWORD);
    r = browse(bb_base_url(), "POST", "/client/login", cookies, form, NULL);
    assert_int_equal(r.status, 403);
    assert_null(browse_set_cookie_line(&r, "lumi_client_session"));
    http_result_free(&r);

    /* The right password: a session cookie for the whole site, HttpOnly, and LOGIN audited. */
    r = get("/client/login", NULL);
    assert_true(browse_set_cookie_value(&r, "lumi_login_csrf", token, sizeof token));
    http_result_free(&r);
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", token);
    snprintf(form, sizeof form,
             "login_csrf=%s&email=bob%%40example.com&password=" B_PASSWORD
             "&next=%%2Fclient%%2Finvoices",
             token);
    r = browse(bb_base_url(), "POST", "/client/login", cookies, form, NULL);
    assert_redirect(&r, "/client/invoices");
    line = browse_set_cookie_line(&r, "lumi_client_session");
    assert_non_null(line);
    assert_non_null(strstr(line, "HttpOnly"));
    assert_non_null(strstr(line, "Path=/;"));
    free(line);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN' AND "
                              "actor_email = '" B_EMAIL "'"),
                     ok + 1);

    /* next leading off the client area is ignored. */
    static const char *const evil[] = {"https%3A%2F%2Fevil.example%2Fclient",
                                       "%2F%2Fevil.example%2Fclient", "%2Fclient.evil.example",
                                       "%2Fadmin%2Fservers", NULL};
    for (size_t i = 0; evil[i] != NULL; i++) {
        r = get("/client/login", NULL);
        assert_true(browse_set_cookie_value(&r, "lumi_login_csrf", token, sizeof token));
        http_result_free(&r);
        snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", token);
        snprintf(form, sizeof form,
                 "login_csrf=%s&email=bob%%40example.com&password=" B_PASSWORD "&next=%s", token,
                 evil[i]);
        r = browse(bb_base_url(), "POST", "/client/login", cookies, form, NULL);
        assert_int_equal(r.status, 303);
        char *loc = http_header(&r, "Location");
        assert_string_equal(loc, "/client");
        free(loc);
        http_result_free(&r);
    }
}

static void client_sees_their_own_invoice(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, C->a_inv);
    struct http_result r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, C->a_number);
    assert_contains(&r, "Web hosting");
    assert_contains(&r, "10.00 USD"); /* unit price */
    assert_contains(&r, "20.00 USD"); /* total and amount due: 2 × 10.00 */
    assert_contains(&r, "badge-unpaid");
    assert_contains(&r, "No payments yet.");
    assert_contains(&r, "href=\"/client/invoices\" class=\"active\"");
    assert_contains(&r, "action=\"/client/logout\"");
    char *csp = http_header(&r, "Content-Security-Policy");
    assert_non_null(csp);
    free(csp);
    http_result_free(&r);

    /* The lists and the home page show A's invoice and service, never B's. */
    r = get("/client/invoices", C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, C->a_number);
    assert_lacks(&r, C->b_number);
    http_result_free(&r);
    r = get("/client/services", C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, A_DOMAIN);
    assert_contains(&r, "Minecraft 1G");
    assert_contains(&r, "15.00 USD");
    assert_lacks(&r, B_DOMAIN);
    http_result_free(&r);
    r = get("/client", C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, C->a_number);
    assert_contains(&r, A_DOMAIN);
    assert_lacks(&r, C->b_number);
    assert_lacks(&r, B_DOMAIN);
    http_result_free(&r);

    /* A's service page, with the invoices of the order. */
    snprintf(path, sizeof path, "/client/services/%" PRId64, C->a_service);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, A_DOMAIN);
    assert_contains(&r, "badge-pending");
    assert_contains(&r, "20.00 USD"); /* the first invoice: setup 5.00 + first month 15.00 */
    assert_lacks(&r, PTERO_KEY);
    http_result_free(&r);

    r = get("/client/invoices?cursor=abc", C->a);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
}

/* GET path as A: 404 with the same page as an id that does not exist, and none of B's data. */
static void assert_hidden(const char *path, const char *missing_path)
{
    struct http_result r = get(path, C->a);
    struct http_result m = get(missing_path, C->a);
    assert_int_equal(r.status, 404);
    assert_int_equal(m.status, 404);
    assert_string_equal(buf_cstr(&r.body), buf_cstr(&m.body));
    assert_lacks(&r, C->b_number);
    assert_lacks(&r, "Bob");
    assert_lacks(&r, B_DOMAIN);
    assert_lacks(&r, "43.21");
    assert_lacks(&r, "86.42");
    http_result_free(&r);
    http_result_free(&m);
}

static void another_clients_invoice_and_service_are_not_found(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, C->b_inv);
    assert_hidden(path, "/client/invoices/987654321");
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, C->b_service_inv);
    assert_hidden(path, "/client/invoices/987654321");
    snprintf(path, sizeof path, "/client/services/%" PRId64, C->b_service);
    assert_hidden(path, "/client/services/987654321");

    /* B sees their own. */
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, C->b_inv);
    struct http_result r = get(path, C->b);
    assert_int_equal(r.status, 200);
    assert_contains(&r, B_ITEM);
    assert_contains(&r, "86.42 USD");
    http_result_free(&r);

    /* A cannot start a checkout of B's invoice either: 404, no session at Stripe. */
    char csrf[80], form[200];
    browse_csrf(bb_base_url(), C->a, "/client", csrf);
    size_t sessions = fake_stripe_session_count(C->stripe);
    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%s", C->b_inv, csrf);
    r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 404);
    assert_lacks(&r, C->b_number);
    http_result_free(&r);
    assert_int_equal(fake_stripe_session_count(C->stripe), sessions);
}

static void pay_with_stripe_from_the_invoice_page(void **state)
{
    (void)state;
    char path[160], csrf[80], invoice_id[32], form[200], cs[64];
    char number[32];
    int64_t inv = invoice_for(C->a_id, "Domain renewal", 1250, number, sizeof number);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    struct http_result r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "Pay with Stripe");
    assert_contains(&r, "action=\"/api/stripe/checkout\"");
    assert_contains(&r, "Pay with PayPal");
    assert_contains(&r, "action=\"/api/paypal/checkout\"");
    assert_true(browse_attr_after(buf_cstr(&r.body), "name=\"invoice_id\" value=\"", invoice_id,
                                  sizeof invoice_id));
    assert_int_equal(strtoll(invoice_id, NULL, 10), inv);
    assert_true(
        browse_attr_after(buf_cstr(&r.body), "name=\"csrf_token\" value=\"", csrf, sizeof csrf));
    http_result_free(&r);

    /* Without the CSRF token: refused, and nothing is started at Stripe. */
    size_t sessions = fake_stripe_session_count(C->stripe);
    snprintf(form, sizeof form, "invoice_id=%" PRId64, inv);
    r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%064d", inv, 7);
    r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(fake_stripe_session_count(C->stripe), sessions);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM checkouts WHERE invoice_id = %" PRId64, inv),
                     0);

    /* The form as the page has it: 303 to the fake's checkout page. */
    snprintf(form, sizeof form, "invoice_id=%s&csrf_token=%s", invoice_id, csrf);
    r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    char want[160];
    snprintf(want, sizeof want, "%s/pay/cs_test_", fake_stripe_url(C->stripe));
    assert_redirect(&r, want);
    char *loc = http_header(&r, "Location");
    snprintf(cs, sizeof cs, "%s", strrchr(loc, '/') + 1);
    free(loc);
    http_result_free(&r);
    assert_int_equal(fake_stripe_session_count(C->stripe), sessions + 1);
    json_t *session = fake_stripe_session_json(C->stripe, cs);
    assert_non_null(session);
    assert_int_equal(bb_int(session, "amount_total"), 2500);
    json_decref(session);

    /* The buyer pays at Stripe and comes back: the page says so, the invoice is paid. */
    assert_int_equal(fake_stripe_complete(C->stripe, cs, true), 0);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "?paid=stripe&session_id=%s", inv, cs);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "flash-ok");
    assert_contains(&r, "your payment was received and the invoice is paid");
    assert_contains(&r, number);
    assert_contains(&r, "badge-paid");
    assert_contains(&r, "Paid on");
    assert_contains(&r, "25.00 USD");
    assert_contains(&r, "stripe");
    assert_lacks(&r, "Pay with Stripe");
    assert_lacks(&r, "Pay with PayPal");
    http_result_free(&r);
    json_t *j = api_get("/api/admin/invoices/%" PRId64, inv);
    assert_string_equal(bb_str(j, "status"), "paid");
    assert_int_equal(bb_int(j, "amount_paid"), 2500);
    json_decref(j);

    /* Coming back again changes nothing; a paid invoice offers no payment. */
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "invoice is paid");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv),
                     1);
    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%s", inv, csrf);
    r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    /* The browser goes back to the invoice with the reason, not to a JSON error. */
    assert_int_equal(r.status, 303);
    char *back = http_header(&r, "Location");
    assert_non_null(back);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    assert_string_equal(back, path); /* the reason is a flash, not in the URL (issue 17) */
    free(back);
    struct http_result page = browse_follow(bb_base_url(), &r, C->a);
    http_result_free(&r);
    assert_int_equal(page.status, 200);
    assert_contains(&page, "flash-error");
    http_result_free(&page);
}

static void pay_with_paypal_and_come_back(void **state)
{
    (void)state;
    char number[32], path[160], csrf[80], form[200], order[64];
    int64_t inv = invoice_for(C->a_id, "Mail hosting", 450, number, sizeof number);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    browse_csrf(bb_base_url(), C->a, path, csrf);
    size_t orders = fake_paypal_order_count(C->pp);

    /* Without the CSRF token: refused, no order at PayPal. */
    snprintf(form, sizeof form, "invoice_id=%" PRId64, inv);
    struct http_result r = browse(bb_base_url(), "POST", "/api/paypal/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(fake_paypal_order_count(C->pp), orders);

    /* The page's form: 303 to PayPal's approval page for a new order. */
    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%s", inv, csrf);
    r = browse(bb_base_url(), "POST", "/api/paypal/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 303);
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    const char *tok = strstr(loc, "token=");
    assert_non_null(tok);
    snprintf(order, sizeof order, "%s", tok + 6);
    free(loc);
    http_result_free(&r);
    assert_int_equal(fake_paypal_order_count(C->pp), orders + 1);

    /* The buyer approves and comes back through the capture to the invoice page. */
    assert_int_equal(fake_paypal_approve(C->pp, order), 0);
    snprintf(path, sizeof path, "/api/paypal/capture?token=%s", order);
    r = get(path, C->a);
    char want[96];
    snprintf(want, sizeof want, "/client/invoices/%" PRId64, inv);
    assert_redirect(&r, want);
    struct http_result page = browse_follow(bb_base_url(), &r, C->a);
    http_result_free(&r);
    r = page;
    assert_int_equal(r.status, 200);
    assert_contains(&r, "flash-ok");
    assert_contains(&r, "your payment was received and the invoice is paid");
    assert_contains(&r, number);
    assert_contains(&r, "badge-paid");
    assert_contains(&r, "<td>paypal</td>");
    assert_contains(&r, "9.00 USD");
    assert_lacks(&r, "Pay with PayPal");
    http_result_free(&r);
    json_t *j = api_get("/api/admin/invoices/%" PRId64, inv);
    assert_string_equal(bb_str(j, "status"), "paid");
    assert_int_equal(bb_int(j, "amount_paid"), 900);
    json_decref(j);
}

static void return_after_the_session_expired_shows_only_the_outcome(void **state)
{
    (void)state;
    char number[32], path[160], csrf[80], form[200], cs[64];
    int64_t inv = invoice_for(C->a_id, "Backup storage", 700, number, sizeof number);
    browse_csrf(bb_base_url(), C->a, "/client", csrf);
    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%s", inv, csrf);
    struct http_result r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 303);
    char *loc = http_header(&r, "Location");
    snprintf(cs, sizeof cs, "%s", strrchr(loc, '/') + 1);
    free(loc);
    http_result_free(&r);
    assert_int_equal(fake_stripe_complete(C->stripe, cs, true), 0);

    /* No session (it expired while paying): back through Lumi's success_url, whose return
     * token stands in for it, the payment is applied, the page says so, with a login link,
     * and shows nothing of the invoice. */
    stripe_return_path(cs, path, sizeof path);
    r = get(path, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "your payment was received");
    char want[96];
    snprintf(want, sizeof want, "href=\"/client/login?next&#61;/client/invoices/%" PRId64 "\"",
             inv);
    if (strstr(buf_cstr(&r.body), want) == NULL) {
        snprintf(want, sizeof want, "href=\"/client/login?next=/client/invoices/%" PRId64 "\"",
                 inv);
        assert_contains(&r, want);
    }
    assert_lacks(&r, number);
    assert_lacks(&r, "Backup storage");
    assert_lacks(&r, "14.00");
    http_result_free(&r);
    json_t *j = api_get("/api/admin/invoices/%" PRId64, inv);
    assert_string_equal(bb_str(j, "status"), "paid");
    json_decref(j);

    /* Another client's session sees the outcome only, too. */
    r = get(path, C->b);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "your payment was received");
    assert_lacks(&r, number);
    assert_lacks(&r, "Backup storage");
    http_result_free(&r);

    /* A session id that is not this invoice's (asked by the owner): nothing applied, an
     * error, and Stripe is not even asked — the session was not recorded for it. */
    char other[32];
    int64_t inv2 = invoice_for(C->a_id, "Another thing", 300, other, sizeof other);
    size_t asked = fake_stripe_request_count(C->stripe);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "?paid=stripe&session_id=%s", inv2, cs);
    r = get(path, C->a);
    assert_int_equal(r.status, 400);
    assert_contains(&r, "could not confirm this payment");
    http_result_free(&r);
    assert_int_equal(fake_stripe_request_count(C->stripe), asked);
    j = api_get("/api/admin/invoices/%" PRId64, inv2);
    assert_string_equal(bb_str(j, "status"), "unpaid");
    json_decref(j);
}

/*
 * Issue 17, finding 9: the URL says nothing a page shows. A link with
 * ?paid=paypal&result=paid to an unpaid invoice shows it unpaid and no
 * "payment received"; ?error= / ?ok= text is never a banner; a link to
 * another client's invoice is the 404 of a missing one.
 */
static void url_text_never_shows_as_a_message(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "?paid=paypal&result=paid", C->a_inv);
    struct http_result r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, "payment was received");
    assert_lacks(&r, "class=\"flash");
    assert_contains(&r, C->a_number);
    assert_contains(&r, "badge-unpaid");
    assert_contains(&r, "Pay with Stripe");
    http_result_free(&r);
    /* B following such a link to A's invoice learns nothing. */
    r = get(path, C->b);
    assert_int_equal(r.status, 404);
    assert_lacks(&r, "payment was received");
    assert_lacks(&r, C->a_number);
    assert_lacks(&r, "Web hosting");
    http_result_free(&r);
    /* Nobody signed in: the login form, with no outcome. */
    r = get(path, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);

    /* Crafted banners, on the client area and on an admin page. */
    snprintf(path, sizeof path,
             "/client/invoices/%" PRId64 "?error=Your+card+was+declined%%2C+call+%%2B1-555-0100",
             C->a_inv);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, "call +1-555-0100");
    assert_lacks(&r, "class=\"flash");
    http_result_free(&r);
    r = get("/client?ok=Your+account+is+verified%2C+pay+at+evil.example", C->a);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, "evil.example");
    http_result_free(&r);
    r = get("/admin/servers?error=Session+expired%2C+log+in+at+evil.example", C->admin);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, "evil.example");
    assert_lacks(&r, "class=\"flash");
    http_result_free(&r);
    /* A forged flash cookie shows nothing either. */
    char jar[400];
    snprintf(jar, sizeof jar, "%s; lumi_flash=9999999999.ok.6576696c.%064d", C->a, 0);
    r = get("/client", jar);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, "class=\"flash");
    http_result_free(&r);
}

/*
 * Issue 17, finding 4: a Stripe return asks Stripe only for the invoice's
 * owner or with the return token Lumi put into success_url; anyone else's
 * request (anonymous, another client, a forged token) reaches Stripe never;
 * and one invoice's returns are bounded (5 a minute).
 */
static void stripe_return_asks_stripe_only_for_the_owner_or_the_token(void **state)
{
    (void)state;
    char number[32], path[512], forged[600], csrf[80], form[200], cs[64];
    int64_t inv = invoice_for(C->a_id, "Return probe", 1100, number, sizeof number);
    browse_csrf(bb_base_url(), C->a, "/client", csrf);
    snprintf(form, sizeof form, "invoice_id=%" PRId64 "&csrf_token=%s", inv, csrf);
    struct http_result r = browse(bb_base_url(), "POST", "/api/stripe/checkout", C->a, form, NULL);
    assert_int_equal(r.status, 303);
    char *loc = http_header(&r, "Location");
    snprintf(cs, sizeof cs, "%s", strrchr(loc, '/') + 1);
    free(loc);
    http_result_free(&r);

    /* Without the token: neither nobody nor B makes Lumi call Stripe. */
    size_t asked = fake_stripe_request_count(C->stripe);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "?paid=stripe&session_id=%s", inv, cs);
    for (int i = 0; i < 3; i++) {
        r = get(path, i == 1 ? C->b : NULL);
        assert_int_equal(r.status, 200);
        assert_contains(&r, "Log in to see this invoice");
        assert_lacks(&r, number);
        http_result_free(&r);
    }
    /* A token for this invoice with its signature changed, or another invoice's token. */
    stripe_return_path(cs, path, sizeof path);
    snprintf(forged, sizeof forged, "%s", path);
    char *sig = strstr(forged, "rt=");
    assert_non_null(sig);
    sig = strchr(sig, '.') + 1;
    *sig = *sig == 'a' ? 'b' : 'a';
    r = get(forged, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "Log in to see this invoice");
    http_result_free(&r);
    stripe_return_path(cs, forged, sizeof forged);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "%s", C->a_inv, strchr(forged, '?'));
    r = get(path, NULL);
    assert_contains(&r, "Log in to see this invoice");
    http_result_free(&r);
    assert_int_equal(fake_stripe_request_count(C->stripe), asked);

    /* The buyer's own return (the token): asked once per visit, at most 5 a minute. */
    stripe_return_path(cs, path, sizeof path);
    for (int i = 0; i < 7; i++) {
        r = get(path, NULL);
        assert_int_equal(r.status, i < 5 ? 200 : 429);
        http_result_free(&r);
    }
    assert_int_equal(fake_stripe_request_count(C->stripe), asked + 5);
    json_t *j = api_get("/api/admin/invoices/%" PRId64, inv);
    assert_string_equal(bb_str(j, "status"), "unpaid"); /* not paid at the fake */
    json_decref(j);
}

static void stored_markup_renders_as_text(void **state)
{
    (void)state;
    struct http_result r = get("/client", C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "&lt;script&gt;alert(&#39;ada&#39;)&lt;/script&gt;");
    assert_lacks(&r, A_NAME);
    http_result_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, C->a_inv);
    r = get(path, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "&lt;script&gt;alert(&#39;item&#39;)&lt;/script&gt; Web hosting");
    assert_lacks(&r, "<script>alert(");
    http_result_free(&r);
}

static void logout_ends_the_client_session(void **state)
{
    (void)state;
    char cookie[200], csrf[80], form[120];
    login_client(A_EMAIL, A_PASSWORD, cookie, sizeof cookie);
    browse_csrf(bb_base_url(), cookie, "/client", csrf);
    /* Without the token the form is refused and the session lives on. */
    struct http_result r = browse(bb_base_url(), "POST", "/client/logout", cookie, "x=1", NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    r = get("/client", cookie);
    assert_int_equal(r.status, 200);
    http_result_free(&r);

    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    r = browse(bb_base_url(), "POST", "/client/logout", cookie, form, NULL);
    assert_redirect(&r, "/client/login");
    char *line = browse_set_cookie_line(&r, "lumi_client_session");
    assert_non_null(line);
    assert_non_null(strstr(line, "Max-Age=0"));
    free(line);
    http_result_free(&r);
    r = get("/client", cookie);
    assert_redirect(&r, "/client/login");
    http_result_free(&r);
    /* The other sessions are untouched. */
    r = get("/client", C->a);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

static void invoice_list_pages_newest_first(void **state)
{
    (void)state;
    char cookie[200], number[32], first[32] = "", last[32] = "";
    int64_t cy =
        bb_create_ok("/api/admin/clients", "{\"email\":\"cy@example.com\",\"password\":"
                                           "\"Cy-Client-Password-1\",\"first_name\":\"Cy\"}");
    for (int i = 0; i < 52; i++) {
        invoice_for(cy, "Monthly plan", 100 + i, number, sizeof number);
        if (i == 0)
            snprintf(first, sizeof first, "%s", number);
        if (i == 51)
            snprintf(last, sizeof last, "%s", number);
    }
    login_client("cy@example.com", "Cy-Client-Password-1", cookie, sizeof cookie);
    struct http_result r = get("/client/invoices", cookie);
    assert_int_equal(r.status, 200);
    assert_int_equal(browse_count(buf_cstr(&r.body), "class=\"invoice-row\""), 50);
    /* Newest first: the last invoice made is on the first page, the first one is not. */
    const char *body = buf_cstr(&r.body);
    assert_non_null(strstr(body, last));
    assert_null(strstr(body, first));
    assert_true(strstr(body, "class=\"invoice-row\"") < strstr(body, last));
    char cursor[32], path[96];
    assert_true(
        browse_attr_after(body, "href=\"/client/invoices?cursor&#61;", cursor, sizeof cursor) ||
        browse_attr_after(body, "href=\"/client/invoices?cursor=", cursor, sizeof cursor));
    assert_contains(&r, "Next page");
    http_result_free(&r);

    snprintf(path, sizeof path, "/client/invoices?cursor=%s", cursor);
    r = get(path, cookie);
    assert_int_equal(r.status, 200);
    assert_int_equal(browse_count(buf_cstr(&r.body), "class=\"invoice-row\""), 2);
    assert_contains(&r, first);
    assert_lacks(&r, last);
    assert_lacks(&r, "Next page");
    assert_lacks(&r, C->a_number);
    http_result_free(&r);

    /* The home page lists what is unpaid, with a link to all of it. */
    r = get("/client", cookie);
    assert_int_equal(r.status, 200);
    assert_int_equal(browse_count(buf_cstr(&r.body), "class=\"invoice-row\""), 50);
    assert_contains(&r, "You have no services yet.");
    http_result_free(&r);
}

static void a_disabled_client_is_shut_out(void **state)
{
    (void)state;
    char cookie[200], out[200], path[64];
    int64_t id = bb_create_ok("/api/admin/clients", "{\"email\":\"eve@example.com\",\"password\":"
                                                    "\"Eve-Client-Password-1\"}");
    login_client("eve@example.com", "Eve-Client-Password-1", cookie, sizeof cookie);
    struct http_result r = get("/client", cookie);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    snprintf(path, sizeof path, "/api/admin/clients/%" PRId64, id);
    r = bb_api("PATCH", path, "{\"status\":\"disabled\"}");
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    /* The open session no longer opens anything, and no new one is given. */
    r = get("/client", cookie);
    assert_redirect(&r, "/client/login");
    http_result_free(&r);
    assert_int_equal(browse_login(bb_base_url(), "client", "eve@example.com",
                                  "Eve-Client-Password-1", out, sizeof out),
                     403);
    assert_string_equal(out, "");
}

static void repeated_login_failures_are_throttled(void **state)
{
    (void)state;
    char out[200];
    bb_create_ok("/api/admin/clients", "{\"email\":\"dee@example.com\",\"password\":"
                                       "\"Dee-Client-Password-1\"}");
    for (int i = 0; i < 5; i++)
        assert_int_equal(browse_login(bb_base_url(), "client", "dee@example.com",
                                      "not-the-password", out, sizeof out),
                         401);
    /* Even the right password waits now. */
    assert_int_equal(browse_login(bb_base_url(), "client", "dee@example.com",
                                  "Dee-Client-Password-1", out, sizeof out),
                     429);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_pages_send_a_visitor_to_the_login),
        cmocka_unit_test(admin_and_client_sessions_do_not_cross),
        cmocka_unit_test(wrong_password_is_refused_and_audited),
        cmocka_unit_test(client_sees_their_own_invoice),
        cmocka_unit_test(another_clients_invoice_and_service_are_not_found),
        cmocka_unit_test(pay_with_stripe_from_the_invoice_page),
        cmocka_unit_test(pay_with_paypal_and_come_back),
        cmocka_unit_test(return_after_the_session_expired_shows_only_the_outcome),
        cmocka_unit_test(url_text_never_shows_as_a_message),
        cmocka_unit_test(stripe_return_asks_stripe_only_for_the_owner_or_the_token),
        cmocka_unit_test(stored_markup_renders_as_text),
        cmocka_unit_test(logout_ends_the_client_session),
        cmocka_unit_test(invoice_list_pages_newest_first),
        cmocka_unit_test(a_disabled_client_is_shut_out),
        cmocka_unit_test(repeated_login_failures_are_throttled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
