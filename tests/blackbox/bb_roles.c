/*
 * bb_roles.c — staff roles (issue 16) against the real `lumi serve`:
 *   - the route × role matrix, generated from the route tables
 *     (web_api_routes' admin routes and staff-callable payment links, and
 *     every admin page): each route is
 *     called with a token (API) or a session (pages) of each role, path
 *     parameters filled with existing ids, and must answer 403 exactly where
 *     EXPECTED below says the role is denied. A route missing from EXPECTED
 *     fails the test, so whoever adds a route decides who may use it;
 *   - the navigation shows only what the role can open, the header its role;
 *   - /api/admin/staff: create with a role, change it (effective on the next
 *     request of the member's token), disable; audited with the acting
 *     admin; the last active admin can be neither demoted nor disabled.
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
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "web/server.h"

#define SECRET_KEY "5d1c2e3f4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "owner@example.com"
#define PASSWORD "Quiet-Meadow-Falcon-73"

extern const struct web_route web_api_routes[];
extern const struct web_route web_admin_routes[];

/* The roles of the matrix; bit is WEB_ROLE_*. */
enum { R_ADMIN, R_BILLING, R_SUPPORT, R_READONLY, N_ROLES };
static const char *const ROLE_NAME[N_ROLES] = {"admin", "billing", "support", "readonly"};
static const unsigned ROLE_BIT[N_ROLES] = {WEB_ROLE_ADMIN, WEB_ROLE_BILLING, WEB_ROLE_SUPPORT,
                                           WEB_ROLE_READONLY};

#define S WEB_ROLES_STAFF
#define B WEB_ROLE_BILLING
#define SU WEB_ROLE_SUPPORT
#define RO WEB_ROLE_READONLY
#define ADMIN_ONLY 0u
#define PUBLIC 0x100u /* needs no staff session at all: not called */

/* Who besides admins may use each route: the specification the tables must meet. */
struct expect {
    const char *method, *pattern;
    unsigned roles;
};

