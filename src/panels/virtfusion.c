/*
 * virtfusion.c — the VirtFusion API v1 client (see virtfusion.h): one request
 * helper that adds the base path, token, JSON headers and rate limit and maps
 * VirtFusion's error answers; the panel_ops of panel.h; the extra VPS calls.
 *
 * Threading: no state at all between calls; any thread may call anything
 * (the only shared thing, the rate limit, lives in http_client.c).
 *
 * Exactly-once creation. VirtFusion has no external id for servers, so Lumi
 * keeps its key in the server's `name`; a user carries Lumi's client id as
 * `extRelationId`. create runs: user (found by extRelationId, else POST
 * /users) → POST /servers?dryRun=true → POST /servers → name the server
 * (POST /servers/{id}/build with `name` when the product has an OS template,
 * else PUT /servers/{id}/modify/name). POST /servers takes no name, so if its
 * answer is lost (or naming fails) the user is left with a server that does
 * not carry the key, which find() cannot see. find() stays read-only and says
 * "not there"; create() then looks for such an orphan before creating
 * anything and resumes it instead (names it, builds it) when there is exactly
 * one: a server of that user, on the product's package, not built, whose name
 * does not look like any Lumi key (see looks_like_key). Two or more such
 * servers → a permanent error naming their ids for an admin to resolve;
 * nothing is created. Caveats: Lumi must not run two creates for the same
 * client and package at once (one could resume the other's orphan); an orphan
 * left on a package that the product no longer uses is not resumed.
 */
#include "panels/virtfusion.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/str.h"

#define URL_MAX 4096
#define AUTH_MAX 4096
#define PATH_MAX_LEN 512
#define MAX_PAGES 1000
#define LIST_PER_PAGE 100
#define ERRMSG_MAX 320
#define MAX_ERRORS 16
#define NAME_MAX_LEN 191
#define ORPHANS_SHOWN 4

/* What the product's config says (DESIGN.md "Product config per panel type"). */
struct vf_conf {
    int64_t package_id;
    int64_t group_id;
    int64_t ipv4;
    int64_t os_template_id; /* 0: no build */
    const char *hostname;   /* borrowed from the config */
};

/* The fields of a server object Lumi looks at (name borrowed from the JSON). */
struct srv {
    int64_t id;
    int64_t owner; /* 0: the object does not say */
    int64_t package_id;
    const char *name;
    bool suspended;
    bool built;
};

/* A user's server list, sorted out for one service key. */
struct match {
    int64_t id; /* the server named remote_key, 0 if none */
    bool suspended;
    size_t orphans; /* servers that may come from an interrupted create */
    int64_t orphan_ids[ORPHANS_SHOWN];
};

static struct hc_error *use_err(struct hc_error *e, struct hc_error *scratch)
{
    struct hc_error *r = e != NULL ? e : scratch;
    memset(r, 0, sizeof(*r));
    return r;
}

/* Prefixes e's message with the call it came from (messages may be cut). */
static void reword(struct hc_error *e, const char *method, const char *path)
{
    char tmp[HC_MSG_MAX];
    str_copy(tmp, e->message, sizeof(tmp));
    int n = snprintf(e->message, sizeof(e->message), "VirtFusion (%s %s): %s", method, path, tmp);
    if (n < 0)
        str_copy(e->message, tmp, sizeof(e->message));
}

/* Quotes outside text for a message: printable ASCII only, cut to outsz. */
static const char *printable(const char *s, char *out, size_t outsz)
{
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i + 1 < outsz; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
    return out;
}

static int fmt_path(char *out, size_t outsz, struct hc_error *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fmt_path(char *out, size_t outsz, struct hc_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outsz)
        return hc_fail(e, HC_INVALID, "VirtFusion request path too long");
    return 0;
}

/* ---- JSON field readers ---- */

/* A positive id: a JSON integer, or a decimal string (some panels quote ids). */
static bool get_id(const json_t *v, int64_t *out)
{
    int64_t x = 0;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (!json_is_string(v) || str_to_i64z(json_string_value(v), 1, INT64_MAX, &x) != 0)
        return false;
    if (x <= 0)
        return false;
    *out = x;
    return true;
}

/* A flag as VirtFusion writes it: true/false or 0/1. */
static bool get_flag(const json_t *v, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v) != 0;
        return true;
    }
    return false;
}

static int srv_read(const json_t *o, struct srv *s)
{
    memset(s, 0, sizeof(*s));
    if (!json_is_object(o) || !get_id(json_object_get(o, "id"), &s->id))
        return -1;
    const json_t *owner = json_object_get(o, "owner");
    if (!json_is_object(owner) || !get_id(json_object_get(owner, "id"), &s->owner))
        get_id(json_object_get(o, "ownerId"), &s->owner);
    get_id(json_object_get(o, "packageId"), &s->package_id);
    s->name = json_string_value(json_object_get(o, "name"));
    get_flag(json_object_get(o, "suspended"), &s->suspended);
    get_flag(json_object_get(o, "built"), &s->built);
    return 0;
}

static void srv_result(const struct srv *s, struct panel_result *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->external_id, sizeof(out->external_id), "%" PRId64, s->id);
    if (s->owner > 0)
        snprintf(out->panel_user_id, sizeof(out->panel_user_id), "%" PRId64, s->owner);
    out->suspended = s->suspended;
}

/* ---- error bodies ---- */

struct joiner {
    char *out;
    size_t outsz, len;
    int count;
    bool full;
};

/* Appends one message: "; " between messages, control characters blanked,
 * cut on a UTF-8 character boundary when out is full. */
static void join_add(struct joiner *j, const char *s)
{
    if (s == NULL || s[0] == '\0' || j->count >= MAX_ERRORS)
        return;
    j->count++;
    if (j->full)
        return;
    if (j->len > 0) {
        if (j->len + 2 >= j->outsz) {
            j->full = true;
            return;
        }
        memcpy(j->out + j->len, "; ", 2);
        j->len += 2;
    }
    size_t n = strlen(s), room = j->outsz - 1 - j->len;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        j->full = true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        j->out[j->len++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    j->out[j->len] = '\0';
}

/* A string, an array of strings, or objects carrying one (detail/message/msg). */
static void join_value(struct joiner *j, const json_t *v, int depth)
{
    if (json_is_string(v)) {
        join_add(j, json_string_value(v));
    } else if (json_is_array(v) && depth < 2) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            join_value(j, item, depth + 1);
        }
    } else if (json_is_object(v) && depth < 2) {
        static const char *const keys[] = {"detail", "message", "msg", NULL};
        for (size_t k = 0; keys[k] != NULL; k++) {
            const json_t *m = json_object_get(v, keys[k]);
            if (json_is_string(m)) {
                join_add(j, json_string_value(m));
                return;
            }
        }
    }
}

