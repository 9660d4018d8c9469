/*
 * bb_pages_billing.c — the clients and products admin pages through the real
 * binary, as a browser uses them: every route closed without a session; a
 * client added and edited through the forms and seen through the JSON API; a
 * duplicate e-mail refused with nothing changed; stored markup rendered as
 * text; the product form of a Pterodactyl server offering the fake panel's
 * nests, eggs and locations live (and number inputs with the panel's message
 * when the panel is down); a product created from typed amounts and seen in
 * the API in minor units with its module configuration; bad input refused
 * with nothing stored; deletion refused while a service uses the product.
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
#include "core/str.h"
#include "fakes/fake_pterodactyl.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e60"
#define PTERO_KEY "ptla_BillingPagesPteroKey0123456789abcdefABCD"
#define ADMIN_EMAIL "billing-admin@example.com"
#define ADMIN_PASSWORD "Billing-Admin-Password-1"

struct ctx {
    struct fake_ptero *ptero;
    char cookie[160];        /* "lumi_session=…" of the logged-in admin */
    char csrf[80];           /* its form token */
    int64_t ptero_server_id; /* the environment's Pterodactyl (the fake) */
    int64_t client_id;       /* added through the form */
    int64_t product_id;      /* added through the form */
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static struct http_result as_admin(const char *method, const char *path, const char *form)
{
    return browse(bb_base_url(), method, path, C->cookie, form, NULL);
}

/* Posts form (without the token) with the session's csrf_token in front. */
static struct http_result post_form(const char *path, const char *fields)
{
    char form[4096];
    int n = snprintf(form, sizeof form, "csrf_token=%s%s%s", C->csrf, *fields ? "&" : "", fields);
    assert_true(n > 0 && (size_t)n < sizeof form);
    return as_admin("POST", path, form);
}

static int64_t api_count(const char *path)
{
    struct http_result r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    int64_t n = (int64_t)json_array_size(json_object_get(r.json, "data"));
    http_result_free(&r);
    return n;
}

static char *location_of(const struct http_result *r)
{
    char *loc = http_header(r, "Location");
    if (loc == NULL)
        fail_msg("no Location header (status %ld)", r->status);
    return loc;
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_env_add("PTERODACTYL_URL=%s", fake_ptero_url(C->ptero));
    bb_env_add("PTERODACTYL_API_KEY=%s", PTERO_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "billing-pages-test");
    bb_serve();

    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, C->cookie, sizeof C->cookie);

    browse_csrf(bb_base_url(), C->cookie, "/admin/clients/new", C->csrf);

    struct http_result r = bb_api("GET", "/api/admin/servers?limit=100", NULL);
    json_t *s, *data = json_object_get(r.json, "data");
    size_t i;
    json_array_foreach(data, i, s)
    {
        if (str_eq(json_string_value(json_object_get(s, "type")), "pterodactyl"))
            C->ptero_server_id = json_integer_value(json_object_get(s, "id"));
    }
    http_result_free(&r);
    if (C->ptero_server_id <= 0)
        fail_msg("the environment's Pterodactyl server is not listed");
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

