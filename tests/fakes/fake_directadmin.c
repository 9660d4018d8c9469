/*
 * fake_directadmin.c — a fake DirectAdmin panel (see fake_directadmin.h).
 *
 * Owns the panel state (accounts, their databases, packages, modes) and the
 * handler that fake_http runs for every request. Threading: the handler runs
 * on fake_http's single server thread with the fake's lock held; the public
 * functions take the same lock (fake_lock) before touching state, so the two
 * never interleave. Nothing here is shared between fakes.
 *
 * The legacy answers follow DirectAdmin's shapes as the client contracts
 * describe them (see /work/shared/contracts/directadmin.md); texts of
 * errors are plausible, not copied from a real panel, and tests must not
 * match on them beyond what the client passes through.
 */
#include "fakes/fake_directadmin.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"

#define FDA_MAX_ACCOUNTS 128
#define FDA_MAX_DBS 16
#define FDA_OWNED 24

static const char *const packages[] = {"basic", "pro"};

struct fda_account {
    char user[32];
    char email[256];
    char domain[256];
    char package[64];
    char password[256];
    char ip[64];
    bool suspended;
    char dbs[FDA_MAX_DBS][128];
    int ndbs;
};

struct fake_da {
    struct fake_server *srv;
    char admin[64];
    char password[256];
    bool toggle, html_login, blacklisted, legacy_only, suspend_ignored;
    struct fda_account acc[FDA_MAX_ACCOUNTS];
    size_t nacc;
    size_t login_urls;       /* one-time login URLs created */
    char login_url_user[64]; /* the account the last one logs in */
};

/* One request being handled: decoded parameters live until the answer is built. */
struct call {
    struct fake_da *da;
    const struct fake_request *r;
    struct fake_response *w;
    bool json;
    const char *as_user; /* login-as target, NULL for the admin itself */
    char *owned[FDA_OWNED];
    size_t nowned;
};

/* ---- state ---- */

static struct fda_account *find(struct fake_da *da, const char *user)
{
    for (size_t i = 0; user != NULL && i < da->nacc; i++)
        if (strcmp(da->acc[i].user, user) == 0)
            return &da->acc[i];
    return NULL;
}

static bool domain_taken(struct fake_da *da, const char *domain)
{
    for (size_t i = 0; i < da->nacc; i++)
        if (strcasecmp(da->acc[i].domain, domain) == 0)
            return true;
    return false;
}

static bool package_known(const char *p)
{
    for (size_t i = 0; p != NULL && i < sizeof packages / sizeof packages[0]; i++)
        if (strcmp(packages[i], p) == 0)
            return true;
    return false;
}

/* DirectAdmin's rule: lowercase letters and digits, a letter first, at most 10. */
static bool username_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > 10 || u[0] < 'a' || u[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9')))
            return false;
    return true;
}

static struct fda_account *add(struct fake_da *da, const char *user, const char *email,
                               const char *domain, const char *package, const char *password)
{
    if (da->nacc >= FDA_MAX_ACCOUNTS || find(da, user) != NULL || domain_taken(da, domain))
        return NULL;
    struct fda_account *a = &da->acc[da->nacc++];
    memset(a, 0, sizeof *a);
    str_copy(a->user, user, sizeof a->user);
    str_copy(a->email, email, sizeof a->email);
    str_copy(a->domain, domain, sizeof a->domain);
    str_copy(a->package, package, sizeof a->package);
    str_copy(a->password, password, sizeof a->password);
    str_copy(a->ip, "192.0.2.10", sizeof a->ip);
    return a;
}

static void drop(struct fake_da *da, struct fda_account *a)
{
    size_t i = (size_t)(a - da->acc);
    memmove(&da->acc[i], &da->acc[i + 1], (da->nacc - i - 1) * sizeof da->acc[0]);
    da->nacc--;
}

/* ---- request helpers ---- */

static const char *keep(struct call *c, char *s)
{
    if (s == NULL)
        return NULL;
    if (c->nowned >= FDA_OWNED) {
        free(s);
        return NULL;
    }
    c->owned[c->nowned++] = s;
    return s;
}

