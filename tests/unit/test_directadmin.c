/*
 * test_directadmin.c — the DirectAdmin client against the fake panel, the
 * same operation tests once per API version (v1 legacy url-encoded, v2
 * json=yes plus the JSON API): the request the panel got (method, path,
 * Basic login including admin|user for login-as, form fields) and the
 * panel's state afterwards; error=1 at HTTP 200; entity decoding; toggle-safe
 * suspend; adopting an account whose create answer was lost; refusing
 * someone else's account; every error class with its retry decision; and the
 * pure parts (answer parsers, account names).
 *
 * Each test starts its own fake panel and uses its own server id, so the
 * client's per-server rate limit (one request per 0.5 s) only spaces the
 * requests of one operation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes/fake_directadmin.h"
#include "core/str.h"
#include "panels/directadmin.h"
#include "panels/panel.h"

static const char LOGIN_REJECTED[] =
    "DirectAdmin rejected the login (check username and password or login key)";

static const char *g_version; /* "v1" or "v2", set per group */
static int64_t g_server_id = 1000;

struct fx {
    struct fake_da *da;
    struct panel_conn conn;
    struct panel_service svc;
    json_t *config;
    char user[DA_USERNAME_MAX + 1];
};

static bool v2(void)
{
    return strcmp(g_version, "v2") == 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->da = fake_da_start("admin", "s3cret pass");
    f->conn = (struct panel_conn){
        .type = "directadmin",
        .url = fake_da_url(f->da),
        .username = "admin",
        .password = "s3cret pass",
        .api_version = g_version,
        .server_id = ++g_server_id,
        .timeout_ms = 5000,
        .connect_timeout_ms = 2000,
    };
    assert_int_equal(da_username_for(4242, "ann-example.com", f->user), 0);
    f->config = json_pack("{s:s}", "package", "basic");
    f->svc = (struct panel_service){
        .service_id = 4242,
        .client_email = "ann@example.com",
        .client_first_name = "Ann",
        .client_last_name = "Example",
        .username = f->user,
        .password = "Initial&Pass=1",
        .domain = "ann-example.com",
        .config = f->config,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fake_da_stop(f->da);
    json_decref(f->config);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void assert_has(const char *text, const char *part)
{
    if (text == NULL || strstr(text, part) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", text ? text : "(null)", part);
}

/* A field of a form body, percent-decoded (independent of the client's parser); NULL if absent. */
static char *form_get(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = body; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            char *out = calloc(1, len + 1);
            size_t o = 0;
            for (size_t i = nl + 1; i < len; i++) {
                if (p[i] == '%' && i + 2 < len + 1 && hex_digit(p[i + 1]) >= 0 && hex_digit(p[i + 2]) >= 0) {
                    out[o++] = (char)(hex_digit(p[i + 1]) * 16 + hex_digit(p[i + 2]));
                    i += 2;
                } else {
                    out[o++] = p[i] == '+' ? ' ' : p[i];
                }
            }
            return out;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static void assert_field(const char *body, const char *name, const char *want)
{
    char *v = form_get(body, name);
    if (v == NULL || strcmp(v, want) != 0)
        fail_msg("form field %s is \"%s\", expected \"%s\" (body %s)", name, v ? v : "(absent)",
                 want, body);
    free(v);
}

/* The last request to path, checked for method and Basic login; caller frees. */
static void last_request(struct fx *f, const char *method, const char *path, const char *login,
                         struct fake_recorded *rec)
{
    if (fake_find_last(fake_da_http(f->da), method, path, rec) != 0)
        fail_msg("the panel got no %s %s", method, path);
    assert_string_equal(rec->basic_user, login);
    if (strncmp(path, "/CMD_", 5) == 0) {
        /* The dialect switch: v2 asks for JSON on every legacy command, v1 never. */
        if (v2())
            assert_has(rec->query, "json=yes");
        else
            assert_null(strstr(rec->query, "json="));
    }
}

static size_t count_requests(struct fx *f, const char *method, const char *path)
{
    size_t n = 0;
    struct fake_recorded rec;
    for (size_t i = 0; fake_recorded(fake_da_http(f->da), i, &rec) == 0; i++) {
        n += strcmp(rec.method, method) == 0 && strcmp(rec.path, path) == 0;
        fake_recorded_free(&rec);
    }
    return n;
}

static void create_account(struct fx *f)
{
    struct panel_result out;
    struct hc_error e;
    if (panel_directadmin.create(&f->conn, &f->svc, &out, &e) != 0)
        fail_msg("create failed: %s", e.message);
    fake_clear_requests(fake_da_http(f->da));
}

static void assert_error(const struct hc_error *e, enum hc_class cls, bool retryable,
                         const char *part)
{
    if (e->cls != cls)
        fail_msg("class %s, expected %s (%s)", hc_class_name(e->cls), hc_class_name(cls),
                 e->message);
    assert_int_equal(e->retryable, retryable);
    assert_has(e->message, part);
}

/* ---- test_connection ---- */

static void test_connection_reports_the_login(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct hc_error e;
    struct fake_recorded rec;
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), 0);
    assert_true(t.ok);
    assert_has(t.message, "Connected to DirectAdmin");
    if (v2()) {
        assert_has(t.message, "as admin (admin)");
        last_request(f, "GET", "/api/session", "admin", &rec);
    } else {
        last_request(f, "GET", "/CMD_API_SHOW_ALL_USERS", "admin", &rec);
    }
    fake_recorded_free(&rec);
}

static void test_connection_refuses_a_bad_url(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct hc_error e;
    const char *bad[] = {"ftp://panel.example.com", "", "panel.example.com:2222", "https://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f->conn.url = bad[i];
        assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
        assert_false(t.ok);
        assert_error(&e, HC_INVALID, false, "DirectAdmin URL");
        assert_string_equal(t.message, e.message);
    }
    f->conn.url = NULL;
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_int_equal(fake_request_count(fake_da_http(f->da)), 0);
}

static void test_connection_to_a_closed_port_is_a_connection_error(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct hc_error e;
    struct fake_da *gone = fake_da_start("admin", "x");
    char url[128];
    snprintf(url, sizeof url, "%s", fake_da_url(gone));
    fake_da_stop(gone);
    f->conn.url = url;
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_false(t.ok);
    assert_error(&e, HC_CONNECTION, true, "127.0.0.1");
    assert_false(e.ambiguous);
    assert_string_equal(t.message, e.message);
}

static void test_connection_with_a_bad_password_is_auth(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct hc_error e;
    f->conn.password = "wrong";
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_false(t.ok);
    assert_error(&e, HC_AUTH, false, LOGIN_REJECTED);
    assert_int_equal(e.http_status, 401);
    assert_string_equal(t.message, LOGIN_REJECTED);
}

static void old_panels_html_login_page_is_auth(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct panel_result out;
    struct hc_error e;
    fake_da_set_html_login(f->da, true);
    f->conn.password = "wrong";
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_error(&e, HC_AUTH, false, LOGIN_REJECTED);
    assert_int_equal(e.http_status, 200);
    /* The same for a legacy command, and never mistaken for an answer. */
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_AUTH, false, LOGIN_REJECTED);
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_AUTH, false, LOGIN_REJECTED);
    /* An HTML login page with good credentials (e.g. a proxy in front) also fails. */
    f->conn.password = "s3cret pass";
    fake_fault(fake_da_http(f->da), FAKE_FAULT_HTML, 1, 0, NULL);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_AUTH, false, LOGIN_REJECTED);
}

