/*
 * directadmin.c — the DirectAdmin panel client: `panel_directadmin`
 * (test_connection, find, create, suspend, unsuspend, terminate,
 * change_package, change_password, info), the DirectAdmin-only operations
 * (da_*), and the account names Lumi chooses (da_username_for).
 *
 * Everything version-specific is in da_wire.c: this file builds commands and
 * reads normalised answers. Exactly-once rests on the account name: find adopts
 * an account only when its e-mail and domain are the service's; suspend and
 * unsuspend read the state first and send only when it must change (some
 * panel versions toggle on a repeated Suspend), then read it again to confirm;
 * terminate treats an absent account as done and confirms the deletion.
 *
 * Threading: stateless and reentrant; knows nothing of the database.
 */
#include "panels/directadmin.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "panels/da_wire.h"

/* The account as far as Lumi cares, read from a legacy record or the JSON API's config. */
struct da_account {
    const char *email; /* borrowed from the record; "" when absent */
    const char *domain;
    const char *package;
    bool suspended;
};

/* ------------------------------------------------------------------------ */
/* Account names                                                            */
/* ------------------------------------------------------------------------ */

#define B36_LIMIT 2821109907456LL /* 36^8: the suffix stays at most 9 characters */

/* Letters of seed up to its first '.' or '@' ("example.com" → "example"), else of all of it. */
static size_t seed_letters(const char *seed, char *out, size_t outsz)
{
    size_t n = 0;
    for (int pass = 0; pass < 2 && n == 0 && seed != NULL; pass++) {
        for (const char *p = seed; *p != '\0' && n < outsz; p++) {
            char ch = *p;
            if (pass == 0 && (ch == '.' || ch == '@'))
                break;
            if (ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            if (ch >= 'a' && ch <= 'z')
                out[n++] = ch;
        }
    }
    if (n == 0)
        out[n++] = 'u';
    return n;
}

int da_username_for(int64_t service_id, const char *seed, char out[DA_USERNAME_MAX + 1])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char rev[16], suffix[16], letters[DA_USERNAME_MAX];
    size_t n = 0, s = 0;
    out[0] = '\0';
    if (service_id < 1 || service_id >= B36_LIMIT)
        return -1;
    for (int64_t v = service_id; v > 0; v /= 36)
        rev[n++] = digits[v % 36];
    /*
     * The id starts at the first digit after the seed's letters: a base-36
     * form that would start with a letter gets a '0' in front (a canonical
     * form never starts with 0), so the name decodes to exactly one id.
     */
    if (rev[n - 1] >= 'a')
        suffix[s++] = '0';
    while (n > 0)
        suffix[s++] = rev[--n];
    /* At most 8 characters when possible: old DirectAdmin versions allow no more. */
    size_t total = s + 1 > 8 ? s + 1 : 8;
    size_t nl = seed_letters(seed, letters, total - s);
    memcpy(out, letters, nl);
    memcpy(out + nl, suffix, s);
    out[nl + s] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static int need(const char *value, const char *what, struct hc_error *e)
{
    if (str_present(value))
        return 0;
    return hc_fail(e, HC_INVALID, "DirectAdmin needs %s", what);
}

static const char *str_or_empty(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* yes/no, on/off, true/false, 1/0 or a JSON boolean (the JSON API). */
static int parse_flag(const json_t *v, bool *out)
{
    static const char *const yes[] = {"yes", "on", "true", "1", NULL};
    static const char *const no[] = {"no", "off", "false", "0", NULL};
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; s != NULL && yes[i] != NULL; i++) {
        if (str_eq_nocase(s, yes[i]) || str_eq_nocase(s, no[i])) {
            *out = str_eq_nocase(s, yes[i]);
            return 0;
        }
    }
    return -1;
}

static int read_account(const json_t *rec, const char *username, struct da_account *a,
                        struct hc_error *e)
{
    a->email = str_or_empty(rec, "email");
    a->domain = str_or_empty(rec, "domain");
    a->package = str_or_empty(rec, "package");
    if (parse_flag(json_object_get(rec, "suspended"), &a->suspended) != 0)
        return hc_fail(e, HC_BAD_RESPONSE,
                       "DirectAdmin's record of account %s has no readable 'suspended' field",
                       username);
    return 0;
}

/* 1 with *rec and *a (borrowing from *rec), 0 when there is no such account, -1 with e. */
static int load_account(const struct panel_conn *c, const char *username, json_t **rec,
                        struct da_account *a, struct hc_error *e)
{
    int rc = da_wire_user_record(c, username, rec, e);
    if (rc == 1 && read_account(*rec, username, a, e) != 0) {
        json_decref(*rec);
        *rec = NULL;
        rc = -1;
    }
    return rc;
}

static void fill_result(struct panel_result *out, const char *username, bool suspended)
{
    memset(out, 0, sizeof *out);
    str_copy(out->external_id, username, sizeof out->external_id);
    str_copy(out->username, username, sizeof out->username);
    out->suspended = suspended;
}

static json_t *account_json(const char *username, json_t *config, struct hc_error *e)
{
    struct da_account a;
    if (read_account(config, username, &a, e) != 0)
        return NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:O}", "username", username, "email", a.email,
                          "domain", a.domain, "package", a.package, "suspended", a.suspended,
                          "config", config);
    if (o == NULL)
        hc_fail(e, HC_BAD_RESPONSE, "out of memory reading DirectAdmin");
    return o;
}

