/*
 * fake_virtfusion.c — a stateful fake VirtFusion API v1 (see fake_virtfusion.h).
 *
 * Owns the fake's users and servers and one route table: each route is a
 * method and a path pattern ("%s" matches one path segment) with flags
 * saying whether it names a server (404 when unknown) and whether it is an
 * action that a lock refuses (423).
 *
 * Threading: the handler runs on fake_http's single server thread with the
 * fake locked; the test-thread helpers take fake_lock() around every access.
 * fake_vf_lose_next_create() arms a fake_http fault from inside the handler
 * (fake_fault takes fake_http's recording mutex, never the state lock, so
 * this cannot deadlock).
 */
#include "fakes/fake_virtfusion.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "panels/virtfusion.h"

#define API_PREFIX "/api/v1"
#define MAX_CAPS 3
#define CAP_MAX 64

struct user {
    int64_t id;
    int64_t ext; /* 0: none */
    char name[128];
    char email[256];
};

struct srv {
    struct fake_vf_server s;
    bool deleted;
};

struct fake_vf {
    struct fake_server *http;
    char token[256];
    bool locked;
    bool scope_limited;
    bool lose_next_create;
    struct user *users;
    size_t nusers;
    struct srv *servers;
    size_t nservers;
    int64_t next_user_id, next_server_id, next_queue_id, password_seq;
    size_t sso_count;
};

/* One request being answered. */
struct ctx {
    struct fake_vf *v;
    const struct fake_request *r;
    struct fake_response *w;
    char caps[MAX_CAPS][CAP_MAX];
    struct srv *srv; /* the server named by caps[0], for server routes */
    json_t *body;    /* parsed request body (object) or NULL */
};

static const struct {
    int64_t id;
    const char *name;
    int memory, cpu, storage;
} packages[] = {{1, "VPS S", 1024, 1, 25}, {2, "VPS M", 2048, 2, 50}, {3, "VPS L", 4096, 4, 100}};

static const struct {
    int64_t id;
    const char *group;
    const char *name;
    int64_t only_package; /* 0: every package */
} templates[] = {{101, "Debian", "Debian 12", 0},
                 {102, "Debian", "Debian 11", 0},
                 {111, "Ubuntu", "Ubuntu 24.04", 0},
                 {121, "Windows", "Windows Server 2022", 3}};

static const struct {
    int64_t id;
    const char *name;
} groups[] = {{1, "Amsterdam"}, {2, "London"}};

/* ---- lookups ---- */

static bool package_exists(int64_t id)
{
    for (size_t i = 0; i < sizeof(packages) / sizeof(packages[0]); i++)
        if (packages[i].id == id)
            return true;
    return false;
}

static bool template_allowed(int64_t id, int64_t package_id)
{
    for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
        if (templates[i].id == id &&
            (templates[i].only_package == 0 || templates[i].only_package == package_id))
            return true;
    return false;
}

static bool group_exists(int64_t id)
{
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (groups[i].id == id)
            return true;
    return false;
}

static struct user *user_by_id(struct fake_vf *v, int64_t id)
{
    for (size_t i = 0; i < v->nusers; i++)
        if (v->users[i].id == id)
            return &v->users[i];
    return NULL;
}

static struct user *user_by_ext(struct fake_vf *v, int64_t ext)
{
    for (size_t i = 0; ext > 0 && i < v->nusers; i++)
        if (v->users[i].ext == ext)
            return &v->users[i];
    return NULL;
}

static struct srv *server_by_id(struct fake_vf *v, int64_t id)
{
    for (size_t i = 0; i < v->nservers; i++)
        if (v->servers[i].s.id == id && !v->servers[i].deleted)
            return &v->servers[i];
    return NULL;
}

static bool parse_id(const char *s, int64_t *out)
{
    return s != NULL && str_to_i64z(s, 1, INT64_MAX, out) == 0;
}

/* ---- state changes ---- */

