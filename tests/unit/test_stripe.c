/*
 * test_stripe.c — the Stripe client against the fake Stripe over real HTTP:
 * the Checkout Session form (every field as Stripe decodes it), the headers
 * (Bearer, Stripe-Version, Idempotency-Key kept across retries), idempotent
 * replays, error mapping (400 with message and param, 401 without the key,
 * 404), Stripe-Should-Retry, retrieve after payment, the argument checks,
 * and the parsers on fixture-shaped objects.
 *
 * Each test starts its own fake. Single-threaded apart from the fake's thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_client.h"
#include "core/json.h"
#include "fakes/fake_http.h"
#include "fakes/fake_stripe.h"
#include "gateways/stripe.h"
#include "gateways/stripe_sig.h"

#define SK "sk_test_51Lumi0123456789abcdefSECRET"
#define WHSEC "whsec_test_secret"

struct env {
    struct fake_stripe *fs;
    struct fake_server *http;
    struct stripe_conf conf;
    struct stripe_line lines[2];
    struct stripe_checkout_in in;
    struct hc_error e;
};

static int setup(void **state)
{
    struct env *t = calloc(1, sizeof *t);
    t->fs = fake_stripe_start(SK, WHSEC);
    t->http = fake_stripe_server(t->fs);
    t->conf = (struct stripe_conf){
        .api_base = fake_stripe_url(t->fs),
        .secret_key = SK,
        .timeout_ms = 5000,
        .max_attempts = 3,
        .backoff_ms = 5,
    };
    t->lines[0] = (struct stripe_line){.name = "VPS Small", .unit_amount = 1500, .quantity = 1};
    t->lines[1] =
        (struct stripe_line){.name = "Backup & Snapshots", .unit_amount = 250, .quantity = 2};
    t->in = (struct stripe_checkout_in){
        .currency = "USD",
        .lines = t->lines,
        .nlines = 2,
        .success_url = "https://billing.example.com/client/invoices/"
                       "7?paid=stripe&session_id={CHECKOUT_SESSION_ID}",
        .cancel_url = "https://billing.example.com/client/invoices/7",
        .client_reference_id = "INV-2026-0007",
        .invoice_id = 7,
        .customer_email = "john+billing@example.com",
        .idempotency_key = "lumi-checkout-7-1",
    };
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct env *t = *state;
    fake_stripe_stop(t->fs);
    free(t);
    return 0;
}

static void assert_field(const json_t *form, const char *key, const char *want)
{
    const char *got = json_string_value(json_object_get(form, key));
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("form field %s: got '%s', want '%s'", key, got != NULL ? got : "(absent)", want);
}

/* ---- create ---- */

static void create_sends_exactly_the_contract_fields(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    const char *id = json_string_value(json_object_get(out, "id"));
    assert_non_null(id);
    assert_true(strncmp(id, "cs_test_", 8) == 0);
    assert_int_equal(json_integer_value(json_object_get(out, "amount_total")), 1500 + 2 * 250);

    struct fake_recorded rec;
    assert_int_equal(fake_find_last(t->http, "POST", "/v1/checkout/sessions", &rec), 0);
    assert_string_equal(rec.authorization, "Bearer " SK);
    assert_string_equal(rec.content_type, "application/x-www-form-urlencoded");
    json_t *form = fake_stripe_form_decode(rec.body, strlen(rec.body));
    assert_field(form, "mode", "payment");
    assert_field(form, "success_url", t->in.success_url);
    assert_field(form, "cancel_url", t->in.cancel_url);
    assert_field(form, "line_items[0][price_data][currency]", "usd");
    assert_field(form, "line_items[0][price_data][unit_amount]", "1500");
    assert_field(form, "line_items[0][price_data][product_data][name]", "VPS Small");
    assert_field(form, "line_items[0][quantity]", "1");
    assert_field(form, "line_items[1][price_data][currency]", "usd");
    assert_field(form, "line_items[1][price_data][unit_amount]", "250");
    assert_field(form, "line_items[1][price_data][product_data][name]", "Backup & Snapshots");
    assert_field(form, "line_items[1][quantity]", "2");
    assert_field(form, "client_reference_id", "INV-2026-0007");
    assert_field(form, "metadata[invoice_id]", "7");
    assert_field(form, "payment_intent_data[metadata][invoice_id]", "7");
    assert_field(form, "customer_email", "john+billing@example.com");
    assert_int_equal(json_object_size(form), 15); /* nothing else */
    json_decref(form);
    fake_recorded_free(&rec);

    struct fake_stripe_req req;
    assert_int_equal(fake_stripe_request(t->fs, 0, &req), 0);
    assert_string_equal(req.idempotency_key, "lumi-checkout-7-1");
    assert_string_equal(req.stripe_version, STRIPE_API_VERSION);

    /* The session as Stripe keeps it. */
    json_t *s = fake_stripe_session_json(t->fs, id);
    assert_string_equal(json_string_value(json_object_get(s, "currency")), "usd");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s, "metadata"), "invoice_id")), "7");
    json_decref(s);
    json_decref(out);
}

