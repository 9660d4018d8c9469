/*
 * p_webhooks.c — /admin/webhooks: the provider's endpoints for outgoing
 * events (issue 16): list and add, the endpoint's page with its edit form,
 * delivery log and "Send test event" button, and delete.
 *
 * Every change goes through the functions behind /api/admin/webhook-endpoints
 * (events/endpoints.c): a form becomes the JSON body the API takes, so
 * rules, messages and audit rows are the API's. The form's events field is
 * a comma- or space-separated list ("*", "invoice.paid service.*"). A new
 * endpoint's secret is shown on the page that answers the form, once; it is
 * never put in a URL. Handlers run on the request's worker thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "events/endpoints.h"
#include "events/events.h"
#include "web/admin/pages_events.h"
#include "web/page.h"

#define LIST_MAX 200
#define LOG_MAX 100
#define EVENTS_TEXT_MAX 1000

static const char NOT_FOUND[] = "There is no such webhook endpoint.";

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v != NULL ? v : "";
}

/* "a, b c" → ["a","b","c"] (empty text: NULL, the API's default ["*"]). */
static json_t *events_from_text(const char *text)
{
    char word[64];
    size_t n = 0;
    json_t *list = json_array();
    if (list == NULL)
        return NULL;
    for (const char *p = text;; p++) {
        bool sep = *p == '\0' || *p == ',' || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t';
        if (!sep && n + 1 < sizeof word)
            word[n++] = *p;
        if (sep && n > 0) {
            word[n] = '\0';
            json_array_append_new(list, json_string(word));
            n = 0;
        }
        if (*p == '\0')
            break;
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* The API body from the form. */
static json_t *body_from_form(struct web_req *req, bool editing)
{
    json_t *b = json_pack("{s:s s:s}", "url", form_str(req, "url"), "description",
                          form_str(req, "description"));
    if (b == NULL)
        return NULL;
    json_t *events = events_from_text(form_str(req, "events"));
    if (events != NULL)
        json_object_set_new(b, "events", events);
    if (str_present(form_str(req, "secret")))
        json_object_set_new(b, "secret", json_string(form_str(req, "secret")));
    if (editing)
        json_object_set_new(b, "active", json_boolean(str_eq(form_str(req, "active"), "1")));
    return b;
}

/* An endpoint's list as the form shows it: "invoice.paid, service.*". */
static void add_events_text(json_t *e)
{
    char text[EVENTS_TEXT_MAX];
    size_t i, o = 0;
    json_t *v;
    text[0] = '\0';
    json_array_foreach(json_object_get(e, "events"), i, v)
    {
        int n = snprintf(text + o, sizeof text - o, "%s%s", i > 0 ? ", " : "",
                         json_string_value(v) != NULL ? json_string_value(v) : "");
        if (n < 0 || (size_t)n >= sizeof text - o)
            break;
        o += (size_t)n;
    }
    json_object_set_new(e, "events_text", json_string(text));
}

static json_t *typed_values(struct web_req *req)
{
    return json_pack("{s:s s:s s:s s:b}", "url", form_str(req, "url"), "events_text",
                     form_str(req, "events"), "description", form_str(req, "description"), "active",
                     str_eq(form_str(req, "active"), "1"));
}

static json_t *types_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && EVENTS_TYPES[i] != NULL; i++)
        json_array_append_new(a, json_string(EVENTS_TYPES[i]));
    return a;
}

static int enter(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    if (page_require_admin(req, resp, ctx) != 0)
        return -1;
    ctx->nav = "events";
    return 0;
}

static void render_list(struct web_req *req, struct web_resp *resp, int status,
                        const struct page_ctx *ctx, json_t *values, const char *error)
{
    struct lumi_err err = {0};
    int64_t next = 0;
    json_t *rows = webhook_endpoints_list(req->db, 0, LIST_MAX, &next, &err);
    if (rows == NULL) {
        json_decref(values);
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(rows, i, e) add_events_text(e);
    json_t *data = json_pack("{s:s s:o s:o s:o}", "title", "Outgoing events", "endpoints", rows,
                             "v", values != NULL ? values : json_object(), "types", types_json());
    if (data == NULL) {
        page_error(req, resp, 500, ctx, "out of memory");
        return;
    }
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "webhooks.html", data);
}

