/*
 * dbtest_checkout.c — paying an invoice through the gateways, against the
 * fake Stripe and PayPal over real HTTP: a Stripe start creates a session
 * with one line per item and records the checkout, a second start answers
 * the same session; the buyer's return pays the invoice and the completed
 * webhook after it changes nothing; another client's invoice is not found,
 * a paid one is a conflict, an unconfigured gateway is busy. PayPal: start,
 * a capture before approval fails without touching the invoice, after
 * approval it pays, a repeated capture and the webhook are no-ops. Runs on
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

#include "audit/audit.h"
#include "billing/checkout.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "billing/webhooks.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/utc.h"
#include "fakes/fake_http.h"
#include "fakes/fake_paypal.h"
#include "fakes/fake_stripe.h"
#include "support/testdb.h"

#define SK "sk_test_51Lumi0123456789abcdefSECRET"
#define WHSEC "whsec_test_secret"
#define PP_ID "client-id-lumi"
#define PP_SECRET "client-secret-lumi"
#define PP_WEBHOOK "WEBHOOK_ID"
#define BASE "https://lumi.test"

static const struct audit_actor BUYER = {"user", "2", "client@example.com", "192.0.2.20", NULL};
static const struct audit_actor GATEWAY = {"gateway", "stripe", NULL, "192.0.2.9", NULL};

struct fixture {
    char *url;
    struct db *db;
    int64_t client, other;
    struct fake_stripe *fs;
    struct fake_paypal *fp;
    struct stripe_conf sconf;
    struct paypal_client *pc;
    struct pay_ctx ctx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    /* The return token in success_url is signed with it. */
    setenv("LUMI_SECRET_KEY", "7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", 1);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "client@example.com");
    f->other = testdb_add_client(f->db, "other@example.com");
    f->fs = fake_stripe_start(SK, WHSEC);
    f->sconf = (struct stripe_conf){.api_base = fake_stripe_url(f->fs),
                                    .secret_key = SK,
                                    .timeout_ms = 5000,
                                    .max_attempts = 2,
                                    .backoff_ms = 5};
    f->fp = fake_paypal_start(PP_ID, PP_SECRET, PP_WEBHOOK);
    struct paypal_conf pconf = {.api_base = fake_paypal_url(f->fp),
                                .client_id = PP_ID,
                                .client_secret = PP_SECRET,
                                .webhook_id = PP_WEBHOOK,
                                .timeout_ms = 5000,
                                .max_attempts = 2,
                                .backoff_ms = 5};
    f->pc = paypal_client_new(&pconf);
    assert_non_null(f->pc);
    f->ctx = (struct pay_ctx){.base_url = BASE, .stripe = &f->sconf, .paypal = f->pc};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    paypal_client_free(f->pc);
    fake_paypal_stop(f->fp);
    fake_stripe_stop(f->fs);
    testdb_finish(f->db, f->url);
    free(f);
    return 0;
}

/* 1 × VPS Small at 1500 + 2 × Backups at 250 = 2000 usd for client. */
static int64_t add_invoice(struct fixture *f, int64_t client)
{
    struct lumi_err err;
    int64_t id = 0;
    struct invoice_item_in items[2] = {
        {.description = "VPS Small", .quantity = 1, .unit_amount = 1500, .kind = "other"},
        {.description = "Backups", .quantity = 2, .unit_amount = 250, .kind = "other"}};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &BUYER, client, "usd", "2026-02-01T00:00:00Z", items, 2, &id,
                        &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

static void assert_invoice(struct fixture *f, int64_t id, const char *status, int64_t paid)
{
    if (testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64 " AND status = '%s' AND "
                      "amount_paid = %" PRId64,
                      id, status, paid) != 1)
        fail_msg("invoice %" PRId64 " is not %s with %" PRId64 " paid", id, status, paid);
}

static void assert_form(const json_t *form, const char *key, const char *want)
{
    const char *got = json_string_value(json_object_get(form, key));
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("form %s: got '%s', want '%s'", key, got ? got : "(absent)", want);
}

/* Applies a webhook body in its own transaction. */
static struct webhook_outcome deliver(struct fixture *f, const char *gateway, char *body,
                                      const json_t *prepared)
{
    struct lumi_err err;
    struct webhook_outcome o;
    assert_non_null(body);
    json_t *ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &err);
    assert_non_null(ev);
    assert_int_equal(db_begin(f->db, &err), 0);
    int rc =
        strcmp(gateway, "stripe") == 0
            ? webhooks_stripe_apply(f->db, &GATEWAY, ev, body, strlen(body), &o, &err)
            : webhooks_paypal_apply(f->db, &GATEWAY, ev, body, strlen(body), prepared, &o, &err);
    if (rc != 0)
        fail_msg("apply: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    json_decref(ev);
    free(body);
    return o;
}

