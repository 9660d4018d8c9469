/*
 * h_tax_rules.c — /api/admin/tax-rules: list, create, get, update, delete,
 * through the one resource shape of crud.h over billing/tax_rules.c
 * (WEB_AUTH_ADMIN).
 */
#include "web/api/api.h"

#include "billing/listing.h"
#include "billing/tax_rules.h"
#include "web/api/crud.h"

static const struct api_resource TAX_RULES = {
    .what = "tax rule",
    .location = "/api/admin/tax-rules",
    .page_max = LISTING_PAGE_MAX,
    .list = tax_rules_list,
    .create = tax_rules_create,
    .get = tax_rules_get,
    .update = tax_rules_update,
    .remove = tax_rules_delete,
};

void h_tax_rules_list(struct web_req *req, struct web_resp *resp)
{
    api_crud_list(&TAX_RULES, req, resp);
}

void h_tax_rules_create(struct web_req *req, struct web_resp *resp)
{
    api_crud_create(&TAX_RULES, req, resp);
}

void h_tax_rules_get(struct web_req *req, struct web_resp *resp)
{
    api_crud_get(&TAX_RULES, req, resp);
}

void h_tax_rules_update(struct web_req *req, struct web_resp *resp)
{
    api_crud_update(&TAX_RULES, req, resp);
}

void h_tax_rules_delete(struct web_req *req, struct web_resp *resp)
{
    api_crud_delete(&TAX_RULES, req, resp);
}
