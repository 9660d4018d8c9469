/*
 * paypal.c — the PayPal REST client (see paypal.h; contract:
 * shared/contracts/paypal.md).
 *
 * Owns: the OAuth token cache, the request plumbing (Bearer token, JSON
 * headers, PayPal-Request-Id, retries with backoff on connection errors,
 * timeouts, 429 and 5xx, one token refresh on a 401), the mapping of
 * PayPal's error body onto struct paypal_err, the Orders v2 create body,
 * capture (ORDER_ALREADY_CAPTURED read back as success), the parsing of
 * capture/refund objects, and verify-webhook-signature (mode `api`).
 *
 * Threading: a client is shared by every worker. `lock` guards the token
 * cache and the fetch counter only; it is never held across a request (two
 * threads may fetch a token at once: the later answer wins, both are valid).
 * Nothing here logs; messages never contain the client secret or a token.
 *
 * Caveats: webhook_event is built by hand around the raw body (after
 * checking it parses as a JSON object), because PayPal verifies the bytes it
 * signed and a re-serialisation could reorder or re-escape them.
 */
#include "gateways/paypal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/money.h"
#include "core/str.h"

#define WHAT "PayPal"
#define URL_MAX 2048
#define TOKEN_MAX 2048
#define REQUEST_MAX (1u << 20)
#define RESPONSE_MAX (4u << 20)
#define TOKEN_MARGIN_S 60
#define REQUEST_ID_MAX 108
#define TEXT_MAX 127
#define BACKOFF_CAP_MS 8000

struct paypal_client {
    char *api_base, *client_id, *client_secret, *webhook_id, *ca_file;
    int timeout_ms, max_attempts, backoff_ms;

    pthread_mutex_t lock; /* guards the members below */
    char token[TOKEN_MAX];
    int64_t token_expires; /* monotonic seconds; 0 = none */
    int token_fetches;
};

/* ---- small helpers ---- */

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void perr_clear(struct paypal_err *e)
{
    if (e != NULL)
        memset(e, 0, sizeof *e);
}

