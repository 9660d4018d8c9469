/*
 * checkout.c — paying an invoice through Stripe Checkout or a PayPal order
 * (see checkout.h); owns the SQL that creates `checkouts` rows.
 *
 * Gateway calls are never made inside a database transaction (a slow
 * gateway must not hold SQLite's write lock or a PostgreSQL row lock): the
 * invoice is read first, the gateway is called, and what it answered is
 * then written in one short transaction. Applying an answer goes through
 * pay_apply.c, the code the webhooks use, with the same gateway reference,
 * so the return path and the webhook pay an invoice once between them.
 *
 * Idempotency: the Stripe Idempotency-Key and the PayPal-Request-Id are
 * "lumi-inv<id>-due<amount>-n<k>" with k = the checkouts already recorded
 * for that invoice and gateway — two clicks racing get the same session, and
 * the checkouts insert ignores the twin (ON CONFLICT DO NOTHING). An open
 * checkout of the same amount that is recent enough is answered again
 * without calling the gateway.
 *
 * The Stripe return (issue 17, finding 4): success_url carries a return
 * token (rt=EXPIRY.SIGNATURE, core/sign.h, bound to the invoice) so a buyer
 * whose session expired on Stripe's page is still recognised; the web layer
 * asks for it or the owner's session. Before Stripe is asked about a
 * session, the session must be one this invoice recorded, and an invoice's
 * returns are counted in rate_events (kind stripe_return, key the invoice
 * id): at most RETURN_MAX lookups a minute, each one attempt with a short
 * timeout (the webhook applies the payment anyway).
 *
 * Stateless; each call uses the caller's connection (one thread at a time).
 */
#include "billing/checkout.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/invoices.h"
#include "billing/pay_apply.h"
#include "core/json.h"
#include "core/sign.h"
#include "core/str.h"
#include "core/utc.h"

#define STRIPE_REUSE_S (12 * 3600) /* sessions live 24 h; leave the buyer time */
#define PAYPAL_REUSE_S (3 * 3600)  /* PayPal orders wait about 3 h for approval */
#define KEY_MAX 128
#define RETURN_TOKEN_S (48 * 3600) /* outlives the session (24 h) that may be reused for 12 h */
#define RETURN_WINDOW_S 60
#define RETURN_MAX 5           /* Stripe lookups per invoice per RETURN_WINDOW_S */
#define RETURN_TIMEOUT_MS 5000 /* one attempt; a worker is not held for the 3 × 20 s of a create */

static const char SQL_REUSABLE[] =
    "SELECT gateway_ref, url FROM checkouts WHERE invoice_id = $1 AND gateway = $2"
    " AND status = 'open' AND amount = $3 AND created_at > $4 AND url IS NOT NULL"
    " ORDER BY id DESC LIMIT 1";
static const char SQL_ATTEMPTS[] =
    "SELECT COUNT(*) FROM checkouts WHERE invoice_id = $1 AND gateway = $2";
static const char SQL_INSERT[] =
    "INSERT INTO checkouts (invoice_id, gateway, gateway_ref, url, status, amount, currency,"
    " created_at, updated_at) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7)"
    " ON CONFLICT (gateway, gateway_ref) DO NOTHING RETURNING id";
static const char SQL_EMAIL[] = "SELECT email FROM users WHERE id = $1";
static const char SQL_RECORDED[] = "SELECT COUNT(*) FROM checkouts WHERE gateway = 'stripe'"
                                   " AND gateway_ref = $1 AND invoice_id = $2";
static const char SQL_RETURN_COUNT[] = "SELECT COUNT(*) FROM rate_events WHERE kind = 'stripe_return'"
                                       " AND key = $1 AND at >= $2";
static const char SQL_RETURN_NOTE[] =
    "INSERT INTO rate_events (kind, key, at) VALUES ('stripe_return', $1, $2)";
static const char SQL_RETURN_PRUNE[] =
    "DELETE FROM rate_events WHERE kind = 'stripe_return' AND at < $1";

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

