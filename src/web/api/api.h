/*
 * api.h — the JSON API's handlers (one file per resource: h_health.c,
 * h_auth.c, ...) and its route table.
 */
#ifndef LUMI_WEB_API_API_H
#define LUMI_WEB_API_API_H

#include "web/server.h"

/** The JSON API's routes (admin, gateways, health), terminated by an entry with method NULL. */
extern const struct web_route web_api_routes[];

/* h_health.c */
void h_healthz(struct web_req *req, struct web_resp *resp);
void h_admin_status(struct web_req *req, struct web_resp *resp);

/* h_auth.c */
void h_admin_login(struct web_req *req, struct web_resp *resp);
void h_admin_logout(struct web_req *req, struct web_resp *resp);
void h_admin_me(struct web_req *req, struct web_resp *resp);

/* h_audit.c */
void h_audit_list(struct web_req *req, struct web_resp *resp);

/* h_clients.c */
void h_clients_list(struct web_req *req, struct web_resp *resp);
void h_clients_create(struct web_req *req, struct web_resp *resp);
void h_clients_get(struct web_req *req, struct web_resp *resp);
void h_clients_update(struct web_req *req, struct web_resp *resp);

/* h_products.c */
void h_products_list(struct web_req *req, struct web_resp *resp);
void h_products_create(struct web_req *req, struct web_resp *resp);
void h_products_get(struct web_req *req, struct web_resp *resp);
void h_products_update(struct web_req *req, struct web_resp *resp);
void h_products_delete(struct web_req *req, struct web_resp *resp);

/* h_servers.c */
void h_servers_list(struct web_req *req, struct web_resp *resp);
void h_servers_create(struct web_req *req, struct web_resp *resp);
void h_servers_get(struct web_req *req, struct web_resp *resp);
void h_servers_update(struct web_req *req, struct web_resp *resp);
void h_servers_delete(struct web_req *req, struct web_resp *resp);
void h_servers_test(struct web_req *req, struct web_resp *resp);
void h_servers_test_unsaved(struct web_req *req, struct web_resp *resp);

/* h_services.c */
void h_services_list(struct web_req *req, struct web_resp *resp);
void h_services_create(struct web_req *req, struct web_resp *resp);
void h_services_get(struct web_req *req, struct web_resp *resp);
void h_services_provision(struct web_req *req, struct web_resp *resp);
void h_services_suspend(struct web_req *req, struct web_resp *resp);
void h_services_unsuspend(struct web_req *req, struct web_resp *resp);
void h_services_terminate(struct web_req *req, struct web_resp *resp);
void h_services_retry(struct web_req *req, struct web_resp *resp);

/* h_emails.c */
void h_emails_list(struct web_req *req, struct web_resp *resp);
void h_emails_get(struct web_req *req, struct web_resp *resp);
void h_emails_resend(struct web_req *req, struct web_resp *resp);

/* h_jobs.c */
void h_jobs_list(struct web_req *req, struct web_resp *resp);
void h_jobs_get(struct web_req *req, struct web_resp *resp);

/* h_invoices.c */
void h_invoices_list(struct web_req *req, struct web_resp *resp);
void h_invoices_create(struct web_req *req, struct web_resp *resp);
void h_invoices_get(struct web_req *req, struct web_resp *resp);
void h_invoices_pay(struct web_req *req, struct web_resp *resp);
void h_invoices_cancel(struct web_req *req, struct web_resp *resp);

/* h_stripe.c */
void h_stripe_checkout(struct web_req *req, struct web_resp *resp);
void h_stripe_webhook(struct web_req *req, struct web_resp *resp);

/* h_paypal.c */
void h_paypal_checkout(struct web_req *req, struct web_resp *resp);
void h_paypal_capture(struct web_req *req, struct web_resp *resp);
void h_paypal_webhook(struct web_req *req, struct web_resp *resp);

/* h_webhooks.c */
void h_webhook_events_list(struct web_req *req, struct web_resp *resp);
void h_webhook_events_get(struct web_req *req, struct web_resp *resp);

/* h_settings.c */
void h_settings_get(struct web_req *req, struct web_resp *resp);
void h_settings_update(struct web_req *req, struct web_resp *resp);

/* h_client_account.c (client accounts: sign-up, verification, reset, login, profile) */
void h_client_signup(struct web_req *req, struct web_resp *resp);
void h_client_verify(struct web_req *req, struct web_resp *resp);
void h_client_verify_resend(struct web_req *req, struct web_resp *resp);
void h_client_reset_request(struct web_req *req, struct web_resp *resp);
void h_client_reset_confirm(struct web_req *req, struct web_resp *resp);
void h_client_login(struct web_req *req, struct web_resp *resp);
void h_client_logout(struct web_req *req, struct web_resp *resp);
void h_client_profile_get(struct web_req *req, struct web_resp *resp);
void h_client_profile_update(struct web_req *req, struct web_resp *resp);
void h_client_password(struct web_req *req, struct web_resp *resp);
void h_client_totp_get(struct web_req *req, struct web_resp *resp);
void h_client_totp_begin(struct web_req *req, struct web_resp *resp);
void h_client_totp_confirm(struct web_req *req, struct web_resp *resp);
void h_client_totp_disable(struct web_req *req, struct web_resp *resp);
void h_admin_client_verify(struct web_req *req, struct web_resp *resp);
void h_admin_client_resend_verification(struct web_req *req, struct web_resp *resp);

/* h_client_services.c (self-service on a service) */
void h_client_services_list(struct web_req *req, struct web_resp *resp);
void h_client_services_get(struct web_req *req, struct web_resp *resp);
void h_client_services_login(struct web_req *req, struct web_resp *resp);
void h_client_services_password(struct web_req *req, struct web_resp *resp);
void h_client_services_password_reveal(struct web_req *req, struct web_resp *resp);
void h_client_services_power(struct web_req *req, struct web_resp *resp);
/* The store and ordering (issue 13): h_store.c, h_client_orders.c, h_client_invoices.c */
void h_store_products(struct web_req *req, struct web_resp *resp);
void h_client_orders_create(struct web_req *req, struct web_resp *resp);
void h_client_invoices_list(struct web_req *req, struct web_resp *resp);
void h_client_invoices_get(struct web_req *req, struct web_resp *resp);

#endif