/* A parameter from the form (POST) or the query, decoded; NULL when absent. */
static const char *param(struct call *c, const char *name)
{
    if (strcmp(c->r->method, "POST") == 0) {
        const char *v = keep(c, fake_form(c->r, name));
        if (v != NULL)
            return v;
    }
    return fake_query(c->r, name);
}

static bool is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* Values are entity-encoded for '&', '=', '<', '>' and percent-encoded otherwise. */
static void put_value(struct buf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        if (*p == '&' || *p == '=' || *p == '<' || *p == '>')
            buf_printf(b, "&#%d;", *p);
        else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr("-._~@:/", *p) != NULL)
            buf_append_char(b, (char)*p);
        else
            buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

static void reply_json(struct call *c, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    fake_reply(c->w, status, "application/json", text != NULL ? text : "{}");
    free(text);
    json_decref(doc);
}

static void reply_action(struct call *c, bool ok, const char *text, const char *details)
{
    if (c->json) {
        reply_json(c, 200,
                   json_pack("{s:s, s:s}", ok ? "success" : "error", text, "result",
                             details != NULL ? details : ""));
        return;
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b, "error=%d&text=", ok ? 0 : 1);
    put_value(&b, text);
    buf_append_str(&b, "&details=");
    put_value(&b, details != NULL ? details : "");
    fake_reply(c->w, 200, "text/plain", buf_cstr(&b));
    buf_free(&b);
}

static void reply_list(struct call *c, const char *const *items, size_t n)
{
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_string(items[i]));
        reply_json(c, 200, arr);
        return;
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&b, i > 0 ? "&list[]=" : "list[]=");
        put_value(&b, items[i]);
    }
    fake_reply(c->w, 200, "text/plain", buf_cstr(&b));
    buf_free(&b);
}

/* ---- legacy commands ---- */

static void show_users(struct call *c)
{
    const char *names[FDA_MAX_ACCOUNTS];
    if (c->as_user != NULL) {
        reply_action(c, false, "Access denied", "Only resellers and admins may list users");
        return;
    }
    for (size_t i = 0; i < c->da->nacc; i++)
        names[i] = c->da->acc[i].user;
    reply_list(c, names, c->da->nacc);
}

static void user_record(struct call *c, const struct fda_account *a)
{
    const char *kv[][2] = {
        {"username", a->user},
        {"usertype", "user"},
        {"creator", c->da->admin},
        {"account", "ON"},
        {"email", a->email},
        {"domain", a->domain},
        {"package", a->package},
        {"ip", a->ip},
        {"suspended", a->suspended ? "yes" : "no"},
        {"date_created", "Mon Jan  1 00:00:00 2024"},
        {"quota", "unlimited"},
        {"bandwidth", "unlimited"},
    };
    size_t n = sizeof kv / sizeof kv[0];
    if (c->json) {
        json_t *o = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(o, kv[i][0], json_string(kv[i][1]));
        reply_json(c, 200, o);
        return;
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        buf_printf(&b, "%s%s=", i > 0 ? "&" : "", kv[i][0]);
        put_value(&b, kv[i][1]);
    }
    fake_reply(c->w, 200, "text/plain", buf_cstr(&b));
    buf_free(&b);
}

static void show_user_config(struct call *c)
{
    const char *user = param(c, "user");
    const struct fda_account *a = find(c->da, user != NULL ? user : c->as_user);
    if (a == NULL) {
        reply_action(c, false, "Unable to show user", "That user does not exist");
        return;
    }
    user_record(c, a);
}

static void account_user(struct call *c)
{
    const char *user = param(c, "username"), *email = param(c, "email");
    const char *domain = param(c, "domain"), *package = param(c, "package");
    const char *pw = param(c, "passwd"), *pw2 = param(c, "passwd2"), *ip = param(c, "ip");
    const char *why = NULL;
    if (!is(param(c, "action"), "create") || !is(param(c, "add"), "Submit"))
        why = "Unknown action";
    else if (user == NULL || !username_ok(user))
        why = "Invalid username";
    else if (find(c->da, user) != NULL)
        why = "That username already exists";
    else if (email == NULL || strchr(email, '@') == NULL)
        why = "Invalid e-mail address";
    else if (domain == NULL || strchr(domain, '.') == NULL)
        why = "Invalid domain";
    else if (domain_taken(c->da, domain))
        why = "That domain already exists on this server";
    else if (!package_known(package))
        why = "That package does not exist";
    else if (pw == NULL || pw[0] == '\0' || !is(pw2, pw))
        why = "Passwords do not match";
    else if (ip == NULL || ip[0] == '\0')
        why = "No IP selected";
    if (why != NULL) {
        reply_action(c, false, "Unable to Create User", why);
        return;
    }
    add(c->da, user, email, domain, package, pw);
    char text[96];
    snprintf(text, sizeof text, "User %s created", user);
    reply_action(c, true, text, "Account created with the selected package");
}

