/*
 * p_credit.c — admin pages of the credit balance and coupons (issue 14): the
 * client page's credit form, the invoice page's "apply credit" button and
 * /admin/coupons. Every change goes through the functions behind the JSON
 * API (credit_admin_adjust, credit_apply_invoice, coupons_*): a form is
 * turned into the API's body, so rules, messages and audit rows are the
 * API's. page_require_admin checks the form's CSRF token. Handlers run on the
 * request's worker thread; no shared state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/coupons.h"
#include "billing/credit.h"
#include "billing/credit_apply.h"
#include "core/money.h"
#include "core/str.h"
#include "web/auth.h"
#include "web/page.h"
#include "web/admin/pages_credit.h"

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v != NULL ? v : "";
}

/* The form's decimal amount in currency as minor units; 0 with msg filled when unreadable. */
static int64_t form_money(struct web_req *req, const char *field, const char *currency, char *msg,
                          size_t msgsz)
{
    struct lumi_err err = {0};
    int64_t minor = 0;
    if (money_parse(form_str(req, field), currency, &minor, &err) < 0 || minor <= 0) {
        snprintf(msg, msgsz, "field '%s': %s", field,
                 err.code != 0 ? err.msg : "must be more than 0");
        return 0;
    }
    return minor;
}

void p_clients_credit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char back[64], msg[LUMI_ERR_MSG_MAX + 64];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "clients";
    int64_t id = page_id_or_404(req, resp, &ctx, "client not found");
    if (id <= 0)
        return;
    snprintf(back, sizeof back, "/admin/clients/%" PRId64, id);
    const char *currency = form_str(req, "currency");
    int64_t amount = form_money(req, "amount", currency, msg, sizeof msg);
    if (amount == 0) {
        page_redirect_flash(resp, back, "error", msg);
        return;
    }
    if (str_eq(form_str(req, "direction"), "remove"))
        amount = -amount;
    json_t *body = json_pack("{s:I, s:s, s:s}", "amount", (json_int_t)amount, "currency", currency,
                             "reason", form_str(req, "reason"));
    struct audit_actor actor = auth_actor(req);
    json_t *r = body != NULL ? credit_admin_adjust(req->db, &actor, id, body, &err) : NULL;
    json_decref(body);
    if (r == NULL) {
        if (err.code == LUMI_ENOTFOUND) {
            page_error(req, resp, 404, &ctx, "client not found");
            return;
        }
        page_redirect_flash(resp, back, "error", err.code != 0 ? err.msg : "out of memory");
        return;
    }
    json_decref(r);
    page_redirect_flash(resp, back, "ok",
                        amount > 0 ? "Credit added." : "Credit removed.");
}

void p_invoices_apply_credit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char back[64], msg[160];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t id = page_id_or_404(req, resp, &ctx, "invoice not found");
    if (id <= 0)
        return;
    snprintf(back, sizeof back, "/admin/invoices/%" PRId64, id);
    struct audit_actor actor = auth_actor(req);
    json_t *inv = credit_apply_invoice(req->db, &actor, id, 0, &err);
    if (inv == NULL) {
        if (err.code == LUMI_ENOTFOUND)
            page_error(req, resp, 404, &ctx, "invoice not found");
        else
            page_redirect_flash(resp, back, "error", err.msg);
        return;
    }
    char amount[48];
    money_format_text(json_integer_value(json_object_get(inv, "credit_applied_now")),
                      json_string_value(json_object_get(inv, "currency")), amount, sizeof amount);
    snprintf(msg, sizeof msg, "%s of credit applied.", amount);
    json_decref(inv);
    page_redirect_flash(resp, back, "ok", msg);
}

/* ---- coupons --------------------------------------------------------------- */

static void decorate_coupon(json_t *c)
{
    char text[64];
    int64_t v = json_integer_value(json_object_get(c, "value"));
    const char *cur = json_string_value(json_object_get(c, "currency"));
    if (str_eq(json_string_value(json_object_get(c, "kind")), "percent")) {
        /* basis points read as a two-decimal amount: 1250 → "12.50" */
        money_format(v, "usd", text, sizeof text);
        str_copy(text + strlen(text), " %", sizeof text - strlen(text));
    } else {
        money_format_text(v, cur, text, sizeof text);
    }
    json_object_set_new(c, "value_text", json_string(text));
    int64_t cycles = json_integer_value(json_object_get(c, "cycles"));
    snprintf(text, sizeof text, cycles == 0 ? "every invoice" : "first %" PRId64 " invoice(s)",
             cycles);
    json_object_set_new(c, "cycles_text", json_string(text));
    int64_t max = json_integer_value(json_object_get(c, "max_uses"));
    snprintf(text, sizeof text, max == 0 ? "%" PRId64 " / unlimited" : "%" PRId64 " / %" PRId64,
             (int64_t)json_integer_value(json_object_get(c, "uses")), max);
    json_object_set_new(c, "uses_text", json_string(text));
}

