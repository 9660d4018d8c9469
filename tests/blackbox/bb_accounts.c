/*
 * bb_accounts.c — a customer's own account as a visitor and a client see it,
 * with mail going to a real SMTP server (tests/smtp_sink.py):
 *   - sign up → the verification mail arrives → verify → log in over the API;
 *     the token works once, not twice, and not after 48 hours;
 *   - the token is in the bytes sent only: not in the emails rows, not in
 *     GET /api/admin/emails/{id}, not in account_tokens;
 *   - password reset: the mail arrives, confirm sets the password, the old
 *     one fails, every earlier session is dead, the new one works; the token
 *     is useless after an hour;
 *   - sign-up and reset answer the same status and body for a known and an
 *     unknown address, in similar time;
 *   - throttles answer 429 "throttled"; the honeypot creates nothing; a
 *     closed sign-up answers 403 "signup_disabled" and the page says so;
 *   - every new form refuses a missing or wrong CSRF token;
 *   - a client with TOTP needs the code to log in (API and page);
 *   - the admin sees the sign-up and verification state and can mark a
 *     client verified by hand.
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
#include <time.h>

#include "accounts/totp.h"
#include "core/str.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/smtpsink.h"

#define SECRET_KEY "5e1f0b9a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery staple"
#define BASE_URL "https://billing.example.com"
#define PASSWORD "a long client password"
#define NEW_PASSWORD "another long password"
#define HIDDEN_MARK "TOKEN-HIDDEN-UNTIL-SENT"

struct ctx {
    struct smtpsink *sink;
    char admin[200]; /* the admin's page session cookie */
};
static struct ctx *C;

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->sink = smtpsink_start(NULL);
    bb_init(SECRET_KEY);
    bb_env_add("SMTP_HOST=127.0.0.1");
    bb_env_add("SMTP_PORT=%d", smtpsink_port(C->sink));
    bb_env_add("SMTP_TLS=none");
    bb_env_add("SMTP_FROM=Acme Hosting <billing@acme.example>");
    bb_env_add("LUMI_BASE_URL=" BASE_URL);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "accounts-test");
    bb_serve();
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, C->admin, sizeof C->admin);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    smtpsink_stop(C->sink);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------ */

static void sql(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    struct lumi_err err;
    if (db_exec(bb_db(), q, &err) != 0)
        fail_msg("%s: %s", q, err.msg);
}

/* Every test starts with no throttle counted (they all come from 127.0.0.1). */
static void no_throttles(void)
{
    sql("DELETE FROM rate_events");
}

