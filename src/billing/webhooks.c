/*
 * webhooks.c — applies verified Stripe and PayPal events exactly once (see
 * webhooks.h); owns the SQL over `webhook_events`.
 *
 * Each apply runs in the caller's open transaction (the HTTP layer's group
 * commit, see db/batch.h) and never begins or commits one itself: the event
 * row, the money and the audit rows stand or fall together. A known event id
 * ends as "duplicate" with nothing done; otherwise the event is applied, then
 * its row is inserted with the outcome (ON CONFLICT DO NOTHING: a twin racing
 * on another connection that committed first turns this one into "retry",
 * rolled back and delivered again). Payments go through pay_apply.c, the
 * code the buyer's return uses too, so the webhook and the return path pay an
 * invoice once.
 *
 * Refunds and disputes are mapped back through the payment's reference (the
 * PaymentIntent id, the PayPal capture id). When that payment is not known
 * yet, deliveries may simply be out of order: within 3 days of the event the
 * outcome is "retry" (the caller rolls back and answers 409, the gateway
 * delivers again later); older ones are recorded as failed.
 *
 * Stripe's charge.refunded carries the CUMULATIVE amount_refunded. Each
 * recorded refund gets the reference "<charge id>:refunded:<cumulative>" and
 * the amount recorded is the cumulative minus what the refunds of that
 * charge recorded so far: a redelivery, or an older total arriving late,
 * records nothing.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/webhooks.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/pay_apply.h"
#include "billing/payments.h"
#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"

#define RETRY_WINDOW_S (3 * 86400) /* gateways retry for about 3 days */
#define EVENT_TYPE_MAX 120

static const char SQL_EVENT_SEEN[] =
    "SELECT id FROM webhook_events WHERE gateway = $1 AND event_id = $2";
static const char SQL_EVENT_INSERT[] =
    "INSERT INTO webhook_events (gateway, event_id, event_type, status, error, payload,"
    " received_at, processed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
    " ON CONFLICT (gateway, event_id) DO NOTHING RETURNING id";
static const char SQL_PAYMENT_OF[] =
    "SELECT invoice_id FROM transactions WHERE gateway = $1 AND kind = 'payment'"
    " AND gateway_ref = $2";
static const char SQL_STRIPE_REFUNDS[] =
    "SELECT gateway_ref, amount FROM transactions WHERE gateway = 'stripe' AND kind = 'refund'"
    " AND invoice_id = $1";
static const char SQL_LIST[] =
    "SELECT id, gateway, event_id, event_type, status, error, received_at, processed_at"
    " FROM webhook_events WHERE (CAST($1 AS TEXT) IS NULL OR gateway = $1)"
    " AND (CAST($2 AS TEXT) IS NULL OR status = $2) AND (CAST($3 AS BIGINT) = 0 OR id < $3)"
    " ORDER BY id DESC LIMIT $4";

static const char SQL_GET[] =
    "SELECT id, gateway, event_id, event_type, status, error, received_at, processed_at, payload"
    " FROM webhook_events WHERE id = $1";

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static void say(struct webhook_outcome *out, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct webhook_outcome *out, const char *status, const char *fmt, ...)
{
    va_list ap;
    str_copy(out->status, status, sizeof out->status);
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap); /* a cut message is fine */
    va_end(ap);
}

/* What a shared pay_outcome means for the event row. */
static void from_pay(struct webhook_outcome *out, const struct pay_outcome *po)
{
    const char *st = "processed";
    if (strcmp(po->result, "failed") == 0 || strcmp(po->result, "mismatch") == 0)
        st = "failed";
    else if (strcmp(po->result, "ignored") == 0)
        st = "ignored";
    say(out, st, "%s", po->message);
    out->invoice_id = po->invoice_id;
}

