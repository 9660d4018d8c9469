/*
 * h_clients.c — /api/admin/clients: list, create, get, update.
 *
 * Thin handlers: read the request, call billing/clients.c, answer. They run on
 * a worker thread with that worker's connection, after the server has
 * authenticated the caller as admin or staff (WEB_AUTH_ADMIN), so req->who is
 * filled and auth_actor(req) names who to audit.
 */
#include "web/routes.h"

#include <inttypes.h>
#include <stdio.h>

#include "billing/clients.h"
#include "core/str.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50

/* ?limit= (1..CLIENTS_PAGE_MAX, default 50) and ?cursor= (the last id seen, decimal). */
static int page_params(const struct web_req *req, int *limit, int64_t *after, struct lumi_err *err)
{
    const char *l = web_query(req, "limit");
    const char *c = web_query(req, "cursor");
    int64_t v = PAGE_DEFAULT;
    if (l != NULL && str_to_i64z(l, 1, CLIENTS_PAGE_MAX, &v) < 0)
        return err_set(err, LUMI_EINVAL, "query parameter 'limit' must be an integer from 1 to %d",
                       CLIENTS_PAGE_MAX);
    *limit = (int)v;
    *after = 0;
    if (c != NULL && str_to_i64z(c, 0, INT64_MAX, after) < 0)
        return err_set(err, LUMI_EINVAL,
                       "query parameter 'cursor' must be a next_cursor from a previous page");
    return 0;
}

/* Answers {"data": rows, "next_cursor": "id" | null}; takes rows. */
static void reply_page(struct web_resp *resp, json_t *rows, int64_t next)
{
    char cursor[24];
    snprintf(cursor, sizeof cursor, "%" PRId64, next);
    json_t *page = json_pack("{s:o,s:s?}", "data", rows, "next_cursor", next > 0 ? cursor : NULL);
    if (page == NULL) {
        web_reply_error(resp, 500, "internal_error", "out of memory");
        return;
    }
    web_reply_json(resp, 200, page);
}

static void reply_not_found(struct web_resp *resp)
{
    web_reply_error(resp, 404, "not_found", "client not found");
}

void h_clients_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0;
    int64_t next = 0;
    if (page_params(req, &limit, &after, &err) < 0) {
        web_reply_err(resp, &err);
        return;
    }
    json_t *rows = clients_list(req->db, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    reply_page(resp, rows, next);
}

void h_clients_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *client = clients_create(req->db, &actor, body, &err);
    json_decref(body);
    if (client == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    char location[64];
    snprintf(location, sizeof location, "/api/admin/clients/%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(client, "id")));
    web_add_header(resp, "Location", location);
    web_reply_json(resp, 201, client);
}

void h_clients_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    json_t *client = clients_get(req->db, id, &err);
    if (client == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200, client);
}

void h_clients_update(struct web_req *req, struct web_resp *resp)
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
    json_t *client = clients_update(req->db, &actor, id, patch, &err);
    json_decref(patch);
    if (client == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200, client);
}
