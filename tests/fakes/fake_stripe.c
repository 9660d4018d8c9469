/*
 * fake_stripe.c — the fake Stripe API (see fake_stripe.h).
 *
 * Owns the fake's state: checkout sessions (as the API shows them, plus a
 * private record per session: its charge and line items), the idempotency
 * store, the log of requests the handler saw, and the armed Stripe-shaped
 * failures. Object shapes start from Stripe's own fixtures3.json examples,
 * embedded below, so webhook bodies look like real ones.
 *
 * Threading: the handler runs on fake_http's thread with the fake locked;
 * every test-side function takes the same lock (fake_lock).
 */
#include "fakes/fake_stripe.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/str.h"
#include "gateways/stripe.h"
#include "gateways/stripe_sig.h"

#define MAX_LINES 100
#define META_VALUE_MAX 500
#define LOG_MAX 4096

/* ---- Stripe's example objects (openapi fixtures3.json) ---- */

static const char FIX_SESSION[] =
    "{\"after_expiration\":{\"recovery\":{\"allow_promotion_codes\":true,\"enabled\":true,"
    "\"expires_at\":"
    "null,\"url\":null}},\"allow_promotion_codes\":null,\"amount_subtotal\":null,\"amount_total\":"
    "null,"
    "\"automatic_tax\":{\"enabled\":false,\"liability\":{\"type\":\"account\"},\"status\":null,"
    "\"provider\":n"
    "ull},\"billing_address_collection\":null,\"cancel_url\":\"https://example.com/"
    "cancel\",\"client_r"
    "eference_id\":null,\"client_secret\":null,\"consent\":{\"promotions\":null,\"terms_of_"
    "service\":nul"
    "l},\"consent_collection\":{\"payment_method_reuse_agreement\":{\"position\":\"hidden\"},"
    "\"promotion"
    "s\":null,\"terms_of_service\":null},\"created\":1234567890,\"currency\":null,\"custom_"
    "fields\":[],\""
    "custom_text\":{\"after_submit\":{\"message\":\"message\"},\"shipping_address\":{\"message\":"
    "\"message\""
    "},\"submit\":{\"message\":\"message\"},\"terms_of_service_acceptance\":{\"message\":"
    "\"message\"}},\"cus"
    "tomer\":null,\"customer_creation\":null,\"customer_details\":{\"address\":{\"city\":null,"
    "\"country\":"
    "null,\"line1\":null,\"line2\":null,\"postal_code\":null,\"state\":null},\"email\":\"example@"
    "example.c"
    "om\",\"name\":null,\"phone\":null,\"tax_exempt\":\"none\",\"tax_ids\":null,\"business_name\":"
    "null,\"indi"
    "vidual_name\":null},\"customer_email\":null,\"expires_at\":1234567890,\"id\":\"cs_test_"
    "a1YS1URlnyQ"
    "CN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY\",\"invoice\":null,\"invoice_creation\":{"
    "\"enabl"
    "ed\":true,\"invoice_data\":{\"account_tax_ids\":null,\"custom_fields\":null,\"description\":"
    "null,\"f"
    "ooter\":null,\"issuer\":{\"type\":\"account\"},\"metadata\":null,\"rendering_options\":{"
    "\"amount_tax_d"
    "isplay\":null,\"template\":null}}},\"livemode\":false,\"locale\":null,\"metadata\":{},"
    "\"mode\":\"payme"
    "nt\",\"object\":\"checkout.session\",\"payment_intent\":\"pi_1PgafyB7WZ01zgkWSjxsAJo3\","
    "\"payment_li"
    "nk\":null,\"payment_method_collection\":null,\"payment_method_configuration_details\":{\"id\":"
    "\"ob"
    "j_123\",\"parent\":null},\"payment_method_options\":{},\"payment_method_types\":[\"card\"],"
    "\"payment"
    "_status\":\"unpaid\",\"phone_number_collection\":{\"enabled\":false},\"recovered_from\":null,"
    "\"saved"
    "_payment_method_options\":{\"allow_redisplay_filters\":null,\"payment_method_remove\":null,"
    "\"pay"
    "ment_method_save\":null},\"setup_intent\":null,\"shipping_address_collection\":{\"allowed_"
    "countr"
    "ies\":[\"SC\"]},\"shipping_cost\":{\"amount_subtotal\":1555417355,\"amount_tax\":1424534716,"
    "\"amount"
    "_total\":1117121693,\"shipping_rate\":null},\"shipping_options\":[],\"status\":\"open\","
    "\"submit_typ"
    "e\":null,\"subscription\":null,\"success_url\":\"https://example.com/"
    "success\",\"total_details\":{\""
    "amount_discount\":406046392,\"amount_shipping\":null,\"amount_tax\":1424534716},\"ui_mode\":"
    "null,"
    "\"url\":\"https://checkout.stripe.com/pay/c/cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJP"
    "qkfIhd6tVY8XB1OLY\",\"adaptive_pricing\":{\"enabled\":true},\"discounts\":null,\"collected_"
    "informa"
    "tion\":{\"shipping_details\":{\"address\":{\"city\":null,\"country\":null,\"line1\":null,"
    "\"line2\":null"
    ",\"postal_code\":null,\"state\":null},\"name\":\"name\"},\"business_name\":null,\"individual_"
    "name\":nu"
    "ll},\"permissions\":{\"update_shipping_details\":null},\"wallet_options\":{},\"origin_"
    "context\":nu"
    "ll,\"currency_conversion\":{\"amount_subtotal\":1555417355,\"amount_total\":1117121693,\"fx_"
    "rate\""
    ":\"291452898\",\"source_currency\":\"usd\"},\"customer_account\":null,\"integration_"
    "identifier\":nul"
    "l,\"managed_payments\":{\"enabled\":true}}";