/* 1 when (gateway, event_id) is already in webhook_events, 0 when not, < 0 on error. */
static int event_seen(struct db *db, const char *gateway, const char *event_id,
                      struct lumi_err *err)
{
    const char *params[] = {gateway, event_id};
    int64_t id = 0;
    return db_query_int64_opt(db, SQL_EVENT_SEEN, 2, params, &id, err);
}

/*
 * Records the event with what it did, once the effect is written: the row
 * (with its ~3 KB body) is written once, not inserted and then updated. A
 * twin that committed since event_seen (another server on the same
 * PostgreSQL database) makes the insert do nothing: the outcome becomes
 * "retry", so the caller rolls this one back and the gateway's redelivery
 * finds the event recorded.
 */
/*
 * A verified event that could not be applied is audited as WEBHOOK_FAILED
 * (whatever else was audited about it), so that the admins hear of it
 * (notify.h) and the trail shows it beside the payments.
 */
static int audit_failed(struct db *db, const struct audit_actor *actor, int64_t row_id,
                        const char *gateway, const char *event_id, const char *type,
                        const char *why, struct lumi_err *err)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "gateway", gateway, "event_id", event_id,
                          "event_type", type, "error", why);
    if (d == NULL)
        return nomem(err);
    int rc = audit_append_id(db, actor, "WEBHOOK_FAILED", "webhook_event", row_id, d, err);
    json_decref(d);
    return rc < 0 ? rc : 0;
}

