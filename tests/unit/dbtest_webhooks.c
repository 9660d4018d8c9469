/*
 * dbtest_webhooks.c — Stripe and PayPal events applied exactly once, inside
 * the caller's transaction: a completed checkout pays once however often it
 * is delivered and whichever twin (webhook / return path) comes second; a
 * refund arriving before its payment asks for a retry and stores nothing;
 * cumulative refunds out of order record the right total; completion after
 * expiry still pays; wrong currency, wrong amount and unknown invoices fail
 * with PAYMENT_MISMATCH and leave the invoice unpaid; foreign and unknown
 * events are ignored; disputes become chargebacks; PayPal captures,
 * denials, pending captures, refunds and reversals; a rolled-back caller
 * leaves no trace so a redelivery applies. Events are built as JSON of the
 * gateways' shapes. Runs on SQLite and PostgreSQL.
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
#include "billing/webhooks.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/utc.h"
#include "support/testdb.h"

static const struct audit_actor STRIPE = {"gateway", "stripe", NULL, "192.0.2.9", "Stripe/1.0"};
static const struct audit_actor PAYPAL = {"gateway", "paypal", NULL, "192.0.2.10", "PayPal/1.0"};
static const struct audit_actor ADMIN = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

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

static int64_t audits(struct fixture *f, const char *action)
{
    return testdb_int64f(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = '%s'", action);
}

static void execf(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void execf(struct fixture *f, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof sql);
    testdb_exec(f->db, sql);
}

/* An invoice of 1500 usd with one item. */
static int64_t add_invoice(struct fixture *f)
{
    struct lumi_err err;
    int64_t id = 0;
    struct invoice_item_in item = {
        .description = "VPS Small", .quantity = 1, .unit_amount = 1500, .kind = "other"};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ADMIN, f->client, "usd", "2026-02-01T00:00:00Z", &item, 1, &id,
                        &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

static void add_checkout(struct fixture *f, int64_t inv, const char *gateway, const char *ref)
{
    execf(f,
          "INSERT INTO checkouts (invoice_id, gateway, gateway_ref, url, status, amount, currency,"
          " created_at, updated_at) VALUES (%" PRId64 ", '%s', '%s', 'https://pay.test/x', 'open',"
          " 1500, 'usd', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
          inv, gateway, ref);
}

static void assert_invoice(struct fixture *f, int64_t id, const char *status, int64_t paid,
                           int64_t refunded)
{
    int64_t n =
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64 " AND status = '%s'"
                      " AND amount_paid = %" PRId64 " AND amount_refunded = %" PRId64,
                      id, status, paid, refunded);
    if (n != 1)
        fail_msg("invoice %" PRId64 " is not %s/%" PRId64 "/%" PRId64 " (status %s)", id, status,
                 paid, refunded, "see db");
}

static int64_t event_rows(struct fixture *f, const char *status)
{
    return testdb_int64f(f->db, "SELECT COUNT(*) FROM webhook_events WHERE status = '%s'", status);
}

static json_t *stripe_session_ev(const char *evt, const char *type, const char *cs, const char *pi,
                                 const char *invoice, int64_t amount, const char *currency,
                                 const char *payment_status)
{
    json_t *meta = invoice != NULL ? json_pack("{s:s}", "invoice_id", invoice) : json_object();
    json_t *obj = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:s?, s:I}", "id", cs, "object", "checkout.session",
        "status", strcmp(type, "checkout.session.expired") == 0 ? "expired" : "complete",
        "payment_status", payment_status, "amount_total", (json_int_t)amount, "currency", currency,
        "metadata", meta, "payment_intent", pi, "expires_at", (json_int_t)1900000000);
    assert_non_null(obj);
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:I, s:b, s:{s:o}}", "id", evt, "object", "event", "type", type,
                  "created", (json_int_t)utc_now(), "livemode", 0, "data", "object", obj);
    assert_non_null(ev);
    return ev;
}

static json_t *stripe_obj_ev(const char *evt, const char *type, int64_t created, json_t *obj)
{
    assert_non_null(obj);
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:I, s:b, s:{s:o}}", "id", evt, "object", "event", "type", type,
                  "created", (json_int_t)created, "livemode", 0, "data", "object", obj);
    assert_non_null(ev);
    return ev;
}