static struct user *add_user(struct fake_vf *v, int64_t ext, const char *name, const char *email)
{
    struct user *u = realloc(v->users, (v->nusers + 1) * sizeof(*u));
    if (u == NULL)
        fail_msg("fake_vf: out of memory");
    v->users = u;
    u = &v->users[v->nusers++];
    memset(u, 0, sizeof(*u));
    u->id = ++v->next_user_id;
    u->ext = ext;
    str_copy(u->name, name != NULL ? name : "", sizeof(u->name));
    str_copy(u->email, email != NULL ? email : "", sizeof(u->email));
    return u;
}

static struct srv *add_server(struct fake_vf *v, int64_t owner, int64_t package_id,
                              int64_t group_id, int ipv4)
{
    struct srv *s = realloc(v->servers, (v->nservers + 1) * sizeof(*s));
    if (s == NULL)
        fail_msg("fake_vf: out of memory");
    v->servers = s;
    s = &v->servers[v->nservers++];
    memset(s, 0, sizeof(*s));
    s->s.id = ++v->next_server_id;
    s->s.owner_id = owner;
    s->s.package_id = package_id;
    s->s.hypervisor_group_id = group_id;
    s->s.ipv4 = ipv4;
    snprintf(s->s.name, sizeof(s->s.name), "server-%" PRId64, s->s.id);
    str_copy(s->s.power, "stopped", sizeof(s->s.power));
    return s;
}

/* ---- JSON answers ---- */

static void reply_json(struct fake_response *w, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    fake_reply(w, status, "application/json", text != NULL ? text : "{}");
    free(text);
    json_decref(j);
}

static void reply_msg(struct fake_response *w, int status, const char *msg)
{
    reply_json(w, status, json_pack("{s:s}", "msg", msg));
}

static void reply_errors(struct fake_response *w, json_t *errors)
{
    reply_json(w, 422, json_pack("{s:o}", "errors", errors));
}

static void reply_error(struct fake_response *w, const char *msg)
{
    reply_errors(w, json_pack("[s]", msg));
}

static void reply_data(struct fake_response *w, int status, json_t *data)
{
    reply_json(w, status, json_pack("{s:o}", "data", data));
}

static json_t *user_json(const struct user *u)
{
    return json_pack("{s:I, s:b, s:o, s:s, s:s, s:s, s:b, s:b}", "id", (json_int_t)u->id, "admin",
                     0, "extRelationId", u->ext > 0 ? json_integer(u->ext) : json_null(), "name",
                     u->name, "email", u->email, "timezone", "UTC", "suspended", 0, "twoFactorAuth",
                     0);
}

static json_t *server_json(struct fake_vf *v, const struct srv *sv)
{
    const struct fake_vf_server *s = &sv->s;
    const struct user *u = user_by_id(v, s->owner_id);
    char uuid[40];
    snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012" PRId64, s->id);
    json_t *owner = u != NULL ? user_json(u) : json_null();
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:s, s:I, s:b, s:b, s:b, s:b, "
                     "s:s, s:s, s:{s:b, s:o}}",
                     "id", (json_int_t)s->id, "uuid", uuid, "name", s->name, "hostname",
                     s->hostname, "ownerId", (json_int_t)s->owner_id, "owner", owner, "packageId",
                     (json_int_t)s->package_id, "hypervisorId", (json_int_t)s->hypervisor_group_id,
                     "state", s->power, "commissionStatus", (json_int_t)(s->built ? 3 : 0),
                     "suspended", s->suspended, "protected", 0, "built", s->built, "buildFailed", 0,
                     "created", "2026-11-24T10:00:00+00:00", "updated", "2026-11-24T10:00:00+00:00",
                     "settings", "osTemplateInstall", s->built, "osTemplateInstallId",
                     s->os_template_id > 0 ? json_integer(s->os_template_id) : json_null());
}

