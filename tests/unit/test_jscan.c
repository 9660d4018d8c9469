/*
 * test_jscan.c — jscan_parse accepts and rejects exactly what jsonx_parse
 * (jansson 2.14, duplicates rejected, depth bounded) does, builds the same
 * tree when keeping everything, and with a filter leaves out only the
 * dropped members while still validating them. Every case is run through
 * both parsers; the expected verdict is also asserted so a case cannot pass
 * by both parsers agreeing on the wrong answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jscan.h"
#include "core/json.h"

#define FIXTURES_REL "tests/data/stripe/fixtures3.json"

/* Parses data with both parsers (keep-all) and asserts they agree and that
 * the verdict is `want_valid`. */
static void check_len(const char *data, size_t len, size_t max_depth, bool want_valid)
{
    struct lumi_err e1, e2;
    err_clear(&e1);
    err_clear(&e2);
    json_t *ref = jsonx_parse(data, len, max_depth, &e1);
    json_t *got = jscan_parse(data, len, max_depth, NULL, NULL, &e2);
    if ((ref != NULL) != want_valid)
        fail_msg("jsonx_parse %s: %.*s (%s)", ref ? "accepted" : "rejected", (int)len, data,
                 e1.msg);
    if ((got != NULL) != want_valid)
        fail_msg("jscan_parse %s: %.*s (%s)", got ? "accepted" : "rejected", (int)len, data,
                 e2.msg);
    if (got != NULL) {
        assert_true(json_equal(ref, got));
    } else {
        assert_int_equal(e2.code, LUMI_EINVAL);
        assert_true(strncmp(e2.msg, "invalid JSON at offset ", 23) == 0 ||
                    strncmp(e2.msg, "JSON nested deeper than ", 24) == 0);
    }
    json_decref(ref);
    json_decref(got);
}

static void valid(const char *text)
{
    check_len(text, strlen(text), JSONX_MAX_DEPTH, true);
}

static void invalid(const char *text)
{
    check_len(text, strlen(text), JSONX_MAX_DEPTH, false);
}

static void whitespace_and_document_shape(void **state)
{
    (void)state;
    valid(" \t\r\n{ \"a\" : [ 1 , 2 ] } \n\t\r ");
    valid("1");
    valid("\"s\"");
    valid("null");
    valid("[]");
    valid("{}");
    invalid("");
    invalid("   ");
    invalid("\f1");  /* form feed is not JSON whitespace */
    invalid("\v{}"); /* nor vertical tab */
    invalid("1 2");
    invalid("{} {}");
    invalid("[1,]");
    invalid("[,1]");
    invalid("{\"a\":1,}");
    invalid("{\"a\" 1}");
    invalid("{1:1}");
    invalid("{\"a\"}");
    invalid("[1 2]");
    invalid("[");
    invalid("{");
    invalid("]");
    invalid("{\"a\":");
    invalid("\xEF\xBB\xBF{}"); /* no BOM */
    check_len("[1]\0", 4, 32, false);
    check_len("\0", 1, 32, false);
    check_len("[1]xyz", 3, 32, true); /* only len bytes are read */
    /* jansson loses one NUL right after a number or literal (see jscan.c) */
    check_len("1\0", 2, 32, true);
    check_len("[1.5\0,true\0]", 12, 32, true);
    check_len("{\"a\":null\0}", 11, 32, true);
    check_len("1\0\0", 3, 32, false);
    check_len("[\"a\"\0]", 6, 32, false);
    check_len("[1 \0]", 5, 32, false);
    check_len("[\0]", 3, 32, false);
}

