/*
 * test_money.c — amounts in minor units: parsing and formatting both ways,
 * per-currency exponents, strict rejection of ambiguous text, int64 edges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/money.h"

static int64_t parse_ok(const char *text, const char *cur)
{
    struct lumi_err err;
    int64_t v = 12345;
    err_clear(&err);
    int rc = money_parse(text, cur, &v, &err);
    if (rc != 0)
        fail_msg("money_parse(\"%s\", %s) failed: %s", text, cur, err.msg);
    return v;
}

static void parse_bad(const char *text, const char *cur, const char *msg_part)
{
    struct lumi_err err;
    int64_t v = 777;
    err_clear(&err);
    int rc = money_parse(text, cur, &v, &err);
    if (rc != LUMI_EINVAL)
        fail_msg("money_parse(\"%s\", %s) accepted, got %lld", text, cur, (long long)v);
    assert_true(v == 777); /* output untouched on error */
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("message for \"%s\" was \"%s\", expected to contain \"%s\"", text, err.msg,
                 msg_part);
}

static const char *fmt(int64_t minor, const char *cur, char *out, size_t outsz)
{
    assert_int_equal(money_format(minor, cur, out, outsz), 0);
    return out;
}

static void parses_major_units_per_exponent(void **state)
{
    (void)state;
    assert_true(parse_ok("15.00", "usd") == 1500);
    assert_true(parse_ok("15", "usd") == 1500);
    assert_true(parse_ok("15.5", "usd") == 1550);
    assert_true(parse_ok("0.05", "eur") == 5);
    assert_true(parse_ok("-0.05", "usd") == -5);
    assert_true(parse_ok("-0", "usd") == 0);
    assert_true(parse_ok("1500", "jpy") == 1500);
    assert_true(parse_ok("1.234", "bhd") == 1234);
    assert_true(parse_ok("1.2", "kwd") == 1200);
    assert_true(parse_ok("007.10", "gbp") == 710);
}

static void formats_minor_units_per_exponent(void **state)
{
    (void)state;
    char out[MONEY_TEXT_MAX];
    assert_string_equal(fmt(1500, "usd", out, sizeof out), "15.00");
    assert_string_equal(fmt(1500, "jpy", out, sizeof out), "1500");
    assert_string_equal(fmt(-5, "usd", out, sizeof out), "-0.05");
    assert_string_equal(fmt(0, "usd", out, sizeof out), "0.00");
    assert_string_equal(fmt(1234, "bhd", out, sizeof out), "1.234");
    assert_string_equal(fmt(-1, "kwd", out, sizeof out), "-0.001");
    assert_string_equal(fmt(-1500, "krw", out, sizeof out), "-1500");
}

static void int64_extremes_format_and_round_trip(void **state)
{
    (void)state;
    char out[MONEY_TEXT_MAX];
    assert_string_equal(fmt(INT64_MAX, "usd", out, sizeof out), "92233720368547758.07");
    assert_string_equal(fmt(INT64_MIN, "usd", out, sizeof out), "-92233720368547758.08");
    assert_string_equal(fmt(INT64_MIN, "jpy", out, sizeof out), "-9223372036854775808");
    assert_string_equal(fmt(INT64_MIN, "bhd", out, sizeof out), "-9223372036854775.808");
    assert_true(parse_ok("92233720368547758.07", "usd") == INT64_MAX);
    assert_true(parse_ok("-92233720368547758.08", "usd") == INT64_MIN);
    assert_true(parse_ok("-9223372036854775808", "jpy") == INT64_MIN);
}

static void out_of_range_is_rejected(void **state)
{
    (void)state;
    parse_bad("92233720368547758.08", "usd", "out of range");
    parse_bad("-92233720368547758.09", "usd", "out of range");
    parse_bad("9223372036854775808", "jpy", "out of range");
    parse_bad("99999999999999999999999999", "usd", "out of range");
}

