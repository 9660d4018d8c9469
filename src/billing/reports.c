/*
 * reports.c — the monthly report (see reports.h): four read-only queries,
 * each grouped by currency and merged into one row per currency, and the
 * CSV writer.
 *
 * Sums are CAST to BIGINT (PostgreSQL's SUM(bigint) is numeric); adding the
 * figures together here is overflow-checked. Timestamps are ISO-8601 UTC
 * text, so a month is a text range on both engines.
 *
 * Threading: no state; uses only the connection it is given.
 */
#include "billing/reports.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"

static const char SQL_MONEY[] =
    "SELECT currency,"
    " CAST(SUM(CASE WHEN kind = 'payment' THEN amount ELSE 0 END) AS BIGINT),"
    " CAST(SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END) AS BIGINT),"
    " CAST(SUM(CASE WHEN kind = 'refund' THEN amount ELSE 0 END) AS BIGINT),"
    " CAST(SUM(CASE WHEN kind = 'refund' THEN 1 ELSE 0 END) AS BIGINT),"
    " CAST(SUM(CASE WHEN kind = 'chargeback' THEN amount"
    "  WHEN kind = 'chargeback_reversal' THEN -amount ELSE 0 END) AS BIGINT)"
    " FROM transactions WHERE created_at >= $1 AND created_at < $2"
    " GROUP BY currency ORDER BY currency";

static const char SQL_TAXES[] =
    "SELECT i.currency, t.name, t.country, t.region, t.rate_bp, t.inclusive,"
    " CAST(SUM(t.base) AS BIGINT), CAST(SUM(t.amount) AS BIGINT), COUNT(DISTINCT i.id)"
    " FROM invoice_taxes t JOIN invoices i ON i.id = t.invoice_id"
    " WHERE i.paid_at >= $1 AND i.paid_at < $2"
    " GROUP BY i.currency, t.name, t.country, t.region, t.rate_bp, t.inclusive"
    " ORDER BY i.currency, t.country, t.region, t.rate_bp, t.name";

static const char SQL_CREDIT_NOTES[] =
    "SELECT currency, CAST(SUM(amount) AS BIGINT), CAST(SUM(tax) AS BIGINT), COUNT(*)"
    " FROM credit_notes WHERE created_at >= $1 AND created_at < $2"
    " GROUP BY currency ORDER BY currency";

static const char SQL_BALANCES[] =
    "SELECT currency, CAST(SUM(balance) AS BIGINT), COUNT(*) FROM credit_balances"
    " WHERE balance > 0 GROUP BY currency ORDER BY currency";

/* ---- the month ---------------------------------------------------------------- */

/* "YYYY-MM" (or the current month) into from/to ISO bounds and its normal text. */
static int month_range(const char *month, char name[8], char from[UTC_ISO_LEN],
                       char to[UTC_ISO_LEN], struct lumi_err *err)
{
    int64_t y = 0, m = 0, t = 0;
    char now[UTC_ISO_LEN];
    if (!str_present(month)) {
        utc_now_iso(now);
        month = now; /* its first 7 characters are the month */
        if (str_to_i64(month, 4, 2000, 9999, &y) != 0 || str_to_i64(month + 5, 2, 1, 12, &m) != 0)
            return err_set(err, LUMI_EINTERNAL, "the clock is outside 2000-9999");
    } else if (strlen(month) != 7 || month[4] != '-' ||
               str_to_i64(month, 4, 2000, 9999, &y) != 0 ||
               str_to_i64(month + 5, 2, 1, 12, &m) != 0) {
        return err_set(err, LUMI_EINVAL, "month must be YYYY-MM (2000-01 to 9999-12)");
    }
    snprintf(name, 8, "%04" PRId64 "-%02" PRId64, y, m);
    snprintf(from, UTC_ISO_LEN, "%s-01T00:00:00Z", name);
    if (utc_parse(from, &t, err) != 0)
        return LUMI_EINVAL;
    if (utc_format(utc_add_months(t, 1), to) != 0)
        return err_set(err, LUMI_EINVAL, "month must be YYYY-MM (2000-01 to 9999-12)");
    return 0;
}

/* ---- one row per currency ----------------------------------------------------- */

/* The row of currency in rows (by currency), made with zeroes when new. */
static json_t *row_of(json_t *rows, const char *currency)
{
    json_t *r = json_object_get(rows, currency);
    if (r != NULL)
        return r;
    r = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:[], s:I, s:I, s:I, s:I, s:I}",
                  "currency", currency, "revenue", (json_int_t)0, "payments", (json_int_t)0,
                  "refunds", (json_int_t)0, "refund_count", (json_int_t)0, "chargebacks",
                  (json_int_t)0, "net", (json_int_t)0, "tax_total", (json_int_t)0, "taxes",
                  "credit_notes", (json_int_t)0, "credit_note_tax", (json_int_t)0,
                  "credit_note_count", (json_int_t)0, "credit_balance", (json_int_t)0,
                  "credit_clients", (json_int_t)0);
    if (r == NULL || json_object_set_new(rows, currency, r) < 0)
        return NULL;
    return r;
}

