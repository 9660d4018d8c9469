/*
 * p_reports.c — GET /admin/reports?month=YYYY-MM[&format=csv] (issue 14):
 * the monthly report (billing/reports.h, the same as GET /api/admin/reports)
 * per currency, with a month picker and the CSV export.
 */
#include <inttypes.h>
#include <stdio.h>

#include "billing/reports.h"
#include "core/str.h"
#include "web/admin/pages_reports.h"
#include "web/api/api.h"
#include "web/page.h"

/* The amounts of one currency's row as text for the page. */
static void decorate(json_t *c)
{
    static const char *const KEYS[] = {"revenue", "refunds", "chargebacks", "net", "tax_total",
                                       "credit_notes", "credit_note_tax", "credit_balance"};
    const char *cur = json_string_value(json_object_get(c, "currency"));
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        page_add_money_text(c, KEYS[i], cur);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(c, "taxes"), i, t)
    {
        char rate[32];
        int64_t bp = json_integer_value(json_object_get(t, "rate_bp"));
        snprintf(rate, sizeof rate, "%" PRId64 ".%02" PRId64 " %%", bp / 100, bp % 100);
        json_object_set_new(t, "rate_text", json_string(rate));
        page_add_money_text(t, "base", cur);
        page_add_money_text(t, "amount", cur);
    }
}

void p_reports(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "reports";
    const char *month = web_query(req, "month");
    json_t *report = reports_month(req->db, month, &err);
    if (report == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    if (str_eq(web_query(req, "format"), "csv")) {
        h_reports_reply_csv(resp, report);
        json_decref(report);
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(report, "currencies"), i, c)
        decorate(c);
    json_object_set_new(report, "title", json_string("Reports"));
    page_render(req, resp, 200, &ctx, "reports.html", report);
}
