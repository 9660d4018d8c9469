/*
 * test_tmpl.c — the HTML template renderer: escaping (every special
 * character, markup in data, raw only with triple braces), sections,
 * contexts and dotted paths, partials and their depth limit, layouts, URL
 * attributes that would run script, parse errors with line numbers, the
 * output cap, and the embedded file table.
 *
 * Tests that need the embedded templates (partials, layouts, the file table)
 * skip when the build embeds nothing (cmake/Embed.cmake not wired in).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/tmpl.h"

#define OUT_MAX (64 * 1024)

static json_t *data_of(const char *json)
{
    if (json == NULL)
        return NULL;
    json_error_t jerr;
    json_t *v = json_loads(json, 0, &jerr);
    if (v == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return v;
}

/* Renders template text with data given as JSON text; the output, caller frees. */
static char *render(const char *text, const char *json)
{
    struct buf out;
    struct lumi_err err;
    json_t *data = data_of(json);
    buf_init(&out, OUT_MAX);
    err_clear(&err);
    int rc = tmpl_render_text(text, strlen(text), data, &out, &err);
    json_decref(data);
    if (rc != 0) {
        buf_free(&out);
        fail_msg("render of \"%s\" failed (%d): %s", text, rc, err.msg);
    }
    return buf_steal(&out);
}

static void renders(const char *text, const char *json, const char *want)
{
    char *got = render(text, json);
    char copy[1024];
    int same = strcmp(got, want) == 0;
    snprintf(copy, sizeof copy, "%s", got);
    free(got);
    if (!same)
        fail_msg("template \"%s\"\n  rendered \"%s\"\n  expected \"%s\"", text, copy, want);
}

/* Rendering must fail with code; the message must contain msg_part. */
static void fails(const char *text, const char *json, int code, const char *msg_part)
{
    struct buf out;
    struct lumi_err err;
    json_t *data = data_of(json);
    buf_init(&out, OUT_MAX);
    err_clear(&err);
    int rc = tmpl_render_text(text, strlen(text), data, &out, &err);
    json_decref(data);
    size_t len = out.len;
    buf_free(&out);
    if (rc != code)
        fail_msg("template \"%s\": rc %d, expected %d (%s)", text, rc, code, err.msg);
    if (err.code != code || strstr(err.msg, msg_part) == NULL)
        fail_msg("template \"%s\": message \"%s\", expected \"%s\"", text, err.msg, msg_part);
    assert_int_equal(len, 0);
}

static void need_embedded(void)
{
    if (tmpl_file_find("layout.html") == NULL)
        skip();
}

static void escapes_every_special_char(void **state)
{
    (void)state;
    renders("{{s}}", "{\"s\":\"a&b<c>d\\\"e'f`g=h\"}",
            "a&amp;b&lt;c&gt;d&quot;e&#39;f&#96;g&#61;h");
    /* The same escaping in a quoted attribute. */
    renders("<p title=\"{{s}}\">", "{\"s\":\"\\\" onmouseover=\\\"x\"}",
            "<p title=\"&quot; onmouseover&#61;&quot;x\">");
    /* UTF-8 passes untouched. */
    renders("{{s}}", "{\"s\":\"Zoë € ✓\"}", "Zoë € ✓");
}

static void script_in_data_renders_as_text(void **state)
{
    (void)state;
    char *got = render("<td>{{name}}</td>", "{\"name\":\"<script>alert(1)</script>\"}");
    assert_null(strstr(got, "<script"));
    assert_string_equal(got, "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>");
    free(got);
}

static void raw_needs_triple_braces(void **state)
{
    (void)state;
    const char *data = "{\"svg\":\"<svg><path d=\\\"M0 0\\\"/></svg>\"}";
    renders("{{{svg}}}", data, "<svg><path d=\"M0 0\"/></svg>");
    renders("{{svg}}", data, "&lt;svg&gt;&lt;path d&#61;&quot;M0 0&quot;/&gt;&lt;/svg&gt;");
    renders("{{{ svg }}}", data, "<svg><path d=\"M0 0\"/></svg>");
}

static void integers_booleans_null_and_missing(void **state)
{
    (void)state;
    renders("{{a}}|{{b}}|{{c}}|{{t}}|{{f}}|{{n}}|{{missing}}|{{o}}|{{l}}",
            "{\"a\":1500,\"b\":-42,\"c\":9007199254740993,\"t\":true,\"f\":false,\"n\":null,"
            "\"o\":{\"x\":1},\"l\":[1,2]}",
            "1500|-42|9007199254740993|true|false||||");
    renders("{{a}}", "{\"a\":0}", "0");
    renders("[{{x}}]", NULL, "[]");
}

