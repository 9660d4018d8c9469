/*
 * dbtest_payments.c — payments_apply, the one path by which money changes an
 * invoice: partial then full payment marks it paid once (paid_at, one
 * INVOICE_PAID); a repeated gateway reference changes nothing; a wrong
 * currency is a mismatch that is audited and leaves the invoice untouched,
 * an over-payment settles it and keeps the surplus as credit (issue 14);
 * refunds, chargebacks and reversals move the status;
 * paying an invoice queues provisioning of a service waiting for payment and
 * unsuspension of one suspended for "overdue" (never "abuse"); cancel rules;
 * and a failure anywhere rolls everything back. Rows are built with SQL and
 * invoices_create. Runs on SQLite and PostgreSQL.
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
#include "core/config.h"
#include "core/crypto.h"
#include "support/testdb.h"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    int64_t client, product, server;
    int next_key;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t audits(struct fixture *f, const char *action)
{
    return testdb_int64f(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = '%s'", action);
}

/* A client, a server and a product with the given autosetup. */
static void seed(struct fixture *f, const char *autosetup)
{
    char sql[512];
    f->client = testdb_add_client(f->db, "client@example.com");
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                       "'2026-01-01T00:00:00Z')");
    f->server = testdb_int64(f->db, "SELECT id FROM servers");
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', '%s', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             f->server, autosetup);
    testdb_exec(f->db, sql);
    f->product = testdb_int64(f->db, "SELECT id FROM products");
}

static int64_t add_service(struct fixture *f, const char *status, const char *reason)
{
    char sql[1024], key[32], r[48];
    snprintf(key, sizeof key, "lumi-test-%d", ++f->next_key);
    snprintf(r, sizeof r, reason ? "'%s'" : "NULL", reason ? reason : "");
    snprintf(sql, sizeof sql,
             "INSERT INTO services (client_id, product_id, server_id, status, suspend_reason, "
             "remote_key, external_id, billing_cycle, recurring_amount, currency, next_due_date, "
             "created_at, updated_at) VALUES (%" PRId64 ", %" PRId64 ", %" PRId64
             ", '%s', %s, '%s', '%d', 'monthly', 1500, 'usd', '2026-02-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             f->client, f->product, f->server, status, r, key, f->next_key);
    testdb_exec(f->db, sql);
    return testdb_int64f(f->db, "SELECT id FROM services WHERE remote_key = '%s'", key);
}

/* An invoice of 1500 usd (one item, of service_id when > 0) through invoices_create. */
static int64_t add_invoice(struct fixture *f, int64_t service_id)
{
    struct lumi_err err;
    int64_t id = 0;
    struct invoice_item_in item = {.description = "Game S",
                                   .quantity = 1,
                                   .unit_amount = 1500,
                                   .service_id = service_id,
                                   .kind = service_id > 0 ? "recurring" : "other",
                                   .period_start = service_id > 0 ? "2026-02-01T00:00:00Z" : NULL,
                                   .period_end = service_id > 0 ? "2026-03-01T00:00:00Z" : NULL};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ACTOR, f->client, "usd", "2026-02-01T00:00:00Z", &item, 1, &id,
                        &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

/* Applies one movement in its own transaction; returns the outcome. */
static enum payment_outcome apply(struct fixture *f, const char *kind, const char *gateway,
                                  const char *ref, int64_t amount, const char *currency,
                                  int64_t invoice_id, struct payment_result *res_out)
{
    struct lumi_err err;
    struct payment_result res;
    struct payment_in p = {.kind = kind,
                           .gateway = gateway,
                           .gateway_ref = ref,
                           .amount = amount,
                           .currency = currency,
                           .invoice_id = invoice_id};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (payments_apply(f->db, &ACTOR, &p, &res, &err) != 0)
        fail_msg("payments_apply: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    if (res_out != NULL)
        *res_out = res;
    return res.outcome;
}

static int64_t inv_col(struct fixture *f, const char *col, int64_t id)
{
    return testdb_int64f(f->db, "SELECT %s FROM invoices WHERE id = %" PRId64, col, id);
}

static void assert_status(struct fixture *f, int64_t id, const char *status)
{
    assert_true(testdb_int64f(
                    f->db, "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64 " AND status = '%s'",
                    id, status) == 1);
}

static void partial_then_full_payment_marks_paid_once(void **state)
{
    struct fixture *f = *state;
    struct payment_result res;
    seed(f, "manual");
    int64_t inv = add_invoice(f, 0);
    assert_int_equal(apply(f, "payment", "stripe", "ch_1", 500, "usd", inv, &res), PAYMENT_APPLIED);
    assert_string_equal(res.status, "partially_paid");
    assert_false(res.became_paid);
    assert_status(f, inv, "partially_paid");
    assert_true(inv_col(f, "amount_paid", inv) == 500);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                              " AND paid_at IS NULL",
                              inv) == 1);
    assert_int_equal(apply(f, "payment", "paypal", "CAP-2", 1000, "USD", inv, &res),
                     PAYMENT_APPLIED);
    assert_string_equal(res.status, "paid");
    assert_true(res.became_paid);
    assert_status(f, inv, "paid");
    assert_true(inv_col(f, "amount_paid", inv) == 1500);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                              " AND paid_at IS NOT NULL",
                              inv) == 1);
    assert_true(audits(f, "PAYMENT_RECEIVED") == 2);
    assert_true(audits(f, "INVOICE_PAID") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 2);
    /* the actor's IP is on the audit rows */
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'INVOICE_PAID'"
                                    " AND ip = '192.0.2.7'") == 1);
    /* nothing more is due: a third payment is a mismatch, INVOICE_PAID stays once */
    assert_int_equal(apply(f, "payment", "stripe", "ch_3", 1, "usd", inv, NULL), PAYMENT_MISMATCH);
    assert_true(audits(f, "INVOICE_PAID") == 1);
    assert_true(inv_col(f, "amount_paid", inv) == 1500);
}