static const char FIX_EVENT[] = "{\"api_version\":null,\"created\":1234567890,\"data\":{\"object\":"
                                "{}},\"id\":\"evt_1Pgc76B7WZ01zgkWwy"
                                "RHS12y\",\"livemode\":false,\"object\":\"event\",\"pending_"
                                "webhooks\":0,\"request\":{\"id\":null,\"idemp"
                                "otency_key\":null},\"type\":\"plan.created\"}";

static const char FIX_CHARGE[] =
    "{\"amount\":100,\"amount_captured\":0,\"amount_refunded\":0,\"application\":null,"
    "\"application_fee\""
    ":null,\"application_fee_amount\":null,\"balance_transaction\":\"txn_"
    "1PgaxNB7WZ01zgkWEV3TLf40\",\""
    "billing_details\":{\"address\":{\"city\":null,\"country\":null,\"line1\":null,\"line2\":null,"
    "\"postal_"
    "code\":null,\"state\":null},\"email\":null,\"name\":\"Jenny "
    "Rosen\",\"phone\":null,\"tax_id\":null},\"ca"
    "lculated_statement_descriptor\":null,\"captured\":false,\"created\":1234567890,\"currency\":"
    "\"usd\""
    ",\"customer\":null,\"description\":\"My First Test Charge (created for API "
    "docs)\",\"disputed\":fa"
    "lse,\"failure_balance_transaction\":null,\"failure_code\":null,\"failure_message\":null,"
    "\"fraud_d"
    "etails\":{},\"id\":\"ch_1PgafuB7WZ01zgkWXYmPNZs8\",\"livemode\":false,\"metadata\":{},"
    "\"object\":\"cha"
    "rge\",\"on_behalf_of\":null,\"outcome\":{\"advice_code\":null,\"network_advice_code\":null,"
    "\"network"
    "_decline_code\":null,\"network_status\":null,\"reason\":null,\"seller_message\":null,\"type\":"
    "\"type"
    "\"},\"paid\":true,\"payment_intent\":null,\"payment_method\":\"card_"
    "1PgaftB7WZ01zgkWm3waTcFp\",\"pay"
    "ment_method_details\":{\"card\":{\"amount_authorized\":null,\"brand\":\"visa\",\"checks\":{"
    "\"address_l"
    "ine1_check\":null,\"address_postal_code_check\":null,\"cvc_check\":\"pass\"},\"country\":"
    "\"US\",\"exp_"
    "month\":8,\"exp_year\":2030,\"extended_authorization\":{\"status\":\"disabled\"},"
    "\"fingerprint\":\"AOB"
    "934RVNwzk6xtn\",\"funding\":\"credit\",\"incremental_authorization\":{\"status\":"
    "\"unavailable\"},\"in"
    "stallments\":{\"plan\":{\"count\":null,\"interval\":null,\"type\":\"fixed_count\"}},\"last4\":"
    "\"4242\",\"m"
    "andate\":null,\"multicapture\":{\"status\":\"unavailable\"},\"network\":\"visa\",\"network_"
    "token\":{\"us"
    "ed\":false},\"overcapture\":{\"maximum_amount_capturable\":100,\"status\":\"unavailable\"},"
    "\"three_d"
    "_secure\":{\"authentication_flow\":null,\"electronic_commerce_indicator\":null,\"exemption_"
    "indic"
    "ator\":null,\"result\":null,\"result_reason\":null,\"transaction_id\":null,\"version\":null},"
    "\"walle"
    "t\":{\"dynamic_last4\":null,\"type\":\"link\"},\"authorization_code\":null,\"regulated_"
    "status\":null,"
    "\"network_transaction_id\":null,\"transaction_link_id\":null},\"type\":\"card\"},\"receipt_"
    "email\":n"
    "ull,\"receipt_number\":null,\"receipt_url\":\"https://"
    "sangeekp-15t6ai--manage-mydev.dev.stripe."
    "me/receipts/payment/CAcaFwoVYWNjdF8xUGdhZlRCN1daMDF6Z2tXKI_ei7UGMgZv2S_KfiY6LCJrxC7awazgQA"
    "9I88krZKw5uuCkZ5Nup2tomEtAbSpdfzjVZHO3ZYP5KFZP\",\"refunded\":false,\"refunds\":{\"data\":[],"
    "\"has"
    "_more\":false,\"object\":\"list\",\"url\":\"/v1/charges/ch_1PgafuB7WZ01zgkWXYmPNZs8/"
    "refunds\"},\"rev"
    "iew\":null,\"shipping\":{},\"source_transfer\":null,\"statement_descriptor\":null,\"statement_"
    "desc"
    "riptor_suffix\":null,\"status\":\"succeeded\",\"transfer_data\":{\"amount\":null,"
    "\"destination\":{\"id"
    "\":\"obj_123\",\"object\":\"account\"}},\"transfer_group\":null,\"source\":null}";

static const char FIX_DISPUTE[] = "{\"amount\":1000,\"balance_transactions\":[],\"charge\":\"ch_"
                                  "1PgafuB7WZ01zgkWXYmPNZs8\",\"created\":"
                                  "1234567890,\"currency\":\"usd\",\"evidence\":{\"access_activity_"
                                  "log\":null,\"billing_address\":null,"
                                  "\"cancellation_policy\":null,\"cancellation_policy_disclosure\":"
                                  "null,\"cancellation_rebuttal\":n"
                                  "ull,\"customer_communication\":null,\"customer_email_address\":"
                                  "null,\"customer_name\":null,\"cust"
                                  "omer_purchase_ip\":null,\"customer_signature\":null,\"duplicate_"
                                  "charge_documentation\":null,\"du"
                                  "plicate_charge_explanation\":null,\"duplicate_charge_id\":null,"
                                  "\"product_description\":null,\"re"
                                  "ceipt\":null,\"refund_policy\":null,\"refund_policy_"
                                  "disclosure\":null,\"refund_refusal_explanati"
                                  "on\":null,\"service_date\":null,\"service_documentation\":null,"
                                  "\"shipping_address\":null,\"shippin"
                                  "g_carrier\":null,\"shipping_date\":null,\"shipping_"
                                  "documentation\":null,\"shipping_tracking_numb"
                                  "er\":null,\"uncategorized_file\":null,\"uncategorized_text\":"
                                  "null,\"enhanced_evidence\":{}},\"evid"
                                  "ence_details\":{\"due_by\":1723679999,\"has_evidence\":false,"
                                  "\"past_due\":false,\"submission_count"
                                  "\":0,\"enhanced_eligibility\":{}},\"id\":\"dp_"
                                  "1Pgc71B7WZ01zgkWMevJiAUx\",\"is_charge_refundable\":t"
                                  "rue,\"livemode\":false,\"metadata\":{},\"object\":\"dispute\","
                                  "\"payment_intent\":null,\"payment_metho"
                                  "d_details\":{\"card\":{\"brand\":\"visa\",\"case_type\":"
                                  "\"inquiry\",\"network_reason_code\":\"10.4\",\"net"
                                  "work\":\"visa\"},\"type\":\"card\"},\"reason\":\"general\","
                                  "\"status\":\"warning_needs_response\",\"enhance"
                                  "d_eligibility_types\":[\"visa_compelling_evidence_3\"]}";

