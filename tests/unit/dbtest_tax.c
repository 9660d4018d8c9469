/*
 * dbtest_tax.c — the tax rule with worked examples and exact minor-unit
 * results (tax_compute), then the same rule applied to invoices made through
 * invoices_create: invoice_taxes rows, invoices.tax / tax_note / total and
 * the invoice JSON. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "billing/invoices.h"
#include "billing/tax.h"
#include "support/testdb.h"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

static const struct tax_rule DE19 = {1, "VAT 19%", "DE", "", 1900, false};
static const struct tax_rule GB20 = {2, "VAT 20%", "GB", "", 2000, true};
static const struct tax_rule FR20 = {3, "TVA 20%", "FR", "", 2000, false};
static const struct tax_rule CA5 = {4, "GST 5%", "CA", "", 500, false};
static const struct tax_rule ON = {5, "HST 13%", "CA", "ON", 1300, false};
static const struct tax_rule JP10 = {6, "Consumption tax 10%", "JP", "", 1000, false};
static const struct tax_rule JP10I = {7, "Consumption tax 10% incl.", "JP", "", 1000, true};

static void compute(const struct tax_line *lines, size_t n, const struct tax_buyer *b,
                    const char *seller, const struct tax_rule *rules, size_t nrules,
                    struct tax_result *t)
{
    struct lumi_err err = {0};
    if (tax_compute(lines, n, b, seller, true, rules, nrules, t, &err) != 0)
        fail_msg("tax_compute: %s", err.msg);
}

/* 10.00 + 25.50 + 3.33 = 38.83 EUR; 19 % of the sum = 7.3777 → 7.38. */
static void exclusive_19_percent_on_the_sum_of_three_lines(void **state)
{
    (void)state;
    struct tax_line l[] = {{1000, true}, {2550, true}, {333, true}};
    struct tax_buyer b = {"DE", "", "", false};
    struct tax_result t;
    struct tax_rule rules[] = {FR20, DE19};
    compute(l, 3, &b, "DE", rules, 2, &t);
    assert_ptr_equal(t.rule, &rules[1]);
    assert_int_equal(t.subtotal, 3883);
    assert_int_equal(t.base, 3883);
    assert_int_equal(t.tax, 738);
    assert_int_equal(t.total, 4621);
    assert_string_equal(t.note, "");
    /* 3 × 12.34 = 37.02: 19 % of the sum is 7.0338 → 7.03, where per line (2.3446 → 2.34) it
     * would be 7.02: the rule taxes the sum. */
    struct tax_line same[] = {{1234, true}, {1234, true}, {1234, true}};
    compute(same, 3, &b, "DE", rules, 2, &t);
    assert_int_equal(t.tax, 703);
    assert_int_equal(t.total, 4405);
}

/* GBP 11.99 with 20 % inside: net = round(1199 / 1.2) = 999.17 → 999, tax 200; total stays 1199. */
static void inclusive_20_percent_keeps_the_gross(void **state)
{
    (void)state;
    struct tax_line l[] = {{1199, true}};
    struct tax_buyer b = {"GB", "", "", false};
    struct tax_result t;
    compute(l, 1, &b, "GB", &GB20, 1, &t);
    assert_int_equal(t.tax, 200);
    assert_int_equal(t.base, 999);
    assert_int_equal(t.total, 1199);
    assert_int_equal(t.subtotal, 1199);
}

/* A French company with a VAT id buying from Germany: 0 % and the note, even with a FR rule. */
static void eu_reverse_charge_is_zero_with_the_note(void **state)
{
    (void)state;
    struct tax_line l[] = {{10000, true}};
    struct tax_buyer b = {"FR", "", "FR40303265045", false};
    struct tax_result t;
    struct tax_rule rules[] = {FR20, DE19};
    compute(l, 1, &b, "DE", rules, 2, &t);
    assert_true(t.reverse_charge);
    assert_int_equal(t.tax, 0);
    assert_int_equal(t.total, 10000);
    assert_int_equal(t.base, 10000);
    assert_string_equal(t.note, TAX_NOTE_REVERSE_CHARGE);
    /* Without a tax id (a consumer), or in the seller's own country, VAT applies. */
    b.tax_id = "";
    compute(l, 1, &b, "DE", rules, 2, &t);
    assert_false(t.reverse_charge);
    assert_int_equal(t.tax, 2000);
    struct tax_buyer de = {"DE", "", "DE123456789", false};
    compute(l, 1, &de, "DE", rules, 2, &t);
    assert_false(t.reverse_charge);
    assert_int_equal(t.tax, 1900);
    /* Outside the EU (GB), or with the setting off, no reverse charge. */
    struct tax_buyer gb = {"GB", "", "GB123", false};
    compute(l, 1, &gb, "DE", &GB20, 1, &t);
    assert_false(t.reverse_charge);
    assert_int_equal(t.tax, 1667); /* inclusive: 10000 − round(10000 / 1.2 = 8333.33) */
    b.tax_id = "FR40303265045";
    struct lumi_err err;
    assert_int_equal(tax_compute(l, 1, &b, "DE", false, rules, 2, &t, &err), 0);
    assert_false(t.reverse_charge);
    assert_int_equal(t.tax, 2000);
    /* An unknown seller country (company.country unset): no reverse charge. */
    compute(l, 1, &b, "", rules, 2, &t);
    assert_false(t.reverse_charge);
    assert_int_equal(t.tax, 2000);
}

