/*
 * servers.c — stored and environment-configured panels (see servers.h).
 *
 * A server row is handled as a struct srv: loaded from the row, changed by
 * validated input, written back whole. Secrets are sealed with the row id as
 * associated data ("servers.secret:<id>"), so a ciphertext copied to another
 * row does not open. Environment servers keep their secret in the
 * configuration only. Uses only the connection it is given; panel calls
 * (connection tests) run outside transactions.
 */
#include "provisioning/servers.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/listing.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"

#define NAME_MAX_LEN 100
#define URL_MAX_LEN 500
#define SECRET_MAX_LEN 1000

struct srv {
    int64_t id;
    char name[NAME_MAX_LEN + 1];
    char type[16];
    char url[URL_MAX_LEN + 1];
    char username[256];
    char api_version[4];
    char group[NAME_MAX_LEN + 1];
    char source[16];
    int64_t max_accounts, account_count, fill_order;
    int64_t rate_limit; /* requests per minute; 0 = the panel type's default */
    bool active, has_secret;
    const char *new_secret; /* borrowed from the input; NULL = keep */
};

#define SERVER_COLUMNS                                                                         \
    "id, name, type, url, username, secret_enc, api_version, max_accounts, account_count, "    \
    "active, source, env_key, group_name, fill_order, status_ok, status_message, "             \
    "status_latency_ms, status_checked_at, created_at, updated_at, settings"

static const char SQL_GET[] = "SELECT " SERVER_COLUMNS " FROM servers WHERE id = $1";
static const char SQL_LIST[] =
    "SELECT " SERVER_COLUMNS " FROM servers WHERE id > $1 ORDER BY id LIMIT $2";

/* The panel variables of each type (DESIGN.md "Configuration"). */
struct env_panel {
    const char *type, *label, *url_var, *secret_var, *user_var, *version_var;
};
static const struct env_panel ENV_PANELS[] = {
    {"pterodactyl", "Pterodactyl", "PTERODACTYL_URL", "PTERODACTYL_API_KEY", NULL, NULL},
    {"directadmin", "DirectAdmin", "DIRECTADMIN_URL", "DIRECTADMIN_PASSWORD",
     "DIRECTADMIN_USERNAME", "DIRECTADMIN_API_VERSION"},
    {"virtfusion", "VirtFusion", "VIRTFUSION_URL", "VIRTFUSION_API_KEY", NULL, NULL},
};

static const struct env_panel *env_panel_for(const char *type)
{
    for (size_t i = 0; i < sizeof ENV_PANELS / sizeof ENV_PANELS[0]; i++)
        if (str_eq(ENV_PANELS[i].type, type))
            return &ENV_PANELS[i];
    return NULL;
}

static bool is_directadmin(const char *type)
{
    return str_eq(type, "directadmin");
}