static void stripe_start_reuse_return_then_webhook(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct pay_outcome po;
    char want_key[64], want_success[160];
    int64_t inv = add_invoice(f, f->client);
    json_t *r = checkout_stripe_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    if (r == NULL)
        fail_msg("start: %s", err.msg);
    const char *sid = json_string_value(json_object_get(r, "session_id"));
    assert_non_null(sid);
    assert_non_null(strstr(json_string_value(json_object_get(r, "url")), "/pay/"));
    char session[128];
    snprintf(session, sizeof session, "%s", sid);
    json_decref(r);

    struct fake_recorded rec;
    assert_int_equal(
        fake_find_last(fake_stripe_server(f->fs), "POST", "/v1/checkout/sessions", &rec), 0);
    json_t *form = fake_stripe_form_decode(rec.body, strlen(rec.body));
    /* success_url carries the return token for this invoice (issue 17, finding 4). */
    snprintf(want_success, sizeof want_success, BASE "/client/invoices/%" PRId64 "?paid=stripe&rt=",
             inv);
    const char *success = json_string_value(json_object_get(form, "success_url"));
    assert_non_null(success);
    assert_true(strncmp(success, want_success, strlen(want_success)) == 0);
    const char *rt = success + strlen(want_success);
    const char *amp = strstr(rt, "&session_id={CHECKOUT_SESSION_ID}");
    assert_non_null(amp);
    char token[CHECKOUT_RETURN_TOKEN_MAX];
    assert_true((size_t)(amp - rt) < sizeof token);
    snprintf(token, sizeof token, "%.*s", (int)(amp - rt), rt);
    assert_true(checkout_return_token_ok(inv, token, utc_now()));
    assert_false(checkout_return_token_ok(inv + 1, token, utc_now()));
    assert_false(checkout_return_token_ok(inv, token, utc_now() + 3 * 86400)); /* expired */
    assert_form(form, "line_items[0][price_data][product_data][name]", "VPS Small");
    assert_form(form, "line_items[0][price_data][unit_amount]", "1500");
    assert_form(form, "line_items[1][price_data][product_data][name]", "Backups");
    assert_form(form, "line_items[1][quantity]", "2");
    assert_form(form, "customer_email", "client@example.com");
    assert_null(json_object_get(form, "line_items[2][quantity]"));
    json_decref(form);
    fake_recorded_free(&rec);
    struct fake_stripe_req req;
    assert_int_equal(fake_stripe_request(f->fs, 0, &req), 0);
    snprintf(want_key, sizeof want_key, "lumi-inv%" PRId64 "-due2000-n0", inv);
    assert_string_equal(req.idempotency_key, want_key);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM checkouts WHERE gateway = 'stripe' AND "
                              "gateway_ref = '%s' AND status = 'open' AND amount = 2000",
                              session) == 1);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                     "'CHECKOUT_CREATED'") == 1);

    /* a second click answers the same session without calling Stripe */
    r = checkout_stripe_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "session_id")), session);
    json_decref(r);
    assert_int_equal(fake_stripe_session_count(f->fs), 1);

    /* the buyer has not paid yet: the return waits */
    assert_int_equal(checkout_stripe_return(f->db, &f->ctx, &BUYER, inv, session, &po, &err), 0);
    assert_string_not_equal(po.result, "paid");
    assert_invoice(f, inv, "unpaid", 0);
    /* the return for another invoice is refused without asking Stripe (not its checkout) */
    size_t asked = fake_stripe_request_count(f->fs);
    assert_int_equal(checkout_stripe_return(f->db, &f->ctx, &BUYER, inv + 1, session, &po, &err),
                     LUMI_ENOTFOUND);
    assert_int_equal(fake_stripe_request_count(f->fs), asked);

    assert_int_equal(fake_stripe_complete(f->fs, session, true), 0);
    assert_int_equal(checkout_stripe_return(f->db, &f->ctx, &BUYER, inv, session, &po, &err), 0);
    assert_string_equal(po.result, "paid");
    assert_true(po.invoice_id == inv);
    assert_string_equal(po.invoice_status, "paid");
    assert_invoice(f, inv, "paid", 2000);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM checkouts WHERE status = 'complete'") ==
                1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM transactions WHERE gateway_ref LIKE "
                              "'pi_test_%%' AND details LIKE '%%%s%%'",
                              session) == 1);

    /* the webhook comes after: nothing more */
    struct webhook_outcome o = deliver(
        f, "stripe", fake_stripe_event_session(f->fs, "checkout.session.completed", session, NULL),
        NULL);
    assert_string_equal(o.status, "processed");
    assert_non_null(strstr(o.message, "already recorded"));
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 1);
    assert_true(
        testdb_int64f(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'INVOICE_PAID'") == 1);
    assert_int_equal(checkout_stripe_return(f->db, &f->ctx, &BUYER, inv, session, &po, &err), 0);
    assert_string_equal(po.result, "duplicate");
    /* then a partial refund through the webhook */
    o = deliver(f, "stripe", fake_stripe_event_refund(f->fs, session, 500, NULL), NULL);
    assert_string_equal(o.status, "processed");
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoices WHERE id = %" PRId64
                              " AND status = 'partially_refunded' AND amount_refunded = 500",
                              inv) == 1);

    /* paid invoice: nothing due */
    assert_null(checkout_stripe_start(f->db, &f->ctx, &BUYER, inv, f->client, &err));
    assert_int_equal(err.code, LUMI_ECONFLICT);
}

