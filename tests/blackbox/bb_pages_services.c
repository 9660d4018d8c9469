/*
 * bb_pages_services.c — the admin pages of services, jobs and webhook events
 * through the real binary, as a browser uses them: every route closed
 * without a session; a service ordered through the form, provisioned by
 * `lumi serve`'s worker against the fake Pterodactyl and shown with its job
 * and attempts; the lifecycle buttons offered by status, a suspension through
 * the button (flash, reason, audit row), a post without the CSRF token
 * refused with no job queued; a job the panel refuses listed on /admin/jobs
 * with its reason; a signed Stripe delivery listed on /admin/webhook-events;
 * stored and typed markup rendered as text; bad query parameters and unknown
 * ids answered 400 / 404; the list paged by keyset. Runs on SQLite and PostgreSQL.
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
#include "core/str.h"
#include "fakes/fake_pterodactyl.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "3a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_PagesServicesKey0123456789abcdefABCDEFgh"
#define WHSEC "whsec_PagesServicesWebhookSecret0123456789"
#define ADMIN_EMAIL "svc-admin@example.com"
#define ADMIN_PASSWORD "Services-Admin-Password-1"
#define SETTLE_S 30

#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
/* The panel refuses this egg variable (max:20) with 422: a permanent failure. */
#define BAD_CONFIG                                                                                 \
    "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,"                                   \
    "\"environment\":{\"SERVER_JARFILE\":\"a-jar-name-longer-than-twenty.jar\"}}"