static int finish_tx(struct db *db, int rc, struct lumi_err *err)
{
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

/* --- rows ----------------------------------------------------------------- */

static const char *col(struct db_stmt *st, int i)
{
    const char *s = db_col_text(st, i);
    return s ? s : "";
}

/* servers.settings is a JSON object of per-server options. */
static int64_t settings_rate_limit(const char *settings)
{
    json_t *o = json_loads(settings, 0, NULL);
    int64_t v = json_integer_value(json_object_get(o, "rate_limit_per_minute"));
    json_decref(o);
    return v > 0 ? v : 0;
}

static void srv_read(struct db_stmt *st, struct srv *s)
{
    memset(s, 0, sizeof *s);
    s->id = db_col_int64(st, 0);
    str_copy(s->name, col(st, 1), sizeof s->name);
    str_copy(s->type, col(st, 2), sizeof s->type);
    str_copy(s->url, col(st, 3), sizeof s->url);
    str_copy(s->username, col(st, 4), sizeof s->username);
    s->has_secret = !db_col_is_null(st, 5);
    str_copy(s->api_version, col(st, 6), sizeof s->api_version);
    s->max_accounts = db_col_int64(st, 7);
    s->account_count = db_col_int64(st, 8);
    s->active = db_col_int64(st, 9) != 0;
    str_copy(s->source, col(st, 10), sizeof s->source);
    str_copy(s->group, col(st, 12), sizeof s->group);
    s->fill_order = db_col_int64(st, 13);
    s->rate_limit = settings_rate_limit(col(st, 20));
    if (str_eq(s->source, "environment")) {
        const struct env_panel *p = env_panel_for(s->type);
        s->has_secret = p != NULL && config_has(p->secret_var);
    }
}

static json_t *text_or_null(struct db_stmt *st, int i)
{
    return db_col_is_null(st, i) ? json_null() : json_string(col(st, i));
}

/* The public form of the current row: secrets only as a mask. */
static json_t *row_to_json(struct db_stmt *st, struct lumi_err *err)
{
    struct srv s;
    srv_read(st, &s);
    bool da = is_directadmin(s.type);
    json_t *mask = s.has_secret ? json_string(SERVERS_SECRET_MASK) : json_null();
    json_t *status = json_pack(
        "{s:o s:o s:o s:o}", "ok",
        db_col_is_null(st, 14) ? json_null() : json_boolean(db_col_int64(st, 14) != 0), "message",
        text_or_null(st, 15), "latency_ms",
        db_col_is_null(st, 16) ? json_null() : json_integer(db_col_int64(st, 16)), "checked_at",
        text_or_null(st, 17));
    json_t *o = json_pack(
        "{s:I s:s s:s s:s s:o s:o s:o s:o s:I s:I s:I s:b s:s s:o s:I s:o s:s s:s}", "id",
        (json_int_t)s.id, "name", s.name, "type", s.type, "url", s.url, "api_key",
        da ? json_null() : json_incref(mask), "username",
        da ? json_string(s.username) : json_null(), "password",
        da ? json_incref(mask) : json_null(), "api_version",
        da ? json_string(s.api_version[0] ? s.api_version : "v2") : json_null(), "max_accounts",
        (json_int_t)s.max_accounts, "account_count", (json_int_t)s.account_count,
        "rate_limit_per_minute", (json_int_t)s.rate_limit, "active",
        s.active, "source", s.source, "group", s.group[0] ? json_string(s.group) : json_null(),
        "fill_order", (json_int_t)s.fill_order, "status", status, "created_at", col(st, 18),
        "updated_at", col(st, 19));
    json_decref(mask);
    if (o == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return o;
}

/* Loads one row: as JSON (json_out) and/or as struct (s_out). */
static int load(struct db *db, int64_t id, struct srv *s_out, json_t **json_out,
                struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        rc = 0;
        if (s_out != NULL)
            srv_read(st, s_out);
        if (json_out != NULL && (*json_out = row_to_json(st, err)) == NULL)
            rc = err->code;
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "server %lld not found", (long long)id);
    }
    db_finalize(st);
    return rc;
}

/* --- validation ------------------------------------------------------------ */

static int check_url(const char *url, struct lumi_err *err)
{
    const char *host = str_starts_with(url, "https://")  ? url + 8
                       : str_starts_with(url, "http://") ? url + 7
                                                          : NULL;
    if (host == NULL || *host == '\0' || *host == '/')
        return err_set(err, LUMI_EINVAL,
                       "field 'url' must be an http:// or https:// URL with a host");
    if (strpbrk(url, " \t\r\n@?#\\\"<>") != NULL)
        return err_set(err, LUMI_EINVAL,
                       "field 'url' must not contain spaces, credentials, a query or a fragment");
    return 0;
}

static int take_secret(const json_t *in, const char *key, bool required, struct srv *s,
                       struct lumi_err *err)
{
    const char *v = NULL;
    int rc = jsonx_take_str(in, key, required, SECRET_MAX_LEN, &v, err);
    if (rc < 0)
        return rc;
    if (rc == 1 && *v == '\0')
        return err_set(err, LUMI_EINVAL, "field '%s' must not be empty", key);
    if (rc == 1)
        s->new_secret = v;
    return 0;
}

