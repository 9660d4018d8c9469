/*
 * p_emails.c — /admin/emails: the mail outbox (what was sent to whom, what
 * waits, what failed and the SMTP server's words), one message, its HTML
 * part, and resend.
 *
 * Pages over outbox_list / outbox_get / outbox_resend, the functions behind
 * /api/admin/emails. The HTML part is the only page that shows HTML from a
 * template an admin may have written: it is served on its own route with a
 * Content-Security-Policy that sandboxes it (no script, no same origin, no
 * form), never inlined into an admin page. Handlers run on the request's
 * worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/json.h"
#include "core/str.h"
#include "mail/outbox.h"
#include "notify/notify.h"
#include "web/page.h"
#include "web/admin/pages_emails.h"

#define PAGE_SIZE 50

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static const char *badge(const char *status)
{
    if (str_eq(status, "sent"))
        return "badge-ok";
    if (str_eq(status, "failed"))
        return "badge-bad";
    return "badge-warn";
}

/* What the pages say about delivery: configured or not, and the queue. */
static json_t *delivery(struct db *db)
{
    struct lumi_err err;
    json_t *d = json_object();
    json_t *counts = outbox_counts(db, &err);
    jsonx_set_bool(d, "configured", config_has("SMTP_HOST"));
    if (config_has("SMTP_HOST")) {
        char hp[300];
        snprintf(hp, sizeof hp, "%s:%lld", config_str("SMTP_HOST"),
                 (long long)config_int("SMTP_PORT"));
        jsonx_set_str(d, "server", hp);
        jsonx_set_str(d, "tls", config_str("SMTP_TLS"));
    }
    if (counts != NULL)
        json_object_set_new(d, "counts", counts);
    return d;
}

void p_emails_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *status = NULL;
    int64_t cursor = 0, next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "emails";
    if (page_query_choice(req, resp, &ctx, "status", OUTBOX_STATUSES,
                          "status must be one of queued, sending, sent, failed, skipped",
                          &status) != 0 ||
        page_query_cursor(req, resp, &ctx, "cursor must be a positive id from a 'Next page' link",
                          &cursor) != 0)
        return;
    const char *to = web_query(req, "to");
    if (to != NULL && *to == '\0')
        to = NULL;
    json_t *rows = outbox_list(req->db, status, to, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, page_form_status(&err), &ctx, err.msg);
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(rows, i, m)
    {
        json_object_set_new(m, "badge", json_string(badge(str_of(m, "status"))));
    }
    json_t *data = json_pack("{s:s s:o s:o s:o s:s?}", "title", "Emails", "emails", rows, "tabs",
                             page_status_tabs("/admin/emails", OUTBOX_STATUSES, status), "delivery",
                             delivery(req->db), "to", to);
    const struct page_filter filters[] = {{"status", status}, {"to", to}};
    page_set_paging(data, "/admin/emails", filters, 2, cursor, next);
    page_render(req, resp, 200, &ctx, "emails.html", data);
}

/* The session check and the {id} of a message's page: > 0, or 0 after answering. */
static int64_t email_page(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    if (page_require_admin(req, resp, ctx) != 0)
        return 0;
    ctx->nav = "emails";
    return page_id_or_404(req, resp, ctx, "message not found");
}

/* One message as the admin sees it (notify_email_view), or NULL after the error page. */
static json_t *email_view(struct web_req *req, struct web_resp *resp,
                          const struct page_ctx *ctx, int64_t id)
{
    struct lumi_err err = {0};
    json_t *m = notify_email_view(req->db, id, &err);
    if (m == NULL)
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
    return m;
}

void p_email_detail(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    char title[64];
    int64_t id = email_page(req, resp, &ctx);
    json_t *m = id > 0 ? email_view(req, resp, &ctx, id) : NULL;
    if (m == NULL)
        return;
    const char *st = str_of(m, "status");
    json_object_set_new(m, "badge", json_string(badge(st)));
    jsonx_set_bool(m, "resendable", !str_eq(st, "queued") && !str_eq(st, "sending"));
    jsonx_set_bool(m, "has_html", !json_is_null(json_object_get(m, "body_html")));
    snprintf(title, sizeof title, "Email #%lld", (long long)id);
    page_render(req, resp, 200, &ctx, "email_detail.html",
                json_pack("{s:s s:o s:o}", "title", title, "email", m, "delivery",
                          delivery(req->db)));
}

void p_email_html(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t id = email_page(req, resp, &ctx);
    json_t *m = id > 0 ? email_view(req, resp, &ctx, id) : NULL;
    if (m == NULL)
        return;
    const char *html = json_string_value(json_object_get(m, "body_html"));
    if (html == NULL) {
        json_decref(m);
        page_error(req, resp, 404, &ctx, "this message has no HTML part");
        return;
    }
    /* A mail's HTML, shown as a mail client would: inline styles and images,
     * nothing that runs, nothing that can reach this origin or post a form. */
    web_add_header(resp, "Content-Security-Policy",
                   "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:");
    web_add_header(resp, "X-Frame-Options", "SAMEORIGIN");
    web_add_header(resp, "Referrer-Policy", "no-referrer");
    web_add_header(resp, "Cache-Control", "no-store");
    web_add_header(resp, "X-Content-Type-Options", "nosniff");
    web_reply_text(resp, 200, "text/html; charset=utf-8", html, strlen(html));
    json_decref(m);
}

void p_email_resend(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char base[64];
    int64_t id = email_page(req, resp, &ctx);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *m = outbox_resend(req->db, &actor, id, &err);
    if (m == NULL && err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, err.msg);
        return;
    }
    snprintf(base, sizeof base, "/admin/emails/%lld", (long long)id);
    if (m == NULL) {
        page_redirect_flash(resp, base, "error", err.msg);
        return;
    }
    json_decref(m);
    page_redirect_flash(resp, base, "ok",
                        config_has("SMTP_HOST")
                            ? "Queued again: it goes out within a few seconds."
                            : "Queued again, but SMTP_HOST is not set: it will be recorded, "
                              "not sent.");
}