struct ctx {
    char session[200]; /* "lumi_session=…" */
    char csrf[80];
    struct fake_ptero *ptero;
    int64_t server_id, client_id, evil_client_id, product_id, manual_product_id;
    int64_t service_id; /* ordered through the form */
    int64_t invoice_id; /* its first invoice */
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

/* The flash cookie the last post_303 was answered with ("" when none): sent
 * with the next request only, as a browser following the redirect would. */
static char pending_flash[2048];

/* method path as the logged-in admin (form may be NULL). */
static struct http_result as_admin(const char *method, const char *path, const char *form)
{
    char jar[3000];
    if (pending_flash[0] == '\0')
        return browse(bb_base_url(), method, path, C->session, form, NULL);
    snprintf(jar, sizeof jar, "%s; lumi_flash=%s", C->session, pending_flash);
    pending_flash[0] = '\0';
    return browse(bb_base_url(), method, path, jar, form, NULL);
}

/* GET path as the admin; expects status and answers the body (caller frees). */
static char *page(const char *path, long status)
{
    struct http_result r = as_admin("GET", path, NULL);
    if (r.status != status)
        fail_msg("GET %s: want %ld, got %ld: %.2000s", path, status, r.status, buf_cstr(&r.body));
    char *body = str_dup(buf_cstr(&r.body));
    http_result_free(&r);
    return body;
}

static char *pagef(long status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *pagef(long status, const char *fmt, ...)
{
    char path[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return page(path, status);
}

static void assert_has(const char *body, const char *needle)
{
    if (strstr(body, needle) == NULL)
        fail_msg("page lacks '%s':\n%.3000s", needle, body);
}

static void assert_lacks(const char *body, const char *needle)
{
    if (strstr(body, needle) != NULL)
        fail_msg("page has '%s' but must not", needle);
}

/* POSTs form to path as the admin; expects a 303 and answers its Location (caller frees). */
static char *post_303(const char *path, const char *form)
{
    struct http_result r = as_admin("POST", path, form);
    if (r.status != 303)
        fail_msg("POST %s: want 303, got %ld: %.2000s", path, r.status, buf_cstr(&r.body));
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    if (!browse_set_cookie_value(&r, "lumi_flash", pending_flash, sizeof pending_flash))
        pending_flash[0] = '\0';
    http_result_free(&r);
    return loc;
}

/* The service as the API shows it (caller decrefs). */
static json_t *service_json(int64_t id)
{
    return bb_json("GET", NULL, 200, "/api/admin/services/%" PRId64, id);
}

/* Polls the API until the service's status is want. */
static void wait_status(int64_t id, const char *want)
{
    for (int i = 0; i < SETTLE_S * 10; i++) {
        json_t *s = service_json(id);
        bool done = strcmp(bb_str(s, "status"), want) == 0;
        if (!done && i == SETTLE_S * 10 - 1)
            fail_msg("service %" PRId64 " never became %s (is %s)", id, want, bb_str(s, "status"));
        json_decref(s);
        if (done)
            return;
        bb_sleep_ms(100);
    }
}

static size_t job_count(int64_t id)
{
    json_t *s = service_json(id);
    size_t n = json_array_size(json_object_get(s, "jobs"));
    json_decref(s);
    return n;
}

static int64_t service_count(void)
{
    struct http_result r = bb_api("GET", "/api/admin/services?limit=200", NULL);
    assert_int_equal(r.status, 200);
    int64_t n = (int64_t)json_array_size(json_object_get(r.json, "data"));
    http_result_free(&r);
    return n;
}

/* Text as the templates escape it (& < > " ' ` =), for finding stored values on a page. */
static void html_escape(const char *s, char *out, size_t sz)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        char ent[8] = {*s, '\0'};
        switch (*s) {
        case '&':
            str_copy(ent, "&amp;", sizeof ent);
            break;
        case '<':
            str_copy(ent, "&lt;", sizeof ent);
            break;
        case '>':
            str_copy(ent, "&gt;", sizeof ent);
            break;
        case '"':
            str_copy(ent, "&quot;", sizeof ent);
            break;
        case '\'':
            str_copy(ent, "&#39;", sizeof ent);
            break;
        case '`':
            str_copy(ent, "&#96;", sizeof ent);
            break;
        case '=':
            str_copy(ent, "&#61;", sizeof ent);
            break;
        default:
            break;
        }
        size_t l = strlen(ent);
        if (n + l + 1 > sz)
            fail_msg("html_escape: output too small");
        memcpy(out + n, ent, l);
        n += l;
    }
    out[n] = '\0';
}

/* Orders product_id for client_id through the form; answers the new service's id. */
static int64_t order_through_form(int64_t client_id, int64_t product_id, const char *domain,
                                  char **location)
{
    char form[400];
    snprintf(form, sizeof form,
             "csrf_token=%s&client_id=%" PRId64 "&product_id=%" PRId64 "&domain=%s", C->csrf,
             client_id, product_id, domain);
    char *loc = post_303("/admin/services", form);
    if (!str_starts_with(loc, "/admin/services/"))
        fail_msg("order redirected to %s", loc);
    int64_t id = 0;
    assert_int_equal(str_to_i64(loc + 16, strcspn(loc + 16, "?"), 1, INT64_MAX, &id), 0);
    *location = loc;
    return id;
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "pages-services-test");
    bb_serve();

    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"name\":\"Game panel\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
        "\"}",
        fake_ptero_url(C->ptero));
    C->server_id = bb_create_ok("/api/admin/servers", body);
    C->client_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"ada@example.com\","
                                           "\"first_name\":\"Ada\",\"last_name\":\"Lovelace\"}");
    C->evil_client_id =
        bb_create_ok("/api/admin/clients",
                     "{\"email\":\"eve@example.com\","
                     "\"first_name\":\"<script>alert(1)</script>\",\"last_name\":\"Eve\"}");
    snprintf(
        body, sizeof body,
        "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,\"currency\":\"usd\","
        "\"billing_cycle\":\"monthly\",\"setup_fee\":500,\"server_id\":%" PRId64
        ",\"autosetup\":\"order\",\"config\":" GAME_CONFIG "}",
        C->server_id);
    C->product_id = bb_create_ok("/api/admin/products", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft "
             "manual\",\"type\":\"game_server\",\"price\":990,\"currency\":\"eur\","
             "\"billing_cycle\":\"monthly\",\"server_id\":%" PRId64
             ",\"autosetup\":\"manual\",\"config\":" GAME_CONFIG "}",
             C->server_id);
    C->manual_product_id = bb_create_ok("/api/admin/products", body);

    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, C->session, sizeof C->session);

    browse_csrf(bb_base_url(), C->session, "/admin/services/new", C->csrf);
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
    static const char *const gets[] = {"/admin/services",
                                       "/admin/services?status=active",
                                       "/admin/services/new",
                                       "/admin/services/1",
                                       "/admin/jobs",
                                       "/admin/jobs?status=failed",
                                       "/admin/webhook-events",
                                       "/admin/webhook-events?gateway=stripe",
                                       NULL};
    static const char *const posts[] = {"/admin/services",
                                        "/admin/services/1/provision",
                                        "/admin/services/1/suspend",
                                        "/admin/services/1/unsuspend",
                                        "/admin/services/1/terminate",
                                        "/admin/services/1/retry",
                                        NULL};
    for (int bogus = 0; bogus < 2; bogus++) {
        const char *cookie = bogus ? "lumi_session=not-a-real-session" : NULL;
        for (int post = 0; post < 2; post++) {
            const char *const *paths = post ? posts : gets;
            for (size_t i = 0; paths[i] != NULL; i++) {
                struct http_result r =
                    browse(bb_base_url(), post ? "POST" : "GET", paths[i], cookie,
                           post ? "client_id=1&product_id=1&reason=manual" : NULL, NULL);
                if (r.status != 303)
                    fail_msg("%s %s answered %ld without a session", post ? "POST" : "GET",
                             paths[i], r.status);
                char *loc = http_header(&r, "Location");
                assert_non_null(loc);
                if (!str_starts_with(loc, "/admin/login"))
                    fail_msg("%s redirected to %s", paths[i], loc);
                free(loc);
                assert_null(strstr(buf_cstr(&r.body), "<table"));
                http_result_free(&r);
            }
        }
    }
    /* Nothing was ordered by the posts above. */
    assert_int_equal(service_count(), 0);
}