static const struct expect EXPECTED[] = {
    /* JSON API (WEB_AUTH_ADMIN routes) */
    {"POST", "/api/admin/logout", S},
    {"GET", "/api/admin/me", S},
    {"GET", "/api/admin/audit-logs", ADMIN_ONLY},
    {"GET", "/api/admin/clients", S},
    {"POST", "/api/admin/clients", B},
    {"GET", "/api/admin/clients/{id}", S},
    {"PATCH", "/api/admin/clients/{id}", B},
    {"GET", "/api/admin/products", S},
    {"POST", "/api/admin/products", ADMIN_ONLY},
    {"GET", "/api/admin/products/{id}", S},
    {"PATCH", "/api/admin/products/{id}", ADMIN_ONLY},
    {"DELETE", "/api/admin/products/{id}", ADMIN_ONLY},
    {"GET", "/api/admin/servers", S},
    {"POST", "/api/admin/servers", ADMIN_ONLY},
    {"POST", "/api/admin/servers/test", ADMIN_ONLY},
    {"GET", "/api/admin/servers/{id}", S},
    {"PATCH", "/api/admin/servers/{id}", ADMIN_ONLY},
    {"DELETE", "/api/admin/servers/{id}", ADMIN_ONLY},
    {"POST", "/api/admin/servers/{id}/test", SU},
    {"GET", "/api/admin/services", S},
    {"POST", "/api/admin/services", B},
    {"GET", "/api/admin/services/{id}", S},
    {"POST", "/api/admin/services/{id}/provision", SU},
    {"POST", "/api/admin/services/{id}/suspend", B | SU},
    {"POST", "/api/admin/services/{id}/unsuspend", B | SU},
    {"POST", "/api/admin/services/{id}/terminate", ADMIN_ONLY},
    {"POST", "/api/admin/services/{id}/retry", SU},
    {"GET", "/api/admin/invoices", S},
    {"POST", "/api/admin/invoices", B},
    {"GET", "/api/admin/invoices/{id}", S},
    {"POST", "/api/admin/invoices/{id}/payments", B},
    {"POST", "/api/admin/invoices/{id}/cancel", B},
    {"GET", "/api/admin/emails", B | SU},
    {"GET", "/api/admin/emails/{id}", B | SU},
    {"POST", "/api/admin/emails/{id}/resend", B | SU},
    {"GET", "/api/admin/jobs", S},
    {"GET", "/api/admin/jobs/{id}", S},
    {"GET", "/api/admin/webhook-events", B},
    {"GET", "/api/admin/webhook-events/{id}", B},
    {"GET", "/api/admin/invoices/{id}/pdf", S},
    {"GET", "/api/admin/credit-notes/{id}/pdf", S},
    {"GET", "/api/admin/reports", B | RO},
    {"GET", "/api/admin/settings", ADMIN_ONLY},
    {"PATCH", "/api/admin/settings", ADMIN_ONLY},
    {"POST", "/api/admin/clients/{id}/verify", B | SU},
    {"POST", "/api/admin/clients/{id}/resend-verification", B | SU},
    {"GET", "/api/admin/cancellations", S},
    {"POST", "/api/admin/cancellations/{id}/reject", B | SU},
    {"GET", "/api/admin/tax-rules", S},
    {"POST", "/api/admin/tax-rules", B},
    {"GET", "/api/admin/tax-rules/{id}", S},
    {"PATCH", "/api/admin/tax-rules/{id}", B},
    {"DELETE", "/api/admin/tax-rules/{id}", B},
    {"GET", "/api/admin/clients/{id}/credit", S},
    {"POST", "/api/admin/clients/{id}/credit", B},
    {"POST", "/api/admin/invoices/{id}/apply-credit", B},
    {"GET", "/api/admin/coupons", S},
    {"POST", "/api/admin/coupons", B},
    {"GET", "/api/admin/coupons/{id}", S},
    {"PATCH", "/api/admin/coupons/{id}", B},
    {"DELETE", "/api/admin/coupons/{id}", B},
    {"POST", "/api/admin/invoices/{id}/credit-notes", B},
    {"GET", "/api/admin/credit-notes", S},
    {"GET", "/api/admin/credit-notes/{id}", S},
    {"GET", "/api/admin/status", S},
    {"GET", "/api/admin/staff", ADMIN_ONLY},
    {"POST", "/api/admin/staff", ADMIN_ONLY},
    {"PATCH", "/api/admin/staff/{id}", ADMIN_ONLY},
    {"GET", "/api/admin/tokens", ADMIN_ONLY},
    {"POST", "/api/admin/tokens", ADMIN_ONLY},
    {"GET", "/api/admin/tokens/{id}", ADMIN_ONLY},
    {"POST", "/api/admin/tokens/{id}/revoke", ADMIN_ONLY},
    {"DELETE", "/api/admin/tokens/{id}", ADMIN_ONLY},
    /* Outgoing events: endpoint URLs and secrets are an admin's business */
    {"GET", "/api/admin/webhook-endpoints", ADMIN_ONLY},
    {"POST", "/api/admin/webhook-endpoints", ADMIN_ONLY},
    {"GET", "/api/admin/webhook-endpoints/{id}", ADMIN_ONLY},
    {"PATCH", "/api/admin/webhook-endpoints/{id}", ADMIN_ONLY},
    {"DELETE", "/api/admin/webhook-endpoints/{id}", ADMIN_ONLY},
    {"GET", "/api/admin/webhook-endpoints/{id}/deliveries", ADMIN_ONLY},
    {"POST", "/api/admin/webhook-endpoints/{id}/test", ADMIN_ONLY},
    {"POST", "/api/stripe/checkout", B},
    {"POST", "/api/paypal/checkout", B},

    /* Admin pages */
    {"GET", "/static/{name}", PUBLIC},
    {"GET", "/admin/login", PUBLIC},
    {"POST", "/admin/login", PUBLIC},
    {"POST", "/admin/logout", S},
    {"GET", "/admin/login/code", PUBLIC},
    {"POST", "/admin/login/code", PUBLIC},
    {"GET", "/admin/servers", S},
    {"GET", "/admin/servers/new", ADMIN_ONLY},
    {"POST", "/admin/servers", ADMIN_ONLY},
    {"GET", "/admin/servers/{id}/edit", ADMIN_ONLY},
    {"POST", "/admin/servers/{id}", ADMIN_ONLY},
    {"POST", "/admin/servers/{id}/test", SU},
    {"POST", "/admin/servers/{id}/delete", ADMIN_ONLY},
    {"POST", "/admin/servers/{id}/activate", ADMIN_ONLY},
    {"POST", "/admin/servers/{id}/deactivate", ADMIN_ONLY},
    {"GET", "/admin/audit-logs", ADMIN_ONLY},
    {"GET", "/admin/audit-logs/{id}", ADMIN_ONLY},
    {"GET", "/admin/account", S},
    {"POST", "/admin/account/totp", S},
    {"GET", "/admin/account/totp", S},
    {"POST", "/admin/account/totp/confirm", S},
    {"POST", "/admin/account/totp/disable", S},
    {"GET", "/admin/clients", S},
    {"GET", "/admin/clients/new", B},
    {"POST", "/admin/clients", B},
    {"GET", "/admin/clients/{id}", S},
    {"GET", "/admin/clients/{id}/edit", B},
    {"POST", "/admin/clients/{id}", B},
    {"POST", "/admin/clients/{id}/verify", B | SU},
    {"POST", "/admin/clients/{id}/resend-verification", B | SU},
    {"GET", "/admin/products", S},
    {"GET", "/admin/products/new", ADMIN_ONLY},
    {"POST", "/admin/products", ADMIN_ONLY},
    {"GET", "/admin/products/{id}/edit", ADMIN_ONLY},
    {"POST", "/admin/products/{id}", ADMIN_ONLY},
    {"POST", "/admin/products/{id}/delete", ADMIN_ONLY},
    {"GET", "/admin", S},
    {"GET", "/admin/invoices", S},
    {"GET", "/admin/invoices/new", B},
    {"POST", "/admin/invoices", B},
    {"GET", "/admin/invoices/{id}", S},
    {"POST", "/admin/invoices/{id}/payments", B},
    {"POST", "/admin/invoices/{id}/cancel", B},
    {"GET", "/admin/reports", B | RO},
    {"GET", "/admin/services", S},
    {"GET", "/admin/services/new", B},
    {"POST", "/admin/services", B},
    {"GET", "/admin/services/{id}", S},
    {"POST", "/admin/services/{id}/provision", SU},
    {"POST", "/admin/services/{id}/suspend", B | SU},
    {"POST", "/admin/services/{id}/unsuspend", B | SU},
    {"POST", "/admin/services/{id}/terminate", ADMIN_ONLY},
    {"POST", "/admin/services/{id}/retry", SU},
    {"GET", "/admin/jobs", S},
    {"GET", "/admin/webhook-events", B},
    {"GET", "/admin/webhook-events/{id}", B},
    {"GET", "/admin/emails", B | SU},
    {"GET", "/admin/emails/{id}", B | SU},
    {"GET", "/admin/emails/{id}/html", B | SU},
    {"POST", "/admin/emails/{id}/resend", B | SU},
    {"GET", "/admin/settings", ADMIN_ONLY},
    {"POST", "/admin/settings", ADMIN_ONLY},
    {"GET", "/admin/cancellations", S},
    {"POST", "/admin/cancellations/{id}/reject", B | SU},
    {"GET", "/admin/tax-rules", S},
    {"POST", "/admin/tax-rules", B},
    {"GET", "/admin/tax-rules/{id}/edit", B},
    {"POST", "/admin/tax-rules/{id}", B},
    {"POST", "/admin/tax-rules/{id}/delete", B},
    {"POST", "/admin/clients/{id}/credit", B},
    {"POST", "/admin/invoices/{id}/apply-credit", B},
    {"GET", "/admin/coupons", S},
    {"POST", "/admin/coupons", B},
    {"POST", "/admin/coupons/{id}/deactivate", B},
    {"POST", "/admin/coupons/{id}/delete", B},
    {"POST", "/admin/invoices/{id}/credit-notes", B},
    {"GET", "/admin/staff", ADMIN_ONLY},
    {"POST", "/admin/staff", ADMIN_ONLY},
    {"POST", "/admin/staff/{id}/role", ADMIN_ONLY},
    {"POST", "/admin/staff/{id}/disable", ADMIN_ONLY},
    {"POST", "/admin/staff/{id}/enable", ADMIN_ONLY},
    {"GET", "/admin/tokens", ADMIN_ONLY},
    {"POST", "/admin/tokens", ADMIN_ONLY},
    {"POST", "/admin/tokens/{id}/revoke", ADMIN_ONLY},
    {"GET", "/admin/webhooks", ADMIN_ONLY},
    {"POST", "/admin/webhooks", ADMIN_ONLY},
    {"GET", "/admin/webhooks/{id}", ADMIN_ONLY},
    {"POST", "/admin/webhooks/{id}", ADMIN_ONLY},
    {"POST", "/admin/webhooks/{id}/delete", ADMIN_ONLY},
    {"POST", "/admin/webhooks/{id}/test", ADMIN_ONLY},
};
#define N_EXPECTED (sizeof EXPECTED / sizeof EXPECTED[0])

