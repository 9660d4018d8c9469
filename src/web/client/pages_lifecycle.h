/*
 * pages_lifecycle.h — the client's cancellation and upgrade/downgrade pages
 * of a service (p_lifecycle.c), listed in client/routes.c.
 */
#ifndef LUMI_WEB_CLIENT_PAGES_LIFECYCLE_H
#define LUMI_WEB_CLIENT_PAGES_LIFECYCLE_H

#include "web/http.h"

/** GET /client/services/{id}/cancel: the form, or the pending request with a withdraw button. */
void p_client_cancel_form(struct web_req *req, struct web_resp *resp);
/** POST /client/services/{id}/cancel (when, reason, csrf_token): 303 back with a notice. */
void p_client_cancel(struct web_req *req, struct web_resp *resp);
/** POST /client/services/{id}/cancel/withdraw (csrf_token): withdraws the pending request. */
void p_client_cancel_withdraw(struct web_req *req, struct web_resp *resp);
/** GET /client/services/{id}/upgrade: the options with their prorated charge or credit. */
void p_client_upgrade_form(struct web_req *req, struct web_resp *resp);
/** POST /client/services/{id}/upgrade (product_id, csrf_token): 303 to the invoice (upgrade). */
void p_client_upgrade(struct web_req *req, struct web_resp *resp);
/** POST /client/services/{id}/upgrade/withdraw (csrf_token): withdraws an unpaid upgrade. */
void p_client_upgrade_withdraw(struct web_req *req, struct web_resp *resp);

#endif