static int event_record(struct db *db, const struct audit_actor *actor, const char *gateway,
                        const char *event_id, const char *type,
                        const char *raw, size_t len, struct webhook_outcome *out,
                        struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    char *payload = NULL;
    struct db_stmt *st = NULL;
    int rc;
    if (strcmp(out->status, "retry") == 0)
        return 0; /* rolled back by the caller: nothing to record */
    payload = str_ndup(raw != NULL ? raw : "", raw != NULL ? len : 0);
    if (payload == NULL) {
        rc = nomem(err);
        goto out;
    }
    utc_now_iso(now);
    st = db_prepare(db, SQL_EVENT_INSERT, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    const char *error = strcmp(out->status, "processed") == 0 ? NULL : out->message;
    if (db_bind_text(st, 1, gateway) < 0 || db_bind_text(st, 2, event_id) < 0 ||
        db_bind_text(st, 3, type) < 0 || db_bind_text(st, 4, out->status) < 0 ||
        db_bind_text(st, 5, error) < 0 || db_bind_text(st, 6, payload) < 0 ||
        db_bind_text(st, 7, now) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_DONE) /* inserted by a twin meanwhile */
        say(out, "retry", "event %s is being applied by another request", event_id);
    int64_t row_id = rc == DB_ROW ? db_col_int64(st, 0) : 0;
    rc = rc < 0 ? rc : 0;
    db_finalize(st);
    st = NULL;
    if (rc == 0 && row_id > 0 && strcmp(out->status, "failed") == 0)
        rc = audit_failed(db, actor, row_id, gateway, event_id, type, out->message, err);
out:
    db_finalize(st);
    free(payload);
    return rc;
}

/* The invoice of a recorded payment (gateway, reference); 0 when unknown. */
static int payment_invoice(struct db *db, const char *gateway, const char *ref, int64_t *invoice_id,
                           struct lumi_err *err)
{
    const char *params[] = {gateway, ref};
    *invoice_id = 0;
    int rc = db_query_int64_opt(db, SQL_PAYMENT_OF, 2, params, invoice_id, err);
    return rc < 0 ? rc : 0;
}

/* A refund/dispute whose payment is unknown: retry while it may be early. */
static void unknown_payment(struct webhook_outcome *out, const char *what, const char *ref,
                            int64_t created)
{
    if (created > 0 && utc_now() - created <= RETRY_WINDOW_S)
        say(out, "retry", "%s for payment %s, which is not recorded yet", what, ref);
    else
        say(out, "failed", "%s for payment %s, which Lumi never recorded", what, ref);
}

/* Applies a refund / chargeback movement and describes it. */
static int move(struct db *db, const struct audit_actor *actor, const struct payment_in *p,
                struct webhook_outcome *out, struct lumi_err *err)
{
    struct payment_result res = {0};
    int rc = payments_apply(db, actor, p, &res, err);
    if (rc < 0)
        return rc;
    out->invoice_id = p->invoice_id;
    switch (res.outcome) {
    case PAYMENT_APPLIED:
        say(out, "processed", "%s %s of %" PRId64 " %s recorded; invoice %s", p->kind,
            p->gateway_ref, p->amount, p->currency, res.status);
        break;
    case PAYMENT_DUPLICATE:
        say(out, "processed", "%s %s was already recorded", p->kind, p->gateway_ref);
        break;
    case PAYMENT_MISMATCH:
        say(out, "failed", "%s", res.message);
        break;
    }
    return 0;
}

/* ---- Stripe --------------------------------------------------------------- */

/* The payment_intent of an object: a string id or an expanded object's id. */
static const char *pi_of(const json_t *obj)
{
    const json_t *pi = json_object_get(obj, "payment_intent");
    if (json_is_object(pi))
        pi = json_object_get(pi, "id");
    const char *s = json_string_value(pi);
    return s != NULL && s[0] != '\0' && strlen(s) < PA_ID_MAX ? s : NULL;
}

static int stripe_session_event(struct db *db, const struct audit_actor *actor,
                                const struct pa_src *src, const char *type, const json_t *obj,
                                struct webhook_outcome *out, struct lumi_err *err)
{
    static const char *const keep_complete[] = {"complete", NULL};
    struct pa_session s;
    struct pay_outcome po;
    int64_t changed = 0;
    int rc = pa_session_read(obj, &s, err);
    if (rc < 0) {
        err_clear(err);
        say(out, "failed", "data.object is not a checkout.session");
        return 0;
    }
    if (strcmp(type, "checkout.session.completed") == 0 ||
        strcmp(type, "checkout.session.async_payment_succeeded") == 0) {
        if (strcmp(type, "checkout.session.async_payment_succeeded") == 0 &&
            s.payment_status[0] == '\0')
            str_copy(s.payment_status, "paid", sizeof s.payment_status);
        rc = pa_stripe_session(db, actor, src, &s, &po, err);
        if (rc == 0)
            from_pay(out, &po);
        return rc;
    }
    if (s.invoice_raw[0] == '\0') {
        say(out, "ignored", "not a Lumi checkout (no metadata.invoice_id)");
        return 0;
    }
    out->invoice_id = s.invoice_id;
    if (strcmp(type, "checkout.session.expired") == 0) {
        rc = pa_checkout_set(db, "stripe", s.id, "expired", keep_complete, &changed, err);
        if (rc < 0)
            return rc;
        say(out, "processed",
            changed > 0 ? "checkout %s expired"
                        : "checkout %s is complete or not recorded: unchanged",
            s.id);
        return 0;
    }
    /* checkout.session.async_payment_failed */
    json_t *d = json_pack("{s:s, s:s?, s:s, s:s}", "gateway", "stripe", "event_id", src->event_id,
                          "session_id", s.id, "payment_intent", s.payment_intent);
    if (d == NULL)
        return nomem(err);
    struct pay_outcome chk;
    memset(&chk, 0, sizeof chk);
    rc = pa_invoice_check(db, actor, s.invoice_raw, s.invoice_id, d, &chk, err);
    json_decref(d);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        out->invoice_id = 0;
        from_pay(out, &chk);
        return 0;
    }
    say(out, "processed", "the asynchronous payment of checkout %s failed", s.id);
    rc = pa_audit_failed(db, actor, src, s.payment_intent[0] ? s.payment_intent : s.id,
                         s.invoice_id, s.amount_total, s.currency, out->message, err);
    if (rc == 0)
        rc = pa_checkout_set(db, "stripe", s.id, "failed", keep_complete, NULL, err);
    return rc;
}

