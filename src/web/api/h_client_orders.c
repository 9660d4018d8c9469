/*
 * h_client_orders.c — POST /api/client/orders {product_id, billing_cycle,
 * currency?, domain?}: a client orders for themself through the one order
 * function (orders_place_client), answered 201 {service, invoice}.
 *
 * WEB_AUTH_USER: the client comes from the session or token
 * (auth_client_scope), never from the body; a cookie-authenticated call
 * needs the CSRF token like every cookie write; staff are refused (they
 * order for a client through /api/admin/services). The service is answered
 * as GET /api/client/services/{id} answers it (selfservice_service): the
 * client's view, never the server, remote key, jobs or errors.
 */
#include <stdio.h>

#include "core/json.h"
#include "provisioning/selfservice.h"
#include "provisioning/orders.h"
#include "provisioning/services.h"
#include "web/api/api.h"
#include "web/auth.h"

void h_client_orders_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t me = auth_client_scope(req);
    if (me <= 0) {
        web_reply_error(resp, 403, "forbidden",
                        "only clients order here; staff order through /api/admin/services");
        return;
    }
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *placed = orders_place_client(req->db, &actor, me, body, &err);
    json_decref(body);
    if (placed == NULL) {
        if (err.code == LUMI_EFORBIDDEN)
            web_reply_error(resp, 403, "email_not_verified", "%s", err.msg);
        else
            web_reply_err(resp, &err);
        return;
    }
    /* The service exactly as GET /api/client/services/{id} answers it. */
    int64_t service_id = (int64_t)json_integer_value(json_object_get(placed, "id"));
    json_t *service = selfservice_service(req->db, me, service_id, &err);
    json_t *answer = service != NULL ? json_pack("{s:o, s:O}", "service", service, "invoice",
                                                 json_object_get(placed, "invoice"))
                                     : NULL;
    json_decref(placed);
    if (answer == NULL) {
        if (err.code != 0)
            web_reply_err(resp, &err);
        else
            web_reply_error(resp, 500, "internal_error", "out of memory");
        return;
    }
    char location[64];
    snprintf(location, sizeof location, "/api/client/invoices/%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(json_object_get(answer, "invoice"), "id")));
    web_add_header(resp, "Location", location);
    web_reply_json(resp, 201, answer);
}
