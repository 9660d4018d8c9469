/*
 * fake_paypal.c — a fake PayPal REST API (see fake_paypal.h; contract:
 * shared/contracts/paypal.md).
 *
 * Owns the fake's state: the current token, the orders as jansson objects
 * (members starting with '_' are bookkeeping and never reach an answer:
 * approval, the request ids seen, the capture answer for replays), the RSA
 * key and certificate used both for TLS and for signing deliveries.
 *
 * Threading: fake_http runs the handler with the API server's lock held; the
 * public helpers take that lock around every access to the state. The key
 * and certificate are written once at start and only read afterwards. The
 * certificate server has no state of its own.
 */
#include "fakes/fake_paypal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <zlib.h>

#include "core/json.h"
#include "core/money.h"
#include "core/str.h"

#define CERT_PATH "/certs/webhook.pem"
#define LINK_BASE "https://api.sandbox.paypal.com"
#define MSG_400 "Request is not well-formed, syntactically incorrect, or violates schema."
#define MSG_422                                                                                    \
    "The requested action could not be performed, semantically incorrect, or failed business "     \
    "validation."

struct fake_paypal {
    struct fake_server *http, *cert_http;
    char *client_id, *client_secret, *webhook_id;
    json_t *tokens; /* object: every token issued and not expired by the test */
    int token_n, expires_in;
    json_t *orders;       /* array */
    json_t *create_rids;  /* request id -> order id */
    json_t *rid_uses;     /* request id -> count of requests that carried it */
    char next_status[16]; /* next capture status */
    bool decline_next;
    uint64_t counter;
    EVP_PKEY *key;
    char *cert_pem, *key_pem;
    char ca_file[64];
    char cert_url[128];
};

/* ---- helpers ---- */

static void reply_json(struct fake_response *w, int status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    fake_reply(w, status, "application/json", text != NULL ? text : "{}");
    free(text);
    json_decref(v);
}

static void new_id(struct fake_paypal *fp, char prefix, char *out, size_t outsz)
{
    /* 17 characters like PayPal's ids ("5O190127TN364715T"). */
    snprintf(out, outsz, "%c%c%014" PRIu64 "X", prefix, 'F', ++fp->counter);
}

static void debug_id(struct fake_paypal *fp, char *out, size_t outsz)
{
    snprintf(out, outsz, "f%012" PRIx64 "a", ++fp->counter * 2654435761u);
}

/* PayPal's error body with one detail. */
static void reply_error(struct fake_paypal *fp, struct fake_response *w, int status,
                        const char *field, const char *issue, const char *description)
{
    char dbg[32];
    debug_id(fp, dbg, sizeof dbg);
    const char *name = status == 400   ? "INVALID_REQUEST"
                       : status == 401 ? "AUTHENTICATION_FAILURE"
                       : status == 404 ? "RESOURCE_NOT_FOUND"
                       : status == 422 ? "UNPROCESSABLE_ENTITY"
                                       : "INTERNAL_SERVER_ERROR";
    const char *msg = status == 400   ? MSG_400
                      : status == 401 ? "Authentication failed due to invalid authentication "
                                        "credentials or a missing Authorization header."
                      : status == 404 ? "The specified resource does not exist."
                      : status == 422 ? MSG_422
                                      : "An internal server error has occurred.";
    json_t *detail = json_pack("{s:s, s:s}", "issue", issue, "description", description);
    if (field != NULL) {
        json_object_set_new(detail, "field", json_string(field));
        json_object_set_new(detail, "location", json_string("body"));
    }
    reply_json(w, status,
               json_pack("{s:s, s:s, s:s, s:[o], s:[{s:s, s:s, s:s}]}", "name", name, "message",
                         msg, "debug_id", dbg, "details", detail, "links", "href",
                         "https://developer.paypal.com/docs/api/orders/v2/#error-ISSUE", "rel",
                         "information_link", "method", "GET"));
}

static json_t *public_copy(const json_t *o)
{
    json_t *c = json_deep_copy(o);
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(c, tmp, key, v)
    {
        if (key[0] == '_')
            json_object_del(c, key);
    }
    return c;
}

static json_t *find_order(struct fake_paypal *fp, const char *id)
{
    size_t i;
    json_t *o;
    json_array_foreach(fp->orders, i, o)
    {
        if (id != NULL && str_eq(json_string_value(json_object_get(o, "id")), id))
            return o;
    }
    return NULL;
}

static void now_rfc3339(char *out, size_t outsz)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *mklink(const char *href, const char *rel, const char *method)
{
    return json_pack("{s:s, s:s, s:s}", "href", href, "rel", rel, "method", method);
}

/* ---- auth ---- */

static bool bearer_ok(struct fake_paypal *fp, const struct fake_request *r)
{
    const char *auth = fake_header(r, "Authorization");
    /* Like PayPal, an earlier token stays valid until it expires (or the test expires it). */
    return auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
           json_object_get(fp->tokens, auth + 7) != NULL;
}