/* Laravel's LengthAwarePaginator envelope over items (taken). */
static void reply_page(struct ctx *x, const char *path, json_t *items)
{
    int64_t per = 20, page = 1;
    const char *q = fake_query(x->r, "results");
    if (q != NULL && str_to_i64z(q, 1, 200, &per) != 0)
        per = 20;
    q = fake_query(x->r, "page");
    if (q != NULL && str_to_i64z(q, 1, 1000000, &page) != 0)
        page = 1;
    int64_t total = (int64_t)json_array_size(items);
    int64_t last = total == 0 ? 1 : (total + per - 1) / per;
    int64_t from = (page - 1) * per;
    json_t *data = json_array();
    for (int64_t i = from; i < total && i < from + per; i++)
        json_array_append(data, json_array_get(items, (size_t)i));
    char base[256], first[300], last_url[300], next[300], prev[300];
    snprintf(base, sizeof(base), "%s%s%s", fake_url(x->v->http), API_PREFIX, path);
    snprintf(first, sizeof(first), "%s?page=1", base);
    snprintf(last_url, sizeof(last_url), "%s?page=%" PRId64, base, last);
    snprintf(next, sizeof(next), "%s?page=%" PRId64, base, page + 1);
    snprintf(prev, sizeof(prev), "%s?page=%" PRId64, base, page - 1);
    size_t n = json_array_size(data);
    json_t *page_obj = json_pack(
        "{s:I, s:o, s:s, s:o, s:I, s:s, s:[], s:o, s:s, s:I, s:o, s:o, s:I}", "current_page",
        (json_int_t)page, "data", data, "first_page_url", first, "from",
        n > 0 ? json_integer(from + 1) : json_null(), "last_page", (json_int_t)last,
        "last_page_url", last_url, "links", "next_page_url",
        page < last ? json_string(next) : json_null(), "path", base, "per_page", (json_int_t)per,
        "prev_page_url", page > 1 ? json_string(prev) : json_null(), "to",
        n > 0 ? json_integer(from + (int64_t)n) : json_null(), "total", (json_int_t)total);
    json_decref(items);
    reply_json(x->w, 200, page_obj);
}

/* ---- request body helpers ---- */

/* body[key] as a positive id: 1 ok, 0 absent, -1 present but not one. */
static int body_id(const struct ctx *x, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(x->body, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = json_integer_value(v);
        return 1;
    }
    return -1;
}

static const char *body_str(const struct ctx *x, const char *key)
{
    return json_string_value(json_object_get(x->body, key));
}

/* ---- routes ---- */

static void h_connect(struct ctx *x)
{
    reply_data(x->w, 200, json_pack("{s:s}", "version", "7.0.0"));
}

static void h_groups(struct ctx *x)
{
    if (x->v->scope_limited) {
        reply_msg(x->w, 403, "This action is unauthorized.");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        json_array_append_new(items, json_pack("{s:I, s:s, s:b}", "id", (json_int_t)groups[i].id,
                                               "name", groups[i].name, "enabled", 1));
    reply_page(x, "/compute/hypervisors/groups", items);
}

static json_t *package_json(size_t i)
{
    return json_pack("{s:I, s:s, s:i, s:i, s:i, s:b}", "id", (json_int_t)packages[i].id, "name",
                     packages[i].name, "memory", packages[i].memory, "cpuCores", packages[i].cpu,
                     "primaryStorage", packages[i].storage, "enabled", 1);
}

static void h_packages(struct ctx *x)
{
    json_t *items = json_array();
    for (size_t i = 0; i < sizeof(packages) / sizeof(packages[0]); i++)
        json_array_append_new(items, package_json(i));
    reply_data(x->w, 200, items);
}

static void h_package(struct ctx *x)
{
    int64_t id = 0;
    for (size_t i = 0; parse_id(x->caps[0], &id) && i < sizeof(packages) / sizeof(packages[0]);
         i++) {
        if (packages[i].id == id) {
            reply_data(x->w, 200, package_json(i));
            return;
        }
    }
    reply_msg(x->w, 404, "package not found");
}

static void h_templates(struct ctx *x)
{
    int64_t pkg = 0;
    if (!parse_id(x->caps[0], &pkg) || !package_exists(pkg)) {
        reply_msg(x->w, 404, "package not found");
        return;
    }
    json_t *out = json_array(), *group = NULL;
    const char *current = NULL;
    for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
        if (!template_allowed(templates[i].id, pkg))
            continue;
        if (!str_eq(current, templates[i].group)) {
            current = templates[i].group;
            group = json_pack("{s:I, s:s, s:[]}", "id", (json_int_t)(json_array_size(out) + 1),
                              "name", current, "templates");
            json_array_append_new(out, group);
        }
        json_array_append_new(json_object_get(group, "templates"),
                              json_pack("{s:I, s:s, s:s, s:s, s:b}", "id",
                                        (json_int_t)templates[i].id, "name", templates[i].name,
                                        "arch", "x86_64", "type", "linux", "eol", 0));
    }
    reply_data(x->w, 200, out);
}