static void sections_over_arrays_objects_and_falsy_values(void **state)
{
    (void)state;
    renders("{{#l}}<{{.}}>{{/l}}", "{\"l\":[\"a\",\"b\",3]}", "<a><b><3>");
    renders("{{#rows}}{{id}}:{{name}};{{/rows}}",
            "{\"rows\":[{\"id\":1,\"name\":\"x\"},{\"id\":2,\"name\":\"y\"}]}", "1:x;2:y;");
    renders("{{#user}}{{name}}{{/user}}", "{\"user\":{\"name\":\"Ann\"}}", "Ann");
    /* Falsy: empty array, false, null, missing, "", 0. */
    const char *falsy = "{\"e\":[],\"f\":false,\"n\":null,\"s\":\"\",\"z\":0}";
    renders("{{#e}}E{{/e}}{{#f}}F{{/f}}{{#n}}N{{/n}}{{#m}}M{{/m}}{{#s}}S{{/s}}{{#z}}Z{{/z}}.",
            falsy, ".");
    /* Other truthy values render once, with the value as context. */
    renders("{{#t}}T{{/t}}{{#s}}[{{.}}]{{/s}}{{#i}}<{{.}}>{{/i}}{{#o}}O{{/o}}",
            "{\"t\":true,\"s\":\"hi\",\"i\":7,\"o\":{}}", "T[hi]<7>O");
}

static void inverted_sections(void **state)
{
    (void)state;
    renders("{{^e}}none{{/e}}", "{\"e\":[]}", "none");
    renders("{{^e}}none{{/e}}", "{\"e\":[1]}", "");
    renders("{{^f}}no{{/f}}{{^m}}missing{{/m}}{{^t}}T{{/t}}", "{\"f\":false,\"t\":true}",
            "nomissing");
    renders("{{#rows}}<tr>{{.}}</tr>{{/rows}}{{^rows}}<tr>No rows</tr>{{/rows}}", "{\"rows\":[]}",
            "<tr>No rows</tr>");
}

static void nested_contexts_look_up_parents(void **state)
{
    (void)state;
    const char *data =
        "{\"site\":\"Lumi\",\"name\":\"outer\","
        "\"groups\":[{\"name\":\"g1\",\"items\":[{\"id\":1},{\"id\":2,\"name\":\"own\"}]}]}";
    /* items[0] has no name: the group's; items[1] has its own; site from the root. */
    renders("{{#groups}}{{#items}}{{id}}={{name}}@{{site}} {{/items}}{{/groups}}", data,
            "1=g1@Lumi 2=own@Lumi ");
    /* After the section the outer context is back. */
    renders("{{#groups}}{{name}}{{/groups}}/{{name}}", data, "g1/outer");
}

static void dotted_paths(void **state)
{
    (void)state;
    const char *data =
        "{\"a\":{\"b\":{\"c\":\"deep\"}},\"items\":[{\"n\":\"zero\"},{\"n\":\"one\"}],"
        "\"x\":{\"y\":1}}";
    renders("{{a.b.c}}", data, "deep");
    renders("{{items.1.n}}|{{items.5.n}}|{{items.-1.n}}", data, "one||");
    renders("[{{a.nope.c}}][{{a.b.c.d}}]", data, "[][]");
    /* Only the first segment looks outwards: inside x, "a.b.c" still resolves
     * from the root, but "x.b" does not find a.b. */
    renders("{{#x}}{{a.b.c}}/{{y}}/{{x.b}}{{/x}}", data, "deep/1/");
    renders("{{#a.b}}{{c}}{{/a.b}}", data, "deep");
}

static void partials_render_with_the_current_context(void **state)
{
    (void)state;
    need_embedded();
    char *got =
        render("<header>{{> _nav.html}}</header>",
               "{\"nav\":[{\"href\":\"/admin/servers\",\"label\":\"Servers\",\"active\":true},"
               "{\"href\":\"/admin/audit-logs\",\"label\":\"Audit <log>\"}]}");
    assert_non_null(strstr(got, "<a href=\"/admin/servers\" class=\"active\">Servers</a>"));
    assert_non_null(strstr(got, "<a href=\"/admin/audit-logs\">Audit &lt;log&gt;</a>"));
    assert_true(strncmp(got, "<header><nav", 12) == 0);
    free(got);
}

