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
 *      the version, engine and queue depths; anonymous callers get no
 *      database text;
 *   7. an admin setting a client's password ends the client's sessions;
 *      sessions end after LUMI_SESSION_IDLE_S without use, and use moves
 *      last_seen_at on;
 *   8. common and whitespace-only passwords are refused on every path that
 *      sets one; admins need 10 characters, clients keep 8.
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
#include "core/utc.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
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

/* Logs in through the JSON API of area ("admin" or "client"); cookie gets "name=value". */
static long api_login(const char *area, const char *email, const char *password, char *cookie,
                      size_t sz)
{
    char url[256], body[512];
    snprintf(url, sizeof url, "%s/api/%s/login", bb_base_url(), area);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct http_result r;
    if (http_request("POST", url, h, body, &r) != 0)
        fail_msg("login: no answer");
    long st = r.status;
    char *sc = http_header(&r, "Set-Cookie");
    cookie[0] = '\0';
    if (sc != NULL) {
        snprintf(cookie, sz, "%.*s", (int)strcspn(sc, ";"), sc);
        free(sc);
    }
    http_result_free(&r);
    return st;
}

static long get_with_cookie(const char *path, const char *cookie)
{
    char url[256], ch[300];
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    snprintf(ch, sizeof ch, "Cookie: %s", cookie);
    const char *h[] = {ch, NULL};
    struct http_result r;
    if (http_request("GET", url, h, NULL, &r) != 0)
        fail_msg("GET %s: no answer", path);
    long st = r.status;
    http_result_free(&r);
    return st;
}

static void idle_sessions_end_and_use_keeps_them(void **state)
{
    (void)state;
    char cookie[200];
    sql("DELETE FROM rate_events");
    assert_int_equal(api_login("admin", ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie), 200);
    assert_int_equal(get_with_cookie("/api/admin/me", cookie), 200);
    /* Used five minutes ago: still good, and the use is noted. */
    struct lumi_err err;
    char five_ago[UTC_ISO_LEN], three_hours_ago[UTC_ISO_LEN], q[256];
    utc_format(utc_now() - 300, five_ago);
    utc_format(utc_now() - 3 * 3600, three_hours_ago);
    snprintf(q, sizeof q, "UPDATE sessions SET last_seen_at = '%s'", five_ago);
    sql(q);
    assert_int_equal(get_with_cookie("/api/admin/me", cookie), 200);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM sessions WHERE last_seen_at > '%s'", five_ago),
                     1);
    /* Unused for three hours (the default idle limit is two): over. */
    snprintf(q, sizeof q, "UPDATE sessions SET last_seen_at = '%s'", three_hours_ago);
    sql(q);
    assert_int_equal(get_with_cookie("/api/admin/me", cookie), 401);
    (void)err;
}

static void admin_setting_a_password_ends_the_clients_sessions(void **state)
{
    (void)state;
    char cookie[200];
    sql("DELETE FROM rate_events");
    int64_t id = bb_create_ok("/api/admin/clients",
                              "{\"email\":\"kept-out@example.com\",\"password\":\"Fjord-Pebble-55\"}");
    assert_int_equal(api_login("client", "kept-out@example.com", "Fjord-Pebble-55", cookie,
                               sizeof cookie),
                     200);
    assert_int_equal(get_with_cookie("/api/client/profile", cookie), 200);
    json_t *c = bb_json("PATCH", "{\"password\":\"Glacier-Walnut-66\"}", 200,
                        "/api/admin/clients/%lld", (long long)id);
    json_decref(c);
    assert_int_equal(get_with_cookie("/api/client/profile", cookie), 401);
    assert_int_equal(api_login("client", "kept-out@example.com", "Glacier-Walnut-66", cookie,
                               sizeof cookie),
                     200);
}

/* `lumi admin create EMAIL` with password on stdin: answers the exit status. */
static int admin_create(const char *email, const char *password)
{
    struct lumi_run_result r;
    const char *argv[] = {"admin", "create", email, NULL};
    char in[256];
    snprintf(in, sizeof in, "%s\n", password);
    if (lumi_run(argv, bb_env(), in, &r) != 0)
        fail_msg("lumi admin create did not run");
    int st = r.exit_code;
    lumi_run_result_free(&r);
    return st;
}

