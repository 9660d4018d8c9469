/*
 * pterodactyl.c — the Pterodactyl Application API client (see pterodactyl.h
 * and docs: shared/contracts/pterodactyl.md, panels-detail.md §1).
 *
 * Owns: the request plumbing for one panel (base URL, Bearer key, JSON
 * headers, the per-server rate budget), the mapping of Pterodactyl's answers
 * and error bodies onto struct hc_error, pagination, the panel-user lookup
 * (external id first, then an exact e-mail match, else a new user) and the
 * create body (egg defaults under the product config).
 *
 * Threading: stateless; every function may run on any worker thread at once
 * (the rate budget lives in http_client). Nothing here logs: errors travel
 * up as values and never contain the API key.
 *
 * Caveats: the panel's `filter[email]` is a partial (LIKE) match, so results
 * are compared in full before a user is adopted; a server found by Lumi's
 * external id is only adopted when its owner is the client's panel user; and
 * terminate refuses to delete a server whose external id is not Lumi's key.
 */
#include "panels/pterodactyl.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/str.h"

#define API_PREFIX "/api/application"
#define URL_MAX 2048
#define PATH_MAX_LEN 4096
#define REQUEST_MAX (1u << 20)
#define MAX_PAGES 1000
#define HOST_SHOWN 128
#define NAME_MAX_LEN 191
#define STARTUP_MAX_LEN 4096

/* Defaults for a product config that leaves a limit out (DESIGN.md). */
#define DEF_MEMORY 1024
#define DEF_SWAP 0
#define DEF_DISK 5120
#define DEF_IO 500
#define DEF_CPU 100

/* Public entry points take a NULL error struct; the code below them never sees one. */
#define ERR_OR_LOCAL(e)                                                                            \
    struct hc_error local_err_;                                                                    \
    (e) = (e) != NULL ? (e) : &local_err_

static const char AUTH_HINT[] = "Pterodactyl rejected the API key: check that it is an "
                                "Application API key (ptla_\xe2\x80\xa6) with read and write "
                                "permissions";

/* ---- messages ---- */

/* Cuts s so that it does not end inside a UTF-8 sequence (messages are shown in JSON). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && n - (i - 1) < want)
        s[i - 1] = '\0';
    else if (lead < 0x80 && i < n)
        s[i] = '\0'; /* stray continuation bytes after ASCII */
}

