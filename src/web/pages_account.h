/*
 * pages_account.h — handlers of the admin's own account: second factor (TOTP) and recovery codes (p_account.c),
 * named by routes_pages_account.inc.
 */
#ifndef LUMI_WEB_PAGES_ACCOUNT_H
#define LUMI_WEB_PAGES_ACCOUNT_H

#include "web/http.h"

#endif