static void h_user_by_ext(struct ctx *x)
{
    int64_t ext = 0;
    struct user *u = parse_id(x->caps[0], &ext) ? user_by_ext(x->v, ext) : NULL;
    if (u == NULL) {
        reply_msg(x->w, 404, "ext_relation_id not found");
        return;
    }
    reply_data(x->w, 200, user_json(u));
}

static void h_user_create(struct ctx *x)
{
    json_t *errors = json_array();
    const char *name = body_str(x, "name"), *email = body_str(x, "email");
    int64_t ext = 0;
    if (!str_present(name))
        json_array_append_new(errors, json_string("The name field is required."));
    if (!str_present(email))
        json_array_append_new(errors, json_string("The email field is required."));
    else if (strchr(email, '@') == NULL)
        json_array_append_new(errors, json_string("The email must be a valid email address."));
    int rc = body_id(x, "extRelationId", &ext);
    if (rc < 0)
        json_array_append_new(errors, json_string("The ext relation id must be an integer."));
    else if (rc == 1 && user_by_ext(x->v, ext) != NULL)
        json_array_append_new(errors, json_string("The ext relation id has already been taken."));
    if (json_array_size(errors) > 0) {
        reply_errors(x->w, errors);
        return;
    }
    json_decref(errors);
    reply_data(x->w, 201, user_json(add_user(x->v, ext, name, email)));
}

static void h_server_create(struct ctx *x)
{
    json_t *errors = json_array();
    int64_t pkg = 0, uid = 0, grp = 0, ipv4 = 1;
    int rc = body_id(x, "packageId", &pkg);
    if (rc == 0)
        json_array_append_new(errors, json_string("The package id field is required."));
    else if (rc < 0 || !package_exists(pkg))
        json_array_append_new(errors, json_string("The selected package id is invalid."));
    rc = body_id(x, "userId", &uid);
    if (rc == 0)
        json_array_append_new(errors, json_string("The user id field is required."));
    else if (rc < 0 || user_by_id(x->v, uid) == NULL)
        json_array_append_new(errors, json_string("The selected user id is invalid."));
    rc = body_id(x, "hypervisorId", &grp);
    if (rc == 0)
        json_array_append_new(errors, json_string("The hypervisor id field is required."));
    else if (rc < 0 || !group_exists(grp))
        json_array_append_new(errors, json_string("The selected hypervisor id is invalid."));
    const json_t *ip = json_object_get(x->body, "ipv4");
    if (ip != NULL &&
        (!json_is_integer(ip) || json_integer_value(ip) < 0 || json_integer_value(ip) > 256))
        json_array_append_new(errors, json_string("The ipv4 must be an integer."));
    else if (ip != NULL)
        ipv4 = json_integer_value(ip);
    if (json_array_size(errors) > 0) {
        reply_errors(x->w, errors);
        return;
    }
    json_decref(errors);
    if (str_eq(fake_query(x->r, "dryRun"), "true")) {
        if (x->v->lose_next_create) {
            x->v->lose_next_create = false;
            fake_fault(x->v->http, FAKE_FAULT_DROP_AFTER, 1, 0, API_PREFIX "/servers");
        }
        reply_data(x->w, 200, json_pack("{s:b}", "dryRun", 1));
        return;
    }
    struct srv *s = add_server(x->v, uid, pkg, grp, (int)ipv4);
    reply_data(x->w, 201, server_json(x->v, s));
}

static void h_servers_list(struct ctx *x)
{
    json_t *items = json_array();
    for (size_t i = 0; i < x->v->nservers; i++)
        if (!x->v->servers[i].deleted)
            json_array_append_new(items, server_json(x->v, &x->v->servers[i]));
    reply_page(x, "/servers", items);
}

