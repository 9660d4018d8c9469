/*
 * h_clients.c — /api/admin/clients: list (?q= searches), create, get, update, through the
 * one resource shape of crud.h over billing/clients.c (WEB_AUTH_ADMIN).
 */
#include "web/api/api.h"

#include "billing/clients.h"
#include "web/api/crud.h"

#define SEARCH_PAGE_DEFAULT 50 /* as the lists of crud.c */

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
    /* ?q= (issue 15): search by e-mail, name or company, paged like the list. */
    const char *q = web_query(req, "q");
    if (q == NULL || q[0] == '\0') {
        api_crud_list(&CLIENTS, req, resp);
        return;
    }
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    if (web_page_params(req, resp, SEARCH_PAGE_DEFAULT, CLIENTS_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = clients_search(req->db, q, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
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
