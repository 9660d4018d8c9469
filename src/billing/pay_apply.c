/*
 * pay_apply.c — the code the webhooks and the buyer's return share (see
 * pay_apply.h): reading Stripe sessions and PayPal captures, resolving the
 * invoice, applying through payments_apply() with must_settle, the
 * PAYMENT_FAILED / PAYMENT_MISMATCH audit rows, and the `checkouts` status.
 *
 * Stateless; everything goes through the caller's connection and open
 * transaction. The objects read here come from the gateways (verified
 * webhooks or our own API calls), but every field is still bounded and
 * checked: a missing or odd field is an outcome, never a crash.
 */
#include "billing/pay_apply.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "billing/payments.h"
#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"

static const char SQL_INVOICE_STATUS[] = "SELECT status FROM invoices WHERE id = $1";
static const char SQL_CHECKOUT_SET[] =
    "UPDATE checkouts SET status = $3, updated_at = $4 WHERE gateway = $1 AND gateway_ref = $2"
    " AND status <> $5 AND status <> $6";
static const char SQL_CHECKOUT_INVOICE[] =
    "SELECT invoice_id FROM checkouts WHERE gateway = $1 AND gateway_ref = $2";

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static void outcome(struct pay_outcome *out, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void outcome(struct pay_outcome *out, const char *result, const char *fmt, ...)
{
    va_list ap;
    str_copy(out->result, result, sizeof out->result);
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap); /* a cut message is fine */
    va_end(ap);
}

/* Copies a string member (or "" when absent / not a string); cut to size. */
static void take(const json_t *obj, const char *key, char *dst, size_t size)
{
    const char *v = json_string_value(json_object_get(obj, key));
    str_copy(dst, v != NULL ? v : "", size);
}

static void take_invoice(const json_t *holder, const char *key, char *raw, size_t rawsz,
                         int64_t *id)
{
    const json_t *v = json_object_get(holder, key);
    int64_t n = 0;
    *id = 0;
    raw[0] = '\0';
    if (json_is_string(v))
        str_copy(raw, json_string_value(v), rawsz);
    else if (json_is_integer(v))
        snprintf(raw, rawsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (raw[0] != '\0' && str_to_i64z(raw, 1, INT64_MAX, &n) == 0)
        *id = n;
}

int pa_session_read(const json_t *obj, struct pa_session *s, struct lumi_err *err)
{
    memset(s, 0, sizeof *s);
    s->amount_total = -1;
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "data.object must be a checkout.session object");
    take(obj, "id", s->id, sizeof s->id);
    take(obj, "payment_status", s->payment_status, sizeof s->payment_status);
    take(obj, "currency", s->currency, sizeof s->currency);
    const json_t *amt = json_object_get(obj, "amount_total");
    if (json_is_integer(amt))
        s->amount_total = json_integer_value(amt);
    take_invoice(json_object_get(obj, "metadata"), "invoice_id", s->invoice_raw,
                 sizeof s->invoice_raw, &s->invoice_id);
    const json_t *pi = json_object_get(obj, "payment_intent");
    if (json_is_object(pi))
        pi = json_object_get(pi, "id");
    if (json_is_string(pi))
        str_copy(s->payment_intent, json_string_value(pi), sizeof s->payment_intent);
    return 0;
}

