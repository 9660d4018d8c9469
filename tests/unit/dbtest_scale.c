/*
 * dbtest_scale.c — issue 15's admin reads at scale, on SQLite and PostgreSQL:
 *
 *   - the dashboard's aggregates (migration 14's triggers) stay exact across
 *     a mixed workload of invoices created, paid in part and in full,
 *     refunded, charged back, cancelled, re-dated and deleted, and services
 *     moving between statuses: every figure of stats_dashboard equals the
 *     direct SUM/COUNT over the tables;
 *   - the aggregates are backfilled for rows written before migration 14;
 *   - a sum beyond 64 bits (two invoices near INT64_MAX written straight into
 *     the table, as an old database may hold) no longer fails the dashboard
 *     (issue 17, finding 10): the entry says "overflow";
 *   - keyset pages by status, by client and of a search return every row
 *     once, in id order, with no duplicates across pages;
 *   - clients_get_many (a list page's clients in one statement) answers clients only;
 *   - client search finds by e-mail, first or last name, company, as prefix
 *     or substring, any case, short queries too, never admins or staff,
 *     never across two fields, and follows renames;
 *   - audit text search finds rows by a substring of details, action or
 *     actor, and pages through them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "billing/clients.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "billing/stats.h"
#include "core/utc.h"
#include "db/migrate.h"
#include "provisioning/services.h"
#include "support/testdb.h"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

#define NOW "2026-11-15T12:00:00Z"

struct fixture {
    char *url;
    struct db *db;
    int64_t client;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "client@example.com");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t at(const char *iso)
{
    int64_t t = 0;
    assert_int_equal(utc_parse(iso, &t, NULL), 0);
    return t;
}

static int64_t add_invoice(struct fixture *f, int64_t client, const char *currency, int64_t amount,
                           const char *due)
{
    struct lumi_err err;
    int64_t id = 0;
    struct invoice_item_in item = {
        .description = "Hosting", .quantity = 1, .unit_amount = amount, .kind = "other"};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ACTOR, client, currency, due, &item, 1, &id, &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    return id;
}

static void move(struct fixture *f, int64_t invoice, const char *kind, const char *ref,
                 int64_t amount, const char *currency)
{
    struct lumi_err err;
    struct payment_result res;
    struct payment_in p = {.kind = kind,
                           .gateway = "manual",
                           .gateway_ref = ref,
                           .amount = amount,
                           .currency = currency,
                           .invoice_id = invoice};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (payments_apply(f->db, &ACTOR, &p, &res, &err) != 0)
        fail_msg("payments_apply: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    if (res.outcome != PAYMENT_APPLIED)
        fail_msg("%s %s was %s: %s", kind, ref, payment_outcome_name(res.outcome), res.message);
}

/* The amount of currency in a stats list ({currency, amount, count}); 0/0 when absent. */
static void figure(const json_t *list, const char *currency, int64_t *amount, int64_t *count)
{
    size_t i;
    json_t *e;
    *amount = 0;
    *count = 0;
    json_array_foreach(list, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "currency")), currency) == 0) {
            assert_false(json_is_true(json_object_get(e, "overflow")));
            *amount = json_integer_value(json_object_get(e, "amount"));
            *count = json_integer_value(json_object_get(e, "count"));
        }
    }
}

