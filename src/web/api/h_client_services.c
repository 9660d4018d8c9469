/*
 * h_client_services.c — /api/client/services: a client's own services and
 * what it may do with one (sign on to the panel, power a VPS, reset the
 * panel password and see the new one once).
 *
 * Thin handlers over provisioning/selfservice.c, which the client area's
 * pages call too. The router has authenticated the caller (WEB_AUTH_USER:
 * a client's session cookie with the CSRF token on writes, or a bearer
 * token); these routes are a client's, so a staff caller (no client scope)
 * is refused 403. Another client's service answers 404 like a missing one.
 */
#include <string.h>

#include "billing/listing.h"
#include "core/json.h"
#include "provisioning/selfservice.h"
#include "web/auth.h"
#include "web/api/api.h"

#define PAGE_DEFAULT 50

static const char *const POWER_KEYS[] = {"action", NULL};

/* The client the caller is; 0 (answered 403) for staff and admins. */
static int64_t client_or_403(struct web_req *req, struct web_resp *resp)
{
    int64_t me = auth_client_scope(req);
    if (me <= 0)
        web_reply_error(resp, 403, "forbidden", "these routes are for client accounts");
    return me;
}

static int64_t id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "service not found");
    return id;
}

void h_client_services_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    int64_t me = client_or_403(req, resp);
    if (me <= 0 || web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = selfservice_services(req->db, me, after, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_client_services_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    int64_t id = me > 0 ? id_or_404(req, resp) : 0;
    if (id <= 0)
        return;
    web_reply_result(resp, 200, selfservice_service(req->db, me, id, &err), &err);
}

void h_client_services_login(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    int64_t id = me > 0 ? id_or_404(req, resp) : 0;
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *login = selfservice_login(req->db, &actor, me, id, &err);
    if (login != NULL)
        web_add_header(resp, "Cache-Control", "no-store");
    web_reply_result(resp, 200, login, &err);
}

void h_client_services_password(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    int64_t id = me > 0 ? id_or_404(req, resp) : 0;
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *job = selfservice_password_reset(req->db, &actor, me, id, &err);
    if (job == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 202, json_pack("{s:o}", "job", job));
}

void h_client_services_password_reveal(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = client_or_403(req, resp);
    int64_t id = me > 0 ? id_or_404(req, resp) : 0;
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *r = selfservice_password_reveal(req->db, &actor, me, id, &err);
    if (r == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    if (json_is_null(r)) {
        json_decref(r);
        web_reply_error(resp, 404, "not_found", "no panel password reset was requested");
        return;
    }
    web_add_header(resp, "Cache-Control", "no-store");
    web_reply_json(resp, 200, r);
}

void h_client_services_power(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *action = NULL;
    int64_t me = client_or_403(req, resp);
    int64_t id = me > 0 ? id_or_404(req, resp) : 0;
    if (id <= 0)
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (jsonx_check_keys(body, POWER_KEYS, &err) < 0 ||
        jsonx_take_str(body, "action", false, 16, &action, &err) < 0) {
        web_reply_err(resp, &err);
        json_decref(body);
        return;
    }
    /* A missing action is the domain's to refuse, after it has found the
     * service: another client's id answers 404 whatever the body says. */
    struct audit_actor actor = auth_actor(req);
    json_t *out = selfservice_power(req->db, &actor, me, id, action, &err);
    json_decref(body);
    web_reply_result(resp, 200, out, &err);
}