static int run_action(const struct panel_conn *c, const char *cmd, const char *as_user,
                      const struct da_param *params, struct hc_error *e)
{
    json_t *out = NULL;
    int rc = da_wire_command(c, "POST", cmd, as_user, params, DA_ACTION, &out, e);
    json_decref(out);
    return rc;
}

static json_t *run_list(const struct panel_conn *c, const char *cmd, const char *as_user,
                        struct hc_error *e)
{
    json_t *out = NULL;
    if (da_wire_command(c, "GET", cmd, as_user, NULL, DA_LIST, &out, e) != 0)
        return NULL;
    return out;
}

static const char *config_str(const struct panel_service *s, const char *key)
{
    const char *v = json_string_value(json_object_get(s->config, key));
    return str_present(v) ? v : NULL;
}

/* ------------------------------------------------------------------------ */
/* panel_ops                                                                */
/* ------------------------------------------------------------------------ */

static int da_test_connection(const struct panel_conn *c, struct panel_test *out,
                              struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    memset(out, 0, sizeof *out);
    if (da_wire_login_test(c, out->message, sizeof out->message, e) != 0) {
        str_copy(out->message, e->message, sizeof out->message);
        return -1;
    }
    out->ok = true;
    return 0;
}

static int da_find(const struct panel_conn *c, const struct panel_service *s,
                   struct panel_result *out, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    json_t *rec = NULL;
    struct da_account a;
    if (need(s->username, "the service's account name", e) != 0)
        return -1;
    int rc = load_account(c, s->username, &rec, &a, e);
    if (rc != 1)
        return rc;
    /* The name is Lumi's key, but an account someone else made under it is not ours. */
    if (!str_eq_nocase(a.email, s->client_email) || !str_eq_nocase(a.domain, s->domain)) {
        rc = hc_fail(e, HC_INVALID, "DirectAdmin account %s exists but belongs to someone else",
                     s->username);
        goto out;
    }
    fill_result(out, s->username, a.suspended);
out:
    json_decref(rec);
    return rc;
}

static int da_create(const struct panel_conn *c, const struct panel_service *s,
                     struct panel_result *out, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    const char *package = config_str(s, "package");
    const char *ip = config_str(s, "ip");
    if (need(s->username, "the service's account name", e) != 0 ||
        need(s->client_email, "the client's e-mail address", e) != 0 ||
        need(s->domain, "a domain for the service", e) != 0 ||
        need(s->password, "an initial password", e) != 0)
        return -1;
    if (package == NULL)
        return hc_fail(e, HC_INVALID, "product config needs 'package'");
    const struct da_param params[] = {{"action", "create"},
                                      {"add", "Submit"},
                                      {"username", s->username},
                                      {"email", s->client_email},
                                      {"passwd", s->password},
                                      {"passwd2", s->password},
                                      {"domain", s->domain},
                                      {"package", package},
                                      {"ip", ip != NULL ? ip : "shared"},
                                      {"notify", "no"},
                                      {NULL, NULL}};
    if (run_action(c, "CMD_API_ACCOUNT_USER", NULL, params, e) != 0)
        return -1;
    fill_result(out, s->username, false);
    return 0;
}