/* Applies input onto *s (creating: s is blank). Strings stay borrowed from input. */
static int apply_input(const json_t *in, bool creating, struct srv *s, struct lumi_err *err)
{
    static const char *const fields[] = {"name",        "type",         "url",   "api_key",
                                         "username",    "password",     "api_version",
                                         "max_accounts", "active",      "group", "fill_order",
                                         "rate_limit_per_minute", NULL};
    static const char *const types[] = {"pterodactyl", "directadmin", "virtfusion", NULL};
    static const char *const versions[] = {"v2", "v1", NULL};
    const char *v = NULL;
    int rc;
    if (!json_is_object(in) || json_object_size(in) == 0)
        return err_set(err, LUMI_EINVAL, "the request body must be a non-empty JSON object");
    if ((rc = jsonx_check_keys(in, fields, err)) != 0)
        return rc;
    if ((rc = jsonx_take_str(in, "name", creating, NAME_MAX_LEN, &v, err)) < 0)
        return rc;
    if (rc == 1 && !str_present(v))
        return err_set(err, LUMI_EINVAL, "field 'name' must not be empty");
    if (rc == 1)
        str_copy(s->name, v, sizeof s->name);
    if ((rc = jsonx_take_enum(in, "type", creating, types, &v, err)) < 0)
        return rc;
    if (rc == 1 && !creating && !str_eq(v, s->type))
        return err_set(err, LUMI_EINVAL, "field 'type' cannot be changed; add a new server");
    if (rc == 1)
        str_copy(s->type, v, sizeof s->type);
    if ((rc = jsonx_take_str(in, "url", creating, URL_MAX_LEN, &v, err)) < 0)
        return rc;
    if (rc == 1) {
        if ((rc = check_url(v, err)) != 0)
            return rc;
        str_copy(s->url, v, sizeof s->url);
        size_t n = strlen(s->url);
        while (n > 0 && s->url[n - 1] == '/')
            s->url[--n] = '\0';
    }
    bool da = is_directadmin(s->type);
    if (da && json_object_get(in, "api_key") != NULL)
        return err_set(err, LUMI_EINVAL, "DirectAdmin servers take 'username' and 'password', "
                                         "not 'api_key'");
    if (!da && (json_object_get(in, "username") != NULL ||
                json_object_get(in, "password") != NULL ||
                json_object_get(in, "api_version") != NULL))
        return err_set(err, LUMI_EINVAL,
                       "%s servers take 'api_key', not 'username', 'password' or 'api_version'",
                       s->type);
    if (da) {
        if ((rc = jsonx_take_str(in, "username", creating, 255, &v, err)) < 0)
            return rc;
        if (rc == 1 && !str_present(v))
            return err_set(err, LUMI_EINVAL, "field 'username' must not be empty");
        if (rc == 1)
            str_copy(s->username, v, sizeof s->username);
        if ((rc = take_secret(in, "password", creating, s, err)) != 0)
            return rc;
        if ((rc = jsonx_take_enum(in, "api_version", false, versions, &v, err)) < 0)
            return rc;
        if (rc == 1)
            str_copy(s->api_version, v, sizeof s->api_version);
        if (s->api_version[0] == '\0')
            str_copy(s->api_version, "v2", sizeof s->api_version);
    } else if ((rc = take_secret(in, "api_key", creating, s, err)) != 0) {
        return rc;
    }
    int64_t n;
    if ((rc = jsonx_take_int(in, "max_accounts", false, 0, 1000000, &n, err)) < 0)
        return rc;
    if (rc == 1)
        s->max_accounts = n;
    if ((rc = jsonx_take_int(in, "fill_order", false, 0, 1000000, &n, err)) < 0)
        return rc;
    if (rc == 1)
        s->fill_order = n;
    if ((rc = jsonx_take_int(in, "rate_limit_per_minute", false, 0, 1000000, &n, err)) < 0)
        return rc;
    if (rc == 1)
        s->rate_limit = n;
    bool b;
    if ((rc = jsonx_take_bool(in, "active", false, &b, err)) < 0)
        return rc;
    if (rc == 1)
        s->active = b;
    if ((rc = jsonx_take_str(in, "group", false, NAME_MAX_LEN, &v, err)) < 0)
        return rc;
    if (rc == 1)
        str_copy(s->group, v, sizeof s->group);
    else if (json_is_null(json_object_get(in, "group")))
        s->group[0] = '\0';
    return 0;
}

