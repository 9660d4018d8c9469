/*
 * h_lifecycle.c — cancellation requests and plan changes over JSON (see
 * h_lifecycle.h): thin handlers over provisioning/cancellations.c and
 * provisioning/changes.c, the same functions the client pages call.
 *
 * Client routes are WEB_AUTH_USER: a client is restricted to its own
 * services (auth_client_scope), and another client's service answers 404
 * like one that does not exist; staff may act on any service. A cookie
 * session needs the CSRF token on writes (auth.c checks it).
 */
#include <string.h>

#include "core/json.h"
#include "core/utc.h"
#include "provisioning/cancellations.h"
#include "provisioning/changes.h"
#include "web/api/h_lifecycle.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200

static const char *const CANCEL_KEYS[] = {"when", "reason", NULL};
static const char *const UPGRADE_KEYS[] = {"product_id", NULL};
static const char *const REJECT_KEYS[] = {"note", NULL};

/*
 * The handlers check the body's shape only; what a value means (a missing
 * "when" or "product_id" included) is judged by the domain after it has found
 * the service, so another client's id answers 404 whatever the body says.
 */
static int64_t service_id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "service not found");
    return id;
}

/* Answers {key: value} with status, or the error. */
static void reply_wrapped(struct web_resp *resp, int status, const char *key, json_t *value,
                          const struct lumi_err *err)
{
    if (value == NULL) {
        web_reply_err(resp, err);
        return;
    }
    web_reply_json(resp, status, json_pack("{s:o}", key, value));
}

void h_client_cancel_request(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *when = NULL, *reason = NULL;
    int64_t id = service_id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (jsonx_check_keys(body, CANCEL_KEYS, &err) < 0 ||
        jsonx_take_str(body, "when", false, 32, &when, &err) < 0 ||
        jsonx_take_str(body, "reason", false, 500, &reason, &err) < 0) {
        web_reply_err(resp, &err);
        json_decref(body);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    json_t *r =
        cancellations_request(req->db, &actor, id, auth_client_scope(req), when, reason, &err);
    json_decref(body);
    reply_wrapped(resp, 201, "request", r, &err);
}

void h_client_cancel_withdraw(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = service_id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *r = cancellations_withdraw(req->db, &actor, id, auth_client_scope(req), &err);
    reply_wrapped(resp, 200, "request", r, &err);
}

void h_client_cancel_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = service_id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *r = cancellations_pending_of(req->db, id, auth_client_scope(req), &err);
    reply_wrapped(resp, 200, "request", r, &err);
}

void h_client_upgrade_options(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = service_id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *opts = changes_options(req->db, id, auth_client_scope(req), utc_now(), &err);
    if (opts == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, opts);
}

void h_client_upgrade_request(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t product_id = 0;
    int64_t id = service_id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (jsonx_check_keys(body, UPGRADE_KEYS, &err) < 0 ||
        jsonx_take_int(body, "product_id", false, 1, INT64_MAX, &product_id, &err) < 0) {
        web_reply_err(resp, &err);
        json_decref(body);
        return;
    }
    json_decref(body);
    struct audit_actor actor = auth_actor(req);
    json_t *r =
        changes_request(req->db, &actor, id, auth_client_scope(req), product_id, utc_now(), &err);
    if (r == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 201, r);
}

void h_client_upgrade_withdraw(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = service_id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *c = changes_withdraw(req->db, &actor, id, auth_client_scope(req), &err);
    reply_wrapped(resp, 200, "change", c, &err);
}

void h_admin_cancellations_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *status = NULL;
    int limit = 0;
    int64_t cursor = 0, next = 0;
    if (web_query_enum(req, resp, "status", CANCELLATION_STATUSES, &status) != 0 ||
        web_page_params(req, resp, PAGE_DEFAULT, PAGE_MAX, &limit, &cursor) != 0)
        return;
    json_t *rows = cancellations_list(req->db, status, cursor, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_admin_cancellations_reject(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *note = NULL;
    json_t *body = NULL;
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "cancellation request not found");
        return;
    }
    if (req->body_len > 0) {
        body = web_json_body(req, resp);
        if (body == NULL)
            return;
        if (jsonx_check_keys(body, REJECT_KEYS, &err) < 0 ||
            jsonx_take_str(body, "note", false, 500, &note, &err) < 0) {
            web_reply_err(resp, &err);
            json_decref(body);
            return;
        }
    }
    struct audit_actor actor = auth_actor(req);
    json_t *r = cancellations_reject(req->db, &actor, id, note, &err);
    json_decref(body);
    reply_wrapped(resp, 200, "request", r, &err);
}