/* A fresh error (class flags from hc_fail) with a printf message. Returns -1. */
__attribute__((format(printf, 4, 5))) static int pfail(struct paypal_err *e, enum hc_class cls,
                                                       long status, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    perr_clear(e);
    hc_fail(&e->hc, cls, "%s", WHAT);
    e->hc.http_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->hc.message, sizeof e->hc.message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copies s into out (outsz) with control characters as spaces. */
static void copy_clean(char *out, size_t outsz, const char *s)
{
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i + 1 < outsz; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[i] = '\0';
}

/* Fills e from a non-2xx answer: class from the status, message and issue from PayPal's body. */
static void error_from_response(const struct hc_response *res, struct paypal_err *e)
{
    struct hc_error h;
    memset(&h, 0, sizeof h);
    hc_classify(res, WHAT, &h);
    perr_clear(e);
    e->hc = h;
    struct lumi_err lerr;
    json_t *root = res->body.len > 0 ? jsonx_parse(res->body.data, res->body.len,
                                                   JSONX_MAX_DEPTH, &lerr)
                                     : NULL;
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *message = json_string_value(json_object_get(root, "message"));
    const char *debug_id = json_string_value(json_object_get(root, "debug_id"));
    const json_t *d0 = json_array_get(json_object_get(root, "details"), 0);
    const char *issue = json_string_value(json_object_get(d0, "issue"));
    const char *desc = json_string_value(json_object_get(d0, "description"));
    /* OAuth errors use {error, error_description}. */
    if (name == NULL)
        name = json_string_value(json_object_get(root, "error"));
    if (message == NULL)
        message = json_string_value(json_object_get(root, "error_description"));
    copy_clean(e->issue, sizeof e->issue, issue);
    copy_clean(e->debug_id, sizeof e->debug_id, debug_id);
    if (name != NULL) {
        char cname[64], cmsg[200];
        copy_clean(cname, sizeof cname, name);
        copy_clean(cmsg, sizeof cmsg, desc != NULL ? desc : message);
        snprintf(e->hc.message, sizeof e->hc.message, "PayPal: %s%s%s: %s%s%s%s (HTTP %ld)", cname,
                 e->issue[0] ? " " : "", e->issue, cmsg, e->debug_id[0] ? " (debug_id " : "",
                 e->debug_id, e->debug_id[0] ? ")" : "", res->status);
    }
    json_decref(root);
}

/* ---- client ---- */

struct paypal_client *paypal_client_new(const struct paypal_conf *conf)
{
    struct paypal_client *pc = calloc(1, sizeof *pc);
    if (pc == NULL)
        return NULL;
    if (pthread_mutex_init(&pc->lock, NULL) != 0) {
        free(pc);
        return NULL;
    }
    const char *base = conf->api_base ? conf->api_base : "https://api-m.sandbox.paypal.com";
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    pc->api_base = str_ndup(base, blen);
    pc->client_id = str_dup(conf->client_id ? conf->client_id : "");
    pc->client_secret = str_dup(conf->client_secret ? conf->client_secret : "");
    pc->webhook_id = str_dup(conf->webhook_id ? conf->webhook_id : "");
    pc->ca_file = conf->ca_file ? str_dup(conf->ca_file) : NULL;
    pc->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 20000;
    pc->max_attempts = conf->max_attempts > 0 ? conf->max_attempts : 3;
    pc->backoff_ms = conf->backoff_ms > 0 ? conf->backoff_ms : 500;
    if (pc->api_base == NULL || pc->client_id == NULL || pc->client_secret == NULL ||
        pc->webhook_id == NULL || (conf->ca_file != NULL && pc->ca_file == NULL)) {
        paypal_client_free(pc);
        return NULL;
    }
    return pc;
}

void paypal_client_free(struct paypal_client *pc)
{
    if (pc == NULL)
        return;
    free(pc->api_base);
    free(pc->client_id);
    if (pc->client_secret != NULL) {
        memset(pc->client_secret, 0, strlen(pc->client_secret));
        free(pc->client_secret);
    }
    free(pc->webhook_id);
    free(pc->ca_file);
    memset(pc->token, 0, sizeof pc->token);
    pthread_mutex_destroy(&pc->lock);
    free(pc);
}

int paypal_client_token_fetches(struct paypal_client *pc)
{
    pthread_mutex_lock(&pc->lock);
    int n = pc->token_fetches;
    pthread_mutex_unlock(&pc->lock);
    return n;
}

/* One attempt loop: sends req, retrying connection errors, timeouts, 429 and 5xx.
 * 0 with res filled (any status; the caller classifies), or -1 with e. */
static int send_with_retries(struct paypal_client *pc, const struct hc_request *req,
                             struct hc_response *res, struct paypal_err *e)
{
    for (int attempt = 1;; attempt++) {
        hc_response_free(res);
        memset(res, 0, sizeof *res);
        struct hc_error h;
        memset(&h, 0, sizeof h);
        bool retry;
        int64_t grow = (int64_t)pc->backoff_ms << (attempt - 1 < 4 ? attempt - 1 : 4);
        int wait_ms = grow > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : (int)grow;
        if (hc_perform(req, res, &h) != 0) {
            perr_clear(e);
            if (e != NULL) {
                e->hc = h;
                snprintf(e->hc.message, sizeof e->hc.message, "PayPal: %.400s", h.message);
            }
            retry = h.cls == HC_CONNECTION || h.cls == HC_TIMEOUT;
            if (!retry || attempt >= pc->max_attempts)
                return -1;
        } else {
            retry = res->status == 429 || res->status >= 500;
            if (!retry || attempt >= pc->max_attempts)
                return 0;
            if (res->status == 429) {
                char ra[16];
                int64_t s = 0;
                if (hc_header(res, "Retry-After", ra, sizeof ra) != NULL &&
                    str_to_i64z(ra, 0, 60, &s) == 0 && s * 1000 > wait_ms)
                    wait_ms = (int)(s * 1000);
            }
        }
        sleep_ms(wait_ms);
    }
}

/* Fetches a new token into the cache; copies it to out. */
static int token_fetch(struct paypal_client *pc, char *out, size_t outsz, struct paypal_err *e)
{
    static const char form[] = "grant_type=client_credentials";
    static const char *const headers[] = {"Accept: application/json",
                                          "Content-Type: application/x-www-form-urlencoded", NULL};
    char url[URL_MAX];
    int rc = -1;
    json_t *root = NULL;
    struct hc_response res;
    memset(&res, 0, sizeof res);
    snprintf(url, sizeof url, "%s/v1/oauth2/token", pc->api_base);
    struct hc_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = form,
        .body_len = sizeof form - 1,
        .basic_user = pc->client_id,
        .basic_password = pc->client_secret,
        .timeout_ms = pc->timeout_ms,
        .max_response = RESPONSE_MAX,
        .ca_file = pc->ca_file,
    };
    pthread_mutex_lock(&pc->lock);
    pc->token_fetches++;
    pthread_mutex_unlock(&pc->lock);
    if (send_with_retries(pc, &req, &res, e) != 0)
        goto out;
    if (res.status < 200 || res.status > 299) {
        error_from_response(&res, e);
        if (res.status == 401 && e != NULL)
            snprintf(e->hc.message, sizeof e->hc.message,
                     "PayPal rejected the client id or secret (HTTP 401): check "
                     "PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_MODE");
        goto out;
    }
    struct lumi_err lerr;
    root = jsonx_parse(res.body.data ? res.body.data : "", res.body.len, JSONX_MAX_DEPTH, &lerr);
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    const json_t *exp = json_object_get(root, "expires_in");
    if (tok == NULL || tok[0] == '\0' || strlen(tok) >= sizeof pc->token ||
        strlen(tok) >= outsz || !json_is_integer(exp)) {
        pfail(e, HC_BAD_RESPONSE, res.status, "PayPal answered the token request without "
                                              "access_token or expires_in");
        goto out;
    }
    int64_t life = json_integer_value(exp) - TOKEN_MARGIN_S;
    pthread_mutex_lock(&pc->lock);
    str_copy(pc->token, tok, sizeof pc->token);
    pc->token_expires = life > 0 ? mono_s() + life : 0; /* 0: use once, refetch next time */
    pthread_mutex_unlock(&pc->lock);
    str_copy(out, tok, outsz);
    rc = 0;
out:
    json_decref(root);
    hc_response_free(&res);
    return rc;
}

