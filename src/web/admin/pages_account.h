/*
 * pages_account.h — handlers of the admin's own account: second factor (TOTP) and recovery codes
 * (p_account.c), and the second step of the admin login (p_admin.c), named by
 * admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_ACCOUNT_H
#define LUMI_WEB_PAGES_ACCOUNT_H

#include "web/http.h"

/* p_admin.c */
/** GET /admin/login/code: no challenge to show without a password; 303 to /admin/login. */
void p_login_code_form(struct web_req *req, struct web_resp *resp);
/** POST /admin/login/code: the login challenge (cookie) and a code for a session, 303 to next. */
void p_login_code(struct web_req *req, struct web_resp *resp);

/* p_account.c */
/** GET /admin/account: the signed-in user's account and whether the second factor is on. */
void p_account_show(struct web_req *req, struct web_resp *resp);
/** POST /admin/account/totp: makes a new pending secret, 303 to the set-up page. */
void p_account_totp_begin(struct web_req *req, struct web_resp *resp);
/** GET /admin/account/totp: the pending secret and otpauth URI, and the confirm form. */
void p_account_totp_setup(struct web_req *req, struct web_resp *resp);
/** POST /admin/account/totp/confirm: a current code switches it on; shows the recovery codes once.
 */
void p_account_totp_confirm(struct web_req *req, struct web_resp *resp);
/** POST /admin/account/totp/disable: with the password or a code, switches it off. */
void p_account_totp_disable(struct web_req *req, struct web_resp *resp);

#endif
