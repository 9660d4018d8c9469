/*
 * h_tax_rules.c — /api/admin/tax-rules: list, create, get, update, delete.
 *
 * Thin handlers: read the request, call billing/tax_rules.c, answer. They run
 * on a worker thread with that worker's connection, after the server has
 * authenticated the caller as admin or staff (WEB_AUTH_ADMIN), so req->who is
 * filled and auth_actor(req) names who to audit.
 */
#include "web/api/api.h"

#include "billing/listing.h"
#include "billing/tax_rules.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50

static void reply_not_found(struct web_resp *resp)
{
    web_reply_error(resp, 404, "not_found", "tax rule not found");
}

void h_tax_rules_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = tax_rules_list(req->db, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}

void h_tax_rules_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *rule = tax_rules_create(req->db, &actor, body, &err);
    json_decref(body);
    if (rule == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_created(resp, "/api/admin/tax-rules", rule);
}

void h_tax_rules_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    web_reply_result(resp, 200, tax_rules_get(req->db, id, &err), &err);
}

void h_tax_rules_update(struct web_req *req, struct web_resp *resp)
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
    json_t *rule = tax_rules_update(req->db, &actor, id, patch, &err);
    json_decref(patch);
    web_reply_result(resp, 200, rule, &err);
}

void h_tax_rules_delete(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        reply_not_found(resp);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    if (tax_rules_delete(req->db, &actor, id, &err) < 0) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_text(resp, 204, "application/json", "", 0);
}
