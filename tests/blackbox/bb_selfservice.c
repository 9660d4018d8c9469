/*
 * bb_selfservice.c — self-service on a running service through the real
 * binary (`lumi serve`, whose worker runs the jobs) against the fake
 * VirtFusion, DirectAdmin and Pterodactyl panels, over the client API
 * /api/client/services/… and the page /client/services/{id}:
 * the panel's address and login name for each panel type; single sign-on
 * URLs that come from the VirtFusion and DirectAdmin fakes (never audited
 * with their token); VirtFusion power actions that reach the fake, with its
 * answer shown; power on Pterodactyl refused clearly; the panel password
 * reset as a job whose new password works on the panel, is shown once and
 * is nowhere in plaintext (jobs, audit, reveals, mail); another client's
 * service answering 404 on every route; every form refusing a missing or
 * wrong CSRF token; a suspended service refusing the actions with 409.
 * Runs on SQLite and PostgreSQL.
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
#include "fakes/fake_directadmin.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_virtfusion.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"

#define SECRET_KEY "7a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_SelfServiceTestKey0123456789abcdefABCDEFg"
#define VF_TOKEN "vf-selfservice-token-0123456789"
#define DA_PASSWORD "Da-Admin-Pass-42"
#define ADMIN_EMAIL "self-admin@example.com"
#define ADMIN_PASSWORD "Self-Admin-Password-1"
#define A_EMAIL "ada@example.com"
#define A_PASSWORD "Ada-Client-Password-1"
#define B_EMAIL "bob@example.com"
#define B_PASSWORD "Bob-Client-Password-1"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
#define VF_CONFIG "{\"package_id\":1,\"hypervisor_group_id\":1}"
#define DA_CONFIG "{\"package\":\"basic\"}"
#define SETTLE_S 30
#define MISSING 987654

struct ctx {
    struct fake_vf *vf;
    struct fake_da *da;
    struct fake_ptero *ptero;
    int64_t a_id, b_id;
    int64_t vf_product, da_product, pt_product;
    int64_t a_vf, a_da, a_pt, b_vf; /* services */
    char a[512], b[512];            /* session cookies */
    char a_csrf[80], b_csrf[80];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int64_t create(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t create(const char *path, const char *fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return bb_create_ok(path, body);
}

static int64_t product(const char *name, const char *type, int64_t server, const char *config)
{
    return create("/api/admin/products",
                  "{\"name\":\"%s\",\"type\":\"%s\",\"price\":1000,\"currency\":\"usd\","
                  "\"billing_cycle\":\"monthly\",\"server_id\":%" PRId64
                  ",\"autosetup\":\"order\",\"config\":%s}",
                  name, type, server, config);
}

static int64_t order(int64_t client, int64_t product_id, const char *domain)
{
    return create("/api/admin/services",
                  "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 ",\"domain\":\"%s\"}",
                  client, product_id, domain);
}

/* Polls the service (admin API) until its status is want; answers it (caller decrefs). */
static json_t *wait_status(int64_t id, const char *want)
{
    for (int i = 0; i < SETTLE_S * 10; i++) {
        struct http_result r = bb_apif("GET", NULL, "/api/admin/services/%" PRId64, id);
        assert_int_equal(r.status, 200);
        if (strcmp(bb_str(r.json, "status"), want) == 0) {
            json_t *j = json_incref(r.json);
            http_result_free(&r);
            return j;
        }
        if (i == SETTLE_S * 10 - 1)
            fail_msg("service %" PRId64 " never became %s: %s", id, want, buf_cstr(&r.body));
        http_result_free(&r);
        bb_sleep_ms(100);
    }
    return NULL;
}

static void login_client(const char *email, const char *password, char *out, size_t sz)
{
    long st = browse_login(bb_base_url(), "client", email, password, out, sz);
    if (st != 303 || out[0] == '\0')
        fail_msg("client login of %s answered %ld", email, st);
}

/* A client API call with the session cookie (and its CSRF token unless csrf is NULL). */
static struct http_result capi(const char *cookie, const char *csrf, const char *method,
                               const char *body, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static struct http_result capi(const char *cookie, const char *csrf, const char *method,
                               const char *body, const char *fmt, ...)
{
    char path[256], url[512], ch[1024], xh[128];
    const char *headers[4];
    size_t n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    snprintf(ch, sizeof ch, "Cookie: %s", cookie);
    headers[n++] = ch;
    if (csrf != NULL) {
        snprintf(xh, sizeof xh, "X-CSRF-Token: %s", csrf);
        headers[n++] = xh;
    }
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    headers[n] = NULL;
    struct http_result r;
    if (http_request(method, url, headers, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

/* A form post of the client area with the given csrf_token (NULL: none) and extra fields. */
static struct http_result form_post(const char *cookie, const char *csrf, const char *path,
                                    const char *fields)
{
    char form[512];
    snprintf(form, sizeof form, "%s%s%s%s", csrf != NULL ? "csrf_token=" : "x=1",
             csrf != NULL ? csrf : "", fields != NULL ? "&" : "", fields != NULL ? fields : "");
    return browse(bb_base_url(), "POST", path, cookie, form, NULL);
}

static struct http_result page(const char *cookie, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/client/services/%" PRId64, id);
    return browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
}

static void assert_contains(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) == NULL)
        fail_msg("answer lacks \"%s\": %.2000s", needle, buf_cstr(&r->body));
}

static void assert_lacks(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) != NULL)
        fail_msg("answer contains \"%s\": %.2000s", needle, buf_cstr(&r->body));
}

/* The Location of a 303, copied into out. */
/* The flash cookie of the last redirect_of ("" when none), for follow(). */
static char pending_flash[2048];

/* The 303's Location into out (the message is never in it: issue 17); keeps its flash. */
static void redirect_of(const struct http_result *r, char *out, size_t sz)
{
    char *loc = http_header(r, "Location");
    if (r->status != 303 || loc == NULL)
        fail_msg("want a 303, got %ld: %.500s", r->status, buf_cstr(&r->body));
    str_copy(out, loc, sz);
    free(loc);
    if (out[0] == '/') /* Lumi's own pages: no message in the URL */
        assert_true(strstr(out, "ok=") == NULL && strstr(out, "error=") == NULL);
    if (!browse_set_cookie_value(r, "lumi_flash", pending_flash, sizeof pending_flash))
        pending_flash[0] = '\0';
}

/* GET loc as a browser following the redirect: cookie plus the flash it was given. */
static struct http_result follow(const char *loc, const char *cookie)
{
    char jar[3000];
    snprintf(jar, sizeof jar, "%s; lumi_flash=%s", cookie, pending_flash);
    pending_flash[0] = '\0';
    return browse(bb_base_url(), "GET", loc, jar, NULL, NULL);
}

static const char *error_message(const struct http_result *r)
{
    const char *m =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m != NULL ? m : "";
}

/* Audit rows of action whose details contain needle. */
static int64_t audit_with(const char *action, const char *needle)
{
    return bb_count("SELECT COUNT(*) FROM audit_log WHERE action = '%s' AND details LIKE '%%%s%%'",
                    action, needle);
}

/* ---- setup -------------------------------------------------------------- */

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->vf = fake_vf_start(VF_TOKEN);
    C->da = fake_da_start("admin", DA_PASSWORD);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "selfservice-test");
    bb_serve();

    int64_t vf = create("/api/admin/servers",
                        "{\"name\":\"VPS 1\",\"type\":\"virtfusion\",\"url\":\"%s\","
                        "\"api_key\":\"" VF_TOKEN "\"}",
                        fake_vf_url(C->vf));
    int64_t da =
        create("/api/admin/servers",
               "{\"name\":\"Web 1\",\"type\":\"directadmin\",\"url\":\"%s\","
               "\"username\":\"admin\",\"password\":\"" DA_PASSWORD "\",\"api_version\":\"v2\"}",
               fake_da_url(C->da));
    int64_t pt = create("/api/admin/servers",
                        "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\","
                        "\"api_key\":\"" PTERO_KEY "\"}",
                        fake_ptero_url(C->ptero));
    C->vf_product = product("VPS S", "vps", vf, VF_CONFIG);
    C->da_product = product("Web S", "hosting", da, DA_CONFIG);
    C->pt_product = product("Game S", "game_server", pt, GAME_CONFIG);
    C->a_id = create("/api/admin/clients", "{\"email\":\"" A_EMAIL "\",\"password\":\"" A_PASSWORD
                                           "\",\"first_name\":\"Ada\",\"last_name\":\"Lovelace\"}");
    C->b_id = create("/api/admin/clients", "{\"email\":\"" B_EMAIL "\",\"password\":\"" B_PASSWORD
                                           "\",\"first_name\":\"Bob\",\"last_name\":\"B\"}");
    C->a_vf = order(C->a_id, C->vf_product, "vps.ada.example.org");
    C->a_da = order(C->a_id, C->da_product, "ada.example.org");
    C->a_pt = order(C->a_id, C->pt_product, "mc.ada.example.org");
    C->b_vf = order(C->b_id, C->vf_product, "vps.bob.example.net");
    json_decref(wait_status(C->a_vf, "active"));
    json_decref(wait_status(C->a_da, "active"));
    json_decref(wait_status(C->a_pt, "active"));
    json_decref(wait_status(C->b_vf, "active"));

    login_client(A_EMAIL, A_PASSWORD, C->a, sizeof C->a);
    login_client(B_EMAIL, B_PASSWORD, C->b, sizeof C->b);
    /* The CSRF token from a page that reveals nothing. */
    browse_csrf(bb_base_url(), C->a, "/client", C->a_csrf);
    browse_csrf(bb_base_url(), C->b, "/client", C->b_csrf);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_vf_stop(C->vf);
    fake_da_stop(C->da);
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void check_panel(int64_t id, const char *type, const char *url, const char *username,
                        const char *login, bool power)
{
    struct http_result r = capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64, id);
    assert_int_equal(r.status, 200);
    json_t *p = json_object_get(r.json, "panel");
    assert_string_equal(bb_str(p, "type"), type);
    assert_string_equal(bb_str(p, "url"), url);
    assert_string_equal(bb_str(p, "username"), username);
    assert_string_equal(bb_str(p, "login"), login);
    assert_int_equal(json_is_true(json_object_get(p, "power")), power);
    assert_string_equal(bb_str(r.json, "status"), "active");
    assert_int_equal(bb_int(r.json, "client_id"), C->a_id);
    /* Never a secret, never the panel's internals. */
    assert_lacks(&r, "remote_key");
    assert_lacks(&r, "external_id");
    assert_lacks(&r, "password_enc");
    assert_lacks(&r, "last_error");
    assert_lacks(&r, VF_TOKEN);
    assert_lacks(&r, DA_PASSWORD);
    assert_lacks(&r, PTERO_KEY);
    http_result_free(&r);
}

