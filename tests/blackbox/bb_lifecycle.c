/*
 * bb_lifecycle.c — cancellation requests and upgrades/downgrades through the
 * real binary (`lumi serve`, whose worker runs the jobs, and `lumi cron`)
 * against a fake Pterodactyl, as a client uses them over the client API and
 * the client pages:
 *  - an upgrade is invoiced with the hand-computed prorated amount and is
 *    NOT applied before that invoice is paid (no package change on the fake,
 *    product unchanged); after the manual payment it is applied once: one
 *    PATCH …/build on the fake, new product and price; a replayed payment
 *    and a second delivery of the paid event queue nothing more, and a job
 *    that runs again applies nothing twice;
 *  - a downgrade runs at once, sets services.renewal_credit, and the next
 *    renewal invoice of `lumi cron` carries the "Credit from downgrade" line
 *    capped at its total;
 *  - end-of-period cancellation: pending, not executed before run_at,
 *    executed by `lumi cron` once due (dates moved with SQL), the service
 *    terminated on the fake and its unpaid renewal invoice cancelled;
 *    immediate cancellation; withdraw; a second request and a terminated
 *    service answer 409; staff reject from the queue;
 *  - another client's service answers 404 on every new route, API and page;
 *    every new form and cookie-authenticated write refuses a missing or
 *    wrong CSRF token.
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

#include "core/utc.h"
#include "fakes/fake_http.h"
#include "fakes/fake_pterodactyl.h"
#include "provisioning/services.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "7d1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_LifecycleTestKey0123456789abcdefABCDEFgh"
#define ADMIN_EMAIL "life-admin@example.com"
#define ADMIN_PASSWORD "Life-Admin-Password-1"
#define A_EMAIL "ada@example.com"
#define A_PASSWORD "Ada-Client-Password-1"
#define B_EMAIL "bob@example.com"
#define B_PASSWORD "Bob-Client-Password-1"
#define SETTLE_S 30
#define DAY 86400

#define CONFIG(mem) "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":" #mem ",\"disk\":2048}"

struct ctx {
    struct fake_ptero *ptero;
    int64_t server, a_id, b_id;
    int64_t small, medium, large; /* 5.00, 15.00, 30.00 USD a month; memory 512/1024/2048 */
    char admin[200];              /* "lumi_session=…" */
    char a[200], b[200];          /* "lumi_client_session=…" */
    char a_csrf[80], b_csrf[80];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static struct http_result page(const char *method, const char *cookie, const char *form,
                               const char *fmt, int64_t id)
{
    char path[160];
    snprintf(path, sizeof path, fmt, id);
    return browse(bb_base_url(), method, path, cookie, form, NULL);
}

/* The client API with a session cookie and (unless csrf is NULL) the X-CSRF-Token header. */
static struct http_result capi(const char *cookie, const char *csrf, const char *method,
                               const char *body, const char *fmt, int64_t id)
{
    char url[300], path[160], c[256], x[128];
    snprintf(path, sizeof path, fmt, id);
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    snprintf(c, sizeof c, "Cookie: %s", cookie);
    snprintf(x, sizeof x, "X-CSRF-Token: %s", csrf != NULL ? csrf : "");
    const char *headers[] = {c, csrf != NULL ? x : NULL, NULL};
    struct http_result r;
    if (http_request(method, url, headers, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

static void expect(struct http_result *r, long status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: want %ld, got %ld %s", what, status, r->status, buf_cstr(&r->body));
}

static void assert_contains(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) == NULL)
        fail_msg("answer (%ld) lacks '%s':\n%s", r->status, needle, buf_cstr(&r->body));
}

static int64_t product(const char *name, int64_t price, const char *config)
{
    char body[700];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"type\":\"game_server\",\"price\":%" PRId64
             ",\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"server_id\":%" PRId64
             ",\"autosetup\":\"order\",\"config\":%s}",
             name, price, C->server, config);
    return bb_create_ok("/api/admin/products", body);
}

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    testdb_exec(bb_db(), q);
}

static json_t *service_json(int64_t id)
{
    return bb_json("GET", NULL, 200, "/api/admin/services/%" PRId64, id);
}

