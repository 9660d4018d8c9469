/*
 * p_servers.c — /admin/servers: the list, add and edit forms per panel type,
 * connection tests, activation and deletion.
 *
 * Every change goes through the functions behind /api/admin/servers
 * (servers_create, servers_update, servers_delete, servers_test): a form is
 * turned into the same JSON body the API takes, so the rules, messages and
 * audit rows are the API's. Secrets are write-only: never rendered, never
 * pre-filled; an empty secret field on the edit form keeps the stored one.
 * Handlers run on the request's worker thread; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "provisioning/servers.h"
#include "web/page.h"
#include "web/admin/routes_pages.h"

static bool known_type(const char *t)
{
    return str_eq(t, "pterodactyl") || str_eq(t, "directadmin") || str_eq(t, "virtfusion");
}

static const char *type_label(const char *t)
{
    if (str_eq(t, "pterodactyl"))
        return "Pterodactyl";
    if (str_eq(t, "directadmin"))
        return "DirectAdmin";
    return "VirtFusion";
}

static const char *form_str(struct web_req *req, const char *name)
{
    const char *v = web_form_value(req, name);
    return v ? v : "";
}

/*
 * Builds the API's JSON body from the form. Creating: every field of the
 * type; editing: a secret only when one was typed. LUMI_EINVAL for a
 * max_accounts that is not a whole number.
 */
static json_t *body_from_form(struct web_req *req, const char *type, bool creating,
                              struct lumi_err *err)
{
    json_t *b = json_object();
    if (b == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    json_object_set_new(b, "name", json_string(form_str(req, "name")));
    if (creating)
        json_object_set_new(b, "type", json_string(type));
    json_object_set_new(b, "url", json_string(form_str(req, "url")));
    if (str_eq(type, "directadmin")) {
        json_object_set_new(b, "username", json_string(form_str(req, "username")));
        const char *pw = form_str(req, "password");
        if (creating || *pw != '\0')
            json_object_set_new(b, "password", json_string(pw));
        const char *ver = form_str(req, "api_version");
        if (*ver != '\0')
            json_object_set_new(b, "api_version", json_string(ver));
    } else {
        const char *key = form_str(req, "api_key");
        if (creating || *key != '\0')
            json_object_set_new(b, "api_key", json_string(key));
    }
    const char *max = form_str(req, "max_accounts");
    int64_t n = 0;
    if (*max != '\0' && str_to_i64z(max, 0, 1000000, &n) != 0) {
        err_set(err, LUMI_EINVAL, "field 'max_accounts' must be a whole number from 0 to 1000000");
        json_decref(b);
        return NULL;
    }
    json_object_set_new(b, "max_accounts", json_integer(n));
    json_object_set_new(b, "active", json_boolean(web_form_value(req, "active") != NULL));
    return b;
}

/* The form's view data: the type's fields and the values to show (secrets never). */
static json_t *form_view(const char *type, const json_t *values, int64_t id, const char *error)
{
    const char *ver = json_string_value(json_object_get(values, "api_version"));
    json_t *v = json_pack(
        "{s:s s:s s:s s:b s:b s:b s:O s:b s:b}", "title", id > 0 ? "Edit server" : "Add server",
        "type", type, "type_label", type_label(type), "is_directadmin", str_eq(type, "directadmin"),
        "editing", id > 0, "is_v1", ver != NULL && str_eq(ver, "v1"), "server", values, "active",
        json_is_true(json_object_get(values, "active")) ||
            json_object_get(values, "active") == NULL,
        "creating", id <= 0);
    if (v == NULL)
        return NULL;
    if (id > 0)
        json_object_set_new(v, "id", json_integer(id));
    page_set_error(v, error);
    return v;
}

/* Non-secret values typed into the form, to show again after a validation error. */
static json_t *typed_values(struct web_req *req)
{
    const char *max = form_str(req, "max_accounts");
    return json_pack("{s:s s:s s:s s:s s:s s:b}", "name", form_str(req, "name"), "url",
                     form_str(req, "url"), "username", form_str(req, "username"), "api_version",
                     form_str(req, "api_version"), "max_accounts_text", max, "active",
                     web_form_value(req, "active") != NULL);
}

void p_servers_list(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t next = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "servers";
    json_t *rows = page_list_rows(req, resp, &ctx, servers_list, SERVERS_PAGE_MAX, &next);
    if (rows == NULL)
        return;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *src = json_string_value(json_object_get(row, "source"));
        json_object_set_new(row, "from_env",
                            json_boolean(src != NULL && str_eq(src, "environment")));
        json_object_set_new(
            row, "type_label",
            json_string(type_label(json_string_value(json_object_get(row, "type")))));
    }
    page_render_list(req, resp, &ctx, "servers.html", "Servers", "servers", rows, next);
}

void p_servers_new(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "servers";
    const char *type = web_query(req, "type");
    if (type == NULL || !known_type(type)) {
        page_render(req, resp, 200, &ctx, "server_type.html",
                    json_pack("{s:s}", "title", "Add server"));
        return;
    }
    json_t *values = json_pack("{s:b s:s}", "active", 1, "max_accounts_text", "0");
    page_render(req, resp, 200, &ctx, "server_form.html", form_view(type, values, 0, NULL));
    json_decref(values);
}

/*
 * Sends the form of a type server to servers_create (id 0) or servers_update
 * (id > 0): the saved server, or NULL after answering with the form again and
 * the domain's message.
 */
