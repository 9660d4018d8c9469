/*
 * h_products.c — /api/admin/products: list, create, get, update, delete,
 * through the one resource shape of crud.h over billing/products.c. They run
 * on a worker thread after the server has authenticated the caller as admin
 * or staff (WEB_AUTH_ADMIN), so auth_actor(req) names who to audit.
 */
#include "web/api/api.h"

#include "billing/products.h"
#include "web/api/crud.h"

static const struct api_resource PRODUCTS = {
    .what = "product",
    .location = "/api/admin/products",
    .page_max = PRODUCTS_PAGE_MAX,
    .list = products_list,
    .create = products_create,
    .get = products_get,
    .update = products_update,
    .remove = products_delete,
};

void h_products_list(struct web_req *req, struct web_resp *resp)
{
    api_crud_list(&PRODUCTS, req, resp);
}

void h_products_create(struct web_req *req, struct web_resp *resp)
{
    api_crud_create(&PRODUCTS, req, resp);
}

void h_products_get(struct web_req *req, struct web_resp *resp)
{
    api_crud_get(&PRODUCTS, req, resp);
}

void h_products_update(struct web_req *req, struct web_resp *resp)
{
    api_crud_update(&PRODUCTS, req, resp);
}

void h_products_delete(struct web_req *req, struct web_resp *resp)
{
    api_crud_delete(&PRODUCTS, req, resp);
}
