/*
 * stats.c — the dashboard's figures (see stats.h); owns read-only SQL over
 * the aggregate tables of migration 14 (agg_transactions_daily,
 * agg_invoices_open, agg_services: kept by triggers, exact, never a cache),
 * today's part of the overdue invoices, and the failed jobs.
 *
 * Portability: times are ISO-8601 UTC text ("YYYY-MM-DDTHH:MM:SSZ"), so
 * ranges are plain text comparisons against bounds computed here, and a day
 * bucket is SUBSTR(created_at, 1, 10) — the same on SQLite and PostgreSQL.
 * Sums are CAST to BIGINT because PostgreSQL's SUM(bigint) is numeric.
 * Every figure is grouped by currency in SQL: amounts of different
 * currencies are never added.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/stats.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utc.h"
#include "provisioning/jobs.h"

#define DAY_S 86400

/*
 * The money figures read the aggregate tables of migration 14, which
 * triggers keep exact in every writer's own transaction (no scan of
 * invoices or transactions). A sum is taken in two halves — Σ (x / 2^32)
 * and Σ (x % 2^32), each far from overflowing — and joined here with
 * overflow checks, so a sum beyond 64 bits is reported as such (an entry
 * with "overflow": true) instead of failing the page.
 */
#define HALF "4294967296"

/* Money coming in counts positive (net), money going back out negative. */
static const char SQL_REVENUE[] =
    "SELECT currency, CAST(SUM(net / " HALF ") AS BIGINT), CAST(SUM(net % " HALF ") AS BIGINT),"
    " CAST(SUM(n) AS BIGINT) FROM agg_transactions_daily WHERE day >= $1 AND day < $2"
    " GROUP BY currency ORDER BY currency";

/* Unpaid and overdue in one pass over the open invoices' buckets: the second
 * column says whether the bucket's day is before today (then it is overdue;
 * the overdue part of today comes from the invoices, SQL_OVERDUE_TODAY). */
static const char SQL_OPEN[] =
    "SELECT currency, CASE WHEN due_day < $1 THEN 1 ELSE 0 END,"
    " CAST(SUM(amount / " HALF ") AS BIGINT), CAST(SUM(amount % " HALF ") AS BIGINT),"
    " CAST(SUM(n) AS BIGINT) FROM agg_invoices_open"
    " GROUP BY currency, CASE WHEN due_day < $1 THEN 1 ELSE 0 END ORDER BY currency";

/* Overdue = due on an earlier day (the aggregate) + due earlier today (the
 * invoices themselves, through invoices_status: a day's worth at most). */
static const char SQL_OVERDUE_TODAY[] =
    "SELECT currency, CAST(SUM((total - amount_paid) / " HALF ") AS BIGINT),"
    " CAST(SUM((total - amount_paid) % " HALF ") AS BIGINT), COUNT(*) FROM invoices"
    " WHERE status IN ('unpaid', 'partially_paid') AND due_date >= $1 AND due_date < $2"
    " GROUP BY currency ORDER BY currency";

static const char SQL_SERVICES[] =
    "SELECT status, CAST(SUM(n) AS BIGINT) FROM agg_services GROUP BY status";

static const char SQL_FAILED_JOBS[] = "SELECT COUNT(*) FROM jobs WHERE status = 'failed'";

static const char SQL_DAILY[] =
    "SELECT currency, day, CAST(SUM(payments / " HALF ") AS BIGINT), CAST(SUM(payments % " HALF
    ") AS BIGINT) FROM agg_transactions_daily WHERE day >= $1 AND day < $2"
    " GROUP BY currency, day ORDER BY 1, 2";

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

/* hi * 2^32 + lo into *out; false when it does not fit 64 bits. */
static bool join_halves(int64_t hi, int64_t lo, int64_t *out)
{
    int64_t v;
    if (__builtin_mul_overflow(hi, INT64_C(4294967296), &v) || __builtin_add_overflow(v, lo, &v))
        return false;
    *out = v;
    return true;
}

/* The entry of currency in arr (an array of {currency, amount[, count]}), added when new. */
static json_t *entry_of(json_t *arr, const char *currency, bool with_count)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *c = json_string_value(json_object_get(e, "currency"));
        if (c != NULL && strcmp(c, currency) == 0)
            return e;
    }
    e = json_pack("{s:s, s:I}", "currency", currency, "amount", (json_int_t)0);
    if (e != NULL && with_count && json_object_set_new(e, "count", json_integer(0)) < 0) {
        json_decref(e);
        return NULL;
    }
    if (e == NULL || json_array_append_new(arr, e) < 0)
        return NULL;
    return e;
}