/* One principal per role: its API token header, page session cookie and CSRF token. */
struct principal {
    char email[64];
    char auth[160];
    char cookie[256];
    char csrf[80];
};

/* Ids of existing rows, by the path segment before {id}. */
struct ids {
    int64_t client, product, server, service, invoice, tax_rule, coupon, credit_note, audit,
        staff_victim, token_victim;
};

static struct principal P[N_ROLES];
static struct ids I;

static char *token_for(const char *name, const char *email)
{
    struct lumi_run_result r;
    const char *argv[] = {"token", "create", name, "--user", email, NULL};
    bb_run_out(argv, NULL, &r);
    char *t = str_ndup(buf_cstr(&r.out), strcspn(buf_cstr(&r.out), "\n"));
    lumi_run_result_free(&r);
    return t;
}

static void make_principal(int role)
{
    struct principal *p = &P[role];
    if (role != R_ADMIN) {
        snprintf(p->email, sizeof p->email, "%s@example.com", ROLE_NAME[role]);
        const char *argv[] = {"admin", "create", p->email, "--role", ROLE_NAME[role], NULL};
        bb_run_ok(argv, PASSWORD "\n");
    }
    char *t = token_for(ROLE_NAME[role], p->email);
    snprintf(p->auth, sizeof p->auth, "Authorization: Bearer %s", t);
    free(t);
}

