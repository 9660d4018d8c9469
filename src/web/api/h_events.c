/*
 * h_events.c — /api/admin/webhook-endpoints (outgoing events, issue 16):
 * list, create (answers the secret once), get, update, delete through the
 * one resource shape of crud.h over events/endpoints.c, plus the delivery
 * log and the test event. Thin handlers on the request's worker thread.
 */
#include "web/api/h_events.h"

#include "events/endpoints.h"
#include "web/api/crud.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200

static const struct api_resource ENDPOINTS = {
    .what = "webhook endpoint",
    .location = "/api/admin/webhook-endpoints",
    .page_max = PAGE_MAX,
    .list = webhook_endpoints_list,
    .create = webhook_endpoints_create,
    .get = webhook_endpoints_get,
    .update = webhook_endpoints_update,
    .remove = webhook_endpoints_delete,
};

void h_webhook_endpoints_list(struct web_req *req, struct web_resp *resp)
{
    api_crud_list(&ENDPOINTS, req, resp);
}

void h_webhook_endpoints_create(struct web_req *req, struct web_resp *resp)
{
    api_crud_create(&ENDPOINTS, req, resp);
}

void h_webhook_endpoints_get(struct web_req *req, struct web_resp *resp)
{
    api_crud_get(&ENDPOINTS, req, resp);
}

void h_webhook_endpoints_update(struct web_req *req, struct web_resp *resp)
{
    api_crud_update(&ENDPOINTS, req, resp);
}

void h_webhook_endpoints_delete(struct web_req *req, struct web_resp *resp)
{
    api_crud_delete(&ENDPOINTS, req, resp);
}

static int64_t id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "webhook endpoint not found");
    return id;
}

void h_webhook_endpoints_deliveries(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t before = 0, next = 0;
    int64_t id = id_or_404(req, resp);
    if (id <= 0 || web_page_params(req, resp, PAGE_DEFAULT, PAGE_MAX, &limit, &before) != 0)
        return;
    json_t *rows = webhook_deliveries_list(req->db, id, before, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_webhook_endpoints_test(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *d = webhook_endpoints_test(req->db, &actor, id, &err);
    if (d == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 202, d);
}
