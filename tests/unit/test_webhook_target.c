/*
 * test_webhook_target.c — the SSRF guard of outgoing events: which
 * addresses are refused (loopback, private, link-local, CGNAT, multicast,
 * unspecified, reserved; IPv4, IPv6 and IPv4 inside IPv6), which URLs are
 * refused for their form, and that an approved literal needs no pin while
 * a name is pinned to the address checked. No network: literals only, and
 * "localhost" from /etc/hosts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <string.h>

#include "events/target.h"

static bool v4_forbidden(const char *text)
{
    unsigned char a[4];
    assert_int_equal(inet_pton(AF_INET, text, a), 1);
    return webhook_addr_forbidden_v4(a);
}

static bool v6_forbidden(const char *text)
{
    unsigned char a[16];
    assert_int_equal(inet_pton(AF_INET6, text, a), 1);
    return webhook_addr_forbidden_v6(a);
}

static void private_and_reserved_v4_are_refused(void **state)
{
    (void)state;
    static const char *const no[] = {
        "127.0.0.1",       "127.9.9.9",   "10.0.0.1",        "172.16.0.1",
        "172.31.255.255",  "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "100.127.255.254", "0.0.0.0",     "224.0.0.1",       "239.1.1.1",
        "255.255.255.255", "240.0.0.1",   "192.0.2.1",       "198.18.0.1"};
    static const char *const yes[] = {"8.8.8.8",     "1.1.1.1",     "172.32.0.1",
                                      "100.128.0.1", "192.169.0.1", "93.184.216.34"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!v4_forbidden(no[i]))
            fail_msg("%s was allowed", no[i]);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (v4_forbidden(yes[i]))
            fail_msg("%s was refused", yes[i]);
}

static void private_and_mapped_v6_are_refused(void **state)
{
    (void)state;
    static const char *const no[] = {"::",
                                     "::1",
                                     "fe80::1",
                                     "fc00::1",
                                     "fd12:3456::1",
                                     "ff02::1",
                                     "::ffff:127.0.0.1",
                                     "::ffff:10.1.1.1",
                                     "64:ff9b::a00:1",
                                     "::127.0.0.1",
                                     "2001:db8::1",
                                     "fec0::1"};
    static const char *const yes[] = {"2606:4700:4700::1111", "2a00:1450:4001::200e",
                                      "::ffff:8.8.8.8", "64:ff9b::808:808"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!v6_forbidden(no[i]))
            fail_msg("%s was allowed", no[i]);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (v6_forbidden(yes[i]))
            fail_msg("%s was refused", yes[i]);
}

static void urls_are_checked_and_names_pinned(void **state)
{
    (void)state;
    struct webhook_target t;
    struct lumi_err err = {0};
    static const char *const refused[] = {
        "http://127.0.0.1/h", "http://[::1]:8080/h", "http://[::ffff:192.168.0.1]/h",
        "http://localhost/h", "ftp://8.8.8.8/h",     "http://u:p@8.8.8.8/h",
        "not a url",          "file:///etc/passwd",  "gopher://8.8.8.8/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (webhook_target_check(refused[i], false, &t, &err) != LUMI_EINVAL)
            fail_msg("%s was allowed", refused[i]);
        assert_non_null(strstr(err.msg, "'url'"));
    }
    assert_int_equal(webhook_target_check("https://8.8.8.8/hook", false, &t, &err), 0);
    assert_string_equal(t.address, "8.8.8.8");
    assert_int_equal(t.port, 443);
    assert_string_equal(t.resolve, ""); /* a literal: curl does not resolve it */
    assert_int_equal(webhook_target_check("http://[2606:4700::1]:8080/x", false, &t, &err), 0);
    assert_string_equal(t.host, "2606:4700::1");
    /* allowed: a name is pinned to what was checked */
    assert_int_equal(webhook_target_check("http://localhost:9/x", true, &t, &err), 0);
    assert_true(strncmp(t.resolve, "localhost:9:", 12) == 0);
    /* the form is still checked when private targets are allowed */
    assert_int_equal(webhook_target_check("ftp://127.0.0.1/", true, &t, &err), LUMI_EINVAL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(private_and_reserved_v4_are_refused),
        cmocka_unit_test(private_and_mapped_v6_are_refused),
        cmocka_unit_test(urls_are_checked_and_names_pinned),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
