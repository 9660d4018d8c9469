/*
 * h_webhooks.c — GET /api/admin/webhook-events: what the gateways delivered
 * and what Lumi did with each (status processed | ignored | failed, error).
 * Newest first, keyset paging, ?gateway= and ?status= filters.
 * GET /api/admin/webhook-events/{id}: one of them with the body as received.
 */
#include "web/api/api.h"

#include "billing/listing.h"
#include "billing/webhooks.h"

#define PAGE_DEFAULT 50

void h_webhook_events_list(struct web_req *req, struct web_resp *resp)
{
    static const char *const gateways[] = {"stripe", "paypal", NULL};
    static const char *const statuses[] = {"processed", "ignored", "failed", NULL};
    struct lumi_err err = {0};
    int limit = 0;
    int64_t before = 0, next = 0;
    const char *gateway = NULL, *status = NULL;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &before) != 0 ||
        web_query_enum(req, resp, "gateway", gateways, &gateway) != 0 ||
        web_query_enum(req, resp, "status", statuses, &status) != 0)
        return;
    json_t *rows = webhooks_list(req->db, gateway, status, before, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}

void h_webhook_events_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    json_t *ev = id > 0 ? webhooks_get(req->db, id, &err) : NULL;
    if (ev != NULL)
        web_reply_json(resp, 200, ev);
    else if (id <= 0)
        web_reply_error(resp, 404, "not_found", "webhook event not found");
    else
        web_reply_err(resp, &err);
}