static void login_info_for_each_panel_type(void **state)
{
    (void)state;
    json_t *da = wait_status(C->a_da, "active");
    json_t *pt = wait_status(C->a_pt, "active");
    char da_user[64], pt_user[64];
    str_copy(da_user, bb_str(da, "username"), sizeof da_user);
    str_copy(pt_user, bb_str(pt, "username"), sizeof pt_user);
    assert_true(strlen(da_user) > 0 && strlen(pt_user) > 0);
    json_decref(da);
    json_decref(pt);

    check_panel(C->a_vf, "virtfusion", fake_vf_url(C->vf), A_EMAIL, "sso", true);
    check_panel(C->a_da, "directadmin", fake_da_url(C->da), da_user, "sso", false);
    check_panel(C->a_pt, "pterodactyl", fake_ptero_url(C->ptero), pt_user, "panel", false);

    /* The list: the client's own three services, not Bob's. */
    struct http_result r = capi(C->a, NULL, "GET", NULL, "/api/client/services");
    assert_int_equal(r.status, 200);
    json_t *rows = json_object_get(r.json, "data");
    assert_int_equal(json_array_size(rows), 3);
    for (size_t i = 0; i < json_array_size(rows); i++)
        assert_int_equal(bb_int(json_array_get(rows, i), "client_id"), C->a_id);
    assert_lacks(&r, "vps.bob.example.net");
    http_result_free(&r);

    /* The page: address, login name, the right buttons, the cancel and upgrade links. */
    r = page(C->a, C->a_pt);
    assert_int_equal(r.status, 200);
    assert_contains(&r, fake_ptero_url(C->ptero));
    assert_contains(&r, pt_user);
    assert_contains(&r, "Log in to the panel");
    assert_contains(&r, "Reset panel password");
    assert_lacks(&r, "/power\"");
    char link[96];
    snprintf(link, sizeof link, "/client/services/%" PRId64 "/cancel", C->a_pt);
    assert_contains(&r, link);
    snprintf(link, sizeof link, "/client/services/%" PRId64 "/upgrade", C->a_pt);
    assert_contains(&r, link);
    http_result_free(&r);
    r = page(C->a, C->a_vf);
    assert_contains(&r, "Shut down");
    assert_contains(&r, "Restart");
    http_result_free(&r);

    /* A bearer token made for the client reaches the same answers. */
    const char *mk[] = {"token", "create", "ada-api", "--user", A_EMAIL, NULL};
    struct lumi_run_result run;
    bb_run_out(mk, NULL, &run);
    assert_int_equal(run.exit_code, 0);
    char token[256], auth[300];
    str_copy(token, buf_cstr(&run.out), sizeof token);
    token[strcspn(token, "\r\n")] = '\0';
    lumi_run_result_free(&run);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    r = http_api(bb_base_url(), auth, "GET", "/api/client/services", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 3);
    http_result_free(&r);

    /* Staff are not clients: these routes are refused to an admin token. */
    r = bb_apif("GET", NULL, "/api/client/services/%" PRId64, C->a_vf);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
}