static void order_form_refuses_bad_input_and_escapes_it(void **state)
{
    char *body = page("/admin/services/new", 200);
    char opt[128];
    snprintf(opt, sizeof opt, "<option value=\"%" PRId64 "\">#%" PRId64 " Ada Lovelace &lt;ada@",
             C->client_id, C->client_id);
    assert_has(body, opt);
    assert_has(body, "Minecraft 1G — 15.00 USD monthly");
    assert_has(body, "Minecraft manual — 9.90 EUR monthly");
    /* A client named with markup is listed as text. */
    assert_has(body, "&lt;script&gt;alert(1)&lt;/script&gt; Eve");
    assert_lacks(body, "<script>alert");
    assert_has(body, "name=\"csrf_token\"");
    free(body);

    /* A domain with markup: refused by the domain's rule, shown back as text, nothing ordered. */
    char form[400];
    snprintf(form, sizeof form,
             "csrf_token=%s&client_id=%" PRId64 "&product_id=%" PRId64
             "&domain=%%3Cscript%%3Ealert(2)%%3C%%2Fscript%%3E",
             C->csrf, C->client_id, C->product_id);
    struct http_result r = as_admin("POST", "/admin/services", form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "value=\"&lt;script&gt;alert(2)&lt;/script&gt;\"");
    assert_has(buf_cstr(&r.body), "field &#39;domain&#39; must be a domain name");
    assert_lacks(buf_cstr(&r.body), "<script>alert");
    /* The choices stay selected. */
    snprintf(opt, sizeof opt, "<option value=\"%" PRId64 "\" selected>", C->product_id);
    assert_has(buf_cstr(&r.body), opt);
    http_result_free(&r);

    /* No client chosen; an unknown product. */
    snprintf(form, sizeof form, "csrf_token=%s&client_id=&product_id=%" PRId64, C->csrf,
             C->product_id);
    r = as_admin("POST", "/admin/services", form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "Choose a client.");
    http_result_free(&r);
    snprintf(form, sizeof form, "csrf_token=%s&client_id=%" PRId64 "&product_id=999999", C->csrf,
             C->client_id);
    r = as_admin("POST", "/admin/services", form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "product");
    http_result_free(&r);

    /* A cycle the product is not sold at: refused naming the field, the choice kept. */
    snprintf(form, sizeof form,
             "csrf_token=%s&client_id=%" PRId64 "&product_id=%" PRId64
             "&billing_cycle=biennially&currency=usd",
             C->csrf, C->client_id, C->product_id);
    r = as_admin("POST", "/admin/services", form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "billing_cycle");
    assert_has(buf_cstr(&r.body), "<option value=\"biennially\" selected>");
    assert_has(buf_cstr(&r.body), "value=\"usd\"");
    http_result_free(&r);

    /* Without the CSRF token: 403, nothing ordered. */
    snprintf(form, sizeof form, "client_id=%" PRId64 "&product_id=%" PRId64, C->client_id,
             C->product_id);
    r = as_admin("POST", "/admin/services", form);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(service_count(), 0);
}

