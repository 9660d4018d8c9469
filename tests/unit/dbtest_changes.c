/*
 * dbtest_changes.c — the arithmetic of plan changes and what the renewal
 * does with a downgrade's credit: worked proration examples (exact, rounded
 * half away from zero both ways, a zero-decimal currency, out-of-range
 * input), the options of a service priced against its real period, and the
 * renewal invoice that takes the credit off as a negative line capped at
 * its total — settled at once when the credit covers it, the rest carried
 * to the next renewal. Rows are built directly with SQL. Runs on SQLite and
 * PostgreSQL.
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
#include "provisioning/automation.h"
#include "provisioning/changes.h"
#include "support/testdb.h"

#define DAY 86400

struct fixture {
    char *url;
    struct db *db;
    int64_t client, server, small, medium, large, other_group, service;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t at(const char *s)
{
    int64_t t = 0;
    struct lumi_err err;
    if (utc_parse(s, &t, &err) != 0)
        fail_msg("%s: %s", s, err.msg);
    return t;
}

static int64_t prorate(int64_t new_price, int64_t old_price, int64_t remaining, int64_t period)
{
    struct lumi_err err = {0};
    int64_t out = 0;
    if (changes_prorate(new_price, old_price, remaining, period, &out, &err) != 0)
        fail_msg("prorate: %s", err.msg);
    return out;
}

/* ---- pure arithmetic ----------------------------------------------------- */

static void proration_worked_examples(void **state)
{
    (void)state;
    /* 15.00 → 30.00 USD with half of a 30-day month left: 7.50 exactly. */
    assert_true(prorate(3000, 1500, 15 * DAY, 30 * DAY) == 750);
    /* The same the other way: 7.50 credited. */
    assert_true(prorate(1500, 3000, 15 * DAY, 30 * DAY) == -750);
    /* 10.00 more with a third left: 3.333… → 3.33; two thirds: 6.666… → 6.67. */
    assert_true(prorate(2000, 1000, 1, 3) == 333);
    assert_true(prorate(2000, 1000, 2, 3) == 667);
    /* Exactly half a minor unit rounds away from zero, both ways. */
    assert_true(prorate(1, 0, 1, 2) == 1);
    assert_true(prorate(0, 1, 1, 2) == -1);
    assert_true(prorate(3, 0, 1, 2) == 2);  /* 1.5 → 2 */
    assert_true(prorate(0, 3, 1, 2) == -2); /* -1.5 → -2 */
    /* JPY has no minor unit: 980 → 1980 yen, 10 of December's 31 days left:
     * 1000 × 10 / 31 = 322.58… → 323 yen. */
    assert_true(prorate(1980, 980, 10 * DAY, 31 * DAY) == 323);
    /* Nothing left, nothing owed; the whole period, the whole difference. */
    assert_true(prorate(5000, 1000, 0, 31 * DAY) == 0);
    assert_true(prorate(5000, 1000, 31 * DAY, 31 * DAY) == 4000);
    /* Large prices stay exact in 128-bit arithmetic. */
    assert_true(prorate(INT64_MAX, 0, 7, 7) == INT64_MAX);
    assert_true(prorate(INT64_MAX, 0, 1, 2) == INT64_MAX / 2 + 1);
}

static void proration_refuses_what_it_cannot_compute(void **state)
{
    (void)state;
    struct lumi_err err = {0};
    int64_t out = 42;
    assert_int_equal(changes_prorate(INT64_MAX, INT64_MIN, 10, 10, &out, &err), LUMI_EINVAL);
    assert_int_equal(changes_prorate(100, 0, 11, 10, &out, &err), LUMI_EINVAL);
    assert_int_equal(changes_prorate(100, 0, -1, 10, &out, &err), LUMI_EINVAL);
    assert_int_equal(changes_prorate(100, 0, 0, 0, &out, &err), LUMI_EINVAL);
    assert_true(out == 42);
}

/* ---- against the database --------------------------------------------------- */

static int64_t product(struct fixture *f, const char *name, const char *group, int64_t price,
                       int64_t server)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, store_group, created_at, updated_at) VALUES ('%s', 'game_server', "
             "%" PRId64 ", %" PRId64 ", 'usd', 'monthly', 'order', '%s', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             name, server, price, group);
    testdb_exec(f->db, sql);
    int64_t id = testdb_int64f(f->db, "SELECT id FROM products WHERE name = '%s'", name);
    snprintf(sql, sizeof sql,
             "INSERT INTO product_prices (product_id, billing_cycle, currency, amount) VALUES "
             "(%" PRId64 ", 'monthly', 'usd', %" PRId64 ")",
             id, price);
    testdb_exec(f->db, sql);
    return id;
}

/* A client, a Pterodactyl server, three products of one group and one of another; a service
 * on the medium one (15.00 USD a month) due 2027-01-01. */
static void seed(struct fixture *f, const char *next_due)
{
    char sql[1024];
    f->client = testdb_add_client(f->db, "client@example.com");
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                       "'2026-01-01T00:00:00Z')");
    f->server = testdb_int64(f->db, "SELECT id FROM servers");
    f->small = product(f, "Game S", "games", 500, f->server);
    f->medium = product(f, "Game M", "games", 1500, f->server);
    f->large = product(f, "Game L", "games", 3000, f->server);
    f->other_group = product(f, "Web L", "web", 3000, f->server);
    snprintf(sql, sizeof sql,
             "INSERT INTO services (client_id, product_id, server_id, status, remote_key, "
             "external_id, billing_cycle, recurring_amount, currency, next_due_date, created_at, "
             "updated_at) VALUES (%" PRId64 ", %" PRId64 ", %" PRId64
             ", 'active', 'lumi-test-1', '1', 'monthly', 1500, 'usd', '%s', "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             f->client, f->medium, f->server, next_due);
    testdb_exec(f->db, sql);
    f->service = testdb_int64(f->db, "SELECT id FROM services");
}

