/*
 * dbtest_stats.c — the dashboard's figures (stats_dashboard) over invoices
 * and payments made with the domain functions (invoices_create,
 * payments_apply, invoices_cancel): revenue of the month per currency with
 * refunds, chargebacks and reversals netted and the month's edges exact;
 * unpaid and overdue amounts still due per currency (overdue strictly
 * before now; cancelled and paid invoices out); services by status; failed
 * jobs with the newest reasons; payments per day of the last 30 days with
 * every day present and zeros. Different currencies are never added.
 * Transaction times are moved with SQL, since payments_apply stamps "now".
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

#include "audit/audit.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "billing/stats.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/utc.h"
#include "support/testdb.h"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    int64_t client;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "client@example.com");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t at(const char *iso)
{
    int64_t t = 0;
    assert_int_equal(utc_parse(iso, &t, NULL), 0);
    return t;
}

/* An unpaid invoice of one item through invoices_create. */
static int64_t add_invoice(struct fixture *f, const char *currency, int64_t amount, const char *due)
{
    struct lumi_err err;
    int64_t id = 0;
    struct invoice_item_in item = {
        .description = "Hosting", .quantity = 1, .unit_amount = amount, .kind = "other"};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ACTOR, f->client, currency, due, &item, 1, &id, &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

/* Applies one movement through payments_apply, then dates its row `when`. */
static void move(struct fixture *f, int64_t invoice, const char *kind, const char *ref,
                 int64_t amount, const char *currency, const char *when)
{
    struct lumi_err err;
    struct payment_result res;
    struct payment_in p = {.kind = kind,
                           .gateway = "manual",
                           .gateway_ref = ref,
                           .amount = amount,
                           .currency = currency,
                           .invoice_id = invoice};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (payments_apply(f->db, &ACTOR, &p, &res, &err) != 0)
        fail_msg("payments_apply: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    if (res.outcome != PAYMENT_APPLIED)
        fail_msg("%s %s was %s: %s", kind, ref, payment_outcome_name(res.outcome), res.message);
    const char *params[] = {when, ref};
    testdb_execp(f->db, "UPDATE transactions SET created_at = $1 WHERE gateway_ref = $2", 2,
                 params);
}

static json_t *stats_at(struct fixture *f, const char *now)
{
    struct lumi_err err;
    json_t *s = stats_dashboard(f->db, at(now), &err);
    if (s == NULL)
        fail_msg("stats_dashboard: %s", err.msg);
    return s;
}

/* Asserts that list (of {currency, amount[, count]}) is exactly the expected entries. */
static void assert_money(const json_t *list, size_t n, const char *const *currencies,
                         const int64_t *amounts, const int64_t *counts)
{
    if (json_array_size(list) != n) {
        char *dump = json_dumps(list, 0);
        fail_msg("expected %zu currencies, got %s", n, dump);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(list, i);
        assert_string_equal(json_string_value(json_object_get(e, "currency")), currencies[i]);
        if (json_integer_value(json_object_get(e, "amount")) != amounts[i])
            fail_msg("%s: amount %" PRId64 ", expected %" PRId64, currencies[i],
                     (int64_t)json_integer_value(json_object_get(e, "amount")), amounts[i]);
        if (counts != NULL)
            assert_true(json_integer_value(json_object_get(e, "count")) == counts[i]);
    }
}

static int64_t day_amount(const json_t *series, size_t d)
{
    return json_integer_value(json_array_get(json_object_get(series, "amounts"), d));
}

/* The ledger described at the top of each test. */
static void seed_ledger(struct fixture *f)
{
    struct lumi_err err;
    /* A: usd 50.00 due Nov 1, 12.50 paid at the first second of November, 3.00 on Nov 3. */
    int64_t a = add_invoice(f, "usd", 5000, "2026-11-01T00:00:00Z");
    move(f, a, "payment", "a1", 1250, "usd", "2026-11-01T00:00:00Z");
    move(f, a, "payment", "a2", 300, "usd", "2026-11-03T18:00:00Z");
    /* B: usd 30.00 due next month, nothing paid. */
    add_invoice(f, "usd", 3000, "2026-12-01T00:00:00Z");
    /* C: eur 20.00 paid today, 5.00 of it refunded. */
    int64_t c = add_invoice(f, "eur", 2000, "2026-11-10T00:00:00Z");
    move(f, c, "payment", "c1", 2000, "eur", "2026-11-15T08:00:00Z");
    move(f, c, "refund", "c2", 500, "eur", "2026-11-15T09:00:00Z");
    /* D: usd 10.00 paid in the last second of October (inside the 30 days). */
    int64_t d = add_invoice(f, "usd", 1000, "2026-10-01T00:00:00Z");
    move(f, d, "payment", "d1", 1000, "usd", "2026-10-31T23:59:59Z");
    /* E: usd 7.00 paid the day before the 30-day window starts. */
    int64_t e = add_invoice(f, "usd", 700, "2026-10-01T00:00:00Z");
    move(f, e, "payment", "e1", 700, "usd", "2026-10-16T23:59:59Z");
    /* F: usd 4.00, cancelled: neither unpaid nor overdue. */
    int64_t fc = add_invoice(f, "usd", 400, "2026-10-01T00:00:00Z");
    assert_int_equal(invoices_cancel(f->db, &ACTOR, fc, &err), 0);
    /* G, H: eur, due one second before now and exactly now. */
    add_invoice(f, "eur", 999, "2026-11-15T11:59:59Z");
    add_invoice(f, "eur", 111, "2026-11-15T12:00:00Z");
    /* I: usd 8.00 paid, charged back, 3.00 of the dispute won back. */
    int64_t i = add_invoice(f, "usd", 800, "2026-11-05T00:00:00Z");
    move(f, i, "payment", "i1", 800, "usd", "2026-11-05T10:00:00Z");
    move(f, i, "chargeback", "i2", 800, "usd", "2026-11-06T10:00:00Z");
    move(f, i, "chargeback_reversal", "i3", 300, "usd", "2026-11-07T10:00:00Z");
}

/* ---- tests -------------------------------------------------------------- */

static void empty_database_has_zero_figures_and_thirty_empty_days(void **state)
{
    struct fixture *f = *state;
    json_t *s = stats_at(f, "2026-11-15T12:00:00Z");
    assert_string_equal(json_string_value(json_object_get(s, "month")), "2026-11");
    assert_string_equal(json_string_value(json_object_get(s, "as_of")), "2026-11-15T12:00:00Z");
    assert_int_equal(json_array_size(json_object_get(s, "revenue_month")), 0);
    assert_int_equal(json_array_size(json_object_get(s, "unpaid")), 0);
    assert_int_equal(json_array_size(json_object_get(s, "overdue")), 0);
    const json_t *services = json_object_get(s, "services");
    assert_int_equal(json_object_size(services), 7);
    assert_true(json_is_integer(json_object_get(services, "provisioning")));
    assert_int_equal(json_integer_value(json_object_get(services, "active")), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "services_total")), 0);
    const json_t *jobs = json_object_get(s, "failed_jobs");
    assert_int_equal(json_integer_value(json_object_get(jobs, "count")), 0);
    assert_int_equal(json_array_size(json_object_get(jobs, "latest")), 0);
    const json_t *daily = json_object_get(s, "payments_daily");
    const json_t *days = json_object_get(daily, "days");
    assert_int_equal(json_array_size(days), STATS_DAYS);
    assert_string_equal(json_string_value(json_array_get(days, 0)), "2026-10-17");
    assert_string_equal(json_string_value(json_array_get(days, 14)), "2026-10-31");
    assert_string_equal(json_string_value(json_array_get(days, 15)), "2026-11-01");
    assert_string_equal(json_string_value(json_array_get(days, 29)), "2026-11-15");
    assert_int_equal(json_array_size(json_object_get(daily, "series")), 0);
    json_decref(s);
}

