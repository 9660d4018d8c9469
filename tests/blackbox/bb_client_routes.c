/*
 * bb_client_routes.c — the client side's two promises, checked on EVERY route
 * of the client area and the client API, read from the route table that
 * `lumi serve` itself serves (lumi_routes), so that a route added later is
 * covered without anyone remembering to add it here:
 *
 *   1. Another client's service or invoice answers 404 — exactly like one that
 *      does not exist — on every route with an {id}, for every method, with a
 *      valid session and CSRF token (a 403 would tell that it exists, a 2xx
 *      would be a leak or worse). A route with an {id} whose kind this test
 *      does not know fails the test: teach it the new kind.
 *   2. Every write (POST, PATCH, DELETE) made with a client's session cookie
 *      but without the CSRF token is refused with 403 and changes nothing
 *      (the audit trail does not grow), except the forms used before a
 *      session exists, which have their own login CSRF cookie and are
 *      checked the same way without it.
 *
 * Client A owns an active service (on the fake Pterodactyl) and its paid
 * invoice; client B owns nothing. Both are logged in through the pages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "fakes/fake_pterodactyl.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/testdb.h"
#include "web/routes.h"

#define SECRET_KEY "4b1d6c3e2f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "client-routes-admin-pass"
#define PTERO_KEY "ptla_ClientRoutesKey0123456789abcdefABCDEFgh"
#define A_EMAIL "alice@example.com"
#define B_EMAIL "bob@example.com"
#define PASSWORD "client-routes-pass-123"
#define CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"

struct ctx {
    struct fake_ptero *ptero;
    int64_t a_service, a_invoice;
    char a[200], b[200]; /* "lumi_client_session=…" */
    char a_csrf[80], b_csrf[80];
};

static struct ctx *C;

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool client_route(const struct web_route *r)
{
    return starts(r->pattern, "/client/") || starts(r->pattern, "/api/client/");
}

static bool is_write(const struct web_route *r)
{
    return strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
}

/* The id of A's resource that the {id} of pattern names, or 0 when this test does not know it. */
static int64_t id_for(const char *pattern)
{
    if (strstr(pattern, "/services/{id}") != NULL)
        return C->a_service;
    if (strstr(pattern, "/invoices/{id}") != NULL)
        return C->a_invoice;
    return 0;
}

/* pattern with {id} replaced by id. */
static void fill(const char *pattern, int64_t id, char *out, size_t sz)
{
    const char *at = strstr(pattern, "{id}");
    if (at == NULL) {
        snprintf(out, sz, "%s", pattern);
        return;
    }
    snprintf(out, sz, "%.*s%" PRId64 "%s", (int)(at - pattern), pattern, id, at + 4);
}

/*
 * One request with a client's session cookie: for the API a JSON body and
 * (csrf non-NULL) the X-CSRF-Token header; for pages a form with (csrf
 * non-NULL) the csrf_token field.
 */
static struct http_result as_client(const char *cookie, const char *csrf, const char *method,
                                    const char *path)
{
    char url[400], c[256], x[128], form[128];
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    snprintf(c, sizeof c, "Cookie: %s", cookie);
    struct http_result r;
    if (starts(path, "/api/")) {
        snprintf(x, sizeof x, "X-CSRF-Token: %s", csrf != NULL ? csrf : "");
        const char *headers[] = {c, "Content-Type: application/json", csrf != NULL ? x : NULL,
                                 NULL};
        const char *body = strcmp(method, "GET") == 0 ? NULL : "{}";
        if (http_request(method, url, headers, body, &r) != 0)
            fail_msg("%s %s: no answer", method, path);
        return r;
    }
    if (strcmp(method, "GET") == 0)
        return browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    snprintf(form, sizeof form, "csrf_token=%s", csrf != NULL ? csrf : "");
    return browse(bb_base_url(), method, path, cookie, form, NULL);
}

static int setup(void **state)
{
    char body[600];
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "client-routes-test");
    bb_serve();
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    int64_t server = bb_create_ok("/api/admin/servers", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Game\",\"type\":\"game_server\",\"group\":\"games\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"server_id\":%" PRId64
             ",\"autosetup\":\"order\",\"config\":" CONFIG "}",
             server);
    int64_t product = bb_create_ok("/api/admin/products", body);
    int64_t a = bb_create_ok("/api/admin/clients", "{\"email\":\"" A_EMAIL
                                                   "\",\"password\":\"" PASSWORD
                                                   "\",\"first_name\":\"Alice\"}");
    bb_create_ok("/api/admin/clients",
                 "{\"email\":\"" B_EMAIL "\",\"password\":\"" PASSWORD "\",\"first_name\":\"Bob\"}");
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}", a,
             product);
    json_t *s = bb_json("POST", body, 201, "/api/admin/services");
    C->a_service = bb_int(s, "id");
    C->a_invoice = bb_int(s, "invoice_id");
    json_decref(s);
    /* A's service runs (so that every action would be allowed to A). */
    for (int i = 0; i < 300; i++) {
        json_t *svc = bb_json("GET", NULL, 200, "/api/admin/services/%" PRId64, C->a_service);
        bool active = strcmp(bb_str(svc, "status"), "active") == 0;
        json_decref(svc);
        if (active)
            break;
        if (i == 299)
            fail_msg("service %" PRId64 " never became active", C->a_service);
        bb_sleep_ms(100);
    }
    if (browse_login(bb_base_url(), "client", A_EMAIL, PASSWORD, C->a, sizeof C->a) != 303 ||
        browse_login(bb_base_url(), "client", B_EMAIL, PASSWORD, C->b, sizeof C->b) != 303)
        fail_msg("client login failed");
    browse_csrf(bb_base_url(), C->a, "/client", C->a_csrf);
    browse_csrf(bb_base_url(), C->b, "/client", C->b_csrf);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

