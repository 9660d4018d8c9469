/*
 * browse.h — a browser's view of Lumi's pages for tests: requests with
 * cookies and form bodies, Set-Cookie reading, hidden-field extraction, and
 * the login of an admin (/admin/login) or a client (/client/login) through
 * the real forms with their CSRF tokens.
 */
#ifndef LUMI_TEST_BROWSE_H
#define LUMI_TEST_BROWSE_H

#include <stdbool.h>
#include <stddef.h>

#include "support/httpc.h"

/**
 * method base_url+path like a browser: cookies as one "Cookie:" value (may be
 * NULL), a form body sent as application/x-www-form-urlencoded (may be NULL),
 * one more header line (may be NULL). Fails the test when no answer arrives.
 */
struct http_result browse(const char *base_url, const char *method, const char *path,
                          const char *cookies, const char *form, const char *extra);

/** The whole Set-Cookie line for cookie `name` (caller frees), or NULL. */
char *browse_set_cookie_line(const struct http_result *r, const char *name);

/** The value of cookie `name` set by r, copied into out; false when not set or too long. */
bool browse_set_cookie_value(const struct http_result *r, const char *name, char *out, size_t sz);

/** The text after `prefix` in body up to the next '"', copied into out; false when absent. */
bool browse_attr_after(const char *body, const char *prefix, char *out, size_t sz);

/** How often needle occurs in hay. */
size_t browse_count(const char *hay, const char *needle);

/** Undoes the template's attribute escaping of a URL (&amp; and &#61;), in place. */
void browse_unescape_url(char *s);

/**
 * Logs in through the form of `area` ("admin" or "client"): GET
 * /<area>/login for its login CSRF cookie and field, then POST with email
 * and password (both URL-encoded here). Returns the POST's status (303 on
 * success) and, on success, the session cookie ("lumi_session=…" or
 * "lumi_client_session=…", ready for a Cookie header) in cookie_out.
 */
long browse_login(const char *base_url, const char *area, const char *email, const char *password,
                  char *cookie_out, size_t sz);

/**
 * The session's CSRF token as the page at path puts it into its forms
 * (hidden field csrf_token); fails the test when the page has none.
 */
void browse_csrf(const char *base_url, const char *cookie, const char *path, char out[80]);

/** Appends s URL-encoded to out (NUL-terminated; fails the test when it does not fit). */
void browse_urlencode(const char *s, char *out, size_t sz);

/**
 * Follows the redirect r like a browser: GET its Location with cookies (may
 * be NULL) plus the flash cookie r set (lumi_flash), so the page shows the
 * server's message. Fails the test when r is not a redirect.
 */
struct http_result browse_follow(const char *base_url, const struct http_result *r,
                                 const char *cookies);

/** The text of the page's flash banner of kind ("ok", "error", …) into out; false when none. */
bool browse_flash(const char *html, const char *kind, char *out, size_t sz);

#endif
