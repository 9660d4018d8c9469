/*
 * metrics.c — process-wide counters and histograms (see metrics.h).
 *
 * Owns fixed arrays of _Atomic uint64_t, updated with relaxed atomics: a
 * scrape may see one counter a step ahead of another, never a torn value.
 * The HTTP arrays are sized once from the route table (metrics_http_routes,
 * before the server takes requests) and never freed; the pointer to them is
 * published with release/acquire so a thread that sees it sees the arrays.
 * Histograms store non-cumulative bucket counts and are summed up when
 * written; durations are kept in nanoseconds and written in seconds.
 */
#include "core/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

#define HIST_MAX 16

struct hist_def {
    size_t n;                /* finite bounds */
    double bounds[HIST_MAX]; /* upper bounds, increasing (seconds, or items) */
    double scale;            /* a sum unit in the written unit (1e-9: ns to s) */
};

struct hist {
    _Atomic uint64_t bucket[HIST_MAX + 1]; /* last: above every bound (+Inf) */
    _Atomic uint64_t sum;
    _Atomic uint64_t count;
};

static const struct hist_def LATENCY = {
    12, {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}, 1e-9};
static const struct hist_def SLOW = {10, {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, 1e-9};
static const struct hist_def SIZES = {10, {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024}, 1};

/* Fixed label sets. */
static const char *const GATEWAYS[] = {"stripe", "paypal", "other"};
static const char *const WH_OUTCOMES[] = {"processed", "duplicate", "ignored", "failed",
                                          "retry",     "rejected",  "error"};
static const char *const PANELS[] = {"pterodactyl", "directadmin", "virtfusion", "other", "none"};
enum { PANEL_OTHER = 3, PANEL_NONE = 4, PANEL_KNOWN = 3 }; /* indexes into PANELS */
static const char *const JOB_OUTCOMES[] = {"done", "retry", "failed", "error"};
static const char *const CALL_OUTCOMES[] = {"success", "error"};
static const char *const MAIL_OUTCOMES[] = {"sent", "failed"};
static const char *const DB_KINDS[] = {"error", "busy"};
/* Statuses with a series of their own; any other is counted under its class ("4xx"). */
static const int STATUSES[] = {200, 201, 202, 204, 301, 302, 303, 304, 400, 401, 403, 404,
                               405, 409, 410, 413, 415, 422, 429, 500, 502, 503, 504};
static const char *const CLASSES[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NSTATUS (N(STATUSES) + N(CLASSES))

struct http_metrics {
    const char *const *methods;
    const char *const *patterns;
    size_t n;                              /* routes; index n is "no route matched" */
    _Atomic uint64_t (*requests)[NSTATUS]; /* [n + 1][NSTATUS] */
    struct hist *latency;                  /* [n + 1] */
};

static _Atomic(struct http_metrics *) http;
static _Atomic uint64_t webhooks[N(GATEWAYS)][N(WH_OUTCOMES)];
static _Atomic uint64_t job_attempts[N(PANELS)][N(JOB_OUTCOMES)];
static _Atomic uint64_t panel_calls[N(PANELS)][N(CALL_OUTCOMES)];
static struct hist panel_latency[N(PANELS)];
static _Atomic uint64_t mails[N(MAIL_OUTCOMES)];
static _Atomic uint64_t db_errors[N(DB_KINDS)];
static struct hist batch_size, batch_commit, batch_fsync;

int64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* value in the definition's unit: ns for durations (compared in seconds), items for sizes. */
static void hist_observe(struct hist *h, const struct hist_def *d, int64_t value)
{
    if (value < 0)
        value = 0;
    double x = (double)value * d->scale;
    size_t i = 0;
    while (i < d->n && x > d->bounds[i])
        i++;
    add(&h->bucket[i], 1);
    add(&h->sum, (uint64_t)value);
    add(&h->count, 1);
}

/* Index of name among the first n entries of list, else fallback. */
static size_t pick(const char *const *list, size_t n, const char *name, size_t fallback)
{
    for (size_t i = 0; name != NULL && i < n; i++)
        if (strcmp(list[i], name) == 0)
            return i;
    return fallback;
}

void metrics_http_routes(const char *const *methods, const char *const *patterns, size_t n)
{
    if (atomic_load_explicit(&http, memory_order_acquire) != NULL)
        return;
    struct http_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return;
    const char **ms = calloc(n + 1, sizeof *ms), **ps = calloc(n + 1, sizeof *ps);
    m->requests = calloc(n + 1, sizeof *m->requests);
    m->latency = calloc(n + 1, sizeof *m->latency);
    if (ms == NULL || ps == NULL || m->requests == NULL || m->latency == NULL)
        goto drop;
    memcpy(ms, methods, n * sizeof *ms);
    memcpy(ps, patterns, n * sizeof *ps);
    m->methods = ms;
    m->patterns = ps;
    m->n = n;
    struct http_metrics *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&http, &expected, m, memory_order_acq_rel,
                                                memory_order_acquire))
        return; /* kept for the life of the process */
drop:
    free(ms);
    free(ps);
    free(m->requests);
    free(m->latency);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < N(STATUSES); i++)
        if (STATUSES[i] == status)
            return i;
    int cls = status / 100;
    return N(STATUSES) + (size_t)(cls >= 1 && cls <= 5 ? cls - 1 : 4);
}

