/*
 * page.c — the page frame: session admission with form CSRF, rendering into
 * the layout with the security headers, flash messages, static files.
 *
 * Runs on the request's worker thread; the only shared state is the parsed
 * template set, which tmpl.c keeps read-only after start-up.
 */
#include "web/page.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/money.h"
#include "core/str.h"
#include "web/admin/routes_pages.h"
#include "web/flash.h"
#include "core/tmpl.h"
#include "web/internal.h"

/* No inline script or style anywhere: app.js and style.css are the only code. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
                          "base-uri 'none'";

/*
 * The client area's pay buttons post to /api/stripe/checkout (or paypal), answered by a 303 to
 * the gateway's checkout page; browsers apply form-action to that redirect
 * too. So client pages also allow the gateways' checkout sites, and the
 * configured API bases when they are not the real ones (a sandbox, the test
 * fakes) — where those serve their checkout pages.
 */
static char client_csp[1024];
static pthread_once_t client_csp_once = PTHREAD_ONCE_INIT;

/* Appends " scheme://host[:port]" of url to b unless url is NULL or empty. */
static void append_origin(struct buf *b, const char *url)
{
    if (url == NULL || *url == '\0')
        return;
    const char *host = strstr(url, "://");
    if (host == NULL)
        return;
    size_t len = (size_t)(host + 3 - url) + strcspn(host + 3, "/?#");
    for (size_t i = 0; i < len; i++)
        if (url[i] == ' ' || url[i] == ';' || url[i] == ',' || url[i] == '\'')
            return; /* config checked it is a URL; never let it break the header */
    buf_append_char(b, ' ');
    buf_append(b, url, len);
}

static void build_client_csp(void)
{
    struct buf b;
    buf_init(&b, sizeof client_csp - 1);
    int rc = buf_append_str(&b, "default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self' https://checkout.stripe.com "
                                "https://www.paypal.com https://www.sandbox.paypal.com");
    const char *stripe = config_str("STRIPE_API_BASE"), *paypal = config_str("PAYPAL_API_BASE");
    if (rc == 0 && stripe != NULL && !str_starts_with(stripe, "https://api.stripe.com"))
        append_origin(&b, stripe);
    if (rc == 0 && paypal != NULL && !str_starts_with(paypal, "https://api-m.paypal.com") &&
        !str_starts_with(paypal, "https://api-m.sandbox.paypal.com"))
        append_origin(&b, paypal);
    str_copy(client_csp, b.len > 0 && b.len < sizeof client_csp ? buf_cstr(&b) : CSP,
             sizeof client_csp);
    buf_free(&b);
}

static void security_headers(struct web_resp *resp, bool client)
{
    if (client)
        pthread_once(&client_csp_once, build_client_csp);
    web_add_header(resp, "Content-Security-Policy", client ? client_csp : CSP);
    web_add_header(resp, "X-Frame-Options", "DENY");
    web_add_header(resp, "Referrer-Policy", "same-origin");
    web_add_header(resp, "Cache-Control", "no-store");
}

void page_security_headers(struct web_resp *resp)
{
    security_headers(resp, false);
}

int page_url_encode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/') {
            rc = buf_append_char(b, (char)*p);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = buf_append(b, enc, 3);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

json_t *page_flash(const char *kind, const char *msg)
{
    return json_pack("{s:s s:s}", "kind", kind, "message", msg ? msg : "");
}

/* The message travels in a signed cookie, never in the URL (issue 17, finding 9). */
void page_redirect_flash(struct web_resp *resp, const char *base, const char *kind, const char *msg)
{
    flash_set(resp, kind, msg);
    web_redirect(resp, base);
}

static bool is_safe_method(const char *m)
{
    return str_eq(m, "GET") || str_eq(m, "HEAD");
}

static void redirect_to_login(struct web_req *req, struct web_resp *resp, enum auth_area area)
{
    struct buf b;
    buf_init(&b, 4096);
    const char *home = area == AUTH_AREA_CLIENT ? "/client" : "/admin";
    int rc = buf_printf(&b, "%s/login", home);
    /* Only come back to a page that can be shown: a GET, by its path. */
    if (rc == 0 && is_safe_method(req->method) && !str_eq(req->path, home)) {
        rc = buf_append_str(&b, "?next=");
        if (rc == 0)
            rc = page_url_encode(&b, req->path);
    }
    web_redirect(resp, rc == 0 ? buf_cstr(&b) : "/admin/login");
    page_security_headers(resp);
    buf_free(&b);
}