static void h_user_servers(struct ctx *x)
{
    int64_t uid = 0;
    if (!parse_id(x->caps[0], &uid) || user_by_id(x->v, uid) == NULL) {
        reply_msg(x->w, 404, "user not found");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < x->v->nservers; i++)
        if (!x->v->servers[i].deleted && x->v->servers[i].s.owner_id == uid)
            json_array_append_new(items, server_json(x->v, &x->v->servers[i]));
    reply_data(x->w, 200, items);
}

static void h_server_get(struct ctx *x)
{
    reply_data(x->w, 200, server_json(x->v, x->srv));
}

static void h_server_delete(struct ctx *x)
{
    x->srv->deleted = true;
    fake_reply(x->w, 204, NULL, NULL);
}

static void h_build(struct ctx *x)
{
    int64_t os = 0;
    int rc = body_id(x, "operatingSystemId", &os);
    if (rc == 0) {
        reply_error(x->w, "The operating system id field is required.");
        return;
    }
    if (rc < 0 || !template_allowed(os, x->srv->s.package_id)) {
        reply_error(x->w, "The selected operating system is not available for this package.");
        return;
    }
    const char *name = body_str(x, "name"), *host = body_str(x, "hostname");
    if (name != NULL)
        str_copy(x->srv->s.name, name, sizeof(x->srv->s.name));
    if (host != NULL)
        str_copy(x->srv->s.hostname, host, sizeof(x->srv->s.hostname));
    x->srv->s.os_template_id = os;
    x->srv->s.built = true;
    str_copy(x->srv->s.power, "running", sizeof(x->srv->s.power));
    reply_data(x->w, 200, server_json(x->v, x->srv));
}

static void h_name(struct ctx *x)
{
    const char *name = body_str(x, "name");
    if (!str_present(name) || strlen(name) > 191) {
        reply_error(x->w, "The name field is required.");
        return;
    }
    str_copy(x->srv->s.name, name, sizeof(x->srv->s.name));
    reply_data(x->w, 201, server_json(x->v, x->srv));
}

static void set_suspended(struct ctx *x, bool want)
{
    if (x->srv->s.suspended == want) {
        reply_error(x->w, want ? "Server is already suspended." : "Server is not suspended.");
        return;
    }
    x->srv->s.suspended = want;
    fake_reply(x->w, 204, NULL, NULL);
}

static void h_suspend(struct ctx *x)
{
    set_suspended(x, true);
}

static void h_unsuspend(struct ctx *x)
{
    set_suspended(x, false);
}

static void h_power(struct ctx *x)
{
    const char *a = x->caps[1];
    if (strcmp(a, "boot") == 0 || strcmp(a, "restart") == 0)
        str_copy(x->srv->s.power, "running", sizeof(x->srv->s.power));
    else if (strcmp(a, "shutdown") == 0 || strcmp(a, "poweroff") == 0)
        str_copy(x->srv->s.power, "stopped", sizeof(x->srv->s.power));
    else {
        reply_msg(x->w, 404, "not found");
        return;
    }
    str_copy(x->srv->s.last_power, a, sizeof(x->srv->s.last_power));
    reply_data(x->w, 200, json_pack("{s:I}", "queueId", (json_int_t)++x->v->next_queue_id));
}

/*
 * POST /users/{extRelationId}/serverAuthenticationTokens/{serverId}: a login
 * token pair for the user's own server; 404 for an unknown user or server
 * (also another user's server).
 */
