/*
 * da_wire.c — how the DirectAdmin client talks: building and sending
 * requests (Basic auth, login-as, query or form parameters, `json=yes`),
 * classifying what came back (401, the old panels' HTML login page, the
 * brute-force blacklist, HTTP errors), and reading answers in either dialect
 * (v1 url-encoded, v2 JSON). This is the only file that branches on the API
 * version; directadmin.c sees normalised JSON.
 *
 * Threading: no global state; every function may run on any thread. The
 * parsers (da_parse_urlencoded, da_read_answer) do no I/O and are fuzzed.
 * Caveat: DirectAdmin's legacy API has no machine-readable contract, so the
 * readers accept the documented shapes and refuse everything else as
 * HC_BAD_RESPONSE rather than guess.
 */
#include "panels/da_wire.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

#define DA_MAX_BODY ((size_t)8 << 20)
#define DA_MAX_RESPONSE ((size_t)4 << 20)
#define DA_MAX_URL 16384
#define DA_MAX_FORM 65536
#define DA_RATE_PER_MINUTE 120
#define DA_TEXT_MAX 200

static const char LOGIN_REJECTED[] =
    "DirectAdmin rejected the login (check username and password or login key)";

/* ------------------------------------------------------------------------ */
/* Url-encoded answers                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Recognises an HTML entity at p[0..n) (p[0] == '&') by its syntax. Sets
 * *len to its length and *cp to the code point (0 when the number is not a
 * valid Unicode scalar value: decoded as U+FFFD). Returns false when p does
 * not start an entity, in which case '&' separates pairs.
 */