static int stripe_intent_failed(struct db *db, const struct audit_actor *actor,
                                const struct pa_src *src, const json_t *pi,
                                struct webhook_outcome *out, struct lumi_err *err)
{
    char raw[64];
    int64_t invoice_id = 0, amount = -1;
    const json_t *inv = json_object_get(json_object_get(pi, "metadata"), "invoice_id");
    const char *id = json_string_value(json_object_get(pi, "id"));
    const char *currency = json_string_value(json_object_get(pi, "currency"));
    const char *msg =
        json_string_value(json_object_get(json_object_get(pi, "last_payment_error"), "message"));
    raw[0] = '\0';
    if (json_is_string(inv))
        str_copy(raw, json_string_value(inv), sizeof raw);
    else if (json_is_integer(inv))
        snprintf(raw, sizeof raw, "%" JSON_INTEGER_FORMAT, json_integer_value(inv));
    if (raw[0] == '\0') {
        say(out, "ignored", "not a Lumi checkout (no metadata.invoice_id)");
        return 0;
    }
    if (str_to_i64z(raw, 1, INT64_MAX, &invoice_id) < 0)
        invoice_id = 0;
    if (json_is_integer(json_object_get(pi, "amount")))
        amount = json_integer_value(json_object_get(pi, "amount"));
    json_t *d = json_pack("{s:s, s:s?, s:s?}", "gateway", "stripe", "event_id", src->event_id,
                          "payment_intent", id);
    if (d == NULL)
        return nomem(err);
    struct pay_outcome chk;
    memset(&chk, 0, sizeof chk);
    int rc = pa_invoice_check(db, actor, raw, invoice_id, d, &chk, err);
    json_decref(d);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        from_pay(out, &chk);
        return 0;
    }
    out->invoice_id = invoice_id;
    say(out, "processed", "payment failed: %s", msg != NULL ? msg : "no reason given");
    return pa_audit_failed(db, actor, src, id != NULL ? id : "", invoice_id, amount, currency,
                           msg != NULL ? msg : "no reason given", err);
}

/* Σ of the refunds already recorded for charge (references "<charge>:refunded:<n>"). */
static int refunded_so_far(struct db *db, int64_t invoice_id, const char *charge, int64_t *sum,
                           struct lumi_err *err)
{
    char prefix[PA_ID_MAX + 16];
    int rc;
    *sum = 0;
    snprintf(prefix, sizeof prefix, "%s:refunded:", charge);
    struct db_stmt *st = db_prepare(db, SQL_STRIPE_REFUNDS, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, invoice_id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (!str_starts_with(db_col_text(st, 0), prefix))
            continue;
        if (__builtin_add_overflow(*sum, db_col_int64(st, 1), sum)) {
            rc = err_set(err, LUMI_EINTERNAL, "refund total overflows");
            goto out;
        }
    }
out:
    db_finalize(st);
    return rc;
}

/* What a refund or a dispute says about the money going back (see money_back_of). */
struct money_back {
    const char *id, *pi, *currency;
    int64_t amount, invoice_id;
};

/*
 * Reads a charge (amount_key "amount_refunded") or a dispute ("amount"): its
 * id (shorter than id_max), payment_intent, currency and a positive amount,
 * and the invoice of that payment. 1 with *m filled; 0 when out already says
 * what happened (not Lumi's, unusable, or a payment not recorded yet); < 0 on
 * error.
 */
