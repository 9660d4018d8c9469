/*
 * bench_provisioning.c — how fast does an overdue wave get suspended?
 *
 * Builds a SQLite database in a temporary directory with N active services
 * (default 1,000), each with an overdue unpaid invoice, on one fake
 * Pterodactyl panel (--panels to spread them) whose every answer takes
 * --latency-ms (default 50 ms; the fake answers connections concurrently,
 * as a real panel does); runs one automation pass (which queues N suspend
 * jobs), then the job worker until every job has settled, and prints the
 * wall times and jobs per second.
 *
 * Rate limit: Lumi's default budget for a Pterodactyl server is 240 requests
 * a minute (the panel's own default throttle), which alone makes 1,000
 * suspensions take over 4 minutes. The benchmark measures the worker, so
 * its server rows allow --rate requests a minute (default 100,000), as an
 * admin would set rate_limit_per_minute for a panel whose throttle was raised.
 *
 * Usage: bench_provisioning [--services N] [--panels P] [--latency-ms MS]
 *                           [--threads T] [--per-server S] [--rate PER_MINUTE]
 * Threading: the main thread seeds and polls; the worker runs its own
 * threads, each with its own connection; the fakes run their own threads.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/migrate.h"
#include "fakes/fake_pterodactyl.h"
#include "support/testdb.h"
#include "provisioning/automation.h"
#include "provisioning/servers.h"
#include "provisioning/worker.h"

#define SECRET_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PTERO_KEY "ptla_BenchApplicationKey1234567890abcdefghij"
#define MAX_PANELS 200
#define SETTLE_TIMEOUT_S 600
#define DAY 86400

struct opts {
    int services, panels, latency_ms, threads, per_server, rate;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){1000, 1, 50, 16, 16, 100000};
    for (int i = 1; i < argc; i++) {
        int64_t v = 0;
        int *field = NULL;
        int64_t min = 1, max = 100000;
        if (strcmp(argv[i], "--services") == 0) {
            field = &o->services;
        } else if (strcmp(argv[i], "--panels") == 0) {
            field = &o->panels;
            max = MAX_PANELS;
        } else if (strcmp(argv[i], "--latency-ms") == 0) {
            field = &o->latency_ms;
            min = 0;
            max = 10000;
        } else if (strcmp(argv[i], "--threads") == 0) {
            field = &o->threads;
            max = 64;
        } else if (strcmp(argv[i], "--per-server") == 0) {
            field = &o->per_server;
            max = 64;
        } else if (strcmp(argv[i], "--rate") == 0) {
            field = &o->rate;
            max = 1000000;
        }
        if (field == NULL || i + 1 >= argc || str_to_i64z(argv[i + 1], min, max, &v) != 0) {
            fprintf(stderr,
                    "usage: %s [--services N] [--panels P] [--latency-ms MS] "
                    "[--threads T] [--per-server S] [--rate PER_MINUTE]\n",
                    argv[0]);
            return -1;
        }
        *field = (int)v;
        i++;
    }
    return 0;
}

/* Runs a prepared INSERT (NULL: the prepare failed) and finalizes it. */
static int step_done(struct db_stmt *st, struct lumi_err *err)
{
    int rc = st != NULL ? db_step(st, err) : err->code;
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int64_t query1(struct db *db, const char *sql)
{
    struct lumi_err err;
    int64_t n = -1;
    if (db_query_int64(db, sql, 0, NULL, &n, &err) != 0)
        fprintf(stderr, "bench: %s: %s\n", sql, err.msg);
    return n;
}

static int64_t add_panel_server(struct db *db, const char *url, int no, int rate)
{
    struct lumi_err err;
    char name[32];
    snprintf(name, sizeof name, "bench-panel-%02d", no + 1);
    json_t *in = json_pack("{s:s s:s s:s s:s s:i}", "name", name, "type", "pterodactyl", "url",
                           url, "api_key", PTERO_KEY, "rate_limit_per_minute", rate);
    json_t *out = in != NULL ? servers_create(db, &AUDIT_SYSTEM, in, &err) : NULL;
    int64_t id = out != NULL ? json_integer_value(json_object_get(out, "id")) : -1;
    if (out == NULL)
        fprintf(stderr, "bench: servers_create: %s\n", in != NULL ? err.msg : "out of memory");
    json_decref(in);
    json_decref(out);
    return id;
}

/* One service on panel p: the remote server, the row, an overdue unpaid invoice. */
static int seed_service(struct db *db, struct fake_ptero *fp, int64_t fake_user, int64_t client,
                        int64_t product, int64_t server_id, int i, const char *far,
                        const char *overdue, struct lumi_err *err)
{
    char key[48], ext[24], number[32];
    snprintf(key, sizeof key, "lumi-bench-%d", i + 1);
    snprintf(number, sizeof number, "BENCH-%06d", i + 1);
    int64_t remote = fake_ptero_add_server(fp, key, fake_user);
    snprintf(ext, sizeof ext, "%" PRId64, remote);

    struct db_stmt *st = db_prepare(
        db,
        "INSERT INTO services (client_id, product_id, server_id, status, remote_key, external_id,"
        " billing_cycle, recurring_amount, currency, next_due_date, created_at, updated_at)"
        " VALUES ($1, $2, $3, 'active', $4, $5, 'monthly', 1500, 'usd', $6, $7, $7)"
        " RETURNING id",
        err);
    int64_t service_id = 0;
    if (st != NULL) {
        db_bind_int64(st, 1, client);
        db_bind_int64(st, 2, product);
        db_bind_int64(st, 3, server_id);
        db_bind_text(st, 4, key);
        db_bind_text(st, 5, ext);
        db_bind_text(st, 6, far);
        db_bind_text(st, 7, overdue);
        if (db_step(st, err) == DB_ROW)
            service_id = db_col_int64(st, 0);
        db_finalize(st);
    }
    if (service_id <= 0)
        return -1;
    st = db_prepare(db,
                    "INSERT INTO invoices (number, client_id, status, currency, subtotal, total,"
                    " due_date, created_at, updated_at)"
                    " VALUES ($1, $2, 'unpaid', 'usd', 1500, 1500, $3, $3, $3) RETURNING id",
                    err);
    int64_t invoice_id = 0;
    if (st != NULL) {
        db_bind_text(st, 1, number);
        db_bind_int64(st, 2, client);
        db_bind_text(st, 3, overdue);
        if (db_step(st, err) == DB_ROW)
            invoice_id = db_col_int64(st, 0);
        db_finalize(st);
    }
    if (invoice_id <= 0)
        return -1;
    st = db_prepare(db,
                    "INSERT INTO invoice_items (invoice_id, service_id, kind, description,"
                    " quantity, unit_amount, amount) VALUES ($1, $2, 'recurring', 'Game S', 1,"
                    " 1500, 1500)",
                    err);
    if (st != NULL) {
        db_bind_int64(st, 1, invoice_id);
        db_bind_int64(st, 2, service_id);
    }
    return step_done(st, err);
}

static double seconds_since(int64_t start_ms)
{
    return (double)(utc_monotonic_ms() - start_ms) / 1000.0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void remove_dir(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    testdb_remove_sqlite(path);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct lumi_err err;
    struct fake_ptero *fakes[MAX_PANELS] = {0};
    int64_t server_ids[MAX_PANELS], fake_users[MAX_PANELS], products[MAX_PANELS];
    char dir[] = "/tmp/lumi-bench-XXXXXX", url[600], sql[512];
    char far[UTC_ISO_LEN], overdue[UTC_ISO_LEN];
    struct db *db = NULL;
    struct worker *w = NULL;
    int status = 1;
    bool have_dir = false;

    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    setenv("LUMI_SECRET_KEY", SECRET_KEY, 0);
    unsetenv("PTERODACTYL_URL");
    if (crypto_init() != 0 || config_load(NULL, &err) != 0) {
        fprintf(stderr, "bench: configuration: %s\n", err.msg);
        return 1;
    }
    log_set_level(LOG_WARN); /* one line per job would measure the terminal */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(dir) == NULL) {
        perror("bench: mkdtemp");
        goto out;
    }
    have_dir = true;
    snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    if ((db = db_open(url, &err)) == NULL || db_migrate(db, NULL, &err) != 0) {
        fprintf(stderr, "bench: database: %s\n", err.msg);
        goto out;
    }

    /* A client, the panels, a product per panel. */
    if (db_exec(db,
                "INSERT INTO users (email, role, created_at, updated_at) VALUES "
                "('bench@example.com', 'client', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                &err) != 0) {
        fprintf(stderr, "bench: client: %s\n", err.msg);
        goto out;
    }
    int64_t client = query1(db, "SELECT id FROM users WHERE email = 'bench@example.com'");
    for (int p = 0; p < o.panels; p++) {
        fakes[p] = fake_ptero_start(PTERO_KEY);
        char ext[24];
        snprintf(ext, sizeof ext, "%" PRId64, client);
        fake_users[p] = fake_ptero_add_user(fakes[p], "bench@example.com", "bench", ext);
        if ((server_ids[p] = add_panel_server(db, fake_ptero_url(fakes[p]), p, o.rate)) <= 0)
            goto out;
        snprintf(
            sql, sizeof sql,
            "INSERT INTO products (name, type, server_id, price, currency, billing_cycle,"
            " autosetup, config, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
            ", 1500, 'usd', 'monthly', 'order', '{\"nest_id\":1,\"egg_id\":1}',"
            " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            server_ids[p]);
        if (db_exec(db, sql, &err) != 0) {
            fprintf(stderr, "bench: product: %s\n", err.msg);
            goto out;
        }
        products[p] = query1(db, "SELECT MAX(id) FROM products");
    }

    int64_t now = utc_now();
    utc_format(now + 400 * DAY, far);
    utc_format(now - 10 * DAY, overdue);
    int64_t t_seed = utc_monotonic_ms();
    if (db_begin(db, &err) != 0)
        goto out;
    for (int i = 0; i < o.services; i++) {
        int p = i % o.panels;
        if (seed_service(db, fakes[p], fake_users[p], client, products[p], server_ids[p], i, far,
                         overdue, &err) != 0) {
            fprintf(stderr, "bench: seeding service %d: %s\n", i + 1, err.msg);
            db_rollback(db);
            goto out;
        }
    }
    if (db_commit(db, &err) != 0) {
        fprintf(stderr, "bench: seeding: %s\n", err.msg);
        goto out;
    }
    double seed_s = seconds_since(t_seed);

    /* The panels get slow only now: seeding talks to the fakes directly anyway. */
    for (int p = 0; p < o.panels; p++)
        if (o.latency_ms > 0)
            fake_set_latency(fake_ptero_http(fakes[p]), o.latency_ms);

    struct automation_report rep;
    int64_t t_pass = utc_monotonic_ms();
    if (automation_run(db, now, false, NULL, &rep, &err) != 0) {
        fprintf(stderr, "bench: automation: %s\n", err.msg);
        goto out;
    }
    double pass_s = seconds_since(t_pass);
    if (rep.suspensions_queued != o.services || rep.errors != 0)
        fprintf(stderr, "bench: the pass queued %d suspensions (%d errors), expected %d\n",
                rep.suspensions_queued, rep.errors, o.services);

    struct worker_config wc = {
        .database_url = url,
        .threads = o.threads,
        .per_server = o.per_server,
        .idle_poll_ms = 20,
        .scheduler = false,
    };
    int64_t t_work = utc_monotonic_ms();
    if ((w = worker_start(&wc, &err)) == NULL) {
        fprintf(stderr, "bench: worker: %s\n", err.msg);
        goto out;
    }
    int64_t settled = 0, total = query1(db, "SELECT COUNT(*) FROM jobs WHERE action = 'suspend'");
    while (settled < total && seconds_since(t_work) < SETTLE_TIMEOUT_S) {
        sleep_ms(20);
        settled = query1(db, "SELECT COUNT(*) FROM jobs WHERE action = 'suspend'"
                             " AND status IN ('done','failed')");
    }
    double work_s = seconds_since(t_work);
    worker_stop(w);
    w = NULL;

    int64_t done = query1(db, "SELECT COUNT(*) FROM jobs WHERE status = 'done'");
    int64_t failed = query1(db, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'");
    int64_t suspended = query1(db, "SELECT COUNT(*) FROM services WHERE status = 'suspended'"
                                   " AND suspend_reason = 'overdue'");
    int64_t attempts = query1(db, "SELECT COUNT(*) FROM provision_attempts");
    size_t remote_suspended = 0;
    for (int i = 0; i < o.services; i++) {
        char key[48];
        struct fake_ptero_server fs;
        snprintf(key, sizeof key, "lumi-bench-%d", i + 1);
        if (fake_ptero_find_server(fakes[i % o.panels], key, &fs) == 1 && fs.suspended)
            remote_suspended++;
    }
    printf("bench_provisioning: %d services on %d fake Pterodactyl panel(s), %d ms per answer,"
           " worker %d threads, per_server %d\n",
           o.services, o.panels, o.latency_ms, o.threads, o.per_server);
    printf("  seeding             %8.2f s\n", seed_s);
    printf("  automation pass     %8.2f s  (%d suspend jobs queued)\n", pass_s,
           rep.suspensions_queued);
    printf("  worker until settled %7.2f s  (%" PRId64 " done, %" PRId64 " failed, %" PRId64
           " panel calls)\n",
           work_s, done, failed, attempts);
    printf("  throughput          %8.1f jobs/s\n", work_s > 0 ? (double)settled / work_s : 0.0);
    printf("  wall (pass + worker) %7.2f s  (target < 15 s)\n", pass_s + work_s);
    printf("  services suspended  %8" PRId64 " in Lumi, %zu on the panels\n", suspended,
           remote_suspended);
    status = settled == o.services && done == o.services && (size_t)suspended == remote_suspended
                 ? 0
                 : 1;
    if (status != 0)
        fprintf(stderr, "bench: not every job ended done (see above)\n");
out:
    worker_stop(w);
    db_close(db);
    for (int p = 0; p < o.panels; p++)
        fake_ptero_stop(fakes[p]);
    if (have_dir)
        remove_dir(dir);
    curl_global_cleanup();
    return status;
}
