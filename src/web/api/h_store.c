/*
 * h_store.c — GET /api/store/products: the public store's catalogue (no
 * authentication), as products_store_list answers it: visible, active
 * products grouped, with their prices and whether they are in stock; never
 * config, servers or other internals.
 */
#include "billing/products.h"
#include "web/api/api.h"

void h_store_products(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    web_reply_result(resp, 200, products_store_list(req->db, &err), &err);
}