static int money_back_of(struct db *db, const json_t *obj, const char *what, const char *amount_key,
                         size_t id_max, const char *event_what, int64_t created,
                         struct money_back *m, struct webhook_outcome *out, struct lumi_err *err)
{
    const json_t *amount = json_object_get(obj, amount_key);
    m->id = json_string_value(json_object_get(obj, "id"));
    m->pi = pi_of(obj);
    m->currency = json_string_value(json_object_get(obj, "currency"));
    m->invoice_id = 0;
    if (m->pi == NULL || m->id == NULL || strlen(m->id) >= id_max) {
        say(out, "ignored", "not a Lumi payment (no payment_intent)");
        return 0;
    }
    if (!json_is_integer(amount) || json_integer_value(amount) <= 0 || m->currency == NULL ||
        !money_currency_valid(m->currency)) {
        say(out, "failed", "%s %s has no usable %s or currency", what, m->id, amount_key);
        return 0;
    }
    m->amount = json_integer_value(amount);
    int rc = payment_invoice(db, "stripe", m->pi, &m->invoice_id, err);
    if (rc < 0)
        return rc;
    if (m->invoice_id == 0) {
        unknown_payment(out, event_what, m->pi, created);
        return 0;
    }
    return 1;
}

static int stripe_refunded(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                           const json_t *ch, int64_t created, struct webhook_outcome *out,
                           struct lumi_err *err)
{
    struct money_back m;
    int64_t before = 0;
    char ref[PA_ID_MAX + 40];
    int rc = money_back_of(db, ch, "charge", "amount_refunded", PA_ID_MAX, "a refund", created, &m,
                           out, err);
    if (rc <= 0)
        return rc;
    int64_t cum = m.amount; /* Stripe's amount_refunded is cumulative */
    rc = refunded_so_far(db, m.invoice_id, m.id, &before, err);
    if (rc < 0)
        return rc;
    out->invoice_id = m.invoice_id;
    if (cum <= before) {
        say(out, "processed", "refunds of %s up to %" PRId64 " are already recorded", m.id, before);
        return 0;
    }
    snprintf(ref, sizeof ref, "%s:refunded:%" PRId64, m.id, cum);
    json_t *d =
        json_pack("{s:s, s:s?, s:s, s:s, s:I}", "gateway", "stripe", "event_id", src->event_id,
                  "payment_intent", m.pi, "charge", m.id, "amount_refunded", (json_int_t)cum);
    if (d == NULL)
        return nomem(err);
    struct payment_in p = {.kind = "refund",
                           .gateway = "stripe",
                           .gateway_ref = ref,
                           .amount = cum - before,
                           .currency = m.currency,
                           .invoice_id = m.invoice_id,
                           .details = d};
    rc = move(db, actor, &p, out, err);
    json_decref(d);
    return rc;
}

static int stripe_dispute(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                          const json_t *dp, int64_t created, struct webhook_outcome *out,
                          struct lumi_err *err)
{
    struct money_back m;
    int rc =
        money_back_of(db, dp, "dispute", "amount", SIZE_MAX, "a dispute", created, &m, out, err);
    if (rc <= 0)
        return rc;
    const char *reason = json_string_value(json_object_get(dp, "reason"));
    json_t *d = json_pack("{s:s, s:s?, s:s, s:s, s:s?}", "gateway", "stripe", "event_id",
                          src->event_id, "payment_intent", m.pi, "dispute", m.id, "reason", reason);
    if (d == NULL)
        return nomem(err);
    struct payment_in p = {.kind = "chargeback",
                           .gateway = "stripe",
                           .gateway_ref = m.id,
                           .amount = m.amount,
                           .currency = m.currency,
                           .invoice_id = m.invoice_id,
                           .details = d};
    rc = move(db, actor, &p, out, err);
    json_decref(d);
    return rc;
}

