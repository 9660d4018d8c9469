/*
 * routes.c — the client area's routes (method, pattern, auth, handler); every
 * page checks its own session (page_require_client), so the table says PUBLIC.
 */
#include "web/client/pages_credit.h"
#include "web/client/pages_client.h"
#include "web/client/pages_lifecycle.h"

/* Client pages: no staff roles (issue 16), so the roles field is left out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

const struct web_route web_client_routes[] = {
    {"GET", "/client/login", WEB_AUTH_PUBLIC, p_client_login_form},
    {"POST", "/client/login", WEB_AUTH_PUBLIC, p_client_login},
    {"POST", "/client/logout", WEB_AUTH_PUBLIC, p_client_logout},
    {"GET", "/client", WEB_AUTH_PUBLIC, p_client_home},
    {"GET", "/client/services", WEB_AUTH_PUBLIC, p_client_services},
    {"GET", "/client/services/{id}", WEB_AUTH_PUBLIC, p_client_service},
    {"GET", "/client/invoices", WEB_AUTH_PUBLIC, p_client_invoices},
    {"GET", "/client/invoices/{id}", WEB_AUTH_PUBLIC, h_client_invoice},
    /* PDF documents (issue 14) */
    {"GET", "/client/invoices/{id}/pdf", WEB_AUTH_PUBLIC, p_client_invoice_pdf},

    /* Client accounts (issue 13): sign-up, verification, reset, account, login code. */
    {"GET", "/client/signup", WEB_AUTH_PUBLIC, p_client_signup_form},
    {"POST", "/client/signup", WEB_AUTH_PUBLIC, p_client_signup},
    {"GET", "/client/verify", WEB_AUTH_PUBLIC, p_client_verify_form},
    {"POST", "/client/verify", WEB_AUTH_PUBLIC, p_client_verify},
    {"GET", "/client/password-reset", WEB_AUTH_PUBLIC, p_client_reset_form},
    {"POST", "/client/password-reset", WEB_AUTH_PUBLIC, p_client_reset},
    {"GET", "/client/password-reset/confirm", WEB_AUTH_PUBLIC, p_client_reset_confirm_form},
    {"POST", "/client/password-reset/confirm", WEB_AUTH_PUBLIC, p_client_reset_confirm},
    {"GET", "/client/account", WEB_AUTH_PUBLIC, p_client_account},
    {"POST", "/client/account/profile", WEB_AUTH_PUBLIC, p_client_account_profile},
    {"POST", "/client/account/password", WEB_AUTH_PUBLIC, p_client_account_password},
    {"POST", "/client/account/resend-verification", WEB_AUTH_PUBLIC, p_client_account_resend},
    {"POST", "/client/account/totp", WEB_AUTH_PUBLIC, p_client_account_totp_begin},
    {"POST", "/client/account/totp/confirm", WEB_AUTH_PUBLIC, p_client_account_totp_confirm},
    {"POST", "/client/account/totp/disable", WEB_AUTH_PUBLIC, p_client_account_totp_disable},
    {"POST", "/client/login/code", WEB_AUTH_PUBLIC, p_client_login_code},

    /* Self-service on a service (issue 13): sign-on, panel password, power. */
    {"POST", "/client/services/{id}/login", WEB_AUTH_PUBLIC, p_client_service_login},
    {"POST", "/client/services/{id}/password", WEB_AUTH_PUBLIC, p_client_service_password},
    {"POST", "/client/services/{id}/power", WEB_AUTH_PUBLIC, p_client_service_power},
    /* The store (issue 13) */
    {"GET", "/store", WEB_AUTH_PUBLIC, p_store},
    {"GET", "/store/products/{id}", WEB_AUTH_PUBLIC, p_store_product},
    {"POST", "/store/products/{id}/order", WEB_AUTH_PUBLIC, p_store_order},

    /* Cancellation requests and upgrades/downgrades (issue 13, p_lifecycle.c) */
    {"GET", "/client/services/{id}/cancel", WEB_AUTH_PUBLIC, p_client_cancel_form},
    {"POST", "/client/services/{id}/cancel", WEB_AUTH_PUBLIC, p_client_cancel},
    {"POST", "/client/services/{id}/cancel/withdraw", WEB_AUTH_PUBLIC, p_client_cancel_withdraw},
    {"GET", "/client/services/{id}/upgrade", WEB_AUTH_PUBLIC, p_client_upgrade_form},
    {"POST", "/client/services/{id}/upgrade", WEB_AUTH_PUBLIC, p_client_upgrade},
    {"POST", "/client/services/{id}/upgrade/withdraw", WEB_AUTH_PUBLIC, p_client_upgrade_withdraw},

    /* Credit balance (issue 14, p_credit.c) */
    {"GET", "/client/credit", WEB_AUTH_PUBLIC, p_client_credit},
    {"POST", "/client/credit/add-funds", WEB_AUTH_PUBLIC, p_client_credit_add_funds},
    {"POST", "/client/invoices/{id}/apply-credit", WEB_AUTH_PUBLIC, p_client_invoice_apply_credit},

    {NULL, NULL, WEB_AUTH_PUBLIC, NULL},
};