static void sso_urls_come_from_virtfusion_and_directadmin(void **state)
{
    (void)state;
    char want[512], loc[1024], user[64];
    int64_t issued = bb_audit_count("SERVICE_SSO_ISSUED");

    size_t before = fake_vf_sso_count(C->vf);
    struct http_result r =
        capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64 "/login", C->a_vf);
    assert_int_equal(r.status, 200);
    assert_string_equal(bb_str(r.json, "kind"), "sso");
    snprintf(want, sizeof want, "%s/token_authentication?1=vfA", fake_vf_url(C->vf));
    assert_true(str_starts_with(bb_str(r.json, "url"), want));
    assert_int_equal(fake_vf_sso_count(C->vf), before + 1);
    http_result_free(&r);

    json_t *da = wait_status(C->a_da, "active");
    size_t da_before = fake_da_login_url_count(C->da, NULL, 0);
    r = capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64 "/login", C->a_da);
    assert_int_equal(r.status, 200);
    assert_string_equal(bb_str(r.json, "kind"), "sso");
    snprintf(want, sizeof want, "%s/api/login/url?key=OTK", fake_da_url(C->da));
    assert_true(str_starts_with(bb_str(r.json, "url"), want));
    assert_int_equal(fake_da_login_url_count(C->da, user, sizeof user), da_before + 1);
    assert_string_equal(user, bb_str(da, "username")); /* logs in the account, not the admin */
    json_decref(da);
    http_result_free(&r);

    /* Pterodactyl has no SSO: the panel's address. */
    r = capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64 "/login", C->a_pt);
    assert_int_equal(r.status, 200);
    assert_string_equal(bb_str(r.json, "kind"), "panel");
    assert_string_equal(bb_str(r.json, "url"), fake_ptero_url(C->ptero));
    http_result_free(&r);

    /* The page's button: a form post that 303s to the one-time URL. */
    char path[96];
    snprintf(path, sizeof path, "/client/services/%" PRId64 "/login", C->a_vf);
    r = form_post(C->a, C->a_csrf, path, NULL);
    redirect_of(&r, loc, sizeof loc);
    snprintf(want, sizeof want, "%s/token_authentication?1=", fake_vf_url(C->vf));
    assert_true(str_starts_with(loc, want));
    http_result_free(&r);

    assert_int_equal(bb_audit_count("SERVICE_SSO_ISSUED"), issued + 3);
    /* The token is not in the audit trail. */
    assert_int_equal(audit_with("SERVICE_SSO_ISSUED", "token_authentication"), 0);
    assert_int_equal(audit_with("SERVICE_SSO_ISSUED", "OTK"), 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'SERVICE_SSO_ISSUED'"
                              " AND actor_type = 'user' AND actor_id = '%" PRId64 "'",
                              C->a_id),
                     issued + 3);
}