/* method path with body, a Cookie (may be NULL) and X-CSRF-Token (may be NULL), no API token. */
static struct http_result call(const char *method, const char *path, const char *body,
                               const char *cookie, const char *csrf)
{
    char url[512], ch[400], xh[200];
    const char *h[4] = {NULL};
    int n = 0;
    h[n++] = "Content-Type: application/json";
    if (cookie != NULL) {
        snprintf(ch, sizeof ch, "Cookie: %s", cookie);
        h[n++] = ch;
    }
    if (csrf != NULL) {
        snprintf(xh, sizeof xh, "X-CSRF-Token: %s", csrf);
        h[n++] = xh;
    }
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    struct http_result r;
    if (http_request(method, url, h, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

static void expect(const struct http_result *r, long status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: want %ld, got %ld: %s", what, status, r->status, buf_cstr(&r->body));
}

static void signup_body(char *out, size_t sz, const char *email, const char *extra)
{
    snprintf(out, sz,
             "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"first_name\":\"Grace\","
             "\"last_name\":\"Hopper\",\"country\":\"US\",\"company\":\"Navy\"%s}",
             email, extra != NULL ? extra : "");
}

static struct http_result signup(const char *email, const char *extra)
{
    char body[800];
    signup_body(body, sizeof body, email, extra);
    return call("POST", "/api/client/signup", body, NULL, NULL);
}

/* The newest stored message to rcpt whose text has needle, waiting up to 10 s (caller decrefs). */
static json_t *mail_to(const char *rcpt, const char *needle, int at_least)
{
    for (int tries = 0; tries < 100; tries++) {
        int n = smtpsink_count(C->sink);
        int found = 0;
        json_t *last = NULL;
        for (int i = 0; i < n; i++) {
            json_t *m = smtpsink_message(C->sink, i);
            const char *to = json_string_value(json_array_get(json_object_get(m, "rcpt_tos"), 0));
            const char *text = json_string_value(json_object_get(m, "text"));
            if (to != NULL && str_eq(to, rcpt) && text != NULL && strstr(text, needle) != NULL) {
                found++;
                json_decref(last);
                last = m;
            } else {
                json_decref(m);
            }
        }
        if (found >= at_least)
            return last;
        json_decref(last);
        bb_sleep_ms(100);
    }
    fail_msg("no message %d to %s with '%s' arrived", at_least, rcpt, needle);
    return NULL;
}

/* The 64-hex token after "?token=" in the message's text (also checked in its html). */
static void token_of(const json_t *m, char out[65])
{
    const char *text = json_string_value(json_object_get(m, "text"));
    const char *html = json_string_value(json_object_get(m, "html"));
    const char *p = text != NULL ? strstr(text, "?token=") : NULL;
    if (p == NULL)
        fail_msg("no token link in the mail: %s", text ? text : "(no text)");
    memcpy(out, p + 7, 64);
    out[64] = '\0';
    for (int i = 0; i < 64; i++)
        if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f')))
            fail_msg("the token in the mail is not 64 hex characters: %.80s", p);
    if (html == NULL || strstr(html, out) == NULL)
        fail_msg("the html part has no link with the token");
    if (strstr(text, HIDDEN_MARK) != NULL)
        fail_msg("the mark was sent instead of the token");
}

/* The token is stored nowhere readable: emails rows, the admin's view, account_tokens. */
static void token_not_stored(const char *rcpt, const char *token)
{
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails WHERE body_text LIKE '%%%s%%' OR "
                              "body_html LIKE '%%%s%%' OR subject LIKE '%%%s%%' OR secret LIKE "
                              "'%%%s%%' OR event_key LIKE '%%%s%%'",
                              token, token, token, token, token),
                     0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM account_tokens WHERE token_hash = '%s'", token),
                     0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%%%s%%'", token),
                     0);
    int64_t id = bb_count("SELECT MAX(id) FROM emails WHERE rcpt = '%s'", rcpt);
    json_t *e = bb_json("GET", NULL, 200, "/api/admin/emails/%" PRId64, id);
    char *dump = json_dumps(e, 0);
    if (strstr(dump, token) != NULL)
        fail_msg("GET /api/admin/emails/%" PRId64 " shows the token", id);
    if (strstr(dump, HIDDEN_MARK) == NULL)
        fail_msg("the admin's view has no redacted link: %s", dump);
    free(dump);
    json_decref(e);
    char path[64];
    snprintf(path, sizeof path, "/admin/emails/%" PRId64, id);
    struct http_result r = browse(bb_base_url(), "GET", path, C->admin, NULL, NULL);
    expect(&r, 200, path);
    if (strstr(buf_cstr(&r.body), token) != NULL)
        fail_msg("/admin/emails/%" PRId64 " shows the token", id);
    http_result_free(&r);
}

/* Logs in over the API: 200 with the session cookie and the CSRF token (out params may be NULL). */
static long api_login(const char *email, const char *password, char cookie[160], char csrf[80])
{
    char body[400];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    struct http_result r = call("POST", "/api/client/login", body, NULL, NULL);
    long status = r.status;
    if (status == 200 && cookie != NULL) {
        char v[100];
        if (!browse_set_cookie_value(&r, "lumi_client_session", v, sizeof v))
            fail_msg("the API login set no lumi_client_session cookie");
        snprintf(cookie, 160, "lumi_client_session=%s", v);
        snprintf(csrf, 80, "%s", bb_str(r.json, "csrf_token"));
        assert_int_equal(strlen(csrf), 64);
    }
    http_result_free(&r);
    return status;
}

static long profile_status(const char *cookie)
{
    struct http_result r = call("GET", "/api/client/profile", NULL, cookie, NULL);
    long s = r.status;
    http_result_free(&r);
    return s;
}

static int64_t user_id(const char *email)
{
    return bb_count("SELECT id FROM users WHERE email = '%s'", email);
}

/* Signs up email and verifies it through the mailed link; answers the client id. */
static int64_t signed_up_and_verified(const char *email)
{
    char token[65], body[200];
    struct http_result r = signup(email, NULL);
    expect(&r, 202, "sign-up");
    http_result_free(&r);
    json_t *m = mail_to(email, "/client/verify?token=", 1);
    token_of(m, token);
    json_decref(m);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 200, "verify");
    http_result_free(&r);
    return user_id(email);
}

/* ---- tests ------------------------------------------------------------------------ */