static void create_without_email_leaves_it_out(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    t->in.customer_email = NULL;
    t->in.nlines = 1;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    struct fake_recorded rec;
    assert_int_equal(fake_find_last(t->http, "POST", "/v1/checkout/sessions", &rec), 0);
    json_t *form = fake_stripe_form_decode(rec.body, strlen(rec.body));
    assert_null(json_object_get(form, "customer_email"));
    assert_null(json_object_get(form, "line_items[1][quantity]"));
    json_decref(form);
    fake_recorded_free(&rec);
    json_decref(out);
}

static void retry_after_500_reuses_the_idempotency_key(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    fake_stripe_fail_next(t->fs, 1, 500, -1);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    assert_int_equal(fake_stripe_request_count(t->fs), 2);
    struct fake_stripe_req a, b;
    assert_int_equal(fake_stripe_request(t->fs, 0, &a), 0);
    assert_int_equal(fake_stripe_request(t->fs, 1, &b), 0);
    assert_int_equal(a.status, 500);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.idempotency_key, "lumi-checkout-7-1");
    assert_string_equal(b.idempotency_key, a.idempotency_key);
    assert_int_equal(fake_stripe_session_count(t->fs), 1);
    json_decref(out);
}

static void retry_after_a_transport_level_500_page(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    fake_fault(t->http, FAKE_FAULT_500, 2, 0, NULL);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    assert_int_equal(fake_request_count(t->http), 3);
    assert_int_equal(fake_stripe_session_count(t->fs), 1);
    json_decref(out);
}

static void a_lost_answer_is_retried_and_replayed(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    /* The session is created but the answer never arrives: the retry must not make a second. */
    fake_fault(t->http, FAKE_FAULT_DROP_AFTER, 1, 0, NULL);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    assert_int_equal(fake_stripe_session_count(t->fs), 1);
    struct fake_stripe_req b;
    assert_int_equal(fake_stripe_request(t->fs, 1, &b), 0);
    assert_true(b.replayed);
    json_decref(out);
}

static void gives_up_after_max_attempts(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    fake_stripe_fail_next(t->fs, 10, 503, -1);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_null(out);
    assert_int_equal(t->e.cls, HC_UPSTREAM);
    assert_true(t->e.retryable);
    assert_int_equal(fake_stripe_request_count(t->fs), 3);
    assert_non_null(strstr(t->e.message, "An unknown error occurred"));
}

static void should_retry_false_stops_at_once(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    fake_stripe_fail_next(t->fs, 5, 500, 0);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(fake_stripe_request_count(t->fs), 1);
    assert_false(t->e.retryable);
}

