/*
 * routes.c — the admin pages' routes (method, pattern, auth, handler, roles);
 * every page checks its own session (page_require_admin), so the table says
 * PUBLIC; page_require_admin also holds the session's role against the
 * route's roles (issue 16).
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
#include "web/admin/pages_staff.h"
#include "web/admin/pages_tax.h"
#include "web/admin/routes_pages.h"

/*
 * Staff roles (issue 16): the last field of a route names the staff roles
 * besides admin that may call it. A route that names none is for admins
 * only — leaving the field out is a decision, not an oversight, hence the
 * pragma.
 */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STAFF WEB_ROLES_STAFF
#define BILLING WEB_ROLE_BILLING
#define SUPPORT WEB_ROLE_SUPPORT
#define READONLY WEB_ROLE_READONLY

const struct web_route web_admin_routes[] = {
    {"GET", "/static/{name}", WEB_AUTH_PUBLIC, p_static},
    {"GET", "/admin/login", WEB_AUTH_PUBLIC, p_login_form},
    {"POST", "/admin/login", WEB_AUTH_PUBLIC, p_login},
    {"POST", "/admin/logout", WEB_AUTH_PUBLIC, p_logout, STAFF},
    {"GET", "/admin/servers", WEB_AUTH_PUBLIC, p_servers_list, STAFF},
    {"GET", "/admin/servers/new", WEB_AUTH_PUBLIC, p_servers_new},
    {"POST", "/admin/servers", WEB_AUTH_PUBLIC, p_servers_create},
    {"GET", "/admin/servers/{id}/edit", WEB_AUTH_PUBLIC, p_servers_edit},
    {"POST", "/admin/servers/{id}", WEB_AUTH_PUBLIC, p_servers_update},
    {"POST", "/admin/servers/{id}/test", WEB_AUTH_PUBLIC, p_servers_test, SUPPORT},
    {"POST", "/admin/servers/{id}/delete", WEB_AUTH_PUBLIC, p_servers_delete},
    {"POST", "/admin/servers/{id}/activate", WEB_AUTH_PUBLIC, p_servers_activate},
    {"POST", "/admin/servers/{id}/deactivate", WEB_AUTH_PUBLIC, p_servers_deactivate},
    {"GET", "/admin/audit-logs", WEB_AUTH_PUBLIC, p_audit_list},
    {"GET", "/admin/audit-logs/{id}", WEB_AUTH_PUBLIC, p_audit_detail},
    {"GET", "/admin/login/code", WEB_AUTH_PUBLIC, p_login_code_form},
    {"POST", "/admin/login/code", WEB_AUTH_PUBLIC, p_login_code},
    {"GET", "/admin/account", WEB_AUTH_PUBLIC, p_account_show, STAFF},
    {"POST", "/admin/account/totp", WEB_AUTH_PUBLIC, p_account_totp_begin, STAFF},
    {"GET", "/admin/account/totp", WEB_AUTH_PUBLIC, p_account_totp_setup, STAFF},
    {"POST", "/admin/account/totp/confirm", WEB_AUTH_PUBLIC, p_account_totp_confirm, STAFF},
    {"POST", "/admin/account/totp/disable", WEB_AUTH_PUBLIC, p_account_totp_disable, STAFF},
    {"GET", "/admin/clients", WEB_AUTH_PUBLIC, p_clients_list, STAFF},
    {"GET", "/admin/clients/new", WEB_AUTH_PUBLIC, p_clients_new, BILLING},
    {"POST", "/admin/clients", WEB_AUTH_PUBLIC, p_clients_create, BILLING},
    {"GET", "/admin/clients/{id}", WEB_AUTH_PUBLIC, p_clients_detail, STAFF},
    {"GET", "/admin/clients/{id}/edit", WEB_AUTH_PUBLIC, p_clients_edit, BILLING},
    {"POST", "/admin/clients/{id}", WEB_AUTH_PUBLIC, p_clients_update, BILLING},
    /* Client accounts (issue 13): the verification by hand. */
    {"POST", "/admin/clients/{id}/verify", WEB_AUTH_PUBLIC, p_clients_mark_verified,
     BILLING | SUPPORT},
    {"POST", "/admin/clients/{id}/resend-verification", WEB_AUTH_PUBLIC,
     p_clients_resend_verification, BILLING | SUPPORT},
    {"GET", "/admin/products", WEB_AUTH_PUBLIC, p_products_list, STAFF},
    {"GET", "/admin/products/new", WEB_AUTH_PUBLIC, p_products_new},
    {"POST", "/admin/products", WEB_AUTH_PUBLIC, p_products_create},
    {"GET", "/admin/products/{id}/edit", WEB_AUTH_PUBLIC, p_products_edit},
    {"POST", "/admin/products/{id}", WEB_AUTH_PUBLIC, p_products_update},
    {"POST", "/admin/products/{id}/delete", WEB_AUTH_PUBLIC, p_products_delete},
    {"GET", "/admin", WEB_AUTH_PUBLIC, p_dashboard, STAFF},
    {"GET", "/admin/invoices", WEB_AUTH_PUBLIC, p_invoices_list, STAFF},
    {"GET", "/admin/invoices/new", WEB_AUTH_PUBLIC, p_invoices_new, BILLING},
    {"POST", "/admin/invoices", WEB_AUTH_PUBLIC, p_invoices_create, BILLING},
    {"GET", "/admin/invoices/{id}", WEB_AUTH_PUBLIC, p_invoices_detail, STAFF},
    {"POST", "/admin/invoices/{id}/payments", WEB_AUTH_PUBLIC, p_invoices_pay, BILLING},
    {"POST", "/admin/invoices/{id}/cancel", WEB_AUTH_PUBLIC, p_invoices_cancel, BILLING},
    /* Reports (issue 14) */
    {"GET", "/admin/reports", WEB_AUTH_PUBLIC, p_reports, BILLING | READONLY},
    {"GET", "/admin/services", WEB_AUTH_PUBLIC, p_services_list, STAFF},
    {"GET", "/admin/services/new", WEB_AUTH_PUBLIC, p_services_new, BILLING},
    {"POST", "/admin/services", WEB_AUTH_PUBLIC, p_services_create, BILLING},
    {"GET", "/admin/services/{id}", WEB_AUTH_PUBLIC, p_services_detail, STAFF},
    {"POST", "/admin/services/{id}/provision", WEB_AUTH_PUBLIC, p_services_provision, SUPPORT},
    {"POST", "/admin/services/{id}/suspend", WEB_AUTH_PUBLIC, p_services_suspend,
     BILLING | SUPPORT},
    {"POST", "/admin/services/{id}/unsuspend", WEB_AUTH_PUBLIC, p_services_unsuspend,
     BILLING | SUPPORT},
    {"POST", "/admin/services/{id}/terminate", WEB_AUTH_PUBLIC, p_services_terminate},
    {"POST", "/admin/services/{id}/retry", WEB_AUTH_PUBLIC, p_services_retry, SUPPORT},
    {"GET", "/admin/jobs", WEB_AUTH_PUBLIC, p_jobs_list, STAFF},
    {"GET", "/admin/webhook-events", WEB_AUTH_PUBLIC, p_webhook_events_list, BILLING},
    {"GET", "/admin/webhook-events/{id}", WEB_AUTH_PUBLIC, p_webhook_event, BILLING},
    {"GET", "/admin/emails", WEB_AUTH_PUBLIC, p_emails_list, BILLING | SUPPORT},
    {"GET", "/admin/emails/{id}", WEB_AUTH_PUBLIC, p_email_detail, BILLING | SUPPORT},
    {"GET", "/admin/emails/{id}/html", WEB_AUTH_PUBLIC, p_email_html, BILLING | SUPPORT},
    {"POST", "/admin/emails/{id}/resend", WEB_AUTH_PUBLIC, p_email_resend, BILLING | SUPPORT},
    {"GET", "/admin/settings", WEB_AUTH_PUBLIC, p_settings_show},
    {"POST", "/admin/settings", WEB_AUTH_PUBLIC, p_settings_save},

    /* Cancellation queue (issue 13, p_cancellations.c) */
    {"GET", "/admin/cancellations", WEB_AUTH_PUBLIC, p_cancellations_list, STAFF},
    {"POST", "/admin/cancellations/{id}/reject", WEB_AUTH_PUBLIC, p_cancellations_reject,
     BILLING | SUPPORT},

    /* Tax and VAT (issue 14, p_tax_rules.c) */
    {"GET", "/admin/tax-rules", WEB_AUTH_PUBLIC, p_tax_rules_list, STAFF},
    {"POST", "/admin/tax-rules", WEB_AUTH_PUBLIC, p_tax_rules_create, BILLING},
    {"GET", "/admin/tax-rules/{id}/edit", WEB_AUTH_PUBLIC, p_tax_rules_edit, BILLING},
    {"POST", "/admin/tax-rules/{id}", WEB_AUTH_PUBLIC, p_tax_rules_update, BILLING},
    {"POST", "/admin/tax-rules/{id}/delete", WEB_AUTH_PUBLIC, p_tax_rules_delete, BILLING},
    /* Outgoing events (issue 16, events: p_webhooks.c) */
    {"GET", "/admin/webhooks", WEB_AUTH_PUBLIC, p_webhooks_list},
    {"POST", "/admin/webhooks", WEB_AUTH_PUBLIC, p_webhooks_create},
    {"GET", "/admin/webhooks/{id}", WEB_AUTH_PUBLIC, p_webhook_endpoint},
    {"POST", "/admin/webhooks/{id}", WEB_AUTH_PUBLIC, p_webhooks_update},
    {"POST", "/admin/webhooks/{id}/delete", WEB_AUTH_PUBLIC, p_webhooks_delete},
    {"POST", "/admin/webhooks/{id}/test", WEB_AUTH_PUBLIC, p_webhooks_test},
    /* Credit balance and coupons (issue 14, p_credit.c) */
    {"POST", "/admin/clients/{id}/credit", WEB_AUTH_PUBLIC, p_clients_credit, BILLING},
    {"POST", "/admin/invoices/{id}/apply-credit", WEB_AUTH_PUBLIC, p_invoices_apply_credit,
     BILLING},
    {"GET", "/admin/coupons", WEB_AUTH_PUBLIC, p_coupons_list, STAFF},
    {"POST", "/admin/coupons", WEB_AUTH_PUBLIC, p_coupons_create, BILLING},
    {"POST", "/admin/coupons/{id}/deactivate", WEB_AUTH_PUBLIC, p_coupons_deactivate, BILLING},
    {"POST", "/admin/coupons/{id}/delete", WEB_AUTH_PUBLIC, p_coupons_delete, BILLING},
    /* Credit notes (issue 14, company: p_credit_notes.c) */
    {"POST", "/admin/invoices/{id}/credit-notes", WEB_AUTH_PUBLIC, p_invoices_credit_note, BILLING},
    /* Staff roles and API tokens (issues 16 and 17, p_staff.c): admins only. */
    {"GET", "/admin/staff", WEB_AUTH_PUBLIC, p_staff_list},
    {"POST", "/admin/staff", WEB_AUTH_PUBLIC, p_staff_create},
    {"POST", "/admin/staff/{id}/role", WEB_AUTH_PUBLIC, p_staff_role},
    {"POST", "/admin/staff/{id}/disable", WEB_AUTH_PUBLIC, p_staff_disable},
    {"POST", "/admin/staff/{id}/enable", WEB_AUTH_PUBLIC, p_staff_enable},
    {"GET", "/admin/tokens", WEB_AUTH_PUBLIC, p_tokens_list},
    {"POST", "/admin/tokens", WEB_AUTH_PUBLIC, p_tokens_create},
    {"POST", "/admin/tokens/{id}/revoke", WEB_AUTH_PUBLIC, p_tokens_revoke},

    {NULL, NULL, WEB_AUTH_PUBLIC, NULL},
};
