/*
 * bb_paypal.c — PayPal payments end to end through the real binary (`lumi
 * serve`) and a fake PayPal over real HTTP with real RSA signatures:
 * invoice → checkout (the order carries the invoice's items) → buyer approval
 * → the return to /api/paypal/capture → 303 to the invoice page, invoice paid
 * once however often the buyer comes back; a return before approval fails and
 * pays nothing; webhooks for an order already captured pay nothing twice, a
 * redelivery is a duplicate, a refund webhook refunds; an approved order whose
 * buyer never came back is captured by Lumi on CHECKOUT.ORDER.APPROVED; bad
 * deliveries (missing headers, a body changed after signing) answer 400 and
 * record nothing. Verification runs in mode `api` (the fake's
 * verify-webhook-signature decides) and, last, in mode `local` (the
 * certificate fetched over TLS from the fake). Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "fakes/fake_paypal.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5b1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PP_CLIENT "bb-paypal-client-id"
#define PP_SECRET "bb-paypal-client-secret"
#define PP_WEBHOOK "WH-BB-PAYPAL-0001"

struct ctx {
    struct fake_paypal *pp;
    int64_t client_id;
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int64_t payments_of(int64_t inv)
{
    return bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv);
}

static void assert_invoice(int64_t id, const char *status, int64_t paid, int64_t refunded)
{
    char path[64];
    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64, id);
    struct http_result r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    const json_t *inv = r.json;
    if (strcmp(bb_str(inv, "status"), status) != 0 || bb_int(inv, "amount_paid") != paid ||
        bb_int(inv, "amount_refunded") != refunded)
        fail_msg("invoice %" PRId64 ": want %s paid %" PRId64 " refunded %" PRId64
                 ", got %s paid %" PRId64 " refunded %" PRId64,
                 id, status, paid, refunded, bb_str(inv, "status"), bb_int(inv, "amount_paid"),
                 bb_int(inv, "amount_refunded"));
    http_result_free(&r);
}

/* An invoice of two items (amount_a + amount_b, USD), created through the admin API. */
static int64_t invoice2(int64_t amount_a, int64_t amount_b)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":["
             "{\"description\":\"Hosting\",\"quantity\":1,\"unit_amount\":%" PRId64 "},"
             "{\"description\":\"Backups\",\"quantity\":2,\"unit_amount\":%" PRId64 "}]}",
             C->client_id, amount_a, amount_b);
    return bb_create_ok("/api/admin/invoices", body);
}

/* POST /api/paypal/checkout {invoice_id}: copies the order id into out. */
static void checkout(int64_t invoice_id, char *out, size_t outsz)
{
    char body[64];
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", invoice_id);
    struct http_result r = bb_api("POST", "/api/paypal/checkout", body);
    if (r.status != 200)
        fail_msg("checkout: %ld %s", r.status, buf_cstr(&r.body));
    snprintf(out, outsz, "%s", bb_str(r.json, "order_id"));
    assert_true(out[0] != '\0');
    assert_true(strstr(bb_str(r.json, "url"), out) != NULL);
    http_result_free(&r);
}

/*
 * The buyer's return: GET /api/paypal/capture?token=order, which answers 303
 * to the invoice page with the outcome as a flash (never in the URL). The
 * buyer is not signed in here, so the invoice page sends them to the login
 * form, which shows the flash; answers the outcome the banner names.
 */