static void signup_verify_and_login(void **state)
{
    (void)state;
    char token[65], body[200], cookie[160], csrf[80];
    no_throttles();
    struct http_result r = signup("grace@example.com", NULL);
    expect(&r, 202, "sign-up");
    assert_string_equal(bb_str(r.json, "status"), "check_email");
    http_result_free(&r);
    int64_t id = user_id("grace@example.com");
    assert_true(id > 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE id = %" PRId64
                              " AND role = 'client' AND signed_up_at IS NOT NULL AND signup_ip = "
                              "'127.0.0.1' AND email_verified_at IS NULL",
                              id),
                     1);

    json_t *m = mail_to("grace@example.com", BASE_URL "/client/verify?token=", 1);
    assert_string_equal(bb_str(m, "subject"), "Confirm your e-mail address for Acme Hosting");
    assert_non_null(strstr(bb_str(m, "text"), "Hello Grace Hopper"));
    token_of(m, token);
    json_decref(m);
    token_not_stored("grace@example.com", token);

    /* The admin sees it: signed up, from where, not verified. */
    json_t *c = bb_json("GET", NULL, 200, "/api/admin/clients/%" PRId64, id);
    assert_string_equal(bb_str(c, "signup_ip"), "127.0.0.1");
    assert_true(json_is_null(json_object_get(c, "email_verified_at")));
    json_decref(c);
    char page[64];
    snprintf(page, sizeof page, "/admin/clients/%" PRId64, id);
    r = browse(bb_base_url(), "GET", page, C->admin, NULL, NULL);
    expect(&r, 200, page);
    assert_non_null(strstr(buf_cstr(&r.body), "not verified"));
    assert_non_null(strstr(buf_cstr(&r.body), "from <span class=\"mono\">127.0.0.1"));
    http_result_free(&r);

    /* The link's page only shows a button; its GET spends nothing. */
    char path[200];
    snprintf(path, sizeof path, "/client/verify?token=%s", token);
    r = browse(bb_base_url(), "GET", path, NULL, NULL, NULL);
    expect(&r, 200, "verify page");
    assert_non_null(strstr(buf_cstr(&r.body), "Confirm my e-mail address"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE id = %" PRId64
                              " AND email_verified_at IS NULL",
                              id),
                     1);

    snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 200, "verify");
    http_result_free(&r);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 404, "verify twice");
    assert_non_null(strstr(bb_str(json_object_get(r.json, "error"), "message"), "already"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE id = %" PRId64
                              " AND email_verified_at IS NOT NULL",
                              id),
                     1);
    assert_true(bb_audit_count("CLIENT_SIGNED_UP") >= 1);
    assert_true(bb_audit_count("EMAIL_VERIFIED") >= 1);

    assert_int_equal(api_login("grace@example.com", PASSWORD, cookie, csrf), 200);
    r = call("GET", "/api/client/profile", NULL, cookie, NULL);
    expect(&r, 200, "profile");
    assert_string_equal(bb_str(r.json, "email"), "grace@example.com");
    assert_string_equal(bb_str(r.json, "company"), "Navy");
    http_result_free(&r);

    /* Profile: the address changes, the e-mail does not; CSRF needed. */
    r = call("PATCH", "/api/client/profile", "{\"city\":\"Arlington\"}", cookie, NULL);
    expect(&r, 403, "profile without CSRF");
    http_result_free(&r);
    r = call("PATCH", "/api/client/profile", "{\"city\":\"Arlington\"}", cookie, csrf);
    expect(&r, 200, "profile change");
    assert_string_equal(bb_str(r.json, "city"), "Arlington");
    http_result_free(&r);
    r = call("PATCH", "/api/client/profile", "{\"email\":\"x@example.com\"}", cookie, csrf);
    expect(&r, 400, "e-mail change");
    assert_non_null(strstr(bb_str(json_object_get(r.json, "error"), "message"), "'email'"));
    http_result_free(&r);

    r = call("POST", "/api/client/logout", NULL, cookie, csrf);
    expect(&r, 204, "logout");
    http_result_free(&r);
    assert_int_equal(profile_status(cookie), 401);
}

static void an_expired_verification_token_is_refused(void **state)
{
    (void)state;
    char token[65], body[200];
    no_throttles();
    struct http_result r = signup("late@example.com", NULL);
    expect(&r, 202, "sign-up");
    http_result_free(&r);
    json_t *m = mail_to("late@example.com", "/client/verify?token=", 1);
    token_of(m, token);
    json_decref(m);
    sql("UPDATE account_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE user_id = %" PRId64,
        user_id("late@example.com"));
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 404, "expired verify");
    assert_non_null(strstr(bb_str(json_object_get(r.json, "error"), "message"), "expired"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'late@example.com' AND "
                              "email_verified_at IS NULL"),
                     1);
    /* The admin marks it verified by hand (mail may not reach it), once. */
    int64_t id = user_id("late@example.com");
    json_t *c = bb_json("POST", NULL, 200, "/api/admin/clients/%" PRId64 "/verify", id);
    assert_true(json_is_string(json_object_get(c, "email_verified_at")));
    json_decref(c);
    json_decref(bb_json("POST", NULL, 409, "/api/admin/clients/%" PRId64 "/verify", id));
    json_decref(
        bb_json("POST", NULL, 409, "/api/admin/clients/%" PRId64 "/resend-verification", id));
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'EMAIL_VERIFIED' "
                              "AND entity_id = '%" PRId64 "' AND details LIKE '%%admin%%'",
                              id),
                     1);

    /* A client an admin creates counts as verified, and the page says who made it. */
    int64_t made = bb_create_ok("/api/admin/clients",
                                "{\"email\":\"made@example.com\",\"first_name\":\"Made\"}");
    c = bb_json("GET", NULL, 200, "/api/admin/clients/%" PRId64, made);
    assert_true(json_is_null(json_object_get(c, "signed_up_at")));
    assert_true(json_is_string(json_object_get(c, "email_verified_at")));
    json_decref(c);
    char page[64];
    snprintf(page, sizeof page, "/admin/clients/%" PRId64, made);
    struct http_result p = browse(bb_base_url(), "GET", page, C->admin, NULL, NULL);
    assert_non_null(strstr(buf_cstr(&p.body), "created by an admin"));
    assert_null(strstr(buf_cstr(&p.body), "not verified"));
    http_result_free(&p);
}