static int64_t admin_create(const char *path, const char *body)
{
    return bb_create_ok(path, body);
}

static void make_rows(void)
{
    I.client =
        admin_create("/api/admin/clients", "{\"email\":\"payer@example.com\","
                                           "\"first_name\":\"Pat\",\"last_name\":\"Payer\"}");
    /* A panel nobody answers for: creating it calls nothing; its jobs are never run. */
    I.server =
        admin_create("/api/admin/servers", "{\"name\":\"DA\",\"type\":\"directadmin\",\"url\":"
                                           "\"http://127.0.0.1:9\",\"username\":\"admin\","
                                           "\"password\":\"Panel-Password-1\"}");
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"Plan\",\"type\":\"hosting\",\"price\":1000,\"server_id\":%lld,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"autosetup\":\"never\","
             "\"config\":{\"package\":\"basic\"}}",
             (long long)I.server);
    I.product = admin_create("/api/admin/products", body);
    snprintf(body, sizeof body,
             "{\"client_id\":%lld,\"currency\":\"usd\",\"items\":[{\"description\":\"Work\","
             "\"quantity\":1,\"unit_amount\":500}]}",
             (long long)I.client);
    I.invoice = admin_create("/api/admin/invoices", body);
    I.tax_rule =
        admin_create("/api/admin/tax-rules", "{\"name\":\"VAT\",\"country\":\"DE\",\"rate\":1900}");
    I.coupon = admin_create("/api/admin/coupons",
                            "{\"code\":\"SPRING10\",\"kind\":\"percent\",\"value\":10}");
    snprintf(body, sizeof body,
             "{\"client_id\":%lld,\"product_id\":%lld,\"domain\":\"example.org\"}",
             (long long)I.client, (long long)I.product);
    I.service = admin_create("/api/admin/services", body);
    I.audit = bb_count("SELECT MAX(id) FROM audit_log");
    const char *victim[] = {"admin", "create", "victim@example.com", "--role", "support", NULL};
    bb_run_ok(victim, PASSWORD "\n");
    I.staff_victim = bb_count("SELECT id FROM users WHERE email = 'victim@example.com'");
    free(token_for("victim-token", "victim@example.com"));
    I.token_victim = bb_count("SELECT MAX(id) FROM api_tokens");
    I.credit_note = 999999;
}

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, PASSWORD, "ci");
    bb_serve();
    snprintf(P[R_ADMIN].email, sizeof P[R_ADMIN].email, "%s", ADMIN_EMAIL);
    for (int r = 0; r < N_ROLES; r++)
        make_principal(r);
    make_rows();
    for (int r = 0; r < N_ROLES; r++) {
        bb_admin_login(P[r].email, PASSWORD, P[r].cookie, sizeof P[r].cookie);
        browse_csrf(bb_base_url(), P[r].cookie, "/admin/account", P[r].csrf);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish() == 0 ? 0 : -1;
}

