/*
 * bb_reports.c — the monthly report as an accountant reads it: a month with
 * payments in two currencies, a refund, a chargeback, taxes at two rates in
 * two countries on the invoices paid that month, a credit note and credit
 * balances gives exactly these figures in the API's JSON, the CSV export
 * (RFC 4180, header row, a quoted field) and on /admin/reports; what lies
 * just outside the month is left out; a payment made through the API today
 * shows in this month's report; a bad month is a 400 naming it.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utc.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"

#define SECRET_KEY "7b1f0b9a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1c"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery staple"

struct ctx {
    int64_t a, b;
};
static struct ctx *C;

static void exec_sql(const char *sql, int n, const char *const *params)
{
    struct lumi_err err;
    if (db_execp(bb_db(), sql, n, params, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static int64_t invoice(int64_t client, const char *currency, int64_t amount)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"%s\",\"items\":[{\"description\":"
             "\"Hosting\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             client, currency, amount);
    return bb_create_ok("/api/admin/invoices", body);
}

/* Marks an invoice paid at `at` with tax, as the payment and tax code would leave it. */
static void paid_at(int64_t id, int64_t tax, const char *at)
{
    char i[24], t[24];
    snprintf(i, sizeof i, "%" PRId64, id);
    snprintf(t, sizeof t, "%" PRId64, tax);
    const char *p[] = {i, t, at};
    exec_sql("UPDATE invoices SET tax = $2, total = subtotal + $2, amount_paid = subtotal + $2,"
             " status = 'paid', paid_at = $3 WHERE id = $1", 3, p);
}

static void tax(int64_t invoice_id, const char *name, const char *country, int64_t rate_bp,
                int64_t base, int64_t amount)
{
    char i[24], r[24], b[24], a[24];
    snprintf(i, sizeof i, "%" PRId64, invoice_id);
    snprintf(r, sizeof r, "%" PRId64, rate_bp);
    snprintf(b, sizeof b, "%" PRId64, base);
    snprintf(a, sizeof a, "%" PRId64, amount);
    const char *p[] = {i, name, country, r, b, a};
    exec_sql("INSERT INTO invoice_taxes (invoice_id, name, country, region, rate_bp, inclusive,"
             " base, amount) VALUES ($1, $2, $3, '', $4, 0, $5, $6)", 6, p);
}

static void tx(int64_t invoice_id, const char *kind, const char *ref, int64_t amount,
               const char *currency, const char *at)
{
    char i[24], a[24];
    snprintf(i, sizeof i, "%" PRId64, invoice_id);
    snprintf(a, sizeof a, "%" PRId64, amount);
    const char *p[] = {i, kind, ref, a, currency, at};
    exec_sql("INSERT INTO transactions (invoice_id, gateway, kind, gateway_ref, amount, currency,"
             " status, created_at) VALUES ($1, 'stripe', $2, $3, $4, $5, 'succeeded', $6)", 6, p);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "reports-test");
    bb_serve();
    C->a = bb_create_ok("/api/admin/clients", "{\"email\":\"a@example.com\",\"first_name\":\"A\","
                                              "\"last_name\":\"A\"}");
    C->b = bb_create_ok("/api/admin/clients", "{\"email\":\"b@example.com\",\"first_name\":\"B\","
                                              "\"last_name\":\"B\"}");

    /* March 2026: two EUR invoices paid, one USD payment, a refund, a chargeback. */
    int64_t i1 = invoice(C->a, "eur", 10000), i2 = invoice(C->b, "eur", 7000);
    int64_t i3 = invoice(C->b, "usd", 500), i4 = invoice(C->a, "eur", 4000);
    paid_at(i1, 1900, "2026-03-10T10:00:00Z");
    tax(i1, "VAT", "DE", 1900, 10000, 1900);
    paid_at(i2, 1350, "2026-03-20T09:30:00Z");
    tax(i2, "VAT", "DE", 1900, 5000, 950);
    tax(i2, "VAT, reduced", "FR", 2000, 2000, 400);
    /* paid the next month: its tax is April's */
    paid_at(i4, 760, "2026-04-01T00:00:00Z");
    tax(i4, "VAT", "DE", 1900, 4000, 760);
    tx(i1, "payment", "pi_1", 11900, "eur", "2026-03-10T10:00:00Z");
    tx(i2, "payment", "pi_2", 8350, "eur", "2026-03-20T09:30:00Z");
    tx(i3, "payment", "pi_3", 500, "usd", "2026-03-05T12:00:00Z");
    tx(i1, "refund", "re_1", 1000, "eur", "2026-03-25T08:00:00Z");
    tx(i2, "chargeback", "dp_1", 300, "eur", "2026-03-26T08:00:00Z");
    tx(i4, "payment", "pi_4", 4760, "eur", "2026-04-01T00:00:00Z");   /* April */
    tx(i4, "payment", "pi_5", 9999, "eur", "2026-02-28T23:59:59Z");   /* February */

    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, i1);
    snprintf(b, sizeof b, "%" PRId64, C->a);
    const char *p[] = {a, b};
    exec_sql("INSERT INTO credit_notes (number, invoice_id, client_id, currency, amount, tax,"
             " reason, created_at) VALUES ('CN-2026-000001', $1, $2, 'eur', 1000, 160,"
             " 'refund', '2026-03-25T08:00:00Z')", 2, p);
    snprintf(a, sizeof a, "%" PRId64, C->a);
    snprintf(b, sizeof b, "%" PRId64, C->b);
    const char *q[] = {a, b};
    exec_sql("INSERT INTO credit_balances (client_id, currency, balance, updated_at) VALUES"
             " ($1, 'eur', 2500, '2026-03-25T08:00:00Z'), ($2, 'eur', 500, '2026-03-25T08:00:00Z'),"
             " ($2, 'usd', 0, '2026-03-25T08:00:00Z')", 2, q);
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