static void every_route_redirects_to_login_without_a_session(void **state)
{
    static const char *const gets[] = {"/admin/clients",         "/admin/clients?cursor=5",
                                       "/admin/clients/new",     "/admin/clients/1",
                                       "/admin/clients/1/edit",  "/admin/products",
                                       "/admin/products/new",    "/admin/products/new?server_id=1",
                                       "/admin/products/1/edit", NULL};
    static const char *const posts[] = {"/admin/clients",           "/admin/clients/1",
                                        "/admin/products",          "/admin/products/1",
                                        "/admin/products/1/delete", NULL};
    for (int bogus = 0; bogus < 2; bogus++) {
        const char *cookie = bogus ? "lumi_session=not-a-real-session" : NULL;
        for (size_t i = 0; gets[i] != NULL; i++) {
            struct http_result r = browse(bb_base_url(), "GET", gets[i], cookie, NULL, NULL);
            if (r.status != 303)
                fail_msg("GET %s answered %ld without a session", gets[i], r.status);
            char *loc = location_of(&r);
            assert_true(str_starts_with(loc, "/admin/login"));
            free(loc);
            assert_null(strstr(buf_cstr(&r.body), "<table"));
            http_result_free(&r);
        }
        for (size_t i = 0; posts[i] != NULL; i++) {
            struct http_result r = browse(bb_base_url(), "POST", posts[i], cookie,
                                          "email=sneaky%40example.com&name=Sneaky&price=1&"
                                          "currency=usd&type=other&billing_cycle=monthly",
                                          NULL);
            if (r.status != 303)
                fail_msg("POST %s answered %ld without a session", posts[i], r.status);
            char *loc = location_of(&r);
            assert_true(str_starts_with(loc, "/admin/login"));
            free(loc);
            http_result_free(&r);
        }
    }
    assert_int_equal(api_count("/api/admin/clients?limit=200"), 0);
    assert_int_equal(api_count("/api/admin/products?limit=200"), 0);

    /* With a session but without the form's CSRF token nothing is created either. */
    struct http_result r =
        as_admin("POST", "/admin/clients", "email=no-token%40example.com&first_name=No");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/clients?limit=200"), 0);
}

static void client_created_through_the_form_is_listed_and_in_the_api(void **state)
{
    struct http_result r = as_admin("GET", "/admin/clients/new", NULL);
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "action=\"/admin/clients\""));
    assert_non_null(strstr(html, "<input type=\"password\" name=\"password\" value=\"\""));
    http_result_free(&r);

    r = post_form("/admin/clients", "email=Ada.Lovelace%40Example.com&first_name=Ada"
                                    "&last_name=Lovelace&company=Analytical+Engines&country=GB"
                                    "&currency=gbp&password=Secret-Client-Pw-1");
    assert_int_equal(r.status, 303);
    char *loc = location_of(&r);
    assert_true(str_starts_with(loc, "/admin/clients/"));
    assert_null(strchr(loc, '?')); /* the message is not in the URL (issue 17) */
    C->client_id = strtoll(loc + strlen("/admin/clients/"), NULL, 10);
    assert_true(C->client_id > 0);
    free(loc);

    /* The detail page the form led to shows the flash and the fields. */
    struct http_result page = browse_follow(bb_base_url(), &r, C->cookie);
    http_result_free(&r);
    r = page;
    assert_int_equal(r.status, 200);
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "flash-ok"));
    assert_non_null(strstr(html, "<dd class=\"email\">ada.lovelace@example.com</dd>"));
    assert_non_null(strstr(html, "Analytical Engines"));
    assert_non_null(strstr(html, "No services."));
    assert_non_null(strstr(html, "No invoices."));
    assert_null(strstr(html, "Secret-Client-Pw-1"));
    http_result_free(&r);

    /* The list shows the row. */
    r = as_admin("GET", "/admin/clients", NULL);
    assert_int_equal(r.status, 200);
    html = buf_cstr(&r.body);
    char mark[96];
    snprintf(mark, sizeof mark, "<tr class=\"client-row\" data-id=\"%lld\">",
             (long long)C->client_id);
    const char *row = strstr(html, mark);
    assert_non_null(row);
    const char *end = strstr(row, "</tr>");
    const char *email = strstr(row, "<td class=\"email\">ada.lovelace@example.com</td>");
    assert_true(email != NULL && email < end);
    const char *company = strstr(row, "<td>Analytical Engines</td>");
    assert_true(company != NULL && company < end);
    const char *status = strstr(row, ">active</span>");
    assert_true(status != NULL && status < end);
    http_result_free(&r);

    /* The API sees it as entered. */
    char path[96];
    snprintf(path, sizeof path, "/api/admin/clients/%lld", (long long)C->client_id);
    r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")),
                        "ada.lovelace@example.com");
    assert_string_equal(json_string_value(json_object_get(r.json, "first_name")), "Ada");
    assert_string_equal(json_string_value(json_object_get(r.json, "last_name")), "Lovelace");
    assert_string_equal(json_string_value(json_object_get(r.json, "currency")), "gbp");
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "active");
    assert_null(json_object_get(r.json, "password"));
    http_result_free(&r);

    /* The password set by the form works in the client area. */
    char client_cookie[160];
    long st = browse_login(bb_base_url(), "client", "ada.lovelace@example.com",
                           "Secret-Client-Pw-1", client_cookie, sizeof client_cookie);
    assert_int_equal(st, 303);
}

