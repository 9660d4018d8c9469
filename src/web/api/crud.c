/*
 * crud.c — the JSON API's resource handlers over a table of domain
 * functions (see crud.h). Runs on the request's worker thread with its
 * connection; no state.
 */
#include "web/api/crud.h"

#include "web/auth.h"

#define PAGE_DEFAULT 50

/* The {id} of the path, or 0 after answering the resource's 404. */
static int64_t id_or_404(const struct api_resource *r, struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "%s not found", r->what);
    return id;
}

void api_crud_list(const struct api_resource *r, struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    if (web_page_params(req, resp, PAGE_DEFAULT, r->page_max, &limit, &after) != 0)
        return;
    json_t *rows = r->list(req->db, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}

void api_crud_create(const struct api_resource *r, struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *row = r->create(req->db, &actor, body, &err);
    json_decref(body);
    if (row == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_created(resp, r->location, row);
}

void api_crud_get(const struct api_resource *r, struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(r, req, resp);
    if (id <= 0)
        return;
    web_reply_result(resp, 200, r->get(req->db, id, &err), &err);
}

void api_crud_update(const struct api_resource *r, struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(r, req, resp);
    if (id <= 0)
        return;
    json_t *patch = web_json_body(req, resp);
    if (patch == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *row = r->update(req->db, &actor, id, patch, &err);
    json_decref(patch);
    web_reply_result(resp, 200, row, &err);
}

void api_crud_delete(const struct api_resource *r, struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(r, req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (r->remove(req->db, &actor, id, &err) < 0) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_text(resp, 204, "application/json", "", 0);
}
