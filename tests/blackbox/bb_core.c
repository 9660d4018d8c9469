/*
 * bb_core.c — the real `lumi` binary, driven over HTTP and its command line:
 * health, authentication (tokens, sessions, CSRF, throttled logins), the
 * error envelope, malformed input changing nothing, the audit API and CLI,
 * configuration errors, graceful shutdown, and secrets kept out of logs.
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "accounts/tokens.h"
#include "core/crypto.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "8f1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "boss@example.com"
#define ADMIN_PASSWORD "correct horse battery"

static int setup(void **state)
{
    bb_init(SECRET_KEY);
    bb_env_add("LUMI_LOGIN_MAX_FAILURES=3");
    bb_env_add("STRIPE_SECRET_KEY=sk_test_51SuperSecretStripeKeyValue");
    bb_admin_create(ADMIN_EMAIL, ADMIN_PASSWORD);
    bb_token("ci");
    bb_serve();
    *state = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* A clean shutdown on SIGTERM exits 0. */
    return bb_finish() == 0 ? 0 : -1;
}

static void url_of(char *out, size_t n, const char *path)
{
    snprintf(out, n, "%s%s", bb_base_url(), path);
}

static struct http_result req(const char *method, const char *path, const char *const *headers,
                              const char *body)
{
    char url[512];
    struct http_result r;
    url_of(url, sizeof url, path);
    if (http_request(method, url, headers, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

static struct http_result admin_req(const char *method, const char *path, const char *body)
{
    const char *h[] = {bb_auth(), NULL};
    return req(method, path, h, body);
}

static int64_t count_rows(const char *table)
{
    char sql[128];
    struct lumi_err err;
    int64_t n = -1;
    struct db *db = testdb_open(bb_db_url());
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    if (db_query_int64(db, sql, 0, NULL, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    db_close(db);
    return n;
}

static void healthz_answers_ok(void **state)
{
    struct http_result r = req("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    char *rid = http_header(&r, "X-Request-Id");
    assert_non_null(rid);
    free(rid);
    http_result_free(&r);
}

static void admin_api_needs_a_token(void **state)
{
    struct http_result r = req("GET", "/api/admin/audit-logs", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(http_error_code(&r), "unauthorized");
    http_result_free(&r);

    const char *bad[] = {"Authorization: Bearer lumi_0000000000", NULL};
    r = req("GET", "/api/admin/audit-logs", bad, NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(http_error_code(&r), "unauthorized");
    http_result_free(&r);

    const char *basic[] = {"Authorization: Basic Ym9zczpwdw==", NULL};
    r = req("GET", "/api/admin/audit-logs", basic, NULL);
    assert_int_equal(r.status, 401);
    http_result_free(&r);

    r = admin_req("GET", "/api/admin/me", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "auth")), "api_token");
    http_result_free(&r);
}

static void client_account_is_forbidden(void **state)
{
    struct lumi_err err;
    struct db *db = testdb_open(bb_db_url());
    struct audit_actor actor = {"system", "test", NULL, NULL, NULL};
    assert_int_equal(accounts_create_user(db, &actor, "client@example.com", "client",
                                          "client password", NULL, &err),
                     0);
    char token[TOKENS_LEN];
    struct tokens_new in = {.name = "client-token", .owner_email = "client@example.com"};
    assert_int_equal(tokens_create(db, &actor, &in, token, NULL, &err), 0);
    db_close(db);

    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = {auth, NULL};
    struct http_result r = req("GET", "/api/admin/audit-logs", h, NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "forbidden");
    http_result_free(&r);

    /* A client's correct password does not open an admin session either. */
    r = req("POST", "/api/admin/login", NULL,
            "{\"email\":\"client@example.com\",\"password\":\"client password\"}");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
}

static void token_is_stored_only_as_hash(void **state)
{
    struct lumi_err err;
    struct db *db = testdb_open(bb_db_url());
    char hash[CRYPTO_SHA256_HEX];
    crypto_sha256_hex(bb_token_value(), strlen(bb_token_value()), hash);
    const char *params[] = {hash};
    int64_t n = 0;
    assert_int_equal(db_query_int64(db, "SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1", 1,
                                    params, &n, &err),
                     0);
    assert_true(n == 1);
    const char *p2[] = {bb_token_value()};
    assert_int_equal(db_query_int64(db,
                                    "SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1 OR "
                                    "prefix = $1 OR name = $1",
                                    1, p2, &n, &err),
                     0);
    assert_true(n == 0);
    db_close(db);
    /* Token creation is audited without the token. */
    struct http_result r = admin_req("GET", "/api/admin/audit-logs?action=TOKEN_CREATED", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.json, "data")) >= 1);
    assert_null(strstr(buf_cstr(&r.body), bb_token_value()));
    http_result_free(&r);
}

static void malformed_json_changes_nothing(void **state)
{
    int64_t before = count_rows("audit_log");
    int64_t users = count_rows("users");
    const char *h[] = {bb_auth(), "Content-Type: application/json", NULL};
    const char *bodies[] = {"{\"email\":", "[1,2]", "{\"email\":\"a@b.c\",\"email\":\"x@y.z\"}",
                            "not json", ""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct http_result r = req("POST", "/api/admin/clients", h, bodies[i]);
        assert_int_equal(r.status, 400);
        assert_string_equal(http_error_code(&r), "invalid_request");
        const char *msg =
            json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
        assert_non_null(msg);
        assert_true(strlen(msg) > 5);
        http_result_free(&r);
    }
    assert_true(count_rows("audit_log") == before);
    assert_true(count_rows("users") == users);
}

static void unknown_route_is_404_with_envelope(void **state)
{
    struct http_result r = admin_req("GET", "/api/admin/nothing-here", NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(http_error_code(&r), "not_found");
    http_result_free(&r);
}

/* Logs in and returns the cookie header line and the CSRF token. */
static long login(const char *password, char *cookie_line, size_t n, char *csrf, size_t m)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", ADMIN_EMAIL, password);
    struct http_result r = req("POST", "/api/admin/login", NULL, body);
    long status = r.status;
    if (status == 200) {
        char *set = http_header(&r, "Set-Cookie");
        assert_non_null(set);
        assert_non_null(strstr(set, "HttpOnly"));
        assert_non_null(strstr(set, "SameSite=Lax"));
        assert_null(strstr(set, "Secure")); /* LUMI_BASE_URL is http here */
        snprintf(cookie_line, n, "Cookie: %.*s", (int)strcspn(set, ";"), set);
        snprintf(csrf, m, "X-CSRF-Token: %s",
                 json_string_value(json_object_get(r.json, "csrf_token")));
        free(set);
    }
    http_result_free(&r);
    return status;
}

static void session_login_and_csrf(void **state)
{
    char cookie[256], csrf[128];
    assert_int_equal(login(ADMIN_PASSWORD, cookie, sizeof cookie, csrf, sizeof csrf), 200);

    const char *read_h[] = {cookie, NULL};
    struct http_result r = req("GET", "/api/admin/me", read_h, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), ADMIN_EMAIL);
    http_result_free(&r);

    /* A write with the cookie but without the CSRF token is refused. */
    int64_t users = count_rows("users");
    const char *no_csrf[] = {cookie, NULL};
    r = req("POST", "/api/admin/clients", no_csrf, "{\"email\":\"csrf@example.com\"}");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    const char *bad_csrf[] = {cookie, "X-CSRF-Token: 0123", NULL};
    r = req("POST", "/api/admin/clients", bad_csrf, "{\"email\":\"csrf@example.com\"}");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_true(count_rows("users") == users);

    const char *logout_h[] = {cookie, csrf, NULL};
    r = req("POST", "/api/admin/logout", logout_h, NULL);
    assert_int_equal(r.status, 204);
    http_result_free(&r);
    r = req("GET", "/api/admin/me", read_h, NULL);
    assert_int_equal(r.status, 401);
    http_result_free(&r);

    r = admin_req("GET", "/api/admin/audit-logs?action=LOGIN", NULL);
    assert_true(json_array_size(json_object_get(r.json, "data")) >= 1);
    json_t *row = json_array_get(json_object_get(r.json, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "ip")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(row, "actor_email")), ADMIN_EMAIL);
    http_result_free(&r);
}

static void failed_logins_are_audited_and_throttled(void **state)
{
    char cookie[256], csrf[128];
    /* LUMI_LOGIN_MAX_FAILURES=3: three wrong passwords, then even the right one waits. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(login("wrong password", cookie, sizeof cookie, csrf, sizeof csrf), 401);
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", ADMIN_EMAIL,
             ADMIN_PASSWORD);
    struct http_result r = req("POST", "/api/admin/login", NULL, body);
    assert_int_equal(r.status, 429);
    char *retry = http_header(&r, "Retry-After");
    assert_non_null(retry);
    free(retry);
    assert_null(http_header(&r, "Set-Cookie"));
    http_result_free(&r);

    r = admin_req("GET", "/api/admin/audit-logs?action=LOGIN_FAILED&actor=" ADMIN_EMAIL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 3);
    /* The password never reaches the audit trail. */
    assert_null(strstr(buf_cstr(&r.body), "wrong password"));
    http_result_free(&r);
}

static void audit_api_filters_pages_and_exports(void **state)
{
    /* Make some rows: three more tokens. */
    for (int i = 0; i < 3; i++) {
        const char *tok[] = {"token", "create", "extra", NULL};
        bb_run_ok(tok, NULL);
    }

    struct http_result r =
        admin_req("GET", "/api/admin/audit-logs?action=TOKEN_CREATED&limit=500", NULL);
    assert_int_equal(r.status, 200);
    size_t total = json_array_size(json_object_get(r.json, "data"));
    assert_true(total >= 4);
    http_result_free(&r);

    /* Walk pages of 2: newest first, no row twice, all rows once, then a null cursor. */
    char path[256] = "/api/admin/audit-logs?action=TOKEN_CREATED&limit=2";
    size_t seen = 0;
    int64_t prev = INT64_MAX;
    for (int pages = 0; pages < 100; pages++) {
        r = admin_req("GET", path, NULL);
        assert_int_equal(r.status, 200);
        json_t *data = json_object_get(r.json, "data");
        assert_true(json_array_size(data) >= 1 && json_array_size(data) <= 2);
        for (size_t i = 0; i < json_array_size(data); i++) {
            json_t *row = json_array_get(data, i);
            int64_t id = json_integer_value(json_object_get(row, "id"));
            assert_true(id < prev);
            prev = id;
            assert_string_equal(json_string_value(json_object_get(row, "action")), "TOKEN_CREATED");
            seen++;
        }
        json_t *cursor = json_object_get(r.json, "next_cursor");
        if (json_is_null(cursor)) {
            http_result_free(&r);
            break;
        }
        snprintf(path, sizeof path, "/api/admin/audit-logs?action=TOKEN_CREATED&limit=2&cursor=%s",
                 json_string_value(cursor));
        http_result_free(&r);
    }
    assert_int_equal(seen, total);

    r = admin_req("GET", "/api/admin/audit-logs?limit=0", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    r = admin_req("GET", "/api/admin/audit-logs?from=yesterday", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    r = admin_req("GET", "/api/admin/audit-logs?from=2000-01-01&to=2000-01-02", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
    http_result_free(&r);

    r = admin_req("GET", "/api/admin/audit-logs?format=csv&action=TOKEN_CREATED", NULL);
    assert_int_equal(r.status, 200);
    int lines = 0;
    for (const char *p = buf_cstr(&r.body); *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, total + 1); /* header + every row */
    http_result_free(&r);
    r = admin_req("GET", "/api/admin/audit-logs?format=jsonl&action=TOKEN_CREATED", NULL);
    assert_int_equal(r.status, 200);
    json_t *row = json_loadb(buf_cstr(&r.body), strcspn(buf_cstr(&r.body), "\n"), 0, NULL);
    assert_non_null(row);
    assert_string_equal(json_string_value(json_object_get(row, "action")), "TOKEN_CREATED");
    json_decref(row);
    http_result_free(&r);
}

static void cli_audit_verify_catches_tampering(void **state)
{
    struct lumi_run_result r;
    const char *verify[] = {"audit", "verify", NULL};
    bb_run_out(verify, NULL, &r);
    assert_non_null(strstr(buf_cstr(&r.out), "intact"));
    lumi_run_result_free(&r);

    const char *exp[] = {"audit", "export", "--format", "csv", NULL};
    bb_run_out(exp, NULL, &r);
    assert_true(strncmp(buf_cstr(&r.out), "id,at,", 6) == 0);
    lumi_run_result_free(&r);

    struct lumi_err err;
    struct db *db = testdb_open(bb_db_url());
    assert_int_equal(
        db_exec(db, "UPDATE audit_log SET actor_email = 'someone@else' WHERE id = 2", &err), 0);
    db_close(db);
    assert_int_equal(lumi_run(verify, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(buf_cstr(&r.err), "broken at #2"));
    lumi_run_result_free(&r);
}

static void cli_usage_and_config_errors(void **state)
{
    struct lumi_run_result r;
    const char *version[] = {"version", NULL};
    bb_run_out(version, NULL, &r);
    assert_true(strncmp(buf_cstr(&r.out), "lumi ", 5) == 0);
    lumi_run_result_free(&r);

    const char *bogus[] = {"frobnicate", NULL};
    assert_int_equal(lumi_run(bogus, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 2);
    lumi_run_result_free(&r);

    const char *help[] = {"token", "create", "--help", NULL};
    bb_run_out(help, NULL, &r);
    assert_non_null(strstr(buf_cstr(&r.out), "usage: lumi token create"));
    lumi_run_result_free(&r);

    /* serve without LUMI_SECRET_KEY: one line naming the variable, exit 1. */
    const char *serve[] = {"serve", "--listen", "127.0.0.1:0", NULL};
    const char *no_key[] = {bb_env_db(), NULL};
    assert_int_equal(lumi_run(serve, no_key, NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(buf_cstr(&r.err), "LUMI_SECRET_KEY"));
    assert_int_equal(strchr(buf_cstr(&r.err), '\n') - buf_cstr(&r.err) + 1,
                     (long)strlen(buf_cstr(&r.err)));
    lumi_run_result_free(&r);

    const char *bad_listen[] = {bb_env_db(), "LUMI_SECRET_KEY=" SECRET_KEY, "LUMI_LISTEN=8080",
                                NULL};
    assert_int_equal(lumi_run(serve, bad_listen, NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(buf_cstr(&r.err), "LUMI_LISTEN"));
    lumi_run_result_free(&r);

    const char *bad_key[] = {bb_env_db(), "LUMI_SECRET_KEY=tooshort", NULL};
    assert_int_equal(lumi_run(serve, bad_key, NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(buf_cstr(&r.err), "LUMI_SECRET_KEY"));
    assert_null(strstr(buf_cstr(&r.err), "tooshort"));
    lumi_run_result_free(&r);
}

static void secrets_never_reach_the_log(void **state)
{
    char *log = lumi_server_log(bb_server());
    assert_non_null(log);
    assert_non_null(strstr(log, "event=http.request"));
    assert_null(strstr(log, SECRET_KEY));
    assert_null(strstr(log, "sk_test_51SuperSecretStripeKeyValue"));
    assert_null(strstr(log, bb_token_value()));
    assert_null(strstr(log, ADMIN_PASSWORD));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthz_answers_ok),
        cmocka_unit_test(admin_api_needs_a_token),
        cmocka_unit_test(client_account_is_forbidden),
        cmocka_unit_test(token_is_stored_only_as_hash),
        cmocka_unit_test(malformed_json_changes_nothing),
        cmocka_unit_test(unknown_route_is_404_with_envelope),
        cmocka_unit_test(session_login_and_csrf),
        cmocka_unit_test(failed_logins_are_audited_and_throttled),
        cmocka_unit_test(audit_api_filters_pages_and_exports),
        cmocka_unit_test(cli_audit_verify_catches_tampering),
        cmocka_unit_test(cli_usage_and_config_errors),
        cmocka_unit_test(secrets_never_reach_the_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