static const json_t *currency_row(const json_t *report, const char *currency)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(report, "currencies"), i, c)
        if (strcmp(bb_str(c, "currency"), currency) == 0)
            return c;
    fail_msg("no %s row in the report", currency);
    return NULL;
}

static void the_months_figures_in_json(void **state)
{
    (void)state;
    json_t *r = bb_json("GET", NULL, 200, "/api/admin/reports?month=2026-03");
    assert_string_equal(bb_str(r, "month"), "2026-03");
    assert_string_equal(bb_str(r, "from"), "2026-03-01T00:00:00Z");
    assert_string_equal(bb_str(r, "to"), "2026-04-01T00:00:00Z");
    assert_int_equal(json_array_size(json_object_get(r, "currencies")), 2);
    const json_t *eur = currency_row(r, "eur"), *usd = currency_row(r, "usd");
    assert_int_equal(bb_int(eur, "revenue"), 20250);
    assert_int_equal(bb_int(eur, "payments"), 2);
    assert_int_equal(bb_int(eur, "refunds"), 1000);
    assert_int_equal(bb_int(eur, "refund_count"), 1);
    assert_int_equal(bb_int(eur, "chargebacks"), 300);
    assert_int_equal(bb_int(eur, "net"), 18950);
    assert_int_equal(bb_int(eur, "tax_total"), 3250);
    assert_int_equal(bb_int(eur, "credit_notes"), 1000);
    assert_int_equal(bb_int(eur, "credit_note_tax"), 160);
    assert_int_equal(bb_int(eur, "credit_note_count"), 1);
    assert_int_equal(bb_int(eur, "credit_balance"), 3000);
    assert_int_equal(bb_int(eur, "credit_clients"), 2);
    const json_t *taxes = json_object_get(eur, "taxes");
    assert_int_equal(json_array_size(taxes), 2);
    const json_t *de = json_array_get(taxes, 0), *fr = json_array_get(taxes, 1);
    assert_string_equal(bb_str(de, "country"), "DE");
    assert_int_equal(bb_int(de, "rate_bp"), 1900);
    assert_int_equal(bb_int(de, "base"), 15000);
    assert_int_equal(bb_int(de, "amount"), 2850);
    assert_int_equal(bb_int(de, "invoices"), 2);
    assert_string_equal(bb_str(fr, "name"), "VAT, reduced");
    assert_int_equal(bb_int(fr, "amount"), 400);
    assert_int_equal(bb_int(usd, "revenue"), 500);
    assert_int_equal(bb_int(usd, "net"), 500);
    assert_int_equal(bb_int(usd, "credit_balance"), 0);
    assert_int_equal(json_array_size(json_object_get(usd, "taxes")), 0);
    json_decref(r);

    /* the month before: only February's payment */
    r = bb_json("GET", NULL, 200, "/api/admin/reports?month=2026-02");
    assert_int_equal(bb_int(currency_row(r, "eur"), "revenue"), 9999);
    assert_int_equal(bb_int(currency_row(r, "eur"), "tax_total"), 0);
    json_decref(r);
}

