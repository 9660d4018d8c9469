/*
 * bb_pages.c — the server-rendered admin pages through the real binary, as a
 * browser uses them: login with its own CSRF token and throttled, audited
 * failures; every admin page closed without a session; security headers;
 * form posts refused without the session's CSRF token; a Pterodactyl server
 * added, edited and tested through the forms against the fake panel; stored
 * markup rendered as text; the audit log page with filters, keyset paging,
 * details, exports and the chain line; logout.
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
#include <strings.h>

#include "core/crypto.h"
#include "core/str.h"
#include "fakes/fake_pterodactyl.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "8f1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_PagesTestPteroKey0123456789abcdefABCDEFgh"
#define ADMIN_EMAIL "pages-admin@example.com"
#define ADMIN_PASSWORD "Pages-Admin-Password-1"
#define FORM_TYPE "Content-Type: application/x-www-form-urlencoded"

struct ctx {
    struct fake_ptero *ptero;
    char session[128]; /* lumi_session of the logged-in admin */
    int64_t server_id; /* added through the form */
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_env_add("PTERODACTYL_URL=%s", fake_ptero_url(C->ptero));
    bb_env_add("PTERODACTYL_API_KEY=%s", PTERO_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "pages-test");
    bb_serve();
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

static struct http_result as_admin(const char *method, const char *path, const char *form,
                                   const char *extra)
{
    char cookies[200];
    snprintf(cookies, sizeof cookies, "lumi_session=%s", C->session);
    return browse(bb_base_url(), method, path, cookies, form, extra);
}

/* Follows an answer's redirect with the admin's session and the flash it set. */
static struct http_result follow_admin(const struct http_result *r)
{
    char cookies[200];
    snprintf(cookies, sizeof cookies, "lumi_session=%s", C->session);
    return browse_follow(bb_base_url(), r, cookies);
}

#define set_cookie_line browse_set_cookie_line
#define set_cookie_value browse_set_cookie_value
#define attr_after browse_attr_after
#define count_of browse_count
#define html_unescape_url browse_unescape_url

static void assert_header_contains(const struct http_result *r, const char *name, const char *want)
{
    char *v = http_header(r, name);
    if (v == NULL || strstr(v, want) == NULL)
        fail_msg("header %s is '%s', expected it to contain '%s'", name, v ? v : "(absent)", want);
    free(v);
}