static int set_suspended(const struct panel_conn *c, const struct panel_service *s, bool want,
                         struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    json_t *rec = NULL;
    struct da_account a;
    const char *verb = want ? "suspend" : "unsuspend";
    if (need(s->username, "the service's account name", e) != 0)
        return -1;
    int rc = load_account(c, s->username, &rec, &a, e);
    if (rc == 0)
        rc = hc_fail(e, HC_NOT_FOUND, "DirectAdmin has no account %s to %s", s->username, verb);
    if (rc != 1 || a.suspended == want)
        goto out;
    const struct da_param params[] = {{"location", "CMD_SELECT_USERS"},
                                      {"suspend", want ? "Suspend" : "Unsuspend"},
                                      {"select0", s->username},
                                      {NULL, NULL}};
    json_decref(rec);
    rec = NULL;
    if (run_action(c, "CMD_API_SELECT_USERS", NULL, params, e) != 0) {
        rc = -1;
        goto out;
    }
    rc = load_account(c, s->username, &rec, &a, e);
    if (rc == 0)
        rc = hc_fail(e, HC_NOT_FOUND, "DirectAdmin account %s disappeared while trying to %s it",
                     s->username, verb);
    else if (rc == 1 && a.suspended != want)
        rc = hc_fail(e, HC_UPSTREAM,
                     "DirectAdmin did not %s account %s (it still shows suspended=%s)", verb,
                     s->username, a.suspended ? "yes" : "no");
out:
    json_decref(rec);
    return rc == 1 ? 0 : -1;
}

static int da_suspend(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e)
{
    return set_suspended(c, s, true, e);
}

static int da_unsuspend(const struct panel_conn *c, const struct panel_service *s,
                        struct hc_error *e)
{
    return set_suspended(c, s, false, e);
}

static int da_terminate(const struct panel_conn *c, const struct panel_service *s,
                        struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    json_t *rec = NULL;
    struct hc_error sent;
    if (need(s->username, "the service's account name", e) != 0)
        return -1;
    int rc = da_wire_user_record(c, s->username, &rec, e);
    json_decref(rec);
    rec = NULL;
    if (rc != 1)
        return rc == 0 ? 0 : -1; /* already gone */
    const struct da_param params[] = {
        {"confirmed", "Confirm"}, {"delete", "yes"}, {"select0", s->username}, {NULL, NULL}};
    int sent_rc = run_action(c, "CMD_API_SELECT_USERS", NULL, params, &sent);
    /* Whatever the answer said (or if none came), the account's absence is what counts. */
    rc = da_wire_user_record(c, s->username, &rec, e);
    json_decref(rec);
    if (rc == 0)
        return 0;
    if (rc == 1 && sent_rc != 0)
        *e = sent;
    else if (rc == 1)
        hc_fail(e, HC_UPSTREAM, "DirectAdmin still has account %s after deleting it", s->username);
    return -1;
}

static int da_change_package_op(const struct panel_conn *c, const struct panel_service *s,
                                struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    const char *package = config_str(s, "package");
    if (need(s->username, "the service's account name", e) != 0)
        return -1;
    if (package == NULL)
        return hc_fail(e, HC_INVALID, "product config needs 'package'");
    return da_change_package(c, s->username, package, e);
}

static int da_change_password(const struct panel_conn *c, const struct panel_service *s,
                              const char *new_password, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    if (need(s->username, "the service's account name", e) != 0 ||
        need(new_password, "a new password", e) != 0)
        return -1;
    const struct da_param params[] = {{"username", s->username},
                                      {"passwd", new_password},
                                      {"passwd2", new_password},
                                      {NULL, NULL}};
    return run_action(c, "CMD_API_USER_PASSWD", NULL, params, e);
}

static json_t *da_info(const struct panel_conn *c, const struct panel_service *s,
                       struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    if (need(s->username, "the service's account name", e) != 0)
        return NULL;
    return da_account_info(c, s->username, e);
}

/*
 * Single sign-on: CMD_API_LOGIN_KEYS action=create type=one_time_url, sent as
 * the account ("admin|user" login-as), so the one-time URL logs that user in;
 * DirectAdmin answers the URL in `details` (v2: `result`). The contract names
 * the new API's POST /api/login-keys/urls too; the legacy command is used in
 * both modes because it is the one both versions document the answer of.
 */