/* The cached token, or a new one. fresh: skip the cache (after a 401). */
static int token_get(struct paypal_client *pc, bool fresh, char *out, size_t outsz,
                     struct paypal_err *e)
{
    if (!fresh) {
        bool have = false;
        pthread_mutex_lock(&pc->lock);
        if (pc->token[0] != '\0' && pc->token_expires > mono_s()) {
            str_copy(out, pc->token, outsz);
            have = true;
        }
        pthread_mutex_unlock(&pc->lock);
        if (have)
            return 0;
    }
    return token_fetch(pc, out, outsz, e);
}

/* Forgets the token tok if it is still the cached one. */
static void token_drop(struct paypal_client *pc, const char *tok)
{
    pthread_mutex_lock(&pc->lock);
    if (strcmp(pc->token, tok) == 0) {
        memset(pc->token, 0, sizeof pc->token);
        pc->token_expires = 0;
    }
    pthread_mutex_unlock(&pc->lock);
}

/*
 * One API call: method on path with an optional JSON body and request id.
 * 0 with *out = the parsed answer (an object; NULL for an empty 2xx body) and
 * *status; -1 with e (non-2xx answers mapped from PayPal's error body).
 */
static int api_call(struct paypal_client *pc, const char *method, const char *path,
                    const char *body, size_t body_len, const char *request_id, json_t **out,
                    long *status, struct paypal_err *e)
{
    char url[URL_MAX];
    char token[TOKEN_MAX];
    char auth[TOKEN_MAX + 32];
    char rid[REQUEST_ID_MAX + 32];
    int rc = -1;
    struct hc_response res;
    memset(&res, 0, sizeof res);
    *out = NULL;
    if (snprintf(url, sizeof url, "%s%s", pc->api_base, path) >= (int)sizeof url)
        return pfail(e, HC_INVALID, 0, "PayPal request URL is too long");
    for (int pass = 0; pass < 2; pass++) {
        if (token_get(pc, pass > 0, token, sizeof token, e) != 0)
            goto out;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        const char *headers[6];
        size_t nh = 0;
        headers[nh++] = auth;
        headers[nh++] = "Accept: application/json";
        headers[nh++] = "Content-Type: application/json";
        if (request_id != NULL) {
            snprintf(rid, sizeof rid, "PayPal-Request-Id: %s", request_id);
            headers[nh++] = rid;
        }
        headers[nh] = NULL;
        struct hc_request req = {
            .method = method,
            .url = url,
            .headers = headers,
            .body = body,
            .body_len = body_len,
            .timeout_ms = pc->timeout_ms,
            .max_response = RESPONSE_MAX,
            .ca_file = pc->ca_file,
        };
        if (send_with_retries(pc, &req, &res, e) != 0)
            goto out;
        if (res.status == 401 && pass == 0) {
            token_drop(pc, token); /* expired or revoked: one new token, one retry */
            continue;
        }
        break;
    }
    *status = res.status;
    if (res.status < 200 || res.status > 299) {
        error_from_response(&res, e);
        goto out;
    }
    if (res.body.len > 0) {
        struct lumi_err lerr;
        *out = jsonx_parse(res.body.data, res.body.len, JSONX_MAX_DEPTH, &lerr);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            pfail(e, HC_BAD_RESPONSE, res.status, "PayPal answered %s %s with invalid JSON",
                  method, path);
            goto out;
        }
    }
    rc = 0;
