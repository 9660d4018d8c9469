/*
 * bb_services.c — orders and the service lifecycle through the real binary:
 * `lumi serve` (whose worker runs the jobs) against a fake Pterodactyl
 * stored as a database server. An order answers 201 with its first invoice
 * (sequential numbers, setup + first period) and its provision job, and ends
 * with exactly one panel server under the service's remote key; suspend,
 * unsuspend and terminate reach the panel and the record; transitions the
 * status does not allow answer 409; bad orders answer 400 and write nothing;
 * a full server answers 409; a job the panel refuses (422) fails, is listed,
 * and is retried after the product is fixed; `lumi service suspend` prints the outcome; group
 * products fill servers by their strategy; a paid first invoice provisions
 * and a payment lifts only an overdue suspension; every step is audited. Runs on SQLite and
 * PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "fakes/fake_pterodactyl.h"
#include "provisioning/services.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5b1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_ServicesTestKey0123456789abcdefABCDEFghij"
#define SETTLE_S 30

#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"

struct ctx {

    struct fake_ptero *ptero;
    int64_t server_id, client_id, product_id;
    int64_t first, second; /* the two services ordered first */
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

/* No answer may carry a stored panel password or the panel's key. */
static void assert_no_secrets(const char *method, const char *path, const struct http_result *r)
{
    if (strstr(buf_cstr(&r->body), "password_enc") != NULL ||
        strstr(buf_cstr(&r->body), PTERO_KEY) != NULL)
        fail_msg("%s %s leaks a secret: %s", method, path, buf_cstr(&r->body));
}

static int64_t product(const char *extra)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"setup_fee\":500%s}",
             extra);
    return bb_create_ok("/api/admin/products", body);
}

/* Orders product for the client; expects 201 and answers the whole answer (caller decrefs). */
static json_t *order(int64_t product_id)
{
    char body[128];
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}",
             C->client_id, product_id);
    return bb_json("POST", body, 201, "/api/admin/services");
}

static int64_t id_of(const json_t *o)
{
    return json_integer_value(json_object_get(o, "id"));
}

/* Polls the service until its status is want; answers it (caller decrefs). */
static json_t *wait_status(int64_t id, const char *want)
{
    for (int i = 0; i < SETTLE_S * 10; i++) {
        struct http_result r = bb_apif("GET", NULL, "/api/admin/services/%" PRId64, id);
        assert_int_equal(r.status, 200);
        if (strcmp(bb_str(r.json, "status"), want) == 0) {
            json_t *j = json_incref(r.json);
            http_result_free(&r);
            return j;
        }
        if (i == SETTLE_S * 10 - 1)
            fail_msg("service %" PRId64 " never became %s: %s", id, want, buf_cstr(&r.body));
        http_result_free(&r);
        bb_sleep_ms(100);
    }
    return NULL;
}