static void blacklisted_ip_is_auth_with_the_panels_words(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct panel_result out;
    struct hc_error e;
    fake_da_set_blacklisted(f->da, true);
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_error(&e, HC_AUTH, false, "Your IP is blacklisted");
    assert_has(t.message, "Your IP is blacklisted");
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_AUTH, false, "Your IP is blacklisted");
}

static void missing_credentials_and_unknown_version_are_refused(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct hc_error e;
    f->conn.password = "";
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_error(&e, HC_INVALID, false, "needs a username and a password");
    f->conn.password = "s3cret pass";
    f->conn.api_version = "v3";
    assert_int_equal(panel_directadmin.test_connection(&f->conn, &t, &e), -1);
    assert_error(&e, HC_INVALID, false, "must be v1 or v2");
    assert_int_equal(fake_request_count(fake_da_http(f->da)), 0);
}

static void panel_without_json_api(void **state)
{
    struct fx *f = *state;
    struct panel_test t;
    struct hc_error e;
    fake_da_set_legacy_only(f->da, true);
    int rc = panel_directadmin.test_connection(&f->conn, &t, &e);
    if (v2()) {
        assert_int_equal(rc, -1);
        assert_error(&e, HC_NOT_FOUND, false, "use API version v1");
        assert_int_equal(e.http_status, 404);
    } else {
        assert_int_equal(rc, 0);
        assert_has(t.message, "0 accounts");
    }
}

/* ---- create ---- */

static void create_sends_every_field_and_makes_the_account(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    struct fake_recorded rec;
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), 0);
    assert_string_equal(out.external_id, f->user);
    assert_string_equal(out.username, f->user);
    assert_false(out.suspended);
    last_request(f, "POST", "/CMD_API_ACCOUNT_USER", "admin", &rec);
    assert_string_equal(rec.content_type, "application/x-www-form-urlencoded");
    assert_field(rec.body, "action", "create");
    assert_field(rec.body, "add", "Submit");
    assert_field(rec.body, "username", f->user);
    assert_field(rec.body, "email", "ann@example.com");
    assert_field(rec.body, "passwd", "Initial&Pass=1");
    assert_field(rec.body, "passwd2", "Initial&Pass=1");
    assert_field(rec.body, "domain", "ann-example.com");
    assert_field(rec.body, "package", "basic");
    assert_field(rec.body, "ip", "shared");
    assert_field(rec.body, "notify", "no");
    fake_recorded_free(&rec);
    assert_int_equal(fake_request_count(fake_da_http(f->da)), 1);
    char pkg[32];
    assert_true(fake_da_package(f->da, f->user, pkg, sizeof pkg));
    assert_string_equal(pkg, "basic");
    assert_true(fake_da_password_matches(f->da, f->user, "Initial&Pass=1"));
    assert_false(fake_da_suspended(f->da, f->user));
}