static int da_login_url(const struct panel_conn *c, const struct panel_service *s, char *url,
                        size_t url_size, struct hc_error *e)
{
    struct hc_error scratch;
    json_t *out = NULL;
    int rc = -1;
    if (e == NULL)
        e = &scratch;
    if (url == NULL || url_size == 0)
        return hc_fail(e, HC_INVALID, "no room for the login URL");
    url[0] = '\0';
    if (need(s->username, "the service's account name", e) != 0)
        return -1;
    const struct da_param params[] = {
        {"action", "create"}, {"type", "one_time_url"}, {"expiry", "5m"}, {NULL, NULL}};
    if (da_wire_command(c, "POST", "CMD_API_LOGIN_KEYS", s->username, params, DA_ACTION, &out, e) !=
        0)
        goto out;
    const char *u = str_or_empty(out, "details");
    if (!str_starts_with(u, "https://") && !str_starts_with(u, "http://"))
        hc_fail(e, HC_BAD_RESPONSE, "DirectAdmin created the login URL but did not answer it");
    else if (str_copy(url, u, url_size) >= url_size)
        hc_fail(e, HC_BAD_RESPONSE, "DirectAdmin's login URL is longer than %zu bytes",
                url_size - 1);
    else
        rc = 0;
    if (rc != 0)
        url[0] = '\0';
out:
    json_decref(out);
    return rc;
}

const struct panel_ops panel_directadmin = {
    .type = "directadmin",
    .test_connection = da_test_connection,
    .find = da_find,
    .create = da_create,
    .suspend = da_suspend,
    .unsuspend = da_unsuspend,
    .terminate = da_terminate,
    .change_package = da_change_package_op,
    .change_password = da_change_password,
    .info = da_info,
    .login_url = da_login_url,
};

/* ------------------------------------------------------------------------ */
/* DirectAdmin-only operations                                              */
/* ------------------------------------------------------------------------ */

json_t *da_account_info(const struct panel_conn *c, const char *username, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    json_t *config = NULL, *o = NULL;
    if (need(username, "an account name", e) != 0)
        return NULL;
    int rc = da_wire_user_config(c, username, &config, e);
    if (rc == 0)
        hc_fail(e, HC_NOT_FOUND, "DirectAdmin has no account %s", username);
    if (rc == 1)
        o = account_json(username, config, e);
    json_decref(config);
    return o;
}

json_t *da_list_accounts(const struct panel_conn *c, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    return run_list(c, "CMD_API_SHOW_ALL_USERS", NULL, e);
}

json_t *da_list_packages(const struct panel_conn *c, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    return run_list(c, "CMD_API_PACKAGES_USER", NULL, e);
}

int da_change_package(const struct panel_conn *c, const char *username, const char *package,
                      struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    if (need(username, "an account name", e) != 0 || need(package, "a package name", e) != 0)
        return -1;
    const struct da_param params[] = {
        {"action", "package"}, {"user", username}, {"package", package}, {NULL, NULL}};
    return run_action(c, "CMD_API_MODIFY_USER", NULL, params, e);
}

json_t *da_list_domains(const struct panel_conn *c, const char *username, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    if (need(username, "an account name", e) != 0)
        return NULL;
    return run_list(c, "CMD_API_SHOW_DOMAINS", username, e);
}

/* Database and database-user names: letters, digits and '_' (DirectAdmin adds "<user>_"). */
static bool db_name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return false;
    }
    return n >= 1 && n <= 48;
}

int da_create_database(const struct panel_conn *c, const char *username, const char *name,
                       const char *dbuser, const char *password, struct hc_error *e)
{
    struct hc_error scratch;
    if (e == NULL)
        e = &scratch;
    if (need(username, "an account name", e) != 0 || need(name, "a database name", e) != 0 ||
        need(dbuser, "a database user name", e) != 0 ||
        need(password, "a database password", e) != 0)
        return -1;
    if (!db_name_ok(name) || !db_name_ok(dbuser))
        return hc_fail(e, HC_INVALID,
                       "database and database user names may only contain letters, digits "
                       "and '_' (1 to 48 characters)");
    return da_wire_create_database(c, username, name, dbuser, password, e);
}