static void handle_token(struct fake_paypal *fp, const struct fake_request *r,
                         struct fake_response *w)
{
    char *grant = fake_form(r, "grant_type");
    bool ok_grant = grant != NULL && strcmp(grant, "client_credentials") == 0;
    free(grant);
    if (r->basic_user == NULL || r->basic_password == NULL ||
        strcmp(r->basic_user, fp->client_id) != 0 ||
        strcmp(r->basic_password, fp->client_secret) != 0) {
        reply_json(w, 401,
                   json_pack("{s:s, s:s}", "error", "invalid_client", "error_description",
                             "Client Authentication failed"));
        return;
    }
    if (!ok_grant) {
        reply_json(w, 400,
                   json_pack("{s:s, s:s}", "error", "unsupported_grant_type", "error_description",
                             "Grant Type is NULL"));
        return;
    }
    char token[64];
    fp->token_n++;
    snprintf(token, sizeof token, "A21AAFakeToken%06d", fp->token_n);
    json_object_set_new(fp->tokens, token, json_true());
    reply_json(w, 200,
               json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "scope",
                         "https://uri.paypal.com/services/payments/payment", "access_token",
                         token, "token_type", "Bearer", "app_id", "APP-80W284485P519543T",
                         "expires_in", fp->expires_in, "nonce", "2024-05-01T10:00:00Zfake"));
}

/* ---- order validation ---- */

struct verr {
    int status;
    char field[96];
    char issue[48];
    char desc[160];
};

__attribute__((format(printf, 5, 6))) static bool bad(struct verr *v, int status,
                                                      const char *field, const char *issue,
                                                      const char *fmt, ...)
{
    v->status = status;
    str_copy(v->field, field, sizeof v->field);
    str_copy(v->issue, issue, sizeof v->issue);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->desc, sizeof v->desc, fmt, ap);
    va_end(ap);
    return false;
}

/* {currency_code, value}: upper-case known code, value with exactly the currency's decimals. */
static bool money_ok(const json_t *m, const char *field, const char *want_cur, int64_t *minor,
                     char *cur_out, struct verr *v)
{
    char f[96];
    const char *cur = json_string_value(json_object_get(m, "currency_code"));
    const char *val = json_string_value(json_object_get(m, "value"));
    snprintf(f, sizeof f, "%s/currency_code", field);
    if (!json_is_object(m))
        return bad(v, 400, field, "MISSING_REQUIRED_PARAMETER", "A required field is missing.");
    bool upper = cur != NULL && strlen(cur) == 3;
    for (size_t i = 0; upper && i < 3; i++)
        upper = cur[i] >= 'A' && cur[i] <= 'Z';
    if (!upper || !money_currency_valid(cur))
        return bad(v, 400, f, "INVALID_PARAMETER_SYNTAX",
                   "The value of a field does not conform to the expected format.");
    if (want_cur != NULL && strcmp(cur, want_cur) != 0)
        return bad(v, 422, f, "CURRENCY_MISMATCH", "Currency code should be same across the request.");
    snprintf(f, sizeof f, "%s/value", field);
    if (val == NULL || val[0] == '\0')
        return bad(v, 400, f, "MISSING_REQUIRED_PARAMETER", "A required field is missing.");
    int exp = money_exponent(cur);
    const char *dot = strchr(val, '.');
    size_t decimals = dot != NULL ? strlen(dot + 1) : 0;
    if (dot != NULL && exp == 0)
        return bad(v, 422, f, "DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.");
    if (decimals > (size_t)exp)
        return bad(v, 422, f, "DECIMAL_PRECISION",
                   "If the currency supports decimals, only two decimal place precision is "
                   "supported.");
    if (decimals != (size_t)exp)
        return bad(v, 400, f, "INVALID_PARAMETER_SYNTAX",
                   "The value of a field does not conform to the expected format.");
    char lc[4];
    if (money_currency_normalize(cur, lc) != 0 || money_parse(val, lc, minor, NULL) != 0 ||
        *minor < 0)
        return bad(v, 400, f, "INVALID_PARAMETER_SYNTAX",
                   "The value of a field does not conform to the expected format.");
    if (cur_out != NULL)
        str_copy(cur_out, cur, 4);
    return true;
}

static bool str_max(const json_t *obj, const char *key, size_t max, bool required,
                    const char *field, struct verr *v)
{
    const json_t *s = json_object_get(obj, key);
    if (s == NULL)
        return required ? bad(v, 400, field, "MISSING_REQUIRED_PARAMETER",
                              "A required field is missing.")
                        : true;
    if (!json_is_string(s) || json_string_length(s) < 1 || json_string_length(s) > max)
        return bad(v, 400, field, "INVALID_STRING_LENGTH",
                   "The value of a field is either too short or too long.");
    return true;
}