/* select0..select9 as given, until the first missing one. */
static size_t selected(struct call *c, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < max; i++) {
        char name[16];
        snprintf(name, sizeof name, "select%zu", i);
        const char *u = param(c, name);
        if (u == NULL)
            break;
        out[n++] = u;
    }
    return n;
}

static void select_users(struct call *c)
{
    const char *users[10];
    size_t n = selected(c, users, 10);
    const char *suspend = param(c, "suspend");
    bool del = is(param(c, "delete"), "yes") && is(param(c, "confirmed"), "Confirm");
    if (n == 0 || (!del && suspend == NULL)) {
        reply_action(c, false, "Nothing to do", "Select at least one user and an action");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (find(c->da, users[i]) == NULL) {
            reply_action(c, false, del ? "Cannot delete user" : "Cannot suspend user",
                         "That user does not exist");
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct fda_account *a = find(c->da, users[i]);
        if (del)
            drop(c->da, a);
        else if (c->da->suspend_ignored)
            continue;
        else if (c->da->toggle)
            a->suspended = !a->suspended;
        else
            a->suspended = strcasecmp(suspend, "Suspend") == 0;
    }
    reply_action(c, true, del ? "Users deleted" : "Success", "");
}

static void modify_user(struct call *c)
{
    struct fda_account *a = find(c->da, param(c, "user"));
    const char *package = param(c, "package");
    if (!is(param(c, "action"), "package") || a == NULL) {
        reply_action(c, false, "Unable to modify user",
                     a == NULL ? "That user does not exist" : "Unknown action");
        return;
    }
    if (!package_known(package)) {
        reply_action(c, false, "Unable to modify user", "That package does not exist");
        return;
    }
    str_copy(a->package, package, sizeof a->package);
    reply_action(c, true, "User modified", "");
}

static void user_passwd(struct call *c)
{
    struct fda_account *a = find(c->da, param(c, "username"));
    const char *pw = param(c, "passwd");
    if (a == NULL || pw == NULL || pw[0] == '\0' || !is(param(c, "passwd2"), pw)) {
        reply_action(c, false, "Unable to change password",
                     a == NULL ? "That user does not exist" : "Passwords do not match");
        return;
    }
    str_copy(a->password, pw, sizeof a->password);
    reply_action(c, true, "Password Changed", "");
}

static void packages_user(struct call *c)
{
    reply_list(c, packages, sizeof packages / sizeof packages[0]);
}

static void show_domains(struct call *c)
{
    const struct fda_account *a = find(c->da, c->as_user);
    const char *one[1] = {NULL};
    if (a == NULL) {
        reply_list(c, one, 0); /* the admin itself has no domains here */
        return;
    }
    one[0] = a->domain;
    reply_list(c, one, 1);
}

/* Adds db "<user>_<name>" to a; NULL or the reason it cannot. */
static const char *create_db(struct fda_account *a, const char *full)
{
    if (a->ndbs >= FDA_MAX_DBS)
        return "Too many databases";
    for (int i = 0; i < a->ndbs; i++)
        if (strcmp(a->dbs[i], full) == 0)
            return "That database already exists";
    str_copy(a->dbs[a->ndbs++], full, sizeof a->dbs[0]);
    return NULL;
}

static void databases(struct call *c)
{
    struct fda_account *a = find(c->da, c->as_user);
    const char *name = param(c, "name"), *user = param(c, "user"), *pw = param(c, "passwd");
    if (a == NULL) {
        reply_action(c, false, "Unable to create database", "Log in as the user first");
        return;
    }
    if (!is(param(c, "action"), "create") || name == NULL || user == NULL || pw == NULL ||
        !is(param(c, "passwd2"), pw)) {
        reply_action(c, false, "Unable to create database", "Missing or mismatched fields");
        return;
    }
    char full[128];
    snprintf(full, sizeof full, "%s_%s", a->user, name);
    const char *why = create_db(a, full);
    reply_action(c, why == NULL, why == NULL ? "Database Created" : "Unable to create database",
                 why != NULL ? why : full);
}

/*
 * CMD_API_LOGIN_KEYS action=create type=one_time_url: a one-time login URL
 * for the caller (the account, when the admin logs in as "admin|user"),
 * answered in details like DirectAdmin's own "<panel>/api/login/url?key=…".
 */
static void login_keys(struct call *c)
{
    if (!is(param(c, "action"), "create") || !is(param(c, "type"), "one_time_url")) {
        reply_action(c, false, "Unable to create login key", "Unsupported action or type");
        return;
    }
    const char *who = c->as_user != NULL ? c->as_user : c->da->admin;
    char url[512];
    c->da->login_urls++;
    snprintf(url, sizeof url, "%s/api/login/url?key=OTK%zuq9Lw%s", fake_url(c->da->srv),
             c->da->login_urls, who);
    str_copy(c->da->login_url_user, who, sizeof c->da->login_url_user);
    reply_action(c, true, "Login URL created", url);
}

/* ---- the JSON API ---- */

static void api_error(struct call *c, int status, const char *type, const char *message)
{
    reply_json(c, status, json_pack("{s:s, s:s}", "type", type, "message", message));
}

static void api_session(struct call *c)
{
    reply_json(c, 200,
               json_pack("{s:s, s:s, s:s, s:b}", "effectiveUsername",
                         c->as_user != NULL ? c->as_user : c->da->admin, "effectiveRole",
                         c->as_user != NULL ? "user" : "admin", "realUsername", c->da->admin,
                         "demo", 0));
}

static void api_user_config(struct call *c, const char *user)
{
    const struct fda_account *a = find(c->da, user);
    if (a == NULL) {
        api_error(c, 404, "NOT_FOUND", "user not found");
        return;
    }
    reply_json(c, 200,
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:[s], s:[s], s:i, s:i}",
                         "username", a->user, "email", a->email, "domain", a->domain, "package",
                         a->package, "userType", "user", "suspended", a->suspended, "creator",
                         c->da->admin, "language", "en", "ipAddresses", a->ip, "domains", a->domain,
                         "quotaLim", -1, "bandwidthLim", -1));
}

