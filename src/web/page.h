/*
 * page.h — the frame every server-rendered admin page shares: session check
 * with CSRF on form posts, rendering into the shared layout with the security
 * headers, flash messages and URL helpers.
 *
 * Pages call the same domain functions as the JSON API (servers_*, audit_*,
 * accounts_*), so a page never knows more or less than the API.
 */
#ifndef LUMI_WEB_PAGE_H
#define LUMI_WEB_PAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "web/auth.h"
#include "web/http.h"

/** Largest rendered page. */
#define PAGE_MAX_HTML (4 * 1024 * 1024)

/** What page_require_admin learned; pass it to page_render. */
struct page_ctx {
    char csrf[AUTH_CSRF_LEN]; /* the session's CSRF token, for hidden form fields */
    const char *nav; /* active navigation entry: "dashboard", "clients", "products", "services",
                        "invoices", "jobs", "webhooks", "servers", "audit", "account"; in the
                        client area "services", "invoices" */
    enum auth_area area; /* which navigation and logout the layout shows */
};

/**
 * Admits an admin or staff session (lumi_session cookie) into req->who and
 * fills ctx. Without one answers 303 to /admin/login?next=<path>; on any
 * method but GET/HEAD the form field csrf_token must equal the session's
 * token (constant time), else 403. Returns 0 to go on, < 0 when answered.
 */
int page_require_admin(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx);

/**
 * The client area's page_require_admin: admits a client's lumi_client_session
 * into req->who (auth_client_scope(req) is then the client's id), else 303 to
 * /client/login?next=<path>; form posts need the session's csrf_token field.
 */
int page_require_client(struct web_req *req, struct web_resp *resp, struct page_ctx *ctx);

/** Adds the security headers of every page (CSP, frame denial, no-store, referrer policy). */
void page_security_headers(struct web_resp *resp);

/**
 * Renders templates/<tmpl> with data (taken; NULL = {}) plus "me", "csrf",
 * "nav", "home" and "logout" (the area's paths) and "flash" (from ?ok= / ?error=, unless data has one) as an HTML
 * page with the security headers. ctx may be NULL (the login page).
 */
void page_render(struct web_req *req, struct web_resp *resp, int status, const struct page_ctx *ctx,
                 const char *tmpl, json_t *data);

/** The login forms' own CSRF token (no session exists yet): a cookie echoed in a hidden field. */
#define PAGE_LOGIN_CSRF_COOKIE "lumi_login_csrf"
#define PAGE_LOGIN_CSRF_TTL_S 1800

/**
 * Adds Set-Cookie name=value with Path=path, HttpOnly, SameSite=samesite,
 * Max-Age=max_age (0 deletes it), and Secure when LUMI_BASE_URL is https.
 */
void page_set_cookie(struct web_resp *resp, const char *name, const char *value, const char *path,
                     const char *samesite, long long max_age);

/**
 * Whether next is a safe place to go after logging in to area: a local path
 * under /admin (or /client), never another site, never the login or logout
 * pages themselves, no control characters, backslashes or "//".
 */
bool page_next_is_safe(const char *next, enum auth_area area);

/** A fresh login CSRF token (64 hex characters) into token; < 0 when no randomness. */
int page_login_csrf_new(char token[65]);

/** Sets the login CSRF cookie (token, or "" with max age 0 to delete it) for area's login path. */
void page_login_csrf_cookie(struct web_resp *resp, enum auth_area area, const char *token);

/** The login form came from this site: its login_csrf field equals the cookie (constant time). */
bool page_login_csrf_ok(struct web_req *req);

/** "15.00 USD" from minor units and a currency code; the bare integer when the currency is unknown. */
void page_money_text(int64_t minor, const char *currency, char *out, size_t sz);

/** Sets o[key] = page_money_text(minor, currency). */
void page_set_money(json_t *o, const char *key, int64_t minor, const char *currency);

/**
 * Adds "<key>_text" = page_money_text(o[key]) to o when o[key] is an integer;
 * currency NULL = o's own "currency".
 */
void page_add_money_text(json_t *o, const char *key, const char *currency);

/** Renders the error page with status and message (copied). */
void page_error(struct web_req *req, struct web_resp *resp, int status, const struct page_ctx *ctx,
                const char *message);

/** Appends s URL-encoded (RFC 3986 unreserved kept) to b. 0 or LUMI_ETOOLARGE. */
int page_url_encode(struct buf *b, const char *s);

/**
 * 303 to base (a local path) with "?ok=msg" or "?error=msg" appended
 * (kind "ok" or "error"; msg may be NULL for none).
 */
void page_redirect_flash(struct web_resp *resp, const char *base, const char *kind,
                         const char *msg);

/** Object {"kind": kind, "message": msg} for data's "flash" (new reference). */
json_t *page_flash(const char *kind, const char *msg);

#endif