static void money_figures_are_per_currency_and_exact(void **state)
{
    struct fixture *f = *state;
    seed_ledger(f);
    json_t *s = stats_at(f, "2026-11-15T12:00:00Z");
    static const char *const cur[] = {"eur", "usd"};
    /* eur 20.00 − 5.00; usd 12.50 + 3.00 + 8.00 − 8.00 + 3.00 (October's payments not counted). */
    assert_money(json_object_get(s, "revenue_month"), 2, cur, (const int64_t[]){1500, 1850}, NULL);
    /* Still due: eur G + H; usd A (50.00 − 15.50) + B. Paid, refunded, cancelled: out. */
    assert_money(json_object_get(s, "unpaid"), 2, cur, (const int64_t[]){1110, 6450},
                 (const int64_t[]){2, 2});
    /* Overdue strictly before now: G (not H, due this very second), A (not B). */
    assert_money(json_object_get(s, "overdue"), 2, cur, (const int64_t[]){999, 3450},
                 (const int64_t[]){1, 1});
    json_decref(s);
}

static void revenue_month_edges_are_exact(void **state)
{
    struct fixture *f = *state;
    seed_ledger(f);
    static const char *const usd[] = {"usd"};
    /* The last second of October: D and E only. */
    json_t *s = stats_at(f, "2026-10-31T23:59:59Z");
    assert_string_equal(json_string_value(json_object_get(s, "month")), "2026-10");
    assert_money(json_object_get(s, "revenue_month"), 1, usd, (const int64_t[]){1700}, NULL);
    json_decref(s);
    /* The first second of November: a1, stamped that very second, and everything after it. */
    s = stats_at(f, "2026-11-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(s, "month")), "2026-11");
    static const char *const cur[] = {"eur", "usd"};
    assert_money(json_object_get(s, "revenue_month"), 2, cur, (const int64_t[]){1500, 1850}, NULL);
    json_decref(s);
    /* December: nothing yet. */
    s = stats_at(f, "2026-12-31T23:59:59Z");
    assert_string_equal(json_string_value(json_object_get(s, "month")), "2026-12");
    assert_int_equal(json_array_size(json_object_get(s, "revenue_month")), 0);
    json_decref(s);
}

static void payments_per_day_cover_thirty_days_per_currency(void **state)
{
    struct fixture *f = *state;
    seed_ledger(f);
    json_t *s = stats_at(f, "2026-11-15T12:00:00Z");
    const json_t *series = json_object_get(json_object_get(s, "payments_daily"), "series");
    assert_int_equal(json_array_size(series), 2);
    const json_t *eur = json_array_get(series, 0), *usd = json_array_get(series, 1);
    assert_string_equal(json_string_value(json_object_get(eur, "currency")), "eur");
    assert_string_equal(json_string_value(json_object_get(usd, "currency")), "usd");
    assert_int_equal(json_array_size(json_object_get(eur, "amounts")), STATS_DAYS);
    assert_int_equal(json_array_size(json_object_get(usd, "amounts")), STATS_DAYS);
    /* Payments only: the refund of today does not lower today's bar. */
    for (size_t d = 0; d < STATS_DAYS; d++)
        assert_true(day_amount(eur, d) == (d == 29 ? 2000 : 0));
    assert_true(json_integer_value(json_object_get(eur, "total")) == 2000);
    /* usd: Oct 31 (d1), Nov 1 (a1), Nov 3 (a2), Nov 5 (i1); Oct 16 (e1) is outside. */
    for (size_t d = 0; d < STATS_DAYS; d++) {
        int64_t want = d == 14 ? 1000 : d == 15 ? 1250 : d == 17 ? 300 : d == 19 ? 800 : 0;
        if (day_amount(usd, d) != want)
            fail_msg("usd day %zu: %" PRId64 ", expected %" PRId64, d, day_amount(usd, d), want);
    }
    assert_true(json_integer_value(json_object_get(usd, "total")) == 3350);
    assert_true(json_integer_value(json_object_get(usd, "max")) == 1250);
    json_decref(s);

    /* A day later the window has moved: Oct 17 dropped out, Nov 16 is the last day. */
    s = stats_at(f, "2026-11-16T00:00:00Z");
    const json_t *daily = json_object_get(s, "payments_daily");
    assert_string_equal(json_string_value(json_array_get(json_object_get(daily, "days"), 29)),
                        "2026-11-16");
    usd = json_array_get(json_object_get(daily, "series"), 1);
    assert_true(day_amount(usd, 13) == 1000);
    assert_true(day_amount(usd, 29) == 0);
    json_decref(s);
}

static void services_by_status_and_failed_jobs(void **state)
{
    struct fixture *f = *state;
    char sql[1024];
    static const char *const statuses[] = {"active", "active", "suspended", "failed"};
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                       "'2026-01-01T00:00:00Z')");
    int64_t server = testdb_int64(f->db, "SELECT id FROM servers");
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', 'manual', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             server);
    testdb_exec(f->db, sql);
    int64_t product = testdb_int64(f->db, "SELECT id FROM products");
    for (size_t i = 0; i < 4; i++) {
        snprintf(
            sql, sizeof sql,
            "INSERT INTO services (client_id, product_id, server_id, status, remote_key, "
            "billing_cycle, recurring_amount, currency, created_at, updated_at) VALUES (%" PRId64
            ", %" PRId64 ", %" PRId64 ", '%s', 'lumi-stats-%zu', 'monthly', 1500, 'usd', "
            "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            f->client, product, server, statuses[i], i);
        testdb_exec(f->db, sql);
    }
    int64_t service = testdb_int64(f->db, "SELECT MIN(id) FROM services");
    /* Six failed jobs and one done. */
    for (int i = 1; i <= 7; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO jobs (service_id, action, status, attempts, max_attempts, run_at, "
                 "last_error, created_at, updated_at) VALUES (%" PRId64 ", 'provision', '%s', 8, "
                 "8, '2026-11-01T00:00:00Z', 'reason %d', '2026-11-01T00:00:00Z', "
                 "'2026-11-01T00:00:00Z')",
                 service, i == 4 ? "done" : "failed", i);
        testdb_exec(f->db, sql);
    }
    json_t *s = stats_at(f, "2026-11-15T12:00:00Z");
    const json_t *services = json_object_get(s, "services");
    assert_int_equal(json_integer_value(json_object_get(services, "active")), 2);
    assert_int_equal(json_integer_value(json_object_get(services, "suspended")), 1);
    assert_int_equal(json_integer_value(json_object_get(services, "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(services, "pending")), 0);
    assert_int_equal(json_integer_value(json_object_get(services, "terminated")), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "services_total")), 4);
    const json_t *jobs = json_object_get(s, "failed_jobs");
    assert_int_equal(json_integer_value(json_object_get(jobs, "count")), 6);
    const json_t *latest = json_object_get(jobs, "latest");
    assert_int_equal(json_array_size(latest), STATS_FAILED_LATEST);
    /* Newest first, with their reasons; the done job is not among them. */
    static const char *const want[] = {"reason 7", "reason 6", "reason 5", "reason 3", "reason 2"};
    for (size_t i = 0; i < STATS_FAILED_LATEST; i++) {
        const json_t *j = json_array_get(latest, i);
        assert_string_equal(json_string_value(json_object_get(j, "last_error")), want[i]);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    }
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(empty_database_has_zero_figures_and_thirty_empty_days,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(money_figures_are_per_currency_and_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(revenue_month_edges_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(payments_per_day_cover_thirty_days_per_currency, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(services_by_status_and_failed_jobs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