out:
    memset(token, 0, sizeof token);
    memset(auth, 0, sizeof auth);
    hc_response_free(&res);
    return rc;
}

static int check_request_id(const char *rid, struct paypal_err *e)
{
    size_t n = rid != NULL ? strnlen(rid, REQUEST_ID_MAX + 1) : 0;
    if (n == 0 || n > REQUEST_ID_MAX)
        return pfail(e, HC_INVALID, 0, "PayPal-Request-Id must be 1 to %d characters",
                     REQUEST_ID_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)rid[i] <= 0x20 || (unsigned char)rid[i] >= 0x7f)
            return pfail(e, HC_INVALID, 0, "PayPal-Request-Id has an invalid character");
    return 0;
}

/* An order/capture id used in a path: PayPal ids are [A-Z0-9]; be strict. */
static int check_id(const char *id, const char *what, struct paypal_err *e)
{
    size_t n = id != NULL ? strnlen(id, PAYPAL_ID_MAX) : 0;
    if (n == 0 || n >= PAYPAL_ID_MAX)
        return pfail(e, HC_INVALID, 0, "PayPal %s id is missing or too long", what);
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return pfail(e, HC_INVALID, 0, "PayPal %s id has an invalid character", what);
    }
    return 0;
}

/* ---- orders ---- */