static const char FIX_PAYMENT_INTENT[] =
    "{\"amount\":1099,\"amount_capturable\":0,\"amount_details\":{\"tip\":{}},\"amount_received\":"
    "0,\"appl"
    "ication\":null,\"application_fee_amount\":null,\"automatic_payment_methods\":{\"enabled\":"
    "true},\""
    "canceled_at\":1234567890,\"cancellation_reason\":null,\"capture_method\":\"automatic\","
    "\"client_se"
    "cret\":\"pi_1PgafyB7WZ01zgkWSjxsAJo3_secret_Dm43xiq1k0ywrRRjDoi8y1gkM\",\"confirmation_"
    "method\""
    ":\"automatic\",\"created\":1234567890,\"currency\":\"usd\",\"customer\":null,\"description\":"
    "null,\"id\""
    ":\"pi_1PgafyB7WZ01zgkWSjxsAJo3\",\"last_payment_error\":{\"type\":\"idempotency_error\"},"
    "\"latest_c"
    "harge\":null,\"livemode\":false,\"metadata\":{},\"next_action\":{\"type\":\"type\"},"
    "\"object\":\"payment"
    "_intent\",\"on_behalf_of\":null,\"payment_method\":null,\"payment_method_configuration_"
    "details\":"
    "{\"id\":\"obj_123\",\"parent\":null},\"payment_method_options\":{},\"payment_method_types\":["
    "\"card\"]"
    ",\"processing\":{\"type\":\"card\"},\"receipt_email\":null,\"review\":null,\"setup_future_"
    "usage\":null"
    ",\"shipping\":{},\"statement_descriptor\":null,\"statement_descriptor_suffix\":null,"
    "\"status\":\"re"
    "quires_payment_method\",\"transfer_data\":{\"destination\":{\"id\":\"obj_123\",\"object\":"
    "\"account\"}}"
    ",\"transfer_group\":null,\"source\":null,\"excluded_payment_method_types\":null,\"customer_"
    "accoun"
    "t\":null,\"managed_payments\":{\"enabled\":true}}";

struct fake_stripe {
    struct fake_server *http;
    char *secret_key, *webhook_secret;
    char url[64];
    json_t *sessions; /* id → session as the API shows it */
    json_t *priv;     /* id → {charge, invoice_id} */
    json_t *idem;     /* Idempotency-Key → {body, status, answer} */
    json_t *order;    /* session ids in creation order */
    int64_t next_session, next_pi, next_charge, next_event, next_dispute;
    int fail_left, fail_status, fail_should_retry;
    struct fake_stripe_req *log;
    size_t nlog;
};

/* ---- helpers ---- */

static json_t *fixture(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (v == NULL)
        abort(); /* the embedded fixtures are constants */
    return v;
}

static void hdr_copy(const struct fake_request *r, const char *name, char *out, size_t outsz)
{
    const char *v = fake_header(r, name);
    str_copy(out, v != NULL ? v : "", outsz);
}

json_t *fake_stripe_form_decode(const char *body, size_t len)
{
    json_t *out = json_object();
    size_t i = 0;
    while (out != NULL && body != NULL && i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        size_t klen = eq != NULL ? (size_t)(eq - (body + i)) : end - i;
        char *k = str_url_decode(body + i, klen, true);
        char *v = eq != NULL ? str_url_decode(eq + 1, (size_t)(body + end - (eq + 1)), true)
                             : str_dup("");
        if (k != NULL && v != NULL && k[0] != '\0')
            json_object_set_new(out, k, json_string(v));
        free(k);
        free(v);
        i = end + 1;
    }
    return out;
}