/* GET /admin/login; the login CSRF token from its cookie, checked against the hidden field. */
static void login_form(char token[80])
{
    struct http_result r = browse(bb_base_url(), "GET", "/admin/login", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(set_cookie_value(&r, "lumi_login_csrf", token, 80));
    char field[80];
    assert_true(attr_after(buf_cstr(&r.body), "name=\"login_csrf\" value=\"", field, sizeof field));
    assert_string_equal(field, token);
    http_result_free(&r);
}

/* Posts the login form; answers the response (caller frees). */
static struct http_result post_login_as(const char *email_enc, const char *password,
                                        const char *next, bool with_csrf)
{
    char token[80], cookies[160], form[600];
    login_form(token);
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", token);
    snprintf(form, sizeof form, "%s%s%semail=%s&password=%s&next=%s",
             with_csrf ? "login_csrf=" : "", with_csrf ? token : "", with_csrf ? "&" : "",
             email_enc, password, next);
    return browse(bb_base_url(), "POST", "/admin/login", cookies, form, NULL);
}

static struct http_result post_login(const char *password, const char *next, bool with_csrf)
{
    return post_login_as("pages-admin%40example.com", password, next, with_csrf);
}

/* The session's CSRF token, as the pages put it into every form. */
static void page_csrf(char out[80])
{
    struct http_result r = as_admin("GET", "/admin/servers", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(attr_after(buf_cstr(&r.body), "name=\"csrf_token\" value=\"", out, 80));
    assert_int_equal(strlen(out), 64);
    http_result_free(&r);
}

static int64_t api_server_count(void)
{
    struct http_result r = bb_api("GET", "/api/admin/servers?limit=100", NULL);
    assert_int_equal(r.status, 200);
    int64_t n = (int64_t)json_array_size(json_object_get(r.json, "data"));
    http_result_free(&r);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

static void admin_pages_redirect_to_login_without_a_session(void **state)
{
    static const char *const pages[] = {"/admin",
                                        "/admin/servers",
                                        "/admin/servers/new",
                                        "/admin/servers/new?type=pterodactyl",
                                        "/admin/servers/1/edit",
                                        "/admin/audit-logs",
                                        "/admin/audit-logs/1",
                                        NULL};
    for (size_t i = 0; pages[i] != NULL; i++) {
        for (int bogus = 0; bogus < 2; bogus++) {
            struct http_result r =
                browse(bb_base_url(), "GET", pages[i],
                       bogus ? "lumi_session=not-a-real-session" : NULL, NULL, NULL);
            if (r.status != 303)
                fail_msg("%s answered %ld without a session", pages[i], r.status);
            char *loc = http_header(&r, "Location");
            assert_non_null(loc);
            assert_true(str_starts_with(loc, "/admin/login"));
            free(loc);
            assert_null(strstr(buf_cstr(&r.body), "<table"));
            http_result_free(&r);
        }
    }
    /* Where the admin wanted to go is kept for after the login. */
    struct http_result r = browse(bb_base_url(), "GET", "/admin/audit-logs", NULL, NULL, NULL);
    assert_header_contains(&r, "Location", "/admin/login?next=/admin/audit-logs");
    http_result_free(&r);

    /* A form post without a session changes nothing. */
    int64_t before = api_server_count();
    r = browse(bb_base_url(), "POST", "/admin/servers", NULL,
               "type=pterodactyl&name=x&url=http%3A%2F%2F127.0.0.1%3A1&api_key=ptla_x", NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_int_equal(api_server_count(), before);

    /* The stylesheet and script are public and cacheable. */
    r = browse(bb_base_url(), "GET", "/static/style.css", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_header_contains(&r, "Content-Type", "text/css");
    http_result_free(&r);
    r = browse(bb_base_url(), "GET", "/static/app.js", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "data-confirm"));
    http_result_free(&r);
    r = browse(bb_base_url(), "GET", "/static/..%2Flayout.html", NULL, NULL, NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

static void wrong_password_shows_an_error_and_is_audited(void **state)
{
    struct http_result r = post_login("not-the-password", "", true);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(buf_cstr(&r.body), "Wrong e-mail address or password."));
    /* The e-mail stays in the form, escaped; no session is opened. */
    assert_non_null(strstr(buf_cstr(&r.body), "value=\"pages-admin@example.com\""));
    assert_null(set_cookie_line(&r, "lumi_session"));
    http_result_free(&r);

    r = bb_api("GET", "/api/admin/audit-logs?action=LOGIN_FAILED&actor=" ADMIN_EMAIL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    http_result_free(&r);

    /* The login form's own CSRF token is required, even with the right password. */
    r = post_login(ADMIN_PASSWORD, "", false);
    assert_int_equal(r.status, 403);
    assert_null(set_cookie_line(&r, "lumi_session"));
    http_result_free(&r);
}

static void login_sets_a_safe_cookie_and_pages_carry_security_headers(void **state)
{
    /* next pointing at another site is ignored. */
    struct http_result r = post_login(ADMIN_PASSWORD, "https%3A%2F%2Fevil.example%2Fadmin", true);
    assert_int_equal(r.status, 303);
    char *loc = http_header(&r, "Location");
    assert_string_equal(loc, "/admin");
    free(loc);
    http_result_free(&r);

    static const char *const evil[] = {"%2F%2Fevil.example%2Fadmin", "%2Fadmin.evil.example",
                                       "%2Fadmin%2F%2Fevil.example", "javascript%3Aalert(1)", NULL};
    for (size_t i = 0; evil[i] != NULL; i++) {
        r = post_login(ADMIN_PASSWORD, evil[i], true);
        assert_int_equal(r.status, 303);
        loc = http_header(&r, "Location");
        assert_string_equal(loc, "/admin");
        free(loc);
        http_result_free(&r);
    }

    r = post_login(ADMIN_PASSWORD, "%2Fadmin%2Fservers", true);
    assert_int_equal(r.status, 303);
    assert_header_contains(&r, "Location", "/admin/servers");
    char *line = set_cookie_line(&r, "lumi_session");
    assert_non_null(line);
    assert_non_null(strstr(line, "HttpOnly"));
    assert_non_null(strstr(line, "SameSite=Lax"));
    assert_non_null(strstr(line, "Path=/"));
    free(line);
    assert_true(set_cookie_value(&r, "lumi_session", C->session, sizeof C->session));
    assert_int_equal(strlen(C->session), 64);
    http_result_free(&r);

    r = bb_api("GET", "/api/admin/audit-logs?action=LOGIN&actor=" ADMIN_EMAIL, NULL);
    assert_true(json_array_size(json_object_get(r.json, "data")) >= 2);
    http_result_free(&r);

    static const char *const pages[] = {"/admin", "/admin/servers", "/admin/audit-logs",
                                        "/admin/login", NULL};
    for (size_t i = 0; pages[i] != NULL; i++) {
        r = as_admin("GET", pages[i], NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_header_contains(&r, "Content-Type", "text/html");
        char *csp = http_header(&r, "Content-Security-Policy");
        assert_non_null(csp);
        assert_non_null(strstr(csp, "script-src 'self'"));
        assert_non_null(strstr(csp, "frame-ancestors 'none'"));
        assert_null(strstr(csp, "unsafe-inline"));
        free(csp);
        assert_header_contains(&r, "X-Frame-Options", "DENY");
        assert_header_contains(&r, "Cache-Control", "no-store");
        /* No inline script: the only script is the file. */
        assert_int_equal(count_of(buf_cstr(&r.body), "<script"), 1);
        assert_non_null(strstr(buf_cstr(&r.body), "<script src=\"/static/app.js\""));
        http_result_free(&r);
    }
    r = as_admin("GET", "/admin", NULL, NULL);
    assert_non_null(strstr(buf_cstr(&r.body), ADMIN_EMAIL));
    assert_non_null(strstr(buf_cstr(&r.body), "action=\"/admin/logout\""));
    http_result_free(&r);
}

static void form_posts_need_the_session_csrf_token(void **state)
{
    char csrf[80], form[800];
    page_csrf(csrf);
    int64_t before = api_server_count();
    static const char fields[] = "type=pterodactyl&name=Sneaky&url=http%3A%2F%2F127.0.0.1%3A9"
                                 "&api_key=ptla_abcdefabcdefabcdef&max_accounts=0&active=1";
    struct http_result r = as_admin("POST", "/admin/servers", fields, NULL);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(buf_cstr(&r.body), "CSRF"));
    http_result_free(&r);

    char wrong[80];
    str_copy(wrong, csrf, sizeof wrong);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    snprintf(form, sizeof form, "csrf_token=%s&%s", wrong, fields);
    r = as_admin("POST", "/admin/servers", form, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=&%s", fields);
    r = as_admin("POST", "/admin/servers", form, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(api_server_count(), before);

    /* The header the JSON API takes does not replace the form field. */
    char hdr[120];
    snprintf(hdr, sizeof hdr, "X-CSRF-Token: %s", csrf);
    r = as_admin("POST", "/admin/servers", fields, hdr);
    assert_int_equal(r.status, 403);
    http_result_free(&r);

    /* Logout is a form too: without the token the session stays open. */
    r = as_admin("POST", "/admin/logout", "", NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    r = as_admin("GET", "/admin", NULL, NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(api_server_count(), before);
}

static void pterodactyl_server_added_through_the_form_is_listed_and_tests_ok(void **state)
{
    char csrf[80], form[1200], path[128];
    page_csrf(csrf);
    int64_t before = api_server_count();

    struct http_result r = as_admin("GET", "/admin/servers/new?type=pterodactyl", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(buf_cstr(&r.body), "<input type=\"password\" name=\"api_key\" value=\"\""));
    assert_null(strstr(buf_cstr(&r.body), "name=\"username\""));
    http_result_free(&r);

    /* A validation error keeps what was typed (but never the secret) and stores nothing. */
    snprintf(form, sizeof form,
             "csrf_token=%s&type=pterodactyl&name=Game+Node+1&url=ftp%%3A%%2F%%2Fnope"
             "&api_key=" PTERO_KEY "&max_accounts=5&active=1",
             csrf);
    r = as_admin("POST", "/admin/servers", form, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "flash-error"));
    assert_non_null(strstr(buf_cstr(&r.body), "value=\"Game Node 1\""));
    assert_null(strstr(buf_cstr(&r.body), PTERO_KEY));
    http_result_free(&r);
    snprintf(form, sizeof form,
             "csrf_token=%s&type=pterodactyl&name=Game+Node+1&url=http%%3A%%2F%%2F127.0.0.1"
             "&api_key=" PTERO_KEY "&max_accounts=lots&active=1",
             csrf);
    r = as_admin("POST", "/admin/servers", form, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "max_accounts"));
    http_result_free(&r);
    assert_int_equal(api_server_count(), before);

    char url_enc[200];
    const char *fu = fake_ptero_url(C->ptero); /* http://127.0.0.1:PORT */
    snprintf(url_enc, sizeof url_enc, "http%%3A%%2F%%2F%s", fu + 7);
    snprintf(form, sizeof form,
             "csrf_token=%s&type=pterodactyl&name=Game+Node+1&url=%s&api_key=" PTERO_KEY
             "&max_accounts=5&active=1",
             csrf, url_enc);
    r = as_admin("POST", "/admin/servers", form, NULL);
    assert_int_equal(r.status, 303);
    assert_header_contains(&r, "Location", "/admin/servers");
    struct http_result after = follow_admin(&r);
    assert_non_null(strstr(buf_cstr(&after.body), "<div class=\"flash flash-ok\">"));
    http_result_free(&after);
    http_result_free(&r);
    assert_int_equal(api_server_count(), before + 1);

    /* The API sees it exactly as entered, the key only masked. */
    r = bb_api("GET", "/api/admin/servers?limit=100", NULL);
    json_t *s, *data = json_object_get(r.json, "data");
    size_t i;
    json_array_foreach(data, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), "Game Node 1") == 0) {
            C->server_id = json_integer_value(json_object_get(s, "id"));
            assert_string_equal(json_string_value(json_object_get(s, "url")), fu);
            assert_string_equal(json_string_value(json_object_get(s, "api_key")), "********");
            assert_int_equal(json_integer_value(json_object_get(s, "max_accounts")), 5);
            assert_true(json_is_true(json_object_get(s, "active")));
            assert_string_equal(json_string_value(json_object_get(s, "source")), "database");
        }
    }
    http_result_free(&r);
    assert_true(C->server_id > 0);

    r = as_admin("GET", "/admin/servers", NULL, NULL);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "<td class=\"name\">Game Node 1</td>"));
    assert_non_null(strstr(html, fu));
    assert_non_null(strstr(html, "0 / 5"));
    assert_null(strstr(html, PTERO_KEY));
    http_result_free(&r);

    /* Test connection as a plain form post: back to the list with the outcome. */
    snprintf(path, sizeof path, "/admin/servers/%lld/test", (long long)C->server_id);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    r = as_admin("POST", path, form, NULL);
    assert_int_equal(r.status, 303);
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    assert_string_equal(loc, "/admin/servers"); /* the message is not in the URL (issue 17) */
    free(loc);
    struct http_result page = follow_admin(&r);
    http_result_free(&r);
    r = page;
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "<div class=\"flash flash-ok\">Server"));
    assert_non_null(strstr(html, "connection OK"));
    assert_non_null(strstr(html, " ms)</div>"));
    char mark[96];
    snprintf(mark, sizeof mark, "<tr class=\"server-row\" data-id=\"%lld\">",
             (long long)C->server_id);
    const char *row = strstr(html, mark);
    assert_non_null(row);
    const char *row_end = strstr(row, "</tr>");
    const char *badge = strstr(row, "<span class=\"badge badge-ok\">OK</span>");
    assert_true(badge != NULL && badge < row_end);
    const char *never = strstr(row, "never tested");
    assert_true(never == NULL || never > row_end);
    http_result_free(&r);

    /* The same button through app.js: JSON in place. */
    r = as_admin("POST", path, form, "Accept: application/json");
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_true(json_is_true(json_object_get(r.json, "success")));
    assert_true(json_is_string(json_object_get(r.json, "message")));
    assert_true(json_is_integer(json_object_get(r.json, "latency_ms")));
    assert_true(json_integer_value(json_object_get(r.json, "latency_ms")) >= 0);
    http_result_free(&r);

    /* Edit: the key is never shown; left blank it is kept (the test still passes). */
    snprintf(path, sizeof path, "/admin/servers/%lld/edit", (long long)C->server_id);
    r = as_admin("GET", path, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "Leave blank to keep"));
    assert_non_null(strstr(buf_cstr(&r.body), "value=\"Game Node 1\""));
    assert_null(strstr(buf_cstr(&r.body), PTERO_KEY));
    assert_null(strstr(buf_cstr(&r.body), "********"));
    http_result_free(&r);
    snprintf(path, sizeof path, "/admin/servers/%lld", (long long)C->server_id);
    snprintf(form, sizeof form,
             "csrf_token=%s&name=Game+Node+One&url=%s&api_key=&max_accounts=7&active=1", csrf,
             url_enc);
    r = as_admin("POST", path, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    char api_path[128];
    snprintf(api_path, sizeof api_path, "/api/admin/servers/%lld", (long long)C->server_id);
    r = bb_api("GET", api_path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "Game Node One");
    assert_int_equal(json_integer_value(json_object_get(r.json, "max_accounts")), 7);
    http_result_free(&r);
    snprintf(path, sizeof path, "/admin/servers/%lld/test", (long long)C->server_id);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    r = as_admin("POST", path, form, "Accept: application/json");
    assert_true(json_is_true(json_object_get(r.json, "success")));
    http_result_free(&r);

    /* Deactivate, then delete (unused): both through forms, both visible in the API. */
    snprintf(path, sizeof path, "/admin/servers/%lld/deactivate", (long long)C->server_id);
    r = as_admin("POST", path, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    r = bb_api("GET", api_path, NULL);
    assert_false(json_is_true(json_object_get(r.json, "active")));
    http_result_free(&r);
}

static void script_in_a_server_name_renders_as_text(void **state)
{
    struct http_result r = bb_api("POST", "/api/admin/servers",
                                  "{\"name\":\"<script>alert(1)</script>\",\"type\":\"virtfusion\","
                                  "\"url\":\"http://127.0.0.1:9\",\"api_key\":\"vf-token-x\"}");
    assert_int_equal(r.status, 201);
    int64_t id = json_integer_value(json_object_get(r.json, "id"));
    http_result_free(&r);

    r = as_admin("GET", "/admin/servers", NULL, NULL);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html, "<script>alert"));
    http_result_free(&r);

    char path[64];
    snprintf(path, sizeof path, "/admin/servers/%lld/edit", (long long)id);
    r = as_admin("GET", path, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert_null(strstr(buf_cstr(&r.body), "<script>alert"));
    http_result_free(&r);

    /* Deleting an unused server through the form. */
    char csrf[80], form[120];
    page_csrf(csrf);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    snprintf(path, sizeof path, "/admin/servers/%lld/delete", (long long)id);
    int64_t before = api_server_count();
    r = as_admin("POST", path, form, NULL);
    assert_int_equal(r.status, 303);
    struct http_result page = follow_admin(&r);
    assert_non_null(strstr(buf_cstr(&page.body), "<div class=\"flash flash-ok\">"));
    http_result_free(&page);
    http_result_free(&r);
    assert_int_equal(api_server_count(), before - 1);
}

static void environment_server_is_marked_and_cannot_be_changed_here(void **state)
{
    struct http_result r = bb_api("GET", "/api/admin/servers?limit=100", NULL);
    json_t *s, *data = json_object_get(r.json, "data");
    size_t i;
    int64_t env_id = 0;
    json_array_foreach(data, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "source")), "environment") == 0)
            env_id = json_integer_value(json_object_get(s, "id"));
    }
    http_result_free(&r);
    assert_true(env_id > 0);

    char path[96], mark[96], csrf[80], form[120];
    r = as_admin("GET", "/admin/servers", NULL, NULL);
    snprintf(mark, sizeof mark, "<tr class=\"server-row\" data-id=\"%lld\">", (long long)env_id);
    const char *row = strstr(buf_cstr(&r.body), mark);
    assert_non_null(row);
    const char *row_end = strstr(row, "</tr>");
    const char *src = strstr(row, "<td>environment</td>");
    assert_true(src != NULL && src < row_end);
    const char *edit = strstr(row, "/edit\"");
    assert_true(edit == NULL || edit > row_end); /* no edit link on its row */
    http_result_free(&r);

    snprintf(path, sizeof path, "/admin/servers/%lld/edit", (long long)env_id);
    r = as_admin("GET", path, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "configured by environment variables"));
    assert_null(strstr(buf_cstr(&r.body), "<form method=\"post\" action=\"/admin/servers/"));
    http_result_free(&r);

    /* Deleting it is refused with the API's reason. */
    page_csrf(csrf);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    snprintf(path, sizeof path, "/admin/servers/%lld/delete", (long long)env_id);
    int64_t before = api_server_count();
    r = as_admin("POST", path, form, NULL);
    assert_int_equal(r.status, 303);
    assert_header_contains(&r, "Location", "/admin/servers");
    struct http_result page = follow_admin(&r);
    assert_non_null(strstr(buf_cstr(&page.body), "<div class=\"flash flash-error\">"));
    http_result_free(&page);
    http_result_free(&r);
    assert_int_equal(api_server_count(), before);
}

