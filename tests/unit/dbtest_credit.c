/*
 * dbtest_credit.c — the credit balance and its ledger (billing/credit.c,
 * billing/credit_apply.c): every change is one ledger row with the balance
 * after it and one audit row; a spend larger than the balance is refused and
 * changes nothing; the same (transaction, kind) is recorded once; 4 threads
 * spending at once never overdraw and the sums agree; 4 threads paying
 * invoices from one balance apply exactly what it held; credit that pays an
 * invoice in full marks it paid by the payment path and queues provisioning;
 * an add-funds invoice paid becomes credit. Runs on SQLite and PostgreSQL.
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

#include "audit/audit.h"
#include "billing/credit.h"
#include "billing/credit_apply.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "support/testdb.h"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

#define THREADS 4
#define SPENDS_PER_THREAD 50
#define SPEND 7
#define START_BALANCE 1000

struct fixture {
    char *url;
    struct db *db;
    int64_t client, product, server;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "credit@example.com");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t balance(struct fixture *f)
{
    return testdb_int64f(f->db,
                         "SELECT COALESCE(SUM(balance), 0) FROM credit_balances WHERE client_id = "
                         "%" PRId64 " AND currency = 'usd'",
                         f->client);
}

/* One change in its own transaction; answers credit_change_in_tx's code. */
static int change(struct db *db, int64_t client, int64_t amount, int64_t tx_id, const char *kind)
{
    struct lumi_err err;
    struct credit_change c = {.client_id = client,
                              .currency = "USD",
                              .amount = amount,
                              .kind = kind,
                              .action = amount > 0 ? "CREDIT_ADDED" : "CREDIT_REMOVED",
                              .transaction_id = tx_id,
                              .note = "test"};
    if (db_begin(db, &err) != 0)
        return err.code;
    int rc = credit_change_in_tx(db, &ACTOR, &c, NULL, &err);
    if (rc >= 0 && db_commit(db, &err) == 0)
        return rc;
    db_rollback(db);
    return rc < 0 ? rc : err.code;
}

static int64_t add_invoice(struct fixture *f, int64_t service_id, int64_t amount)
{
    struct lumi_err err;
    int64_t id = 0;
    struct invoice_item_in item = {.description = "Game S",
                                   .quantity = 1,
                                   .unit_amount = amount,
                                   .service_id = service_id,
                                   .kind = "recurring",
                                   .period_start = "2026-02-01T00:00:00Z",
                                   .period_end = "2026-03-01T00:00:00Z"};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ACTOR, f->client, "usd", "2026-02-01T00:00:00Z", &item, 1, &id,
                        &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

static void ledger_rows_audits_and_refusals(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(change(f->db, f->client, 1000, 0, "admin"), 0);
    assert_int_equal(change(f->db, f->client, -300, 0, "admin"), 0);
    assert_true(balance(f) == 700);
    /* more than the balance: refused, nothing written */
    assert_int_equal(change(f->db, f->client, -701, 0, "admin"), LUMI_ECONFLICT);
    assert_true(balance(f) == 700);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger") == 2);
    assert_true(testdb_int64(f->db, "SELECT balance_after FROM credit_ledger ORDER BY id DESC "
                                    "LIMIT 1") == 700);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'CREDIT_ADDED' AND entity = 'client'") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'CREDIT_REMOVED'") == 1);
    /* a spend of a client without any balance row is refused too */
    int64_t other = testdb_add_client(f->db, "nobody@example.com");
    assert_int_equal(change(f->db, other, -1, 0, "admin"), LUMI_ECONFLICT);
    /* the same (transaction, kind) is recorded once */
    int64_t inv = add_invoice(f, 0, 100);
    testdb_exec(f->db, "INSERT INTO transactions (invoice_id, gateway, kind, gateway_ref, amount, "
                       "currency, status, created_at) SELECT id, 'manual', 'payment', 'x', 1, "
                       "'usd', 'applied', created_at FROM invoices");
    int64_t tx = testdb_int64(f->db, "SELECT id FROM transactions");
    assert_int_equal(change(f->db, f->client, 50, tx, "overpayment"), 0);
    assert_int_equal(change(f->db, f->client, 50, tx, "overpayment"), 1);
    assert_true(balance(f) == 750);
    (void)inv;
}

