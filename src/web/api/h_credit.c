/*
 * h_credit.c — the credit balance over JSON (issue 14):
 *   GET|POST /api/admin/clients/{id}/credit      balances + ledger page / add or remove
 *   POST /api/admin/invoices/{id}/apply-credit   pay an invoice from its client's credit
 *   POST /api/client/invoices/{id}/apply-credit  the same for the caller's own invoice
 *   POST /api/client/credit/add-funds            an add-funds invoice to pay by a gateway
 *   GET  /api/client/credit                      the caller's balances and ledger
 *
 * Thin handlers over billing/credit.c and billing/credit_apply.c; the pages
 * (p_clients.c, the client area) call the same functions. A client's
 * request for another client's invoice answers 404 like a missing one.
 */
#include "web/api/api.h"

#include "billing/credit.h"
#include "billing/credit_apply.h"
#include "web/auth.h"

#define LEDGER_PAGE 50

static void reply_or_err(struct web_resp *resp, int status, json_t *value,
                         const struct lumi_err *err)
{
    if (value == NULL)
        web_reply_err(resp, err);
    else
        web_reply_json(resp, status, value);
}

/* ?before=ID pages the ledger towards older rows. */
static int64_t before_param(struct web_req *req, struct web_resp *resp, bool *bad)
{
    int64_t before = 0;
    *bad = web_query_id(req, resp, "before", &before) != 0;
    return before;
}

void h_admin_credit_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    bool bad = false;
    int64_t id = web_param_id(req, "id");
    int64_t before = before_param(req, resp, &bad);
    if (bad)
        return;
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "client not found");
        return;
    }
    reply_or_err(resp, 200, credit_get(req->db, id, before, LEDGER_PAGE, &err), &err);
}

void h_admin_credit_adjust(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "client not found");
        return;
    }
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *r = credit_admin_adjust(req->db, &actor, id, body, &err);
    json_decref(body);
    reply_or_err(resp, 200, r, &err);
}

void h_admin_invoices_apply_credit(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "invoice not found");
        return;
    }
    struct audit_actor actor = auth_actor(req);
    reply_or_err(resp, 200, credit_apply_invoice(req->db, &actor, id, 0, &err), &err);
}

/* The caller's client id, or 0 after answering 403 to staff. */
static int64_t client_or_403(struct web_req *req, struct web_resp *resp)
{
    int64_t me = auth_client_scope(req);
    if (me <= 0)
        web_reply_error(resp, 403, "forbidden",
                        "this is a client's own credit; staff use /api/admin/clients/{id}/credit");
    return me;
}

void h_client_invoices_apply_credit(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    if (me <= 0)
        return;
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "invoice not found");
        return;
    }
    struct audit_actor actor = auth_actor(req);
    reply_or_err(resp, 200, credit_apply_invoice(req->db, &actor, id, me, &err), &err);
}

void h_client_credit_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    bool bad = false;
    int64_t me = client_or_403(req, resp);
    if (me <= 0)
        return;
    int64_t before = before_param(req, resp, &bad);
    if (bad)
        return;
    reply_or_err(resp, 200, credit_get(req->db, me, before, LEDGER_PAGE, &err), &err);
}

void h_client_credit_add_funds(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    if (me <= 0)
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *inv = credit_add_funds(req->db, &actor, me, body, &err);
    json_decref(body);
    if (inv == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_created(resp, "/api/client/invoices", inv);
}