static bool validate_order(const json_t *in, struct verr *v)
{
    const char *intent = json_string_value(json_object_get(in, "intent"));
    if (intent == NULL)
        return bad(v, 400, "/intent", "MISSING_REQUIRED_PARAMETER", "A required field is missing.");
    if (strcmp(intent, "CAPTURE") != 0 && strcmp(intent, "AUTHORIZE") != 0)
        return bad(v, 400, "/intent", "INVALID_PARAMETER_VALUE",
                   "The value of a field is invalid.");
    const json_t *pus = json_object_get(in, "purchase_units");
    if (!json_is_array(pus) || json_array_size(pus) < 1 || json_array_size(pus) > 10)
        return bad(v, 400, "/purchase_units", "MISSING_REQUIRED_PARAMETER",
                   "A required field is missing.");
    const json_t *pu = json_array_get(pus, 0);
    if (!str_max(pu, "reference_id", 256, false, "/purchase_units/@reference_id=='default'/reference_id", v) ||
        !str_max(pu, "invoice_id", 127, false, "/purchase_units/@reference_id=='default'/invoice_id", v) ||
        !str_max(pu, "custom_id", 127, false, "/purchase_units/@reference_id=='default'/custom_id", v))
        return false;
    char cur[4] = "";
    int64_t amount = 0, item_total = 0, sum = 0, tax = 0;
    const json_t *am = json_object_get(pu, "amount");
    if (!money_ok(am, "/purchase_units/@reference_id=='default'/amount", NULL, &amount, cur, v))
        return false;
    const json_t *bd = json_object_get(am, "breakdown");
    const json_t *items = json_object_get(pu, "items");
    if (items != NULL) {
        size_t i;
        const json_t *it;
        if (!json_is_array(items))
            return bad(v, 400, "/purchase_units/@reference_id=='default'/items",
                       "INVALID_PARAMETER_SYNTAX", "items must be an array.");
        if (!json_is_object(json_object_get(bd, "item_total")))
            return bad(v, 422,
                       "/purchase_units/@reference_id=='default'/amount/breakdown/item_total",
                       "ITEM_TOTAL_REQUIRED",
                       "If item details are specified, item_total is required.");
        json_array_foreach(items, i, it)
        {
            char f[96];
            snprintf(f, sizeof f, "/purchase_units/@reference_id=='default'/items/%zu/name", i);
            if (!str_max(it, "name", 127, true, f, v))
                return false;
            snprintf(f, sizeof f, "/purchase_units/@reference_id=='default'/items/%zu/quantity", i);
            const char *q = json_string_value(json_object_get(it, "quantity"));
            int64_t qty = 0;
            if (q == NULL || str_to_i64z(q, 1, 1000000000, &qty) != 0)
                return bad(v, 400, f, "INVALID_PARAMETER_SYNTAX",
                           "The value of a field does not conform to the expected format.");
            snprintf(f, sizeof f,
                     "/purchase_units/@reference_id=='default'/items/%zu/unit_amount", i);
            int64_t unit = 0;
            if (!money_ok(json_object_get(it, "unit_amount"), f, cur, &unit, NULL, v))
                return false;
            sum += unit * qty;
        }
    }
    if (json_is_object(bd)) {
        const json_t *itj = json_object_get(bd, "item_total");
        if (itj != NULL &&
            !money_ok(itj, "/purchase_units/@reference_id=='default'/amount/breakdown/item_total",
                      cur, &item_total, NULL, v))
            return false;
        const json_t *tj = json_object_get(bd, "tax_total");
        if (tj != NULL &&
            !money_ok(tj, "/purchase_units/@reference_id=='default'/amount/breakdown/tax_total",
                      cur, &tax, NULL, v))
            return false;
        if (items != NULL && item_total != sum)
            return bad(v, 422,
                       "/purchase_units/@reference_id=='default'/amount/breakdown/item_total",
                       "ITEM_TOTAL_MISMATCH",
                       "Should equal sum of (unit_amount * quantity) across all items for a "
                       "given purchase_unit");
        if (amount != item_total + tax)
            return bad(v, 422, "/purchase_units/@reference_id=='default'/amount/value",
                       "AMOUNT_MISMATCH",
                       "Should equal item_total + tax_total + shipping + handling + insurance - "
                       "shipping_discount - discount.");
    }
    const json_t *ec = json_object_get(
        json_object_get(json_object_get(in, "payment_source"), "paypal"), "experience_context");
    if (ec != NULL && (!str_max(ec, "return_url", 4000, false,
                                "/payment_source/paypal/experience_context/return_url", v) ||
                       !str_max(ec, "cancel_url", 4000, false,
                                "/payment_source/paypal/experience_context/cancel_url", v)))
        return false;
    return true;
}