int vf_parse_errors(const char *body, size_t len, char *out, size_t outsz)
{
    struct lumi_err lerr;
    if (out == NULL || outsz == 0)
        return 0;
    out[0] = '\0';
    if (body == NULL || len == 0)
        return 0;
    json_t *j = jsonx_parse(body, len, JSONX_MAX_DEPTH, &lerr);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    struct joiner jn = {.out = out, .outsz = outsz};
    json_t *errs = json_object_get(j, "errors");
    if (json_is_array(errs)) {
        join_value(&jn, errs, 0);
    } else if (json_is_object(errs)) {
        /* Laravel: {"field": ["message", …]}; the messages name their field. */
        const char *key;
        json_t *v;
        json_object_foreach(errs, key, v)
        {
            join_value(&jn, v, 1);
        }
    }
    if (jn.count == 0)
        join_value(&jn, json_object_get(j, "msg"), 0);
    if (jn.count == 0)
        join_value(&jn, json_object_get(j, "message"), 0);
    json_decref(j);
    return jn.count;
}

int vf_parse_server(const char *body, size_t len, struct panel_result *out, struct hc_error *e)
{
    struct hc_error scratch;
    struct lumi_err lerr;
    struct srv s;
    int rc = -1;
    e = use_err(e, &scratch);
    memset(out, 0, sizeof(*out));
    json_t *j = jsonx_parse(body, body != NULL ? len : 0, JSONX_MAX_DEPTH, &lerr);
    if (j == NULL) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered a server that is not JSON: %s", lerr.msg);
        goto out;
    }
    if (srv_read(json_object_get(j, "data"), &s) != 0) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered a server without data.id");
        goto out;
    }
    srv_result(&s, out);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ---- matching a user's servers against a service key ---- */

static bool is_sep(char c)
{
    return !isalnum((unsigned char)c);
}

/*
 * Whether name could be another service's Lumi key, judged by the shape of
 * this service's key: the same prefix up to and including the key's last
 * separator ("lumi-svc-" of "lumi-svc-42"; the leading letters when there is
 * no separator), or the same length with separators at the same places
 * (UUID-like keys). When in doubt it says yes: a server that might be
 * another service's is never resumed as an orphan.
 */
static bool looks_like_key(const char *name, const char *key)
{
    size_t kl = strlen(key), nl = strlen(name), plen = 0;
    for (size_t i = 0; i < kl; i++)
        if (is_sep(key[i]))
            plen = i + 1;
    if (plen == 0)
        while (plen < kl && isalpha((unsigned char)key[plen]))
            plen++;
    if (plen == 0) /* all digits: any all-digit name */
        return nl > 0 && strspn(name, "0123456789") == nl;
    if (nl >= plen && strncmp(name, key, plen) == 0)
        return true;
    if (nl != kl)
        return false;
    for (size_t i = 0; i < kl; i++)
        if (is_sep(key[i]) != is_sep(name[i]))
            return false;
    return true;
}

static int match_servers(const json_t *servers, const char *remote_key, int64_t user_id,
                         int64_t package_id, struct match *m, struct hc_error *e)
{
    char q[112];
    memset(m, 0, sizeof(*m));
    if (!json_is_array(servers))
        return hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered a server list that is not a list");
    size_t i;
    const json_t *item;
    json_array_foreach(servers, i, item)
    {
        struct srv s;
        const char *name = json_string_value(json_object_get(item, "name"));
        if (str_eq(name, remote_key)) {
            if (srv_read(item, &s) != 0)
                return hc_fail(e, HC_BAD_RESPONSE, "VirtFusion listed server '%s' without an id",
                               printable(remote_key, q, sizeof(q)));
            if (s.owner == 0)
                return hc_fail(e, HC_BAD_RESPONSE,
                               "VirtFusion server %" PRId64 " is named '%s' but its answer does "
                               "not say who owns it; refusing to adopt it",
                               s.id, printable(remote_key, q, sizeof(q)));
            if (s.owner != user_id)
                return hc_fail(e, HC_INVALID,
                               "VirtFusion server %" PRId64 " is named '%s' but belongs to user "
                               "%" PRId64 ", not %" PRId64 "; refusing to adopt it",
                               s.id, printable(remote_key, q, sizeof(q)), s.owner, user_id);
            if (m->id != 0)
                return hc_fail(e, HC_INVALID,
                               "VirtFusion user %" PRId64 " has two servers named '%s' (%" PRId64
                               " and %" PRId64 "); delete or rename one",
                               user_id, printable(remote_key, q, sizeof(q)), m->id, s.id);
            m->id = s.id;
            m->suspended = s.suspended;
            continue;
        }
        if (srv_read(item, &s) != 0 || s.owner != user_id || s.built)
            continue;
        if (s.package_id != 0 && s.package_id != package_id)
            continue;
        if (name != NULL && looks_like_key(name, remote_key))
            continue;
        if (m->orphans < ORPHANS_SHOWN)
            m->orphan_ids[m->orphans] = s.id;
        m->orphans++;
    }
    return 0;
}

/* ---- the request helper ---- */

