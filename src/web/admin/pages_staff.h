/*
 * pages_staff.h — handlers of /admin/staff and /admin/tokens (p_staff.c),
 * named by admin/routes.c; admins only (issues 16 and 17).
 */
#ifndef LUMI_WEB_PAGES_STAFF_H
#define LUMI_WEB_PAGES_STAFF_H

#include "web/http.h"

/** GET /admin/staff: staff members with their roles, the add form. */
void p_staff_list(struct web_req *req, struct web_resp *resp);
/** POST /admin/staff: a new staff member (email, role, password); 303 back or 400 with the form. */
void p_staff_create(struct web_req *req, struct web_resp *resp);
/** POST /admin/staff/{id}/role: field role; 303 back with a flash. */
void p_staff_role(struct web_req *req, struct web_resp *resp);
/** POST /admin/staff/{id}/disable and /enable. */
void p_staff_disable(struct web_req *req, struct web_resp *resp);
void p_staff_enable(struct web_req *req, struct web_resp *resp);

/** GET /admin/tokens: every API token (never the token), the create form. */
void p_tokens_list(struct web_req *req, struct web_resp *resp);
/** POST /admin/tokens: fields name, user, expires_days; the page shows the new token once. */
void p_tokens_create(struct web_req *req, struct web_resp *resp);
/** POST /admin/tokens/{id}/revoke. */
void p_tokens_revoke(struct web_req *req, struct web_resp *resp);

#endif
