/*
 * bb_security.c — the findings of the security probe (issue 17, part 2),
 * each as the probe saw it, against the real `lumi serve`:
 *   1. a User-Agent that is not UTF-8 neither breaks the audit write nor the
 *      login throttle: failures are counted and throttled (429), the
 *      LOGIN_FAILED row holds U+FFFD for the bad bytes;
 *   3. header text is capped in audit rows; 2,000 throttled logins add a
 *      handful of rows; the audit export streams past the old 64 MiB cap;
 *  11. conflicting Content-Length headers answer 400 (raw socket);
 *  12. /healthz says only {status}; /api/admin/status (authenticated) has
 *      the version, engine and queue depths.
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/testdb.h"

#define SECRET_KEY "4c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "guard@example.com"
#define ADMIN_PASSWORD "Sturdy-Lantern-Orchard-42"
#define BAD_UA "Mozilla/5.0 \xff\xfe\xc3( probe"

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    bb_env_add("LUMI_LOGIN_MAX_FAILURES=3");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "ci");
    bb_serve();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish() == 0 ? 0 : -1;
}

static void sql(const char *q)
{
    struct lumi_err err;
    if (db_exec(bb_db(), q, &err) != 0)
        fail_msg("%s: %s", q, err.msg);
}

/* A login POST with this User-Agent; answers the status. */
static long login_with_ua(const char *email, const char *password, const char *ua)
{
    char url[256], body[512], uah[40000];
    snprintf(url, sizeof url, "%s/api/admin/login", bb_base_url());
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    snprintf(uah, sizeof uah, "User-Agent: %s", ua);
    const char *h[] = {uah, "Content-Type: application/json", NULL};
    struct http_result r;
    if (http_request("POST", url, h, body, &r) != 0)
        fail_msg("login: no answer");
    long st = r.status;
    http_result_free(&r);
    return st;
}

static void bad_utf8_user_agent_is_counted_and_throttled(void **state)
{
    (void)state;
    sql("DELETE FROM rate_events");
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_with_ua(ADMIN_EMAIL, "not the password", BAD_UA), 401);
    /* The throttle holds even for the right password, whatever the header. */
    assert_int_equal(login_with_ua(ADMIN_EMAIL, ADMIN_PASSWORD, BAD_UA), 429);
    assert_int_equal(login_with_ua(ADMIN_EMAIL, ADMIN_PASSWORD, "curl/8"), 429);
    /* The rows are there, the bad bytes replaced by U+FFFD. */
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND "
                              "actor_email = '%s' AND user_agent = '%s'",
                              ADMIN_EMAIL,
                              "Mozilla/5.0 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd( probe"),
                     3);
    sql("DELETE FROM rate_events");
}

static void stored_header_text_is_capped(void **state)
{
    (void)state;
    char *ua = malloc(30001);
    memset(ua, 'A', 30000);
    ua[30000] = '\0';
    ua[511] = '\xc3'; /* a two-byte character across the cap */
    ua[512] = '\xa9';
    sql("DELETE FROM rate_events");
    assert_int_equal(login_with_ua("nobody-here@example.com", "wrong-password", ua), 401);
    free(ua);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND "
                              "actor_email = 'nobody-here@example.com' AND LENGTH(user_agent) "
                              "BETWEEN 500 AND 512"),
                     1);
    sql("DELETE FROM rate_events");
}

