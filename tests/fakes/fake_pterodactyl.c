/*
 * fake_pterodactyl.c — a fake Pterodactyl Application API (see
 * fake_pterodactyl.h; contracts: pterodactyl.md, panels-detail.md §1, §4).
 *
 * Owns the panel's state as jansson arrays of attribute objects (locations,
 * nodes, allocations, nests, eggs, users, servers). Members whose name starts
 * with '_' are the fake's own bookkeeping (a user's password, an allocation's
 * node and server, an egg's variables) and never reach an answer.
 *
 * Threading: fake_http runs the handler on its one server thread with the
 * fake's lock held; the public helpers take that lock around every access
 * to the state. Nothing here is reentrant otherwise.
 *
 * Fidelity: messages follow Laravel 11 wording except where the contract
 * quotes another ("The limits.io must be between 10 and 1000."). Filters are
 * partial, case-insensitive matches with commas splitting values, as the
 * panel's query builder does. Regex rules of egg variables are not modelled.
 */
#include "fakes/fake_pterodactyl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"

#define PREFIX "/api/application"
#define TS "2024-05-01T10:00:00+00:00"
#define PER_PAGE_DEFAULT 50
#define MAX_SEGS 8
#define RATE_LIMIT 240
#define NOT_FOUND_DETAIL "The requested resource could not be found on the server."
#define DAEMON_DETAIL                                                                              \
    "Could not establish a connection to the machine running this server. Please try again."

struct fake_ptero {
    struct fake_server *http;
    char *api_key;
    char url[64];
    json_t *locations, *nodes, *allocations, *nests, *eggs, *users, *servers;
    int64_t next_server, next_user, next_alloc, next_port;
    bool daemon_down;
    int throttle_left, throttle_after;
    unsigned long served;
};

/* One request being handled. */
struct ctx {
    struct fake_ptero *fp;
    const struct fake_request *r;
    struct fake_response *w;
    char *seg[MAX_SEGS]; /* decoded path segments after /api/application */
    size_t nseg;
    int64_t ids[MAX_SEGS]; /* numeric segments matched by '#', in order */
    const char *param;     /* the segment matched by '*' */
    json_t *in;            /* the request body as an object ({} when none) */
};

/* ---- small helpers ---- */

/* Percent-decodes s[0..n) (a path segment: '+' stays). Caller frees. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = str_url_decode(s, n, false);
    if (out == NULL)
        fail_msg("fake_ptero: out of memory");
    return out;
}

static json_t *find_by_int(const json_t *arr, const char *key, int64_t v)
{
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        const json_t *x = json_object_get(item, key);
        if (json_is_integer(x) && json_integer_value(x) == v)
            return item;
    }
    return NULL;
}

static json_t *find_by_str(const json_t *arr, const char *key, const char *v, bool nocase)
{
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        const char *x = json_string_value(json_object_get(item, key));
        if (x != NULL && v != NULL && (nocase ? strcasecmp(x, v) == 0 : strcmp(x, v) == 0))
            return item;
    }
    return NULL;
}

static int64_t int_of(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* A copy without the fake's '_' members. New reference. */
static json_t *public_copy(const json_t *attrs)
{
    json_t *c = json_deep_copy(attrs);
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(c, tmp, key, v)
    {
        if (key[0] == '_')
            json_object_del(c, key);
    }
    return c;
}

static json_t *item(const char *object, json_t *attrs)
{
    return json_pack("{s:s, s:o}", "object", object, "attributes", attrs);
}

/* Laravel's attribute name: underscores become spaces. */
static void label(const char *field, char *out, size_t outsz)
{
    size_t i = 0;
    for (; field[i] != '\0' && i + 1 < outsz; i++)
        out[i] = field[i] == '_' ? ' ' : field[i];
    out[i] = '\0';
}

/* ---- answers ---- */

static void reply_json(struct ctx *x, int status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    fake_reply(x->w, status, "application/json", text != NULL ? text : "{}");
    free(text);
    json_decref(v);
}

static void reply_error(struct ctx *x, int status, const char *code, const char *detail)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    reply_json(
        x, status,
        json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "code", code, "status", st, "detail", detail));
}

static void not_found(struct ctx *x)
{
    reply_error(x, 404, "NotFoundHttpException", NOT_FOUND_DETAIL);
}

static void daemon_error(struct ctx *x)
{
    reply_error(x, 502, "DaemonConnectionException", DAEMON_DETAIL);
}

static void no_content(struct ctx *x)
{
    fake_reply(x->w, 204, "application/json", NULL);
}

/* ---- validation ---- */

__attribute__((format(printf, 4, 5))) static void verr(json_t *errs, const char *field,
                                                       const char *rule, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_array_append_new(errs, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "code",
                                          "ValidationException", "status", "422", "detail", detail,
                                          "meta", "source_field", field, "rule", rule));
}

/* Answers 422 when errs holds anything. True when it did. */
static bool reply_invalid(struct ctx *x, json_t *errs)
{
    if (json_array_size(errs) == 0)
        return false;
    reply_json(x, 422, json_pack("{s:O}", "errors", errs));
    return true;
}

static bool is_empty(const json_t *v)
{
    return v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
}

/* A number as Laravel's `numeric` sees it: JSON numbers and numeric strings. */
static bool num_of(const json_t *v, double *out)
{
    char *end = NULL;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return false;
    *out = strtod(json_string_value(v), &end);
    return end != NULL && *end == '\0';
}

static bool int_ok(const json_t *v)
{
    double d;
    return json_is_integer(v) || (json_is_string(v) && num_of(v, &d) && d == (double)(int64_t)d &&
                                  strchr(json_string_value(v), '.') == NULL);
}

/* required|numeric|min:min (or between:min,max when max > min) */
static void need_number(json_t *errs, const json_t *obj, const char *field, const char *key,
                        double min, double max)
{
    const json_t *v = json_object_get(obj, key);
    char name[96];
    double d;
    label(field, name, sizeof name);
    if (is_empty(v))
        verr(errs, field, "required", "The %s field is required.", name);
    else if (!num_of(v, &d))
        verr(errs, field, "numeric", "The %s field must be a number.", name);
    else if (max > min && (d < min || d > max))
        verr(errs, field, "between", "The %s must be between %g and %g.", name, min, max);
    else if (max <= min && d < min)
        verr(errs, field, "min", "The %s field must be at least %g.", name, min);
}

/* present|nullable|integer|min:0 */
static void need_present_count(json_t *errs, const json_t *obj, const char *field, const char *key,
                               bool present)
{
    const json_t *v = json_object_get(obj, key);
    char name[96];
    double d = 0;
    label(field, name, sizeof name);
    if (v == NULL) {
        if (present)
            verr(errs, field, "present", "The %s field must be present.", name);
        return;
    }
    if (json_is_null(v))
        return;
    if (!int_ok(v))
        verr(errs, field, "integer", "The %s field must be an integer.", name);
    else if (num_of(v, &d) && d < 0)
        verr(errs, field, "min", "The %s field must be at least 0.", name);
}

static void need_string(json_t *errs, const json_t *obj, const char *field, bool required,
                        size_t max)
{
    const json_t *v = json_object_get(obj, field);
    char name[96];
    label(field, name, sizeof name);
    if (is_empty(v)) {
        if (required)
            verr(errs, field, "required", "The %s field is required.", name);
        return;
    }
    if (!json_is_string(v))
        verr(errs, field, "string", "The %s field must be a string.", name);
    else if (max > 0 && json_string_length(v) > max)
        verr(errs, field, "max", "The %s field must not be greater than %zu characters.", name,
             max);
}