/* POST /api/admin/services/{id}/{action} with body; expects status, answers the job id (202). */
static int64_t request(int64_t id, const char *action, const char *body, long status)
{
    struct http_result r = bb_apif("POST", body, "/api/admin/services/%" PRId64 "/%s", id, action);
    if (r.status != status)
        fail_msg("%s %" PRId64 ": %ld %s", action, id, r.status, buf_cstr(&r.body));
    int64_t job = 0;
    if (status == 202) {
        json_t *j = json_object_get(r.json, "job");
        assert_string_equal(bb_str(j, "action"), action[0] == 'r' ? "provision" : action);
        job = id_of(j);
        assert_true(job > 0);
    } else {
        assert_string_equal(http_error_code(&r), status == 409 ? "conflict" : "invalid_request");
        assert_true(strlen(json_string_value(
                        json_object_get(json_object_get(r.json, "error"), "message"))) > 10);
    }
    http_result_free(&r);
    return job;
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);

    bb_token("services-test");
    bb_check_answers(assert_no_secrets);
    bb_serve();

    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    C->server_id = bb_create_ok("/api/admin/servers", body);
    C->client_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"ada@example.com\","
                                           "\"first_name\":\"Ada\",\"last_name\":\"L\"}");
    snprintf(body, sizeof body,
             ",\"server_id\":%" PRId64 ",\"autosetup\":\"order\",\"config\":" GAME_CONFIG,
             C->server_id);
    C->product_id = product(body);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    int status = bb_finish();
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void check_first_invoice(const json_t *svc, const char *number)
{
    const json_t *inv = json_object_get(svc, "invoice");
    assert_int_equal(json_integer_value(json_object_get(svc, "invoice_id")), id_of(inv));
    assert_string_equal(bb_str(inv, "number"), number);
    assert_string_equal(bb_str(inv, "status"), "unpaid");
    assert_string_equal(bb_str(inv, "currency"), "usd");
    assert_int_equal(json_integer_value(json_object_get(inv, "subtotal")), 2000);
    assert_int_equal(json_integer_value(json_object_get(inv, "total")), 2000);
    const json_t *items = json_object_get(inv, "items");
    assert_int_equal(json_array_size(items), 2);
    const json_t *setup_item = json_array_get(items, 0), *period = json_array_get(items, 1);
    assert_string_equal(bb_str(setup_item, "kind"), "setup");
    assert_int_equal(json_integer_value(json_object_get(setup_item, "amount")), 500);
    assert_string_equal(bb_str(period, "kind"), "recurring");
    assert_int_equal(json_integer_value(json_object_get(period, "quantity")), 1);
    assert_int_equal(json_integer_value(json_object_get(period, "unit_amount")), 1500);
    assert_int_equal(json_integer_value(json_object_get(period, "amount")), 1500);
    assert_int_equal(json_integer_value(json_object_get(period, "service_id")), id_of(svc));
    assert_string_equal(bb_str(period, "period_end"), bb_str(svc, "next_due_date"));
}

static void order_creates_invoice_job_and_one_panel_server(void **state)
{
    json_t *svc = order(C->product_id);
    int64_t id = id_of(svc);
    C->first = id;
    assert_string_equal(bb_str(svc, "status"), "pending");
    assert_int_equal(json_integer_value(json_object_get(svc, "server_id")), C->server_id);
    assert_int_equal(json_integer_value(json_object_get(svc, "recurring_amount")), 1500);
    assert_string_equal(bb_str(svc, "billing_cycle"), "monthly");
    assert_true(strlen(bb_str(svc, "next_due_date")) == 20);
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%" PRId64, id);
    const char *key = bb_str(svc, "remote_key");
    assert_true(strncmp(key, "lumi-", 5) == 0 && strlen(key) == 5 + 8 + strlen(suffix));
    assert_string_equal(key + 13, suffix);
    check_first_invoice(svc, "INV-000001");
    const json_t *job = json_object_get(svc, "job");
    assert_string_equal(bb_str(job, "action"), "provision");
    assert_int_equal(json_integer_value(json_object_get(job, "service_id")), id);

    json_t *done = wait_status(id, "active");
    assert_int_equal(fake_ptero_server_count(C->ptero), 1);
    struct fake_ptero_server fs;
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 1);
    char ext[32];
    snprintf(ext, sizeof ext, "%" PRId64, fs.id);
    assert_string_equal(bb_str(done, "external_id"), ext);
    assert_true(json_array_size(json_object_get(done, "jobs")) >= 1);
    assert_true(json_array_size(json_object_get(done, "attempts")) >= 1);
    assert_null(json_object_get(done, "password"));
    json_decref(done);
    json_decref(svc);

    /* The next order takes the next number. */
    svc = order(C->product_id);
    C->second = id_of(svc);
    check_first_invoice(svc, "INV-000002");
    json_decref(svc);
    json_decref(wait_status(C->second, "active"));
    assert_int_equal(fake_ptero_server_count(C->ptero), 2);
    fake_ptero_finish_installs(C->ptero);

    struct http_result r = bb_api("GET", "/api/admin/services?status=active&limit=1", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    assert_true(json_is_string(json_object_get(r.json, "next_cursor")));
    http_result_free(&r);
    assert_int_equal(bb_count("%s", "SELECT COUNT(*) FROM services WHERE remote_key LIKE 'tmp-%'"),
                     0);
}

