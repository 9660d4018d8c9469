/*
 * test_paypal.c — the PayPal client against fake_paypal over real HTTP: the
 * token cache and the one refetch after a 401, the order body exactly as
 * the contract shows it (upper-case currency, decimal strings, JPY without
 * decimals, quantity as a string, breakdown), PayPal-Request-Id replay,
 * PayPal's error body surfacing issue + debug_id, capture (not approved,
 * completed, already captured read back as success), retries after a 500
 * with the same request id, mode `api` webhook verification with the raw body
 * embedded byte for byte, parsing of the real simulator deliveries, and mode
 * `local` verification with the certificate fetched over TLS from the fake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "fakes/fake_paypal.h"
#include "gateways/paypal.h"

#define CLIENT_ID "AcLientIdFake"
#define SECRET "EFakeSecret-123"
#define WEBHOOK_ID "8PT597110X687430LKGECATA"

struct fx {
    struct fake_paypal *fp;
    struct paypal_client *pc;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->fp = fake_paypal_start(CLIENT_ID, SECRET, WEBHOOK_ID);
    struct paypal_conf conf = {
        .api_base = fake_paypal_url(f->fp),
        .client_id = CLIENT_ID,
        .client_secret = SECRET,
        .webhook_id = WEBHOOK_ID,
        .timeout_ms = 5000,
        .max_attempts = 3,
        .backoff_ms = 10,
    };
    f->pc = paypal_client_new(&conf);
    assert_non_null(f->pc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    paypal_client_free(f->pc);
    fake_paypal_stop(f->fp);
    free(f);
    return 0;
}

static const struct paypal_item ONE_ITEM[] = {{"VPS Small", 1500, 1}};

static json_t *create(struct fx *f, const char *rid, struct paypal_err *e)
{
    struct paypal_order_in in = {
        .currency = "usd",
        .items = ONE_ITEM,
        .nitems = 1,
        .invoice_number = "INV-2024-0007",
        .invoice_id = 7,
        .return_url = "https://lumi.example/api/paypal/capture",
        .cancel_url = "https://lumi.example/client/invoices/7",
        .request_id = rid,
    };
    json_t *o = NULL;
    int rc = paypal_order_create(f->pc, &in, &o, e);
    if (rc != 0)
        fail_msg("create failed: %s", e->hc.message);
    return o;
}

static json_t *recorded_json(struct fx *f, const char *method, const char *path,
                             struct fake_recorded *rec)
{
    assert_int_equal(fake_find_last(fake_paypal_http(f->fp), method, path, rec), 0);
    struct lumi_err le;
    json_t *j = jsonx_parse(rec->body, strlen(rec->body), JSONX_MAX_DEPTH, &le);
    assert_non_null(j);
    return j;
}

/* The string at a dotted path ("purchase_units.0.amount.value"); fails the test if absent. */
static const char *jstr(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    while (*p != '\0' && cur != NULL) {
        size_t n = strcspn(p, ".");
        char seg[64];
        snprintf(seg, sizeof seg, "%.*s", (int)n, p);
        if (seg[0] >= '0' && seg[0] <= '9')
            cur = json_array_get(cur, (size_t)strtoul(seg, NULL, 10));
        else
            cur = json_object_get(cur, seg);
        p += n;
        if (*p == '.')
            p++;
    }
    const char *s = json_string_value(cur);
    if (s == NULL)
        fail_msg("no string at %s", path);
    return s;
}

/* ---- token ---- */

static void token_is_cached_across_calls(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    for (int i = 0; i < 3; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "inv-7-a%d", i);
        json_decref(create(f, rid, &e));
    }
    assert_int_equal(fake_paypal_token_fetches(f->fp), 1);
    assert_int_equal(paypal_client_token_fetches(f->pc), 1);
    assert_int_equal(fake_paypal_order_count(f->fp), 3);
    struct fake_recorded rec;
    assert_int_equal(fake_find_last(fake_paypal_http(f->fp), "POST", "/v1/oauth2/token", &rec), 0);
    assert_string_equal(rec.basic_user, CLIENT_ID);
    assert_string_equal(rec.body, "grant_type=client_credentials");
    fake_recorded_free(&rec);
}