struct spender {
    const char *url;
    int64_t client;
    int ok, refused, failed;
};

static void *spend_thread(void *arg)
{
    struct spender *s = arg;
    struct lumi_err err;
    struct db *db = db_open(s->url, &err);
    if (db == NULL) {
        s->failed = SPENDS_PER_THREAD;
        return NULL;
    }
    for (int i = 0; i < SPENDS_PER_THREAD; i++) {
        int rc = change(db, s->client, -SPEND, 0, "admin");
        if (rc == 0)
            s->ok++;
        else if (rc == LUMI_ECONFLICT)
            s->refused++;
        else
            s->failed++;
    }
    db_close(db);
    return NULL;
}

static void concurrent_spends_never_overdraw(void **state)
{
    struct fixture *f = *state;
    pthread_t t[THREADS];
    struct spender s[THREADS];
    assert_int_equal(change(f->db, f->client, START_BALANCE, 0, "admin"), 0);
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct spender){f->url, f->client, 0, 0, 0};
        pthread_create(&t[i], NULL, spend_thread, &s[i]);
    }
    int ok = 0, refused = 0, failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += s[i].ok;
        refused += s[i].refused;
        failed += s[i].failed;
    }
    assert_int_equal(failed, 0);
    /* 200 tries of 7 against 1000: exactly 142 fit, every other one is refused */
    assert_int_equal(ok, START_BALANCE / SPEND);
    assert_int_equal(refused, THREADS * SPENDS_PER_THREAD - START_BALANCE / SPEND);
    assert_true(balance(f) == START_BALANCE % SPEND);
    assert_true(testdb_int64(f->db, "SELECT SUM(amount) FROM credit_ledger") == balance(f));
    assert_true(testdb_int64(f->db, "SELECT MIN(balance_after) FROM credit_ledger") >= 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger") == 1 + ok);
    /* balances after, newest last, step down by 7 with no repeat */
    assert_true(testdb_int64(f->db, "SELECT COUNT(DISTINCT balance_after) FROM credit_ledger") ==
                1 + ok);
}

struct applier {
    const char *url;
    int64_t invoice;
    int64_t applied;
    int failed;
};

static void *apply_thread(void *arg)
{
    struct applier *a = arg;
    struct lumi_err err;
    struct db *db = db_open(a->url, &err);
    if (db == NULL) {
        a->failed = 1;
        return NULL;
    }
    int rc = db_begin(db, &err);
    if (rc == 0)
        rc = credit_apply_in_tx(db, &ACTOR, a->invoice, &a->applied, &err);
    if (rc == 0)
        rc = db_commit(db, &err);
    if (rc != 0) {
        db_rollback(db);
        a->failed = 1;
        fprintf(stderr, "apply: %s\n", err.msg);
    }
    db_close(db);
    return NULL;
}

static void concurrent_applies_take_exactly_the_balance(void **state)
{
    struct fixture *f = *state;
    pthread_t t[THREADS];
    struct applier a[THREADS];
    assert_int_equal(change(f->db, f->client, 4000, 0, "admin"), 0);
    for (int i = 0; i < THREADS; i++)
        a[i] = (struct applier){f->url, add_invoice(f, 0, 1500), 0, 0};
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, apply_thread, &a[i]);
    int64_t applied = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failed, 0);
        applied += a[i].applied;
    }
    assert_true(applied == 4000);
    assert_true(balance(f) == 0);
    assert_true(testdb_int64(f->db, "SELECT SUM(credit_applied) FROM invoices") == 4000);
    assert_true(testdb_int64(f->db, "SELECT SUM(amount_paid) FROM invoices") == 4000);
    assert_true(testdb_int64(f->db, "SELECT SUM(amount) FROM transactions WHERE gateway = "
                                    "'credit' AND kind = 'payment'") == 4000);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices WHERE status = 'paid'") == 2);
    /* every spend is tied to its payment */
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger WHERE kind = 'applied' "
                                    "AND transaction_id IS NULL") == 0);
}