void metrics_observe_http(size_t route, int status, int64_t ns)
{
    struct http_metrics *m = atomic_load_explicit(&http, memory_order_acquire);
    if (m == NULL)
        return;
    if (route > m->n)
        route = m->n;
    add(&m->requests[route][status_slot(status)], 1);
    hist_observe(&m->latency[route], &LATENCY, ns);
}

void metrics_count_webhook(const char *gateway, const char *outcome)
{
    size_t g = pick(GATEWAYS, N(GATEWAYS), gateway, N(GATEWAYS) - 1);
    size_t o = pick(WH_OUTCOMES, N(WH_OUTCOMES), outcome, N(WH_OUTCOMES) - 1);
    add(&webhooks[g][o], 1);
}

void metrics_observe_batch(long long n, int64_t ns)
{
    hist_observe(&batch_size, &SIZES, n);
    hist_observe(&batch_commit, &LATENCY, ns);
}

void metrics_observe_fsync(int64_t ns)
{
    hist_observe(&batch_fsync, &LATENCY, ns);
}

void metrics_observe_panel_call(const char *panel, int ok, int64_t ns)
{
    size_t p = pick(PANELS, PANEL_KNOWN, panel, PANEL_OTHER);
    add(&panel_calls[p][ok ? 0 : 1], 1);
    hist_observe(&panel_latency[p], &SLOW, ns);
}

void metrics_count_job_attempt(const char *panel, const char *outcome)
{
    size_t p = panel == NULL ? PANEL_NONE : pick(PANELS, PANEL_KNOWN, panel, PANEL_OTHER);
    add(&job_attempts[p][pick(JOB_OUTCOMES, N(JOB_OUTCOMES), outcome, N(JOB_OUTCOMES) - 1)], 1);
}

void metrics_count_mail(int sent)
{
    add(&mails[sent ? 0 : 1], 1);
}

void metrics_count_db_error(int code)
{
    if (code == LUMI_EDB)
        add(&db_errors[0], 1);
    else if (code == LUMI_EBUSY)
        add(&db_errors[1], 1);
}

/* ---- the text format ---- */