static int build_url(const struct panel_conn *c, const char *path, struct buf *url,
                     struct hc_error *e)
{
    const char *u = c->url;
    if (!str_present(u))
        return hc_fail(e, HC_INVALID, "no VirtFusion URL is configured");
    size_t skip = 0;
    if (strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    else
        return hc_fail(e, HC_INVALID,
                       "the VirtFusion URL must start with https:// (or http://), "
                       "e.g. https://vps.example.com");
    size_t n = strlen(u);
    while (n > skip && u[n - 1] == '/')
        n--;
    if (n == skip || u[skip] == '/')
        return hc_fail(e, HC_INVALID, "the VirtFusion URL has no host name");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
            return hc_fail(e, HC_INVALID,
                           "the VirtFusion URL contains spaces or control characters");
    /* Accept a URL configured with the API path already on it. */
    bool has_api = n - skip >= 7 && strncmp(u + n - 7, "/api/v1", 7) == 0;
    if (buf_append(url, u, n) != 0 || (!has_api && buf_append_str(url, "/api/v1") != 0) ||
        buf_append_str(url, path) != 0)
        return hc_fail(e, HC_INVALID, "the VirtFusion URL is too long");
    return 0;
}

static int auth_header(const struct panel_conn *c, struct buf *auth, struct hc_error *e)
{
    if (!str_present(c->api_key))
        return hc_fail(e, HC_AUTH, "no VirtFusion API token is configured");
    for (const char *p = c->api_key; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return hc_fail(e, HC_AUTH, "the VirtFusion API token contains control characters");
    if (buf_printf(auth, "Authorization: Bearer %s", c->api_key) != 0)
        return hc_fail(e, HC_AUTH, "the VirtFusion API token is too long");
    return 0;
}

/* An error answer (status outside 2xx) as an hc_error in VirtFusion's words. */
static void map_error(const struct hc_response *res, const char *method, const char *path,
                      struct hc_error *e)
{
    struct hc_error gen;
    char msgs[ERRMSG_MAX];
    memset(&gen, 0, sizeof(gen));
    hc_classify(res, "VirtFusion", &gen);
    long st = res->status;
    int n = vf_parse_errors(res->body.data, res->body.len, msgs, sizeof(msgs));
    const char *sep = n > 0 ? ": " : "";
    const char *why = n > 0 ? msgs : "";

    if (st == 401)
        hc_fail(e, HC_AUTH, "VirtFusion rejected the API token (HTTP 401 on %s %s)", method, path);
    else if (st == 403)
        hc_fail(e, HC_AUTH,
                "VirtFusion refused %s %s (HTTP 403%s%s): the API token is not allowed this "
                "call; check the token's scope",
                method, path, sep, why);
    else if (st == 404)
        hc_fail(e, HC_NOT_FOUND, "VirtFusion: %s (HTTP 404 on %s %s)", n > 0 ? msgs : "not found",
                method, path);
    else if (st == 423)
        hc_fail(e, HC_UPSTREAM,
                "VirtFusion: server is locked by a running task%s%s (HTTP 423 on %s %s); "
                "will retry",
                sep, why, method, path);
    else if (st == 429)
        hc_fail(e, HC_RATE_LIMITED, "VirtFusion is rate limiting Lumi (HTTP 429 on %s %s)%s%s",
                method, path, sep, why);
    else if (st == 400 || st == 409 || st == 422)
        hc_fail(e, HC_INVALID, "VirtFusion refused %s %s (HTTP %ld): %s", method, path, st,
                n > 0 ? msgs : "no reason given");
    else if (st >= 300 && st < 400)
        hc_fail(e, HC_BAD_RESPONSE,
                "VirtFusion answered %s %s with a redirect (HTTP %ld): check the panel URL", method,
                path, st);
    else
        hc_fail(e, st >= 500 || gen.cls == HC_OK ? HC_UPSTREAM : gen.cls,
                "VirtFusion answered HTTP %ld on %s %s%s%s", st, method, path, sep, why);
    e->http_status = st;
    e->retry_after_s = gen.retry_after_s;
}

static bool looks_html(const struct hc_response *res)
{
    const char *b = buf_cstr(&res->body);
    while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
        b++;
    return *b == '<';
}

/* A 2xx body as JSON (NULL when empty); a login page or other HTML is not. */
static int parse_answer(const struct hc_response *res, const char *method, const char *path,
                        json_t **out, struct hc_error *e)
{
    struct lumi_err lerr;
    if (res->body.len == 0)
        return 0;
    *out = jsonx_parse(res->body.data, res->body.len, JSONX_MAX_DEPTH, &lerr);
    if (*out != NULL)
        return 0;
    if (looks_html(res) && strcasestr(buf_cstr(&res->body), "login") != NULL)
        hc_fail(e, HC_AUTH,
                "VirtFusion answered %s %s with a login page instead of JSON: check the URL "
                "and the API token",
                method, path);
    else if (looks_html(res))
        hc_fail(e, HC_BAD_RESPONSE,
                "VirtFusion answered %s %s with an HTML page instead of JSON: is the URL the "
                "panel's address?",
                method, path);
    else
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered %s %s with invalid JSON (%s)", method,
                path, lerr.msg);
    e->http_status = res->status;
    return -1;
}

/*
 * One call: 0 when VirtFusion answered 2xx (then *out, if asked for, is the
 * parsed body or NULL when the body was empty); -1 with e otherwise.
 */
static int call(const struct panel_conn *c, const char *method, const char *path,
                const json_t *body, json_t **out, struct hc_error *e)
{
    struct buf url, auth;
    struct hc_response res;
    char *payload = NULL;
    char rate_key[48];
    int rc = -1;

    buf_init(&url, URL_MAX);
    buf_init(&auth, AUTH_MAX);
    memset(&res, 0, sizeof(res));
    if (out != NULL)
        *out = NULL;
    if (build_url(c, path, &url, e) != 0 || auth_header(c, &auth, e) != 0)
        goto out;
    if (body != NULL && (payload = jsonx_dump(body)) == NULL) {
        hc_fail(e, HC_INVALID, "out of memory building a VirtFusion request");
        goto out;
    }
    /* Limited per configured panel; an unsaved one (server_id 0, e.g. a
     * connection test before saving) has no row to share a budget with. */
    snprintf(rate_key, sizeof(rate_key), "panel:%" PRId64, c->server_id);
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
        .rate_key = c->server_id > 0 ? rate_key : NULL,
        .rate_per_minute = c->rate_per_minute > 0 ? c->rate_per_minute : VF_RATE_PER_MINUTE,
    };
    if (hc_perform(&req, &res, e) != 0) {
        reword(e, method, path);
        goto out;
    }
    if (res.status < 200 || res.status > 299) {
        map_error(&res, method, path, e);
        goto out;
    }
    if (out != NULL && parse_answer(&res, method, path, out, e) != 0)
        goto out;
    rc = 0;
out:
    hc_response_free(&res);
    free(payload);
    buf_free(&auth);
    buf_free(&url);
    return rc;
}

/* `data` of an answer as an object (borrowed), or NULL with e. */
static json_t *data_object(json_t *j, const char *what, struct hc_error *e)
{
    json_t *d = json_object_get(j, "data");
    if (!json_is_object(d)) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered %s without a data object", what);
        return NULL;
    }
    return d;
}

/* GET that returns `data` (a new reference) when it is an object. */
static json_t *get_data(const struct panel_conn *c, const char *path, struct hc_error *e)
{
    json_t *j = NULL, *d = NULL;
    if (call(c, "GET", path, NULL, &j, e) != 0)
        goto out;
    d = data_object(j, path, e);
    json_incref(d);
out:
    json_decref(j);
    return d;
}

/* Whether a Laravel paginator says there is a page after `page`. */
static bool has_next_page(const json_t *j, int64_t page)
{
    const json_t *next = json_object_get(j, "next_page_url");
    int64_t last = 0;
    if (json_is_string(next))
        return json_string_length(next) > 0;
    if (next != NULL)
        return false; /* null: this is the last page */
    if (get_id(json_object_get(j, "last_page"), &last))
        return page < last;
    return false; /* a plain {"data":[…]} */
}

/*
 * All items of a list: the pages of a Laravel paginator (results=per_page,
 * page=1…) or a plain {"data":[…]}. per_page 0 sends no `results`.
 */
static json_t *get_all(const struct panel_conn *c, const char *path, int per_page,
                       struct hc_error *e)
{
    char p[PATH_MAX_LEN];
    json_t *all = json_array(), *j = NULL;
    if (all == NULL) {
        hc_fail(e, HC_INVALID, "out of memory");
        return NULL;
    }
    for (int64_t page = 1;; page++) {
        if (page > MAX_PAGES) {
            hc_fail(e, HC_BAD_RESPONSE, "VirtFusion listed more than %d pages of %s", MAX_PAGES,
                    path);
            goto fail;
        }
        const char *sep = strchr(path, '?') != NULL ? "&" : "?";
        int rc;
        if (per_page > 0)
            rc = fmt_path(p, sizeof(p), e, "%s%sresults=%d&page=%" PRId64, path, sep, per_page,
                          page);
        else if (page > 1)
            rc = fmt_path(p, sizeof(p), e, "%s%spage=%" PRId64, path, sep, page);
        else
            rc = fmt_path(p, sizeof(p), e, "%s", path);
        if (rc != 0 || call(c, "GET", p, NULL, &j, e) != 0)
            goto fail;
        json_t *data = json_object_get(j, "data");
        if (!json_is_array(data)) {
            hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered GET %s without a data list", p);
            goto fail;
        }
        bool more = json_array_size(data) > 0 && has_next_page(j, page);
        if (json_array_extend(all, data) != 0) {
            hc_fail(e, HC_INVALID, "out of memory");
            goto fail;
        }
        json_decref(j);
        j = NULL;
        if (!more)
            return all;
    }
fail:
    json_decref(j);
    json_decref(all);
    return NULL;
}