static void capture_return(int64_t inv, const char *order_id, char *result, size_t rsz)
{
    char path[300], flash[2048], jar[2100];
    snprintf(path, sizeof path, "/api/paypal/capture?token=%s", order_id);
    struct http_result r = browse(bb_base_url(), "GET", path, NULL, NULL, NULL);
    if (r.status != 303)
        fail_msg("capture: want 303, got %ld %s", r.status, buf_cstr(&r.body));
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    char want[128];
    snprintf(want, sizeof want, "/client/invoices/%" PRId64, inv);
    if (strcmp(loc, want) != 0)
        fail_msg("capture: Location %s, want %s", loc, want);
    free(loc);
    assert_true(browse_set_cookie_value(&r, "lumi_flash", flash, sizeof flash));
    http_result_free(&r);
    snprintf(jar, sizeof jar, "lumi_flash=%s", flash);
    r = browse(bb_base_url(), "GET", want, jar, NULL, NULL);
    assert_int_equal(r.status, 303); /* not signed in: to the login form, flash kept */
    struct http_result page = browse_follow(bb_base_url(), &r, jar);
    http_result_free(&r);
    const char *html = buf_cstr(&page.body);
    char text[400];
    if (browse_flash(html, "ok", text, sizeof text) && strstr(text, "invoice is paid"))
        snprintf(result, rsz, "paid");
    else if (browse_flash(html, "warn", text, sizeof text) && strstr(text, "being processed"))
        snprintf(result, rsz, "pending");
    else if (browse_flash(html, "error", text, sizeof text) && strstr(text, "did not go through"))
        snprintf(result, rsz, "failed");
    else if (browse_flash(html, "error", text, sizeof text) && strstr(text, "does not match"))
        snprintf(result, rsz, "mismatch");
    else
        snprintf(result, rsz, "unknown");
    http_result_free(&page);
}

/* The first capture id of the order as the fake shows it. */
static void capture_id_of(const char *order_id, char *out, size_t outsz)
{
    json_t *o = fake_paypal_order_json(C->pp, order_id);
    assert_non_null(o);
    const json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
    const json_t *cap =
        json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"), 0);
    snprintf(out, outsz, "%s", bb_str(cap, "id"));
    json_decref(o);
    assert_true(out[0] != '\0');
}

/* POSTs body to the webhook with the PAYPAL-* headers of sig (none when NULL). */
static struct http_result deliver_with(const char *body, const struct fake_paypal_sig *sig)
{
    char url[128];
    char h[5][PAYPAL_SIG_B64_MAX + 64];
    snprintf(url, sizeof url, "%s/api/paypal/webhook", bb_base_url());
    const char *headers[7] = {"Content-Type: application/json", NULL};
    if (sig != NULL) {
        struct paypal_sig_headers ph;
        fake_paypal_sig_headers(sig, &ph);
        snprintf(h[0], sizeof h[0], "PAYPAL-TRANSMISSION-ID: %s", ph.transmission_id);
        snprintf(h[1], sizeof h[1], "PAYPAL-TRANSMISSION-TIME: %s", ph.transmission_time);
        snprintf(h[2], sizeof h[2], "PAYPAL-CERT-URL: %s", ph.cert_url);
        snprintf(h[3], sizeof h[3], "PAYPAL-AUTH-ALGO: %s", ph.auth_algo);
        snprintf(h[4], sizeof h[4], "PAYPAL-TRANSMISSION-SIG: %s", ph.transmission_sig);
        for (int i = 0; i < 5; i++)
            headers[i + 1] = h[i];
        headers[6] = NULL;
    }
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        fail_msg("webhook: no answer");
    return r;
}

static struct http_result deliver(const char *body)
{
    struct fake_paypal_sig sig;
    assert_int_equal(fake_paypal_sign(C->pp, body, strlen(body), PP_WEBHOOK, &sig), 0);
    return deliver_with(body, &sig);
}

/* Delivers signed and expects status (and the answer's "status" when outcome is given). */
static void deliver_expect(const char *body, long status, const char *outcome)
{
    struct http_result r = deliver(body);
    if (r.status != status)
        fail_msg("delivery: want %ld, got %ld %s", status, r.status, buf_cstr(&r.body));
    if (outcome != NULL && strcmp(bb_str(r.json, "status"), outcome) != 0)
        fail_msg("delivery: want status %s, got %s", outcome, buf_cstr(&r.body));
    http_result_free(&r);
}