static void token_refetched_once_after_401(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_decref(create(f, "inv-7-a1", &e));
    fake_paypal_expire_token(f->fp);
    json_t *o = create(f, "inv-7-a2", &e);
    assert_non_null(json_object_get(o, "id"));
    json_decref(o);
    assert_int_equal(fake_paypal_token_fetches(f->fp), 2);
    assert_int_equal(paypal_client_token_fetches(f->pc), 2);
}

static void short_lived_token_is_not_reused(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    fake_paypal_set_expires_in(f->fp, 30); /* under the 60 s margin */
    json_decref(create(f, "inv-7-a1", &e));
    json_decref(create(f, "inv-7-a2", &e));
    assert_int_equal(fake_paypal_token_fetches(f->fp), 2);
}

static void wrong_secret_is_auth_error_without_secret(void **state)
{
    struct fx *f = *state;
    struct paypal_conf conf = {.api_base = fake_paypal_url(f->fp),
                               .client_id = CLIENT_ID,
                               .client_secret = "wrong-secret-xyz",
                               .backoff_ms = 10};
    struct paypal_client *pc = paypal_client_new(&conf);
    json_t *o = NULL;
    struct paypal_err e;
    assert_int_equal(paypal_order_get(pc, "5O190127TN364715T", &o, &e), -1);
    assert_int_equal(e.hc.cls, HC_AUTH);
    assert_null(strstr(e.hc.message, "wrong-secret-xyz"));
    assert_non_null(strstr(e.hc.message, "PAYPAL_CLIENT_ID"));
    paypal_client_free(pc);
}

struct worker {
    struct fx *f;
    int n;
    int ok;
};

static void *create_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 5; i++) {
        char rid[48];
        snprintf(rid, sizeof rid, "thread-%d-%d", w->n, i);
        struct paypal_order_in in = {.currency = "EUR",
                                     .items = ONE_ITEM,
                                     .nitems = 1,
                                     .invoice_number = "INV-T",
                                     .invoice_id = 1,
                                     .return_url = "https://lumi.example/r",
                                     .cancel_url = "https://lumi.example/c",
                                     .request_id = rid};
        json_t *o = NULL;
        struct paypal_err e;
        if (paypal_order_create(w->f->pc, &in, &o, &e) == 0)
            w->ok++;
        json_decref(o);
    }
    return NULL;
}