static void strings_escapes_and_utf8(void **state)
{
    (void)state;
    valid("\"\"");
    valid("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"");
    valid("\"\\u00e9\\u00C9\\uABCD\\u0001\"");
    valid("\"\\ud83d\\ude00\""); /* surrogate pair */
    valid("\"\\uD800\\uDC00 \\uDBFF\\uDFFF\"");
    valid("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF \xEF\xBF\xBF\"");
    invalid("\"abc");
    invalid("\"\\");
    invalid("\"\\a\"");
    invalid("\"\\x41\"");
    invalid("\"\\u12\"");
    invalid("\"\\u12G4\"");
    invalid("\"\\u0000\"");
    invalid("{\"a\\u0000\":1}");
    invalid("\"\\ud800\"");         /* lone high */
    invalid("\"\\udc00\"");         /* lone low */
    invalid("\"\\ud800\\u0041\"");  /* high + non-low */
    invalid("\"\\ud800\\ud800\"");  /* high + high */
    invalid("\"\\ud800x\\udc00\""); /* not adjacent */
    invalid("\"\\ud800\\n\"");
    invalid("\"a\tb\""); /* raw control characters */
    invalid("\"a\nb\"");
    invalid("\"\x1f\"");
    check_len("\"a\0b\"", 5, 32, false);
    invalid("\"\x80\"");     /* continuation without lead */
    invalid("\"\xC0\xAF\""); /* overlong 2-byte */
    invalid("\"\xC1\xBF\"");
    invalid("\"\xE0\x80\xAF\"");     /* overlong 3-byte */
    invalid("\"\xF0\x80\x80\xAF\""); /* overlong 4-byte */
    invalid("\"\xED\xA0\x80\"");     /* encoded surrogate */
    invalid("\"\xF4\x90\x80\x80\""); /* above U+10FFFF */
    invalid("\"\xF5\x80\x80\x80\"");
    invalid("\"\xFF\"");
    invalid("\"\xC3\""); /* truncated before the quote */
    invalid("\"\xE2\x82\"");
    invalid("\"\xC3");
    invalid("\xC3\xA9"); /* UTF-8 outside a string */
}

static void numbers(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "0",
        "-0",
        "1",
        "-1",
        "10",
        "123456789",
        "9223372036854775807",
        "-9223372036854775808",
        "0.5",
        "-0.0",
        "1.25e3",
        "1E3",
        "1e+3",
        "1e-3",
        "2.5E-3",
        "1e-400",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "[1,-2,3.5,4e2]",
        "123456789012345678901234567890.5",
        "0.000000000000000000000000000001",
    };
    static const char *const bad[] = {
        "01",
        "-01",
        "00",
        "-",
        "+1",
        ".5",
        "1.",
        "1.e3",
        "1e",
        "1e+",
        "1E-",
        "--1",
        "0x10",
        "1.5.3",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "1e309",
        "-1e309",
        "1.8e308",
        "Infinity",
        "NaN",
        "-Infinity",
        "[1x]",
        "1 .5",
        "[.5]",
        "[01]",
        "[-]",
        "1e5x",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        valid(ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        invalid(bad[i]);

    /* "-0" is the integer 0, not a real */
    json_t *v = jscan_parse("-0", 2, 32, NULL, NULL, NULL);
    assert_true(json_is_integer(v));
    assert_true(json_integer_value(v) == 0);
    json_decref(v);
    v = jscan_parse("-9223372036854775808", 20, 32, NULL, NULL, NULL);
    assert_true(json_is_integer(v) && json_integer_value(v) == INT64_MIN);
    json_decref(v);
    v = jscan_parse("1.0", 3, 32, NULL, NULL, NULL);
    assert_true(json_is_real(v) && json_real_value(v) == 1.0);
    json_decref(v);

    /* a long real without exponent: > 308 digits overflows */
    char big[400];
    memset(big, '9', 330);
    memcpy(big + 330, ".5", 3);
    invalid(big);
    memset(big, '9', 300);
    memcpy(big + 300, ".5", 3);
    valid(big);
}

static void literals(void **state)
{
    (void)state;
    valid("[true,false,null]");
    invalid("tru");
    invalid("truex");
    invalid("True");
    invalid("nul");
    invalid("nulll");
    invalid("[true1]");
    invalid("falsetrue");
    invalid("undefined");
}

static void duplicate_keys(void **state)
{
    (void)state;
    valid("{\"a\":1,\"b\":2,\"A\":3,\"ab\":4}");
    invalid("{\"a\":1,\"a\":2}");
    invalid("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}");
    invalid("[{\"x\":1,\"x\":1}]");
    invalid("{\"a\":1,\"\\u0061\":2}"); /* equal once decoded */
    invalid("{\"\\u00e9\":1,\"\xC3\xA9\":2}");
    invalid("{\"\\/\":1,\"/\":2}");
    valid("{\"a\":{\"a\":{\"a\":1}}}"); /* same key at different levels */
    valid("{\"a\":1,\"b\":{\"a\":2}}");

    /* a large object (sorted check) with and without a duplicate */
    char buf[8192];
    size_t n = 0;
    buf[n++] = '{';
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf[n++] = '}';
    check_len(buf, n, 32, true);
    n--;
    n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"k17\":0}");
    check_len(buf, n, 32, false);
}

/* n nested arrays (or objects) around a 1. */
static size_t nest(char *buf, size_t cap, size_t n, bool objects)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 8 < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s", objects ? "{\"a\":" : "[");
    buf[k++] = '1';
    for (size_t i = 0; i < n && k < cap; i++)
        buf[k++] = objects ? '}' : ']';
    return k;
}