/* Length of the longest prefix of s of at most max characters ending on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t bytes = 0, chars = 0;
    while (s[bytes] != '\0' && chars < max) {
        unsigned char ch = (unsigned char)s[bytes];
        size_t w = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        size_t k = 1;
        while (k < w && s[bytes + k] != '\0')
            k++;
        bytes += k;
        chars++;
    }
    return bytes;
}

static json_t *money_json(const char *cur_upper, int64_t minor, const char *cur, struct paypal_err *e)
{
    char v[MONEY_TEXT_MAX];
    if (money_format(minor, cur, v, sizeof v) != 0) {
        pfail(e, HC_INVALID, 0, "cannot format an amount in %s", cur_upper);
        return NULL;
    }
    return json_pack("{s:s, s:s}", "currency_code", cur_upper, "value", v);
}

/* The create body (new reference) or NULL with e. */
static json_t *order_body(const struct paypal_order_in *in, struct paypal_err *e)
{
    char cur[4], up[4];
    json_t *items = NULL, *root = NULL;
    int64_t total = 0;
    if (in->currency == NULL || money_currency_normalize(in->currency, cur) != 0) {
        pfail(e, HC_INVALID, 0, "unknown currency '%.8s'", in->currency ? in->currency : "");
        return NULL;
    }
    for (size_t i = 0; i < 4; i++)
        up[i] = (cur[i] >= 'a' && cur[i] <= 'z') ? (char)(cur[i] - 'a' + 'A') : cur[i];
    if (in->items == NULL || in->nitems == 0) {
        pfail(e, HC_INVALID, 0, "a PayPal order needs at least one item");
        return NULL;
    }
    if (in->invoice_number == NULL || in->invoice_number[0] == '\0' ||
        strlen(in->invoice_number) > TEXT_MAX || in->invoice_id <= 0) {
        pfail(e, HC_INVALID, 0, "a PayPal order needs an invoice number (≤ %d) and id",
              TEXT_MAX);
        return NULL;
    }
    if (in->return_url == NULL || in->cancel_url == NULL) {
        pfail(e, HC_INVALID, 0, "a PayPal order needs return and cancel URLs");
        return NULL;
    }
    items = json_array();
    if (items == NULL)
        goto nomem;
    for (size_t i = 0; i < in->nitems; i++) {
        const struct paypal_item *it = &in->items[i];
        if (it->unit_amount < 0 || it->quantity < 1 ||
            (it->unit_amount > 0 && it->quantity > INT64_MAX / it->unit_amount) ||
            total > INT64_MAX - it->unit_amount * it->quantity) {
            pfail(e, HC_INVALID, 0, "item %zu has an invalid amount or quantity", i + 1);
            goto fail;
        }
        total += it->unit_amount * it->quantity;
        const char *name = it->name != NULL && it->name[0] != '\0' ? it->name : "Item";
        char *cut = str_ndup(name, utf8_cut(name, TEXT_MAX));
        char qty[24];
        snprintf(qty, sizeof qty, "%" PRId64, it->quantity);
        json_t *unit = money_json(up, it->unit_amount, cur, e);
        if (unit == NULL) {
            free(cut);
            goto fail;
        }
        if (cut == NULL) {
            json_decref(unit);
            goto nomem;
        }
        json_t *item = json_pack("{s:s, s:s, s:o}", "name", cut, "quantity", qty, "unit_amount",
                                 unit);
        free(cut);
        if (item == NULL || json_array_append_new(items, item) != 0)
            goto nomem;
    }
    char ref[24];
    snprintf(ref, sizeof ref, "%" PRId64, in->invoice_id);
    /* Tax (issue 14): value = item_total + tax_total, as PayPal checks the breakdown. */
    int64_t value = 0;
    if (in->tax_total < 0 || __builtin_add_overflow(total, in->tax_total, &value)) {
        pfail(e, HC_INVALID, 0, "the order's tax_total is invalid");
        goto fail;
    }
    json_t *amount = money_json(up, value, cur, e);
    json_t *item_total = money_json(up, total, cur, e);
    json_t *tax_total = in->tax_total > 0 ? money_json(up, in->tax_total, cur, e) : NULL;
    if (amount == NULL || item_total == NULL || (in->tax_total > 0 && tax_total == NULL)) {
        json_decref(amount);
        json_decref(item_total);
        json_decref(tax_total);
        goto fail;
    }
    json_t *breakdown = json_pack("{s:o}", "item_total", item_total);
    if (breakdown != NULL && tax_total != NULL)
        json_object_set_new(breakdown, "tax_total", tax_total);
    else
        json_decref(tax_total);
    json_object_set_new(amount, "breakdown", breakdown);
    root = json_pack("{s:s, s:[{s:s, s:s, s:s, s:o, s:o}], s:{s:{s:{s:s, s:s, s:s, s:s}}}}",
                     "intent", "CAPTURE", "purchase_units", "reference_id", in->invoice_number,
                     "invoice_id", in->invoice_number, "custom_id", ref, "amount", amount, "items",
                     items, "payment_source", "paypal", "experience_context", "return_url",
                     in->return_url, "cancel_url", in->cancel_url, "user_action", "PAY_NOW",
                     "shipping_preference", "NO_SHIPPING");
    if (root == NULL) {
        items = NULL; /* json_pack with "o" steals even on failure */
        goto nomem;
    }
    return root;
nomem:
    pfail(e, HC_INVALID, 0, "out of memory building a PayPal order");
fail:
    json_decref(items);
    return NULL;
}