static void h_server_auth_tokens(struct ctx *x)
{
    int64_t ext = 0, sid = 0;
    struct user *u = parse_id(x->caps[0], &ext) ? user_by_ext(x->v, ext) : NULL;
    struct srv *sv = parse_id(x->caps[1], &sid) ? server_by_id(x->v, sid) : NULL;
    if (u == NULL) {
        reply_msg(x->w, 404, "ext_relation_id not found");
        return;
    }
    if (sv == NULL || sv->s.owner_id != u->id) {
        reply_msg(x->w, 404, "server not found");
        return;
    }
    char t1[48], t2[48], complete[160];
    size_t n = ++x->v->sso_count;
    snprintf(t1, sizeof t1, "vfA%zu%" PRId64 "x7Qk2", n, sid);
    snprintf(t2, sizeof t2, "vfB%zu%" PRId64 "m3Zr9", n, u->id);
    snprintf(complete, sizeof complete, "/token_authentication?1=%s&2=%s", t1, t2);
    reply_data(x->w, 200,
               json_pack("{s:{s:{s:s, s:s}, s:s, s:s, s:{s:i, s:s}}}", "authentication", "tokens",
                         "1", t1, "2", t2, "endpoint", "/token_authentication", "endpoint_complete",
                         complete, "expiry", "ttl", 60, "expires", "2030-01-01 00:01:00"));
}

static void h_package_change(struct ctx *x)
{
    int64_t pkg = 0;
    if (!parse_id(x->caps[1], &pkg) || !package_exists(pkg)) {
        reply_msg(x->w, 404, "package not found");
        return;
    }
    x->srv->s.package_id = pkg;
    fake_reply(x->w, 204, NULL, NULL);
}

static void h_reset_password(struct ctx *x)
{
    const char *user = body_str(x, "user");
    if (!str_eq(user, "root") && !str_eq(user, "Administrator")) {
        reply_error(x->w, "The selected user is invalid.");
        return;
    }
    snprintf(x->srv->s.last_password, sizeof(x->srv->s.last_password),
             "Vf%" PRId64 "-pw-%" PRId64 "-Zq8", x->srv->s.id, ++x->v->password_seq);
    reply_data(x->w, 200,
               json_pack("{s:I, s:s}", "queueId", (json_int_t)++x->v->next_queue_id,
                         "expectedPassword", x->srv->s.last_password));
}

static void reply_vnc(struct ctx *x)
{
    const struct fake_vf_server *s = &x->srv->s;
    char token[32], url[128], pw[32];
    snprintf(token, sizeof(token), "tok%" PRId64, s->id);
    snprintf(url, sizeof(url), "wss://vps.example.com/vnc/%" PRId64 "?token=%s", s->id, token);
    snprintf(pw, sizeof(pw), "vnc%" PRId64, s->id);
    reply_data(x->w, 200,
               json_pack("{s:{s:s, s:s, s:I, s:s, s:{s:s, s:s}, s:b}}", "vnc", "ip", "10.0.0.1",
                         "hostname", "hv1.example.com", "port", (json_int_t)(5900 + s->id),
                         "password", pw, "wss", "token", token, "url", url, "enabled",
                         s->vnc_enabled));
}

static void h_vnc_get(struct ctx *x)
{
    reply_vnc(x);
}

static void h_vnc_set(struct ctx *x)
{
    const json_t *on = json_object_get(x->body, "vnc");
    if (!json_is_boolean(on)) {
        reply_error(x->w, "The vnc field is required.");
        return;
    }
    x->srv->s.vnc_enabled = json_is_true(on);
    reply_vnc(x);
}

static void h_traffic(struct ctx *x)
{
    reply_data(x->w, 200,
               json_pack("{s:[{s:i, s:s, s:s, s:I, s:I, s:I, s:i, s:[]}]}", "monthly", "month", 1,
                         "start", "2026-11-01T00:00:00+00:00", "end", "2026-11-30T23:59:59+00:00",
                         "rx", (json_int_t)1000000, "tx", (json_int_t)2500000, "total",
                         (json_int_t)3500000, "limit", 1000, "blocks"));
}

static void h_iso_mount(struct ctx *x)
{
    int64_t iso = 0;
    if (!parse_id(x->caps[1], &iso)) {
        reply_msg(x->w, 404, "iso not found");
        return;
    }
    x->srv->s.iso_id = iso;
    fake_reply(x->w, 204, NULL, NULL);
}

static void h_iso_unmount(struct ctx *x)
{
    x->srv->s.iso_id = 0;
    fake_reply(x->w, 204, NULL, NULL);
}

