/*
 * p_tax_rules.c — /admin/tax-rules: the list of tax rules with the add form,
 * the edit form, and delete.
 *
 * Every change goes through the functions behind /api/admin/tax-rules
 * (tax_rules_create, _update, _delete): a form becomes the JSON body the API
 * takes, so rules, messages and audit rows are the API's. The one thing the
 * page adds is the rate typed as a percentage ("19" or "7.25"), turned into
 * basis points here. Handlers run on the request's worker thread; no shared
 * state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/tax_rules.h"
#include "core/str.h"
#include "web/admin/pages_tax.h"
#include "web/page.h"

#define LIST_MAX 200

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v != NULL ? v : "";
}

/* "19", "19.5", "7.25", "19 %" → basis points; -1 when it is not such a percentage. */
static int64_t percent_to_bp(const char *s)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, decimals = 0;
    bool dot = false;
    while (*s == ' ')
        s++;
    for (; *s != '\0' && *s != '%' && *s != ' '; s++) {
        if (*s == '.' && !dot) {
            dot = true;
            continue;
        }
        if (*s < '0' || *s > '9' || (dot && decimals == 2) || (!dot && digits == 7))
            return -1;
        if (dot) {
            frac = frac * 10 + (*s - '0');
            decimals++;
        } else {
            whole = whole * 10 + (*s - '0');
            digits++;
        }
    }
    while (*s == ' ' || *s == '%')
        s++;
    if (*s != '\0' || digits == 0)
        return -1;
    for (; decimals < 2; decimals++)
        frac *= 10;
    return whole * 100 + frac;
}

static void bp_text(int64_t bp, char *out, size_t n, bool sign)
{
    snprintf(out, n, "%" PRId64 ".%02" PRId64 "%s", bp / 100, bp % 100, sign ? " %" : "");
}

/* The API body from the form; NULL with err when the rate is not a percentage. */
static json_t *body_from_form(struct web_req *req, bool editing, struct lumi_err *err)
{
    int64_t bp = percent_to_bp(form_str(req, "rate"));
    if (bp < 0) {
        err_set(err, LUMI_EINVAL,
                "field 'rate' must be a percentage with at most two decimals, e.g. 19 or 7.25");
        return NULL;
    }
    json_t *b = json_pack("{s:s s:s s:s s:I s:b}", "name", form_str(req, "name"), "country",
                          form_str(req, "country"), "region", form_str(req, "region"), "rate",
                          (json_int_t)bp, "inclusive", str_eq(form_str(req, "inclusive"), "1"));
    if (b != NULL && editing)
        json_object_set_new(b, "active", json_boolean(str_eq(form_str(req, "active"), "1")));
    if (b == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return b;
}

/* What was typed, to show again with the error. */
static json_t *typed_values(struct web_req *req)
{
    return json_pack("{s:s s:s s:s s:s s:b s:b}", "name", form_str(req, "name"), "country",
                     form_str(req, "country"), "region", form_str(req, "region"), "rate_percent",
                     form_str(req, "rate"), "inclusive", str_eq(form_str(req, "inclusive"), "1"),
                     "active", str_eq(form_str(req, "active"), "1"));
}

/* A stored rule as form values. */
static json_t *rule_values(const json_t *rule)
{
    char pct[32];
    bp_text(json_integer_value(json_object_get(rule, "rate")), pct, sizeof pct, false);
    json_t *v = json_deep_copy(rule);
    if (v != NULL)
        json_object_set_new(v, "rate_percent", json_string(pct));
    return v;
}

static void render(struct web_req *req, struct web_resp *resp, int status,
                   const struct page_ctx *ctx, int64_t id, json_t *values, const char *error)
{
    struct lumi_err err = {0};
    int64_t next = 0;
    json_t *data = json_pack("{s:s s:b s:o}", "title", id > 0 ? "Edit tax rule" : "Tax rules",
                             "editing", id > 0, "v", values != NULL ? values : json_object());
    if (data == NULL) {
        page_error(req, resp, 500, ctx, "out of memory");
        return;
    }
    if (id > 0) {
        json_object_set_new(data, "id", json_integer(id));
    } else {
        json_t *rules = tax_rules_list(req->db, 0, LIST_MAX, &next, &err);
        if (rules == NULL) {
            json_decref(data);
            page_error(req, resp, err_http_status(err.code), ctx, err.msg);
            return;
        }
        size_t i;
        json_t *r;
        json_array_foreach(rules, i, r)
        {
            char text[32];
            bp_text(json_integer_value(json_object_get(r, "rate")), text, sizeof text, true);
            json_object_set_new(r, "rate_text", json_string(text));
        }
        json_object_set_new(data, "rules", rules);
    }
    page_set_error(data, error);
    page_render(req, resp, status, ctx, "tax_rules.html", data);
}

static int enter(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    if (page_require_admin(req, resp, ctx) != 0)
        return -1;
    ctx->nav = "tax";
    return 0;
}

void p_tax_rules_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (enter(req, resp, &ctx) != 0)
        return;
    render(req, resp, 200, &ctx, 0, NULL, NULL);
}

/* Creates (id 0) or updates from the form: 303 back to the list, or the form with the message. */
static void save(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx, int64_t id)
{
    struct lumi_err err = {0};
    struct audit_actor actor = auth_actor(req);
    json_t *rule = NULL;
    json_t *body = body_from_form(req, id > 0, &err);
    if (body != NULL) {
        rule = id > 0 ? tax_rules_update(req->db, &actor, id, body, &err)
                      : tax_rules_create(req->db, &actor, body, &err);
        json_decref(body);
    }
    if (rule != NULL) {
        json_decref(rule);
        page_redirect_flash(resp, "/admin/tax-rules", "ok",
                            id > 0 ? "The tax rule was saved." : "The tax rule was added.");
        return;
    }
    if (id > 0 && err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, ctx, "There is no such tax rule.");
        return;
    }
    render(req, resp, page_form_status(&err), ctx, id, typed_values(req), err.msg);
}

void p_tax_rules_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (enter(req, resp, &ctx) != 0)
        return;
    save(req, resp, &ctx, 0);
}

void p_tax_rules_edit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, "There is no such tax rule.");
    if (id <= 0)
        return;
    json_t *rule = tax_rules_get(req->db, id, &err);
    if (rule == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx,
                   err.code == LUMI_ENOTFOUND ? "There is no such tax rule." : err.msg);
        return;
    }
    render(req, resp, 200, &ctx, id, rule_values(rule), NULL);
    json_decref(rule);
}

void p_tax_rules_update(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, "There is no such tax rule.");
    if (id > 0)
        save(req, resp, &ctx, id);
}

void p_tax_rules_delete(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (enter(req, resp, &ctx) != 0)
        return;
    int64_t id = page_id_or_404(req, resp, &ctx, "There is no such tax rule.");
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (tax_rules_delete(req->db, &actor, id, &err) < 0) {
        page_redirect_flash(resp, "/admin/tax-rules", "error", err.msg);
        return;
    }
    page_redirect_flash(resp, "/admin/tax-rules", "ok", "The tax rule was deleted.");
}