static void should_retry_true_retries_a_429(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    fake_stripe_fail_next(t->fs, 1, 429, 1);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    assert_int_equal(fake_stripe_request_count(t->fs), 2);
    json_decref(out);
}

static void a_409_conflict_is_retried(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    fake_stripe_fail_next(t->fs, 1, 409, -1);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    assert_int_equal(fake_stripe_request_count(t->fs), 2);
    json_decref(out);
}

static void replay_with_the_same_key_returns_the_same_session(void **state)
{
    struct env *t = *state;
    json_t *a = NULL, *b = NULL;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &a, &t->e), 0);
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &b, &t->e), 0);
    assert_string_equal(json_string_value(json_object_get(a, "id")),
                        json_string_value(json_object_get(b, "id")));
    assert_int_equal(fake_stripe_session_count(t->fs), 1);
    struct fake_stripe_req r;
    assert_int_equal(fake_stripe_request(t->fs, 1, &r), 0);
    assert_true(r.replayed);
    json_decref(a);
    json_decref(b);
}

static void same_key_other_body_is_an_idempotency_error(void **state)
{
    struct env *t = *state;
    json_t *a = NULL, *b = NULL;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &a, &t->e), 0);
    t->lines[0].unit_amount = 999;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &b, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    assert_int_equal(t->e.http_status, 400);
    assert_non_null(strstr(t->e.message, "same parameters"));
    assert_int_equal(fake_stripe_request_count(t->fs), 2); /* a 400 is not retried */
    json_decref(a);
}

static void validation_error_quotes_message_code_and_param(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    t->in.currency = "US$"; /* passes nothing: refused locally */
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(fake_stripe_request_count(t->fs), 0);
    /* Something only Stripe refuses: an amount above its maximum. */
    t->in.currency = "usd";
    t->lines[0].unit_amount = 100000000;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    assert_false(t->e.retryable);
    assert_int_equal(t->e.http_status, 400);
    assert_string_equal(t->e.message,
                        "Stripe: This value must be greater than or equal to 0 and at most "
                        "99999999. (parameter_invalid_integer, param "
                        "line_items[0][price_data][unit_amount])");
    assert_int_equal(fake_stripe_request_count(t->fs), 1);
}

static void bad_key_is_auth_and_never_shows_the_key(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    t->conf.secret_key = "sk_test_51WrongKeyWrongKeyWrongKeyXYZW";
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_AUTH);
    assert_int_equal(t->e.http_status, 401);
    assert_non_null(strstr(t->e.message, "Invalid API Key"));
    assert_null(strstr(t->e.message, "WrongKey"));
    assert_null(strstr(t->e.message, "XYZW"));
    assert_int_equal(fake_stripe_request_count(t->fs), 1);
}

static void argument_checks_send_nothing(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    struct stripe_line many[STRIPE_MAX_LINE_ITEMS + 1];
    for (size_t i = 0; i < STRIPE_MAX_LINE_ITEMS + 1; i++)
        many[i] = (struct stripe_line){.name = "x", .unit_amount = 1, .quantity = 1};

    t->in.nlines = 0;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    t->in.lines = many;
    t->in.nlines = STRIPE_MAX_LINE_ITEMS + 1;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    t->in.nlines = 2;
    t->in.idempotency_key = NULL;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    t->in.idempotency_key = "bad\r\nX-Injected: 1";
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    t->in.idempotency_key = "k";
    many[1].quantity = 0;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), -1);
    assert_int_equal(t->e.cls, HC_INVALID);
    assert_null(out);
    assert_int_equal(fake_request_count(t->http), 0);

    /* Exactly 100 lines is fine. */
    many[1].quantity = 1;
    t->in.nlines = STRIPE_MAX_LINE_ITEMS;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    json_decref(out);
}