static void suspend_and_unsuspend_reach_the_panel(void **state)
{
    int64_t id = C->first;
    json_t *svc = wait_status(id, "active");
    const char *key = bb_str(svc, "remote_key");
    struct fake_ptero_server fs;

    request(id, "unsuspend", NULL, 409);
    request(id, "provision", NULL, 409);
    request(id, "retry", NULL, 409);
    request(id, "suspend", "{\"reason\":\"sleepy\"}", 400);
    request(id, "suspend", "{\"reason\":\"manual\"}", 202);
    json_t *s = wait_status(id, "suspended");
    assert_string_equal(bb_str(s, "suspend_reason"), "manual");
    json_decref(s);
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 1);
    assert_true(fs.suspended);
    request(id, "suspend", NULL, 409);

    request(id, "unsuspend", NULL, 202);
    json_decref(wait_status(id, "active"));
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 1);
    assert_false(fs.suspended);
    json_decref(svc);

    struct http_result r = bb_api("POST", "/api/admin/services/999999/suspend", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

static void terminate_removes_the_panel_server(void **state)
{
    int64_t id = C->second;
    struct fake_ptero_server fs;
    json_t *svc = wait_status(id, "active");
    char key[128];
    snprintf(key, sizeof key, "%s", bb_str(svc, "remote_key"));
    json_decref(svc);
    request(id, "terminate", "{\"reason\":\"customer left\"}", 202);
    json_t *s = wait_status(id, "terminated");
    assert_true(json_is_string(json_object_get(s, "terminated_at")));
    json_decref(s);
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 0);
    assert_int_equal(fake_ptero_server_count(C->ptero), 1);

    request(id, "terminate", NULL, 409);
    request(id, "suspend", NULL, 409);
    request(id, "unsuspend", NULL, 409);
    request(id, "provision", NULL, 409);
    request(id, "retry", NULL, 409);
    request(id, "retry", NULL, 409);
}

static void bad_orders_answer_400_and_write_nothing(void **state)
{
    int64_t no_server = product("");
    int64_t inactive = product(",\"active\":false");
    const char *tables[] = {"services", "invoices",  "invoice_items",
                            "jobs",     "audit_log", "settings"};
    int64_t before[6], slots = bb_count("SELECT SUM(account_count) FROM servers");
    for (size_t i = 0; i < 6; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", tables[i]);
        before[i] = bb_count("%s", sql);
    }
    char bodies[8][200];
    snprintf(bodies[0], 200, "{\"client_id\":999999,\"product_id\":%" PRId64 "}", C->product_id);
    snprintf(bodies[1], 200, "{\"client_id\":%" PRId64 ",\"product_id\":999999}", C->client_id);
    snprintf(bodies[2], 200, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}", C->client_id,
             no_server);
    snprintf(bodies[3], 200, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}", C->client_id,
             inactive);
    snprintf(bodies[4], 200,
             "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 ",\"domain\":\"bad domain!\"}",
             C->client_id, C->product_id);
    snprintf(bodies[5], 200, "{\"client_id\":\"%" PRId64 "\",\"product_id\":%" PRId64 "}",
             C->client_id, C->product_id);
    snprintf(bodies[6], 200,
             "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 ",\"colour\":\"blue\"}",
             C->client_id, C->product_id);
    snprintf(bodies[7], 200, "{\"product_id\":%" PRId64 "}", C->product_id);
    for (size_t i = 0; i < 8; i++) {
        struct http_result r = bb_api("POST", "/api/admin/services", bodies[i]);
        if (r.status != 400)
            fail_msg("order %zu: %ld %s", i, r.status, buf_cstr(&r.body));
        assert_string_equal(http_error_code(&r), "invalid_request");
        if (i == 2)
            assert_non_null(strstr(buf_cstr(&r.body), "has no server or server group"));
        http_result_free(&r);
    }
    for (size_t i = 0; i < 6; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", tables[i]);
        if (bb_count("%s", sql) != before[i])
            fail_msg("a rejected order wrote to %s", tables[i]);
    }
    assert_int_equal(bb_count("SELECT SUM(account_count) FROM servers"), slots);
}