int webhooks_stripe_apply(struct db *db, const struct audit_actor *actor, const json_t *ev,
                          const char *raw, size_t len, struct webhook_outcome *out,
                          struct lumi_err *err)
{
    struct lumi_err local;
    struct webhook_outcome res;
    memset(&res, 0, sizeof res);
    int64_t created = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    const json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    const json_t *cr = json_object_get(ev, "created");
    if (id == NULL || id[0] == '\0' || strlen(id) >= PA_ID_MAX || type == NULL ||
        strlen(type) > EVENT_TYPE_MAX || !json_is_object(obj))
        return err_set(err, LUMI_EINVAL,
                       "not a Stripe event: id, type and data.object are required");
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "webhooks_stripe_apply needs an open transaction");
    if (json_is_integer(cr))
        created = json_integer_value(cr);
    rc = event_seen(db, "stripe", id, err);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        say(&res, "duplicate", "event %s was already received", id);
        goto out;
    }
    struct pa_src src = {"stripe", id};
    if (strncmp(type, "checkout.session.", 17) == 0 &&
        (strcmp(type + 17, "completed") == 0 || strcmp(type + 17, "async_payment_succeeded") == 0 ||
         strcmp(type + 17, "async_payment_failed") == 0 || strcmp(type + 17, "expired") == 0))
        rc = stripe_session_event(db, actor, &src, type, obj, &res, err);
    else if (strcmp(type, "payment_intent.payment_failed") == 0)
        rc = stripe_intent_failed(db, actor, &src, obj, &res, err);
    else if (strcmp(type, "charge.refunded") == 0)
        rc = stripe_refunded(db, actor, &src, obj, created, &res, err);
    else if (strcmp(type, "charge.dispute.created") == 0)
        rc = stripe_dispute(db, actor, &src, obj, created, &res, err);
    else
        say(&res, "ignored", "event type %s is not used by Lumi", type);
    if (rc < 0)
        return rc;
    rc = event_record(db, actor, "stripe", id, type, raw, len, &res, err);
    if (rc < 0)
        return rc;
out:
    if (out != NULL)
        *out = res;
    return 0;
}

/* ---- PayPal --------------------------------------------------------------- */

int webhooks_paypal_prepare(const struct pay_ctx *ctx, const json_t *ev, json_t **prepared,
                            struct lumi_err *err)
{
    struct lumi_err local;
    struct paypal_err perr;
    char key[PA_ID_MAX + 16];
    const char *type = json_string_value(json_object_get(ev, "event_type"));
    const char *order_id =
        json_string_value(json_object_get(json_object_get(ev, "resource"), "id"));
    if (err == NULL)
        err = &local;
    err_clear(err);
    *prepared = NULL;
    if (type == NULL || strcmp(type, "CHECKOUT.ORDER.APPROVED") != 0)
        return 0;
    if (ctx == NULL || ctx->paypal == NULL)
        return err_set(err, LUMI_EBUSY, "PayPal is not configured");
    if (order_id == NULL || order_id[0] == '\0' || strlen(order_id) >= PA_ID_MAX)
        return 0; /* nothing to capture: apply records the failure */
    /* the same request id as the buyer's return, so both capture once */
    snprintf(key, sizeof key, "lumi-capture-%s", order_id);
    memset(&perr, 0, sizeof perr);
    if (paypal_order_capture(ctx->paypal, order_id, key, prepared, &perr) == 0)
        return 0;
    if (perr.hc.http_status == 422) {
        *prepared = json_pack("{s:s, s:s}", "error", perr.hc.message, "issue", perr.issue);
        return *prepared != NULL ? 0 : nomem(err);
    }
    return err_set(err, LUMI_EUPSTREAM, "%s", perr.hc.message);
}

static int paypal_money_back(struct db *db, const struct audit_actor *actor,
                             const struct pa_src *src, const char *kind, const json_t *res_obj,
                             int64_t created, struct webhook_outcome *out, struct lumi_err *err)
{
    struct pa_capture r;
    int64_t invoice_id = 0;
    int rc = pa_capture_read(res_obj, &r, err);
    if (rc < 0) {
        err_clear(err);
        say(out, "failed", "resource is not a refund");
        return 0;
    }
    if (r.id[0] == '\0' || r.up_capture_id[0] == '\0') {
        say(out, "ignored", "not a Lumi payment (no refund id or capture link)");
        return 0;
    }
    if (r.amount <= 0 || !money_currency_valid(r.currency)) {
        say(out, "failed", "refund %s has no usable amount or currency", r.id);
        return 0;
    }
    rc = payment_invoice(db, "paypal", r.up_capture_id, &invoice_id, err);
    if (rc < 0)
        return rc;
    if (invoice_id == 0) {
        unknown_payment(out, strcmp(kind, "refund") == 0 ? "a refund" : "a reversal",
                        r.up_capture_id, created);
        return 0;
    }
    json_t *d = json_pack("{s:s, s:s?, s:s, s:s}", "gateway", "paypal", "event_id", src->event_id,
                          "capture_id", r.up_capture_id, "refund_id", r.id);
    if (d == NULL)
        return nomem(err);
    struct payment_in p = {.kind = kind,
                           .gateway = "paypal",
                           .gateway_ref = r.id,
                           .amount = r.amount,
                           .currency = r.currency,
                           .invoice_id = invoice_id,
                           .details = d};
    rc = move(db, actor, &p, out, err);
    json_decref(d);
    return rc;
}