static void need_bool(json_t *errs, const json_t *obj, const char *field, bool required)
{
    const json_t *v = json_object_get(obj, field);
    char name[96];
    label(field, name, sizeof name);
    if (v == NULL) {
        if (required)
            verr(errs, field, "present", "The %s field must be present.", name);
        return;
    }
    if (!json_is_boolean(v) && !json_is_null(v))
        verr(errs, field, "boolean", "The %s field must be true or false.", name);
}

static bool has_rule_token(const char *rules, const char *token, const char **arg)
{
    size_t tl = strlen(token);
    const char *p = rules;
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, "|");
        if (n >= tl && strncmp(p, token, tl) == 0 && (n == tl || p[tl] == ':')) {
            if (arg != NULL)
                *arg = n > tl ? p + tl + 1 : NULL;
            return true;
        }
        p += n;
        if (*p == '|')
            p++;
    }
    return false;
}

/* One egg variable's `rules` against its value in environment. */
static void check_variable(json_t *errs, const json_t *var, const json_t *env)
{
    const char *envname = json_string_value(json_object_get(var, "env_variable"));
    const char *rules = json_string_value(json_object_get(var, "rules"));
    const char *arg = NULL;
    int64_t max = 0;
    const json_t *v = json_object_get(env, envname);
    char field[128], name[128];
    snprintf(field, sizeof field, "environment.%s", envname);
    snprintf(name, sizeof name, "%s variable", json_string_value(json_object_get(var, "name")));
    if (is_empty(v)) {
        if (has_rule_token(rules, "required", NULL))
            verr(errs, field, "required", "The %s field is required.", name);
        return;
    }
    if (has_rule_token(rules, "string", NULL) && !json_is_string(v))
        verr(errs, field, "string", "The %s field must be a string.", name);
    else if (has_rule_token(rules, "max", &arg) && arg != NULL &&
             str_to_i64(arg, strcspn(arg, "|"), 0, INT32_MAX, &max) == 0 && json_is_string(v) &&
             json_string_length(v) > (size_t)max)
        verr(errs, field, "max", "The %s field must not be greater than %" PRId64 " characters.",
             name, max);
}

static void check_variables(json_t *errs, const json_t *egg, const json_t *env)
{
    size_t i;
    const json_t *var;
    json_array_foreach(json_object_get(egg, "_variables"), i, var) check_variable(errs, var, env);
}

/* The environment a server stores: each egg variable's value, "" when missing. */
static json_t *stored_environment(const json_t *egg, const json_t *env)
{
    json_t *out = json_object();
    size_t i;
    const json_t *var;
    json_array_foreach(json_object_get(egg, "_variables"), i, var)
    {
        const char *envname = json_string_value(json_object_get(var, "env_variable"));
        const json_t *v = json_object_get(env, envname);
        json_object_set_new(out, envname,
                            json_string(json_is_string(v) ? json_string_value(v) : ""));
    }
    return out;
}

/* ---- rendering ---- */

static json_t *render_egg(const json_t *egg, bool with_variables)
{
    json_t *attrs = public_copy(egg);
    if (with_variables) {
        json_t *data = json_array();
        size_t i;
        const json_t *var;
        json_array_foreach(json_object_get(egg, "_variables"), i, var)
            json_array_append_new(data, item("egg_variable", json_deep_copy(var)));
        json_object_set_new(
            attrs, "relationships",
            json_pack("{s:{s:s, s:o}}", "variables", "object", "list", "data", data));
    }
    return item("egg", attrs);
}

static json_t *render_allocation(const json_t *a)
{
    json_t *attrs = public_copy(a);
    json_object_set_new(attrs, "assigned", json_boolean(int_of(a, "_server_id") != 0));
    return item("allocation", attrs);
}

static bool wants(const struct ctx *x, const char *include)
{
    const char *inc = fake_query(x->r, "include");
    return inc != NULL && strstr(inc, include) != NULL;
}

static json_t *render(const struct ctx *x, const char *object, const json_t *attrs)
{
    if (strcmp(object, "egg") == 0)
        return render_egg(attrs, wants(x, "variables"));
    if (strcmp(object, "allocation") == 0)
        return render_allocation(attrs);
    return item(object, public_copy(attrs));
}

static int64_t query_int(const struct ctx *x, const char *name, int64_t def)
{
    int64_t v = 0;
    const char *s = fake_query(x->r, name);
    if (s == NULL || str_to_i64z(s, 1, 100000, &v) != 0)
        return def;
    return v;
}

/* A paginated list of the rendered items (borrowed). */
static void reply_page(struct ctx *x, const char *object, const json_t *all)
{
    int64_t per_page = query_int(x, "per_page", PER_PAGE_DEFAULT);
    int64_t page = query_int(x, "page", 1);
    int64_t total = (int64_t)json_array_size(all);
    int64_t pages = total == 0 ? 1 : (total + per_page - 1) / per_page;
    json_t *data = json_array(), *links = json_object();
    char link[256];
    for (int64_t i = (page - 1) * per_page; i < total && i < page * per_page; i++)
        json_array_append_new(data, render(x, object, json_array_get(all, (size_t)i)));
    if (page < pages) {
        snprintf(link, sizeof link, "%s%s?page=%" PRId64, x->fp->url, x->r->path, page + 1);
        json_object_set_new(links, "next", json_string(link));
    }
    if (page > 1) {
        snprintf(link, sizeof link, "%s%s?page=%" PRId64, x->fp->url, x->r->path, page - 1);
        json_object_set_new(links, "previous", json_string(link));
    }
    json_t *meta = json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:o}}", "pagination", "total",
                             (json_int_t)total, "count", (json_int_t)json_array_size(data),
                             "per_page", (json_int_t)per_page, "current_page", (json_int_t)page,
                             "total_pages", (json_int_t)pages, "links", links);
    reply_json(x, 200, json_pack("{s:s, s:o, s:o}", "object", "list", "data", data, "meta", meta));
}

static void reply_item(struct ctx *x, int status, const char *object, const json_t *attrs)
{
    reply_json(x, status, render(x, object, attrs));
}

/* ---- filters ---- */