/* --- writes ----------------------------------------------------------------- */

static const char *nullable(const char *s)
{
    return s != NULL && *s != '\0' ? s : NULL;
}

static int seal_secret(struct db *db, int64_t id, const char *secret, struct lumi_err *err)
{
    char ad[48];
    snprintf(ad, sizeof ad, "servers.secret:%lld", (long long)id);
    const uint8_t *key = config_secret_key();
    if (key == NULL)
        return err_set(err, LUMI_EINVAL, "LUMI_SECRET_KEY is not set: cannot store secrets");
    char *sealed = crypto_seal(key, ad, secret, strlen(secret));
    if (sealed == NULL)
        return err_set(err, LUMI_EINTERNAL, "could not encrypt the server's secret");
    struct db_stmt *st = db_prepare(db, "UPDATE servers SET secret_enc = $1 WHERE id = $2", err);
    int rc = st ? 0 : err->code;
    if (st != NULL) {
        db_bind_text(st, 1, sealed);
        db_bind_int64(st, 2, id);
        rc = db_step(st, err);
        rc = rc < 0 ? rc : 0;
        db_finalize(st);
    }
    free(sealed);
    return rc;
}

static int bind_srv(struct db_stmt *st, const struct srv *s, const char *now)
{
    char settings[64];
    snprintf(settings, sizeof settings, "{\"rate_limit_per_minute\":%lld}",
             (long long)s->rate_limit);
    db_bind_text(st, 1, s->name);
    db_bind_text(st, 2, s->type);
    db_bind_text(st, 3, s->url);
    db_bind_text(st, 4, nullable(s->username));
    db_bind_text(st, 5, nullable(s->api_version));
    db_bind_int64(st, 6, s->max_accounts);
    db_bind_int64(st, 7, s->active ? 1 : 0);
    db_bind_text(st, 8, nullable(s->group));
    db_bind_int64(st, 9, s->fill_order);
    db_bind_text(st, 10, now);
    db_bind_text(st, 11, settings);
    return 12;
}

static int insert_srv(struct db *db, struct srv *s, const char *source, const char *env_key,
                      struct lumi_err *err)
{
    static const char sql[] =
        "INSERT INTO servers (name, type, url, username, api_version, max_accounts, active, "
        "group_name, fill_order, created_at, updated_at, settings, source, env_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13) RETURNING id";
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    int next = bind_srv(st, s, now);
    db_bind_text(st, next, source);
    db_bind_text(st, next + 1, env_key);
    int rc = db_step_id(st, "a server", &s->id, err);
    db_finalize(st);
    return rc;
}

static int update_srv(struct db *db, const struct srv *s, struct lumi_err *err)
{
    static const char sql[] =
        "UPDATE servers SET name = $1, type = $2, url = $3, username = $4, api_version = $5, "
        "max_accounts = $6, active = $7, group_name = $8, fill_order = $9, updated_at = $10, "
        "settings = $11 WHERE id = $12";
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, bind_srv(st, s, now), s->id);
    int rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static void mark_secret_change(json_t *changed, const struct srv *s)
{
    if (s->new_secret == NULL || changed == NULL)
        return;
    json_object_set_new(changed, is_directadmin(s->type) ? "password" : "api_key",
                        json_pack("{s:s s:s}", "from", SERVERS_SECRET_MASK, "to",
                                  SERVERS_SECRET_MASK));
}