static void order_through_the_form_is_provisioned_and_shown(void **state)
{
    char *loc = NULL;
    int64_t id = order_through_form(C->client_id, C->product_id, "play.example.com", &loc);
    C->service_id = id;
    json_t *s = service_json(id);
    assert_string_equal(bb_str(s, "domain"), "play.example.com");
    assert_int_equal(json_integer_value(json_object_get(s, "client_id")), C->client_id);
    const json_t *job = json_array_get(json_object_get(s, "jobs"), 0);
    int64_t job_id = json_integer_value(json_object_get(job, "id"));
    assert_true(job_id > 0);
    json_decref(s);

    /* Right after the order: the flash, the status the worker has reached, the provision job. */
    char *body = page(loc, 200);
    char want[200];
    snprintf(want, sizeof want, "Service #%" PRId64 " ordered: invoice #", id);
    assert_has(body, want);
    snprintf(want, sizeof want, "provision queued (job #%" PRId64 ").", job_id);
    assert_has(body, want);
    assert_true(strstr(body, "badge-pending\">pending<") != NULL ||
                strstr(body, "badge-provisioning\">provisioning<") != NULL ||
                strstr(body, "badge-active\">active<") != NULL);
    snprintf(want, sizeof want,
             "<tr class=\"job-row\" data-id=\"%" PRId64 "\"><td>%" PRId64 "</td><td>provision</td>",
             job_id, job_id);
    assert_has(body, want);
    /* Its provision job is open (or done): no second Provision button. */
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/provision\"", id);
    assert_lacks(body, want);
    snprintf(want, sizeof want, "href=\"/admin/clients/%" PRId64 "\">Ada Lovelace</a>",
             C->client_id);
    assert_has(body, want);
    assert_has(body, ">Minecraft 1G</a>");
    assert_has(body, ">Game panel</a>");
    assert_has(body, "15.00 USD monthly");
    free(body);
    free(loc);

    wait_status(id, "active");
    s = service_json(id);
    body = pagef(200, "/admin/services/%" PRId64, id);
    assert_has(body, "<h1>Service #");
    assert_has(body, "badge-active\">active<");
    assert_has(body, "<span class=\"badge badge-ok\">done</span>");
    assert_has(body, bb_str(s, "external_id"));
    assert_has(body, bb_str(s, "remote_key"));
    assert_has(body, bb_str(s, "next_due_date"));
    /* The panel call is listed among the provision attempts. */
    assert_true(json_array_size(json_object_get(s, "attempts")) >= 1);
    assert_lacks(body, "No panel calls yet.");
    /* An active service can be suspended or terminated, nothing else. */
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/", id);
    char act[300];
    snprintf(act, sizeof act, "%ssuspend\"", want);
    assert_has(body, act);
    snprintf(act, sizeof act, "%sterminate\" class=\"inline\" data-confirm=", want);
    assert_has(body, act);
    snprintf(act, sizeof act, "%sunsuspend\"", want);
    assert_lacks(body, act);
    snprintf(act, sizeof act, "%sprovision\"", want);
    assert_lacks(body, act);
    snprintf(act, sizeof act, "%sretry\"", want);
    assert_lacks(body, act);
    free(body);
    json_decref(s);

    /* The list shows it with names, badge and money; the status filter narrows it. */
    body = page("/admin/services", 200);
    snprintf(want, sizeof want, "<td><a href=\"/admin/services/%" PRId64 "\">%" PRId64 "</a></td>",
             id, id);
    assert_has(body, want);
    assert_has(body, "badge-active\">active<");
    assert_has(body, "15.00 USD");
    assert_has(body, "play.example.com");
    free(body);
    body = page("/admin/services?status=suspended", 200);
    assert_lacks(body, want);
    assert_has(body, "No services here.");
    free(body);
}

