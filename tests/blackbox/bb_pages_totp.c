/*
 * bb_pages_totp.c — the optional second factor through the real binary, as a
 * browser and an API client use it: the account pages closed without a
 * session; "Enable" on /admin/account shows a secret and its otpauth:// URI;
 * a wrong code switches nothing on, the right one (computed here with totp.h
 * from the secret on the page, like an authenticator app) does and shows ten
 * recovery codes once; after logging out, the password alone gives the code
 * form and no session, a wrong code is refused and audited, the right code
 * leads to the dashboard, a replayed code and a reused recovery code fail;
 * POST /api/admin/login asks for the second factor too; switching it off
 * needs the password; no secret or code is in the audit trail.
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

#include "accounts/totp.h"
#include "core/crypto.h"
#include "core/str.h"
#include "core/utc.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "8f1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "totp-admin@example.com"
#define ADMIN_PASSWORD "Totp-Admin-Password-1"
#define NCODES 10

struct ctx {
    char session[200]; /* "lumi_session=…" */
    char secret[TOTP_SECRET_B32_LEN];
    char codes[NCODES][TOTP_RECOVERY_LEN];
    char used_code[TOTP_CODE_LEN]; /* the code that opened the page session */
};

static struct ctx *C;

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    bb_init(SECRET_KEY);
    bb_env_add("LUMI_LOGIN_MAX_FAILURES=30");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "totp-test");
    bb_serve();
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- plumbing ----------------------------------------------------------- */

static struct http_result as_admin(const char *method, const char *path, const char *form)
{
    return browse(bb_base_url(), method, path, C->session, form, NULL);
}

static void assert_location(const struct http_result *r, const char *prefix)
{
    char *loc = http_header(r, "Location");
    if (loc == NULL || !str_starts_with(loc, prefix))
        fail_msg("Location is '%s', expected '%s…'", loc ? loc : "(none)", prefix);
    free(loc);
}

static void assert_body_has(const struct http_result *r, const char *needle)
{
    if (strstr(buf_cstr(&r->body), needle) == NULL)
        fail_msg("the page (status %ld) does not contain '%s':\n%.3000s", r->status, needle,
                 buf_cstr(&r->body));
}

static bool sets_cookie(const struct http_result *r, const char *name)
{
    char *line = browse_set_cookie_line(r, name);
    free(line);
    return line != NULL;
}

/* The code an authenticator app shows for the secret at time t. */
static void code_at(int64_t t, char out[TOTP_CODE_LEN])
{
    uint8_t key[TOTP_KEY_MAX];
    size_t n = 0;
    struct lumi_err err;
    if (totp_base32_decode(C->secret, strlen(C->secret), key, sizeof key, &n, &err) != 0)
        fail_msg("the secret on the page is not base32: %s", err.msg);
    if (totp_code(key, n, t, TOTP_STEP_S, TOTP_DIGITS, out, &err) != 0)
        fail_msg("totp_code: %s", err.msg);
}

/* Posts a form of an account page with the session's CSRF token. */
static struct http_result post_account(const char *path, const char *fields)
{
    char csrf[80], form[600];
    browse_csrf(bb_base_url(), C->session, "/admin/account", csrf);
    snprintf(form, sizeof form, "csrf_token=%s%s%s", csrf, fields ? "&" : "", fields ? fields : "");
    return as_admin("POST", path, form);
}