static void duplicate_email_rerenders_the_form_with_409(void **state)
{
    int64_t before = api_count("/api/admin/clients?limit=200");
    struct http_result r = post_form("/admin/clients", "email=ada.lovelace%40example.com"
                                                       "&first_name=Second&company=Copycat+Ltd"
                                                       "&password=Another-Pw-123");
    assert_int_equal(r.status, 409);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "flash-error"));
    assert_non_null(strstr(html, "action=\"/admin/clients\""));
    /* What was typed is kept, never the password. */
    assert_non_null(strstr(html, "value=\"Copycat Ltd\""));
    assert_non_null(strstr(html, "value=\"Second\""));
    assert_null(strstr(html, "Another-Pw-123"));
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/clients?limit=200"), before);

    /* A missing e-mail is the domain's 400, also with nothing stored. */
    r = post_form("/admin/clients", "email=&first_name=Nobody");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "email"));
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/clients?limit=200"), before);

    /* The first client is unchanged. */
    char path[96];
    snprintf(path, sizeof path, "/api/admin/clients/%lld", (long long)C->client_id);
    r = bb_api("GET", path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "first_name")), "Ada");
    http_result_free(&r);
}

static void client_edit_changes_fields_and_status(void **state)
{
    char path[96], api_path[96];
    snprintf(path, sizeof path, "/admin/clients/%lld/edit", (long long)C->client_id);
    struct http_result r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "value=\"ada.lovelace@example.com\""));
    assert_non_null(strstr(html, "value=\"Analytical Engines\""));
    assert_non_null(strstr(html, "Leave blank to keep"));
    assert_non_null(strstr(html, "<option value=\"disabled\">"));
    http_result_free(&r);

    /* Company cleared, last name changed, disabled; the password left blank is kept. */
    snprintf(path, sizeof path, "/admin/clients/%lld", (long long)C->client_id);
    r = post_form(path, "email=ada.lovelace%40example.com&first_name=Ada&last_name=King"
                        "&company=&country=GB&currency=gbp&status=disabled&password=");
    assert_int_equal(r.status, 303);
    char *loc = location_of(&r);
    assert_true(str_starts_with(loc, path));
    free(loc);
    http_result_free(&r);

    snprintf(api_path, sizeof api_path, "/api/admin/clients/%lld", (long long)C->client_id);
    r = bb_api("GET", api_path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "last_name")), "King");
    assert_true(json_is_null(json_object_get(r.json, "company")) ||
                str_eq(json_string_value(json_object_get(r.json, "company")), ""));
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "disabled");
    http_result_free(&r);

    r = as_admin("GET", path, NULL);
    assert_non_null(strstr(buf_cstr(&r.body), ">disabled</span>"));
    assert_null(strstr(buf_cstr(&r.body), "Analytical Engines"));
    http_result_free(&r);

    /* Back to active with a bad status value: the domain refuses, nothing changes. */
    r = post_form(path, "email=ada.lovelace%40example.com&status=sleeping");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "status"));
    http_result_free(&r);
    r = bb_api("GET", api_path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "disabled");
    http_result_free(&r);

    r = post_form(path, "email=ada.lovelace%40example.com&first_name=Ada&last_name=King"
                        "&currency=gbp&status=active");
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    r = bb_api("GET", api_path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "active");
    http_result_free(&r);

    /* Unknown ids and bad cursors. */
    r = as_admin("GET", "/admin/clients/999999", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = as_admin("GET", "/admin/clients/999999/edit", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = post_form("/admin/clients/999999", "email=x%40example.com&status=active");
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = as_admin("GET", "/admin/clients?cursor=abc", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
}

static void script_in_a_client_name_renders_as_text(void **state)
{
    struct http_result r = bb_api("POST", "/api/admin/clients",
                                  "{\"email\":\"xss@example.com\",\"first_name\":"
                                  "\"<script>alert(1)</script>\",\"company\":\"<b>Bold</b>\"}");
    assert_int_equal(r.status, 201);
    int64_t id = json_integer_value(json_object_get(r.json, "id"));
    http_result_free(&r);

    r = as_admin("GET", "/admin/clients", NULL);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "&lt;b&gt;Bold&lt;/b&gt;"));
    assert_null(strstr(html, "<script>alert"));
    assert_null(strstr(html, "<b>Bold"));
    http_result_free(&r);

    char path[96];
    snprintf(path, sizeof path, "/admin/clients/%lld", (long long)id);
    r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html, "<script>alert"));
    http_result_free(&r);

    snprintf(path, sizeof path, "/admin/clients/%lld/edit", (long long)id);
    r = as_admin("GET", path, NULL);
    assert_non_null(strstr(buf_cstr(&r.body), "value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert_null(strstr(buf_cstr(&r.body), "<script>alert"));
    http_result_free(&r);
}

static void product_form_offers_the_pterodactyl_choices_live(void **state)
{
    /* Step 1: the servers, and "no server". */
    struct http_result r = as_admin("GET", "/admin/products/new", NULL);
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    char href[96];
    snprintf(href, sizeof href, "href=\"/admin/products/new?server_id=%lld\"",
             (long long)C->ptero_server_id);
    assert_non_null(strstr(html, href));
    assert_non_null(strstr(html, "href=\"/admin/products/new?server_id=0\""));
    http_result_free(&r);

    /* Step 2 for the fake panel: eggs grouped by nest, locations, all from the panel. */
    size_t calls_before = fake_request_count(fake_ptero_http(C->ptero));
    char path[96];
    snprintf(path, sizeof path, "/admin/products/new?server_id=%lld",
             (long long)C->ptero_server_id);
    r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    html = buf_cstr(&r.body);
    assert_true(fake_request_count(fake_ptero_http(C->ptero)) > calls_before);
    assert_null(strstr(html, "panel-error"));
    const char *mc = strstr(html, "<optgroup label=\"Minecraft\">");
    const char *rust = strstr(html, "<optgroup label=\"Rust\">");
    assert_non_null(mc);
    assert_non_null(rust);
    const char *paper = strstr(mc, "<option value=\"1:1\">Paper</option>");
    const char *vanilla = strstr(mc, "<option value=\"1:2\">Vanilla");
    assert_true(paper != NULL && paper < rust);
    assert_true(vanilla != NULL && vanilla < rust);
    assert_non_null(strstr(rust, "<option value=\"2:3\">Rust</option>"));
    assert_non_null(strstr(html, "<option value=\"1\">us1"));
    assert_non_null(strstr(html, "<select name=\"egg\""));
    assert_null(strstr(html, "name=\"nest_id\""));
    /* The product type defaults to the panel's; no other panel's fields. */
    assert_non_null(strstr(html, "<option value=\"game_server\" selected>"));
    assert_null(strstr(html, "name=\"package\""));
    http_result_free(&r);

    /* An unknown server is 404, a malformed id 400. */
    r = as_admin("GET", "/admin/products/new?server_id=999999", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = as_admin("GET", "/admin/products/new?server_id=abc", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
}

static void unreachable_panel_shows_its_error_and_number_inputs(void **state)
{
    struct http_result r =
        bb_api("POST", "/api/admin/servers",
               "{\"name\":\"Dead panel\",\"type\":\"pterodactyl\","
               "\"url\":\"http://127.0.0.1:1\",\"api_key\":\"ptla_dead0123456789\"}");
    assert_int_equal(r.status, 201);
    int64_t dead = json_integer_value(json_object_get(r.json, "id"));
    http_result_free(&r);

    char path[96];
    snprintf(path, sizeof path, "/admin/products/new?server_id=%lld", (long long)dead);
    r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    const char *perr = strstr(html, "panel-error");
    assert_non_null(perr);
    assert_non_null(strstr(perr, "Could not load the choices from the panel: "));
    assert_non_null(strstr(html, "<input type=\"number\" name=\"nest_id\""));
    assert_non_null(strstr(html, "<input type=\"number\" name=\"egg_id\""));
    assert_null(strstr(html, "<optgroup"));
    assert_null(strstr(html, "ptla_dead0123456789"));
    http_result_free(&r);

    /* The fallback inputs still make a product. */
    char fields[600];
    snprintf(fields, sizeof fields,
             "server_id=%lld&name=Offline+Made&type=game_server&price=3&currency=usd"
             "&billing_cycle=monthly&autosetup=manual&active=1&nest_id=4&egg_id=9&location_id=2",
             (long long)dead);
    r = post_form("/admin/products", fields);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/products?limit=200", NULL);
    json_t *p, *data = json_object_get(r.json, "data");
    size_t i;
    bool found = false;
    json_array_foreach(data, i, p)
    {
        if (!str_eq(json_string_value(json_object_get(p, "name")), "Offline Made"))
            continue;
        found = true;
        json_t *cfg = json_object_get(p, "config");
        assert_int_equal(json_integer_value(json_object_get(cfg, "nest_id")), 4);
        assert_int_equal(json_integer_value(json_object_get(cfg, "egg_id")), 9);
        assert_int_equal(
            json_integer_value(json_array_get(json_object_get(cfg, "location_ids"), 0)), 2);
        char del[96];
        snprintf(del, sizeof del, "/api/admin/products/%lld",
                 (long long)json_integer_value(json_object_get(p, "id")));
        struct http_result d = bb_api("DELETE", del, NULL);
        assert_int_equal(d.status, 204);
        http_result_free(&d);
    }
    http_result_free(&r);
    assert_true(found);
}

static void product_created_with_a_typed_price_is_in_minor_units(void **state)
{
    int64_t before = api_count("/api/admin/products?limit=200");
    char fields[800];
    snprintf(fields, sizeof fields,
             "server_id=%lld&name=Paper+2GB&description=A+Minecraft+server&type=game_server"
             "&price=12.50&setup_fee=1.05&currency=usd&billing_cycle=monthly&autosetup=manual"
             "&active=1&egg=1%%3A2&location_id=1&memory=2048&disk=10240&cpu=100&databases=1"
             "&swap=&io=",
             (long long)C->ptero_server_id);
    struct http_result r = post_form("/admin/products", fields);
    assert_int_equal(r.status, 303);
    char *loc = location_of(&r);
    assert_string_equal(loc, "/admin/products");
    free(loc);
    struct http_result page = browse_follow(bb_base_url(), &r, C->cookie);
    http_result_free(&r);
    r = page;
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "flash-ok"));
    assert_non_null(strstr(html, "<td class=\"num price\">12.50 usd</td>"));
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/products?limit=200"), before + 1);

    r = bb_api("GET", "/api/admin/products?limit=200", NULL);
    json_t *p, *data = json_object_get(r.json, "data");
    size_t i;
    json_array_foreach(data, i, p)
    {
        if (str_eq(json_string_value(json_object_get(p, "name")), "Paper 2GB"))
            C->product_id = json_integer_value(json_object_get(p, "id"));
    }
    http_result_free(&r);
    assert_true(C->product_id > 0);

    char api_path[96];
    snprintf(api_path, sizeof api_path, "/api/admin/products/%lld", (long long)C->product_id);
    r = bb_api("GET", api_path, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "price")), 1250);
    assert_int_equal(json_integer_value(json_object_get(r.json, "setup_fee")), 105);
    assert_string_equal(json_string_value(json_object_get(r.json, "currency")), "usd");
    assert_string_equal(json_string_value(json_object_get(r.json, "type")), "game_server");
    assert_string_equal(json_string_value(json_object_get(r.json, "autosetup")), "manual");
    assert_int_equal(json_integer_value(json_object_get(r.json, "server_id")), C->ptero_server_id);
    json_t *cfg = json_object_get(r.json, "config");
    assert_int_equal(json_integer_value(json_object_get(cfg, "nest_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(cfg, "egg_id")), 2);
    json_t *locs = json_object_get(cfg, "location_ids");
    assert_int_equal(json_array_size(locs), 1);
    assert_int_equal(json_integer_value(json_array_get(locs, 0)), 1);
    assert_int_equal(json_integer_value(json_object_get(cfg, "memory")), 2048);
    assert_int_equal(json_integer_value(json_object_get(cfg, "disk")), 10240);
    assert_null(json_object_get(cfg, "swap")); /* blank: the panel's default */
    assert_null(json_object_get(cfg, "io"));
    http_result_free(&r);

    /* The edit form shows the amounts as typed and the stored egg and location selected. */
    char path[96];
    snprintf(path, sizeof path, "/admin/products/%lld/edit", (long long)C->product_id);
    r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "name=\"price\" value=\"12.50\""));
    assert_non_null(strstr(html, "name=\"setup_fee\" value=\"1.05\""));
    assert_non_null(strstr(html, "<option value=\"1:2\" selected>Vanilla"));
    assert_non_null(strstr(html, "<option value=\"1\" selected>us1"));
    assert_non_null(strstr(html, "name=\"memory\" min=\"0\" value=\"2048\""));
    http_result_free(&r);
}