static void password_reset_ends_every_session(void **state)
{
    (void)state;
    char token[65], body[300], a[160], acsrf[80], b[160], bcsrf[80];
    no_throttles();
    signed_up_and_verified("ada@example.com");
    assert_int_equal(api_login("ada@example.com", PASSWORD, a, acsrf), 200);
    assert_int_equal(api_login("ada@example.com", PASSWORD, b, bcsrf), 200);

    struct http_result r =
        call("POST", "/api/client/password-reset", "{\"email\":\"ADA@example.com\"}", NULL, NULL);
    expect(&r, 202, "reset request");
    http_result_free(&r);
    json_t *m = mail_to("ada@example.com", BASE_URL "/client/password-reset/confirm?token=", 1);
    token_of(m, token);
    json_decref(m);
    token_not_stored("ada@example.com", token);

    snprintf(body, sizeof body, "{\"token\":\"%s\",\"password\":\"short\"}", token);
    r = call("POST", "/api/client/password-reset/confirm", body, NULL, NULL);
    expect(&r, 400, "too short a password");
    http_result_free(&r);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"password\":\"" NEW_PASSWORD "\"}", token);
    r = call("POST", "/api/client/password-reset/confirm", body, NULL, NULL);
    expect(&r, 200, "reset confirm");
    http_result_free(&r);
    r = call("POST", "/api/client/password-reset/confirm", body, NULL, NULL);
    expect(&r, 404, "reset confirm twice");
    http_result_free(&r);

    assert_int_equal(profile_status(a), 401);
    assert_int_equal(profile_status(b), 401);
    assert_int_equal(api_login("ada@example.com", PASSWORD, NULL, NULL), 401);
    assert_int_equal(api_login("ada@example.com", NEW_PASSWORD, a, acsrf), 200);
    assert_int_equal(profile_status(a), 200);
    assert_true(bb_audit_count("PASSWORD_RESET") >= 1);

    /* A reset token is useless after an hour. */
    r = call("POST", "/api/client/password-reset", "{\"email\":\"ada@example.com\"}", NULL, NULL);
    expect(&r, 202, "second reset request");
    http_result_free(&r);
    m = mail_to("ada@example.com", "/client/password-reset/confirm?token=", 2);
    token_of(m, token);
    json_decref(m);
    sql("UPDATE account_tokens SET created_at = '2001-01-01T00:00:00Z', expires_at = "
        "'2001-01-01T01:00:00Z' WHERE purpose = 'reset' AND used_at IS NULL");
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"password\":\"a third long password\"}", token);
    r = call("POST", "/api/client/password-reset/confirm", body, NULL, NULL);
    expect(&r, 404, "an hour-old reset token");
    http_result_free(&r);
    assert_int_equal(profile_status(a), 200); /* nothing changed */

    /* Changing the password ends the other sessions, keeps this one. */
    assert_int_equal(api_login("ada@example.com", NEW_PASSWORD, b, bcsrf), 200);
    r = call("POST", "/api/client/password",
             "{\"current_password\":\"wrong one!\",\"new_password\":\"yet another password\"}", a,
             acsrf);
    expect(&r, 400, "wrong current password");
    http_result_free(&r);
    r = call("POST", "/api/client/password",
             "{\"current_password\":\"" NEW_PASSWORD "\",\"new_password\":\"yet another "
             "password\"}",
             a, acsrf);
    expect(&r, 200, "password change");
    http_result_free(&r);
    assert_int_equal(profile_status(a), 200);
    assert_int_equal(profile_status(b), 401);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* method path body: the answer's status and body into out, the time taken as the result. */
static double timed(const char *path, const char *body, long *status, char *out, size_t sz)
{
    double t0 = now_s();
    struct http_result r = call("POST", path, body, NULL, NULL);
    double dt = now_s() - t0;
    *status = r.status;
    snprintf(out, sz, "%s", buf_cstr(&r.body));
    http_result_free(&r);
    return dt;
}