static int paypal_approved(struct db *db, const struct audit_actor *actor, const struct pa_src *src,
                           const json_t *order, const json_t *prepared, struct webhook_outcome *out,
                           struct lumi_err *err)
{
    struct pa_capture c;
    struct pay_outcome po;
    const char *order_id = json_string_value(json_object_get(order, "id"));
    const char *captured_id = json_string_value(json_object_get(prepared, "id"));
    int rc = pa_checkout_invoice(db, "paypal", order_id, &out->invoice_id, err);
    if (rc < 0)
        return rc;
    if (prepared == NULL) {
        say(out, "failed", "the order %s was not captured", order_id != NULL ? order_id : "?");
        return 0;
    }
    if (json_object_get(prepared, "error") != NULL) {
        const char *e = json_string_value(json_object_get(prepared, "error"));
        const char *issue = json_string_value(json_object_get(prepared, "issue"));
        if (e == NULL)
            e = "unknown error";
        if (issue != NULL && issue[0] != '\0' && strstr(e, issue) == NULL)
            say(out, "failed", "capture failed: %s: %s", issue, e);
        else
            say(out, "failed", "capture failed: %s", e);
        return 0;
    }
    if (pa_capture_read(paypal_order_first_capture(prepared), &c, err) < 0) {
        err_clear(err);
        say(out, "failed", "the captured order has no capture");
        return 0;
    }
    rc = pa_paypal_capture(db, actor, src, &c, captured_id != NULL ? captured_id : order_id, &po,
                           err);
    if (rc == 0)
        from_pay(out, &po);
    return rc;
}

int webhooks_paypal_apply(struct db *db, const struct audit_actor *actor, const json_t *ev,
                          const char *raw, size_t len, const json_t *prepared,
                          struct webhook_outcome *out, struct lumi_err *err)
{
    struct lumi_err local;
    struct webhook_outcome res;
    memset(&res, 0, sizeof res);
    int64_t created = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "event_type"));
    const char *ct = json_string_value(json_object_get(ev, "create_time"));
    const json_t *obj = json_object_get(ev, "resource");
    if (id == NULL || id[0] == '\0' || strlen(id) >= PA_ID_MAX || type == NULL ||
        strlen(type) > EVENT_TYPE_MAX || !json_is_object(obj))
        return err_set(err, LUMI_EINVAL,
                       "not a PayPal event: id, event_type and resource are required");
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "webhooks_paypal_apply needs an open transaction");
    if (ct != NULL && utc_parse(ct, &created, NULL) < 0)
        created = 0;
    rc = event_seen(db, "paypal", id, err);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        say(&res, "duplicate", "event %s was already received", id);
        goto out;
    }
    struct pa_src src = {"paypal", id};
    rc = 0;
    if (strcmp(type, "PAYMENT.CAPTURE.COMPLETED") == 0 ||
        strcmp(type, "PAYMENT.CAPTURE.DENIED") == 0 ||
        strcmp(type, "PAYMENT.CAPTURE.DECLINED") == 0 ||
        strcmp(type, "PAYMENT.CAPTURE.PENDING") == 0) {
        struct pa_capture c;
        struct pay_outcome po;
        if (pa_capture_read(obj, &c, err) < 0) {
            err_clear(err);
            say(&res, "failed", "resource is not a capture");
        } else {
            /* the event type is authoritative for the state it announces */
            str_copy(c.status, type + strlen("PAYMENT.CAPTURE."), sizeof c.status);
            rc = pa_paypal_capture(db, actor, &src, &c, NULL, &po, err);
            if (rc == 0)
                from_pay(&res, &po);
        }
    } else if (strcmp(type, "PAYMENT.CAPTURE.REFUNDED") == 0) {
        rc = paypal_money_back(db, actor, &src, "refund", obj, created, &res, err);
    } else if (strcmp(type, "PAYMENT.CAPTURE.REVERSED") == 0) {
        rc = paypal_money_back(db, actor, &src, "chargeback", obj, created, &res, err);
    } else if (strcmp(type, "CHECKOUT.ORDER.APPROVED") == 0) {
        rc = paypal_approved(db, actor, &src, obj, prepared, &res, err);
    } else {
        say(&res, "ignored", "event type %s is not used by Lumi", type);
    }
    if (rc < 0)
        return rc;
    rc = event_record(db, actor, "paypal", id, type, raw, len, &res, err);
    if (rc < 0)
        return rc;
