/*
 * pages_events.h — the admin's outgoing-events pages (p_webhooks.c), listed
 * in admin/routes.c: /admin/webhooks.
 */
#ifndef LUMI_WEB_ADMIN_PAGES_EVENTS_H
#define LUMI_WEB_ADMIN_PAGES_EVENTS_H

#include "web/http.h"

/** GET /admin/webhooks: every endpoint, with the add form. */
void p_webhooks_list(struct web_req *req, struct web_resp *resp);
/** POST /admin/webhooks (url, events, description, secret): adds one and shows its secret once. */
void p_webhooks_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/webhooks/{id}: the endpoint, its edit form, the delivery log, the test button. */
void p_webhook_endpoint(struct web_req *req, struct web_resp *resp);
/** POST /admin/webhooks/{id}: saves the edit form. */
void p_webhooks_update(struct web_req *req, struct web_resp *resp);
/** POST /admin/webhooks/{id}/delete. */
void p_webhooks_delete(struct web_req *req, struct web_resp *resp);
/** POST /admin/webhooks/{id}/test: queues a test event. */
void p_webhooks_test(struct web_req *req, struct web_resp *resp);

#endif
