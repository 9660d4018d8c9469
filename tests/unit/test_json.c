/*
 * test_json.c — request-body JSON: what is refused (duplicates, depth,
 * trailing bytes, non-objects), the field readers' messages, and the
 * canonical serialisation that the audit hash depends on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

static json_t *parse(const char *text, struct lumi_err *err)
{
    err_clear(err);
    return jsonx_parse_object(text, strlen(text), err);
}

static void parse_fails_with(const char *text, const char *msg_part)
{
    struct lumi_err err;
    json_t *v = parse(text, &err);
    if (v != NULL) {
        json_decref(v);
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(err.code, LUMI_EINVAL);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("message for %s was \"%s\", expected \"%s\"", text, err.msg, msg_part);
}

static void nested(struct buf *b, int depth)
{
    for (int i = 0; i < depth; i++)
        assert_int_equal(buf_append_str(b, "{\"a\":"), 0);
    assert_int_equal(buf_append_str(b, "1"), 0);
    for (int i = 0; i < depth; i++)
        assert_int_equal(buf_append_char(b, '}'), 0);
}

static void syntax_errors_name_line_and_column(void **state)
{
    (void)state;
    parse_fails_with("{\"a\": tru}", "invalid JSON at line 1, column ");
    parse_fails_with("{\n\"a\": 1,\n}", "invalid JSON at line 3");
    parse_fails_with("", "invalid JSON at line 1");
    /* Whatever jansson quotes from the input comes back as printable ASCII. */
    struct lumi_err err;
    json_t *v = parse("{\"a\":\xff\x01}", &err);
    assert_null(v);
    for (const char *p = err.msg; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void duplicate_keys_are_refused(void **state)
{
    (void)state;
    parse_fails_with("{\"price\":1,\"price\":2}", "duplicate object key");
    parse_fails_with("{\"o\":{\"k\":1,\"k\":1}}", "duplicate object key");
}

static void trailing_bytes_are_refused(void **state)
{
    (void)state;
    parse_fails_with("{\"a\":1} x", "invalid JSON");
    parse_fails_with("{\"a\":1}{\"b\":2}", "invalid JSON");
    struct lumi_err err;
    /* A NUL inside the given length is input, not an end marker. */
    json_t *v = jsonx_parse_object("{\"a\":1}\0junk", 12, &err);
    assert_null(v);
    v = jsonx_parse_object("{\"a\":1}\0junk", 7, &err);
    assert_non_null(v);
    json_decref(v);
}

static void non_objects_are_refused_as_bodies(void **state)
{
    (void)state;
    parse_fails_with("[1,2]", "request body must be a JSON object");
    parse_fails_with("\"text\"", "request body must be a JSON object");
    parse_fails_with("42", "request body must be a JSON object");
    parse_fails_with("null", "request body must be a JSON object");
    struct lumi_err err;
    json_t *v = jsonx_parse("[1]", 3, JSONX_MAX_DEPTH, &err);
    assert_true(json_is_array(v));
    json_decref(v);
}

static void nesting_is_bounded_at_32(void **state)
{
    (void)state;
    struct lumi_err err;
    struct buf b;
    buf_init(&b, 4096);
    nested(&b, 32);
    json_t *v = parse(buf_cstr(&b), &err);
    assert_non_null(v);
    json_decref(v);
    buf_reset(&b);
    nested(&b, 33);
    parse_fails_with(buf_cstr(&b), "JSON nested deeper than 32 levels");
    buf_reset(&b);
    for (int i = 0; i < 33; i++)
        buf_append_char(&b, '[');
    for (int i = 0; i < 33; i++)
        buf_append_char(&b, ']');
    v = jsonx_parse(b.data, b.len, JSONX_MAX_DEPTH, &err);
    assert_null(v);
    assert_string_equal(err.msg, "JSON nested deeper than 32 levels");
    buf_free(&b);
}

static void check_keys_names_the_unknown_field(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", "price", NULL};
    struct lumi_err err;
    json_t *v = parse("{\"name\":\"x\",\"price\":1}", &err);
    assert_int_equal(jsonx_check_keys(v, allowed, &err), 0);
    json_decref(v);
    v = parse("{\"name\":\"x\",\"is_admin\":true}", &err);
    assert_int_equal(jsonx_check_keys(v, allowed, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "unknown field 'is_admin'");
    json_decref(v);
    /* A long name is cut on a character boundary: 63 'a' + "é" (2 bytes). */
    struct buf b;
    buf_init(&b, 256);
    buf_append_str(&b, "{\"");
    for (int i = 0; i < 63; i++)
        buf_append_char(&b, 'a');
    buf_append_str(&b, "\xc3\xa9zzz\":1}");
    v = parse(buf_cstr(&b), &err);
    assert_int_equal(jsonx_check_keys(v, allowed, &err), LUMI_EINVAL);
    assert_int_equal(strlen(err.msg), strlen("unknown field ''") + 63);
    json_decref(v);
    buf_free(&b);
}

static void take_int_refuses_reals_and_out_of_range(void **state)
{
    (void)state;
    struct lumi_err err;
    int64_t n = -1;
    json_t *v = parse("{\"price\":1500,\"real\":15.0,\"neg\":-1,\"s\":\"15\",\"nul\":null,"
                      "\"big\":9223372036854775807}",
                      &err);
    assert_int_equal(jsonx_take_int(v, "price", true, 0, INT64_MAX, &n, &err), 1);
    assert_true(n == 1500);
    assert_int_equal(jsonx_take_int(v, "real", true, 0, INT64_MAX, &n, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'real' must be an integer");
    assert_int_equal(jsonx_take_int(v, "s", true, 0, INT64_MAX, &n, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 's' must be an integer");
    assert_int_equal(jsonx_take_int(v, "neg", true, 0, INT64_MAX, &n, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'neg' must be between 0 and 9223372036854775807");
    assert_int_equal(jsonx_take_int(v, "big", true, 0, INT64_MAX, &n, &err), 1);
    assert_true(n == INT64_MAX);
    n = 7;
    assert_int_equal(jsonx_take_int(v, "nul", false, 0, 10, &n, &err), 0);
    assert_int_equal(jsonx_take_int(v, "missing", false, 0, 10, &n, &err), 0);
    assert_true(n == 7);
    assert_int_equal(jsonx_take_int(v, "nul", true, 0, 10, &n, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'nul' is required");
    json_decref(v);
    parse_fails_with("{\"n\":9223372036854775808}", "invalid JSON");
}

static void take_str_checks_type_length_and_nul(void **state)
{
    (void)state;
    struct lumi_err err;
    const char *s = NULL;
    json_t *v = parse("{\"name\":\"héllo\",\"n\":5,\"long\":\"abcdef\"}", &err);
    assert_int_equal(jsonx_take_str(v, "name", true, 6, &s, &err), 1);
    assert_string_equal(s, "héllo");
    assert_int_equal(jsonx_take_str(v, "name", true, 5, &s, &err), LUMI_EINVAL); /* 6 bytes */
    assert_string_equal(err.msg, "field 'name' is longer than 5 characters");
    assert_int_equal(jsonx_take_str(v, "n", true, 10, &s, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'n' must be a string");
    assert_int_equal(jsonx_take_str(v, "email", true, 10, &s, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'email' is required");
    assert_int_equal(jsonx_take_str(v, "long", false, 5, &s, &err), LUMI_EINVAL);
    /* Embedded NUL: the parser refuses \u0000, a value built in code is checked too. */
    json_object_set_new(v, "nul", json_stringn("a\0b", 3));
    assert_int_equal(jsonx_take_str(v, "nul", true, 10, &s, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'nul' must not contain NUL characters");
    json_decref(v);
    parse_fails_with("{\"a\":\"x\\u0000y\"}", "invalid JSON");
}

static void take_bool_enum_object(void **state)
{
    (void)state;
    static const char *const cycles[] = {"monthly", "quarterly", "annually", NULL};
    struct lumi_err err;
    bool b = false;
    const char *c = NULL;
    json_t *o = NULL;
    json_t *v = parse("{\"active\":true,\"one\":1,\"cycle\":\"quarterly\",\"bad\":\"weekly\","
                      "\"config\":{\"x\":1},\"arr\":[]}",
                      &err);
    assert_int_equal(jsonx_take_bool(v, "active", true, &b, &err), 1);
    assert_true(b);
    assert_int_equal(jsonx_take_bool(v, "one", true, &b, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'one' must be true or false");
    assert_int_equal(jsonx_take_enum(v, "cycle", true, cycles, &c, &err), 1);
    assert_string_equal(c, "quarterly");
    assert_int_equal(jsonx_take_enum(v, "bad", true, cycles, &c, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'bad' must be one of monthly, quarterly, annually");
    assert_int_equal(jsonx_take_enum(v, "one", true, cycles, &c, &err), LUMI_EINVAL);
    assert_int_equal(jsonx_take_object(v, "config", true, &o, &err), 1);
    assert_true(json_is_object(o));
    assert_int_equal(jsonx_take_object(v, "arr", true, &o, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "field 'arr' must be an object");
    json_decref(v);
}

static void canonical_dump_sorts_keys_and_is_stable(void **state)
{
    (void)state;
    struct lumi_err err;
    json_t *a = parse("{\"b\":1,\"a\":{\"z\":[1,2,{\"y\":null,\"x\":\"/é\"}],\"c\":true}}", &err);
    json_t *b =
        parse("{ \"a\" : { \"c\" : true , \"z\" : [1, 2, {\"x\":\"\\/\\u00e9\",\"y\":null}]},"
              "\"b\" : 1 }",
              &err);
    assert_non_null(a);
    assert_non_null(b);
    char *da = jsonx_dump_canonical(a);
    char *db = jsonx_dump_canonical(b);
    assert_string_equal(da, "{\"a\":{\"c\":true,\"z\":[1,2,{\"x\":\"/é\",\"y\":null}]},\"b\":1}");
    assert_string_equal(da, db);
    char *compact = jsonx_dump(a);
    assert_string_equal(compact,
                        "{\"b\":1,\"a\":{\"z\":[1,2,{\"y\":null,\"x\":\"/é\"}],\"c\":true}}");
    free(da);
    free(db);
    free(compact);
    json_decref(a);
    json_decref(b);
}

static void setters_build_objects(void **state)
{
    (void)state;
    json_t *o = json_object();
    assert_int_equal(jsonx_set_str(o, "name", "Lumi"), 0);
    assert_int_equal(jsonx_set_str(o, "gone", NULL), 0);
    assert_int_equal(jsonx_set_int(o, "total", INT64_MIN), 0);
    assert_int_equal(jsonx_set_bool(o, "paid", true), 0);
    assert_true(jsonx_set_str(o, "bad", "\xff\xfe") != 0); /* not UTF-8 */
    char *d = jsonx_dump_canonical(o);
    assert_string_equal(d, "{\"gone\":null,\"name\":\"Lumi\",\"paid\":true,"
                           "\"total\":-9223372036854775808}");
    free(d);
    json_decref(o);
}

/* What jansson writes for s as a compact JSON string, or NULL when it refuses s. */
static char *jansson_string(const char *s)
{
    json_t *v = json_string(s);
    char *d = v != NULL ? jsonx_dump_canonical(v) : NULL;
    json_decref(v);
    return d;
}

static void check_append_matches_jansson(const char *s)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    char *want = jansson_string(s);
    int rc = jsonx_append_string(&b, s);
    if (want == NULL) {
        assert_int_equal(rc, LUMI_EINVAL);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(buf_cstr(&b), want);
    }
    free(want);
    buf_free(&b);
}

/* The audit hash is computed over jsonx_append_string's bytes: they must be
 * jansson's, for every byte and for valid and invalid UTF-8 alike. */
static void append_string_is_byte_identical_to_jansson(void **state)
{
    (void)state;
    char one[4] = {0};
    for (int c = 1; c < 256; c++) {
        one[0] = 'a';
        one[1] = (char)c;
        one[2] = 'z';
        check_append_matches_jansson(one);
    }
    static const char *const cases[] = {
        "",
        "plain",
        "quote \" and back\\slash",
        "a/b",
        "tab\tnl\nret\rbs\bff\f",
        "\x01\x1f\x7f",
        "caf\xc3\xa9",
        "\xe2\x82\xac \xf0\x9f\x98\x80",
        "\xe2\x80\xa8",
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80",
        "\xc3",
        "\xe2\x82",
        "\x80",
        "ok\xff",
        "\xef\xbf\xbf",
        "\xf0\x90\x80\x80",
        "\xf4\x8f\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_append_matches_jansson(cases[i]);
}

/* A pseudo-random value (fixed seed) mixing every type but reals, tricky strings and keys. */
static json_t *random_value(unsigned *seed, int depth)
{
    static const char *const strs[] = {
        "",       "a",     "b",    "A",           "aa",           "\"q\"",
        "back\\", "tab\t", "\x01", "caf\xc3\xa9", "\xe2\x82\xac", "/",
        "Z",      "a b"};
    size_t nstrs = sizeof strs / sizeof strs[0];
    int kind = (int)(rand_r(seed) % (depth > 4 ? 5u : 7u));
    switch (kind) {
    case 0:
        return json_string(strs[rand_r(seed) % nstrs]);
    case 1:
        return json_integer((json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? -1 : 1) *
                            (rand_r(seed) % 3 == 0 ? 1000000007LL : 1));
    case 2:
        return rand_r(seed) % 2 ? json_true() : json_false();
    case 3:
        return json_null();
    case 4:
        return json_integer(rand_r(seed) % 2 ? INT64_MIN : INT64_MAX);
    case 5: {
        json_t *a = json_array();
        for (int i = (int)(rand_r(seed) % 5); i > 0; i--)
            json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = (int)(rand_r(seed) % 20); i > 0; i--)
            json_object_set_new(o, strs[rand_r(seed) % nstrs], random_value(seed, depth + 1));
        return o;
    }
    }
}

/* jsonx_dump_canonical and jsonx_dump write most values themselves: byte for byte what
 * jansson writes. */
static void canonical_dump_is_jansson_byte_for_byte(void **state)
{
    (void)state;
    unsigned seed = 20261125;
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_value(&seed, 0);
        char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *got = jsonx_dump_canonical(v);
        assert_non_null(want);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(want);
        free(got);
        /* and jsonx_dump: the same without sorting, members as inserted */
        want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        got = jsonx_dump(v);
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(v);
    }
    /* reals are left to jansson, and come out as jansson writes them */
    json_t *r = json_pack("{s:f, s:[f]}", "x", 0.1, "y", -2.5e300);
    char *want = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *got = jsonx_dump_canonical(r);
    assert_string_equal(got, want);
    free(want);
    free(got);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syntax_errors_name_line_and_column),
        cmocka_unit_test(duplicate_keys_are_refused),
        cmocka_unit_test(trailing_bytes_are_refused),
        cmocka_unit_test(non_objects_are_refused_as_bodies),
        cmocka_unit_test(nesting_is_bounded_at_32),
        cmocka_unit_test(check_keys_names_the_unknown_field),
        cmocka_unit_test(take_int_refuses_reals_and_out_of_range),
        cmocka_unit_test(take_str_checks_type_length_and_nul),
        cmocka_unit_test(take_bool_enum_object),
        cmocka_unit_test(canonical_dump_sorts_keys_and_is_stable),
        cmocka_unit_test(setters_build_objects),
        cmocka_unit_test(append_string_is_byte_identical_to_jansson),
        cmocka_unit_test(canonical_dump_is_jansson_byte_for_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
