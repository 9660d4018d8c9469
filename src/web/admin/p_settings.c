/*
 * p_settings.c — /admin/settings: every setting of the registry as one form,
 * grouped as the registry groups them, and a read-only box saying how mail
 * leaves (the SMTP_* configuration, never its password).
 *
 * The form is turned into the JSON object PATCH /api/admin/settings takes
 * and saved by settings_reg_update, so the rules, messages and audit row are
 * the API's. Form fields are named by the settings' keys. An unchecked box
 * posts nothing, so each checkbox comes with a hidden "on_form.<key>" field:
 * a bool whose marker was posted and whose box was not is false, and a post
 * that lacks a setting altogether leaves it as it is.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/str.h"
#include "settings/registry.h"
#include "web/page.h"
#include "web/admin/pages_settings.h"

#define MARKER_PREFIX "on_form."
#define FIELD_NAME_MAX 128

/* The posted "on_form.<key>" marker of a bool is there. */
static bool bool_on_form(struct web_req *req, const char *key)
{
    char name[FIELD_NAME_MAX];
    int n = snprintf(name, sizeof name, MARKER_PREFIX "%s", key);
    return n > 0 && (size_t)n < sizeof name && web_form_value(req, name) != NULL;
}

/* The text a value is shown as in an input or as a default. */
static void value_text(const json_t *v, char *out, size_t sz)
{
    if (json_is_integer(v))
        snprintf(out, sz, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        str_copy(out, json_is_true(v) ? "on" : "off", sz);
    else
        str_copy(out, json_string_value(v) != NULL ? json_string_value(v) : "", sz);
}

/* A posted whole number, spaces around it allowed; false when it is not one. */
static bool posted_int(const char *s, int64_t *out)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return str_to_i64(s, n, INT64_MIN, INT64_MAX, out) == 0;
}

/*
 * The PATCH body of the form: for each setting of rows, its posted value
 * typed as the API takes it (an integer field that is not a whole number is
 * passed on as the text, so the registry's message quotes what was typed).
 * NULL with err when a value is not valid UTF-8 or memory runs out.
 */