/* --- public: CRUD ---------------------------------------------------------- */

json_t *servers_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                     struct lumi_err *err)
{
    return listing_page(db, SQL_LIST, after_id, limit, row_to_json, next_cursor, err);
}

json_t *servers_get(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *o = NULL;
    load(db, id, NULL, &o, err);
    return o;
}

json_t *servers_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                       struct lumi_err *err)
{
    struct srv s;
    json_t *out = NULL;
    memset(&s, 0, sizeof s);
    s.active = true;
    if (apply_input(input, true, &s, err) != 0)
        return NULL;
    int rc = db_begin(db, err);
    if (rc != 0)
        return NULL;
    rc = insert_srv(db, &s, "database", NULL, err);
    if (rc == 0)
        rc = seal_secret(db, s.id, s.new_secret, err);
    if (rc == 0)
        rc = load(db, s.id, NULL, &out, err);
    if (rc == 0)
        rc = audit_append_id(db, actor, "SERVER_CREATED", "server", s.id, out, err);
    if (finish_tx(db, rc, err) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *servers_update(struct db *db, const struct audit_actor *actor, int64_t id,
                       const json_t *input, struct lumi_err *err)
{
    struct srv s;
    json_t *before = NULL, *after = NULL, *changed = NULL;
    int rc = db_begin(db, err);
    if (rc != 0)
        return NULL;
    rc = load(db, id, &s, &before, err);
    if (rc == 0 && str_eq(s.source, "environment"))
        rc = err_set(err, LUMI_ECONFLICT,
                     "server %lld comes from the environment; change its variables in .env",
                     (long long)id);
    if (rc == 0)
        rc = apply_input(input, false, &s, err);
    if (rc == 0)
        rc = update_srv(db, &s, err);
    if (rc == 0 && s.new_secret != NULL)
        rc = seal_secret(db, id, s.new_secret, err);
    if (rc == 0)
        rc = load(db, id, NULL, &after, err);
    if (rc == 0) {
        json_t *cur = json_deep_copy(before);
        changed = jsonx_apply_changes(cur, after);
        json_decref(cur);
        json_object_del(changed, "updated_at");
        mark_secret_change(changed, &s);
        if (changed != NULL && json_object_size(changed) > 0) {
            json_t *details = json_pack("{s:O}", "changed", changed);
            rc = audit_append_id(db, actor, "SERVER_UPDATED", "server", id, details, err);
            json_decref(details);
        }
    }
    json_decref(before);
    json_decref(changed);
    if (finish_tx(db, rc, err) != 0) {
        json_decref(after);
        return NULL;
    }
    return after;
}

static int count_users_of(struct db *db, const char *sql, int64_t id, int64_t *n,
                          struct lumi_err *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%lld", (long long)id);
    const char *params[] = {idt};
    return db_query_int64(db, sql, 1, params, n, err);
}

int servers_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                   struct lumi_err *err)
{
    struct srv s;
    json_t *before = NULL;
    int64_t services = 0, products = 0;
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = load(db, id, &s, &before, err);
    if (rc == 0 && str_eq(s.source, "environment"))
        rc = err_set(err, LUMI_ECONFLICT,
                     "server %lld comes from the environment; remove its variables from .env",
                     (long long)id);
    if (rc == 0)
        rc = count_users_of(db,
                            "SELECT COUNT(*) FROM services WHERE server_id = CAST($1 AS BIGINT)",
                            id, &services, err);
    if (rc == 0)
        rc = count_users_of(db,
                            "SELECT COUNT(*) FROM products WHERE server_id = CAST($1 AS BIGINT)",
                            id, &products, err);
    if (rc == 0 && (services > 0 || products > 0))
        rc = err_set(err, LUMI_ECONFLICT,
                     "server %lld is used by %lld services and %lld products; deactivate it "
                     "instead (active=false)",
                     (long long)id, (long long)services, (long long)products);
    if (rc == 0) {
        const char *params[1];
        char idt[24];
        snprintf(idt, sizeof idt, "%lld", (long long)id);
        params[0] = idt;
        rc = db_execp(db, "DELETE FROM servers WHERE id = CAST($1 AS BIGINT)", 1, params, NULL,
                      err);
    }
    if (rc == 0)
        rc = audit_append_id(db, actor, "SERVER_DELETED", "server", id, before, err);
    json_decref(before);
    return finish_tx(db, rc, err);
}

/* --- environment servers ---------------------------------------------------- */

/* The row the environment asks for, or false when the panel is not configured. */
static bool env_wanted(const struct env_panel *p, struct srv *s)
{
    memset(s, 0, sizeof s[0]);
    if (!config_has(p->url_var))
        return false;
    snprintf(s->name, sizeof s->name, "%s (environment)", p->label);
    str_copy(s->type, p->type, sizeof s->type);
    str_copy(s->url, config_str(p->url_var), sizeof s->url);
    size_t n = strlen(s->url);
    while (n > 0 && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    if (p->user_var != NULL && config_has(p->user_var))
        str_copy(s->username, config_str(p->user_var), sizeof s->username);
    if (p->version_var != NULL)
        str_copy(s->api_version, config_str(p->version_var) ? config_str(p->version_var) : "v2",
                 sizeof s->api_version);
    s->active = true;
    return true;
}

static int env_find(struct db *db, const char *env_key, struct srv *cur, bool *found,
                    struct lumi_err *err)
{
    struct db_stmt *st =
        db_prepare(db, "SELECT " SERVER_COLUMNS " FROM servers WHERE env_key = $1", err);
    if (st == NULL)
        return err->code;
    db_bind_text(st, 1, env_key);
    int rc = db_step(st, err);
    *found = rc == DB_ROW;
    if (rc == DB_ROW)
        srv_read(st, cur);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static bool env_same(const struct srv *a, const struct srv *b)
{
    return str_eq(a->url, b->url) && str_eq(a->username, b->username) &&
           str_eq(a->api_version, b->api_version) && a->active == b->active &&
           str_eq(a->name, b->name);
}

static int sync_one(struct db *db, const struct env_panel *p, struct lumi_err *err)
{
    struct srv want, cur;
    bool found = false;
    bool wanted = env_wanted(p, &want);
    int rc = env_find(db, p->type, &cur, &found, err);
    if (rc != 0)
        return rc;
    if (!found && !wanted)
        return 0;
    json_t *details = NULL;
    if (!found) {
        rc = insert_srv(db, &want, "environment", p->type, err);
        if (rc == 0) {
            load(db, want.id, NULL, &details, err);
            rc = audit_append_id(db, &AUDIT_SYSTEM, "SERVER_CREATED", "server", want.id,
                                 details, err);
        }
    } else {
        if (!wanted) { /* variables removed: keep the row for its services, deactivate it */
            want = cur;
            want.active = false;
        }
        want.id = cur.id;
        want.max_accounts = cur.max_accounts;
        want.fill_order = cur.fill_order;
        want.rate_limit = cur.rate_limit;
        str_copy(want.group, cur.group, sizeof want.group);
        if (env_same(&want, &cur))
            return 0;
        rc = update_srv(db, &want, err);
        if (rc == 0) {
            details = json_pack("{s:s s:b}", "url", want.url, "active", want.active);
            rc = audit_append_id(db, &AUDIT_SYSTEM, "SERVER_UPDATED", "server", cur.id, details,
                                 err);
        }
    }
    json_decref(details);
    return rc;
}

int servers_sync_environment(struct db *db, struct lumi_err *err)
{
    int rc = 0;
    /* Two processes starting at once may race to insert; the loser retries once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = db_begin(db, err);
        for (size_t i = 0; rc == 0 && i < sizeof ENV_PANELS / sizeof ENV_PANELS[0]; i++)
            rc = sync_one(db, &ENV_PANELS[i], err);
        rc = finish_tx(db, rc, err);
        if (rc != LUMI_ECONFLICT)
            break;
    }
    return rc;
}

/* --- connections and tests ----------------------------------------------------- */

void servers_conn_clear(struct server_conn *sc)
{
    sodium_memzero(sc->secret, sizeof sc->secret);
}

static void conn_fill(struct server_conn *sc, int64_t id)
{
    sc->ops = panel_ops_for(sc->type);
    memset(&sc->conn, 0, sizeof sc->conn);
    sc->conn.type = sc->type;
    sc->conn.url = sc->url;
    sc->conn.server_id = id;
    sc->conn.rate_per_minute = (int)sc->rate_limit;
    if (is_directadmin(sc->type)) {
        sc->conn.username = sc->username;
        sc->conn.password = sc->secret;
        sc->conn.api_version = sc->api_version[0] ? sc->api_version : "v2";
    } else {
        sc->conn.api_key = sc->secret;
    }
}

static int open_secret(int64_t id, const char *sealed, struct server_conn *sc,
                       struct lumi_err *err)
{
    char ad[48];
    struct buf plain;
    const uint8_t *key = config_secret_key();
    if (key == NULL)
        return err_set(err, LUMI_EINVAL, "LUMI_SECRET_KEY is not set: cannot read secrets");
    snprintf(ad, sizeof ad, "servers.secret:%lld", (long long)id);
    buf_init(&plain, sizeof sc->secret - 1);
    int rc = crypto_open(key, ad, sealed, &plain, err);
    if (rc == 0)
        str_copy(sc->secret, buf_cstr(&plain), sizeof sc->secret);
    else
        err_set(err, LUMI_EINVAL,
                "the secret of server %lld cannot be decrypted (was LUMI_SECRET_KEY changed?)",
                (long long)id);
    buf_free(&plain);
    return rc;
}

/* Environment servers: the secret lives only in the configuration. */
static int env_secret(struct server_conn *sc, struct lumi_err *err)
{
    const struct env_panel *p = env_panel_for(sc->type);
    if (p == NULL || !config_has(p->secret_var))
        return err_set(err, LUMI_EINVAL, "%s is not set", p ? p->secret_var : "the secret");
    str_copy(sc->secret, config_str(p->secret_var), sizeof sc->secret);
    return 0;
}

int servers_conn(struct db *db, int64_t id, struct server_conn *sc, struct lumi_err *err)
{
    memset(sc, 0, sizeof *sc);
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_DONE)
        rc = err_set(err, LUMI_ENOTFOUND, "server %lld not found", (long long)id);
    if (rc == DB_ROW) {
        str_copy(sc->type, col(st, 2), sizeof sc->type);
        str_copy(sc->url, col(st, 3), sizeof sc->url);
        str_copy(sc->username, col(st, 4), sizeof sc->username);
        str_copy(sc->api_version, col(st, 6), sizeof sc->api_version);
        sc->rate_limit = settings_rate_limit(col(st, 20));
        if (str_eq(col(st, 10), "environment"))
            rc = env_secret(sc, err);
        else if (db_col_is_null(st, 5))
            rc = err_set(err, LUMI_EINVAL, "server %lld has no credentials", (long long)id);
        else
            rc = open_secret(id, col(st, 5), sc, err);
    }
    db_finalize(st);
    if (rc != 0) {
        servers_conn_clear(sc);
        return rc < 0 ? rc : LUMI_EDB;
    }
    conn_fill(sc, id);
    if (sc->ops == NULL)
        return err_set(err, LUMI_EINVAL, "server %lld has an unknown type", (long long)id);
    return 0;
}

/* Runs the panel's test; returns {success, message, latency_ms}. */
static json_t *run_test(struct server_conn *sc)
{
    struct panel_test t;
    struct hc_error e;
    memset(&t, 0, sizeof t);
    memset(&e, 0, sizeof e);
    int64_t start = utc_monotonic_ms();
    int rc = sc->ops->test_connection(&sc->conn, &t, &e);
    int64_t latency = utc_monotonic_ms() - start;
    bool ok = rc == 0 && t.ok;
    const char *msg = t.message[0] ? t.message : e.message[0] ? e.message : "no answer";
    return json_pack("{s:b s:s s:I}", "success", ok, "message", msg, "latency_ms",
                     (json_int_t)latency);
}

static int store_status(struct db *db, const struct audit_actor *actor, int64_t id,
                        json_t *result, struct lumi_err *err)
{
    static const char sql[] =
        "UPDATE servers SET status_ok = $1, status_message = $2, status_latency_ms = $3, "
        "status_checked_at = $4 WHERE id = $5";
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return finish_tx(db, err->code, err);
    db_bind_int64(st, 1, json_is_true(json_object_get(result, "success")) ? 1 : 0);
    db_bind_text(st, 2, json_string_value(json_object_get(result, "message")));
    db_bind_int64(st, 3, json_integer_value(json_object_get(result, "latency_ms")));
    db_bind_text(st, 4, now);
    db_bind_int64(st, 5, id);
    rc = db_step(st, err);
    rc = rc < 0 ? rc : 0;
    db_finalize(st);
    if (rc == 0)
        rc = audit_append_id(db, actor, "SERVER_TESTED", "server", id, result, err);
    return finish_tx(db, rc, err);
}

json_t *servers_test(struct db *db, const struct audit_actor *actor, int64_t id,
                     struct lumi_err *err)
{
    struct server_conn sc;
    int rc = servers_conn(db, id, &sc, err);
    if (rc != 0)
        return NULL;
    json_t *result = run_test(&sc);
    servers_conn_clear(&sc);
    log_info("server.tested", "server=%lld success=%d latency_ms=%lld", (long long)id,
             json_is_true(json_object_get(result, "success")),
             (long long)json_integer_value(json_object_get(result, "latency_ms")));
    if (result == NULL || store_status(db, actor, id, result, err) != 0) {
        json_decref(result);
        return NULL;
    }
    return result;
}

json_t *servers_test_unsaved(const json_t *input, struct lumi_err *err)
{
    struct srv s;
    struct server_conn sc;
    memset(&s, 0, sizeof s);
    if (apply_input(input, true, &s, err) != 0)
        return NULL;
    memset(&sc, 0, sizeof sc);
    str_copy(sc.type, s.type, sizeof sc.type);
    str_copy(sc.url, s.url, sizeof sc.url);
    str_copy(sc.username, s.username, sizeof sc.username);
    str_copy(sc.api_version, s.api_version, sizeof sc.api_version);
    str_copy(sc.secret, s.new_secret, sizeof sc.secret);
    conn_fill(&sc, 0);
    json_t *result = run_test(&sc);
    servers_conn_clear(&sc);
    return result;
}

/* --- placement ------------------------------------------------------------------ */

int servers_reserve_slot(struct db *db, int64_t id, struct lumi_err *err)
{
    static const char sql[] =
        "UPDATE servers SET account_count = account_count + 1 WHERE id = $1 AND active = 1 "
        "AND (max_accounts = 0 OR account_count < max_accounts)";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    int64_t changed = db_changes(st);
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (changed == 1)
        return 0;
    struct srv s;
    rc = load(db, id, &s, NULL, err);
    if (rc != 0)
        return rc;
    if (!s.active)
        return err_set(err, LUMI_ECONFLICT, "server %lld is not active", (long long)id);
    return err_set(err, LUMI_ECONFLICT, "server %lld is full (%lld of %lld accounts)",
                   (long long)id, (long long)s.account_count, (long long)s.max_accounts);
}

int servers_release_slot(struct db *db, int64_t id, struct lumi_err *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%lld", (long long)id);
    const char *params[] = {idt};
    return db_execp(db,
                    "UPDATE servers SET account_count = account_count - 1 "
                    "WHERE id = CAST($1 AS BIGINT) AND account_count > 0",
                    1, params, NULL, err);
}