static void handle_create(struct fake_paypal *fp, const struct fake_request *r,
                          struct fake_response *w)
{
    const char *rid = fake_header(r, "PayPal-Request-Id");
    if (rid != NULL) {
        json_t *o = find_order(fp, json_string_value(json_object_get(fp->create_rids, rid)));
        if (o != NULL) {
            reply_json(w, 200, public_copy(o)); /* replay: the first result */
            return;
        }
    }
    struct lumi_err lerr;
    json_t *in = jsonx_parse(r->body, r->body_len, JSONX_MAX_DEPTH, &lerr);
    struct verr v;
    memset(&v, 0, sizeof v);
    if (!json_is_object(in)) {
        json_decref(in);
        reply_error(fp, w, 400, "/", "MALFORMED_REQUEST_JSON",
                    "The request JSON is not well formed.");
        return;
    }
    if (!validate_order(in, &v)) {
        json_decref(in);
        reply_error(fp, w, v.status, v.field, v.issue, v.desc);
        return;
    }
    char id[32], href[160], pay[200], ts[32];
    new_id(fp, '5', id, sizeof id);
    now_rfc3339(ts, sizeof ts);
    snprintf(href, sizeof href, LINK_BASE "/v2/checkout/orders/%s", id);
    snprintf(pay, sizeof pay, "https://www.sandbox.paypal.com/checkoutnow?token=%s", id);
    json_t *pu = json_deep_copy(json_array_get(json_object_get(in, "purchase_units"), 0));
    if (json_object_get(pu, "reference_id") == NULL)
        json_object_set_new(pu, "reference_id", json_string("default"));
    json_t *o = json_pack("{s:s, s:O, s:s, s:[o], s:s, s:[o, o], s:b}", "id", id, "intent",
                          json_object_get(in, "intent"), "status", "PAYER_ACTION_REQUIRED",
                          "purchase_units", pu, "create_time", ts, "links",
                          mklink(href, "self", "GET"), mklink(pay, "payer-action", "GET"),
                          "_approved", false);
    json_decref(in);
    json_array_append_new(fp->orders, o);
    if (rid != NULL)
        json_object_set_new(fp->create_rids, rid, json_string(id));
    reply_json(w, 201,
               json_pack("{s:s, s:s, s:O}", "id", id, "status", "PAYER_ACTION_REQUIRED", "links",
                         json_object_get(o, "links")));
}

static void handle_capture(struct fake_paypal *fp, const char *id, const struct fake_request *r,
                           struct fake_response *w)
{
    json_t *o = find_order(fp, id);
    const char *rid = fake_header(r, "PayPal-Request-Id");
    if (o == NULL) {
        reply_error(fp, w, 404, NULL, "INVALID_RESOURCE_ID",
                    "Specified resource ID does not exist. Please check the resource ID and try "
                    "again.");
        return;
    }
    const char *done = json_string_value(json_object_get(o, "_capture_reply"));
    if (done != NULL) {
        const char *crid = json_string_value(json_object_get(o, "_capture_rid"));
        if (rid != NULL && crid != NULL && strcmp(rid, crid) == 0) {
            fake_reply(w, 200, "application/json", done);
            return;
        }
        reply_error(fp, w, 422, NULL, "ORDER_ALREADY_CAPTURED",
                    "Order already captured.If 'intent=CAPTURE' only one capture per order is "
                    "allowed.");
        return;
    }
    if (fp->decline_next) {
        fp->decline_next = false;
        reply_error(fp, w, 422, NULL, "INSTRUMENT_DECLINED",
                    "The instrument presented  was either declined by the processor or bank, or "
                    "it can't be used for this payment.");
        return;
    }
    if (!json_is_true(json_object_get(o, "_approved"))) {
        reply_error(fp, w, 422, NULL, "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment. Please redirect the payer "
                    "to the 'rel':'approve' url returned as part of the HATEOAS links within the "
                    "Create Order call or provide a valid payment_source in the request.");
        return;
    }
    char cid[32], self[200], up[200], ts[32];
    new_id(fp, '3', cid, sizeof cid);
    now_rfc3339(ts, sizeof ts);
    snprintf(self, sizeof self, LINK_BASE "/v2/payments/captures/%s", cid);
    snprintf(up, sizeof up, LINK_BASE "/v2/checkout/orders/%s", id);
    const char *st = fp->next_status[0] ? fp->next_status : "COMPLETED";
    json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
    json_t *amount = json_deep_copy(json_object_get(pu, "amount"));
    json_object_del(amount, "breakdown");
    json_t *cap = json_pack("{s:s, s:s, s:o, s:b, s:{s:{s:s}}, s:s, s:s, s:[o, o]}", "id", cid,
                            "status", st, "amount", amount, "final_capture", 1,
                            "supplementary_data", "related_ids", "order_id", id, "create_time", ts,
                            "update_time", ts, "links", mklink(self, "self", "GET"),
                            mklink(up, "up", "GET"));
    if (json_object_get(pu, "invoice_id") != NULL)
        json_object_set(cap, "invoice_id", json_object_get(pu, "invoice_id"));
    if (json_object_get(pu, "custom_id") != NULL)
        json_object_set(cap, "custom_id", json_object_get(pu, "custom_id"));
    if (strcmp(st, "PENDING") == 0)
        json_object_set_new(cap, "status_details", json_pack("{s:s}", "reason", "PENDING_REVIEW"));
    json_object_set_new(pu, "payments", json_pack("{s:[o]}", "captures", cap));
    json_object_set_new(o, "status", json_string("COMPLETED"));
    fp->next_status[0] = '\0';
    json_t *pub = public_copy(o);
    char *text = json_dumps(pub, JSON_COMPACT);
    json_decref(pub);
    json_object_set_new(o, "_capture_reply", json_string(text != NULL ? text : "{}"));
    json_object_set_new(o, "_capture_rid", rid != NULL ? json_string(rid) : json_null());
    fake_reply(w, 201, "application/json", text != NULL ? text : "{}");
    free(text);
}

