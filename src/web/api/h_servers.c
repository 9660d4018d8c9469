/*
 * h_servers.c — /api/admin/servers: list, create, get, update, delete, and
 * connection tests (of a stored server, or of fields before saving them).
 * Thin handlers over provisioning/servers.c; secrets never leave as anything
 * but "********".
 */
#include <stdio.h>

#include "provisioning/servers.h"
#include "web/auth.h"
#include "web/api/api.h"

#define PAGE_DEFAULT 50

static int64_t id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "server not found");
    return id;
}

void h_servers_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    if (web_page_params(req, resp, PAGE_DEFAULT, SERVERS_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = servers_list(req->db, after, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_servers_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *server = servers_create(req->db, &actor, body, &err);
    json_decref(body);
    if (server == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_created(resp, "/api/admin/servers", server);
}

void h_servers_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id > 0)
        web_reply_result(resp, 200, servers_get(req->db, id, &err), &err);
}

void h_servers_update(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *server = servers_update(req->db, &actor, id, body, &err);
    json_decref(body);
    web_reply_result(resp, 200, server, &err);
}

void h_servers_delete(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (servers_delete(req->db, &actor, id, &err) != 0)
        web_reply_err(resp, &err);
    else
        web_reply_text(resp, 204, "text/plain", "", 0);
}

void h_servers_test(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    web_reply_result(resp, 200, servers_test(req->db, &actor, id, &err), &err);
}

void h_servers_test_unsaved(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    json_t *result = servers_test_unsaved(body, &err);
    json_decref(body);
    web_reply_result(resp, 200, result, &err);
}
