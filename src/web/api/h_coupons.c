/*
 * h_coupons.c — /api/admin/coupons (issue 14): list, create, get, update,
 * delete over billing/coupons.c (the admin page p_coupons.c calls the same
 * functions); WEB_AUTH_ADMIN, audited as the caller. All but the list (one
 * page of every coupon, no cursor) take the one resource shape of crud.h.
 */
#include "web/api/api.h"

#include "billing/coupons.h"
#include "web/api/crud.h"

static const struct api_resource COUPONS = {
    .what = "coupon",
    .location = "/api/admin/coupons",
    .create = coupons_create,
    .get = coupons_get,
    .update = coupons_update,
    .remove = coupons_delete,
};

void h_coupons_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *rows = coupons_list(req->db, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, 0);
}

void h_coupons_create(struct web_req *req, struct web_resp *resp)
{
    api_crud_create(&COUPONS, req, resp);
}

void h_coupons_get(struct web_req *req, struct web_resp *resp)
{
    api_crud_get(&COUPONS, req, resp);
}

void h_coupons_update(struct web_req *req, struct web_resp *resp)
{
    api_crud_update(&COUPONS, req, resp);
}

void h_coupons_delete(struct web_req *req, struct web_resp *resp)
{
    api_crud_delete(&COUPONS, req, resp);
}
