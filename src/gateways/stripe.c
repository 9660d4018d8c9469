/*
 * stripe.c — the Stripe API client (see stripe.h; contract: shared/contracts/stripe.md).
 *
 * Owns: the form encoding of a Checkout Session (bracket nesting, explicit
 * indexes), the request plumbing (Bearer key, pinned Stripe-Version,
 * Idempotency-Key on create), the retry loop with exponential backoff and
 * jitter that obeys Stripe-Should-Retry, the mapping of Stripe's error bodies
 * onto struct hc_error, and the parsers of the objects Lumi acts on.
 *
 * Threading: stateless; every function may run on any thread at once. The
 * retry loop sleeps on the calling thread (callers are workers, never the
 * HTTP I/O threads). Nothing here logs; messages never contain the secret
 * key (Stripe's own messages are scrubbed of anything key-shaped too).
 */
#include "gateways/stripe.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/jscan.h"
#include "core/json.h"
#include "core/str.h"

#define URL_MAX 2048
#define FORM_MAX (256u * 1024u)
#define NAME_MAX_BYTES 250
#define IDEM_MAX 255
#define REF_MAX 200
#define META_MAX 500
#define EMAIL_MAX 512
#define DEF_TIMEOUT_MS 20000
#define DEF_ATTEMPTS 3
#define DEF_BACKOFF_MS 500
#define BACKOFF_CAP_MS 30000

/* ---- messages ---- */

/* Cuts s so that it does not end inside a UTF-8 sequence. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && n - (i - 1) < want)
        s[i - 1] = '\0';
    else if (lead < 0x80 && i < n)
        s[i] = '\0'; /* stray continuation bytes after ASCII */
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '*';
}

/*
 * Masks anything shaped like a Stripe key (sk_…, rk_…, whsec_…) in place:
 * Stripe's 401 message quotes a masked key, and a misconfigured proxy could
 * echo the header back. The prefix stays so the admin sees which kind it was.
 */
static void scrub_keys(char *s)
{
    static const char *const prefixes[] = {"sk_", "rk_", "whsec_"};
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (i > 0 && key_char(s[i - 1]))
            continue;
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
            size_t plen = strlen(prefixes[k]);
            if (strncmp(s + i, prefixes[k], plen) != 0)
                continue;
            size_t j = i + plen;
            while (s[j] != '\0' && key_char(s[j]))
                j++;
            if (j - (i + plen) < 4)
                break;
            /* keep "sk_", write "…" as "***", drop the rest */
            size_t at = i + plen;
            size_t tail = strlen(s + j);
            memmove(s + at + 3, s + j, tail + 1);
            memcpy(s + at, "***", 3);
            i = at + 2;
            break;
        }
    }
}