/* Polls until the service's member key is the string want (or, want NULL, the integer n). */
static void wait_service(int64_t id, const char *key, const char *want, int64_t n)
{
    for (int i = 0; i < SETTLE_S * 10; i++) {
        json_t *s = service_json(id);
        bool ok = want != NULL ? strcmp(bb_str(s, key), want) == 0 : bb_int(s, key) == n;
        if (ok) {
            json_decref(s);
            return;
        }
        if (i == SETTLE_S * 10 - 1)
            fail_msg("service %" PRId64 " never got %s=%s/%" PRId64 ": %s", id, key,
                     want ? want : "", n, json_dumps(s, 0));
        json_decref(s);
        bb_sleep_ms(100);
    }
}

/* Orders product for client A (autosetup order) and waits until it is active. */
static int64_t active_service(int64_t client, int64_t product_id)
{
    char body[128];
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}", client,
             product_id);
    json_t *s = bb_json("POST", body, 201, "/api/admin/services");
    int64_t id = bb_int(s, "id");
    int64_t inv = bb_int(s, "invoice_id");
    json_decref(s);
    /* The first invoice is settled, as a paying client's would be. */
    sql("UPDATE invoices SET status = 'paid', amount_paid = total WHERE id = %" PRId64, inv);
    wait_service(id, "status", "active", 0);
    return id;
}

/* The remote key (the fake's external_id) of a service. */
static void remote_key(int64_t id, char *out, size_t sz)
{
    json_t *s = service_json(id);
    snprintf(out, sz, "%s", bb_str(s, "remote_key"));
    json_decref(s);
}

/* PATCH …/servers/<panel id>/build requests the fake received for the service. */
static int build_patches(int64_t service)
{
    char key[96], needle[64];
    struct fake_ptero_server srv;
    remote_key(service, key, sizeof key);
    if (fake_ptero_find_server(C->ptero, key, &srv) != 1)
        return 0;
    snprintf(needle, sizeof needle, "/servers/%" PRId64 "/build", srv.id);
    struct fake_server *f = fake_ptero_http(C->ptero);
    int n = 0;
    size_t total = fake_request_count(f);
    for (size_t i = 0; i < total; i++) {
        struct fake_recorded rec;
        if (fake_recorded(f, i, &rec) != 0)
            continue;
        if (strcmp(rec.method, "PATCH") == 0 && strstr(rec.path, needle) != NULL)
            n++;
        fake_recorded_free(&rec);
    }
    return n;
}

static int64_t panel_memory(int64_t service)
{
    char key[96];
    struct fake_ptero_server srv;
    remote_key(service, key, sizeof key);
    if (fake_ptero_find_server(C->ptero, key, &srv) != 1)
        return -1;
    return srv.memory;
}

static bool panel_has(int64_t service)
{
    char key[96];
    struct fake_ptero_server srv;
    remote_key(service, key, sizeof key);
    return fake_ptero_find_server(C->ptero, key, &srv) == 1;
}

static void run_cron(void)
{
    const char *argv[] = {"cron", NULL};
    bb_run_ok(argv, NULL);
}

/* round((new - old) × remaining / period), half away from zero, as the README states it. */
static int64_t by_hand(int64_t diff, int64_t remaining, int64_t period)
{
    int64_t num = diff * remaining;
    int64_t q = num / period, r = num % period;
    if (2 * (r < 0 ? -r : r) >= period)
        q += num < 0 ? -1 : 1;
    return q;
}