static void api_create_db(struct call *c)
{
    struct fda_account *a = find(c->da, c->as_user);
    json_t *body = json_loadb(c->r->body, c->r->body_len, 0, NULL);
    const char *db = json_string_value(json_object_get(body, "database"));
    const char *dbuser = json_string_value(json_object_get(body, "dbuser"));
    const char *pw = json_string_value(json_object_get(body, "password"));
    char prefix[40];
    if (a == NULL) {
        api_error(c, 403, "FORBIDDEN", "databases belong to users: log in as the user");
        goto out;
    }
    snprintf(prefix, sizeof prefix, "%s_", a->user);
    if (db == NULL || dbuser == NULL || pw == NULL || !str_starts_with(db, prefix) ||
        !str_starts_with(dbuser, prefix)) {
        api_error(c, 400, "INVALID_REQUEST", "database and dbuser must start with the username");
        goto out;
    }
    const char *why = create_db(a, db);
    if (why != NULL)
        api_error(c, 409, "ALREADY_EXISTS", why);
    else
        reply_json(c, 200, json_pack("{s:s}", "database", db));
out:
    json_decref(body);
}

static void api_list_dbs(struct call *c)
{
    struct fda_account *a = find(c->da, c->as_user);
    json_t *arr = json_array();
    for (int i = 0; a != NULL && i < a->ndbs; i++)
        json_array_append_new(arr, json_pack("{s:s}", "database", a->dbs[i]));
    reply_json(c, 200, arr);
}