static void suspend_button_needs_csrf_and_reaches_the_panel(void **state)
{
    int64_t id = C->service_id;
    char path[128], form[200], want[200];
    size_t jobs = job_count(id);

    /* Without the session's CSRF token: 403 and no job. */
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/suspend", id);
    struct http_result r = as_admin("POST", path, "reason=abuse");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    r = as_admin(
        "POST", path,
        "reason=abuse&csrf_token=0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(job_count(id), jobs);

    /* A request the status does not allow: back with the domain's message, no job. */
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/unsuspend", id);
    snprintf(form, sizeof form, "csrf_token=%s", C->csrf);
    char *loc = post_303(path, form);
    assert_null(strchr(loc, '?')); /* the message is a flash, not in the URL (issue 17) */
    char *body = page(loc, 200);
    assert_has(body, "only suspended services can be unsuspended");
    free(body);
    free(loc);
    assert_int_equal(job_count(id), jobs);

    /* Suspend through the button, for abuse. */
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/suspend", id);
    snprintf(form, sizeof form, "csrf_token=%s&reason=abuse", C->csrf);
    loc = post_303(path, form);
    snprintf(want, sizeof want, "/admin/services/%" PRId64, id);
    assert_string_equal(loc, want);
    assert_int_equal(job_count(id), jobs + 1);
    json_t *s = service_json(id);
    int64_t job_id =
        json_integer_value(json_object_get(json_array_get(json_object_get(s, "jobs"), 0), "id"));
    json_decref(s);
    body = page(loc, 200);
    snprintf(want, sizeof want, "Suspend queued (job #%" PRId64 ").", job_id);
    assert_has(body, want);
    free(body);
    free(loc);

    wait_status(id, "suspended");
    body = pagef(200, "/admin/services/%" PRId64, id);
    assert_has(body,
               "badge-suspended\">suspended</span> <span class=\"suspend-reason\">(abuse)</span>");
    assert_has(body, "reason: abuse");
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/unsuspend\"", id);
    assert_has(body, want);
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/suspend\"", id);
    assert_lacks(body, want);
    free(body);
    body = page("/admin/services?status=suspended", 200);
    assert_has(body, "<td>abuse</td>");
    free(body);

    json_t *svc = service_json(id);
    struct fake_ptero_server fs;
    assert_int_equal(fake_ptero_find_server(C->ptero, bb_str(svc, "remote_key"), &fs), 1);
    assert_true(fs.suspended);
    json_decref(svc);

    r = bb_apif("GET", NULL,
                "/api/admin/audit-logs?action=SERVICE_SUSPENDED&entity=service&entity_id=%" PRId64,
                id);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    http_result_free(&r);
    r = bb_apif(
        "GET", NULL,
        "/api/admin/audit-logs?action=SERVICE_SUSPEND_REQUESTED&entity=service&entity_id=%" PRId64,
        id);
    assert_int_equal(r.status, 200);
    const json_t *row = json_array_get(json_object_get(r.json, "data"), 0);
    assert_string_equal(bb_str(row, "actor_email"), ADMIN_EMAIL);
    http_result_free(&r);
}