static void token_cache_shared_by_threads(void **state)
{
    struct fx *f = *state;
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.f = f, .n = i};
        assert_int_equal(pthread_create(&th[i], NULL, create_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(w[i].ok, 5);
    assert_int_equal(fake_paypal_order_count(f->fp), 20);
    /* Threads that started together may each fetch one; never one per call. */
    assert_true(fake_paypal_token_fetches(f->fp) >= 1);
    assert_true(fake_paypal_token_fetches(f->fp) <= 4);
}

/* ---- orders ---- */

static void order_body_is_exactly_the_contract(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-attempt-1", &e);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "PAYER_ACTION_REQUIRED");
    const char *payer = paypal_order_payer_url(o);
    assert_non_null(payer);
    assert_non_null(strstr(payer, json_string_value(json_object_get(o, "id"))));

    struct fake_recorded rec;
    json_t *b = recorded_json(f, "POST", "/v2/checkout/orders", &rec);
    json_t *want = json_loads(
        "{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"reference_id\":\"INV-2024-0007\","
        "\"invoice_id\":\"INV-2024-0007\",\"custom_id\":\"7\",\"amount\":{\"currency_code\":"
        "\"USD\",\"value\":\"15.00\",\"breakdown\":{\"item_total\":{\"currency_code\":\"USD\","
        "\"value\":\"15.00\"}}},\"items\":[{\"name\":\"VPS Small\",\"quantity\":\"1\","
        "\"unit_amount\":{\"currency_code\":\"USD\",\"value\":\"15.00\"}}]}],"
        "\"payment_source\":{\"paypal\":{\"experience_context\":{\"return_url\":"
        "\"https://lumi.example/api/paypal/capture\",\"cancel_url\":"
        "\"https://lumi.example/client/invoices/7\",\"user_action\":\"PAY_NOW\","
        "\"shipping_preference\":\"NO_SHIPPING\"}}}}",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(b, want))
        fail_msg("order body differs: %s", rec.body);
    json_decref(want);
    json_decref(b);
    fake_recorded_free(&rec);
    json_decref(o);
}

static void jpy_and_several_items(void **state)
{
    struct fx *f = *state;
    const struct paypal_item items[] = {{"VPS Large", 1500, 2}, {"Backup", 300, 3}};
    struct paypal_order_in in = {.currency = "JPY",
                                 .items = items,
                                 .nitems = 2,
                                 .invoice_number = "INV-9",
                                 .invoice_id = 9,
                                 .return_url = "https://lumi.example/r",
                                 .cancel_url = "https://lumi.example/c",
                                 .request_id = "inv-9-1"};
    json_t *o = NULL;
    struct paypal_err e;
    assert_int_equal(paypal_order_create(f->pc, &in, &o, &e), 0);
    json_decref(o);
    struct fake_recorded rec;
    json_t *b = recorded_json(f, "POST", "/v2/checkout/orders", &rec);
    assert_string_equal(jstr(b, "purchase_units.0.amount.value"), "3900");
    assert_string_equal(jstr(b, "purchase_units.0.amount.currency_code"), "JPY");
    assert_string_equal(jstr(b, "purchase_units.0.amount.breakdown.item_total.value"), "3900");
    assert_string_equal(jstr(b, "purchase_units.0.items.0.quantity"), "2");
    assert_string_equal(jstr(b, "purchase_units.0.items.0.unit_amount.value"), "1500");
    assert_string_equal(jstr(b, "purchase_units.0.items.1.quantity"), "3");
    assert_string_equal(jstr(b, "purchase_units.0.items.1.unit_amount.value"), "300");
    json_decref(b);
    fake_recorded_free(&rec);
}

static void request_id_sent_and_replay_gives_same_order(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *a = create(f, "inv-7-attempt-1", &e);
    json_t *b = create(f, "inv-7-attempt-1", &e);
    assert_string_equal(json_string_value(json_object_get(a, "id")),
                        json_string_value(json_object_get(b, "id")));
    assert_int_equal(fake_paypal_order_count(f->fp), 1);
    assert_int_equal(fake_paypal_request_id_uses(f->fp, "inv-7-attempt-1"), 2);
    json_t *c = create(f, "inv-7-attempt-2", &e);
    assert_string_not_equal(json_string_value(json_object_get(a, "id")),
                            json_string_value(json_object_get(c, "id")));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* Posts body to the fake's order endpoint with the client's token; returns the answer JSON. */
static json_t *raw_create(struct fx *f, const char *body, long *status)
{
    struct fake_recorded rec;
    assert_int_equal(fake_find_last(fake_paypal_http(f->fp), "POST", "/v2/checkout/orders", &rec),
                     0);
    char auth[256], url[256];
    snprintf(auth, sizeof auth, "Authorization: %s", rec.authorization);
    fake_recorded_free(&rec);
    snprintf(url, sizeof url, "%s/v2/checkout/orders", fake_paypal_url(f->fp));
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    struct hc_request req = {
        .method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
    struct hc_response res;
    struct hc_error he;
    memset(&res, 0, sizeof res);
    assert_int_equal(hc_perform(&req, &res, &he), 0);
    *status = res.status;
    json_t *j = jsonx_parse(res.body.data, res.body.len, JSONX_MAX_DEPTH, NULL);
    hc_response_free(&res);
    assert_non_null(j);
    return j;
}

/* The client never sends inconsistent totals, so the fake's checks are driven by hand. */
static void fake_rejects_inconsistent_totals(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_decref(create(f, "warm", &e)); /* a token */
    long st = 0;
    json_t *a = raw_create(
        f,
        "{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{\"currency_code\":\"USD\","
        "\"value\":\"15.00\",\"breakdown\":{\"item_total\":{\"currency_code\":\"USD\","
        "\"value\":\"15.00\"}}},\"items\":[{\"name\":\"A\",\"quantity\":\"2\",\"unit_amount\":"
        "{\"currency_code\":\"USD\",\"value\":\"15.00\"}}]}]}",
        &st);
    assert_int_equal(st, 422);
    assert_string_equal(jstr(a, "name"), "UNPROCESSABLE_ENTITY");
    assert_string_equal(jstr(a, "details.0.issue"), "ITEM_TOTAL_MISMATCH");
    assert_true(strlen(jstr(a, "debug_id")) > 4);
    json_decref(a);
    a = raw_create(
        f,
        "{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{\"currency_code\":\"USD\","
        "\"value\":\"16.00\",\"breakdown\":{\"item_total\":{\"currency_code\":\"USD\","
        "\"value\":\"15.00\"}}},\"items\":[{\"name\":\"A\",\"quantity\":\"1\",\"unit_amount\":"
        "{\"currency_code\":\"USD\",\"value\":\"15.00\"}}]}]}",
        &st);
    assert_int_equal(st, 422);
    assert_string_equal(jstr(a, "details.0.issue"), "AMOUNT_MISMATCH");
    json_decref(a);
    a = raw_create(f,
                   "{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{"
                   "\"currency_code\":\"JPY\",\"value\":\"1500.00\"}}]}",
                   &st);
    assert_int_equal(st, 422);
    assert_string_equal(jstr(a, "details.0.issue"), "DECIMALS_NOT_SUPPORTED");
    json_decref(a);
    a = raw_create(f,
                   "{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{"
                   "\"currency_code\":\"usd\",\"value\":\"15.00\"}}]}",
                   &st);
    assert_int_equal(st, 400);
    json_decref(a);
    assert_int_equal(fake_paypal_order_count(f->fp), 1);
}

static void client_maps_422_issue_and_debug_id(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    json_t *cap = NULL;
    /* Not approved: the fake answers 422 UNPROCESSABLE_ENTITY ORDER_NOT_APPROVED. */
    assert_int_equal(paypal_order_capture(f->pc, json_string_value(json_object_get(o, "id")),
                                          "cap-7-1", &cap, &e),
                     -1);
    assert_null(cap);
    assert_string_equal(e.issue, "ORDER_NOT_APPROVED");
    assert_int_equal(e.hc.cls, HC_INVALID);
    assert_int_equal(e.hc.http_status, 422);
    assert_true(strlen(e.debug_id) > 4);
    assert_non_null(strstr(e.hc.message, "UNPROCESSABLE_ENTITY ORDER_NOT_APPROVED"));
    assert_non_null(strstr(e.hc.message, e.debug_id));
    json_decref(o);
}

static void instrument_declined_is_an_error(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    const char *id = json_string_value(json_object_get(o, "id"));
    fake_paypal_approve(f->fp, id);
    fake_paypal_decline_next_capture(f->fp);
    json_t *cap = NULL;
    assert_int_equal(paypal_order_capture(f->pc, id, "cap-7-1", &cap, &e), -1);
    assert_string_equal(e.issue, "INSTRUMENT_DECLINED");
    json_decref(o);
}

static void capture_of_approved_order_is_parsed(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    const char *id = json_string_value(json_object_get(o, "id"));
    assert_int_equal(fake_paypal_approve(f->fp, id), 0);
    json_t *done = NULL;
    assert_int_equal(paypal_order_capture(f->pc, id, "cap-7-1", &done, &e), 0);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "COMPLETED");
    struct paypal_capture c;
    struct lumi_err le;
    assert_int_equal(paypal_capture_parse(paypal_order_first_capture(done), &c, &le), 0);
    assert_string_equal(c.status, "COMPLETED");
    assert_int_equal(c.amount, 1500);
    assert_string_equal(c.currency, "usd");
    assert_int_equal(c.invoice_id, 7);
    assert_string_equal(c.order_id, id);
    assert_true(strlen(c.id) > 0);
    struct fake_recorded rec;
    char path[128];
    snprintf(path, sizeof path, "/v2/checkout/orders/%s/capture", id);
    assert_int_equal(fake_find_last(fake_paypal_http(f->fp), "POST", path, &rec), 0);
    assert_string_equal(rec.body, "{}");
    fake_recorded_free(&rec);
    assert_int_equal(fake_paypal_request_id_uses(f->fp, "cap-7-1"), 1);
    json_decref(done);
    json_decref(o);
}

static void pending_capture_has_reason(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    const char *id = json_string_value(json_object_get(o, "id"));
    fake_paypal_approve(f->fp, id);
    fake_paypal_set_next_capture_status(f->fp, "PENDING");
    json_t *done = NULL;
    assert_int_equal(paypal_order_capture(f->pc, id, "cap-7-1", &done, &e), 0);
    struct paypal_capture c;
    assert_int_equal(paypal_capture_parse(paypal_order_first_capture(done), &c, NULL), 0);
    assert_string_equal(c.status, "PENDING");
    assert_string_equal(c.reason, "PENDING_REVIEW");
    json_decref(done);
    json_decref(o);
}

static void second_capture_already_captured_returns_order(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    const char *id = json_string_value(json_object_get(o, "id"));
    fake_paypal_approve(f->fp, id);
    json_t *first = NULL, *second = NULL;
    assert_int_equal(paypal_order_capture(f->pc, id, "cap-7-1", &first, &e), 0);
    size_t before = fake_request_count(fake_paypal_http(f->fp));
    assert_int_equal(paypal_order_capture(f->pc, id, "cap-7-other", &second, &e), 0);
    /* capture (422) then GET the order */
    assert_int_equal(fake_request_count(fake_paypal_http(f->fp)) - before, 2);
    struct fake_recorded rec;
    assert_int_equal(
        fake_recorded(fake_paypal_http(f->fp), fake_request_count(fake_paypal_http(f->fp)) - 1,
                      &rec),
        0);
    assert_string_equal(rec.method, "GET");
    fake_recorded_free(&rec);
    struct paypal_capture a, b;
    assert_int_equal(paypal_capture_parse(paypal_order_first_capture(first), &a, NULL), 0);
    assert_int_equal(paypal_capture_parse(paypal_order_first_capture(second), &b, NULL), 0);
    assert_string_equal(a.id, b.id);
    assert_string_equal(b.status, "COMPLETED");
    /* The same request id again is a replay (200), not an error. */
    json_t *third = NULL;
    assert_int_equal(paypal_order_capture(f->pc, id, "cap-7-1", &third, &e), 0);
    json_decref(first);
    json_decref(second);
    json_decref(third);
    json_decref(o);
}

static void retry_after_500_uses_same_request_id(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_decref(create(f, "warm", &e));
    struct fake_server *http = fake_paypal_http(f->fp);
    fake_clear_requests(http);
    fake_fault(http, FAKE_FAULT_500, 1, 0, "/v2/checkout/orders");
    json_t *o = create(f, "inv-7-retry", &e);
    assert_non_null(o);
    json_decref(o);
    assert_int_equal(fake_request_count(http), 2);
    assert_int_equal(fake_paypal_order_count(f->fp), 2);
    /* fake_recorded does not keep arbitrary headers: the replay proves the id
     * was the same, since a different id would have made a third order. */
    fake_fault(http, FAKE_FAULT_DROP_AFTER, 1, 0, "/v2/checkout/orders");
    o = create(f, "inv-7-dropped", &e);
    json_decref(o);
    assert_int_equal(fake_paypal_order_count(f->fp), 3); /* not 4: replayed */
    assert_int_equal(fake_paypal_request_id_uses(f->fp, "inv-7-dropped"), 2);
    assert_int_equal(fake_paypal_request_id_uses(f->fp, "inv-7-retry"), 1); /* + one 500 */
}

static void gives_up_after_max_attempts(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_decref(create(f, "warm", &e));
    struct fake_server *http = fake_paypal_http(f->fp);
    fake_clear_requests(http);
    fake_fault(http, FAKE_FAULT_500, 10, 0, "/v2/checkout/orders/");
    json_t *o = NULL;
    assert_int_equal(paypal_order_get(f->pc, "5FX00000000000001X", &o, &e), -1);
    assert_int_equal(e.hc.cls, HC_UPSTREAM);
    assert_true(e.hc.retryable);
    assert_int_equal(fake_request_count(http), 3);
}

/* ---- webhooks, mode api ---- */

static void verify_api_success_and_raw_body(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    const char *id = json_string_value(json_object_get(o, "id"));
    char *body = fake_paypal_event_capture(f->fp, "PAYMENT.CAPTURE.COMPLETED", id, NULL);
    assert_non_null(body);
    /* Make the raw body something a re-serialisation would change. */
    struct buf raw;
    buf_init(&raw, 1 << 20);
    buf_append_str(&raw, "{ \"zz_first\" : 1.50,\n ");
    buf_append_str(&raw, body + 1);
    struct fake_paypal_sig s;
    assert_int_equal(fake_paypal_sign(f->fp, raw.data, raw.len, WEBHOOK_ID, &s), 0);
    struct paypal_sig_headers h;
    fake_paypal_sig_headers(&s, &h);
    bool ok = false;
    assert_int_equal(paypal_verify_webhook_api(f->pc, &h, raw.data, raw.len, &ok, &e), 0);
    assert_true(ok);
    struct fake_recorded rec;
    assert_int_equal(fake_find_last(fake_paypal_http(f->fp), "POST",
                                    "/v1/notifications/verify-webhook-signature", &rec),
                     0);
    assert_non_null(strstr(rec.body, raw.data));
    json_t *sent = jsonx_parse(rec.body, strlen(rec.body), JSONX_MAX_DEPTH, NULL);
    assert_string_equal(jstr(sent, "webhook_id"), WEBHOOK_ID);
    assert_string_equal(jstr(sent, "transmission_sig"), s.transmission_sig);
    assert_string_equal(jstr(sent, "cert_url"), s.cert_url);
    json_decref(sent);
    fake_recorded_free(&rec);

    /* One byte changed (still valid JSON): FAILURE. */
    char *summary = strstr(raw.data, "Payment capture event");
    assert_non_null(summary);
    summary[0] = 'Q';
    ok = true;
    assert_int_equal(paypal_verify_webhook_api(f->pc, &h, raw.data, raw.len, &ok, &e), 0);
    assert_false(ok);
    buf_free(&raw);
    free(body);
    json_decref(o);
}

static void verify_api_refuses_bad_input_without_sending(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    struct fake_paypal_sig s;
    const char *body = "{\"id\":\"WH-1\"}";
    assert_int_equal(fake_paypal_sign(f->fp, body, strlen(body), WEBHOOK_ID, &s), 0);
    struct paypal_sig_headers h;
    fake_paypal_sig_headers(&s, &h);
    h.transmission_sig = NULL;
    bool ok = true;
    size_t before = fake_request_count(fake_paypal_http(f->fp));
    assert_int_equal(paypal_verify_webhook_api(f->pc, &h, body, strlen(body), &ok, &e), -1);
    assert_false(ok);
    assert_int_equal(e.hc.cls, HC_INVALID);
    fake_paypal_sig_headers(&s, &h);
    assert_int_equal(paypal_verify_webhook_api(f->pc, &h, "[1]", 3, &ok, &e), -1);
    assert_int_equal(paypal_verify_webhook_api(f->pc, &h, "{\"a\":", 5, &ok, &e), -1);
    assert_int_equal(fake_request_count(fake_paypal_http(f->fp)), before);
}

static void verify_api_wrong_webhook_id_fails(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    char *body = fake_paypal_event_refund(f->fp, "PAYMENT.CAPTURE.REFUNDED", "3FX0000000001X",
                                          500, "usd", "WH-DUP-1");
    struct fake_paypal_sig s;
    assert_int_equal(fake_paypal_sign(f->fp, body, strlen(body), "OTHER_WEBHOOK", &s), 0);
    struct paypal_sig_headers h;
    fake_paypal_sig_headers(&s, &h);
    bool ok = true;
    assert_int_equal(paypal_verify_webhook_api(f->pc, &h, body, strlen(body), &ok, &e), 0);
    assert_false(ok);
    free(body);
}

/* ---- events and parsing ---- */

static char *read_vector(const char *rel)
{
    const char *src = getenv("LUMI_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/paypal/vectors/%s", src ? src : ".", rel);
    FILE *fh = fopen(path, "rb");
    if (fh == NULL)
        fail_msg("cannot open the PayPal vector %s", path);
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fh)) > 0)
        buf_append(&b, chunk, n);
    fclose(fh);
    return buf_steal(&b);
}

