/*
 * stats.c — the dashboard's figures (see stats.h); owns read-only SQL over
 * `transactions`, `invoices`, `services` and `jobs` aggregates.
 *
 * Portability: times are ISO-8601 UTC text ("YYYY-MM-DDTHH:MM:SSZ"), so
 * ranges are plain text comparisons against bounds computed here, and a day
 * is SUBSTR(created_at, 1, 10) — the same on SQLite and PostgreSQL. Sums
 * are CAST to BIGINT because PostgreSQL's SUM(bigint) is numeric.
 * Every figure is grouped by currency in SQL: amounts of different
 * currencies are never added.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/stats.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/utc.h"
#include "provisioning/jobs.h"

#define DAY_S 86400

/* Money coming in counts positive, money going back out negative. */
static const char SQL_REVENUE[] =
    "SELECT currency, CAST(SUM(CASE WHEN kind IN ('payment', 'chargeback_reversal')"
    " THEN amount ELSE -amount END) AS BIGINT), COUNT(*) FROM transactions"
    " WHERE created_at >= $1 AND created_at < $2 GROUP BY currency ORDER BY currency";

static const char SQL_UNPAID[] =
    "SELECT currency, CAST(SUM(total - amount_paid) AS BIGINT), COUNT(*) FROM invoices"
    " WHERE status IN ('unpaid', 'partially_paid') GROUP BY currency ORDER BY currency";

static const char SQL_OVERDUE[] =
    "SELECT currency, CAST(SUM(total - amount_paid) AS BIGINT), COUNT(*) FROM invoices"
    " WHERE status IN ('unpaid', 'partially_paid') AND due_date < $1"
    " GROUP BY currency ORDER BY currency";

static const char SQL_SERVICES[] = "SELECT status, COUNT(*) FROM services GROUP BY status";

static const char SQL_FAILED_JOBS[] = "SELECT COUNT(*) FROM jobs WHERE status = 'failed'";

static const char SQL_DAILY[] =
    "SELECT currency, SUBSTR(created_at, 1, 10), CAST(SUM(amount) AS BIGINT) FROM transactions"
    " WHERE kind = 'payment' AND created_at >= $1 AND created_at < $2"
    " GROUP BY currency, SUBSTR(created_at, 1, 10) ORDER BY 1, 2";

static const char *const SERVICE_STATUSES[] = {
    "pending", "provisioning", "active", "suspended", "terminated", "failed", "cancelled", NULL};

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

/* Seconds of 00:00:00 UTC of t's day (t >= 0 for any stored time). */
static int64_t day_start(int64_t t)
{
    return t - t % DAY_S;
}

/*
 * Runs sql (text parameters p1, p2; NULL when unused) whose rows are
 * (currency, amount, count) and appends {currency, amount[, count]} to arr.
 */