static void create_uses_the_products_ip(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    struct fake_recorded rec;
    json_object_set_new(f->config, "ip", json_string("192.0.2.44"));
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), 0);
    last_request(f, "POST", "/CMD_API_ACCOUNT_USER", "admin", &rec);
    assert_field(rec.body, "ip", "192.0.2.44");
    fake_recorded_free(&rec);
}

static void create_needs_a_package(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    json_object_del(f->config, "package");
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_INVALID, false, "product config needs 'package'");
    f->svc.config = NULL;
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_INVALID, false, "product config needs 'package'");
    assert_int_equal(fake_request_count(fake_da_http(f->da)), 0);
    assert_false(fake_da_account_exists(f->da, f->user));
}

static void error_1_at_http_200_is_a_failure_with_the_panels_text(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    create_account(f);
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_INVALID, false, "That username already exists");
    assert_has(e.message, "Unable to Create User");
    assert_int_equal(e.http_status, 200);
    /* Another name on the same domain, and an unknown package. */
    f->svc.username = "other1";
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_INVALID, false, "That domain already exists");
    f->svc.domain = "other.example.com";
    json_object_set_new(f->config, "package", json_string("gold"));
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_INVALID, false, "That package does not exist");
    assert_false(fake_da_account_exists(f->da, "other1"));
}

/* ---- find ---- */

static void find_reports_absent_accounts(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    struct fake_recorded rec;
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), 0);
    last_request(f, "GET", "/CMD_API_SHOW_USER_CONFIG", "admin", &rec);
    assert_has(rec.query, "user=");
    assert_has(rec.query, f->user);
    fake_recorded_free(&rec);
}

static void find_adopts_an_account_whose_create_answer_was_lost(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    fake_fault(fake_da_http(f->da), FAKE_FAULT_DROP_AFTER, 1, 0, "CMD_API_ACCOUNT_USER");
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_true(e.retryable);
    assert_true(e.ambiguous);
    assert_true(fake_da_account_exists(f->da, f->user));
    memset(&out, 0, sizeof out);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), 1);
    assert_string_equal(out.external_id, f->user);
    assert_string_equal(out.username, f->user);
    assert_false(out.suspended);
    /* Found suspended: reported as such. */
    fake_da_set_suspended(f->da, f->user, true);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), 1);
    assert_true(out.suspended);
}

static void find_refuses_someone_elses_account(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    assert_int_equal(fake_da_add_account(f->da, f->user, "mallory@example.net", "ann-example.com",
                                         "basic", "pw"),
                     0);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), -1);
    char want[128];
    snprintf(want, sizeof want, "DirectAdmin account %s exists but belongs to someone else",
             f->user);
    assert_error(&e, HC_INVALID, false, want);
    /* Same e-mail, other domain: not ours either. */
    f->svc.client_email = "mallory@example.net";
    f->svc.domain = "ann-example.org";
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_INVALID, false, want);
    /* E-mail and domain compare without regard to case. */
    f->svc.client_email = "Mallory@Example.NET";
    f->svc.domain = "ANN-example.com";
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), 1);
}

static void entity_encoded_values_are_decoded(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    /* '&' and '=' in an address: the fake sends them as &#38; and &#61; in v1. */
    f->svc.client_email = "ann&bob=team@example.com";
    create_account(f);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), 1);
    json_t *info = panel_directadmin.info(&f->conn, &f->svc, &e);
    assert_non_null(info);
    assert_string_equal(json_string_value(json_object_get(info, "email")),
                        "ann&bob=team@example.com");
    json_decref(info);
}

/* ---- suspend / unsuspend ---- */

static void suspend_reads_sends_and_confirms(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    create_account(f);
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), 0);
    assert_true(fake_da_suspended(f->da, f->user));
    last_request(f, "POST", "/CMD_API_SELECT_USERS", "admin", &rec);
    assert_field(rec.body, "location", "CMD_SELECT_USERS");
    assert_field(rec.body, "suspend", "Suspend");
    assert_field(rec.body, "select0", f->user);
    fake_recorded_free(&rec);
    /* read, send, read again */
    assert_int_equal(fake_request_count(fake_da_http(f->da)), 3);
    assert_int_equal(count_requests(f, "GET", "/CMD_API_SHOW_USER_CONFIG"), 2);

    fake_clear_requests(fake_da_http(f->da));
    assert_int_equal(panel_directadmin.unsuspend(&f->conn, &f->svc, &e), 0);
    assert_false(fake_da_suspended(f->da, f->user));
    last_request(f, "POST", "/CMD_API_SELECT_USERS", "admin", &rec);
    assert_field(rec.body, "suspend", "Unsuspend");
    assert_field(rec.body, "select0", f->user);
    fake_recorded_free(&rec);
}