/* Direct sums over the tables, as the dashboard computed them before migration 14. */
static int64_t direct(struct fixture *f, const char *sql, const char *currency)
{
    const char *params[] = {currency};
    struct lumi_err err;
    int64_t v = 0;
    if (db_query_int64(f->db, sql, 1, params, &v, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return v;
}

static void assert_dashboard_is_direct(struct fixture *f)
{
    struct lumi_err err;
    json_t *s = stats_dashboard(f->db, at(NOW), &err);
    if (s == NULL)
        fail_msg("stats_dashboard: %s", err.msg);
    static const char *const currencies[] = {"eur", "usd"};
    for (size_t c = 0; c < 2; c++) {
        const char *cur = currencies[c];
        int64_t amount, count;
        figure(json_object_get(s, "unpaid"), cur, &amount, &count);
        assert_true(amount ==
                    direct(f,
                           "SELECT CAST(COALESCE(SUM(total - amount_paid), 0) AS BIGINT) FROM "
                           "invoices WHERE status IN ('unpaid','partially_paid') AND currency = $1",
                           cur));
        assert_true(count == direct(f,
                                    "SELECT COUNT(*) FROM invoices WHERE status IN "
                                    "('unpaid','partially_paid') AND currency = $1",
                                    cur));
        figure(json_object_get(s, "overdue"), cur, &amount, &count);
        assert_true(amount == direct(f,
                                     "SELECT CAST(COALESCE(SUM(total - amount_paid), 0) AS BIGINT)"
                                     " FROM invoices WHERE status IN ('unpaid','partially_paid')"
                                     " AND due_date < '" NOW "' AND currency = $1",
                                     cur));
        assert_true(count == direct(f,
                                    "SELECT COUNT(*) FROM invoices WHERE status IN "
                                    "('unpaid','partially_paid') AND due_date < '" NOW
                                    "' AND currency = $1",
                                    cur));
        figure(json_object_get(s, "revenue_month"), cur, &amount, &count);
        assert_true(amount == direct(f,
                                     "SELECT CAST(COALESCE(SUM(CASE WHEN kind IN ('payment',"
                                     " 'chargeback_reversal') THEN amount ELSE -amount END), 0)"
                                     " AS BIGINT) FROM transactions WHERE created_at >="
                                     " '2026-11-01T00:00:00Z' AND created_at < "
                                     "'2026-12-01T00:00:00Z' AND currency = $1",
                                     cur));
        /* payments per day: the series' total is the window's payments */
        int64_t total = 0;
        size_t i;
        json_t *se;
        json_array_foreach(json_object_get(json_object_get(s, "payments_daily"), "series"), i, se)
        {
            if (strcmp(json_string_value(json_object_get(se, "currency")), cur) == 0)
                total = json_integer_value(json_object_get(se, "total"));
        }
        assert_true(total == direct(f,
                                    "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM "
                                    "transactions WHERE kind = 'payment' AND created_at >= "
                                    "'2026-10-17' AND created_at < '2026-11-16' AND currency = $1",
                                    cur));
    }
    static const char *const statuses[] = {"pending", "active", "suspended", "terminated",
                                           "cancelled"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        assert_true(
            json_integer_value(json_object_get(json_object_get(s, "services"), statuses[i])) ==
            direct(f, "SELECT COUNT(*) FROM services WHERE status = $1", statuses[i]));
    assert_true(json_integer_value(json_object_get(s, "services_total")) ==
                testdb_int64(f->db, "SELECT COUNT(*) FROM services"));
    json_decref(s);
}

static int64_t add_services(struct fixture *f, int n)
{
    char sql[1024];
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                       "'2026-01-01T00:00:00Z')");
    int64_t server = testdb_int64(f->db, "SELECT MAX(id) FROM servers");
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', 'manual', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             server);
    testdb_exec(f->db, sql);
    int64_t product = testdb_int64(f->db, "SELECT MAX(id) FROM products");
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO services (client_id, product_id, server_id, status, remote_key, "
                 "billing_cycle, recurring_amount, currency, created_at, updated_at) VALUES "
                 "(%" PRId64 ", %" PRId64 ", %" PRId64 ", '%s', 'lumi-scale-%d', 'monthly', 1500,"
                 " 'usd', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                 f->client, product, server, i % 3 == 0 ? "pending" : "active", i);
        testdb_exec(f->db, sql);
    }
    return product;
}

/* ---- aggregates --------------------------------------------------------- */

static void aggregates_stay_exact_across_create_pay_refund_cancel(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    char ref[32], due[UTC_ISO_LEN];
    int64_t ids[40];
    assert_dashboard_is_direct(f);
    /* Due dates on both sides of now, today included (earlier and later than now). */
    for (int i = 0; i < 40; i++) {
        static const char *const dues[] = {"2026-10-01T00:00:00Z", "2026-11-15T00:00:01Z",
                                           "2026-11-15T11:59:59Z", "2026-11-15T12:00:00Z",
                                           "2026-11-15T23:00:00Z", "2026-12-20T00:00:00Z"};
        ids[i] = add_invoice(f, f->client, i % 4 == 0 ? "eur" : "usd", 1000 + 37 * i, dues[i % 6]);
    }
    assert_dashboard_is_direct(f);
    for (int i = 0; i < 40; i++) {
        const char *cur = i % 4 == 0 ? "eur" : "usd";
        snprintf(ref, sizeof ref, "p%d", i);
        if (i % 5 == 1) /* partly paid */
            move(f, ids[i], "payment", ref, 300, cur);
        else if (i % 5 == 2 || i % 5 == 3) /* paid in full */
            move(f, ids[i], "payment", ref, 1000 + 37 * i, cur);
        snprintf(ref, sizeof ref, "r%d", i);
        if (i % 5 == 3 && i % 2 == 0) /* then refunded in part */
            move(f, ids[i], "refund", ref, 100, cur);
        else if (i % 5 == 3) { /* or charged back, and part of it won back */
            move(f, ids[i], "chargeback", ref, 1000 + 37 * i, cur);
            snprintf(ref, sizeof ref, "v%d", i);
            move(f, ids[i], "chargeback_reversal", ref, 50, cur);
        }
        if (i % 5 == 4 && i % 3 == 0)
            assert_int_equal(invoices_cancel(f->db, &ACTOR, ids[i], &err), 0);
    }
    assert_dashboard_is_direct(f);
    /* Rows changed with plain SQL move the aggregates too (re-dated, re-timed, deleted). */
    utc_format(at(NOW) - 86400 * 3, due);
    const char *p1[] = {due};
    testdb_execp(f->db, "UPDATE invoices SET due_date = $1 WHERE id % 7 = 0", 1, p1);
    testdb_exec(f->db, "UPDATE transactions SET created_at = '2026-10-30T10:00:00Z'"
                       " WHERE id % 3 = 0");
    testdb_exec(f->db, "DELETE FROM invoices WHERE status = 'unpaid' AND id % 11 = 0");
    assert_dashboard_is_direct(f);
    /* Services: inserted, moved between statuses (and to the same status), deleted. */
    add_services(f, 30);
    testdb_exec(f->db, "UPDATE services SET status = 'suspended' WHERE id % 4 = 1");
    testdb_exec(f->db, "UPDATE services SET status = status, updated_at = '2026-02-01T00:00:00Z'");
    testdb_exec(f->db, "UPDATE services SET status = 'terminated' WHERE id % 5 = 2");
    testdb_exec(f->db, "DELETE FROM services WHERE id % 6 = 5");
    assert_dashboard_is_direct(f);
    /* PostgreSQL: the deltas folded into the base tables change no figure,
     * and a second fold with nothing new neither (SQLite: nothing to fold) */
    struct lumi_err cerr;
    bool pg = db_kind(f->db) == DB_POSTGRES;
    int folded = stats_compact(f->db, &cerr);
    if (pg)
        assert_true(folded > 0);
    else
        assert_int_equal(folded, 0);
    assert_dashboard_is_direct(f);
    if (pg)
        assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM agg_invoices_open_delta"), 0);
    assert_int_equal(stats_compact(f->db, &cerr), 0);
    assert_dashboard_is_direct(f);
    if (!pg)
        return;
    /* A large fold (an import, a burst) leaves its delta table vacuumed, not
     * full of dead rows that every reading of the view would scan: the
     * table's pages are given back. (n = 0: the figures do not move.) */
    testdb_exec(f->db, "INSERT INTO agg_services_delta (status, n)"
                       " SELECT 'active', 0 FROM generate_series(1, 12000)");
    assert_true(testdb_int64(f->db, "SELECT pg_relation_size('agg_services_delta')") > 0);
    assert_int_equal(stats_compact(f->db, &cerr), 12000);
    assert_int_equal(testdb_int64(f->db, "SELECT pg_relation_size('agg_services_delta')"), 0);
    assert_dashboard_is_direct(f);
}

static void aggregates_are_backfilled_for_rows_older_than_migration_14(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    /* A fresh database at schema 13 with rows in it, then migrated to 14. */
    char *url = testdb_create();
    struct db *db = testdb_open(url);
    assert_int_equal(db_migrate_upto(db, 13, NULL, &err), 0);
    testdb_exec(db, "INSERT INTO users (email, role, created_at, updated_at) VALUES"
                    " ('old@example.com', 'client', '2026-01-01T00:00:00Z', "
                    "'2026-01-01T00:00:00Z')");
    testdb_exec(db, "INSERT INTO invoices (number, client_id, status, currency, subtotal, total,"
                    " amount_paid, due_date, created_at, updated_at) VALUES"
                    " ('A-1', 1, 'unpaid', 'usd', 500, 500, 0, '2026-10-01T00:00:00Z', "
                    "'2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z'),"
                    " ('A-2', 1, 'partially_paid', 'usd', 900, 900, 400, '2026-12-01T00:00:00Z',"
                    " '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z')");
    testdb_exec(db, "INSERT INTO transactions (invoice_id, gateway, kind, gateway_ref, amount,"
                    " currency, status, created_at) VALUES (2, 'manual', 'payment', 'x', 400,"
                    " 'usd', 'succeeded', '2026-11-02T00:00:00Z')");
    assert_int_equal(db_migrate(db, NULL, &err), 0);
    json_t *s = stats_dashboard(db, at(NOW), &err);
    assert_non_null(s);
    int64_t amount, count;
    figure(json_object_get(s, "unpaid"), "usd", &amount, &count);
    assert_true(amount == 1000 && count == 2);
    figure(json_object_get(s, "overdue"), "usd", &amount, &count);
    assert_true(amount == 500 && count == 1);
    figure(json_object_get(s, "revenue_month"), "usd", &amount, &count);
    assert_true(amount == 400);
    json_decref(s);
    /* and the search indexes hold the old client */
    int64_t next = 0;
    json_t *rows = clients_search(db, "old@ex", 0, 10, &next, &err);
    assert_non_null(rows);
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
    testdb_finish(db, url);
    (void)f;
}

/* Issue 17, finding 10: before, SUM overflowed and the dashboard (so /admin) failed. */
static void sums_beyond_64_bits_are_flagged_not_fatal(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    /* each in a bucket (due day) of its own: one bucket past 64 bits is refused on write */
    add_invoice(f, f->client, "usd", 1000, "2026-09-30T00:00:00Z");
    testdb_exec(f->db, "INSERT INTO invoices (number, client_id, status, currency, subtotal, total,"
                       " amount_paid, due_date, created_at, updated_at) VALUES"
                       " ('BIG-1', 1, 'unpaid', 'usd', 9223372036854775000, 9223372036854775000, 0,"
                       " '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z'),"
                       " ('BIG-2', 1, 'unpaid', 'usd', 9223372036854775000, 9223372036854775000, 0,"
                       " '2026-10-02T00:00:00Z', '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z')");
    add_invoice(f, f->client, "eur", 250, "2026-10-01T00:00:00Z");
    json_t *s = stats_dashboard(f->db, at(NOW), &err);
    if (s == NULL)
        fail_msg("stats_dashboard failed: %s", err.msg);
    const json_t *unpaid = json_object_get(s, "unpaid");
    assert_int_equal(json_array_size(unpaid), 2);
    /* eur is still exact; usd says it cannot be added up */
    assert_string_equal(json_string_value(json_object_get(json_array_get(unpaid, 0), "currency")),
                        "eur");
    assert_true(json_integer_value(json_object_get(json_array_get(unpaid, 0), "amount")) == 250);
    const json_t *usd = json_array_get(unpaid, 1);
    assert_true(json_is_true(json_object_get(usd, "overflow")));
    assert_true(json_integer_value(json_object_get(usd, "count")) == 3);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(s, "overdue"), 1), "overflow")));
    json_decref(s);
}