static void parse_real_vectors(void **state)
{
    (void)state;
    char *text = read_vector("completed/body_completed.json");
    json_t *ev = jsonx_parse(text, strlen(text), JSONX_MAX_DEPTH, NULL);
    struct paypal_capture c;
    struct lumi_err le;
    assert_int_equal(paypal_capture_parse(json_object_get(ev, "resource"), &c, &le), 0);
    assert_string_equal(c.id, "12A34567BC123456S");
    assert_string_equal(c.status, "COMPLETED");
    assert_int_equal(c.amount, 3000);
    assert_string_equal(c.currency, "usd");
    assert_string_equal(c.order_id, "1AB234567A1234567");
    assert_int_equal(c.invoice_id, 0); /* no custom_id in the simulator event */
    assert_string_equal(c.up_capture_id, ""); /* its up link is the order */
    json_decref(ev);
    free(text);

    text = read_vector("refunded/body_refunded.json");
    ev = jsonx_parse(text, strlen(text), JSONX_MAX_DEPTH, NULL);
    assert_int_equal(paypal_capture_parse(json_object_get(ev, "resource"), &c, &le), 0);
    assert_string_equal(c.id, "1Y107995YT783435V");
    assert_int_equal(c.amount, 99);
    assert_string_equal(c.up_capture_id, "0JF852973C016714D");
    assert_string_equal(c.order_id, "");
    json_decref(ev);
    free(text);
}

