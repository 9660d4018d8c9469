/*
 * h_reports.c — GET /api/admin/reports?month=YYYY-MM[&format=csv] (issue 14):
 * the monthly report of billing/reports.h as JSON, or its CSV export.
 */
#include "billing/reports.h"
#include "core/str.h"
#include "web/api/api.h"
#include "web/http.h"

#define REPORT_CSV_MAX (4u << 20)

void h_reports_reply_csv(struct web_resp *resp, const json_t *report)
{
    struct lumi_err err = {0};
    struct buf csv;
    char disposition[96];
    buf_init(&csv, REPORT_CSV_MAX);
    if (reports_month_csv(report, &csv, &err) != 0) {
        web_reply_err(resp, &err);
    } else {
        snprintf(disposition, sizeof disposition, "attachment; filename=\"lumi-report-%s.csv\"",
                 json_string_value(json_object_get(report, "month")));
        web_reply_text(resp, 200, "text/csv; charset=utf-8; header=present", buf_cstr(&csv),
                       csv.len);
        web_add_header(resp, "Content-Disposition", disposition);
    }
    buf_free(&csv);
}

void h_reports_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    const char *format = web_query(req, "format");
    if (str_present(format) && !str_eq(format, "json") && !str_eq(format, "csv")) {
        web_reply_error(resp, 400, "invalid_request", "format must be json or csv");
        return;
    }
    json_t *report = reports_month(req->db, web_query(req, "month"), &err);
    if (report == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    if (str_eq(format, "csv")) {
        h_reports_reply_csv(resp, report);
        json_decref(report);
        return;
    }
    web_reply_json(resp, 200, report);
}
