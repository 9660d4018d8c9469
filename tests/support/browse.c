/*
 * browse.c — see browse.h. Test support: failures end the test (cmocka).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "support/browse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"

struct http_result browse(const char *base_url, const char *method, const char *path,
                          const char *cookies, const char *form, const char *extra)
{
    char url[2048], cookie_hdr[3072];
    const char *headers[4];
    size_t n = 0;
    snprintf(url, sizeof url, "%s%s", base_url, path);
    if (cookies != NULL) {
        snprintf(cookie_hdr, sizeof cookie_hdr, "Cookie: %s", cookies);
        headers[n++] = cookie_hdr;
    }
    if (form != NULL)
        headers[n++] = "Content-Type: application/x-www-form-urlencoded";
    if (extra != NULL)
        headers[n++] = extra;
    headers[n] = NULL;
    struct http_result r;
    if (http_request(method, url, headers, form, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}

char *browse_set_cookie_line(const struct http_result *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = buf_cstr(&r->headers);
    while ((p = strcasestr(p, "\nSet-Cookie:")) != NULL) {
        p += 12;
        while (*p == ' ')
            p++;
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t len = strcspn(p, "\r\n");
            return str_ndup(p, len);
        }
    }
    return NULL;
}

bool browse_set_cookie_value(const struct http_result *r, const char *name, char *out, size_t sz)
{
    char *line = browse_set_cookie_line(r, name);
    if (line == NULL)
        return false;
    const char *v = line + strlen(name) + 1;
    size_t len = strcspn(v, ";");
    bool fits = len < sz;
    if (fits) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
    free(line);
    return fits;
}

bool browse_attr_after(const char *body, const char *prefix, char *out, size_t sz)
{
    const char *p = strstr(body, prefix);
    if (p == NULL)
        return false;
    p += strlen(prefix);
    size_t len = strcspn(p, "\"");
    if (len >= sz)
        return false;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

size_t browse_count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

void browse_unescape_url(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, "&amp;", 5) == 0) {
            *w++ = '&';
            r += 5;
        } else if (strncmp(r, "&#61;", 5) == 0) {
            *w++ = '=';
            r += 5;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

void browse_urlencode(const char *s, char *out, size_t sz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (w + (plain ? 1 : 3) >= sz)
            fail_msg("browse_urlencode: '%s' does not fit in %zu bytes", s, sz);
        if (plain) {
            out[w++] = (char)*p;
        } else {
            out[w++] = '%';
            out[w++] = hex[*p >> 4];
            out[w++] = hex[*p & 15];
        }
    }
    out[w] = '\0';
}

long browse_login(const char *base_url, const char *area, const char *email, const char *password,
                  char *cookie_out, size_t sz)
{
    char path[64], token[80], field[80], cookies[160], form[1200], email_enc[400], pw_enc[400];
    snprintf(path, sizeof path, "/%s/login", area);
    struct http_result r = browse(base_url, "GET", path, NULL, NULL, NULL);
    if (r.status != 200)
        fail_msg("GET %s answered %ld", path, r.status);
    if (!browse_set_cookie_value(&r, "lumi_login_csrf", token, sizeof token))
        fail_msg("GET %s set no lumi_login_csrf cookie", path);
    if (!browse_attr_after(buf_cstr(&r.body), "name=\"login_csrf\" value=\"", field, sizeof field))
        fail_msg("GET %s has no login_csrf field", path);
    assert_string_equal(field, token);
    http_result_free(&r);

    browse_urlencode(email, email_enc, sizeof email_enc);
    browse_urlencode(password, pw_enc, sizeof pw_enc);
    snprintf(cookies, sizeof cookies, "lumi_login_csrf=%s", token);
    snprintf(form, sizeof form, "login_csrf=%s&email=%s&password=%s", token, email_enc, pw_enc);
    r = browse(base_url, "POST", path, cookies, form, NULL);
    long status = r.status;
    const char *name = str_eq(area, "client") ? "lumi_client_session" : "lumi_session";
    char value[128];
    if (status == 303 && browse_set_cookie_value(&r, name, value, sizeof value))
        snprintf(cookie_out, sz, "%s=%s", name, value);
    else if (sz > 0)
        cookie_out[0] = '\0';
    http_result_free(&r);
    return status;
}

void browse_csrf(const char *base_url, const char *cookie, const char *path, char out[80])
{
    struct http_result r = browse(base_url, "GET", path, cookie, NULL, NULL);
    if (r.status != 200)
        fail_msg("GET %s answered %ld", path, r.status);
    if (!browse_attr_after(buf_cstr(&r.body), "name=\"csrf_token\" value=\"", out, 80))
        fail_msg("GET %s has no csrf_token field", path);
    assert_int_equal(strlen(out), 64);
    http_result_free(&r);
}

struct http_result browse_follow(const char *base_url, const struct http_result *r,
                                 const char *cookies)
{
    char flash[2048], jar[3000];
    if (r->status != 303 && r->status != 302)
        fail_msg("expected a redirect, got %ld", r->status);
    char *loc = http_header(r, "Location");
    if (loc == NULL)
        fail_msg("a redirect without Location");
    jar[0] = '\0';
    if (browse_set_cookie_value(r, "lumi_flash", flash, sizeof flash) && flash[0] != '\0')
        snprintf(jar, sizeof jar, "%s%slumi_flash=%s", cookies ? cookies : "",
                 cookies ? "; " : "", flash);
    else if (cookies != NULL)
        snprintf(jar, sizeof jar, "%s", cookies);
    struct http_result page = browse(base_url, "GET", loc, jar[0] ? jar : NULL, NULL, NULL);
    free(loc);
    return page;
}

bool browse_flash(const char *html, const char *kind, char *out, size_t sz)
{
    char mark[64];
    snprintf(mark, sizeof mark, "<div class=\"flash flash-%s\">", kind);
    const char *p = strstr(html, mark);
    if (p == NULL)
        return false;
    p += strlen(mark);
    size_t n = strcspn(p, "<");
    if (n >= sz)
        n = sz - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}
