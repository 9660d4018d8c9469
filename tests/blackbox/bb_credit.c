/*
 * bb_credit.c — the credit balance end to end through the real binary with a
 * fake Stripe and a fake Pterodactyl over real HTTP: an over-payment
 * delivered by a signed webhook settles the invoice and the surplus becomes
 * credit, the replayed webhook adds nothing, an over-payment in another
 * currency stays a mismatch; an admin adds and removes credit with a reason
 * and cannot remove more than the balance; credit pays a client's order in
 * full and the service is provisioned on the panel; with auto-apply off the
 * client applies credit from the invoice (another client's invoice is a
 * 404); add funds paid through the fake Stripe ends as credit; the pages
 * show the balance and ledger and their forms need the CSRF token. Runs on
 * SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_stripe.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/testdb.h"

#define SECRET_KEY "6d1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define STRIPE_KEY "sk_test_bbCreditKey0123456789ab"
#define WHSEC "whsec_bb_credit_secret"
#define PTERO_KEY "ptla_CreditTestKey0123456789abcdefABCDEFghijklm"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
#define ADMIN_EMAIL "credit-admin@example.com"
#define ADMIN_PASSWORD "Credit-Admin-Password-1"
#define PASSWORD "Credit-Client-Password-1"
#define SETTLE_S 30

struct who {
    int64_t id;
    char cookie[200], csrf[80];
};

struct ctx {
    struct fake_stripe *stripe;
    struct fake_ptero *ptero;
    int64_t product;
    struct who a, b, c, d;
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static struct http_result client_api(const struct who *w, const char *method, const char *path,
                                     const char *body)
{
    char url[256], cookie_h[256], csrf_h[128];
    const char *headers[4] = {"Content-Type: application/json", cookie_h, csrf_h, NULL};
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    snprintf(cookie_h, sizeof cookie_h, "Cookie: %s", w->cookie);
    snprintf(csrf_h, sizeof csrf_h, "X-CSRF-Token: %s", w->csrf);
    struct http_result r;
    memset(&r, 0, sizeof r);
    if (http_request(method, url, headers, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

static const char *error_message(const struct http_result *r)
{
    const char *m =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m != NULL ? m : "";
}

static void expect(struct http_result *r, long status, const char *msg_part)
{
    if (r->status != status)
        fail_msg("want %ld, got %ld %s", status, r->status, buf_cstr(&r->body));
    if (msg_part != NULL && strstr(error_message(r), msg_part) == NULL)
        fail_msg("message '%s' lacks '%s'", error_message(r), msg_part);
}

/* The client's balance in currency, read through the admin API. */
static int64_t balance(int64_t client, const char *currency)
{
    json_t *j = bb_json("GET", NULL, 200, "/api/admin/clients/%" PRId64 "/credit", client);
    int64_t v = 0;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "balances"), i, b)
    {
        if (strcmp(bb_str(b, "currency"), currency) == 0)
            v = bb_int(b, "balance");
    }
    json_decref(j);
    return v;
}

static void admin_credit(int64_t client, int64_t amount, long status)
{
    char body[200];
    snprintf(body, sizeof body,
             "{\"amount\":%" PRId64 ",\"currency\":\"usd\",\"reason\":\"goodwill %" PRId64 "\"}",
             amount, amount);
    json_t *j = bb_json("POST", body, status, "/api/admin/clients/%" PRId64 "/credit", client);
    json_decref(j);
}

static json_t *invoice(int64_t id)
{
    return bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, id);
}

static int64_t plain_invoice(int64_t client, int64_t amount)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":"
             "\"Hosting\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             client, amount);
    return bb_create_ok("/api/admin/invoices", body);
}

static void checkout(int64_t invoice_id, char *out, size_t outsz)
{
    char body[64];
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", invoice_id);
    struct http_result r = bb_api("POST", "/api/stripe/checkout", body);
    if (r.status != 200)
        fail_msg("checkout: %ld %s", r.status, buf_cstr(&r.body));
    snprintf(out, outsz, "%s", bb_str(r.json, "session_id"));
    http_result_free(&r);
}

/* s with the first `from` replaced by `to` (caller frees). */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    if (at == NULL)
        fail_msg("'%s' not in the event", from);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