static const struct expect *expected_for(const struct web_route *r)
{
    for (size_t i = 0; i < N_EXPECTED; i++)
        if (str_eq(EXPECTED[i].method, r->method) && str_eq(EXPECTED[i].pattern, r->pattern))
            return &EXPECTED[i];
    return NULL;
}

/* The admin API (and the payment links staff may make); every admin page. The
 * client API is for clients: its handlers answer 403 to all staff. */
static bool in_matrix(const struct web_route *r, bool api)
{
    if (!api)
        return true;
    return r->auth == WEB_AUTH_ADMIN ||
           (r->auth == WEB_AUTH_USER && !str_starts_with(r->pattern, "/api/client/"));
}

/* The id for the {id} of pattern: the row of the resource named before it. */
static int64_t id_for(const char *pattern)
{
    static const struct {
        const char *prefix;
        const int64_t *id;
    } map[] = {
        {"/clients/", &I.client},      {"/products/", &I.product},
        {"/servers/", &I.server},      {"/services/", &I.service},
        {"/invoices/", &I.invoice},    {"/tax-rules/", &I.tax_rule},
        {"/coupons/", &I.coupon},      {"/credit-notes/", &I.credit_note},
        {"/audit-logs/", &I.audit},    {"/staff/", &I.staff_victim},
        {"/tokens/", &I.token_victim},
    };
    const char *at = strstr(pattern, "/{id}");
    for (size_t i = 0; at != NULL && i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i].prefix);
        if ((size_t)(at - pattern) + 1 >= n && strncmp(at + 1 - n, map[i].prefix, n) == 0)
            return *map[i].id;
    }
    return 999999; /* emails, jobs, webhook events, cancellations: none exist here */
}

static void fill_path(const char *pattern, char *out, size_t sz)
{
    const char *at = strstr(pattern, "{id}");
    if (at == NULL) {
        snprintf(out, sz, "%s", pattern);
        return;
    }
    snprintf(out, sz, "%.*s%lld%s", (int)(at - pattern), pattern, (long long)id_for(pattern),
             at + 4);
}