/* ---- keyset paging ------------------------------------------------------ */

typedef json_t *(*page_fn)(struct fixture *f, int64_t after, int limit, int64_t *next,
                           struct lumi_err *err);

static const char *g_status;
static const char *g_query;

static json_t *by_status(struct fixture *f, int64_t after, int limit, int64_t *next,
                         struct lumi_err *err)
{
    return invoices_list(f->db, g_status, after, limit, next, err);
}

static json_t *by_client(struct fixture *f, int64_t after, int limit, int64_t *next,
                         struct lumi_err *err)
{
    return invoices_list_of(f->db, INVOICES_OF_CLIENT, f->client, after, limit, next, err);
}

static json_t *services_by_status(struct fixture *f, int64_t after, int limit, int64_t *next,
                                  struct lumi_err *err)
{
    return services_list(f->db, g_status, after, limit, next, err);
}

static json_t *search(struct fixture *f, int64_t after, int limit, int64_t *next,
                      struct lumi_err *err)
{
    return clients_search(f->db, g_query, after, limit, next, err);
}

/* Walks every page of fn (limit 7) and checks the ids are exactly those of want_sql. */
static void assert_pages_cover(struct fixture *f, page_fn fn, const char *want_sql)
{
    struct lumi_err err;
    int64_t after = 0, next = 0, last = 0, seen = 0;
    int pages = 0;
    do {
        json_t *rows = fn(f, after, 7, &next, &err);
        if (rows == NULL)
            fail_msg("page after %" PRId64 ": %s", after, err.msg);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            int64_t id = json_integer_value(json_object_get(row, "id"));
            if (id <= last)
                fail_msg("id %" PRId64 " after %" PRId64 ": out of order or twice", id, last);
            last = id;
            seen++;
        }
        assert_true(next == 0 || json_array_size(rows) == 7);
        json_decref(rows);
        after = next;
        pages++;
    } while (next > 0 && pages < 1000);
    int64_t want = testdb_int64(f->db, want_sql);
    if (seen != want)
        fail_msg("%" PRId64 " rows over %d pages, expected %" PRId64, seen, pages, want);
}

