/*
 * bb_tokens.c — API tokens can be revoked, expire and note their last use
 * (issue 17, finding 5), against the real `lumi serve`:
 *   - a token revoked through the API, the CLI or the page answers 401 on
 *     its very next request, with a message saying it was revoked; audited;
 *   - an expired token answers 401 saying so; `--expires DAYS` sets the date;
 *   - last_used_at is set by a request and not rewritten by the next ones
 *     within a minute, but moved on after that;
 *   - the list (API and page) shows name, owner, role, dates and status,
 *     never the token; a new token is shown once, on the page that made it.
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/utc.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"

#define SECRET_KEY "6e1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "keeper@example.com"
#define PASSWORD "Lantern-Harbor-Quill-61"

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, PASSWORD, "ci");
    bb_serve();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish() == 0 ? 0 : -1;
}

/* GET /api/admin/me with token; answers the result (caller frees). */
static struct http_result me_with(const char *token)
{
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    return http_api(bb_base_url(), auth, "GET", "/api/admin/me", NULL);
}

static void expect_status(const char *token, long status, const char *message_part)
{
    struct http_result r = me_with(token);
    if (r.status != status)
        fail_msg("token answered %ld, not %ld: %s", r.status, status, buf_cstr(&r.body));
    if (message_part != NULL && strstr(buf_cstr(&r.body), message_part) == NULL)
        fail_msg("the answer does not say '%s': %s", message_part, buf_cstr(&r.body));
    http_result_free(&r);
}

/* A token made through the API: its id, and the token itself into out. */
static int64_t api_token(const char *body, char *out, size_t sz)
{
    json_t *made = bb_json("POST", body, 201, "/api/admin/tokens");
    str_copy(out, bb_str(made, "token"), sz);
    int64_t id = bb_int(made, "id");
    assert_true(str_starts_with(out, "lumi_"));
    assert_string_equal(bb_str(made, "status"), "active");
    json_decref(made);
    return id;
}

/* `lumi token create NAME args…`: the printed token into out. */
static void cli_token(const char *const *argv, char *out, size_t sz)
{
    struct lumi_run_result r;
    bb_run_out(argv, NULL, &r);
    snprintf(out, sz, "%.*s", (int)strcspn(buf_cstr(&r.out), "\n"), buf_cstr(&r.out));
    lumi_run_result_free(&r);
}

static void a_revoked_token_stops_working_at_once(void **state)
{
    (void)state;
    char token[80];
    int64_t id = api_token("{\"name\":\"export\"}", token, sizeof token);
    expect_status(token, 200, NULL);
    json_t *revoked = bb_json("POST", NULL, 200, "/api/admin/tokens/%lld/revoke", (long long)id);
    assert_string_equal(bb_str(revoked, "status"), "revoked");
    json_decref(revoked);
    expect_status(token, 401, "revoked");
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'TOKEN_REVOKED'"
                              " AND entity_id = '%lld'",
                              (long long)id),
                     1);
    /* Again: 409, not a second row. */
    json_decref(bb_json("POST", NULL, 409, "/api/admin/tokens/%lld/revoke", (long long)id));

    /* The CLI's `lumi token revoke ID` and DELETE do the same. */
    const char *make[] = {"token", "create", "cron-job", NULL};
    cli_token(make, token, sizeof token);
    expect_status(token, 200, NULL);
    int64_t cli_id = bb_count("SELECT MAX(id) FROM api_tokens");
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", (long long)cli_id);
    const char *revoke[] = {"token", "revoke", idtext, NULL};
    bb_run_ok(revoke, NULL);
    expect_status(token, 401, "revoked");

    id = api_token("{\"name\":\"third\"}", token, sizeof token);
    json_decref(bb_json("DELETE", NULL, 200, "/api/admin/tokens/%lld", (long long)id));
    expect_status(token, 401, "revoked");
    assert_int_equal(bb_audit_count("TOKEN_REVOKED"), 3);
}

static void an_expired_token_is_refused(void **state)
{
    (void)state;
    char token[80];
    const char *make[] = {"token", "create", "trial", "--expires", "30", NULL};
    cli_token(make, token, sizeof token);
    int64_t id = bb_count("SELECT MAX(id) FROM api_tokens");
    /* 30 days from now, give or take the test's own duration. */
    char soon[UTC_ISO_LEN], later[UTC_ISO_LEN];
    utc_format(utc_now() + 30 * 86400 - 120, soon);
    utc_format(utc_now() + 30 * 86400 + 120, later);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM api_tokens WHERE id = %lld AND expires_at > "
                              "'%s' AND expires_at < '%s'",
                              (long long)id, soon, later),
                     1);
    expect_status(token, 200, NULL);

    /* Its time comes (moved into the past rather than waiting 30 days). */
    char past[UTC_ISO_LEN];
    utc_format(utc_now() - 1, past);
    struct lumi_err err;
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE api_tokens SET expires_at = '%s' WHERE id = %lld", past,
             (long long)id);
    assert_int_equal(db_exec(bb_db(), sql, &err), 0);
    expect_status(token, 401, "expired");
    json_t *row = bb_json("GET", NULL, 200, "/api/admin/tokens/%lld", (long long)id);
    assert_string_equal(bb_str(row, "status"), "expired");
    json_decref(row);

    /* Bad expiries are refused naming the field. */
    json_decref(bb_json("POST", "{\"name\":\"x\",\"expires_days\":-1}", 400, "/api/admin/tokens"));
    json_decref(
        bb_json("POST", "{\"name\":\"x\",\"expires_days\":\"9\"}", 400, "/api/admin/tokens"));
    const char *bad[] = {"token", "create", "x", "--expires", "0", NULL};
    struct lumi_run_result r;
    const char *const *env = bb_env();
    assert_int_equal(lumi_run(bad, env, NULL, &r), 0);
    assert_int_equal(r.exit_code, 2);
    lumi_run_result_free(&r);
}