/* ---- webhooks ---- */

static int sign_text(struct fake_paypal *fp, const char *text, char *out, size_t outsz)
{
    unsigned char sig[1024];
    size_t slen = sizeof sig;
    int rc = -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fp->key) == 1 &&
        EVP_DigestSign(md, sig, &slen, (const unsigned char *)text, strlen(text)) == 1 &&
        sodium_base64_ENCODED_LEN(slen, sodium_base64_VARIANT_ORIGINAL) <= outsz) {
        sodium_bin2base64(out, outsz, sig, slen, sodium_base64_VARIANT_ORIGINAL);
        rc = 0;
    }
    EVP_MD_CTX_free(md);
    return rc;
}

static bool verify_text(struct fake_paypal *fp, const char *text, const char *b64)
{
    unsigned char sig[1024];
    size_t slen = 0;
    if (sodium_base642bin(sig, sizeof sig, b64, strlen(b64), NULL, &slen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, fp->key) == 1 &&
              EVP_DigestVerify(md, sig, slen, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void handle_verify(struct fake_paypal *fp, const struct fake_request *r,
                          struct fake_response *w)
{
    static const char *const required[] = {"auth_algo",         "cert_url",
                                           "transmission_id",   "transmission_sig",
                                           "transmission_time", "webhook_id",
                                           "webhook_event",     NULL};
    struct lumi_err lerr;
    json_t *in = jsonx_parse(r->body, r->body_len, JSONX_MAX_DEPTH, &lerr);
    if (!json_is_object(in)) {
        json_decref(in);
        reply_error(fp, w, 400, "/", "MALFORMED_REQUEST_JSON",
                    "The request JSON is not well formed.");
        return;
    }
    for (const char *const *k = required; *k != NULL; k++) {
        const json_t *v = json_object_get(in, *k);
        if (v == NULL || (strcmp(*k, "webhook_event") != 0 && !json_is_string(v)) ||
            (strcmp(*k, "webhook_event") == 0 && !json_is_object(v))) {
            char f[48];
            snprintf(f, sizeof f, "/%s", *k);
            json_decref(in);
            reply_error(fp, w, 400, f, "MISSING_REQUIRED_PARAMETER",
                        "A required field is missing.");
            return;
        }
    }
    /* The signature covers the raw event bytes: take them from the request text
     * (webhook_event is the last member, as the client writes it). */
    bool ok = false;
    const char *m = strstr(r->body, "\"webhook_event\":");
    if (m != NULL) {
        const char *start = m + strlen("\"webhook_event\":");
        const char *end = r->body + r->body_len;
        while (end > start && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r'))
            end--;
        if (end > start && end[-1] == '}') {
            end--; /* the outer object's brace */
            unsigned long crc = crc32_z(0L, (const Bytef *)start, (size_t)(end - start));
            char text[1024];
            snprintf(text, sizeof text, "%s|%s|%s|%lu",
                     json_string_value(json_object_get(in, "transmission_id")),
                     json_string_value(json_object_get(in, "transmission_time")),
                     json_string_value(json_object_get(in, "webhook_id")), crc);
            ok = str_eq(json_string_value(json_object_get(in, "webhook_id")), fp->webhook_id) &&
                 str_eq(json_string_value(json_object_get(in, "auth_algo")), "SHA256withRSA") &&
                 str_eq(json_string_value(json_object_get(in, "cert_url")), fp->cert_url) &&
                 verify_text(fp, text, json_string_value(json_object_get(in, "transmission_sig")));
        }
    }
    json_decref(in);
    reply_json(w, 200, json_pack("{s:s}", "verification_status", ok ? "SUCCESS" : "FAILURE"));
}

/* ---- dispatch ---- */

static void handler(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct fake_paypal *fp = state;
    static const char orders[] = "/v2/checkout/orders";
    bool post = strcmp(r->method, "POST") == 0, get = strcmp(r->method, "GET") == 0;
    const char *rid = fake_header(r, "PayPal-Request-Id");
    if (rid != NULL)
        json_object_set_new(fp->rid_uses, rid,
                            json_integer(json_integer_value(json_object_get(fp->rid_uses, rid)) +
                                         1));
    if (post && strcmp(r->path, "/v1/oauth2/token") == 0) {
        handle_token(fp, r, w);
        return;
    }
    if (!bearer_ok(fp, r)) {
        reply_json(w, 401,
                   json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "name", "AUTHENTICATION_FAILURE",
                             "message",
                             "Authentication failed due to invalid authentication credentials "
                             "or a missing Authorization header.",
                             "links", "href",
                             "https://developer.paypal.com/docs/api/overview/#error", "rel",
                             "information_link"));
        return;
    }
    if (post && strcmp(r->path, orders) == 0) {
        handle_create(fp, r, w);
        return;
    }
    if (post && strcmp(r->path, "/v1/notifications/verify-webhook-signature") == 0) {
        handle_verify(fp, r, w);
        return;
    }
    if (strncmp(r->path, orders, sizeof orders - 1) == 0 && r->path[sizeof orders - 1] == '/') {
        char id[64];
        const char *rest = r->path + sizeof orders;
        size_t n = strcspn(rest, "/");
        if (n > 0 && n < sizeof id) {
            memcpy(id, rest, n);
            id[n] = '\0';
            if (get && rest[n] == '\0') {
                json_t *o = find_order(fp, id);
                if (o != NULL)
                    reply_json(w, 200, public_copy(o));
                else
                    reply_error(fp, w, 404, NULL, "INVALID_RESOURCE_ID",
                                "Specified resource ID does not exist.");
                return;
            }
            if (post && strcmp(rest + n, "/capture") == 0) {
                handle_capture(fp, id, r, w);
                return;
            }
        }
    }
    reply_error(fp, w, 404, NULL, "INVALID_RESOURCE_ID", "No such resource.");
}

static void cert_handler(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct fake_paypal *fp = state;
    if (strcmp(r->method, "GET") == 0 && strcmp(r->path, CERT_PATH) == 0)
        fake_reply(w, 200, "application/x-pem-file", fp->cert_pem);
    else
        fake_reply(w, 404, "text/plain", "not found");
}

/* ---- key and certificate ---- */

static char *bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0)
        return NULL;
    char *out = malloc((size_t)n + 1); /* BIO data is not NUL-terminated */
    if (out != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    return out;
}

static void make_cert(struct fake_paypal *fp)
{
    X509 *x = X509_new();
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    fp->key = EVP_RSA_gen(2048);
    if (x == NULL || bc == NULL || bk == NULL || fp->key == NULL)
        fail_msg("fake_paypal: cannot make an RSA key");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400L);
    X509_set_pubkey(x, fp->key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"basicConstraints", "critical,CA:TRUE"},
                             {"subjectAltName", "DNS:localhost"},
                             {"subjectKeyIdentifier", "hash"},
                             {"keyUsage", "digitalSignature,keyEncipherment,keyCertSign"}};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *ex = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
        if (ex == NULL || X509_add_ext(x, ex, -1) != 1)
            fail_msg("fake_paypal: cannot add %s", exts[i][0]);
        X509_EXTENSION_free(ex);
    }
    if (X509_sign(x, fp->key, EVP_sha256()) == 0 || PEM_write_bio_X509(bc, x) != 1 ||
        PEM_write_bio_PrivateKey(bk, fp->key, NULL, NULL, 0, NULL, NULL) != 1)
        fail_msg("fake_paypal: cannot sign the certificate");
    fp->cert_pem = bio_text(bc);
    fp->key_pem = bio_text(bk);
    X509_free(x);
    BIO_free(bc);
    BIO_free(bk);
    if (fp->cert_pem == NULL || fp->key_pem == NULL)
        fail_msg("fake_paypal: out of memory");
}