void p_coupons_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    size_t i;
    json_t *c;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "coupons";
    json_t *rows = coupons_list(req->db, &err);
    if (rows == NULL) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    json_array_foreach(rows, i, c) decorate_coupon(c);
    json_t *data = json_pack("{s:s, s:o}", "title", "Coupons", "coupons", rows);
    page_render(req, resp, 200, &ctx, "coupons.html", data);
}

/* "1, 2,3" → [1,2,3]; NULL when a part is not a positive integer. */
static json_t *ids_from_text(const char *text)
{
    json_t *ids = json_array();
    const char *p = text;
    while (ids != NULL && *p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t n = strcspn(p, ", ");
        int64_t id = 0;
        if (str_to_i64(p, n, 1, INT64_MAX, &id) < 0) {
            json_decref(ids);
            return NULL;
        }
        json_array_append_new(ids, json_integer(id));
        p += n;
    }
    return ids;
}

/* The API's body from the form; msg filled and NULL when a field cannot be read. */
static json_t *coupon_body(struct web_req *req, char *msg, size_t msgsz)
{
    const char *kind = form_str(req, "kind"), *currency = form_str(req, "currency");
    bool percent = str_eq(kind, "percent");
    int64_t value = 0, cycles = 1, max_uses = 0;
    /* a percent is read like a two-decimal amount: "12.5" → 1250 basis points */
    value = form_money(req, "value", percent ? "usd" : currency, msg, msgsz);
    if (value == 0)
        return NULL;
    if (str_to_i64z(form_str(req, "cycles"), 0, 1000, &cycles) < 0 ||
        (form_str(req, "max_uses")[0] != '\0' &&
         str_to_i64z(form_str(req, "max_uses"), 0, 1000000000, &max_uses) < 0)) {
        snprintf(msg, msgsz, "fields 'cycles' and 'max_uses' must be whole numbers");
        return NULL;
    }
    json_t *ids = ids_from_text(form_str(req, "product_ids"));
    if (ids == NULL) {
        snprintf(msg, msgsz, "field 'product_ids' must be product ids separated by commas");
        return NULL;
    }
    json_t *b = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "code", form_str(req, "code"), "kind",
                          kind, "value", (json_int_t)value, "cycles", (json_int_t)cycles,
                          "max_uses", (json_int_t)max_uses, "product_ids", ids);
    if (b != NULL && !percent)
        json_object_set_new(b, "currency", json_string(currency));
    if (b != NULL && form_str(req, "expires_at")[0] != '\0')
        json_object_set_new(b, "expires_at", json_string(form_str(req, "expires_at")));
    return b;
}

void p_coupons_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    char msg[LUMI_ERR_MSG_MAX + 64];
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    json_t *body = coupon_body(req, msg, sizeof msg);
    if (body == NULL) {
        page_redirect_flash(resp, "/admin/coupons", "error", msg);
        return;
    }
    struct audit_actor actor = auth_actor(req);
    json_t *c = coupons_create(req->db, &actor, body, &err);
    json_decref(body);
    if (c == NULL) {
        page_redirect_flash(resp, "/admin/coupons", "error", err.msg);
        return;
    }
    snprintf(msg, sizeof msg, "Coupon %s created.", json_string_value(json_object_get(c, "code")));
    json_decref(c);
    page_redirect_flash(resp, "/admin/coupons", "ok", msg);
}

void p_coupons_deactivate(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "coupons";
    int64_t id = page_id_or_404(req, resp, &ctx, "coupon not found");
    if (id <= 0)
        return;
    json_t *body = json_pack("{s:b}", "active", 0);
    struct audit_actor actor = auth_actor(req);
    json_t *c = body != NULL ? coupons_update(req->db, &actor, id, body, &err) : NULL;
    json_decref(body);
    if (c == NULL && err.code == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, "coupon not found");
        return;
    }
    json_decref(c);
    page_redirect_flash(resp, "/admin/coupons", c != NULL ? "ok" : "error",
                        c != NULL ? "Coupon deactivated." : err.msg);
}

void p_coupons_delete(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "coupons";
    int64_t id = page_id_or_404(req, resp, &ctx, "coupon not found");
    if (id <= 0)
        return;
    struct audit_actor actor = auth_actor(req);
    int rc = coupons_delete(req->db, &actor, id, &err);
    if (rc == LUMI_ENOTFOUND) {
        page_error(req, resp, 404, &ctx, "coupon not found");
        return;
    }
    page_redirect_flash(resp, "/admin/coupons", rc == 0 ? "ok" : "error",
                        rc == 0 ? "Coupon deleted." : err.msg);
}