static int setup(void **state)
{
    char body[600];
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "lifecycle-test");
    bb_serve();
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    C->server = bb_create_ok("/api/admin/servers", body);
    C->small = product("Game S", 500, CONFIG(512));
    C->medium = product("Game M", 1500, CONFIG(1024));
    C->large = product("Game L", 3000, CONFIG(2048));
    /* One store group, and a price row per product for its cycle (the catalogue's own
     * forms may already write them: only missing rows are added). */
    sql("UPDATE products SET store_group = 'games'");
    sql("INSERT INTO product_prices (product_id, billing_cycle, currency, amount, setup_fee)"
        " SELECT id, billing_cycle, currency, price, setup_fee FROM products p WHERE NOT EXISTS"
        " (SELECT 1 FROM product_prices pp WHERE pp.product_id = p.id"
        " AND pp.billing_cycle = p.billing_cycle AND pp.currency = p.currency)");
    C->a_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"" A_EMAIL "\",\"password\":\"" A_PASSWORD
                                           "\",\"first_name\":\"Ada\",\"last_name\":\"L\"}");
    C->b_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"" B_EMAIL "\",\"password\":\"" B_PASSWORD
                                           "\",\"first_name\":\"Bob\",\"last_name\":\"B\"}");
    if (browse_login(bb_base_url(), "client", A_EMAIL, A_PASSWORD, C->a, sizeof C->a) != 303 ||
        browse_login(bb_base_url(), "client", B_EMAIL, B_PASSWORD, C->b, sizeof C->b) != 303)
        fail_msg("client login failed");
    browse_csrf(bb_base_url(), C->a, "/client", C->a_csrf);
    browse_csrf(bb_base_url(), C->b, "/client", C->b_csrf);
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, C->admin, sizeof C->admin);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- upgrade -------------------------------------------------------------- */

static void upgrade_is_applied_only_after_payment_and_once(void **state)
{
    (void)state;
    int64_t svc = active_service(C->a_id, C->medium);
    /* 15 days left of the period that ends at next_due_date. */
    int64_t due = utc_now() + 15 * DAY;
    char due_iso[UTC_ISO_LEN];
    assert_int_equal(utc_format(due, due_iso), 0);
    sql("UPDATE services SET next_due_date = '%s' WHERE id = %" PRId64, due_iso, svc);
    int64_t period = due - utc_add_months(due, -1);
    int64_t want = by_hand(3000 - 1500, 15 * DAY, period);
    assert_true(want == by_hand(3000 - 1500, 15 * DAY - 30, period)); /* seconds do not matter */

    struct http_result r =
        capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64 "/upgrade", svc);
    expect(&r, 200, "options");
    json_t *opts = json_object_get(r.json, "options");
    assert_int_equal(json_array_size(opts), 2);
    size_t i;
    json_t *o;
    int64_t offered = 0;
    json_array_foreach(opts, i, o) if (bb_int(o, "product_id") == C->large) offered =
        bb_int(o, "prorated_amount");
    if (offered != want)
        fail_msg("offered %" PRId64 ", by hand %" PRId64, offered, want);
    http_result_free(&r);

    char body[64];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->large);
    r = capi(C->a, C->a_csrf, "POST", body, "/api/client/services/%" PRId64 "/upgrade", svc);
    expect(&r, 201, "upgrade");
    json_t *change = json_object_get(r.json, "change");
    json_t *inv = json_object_get(r.json, "invoice");
    assert_string_equal(bb_str(change, "status"), "awaiting_payment");
    assert_string_equal(bb_str(change, "direction"), "upgrade");
    assert_true(bb_int(change, "prorated_amount") == want);
    assert_true(bb_int(inv, "total") == want);
    assert_string_equal(bb_str(inv, "status"), "unpaid");
    assert_non_null(strstr(bb_str(json_array_get(json_object_get(inv, "items"), 0), "description"),
                           "Upgrade Game M \xe2\x86\x92 Game L, prorated"));
    int64_t invoice = bb_int(inv, "id");
    http_result_free(&r);

    r = page("GET", C->admin, NULL, "/admin/services/%" PRId64, svc);
    assert_contains(&r, "Plan change (upgrade)");
    assert_contains(&r, "awaiting_payment");
    http_result_free(&r);

    /* A second request while one is open: 409. */
    r = capi(C->a, C->a_csrf, "POST", body, "/api/client/services/%" PRId64 "/upgrade", svc);
    expect(&r, 409, "second upgrade");
    http_result_free(&r);

    /* Unpaid: nothing reaches the panel, the record is unchanged. */
    bb_sleep_ms(1500);
    assert_int_equal(build_patches(svc), 0);
    assert_true(panel_memory(svc) == 1024);
    json_t *s = service_json(svc);
    assert_true(bb_int(s, "product_id") == C->medium);
    assert_true(bb_int(s, "recurring_amount") == 1500);
    json_decref(s);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'change_package'",
                              svc),
                     0);

    /* Paid: applied once. */
    snprintf(body, sizeof body, "{\"amount\":%" PRId64 ",\"reference\":\"bank-up-1\"}", want);
    r = bb_apif("POST", body, "/api/admin/invoices/%" PRId64 "/payments", invoice);
    if (r.status != 200 && r.status != 201)
        fail_msg("payment: %ld %s", r.status, buf_cstr(&r.body));
    http_result_free(&r);
    wait_service(svc, "product_id", NULL, C->large);
    wait_service(svc, "recurring_amount", NULL, 3000);
    assert_int_equal(build_patches(svc), 1);
    assert_true(panel_memory(svc) == 2048);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM service_changes WHERE service_id = %" PRId64
                              " AND status = 'applied'",
                              svc),
                     1);

    /* The payment replayed, and the paid event delivered again: nothing more is queued. */
    r = bb_apif("POST", body, "/api/admin/invoices/%" PRId64 "/payments", invoice);
    assert_true(r.status < 500);
    http_result_free(&r);
    struct lumi_err err;
    if (db_begin(bb_db(), &err) != 0 ||
        services_on_invoice_paid(bb_db(), &AUDIT_SYSTEM, invoice, &err) != 0 ||
        db_commit(bb_db(), &err) != 0)
        fail_msg("second delivery: %s", err.msg);
    bb_sleep_ms(1500);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'change_package'",
                              svc),
                     1);
    assert_int_equal(build_patches(svc), 1);

    /* The job runs again (a lost lease): the panel call repeats, the record does not. */
    int64_t applied = bb_audit_count("SERVICE_CHANGE_APPLIED");
    sql("UPDATE jobs SET status = 'queued', finished_at = NULL WHERE service_id = %" PRId64
        " AND action = 'change_package'",
        svc);
    for (int k = 0; k < SETTLE_S * 10 && build_patches(svc) < 2; k++)
        bb_sleep_ms(100);
    for (int k = 0;
         k < SETTLE_S * 10 && bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                                       " AND action = 'change_package' AND status = 'done'",
                                       svc) == 0;
         k++)
        bb_sleep_ms(100);
    assert_int_equal(bb_audit_count("SERVICE_CHANGE_APPLIED"), applied);
    s = service_json(svc);
    assert_true(bb_int(s, "recurring_amount") == 3000);
    json_decref(s);
    assert_int_equal(bb_count("SELECT renewal_credit FROM services WHERE id = %" PRId64, svc), 0);
    assert_true(bb_audit_count("SERVICE_CHANGE_REQUESTED") >= 1);
}