static json_t *refund_ev(const char *evt, const char *charge, const char *pi, int64_t cumulative,
                         int64_t created)
{
    return stripe_obj_ev(evt, "charge.refunded", created,
                         json_pack("{s:s, s:s, s:I, s:I, s:b, s:s, s:s}", "id", charge, "object",
                                   "charge", "amount", (json_int_t)1500, "amount_refunded",
                                   (json_int_t)cumulative, "refunded", cumulative == 1500,
                                   "currency", "usd", "payment_intent", pi));
}

/* Applies ev in its own transaction (rolled back on "retry"); returns the outcome. */
static struct webhook_outcome run(struct fixture *f, const char *gateway, json_t *ev,
                                  const json_t *prepared)
{
    struct lumi_err err;
    struct webhook_outcome out;
    char *raw = json_dumps(ev, JSON_COMPACT);
    int rc;
    assert_non_null(raw);
    memset(&out, 0, sizeof out);
    assert_int_equal(db_begin(f->db, &err), 0);
    if (strcmp(gateway, "stripe") == 0)
        rc = webhooks_stripe_apply(f->db, &STRIPE, ev, raw, strlen(raw), &out, &err);
    else
        rc = webhooks_paypal_apply(f->db, &PAYPAL, ev, raw, strlen(raw), prepared, &out, &err);
    if (rc != 0)
        fail_msg("apply: %s", err.msg);
    if (strcmp(out.status, "retry") == 0)
        db_rollback(f->db);
    else
        assert_int_equal(db_commit(f->db, &err), 0);
    free(raw);
    json_decref(ev);
    return out;
}

static void completed_pays_once_across_redeliveries_and_twins(void **state)
{
    struct fixture *f = *state;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    add_checkout(f, inv, "stripe", "cs_test_1");
    for (int i = 0; i < 5; i++) {
        struct webhook_outcome o =
            run(f, "stripe",
                stripe_session_ev("evt_1", "checkout.session.completed", "cs_test_1", "pi_1", inv_s,
                                  1500, "usd", "paid"),
                NULL);
        assert_string_equal(o.status, i == 0 ? "processed" : "duplicate");
        assert_true(o.invoice_id == (i == 0 ? inv : 0));
    }
    assert_invoice(f, inv, "paid", 1500, 0);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM transactions WHERE gateway = 'stripe' AND "
                              "kind = 'payment' AND gateway_ref = 'pi_1' AND amount = 1500") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_events") == 1);
    assert_true(event_rows(f, "processed") == 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM webhook_events WHERE processed_at IS NOT NULL"
                              " AND error IS NULL AND payload LIKE '%%cs_test_1%%'") == 1);
    assert_true(audits(f, "INVOICE_PAID") == 1);
    assert_true(audits(f, "PAYMENT_RECEIVED") == 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_RECEIVED'"
                              " AND actor_type = 'gateway' AND actor_id = 'stripe'") == 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM checkouts WHERE gateway_ref = 'cs_test_1' "
                              "AND status = 'complete'") == 1);
    /* the twin: another event for the same PaymentIntent changes nothing */
    struct webhook_outcome o =
        run(f, "stripe",
            stripe_session_ev("evt_2", "checkout.session.async_payment_succeeded", "cs_test_1",
                              "pi_1", inv_s, 1500, "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_non_null(strstr(o.message, "already recorded"));
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 1);
    assert_true(audits(f, "PAYMENT_MISMATCH") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_events") == 2);
    assert_invoice(f, inv, "paid", 1500, 0);
}

static void refund_before_completion_retries_then_applies(void **state)
{
    struct fixture *f = *state;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    struct webhook_outcome o =
        run(f, "stripe", refund_ev("evt_r1", "ch_1", "pi_9", 500, utc_now()), NULL);
    assert_string_equal(o.status, "retry");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_events") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 0);
    /* too old to be early: recorded as failed */
    o = run(f, "stripe", refund_ev("evt_r_old", "ch_1", "pi_9", 500, utc_now() - 4 * 86400), NULL);
    assert_string_equal(o.status, "failed");
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM webhook_events WHERE event_id = 'evt_r_old' "
                              "AND status = 'failed' AND error LIKE '%%pi_9%%'") == 1);

    o = run(f, "stripe",
            stripe_session_ev("evt_c", "checkout.session.completed", "cs_9", "pi_9", inv_s, 1500,
                              "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "paid", 1500, 0);
    o = run(f, "stripe", refund_ev("evt_r1", "ch_1", "pi_9", 500, utc_now()), NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "partially_refunded", 1500, 500);
    assert_true(audits(f, "PAYMENT_REFUNDED") == 1);
    o = run(f, "stripe", refund_ev("evt_r2", "ch_1", "pi_9", 1500, utc_now()), NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "refunded", 1500, 1500);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM transactions WHERE kind = 'refund' AND "
                                     "gateway_ref = 'ch_1:refunded:1500' AND amount = 1000") == 1);
}