void p_webhooks_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (enter(req, resp, &ctx) != 0)
        return;
    render_list(req, resp, 200, &ctx, NULL, NULL);
}

/* The endpoint's page; values: the edit form's (NULL: as stored); secret: shown once. */
static void render_endpoint(struct web_req *req, struct web_resp *resp, int status,
                            const struct page_ctx *ctx, int64_t id, json_t *values,
                            const char *secret, const char *error)
{
    struct lumi_err err = {0};
    int64_t next = 0;
    json_t *e = webhook_endpoints_get(req->db, id, &err);
    json_t *log = e != NULL ? webhook_deliveries_list(req->db, id, 0, LOG_MAX, &next, &err) : NULL;
    if (log == NULL) {
        json_decref(e);
        json_decref(values);
        page_error(req, resp, err.code == LUMI_ENOTFOUND ? 404 : err_http_status(err.code), ctx,
                   err.code == LUMI_ENOTFOUND ? NOT_FOUND : err.msg);
        return;
    }
    add_events_text(e);
    size_t i;
    json_t *d;
    json_array_foreach(log, i, d)
    {
        if (str_eq(json_string_value(json_object_get(d, "state")), "pending"))
            json_object_set(d, "next_retry", json_object_get(d, "next_attempt_at"));
    }
    char title[64];
    snprintf(title, sizeof title, "Webhook endpoint #%" PRId64, id);
    json_t *data = json_pack("{s:s s:O s:o s:o s:o s:b}", "title", title, "endpoint", e,
                             "deliveries", log, "v", values != NULL ? values : json_deep_copy(e),
                             "types", types_json(), "more", next > 0);
    json_decref(e);
    if (data == NULL) {
        page_error(req, resp, 500, ctx, "out of memory");
        return;
    }
    if (secret != NULL)
        json_object_set_new(data, "secret", json_string(secret));
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "webhook_endpoint.html", data);
}

void p_webhooks_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (enter(req, resp, &ctx) != 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *body = body_from_form(req, false);
    json_t *e = body != NULL ? webhook_endpoints_create(req->db, &actor, body, &err) : NULL;
    json_decref(body);
    if (e == NULL) {
        render_list(req, resp, page_form_status(&err), &ctx, typed_values(req),
                    err.msg[0] != '\0' ? err.msg : "out of memory");
        return;
    }
    render_endpoint(req, resp, 201, &ctx, json_integer_value(json_object_get(e, "id")), NULL,
                    json_string_value(json_object_get(e, "secret")), NULL);
    json_decref(e);
}

void p_webhook_endpoint(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, NOT_FOUND);
    if (id > 0)
        render_endpoint(req, resp, 200, &ctx, id, NULL, NULL, NULL);
}

static void back_to(struct web_resp *resp, int64_t id, const char *kind, const char *msg)
{
    char path[64];
    snprintf(path, sizeof path, "/admin/webhooks/%" PRId64, id);
    page_redirect_flash(resp, path, kind, msg);
}

void p_webhooks_update(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, NOT_FOUND);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *body = body_from_form(req, true);
    json_t *e = body != NULL ? webhook_endpoints_update(req->db, &actor, id, body, &err) : NULL;
    json_decref(body);
    if (e != NULL) {
        json_decref(e);
        back_to(resp, id, "ok", "The endpoint was saved.");
        return;
    }
    if (err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, NOT_FOUND);
        return;
    }
    render_endpoint(req, resp, page_form_status(&err), &ctx, id, typed_values(req), NULL,
                    err.msg[0] != '\0' ? err.msg : "out of memory");
}

void p_webhooks_delete(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, NOT_FOUND);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (webhook_endpoints_delete(req->db, &actor, id, &err) < 0) {
        page_redirect_flash(resp, "/admin/webhooks", "error", err.msg);
        return;
    }
    page_redirect_flash(resp, "/admin/webhooks", "ok",
                        "The endpoint and its delivery log were deleted.");
}

void p_webhooks_test(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, NOT_FOUND);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *d = webhook_endpoints_test(req->db, &actor, id, &err);
    if (d == NULL) {
        back_to(resp, id, "error", err.msg);
        return;
    }
    json_decref(d);
    back_to(resp, id, "ok",
            "A test event was queued: reload this page to see the endpoint's answer.");
}