static void exempt_buyer_pays_nothing(void **state)
{
    (void)state;
    struct tax_line l[] = {{5000, true}, {700, true}};
    struct tax_buyer b = {"DE", "", "", true};
    struct tax_result t;
    compute(l, 2, &b, "DE", &DE19, 1, &t);
    assert_int_equal(t.tax, 0);
    assert_int_equal(t.total, 5700);
    assert_null(t.rule);
    assert_string_equal(t.note, TAX_NOTE_EXEMPT);
}

/* Ontario: the region's HST beats Canada's GST; Quebec (no rule of its own) gets the country's. */
static void region_rule_beats_the_country_rule(void **state)
{
    (void)state;
    struct tax_line l[] = {{10050, true}};
    struct tax_rule rules[] = {CA5, ON};
    struct tax_buyer on = {"CA", "ON", "", false};
    struct tax_result t;
    compute(l, 1, &on, "CA", rules, 2, &t);
    assert_ptr_equal(t.rule, &rules[1]);
    assert_int_equal(t.tax, 1307); /* 1306.5 rounds away from zero */
    assert_int_equal(t.total, 11357);
    struct tax_buyer qc = {"CA", "QC", "", false};
    compute(l, 1, &qc, "CA", rules, 2, &t);
    assert_ptr_equal(t.rule, &rules[0]);
    assert_int_equal(t.tax, 503); /* 502.5 → 503 */
    /* No rule for the buyer's country: no tax. */
    struct tax_buyer us = {"US", "CA", "", false};
    compute(l, 1, &us, "CA", rules, 2, &t);
    assert_null(t.rule);
    assert_int_equal(t.tax, 0);
    assert_int_equal(t.total, 10050);
}

/* JPY has no minor unit: ¥1,234 + ¥567 = ¥1,801, 10 % = 180.1 → ¥180; ¥1,100 inclusive → ¥100. */
static void jpy_without_minor_unit(void **state)
{
    (void)state;
    struct tax_line l[] = {{1234, true}, {567, true}};
    struct tax_buyer b = {"JP", "", "", false};
    struct tax_result t;
    compute(l, 2, &b, "JP", &JP10, 1, &t);
    assert_int_equal(t.tax, 180);
    assert_int_equal(t.total, 1981);
    struct tax_line g[] = {{1100, true}};
    compute(g, 1, &b, "JP", &JP10I, 1, &t);
    assert_int_equal(t.tax, 100);
    assert_int_equal(t.base, 1000);
    assert_int_equal(t.total, 1100);
    /* ¥15 at 10 % = 1.5 → ¥2. */
    struct tax_line h[] = {{15, true}};
    compute(h, 1, &b, "JP", &JP10, 1, &t);
    assert_int_equal(t.tax, 2);
}

/* Exactly .5 rounds away from zero, both signs; anything below .5 rounds toward zero. */
static void rounding_half_away_from_zero_both_signs(void **state)
{
    (void)state;
    struct lumi_err err;
    int64_t v = 0;
    assert_int_equal(tax_div_round(50, 100, &v, &err), 0);
    assert_true(v == 1);
    assert_int_equal(tax_div_round(-50, 100, &v, &err), 0);
    assert_true(v == -1);
    assert_int_equal(tax_div_round(150, 100, &v, &err), 0);
    assert_true(v == 2);
    assert_int_equal(tax_div_round(-150, 100, &v, &err), 0);
    assert_true(v == -2);
    assert_int_equal(tax_div_round(49, 100, &v, &err), 0);
    assert_true(v == 0);
    assert_int_equal(tax_div_round(-49, 100, &v, &err), 0);
    assert_true(v == 0);
    assert_int_equal(tax_div_round(-251, 100, &v, &err), 0);
    assert_true(v == -3);
    /* 0.50 at 19 % = 9.5 cents → 10; 0.49 → 9.31 → 9. */
    struct tax_line a[] = {{50, true}};
    struct tax_buyer b = {"DE", "", "", false};
    struct tax_result t;
    compute(a, 1, &b, "DE", &DE19, 1, &t);
    assert_int_equal(t.tax, 10);
    struct tax_line c[] = {{49, true}};
    compute(c, 1, &b, "DE", &DE19, 1, &t);
    assert_int_equal(t.tax, 9);
}