static void depth_is_bounded(void **state)
{
    (void)state;
    static char buf[7 * 2100 + 16];
    for (int objects = 0; objects < 2; objects++) {
        size_t n = nest(buf, sizeof buf, 32, objects);
        check_len(buf, n, 32, true);
        n = nest(buf, sizeof buf, 33, objects);
        check_len(buf, n, 32, false);
        check_len(buf, n, 33, true);
        n = nest(buf, sizeof buf, 1, objects);
        check_len(buf, n, 0, false);
        check_len("7", 1, 0, true);
        /* jansson's own limit: 2048 levels for any value, whatever max_depth */
        n = nest(buf, sizeof buf, 2047, objects);
        check_len(buf, n, SIZE_MAX, true);
        n = nest(buf, sizeof buf, 2048, objects);
        check_len(buf, n, SIZE_MAX, false);
    }
    memset(buf, '[', 2048);
    memset(buf + 2048, ']', 2048);
    check_len(buf, 4096, SIZE_MAX, true);
    struct lumi_err err;
    json_t *v = jscan_parse("[[[1]]]", 7, 2, NULL, NULL, &err);
    assert_null(v);
    assert_string_equal(err.msg, "JSON nested deeper than 2 levels");
}

/* ---- filters ---- */

struct rule {
    const char *path; /* dotted path of the parent objects, "" for the root */
    const char *key;
    enum jscan_keep keep;
};

/* A table filter: the first rule whose path and key match; DROP otherwise. */
static enum jscan_keep table_filter(const char *const *path, size_t depth, const char *key,
                                    enum jscan_kind kind, void *ctx)
{
    (void)kind;
    char dotted[256] = "";
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        n += (size_t)snprintf(dotted + n, sizeof dotted - n, "%s%s", i ? "." : "", path[i]);
    for (const struct rule *r = ctx; r->key != NULL; r++)
        if (strcmp(r->path, dotted) == 0 && strcmp(r->key, key) == 0)
            return r->keep;
    return JSCAN_DROP;
}

static json_t *filtered(const char *text, const struct rule *rules, struct lumi_err *err)
{
    err_clear(err);
    return jscan_parse(text, strlen(text), JSONX_MAX_DEPTH, table_filter, (void *)rules, err);
}

static void assert_json(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    assert_non_null(got);
    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got %s, want %s", s, want_text);
    }
    json_decref(want);
    json_decref(got);
}