static void duplicate_reference_counts_once(void **state)
{
    struct fixture *f = *state;
    struct payment_result res;
    seed(f, "manual");
    int64_t inv = add_invoice(f, 0);
    assert_int_equal(apply(f, "payment", "stripe", "ch_dup", 700, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(apply(f, "payment", "stripe", "ch_dup", 700, "usd", inv, &res),
                         PAYMENT_DUPLICATE);
        assert_true(res.transaction_id == 0);
    }
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 1);
    assert_true(inv_col(f, "amount_paid", inv) == 700);
    assert_true(audits(f, "PAYMENT_RECEIVED") == 1);
    /* the same reference at another gateway or as another kind is a different movement */
    assert_int_equal(apply(f, "payment", "paypal", "ch_dup", 100, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_true(inv_col(f, "amount_paid", inv) == 800);
}

static void wrong_currency_is_a_mismatch_and_overpayment_goes_to_credit(void **state)
{
    struct fixture *f = *state;
    struct payment_result res;
    seed(f, "manual");
    int64_t inv = add_invoice(f, 0);
    assert_int_equal(apply(f, "payment", "stripe", "ch_eur", 1600, "eur", inv, &res),
                     PAYMENT_MISMATCH);
    assert_non_null(strstr(res.message, "eur"));
    assert_status(f, inv, "unpaid");
    assert_true(inv_col(f, "amount_paid", inv) == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger") == 0);
    assert_true(audits(f, "PAYMENT_MISMATCH") == 1);
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_MISMATCH'"
                             " AND details LIKE '%\"expected\"%' AND details LIKE '%\"received\"%'"
                             " AND details LIKE '%ch_eur%'") == 1);
    /* an admin's manual over-payment stays refused: more likely a typing slip */
    assert_int_equal(apply(f, "payment", "manual", "bank-big", 1501, "usd", inv, &res),
                     PAYMENT_MISMATCH);
    assert_true(audits(f, "PAYMENT_MISMATCH") == 2);
    /* issue 14: 1501 on 1500 due settles the invoice and keeps the 1 as credit */
    assert_int_equal(apply(f, "payment", "stripe", "ch_big", 1501, "usd", inv, &res),
                     PAYMENT_APPLIED);
    assert_status(f, inv, "paid");
    assert_true(inv_col(f, "amount_paid", inv) == 1500);
    assert_true(testdb_int64f(f->db, "SELECT balance FROM credit_balances WHERE client_id = %" PRId64
                              " AND currency = 'usd'", f->client) == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger WHERE kind = 'overpayment'"
                                    " AND amount = 1 AND transaction_id IS NOT NULL") == 1);
    assert_int_equal(apply(f, "payment", "stripe", "ch_big", 1501, "usd", inv, NULL),
                     PAYMENT_DUPLICATE);
    /* a paid invoice has nothing due: a further payment stays a mismatch, no credit */
    assert_int_equal(apply(f, "payment", "stripe", "ch_more", 100, "usd", inv, &res),
                     PAYMENT_MISMATCH);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger") == 1);
    assert_true(audits(f, "PAYMENT_MISMATCH") == 3);
}