static void credit_paying_in_full_provisions(void **state)
{
    struct fixture *f = *state;
    char sql[1024];
    struct lumi_err err;
    int64_t applied = 0;
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                       "'2026-01-01T00:00:00Z')");
    f->server = testdb_int64(f->db, "SELECT id FROM servers");
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', 'payment', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             f->server);
    testdb_exec(f->db, sql);
    f->product = testdb_int64(f->db, "SELECT id FROM products");
    snprintf(sql, sizeof sql,
             "INSERT INTO services (client_id, product_id, server_id, status, remote_key, "
             "billing_cycle, recurring_amount, currency, next_due_date, created_at, updated_at) "
             "VALUES (%" PRId64 ", %" PRId64 ", %" PRId64 ", 'pending', 'lumi-t-1', 'monthly', "
             "1500, 'usd', '2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             f->client, f->product, f->server);
    testdb_exec(f->db, sql);
    int64_t svc = testdb_int64(f->db, "SELECT id FROM services");
    int64_t inv = add_invoice(f, svc, 1500);
    assert_int_equal(change(f->db, f->client, 2000, 0, "admin"), 0);
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(credit_apply_in_tx(f->db, &ACTOR, inv, &applied, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    assert_true(applied == 1500);
    assert_true(balance(f) == 500);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                                     " AND status = 'paid' AND credit_applied = 1500 AND "
                                     "paid_at IS NOT NULL",
                              inv) == 1);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                                     " AND action = 'provision' AND status = 'queued'",
                              svc) == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'INVOICE_PAID'") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'CREDIT_APPLIED'") == 1);
    /* nothing due any more: applying again takes nothing */
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(credit_apply_in_tx(f->db, &ACTOR, inv, &applied, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    assert_true(applied == 0);
    assert_true(balance(f) == 500);
}

static void paid_add_funds_invoice_becomes_credit(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct payment_result res;
    json_t *body = json_pack("{s:I}", "amount", (json_int_t)2500);
    json_t *inv = credit_add_funds(f->db, &ACTOR, f->client, body, &err);
    json_decref(body);
    if (inv == NULL)
        fail_msg("add funds: %s", err.msg);
    int64_t id = json_integer_value(json_object_get(inv, "id"));
    json_decref(inv);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                                     " AND kind = 'add_funds' AND total = 2500",
                              id) == 1);
    /* out of bounds */
    body = json_pack("{s:I}", "amount", (json_int_t)(CREDIT_FUNDS_MIN - 1));
    assert_null(credit_add_funds(f->db, &ACTOR, f->client, body, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
    json_decref(body);
    /* credit cannot pay an add-funds invoice */
    assert_int_equal(change(f->db, f->client, 5000, 0, "admin"), 0);
    assert_null(credit_apply_invoice(f->db, &ACTOR, id, 0, &err));
    assert_int_equal(err.code, LUMI_ECONFLICT);
    struct payment_in p = {.kind = "payment",
                           .gateway = "stripe",
                           .gateway_ref = "pi_funds",
                           .amount = 2500,
                           .currency = "usd",
                           .invoice_id = id};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(db_begin(f->db, &err), 0);
        assert_int_equal(payments_apply(f->db, &ACTOR, &p, &res, &err), 0);
        assert_int_equal(db_commit(f->db, &err), 0);
    }
    assert_true(balance(f) == 7500);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM credit_ledger WHERE kind = "
                                    "'add_funds'") == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ledger_rows_audits_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_spends_never_overdraw, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_applies_take_exactly_the_balance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(credit_paying_in_full_provisions, setup, teardown),
        cmocka_unit_test_setup_teardown(paid_add_funds_invoice_becomes_credit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