/* Sets a Stripe error answer. param and code may be NULL. */
static void stripe_error(struct fake_response *w, int status, const char *type, const char *code,
                         const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void stripe_error(struct fake_response *w, int status, const char *type, const char *code,
                         const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{s:s, s:s}", "type", type, "message", msg);
    if (code != NULL)
        json_object_set_new(err, "code", json_string(code));
    if (param != NULL)
        json_object_set_new(err, "param", json_string(param));
    json_object_set_new(err, "request_log_url",
                        json_string("https://dashboard.stripe.com/test/logs/req_fake"));
    json_t *root = json_pack("{s:o}", "error", err);
    char *s = jsonx_dump(root);
    fake_reply(w, status, "application/json", s);
    free(s);
    json_decref(root);
}

static void reply_json(struct fake_response *w, int status, const json_t *v)
{
    char *s = jsonx_dump(v);
    fake_reply(w, status, "application/json", s);
    free(s);
}

static bool is_int_text(const char *s, int64_t *out)
{
    return s != NULL && str_to_i64z(s, INT64_MIN, INT64_MAX, out) == 0;
}

static const char *form_get(const json_t *form, const char *key)
{
    return json_string_value(json_object_get(form, key));
}

/* ---- create ---- */

/* Whether name is a parameter this endpoint takes; *line gets the index of a line item key. */
static bool known_param(const char *name, long *line)
{
    static const char *const plain[] = {
        "mode", "success_url", "cancel_url", "client_reference_id", "customer_email", NULL};
    static const char *const item_keys[] = {"[price_data][currency]", "[price_data][unit_amount]",
                                            "[price_data][product_data][name]", "[quantity]", NULL};
    *line = -1;
    for (size_t i = 0; plain[i] != NULL; i++)
        if (strcmp(name, plain[i]) == 0)
            return true;
    if (str_starts_with(name, "metadata[") && name[strlen(name) - 1] == ']' &&
        strchr(name + 9, '[') == NULL)
        return true;
    if (str_starts_with(name, "payment_intent_data[metadata][") && name[strlen(name) - 1] == ']' &&
        strchr(name + 30, '[') == NULL)
        return true;
    if (!str_starts_with(name, "line_items["))
        return false;
    const char *p = name + 11;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 6 || p[n] != ']')
        return false;
    int64_t idx;
    if (str_to_i64(p, n, 0, 999999, &idx) != 0)
        return false;
    for (size_t i = 0; item_keys[i] != NULL; i++)
        if (strcmp(p + n + 1, item_keys[i]) == 0) {
            *line = (long)idx;
            return true;
        }
    return false;
}

static int check_url(struct fake_response *w, const json_t *form, const char *key, bool required)
{
    const char *u = form_get(form, key);
    if (u == NULL || u[0] == '\0') {
        if (!required)
            return 0;
        stripe_error(w, 400, "invalid_request_error", "parameter_missing", key,
                     "Missing required param: %s.", key);
        return -1;
    }
    if (!str_starts_with(u, "http://") && !str_starts_with(u, "https://")) {
        stripe_error(w, 400, "invalid_request_error", "url_invalid", key, "Not a valid URL");
        return -1;
    }
    return 0;
}

static int check_metadata(struct fake_response *w, const json_t *form)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)form, k, v)
    {
        if (!str_starts_with(k, "metadata[") &&
            !str_starts_with(k, "payment_intent_data[metadata]"))
            continue;
        size_t n = strlen(json_string_value(v));
        if (n > META_VALUE_MAX) {
            stripe_error(w, 400, "invalid_request_error", "parameter_invalid", k,
                         "Metadata values can have up to 500 characters, but you passed in a "
                         "value that is %zu characters.",
                         n);
            return -1;
        }
    }
    return 0;
}

/* Validates the line items; fills amount total and currency. */
static int check_lines(struct fake_response *w, const json_t *form, long nlines, json_t *lines,
                       int64_t *total, char *currency)
{
    char key[128];
    *total = 0;
    currency[0] = '\0';
    if (nlines == 0) {
        stripe_error(w, 400, "invalid_request_error", "parameter_missing", "line_items",
                     "Missing required param: line_items.");
        return -1;
    }
    if (nlines > MAX_LINES) {
        stripe_error(w, 400, "invalid_request_error", "parameter_invalid", "line_items",
                     "You may only specify up to 100 line items.");
        return -1;
    }
    for (long i = 0; i < nlines; i++) {
        snprintf(key, sizeof key, "line_items[%ld][price_data][currency]", i);
        const char *cur = form_get(form, key);
        if (cur == NULL || cur[0] == '\0') {
            stripe_error(w, 400, "invalid_request_error", "parameter_missing", key,
                         "Missing required param: %s.", key);
            return -1;
        }
        bool lower3 = strlen(cur) == 3;
        for (size_t c = 0; lower3 && c < 3; c++)
            lower3 = cur[c] >= 'a' && cur[c] <= 'z';
        if (!lower3) {
            stripe_error(w, 400, "invalid_request_error", "parameter_invalid", key,
                         "Invalid currency: %.16s. Stripe currently supports these currencies: "
                         "usd, eur, gbp, ...",
                         cur);
            return -1;
        }
        if (currency[0] == '\0') {
            str_copy(currency, cur, 4);
        } else if (strcmp(currency, cur) != 0) {
            stripe_error(w, 400, "invalid_request_error", "parameter_invalid", key,
                         "All line items must have the same currency.");
            return -1;
        }
        int64_t unit, qty;
        snprintf(key, sizeof key, "line_items[%ld][price_data][unit_amount]", i);
        const char *ua = form_get(form, key);
        if (ua == NULL) {
            stripe_error(w, 400, "invalid_request_error", "parameter_missing", key,
                         "Missing required param: %s.", key);
            return -1;
        }
        if (!is_int_text(ua, &unit)) {
            stripe_error(w, 400, "invalid_request_error", "parameter_invalid_integer", key,
                         "Invalid integer: %.32s", ua);
            return -1;
        }
        if (unit < 0 || unit > 99999999) {
            stripe_error(w, 400, "invalid_request_error", "parameter_invalid_integer", key,
                         "This value must be greater than or equal to 0 and at most 99999999.");
            return -1;
        }
        snprintf(key, sizeof key, "line_items[%ld][price_data][product_data][name]", i);
        const char *name = form_get(form, key);
        if (name == NULL || name[0] == '\0') {
            stripe_error(w, 400, "invalid_request_error", "parameter_missing", key,
                         "Missing required param: %s.", key);
            return -1;
        }
        snprintf(key, sizeof key, "line_items[%ld][quantity]", i);
        const char *q = form_get(form, key);
        if (q == NULL) {
            stripe_error(w, 400, "invalid_request_error", "parameter_missing", key,
                         "Missing required param: %s.", key);
            return -1;
        }
        if (!is_int_text(q, &qty) || qty < 1 || qty > 999999) {
            stripe_error(w, 400, "invalid_request_error", "parameter_invalid_integer", key,
                         "Invalid integer: %.32s", q);
            return -1;
        }
        *total += unit * qty;
        json_array_append_new(lines, json_pack("{s:s, s:I, s:I}", "name", name, "unit_amount",
                                               (json_int_t)unit, "quantity", (json_int_t)qty));
    }
    return 0;
}