static void long_names_are_cut_on_a_character_boundary(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    char name[400];
    size_t n = 0;
    name[n++] = 'a';
    while (n + 2 < sizeof name - 1) {
        memcpy(name + n, "\xc3\xa9", 2); /* é */
        n += 2;
    }
    name[n] = '\0';
    t->lines[0].name = name;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    struct fake_recorded rec;
    assert_int_equal(fake_find_last(t->http, "POST", "/v1/checkout/sessions", &rec), 0);
    json_t *form = fake_stripe_form_decode(rec.body, strlen(rec.body));
    const char *sent =
        json_string_value(json_object_get(form, "line_items[0][price_data][product_data][name]"));
    assert_non_null(sent);
    assert_int_equal(strlen(sent), 249); /* 'a' + 124 × é; 250 would split one */
    json_decref(form);
    fake_recorded_free(&rec);
    json_decref(out);
}

/* ---- retrieve ---- */

static void retrieve_after_payment_shows_paid_and_the_intent(void **state)
{
    struct env *t = *state;
    json_t *out = NULL, *got = NULL;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    const char *id = json_string_value(json_object_get(out, "id"));
    assert_int_equal(fake_stripe_complete(t->fs, id, true), 0);
    assert_int_equal(stripe_checkout_retrieve(&t->conf, id, &got, &t->e), 0);
    struct stripe_session s;
    struct lumi_err le;
    assert_int_equal(stripe_session_parse(got, &s, &le), 0);
    assert_string_equal(s.id, id);
    assert_string_equal(s.status, "complete");
    assert_string_equal(s.payment_status, "paid");
    assert_true(strncmp(s.payment_intent, "pi_test_", 8) == 0);
    assert_int_equal(s.amount_total, 2000);
    assert_string_equal(s.currency, "usd");
    assert_int_equal(s.invoice_id, 7);
    assert_string_equal(s.client_reference_id, "INV-2026-0007");
    assert_true(s.expires_at > 0);
    struct fake_recorded rec;
    assert_int_equal(fake_recorded(t->http, 1, &rec), 0);
    assert_string_equal(rec.method, "GET");
    fake_recorded_free(&rec);
    struct fake_stripe_req r;
    assert_int_equal(fake_stripe_request(t->fs, 1, &r), 0);
    assert_string_equal(r.idempotency_key, ""); /* only create carries one */
    assert_string_equal(r.stripe_version, STRIPE_API_VERSION);
    json_decref(got);
    json_decref(out);
}

static void retrieve_of_an_unknown_session_is_not_found(void **state)
{
    struct env *t = *state;
    json_t *got = NULL;
    assert_int_equal(stripe_checkout_retrieve(&t->conf, "cs_test_nope/../x", &got, &t->e), -1);
    assert_int_equal(t->e.cls, HC_NOT_FOUND);
    assert_null(got);
    assert_non_null(strstr(t->e.message, "No such checkout.session"));
    assert_int_equal(fake_stripe_request_count(t->fs), 1); /* 404 is final */
    struct fake_stripe_req r;
    assert_int_equal(fake_stripe_request(t->fs, 0, &r), 0);
    assert_string_equal(r.path, "/v1/checkout/sessions/cs_test_nope%2F..%2Fx");
}

static void connection_refused_is_retried_then_reported(void **state)
{
    struct env *t = *state;
    json_t *got = NULL;
    t->conf.api_base = "http://127.0.0.1:1";
    assert_int_equal(stripe_checkout_retrieve(&t->conf, "cs_test_1", &got, &t->e), -1);
    assert_int_equal(t->e.cls, HC_CONNECTION);
    assert_true(t->e.retryable);
    assert_null(strstr(t->e.message, SK));
}

/* ---- parsers ---- */

/* Stripe's example session (fixtures3.json) with the members these tests vary. */
static json_t *fixture_session(void)
{
    return json_pack("{s:s, s:s, s:n, s:n, s:s, s:s, s:s, s:o, s:I, s:s, s:n, s:s}", "id",
                     "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY", "object",
                     "checkout.session", "amount_total", "currency", "mode", "payment",
                     "payment_intent", "pi_1PgafyB7WZ01zgkWSjxsAJo3", "payment_status", "unpaid",
                     "metadata", json_object(), "expires_at", (json_int_t)1234567890, "status",
                     "open", "client_reference_id", "url",
                     "https://checkout.stripe.com/pay/c/cs_test_a1YS1");
}