static void write_ca_file(struct fake_paypal *fp)
{
    str_copy(fp->ca_file, "/tmp/fake_paypal_ca_XXXXXX", sizeof fp->ca_file);
    int fd = mkstemp(fp->ca_file);
    if (fd < 0)
        fail_msg("fake_paypal: cannot create a temporary CA file");
    size_t n = strlen(fp->cert_pem);
    if (write(fd, fp->cert_pem, n) != (ssize_t)n)
        fail_msg("fake_paypal: cannot write the CA file");
    close(fd);
}

/* ---- public API ---- */

struct fake_paypal *fake_paypal_start(const char *client_id, const char *client_secret,
                                      const char *webhook_id)
{
    struct fake_paypal *fp = calloc(1, sizeof *fp);
    if (fp == NULL)
        fail_msg("fake_paypal: out of memory");
    fp->client_id = str_dup(client_id);
    fp->client_secret = str_dup(client_secret);
    fp->webhook_id = str_dup(webhook_id);
    fp->orders = json_array();
    fp->create_rids = json_object();
    fp->rid_uses = json_object();
    fp->tokens = json_object();
    fp->expires_in = 32400;
    make_cert(fp);
    write_ca_file(fp);
    fp->cert_http = fake_start_tls(cert_handler, fp, fp->cert_pem, fp->key_pem);
    snprintf(fp->cert_url, sizeof fp->cert_url, "%s" CERT_PATH, fake_url(fp->cert_http));
    fp->http = fake_start(handler, fp);
    return fp;
}