/* 100.00 − 25.00 discount = 75.00 taxable at 19 % = 14.25; an untaxed line stays out of the base.
 */
static void discount_line_reduces_the_base(void **state)
{
    (void)state;
    struct tax_line l[] = {{10000, true}, {-2500, true}, {1000, false}};
    struct tax_buyer b = {"DE", "", "", false};
    struct tax_result t;
    compute(l, 3, &b, "DE", &DE19, 1, &t);
    assert_int_equal(t.subtotal, 8500);
    assert_int_equal(t.base, 7500);
    assert_int_equal(t.tax, 1425);
    assert_int_equal(t.total, 9925);
    /* A discount larger than the taxed lines taxes nothing (never a negative tax). */
    struct tax_line m[] = {{1000, true}, {-3000, true}, {5000, false}};
    compute(m, 3, &b, "DE", &DE19, 1, &t);
    assert_int_equal(t.base, 0);
    assert_int_equal(t.tax, 0);
    assert_int_equal(t.total, 3000);
}

static void overflow_is_refused(void **state)
{
    (void)state;
    struct lumi_err err = {0};
    struct tax_line l[] = {{INT64_MAX, true}};
    struct tax_buyer b = {"DE", "", "", false};
    struct tax_result t;
    assert_int_equal(tax_compute(l, 1, &b, "DE", true, &DE19, 1, &t, &err), LUMI_EINVAL);
    struct tax_line two[] = {{INT64_MAX, true}, {1, true}};
    assert_int_equal(tax_compute(two, 2, &b, "DE", true, &DE19, 1, &t, &err), LUMI_EINVAL);
    /* Inclusive at the top of int64 still computes exactly (the product is 128-bit). */
    struct tax_line big[] = {{INT64_MAX, true}};
    assert_int_equal(tax_compute(big, 1, &b, "GB", true, &GB20, 1, &t, &err), 0);
    struct tax_buyer gb = {"GB", "", "", false};
    assert_int_equal(tax_compute(big, 1, &gb, "GB", true, &GB20, 1, &t, &err), 0);
    assert_true(t.total == INT64_MAX);
    assert_true(t.base + t.tax == INT64_MAX);
}

/* ---- applied to invoices ------------------------------------------------------ */

struct fixture {
    char *url;
    struct db *db;
    int64_t client;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "buyer@example.com");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t add_invoice(struct fixture *f, const char *currency,
                           const struct invoice_item_in *items, size_t n)
{
    struct lumi_err err;
    int64_t id = 0;
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ACTOR, f->client, currency, "2027-01-10", items, n, &id, &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

static void add_rule(struct fixture *f, const char *name, const char *country, const char *region,
                     const char *rate, const char *inclusive)
{
    const char *p[] = {name, country, region, rate, inclusive};
    testdb_execp(f->db,
                 "INSERT INTO tax_rules (name, country, region, rate_bp, inclusive, active,"
                 " created_at, updated_at) VALUES ($1, $2, $3, CAST($4 AS INTEGER),"
                 " CAST($5 AS INTEGER), 1, '2027-01-01T00:00:00Z', '2027-01-01T00:00:00Z')",
                 5, p);
}

static void client_at(struct fixture *f, const char *country, const char *region, int exempt)
{
    char id[24], ex[4];
    snprintf(id, sizeof id, "%" PRId64, f->client);
    snprintf(ex, sizeof ex, "%d", exempt);
    const char *p[] = {country, region, ex, id};
    testdb_execp(f->db,
                 "UPDATE users SET country = $1, region = $2, tax_exempt = CAST($3 AS INTEGER)"
                 " WHERE id = CAST($4 AS BIGINT)",
                 4, p);
}

static void invoice_stores_the_tax_and_answers_it(void **state)
{
    struct fixture *f = *state;
    add_rule(f, "VAT 19%", "DE", "", "1900", "0");
    add_rule(f, "Inactive", "DE", "", "5000", "0");
    testdb_exec(f->db, "UPDATE tax_rules SET active = 0 WHERE name = 'Inactive'");
    client_at(f, "DE", "", 0);
    struct invoice_item_in items[] = {{"Hosting", 1, 1000, 0, "recurring", NULL, NULL},
                                      {"Setup", 1, 2550, 0, "setup", NULL, NULL},
                                      {"Extra IP", 1, 333, 0, "other", NULL, NULL}};
    int64_t id = add_invoice(f, "eur", items, 3);
    struct lumi_err err;
    json_t *inv = invoices_get(f->db, id, &err);
    assert_non_null(inv);
    assert_int_equal(json_integer_value(json_object_get(inv, "subtotal")), 3883);
    assert_int_equal(json_integer_value(json_object_get(inv, "tax")), 738);
    assert_int_equal(json_integer_value(json_object_get(inv, "total")), 4621);
    assert_string_equal(json_string_value(json_object_get(inv, "tax_note")), "");
    const json_t *taxes = json_object_get(inv, "taxes");
    assert_int_equal(json_array_size(taxes), 1);
    const json_t *t0 = json_array_get(taxes, 0);
    assert_string_equal(json_string_value(json_object_get(t0, "name")), "VAT 19%");
    assert_string_equal(json_string_value(json_object_get(t0, "country")), "DE");
    assert_string_equal(json_string_value(json_object_get(t0, "region")), "");
    assert_int_equal(json_integer_value(json_object_get(t0, "rate_bp")), 1900);
    assert_false(json_is_true(json_object_get(t0, "inclusive")));
    assert_int_equal(json_integer_value(json_object_get(t0, "base")), 3883);
    assert_int_equal(json_integer_value(json_object_get(t0, "amount")), 738);
    json_decref(inv);
    /* The audit row of the creation carries the taxed total. */
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action ="
                                         " 'INVOICE_CREATED' AND details LIKE '%\"total\":4621%'"),
                     1);
}

