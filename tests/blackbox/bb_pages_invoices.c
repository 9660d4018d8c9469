/*
 * bb_pages_invoices.c — the dashboard and the invoice pages through the real
 * binary, as a browser uses them: every route closed without a session; the
 * dashboard's figures (revenue of the month, unpaid, overdue, failed jobs)
 * after payments made through the API, and its inline SVG chart with a bar
 * for today; the invoice list with its status filter and keyset paging; one
 * invoice with items, totals and transactions; a manual payment through the
 * form (seen by the API, audited), refused without changing anything for a
 * bad or too large amount or a missing CSRF token; cancel; a new invoice
 * through the form; stored markup rendered as text.
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
#include "core/str.h"
#include "core/utc.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5e1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "invoices-admin@example.com"
#define ADMIN_PASSWORD "Invoices-Admin-Password-1"

struct ctx {
    char cookie[160]; /* "lumi_session=…" of the logged-in admin */
    int64_t client_id;
    int64_t partial; /* 50.00 usd due 2099, 12.50 paid through the API */
    int64_t overdue; /* 7.00 usd due 2020, nothing paid */
    char today[11];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "pages-invoices-test");
    bb_serve();
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    snprintf(C->today, sizeof C->today, "%.10s", now);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    free(C);
    return status == 0 ? 0 : -1;
}

static struct http_result as_admin(const char *method, const char *path, const char *form)
{
    return browse(bb_base_url(), method, path, C->cookie, form, NULL);
}

/* GET path as the admin; fails unless it answers 200. Caller frees. */
static struct http_result page(const char *path)
{
    struct http_result r = as_admin("GET", path, NULL);
    if (r.status != 200)
        fail_msg("GET %s answered %ld: %s", path, r.status, buf_cstr(&r.body));
    return r;
}

static void csrf_of(const char *path, char out[80])
{
    browse_csrf(bb_base_url(), C->cookie, path, out);
}

/* The text of body from `start` up to the next `end` (copied into out); fails when absent. */
static void section(const char *body, const char *start, const char *end, char *out, size_t sz)
{
    const char *a = strstr(body, start);
    if (a == NULL)
        fail_msg("'%s' not on the page", start);
    const char *b = strstr(a, end);
    size_t n = b != NULL ? (size_t)(b - a) : strlen(a);
    if (n >= sz)
        n = sz - 1;
    memcpy(out, a, n);
    out[n] = '\0';
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected '%s' in:\n%.4000s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        fail_msg("did not expect '%s' in:\n%.4000s", needle, hay);
}

static void assert_location(const struct http_result *r, const char *prefix)
{
    char *loc = http_header(r, "Location");
    if (loc == NULL || !str_starts_with(loc, prefix))
        fail_msg("Location is '%s', expected it to start with '%s'", loc ? loc : "(none)", prefix);
    free(loc);
}

static int64_t create_invoice(const char *currency, const char *due, const char *description,
                              int64_t unit_amount)
{
    char body[800];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"%s\",\"due_date\":\"%s\","
             "\"items\":[{\"description\":\"%s\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             C->client_id, currency, due, description, unit_amount);
    struct http_result r = bb_api("POST", "/api/admin/invoices", body);
    if (r.status != 201)
        fail_msg("create invoice: %ld %s", r.status, buf_cstr(&r.body));
    int64_t id = bb_int(r.json, "id");
    http_result_free(&r);
    return id;
}

/* The invoice as the API answers it (caller decrefs). */
static json_t *api_invoice(int64_t id)
{
    return bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, id);
}

static void assert_invoice(int64_t id, const char *status, int64_t paid, size_t transactions)
{
    json_t *inv = api_invoice(id);
    assert_string_equal(json_string_value(json_object_get(inv, "status")), status);
    if (bb_int(inv, "amount_paid") != paid)
        fail_msg("amount_paid %" PRId64 ", expected %" PRId64, bb_int(inv, "amount_paid"), paid);
    assert_int_equal(json_array_size(json_object_get(inv, "transactions")), transactions);
    json_decref(inv);
}

static size_t api_invoice_count(void)
{
    struct http_result r = bb_api("GET", "/api/admin/invoices?limit=200", NULL);
    assert_int_equal(r.status, 200);
    size_t n = json_array_size(json_object_get(r.json, "data"));
    http_result_free(&r);
    return n;
}