out:
    if (out != NULL)
        *out = res;
    return 0;
}

/* ---- listing -------------------------------------------------------------- */

/* The columns SQL_LIST and SQL_GET begin with, as webhooks_list answers them. */
static json_t *event_row(struct db_stmt *st)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s, s:s?}", "id",
                     (json_int_t)db_col_int64(st, 0), "gateway", db_col_text(st, 1), "event_id",
                     db_col_text(st, 2), "event_type", db_col_text(st, 3), "status",
                     db_col_text(st, 4), "error", db_col_text(st, 5), "received_at",
                     db_col_text(st, 6), "processed_at", db_col_text(st, 7));
}

json_t *webhooks_list(struct db *db, const char *gateway, const char *status, int64_t before_id,
                      int limit, int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *rows = json_array(), *result = NULL;
    struct db_stmt *st = NULL;
    int rc, n = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (next_cursor != NULL)
        *next_cursor = 0;
    if (limit < 1 || limit > 500)
        limit = 50;
    if (rows == NULL) {
        nomem(err);
        goto out;
    }
    st = db_prepare(db, SQL_LIST, err);
    if (st == NULL)
        goto out;
    if (db_bind_text(st, 1, gateway) < 0 || db_bind_text(st, 2, status) < 0 ||
        db_bind_int64(st, 3, before_id > 0 ? before_id : 0) < 0 ||
        db_bind_int64(st, 4, (int64_t)limit + 1) < 0) {
        err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (n == limit) {
            if (next_cursor != NULL)
                *next_cursor =
                    json_integer_value(json_object_get(json_array_get(rows, (size_t)n - 1), "id"));
            break;
        }
        json_t *row = event_row(st);
        if (row == NULL || json_array_append_new(rows, row) < 0) {
            nomem(err);
            goto out;
        }
        n++;
    }
    if (rc < 0)
        goto out;
    result = rows;
    rows = NULL;
out:
    db_finalize(st);
    json_decref(rows);
    return result;
}

json_t *webhooks_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *row = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    if (st == NULL)
        return NULL;
    if (db_bind_int64(st, 1, id) < 0) {
        err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    int rc = db_step(st, err);
    if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "webhook event %" PRId64 " not found", id);
    if (rc != DB_ROW)
        goto out;
    row = event_row(st);
    const char *payload = db_col_text(st, 8);
    if (row != NULL &&
        json_object_set_new(row, "payload", payload ? json_string(payload) : json_null()) < 0) {
        json_decref(row);
        row = NULL;
    }
    if (row == NULL)
        nomem(err);
out:
    db_finalize(st);
    return row;
}