/* ---- identifiers and configuration ---- */

static int parse_server_id(const char *server_id, int64_t *out, struct hc_error *e)
{
    char q[112];
    if (server_id == NULL || str_to_i64z(server_id, 1, INT64_MAX, out) != 0)
        return hc_fail(e, HC_INVALID, "'%s' is not a VirtFusion server id (a positive integer)",
                       printable(server_id, q, sizeof(q)));
    return 0;
}

static int parse_client_key(const char *client_key, int64_t *out, struct hc_error *e)
{
    char q[112];
    if (client_key == NULL || str_to_i64z(client_key, 1, INT64_MAX, out) != 0)
        return hc_fail(e, HC_INVALID,
                       "client key '%s' cannot be a VirtFusion extRelationId (a positive integer)",
                       printable(client_key, q, sizeof(q)));
    return 0;
}

static int check_key(const char *remote_key, struct hc_error *e)
{
    if (!str_present(remote_key))
        return hc_fail(e, HC_INVALID,
                       "the service has no remote key to name its VirtFusion server");
    if (strlen(remote_key) > NAME_MAX_LEN)
        return hc_fail(e, HC_INVALID, "the service's remote key is longer than %d characters",
                       NAME_MAX_LEN);
    return 0;
}

static int conf_fail(struct hc_error *e, const struct lumi_err *lerr)
{
    return hc_fail(e, HC_INVALID, "product config: %s", lerr->msg);
}

/* Reads the product config; package_id is always required, the rest only for create. */
static int read_conf(const json_t *cfg, bool for_create, struct vf_conf *cf, struct hc_error *e)
{
    struct lumi_err lerr;
    json_t *empty = NULL;
    int rc = -1;
    memset(cf, 0, sizeof(*cf));
    cf->ipv4 = 1;
    err_clear(&lerr);
    if (cfg == NULL)
        cfg = empty = json_object();
    if (!json_is_object(cfg)) {
        hc_fail(e, HC_INVALID, "product config must be a JSON object");
        goto out;
    }
    if (jsonx_take_int(cfg, "package_id", true, 1, INT64_MAX, &cf->package_id, &lerr) < 0 ||
        (for_create && (jsonx_take_int(cfg, "hypervisor_group_id", true, 1, INT64_MAX,
                                       &cf->group_id, &lerr) < 0 ||
                        jsonx_take_int(cfg, "ipv4", false, 0, 256, &cf->ipv4, &lerr) < 0 ||
                        jsonx_take_int(cfg, "os_template_id", false, 1, INT64_MAX,
                                       &cf->os_template_id, &lerr) < 0 ||
                        jsonx_take_str(cfg, "hostname", false, 253, &cf->hostname, &lerr) < 0))) {
        conf_fail(e, &lerr);
        goto out;
    }
    rc = 0;
out:
    json_decref(empty);
    return rc;
}

int vf_match_user_servers(const char *body, size_t len, const char *remote_key, int64_t user_id,
                          int64_t package_id, struct panel_result *out, size_t *orphans,
                          struct hc_error *e)
{
    struct hc_error scratch;
    struct lumi_err lerr;
    struct match m;
    int rc = -1;
    e = use_err(e, &scratch);
    memset(out, 0, sizeof(*out));
    if (orphans != NULL)
        *orphans = 0;
    if (check_key(remote_key, e) != 0)
        return -1;
    json_t *j = jsonx_parse(body, body != NULL ? len : 0, JSONX_MAX_DEPTH, &lerr);
    if (j == NULL) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered a server list that is not JSON: %s",
                lerr.msg);
        goto out;
    }
    if (match_servers(json_object_get(j, "data"), remote_key, user_id, package_id, &m, e) != 0)
        goto out;
    if (orphans != NULL)
        *orphans = m.orphans;
    rc = 0;
    if (m.id != 0) {
        snprintf(out->external_id, sizeof(out->external_id), "%" PRId64, m.id);
        snprintf(out->panel_user_id, sizeof(out->panel_user_id), "%" PRId64, user_id);
        out->suspended = m.suspended;
        rc = 1;
    }
out:
    json_decref(j);
    return rc;
}

/* ---- users ---- */

/* 1 found (*uid set), 0 no user with that extRelationId, -1 error. */
static int find_user(const struct panel_conn *c, int64_t ext, int64_t *uid, struct hc_error *e)
{
    char p[PATH_MAX_LEN];
    json_t *j = NULL;
    int rc = -1;
    if (fmt_path(p, sizeof(p), e, "/users/%" PRId64 "/byExtRelation", ext) != 0)
        return -1;
    if (call(c, "GET", p, NULL, &j, e) != 0) {
        if (e->cls == HC_NOT_FOUND) {
            memset(e, 0, sizeof(*e));
            rc = 0;
        }
        goto out;
    }
    json_t *d = data_object(j, "a user", e);
    if (d == NULL)
        goto out;
    if (!get_id(json_object_get(d, "id"), uid)) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered a user without an id");
        goto out;
    }
    rc = 1;
out:
    json_decref(j);
    return rc;
}

static int create_user(const struct panel_conn *c, const struct panel_service *s, int64_t ext,
                       int64_t *uid, struct hc_error *e)
{
    struct buf name;
    json_t *body = NULL, *j = NULL;
    int rc = -1;
    buf_init(&name, 512);
    if (!str_present(s->client_email)) {
        hc_fail(e, HC_INVALID, "the client has no e-mail address, which VirtFusion requires");
        goto out;
    }
    /* "First Last"; the e-mail address when there is no name (or it is too long). */
    if ((str_present(s->client_first_name) && buf_append_str(&name, s->client_first_name) != 0) ||
        (str_present(s->client_last_name) && ((name.len > 0 && buf_append_char(&name, ' ') != 0) ||
                                              buf_append_str(&name, s->client_last_name) != 0)))
        buf_reset(&name);
    body =
        json_pack("{s:s, s:s, s:I, s:b}", "name", name.len > 0 ? buf_cstr(&name) : s->client_email,
                  "email", s->client_email, "extRelationId", (json_int_t)ext, "sendMail", 0);
    if (body == NULL) {
        hc_fail(e, HC_INVALID, "the client's name or e-mail is not valid UTF-8");
        goto out;
    }
    if (call(c, "POST", "/users", body, &j, e) != 0)
        goto out;
    json_t *d = data_object(j, "POST /users", e);
    if (d == NULL)
        goto out;
    if (!get_id(json_object_get(d, "id"), uid)) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion created a user but answered no id");
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    json_decref(body);
    buf_free(&name);
    return rc;
}

