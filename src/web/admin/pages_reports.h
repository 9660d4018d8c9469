/*
 * pages_reports.h — the monthly report page (p_reports.c), listed in admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_REPORTS_H
#define LUMI_WEB_PAGES_REPORTS_H

#include "web/http.h"

/** GET /admin/reports?month=YYYY-MM: the month's figures per currency; &format=csv exports. */
void p_reports(struct web_req *req, struct web_resp *resp);

#endif
