/*
 * h_paypal.c — /api/paypal/checkout, /api/paypal/capture, /api/paypal/webhook.
 *
 * The webhook is verified (PAYPAL_WEBHOOK_VERIFY: `api` asks PayPal, `local`
 * checks the RSA signature with the certificate, fetched only from allowed
 * hosts), then any network work the event needs (capturing an approved
 * order) is done before the transaction, and the event is applied by
 * billing/webhooks.c inside the group commit, answered 2xx once durable.
 */
#include "web/api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/checkout.h"
#include "billing/webhooks.h"
#include "core/config.h"
#include "core/json.h"
#include "core/str.h"
#include "gateways/paypal.h"
#include "gateways/paypal_sig.h"
#include "web/auth.h"
#include "web/gateways.h"
#include "web/page.h"

void h_paypal_checkout(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t invoice_id = checkout_invoice_id(req, resp);
    if (invoice_id == 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *started = checkout_paypal_start(req->db, gateways_ctx(), &actor, invoice_id,
                                            auth_client_scope(req), &err);
    checkout_reply(req, resp, invoice_id, started, &err);
}

/* The buyer is back from PayPal: capture, then show the invoice page with the outcome. */
void h_paypal_capture(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct pay_outcome out;
    memset(&out, 0, sizeof out);
    const char *order_id = web_query(req, "token");
    if (!str_present(order_id) || strlen(order_id) >= PAYPAL_ID_MAX) {
        web_reply_error(resp, 400, "invalid_request", "token (the PayPal order id) is required");
        return;
    }
    struct audit_actor actor = gateway_actor("paypal", web_client_ip(req), req->user_agent);
    if (checkout_paypal_capture(req->db, gateways_ctx(), &actor, order_id, &out, &err) != 0) {
        web_reply_err(resp, &err);
        return;
    }
    /* The outcome goes as a signed flash, the invoice page shows the invoice's
     * own status to its owner: nothing in the URL says "paid" (issue 17, finding 9). */
    char location[64];
    const char *kind = NULL;
    const char *text = payment_outcome_text(out.result, &kind);
    snprintf(location, sizeof location, "/client/invoices/%lld", (long long)out.invoice_id);
    page_redirect_flash(resp, location, kind, text);
}

/* ---- webhook ---- */

static int paypal_apply_tx(struct db *db, void *arg, struct web_resp *resp)
{
    const struct webhook_delivery *d = arg;
    struct lumi_err err = {0};
    struct webhook_outcome out;
    memset(&out, 0, sizeof out);
    struct audit_actor actor = gateway_actor("paypal", d->ip, d->user_agent);
    int rc = webhooks_paypal_apply(db, &actor, d->event, d->raw, d->len, d->prepared, &out, &err);
    return webhook_reply(resp, rc, &out, &err);
}

/* 0 when the delivery is PayPal's; otherwise answered. */
static int verify(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct paypal_sig_headers h = {
        .transmission_id = web_header(req, "PAYPAL-TRANSMISSION-ID"),
        .transmission_time = web_header(req, "PAYPAL-TRANSMISSION-TIME"),
        .cert_url = web_header(req, "PAYPAL-CERT-URL"),
        .auth_algo = web_header(req, "PAYPAL-AUTH-ALGO"),
        .transmission_sig = web_header(req, "PAYPAL-TRANSMISSION-SIG"),
    };
    if (!config_has("PAYPAL_WEBHOOK_ID")) {
        web_reply_error(resp, 503, "unavailable", "PayPal webhooks are not configured");
        return -1;
    }
    if (str_eq(config_str("PAYPAL_WEBHOOK_VERIFY"), "local")) {
        if (paypal_verify_local(&h, req->body, req->body_len, config_str("PAYPAL_WEBHOOK_ID"),
                                gateways_paypal_cert_hosts(), gateways_paypal_certs(), &err) != 0) {
            web_reply_err(resp, &err);
            return -1;
        }
        return 0;
    }
    struct paypal_client *pc = gateways_ctx()->paypal;
    if (pc == NULL) {
        web_reply_error(resp, 503, "unavailable", "PayPal is not configured");
        return -1;
    }
    struct paypal_err perr;
    memset(&perr, 0, sizeof perr);
    bool verified = false;
    if (paypal_verify_webhook_api(pc, &h, req->body, req->body_len, &verified, &perr) != 0) {
        if (perr.hc.cls == HC_INVALID && perr.hc.http_status == 0)
            web_reply_error(resp, 400, "invalid_request", "%s", perr.hc.message);
        else
            web_reply_error(resp, 502, "upstream_error", "%s", perr.hc.message);
        return -1;
    }
    if (!verified) {
        web_reply_error(resp, 400, "invalid_request",
                        "PayPal did not confirm the webhook signature");
        return -1;
    }
    return 0;
}

void h_paypal_webhook(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    web_note_webhook(resp, "paypal", "rejected"); /* until it is applied */
    if (verify(req, resp) != 0)
        return;
    json_t *ev = jsonx_parse_object(req->body, req->body_len, &err);
    if (ev == NULL) {
        web_reply_error(resp, 400, "invalid_request", "%s", err.msg);
        return;
    }
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "event_type"));
    if (!str_present(id) || !str_present(type) ||
        !json_is_object(json_object_get(ev, "resource"))) {
        json_decref(ev);
        web_reply_error(resp, 400, "invalid_request",
                        "not a PayPal event: id, event_type and resource are required");
        return;
    }
    json_t *prepared = NULL;
    if (webhooks_paypal_prepare(gateways_ctx(), ev, &prepared, &err) != 0) {
        json_decref(ev);
        web_reply_err(resp, &err);
        return;
    }
    struct webhook_delivery *d = webhook_delivery_new(req, ev, prepared);
    if (d == NULL) {
        web_reply_error(resp, 500, "internal_error", "out of memory");
        return;
    }
    web_reply_after_commit(req, resp, paypal_apply_tx, d, webhook_delivery_free);
}
