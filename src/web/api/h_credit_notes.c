/*
 * h_credit_notes.c — credit notes in the admin API (issue 14):
 * POST /api/admin/invoices/{id}/credit-notes {amount, reason},
 * GET /api/admin/credit-notes (keyset pages) and /api/admin/credit-notes/{id}.
 *
 * Thin handlers over billing/credit_notes.c, after the server has
 * authenticated the caller as admin or staff (WEB_AUTH_ADMIN).
 */
#include "web/api/api.h"

#include "billing/credit_notes.h"
#include "billing/listing.h"
#include "web/auth.h"

#define PAGE_DEFAULT 50

void h_credit_notes_create(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "invoice not found");
        return;
    }
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    struct audit_actor actor = auth_actor(req);
    json_t *note = credit_notes_create_json(req->db, &actor, id, body, &err);
    json_decref(body);
    if (note == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_created(resp, "/api/admin/credit-notes", note);
}

void h_credit_notes_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t after = 0, next = 0;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &after) != 0)
        return;
    json_t *rows = credit_notes_list(req->db, after, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}

void h_credit_notes_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "credit note not found");
        return;
    }
    json_t *note = credit_notes_get(req->db, id, &err);
    web_reply_result(resp, 200, note, &err);
}