static void upgrade_page_goes_to_the_invoice_and_can_be_withdrawn(void **state)
{
    (void)state;
    int64_t svc = active_service(C->a_id, C->medium);
    struct http_result r = page("GET", C->a, NULL, "/client/services/%" PRId64 "/upgrade", svc);
    expect(&r, 200, "upgrade page");
    assert_contains(&r, "Game L");
    assert_contains(&r, "charged now (prorated)");
    assert_contains(&r, "credited to your next renewal");
    http_result_free(&r);

    char form[200];
    snprintf(form, sizeof form, "product_id=%" PRId64 "&csrf_token=%s", C->large, C->a_csrf);
    r = page("POST", C->a, form, "/client/services/%" PRId64 "/upgrade", svc);
    char *loc = http_header(&r, "Location");
    if (r.status != 303 || loc == NULL || strncmp(loc, "/client/invoices/", 17) != 0)
        fail_msg("upgrade form: %ld to %s", r.status, loc ? loc : "(none)");
    int64_t invoice = strtoll(loc + 17, NULL, 10);
    free(loc);
    http_result_free(&r);
    r = page("GET", C->a, NULL, "/client/invoices/%" PRId64, invoice);
    expect(&r, 200, "upgrade invoice page");
    assert_contains(&r, "Upgrade Game M");
    http_result_free(&r);

    r = page("GET", C->a, NULL, "/client/services/%" PRId64 "/upgrade", svc);
    assert_contains(&r, "awaiting payment");
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=%s", C->a_csrf);
    r = page("POST", C->a, form, "/client/services/%" PRId64 "/upgrade/withdraw", svc);
    expect(&r, 303, "withdraw upgrade");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                              " AND status = 'cancelled'",
                              invoice),
                     1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM service_changes WHERE service_id = %" PRId64
                              " AND status = 'cancelled'",
                              svc),
                     1);
    /* Nothing left to withdraw: a readable 409. */
    r = capi(C->a, C->a_csrf, "DELETE", NULL, "/api/client/services/%" PRId64 "/upgrade", svc);
    expect(&r, 409, "withdraw twice");
    assert_string_equal(http_error_code(&r), "conflict");
    http_result_free(&r);
    assert_true(bb_audit_count("SERVICE_CHANGE_WITHDRAWN") >= 1);
}