/* Delivers a Stripe event signed by the fake; answers the outcome ("processed", "duplicate"…). */
static void deliver(const char *body, const char *want)
{
    char url[128], sig_h[512];
    char *sig = fake_stripe_sign(C->stripe, body, (int64_t)time(NULL));
    snprintf(url, sizeof url, "%s/api/stripe/webhook", bb_base_url());
    snprintf(sig_h, sizeof sig_h, "Stripe-Signature: %s", sig);
    free(sig);
    const char *headers[] = {"Content-Type: application/json", sig_h, NULL};
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        fail_msg("webhook: no answer");
    if (r.status != 200 || strcmp(bb_str(r.json, "status"), want) != 0)
        fail_msg("webhook: want 200 %s, got %ld %s", want, r.status, buf_cstr(&r.body));
    http_result_free(&r);
}

/* A completed session of invoice inv whose event says amount_total=amount (and currency). */
static char *paid_event(int64_t inv, int64_t invoice_total, int64_t amount, const char *currency)
{
    char cs[128], from[64], to[64];
    checkout(inv, cs, sizeof cs);
    assert_int_equal(fake_stripe_complete(C->stripe, cs, true), 0);
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    assert_non_null(ev);
    snprintf(from, sizeof from, "\"amount_total\":%" PRId64, invoice_total);
    snprintf(to, sizeof to, "\"amount_total\":%" PRId64, amount);
    char *changed = replace_once(ev, from, to);
    free(ev);
    if (strcmp(currency, "usd") != 0) {
        snprintf(to, sizeof to, "\"currency\":\"%s\"", currency);
        ev = replace_once(changed, "\"currency\":\"usd\"", to);
        free(changed);
        changed = ev;
    }
    return changed;
}

static void make_client(struct who *w, const char *email)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"first_name\":\"C\","
             "\"last_name\":\"Credit\"}",
             email);
    w->id = bb_create_ok("/api/admin/clients", body);
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE users SET email_verified_at = created_at WHERE id = %" PRId64, w->id);
    testdb_exec(bb_db(), sql);
    long st = browse_login(bb_base_url(), "client", email, PASSWORD, w->cookie, sizeof w->cookie);
    if (st != 303)
        fail_msg("login of %s answered %ld", email, st);
    browse_csrf(bb_base_url(), w->cookie, "/client", w->csrf);
}

static void set_auto_apply(bool on)
{
    json_t *j = bb_json("PATCH", on ? "{\"credit.auto_apply\":true}" : "{\"credit.auto_apply\":false}",
                        200, "/api/admin/settings");
    json_decref(j);
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
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "credit-test");
    bb_serve();
    char body[800];
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    int64_t server = bb_create_ok("/api/admin/servers", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"setup_fee\":500,"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"payment\",\"config\":" GAME_CONFIG "}",
             server);
    C->product = bb_create_ok("/api/admin/products", body);
    make_client(&C->a, "ann@example.com");
    make_client(&C->b, "ben@example.com");
    make_client(&C->c, "cai@example.com");
    make_client(&C->d, "dee@example.com");
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

static void overpayment_by_webhook_ends_as_credit_and_replay_adds_nothing(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(C->a.id, 1000);
    int64_t added = bb_audit_count("CREDIT_ADDED");
    char *ev = paid_event(inv, 1000, 1750, "usd");
    deliver(ev, "processed");
    json_t *j = invoice(inv);
    assert_string_equal(bb_str(j, "status"), "paid");
    assert_int_equal(bb_int(j, "amount_paid"), 1000);
    json_decref(j);
    assert_int_equal(balance(C->a.id, "usd"), 750);
    assert_int_equal(bb_audit_count("CREDIT_ADDED"), added + 1);
    /* Stripe delivers it again: nothing more */
    deliver(ev, "duplicate");
    free(ev);
    assert_int_equal(balance(C->a.id, "usd"), 750);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM credit_ledger WHERE kind = 'overpayment' AND "
                              "invoice_id = %" PRId64,
                              inv),
                     1);
    /* the client sees it too, in the ledger */
    struct http_result r = client_api(&C->a, "GET", "/api/client/credit", NULL);
    expect(&r, 200, NULL);
    json_t *row = json_array_get(json_object_get(r.json, "ledger"), 0);
    assert_string_equal(bb_str(row, "kind"), "overpayment");
    assert_int_equal(bb_int(row, "amount"), 750);
    http_result_free(&r);
}

