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
#include "web/admin/pages_services.h"

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

void p_jobs_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *status = NULL;
    int64_t cursor = 0, next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "jobs";
    if (page_query_choice(req, resp, &ctx, "status", JOB_STATUSES,
                          "status must be one of queued, running, failed, done, cancelled",
                          &status) != 0 ||
        page_query_cursor(req, resp, &ctx, "cursor must be a positive id from a 'Next page' link",
                          &cursor) != 0)
        return;
    json_t *rows = jobs_list(req->db, status, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    size_t i;
    json_t *job;
    json_array_foreach(rows, i, job) page_decorate_job(job);
    json_t *data = json_pack("{s:s s:o s:o}", "title", "Jobs", "jobs", rows, "tabs",
                             page_status_tabs("/admin/jobs", JOB_STATUSES, status));
    page_set_paging(data, "/admin/jobs", &(struct page_filter){"status", status}, 1, cursor, next);
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

void p_webhook_events_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *gateway = NULL, *status = NULL;
    int64_t cursor = 0, next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "webhooks";
    if (page_query_choice(req, resp, &ctx, "gateway", GATEWAYS, "gateway must be stripe or paypal",
                          &gateway) != 0 ||
        page_query_choice(req, resp, &ctx, "status", EVENT_STATUSES,
                          "status must be one of processed, ignored, failed", &status) != 0 ||
        page_query_cursor(req, resp, &ctx, "cursor must be a positive id from a 'Next page' link",
                          &cursor) != 0)
        return;
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
    const struct page_filter filters[] = {{"gateway", gateway}, {"status", status}};
    page_set_paging(data, "/admin/webhook-events", filters, 2, cursor, next);
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
    int64_t id = page_id_or_404(req, resp, &ctx, "webhook event not found");
    if (id <= 0)
        return;
    json_t *ev = webhooks_get(req->db, id, &err);
    if (ev == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_object_set_new(ev, "badge", json_string(event_badge(str_of(ev, "status"))));
    pretty_payload(ev);
    char title[64];
    snprintf(title, sizeof title, "Webhook event #%lld", (long long)id);
    page_render(req, resp, 200, &ctx, "webhook_event.html",
                json_pack("{s:s s:o}", "title", title, "event", ev));
}