static size_t audit_count(const char *action, int64_t invoice_id)
{
    char path[200];
    snprintf(path, sizeof path, "/api/admin/audit-logs?action=%s&entity=invoice&entity_id=%" PRId64,
             action, invoice_id);
    struct http_result r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    size_t n = json_array_size(json_object_get(r.json, "data"));
    http_result_free(&r);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

static void every_route_redirects_to_login_without_a_session(void **state)
{
    (void)state;
    static const char *const gets[] = {"/admin",
                                       "/admin/invoices",
                                       "/admin/invoices?status=paid",
                                       "/admin/invoices/new",
                                       "/admin/invoices/1",
                                       NULL};
    static const char *const posts[] = {"/admin/invoices", "/admin/invoices/1/payments",
                                        "/admin/invoices/1/cancel", NULL};
    for (int bogus = 0; bogus < 2; bogus++) {
        const char *cookie = bogus ? "lumi_session=not-a-real-session" : NULL;
        for (size_t i = 0; gets[i] != NULL; i++) {
            struct http_result r = browse(bb_base_url(), "GET", gets[i], cookie, NULL, NULL);
            if (r.status != 303)
                fail_msg("GET %s answered %ld without a session", gets[i], r.status);
            assert_location(&r, "/admin/login");
            assert_lacks(buf_cstr(&r.body), "<table");
            http_result_free(&r);
        }
        for (size_t i = 0; posts[i] != NULL; i++) {
            struct http_result r = browse(bb_base_url(), "POST", posts[i], cookie,
                                          "amount=1.00&reference=x&client_id=1&currency=usd"
                                          "&description_1=x&unit_amount_1=1",
                                          NULL);
            if (r.status != 303)
                fail_msg("POST %s answered %ld without a session", posts[i], r.status);
            assert_location(&r, "/admin/login");
            http_result_free(&r);
        }
    }
    assert_int_equal(api_invoice_count(), 0);

    /* Now log in for the tests that follow, and make a client. */
    long st = browse_login(bb_base_url(), "admin", ADMIN_EMAIL, ADMIN_PASSWORD, C->cookie,
                           sizeof C->cookie);
    assert_int_equal(st, 303);
    struct http_result c = bb_api("POST", "/api/admin/clients",
                                  "{\"email\":\"ada@example.com\",\"first_name\":\"Ada\","
                                  "\"last_name\":\"Lovelace\"}");
    if (c.status != 201)
        fail_msg("client: %ld %s", c.status, buf_cstr(&c.body));
    C->client_id = bb_int(c.json, "id");
    http_result_free(&c);
}

static void dashboard_shows_revenue_unpaid_overdue_and_the_chart(void **state)
{
    (void)state;
    char tile[2000], want[200];
    /* Empty installation: no figures, no chart, a sentence instead. */
    struct http_result r = page("/admin");
    const char *html = buf_cstr(&r.body);
    section(html, "id=\"tile-revenue\"", "</section>", tile, sizeof tile);
    assert_lacks(tile, "USD");
    assert_contains(html, "id=\"no-payments\"");
    assert_lacks(html, "<svg");
    http_result_free(&r);

    C->partial = create_invoice("usd", "2099-01-01", "Hosting", 5000);
    C->overdue = create_invoice("usd", "2020-01-01", "Old domain", 700);
    char path[120];
    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/payments", C->partial);
    r = bb_api("POST", path, "{\"amount\":1250,\"reference\":\"bank-1\"}");
    if (r.status != 200)
        fail_msg("manual payment: %ld %s", r.status, buf_cstr(&r.body));
    http_result_free(&r);

    r = page("/admin");
    html = buf_cstr(&r.body);
    section(html, "id=\"tile-revenue\"", "</section>", tile, sizeof tile);
    assert_contains(tile, "12.50 USD");
    /* Unpaid: 37.50 still due on the partly paid one plus 7.00; overdue: only the 7.00. */
    section(html, "id=\"tile-unpaid\"", "</section>", tile, sizeof tile);
    assert_contains(tile, "44.50 USD");
    assert_contains(tile, "(2 invoices)");
    section(html, "id=\"tile-overdue\"", "</section>", tile, sizeof tile);
    assert_contains(tile, "7.00 USD");
    assert_lacks(tile, "44.50");
    assert_contains(tile, "(1 invoice)");
    section(html, "id=\"tile-failed-jobs\"", "</section>", tile, sizeof tile);
    assert_contains(tile, ">0</a>");

    /* The chart: inline SVG, 30 day slots, today's bar with its tooltip, no inline style. */
    char chart[40000];
    section(html, "<figure class=\"panel chart\" id=\"chart-USD\"", "</figure>", chart,
            sizeof chart);
    assert_contains(chart, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    assert_int_equal(browse_count(chart, "<g class=\"day\">"), 30);
    assert_int_equal(browse_count(chart, "class=\"bar\""), 1);
    snprintf(want, sizeof want, "<title>%s: 12.50 USD</title>", C->today);
    assert_contains(chart, want);
    snprintf(want, sizeof want,
             "class=\"bar\" data-day=\"%s\" x=\"582\" y=\"4\" width=\"16\""
             " height=\"100\"",
             C->today);
    assert_contains(chart, want);
    assert_lacks(chart, "style=");
    assert_lacks(html, "<script>");
    assert_contains(chart, "USD: 12.50 USD in 30 days");
    http_result_free(&r);
}

static void dashboard_lists_failed_jobs_and_services_escaped(void **state)
{
    (void)state;
    struct db *db = testdb_open(bb_db_url());
    testdb_exec(db, "INSERT INTO jobs (action, status, attempts, max_attempts, run_at, last_error,"
                    " created_at, updated_at) VALUES ('provision', 'failed', 8, 8,"
                    " '2026-11-01T00:00:00Z', '<script>alert(1)</script> panel said no',"
                    " '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z')");
    db_close(db);
    struct http_result r = page("/admin");
    const char *html = buf_cstr(&r.body);
    char tile[2000];
    section(html, "id=\"tile-failed-jobs\"", "</section>", tile, sizeof tile);
    assert_contains(tile, "href=\"/admin/jobs?status=failed\">1</a>");
    assert_contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; panel said no");
    assert_lacks(html, "<script>alert(1)");
    assert_contains(html, "services-by-status");
    assert_contains(html, "<tr class=\"status-active\">");
    http_result_free(&r);
}

static void invoice_list_filters_and_detail(void **state)
{
    (void)state;
    char path[120];
    struct http_result r = page("/admin/invoices");
    const char *html = buf_cstr(&r.body);
    assert_int_equal(browse_count(html, "<tr class=\"invoice-row\""), 2);
    assert_contains(html, "INV-000001");
    assert_contains(html, "Ada Lovelace");
    assert_contains(html, "<span class=\"badge badge-warn\">partially paid</span>");
    assert_contains(html, "<td class=\"num\">50.00 USD</td>");
    assert_contains(html, "<td class=\"num\">12.50 USD</td>");
    assert_contains(html, "2099-01-01");
    http_result_free(&r);

    r = page("/admin/invoices?status=unpaid");
    html = buf_cstr(&r.body);
    assert_int_equal(browse_count(html, "<tr class=\"invoice-row\""), 1);
    assert_contains(html, "INV-000002");
    assert_lacks(html, "INV-000001");
    assert_contains(html, "<option value=\"unpaid\" selected>");
    http_result_free(&r);

    r = as_admin("GET", "/admin/invoices?status=bogus", NULL);
    assert_int_equal(r.status, 400);
    assert_contains(buf_cstr(&r.body), "status must be one of");
    http_result_free(&r);
    r = as_admin("GET", "/admin/invoices?cursor=abc", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);

    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, C->partial);
    r = page(path);
    html = buf_cstr(&r.body);
    assert_contains(html, "<td class=\"description\">Hosting</td>");
    assert_contains(html, "<td class=\"num total\">50.00 USD</td>");
    assert_contains(html, "<td class=\"num amount-paid\">12.50 USD</td>");
    assert_contains(html, "<td class=\"num amount-due\">37.50 USD</td>");
    /* The transaction with its gateway and reference. */
    assert_contains(html, "<td>manual</td><td class=\"mono\">bank-1</td>"
                          "<td class=\"num\">12.50 USD</td>");
    assert_contains(html, "action=\"/admin/invoices/");
    assert_contains(html, "name=\"amount\" value=\"37.50\"");
    /* Something is paid: it cannot be cancelled. */
    assert_lacks(html, "/cancel\"");
    http_result_free(&r);

    r = as_admin("GET", "/admin/invoices/999999", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = as_admin("GET", "/admin/invoices/abc", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

static void manual_payment_form_records_the_payment(void **state)
{
    (void)state;
    char path[120], post[160], form[400], csrf[80];
    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, C->partial);
    snprintf(post, sizeof post, "/admin/invoices/%" PRId64 "/payments", C->partial);
    csrf_of(path, csrf);

    /* Not a number, too many decimals, zero, more than due: 4xx, nothing changes. */
    static const struct {
        const char *amount;
        long status;
        const char *message;
    } bad[] = {{"abc", 400, "field &#39;amount&#39;"},
               {"1.234", 400, "field &#39;amount&#39;"},
               {"0", 400, "more than 0"},
               {"100.00", 409, "still due"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(form, sizeof form, "csrf_token=%s&amount=%s&reference=wire-7", csrf,
                 bad[i].amount);
        struct http_result r = as_admin("POST", post, form);
        if (r.status != bad[i].status)
            fail_msg("amount %s answered %ld", bad[i].amount, r.status);
        assert_contains(buf_cstr(&r.body), "flash-error");
        assert_contains(buf_cstr(&r.body), bad[i].message);
        /* What was typed stays in the form. */
        char typed[80];
        snprintf(typed, sizeof typed, "name=\"amount\" value=\"%s\"", bad[i].amount);
        assert_contains(buf_cstr(&r.body), typed);
        http_result_free(&r);
        assert_invoice(C->partial, "partially_paid", 1250, 1);
    }

    /* Without the CSRF token: refused. */
    struct http_result r = as_admin("POST", post, "amount=37.50&reference=wire-7");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_invoice(C->partial, "partially_paid", 1250, 1);
    assert_int_equal(audit_count("PAYMENT_RECEIVED", C->partial), 1);

    snprintf(form, sizeof form, "csrf_token=%s&amount=37.50&reference=wire-7", csrf);
    r = as_admin("POST", post, form);
    assert_int_equal(r.status, 303);
    char want[160];
    snprintf(want, sizeof want, "/admin/invoices/%" PRId64, C->partial);
    assert_location(&r, want);
    /* The page after the redirect: the flash, the new transaction, no payment form any more. */
    struct http_result shown = browse_follow(bb_base_url(), &r, C->cookie);
    http_result_free(&r);
    assert_invoice(C->partial, "paid", 5000, 2);
    assert_int_equal(audit_count("PAYMENT_RECEIVED", C->partial), 2);
    assert_int_equal(audit_count("INVOICE_PAID", C->partial), 1);

    r = shown;
    assert_contains(buf_cstr(&r.body), "<div class=\"flash flash-ok\">Payment of 37.50 USD recorded");
    assert_contains(buf_cstr(&r.body), "<span class=\"badge badge-ok\">paid</span>");
    assert_contains(buf_cstr(&r.body), "wire-7");
    assert_lacks(buf_cstr(&r.body), "id=\"manual-payment\"");
    http_result_free(&r);

    /* Paying a paid invoice: 409, nothing changes. */
    snprintf(form, sizeof form, "csrf_token=%s&amount=1.00&reference=wire-8", csrf);
    r = as_admin("POST", post, form);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
    assert_invoice(C->partial, "paid", 5000, 2);

    r = page("/admin");
    char tile[2000];
    section(buf_cstr(&r.body), "id=\"tile-revenue\"", "</section>", tile, sizeof tile);
    assert_contains(tile, "50.00 USD");
    http_result_free(&r);
}

static void cancel_button_cancels_an_unpaid_invoice(void **state)
{
    (void)state;
    char path[120], post[160], form[200], csrf[80];
    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, C->overdue);
    snprintf(post, sizeof post, "/admin/invoices/%" PRId64 "/cancel", C->overdue);
    struct http_result r = page(path);
    assert_contains(buf_cstr(&r.body), "data-confirm=\"Cancel invoice INV-000002?");
    http_result_free(&r);
    csrf_of(path, csrf);

    r = as_admin("POST", post, "");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_invoice(C->overdue, "unpaid", 0, 0);

    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    r = as_admin("POST", post, form);
    assert_int_equal(r.status, 303);
    assert_location(&r, path);
    http_result_free(&r);
    assert_invoice(C->overdue, "cancelled", 0, 0);
    assert_int_equal(audit_count("INVOICE_CANCELLED", C->overdue), 1);

    /* Again, and a paid invoice: 409 with the reason, nothing changes. */
    r = as_admin("POST", post, form);
    assert_int_equal(r.status, 409);
    assert_contains(buf_cstr(&r.body), "flash-error");
    http_result_free(&r);
    snprintf(post, sizeof post, "/admin/invoices/%" PRId64 "/cancel", C->partial);
    r = as_admin("POST", post, form);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
    assert_invoice(C->partial, "paid", 5000, 2);
    r = as_admin("POST", "/admin/invoices/999999/cancel", form);
    assert_int_equal(r.status, 404);
    http_result_free(&r);

    /* Nothing unpaid or overdue is left on the dashboard. */
    r = page("/admin");
    char tile[2000];
    section(buf_cstr(&r.body), "id=\"tile-overdue\"", "</section>", tile, sizeof tile);
    assert_contains(tile, "nothing overdue");
    http_result_free(&r);
}

static void new_invoice_form_creates_and_escapes(void **state)
{
    (void)state;
    char csrf[80], form[1200], client[40];
    struct http_result r = page("/admin/invoices/new");
    snprintf(client, sizeof client, "<option value=\"%" PRId64 "\"", C->client_id);
    assert_contains(buf_cstr(&r.body), client);
    assert_contains(buf_cstr(&r.body), "Ada Lovelace &lt;ada@example.com&gt;");
    assert_int_equal(browse_count(buf_cstr(&r.body), "name=\"description_"), 5);
    http_result_free(&r);
    csrf_of("/admin/invoices/new", csrf);
    size_t before = api_invoice_count();

    /* A bad unit amount: 400, the typed values kept (escaped), nothing created. */
    snprintf(form, sizeof form,
             "csrf_token=%s&client_id=%" PRId64 "&currency=usd&due_date=2026-12-24"
             "&description_1=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E&quantity_1=2"
             "&unit_amount_1=abc&description_2=&quantity_2=1&unit_amount_2=",
             csrf, C->client_id);
    r = as_admin("POST", "/admin/invoices", form);
    assert_int_equal(r.status, 400);
    assert_contains(buf_cstr(&r.body), "item 1: unit amount");
    assert_contains(buf_cstr(&r.body), "value=\"&lt;script&gt;alert(1)&lt;/script&gt;\"");
    assert_lacks(buf_cstr(&r.body), "<script>alert(1)");
    assert_contains(buf_cstr(&r.body), "name=\"unit_amount_1\" value=\"abc\"");
    http_result_free(&r);
    /* No items at all; an unknown currency. */
    snprintf(form, sizeof form, "csrf_token=%s&client_id=%" PRId64 "&currency=usd", csrf,
             C->client_id);
    r = as_admin("POST", "/admin/invoices", form);
    assert_int_equal(r.status, 400);
    assert_contains(buf_cstr(&r.body), "at least one item");
    http_result_free(&r);
    snprintf(form, sizeof form,
             "csrf_token=%s&client_id=%" PRId64 "&currency=xyz&description_1=A&unit_amount_1=1",
             csrf, C->client_id);
    r = as_admin("POST", "/admin/invoices", form);
    assert_int_equal(r.status, 400);
    assert_contains(buf_cstr(&r.body), "currency");
    http_result_free(&r);
    /* Without the CSRF token. */
    snprintf(form, sizeof form,
             "client_id=%" PRId64 "&currency=usd&description_1=A&quantity_1=1&unit_amount_1=1",
             C->client_id);
    r = as_admin("POST", "/admin/invoices", form);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(api_invoice_count(), before);

    snprintf(form, sizeof form,
             "csrf_token=%s&client_id=%" PRId64 "&currency=usd&due_date=2026-12-24"
             "&description_1=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E&quantity_1=2"
             "&unit_amount_1=9.99&description_2=Setup&quantity_2=1&unit_amount_2=5"
             "&description_3=&quantity_3=1&unit_amount_3=",
             csrf, C->client_id);
    r = as_admin("POST", "/admin/invoices", form);
    assert_int_equal(r.status, 303);
    assert_location(&r, "/admin/invoices/");
    char *loc = http_header(&r, "Location");
    int64_t id = 0;
    assert_int_equal(sscanf(loc, "/admin/invoices/%" SCNd64, &id), 1);
    free(loc);
    http_result_free(&r);
    assert_int_equal(api_invoice_count(), before + 1);

    json_t *inv = api_invoice(id);
    assert_int_equal(bb_int(inv, "total"), 2498);
    assert_string_equal(json_string_value(json_object_get(inv, "due_date")),
                        "2026-12-24T00:00:00Z");
    const json_t *items = json_object_get(inv, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "description")),
                        "<script>alert(1)</script>");
    assert_int_equal(bb_int(json_array_get(items, 0), "quantity"), 2);
    assert_int_equal(bb_int(json_array_get(items, 0), "unit_amount"), 999);
    json_decref(inv);

    /* A reference already used (on another invoice) records nothing, and says so. */
    char post[120], pay[200];
    snprintf(post, sizeof post, "/admin/invoices/%" PRId64 "/payments", id);
    snprintf(pay, sizeof pay, "csrf_token=%s&amount=5.00&reference=bank-1", csrf);
    r = as_admin("POST", post, pay);
    assert_int_equal(r.status, 303);
    char *dup = http_header(&r, "Location");
    assert_non_null(dup);
    assert_null(strchr(dup, '?'));
    free(dup);
    struct http_result shown = browse_follow(bb_base_url(), &r, C->cookie);
    assert_contains(buf_cstr(&shown.body), "flash-error");
    assert_contains(buf_cstr(&shown.body), "already recorded");
    http_result_free(&shown);
    http_result_free(&r);
    assert_invoice(id, "unpaid", 0, 0);

    /* The stored markup renders as text on the invoice page. */
    char path[80];
    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, id);
    r = page(path);
    assert_contains(buf_cstr(&r.body), "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_lacks(buf_cstr(&r.body), "<script>alert");
    assert_contains(buf_cstr(&r.body), "<td class=\"num total\">24.98 USD</td>");
    assert_contains(buf_cstr(&r.body),
                    "<td class=\"num\">9.99 USD</td><td class=\"num\">19.98 USD</td>");
    http_result_free(&r);
}

static void invoice_list_pages_by_keyset(void **state)
{
    (void)state;
    /* 3 invoices so far; 50 more make 53: a page of 50, then 3. */
    for (int i = 0; i < 50; i++)
        create_invoice("eur", "2099-01-01", "Bulk", 100);
    struct http_result r = page("/admin/invoices");
    const char *html = buf_cstr(&r.body);
    assert_int_equal(browse_count(html, "<tr class=\"invoice-row\""), 50);
    char next[200];
    assert_true(browse_attr_after(html, "<a rel=\"next\" href=\"", next, sizeof next));
    browse_unescape_url(next);
    http_result_free(&r);
    r = page(next);
    html = buf_cstr(&r.body);
    assert_int_equal(browse_count(html, "<tr class=\"invoice-row\""), 3);
    assert_contains(html, "INV-000053");
    assert_lacks(html, "INV-000001<");
    assert_lacks(html, "rel=\"next\"");
    http_result_free(&r);
    /* The filter is kept across pages (51 unpaid: the new one and the bulk). */
    r = page("/admin/invoices?status=unpaid");
    html = buf_cstr(&r.body);
    assert_true(browse_attr_after(html, "<a rel=\"next\" href=\"", next, sizeof next));
    browse_unescape_url(next);
    assert_contains(next, "status=unpaid");
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_redirects_to_login_without_a_session),
        cmocka_unit_test(dashboard_shows_revenue_unpaid_overdue_and_the_chart),
        cmocka_unit_test(dashboard_lists_failed_jobs_and_services_escaped),
        cmocka_unit_test(invoice_list_filters_and_detail),
        cmocka_unit_test(manual_payment_form_records_the_payment),
        cmocka_unit_test(cancel_button_cancels_an_unpaid_invoice),
        cmocka_unit_test(new_invoice_form_creates_and_escapes),
        cmocka_unit_test(invoice_list_pages_by_keyset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