static void parse_session_handles_nulls_and_missing_metadata(void **state)
{
    (void)state;
    struct stripe_session s;
    struct lumi_err le;
    json_t *o = fixture_session();
    assert_int_equal(stripe_session_parse(o, &s, &le), 0);
    assert_true(s.amount_total == -1);
    assert_int_equal(s.invoice_id, 0);
    assert_string_equal(s.currency, "");
    assert_string_equal(s.client_reference_id, "");
    assert_string_equal(s.payment_intent, "pi_1PgafyB7WZ01zgkWSjxsAJo3");
    assert_int_equal(s.expires_at, 1234567890);

    json_object_del(o, "metadata");
    assert_int_equal(stripe_session_parse(o, &s, &le), 0);
    assert_int_equal(s.invoice_id, 0);

    static const char *const bad[] = {"0", "-3", "7a", "", "007x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object_set_new(o, "metadata", json_pack("{s:s}", "invoice_id", bad[i]));
        assert_int_equal(stripe_session_parse(o, &s, &le), 0);
        assert_int_equal(s.invoice_id, 0);
    }
    json_object_set_new(o, "metadata", json_pack("{s:i}", "invoice_id", 7)); /* not a string */
    assert_int_equal(stripe_session_parse(o, &s, &le), 0);
    assert_int_equal(s.invoice_id, 0);
    json_object_set_new(o, "metadata", json_pack("{s:s}", "invoice_id", "42"));
    json_object_set_new(o, "currency", json_string("EUR"));
    json_object_set_new(o, "amount_total", json_integer(0));
    assert_int_equal(stripe_session_parse(o, &s, &le), 0);
    assert_int_equal(s.invoice_id, 42);
    assert_string_equal(s.currency, "eur");
    assert_int_equal(s.amount_total, 0);
    json_decref(o);
}

static void parse_session_takes_an_expanded_payment_intent(void **state)
{
    (void)state;
    struct stripe_session s;
    struct lumi_err le;
    json_t *o = fixture_session();
    json_object_set_new(o, "payment_intent",
                        json_pack("{s:s, s:s, s:i}", "id", "pi_expanded_1", "object",
                                  "payment_intent", "amount", 1099));
    assert_int_equal(stripe_session_parse(o, &s, &le), 0);
    assert_string_equal(s.payment_intent, "pi_expanded_1");
    assert_string_equal(stripe_payment_intent_of(o), "pi_expanded_1");
    json_object_set_new(o, "payment_intent", json_null());
    assert_null(stripe_payment_intent_of(o));
    assert_int_equal(stripe_session_parse(o, &s, &le), 0);
    assert_string_equal(s.payment_intent, "");
    json_decref(o);
}

static void parse_session_refuses_what_is_not_one(void **state)
{
    (void)state;
    struct stripe_session s;
    struct lumi_err le;
    json_t *o = fixture_session();
    json_object_set_new(o, "object", json_string("payment_intent"));
    assert_int_equal(stripe_session_parse(o, &s, &le), LUMI_EINVAL);
    json_object_set_new(o, "object", json_string("checkout.session"));
    json_object_set_new(o, "amount_total", json_string("2000"));
    assert_int_equal(stripe_session_parse(o, &s, &le), LUMI_EINVAL);
    assert_non_null(strstr(le.msg, "amount_total"));
    json_object_set_new(o, "amount_total", json_integer(-5));
    assert_int_equal(stripe_session_parse(o, &s, &le), LUMI_EINVAL);
    json_object_set_new(o, "amount_total", json_integer(5));
    json_object_set_new(o, "currency", json_string("usdollars"));
    assert_int_equal(stripe_session_parse(o, &s, &le), LUMI_EINVAL);
    assert_non_null(strstr(le.msg, "currency"));
    json_object_set_new(o, "currency", json_string("usd"));
    json_object_del(o, "id");
    assert_int_equal(stripe_session_parse(o, &s, &le), LUMI_EINVAL);
    assert_non_null(strstr(le.msg, "id"));
    json_t *arr = json_array();
    assert_int_equal(stripe_session_parse(arr, &s, &le), LUMI_EINVAL);
    json_decref(arr);
    json_decref(o);
}