static json_t *body_from_form(struct web_req *req, const json_t *rows, struct lumi_err *err)
{
    json_t *b = json_object();
    size_t i;
    json_t *row;
    if (b == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    json_array_foreach(rows, i, row)
    {
        const char *key = json_string_value(json_object_get(row, "key"));
        const char *type = json_string_value(json_object_get(row, "type"));
        json_t *v = NULL;
        if (str_eq(type, "bool")) {
            if (!bool_on_form(req, key))
                continue;
            v = json_boolean(web_form_value(req, key) != NULL);
        } else {
            const char *posted = web_form_value(req, key);
            if (posted == NULL)
                continue;
            int64_t n;
            if (str_eq(type, "integer") && posted_int(posted, &n))
                v = json_integer(n);
            else
                v = json_string(posted);
            if (v == NULL) {
                err_set(err, LUMI_EINVAL, "%s: the text is not valid UTF-8", key);
                json_decref(b);
                return NULL;
            }
        }
        json_object_set_new(b, key, v);
    }
    return b;
}

/*
 * The view of one setting row of settings_reg_list: its input kind, the
 * value to show (posted, when the form is shown again, else the current
 * one), the default as text and the enum's options.
 */
static json_t *setting_view(struct web_req *req, const json_t *row, bool posted)
{
    char cur[2048], dflt[2048];
    const char *key = json_string_value(json_object_get(row, "key"));
    const char *type = json_string_value(json_object_get(row, "type"));
    json_t *value = json_object_get(row, "value");
    bool is_bool = str_eq(type, "bool");
    bool checked = json_is_true(value);
    value_text(value, cur, sizeof cur);
    value_text(json_object_get(row, "default"), dflt, sizeof dflt);
    if (posted && is_bool && bool_on_form(req, key))
        checked = web_form_value(req, key) != NULL;
    else if (posted && !is_bool && web_form_value(req, key) != NULL)
        str_copy(cur, web_form_value(req, key), sizeof cur);
    json_t *v = json_pack("{s:O s:O s:O s:b s:b s:b s:b s:b s:s s:s}", "key",
                          json_object_get(row, "key"), "label", json_object_get(row, "label"),
                          "help", json_object_get(row, "help"), "is_bool", is_bool, "is_int",
                          str_eq(type, "integer"), "is_enum", str_eq(type, "enum"), "is_text",
                          str_eq(type, "integer_list") || str_eq(type, "email_list"), "checked",
                          checked, "text", cur, "default_text", *dflt != '\0' ? dflt : "(empty)");
    if (v == NULL)
        return NULL;
    /* Text settings (issue 14): one line as an input, several as a textarea, capped. */
    json_object_set_new(v, "is_line", json_boolean(str_eq(type, "text")));
    json_object_set_new(v, "is_area", json_boolean(str_eq(type, "multiline_text")));
    if (json_object_get(row, "max_length") != NULL)
        json_object_set(v, "max_length", json_object_get(row, "max_length"));
    json_t *min = json_object_get(row, "min"), *max = json_object_get(row, "max");
    if (min != NULL && max != NULL && str_eq(type, "integer")) {
        json_object_set(v, "min", min);
        json_object_set(v, "max", max);
    }
    if (json_object_get(row, "error") != NULL)
        json_object_set(v, "error", json_object_get(row, "error"));
    json_t *choices = json_object_get(row, "choices");
    if (json_is_array(choices)) {
        json_t *opts = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(choices, i, c)
        {
            json_array_append_new(opts, json_pack("{s:O s:b}", "value", c, "selected",
                                                  str_eq(json_string_value(c), cur)));
        }
        json_object_set_new(v, "options", opts);
    }
    return v;
}

/* The settings grouped as the registry orders them: [{name, settings: [view...]}]. */
static json_t *groups_view(struct web_req *req, const json_t *rows, bool posted)
{
    json_t *groups = json_array(), *group = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "group"));
        if (group == NULL || !str_eq(json_string_value(json_object_get(group, "name")), name)) {
            group = json_pack("{s:s s:[]}", "name", name ? name : "", "settings");
            json_array_append_new(groups, group);
        }
        json_array_append_new(json_object_get(group, "settings"), setting_view(req, row, posted));
    }
    return groups;
}

/* How mail leaves, from the configuration: host, port, TLS, From, whether a user is set. */
static json_t *mail_view(void)
{
    if (!config_has("SMTP_HOST"))
        return json_pack("{s:b}", "configured", 0);
    const char *from = config_str("SMTP_FROM");
    return json_pack("{s:b s:s s:I s:s s:s s:b}", "configured", 1, "host", config_str("SMTP_HOST"),
                     "port", (json_int_t)config_int("SMTP_PORT"), "tls",
                     config_str("SMTP_TLS") ? config_str("SMTP_TLS") : "", "from",
                     from != NULL ? from : "", "user_set", config_has("SMTP_USER"));
}

/* Renders the page from the rows of settings_reg_list (borrowed). */
static void render(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                   int status, const json_t *rows, bool posted, const char *error)
{
    json_t *data = json_pack("{s:s s:o s:o}", "title", "Settings", "groups",
                             groups_view(req, rows, posted), "mail", mail_view());
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "settings.html", data);
}

void p_settings_show(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "settings";
    json_t *all = settings_reg_list(req->db, &err);
    if (all == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    render(req, resp, &ctx, 200, json_object_get(all, "data"), false, NULL);
    json_decref(all);
}

void p_settings_save(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "settings";
    json_t *all = settings_reg_list(req->db, &err);
    if (all == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_t *rows = json_object_get(all, "data");
    json_t *body = body_from_form(req, rows, &err);
    json_t *saved = NULL;
    if (body != NULL) {
        struct audit_actor actor = auth_actor(req);
        saved = settings_reg_update(req->db, &actor, body, &err);
        json_decref(body);
    }
    if (saved == NULL)
        render(req, resp, &ctx, page_form_status(&err), rows, true, err.msg);
    else
        page_redirect_flash(resp, "/admin/settings", "ok", "Settings saved.");
    json_decref(saved);
    json_decref(all);
}