static void partial_nesting_is_limited(void **state)
{
    (void)state;
    need_embedded();
    /* A tree three levels deep renders through the recursive partial. */
    char *got = render("<ul>{{> _tree.html}}</ul>",
                       "{\"children\":[{\"name\":\"a\",\"children\":[{\"name\":\"b\",\"children\":"
                       "[{\"name\":\"c\",\"children\":[]}]}]}]}");
    assert_non_null(strstr(got, "<li>a<ul>"));
    assert_non_null(strstr(got, "<li>c<ul>"));
    free(got);

    /* Nine levels do not fit in TMPL_MAX_PARTIAL_DEPTH (8). */
    char deep[1024];
    size_t n = 0;
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"children\":[");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"name\":\"leaf\",\"children\":[]}");
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "]}");
    assert_true(n < sizeof deep);
    fails("{{> _tree.html}}", deep, LUMI_EINVAL, "nested deeper than 8");

    /* A node without "children" finds its parent's list again: the limit
     * stops that loop instead of the stack. */
    fails("{{> _tree.html}}", "{\"children\":[{\"name\":\"a\"}]}", LUMI_EINVAL,
          "nested deeper than 8");
}

static void layout_wraps_the_body(void **state)
{
    (void)state;
    need_embedded();
    struct buf out;
    struct lumi_err err;
    json_t *data = data_of("{\"title\":\"Hi <there>\",\"user\":{\"name\":\"Ann\"},"
                           "\"items\":[\"one\"],\"flash\":{\"kind\":\"ok\",\"message\":\"Saved.\"},"
                           "\"nav\":[{\"href\":\"/admin\",\"label\":\"Home\"}]}");
    buf_init(&out, OUT_MAX);
    assert_int_equal(tmpl_render("hello.html", data, &out, &err), 0);
    const char *html = buf_cstr(&out);
    assert_true(strncmp(html, "<!doctype html>", 15) == 0);
    assert_non_null(strstr(html, "<title>Hi &lt;there&gt; · Lumi</title>"));
    assert_non_null(strstr(html, "<div class=\"flash flash-ok\">Saved.</div>"));
    const char *nav = strstr(html, "<nav class=\"topnav\">");
    const char *main_at = strstr(html, "<main>");
    const char *h1 = strstr(html, "<h1>Hello, Ann!</h1>");
    const char *end = strstr(html, "</main>");
    assert_non_null(nav);
    assert_non_null(main_at);
    assert_non_null(h1);
    assert_non_null(end);
    assert_true(nav < main_at && main_at < h1 && h1 < end);
    assert_non_null(strstr(html, "<p>one</p>"));
    assert_null(strstr(html, "Nothing yet."));
    assert_null(strstr(html, "{{"));
    /* The body is inserted once, as HTML, not escaped. */
    assert_null(strstr(html, "&lt;h1&gt;"));
    assert_null(strstr(h1 + 1, "<h1>"));
    json_decref(data);
    buf_free(&out);

    /* From text too, after leading whitespace. */
    char *got = render("\n  {{< layout.html}}<p>body</p>", "{\"title\":\"T\"}");
    assert_non_null(strstr(got, "<title>T · Lumi</title>"));
    assert_non_null(strstr(got, "<p>body</p>"));
    free(got);
}

