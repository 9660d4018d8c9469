/*
 * httpc.c — the tests' HTTP client (see httpc.h), over libcurl's easy interface.
 *
 * Threading: each call uses its own easy handle, so tests may call it from
 * several threads at once; libcurl's global state is initialised once through
 * pthread_once. No signals (CURLOPT_NOSIGNAL), 30 s timeouts, bodies capped.
 * On a transport error the call returns -1 with status 0 and curl's message
 * in res->body, which makes a failing assertion readable.
 */
#include "support/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"

#define HTTPC_TIMEOUT_MS 30000L
#define HTTPC_BODY_MAX (256u << 20)
#define HTTPC_HEADERS_MAX (1u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* Keeps only the header block of the last response (after 100 Continue, redirects). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0)
        buf_reset(b);
    return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

static bool has_header(const char *const *headers, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        if (strncasecmp(headers[i], name, len) == 0 && headers[i][len] == ':')
            return true;
    return false;
}

static int build_headers(const char *const *headers, const char *body, struct curl_slist **out)
{
    struct curl_slist *list = NULL, *next;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        next = curl_slist_append(list, headers[i]);
        if (next == NULL)
            goto fail;
        list = next;
    }
    if (body != NULL && !has_header(headers, "Content-Type")) {
        next = curl_slist_append(list, "Content-Type: application/json");
        if (next == NULL)
            goto fail;
        list = next;
    }
    *out = list;
    return 0;
fail:
    curl_slist_free_all(list);
    return -1;
}

static void set_method(CURL *c, const char *method, const char *body)
{
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        return;
    }
    bool wants_body =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (body == NULL && wants_body) {
        /* An empty body with Content-Length: 0, as browsers and curl(1) send. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    } else if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (strcmp(method, "GET") != 0 || body != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

static void parse_json(struct http_result *res, CURL *c)
{
    char *ct = NULL;
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || ct == NULL)
        return;
    if (strncasecmp(ct, "application/json", 16) == 0 && res->body.len > 0)
        res->json = json_loadb(res->body.data, res->body.len, 0, NULL);
}

int http_request(const char *method, const char *url, const char *const *headers, const char *body,
                 struct http_result *res)
{
    struct curl_slist *hdrs = NULL;
    CURL *c = NULL;
    int rc = -1;

    memset(res, 0, sizeof *res);
    buf_init(&res->body, HTTPC_BODY_MAX);
    buf_init(&res->headers, HTTPC_HEADERS_MAX);
    pthread_once(&curl_once, curl_init_once);
    c = curl_easy_init();
    if (c == NULL || build_headers(headers, body, &hdrs) != 0) {
        buf_append_str(&res->body, "httpc: out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HTTPC_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTPC_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &res->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &res->headers);
    set_method(c, method, body);

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        buf_reset(&res->body);
        buf_printf(&res->body, "httpc: %s %s: %s", method, url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    parse_json(res, c);
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

void http_result_free(struct http_result *res)
{
    if (res == NULL)
        return;
    buf_free(&res->body);
    buf_free(&res->headers);
    json_decref(res->json);
    res->json = NULL;
    res->status = 0;
}

char *http_header(const struct http_result *res, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = buf_cstr(&res->headers);
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = end;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return str_ndup(v, (size_t)(ve - v));
        }
        p = eol ? eol + 1 : end;
    }
    return NULL;
}

const char *http_error_code(const struct http_result *res)
{
    json_t *err = json_object_get(res->json, "error");
    return json_string_value(json_object_get(err, "code"));
}

struct http_result http_api(const char *base_url, const char *header, const char *method,
                            const char *path, const char *body)
{
    char url[1024];
    struct http_result r;
    const char *headers[] = {header, NULL};
    snprintf(url, sizeof url, "%s%s", base_url, path);
    if (http_request(method, url, header != NULL ? headers : NULL, body, &r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r;
}
