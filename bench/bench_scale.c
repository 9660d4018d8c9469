/*
 * bench_scale.c — issue 15: are the admin pages fast with a large
 * installation's data, and how long does one automation pass take?
 *
 * For each engine (BENCH_DB=sqlite|postgres|both, default both):
 *   1. Seeds through SQL (generate_series on PostgreSQL, a recursive CTE on
 *      SQLite; one transaction per table; every trigger and index of the
 *      schema live, as in production) SCALE × 200,000 clients, 200,000
 *      services (SCALE × 10,000 of them due for renewal), 1,000,000 invoices
 *      with one item each, 1,000,000 transactions and 5,000,000 audit rows,
 *      and prints how long each table took. PostgreSQL is started as the
 *      tests do (tests/pg_ctl.sh) and VACUUM ANALYZEd after the load, as
 *      autovacuum would; SQLite gets no ANALYZE (Lumi runs none).
 *   2. Times one automation pass (automation_run, what `lumi cron` and the
 *      scheduler of `lumi serve` run), before the server starts, and checks
 *      that it created renewal invoices.
 *   3. Starts `lumi serve`, creates an admin, logs in through the form, and
 *      times REPEAT requests (after 2 unmeasured warm-ups) over real HTTP
 *      of: /admin, /admin/invoices with each status filter,
 *      /admin/clients?q= (a prefix and a substring), /admin/services?status=,
 *      /admin/audit-logs?q= (a rare and a common text), a client's page, an
 *      invoice's page and a service's page. Each answer must be 200.
 *      Twice: at once, while the server's mail thread still composes the
 *      pass's invoice mails (printed, not the target), and again once the
 *      server has settled (lumi_serve_settle).
 * Prints the tables (min, median, p95, max in ms). Target: every page p95
 * <= 50 ms on the settled server, the automation pass <= 60 s; a miss or a
 * wrong answer makes the exit status 1.
 *
 * Environment: BENCH_DB, BENCH_SCALE (0.001..1, default 1), REPEAT
 * (default 20), LUMI_BIN (default ../lumi next to this program),
 * BENCH_PG_URL (an empty PostgreSQL database to use instead of starting
 * one), BENCH_KEEP (keep the SQLite database), BENCH_VERBOSE (the
 * automation pass's log lines, with each phase's time).
 * The seeded audit rows carry placeholder hashes (the chain line of the
 * audit page reports them; it is not what is timed here: bench_pages does).
 *
 * Threading: one thread; the server is a separate process. Needs the test
 * support library (-DLUMI_TESTS=ON).
 */
#if __has_include("support/proc.h")
#define BENCH_HAVE_PROC 1
#else
#define BENCH_HAVE_PROC 0
#endif

#include <stdio.h>

#if BENCH_HAVE_PROC

#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "billing/stats.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/db.h"
#include "db/migrate.h"
#include "provisioning/automation.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"

#define TARGET_MS 50.0
#define AUTOMATION_TARGET_S 60.0
#define WARMUP 2
#define SETTLE_MAX_S 600.0 /* the longest wait for lumi serve to settle */
#define REPEAT_MAX 1000
#define DAY 86400
#define ADMIN_EMAIL "bench-admin@example.com"
#define ADMIN_PASSWORD "Bench-Scale-Harbour-99"

static int failures;
static int repeat = 20;
static double scale = 1.0;
static char base_url[64], cookie[200];

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double secs_since(int64_t t)
{
    return (double)(mono_ns() - t) / 1e9;
}

static int64_t scaled(int64_t full)
{
    int64_t n = (int64_t)((double)full * scale);
    return n < 20 ? 20 : n;
}

/* ---- seeding ------------------------------------------------------------ */

struct sizes {
    int64_t clients, services, invoices, transactions, audit;
};