static void script_urls_are_neutralised_in_url_attributes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\\tscript:alert(1)",
        "java\\nscript:x",
        "\\u0001javascript:x",
        "data:text/html,<script>x</script>",
        "vbscript:x",
        "file:///etc/passwd",
        "averyveryverylongschemename:x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"u\":\"%s\"}", bad[i]);
        renders("<a href=\"{{u}}\">x</a>", json, "<a href=\"#\">x</a>");
        renders("<img SRC='{{u}}'>", json, "<img SRC='#'>");
        renders("<form action=\"{{{u}}}\">", json, "<form action=\"#\">");
    }
    renders("<a href=\"{{u}}\">", "{\"u\":\"https://example.com/?a=b&c=d\"}",
            "<a href=\"https://example.com/?a&#61;b&amp;c&#61;d\">");
    renders("<a href=\"{{u}}\">", "{\"u\":\"HTTP://example.com\"}",
            "<a href=\"HTTP://example.com\">");
    renders("<a href=\"{{u}}\">", "{\"u\":\"mailto:billing@example.com\"}",
            "<a href=\"mailto:billing@example.com\">");
    renders("<a href=\"{{u}}\">", "{\"u\":\"/admin/servers?x=a:b\"}",
            "<a href=\"/admin/servers?x&#61;a:b\">");
    renders("<a href=\"{{u}}\">", "{\"u\":\"#top\"}", "<a href=\"#top\">");
    renders("<a href=\"{{u}}\">", "{\"u\":\"//cdn.example.com/x\"}",
            "<a href=\"//cdn.example.com/x\">");
    /* Later in the attribute the scheme is already fixed; elsewhere it is text. */
    renders("<a href=\"/servers/{{u}}\">", "{\"u\":\"javascript:x\"}",
            "<a href=\"/servers/javascript:x\">");
    renders("<p title=\"{{u}}\">{{u}}</p>", "{\"u\":\"javascript:x\"}",
            "<p title=\"javascript:x\">javascript:x</p>");
    /* Numbers and missing values are harmless. */
    renders("<a href=\"{{n}}\"><a href=\"{{m}}\">", "{\"n\":5}", "<a href=\"5\"><a href=\"\">");
}

static void parse_errors_name_the_line(void **state)
{
    (void)state;
    fails("a\n{{#rows}}\nb\n", "{}", LUMI_EINVAL,
          "template '<text>' line 2: section 'rows' is never closed");
    fails("{{#a}}\n{{#b}}\n{{/a}}", "{}", LUMI_EINVAL,
          "line 3: '{{/a}}' does not match section 'b' opened on line 2");
    fails("x\n\n{{/a}}", "{}", LUMI_EINVAL, "line 3: '{{/a}}' closes no open section");
    fails("ok\nok\n<p>{{name</p>", "{}", LUMI_EINVAL, "line 3: unterminated tag");
    fails("{{{raw}}", "{}", LUMI_EINVAL, "line 1: unterminated tag (no '}}}')");
    fails("\n{{> nope.html}}", "{}", LUMI_EINVAL, "line 2: unknown partial 'nope.html'");
    fails("{{> static/style.css}}", "{}", LUMI_EINVAL, "unknown partial");
    fails("{{< nope.html}}", "{}", LUMI_EINVAL, "line 1: unknown layout 'nope.html'");
    fails("{{=<% %>=}}", "{}", LUMI_EINVAL, "line 1: invalid character in tag");
    fails("{{& x}}", "{}", LUMI_EINVAL, "invalid character in tag");
    fails("{{ }}", "{}", LUMI_EINVAL, "empty tag");
    fails("{{a..b}}", "{}", LUMI_EINVAL, "invalid name 'a..b'");
    fails("{{.a}}", "{}", LUMI_EINVAL, "invalid name");
    if (tmpl_file_find("layout.html") != NULL)
        fails("<p>x</p>{{< layout.html}}", "{}", LUMI_EINVAL, "the layout tag must come first");
    /* Comments may hold anything but the closing braces. */
    renders("a{{! {{#not a section }}b{{!\n multi\n line }}", "{}", "ab");
}

static void section_depth_is_bounded(void **state)
{
    (void)state;
    char t[1024];
    size_t n = 0;
    for (int i = 0; i < TMPL_MAX_SECTION_DEPTH + 1; i++)
        n += (size_t)snprintf(t + n, sizeof t - n, "{{#a}}");
    assert_true(n < sizeof t);
    fails(t, "{}", LUMI_EINVAL, "sections nested deeper than 32");
}

static void output_is_capped(void **state)
{
    (void)state;
    struct buf out;
    struct lumi_err err;
    json_t *data = data_of("{\"rows\":[1,2,3,4,5,6,7,8,9,10]}");
    const char *t = "{{#rows}}<tr><td>{{.}}</td></tr>{{/rows}}";

    buf_init(&out, 64);
    assert_int_equal(buf_append_str(&out, "kept"), 0);
    int rc = tmpl_render_text(t, strlen(t), data, &out, &err);
    assert_int_equal(rc, LUMI_ETOOLARGE);
    assert_int_equal(err.code, LUMI_ETOOLARGE);
    assert_non_null(strstr(err.msg, "larger than 64 bytes"));
    assert_string_equal(buf_cstr(&out), "kept"); /* nothing half-rendered */

    /* Escaping counts: 10 '&' need 50 bytes. */
    json_decref(data);
    data = data_of("{\"s\":\"&&&&&&&&&&\"}");
    buf_reset(&out);
    assert_int_equal(tmpl_render_text("{{s}}", 5, data, &out, &err), 0);
    assert_int_equal(out.len, 50);
    buf_reset(&out);
    out.max = 49;
    assert_int_equal(tmpl_render_text("{{s}}", 5, data, &out, &err), LUMI_ETOOLARGE);
    assert_int_equal(out.len, 0);
    json_decref(data);
    buf_free(&out);

    if (tmpl_file_find("layout.html") != NULL) {
        /* A layout's body counts against the same cap. */
        buf_init(&out, 300);
        assert_int_equal(tmpl_render("hello.html", NULL, &out, &err), LUMI_ETOOLARGE);
        assert_int_equal(out.len, 0);
        buf_free(&out);
    }
}

