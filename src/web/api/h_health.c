/*
 * h_health.c — GET /healthz: {"status":"ok"} when the database answers, 503
 * otherwise, and nothing else (no version, no engine: it is public).
 * GET /api/admin/status (admins): version, database engine and the depths
 * of the job queue and the mail outbox.
 */
#include "mail/outbox.h"
#include "provisioning/jobs.h"
#include "web/api/api.h"

void h_healthz(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err;
    int64_t one = 0;
    if (req->db == NULL ||
        db_query_int64(req->db, "SELECT 1", 0, NULL, &one, &err) != 0 || one != 1) {
        web_reply_error(resp, 503, "unavailable", "the database does not answer");
        return;
    }
    web_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void h_admin_status(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err;
    json_t *jobs = jobs_counts(req->db, &err);
    json_t *outbox = jobs != NULL ? outbox_counts(req->db, &err) : NULL;
    if (outbox == NULL) {
        json_decref(jobs);
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200,
                   json_pack("{s:s s:s s:s s:{s:o s:o}}", "status", "ok", "version", LUMI_VERSION,
                             "engine", db_kind(req->db) == DB_POSTGRES ? "postgres" : "sqlite",
                             "queues", "jobs", jobs, "outbox", outbox));
}