/* Whether the fake's verify-webhook-signature endpoint was called since the last clear. */
static bool api_verify_called(void)
{
    struct fake_recorded rec;
    if (fake_find_last(fake_paypal_http(C->pp), "POST",
                       "/v1/notifications/verify-webhook-signature", &rec) != 0)
        return false;
    fake_recorded_free(&rec);
    return true;
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->pp = fake_paypal_start(PP_CLIENT, PP_SECRET, PP_WEBHOOK);
    bb_init(SECRET_KEY);
    bb_env_add("PAYPAL_CLIENT_ID=%s", PP_CLIENT);
    bb_env_add("PAYPAL_CLIENT_SECRET=%s", PP_SECRET);
    bb_env_add("PAYPAL_WEBHOOK_ID=%s", PP_WEBHOOK);
    bb_env_add("PAYPAL_API_BASE=%s", fake_paypal_url(C->pp));
    bb_env_add("LUMI_CA_FILE=%s", fake_paypal_ca_file(C->pp));
    bb_env_add("PAYPAL_CERT_HOSTS=localhost");
    bb_env_add("PAYPAL_WEBHOOK_VERIFY=api");
    bb_token("paypal-test");
    bb_serve();
    C->client_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"grace@example.com\","
                                           "\"first_name\":\"Grace\",\"last_name\":\"H\"}");
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_paypal_stop(C->pp);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void checkout_approve_return_pays_once(void **state)
{
    (void)state;
    int64_t inv = invoice2(1200, 150); /* 1200 + 2 × 150 = 1500 */
    char oid[128], result[32];
    checkout(inv, oid, sizeof oid);

    /* The order carries the invoice: its items, their amounts and the total. */
    json_t *o = fake_paypal_order_json(C->pp, oid);
    assert_non_null(o);
    const json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
    const json_t *amount = json_object_get(pu, "amount");
    assert_string_equal(bb_str(amount, "currency_code"), "USD");
    assert_string_equal(bb_str(amount, "value"), "15.00");
    const json_t *items = json_object_get(pu, "items");
    assert_int_equal(json_array_size(items), 2);
    const json_t *it0 = json_array_get(items, 0), *it1 = json_array_get(items, 1);
    assert_string_equal(bb_str(it0, "name"), "Hosting");
    assert_string_equal(bb_str(json_object_get(it0, "unit_amount"), "value"), "12.00");
    assert_string_equal(bb_str(it1, "name"), "Backups");
    assert_string_equal(bb_str(it1, "quantity"), "2");
    assert_string_equal(bb_str(json_object_get(it1, "unit_amount"), "value"), "1.50");
    json_decref(o);
    assert_int_equal(fake_paypal_order_count(C->pp), 1);

    assert_int_equal(fake_paypal_approve(C->pp, oid), 0);
    capture_return(inv, oid, result, sizeof result);
    assert_string_equal(result, "paid");
    assert_invoice(inv, "paid", 1500, 0);
    assert_int_equal(payments_of(inv), 1);

    /* The buyer reloads the return page: still one payment. */
    capture_return(inv, oid, result, sizeof result);
    assert_invoice(inv, "paid", 1500, 0);
    assert_int_equal(payments_of(inv), 1);
}