/* Does value contain (case-insensitively) any of the comma-separated needles? */
static bool partial_match(const char *value, const char *needles)
{
    const char *p = needles;
    while (value != NULL && *p != '\0') {
        size_t n = strcspn(p, ",");
        char *needle = str_ndup(p, n);
        bool hit = needle != NULL && strcasestr(value, needle) != NULL;
        free(needle);
        if (hit)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

/* Items of all passing every filter[k] given in `allowed`. New array. Sets *bad to the
 * name of a filter that is not allowed (then the caller answers 400). */
static json_t *filtered(struct ctx *x, const json_t *all, const char *const *allowed, char *bad,
                        size_t badsz)
{
    json_t *out = json_array();
    size_t i;
    json_t *it;
    bad[0] = '\0';
    /* Unknown filters: scan the raw query for filter[...] / filter%5B...%5D names. */
    const char *q = x->r->query;
    while (q != NULL && *q != '\0') {
        size_t n = strcspn(q, "&");
        size_t k = strcspn(q, "=&");
        char *key = pct_decode(q, k);
        if (strncmp(key, "filter[", 7) == 0) {
            size_t l = strcspn(key + 7, "]");
            bool ok = false;
            for (size_t a = 0; allowed[a] != NULL; a++)
                ok = ok || (strlen(allowed[a]) == l && strncmp(allowed[a], key + 7, l) == 0);
            if (!ok)
                snprintf(bad, badsz, "%.*s", (int)l, key + 7);
        }
        free(key);
        q += n;
        if (*q == '&')
            q++;
    }
    json_array_foreach(all, i, it)
    {
        bool pass = true;
        for (size_t a = 0; allowed[a] != NULL && pass; a++) {
            char name[64];
            snprintf(name, sizeof name, "filter[%s]", allowed[a]);
            const char *want = fake_query(x->r, name);
            if (want != NULL && *want != '\0')
                pass = partial_match(json_string_value(json_object_get(it, allowed[a])), want);
        }
        if (pass)
            json_array_append(out, it);
    }
    return out;
}

static void reply_filtered(struct ctx *x, const char *object, const json_t *all,
                           const char *const *allowed)
{
    char bad[64], detail[256];
    json_t *list = filtered(x, all, allowed, bad, sizeof bad);
    if (bad[0] != '\0') {
        snprintf(detail, sizeof detail, "Requested filter(s) `%s` are not allowed.", bad);
        reply_error(x, 400, "InvalidFilterQuery", detail);
    } else {
        reply_page(x, object, list);
    }
    json_decref(list);
}

/* ---- locations, nodes, nests, eggs ---- */

static void list_locations(struct ctx *x)
{
    static const char *const allowed[] = {"short", "long", NULL};
    reply_filtered(x, "location", x->fp->locations, allowed);
}

static void get_location(struct ctx *x)
{
    const json_t *l = find_by_int(x->fp->locations, "id", x->ids[0]);
    if (l == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "location", l);
}

static void list_nodes(struct ctx *x)
{
    static const char *const allowed[] = {"uuid", "name", "fqdn", "daemon_token_id", NULL};
    reply_filtered(x, "node", x->fp->nodes, allowed);
}

static void get_node(struct ctx *x)
{
    const json_t *n = find_by_int(x->fp->nodes, "id", x->ids[0]);
    if (n == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "node", n);
}

static void list_allocations(struct ctx *x)
{
    json_t *mine = json_array();
    size_t i;
    json_t *a;
    if (find_by_int(x->fp->nodes, "id", x->ids[0]) == NULL) {
        json_decref(mine);
        not_found(x);
        return;
    }
    json_array_foreach(x->fp->allocations, i, a)
    {
        if (int_of(a, "_node") == x->ids[0])
            json_array_append(mine, a);
    }
    reply_page(x, "allocation", mine);
    json_decref(mine);
}

static void list_nests(struct ctx *x)
{
    reply_page(x, "nest", x->fp->nests);
}

static void get_nest(struct ctx *x)
{
    const json_t *n = find_by_int(x->fp->nests, "id", x->ids[0]);
    if (n == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "nest", n);
}

/* The egg list is not paginated: a list without meta. */
static void list_eggs(struct ctx *x)
{
    json_t *data = json_array();
    size_t i;
    json_t *egg;
    if (find_by_int(x->fp->nests, "id", x->ids[0]) == NULL) {
        json_decref(data);
        not_found(x);
        return;
    }
    json_array_foreach(x->fp->eggs, i, egg)
    {
        if (int_of(egg, "nest") == x->ids[0])
            json_array_append_new(data, render(x, "egg", egg));
    }
    reply_json(x, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void get_egg(struct ctx *x)
{
    const json_t *egg = find_by_int(x->fp->eggs, "id", x->ids[1]);
    if (egg == NULL || int_of(egg, "nest") != x->ids[0]) /* bindings are scoped */
        not_found(x);
    else
        reply_item(x, 200, "egg", egg);
}

/* ---- users ---- */

static void list_users(struct ctx *x)
{
    static const char *const allowed[] = {"email", "uuid", "username", "external_id", NULL};
    reply_filtered(x, "user", x->fp->users, allowed);
}

static void get_user(struct ctx *x)
{
    const json_t *u = find_by_int(x->fp->users, "id", x->ids[0]);
    if (u == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "user", u);
}

static void get_user_external(struct ctx *x)
{
    const json_t *u = find_by_str(x->fp->users, "external_id", x->param, false);
    if (u == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "user", u);
}

static bool valid_username(const char *u)
{
    size_t n = strlen(u);
    if (n < 3)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = (char)(u[i] >= 'A' && u[i] <= 'Z' ? u[i] - 'A' + 'a' : u[i]);
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((i == 0 || i == n - 1) || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

static bool valid_email(const char *e)
{
    const char *at = strchr(e, '@');
    return at != NULL && at != e && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
           strchr(e, ' ') == NULL;
}

/* Another user (not `self`) whose key equals v, case-insensitively. */
static bool taken(const json_t *users, const char *key, const char *v, const json_t *self)
{
    const json_t *u = find_by_str(users, key, v, true);
    return u != NULL && u != self;
}

static void check_user_body(struct ctx *x, json_t *errs, const json_t *self)
{
    const json_t *in = x->in;
    const char *email = json_string_value(json_object_get(in, "email"));
    const char *username = json_string_value(json_object_get(in, "username"));
    const char *ext = json_string_value(json_object_get(in, "external_id"));
    need_string(errs, in, "email", true, 191);
    if (email != NULL && *email != '\0' && !valid_email(email))
        verr(errs, "email", "email", "The email field must be a valid email address.");
    else if (email != NULL && taken(x->fp->users, "email", email, self))
        verr(errs, "email", "unique", "The email has already been taken.");
    need_string(errs, in, "username", true, 191);
    if (username != NULL && *username != '\0' && !valid_username(username))
        verr(errs, "username", "p_username",
             "The username must start and end with alpha-numeric characters and contain only "
             "letters, numbers, dashes, underscores, and periods.");
    else if (username != NULL && taken(x->fp->users, "username", username, self))
        verr(errs, "username", "unique", "The username has already been taken.");
    need_string(errs, in, "first_name", true, 191);
    need_string(errs, in, "last_name", true, 191);
    need_string(errs, in, "external_id", false, 191);
    if (ext != NULL && *ext != '\0' && taken(x->fp->users, "external_id", ext, self))
        verr(errs, "external_id", "unique", "The external id has already been taken.");
    need_string(errs, in, "password", false, 0);
    need_bool(errs, in, "root_admin", false);
}

/* Copies the user fields of the body onto u. */
static void apply_user(struct ctx *x, json_t *u)
{
    static const char *const fields[] = {"email", "first_name", "last_name", "external_id"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(x->in, fields[i]);
        if (v != NULL)
            json_object_set(u, fields[i], v);
    }
    const char *username = json_string_value(json_object_get(x->in, "username"));
    if (username != NULL) {
        char *lower = str_lower(str_dup(username));
        json_object_set_new(u, "username", json_string(lower));
        free(lower);
    }
    json_t *pw = json_object_get(x->in, "password");
    if (json_is_string(pw))
        json_object_set(u, "_password", pw);
    json_object_set_new(u, "updated_at", json_string(TS));
}

static json_t *new_user(struct fake_ptero *fp)
{
    int64_t id = fp->next_user++;
    char uuid[40];
    snprintf(uuid, sizeof uuid, "%08" PRIx64 "-1111-4000-8000-000000000000", (uint64_t)id);
    json_t *u = json_pack("{s:I, s:n, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:n}", "id",
                          (json_int_t)id, "external_id", "uuid", uuid, "username", "", "email", "",
                          "first_name", "", "last_name", "", "language", "en", "root_admin", 0,
                          "2fa", 0, "created_at", TS, "updated_at", TS, "_password");
    json_array_append_new(fp->users, u);
    return u;
}

static void create_user(struct ctx *x)
{
    json_t *errs = json_array();
    char resource[128];
    check_user_body(x, errs, NULL);
    if (!reply_invalid(x, errs)) {
        json_t *u = new_user(x->fp);
        apply_user(x, u);
        snprintf(resource, sizeof resource, "%s" PREFIX "/users/%" PRId64, x->fp->url,
                 int_of(u, "id"));
        json_t *body = render(x, "user", u);
        json_object_set_new(body, "meta", json_pack("{s:s}", "resource", resource));
        reply_json(x, 201, body);
    }
    json_decref(errs);
}

static void update_user(struct ctx *x)
{
    json_t *u = find_by_int(x->fp->users, "id", x->ids[0]);
    json_t *errs = json_array();
    if (u == NULL) {
        not_found(x);
    } else {
        check_user_body(x, errs, u);
        if (!reply_invalid(x, errs)) {
            apply_user(x, u);
            reply_item(x, 200, "user", u);
        }
    }
    json_decref(errs);
}

static void delete_user(struct ctx *x)
{
    size_t i;
    json_t *u;
    json_array_foreach(x->fp->users, i, u)
    {
        if (int_of(u, "id") != x->ids[0])
            continue;
        if (find_by_int(x->fp->servers, "user", x->ids[0]) != NULL) {
            reply_error(x, 400, "DisplayException",
                        "Cannot delete a user with active servers attached to their account. "
                        "Please delete their servers before continuing.");
            return;
        }
        json_array_remove(x->fp->users, i);
        no_content(x);
        return;
    }
    not_found(x);
}

/* ---- servers: reading ---- */

static void list_servers(struct ctx *x)
{
    static const char *const allowed[] = {"uuid",  "uuidShort",   "name", "description",
                                          "image", "external_id", NULL};
    reply_filtered(x, "server", x->fp->servers, allowed);
}

static json_t *server_of(struct ctx *x)
{
    return find_by_int(x->fp->servers, "id", x->ids[0]);
}

static void get_server(struct ctx *x)
{
    const json_t *s = server_of(x);
    if (s == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "server", s);
}

static void get_server_external(struct ctx *x)
{
    const json_t *s = find_by_str(x->fp->servers, "external_id", x->param, false);
    if (s == NULL) {
        not_found(x);
        return;
    }
    reply_item(x, 200, "server", s);
}

/* ---- servers: create ---- */

static void check_limits(json_t *errs, const json_t *limits, const char *prefix)
{
    static const struct {
        const char *key;
        double min, max;
    } rules[] = {
        {"memory", 0, 0}, {"swap", -1, -1}, {"disk", 0, 0}, {"io", 10, 1000}, {"cpu", 0, 0}};
    char field[64];
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        snprintf(field, sizeof field, "%s%s", prefix, rules[i].key);
        need_number(errs, limits, field, rules[i].key, rules[i].min, rules[i].max);
    }
    const json_t *threads = json_object_get(limits, "threads");
    snprintf(field, sizeof field, "%sthreads", prefix);
    if (!is_empty(threads) &&
        (!json_is_string(threads) ||
         strspn(json_string_value(threads), "0123456789-,") != json_string_length(threads)))
        verr(errs, field, "regex", "The %s field format is invalid.", field);
}

static void check_feature_limits(json_t *errs, const json_t *in)
{
    const json_t *f = json_object_get(in, "feature_limits");
    if (!json_is_object(f)) {
        verr(errs, "feature_limits", "required", "The feature limits field is required.");
        return;
    }
    need_present_count(errs, f, "feature_limits.databases", "databases", true);
    need_present_count(errs, f, "feature_limits.backups", "backups", true);
    need_present_count(errs, f, "feature_limits.allocations", "allocations", false);
}

static bool allocation_free(const struct fake_ptero *fp, const json_t *v)
{
    const json_t *a =
        json_is_integer(v) ? find_by_int(fp->allocations, "id", json_integer_value(v)) : NULL;
    return a != NULL && int_of(a, "_server_id") == 0;
}

static void check_placement(struct ctx *x, json_t *errs)
{
    const json_t *deploy = json_object_get(x->in, "deploy");
    const json_t *alloc = json_object_get(x->in, "allocation");
    if (deploy == NULL || json_is_null(deploy)) {
        const json_t *def = json_object_get(alloc, "default");
        if (is_empty(def))
            verr(errs, "allocation.default", "required_without",
                 "The allocation.default field is required when deploy is not present.");
        else if (!json_is_integer(def))
            verr(errs, "allocation.default", "integer",
                 "The allocation.default field must be an integer.");
        else if (!allocation_free(x->fp, def))
            verr(errs, "allocation.default", "exists",
                 "The selected allocation.default is invalid.");
        return;
    }
    if (!json_is_object(deploy)) {
        verr(errs, "deploy", "array", "The deploy field must be an array.");
        return;
    }
    const json_t *locs = json_object_get(deploy, "locations");
    const json_t *ports = json_object_get(deploy, "port_range");
    size_t i;
    const json_t *v;
    if (!json_is_array(locs))
        verr(errs, "deploy.locations", "present", "The deploy.locations field must be present.");
    json_array_foreach(locs, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            verr(errs, "deploy.locations.0", "integer",
                 "The deploy.locations.0 field must be an integer.");
    }
    if (!json_is_boolean(json_object_get(deploy, "dedicated_ip")))
        verr(errs, "deploy.dedicated_ip", "required", "The deploy.dedicated ip field is required.");
    if (!json_is_array(ports))
        verr(errs, "deploy.port_range", "present", "The deploy.port range field must be present.");
    json_array_foreach(ports, i, v)
    {
        if (!json_is_string(v))
            verr(errs, "deploy.port_range.0", "string",
                 "The deploy.port range.0 field must be a string.");
    }
}

static void check_server_body(struct ctx *x, json_t *errs, const json_t **egg)
{
    const json_t *in = x->in;
    const json_t *user = json_object_get(in, "user");
    const json_t *eggv = json_object_get(in, "egg");
    const json_t *env = json_object_get(in, "environment");
    const char *ext = json_string_value(json_object_get(in, "external_id"));
    *egg = NULL;
    need_string(errs, in, "name", true, 191);
    need_string(errs, in, "external_id", false, 191);
    if (ext != NULL && *ext != '\0' && find_by_str(x->fp->servers, "external_id", ext, false))
        verr(errs, "external_id", "unique", "The external id has already been taken.");
    need_string(errs, in, "description", false, 0);
    if (is_empty(user))
        verr(errs, "user", "required", "The user field is required.");
    else if (!json_is_integer(user) ||
             find_by_int(x->fp->users, "id", json_integer_value(user)) == NULL)
        verr(errs, "user", "exists", "The selected user is invalid.");
    if (is_empty(eggv))
        verr(errs, "egg", "required", "The egg field is required.");
    else if (!json_is_integer(eggv) ||
             (*egg = find_by_int(x->fp->eggs, "id", json_integer_value(eggv))) == NULL)
        verr(errs, "egg", "exists", "The selected egg is invalid.");
    need_string(errs, in, "docker_image", true, 191);
    need_string(errs, in, "startup", true, 0);
    if (!json_is_object(env) && !(json_is_array(env) && json_array_size(env) == 0))
        verr(errs, "environment", "present", "The environment field must be present.");
    const json_t *limits = json_object_get(in, "limits");
    if (!json_is_object(limits))
        verr(errs, "limits", "required", "The limits field is required.");
    check_limits(errs, json_is_object(limits) ? limits : NULL, "limits.");
    check_feature_limits(errs, in);
    check_placement(x, errs);
    need_bool(errs, in, "start_on_completion", false);
    need_bool(errs, in, "skip_scripts", false);
    need_bool(errs, in, "oom_disabled", false);
    if (*egg != NULL)
        check_variables(errs, *egg, env);
}

static int64_t node_memory_used(const struct fake_ptero *fp, int64_t node)
{
    size_t i;
    const json_t *s;
    int64_t used = 0;
    json_array_foreach(fp->servers, i, s)
    {
        if (int_of(s, "node") == node)
            used += int_of(json_object_get(s, "limits"), "memory");
    }
    return used;
}

static bool port_in(const json_t *ranges, int64_t port)
{
    size_t i;
    const json_t *r;
    if (json_array_size(ranges) == 0)
        return true;
    json_array_foreach(ranges, i, r)
    {
        const char *text = json_string_value(r);
        const char *dash = strchr(text, '-');
        int64_t lo = 0, hi = 0;
        if (dash == NULL && str_to_i64z(text, 1, 65535, &lo) == 0 && port == lo)
            return true;
        if (dash != NULL && str_to_i64(text, (size_t)(dash - text), 1, 65535, &lo) == 0 &&
            str_to_i64z(dash + 1, 1, 65535, &hi) == 0 && port >= lo && port <= hi)
            return true;
    }
    return false;
}

/* Automatic deployment: a free allocation on a node of the locations with room.
 * 0, or answers 400 NoViable…Exception and returns -1. */
static int deploy_pick(struct ctx *x, int64_t memory, int64_t *alloc_id)
{
    const json_t *deploy = json_object_get(x->in, "deploy");
    const json_t *locs = json_object_get(deploy, "locations");
    size_t i, j;
    const json_t *node, *a;
    bool any_node = false;
    json_array_foreach(x->fp->nodes, i, node)
    {
        bool in_loc = false;
        const json_t *l;
        size_t k;
        json_array_foreach(locs, k, l) in_loc =
            in_loc || json_integer_value(l) == int_of(node, "location_id");
        if (!in_loc ||
            node_memory_used(x->fp, int_of(node, "id")) + memory > int_of(node, "memory"))
            continue;
        any_node = true;
        json_array_foreach(x->fp->allocations, j, a)
        {
            if (int_of(a, "_node") == int_of(node, "id") && int_of(a, "_server_id") == 0 &&
                port_in(json_object_get(deploy, "port_range"), int_of(a, "port"))) {
                *alloc_id = int_of(a, "id");
                return 0;
            }
        }
    }
    if (!any_node)
        reply_error(x, 400, "NoViableNodeException",
                    "No nodes satisfying the requirements specified for automatic deployment "
                    "could be found.");
    else
        reply_error(x, 400, "NoViableAllocationException",
                    "No allocations satisfying the requirements for automatic deployment were "
                    "found.");
    return -1;
}

static json_t *int_or_zero(const json_t *v)
{
    double d = 0;
    return json_integer(num_of(v, &d) ? (json_int_t)d : 0);
}

static json_t *limits_of(const json_t *src, const json_t *oom)
{
    const json_t *threads = json_object_get(src, "threads");
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:O, s:b}", "memory",
                     int_or_zero(json_object_get(src, "memory")), "swap",
                     int_or_zero(json_object_get(src, "swap")), "disk",
                     int_or_zero(json_object_get(src, "disk")), "io",
                     int_or_zero(json_object_get(src, "io")), "cpu",
                     int_or_zero(json_object_get(src, "cpu")), "threads",
                     is_empty(threads) ? json_null() : threads, "oom_disabled",
                     oom == NULL || json_is_null(oom) || json_is_true(oom));
}

static json_t *features_of(const json_t *f)
{
    return json_pack("{s:o, s:o, s:o}", "databases", int_or_zero(json_object_get(f, "databases")),
                     "allocations", int_or_zero(json_object_get(f, "allocations")), "backups",
                     int_or_zero(json_object_get(f, "backups")));
}

static void assign_allocation(struct fake_ptero *fp, int64_t alloc_id, int64_t server_id)
{
    json_t *a = find_by_int(fp->allocations, "id", alloc_id);
    json_object_set_new(a, "_server_id", json_integer(server_id));
}

/* A new server's attributes (added to the state). */
static json_t *new_server(struct fake_ptero *fp, const char *name, const char *external_id,
                          int64_t user, const json_t *egg, int64_t alloc_id)
{
    int64_t id = fp->next_server++;
    char uuid[40], ident[9];
    const json_t *a = find_by_int(fp->allocations, "id", alloc_id);
    snprintf(uuid, sizeof uuid, "%08" PRIx64 "-2222-4000-8000-000000000000", (uint64_t)id);
    snprintf(ident, sizeof ident, "%.8s", uuid);
    json_t *s =
        json_pack("{s:I, s:s?, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                  "id", (json_int_t)id, "external_id", external_id, "uuid", uuid, "identifier",
                  ident, "name", name, "description", "", "status", "installing", "suspended", 0,
                  "user", (json_int_t)user, "node", (json_int_t)int_of(a, "_node"), "allocation",
                  (json_int_t)alloc_id, "nest", (json_int_t)int_of(egg, "nest"), "egg",
                  (json_int_t)int_of(egg, "id"), "created_at", TS, "updated_at", TS);
    json_array_append_new(fp->servers, s);
    assign_allocation(fp, alloc_id, id);
    return s;
}

static void set_container(json_t *s, const char *startup, const char *image, json_t *env)
{
    json_object_set_new(env, "P_SERVER_LOCATION", json_string("us1"));
    json_object_set_new(env, "P_SERVER_UUID", json_incref(json_object_get(s, "uuid")));
    json_object_set_new(s, "container",
                        json_pack("{s:s, s:s, s:i, s:o}", "startup_command", startup, "image",
                                  image, "installed", 0, "environment", env));
}

static void create_server(struct ctx *x)
{
    json_t *errs = json_array();
    const json_t *egg = NULL;
    const json_t *in = x->in;
    int64_t alloc_id = 0;
    check_server_body(x, errs, &egg);
    if (reply_invalid(x, errs))
        goto out;
    double memory = 0;
    num_of(json_object_get(json_object_get(in, "limits"), "memory"), &memory);
    if (json_is_object(json_object_get(in, "deploy"))) {
        if (deploy_pick(x, (int64_t)memory, &alloc_id) != 0)
            goto out;
    } else {
        alloc_id = int_of(json_object_get(in, "allocation"), "default");
    }
    if (x->fp->daemon_down) { /* the panel deletes the new server again */
        daemon_error(x);
        goto out;
    }
    json_t *s = new_server(x->fp, json_string_value(json_object_get(in, "name")),
                           json_string_value(json_object_get(in, "external_id")),
                           int_of(in, "user"), egg, alloc_id);
    json_object_set_new(
        s, "limits", limits_of(json_object_get(in, "limits"), json_object_get(in, "oom_disabled")));
    json_object_set_new(s, "feature_limits", features_of(json_object_get(in, "feature_limits")));
    set_container(s, json_string_value(json_object_get(in, "startup")),
                  json_string_value(json_object_get(in, "docker_image")),
                  stored_environment(egg, json_object_get(in, "environment")));
    json_object_set(s, "_start_on_completion", json_object_get(in, "start_on_completion"));
    reply_item(x, 201, "server", s);
out:
    json_decref(errs);
}

/* ---- servers: changes ---- */

static void set_suspended(struct ctx *x, bool suspended)
{
    json_t *s = server_of(x);
    if (s == NULL) {
        not_found(x);
        return;
    }
    if (json_is_true(json_object_get(s, "suspended")) == suspended) {
        no_content(x); /* already there: a no-op, Wings is not called */
        return;
    }
    if (x->fp->daemon_down) {
        daemon_error(x);
        return;
    }
    json_object_set_new(s, "suspended", json_boolean(suspended));
    json_object_set_new(s, "status", suspended ? json_string("suspended") : json_null());
    no_content(x);
}

static void suspend(struct ctx *x)
{
    set_suspended(x, true);
}

static void unsuspend(struct ctx *x)
{
    set_suspended(x, false);
}

static void reinstall(struct ctx *x)
{
    json_t *s = server_of(x);
    if (s == NULL) {
        not_found(x);
        return;
    }
    if (x->fp->daemon_down) {
        daemon_error(x);
        return;
    }
    json_object_set_new(s, "status", json_string("installing"));
    no_content(x);
}

static void remove_server(struct ctx *x, bool force)
{
    size_t i, j;
    json_t *s, *a;
    json_array_foreach(x->fp->servers, i, s)
    {
        if (int_of(s, "id") != x->ids[0])
            continue;
        if (x->fp->daemon_down && !force) {
            daemon_error(x);
            return;
        }
        json_array_foreach(x->fp->allocations, j, a)
        {
            if (int_of(a, "_server_id") == x->ids[0])
                json_object_set_new(a, "_server_id", json_integer(0));
        }
        json_array_remove(x->fp->servers, i);
        no_content(x);
        return;
    }
    not_found(x);
}

static void delete_server(struct ctx *x)
{
    remove_server(x, false);
}

static void force_delete(struct ctx *x)
{
    remove_server(x, true);
}

static void update_build(struct ctx *x)
{
    json_t *s = server_of(x);
    json_t *errs = json_array();
    const json_t *in = x->in;
    const json_t *limits = json_object_get(in, "limits");
    const json_t *alloc = json_object_get(in, "allocation");
    if (s == NULL) {
        not_found(x);
        goto out;
    }
    if (is_empty(alloc))
        verr(errs, "allocation", "required", "The allocation field is required.");
    else if (!json_is_integer(alloc))
        verr(errs, "allocation", "integer", "The allocation field must be an integer.");
    check_feature_limits(errs, in);
    /* Either limits{…} or the legacy top-level fields. */
    check_limits(errs, json_is_object(limits) ? limits : in,
                 json_is_object(limits) ? "limits." : "");
    need_bool(errs, in, "oom_disabled", false);
    if (reply_invalid(x, errs))
        goto out;
    const json_t *a = find_by_int(x->fp->allocations, "id", json_integer_value(alloc));
    if (a == NULL || int_of(a, "_server_id") != int_of(s, "id")) {
        reply_error(x, 400, "DisplayException",
                    "The requested default allocation is not currently assigned to this server.");
        goto out;
    }
    const json_t *oom = json_object_get(in, "oom_disabled");
    if (oom == NULL)
        oom = json_object_get(json_object_get(s, "limits"), "oom_disabled");
    json_object_set_new(s, "limits", limits_of(json_is_object(limits) ? limits : in, oom));
    json_object_set_new(s, "feature_limits", features_of(json_object_get(in, "feature_limits")));
    json_object_set_new(s, "allocation", json_integer(json_integer_value(alloc)));
    reply_item(x, 200, "server", s);
out:
    json_decref(errs);
}

static void update_startup(struct ctx *x)
{
    json_t *s = server_of(x);
    json_t *errs = json_array();
    const json_t *in = x->in;
    const json_t *eggv = json_object_get(in, "egg");
    const json_t *env = json_object_get(in, "environment");
    const json_t *egg = NULL;
    if (s == NULL) {
        not_found(x);
        goto out;
    }
    need_string(errs, in, "startup", true, 0);
    if (!json_is_object(env) && !(json_is_array(env) && json_array_size(env) == 0))
        verr(errs, "environment", "present", "The environment field must be present.");
    if (is_empty(eggv))
        verr(errs, "egg", "required", "The egg field is required.");
    else if (!json_is_integer(eggv) ||
             (egg = find_by_int(x->fp->eggs, "id", json_integer_value(eggv))) == NULL)
        verr(errs, "egg", "exists", "The selected egg is invalid.");
    need_string(errs, in, "image", false, 191);
    need_bool(errs, in, "skip_scripts", true);
    if (egg != NULL)
        check_variables(errs, egg, env);
    if (reply_invalid(x, errs))
        goto out;
    const char *image = json_string_value(json_object_get(in, "image"));
    const json_t *container = json_object_get(s, "container");
    set_container(s, json_string_value(json_object_get(in, "startup")),
                  image != NULL ? image : json_string_value(json_object_get(container, "image")),
                  stored_environment(egg, env));
    json_object_set_new(s, "egg", json_integer(int_of(egg, "id")));
    json_object_set_new(s, "nest", json_integer(int_of(egg, "nest")));
    reply_item(x, 200, "server", s);
out:
    json_decref(errs);
}

/* ---- routing ---- */

typedef void (*route_fn)(struct ctx *x);

/* '#' matches a numeric id, '*' any one segment. */
static const struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
} routes[] = {
    {"GET", "locations", list_locations},
    {"GET", "locations/#", get_location},
    {"GET", "nodes", list_nodes},
    {"GET", "nodes/#", get_node},
    {"GET", "nodes/#/allocations", list_allocations},
    {"GET", "nests", list_nests},
    {"GET", "nests/#", get_nest},
    {"GET", "nests/#/eggs", list_eggs},
    {"GET", "nests/#/eggs/#", get_egg},
    {"GET", "users", list_users},
    {"POST", "users", create_user},
    {"GET", "users/external/*", get_user_external},
    {"GET", "users/#", get_user},
    {"PATCH", "users/#", update_user},
    {"DELETE", "users/#", delete_user},
    {"GET", "servers", list_servers},
    {"POST", "servers", create_server},
    {"GET", "servers/external/*", get_server_external},
    {"GET", "servers/#", get_server},
    {"POST", "servers/#/suspend", suspend},
    {"POST", "servers/#/unsuspend", unsuspend},
    {"POST", "servers/#/reinstall", reinstall},
    {"PATCH", "servers/#/build", update_build},
    {"PATCH", "servers/#/startup", update_startup},
    {"DELETE", "servers/#", delete_server},
    {"DELETE", "servers/#/force", force_delete},
};

static bool match(struct ctx *x, const char *pattern)
{
    size_t n = 0, nid = 0;
    const char *p = pattern;
    while (*p != '\0') {
        size_t len = strcspn(p, "/");
        if (n >= x->nseg)
            return false;
        const char *seg = x->seg[n];
        if (len == 1 && *p == '#') {
            if (str_to_i64z(seg, 1, INT64_MAX, &x->ids[nid]) != 0)
                return false;
            nid++;
        } else if (len == 1 && *p == '*') {
            x->param = seg;
        } else if (strlen(seg) != len || strncmp(seg, p, len) != 0) {
            return false;
        }
        n++;
        p += len;
        if (*p == '/')
            p++;
    }
    return n == x->nseg;
}

static void split_path(struct ctx *x, const char *rest)
{
    while (*rest == '/')
        rest++;
    while (*rest != '\0' && x->nseg < MAX_SEGS) {
        size_t len = strcspn(rest, "/");
        x->seg[x->nseg++] = pct_decode(rest, len);
        rest += len;
        while (*rest == '/')
            rest++;
    }
}

static void dispatch(struct ctx *x)
{
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(x, routes[i].pattern))
            continue;
        if (strcmp(routes[i].method, x->r->method) == 0) {
            routes[i].fn(x);
            return;
        }
        path_known = true;
    }
    if (path_known)
        reply_error(x, 405, "MethodNotAllowedHttpException",
                    "The method is not supported for this route.");
    else
        not_found(x);
}