static void embedded_files_are_found_with_their_content_type(void **state)
{
    (void)state;
    need_embedded();
    struct lumi_err err;
    assert_int_equal(tmpl_init(&err), 0); /* every embedded template parses */

    const struct tmpl_file *l = tmpl_file_find("layout.html");
    const struct tmpl_file *css = tmpl_file_find("static/style.css");
    assert_non_null(l);
    assert_non_null(css);
    assert_string_equal(l->content_type, "text/html; charset=utf-8");
    assert_string_equal(css->content_type, "text/css; charset=utf-8");
    assert_int_equal(strlen(css->data), css->len);

    /* The embedded bytes are the file in the source tree. */
    const char *src = getenv("LUMI_SOURCE_DIR");
    if (src != NULL) {
        char path[4096];
        snprintf(path, sizeof path, "%s/static/style.css", src);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *disk = malloc(css->len + 1);
        assert_non_null(disk);
        size_t n = fread(disk, 1, css->len + 1, f);
        fclose(f);
        assert_int_equal(n, css->len);
        assert_memory_equal(disk, css->data, css->len);
        free(disk);
    }

    static const char *const absent[] = {
        "style.css", "/static/style.css", "static/../layout.html", "templates/layout.html",
        "",          "LAYOUT.HTML"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (tmpl_file_find(absent[i]) != NULL)
            fail_msg("found '%s'", absent[i]);
    assert_null(tmpl_file_find(NULL));
    assert_true(tmpl_file_count() >= 4);

    struct buf out;
    buf_init(&out, OUT_MAX);
    assert_int_equal(tmpl_render("nope.html", NULL, &out, &err), LUMI_ENOTFOUND);
    assert_int_equal(tmpl_render("static/style.css", NULL, &out, &err), LUMI_ENOTFOUND);
    buf_free(&out);
}

static void *render_hello(void *arg)
{
    json_t *data = arg;
    for (int i = 0; i < 200; i++) {
        struct buf out;
        buf_init(&out, OUT_MAX);
        int rc = tmpl_render("hello.html", data, &out, NULL);
        int ok = rc == 0 && strstr(buf_cstr(&out), "<h1>Hello, Bo!</h1>") != NULL;
        buf_free(&out);
        if (!ok)
            return (void *)1;
    }
    return NULL;
}

static void renders_from_many_threads(void **state)
{
    (void)state;
    need_embedded();
    json_t *data = data_of("{\"user\":{\"name\":\"Bo\"},\"items\":[\"a\",\"b\"]}");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, render_hello, data), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        assert_int_equal(pthread_join(th[i], &res), 0);
        assert_null(res);
    }
    json_decref(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_from_many_threads), /* first: races the one-time parse */
        cmocka_unit_test(escapes_every_special_char),
        cmocka_unit_test(script_in_data_renders_as_text),
        cmocka_unit_test(raw_needs_triple_braces),
        cmocka_unit_test(integers_booleans_null_and_missing),
        cmocka_unit_test(sections_over_arrays_objects_and_falsy_values),
        cmocka_unit_test(inverted_sections),
        cmocka_unit_test(nested_contexts_look_up_parents),
        cmocka_unit_test(dotted_paths),
        cmocka_unit_test(partials_render_with_the_current_context),
        cmocka_unit_test(partial_nesting_is_limited),
        cmocka_unit_test(layout_wraps_the_body),
        cmocka_unit_test(script_urls_are_neutralised_in_url_attributes),
        cmocka_unit_test(parse_errors_name_the_line),
        cmocka_unit_test(section_depth_is_bounded),
        cmocka_unit_test(output_is_capped),
        cmocka_unit_test(embedded_files_are_found_with_their_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