static const json_t *option_for(const json_t *opts, int64_t product_id)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(opts, "options"), i,
                       o) if (json_integer_value(json_object_get(o, "product_id")) ==
                              product_id) return o;
    return NULL;
}

static void options_are_prorated_over_the_real_period(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    seed(f, "2027-01-01T00:00:00Z");
    /* 15 of December's 31 days left. Up to 30.00: 15.00 × 15/31 = 7.258… → 7.26;
     * down to 5.00: −10.00 × 15/31 = −4.838… → −4.84. */
    json_t *opts = changes_options(f->db, f->service, f->client, at("2026-12-17T00:00:00Z"), &err);
    if (opts == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(json_array_size(json_object_get(opts, "options")), 2);
    const json_t *up = option_for(opts, f->large), *down = option_for(opts, f->small);
    assert_non_null(up);
    assert_non_null(down);
    assert_null(option_for(opts, f->other_group));
    assert_true(json_integer_value(json_object_get(up, "prorated_amount")) == 726);
    assert_string_equal(json_string_value(json_object_get(up, "direction")), "upgrade");
    assert_true(json_integer_value(json_object_get(down, "prorated_amount")) == -484);
    assert_string_equal(json_string_value(json_object_get(down, "direction")), "downgrade");
    assert_string_equal(json_string_value(json_object_get(opts, "period_start")),
                        "2026-12-01T00:00:00Z");
    json_decref(opts);
    /* Another client's service does not exist for this one. */
    assert_null(
        changes_options(f->db, f->service, f->client + 1000, at("2026-12-17T00:00:00Z"), &err));
    assert_int_equal(err.code, LUMI_ENOTFOUND);
}

static void renewal_takes_the_credit_capped_and_carries_the_rest(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    struct automation_report rep;
    seed(f, "2027-01-01T00:00:00Z");
    testdb_exec(f->db, "UPDATE services SET renewal_credit = 2000");
    /* First renewal (15.00): the credit covers it all; settled at once, 5.00 carried. */
    if (automation_run(f->db, at("2026-12-30T00:00:00Z"), false, NULL, &rep, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.invoices_created, 1);
    assert_int_equal(rep.errors, 0);
    assert_true(testdb_int64(f->db, "SELECT renewal_credit FROM services") == 500);
    assert_true(testdb_int64(f->db, "SELECT total FROM invoices") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices WHERE status = 'paid'") == 1);
    assert_true(testdb_int64(f->db, "SELECT amount FROM invoice_items WHERE description = "
                                    "'Credit from downgrade'") == -1500);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM services WHERE next_due_date LIKE "
                                    "'2027-02-01%'") == 1);
    /* Next renewal: 5.00 off 15.00, 10.00 to pay, nothing left over. */
    if (automation_run(f->db, at("2027-01-30T00:00:00Z"), false, NULL, &rep, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.invoices_created, 1);
    assert_true(testdb_int64(f->db, "SELECT renewal_credit FROM services") == 0);
    assert_true(testdb_int64(f->db, "SELECT total FROM invoices WHERE status = 'unpaid'") == 1000);
    assert_true(testdb_int64(f->db, "SELECT subtotal FROM invoices WHERE status = 'unpaid'") ==
                1000);
}

static void pending_cancellation_stops_renewals(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    struct automation_report rep;
    seed(f, "2027-01-01T00:00:00Z");
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO cancel_requests (service_id, actor_type, timing, status, run_at, "
             "created_at, updated_at) VALUES (%" PRId64 ", 'client', 'end_of_period', 'pending', "
             "'2027-01-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
             f->service);
    testdb_exec(f->db, sql);
    if (automation_run(f->db, at("2026-12-30T00:00:00Z"), false, NULL, &rep, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.invoices_created, 0);
    assert_int_equal(rep.cancellations_executed, 0);
    /* A dry run names it and changes nothing. */
    if (automation_run(f->db, at("2027-01-01T00:00:01Z"), true, NULL, &rep, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.cancellations_executed, 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM cancel_requests WHERE status = "
                                    "'pending'") == 1);
    /* Once due, the request runs: a terminate job, the request done, still no renewal. */
    if (automation_run(f->db, at("2027-01-01T00:00:01Z"), false, NULL, &rep, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.cancellations_executed, 1);
    assert_int_equal(rep.invoices_created, 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE action = 'terminate'") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM cancel_requests WHERE status = 'done' "
                                    "AND job_id IS NOT NULL") == 1);
    if (automation_run(f->db, at("2027-01-01T00:00:02Z"), false, NULL, &rep, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.cancellations_executed, 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE action = 'terminate'") == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proration_worked_examples),
        cmocka_unit_test(proration_refuses_what_it_cannot_compute),
        cmocka_unit_test_setup_teardown(options_are_prorated_over_the_real_period, setup, teardown),
        cmocka_unit_test_setup_teardown(renewal_takes_the_credit_capped_and_carries_the_rest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pending_cancellation_stops_renewals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