/* The ids of the audit rows on a page, in order; returns how many. */
static size_t row_ids(const char *html, int64_t *ids, size_t max)
{
    static const char mark[] = "<tr class=\"audit-row\"><td><a href=\"/admin/audit-logs/";
    size_t n = 0;
    for (const char *p = strstr(html, mark); p != NULL && n < max; p = strstr(p, mark)) {
        p += sizeof mark - 1;
        ids[n++] = strtoll(p, NULL, 10);
    }
    return n;
}

static void audit_log_page_filters_pages_and_checks_the_chain(void **state)
{
    int64_t ids[600];
    struct http_result r = as_admin("GET", "/admin/audit-logs", NULL, NULL);
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "Chain intact up to #"));
    assert_non_null(strstr(html, "chain-ok"));
    size_t n = row_ids(html, ids, 600);
    assert_true(n >= 8);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] < ids[i - 1]); /* newest first */
    assert_true(count_of(html, "<td class=\"action\">SERVER_CREATED</td>") >= 2);
    assert_true(count_of(html, "<td class=\"action\">LOGIN_FAILED</td>") >= 1);
    http_result_free(&r);

    /* The action filter narrows the rows to that action. */
    r = as_admin("GET", "/admin/audit-logs?action=SERVER_CREATED", NULL, NULL);
    html = buf_cstr(&r.body);
    size_t created = row_ids(html, ids, 600);
    assert_int_equal(created, 3); /* the environment's panel, the form's, the API's */
    assert_int_equal(count_of(html, "<td class=\"action\">"), 3);
    assert_int_equal(count_of(html, "<td class=\"action\">SERVER_CREATED</td>"), 3);
    assert_non_null(strstr(html, "name=\"action\" value=\"SERVER_CREATED\""));
    /* Export links carry the same filters. */
    char href[600];
    assert_true(attr_after(html, "<p class=\"exports\">Export the filtered rows: <a href=\"", href,
                           sizeof href));
    html_unescape_url(href);
    assert_string_equal(href, "/api/admin/audit-logs?action=SERVER_CREATED&format=csv");
    http_result_free(&r);
    r = as_admin("GET", href, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_header_contains(&r, "Content-Type", "text/csv");
    assert_int_equal(count_of(buf_cstr(&r.body), "SERVER_CREATED"), 3);
    http_result_free(&r);

    /* Entity and id narrow to one server's rows; a date range in the future matches none. */
    char path[160];
    snprintf(path, sizeof path, "/admin/audit-logs?entity=server&entity_id=%lld",
             (long long)C->server_id);
    r = as_admin("GET", path, NULL, NULL);
    html = buf_cstr(&r.body);
    int64_t one[100];
    size_t rows = row_ids(html, one, 100);
    assert_true(rows >= 4); /* created, tested (3x), updated, deactivated */
    char ent[64];
    snprintf(ent, sizeof ent, "<td>server #%lld</td>", (long long)C->server_id);
    assert_int_equal(count_of(html, ent), rows);
    http_result_free(&r);
    r = as_admin("GET", "/admin/audit-logs?from=2999-01-01T00%3A00%3A00Z&q=SERVER", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(row_ids(buf_cstr(&r.body), one, 100), 0);
    assert_non_null(strstr(buf_cstr(&r.body), "No audit rows match."));
    http_result_free(&r);

    /* Keyset paging: one row per page, the link leads to the older one. */
    r = as_admin("GET", "/admin/audit-logs?action=SERVER_CREATED&limit=1", NULL, NULL);
    html = buf_cstr(&r.body);
    int64_t first[2];
    assert_int_equal(row_ids(html, first, 2), 1);
    assert_int_equal(first[0], ids[0]);
    assert_true(attr_after(html, "<a rel=\"next\" href=\"", href, sizeof href));
    html_unescape_url(href);
    assert_non_null(strstr(href, "action=SERVER_CREATED"));
    assert_non_null(strstr(href, "cursor="));
    http_result_free(&r);
    r = as_admin("GET", href, NULL, NULL);
    html = buf_cstr(&r.body);
    int64_t second[2];
    assert_int_equal(row_ids(html, second, 2), 1);
    assert_int_equal(second[0], ids[1]);
    assert_true(second[0] < first[0]);
    assert_true(attr_after(html, "<a rel=\"next\" href=\"", href, sizeof href));
    html_unescape_url(href);
    http_result_free(&r);
    r = as_admin("GET", href, NULL, NULL);
    html = buf_cstr(&r.body);
    assert_int_equal(row_ids(html, second, 2), 1);
    assert_int_equal(second[0], ids[2]);
    assert_null(strstr(html, "rel=\"next\"")); /* the last page */
    http_result_free(&r);

    /* Detail of the newest SERVER_CREATED (the <script> server): JSON details, escaped. */
    snprintf(path, sizeof path, "/admin/audit-logs/%lld", (long long)ids[0]);
    r = as_admin("GET", path, NULL, NULL);
    assert_int_equal(r.status, 200);
    html = buf_cstr(&r.body);
    const char *pre = strstr(html, "<pre class=\"details\">");
    assert_non_null(pre);
    assert_non_null(strstr(pre, "&quot;name&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html, "<script>alert"));
    assert_non_null(strstr(html, "SERVER_CREATED"));
    assert_null(strstr(html, "vf-token-x"));
    http_result_free(&r);

    r = as_admin("GET", "/admin/audit-logs/999999", NULL, NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

static void logout_ends_the_session(void **state)
{
    char csrf[80], form[120];
    page_csrf(csrf);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    struct http_result r = as_admin("POST", "/admin/logout", form, NULL);
    assert_int_equal(r.status, 303);
    assert_header_contains(&r, "Location", "/admin/login");
    char *line = set_cookie_line(&r, "lumi_session");
    assert_non_null(line);
    assert_non_null(strstr(line, "Max-Age=0"));
    free(line);
    http_result_free(&r);

    r = as_admin("GET", "/admin", NULL, NULL);
    assert_int_equal(r.status, 303);
    assert_header_contains(&r, "Location", "/admin/login");
    http_result_free(&r);

    r = bb_api("GET", "/api/admin/audit-logs?action=LOGOUT", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    http_result_free(&r);
}

static void repeated_login_failures_are_throttled(void **state)
{
    struct http_result r;
    for (int i = 0; i < 5; i++) {
        r = post_login_as("nobody%40example.com", "wrong-password", "", true);
        assert_int_equal(r.status, 401);
        http_result_free(&r);
    }
    r = post_login_as("nobody%40example.com", "wrong-password", "", true);
    assert_int_equal(r.status, 429);
    assert_header_contains(&r, "Retry-After", "900");
    assert_non_null(strstr(buf_cstr(&r.body), "Too many failed attempts"));
    assert_null(set_cookie_line(&r, "lumi_session"));
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_pages_redirect_to_login_without_a_session),
        cmocka_unit_test(wrong_password_shows_an_error_and_is_audited),
        cmocka_unit_test(login_sets_a_safe_cookie_and_pages_carry_security_headers),
        cmocka_unit_test(form_posts_need_the_session_csrf_token),
        cmocka_unit_test(pterodactyl_server_added_through_the_form_is_listed_and_tests_ok),
        cmocka_unit_test(script_in_a_server_name_renders_as_text),
        cmocka_unit_test(environment_server_is_marked_and_cannot_be_changed_here),
        cmocka_unit_test(audit_log_page_filters_pages_and_checks_the_chain),
        cmocka_unit_test(logout_ends_the_session),
        cmocka_unit_test(repeated_login_failures_are_throttled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
