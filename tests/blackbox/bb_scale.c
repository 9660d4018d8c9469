/*
 * bb_scale.c — issue 15's admin reads over HTTP against the real `lumi serve`
 * (the figures at scale are bench/scale's business, not a test's):
 *   - GET /api/admin/clients?q= and /admin/clients?q= find clients by a
 *     prefix or substring of e-mail, name or company, and page with the
 *     usual cursor; a bad q answers 400 naming it;
 *   - client search is for admins only: a client's session, a client's
 *     cookie in the admin cookie and no credentials get nothing;
 *   - GET /api/admin/audit-logs?q= and /admin/audit-logs?q= find rows by
 *     text through the index;
 *   - issue 17, finding 10: with two invoices near INT64_MAX in the table (an
 *     old database), /admin answers 200 and says the sum is too large,
 *     instead of 500; the API refuses such amounts (bb_invoices).
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

#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"

#define SECRET_KEY "5d1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "scale-admin@example.com"
#define ADMIN_PASSWORD "Quiet-Harbour-Lantern-77"
#define CLIENT_PASSWORD "Marble-Otter-93"

static char g_admin[200];  /* "lumi_session=…" */
static char g_client[200]; /* "lumi_client_session=…" */

static int64_t add_client(const char *email, const char *first, const char *last,
                          const char *company)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"first_name\":\"%s\",\"last_name\":\"%s\",\"company\":\"%s\","
             "\"password\":\"%s\"}",
             email, first, last, company, CLIENT_PASSWORD);
    return bb_create_ok("/api/admin/clients", body);
}

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "ci");
    bb_serve();
    add_client("ada@lovelace.example", "Ada", "Lovelace", "Analytical Engines");
    add_client("grace@navy.example", "Grace", "Hopper", "COBOL Works");
    for (int i = 0; i < 5; i++) {
        char email[64];
        snprintf(email, sizeof email, "pager%d@many.example", i);
        add_client(email, "Pat", "Pager", "Many Pages Ltd");
    }
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, g_admin, sizeof g_admin);
    if (browse_login(bb_base_url(), "client", "grace@navy.example", CLIENT_PASSWORD, g_client,
                     sizeof g_client) != 303)
        fail_msg("client login failed");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish() == 0 ? 0 : -1;
}

static struct http_result get(const char *path, const char *cookie)
{
    return browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
}

/* The e-mails of an API list answer's data, comma-separated. */
static void emails_of(const json_t *answer, char *out, size_t sz)
{
    size_t i;
    json_t *row;
    out[0] = '\0';
    json_array_foreach(json_object_get(answer, "data"), i, row)
    {
        size_t len = strlen(out);
        snprintf(out + len, sz - len, "%s%s", len ? "," : "", bb_str(row, "email"));
    }
}

static void api_client_search_finds_prefix_and_substring(void **state)
{
    (void)state;
    char emails[512];
    json_t *a = bb_json("GET", NULL, 200, "/api/admin/clients?q=ada%%40");
    emails_of(a, emails, sizeof emails);
    assert_string_equal(emails, "ada@lovelace.example");
    json_decref(a);
    a = bb_json("GET", NULL, 200, "/api/admin/clients?q=HOPP");
    emails_of(a, emails, sizeof emails);
    assert_string_equal(emails, "grace@navy.example");
    json_decref(a);
    a = bb_json("GET", NULL, 200, "/api/admin/clients?q=cal%%20eng");
    emails_of(a, emails, sizeof emails);
    assert_string_equal(emails, "ada@lovelace.example");
    json_decref(a);
    /* paged with the usual cursor: 5 matches in pages of 2 */
    a = bb_json("GET", NULL, 200, "/api/admin/clients?q=many%%20pages&limit=2");
    emails_of(a, emails, sizeof emails);
    assert_string_equal(emails, "pager0@many.example,pager1@many.example");
    const char *next = bb_str(a, "next_cursor");
    assert_non_null(next);
    json_t *b =
        bb_json("GET", NULL, 200, "/api/admin/clients?q=many%%20pages&limit=2&cursor=%s", next);
    emails_of(b, emails, sizeof emails);
    assert_string_equal(emails, "pager2@many.example,pager3@many.example");
    json_decref(a);
    json_decref(b);
    /* without q, the plain list as before */
    a = bb_json("GET", NULL, 200, "/api/admin/clients?limit=3");
    assert_int_equal(json_array_size(json_object_get(a, "data")), 3);
    json_decref(a);
    /* a q too long is refused, naming it */
    char path[400] = "/api/admin/clients?q=";
    memset(path + strlen(path), 'x', 250);
    struct http_result r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "q must be"));
    http_result_free(&r);
}

