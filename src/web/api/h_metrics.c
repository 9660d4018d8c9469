/*
 * h_metrics.c — GET /metrics: Lumi's counters (core/metrics) and gauges read
 * from the database at scrape time, in the Prometheus text format.
 *
 * With LUMI_METRICS_TOKEN set the scrape must carry "Authorization: Bearer
 * <token>", compared in constant time (401 otherwise); without it the route
 * is open, for a Prometheus on the same host or network. Gauges are a few
 * indexed COUNTs and one single-row lookup, so a scrape costs the same on a
 * database of any size. A database that does not answer still gives the
 * counters, with lumi_up 0.
 */
#include "web/api/api.h"

#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/metrics.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/outbox.h"
#include "provisioning/jobs.h"

#define METRICS_MAX (8u << 20)
#define TOKEN_MAX 512

static bool token_ok(struct web_req *req)
{
    const char *want = config_str("LUMI_METRICS_TOKEN");
    if (!str_present(want))
        return true;
    const char *h = web_header(req, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    size_t hl = strlen(h), wl = strlen(want);
    if (hl > TOKEN_MAX || wl > TOKEN_MAX)
        return false;
    /* Compared over the same padded length, so the time says nothing about the token. */
    unsigned char a[TOKEN_MAX] = {0}, b[TOKEN_MAX] = {0};
    memcpy(a, h, hl);
    memcpy(b, want, wl);
    return crypto_ct_equal(a, b, TOKEN_MAX) && hl == wl;
}

/* One gauge family over a JSON object of counts {label: n}. */
static int write_counts(struct buf *out, const char *name, const char *help, const char *label,
                        json_t *counts)
{
    const char *key;
    json_t *v;
    int rc = metrics_write_gauge_head(out, name, help);
    json_object_foreach(counts, key, v)
    {
        if (rc == 0)
            rc = metrics_write_sample(out, name, label, key, json_integer_value(v));
    }
    return rc;
}

static int write_gauge(struct buf *out, const char *name, const char *help, int64_t v)
{
    int rc = metrics_write_gauge_head(out, name, help);
    return rc == 0 ? metrics_write_sample(out, name, NULL, NULL, v) : rc;
}

/* The gauges read from the database; < 0 when it did not answer. */
static int write_db_gauges(struct db *db, struct buf *out, struct lumi_err *err)
{
    int64_t age = 0;
    json_t *jobs = jobs_counts(db, err);
    json_t *mail = jobs != NULL ? outbox_counts(db, err) : NULL;
    int rc = mail != NULL ? jobs_oldest_due_age(db, utc_now(), &age, err) : err->code;
    if (rc == 0)
        rc = write_counts(out, "lumi_jobs",
                          "Provisioning jobs by state (queued is the queue depth)", "state", jobs);
    if (rc == 0)
        rc = write_gauge(out, "lumi_jobs_oldest_due_age_seconds",
                         "Seconds the longest-waiting due job has waited (0: none due)", age);
    if (rc == 0)
        rc = write_counts(out, "lumi_mail_outbox", "Mail outbox messages by state", "state", mail);
    json_decref(jobs);
    json_decref(mail);
    return rc;
}

void h_metrics(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    if (!token_ok(req)) {
        web_add_header(resp, "WWW-Authenticate", "Bearer realm=\"metrics\"");
        web_reply_error(resp, 401, "unauthorized", "a valid metrics token is required");
        return;
    }
    const char *engine = db_kind(req->db) == DB_POSTGRES ? "postgres" : "sqlite";
    struct buf out;
    buf_init(&out, METRICS_MAX);
    int rc = metrics_write_gauge_head(&out, "lumi_build_info", "Version and database engine");
    if (rc == 0)
        rc = buf_printf(&out, "lumi_build_info{version=\"%s\",engine=\"%s\"} 1\n", LUMI_VERSION,
                        engine);
    int up = rc == 0 && write_db_gauges(req->db, &out, &err) == 0;
    if (rc == 0)
        rc = write_gauge(&out, "lumi_up", "1 when the database answered this scrape", up);
    if (rc == 0)
        rc = metrics_write(&out);
    if (rc != 0) {
        buf_free(&out);
        web_reply_error(resp, 500, "internal_error", "the metrics did not fit in memory");
        return;
    }
    web_reply_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", buf_cstr(&out), out.len);
    buf_free(&out);
}