static json_t *new_session(struct fake_stripe *f, const json_t *form, int64_t total,
                           const char *currency)
{
    char id[64], url[160];
    int64_t now = (int64_t)time(NULL);
    json_t *s = fixture(FIX_SESSION);
    snprintf(id, sizeof id, "cs_test_%" PRId64, ++f->next_session);
    snprintf(url, sizeof url, "%s/pay/%s", f->url, id);
    json_t *meta = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)form, k, v)
    {
        if (str_starts_with(k, "metadata[")) {
            char mk[64];
            size_t n = strlen(k) - 10;
            snprintf(mk, sizeof mk, "%.*s", (int)n, k + 9);
            json_object_set(meta, mk, v);
        }
    }
    json_object_set_new(s, "id", json_string(id));
    json_object_set_new(s, "url", json_string(url));
    json_object_set_new(s, "status", json_string("open"));
    json_object_set_new(s, "payment_status", json_string("unpaid"));
    json_object_set_new(s, "amount_total", json_integer(total));
    json_object_set_new(s, "amount_subtotal", json_integer(total));
    json_object_set_new(s, "currency", json_string(currency));
    json_object_set_new(s, "metadata", meta);
    const char *ref = form_get(form, "client_reference_id");
    json_object_set_new(s, "client_reference_id", ref != NULL ? json_string(ref) : json_null());
    const char *email = form_get(form, "customer_email");
    json_object_set_new(s, "customer_email", email != NULL ? json_string(email) : json_null());
    json_object_set_new(s, "customer_details", json_null());
    json_object_set_new(s, "payment_intent", json_null());
    json_object_set_new(s, "expires_at", json_integer(now + 24 * 3600));
    json_object_set_new(s, "created", json_integer(now));
    json_object_set(s, "success_url", json_object_get(form, "success_url"));
    const json_t *cancel = json_object_get(form, "cancel_url");
    json_object_set_new(s, "cancel_url",
                        cancel != NULL ? json_copy((json_t *)cancel) : json_null());
    json_object_set_new(s, "livemode", json_false());
    json_object_set_new(s, "after_expiration", json_null());
    json_object_set_new(s, "shipping_address_collection", json_null());
    json_object_set_new(s, "shipping_cost", json_null());
    json_object_set_new(s, "currency_conversion", json_null());
    json_object_set_new(s, "collected_information", json_null());
    json_object_set_new(
        s, "total_details",
        json_pack("{s:i, s:i, s:i}", "amount_discount", 0, "amount_shipping", 0, "amount_tax", 0));
    json_object_set_new(json_object_get(s, "invoice_creation"), "enabled", json_false());
    return s;
}

static void create_session(struct fake_stripe *f, const struct fake_request *r,
                           struct fake_response *w)
{
    json_t *form = NULL, *lines = NULL;
    char currency[4];
    int64_t total;
    const char *ct = fake_header(r, "Content-Type");
    if (ct == NULL || !str_starts_with(ct, "application/x-www-form-urlencoded")) {
        stripe_error(w, 400, "invalid_request_error", NULL, NULL,
                     "Invalid request: the body must be application/x-www-form-urlencoded.");
        goto out;
    }
    form = fake_stripe_form_decode(r->body, r->body_len);
    const char *k;
    json_t *v;
    long nlines = 0;
    json_object_foreach(form, k, v)
    {
        long line;
        if (!known_param(k, &line)) {
            stripe_error(w, 400, "invalid_request_error", "parameter_unknown", k,
                         "Received unknown parameter: %s", k);
            goto out;
        }
        if (line + 1 > nlines)
            nlines = line + 1;
    }
    const char *mode = form_get(form, "mode");
    if (mode == NULL) {
        stripe_error(w, 400, "invalid_request_error", "parameter_missing", "mode",
                     "Missing required param: mode.");
        goto out;
    }
    if (strcmp(mode, "payment") != 0) {
        stripe_error(w, 400, "invalid_request_error", "parameter_invalid", "mode",
                     "Invalid mode: this fake only takes payment");
        goto out;
    }
    if (check_url(w, form, "success_url", true) != 0 ||
        check_url(w, form, "cancel_url", false) != 0)
        goto out;
    lines = json_array();
    if (check_lines(w, form, nlines, lines, &total, currency) != 0)
        goto out;
    if (check_metadata(w, form) != 0)
        goto out;
    const char *ref = form_get(form, "client_reference_id");
    if (ref != NULL && strlen(ref) > 200) {
        stripe_error(w, 400, "invalid_request_error", "parameter_invalid", "client_reference_id",
                     "client_reference_id must be at most 200 characters.");
        goto out;
    }
    const char *email = form_get(form, "customer_email");
    if (email != NULL && strchr(email, '@') == NULL) {
        stripe_error(w, 400, "invalid_request_error", "email_invalid", "customer_email",
                     "Invalid email address: %.64s", email);
        goto out;
    }
    json_t *s = new_session(f, form, total, currency);
    const char *id = json_string_value(json_object_get(s, "id"));
    json_t *p = json_pack("{s:n, s:n, s:O}", "charge", "pi", "lines", lines);
    const char *inv = form_get(form, "payment_intent_data[metadata][invoice_id]");
    json_object_set_new(p, "pi_invoice_id", inv != NULL ? json_string(inv) : json_null());
    json_object_set_new(f->priv, id, p);
    json_array_append_new(f->order, json_string(id));
    json_object_set_new(f->sessions, id, s);
    reply_json(w, 200, s);
out:
    json_decref(lines);
    json_decref(form);
}

/* ---- handler ---- */