static void provision_button_provisions_a_manual_service(void **state)
{
    char *loc = NULL;
    int64_t id = order_through_form(C->client_id, C->manual_product_id, "", &loc);
    char *body = page(loc, 200);
    /* autosetup "manual": pending, no job, and a Provision button. */
    assert_has(body, "badge-pending\">pending<");
    assert_has(body, "No jobs yet.");
    char want[200], path[128], form[200];
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/provision\"", id);
    assert_has(body, want);
    assert_has(body, "9.90 EUR monthly");
    free(body);
    free(loc);

    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/provision", id);
    snprintf(form, sizeof form, "csrf_token=%s", C->csrf);
    loc = post_303(path, form);
    body = page(loc, 200);
    assert_has(body, "Provision queued (job #");
    assert_has(body, "<td>provision</td>");
    free(body);
    free(loc);
    wait_status(id, "active");

    /* Terminate (with a reason) ends it; no buttons remain. */
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/terminate", id);
    snprintf(form, sizeof form, "csrf_token=%s&reason=customer+left", C->csrf);
    free(post_303(path, form));
    wait_status(id, "terminated");
    body = pagef(200, "/admin/services/%" PRId64, id);
    assert_has(body, "reason: customer left");
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/", id);
    assert_lacks(body, want);
    free(body);
}

static void failed_job_is_listed_with_its_reason(void **state)
{
    char body_json[1024];
    snprintf(body_json, sizeof body_json,
             "{\"name\":\"Broken egg\",\"type\":\"game_server\",\"price\":100,\"currency\":\"usd\","
             "\"billing_cycle\":\"monthly\",\"server_id\":%" PRId64
             ",\"autosetup\":\"order\",\"config\":" BAD_CONFIG "}",
             C->server_id);
    int64_t p = bb_create_ok("/api/admin/products", body_json);
    char *loc = NULL;
    int64_t id = order_through_form(C->client_id, p, "", &loc);
    free(loc);
    wait_status(id, "failed");

    struct http_result r = bb_api("GET", "/api/admin/jobs?status=failed", NULL);
    assert_int_equal(r.status, 200);
    const json_t *job = NULL, *j;
    size_t i;
    json_array_foreach(json_object_get(r.json, "data"), i, j)
    {
        if (json_integer_value(json_object_get(j, "service_id")) == id)
            job = j;
    }
    assert_non_null(job);
    int64_t job_id = json_integer_value(json_object_get(job, "id"));
    const char *reason = bb_str(job, "last_error");
    assert_true(strlen(reason) > 0);
    char esc[2048], want[300];
    html_escape(reason, esc, sizeof esc);

    char *body = page("/admin/jobs?status=failed", 200);
    snprintf(want, sizeof want, "<tr class=\"job-row\" data-id=\"%" PRId64 "\">", job_id);
    assert_has(body, want);
    assert_has(body, esc);
    snprintf(want, sizeof want, "<a href=\"/admin/services/%" PRId64 "\">Service #%" PRId64 "</a>",
             id, id);
    assert_has(body, want);
    assert_has(body, "<span class=\"badge badge-bad\">failed</span>");
    assert_has(body, "class=\"active\" aria-current=\"page\">failed</a>");
    /* Only failed jobs on this tab. */
    assert_lacks(body, "badge-ok\">done<");
    free(body);
    http_result_free(&r);

    /* Every job on the default tab; the done tab lacks the failed one. */
    body = page("/admin/jobs", 200);
    snprintf(want, sizeof want, "<tr class=\"job-row\" data-id=\"%" PRId64 "\">", job_id);
    assert_has(body, want);
    assert_has(body, "badge-ok\">done<");
    free(body);
    body = page("/admin/jobs?status=done", 200);
    assert_lacks(body, want);
    free(body);

    /* The service page shows the reason and offers Retry and Provision. */
    body = pagef(200, "/admin/services/%" PRId64, id);
    assert_has(body, "badge-failed\">failed<");
    assert_has(body, "Last error: ");
    snprintf(want, sizeof want, "action=\"/admin/services/%" PRId64 "/retry\"", id);
    assert_has(body, want);
    assert_has(body, "<td>422</td>");
    free(body);

    /* After the fix, Retry provisions it. */
    r = bb_apif("PATCH", "{\"config\":" GAME_CONFIG "}", "/api/admin/products/%" PRId64, p);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    char path[128], form[200];
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/retry", id);
    snprintf(form, sizeof form, "csrf_token=%s", C->csrf);
    loc = post_303(path, form);
    body = page(loc, 200);
    assert_has(body, "Retry queued (job #");
    free(body);
    free(loc);
    wait_status(id, "active");
}

