/*
 * api.h — the JSON API's handlers (one file per resource: h_health.c,
 * h_auth.c, ...) and its route table.
 */
#ifndef LUMI_WEB_API_API_H
#define LUMI_WEB_API_API_H

#include <jansson.h>

#include "core/buf.h"
#include "web/server.h"

/** The JSON API's routes (admin, gateways, health), terminated by an entry with method NULL. */
extern const struct web_route web_api_routes[];

/* h_health.c */
void h_healthz(struct web_req *req, struct web_resp *resp);
void h_admin_status(struct web_req *req, struct web_resp *resp);
/* Operations (metrics): GET /metrics, h_metrics.c */
void h_metrics(struct web_req *req, struct web_resp *resp);

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
/* Tax and VAT (issue 14): h_tax_rules.c */
void h_tax_rules_list(struct web_req *req, struct web_resp *resp);
void h_tax_rules_create(struct web_req *req, struct web_resp *resp);
void h_tax_rules_get(struct web_req *req, struct web_resp *resp);
void h_tax_rules_update(struct web_req *req, struct web_resp *resp);
void h_tax_rules_delete(struct web_req *req, struct web_resp *resp);
/* Credit balance (issue 14): h_credit.c */
void h_admin_credit_get(struct web_req *req, struct web_resp *resp);
void h_admin_credit_adjust(struct web_req *req, struct web_resp *resp);
void h_admin_invoices_apply_credit(struct web_req *req, struct web_resp *resp);
void h_client_invoices_apply_credit(struct web_req *req, struct web_resp *resp);
void h_client_credit_get(struct web_req *req, struct web_resp *resp);
void h_client_credit_add_funds(struct web_req *req, struct web_resp *resp);
/* Coupons (issue 14): h_coupons.c */
void h_coupons_list(struct web_req *req, struct web_resp *resp);
void h_coupons_create(struct web_req *req, struct web_resp *resp);
void h_coupons_get(struct web_req *req, struct web_resp *resp);
void h_coupons_update(struct web_req *req, struct web_resp *resp);
void h_coupons_delete(struct web_req *req, struct web_resp *resp);
/* Credit notes (issue 14, company): h_credit_notes.c */
void h_credit_notes_create(struct web_req *req, struct web_resp *resp);
void h_credit_notes_list(struct web_req *req, struct web_resp *resp);
void h_credit_notes_get(struct web_req *req, struct web_resp *resp);

/* PDF documents (issue 14): h_documents.c */
void h_invoices_pdf(struct web_req *req, struct web_resp *resp);
void h_credit_notes_pdf(struct web_req *req, struct web_resp *resp);
/** Answers 200 application/pdf with pdf (copied) as an attachment named name. */
void h_documents_reply_pdf(struct web_resp *resp, const struct buf *pdf, const char *name);
/* h_reports.c */
void h_reports_get(struct web_req *req, struct web_resp *resp);
/** Answers 200 text/csv, the report's CSV (reports_month_csv), as an attachment. */
void h_reports_reply_csv(struct web_resp *resp, const json_t *report);

/* Staff roles and API tokens (issues 16 and 17): h_staff.c */
void h_staff_list(struct web_req *req, struct web_resp *resp);
void h_staff_create(struct web_req *req, struct web_resp *resp);
void h_staff_update(struct web_req *req, struct web_resp *resp);
void h_tokens_list(struct web_req *req, struct web_resp *resp);
void h_tokens_create(struct web_req *req, struct web_resp *resp);
void h_tokens_get(struct web_req *req, struct web_resp *resp);
void h_tokens_revoke(struct web_req *req, struct web_resp *resp);

#endif