static void power_reaches_virtfusion_and_its_answer_is_shown(void **state)
{
    (void)state;
    json_t *svc = wait_status(C->a_vf, "active");
    int64_t sid = 0;
    assert_int_equal(str_to_i64z(bb_str(svc, "external_id"), 1, INT64_MAX, &sid), 0);
    json_decref(svc);
    struct fake_vf_server s;

    struct http_result r = capi(C->a, C->a_csrf, "POST", "{\"action\":\"shutdown\"}",
                                "/api/client/services/%" PRId64 "/power", C->a_vf);
    assert_int_equal(r.status, 200);
    assert_string_equal(bb_str(r.json, "action"), "shutdown");
    assert_non_null(strstr(bb_str(r.json, "message"), "VirtFusion queued the shutdown as task"));
    http_result_free(&r);
    assert_true(fake_vf_server_by_id(C->vf, sid, &s));
    assert_string_equal(s.last_power, "shutdown");
    assert_string_equal(s.power, "stopped");

    /* From the page: the answer comes back as the notice. */
    char path[96], loc[1024];
    snprintf(path, sizeof path, "/client/services/%" PRId64 "/power", C->a_vf);
    r = form_post(C->a, C->a_csrf, path, "action=boot");
    redirect_of(&r, loc, sizeof loc);
    http_result_free(&r);
    assert_true(fake_vf_server_by_id(C->vf, sid, &s));
    assert_string_equal(s.last_power, "boot");
    assert_string_equal(s.power, "running");
    r = follow(loc, C->a);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "VirtFusion queued the boot as task");
    http_result_free(&r);

    /* A bad action: 400 naming it; the panel hears nothing. */
    r = capi(C->a, C->a_csrf, "POST", "{\"action\":\"explode\"}",
             "/api/client/services/%" PRId64 "/power", C->a_vf);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "action"));
    http_result_free(&r);
    r = capi(C->a, C->a_csrf, "POST", "{}", "/api/client/services/%" PRId64 "/power", C->a_vf);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    assert_true(fake_vf_server_by_id(C->vf, sid, &s));
    assert_string_equal(s.last_power, "boot");

    /* The panel refuses (locked by a running task): 502 with its words, audited as failed. */
    fake_vf_set_locked(C->vf, true);
    r = capi(C->a, C->a_csrf, "POST", "{\"action\":\"restart\"}",
             "/api/client/services/%" PRId64 "/power", C->a_vf);
    fake_vf_set_locked(C->vf, false);
    assert_int_equal(r.status, 502);
    assert_string_equal(http_error_code(&r), "upstream_error");
    assert_non_null(strstr(error_message(&r), "locked"));
    http_result_free(&r);
    assert_true(audit_with("SERVICE_POWER_FAILED", "locked") >= 1);

    assert_true(audit_with("SERVICE_POWER", "shutdown") >= 1);
    assert_true(audit_with("SERVICE_POWER", "queued the boot") >= 1);
}