int paypal_order_create(struct paypal_client *pc, const struct paypal_order_in *in, json_t **out,
                        struct paypal_err *err)
{
    struct paypal_err local;
    struct paypal_err *e = err != NULL ? err : &local;
    perr_clear(e);
    *out = NULL;
    if (check_request_id(in->request_id, e) != 0)
        return -1;
    json_t *body = order_body(in, e);
    if (body == NULL)
        return -1;
    char *text = jsonx_dump(body);
    json_decref(body);
    if (text == NULL)
        return pfail(e, HC_INVALID, 0, "out of memory building a PayPal order");
    long status = 0;
    int rc = api_call(pc, "POST", "/v2/checkout/orders", text, strlen(text), in->request_id, out,
                      &status, e);
    free(text);
    if (rc == 0 && (*out == NULL || json_string_value(json_object_get(*out, "id")) == NULL)) {
        json_decref(*out);
        *out = NULL;
        return pfail(e, HC_BAD_RESPONSE, status, "PayPal created an order without an id");
    }
    return rc;
}

int paypal_order_get(struct paypal_client *pc, const char *order_id, json_t **out,
                     struct paypal_err *err)
{
    struct paypal_err local;
    struct paypal_err *e = err != NULL ? err : &local;
    char path[PAYPAL_ID_MAX + 64];
    long status = 0;
    perr_clear(e);
    *out = NULL;
    if (check_id(order_id, "order", e) != 0)
        return -1;
    snprintf(path, sizeof path, "/v2/checkout/orders/%s", order_id);
    if (api_call(pc, "GET", path, NULL, 0, NULL, out, &status, e) != 0)
        return -1;
    if (*out == NULL)
        return pfail(e, HC_BAD_RESPONSE, status, "PayPal answered an order read with no body");
    return 0;
}

int paypal_order_capture(struct paypal_client *pc, const char *order_id, const char *request_id,
                         json_t **out, struct paypal_err *err)
{
    struct paypal_err local;
    struct paypal_err *e = err != NULL ? err : &local;
    char path[PAYPAL_ID_MAX + 64];
    long status = 0;
    perr_clear(e);
    *out = NULL;
    if (check_id(order_id, "order", e) != 0 || check_request_id(request_id, e) != 0)
        return -1;
    snprintf(path, sizeof path, "/v2/checkout/orders/%s/capture", order_id);
    if (api_call(pc, "POST", path, "{}", 2, request_id, out, &status, e) != 0) {
        if (e->hc.http_status == 422 && strcmp(e->issue, "ORDER_ALREADY_CAPTURED") == 0)
            return paypal_order_get(pc, order_id, out, e); /* captured earlier: read it */
        return -1;
    }
    if (*out == NULL)
        return pfail(e, HC_BAD_RESPONSE, status, "PayPal answered a capture with no body");
    return 0;
}