static bool accepts_json(const struct fake_request *r)
{
    const char *a = fake_header(r, "Accept");
    return a != NULL && (strstr(a, "/json") != NULL || strstr(a, "+json") != NULL);
}

/* Bearer auth as the panel does it; false when it answered. */
static bool authorised(struct ctx *x)
{
    const char *auth = fake_header(x->r, "Authorization");
    char loc[128];
    bool bearer = auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 && auth[7] != '\0';
    if (bearer && strcmp(auth + 7, x->fp->api_key) == 0)
        return true;
    /* A token that is not an API key at all finds no key: unauthenticated. */
    bool key_shaped =
        bearer && (strncmp(auth + 7, "ptla_", 5) == 0 || strncmp(auth + 7, "ptlc_", 5) == 0);
    if (!accepts_json(x->r)) {
        snprintf(loc, sizeof loc, "%s/auth/login", x->fp->url);
        fake_reply(x->w, 302, "text/html",
                   "<!DOCTYPE html><html><body>Redirecting to /auth/login</body></html>");
        fake_add_header(x->w, "Location", loc);
    } else if (!key_shaped) {
        reply_error(x, 401, "AuthenticationException", "Unauthenticated.");
    } else {
        reply_error(x, 403, "AccessDeniedHttpException", "This action is unauthorized.");
    }
    return false;
}