static void power_on_pterodactyl_is_refused_clearly(void **state)
{
    (void)state;
    struct http_result r = capi(C->a, C->a_csrf, "POST", "{\"action\":\"restart\"}",
                                "/api/client/services/%" PRId64 "/power", C->a_pt);
    assert_int_equal(r.status, 409);
    assert_string_equal(http_error_code(&r), "conflict");
    assert_non_null(strstr(error_message(&r), "does not offer power actions"));
    http_result_free(&r);

    char path[96], loc[1024];
    snprintf(path, sizeof path, "/client/services/%" PRId64 "/power", C->a_pt);
    r = form_post(C->a, C->a_csrf, path, "action=restart");
    redirect_of(&r, loc, sizeof loc);
    http_result_free(&r);
    r = follow(loc, C->a);
    assert_contains(&r, "does not offer power actions");
    http_result_free(&r);
}

/* Polls the client's view until the latest reset has state want. */
static void wait_reset(int64_t id, const char *want)
{
    for (int i = 0; i < SETTLE_S * 10; i++) {
        struct http_result r = capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64, id);
        assert_int_equal(r.status, 200);
        const char *st = bb_str(json_object_get(r.json, "password_reset"), "state");
        bool done = st != NULL && strcmp(st, want) == 0;
        if (!done && i == SETTLE_S * 10 - 1)
            fail_msg("reset of %" PRId64 " never became %s: %s", id, want, buf_cstr(&r.body));
        http_result_free(&r);
        if (done)
            return;
        bb_sleep_ms(100);
    }
}