const char *paypal_order_payer_url(const json_t *order)
{
    const char *approve = NULL;
    size_t i;
    const json_t *l;
    json_array_foreach(json_object_get(order, "links"), i, l)
    {
        const char *rel = json_string_value(json_object_get(l, "rel"));
        const char *href = json_string_value(json_object_get(l, "href"));
        if (rel == NULL || href == NULL)
            continue;
        if (strcmp(rel, "payer-action") == 0)
            return href;
        if (strcmp(rel, "approve") == 0 && approve == NULL)
            approve = href;
    }
    return approve;
}

const json_t *paypal_order_first_capture(const json_t *order)
{
    const json_t *pu = json_array_get(json_object_get(order, "purchase_units"), 0);
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"), 0);
    return json_is_object(c) ? c : NULL;
}

/* ---- capture / refund parsing ---- */

static int copy_field(const json_t *obj, const char *key, bool required, char *out, size_t outsz,
                      struct lumi_err *err)
{
    const json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        if (required)
            return err_set(err, LUMI_EINVAL, "PayPal object has no '%s'", key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= outsz)
        return err_set(err, LUMI_EINVAL, "PayPal field '%s' is not a string of at most %zu bytes",
                       key, outsz - 1);
    str_copy(out, json_string_value(v), outsz);
    return 0;
}

/* The capture id at the end of a ".../v2/payments/captures/{id}" href. */
static int up_capture_id(const json_t *obj, char *out, size_t outsz)
{
    static const char marker[] = "/v2/payments/captures/";
    size_t i;
    const json_t *l;
    out[0] = '\0';
    json_array_foreach(json_object_get(obj, "links"), i, l)
    {
        const char *rel = json_string_value(json_object_get(l, "rel"));
        const char *href = json_string_value(json_object_get(l, "href"));
        if (rel == NULL || href == NULL || strcmp(rel, "up") != 0)
            continue;
        const char *p = strstr(href, marker);
        if (p == NULL)
            continue;
        p += sizeof marker - 1;
        size_t n = strcspn(p, "/?#");
        if (n == 0 || n >= outsz || p[n] != '\0')
            continue;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
    }
    return 0;
}

int paypal_capture_parse(const json_t *obj, struct paypal_capture *c, struct lumi_err *err)
{
    memset(c, 0, sizeof *c);
    c->amount = -1;
    err_clear(err);
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "PayPal capture is not an object");
    int rc = copy_field(obj, "id", true, c->id, sizeof c->id, err);
    if (rc == 0)
        rc = copy_field(obj, "status", false, c->status, sizeof c->status, err);
    if (rc != 0)
        return rc;
    const json_t *amount = json_object_get(obj, "amount");
    const char *cur = json_string_value(json_object_get(amount, "currency_code"));
    const char *value = json_string_value(json_object_get(amount, "value"));
    if (cur != NULL && money_currency_normalize(cur, c->currency) == 0 && value != NULL) {
        int64_t minor = 0;
        if (money_parse(value, c->currency, &minor, NULL) == 0)
            c->amount = minor;
    }
    if (amount != NULL && c->amount < 0)
        return err_set(err, LUMI_EINVAL, "PayPal field 'amount' is not a valid amount");
    const char *custom = json_string_value(json_object_get(obj, "custom_id"));
    if (custom != NULL && custom[0] != '\0') {
        int64_t id = 0;
        if (str_to_i64z(custom, 1, INT64_MAX, &id) != 0)
            return err_set(err, LUMI_EINVAL, "PayPal field 'custom_id' is not an invoice id");
        c->invoice_id = id;
    }
    const json_t *order = json_object_get(
        json_object_get(json_object_get(obj, "supplementary_data"), "related_ids"), "order_id");
    if (json_is_string(order) && json_string_length(order) < sizeof c->order_id)
        str_copy(c->order_id, json_string_value(order), sizeof c->order_id);
    const json_t *reason = json_object_get(json_object_get(obj, "status_details"), "reason");
    if (json_is_string(reason))
        copy_clean(c->reason, sizeof c->reason, json_string_value(reason));
    up_capture_id(obj, c->up_capture_id, sizeof c->up_capture_id);
    return 0;
}