static void bad_product_input_is_refused_and_nothing_is_created(void **state)
{
    int64_t before = api_count("/api/admin/products?limit=200");
    char fields[800];
    /* No name: the domain's message, the typed values kept. */
    snprintf(fields, sizeof fields,
             "server_id=%lld&name=&type=game_server&price=5.00&currency=usd"
             "&billing_cycle=monthly&autosetup=manual&active=1&egg=1%%3A1&memory=512",
             (long long)C->ptero_server_id);
    struct http_result r = post_form("/admin/products", fields);
    assert_true(r.status >= 400 && r.status < 500);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "flash-error"));
    assert_non_null(strstr(html, "name"));
    assert_non_null(strstr(html, "name=\"price\" value=\"5.00\""));
    assert_non_null(strstr(html, "<option value=\"1:1\" selected>Paper</option>"));
    assert_non_null(strstr(html, "name=\"memory\" min=\"0\" value=\"512\""));
    http_result_free(&r);

    /* A price that is not an amount. */
    snprintf(fields, sizeof fields,
             "server_id=%lld&name=Bad+Price&type=game_server&price=abc&currency=usd"
             "&billing_cycle=monthly&autosetup=manual&active=1&egg=1%%3A1",
             (long long)C->ptero_server_id);
    r = post_form("/admin/products", fields);
    assert_int_equal(r.status, 400);
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "price"));
    assert_non_null(strstr(html, "amount must be a decimal number"));
    assert_non_null(strstr(html, "value=\"Bad Price\""));
    assert_non_null(strstr(html, "value=\"abc\""));
    http_result_free(&r);

    /* More decimals than the currency has; a module field that is not a number. */
    static const char *const bad[] = {"price=1.234", "price=1.00&memory=lots",
                                      "price=1.00&setup_fee=-", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        snprintf(fields, sizeof fields,
                 "server_id=%lld&name=Bad+One&type=game_server&currency=usd"
                 "&billing_cycle=monthly&autosetup=manual&active=1&egg=1%%3A1&%s",
                 (long long)C->ptero_server_id, bad[i]);
        r = post_form("/admin/products", fields);
        if (r.status != 400)
            fail_msg("%s answered %ld", bad[i], r.status);
        assert_non_null(strstr(buf_cstr(&r.body), "flash-error"));
        http_result_free(&r);
    }
    /* An unknown billing cycle: the domain's rule. */
    r = post_form("/admin/products", "server_id=0&name=Cycle&type=other&price=1&currency=usd"
                                     "&billing_cycle=weekly&autosetup=manual");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "billing_cycle"));
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/products?limit=200"), before);

    /* Editing with a bad price changes nothing. */
    char path[96], api_path[96];
    snprintf(path, sizeof path, "/admin/products/%lld", (long long)C->product_id);
    r = post_form(path, "name=Paper+2GB&type=game_server&price=twelve&currency=usd"
                        "&billing_cycle=monthly&autosetup=manual&active=1&egg=1%3A2");
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    snprintf(api_path, sizeof api_path, "/api/admin/products/%lld", (long long)C->product_id);
    r = bb_api("GET", api_path, NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "price")), 1250);
    http_result_free(&r);

    r = as_admin("GET", "/admin/products/999999/edit", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = as_admin("GET", "/admin/products?cursor=-3", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
}

static void product_edit_keeps_config_set_through_the_api(void **state)
{
    char api_path[96], path[96], body[300];
    snprintf(api_path, sizeof api_path, "/api/admin/products/%lld", (long long)C->product_id);
    /* A key the form does not offer. */
    struct http_result r = bb_api("GET", api_path, NULL);
    json_t *cfg = json_deep_copy(json_object_get(r.json, "config"));
    http_result_free(&r);
    json_object_set_new(cfg, "environment", json_pack("{s:s}", "MINECRAFT_VERSION", "1.20.4"));
    char *cfg_text = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    snprintf(body, sizeof body, "{\"config\":%s}", cfg_text);
    free(cfg_text);
    r = bb_api("PATCH", api_path, body);
    assert_int_equal(r.status, 200);
    http_result_free(&r);

    snprintf(path, sizeof path, "/admin/products/%lld", (long long)C->product_id);
    r = post_form(path, "name=Paper+4GB&description=&type=game_server&price=20&setup_fee=0"
                        "&currency=usd&billing_cycle=quarterly&autosetup=manual&active=1"
                        "&egg=1%3A1&location_id=1&memory=4096&disk=&cpu=100&databases=1");
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    r = bb_api("GET", api_path, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "Paper 4GB");
    assert_int_equal(json_integer_value(json_object_get(r.json, "price")), 2000);
    assert_string_equal(json_string_value(json_object_get(r.json, "billing_cycle")), "quarterly");
    cfg = json_object_get(r.json, "config");
    assert_int_equal(json_integer_value(json_object_get(cfg, "egg_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(cfg, "memory")), 4096);
    assert_null(json_object_get(cfg, "disk")); /* cleared on the form */
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "environment"),
                                                          "MINECRAFT_VERSION")),
                        "1.20.4");
    http_result_free(&r);
}

