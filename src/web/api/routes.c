/*
 * routes.c — the JSON API's routes (method, pattern, auth, handler, staff roles).
 */
#include "web/api/api.h"
#include "web/api/h_lifecycle.h"
#include "web/api/h_events.h"

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

const struct web_route web_api_routes[] = {
    {"GET", "/healthz", WEB_AUTH_PUBLIC, h_healthz},

    {"POST", "/api/admin/login", WEB_AUTH_PUBLIC, h_admin_login},
    {"POST", "/api/admin/logout", WEB_AUTH_ADMIN, h_admin_logout, STAFF},
    {"GET", "/api/admin/me", WEB_AUTH_ADMIN, h_admin_me, STAFF},

    {"GET", "/api/admin/audit-logs", WEB_AUTH_ADMIN, h_audit_list},

    {"GET", "/api/admin/clients", WEB_AUTH_ADMIN, h_clients_list, STAFF},
    {"POST", "/api/admin/clients", WEB_AUTH_ADMIN, h_clients_create, BILLING},
    {"GET", "/api/admin/clients/{id}", WEB_AUTH_ADMIN, h_clients_get, STAFF},
    {"PATCH", "/api/admin/clients/{id}", WEB_AUTH_ADMIN, h_clients_update, BILLING},

    {"GET", "/api/admin/products", WEB_AUTH_ADMIN, h_products_list, STAFF},
    {"POST", "/api/admin/products", WEB_AUTH_ADMIN, h_products_create},
    {"GET", "/api/admin/products/{id}", WEB_AUTH_ADMIN, h_products_get, STAFF},
    {"PATCH", "/api/admin/products/{id}", WEB_AUTH_ADMIN, h_products_update},
    {"DELETE", "/api/admin/products/{id}", WEB_AUTH_ADMIN, h_products_delete},

    {"GET", "/api/admin/servers", WEB_AUTH_ADMIN, h_servers_list, STAFF},
    {"POST", "/api/admin/servers", WEB_AUTH_ADMIN, h_servers_create},
    {"POST", "/api/admin/servers/test", WEB_AUTH_ADMIN, h_servers_test_unsaved},
    {"GET", "/api/admin/servers/{id}", WEB_AUTH_ADMIN, h_servers_get, STAFF},
    {"PATCH", "/api/admin/servers/{id}", WEB_AUTH_ADMIN, h_servers_update},
    {"DELETE", "/api/admin/servers/{id}", WEB_AUTH_ADMIN, h_servers_delete},
    {"POST", "/api/admin/servers/{id}/test", WEB_AUTH_ADMIN, h_servers_test, SUPPORT},

    {"GET", "/api/admin/services", WEB_AUTH_ADMIN, h_services_list, STAFF},
    {"POST", "/api/admin/services", WEB_AUTH_ADMIN, h_services_create, BILLING},
    {"GET", "/api/admin/services/{id}", WEB_AUTH_ADMIN, h_services_get, STAFF},
    {"POST", "/api/admin/services/{id}/provision", WEB_AUTH_ADMIN, h_services_provision, SUPPORT},
    {"POST", "/api/admin/services/{id}/suspend", WEB_AUTH_ADMIN, h_services_suspend,
     BILLING | SUPPORT},
    {"POST", "/api/admin/services/{id}/unsuspend", WEB_AUTH_ADMIN, h_services_unsuspend,
     BILLING | SUPPORT},
    {"POST", "/api/admin/services/{id}/terminate", WEB_AUTH_ADMIN, h_services_terminate},
    {"POST", "/api/admin/services/{id}/retry", WEB_AUTH_ADMIN, h_services_retry, SUPPORT},
    {"GET", "/api/admin/invoices", WEB_AUTH_ADMIN, h_invoices_list, STAFF},
    {"POST", "/api/admin/invoices", WEB_AUTH_ADMIN, h_invoices_create, BILLING},
    {"GET", "/api/admin/invoices/{id}", WEB_AUTH_ADMIN, h_invoices_get, STAFF},
    {"POST", "/api/admin/invoices/{id}/payments", WEB_AUTH_ADMIN, h_invoices_pay, BILLING},
    {"POST", "/api/admin/invoices/{id}/cancel", WEB_AUTH_ADMIN, h_invoices_cancel, BILLING},

    {"GET", "/api/admin/emails", WEB_AUTH_ADMIN, h_emails_list, BILLING | SUPPORT},
    {"GET", "/api/admin/emails/{id}", WEB_AUTH_ADMIN, h_emails_get, BILLING | SUPPORT},
    {"POST", "/api/admin/emails/{id}/resend", WEB_AUTH_ADMIN, h_emails_resend, BILLING | SUPPORT},

    {"GET", "/api/admin/jobs", WEB_AUTH_ADMIN, h_jobs_list, STAFF},
    {"GET", "/api/admin/jobs/{id}", WEB_AUTH_ADMIN, h_jobs_get, STAFF},

    {"POST", "/api/stripe/checkout", WEB_AUTH_USER, h_stripe_checkout, BILLING},
    {"POST", "/api/stripe/webhook", WEB_AUTH_PUBLIC_INLINE, h_stripe_webhook},
    {"POST", "/api/paypal/checkout", WEB_AUTH_USER, h_paypal_checkout, BILLING},
    {"GET", "/api/paypal/capture", WEB_AUTH_PUBLIC, h_paypal_capture},
    {"POST", "/api/paypal/webhook", WEB_AUTH_PUBLIC, h_paypal_webhook},
    {"GET", "/api/admin/webhook-events", WEB_AUTH_ADMIN, h_webhook_events_list, BILLING},
    {"GET", "/api/admin/webhook-events/{id}", WEB_AUTH_ADMIN, h_webhook_events_get, BILLING},

    /* PDF documents (issue 14) */
    {"GET", "/api/admin/invoices/{id}/pdf", WEB_AUTH_ADMIN, h_invoices_pdf, STAFF},
    {"GET", "/api/admin/credit-notes/{id}/pdf", WEB_AUTH_ADMIN, h_credit_notes_pdf, STAFF},
    {"GET", "/api/admin/reports", WEB_AUTH_ADMIN, h_reports_get, BILLING | READONLY},

    {"GET", "/api/admin/settings", WEB_AUTH_ADMIN, h_settings_get},
    {"PATCH", "/api/admin/settings", WEB_AUTH_ADMIN, h_settings_update},

    /* Client accounts (issue 13): sign-up, verification, reset, login, profile, TOTP. */
    {"POST", "/api/client/signup", WEB_AUTH_PUBLIC, h_client_signup},
    {"POST", "/api/client/verify", WEB_AUTH_PUBLIC, h_client_verify},
    {"POST", "/api/client/verify/resend", WEB_AUTH_USER, h_client_verify_resend},
    {"POST", "/api/client/password-reset", WEB_AUTH_PUBLIC, h_client_reset_request},
    {"POST", "/api/client/password-reset/confirm", WEB_AUTH_PUBLIC, h_client_reset_confirm},
    {"POST", "/api/client/login", WEB_AUTH_PUBLIC, h_client_login},
    {"POST", "/api/client/logout", WEB_AUTH_USER, h_client_logout},
    {"GET", "/api/client/profile", WEB_AUTH_USER, h_client_profile_get},
    {"PATCH", "/api/client/profile", WEB_AUTH_USER, h_client_profile_update},
    {"POST", "/api/client/password", WEB_AUTH_USER, h_client_password},
    {"GET", "/api/client/totp", WEB_AUTH_USER, h_client_totp_get},
    {"POST", "/api/client/totp", WEB_AUTH_USER, h_client_totp_begin},
    {"POST", "/api/client/totp/confirm", WEB_AUTH_USER, h_client_totp_confirm},
    {"POST", "/api/client/totp/disable", WEB_AUTH_USER, h_client_totp_disable},
    {"POST", "/api/admin/clients/{id}/verify", WEB_AUTH_ADMIN, h_admin_client_verify,
     BILLING | SUPPORT},
    {"POST", "/api/admin/clients/{id}/resend-verification", WEB_AUTH_ADMIN,
     h_admin_client_resend_verification, BILLING | SUPPORT},

    /* Self-service on a service (issue 13): the client's own services and actions. */
    {"GET", "/api/client/services", WEB_AUTH_USER, h_client_services_list},
    {"GET", "/api/client/services/{id}", WEB_AUTH_USER, h_client_services_get},
    {"GET", "/api/client/services/{id}/login", WEB_AUTH_USER, h_client_services_login},
    {"POST", "/api/client/services/{id}/password", WEB_AUTH_USER, h_client_services_password},
    {"POST", "/api/client/services/{id}/password/reveal", WEB_AUTH_USER,
     h_client_services_password_reveal},
    {"POST", "/api/client/services/{id}/power", WEB_AUTH_USER, h_client_services_power},

    /* The store and ordering (issue 13) */
    {"GET", "/api/store/products", WEB_AUTH_PUBLIC, h_store_products},
    {"POST", "/api/client/orders", WEB_AUTH_USER, h_client_orders_create},
    {"GET", "/api/client/invoices", WEB_AUTH_USER, h_client_invoices_list},
    {"GET", "/api/client/invoices/{id}", WEB_AUTH_USER, h_client_invoices_get},

    /* Cancellation requests and upgrades/downgrades (issue 13, h_lifecycle.c) */
    {"GET", "/api/client/services/{id}/cancel", WEB_AUTH_USER, h_client_cancel_get},
    {"POST", "/api/client/services/{id}/cancel", WEB_AUTH_USER, h_client_cancel_request},
    {"DELETE", "/api/client/services/{id}/cancel", WEB_AUTH_USER, h_client_cancel_withdraw},
    {"GET", "/api/client/services/{id}/upgrade", WEB_AUTH_USER, h_client_upgrade_options},
    {"POST", "/api/client/services/{id}/upgrade", WEB_AUTH_USER, h_client_upgrade_request},
    {"DELETE", "/api/client/services/{id}/upgrade", WEB_AUTH_USER, h_client_upgrade_withdraw},
    {"GET", "/api/admin/cancellations", WEB_AUTH_ADMIN, h_admin_cancellations_list, STAFF},
    {"POST", "/api/admin/cancellations/{id}/reject", WEB_AUTH_ADMIN, h_admin_cancellations_reject,
     BILLING | SUPPORT},

    /* Tax and VAT (issue 14, h_tax_rules.c) */
    {"GET", "/api/admin/tax-rules", WEB_AUTH_ADMIN, h_tax_rules_list, STAFF},
    {"POST", "/api/admin/tax-rules", WEB_AUTH_ADMIN, h_tax_rules_create, BILLING},
    {"GET", "/api/admin/tax-rules/{id}", WEB_AUTH_ADMIN, h_tax_rules_get, STAFF},
    {"PATCH", "/api/admin/tax-rules/{id}", WEB_AUTH_ADMIN, h_tax_rules_update, BILLING},
    {"DELETE", "/api/admin/tax-rules/{id}", WEB_AUTH_ADMIN, h_tax_rules_delete, BILLING},
    /* Credit balance (issue 14, h_credit.c) */
    {"GET", "/api/admin/clients/{id}/credit", WEB_AUTH_ADMIN, h_admin_credit_get, STAFF},
    {"POST", "/api/admin/clients/{id}/credit", WEB_AUTH_ADMIN, h_admin_credit_adjust, BILLING},
    {"POST", "/api/admin/invoices/{id}/apply-credit", WEB_AUTH_ADMIN, h_admin_invoices_apply_credit,
     BILLING},
    {"POST", "/api/client/invoices/{id}/apply-credit", WEB_AUTH_USER,
     h_client_invoices_apply_credit},
    {"GET", "/api/client/credit", WEB_AUTH_USER, h_client_credit_get},
    {"POST", "/api/client/credit/add-funds", WEB_AUTH_USER, h_client_credit_add_funds},

    /* Coupons (issue 14, h_coupons.c) */
    {"GET", "/api/admin/coupons", WEB_AUTH_ADMIN, h_coupons_list, STAFF},
    {"POST", "/api/admin/coupons", WEB_AUTH_ADMIN, h_coupons_create, BILLING},
    {"GET", "/api/admin/coupons/{id}", WEB_AUTH_ADMIN, h_coupons_get, STAFF},
    {"PATCH", "/api/admin/coupons/{id}", WEB_AUTH_ADMIN, h_coupons_update, BILLING},
    {"DELETE", "/api/admin/coupons/{id}", WEB_AUTH_ADMIN, h_coupons_delete, BILLING},
    /* Credit notes (issue 14, company: h_credit_notes.c) */
    {"POST", "/api/admin/invoices/{id}/credit-notes", WEB_AUTH_ADMIN, h_credit_notes_create,
     BILLING},
    {"GET", "/api/admin/credit-notes", WEB_AUTH_ADMIN, h_credit_notes_list, STAFF},
    {"GET", "/api/admin/credit-notes/{id}", WEB_AUTH_ADMIN, h_credit_notes_get, STAFF},
    /* Server status for admins (issue 17: /healthz says only ok) */
    {"GET", "/api/admin/status", WEB_AUTH_ADMIN, h_admin_status, STAFF},
    /* Staff roles and API tokens (issues 16 and 17, h_staff.c): admins only. */
    {"GET", "/api/admin/staff", WEB_AUTH_ADMIN, h_staff_list},
    {"POST", "/api/admin/staff", WEB_AUTH_ADMIN, h_staff_create},
    {"PATCH", "/api/admin/staff/{id}", WEB_AUTH_ADMIN, h_staff_update},
    {"GET", "/api/admin/tokens", WEB_AUTH_ADMIN, h_tokens_list},
    {"POST", "/api/admin/tokens", WEB_AUTH_ADMIN, h_tokens_create},
    {"GET", "/api/admin/tokens/{id}", WEB_AUTH_ADMIN, h_tokens_get},
    {"POST", "/api/admin/tokens/{id}/revoke", WEB_AUTH_ADMIN, h_tokens_revoke},
    {"DELETE", "/api/admin/tokens/{id}", WEB_AUTH_ADMIN, h_tokens_revoke},
    /* Operations (metrics): Prometheus scrape; LUMI_METRICS_TOKEN checked by the handler */
    {"GET", "/metrics", WEB_AUTH_PUBLIC, h_metrics},
    /* Outgoing events (issue 16, events: h_events.c) */
    {"GET", "/api/admin/webhook-endpoints", WEB_AUTH_ADMIN, h_webhook_endpoints_list},
    {"POST", "/api/admin/webhook-endpoints", WEB_AUTH_ADMIN, h_webhook_endpoints_create},
    {"GET", "/api/admin/webhook-endpoints/{id}", WEB_AUTH_ADMIN, h_webhook_endpoints_get},
    {"PATCH", "/api/admin/webhook-endpoints/{id}", WEB_AUTH_ADMIN, h_webhook_endpoints_update},
    {"DELETE", "/api/admin/webhook-endpoints/{id}", WEB_AUTH_ADMIN, h_webhook_endpoints_delete},
    {"GET", "/api/admin/webhook-endpoints/{id}/deliveries", WEB_AUTH_ADMIN,
     h_webhook_endpoints_deliveries},
    {"POST", "/api/admin/webhook-endpoints/{id}/test", WEB_AUTH_ADMIN, h_webhook_endpoints_test},

    {NULL, NULL, WEB_AUTH_PUBLIC, NULL},
};