/* ---- servers ---- */

json_t *vf_list_user_servers(const struct panel_conn *c, int64_t user_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    e = use_err(e, &scratch);
    if (fmt_path(p, sizeof(p), e, "/servers/user/%" PRId64, user_id) != 0)
        return NULL;
    return get_all(c, p, 0, e);
}

/* The user's servers sorted out for s->remote_key (package_id: the product's). */
static int match_user(const struct panel_conn *c, const struct panel_service *s, int64_t uid,
                      int64_t package_id, struct match *m, struct hc_error *e)
{
    json_t *list = vf_list_user_servers(c, uid, e);
    if (list == NULL)
        return -1;
    int rc = match_servers(list, s->remote_key, uid, package_id, m, e);
    json_decref(list);
    return rc;
}

static int vf_find(const struct panel_conn *c, const struct panel_service *s,
                   struct panel_result *out, struct hc_error *e)
{
    struct hc_error scratch;
    struct match m;
    int64_t ext = 0, uid = 0;
    e = use_err(e, &scratch);
    memset(out, 0, sizeof(*out));
    if (parse_client_key(s->client_key, &ext, e) != 0 || check_key(s->remote_key, e) != 0)
        return -1;
    int rc = find_user(c, ext, &uid, e);
    if (rc <= 0)
        return rc;
    /* Orphans (and so the package) only matter to create. */
    if (match_user(c, s, uid, 0, &m, e) != 0)
        return -1;
    if (m.id == 0)
        return 0;
    snprintf(out->external_id, sizeof(out->external_id), "%" PRId64, m.id);
    snprintf(out->panel_user_id, sizeof(out->panel_user_id), "%" PRId64, uid);
    out->suspended = m.suspended;
    return 1;
}

static int orphans_fail(const struct match *m, int64_t uid, const struct vf_conf *cf,
                        const char *remote_key, struct hc_error *e)
{
    char ids[ORPHANS_SHOWN * 24], q[112];
    size_t len = 0;
    ids[0] = '\0';
    for (size_t i = 0; i < m->orphans && i < ORPHANS_SHOWN; i++) {
        int n =
            snprintf(ids + len, sizeof(ids) - len, "%s%" PRId64, i ? ", " : "", m->orphan_ids[i]);
        if (n < 0 || (size_t)n >= sizeof(ids) - len)
            break;
        len += (size_t)n;
    }
    return hc_fail(e, HC_INVALID,
                   "VirtFusion user %" PRId64 " has %zu unnamed, unbuilt servers on package "
                   "%" PRId64 " (ids %s%s) that may come from an interrupted create; rename the "
                   "right one to '%s' and delete the others, then retry",
                   uid, m->orphans, cf->package_id, ids, m->orphans > ORPHANS_SHOWN ? ", …" : "",
                   printable(remote_key, q, sizeof(q)));
}

/* POST /servers?dryRun=true, then POST /servers: the new server's id. */
static int create_server(const struct panel_conn *c, const struct vf_conf *cf, int64_t uid,
                         int64_t *sid, struct hc_error *e)
{
    json_t *body = NULL, *j = NULL;
    int rc = -1;
    body = json_pack("{s:I, s:I, s:I, s:I}", "packageId", (json_int_t)cf->package_id, "userId",
                     (json_int_t)uid, "hypervisorId", (json_int_t)cf->group_id, "ipv4",
                     (json_int_t)cf->ipv4);
    if (body == NULL) {
        hc_fail(e, HC_INVALID, "out of memory");
        goto out;
    }
    if (call(c, "POST", "/servers?dryRun=true", body, NULL, e) != 0)
        goto out;
    if (call(c, "POST", "/servers", body, &j, e) != 0)
        goto out;
    json_t *d = data_object(j, "POST /servers", e);
    if (d == NULL)
        goto out;
    if (!get_id(json_object_get(d, "id"), sid)) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion created a server but answered no id");
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    json_decref(body);
    return rc;
}

static int build(const struct panel_conn *c, int64_t sid, int64_t os_template_id, const char *name,
                 const char *hostname, struct hc_error *e)
{
    char p[PATH_MAX_LEN];
    int rc = -1;
    json_t *body = json_pack("{s:I}", "operatingSystemId", (json_int_t)os_template_id);
    if (body == NULL ||
        (name != NULL && json_object_set_new(body, "name", json_string(name)) != 0) ||
        (str_present(hostname) &&
         json_object_set_new(body, "hostname", json_string(hostname)) != 0)) {
        hc_fail(e, HC_INVALID, "the server name or hostname is not valid UTF-8");
        goto out;
    }
    if (fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/build", sid) != 0)
        goto out;
    rc = call(c, "POST", p, body, NULL, e);
out:
    json_decref(body);
    return rc;
}

static int set_name(const struct panel_conn *c, int64_t sid, const char *name, struct hc_error *e)
{
    char p[PATH_MAX_LEN];
    int rc = -1;
    json_t *body = json_pack("{s:s}", "name", name);
    if (body == NULL) {
        hc_fail(e, HC_INVALID, "the server name is not valid UTF-8");
        goto out;
    }
    if (fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/modify/name", sid) != 0)
        goto out;
    rc = call(c, "PUT", p, body, NULL, e);
out:
    json_decref(body);
    return rc;
}

static int vf_create(const struct panel_conn *c, const struct panel_service *s,
                     struct panel_result *out, struct hc_error *e)
{
    struct hc_error scratch;
    struct vf_conf cf;
    struct match m;
    int64_t ext = 0, uid = 0, sid = 0;
    e = use_err(e, &scratch);
    memset(out, 0, sizeof(*out));
    memset(&m, 0, sizeof(m));
    if (read_conf(s->config, true, &cf, e) != 0 || parse_client_key(s->client_key, &ext, e) != 0 ||
        check_key(s->remote_key, e) != 0)
        return -1;
    int found = find_user(c, ext, &uid, e);
    if (found < 0)
        return -1;
    if (found == 0 && create_user(c, s, ext, &uid, e) != 0)
        return -1;
    /* A user created just now owns nothing; an existing one may own an orphan. */
    if (found == 1 && match_user(c, s, uid, cf.package_id, &m, e) != 0)
        return -1;
    if (m.id != 0) {
        sid = m.id; /* already created and named: adopt it as it is */
        goto done;
    }
    if (m.orphans > 1)
        return orphans_fail(&m, uid, &cf, s->remote_key, e);
    if (m.orphans == 1)
        sid = m.orphan_ids[0];
    else if (create_server(c, &cf, uid, &sid, e) != 0)
        return -1;
    if (cf.os_template_id > 0) {
        const char *host = str_present(s->hostname) ? s->hostname : cf.hostname;
        if (build(c, sid, cf.os_template_id, s->remote_key, host, e) != 0)
            return -1;
    } else if (set_name(c, sid, s->remote_key, e) != 0) {
        return -1;
    }
done:
    snprintf(out->external_id, sizeof(out->external_id), "%" PRId64, sid);
    snprintf(out->panel_user_id, sizeof(out->panel_user_id), "%" PRId64, uid);
    out->suspended = m.id != 0 && m.suspended;
    return 0;
}

/*
 * The service's server id: external_id when Lumi has it, else looked up by
 * name. 1 found, 0 no such server, -1 error.
 */
static int resolve(const struct panel_conn *c, const struct panel_service *s, char *id, size_t idsz,
                   struct hc_error *e)
{
    struct panel_result r;
    int64_t v;
    if (str_present(s->external_id)) {
        if (parse_server_id(s->external_id, &v, e) != 0)
            return -1;
        snprintf(id, idsz, "%" PRId64, v);
        return 1;
    }
    int rc = vf_find(c, s, &r, e);
    if (rc == 1)
        str_copy(id, r.external_id, idsz);
    return rc;
}

static int resolve_existing(const struct panel_conn *c, const struct panel_service *s, char *id,
                            size_t idsz, struct hc_error *e)
{
    char q[112];
    int rc = resolve(c, s, id, idsz, e);
    if (rc == 0)
        return hc_fail(e, HC_NOT_FOUND, "VirtFusion has no server named '%s' for client %s",
                       printable(s->remote_key, q, sizeof(q)),
                       s->client_key != NULL ? s->client_key : "?");
    return rc < 0 ? -1 : 0;
}

/* ---- extra operations ---- */

json_t *vf_get_server(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0 ||
        fmt_path(p, sizeof(p), e, "/servers/%" PRId64, sid) != 0)
        return NULL;
    return get_data(c, p, e);
}

int vf_terminate(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0 ||
        fmt_path(p, sizeof(p), e, "/servers/%" PRId64, sid) != 0)
        return -1;
    if (call(c, "DELETE", p, NULL, NULL, e) == 0)
        return 0;
    if (e->cls != HC_NOT_FOUND)
        return -1;
    memset(e, 0, sizeof(*e)); /* already gone */
    return 0;
}

