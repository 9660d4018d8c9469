/*
 * h_audit.c — GET /api/admin/audit-logs: filters, keyset paging, exports.
 *
 * ?action=&entity=&entity_id=&actor=&ip=&from=&to=&q=&limit=&cursor=&format=json|csv|jsonl
 * JSON answers newest first, {"data":[...], "next_cursor": "ID" | null};
 * csv/jsonl export the whole filtered set, oldest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/str.h"
#include "core/utc.h"
#include "web/api/api.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 500

/* Normalises an ISO-8601 time parameter into out; answers 400 when bad. */
static int time_param(struct web_req *req, struct web_resp *resp, const char *name,
                      char out[UTC_ISO_LEN], const char **dst)
{
    const char *v = web_query(req, name);
    int64_t t;
    struct lumi_err err;
    if (v == NULL || *v == '\0')
        return 0;
    if (utc_parse(v, &t, &err) != 0 || utc_format(t, out) != 0) {
        web_reply_error(resp, 400, "invalid_request",
                        "parameter '%s' must be an ISO-8601 time such as 2026-11-24T00:00:00Z",
                        name);
        return -1;
    }
    *dst = out;
    return 0;
}

/*
 * The export is written to an unlinked temporary file, which libmicrohttpd
 * then sends from disk: the answer has no size cap and never sits in memory,
 * and the worker's database connection is free again before the first byte
 * goes out (a slow reader does not hold it). The rows are read in chunks
 * (audit_export).
 */
static void reply_export(struct web_req *req, struct web_resp *resp, const struct audit_filter *f,
                         enum audit_format fmt)
{
    struct lumi_err err;
    FILE *tmp = tmpfile();
    if (tmp == NULL) {
        err_set(&err, LUMI_EIO, "cannot create a temporary file for the export");
        web_reply_err(resp, &err);
        return;
    }
    int rc = audit_export(req->db, f, fmt, tmp, NULL, &err);
    if (rc != 0) {
        fclose(tmp);
        web_reply_err(resp, &err);
        return;
    }
    web_reply_file(resp, 200, fmt == AUDIT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson",
                   tmp);
    if (resp->status == 200)
        web_add_header(resp, "Content-Disposition",
                       fmt == AUDIT_CSV ? "attachment; filename=\"audit-log.csv\""
                                        : "attachment; filename=\"audit-log.jsonl\"");
}

void h_audit_list(struct web_req *req, struct web_resp *resp)
{
    struct audit_filter f = {
        .action = web_query(req, "action"),
        .entity = web_query(req, "entity"),
        .entity_id = web_query(req, "entity_id"),
        .actor = web_query(req, "actor"),
        .ip = web_query(req, "ip"),
        .q = web_query(req, "q"),
    };
    char from[UTC_ISO_LEN], to[UTC_ISO_LEN];
    int limit = PAGE_DEFAULT;
    int64_t cursor = 0;
    if (time_param(req, resp, "from", from, &f.from) != 0 ||
        time_param(req, resp, "to", to, &f.to) != 0 ||
        web_page_params(req, resp, PAGE_DEFAULT, PAGE_MAX, &limit, &cursor) != 0)
        return;
    f.before_id = cursor;

    const char *format = web_query(req, "format");
    if (format != NULL && strcmp(format, "csv") == 0) {
        f.before_id = 0;
        reply_export(req, resp, &f, AUDIT_CSV);
        return;
    }
    if (format != NULL && strcmp(format, "jsonl") == 0) {
        f.before_id = 0;
        reply_export(req, resp, &f, AUDIT_JSONL);
        return;
    }
    if (format != NULL && *format != '\0' && strcmp(format, "json") != 0) {
        web_reply_error(resp, 400, "invalid_request",
                        "parameter 'format' must be json, csv or jsonl");
        return;
    }
    struct lumi_err err;
    int64_t next = 0;
    json_t *rows = audit_query(req->db, &f, limit, &next, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_page(resp, rows, next);
}
