/*
 * p_dashboard.c — GET /admin: the dashboard.
 * Handlers run on the request's worker thread; no shared state.
 */
#include "web/page.h"
#include "web/pages_invoices.h"

void p_dashboard(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "dashboard";
    page_render(req, resp, 200, &ctx, "dashboard.html", json_pack("{s:s}", "title", "Dashboard"));
}