static void signup_and_reset_cannot_tell_whether_an_address_exists(void **state)
{
    (void)state;
    char known[800], unknown[800], kb[600], ub[600];
    long ks = 0, us = 0;
    double tk = 0, tu = 0;
    no_throttles();
    signed_up_and_verified("known@example.com");
    int64_t users = bb_count("SELECT COUNT(*) FROM users");
    int mails = smtpsink_count(C->sink);
    for (int i = 0; i < 2; i++) {
        char fresh[64];
        no_throttles();
        snprintf(fresh, sizeof fresh, "fresh%d@example.com", i);
        signup_body(known, sizeof known, "known@example.com", NULL);
        signup_body(unknown, sizeof unknown, fresh, NULL);
        tk += timed("/api/client/signup", known, &ks, kb, sizeof kb);
        tu += timed("/api/client/signup", unknown, &us, ub, sizeof ub);
        assert_int_equal(ks, us);
        assert_string_equal(kb, ub);
    }
    assert_int_equal(ks, 202);
    if (tk > 5 * tu + 0.5 || tu > 5 * tk + 0.5)
        fail_msg("sign-up timing tells: known %.3fs, unknown %.3fs", tk, tu);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users"), users + 2); /* the two fresh ones */
    assert_true(bb_audit_count("SIGNUP_EXISTING_EMAIL") >= 2);
    smtpsink_wait(C->sink, mails + 2, 10000);

    tk = tu = 0;
    for (int i = 0; i < 2; i++) {
        no_throttles();
        tk += timed("/api/client/password-reset", "{\"email\":\"known@example.com\"}", &ks, kb,
                    sizeof kb);
        tu += timed("/api/client/password-reset", "{\"email\":\"nobody@example.com\"}", &us, ub,
                    sizeof ub);
        assert_int_equal(ks, 202);
        assert_int_equal(ks, us);
        assert_string_equal(kb, ub);
    }
    if (tk > 5 * tu + 0.5 || tu > 5 * tk + 0.5)
        fail_msg("reset timing tells: known %.3fs, unknown %.3fs", tk, tu);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM account_tokens t JOIN users u ON u.id = "
                              "t.user_id WHERE u.email = 'nobody@example.com'"),
                     0);
}