/* Delivers a Stripe event signed with the webhook secret; expects 200. */
static void deliver_stripe(const char *body)
{
    char url[128], hdr[STRIPE_SIG_HEADER_LEN], sig[STRIPE_SIG_HEADER_LEN + 32];
    assert_int_equal(stripe_sign(WHSEC, body, strlen(body), (int64_t)time(NULL), hdr, sizeof hdr),
                     0);
    snprintf(sig, sizeof sig, "Stripe-Signature: %s", hdr);
    snprintf(url, sizeof url, "%s/api/stripe/webhook", bb_base_url());
    const char *headers[] = {"Content-Type: application/json", sig, NULL};
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        fail_msg("webhook: no answer");
    if (r.status != 200)
        fail_msg("webhook: %ld %s", r.status, buf_cstr(&r.body));
    http_result_free(&r);
}

static void webhook_events_page_shows_deliveries(void **state)
{
    struct http_result r = bb_api("GET", "/api/admin/invoices?limit=1", NULL);
    assert_int_equal(r.status, 200);
    int64_t inv = json_integer_value(
        json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "id"));
    http_result_free(&r);
    assert_true(inv > 0);

    char ev[1024];
    int64_t now = (int64_t)time(NULL);
    snprintf(
        ev, sizeof ev,
        "{\"id\":\"evt_pages_failed_1\",\"object\":\"event\",\"type\":\"payment_intent.payment_"
        "failed\","
        "\"created\":%" PRId64 ",\"livemode\":false,\"data\":{\"object\":{\"id\":\"pi_pages_1\","
        "\"object\":\"payment_intent\",\"amount\":2000,\"currency\":\"usd\","
        "\"metadata\":{\"invoice_id\":\"%" PRId64 "\"},\"last_payment_error\":{\"type\":"
        "\"card_error\",\"code\":\"card_declined\",\"message\":\"Your card was declined.\"}}}}",
        now, inv);
    deliver_stripe(ev);
    snprintf(ev, sizeof ev,
             "{\"id\":\"evt_pages_markup_2\",\"object\":\"event\",\"type\":\"<script>alert(3)</"
             "script>\","
             "\"created\":%" PRId64 ",\"livemode\":false,\"data\":{\"object\":{\"id\":\"x_1\"}}}",
             now);
    deliver_stripe(ev);

    r = bb_api("GET", "/api/admin/webhook-events", NULL);
    assert_int_equal(r.status, 200);
    const json_t *rows = json_object_get(r.json, "data");
    assert_int_equal(json_array_size(rows), 2);
    char *body = page("/admin/webhook-events", 200);
    const json_t *row;
    size_t i;
    char esc[1024], want[300];
    json_array_foreach(rows, i, row)
    {
        snprintf(want, sizeof want, "<tr class=\"event-row\" data-id=\"%" PRId64 "\">",
                 (int64_t)json_integer_value(json_object_get(row, "id")));
        assert_has(body, want);
        assert_has(body, bb_str(row, "event_id"));
        assert_has(body, bb_str(row, "received_at"));
        snprintf(want, sizeof want, "\">%s</span>", bb_str(row, "status"));
        assert_has(body, want);
        html_escape(bb_str(row, "error"), esc, sizeof esc);
        assert_has(body, esc);
    }
    http_result_free(&r);
    assert_has(body, "payment_intent.payment_failed");
    assert_has(body, "&lt;script&gt;alert(3)&lt;/script&gt;");
    assert_lacks(body, "<script>alert");
    assert_has(body, "<td>stripe</td>");
    free(body);

    /* Filters: PayPal has none; the ignored one alone. */
    body = page("/admin/webhook-events?gateway=paypal", 200);
    assert_lacks(body, "evt_pages_failed_1");
    assert_has(body, "No webhook events match.");
    assert_has(body, "<option value=\"paypal\" selected>");
    free(body);
    body = page("/admin/webhook-events?gateway=stripe&status=ignored", 200);
    assert_has(body, "evt_pages_markup_2");
    assert_lacks(body, "evt_pages_failed_1");
    free(body);
}