static void product_in_use_cannot_be_deleted_and_client_page_lists_the_order(void **state)
{
    char body[200], path[96];
    snprintf(body, sizeof body, "{\"client_id\":%lld,\"product_id\":%lld}", (long long)C->client_id,
             (long long)C->product_id);
    struct http_result r = bb_api("POST", "/api/admin/services", body);
    assert_int_equal(r.status, 201);
    int64_t service_id = json_integer_value(json_object_get(r.json, "id"));
    int64_t invoice_id = json_integer_value(json_object_get(r.json, "invoice_id"));
    http_result_free(&r);
    assert_true(service_id > 0 && invoice_id > 0);

    /* The client's page links the service and the invoice. */
    snprintf(path, sizeof path, "/admin/clients/%lld", (long long)C->client_id);
    r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    char link[96];
    snprintf(link, sizeof link, "href=\"/admin/services/%lld\"", (long long)service_id);
    assert_non_null(strstr(html, link));
    snprintf(link, sizeof link, "href=\"/admin/invoices/%lld\"", (long long)invoice_id);
    assert_non_null(strstr(html, link));
    assert_non_null(strstr(html, "20.00 USD")); /* the recurring amount */
    assert_null(strstr(html, "No services."));
    http_result_free(&r);
    /* Another client's page does not show them. */
    r = bb_api("POST", "/api/admin/clients", "{\"email\":\"other@example.com\"}");
    int64_t other = json_integer_value(json_object_get(r.json, "id"));
    http_result_free(&r);
    snprintf(path, sizeof path, "/admin/clients/%lld", (long long)other);
    r = as_admin("GET", path, NULL);
    snprintf(link, sizeof link, "href=\"/admin/services/%lld\"", (long long)service_id);
    assert_null(strstr(buf_cstr(&r.body), link));
    assert_non_null(strstr(buf_cstr(&r.body), "No services."));
    http_result_free(&r);

    /* Deleting the product is refused with the domain's reason. */
    int64_t before = api_count("/api/admin/products?limit=200");
    snprintf(path, sizeof path, "/admin/products/%lld/delete", (long long)C->product_id);
    r = post_form(path, "");
    assert_int_equal(r.status, 303);
    char *loc = location_of(&r);
    assert_string_equal(loc, "/admin/products");
    free(loc);
    struct http_result page = browse_follow(bb_base_url(), &r, C->cookie);
    http_result_free(&r);
    r = page;
    assert_non_null(strstr(buf_cstr(&r.body), "flash-error"));
    assert_non_null(strstr(buf_cstr(&r.body), "service"));
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/products?limit=200"), before);
}