static void throttles_answer_429(void **state)
{
    (void)state;
    char email[64];
    struct http_result r;
    no_throttles();
    for (int i = 0; i < 5; i++) {
        snprintf(email, sizeof email, "burst%d@example.com", i);
        r = signup(email, NULL);
        expect(&r, 202, "sign-up within the throttle");
        http_result_free(&r);
    }
    r = signup("burst9@example.com", NULL);
    expect(&r, 429, "sixth sign-up in an hour");
    assert_string_equal(http_error_code(&r), "too_many_requests");
    assert_non_null(strstr(bb_str(json_object_get(r.json, "error"), "message"), "try again"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'burst9@example.com'"), 0);

    no_throttles();
    for (int i = 0; i < 3; i++) {
        r = call("POST", "/api/client/password-reset", "{\"email\":\"burst0@example.com\"}", NULL,
                 NULL);
        expect(&r, 202, "reset within the throttle");
        http_result_free(&r);
    }
    r = call("POST", "/api/client/password-reset", "{\"email\":\"burst0@example.com\"}", NULL,
             NULL);
    expect(&r, 429, "fourth reset for one address");
    assert_string_equal(http_error_code(&r), "too_many_requests");
    http_result_free(&r);
    /* Old events are pruned as new ones come. */
    sql("UPDATE rate_events SET at = '2001-01-01T00:00:00Z'");
    r = call("POST", "/api/client/password-reset", "{\"email\":\"burst0@example.com\"}", NULL,
             NULL);
    expect(&r, 202, "reset after the window");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM rate_events WHERE at < '2002-01-01'"), 0);
}

static void the_honeypot_creates_nothing(void **state)
{
    (void)state;
    no_throttles();
    int64_t users = bb_count("SELECT COUNT(*) FROM users");
    int64_t emails = bb_count("SELECT COUNT(*) FROM emails");
    struct http_result bot = signup("bot@example.com", ",\"website\":\"http://spam.example\"");
    struct http_result human = signup("human@example.com", ",\"website\":\"\"");
    expect(&bot, 202, "bot sign-up");
    assert_string_equal(buf_cstr(&bot.body), buf_cstr(&human.body));
    http_result_free(&bot);
    http_result_free(&human);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'bot@example.com'"), 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users"), users + 1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails"), emails + 1);
}

static void a_closed_signup_answers_403(void **state)
{
    (void)state;
    no_throttles();
    json_decref(bb_json("PATCH", "{\"store.signup_enabled\":false}", 200, "/api/admin/settings"));
    struct http_result r = signup("closed@example.com", NULL);
    expect(&r, 403, "closed sign-up");
    assert_string_equal(http_error_code(&r), "signup_disabled");
    http_result_free(&r);
    r = browse(bb_base_url(), "GET", "/client/signup", NULL, NULL, NULL);
    assert_non_null(strstr(buf_cstr(&r.body), "Sign-up is closed"));
    http_result_free(&r);
    json_decref(bb_json("PATCH", "{\"store.signup_enabled\":true}", 200, "/api/admin/settings"));
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'closed@example.com'"), 0);
    r = signup("closed@example.com", NULL);
    expect(&r, 202, "open again");
    http_result_free(&r);
}

/* GETs path and answers the form token (form_csrf field) and its cookie. */
static void visitor_form(const char *path, char token[80], char cookie[120])
{
    char v[80];
    struct http_result r = browse(bb_base_url(), "GET", path, NULL, NULL, NULL);
    expect(&r, 200, path);
    if (!browse_attr_after(buf_cstr(&r.body), "name=\"form_csrf\" value=\"", token, 80))
        fail_msg("%s has no form_csrf field", path);
    if (!browse_set_cookie_value(&r, "lumi_form_csrf", v, sizeof v))
        fail_msg("%s set no lumi_form_csrf cookie", path);
    snprintf(cookie, 120, "lumi_form_csrf=%s", v);
    http_result_free(&r);
}

static void post_status(const char *path, const char *cookie, const char *form, long want)
{
    struct http_result r = browse(bb_base_url(), "POST", path, cookie, form, NULL);
    expect(&r, want, path);
    http_result_free(&r);
}

static void every_form_needs_its_csrf_token(void **state)
{
    (void)state;
    char token[80], cookie[120], form[1200], session[200], csrf[80];
    no_throttles();
    int64_t users = bb_count("SELECT COUNT(*) FROM users");
    static const char *const visitor[] = {"/client/signup", "/client/password-reset",
                                          "/client/verify?token=ab",
                                          "/client/password-reset/confirm?token=ab", NULL};
    for (int i = 0; visitor[i] != NULL; i++) {
        char post[80];
        snprintf(post, sizeof post, "%.*s", (int)strcspn(visitor[i], "?"), visitor[i]);
        visitor_form(visitor[i], token, cookie);
        snprintf(form, sizeof form,
                 "email=csrf%d%%40example.com&password=a+long+password&first_name=A&last_name=B"
                 "&country=US&token=ab",
                 i);
        post_status(post, NULL, form, 403);   /* no token, no cookie */
        post_status(post, cookie, form, 403); /* no field */
        char wrong[1400];
        snprintf(wrong, sizeof wrong, "%s&form_csrf=%064d", form, 7);
        post_status(post, cookie, wrong, 403); /* wrong field */
    }
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users"), users);

    /* With the right token the sign-up page works. */
    visitor_form("/client/signup", token, cookie);
    snprintf(form, sizeof form,
             "email=page%%40example.com&password=a+long+password&first_name=Page&last_name=User"
             "&country=US&website=&form_csrf=%s",
             token);
    struct http_result r = browse(bb_base_url(), "POST", "/client/signup", cookie, form, NULL);
    expect(&r, 200, "page sign-up");
    assert_non_null(strstr(buf_cstr(&r.body), "Check your e-mail"));
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'page@example.com'"), 1);

    /* The account forms need the session's token. */
    signed_up_and_verified("forms@example.com");
    assert_int_equal(browse_login(bb_base_url(), "client", "forms@example.com", PASSWORD, session,
                                  sizeof session),
                     303);
    browse_csrf(bb_base_url(), session, "/client/account", csrf);
    static const char *const account[] = {
        "/client/account/profile",      "/client/account/password",     "/client/account/totp",
        "/client/account/totp/confirm", "/client/account/totp/disable", NULL};
    for (int i = 0; account[i] != NULL; i++) {
        post_status(account[i], session, "first_name=X&current_password=" PASSWORD, 403);
        post_status(account[i], session, "first_name=X&csrf_token=0000", 403);
    }
    snprintf(form, sizeof form,
             "csrf_token=%s&first_name=Forms&last_name=User&country=DE&city=Berlin", csrf);
    post_status("/client/account/profile", session, form, 303);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'forms@example.com' AND "
                              "city = 'Berlin'"),
                     1);
    /* The admin's verification buttons, too. */
    char path[80];
    snprintf(path, sizeof path, "/admin/clients/%" PRId64 "/verify", user_id("page@example.com"));
    post_status(path, C->admin, "csrf_token=nope", 403);
    snprintf(path, sizeof path, "/admin/clients/%" PRId64 "/resend-verification",
             user_id("page@example.com"));
    int64_t queued = bb_count("SELECT COUNT(*) FROM emails");
    post_status(path, C->admin, "csrf_token=nope", 403);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails"), queued);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'page@example.com' AND "
                              "email_verified_at IS NULL"),
                     1);
}