static void suspend_is_toggle_safe(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    create_account(f);
    fake_da_set_toggle_mode(f->da, true);
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), 0);
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), 0);
    assert_true(fake_da_suspended(f->da, f->user));
    assert_int_equal(count_requests(f, "POST", "/CMD_API_SELECT_USERS"), 1);
    assert_int_equal(panel_directadmin.unsuspend(&f->conn, &f->svc, &e), 0);
    assert_int_equal(panel_directadmin.unsuspend(&f->conn, &f->svc, &e), 0);
    assert_false(fake_da_suspended(f->da, f->user));
    assert_int_equal(count_requests(f, "POST", "/CMD_API_SELECT_USERS"), 2);
}

static void suspend_retried_after_a_lost_answer_sends_nothing(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    create_account(f);
    fake_da_set_toggle_mode(f->da, true);
    fake_fault(fake_da_http(f->da), FAKE_FAULT_DROP_AFTER, 1, 0, "CMD_API_SELECT_USERS");
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), -1);
    assert_true(e.ambiguous);
    assert_true(e.retryable);
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), 0);
    assert_true(fake_da_suspended(f->da, f->user));
    assert_int_equal(count_requests(f, "POST", "/CMD_API_SELECT_USERS"), 1);
}

static void suspend_that_does_not_take_is_an_upstream_error(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    create_account(f);
    fake_da_set_suspend_ignored(f->da, true);
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), -1);
    assert_error(&e, HC_UPSTREAM, true, "did not suspend");
}

static void suspend_of_a_missing_account_is_not_found(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    assert_int_equal(panel_directadmin.suspend(&f->conn, &f->svc, &e), -1);
    assert_error(&e, HC_NOT_FOUND, false, f->user);
    assert_int_equal(count_requests(f, "POST", "/CMD_API_SELECT_USERS"), 0);
}

/* ---- terminate ---- */

static void terminate_deletes_and_confirms(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    create_account(f);
    assert_int_equal(panel_directadmin.terminate(&f->conn, &f->svc, &e), 0);
    assert_false(fake_da_account_exists(f->da, f->user));
    last_request(f, "POST", "/CMD_API_SELECT_USERS", "admin", &rec);
    assert_field(rec.body, "confirmed", "Confirm");
    assert_field(rec.body, "delete", "yes");
    assert_field(rec.body, "select0", f->user);
    fake_recorded_free(&rec);
    assert_int_equal(count_requests(f, "GET", "/CMD_API_SHOW_USER_CONFIG"), 2);
    /* Again: already gone is success, and nothing is sent. */
    fake_clear_requests(fake_da_http(f->da));
    assert_int_equal(panel_directadmin.terminate(&f->conn, &f->svc, &e), 0);
    assert_int_equal(count_requests(f, "POST", "/CMD_API_SELECT_USERS"), 0);
}

static void terminate_whose_answer_was_lost_succeeds(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    create_account(f);
    fake_fault(fake_da_http(f->da), FAKE_FAULT_DROP_AFTER, 1, 0, "CMD_API_SELECT_USERS");
    assert_int_equal(panel_directadmin.terminate(&f->conn, &f->svc, &e), 0);
    assert_false(fake_da_account_exists(f->da, f->user));
}

static void terminate_that_fails_keeps_the_panels_reason(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    create_account(f);
    fake_fault(fake_da_http(f->da), FAKE_FAULT_500, 1, 0, "CMD_API_SELECT_USERS");
    assert_int_equal(panel_directadmin.terminate(&f->conn, &f->svc, &e), -1);
    assert_error(&e, HC_UPSTREAM, true, "HTTP 500");
    assert_true(fake_da_account_exists(f->da, f->user));
}

/* ---- package, password, info ---- */

static void change_package_sends_modify_user(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    char pkg[32];
    create_account(f);
    json_object_set_new(f->config, "package", json_string("pro"));
    assert_int_equal(panel_directadmin.change_package(&f->conn, &f->svc, &e), 0);
    last_request(f, "POST", "/CMD_API_MODIFY_USER", "admin", &rec);
    assert_field(rec.body, "action", "package");
    assert_field(rec.body, "user", f->user);
    assert_field(rec.body, "package", "pro");
    fake_recorded_free(&rec);
    assert_true(fake_da_package(f->da, f->user, pkg, sizeof pkg));
    assert_string_equal(pkg, "pro");
    /* Unknown package: the panel's words; no package at all: refused before sending. */
    assert_int_equal(da_change_package(&f->conn, f->user, "gold", &e), -1);
    assert_error(&e, HC_INVALID, false, "That package does not exist");
    json_object_del(f->config, "package");
    assert_int_equal(panel_directadmin.change_package(&f->conn, &f->svc, &e), -1);
    assert_error(&e, HC_INVALID, false, "product config needs 'package'");
    assert_true(fake_da_package(f->da, f->user, pkg, sizeof pkg));
    assert_string_equal(pkg, "pro");
}