static void keyset_pages_return_every_row_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t other = testdb_add_client(f->db, "other@example.com");
    for (int i = 0; i < 45; i++) {
        int64_t id =
            add_invoice(f, i % 3 == 0 ? other : f->client, "usd", 100 + i, "2026-12-01T00:00:00Z");
        char ref[16];
        snprintf(ref, sizeof ref, "k%d", i);
        if (i % 4 == 1)
            move(f, id, "payment", ref, 1, "usd");
        else if (i % 5 == 2)
            assert_int_equal(invoices_cancel(f->db, &ACTOR, id, &err), 0);
    }
    g_status = "unpaid";
    assert_pages_cover(f, by_status, "SELECT COUNT(*) FROM invoices WHERE status = 'unpaid'");
    g_status = "cancelled";
    assert_pages_cover(f, by_status, "SELECT COUNT(*) FROM invoices WHERE status = 'cancelled'");
    g_status = NULL;
    assert_pages_cover(f, by_status, "SELECT COUNT(*) FROM invoices");
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM invoices WHERE client_id = %" PRId64,
             f->client);
    assert_pages_cover(f, by_client, sql);
    add_services(f, 50);
    g_status = "active";
    assert_pages_cover(f, services_by_status,
                       "SELECT COUNT(*) FROM services WHERE status = 'active'");
    for (int i = 0; i < 30; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO users (email, role, company, created_at, updated_at) VALUES"
                 " ('page%d@example.com', 'client', 'Pager Ltd', '2026-01-01T00:00:00Z',"
                 " '2026-01-01T00:00:00Z')",
                 i);
        testdb_exec(f->db, sql);
    }
    g_query = "pager";
    assert_pages_cover(f, search, "SELECT COUNT(*) FROM users WHERE company = 'Pager Ltd'");
}

