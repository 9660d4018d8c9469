/*
 * h_lifecycle.h — JSON handlers of cancellation requests and plan changes
 * (h_lifecycle.c): the client's /api/client/services/{id}/cancel and
 * /upgrade, and the admin's cancellation queue /api/admin/cancellations.
 */
#ifndef LUMI_WEB_API_H_LIFECYCLE_H
#define LUMI_WEB_API_H_LIFECYCLE_H

#include "web/http.h"

/** POST /api/client/services/{id}/cancel {when: immediate|end_of_period, reason?} → 201 {request}.
 */
void h_client_cancel_request(struct web_req *req, struct web_resp *resp);
/** DELETE /api/client/services/{id}/cancel: withdraws the pending request → 200 {request}. */
void h_client_cancel_withdraw(struct web_req *req, struct web_resp *resp);
/** GET /api/client/services/{id}/cancel → {request: the pending one or null}. */
void h_client_cancel_get(struct web_req *req, struct web_resp *resp);
/** GET /api/client/services/{id}/upgrade → the options with prorated amounts. */
void h_client_upgrade_options(struct web_req *req, struct web_resp *resp);
/** POST /api/client/services/{id}/upgrade {product_id} → 201 {change, invoice}. */
void h_client_upgrade_request(struct web_req *req, struct web_resp *resp);
/** DELETE /api/client/services/{id}/upgrade: withdraws an upgrade awaiting payment → 200 {change}.
 */
void h_client_upgrade_withdraw(struct web_req *req, struct web_resp *resp);
/** GET /api/admin/cancellations?status=&limit=&cursor= (newest first). */
void h_admin_cancellations_list(struct web_req *req, struct web_resp *resp);
/** POST /api/admin/cancellations/{id}/reject {note?} → 200 {request}. */
void h_admin_cancellations_reject(struct web_req *req, struct web_resp *resp);

#endif