static void armed_failure(struct fake_stripe *f, struct fake_response *w)
{
    int st = f->fail_status;
    f->fail_left--;
    if (st == 409)
        stripe_error(w, 409, "idempotency_error", "lock_timeout", NULL,
                     "There is currently another in-progress request using this Idempotent "
                     "Key (that probably means you submitted twice, and the other request is "
                     "still going through).");
    else if (st == 429)
        stripe_error(w, 429, "invalid_request_error", "rate_limit", NULL,
                     "Too many requests hit the API too quickly.");
    else
        stripe_error(w, st, "api_error", NULL, NULL,
                     "An unknown error occurred while processing your request (fake).");
    if (f->fail_should_retry >= 0)
        fake_add_header(w, "Stripe-Should-Retry", f->fail_should_retry ? "true" : "false");
}

static bool authorized(struct fake_stripe *f, const struct fake_request *r, struct fake_response *w)
{
    const char *a = fake_header(r, "Authorization");
    const char *key = (a != NULL && str_starts_with(a, "Bearer ")) ? a + 7 : NULL;
    if (key == NULL || key[0] == '\0') {
        stripe_error(w, 401, "invalid_request_error", NULL, NULL,
                     "You did not provide an API key. You need to provide your API key in the "
                     "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                     "YOUR_SECRET_KEY').");
        return false;
    }
    if (!str_starts_with(key, "sk_test_") || strcmp(key, f->secret_key) != 0) {
        size_t n = strlen(key);
        stripe_error(w, 401, "invalid_request_error", NULL, NULL,
                     "Invalid API Key provided: %.8s****%s", key, n > 4 ? key + n - 4 : "");
        return false;
    }
    return true;
}

/* Create with the idempotency store around it. */
static void create_idempotent(struct fake_stripe *f, const struct fake_request *r,
                              struct fake_response *w, struct fake_stripe_req *rec)
{
    const char *key = fake_header(r, "Idempotency-Key");
    if (key == NULL || key[0] == '\0') {
        create_session(f, r, w);
        return;
    }
    if (strlen(key) > 255) {
        stripe_error(w, 400, "invalid_request_error", "idempotency_key_too_long", NULL,
                     "Idempotency keys can be at most 255 characters long.");
        return;
    }
    json_t *prev = json_object_get(f->idem, key);
    if (prev != NULL) {
        if (strcmp(json_string_value(json_object_get(prev, "body")), r->body) != 0) {
            stripe_error(w, 400, "idempotency_error", NULL, NULL,
                         "Keys for idempotent requests can only be used with the same parameters "
                         "they were first used with. Try using a key other than '%.255s' if you "
                         "meant to execute a different request.",
                         key);
            return;
        }
        fake_reply(w, (int)json_integer_value(json_object_get(prev, "status")), "application/json",
                   json_string_value(json_object_get(prev, "answer")));
        fake_add_header(w, "Idempotent-Replayed", "true");
        rec->replayed = true;
        return;
    }
    create_session(f, r, w);
    /* Stripe saves the result once the endpoint ran, errors from validation excepted. */
    if (w->status == 200)
        json_object_set_new(f->idem, key,
                            json_pack("{s:s, s:i, s:s}", "body", r->body, "status", w->status,
                                      "answer", buf_cstr(&w->body)));
}

static void handler(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct fake_stripe *f = state;
    struct fake_stripe_req rec;
    memset(&rec, 0, sizeof rec);
    str_copy(rec.method, r->method, sizeof rec.method);
    str_copy(rec.path, r->path, sizeof rec.path);
    hdr_copy(r, "Idempotency-Key", rec.idempotency_key, sizeof rec.idempotency_key);
    hdr_copy(r, "Stripe-Version", rec.stripe_version, sizeof rec.stripe_version);
    hdr_copy(r, "Content-Type", rec.content_type, sizeof rec.content_type);
    w->status = 200;

    if (f->fail_left > 0) {
        armed_failure(f, w);
    } else if (strcmp(r->method, "GET") == 0 && str_starts_with(r->path, "/pay/")) {
        /* The hosted checkout page the buyer is sent to (no API key: a browser opens it). */
        fake_reply(w, 200, "text/html; charset=utf-8",
                   "<!doctype html><title>Fake Stripe Checkout</title>"
                   "<h1>Fake Stripe Checkout</h1><p>The test completes this session.</p>");
    } else if (!authorized(f, r, w)) {
        /* answered */
    } else if (strcmp(r->method, "POST") == 0 && strcmp(r->path, "/v1/checkout/sessions") == 0) {
        create_idempotent(f, r, w, &rec);
    } else if (strcmp(r->method, "GET") == 0 &&
               str_starts_with(r->path, "/v1/checkout/sessions/")) {
        char *id = str_url_decode(r->path + 22, strlen(r->path + 22), false);
        json_t *s = id != NULL ? json_object_get(f->sessions, id) : NULL;
        if (s != NULL)
            reply_json(w, 200, s);
        else
            stripe_error(w, 404, "invalid_request_error", "resource_missing", "session",
                         "No such checkout.session: '%.128s'", id != NULL ? id : "");
        free(id);
    } else {
        stripe_error(w, 404, "invalid_request_error", NULL, NULL,
                     "Unrecognized request URL (%s: %.200s). Please see https://stripe.com/docs "
                     "or we can help at https://support.stripe.com/.",
                     r->method, r->path);
    }
    rec.status = w->status;
    if (f->nlog < LOG_MAX) {
        struct fake_stripe_req *p = realloc(f->log, (f->nlog + 1) * sizeof *p);
        if (p != NULL) {
            f->log = p;
            f->log[f->nlog++] = rec;
        }
    }
}

/* ---- lifecycle ---- */

struct fake_stripe *fake_stripe_start(const char *secret_key, const char *webhook_secret)
{
    struct fake_stripe *f = calloc(1, sizeof *f);
    if (f == NULL)
        abort();
    f->secret_key = str_dup(secret_key != NULL ? secret_key : "");
    f->webhook_secret = str_dup(webhook_secret != NULL ? webhook_secret : "");
    f->sessions = json_object();
    f->priv = json_object();
    f->idem = json_object();
    f->order = json_array();
    f->fail_should_retry = -1;
    f->http = fake_start(handler, f);
    fake_lock(f->http);
    str_copy(f->url, fake_url(f->http), sizeof f->url);
    fake_unlock(f->http);
    return f;
}

const char *fake_stripe_url(struct fake_stripe *f)
{
    return f->url;
}

struct fake_server *fake_stripe_server(struct fake_stripe *f)
{
    return f->http;
}

void fake_stripe_stop(struct fake_stripe *f)
{
    if (f == NULL)
        return;
    fake_stop(f->http);
    json_decref(f->sessions);
    json_decref(f->priv);
    json_decref(f->idem);
    json_decref(f->order);
    free(f->secret_key);
    free(f->webhook_secret);
    free(f->log);
    free(f);
}

void fake_stripe_fail_next(struct fake_stripe *f, int count, int status, int should_retry)
{
    fake_lock(f->http);
    f->fail_left = count;
    f->fail_status = status;
    f->fail_should_retry = should_retry;
    fake_unlock(f->http);
}

size_t fake_stripe_session_count(struct fake_stripe *f)
{
    fake_lock(f->http);
    size_t n = json_object_size(f->sessions);
    fake_unlock(f->http);
    return n;
}

json_t *fake_stripe_session_json(struct fake_stripe *f, const char *session_id)
{
    fake_lock(f->http);
    json_t *s = json_object_get(f->sessions, session_id != NULL ? session_id : "");
    json_t *copy = s != NULL ? json_deep_copy(s) : NULL;
    fake_unlock(f->http);
    return copy;
}

int fake_stripe_complete(struct fake_stripe *f, const char *session_id, bool paid)
{
    int rc = -1;
    char id[64];
    fake_lock(f->http);
    json_t *s = json_object_get(f->sessions, session_id != NULL ? session_id : "");
    json_t *p = json_object_get(f->priv, session_id != NULL ? session_id : "");
    if (s == NULL || p == NULL)
        goto out;
    json_object_set_new(s, "status", json_string("complete"));
    json_object_set_new(s, "payment_status", json_string(paid ? "paid" : "unpaid"));
    if (json_is_null(json_object_get(s, "payment_intent"))) {
        snprintf(id, sizeof id, "pi_test_%" PRId64, ++f->next_pi);
        json_object_set_new(s, "payment_intent", json_string(id));
        snprintf(id, sizeof id, "ch_test_%" PRId64, ++f->next_charge);
        json_object_set_new(p, "charge", json_string(id));
    }
    const json_t *email = json_object_get(s, "customer_email");
    json_object_set_new(s, "customer_details",
                        json_pack("{s:O, s:n, s:n, s:s}", "email",
                                  json_is_string(email) ? email : json_null(), "name", "phone",
                                  "tax_exempt", "none"));
    rc = 0;
out:
    fake_unlock(f->http);
    return rc;
}

int fake_stripe_expire(struct fake_stripe *f, const char *session_id)
{
    int rc = -1;
    fake_lock(f->http);
    json_t *s = json_object_get(f->sessions, session_id != NULL ? session_id : "");
    if (s != NULL) {
        json_object_set_new(s, "status", json_string("expired"));
        json_object_set_new(s, "url", json_null());
        rc = 0;
    }
    fake_unlock(f->http);
    return rc;
}

int fake_stripe_charge_of(struct fake_stripe *f, const char *session_id, char *out, size_t outsz)
{
    int rc = -1;
    fake_lock(f->http);
    const char *ch = json_string_value(
        json_object_get(json_object_get(f->priv, session_id != NULL ? session_id : ""), "charge"));
    if (ch != NULL) {
        str_copy(out, ch, outsz);
        rc = 0;
    }
    fake_unlock(f->http);
    return rc;
}

size_t fake_stripe_request_count(struct fake_stripe *f)
{
    fake_lock(f->http);
    size_t n = f->nlog;
    fake_unlock(f->http);
    return n;
}

int fake_stripe_request(struct fake_stripe *f, size_t index, struct fake_stripe_req *out)
{
    int rc = -1;
    memset(out, 0, sizeof *out);
    fake_lock(f->http);
    if (index < f->nlog) {
        *out = f->log[index];
        rc = 0;
    }
    fake_unlock(f->http);
    return rc;
}

/* ---- events ---- */

/* The envelope around obj (taken); f locked. Returns the JSON text (caller frees). */
static char *envelope(struct fake_stripe *f, const char *type, json_t *obj, const char *event_id)
{
    char id[64];
    json_t *ev = fixture(FIX_EVENT);
    if (event_id != NULL)
        str_copy(id, event_id, sizeof id);
    else
        snprintf(id, sizeof id, "evt_test_%" PRId64, ++f->next_event);
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "api_version", json_string(STRIPE_API_VERSION));
    json_object_set_new(ev, "created", json_integer((json_int_t)time(NULL)));
    json_object_set_new(ev, "livemode", json_false());
    json_object_set_new(ev, "pending_webhooks", json_integer(1));
    json_object_set_new(ev, "data", json_pack("{s:o}", "object", obj));
    char *s = jsonx_dump(ev);
    json_decref(ev);
    return s;
}