enum { SERVER = 1, ACTION = 2 };

static const struct route {
    const char *method;
    const char *pattern;
    int flags;
    void (*fn)(struct ctx *x);
} routes[] = {
    {"GET", "/connect", 0, h_connect},
    {"GET", "/compute/hypervisors/groups", 0, h_groups},
    {"GET", "/packages", 0, h_packages},
    {"GET", "/packages/%s", 0, h_package},
    {"GET", "/media/templates/fromServerPackageSpec/%s", 0, h_templates},
    {"GET", "/users/%s/byExtRelation", 0, h_user_by_ext},
    {"POST", "/users", 0, h_user_create},
    {"POST", "/users/%s/serverAuthenticationTokens/%s", 0, h_server_auth_tokens},
    {"POST", "/servers", 0, h_server_create},
    {"GET", "/servers", 0, h_servers_list},
    {"GET", "/servers/user/%s", 0, h_user_servers},
    {"GET", "/servers/%s", SERVER, h_server_get},
    {"DELETE", "/servers/%s", SERVER | ACTION, h_server_delete},
    {"POST", "/servers/%s/build", SERVER | ACTION, h_build},
    {"PUT", "/servers/%s/modify/name", SERVER | ACTION, h_name},
    {"POST", "/servers/%s/suspend", SERVER | ACTION, h_suspend},
    {"POST", "/servers/%s/unsuspend", SERVER | ACTION, h_unsuspend},
    {"POST", "/servers/%s/power/%s", SERVER | ACTION, h_power},
    {"PUT", "/servers/%s/package/%s", SERVER | ACTION, h_package_change},
    {"POST", "/servers/%s/resetPassword", SERVER | ACTION, h_reset_password},
    {"GET", "/servers/%s/vnc", SERVER, h_vnc_get},
    {"POST", "/servers/%s/vnc", SERVER | ACTION, h_vnc_set},
    {"GET", "/servers/%s/traffic", SERVER, h_traffic},
    {"POST", VF_ISO_MOUNT_PATH_FMT, SERVER | ACTION, h_iso_mount},
    {"POST", VF_ISO_UNMOUNT_PATH_FMT, SERVER | ACTION, h_iso_unmount},
};

/* Matches path against pattern; each "%s" takes one non-empty segment into caps. */
static bool match(const char *pattern, const char *path, char caps[][CAP_MAX])
{
    int ncap = 0;
    while (*pattern != '\0') {
        if (pattern[0] == '%' && pattern[1] == 's') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= CAP_MAX || ncap >= MAX_CAPS)
                return false;
            memcpy(caps[ncap], path, n);
            caps[ncap++][n] = '\0';
            path += n;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *path == '\0';
}

static bool authorised(struct fake_vf *v, const struct fake_request *r)
{
    const char *auth = fake_header(r, "Authorization");
    return auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, v->token) == 0;
}

static void handle(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct fake_vf *v = state;
    struct ctx x = {.v = v, .r = r, .w = w};
    if (!str_starts_with(r->path, API_PREFIX "/")) {
        fake_reply(w, 404, "text/html", "<html><body><h1>404 Not Found</h1></body></html>");
        return;
    }
    if (!authorised(v, r)) {
        fake_reply(w, 401, "application/json", "");
        return;
    }
    const char *path = r->path + strlen(API_PREFIX);
    const struct route *rt = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && rt == NULL; i++)
        if (strcmp(routes[i].method, r->method) == 0 && match(routes[i].pattern, path, x.caps))
            rt = &routes[i];
    if (rt == NULL) {
        reply_json(w, 404, json_pack("{s:s}", "message", "The route could not be found."));
        return;
    }
    if (r->body_len > 0) {
        x.body = json_loadb(r->body, r->body_len, 0, NULL);
        if (!json_is_object(x.body)) {
            json_decref(x.body);
            reply_msg(w, 400, "The request body is not valid JSON.");
            return;
        }
    }
    int64_t sid = 0;
    if ((rt->flags & SERVER) &&
        (!parse_id(x.caps[0], &sid) || (x.srv = server_by_id(v, sid)) == NULL))
        reply_msg(w, 404, "server not found");
    else if ((rt->flags & ACTION) && v->locked)
        reply_msg(w, 423, "Server is locked by a running task. Try again later.");
    else
        rt->fn(&x);
    json_decref(x.body);
}

