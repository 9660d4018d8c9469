/*
 * test_cidr.c — core/cidr: LUMI_TRUSTED_PROXIES' lists (IPv4, IPv6, mapped
 * addresses, host bits, bad entries with the reason) and the normalising of
 * X-Forwarded-For entries; core/metrics' text for a labelled histogram.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/cidr.h"
#include "core/metrics.h"

static void lists_match_v4_v6_and_mapped_addresses(void **state)
{
    (void)state;
    struct cidr_list l;
    struct lumi_err err;
    assert_int_equal(cidr_list_parse(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,::1", &l, &err), 0);
    assert_int_equal(l.n, 4);
    assert_true(cidr_list_contains(&l, "10.200.3.4"));
    assert_false(cidr_list_contains(&l, "11.0.0.1"));
    assert_true(cidr_list_contains(&l, "192.168.1.7"));
    assert_false(cidr_list_contains(&l, "192.168.1.8"));
    assert_true(cidr_list_contains(&l, "2001:db8:ffff::1"));
    assert_false(cidr_list_contains(&l, "2001:db9::1"));
    assert_true(cidr_list_contains(&l, "::1"));
    assert_true(cidr_list_contains(&l, "::ffff:10.1.2.3")); /* IPv4-mapped */
    assert_false(cidr_list_contains(&l, "not-an-ip"));
    assert_false(cidr_list_contains(&l, NULL));
    /* host bits in the entry are ignored; /0 is everything of its family */
    assert_int_equal(cidr_list_parse("172.16.5.5/12,0.0.0.0/0", &l, &err), 0);
    assert_true(cidr_list_contains(&l, "172.31.255.255"));
    assert_true(cidr_list_contains(&l, "8.8.8.8"));
    assert_false(cidr_list_contains(&l, "::2"));
    assert_int_equal(cidr_list_parse("", &l, &err), 0);
    assert_int_equal(l.n, 0);
}

static void bad_entries_say_why(void **state)
{
    (void)state;
    struct cidr_list l;
    struct lumi_err err;
    assert_int_equal(cidr_list_parse("10.0.0.0/33", &l, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "prefix length must be 0 to 32"));
    assert_int_equal(cidr_list_parse("::1/129", &l, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "0 to 128"));
    assert_int_equal(cidr_list_parse("10.0.0.1,proxy.example.com", &l, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "'proxy.example.com' is not an IPv4 or IPv6 address"));
    assert_int_equal(l.n, 0);
    assert_int_equal(cidr_list_parse("10.0.0.0/x", &l, &err), LUMI_EINVAL);
}

static void forwarded_entries_normalise(void **state)
{
    (void)state;
    char out[64];
    assert_true(cidr_ip_normalize(" 203.0.113.7 ", 13, out, sizeof out));
    assert_string_equal(out, "203.0.113.7");
    assert_true(cidr_ip_normalize("203.0.113.7:4711", 16, out, sizeof out));
    assert_string_equal(out, "203.0.113.7");
    assert_true(cidr_ip_normalize("[2001:DB8::1]:443", 17, out, sizeof out));
    assert_string_equal(out, "2001:db8::1");
    assert_true(cidr_ip_normalize("::ffff:192.0.2.1", 16, out, sizeof out));
    assert_string_equal(out, "192.0.2.1");
    assert_false(cidr_ip_normalize("unknown", 7, out, sizeof out));
    assert_false(cidr_ip_normalize("", 0, out, sizeof out));
}

static void histograms_are_cumulative_in_the_text(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    metrics_observe_panel_call("pterodactyl", 1, 70 * 1000000LL);   /* 0.07 s */
    metrics_observe_panel_call("pterodactyl", 0, 3 * 1000000000LL); /* 3 s */
    metrics_observe_panel_call("nonsense", 1, 1);                   /* counted as other */
    assert_int_equal(metrics_write(&b), 0);
    const char *t = buf_cstr(&b);
    assert_non_null(strstr(t, "lumi_panel_call_duration_seconds_bucket{panel=\"pterodactyl\","
                              "le=\"0.05\"} 0\n"));
    assert_non_null(strstr(t, "lumi_panel_call_duration_seconds_bucket{panel=\"pterodactyl\","
                              "le=\"0.1\"} 1\n"));
    assert_non_null(strstr(t, "lumi_panel_call_duration_seconds_bucket{panel=\"pterodactyl\","
                              "le=\"5\"} 2\n"));
    assert_non_null(strstr(t, "lumi_panel_call_duration_seconds_bucket{panel=\"pterodactyl\","
                              "le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "lumi_panel_call_duration_seconds_count{panel=\"pterodactyl\"} 2\n"));
    assert_non_null(
        strstr(t, "lumi_panel_call_duration_seconds_sum{panel=\"pterodactyl\"} 3.07\n"));
    assert_non_null(
        strstr(t, "lumi_panel_calls_total{panel=\"pterodactyl\",outcome=\"error\"} 1\n"));
    assert_non_null(strstr(t, "lumi_panel_calls_total{panel=\"other\",outcome=\"success\"} 1\n"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lists_match_v4_v6_and_mapped_addresses),
        cmocka_unit_test(bad_entries_say_why),
        cmocka_unit_test(forwarded_entries_normalise),
        cmocka_unit_test(histograms_are_cumulative_in_the_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
