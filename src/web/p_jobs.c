/*
 * p_jobs.c — /admin/jobs (the provisioning queue: what is waiting, running,
 * failed with which reason, done) and /admin/webhook-events (what Stripe and
 * PayPal delivered and what Lumi did with each).
 *
 * Read-only pages over jobs_list and webhooks_list, the functions behind
 * GET /api/admin/jobs and GET /api/admin/webhook-events, with the same
 * filters and keyset paging (newest first; ?cursor= is the last id seen).
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "billing/webhooks.h"
#include "core/str.h"
#include "provisioning/jobs.h"
#include "web/page.h"
#include "web/pages_services.h"

#define PAGE_SIZE 50

static const char *const JOB_STATUSES[] = {"queued", "running",   "failed",
                                           "done",   "cancelled", NULL};
static const char *const GATEWAYS[] = {"stripe", "paypal", NULL};
static const char *const EVENT_STATUSES[] = {"processed", "ignored", "failed", NULL};

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* ---- jobs ---------------------------------------------------------------- */

static const char *job_badge(const char *status)
{
    if (str_eq(status, "done"))
        return "badge-ok";
    if (str_eq(status, "failed"))
        return "badge-bad";
    if (str_eq(status, "cancelled"))
        return "";
    return "badge-warn";
}

/* Tabs of the status filter: [{label, href, active}], "All" first. */
static json_t *job_tabs(const char *current)
{
    json_t *tabs = json_array();
    char href[64];
    json_array_append_new(tabs, json_pack("{s:s s:s s:b}", "label", "All", "href", "/admin/jobs",
                                          "active", current == NULL));
    for (size_t i = 0; JOB_STATUSES[i] != NULL; i++) {
        snprintf(href, sizeof href, "/admin/jobs?status=%s", JOB_STATUSES[i]);
        json_array_append_new(tabs, json_pack("{s:s s:s s:b}", "label", JOB_STATUSES[i], "href",
                                              href, "active",
                                              current != NULL && str_eq(current, JOB_STATUSES[i])));
    }
    return tabs;
}

void p_jobs_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *status = NULL;
    int64_t cursor = 0, next = 0;
    char href[96];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "jobs";
    if (!pages_svc_query_choice(req, "status", JOB_STATUSES, &status)) {
        page_error(req, resp, 400, &ctx,
                   "status must be one of queued, running, failed, done, cancelled");
        return;
    }
    if (!pages_svc_query_cursor(req, &cursor)) {
        page_error(req, resp, 400, &ctx, "cursor must be a positive id from a 'Next page' link");
        return;
    }
    json_t *rows = jobs_list(req->db, status, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    size_t i;
    json_t *job;
    json_array_foreach(rows, i, job)
    {
        json_object_set_new(job, "badge", json_string(job_badge(str_of(job, "status"))));
        const char *reason =
            json_string_value(json_object_get(json_object_get(job, "args"), "reason"));
        if (reason != NULL)
            json_object_set_new(job, "reason", json_string(reason));
    }
    json_t *data =
        json_pack("{s:s s:o s:o}", "title", "Jobs", "jobs", rows, "tabs", job_tabs(status));
    /* status is one of JOB_STATUSES, so it needs no URL encoding. */
    if (data != NULL && next > 0) {
        snprintf(href, sizeof href, "/admin/jobs?%s%s%scursor=%lld", status ? "status=" : "",
                 status ? status : "", status ? "&" : "", (long long)next);
        json_object_set_new(data, "next_href", json_string(href));
    }
    if (data != NULL && cursor > 0) {
        snprintf(href, sizeof href, "/admin/jobs%s%s", status ? "?status=" : "",
                 status ? status : "");
        json_object_set_new(data, "first_href", json_string(href));
    }
    page_render(req, resp, 200, &ctx, "jobs.html", data);
}

/* ---- webhook events ------------------------------------------------------ */

static const char *event_badge(const char *status)
{
    if (str_eq(status, "processed"))
        return "badge-ok";
    if (str_eq(status, "failed"))
        return "badge-bad";
    return "badge-warn";
}