/* ---- downgrade ------------------------------------------------------------ */

static void downgrade_credits_the_next_renewal(void **state)
{
    (void)state;
    int64_t svc = active_service(C->a_id, C->medium);
    char body[64];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", C->small);
    struct http_result r =
        capi(C->a, C->a_csrf, "POST", body, "/api/client/services/%" PRId64 "/upgrade", svc);
    expect(&r, 201, "downgrade");
    json_t *change = json_object_get(r.json, "change");
    assert_string_equal(bb_str(change, "direction"), "downgrade");
    assert_string_equal(bb_str(change, "status"), "queued");
    assert_true(json_is_null(json_object_get(r.json, "invoice")));
    int64_t prorated = bb_int(change, "prorated_amount");
    assert_true(prorated < 0 && prorated >= -1000);
    http_result_free(&r);

    wait_service(svc, "product_id", NULL, C->small);
    wait_service(svc, "recurring_amount", NULL, 500);
    assert_true(panel_memory(svc) == 512);
    assert_int_equal(build_patches(svc), 1);
    assert_true(bb_count("SELECT renewal_credit FROM services WHERE id = %" PRId64, svc) ==
                -prorated);

    /* The next renewal (due tomorrow) takes the credit off, capped at its 5.00. */
    char due[UTC_ISO_LEN];
    assert_int_equal(utc_format(utc_now() + DAY, due), 0);
    sql("UPDATE services SET next_due_date = '%s' WHERE id = %" PRId64, due, svc);
    run_cron();
    int64_t take = -prorated < 500 ? -prorated : 500;
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoice_items WHERE service_id = %" PRId64
                              " AND description = 'Credit from downgrade' AND amount = %" PRId64,
                              svc, -take),
                     1);
    int64_t inv = bb_count("SELECT invoice_id FROM invoice_items WHERE service_id = %" PRId64
                           " AND description = 'Credit from downgrade'",
                           svc);
    json_t *invoice = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    assert_true(bb_int(invoice, "total") == 500 - take);
    assert_true(bb_int(invoice, "total") >= 0);
    json_decref(invoice);
    assert_true(bb_count("SELECT renewal_credit FROM services WHERE id = %" PRId64, svc) ==
                -prorated - take);
}

/* ---- cancellation ----------------------------------------------------------- */

