/*
 * routes.c — the admin pages' routes (method, pattern, auth, handler); every
 * page checks its own session (page_require_admin), so the table says PUBLIC.
 */
#include "web/admin/pages_account.h"
#include "web/admin/pages_billing.h"
#include "web/admin/pages_emails.h"
#include "web/admin/pages_events.h"
#include "web/admin/pages_credit.h"
#include "web/admin/pages_invoices.h"
#include "web/admin/pages_lifecycle.h"
#include "web/admin/pages_reports.h"
#include "web/admin/pages_services.h"
#include "web/admin/pages_settings.h"
#include "web/admin/pages_tax.h"
#include "web/admin/routes_pages.h"

const struct web_route web_admin_routes[] = {
    {"GET", "/static/{name}", WEB_AUTH_PUBLIC, p_static},
    {"GET", "/admin/login", WEB_AUTH_PUBLIC, p_login_form},
    {"POST", "/admin/login", WEB_AUTH_PUBLIC, p_login},
    {"POST", "/admin/logout", WEB_AUTH_PUBLIC, p_logout},
    {"GET", "/admin/servers", WEB_AUTH_PUBLIC, p_servers_list},
    {"GET", "/admin/servers/new", WEB_AUTH_PUBLIC, p_servers_new},
    {"POST", "/admin/servers", WEB_AUTH_PUBLIC, p_servers_create},
    {"GET", "/admin/servers/{id}/edit", WEB_AUTH_PUBLIC, p_servers_edit},
    {"POST", "/admin/servers/{id}", WEB_AUTH_PUBLIC, p_servers_update},
    {"POST", "/admin/servers/{id}/test", WEB_AUTH_PUBLIC, p_servers_test},
    {"POST", "/admin/servers/{id}/delete", WEB_AUTH_PUBLIC, p_servers_delete},
    {"POST", "/admin/servers/{id}/activate", WEB_AUTH_PUBLIC, p_servers_activate},
    {"POST", "/admin/servers/{id}/deactivate", WEB_AUTH_PUBLIC, p_servers_deactivate},
    {"GET", "/admin/audit-logs", WEB_AUTH_PUBLIC, p_audit_list},
    {"GET", "/admin/audit-logs/{id}", WEB_AUTH_PUBLIC, p_audit_detail},
    {"GET", "/admin/login/code", WEB_AUTH_PUBLIC, p_login_code_form},
    {"POST", "/admin/login/code", WEB_AUTH_PUBLIC, p_login_code},
    {"GET", "/admin/account", WEB_AUTH_PUBLIC, p_account_show},
    {"POST", "/admin/account/totp", WEB_AUTH_PUBLIC, p_account_totp_begin},
    {"GET", "/admin/account/totp", WEB_AUTH_PUBLIC, p_account_totp_setup},
    {"POST", "/admin/account/totp/confirm", WEB_AUTH_PUBLIC, p_account_totp_confirm},
    {"POST", "/admin/account/totp/disable", WEB_AUTH_PUBLIC, p_account_totp_disable},
    {"GET", "/admin/clients", WEB_AUTH_PUBLIC, p_clients_list},
    {"GET", "/admin/clients/new", WEB_AUTH_PUBLIC, p_clients_new},
    {"POST", "/admin/clients", WEB_AUTH_PUBLIC, p_clients_create},
    {"GET", "/admin/clients/{id}", WEB_AUTH_PUBLIC, p_clients_detail},
    {"GET", "/admin/clients/{id}/edit", WEB_AUTH_PUBLIC, p_clients_edit},
    {"POST", "/admin/clients/{id}", WEB_AUTH_PUBLIC, p_clients_update},
    /* Client accounts (issue 13): the verification by hand. */
    {"POST", "/admin/clients/{id}/verify", WEB_AUTH_PUBLIC, p_clients_mark_verified},
    {"POST", "/admin/clients/{id}/resend-verification", WEB_AUTH_PUBLIC,
     p_clients_resend_verification},
    {"GET", "/admin/products", WEB_AUTH_PUBLIC, p_products_list},
    {"GET", "/admin/products/new", WEB_AUTH_PUBLIC, p_products_new},
    {"POST", "/admin/products", WEB_AUTH_PUBLIC, p_products_create},
    {"GET", "/admin/products/{id}/edit", WEB_AUTH_PUBLIC, p_products_edit},
    {"POST", "/admin/products/{id}", WEB_AUTH_PUBLIC, p_products_update},
    {"POST", "/admin/products/{id}/delete", WEB_AUTH_PUBLIC, p_products_delete},
    {"GET", "/admin", WEB_AUTH_PUBLIC, p_dashboard},
    {"GET", "/admin/invoices", WEB_AUTH_PUBLIC, p_invoices_list},
    {"GET", "/admin/invoices/new", WEB_AUTH_PUBLIC, p_invoices_new},
    {"POST", "/admin/invoices", WEB_AUTH_PUBLIC, p_invoices_create},
    {"GET", "/admin/invoices/{id}", WEB_AUTH_PUBLIC, p_invoices_detail},
    {"POST", "/admin/invoices/{id}/payments", WEB_AUTH_PUBLIC, p_invoices_pay},
    {"POST", "/admin/invoices/{id}/cancel", WEB_AUTH_PUBLIC, p_invoices_cancel},
    /* Reports (issue 14) */
    {"GET", "/admin/reports", WEB_AUTH_PUBLIC, p_reports},
    {"GET", "/admin/services", WEB_AUTH_PUBLIC, p_services_list},
    {"GET", "/admin/services/new", WEB_AUTH_PUBLIC, p_services_new},
    {"POST", "/admin/services", WEB_AUTH_PUBLIC, p_services_create},
    {"GET", "/admin/services/{id}", WEB_AUTH_PUBLIC, p_services_detail},
    {"POST", "/admin/services/{id}/provision", WEB_AUTH_PUBLIC, p_services_provision},
    {"POST", "/admin/services/{id}/suspend", WEB_AUTH_PUBLIC, p_services_suspend},
    {"POST", "/admin/services/{id}/unsuspend", WEB_AUTH_PUBLIC, p_services_unsuspend},
    {"POST", "/admin/services/{id}/terminate", WEB_AUTH_PUBLIC, p_services_terminate},
    {"POST", "/admin/services/{id}/retry", WEB_AUTH_PUBLIC, p_services_retry},
    {"GET", "/admin/jobs", WEB_AUTH_PUBLIC, p_jobs_list},
    {"GET", "/admin/webhook-events", WEB_AUTH_PUBLIC, p_webhook_events_list},
    {"GET", "/admin/webhook-events/{id}", WEB_AUTH_PUBLIC, p_webhook_event},
    {"GET", "/admin/emails", WEB_AUTH_PUBLIC, p_emails_list},
    {"GET", "/admin/emails/{id}", WEB_AUTH_PUBLIC, p_email_detail},
    {"GET", "/admin/emails/{id}/html", WEB_AUTH_PUBLIC, p_email_html},
    {"POST", "/admin/emails/{id}/resend", WEB_AUTH_PUBLIC, p_email_resend},
    {"GET", "/admin/settings", WEB_AUTH_PUBLIC, p_settings_show},
    {"POST", "/admin/settings", WEB_AUTH_PUBLIC, p_settings_save},

    /* Cancellation queue (issue 13, p_cancellations.c) */
    {"GET", "/admin/cancellations", WEB_AUTH_PUBLIC, p_cancellations_list},
    {"POST", "/admin/cancellations/{id}/reject", WEB_AUTH_PUBLIC, p_cancellations_reject},

    /* Tax and VAT (issue 14, p_tax_rules.c) */
    {"GET", "/admin/tax-rules", WEB_AUTH_PUBLIC, p_tax_rules_list},
    {"POST", "/admin/tax-rules", WEB_AUTH_PUBLIC, p_tax_rules_create},
    {"GET", "/admin/tax-rules/{id}/edit", WEB_AUTH_PUBLIC, p_tax_rules_edit},
    {"POST", "/admin/tax-rules/{id}", WEB_AUTH_PUBLIC, p_tax_rules_update},
    {"POST", "/admin/tax-rules/{id}/delete", WEB_AUTH_PUBLIC, p_tax_rules_delete},
    /* Outgoing events (issue 16, events: p_webhooks.c) */
    {"GET", "/admin/webhooks", WEB_AUTH_PUBLIC, p_webhooks_list},
    {"POST", "/admin/webhooks", WEB_AUTH_PUBLIC, p_webhooks_create},
    {"GET", "/admin/webhooks/{id}", WEB_AUTH_PUBLIC, p_webhook_endpoint},
    {"POST", "/admin/webhooks/{id}", WEB_AUTH_PUBLIC, p_webhooks_update},
    {"POST", "/admin/webhooks/{id}/delete", WEB_AUTH_PUBLIC, p_webhooks_delete},
    {"POST", "/admin/webhooks/{id}/test", WEB_AUTH_PUBLIC, p_webhooks_test},
    /* Credit balance and coupons (issue 14, p_credit.c) */
    {"POST", "/admin/clients/{id}/credit", WEB_AUTH_PUBLIC, p_clients_credit},
    {"POST", "/admin/invoices/{id}/apply-credit", WEB_AUTH_PUBLIC, p_invoices_apply_credit},
    {"GET", "/admin/coupons", WEB_AUTH_PUBLIC, p_coupons_list},
    {"POST", "/admin/coupons", WEB_AUTH_PUBLIC, p_coupons_create},
    {"POST", "/admin/coupons/{id}/deactivate", WEB_AUTH_PUBLIC, p_coupons_deactivate},
    {"POST", "/admin/coupons/{id}/delete", WEB_AUTH_PUBLIC, p_coupons_delete},
    /* Credit notes (issue 14, company: p_credit_notes.c) */
    {"POST", "/admin/invoices/{id}/credit-notes", WEB_AUTH_PUBLIC, p_invoices_credit_note},

    {NULL, NULL, WEB_AUTH_PUBLIC, NULL},
};