static bool entity_at(const char *p, size_t n, uint32_t *cp, size_t *len)
{
    static const struct {
        const char *name;
        uint32_t cp;
    } named[] = {{"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},
                 {"&quot;", '"'}, {"&apos;", '\''}, {"&nbsp;", 0xA0}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t k = strlen(named[i].name);
        if (n >= k && memcmp(p, named[i].name, k) == 0) {
            *cp = named[i].cp;
            *len = k;
            return true;
        }
    }
    if (n < 4 || p[1] != '#')
        return false;
    bool hex = p[2] == 'x' || p[2] == 'X';
    size_t i = hex ? 3 : 2, start = i, maxdigits = hex ? 6 : 7;
    uint32_t v = 0;
    for (; i < n && i - start < maxdigits; i++) {
        int d = hex_digit(p[i]);
        if (d < 0 || (!hex && d > 9))
            break;
        v = v * (hex ? 16 : 10) + (uint32_t)d;
    }
    if (i == start || i >= n || p[i] != ';')
        return false;
    *cp = (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) ? 0 : v;
    *len = i + 1;
    return true;
}

static int put_utf8(struct buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp == 0)
        cp = 0xFFFD;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t k;
    uint32_t cp, min;
    if ((p[0] & 0xE0) == 0xC0) {
        k = 2, cp = p[0] & 0x1F, min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        k = 3, cp = p[0] & 0x0F, min = 0x800;
    } else if ((p[0] & 0xF8) == 0xF0) {
        k = 4, cp = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

/*
 * Decodes one raw key or value: entities first, then percent-encoding and
 * '+', then anything that is not valid UTF-8 (and NUL) becomes U+FFFD.
 */
static int decode_part(const char *p, size_t n, struct buf *tmp, struct buf *out)
{
    int rc = 0;
    buf_reset(tmp);
    buf_reset(out);
    for (size_t i = 0; i < n && rc == 0;) {
        uint32_t cp;
        size_t elen;
        if (p[i] == '&' && entity_at(p + i, n - i, &cp, &elen)) {
            rc = put_utf8(tmp, cp);
            i += elen;
        } else {
            rc = buf_append_char(tmp, p[i]);
            i++;
        }
    }
    struct buf bytes; /* entities never decode longer than they are written */
    buf_init(&bytes, n + 16);
    const char *t = buf_cstr(tmp);
    for (size_t i = 0; i < tmp->len && rc == 0; i++) {
        int hi, lo;
        if (t[i] == '+') {
            rc = buf_append_char(&bytes, ' ');
        } else if (t[i] == '%' && i + 2 < tmp->len && (hi = hex_digit(t[i + 1])) >= 0 &&
                   (lo = hex_digit(t[i + 2])) >= 0) {
            rc = buf_append_char(&bytes, (char)(hi * 16 + lo));
            i += 2;
        } else {
            rc = buf_append_char(&bytes, t[i]);
        }
    }
    const unsigned char *u = (const unsigned char *)buf_cstr(&bytes);
    for (size_t i = 0; i < bytes.len && rc == 0;) {
        size_t k = u[i] == 0 ? 0 : utf8_seq(u + i, bytes.len - i);
        if (k == 0) {
            rc = put_utf8(out, 0xFFFD);
            i++;
        } else {
            rc = buf_append(out, u + i, k);
            i += k;
        }
    }
    buf_free(&bytes);
    return rc;
}

/* Stores one decoded pair: "name[]" appends to an array, else last wins. */
static int store_pair(json_t *obj, const char *key, size_t klen, const char *val)
{
    json_t *s = json_string(val);
    if (s == NULL)
        return LUMI_ENOMEM;
    if (klen >= 2 && strcmp(key + klen - 2, "[]") == 0) {
        char *name = str_ndup(key, klen - 2);
        if (name == NULL) {
            json_decref(s);
            return LUMI_ENOMEM;
        }
        json_t *arr = json_object_get(obj, name);
        int rc = 0;
        if (!json_is_array(arr)) {
            arr = json_array();
            if (arr == NULL || json_object_set_new(obj, name, arr) != 0)
                rc = LUMI_ENOMEM;
        }
        if (rc == 0 && json_array_append_new(arr, s) != 0)
            rc = LUMI_ENOMEM;
        else if (rc != 0)
            json_decref(s);
        free(name);
        return rc;
    }
    return json_object_set_new(obj, key, s) == 0 ? 0 : LUMI_ENOMEM;
}

/* Splits p[0..n) at the first '=' and stores the decoded pair. */
static int parse_pair(json_t *obj, const char *p, size_t n, struct buf *tmp, struct buf *key,
                      struct buf *val)
{
    const char *eq = memchr(p, '=', n);
    size_t klen = eq != NULL ? (size_t)(eq - p) : n;
    int rc = decode_part(p, klen, tmp, key);
    if (rc == 0)
        rc = eq != NULL ? decode_part(eq + 1, n - klen - 1, tmp, val) : (buf_reset(val), 0);
    if (rc != 0 || key->len == 0 || strcmp(buf_cstr(key), "[]") == 0)
        return rc; /* nameless pairs carry nothing a reader could ask for */
    return store_pair(obj, buf_cstr(key), key->len, buf_cstr(val));
}

int da_parse_urlencoded(const char *body, size_t len, json_t **out)
{
    struct buf tmp, key, val;
    json_t *obj = NULL;
    int rc = 0;
    *out = NULL;
    if (len > DA_MAX_BODY)
        return LUMI_ETOOLARGE;
    buf_init(&tmp, 4 * len + 16);
    buf_init(&key, 4 * len + 16);
    buf_init(&val, 4 * len + 16);
    obj = json_object();
    if (obj == NULL) {
        rc = LUMI_ENOMEM;
        goto out;
    }
    size_t start = 0;
    for (size_t i = 0; i <= len && rc == 0;) {
        uint32_t cp;
        size_t elen;
        if (i < len && body[i] == '&' && entity_at(body + i, len - i, &cp, &elen)) {
            i += elen;
            continue;
        }
        if (i == len || body[i] == '&') {
            if (i > start)
                rc = parse_pair(obj, body + start, i - start, &tmp, &key, &val);
            start = i + 1;
        }
        i++;
    }
    if (rc == 0) {
        *out = obj;
        obj = NULL;
    }
out:
    json_decref(obj);
    buf_free(&tmp);
    buf_free(&key);
    buf_free(&val);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading answers                                                          */
/* ------------------------------------------------------------------------ */

/* Copies s into out on one line, at most DA_TEXT_MAX bytes, controls as spaces. */
static void one_line(const char *s, char *out, size_t outsz)
{
    size_t j = 0;
    for (size_t i = 0; s != NULL && s[i] != '\0' && j + 1 < outsz && i < DA_TEXT_MAX; i++)
        out[j++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
}

static const char *member_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* HC_INVALID "DirectAdmin CMD_X failed: text: details" (either part may be missing). */
static int refused(struct hc_error *e, const char *cmd, const char *text, const char *details)
{
    char t[DA_TEXT_MAX + 1], d[DA_TEXT_MAX + 1];
    one_line(text, t, sizeof t);
    one_line(details, d, sizeof d);
    if (t[0] != '\0' && d[0] != '\0' && strcmp(t, d) != 0)
        return hc_fail(e, HC_INVALID, "DirectAdmin %s failed: %s: %s", cmd, t, d);
    if (t[0] != '\0' || d[0] != '\0')
        return hc_fail(e, HC_INVALID, "DirectAdmin %s failed: %s", cmd, t[0] ? t : d);
    return hc_fail(e, HC_INVALID, "DirectAdmin %s failed without saying why", cmd);
}

static int not_an_answer(struct hc_error *e, const char *cmd, const char *why)
{
    return hc_fail(e, HC_BAD_RESPONSE, "DirectAdmin answered %s with %s", cmd, why);
}

/* Legacy keys are identifiers, domain names or addresses; anything else is not DirectAdmin. */
static bool plausible_key(const char *k)
{
    for (; *k; k++) {
        char ch = *k;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-' || ch == '@' ||
                  ch == ':';
        if (!ok)
            return false;
    }
    return true;
}

static json_t *action_result(const char *text, const char *details)
{
    return json_pack("{s:s, s:s}", "text", text ? text : "", "details", details ? details : "");
}

static int read_v1(const char *cmd, const char *body, size_t len, enum da_shape shape, json_t **out,
                   struct hc_error *e)
{
    json_t *obj = NULL;
    int rc = -1;
    const char *key;
    json_t *v;
    if (da_parse_urlencoded(body, len, &obj) != 0) {
        rc = not_an_answer(e, cmd, "an answer too large to read");
        goto out;
    }
    json_object_foreach(obj, key, v)
    {
        if (!plausible_key(key)) {
            rc = not_an_answer(e, cmd, "something that is not a DirectAdmin API answer");
            goto out;
        }
    }
    const char *err = member_str(obj, "error");
    if (err != NULL && strcmp(err, "0") != 0) {
        rc = refused(e, cmd, member_str(obj, "text"), member_str(obj, "details"));
        goto out;
    }
    switch (shape) {
    case DA_ACTION:
        if (err == NULL) {
            rc = not_an_answer(e, cmd, "no 'error' field");
            goto out;
        }
        *out = action_result(member_str(obj, "text"), member_str(obj, "details"));
        break;
    case DA_LIST:
        v = json_object_get(obj, "list");
        if (json_is_array(v))
            *out = json_incref(v);
        else if (json_object_size(obj) == 0 || (err != NULL && v == NULL))
            *out = json_array(); /* DirectAdmin answers an empty list with nothing */
        else {
            rc = not_an_answer(e, cmd, "something that is not a list");
            goto out;
        }
        break;
    case DA_RECORD:
        if (json_object_size(obj) == 0) {
            rc = not_an_answer(e, cmd, "an empty answer");
            goto out;
        }
        *out = json_incref(obj);
        break;
    }
    rc = *out != NULL ? 0 : hc_fail(e, HC_BAD_RESPONSE, "out of memory reading DirectAdmin");
out:
    json_decref(obj);
    return rc;
}

/* The v2 failure test: a non-empty "error" other than "0" (DirectAdmin mixes both styles). */
static bool v2_failed(const json_t *obj, const char **text, const char **details)
{
    json_t *err = json_object_get(obj, "error");
    const char *s = json_string_value(err);
    if (err == NULL || json_is_false(err) || json_is_null(err) ||
        (s != NULL && (s[0] == '\0' || strcmp(s, "0") == 0)))
        return false;
    bool numeric = s == NULL || strcmp(s, "1") == 0;
    *text = numeric ? member_str(obj, "text") : s;
    *details = member_str(obj, "result");
    if (*details == NULL)
        *details = member_str(obj, "details");
    return true;
}

static bool all_strings(const json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

static int read_v2(const char *cmd, const char *body, size_t len, enum da_shape shape, json_t **out,
                   struct hc_error *e)
{
    struct lumi_err perr;
    const char *text = NULL, *details = NULL;
    int rc = -1;
    json_t *doc = jsonx_parse(body, len, JSONX_MAX_DEPTH, &perr);
    if (doc == NULL)
        return not_an_answer(e, cmd, "invalid JSON");
    if (json_is_object(doc) && v2_failed(doc, &text, &details)) {
        rc = refused(e, cmd, text, details);
        goto out;
    }
    switch (shape) {
    case DA_ACTION:
        if (!json_is_object(doc)) {
            rc = not_an_answer(e, cmd, "JSON that is not an object");
            goto out;
        }
        text = member_str(doc, "success");
        if (text == NULL)
            text = member_str(doc, "text");
        details = member_str(doc, "result");
        if (details == NULL)
            details = member_str(doc, "details");
        *out = action_result(text, details);
        break;
    case DA_LIST: {
        json_t *arr = json_is_object(doc) ? json_object_get(doc, "list") : doc;
        if (!json_is_array(arr) || !all_strings(arr)) {
            rc = not_an_answer(e, cmd, "JSON that is not a list of names");
            goto out;
        }
        *out = json_incref(arr);
        break;
    }
    case DA_RECORD:
        if (!json_is_object(doc)) {
            rc = not_an_answer(e, cmd, "JSON that is not an object");
            goto out;
        }
        *out = json_incref(doc);
        break;
    }
    rc = *out != NULL ? 0 : hc_fail(e, HC_BAD_RESPONSE, "out of memory reading DirectAdmin");
out:
    json_decref(doc);
    return rc;
}

int da_read_answer(enum da_api api, const char *cmd, const char *body, size_t len,
                   enum da_shape shape, json_t **out, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    *out = NULL;
    if (api == DA_API_V1)
        return read_v1(cmd, body, len, shape, out, e);
    return read_v2(cmd, body, len, shape, out, e);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

/* "v1" → v1; unset, "" or "v2" → v2; anything else is a configuration error. */
static int api_of(const struct panel_conn *c, enum da_api *api, struct hc_error *e)
{
    const char *v = c->api_version;
    if (v == NULL || v[0] == '\0' || strcmp(v, "v2") == 0) {
        *api = DA_API_V2;
        return 0;
    }
    if (strcmp(v, "v1") == 0) {
        *api = DA_API_V1;
        return 0;
    }
    return hc_fail(e, HC_INVALID, "DirectAdmin API version must be v1 or v2, not '%.32s'", v);
}

/* Appends the base URL without its trailing slashes, after checking it and the login. */
static int base_url(const struct panel_conn *c, struct buf *url, struct hc_error *e)
{
    const char *u = c->url;
    if (u == NULL || (!str_starts_with(u, "http://") && !str_starts_with(u, "https://")))
        return hc_fail(e, HC_INVALID,
                       "DirectAdmin URL must start with https:// (or http://), e.g. "
                       "https://panel.example.com:2222");
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        n--;
    if (n <= strlen("https://") - (str_starts_with(u, "http://") ? 1 : 0))
        return hc_fail(e, HC_INVALID, "DirectAdmin URL has no host name");
    if (!str_present(c->username) || c->password == NULL || c->password[0] == '\0')
        return hc_fail(e, HC_INVALID, "DirectAdmin needs a username and a password or login key");
    if (buf_append(url, u, n) != 0)
        return hc_fail(e, HC_INVALID, "DirectAdmin URL is too long");
    return 0;
}

static int append_params(struct buf *b, const struct da_param *params, bool first)
{
    int rc = 0;
    for (size_t i = 0; params != NULL && params[i].name != NULL && rc == 0; i++) {
        if (!first)
            rc = buf_append_char(b, '&');
        first = false;
        if (rc == 0)
            rc = hc_url_escape(b, params[i].name);
        if (rc == 0)
            rc = buf_append_char(b, '=');
        if (rc == 0)
            rc = hc_url_escape(b, params[i].value != NULL ? params[i].value : "");
    }
    return rc;
}

/* What one request needs besides the URL; the wire fills the rest. */
struct da_send {
    const char *method;
    const char *as_user;      /* login-as, or NULL */
    const char *content_type; /* of body, or NULL */
    const char *body;
    size_t body_len;
    bool want_json; /* Accept: application/json */
};

static int perform(const struct panel_conn *c, const struct da_send *s, const char *url,
                   struct hc_response *res, struct hc_error *e)
{
    char login[512], rate_key[64], ctype[128];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t nh = 0;
    int n = s->as_user != NULL ? snprintf(login, sizeof login, "%s|%s", c->username, s->as_user)
                               : snprintf(login, sizeof login, "%s", c->username);
    if (n < 0 || (size_t)n >= sizeof login)
        return hc_fail(e, HC_INVALID, "DirectAdmin login name is too long");
    snprintf(rate_key, sizeof rate_key, "panel:%lld", (long long)c->server_id);
    if (s->content_type != NULL) {
        snprintf(ctype, sizeof ctype, "Content-Type: %s", s->content_type);
        headers[nh++] = ctype;
    }
    if (s->want_json)
        headers[nh++] = "Accept: application/json";
    struct hc_request req = {
        .method = s->method,
        .url = url,
        .headers = headers,
        .body = s->body,
        .body_len = s->body_len,
        .basic_user = login,
        .basic_password = c->password,
        .connect_timeout_ms = c->connect_timeout_ms,
        .timeout_ms = c->timeout_ms,
        .max_response = DA_MAX_RESPONSE,
        .ca_file = c->ca_file,
        .rate_key = c->server_id > 0 ? rate_key : NULL, /* unsaved panel: no shared budget */
        .rate_per_minute = c->rate_per_minute > 0 ? c->rate_per_minute : DA_RATE_PER_MINUTE,
    };
    return hc_perform(&req, res, e);
}

static bool looks_html(const struct hc_response *res)
{
    char ct[128];
    if (hc_header(res, "Content-Type", ct, sizeof ct) != NULL && strcasestr(ct, "html") != NULL)
        return true;
    const char *b = buf_cstr(&res->body);
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    return *b == '<';
}

/* A message from an error body: new API {"message"}, json=yes {"error","result"}, v1 text/details.
 */
static void body_reason(const struct hc_response *res, char *out, size_t outsz)
{
    struct lumi_err perr;
    json_t *doc = NULL;
    const char *text = NULL, *details = NULL;
    char t[DA_TEXT_MAX + 1], d[DA_TEXT_MAX + 1];
    out[0] = '\0';
    if (res->body.len == 0 || res->body.len > 65536 || looks_html(res))
        return;
    doc = jsonx_parse(buf_cstr(&res->body), res->body.len, JSONX_MAX_DEPTH, &perr);
    if (json_is_object(doc)) {
        text = member_str(doc, "message");
        if (text == NULL)
            v2_failed(doc, &text, &details);
    } else if (doc == NULL && da_parse_urlencoded(buf_cstr(&res->body), res->body.len, &doc) == 0) {
        text = member_str(doc, "text");
        details = member_str(doc, "details");
    }
    one_line(text, t, sizeof t);
    one_line(details, d, sizeof d);
    if (t[0] != '\0' && d[0] != '\0')
        snprintf(out, outsz, ": %s: %s", t, d);
    else if (t[0] != '\0' || d[0] != '\0')
        snprintf(out, outsz, ": %s", t[0] ? t : d);
    json_decref(doc);
}

/*
 * Turns an HTTP answer that is not a usable 2xx into an error. `what` names
 * the command or path. The blacklist text wins over any status: DirectAdmin
 * sends it with whatever code its version uses.
 */
static int check_http(const struct hc_response *res, const char *what, struct hc_error *e)
{
    int rc = 0;
    char reason[2 * DA_TEXT_MAX + 8];
    const char *body = buf_cstr(&res->body);
    if (strstr(body, "Your IP is blacklisted") != NULL) {
        rc = hc_fail(e, HC_AUTH,
                     "DirectAdmin: Your IP is blacklisted (remove Lumi's address from the "
                     "panel's brute-force blacklist, then check the login)");
    } else if (res->status == 401) {
        rc = hc_fail(e, HC_AUTH, "%s", LOGIN_REJECTED);
    } else if (res->status == 403) {
        body_reason(res, reason, sizeof reason);
        rc = hc_fail(e, HC_AUTH,
                     "DirectAdmin refused %s for this login%s (a login key may not allow it)", what,
                     reason);
    } else if (res->status >= 300 && res->status < 400) {
        char loc[256];
        if (hc_header(res, "Location", loc, sizeof loc) == NULL)
            loc[0] = '\0';
        rc = hc_fail(e, HC_BAD_RESPONSE,
                     "DirectAdmin redirected %s (HTTP %ld) to '%s': check the URL", what,
                     res->status, loc);
    } else if (res->status < 200 || res->status >= 300) {
        hc_classify(res, "DirectAdmin", e);
        body_reason(res, reason, sizeof reason);
        char after[32] = "";
        if (e->retry_after_s > 0)
            snprintf(after, sizeof after, " (retry after %d s)", e->retry_after_s);
        snprintf(e->message, sizeof e->message, "DirectAdmin answered HTTP %ld to %s%s%s",
                 res->status, what, after, reason);
        rc = -1;
    } else if (looks_html(res)) {
        if (strcasestr(body, "login") != NULL)
            rc = hc_fail(e, HC_AUTH, "%s", LOGIN_REJECTED);
        else
            rc = hc_fail(e, HC_BAD_RESPONSE,
                         "DirectAdmin answered %s with an HTML page, not an API answer "
                         "(is the URL the panel's own address and port?)",
                         what);
    }
    if (rc != 0)
        e->http_status = res->status;
    return rc;
}

/* "<base>/CMD_X?<query params>", with json=yes in v2 (for GET and POST alike). */
static int command_url(struct buf *url, const char *cmd, const struct da_param *query,
                       enum da_api api)
{
    bool has_query = query != NULL && query[0].name != NULL;
    if (buf_printf(url, "/%s", cmd) != 0)
        return -1;
    if (has_query && (buf_append_char(url, '?') != 0 || append_params(url, query, true) != 0))
        return -1;
    if (api == DA_API_V2 && buf_append_str(url, has_query ? "&json=yes" : "?json=yes") != 0)
        return -1;
    return 0;
}

/*
 * A legacy command. *panel_refused is set when DirectAdmin answered and
 * said no (error=1 / "error"), as opposed to failing to answer sensibly.
 */
static int legacy_call(const struct panel_conn *c, const char *method, const char *cmd,
                       const char *as_user, const struct da_param *params, enum da_shape shape,
                       json_t **out, bool *panel_refused, struct hc_error *e)
{
    struct buf url, form;
    struct hc_response res;
    enum da_api api = DA_API_V1; /* set below before any use; quiets -O3 */
    bool post = strcmp(method, "POST") == 0;
    int rc = -1;
    *out = NULL;
    if (panel_refused != NULL)
        *panel_refused = false;
    buf_init(&url, DA_MAX_URL);
    buf_init(&form, DA_MAX_FORM);
    memset(&res, 0, sizeof res);
    if (api_of(c, &api, e) != 0 || base_url(c, &url, e) != 0)
        goto out;
    if (command_url(&url, cmd, post ? NULL : params, api) != 0 ||
        (post && append_params(&form, params, true) != 0)) {
        hc_fail(e, HC_INVALID, "DirectAdmin %s: parameters too long", cmd);
        goto out;
    }
    struct da_send s = {
        .method = method,
        .as_user = as_user,
        .content_type = post ? "application/x-www-form-urlencoded" : NULL,
        .body = post ? buf_cstr(&form) : NULL,
        .body_len = post ? form.len : 0,
    };
    if (perform(c, &s, buf_cstr(&url), &res, e) != 0 || check_http(&res, cmd, e) != 0)
        goto out;
    rc = da_read_answer(api, cmd, buf_cstr(&res.body), res.body.len, shape, out, e);
    if (rc != 0) {
        e->http_status = res.status;
        if (panel_refused != NULL)
            *panel_refused = e->cls == HC_INVALID;
    }
out:
    hc_response_free(&res);
    buf_free(&url);
    buf_free(&form);
    return rc;
}

int da_wire_command(const struct panel_conn *c, const char *method, const char *cmd,
                    const char *as_user, const struct da_param *params, enum da_shape shape,
                    json_t **out, struct hc_error *e)
{
    return legacy_call(c, method, cmd, as_user, params, shape, out, NULL, e);
}

/*
 * A request to DirectAdmin's JSON API (v2 only): path under the base URL,
 * optional JSON body. 1 with *out (the parsed 2xx answer; null for an empty
 * one), 0 on 404 when absent_ok, -1 with e.
 */
static int json_api_call(const struct panel_conn *c, const char *method, const char *path,
                         const char *as_user, const json_t *body, bool absent_ok, json_t **out,
                         struct hc_error *e)
{
    struct buf url;
    struct hc_response res;
    struct lumi_err perr;
    char *text = NULL;
    int rc = -1;
    *out = NULL;
    buf_init(&url, DA_MAX_URL);
    memset(&res, 0, sizeof res);
    if (base_url(c, &url, e) != 0)
        goto out;
    if (buf_append_str(&url, path) != 0) {
        hc_fail(e, HC_INVALID, "DirectAdmin request path too long");
        goto out;
    }
    if (body != NULL && (text = jsonx_dump(body)) == NULL) {
        hc_fail(e, HC_INVALID, "out of memory building a DirectAdmin request");
        goto out;
    }
    struct da_send s = {
        .method = method,
        .as_user = as_user,
        .content_type = text != NULL ? "application/json" : NULL,
        .body = text,
        .body_len = text != NULL ? strlen(text) : 0,
        .want_json = true,
    };
    if (perform(c, &s, buf_cstr(&url), &res, e) != 0)
        goto out;
    if (absent_ok && res.status == 404 && !looks_html(&res)) {
        rc = 0;
        goto out;
    }
    if (check_http(&res, path, e) != 0)
        goto out;
    if (res.body.len == 0) {
        *out = json_null();
    } else if ((*out = jsonx_parse(buf_cstr(&res.body), res.body.len, JSONX_MAX_DEPTH, &perr)) ==
               NULL) {
        hc_fail(e, HC_BAD_RESPONSE, "DirectAdmin answered %s with invalid JSON", path);
        e->http_status = res.status;
        goto out;
    }
    rc = 1;
out:
    if (text != NULL) {
        memset(text, 0, strlen(text)); /* it may hold a password */
        free(text);
    }
    hc_response_free(&res);
    buf_free(&url);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Operations whose wire form differs between v1 and v2                     */
/* ------------------------------------------------------------------------ */

int da_wire_user_record(const struct panel_conn *c, const char *username, json_t **out,
                        struct hc_error *e)
{
    const struct da_param params[] = {{"user", username}, {NULL, NULL}};
    bool no = false;
    /* DirectAdmin has no "not found" status here: error=1 is how it says so. */
    if (legacy_call(c, "GET", "CMD_API_SHOW_USER_CONFIG", NULL, params, DA_RECORD, out, &no, e) ==
        0)
        return 1;
    return no ? 0 : -1;
}

static int user_path(struct buf *path, const char *username)
{
    if (buf_append_str(path, "/api/users/") != 0 || hc_url_escape(path, username) != 0 ||
        buf_append_str(path, "/config") != 0)
        return -1;
    return 0;
}

int da_wire_user_config(const struct panel_conn *c, const char *username, json_t **out,
                        struct hc_error *e)
{
    enum da_api api;
    struct buf path;
    int rc = -1;
    *out = NULL;
    if (api_of(c, &api, e) != 0)
        return -1;
    if (api == DA_API_V1)
        return da_wire_user_record(c, username, out, e);
    buf_init(&path, 1024);
    if (user_path(&path, username) != 0) {
        hc_fail(e, HC_INVALID, "DirectAdmin username too long");
        goto out;
    }
    rc = json_api_call(c, "GET", buf_cstr(&path), NULL, NULL, true, out, e);
    if (rc == 1 && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = hc_fail(e, HC_BAD_RESPONSE, "DirectAdmin answered %s with JSON that is not an object",
                     buf_cstr(&path));
    }
out:
    buf_free(&path);
    return rc;
}

static int login_test_v1(const struct panel_conn *c, char *msg, size_t msgsz, struct hc_error *e)
{
    json_t *list = NULL;
    bool no = false;
    const char *as = "";
    /* An admin may list every account; a reseller only its own. */
    if (legacy_call(c, "GET", "CMD_API_SHOW_ALL_USERS", NULL, NULL, DA_LIST, &list, &no, e) != 0) {
        if (!no ||
            da_wire_command(c, "GET", "CMD_API_SHOW_USERS", NULL, NULL, DA_LIST, &list, e) != 0)
            return -1;
        as = " as reseller";
    }
    snprintf(msg, msgsz, "Connected to DirectAdmin%s (legacy API): %zu accounts", as,
             json_array_size(list));
    json_decref(list);
    return 0;
}

static int login_test_v2(const struct panel_conn *c, char *msg, size_t msgsz, struct hc_error *e)
{
    json_t *session = NULL;
    int rc = json_api_call(c, "GET", "/api/session", NULL, NULL, false, &session, e);
    if (rc != 1) {
        if (e->http_status == 404) {
            hc_fail(e, HC_NOT_FOUND,
                    "DirectAdmin has no JSON API at this URL (HTTP 404 for /api/session): "
                    "use API version v1 for older panels");
            e->http_status = 404;
        }
        return -1;
    }
    const char *user = member_str(session, "effectiveUsername");
    const char *role = member_str(session, "effectiveRole");
    char u[65], r[33];
    one_line(user, u, sizeof u);
    one_line(role, r, sizeof r);
    if (u[0] != '\0' && r[0] != '\0')
        snprintf(msg, msgsz, "Connected to DirectAdmin as %s (%s)", u, r);
    else if (u[0] != '\0')
        snprintf(msg, msgsz, "Connected to DirectAdmin as %s", u);
    else
        snprintf(msg, msgsz, "Connected to DirectAdmin");
    json_decref(session);
    return 0;
}

int da_wire_login_test(const struct panel_conn *c, char *msg, size_t msgsz, struct hc_error *e)
{
    enum da_api api;
    if (api_of(c, &api, e) != 0)
        return -1;
    return api == DA_API_V1 ? login_test_v1(c, msg, msgsz, e) : login_test_v2(c, msg, msgsz, e);
}

/* "<user>_<name>" unless name already carries the prefix (the JSON API wants it whole). */
static char *prefixed(const char *username, const char *name)
{
    struct buf b;
    size_t ul = strlen(username);
    buf_init(&b, 512);
    if (strncmp(name, username, ul) == 0 && name[ul] == '_')
        buf_append_str(&b, name);
    else
        buf_printf(&b, "%s_%s", username, name);
    return b.len > 0 ? buf_steal(&b) : NULL;
}

int da_wire_create_database(const struct panel_conn *c, const char *username, const char *name,
                            const char *dbuser, const char *password, struct hc_error *e)
{
    enum da_api api;
    json_t *out = NULL, *body = NULL;
    char *db = NULL, *du = NULL;
    int rc = -1;
    if (api_of(c, &api, e) != 0)
        return -1;
    if (api == DA_API_V1) {
        const struct da_param params[] = {{"action", "create"},  {"name", name},
                                          {"user", dbuser},      {"passwd", password},
                                          {"passwd2", password}, {NULL, NULL}};
        rc = da_wire_command(c, "POST", "CMD_API_DATABASES", username, params, DA_ACTION, &out, e);
        goto out;
    }
    db = prefixed(username, name);
    du = prefixed(username, dbuser);
    body = json_pack("{s:s?, s:s?, s:s}", "database", db, "dbuser", du, "password", password);
    if (db == NULL || du == NULL || body == NULL) {
        hc_fail(e, HC_INVALID, "out of memory building a DirectAdmin request");
        goto out;
    }
    rc = json_api_call(c, "POST", "/api/db-manage/create-db-with-user", username, body, false, &out,
                       e) == 1
             ? 0
             : -1;
out:
    json_decref(out);
    json_decref(body);
    free(db);
    free(du);
    return rc;
}