static void inclusive_and_exempt_invoices(void **state)
{
    struct fixture *f = *state;
    add_rule(f, "VAT 20%", "GB", "", "2000", "1");
    client_at(f, "gb", "", 0); /* stored lower-case by hand: matched upper-case */
    struct invoice_item_in item = {"Plan", 1, 1199, 0, "recurring", NULL, NULL};
    int64_t id = add_invoice(f, "gbp", &item, 1);
    assert_int_equal(testdb_int64f(f->db, "SELECT tax FROM invoices WHERE id = %" PRId64, id), 200);
    assert_int_equal(testdb_int64f(f->db, "SELECT total FROM invoices WHERE id = %" PRId64, id),
                     1199);
    assert_int_equal(
        testdb_int64f(f->db, "SELECT base FROM invoice_taxes WHERE invoice_id = %" PRId64, id),
        999);
    client_at(f, "GB", "", 1);
    id = add_invoice(f, "gbp", &item, 1);
    assert_int_equal(testdb_int64f(f->db, "SELECT tax FROM invoices WHERE id = %" PRId64, id), 0);
    assert_int_equal(testdb_int64f(f->db,
                                   "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                                   " AND tax_note = '" TAX_NOTE_EXEMPT "'",
                                   id),
                     1);
    assert_int_equal(
        testdb_int64f(f->db, "SELECT COUNT(*) FROM invoice_taxes WHERE invoice_id = %" PRId64, id),
        0);
}

/* A JPY invoice for a client without a country: no rule, no tax; with JP: ¥180 on ¥1,801. */
static void jpy_invoice_and_no_country(void **state)
{
    struct fixture *f = *state;
    add_rule(f, "Consumption tax", "JP", "", "1000", "0");
    struct invoice_item_in items[] = {{"VPS", 1, 1234, 0, "recurring", NULL, NULL},
                                      {"Backup", 1, 567, 0, "other", NULL, NULL}};
    int64_t id = add_invoice(f, "jpy", items, 2);
    assert_int_equal(testdb_int64f(f->db, "SELECT total FROM invoices WHERE id = %" PRId64, id),
                     1801);
    client_at(f, "JP", "", 0);
    id = add_invoice(f, "jpy", items, 2);
    assert_int_equal(testdb_int64f(f->db, "SELECT tax FROM invoices WHERE id = %" PRId64, id), 180);
    assert_int_equal(testdb_int64f(f->db, "SELECT total FROM invoices WHERE id = %" PRId64, id),
                     1981);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exclusive_19_percent_on_the_sum_of_three_lines),
        cmocka_unit_test(inclusive_20_percent_keeps_the_gross),
        cmocka_unit_test(eu_reverse_charge_is_zero_with_the_note),
        cmocka_unit_test(exempt_buyer_pays_nothing),
        cmocka_unit_test(region_rule_beats_the_country_rule),
        cmocka_unit_test(jpy_without_minor_unit),
        cmocka_unit_test(rounding_half_away_from_zero_both_signs),
        cmocka_unit_test(discount_line_reduces_the_base),
        cmocka_unit_test(overflow_is_refused),
        cmocka_unit_test_setup_teardown(invoice_stores_the_tax_and_answers_it, setup, teardown),
        cmocka_unit_test_setup_teardown(inclusive_and_exempt_invoices, setup, teardown),
        cmocka_unit_test_setup_teardown(jpy_invoice_and_no_country, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