static void stripe_start_refusals(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t theirs = add_invoice(f, f->other);
    assert_null(checkout_stripe_start(f->db, &f->ctx, &BUYER, theirs, f->client, &err));
    assert_int_equal(err.code, LUMI_ENOTFOUND);
    assert_null(checkout_stripe_start(f->db, &f->ctx, &BUYER, 424242, f->client, &err));
    assert_int_equal(err.code, LUMI_ENOTFOUND);
    struct pay_ctx none = {.base_url = BASE};
    assert_null(checkout_stripe_start(f->db, &none, &BUYER, theirs, f->other, &err));
    assert_int_equal(err.code, LUMI_EBUSY);
    assert_string_equal(err.msg, "Stripe is not configured");
    assert_null(checkout_paypal_start(f->db, &none, &BUYER, theirs, f->other, &err));
    assert_int_equal(err.code, LUMI_EBUSY);
    /* Stripe failing is an upstream error with its message; nothing recorded */
    fake_stripe_fail_next(f->fs, 1, 400, 0);
    assert_null(checkout_stripe_start(f->db, &f->ctx, &BUYER, theirs, f->other, &err));
    assert_int_equal(err.code, LUMI_EUPSTREAM);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM checkouts") == 0);
    assert_int_equal(fake_stripe_session_count(f->fs), 0);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM invoices WHERE status = 'unpaid'") == 1);
}

static void paypal_start_capture_and_webhook(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct pay_outcome po;
    int64_t inv = add_invoice(f, f->client);
    json_t *r = checkout_paypal_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    if (r == NULL)
        fail_msg("start: %s", err.msg);
    char order[128];
    snprintf(order, sizeof order, "%s", json_string_value(json_object_get(r, "order_id")));
    assert_non_null(json_string_value(json_object_get(r, "url")));
    json_decref(r);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM checkouts WHERE gateway = 'paypal' AND "
                              "gateway_ref = '%s' AND status = 'open' AND amount = 2000",
                              order) == 1);
    /* a second click: the same order */
    r = checkout_paypal_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "order_id")), order);
    json_decref(r);
    assert_int_equal(fake_paypal_order_count(f->fp), 1);

    /* not approved yet: failed, invoice unchanged */
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err), 0);
    assert_string_equal(po.result, "failed");
    assert_non_null(strstr(po.message, "ORDER_NOT_APPROVED"));
    assert_true(po.invoice_id == inv);
    assert_invoice(f, inv, "unpaid", 0);

    assert_int_equal(fake_paypal_approve(f->fp, order), 0);
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err), 0);
    assert_string_equal(po.result, "paid");
    assert_string_equal(po.invoice_status, "paid");
    assert_invoice(f, inv, "paid", 2000);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM checkouts WHERE status = 'complete'") ==
                1);
    /* again: a no-op */
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err), 0);
    assert_string_equal(po.result, "duplicate");
    /* the webhook for the capture and the approval: nothing more */
    struct webhook_outcome o =
        deliver(f, "paypal",
                fake_paypal_event_capture(f->fp, "PAYMENT.CAPTURE.COMPLETED", order, NULL), NULL);
    assert_string_equal(o.status, "processed");
    char *body = fake_paypal_event_order_approved(f->fp, order, NULL);
    assert_non_null(body);
    json_t *ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &err);
    json_t *prepared = NULL;
    assert_int_equal(webhooks_paypal_prepare(&f->ctx, ev, &prepared, &err), 0);
    assert_non_null(prepared);
    json_decref(ev);
    o = deliver(f, "paypal", body, prepared);
    json_decref(prepared);
    assert_string_equal(o.status, "processed");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM transactions") == 1);
    assert_true(
        testdb_int64f(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'INVOICE_PAID'") == 1);
    /* unknown order */
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, "NOSUCHORDER", &po, &err),
                     LUMI_ENOTFOUND);
}