void fake_paypal_stop(struct fake_paypal *fp)
{
    if (fp == NULL)
        return;
    fake_stop(fp->http);
    fake_stop(fp->cert_http);
    if (fp->ca_file[0] != '\0')
        unlink(fp->ca_file);
    free(fp->client_id);
    free(fp->client_secret);
    free(fp->webhook_id);
    json_decref(fp->orders);
    json_decref(fp->create_rids);
    json_decref(fp->rid_uses);
    json_decref(fp->tokens);
    EVP_PKEY_free(fp->key);
    free(fp->cert_pem);
    free(fp->key_pem);
    free(fp);
}

const char *fake_paypal_url(struct fake_paypal *fp)
{
    return fake_url(fp->http);
}

struct fake_server *fake_paypal_http(struct fake_paypal *fp)
{
    return fp->http;
}

struct fake_server *fake_paypal_cert_http(struct fake_paypal *fp)
{
    return fp->cert_http;
}

void fake_paypal_set_expires_in(struct fake_paypal *fp, int seconds)
{
    fake_lock(fp->http);
    fp->expires_in = seconds;
    fake_unlock(fp->http);
}

void fake_paypal_expire_token(struct fake_paypal *fp)
{
    fake_lock(fp->http);
    json_object_clear(fp->tokens);
    fake_unlock(fp->http);
}

int fake_paypal_token_fetches(struct fake_paypal *fp)
{
    fake_lock(fp->http);
    int n = fp->token_n;
    fake_unlock(fp->http);
    return n;
}

int fake_paypal_approve(struct fake_paypal *fp, const char *order_id)
{
    fake_lock(fp->http);
    json_t *o = find_order(fp, order_id);
    if (o != NULL) {
        json_object_set_new(o, "_approved", json_true());
        json_object_set_new(o, "status", json_string("APPROVED"));
    }
    fake_unlock(fp->http);
    return o != NULL ? 0 : -1;
}

void fake_paypal_set_next_capture_status(struct fake_paypal *fp, const char *status)
{
    fake_lock(fp->http);
    str_copy(fp->next_status, status != NULL ? status : "", sizeof fp->next_status);
    fake_unlock(fp->http);
}

void fake_paypal_decline_next_capture(struct fake_paypal *fp)
{
    fake_lock(fp->http);
    fp->decline_next = true;
    fake_unlock(fp->http);
}

int fake_paypal_request_id_uses(struct fake_paypal *fp, const char *request_id)
{
    fake_lock(fp->http);
    int n = (int)json_integer_value(json_object_get(fp->rid_uses, request_id));
    fake_unlock(fp->http);
    return n;
}

size_t fake_paypal_order_count(struct fake_paypal *fp)
{
    fake_lock(fp->http);
    size_t n = json_array_size(fp->orders);
    fake_unlock(fp->http);
    return n;
}

json_t *fake_paypal_order_json(struct fake_paypal *fp, const char *order_id)
{
    fake_lock(fp->http);
    json_t *o = find_order(fp, order_id);
    json_t *c = o != NULL ? public_copy(o) : NULL;
    fake_unlock(fp->http);
    return c;
}

/* ---- events ---- */

/* The envelope around resource (stolen); caller frees the text. Lock held. */
static char *envelope(struct fake_paypal *fp, const char *event_type, const char *resource_type,
                      const char *summary, json_t *resource, const char *event_id)
{
    char id[64], ts[32], self[200], resend[220];
    if (event_id != NULL)
        str_copy(id, event_id, sizeof id);
    else {
        uint64_t n = ++fp->counter;
        snprintf(id, sizeof id, "WH-%016" PRIu64 "W-%016" PRIx64 "X", n,
                 (uint64_t)time(NULL) ^ (n * 0x9E3779B97F4A7C15u));
    }
    now_rfc3339(ts, sizeof ts);
    snprintf(self, sizeof self, LINK_BASE "/v1/notifications/webhooks-events/%s", id);
    snprintf(resend, sizeof resend, "%s/resend", self);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:[o, o]}", "id", id,
                           "event_version", "1.0", "create_time", ts, "resource_type",
                           resource_type, "resource_version", "2.0", "event_type", event_type,
                           "summary", summary, "resource", resource, "links",
                           mklink(self, "self", "GET"), mklink(resend, "resend", "POST"));
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