/* The suspended flag as VirtFusion has it now. */
static int read_suspended(const struct panel_conn *c, int64_t sid, bool *suspended,
                          struct hc_error *e)
{
    char id[24];
    struct srv s;
    snprintf(id, sizeof(id), "%" PRId64, sid);
    json_t *d = vf_get_server(c, id, e);
    if (d == NULL)
        return -1;
    int rc = srv_read(d, &s);
    json_decref(d);
    if (rc != 0)
        return hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered server %" PRId64 " without an id",
                       sid);
    *suspended = s.suspended;
    return 0;
}

/*
 * Suspend or unsuspend, idempotently: reads the state first (nothing to do
 * when it is already there) and, when VirtFusion refuses the action, reads it
 * again (a concurrent change got there first).
 */
static int set_suspended(const struct panel_conn *c, const char *server_id, bool want,
                         struct hc_error *e)
{
    struct hc_error scratch, again;
    char p[PATH_MAX_LEN];
    int64_t sid;
    bool now = !want;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0 || read_suspended(c, sid, &now, e) != 0)
        return -1;
    if (now == want)
        return 0;
    if (fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/%s", sid, want ? "suspend" : "unsuspend") !=
        0)
        return -1;
    if (call(c, "POST", p, NULL, NULL, e) == 0)
        return 0;
    if (e->cls != HC_INVALID)
        return -1;
    memset(&again, 0, sizeof(again));
    if (read_suspended(c, sid, &now, &again) == 0 && now == want) {
        memset(e, 0, sizeof(*e));
        return 0;
    }
    return -1;
}

int vf_suspend(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    return set_suspended(c, server_id, true, e);
}

int vf_unsuspend(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    return set_suspended(c, server_id, false, e);
}

static int power(const struct panel_conn *c, const char *server_id, const char *action,
                 int64_t *queue_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid, q = 0;
    json_t *j = NULL;
    e = use_err(e, &scratch);
    if (queue_id != NULL)
        *queue_id = 0;
    if (parse_server_id(server_id, &sid, e) != 0 ||
        fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/power/%s", sid, action) != 0 ||
        call(c, "POST", p, NULL, &j, e) != 0)
        return -1;
    get_id(json_object_get(json_object_get(j, "data"), "queueId"), &q);
    if (queue_id != NULL)
        *queue_id = q;
    json_decref(j);
    return 0;
}

int vf_start(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
             struct hc_error *e)
{
    return power(c, server_id, "boot", queue_id, e);
}

int vf_stop(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
            struct hc_error *e)
{
    return power(c, server_id, "poweroff", queue_id, e);
}

int vf_shutdown(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
                struct hc_error *e)
{
    return power(c, server_id, "shutdown", queue_id, e);
}

int vf_reboot(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
              struct hc_error *e)
{
    return power(c, server_id, "restart", queue_id, e);
}

int vf_reinstall(const struct panel_conn *c, const char *server_id, int64_t os_template_id,
                 const char *name, const char *hostname, struct hc_error *e)
{
    struct hc_error scratch;
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0)
        return -1;
    if (os_template_id <= 0)
        return hc_fail(e, HC_INVALID, "an OS template id is required to reinstall");
    return build(c, sid, os_template_id, name, hostname, e);
}

int vf_resize(const struct panel_conn *c, const char *server_id, int64_t package_id,
              struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0)
        return -1;
    if (package_id <= 0)
        return hc_fail(e, HC_INVALID, "a VirtFusion package id is required to resize");
    if (fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/package/%" PRId64, sid, package_id) != 0)
        return -1;
    return call(c, "PUT", p, NULL, NULL, e);
}

