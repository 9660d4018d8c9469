/*
 * h_stripe.c — /api/stripe/checkout and /api/stripe/webhook.
 *
 * The webhook is checked here (signature over the raw bytes, then the
 * envelope) and applied by billing/webhooks.c inside the server's group
 * commit, so a 2xx is only sent once the event row, its effect and its audit
 * rows are durable together. A bad signature or body is a 400 that touches
 * nothing; a delivery that cannot be applied yet (a refund for a payment not
 * recorded yet) is a 409, so Stripe delivers it again later.
 */
#include "web/api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/checkout.h"
#include "billing/webhooks.h"
#include "core/json.h"
#include "core/str.h"
#include "gateways/stripe.h"
#include "gateways/stripe_sig.h"
#include "web/auth.h"
#include "web/gateways.h"
#include "web/page.h"

/* The invoice id of a checkout request: JSON {invoice_id} or a form field. 0 = answered. */
int64_t checkout_invoice_id(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = 0;
    if (web_is_form(req)) {
        if (str_to_i64z(web_form_value(req, "invoice_id"), 1, INT64_MAX, &id) != 0) {
            web_reply_error(resp, 400, "invalid_request", "invoice_id must be a positive integer");
            return 0;
        }
        return id;
    }
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return 0;
    if (jsonx_take_int(body, "invoice_id", true, 1, INT64_MAX, &id, &err) < 0) {
        web_reply_err(resp, &err);
        id = 0;
    }
    json_decref(body);
    return id;
}

/*
 * {url, id_key: id} as JSON, or a 303 to url for a browser's form post. A
 * form post that fails on the buyer's own invoice (nothing due any more, the
 * gateway unreachable or not configured) goes back to the invoice page with
 * the reason, not to a JSON error; other refusals keep their status.
 */
void checkout_reply(struct web_req *req, struct web_resp *resp, int64_t invoice_id, json_t *started,
                    const struct lumi_err *err)
{
    bool own_invoice_trouble = err->code == LUMI_ECONFLICT || err->code == LUMI_EUPSTREAM ||
                               err->code == LUMI_EBUSY;
    if (started == NULL && web_is_form(req) && own_invoice_trouble) {
        char back[64];
        snprintf(back, sizeof back, "/client/invoices/%lld", (long long)invoice_id);
        page_redirect_flash(resp, back, "error",
                            err->msg[0] ? err->msg : "the payment could not start");
        return;
    }
    if (started == NULL) {
        web_reply_err(resp, err);
        return;
    }
    if (web_is_form(req)) {
        const char *url = json_string_value(json_object_get(started, "url"));
        web_redirect(resp, url != NULL ? url : "/");
        json_decref(started);
        return;
    }
    web_reply_json(resp, 200, started);
}

const char *payment_outcome_text(const char *result, const char **kind)
{
    if (str_eq(result, "paid") || str_eq(result, "duplicate")) {
        *kind = "ok";
        return "Thank you: your payment was received and the invoice is paid.";
    }
    if (str_eq(result, "pending")) {
        *kind = "warn";
        return "Your payment is being processed; the invoice will be marked paid when it clears.";
    }
    if (str_eq(result, "failed")) {
        *kind = "error";
        return "The payment did not go through. Nothing was charged; you can try again.";
    }
    if (str_eq(result, "mismatch")) {
        *kind = "error";
        return "Your payment arrived but does not match the invoice; our staff will contact you.";
    }
    *kind = "info";
    return "The payment has not been completed yet.";
}

void h_stripe_checkout(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t invoice_id = checkout_invoice_id(req, resp);
    if (invoice_id == 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *started = checkout_stripe_start(req->db, gateways_ctx(), &actor, invoice_id,
                                            auth_client_scope(req), &err);
    checkout_reply(req, resp, invoice_id, started, &err);
}

/* ---- webhook ---- */

/* Replies for a webhook outcome; returns what the group commit should do with the changes. */
int webhook_reply(struct web_resp *resp, int rc, const struct webhook_outcome *out,
                  const struct lumi_err *err)
{
    web_note_webhook(resp, NULL, rc != 0 ? "rejected" : out->status);
    if (rc != 0) {
        web_reply_err(resp, err);
        return rc;
    }
    if (str_eq(out->status, "retry")) {
        web_reply_error(resp, 409, "conflict", "%s", out->message);
        return LUMI_ECONFLICT;
    }
    json_t *body =
        json_pack("{s:b, s:s, s:s}", "received", 1, "status", out->status, "message", out->message);
    if (body != NULL && out->invoice_id > 0)
        json_object_set_new(body, "invoice_id", json_integer(out->invoice_id));
    web_reply_json(resp, 200, body);
    return 0;
}

static int stripe_apply_tx(struct db *db, void *arg, struct web_resp *resp)
{
    const struct webhook_delivery *d = arg;
    struct lumi_err err = {0};
    struct webhook_outcome out;
    memset(&out, 0, sizeof out);
    struct audit_actor actor = gateway_actor("stripe", d->ip, d->user_agent);
    int rc = webhooks_stripe_apply(db, &actor, d->event, d->raw, d->len, &out, &err);
    return webhook_reply(resp, rc, &out, &err);
}

void h_stripe_webhook(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    size_t nsecrets = 0;
    const char *const *secrets = gateways_stripe_secrets(&nsecrets);
    web_note_webhook(resp, "stripe", "rejected"); /* until it is applied */
    if (nsecrets == 0) {
        web_reply_error(resp, 503, "unavailable", "Stripe webhooks are not configured");
        return;
    }
    if (stripe_verify_signature(web_header(req, "Stripe-Signature"), req->body, req->body_len,
                                secrets, nsecrets, (int64_t)time(NULL), STRIPE_SIG_TOLERANCE_S,
                                &err) != 0) {
        web_reply_err(resp, &err);
        return;
    }
    json_t *ev = stripe_event_load(req->body, req->body_len, &err);
    struct stripe_event env;
    if (ev == NULL || stripe_event_parse(ev, &env, &err) != 0) {
        json_decref(ev);
        web_reply_error(resp, 400, "invalid_request", "%s", err.msg);
        return;
    }
    struct webhook_delivery *d = webhook_delivery_new(req, ev, NULL);
    if (d == NULL) {
        web_reply_error(resp, 500, "internal_error", "out of memory");
        return;
    }
    web_reply_after_commit(req, resp, stripe_apply_tx, d, webhook_delivery_free);
}