char *fake_stripe_event_session(struct fake_stripe *f, const char *type, const char *session_id,
                                const char *event_id)
{
    char *out = NULL;
    fake_lock(f->http);
    json_t *s = json_object_get(f->sessions, session_id != NULL ? session_id : "");
    if (s != NULL && type != NULL)
        out = envelope(f, type, json_deep_copy(s), event_id);
    fake_unlock(f->http);
    return out;
}

char *fake_stripe_event_refund(struct fake_stripe *f, const char *session_id,
                               int64_t cumulative_refunded, const char *event_id)
{
    char *out = NULL;
    fake_lock(f->http);
    json_t *s = json_object_get(f->sessions, session_id != NULL ? session_id : "");
    const char *ch = json_string_value(
        json_object_get(json_object_get(f->priv, session_id != NULL ? session_id : ""), "charge"));
    if (s == NULL || ch == NULL)
        goto out;
    int64_t amount = json_integer_value(json_object_get(s, "amount_total"));
    json_t *c = fixture(FIX_CHARGE);
    json_object_set_new(c, "id", json_string(ch));
    json_object_set_new(c, "amount", json_integer(amount));
    json_object_set_new(c, "amount_captured", json_integer(amount));
    json_object_set_new(c, "captured", json_true());
    json_object_set_new(c, "amount_refunded", json_integer(cumulative_refunded));
    json_object_set_new(c, "refunded", json_boolean(cumulative_refunded >= amount));
    json_object_set(c, "currency", json_object_get(s, "currency"));
    json_object_set(c, "payment_intent", json_object_get(s, "payment_intent"));
    json_object_set_new(c, "description", json_null());
    json_object_set_new(c, "transfer_data", json_null());
    json_object_set_new(c, "created", json_integer((json_int_t)time(NULL)));
    json_t *refunds = json_object_get(c, "refunds");
    char rurl[128];
    snprintf(rurl, sizeof rurl, "/v1/charges/%s/refunds", ch);
    json_object_set_new(refunds, "url", json_string(rurl));
    out = envelope(f, "charge.refunded", c, event_id);
out:
    fake_unlock(f->http);
    return out;
}