static int head(struct buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped. */
static int label_value(struct buf *out, const char *v)
{
    int rc = 0;
    for (; rc == 0 && *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            rc = buf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            rc = buf_append_str(out, "\\n");
        else
            rc = buf_append_char(out, *v);
    }
    return rc;
}

int metrics_write_gauge_head(struct buf *out, const char *name, const char *help)
{
    return head(out, name, "gauge", help);
}

int metrics_write_sample(struct buf *out, const char *name, const char *label, const char *value,
                         int64_t v)
{
    int rc = buf_append_str(out, name);
    if (rc == 0 && label != NULL) {
        rc = buf_printf(out, "{%s=\"", label);
        if (rc == 0)
            rc = label_value(out, value != NULL ? value : "");
        if (rc == 0)
            rc = buf_append_str(out, "\"}");
    }
    return rc == 0 ? buf_printf(out, " %lld\n", (long long)v) : rc;
}

/* Writes the _bucket/_sum/_count lines of h; labels is "" or `a="b",` (with the comma). */
static int hist_write(struct buf *out, const char *name, const char *labels, struct hist *h,
                      const struct hist_def *d)
{
    uint64_t cum = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i <= d->n; i++) {
        cum += get(&h->bucket[i]);
        if (i < d->n)
            rc = buf_printf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, d->bounds[i],
                            (unsigned long long)cum);
        else
            rc = buf_printf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
                            (unsigned long long)cum);
    }
    /* the count is the +Inf bucket, so the two never disagree within a scrape */
    size_t nl = strlen(labels);
    if (rc == 0)
        rc = buf_printf(out, "%s_sum%s%.*s%s %.9g\n", name, nl ? "{" : "", (int)(nl ? nl - 1 : 0),
                        labels, nl ? "}" : "", (double)get(&h->sum) * d->scale);
    if (rc == 0)
        rc = buf_printf(out, "%s_count%s%.*s%s %llu\n", name, nl ? "{" : "", (int)(nl ? nl - 1 : 0),
                        labels, nl ? "}" : "", (unsigned long long)cum);
    return rc;
}

/* `key="value",` into a small buffer, value escaped. */
static int labels_of(char *out, size_t outsz, const char *key, const char *value)
{
    struct buf b;
    buf_init(&b, outsz - 1);
    int rc = buf_printf(&b, "%s=\"", key);
    if (rc == 0)
        rc = label_value(&b, value);
    if (rc == 0)
        rc = buf_append_str(&b, "\",");
    if (rc == 0)
        memcpy(out, buf_cstr(&b), b.len + 1);
    buf_free(&b);
    return rc;
}

static int write_http(struct buf *out)
{
    struct http_metrics *m = atomic_load_explicit(&http, memory_order_acquire);
    char status[8], labels[512];
    int rc = head(out, "lumi_http_requests_total", "counter",
                  "HTTP requests answered, by route pattern and status");
    for (size_t r = 0; rc == 0 && m != NULL && r <= m->n; r++) {
        const char *method = r < m->n ? m->methods[r] : "";
        const char *route = r < m->n ? m->patterns[r] : "unmatched";
        for (size_t s = 0; rc == 0 && s < NSTATUS; s++) {
            uint64_t v = get(&m->requests[r][s]);
            if (v == 0)
                continue;
            if (s < N(STATUSES))
                snprintf(status, sizeof status, "%d", STATUSES[s]);
            else
                snprintf(status, sizeof status, "%s", CLASSES[s - N(STATUSES)]);
            rc = buf_append_str(out, "lumi_http_requests_total{method=\"");
            if (rc == 0)
                rc = label_value(out, method);
            if (rc == 0)
                rc = buf_append_str(out, "\",route=\"");
            if (rc == 0)
                rc = label_value(out, route);
            if (rc == 0)
                rc = buf_printf(out, "\",status=\"%s\"} %llu\n", status, (unsigned long long)v);
        }
    }
    if (rc == 0)
        rc = head(out, "lumi_http_request_duration_seconds", "histogram",
                  "Time from the first byte of a request to its answer, by route pattern");
    for (size_t r = 0; rc == 0 && m != NULL && r <= m->n; r++) {
        if (get(&m->latency[r].count) == 0)
            continue;
        struct buf b;
        buf_init(&b, sizeof labels - 1);
        rc = buf_append_str(&b, "method=\"");
        if (rc == 0)
            rc = label_value(&b, r < m->n ? m->methods[r] : "");
        if (rc == 0)
            rc = buf_append_str(&b, "\",route=\"");
        if (rc == 0)
            rc = label_value(&b, r < m->n ? m->patterns[r] : "unmatched");
        if (rc == 0)
            rc = buf_append_str(&b, "\",");
        if (rc == 0)
            rc = hist_write(out, "lumi_http_request_duration_seconds", buf_cstr(&b), &m->latency[r],
                            &LATENCY);
        buf_free(&b);
    }
    return rc;
}

