/*
 * h_services.c — /api/admin/services: orders, list, get, and lifecycle
 * requests (provision, suspend, unsuspend, terminate, retry) answered 202
 * with the queued job.
 *
 * Thin handlers over provisioning/services.c. They run on a web worker
 * thread with that worker's connection, after the server authenticated the
 * caller as admin or staff; they never call a panel themselves.
 */
#include <stdio.h>
#include <string.h>

#include "billing/listing.h"
#include "core/json.h"
#include "provisioning/orders.h"
#include "provisioning/services.h"
#include "web/auth.h"
#include "web/api/api.h"

#define PAGE_DEFAULT 50

static const char *const STATUSES[] = {"pending",    "provisioning", "active",    "suspended",
                                       "terminated", "failed",       "cancelled", NULL};
static const char *const REQUEST_KEYS[] = {"reason", NULL};

static int64_t id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "service not found");
    return id;
}

void h_services_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    int64_t client_id = 0;
    const char *status = NULL;
    if (web_query_enum(req, resp, "status", STATUSES, &status) != 0 ||
        web_query_id(req, resp, "client_id", &client_id) != 0)
        return;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &after) != 0)
        return;
    if (status != NULL && client_id > 0) {
        web_reply_error(resp, 400, "invalid_request", "use status or client_id, not both");
        return;
    }
    json_t *rows = client_id > 0
                       ? services_list_of_client(req->db, client_id, after, limit, &next, &err)
                       : services_list(req->db, status, after, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_services_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *service = orders_place(req->db, &actor, body, &err);
    json_decref(body);
    if (service == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_created(resp, "/api/admin/services", service);
}

void h_services_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *service = services_get(req->db, id, &err);
    if (service == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, service);
}

/* The optional body {"reason": "..."}; *body gets it (NULL when none). < 0: answered. */
static int read_reason(struct web_req *req, struct web_resp *resp, json_t **body,
                       const char **reason)
{
    struct lumi_err err = {0};
    *body = NULL;
    *reason = NULL;
    if (req->body_len == 0)
        return 0;
    *body = web_json_body(req, resp);
    if (*body == NULL)
        return -1;
    if (jsonx_check_keys(*body, REQUEST_KEYS, &err) < 0 ||
        jsonx_take_str(*body, "reason", false, 200, reason, &err) < 0) {
        web_reply_err(resp, &err);
        json_decref(*body);
        *body = NULL;
        return -1;
    }
    return 0;
}

static void request_action(struct web_req *req, struct web_resp *resp, const char *action)
{
    struct lumi_err err = {0};
    json_t *body = NULL;
    const char *reason = NULL;
    int64_t id = id_or_404(req, resp);
    if (id <= 0 || read_reason(req, resp, &body, &reason) < 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *job = action != NULL ? services_request(req->db, &actor, id, action, reason, &err)
                                 : services_retry(req->db, &actor, id, &err);
    json_decref(body);
    if (job == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 202, json_pack("{s:o}", "job", job));
}

void h_services_provision(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "provision");
}

void h_services_suspend(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "suspend");
}

void h_services_unsuspend(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "unsuspend");
}

void h_services_terminate(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, "terminate");
}

void h_services_retry(struct web_req *req, struct web_resp *resp)
{
    request_action(req, resp, NULL);
}