static int require_area(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx,
                        enum auth_area area)
{
    struct lumi_err err = {0};
    memset(ctx, 0, sizeof *ctx);
    ctx->area = area;
    int rc = auth_session_principal(req, area, ctx->csrf, &err);
    if (rc == LUMI_EAUTH || rc == LUMI_EFORBIDDEN) {
        redirect_to_login(req, resp, area);
        return -1;
    }
    if (rc != 0) {
        page_error(req, resp, err_http_status(rc), NULL, err.msg);
        return -1;
    }
    if (!is_safe_method(req->method)) {
        const char *sent = web_form_value(req, "csrf_token");
        size_t n = strlen(ctx->csrf);
        bool ok = sent != NULL && n > 0 && strlen(sent) == n && crypto_ct_equal(sent, ctx->csrf, n);
        if (!ok) {
            page_error(req, resp, 403, ctx,
                       "This form has expired or did not come from Lumi (missing or wrong "
                       "CSRF token). Go back, reload the page and try again.");
            return -1;
        }
    }
    return 0;
}

/* ---- staff roles (issue 16) ---------------------------------------------- */

/* Whether the signed-in staff member may open the admin page GET href. */
static bool role_may_open(const struct web_req *req, const char *href)
{
    for (const struct web_route *r = web_admin_routes; r->method != NULL; r++)
        if (str_eq(r->method, "GET") && str_eq(r->pattern, href))
            return auth_role_may(req->who.role, r->roles);
    return str_eq(req->who.role, "admin");
}

int page_require_admin(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    if (require_area(req, resp, ctx, AUTH_AREA_ADMIN) != 0)
        return -1;
    const struct web_exchange *x = exchange_of_req(req);
    const struct web_route *route = x != NULL ? x->route : NULL;
    if (route == NULL || auth_role_may(req->who.role, route->roles))
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "Your role (%s) may not open this page or do this; ask an admin.",
             req->who.role);
    page_error(req, resp, 403, ctx, msg);
    return -1;
}

int page_require_client(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    return require_area(req, resp, ctx, AUTH_AREA_CLIENT);
}

struct nav_item {
    const char *key, *href, *label;
};

static const struct nav_item ADMIN_NAV[] = {
    {"dashboard", "/admin", "Dashboard"},
    {"clients", "/admin/clients", "Clients"},
    {"products", "/admin/products", "Products"},
    {"services", "/admin/services", "Services"},
    {"cancellations", "/admin/cancellations", "Cancellations"},
    {"invoices", "/admin/invoices", "Invoices"},
    {"tax", "/admin/tax-rules", "Tax"},
    {"coupons", "/admin/coupons", "Coupons"}, /* issue 14 */
    {"jobs", "/admin/jobs", "Jobs"},
    {"webhooks", "/admin/webhook-events", "Webhooks"},
    {"events", "/admin/webhooks", "Outgoing events"}, /* issue 16 */
    {"emails", "/admin/emails", "Emails"},
    {"reports", "/admin/reports", "Reports"}, /* issue 14 */
    {"servers", "/admin/servers", "Servers"},
    {"audit", "/admin/audit-logs", "Audit log"},
    {"settings", "/admin/settings", "Settings"},
    {"account", "/admin/account", "Account"},
    {"staff", "/admin/staff", "Staff"},    /* staff roles (issue 16) */
    {"tokens", "/admin/tokens", "Tokens"}, /* API tokens (issue 17) */
    {NULL, NULL, NULL},
};

static const struct nav_item CLIENT_NAV[] = {
    {"services", "/client/services", "Services"},
    {"invoices", "/client/invoices", "Invoices"},
    {"credit", "/client/credit", "Credit"}, /* issue 14 */
    {"store", "/store", "Store"}, /* the store (issue 13) */
    {"account", "/client/account", "Account"}, /* client accounts (issue 13) */
    {NULL, NULL, NULL},
};

