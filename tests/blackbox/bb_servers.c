/*
 * bb_servers.c — panels as an admin manages them, through the real binary:
 * an environment-configured Pterodactyl and database-stored DirectAdmin and
 * VirtFusion servers, each pointed at its fake panel; connection tests over
 * the API and the CLI with their stored status; deletion rules; and no
 * server secret in any API answer, log line or audit row.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "fakes/fake_directadmin.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_virtfusion.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "8f1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_EnvironmentPteroKey0123456789abcdefABCDEF"
#define DA_PASSWORD "Da-Admin-Password-42"
#define VF_TOKEN "vf-token-RightOne-0123456789"
#define VF_WRONG "vf-token-WrongOne-9876543210"

struct ctx {
    struct fake_ptero *ptero;
    struct fake_da *da;
    struct fake_vf *vf;
    struct buf seen; /* every API answer, to search for secrets at the end */
};

static struct ctx *C;

/* Keeps every API answer, to search them all for secrets at the end. */
static void remember(const char *method, const char *path, const struct http_result *r)
{
    (void)method;
    (void)path;
    buf_append_str(&C->seen, buf_cstr(&r->body));
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    buf_init(&C->seen, 64 << 20);
    C->ptero = fake_ptero_start(PTERO_KEY);
    C->da = fake_da_start("admin", DA_PASSWORD);
    C->vf = fake_vf_start(VF_TOKEN);
    bb_init(SECRET_KEY);
    bb_env_add("PTERODACTYL_URL=%s", fake_ptero_url(C->ptero));
    bb_env_add("PTERODACTYL_API_KEY=%s", PTERO_KEY);
    bb_token("servers-test");
    bb_check_answers(remember);
    bb_serve();

    *state = C;
    return 0;
}

static int teardown(void **state)
{
    int status = bb_finish();
    fake_ptero_stop(C->ptero);
    fake_da_stop(C->da);
    fake_vf_stop(C->vf);
    buf_free(&C->seen);
    free(C);
    return status == 0 ? 0 : -1;
}

static int64_t create_server(const char *body)
{
    struct http_result r = bb_api("POST", "/api/admin/servers", body);
    if (r.status != 201)
        fail_msg("create server: %ld %s", r.status, buf_cstr(&r.body));
    int64_t id = json_integer_value(json_object_get(r.json, "id"));
    http_result_free(&r);
    return id;
}

/* POST /api/admin/servers/{id}/test; returns the answer's JSON (caller decrefs). */
static json_t *test_server(int64_t id)
{
    json_t *j = bb_json("POST", NULL, 200, "/api/admin/servers/%lld/test", (long long)id);
    assert_true(json_is_boolean(json_object_get(j, "success")));
    assert_true(json_is_string(json_object_get(j, "message")));
    assert_true(json_integer_value(json_object_get(j, "latency_ms")) >= 0);
    return j;
}

static int64_t env_server_id(void)
{
    struct http_result r = bb_api("GET", "/api/admin/servers", NULL);
    assert_int_equal(r.status, 200);
    json_t *data = json_object_get(r.json, "data"), *s;
    size_t i;
    int64_t id = 0;
    json_array_foreach(data, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "source")), "environment") == 0)
            id = json_integer_value(json_object_get(s, "id"));
    }
    http_result_free(&r);
    return id;
}

static void environment_panel_is_listed_and_tests_ok(void **state)
{
    int64_t id = env_server_id();
    assert_true(id > 0);
    char path[64];
    snprintf(path, sizeof path, "/api/admin/servers/%lld", (long long)id);
    struct http_result r = bb_api("GET", path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "type")), "pterodactyl");
    assert_string_equal(json_string_value(json_object_get(r.json, "api_key")), "********");
    http_result_free(&r);

    json_t *t = test_server(id);
    assert_true(json_is_true(json_object_get(t, "success")));
    json_decref(t);
    r = bb_api("GET", path, NULL);
    assert_true(json_is_true(json_object_get(json_object_get(r.json, "status"), "ok")));
    http_result_free(&r);

    /* The environment's server cannot be edited through the API. */
    r = bb_api("PATCH", path, "{\"name\":\"mine now\"}");
    assert_int_equal(r.status, 409);
    http_result_free(&r);
}

static void stored_panels_test_and_keep_their_status(void **state)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"Web 1\",\"type\":\"directadmin\",\"url\":\"%s\",\"username\":\"admin\","
             "\"password\":\"" DA_PASSWORD "\",\"api_version\":\"v1\"}",
             fake_da_url(C->da));
    int64_t da = create_server(body);
    json_t *t = test_server(da);
    assert_true(json_is_true(json_object_get(t, "success")));
    json_decref(t);

    snprintf(body, sizeof body,
             "{\"name\":\"VPS 1\",\"type\":\"virtfusion\",\"url\":\"%s\",\"api_key\":\"" VF_WRONG
             "\",\"max_accounts\":20}",
             fake_vf_url(C->vf));
    int64_t vf = create_server(body);
    t = test_server(vf);
    assert_false(json_is_true(json_object_get(t, "success")));
    const char *msg = json_string_value(json_object_get(t, "message"));
    assert_non_null(strstr(msg, "token"));
    json_decref(t);
    char path[64];
    snprintf(path, sizeof path, "/api/admin/servers/%lld", (long long)vf);
    struct http_result r = bb_api("GET", path, NULL);
    assert_false(json_is_true(json_object_get(json_object_get(r.json, "status"), "ok")));
    http_result_free(&r);

    /* Fix the token: the next test passes. */
    r = bb_api("PATCH", path, "{\"api_key\":\"" VF_TOKEN "\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "api_key")), "********");
    http_result_free(&r);
    t = test_server(vf);
    assert_true(json_is_true(json_object_get(t, "success")));
    json_decref(t);

    r = bb_api("GET", "/api/admin/audit-logs?action=SERVER_TESTED&limit=100", NULL);
    assert_true(json_array_size(json_object_get(r.json, "data")) >= 4);
    http_result_free(&r);
}

