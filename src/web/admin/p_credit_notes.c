/*
 * p_credit_notes.c — the credit-note form of the admin invoice page (issue 14):
 * POST /admin/invoices/{id}/credit-notes {amount (a decimal in the invoice's
 * currency), reason} → credit_notes_create_json, the API's function, so the
 * rules and messages are the API's. A refusal shows the invoice page again
 * with the message and the typed values; a success goes back to it with the
 * new note's number.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <inttypes.h>
#include <stdio.h>

#include "billing/credit_notes.h"
#include "billing/invoices.h"
#include "core/money.h"
#include "core/str.h"
#include "web/admin/pages_invoices.h"
#include "web/page.h"

static const char *posted(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v != NULL ? v : "";
}

/* The invoice page again with error, the form refilled with what was typed. */
static void show_again(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       int64_t id, int status, const char *error)
{
    json_t *extra = json_pack("{s:s s:s s:b}", "cn_amount", posted(req, "amount"), "cn_reason",
                              posted(req, "reason"), "cn_open", 1);
    p_invoices_render(req, resp, ctx, id, status, error, extra);
    json_decref(extra);
}

void p_invoices_credit_note(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char currency[8] = "";
    int64_t minor = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t id = web_param_id(req, "id");
    json_t *inv = id > 0 ? invoices_get(req->db, id, &err) : NULL;
    if (inv == NULL) {
        bool missing = id <= 0 || err.code == LUMI_ENOTFOUND;
        page_error(req, resp, missing ? 404 : err_http_status(err.code), &ctx,
                   missing ? "invoice not found" : err.msg);
        return;
    }
    str_copy(currency, json_string_value(json_object_get(inv, "currency")), sizeof currency);
    json_decref(inv);
    if (money_parse(posted(req, "amount"), currency, &minor, &err) < 0 || minor <= 0) {
        char msg[LUMI_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "field 'amount': %s",
                 err.code != 0 ? err.msg : "must be more than 0");
        show_again(req, resp, &ctx, id, 400, msg);
        return;
    }
    json_t *body =
        json_pack("{s:I s:s}", "amount", (json_int_t)minor, "reason", posted(req, "reason"));
    struct audit_actor actor = auth_actor(req);
    json_t *note = body != NULL ? credit_notes_create_json(req->db, &actor, id, body, &err) : NULL;
    json_decref(body);
    if (note == NULL) {
        if (err.code == 0)
            err_set(&err, LUMI_ENOMEM, "out of memory");
        show_again(req, resp, &ctx, id, page_form_status(&err), err.msg);
        return;
    }
    char base[64], msg[200];
    snprintf(base, sizeof base, "/admin/invoices/%" PRId64, id);
    snprintf(msg, sizeof msg, "Credit note %s issued.",
             json_string_value(json_object_get(note, "number")));
    json_decref(note);
    page_redirect_flash(resp, base, "ok", msg);
}
