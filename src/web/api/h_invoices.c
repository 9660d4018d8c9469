/*
 * h_invoices.c — /api/admin/invoices: list, create, get (with items and
 * transactions), manual payment, cancel.
 *
 * Thin handlers: read the request, call billing/invoices.c and
 * billing/payments.c, answer. They run on a worker thread with that worker's
 * connection, after the server has authenticated the caller as admin or staff
 * (WEB_AUTH_ADMIN), so auth_actor(req) names who to audit and from which IP.
 */
#include "web/api/api.h"

#include <inttypes.h>
#include <stdio.h>

#include "billing/invoices.h"
#include "billing/listing.h"
#include "billing/payments.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50

static void reply_not_found(struct web_resp *resp)
{
    web_reply_error(resp, 404, "not_found", "invoice not found");
}

void h_invoices_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    int64_t client_id = 0, service_id = 0;
    const char *status = NULL;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &after) != 0 ||
        web_query_enum(req, resp, "status", INVOICE_STATUSES, &status) != 0 ||
        web_query_id(req, resp, "client_id", &client_id) != 0 ||
        web_query_id(req, resp, "service_id", &service_id) != 0)
        return;
    if ((status != NULL) + (client_id > 0) + (service_id > 0) > 1) {
        web_reply_error(resp, 400, "invalid_request",
                        "use one of status, client_id and service_id at a time");
        return;
    }
    json_t *rows =
        client_id > 0    ? invoices_list_of(req->db, INVOICES_OF_CLIENT, client_id, after, limit,
                                            &next, &err)
        : service_id > 0 ? invoices_list_of(req->db, INVOICES_OF_SERVICE, service_id, after, limit,
                                            &next, &err)
                         : invoices_list(req->db, status, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}

void h_invoices_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *invoice = invoices_create_json(req->db, &actor, body, &err);
    json_decref(body);
    if (invoice == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_created(resp, "/api/admin/invoices", invoice);
}

void h_invoices_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    json_t *invoice = invoices_get(req->db, id, &err);
    if (invoice == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    json_t *txs = payments_list_for_invoice(req->db, id, &err);
    if (txs == NULL || json_object_set_new(invoice, "transactions", txs) < 0) {
        json_decref(invoice);
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200, invoice);
}

void h_invoices_pay(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *invoice = payments_manual(req->db, &actor, id, body, &err);
    json_decref(body);
    web_reply_result(resp, 200, invoice, &err);
}

void h_invoices_cancel(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    if (invoices_cancel(req->db, &actor, id, &err) < 0) {
        web_reply_err(resp, &err);
        return;
    }
    json_t *invoice = invoices_get(req->db, id, &err);
    web_reply_result(resp, 200, invoice, &err);
}
