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

#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/money.h"
#include "core/str.h"
#include "web/routes_pages.h"
#include "web/tmpl.h"

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

void page_redirect_flash(struct web_resp *resp, const char *base, const char *kind, const char *msg)
{
    struct buf b;
    buf_init(&b, 8192);
    int rc = buf_append_str(&b, base);
    if (rc == 0 && msg != NULL && *msg != '\0') {
        rc = buf_printf(&b, "%c%s=", strchr(base, '?') ? '&' : '?', kind);
        if (rc == 0)
            rc = page_url_encode(&b, msg);
    }
    web_redirect(resp, rc == 0 ? buf_cstr(&b) : base);
    buf_free(&b);
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

int page_require_admin(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx)
{
    return require_area(req, resp, ctx, AUTH_AREA_ADMIN);
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
    {"invoices", "/admin/invoices", "Invoices"},
    {"jobs", "/admin/jobs", "Jobs"},
    {"webhooks", "/admin/webhook-events", "Webhooks"},
    {"servers", "/admin/servers", "Servers"},
    {"audit", "/admin/audit-logs", "Audit log"},
    {"account", "/admin/account", "Account"},
    {NULL, NULL, NULL},
};

static const struct nav_item CLIENT_NAV[] = {
    {"services", "/client/services", "Services"},
    {"invoices", "/client/invoices", "Invoices"},
    {NULL, NULL, NULL},
};

static json_t *nav_items(const struct page_ctx *ctx)
{
    const struct nav_item *items = ctx->area == AUTH_AREA_CLIENT ? CLIENT_NAV : ADMIN_NAV;
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && items[i].key != NULL; i++)
        json_array_append_new(a, json_pack("{s:s s:s s:b}", "href", items[i].href, "label",
                                           items[i].label, "active",
                                           ctx->nav != NULL && str_eq(ctx->nav, items[i].key)));
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
        json_object_set_new(data, "nav", nav_items(ctx));
    }
    bool client = ctx != NULL ? ctx->area == AUTH_AREA_CLIENT : str_starts_with(req->path, "/client");
    json_object_set_new(data, "home", json_string(client ? "/client" : "/admin"));
    json_object_set_new(data, "logout", json_string(client ? "/client/logout" : "/admin/logout"));
    if (json_object_get(data, "flash") == NULL) {
        const char *ok = web_query(req, "ok");
        const char *bad = web_query(req, "error");
        if (bad != NULL && *bad != '\0')
            json_object_set_new(data, "flash", page_flash("error", bad));
        else if (ok != NULL && *ok != '\0')
            json_object_set_new(data, "flash", page_flash("ok", ok));
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
    bool secure = str_starts_with(config_str("LUMI_BASE_URL"), "https://");
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

void page_money_text(int64_t minor, const char *currency, char *out, size_t sz)
{
    char num[64], cur[4] = "";
    if (currency == NULL || money_format(minor, currency, num, sizeof num) != 0) {
        snprintf(out, sz, "%" PRId64, minor);
        return;
    }
    for (size_t i = 0; i < 3 && currency[i] != '\0'; i++) {
        char c = currency[i];
        cur[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        cur[i + 1] = '\0';
    }
    snprintf(out, sz, "%s %s", num, cur);
}

void page_set_money(json_t *o, const char *key, int64_t minor, const char *currency)
{
    char text[96];
    page_money_text(minor, currency, text, sizeof text);
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