static void filter_drop_keep_descend(void **state)
{
    (void)state;
    struct lumi_err err;
    static const struct rule rules[] = {
        {"", "id", JSCAN_KEEP},
        {"", "whole", JSCAN_KEEP},
        {"", "data", JSCAN_DESCEND},
        {"", "scalar", JSCAN_DESCEND},
        {"", "list", JSCAN_DESCEND},
        {"data", "object", JSCAN_DESCEND},
        {"data.object", "amount", JSCAN_KEEP},
        {"data.object", "na\xC3\xAFve", JSCAN_KEEP},
        {NULL, NULL, 0},
    };
    const char *text = "{\"id\":\"evt_1\",\"junk\":{\"deep\":[1,2,{\"x\":null}]},"
                       "\"whole\":{\"a\":{\"b\":[1]},\"c\":2},"
                       "\"scalar\":5,\"list\":[{\"a\":1}],"
                       "\"data\":{\"object\":{\"amount\":1500,\"secret\":\"x\",\"na\\u00efve\":1},"
                       "\"previous\":{\"amount\":1}},\"tail\":true}";
    assert_json(filtered(text, rules, &err),
                "{\"id\":\"evt_1\",\"whole\":{\"a\":{\"b\":[1]},\"c\":2},\"scalar\":5,"
                "\"list\":[{\"a\":1}],\"data\":{\"object\":{\"amount\":1500,\"na\xC3\xAFve\":1}}}");

    /* the root not an object: the filter does not apply */
    assert_json(filtered("[{\"junk\":1}]", rules, &err), "[{\"junk\":1}]");
    assert_json(filtered("\"x\"", rules, &err), "\"x\"");
    /* everything dropped: an empty object, not NULL */
    assert_json(filtered("{\"a\":1,\"b\":[2]}", rules, &err), "{}");
    assert_json(filtered("{}", rules, &err), "{}");
}

static void filter_dropped_members_are_still_validated(void **state)
{
    (void)state;
    struct lumi_err err;
    static const struct rule rules[] = {{"", "id", JSCAN_KEEP}, {NULL, NULL, 0}};
    static const char *const bad[] = {
        "{\"id\":1,\"junk\":{\"x\":1,\"x\":2}}", /* duplicate inside a dropped member */
        "{\"id\":1,\"junk\":1,\"junk\":2}",      /* a dropped key duplicated */
        "{\"junk\":1,\"id\":1,\"id\":2}",
        "{\"id\":1,\"junk\":\"\\ud800\"}", /* bad string in a dropped member */
        "{\"id\":1,\"junk\":\"\\u0000\"}",
        "{\"id\":1,\"junk\":\"\xC0\xAF\"}",
        "{\"id\":1,\"junk\":99999999999999999999}",
        "{\"id\":1,\"junk\":1e999}",
        "{\"id\":1,\"junk\":[1,]}",
        "{\"id\":1,\"junk\":tru}",
        "{\"id\":1,\"junk\":{\"\\u0000\":1}}",
        "{\"id\":1,\"junk\":{\"a\":{\"a\\u0062\":1,\"ab\":2}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = filtered(bad[i], rules, &err);
        if (v != NULL)
            fail_msg("accepted with a filter: %s", bad[i]);
        assert_int_equal(err.code, LUMI_EINVAL);
        invalid(bad[i]);
    }
    /* too deep inside a dropped member */
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"id\":1,\"junk\":");
    n += nest(buf + n, sizeof buf - n, 32, true);
    buf[n++] = '}';
    buf[n] = '\0';
    assert_null(filtered(buf, rules, &err));
    assert_string_equal(err.msg, "JSON nested deeper than 32 levels");
    invalid(buf);
}

/* ---- the Stripe-like filter on a realistic event ---- */

static enum jscan_keep stripe_filter(const char *const *path, size_t depth, const char *key,
                                     enum jscan_kind kind, void *ctx)
{
    (void)ctx;
    if (depth == 0) {
        if (strcmp(key, "data") == 0)
            return JSCAN_DESCEND;
        return kind == JSCAN_SCALAR ? JSCAN_KEEP : JSCAN_DROP;
    }
    if (depth == 1)
        return strcmp(key, "object") == 0 ? JSCAN_DESCEND : JSCAN_DROP;
    if (kind == JSCAN_SCALAR || strcmp(key, "metadata") == 0 ||
        strcmp(key, "payment_intent") == 0 || strcmp(key, "last_payment_error") == 0)
        return JSCAN_KEEP;
    (void)path;
    return JSCAN_DROP;
}

/* resources.event with data.object = resources["checkout.session"], as a
 * checkout.session.completed delivery for invoice 42; compact text. */