/* Runs sql with the month's bounds (nparams of them) and hands each row to fn. */
typedef int (*row_fn)(struct db_stmt *st, json_t *rows, struct lumi_err *err);

static int each_row(struct db *db, const char *sql, int nparams, const char *from, const char *to,
                    json_t *rows, row_fn fn, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    int rc;
    if (st == NULL)
        return LUMI_EDB;
    if (nparams > 0) {
        db_bind_text(st, 1, from);
        db_bind_text(st, 2, to);
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        rc = fn(st, rows, err);
        if (rc != 0)
            break;
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int set_i(json_t *row, const char *key, int64_t v)
{
    return json_object_set_new(row, key, json_integer(v)) == 0
               ? 0
               : LUMI_ENOMEM;
}

static int money_row(struct db_stmt *st, json_t *rows, struct lumi_err *err)
{
    json_t *r = row_of(rows, db_col_text(st, 0));
    if (r == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    int64_t revenue = db_col_int64(st, 1), refunds = db_col_int64(st, 3),
            chargebacks = db_col_int64(st, 5), net;
    if (__builtin_sub_overflow(revenue, refunds, &net) ||
        __builtin_sub_overflow(net, chargebacks, &net))
        return err_set(err, LUMI_ETOOLARGE, "the month's net revenue overflows");
    if (set_i(r, "revenue", revenue) || set_i(r, "payments", db_col_int64(st, 2)) ||
        set_i(r, "refunds", refunds) || set_i(r, "refund_count", db_col_int64(st, 4)) ||
        set_i(r, "chargebacks", chargebacks) || set_i(r, "net", net))
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

static int tax_row(struct db_stmt *st, json_t *rows, struct lumi_err *err)
{
    json_t *r = row_of(rows, db_col_text(st, 0));
    if (r == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    int64_t amount = db_col_int64(st, 7), total;
    if (__builtin_add_overflow(json_integer_value(json_object_get(r, "tax_total")), amount,
                               &total))
        return err_set(err, LUMI_ETOOLARGE, "the month's tax total overflows");
    json_t *t = json_pack("{s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:I}", "name", db_col_text(st, 1),
                          "country", db_col_text(st, 2), "region",
                          db_col_text(st, 3) != NULL ? db_col_text(st, 3) : "", "rate_bp",
                          (json_int_t)db_col_int64(st, 4), "inclusive", db_col_int64(st, 5) != 0,
                          "base", (json_int_t)db_col_int64(st, 6), "amount", (json_int_t)amount,
                          "invoices", (json_int_t)db_col_int64(st, 8));
    if (t == NULL || json_array_append_new(json_object_get(r, "taxes"), t) < 0 ||
        set_i(r, "tax_total", total))
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

static int credit_note_row(struct db_stmt *st, json_t *rows, struct lumi_err *err)
{
    json_t *r = row_of(rows, db_col_text(st, 0));
    if (r == NULL || set_i(r, "credit_notes", db_col_int64(st, 1)) ||
        set_i(r, "credit_note_tax", db_col_int64(st, 2)) ||
        set_i(r, "credit_note_count", db_col_int64(st, 3)))
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

static int balance_row(struct db_stmt *st, json_t *rows, struct lumi_err *err)
{
    json_t *r = row_of(rows, db_col_text(st, 0));
    if (r == NULL || set_i(r, "credit_balance", db_col_int64(st, 1)) ||
        set_i(r, "credit_clients", db_col_int64(st, 2)))
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

/* The rows object {currency: row} as an array in currency order. */
static json_t *in_order(json_t *rows)
{
    json_t *list = json_array();
    const char *keys[256];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(rows, k, v)
        if (n < sizeof keys / sizeof keys[0])
            keys[n++] = k;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    for (size_t i = 0; list != NULL && i < n; i++)
        json_array_append(list, json_object_get(rows, keys[i]));
    return list;
}

json_t *reports_month(struct db *db, const char *month, struct lumi_err *err)
{
    char name[8], from[UTC_ISO_LEN], to[UTC_ISO_LEN];
    json_t *rows = NULL, *result = NULL;
    if (month_range(month, name, from, to, err) != 0)
        return NULL;
    rows = json_object();
    if (rows == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    if (each_row(db, SQL_MONEY, 2, from, to, rows, money_row, err) != 0 ||
        each_row(db, SQL_TAXES, 2, from, to, rows, tax_row, err) != 0 ||
        each_row(db, SQL_CREDIT_NOTES, 2, from, to, rows, credit_note_row, err) != 0 ||
        each_row(db, SQL_BALANCES, 0, from, to, rows, balance_row, err) != 0)
        goto out;
    result = json_pack("{s:s, s:s, s:s, s:o}", "month", name, "from", from, "to", to, "currencies",
                       in_order(rows));
    if (result == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
out:
    json_decref(rows);
    return result;
}

/* ---- CSV ----------------------------------------------------------------------- */

/* One field, quoted when RFC 4180 asks for it. */
static int csv_field(struct buf *b, const char *s, bool last)
{
    int rc = 0;
    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\r\n") != NULL) {
        rc |= buf_append_char(b, '"');
        for (const char *p = s; *p && rc == 0; p++)
            rc |= *p == '"' ? buf_append(b, "\"\"", 2) : buf_append_char(b, *p);
        rc |= buf_append_char(b, '"');
    } else {
        rc |= buf_append_str(b, s);
    }
    rc |= last ? buf_append(b, "\r\n", 2) : buf_append_char(b, ',');
    return rc;
}

struct csv_row {
    const char *category, *name, *country, *region, *rate, *base, *amount, *count;
};

static int csv_line(struct buf *b, const char *month, const char *currency,
                    const struct csv_row *r)
{
    const char *f[] = {month,     currency,  r->category, r->name,   r->country,
                       r->region, r->rate,   r->base,     r->amount, r->count};
    int rc = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        rc |= csv_field(b, f[i], i + 1 == sizeof f / sizeof f[0]);
    return rc;
}

/* A money figure of row as major units. */
static void major(const json_t *o, const char *key, const char *currency, char out[MONEY_TEXT_MAX])
{
    if (money_format(json_integer_value(json_object_get(o, key)), currency, out,
                     MONEY_TEXT_MAX) != 0)
        snprintf(out, MONEY_TEXT_MAX, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(o, key)));
}

static void count_of(const json_t *o, const char *key, char out[24])
{
    snprintf(out, 24, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(o, key)));
}

static int csv_currency(struct buf *b, const char *month, const json_t *c)
{
    char cur[8], amount[MONEY_TEXT_MAX], base[MONEY_TEXT_MAX], count[24], rate[24];
    str_copy(cur, json_string_value(json_object_get(c, "currency")), sizeof cur);
    str_lower(cur);
    static const char *const SIMPLE[][3] = {{"revenue", "revenue", "payments"},
                                            {"refunds", "refunds", "refund_count"},
                                            {"chargebacks", "chargebacks", NULL},
                                            {"net", "net", NULL}};
    int rc = 0;
    for (size_t i = 0; i < sizeof SIMPLE / sizeof SIMPLE[0]; i++) {
        major(c, SIMPLE[i][1], cur, amount);
        count[0] = '\0';
        if (SIMPLE[i][2] != NULL)
            count_of(c, SIMPLE[i][2], count);
        rc |= csv_line(b, month, cur, &(struct csv_row){.category = SIMPLE[i][0],
                                                        .amount = amount, .count = count});
    }
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(c, "taxes"), i, t)
    {
        int64_t bp = json_integer_value(json_object_get(t, "rate_bp"));
        snprintf(rate, sizeof rate, "%s%" PRId64 ".%02" PRId64, bp < 0 ? "-" : "",
                 (bp < 0 ? -bp : bp) / 100, (bp < 0 ? -bp : bp) % 100);
        major(t, "base", cur, base);
        major(t, "amount", cur, amount);
        count_of(t, "invoices", count);
        rc |= csv_line(b, month, cur,
                       &(struct csv_row){.category = "tax",
                                         .name = json_string_value(json_object_get(t, "name")),
                                         .country = json_string_value(json_object_get(t, "country")),
                                         .region = json_string_value(json_object_get(t, "region")),
                                         .rate = rate, .base = base, .amount = amount,
                                         .count = count});
    }
    major(c, "tax_total", cur, amount);
    rc |= csv_line(b, month, cur, &(struct csv_row){.category = "tax_total", .amount = amount});
    major(c, "credit_notes", cur, amount);
    count_of(c, "credit_note_count", count);
    rc |= csv_line(b, month, cur,
                   &(struct csv_row){.category = "credit_notes", .amount = amount, .count = count});
    major(c, "credit_balance", cur, amount);
    count_of(c, "credit_clients", count);
    rc |= csv_line(b, month, cur,
                   &(struct csv_row){.category = "credit_balance", .amount = amount,
                                     .count = count});
    return rc;
}

int reports_month_csv(const json_t *report, struct buf *out, struct lumi_err *err)
{
    const char *month = json_string_value(json_object_get(report, "month"));
    size_t start = out->len;
    int rc = buf_append_str(out, "month,currency,category,name,country,region,rate_percent,base,"
                                 "amount,count\r\n");
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(report, "currencies"), i, c)
        rc |= csv_currency(out, month != NULL ? month : "", c);
    if (rc != 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return err_set(err, LUMI_ETOOLARGE, "the report's CSV is larger than %zu bytes", out->max);
    }
    return 0;
}