/* Laravel's throttle: headers on every answer, a 429 when armed. False when it answered. */
static bool throttled(struct ctx *x)
{
    char num[32];
    struct fake_ptero *fp = x->fp;
    fp->served++;
    snprintf(num, sizeof num, "%d", RATE_LIMIT);
    fake_add_header(x->w, "X-RateLimit-Limit", num);
    if (fp->throttle_left > 0) {
        fp->throttle_left--;
        snprintf(num, sizeof num, "%d", fp->throttle_after);
        fake_add_header(x->w, "X-RateLimit-Remaining", "0");
        fake_add_header(x->w, "Retry-After", num);
        fake_add_header(x->w, "X-RateLimit-Reset", "1700000000");
        reply_error(x, 429, "ThrottleRequestsException", "Too Many Attempts.");
        return true;
    }
    snprintf(num, sizeof num, "%lu", (unsigned long)(RATE_LIMIT - 1 - fp->served % RATE_LIMIT));
    fake_add_header(x->w, "X-RateLimit-Remaining", num);
    return false;
}

/* The JSON body; false when it answered 400. A non-JSON content type reads as no fields. */
static bool read_body(struct ctx *x)
{
    const char *ct = fake_header(x->r, "Content-Type");
    json_error_t jerr;
    x->in = NULL;
    if (x->r->body_len > 0 && ct != NULL && strstr(ct, "json") != NULL) {
        x->in = json_loadb(x->r->body, x->r->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(x->in)) {
            json_decref(x->in);
            x->in = NULL;
            reply_error(x, 400, "BadRequestHttpException",
                        "The JSON data passed in the request appears to be malformed: Syntax "
                        "error");
            return false;
        }
    }
    if (x->in == NULL)
        x->in = json_object();
    return true;
}