static void refunds_partial_then_full(void **state)
{
    struct fixture *f = *state;
    seed(f, "manual");
    int64_t inv = add_invoice(f, 0);
    assert_int_equal(apply(f, "refund", "stripe", "re_0", 100, "usd", inv, NULL),
                     PAYMENT_MISMATCH); /* nothing paid yet */
    assert_int_equal(apply(f, "payment", "stripe", "ch_1", 1500, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_int_equal(apply(f, "refund", "stripe", "re_1", 400, "usd", inv, NULL), PAYMENT_APPLIED);
    assert_status(f, inv, "partially_refunded");
    assert_true(inv_col(f, "amount_refunded", inv) == 400);
    assert_int_equal(apply(f, "refund", "stripe", "re_1", 400, "usd", inv, NULL),
                     PAYMENT_DUPLICATE);
    assert_int_equal(apply(f, "refund", "stripe", "re_2", 1101, "usd", inv, NULL),
                     PAYMENT_MISMATCH);
    assert_int_equal(apply(f, "refund", "stripe", "re_2", 1100, "usd", inv, NULL), PAYMENT_APPLIED);
    assert_status(f, inv, "refunded");
    assert_true(inv_col(f, "amount_refunded", inv) == 1500);
    assert_true(inv_col(f, "amount_paid", inv) == 1500);
    assert_true(audits(f, "PAYMENT_REFUNDED") == 2);
    assert_true(audits(f, "INVOICE_PAID") == 1);
}

static void chargeback_refunds_the_disputed_amount_and_reversal_restores(void **state)
{
    struct fixture *f = *state;
    seed(f, "manual");
    int64_t inv = add_invoice(f, 0);
    assert_int_equal(apply(f, "payment", "paypal", "CAP-1", 1500, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_int_equal(apply(f, "chargeback", "paypal", "PP-D-1", 1500, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_status(f, inv, "refunded");
    assert_true(audits(f, "PAYMENT_DISPUTED") == 1);
    assert_int_equal(apply(f, "chargeback_reversal", "paypal", "PP-D-1", 1500, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_status(f, inv, "paid");
    assert_true(inv_col(f, "amount_refunded", inv) == 0);
    assert_true(audits(f, "PAYMENT_DISPUTED") == 2);
    /* becoming paid again does not count as a second payment */
    assert_true(audits(f, "INVOICE_PAID") == 1);
}

static void cancel_only_unpaid_with_nothing_paid(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    seed(f, "manual");
    int64_t a = add_invoice(f, 0), b = add_invoice(f, 0);
    assert_int_equal(apply(f, "payment", "manual", "bank-1", 100, "usd", b, NULL), PAYMENT_APPLIED);
    assert_int_equal(invoices_cancel(f->db, &ACTOR, b, &err), LUMI_ECONFLICT);
    assert_status(f, b, "partially_paid");
    assert_int_equal(invoices_cancel(f->db, &ACTOR, a, &err), 0);
    assert_status(f, a, "cancelled");
    assert_true(audits(f, "INVOICE_CANCELLED") == 1);
    assert_int_equal(invoices_cancel(f->db, &ACTOR, a, &err), LUMI_ECONFLICT);
    assert_int_equal(invoices_cancel(f->db, &ACTOR, 9999, &err), LUMI_ENOTFOUND);
    /* a cancelled invoice refuses payments */
    assert_int_equal(apply(f, "payment", "manual", "bank-2", 1500, "usd", a, NULL),
                     PAYMENT_MISMATCH);
    assert_status(f, a, "cancelled");
}

static void paid_invoice_queues_provisioning_of_service_waiting_for_payment(void **state)
{
    struct fixture *f = *state;
    seed(f, "payment");
    int64_t svc = add_service(f, "pending", NULL);
    int64_t inv = add_invoice(f, svc);
    assert_int_equal(apply(f, "payment", "stripe", "ch_a", 1000, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs") == 0);
    assert_int_equal(apply(f, "payment", "stripe", "ch_b", 500, "usd", inv, NULL), PAYMENT_APPLIED);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'provision' AND status = 'queued'",
                              svc) == 1);
    /* a redelivery queues nothing more */
    assert_int_equal(apply(f, "payment", "stripe", "ch_b", 500, "usd", inv, NULL),
                     PAYMENT_DUPLICATE);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs") == 1);
}

static void paid_invoice_unsuspends_overdue_but_not_abuse(void **state)
{
    struct fixture *f = *state;
    seed(f, "order");
    int64_t overdue = add_service(f, "suspended", "overdue");
    int64_t abuse = add_service(f, "suspended", "abuse");
    int64_t i1 = add_invoice(f, overdue), i2 = add_invoice(f, abuse);
    assert_int_equal(apply(f, "payment", "manual", "r1", 1500, "usd", i1, NULL), PAYMENT_APPLIED);
    assert_int_equal(apply(f, "payment", "manual", "r2", 1500, "usd", i2, NULL), PAYMENT_APPLIED);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'unsuspend'",
                              overdue) == 1);
    assert_true(
        testdb_int64f(f->db, "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64, abuse) == 0);
}

static void chargeback_suspends_active_services_per_setting(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    seed(f, "order");
    int64_t a = add_service(f, "active", NULL), b = add_service(f, "active", NULL);
    int64_t ia = add_invoice(f, a), ib = add_invoice(f, b);
    assert_int_equal(apply(f, "payment", "stripe", "pi_a", 1500, "usd", ia, NULL), PAYMENT_APPLIED);
    assert_int_equal(apply(f, "payment", "stripe", "pi_b", 1500, "usd", ib, NULL), PAYMENT_APPLIED);

    /* Default: the disputed invoice's active service is queued for suspension, reason dispute. */
    assert_int_equal(apply(f, "chargeback", "stripe", "dp_a", 1500, "usd", ia, NULL),
                     PAYMENT_APPLIED);
    assert_true(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                      " AND action = 'suspend' AND status = 'queued' AND args LIKE '%%dispute%%'",
                      a) == 1);
    assert_true(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM audit_log WHERE action = 'SERVICE_SUSPEND_REQUESTED'"
                      " AND entity_id = '%" PRId64 "' AND details LIKE '%%chargeback%%'",
                      a) == 1);
    /* A redelivered dispute queues nothing more. */
    assert_int_equal(apply(f, "chargeback", "stripe", "dp_a", 1500, "usd", ia, NULL),
                     PAYMENT_DUPLICATE);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64, a) ==
                1);

    /* "none": the chargeback is recorded, the service is left alone. */
    testdb_exec(f->db, "INSERT INTO settings (key, value, updated_at) VALUES "
                       "('billing.dispute_action', 'none', '2026-01-01T00:00:00Z')");
    assert_int_equal(apply(f, "chargeback", "stripe", "dp_b", 700, "usd", ib, NULL),
                     PAYMENT_APPLIED);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64, b) ==
                0);

    /* A value Lumi does not know fails the movement; nothing of it is stored. */
    testdb_exec(f->db, "UPDATE settings SET value = 'maybe' WHERE key = 'billing.dispute_action'");
    struct payment_in p = {.kind = "chargeback",
                           .gateway = "stripe",
                           .gateway_ref = "dp_b2",
                           .amount = 100,
                           .currency = "usd",
                           .invoice_id = ib};
    struct payment_result res;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(payments_apply(f->db, &ACTOR, &p, &res, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "billing.dispute_action"));
    db_rollback(f->db);
    assert_true(
        testdb_int64f(f->db, "SELECT COUNT(*) FROM transactions WHERE gateway_ref = 'dp_b2'") == 0);
}

static void failure_rolls_everything_back(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct payment_result res;
    seed(f, "payment");
    int64_t svc = add_service(f, "pending", NULL);
    int64_t inv = add_invoice(f, svc);
    int64_t audit_before = testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log");
    /* queueing the provision job fails: the payment must not stay half-applied */
    testdb_exec(f->db, "ALTER TABLE jobs RENAME TO jobs_away");
    struct payment_in p = {.kind = "payment",
                           .gateway = "stripe",
                           .gateway_ref = "ch_fail",
                           .amount = 1500,
                           .currency = "usd",
                           .invoice_id = inv};
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_true(payments_apply(f->db, &ACTOR, &p, &res, &err) < 0);
    db_rollback(f->db);
    testdb_exec(f->db, "ALTER TABLE jobs_away RENAME TO jobs");
    assert_status(f, inv, "unpaid");
    assert_true(inv_col(f, "amount_paid", inv) == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log") == audit_before);
    /* an unknown invoice and bad input are errors, not outcomes */
    p.invoice_id = 424242;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(payments_apply(f->db, &ACTOR, &p, &res, &err), LUMI_ENOTFOUND);
    db_rollback(f->db);
    p.invoice_id = inv;
    p.amount = 0;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(payments_apply(f->db, &ACTOR, &p, &res, &err), LUMI_EINVAL);
    db_rollback(f->db);
    p.amount = 1500;
    /* outside a transaction it refuses to run */
    assert_int_equal(payments_apply(f->db, &ACTOR, &p, &res, &err), LUMI_EINTERNAL);
    /* and after all that the retry applies once */
    assert_int_equal(apply(f, "payment", "stripe", "ch_fail", 1500, "usd", inv, NULL),
                     PAYMENT_APPLIED);
    assert_status(f, inv, "paid");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs") == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(partial_then_full_payment_marks_paid_once, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_reference_counts_once, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_currency_is_a_mismatch_and_overpayment_goes_to_credit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(refunds_partial_then_full, setup, teardown),
        cmocka_unit_test_setup_teardown(
            chargeback_refunds_the_disputed_amount_and_reversal_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(chargeback_suspends_active_services_per_setting, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_only_unpaid_with_nothing_paid, setup, teardown),
        cmocka_unit_test_setup_teardown(
            paid_invoice_queues_provisioning_of_service_waiting_for_payment, setup, teardown),
        cmocka_unit_test_setup_teardown(paid_invoice_unsuspends_overdue_but_not_abuse, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failure_rolls_everything_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
