/*
 * h_health.c — GET /healthz: 200 when the database answers, 503 otherwise.
 */
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
    web_reply_json(resp, 200,
                   json_pack("{s:s s:s s:s}", "status", "ok", "database",
                             db_kind(req->db) == DB_POSTGRES ? "postgres" : "sqlite", "version",
                             LUMI_VERSION));
}