/* ---- public API ---- */

struct fake_vf *fake_vf_start(const char *token)
{
    struct fake_vf *v = calloc(1, sizeof(*v));
    if (v == NULL)
        fail_msg("fake_vf_start: out of memory");
    str_copy(v->token, token, sizeof(v->token));
    v->next_queue_id = 1000;
    v->http = fake_start(handle, v);
    return v;
}

void fake_vf_stop(struct fake_vf *v)
{
    if (v == NULL)
        return;
    fake_stop(v->http);
    free(v->users);
    free(v->servers);
    free(v);
}

const char *fake_vf_url(const struct fake_vf *v)
{
    return fake_url(v->http);
}

struct fake_server *fake_vf_http(struct fake_vf *v)
{
    return v->http;
}

void fake_vf_set_locked(struct fake_vf *v, bool locked)
{
    fake_lock(v->http);
    v->locked = locked;
    fake_unlock(v->http);
}

void fake_vf_set_scope_limited(struct fake_vf *v, bool limited)
{
    fake_lock(v->http);
    v->scope_limited = limited;
    fake_unlock(v->http);
}

void fake_vf_lose_next_create(struct fake_vf *v)
{
    fake_lock(v->http);
    v->lose_next_create = true;
    fake_unlock(v->http);
}

size_t fake_vf_server_count(struct fake_vf *v)
{
    size_t n = 0;
    fake_lock(v->http);
    for (size_t i = 0; i < v->nservers; i++)
        if (!v->servers[i].deleted)
            n++;
    fake_unlock(v->http);
    return n;
}

size_t fake_vf_user_count(struct fake_vf *v)
{
    fake_lock(v->http);
    size_t n = v->nusers;
    fake_unlock(v->http);
    return n;
}

int64_t fake_vf_user_id(struct fake_vf *v, int64_t ext_relation_id)
{
    fake_lock(v->http);
    const struct user *u = user_by_ext(v, ext_relation_id);
    int64_t id = u != NULL ? u->id : 0;
    fake_unlock(v->http);
    return id;
}

bool fake_vf_server_by_name(struct fake_vf *v, const char *name, struct fake_vf_server *out)
{
    bool found = false;
    fake_lock(v->http);
    for (size_t i = 0; i < v->nservers && !found; i++) {
        if (!v->servers[i].deleted && str_eq(v->servers[i].s.name, name)) {
            *out = v->servers[i].s;
            found = true;
        }
    }
    fake_unlock(v->http);
    return found;
}

bool fake_vf_server_by_id(struct fake_vf *v, int64_t id, struct fake_vf_server *out)
{
    fake_lock(v->http);
    const struct srv *s = server_by_id(v, id);
    if (s != NULL)
        *out = s->s;
    fake_unlock(v->http);
    return s != NULL;
}

int64_t fake_vf_add_user(struct fake_vf *v, int64_t ext_relation_id, const char *email)
{
    fake_lock(v->http);
    int64_t id = add_user(v, ext_relation_id, "Seeded User", email)->id;
    fake_unlock(v->http);
    return id;
}

int64_t fake_vf_add_server(struct fake_vf *v, int64_t owner_id, int64_t package_id,
                           const char *name, bool built)
{
    fake_lock(v->http);
    struct srv *s = add_server(v, owner_id, package_id, groups[0].id, 1);
    if (name != NULL)
        str_copy(s->s.name, name, sizeof(s->s.name));
    if (built) {
        s->s.built = true;
        s->s.os_template_id = templates[0].id;
        str_copy(s->s.power, "running", sizeof(s->s.power));
    }
    int64_t id = s->s.id;
    fake_unlock(v->http);
    return id;
}

size_t fake_vf_sso_count(struct fake_vf *v)
{
    fake_lock(v->http);
    size_t n = v->sso_count;
    fake_unlock(v->http);
    return n;
}