static void return_before_approval_fails_and_pays_nothing(void **state)
{
    (void)state;
    int64_t inv = invoice2(800, 0);
    char oid[128], result[32];
    checkout(inv, oid, sizeof oid);
    capture_return(inv, oid, result, sizeof result);
    assert_string_equal(result, "failed");
    assert_invoice(inv, "unpaid", 0, 0);
    assert_int_equal(payments_of(inv), 0);

    /* An order Lumi never created: no redirect to anyone's invoice. */
    char url[200];
    snprintf(url, sizeof url, "%s/api/paypal/capture?token=NOSUCHORDER123", bb_base_url());
    struct http_result r;
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

static void webhooks_after_capture_then_refund(void **state)
{
    (void)state;
    int64_t inv = invoice2(2000, 0);
    char oid[128], result[32], cap[128];
    checkout(inv, oid, sizeof oid);
    fake_paypal_approve(C->pp, oid);
    capture_return(inv, oid, result, sizeof result);
    assert_string_equal(result, "paid");
    assert_invoice(inv, "paid", 2000, 0);

    /* PayPal's COMPLETED webhook for the capture Lumi already applied: nothing paid twice. */
    char *ev = fake_paypal_event_capture(C->pp, "PAYMENT.CAPTURE.COMPLETED", oid, NULL);
    assert_non_null(ev);
    deliver_expect(ev, 200, NULL);
    assert_invoice(inv, "paid", 2000, 0);
    assert_int_equal(payments_of(inv), 1);
    deliver_expect(ev, 200, "duplicate");
    assert_int_equal(payments_of(inv), 1);
    free(ev);

    /* A partial refund, then the rest. */
    capture_id_of(oid, cap, sizeof cap);
    char *refund =
        fake_paypal_event_refund(C->pp, "PAYMENT.CAPTURE.REFUNDED", cap, 500, "USD", NULL);
    assert_non_null(refund);
    deliver_expect(refund, 200, "processed");
    assert_invoice(inv, "partially_refunded", 2000, 500);
    deliver_expect(refund, 200, "duplicate");
    assert_invoice(inv, "partially_refunded", 2000, 500);
    free(refund);
    refund = fake_paypal_event_refund(C->pp, "PAYMENT.CAPTURE.REFUNDED", cap, 1500, "usd", NULL);
    deliver_expect(refund, 200, "processed");
    assert_invoice(inv, "refunded", 2000, 2000);
    free(refund);
}

static void order_approved_webhook_captures_server_side(void **state)
{
    (void)state;
    int64_t inv = invoice2(990, 0);
    char oid[128];
    checkout(inv, oid, sizeof oid);
    assert_int_equal(fake_paypal_approve(C->pp, oid), 0);
    /* The buyer closed the tab: only the webhook tells Lumi. */
    char *ev = fake_paypal_event_order_approved(C->pp, oid, NULL);
    assert_non_null(ev);
    deliver_expect(ev, 200, "processed");
    free(ev);
    assert_invoice(inv, "paid", 990, 0);
    assert_int_equal(payments_of(inv), 1);
    json_t *o = fake_paypal_order_json(C->pp, oid);
    assert_string_equal(bb_str(o, "status"), "COMPLETED");
    json_decref(o);

    /* The buyer's late return changes nothing. */
    char result[32];
    capture_return(inv, oid, result, sizeof result);
    assert_invoice(inv, "paid", 990, 0);
    assert_int_equal(payments_of(inv), 1);
}

static void declined_and_pending_captures_through_http(void **state)
{
    (void)state;
    char oid[128], result[32];

    /* The card is declined at capture (422 INSTRUMENT_DECLINED): nothing is paid, the failure
     * is audited, and the buyer can try again with the same order. */
    int64_t inv = invoice2(900, 0);
    checkout(inv, oid, sizeof oid);
    assert_int_equal(fake_paypal_approve(C->pp, oid), 0);
    int64_t failed_before = bb_count("SELECT COUNT(*) FROM audit_log WHERE action = "
                                     "'PAYMENT_FAILED'");
    fake_paypal_decline_next_capture(C->pp);
    capture_return(inv, oid, result, sizeof result);
    assert_string_equal(result, "failed");
    assert_invoice(inv, "unpaid", 0, 0);
    assert_int_equal(payments_of(inv), 0);
    assert_true(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_FAILED'") >
                failed_before);
    capture_return(inv, oid, result, sizeof result);
    assert_string_equal(result, "paid");
    assert_invoice(inv, "paid", 900, 0);

    /* A PENDING capture (e.g. an eCheck) does not pay yet; the COMPLETED webhook for that
     * capture does, once, and its redelivery changes nothing. */
    int64_t inv2 = invoice2(1100, 0);
    checkout(inv2, oid, sizeof oid);
    assert_int_equal(fake_paypal_approve(C->pp, oid), 0);
    fake_paypal_set_next_capture_status(C->pp, "PENDING");
    capture_return(inv2, oid, result, sizeof result);
    assert_string_equal(result, "pending");
    assert_invoice(inv2, "unpaid", 0, 0);
    assert_int_equal(payments_of(inv2), 0);
    char *done = fake_paypal_event_capture(C->pp, "PAYMENT.CAPTURE.COMPLETED", oid, NULL);
    assert_non_null(done);
    deliver_expect(done, 200, "processed");
    assert_invoice(inv2, "paid", 1100, 0);
    deliver_expect(done, 200, "duplicate");
    assert_int_equal(payments_of(inv2), 1);
    free(done);
}

static void bad_deliveries_record_nothing(void **state)
{
    (void)state;
    int64_t inv = invoice2(700, 0);
    char oid[128];
    checkout(inv, oid, sizeof oid);
    fake_paypal_approve(C->pp, oid);
    char *ev = fake_paypal_event_order_approved(C->pp, oid, NULL);
    assert_non_null(ev);
    int64_t events = bb_count("SELECT COUNT(*) FROM webhook_events");

    /* No PAYPAL-* headers at all. */
    struct http_result r = deliver_with(ev, NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);

    /* Signed, then one byte of the body changed. */
    struct fake_paypal_sig sig;
    assert_int_equal(fake_paypal_sign(C->pp, ev, strlen(ev), PP_WEBHOOK, &sig), 0);
    char *tampered = strdup(ev);
    char *at = strstr(tampered, "CHECKOUT.ORDER.APPROVED");
    assert_non_null(at);
    at[0] = 'X';
    r = deliver_with(tampered, &sig);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    free(tampered);

    /* Signed for another webhook id. */
    assert_int_equal(fake_paypal_sign(C->pp, ev, strlen(ev), "WH-SOMEONE-ELSE", &sig), 0);
    r = deliver_with(ev, &sig);
    assert_int_equal(r.status, 400);
    http_result_free(&r);

    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_events"), events);
    assert_invoice(inv, "unpaid", 0, 0);
    json_t *o = fake_paypal_order_json(C->pp, oid);
    assert_string_equal(bb_str(o, "status"), "APPROVED"); /* never captured */
    json_decref(o);

    /* The genuine delivery still works, confirmed by PayPal's verify endpoint. */
    fake_clear_requests(fake_paypal_http(C->pp));
    deliver_expect(ev, 200, "processed");
    assert_true(api_verify_called());
    assert_invoice(inv, "paid", 700, 0);
    free(ev);
}

/* Last: restarts Lumi with PAYPAL_WEBHOOK_VERIFY=local (certificate over TLS from the fake). */
static void local_verification_with_fetched_certificate(void **state)
{
    (void)state;
    assert_int_equal(bb_stop(), 0);
    bb_env_add("PAYPAL_WEBHOOK_VERIFY=local");
    bb_serve();

    int64_t inv = invoice2(1100, 0);
    char oid[128];
    checkout(inv, oid, sizeof oid);
    fake_paypal_approve(C->pp, oid);
    char *ev = fake_paypal_event_order_approved(C->pp, oid, NULL);
    assert_non_null(ev);
    int64_t events = bb_count("SELECT COUNT(*) FROM webhook_events");
    fake_clear_requests(fake_paypal_http(C->pp));
    fake_clear_requests(fake_paypal_cert_http(C->pp));

    /* A body changed after signing fails the local RSA check. */
    struct fake_paypal_sig sig;
    assert_int_equal(fake_paypal_sign(C->pp, ev, strlen(ev), PP_WEBHOOK, &sig), 0);
    char *tampered = strdup(ev);
    char *at = strstr(tampered, "CHECKOUT.ORDER.APPROVED");
    assert_non_null(at);
    at[0] = 'X';
    struct http_result r = deliver_with(tampered, &sig);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    free(tampered);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_events"), events);
    assert_invoice(inv, "unpaid", 0, 0);

    /* The genuine delivery verifies against the fetched certificate and pays. */
    deliver_expect(ev, 200, "processed");
    assert_invoice(inv, "paid", 1100, 0);
    /* Verified locally: the certificate came over TLS, PayPal's verify API was not asked. */
    assert_true(fake_request_count(fake_paypal_cert_http(C->pp)) >= 1);
    assert_false(api_verify_called());
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkout_approve_return_pays_once),
        cmocka_unit_test(return_before_approval_fails_and_pays_nothing),
        cmocka_unit_test(webhooks_after_capture_then_refund),
        cmocka_unit_test(order_approved_webhook_captures_server_side),
        cmocka_unit_test(declined_and_pending_captures_through_http),
        cmocka_unit_test(bad_deliveries_record_nothing),
        cmocka_unit_test(local_verification_with_fetched_certificate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