static json_t *nav_items(const struct web_req *req, const struct page_ctx *ctx)
{
    const struct nav_item *items = ctx->area == AUTH_AREA_CLIENT ? CLIENT_NAV : ADMIN_NAV;
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && items[i].key != NULL; i++) {
        if (ctx->area == AUTH_AREA_ADMIN && !role_may_open(req, items[i].href))
            continue; /* only what the role can open (issue 16) */
        json_array_append_new(a, json_pack("{s:s s:s s:b}", "href", items[i].href, "label",
                                           items[i].label, "active",
                                           ctx->nav != NULL && str_eq(ctx->nav, items[i].key)));
    }
    return a;
}

void page_render(struct web_req *req, struct web_resp *resp, int status, const struct page_ctx *ctx,
                 const char *tmpl, json_t *data)
{
    struct lumi_err err = {0};
    struct buf out;
    buf_init(&out, PAGE_MAX_HTML);
    if (data == NULL)
        data = json_object();
    if (data == NULL)
        goto fail;
    if (ctx != NULL && req->who.kind == PRINCIPAL_USER) {
        json_object_set_new(data, "me",
                            json_pack("{s:s s:s}", "email", req->who.email, "role", req->who.role));
        json_object_set_new(data, "csrf", json_string(ctx->csrf));
        json_object_set_new(data, "nav", nav_items(req, ctx));
    }
    bool client =
        ctx != NULL ? ctx->area == AUTH_AREA_CLIENT : str_starts_with(req->path, "/client");
    json_object_set_new(data, "home", json_string(client ? "/client" : "/admin"));
    json_object_set_new(data, "logout", json_string(client ? "/client/logout" : "/admin/logout"));
    if (json_object_get(data, "flash") == NULL) {
        json_t *flash = flash_take(req, resp); /* the server's own, never ?ok= / ?error= */
        if (flash != NULL)
            json_object_set_new(data, "flash", flash);
    }
    if (tmpl_render(tmpl, data, &out, &err) != 0) {
        log_error("page.render_failed", "template=%s reason=%s", tmpl, err.msg);
        goto fail;
    }
    web_reply_text(resp, status, "text/html; charset=utf-8", buf_cstr(&out), out.len);
    security_headers(resp, client);
    json_decref(data);
    buf_free(&out);
    return;
fail:
    json_decref(data);
    buf_free(&out);
    static const char msg[] = "<!doctype html><title>Error</title><p>The page could not be "
                              "rendered.</p>";
    web_reply_text(resp, 500, "text/html; charset=utf-8", msg, sizeof msg - 1);
    page_security_headers(resp);
}

void page_error(struct web_req *req, struct web_resp *resp, int status, const struct page_ctx *ctx,
                const char *message)
{
    /* As web_reply_err: no internal text on a 500, none of a database's or an
     * upstream's own text for a visitor who is not signed in (issue 17). */
    char generic[160], quoted[256];
    if (status == 500 || (status > 500 && req->who.kind == PRINCIPAL_NONE)) {
        log_warn("page.error_detail", "status=%d message=%s", status,
                 log_quote(message ? message : "", quoted, sizeof quoted));
        snprintf(generic, sizeof generic,
                 "Something went wrong; the server log has details under request id %s.",
                 req->request_id);
        message = generic;
    }
    page_render(req, resp, status, ctx, "error.html",
                json_pack("{s:s s:i s:s}", "title", "Error", "status", status, "message",
                          message ? message : ""));
}

void p_static(struct web_req *req, struct web_resp *resp)
{
    char name[256];
    const char *n = web_param(req, "name");
    int w = snprintf(name, sizeof name, "static/%s", n ? n : "");
    const struct tmpl_file *f = (w > 0 && (size_t)w < sizeof name) ? tmpl_file_find(name) : NULL;
    if (f == NULL) {
        web_reply_text(resp, 404, "text/plain; charset=utf-8", "not found\n", 10);
        return;
    }
    web_reply_text(resp, 200, f->content_type, f->data, f->len);
    web_add_header(resp, "Cache-Control", "public, max-age=3600");
}

/* ---- login helpers -------------------------------------------------------- */

