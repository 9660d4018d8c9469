/*
 * pages_client.h — handlers of the client area /client/... (p_client.c),
 * named by routes_client.inc. h_client_invoice, the invoice page (also the
 * gateways' return page), keeps its name and its declaration in routes.h.
 */
#ifndef LUMI_WEB_PAGES_CLIENT_H
#define LUMI_WEB_PAGES_CLIENT_H

#include "web/http.h"

/** GET /client/login: the client's login form (sets the short-lived login CSRF cookie). */
void p_client_login_form(struct web_req *req, struct web_resp *resp);
/** POST /client/login: checks the credentials of a client, opens a client session, 303 to next. */
void p_client_login(struct web_req *req, struct web_resp *resp);
/** POST /client/logout: ends the client's session, 303 to the client login form. */
void p_client_logout(struct web_req *req, struct web_resp *resp);
/** GET /client: the client's services and unpaid invoices. */
void p_client_home(struct web_req *req, struct web_resp *resp);
/** GET /client/services: the client's services, newest first, keyset paged (?cursor=). */
void p_client_services(struct web_req *req, struct web_resp *resp);
/** GET /client/services/{id}: one of the client's services (another's is a 404). */
void p_client_service(struct web_req *req, struct web_resp *resp);
/** GET /client/invoices: the client's invoices, newest first, keyset paged (?cursor=). */
void p_client_invoices(struct web_req *req, struct web_resp *resp);

#endif