static void parse_events_built_by_the_fake(void **state)
{
    struct env *t = *state;
    json_t *out = NULL;
    struct lumi_err le;
    assert_int_equal(stripe_checkout_create(&t->conf, &t->in, &out, &t->e), 0);
    const char *id = json_string_value(json_object_get(out, "id"));
    assert_null(fake_stripe_event_refund(t->fs, id, 100, NULL)); /* nothing paid yet */
    assert_int_equal(fake_stripe_complete(t->fs, id, true), 0);

    char *body = fake_stripe_event_session(t->fs, "checkout.session.completed", id, NULL);
    assert_non_null(body);
    assert_true(strlen(body) > 1500);
    json_t *ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &le);
    struct stripe_event e;
    assert_int_equal(stripe_event_parse(ev, &e, &le), 0);
    assert_string_equal(e.type, "checkout.session.completed");
    assert_true(strncmp(e.id, "evt_test_", 9) == 0);
    struct stripe_session s;
    assert_int_equal(stripe_session_parse(e.object, &s, &le), 0);
    assert_string_equal(s.payment_status, "paid");
    assert_int_equal(s.invoice_id, 7);
    /* The signature verifies with the secret Lumi is configured with. */
    char *sig = fake_stripe_sign(t->fs, body, 1700000000);
    const char *secrets[] = {WHSEC};
    assert_int_equal(
        stripe_verify_signature(sig, body, strlen(body), secrets, 1, 1700000010, 300, &le), 0);
    free(sig);
    json_decref(ev);

    char first_id[64];
    assert_int_equal(fake_stripe_event_id(body, first_id, sizeof first_id), 0);
    free(body);
    body = fake_stripe_event_session(t->fs, "checkout.session.completed", id, first_id);
    char again[64];
    assert_int_equal(fake_stripe_event_id(body, again, sizeof again), 0);
    assert_string_equal(again, first_id);
    free(body);

    body = fake_stripe_event_refund(t->fs, id, 2000, NULL);
    ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &le);
    assert_int_equal(stripe_event_parse(ev, &e, &le), 0);
    assert_string_equal(e.type, "charge.refunded");
    assert_string_equal(stripe_payment_intent_of(e.object), s.payment_intent);
    assert_int_equal(json_integer_value(json_object_get(e.object, "amount_refunded")), 2000);
    assert_true(json_is_true(json_object_get(e.object, "refunded")));
    json_decref(ev);
    free(body);

    body = fake_stripe_event_dispute(t->fs, id, 2000, NULL);
    ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &le);
    assert_int_equal(stripe_event_parse(ev, &e, &le), 0);
    assert_string_equal(e.type, "charge.dispute.created");
    assert_string_equal(stripe_payment_intent_of(e.object), s.payment_intent);
    assert_string_equal(json_string_value(json_object_get(e.object, "reason")), "fraudulent");
    json_decref(ev);
    free(body);

    body = fake_stripe_event_pi_failed(t->fs, 7, "Your card has insufficient funds.", NULL);
    ev = jsonx_parse(body, strlen(body), JSONX_MAX_DEPTH, &le);
    assert_int_equal(stripe_event_parse(ev, &e, &le), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(e.object, "last_payment_error"), "message")),
                        "Your card has insufficient funds.");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e.object, "metadata"), "invoice_id")),
        "7");
    json_decref(ev);
    free(body);
    json_decref(out);
}