static void end_of_period_cancellation_runs_at_its_time(void **state)
{
    (void)state;
    int64_t svc = active_service(C->a_id, C->medium);
    /* A renewal invoice exists (unpaid) before the request. */
    char due[UTC_ISO_LEN];
    assert_int_equal(utc_format(utc_now() + 2 * DAY, due), 0);
    sql("UPDATE services SET next_due_date = '%s' WHERE id = %" PRId64, due, svc);
    run_cron();
    int64_t renewal = bb_count("SELECT MAX(i.id) FROM invoices i JOIN invoice_items t ON "
                               "t.invoice_id = i.id WHERE t.service_id = %" PRId64
                               " AND t.kind = 'recurring' AND i.status = 'unpaid'",
                               svc);
    assert_true(renewal > 0);

    struct http_result r = capi(C->a, C->a_csrf, "POST",
                                "{\"when\":\"end_of_period\",\"reason\":\"Moving elsewhere\"}",
                                "/api/client/services/%" PRId64 "/cancel", svc);
    expect(&r, 201, "cancel at end of period");
    json_t *req = json_object_get(r.json, "request");
    assert_string_equal(bb_str(req, "status"), "pending");
    assert_string_equal(bb_str(req, "timing"), "end_of_period");
    assert_string_equal(bb_str(req, "run_at"), due);
    int64_t req_id = bb_int(req, "id");
    http_result_free(&r);

    /* A second request: 409 naming the pending one. */
    r = capi(C->a, C->a_csrf, "POST", "{\"when\":\"immediate\"}",
             "/api/client/services/%" PRId64 "/cancel", svc);
    expect(&r, 409, "second request");
    assert_contains(&r, "pending cancellation");
    http_result_free(&r);

    /* The admin sees it in the queue, API and page. */
    json_t *q = bb_json("GET", NULL, 200, "/api/admin/cancellations?status=pending");
    bool listed = false;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(q, "data"), i, row) listed |= bb_int(row, "id") == req_id;
    if (!listed)
        fail_msg("not in the queue: %s", json_dumps(q, 0));
    json_decref(q);
    r = browse(bb_base_url(), "GET", "/admin/cancellations", C->admin, NULL, NULL);
    expect(&r, 200, "queue page");
    assert_contains(&r, "Moving elsewhere");
    assert_contains(&r, A_EMAIL);
    http_result_free(&r);
    r = page("GET", C->admin, NULL, "/admin/services/%" PRId64, svc);
    expect(&r, 200, "admin service page");
    assert_contains(&r, "Cancellation requested by the client (end_of_period");
    http_result_free(&r);
    r = capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64 "/cancel", svc);
    expect(&r, 200, "pending request");
    assert_true(bb_int(json_object_get(r.json, "request"), "id") == req_id);
    http_result_free(&r);

    /* Before run_at: nothing happens. */
    run_cron();
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'terminate'",
                              svc),
                     0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM cancel_requests WHERE id = %" PRId64
                              " AND status = 'pending'",
                              req_id),
                     1);
    /* Once due: terminated on the panel, renewal invoice cancelled, request done. */
    sql("UPDATE cancel_requests SET run_at = '2020-01-01T00:00:00Z' WHERE id = %" PRId64, req_id);
    int64_t executed = bb_audit_count("CANCELLATION_EXECUTED");
    const char *argv[] = {"cron", NULL};
    struct lumi_run_result out;
    bb_run_out(argv, NULL, &out);
    assert_int_equal(out.exit_code, 0);
    if (strstr(buf_cstr(&out.out), "1 cancellation,") == NULL)
        fail_msg("cron output: %s", buf_cstr(&out.out));
    lumi_run_result_free(&out);
    wait_service(svc, "status", "terminated", 0);
    assert_false(panel_has(svc));
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                              " AND status = 'cancelled'",
                              renewal),
                     1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM cancel_requests WHERE id = %" PRId64
                              " AND status = 'done'",
                              req_id),
                     1);
    assert_int_equal(bb_audit_count("CANCELLATION_EXECUTED"), executed + 1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = "
                              "'CANCELLATION_EXECUTED' AND actor_type = 'system' AND entity_id = "
                              "'%" PRId64 "'",
                              svc),
                     1);
    run_cron();
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'terminate'",
                              svc),
                     1);
    /* A terminated service: 409. */
    r = capi(C->a, C->a_csrf, "POST", "{\"when\":\"immediate\"}",
             "/api/client/services/%" PRId64 "/cancel", svc);
    expect(&r, 409, "terminated service");
    assert_contains(&r, "only an active or suspended service");
    http_result_free(&r);
}