/* Adds (hi, lo, count) to the entry; a sum past 64 bits marks it "overflow" (amount 0). */
static int entry_add(json_t *e, int64_t hi, int64_t lo, int64_t count, bool with_count)
{
    int64_t amount = json_integer_value(json_object_get(e, "amount"));
    int64_t part = 0, n = json_integer_value(json_object_get(e, "count"));
    bool over = json_is_true(json_object_get(e, "overflow"));
    if (!over && (!join_halves(hi, lo, &part) || __builtin_add_overflow(amount, part, &amount)))
        over = true;
    if (over) {
        amount = 0;
        if (json_object_set_new(e, "overflow", json_true()) < 0)
            return LUMI_ENOMEM;
    }
    if (json_object_set_new(e, "amount", json_integer(amount)) < 0)
        return LUMI_ENOMEM;
    if (with_count && (__builtin_add_overflow(n, count, &n) ||
                       json_object_set_new(e, "count", json_integer(n)) < 0))
        return LUMI_ENOMEM;
    return 0;
}

/*
 * Runs sql (text parameters p1, p2; NULL when unused) whose rows are
 * (currency, Σ high halves, Σ low halves, count) and adds each to the entry
 * {currency, amount[, count]} of its currency in arr. Rows counting nothing
 * (buckets emptied by later writes) add no entry.
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
        if (db_col_int64(st, 3) == 0)
            continue;
        json_t *e = entry_of(arr, db_col_text(st, 0), with_count);
        if (e == NULL || entry_add(e, db_col_int64(st, 1), db_col_int64(st, 2), db_col_int64(st, 3),
                                   with_count) < 0) {
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
    /* Past 64 bits the series is marked and its figures held at the largest value. */
    if (__builtin_add_overflow(v, amount, &v) || __builtin_add_overflow(total, amount, &total)) {
        v = INT64_MAX;
        total = INT64_MAX;
        if (json_object_set_new(s, "overflow", json_true()) < 0)
            return nomem(err);
    }
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
    from[10] = '\0'; /* the aggregate's buckets are days "YYYY-MM-DD" */
    to[10] = '\0';
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
        int64_t amount = INT64_MAX;
        if (!join_halves(db_col_int64(st, 2), db_col_int64(st, 3), &amount) &&
            json_object_set_new(s, "overflow", json_true()) < 0) {
            rc = nomem(err);
            goto out;
        }
        rc = series_add(s, (int)d, amount, err);
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

/* out.unpaid and out.overdue (the earlier days' part) from SQL_OPEN. */
static int open_figures(struct db *db, const char *today, json_t *unpaid, json_t *overdue,
                        struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_OPEN, err);
    if (st == NULL)
        return LUMI_EDB;
    if (db_bind_text(st, 1, today) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        int64_t hi = db_col_int64(st, 2), lo = db_col_int64(st, 3), n = db_col_int64(st, 4);
        if (n == 0)
            continue;
        const char *cur = db_col_text(st, 0);
        json_t *u = entry_of(unpaid, cur, true);
        json_t *o = db_col_int64(st, 1) == 1 ? entry_of(overdue, cur, true) : NULL;
        if (u == NULL || entry_add(u, hi, lo, n, true) < 0 ||
            (db_col_int64(st, 1) == 1 && (o == NULL || entry_add(o, hi, lo, n, true) < 0))) {
            rc = nomem(err);
            goto out;
        }
    }
out:
    db_finalize(st);
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

static int cmp_currency(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "currency"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "currency"));
    return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

/* Two statements may each have added currencies: sorted again by currency code. */
static int sort_by_currency(json_t *arr, struct lumi_err *err)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return 0;
    if (n > 64)
        return err_set(err, LUMI_EINVAL, "more than 64 currencies on the dashboard");
    json_t *items[64];
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(arr, i));
    qsort(items, n, sizeof items[0], cmp_currency);
    json_array_clear(arr);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, items[i]) < 0)
            rc = nomem(err);
    return rc;
}

/* PostgreSQL: the triggers' delta rows folded into the base tables (migration 19). */
static const char SQL_COMPACT_LOCK[] =
    "SELECT pg_advisory_xact_lock(7602419350)"; /* one compactor at a time */