/* The choices of a filter <select>: [{value, selected}]. */
static json_t *options(const char *const *choices, const char *current)
{
    json_t *a = json_array();
    for (size_t i = 0; choices[i] != NULL; i++)
        json_array_append_new(a, json_pack("{s:s s:b}", "value", choices[i], "selected",
                                           current != NULL && str_eq(current, choices[i])));
    return a;
}

/* "/admin/webhook-events" with the filters that are set and, when cursor > 0, the cursor. */
static void events_href(char *out, size_t sz, const char *gateway, const char *status,
                        int64_t cursor)
{
    /* gateway and status are from GATEWAYS / EVENT_STATUSES: no encoding needed. */
    const char *sep = "?";
    int n = snprintf(out, sz, "/admin/webhook-events");
    if (gateway != NULL && n > 0 && (size_t)n < sz) {
        n += snprintf(out + n, sz - (size_t)n, "%sgateway=%s", sep, gateway);
        sep = "&";
    }
    if (status != NULL && n > 0 && (size_t)n < sz) {
        n += snprintf(out + n, sz - (size_t)n, "%sstatus=%s", sep, status);
        sep = "&";
    }
    if (cursor > 0 && n > 0 && (size_t)n < sz)
        snprintf(out + n, sz - (size_t)n, "%scursor=%lld", sep, (long long)cursor);
}

void p_webhook_events_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *gateway = NULL, *status = NULL;
    int64_t cursor = 0, next = 0;
    char href[160];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "webhooks";
    if (!pages_svc_query_choice(req, "gateway", GATEWAYS, &gateway)) {
        page_error(req, resp, 400, &ctx, "gateway must be stripe or paypal");
        return;
    }
    if (!pages_svc_query_choice(req, "status", EVENT_STATUSES, &status)) {
        page_error(req, resp, 400, &ctx, "status must be one of processed, ignored, failed");
        return;
    }
    if (!pages_svc_query_cursor(req, &cursor)) {
        page_error(req, resp, 400, &ctx, "cursor must be a positive id from a 'Next page' link");
        return;
    }
    json_t *rows = webhooks_list(req->db, gateway, status, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(rows, i, ev)
    {
        json_object_set_new(ev, "badge", json_string(event_badge(str_of(ev, "status"))));
    }
    json_t *data =
        json_pack("{s:s s:o s:o s:o s:b}", "title", "Webhook events", "events", rows, "gateways",
                  options(GATEWAYS, gateway), "statuses", options(EVENT_STATUSES, status),
                  "filtered", gateway != NULL || status != NULL);
    if (data != NULL && next > 0) {
        events_href(href, sizeof href, gateway, status, next);
        json_object_set_new(data, "next_href", json_string(href));
    }
    if (data != NULL && cursor > 0) {
        events_href(href, sizeof href, gateway, status, 0);
        json_object_set_new(data, "first_href", json_string(href));
    }
    page_render(req, resp, 200, &ctx, "webhook_events.html", data);
}

/* The body as received, indented when it is JSON (it always is, once verified). */
static void pretty_payload(json_t *ev)
{
    const char *raw = json_string_value(json_object_get(ev, "payload"));
    json_t *parsed = raw != NULL ? json_loads(raw, 0, NULL) : NULL;
    char *pretty = parsed != NULL ? json_dumps(parsed, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (pretty != NULL)
        json_object_set_new(ev, "payload", json_string(pretty));
    free(pretty);
    json_decref(parsed);
}

void p_webhook_event(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "webhooks";
    int64_t id = web_param_id(req, "id");
    json_t *ev = id > 0 ? webhooks_get(req->db, id, &err) : NULL;
    if (ev == NULL) {
        page_error(req, resp, id > 0 ? err_http_status(err.code) : 404, &ctx,
                   id > 0 ? err.msg : "webhook event not found");
        return;
    }
    json_object_set_new(ev, "badge", json_string(event_badge(str_of(ev, "status"))));
    pretty_payload(ev);
    char title[64];
    snprintf(title, sizeof title, "Webhook event #%lld", (long long)id);
    page_render(req, resp, 200, &ctx, "webhook_event.html",
                json_pack("{s:s s:o}", "title", title, "event", ev));
}
