/*
 * pages_invoices.h — handlers of the dashboard and the invoices pages (p_dashboard.c, p_invoices.c),
 * named by routes_pages_invoices.inc.
 */
#ifndef LUMI_WEB_PAGES_INVOICES_H
#define LUMI_WEB_PAGES_INVOICES_H

#include "web/http.h"

/* p_dashboard.c */
/** GET /admin: the dashboard. */
void p_dashboard(struct web_req *req, struct web_resp *resp);

#endif