static void change_password_sends_user_passwd(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    create_account(f);
    assert_int_equal(panel_directadmin.change_password(&f->conn, &f->svc, "N3w p@ss&=", &e), 0);
    last_request(f, "POST", "/CMD_API_USER_PASSWD", "admin", &rec);
    assert_field(rec.body, "username", f->user);
    assert_field(rec.body, "passwd", "N3w p@ss&=");
    assert_field(rec.body, "passwd2", "N3w p@ss&=");
    fake_recorded_free(&rec);
    assert_true(fake_da_password_matches(f->da, f->user, "N3w p@ss&="));
    assert_int_equal(panel_directadmin.change_password(&f->conn, &f->svc, "", &e), -1);
    assert_error(&e, HC_INVALID, false, "a new password");
}

static void login_url_is_made_as_the_account(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    char url[512], want[256], login[64], who[64];
    create_account(f);
    assert_int_equal(panel_directadmin.login_url(&f->conn, &f->svc, url, sizeof url, &e), 0);
    snprintf(want, sizeof want, "%s/api/login/url?key=OTK", fake_da_url(f->da));
    if (strncmp(url, want, strlen(want)) != 0)
        fail_msg("login URL %s, expected %s…", url, want);
    snprintf(login, sizeof login, "admin|%s", f->user);
    last_request(f, "POST", "/CMD_API_LOGIN_KEYS", login, &rec);
    assert_field(rec.body, "action", "create");
    assert_field(rec.body, "type", "one_time_url");
    fake_recorded_free(&rec);
    assert_int_equal(fake_da_login_url_count(f->da, who, sizeof who), 1);
    assert_string_equal(who, f->user);
    /* An account the panel does not have: the login-as is refused, no URL. */
    f->svc.username = "nobody1";
    assert_int_equal(panel_directadmin.login_url(&f->conn, &f->svc, url, sizeof url, &e), -1);
    assert_string_equal(url, "");
    assert_int_equal(fake_da_login_url_count(f->da, NULL, 0), 1);
}

static void info_describes_the_account(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    create_account(f);
    fake_da_set_suspended(f->da, f->user, true);
    json_t *info = panel_directadmin.info(&f->conn, &f->svc, &e);
    if (info == NULL)
        fail_msg("info failed: %s", e.message);
    assert_string_equal(json_string_value(json_object_get(info, "username")), f->user);
    assert_string_equal(json_string_value(json_object_get(info, "email")), "ann@example.com");
    assert_string_equal(json_string_value(json_object_get(info, "domain")), "ann-example.com");
    assert_string_equal(json_string_value(json_object_get(info, "package")), "basic");
    assert_true(json_is_true(json_object_get(info, "suspended")));
    json_t *config = json_object_get(info, "config");
    if (v2()) {
        /* The JSON API's own description: camelCase, a real boolean. */
        char path[64];
        snprintf(path, sizeof path, "/api/users/%s/config", f->user);
        last_request(f, "GET", path, "admin", &rec);
        assert_true(json_is_true(json_object_get(config, "suspended")));
        assert_string_equal(json_string_value(json_object_get(config, "userType")), "user");
    } else {
        last_request(f, "GET", "/CMD_API_SHOW_USER_CONFIG", "admin", &rec);
        assert_string_equal(json_string_value(json_object_get(config, "suspended")), "yes");
        /* percent-encoded spaces decoded */
        assert_string_equal(json_string_value(json_object_get(config, "date_created")),
                            "Mon Jan  1 00:00:00 2024");
    }
    fake_recorded_free(&rec);
    json_decref(info);
    f->svc.username = "nobody1";
    assert_null(panel_directadmin.info(&f->conn, &f->svc, &e));
    assert_error(&e, HC_NOT_FOUND, false, "nobody1");
}

/* ---- DirectAdmin-only operations ---- */

static void lists_of_accounts_and_packages(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    json_t *list = da_list_accounts(&f->conn, &e);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    create_account(f);
    assert_int_equal(
        fake_da_add_account(f->da, "bob1", "b@example.com", "b.example.com", "pro", "pw"), 0);
    list = da_list_accounts(&f->conn, &e);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_array_get(list, 0)), f->user);
    assert_string_equal(json_string_value(json_array_get(list, 1)), "bob1");
    json_decref(list);
    last_request(f, "GET", "/CMD_API_SHOW_ALL_USERS", "admin", &rec);
    fake_recorded_free(&rec);
    list = da_list_packages(&f->conn, &e);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "basic");
    assert_string_equal(json_string_value(json_array_get(list, 1)), "pro");
    json_decref(list);
    last_request(f, "GET", "/CMD_API_PACKAGES_USER", "admin", &rec);
    fake_recorded_free(&rec);
}