static void full_server_answers_409(void **state)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"Tiny\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\",\"max_accounts\":1}",
             fake_ptero_url(C->ptero));
    int64_t tiny = bb_create_ok("/api/admin/servers", body);
    snprintf(body, sizeof body,
             ",\"server_id\":%" PRId64 ",\"autosetup\":\"manual\",\"config\":" GAME_CONFIG, tiny);
    int64_t p = product(body);
    json_t *svc = order(p);
    assert_true(json_is_null(json_object_get(svc, "job")));
    json_decref(svc);
    int64_t services = bb_count("SELECT COUNT(*) FROM services");
    int64_t invoices = bb_count("SELECT COUNT(*) FROM invoices");
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}",
             C->client_id, p);
    struct http_result r = bb_api("POST", "/api/admin/services", body);
    assert_int_equal(r.status, 409);
    assert_string_equal(http_error_code(&r), "conflict");
    assert_non_null(strstr(buf_cstr(&r.body), "full"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services"), services);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoices"), invoices);
}

static void failed_job_is_listed_and_retried_after_a_fix(void **state)
{
    char body[512];
    snprintf(body, sizeof body,
             ",\"server_id\":%" PRId64 ",\"autosetup\":\"order\","
             "\"config\":{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,"
             "\"environment\":{\"SERVER_JARFILE\":\"a-jar-name-longer-than-twenty.jar\"}}",
             C->server_id);
    int64_t p = product(body);
    json_t *svc = order(p);
    int64_t id = id_of(svc);
    struct fake_ptero_server fs;
    char key[128];
    snprintf(key, sizeof key, "%s", bb_str(svc, "remote_key"));
    json_decref(svc);
    /* The panel refuses the egg variable (422): a permanent failure, recorded per attempt. */
    json_t *s = wait_status(id, "failed");
    assert_true(strlen(bb_str(s, "last_error")) > 0);
    const json_t *attempt = json_array_get(json_object_get(s, "attempts"), 0);
    assert_int_equal(json_integer_value(json_object_get(attempt, "http_status")), 422);
    json_decref(s);
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 0);

    struct http_result r = bb_api("GET", "/api/admin/jobs?status=failed", NULL);
    assert_int_equal(r.status, 200);
    json_t *jobs = json_object_get(r.json, "data"), *j;
    size_t i;
    int64_t failed = 0;
    json_array_foreach(jobs, i, j)
    {
        assert_string_equal(bb_str(j, "status"), "failed");
        if (json_integer_value(json_object_get(j, "service_id")) == id)
            failed = id_of(j);
    }
    http_result_free(&r);
    assert_true(failed > 0);
    r = bb_apif("GET", NULL, "/api/admin/jobs/%" PRId64, failed);
    assert_int_equal(r.status, 200);
    assert_true(strlen(bb_str(r.json, "last_error")) > 0);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/jobs?status=lost", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);

    r = bb_apif("PATCH", "{\"config\":" GAME_CONFIG "}", "/api/admin/products/%" PRId64, p);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    request(id, "retry", NULL, 202);
    json_decref(wait_status(id, "active"));
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 1);
}

