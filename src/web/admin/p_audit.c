/*
 * p_audit.c — /admin/audit-logs: the audit trail, newest first, with the
 * filters, keyset paging and exports of GET /api/admin/audit-logs (the same
 * audit_query and filter names), the chain line, and one row's details.
 * Read-only as to audit rows: there is no way to change them. The chain line
 * is an incremental check (audit_check_incremental: bounded work per
 * request, a checkpoint in `settings` that it moves forward), next to the
 * time of the last full walk (`lumi audit verify`).
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/str.h"
#include "core/utc.h"
#include "web/page.h"
#include "web/admin/routes_pages.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 500
#define CHAIN_ROWS_PER_REQUEST 1000 /* ~10 ms of hashing and reading; see chain_status */

static const char *const FILTERS[] = {"action", "entity", "entity_id", "actor", "ip",
                                      "from",   "to",     "q",         NULL};

/* Normalises an ISO-8601 filter into out; false when given but unreadable. */
static bool time_filter(const char *v, char out[UTC_ISO_LEN], const char **dst)
{
    int64_t t;
    struct lumi_err err;
    if (v == NULL || *v == '\0')
        return true;
    if (utc_parse(v, &t, &err) != 0 || utc_format(t, out) != 0)
        return false;
    *dst = out;
    return true;
}

static const char *nonempty(const char *s)
{
    return s != NULL && *s != '\0' ? s : NULL;
}

/*
 * Appends "<base>?<the filters that are set>" to b, URL-encoded, then
 * "&<extra>" when extra is not NULL: the same filtered set on another page
 * or in an export.
 */
static int filtered_link(struct web_req *req, const char *base, const char *extra, struct buf *b)
{
    char sep = '?';
    buf_reset(b);
    int rc = buf_append_str(b, base);
    for (size_t i = 0; rc == 0 && FILTERS[i] != NULL; i++) {
        const char *v = nonempty(web_query(req, FILTERS[i]));
        if (v == NULL)
            continue;
        rc = buf_printf(b, "%c%s=", sep, FILTERS[i]);
        if (rc == 0)
            rc = page_url_encode(b, v);
        sep = '&';
    }
    if (rc == 0 && extra != NULL)
        rc = buf_printf(b, "%c%s", sep, extra);
    return rc;
}

/* Sets data[key] to filtered_link(...); false when the link does not fit. */
static bool set_link(json_t *data, const char *key, struct web_req *req, const char *base,
                     const char *extra, struct buf *b)
{
    if (filtered_link(req, base, extra, b) != 0)
        return false;
    json_object_set_new(data, key, json_string(buf_cstr(b)));
    return true;
}

/*
 * The chain line. Hashing 1M rows takes seconds, so the page never walks the
 * whole chain: it checks the rows after the stored checkpoint, at most
 * CHAIN_ROWS_PER_REQUEST per request (a backlog is worked off over several
 * loads and said so), and names the last full check, since a row changed
 * before the checkpoint is seen only by `lumi audit verify`.
 */
static json_t *chain_status(struct web_req *req)
{
    struct audit_check c;
    struct lumi_err err = {0};
    char line[400], full[300];
    const char *state = "ok";
    if (audit_check_incremental(req->db, CHAIN_ROWS_PER_REQUEST, &c, &err) != 0)
        return json_pack("{s:s s:s s:s}", "state", "bad", "line", "The chain could not be checked.",
                         "full", "");
    if (c.v.broken_id != 0) {
        state = "bad";
        snprintf(line, sizeof line, "Chain broken at #%lld: %s (intact up to #%lld).",
                 (long long)c.v.broken_id, c.v.reason, (long long)c.v.last_good_id);
    } else if (c.tip == 0) {
        snprintf(line, sizeof line, "The audit log is empty.");
    } else if (c.complete) {
        snprintf(line, sizeof line, "Chain intact up to #%lld.", (long long)c.v.last_good_id);
    } else {
        state = "pending";
        snprintf(line, sizeof line,
                 "Chain verified up to #%lld of #%lld, checking… (%lld rows checked now; each "
                 "load of this page checks up to %d more).",
                 (long long)c.v.last_good_id, (long long)c.tip, (long long)c.v.rows,
                 CHAIN_ROWS_PER_REQUEST);
    }
    if (c.full_at[0] == '\0' && c.checkpoint_id == 0)
        snprintf(full, sizeof full, "Last full check: never (lumi audit verify).");
    else if (c.full_at[0] == '\0')
        snprintf(full, sizeof full,
                 "Last full check: never. Rows up to #%lld were checked on earlier visits and are "
                 "not re-hashed; a change among them is found only by a full check (lumi audit "
                 "verify).",
                 (long long)c.checkpoint_id);
    else if (c.full_broken_id != 0)
        snprintf(full, sizeof full,
                 "Last full check: %s, broken at #%lld (%lld rows walked). Rows checked before "
                 "are not re-hashed here; run lumi audit verify for a full check.",
                 c.full_at, (long long)c.full_broken_id, (long long)c.full_rows);
    else
        snprintf(full, sizeof full,
                 "Last full check: %s, intact up to #%lld. Rows older than the last check are "
                 "not re-hashed here; a change among them is found by the next full check (lumi "
                 "audit verify).",
                 c.full_at, (long long)c.full_last_good_id);
    return json_pack("{s:s s:b s:b s:s s:s}", "state", state, "ok", c.v.broken_id == 0, "pending",
                     strcmp(state, "pending") == 0, "line", line, "full", full);
}