/* Appends s to out (capacity outsz, *used bytes so far), control characters as spaces. */
static void append_clean(char *out, size_t outsz, size_t *used, const char *s)
{
    for (; *s != '\0' && *used + 1 < outsz; s++) {
        unsigned char ch = (unsigned char)*s;
        out[(*used)++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[*used] = '\0';
}

static void set_message(struct hc_error *e, const char *fmt, va_list ap)
{
    char msg[HC_MSG_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        str_copy(msg, "Pterodactyl: error message could not be formatted", sizeof msg);
    utf8_trim(msg); /* a cut message is still a useful one */
    str_copy(e->message, msg, sizeof e->message);
}

/* A fresh error of class cls (flags from hc_fail, then http_status). Returns -1. */
__attribute__((format(printf, 4, 5))) static int fail(struct hc_error *e, enum hc_class cls,
                                                      long status, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    memset(e, 0, sizeof *e);
    hc_fail(e, cls, "%s", "Pterodactyl");
    e->http_status = status;
    va_list ap;
    va_start(ap, fmt);
    set_message(e, fmt, ap);
    va_end(ap);
    return -1;
}

/* Replaces the message of an error already classified (flags kept). Returns -1. */
__attribute__((format(printf, 2, 3))) static int remessage(struct hc_error *e, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    set_message(e, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- pure parsers ---- */

static json_t *parse_json(const char *body, size_t len, struct lumi_err *lerr)
{
    err_clear(lerr);
    if (body == NULL || len == 0) {
        err_set(lerr, LUMI_EINVAL, "empty body");
        return NULL;
    }
    return jsonx_parse(body, len, JSONX_MAX_DEPTH, lerr);
}

static int errors_from_json(const json_t *root, char *out, size_t outsz)
{
    const json_t *errors = json_object_get(root, "errors");
    size_t used = 0, i;
    const json_t *item;
    int n = 0;
    out[0] = '\0';
    if (!json_is_array(errors))
        return 0;
    json_array_foreach(errors, i, item)
    {
        const char *detail = json_is_string(item)
                                 ? json_string_value(item)
                                 : json_string_value(json_object_get(item, "detail"));
        if (detail == NULL || *detail == '\0')
            detail = json_string_value(json_object_get(item, "code"));
        if (detail == NULL || *detail == '\0')
            continue;
        const char *field =
            json_string_value(json_object_get(json_object_get(item, "meta"), "source_field"));
        if (n > 0)
            append_clean(out, outsz, &used, "; ");
        if (field != NULL && *field != '\0') {
            append_clean(out, outsz, &used, field);
            append_clean(out, outsz, &used, ": ");
        }
        append_clean(out, outsz, &used, detail);
        n++;
    }
    utf8_trim(out);
    return n;
}

int ptero_parse_errors(const char *body, size_t len, char *out, size_t outsz)
{
    struct lumi_err lerr;
    if (out == NULL || outsz == 0)
        return 0;
    out[0] = '\0';
    json_t *root = parse_json(body, len, &lerr);
    int n = json_is_object(root) ? errors_from_json(root, out, outsz) : 0;
    json_decref(root);
    return n;
}

/* The attributes of an item {"object": <kind>, "attributes": {…}} (borrowed), or NULL. */
static json_t *item_attributes(const json_t *root, const char *kind)
{
    const char *object = json_string_value(json_object_get(root, "object"));
    json_t *attrs = json_object_get(root, "attributes");
    if (!json_is_object(attrs))
        return NULL;
    if (object != NULL && kind != NULL && strcmp(object, kind) != 0)
        return NULL;
    return attrs;
}

/* An id member: a JSON integer ≥ 1. */
static bool attr_id(const json_t *attrs, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(attrs, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return false;
    *out = json_integer_value(v);
    return true;
}

static int server_from_attrs(const json_t *attrs, struct panel_result *out, struct hc_error *e)
{
    int64_t id = 0, user = 0;
    memset(out, 0, sizeof *out);
    if (!json_is_object(attrs) || !attr_id(attrs, "id", &id))
        return fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with a server without an id");
    if (!attr_id(attrs, "user", &user))
        return fail(e, HC_BAD_RESPONSE, 0,
                    "Pterodactyl answered with server %" PRId64 " without an owner", id);
    snprintf(out->external_id, sizeof out->external_id, "%" PRId64, id);
    snprintf(out->panel_user_id, sizeof out->panel_user_id, "%" PRId64, user);
    const char *status = json_string_value(json_object_get(attrs, "status"));
    out->suspended = json_is_true(json_object_get(attrs, "suspended")) ||
                     (status != NULL && strcmp(status, "suspended") == 0);
    return 0;
}

int ptero_parse_server(const char *body, size_t len, struct panel_result *out, struct hc_error *e)
{
    struct lumi_err lerr;
    int rc = -1;
    json_t *root = parse_json(body, len, &lerr);
    if (root == NULL) {
        memset(out, 0, sizeof *out);
        fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with invalid JSON: %s", lerr.msg);
        goto out;
    }
    const json_t *attrs = item_attributes(root, "server");
    if (attrs == NULL) {
        memset(out, 0, sizeof *out);
        fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with something that is not a server");
        goto out;
    }
    rc = server_from_attrs(attrs, out, e);
out:
    json_decref(root);
    return rc;
}

static int page_number(const json_t *pagination, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(pagination, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static int list_from_json(const json_t *root, json_t *items, int64_t *current, int64_t *total,
                          struct hc_error *e)
{
    const json_t *data = json_object_get(root, "data");
    const json_t *pagination = json_object_get(json_object_get(root, "meta"), "pagination");
    size_t i;
    const json_t *item;
    *current = 1;
    *total = 1;
    if (!json_is_object(root) || !json_is_array(data))
        return fail(e, HC_BAD_RESPONSE, 0,
                    "Pterodactyl answered with something that is not a list");
    json_array_foreach(data, i, item)
    {
        json_t *attrs = item_attributes(item, NULL);
        if (attrs == NULL)
            return fail(e, HC_BAD_RESPONSE, 0,
                        "Pterodactyl answered with a list item without attributes");
        if (json_array_append(items, attrs) != 0)
            return fail(e, HC_BAD_RESPONSE, 0, "out of memory reading a Pterodactyl list");
    }
    if (pagination == NULL)
        return 0;
    if (!json_is_object(pagination) || page_number(pagination, "current_page", current) != 0 ||
        page_number(pagination, "total_pages", total) != 0)
        return fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with malformed pagination");
    return 0;
}

int ptero_parse_list(const char *body, size_t len, json_t *items, int64_t *current_page,
                     int64_t *total_pages, struct hc_error *e)
{
    struct lumi_err lerr;
    int rc = -1;
    json_t *root = parse_json(body, len, &lerr);
    *current_page = 1;
    *total_pages = 1;
    if (root == NULL) {
        fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with invalid JSON: %s", lerr.msg);
        goto out;
    }
    rc = list_from_json(root, items, current_page, total_pages, e);
out:
    json_decref(root);
    return rc;
}

/* A product-config environment value as the string Pterodactyl stores. New reference. */
static json_t *env_value(const char *name, const json_t *v, struct hc_error *e)
{
    char num[32];
    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (json_is_null(v))
        return json_string("");
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "1" : "0");
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(num);
    }
    fail(e, HC_INVALID, 0, "product config environment.%.64s must be a string", name);
    return NULL;
}

/* Adds each egg variable at its default to env. */
static int egg_defaults(const json_t *egg, json_t *env, struct hc_error *e)
{
    const json_t *rel = json_object_get(json_object_get(egg, "relationships"), "variables");
    const json_t *data = json_object_get(rel, "data");
    size_t i;
    const json_t *item;
    if (rel == NULL || json_is_null(rel) || data == NULL)
        return 0; /* egg without the relation (no read permission): the panel fills defaults */
    if (!json_is_array(data))
        return fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with malformed egg variables");
    json_array_foreach(data, i, item)
    {
        const json_t *attrs = item_attributes(item, NULL);
        const char *name = json_string_value(json_object_get(attrs, "env_variable"));
        const json_t *def = json_object_get(attrs, "default_value");
        if (name == NULL || *name == '\0' ||
            (def != NULL && !json_is_null(def) && !json_is_string(def)))
            return fail(e, HC_BAD_RESPONSE, 0,
                        "Pterodactyl answered with a malformed egg variable");
        json_t *val = json_string(json_is_string(def) ? json_string_value(def) : "");
        if (val == NULL || json_object_set_new(env, name, val) != 0)
            return fail(e, HC_BAD_RESPONSE, 0, "out of memory building an environment");
    }
    return 0;
}

json_t *ptero_egg_environment(const json_t *egg_attributes, const json_t *overrides,
                              struct hc_error *e)
{
    json_t *env = json_object();
    const char *key;
    json_t *v;
    if (env == NULL) {
        fail(e, HC_BAD_RESPONSE, 0, "out of memory building an environment");
        return NULL;
    }
    if (!json_is_object(egg_attributes)) {
        fail(e, HC_BAD_RESPONSE, 0, "Pterodactyl answered with something that is not an egg");
        goto fail;
    }
    if (egg_defaults(egg_attributes, env, e) != 0)
        goto fail;
    if (overrides != NULL && !json_is_null(overrides) && !json_is_object(overrides)) {
        fail(e, HC_INVALID, 0, "product config environment must be an object");
        goto fail;
    }
    json_object_foreach((json_t *)overrides, key, v)
    {
        json_t *val = env_value(key, v, e);
        if (val == NULL || json_object_set_new(env, key, val) != 0)
            goto fail;
    }
    return env;
fail:
    json_decref(env);
    return NULL;
}

static bool user_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
           ch == '_';
}

static bool alnum_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* Lower-cased s[0..n) with only characters p_username allows, at most max bytes. */
static size_t clean_part(const char *s, size_t n, bool alnum_only, char *out, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; s != NULL && i < n && s[i] != '\0' && o < max; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (alnum_only ? alnum_char(ch) : user_char(ch))
            out[o++] = ch;
    }
    out[o] = '\0';
    return o;
}

int ptero_username(const char *email, const char *client_key, char *out, size_t outsz)
{
    char local[33], key[33], name[80];
    if (out == NULL || outsz < 4)
        return -1;
    /* The local part without a "+tag": john+billing@… is john. */
    size_t llen = email != NULL ? strcspn(email, "@+") : 0;
    clean_part(email, llen, false, local, 32);
    clean_part(client_key, client_key != NULL ? strlen(client_key) : 0, true, key, 32);
    /* p_username wants letters or digits at both ends. */
    const char *start = local;
    while (*start != '\0' && !alnum_char(*start))
        start++;
    size_t n = str_copy(name, *start != '\0' ? start : "lumi", sizeof name);
    while (n > 0 && !alnum_char(name[n - 1]))
        name[--n] = '\0';
    if (key[0] != '\0')
        n += (size_t)snprintf(name + n, sizeof name - n, "_%s", key);
    if (n < 3)
        snprintf(name + n, sizeof name - n, "_lumi");
    str_copy(out, name, outsz);
    n = strlen(out);
    while (n > 0 && !alnum_char(out[n - 1]))
        out[--n] = '\0';
    if (n < 3)
        str_copy(out, "lumi", outsz);
    return 0;
}

/* ---- transport ---- */

/* The configured URL without trailing slashes or a pasted "/api/application". */
static int base_url(const struct panel_conn *c, char *out, size_t outsz, struct hc_error *e)
{
    const char *u = c->url;
    if (u == NULL || (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0))
        return fail(e, HC_INVALID, 0, "The Pterodactyl URL must start with http:// or https://");
    const char *host = strstr(u, "://") + 3;
    if (*host == '\0' || *host == '/')
        return fail(e, HC_INVALID, 0, "The Pterodactyl URL has no host name");
    for (const char *p = u; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(e, HC_INVALID, 0,
                        "The Pterodactyl URL contains spaces or control characters");
    size_t n = strlen(u);
    if (n >= outsz)
        return fail(e, HC_INVALID, 0, "The Pterodactyl URL is too long");
    memcpy(out, u, n + 1);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    size_t plen = strlen(API_PREFIX);
    if (n > plen && strcasecmp(out + n - plen, API_PREFIX) == 0)
        out[n - plen] = '\0';
    return 0;
}

/* The host part of the URL, for messages (no scheme, path or user info). */
static void shown_host(const char *url, char *out, size_t outsz)
{
    const char *h = url != NULL ? strstr(url, "://") : NULL;
    h = h != NULL ? h + 3 : (url != NULL ? url : "");
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    size_t i = 0;
    for (; i < n && i + 1 < outsz; i++)
        out[i] = ((unsigned char)h[i] < 0x21 || (unsigned char)h[i] > 0x7e) ? '?' : h[i];
    out[i] = '\0';
}

static int check_key(const struct panel_conn *c, struct hc_error *e)
{
    if (c->api_key == NULL || c->api_key[0] == '\0')
        return fail(e, HC_AUTH, 0, "No Pterodactyl API key is configured for this server");
    for (const char *p = c->api_key; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(e, HC_AUTH, 0,
                        "The Pterodactyl API key contains spaces or control characters");
    return 0;
}

/* "GET /servers/7" for messages: the path without its query. */
static void describe(const char *method, const char *path, char *out, size_t outsz)
{
    size_t n = strcspn(path, "?");
    if (n > 120)
        n = 120;
    snprintf(out, outsz, "%s %.*s", method, (int)n, path);
    utf8_trim(out);
}

static bool looks_html(const struct hc_response *res)
{
    const char *b = buf_cstr(&res->body);
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    return *b == '<';
}

static int not_an_api(const struct panel_conn *c, const struct hc_response *res, struct hc_error *e)
{
    char host[HOST_SHOWN], where[160], loc[128];
    shown_host(c->url, host, sizeof host);
    where[0] = '\0';
    if (res->status >= 300 && res->status < 400) {
        if (hc_header(res, "Location", loc, sizeof loc) != NULL) {
            for (char *p = loc; *p != '\0'; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    *p = '?';
            snprintf(where, sizeof where, " (HTTP %ld redirect to %s)", res->status, loc);
        } else {
            snprintf(where, sizeof where, " (HTTP %ld redirect)", res->status);
        }
        utf8_trim(where);
    } else if (res->status != 200) {
        snprintf(where, sizeof where, " (HTTP %ld)", res->status);
    }
    return fail(e, HC_BAD_RESPONSE, res->status,
                "%s did not answer as a Pterodactyl API%s (check the URL)", host, where);
}

static bool is_daemon_error(const json_t *errbody)
{
    const json_t *first = json_array_get(json_object_get(errbody, "errors"), 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    return code != NULL && strcmp(code, "DaemonConnectionException") == 0;
}

/* Maps a non-2xx answer onto e with Pterodactyl's reasons. */
static int answer_error(const struct panel_conn *c, const char *what, const char *method,
                        const struct hc_response *res, const json_t *errbody, struct hc_error *e)
{
    char detail[384];
    int n = json_is_object(errbody) ? errors_from_json(errbody, detail, sizeof detail) : 0;
    const char *sep = n > 0 ? ": " : "";
    if (n == 0)
        detail[0] = '\0';
    memset(e, 0, sizeof *e);
    if (hc_classify(res, "Pterodactyl", e) == 0)
        return not_an_api(c, res, e); /* 3xx: a login page or another site */
    /* The panel always explains a 404; a bare one is another site, not "gone". */
    if (e->cls == HC_NOT_FOUND && n == 0)
        return not_an_api(c, res, e);
    switch (e->cls) {
    case HC_AUTH:
        if (n > 0)
            return remessage(e, "%s (Pterodactyl said: %s)", AUTH_HINT, detail);
        return remessage(e, "%s", AUTH_HINT);
    case HC_NOT_FOUND:
        return remessage(e, "Pterodactyl has no such resource (%s)%s%s", what, sep, detail);
    case HC_INVALID:
        if (n > 0)
            return remessage(e, "Pterodactyl refused the request: %s", detail);
        return remessage(e, "Pterodactyl refused the request (%s answered HTTP %ld)", what,
                         res->status);
    case HC_RATE_LIMITED:
        if (e->retry_after_s > 0)
            return remessage(e, "Pterodactyl is rate limiting Lumi (HTTP 429); retry after %d s",
                             e->retry_after_s);
        return remessage(e, "Pterodactyl is rate limiting Lumi (HTTP 429)");
    case HC_UPSTREAM:
        if (is_daemon_error(errbody))
            return remessage(e,
                             "Pterodactyl could not reach the node's daemon (Wings), "
                             "nothing was changed%s%s",
                             sep, detail);
        /* A proxy's 502/504 on a write may hide a request the panel still carries out. */
        if ((res->status == 502 || res->status == 504) && strcmp(method, "GET") != 0)
            e->ambiguous = true;
        return remessage(e, "Pterodactyl failed (%s answered HTTP %ld)%s%s", what, res->status, sep,
                         detail);
    default:
        return remessage(e, "Pterodactyl answered %s with HTTP %ld%s%s", what, res->status, sep,
                         detail);
    }
}

static int parse_answer(const struct panel_conn *c, const char *what, const struct hc_response *res,
                        json_t **out, struct hc_error *e)
{
    struct lumi_err lerr;
    if (res->body.len == 0)
        return 0;
    if (looks_html(res))
        return not_an_api(c, res, e);
    *out = jsonx_parse(res->body.data, res->body.len, JSONX_MAX_DEPTH, &lerr);
    if (*out == NULL)
        return fail(e, HC_BAD_RESPONSE, res->status,
                    "Pterodactyl answered %s with invalid JSON (%s)", what, lerr.msg);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return fail(e, HC_BAD_RESPONSE, res->status,
                    "Pterodactyl answered %s with JSON that is not an object", what);
    }
    return 0;
}

/*
 * One request: path is relative to /api/application (query included, values
 * already escaped), body may be NULL. On 2xx, *out is the parsed answer (NULL
 * when empty). On a Pterodactyl error answer, *errbody (when asked for) is
 * its parsed body, so callers can look at rules such as "unique".
 */
static int call_ex(const struct panel_conn *c, const char *method, const char *path,
                   const json_t *body, json_t **out, json_t **errbody, struct hc_error *e)
{
    char base[URL_MAX], rate_key[48], what[160];
    struct buf url, auth;
    struct hc_response res;
    struct lumi_err lerr;
    char *payload = NULL;
    json_t *eb = NULL;
    int rc = -1;

    *out = NULL;
    if (errbody != NULL)
        *errbody = NULL;
    memset(&res, 0, sizeof res);
    buf_init(&url, URL_MAX + PATH_MAX_LEN);
    buf_init(&auth, 1024);
    describe(method, path, what, sizeof what);
    if (base_url(c, base, sizeof base, e) != 0 || check_key(c, e) != 0)
        goto out;
    if (buf_printf(&url, "%s%s%s", base, API_PREFIX, path) != 0 ||
        buf_printf(&auth, "Authorization: Bearer %s", c->api_key) != 0) {
        fail(e, HC_INVALID, 0, "Pterodactyl request %s is too long", what);
        goto out;
    }
    if (body != NULL && (payload = jsonx_dump(body)) == NULL) {
        fail(e, HC_INVALID, 0, "out of memory encoding the request to Pterodactyl");
        goto out;
    }
    if (payload != NULL && strlen(payload) > REQUEST_MAX) {
        fail(e, HC_INVALID, 0, "the request body for %s is too large", what);
        goto out;
    }
    snprintf(rate_key, sizeof rate_key, "panel:%" PRId64, c->server_id);
    const char *headers[] = {buf_cstr(&auth), "Accept: application/json",
                             "Content-Type: application/json", NULL};
    struct hc_request req = {
        .method = method,
        .url = buf_cstr(&url),
        .headers = headers,
        .body = payload,
        .body_len = payload != NULL ? strlen(payload) : 0,
        .connect_timeout_ms = c->connect_timeout_ms,
        .timeout_ms = c->timeout_ms,
        .ca_file = c->ca_file,
        .rate_key = c->server_id > 0 ? rate_key : NULL, /* unsaved panel: no shared budget */
        .rate_per_minute = c->rate_per_minute > 0 ? c->rate_per_minute : PTERO_RATE_PER_MINUTE,
    };
    if (hc_perform(&req, &res, e) != 0) {
        char msg[HC_MSG_MAX];
        str_copy(msg, e->message, sizeof msg);
        if (e->cls == HC_CONNECTION)
            remessage(e, "Could not reach Pterodactyl (%s): %s", what, msg);
        else
            remessage(e, "Pterodactyl (%s): %s", what, msg);
        goto out;
    }
    if (res.status >= 200 && res.status < 300) {
        rc = parse_answer(c, what, &res, out, e);
        goto out;
    }
    if (res.body.len > 0 && !looks_html(&res))
        eb = jsonx_parse(res.body.data, res.body.len, JSONX_MAX_DEPTH, &lerr);
    answer_error(c, what, method, &res, eb, e);
    if (errbody != NULL) {
        *errbody = eb;
        eb = NULL;
    }
out:
    json_decref(eb);
    if (payload != NULL) {
        sodium_memzero(payload, strlen(payload)); /* may carry a password */
        free(payload);
    }
    buf_free(&auth);
    buf_free(&url);
    hc_response_free(&res);
    return rc;
}

static int call(const struct panel_conn *c, const char *method, const char *path,
                const json_t *body, json_t **out, struct hc_error *e)
{
    return call_ex(c, method, path, body, out, NULL, e);
}

/* A call whose answer must be an item of `kind`: its attributes (new reference) or NULL. */
static json_t *call_item(const struct panel_conn *c, const char *method, const char *path,
                         const json_t *body, const char *kind, struct hc_error *e)
{
    json_t *root = NULL, *attrs = NULL;
    char what[160];
    if (call(c, method, path, body, &root, e) != 0)
        return NULL;
    attrs = item_attributes(root, kind);
    if (attrs == NULL) {
        describe(method, path, what, sizeof what);
        fail(e, HC_BAD_RESPONSE, 200, "Pterodactyl answered %s with something that is not a %s",
             what, kind);
    } else {
        json_incref(attrs);
    }
    json_decref(root);
    return attrs;
}

/* A call answered 204 (or any 2xx): 0 or -1 with e. */
static int call_action(const struct panel_conn *c, const char *method, const char *path,
                       struct hc_error *e)
{
    json_t *root = NULL;
    int rc = call(c, method, path, NULL, &root, e);
    json_decref(root);
    return rc;
}

/* Every page of a list: an array of attributes (new reference) or NULL with e. */
static json_t *list_all(const struct panel_conn *c, const char *path, struct hc_error *e)
{
    json_t *items = json_array();
    struct buf p;
    int64_t page = 1, current = 1, total = 1;
    buf_init(&p, PATH_MAX_LEN);
    if (items == NULL) {
        fail(e, HC_BAD_RESPONSE, 0, "out of memory reading a Pterodactyl list");
        goto fail;
    }
    do {
        json_t *root = NULL;
        buf_reset(&p);
        if (buf_printf(&p, "%s%cpage=%" PRId64 "&per_page=%d", path,
                       strchr(path, '?') != NULL ? '&' : '?', page, PTERO_PER_PAGE) != 0) {
            fail(e, HC_INVALID, 0, "Pterodactyl request path is too long");
            goto fail;
        }
        if (call(c, "GET", buf_cstr(&p), NULL, &root, e) != 0)
            goto fail;
        int rc = list_from_json(root, items, &current, &total, e);
        json_decref(root);
        if (rc != 0)
            goto fail;
        if (total > 1 && current != page) {
            fail(e, HC_BAD_RESPONSE, 200,
                 "Pterodactyl answered page %" PRId64 " when asked for page %" PRId64, current,
                 page);
            goto fail;
        }
        if (total > MAX_PAGES) {
            fail(e, HC_BAD_RESPONSE, 200,
                 "Pterodactyl list has %" PRId64 " pages, more than Lumi reads (%d)", total,
                 MAX_PAGES);
            goto fail;
        }
        page++;
    } while (page <= total);
    buf_free(&p);
    return items;
fail:
    buf_free(&p);
    json_decref(items);
    return NULL;
}

/* Appends "/<prefix><escaped value>" to p. */
static int path_escaped(struct buf *p, const char *prefix, const char *value, struct hc_error *e)
{
    if (buf_append_str(p, prefix) != 0 || hc_url_escape(p, value) != 0)
        return fail(e, HC_INVALID, 0, "Pterodactyl request path is too long");
    return 0;
}

/* ---- servers and users ---- */

static int parse_id(const char *text, int64_t *id, struct hc_error *e)
{
    if (str_to_i64z(text, 1, INT64_MAX, id) != 0)
        return fail(e, HC_INVALID, 0, "'%.64s' is not a Pterodactyl server id", text);
    return 0;
}

/* The server with Lumi's key: 1 (attributes in *attrs, new reference), 0 none, -1 error. */
static int server_by_key(const struct panel_conn *c, const char *key, json_t **attrs,
                         struct hc_error *e)
{
    struct buf p;
    int rc = -1;
    *attrs = NULL;
    buf_init(&p, PATH_MAX_LEN);
    if (key == NULL || *key == '\0') {
        fail(e, HC_INVALID, 0, "the service has no key to look it up on Pterodactyl");
        goto out;
    }
    if (path_escaped(&p, "/servers/external/", key, e) != 0)
        goto out;
    *attrs = call_item(c, "GET", buf_cstr(&p), NULL, "server", e);
    if (*attrs != NULL)
        rc = 1;
    else if (e != NULL && e->cls == HC_NOT_FOUND)
        rc = 0;
out:
    buf_free(&p);
    return rc;
}

/* The panel id of the service's server: from s->external_id, else by Lumi's key.
 * 1 found, 0 not on the panel, -1 error. */
static int server_id_of(const struct panel_conn *c, const struct panel_service *s, int64_t *id,
                        struct hc_error *e)
{
    json_t *attrs = NULL;
    if (str_present(s->external_id))
        return parse_id(s->external_id, id, e) == 0 ? 1 : -1;
    int rc = server_by_key(c, s->remote_key, &attrs, e);
    if (rc == 1 && !attr_id(attrs, "id", id))
        rc = fail(e, HC_BAD_RESPONSE, 200, "Pterodactyl answered with a server without an id");
    json_decref(attrs);
    return rc;
}

static int server_must_exist(const struct panel_conn *c, const struct panel_service *s, int64_t *id,
                             struct hc_error *e)
{
    int rc = server_id_of(c, s, id, e);
    if (rc == 0)
        return fail(e, HC_NOT_FOUND, 404, "Pterodactyl has no server with external id %.64s",
                    s->remote_key);
    return rc == 1 ? 0 : -1;
}

static bool same_email(const json_t *user, const char *email)
{
    return str_eq_nocase(json_string_value(json_object_get(user, "email")), email);
}

/* The client's panel user by e-mail (exact, over the partial filter): 1/0/-1. */
static int user_by_email(const struct panel_conn *c, const char *email, json_t **user,
                         struct hc_error *e)
{
    struct buf p;
    json_t *list = NULL;
    int rc = -1;
    size_t i;
    json_t *item;
    buf_init(&p, PATH_MAX_LEN);
    if (path_escaped(&p, "/users?filter%5Bemail%5D=", email, e) != 0)
        goto out;
    list = list_all(c, buf_cstr(&p), e);
    if (list == NULL)
        goto out;
    rc = 0;
    json_array_foreach(list, i, item)
    {
        if (same_email(item, email)) {
            *user = json_incref(item);
            rc = 1;
            break;
        }
    }
out:
    json_decref(list);
    buf_free(&p);
    return rc;
}

/* The client's panel user: by external id (Lumi's client key), else by exact e-mail.
 * 1 (attributes in *user, new reference), 0 none, -1 error. */
static int find_user(const struct panel_conn *c, const struct panel_service *s, json_t **user,
                     struct hc_error *e)
{
    struct buf p;
    int rc = -1;
    *user = NULL;
    buf_init(&p, PATH_MAX_LEN);
    if (str_present(s->client_key)) {
        if (path_escaped(&p, "/users/external/", s->client_key, e) != 0)
            goto out;
        *user = call_item(c, "GET", buf_cstr(&p), NULL, "user", e);
        if (*user != NULL) {
            rc = 1;
            goto out;
        }
        if (e == NULL || e->cls != HC_NOT_FOUND)
            goto out;
    }
    rc = str_present(s->client_email) ? user_by_email(c, s->client_email, user, e) : 0;
out:
    buf_free(&p);
    return rc;
}

static bool has_rule(const json_t *errbody, const char *rule)
{
    size_t i;
    const json_t *item;
    json_array_foreach(json_object_get(errbody, "errors"), i, item)
    {
        const char *r = json_string_value(json_object_get(json_object_get(item, "meta"), "rule"));
        if (r != NULL && strcmp(r, rule) == 0)
            return true;
    }
    return false;
}

static bool has_field_rule(const json_t *errbody, const char *field, const char *rule)
{
    size_t i;
    const json_t *item;
    json_array_foreach(json_object_get(errbody, "errors"), i, item)
    {
        const json_t *meta = json_object_get(item, "meta");
        if (str_eq(json_string_value(json_object_get(meta, "source_field")), field) &&
            str_eq(json_string_value(json_object_get(meta, "rule")), rule))
            return true;
    }
    return false;
}

static int set_str(json_t *obj, const char *key, const char *value, struct hc_error *e)
{
    if (jsonx_set_str(obj, key, value) != 0)
        return fail(e, HC_INVALID, 0, "the value for %s is not valid UTF-8", key);
    return 0;
}

static json_t *new_user_body(const struct panel_service *s, struct hc_error *e)
{
    char username[64];
    json_t *b = json_object();
    if (b == NULL) {
        fail(e, HC_INVALID, 0, "out of memory");
        return NULL;
    }
    ptero_username(s->client_email, s->client_key, username, sizeof username);
    if (set_str(b, "email", s->client_email, e) != 0 || set_str(b, "username", username, e) != 0 ||
        set_str(b, "first_name",
                str_present(s->client_first_name) ? s->client_first_name : "Client", e) != 0 ||
        set_str(b, "last_name",
                str_present(s->client_last_name)
                    ? s->client_last_name
                    : (str_present(s->client_key) ? s->client_key : "Lumi"),
                e) != 0 ||
        (str_present(s->client_key) && set_str(b, "external_id", s->client_key, e) != 0) ||
        (str_present(s->password) && set_str(b, "password", s->password, e) != 0)) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* The client's panel user, created when absent. New reference or NULL with e. */
static json_t *ensure_user(const struct panel_conn *c, const struct panel_service *s,
                           struct hc_error *e)
{
    json_t *user = NULL, *body = NULL, *root = NULL, *errbody = NULL;
    int rc = find_user(c, s, &user, e);
    if (rc != 0)
        return user;
    if (!str_present(s->client_email)) {
        fail(e, HC_INVALID, 0,
             "the client has no e-mail address, which Pterodactyl needs for the panel user");
        return NULL;
    }
    body = new_user_body(s, e);
    if (body == NULL)
        return NULL;
    if (call_ex(c, "POST", "/users", body, &root, &errbody, e) == 0) {
        user = item_attributes(root, "user");
        if (user == NULL)
            fail(e, HC_BAD_RESPONSE, 201,
                 "Pterodactyl answered POST /users with something that is not a user");
        json_incref(user);
    } else if (has_rule(errbody, "unique")) {
        /* Created meanwhile (or by an earlier attempt whose answer was lost). */
        const struct hc_error first = *e;
        if (find_user(c, s, &user, e) == 0) {
            *e = first;
            user = NULL;
        }
    }
    json_decref(errbody);
    json_decref(root);
    json_decref(body);
    return user;
}

/* ---- product config ---- */

static int cfg_int(const json_t *cfg, const char *key, int64_t min, int64_t max, int64_t def,
                   int64_t *out, struct hc_error *e)
{
    struct lumi_err lerr;
    *out = def;
    if (!json_is_object(cfg))
        return 0;
    err_clear(&lerr);
    if (jsonx_take_int(cfg, key, false, min, max, out, &lerr) < 0)
        return fail(e, HC_INVALID, 0, "product config: %s", lerr.msg);
    return 0;
}

static int cfg_required_id(const json_t *cfg, const char *key, int64_t *out, struct hc_error *e)
{
    struct lumi_err lerr;
    err_clear(&lerr);
    if (!json_is_object(cfg))
        return fail(e, HC_INVALID, 0, "product config: field '%s' is required", key);
    if (jsonx_take_int(cfg, key, true, 1, INT64_MAX, out, &lerr) < 0)
        return fail(e, HC_INVALID, 0, "product config: %s", lerr.msg);
    return 0;
}

/* 1 present (and *out set), 0 absent, -1 wrong type. */
static int cfg_bool(const json_t *cfg, const char *key, bool *out, struct hc_error *e)
{
    struct lumi_err lerr;
    err_clear(&lerr);
    if (!json_is_object(cfg))
        return 0;
    int rc = jsonx_take_bool(cfg, key, false, out, &lerr);
    if (rc < 0)
        return fail(e, HC_INVALID, 0, "product config: %s", lerr.msg);
    return rc;
}

static int cfg_str(const json_t *cfg, const char *key, size_t max, const char **out,
                   struct hc_error *e)
{
    struct lumi_err lerr;
    err_clear(&lerr);
    *out = NULL;
    if (!json_is_object(cfg))
        return 0;
    if (jsonx_take_str(cfg, key, false, max, out, &lerr) < 0)
        return fail(e, HC_INVALID, 0, "product config: %s", lerr.msg);
    return 0;
}

static int set_int(json_t *obj, const char *key, int64_t v, struct hc_error *e)
{
    if (jsonx_set_int(obj, key, v) != 0)
        return fail(e, HC_INVALID, 0, "out of memory");
    return 0;
}

/* memory, swap, disk, io, cpu (+ threads) from config over the defaults into obj. */
static int put_limits(const json_t *cfg, json_t *obj, struct hc_error *e)
{
    static const struct {
        const char *key;
        int64_t min, def;
    } limits[] = {{"memory", 0, DEF_MEMORY},
                  {"swap", -1, DEF_SWAP},
                  {"disk", 0, DEF_DISK},
                  {"io", 0, DEF_IO},
                  {"cpu", 0, DEF_CPU}};
    const char *threads = NULL;
    int64_t v;
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (cfg_int(cfg, limits[i].key, limits[i].min, INT32_MAX, limits[i].def, &v, e) != 0 ||
            set_int(obj, limits[i].key, v, e) != 0)
            return -1;
    if (cfg_str(cfg, "threads", 191, &threads, e) != 0)
        return -1;
    if (threads != NULL && set_str(obj, "threads", threads, e) != 0)
        return -1;
    return 0;
}

static json_t *feature_limits(const json_t *cfg, struct hc_error *e)
{
    static const char *const keys[] = {"databases", "allocations", "backups"};
    json_t *f = json_object();
    int64_t v;
    for (size_t i = 0; f != NULL && i < sizeof keys / sizeof keys[0]; i++) {
        if (cfg_int(cfg, keys[i], 0, INT32_MAX, 0, &v, e) != 0 || set_int(f, keys[i], v, e) != 0) {
            json_decref(f);
            return NULL;
        }
    }
    if (f == NULL)
        fail(e, HC_INVALID, 0, "out of memory");
    return f;
}

static int put_oom(const json_t *cfg, json_t *body, struct hc_error *e)
{
    bool oom = false;
    int rc = cfg_bool(cfg, "oom_disabled", &oom, e);
    if (rc < 0)
        return -1;
    if (rc == 1 && jsonx_set_bool(body, "oom_disabled", oom) != 0)
        return fail(e, HC_INVALID, 0, "out of memory");
    return 0;
}

/* An array config member of integers ≥ 1 or of strings: copy, or NULL when absent. */
static int cfg_array(const json_t *cfg, const char *key, bool strings, json_t **out,
                     struct hc_error *e)
{
    const json_t *a = json_object_get(cfg, key);
    size_t i;
    const json_t *v;
    *out = NULL;
    if (a == NULL || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return fail(e, HC_INVALID, 0, "product config: field '%s' must be a list", key);
    json_array_foreach(a, i, v)
    {
        bool ok = strings ? json_is_string(v) : (json_is_integer(v) && json_integer_value(v) >= 1);
        if (!ok)
            return fail(e, HC_INVALID, 0, "product config: field '%s' must be a list of %s", key,
                        strings ? "strings" : "ids");
    }
    *out = json_deep_copy(a);
    return *out != NULL ? 0 : fail(e, HC_INVALID, 0, "out of memory");
}

/*
 * A free allocation of the node, chosen at random among the free ones so that
 * creates running in parallel on one node rarely pick the same (a collision is
 * answered 422 and retried: see p_create).
 */
static int free_allocation(const struct panel_conn *c, int64_t node, int64_t *out,
                           struct hc_error *e)
{
    char path[64];
    size_t i, nfree = 0;
    json_t *item;
    int rc = -1;
    snprintf(path, sizeof path, "/nodes/%" PRId64 "/allocations", node);
    json_t *list = list_all(c, path, e);
    if (list == NULL)
        return -1;
    json_array_foreach(list, i, item) nfree += json_is_false(json_object_get(item, "assigned"));
    size_t pick = nfree > 0 ? (size_t)randombytes_uniform((uint32_t)nfree) : 0;
    json_array_foreach(list, i, item)
    {
        if (!json_is_false(json_object_get(item, "assigned")))
            continue;
        if (pick-- == 0) {
            rc = attr_id(item, "id", out) ? 0 : -1;
            break;
        }
    }
    json_decref(list);
    if (rc != 0)
        fail(e, HC_INVALID, 0,
             "Pterodactyl node %" PRId64 " has no free allocation (add ports "
             "to the node or set location_ids)",
             node);
    return rc;
}

/* deploy {locations, dedicated_ip, port_range} or allocation {default}. */
static int put_placement(const struct panel_conn *c, const json_t *cfg, json_t *body,
                         struct hc_error *e)
{
    json_t *locations = NULL, *ports = NULL;
    int64_t alloc = 0, node = 0;
    bool dedicated = false;
    if (cfg_array(cfg, "location_ids", false, &locations, e) != 0)
        return -1;
    if (locations != NULL && json_array_size(locations) > 0) {
        if (cfg_bool(cfg, "dedicated_ip", &dedicated, e) < 0 ||
            cfg_array(cfg, "port_range", true, &ports, e) != 0) {
            json_decref(locations);
            return -1;
        }
        json_t *deploy = json_pack("{s:o, s:b, s:o}", "locations", locations, "dedicated_ip",
                                   dedicated, "port_range", ports != NULL ? ports : json_array());
        if (deploy == NULL || json_object_set_new(body, "deploy", deploy) != 0)
            return fail(e, HC_INVALID, 0, "out of memory");
        return 0;
    }
    json_decref(locations);
    if (cfg_int(cfg, "allocation_id", 1, INT64_MAX, 0, &alloc, e) != 0 ||
        cfg_int(cfg, "node_id", 1, INT64_MAX, 0, &node, e) != 0)
        return -1;
    if (alloc == 0 && node == 0)
        return fail(e, HC_INVALID, 0,
                    "product config needs location_ids (automatic "
                    "deployment), node_id or allocation_id");
    if (alloc == 0 && free_allocation(c, node, &alloc, e) != 0)
        return -1;
    json_t *a = json_pack("{s:I}", "default", (json_int_t)alloc);
    if (a == NULL || json_object_set_new(body, "allocation", a) != 0)
        return fail(e, HC_INVALID, 0, "out of memory");
    return 0;
}

/* The egg's image: docker_image, else the first of docker_images. */
static const char *egg_image(const json_t *egg)
{
    const char *img = json_string_value(json_object_get(egg, "docker_image"));
    const char *key;
    json_t *v;
    if (img != NULL && *img != '\0')
        return img;
    json_object_foreach(json_object_get(egg, "docker_images"), key, v)
    {
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

/* docker_image, startup and environment: the egg's, under the product config. */
static int put_egg_fields(const json_t *cfg, const json_t *egg, json_t *body, struct hc_error *e)
{
    const char *image = NULL, *startup = NULL;
    if (cfg_str(cfg, "docker_image", NAME_MAX_LEN, &image, e) != 0 ||
        cfg_str(cfg, "startup", STARTUP_MAX_LEN, &startup, e) != 0)
        return -1;
    if (image == NULL)
        image = egg_image(egg);
    if (startup == NULL)
        startup = json_string_value(json_object_get(egg, "startup"));
    if (image == NULL || startup == NULL)
        return fail(e, HC_INVALID, 0, "the Pterodactyl egg has no %s; set it in the product config",
                    image == NULL ? "docker image" : "startup command");
    json_t *env = ptero_egg_environment(egg, json_object_get(cfg, "environment"), e);
    if (env == NULL)
        return -1;
    if (set_str(body, "docker_image", image, e) != 0 || set_str(body, "startup", startup, e) != 0 ||
        json_object_set_new(body, "environment", env) != 0)
        return fail(e, HC_INVALID, 0, "could not build the server's environment");
    return 0;
}

static json_t *create_body(const struct panel_conn *c, const struct panel_service *s,
                           const json_t *egg, int64_t user_id, int64_t egg_id, struct hc_error *e)
{
    const json_t *cfg = s->config;
    json_t *body = json_object(), *limits = json_object(), *features = NULL;
    const char *name = NULL;
    char fallback[64];
    bool start = true;
    if (body == NULL || limits == NULL) {
        fail(e, HC_INVALID, 0, "out of memory");
        goto fail;
    }
    snprintf(fallback, sizeof fallback, "lumi-%" PRId64, s->service_id);
    if (cfg_str(cfg, "name", NAME_MAX_LEN, &name, e) != 0 ||
        set_str(body, "name", name != NULL ? name : fallback, e) != 0 ||
        set_int(body, "user", user_id, e) != 0 || set_int(body, "egg", egg_id, e) != 0 ||
        put_egg_fields(cfg, egg, body, e) != 0 || put_limits(cfg, limits, e) != 0)
        goto fail;
    json_object_set_new(body, "limits", limits);
    limits = NULL;
    if ((features = feature_limits(cfg, e)) == NULL)
        goto fail;
    json_object_set_new(body, "feature_limits", features);
    if (put_placement(c, cfg, body, e) != 0 ||
        set_str(body, "external_id", s->remote_key, e) != 0 ||
        cfg_bool(cfg, "start_on_completion", &start, e) < 0 ||
        jsonx_set_bool(body, "start_on_completion", start) != 0 || put_oom(cfg, body, e) != 0)
        goto fail;
    return body;
fail:
    json_decref(limits);
    json_decref(body);
    return NULL;
}

/* ---- panel_ops ---- */

static int nodes_message(const json_t *root, struct panel_test *out)
{
    const json_t *total =
        json_object_get(json_object_get(json_object_get(root, "meta"), "pagination"), "total");
    const json_t *data = json_object_get(root, "data");
    if (!json_is_array(data))
        return -1;
    json_int_t n =
        json_is_integer(total) ? json_integer_value(total) : (json_int_t)json_array_size(data);
    if (n == 0)
        snprintf(out->message, sizeof out->message,
                 "Connected to Pterodactyl, but it has no nodes: servers cannot be created yet");
    else
        snprintf(out->message, sizeof out->message,
                 "Connected to Pterodactyl: %" JSON_INTEGER_FORMAT " node%s", n, n == 1 ? "" : "s");
    return 0;
}

static int p_test_connection(const struct panel_conn *c, struct panel_test *out, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    json_t *root = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (call(c, "GET", "/nodes", NULL, &root, e) != 0)
        goto out;
    if (root == NULL || nodes_message(root, out) != 0) {
        char host[HOST_SHOWN];
        shown_host(c->url, host, sizeof host);
        fail(e, HC_BAD_RESPONSE, 200, "%s did not answer as a Pterodactyl API (check the URL)",
             host);
        goto out;
    }
    out->ok = true;
    rc = 0;
out:
    if (rc != 0)
        str_copy(out->message, e->message, sizeof out->message);
    json_decref(root);
    return rc;
}

static void copy_username(const json_t *user, struct panel_result *out)
{
    const char *name = json_string_value(json_object_get(user, "username"));
    str_copy(out->username, name != NULL ? name : "", sizeof out->username);
}

static int p_find(const struct panel_conn *c, const struct panel_service *s,
                  struct panel_result *out, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    json_t *attrs = NULL, *user = NULL;
    int64_t owner = 0, uid = 0;
    memset(out, 0, sizeof *out);
    int rc = server_by_key(c, s->remote_key, &attrs, e);
    if (rc != 1)
        goto out;
    rc = -1;
    if (server_from_attrs(attrs, out, e) != 0)
        goto out;
    attr_id(attrs, "user", &owner);
    int found = find_user(c, s, &user, e);
    if (found < 0)
        goto out;
    if (found == 0 || !attr_id(user, "id", &uid) || uid != owner) {
        memset(out, 0, sizeof *out);
        fail(e, HC_INVALID, 0,
             "server with external id %.64s belongs to another panel user (user %" PRId64 ")",
             s->remote_key, owner);
        goto out;
    }
    copy_username(user, out);
    rc = 1;
out:
    json_decref(user);
    json_decref(attrs);
    return rc;
}

/* POST /servers said the external id is taken: the server exists, so adopt it. */
static int adopt_existing(const struct panel_conn *c, const struct panel_service *s,
                          struct panel_result *out, struct hc_error *e)
{
    int rc = p_find(c, s, out, e);
    if (rc == 0)
        return fail(e, HC_UPSTREAM, 422,
                    "Pterodactyl says external id %.64s is taken but does "
                    "not show that server; try again",
                    s->remote_key);
    return rc == 1 ? 0 : -1;
}

static json_t *get_egg_attrs(const struct panel_conn *c, int64_t nest, int64_t egg,
                             struct hc_error *e)
{
    char path[96];
    snprintf(path, sizeof path, "/nests/%" PRId64 "/eggs/%" PRId64 "?include=variables", nest, egg);
    return call_item(c, "GET", path, NULL, "egg", e);
}

static int p_create(const struct panel_conn *c, const struct panel_service *s,
                    struct panel_result *out, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    json_t *user = NULL, *egg = NULL, *body = NULL, *root = NULL, *errbody = NULL;
    int64_t nest_id = 0, egg_id = 0, user_id = 0;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (!str_present(s->remote_key)) {
        fail(e, HC_INVALID, 0, "the service has no key to create it under on Pterodactyl");
        goto out;
    }
    if (cfg_required_id(s->config, "nest_id", &nest_id, e) != 0 ||
        cfg_required_id(s->config, "egg_id", &egg_id, e) != 0)
        goto out;
    if ((user = ensure_user(c, s, e)) == NULL)
        goto out;
    if (!attr_id(user, "id", &user_id)) {
        fail(e, HC_BAD_RESPONSE, 200, "Pterodactyl answered with a user without an id");
        goto out;
    }
    if ((egg = get_egg_attrs(c, nest_id, egg_id, e)) == NULL)
        goto out;
    if ((body = create_body(c, s, egg, user_id, egg_id, e)) == NULL)
        goto out;
    if (call_ex(c, "POST", "/servers", body, &root, &errbody, e) != 0) {
        /* An earlier attempt created it after all: adopt it (find checks the owner). */
        if (has_field_rule(errbody, "external_id", "unique"))
            rc = adopt_existing(c, s, out, e);
        else if (has_field_rule(errbody, "allocation.default", "exists") &&
                 json_object_get(body, "deploy") == NULL &&
                 json_object_get(s->config, "allocation_id") == NULL)
            /* The free allocation Lumi picked was taken by a parallel create. */
            hc_fail(e, HC_UPSTREAM,
                    "the free allocation Lumi picked on the Pterodactyl node was taken meanwhile; "
                    "the next attempt picks another");
        goto out;
    }
    const json_t *attrs = item_attributes(root, "server");
    if (attrs == NULL) {
        fail(e, HC_BAD_RESPONSE, 201,
             "Pterodactyl answered POST /servers with something that is not a server");
        goto out;
    }
    if (server_from_attrs(attrs, out, e) != 0)
        goto out;
    copy_username(user, out);
    rc = 0;
out:
    json_decref(errbody);
    json_decref(root);
    json_decref(body);
    json_decref(egg);
    json_decref(user);
    return rc;
}

static int server_action(const struct panel_conn *c, const struct panel_service *s,
                         const char *action, struct hc_error *e)
{
    int64_t id = 0;
    if (server_must_exist(c, s, &id, e) != 0)
        return -1;
    char path[96];
    snprintf(path, sizeof path, "/servers/%" PRId64 "/%s", id, action);
    return call_action(c, "POST", path, e);
}

static int p_suspend(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return server_action(c, s, "suspend", e);
}

static int p_unsuspend(const struct panel_conn *c, const struct panel_service *s,
                       struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return server_action(c, s, "unsuspend", e);
}

static int p_terminate(const struct panel_conn *c, const struct panel_service *s,
                       struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    int64_t id = 0;
    json_t *attrs = NULL;
    int rc = server_id_of(c, s, &id, e);
    if (rc <= 0)
        return rc; /* 0: never created or already gone */
    rc = -1;
    if ((attrs = ptero_get_server(c, id, e)) == NULL) {
        if (e != NULL && e->cls == HC_NOT_FOUND)
            rc = 0;
        goto out;
    }
    /* Never delete a server that Lumi's record points at by mistake. */
    const char *ext = json_string_value(json_object_get(attrs, "external_id"));
    if (str_present(s->remote_key) && !str_eq(ext, s->remote_key)) {
        fail(e, HC_INVALID, 0,
             "Pterodactyl server %" PRId64 " has external id %.64s, not "
             "%.64s: refusing to delete it",
             id, ext != NULL ? ext : "(none)", s->remote_key);
        goto out;
    }
    rc = ptero_delete_server(c, id, false, e);
    if (rc != 0 && e != NULL && e->cls == HC_NOT_FOUND)
        rc = 0;
out:
    json_decref(attrs);
    return rc;
}

/* The legacy-form build body of the contract from the product config. */
static json_t *build_body(const json_t *cfg, struct hc_error *e)
{
    json_t *body = json_object(), *features = NULL;
    if (body == NULL) {
        fail(e, HC_INVALID, 0, "out of memory");
        return NULL;
    }
    if (put_limits(cfg, body, e) != 0 || (features = feature_limits(cfg, e)) == NULL)
        goto fail;
    json_object_set_new(body, "feature_limits", features);
    if (json_object_get(body, "threads") == NULL &&
        json_object_set_new(body, "threads", json_null()) != 0)
        goto fail;
    if (put_oom(cfg, body, e) != 0)
        goto fail;
    return body;
fail:
    json_decref(body);
    return NULL;
}

static int p_change_package(const struct panel_conn *c, const struct panel_service *s,
                            struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    int64_t id = 0;
    json_t *body = NULL, *attrs = NULL;
    int rc = -1;
    if (server_must_exist(c, s, &id, e) != 0)
        goto out;
    if ((body = build_body(s->config, e)) == NULL)
        goto out;
    if ((attrs = ptero_update_build(c, id, body, e)) != NULL)
        rc = 0;
out:
    json_decref(attrs);
    json_decref(body);
    return rc;
}

/* The panel user whose password the service's login is: the server's owner, else the
 * client's user. New reference or NULL with e. */
static json_t *service_user(const struct panel_conn *c, const struct panel_service *s,
                            struct hc_error *e)
{
    int64_t id = 0, uid = 0;
    json_t *user = NULL;
    char path[64];
    int rc = server_id_of(c, s, &id, e);
    if (rc < 0)
        return NULL;
    if (rc == 1) {
        json_t *attrs = ptero_get_server(c, id, e);
        bool ok = attrs != NULL && attr_id(attrs, "user", &uid);
        json_decref(attrs);
        if (!ok)
            return NULL;
        snprintf(path, sizeof path, "/users/%" PRId64, uid);
        return call_item(c, "GET", path, NULL, "user", e);
    }
    if (find_user(c, s, &user, e) == 0)
        fail(e, HC_NOT_FOUND, 404, "Pterodactyl has no user for this client");
    return user;
}

static int p_change_password(const struct panel_conn *c, const struct panel_service *s,
                             const char *new_password, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    static const char *const keep[] = {"email", "username", "first_name", "last_name"};
    json_t *user = NULL, *body = NULL, *root = NULL;
    int64_t uid = 0;
    char path[64];
    int rc = -1;
    if (!str_present(new_password)) {
        fail(e, HC_INVALID, 0, "the new password is empty");
        goto out;
    }
    if ((user = service_user(c, s, e)) == NULL)
        goto out;
    if (!attr_id(user, "id", &uid) || (body = json_object()) == NULL) {
        fail(e, HC_BAD_RESPONSE, 200, "Pterodactyl answered with a user without an id");
        goto out;
    }
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const json_t *v = json_object_get(user, keep[i]);
        if (!json_is_string(v)) {
            fail(e, HC_BAD_RESPONSE, 200, "Pterodactyl answered with a user without %s", keep[i]);
            goto out;
        }
        json_object_set(body, keep[i], (json_t *)v);
    }
    if (set_str(body, "password", new_password, e) != 0)
        goto out;
    snprintf(path, sizeof path, "/users/%" PRId64, uid);
    rc = call(c, "PATCH", path, body, &root, e);
out:
    json_decref(root);
    json_decref(body);
    json_decref(user);
    return rc;
}

static json_t *p_info(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    int64_t id = 0;
    if (server_must_exist(c, s, &id, e) != 0)
        return NULL;
    return ptero_get_server(c, id, e);
}

const struct panel_ops panel_pterodactyl = {
    .type = "pterodactyl",
    .test_connection = p_test_connection,
    .find = p_find,
    .create = p_create,
    .suspend = p_suspend,
    .unsuspend = p_unsuspend,
    .terminate = p_terminate,
    .change_package = p_change_package,
    .change_password = p_change_password,
    .info = p_info,
};

/* ---- ptero_* ---- */

json_t *ptero_get_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    char path[64];
    snprintf(path, sizeof path, "/servers/%" PRId64, server_id);
    return call_item(c, "GET", path, NULL, "server", e);
}

static int action_on(const struct panel_conn *c, const char *method, int64_t id, const char *suffix,
                     struct hc_error *e)
{
    char path[96];
    snprintf(path, sizeof path, "/servers/%" PRId64 "%s", id, suffix);
    return call_action(c, method, path, e);
}

int ptero_suspend_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return action_on(c, "POST", server_id, "/suspend", e);
}

int ptero_unsuspend_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return action_on(c, "POST", server_id, "/unsuspend", e);
}

int ptero_delete_server(const struct panel_conn *c, int64_t server_id, bool force,
                        struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return action_on(c, "DELETE", server_id, force ? "/force" : "", e);
}

int ptero_reinstall_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return action_on(c, "POST", server_id, "/reinstall", e);
}

json_t *ptero_update_build(const struct panel_conn *c, int64_t server_id, const json_t *build,
                           struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    char path[64];
    json_t *body = NULL, *cur = NULL, *attrs = NULL;
    int64_t alloc = 0;
    if (!json_is_object(build)) {
        fail(e, HC_INVALID, 0, "the build for Pterodactyl must be an object");
        return NULL;
    }
    if ((body = json_deep_copy(build)) == NULL) {
        fail(e, HC_INVALID, 0, "out of memory");
        return NULL;
    }
    if (json_object_get(body, "allocation") == NULL) {
        /* The panel wants the current primary allocation back (panels-detail §1.7). */
        if ((cur = ptero_get_server(c, server_id, e)) == NULL)
            goto out;
        if (!attr_id(cur, "allocation", &alloc)) {
            fail(e, HC_BAD_RESPONSE, 200, "Pterodactyl server %" PRId64 " has no allocation",
                 server_id);
            goto out;
        }
        if (set_int(body, "allocation", alloc, e) != 0)
            goto out;
    }
    snprintf(path, sizeof path, "/servers/%" PRId64 "/build", server_id);
    attrs = call_item(c, "PATCH", path, body, "server", e);
out:
    json_decref(cur);
    json_decref(body);
    return attrs;
}

json_t *ptero_update_startup(const struct panel_conn *c, int64_t server_id, const json_t *startup,
                             struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    char path[64];
    if (!json_is_object(startup)) {
        fail(e, HC_INVALID, 0, "the startup for Pterodactyl must be an object");
        return NULL;
    }
    snprintf(path, sizeof path, "/servers/%" PRId64 "/startup", server_id);
    return call_item(c, "PATCH", path, startup, "server", e);
}

json_t *ptero_list_servers(const struct panel_conn *c, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return list_all(c, "/servers", e);
}

json_t *ptero_list_locations(const struct panel_conn *c, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return list_all(c, "/locations", e);
}

json_t *ptero_list_nests(const struct panel_conn *c, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return list_all(c, "/nests", e);
}

json_t *ptero_list_eggs(const struct panel_conn *c, int64_t nest_id, struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    char path[96];
    snprintf(path, sizeof path, "/nests/%" PRId64 "/eggs?include=variables", nest_id);
    return list_all(c, path, e);
}

json_t *ptero_get_egg(const struct panel_conn *c, int64_t nest_id, int64_t egg_id,
                      struct hc_error *e)
{
    ERR_OR_LOCAL(e);
    return get_egg_attrs(c, nest_id, egg_id, e);
}