/* The code an authenticator app shows for b32 at time t. */
static void code_at(const char *b32, int64_t t, char out[TOTP_CODE_LEN])
{
    uint8_t key[TOTP_KEY_MAX];
    size_t n = 0;
    struct lumi_err err;
    if (totp_base32_decode(b32, strlen(b32), key, sizeof key, &n, &err) != 0)
        fail_msg("the secret is not base32: %s", err.msg);
    if (totp_code(key, n, t, TOTP_STEP_S, TOTP_DIGITS, out, &err) != 0)
        fail_msg("totp_code: %s", err.msg);
}

static void a_client_with_totp_needs_the_code(void **state)
{
    (void)state;
    char cookie[160], csrf[80], code[TOTP_CODE_LEN], body[300], secret[64];
    no_throttles();
    signed_up_and_verified("totp@example.com");
    assert_int_equal(api_login("totp@example.com", PASSWORD, cookie, csrf), 200);
    struct http_result r = call("POST", "/api/client/totp", NULL, cookie, csrf);
    expect(&r, 200, "totp begin");
    snprintf(secret, sizeof secret, "%s", bb_str(r.json, "secret"));
    http_result_free(&r);
    code_at(secret, time(NULL), code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    r = call("POST", "/api/client/totp/confirm", body, cookie, csrf);
    expect(&r, 200, "totp confirm");
    assert_int_equal(json_array_size(json_object_get(r.json, "recovery_codes")), 10);
    char recovery[64];
    snprintf(recovery, sizeof recovery, "%s",
             json_string_value(json_array_get(json_object_get(r.json, "recovery_codes"), 0)));
    http_result_free(&r);

    /* The password alone opens no session. */
    r = call("POST", "/api/client/login",
             "{\"email\":\"totp@example.com\",\"password\":\"" PASSWORD "\"}", NULL, NULL);
    expect(&r, 401, "login with TOTP on");
    assert_string_equal(http_error_code(&r), "second_factor_required");
    assert_null(http_header(&r, "Set-Cookie"));
    char challenge[80];
    snprintf(challenge, sizeof challenge, "%s", bb_str(r.json, "challenge"));
    http_result_free(&r);
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"000000\"}", challenge);
    r = call("POST", "/api/client/login", body, NULL, NULL);
    expect(&r, 401, "a wrong code");
    http_result_free(&r);
    code_at(secret, time(NULL) + 30, code); /* the next step: the confirming one is spent */
    snprintf(body, sizeof body, "{\"challenge\":\"%s\",\"code\":\"%s\"}", challenge, code);
    r = call("POST", "/api/client/login", body, NULL, NULL);
    expect(&r, 200, "login with the code");
    assert_string_equal(bb_str(json_object_get(r.json, "user"), "email"), "totp@example.com");
    http_result_free(&r);

    /* The page login asks for the code too, and takes a recovery code. */
    char field[80], lc[80], ch[100], cookies[300], form[600];
    r = browse(bb_base_url(), "GET", "/client/login", NULL, NULL, NULL);
    if (!browse_attr_after(buf_cstr(&r.body), "name=\"login_csrf\" value=\"", field,
                           sizeof field) ||
        !browse_set_cookie_value(&r, "lumi_login_csrf", lc, sizeof lc))
        fail_msg("the login form has no CSRF token");
    http_result_free(&r);
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", lc);
    snprintf(form, sizeof form,
             "login_csrf=%s&email=totp%%40example.com&password=a+long+client+password", field);
    r = browse(bb_base_url(), "POST", "/client/login", cookies, form, NULL);
    expect(&r, 200, "page login with TOTP on");
    assert_non_null(strstr(buf_cstr(&r.body), "Two-factor code"));
    char *no_session = browse_set_cookie_line(&r, "lumi_client_session");
    assert_null(no_session);
    if (!browse_set_cookie_value(&r, "lumi_client_challenge", ch, sizeof ch))
        fail_msg("no challenge cookie");
    if (!browse_attr_after(buf_cstr(&r.body), "name=\"login_csrf\" value=\"", field,
                           sizeof field) ||
        !browse_set_cookie_value(&r, "lumi_login_csrf", lc, sizeof lc))
        fail_msg("the code form has no CSRF token");
    http_result_free(&r);
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s; lumi_client_challenge=%s", lc, ch);
    snprintf(form, sizeof form, "code=%s", recovery);
    post_status("/client/login/code", cookies, form, 403); /* no CSRF field */
    snprintf(form, sizeof form, "login_csrf=%s&code=%s", field, recovery);
    r = browse(bb_base_url(), "POST", "/client/login/code", cookies, form, NULL);
    expect(&r, 303, "page login with a recovery code");
    char sess[100];
    assert_true(browse_set_cookie_value(&r, "lumi_client_session", sess, sizeof sess));
    http_result_free(&r);
}

