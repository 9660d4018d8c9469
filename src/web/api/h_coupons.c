/*
 * h_coupons.c — /api/admin/coupons (issue 14): list, create, get, update,
 * delete. Thin handlers over billing/coupons.c (the admin page p_coupons.c
 * calls the same functions); WEB_AUTH_ADMIN, audited as the caller.
 */
#include "web/api/api.h"

#include "billing/coupons.h"
#include "web/auth.h"

static int64_t id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "coupon not found");
    return id;
}

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
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *c = coupons_create(req->db, &actor, body, &err);
    json_decref(body);
    if (c == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_created(resp, "/api/admin/coupons", c);
}

void h_coupons_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    web_reply_result(resp, 200, coupons_get(req->db, id, &err), &err);
}

void h_coupons_update(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *c = coupons_update(req->db, &actor, id, body, &err);
    json_decref(body);
    web_reply_result(resp, 200, c, &err);
}

void h_coupons_delete(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (coupons_delete(req->db, &actor, id, &err) < 0) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_text(resp, 204, "application/json", "", 0);
}
