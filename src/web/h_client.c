/*
 * h_client.c — the pages a buyer comes back to from a gateway.
 *
 * GET /client/invoices/{id}?paid=stripe&session_id=… applies the Checkout
 * Session through the same path as the webhook (billing/checkout.c), so an
 * invoice is paid even when the webhook is late or lost; the page then says
 * what happened. The session id proves the buyer came from that checkout:
 * Lumi asks Stripe for the session and requires it to be for this invoice.
 * Without it the page shows nothing of the invoice (the client area, with its
 * login, renders the full invoice).
 */
#include "web/routes.h"

#include <stdio.h>
#include <string.h>

#include "billing/checkout.h"
#include "core/buf.h"
#include "core/str.h"
#include "web/gateways.h"

static const char *outcome_text(const char *result)
{
    if (str_eq(result, "paid") || str_eq(result, "duplicate"))
        return "Thank you: your payment was received and the invoice is paid.";
    if (str_eq(result, "pending"))
        return "Your payment is being processed; the invoice will be marked paid when it clears.";
    if (str_eq(result, "failed"))
        return "The payment did not go through. Nothing was charged; you can try again.";
    if (str_eq(result, "mismatch"))
        return "Your payment arrived but does not match the invoice; our staff will contact you.";
    return "The payment has not been completed yet.";
}

static void page(struct web_resp *resp, int status, const char *title, const char *text)
{
    char html[1024];
    int n = snprintf(html, sizeof html,
                     "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"
                     "<body><main><h1>%s</h1><p>%s</p></main></body></html>",
                     title, title, text);
    web_add_header(resp, "Cache-Control", "no-store");
    web_reply_text(resp, status, "text/html; charset=utf-8", html,
                   n > 0 && (size_t)n < sizeof html ? (size_t)n : 0);
}

void h_client_invoice(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct pay_outcome out;
    memset(&out, 0, sizeof out);
    int64_t id = web_param_id(req, "id");
    const char *paid = web_query(req, "paid");
    const char *session_id = web_query(req, "session_id");
    if (id == 0) {
        page(resp, 404, "Not found", "There is no such invoice.");
        return;
    }
    if (str_eq(paid, "stripe") && str_present(session_id)) {
        struct audit_actor actor = gateway_actor("stripe", req->client_ip, req->user_agent);
        if (checkout_stripe_return(req->db, gateways_ctx(), &actor, id, session_id, &out, &err) !=
            0) {
            page(resp, err.code == LUMI_EUPSTREAM || err.code == LUMI_EBUSY ? 502 : 400, "Payment",
                 "We could not confirm this payment with Stripe yet. If you paid, "
                 "the invoice will be updated shortly.");
            return;
        }
        page(resp, 200, "Payment", outcome_text(out.result));
        return;
    }
    if (str_eq(paid, "paypal")) {
        page(resp, 200, "Payment", outcome_text(web_query(req, "result")));
        return;
    }
    page(resp, 401, "Log in", "Log in to the client area to see this invoice.");
}