static json_t *save_form(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                         const char *type, int64_t id)
{
    struct lumi_err err = {0};
    json_t *server = NULL;
    json_t *body = body_from_form(req, type, id <= 0, &err);
    if (body != NULL) {
        struct audit_actor actor = auth_actor(req);
        server = id > 0 ? servers_update(req->db, &actor, id, body, &err)
                        : servers_create(req->db, &actor, body, &err);
        json_decref(body);
    }
    if (server == NULL) {
        json_t *values = typed_values(req);
        page_render(req, resp, page_form_status(&err), ctx, "server_form.html",
                    form_view(type, values, id, err.msg));
        json_decref(values);
    }
    return server;
}

void p_servers_create(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "servers";
    const char *type = form_str(req, "type");
    if (!known_type(type)) {
        page_error(req, resp, 400, &ctx,
                   "field 'type' must be pterodactyl, directadmin or virtfusion");
        return;
    }
    json_t *server = save_form(req, resp, &ctx, type, 0);
    if (server == NULL)
        return;
    char msg[400];
    snprintf(msg, sizeof msg, "Server '%s' added.",
             json_string_value(json_object_get(server, "name")));
    json_decref(server);
    page_redirect_flash(resp, "/admin/servers", "ok", msg);
}

/* The server of the {id} in the path, or NULL after answering 404 (or the domain's error). */
static json_t *server_or_error(struct web_req *req, struct web_resp *resp,
                               const struct page_ctx *ctx, int64_t *id)
{
    struct lumi_err err = {0};
    *id = page_id_or_404(req, resp, ctx, "server not found");
    if (*id <= 0)
        return NULL;
    json_t *s = servers_get(req->db, *id, &err);
    if (s == NULL)
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
    return s;
}

void p_servers_edit(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "servers";
    json_t *s = server_or_error(req, resp, &ctx, &id);
    if (s == NULL)
        return;
    char max[24];
    snprintf(max, sizeof max, "%lld",
             (long long)json_integer_value(json_object_get(s, "max_accounts")));
    json_object_set_new(s, "max_accounts_text", json_string(max));
    const char *type = json_string_value(json_object_get(s, "type"));
    json_t *view = form_view(type ? type : "pterodactyl", s, id, NULL);
    const char *src = json_string_value(json_object_get(s, "source"));
    if (view != NULL)
        json_object_set_new(view, "from_env",
                            json_boolean(src != NULL && str_eq(src, "environment")));
    page_render(req, resp, 200, &ctx, "server_form.html", view);
    json_decref(s);
}

void p_servers_update(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    int64_t id = 0;
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    ctx.nav = "servers";
    json_t *cur = server_or_error(req, resp, &ctx, &id);
    if (cur == NULL)
        return;
    char type[16];
    str_copy(type, json_string_value(json_object_get(cur, "type")), sizeof type);
    json_decref(cur);
    json_t *server = save_form(req, resp, &ctx, type, id);
    if (server == NULL)
        return;
    json_decref(server);
    page_redirect_flash(resp, "/admin/servers", "ok", "Server saved.");
}

static bool wants_json(struct web_req *req)
{
    const char *accept = web_header(req, "Accept");
    return accept != NULL && strstr(accept, "application/json") != NULL;
}

void p_servers_test(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    json_t *r = NULL;
    if (id > 0)
        r = servers_test(req->db, &actor, id, &err);
    else
        err_set(&err, LUMI_ENOTFOUND, "server not found");
    if (wants_json(req)) {
        web_reply_result(resp, 200, r, &err);
        page_security_headers(resp);
        return;
    }
    char msg[700];
    if (r == NULL) {
        page_redirect_flash(resp, "/admin/servers", "error", err.msg);
        return;
    }
    bool ok = json_is_true(json_object_get(r, "success"));
    snprintf(msg, sizeof msg, "Server %lld: %s — %s (%lld ms)", (long long)id,
             ok ? "connection OK" : "connection failed",
             json_string_value(json_object_get(r, "message")),
             (long long)json_integer_value(json_object_get(r, "latency_ms")));
    json_decref(r);
    page_redirect_flash(resp, "/admin/servers", ok ? "ok" : "error", msg);
}

void p_servers_delete(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    if (id <= 0 || servers_delete(req->db, &actor, id, &err) != 0)
        page_redirect_flash(resp, "/admin/servers", "error",
                            id <= 0 ? "server not found" : err.msg);
    else
        page_redirect_flash(resp, "/admin/servers", "ok", "Server deleted.");
}

static void set_active(struct web_req *req, struct web_resp *resp, bool active)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    if (page_require_admin(req, resp, &ctx) != 0)
        return;
    int64_t id = web_param_id(req, "id");
    struct audit_actor actor = auth_actor(req);
    json_t *body = json_pack("{s:b}", "active", active);
    json_t *s = id > 0 && body != NULL ? servers_update(req->db, &actor, id, body, &err) : NULL;
    json_decref(body);
    if (s == NULL)
        page_redirect_flash(resp, "/admin/servers", "error",
                            err.msg[0] ? err.msg : "server not found");
    else
        page_redirect_flash(resp, "/admin/servers", "ok",
                            active ? "Server activated." : "Server deactivated.");
    json_decref(s);
}

void p_servers_activate(struct web_req *req, struct web_resp *resp)
{
    set_active(req, resp, true);
}

void p_servers_deactivate(struct web_req *req, struct web_resp *resp)
{
    set_active(req, resp, false);
}
