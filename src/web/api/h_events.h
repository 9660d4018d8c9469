/*
 * h_events.h — /api/admin/webhook-endpoints: the provider's endpoints for
 * outgoing events, their delivery log and the test event (h_events.c),
 * listed in api/routes.c.
 */
#ifndef LUMI_WEB_API_H_EVENTS_H
#define LUMI_WEB_API_H_EVENTS_H

#include "web/http.h"

void h_webhook_endpoints_list(struct web_req *req, struct web_resp *resp);
void h_webhook_endpoints_create(struct web_req *req, struct web_resp *resp);
void h_webhook_endpoints_get(struct web_req *req, struct web_resp *resp);
void h_webhook_endpoints_update(struct web_req *req, struct web_resp *resp);
void h_webhook_endpoints_delete(struct web_req *req, struct web_resp *resp);
/** GET …/{id}/deliveries?limit=&cursor=: newest first. */
void h_webhook_endpoints_deliveries(struct web_req *req, struct web_resp *resp);
/** POST …/{id}/test: 202 with the queued delivery. */
void h_webhook_endpoints_test(struct web_req *req, struct web_resp *resp);

#endif