static void parse_rejects_bad_fields(void **state)
{
    (void)state;
    struct paypal_capture c;
    struct lumi_err le;
    json_t *j = json_loads("{\"id\":\"X\",\"amount\":{\"currency_code\":\"USD\",\"value\":"
                           "\"1.005\"}}",
                           0, NULL);
    assert_int_equal(paypal_capture_parse(j, &c, &le), LUMI_EINVAL);
    assert_non_null(strstr(le.msg, "amount"));
    json_decref(j);
    j = json_loads("{\"id\":\"X\",\"custom_id\":\"abc\"}", 0, NULL);
    assert_int_equal(paypal_capture_parse(j, &c, &le), LUMI_EINVAL);
    assert_non_null(strstr(le.msg, "custom_id"));
    json_decref(j);
    j = json_loads("{\"status\":\"COMPLETED\"}", 0, NULL);
    assert_int_equal(paypal_capture_parse(j, &c, &le), LUMI_EINVAL);
    json_decref(j);
}

static void fake_events_parse_like_real_ones(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    const char *id = json_string_value(json_object_get(o, "id"));
    char *a = fake_paypal_event_capture(f->fp, "PAYMENT.CAPTURE.DENIED", id, "WH-SAME");
    char *b = fake_paypal_event_capture(f->fp, "PAYMENT.CAPTURE.DENIED", id, "WH-SAME");
    char *r = fake_paypal_event_refund(f->fp, "PAYMENT.CAPTURE.REVERSED", "3FXCAP", 1500, "USD",
                                       NULL);
    char *ap = fake_paypal_event_order_approved(f->fp, id, NULL);
    json_t *ja = jsonx_parse(a, strlen(a), JSONX_MAX_DEPTH, NULL);
    json_t *jb = jsonx_parse(b, strlen(b), JSONX_MAX_DEPTH, NULL);
    json_t *jr = jsonx_parse(r, strlen(r), JSONX_MAX_DEPTH, NULL);
    json_t *jap = jsonx_parse(ap, strlen(ap), JSONX_MAX_DEPTH, NULL);
    assert_string_equal(jstr(ja, "id"), "WH-SAME");
    assert_string_equal(jstr(jb, "id"), "WH-SAME");
    assert_string_equal(jstr(ja, "resource_type"), "capture");
    struct paypal_capture c;
    assert_int_equal(paypal_capture_parse(json_object_get(ja, "resource"), &c, NULL), 0);
    assert_string_equal(c.status, "DECLINED");
    assert_int_equal(c.invoice_id, 7);
    assert_string_equal(c.order_id, id);
    assert_int_equal(paypal_capture_parse(json_object_get(jr, "resource"), &c, NULL), 0);
    assert_string_equal(c.up_capture_id, "3FXCAP");
    assert_int_equal(c.amount, 1500);
    assert_true(strncmp(jstr(jr, "id"), "WH-", 3) == 0);
    assert_string_equal(jstr(jap, "event_type"), "CHECKOUT.ORDER.APPROVED");
    assert_string_equal(jstr(jap, "resource.id"), id);
    json_decref(ja);
    json_decref(jb);
    json_decref(jr);
    json_decref(jap);
    free(a);
    free(b);
    free(r);
    free(ap);
    json_decref(o);
}