static void cli_suspends_and_prints_the_outcome(void **state)
{
    int64_t id = C->first;
    json_t *svc = wait_status(id, "active");
    char idt[24], want[128];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    snprintf(want, sizeof want, "service %" PRId64 ": suspended (pterodactyl server %s)", id,
             bb_str(svc, "external_id"));
    json_decref(svc);
    struct lumi_run_result r;
    const char *argv[] = {"service", "suspend", idt, "--reason", "abuse", NULL};
    assert_int_equal(lumi_run(argv, bb_env(), NULL, &r), 0);
    if (r.exit_code != 0)
        fail_msg("lumi service suspend: %d %s", r.exit_code, buf_cstr(&r.err));
    assert_non_null(strstr(buf_cstr(&r.out), want));
    lumi_run_result_free(&r);
    json_t *s = wait_status(id, "suspended");
    assert_string_equal(bb_str(s, "suspend_reason"), "abuse");
    json_decref(s);

    /* A transition the status does not allow: one line on stderr, exit 1. */
    assert_int_equal(lumi_run(argv, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(buf_cstr(&r.err), "only active services"));
    lumi_run_result_free(&r);
    const char *bad[] = {"service", "suspend", "twelve", NULL};
    assert_int_equal(lumi_run(bad, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 2);
    lumi_run_result_free(&r);
}

/* A group server pointing at the fake; manual products never call it. */
static int64_t group_server(const char *name, int fill_order)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\",\"max_accounts\":10,\"group\":\"eu\",\"fill_order\":%d}",
             name, fake_ptero_url(C->ptero), fill_order);
    return bb_create_ok("/api/admin/servers", body);
}

static int64_t placed_on(int64_t product_id)
{
    json_t *svc = order(product_id);
    int64_t server = json_integer_value(json_object_get(svc, "server_id"));
    json_decref(svc);
    return server;
}

static void group_products_fill_servers_by_strategy(void **state)
{
    int64_t second = group_server("EU 2", 2);
    int64_t first = group_server("EU 1", 1);
    int64_t in_order = product(",\"server_group\":\"eu\",\"fill_strategy\":\"in_order\","
                               "\"autosetup\":\"manual\",\"config\":" GAME_CONFIG);
    int64_t least_full = product(",\"server_group\":\"eu\",\"fill_strategy\":\"least_full\","
                                 "\"autosetup\":\"manual\",\"config\":" GAME_CONFIG);
    assert_int_equal(placed_on(in_order), first);    /* first by fill_order */
    assert_int_equal(placed_on(least_full), second); /* 0/10 beats 1/10 */
    assert_int_equal(placed_on(least_full), first);  /* 1/10 each: fill_order decides */
    assert_int_equal(placed_on(in_order), first);
    int64_t empty = product(",\"server_group\":\"nowhere\",\"autosetup\":\"manual\"");
    char body[128];
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}",
             C->client_id, empty);
    struct http_result r = bb_api("POST", "/api/admin/services", body);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
}

/* What the payment code does when an invoice becomes paid, in its own transaction. */
static void pay(int64_t invoice_id)
{
    struct lumi_err err;
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, invoice_id);
    const char *p[] = {idt};
    if (db_begin(bb_db(), &err) != 0 ||
        db_execp(bb_db(),
                 "UPDATE invoices SET status = 'paid', amount_paid = total "
                 "WHERE id = CAST($1 AS BIGINT)",
                 1, p, NULL, &err) != 0 ||
        services_on_invoice_paid(bb_db(), &AUDIT_SYSTEM, invoice_id, &err) != 0 ||
        db_commit(bb_db(), &err) != 0)
        fail_msg("paying invoice %" PRId64 ": %s", invoice_id, err.msg);
}

