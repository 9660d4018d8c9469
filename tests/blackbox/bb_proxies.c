/*
 * bb_proxies.c — LUMI_TRUSTED_PROXIES (issue 16, item 3), against the real
 * `lumi serve`. Tests can only use 127.0.0.0/8 peers, so the client socket is
 * bound to 127.0.0.2 (the "proxy") or 127.0.0.1 (anyone else):
 *   - without the variable, a forged X-Forwarded-For never reaches the audit
 *     log (a failed login's row carries the TCP peer) and X-Forwarded-Proto
 *     gives no Secure cookie;
 *   - with LUMI_TRUSTED_PROXIES=127.0.0.2/32, the same headers from
 *     127.0.0.1 are still ignored, and from 127.0.0.2 the right-most
 *     untrusted X-Forwarded-For address is the client: it is in the audit
 *     row, the login throttle is keyed on it (another forwarded address is
 *     not throttled), and X-Forwarded-Proto: https makes the cookie Secure;
 *   - a bad list stops the start with a message naming the variable.
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"

#define SECRET_KEY "5d1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "gate@example.com"
#define ADMIN_PASSWORD "Granite-Harbor-Compass-17"

struct answer {
    long status;
    char cookie[512]; /* the Set-Cookie line of lumi_session, "" when none */
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t len = size * n;
    if (len > 28 && strncasecmp(p, "Set-Cookie: lumi_session=", 25) == 0 &&
        len < sizeof a->cookie) {
        memcpy(a->cookie, p, len);
        a->cookie[len] = '\0';
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* POST /api/admin/login from source address from, with extra header lines (may be NULL). */
static struct answer login_from(const char *from, const char *password, const char *xff,
                                const char *xfp)
{
    struct answer a = {0};
    char url[256], body[256], iface[64], h1[256], h2[256];
    snprintf(url, sizeof url, "%s/api/admin/login", bb_base_url());
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", ADMIN_EMAIL, password);
    snprintf(iface, sizeof iface, "host!%s", from);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (xff != NULL) {
        snprintf(h1, sizeof h1, "X-Forwarded-For: %s", xff);
        h = curl_slist_append(h, h1);
    }
    if (xfp != NULL) {
        snprintf(h2, sizeof h2, "X-Forwarded-Proto: %s", xfp);
        h = curl_slist_append(h, h2);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("login from %s: %s", from, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return a;
}

static int64_t failed_rows_with_ip(const char *ip)
{
    return bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND ip = '%s'",
                    ip);
}

static void clear_throttle(void)
{
    struct lumi_err err;
    if (db_exec(bb_db(), "DELETE FROM rate_events", &err) != 0)
        fail_msg("DELETE FROM rate_events: %s", err.msg);
}

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    bb_env_add("LUMI_LOGIN_MAX_FAILURES=3");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "ci");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish() == 0 ? 0 : -1;
}

static void without_trusted_proxies_forwarded_headers_are_ignored(void **state)
{
    (void)state;
    bb_serve();
    clear_throttle();
    struct answer a = login_from("127.0.0.2", "wrong password here", "198.51.100.9", NULL);
    assert_int_equal(a.status, 401);
    assert_int_equal(failed_rows_with_ip("127.0.0.2"), 1);
    assert_int_equal(failed_rows_with_ip("198.51.100.9"), 0);
    a = login_from("127.0.0.2", ADMIN_PASSWORD, "198.51.100.9", "https");
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.cookie, "lumi_session="));
    assert_null(strstr(a.cookie, "Secure"));
    bb_stop();
}

static void trusted_proxy_names_the_client_and_others_cannot(void **state)
{
    (void)state;
    bb_env_add("LUMI_TRUSTED_PROXIES=10.9.0.0/16, 127.0.0.2/32 ,2001:db8::/32");
    bb_serve();
    clear_throttle();
    int64_t peer_rows = failed_rows_with_ip("127.0.0.1");

    /* An untrusted peer forging the header: the peer is recorded. */
    struct answer a = login_from("127.0.0.1", "wrong password here", "198.51.100.10", "https");
    assert_int_equal(a.status, 401);
    assert_int_equal(failed_rows_with_ip("127.0.0.1"), peer_rows + 1);
    assert_int_equal(failed_rows_with_ip("198.51.100.10"), 0);

    /* The trusted proxy: the right-most address that is not a trusted proxy
     * (10.9.1.1 is one) is the client; the forged left-most one is not. */
    for (int i = 0; i < 3; i++) {
        a = login_from("127.0.0.2", "wrong password here", "6.6.6.6, 203.0.113.7, 10.9.1.1", NULL);
        assert_int_equal(a.status, 401);
    }
    assert_int_equal(failed_rows_with_ip("203.0.113.7"), 3);
    assert_int_equal(failed_rows_with_ip("6.6.6.6"), 0);
    assert_int_equal(failed_rows_with_ip("127.0.0.2"), 1); /* only the earlier test's row */

    /* The throttle is keyed on the forwarded address: 203.0.113.7 is held
     * back even with the right password, 203.0.113.8 is not. */
    a = login_from("127.0.0.2", ADMIN_PASSWORD, "203.0.113.7", NULL);
    assert_int_equal(a.status, 429);
    a = login_from("127.0.0.2", ADMIN_PASSWORD, "203.0.113.8", "https");
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.cookie, "; Secure"));

    /* X-Forwarded-Proto from the untrusted peer gives no Secure cookie. */
    a = login_from("127.0.0.1", ADMIN_PASSWORD, NULL, "https");
    assert_int_equal(a.status, 200);
    assert_null(strstr(a.cookie, "Secure"));
    clear_throttle();
    bb_stop();
}

static void a_bad_list_stops_the_start(void **state)
{
    (void)state;
    bb_env_add("LUMI_TRUSTED_PROXIES=127.0.0.2/33");
    const char *argv[] = {"migrate", NULL};
    struct lumi_run_result r;
    lumi_run(argv, bb_env(), NULL, &r);
    assert_int_not_equal(r.exit_code, 0);
    const char *text = buf_cstr(&r.err);
    if (strstr(text, "LUMI_TRUSTED_PROXIES") == NULL || strstr(text, "prefix") == NULL)
        fail_msg("unexpected message: %s", text);
    lumi_run_result_free(&r);
    bb_env_add("LUMI_TRUSTED_PROXIES=proxy.example.com");
    lumi_run(argv, bb_env(), NULL, &r);
    assert_int_not_equal(r.exit_code, 0);
    text = buf_cstr(&r.err);
    if (strstr(text, "not an IPv4 or IPv6 address") == NULL)
        fail_msg("unexpected message: %s", text);
    lumi_run_result_free(&r);
    bb_env_add("LUMI_TRUSTED_PROXIES=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_trusted_proxies_forwarded_headers_are_ignored),
        cmocka_unit_test(trusted_proxy_names_the_client_and_others_cannot),
        cmocka_unit_test(a_bad_list_stops_the_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
