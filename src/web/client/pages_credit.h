/*
 * pages_credit.h — the client area's credit pages (issue 14, p_credit.c),
 * listed in client/routes.c.
 */
#ifndef LUMI_WEB_CLIENT_PAGES_CREDIT_H
#define LUMI_WEB_CLIENT_PAGES_CREDIT_H

#include "web/http.h"

/** GET /client/credit: the client's balances, ledger and the add-funds form. */
void p_client_credit(struct web_req *req, struct web_resp *resp);
/** POST /client/credit/add-funds: an add-funds invoice (credit_add_funds), then its page. */
void p_client_credit_add_funds(struct web_req *req, struct web_resp *resp);
/** POST /client/invoices/{id}/apply-credit: pays the own invoice from credit. */
void p_client_invoice_apply_credit(struct web_req *req, struct web_resp *resp);

#endif
