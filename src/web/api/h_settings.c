/*
 * h_settings.c — /api/admin/settings: every setting with its description
 * (GET) and a validated partial update (PATCH {key: value, ...}). Thin
 * handlers over settings/registry.c, which validates, writes and audits.
 */
#include "settings/registry.h"
#include "web/auth.h"
#include "web/api/api.h"

void h_settings_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    web_reply_result(resp, 200, settings_reg_list(req->db, &err), &err);
}

void h_settings_update(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *settings = settings_reg_update(req->db, &actor, body, &err);
    json_decref(body);
    web_reply_result(resp, 200, settings, &err);
}