int vf_reset_password(const struct panel_conn *c, const char *server_id, char *out, size_t outsz,
                      struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid;
    json_t *body = NULL, *j = NULL;
    int rc = -1;
    e = use_err(e, &scratch);
    if (out != NULL && outsz > 0)
        out[0] = '\0';
    if (out == NULL || outsz == 0) {
        hc_fail(e, HC_INVALID, "no room for the new password");
        goto out;
    }
    if (parse_server_id(server_id, &sid, e) != 0 ||
        fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/resetPassword", sid) != 0)
        goto out;
    body = json_pack("{s:s, s:b}", "user", "root", "sendMail", 0);
    if (body == NULL) {
        hc_fail(e, HC_INVALID, "out of memory");
        goto out;
    }
    if (call(c, "POST", p, body, &j, e) != 0)
        goto out;
    const char *pw =
        json_string_value(json_object_get(json_object_get(j, "data"), "expectedPassword"));
    if (!str_present(pw)) {
        hc_fail(e, HC_BAD_RESPONSE,
                "VirtFusion reset the password but answered no expectedPassword");
        goto out;
    }
    if (str_copy(out, pw, outsz) >= outsz) {
        out[0] = '\0';
        hc_fail(e, HC_BAD_RESPONSE, "the password VirtFusion chose is longer than %zu bytes",
                outsz - 1);
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    json_decref(body);
    return rc;
}

json_t *vf_list_servers(const struct panel_conn *c, int per_page, struct hc_error *e)
{
    struct hc_error scratch;
    e = use_err(e, &scratch);
    if (per_page <= 0)
        per_page = LIST_PER_PAGE;
    if (per_page > 200)
        per_page = 200;
    return get_all(c, "/servers", per_page, e);
}

json_t *vf_list_packages(const struct panel_conn *c, struct hc_error *e)
{
    struct hc_error scratch;
    e = use_err(e, &scratch);
    return get_all(c, "/packages", 0, e);
}

json_t *vf_list_os_templates(const struct panel_conn *c, int64_t package_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    e = use_err(e, &scratch);
    if (package_id <= 0) {
        hc_fail(e, HC_INVALID, "a VirtFusion package id is required to list OS templates");
        return NULL;
    }
    if (fmt_path(p, sizeof(p), e, "/media/templates/fromServerPackageSpec/%" PRId64, package_id) !=
        0)
        return NULL;
    return get_all(c, p, 0, e);
}

json_t *vf_list_hypervisor_groups(const struct panel_conn *c, struct hc_error *e)
{
    struct hc_error scratch;
    e = use_err(e, &scratch);
    return get_all(c, "/compute/hypervisors/groups", 200, e);
}

json_t *vf_server_traffic(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0 ||
        fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/traffic", sid) != 0)
        return NULL;
    return get_data(c, p, e);
}

/* data.vnc of GET /servers/{id}/vnc (new reference) or NULL with e. */
static json_t *get_vnc(const struct panel_conn *c, const char *path, struct hc_error *e)
{
    json_t *d = get_data(c, path, e), *vnc = NULL;
    if (d == NULL)
        return NULL;
    vnc = json_object_get(d, "vnc");
    if (!json_is_object(vnc)) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered GET %s without data.vnc", path);
        vnc = NULL;
    }
    json_incref(vnc);
    json_decref(d);
    return vnc;
}

json_t *vf_console(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN];
    int64_t sid;
    bool enabled = false;
    json_t *vnc = NULL, *body = NULL;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0 ||
        fmt_path(p, sizeof(p), e, "/servers/%" PRId64 "/vnc", sid) != 0)
        return NULL;
    vnc = get_vnc(c, p, e);
    if (vnc == NULL || (get_flag(json_object_get(vnc, "enabled"), &enabled) && enabled))
        return vnc;
    json_decref(vnc);
    vnc = NULL;
    /* {"vnc":true} is what works on v6.1–v7 (the spec's {"action":…} does not). */
    body = json_pack("{s:b}", "vnc", 1);
    if (body != NULL && call(c, "POST", p, body, NULL, e) == 0)
        vnc = get_vnc(c, p, e);
    else if (body == NULL)
        hc_fail(e, HC_INVALID, "out of memory");
    json_decref(body);
    return vnc;
}

int vf_console_url(const struct panel_conn *c, const char *server_id, char *out, size_t outsz,
                   struct hc_error *e)
{
    struct hc_error scratch;
    int rc = -1;
    e = use_err(e, &scratch);
    if (out == NULL || outsz == 0)
        return hc_fail(e, HC_INVALID, "no room for the console URL");
    out[0] = '\0';
    json_t *vnc = vf_console(c, server_id, e);
    if (vnc == NULL)
        return -1;
    const char *url = json_string_value(json_object_get(json_object_get(vnc, "wss"), "url"));
    if (!str_present(url))
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion enabled the console but gave no wss.url");
    else if (str_copy(out, url, outsz) >= outsz)
        hc_fail(e, HC_BAD_RESPONSE, "the console URL is longer than %zu bytes", outsz - 1);
    else
        rc = 0;
    if (rc != 0)
        out[0] = '\0';
    json_decref(vnc);
    return rc;
}

int vf_iso_mount(const struct panel_conn *c, const char *server_id, int64_t iso_id,
                 struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN], sid_s[24], iso_s[24];
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0)
        return -1;
    if (iso_id <= 0)
        return hc_fail(e, HC_INVALID, "an ISO id is required to mount one");
    snprintf(sid_s, sizeof(sid_s), "%" PRId64, sid);
    snprintf(iso_s, sizeof(iso_s), "%" PRId64, iso_id);
    if (fmt_path(p, sizeof(p), e, VF_ISO_MOUNT_PATH_FMT, sid_s, iso_s) != 0)
        return -1;
    return call(c, "POST", p, NULL, NULL, e);
}

int vf_iso_unmount(const struct panel_conn *c, const char *server_id, struct hc_error *e)
{
    struct hc_error scratch;
    char p[PATH_MAX_LEN], sid_s[24];
    int64_t sid;
    e = use_err(e, &scratch);
    if (parse_server_id(server_id, &sid, e) != 0)
        return -1;
    snprintf(sid_s, sizeof(sid_s), "%" PRId64, sid);
    if (fmt_path(p, sizeof(p), e, VF_ISO_UNMOUNT_PATH_FMT, sid_s) != 0)
        return -1;
    return call(c, "POST", p, NULL, NULL, e);
}

/* ---- panel_ops ---- */

static int vf_test_connection(const struct panel_conn *c, struct panel_test *out,
                              struct hc_error *e)
{
    struct hc_error scratch;
    json_t *j = NULL;
    int rc = -1;
    e = use_err(e, &scratch);
    memset(out, 0, sizeof(*out));
    if (call(c, "GET", "/connect", NULL, NULL, e) != 0) {
        if (e->cls == HC_NOT_FOUND)
            hc_fail(e, HC_NOT_FOUND,
                    "VirtFusion answered HTTP 404 for GET /api/v1/connect: is the URL the "
                    "panel's own address (e.g. https://vps.example.com)?");
        goto out;
    }
    /* A token scoped too narrowly passes /connect but fails the calls Lumi needs. */
    if (call(c, "GET", "/compute/hypervisors/groups?results=200", NULL, &j, e) != 0) {
        if (e->cls == HC_AUTH) {
            long st = e->http_status;
            hc_fail(e, HC_AUTH,
                    "VirtFusion accepted the API token but refused it for hypervisor groups "
                    "(HTTP %ld): give the token access to hypervisor groups, servers, users and "
                    "packages (token scope)",
                    st);
            e->http_status = st;
        }
        goto out;
    }
    const json_t *data = json_object_get(j, "data");
    int64_t total = 0;
    if (!json_is_array(data)) {
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion answered hypervisor groups without a data list");
        goto out;
    }
    if (!get_id(json_object_get(j, "total"), &total))
        total = (int64_t)json_array_size(data);
    snprintf(out->message, sizeof(out->message),
             "Connected to VirtFusion: %" PRId64 " hypervisor group%s", total,
             total == 1 ? "" : "s");
    out->ok = true;
    rc = 0;
out:
    if (rc != 0)
        str_copy(out->message, e->message, sizeof(out->message));
    json_decref(j);
    return rc;
}