static void throttled_logins_are_counted_not_logged_one_by_one(void **state)
{
    (void)state;
    sql("DELETE FROM rate_events");
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_with_ua(ADMIN_EMAIL, "still not it", "probe"), 401);
    int64_t before = bb_count("SELECT COUNT(*) FROM audit_log");
    for (int i = 0; i < 2000; i++)
        if (login_with_ua(ADMIN_EMAIL, "guess", "probe") != 429)
            fail_msg("attempt %d was not throttled", i);
    int64_t added = bb_count("SELECT COUNT(*) FROM audit_log") - before;
    assert_true(added >= 1);
    assert_true(added <= 5);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_THROTTLED' "
                              "AND id > %lld",
                              (long long)before),
                     1);
    /* A later window's first row reports how many were only counted. */
    sql("UPDATE rate_events SET at = '2001-01-01T00:00:00Z' WHERE kind = 'login_throttled_row'");
    sql("UPDATE rate_events SET at = '2001-01-01T00:00:01Z' WHERE kind = 'login_throttled'");
    assert_int_equal(login_with_ua(ADMIN_EMAIL, "guess", "probe"), 429);
    struct http_result r = bb_api("GET", "/api/admin/audit-logs?action=LOGIN_THROTTLED&limit=1",
                                  NULL);
    json_t *row = json_array_get(json_object_get(r.json, "data"), 0);
    json_t *details = json_object_get(row, "details");
    assert_int_equal(json_integer_value(json_object_get(details, "throttled_since_last_row")),
                     1999);
    http_result_free(&r);
    sql("DELETE FROM rate_events");
}

/* Appends n rows of about size bytes each straight into the chain (as the bench seeding does). */
static void seed_big_rows(int n, size_t size)
{
    struct lumi_err err;
    struct db *db = bb_db();
    char *blob = malloc(size + 32);
    memcpy(blob, "{\"blob\":\"", 9);
    memset(blob + 9, 'x', size);
    memcpy(blob + 9 + size, "\"}", 3);
    for (int i = 0; i < n; i++) {
        int64_t tip = 0;
        char prev[CRYPTO_SHA256_HEX] = "", hash[CRYPTO_SHA256_HEX], idt[24];
        if (db_query_int64(db, "SELECT COALESCE(MAX(id), 0) FROM audit_log", 0, NULL, &tip,
                           &err) != 0)
            fail_msg("tip: %s", err.msg);
        snprintf(idt, sizeof idt, "%lld", (long long)tip);
        const char *p[] = {idt};
        struct db_stmt *st = db_prepare(db, "SELECT hash FROM audit_log WHERE id = CAST($1 AS BIGINT)", &err);
        db_bind_text(st, 1, idt);
        if (db_step(st, &err) == DB_ROW)
            snprintf(prev, sizeof prev, "%s", db_col_text(st, 0));
        db_finalize(st);
        (void)p;
        struct audit_row r = {.id = tip + 1, .at = "2026-01-01T00:00:00Z", .actor_type = "system",
                              .actor_id = "seed", .action = "SEEDED", .details = blob,
                              .prev_hash = prev};
        assert_int_equal(audit_row_hash(&r, hash), 0);
        st = db_prepare(db,
                        "INSERT INTO audit_log (id, at, actor_type, actor_id, action, details, "
                        "prev_hash, hash) VALUES ($1, $2, 'system', 'seed', 'SEEDED', $3, $4, $5)",
                        &err);
        db_bind_int64(st, 1, r.id);
        db_bind_text(st, 2, r.at);
        db_bind_text(st, 3, blob);
        db_bind_text(st, 4, prev);
        db_bind_text(st, 5, hash);
        if (db_step(st, &err) < 0)
            fail_msg("seed: %s", err.msg);
        db_finalize(st);
    }
    free(blob);
}

static void audit_export_streams_past_the_old_cap(void **state)
{
    (void)state;
    seed_big_rows(70, 1000000); /* ~70 MB of details: more than the old 64 MiB answer cap */
    struct http_result r = bb_api("GET", "/api/admin/audit-logs?format=jsonl&action=SEEDED", NULL);
    assert_int_equal(r.status, 200);
    assert_true(r.body.len > (64u << 20));
    size_t lines = 0;
    for (size_t i = 0; i < r.body.len; i++)
        lines += r.body.data[i] == '\n';
    assert_int_equal(lines, 70);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/audit-logs?format=csv&action=SEEDED", NULL);
    assert_int_equal(r.status, 200);
    assert_true(r.body.len > (64u << 20));
    assert_true(strncmp(r.body.data, "id,at,", 6) == 0);
    http_result_free(&r);
    /* The chain still verifies with the seeded rows. */
    struct audit_verify_result v;
    struct lumi_err err;
    assert_int_equal(audit_verify(bb_db(), &v, &err), 0);
    assert_int_equal(v.broken_id, 0);
}