static char *stripe_event(void)
{
    const char *path = getenv("LUMI_STRIPE_FIXTURES");
    char def[1024];
    if (path == NULL || path[0] == '\0') {
        const char *src = getenv("LUMI_SOURCE_DIR");
        snprintf(def, sizeof def, "%s/" FIXTURES_REL, src != NULL ? src : ".");
        path = def;
    }
    json_error_t jerr;
    json_t *fx = json_load_file(path, 0, &jerr);
    if (fx == NULL)
        fail_msg("cannot load %s: %s", path, jerr.text);
    json_t *res = json_object_get(fx, "resources");
    json_t *ev = json_deep_copy(json_object_get(res, "event"));
    json_t *cs = json_deep_copy(json_object_get(res, "checkout.session"));
    assert_non_null(ev);
    assert_non_null(cs);
    json_object_set_new(cs, "metadata", json_pack("{s:s}", "invoice_id", "42"));
    json_object_set_new(cs, "amount_total", json_integer(1500));
    json_object_set_new(ev, "type", json_string("checkout.session.completed"));
    json_object_set_new(json_object_get(ev, "data"), "object", cs);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    json_decref(fx);
    assert_non_null(text);
    return text;
}

static void stripe_filter_keeps_what_lumi_reads(void **state)
{
    (void)state;
    struct lumi_err err;
    char *text = stripe_event();
    size_t len = strlen(text);
    assert_true(len > 2500);
    json_t *full = jsonx_parse(text, len, JSONX_MAX_DEPTH, &err);
    json_t *v = jscan_parse(text, len, JSONX_MAX_DEPTH, stripe_filter, NULL, &err);
    assert_non_null(full);
    assert_non_null(v);

    assert_string_equal(json_string_value(json_object_get(v, "id")),
                        json_string_value(json_object_get(full, "id")));
    assert_string_equal(json_string_value(json_object_get(v, "type")),
                        "checkout.session.completed");
    assert_true(json_integer_value(json_object_get(v, "created")) == 1234567890);
    json_t *obj = json_object_get(json_object_get(v, "data"), "object");
    assert_non_null(obj);
    assert_string_equal(json_string_value(json_object_get(obj, "id")),
                        json_string_value(json_object_get(
                            json_object_get(json_object_get(full, "data"), "object"), "id")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "invoice_id")), "42");
    assert_true(json_integer_value(json_object_get(obj, "amount_total")) == 1500);
    assert_non_null(json_object_get(obj, "payment_intent"));
    assert_null(json_object_get(obj, "customer_details"));
    assert_null(json_object_get(obj, "automatic_tax"));
    assert_null(json_object_get(v, "request")); /* an object at the root: dropped */
    assert_int_equal(json_object_size(json_object_get(v, "data")), 1);
    assert_true(json_object_size(obj) <
                json_object_size(json_object_get(json_object_get(full, "data"), "object")));

    /* every kept scalar of data.object equals the full parse */
    const char *key;
    json_t *member;
    json_t *full_obj = json_object_get(json_object_get(full, "data"), "object");
    json_object_foreach(obj, key, member)
    {
        assert_true(json_equal(member, json_object_get(full_obj, key)));
    }
    /* keep-all gives the full tree */
    json_t *all = jscan_parse(text, len, JSONX_MAX_DEPTH, NULL, NULL, &err);
    assert_true(json_equal(all, full));
    json_decref(all);
    json_decref(v);
    json_decref(full);
    free(text);
}

static void errors_name_an_offset(void **state)
{
    (void)state;
    struct lumi_err err;
    assert_null(jscan_parse("{\"a\":1,\"a\":2}", 13, 32, NULL, NULL, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
    assert_string_equal(err.msg, "invalid JSON at offset 7: duplicate object key");
    assert_null(jscan_parse("[1,x]", 5, 32, NULL, NULL, &err));
    assert_string_equal(err.msg, "invalid JSON at offset 3: invalid token");
    assert_null(jscan_parse(NULL, 0, 32, NULL, NULL, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whitespace_and_document_shape),
        cmocka_unit_test(strings_escapes_and_utf8),
        cmocka_unit_test(numbers),
        cmocka_unit_test(literals),
        cmocka_unit_test(duplicate_keys),
        cmocka_unit_test(depth_is_bounded),
        cmocka_unit_test(filter_drop_keep_descend),
        cmocka_unit_test(filter_dropped_members_are_still_validated),
        cmocka_unit_test(stripe_filter_keeps_what_lumi_reads),
        cmocka_unit_test(errors_name_an_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
