/*
 * pages_billing.h — handlers of clients and products pages (p_clients.c, p_products.c),
 * listed in admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_BILLING_H
#define LUMI_WEB_PAGES_BILLING_H

#include "web/http.h"

/* p_clients.c */
/** GET /admin/clients: one keyset page of clients (?cursor=). */
void p_clients_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/clients/new: the add form. */
void p_clients_new(struct web_req *req, struct web_resp *resp);
/** POST /admin/clients: creates a client from the add form (clients_create). */
void p_clients_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/clients/{id}: the client's fields, services and invoices. */
void p_clients_detail(struct web_req *req, struct web_resp *resp);
/** GET /admin/clients/{id}/edit: the edit form (the password is never shown). */
void p_clients_edit(struct web_req *req, struct web_resp *resp);
/** POST /admin/clients/{id}: updates a client from the edit form (clients_update). */
void p_clients_update(struct web_req *req, struct web_resp *resp);
/** POST /admin/clients/{id}/verify: mark the client's e-mail verified by hand (audited). */
void p_clients_mark_verified(struct web_req *req, struct web_resp *resp);
/** POST /admin/clients/{id}/resend-verification: a new verification mail (audited). */
void p_clients_resend_verification(struct web_req *req, struct web_resp *resp);

/* p_products.c */
/** GET /admin/products: one keyset page of products (?cursor=). */
void p_products_list(struct web_req *req, struct web_resp *resp);
/**
 * GET /admin/products/new: step 1, the choice of server (or none); with
 * ?server_id=N (0 = no server) step 2, the form with that panel's module
 * configuration (Pterodactyl choices loaded live from the panel).
 */
void p_products_new(struct web_req *req, struct web_resp *resp);
/** POST /admin/products: creates a product from the form (products_create). */
void p_products_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/products/{id}/edit: the edit form. */
void p_products_edit(struct web_req *req, struct web_resp *resp);
/** POST /admin/products/{id}: updates a product from the form (products_update). */
void p_products_update(struct web_req *req, struct web_resp *resp);
/** POST /admin/products/{id}/delete: deletes an unused product (products_delete). */
void p_products_delete(struct web_req *req, struct web_resp *resp);

#endif