void page_set_cookie(struct web_resp *resp, const char *name, const char *value, const char *path,
                     const char *samesite, long long max_age)
{
    char cookie[256];
    bool secure = web_resp_is_https(resp);
    int n = snprintf(cookie, sizeof cookie, "%s=%s; Path=%s; HttpOnly; SameSite=%s; Max-Age=%lld%s",
                     name, value, path, samesite, max_age, secure ? "; Secure" : "");
    if (n > 0 && (size_t)n < sizeof cookie)
        web_add_header(resp, "Set-Cookie", cookie);
    else
        log_error("page.cookie_too_long", "name=%s", name);
}

bool page_next_is_safe(const char *next, enum auth_area area)
{
    const char *root = area == AUTH_AREA_CLIENT ? "/client" : "/admin";
    /* The store sends a visitor to log in and back to the product (issue 13). */
    if (area == AUTH_AREA_CLIENT && str_starts_with(next != NULL ? next : "", "/store"))
        root = "/store";
    size_t n = strlen(root);
    if (next == NULL || strncmp(next, root, n) != 0)
        return false;
    if (next[n] != '\0' && next[n] != '/' && next[n] != '?')
        return false;
    if (str_starts_with(next + n, "/login") || str_starts_with(next + n, "/logout"))
        return false;
    for (const char *p = next; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\' || (unsigned char)*p == 0x7f)
            return false;
    return strstr(next, "//") == NULL;
}

int page_login_csrf_new(char token[65])
{
    return crypto_random_token(32, token, 65);
}

void page_login_csrf_cookie(struct web_resp *resp, enum auth_area area, const char *token)
{
    page_set_cookie(resp, PAGE_LOGIN_CSRF_COOKIE, token,
                    area == AUTH_AREA_CLIENT ? "/client/login" : "/admin/login", "Strict",
                    token[0] != '\0' ? PAGE_LOGIN_CSRF_TTL_S : 0);
}

bool page_login_csrf_ok(struct web_req *req)
{
    const char *sent = web_form_value(req, "login_csrf");
    const char *cookie = web_cookie(req, PAGE_LOGIN_CSRF_COOKIE);
    size_t n = cookie ? strlen(cookie) : 0;
    return sent != NULL && n >= 32 && strlen(sent) == n && crypto_ct_equal(sent, cookie, n);
}

/* ---- money ---------------------------------------------------------------- */

void page_set_money(json_t *o, const char *key, int64_t minor, const char *currency)
{
    char text[96];
    money_format_text(minor, currency, text, sizeof text);
    json_object_set_new(o, key, json_string(text));
}

void page_add_money_text(json_t *o, const char *key, const char *currency)
{
    char name[64];
    json_t *v = json_object_get(o, key);
    if (currency == NULL)
        currency = json_string_value(json_object_get(o, "currency"));
    if (!json_is_integer(v) || snprintf(name, sizeof name, "%s_text", key) >= (int)sizeof name)
        return;
    page_set_money(o, name, json_integer_value(v), currency);
}

/* ---- shared pieces of the page handlers ---------------------------------- */

int64_t page_id_or_404(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       const char *message)
{
    int64_t id = web_param_id(req, "id");
    if (id > 0)
        return id;
    page_error(req, resp, 404, ctx, message);
    return 0;
}

int page_query_cursor(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                      const char *message, int64_t *cursor)
{
    const char *c = web_query(req, "cursor");
    *cursor = 0;
    if (c == NULL || *c == '\0' || str_to_i64z(c, 1, INT64_MAX, cursor) == 0)
        return 0;
    *cursor = 0;
    page_error(req, resp, 400, ctx, message);
    return -1;
}

json_t *page_list_rows(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       page_list_fn list, int limit, int64_t *next)
{
    struct lumi_err err = {0};
    int64_t cursor = 0;
    *next = 0;
    if (page_query_cursor(req, resp, ctx, "cursor must be a positive whole number", &cursor) != 0)
        return NULL;
    json_t *rows = list(req->db, cursor, limit, next, &err);
    if (rows == NULL)
        page_error(req, resp, err_http_status(err.code), ctx, err.msg);
    return rows;
}

void page_render_list(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                      const char *tmpl, const char *title, const char *key, json_t *rows,
                      int64_t next)
{
    json_t *data = json_pack("{s:s s:o}", "title", title, key, rows);
    if (data != NULL && next > 0)
        json_object_set_new(data, "next_cursor", json_integer(next));
    page_render(req, resp, 200, ctx, tmpl, data);
}

int page_query_choice(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                      const char *name, const char *const *choices, const char *message,
                      const char **out)
{
    const char *v = web_query(req, name);
    *out = NULL;
    if (v == NULL || *v == '\0')
        return 0;
    for (size_t i = 0; choices[i] != NULL; i++)
        if (str_eq(v, choices[i])) {
            *out = choices[i];
            return 0;
        }
    page_error(req, resp, 400, ctx, message);
    return -1;
}

json_t *page_status_tabs(const char *base, const char *const *statuses, const char *current)
{
    char href[256];
    json_t *tabs = json_array();
    json_array_append_new(
        tabs, json_pack("{s:s s:s s:b}", "label", "All", "href", base, "active", current == NULL));
    for (size_t i = 0; statuses[i] != NULL; i++) {
        snprintf(href, sizeof href, "%s?status=%s", base, statuses[i]);
        json_array_append_new(tabs,
                              json_pack("{s:s s:s s:b}", "label", statuses[i], "href", href,
                                        "active", current != NULL && str_eq(current, statuses[i])));
    }
    return tabs;
}

/* base?<the filters that are set>, then "cursor=N" when cursor > 0; 0 or LUMI_ETOOLARGE. */
static int paging_href(struct buf *b, const char *base, const struct page_filter *filters, size_t n,
                       int64_t cursor)
{
    char sep = '?';
    buf_reset(b);
    int rc = buf_append_str(b, base);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (filters[i].value == NULL)
            continue;
        rc = buf_printf(b, "%c%s=", sep, filters[i].name);
        if (rc == 0)
            rc = page_url_encode(b, filters[i].value);
        sep = '&';
    }
    if (rc == 0 && cursor > 0)
        rc = buf_printf(b, "%ccursor=%" PRId64, sep, cursor);
    return rc;
}