static void domains_are_read_logged_in_as_the_user(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    char login[64];
    create_account(f);
    json_t *list = da_list_domains(&f->conn, f->user, &e);
    if (list == NULL)
        fail_msg("domains failed: %s", e.message);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "ann-example.com");
    json_decref(list);
    snprintf(login, sizeof login, "admin|%s", f->user);
    last_request(f, "GET", "/CMD_API_SHOW_DOMAINS", login, &rec);
    fake_recorded_free(&rec);
    /* Login-as a user who does not exist: the panel refuses the login. */
    assert_null(da_list_domains(&f->conn, "ghost1", &e));
    assert_error(&e, HC_AUTH, false, LOGIN_REJECTED);
}

static void databases_are_created_logged_in_as_the_user(void **state)
{
    struct fx *f = *state;
    struct hc_error e;
    struct fake_recorded rec;
    char login[64], full[64];
    create_account(f);
    snprintf(login, sizeof login, "admin|%s", f->user);
    snprintf(full, sizeof full, "%s_shop", f->user);
    if (da_create_database(&f->conn, f->user, "shop", "shopper", "db&pw=1", &e) != 0)
        fail_msg("create database failed: %s", e.message);
    assert_int_equal(fake_da_database_count(f->da, f->user), 1);
    assert_true(fake_da_has_database(f->da, f->user, full));
    if (v2()) {
        last_request(f, "POST", "/api/db-manage/create-db-with-user", login, &rec);
        assert_string_equal(rec.content_type, "application/json");
        json_t *body = json_loads(rec.body, 0, NULL);
        char dbuser[64];
        snprintf(dbuser, sizeof dbuser, "%s_shopper", f->user);
        assert_string_equal(json_string_value(json_object_get(body, "database")), full);
        assert_string_equal(json_string_value(json_object_get(body, "dbuser")), dbuser);
        assert_string_equal(json_string_value(json_object_get(body, "password")), "db&pw=1");
        json_decref(body);
    } else {
        last_request(f, "POST", "/CMD_API_DATABASES", login, &rec);
        assert_field(rec.body, "action", "create");
        assert_field(rec.body, "name", "shop");
        assert_field(rec.body, "user", "shopper");
        assert_field(rec.body, "passwd", "db&pw=1");
        assert_field(rec.body, "passwd2", "db&pw=1");
    }
    fake_recorded_free(&rec);
    /* The same name again: the panel's refusal, permanent. */
    assert_int_equal(da_create_database(&f->conn, f->user, "shop", "shopper", "x", &e), -1);
    assert_error(&e, HC_INVALID, false, "already exists");
    assert_int_equal(fake_da_database_count(f->da, f->user), 1);
    assert_int_equal(da_create_database(&f->conn, f->user, "bad name", "u", "x", &e), -1);
    assert_error(&e, HC_INVALID, false, "letters, digits");
}

/* ---- transport and answer faults ---- */

static void server_error_is_retryable_upstream(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    fake_fault(fake_da_http(f->da), FAKE_FAULT_500, 1, 0, NULL);
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_UPSTREAM, true, "DirectAdmin answered HTTP 500 to CMD_API_ACCOUNT_USER");
    assert_int_equal(e.http_status, 500);
    assert_false(fake_da_account_exists(f->da, f->user));
}

static void rate_limited_carries_retry_after(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    fake_fault(fake_da_http(f->da), FAKE_FAULT_429, 1, 7, NULL);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_RATE_LIMITED, true, "HTTP 429");
    assert_int_equal(e.retry_after_s, 7);
}

static void malformed_answer_is_a_bad_response(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    create_account(f);
    fake_fault(fake_da_http(f->da), FAKE_FAULT_MALFORMED, 1, 0, NULL);
    assert_int_equal(panel_directadmin.find(&f->conn, &f->svc, &out, &e), -1);
    assert_error(&e, HC_BAD_RESPONSE, true, "CMD_API_SHOW_USER_CONFIG");
    fake_fault(fake_da_http(f->da), FAKE_FAULT_MALFORMED, 1, 0, NULL);
    assert_int_equal(panel_directadmin.change_password(&f->conn, &f->svc, "pw2", &e), -1);
    assert_error(&e, HC_BAD_RESPONSE, true, "CMD_API_USER_PASSWD");
    fake_fault(fake_da_http(f->da), FAKE_FAULT_MALFORMED, 1, 0, NULL);
    json_t *list = da_list_packages(&f->conn, &e);
    assert_null(list);
    assert_error(&e, HC_BAD_RESPONSE, true, "CMD_API_PACKAGES_USER");
}