static bool is_logout(const struct web_route *r)
{
    return strstr(r->pattern, "/logout") != NULL;
}

/* Prints one mismatch between a route's answer and EXPECTED and counts it. */
static void report(int *wrong, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int *wrong, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    print_error("%s\n", line);
    (*wrong)++;
}

/* Calls route r as role; fails unless it answers as EXPECTED says. */
static void check_route(const struct web_route *r, bool api, int role, unsigned allowed,
                        int *checked, int *wrong)
{
    char path[256], form[160];
    const struct principal *p = &P[role];
    bool may = role == R_ADMIN || (allowed & ROLE_BIT[role]) != 0;
    bool write = !str_eq(r->method, "GET");
    fill_path(r->pattern, path, sizeof path);
    struct http_result res;
    if (api) {
        res = http_api(bb_base_url(), p->auth, r->method, path, write ? "{}" : NULL);
    } else {
        snprintf(form, sizeof form, "csrf_token=%s", p->csrf);
        res = browse(bb_base_url(), r->method, path, p->cookie, write ? form : NULL, NULL);
    }
    char *location = http_header(&res, "Location");
    /* Sent to log in: the session is gone (only a logout may do that). */
    bool to_login = location != NULL && strstr(location, "/admin/login") != NULL && !is_logout(r);
    free(location);
    const char *body = buf_cstr(&res.body);
    if (may && (res.status == 403 || res.status == 401 || to_login))
        report(wrong, "%s %s as %s answered %ld (%.200s): the role table allows it", r->method,
               path, ROLE_NAME[role], res.status, body);
    else if (!may && res.status != 403)
        report(wrong, "%s %s as %s answered %ld, not 403: the role table denies it", r->method,
               path, ROLE_NAME[role], res.status);
    else if (!may && api && !str_eq(http_error_code(&res), "forbidden"))
        report(wrong, "%s %s as %s: 403 without code forbidden", r->method, path, ROLE_NAME[role]);
    else if (!may && !api &&
             (strstr(body, "may not open this page") == NULL || strstr(body, "topnav") == NULL))
        report(wrong, "%s %s as %s: the 403 page does not say why or lacks the navigation",
               r->method, path, ROLE_NAME[role]);
    http_result_free(&res);
    (*checked)++;
}

/* Every in-scope route of table has an EXPECTED entry; every EXPECTED entry a route. */
static void table_is_complete(const struct web_route *table, bool api, int *missing)
{
    for (const struct web_route *r = table; r->method != NULL; r++) {
        if (in_matrix(r, api) && expected_for(r) == NULL) {
            print_error("route %s %s has no entry in bb_roles.c's EXPECTED: decide which "
                        "roles may use it\n",
                        r->method, r->pattern);
            (*missing)++;
        }
    }
}

static bool route_exists(const struct expect *e)
{
    const struct web_route *tables[] = {web_api_routes, web_admin_routes};
    for (size_t t = 0; t < 2; t++)
        for (const struct web_route *r = tables[t]; r->method != NULL; r++)
            if (str_eq(r->method, e->method) && str_eq(r->pattern, e->pattern))
                return true;
    return false;
}

static void every_route_is_in_the_role_table(void **state)
{
    (void)state;
    int missing = 0;
    table_is_complete(web_api_routes, true, &missing);
    table_is_complete(web_admin_routes, false, &missing);
    for (size_t i = 0; i < N_EXPECTED; i++)
        if (!route_exists(&EXPECTED[i])) {
            print_error("EXPECTED names %s %s, which is no route\n", EXPECTED[i].method,
                        EXPECTED[i].pattern);
            missing++;
        }
    assert_int_equal(missing, 0);
}