static void admin_clients_page_searches(void **state)
{
    (void)state;
    struct http_result r = get("/admin/clients?q=lovelace", g_admin);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "ada@lovelace.example"));
    assert_null(strstr(buf_cstr(&r.body), "grace@navy.example"));
    assert_non_null(strstr(buf_cstr(&r.body), "value=\"lovelace\""));
    http_result_free(&r);
    r = get("/admin/clients?q=nobody-matches-this", g_admin);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "No client matches"));
    http_result_free(&r);
}

static void client_search_is_for_admins_only(void **state)
{
    (void)state;
    char url[256], cookie[240];
    struct http_result r;
    /* no credentials */
    snprintf(url, sizeof url, "%s/api/admin/clients?q=ada", bb_base_url());
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    assert_null(strstr(buf_cstr(&r.body), "lovelace"));
    http_result_free(&r);
    /* a client's session, as it is and in the admin cookie */
    r = get("/api/admin/clients?q=ada", g_client);
    assert_true(r.status == 401 || r.status == 403);
    assert_null(strstr(buf_cstr(&r.body), "lovelace"));
    http_result_free(&r);
    snprintf(cookie, sizeof cookie, "lumi_session=%s", strchr(g_client, '=') + 1);
    r = get("/admin/clients?q=ada", cookie);
    assert_int_equal(r.status, 303);
    assert_null(strstr(buf_cstr(&r.body), "lovelace"));
    http_result_free(&r);
    r = get("/api/admin/clients?q=ada", cookie);
    assert_true(r.status == 401 || r.status == 403);
    http_result_free(&r);
}

static void audit_search_over_http(void **state)
{
    (void)state;
    json_t *a = bb_json("GET", NULL, 200, "/api/admin/audit-logs?q=navy.exam");
    size_t n = json_array_size(json_object_get(a, "data"));
    assert_true(n >= 1);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(a, "data"), i, row)
    {
        char *d = json_dumps(row, 0);
        assert_non_null(strstr(d, "navy.exam"));
        free(d);
    }
    json_decref(a);
    struct http_result r = get("/admin/audit-logs?q=lovelace.ex", g_admin);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "CLIENT_CREATED"));
    http_result_free(&r);
}

/* Issue 17, finding 10: before, SUM overflowed in the dashboard's query and /admin answered 500. */
static void dashboard_with_sums_past_64_bits_answers_200(void **state)
{
    (void)state;
    struct lumi_err err;
    static const char insert[] =
        "INSERT INTO invoices (number, client_id, status, currency, subtotal, total,"
        " amount_paid, due_date, created_at, updated_at) SELECT 'BIG-' || id, id, 'unpaid',"
        " 'usd', 9223372036854775000, 9223372036854775000, 0, '2026-01-0' || (id % 9 + 1),"
        " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM users WHERE role = 'client'"
        " AND email IN ('ada@lovelace.example', 'grace@navy.example')";
    if (db_exec(bb_db(), insert, &err) != 0)
        fail_msg("%s", err.msg);
    struct http_result r = get("/admin", g_admin);
    if (r.status != 200)
        fail_msg("/admin answered %ld: %s", r.status, buf_cstr(&r.body));
    assert_non_null(strstr(buf_cstr(&r.body), "too large to add up"));
    http_result_free(&r);
    if (db_exec(bb_db(), "DELETE FROM invoices WHERE number LIKE 'BIG-%'", &err) != 0)
        fail_msg("%s", err.msg);
    r = get("/admin", g_admin);
    assert_int_equal(r.status, 200);
    assert_null(strstr(buf_cstr(&r.body), "too large to add up"));
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_client_search_finds_prefix_and_substring),
        cmocka_unit_test(admin_clients_page_searches),
        cmocka_unit_test(client_search_is_for_admins_only),
        cmocka_unit_test(audit_search_over_http),
        cmocka_unit_test(dashboard_with_sums_past_64_bits_answers_200),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
