/*
 * p_credit.c — the client area's credit balance (issue 14): /client/credit
 * (balances, ledger, add funds) and the invoice page's "pay from credit"
 * button. The same domain functions as /api/client/credit… answer
 * (credit_get, credit_add_funds, credit_apply_invoice) with the client from
 * the session, so another client's invoice is a 404 here as there.
 * page_require_client checks the form's CSRF token. Runs on the request's
 * worker thread; no shared state.
 */
#include <inttypes.h>
#include <stdio.h>

#include "billing/credit.h"
#include "billing/credit_apply.h"
#include "core/money.h"
#include "core/str.h"
#include "web/auth.h"
#include "web/credit_view.h"
#include "web/page.h"
#include "web/client/pages_credit.h"

void p_client_credit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    char min[48], max[48];
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "credit";
    money_format(CREDIT_FUNDS_MIN, "usd", min, sizeof min);
    money_format(CREDIT_FUNDS_MAX, "usd", max, sizeof max);
    json_t *data = json_pack("{s:s, s:s, s:s}", "title", "Credit", "funds_min", min, "funds_max",
                             max);
    credit_view_client(req->db, auth_client_scope(req), data);
    page_render(req, resp, 200, &ctx, "client_credit.html", data);
}

void p_client_credit_add_funds(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char path[64], msg[LUMI_ERR_MSG_MAX + 32];
    int64_t minor = 0;
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "credit";
    const char *currency = web_form_value(req, "currency");
    const char *amount = web_form_value(req, "amount");
    if (!str_present(currency))
        currency = "usd";
    if (money_parse(amount != NULL ? amount : "", currency, &minor, &err) < 0) {
        snprintf(msg, sizeof msg, "field 'amount': %s", err.msg);
        page_redirect_flash(resp, "/client/credit", "error", msg);
        return;
    }
    json_t *body = json_pack("{s:I, s:s}", "amount", (json_int_t)minor, "currency", currency);
    struct audit_actor actor = auth_actor(req);
    json_t *inv =
        body != NULL ? credit_add_funds(req->db, &actor, auth_client_scope(req), body, &err) : NULL;
    json_decref(body);
    if (inv == NULL) {
        page_redirect_flash(resp, "/client/credit", "error", err.code ? err.msg : "out of memory");
        return;
    }
    snprintf(path, sizeof path, "/client/invoices/%" PRId64,
             (int64_t)json_integer_value(json_object_get(inv, "id")));
    json_decref(inv);
    page_redirect_flash(resp, path, "ok", "Pay this invoice and the amount goes to your credit.");
}

void p_client_invoice_apply_credit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char path[64];
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t id = page_id_or_404(req, resp, &ctx, "invoice not found");
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *inv = credit_apply_invoice(req->db, &actor, id, auth_client_scope(req), &err);
    if (inv == NULL && err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, "invoice not found");
        return;
    }
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, id);
    json_decref(inv);
    page_redirect_flash(resp, path, inv != NULL ? "ok" : "error",
                        inv != NULL ? "Your credit was applied to this invoice." : err.msg);
}