static void slow_panel_times_out_ambiguously(void **state)
{
    struct fx *f = *state;
    struct panel_result out;
    struct hc_error e;
    f->conn.timeout_ms = 300;
    fake_fault(fake_da_http(f->da), FAKE_FAULT_SLOW, 1, 1200, NULL);
    assert_int_equal(panel_directadmin.create(&f->conn, &f->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_TIMEOUT);
    assert_true(e.retryable);
    assert_true(e.ambiguous);
}

/* ---- pure parts ---- */

static json_t *parse(const char *s)
{
    json_t *o = NULL;
    assert_int_equal(da_parse_urlencoded(s, strlen(s), &o), 0);
    assert_non_null(o);
    return o;
}

static void urlencoded_pairs_lists_and_entities(void **state)
{
    (void)state;
    json_t *o = parse("error=0&text=User%20created&details=a+b&list[]=x&list[]=y%26z");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "0");
    assert_string_equal(json_string_value(json_object_get(o, "text")), "User created");
    assert_string_equal(json_string_value(json_object_get(o, "details")), "a b");
    json_t *list = json_object_get(o, "list");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_array_get(list, 1)), "y&z");
    json_decref(o);

    /* Entities are decoded and never split pairs; '=' after the first is part of the value. */
    o = parse("email=a&#38;b&#61;c@example.com&note=x=y&q=&#x3C;b&#x3e;&amp=&#39;&#8364;&lt;&gt;");
    assert_string_equal(json_string_value(json_object_get(o, "email")), "a&b=c@example.com");
    assert_string_equal(json_string_value(json_object_get(o, "note")), "x=y");
    assert_string_equal(json_string_value(json_object_get(o, "q")), "<b>");
    json_decref(o);
    o = parse("a=&quot;&apos;&amp;&#39;&#8364;&lt;&gt;");
    assert_string_equal(json_string_value(json_object_get(o, "a")), "\"'&'\xe2\x82\xac<>");
    json_decref(o);

    /* Entities first, then percent-decoding (as DirectAdmin clients do). */
    o = parse("a=100&#37;41&b=%41%4");
    assert_string_equal(json_string_value(json_object_get(o, "a")), "100A");
    assert_string_equal(json_string_value(json_object_get(o, "b")), "A%4");
    json_decref(o);

    /* Empty keys and pairs skipped, bare keys are "", the last value wins. */
    o = parse("&&=v&[]=w&flag&k=1&k=2&");
    assert_int_equal(json_object_size(o), 2);
    assert_string_equal(json_string_value(json_object_get(o, "flag")), "");
    assert_string_equal(json_string_value(json_object_get(o, "k")), "2");
    json_decref(o);

    /* Bad UTF-8, NUL and invalid code points become U+FFFD. */
    o = parse("a=%FF%00&b=&#0;&c=&#xD800;&d=\xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(o, "a")), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(o, "b")), "\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(o, "c")), "\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(o, "d")), "\xc3\xa9");
    json_decref(o);

    o = parse("");
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
}

static void answers_are_read_per_dialect(void **state)
{
    (void)state;
    struct hc_error e;
    json_t *out = NULL;
    const char *b = "error=1&text=Cannot%20Create&details=That%20username%20already%20exists";
    assert_int_equal(da_read_answer(DA_API_V1, "CMD_X", b, strlen(b), DA_ACTION, &out, &e), -1);
    assert_null(out);
    assert_error(&e, HC_INVALID, false,
                 "DirectAdmin CMD_X failed: Cannot Create: That username already exists");
    b = "{\"error\":\"Cannot Create\",\"result\":\"That username already exists\"}";
    assert_int_equal(da_read_answer(DA_API_V2, "CMD_X", b, strlen(b), DA_ACTION, &out, &e), -1);
    assert_error(&e, HC_INVALID, false,
                 "DirectAdmin CMD_X failed: Cannot Create: That username already exists");

    b = "{\"success\":\"User created\",\"result\":\"\"}";
    assert_int_equal(da_read_answer(DA_API_V2, "CMD_X", b, strlen(b), DA_ACTION, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "text")), "User created");
    json_decref(out);
    b = "error=0&text=OK";
    assert_int_equal(da_read_answer(DA_API_V1, "CMD_X", b, strlen(b), DA_ACTION, &out, &e), 0);
    json_decref(out);

    /* Lists: v1 list[] or nothing at all, v2 arrays of strings. */
    assert_int_equal(da_read_answer(DA_API_V1, "CMD_X", "", 0, DA_LIST, &out, &e), 0);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    b = "[\"a\",\"b\"]";
    assert_int_equal(da_read_answer(DA_API_V2, "CMD_X", b, strlen(b), DA_LIST, &out, &e), 0);
    assert_int_equal(json_array_size(out), 2);
    json_decref(out);
    b = "[\"a\",2]";
    assert_int_equal(da_read_answer(DA_API_V2, "CMD_X", b, strlen(b), DA_LIST, &out, &e), -1);
    assert_error(&e, HC_BAD_RESPONSE, true, "not a list");

    /* Not DirectAdmin at all. */
    b = "{\"data\": [unterminated";
    assert_int_equal(da_read_answer(DA_API_V1, "CMD_X", b, strlen(b), DA_RECORD, &out, &e), -1);
    assert_error(&e, HC_BAD_RESPONSE, true, "not a DirectAdmin API answer");
    assert_int_equal(da_read_answer(DA_API_V2, "CMD_X", b, strlen(b), DA_RECORD, &out, &e), -1);
    assert_error(&e, HC_BAD_RESPONSE, true, "invalid JSON");
    b = "text=hello";
    assert_int_equal(da_read_answer(DA_API_V1, "CMD_X", b, strlen(b), DA_ACTION, &out, &e), -1);
    assert_error(&e, HC_BAD_RESPONSE, true, "no 'error' field");
}