int pa_capture_read(const json_t *obj, struct pa_capture *c, struct lumi_err *err)
{
    static const char UP[] = "/v2/payments/captures/";
    memset(c, 0, sizeof *c);
    c->amount = -1;
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "resource must be an object");
    take(obj, "id", c->id, sizeof c->id);
    take(obj, "status", c->status, sizeof c->status);
    take_invoice(obj, "custom_id", c->invoice_raw, sizeof c->invoice_raw, &c->invoice_id);
    const json_t *amount = json_object_get(obj, "amount");
    const char *cur = json_string_value(json_object_get(amount, "currency_code"));
    const char *val = json_string_value(json_object_get(amount, "value"));
    if (cur != NULL && money_currency_normalize(cur, c->currency) == 0 && val != NULL) {
        int64_t minor = 0;
        if (money_parse(val, c->currency, &minor, NULL) == 0 && minor >= 0)
            c->amount = minor;
    } else if (cur != NULL) {
        str_copy(c->currency, cur, sizeof c->currency);
    }
    take(json_object_get(json_object_get(obj, "supplementary_data"), "related_ids"), "order_id",
         c->order_id, sizeof c->order_id);
    take(json_object_get(obj, "status_details"), "reason", c->reason, sizeof c->reason);
    const json_t *links = json_object_get(obj, "links");
    size_t i;
    const json_t *l;
    json_array_foreach(links, i, l)
    {
        const char *rel = json_string_value(json_object_get(l, "rel"));
        const char *href = json_string_value(json_object_get(l, "href"));
        const char *at = href != NULL ? strstr(href, UP) : NULL;
        if (rel == NULL || strcmp(rel, "up") != 0 || at == NULL)
            continue;
        at += sizeof UP - 1;
        size_t n = strcspn(at, "/?#");
        if (n > 0 && n < sizeof c->up_capture_id) {
            memcpy(c->up_capture_id, at, n);
            c->up_capture_id[n] = '\0';
        }
        break;
    }
    return 0;
}

static int invoice_status(struct db *db, int64_t id, char *status, size_t size,
                          struct lumi_err *err)
{
    int rc;
    status[0] = '\0';
    struct db_stmt *st = db_prepare(db, SQL_INVOICE_STATUS, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        str_copy(status, db_col_text(st, 0), size);
        rc = 1;
    }
out:
    db_finalize(st);
    return rc;
}

/* A PAYMENT_MISMATCH row for what payments_apply cannot judge itself (no
 * such invoice, no usable amount): the record that money was announced. */
static int audit_mismatch(struct db *db, const struct audit_actor *actor, const char *entity_id,
                          json_t *details, const char *reason, struct lumi_err *err)
{
    if (jsonx_set_str(details, "reason", reason) < 0)
        return nomem(err);
    return audit_append(db, actor, "PAYMENT_MISMATCH", "invoice", entity_id, details, NULL, err);
}

int pa_invoice_check(struct db *db, const struct audit_actor *actor, const char *raw, int64_t id,
                     json_t *details, struct pay_outcome *out, struct lumi_err *err)
{
    char status[24];
    int rc = id > 0 ? invoice_status(db, id, status, sizeof status, err) : 0;
    if (rc != 0)
        return rc;
    outcome(out, "failed", "invoice %s does not exist", raw);
    rc = audit_mismatch(db, actor, raw, details, out->message, err);
    return rc < 0 ? rc : 0;
}

int pa_audit_failed(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                    const char *reference, int64_t invoice_id, int64_t amount, const char *currency,
                    const char *message, struct lumi_err *err)
{
    json_t *d = json_object();
    int rc;
    if (d == NULL || jsonx_set_str(d, "gateway", src->gateway) < 0 ||
        jsonx_set_str(d, "event_id", src->event_id) < 0 ||
        jsonx_set_str(d, "reference", reference) < 0 ||
        jsonx_set_int(d, "invoice_id", invoice_id) < 0 ||
        (amount >= 0 ? jsonx_set_int(d, "amount", amount) : jsonx_set_str(d, "amount", NULL)) < 0 ||
        jsonx_set_str(d, "currency", currency) < 0 || jsonx_set_str(d, "message", message) < 0) {
        rc = nomem(err);
        goto out;
    }
    rc = audit_append_id(db, actor, "PAYMENT_FAILED", "invoice", invoice_id, d, err);
out:
    json_decref(d);
    return rc;
}

int pa_checkout_set(struct db *db, const char *gateway, const char *ref, const char *status,
                    const char *const *keep, int64_t *changed, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    const char *k1 = keep != NULL && keep[0] != NULL ? keep[0] : status;
    const char *k2 = keep != NULL && keep[0] != NULL && keep[1] != NULL ? keep[1] : k1;
    utc_now_iso(now);
    const char *params[] = {gateway, ref, status, now, k1, k2};
    return db_execp(db, SQL_CHECKOUT_SET, 6, params, changed, err);
}