static void parse_event_refuses_a_bad_envelope(void **state)
{
    (void)state;
    struct stripe_event e;
    struct lumi_err le;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:{s:{}}}", "id", "evt_1", "object", "event", "type",
                           "plan.created", "data", "object");
    assert_int_equal(stripe_event_parse(ev, &e, &le), 0);
    json_object_set_new(ev, "object", json_string("charge"));
    assert_int_equal(stripe_event_parse(ev, &e, &le), LUMI_EINVAL);
    json_object_set_new(ev, "object", json_string("event"));
    json_object_set_new(ev, "data", json_object());
    assert_int_equal(stripe_event_parse(ev, &e, &le), LUMI_EINVAL);
    assert_non_null(strstr(le.msg, "data.object"));
    json_object_set_new(ev, "data", json_pack("{s:{}}", "object"));
    json_object_del(ev, "type");
    assert_int_equal(stripe_event_parse(ev, &e, &le), LUMI_EINVAL);
    json_decref(ev);
}

/* ---- the fake's own fidelity ---- */

static void fake_validates_like_stripe(void **state)
{
    struct env *t = *state;
    struct hc_response res;
    struct hc_error e;
    char url[256], auth[128];
    snprintf(url, sizeof url, "%s/v1/checkout/sessions", fake_stripe_url(t->fs));
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", SK);
    const char *hdrs[] = {auth, "Content-Type: application/x-www-form-urlencoded", NULL};
    static const struct {
        const char *body, *param, *code;
    } cases[] = {
        {"success_url=https://x.test/", "mode", "parameter_missing"},
        {"mode=payment", "success_url", "parameter_missing"},
        {"mode=payment&success_url=https://x.test/", "line_items", "parameter_missing"},
        {"mode=payment&success_url=https://x.test/&line_items[0][price_data][currency]=USD",
         "line_items[0][price_data][currency]", "parameter_invalid"},
        {"mode=payment&success_url=https://x.test/&line_items[0][price_data][currency]=usd"
         "&line_items[0][price_data][unit_amount]=1.5",
         "line_items[0][price_data][unit_amount]", "parameter_invalid_integer"},
        {"mode=payment&success_url=https://x.test/&line_items[0][price_data][currency]=usd"
         "&line_items[0][price_data][unit_amount]=1&line_items[0][price_data][product_data][name]=a"
         "&line_items[0][quantity]=0",
         "line_items[0][quantity]", "parameter_invalid_integer"},
        {"mode=payment&success_url=https://x.test/&bogus=1", "bogus", "parameter_unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hc_request req = {.method = "POST",
                                 .url = url,
                                 .headers = hdrs,
                                 .body = cases[i].body,
                                 .body_len = strlen(cases[i].body)};
        memset(&res, 0, sizeof res);
        assert_int_equal(hc_perform(&req, &res, &e), 0);
        assert_int_equal(res.status, 400);
        struct lumi_err le;
        json_t *b = jsonx_parse(res.body.data, res.body.len, JSONX_MAX_DEPTH, &le);
        const json_t *er = json_object_get(b, "error");
        assert_string_equal(json_string_value(json_object_get(er, "param")), cases[i].param);
        assert_string_equal(json_string_value(json_object_get(er, "code")), cases[i].code);
        json_decref(b);
        hc_response_free(&res);
    }
    assert_int_equal(fake_stripe_session_count(t->fs), 0);
}

/* The members webhooks.c and pay_apply.c read survive stripe_event_load; the
 * nested objects they never read are not built; bad JSON is still refused. */