/* Sends raw bytes to the server and answers the status code of the reply (0 when none). */
static int raw_status(const char *request)
{
    const char *colon = strrchr(bb_base_url(), ':');
    long port = strtol(colon + 1, NULL, 10);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect failed");
    if (write(fd, request, strlen(request)) < 0)
        fail_msg("write failed");
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

static void conflicting_content_length_is_refused(void **state)
{
    (void)state;
    char req[1024];
    const char *body = "{\"email\":\"a@example.com\",\"password\":\"x\"}";
    snprintf(req, sizeof req,
             "POST /api/admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nContent-Length: 5\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    assert_int_equal(raw_status(req), 400);
    /* One header is fine. */
    snprintf(req, sizeof req,
             "POST /api/admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    assert_int_equal(raw_status(req), 401);
}

static void healthz_is_terse_and_status_needs_login(void **state)
{
    (void)state;
    char url[256];
    struct http_result r;
    snprintf(url, sizeof url, "%s/healthz", bb_base_url());
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    assert_int_equal(json_object_size(r.json), 1);
    http_result_free(&r);

    snprintf(url, sizeof url, "%s/api/admin/status", bb_base_url());
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);

    json_t *s = bb_json("GET", NULL, 200, "/api/admin/status");
    assert_non_null(json_string_value(json_object_get(s, "version")));
    const char *engine = json_string_value(json_object_get(s, "engine"));
    assert_non_null(engine);
    assert_true(strcmp(engine, "sqlite") == 0 || strcmp(engine, "postgres") == 0);
    assert_true(json_is_object(json_object_get(json_object_get(s, "queues"), "jobs")));
    assert_true(json_is_object(json_object_get(json_object_get(s, "queues"), "outbox")));
    json_decref(s);
}

/* A database failure seen by an anonymous caller: status and request id, no SQLite text. */
static void anonymous_errors_carry_no_database_text(void **state)
{
    (void)state;
    if (strncmp(bb_db_url(), "sqlite", 6) != 0)
        skip(); /* PostgreSQL waits for locks without a timeout: no busy error to provoke */
    sql("DELETE FROM rate_events");
    sql("BEGIN EXCLUSIVE");
    char url[256];
    struct http_result r;
    snprintf(url, sizeof url, "%s/api/admin/login", bb_base_url());
    const char *h[] = {"Content-Type: application/json", NULL};
    int rc = http_request("POST", url, h,
                          "{\"email\":\"" ADMIN_EMAIL "\",\"password\":\"wrong-one-here\"}", &r);
    sql("ROLLBACK");
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 503);
    assert_null(strstr(buf_cstr(&r.body), "locked"));
    char *rid = http_header(&r, "X-Request-Id");
    assert_non_null(rid);
    assert_non_null(strstr(buf_cstr(&r.body), rid));
    free(rid);
    http_result_free(&r);
    sql("DELETE FROM rate_events");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_utf8_user_agent_is_counted_and_throttled),
        cmocka_unit_test(stored_header_text_is_capped),
        cmocka_unit_test(throttled_logins_are_counted_not_logged_one_by_one),
        cmocka_unit_test(conflicting_content_length_is_refused),
        cmocka_unit_test(healthz_is_terse_and_status_needs_login),
        cmocka_unit_test(anonymous_errors_carry_no_database_text),
        cmocka_unit_test(audit_export_streams_past_the_old_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