static void overpayment_in_another_currency_stays_a_mismatch(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(C->a.id, 1200);
    int64_t before = balance(C->a.id, "usd");
    int64_t mismatches = bb_audit_count("PAYMENT_MISMATCH");
    char *ev = paid_event(inv, 1200, 5000, "eur");
    deliver(ev, "failed");
    free(ev);
    json_t *j = invoice(inv);
    assert_string_equal(bb_str(j, "status"), "unpaid");
    json_decref(j);
    assert_int_equal(balance(C->a.id, "usd"), before);
    assert_int_equal(balance(C->a.id, "eur"), 0);
    assert_int_equal(bb_audit_count("PAYMENT_MISMATCH"), mismatches + 1);
}

static void admin_adds_and_removes_credit_with_a_reason(void **state)
{
    (void)state;
    int64_t start = balance(C->a.id, "usd");
    admin_credit(C->a.id, 1000, 200);
    admin_credit(C->a.id, -400, 200);
    assert_int_equal(balance(C->a.id, "usd"), start + 600);
    /* removing more than the balance: 409 naming the balance, nothing changes */
    char body[200];
    snprintf(body, sizeof body,
             "{\"amount\":-%" PRId64 ",\"currency\":\"usd\",\"reason\":\"too much\"}",
             start + 601);
    struct http_result r = bb_apif("POST", body, "/api/admin/clients/%" PRId64 "/credit", C->a.id);
    expect(&r, 409, "credit balance is");
    http_result_free(&r);
    assert_int_equal(balance(C->a.id, "usd"), start + 600);
    /* bad input names the field */
    static const char *const bad[][2] = {
        {"{\"amount\":100,\"currency\":\"usd\"}", "reason"},
        {"{\"amount\":0,\"currency\":\"usd\",\"reason\":\"x\"}", "amount"},
        {"{\"amount\":100,\"currency\":\"xyz\",\"reason\":\"x\"}", "currency"},
        {"{\"amount\":100,\"currency\":\"usd\",\"reason\":\"\"}", "reason"},
        {"{\"amount\":\"100\",\"currency\":\"usd\",\"reason\":\"x\"}", "amount"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = bb_apif("POST", bad[i][0], "/api/admin/clients/%" PRId64 "/credit", C->a.id);
        expect(&r, 400, bad[i][1]);
        http_result_free(&r);
    }
    r = bb_api("POST", "/api/admin/clients/999999/credit",
               "{\"amount\":100,\"currency\":\"usd\",\"reason\":\"x\"}");
    expect(&r, 404, NULL);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM credit_ledger WHERE kind = 'admin' AND "
                              "note = 'goodwill -400' AND amount = -400"),
                     1);
    assert_true(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'CREDIT_REMOVED' AND "
                         "entity = 'client'") == 1);
    /* a client cannot reach the admin route */
    r = client_api(&C->a, "POST", "/api/admin/clients/1/credit",
                   "{\"amount\":100,\"currency\":\"usd\",\"reason\":\"x\"}");
    assert_true(r.status == 401 || r.status == 403);
    http_result_free(&r);
}

static void credit_pays_an_order_in_full_and_the_service_is_provisioned(void **state)
{
    (void)state;
    admin_credit(C->b.id, 2500, 200);
    char body[100];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->product);
    struct http_result r = client_api(&C->b, "POST", "/api/client/orders", body);
    expect(&r, 201, NULL);
    int64_t service = bb_int(json_object_get(r.json, "service"), "id");
    json_t *inv = json_object_get(r.json, "invoice");
    assert_string_equal(bb_str(inv, "status"), "paid");
    assert_int_equal(bb_int(inv, "credit_applied"), 2000);
    assert_int_equal(bb_int(inv, "total"), 2000); /* the items stay as issued */
    int64_t inv_id = bb_int(inv, "id");
    http_result_free(&r);
    assert_int_equal(balance(C->b.id, "usd"), 500);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE gateway = 'credit' AND "
                              "kind = 'payment' AND amount = 2000 AND invoice_id = %" PRId64,
                              inv_id),
                     1);
    /* provisioning follows as for any payment: the panel gets the server */
    const char *status = "";
    json_t *s = NULL;
    for (int i = 0; i < SETTLE_S * 10; i++) {
        json_decref(s);
        s = bb_json("GET", NULL, 200, "/api/admin/services/%" PRId64, service);
        status = bb_str(s, "status");
        if (strcmp(status, "active") == 0)
            break;
        bb_sleep_ms(100);
    }
    assert_string_equal(status, "active");
    json_decref(s);
}