static void ambiguous_text_is_rejected(void **state)
{
    (void)state;
    const char *bad[] = {"",         "-",   ".5",   "5.",   "1e3",  " 5",    "5 ", "+5",    "1,000",
                         "1.000,00", "--5", "5..0", "0x10", "five", "1_000", "٣",  "5.0.0", "-.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i], "usd", "decimal number");
}

static void more_decimals_than_currency_has_is_rejected(void **state)
{
    (void)state;
    parse_bad("15.001", "usd", "more than 2 decimal places for USD");
    parse_bad("1500.0", "jpy", "more than 0 decimal places for JPY");
    parse_bad("1.2345", "bhd", "more than 3 decimal places");
}

static void currency_codes_are_checked_and_normalized(void **state)
{
    (void)state;
    char out[4];
    char text[MONEY_TEXT_MAX];
    assert_int_equal(money_exponent("USD"), 2);
    assert_int_equal(money_exponent("usd"), 2);
    assert_int_equal(money_exponent("JPY"), 0);
    assert_int_equal(money_exponent("KWD"), 3);
    assert_int_equal(money_exponent("xyz"), -1);
    assert_int_equal(money_exponent("usdx"), -1);
    assert_int_equal(money_exponent(""), -1);
    assert_int_equal(money_exponent(NULL), -1);
    assert_true(money_currency_valid("Eur"));
    assert_false(money_currency_valid("xyz"));
    assert_int_equal(money_currency_normalize("USD", out), 0);
    assert_string_equal(out, "usd");
    assert_int_equal(money_currency_normalize("xyz", out), LUMI_EINVAL);
    assert_true(parse_ok("15.00", "USD") == 1500);
    parse_bad("15.00", "xyz", "unknown currency 'xyz'");
    parse_bad("15.00", "\xc3\xa9x", "unknown currency");
    struct lumi_err err;
    int64_t v;
    assert_int_equal(money_parse("1", "d\xc3\xa9", &v, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "unknown currency");
    assert_int_equal(money_format(1500, "xyz", text, sizeof text), LUMI_EINVAL);
}

static void every_listed_currency_has_its_iso_exponent(void **state)
{
    (void)state;
    const char *two[] = {"USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK",
                         "PLN", "CZK", "HUF", "BRL", "MXN", "INR", "SGD", "HKD", "ZAR"};
    const char *zero[] = {"JPY", "KRW", "VND", "CLP", "ISK"};
    const char *three[] = {"BHD", "KWD", "JOD", "OMR", "TND"};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
        assert_int_equal(money_exponent(two[i]), 2);
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        assert_int_equal(money_exponent(zero[i]), 0);
    for (size_t i = 0; i < sizeof three / sizeof three[0]; i++)
        assert_int_equal(money_exponent(three[i]), 3);
}

static void format_refuses_a_buffer_too_small(void **state)
{
    (void)state;
    char small[5];
    assert_int_equal(money_format(1500, "usd", small, sizeof small), LUMI_EINVAL);
    assert_int_equal(money_format(150, "usd", small, sizeof small), 0);
    assert_string_equal(small, "1.50");
}

static void format_then_parse_is_identity(void **state)
{
    (void)state;
    const int64_t values[] = {0, 1, -1, 99, 100, 101, -12345, 1000000, INT64_MAX, INT64_MIN};
    const char *curs[] = {"usd", "jpy", "bhd"};
    char text[MONEY_TEXT_MAX];
    for (size_t c = 0; c < 3; c++) {
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            fmt(values[i], curs[c], text, sizeof text);
            assert_true(parse_ok(text, curs[c]) == values[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_major_units_per_exponent),
        cmocka_unit_test(formats_minor_units_per_exponent),
        cmocka_unit_test(int64_extremes_format_and_round_trip),
        cmocka_unit_test(out_of_range_is_rejected),
        cmocka_unit_test(ambiguous_text_is_rejected),
        cmocka_unit_test(more_decimals_than_currency_has_is_rejected),
        cmocka_unit_test(currency_codes_are_checked_and_normalized),
        cmocka_unit_test(every_listed_currency_has_its_iso_exponent),
        cmocka_unit_test(format_refuses_a_buffer_too_small),
        cmocka_unit_test(format_then_parse_is_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