static void cumulative_refunds_out_of_order_record_the_total(void **state)
{
    struct fixture *f = *state;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    run(f, "stripe",
        stripe_session_ev("evt_c", "checkout.session.completed", "cs_5", "pi_5", inv_s, 1500, "usd",
                          "paid"),
        NULL);
    struct webhook_outcome o =
        run(f, "stripe", refund_ev("evt_r1000", "ch_5", "pi_5", 1000, utc_now()), NULL);
    assert_string_equal(o.status, "processed");
    o = run(f, "stripe", refund_ev("evt_r500", "ch_5", "pi_5", 500, utc_now()), NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "partially_refunded", 1500, 1000);
    assert_true(testdb_int64f(f->db,
                              "SELECT COALESCE(SUM(amount), 0) FROM transactions WHERE kind = "
                              "'refund'") == 1000);
    assert_true(audits(f, "PAYMENT_REFUNDED") == 1);
}

static void completion_after_expiry_still_pays(void **state)
{
    struct fixture *f = *state;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    add_checkout(f, inv, "stripe", "cs_e");
    struct webhook_outcome o = run(f, "stripe",
                                   stripe_session_ev("evt_x", "checkout.session.expired", "cs_e",
                                                     NULL, inv_s, 1500, "usd", "unpaid"),
                                   NULL);
    assert_string_equal(o.status, "processed");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM checkouts WHERE status = 'expired'") ==
                1);
    o = run(f, "stripe",
            stripe_session_ev("evt_y", "checkout.session.completed", "cs_e", "pi_e", inv_s, 1500,
                              "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "paid", 1500, 0);
    o = run(f, "stripe",
            stripe_session_ev("evt_z", "checkout.session.expired", "cs_e", NULL, inv_s, 1500, "usd",
                              "unpaid"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM checkouts WHERE status = 'complete'") ==
                1);
}

static void mismatches_fail_and_leave_the_invoice_unpaid(void **state)
{
    struct fixture *f = *state;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    add_checkout(f, inv, "stripe", "cs_m1");
    struct webhook_outcome o = run(f, "stripe",
                                   stripe_session_ev("evt_m1", "checkout.session.completed",
                                                     "cs_m1", "pi_m1", inv_s, 1500, "eur", "paid"),
                                   NULL);
    assert_string_equal(o.status, "failed");
    assert_true(audits(f, "PAYMENT_MISMATCH") == 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM webhook_events WHERE event_id = 'evt_m1' AND "
                              "status = 'failed' AND error LIKE '%%eur%%'") == 1);
    o = run(f, "stripe",
            stripe_session_ev("evt_m2", "checkout.session.completed", "cs_m2", "pi_m2", inv_s, 1000,
                              "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "failed");
    assert_non_null(strstr(o.message, "does not settle"));
    assert_true(audits(f, "PAYMENT_MISMATCH") == 2);
    assert_invoice(f, inv, "unpaid", 0, 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM checkouts WHERE status = 'failed'") == 1);
    /* no such invoice */
    o = run(f, "stripe",
            stripe_session_ev("evt_m3", "checkout.session.completed", "cs_m3", "pi_m3", "999999",
                              1500, "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "failed");
    assert_string_equal(o.message, "invoice 999999 does not exist");
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_MISMATCH'"
                              " AND entity = 'invoice' AND entity_id = '999999'") == 1);
    /* not ours, and not a type Lumi uses */
    o = run(f, "stripe",
            stripe_session_ev("evt_m4", "checkout.session.completed", "cs_m4", "pi_m4", NULL, 1500,
                              "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "ignored");
    o = run(f, "stripe",
            stripe_obj_ev("evt_m5", "customer.created", utc_now(),
                          json_pack("{s:s, s:s}", "id", "cus_1", "object", "customer")),
            NULL);
    assert_string_equal(o.status, "ignored");
    assert_true(event_rows(f, "ignored") == 2);
    assert_true(event_rows(f, "failed") == 3);
    /* the buyer paid asynchronously: completed-unpaid waits, async failure is recorded */
    o = run(f, "stripe",
            stripe_session_ev("evt_m6", "checkout.session.completed", "cs_m6", "pi_m6", inv_s, 1500,
                              "usd", "unpaid"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_string_equal(o.message, "awaiting the asynchronous payment");
    o = run(f, "stripe",
            stripe_session_ev("evt_m7", "checkout.session.async_payment_failed", "cs_m6", "pi_m6",
                              inv_s, 1500, "usd", "unpaid"),
            NULL);
    assert_string_equal(o.status, "processed");
    o = run(f, "stripe",
            stripe_obj_ev("evt_m8", "payment_intent.payment_failed", utc_now(),
                          json_pack("{s:s, s:s, s:I, s:s, s:{s:s}, s:{s:s}}", "id", "pi_m8",
                                    "object", "payment_intent", "amount", (json_int_t)1500,
                                    "currency", "usd", "metadata", "invoice_id", inv_s,
                                    "last_payment_error", "message", "Your card was declined.")),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_true(audits(f, "PAYMENT_FAILED") == 2);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_FAILED' "
                              "AND details LIKE '%%Your card was declined.%%'") == 1);
    assert_invoice(f, inv, "unpaid", 0, 0);
}

static void dispute_becomes_a_chargeback(void **state)
{
    struct fixture *f = *state;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    run(f, "stripe",
        stripe_session_ev("evt_c", "checkout.session.completed", "cs_d", "pi_d", inv_s, 1500, "usd",
                          "paid"),
        NULL);
    struct webhook_outcome o =
        run(f, "stripe",
            stripe_obj_ev("evt_d1", "charge.dispute.created", utc_now(),
                          json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "id", "dp_1", "object",
                                    "dispute", "amount", (json_int_t)1500, "currency", "usd",
                                    "payment_intent", "pi_d", "reason", "fraudulent", "status",
                                    "needs_response")),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "refunded", 1500, 1500);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM transactions WHERE kind = 'chargeback' AND "
                              "gateway_ref = 'dp_1'") == 1);
    assert_true(audits(f, "PAYMENT_DISPUTED") == 1);
    o = run(f, "stripe",
            stripe_obj_ev("evt_d2", "charge.dispute.created", utc_now(),
                          json_pack("{s:s, s:I, s:s, s:s}", "id", "dp_2", "amount", (json_int_t)100,
                                    "currency", "usd", "payment_intent", "pi_unknown")),
            NULL);
    assert_string_equal(o.status, "retry");
}

static void rollback_of_the_caller_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct webhook_outcome o;
    char inv_s[24];
    int64_t inv = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    json_t *ev = stripe_session_ev("evt_rb", "checkout.session.completed", "cs_rb", "pi_rb", inv_s,
                                   1500, "usd", "paid");
    /* outside a transaction it refuses */
    assert_int_equal(webhooks_stripe_apply(f->db, &STRIPE, ev, "{}", 2, &o, &err), LUMI_EINTERNAL);
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(webhooks_stripe_apply(f->db, &STRIPE, ev, "{}", 2, &o, &err), 0);
    assert_string_equal(o.status, "processed");
    db_rollback(f->db);
    json_decref(ev);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_events") == 0);
    assert_invoice(f, inv, "unpaid", 0, 0);
    o = run(f, "stripe",
            stripe_session_ev("evt_rb", "checkout.session.completed", "cs_rb", "pi_rb", inv_s, 1500,
                              "usd", "paid"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "paid", 1500, 0);
    /* a body that is no event is refused */
    ev = json_pack("{s:s}", "type", "charge.refunded");
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(webhooks_stripe_apply(f->db, &STRIPE, ev, "{}", 2, &o, &err), LUMI_EINVAL);
    db_rollback(f->db);
    json_decref(ev);
}

/* ---- PayPal ---- */

static json_t *capture_ev(const char *evt, const char *type, const char *cap, const char *status,
                          const char *value, const char *currency, const char *custom_id,
                          const char *order)
{
    json_t *res =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s?, s:b, s:{s:{s:s}}, s:{s:s}, s:[{s:s, s:s}]}", "id",
                  cap, "status", status, "amount", "currency_code", currency, "value", value,
                  "custom_id", custom_id, "final_capture", 1, "supplementary_data", "related_ids",
                  "order_id", order, "status_details", "reason", "PENDING_REVIEW", "links", "href",
                  "https://api.paypal.com/v2/checkout/orders/x", "rel", "up");
    assert_non_null(res);
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", evt, "event_type", type,
                           "create_time", now, "resource_type", "capture", "resource", res);
    assert_non_null(ev);
    return ev;
}

static json_t *refund_pp_ev(const char *evt, const char *type, const char *refund,
                            const char *value, const char *capture, const char *create_time)
{
    char up[256];
    snprintf(up, sizeof up, "https://api.paypal.com/v2/payments/captures/%s", capture);
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}}",
        "id", evt, "event_type", type, "create_time", create_time, "resource_type", "refund",
        "resource", "id", refund, "status", "COMPLETED", "amount", "currency_code", "USD", "value",
        value, "links", "href", "https://api.paypal.com/v2/payments/refunds/r", "rel", "self",
        "method", "GET", "href", up, "rel", "up", "method", "GET");
    assert_non_null(ev);
    return ev;
}