static void client_applies_credit_from_the_invoice_when_auto_apply_is_off(void **state)
{
    (void)state;
    set_auto_apply(false);
    char body[100], path[100];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->product);
    admin_credit(C->c.id, 700, 200);
    struct http_result r = client_api(&C->c, "POST", "/api/client/orders", body);
    expect(&r, 201, NULL);
    int64_t inv = bb_int(json_object_get(r.json, "invoice"), "id");
    assert_string_equal(bb_str(json_object_get(r.json, "invoice"), "status"), "unpaid");
    http_result_free(&r);
    set_auto_apply(true);

    /* another client's invoice is a 404, whatever their balance */
    snprintf(path, sizeof path, "/api/client/invoices/%" PRId64 "/apply-credit", inv);
    r = client_api(&C->a, "POST", path, NULL);
    expect(&r, 404, NULL);
    http_result_free(&r);
    r = client_api(&C->c, "POST", path, NULL);
    expect(&r, 200, NULL);
    assert_string_equal(bb_str(r.json, "status"), "partially_paid");
    assert_int_equal(bb_int(r.json, "credit_applied"), 700);
    assert_int_equal(bb_int(r.json, "amount_paid"), 700);
    http_result_free(&r);
    assert_int_equal(balance(C->c.id, "usd"), 0);
    /* nothing left: 409 saying so */
    r = client_api(&C->c, "POST", path, NULL);
    expect(&r, 409, "no credit");
    http_result_free(&r);
    /* the admin applies the rest after adding it: paid */
    admin_credit(C->c.id, 5000, 200);
    r = bb_apif("POST", NULL, "/api/admin/invoices/%" PRId64 "/apply-credit", inv);
    expect(&r, 200, NULL);
    assert_string_equal(bb_str(r.json, "status"), "paid");
    assert_int_equal(bb_int(r.json, "credit_applied"), 2000);
    http_result_free(&r);
    assert_int_equal(balance(C->c.id, "usd"), 3700);
    r = bb_apif("POST", NULL, "/api/admin/invoices/%" PRId64 "/apply-credit", inv);
    expect(&r, 409, "nothing is due");
    http_result_free(&r);
}

static void add_funds_paid_by_stripe_ends_as_credit(void **state)
{
    (void)state;
    struct http_result r =
        client_api(&C->d, "POST", "/api/client/credit/add-funds", "{\"amount\":99}");
    expect(&r, 400, "amount");
    http_result_free(&r);
    r = client_api(&C->d, "POST", "/api/client/credit/add-funds", "{\"amount\":100000000}");
    expect(&r, 400, "amount");
    http_result_free(&r);
    r = client_api(&C->d, "POST", "/api/client/credit/add-funds",
                   "{\"amount\":5000,\"currency\":\"usd\"}");
    expect(&r, 201, NULL);
    int64_t inv = bb_int(r.json, "id");
    json_t *item = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(bb_str(item, "kind"), "funds");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoices WHERE kind = 'add_funds' AND id = "
                              "%" PRId64,
                              inv),
                     1);
    char *ev = paid_event(inv, 5000, 5000, "usd");
    deliver(ev, "processed");
    assert_int_equal(balance(C->d.id, "usd"), 5000);
    deliver(ev, "duplicate");
    free(ev);
    assert_int_equal(balance(C->d.id, "usd"), 5000);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM credit_ledger WHERE kind = 'add_funds' AND "
                              "client_id = %" PRId64,
                              C->d.id),
                     1);
    /* credit cannot pay an add-funds invoice */
    int64_t again = 0;
    r = client_api(&C->d, "POST", "/api/client/credit/add-funds", "{\"amount\":1000}");
    expect(&r, 201, NULL);
    again = bb_int(r.json, "id");
    http_result_free(&r);
    char path[100];
    snprintf(path, sizeof path, "/api/client/invoices/%" PRId64 "/apply-credit", again);
    r = client_api(&C->d, "POST", path, NULL);
    expect(&r, 409, "add-funds");
    http_result_free(&r);
}

static void assert_contains(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) == NULL)
        fail_msg("answer (%ld) lacks '%s':\n%s", r->status, needle, buf_cstr(&r->body));
}