static void event_load_keeps_what_lumi_reads(void **state)
{
    (void)state;
    struct lumi_err le;
    json_t *session = fixture_session();
    json_object_set_new(session, "metadata", json_pack("{s:s}", "invoice_id", "42"));
    json_object_set_new(session, "last_payment_error", json_pack("{s:s}", "message", "declined"));
    json_object_set_new(
        session, "customer_details",
        json_pack("{s:s, s:{s:s}}", "email", "a@example.com", "address", "city", "Berlin"));
    json_object_set_new(session, "payment_method_types", json_pack("[s]", "card"));
    json_t *ev = json_pack("{s:s, s:s, s:s, s:I, s:b, s:{s:o, s:{s:s}}, s:{s:s}}", "id", "evt_1",
                           "object", "event", "type", "checkout.session.completed", "created",
                           (json_int_t)1700000000, "livemode", 0, "data", "object", session,
                           "previous_attributes", "status", "open", "request", "id", "req_1");
    char *body = json_dumps(ev, JSON_COMPACT);
    json_t *got = stripe_event_load(body, strlen(body), &le);
    assert_non_null(got);
    struct stripe_event env;
    assert_int_equal(stripe_event_parse(got, &env, &le), 0);
    assert_string_equal(env.id, "evt_1");
    assert_int_equal(env.created, 1700000000);
    const json_t *obj = env.object;
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "invoice_id")), "42");
    assert_string_equal(json_string_value(json_object_get(obj, "payment_intent")),
                        "pi_1PgafyB7WZ01zgkWSjxsAJo3");
    assert_non_null(json_object_get(json_object_get(obj, "last_payment_error"), "message"));
    assert_true(json_is_null(json_object_get(obj, "amount_total")));
    assert_string_equal(json_string_value(json_object_get(obj, "payment_status")), "unpaid");
    assert_string_equal(json_string_value(json_object_get(obj, "status")), "open");
    assert_non_null(json_object_get(obj, "expires_at"));
    assert_non_null(json_object_get(obj, "url"));
    assert_null(json_object_get(obj, "customer_details"));
    assert_null(json_object_get(obj, "mode")); /* a scalar Lumi never reads */
    assert_null(json_object_get(obj, "payment_method_types"));
    assert_null(json_object_get(json_object_get(got, "data"), "previous_attributes"));
    assert_null(json_object_get(got, "request"));
    json_decref(got);

    /* a bad byte deep inside a member that is not kept still fails the body */
    char *bad = strstr(body, "Berlin");
    assert_non_null(bad);
    bad[0] = '\x01';
    assert_null(stripe_event_load(body, strlen(body), &le));
    assert_int_equal(le.code, LUMI_EINVAL);
    assert_null(stripe_event_load("[1,2]", 5, &le));
    free(body);
    json_decref(ev);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(create_sends_exactly_the_contract_fields),
        T(create_without_email_leaves_it_out),
        T(retry_after_500_reuses_the_idempotency_key),
        T(retry_after_a_transport_level_500_page),
        T(a_lost_answer_is_retried_and_replayed),
        T(gives_up_after_max_attempts),
        T(should_retry_false_stops_at_once),
        T(should_retry_true_retries_a_429),
        T(a_409_conflict_is_retried),
        T(replay_with_the_same_key_returns_the_same_session),
        T(same_key_other_body_is_an_idempotency_error),
        T(validation_error_quotes_message_code_and_param),
        T(bad_key_is_auth_and_never_shows_the_key),
        T(argument_checks_send_nothing),
        T(long_names_are_cut_on_a_character_boundary),
        T(retrieve_after_payment_shows_paid_and_the_intent),
        T(retrieve_of_an_unknown_session_is_not_found),
        T(connection_refused_is_retried_then_reported),
        T(parse_session_handles_nulls_and_missing_metadata),
        T(parse_session_takes_an_expanded_payment_intent),
        T(parse_session_refuses_what_is_not_one),
        T(parse_events_built_by_the_fake),
        T(parse_event_refuses_a_bad_envelope),
        T(event_load_keeps_what_lumi_reads),
        T(fake_validates_like_stripe),
    };
#undef T
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