int pa_checkout_invoice(struct db *db, const char *gateway, const char *ref, int64_t *invoice_id,
                        struct lumi_err *err)
{
    const char *params[] = {gateway, ref};
    *invoice_id = 0;
    if (ref == NULL || ref[0] == '\0')
        return 0;
    int rc = db_query_int64_opt(db, SQL_CHECKOUT_INVOICE, 2, params, invoice_id, err);
    return rc < 0 ? rc : 0;
}

static json_t *base_details(const struct pa_src *src, int64_t amount, const char *currency)
{
    json_t *d = json_object();
    if (d == NULL || jsonx_set_str(d, "gateway", src->gateway) < 0 ||
        jsonx_set_str(d, "event_id", src->event_id) < 0 || jsonx_set_int(d, "amount", amount) < 0 ||
        jsonx_set_str(d, "currency", currency) < 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/*
 * Pays invoice with a gateway payment that must settle what is due, and
 * moves the checkouts row (gateway, checkout_ref) along: complete when the
 * money is recorded (now or before), failed on a mismatch.
 */
static int pay(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
               const char *ref, int64_t amount, const char *currency, int64_t invoice_id,
               const char *entity_raw, json_t *details, const char *checkout_ref,
               struct pay_outcome *out, struct lumi_err *err)
{
    static const char *const keep_complete[] = {"complete", NULL};
    struct payment_result res = {0};
    int rc;
    if (amount <= 0 || !money_currency_valid(currency)) {
        outcome(out, "mismatch", "the %s payment %s has no usable amount or currency", src->gateway,
                ref);
        rc = audit_mismatch(db, actor, entity_raw, details, out->message, err);
        if (rc < 0)
            return rc;
        return pa_checkout_set(db, src->gateway, checkout_ref, "failed", keep_complete, NULL, err);
    }
    struct payment_in p = {.kind = "payment",
                           .gateway = src->gateway,
                           .gateway_ref = ref,
                           .amount = amount,
                           .currency = currency,
                           .invoice_id = invoice_id,
                           .details = details,
                           .must_settle = true};
    rc = payments_apply(db, actor, &p, &res, err);
    if (rc == LUMI_ENOTFOUND) { /* the invoice (payments_apply wrote nothing) */
        err_clear(err);
        out->invoice_id = 0;
        outcome(out, "failed", "invoice %s does not exist", entity_raw);
        rc = audit_mismatch(db, actor, entity_raw, details, out->message, err);
        return rc < 0 ? rc : 0;
    }
    if (rc < 0)
        return rc;
    str_copy(out->invoice_status, res.status, sizeof out->invoice_status);
    switch (res.outcome) {
    case PAYMENT_APPLIED:
        outcome(out, "paid", "payment %s of %" PRId64 " %s recorded", ref, amount, currency);
        break;
    case PAYMENT_DUPLICATE:
        outcome(out, "duplicate", "payment %s was already recorded", ref);
        break;
    case PAYMENT_MISMATCH:
        outcome(out, "mismatch", "%s", res.message);
        return pa_checkout_set(db, src->gateway, checkout_ref, "failed", keep_complete, NULL, err);
    }
    return pa_checkout_set(db, src->gateway, checkout_ref, "complete", NULL, NULL, err);
}

int pa_stripe_session(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                      const struct pa_session *s, struct pay_outcome *out, struct lumi_err *err)
{
    json_t *d = NULL;
    int rc;
    const char *ref = s->payment_intent[0] != '\0' ? s->payment_intent : s->id;
    memset(out, 0, sizeof *out);
    out->invoice_id = s->invoice_id;
    if (s->invoice_raw[0] == '\0') {
        outcome(out, "ignored", "not a Lumi checkout (no metadata.invoice_id)");
        return 0;
    }
    d = base_details(src, s->amount_total, s->currency);
    if (d == NULL || jsonx_set_str(d, "payment_intent", s->payment_intent) < 0 ||
        jsonx_set_str(d, "session_id", s->id) < 0) {
        rc = nomem(err);
        goto out;
    }
    bool paid = strcmp(s->payment_status, "paid") == 0;
    if (paid && s->invoice_id > 0) {
        /* pay() answers an unknown invoice itself, sparing a look-up per payment */
        rc = pay(db, actor, src, ref, s->amount_total, s->currency, s->invoice_id, s->invoice_raw,
                 d, s->id, out, err);
        goto out;
    }
    rc = pa_invoice_check(db, actor, s->invoice_raw, s->invoice_id, d, out, err);
    if (rc <= 0) {
        out->invoice_id = 0;
        goto out;
    }
    rc = invoice_status(db, s->invoice_id, out->invoice_status, sizeof out->invoice_status, err);
    if (rc < 0)
        goto out;
    rc = 0;
    if (strcmp(s->payment_status, "unpaid") == 0)
        outcome(out, "pending", "awaiting the asynchronous payment");
    else
        outcome(out, "ignored", "nothing to pay (payment_status '%s')", s->payment_status);
out:
    json_decref(d);
    return rc;
}

int pa_paypal_capture(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                      const struct pa_capture *c, const char *order_id, struct pay_outcome *out,
                      struct lumi_err *err)
{
    static const char *const keep_complete[] = {"complete", NULL};
    json_t *d = NULL;
    char raw[64];
    int64_t invoice_id = c->invoice_id;
    int rc;
    if (order_id == NULL || order_id[0] == '\0')
        order_id = c->order_id;
    memset(out, 0, sizeof *out);
    str_copy(raw, c->invoice_raw, sizeof raw);
    if (raw[0] == '\0') {
        rc = pa_checkout_invoice(db, "paypal", order_id, &invoice_id, err);
        if (rc < 0)
            return rc;
        if (invoice_id == 0) {
            outcome(out, "ignored", "not a Lumi checkout (no custom_id, order unknown)");
            return 0;
        }
        snprintf(raw, sizeof raw, "%" PRId64, invoice_id);
    }
    out->invoice_id = invoice_id;
    d = base_details(src, c->amount, c->currency);
    if (d == NULL || jsonx_set_str(d, "capture_id", c->id) < 0 ||
        jsonx_set_str(d, "order_id", order_id) < 0) {
        rc = nomem(err);
        goto out;
    }
    rc = pa_invoice_check(db, actor, raw, invoice_id, d, out, err);
    if (rc <= 0) {
        out->invoice_id = 0;
        goto out;
    }
    if (strcmp(c->status, "COMPLETED") == 0) {
        if (c->id[0] == '\0') {
            outcome(out, "failed", "the capture has no id");
            rc = 0;
            goto out;
        }
        rc = pay(db, actor, src, c->id, c->amount, c->currency, invoice_id, raw, d, order_id, out,
                 err);
        goto out;
    }
    rc = invoice_status(db, invoice_id, out->invoice_status, sizeof out->invoice_status, err);
    if (rc < 0)
        goto out;
    rc = 0;
    if (strcmp(c->status, "PENDING") == 0) {
        outcome(out, "pending", "pending: %s",
                c->reason[0] != '\0' ? c->reason : "no reason given");
    } else if (strcmp(c->status, "DECLINED") == 0 || strcmp(c->status, "DENIED") == 0 ||
               strcmp(c->status, "FAILED") == 0) {
        outcome(out, "failed", "the capture %s was %s", c->id, c->status);
        rc = pa_audit_failed(db, actor, src, c->id, invoice_id, c->amount, c->currency,
                             out->message, err);
        if (rc == 0)
            rc = pa_checkout_set(db, "paypal", order_id, "failed", keep_complete, NULL, err);
    } else {
        outcome(out, "ignored", "capture status '%s' needs nothing", c->status);
    }
out:
    json_decref(d);
    return rc;
}