/* Password step through the form. Returns the answer; the login cookies go to cookies_out. */
static struct http_result password_step(char *cookies_out, size_t sz)
{
    char token[80], cookies[200], form[600], pw[200];
    struct http_result r = browse(bb_base_url(), "GET", "/admin/login", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(browse_set_cookie_value(&r, "lumi_login_csrf", token, sizeof token));
    http_result_free(&r);
    browse_urlencode(ADMIN_PASSWORD, pw, sizeof pw);
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", token);
    snprintf(form, sizeof form, "login_csrf=%s&email=totp-admin%%40example.com&password=%s", token,
             pw);
    r = browse(bb_base_url(), "POST", "/admin/login", cookies, form, NULL);
    char challenge[100] = "", csrf[100] = "";
    browse_set_cookie_value(&r, "lumi_login_challenge", challenge, sizeof challenge);
    browse_set_cookie_value(&r, "lumi_login_csrf", csrf, sizeof csrf);
    snprintf(cookies_out, sz, "lumi_login_csrf=%s; lumi_login_challenge=%s", csrf, challenge);
    return r;
}

/* Posts the code form with the cookies of password_step. */
static struct http_result code_step(const char *cookies, const char *code)
{
    char csrf[100], form[300], enc[100];
    const char *p = strstr(cookies, "lumi_login_csrf=");
    assert_non_null(p);
    p += strlen("lumi_login_csrf=");
    size_t n = strcspn(p, ";");
    assert_true(n < sizeof csrf);
    memcpy(csrf, p, n);
    csrf[n] = '\0';
    browse_urlencode(code, enc, sizeof enc);
    snprintf(form, sizeof form, "login_csrf=%s&code=%s", csrf, enc);
    return browse(bb_base_url(), "POST", "/admin/login/code", cookies, form, NULL);
}

/* ---- tests -------------------------------------------------------------- */

static void account_pages_redirect_to_login_without_a_session(void **state)
{
    (void)state;
    static const char *const gets[] = {"/admin/account", "/admin/account/totp", NULL};
    static const char *const posts[] = {"/admin/account/totp", "/admin/account/totp/confirm",
                                        "/admin/account/totp/disable", NULL};
    for (size_t i = 0; gets[i] != NULL; i++) {
        struct http_result r = browse(bb_base_url(), "GET", gets[i], NULL, NULL, NULL);
        assert_int_equal(r.status, 303);
        assert_location(&r, "/admin/login");
        http_result_free(&r);
    }
    for (size_t i = 0; posts[i] != NULL; i++) {
        struct http_result r =
            browse(bb_base_url(), "POST", posts[i], "lumi_session=bogus", "code=123456", NULL);
        assert_int_equal(r.status, 303);
        assert_location(&r, "/admin/login");
        http_result_free(&r);
    }
    /* The code form exists only as the answer to a right password. */
    struct http_result r = browse(bb_base_url(), "GET", "/admin/login/code", NULL, NULL, NULL);
    assert_int_equal(r.status, 303);
    assert_location(&r, "/admin/login");
    http_result_free(&r);
    r = browse(bb_base_url(), "POST", "/admin/login/code", NULL, "code=123456", NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
}

static void enable_on_the_account_page(void **state)
{
    (void)state;
    char cookie[200];
    assert_int_equal(
        browse_login(bb_base_url(), "admin", ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie),
        303);
    snprintf(C->session, sizeof C->session, "%s", cookie);

    struct http_result r = as_admin("GET", "/admin/account", NULL);
    assert_int_equal(r.status, 200);
    assert_body_has(&r, ADMIN_EMAIL);
    assert_body_has(&r, "badge-warn\">Off");
    assert_body_has(&r, "action=\"/admin/account/totp\"");
    http_result_free(&r);

    /* Without the CSRF token nothing starts. */
    r = as_admin("POST", "/admin/account/totp", "x=1");
    assert_int_equal(r.status, 403);
    http_result_free(&r);

    r = post_account("/admin/account/totp", NULL);
    assert_int_equal(r.status, 303);
    assert_location(&r, "/admin/account/totp");
    http_result_free(&r);

    r = as_admin("GET", "/admin/account/totp", NULL);
    assert_int_equal(r.status, 200);
    char *cc = http_header(&r, "Cache-Control");
    assert_non_null(cc);
    assert_non_null(strstr(cc, "no-store"));
    free(cc);
    assert_true(
        browse_attr_after(buf_cstr(&r.body), "data-secret=\"", C->secret, sizeof C->secret));
    assert_int_equal(strlen(C->secret), 32);
    char uri[TOTP_URI_MAX];
    assert_true(
        browse_attr_after(buf_cstr(&r.body), "<pre class=\"details totp-uri\">", uri, sizeof uri));
    *strchr(uri, '<') = '\0';
    browse_unescape_url(uri);
    char want[200];
    snprintf(want, sizeof want,
             "otpauth://totp/Lumi:totp-admin%%40example.com?secret=%s&issuer=Lumi", C->secret);
    if (!str_starts_with(uri, want))
        fail_msg("the URI on the page is '%s', expected it to start with '%s'", uri, want);
    http_result_free(&r);

    /* A wrong code: 400, the set-up page again, still off. */
    char code[TOTP_CODE_LEN], field[40];
    code_at(utc_now(), code);
    code[5] = code[5] == '9' ? '0' : (char)(code[5] + 1);
    snprintf(field, sizeof field, "code=%s", code);
    r = post_account("/admin/account/totp/confirm", field);
    assert_int_equal(r.status, 400);
    assert_body_has(&r, "that code is not right");
    assert_body_has(&r, C->secret);
    http_result_free(&r);
    r = as_admin("GET", "/admin/account", NULL);
    assert_body_has(&r, "badge-warn\">Off");
    http_result_free(&r);

    /* The right code: on, and the ten recovery codes, this once. */
    code_at(utc_now(), code);
    snprintf(field, sizeof field, "code=%s", code);
    r = post_account("/admin/account/totp/confirm", field);
    assert_int_equal(r.status, 200);
    assert_body_has(&r, "Two-factor sign-in is on");
    assert_int_equal(browse_count(buf_cstr(&r.body), "<li class=\"recovery-code\">"), NCODES);
    const char *p = buf_cstr(&r.body);
    for (int i = 0; i < NCODES; i++) {
        p = strstr(p, "<li class=\"recovery-code\">");
        assert_non_null(p);
        p += strlen("<li class=\"recovery-code\">");
        size_t n = strcspn(p, "<");
        assert_int_equal(n, 14);
        memcpy(C->codes[i], p, n);
        C->codes[i][n] = '\0';
    }
    http_result_free(&r);

    r = as_admin("GET", "/admin/account", NULL);
    assert_body_has(&r, "badge-ok\">On");
    assert_body_has(&r, "<strong class=\"recovery-left\">10</strong>");
    assert_null(strstr(buf_cstr(&r.body), C->codes[0]));
    assert_null(strstr(buf_cstr(&r.body), C->secret));
    http_result_free(&r);
    /* The set-up page has nothing to show any more. */
    r = as_admin("GET", "/admin/account/totp", NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);

    r = bb_api("GET", "/api/admin/audit-logs?action=TOTP_ENABLED", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    http_result_free(&r);
}

static void login_with_password_then_code_reaches_the_dashboard(void **state)
{
    (void)state;
    char csrf[80], form[200], cookies[400], code[TOTP_CODE_LEN];
    browse_csrf(bb_base_url(), C->session, "/admin/account", csrf);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    struct http_result r = as_admin("POST", "/admin/logout", form);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    r = as_admin("GET", "/admin/account", NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);

    /* The password alone: the code form, no session. */
    r = password_step(cookies, sizeof cookies);
    assert_int_equal(r.status, 200);
    assert_body_has(&r, "action=\"/admin/login/code\"");
    assert_false(sets_cookie(&r, "lumi_session"));
    char *line = browse_set_cookie_line(&r, "lumi_login_challenge");
    assert_non_null(line);
    assert_non_null(strstr(line, "HttpOnly"));
    assert_non_null(strstr(line, "Max-Age=300"));
    free(line);
    char challenge[100];
    assert_true(browse_set_cookie_value(&r, "lumi_login_challenge", challenge, sizeof challenge));
    assert_null(strstr(buf_cstr(&r.body), challenge));
    http_result_free(&r);

    /* A wrong code: refused, audited with the reason. */
    code_at(utc_now() + TOTP_STEP_S, code);
    char wrong[TOTP_CODE_LEN];
    memcpy(wrong, code, sizeof wrong);
    wrong[0] = wrong[0] == '9' ? '0' : (char)(wrong[0] + 1);
    r = code_step(cookies, wrong);
    assert_int_equal(r.status, 401);
    assert_body_has(&r, "Wrong or already used code");
    assert_false(sets_cookie(&r, "lumi_session"));
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/audit-logs?action=LOGIN_FAILED&q=second-factor", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    assert_null(strstr(buf_cstr(&r.body), wrong));
    http_result_free(&r);

    /* The right code (the confirm code's step is spent; the app's next one) → dashboard. */
    r = code_step(cookies, code);
    assert_int_equal(r.status, 303);
    assert_location(&r, "/admin");
    char value[128];
    assert_true(browse_set_cookie_value(&r, "lumi_session", value, sizeof value));
    snprintf(C->session, sizeof C->session, "lumi_session=%s", value);
    memcpy(C->used_code, code, sizeof C->used_code);
    http_result_free(&r);
    r = as_admin("GET", "/admin", NULL);
    assert_int_equal(r.status, 200);
    assert_body_has(&r, ADMIN_EMAIL);
    http_result_free(&r);

    /* The same challenge again: gone; back to the password form. */
    r = code_step(cookies, code);
    assert_int_equal(r.status, 401);
    assert_body_has(&r, "name=\"password\"");
    http_result_free(&r);
}

static void replayed_code_and_reused_recovery_code_fail(void **state)
{
    (void)state;
    char cookies[400];
    struct http_result r = password_step(cookies, sizeof cookies);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    r = code_step(cookies, C->used_code);
    assert_int_equal(r.status, 401);
    http_result_free(&r);

    /* A recovery code, typed in capitals: works once. */
    char typed[TOTP_RECOVERY_LEN];
    snprintf(typed, sizeof typed, "%s", C->codes[0]);
    for (char *p = typed; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    r = code_step(cookies, typed);
    assert_int_equal(r.status, 303);
    assert_true(sets_cookie(&r, "lumi_session"));
    http_result_free(&r);

    r = password_step(cookies, sizeof cookies);
    http_result_free(&r);
    r = code_step(cookies, C->codes[0]);
    assert_int_equal(r.status, 401);
    http_result_free(&r);

    r = bb_api("GET", "/api/admin/audit-logs?action=RECOVERY_CODE_USED", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    http_result_free(&r);
    r = as_admin("GET", "/admin/account", NULL);
    assert_body_has(&r, "<strong class=\"recovery-left\">9</strong>");
    http_result_free(&r);
}

static void json_login_needs_the_second_factor_too(void **state)
{
    (void)state;
    struct http_result r =
        http_api(bb_base_url(), NULL, "POST", "/api/admin/login",
                 "{\"email\":\"" ADMIN_EMAIL "\",\"password\":\"" ADMIN_PASSWORD "\"}");
    assert_int_equal(r.status, 401);
    assert_string_equal(http_error_code(&r), "second_factor_required");
    assert_false(sets_cookie(&r, "lumi_session"));
    const char *challenge = json_string_value(json_object_get(r.json, "challenge"));
    assert_non_null(challenge);
    assert_int_equal(strlen(challenge), 64);
    char body[300];
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"000000\"}", challenge);
    struct http_result w = http_api(bb_base_url(), NULL, "POST", "/api/admin/login", body);
    assert_int_equal(w.status, 401);
    http_result_free(&w);
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", challenge, C->codes[1]);
    w = http_api(bb_base_url(), NULL, "POST", "/api/admin/login", body);
    assert_int_equal(w.status, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(w.json, "user"), "email")), ADMIN_EMAIL);
    assert_true(sets_cookie(&w, "lumi_session"));
    http_result_free(&w);
    /* Used: the challenge is gone. */
    w = http_api(bb_base_url(), NULL, "POST", "/api/admin/login", body);
    assert_int_equal(w.status, 401);
    http_result_free(&w);
    http_result_free(&r);
}

static void disable_needs_the_password_and_nothing_secret_is_audited(void **state)
{
    (void)state;
    struct http_result r = post_account("/admin/account/totp/disable", "password=Wrong-Password-9");
    assert_int_equal(r.status, 401);
    assert_body_has(&r, "still on");
    http_result_free(&r);
    r = as_admin("GET", "/admin/account", NULL);
    assert_body_has(&r, "badge-ok\">On");
    http_result_free(&r);

    char pw[200], field[260];
    browse_urlencode(ADMIN_PASSWORD, pw, sizeof pw);
    snprintf(field, sizeof field, "password=%s", pw);
    r = post_account("/admin/account/totp/disable", field);
    assert_int_equal(r.status, 303);
    assert_location(&r, "/admin/account");
    struct http_result shown = browse_follow(bb_base_url(), &r, C->session);
    assert_body_has(&shown, "flash-ok");
    http_result_free(&shown);
    http_result_free(&r);
    r = as_admin("GET", "/admin/account", NULL);
    assert_body_has(&r, "badge-warn\">Off");
    http_result_free(&r);

    /* The password alone opens a session again. */
    char cookie[200];
    assert_int_equal(
        browse_login(bb_base_url(), "admin", ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie),
        303);

    r = bb_api("GET", "/api/admin/audit-logs?action=TOTP_DISABLED", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/audit-logs?format=jsonl", NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(buf_cstr(&r.body), C->secret));
    assert_null(strstr(buf_cstr(&r.body), C->used_code));
    for (int i = 0; i < NCODES; i++)
        assert_null(strstr(buf_cstr(&r.body), C->codes[i]));
    http_result_free(&r);
    char *log = lumi_server_log(bb_server());
    assert_null(strstr(log, C->secret));
    for (int i = 0; i < NCODES; i++)
        assert_null(strstr(log, C->codes[i]));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(account_pages_redirect_to_login_without_a_session),
        cmocka_unit_test(enable_on_the_account_page),
        cmocka_unit_test(login_with_password_then_code_reaches_the_dashboard),
        cmocka_unit_test(replayed_code_and_reused_recovery_code_fail),
        cmocka_unit_test(json_login_needs_the_second_factor_too),
        cmocka_unit_test(disable_needs_the_password_and_nothing_secret_is_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
