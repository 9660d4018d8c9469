/*
 * h_client_invoices.c — GET /api/client/invoices (the caller's invoices,
 * keyset paged like the admin list) and GET /api/client/invoices/{id}.
 *
 * WEB_AUTH_USER; a client sees only their own: another client's invoice
 * answers exactly the 404 of one that does not exist. Staff use
 * /api/admin/invoices and are refused here.
 */
#include "billing/invoices.h"
#include "billing/listing.h"
#include "web/api/api.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50

/* The caller's client id, or 0 after answering 403 to staff. */
static int64_t client_or_403(struct web_req *req, struct web_resp *resp)
{
    int64_t me = auth_client_scope(req);
    if (me <= 0)
        web_reply_error(resp, 403, "forbidden",
                        "these are a client's own invoices; staff use /api/admin/invoices");
    return me;
}

void h_client_invoices_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    int64_t me = client_or_403(req, resp);
    if (me <= 0 || web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = invoices_list_of(req->db, INVOICES_OF_CLIENT, me, after, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_client_invoices_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    if (me <= 0)
        return;
    int64_t id = web_param_id(req, "id");
    json_t *inv = id > 0 ? invoices_get(req->db, id, &err) : NULL;
    if (inv == NULL && id > 0 && err.code != LUMI_ENOTFOUND) {
        web_reply_err(resp, &err);
        return;
    }
    if (inv == NULL || json_integer_value(json_object_get(inv, "client_id")) != me) {
        json_decref(inv);
        web_reply_error(resp, 404, "not_found", "invoice not found");
        return;
    }
    web_reply_json(resp, 200, inv);
}