static void unused_product_is_deleted_through_the_form(void **state)
{
    struct http_result r =
        post_form("/admin/products", "server_id=0&name=Consulting+hour&type=other&price=80"
                                     "&currency=eur&billing_cycle=onetime&autosetup=never");
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/products?limit=200", NULL);
    json_t *p, *data = json_object_get(r.json, "data");
    size_t i;
    int64_t id = 0;
    json_array_foreach(data, i, p)
    {
        if (str_eq(json_string_value(json_object_get(p, "name")), "Consulting hour")) {
            id = json_integer_value(json_object_get(p, "id"));
            assert_int_equal(json_integer_value(json_object_get(p, "price")), 8000);
            assert_true(json_is_null(json_object_get(p, "server_id")) ||
                        json_object_get(p, "server_id") == NULL);
            assert_int_equal(json_object_size(json_object_get(p, "config")), 0);
        }
    }
    http_result_free(&r);
    assert_true(id > 0);

    /* The list offers the delete button with a confirmation. */
    r = as_admin("GET", "/admin/products", NULL);
    char form_tag[160];
    snprintf(
        form_tag, sizeof form_tag,
        "action=\"/admin/products/%lld/delete\" class=\"inline\" data-confirm=", (long long)id);
    assert_non_null(strstr(buf_cstr(&r.body), form_tag));
    http_result_free(&r);

    int64_t before = api_count("/api/admin/products?limit=200");
    char path[96];
    snprintf(path, sizeof path, "/admin/products/%lld/delete", (long long)id);
    r = post_form(path, "");
    assert_int_equal(r.status, 303);
    char *loc = location_of(&r);
    assert_string_equal(loc, "/admin/products");
    free(loc);
    struct http_result page = browse_follow(bb_base_url(), &r, C->cookie);
    assert_non_null(strstr(buf_cstr(&page.body), "flash-ok"));
    http_result_free(&page);
    http_result_free(&r);
    assert_int_equal(api_count("/api/admin/products?limit=200"), before - 1);
    snprintf(path, sizeof path, "/api/admin/products/%lld", (long long)id);
    r = bb_api("GET", path, NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_redirects_to_login_without_a_session),
        cmocka_unit_test(client_created_through_the_form_is_listed_and_in_the_api),
        cmocka_unit_test(duplicate_email_rerenders_the_form_with_409),
        cmocka_unit_test(client_edit_changes_fields_and_status),
        cmocka_unit_test(script_in_a_client_name_renders_as_text),
        cmocka_unit_test(product_form_offers_the_pterodactyl_choices_live),
        cmocka_unit_test(unreachable_panel_shows_its_error_and_number_inputs),
        cmocka_unit_test(product_created_with_a_typed_price_is_in_minor_units),
        cmocka_unit_test(bad_product_input_is_refused_and_nothing_is_created),
        cmocka_unit_test(product_edit_keeps_config_set_through_the_api),
        cmocka_unit_test(product_in_use_cannot_be_deleted_and_client_page_lists_the_order),
        cmocka_unit_test(unused_product_is_deleted_through_the_form),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