/* The password is nowhere in the database in plaintext, nor in any mail. */
static void assert_nowhere(const char *pw)
{
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%%%s%%'", pw), 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE args LIKE '%%%s%%'", pw), 0);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM password_reveals WHERE password_enc LIKE '%%%s%%'", pw), 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE password_enc LIKE '%%%s%%'", pw),
                     0);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM provision_attempts WHERE error LIKE '%%%s%%'", pw), 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails WHERE body_text LIKE '%%%s%%' OR "
                              "body_html LIKE '%%%s%%' OR subject LIKE '%%%s%%'",
                              pw, pw, pw),
                     0);
}

/* The password between <code class="mono"> and </code> on the page, into out. */
static bool shown_password(const struct http_result *r, char *out, size_t sz)
{
    const char *p = strstr(buf_cstr(&r->body), "password: <code class=\"mono revealed-password\">");
    if (p == NULL)
        return false;
    p += strlen("password: <code class=\"mono revealed-password\">");
    size_t n = strcspn(p, "<");
    assert_true(n > 0 && n < sz);
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static void password_reset_is_a_job_shown_once_and_never_stored_in_plaintext(void **state)
{
    (void)state;
    json_t *da = wait_status(C->a_da, "active");
    char user[64], pw[160], path[96], loc[1024];
    str_copy(user, bb_str(da, "username"), sizeof user);
    json_decref(da);
    int64_t requested = bb_audit_count("SERVICE_PASSWORD_RESET_REQUESTED");

    /* DirectAdmin, from the page: a job, a notice, then the password once. */
    snprintf(path, sizeof path, "/client/services/%" PRId64 "/password", C->a_da);
    struct http_result r = form_post(C->a, C->a_csrf, path, NULL);
    redirect_of(&r, loc, sizeof loc);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND action = 'change_password'",
                              C->a_da),
                     1);
    /* The notice; and, when the worker was quicker than this GET, already the password. */
    r = follow(loc, C->a);
    assert_contains(&r, "being reset");
    bool shown = shown_password(&r, pw, sizeof pw);
    http_result_free(&r);
    if (!shown) {
        wait_reset(C->a_da, "ready");
        r = page(C->a, C->a_da);
        assert_int_equal(r.status, 200);
        assert_true(shown_password(&r, pw, sizeof pw));
        assert_contains(&r, "will not be shown again");
        http_result_free(&r);
    }
    assert_true(strlen(pw) >= 16);
    assert_true(fake_da_password_matches(C->da, user, pw)); /* it works on the panel */
    r = page(C->a, C->a_da);
    assert_lacks(&r, pw);
    assert_lacks(&r, "will not be shown again");
    http_result_free(&r);
    r = capi(C->a, C->a_csrf, "POST", NULL, "/api/client/services/%" PRId64 "/password/reveal",
             C->a_da);
    assert_int_equal(r.status, 200);
    assert_string_equal(bb_str(r.json, "state"), "shown");
    assert_null(json_object_get(r.json, "password"));
    http_result_free(&r);
    assert_nowhere(pw);

    /* VirtFusion, through the API: the root password VirtFusion chose, once. */
    json_t *vf = wait_status(C->a_vf, "active");
    int64_t sid = 0;
    assert_int_equal(str_to_i64z(bb_str(vf, "external_id"), 1, INT64_MAX, &sid), 0);
    json_decref(vf);
    r = capi(C->a, C->a_csrf, "POST", NULL, "/api/client/services/%" PRId64 "/password", C->a_vf);
    assert_int_equal(r.status, 202);
    json_t *job = json_object_get(r.json, "job");
    assert_string_equal(bb_str(job, "action"), "change_password");
    http_result_free(&r);
    wait_reset(C->a_vf, "ready");
    r = capi(C->a, C->a_csrf, "POST", NULL, "/api/client/services/%" PRId64 "/password/reveal",
             C->a_vf);
    assert_int_equal(r.status, 200);
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_id(C->vf, sid, &s));
    assert_true(s.last_password[0] != '\0');
    assert_string_equal(bb_str(r.json, "password"), s.last_password);
    http_result_free(&r);
    r = capi(C->a, C->a_csrf, "POST", NULL, "/api/client/services/%" PRId64 "/password/reveal",
             C->a_vf);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "password"));
    assert_string_equal(bb_str(r.json, "state"), "shown");
    http_result_free(&r);
    r = page(C->a, C->a_vf);
    assert_lacks(&r, s.last_password);
    http_result_free(&r);
    assert_nowhere(s.last_password);
    /* The service keeps it sealed, as before. */
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services WHERE id = %" PRId64
                              " AND password_enc IS NOT NULL",
                              C->a_vf),
                     1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM password_reveals WHERE password_enc IS NOT "
                              "NULL OR revealed_at IS NULL"),
                     0);
    assert_int_equal(bb_audit_count("SERVICE_PASSWORD_RESET_REQUESTED"), requested + 2);
    assert_true(bb_audit_count("SERVICE_PASSWORD_CHANGED") >= 2);
    assert_true(bb_audit_count("SERVICE_PASSWORD_REVEALED") >= 2);
}