static void bad_parameters_and_unknown_ids(void **state)
{
    static const char *const bad[] = {"/admin/services?status=sleeping",
                                      "/admin/services?cursor=abc",
                                      "/admin/jobs?status=lost",
                                      "/admin/jobs?cursor=-1",
                                      "/admin/webhook-events?gateway=bitcoin",
                                      "/admin/webhook-events?status=maybe",
                                      "/admin/webhook-events?cursor=x",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *body = page(bad[i], 400);
        assert_has(body, "must be");
        free(body);
    }
    char *body = page("/admin/services/999999", 404);
    assert_has(body, "not found");
    free(body);
    body = page("/admin/services/abc", 404);
    free(body);
    char form[200];
    snprintf(form, sizeof form, "csrf_token=%s&reason=manual", C->csrf);
    struct http_result r = as_admin("POST", "/admin/services/999999/suspend", form);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    /* A suspend reason outside the domain's list is refused with its message. */
    char path[128];
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/unsuspend", C->service_id);
    snprintf(form, sizeof form, "csrf_token=%s", C->csrf);
    free(post_303(path, form));
    wait_status(C->service_id, "active");
    snprintf(path, sizeof path, "/admin/services/%" PRId64 "/suspend", C->service_id);
    snprintf(form, sizeof form, "csrf_token=%s&reason=sleepy", C->csrf);
    char *loc = post_303(path, form);
    body = page(loc, 200);
    assert_has(body, "reason must be one of overdue, manual, abuse, dispute");
    free(body);
    free(loc);

    /* Paging: one page per status link keeps working (cursor from the page's link). */
    body = page("/admin/services?cursor=1", 200);
    assert_has(body, "First page");
    free(body);
}

static void service_list_pages_by_keyset(void **state)
{
    /* 51 pending services (manual setup): more than one page of 50 under ?status=pending. */
    char body_json[128];
    snprintf(body_json, sizeof body_json, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}",
             C->client_id, C->manual_product_id);
    int64_t first = 0, last = 0;
    for (int i = 0; i < 51; i++) {
        int64_t id = bb_create_ok("/api/admin/services", body_json);
        if (first == 0)
            first = id;
        last = id;
    }
    char *body = page("/admin/services?status=pending", 200);
    char want[200], next[200];
    assert_int_equal(browse_count(body, "<tr class=\"service-row\""), 50);
    snprintf(want, sizeof want, "data-id=\"%" PRId64 "\"", first);
    assert_has(body, want);
    snprintf(want, sizeof want, "data-id=\"%" PRId64 "\"", last);
    assert_lacks(body, want);
    assert_lacks(body, "badge-active\">active<");
    assert_true(browse_attr_after(body, "<a rel=\"next\" href=\"", next, sizeof next));
    browse_unescape_url(next);
    assert_true(str_starts_with(next, "/admin/services?status=pending&cursor="));
    free(body);

    body = page(next, 200);
    snprintf(want, sizeof want, "data-id=\"%" PRId64 "\"", last);
    assert_has(body, want);
    snprintf(want, sizeof want, "data-id=\"%" PRId64 "\"", first);
    assert_lacks(body, want);
    assert_lacks(body, "rel=\"next\"");
    assert_has(body, "<a href=\"/admin/services?status&#61;pending\">First page</a>");
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_redirects_to_login_without_a_session),
        cmocka_unit_test(order_form_refuses_bad_input_and_escapes_it),
        cmocka_unit_test(order_through_the_form_is_provisioned_and_shown),
        cmocka_unit_test(suspend_button_needs_csrf_and_reaches_the_panel),
        cmocka_unit_test(provision_button_provisions_a_manual_service),
        cmocka_unit_test(failed_job_is_listed_with_its_reason),
        cmocka_unit_test(webhook_events_page_shows_deliveries),
        cmocka_unit_test(bad_parameters_and_unknown_ids),
        cmocka_unit_test(service_list_pages_by_keyset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