static void immediate_cancellation_and_withdraw(void **state)
{
    (void)state;
    int64_t now_svc = active_service(C->a_id, C->medium);
    int64_t later = active_service(C->a_id, C->medium);
    struct http_result r = capi(C->a, C->a_csrf, "POST", "{\"when\":\"immediate\"}",
                                "/api/client/services/%" PRId64 "/cancel", now_svc);
    expect(&r, 201, "immediate");
    assert_string_equal(bb_str(json_object_get(r.json, "request"), "status"), "done");
    http_result_free(&r);
    wait_service(now_svc, "status", "terminated", 0);
    assert_false(panel_has(now_svc));
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM audit_log WHERE action = "
                 "'CANCELLATION_REQUESTED' AND actor_type = 'user' AND actor_id = "
                 "'%" PRId64 "'",
                 C->a_id),
        bb_count("SELECT COUNT(*) FROM cancel_requests WHERE requested_by = %" PRId64, C->a_id));

    /* Bad input: 400 naming the field. */
    r = capi(C->a, C->a_csrf, "POST", "{\"when\":\"tomorrow\"}",
             "/api/client/services/%" PRId64 "/cancel", later);
    expect(&r, 400, "bad when");
    assert_contains(&r, "when");
    http_result_free(&r);

    /* Through the page: the form, a pending request with its date, withdrawn. */
    r = page("GET", C->a, NULL, "/client/services/%" PRId64 "/cancel", later);
    expect(&r, 200, "cancel page");
    assert_contains(&r, "Request cancellation");
    http_result_free(&r);
    char form[300];
    snprintf(form, sizeof form, "when=end_of_period&reason=Too+expensive&csrf_token=%s", C->a_csrf);
    r = page("POST", C->a, form, "/client/services/%" PRId64 "/cancel", later);
    expect(&r, 303, "cancel form");
    http_result_free(&r);
    json_t *s = service_json(later);
    char day[11];
    snprintf(day, sizeof day, "%s", bb_str(s, "next_due_date"));
    json_decref(s);
    r = page("GET", C->a, NULL, "/client/services/%" PRId64 "/cancel", later);
    assert_contains(&r, "A cancellation is pending");
    assert_contains(&r, day);
    assert_contains(&r, "Withdraw the cancellation request");
    http_result_free(&r);
    /* The same again through the form: the page with a readable 409. */
    r = page("POST", C->a, form, "/client/services/%" PRId64 "/cancel", later);
    expect(&r, 409, "second request by form");
    assert_contains(&r, "already has a pending cancellation request");
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=%s", C->a_csrf);
    r = page("POST", C->a, form, "/client/services/%" PRId64 "/cancel/withdraw", later);
    expect(&r, 303, "withdraw form");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM cancel_requests WHERE service_id = %" PRId64
                              " AND status = 'withdrawn'",
                              later),
                     1);
    r = capi(C->a, C->a_csrf, "DELETE", NULL, "/api/client/services/%" PRId64 "/cancel", later);
    expect(&r, 409, "withdraw twice");
    http_result_free(&r);

    /* Staff reject a new one from the queue. */
    r = capi(C->a, C->a_csrf, "POST", "{\"when\":\"end_of_period\"}",
             "/api/client/services/%" PRId64 "/cancel", later);
    expect(&r, 201, "again");
    int64_t req_id = bb_int(json_object_get(r.json, "request"), "id");
    http_result_free(&r);
    json_t *rej = bb_json("POST", "{\"note\":\"Call us first\"}", 200,
                          "/api/admin/cancellations/%" PRId64 "/reject", req_id);
    assert_string_equal(bb_str(json_object_get(rej, "request"), "status"), "rejected");
    json_decref(rej);
    assert_true(bb_audit_count("CANCELLATION_REJECTED") >= 1);
    assert_true(bb_audit_count("CANCELLATION_WITHDRAWN") >= 1);
    wait_service(later, "status", "active", 0);
}

/* ---- isolation and CSRF ------------------------------------------------------ */