/* What a start needs from the invoice, read outside any transaction. */
struct due {
    json_t *inv; /* invoices_get (owned) */
    int64_t id, client_id, total, paid, due;
    const char *number, *currency, *status; /* borrowed from inv */
    char email[256];
};

static int load_due(struct db *db, int64_t invoice_id, int64_t client_id, struct due *d,
                    struct lumi_err *err)
{
    memset(d, 0, sizeof *d);
    d->inv = invoices_get(db, invoice_id, err);
    if (d->inv == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    d->id = invoice_id;
    d->client_id = json_integer_value(json_object_get(d->inv, "client_id"));
    d->total = json_integer_value(json_object_get(d->inv, "total"));
    d->paid = json_integer_value(json_object_get(d->inv, "amount_paid"));
    d->number = json_string_value(json_object_get(d->inv, "number"));
    d->currency = json_string_value(json_object_get(d->inv, "currency"));
    d->status = json_string_value(json_object_get(d->inv, "status"));
    if (client_id > 0 && d->client_id != client_id)
        return err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", invoice_id);
    if (d->number == NULL || d->currency == NULL || d->status == NULL)
        return err_set(err, LUMI_EINTERNAL, "invoice %" PRId64 " is malformed", invoice_id);
    d->due = d->total - d->paid;
    if ((strcmp(d->status, "unpaid") != 0 && strcmp(d->status, "partially_paid") != 0) ||
        d->due <= 0)
        return err_set(err, LUMI_ECONFLICT, "invoice %s is %s: nothing is due", d->number,
                       d->status);
    struct db_stmt *st = db_prepare(db, SQL_EMAIL, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, d->client_id) < 0
                 ? err_set(err, LUMI_EDB, "cannot bind a parameter")
                 : db_step(st, err);
    if (rc == DB_ROW)
        str_copy(d->email, db_col_text(st, 0), sizeof d->email);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static void due_free(struct due *d)
{
    json_decref(d->inv);
    d->inv = NULL;
}

/* 1 with ref/url of a recent open checkout of the same amount, 0 when none. */
static int find_reusable(struct db *db, const struct due *d, const char *gateway, int64_t max_age,
                         char *ref, size_t refsz, char *url, size_t urlsz, struct lumi_err *err)
{
    char since[UTC_ISO_LEN];
    int rc;
    if (utc_format(utc_now() - max_age, since) < 0)
        return err_set(err, LUMI_EINTERNAL, "the clock is out of range");
    struct db_stmt *st = db_prepare(db, SQL_REUSABLE, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_int64(st, 1, d->id) < 0 || db_bind_text(st, 2, gateway) < 0 ||
        db_bind_int64(st, 3, d->due) < 0 || db_bind_text(st, 4, since) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        str_copy(ref, db_col_text(st, 0), refsz);
        str_copy(url, db_col_text(st, 1), urlsz);
        rc = 1;
    }
out:
    db_finalize(st);
    return rc;
}

static int attempt_key(struct db *db, const struct due *d, const char *gateway, char *key,
                       size_t keysz, struct lumi_err *err)
{
    char id[24];
    int64_t k = 0;
    snprintf(id, sizeof id, "%" PRId64, d->id);
    const char *params[] = {id, gateway};
    int rc = db_query_int64(db, SQL_ATTEMPTS, 2, params, &k, err);
    if (rc < 0)
        return rc;
    snprintf(key, keysz, "lumi-inv%" PRId64 "-due%" PRId64 "-n%" PRId64, d->id, d->due, k);
    return 0;
}

/* Records the new checkout and audits it, in its own transaction. */
static int record(struct db *db, const struct audit_actor *actor, const struct due *d,
                  const char *gateway, const char *ref, const char *url, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    json_t *details = NULL;
    struct db_stmt *st = NULL;
    int64_t row = 0;
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    utc_now_iso(now);
    st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    if (db_bind_int64(st, 1, d->id) < 0 || db_bind_text(st, 2, gateway) < 0 ||
        db_bind_text(st, 3, ref) < 0 || db_bind_text(st, 4, url) < 0 ||
        db_bind_int64(st, 5, d->due) < 0 || db_bind_text(st, 6, d->currency) < 0 ||
        db_bind_text(st, 7, now) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc < 0)
        goto out;
    if (rc == DB_ROW)
        row = db_col_int64(st, 0);
    db_finalize(st);
    st = NULL;
    if (row > 0) { /* 0: a concurrent click recorded the same session first */
        details = json_pack("{s:s, s:s, s:I, s:s}", "gateway", gateway, "reference", ref, "amount",
                            (json_int_t)d->due, "currency", d->currency);
        if (details == NULL) {
            rc = nomem(err);
            goto out;
        }
        rc = audit_append_id(db, actor, "CHECKOUT_CREATED", "invoice", d->id, details, err);
        if (rc < 0)
            goto out;
    }
    rc = db_commit(db, err);
out:
    db_finalize(st);
    json_decref(details);
    if (rc < 0)
        db_rollback(db);
    return rc < 0 ? rc : 0;
}

/*
 * Tax (issue 14): the tax added on top of the lines (exclusive rules; an
 * inclusive tax is already inside them), and the name of that tax for a
 * gateway's line, from the invoice's taxes.
 */
static int64_t exclusive_tax(const struct due *d, const char **name)
{
    const json_t *t;
    size_t i;
    int64_t sum = 0;
    *name = NULL;
    json_array_foreach(json_object_get(d->inv, "taxes"), i, t)
    {
        if (json_is_true(json_object_get(t, "inclusive")))
            continue;
        int64_t a = json_integer_value(json_object_get(t, "amount"));
        if (a > 0 && *name == NULL)
            *name = json_string_value(json_object_get(t, "name"));
        if (__builtin_add_overflow(sum, a, &sum))
            return -1;
    }
    return sum;
}

/*
 * True when the invoice's items can be sent one per line (plus the tax as its
 * own line or PayPal's tax_total, tax > 0 taking one line more): nothing paid
 * yet, no negative line (gateways take none), a count the gateway accepts,
 * and their sum plus tax equal to what is due (so the gateway's total is
 * exactly what the payment must settle: the invoice's taxed total).
 */
static bool items_fit(const struct due *d, int64_t tax, size_t max_lines)
{
    const json_t *items = json_object_get(d->inv, "items");
    const json_t *it;
    size_t i;
    int64_t sum = 0, line;
    if (d->paid != 0 || tax < 0 || json_array_size(items) < 1 ||
        json_array_size(items) + (tax > 0) > max_lines)
        return false;
    json_array_foreach(items, i, it)
    {
        if (json_integer_value(json_object_get(it, "unit_amount")) < 0 ||
            __builtin_mul_overflow(json_integer_value(json_object_get(it, "unit_amount")),
                                   json_integer_value(json_object_get(it, "quantity")), &line) ||
            __builtin_add_overflow(sum, line, &sum))
            return false;
    }
    return !__builtin_add_overflow(sum, tax, &sum) && sum == d->due;
}

static json_t *answer(const char *url, const char *id_key, const char *id, struct lumi_err *err)
{
    json_t *res = json_pack("{s:s, s:s}", "url", url, id_key, id);
    if (res == NULL)
        nomem(err);
    return res;
}

/* ---- Stripe --------------------------------------------------------------- */

json_t *checkout_stripe_start(struct db *db, const struct pay_ctx *ctx,
                              const struct audit_actor *actor, int64_t invoice_id,
                              int64_t client_id, struct lumi_err *err)
{
    struct lumi_err local;
    struct due d = {0};
    struct stripe_line *lines = NULL;
    struct hc_error hc = {0};
    json_t *session = NULL, *result = NULL;
    char ref[PA_ID_MAX], url[2048], key[KEY_MAX], success[1024], cancel[1024], balance[160];
    size_t nlines = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (ctx == NULL || ctx->stripe == NULL) {
        err_set(err, LUMI_EBUSY, "Stripe is not configured");
        goto out;
    }
    if (load_due(db, invoice_id, client_id, &d, err) < 0)
        goto out;
    rc = find_reusable(db, &d, "stripe", STRIPE_REUSE_S, ref, sizeof ref, url, sizeof url, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        result = answer(url, "session_id", ref, err);
        goto out;
    }
    if (attempt_key(db, &d, "stripe", key, sizeof key, err) < 0)
        goto out;
    const json_t *items = json_object_get(d.inv, "items");
    size_t nitems = json_array_size(items);
    const char *tax_name = NULL;
    int64_t tax = exclusive_tax(&d, &tax_name);
    lines = calloc(nitems + 1, sizeof *lines);
    if (lines == NULL) {
        nomem(err);
        goto out;
    }
    if (items_fit(&d, tax, STRIPE_MAX_LINE_ITEMS)) {
        size_t i;
        const json_t *it;
        json_array_foreach(items, i, it)
        {
            lines[i].name = json_string_value(json_object_get(it, "description"));
            lines[i].unit_amount = json_integer_value(json_object_get(it, "unit_amount"));
            lines[i].quantity = json_integer_value(json_object_get(it, "quantity"));
        }
        nlines = nitems;
        /* The tax as a line of its own: the session's amount_total is the invoice's total. */
        if (tax > 0)
            lines[nlines++] = (struct stripe_line){tax_name != NULL ? tax_name : "Tax", tax, 1};
    } else {
        snprintf(balance, sizeof balance, "Balance of %s", d.number);
        lines[0] = (struct stripe_line){balance, d.due, 1};
        nlines = 1;
    }
    char token[CHECKOUT_RETURN_TOKEN_MAX];
    if (checkout_return_token(d.id, utc_now(), token) != 0) {
        err_set(err, LUMI_EINTERNAL, "cannot sign the return URL (LUMI_SECRET_KEY)");
        goto out;
    }
    if (snprintf(success, sizeof success,
                 "%s/client/invoices/%" PRId64
                 "?paid=stripe&rt=%s&session_id={CHECKOUT_SESSION_ID}",
                 ctx->base_url, d.id, token) >= (int)sizeof success ||
        snprintf(cancel, sizeof cancel, "%s/client/invoices/%" PRId64, ctx->base_url, d.id) >=
            (int)sizeof cancel) {
        err_set(err, LUMI_EINVAL, "LUMI_BASE_URL is too long");
        goto out;
    }
    struct stripe_checkout_in in = {.currency = d.currency,
                                    .lines = lines,
                                    .nlines = nlines,
                                    .success_url = success,
                                    .cancel_url = cancel,
                                    .client_reference_id = d.number,
                                    .invoice_id = d.id,
                                    .customer_email = d.email[0] != '\0' ? d.email : NULL,
                                    .idempotency_key = key};
    if (stripe_checkout_create(ctx->stripe, &in, &session, &hc) != 0) {
        err_set(err, LUMI_EUPSTREAM, "%s", hc.message);
        goto out;
    }
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *surl = json_string_value(json_object_get(session, "url"));
    if (sid == NULL || surl == NULL || strlen(sid) >= PA_ID_MAX) {
        err_set(err, LUMI_EUPSTREAM, "Stripe answered a session without id or url");
        goto out;
    }
    if (record(db, actor, &d, "stripe", sid, surl, err) < 0)
        goto out;
    result = answer(surl, "session_id", sid, err);
out:
    free(lines);
    json_decref(session);
    due_free(&d);
    return result;
}

/* ---- the Stripe return (issue 17, finding 4) ------------------------------- */

static void return_text(int64_t invoice_id, int64_t expiry, char *out, size_t outsz)
{
    snprintf(out, outsz, "%" PRId64 ".%" PRId64, invoice_id, expiry);
}

int checkout_return_token(int64_t invoice_id, int64_t now, char out[CHECKOUT_RETURN_TOKEN_MAX])
{
    char text[48], sig[SIGN_HEX_LEN];
    int64_t expiry = now + RETURN_TOKEN_S;
    return_text(invoice_id, expiry, text, sizeof text);
    if (sign_hex("stripe-return", text, sig) != 0)
        return LUMI_EINVAL;
    snprintf(out, CHECKOUT_RETURN_TOKEN_MAX, "%" PRId64 ".%s", expiry, sig);
    return 0;
}

bool checkout_return_token_ok(int64_t invoice_id, const char *token, int64_t now)
{
    char text[48];
    int64_t expiry = 0;
    const char *dot = token != NULL ? strchr(token, '.') : NULL;
    if (dot == NULL || (size_t)(dot - token) >= 20)
        return false;
    char num[24];
    memcpy(num, token, (size_t)(dot - token));
    num[dot - token] = '\0';
    if (str_to_i64z(num, 1, INT64_MAX, &expiry) != 0 || expiry < now)
        return false;
    return_text(invoice_id, expiry, text, sizeof text);
    return sign_check("stripe-return", text, dot + 1);
}

/* 0 when session_id is a checkout this invoice recorded and its lookups are
 * within the limit (noting this one); else LUMI_ENOTFOUND / LUMI_ETHROTTLED. */
static int return_admit(struct db *db, int64_t invoice_id, const char *session_id,
                        struct lumi_err *err)
{
    char id[24], since[UTC_ISO_LEN], now[UTC_ISO_LEN];
    int64_t n = 0, t = utc_now();
    snprintf(id, sizeof id, "%" PRId64, invoice_id);
    const char *r[] = {session_id, id};
    int rc = db_query_int64(db, SQL_RECORDED, 2, r, &n, err);
    if (rc != 0)
        return rc;
    if (n == 0)
        return err_set(err, LUMI_ENOTFOUND, "no such checkout session for invoice %s", id);
    utc_format(t - RETURN_WINDOW_S, since);
    utc_format(t, now);
    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    const char *c[] = {id, since};
    rc = db_query_int64(db, SQL_RETURN_COUNT, 2, c, &n, err);
    if (rc == 0 && n >= RETURN_MAX)
        rc = err_set(err, LUMI_ETHROTTLED, "too many payment checks for this invoice; try again "
                                           "in a minute");
    const char *w[] = {id, now};
    if (rc == 0)
        rc = db_execp(db, SQL_RETURN_NOTE, 2, w, NULL, err);
    const char *old[] = {since}; /* this kind's rows older than the window count no more */
    if (rc == 0)
        rc = db_execp(db, SQL_RETURN_PRUNE, 1, old, NULL, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

int checkout_stripe_return(struct db *db, const struct pay_ctx *ctx,
                           const struct audit_actor *actor, int64_t invoice_id,
                           const char *session_id, struct pay_outcome *out, struct lumi_err *err)
{
    struct lumi_err local;
    struct hc_error hc = {0};
    struct pa_session s;
    struct pay_outcome po;
    json_t *session = NULL;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&po, 0, sizeof po);
    if (ctx == NULL || ctx->stripe == NULL) {
        rc = err_set(err, LUMI_EBUSY, "Stripe is not configured");
        goto out;
    }
    if (session_id == NULL || session_id[0] == '\0' || strlen(session_id) >= PA_ID_MAX) {
        rc = err_set(err, LUMI_EINVAL, "session_id is required");
        goto out;
    }
    rc = return_admit(db, invoice_id, session_id, err);
    if (rc < 0)
        goto out;
    struct stripe_conf quick = *ctx->stripe;
    quick.timeout_ms = RETURN_TIMEOUT_MS;
    quick.max_attempts = 1;
    if (stripe_checkout_retrieve(&quick, session_id, &session, &hc) != 0) {
        rc =
            err_set(err, hc.http_status == 404 ? LUMI_ENOTFOUND : LUMI_EUPSTREAM, "%s", hc.message);
        goto out;
    }
    rc = pa_session_read(session, &s, err);
    if (rc < 0)
        goto out;
    if (s.invoice_id != invoice_id) {
        rc = err_set(err, LUMI_EINVAL, "the checkout session is not for invoice %" PRId64,
                     invoice_id);
        goto out;
    }
    rc = db_begin(db, err);
    if (rc < 0)
        goto out;
    struct pa_src src = {"stripe", NULL};
    rc = pa_stripe_session(db, actor, &src, &s, &po, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc < 0)
        db_rollback(db);
out:
    json_decref(session);
    if (rc == 0 && out != NULL)
        *out = po;
    return rc < 0 ? rc : 0;
}

/* ---- PayPal --------------------------------------------------------------- */

json_t *checkout_paypal_start(struct db *db, const struct pay_ctx *ctx,
                              const struct audit_actor *actor, int64_t invoice_id,
                              int64_t client_id, struct lumi_err *err)
{
    struct lumi_err local;
    struct due d = {0};
    struct paypal_item *items = NULL;
    struct paypal_err perr;
    json_t *order = NULL, *result = NULL;
    char ref[PA_ID_MAX], url[2048], key[KEY_MAX], ret[1024], cancel[1024], balance[160];
    size_t n = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&perr, 0, sizeof perr);
    if (ctx == NULL || ctx->paypal == NULL) {
        err_set(err, LUMI_EBUSY, "PayPal is not configured");
        goto out;
    }
    if (load_due(db, invoice_id, client_id, &d, err) < 0)
        goto out;
    rc = find_reusable(db, &d, "paypal", PAYPAL_REUSE_S, ref, sizeof ref, url, sizeof url, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        result = answer(url, "order_id", ref, err);
        goto out;
    }
    if (attempt_key(db, &d, "paypal", key, sizeof key, err) < 0)
        goto out;
    const json_t *jitems = json_object_get(d.inv, "items");
    size_t nitems = json_array_size(jitems);
    items = calloc(nitems > 0 ? nitems : 1, sizeof *items);
    if (items == NULL) {
        nomem(err);
        goto out;
    }
    const char *tax_name = NULL;
    int64_t tax = exclusive_tax(&d, &tax_name), tax_total = 0;
    if (items_fit(&d, tax, 100)) {
        size_t i;
        const json_t *it;
        json_array_foreach(jitems, i, it)
        {
            items[i].name = json_string_value(json_object_get(it, "description"));
            items[i].unit_amount = json_integer_value(json_object_get(it, "unit_amount"));
            items[i].quantity = json_integer_value(json_object_get(it, "quantity"));
        }
        n = nitems;
        tax_total = tax; /* breakdown {item_total, tax_total}: value = the invoice's total */
    } else {
        snprintf(balance, sizeof balance, "Balance of %s", d.number);
        items[0] = (struct paypal_item){balance, d.due, 1};
        n = 1;
    }
    if (snprintf(ret, sizeof ret, "%s/api/paypal/capture", ctx->base_url) >= (int)sizeof ret ||
        snprintf(cancel, sizeof cancel, "%s/client/invoices/%" PRId64, ctx->base_url, d.id) >=
            (int)sizeof cancel) {
        err_set(err, LUMI_EINVAL, "LUMI_BASE_URL is too long");
        goto out;
    }
    struct paypal_order_in in = {.currency = d.currency,
                                 .items = items,
                                 .nitems = n,
                                 .tax_total = tax_total,
                                 .invoice_number = d.number,
                                 .invoice_id = d.id,
                                 .return_url = ret,
                                 .cancel_url = cancel,
                                 .request_id = key};
    if (paypal_order_create(ctx->paypal, &in, &order, &perr) != 0) {
        err_set(err, LUMI_EUPSTREAM, "%s", perr.hc.message);
        goto out;
    }
    const char *oid = json_string_value(json_object_get(order, "id"));
    const char *ourl = paypal_order_payer_url(order);
    if (oid == NULL || ourl == NULL || strlen(oid) >= PA_ID_MAX) {
        err_set(err, LUMI_EUPSTREAM, "PayPal answered an order without id or buyer link");
        goto out;
    }
    if (record(db, actor, &d, "paypal", oid, ourl, err) < 0)
        goto out;
    result = answer(ourl, "order_id", oid, err);
out:
    free(items);
    json_decref(order);
    due_free(&d);
    return result;
}

/* Captures order_id: 0 with *order, 1 with a PayPal refusal in perr (a 422), < 0 otherwise. */
static int capture(struct paypal_client *pc, const char *order_id, json_t **order,
                   struct paypal_err *perr, struct lumi_err *err)
{
    char key[KEY_MAX];
    if (snprintf(key, sizeof key, "lumi-capture-%s", order_id) >= (int)sizeof key)
        return err_set(err, LUMI_EINVAL, "the order id is too long");
    if (paypal_order_capture(pc, order_id, key, order, perr) == 0)
        return 0;
    if (perr->hc.http_status == 422)
        return 1;
    return err_set(err, LUMI_EUPSTREAM, "%s", perr->hc.message);
}

/* A capture PayPal refused for the payer's instrument is a failed payment the
 * admin should see (not an order the buyer simply has not approved yet). */
static int audit_declined(struct db *db, const struct audit_actor *actor, const char *order_id,
                          int64_t invoice_id, const struct paypal_err *perr, struct lumi_err *err)
{
    if (str_eq(perr->issue, "ORDER_NOT_APPROVED"))
        return 0;
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    struct pa_src src = {"paypal", NULL};
    rc = pa_audit_failed(db, actor, &src, order_id, invoice_id, -1, NULL, perr->hc.message, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc < 0)
        db_rollback(db);
    return rc;
}

int checkout_paypal_capture(struct db *db, const struct pay_ctx *ctx,
                            const struct audit_actor *actor, const char *order_id,
                            struct pay_outcome *out, struct lumi_err *err)
{
    struct lumi_err local;
    struct paypal_err perr;
    struct pay_outcome po;
    struct pa_capture c;
    json_t *order = NULL;
    int64_t invoice_id = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&po, 0, sizeof po);
    memset(&perr, 0, sizeof perr);
    if (order_id == NULL || order_id[0] == '\0' || strlen(order_id) >= PA_ID_MAX) {
        rc = err_set(err, LUMI_EINVAL, "token (the order id) is required");
        goto out;
    }
    rc = pa_checkout_invoice(db, "paypal", order_id, &invoice_id, err);
    if (rc < 0)
        goto out;
    if (invoice_id == 0) {
        rc = err_set(err, LUMI_ENOTFOUND, "no checkout for order %s", order_id);
        goto out;
    }
    po.invoice_id = invoice_id;
    if (ctx == NULL || ctx->paypal == NULL) {
        rc = err_set(err, LUMI_EBUSY, "PayPal is not configured");
        goto out;
    }
    rc = capture(ctx->paypal, order_id, &order, &perr, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        /* the buyer did not approve, or the instrument was declined: they can try again */
        str_copy(po.result, "failed", sizeof po.result);
        str_copy(po.message, perr.hc.message, sizeof po.message);
        rc = audit_declined(db, actor, order_id, invoice_id, &perr, err);
        if (rc < 0)
            goto out;
        json_t *inv = invoices_get(db, invoice_id, NULL);
        str_copy(po.invoice_status,
                 inv != NULL ? json_string_value(json_object_get(inv, "status")) : "",
                 sizeof po.invoice_status);
        json_decref(inv);
        rc = 0;
        goto out;
    }
    rc = pa_capture_read(paypal_order_first_capture(order), &c, err);
    if (rc < 0) {
        rc = err_set(err, LUMI_EUPSTREAM, "PayPal answered a capture without a capture");
        goto out;
    }
    rc = db_begin(db, err);
    if (rc < 0)
        goto out;
    struct pa_src src = {"paypal", NULL};
    rc = pa_paypal_capture(db, actor, &src, &c, order_id, &po, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc < 0)
        db_rollback(db);
    if (po.invoice_id == 0)
        po.invoice_id = invoice_id;
out:
    json_decref(order);
    if (rc == 0 && out != NULL)
        *out = po;
    else if (out != NULL)
        out->invoice_id = invoice_id;
    return rc < 0 ? rc : 0;
}