/* A counter family over a two-label table (rows × columns). */
static int write_table(struct buf *out, const char *name, const char *help, const char *k1,
                       const char *const *l1, size_t n1, const char *k2, const char *const *l2,
                       size_t n2, _Atomic uint64_t *cells)
{
    int rc = head(out, name, "counter", help);
    for (size_t i = 0; rc == 0 && i < n1; i++)
        for (size_t j = 0; rc == 0 && j < n2; j++)
            rc = buf_printf(out, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", name, k1, l1[i], k2, l2[j],
                            (unsigned long long)get(&cells[i * n2 + j]));
    return rc;
}

static int write_batch(struct buf *out)
{
    int rc = head(out, "lumi_batch_size", "histogram", "Items per group commit");
    if (rc == 0)
        rc = hist_write(out, "lumi_batch_size", "", &batch_size, &SIZES);
    if (rc == 0)
        rc = head(out, "lumi_batch_commit_seconds", "histogram",
                  "Time to apply and commit one group-commit batch");
    if (rc == 0)
        rc = hist_write(out, "lumi_batch_commit_seconds", "", &batch_commit, &LATENCY);
    if (rc == 0)
        rc = head(out, "lumi_batch_fsync_seconds", "histogram",
                  "Time of one fsync of the write-ahead log by the group commit (SQLite)");
    if (rc == 0)
        rc = hist_write(out, "lumi_batch_fsync_seconds", "", &batch_fsync, &LATENCY);
    return rc;
}

static int write_panels(struct buf *out)
{
    char labels[64];
    int rc = write_table(out, "lumi_panel_calls_total", "Calls to control panels, by outcome",
                         "panel", PANELS, N(PANELS) - 1, "outcome", CALL_OUTCOMES, N(CALL_OUTCOMES),
                         &panel_calls[0][0]);
    if (rc == 0)
        rc = head(out, "lumi_panel_call_duration_seconds", "histogram",
                  "Duration of calls to control panels");
    for (size_t p = 0; rc == 0 && p < N(PANELS) - 1; p++) {
        rc = labels_of(labels, sizeof labels, "panel", PANELS[p]);
        if (rc == 0)
            rc = hist_write(out, "lumi_panel_call_duration_seconds", labels, &panel_latency[p],
                            &SLOW);
    }
    if (rc == 0)
        rc = write_table(out, "lumi_job_attempts_total",
                         "Provisioning job attempts finished by this process, by panel and outcome",
                         "panel", PANELS, N(PANELS), "outcome", JOB_OUTCOMES, N(JOB_OUTCOMES),
                         &job_attempts[0][0]);
    return rc;
}

static int write_simple(struct buf *out, const char *name, const char *help, const char *key,
                        const char *const *labels, size_t n, _Atomic uint64_t *cells)
{
    int rc = head(out, name, "counter", help);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = buf_printf(out, "%s{%s=\"%s\"} %llu\n", name, key, labels[i],
                        (unsigned long long)get(&cells[i]));
    return rc;
}

int metrics_write(struct buf *out)
{
    int rc = write_http(out);
    if (rc == 0)
        rc = write_table(out, "lumi_webhook_deliveries_total",
                         "Payment gateway webhook deliveries answered, by gateway and outcome",
                         "gateway", GATEWAYS, N(GATEWAYS), "outcome", WH_OUTCOMES, N(WH_OUTCOMES),
                         &webhooks[0][0]);
    if (rc == 0)
        rc = write_batch(out);
    if (rc == 0)
        rc = write_panels(out);
    if (rc == 0)
        rc = write_simple(out, "lumi_mail_deliveries_total",
                          "Mail delivery attempts by this process, by outcome", "outcome",
                          MAIL_OUTCOMES, N(MAIL_OUTCOMES), mails);
    if (rc == 0)
        rc = write_simple(out, "lumi_db_errors_total",
                          "Database calls that failed (busy: locked or timed out)", "kind",
                          DB_KINDS, N(DB_KINDS), db_errors);
    return rc;
}