static void handler(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct ctx x;
    memset(&x, 0, sizeof x);
    x.fp = state;
    x.r = r;
    x.w = w;
    if (strcmp(r->path, "/auth/login") == 0) {
        fake_reply(w, 200, "text/html",
                   "<!DOCTYPE html><html><head><title>Pterodactyl</title>"
                   "</head><body>Login</body></html>");
        return;
    }
    if (strncmp(r->path, PREFIX, strlen(PREFIX)) != 0 ||
        (r->path[strlen(PREFIX)] != '/' && r->path[strlen(PREFIX)] != '\0')) {
        not_found(&x);
        return;
    }
    if (!authorised(&x) || throttled(&x) || !read_body(&x))
        goto out;
    split_path(&x, r->path + strlen(PREFIX));
    dispatch(&x);
out:
    for (size_t i = 0; i < x.nseg; i++)
        free(x.seg[i]);
    json_decref(x.in);
}

/* ---- seed ---- */

static json_t *variable(int64_t id, int64_t egg, const char *name, const char *env, const char *def,
                        const char *rules)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s}", "id",
                     (json_int_t)id, "egg_id", (json_int_t)egg, "name", name, "description", "",
                     "env_variable", env, "default_value", def, "user_viewable", 1, "user_editable",
                     1, "rules", rules, "created_at", TS, "updated_at", TS);
}

