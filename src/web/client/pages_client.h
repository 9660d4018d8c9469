/*
 * pages_client.h — handlers of the client area /client/... (p_client.c),
 * listed in client/routes.c. h_client_invoice is the invoice page (also the
 * gateways' return page).
 */
#ifndef LUMI_WEB_PAGES_CLIENT_H
#define LUMI_WEB_PAGES_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "web/http.h"
#include "web/server.h"

/** The client area's routes, terminated by an entry with method NULL (client/routes.c). */
extern const struct web_route web_client_routes[];

/** GET /client/invoices/{id}: a client's invoice with its Pay buttons; the gateways
 *  send the buyer back here (p_client.c). */
void h_client_invoice(struct web_req *req, struct web_resp *resp);

/** GET /client/invoices/{id}/pdf: the PDF of one of the client's invoices (p_documents.c). */
void p_client_invoice_pdf(struct web_req *req, struct web_resp *resp);

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

/* p_account.c — the client's own account (sign-up, verification, reset, profile, TOTP). */
struct accounts_session;
void p_client_signup_form(struct web_req *req, struct web_resp *resp);
void p_client_signup(struct web_req *req, struct web_resp *resp);
void p_client_verify_form(struct web_req *req, struct web_resp *resp);
void p_client_verify(struct web_req *req, struct web_resp *resp);
void p_client_reset_form(struct web_req *req, struct web_resp *resp);
void p_client_reset(struct web_req *req, struct web_resp *resp);
void p_client_reset_confirm_form(struct web_req *req, struct web_resp *resp);
void p_client_reset_confirm(struct web_req *req, struct web_resp *resp);
void p_client_account(struct web_req *req, struct web_resp *resp);
void p_client_account_profile(struct web_req *req, struct web_resp *resp);
void p_client_account_password(struct web_req *req, struct web_resp *resp);
void p_client_account_resend(struct web_req *req, struct web_resp *resp);
void p_client_account_totp_begin(struct web_req *req, struct web_resp *resp);
void p_client_account_totp_confirm(struct web_req *req, struct web_resp *resp);
void p_client_account_totp_disable(struct web_req *req, struct web_resp *resp);
/** The password was right and a second factor is on: the code form, the challenge in its cookie. */
void p_client_login_need_code(struct web_req *req, struct web_resp *resp,
                              struct accounts_session *s, const char *next);
/** POST /client/login/code: the challenge (cookie) and a code for the session. */
void p_client_login_code(struct web_req *req, struct web_resp *resp);

/* p_selfservice.c (self-service on a service) */
/** The service page's self-service part (new reference; JSON null when not the client's). */
json_t *p_selfservice_section(struct web_req *req, int64_t client_id, int64_t id);
void p_client_service_login(struct web_req *req, struct web_resp *resp);
void p_client_service_password(struct web_req *req, struct web_resp *resp);
void p_client_service_power(struct web_req *req, struct web_resp *resp);
/* The store (issue 13, p_store.c) */
/** GET /store: the visible products by group with their starting prices and stock. */
void p_store(struct web_req *req, struct web_resp *resp);
/** GET /store/products/{id}: one product's prices and the order form (hidden: 404). */
void p_store_product(struct web_req *req, struct web_resp *resp);
/** POST /store/products/{id}/order: orders as the logged-in client, 303 to the invoice (a
 *  visitor: 303 to /client/login?next=/store/products/{id}). */
void p_store_order(struct web_req *req, struct web_resp *resp);

#endif
