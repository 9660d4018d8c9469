/*
 * p_dashboard.c — GET /admin: the dashboard. The figures are
 * stats_dashboard's (src/billing/stats.c); this file only lays them out:
 * money as "12.50 USD" per currency (never summed across currencies),
 * services by status, the newest failed jobs, and an inline SVG bar chart of
 * the last STATS_DAYS days of payments, one chart per currency.
 *
 * The chart is not HTML built here: this file computes integer coordinates
 * (integer arithmetic only, no floats) and the template writes the SVG
 * elements with those numbers and escaped tooltip text. It uses SVG
 * presentation attributes only (fill, width, height), since the CSP forbids
 * inline style attributes and inline script.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/stats.h"
#include "core/config.h"
#include "core/json.h"
#include "core/money.h"
#include "core/utc.h"
#include "mail/outbox.h"
#include "web/page.h"
#include "web/admin/pages_invoices.h"

/* Chart geometry in SVG user units (pixels): one slot per day. */
#define SLOT_W 20
#define BAR_W 16
#define PLOT_H 100
#define PLOT_TOP 4
#define CHART_W (STATS_DAYS * SLOT_W)
#define CHART_H (PLOT_TOP + PLOT_H)
#define TEXT_MAX 80

/* One colour per currency chart, in order. */
static const char *const PALETTE[] = {"#2f6fde", "#1e8e4f", "#c2731a", "#8a4bd1", "#c23b5a"};

static const char *const SERVICE_STATUSES[] = {
    "pending", "provisioning", "active", "suspended", "terminated", "failed", "cancelled", NULL};

/* [{text, count}] from stats' [{currency, amount, count?}]. */
static json_t *money_list(const json_t *list)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char text[TEXT_MAX];
        money_format_text(json_integer_value(json_object_get(e, "amount")),
                        json_string_value(json_object_get(e, "currency")), text, sizeof text);
        if (json_is_true(json_object_get(e, "overflow"))) /* issue 17, finding 10 */
            snprintf(text, sizeof text, "%s: too large to add up",
                     json_string_value(json_object_get(e, "currency")));
        int64_t count = json_integer_value(json_object_get(e, "count"));
        json_array_append_new(out, json_pack("{s:s, s:I, s:b}", "text", text, "count",
                                             (json_int_t)count, "plural", count != 1));
    }
    return out;
}

/*
 * Bar height in 0..PLOT_H for amount on a scale whose top is max, in integer
 * arithmetic: amount * PLOT_H / max when that cannot overflow, else with the
 * scale divided first. A day with any payment gets at least 1 unit.
 */
static int64_t bar_height(int64_t amount, int64_t max)
{
    int64_t h;
    if (amount <= 0 || max <= 0)
        return 0;
    if (max <= INT64_MAX / PLOT_H)
        h = amount * PLOT_H / max;
    else
        h = amount / (max / PLOT_H);
    if (h < 1)
        h = 1;
    return h > PLOT_H ? PLOT_H : h;
}

/* The view of one currency's series: geometry and tooltips of every day. */
static json_t *chart_view(const json_t *series, const json_t *days, size_t index)
{
    const char *cur = json_string_value(json_object_get(series, "currency"));
    const json_t *amounts = json_object_get(series, "amounts");
    int64_t max = json_integer_value(json_object_get(series, "max"));
    char total[TEXT_MAX], top[TEXT_MAX], label[8] = "";
    money_format_text(json_integer_value(json_object_get(series, "total")), cur, total, sizeof total);
    money_format_text(max, cur, top, sizeof top);
    for (size_t i = 0; cur != NULL && i < 3 && cur[i] != '\0'; i++) {
        label[i] = cur[i] >= 'a' && cur[i] <= 'z' ? (char)(cur[i] - 'a' + 'A') : cur[i];
        label[i + 1] = '\0';
    }
    json_t *bars = json_array();
    for (size_t d = 0; d < json_array_size(days); d++) {
        const char *day = json_string_value(json_array_get(days, d));
        int64_t amount = json_integer_value(json_array_get(amounts, d));
        int64_t h = bar_height(amount, max);
        char money[TEXT_MAX], tip[TEXT_MAX + 16];
        money_format_text(amount, cur, money, sizeof money);
        snprintf(tip, sizeof tip, "%s: %s", day != NULL ? day : "", money);
        json_array_append_new(bars, json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "day",
                                              day != NULL ? day : "", "tip", tip, "x",
                                              (json_int_t)(d * SLOT_W + (SLOT_W - BAR_W) / 2), "y",
                                              (json_int_t)(PLOT_TOP + PLOT_H - h), "h",
                                              (json_int_t)h, "has_bar", h > 0));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:i, s:i, s:i}", "currency", label,
                     "total_text", total, "max_text", top, "fill",
                     PALETTE[index % (sizeof PALETTE / sizeof PALETTE[0])], "bars", bars, "width",
                     CHART_W, "height", CHART_H, "bar_w", BAR_W, "plot_top", PLOT_TOP, "plot_h",
                     PLOT_H);
}

/* The template's data from stats_dashboard's answer (borrowed). */
static json_t *dashboard_view(const json_t *s)
{
    json_t *services = json_array();
    const json_t *counts = json_object_get(s, "services");
    for (size_t i = 0; SERVICE_STATUSES[i] != NULL; i++)
        json_array_append_new(
            services, json_pack("{s:s, s:I}", "status", SERVICE_STATUSES[i], "count",
                                json_integer_value(json_object_get(counts, SERVICE_STATUSES[i]))));
    const json_t *daily = json_object_get(s, "payments_daily");
    const json_t *days = json_object_get(daily, "days");
    json_t *charts = json_array();
    size_t i;
    json_t *series;
    json_array_foreach(json_object_get(daily, "series"), i, series)
        json_array_append_new(charts, chart_view(series, days, i));
    const json_t *jobs = json_object_get(s, "failed_jobs");
    const char *first = json_string_value(json_array_get(days, 0));
    const char *last = json_string_value(json_array_get(days, json_array_size(days) - 1));
    return json_pack(
        "{s:s, s:O, s:O, s:o, s:o, s:o, s:o, s:O, s:O, s:O, s:o, s:s, s:s}", "title", "Dashboard",
        "month", json_object_get(s, "month"), "as_of", json_object_get(s, "as_of"), "revenue",
        money_list(json_object_get(s, "revenue_month")), "unpaid",
        money_list(json_object_get(s, "unpaid")), "overdue",
        money_list(json_object_get(s, "overdue")), "services", services, "services_total",
        json_object_get(s, "services_total"), "failed_count", json_object_get(jobs, "count"),
        "failed_jobs", json_object_get(jobs, "latest"), "charts", charts, "first_day",
        first != NULL ? first : "", "last_day", last != NULL ? last : "");
}

void p_dashboard(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "dashboard";
    json_t *s = stats_dashboard(req->db, utc_now(), &err);
    if (s == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_t *data = dashboard_view(s);
    json_decref(s);
    json_t *mail = outbox_counts(req->db, &err);
    if (data == NULL || mail == NULL) {
        json_decref(data);
        json_decref(mail);
        page_error(req, resp, mail == NULL ? err_http_status(err.code) : 500, &ctx,
                   mail == NULL ? err.msg : "out of memory");
        return;
    }
    jsonx_set_bool(mail, "configured", config_has("SMTP_HOST"));
    json_object_set_new(data, "mail", mail);
    page_render(req, resp, 200, &ctx, "dashboard.html", data);
}