static json_t *egg(int64_t id, int64_t nest, const char *name, const char *image,
                   const char *startup, json_t *variables)
{
    char uuid[40];
    snprintf(uuid, sizeof uuid, "%08" PRIx64 "-3333-4000-8000-000000000000", (uint64_t)id);
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:s}, s:s, "
                     "s:{s:b, s:s, s:s}, s:s, s:s, s:o}",
                     "id", (json_int_t)id, "uuid", uuid, "name", name, "nest", (json_int_t)nest,
                     "author", "support@pterodactyl.io", "description", "", "docker_image", image,
                     "docker_images", name, image, "config", "stop", "stop", "startup", "{}",
                     "startup", startup, "script", "privileged", 1, "container", "alpine", "entry",
                     "ash", "created_at", TS, "updated_at", TS, "_variables", variables);
}

static json_t *nest(int64_t id, const char *name)
{
    char uuid[40];
    snprintf(uuid, sizeof uuid, "%08" PRIx64 "-4444-4000-8000-000000000000", (uint64_t)id);
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "uuid", uuid,
                     "author", "support@pterodactyl.io", "name", name, "description", "",
                     "created_at", TS, "updated_at", TS);
}

static json_t *allocation(struct fake_ptero *fp, int64_t node, int64_t port)
{
    json_t *a = json_pack("{s:I, s:s, s:n, s:I, s:n, s:I, s:I}", "id", (json_int_t)fp->next_alloc++,
                          "ip", "10.0.0.10", "alias", "port", (json_int_t)port, "notes", "_node",
                          (json_int_t)node, "_server_id", (json_int_t)0);
    json_array_append_new(fp->allocations, a);
    return a;
}

static void seed(struct fake_ptero *fp)
{
    json_array_append_new(fp->locations,
                          json_pack("{s:i, s:s, s:s, s:s, s:s}", "id", 1, "short", "us1", "long",
                                    "Lumi Test Datacenter", "created_at", TS, "updated_at", TS));
    json_array_append_new(
        fp->nodes,
        json_pack("{s:i, s:s, s:b, s:s, s:s, s:i, s:s, s:s, s:b, s:b, s:i, s:i, s:i, s:i, s:i, "
                  "s:i, s:i, s:s, s:s, s:s}",
                  "id", 1, "uuid", "00000001-5555-4000-8000-000000000000", "public", 1, "name",
                  "node-1", "description", "", "location_id", 1, "fqdn", "node1.example.test",
                  "scheme", "https", "behind_proxy", 0, "maintenance_mode", 0, "memory", 65536,
                  "memory_overallocate", 0, "disk", 1048576, "disk_overallocate", 0, "upload_size",
                  100, "daemon_listen", 8080, "daemon_sftp", 2022, "daemon_base",
                  "/var/lib/pterodactyl/volumes", "created_at", TS, "updated_at", TS));
    for (int64_t port = 25565; port < 25575; port++)
        allocation(fp, 1, port);
    json_array_append_new(fp->nests, nest(1, "Minecraft"));
    json_array_append_new(fp->nests, nest(2, "Rust"));
    json_array_append_new(fp->eggs,
                          egg(1, 1, "Paper", "ghcr.io/pterodactyl/yolks:java_17",
                              "java -Xms128M -Xmx{{SERVER_MEMORY}}M -jar {{SERVER_JARFILE}}",
                              json_pack("[o, o]",
                                        variable(1, 1, "Server Jar File", "SERVER_JARFILE",
                                                 "server.jar", "required|string|max:20"),
                                        variable(2, 1, "Build Number", "BUILD_NUMBER", "latest",
                                                 "nullable|string|max:20"))));
    json_array_append_new(fp->eggs,
                          egg(2, 1, "Vanilla Minecraft", "ghcr.io/pterodactyl/yolks:java_17",
                              "java -jar server.jar",
                              json_pack("[o]", variable(3, 2, "Server Version", "MINECRAFT_VERSION",
                                                        "latest", "required|string|max:20"))));
    json_array_append_new(fp->eggs, egg(3, 2, "Rust", "ghcr.io/pterodactyl/games:rust",
                                        "./RustDedicated -batchmode", json_array()));
    fp->next_server = 1;
    fp->next_user = 1;
    fp->next_port = 30000;
}