static void unsaved_fields_can_be_tested(void **state)
{
    /* A port nothing listens on: refused, with a message saying so. */
    struct http_result r = bb_api("POST", "/api/admin/servers/test",
                                  "{\"name\":\"x\",\"type\":\"pterodactyl\",\"url\":"
                                  "\"http://127.0.0.1:9\",\"api_key\":\"ptla_x\"}");
    assert_int_equal(r.status, 200);
    assert_false(json_is_true(json_object_get(r.json, "success")));
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "connect"));
    http_result_free(&r);

    r = bb_api("POST", "/api/admin/servers/test",
               "{\"name\":\"x\",\"type\":\"pterodactyl\",\"url\":\"ftp://x\",\"api_key\":\"k\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(http_error_code(&r), "invalid_request"));
    http_result_free(&r);

    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"x\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"ptla_bad\"}",
             fake_ptero_url(C->ptero));
    r = bb_api("POST", "/api/admin/servers/test", body);
    assert_false(json_is_true(json_object_get(r.json, "success")));
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "API key"));
    http_result_free(&r);
}

static void cli_lists_and_tests_servers(void **state)
{
    struct lumi_run_result r;
    const char *list[] = {"server", "list", NULL};
    assert_int_equal(lumi_run(list, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(buf_cstr(&r.out), "environment"));
    assert_non_null(strstr(buf_cstr(&r.out), "directadmin"));
    assert_non_null(strstr(buf_cstr(&r.out), "virtfusion"));
    lumi_run_result_free(&r);

    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)env_server_id());
    const char *test[] = {"server", "test", id, NULL};
    assert_int_equal(lumi_run(test, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 0);
    assert_true(strncmp(buf_cstr(&r.out), "ok: ", 4) == 0);
    lumi_run_result_free(&r);

    const char *missing[] = {"server", "test", "9999", NULL};
    assert_int_equal(lumi_run(missing, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(buf_cstr(&r.err), "not found"));
    lumi_run_result_free(&r);
}

static void delete_follows_the_rules(void **state)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"spare\",\"type\":\"virtfusion\",\"url\":\"%s\",\"api_key\":\"" VF_TOKEN
             "\"}",
             fake_vf_url(C->vf));
    int64_t id = create_server(body);
    struct lumi_err err;
    struct db *db = testdb_open(bb_db_url());
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('VPS', 'vps', %lld, 500, 'usd', "
             "'monthly', 'payment', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)id);
    assert_int_equal(db_exec(db, sql, &err), 0);
    char path[64];
    snprintf(path, sizeof path, "/api/admin/servers/%lld", (long long)id);
    struct http_result r = bb_api("DELETE", path, NULL);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
    assert_int_equal(db_exec(db, "DELETE FROM products", &err), 0);
    db_close(db);
    r = bb_api("DELETE", path, NULL);
    assert_int_equal(r.status, 204);
    http_result_free(&r);
    r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);

    snprintf(path, sizeof path, "/api/admin/servers/%lld", (long long)env_server_id());
    r = bb_api("DELETE", path, NULL);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
}

static void secrets_appear_nowhere(void **state)
{
    struct http_result r = bb_api("GET", "/api/admin/servers", NULL);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/audit-logs?format=jsonl", NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    char *log = lumi_server_log(bb_server());
    const char *secrets[] = {PTERO_KEY, DA_PASSWORD, VF_TOKEN, VF_WRONG};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strstr(buf_cstr(&C->seen), secrets[i]) != NULL)
            fail_msg("secret %zu appears in an API answer", i);
        if (strstr(log, secrets[i]) != NULL)
            fail_msg("secret %zu appears in the server log", i);
    }
    free(log);
    /* And not in clear in the database either. */
    struct lumi_err err;
    struct db *db = testdb_open(bb_db_url());
    int64_t n = -1;
    assert_int_equal(db_query_int64(db,
                                    "SELECT COUNT(*) FROM servers WHERE secret_enc LIKE '%Right%' "
                                    "OR secret_enc LIKE '%Password-42%'",
                                    0, NULL, &n, &err),
                     0);
    assert_true(n == 0);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(environment_panel_is_listed_and_tests_ok),
        cmocka_unit_test(stored_panels_test_and_keep_their_status),
        cmocka_unit_test(unsaved_fields_can_be_tested),
        cmocka_unit_test(cli_lists_and_tests_servers),
        cmocka_unit_test(delete_follows_the_rules),
        cmocka_unit_test(secrets_appear_nowhere),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
