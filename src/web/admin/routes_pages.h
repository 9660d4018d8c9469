/*
 * routes_pages.h — handlers of the server-rendered admin pages (p_admin.c,
 * p_servers.c, p_audit.c, page.c), listed in admin/routes.c.
 */
#ifndef LUMI_WEB_ROUTES_PAGES_H
#define LUMI_WEB_ROUTES_PAGES_H

#include "web/http.h"
#include "web/server.h"

/** The admin pages' routes, terminated by an entry with method NULL (admin/routes.c). */
extern const struct web_route web_admin_routes[];

/* page.c */
/** GET /static/{name}: an embedded static file with its content type. */
void p_static(struct web_req *req, struct web_resp *resp);

/* p_admin.c */
/** GET /admin/login: the login form (sets the short-lived login CSRF cookie). */
void p_login_form(struct web_req *req, struct web_resp *resp);
/** POST /admin/login: checks the credentials, opens a session, 303 to next. */
void p_login(struct web_req *req, struct web_resp *resp);
/** POST /admin/logout: ends the session, 303 to the login form. */
void p_logout(struct web_req *req, struct web_resp *resp);

/* p_servers.c */
/** GET /admin/servers: every server with its status. */
void p_servers_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/servers/new?type=: the add form of one panel type. */
void p_servers_new(struct web_req *req, struct web_resp *resp);
/** POST /admin/servers: creates a server from the add form. */
void p_servers_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/servers/{id}/edit: the edit form (secrets never pre-filled). */
void p_servers_edit(struct web_req *req, struct web_resp *resp);
/** POST /admin/servers/{id}: updates a server from the edit form. */
void p_servers_update(struct web_req *req, struct web_resp *resp);
/** POST /admin/servers/{id}/test: tests the connection (303 with a flash, or JSON). */
void p_servers_test(struct web_req *req, struct web_resp *resp);
/** POST /admin/servers/{id}/delete: deletes an unused database server. */
void p_servers_delete(struct web_req *req, struct web_resp *resp);
/** POST /admin/servers/{id}/activate. */
void p_servers_activate(struct web_req *req, struct web_resp *resp);
/** POST /admin/servers/{id}/deactivate. */
void p_servers_deactivate(struct web_req *req, struct web_resp *resp);

/* p_audit.c */
/** GET /admin/audit-logs: filtered, newest first, keyset paged, with the chain check. */
void p_audit_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/audit-logs/{id}: one row with its details. */
void p_audit_detail(struct web_req *req, struct web_resp *resp);

#endif