static void run_table(const struct web_route *table, bool api, int role, bool logouts, int *checked,
                      int *wrong)
{
    for (const struct web_route *r = table; r->method != NULL; r++) {
        const struct expect *e = expected_for(r);
        if (!in_matrix(r, api) || e == NULL || e->roles == PUBLIC || is_logout(r) != logouts)
            continue;
        check_route(r, api, role, e->roles, checked, wrong);
    }
}

static void each_role_gets_403_exactly_where_denied(void **state)
{
    (void)state;
    int checked = 0, wrong = 0;
    /* Admin last: its changes (deletes, revocations) then touch nobody's checks. */
    for (int role = N_ROLES - 1; role >= 0; role--) {
        run_table(web_api_routes, true, role, false, &checked, &wrong);
        run_table(web_admin_routes, false, role, false, &checked, &wrong);
    }
    for (int role = N_ROLES - 1; role >= 0; role--) { /* logouts end the sessions: at the end */
        run_table(web_api_routes, true, role, true, &checked, &wrong);
        run_table(web_admin_routes, false, role, true, &checked, &wrong);
    }
    print_message("route x role checks: %d, answers not as EXPECTED: %d\n", checked, wrong);
    assert_int_equal(wrong, 0);
    assert_true(checked > 400);
}

/* ---- navigation and staff management -------------------------------------- */

static struct http_result page_as(int role, const char *path)
{
    return browse(bb_base_url(), "GET", path, P[role].cookie, NULL, NULL);
}

static void the_navigation_shows_what_the_role_can_open(void **state)
{
    (void)state;
    struct http_result r = page_as(R_READONLY, "/admin");
    assert_int_equal(r.status, 200);
    const char *html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "readonly@example.com (readonly)"));
    assert_non_null(strstr(html, "href=\"/admin/invoices\""));
    assert_non_null(strstr(html, "href=\"/admin/reports\""));
    assert_null(strstr(html, "href=\"/admin/settings\""));
    assert_null(strstr(html, "href=\"/admin/audit-logs\""));
    assert_null(strstr(html, "href=\"/admin/staff\""));
    assert_null(strstr(html, "href=\"/admin/tokens\""));
    assert_null(strstr(html, "href=\"/admin/emails\""));
    http_result_free(&r);

    r = page_as(R_SUPPORT, "/admin");
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "(support)"));
    assert_non_null(strstr(html, "href=\"/admin/services\""));
    assert_non_null(strstr(html, "href=\"/admin/emails\""));
    assert_null(strstr(html, "href=\"/admin/reports\""));
    assert_null(strstr(html, "href=\"/admin/webhook-events\""));
    http_result_free(&r);

    r = page_as(R_ADMIN, "/admin");
    html = buf_cstr(&r.body);
    assert_non_null(strstr(html, "href=\"/admin/staff\""));
    assert_non_null(strstr(html, "href=\"/admin/tokens\""));
    assert_non_null(strstr(html, "href=\"/admin/settings\""));
    http_result_free(&r);
}

static int64_t staff_id_of(const char *email)
{
    return bb_count("SELECT id FROM users WHERE email = '%s'", email);
}