static void new_api(struct call *c)
{
    const char *p = c->r->path, *m = c->r->method;
    if (c->da->legacy_only) {
        fake_reply(c->w, 404, "text/html", "<html><body><h1>404 Not Found</h1></body></html>");
    } else if (is(m, "GET") && is(p, "/api/session")) {
        api_session(c);
    } else if (is(m, "POST") && is(p, "/api/db-manage/create-db-with-user")) {
        api_create_db(c);
    } else if (is(m, "GET") && is(p, "/api/db-show/databases")) {
        api_list_dbs(c);
    } else if (is(m, "GET") && str_starts_with(p, "/api/users/")) {
        const char *u = p + strlen("/api/users/");
        const char *slash = strchr(u, '/');
        char user[64];
        if (slash == NULL || strcmp(slash, "/config") != 0 || (size_t)(slash - u) >= sizeof user) {
            api_error(c, 404, "NOT_FOUND", "no such endpoint");
            return;
        }
        memcpy(user, u, (size_t)(slash - u));
        user[slash - u] = '\0';
        api_user_config(c, user);
    } else {
        api_error(c, 404, "NOT_FOUND", "no such endpoint");
    }
}

/* ---- dispatch ---- */

static const struct {
    const char *cmd;
    void (*run)(struct call *c);
    bool post_only;
} commands[] = {
    {"CMD_API_SHOW_ALL_USERS", show_users, false},
    {"CMD_API_SHOW_USERS", show_users, false},
    {"CMD_API_SHOW_USER_CONFIG", show_user_config, false},
    {"CMD_API_ACCOUNT_USER", account_user, true},
    {"CMD_API_SELECT_USERS", select_users, true},
    {"CMD_API_MODIFY_USER", modify_user, true},
    {"CMD_API_USER_PASSWD", user_passwd, true},
    {"CMD_API_PACKAGES_USER", packages_user, false},
    {"CMD_API_SHOW_DOMAINS", show_domains, false},
    {"CMD_API_DATABASES", databases, true},
    {"CMD_API_LOGIN_KEYS", login_keys, true},
};

static void unauthorized(struct call *c)
{
    if (c->da->html_login)
        fake_reply(c->w, 200, "text/html",
                   "<html><head><title>DirectAdmin Login</title></head><body>"
                   "<form action=\"/CMD_LOGIN\" method=\"post\"><input name=\"username\">"
                   "<input type=\"password\" name=\"password\"></form></body></html>");
    else if (str_starts_with(c->r->path, "/api/"))
        api_error(c, 401, "UNAUTHORIZED", "authorization required");
    else
        fake_reply(c->w, 401, "text/plain", "Unauthorized");
}

/* Admin login or "admin|user" for an existing user, with the admin's password. */
static bool authenticate(struct call *c)
{
    const char *u = c->r->basic_user;
    if (u == NULL || !is(c->r->basic_password, c->da->password))
        return false;
    const char *bar = strchr(u, '|');
    size_t n = bar != NULL ? (size_t)(bar - u) : strlen(u);
    if (n != strlen(c->da->admin) || strncmp(u, c->da->admin, n) != 0)
        return false;
    if (bar == NULL)
        return true;
    c->as_user = bar + 1;
    return find(c->da, c->as_user) != NULL;
}

static void legacy(struct call *c)
{
    const char *cmd = c->r->path + 1;
    const char *j = param(c, "json");
    c->json = is(j, "yes");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].cmd, cmd) != 0)
            continue;
        if (commands[i].post_only && !is(c->r->method, "POST"))
            reply_action(c, false, "Use POST", "This command changes state");
        else
            commands[i].run(c);
        return;
    }
    fake_reply(c->w, 404, "text/html", "<html><body>Unknown command</body></html>");
}

static void handle(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct call c = {.da = state, .r = r, .w = w};
    if (c.da->blacklisted) {
        fake_reply(w, 403, "text/html",
                   "<html><body>Your IP is blacklisted. Contact the administrator.</body></html>");
    } else if (!authenticate(&c)) {
        unauthorized(&c);
    } else if (str_starts_with(r->path, "/api/")) {
        new_api(&c);
    } else if (str_starts_with(r->path, "/CMD_")) {
        legacy(&c);
    } else {
        fake_reply(w, 404, "text/html", "<html><body>Not Found</body></html>");
    }
    for (size_t i = 0; i < c.nowned; i++)
        free(c.owned[i]);
}

/* ---- public ---- */