static void a_newer_token_voids_the_older_one(void **state)
{
    (void)state;
    char first[65], second[65], body[200];
    no_throttles();
    struct http_result r = signup("twice@example.com", NULL);
    expect(&r, 202, "sign-up");
    http_result_free(&r);
    json_t *m = mail_to("twice@example.com", "/client/verify?token=", 1);
    token_of(m, first);
    json_decref(m);
    int64_t id = user_id("twice@example.com");
    json_decref(
        bb_json("POST", NULL, 202, "/api/admin/clients/%" PRId64 "/resend-verification", id));
    m = mail_to("twice@example.com", "/client/verify?token=", 2);
    token_of(m, second);
    json_decref(m);
    assert_string_not_equal(first, second);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", first);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 404, "the voided token");
    http_result_free(&r);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", second);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 200, "the newer token");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'VERIFICATION_SENT' "
                              "AND entity_id = '%" PRId64 "'",
                              id),
                     2);
}

static void a_client_can_ask_for_a_new_link(void **state)
{
    (void)state;
    char cookie[160], csrf[80], token[65], body[200];
    no_throttles();
    struct http_result r = signup("again@example.com", NULL);
    expect(&r, 202, "sign-up");
    http_result_free(&r);
    json_decref(mail_to("again@example.com", "/client/verify?token=", 1));
    sql("UPDATE account_tokens SET expires_at = '2000-01-01T00:00:00Z'");
    assert_int_equal(api_login("again@example.com", PASSWORD, cookie, csrf), 200);
    r = call("POST", "/api/client/verify/resend", NULL, cookie, NULL);
    expect(&r, 403, "resend without CSRF");
    http_result_free(&r);
    for (int i = 0; i < 3; i++) {
        r = call("POST", "/api/client/verify/resend", NULL, cookie, csrf);
        expect(&r, 202, "resend");
        http_result_free(&r);
    }
    r = call("POST", "/api/client/verify/resend", NULL, cookie, csrf);
    expect(&r, 429, "fourth resend in an hour");
    assert_string_equal(http_error_code(&r), "too_many_requests");
    http_result_free(&r);
    json_t *m = mail_to("again@example.com", "/client/verify?token=", 4);
    token_of(m, token);
    json_decref(m);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
    r = call("POST", "/api/client/verify", body, NULL, NULL);
    expect(&r, 200, "the newest link");
    http_result_free(&r);
    r = call("POST", "/api/client/verify/resend", NULL, cookie, csrf);
    expect(&r, 409, "resend when verified");
    http_result_free(&r);
}

/* Without SMTP the mail is recorded, not sent, and the admin verifies by hand on the page. */
static void without_smtp_an_admin_verifies_by_hand(void **state)
{
    (void)state;
    char csrf[80], form[200], path[80];
    bb_stop();
    bb_env_add("SMTP_HOST=");
    bb_serve();
    no_throttles();
    struct http_result r = signup("nomail@example.com", NULL);
    expect(&r, 202, "sign-up without SMTP");
    http_result_free(&r);
    int64_t id = user_id("nomail@example.com");
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails WHERE rcpt = 'nomail@example.com' AND "
                              "status = 'skipped' AND template = 'account_verification' AND "
                              "body_text LIKE '%%" HIDDEN_MARK "%%'"),
                     1);
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, C->admin, sizeof C->admin);
    snprintf(path, sizeof path, "/admin/clients/%" PRId64, id);
    browse_csrf(bb_base_url(), C->admin, path, csrf);
    snprintf(path, sizeof path, "/admin/clients/%" PRId64 "/verify", id);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    post_status(path, C->admin, form, 303);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE id = %" PRId64
                              " AND email_verified_at IS NOT NULL",
                              id),
                     1);
    snprintf(path, sizeof path, "/admin/clients/%" PRId64, id);
    r = browse(bb_base_url(), "GET", path, C->admin, NULL, NULL);
    assert_null(strstr(buf_cstr(&r.body), "not verified"));
    http_result_free(&r);
    assert_int_equal(api_login("nomail@example.com", PASSWORD, NULL, NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signup_verify_and_login),
        cmocka_unit_test(an_expired_verification_token_is_refused),
        cmocka_unit_test(password_reset_ends_every_session),
        cmocka_unit_test(signup_and_reset_cannot_tell_whether_an_address_exists),
        cmocka_unit_test(throttles_answer_429),
        cmocka_unit_test(the_honeypot_creates_nothing),
        cmocka_unit_test(a_closed_signup_answers_403),
        cmocka_unit_test(every_form_needs_its_csrf_token),
        cmocka_unit_test(a_client_with_totp_needs_the_code),
        cmocka_unit_test(a_newer_token_voids_the_older_one),
        cmocka_unit_test(a_client_can_ask_for_a_new_link),
        cmocka_unit_test(without_smtp_an_admin_verifies_by_hand), /* last: restarts without SMTP */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