/* The same 404 for another client's service as for a missing one, on a route. */
static void same_404(const char *method, const char *body, const char *fmt)
{
    char own[128], missing[128];
    snprintf(own, sizeof own, fmt, C->a_vf);
    snprintf(missing, sizeof missing, fmt, (int64_t)MISSING);
    struct http_result r = capi(C->b, C->b_csrf, method, body, "%s", own);
    struct http_result m = capi(C->b, C->b_csrf, method, body, "%s", missing);
    if (r.status != 404)
        fail_msg("%s %s answered %ld to another client", method, own, r.status);
    assert_int_equal(m.status, 404);
    assert_string_equal(buf_cstr(&r.body), buf_cstr(&m.body));
    assert_lacks(&r, "vps.ada.example.org");
    http_result_free(&r);
    http_result_free(&m);
}

static void same_404_page(const char *fmt, const char *fields)
{
    char own[128], missing[128];
    snprintf(own, sizeof own, fmt, C->a_vf);
    snprintf(missing, sizeof missing, fmt, (int64_t)MISSING);
    struct http_result r = form_post(C->b, C->b_csrf, own, fields);
    struct http_result m = form_post(C->b, C->b_csrf, missing, fields);
    if (r.status != 404)
        fail_msg("POST %s answered %ld to another client", own, r.status);
    assert_int_equal(m.status, 404);
    assert_string_equal(buf_cstr(&r.body), buf_cstr(&m.body));
    http_result_free(&r);
    http_result_free(&m);
}

static void another_clients_service_is_not_found_on_every_route(void **state)
{
    (void)state;
    size_t sso = fake_vf_sso_count(C->vf);
    int64_t jobs = bb_count("SELECT COUNT(*) FROM jobs");
    same_404("GET", NULL, "/api/client/services/%" PRId64);
    same_404("GET", NULL, "/api/client/services/%" PRId64 "/login");
    same_404("POST", NULL, "/api/client/services/%" PRId64 "/password");
    same_404("POST", NULL, "/api/client/services/%" PRId64 "/password/reveal");
    same_404("POST", "{\"action\":\"restart\"}", "/api/client/services/%" PRId64 "/power");
    same_404("POST", "{\"action\":\"explode\"}", "/api/client/services/%" PRId64 "/power");
    same_404_page("/client/services/%" PRId64 "/login", NULL);
    same_404_page("/client/services/%" PRId64 "/password", NULL);
    same_404_page("/client/services/%" PRId64 "/power", "action=restart");
    struct http_result r = page(C->b, C->a_vf);
    assert_int_equal(r.status, 404);
    assert_lacks(&r, "vps.ada.example.org");
    http_result_free(&r);
    assert_int_equal(fake_vf_sso_count(C->vf), sso);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs"), jobs);
}