static void another_clients_ids_answer_404_on_every_route(void **state)
{
    (void)state;
    char path[300];
    int checked = 0;
    for (const struct web_route *r = lumi_routes(); r->method != NULL; r++) {
        if (!client_route(r) || strstr(r->pattern, "{id}") == NULL)
            continue;
        int64_t id = id_for(r->pattern);
        if (id == 0)
            fail_msg("%s %s: an {id} this test does not know; teach id_for() its kind", r->method,
                     r->pattern);
        fill(r->pattern, id, path, sizeof path);
        int64_t audit_before = bb_count("SELECT COUNT(*) FROM audit_log");
        struct http_result res = as_client(C->b, C->b_csrf, r->method, path);
        if (res.status != 404)
            fail_msg("%s %s as another client: want 404, got %ld %s", r->method, path, res.status,
                     buf_cstr(&res.body));
        http_result_free(&res);
        if (is_write(r) && bb_count("SELECT COUNT(*) FROM audit_log") != audit_before)
            fail_msg("%s %s as another client changed something", r->method, path);
        /* The owner reaches the same GET: the id was the right kind. */
        if (!is_write(r)) {
            res = as_client(C->a, C->a_csrf, "GET", path);
            if (res.status == 404)
                fail_msg("GET %s as its owner: 404 (the test filled in the wrong id)", path);
            http_result_free(&res);
        }
        checked++;
    }
    print_message("%d client routes with an id answered 404 to another client\n", checked);
    assert_true(checked >= 20);
}

/* Forms used before a session exists: their CSRF is the login cookie's, not the session's. */
static bool pre_session(const char *pattern)
{
    static const char *const list[] = {"/client/login",
                                       "/client/signup",
                                       "/client/verify",
                                       "/client/password-reset",
                                       "/client/password-reset/confirm",
                                       "/client/login/code",
                                       "/api/client/login",
                                       "/api/client/login/code",
                                       "/api/client/signup",
                                       "/api/client/verify",
                                       "/api/client/password-reset",
                                       "/api/client/password-reset/confirm",
                                       NULL};
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(pattern, list[i]) == 0)
            return true;
    return false;
}

static void every_client_write_without_the_csrf_token_is_refused(void **state)
{
    (void)state;
    char path[300];
    int checked = 0;
    for (const struct web_route *r = lumi_routes(); r->method != NULL; r++) {
        if (!client_route(r) || !is_write(r))
            continue;
        /* The JSON API before a session: no cookie grants anything, so there is nothing
         * to forge (the page forms of the same steps are checked below). */
        if (starts(r->pattern, "/api/") && pre_session(r->pattern))
            continue;
        int64_t id = strstr(r->pattern, "{id}") != NULL ? id_for(r->pattern) : 0;
        if (strstr(r->pattern, "{id}") != NULL && id == 0)
            fail_msg("%s %s: an {id} this test does not know; teach id_for() its kind", r->method,
                     r->pattern);
        fill(r->pattern, id, path, sizeof path);
        int64_t audit_before = bb_count("SELECT COUNT(*) FROM audit_log");
        /* The owner's own resource, the owner's session cookie, no token. */
        struct http_result res = as_client(C->a, NULL, r->method, path);
        if (res.status != 403)
            fail_msg("%s %s without the CSRF token: want 403, got %ld %s", r->method, path,
                     res.status, buf_cstr(&res.body));
        http_result_free(&res);
        if (bb_count("SELECT COUNT(*) FROM audit_log") != audit_before)
            fail_msg("%s %s without the CSRF token changed something", r->method, path);
        checked++;
    }
    print_message("%d client writes refused without the CSRF token\n", checked);
    assert_true(checked >= 20);
    /* The session still works: the refusals were about the token, not the cookie. */
    struct http_result res = as_client(C->a, C->a_csrf, "GET", "/api/client/services");
    assert_int_equal(res.status, 200);
    http_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(another_clients_ids_answer_404_on_every_route),
        cmocka_unit_test(every_client_write_without_the_csrf_token_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