/* "FROM <series of i = 1..n>" and its CTE prefix, per engine. */
static void series(struct db *db, int64_t n, char *with, size_t wsz, char *from, size_t fsz)
{
    if (db_kind(db) == DB_SQLITE) {
        snprintf(with, wsz,
                 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %" PRId64
                 ") ",
                 n);
        snprintf(from, fsz, "FROM c");
    } else {
        with[0] = '\0';
        snprintf(from, fsz, "FROM generate_series(CAST(1 AS BIGINT), %" PRId64 ") AS c(i)", n);
    }
}

/* An ISO time expression of epoch seconds expr, per engine. */
static void iso(struct db *db, const char *expr, char *out, size_t sz)
{
    if (db_kind(db) == DB_SQLITE)
        snprintf(out, sz, "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', %s, 'unixepoch')", expr);
    else
        snprintf(out, sz,
                 "to_char(to_timestamp(%s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                 expr);
}

/* Runs "<with>INSERT INTO <head> SELECT <select> <from>" for i = 1..n in one transaction. */
static int seed_table(struct db *db, const char *label, int64_t n, const char *head,
                      const char *select, struct lumi_err *err)
{
    char with[160], from[120];
    struct buf sql;
    series(db, n, with, sizeof with, from, sizeof from);
    buf_init(&sql, 1 << 16);
    buf_printf(&sql, "%sINSERT INTO %s SELECT %s %s", with, head, select, from);
    int64_t t = mono_ns();
    int rc = db_begin(db, err);
    if (rc == 0)
        rc = db_exec(db, buf_cstr(&sql), err);
    if (rc == 0)
        rc = db_commit(db, err);
    else
        db_rollback(db);
    buf_free(&sql);
    if (rc == 0)
        printf("  seed %-26s %10" PRId64 " rows %9.1f s\n", label, n, secs_since(t));
    return rc;
}

static int seed(struct db *db, const struct sizes *z, int64_t now, struct lumi_err *err)
{
    char sel[4096], t1[256], t2[256], t3[256], expr[160];
    int rc;
    /* clients: e-mail client<i>@host<i % 500>.example, names and companies to search */
    snprintf(sel, sizeof sel,
             "'client' || i || '@host' || (i %% 500) || '.example', 'client',"
             " CASE i %% 4 WHEN 0 THEN 'Ada' WHEN 1 THEN 'Grace' WHEN 2 THEN 'Linus' ELSE 'Barbara'"
             " END, 'Surname' || (i %% 1000), 'Company ' || (i %% 5000) || ' Ltd',"
             " '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'");
    rc = seed_table(db, "clients", z->clients,
                    "users (email, role, first_name, last_name, company, created_at, updated_at)",
                    sel, err);
    if (rc == 0)
        rc = db_exec(db,
                     "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES"
                     " ('bench', 'pterodactyl', 'https://panel.invalid', '2025-01-01T00:00:00Z',"
                     " '2025-01-01T00:00:00Z');"
                     "INSERT INTO products (name, type, server_id, price, currency, billing_cycle,"
                     " autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', 1,"
                     " 1500, 'usd', 'monthly', 'manual', '2025-01-01T00:00:00Z',"
                     " '2025-01-01T00:00:00Z')",
                     err);
    if (rc != 0)
        return rc;
    /* services: 80 % active, 10 % suspended (half for non-payment), 5 % terminated, 3 %
     * pending, 2 % cancelled; one in 18 due for renewal within the 7 days ahead */
    snprintf(expr, sizeof expr,
             "%" PRId64 " + CASE WHEN i %% 18 = 0 THEN 2 * %d ELSE (8 + i %% 30) * %d END", now,
             DAY, DAY);
    iso(db, expr, t1, sizeof t1);
    snprintf(sel, sizeof sel,
             "1 + (i - 1) %% %" PRId64 ", 1, 1,"
             " CASE WHEN i %% 100 < 80 THEN 'active' WHEN i %% 100 < 90 THEN 'suspended'"
             " WHEN i %% 100 < 95 THEN 'terminated' WHEN i %% 100 < 98 THEN 'pending'"
             " ELSE 'cancelled' END,"
             " CASE WHEN i %% 100 BETWEEN 80 AND 84 THEN 'overdue' WHEN i %% 100 BETWEEN 85 AND 89"
             " THEN 'admin' END,"
             " 'bench-' || i, 'monthly', 1500, 'usd', %s, '2025-01-01T00:00:00Z',"
             " '2025-01-01T00:00:00Z'",
             z->clients, t1);
    rc = seed_table(db, "services", z->services,
                    "services (client_id, product_id, server_id, status, suspend_reason,"
                    " remote_key, billing_cycle, recurring_amount, currency, next_due_date,"
                    " created_at, updated_at)",
                    sel, err);
    if (rc != 0)
        return rc;
    /* invoices over the last two years: 80 % paid, 10 % unpaid, 3 % partly paid, 5 %
     * cancelled, 2 % refunded; one in ten in eur */
    int64_t span = 730LL * DAY;
    snprintf(expr, sizeof expr, "%" PRId64 " + i * %" PRId64 " / %" PRId64, now - span + 14 * DAY,
             span, z->invoices);
    iso(db, expr, t1, sizeof t1);
    snprintf(expr, sizeof expr, "%" PRId64 " + i * %" PRId64 " / %" PRId64, now - span, span,
             z->invoices);
    iso(db, expr, t2, sizeof t2);
    snprintf(sel, sizeof sel,
             "'SEED-' || i, 1 + (i - 1) %% %" PRId64 ","
             " CASE WHEN i %% 100 < 80 THEN 'paid' WHEN i %% 100 < 90 THEN 'unpaid'"
             " WHEN i %% 100 < 93 THEN 'partially_paid' WHEN i %% 100 < 98 THEN 'cancelled'"
             " ELSE 'refunded' END, CASE WHEN i %% 10 = 0 THEN 'eur' ELSE 'usd' END,"
             " 1000 + i %% 9000, 1000 + i %% 9000,"
             " CASE WHEN i %% 100 < 80 OR i %% 100 >= 98 THEN 1000 + i %% 9000"
             " WHEN i %% 100 < 93 AND i %% 100 >= 90 THEN 500 ELSE 0 END,"
             " CASE WHEN i %% 100 >= 98 THEN 1000 + i %% 9000 ELSE 0 END, %s, %s, %s",
             z->clients, t1, t2, t2);
    rc = seed_table(db, "invoices", z->invoices,
                    "invoices (number, client_id, status, currency, subtotal, total, amount_paid,"
                    " amount_refunded, due_date, created_at, updated_at)",
                    sel, err);
    if (rc != 0)
        return rc;
    /* one item each; paid ones name a service, and one unpaid in a thousand does (those
     * services are suspended by the automation pass when overdue) */
    snprintf(sel, sizeof sel,
             "i, CASE WHEN i %% 100 < 80 THEN 1 + (i - 1) %% %" PRId64
             " WHEN i %% 1000 = 885 THEN 1 + (i / 1000 * 100) %% %" PRId64
             " END, 'recurring', 'Game S (bench)', 1, 1000 + i %% 9000, 1000 + i %% 9000",
             z->services, z->services);
    rc = seed_table(db, "invoice items", z->invoices,
                    "invoice_items (invoice_id, service_id, kind, description, quantity,"
                    " unit_amount, amount)",
                    sel, err);
    if (rc != 0)
        return rc;
    /* transactions: 95 % payments, 3 % refunds, 1 % chargebacks, 1 % reversals */
    snprintf(expr, sizeof expr, "%" PRId64 " + i * %" PRId64 " / %" PRId64, now - span, span,
             z->transactions);
    iso(db, expr, t3, sizeof t3);
    snprintf(sel, sizeof sel,
             "1 + (i - 1) %% %" PRId64 ", 'stripe', CASE WHEN i %% 100 < 95 THEN 'payment'"
             " WHEN i %% 100 < 98 THEN 'refund' WHEN i %% 100 = 98 THEN 'chargeback'"
             " ELSE 'chargeback_reversal' END, 'seed_' || i, 1000 + i %% 9000,"
             " CASE WHEN i %% 10 = 0 THEN 'eur' ELSE 'usd' END, 'succeeded', %s",
             z->invoices, t3);
    rc = seed_table(db, "transactions", z->transactions,
                    "transactions (invoice_id, gateway, kind, gateway_ref, amount, currency,"
                    " status, created_at)",
                    sel, err);
    if (rc != 0)
        return rc;
    /* audit rows, one per few seconds of the two years; placeholder hashes */
    snprintf(expr, sizeof expr, "%" PRId64 " + i * %" PRId64 " / %" PRId64, now - span, span,
             z->audit);
    iso(db, expr, t3, sizeof t3);
    snprintf(
        sel, sizeof sel,
        "i, %s, 'user', '' || (i %% 10), 'admin' || (i %% 10) || '@example.com',"
        " CASE i %% 4 WHEN 0 THEN 'PAYMENT_RECEIVED' WHEN 1 THEN 'INVOICE_CREATED'"
        " WHEN 2 THEN 'SERVICE_SUSPENDED' ELSE 'CLIENT_UPDATED' END,"
        " CASE i %% 4 WHEN 2 THEN 'service' WHEN 3 THEN 'client' ELSE 'invoice' END,"
        " '' || (1 + i %% 100000), '192.0.2.' || (i %% 250), 'bench',"
        " '{\"amount\":' || (i %% 9000) || ',\"invoice\":\"SEED-' || i || '\",\"note\":\"seeded"
        " row ' || i || '\"}', 'seed', 'seed-' || i",
        t3);
    rc = seed_table(db, "audit rows", z->audit,
                    "audit_log (id, at, actor_type, actor_id, actor_email, action, entity,"
                    " entity_id, ip, user_agent, details, prev_hash, hash)",
                    sel, err);
    /* The seeded rows are history: the mail consumer starts after them, as it
     * does on an installation that existed before mail (migration 10). */
    if (rc == 0)
        rc = db_exec(db,
                     "UPDATE event_cursors SET last_id = (SELECT MAX(id) FROM audit_log)"
                     " WHERE name = 'mail'",
                     err);
    return rc;
}

/* ---- measuring ---------------------------------------------------------- */

struct figure {
    char name[64];
    char path[200];
    double min, med, p95, max;
    bool ok;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(struct figure *f, bool target)
{
    double ms[REPEAT_MAX];
    f->ok = true;
    for (int i = 0; i < WARMUP + repeat; i++) {
        int64_t t = mono_ns();
        struct http_result r = browse(base_url, "GET", f->path, cookie, NULL, NULL);
        double took = (double)(mono_ns() - t) / 1e6;
        if (r.status != 200) {
            if (f->ok)
                fprintf(stderr, "  %s answered %ld\n", f->path, r.status);
            f->ok = false;
        }
        http_result_free(&r);
        if (i >= WARMUP)
            ms[i - WARMUP] = took;
    }
    qsort(ms, (size_t)repeat, sizeof ms[0], cmp_double);
    f->min = ms[0];
    f->med = ms[repeat / 2];
    f->p95 = ms[(repeat * 95 + 99) / 100 - 1];
    f->max = ms[repeat - 1];
    bool pass = f->ok && f->p95 <= TARGET_MS;
    printf("  %-34s %8.2f %8.2f %8.2f %8.2f  %s\n", f->name, f->min, f->med, f->p95, f->max,
           !f->ok    ? "FAIL (answer)"
           : !target ? (pass ? "(under 50)" : "(over 50)")
           : pass    ? "PASS"
                     : "FAIL");
    if (!f->ok || (target && !pass))
        failures++;
}

static void add(struct figure *figs, int *n, const char *name, const char *path)
{
    memset(&figs[*n], 0, sizeof figs[*n]);
    str_copy(figs[*n].name, name, sizeof figs[*n].name);
    str_copy(figs[*n].path, path, sizeof figs[*n].path);
    (*n)++;
}

static int pages(struct db *db, const struct sizes *z, const char *const *env, const char *label)
{
    struct lumi_server srv = {0};
    struct lumi_run_result rr;
    const char *admin[] = {"admin", "create", ADMIN_EMAIL, NULL};
    char p[200];
    (void)db;
    lumi_serve_start(&srv, env);
    str_copy(base_url, srv.base_url, sizeof base_url);
    if (lumi_run(admin, env, ADMIN_PASSWORD "\n", &rr) != 0 || rr.exit_code != 0) {
        fprintf(stderr, "bench_scale: lumi admin create failed\n");
        lumi_serve_stop(&srv);
        return -1;
    }
    lumi_run_result_free(&rr);
    if (browse_login(base_url, "admin", ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie) !=
        303) {
        fprintf(stderr, "bench_scale: login failed\n");
        lumi_serve_stop(&srv);
        return -1;
    }
    struct figure figs[32];
    int n = 0;
    static const char *const inv[] = {"unpaid",   "paid",      "partially_paid",
                                      "refunded", "cancelled", NULL};
    add(figs, &n, "/admin (dashboard)", "/admin");
    add(figs, &n, "/admin/invoices", "/admin/invoices");
    for (int i = 0; inv[i] != NULL; i++) {
        char name[64];
        snprintf(name, sizeof name, "/admin/invoices?status=%s", inv[i]);
        add(figs, &n, name, name);
    }
    add(figs, &n, "/admin/invoices?status=partially_refunded (none)",
        "/admin/invoices?status=partially_refunded");
    snprintf(p, sizeof p, "/admin/clients?q=client%" PRId64, z->clients / 17);
    add(figs, &n, "/admin/clients?q= prefix", p);
    add(figs, &n, "/admin/clients?q= substring", "/admin/clients?q=host42.exa");
    add(figs, &n, "/admin/clients?q= company", "/admin/clients?q=company%20123%20ltd");
    add(figs, &n, "/admin/services?status=active", "/admin/services?status=active");
    add(figs, &n, "/admin/services?status=suspended", "/admin/services?status=suspended");
    add(figs, &n, "/admin/services?status=pending", "/admin/services?status=pending");
    snprintf(p, sizeof p, "/admin/audit-logs?q=seeded%%20row%%20%" PRId64, z->audit / 3);
    add(figs, &n, "/admin/audit-logs?q= rare", p);
    add(figs, &n, "/admin/audit-logs?q= common", "/admin/audit-logs?q=payment_received");
    snprintf(p, sizeof p, "/admin/clients/%" PRId64, z->clients / 2);
    add(figs, &n, "a client's page", p);
    snprintf(p, sizeof p, "/admin/invoices/%" PRId64, z->invoices / 2);
    add(figs, &n, "an invoice's page", p);
    snprintf(p, sizeof p, "/admin/services/%" PRId64, z->services / 2);
    add(figs, &n, "a service's page", p);
    printf("\n  %s, at once, while the server works through the pass's mail: %d requests each"
           " after %d warm-ups (ms; not the target)\n",
           label, repeat, WARMUP);
    printf("  %-34s %8s %8s %8s %8s\n", "page", "min", "median", "p95", "max");
    for (int i = 0; i < n; i++)
        measure(&figs[i], false);
    double waited = lumi_serve_settle(&srv, SETTLE_MAX_S);
    printf("\n  %s, settled (lumi serve under 2%% of a core, %.0f s after the table above):"
           " %d requests each after %d warm-ups (ms)\n",
           label, waited, repeat, WARMUP);
    printf("  %-34s %8s %8s %8s %8s\n", "page", "min", "median", "p95", "max");
    for (int i = 0; i < n; i++)
        measure(&figs[i], true);
    if (lumi_serve_stop(&srv) != 0)
        fprintf(stderr, "bench_scale: lumi serve did not stop cleanly\n");
    return 0;
}

static void automation(struct db *db, int64_t now)
{
    struct automation_report rep;
    struct lumi_err err;
    log_set_level(getenv("BENCH_VERBOSE") != NULL ? LOG_INFO : LOG_ERROR);
    int64_t t = mono_ns();
    int rc = automation_run(db, now, false, NULL, &rep, &err);
    double s = secs_since(t);
    bool pass = rc == 0 && s <= AUTOMATION_TARGET_S && rep.invoices_created > 0;
    printf("  %-34s %8.1f s  invoices %d, suspensions %d, terminations %d, errors %d  %s\n",
           "one automation pass", s, rep.invoices_created, rep.suspensions_queued,
           rep.terminations_queued, rep.errors, pass ? "PASS" : "FAIL");
    if (rc != 0)
        fprintf(stderr, "  automation_run: %s\n", err.msg);
    if (!pass)
        failures++;
}

/* ---- engines ------------------------------------------------------------ */

static char pg_dir[64];

static void pg_stop(void)
{
    if (pg_dir[0] == '\0')
        return;
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "%s/tests/pg_ctl.sh stop %s", LUMI_BENCH_SOURCE_DIR, pg_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_scale: %s failed\n", cmd);
    pg_dir[0] = '\0';
}

/* Starts PostgreSQL as the tests do; its base URL into url. */
static int pg_start(char *url, size_t sz)
{
    char cmd[PATH_MAX + 128], path[128];
    str_copy(pg_dir, "/tmp/lumi-bench-scale-pg-XXXXXX", sizeof pg_dir);
    if (mkdtemp(pg_dir) == NULL)
        return -1;
    snprintf(cmd, sizeof cmd, "%s/tests/pg_ctl.sh start %s", LUMI_BENCH_SOURCE_DIR, pg_dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/url", pg_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(url, (int)sz, f) == NULL) {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return 0;
}

static void run_engine(const char *engine, const struct sizes *z, const char *key)
{
    char url[PATH_MAX + 64], dir[64] = "", env_url[PATH_MAX + 96], env_key[100];
    struct lumi_err err;
    struct db *db = NULL;
    int64_t now = utc_now();
    printf("\n== %s ==\n", engine);
    if (strcmp(engine, "postgres") == 0 && getenv("BENCH_PG_URL") != NULL) {
        str_copy(url, getenv("BENCH_PG_URL"), sizeof url); /* an empty database of yours */
    } else if (strcmp(engine, "postgres") == 0) {
        if (pg_start(url, sizeof url) != 0) {
            fprintf(stderr, "bench_scale: PostgreSQL did not start\n");
            failures++;
            return;
        }
    } else {
        str_copy(dir, "/tmp/lumi-bench-scale-XXXXXX", sizeof dir);
        if (mkdtemp(dir) == NULL) {
            failures++;
            return;
        }
        snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    }
    snprintf(env_url, sizeof env_url, "DATABASE_URL=%s", url);
    snprintf(env_key, sizeof env_key, "LUMI_SECRET_KEY=%s", key);
    const char *env[] = {env_url, env_key, "LUMI_LOG_LEVEL=warn", NULL};
    int64_t t = mono_ns();
    if ((db = db_open(url, &err)) == NULL || db_migrate(db, NULL, &err) != 0 ||
        seed(db, z, now, &err) != 0) {
        fprintf(stderr, "bench_scale: seeding: %s\n", err.msg);
        failures++;
        goto out;
    }
    if (db_kind(db) == DB_SQLITE) {
        /* The mail thread of a running server indexes audit rows for search
         * after the fact (migration 18); the seeded ones are indexed here, as
         * it would have done while they were written. */
        int64_t ta = mono_ns(), rows = 0;
        int n;
        while ((n = audit_index_pending(db, 50000, &err)) > 0)
            rows += n;
        if (n < 0)
            fprintf(stderr, "bench_scale: audit index: %s\n", err.msg);
        printf("  audit search index (mail thread's work) %7" PRId64 " rows %8.1f s\n", rows,
               secs_since(ta));
    }
    if (db_kind(db) == DB_POSTGRES) {
        /* Rows inserted by SQL leave the dashboard's aggregate deltas
         * (migration 19) for the mail thread of a running server to fold;
         * folded here, as it would have done while they were written (and
         * it does at its start after an import like this one). */
        int64_t ta = mono_ns();
        int folded = stats_compact(db, &err);
        if (folded < 0)
            fprintf(stderr, "bench_scale: folding the dashboard deltas: %s\n", err.msg);
        printf("  dashboard deltas (mail thread's work) %8d rows %8.1f s\n", folded,
               secs_since(ta));
        ta = mono_ns();
        if (db_exec(db, "VACUUM ANALYZE", &err) != 0)
            fprintf(stderr, "bench_scale: VACUUM ANALYZE: %s\n", err.msg);
        printf("  VACUUM ANALYZE (as autovacuum would) %24.1f s\n", secs_since(ta));
    }
    printf("  seeding in all                    %27.1f s\n", secs_since(t));
    /* Before `lumi serve` starts: its scheduler would run the same pass. */
    automation(db, now);
    if (pages(db, z, env, engine) != 0)
        failures++;
out:
    db_close(db);
    if (dir[0] != '\0' && getenv("BENCH_KEEP") != NULL) {
        printf("  kept %s (BENCH_KEEP)\n", url);
    } else if (dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_scale: could not remove %s\n", dir);
    }
    pg_stop();
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows when piped to a file */
    const char *which = getenv("BENCH_DB");
    const char *sc = getenv("BENCH_SCALE");
    const char *rep = getenv("REPEAT");
    int64_t v = 0;
    if (which == NULL || *which == '\0')
        which = "both";
    if (strcmp(which, "sqlite") != 0 && strcmp(which, "postgres") != 0 &&
        strcmp(which, "both") != 0) {
        fprintf(stderr, "bench_scale: BENCH_DB must be sqlite, postgres or both\n");
        return 2;
    }
    if (sc != NULL && *sc != '\0') {
        char *end = NULL;
        scale = strtod(sc, &end);
        if (end == sc || *end != '\0' || scale < 0.001 || scale > 1.0) {
            fprintf(stderr, "bench_scale: BENCH_SCALE must be from 0.001 to 1\n");
            return 2;
        }
    }
    if (rep != NULL && *rep != '\0' && str_to_i64z(rep, 1, REPEAT_MAX, &v) == 0)
        repeat = (int)v;
    if (lumi_bin_find() != 0 || crypto_init() != 0) {
        fprintf(stderr, "bench_scale: no lumi binary (set LUMI_BIN) or no crypto\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_set_level(LOG_WARN);
    unsigned char raw[32];
    char key[65];
    crypto_random(raw, sizeof raw);
    hex_encode(raw, sizeof raw, key, sizeof key);
    setenv("LUMI_SECRET_KEY", key, 1);
    struct sizes z = {scaled(200000), scaled(200000), scaled(1000000), scaled(1000000),
                      scaled(5000000)};
    printf("bench_scale: scale %.3f: %" PRId64 " clients, %" PRId64 " services, %" PRId64
           " invoices (+ items), %" PRId64 " transactions, %" PRId64 " audit rows\n",
           scale, z.clients, z.services, z.invoices, z.transactions, z.audit);
    printf("target: every page p95 <= %.0f ms, one automation pass <= %.0f s\n", TARGET_MS,
           AUTOMATION_TARGET_S);
    if (strcmp(which, "postgres") != 0)
        run_engine("sqlite", &z, key);
    if (strcmp(which, "sqlite") != 0)
        run_engine("postgres", &z, key);
    printf("\nbench_scale: %s\n", failures == 0 ? "all targets met" : "some targets missed");
    return failures == 0 ? 0 : 1;
}

#else

int main(void)
{
    fprintf(stderr, "bench_scale: needs the test support library (configure with "
                    "-DLUMI_TESTS=ON)\n");
    return 1;
}

#endif