static int vf_ops_suspend(const struct panel_conn *c, const struct panel_service *s,
                          struct hc_error *e)
{
    struct hc_error scratch;
    char id[24];
    e = use_err(e, &scratch);
    if (resolve_existing(c, s, id, sizeof(id), e) != 0)
        return -1;
    return vf_suspend(c, id, e);
}

static int vf_ops_unsuspend(const struct panel_conn *c, const struct panel_service *s,
                            struct hc_error *e)
{
    struct hc_error scratch;
    char id[24];
    e = use_err(e, &scratch);
    if (resolve_existing(c, s, id, sizeof(id), e) != 0)
        return -1;
    return vf_unsuspend(c, id, e);
}

static int vf_ops_terminate(const struct panel_conn *c, const struct panel_service *s,
                            struct hc_error *e)
{
    struct hc_error scratch;
    char id[24];
    e = use_err(e, &scratch);
    int rc = resolve(c, s, id, sizeof(id), e);
    if (rc <= 0)
        return rc; /* never created (or its user is gone): nothing to terminate */
    return vf_terminate(c, id, e);
}

static int vf_ops_change_package(const struct panel_conn *c, const struct panel_service *s,
                                 struct hc_error *e)
{
    struct hc_error scratch;
    struct vf_conf cf;
    char id[24];
    e = use_err(e, &scratch);
    if (read_conf(s->config, false, &cf, e) != 0 || resolve_existing(c, s, id, sizeof(id), e) != 0)
        return -1;
    return vf_resize(c, id, cf.package_id, e);
}

/*
 * VirtFusion chooses root passwords itself: new_password is ignored, and the
 * password it sets is only available through vf_reset_password(). Here it
 * is wiped as soon as it is received.
 */
static int vf_ops_change_password(const struct panel_conn *c, const struct panel_service *s,
                                  const char *new_password, struct hc_error *e)
{
    struct hc_error scratch;
    char id[24], pw[256];
    e = use_err(e, &scratch);
    if (resolve_existing(c, s, id, sizeof(id), e) != 0)
        return -1;
    int rc = vf_reset_password(c, id, pw, sizeof(pw), e);
    explicit_bzero(pw, sizeof(pw));
    return rc;
}

static json_t *vf_ops_info(const struct panel_conn *c, const struct panel_service *s,
                           struct hc_error *e)
{
    struct hc_error scratch;
    char id[24];
    e = use_err(e, &scratch);
    if (resolve_existing(c, s, id, sizeof(id), e) != 0)
        return NULL;
    return vf_get_server(c, id, e);
}

/* ---- self-service ---- */

/* The panel's own address: conn->url without trailing slashes or "/api/v1". */
static size_t panel_base_len(const char *u)
{
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        n--;
    if (n >= 7 && strncmp(u + n - 7, "/api/v1", 7) == 0)
        n -= 7;
    return n;
}

/*
 * POST /users/{extRelationId}/serverAuthenticationTokens/{serverId}: the
 * answer's data.authentication.endpoint_complete is the login address with
 * its tokens, relative to the panel (or, on some versions, absolute).
 */
static int vf_ops_login_url(const struct panel_conn *c, const struct panel_service *s, char *url,
                            size_t url_size, struct hc_error *e)
{
    struct hc_error scratch;
    char id[24], p[PATH_MAX_LEN];
    int64_t ext = 0;
    json_t *j = NULL;
    int rc = -1;
    e = use_err(e, &scratch);
    if (url == NULL || url_size == 0)
        return hc_fail(e, HC_INVALID, "no room for the login URL");
    url[0] = '\0';
    if (parse_client_key(s->client_key, &ext, e) != 0 ||
        resolve_existing(c, s, id, sizeof(id), e) != 0 ||
        fmt_path(p, sizeof(p), e, "/users/%" PRId64 "/serverAuthenticationTokens/%s", ext, id) !=
            0 ||
        call(c, "POST", p, NULL, &j, e) != 0)
        goto out;
    const char *ep = json_string_value(json_object_get(
        json_object_get(json_object_get(j, "data"), "authentication"), "endpoint_complete"));
    if (!str_present(ep)) {
        hc_fail(e, HC_BAD_RESPONSE,
                "VirtFusion answered the login token request without an endpoint_complete");
        goto out;
    }
    struct buf b;
    bool ok = false;
    buf_init(&b, url_size - 1);
    if (str_starts_with(ep, "https://") || str_starts_with(ep, "http://"))
        ok = buf_append_str(&b, ep) == 0;
    else if (ep[0] == '/' && c->url != NULL)
        ok = buf_append(&b, c->url, panel_base_len(c->url)) == 0 && buf_append_str(&b, ep) == 0;
    if (!ok || str_copy(url, buf_cstr(&b), url_size) >= url_size) {
        url[0] = '\0';
        hc_fail(e, HC_BAD_RESPONSE, "VirtFusion's login address is unusable or too long");
    } else {
        rc = 0;
    }
    if (b.data != NULL)
        explicit_bzero(b.data, b.cap);
    buf_free(&b);
out:
    json_decref(j);
    return rc;
}

static int vf_ops_power(const struct panel_conn *c, const struct panel_service *s,
                        const char *action, char *answer, size_t answer_size, struct hc_error *e)
{
    struct hc_error scratch;
    char id[24];
    int64_t queue = 0;
    e = use_err(e, &scratch);
    if (answer != NULL && answer_size > 0)
        answer[0] = '\0';
    if (!str_eq(action, "boot") && !str_eq(action, "shutdown") && !str_eq(action, "restart"))
        return hc_fail(e, HC_INVALID, "power action must be boot, shutdown or restart");
    if (resolve_existing(c, s, id, sizeof(id), e) != 0 || power(c, id, action, &queue, e) != 0)
        return -1;
    if (answer != NULL && answer_size > 0) {
        if (queue > 0)
            snprintf(answer, answer_size, "VirtFusion queued the %s as task %" PRId64, action,
                     queue);
        else
            snprintf(answer, answer_size, "VirtFusion accepted the %s", action);
    }
    return 0;
}

/* The root password VirtFusion chose (its expectedPassword). */
static int vf_ops_reset_password(const struct panel_conn *c, const struct panel_service *s,
                                 char *out, size_t out_size, struct hc_error *e)
{
    struct hc_error scratch;
    char id[24];
    e = use_err(e, &scratch);
    if (resolve_existing(c, s, id, sizeof(id), e) != 0)
        return -1;
    return vf_reset_password(c, id, out, out_size, e);
}

const struct panel_ops panel_virtfusion = {
    .type = "virtfusion",
    .test_connection = vf_test_connection,
    .find = vf_find,
    .create = vf_create,
    .suspend = vf_ops_suspend,
    .unsuspend = vf_ops_unsuspend,
    .terminate = vf_ops_terminate,
    .change_package = vf_ops_change_package,
    .change_password = vf_ops_change_password,
    .info = vf_ops_info,
    .login_url = vf_ops_login_url,
    .power = vf_ops_power,
    .reset_password = vf_ops_reset_password,
};
