/*
 * h_emails.c — /api/admin/emails: the mail outbox as admins see it (newest
 * first, by status or recipient), one message with its rendered bodies, and
 * resend.
 *
 * Thin handlers over mail/outbox.c on a web worker thread with that worker's
 * connection.
 */
#include <string.h>

#include "billing/listing.h"
#include "mail/outbox.h"
#include "notify/notify.h"
#include "web/auth.h"
#include "web/api/api.h"

#define PAGE_DEFAULT 50

void h_emails_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t before = 0, next = 0;
    const char *status = NULL;
    if (web_query_enum(req, resp, "status", OUTBOX_STATUSES, &status) != 0)
        return;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &before) != 0)
        return;
    json_t *rows = outbox_list(req->db, status, web_query(req, "to"), before, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

static int64_t id_or_404(struct web_req *req, struct web_resp *resp)
{
    int64_t id = web_param_id(req, "id");
    if (id <= 0)
        web_reply_error(resp, 404, "not_found", "message not found");
    return id;
}

void h_emails_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    json_t *m = notify_email_view(req->db, id, &err);
    if (m == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, m);
}

void h_emails_resend(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = id_or_404(req, resp);
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *m = outbox_resend(req->db, &actor, id, &err);
    if (m == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 202, m);
}