/* ---- webhook verification (mode api) ---- */

/* Appends "key":"value" (JSON-escaped) and a comma. */
static int append_member(struct buf *b, const char *key, const char *value)
{
    json_t *s = json_string(value);
    if (s == NULL)
        return LUMI_EINVAL; /* not UTF-8 */
    char *text = json_dumps(s, JSON_ENCODE_ANY);
    json_decref(s);
    if (text == NULL)
        return LUMI_ENOMEM;
    int rc = buf_printf(b, "\"%s\":%s,", key, text);
    free(text);
    return rc;
}

int paypal_verify_webhook_api(struct paypal_client *pc, const struct paypal_sig_headers *h,
                              const char *body, size_t len, bool *verified,
                              struct paypal_err *err)
{
    struct paypal_err local;
    struct paypal_err *e = err != NULL ? err : &local;
    int rc = -1;
    json_t *parsed = NULL, *answer = NULL;
    long status = 0;
    struct buf req;
    buf_init(&req, REQUEST_MAX + 4096);
    perr_clear(e);
    *verified = false;
    if (h == NULL || !str_present(h->transmission_id) || !str_present(h->transmission_time) ||
        !str_present(h->transmission_sig) || !str_present(h->cert_url) ||
        !str_present(h->auth_algo)) {
        pfail(e, HC_INVALID, 0, "PayPal webhook delivery is missing a PAYPAL-* header");
        goto out;
    }
    if (pc->webhook_id[0] == '\0') {
        pfail(e, HC_INVALID, 0, "PAYPAL_WEBHOOK_ID is not configured");
        goto out;
    }
    struct lumi_err lerr;
    parsed = body != NULL && len > 0 ? jsonx_parse_object(body, len, &lerr) : NULL;
    if (parsed == NULL || len > REQUEST_MAX) {
        pfail(e, HC_INVALID, 0, "PayPal webhook body is not a JSON object");
        goto out;
    }
    /* Built by hand: webhook_event is the raw body, byte for byte. */
    if (buf_append_char(&req, '{') != 0 || append_member(&req, "auth_algo", h->auth_algo) != 0 ||
        append_member(&req, "cert_url", h->cert_url) != 0 ||
        append_member(&req, "transmission_id", h->transmission_id) != 0 ||
        append_member(&req, "transmission_sig", h->transmission_sig) != 0 ||
        append_member(&req, "transmission_time", h->transmission_time) != 0 ||
        append_member(&req, "webhook_id", pc->webhook_id) != 0 ||
        buf_append_str(&req, "\"webhook_event\":") != 0 || buf_append(&req, body, len) != 0 ||
        buf_append_char(&req, '}') != 0) {
        pfail(e, HC_INVALID, 0, "PayPal webhook headers are not valid text or too long");
        goto out;
    }
    if (api_call(pc, "POST", "/v1/notifications/verify-webhook-signature", req.data, req.len, NULL,
                 &answer, &status, e) != 0)
        goto out;
    const char *vs = json_string_value(json_object_get(answer, "verification_status"));
    if (vs == NULL) {
        pfail(e, HC_BAD_RESPONSE, status,
              "PayPal answered verify-webhook-signature without verification_status");
        goto out;
    }
    *verified = strcmp(vs, "SUCCESS") == 0;
    rc = 0;
out:
    json_decref(parsed);
    json_decref(answer);
    buf_free(&req);
    return rc;
}