static void paypal_capture_events(void **state)
{
    struct fixture *f = *state;
    char inv_s[24], now[UTC_ISO_LEN];
    int64_t inv = add_invoice(f);
    int64_t inv2 = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv);
    utc_now_iso(now);
    add_checkout(f, inv, "paypal", "ORDER1");
    struct webhook_outcome o = run(f, "paypal",
                                   capture_ev("WH-1", "PAYMENT.CAPTURE.PENDING", "CAP1", "PENDING",
                                              "15.00", "USD", inv_s, "ORDER1"),
                                   NULL);
    assert_string_equal(o.status, "processed");
    assert_string_equal(o.message, "pending: PENDING_REVIEW");
    assert_invoice(f, inv, "unpaid", 0, 0);
    /* a refund of a capture not recorded yet, delivered early → retry */
    o = run(f, "paypal",
            refund_pp_ev("WH-R0", "PAYMENT.CAPTURE.REFUNDED", "REF1", "5.00", "CAP1", now), NULL);
    assert_string_equal(o.status, "retry");
    for (int i = 0; i < 3; i++) {
        o = run(f, "paypal",
                capture_ev("WH-2", "PAYMENT.CAPTURE.COMPLETED", "CAP1", "COMPLETED", "15.00", "USD",
                           inv_s, "ORDER1"),
                NULL);
        assert_string_equal(o.status, i == 0 ? "processed" : "duplicate");
    }
    assert_invoice(f, inv, "paid", 1500, 0);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM transactions WHERE gateway = 'paypal' AND "
                              "kind = 'payment' AND gateway_ref = 'CAP1'") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM checkouts WHERE status = 'complete'") ==
                1);
    o = run(f, "paypal",
            refund_pp_ev("WH-R0", "PAYMENT.CAPTURE.REFUNDED", "REF1", "5.00", "CAP1", now), NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "partially_refunded", 1500, 500);
    o = run(f, "paypal",
            refund_pp_ev("WH-R0", "PAYMENT.CAPTURE.REFUNDED", "REF1", "5.00", "CAP1", now), NULL);
    assert_string_equal(o.status, "duplicate");
    o = run(f, "paypal",
            refund_pp_ev("WH-V1", "PAYMENT.CAPTURE.REVERSED", "REV1", "10.00", "CAP1", now), NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "refunded", 1500, 1500);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM transactions WHERE kind = 'chargeback' AND "
                              "gateway_ref = 'REV1' AND amount = 1000") == 1);
    assert_true(audits(f, "PAYMENT_DISPUTED") == 1);
    /* an old refund of an unknown capture is a failure, not a retry */
    o = run(f, "paypal",
            refund_pp_ev("WH-R9", "PAYMENT.CAPTURE.REFUNDED", "REF9", "5.00", "CAPX",
                         "2020-01-01T00:00:00Z"),
            NULL);
    assert_string_equal(o.status, "failed");

    /* a denial; then a completion found through the order's checkout (no custom_id) */
    add_checkout(f, inv2, "paypal", "ORDER2");
    o = run(f, "paypal",
            capture_ev("WH-3", "PAYMENT.CAPTURE.DENIED", "CAP2", "DECLINED", "15.00", "USD", NULL,
                       "ORDER2"),
            NULL);
    assert_string_equal(o.status, "failed");
    assert_true(o.invoice_id == inv2);
    assert_true(audits(f, "PAYMENT_FAILED") == 1);
    assert_invoice(f, inv2, "unpaid", 0, 0);
    o = run(f, "paypal",
            capture_ev("WH-4", "PAYMENT.CAPTURE.COMPLETED", "CAP3", "COMPLETED", "15.00", "USD",
                       NULL, "ORDER2"),
            NULL);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv2, "paid", 1500, 0);
    /* wrong amount, unknown order, unknown type */
    int64_t inv3 = add_invoice(f);
    snprintf(inv_s, sizeof inv_s, "%" PRId64, inv3);
    o = run(f, "paypal",
            capture_ev("WH-5", "PAYMENT.CAPTURE.COMPLETED", "CAP5", "COMPLETED", "14.99", "USD",
                       inv_s, "ORDER5"),
            NULL);
    assert_string_equal(o.status, "failed");
    assert_invoice(f, inv3, "unpaid", 0, 0);
    o = run(f, "paypal",
            capture_ev("WH-6", "PAYMENT.CAPTURE.COMPLETED", "CAP6", "COMPLETED", "15.00", "USD",
                       NULL, "ORDER_UNKNOWN"),
            NULL);
    assert_string_equal(o.status, "ignored");
    o = run(f, "paypal",
            capture_ev("WH-7", "CUSTOMER.DISPUTE.CREATED", "CAP6", "COMPLETED", "15.00", "USD",
                       NULL, "ORDER_UNKNOWN"),
            NULL);
    assert_string_equal(o.status, "ignored");
    /* an approved order whose server-side capture failed (prepared carries the failure) */
    json_t *prep = json_pack("{s:s, s:s}", "error", "the buyer did not approve the order", "issue",
                             "ORDER_NOT_APPROVED");
    o = run(f, "paypal",
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", "WH-8", "event_type",
                      "CHECKOUT.ORDER.APPROVED", "create_time", now, "resource", "id", "ORDER5",
                      "status", "APPROVED"),
            prep);
    json_decref(prep);
    assert_string_equal(o.status, "failed");
    assert_non_null(strstr(o.message, "ORDER_NOT_APPROVED"));
    /* an approved order captured by prepare pays like the capture call */
    prep = json_pack("{s:s, s:s, s:[{s:s, s:{s:[{s:s, s:s, s:{s:s, s:s}, s:s}]}}]}", "id", "ORDER5",
                     "status", "COMPLETED", "purchase_units", "custom_id", inv_s, "payments",
                     "captures", "id", "CAP5B", "status", "COMPLETED", "amount", "currency_code",
                     "USD", "value", "15.00", "custom_id", inv_s);
    o = run(f, "paypal",
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", "WH-9", "event_type",
                      "CHECKOUT.ORDER.APPROVED", "create_time", now, "resource", "id", "ORDER5",
                      "status", "APPROVED"),
            prep);
    json_decref(prep);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv3, "paid", 1500, 0);
    /* the listing shows what arrived, newest first */
    struct lumi_err err;
    int64_t next = 0;
    json_t *list = webhooks_list(f->db, "paypal", "failed", 0, 2, &next, &err);
    if (list == NULL)
        fail_msg("webhooks_list: %s", err.msg);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "event_id")),
                        "WH-8");
    assert_true(next > 0);
    json_decref(list);
    list = webhooks_list(f->db, "paypal", "failed", next, 2, &next, &err);
    assert_non_null(list);
    assert_true(json_array_size(list) >= 1);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(completed_pays_once_across_redeliveries_and_twins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refund_before_completion_retries_then_applies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cumulative_refunds_out_of_order_record_the_total, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(completion_after_expiry_still_pays, setup, teardown),
        cmocka_unit_test_setup_teardown(mismatches_fail_and_leave_the_invoice_unpaid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dispute_becomes_a_chargeback, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_of_the_caller_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(paypal_capture_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