void page_set_paging(json_t *data, const char *base, const struct page_filter *filters,
                     size_t n_filters, int64_t cursor, int64_t next)
{
    struct buf b;
    if (data == NULL)
        return;
    buf_init(&b, 4096);
    if (next > 0 && paging_href(&b, base, filters, n_filters, next) == 0)
        json_object_set_new(data, "next_href", json_string(buf_cstr(&b)));
    if (cursor > 0 && paging_href(&b, base, filters, n_filters, 0) == 0)
        json_object_set_new(data, "first_href", json_string(buf_cstr(&b)));
    buf_free(&b);
}

void page_set_error(json_t *data, const char *error)
{
    if (data != NULL && error != NULL)
        json_object_set_new(data, "flash", page_flash("error", error));
}

int page_form_status(const struct lumi_err *err)
{
    return err->code == LUMI_EINVAL ? 400 : err_http_status(err->code);
}

void page_decorate_job(json_t *job)
{
    const char *status = json_string_value(json_object_get(job, "status"));
    const char *badge = "badge-warn";
    if (status != NULL && str_eq(status, "done"))
        badge = "badge-ok";
    else if (status != NULL && str_eq(status, "failed"))
        badge = "badge-bad";
    else if (status != NULL && str_eq(status, "cancelled"))
        badge = "";
    json_object_set_new(job, "badge", json_string(badge));
    const char *reason = json_string_value(json_object_get(json_object_get(job, "args"), "reason"));
    if (reason != NULL)
        json_object_set_new(job, "reason", json_string(reason));
}

/* ---- the login pages ------------------------------------------------------ */

void page_login_policy(struct accounts_login_policy *policy, enum auth_area area)
{
    *policy = (struct accounts_login_policy){
        .max_failures = config_int("LUMI_LOGIN_MAX_FAILURES"),
        .window_s = config_int("LUMI_LOGIN_WINDOW"),
        .account_max_per_hour = config_int("LUMI_LOGIN_ACCOUNT_MAX"),
        .session_ttl_s = AUTH_SESSION_TTL_S,
        .client_area = area == AUTH_AREA_CLIENT,
    };
}

