/*
 * test_utc.c — ISO-8601 UTC text and calendar math: round trips, offsets,
 * impossible dates, month arithmetic that clamps the day, independence from TZ.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utc.h"

static int64_t parse_ok(const char *s)
{
    struct lumi_err err;
    int64_t t = 0;
    err_clear(&err);
    if (utc_parse(s, &t, &err) != 0)
        fail_msg("utc_parse(\"%s\") failed: %s", s, err.msg);
    return t;
}

static void parse_bad(const char *s, const char *msg_part)
{
    struct lumi_err err;
    int64_t t = 42;
    err_clear(&err);
    if (utc_parse(s, &t, &err) != LUMI_EINVAL)
        fail_msg("utc_parse(\"%s\") accepted as %lld", s, (long long)t);
    assert_true(t == 42);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("message for \"%s\" was \"%s\", expected \"%s\"", s, err.msg, msg_part);
}

static const char *iso(int64_t t, char out[UTC_ISO_LEN])
{
    assert_int_equal(utc_format(t, out), 0);
    return out;
}

static void formats_known_instants(void **state)
{
    (void)state;
    char out[UTC_ISO_LEN];
    assert_string_equal(iso(0, out), "1970-01-01T00:00:00Z");
    assert_string_equal(iso(1700000000, out), "2023-11-14T22:13:20Z");
    assert_string_equal(iso(951782400, out), "2000-02-29T00:00:00Z");
    assert_string_equal(iso(-1, out), "1969-12-31T23:59:59Z");
    assert_string_equal(iso(253402300799LL, out), "9999-12-31T23:59:59Z");
    assert_int_equal(utc_format(253402300800LL, out), LUMI_EINVAL);
    assert_int_equal(utc_format(-62167219201LL, out), LUMI_EINVAL);
}

static void format_and_parse_round_trip(void **state)
{
    (void)state;
    char out[UTC_ISO_LEN];
    const int64_t samples[] = {0,
                               1,
                               86399,
                               86400,
                               951782400,
                               1709164800,
                               1700000000,
                               4102444800LL,
                               -86401,
                               -62167219200LL,
                               253402300799LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_true(parse_ok(iso(samples[i], out)) == samples[i]);
    /* Every day for ten years, leap days included. */
    for (int64_t t = 1577836800; t < 1577836800 + 3653LL * 86400; t += 86400 + 3661)
        assert_true(parse_ok(iso(t, out)) == t);
}

static void accepts_date_only_fractions_and_offsets(void **state)
{
    (void)state;
    assert_true(parse_ok("2024-02-29") == 1709164800);
    assert_true(parse_ok("2024-02-29T00:00:00Z") == 1709164800);
    assert_true(parse_ok("2024-02-29T00:00:00") == 1709164800);
    assert_true(parse_ok("2024-02-29T00:00:00.123456Z") == 1709164800);
    assert_true(parse_ok("2024-02-29T02:00:00+02:00") == 1709164800);
    assert_true(parse_ok("2024-02-28T19:30:00-04:30") == 1709164800);
    assert_true(parse_ok("2024-02-29T00:00:00+00:00") == 1709164800);
}

static void rejects_impossible_dates(void **state)
{
    (void)state;
    parse_bad("2024-02-30", "2024-02 has 29 days");
    parse_bad("2023-02-29", "2023-02 has 28 days");
    parse_bad("1900-02-29", "has 28 days");
    parse_bad("2024-04-31", "has 30 days");
    parse_bad("2024-13-01", "month must be 01-12");
    parse_bad("2024-00-10", "month must be 01-12");
    parse_bad("2024-01-00", "has 31 days");
    assert_true(parse_ok("2000-02-29") == 951782400);
}

static void rejects_malformed_text(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "2024",
                         "2024-1-05",
                         "24-01-05",
                         "2024/01/05",
                         "2024-01-05T",
                         "2024-01-05T10:00",
                         "2024-01-05T24:00:00Z",
                         "2024-01-05T10:60:00Z",
                         "2024-01-05T10:00:60Z",
                         "2024-01-05T10:00:00.Z",
                         "2024-01-05T10:00:00+0200",
                         "2024-01-05T10:00:00+24:00",
                         "2024-01-05T10:00:00Zjunk",
                         " 2024-01-05",
                         "2024-01-05 ",
                         "+2024-01-05"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i], "expected YYYY-MM-DD");
    parse_bad(NULL, "required");
    /* Outside bytes are not quoted back: the message must stay valid UTF-8. */
    struct lumi_err err;
    int64_t t;
    assert_int_equal(utc_parse("2024-01-0\xff", &t, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "invalid date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    assert_int_equal(utc_parse("yesterday", &t, &err), LUMI_EINVAL);
    assert_string_equal(err.msg,
                        "invalid date 'yesterday': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
}

static void add_months_clamps_to_month_end(void **state)
{
    (void)state;
    char out[UTC_ISO_LEN];
    int64_t jan31 = parse_ok("2024-01-31T10:20:30Z");
    assert_string_equal(iso(utc_add_months(jan31, 1), out), "2024-02-29T10:20:30Z");
    assert_string_equal(iso(utc_add_months(parse_ok("2023-01-31"), 1), out),
                        "2023-02-28T00:00:00Z");
    assert_string_equal(iso(utc_add_months(jan31, 3), out), "2024-04-30T10:20:30Z");
    assert_string_equal(iso(utc_add_months(jan31, 12), out), "2025-01-31T10:20:30Z");
    assert_string_equal(iso(utc_add_months(jan31, 0), out), "2024-01-31T10:20:30Z");
    assert_string_equal(iso(utc_add_months(jan31, -2), out), "2023-11-30T10:20:30Z");
    assert_string_equal(iso(utc_add_months(parse_ok("2024-12-15"), 1), out),
                        "2025-01-15T00:00:00Z");
    assert_string_equal(iso(utc_add_months(parse_ok("2024-02-29"), 12), out),
                        "2025-02-28T00:00:00Z");
    assert_string_equal(iso(utc_add_months(parse_ok("2024-02-29"), 48), out),
                        "2028-02-29T00:00:00Z");
}

static void local_time_zone_is_ignored(void **state)
{
    (void)state;
    char out[UTC_ISO_LEN];
    setenv("TZ", "Pacific/Chatham", 1);
    tzset();
    assert_string_equal(iso(1700000000, out), "2023-11-14T22:13:20Z");
    assert_true(parse_ok("2023-11-14T22:13:20") == 1700000000);
    unsetenv("TZ");
    tzset();
}

static void clocks_are_sane(void **state)
{
    (void)state;
    char out[UTC_ISO_LEN];
    int64_t now = utc_now();
    assert_true(now > 1700000000);
    utc_now_iso(out);
    assert_int_equal(strlen(out), UTC_ISO_LEN - 1);
    int64_t parsed = parse_ok(out);
    assert_true(parsed >= now && parsed <= now + 5);
    int64_t a = utc_monotonic_ms();
    int64_t b = utc_monotonic_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_known_instants),
        cmocka_unit_test(format_and_parse_round_trip),
        cmocka_unit_test(accepts_date_only_fractions_and_offsets),
        cmocka_unit_test(rejects_impossible_dates),
        cmocka_unit_test(rejects_malformed_text),
        cmocka_unit_test(add_months_clamps_to_month_end),
        cmocka_unit_test(local_time_zone_is_ignored),
        cmocka_unit_test(clocks_are_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