/* Control characters become spaces: messages end up in JSON and logs. */
static void clean_controls(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

__attribute__((format(printf, 2, 3))) static void set_msg(struct hc_error *e, const char *fmt, ...)
{
    char msg[HC_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        str_copy(msg, "Stripe: error message could not be formatted", sizeof msg);
    clean_controls(msg);
    scrub_keys(msg);
    utf8_trim(msg);
    str_copy(e->message, msg, sizeof e->message);
}

/* A fresh error of class cls. Returns -1. */
__attribute__((format(printf, 4, 5))) static int fail(struct hc_error *e, enum hc_class cls,
                                                      long status, const char *fmt, ...)
{
    char msg[HC_MSG_MAX];
    va_list ap;
    memset(e, 0, sizeof *e);
    hc_fail(e, cls, "%s", "Stripe");
    e->http_status = status;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        str_copy(msg, "Stripe: error message could not be formatted", sizeof msg);
    set_msg(e, "%s", msg);
    return -1;
}

/* ---- arguments ---- */

static bool has_controls(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool http_url(const char *u)
{
    return u != NULL && (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0);
}

static int check_conf(const struct stripe_conf *conf, struct hc_error *e)
{
    if (conf == NULL)
        return fail(e, HC_INVALID, 0, "Stripe is not configured");
    if (!http_url(conf->api_base) || has_controls(conf->api_base) ||
        strlen(conf->api_base) >= URL_MAX / 2)
        return fail(e, HC_INVALID, 0, "STRIPE_API_BASE must be an http:// or https:// URL");
    if (conf->secret_key == NULL || conf->secret_key[0] == '\0')
        return fail(e, HC_AUTH, 0, "No Stripe secret key is configured (STRIPE_SECRET_KEY)");
    for (const char *p = conf->secret_key; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(e, HC_AUTH, 0,
                        "The Stripe secret key (STRIPE_SECRET_KEY) contains spaces or control "
                        "characters");
    return 0;
}

static int check_input(const struct stripe_checkout_in *in, struct hc_error *e)
{
    if (in == NULL)
        return fail(e, HC_INVALID, 0, "Stripe checkout: no input");
    const char *c = in->currency;
    if (c == NULL || strlen(c) != 3)
        return fail(e, HC_INVALID, 0, "Stripe checkout: the currency must be a 3-letter code");
    for (int i = 0; i < 3; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z')))
            return fail(e, HC_INVALID, 0, "Stripe checkout: the currency must be a 3-letter code");
    if (in->nlines == 0 || in->lines == NULL)
        return fail(e, HC_INVALID, 0, "Stripe checkout: at least one line item is required");
    if (in->nlines > STRIPE_MAX_LINE_ITEMS)
        return fail(e, HC_INVALID, 0, "Stripe checkout: %zu line items, Stripe takes at most %d",
                    in->nlines, STRIPE_MAX_LINE_ITEMS);
    for (size_t i = 0; i < in->nlines; i++) {
        const struct stripe_line *l = &in->lines[i];
        if (!str_present(l->name))
            return fail(e, HC_INVALID, 0, "Stripe checkout: line %zu has no name", i + 1);
        if (l->unit_amount < 0)
            return fail(e, HC_INVALID, 0, "Stripe checkout: line %zu has a negative amount", i + 1);
        if (l->quantity < 1)
            return fail(e, HC_INVALID, 0, "Stripe checkout: line %zu has a quantity below 1",
                        i + 1);
    }
    if (!http_url(in->success_url) || has_controls(in->success_url))
        return fail(e, HC_INVALID, 0, "Stripe checkout: success_url must be an http(s) URL");
    if (!http_url(in->cancel_url) || has_controls(in->cancel_url))
        return fail(e, HC_INVALID, 0, "Stripe checkout: cancel_url must be an http(s) URL");
    if (in->client_reference_id != NULL && strlen(in->client_reference_id) > REF_MAX)
        return fail(e, HC_INVALID, 0,
                    "Stripe checkout: client_reference_id is longer than %d characters", REF_MAX);
    if (in->invoice_id < 1)
        return fail(e, HC_INVALID, 0, "Stripe checkout: the invoice id must be positive");
    if (in->customer_email != NULL && strlen(in->customer_email) > EMAIL_MAX)
        return fail(e, HC_INVALID, 0, "Stripe checkout: the customer e-mail is too long");
    const char *k = in->idempotency_key;
    if (k == NULL || k[0] == '\0' || strlen(k) > IDEM_MAX)
        return fail(e, HC_INVALID, 0,
                    "Stripe checkout: an idempotency key of 1 to %d characters is required",
                    IDEM_MAX);
    for (; *k != '\0'; k++)
        if ((unsigned char)*k <= 0x20 || (unsigned char)*k >= 0x7f)
            return fail(e, HC_INVALID, 0,
                        "Stripe checkout: the idempotency key must be printable ASCII");
    return 0;
}

/* ---- form encoding ---- */

/* Appends "&key=value" (key is a constant of ours, value escaped). */
static int form_add(struct buf *b, const char *key, const char *value)
{
    if (b->len > 0 && buf_append_char(b, '&') != 0)
        return -1;
    if (buf_append_str(b, key) != 0 || buf_append_char(b, '=') != 0)
        return -1;
    return hc_url_escape(b, value) != 0 ? -1 : 0;
}

__attribute__((format(printf, 3, 4))) static int form_addf(struct buf *b, const char *value,
                                                           const char *keyfmt, ...)
{
    char key[128];
    va_list ap;
    va_start(ap, keyfmt);
    int n = vsnprintf(key, sizeof key, keyfmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof key)
        return -1;
    return form_add(b, key, value);
}

/* name cut to at most NAME_MAX_BYTES bytes, never inside a UTF-8 sequence. */
static void cut_name(const char *name, char *out, size_t outsz)
{
    str_copy(out, name, outsz);
    utf8_trim(out);
}

static int build_form(const struct stripe_checkout_in *in, struct buf *b)
{
    char cur[4], num[32], name[NAME_MAX_BYTES + 1];
    for (int i = 0; i < 3; i++) {
        char ch = in->currency[i];
        cur[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    cur[3] = '\0';
    if (form_add(b, "mode", "payment") != 0 || form_add(b, "success_url", in->success_url) != 0 ||
        form_add(b, "cancel_url", in->cancel_url) != 0)
        return -1;
    for (size_t i = 0; i < in->nlines; i++) {
        const struct stripe_line *l = &in->lines[i];
        cut_name(l->name, name, sizeof name);
        if (form_addf(b, cur, "line_items[%zu][price_data][currency]", i) != 0)
            return -1;
        snprintf(num, sizeof num, "%" PRId64, l->unit_amount);
        if (form_addf(b, num, "line_items[%zu][price_data][unit_amount]", i) != 0)
            return -1;
        if (form_addf(b, name, "line_items[%zu][price_data][product_data][name]", i) != 0)
            return -1;
        snprintf(num, sizeof num, "%" PRId64, l->quantity);
        if (form_addf(b, num, "line_items[%zu][quantity]", i) != 0)
            return -1;
    }
    if (str_present(in->client_reference_id) &&
        form_add(b, "client_reference_id", in->client_reference_id) != 0)
        return -1;
    snprintf(num, sizeof num, "%" PRId64, in->invoice_id);
    if (form_add(b, "metadata[invoice_id]", num) != 0 ||
        form_add(b, "payment_intent_data[metadata][invoice_id]", num) != 0)
        return -1;
    if (str_present(in->customer_email) && form_add(b, "customer_email", in->customer_email) != 0)
        return -1;
    return 0;
}

/* ---- errors from answers ---- */

/* Fills e from a non-2xx answer: the class from the status, the message from Stripe's body. */
static void answer_error(const struct hc_response *res, struct hc_error *e)
{
    struct lumi_err lerr;
    char status_msg[HC_MSG_MAX];
    json_t *root = NULL;
    memset(e, 0, sizeof *e);
    if (hc_classify(res, "Stripe", e) == 0) {
        /* 1xx/3xx: Stripe never redirects its API; something else answered. */
        fail(e, HC_BAD_RESPONSE, res->status,
             "Stripe answered HTTP %ld instead of JSON (check STRIPE_API_BASE)", res->status);
        return;
    }
    str_copy(status_msg, e->message, sizeof status_msg);
    if (res->body.len > 0)
        root = jsonx_parse(res->body.data, res->body.len, JSONX_MAX_DEPTH, &lerr);
    const json_t *err = json_object_get(root, "error");
    const char *message = json_string_value(json_object_get(err, "message"));
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *param = json_string_value(json_object_get(err, "param"));
    if (!str_present(code))
        code = NULL;
    if (!str_present(param))
        param = NULL;
    if (!str_present(message)) {
        if (type != NULL)
            set_msg(e, "%s (%.64s)", status_msg, type);
        else
            set_msg(e, "%s", status_msg);
    } else if (code != NULL && param != NULL) {
        set_msg(e, "Stripe: %.300s (%.64s, param %.96s)", message, code, param);
    } else if (code != NULL) {
        set_msg(e, "Stripe: %.300s (%.64s)", message, code);
    } else if (param != NULL) {
        set_msg(e, "Stripe: %.300s (param %.96s)", message, param);
    } else {
        set_msg(e, "Stripe: %.400s", message);
    }
    /* A 409 is a concurrent use of the same key: trying again later is right. */
    if (res->status == 409)
        e->retryable = true;
    json_decref(root);
}

/* ---- transport ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* backoff × 2^(attempt−1), ±20 % jitter, capped. attempt ≥ 1. */
static int backoff_for(int base_ms, int attempt)
{
    int64_t ms = base_ms;
    for (int i = 1; i < attempt && ms < BACKOFF_CAP_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_CAP_MS)
        ms = BACKOFF_CAP_MS;
    int64_t span = ms / 5;
    if (span > 0)
        ms += (int64_t)randombytes_uniform((uint32_t)(2 * span + 1)) - span;
    return (int)(ms < 0 ? 0 : ms);
}

/*
 * Whether a failed attempt is worth repeating: Stripe-Should-Retry decides
 * when present; otherwise connection errors, timeouts, 409 and 5xx.
 */
static bool should_retry(const struct hc_response *res, bool answered, const struct hc_error *e)
{
    char hint[16];
    if (!answered)
        return e->cls == HC_CONNECTION || e->cls == HC_TIMEOUT;
    if (hc_header(res, "Stripe-Should-Retry", hint, sizeof hint) != NULL) {
        if (strcasecmp(hint, "true") == 0)
            return true;
        if (strcasecmp(hint, "false") == 0)
            return false;
    }
    return res->status == 409 || res->status >= 500;
}

static int parse_ok(const struct hc_response *res, json_t **out, struct hc_error *e)
{
    struct lumi_err lerr;
    json_t *root = jsonx_parse(res->body.data, res->body.len, JSONX_MAX_DEPTH, &lerr);
    if (root == NULL)
        return fail(e, HC_BAD_RESPONSE, res->status, "Stripe answered with invalid JSON (%s)",
                    lerr.msg);
    const char *id = json_string_value(json_object_get(root, "id"));
    if (!json_is_object(root) || !str_present(id)) {
        json_decref(root);
        return fail(e, HC_BAD_RESPONSE, res->status,
                    "Stripe answered with something that is not an object with an id");
    }
    *out = root;
    return 0;
}

/* One API call with retries; body NULL for GET. idem may be NULL. */
static int call(const struct stripe_conf *conf, const char *method, const char *path,
                const char *body, const char *idem, const char *what, json_t **out,
                struct hc_error *e)
{
    struct buf url, auth, idem_h;
    struct hc_response res;
    int rc = -1;
    int attempts = conf->max_attempts > 0 ? conf->max_attempts : DEF_ATTEMPTS;
    int backoff = conf->backoff_ms > 0 ? conf->backoff_ms : DEF_BACKOFF_MS;

    memset(&res, 0, sizeof res);
    buf_init(&url, URL_MAX * 2);
    buf_init(&auth, 1024);
    buf_init(&idem_h, 512);
    size_t blen = strlen(conf->api_base);
    while (blen > 0 && conf->api_base[blen - 1] == '/')
        blen--;
    if (buf_printf(&url, "%.*s%s", (int)blen, conf->api_base, path) != 0 ||
        buf_printf(&auth, "Authorization: Bearer %s", conf->secret_key) != 0 ||
        (idem != NULL && buf_printf(&idem_h, "Idempotency-Key: %s", idem) != 0)) {
        fail(e, HC_INVALID, 0, "Stripe %s: the request is too long", what);
        goto out;
    }
    const char *headers[] = {buf_cstr(&auth),
                             "Stripe-Version: " STRIPE_API_VERSION,
                             "Accept: application/json",
                             body != NULL ? "Content-Type: application/x-www-form-urlencoded"
                                          : NULL,
                             idem != NULL ? buf_cstr(&idem_h) : NULL,
                             NULL};
    /* Compact the list: a NULL in the middle would end it early. */
    const char *hdrs[6];
    size_t nh = 0;
    for (size_t i = 0; i < 5; i++)
        if (headers[i] != NULL)
            hdrs[nh++] = headers[i];
    hdrs[nh] = NULL;
    struct hc_request req = {
        .method = method,
        .url = buf_cstr(&url),
        .headers = hdrs,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : DEF_TIMEOUT_MS,
        .ca_file = conf->ca_file,
    };
    for (int attempt = 1;; attempt++) {
        hc_response_free(&res);
        memset(&res, 0, sizeof res);
        bool answered = hc_perform(&req, &res, e) == 0;
        if (answered && res.status >= 200 && res.status < 300) {
            rc = parse_ok(&res, out, e);
            goto out;
        }
        if (answered) {
            answer_error(&res, e);
        } else {
            char msg[HC_MSG_MAX];
            str_copy(msg, e->message, sizeof msg);
            set_msg(e, "Stripe %s: %s", what, msg);
        }
        if (attempt >= attempts || !should_retry(&res, answered, e)) {
            if (answered) {
                char hint[16];
                if (hc_header(&res, "Stripe-Should-Retry", hint, sizeof hint) != NULL &&
                    strcasecmp(hint, "false") == 0)
                    e->retryable = false;
            }
            goto out;
        }
        sleep_ms(backoff_for(backoff, attempt));
    }
out:
    hc_response_free(&res);
    buf_free(&idem_h);
    buf_free(&auth);
    buf_free(&url);
    return rc;
}

/* ---- public calls ---- */

int stripe_checkout_create(const struct stripe_conf *conf, const struct stripe_checkout_in *in,
                           json_t **out, struct hc_error *err)
{
    struct hc_error local;
    struct buf form;
    int rc = -1;
    if (err == NULL)
        err = &local;
    if (out != NULL)
        *out = NULL;
    buf_init(&form, FORM_MAX);
    if (out == NULL) {
        fail(err, HC_INVALID, 0, "Stripe checkout: no output");
        goto out;
    }
    if (check_conf(conf, err) != 0 || check_input(in, err) != 0)
        goto out;
    if (build_form(in, &form) != 0) {
        fail(err, HC_INVALID, 0, "Stripe checkout: the request is too large");
        goto out;
    }
    rc = call(conf, "POST", "/v1/checkout/sessions", buf_cstr(&form), in->idempotency_key,
              "create checkout session", out, err);
out:
    buf_free(&form);
    return rc;
}

int stripe_checkout_retrieve(const struct stripe_conf *conf, const char *session_id, json_t **out,
                             struct hc_error *err)
{
    struct hc_error local;
    struct buf path;
    int rc = -1;
    if (err == NULL)
        err = &local;
    if (out != NULL)
        *out = NULL;
    buf_init(&path, 1024);
    if (out == NULL) {
        fail(err, HC_INVALID, 0, "Stripe retrieve: no output");
        goto out;
    }
    if (check_conf(conf, err) != 0)
        goto out;
    if (!str_present(session_id) || strlen(session_id) >= STRIPE_ID_MAX) {
        fail(err, HC_INVALID, 0, "Stripe retrieve: a checkout session id is required");
        goto out;
    }
    if (buf_append_str(&path, "/v1/checkout/sessions/") != 0 ||
        hc_url_escape(&path, session_id) != 0) {
        fail(err, HC_INVALID, 0, "Stripe retrieve: the session id is too long");
        goto out;
    }
    rc = call(conf, "GET", buf_cstr(&path), NULL, NULL, "retrieve checkout session", out, err);
out:
    buf_free(&path);
    return rc;
}

/* ---- parsers ---- */

/* Copies the string member key into out (absent or null: ""); EINVAL when not a string or too long.
 */
static int copy_str(const json_t *obj, const char *key, char *out, size_t outsz,
                    struct lumi_err *err)
{
    const json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return err_set(err, LUMI_EINVAL, "checkout.session field '%s' must be a string", key);
    if (json_string_length(v) >= outsz || strlen(json_string_value(v)) != json_string_length(v))
        return err_set(err, LUMI_EINVAL, "checkout.session field '%s' is too long", key);
    str_copy(out, json_string_value(v), outsz);
    return 0;
}

const char *stripe_payment_intent_of(const json_t *obj)
{
    const json_t *pi = json_object_get(obj, "payment_intent");
    const char *id = NULL;
    if (json_is_string(pi))
        id = json_string_value(pi);
    else if (json_is_object(pi))
        id = json_string_value(json_object_get(pi, "id"));
    return str_present(id) ? id : NULL;
}

int stripe_session_parse(const json_t *obj, struct stripe_session *s, struct lumi_err *err)
{
    err_clear(err);
    if (s == NULL)
        return err_set(err, LUMI_EINVAL, "no output for the checkout.session");
    memset(s, 0, sizeof *s);
    s->amount_total = -1;
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "a checkout.session must be a JSON object");
    const char *kind = json_string_value(json_object_get(obj, "object"));
    if (kind != NULL && strcmp(kind, "checkout.session") != 0)
        return err_set(err, LUMI_EINVAL, "expected a checkout.session, got '%.64s'", kind);
    int rc;
    if ((rc = copy_str(obj, "id", s->id, sizeof s->id, err)) != 0 ||
        (rc = copy_str(obj, "status", s->status, sizeof s->status, err)) != 0 ||
        (rc = copy_str(obj, "payment_status", s->payment_status, sizeof s->payment_status, err)) !=
            0 ||
        (rc = copy_str(obj, "currency", s->currency, sizeof s->currency, err)) != 0 ||
        (rc = copy_str(obj, "client_reference_id", s->client_reference_id,
                       sizeof s->client_reference_id, err)) != 0 ||
        (rc = copy_str(obj, "url", s->url, sizeof s->url, err)) != 0)
        goto fail;
    if (s->id[0] == '\0') {
        rc = err_set(err, LUMI_EINVAL, "checkout.session field 'id' is required");
        goto fail;
    }
    str_lower(s->currency);
    const json_t *amt = json_object_get(obj, "amount_total");
    if (amt != NULL && !json_is_null(amt)) {
        if (!json_is_integer(amt) || json_integer_value(amt) < 0) {
            rc = err_set(err, LUMI_EINVAL,
                         "checkout.session field 'amount_total' must be an integer >= 0");
            goto fail;
        }
        s->amount_total = json_integer_value(amt);
    }
    const json_t *exp = json_object_get(obj, "expires_at");
    if (json_is_integer(exp))
        s->expires_at = json_integer_value(exp);
    const char *inv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "invoice_id"));
    int64_t id = 0;
    if (inv != NULL && inv[0] != '0' && str_to_i64z(inv, 1, INT64_MAX, &id) == 0)
        s->invoice_id = id;
    const char *pi = stripe_payment_intent_of(obj);
    if (pi != NULL) {
        if (strlen(pi) >= sizeof s->payment_intent) {
            rc = err_set(err, LUMI_EINVAL, "checkout.session field 'payment_intent' is too long");
            goto fail;
        }
        str_copy(s->payment_intent, pi, sizeof s->payment_intent);
    }
    return 0;
fail:
    memset(s, 0, sizeof *s);
    s->amount_total = -1;
    return rc;
}

/*
 * The members of data.object that webhooks.c, pay_apply.c and
 * stripe_session_parse read, for every event type Lumi acts on (a checkout
 * session, a payment intent, a charge, a dispute). A member read from an
 * event must be listed here, or it reads as absent: bb_stripe delivers each
 * of those types through HTTP, and test_stripe checks this list.
 */
static const char *const OBJECT_MEMBERS[] = {
    "id",     "object",         "amount", "amount_total",   "amount_refunded",     "currency",
    "status", "payment_status", "charge", "payment_intent", "last_payment_error",  "metadata",
    "reason", "expires_at",     "url",    "livemode",       "client_reference_id", "created",
    NULL,
};

/* What stripe_event_load keeps (see stripe.h). */
static enum jscan_keep event_member(const char *const *path, size_t depth, const char *key,
                                    enum jscan_kind kind, void *ctx)
{
    (void)ctx;
    if (depth == 0) /* the event */
        return strcmp(key, "data") == 0 ? JSCAN_DESCEND
               : kind == JSCAN_SCALAR   ? JSCAN_KEEP
                                        : JSCAN_DROP;
    if (depth == 1) /* data */
        return strcmp(path[0], "data") == 0 && strcmp(key, "object") == 0 ? JSCAN_DESCEND
                                                                          : JSCAN_DROP;
    for (size_t i = 0; OBJECT_MEMBERS[i] != NULL; i++) /* data.object (first letters first) */
        if (key[0] == OBJECT_MEMBERS[i][0] && strcmp(key, OBJECT_MEMBERS[i]) == 0)
            return JSCAN_KEEP;
    return JSCAN_DROP;
}

json_t *stripe_event_load(const char *body, size_t len, struct lumi_err *err)
{
    json_t *ev = jscan_parse(body, len, JSONX_MAX_DEPTH, event_member, NULL, err);
    if (ev != NULL && !json_is_object(ev)) {
        json_decref(ev);
        err_set(err, LUMI_EINVAL, "request body must be a JSON object");
        return NULL;
    }
    return ev;
}

int stripe_event_parse(const json_t *ev, struct stripe_event *out, struct lumi_err *err)
{
    err_clear(err);
    if (out == NULL)
        return err_set(err, LUMI_EINVAL, "no output for the event");
    memset(out, 0, sizeof *out);
    if (!json_is_object(ev))
        return err_set(err, LUMI_EINVAL, "a Stripe event must be a JSON object");
    const char *kind = json_string_value(json_object_get(ev, "object"));
    if (kind == NULL || strcmp(kind, "event") != 0)
        return err_set(err, LUMI_EINVAL, "field 'object' must be \"event\"");
    const char *id = json_string_value(json_object_get(ev, "id"));
    if (!str_present(id) || strlen(id) >= STRIPE_ID_MAX)
        return err_set(err, LUMI_EINVAL, "field 'id' must be an event id");
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!str_present(type) || strlen(type) > 128)
        return err_set(err, LUMI_EINVAL, "field 'type' is required");
    const json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "field 'data.object' must be an object");
    out->id = id;
    out->type = type;
    out->object = obj;
    const json_t *created = json_object_get(ev, "created");
    out->created = json_is_integer(created) ? json_integer_value(created) : 0;
    out->livemode = json_is_true(json_object_get(ev, "livemode"));
    return 0;
}