static void every_form_refuses_a_missing_or_wrong_csrf_token(void **state)
{
    (void)state;
    static const char *const paths[] = {"/login", "/password", "/power"};
    size_t sso = fake_vf_sso_count(C->vf);
    int64_t jobs = bb_count("SELECT COUNT(*) FROM jobs");
    int64_t power = bb_audit_count("SERVICE_POWER");
    char wrong[80];
    str_copy(wrong, C->a_csrf, sizeof wrong);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "/client/services/%" PRId64 "%s", C->a_vf, paths[i]);
        struct http_result r = form_post(C->a, NULL, path, "action=restart");
        assert_int_equal(r.status, 403);
        http_result_free(&r);
        r = form_post(C->a, wrong, path, "action=restart");
        assert_int_equal(r.status, 403);
        http_result_free(&r);
        r = form_post(C->a, C->b_csrf, path, "action=restart"); /* another session's token */
        assert_int_equal(r.status, 403);
        http_result_free(&r);
    }
    /* The API's writes with the cookie need the header too. */
    struct http_result r =
        capi(C->a, NULL, "POST", NULL, "/api/client/services/%" PRId64 "/password", C->a_vf);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    r = capi(C->a, wrong, "POST", "{\"action\":\"restart\"}",
             "/api/client/services/%" PRId64 "/power", C->a_vf);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    r = capi(C->a, NULL, "POST", NULL, "/api/client/services/%" PRId64 "/password/reveal", C->a_vf);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(fake_vf_sso_count(C->vf), sso);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs"), jobs);
    assert_int_equal(bb_audit_count("SERVICE_POWER"), power);
}

static void a_suspended_service_refuses_the_actions(void **state)
{
    (void)state;
    int64_t id = order(C->a_id, C->vf_product, "vps2.ada.example.org");
    json_decref(wait_status(id, "active"));
    struct http_result r =
        bb_apif("POST", "{\"reason\":\"abuse\"}", "/api/admin/services/%" PRId64 "/suspend", id);
    assert_int_equal(r.status, 202);
    http_result_free(&r);
    json_decref(wait_status(id, "suspended"));
    size_t sso = fake_vf_sso_count(C->vf);
    int64_t jobs = bb_count("SELECT COUNT(*) FROM jobs");

    r = capi(C->a, NULL, "GET", NULL, "/api/client/services/%" PRId64 "/login", id);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(error_message(&r), "suspended"));
    http_result_free(&r);
    r = capi(C->a, C->a_csrf, "POST", NULL, "/api/client/services/%" PRId64 "/password", id);
    assert_int_equal(r.status, 409);
    assert_string_equal(http_error_code(&r), "conflict");
    http_result_free(&r);
    r = capi(C->a, C->a_csrf, "POST", "{\"action\":\"boot\"}",
             "/api/client/services/%" PRId64 "/power", id);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(error_message(&r), "only an active service"));
    http_result_free(&r);

    char path[96], loc[1024];
    snprintf(path, sizeof path, "/client/services/%" PRId64 "/password", id);
    r = form_post(C->a, C->a_csrf, path, NULL);
    redirect_of(&r, loc, sizeof loc);
    http_result_free(&r);
    r = follow(loc, C->a);
    assert_contains(&r, "only an active service");
    assert_contains(&r, "available while the service is active");
    assert_lacks(&r, "Reset panel password</button>");
    http_result_free(&r);
    assert_int_equal(fake_vf_sso_count(C->vf), sso);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs"), jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_info_for_each_panel_type),
        cmocka_unit_test(sso_urls_come_from_virtfusion_and_directadmin),
        cmocka_unit_test(power_reaches_virtfusion_and_its_answer_is_shown),
        cmocka_unit_test(power_on_pterodactyl_is_refused_clearly),
        cmocka_unit_test(password_reset_is_a_job_shown_once_and_never_stored_in_plaintext),
        cmocka_unit_test(another_clients_service_is_not_found_on_every_route),
        cmocka_unit_test(every_form_refuses_a_missing_or_wrong_csrf_token),
        cmocka_unit_test(a_suspended_service_refuses_the_actions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