char *fake_paypal_event_capture(struct fake_paypal *fp, const char *event_type,
                                const char *order_id, const char *event_id)
{
    char *text = NULL;
    fake_lock(fp->http);
    json_t *o = find_order(fp, order_id);
    if (o == NULL)
        goto out;
    json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
    json_t *cap = json_deep_copy(
        json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"), 0));
    if (cap == NULL) {
        char cid[32], self[200], up[200];
        new_id(fp, '3', cid, sizeof cid);
        snprintf(self, sizeof self, LINK_BASE "/v2/payments/captures/%s", cid);
        snprintf(up, sizeof up, LINK_BASE "/v2/checkout/orders/%s", order_id);
        json_t *amount = json_deep_copy(json_object_get(pu, "amount"));
        json_object_del(amount, "breakdown");
        cap = json_pack("{s:s, s:o, s:b, s:O*, s:O*, s:{s:{s:s}}, s:[o, o]}", "id", cid,
                        "amount", amount, "final_capture", 1, "invoice_id",
                        json_object_get(pu, "invoice_id"), "custom_id",
                        json_object_get(pu, "custom_id"), "supplementary_data", "related_ids",
                        "order_id", order_id, "links", mklink(self, "self", "GET"),
                        mklink(up, "up", "GET"));
    }
    const char *st = "COMPLETED";
    if (strstr(event_type, "DENIED") != NULL || strstr(event_type, "DECLINED") != NULL)
        st = "DECLINED";
    else if (strstr(event_type, "PENDING") != NULL)
        st = "PENDING";
    json_object_set_new(cap, "status", json_string(st));
    if (strcmp(st, "PENDING") == 0)
        json_object_set_new(cap, "status_details", json_pack("{s:s}", "reason", "PENDING_REVIEW"));
    text = envelope(fp, event_type, "capture", "Payment capture event", cap, event_id);
out:
    fake_unlock(fp->http);
    return text;
}

char *fake_paypal_event_refund(struct fake_paypal *fp, const char *event_type,
                               const char *capture_id, int64_t amount, const char *currency,
                               const char *event_id)
{
    char lc[4], up[4], val[MONEY_TEXT_MAX], rid[32], self[200], uplink[200];
    if (money_currency_normalize(currency, lc) != 0 ||
        money_format(amount, lc, val, sizeof val) != 0)
        return NULL;
    for (size_t i = 0; i < 4; i++)
        up[i] = (char)(lc[i] >= 'a' && lc[i] <= 'z' ? lc[i] - 'a' + 'A' : lc[i]);
    fake_lock(fp->http);
    new_id(fp, '1', rid, sizeof rid);
    snprintf(self, sizeof self, LINK_BASE "/v2/payments/refunds/%s", rid);
    snprintf(uplink, sizeof uplink, LINK_BASE "/v2/payments/captures/%s", capture_id);
    json_t *res = json_pack("{s:s, s:{s:s, s:s}, s:s, s:[o, o]}", "id", rid, "amount",
                            "currency_code", up, "value", val, "status", "COMPLETED", "links",
                            mklink(self, "self", "GET"), mklink(uplink, "up", "GET"));
    char *text = envelope(fp, event_type, "refund", "A capture payment was refunded", res,
                          event_id);
    fake_unlock(fp->http);
    return text;
}

char *fake_paypal_event_order_approved(struct fake_paypal *fp, const char *order_id,
                                       const char *event_id)
{
    char *text = NULL;
    fake_lock(fp->http);
    json_t *o = find_order(fp, order_id);
    if (o != NULL) {
        json_t *res = public_copy(o);
        json_object_set_new(res, "status", json_string("APPROVED"));
        json_object_set_new(res, "payer",
                            json_pack("{s:{s:s, s:s}, s:s, s:s}", "name", "given_name", "John",
                                      "surname", "Doe", "email_address",
                                      "buyer@example.com", "payer_id", "QYR5Z8XDVJNXQ"));
        text = envelope(fp, "CHECKOUT.ORDER.APPROVED", "checkout-order",
                        "An order has been approved by buyer", res, event_id);
    }
    fake_unlock(fp->http);
    return text;
}

/* ---- signing ---- */

int fake_paypal_sign(struct fake_paypal *fp, const char *body, size_t len, const char *webhook_id,
                     struct fake_paypal_sig *out)
{
    char text[1024];
    memset(out, 0, sizeof *out);
    fake_lock(fp->http);
    uint64_t n = ++fp->counter;
    fake_unlock(fp->http);
    snprintf(out->transmission_id, sizeof out->transmission_id,
             "%08" PRIx64 "-5106-11ef-9b66-%012" PRIx64, n, (uint64_t)time(NULL));
    now_rfc3339(out->transmission_time, sizeof out->transmission_time);
    str_copy(out->cert_url, fp->cert_url, sizeof out->cert_url);
    str_copy(out->auth_algo, "SHA256withRSA", sizeof out->auth_algo);
    unsigned long crc = crc32_z(0L, (const Bytef *)(len > 0 ? body : ""), len);
    snprintf(text, sizeof text, "%s|%s|%s|%lu", out->transmission_id, out->transmission_time,
             webhook_id, crc);
    return sign_text(fp, text, out->transmission_sig, sizeof out->transmission_sig);
}

void fake_paypal_sig_headers(const struct fake_paypal_sig *s, struct paypal_sig_headers *h)
{
    h->transmission_id = s->transmission_id;
    h->transmission_time = s->transmission_time;
    h->cert_url = s->cert_url;
    h->auth_algo = s->auth_algo;
    h->transmission_sig = s->transmission_sig;
}

const char *fake_paypal_ca_file(struct fake_paypal *fp)
{
    return fp->ca_file;
}

const char *fake_paypal_cert_url(struct fake_paypal *fp)
{
    return fp->cert_url;
}

const char *fake_paypal_cert_pem(struct fake_paypal *fp)
{
    return fp->cert_pem;
}