static void another_clients_service_is_404_everywhere(void **state)
{
    (void)state;
    int64_t svc = active_service(C->a_id, C->medium);
    static const struct {
        const char *method, *path, *body;
    } api[] = {
        {"GET", "/api/client/services/%" PRId64 "/cancel", NULL},
        {"POST", "/api/client/services/%" PRId64 "/cancel", "{\"when\":\"immediate\"}"},
        {"DELETE", "/api/client/services/%" PRId64 "/cancel", NULL},
        {"GET", "/api/client/services/%" PRId64 "/upgrade", NULL},
        {"POST", "/api/client/services/%" PRId64 "/upgrade", "{\"product_id\":1}"},
        {"DELETE", "/api/client/services/%" PRId64 "/upgrade", NULL},
    };
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
        struct http_result r = capi(C->b, C->b_csrf, api[i].method, api[i].body, api[i].path, svc);
        if (r.status != 404)
            fail_msg("B %s %s: %ld %s", api[i].method, api[i].path, r.status, buf_cstr(&r.body));
        http_result_free(&r);
    }
    char form[200];
    snprintf(form, sizeof form, "when=immediate&product_id=%" PRId64 "&csrf_token=%s", C->large,
             C->b_csrf);
    static const struct {
        const char *method, *path;
    } pages[] = {
        {"GET", "/client/services/%" PRId64 "/cancel"},
        {"POST", "/client/services/%" PRId64 "/cancel"},
        {"POST", "/client/services/%" PRId64 "/cancel/withdraw"},
        {"GET", "/client/services/%" PRId64 "/upgrade"},
        {"POST", "/client/services/%" PRId64 "/upgrade"},
        {"POST", "/client/services/%" PRId64 "/upgrade/withdraw"},
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        struct http_result r =
            page(pages[i].method, C->b, strcmp(pages[i].method, "GET") == 0 ? NULL : form,
                 pages[i].path, svc);
        if (r.status != 404)
            fail_msg("B page %s %s: %ld", pages[i].method, pages[i].path, r.status);
        http_result_free(&r);
    }
    /* Nothing happened to A's service. */
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM cancel_requests WHERE service_id = %" PRId64, svc), 0);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM service_changes WHERE service_id = %" PRId64, svc), 0);
}

static void every_write_needs_the_csrf_token(void **state)
{
    (void)state;
    int64_t svc = active_service(C->a_id, C->medium);
    static const char *const bad[] = {NULL, "0000000000000000000000000000000000000000000000000000"
                                            "000000000000"};
    static const struct {
        const char *method, *path, *body;
    } api[] = {
        {"POST", "/api/client/services/%" PRId64 "/cancel", "{\"when\":\"immediate\"}"},
        {"DELETE", "/api/client/services/%" PRId64 "/cancel", NULL},
        {"POST", "/api/client/services/%" PRId64 "/upgrade", "{\"product_id\":1}"},
        {"DELETE", "/api/client/services/%" PRId64 "/upgrade", NULL},
    };
    static const char *const forms[] = {
        "/client/services/%" PRId64 "/cancel",
        "/client/services/%" PRId64 "/cancel/withdraw",
        "/client/services/%" PRId64 "/upgrade",
        "/client/services/%" PRId64 "/upgrade/withdraw",
    };
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
            struct http_result r = capi(C->a, bad[k], api[i].method, api[i].body, api[i].path, svc);
            if (r.status != 403)
                fail_msg("%s %s with csrf %s: %ld", api[i].method, api[i].path,
                         bad[k] ? "wrong" : "missing", r.status);
            http_result_free(&r);
        }
        char form[200];
        if (bad[k] != NULL)
            snprintf(form, sizeof form, "when=immediate&product_id=%" PRId64 "&csrf_token=%s",
                     C->large, bad[k]);
        else
            snprintf(form, sizeof form, "when=immediate&product_id=%" PRId64, C->large);
        for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
            struct http_result r = page("POST", C->a, form, forms[i], svc);
            if (r.status != 403)
                fail_msg("form %s with csrf %s: %ld", forms[i], bad[k] ? "wrong" : "missing",
                         r.status);
            http_result_free(&r);
        }
        struct http_result r =
            page("POST", C->admin, form, "/admin/cancellations/%" PRId64 "/reject", 1);
        if (r.status != 403)
            fail_msg("reject form with csrf %s: %ld", bad[k] ? "wrong" : "missing", r.status);
        http_result_free(&r);
    }
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM cancel_requests WHERE service_id = %" PRId64, svc), 0);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM service_changes WHERE service_id = %" PRId64, svc), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(upgrade_is_applied_only_after_payment_and_once),
        cmocka_unit_test(upgrade_page_goes_to_the_invoice_and_can_be_withdrawn),
        cmocka_unit_test(downgrade_credits_the_next_renewal),
        cmocka_unit_test(end_of_period_cancellation_runs_at_its_time),
        cmocka_unit_test(immediate_cancellation_and_withdraw),
        cmocka_unit_test(another_clients_service_is_404_everywhere),
        cmocka_unit_test(every_write_needs_the_csrf_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
