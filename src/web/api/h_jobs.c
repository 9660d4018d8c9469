/*
 * h_jobs.c — /api/admin/jobs: the provisioning queue as admins see it,
 * newest first, optionally of one status, and one job by id.
 *
 * Thin handlers over provisioning/jobs.c, on a web worker thread with that
 * worker's connection; read-only.
 */
#include <string.h>

#include "billing/listing.h"
#include "provisioning/jobs.h"
#include "web/api/api.h"

#define PAGE_DEFAULT 50

static const char *const STATUSES[] = {"queued", "running", "failed", "done", "cancelled", NULL};

void h_jobs_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int limit = 0;
    int64_t before = 0, next = 0;
    const char *status = NULL;
    if (web_query_enum(req, resp, "status", STATUSES, &status) != 0)
        return;
    if (web_page_params(req, resp, PAGE_DEFAULT, LISTING_PAGE_MAX, &limit, &before) != 0)
        return;
    json_t *rows = jobs_list(req->db, status, before, limit, &next, &err);
    if (rows == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_page(resp, rows, next);
}

void h_jobs_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "job not found");
        return;
    }
    json_t *job = jobs_get(req->db, id, &err);
    if (job == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_json(resp, 200, job);
}