struct fake_da *fake_da_start(const char *admin_user, const char *password)
{
    struct fake_da *da = calloc(1, sizeof *da);
    if (da == NULL)
        fail_msg("fake_da_start: out of memory");
    str_copy(da->admin, admin_user, sizeof da->admin);
    str_copy(da->password, password, sizeof da->password);
    da->srv = fake_start(handle, da);
    return da;
}

void fake_da_stop(struct fake_da *da)
{
    if (da == NULL)
        return;
    fake_stop(da->srv);
    free(da);
}

const char *fake_da_url(const struct fake_da *da)
{
    return fake_url(da->srv);
}

struct fake_server *fake_da_http(struct fake_da *da)
{
    return da->srv;
}

#define WITH_LOCK(da, stmt)                                                                        \
    do {                                                                                           \
        fake_lock((da)->srv);                                                                      \
        stmt;                                                                                      \
        fake_unlock((da)->srv);                                                                    \
    } while (0)

void fake_da_set_toggle_mode(struct fake_da *da, bool on)
{
    WITH_LOCK(da, da->toggle = on);
}

void fake_da_set_html_login(struct fake_da *da, bool on)
{
    WITH_LOCK(da, da->html_login = on);
}

void fake_da_set_blacklisted(struct fake_da *da, bool on)
{
    WITH_LOCK(da, da->blacklisted = on);
}

void fake_da_set_legacy_only(struct fake_da *da, bool on)
{
    WITH_LOCK(da, da->legacy_only = on);
}

void fake_da_set_suspend_ignored(struct fake_da *da, bool on)
{
    WITH_LOCK(da, da->suspend_ignored = on);
}

int fake_da_add_account(struct fake_da *da, const char *user, const char *email, const char *domain,
                        const char *package, const char *password)
{
    struct fda_account *a;
    WITH_LOCK(da, a = add(da, user, email, domain, package, password));
    return a != NULL ? 0 : -1;
}

void fake_da_set_suspended(struct fake_da *da, const char *user, bool suspended)
{
    fake_lock(da->srv);
    struct fda_account *a = find(da, user);
    if (a != NULL)
        a->suspended = suspended;
    fake_unlock(da->srv);
}

bool fake_da_account_exists(struct fake_da *da, const char *user)
{
    bool yes;
    WITH_LOCK(da, yes = find(da, user) != NULL);
    return yes;
}

bool fake_da_suspended(struct fake_da *da, const char *user)
{
    fake_lock(da->srv);
    const struct fda_account *a = find(da, user);
    bool yes = a != NULL && a->suspended;
    fake_unlock(da->srv);
    return yes;
}

bool fake_da_package(struct fake_da *da, const char *user, char *out, size_t outsz)
{
    fake_lock(da->srv);
    const struct fda_account *a = find(da, user);
    if (a != NULL)
        str_copy(out, a->package, outsz);
    fake_unlock(da->srv);
    return a != NULL;
}

bool fake_da_password_matches(struct fake_da *da, const char *user, const char *password)
{
    fake_lock(da->srv);
    const struct fda_account *a = find(da, user);
    bool yes = a != NULL && password != NULL && strcmp(a->password, password) == 0;
    fake_unlock(da->srv);
    return yes;
}

int fake_da_database_count(struct fake_da *da, const char *user)
{
    fake_lock(da->srv);
    const struct fda_account *a = find(da, user);
    int n = a != NULL ? a->ndbs : -1;
    fake_unlock(da->srv);
    return n;
}

bool fake_da_has_database(struct fake_da *da, const char *user, const char *db)
{
    bool yes = false;
    fake_lock(da->srv);
    const struct fda_account *a = find(da, user);
    for (int i = 0; a != NULL && i < a->ndbs; i++)
        yes = yes || strcmp(a->dbs[i], db) == 0;
    fake_unlock(da->srv);
    return yes;
}

size_t fake_da_account_count(struct fake_da *da)
{
    size_t n;
    WITH_LOCK(da, n = da->nacc);
    return n;
}

size_t fake_da_login_url_count(struct fake_da *da, char *user, size_t usersz)
{
    fake_lock(da->srv);
    size_t n = da->login_urls;
    if (user != NULL && usersz > 0)
        str_copy(user, da->login_url_user, usersz);
    fake_unlock(da->srv);
    return n;
}