void page_login_render(struct web_req *req, struct web_resp *resp, enum auth_area area, int status,
                       const char *tmpl, const char *title, const char *email, const char *next,
                       const char *error)
{
    char token[65];
    if (page_login_csrf_new(token) != 0) {
        page_error(req, resp, 500, NULL, "could not make a random token");
        return;
    }
    /* login_action: where the shared login form (_login_form.html) posts. */
    json_t *data =
        json_pack("{s:s s:s s:s s:s s:s}", "title", title, "login_csrf", token, "email",
                  email ? email : "", "next", page_next_is_safe(next, area) ? next : "",
                  "login_action", area == AUTH_AREA_CLIENT ? "/client/login" : "/admin/login");
    page_set_error(data, error);
    page_render(req, resp, status, NULL, tmpl, data);
    page_login_csrf_cookie(resp, area, token);
}

int page_login_password(struct web_req *req, struct web_resp *resp, enum auth_area area,
                        const char *tmpl, const char *forbidden, struct accounts_session *s)
{
    struct lumi_err err = {0};
    const char *email = web_form_value(req, "email");
    const char *password = web_form_value(req, "password");
    const char *next = web_form_value(req, "next");
    const char *why = NULL;
    int status = 0;
    memset(s, 0, sizeof *s);
    if (!page_login_csrf_ok(req)) {
        status = 403;
        why = "The login form expired or did not come from this site; please try again.";
    } else if (!str_present(email) || !str_present(password) || strlen(email) > 254 ||
               strlen(password) > 1024) {
        status = 400;
        why = "Enter your e-mail address and password.";
    }
    if (why != NULL) {
        page_login_render(req, resp, area, status, tmpl, "Log in", email, next, why);
        return -1;
    }
    struct accounts_login_policy policy;
    page_login_policy(&policy, area);
    int rc =
        accounts_login(req->db, email, password, web_client_ip(req), req->user_agent, &policy, s, &err);
    if (rc == 0 || rc == ACCOUNTS_LOGIN_NEED_CODE)
        return rc;
    if (rc == LUMI_ETHROTTLED) {
        char retry[24];
        page_login_render(req, resp, area, 429, tmpl, "Log in", email, next,
                          "Too many failed attempts; wait a few minutes and try again.");
        snprintf(retry, sizeof retry, "%lld", (long long)policy.window_s);
        web_add_header(resp, "Retry-After", retry);
    } else if (rc == LUMI_EAUTH || rc == LUMI_EFORBIDDEN || rc > 0) {
        page_login_render(req, resp, area, rc == LUMI_EAUTH ? 401 : 403, tmpl, "Log in", email,
                          next, rc == LUMI_EAUTH ? "Wrong e-mail address or password." : forbidden);
    } else {
        page_error(req, resp, err_http_status(rc), NULL, err.msg);
    }
    sodium_memzero(s, sizeof *s);
    return -1;
}

void page_login_finish(struct web_resp *resp, enum auth_area area, struct accounts_session *s,
                       const char *next)
{
    bool client = area == AUTH_AREA_CLIENT;
    web_redirect(resp, page_next_is_safe(next, area) ? next : client ? "/client" : "/admin");
    page_security_headers(resp);
    page_set_cookie(resp, client ? AUTH_CLIENT_COOKIE : AUTH_SESSION_COOKIE, s->token, "/", "Lax",
                    AUTH_SESSION_TTL_S);
    page_login_csrf_cookie(resp, area, "");
    crypto_random(s->token, sizeof s->token); /* the cookie value lives on only in the header */
}

void page_logout(struct web_req *req, struct web_resp *resp, enum auth_area area)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    bool client = area == AUTH_AREA_CLIENT;
    if (require_area(req, resp, &ctx, area) != 0)
        return;
    struct audit_actor actor = auth_actor(req);
    if (accounts_logout(req->db, &actor, req->who.session_id, &err) != 0) {
        page_error(req, resp, err_http_status(err.code), &ctx, err.msg);
        return;
    }
    web_redirect(resp, client ? "/client/login" : "/admin/login");
    page_security_headers(resp);
    page_set_cookie(resp, client ? AUTH_CLIENT_COOKIE : AUTH_SESSION_COOKIE, "", "/", "Lax", 0);
}