/* ---- public API ---- */

struct fake_ptero *fake_ptero_start(const char *api_key)
{
    struct fake_ptero *fp = calloc(1, sizeof *fp);
    if (fp == NULL)
        fail_msg("fake_ptero_start: out of memory");
    fp->api_key = str_dup(api_key);
    fp->locations = json_array();
    fp->nodes = json_array();
    fp->allocations = json_array();
    fp->nests = json_array();
    fp->eggs = json_array();
    fp->users = json_array();
    fp->servers = json_array();
    fp->next_alloc = 1;
    seed(fp);
    fp->http = fake_start(handler, fp);
    fake_lock(fp->http);
    str_copy(fp->url, fake_url(fp->http), sizeof fp->url);
    fake_unlock(fp->http);
    return fp;
}

const char *fake_ptero_url(struct fake_ptero *fp)
{
    return fp->url;
}

struct fake_server *fake_ptero_http(struct fake_ptero *fp)
{
    return fp->http;
}

void fake_ptero_stop(struct fake_ptero *fp)
{
    if (fp == NULL)
        return;
    fake_stop(fp->http);
    json_decref(fp->locations);
    json_decref(fp->nodes);
    json_decref(fp->allocations);
    json_decref(fp->nests);
    json_decref(fp->eggs);
    json_decref(fp->users);
    json_decref(fp->servers);
    free(fp->api_key);
    free(fp);
}

int64_t fake_ptero_add_user(struct fake_ptero *fp, const char *email, const char *username,
                            const char *external_id)
{
    fake_lock(fp->http);
    json_t *u = new_user(fp);
    json_object_set_new(u, "email", json_string(email));
    json_object_set_new(u, "username", json_string(username));
    json_object_set_new(u, "first_name", json_string("Seeded"));
    json_object_set_new(u, "last_name", json_string("User"));
    if (external_id != NULL)
        json_object_set_new(u, "external_id", json_string(external_id));
    int64_t id = int_of(u, "id");
    fake_unlock(fp->http);
    return id;
}

int64_t fake_ptero_add_server(struct fake_ptero *fp, const char *external_id, int64_t user_id)
{
    fake_lock(fp->http);
    const json_t *a = allocation(fp, 1, fp->next_port++);
    const json_t *e = find_by_int(fp->eggs, "id", 1);
    char name[64];
    snprintf(name, sizeof name, "seeded-%" PRId64, fp->next_server);
    json_t *s = new_server(fp, name, external_id, user_id, e, int_of(a, "id"));
    json_object_set_new(s, "status", json_null());
    json_object_set_new(s, "limits",
                        json_pack("{s:i, s:i, s:i, s:i, s:i, s:n, s:b}", "memory", 1024, "swap", 0,
                                  "disk", 5120, "io", 500, "cpu", 100, "threads", "oom_disabled",
                                  1));
    json_object_set_new(
        s, "feature_limits",
        json_pack("{s:i, s:i, s:i}", "databases", 0, "allocations", 0, "backups", 0));
    set_container(
        s, json_string_value(json_object_get(e, "startup")),
        json_string_value(json_object_get(e, "docker_image")),
        json_pack("{s:s, s:s}", "SERVER_JARFILE", "server.jar", "BUILD_NUMBER", "latest"));
    int64_t id = int_of(s, "id");
    fake_unlock(fp->http);
    return id;
}

void fake_ptero_set_daemon_down(struct fake_ptero *fp, bool down)
{
    fake_lock(fp->http);
    fp->daemon_down = down;
    fake_unlock(fp->http);
}

void fake_ptero_throttle(struct fake_ptero *fp, int count, int retry_after_s)
{
    fake_lock(fp->http);
    fp->throttle_left = count;
    fp->throttle_after = retry_after_s;
    fake_unlock(fp->http);
}

void fake_ptero_finish_installs(struct fake_ptero *fp)
{
    size_t i;
    json_t *s;
    fake_lock(fp->http);
    json_array_foreach(fp->servers, i, s)
    {
        const char *st = json_string_value(json_object_get(s, "status"));
        if (st != NULL && strcmp(st, "installing") == 0)
            json_object_set_new(s, "status", json_null());
    }
    fake_unlock(fp->http);
}

size_t fake_ptero_server_count(struct fake_ptero *fp)
{
    fake_lock(fp->http);
    size_t n = json_array_size(fp->servers);
    fake_unlock(fp->http);
    return n;
}

size_t fake_ptero_user_count(struct fake_ptero *fp)
{
    fake_lock(fp->http);
    size_t n = json_array_size(fp->users);
    fake_unlock(fp->http);
    return n;
}

size_t fake_ptero_free_allocations(struct fake_ptero *fp, int64_t node_id)
{
    size_t i, n = 0;
    const json_t *a;
    fake_lock(fp->http);
    json_array_foreach(fp->allocations, i, a)
    {
        if (int_of(a, "_node") == node_id && int_of(a, "_server_id") == 0)
            n++;
    }
    fake_unlock(fp->http);
    return n;
}

int fake_ptero_find_server(struct fake_ptero *fp, const char *external_id,
                           struct fake_ptero_server *out)
{
    memset(out, 0, sizeof *out);
    fake_lock(fp->http);
    const json_t *s = find_by_str(fp->servers, "external_id", external_id, false);
    if (s != NULL) {
        const json_t *l = json_object_get(s, "limits");
        const json_t *f = json_object_get(s, "feature_limits");
        const char *st = json_string_value(json_object_get(s, "status"));
        out->id = int_of(s, "id");
        out->user = int_of(s, "user");
        out->node = int_of(s, "node");
        out->allocation = int_of(s, "allocation");
        out->egg = int_of(s, "egg");
        out->suspended = json_is_true(json_object_get(s, "suspended"));
        str_copy(out->status, st != NULL ? st : "", sizeof out->status);
        out->memory = int_of(l, "memory");
        out->swap = int_of(l, "swap");
        out->disk = int_of(l, "disk");
        out->io = int_of(l, "io");
        out->cpu = int_of(l, "cpu");
        out->databases = int_of(f, "databases");
        out->allocations = int_of(f, "allocations");
        out->backups = int_of(f, "backups");
    }
    fake_unlock(fp->http);
    return s != NULL;
}

json_t *fake_ptero_server_json(struct fake_ptero *fp, const char *external_id)
{
    fake_lock(fp->http);
    const json_t *s = find_by_str(fp->servers, "external_id", external_id, false);
    json_t *copy = s != NULL ? public_copy(s) : NULL;
    fake_unlock(fp->http);
    return copy;
}

json_t *fake_ptero_user_json(struct fake_ptero *fp, const char *email)
{
    fake_lock(fp->http);
    const json_t *u = find_by_str(fp->users, "email", email, false);
    json_t *copy = u != NULL ? public_copy(u) : NULL;
    if (copy != NULL)
        json_object_set(copy, "password", json_object_get(u, "_password"));
    fake_unlock(fp->http);
    return copy;
}
