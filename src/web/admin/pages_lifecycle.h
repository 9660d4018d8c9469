/*
 * pages_lifecycle.h — the admin's cancellation queue (p_cancellations.c),
 * listed in admin/routes.c.
 */
#ifndef LUMI_WEB_ADMIN_PAGES_LIFECYCLE_H
#define LUMI_WEB_ADMIN_PAGES_LIFECYCLE_H

#include "web/http.h"

/** GET /admin/cancellations?status=&cursor=: the requests, newest first, with a Reject button. */
void p_cancellations_list(struct web_req *req, struct web_resp *resp);
/** POST /admin/cancellations/{id}/reject (note, csrf_token): rejects a pending request. */
void p_cancellations_reject(struct web_req *req, struct web_resp *resp);

#endif
