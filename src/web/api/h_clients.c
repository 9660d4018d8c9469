/*
 * h_clients.c — /api/admin/clients: list, create, get, update, through the
 * one resource shape of crud.h over billing/clients.c (WEB_AUTH_ADMIN).
 */
#include "web/api/api.h"

#include "billing/clients.h"
#include "web/api/crud.h"

static const struct api_resource CLIENTS = {
    .what = "client",
    .location = "/api/admin/clients",
    .page_max = CLIENTS_PAGE_MAX,
    .list = clients_list,
    .create = clients_create,
    .get = clients_get,
    .update = clients_update,
};

void h_clients_list(struct web_req *req, struct web_resp *resp)
{
    api_crud_list(&CLIENTS, req, resp);
}

void h_clients_create(struct web_req *req, struct web_resp *resp)
{
    api_crud_create(&CLIENTS, req, resp);
}

void h_clients_get(struct web_req *req, struct web_resp *resp)
{
    api_crud_get(&CLIENTS, req, resp);
}

void h_clients_update(struct web_req *req, struct web_resp *resp)
{
    api_crud_update(&CLIENTS, req, resp);
}
