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

#include "accounts/accounts.h"
#include "core/buf.h"
#include "web/auth.h"
#include "web/http.h"

/** Largest rendered page. */
#define PAGE_MAX_HTML (4 * 1024 * 1024)

/** What page_require_admin learned; pass it to page_render. */
struct page_ctx {
    char csrf[AUTH_CSRF_LEN]; /* the session's CSRF token, for hidden form fields */
    const char *nav;     /* active navigation entry: "dashboard", "clients", "products", "services",
                            "invoices", "reports", "jobs", "webhooks", "servers", "audit", "settings",
                            "account"; in the client area "services", "invoices" */
    enum auth_area area; /* which navigation and logout the layout shows */
};

/**
 * Admits an admin or staff session (lumi_session cookie) into req->who and
 * fills ctx. Without one answers 303 to /admin/login?next=<path>; on any
 * method but GET/HEAD the form field csrf_token must equal the session's
 * token (constant time), else 403. The session's role must be one the
 * page's route allows (struct web_route roles; none named = admins only),
 * else the 403 page with the navigation (issue 16). Returns 0 to go on,
 * < 0 when answered.
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
 * "nav", "home" and "logout" (the area's paths) and "flash" (the signed flash cookie of
 * web/flash.h, unless data has one; never the URL) as an HTML page with the security headers. ctx may be NULL (the login page).
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

/** Sets o[key] = money_format_text(minor, currency): "15.00 USD". */
void page_set_money(json_t *o, const char *key, int64_t minor, const char *currency);

/**
 * Adds "<key>_text" = money_format_text(o[key]) to o when o[key] is an integer;
 * currency NULL = o's own "currency".
 */
void page_add_money_text(json_t *o, const char *key, const char *currency);

/** Renders the error page with status and message (copied). */
void page_error(struct web_req *req, struct web_resp *resp, int status, const struct page_ctx *ctx,
                const char *message);

/** Appends s URL-encoded (RFC 3986 unreserved kept) to b. 0 or LUMI_ETOOLARGE. */
int page_url_encode(struct buf *b, const char *s);

/**
 * 303 to base (a local path) with msg as the next page's flash (kind "ok" or
 * "error"; msg may be NULL for none), carried by a signed cookie (web/flash.h).
 */
void page_redirect_flash(struct web_resp *resp, const char *base, const char *kind,
                         const char *msg);

/** Object {"kind": kind, "message": msg} for data's "flash" (new reference). */
json_t *page_flash(const char *kind, const char *msg);

/* ---- shared pieces of the page handlers ---------------------------------- */

/**
 * The {id} of the path: > 0, or 0 after answering 404 with message (an
 * unknown id and a malformed one look the same).
 */
int64_t page_id_or_404(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       const char *message);

/** A keyset list of the domain: clients_list, products_list, servers_list. */
typedef json_t *(*page_list_fn)(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                                struct lumi_err *err);

/**
 * One page of an admin list: ?cursor= (400 when not a positive whole number)
 * and list(db, cursor, limit, next). The rows (caller owns them), or NULL
 * after answering 400 or the domain's error page.
 */
json_t *page_list_rows(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       page_list_fn list, int limit, int64_t *next);

/**
 * Renders tmpl with {title, <key>: rows (taken), next_cursor (when next > 0,
 * for the "Next page" link)}.
 */
void page_render_list(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                      const char *tmpl, const char *title, const char *key, json_t *rows,
                      int64_t next);

/**
 * ?cursor= of a keyset list into *cursor: 0 when absent or empty. A value
 * that is not a positive whole number answers 400 with message and returns -1.
 */
int page_query_cursor(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                      const char *message, int64_t *cursor);

/**
 * The query parameter name when it is one of the NULL-terminated choices
 * (*out points into choices), *out NULL when absent or empty. Any other value
 * answers 400 with message and returns -1.
 */
int page_query_choice(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                      const char *name, const char *const *choices, const char *message,
                      const char **out);

/**
 * Tabs of a status filter, [{label, href, active}]: "All" (base) first, then
 * base?status=<s> for each of the NULL-terminated statuses. current (NULL =
 * All) is one of them.
 */
json_t *page_status_tabs(const char *base, const char *const *statuses, const char *current);

/** One filter of a list in its paging links; left out when value is NULL. */
struct page_filter {
    const char *name, *value;
};

/**
 * The paging links of a filtered keyset list: data's "next_href" (when
 * next > 0: base?<filters>&cursor=next) and "first_href" (when cursor > 0,
 * the page is not the first: base?<filters>). Values are URL-encoded.
 */
void page_set_paging(json_t *data, const char *base, const struct page_filter *filters,
                     size_t n_filters, int64_t cursor, int64_t next);

/** Sets data's "flash" to the error message, when both are not NULL. */
void page_set_error(json_t *data, const char *error);

/**
 * The status of a form shown again after the domain refused it: 400 for
 * LUMI_EINVAL (the form's input), else err_http_status.
 */
int page_form_status(const struct lumi_err *err);

/**
 * Adds the view fields of a job row (as jobs_list and services_get answer
 * it): "badge" (the status's badge class) and "reason" (from its args).
 */
void page_decorate_job(json_t *job);

/* ---- the login pages (admin and client area) ------------------------------ */

/** The login throttling and session lifetime of area, from the configuration. */
void page_login_policy(struct accounts_login_policy *policy, enum auth_area area);

/**
 * Renders tmpl (a login or code form) with title, a fresh login CSRF token in
 * field and cookie, the typed email (may be NULL), next when it is safe for
 * area, and error (may be NULL) as the flash.
 */
void page_login_render(struct web_req *req, struct web_resp *resp, enum auth_area area, int status,
                       const char *tmpl, const char *title, const char *email, const char *next,
                       const char *error);

/**
 * POST of a login form (fields email, password, next, login_csrf): checks
 * the form's CSRF token and the fields, then accounts_login with area's
 * policy into *s. Returns 0 (session open: call page_login_finish) or
 * ACCOUNTS_LOGIN_NEED_CODE (challenge in s->challenge), else < 0 after
 * rendering tmpl again with the reason (or the error page). forbidden is the
 * message for an account that may not use area.
 */
int page_login_password(struct web_req *req, struct web_resp *resp, enum auth_area area,
                        const char *tmpl, const char *forbidden, struct accounts_session *s);

/**
 * The session s is open: 303 to next (when safe for area, else area's home),
 * the session cookie set, the login CSRF cookie cleared, s->token wiped.
 */
void page_login_finish(struct web_resp *resp, enum auth_area area, struct accounts_session *s,
                       const char *next);

/**
 * POST .../logout of area: ends the session of the signed-in user
 * (accounts_logout), clears its cookie and answers 303 to the login form.
 */
void page_logout(struct web_req *req, struct web_resp *resp, enum auth_area area);

#endif