/* Each fold answers how many delta rows it took; the table it empties. */
static const struct fold {
    const char *sql;
    const char *table;
} FOLDS[] = {
    {"WITH d AS (DELETE FROM agg_invoices_open_delta RETURNING currency, due_day, amount, n),"
     " f AS (INSERT INTO agg_invoices_open_base AS a (currency, due_day, shard, amount, n)"
     " SELECT currency, due_day, 0, CAST(SUM(amount) AS BIGINT), CAST(SUM(n) AS BIGINT) FROM d"
     " GROUP BY currency, due_day ON CONFLICT (currency, due_day, shard)"
     " DO UPDATE SET amount = a.amount + excluded.amount, n = a.n + excluded.n)"
     " SELECT COUNT(*) FROM d",
     "agg_invoices_open_delta"},
    {"WITH d AS (DELETE FROM agg_transactions_daily_delta"
     " RETURNING currency, day, net, payments, n),"
     " f AS (INSERT INTO agg_transactions_daily_base AS a (currency, day, shard, net, payments, n)"
     " SELECT currency, day, 0, CAST(SUM(net) AS BIGINT), CAST(SUM(payments) AS BIGINT),"
     " CAST(SUM(n) AS BIGINT) FROM d GROUP BY currency, day ON CONFLICT (day, currency, shard)"
     " DO UPDATE SET net = a.net + excluded.net, payments = a.payments + excluded.payments,"
     " n = a.n + excluded.n)"
     " SELECT COUNT(*) FROM d",
     "agg_transactions_daily_delta"},
    {"WITH d AS (DELETE FROM agg_services_delta RETURNING status, n),"
     " f AS (INSERT INTO agg_services_base AS a (status, shard, n)"
     " SELECT status, 0, CAST(SUM(n) AS BIGINT) FROM d GROUP BY status"
     " ON CONFLICT (status, shard) DO UPDATE SET n = a.n + excluded.n)"
     " SELECT COUNT(*) FROM d",
     "agg_services_delta"},
};
#define NFOLDS (sizeof FOLDS / sizeof FOLDS[0])

/*
 * A fold that emptied this many rows leaves as many dead ones, which every
 * dashboard reading of the view scans until autovacuum (a minute or more)
 * gets there: after a large import or a burst (bench_scale's 1,000,000
 * transactions, folded at start), 300-600 ms per dashboard. Such a table is
 * vacuumed right after the fold (a few hundred ms, in the background thread).
 */
#define VACUUM_AFTER_ROWS 10000

int stats_compact(struct db *db, struct lumi_err *err)
{
    int64_t folded[NFOLDS] = {0}, total = 0;
    if (db_kind(db) != DB_POSTGRES)
        return 0; /* SQLite's triggers update the buckets themselves */
    if (db_begin(db, err) != 0)
        return err->code < 0 ? err->code : LUMI_EDB;
    int rc = db_execp(db, SQL_COMPACT_LOCK, 0, NULL, NULL, err);
    for (size_t i = 0; rc == 0 && i < NFOLDS; i++)
        rc = db_query_int64(db, FOLDS[i].sql, 0, NULL, &folded[i], err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0) {
        db_rollback(db);
        return err->code < 0 ? err->code : LUMI_EDB;
    }
    for (size_t i = 0; i < NFOLDS; i++) {
        char sql[96];
        total += folded[i];
        if (folded[i] < VACUUM_AFTER_ROWS)
            continue;
        snprintf(sql, sizeof sql, "VACUUM (SKIP_LOCKED) %s", FOLDS[i].table);
        if (db_exec(db, sql, err) != 0)
            return err->code < 0 ? err->code : LUMI_EDB;
    }
    return total > INT32_MAX ? INT32_MAX : (int)total;
}

json_t *stats_dashboard(struct db *db, int64_t now, struct lumi_err *err)
{
    struct lumi_err local;
    char as_of[UTC_ISO_LEN], month_from[UTC_ISO_LEN], month_to[UTC_ISO_LEN], month[8];
    char today[UTC_ISO_LEN];
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
    snprintf(today, sizeof today, "%.10s", as_of);
    if (utc_parse(month_from, &month_t, err) < 0 ||
        utc_format(utc_add_months(month_t, 1), month_to) < 0) {
        err_set(err, LUMI_EINVAL, "the dashboard's date is out of range");
        return NULL;
    }
    month_from[10] = '\0'; /* days, as the aggregate's buckets are */
    month_to[10] = '\0';
    out = json_pack("{s:s, s:s}", "as_of", as_of, "month", month);
    if (out == NULL) {
        nomem(err);
        return NULL;
    }
    json_t *unpaid = json_array(), *overdue = json_array();
    if (json_object_set_new(out, "unpaid", unpaid) < 0 ||
        json_object_set_new(out, "overdue", overdue) < 0) {
        json_decref(out);
        nomem(err);
        return NULL;
    }
    if (money_figure(db, out, "revenue_month", SQL_REVENUE, month_from, month_to, false, err) < 0 ||
        open_figures(db, today, unpaid, overdue, err) < 0 ||
        money_rows(db, SQL_OVERDUE_TODAY, today, as_of, true, overdue, err) < 0 ||
        sort_by_currency(json_object_get(out, "overdue"), err) < 0 ||
        services_by_status(db, out, err) < 0 || failed_jobs(db, out, err) < 0 ||
        payments_daily(db, now, out, err) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
