/*
 * p_cancellations.c — /admin/cancellations: the queue of cancellation
 * requests (service, client, timing, run_at, reason, status), filtered by
 * status and keyset paged like GET /api/admin/cancellations, over the same
 * cancellations_list; a pending request can be rejected (audited
 * CANCELLATION_REJECTED) through cancellations_reject.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "provisioning/cancellations.h"
#include "web/admin/pages_lifecycle.h"
#include "web/page.h"

#define PAGE_SIZE 50

void p_cancellations_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    const char *status = NULL;
    int64_t cursor = 0, next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "cancellations";
    if (page_query_choice(req, resp, &ctx, "status", CANCELLATION_STATUSES,
                          "status must be one of pending, done, withdrawn, rejected",
                          &status) != 0 ||
        page_query_cursor(req, resp, &ctx, "cursor must be a positive id from a 'Next page' link",
                          &cursor) != 0)
        return;
    json_t *rows = cancellations_list(req->db, status, cursor, PAGE_SIZE, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *st = json_string_value(json_object_get(row, "status"));
        json_object_set_new(row, "is_pending", json_boolean(str_eq(st, "pending")));
        json_object_set_new(row, "badge",
                            json_string(str_eq(st, "pending") ? "badge-warn"
                                        : str_eq(st, "done")  ? "badge-ok"
                                                              : "badge-muted"));
    }
    json_t *data =
        json_pack("{s:s s:o s:o}", "title", "Cancellations", "requests", rows, "tabs",
                  page_status_tabs("/admin/cancellations", CANCELLATION_STATUSES, status));
    page_set_paging(data, "/admin/cancellations", &(struct page_filter){"status", status}, 1,
                    cursor, next);
    page_render(req, resp, 200, &ctx, "cancellations.html", data);
}

void p_cancellations_reject(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "cancellations";
    int64_t id = page_id_or_404(req, resp, &ctx, "There is no such cancellation request.");
    if (id <= 0)
        return;
    const char *note = web_form_value(req, "note");
    struct audit_actor actor = auth_actor(req);
    json_t *r = cancellations_reject(req->db, &actor, id, str_present(note) ? note : NULL, &err);
    if (r == NULL) {
        page_redirect_flash(resp, "/admin/cancellations", "error", err.msg);
        return;
    }
    json_decref(r);
    page_redirect_flash(resp, "/admin/cancellations", "ok",
                        "The cancellation request was rejected.");
}