static void set_last_used(int64_t id, int64_t ago_s)
{
    char at[UTC_ISO_LEN], sql[160];
    struct lumi_err err;
    utc_format(utc_now() - ago_s, at);
    snprintf(sql, sizeof sql, "UPDATE api_tokens SET last_used_at = '%s' WHERE id = %lld", at,
             (long long)id);
    assert_int_equal(db_exec(bb_db(), sql, &err), 0);
}

/* last_used_at of token id as text into out ("" when NULL). */
static void last_used(int64_t id, char out[UTC_ISO_LEN + 8])
{
    char sql[128];
    struct lumi_err err;
    snprintf(sql, sizeof sql, "SELECT last_used_at FROM api_tokens WHERE id = %lld", (long long)id);
    struct db_stmt *st = db_prepare(bb_db(), sql, &err);
    assert_non_null(st);
    assert_int_equal(db_step(st, &err), DB_ROW);
    str_copy(out, db_col_text(st, 0) ? db_col_text(st, 0) : "", UTC_ISO_LEN + 8);
    db_finalize(st);
}

static void last_used_at_is_noted_at_most_once_a_minute(void **state)
{
    (void)state;
    char token[80], first[UTC_ISO_LEN + 8], now[UTC_ISO_LEN + 8], before[UTC_ISO_LEN];
    int64_t id = api_token("{\"name\":\"poller\"}", token, sizeof token);
    last_used(id, first);
    assert_string_equal(first, "");

    utc_format(utc_now() - 1, before);
    expect_status(token, 200, NULL);
    last_used(id, first);
    assert_true(strcmp(first, before) >= 0);

    /* Used within the minute: the following requests leave it as it is. */
    set_last_used(id, 30);
    last_used(id, first);
    for (int i = 0; i < 5; i++)
        expect_status(token, 200, NULL);
    last_used(id, now);
    assert_string_equal(now, first);

    /* Older than a minute: the next request moves it on to now. */
    set_last_used(id, 120);
    utc_format(utc_now() - 1, before);
    expect_status(token, 200, NULL);
    last_used(id, now);
    assert_true(strcmp(now, before) >= 0);

    json_t *row = bb_json("GET", NULL, 200, "/api/admin/tokens/%lld", (long long)id);
    assert_string_equal(bb_str(row, "last_used_at"), now);
    json_decref(row);
}

static void the_list_and_the_page_never_show_a_token(void **state)
{
    (void)state;
    char token[80], cookie[256], csrf[80], form[256];
    const char *staff[] = {"admin", "create", "clerk@example.com", "--role", "billing", NULL};
    bb_run_ok(staff, PASSWORD "\n");
    int64_t id = api_token("{\"name\":\"books\",\"user\":\"clerk@example.com\","
                           "\"expires_days\":90}",
                           token, sizeof token);
    struct http_result r = bb_api("GET", "/api/admin/tokens", NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(buf_cstr(&r.body), token));
    assert_null(strstr(buf_cstr(&r.body), "token_hash"));
    json_t *rows = json_object_get(r.json, "data");
    json_t *books = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (bb_int(row, "id") == id)
            books = row;
    }
    assert_non_null(books);
    assert_string_equal(bb_str(books, "owner_email"), "clerk@example.com");
    assert_string_equal(bb_str(books, "role"), "billing");
    assert_non_null(json_string_value(json_object_get(books, "expires_at")));
    http_result_free(&r);

    /* The page: list, create (shown once), revoke. */
    bb_admin_login(ADMIN_EMAIL, PASSWORD, cookie, sizeof cookie);
    browse_csrf(bb_base_url(), cookie, "/admin/tokens", csrf);
    r = browse(bb_base_url(), "GET", "/admin/tokens", cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "books"));
    assert_null(strstr(buf_cstr(&r.body), token));
    http_result_free(&r);

    snprintf(form, sizeof form, "csrf_token=%s&name=page-made&user=%s&expires_days=7", csrf,
             "keeper%40example.com");
    r = browse(bb_base_url(), "POST", "/admin/tokens", cookie, form, NULL);
    assert_int_equal(r.status, 201);
    char shown[80];
    const char *start = strstr(buf_cstr(&r.body), "id=\"new-token\">");
    assert_non_null(start);
    start += strlen("id=\"new-token\">");
    snprintf(shown, sizeof shown, "%.*s", (int)strcspn(start, "<"), start);
    assert_true(str_starts_with(shown, "lumi_"));
    http_result_free(&r);
    expect_status(shown, 200, NULL);
    r = browse(bb_base_url(), "GET", "/admin/tokens", cookie, NULL, NULL);
    assert_null(strstr(buf_cstr(&r.body), shown)); /* once only */
    http_result_free(&r);

    int64_t page_id = bb_count("SELECT id FROM api_tokens WHERE name = 'page-made'");
    char path[64];
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    snprintf(path, sizeof path, "/admin/tokens/%lld/revoke", (long long)page_id);
    r = browse(bb_base_url(), "POST", path, cookie, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    expect_status(shown, 401, "revoked");
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'TOKEN_CREATED'"
                              " AND actor_email = '%s' AND details LIKE '%%page-made%%'",
                              ADMIN_EMAIL),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_revoked_token_stops_working_at_once),
        cmocka_unit_test(an_expired_token_is_refused),
        cmocka_unit_test(last_used_at_is_noted_at_most_once_a_minute),
        cmocka_unit_test(the_list_and_the_page_never_show_a_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