static int money_rows(struct db *db, const char *sql, const char *p1, const char *p2,
                      bool with_count, json_t *arr, struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    if ((p1 != NULL && db_bind_text(st, 1, p1) < 0) ||
        (p2 != NULL && db_bind_text(st, 2, p2) < 0)) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *row = json_pack("{s:s, s:I}", "currency", db_col_text(st, 0), "amount",
                                (json_int_t)db_col_int64(st, 1));
        if (row != NULL && with_count &&
            json_object_set_new(row, "count", json_integer(db_col_int64(st, 2))) < 0) {
            json_decref(row);
            row = NULL;
        }
        if (row == NULL || json_array_append_new(arr, row) < 0) {
            rc = nomem(err);
            goto out;
        }
    }
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int services_by_status(struct db *db, json_t *out, struct lumi_err *err)
{
    int rc;
    int64_t total = 0;
    json_t *counts = json_object();
    struct db_stmt *st = NULL;
    if (counts == NULL)
        return nomem(err);
    for (size_t i = 0; SERVICE_STATUSES[i] != NULL; i++)
        if (json_object_set_new(counts, SERVICE_STATUSES[i], json_integer(0)) < 0) {
            rc = nomem(err);
            goto out;
        }
    st = db_prepare(db, SQL_SERVICES, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        int64_t n = db_col_int64(st, 1);
        total += n;
        if (json_object_set_new(counts, db_col_text(st, 0), json_integer(n)) < 0) {
            rc = nomem(err);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    /* json_object_set_new takes the reference even when it fails. */
    rc = json_object_set_new(out, "services", counts);
    counts = NULL;
    if (rc < 0 || json_object_set_new(out, "services_total", json_integer(total)) < 0)
        rc = nomem(err);
out:
    db_finalize(st);
    json_decref(counts);
    return rc < 0 ? rc : 0;
}

static int failed_jobs(struct db *db, json_t *out, struct lumi_err *err)
{
    int64_t count = 0, next = 0;
    int rc = db_query_int64(db, SQL_FAILED_JOBS, 0, NULL, &count, err);
    if (rc < 0)
        return rc;
    json_t *latest = jobs_list(db, "failed", 0, STATS_FAILED_LATEST, &next, err);
    if (latest == NULL)
        return err->code != 0 ? err->code : nomem(err);
    json_t *f = json_pack("{s:I, s:o}", "count", (json_int_t)count, "latest", latest);
    if (f == NULL || json_object_set_new(out, "failed_jobs", f) < 0)
        return nomem(err);
    return 0;
}

/* The series of currency in series (an array), appended with STATS_DAYS zeros when new. */
static json_t *series_of(json_t *series, const char *currency)
{
    size_t i;
    json_t *s;
    json_array_foreach(series, i, s)
    {
        const char *c = json_string_value(json_object_get(s, "currency"));
        if (c != NULL && strcmp(c, currency) == 0)
            return s;
    }
    json_t *amounts = json_array();
    for (int d = 0; amounts != NULL && d < STATS_DAYS; d++)
        if (json_array_append_new(amounts, json_integer(0)) < 0) {
            json_decref(amounts);
            amounts = NULL;
        }
    if (amounts == NULL)
        return NULL;
    s = json_pack("{s:s, s:o, s:I, s:I}", "currency", currency, "amounts", amounts, "total",
                  (json_int_t)0, "max", (json_int_t)0);
    if (s == NULL || json_array_append_new(series, s) < 0)
        return NULL;
    return s;
}

/* Adds amount to day index d of the series (also to its total and max). */
static int series_add(json_t *s, int d, int64_t amount, struct lumi_err *err)
{
    json_t *amounts = json_object_get(s, "amounts");
    int64_t v = json_integer_value(json_array_get(amounts, (size_t)d));
    int64_t total = json_integer_value(json_object_get(s, "total"));
    int64_t max = json_integer_value(json_object_get(s, "max"));
    if (__builtin_add_overflow(v, amount, &v) || __builtin_add_overflow(total, amount, &total))
        return err_set(err, LUMI_EINVAL, "the payments of one currency overflow a 64-bit sum");
    if (v > max)
        max = v;
    if (json_array_set_new(amounts, (size_t)d, json_integer(v)) < 0 ||
        json_object_set_new(s, "total", json_integer(total)) < 0 ||
        json_object_set_new(s, "max", json_integer(max)) < 0)
        return nomem(err);
    return 0;
}

static int payments_daily(struct db *db, int64_t now, json_t *out, struct lumi_err *err)
{
    int rc;
    char from[UTC_ISO_LEN], to[UTC_ISO_LEN];
    struct db_stmt *st = NULL;
    int64_t first = day_start(now) - (int64_t)(STATS_DAYS - 1) * DAY_S;
    json_t *days = json_array(), *series = json_array();
    if (days == NULL || series == NULL) {
        rc = nomem(err);
        goto out;
    }
    for (int d = 0; d < STATS_DAYS; d++) {
        char iso[UTC_ISO_LEN];
        if (utc_format(first + (int64_t)d * DAY_S, iso) < 0) {
            rc = err_set(err, LUMI_EINVAL, "the dashboard's date is out of range");
            goto out;
        }
        iso[10] = '\0';
        if (json_array_append_new(days, json_string(iso)) < 0) {
            rc = nomem(err);
            goto out;
        }
    }
    if (utc_format(first, from) < 0 || utc_format(day_start(now) + DAY_S, to) < 0) {
        rc = err_set(err, LUMI_EINVAL, "the dashboard's date is out of range");
        goto out;
    }
    st = db_prepare(db, SQL_DAILY, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    if (db_bind_text(st, 1, from) < 0 || db_bind_text(st, 2, to) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        int64_t t = 0;
        const char *day = db_col_text(st, 1);
        if (day == NULL || utc_parse(day, &t, NULL) < 0)
            continue; /* a malformed time cannot be placed on a day: leave it out */
        int64_t d = (t - first) / DAY_S;
        if (d < 0 || d >= STATS_DAYS)
            continue;
        json_t *s = series_of(series, db_col_text(st, 0));
        if (s == NULL) {
            rc = nomem(err);
            goto out;
        }
        rc = series_add(s, (int)d, db_col_int64(st, 2), err);
        if (rc < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    json_t *daily = json_pack("{s:O, s:O}", "days", days, "series", series);
    if (daily == NULL || json_object_set_new(out, "payments_daily", daily) < 0)
        rc = nomem(err);
out:
    db_finalize(st);
    json_decref(days);
    json_decref(series);
    return rc < 0 ? rc : 0;
}

/* out[key] = money rows of sql with parameters p1, p2. */
static int money_figure(struct db *db, json_t *out, const char *key, const char *sql,
                        const char *p1, const char *p2, bool with_count, struct lumi_err *err)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(err);
    int rc = money_rows(db, sql, p1, p2, with_count, arr, err);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    if (json_object_set_new(out, key, arr) < 0)
        return nomem(err);
    return 0;
}

json_t *stats_dashboard(struct db *db, int64_t now, struct lumi_err *err)
{
    struct lumi_err local;
    char as_of[UTC_ISO_LEN], month_from[UTC_ISO_LEN], month_to[UTC_ISO_LEN], month[8];
    json_t *out = NULL;
    int64_t month_t = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (now < 0 || utc_format(now, as_of) < 0) {
        err_set(err, LUMI_EINVAL, "the dashboard's date is out of range");
        return NULL;
    }
    /* "YYYY-MM" of now; the month runs from its first day to the next month's. */
    snprintf(month, sizeof month, "%.7s", as_of);
    snprintf(month_from, sizeof month_from, "%.7s-01T00:00:00Z", as_of);
    if (utc_parse(month_from, &month_t, err) < 0 ||
        utc_format(utc_add_months(month_t, 1), month_to) < 0) {
        err_set(err, LUMI_EINVAL, "the dashboard's date is out of range");
        return NULL;
    }
    out = json_pack("{s:s, s:s}", "as_of", as_of, "month", month);
    if (out == NULL) {
        nomem(err);
        return NULL;
    }
    if (money_figure(db, out, "revenue_month", SQL_REVENUE, month_from, month_to, false, err) < 0 ||
        money_figure(db, out, "unpaid", SQL_UNPAID, NULL, NULL, true, err) < 0 ||
        money_figure(db, out, "overdue", SQL_OVERDUE, as_of, NULL, true, err) < 0 ||
        services_by_status(db, out, err) < 0 || failed_jobs(db, out, err) < 0 ||
        payments_daily(db, now, out, err) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