static int64_t open_jobs(int64_t service_id)
{
    struct lumi_err err;
    char idt[24];
    int64_t n = -1;
    snprintf(idt, sizeof idt, "%" PRId64, service_id);
    const char *p[] = {idt};
    if (db_query_int64(bb_db(),
                       "SELECT COUNT(*) FROM jobs WHERE service_id = CAST($1 AS BIGINT) "
                       "AND status IN ('queued', 'running')",
                       1, p, &n, &err) != 0)
        fail_msg("%s", err.msg);
    return n;
}

static void payment_provisions_and_lifts_only_overdue_suspensions(void **state)
{
    char body[512];
    snprintf(body, sizeof body,
             ",\"server_id\":%" PRId64 ",\"autosetup\":\"payment\",\"config\":" GAME_CONFIG,
             C->server_id);
    json_t *svc = order(product(body));
    int64_t id = id_of(svc);
    int64_t invoice = json_integer_value(json_object_get(svc, "invoice_id"));
    assert_true(json_is_null(json_object_get(svc, "job")));
    json_decref(svc);
    assert_int_equal(open_jobs(id), 0);

    pay(invoice);
    json_decref(wait_status(id, "active"));

    /* Suspended for non-payment: paying lifts it, and moves the due date to the period's end. */
    request(id, "suspend", "{\"reason\":\"overdue\"}", 202);
    json_decref(wait_status(id, "suspended"));
    struct lumi_err err;
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *p[] = {idt};
    assert_int_equal(db_execp(bb_db(),
                              "UPDATE services SET next_due_date = '2020-01-01T00:00:00Z' "
                              "WHERE id = CAST($1 AS BIGINT)",
                              1, p, NULL, &err),
                     0);
    pay(invoice);
    json_t *s = wait_status(id, "active");
    assert_true(strcmp(bb_str(s, "next_due_date"), "2020-01-01T00:00:00Z") > 0);
    json_decref(s);

    /* An admin's suspension (abuse, from the CLI test) is never lifted by a payment. */
    int64_t first_invoice = bb_count("SELECT MIN(id) FROM invoices");
    s = wait_status(C->first, "suspended");
    json_decref(s);
    pay(first_invoice);
    assert_int_equal(open_jobs(C->first), 0);
    json_decref(wait_status(C->first, "suspended"));
}

static void every_step_is_audited(void **state)
{
    const char *actions[] = {"SERVICE_ORDERED",
                             "INVOICE_CREATED",
                             "SERVICE_PROVISIONED",
                             "SERVICE_PROVISION_FAILED",
                             "SERVICE_SUSPEND_REQUESTED",
                             "SERVICE_SUSPENDED",
                             "SERVICE_UNSUSPEND_REQUESTED",
                             "SERVICE_UNSUSPENDED",
                             "SERVICE_TERMINATE_REQUESTED",
                             "SERVICE_TERMINATED",
                             "SERVICE_RETRY_REQUESTED"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (bb_audit_count(actions[i]) < 1)
            fail_msg("no %s audit row", actions[i]);
    int64_t services = bb_count("SELECT COUNT(*) FROM services");
    assert_int_equal(bb_audit_count("SERVICE_ORDERED"), services);
    assert_int_equal(bb_audit_count("INVOICE_CREATED"), services);
    struct lumi_run_result r;
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(lumi_run(verify, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 0);
    lumi_run_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_creates_invoice_job_and_one_panel_server),
        cmocka_unit_test(suspend_and_unsuspend_reach_the_panel),
        cmocka_unit_test(terminate_removes_the_panel_server),
        cmocka_unit_test(bad_orders_answer_400_and_write_nothing),
        cmocka_unit_test(full_server_answers_409),
        cmocka_unit_test(failed_job_is_listed_and_retried_after_a_fix),
        cmocka_unit_test(cli_suspends_and_prints_the_outcome),
        cmocka_unit_test(group_products_fill_servers_by_strategy),
        cmocka_unit_test(payment_provisions_and_lifts_only_overdue_suspensions),
        cmocka_unit_test(every_step_is_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