/* ---- webhooks, mode local, certificate over TLS ---- */

/* The default loader cannot take a CA file, so this one is hc_perform with it. */
static int tls_loader(void *arg, const char *url, struct buf *pem, struct lumi_err *err)
{
    struct fx *f = arg;
    struct hc_request req = {.method = "GET",
                             .url = url,
                             .max_response = PAYPAL_CERT_PEM_MAX,
                             .ca_file = fake_paypal_ca_file(f->fp)};
    struct hc_response res;
    struct hc_error he;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if (hc_perform(&req, &res, &he) != 0 || res.status != 200)
        rc = err_set(err, LUMI_EUPSTREAM, "fetch failed: %s", he.message);
    else
        rc = buf_append(pem, res.body.data, res.body.len);
    hc_response_free(&res);
    return rc;
}

static void verify_local_with_cert_over_tls(void **state)
{
    struct fx *f = *state;
    struct paypal_err e;
    json_t *o = create(f, "inv-7-a1", &e);
    char *body = fake_paypal_event_capture(f->fp, "PAYMENT.CAPTURE.COMPLETED",
                                           json_string_value(json_object_get(o, "id")), NULL);
    struct fake_paypal_sig s;
    assert_int_equal(fake_paypal_sign(f->fp, body, strlen(body), WEBHOOK_ID, &s), 0);
    assert_non_null(strstr(s.cert_url, "https://localhost:"));
    struct paypal_sig_headers h;
    fake_paypal_sig_headers(&s, &h);
    const char *const hosts[] = {"localhost", NULL};
    struct paypal_cert_cache *cache = paypal_cert_cache_new(tls_loader, f, NULL, NULL);
    struct lumi_err le;
    int rc = paypal_verify_local(&h, body, strlen(body), WEBHOOK_ID, hosts, cache, &le);
    if (rc != 0)
        fail_msg("verify_local: %d %s", rc, le.msg);
    assert_int_equal(fake_request_count(fake_paypal_cert_http(f->fp)), 1);
    /* Cached: a second delivery does not fetch again. */
    assert_int_equal(paypal_verify_local(&h, body, strlen(body), WEBHOOK_ID, hosts, cache, &le), 0);
    assert_int_equal(fake_request_count(fake_paypal_cert_http(f->fp)), 1);
    /* Tampered body. */
    body[10] ^= 1;
    assert_int_equal(paypal_verify_local(&h, body, strlen(body), WEBHOOK_ID, hosts, cache, &le),
                     LUMI_EINVAL);
    paypal_cert_cache_free(cache);

    /* Without the CA file the TLS fetch fails: trust is really checked. */
    cache = paypal_cert_cache_new(NULL, NULL, NULL, NULL);
    body[10] ^= 1;
    assert_int_equal(paypal_verify_local(&h, body, strlen(body), WEBHOOK_ID, hosts, cache, &le),
                     LUMI_EUPSTREAM);
    paypal_cert_cache_free(cache);
    free(body);
    json_decref(o);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(token_is_cached_across_calls),
        T(token_refetched_once_after_401),
        T(short_lived_token_is_not_reused),
        T(wrong_secret_is_auth_error_without_secret),
        T(token_cache_shared_by_threads),
        T(order_body_is_exactly_the_contract),
        T(jpy_and_several_items),
        T(request_id_sent_and_replay_gives_same_order),
        T(fake_rejects_inconsistent_totals),
        T(client_maps_422_issue_and_debug_id),
        T(instrument_declined_is_an_error),
        T(capture_of_approved_order_is_parsed),
        T(pending_capture_has_reason),
        T(second_capture_already_captured_returns_order),
        T(retry_after_500_uses_same_request_id),
        T(gives_up_after_max_attempts),
        T(verify_api_success_and_raw_body),
        T(verify_api_refuses_bad_input_without_sending),
        T(verify_api_wrong_webhook_id_fails),
        cmocka_unit_test(parse_real_vectors),
        cmocka_unit_test(parse_rejects_bad_fields),
        T(fake_events_parse_like_real_ones),
        T(verify_local_with_cert_over_tls),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