static void the_csv_export(void **state)
{
    (void)state;
    struct http_result r = bb_api("GET", "/api/admin/reports?month=2026-03&format=csv", NULL);
    assert_int_equal(r.status, 200);
    char *ct = http_header(&r, "Content-Type"), *cd = http_header(&r, "Content-Disposition");
    assert_non_null(strstr(ct, "text/csv"));
    assert_non_null(strstr(cd, "lumi-report-2026-03.csv"));
    free(ct);
    free(cd);
    const char *want =
        "month,currency,category,name,country,region,rate_percent,base,amount,count\r\n"
        "2026-03,eur,revenue,,,,,,202.50,2\r\n"
        "2026-03,eur,refunds,,,,,,10.00,1\r\n"
        "2026-03,eur,chargebacks,,,,,,3.00,\r\n"
        "2026-03,eur,net,,,,,,189.50,\r\n"
        "2026-03,eur,tax,VAT,DE,,19.00,150.00,28.50,2\r\n"
        "2026-03,eur,tax,\"VAT, reduced\",FR,,20.00,20.00,4.00,1\r\n"
        "2026-03,eur,tax_total,,,,,,32.50,\r\n"
        "2026-03,eur,credit_notes,,,,,,10.00,1\r\n"
        "2026-03,eur,credit_balance,,,,,,30.00,2\r\n"
        "2026-03,usd,revenue,,,,,,5.00,1\r\n"
        "2026-03,usd,refunds,,,,,,0.00,0\r\n"
        "2026-03,usd,chargebacks,,,,,,0.00,\r\n"
        "2026-03,usd,net,,,,,,5.00,\r\n"
        "2026-03,usd,tax_total,,,,,,0.00,\r\n"
        "2026-03,usd,credit_notes,,,,,,0.00,0\r\n"
        "2026-03,usd,credit_balance,,,,,,0.00,0\r\n";
    assert_string_equal(buf_cstr(&r.body), want);
    http_result_free(&r);
}

static void the_page_and_its_csv(void **state)
{
    (void)state;
    char cookie[400], url[256];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie);
    char hdr[460];
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    const char *headers[] = {hdr, NULL};
    struct http_result r;
    snprintf(url, sizeof url, "%s/admin/reports?month=2026-03", bb_base_url());
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    const char *page = buf_cstr(&r.body);
    assert_non_null(strstr(page, "href=\"/admin/reports\""));          /* the nav entry */
    assert_non_null(strstr(page, "202.50 EUR"));
    assert_non_null(strstr(page, "189.50 EUR"));
    assert_non_null(strstr(page, "19.00 %"));
    assert_non_null(strstr(page, "VAT, reduced"));
    assert_non_null(strstr(page, "5.00 USD"));
    assert_non_null(strstr(page, "format=csv"));
    http_result_free(&r);

    snprintf(url, sizeof url, "%s/admin/reports?month=2026-03&format=csv", bb_base_url());
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "2026-03,eur,revenue,,,,,,202.50,2\r\n"));
    http_result_free(&r);

    snprintf(url, sizeof url, "%s/admin/reports?month=2026-13", bb_base_url());
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
}

static void a_payment_today_is_in_this_months_report(void **state)
{
    (void)state;
    int64_t inv = invoice(C->a, "gbp", 4200);
    json_decref(bb_json("POST", "{\"amount\":4200,\"reference\":\"bank-1\"}", 200,
                        "/api/admin/invoices/%" PRId64 "/payments", inv));
    json_t *r = bb_json("GET", NULL, 200, "/api/admin/reports");
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    now[7] = '\0';
    assert_string_equal(bb_str(r, "month"), now);
    assert_int_equal(bb_int(currency_row(r, "gbp"), "revenue"), 4200);
    json_decref(r);
}

static void a_bad_month_is_refused(void **state)
{
    (void)state;
    static const char *const BAD[] = {"2026-3", "2026-00", "1999-12", "march", "2026-03-01",
                                      "2026/03"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        struct http_result r = bb_apif("GET", NULL, "/api/admin/reports?month=%s", BAD[i]);
        assert_int_equal(r.status, 400);
        assert_string_equal(http_error_code(&r), "invalid_request");
        assert_non_null(strstr(buf_cstr(&r.body), "month"));
        http_result_free(&r);
    }
    struct http_result r = bb_api("GET", "/api/admin/reports?format=xml", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_months_figures_in_json),
        cmocka_unit_test(the_csv_export),
        cmocka_unit_test(the_page_and_its_csv),
        cmocka_unit_test(a_payment_today_is_in_this_months_report),
        cmocka_unit_test(a_bad_month_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
