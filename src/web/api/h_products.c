/*
 * h_products.c — /api/admin/products: list, create, get, update, delete.
 *
 * Thin handlers: read the request, call billing/products.c, answer. They run
 * on a worker thread with that worker's connection, after the server has
 * authenticated the caller as admin or staff (WEB_AUTH_ADMIN), so req->who is
 * filled and auth_actor(req) names who to audit.
 */
#include "web/api/api.h"

#include <inttypes.h>
#include <stdio.h>

#include "billing/products.h"
#include "core/str.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50

static void reply_not_found(struct web_resp *resp)
{
    web_reply_error(resp, 404, "not_found", "product not found");
}

void h_products_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    if (web_page_params(req, resp, PAGE_DEFAULT, PRODUCTS_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = products_list(req->db, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}

void h_products_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *product = products_create(req->db, &actor, body, &err);
    json_decref(body);
    if (product == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_created(resp, "/api/admin/products", product);
}

void h_products_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    json_t *product = products_get(req->db, id, &err);
    web_reply_result(resp, 200, product, &err);
}

void h_products_update(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    json_t *patch = web_json_body(req, resp);
    if (patch == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *product = products_update(req->db, &actor, id, patch, &err);
    json_decref(patch);
    web_reply_result(resp, 200, product, &err);
}

void h_products_delete(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    if (products_delete(req->db, &actor, id, &err) < 0) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_text(resp, 204, "application/json", "", 0);
}