static void pages_show_credit_and_their_forms_need_the_csrf_token(void **state)
{
    (void)state;
    char admin[200], csrf[80], path[100], form[300];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, admin, sizeof admin);
    browse_csrf(bb_base_url(), admin, "/admin", csrf);
    int64_t start = balance(C->d.id, "usd");
    snprintf(path, sizeof path, "/admin/clients/%" PRId64, C->d.id);
    struct http_result r = browse(bb_base_url(), "GET", path, admin, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "credit-balances");
    assert_contains(&r, "50.00 USD"); /* the add funds of the test before */
    assert_contains(&r, "id=\"credit-form\"");
    http_result_free(&r);
    snprintf(path, sizeof path, "/admin/clients/%" PRId64 "/credit", C->d.id);
    r = browse(bb_base_url(), "POST", path, admin,
               "direction=add&amount=2.50&currency=usd&reason=page+test", NULL);
    assert_int_equal(r.status, 403); /* no CSRF token */
    http_result_free(&r);
    assert_int_equal(balance(C->d.id, "usd"), start);
    snprintf(form, sizeof form,
             "csrf_token=%s&direction=add&amount=2.50&currency=usd&reason=page+test", csrf);
    r = browse(bb_base_url(), "POST", path, admin, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_int_equal(balance(C->d.id, "usd"), start + 250);
    snprintf(form, sizeof form,
             "csrf_token=%s&direction=remove&amount=999999&currency=usd&reason=too+much", csrf);
    r = browse(bb_base_url(), "POST", path, admin, form, NULL);
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    assert_null(strchr(loc, '?')); /* the reason is a flash, not in the URL (issue 17) */
    free(loc);
    struct http_result shown = browse_follow(bb_base_url(), &r, admin);
    assert_contains(&shown, "flash-error");
    http_result_free(&shown);
    http_result_free(&r);
    assert_int_equal(balance(C->d.id, "usd"), start + 250);

    /* the client's page: balance, history and the add-funds form */
    r = browse(bb_base_url(), "GET", "/client/credit", C->d.cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "52.50 USD");
    assert_contains(&r, "id=\"add-funds\"");
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=%s&amount=20.00&currency=usd", C->d.csrf);
    r = browse(bb_base_url(), "POST", "/client/credit/add-funds", C->d.cookie, form, NULL);
    assert_int_equal(r.status, 303);
    loc = http_header(&r, "Location");
    assert_non_null(loc);
    assert_non_null(strstr(loc, "/client/invoices/"));
    free(loc);
    http_result_free(&r);

    /* an invoice the credit can pay shows the button on both pages */
    int64_t inv = plain_invoice(C->d.id, 1000);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    r = browse(bb_base_url(), "GET", path, C->d.cookie, NULL, NULL);
    assert_contains(&r, "Pay 10.00 USD from your credit");
    http_result_free(&r);
    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, inv);
    r = browse(bb_base_url(), "GET", path, admin, NULL, NULL);
    assert_contains(&r, "Apply credit (10.00 USD)");
    http_result_free(&r);
    /* another client cannot use the button on it */
    snprintf(path, sizeof path, "/client/invoices/%" PRId64 "/apply-credit", inv);
    snprintf(form, sizeof form, "csrf_token=%s", C->a.csrf);
    r = browse(bb_base_url(), "POST", path, C->a.cookie, form, NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=%s", C->d.csrf);
    r = browse(bb_base_url(), "POST", path, C->d.cookie, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    json_t *j = invoice(inv);
    assert_string_equal(bb_str(j, "status"), "paid");
    json_decref(j);
    assert_int_equal(balance(C->d.id, "usd"), start + 250 - 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overpayment_by_webhook_ends_as_credit_and_replay_adds_nothing),
        cmocka_unit_test(overpayment_in_another_currency_stays_a_mismatch),
        cmocka_unit_test(admin_adds_and_removes_credit_with_a_reason),
        cmocka_unit_test(credit_pays_an_order_in_full_and_the_service_is_provisioned),
        cmocka_unit_test(client_applies_credit_from_the_invoice_when_auto_apply_is_off),
        cmocka_unit_test(add_funds_paid_by_stripe_ends_as_credit),
        cmocka_unit_test(pages_show_credit_and_their_forms_need_the_csrf_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