static void paypal_approved_webhook_captures(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t inv = add_invoice(f, f->client);
    json_t *r = checkout_paypal_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    assert_non_null(r);
    char order[128];
    snprintf(order, sizeof order, "%s", json_string_value(json_object_get(r, "order_id")));
    json_decref(r);
    assert_int_equal(fake_paypal_approve(f->fp, order), 0);
    /* the buyer never returns: the APPROVED webhook captures server-side */
    char *body = fake_paypal_event_order_approved(f->fp, order, NULL);
    json_t *ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &err);
    json_t *prepared = NULL;
    assert_int_equal(webhooks_paypal_prepare(&f->ctx, ev, &prepared, &err), 0);
    json_decref(ev);
    struct webhook_outcome o = deliver(f, "paypal", body, prepared);
    json_decref(prepared);
    assert_string_equal(o.status, "processed");
    assert_invoice(f, inv, "paid", 2000);
}

static void partly_paid_invoice_is_one_balance_line(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct payment_result res;
    char want[64];
    int64_t inv = add_invoice(f, f->client);
    struct payment_in p = {.kind = "payment",
                           .gateway = "manual",
                           .gateway_ref = "bank-1",
                           .amount = 500,
                           .currency = "usd",
                           .invoice_id = inv};
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(payments_apply(f->db, &BUYER, &p, &res, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    json_t *r = checkout_stripe_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    if (r == NULL)
        fail_msg("start: %s", err.msg);
    json_decref(r);
    struct fake_recorded rec;
    assert_int_equal(
        fake_find_last(fake_stripe_server(f->fs), "POST", "/v1/checkout/sessions", &rec), 0);
    json_t *form = fake_stripe_form_decode(rec.body, strlen(rec.body));
    json_t *inv_json = invoices_get(f->db, inv, &err);
    snprintf(want, sizeof want, "Balance of %s",
             json_string_value(json_object_get(inv_json, "number")));
    json_decref(inv_json);
    assert_form(form, "line_items[0][price_data][product_data][name]", want);
    assert_form(form, "line_items[0][price_data][unit_amount]", "1500");
    assert_form(form, "line_items[0][quantity]", "1");
    assert_null(json_object_get(form, "line_items[1][quantity]"));
    json_decref(form);
    fake_recorded_free(&rec);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM checkouts WHERE amount = 1500") == 1);
}

/* Starts a PayPal checkout for a new invoice and approves it; returns the invoice. */
static int64_t approved_order(struct fixture *f, char *order, size_t ordersz)
{
    struct lumi_err err;
    int64_t inv = add_invoice(f, f->client);
    json_t *r = checkout_paypal_start(f->db, &f->ctx, &BUYER, inv, f->client, &err);
    if (r == NULL)
        fail_msg("start: %s", err.msg);
    snprintf(order, ordersz, "%s", json_string_value(json_object_get(r, "order_id")));
    json_decref(r);
    assert_int_equal(fake_paypal_approve(f->fp, order), 0);
    return inv;
}

static void paypal_capture_declined_pending_refused(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct pay_outcome po;
    char order[128];
    int64_t inv = approved_order(f, order, sizeof order);
    fake_paypal_set_next_capture_status(f->fp, "DECLINED");
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err), 0);
    assert_string_equal(po.result, "failed");
    assert_true(po.invoice_id == inv);
    assert_invoice(f, inv, "unpaid", 0);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_FAILED' "
                              "AND entity_id = '%" PRId64 "'",
                              inv) == 1);

    inv = approved_order(f, order, sizeof order);
    fake_paypal_set_next_capture_status(f->fp, "PENDING");
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err), 0);
    assert_string_equal(po.result, "pending");
    assert_invoice(f, inv, "unpaid", 0);

    inv = approved_order(f, order, sizeof order);
    fake_paypal_decline_next_capture(f->fp);
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err), 0);
    assert_string_equal(po.result, "failed");
    assert_non_null(strstr(po.message, "INSTRUMENT_DECLINED"));
    assert_true(po.invoice_id == inv);
    assert_invoice(f, inv, "unpaid", 0);
    /* PayPal unreachable: an upstream error, nothing recorded */
    fake_fault(fake_paypal_http(f->fp), FAKE_FAULT_500, 10, 0, NULL);
    assert_int_equal(checkout_paypal_capture(f->db, &f->ctx, &BUYER, order, &po, &err),
                     LUMI_EUPSTREAM);
    assert_true(po.invoice_id == inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stripe_start_reuse_return_then_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(stripe_start_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(partly_paid_invoice_is_one_balance_line, setup, teardown),
        cmocka_unit_test_setup_teardown(paypal_start_capture_and_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(paypal_approved_webhook_captures, setup, teardown),
        cmocka_unit_test_setup_teardown(paypal_capture_declined_pending_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