char *fake_stripe_event_dispute(struct fake_stripe *f, const char *session_id, int64_t amount,
                                const char *event_id)
{
    char *out = NULL, id[64];
    fake_lock(f->http);
    json_t *s = json_object_get(f->sessions, session_id != NULL ? session_id : "");
    const char *ch = json_string_value(
        json_object_get(json_object_get(f->priv, session_id != NULL ? session_id : ""), "charge"));
    if (s == NULL || ch == NULL)
        goto out;
    int64_t now = (int64_t)time(NULL);
    json_t *d = fixture(FIX_DISPUTE);
    snprintf(id, sizeof id, "dp_test_%" PRId64, ++f->next_dispute);
    json_object_set_new(d, "id", json_string(id));
    json_object_set_new(d, "amount", json_integer(amount));
    json_object_set_new(d, "charge", json_string(ch));
    json_object_set(d, "payment_intent", json_object_get(s, "payment_intent"));
    json_object_set(d, "currency", json_object_get(s, "currency"));
    json_object_set_new(d, "reason", json_string("fraudulent"));
    json_object_set_new(d, "status", json_string("needs_response"));
    json_object_set_new(d, "created", json_integer(now));
    json_object_set_new(json_object_get(d, "evidence_details"), "due_by",
                        json_integer(now + 7 * 86400));
    json_object_set_new(json_object_get(json_object_get(d, "payment_method_details"), "card"),
                        "case_type", json_string("chargeback"));
    out = envelope(f, "charge.dispute.created", d, event_id);
out:
    fake_unlock(f->http);
    return out;
}

char *fake_stripe_event_pi_failed(struct fake_stripe *f, int64_t invoice_id, const char *message,
                                  const char *event_id)
{
    char inv[32], id[64];
    snprintf(inv, sizeof inv, "%" PRId64, invoice_id);
    fake_lock(f->http);
    const json_t *s = NULL;
    for (size_t i = json_array_size(f->order); i > 0 && s == NULL; i--) {
        const char *sid = json_string_value(json_array_get(f->order, i - 1));
        const json_t *p = json_object_get(f->priv, sid);
        if (str_eq(json_string_value(json_object_get(p, "pi_invoice_id")), inv))
            s = json_object_get(f->sessions, sid);
    }
    json_t *pi = fixture(FIX_PAYMENT_INTENT);
    const char *pid = json_string_value(json_object_get(s, "payment_intent"));
    if (pid == NULL) {
        snprintf(id, sizeof id, "pi_test_%" PRId64, ++f->next_pi);
        pid = id;
    }
    char secret[128];
    snprintf(secret, sizeof secret, "%s_secret_fake", pid);
    json_object_set_new(pi, "id", json_string(pid));
    json_object_set_new(pi, "client_secret", json_string(secret));
    json_object_set_new(
        pi, "amount",
        json_integer(s != NULL ? json_integer_value(json_object_get(s, "amount_total")) : 0));
    json_object_set_new(
        pi, "currency",
        json_string(s != NULL ? json_string_value(json_object_get(s, "currency")) : "usd"));
    json_object_set_new(pi, "metadata", json_pack("{s:s}", "invoice_id", inv));
    json_object_set_new(pi, "canceled_at", json_null());
    json_object_set_new(pi, "next_action", json_null());
    json_object_set_new(pi, "processing", json_null());
    json_object_set_new(pi, "transfer_data", json_null());
    json_object_set_new(pi, "created", json_integer((json_int_t)time(NULL)));
    json_object_set_new(pi, "last_payment_error",
                        json_pack("{s:s, s:s, s:s, s:s}", "type", "card_error", "code",
                                  "card_declined", "decline_code", "generic_decline", "message",
                                  message != NULL ? message : "Your card was declined."));
    char *out = envelope(f, "payment_intent.payment_failed", pi, event_id);
    fake_unlock(f->http);
    return out;
}

int fake_stripe_event_id(const char *body, char *out, size_t outsz)
{
    int rc = -1;
    json_t *ev = body != NULL ? json_loads(body, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(ev, "id"));
    if (id != NULL && str_copy(out, id, outsz) < outsz)
        rc = 0;
    json_decref(ev);
    return rc;
}

char *fake_stripe_sign(struct fake_stripe *f, const char *body, int64_t t)
{
    char hdr[STRIPE_SIG_HEADER_LEN];
    fake_lock(f->http);
    int rc = stripe_sign(f->webhook_secret, body, strlen(body), t, hdr, sizeof hdr);
    fake_unlock(f->http);
    return rc == 0 ? str_dup(hdr) : NULL;
}