static void an_admin_manages_staff_and_roles_take_effect_at_once(void **state)
{
    (void)state;
    json_t *made = bb_json("POST",
                           "{\"email\":\"Clerk@Example.com\",\"role\":\"billing\","
                           "\"password\":\"Paper-Ledger-Willow-58\"}",
                           201, "/api/admin/staff");
    int64_t clerk = bb_int(made, "id");
    assert_string_equal(bb_str(made, "role"), "billing");
    json_decref(made);
    char *t = token_for("clerk", "clerk@example.com");
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t);
    free(t);

    /* The token acts as billing: may create a client, may not touch products. */
    struct http_result r = http_api(bb_base_url(), auth, "GET", "/api/admin/me", NULL);
    assert_string_equal(bb_str(r.json, "role"), "billing");
    http_result_free(&r);
    r = http_api(bb_base_url(), auth, "POST", "/api/admin/clients",
                 "{\"email\":\"new@example.com\",\"first_name\":\"N\",\"last_name\":\"C\"}");
    assert_int_equal(r.status, 201);
    http_result_free(&r);

    /* Demoted to readonly: the same token is refused the write on its next request. */
    json_decref(bb_json("PATCH", "{\"role\":\"readonly\"}", 200, "/api/admin/staff/%lld",
                        (long long)clerk));
    r = http_api(bb_base_url(), auth, "POST", "/api/admin/clients",
                 "{\"email\":\"new2@example.com\",\"first_name\":\"N\",\"last_name\":\"C\"}");
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "forbidden");
    assert_non_null(strstr(buf_cstr(&r.body), "readonly"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'STAFF_ROLE_CHANGED'"
                              " AND entity_id = '%lld' AND actor_type = 'api_token'"
                              " AND details LIKE '%%billing%%' AND details LIKE '%%readonly%%'",
                              (long long)clerk),
                     1);

    /* Disabled: its token stops working, audited. */
    json_decref(
        bb_json("PATCH", "{\"active\":false}", 200, "/api/admin/staff/%lld", (long long)clerk));
    r = http_api(bb_base_url(), auth, "GET", "/api/admin/me", NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(bb_audit_count("STAFF_DISABLED"), 1);

    /* A client is not staff; an unknown role is refused naming the field. */
    json_decref(
        bb_json("PATCH", "{\"role\":\"client\"}", 400, "/api/admin/staff/%lld", (long long)clerk));
    json_decref(bb_json("POST",
                        "{\"email\":\"x@example.com\",\"role\":\"owner\","
                        "\"password\":\"Paper-Ledger-Willow-58\"}",
                        400, "/api/admin/staff"));
}

static void the_last_active_admin_cannot_be_demoted_or_disabled(void **state)
{
    (void)state;
    int64_t owner = staff_id_of(ADMIN_EMAIL);
    json_t *e =
        bb_json("PATCH", "{\"role\":\"support\"}", 409, "/api/admin/staff/%lld", (long long)owner);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
               "last active admin"));
    json_decref(e);
    json_decref(
        bb_json("PATCH", "{\"active\":false}", 409, "/api/admin/staff/%lld", (long long)owner));
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE id = %lld AND role = 'admin'"
                              " AND status = 'active'",
                              (long long)owner),
                     1);

    /* With a second admin the first may step down; the page shows the new roles. */
    json_t *second = bb_json("POST",
                             "{\"email\":\"deputy@example.com\",\"role\":\"admin\","
                             "\"password\":\"Harbor-Signal-Maple-94\"}",
                             201, "/api/admin/staff");
    int64_t deputy = bb_int(second, "id");
    json_decref(second);
    json_decref(bb_json("PATCH", "{\"role\":\"support\"}", 200, "/api/admin/staff/%lld",
                        (long long)deputy));
    struct http_result r = page_as(R_ADMIN, "/admin/staff");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "deputy@example.com"));
    http_result_free(&r);
    /* …and through the page form: the deputy becomes admin again (audited as the page's user). */
    char form[256], path[64];
    snprintf(form, sizeof form, "csrf_token=%s&role=admin", P[R_ADMIN].csrf);
    snprintf(path, sizeof path, "/admin/staff/%lld/role", (long long)deputy);
    r = browse(bb_base_url(), "POST", path, P[R_ADMIN].cookie, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE id = %lld AND role = 'admin'",
                              (long long)deputy),
                     1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'STAFF_ROLE_CHANGED'"
                              " AND entity_id = '%lld' AND actor_email = '%s'",
                              (long long)deputy, ADMIN_EMAIL),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_is_in_the_role_table),
        cmocka_unit_test(the_navigation_shows_what_the_role_can_open),
        cmocka_unit_test(an_admin_manages_staff_and_roles_take_effect_at_once),
        cmocka_unit_test(the_last_active_admin_cannot_be_demoted_or_disabled),
        cmocka_unit_test(each_role_gets_403_exactly_where_denied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