/* ---- search ------------------------------------------------------------- */

static void add_user(struct fixture *f, const char *email, const char *role, const char *first,
                     const char *last, const char *company)
{
    const char *p[] = {email, role, first, last, company};
    testdb_execp(f->db,
                 "INSERT INTO users (email, role, first_name, last_name, company, created_at,"
                 " updated_at) VALUES ($1, $2, $3, $4, $5, '2026-01-01T00:00:00Z',"
                 " '2026-01-01T00:00:00Z')",
                 5, p);
}

/* The e-mails clients_search(q) finds, comma-separated in id order. */
static char *found(struct fixture *f, const char *q)
{
    static char out[512];
    struct lumi_err err;
    int64_t next = 0;
    json_t *rows = clients_search(f->db, q, 0, 50, &next, &err);
    if (rows == NULL)
        fail_msg("clients_search(%s): %s", q, err.msg);
    out[0] = '\0';
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s%s", len ? "," : "",
                 json_string_value(json_object_get(row, "email")));
    }
    json_decref(rows);
    return out;
}

static void client_search_finds_prefix_and_substring(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    add_user(f, "ada@lovelace.example", "client", "Ada", "Lovelace", "Analytical Engines");
    add_user(f, "grace@navy.example", "client", "Grace", "Hopper", "COBOL Works");
    add_user(f, "linus@kernel.example", "client", "Linus", "Torvalds", "");
    add_user(f, "hopper.admin@lumi.example", "admin", "Hopper", "Admin", "");
    add_user(f, "staff@lumi.example", "support", "Grace", "Staff", "");
    /* prefix and substring of the e-mail, any case */
    assert_string_equal(found(f, "ada@"), "ada@lovelace.example");
    assert_string_equal(found(f, "LOVELACE.EX"), "ada@lovelace.example");
    assert_string_equal(found(f, "navy"), "grace@navy.example");
    /* first name, last name, company; admins and staff are never found */
    assert_string_equal(found(f, "grace"), "grace@navy.example");
    assert_string_equal(found(f, "hopp"), "grace@navy.example");
    assert_string_equal(found(f, "cobol w"), "grace@navy.example");
    assert_string_equal(found(f, "engines"), "ada@lovelace.example");
    assert_string_equal(found(f, "orval"), "linus@kernel.example");
    /* one or two characters (below a trigram) still search */
    assert_string_equal(found(f, "vy"), "grace@navy.example");
    assert_string_equal(found(f, "V"),
                        "ada@lovelace.example,grace@navy.example,linus@kernel.example");
    /* a match never spans two fields; LIKE's wildcards are plain text */
    assert_string_equal(found(f, "ada lovelace"), "");
    assert_string_equal(found(f, "a%e"), "");
    assert_string_equal(found(f, "_"), "");
    assert_string_equal(found(f, "\"quoted\""), "");
    assert_string_equal(found(f, "example"),
                        "client@example.com,ada@lovelace.example,grace@navy.example,"
                        "linus@kernel.example");
    /* with digits the index is asked for them alone; all of q still decides */
    add_user(f, "c123@host7.example", "client", "Ada", "Surname123", "Company 123 Ltd");
    add_user(f, "c124@host7.example", "client", "Ada", "Surname124", "Company 1234 Ltd");
    add_user(f, "c125@host7.example", "client", "Ada", "Surname125", "Company 124 Ltd");
    assert_string_equal(found(f, "company 123 ltd"), "c123@host7.example");
    assert_string_equal(found(f, "company 123"), "c123@host7.example,c124@host7.example");
    assert_string_equal(found(f, "COMPANY 12"),
                        "c123@host7.example,c124@host7.example,c125@host7.example");
    assert_string_equal(found(f, "123@host7"), "c123@host7.example");
    assert_string_equal(found(f, "1234 ltd"), "c124@host7.example");
    assert_string_equal(found(f, "company 125 ltd"), "");
    testdb_exec(f->db, "DELETE FROM users WHERE email LIKE 'c12_@host7.example'");
    /* a rename is found by its new text only */
    testdb_exec(f->db, "UPDATE users SET company = 'Difference Engines' WHERE email LIKE 'linus%'");
    testdb_exec(f->db, "UPDATE users SET last_name = 'Byron' WHERE email LIKE 'ada%'");
    assert_string_equal(found(f, "difference"), "linus@kernel.example");
    assert_string_equal(found(f, "lovelace"), "ada@lovelace.example"); /* still its e-mail */
    assert_string_equal(found(f, "byron"), "ada@lovelace.example");
    testdb_exec(f->db, "UPDATE users SET role = 'support' WHERE email LIKE 'linus%'");
    assert_string_equal(found(f, "difference"), "");
    /* a list page's clients in one statement: clients only, keyed by id */
    int64_t ids[3] = {f->client, testdb_int64(f->db, "SELECT id FROM users WHERE role = 'admin'"),
                      testdb_int64(f->db, "SELECT id FROM users WHERE email LIKE 'grace%'")};
    json_t *many = clients_get_many(f->db, ids, 3, &err);
    assert_non_null(many);
    assert_int_equal(json_object_size(many), 2);
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, ids[2]);
    assert_string_equal(json_string_value(json_object_get(json_object_get(many, key), "email")),
                        "grace@navy.example");
    json_decref(many);
    /* empty and long queries are refused */
    int64_t next = 0;
    assert_null(clients_search(f->db, "", 0, 10, &next, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
    char longq[260];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    assert_null(clients_search(f->db, longq, 0, 10, &next, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
}

/* The searches of audit_search_finds_rows_and_pages, at any state of the index. */
static void audit_searches_answer(struct fixture *f)
{
    struct lumi_err err;
    int64_t next = 0;
    struct audit_filter q = {.q = "needle in hay"};
    json_t *rows = audit_query(f->db, &q, 50, &next, &err);
    assert_non_null(rows);
    assert_int_equal(json_array_size(rows), 5);
    json_decref(rows);
    /* pages of 2, newest first, each row once */
    int64_t before = 0, last = INT64_MAX, seen = 0;
    do {
        q.before_id = before;
        rows = audit_query(f->db, &q, 2, &next, &err);
        assert_non_null(rows);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            int64_t id = json_integer_value(json_object_get(row, "id"));
            assert_true(id < last);
            last = id;
            seen++;
        }
        json_decref(rows);
        before = next;
    } while (next > 0);
    assert_int_equal(seen, 5);
    /* by action (any case) combined with another filter, by actor, short text */
    struct audit_filter q2 = {.q = "thing_made", .entity = "thing"};
    rows = audit_query(f->db, &q2, 50, &next, &err);
    assert_int_equal(json_array_size(rows), 13);
    json_decref(rows);
    struct audit_filter q3 = {.q = "admin@exa"};
    rows = audit_query(f->db, &q3, 50, &next, &err);
    assert_true(json_array_size(rows) >= 26);
    json_decref(rows);
    struct audit_filter q4 = {.q = "ne"};
    rows = audit_query(f->db, &q4, 50, &next, &err);
    assert_true(json_array_size(rows) >= 12); /* THING_GONE and the needles */
    json_decref(rows);
    /* every trigram of "abcde" is in "abcd-xcde", the text is not: not found */
    struct audit_filter q6 = {.q = "abcde"};
    rows = audit_query(f->db, &q6, 50, &next, &err);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    q6.q = "cd-xc";
    rows = audit_query(f->db, &q6, 50, &next, &err);
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
    struct audit_filter q5 = {.q = "no such words"};
    rows = audit_query(f->db, &q5, 50, &next, &err);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
}

/*
 * The same answers whether the rows are not in SQLite's search index yet (it
 * is filled after the fact by the mail thread), partly in it (a page crosses
 * the mark), or all in it.
 */
static void audit_search_finds_rows_and_pages(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    for (int i = 0; i < 26; i++) {
        json_t *d = i == 25 ? json_pack("{s:s}", "note", "abcd-xcde")
                            : json_pack("{s:s, s:i}", "note",
                                        i % 5 == 0 ? "Needle in Haystack" : "hay", "n", i);
        const char *action = i == 25 || i % 2 ? "THING_MADE" : "THING_GONE";
        assert_int_equal(db_begin(f->db, &err), 0);
        assert_int_equal(
            audit_append(f->db, &ACTOR, action, "thing", i == 25 ? "8" : "7", d, NULL, &err), 0);
        assert_int_equal(db_commit(f->db, &err), 0);
        json_decref(d);
    }
    bool sqlite = db_kind(f->db) == DB_SQLITE;
    audit_searches_answer(f); /* nothing indexed since migration 14 */
    int n = audit_index_pending(f->db, 12, &err);
    assert_int_equal(n, sqlite ? 12 : 0);
    audit_searches_answer(f); /* half in the index */
    int total = n;
    while ((n = audit_index_pending(f->db, 5, &err)) > 0)
        total += n;
    assert_int_equal(n, 0);
    assert_true(sqlite ? total >= 26 : total == 0);
    audit_searches_answer(f); /* all in the index */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(aggregates_stay_exact_across_create_pay_refund_cancel,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(aggregates_are_backfilled_for_rows_older_than_migration_14,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sums_beyond_64_bits_are_flagged_not_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(keyset_pages_return_every_row_once, setup, teardown),
        cmocka_unit_test_setup_teardown(client_search_finds_prefix_and_substring, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_search_finds_rows_and_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