static bool valid_username(const char *u)
{
    size_t n = strlen(u);
    if (n < 1 || n > DA_USERNAME_MAX || u[0] < 'a' || u[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9')))
            return false;
    return true;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void usernames_are_valid_deterministic_and_distinct(void **state)
{
    (void)state;
    static const char *const seeds[] = {"example.com",
                                        "ann@example.com",
                                        "a",
                                        "ab.cd",
                                        "Zed-Shop.example.org",
                                        "123.example",
                                        "",
                                        NULL,
                                        "münchen.de",
                                        "xn--mnchen-3ya.de",
                                        "abcdefghijklmnop"};
    size_t nseeds = sizeof seeds / sizeof seeds[0];
    static char names[3000][DA_USERNAME_MAX + 1];
    char again[DA_USERNAME_MAX + 1];
    size_t n = 0;
    /* Same seed for every id, then a different seed per id: always distinct. */
    for (int64_t id = 1; id <= 1000; id++) {
        assert_int_equal(da_username_for(id, "example.com", names[n]), 0);
        assert_true(valid_username(names[n]));
        n++;
    }
    for (int64_t id = 1001; id <= 2000; id++) {
        assert_int_equal(da_username_for(id, seeds[id % nseeds], names[n]), 0);
        assert_true(valid_username(names[n]));
        assert_int_equal(da_username_for(id, seeds[id % nseeds], again), 0);
        assert_string_equal(names[n], again);
        n++;
    }
    for (int64_t i = 0; i < 1000; i++) {
        int64_t id = 2821109907455LL - i * 2821109907LL; /* large ids up to 36^8 - 1 */
        assert_int_equal(da_username_for(id, seeds[i % nseeds], names[n]), 0);
        assert_true(valid_username(names[n]));
        n++;
    }
    qsort(names, n, sizeof names[0], cmp_names);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            fail_msg("two services share the name %s", names[i]);

    assert_int_equal(da_username_for(42, "example.com", again), 0);
    assert_string_equal(again, "exampl16");
    assert_int_equal(da_username_for(1000, "ann@example.com", again), 0);
    assert_string_equal(again, "ann0rs");
    assert_int_equal(da_username_for(7, NULL, again), 0);
    assert_string_equal(again, "u7");
    assert_int_equal(da_username_for(0, "x", again), -1);
    assert_int_equal(da_username_for(-5, "x", again), -1);
    assert_int_equal(da_username_for(2821109907456LL, "x", again), -1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static int group_v1(void **state)
{
    (void)state;
    g_version = "v1";
    return 0;
}

static int group_v2(void **state)
{
    (void)state;
    g_version = "v2";
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(urlencoded_pairs_lists_and_entities),
        cmocka_unit_test(answers_are_read_per_dialect),
        cmocka_unit_test(usernames_are_valid_deterministic_and_distinct),
    };
    const struct CMUnitTest ops[] = {
        T(test_connection_reports_the_login),
        T(test_connection_refuses_a_bad_url),
        T(test_connection_to_a_closed_port_is_a_connection_error),
        T(test_connection_with_a_bad_password_is_auth),
        T(old_panels_html_login_page_is_auth),
        T(blacklisted_ip_is_auth_with_the_panels_words),
        T(missing_credentials_and_unknown_version_are_refused),
        T(panel_without_json_api),
        T(create_sends_every_field_and_makes_the_account),
        T(create_uses_the_products_ip),
        T(create_needs_a_package),
        T(error_1_at_http_200_is_a_failure_with_the_panels_text),
        T(find_reports_absent_accounts),
        T(find_adopts_an_account_whose_create_answer_was_lost),
        T(find_refuses_someone_elses_account),
        T(entity_encoded_values_are_decoded),
        T(suspend_reads_sends_and_confirms),
        T(suspend_is_toggle_safe),
        T(suspend_retried_after_a_lost_answer_sends_nothing),
        T(suspend_that_does_not_take_is_an_upstream_error),
        T(suspend_of_a_missing_account_is_not_found),
        T(terminate_deletes_and_confirms),
        T(terminate_whose_answer_was_lost_succeeds),
        T(terminate_that_fails_keeps_the_panels_reason),
        T(change_package_sends_modify_user),
        T(change_password_sends_user_passwd),
        T(login_url_is_made_as_the_account),
        T(info_describes_the_account),
        T(lists_of_accounts_and_packages),
        T(domains_are_read_logged_in_as_the_user),
        T(databases_are_created_logged_in_as_the_user),
        T(server_error_is_retryable_upstream),
        T(rate_limited_carries_retry_after),
        T(malformed_answer_is_a_bad_response),
        T(slow_panel_times_out_ambiguously),
    };
    int failed = cmocka_run_group_tests_name("directadmin_parsers", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("directadmin_v1", ops, group_v1, NULL);
    failed += cmocka_run_group_tests_name("directadmin_v2", ops, group_v2, NULL);
    curl_global_cleanup();
    return failed;
}