static void weak_passwords_are_refused_everywhere(void **state)
{
    (void)state;
    /* Admins: 10 characters, not common, not blank. */
    assert_int_not_equal(admin_create("weak1@example.com", "1234567890"), 0);
    assert_int_not_equal(admin_create("weak2@example.com", "Short-p9x"), 0);
    assert_int_not_equal(admin_create("weak3@example.com", "            "), 0);
    assert_int_equal(admin_create("strong@example.com", "Quartz-Meadow-Lamp-3"), 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email LIKE 'weak%%'"), 0);

    /* Clients made by an admin: 8 characters still do, common ones (any case) do not. */
    struct http_result r =
        bb_api("POST", "/api/admin/clients", "{\"email\":\"w1@example.com\",\"password\":\"PASSWORD1\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "'password'"));
    assert_non_null(strstr(buf_cstr(&r.body), "common"));
    http_result_free(&r);
    r = bb_api("POST", "/api/admin/clients", "{\"email\":\"w2@example.com\",\"password\":\"         \"}");
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    bb_create_ok("/api/admin/clients", "{\"email\":\"w3@example.com\",\"password\":\"qz8!kv2m\"}");

    /* A sign-up with a common password. */
    char url[256];
    snprintf(url, sizeof url, "%s/api/client/signup", bb_base_url());
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(http_request("POST", url, h,
                                  "{\"email\":\"w4@example.com\",\"password\":\"baseball\","
                                  "\"first_name\":\"W\",\"last_name\":\"F\",\"country\":\"US\"}",
                                  &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "common"));
    http_result_free(&r);

    /* A signed-in client's own change. */
    char cookie[200], ch[300], csrf_h[200];
    sql("DELETE FROM rate_events");
    snprintf(url, sizeof url, "%s/api/client/login", bb_base_url());
    struct http_result l;
    assert_int_equal(http_request("POST", url, h,
                                  "{\"email\":\"w3@example.com\",\"password\":\"qz8!kv2m\"}", &l),
                     0);
    assert_int_equal(l.status, 200);
    char *sc = http_header(&l, "Set-Cookie");
    snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(sc, ";"), sc);
    free(sc);
    snprintf(csrf_h, sizeof csrf_h, "X-CSRF-Token: %s",
             json_string_value(json_object_get(l.json, "csrf_token")));
    http_result_free(&l);
    snprintf(ch, sizeof ch, "Cookie: %s", cookie);
    const char *hc[] = {"Content-Type: application/json", ch, csrf_h, NULL};
    snprintf(url, sizeof url, "%s/api/client/password", bb_base_url());
    assert_int_equal(http_request("POST", url, hc,
                                  "{\"current_password\":\"qz8!kv2m\",\"new_password\":\"sunshine\"}",
                                  &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "'new_password'"));
    http_result_free(&r);
}

/* `lumi admin password EMAIL` with the password on stdin: answers the exit status. */
static int admin_password(const char *email, const char *password)
{
    struct lumi_run_result r;
    const char *argv[] = {"admin", "password", email, NULL};
    char in[256];
    snprintf(in, sizeof in, "%s\n", password);
    if (lumi_run(argv, bb_env(), in, &r) != 0)
        fail_msg("lumi admin password did not run");
    int st = r.exit_code;
    lumi_run_result_free(&r);
    return st;
}

static void admin_password_command_ends_the_sessions(void **state)
{
    (void)state;
    char cookie[200];
    sql("DELETE FROM rate_events");
    assert_int_equal(admin_create("second@example.com", "Copper-Kettle-Ridge-8"), 0);
    assert_int_equal(api_login("admin", "second@example.com", "Copper-Kettle-Ridge-8", cookie,
                               sizeof cookie),
                     200);
    assert_int_equal(get_with_cookie("/api/admin/me", cookie), 200);
    assert_int_not_equal(admin_password("second@example.com", "1q2w3e4r5t"), 0);
    assert_int_equal(get_with_cookie("/api/admin/me", cookie), 200);
    assert_int_equal(admin_password("second@example.com", "Silver-Harbor-Lantern-4"), 0);
    assert_int_equal(get_with_cookie("/api/admin/me", cookie), 401);
    assert_int_equal(api_login("admin", "second@example.com", "Copper-Kettle-Ridge-8", cookie,
                               sizeof cookie),
                     401);
    assert_int_equal(api_login("admin", "second@example.com", "Silver-Harbor-Lantern-4", cookie,
                               sizeof cookie),
                     200);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'PASSWORD_CHANGED' "
                              "AND details LIKE '%%cli%%'"),
                     1);
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
        cmocka_unit_test(idle_sessions_end_and_use_keeps_them),
        cmocka_unit_test(admin_setting_a_password_ends_the_clients_sessions),
        cmocka_unit_test(weak_passwords_are_refused_everywhere),
        cmocka_unit_test(admin_password_command_ends_the_sessions),
        cmocka_unit_test(audit_export_streams_past_the_old_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