void p_audit_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    struct buf link;
    char from[UTC_ISO_LEN], to[UTC_ISO_LEN], extra[96];
    const char *bad = NULL;
    json_t *data = NULL;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "audit";
    buf_init(&link, 16384);
    struct audit_filter f = {
        .action = nonempty(web_query(req, "action")),
        .entity = nonempty(web_query(req, "entity")),
        .entity_id = nonempty(web_query(req, "entity_id")),
        .actor = nonempty(web_query(req, "actor")),
        .ip = nonempty(web_query(req, "ip")),
        .q = nonempty(web_query(req, "q")),
    };
    if (!time_filter(web_query(req, "from"), from, &f.from))
        bad = "'from' must be an ISO-8601 time such as 2026-11-24T00:00:00Z; it was ignored.";
    if (!time_filter(web_query(req, "to"), to, &f.to))
        bad = "'to' must be an ISO-8601 time such as 2026-11-24T00:00:00Z; it was ignored.";
    int64_t limit = PAGE_DEFAULT, cursor = 0;
    const char *l = web_query(req, "limit"), *c = web_query(req, "cursor");
    if (l != NULL && *l != '\0' && str_to_i64z(l, 1, PAGE_MAX, &limit) != 0)
        limit = PAGE_DEFAULT;
    if (c != NULL && *c != '\0' && str_to_i64z(c, 1, INT64_MAX, &cursor) != 0)
        cursor = 0;
    f.before_id = cursor;
    int64_t next = 0;
    json_t *rows = audit_query(req->db, &f, (int)limit, &next, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        goto out;
    }
    data =
        json_pack("{s:s s:o s:o}", "title", "Audit log", "rows", rows, "chain", chain_status(req));
    if (data == NULL)
        goto render;
    json_t *fv = json_object();
    for (size_t i = 0; FILTERS[i] != NULL; i++) {
        const char *v = web_query(req, FILTERS[i]);
        json_object_set_new(fv, FILTERS[i], json_string(v ? v : ""));
    }
    json_object_set_new(data, "filter", fv);
    bool fits = set_link(data, "export_csv", req, "/api/admin/audit-logs", "format=csv", &link) &&
                set_link(data, "export_jsonl", req, "/api/admin/audit-logs", "format=jsonl", &link);
    if (fits && cursor > 0)
        fits = set_link(data, "newest_href", req, "/admin/audit-logs", NULL, &link);
    if (fits && next > 0) {
        if (limit != PAGE_DEFAULT)
            snprintf(extra, sizeof extra, "limit=%lld&cursor=%lld", (long long)limit,
                     (long long)next);
        else
            snprintf(extra, sizeof extra, "cursor=%lld", (long long)next);
        fits = set_link(data, "next_href", req, "/admin/audit-logs", extra, &link);
    }
    if (!fits)
        bad = "The filters are too long for page and export links.";
    if (bad != NULL)
        json_object_set_new(data, "flash", page_flash("error", bad));
render:
    page_render(req, resp, 200, &ctx, "audit.html", data);
out:
    buf_free(&link);
}

void p_audit_detail(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "audit";
    int64_t id = page_id_or_404(req, resp, &ctx, "audit row not found");
    if (id <= 0)
        return;
    json_t *row = audit_get(req->db, id, &err);
    if (row == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    char *pretty = json_dumps(json_object_get(row, "details"),
                              JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char title[64];
    snprintf(title, sizeof title, "Audit row #%lld", (long long)id);
    page_render(req, resp, 200, &ctx, "audit_detail.html",
                json_pack("{s:s s:o s:s}", "title", title, "row", row, "details_pretty",
                          pretty ? pretty : "{}"));
    free(pretty);
}
