/*
 * selfservice.c — a client's own actions on its running service (see
 * selfservice.h): the client's view of the service, single sign-on to the
 * panel, VPS power actions, and the panel password reset with its one-time
 * reveal.
 *
 * Owns the SQL on password_reveals. A reset never carries a password through
 * the jobs table: the change_password job is queued without arguments, the
 * worker makes (or, on VirtFusion, receives) the password, stores it sealed
 * on the service as before and, through selfservice_password_changed in the
 * same transaction, sealed again into the client's password_reveals row
 * (associated data "password_reveals.password_enc:<job id>", so a ciphertext
 * cannot be moved to another row). Showing it sets password_enc to NULL and
 * revealed_at, in one guarded UPDATE, so two concurrent views cannot both
 * get it.
 *
 * Sign-on and power talk to the panel with no transaction open and audit the
 * outcome afterwards in their own short transaction. Login URLs carry a
 * token: they are wiped after use and never logged or audited.
 * Threading: only the connection given; no shared state.
 */
#include "provisioning/selfservice.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "core/utc.h"
#include "panels/panel.h"
#include "provisioning/jobs.h"
#include "provisioning/servers.h"

#define PASSWORD_MAX 256
#define LIST_MAX 100

#define VIEW_COLUMNS                                                                               \
    "SELECT s.id, s.client_id, s.product_id, p.name, s.status, s.suspend_reason, s.username,"      \
    " s.domain, s.billing_cycle, s.recurring_amount, s.currency, s.next_due_date, s.created_at,"   \
    " v.type, v.url, u.email"                                                                      \
    " FROM services s JOIN users u ON u.id = s.client_id"                                          \
    " LEFT JOIN products p ON p.id = s.product_id LEFT JOIN servers v ON v.id = s.server_id"

static const char SQL_VIEW_ONE[] = VIEW_COLUMNS " WHERE s.client_id = $1 AND s.id = $2";
static const char SQL_VIEW_PAGE[] =
    VIEW_COLUMNS " WHERE s.client_id = $1 AND s.id > $2 ORDER BY s.id LIMIT $3";

#define TARGET_COLUMNS                                                                             \
    "SELECT s.client_id, s.status, s.server_id, s.remote_key, s.panel_user_key, s.external_id,"    \
    " s.username, s.domain, u.email FROM services s JOIN users u ON u.id = s.client_id"            \
    " WHERE s.id = $1"

static const char SQL_TARGET[] = TARGET_COLUMNS;
static const char SQL_TARGET_LOCKED[] = TARGET_COLUMNS " FOR UPDATE OF s";

static const char SQL_LAST_REVEAL[] =
    "SELECT r.id, r.job_id, r.password_enc, r.created_at, r.revealed_at, j.status"
    " FROM password_reveals r JOIN jobs j ON j.id = r.job_id"
    " WHERE r.service_id = $1 AND r.user_id = $2 ORDER BY r.id DESC LIMIT 1";
static const char SQL_REVEAL_OF_JOB[] = "SELECT COUNT(*) FROM password_reveals WHERE job_id = $1";
static const char SQL_REVEAL_INSERT[] = "INSERT INTO password_reveals (service_id, job_id, "
                                        "user_id, created_at) VALUES ($1, $2, $3, $4)";
static const char SQL_REVEAL_TAKE[] =
    "UPDATE password_reveals SET password_enc = NULL, revealed_at = $1"
    " WHERE id = $2 AND password_enc IS NOT NULL AND revealed_at IS NULL";
static const char SQL_REVEAL_SEAL[] =
    "UPDATE password_reveals SET password_enc = $1"
    " WHERE job_id = $2 AND revealed_at IS NULL AND password_enc IS NULL";

/* The service as an action needs it. */
struct target {
    int64_t id;
    int64_t server_id;
    char status[24];
    char remote_key[256];
    char client_key[32];
    char external_id[64];
    char username[64];
    char domain[256];
    char email[256];
};

/* The latest password_reveals row of a client for a service. */
struct reveal {
    int64_t id, job_id;
    char *password_enc; /* owned, sealed */
    char created_at[UTC_ISO_LEN], revealed_at[UTC_ISO_LEN];
    const char *state; /* pending | ready | shown | failed */
};

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static const char *col(struct db_stmt *st, int i)
{
    const char *s = db_col_text(st, i);
    return s != NULL ? s : "";
}

static void set_text(json_t *o, const char *key, struct db_stmt *st, int i)
{
    json_object_set_new(o, key, db_col_is_null(st, i) ? json_null() : json_string(col(st, i)));
}

static void reveal_ad(int64_t job_id, char *ad, size_t size)
{
    snprintf(ad, size, "password_reveals.password_enc:%" PRId64, job_id);
}

/* ---- reading -------------------------------------------------------------- */

/* Whether the panel type lets the client sign on / power (the ops say so). */
static json_t *panel_json(const char *type, const char *url, const char *service_username,
                          const char *email)
{
    const struct panel_ops *ops = panel_ops_for(type);
    if (ops == NULL)
        return json_null();
    /* A VirtFusion user signs in with the e-mail address Lumi created it with. */
    const char *login = str_eq(type, "virtfusion") ? email : service_username;
    return json_pack("{s:s, s:s, s:s?, s:s, s:b}", "type", type, "url", url, "username",
                     str_present(login) ? login : NULL, "login",
                     ops->login_url != NULL ? "sso" : "panel", "power", ops->power != NULL);
}

static int read_reveal(struct db *db, int64_t service_id, int64_t client_id, struct reveal *r,
                       struct lumi_err *err)
{
    memset(r, 0, sizeof *r);
    struct db_stmt *st = db_prepare(db, SQL_LAST_REVEAL, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, service_id);
    db_bind_int64(st, 2, client_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        rc = 1;
        r->id = db_col_int64(st, 0);
        r->job_id = db_col_int64(st, 1);
        if (!db_col_is_null(st, 2) && (r->password_enc = str_dup(col(st, 2))) == NULL)
            rc = nomem(err);
        str_copy(r->created_at, col(st, 3), sizeof r->created_at);
        str_copy(r->revealed_at, col(st, 4), sizeof r->revealed_at);
        const char *job = col(st, 5);
        if (r->revealed_at[0] != '\0')
            r->state = "shown";
        else if (str_eq(job, "queued") || str_eq(job, "running"))
            r->state = "pending";
        else if (str_eq(job, "done") && r->password_enc != NULL)
            r->state = "ready";
        else
            r->state = "failed";
    } else if (rc == DB_DONE) {
        rc = 0;
    }
    db_finalize(st);
    return rc;
}

static void reveal_clear(struct reveal *r)
{
    free(r->password_enc);
    r->password_enc = NULL;
}

static json_t *reveal_json(const struct reveal *r)
{
    return json_pack("{s:I, s:s, s:s, s:s?}", "job_id", (json_int_t)r->job_id, "state", r->state,
                     "requested_at", r->created_at, "revealed_at",
                     r->revealed_at[0] != '\0' ? r->revealed_at : NULL);
}

/* One row of SQL_VIEW_* as the client's view (without password_reset). */
static json_t *view_row(struct db_stmt *st)
{
    json_t *v = json_object();
    if (v == NULL)
        return NULL;
    json_object_set_new(v, "id", json_integer(db_col_int64(st, 0)));
    json_object_set_new(v, "client_id", json_integer(db_col_int64(st, 1)));
    json_object_set_new(v, "product_id", json_integer(db_col_int64(st, 2)));
    set_text(v, "product_name", st, 3);
    set_text(v, "status", st, 4);
    set_text(v, "suspend_reason", st, 5);
    set_text(v, "username", st, 6);
    set_text(v, "domain", st, 7);
    set_text(v, "billing_cycle", st, 8);
    json_object_set_new(v, "recurring_amount", json_integer(db_col_int64(st, 9)));
    set_text(v, "currency", st, 10);
    set_text(v, "next_due_date", st, 11);
    set_text(v, "created_at", st, 12);
    json_object_set_new(v, "panel",
                        db_col_is_null(st, 13)
                            ? json_null()
                            : panel_json(col(st, 13), col(st, 14), col(st, 6), col(st, 15)));
    return v;
}

/* Adds password_reset (the latest reset, not revealing anything) to view. */
static int add_reset_state(struct db *db, json_t *view, int64_t client_id, struct lumi_err *err)
{
    struct reveal r;
    int64_t id = json_integer_value(json_object_get(view, "id"));
    int rc = read_reveal(db, id, client_id, &r, err);
    if (rc < 0)
        return rc;
    json_t *j = rc == 1 ? reveal_json(&r) : json_null();
    reveal_clear(&r);
    if (j == NULL)
        return nomem(err);
    json_object_set_new(view, "password_reset", j);
    return 0;
}

json_t *selfservice_service(struct db *db, int64_t client_id, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *v = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (client_id <= 0 || id <= 0) {
        err_set(err, LUMI_ENOTFOUND, "service not found");
        return NULL;
    }
    struct db_stmt *st = db_prepare(db, SQL_VIEW_ONE, err);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, client_id);
    db_bind_int64(st, 2, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        if ((v = view_row(st)) == NULL)
            nomem(err);
    } else if (rc == DB_DONE) {
        err_set(err, LUMI_ENOTFOUND, "service not found");
    }
    db_finalize(st);
    if (v != NULL && add_reset_state(db, v, client_id, err) != 0) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

json_t *selfservice_services(struct db *db, int64_t client_id, int64_t after_id, int limit,
                             int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *rows = json_array();
    int rc = 0, n = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (next_cursor != NULL)
        *next_cursor = 0;
    if (limit <= 0 || limit > LIST_MAX)
        limit = LIST_MAX;
    struct db_stmt *st = rows != NULL ? db_prepare(db, SQL_VIEW_PAGE, err) : NULL;
    if (st == NULL) {
        if (rows == NULL)
            nomem(err);
        json_decref(rows);
        return NULL;
    }
    db_bind_int64(st, 1, client_id);
    db_bind_int64(st, 2, after_id);
    db_bind_int64(st, 3, (int64_t)limit + 1); /* one more tells whether a page follows */
    int64_t last = 0;
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (n == limit) {
            if (next_cursor != NULL)
                *next_cursor = last;
            break;
        }
        last = db_col_int64(st, 0);
        json_t *v = view_row(st);
        if (v == NULL || json_array_append_new(rows, v) != 0) {
            rc = nomem(err);
            break;
        }
        n++;
    }
    db_finalize(st);
    for (size_t i = 0; rc >= 0 && i < json_array_size(rows); i++)
        rc = add_reset_state(db, json_array_get(rows, i), client_id, err);
    if (rc < 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* ---- the service an action is on ------------------------------------------ */

/* Reads (locking on PostgreSQL, inside a transaction) the client's service. */
static int load_target(struct db *db, int64_t client_id, int64_t id, bool lock, struct target *t,
                       struct lumi_err *err)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    if (id <= 0 || client_id <= 0)
        return err_set(err, LUMI_ENOTFOUND, "service not found");
    const char *sql = lock && db_kind(db) == DB_POSTGRES ? SQL_TARGET_LOCKED : SQL_TARGET;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW && db_col_int64(st, 0) == client_id) {
        rc = 0;
        str_copy(t->status, col(st, 1), sizeof t->status);
        t->server_id = db_col_is_null(st, 2) ? 0 : db_col_int64(st, 2);
        str_copy(t->remote_key, col(st, 3), sizeof t->remote_key);
        if (db_col_is_null(st, 4))
            snprintf(t->client_key, sizeof t->client_key, "%" PRId64, client_id);
        else
            str_copy(t->client_key, col(st, 4), sizeof t->client_key);
        str_copy(t->external_id, col(st, 5), sizeof t->external_id);
        str_copy(t->username, col(st, 6), sizeof t->username);
        str_copy(t->domain, col(st, 7), sizeof t->domain);
        str_copy(t->email, col(st, 8), sizeof t->email);
    } else if (rc == DB_ROW || rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "service not found"); /* another's: the same answer */
    }
    db_finalize(st);
    return rc;
}

static int check_active(const struct target *t, const char *what, struct lumi_err *err)
{
    if (str_eq(t->status, "active"))
        return 0;
    return err_set(err, LUMI_ECONFLICT, "service %" PRId64 " is %s; only an active service can %s",
                   t->id, t->status, what);
}

static const char *or_null(const char *s)
{
    return str_present(s) ? s : NULL;
}

static void describe(const struct target *t, struct panel_service *ps)
{
    memset(ps, 0, sizeof *ps);
    ps->service_id = t->id;
    ps->remote_key = t->remote_key;
    ps->client_key = t->client_key;
    ps->client_email = t->email;
    ps->username = or_null(t->username);
    ps->domain = or_null(t->domain);
    ps->hostname = or_null(t->domain);
    ps->external_id = or_null(t->external_id);
}

/* The service's panel connection; a missing or unusable server is the panel's problem. */
static int open_panel(struct db *db, const struct target *t, struct server_conn *sc,
                      struct lumi_err *err)
{
    if (t->server_id == 0)
        return err_set(err, LUMI_ECONFLICT, "service %" PRId64 " is not on a panel", t->id);
    int rc = servers_conn(db, t->server_id, sc, err);
    if (rc == LUMI_ENOTFOUND || rc == LUMI_EINVAL)
        return err_set(err, LUMI_EUPSTREAM, "the service's panel cannot be used: %s", err->msg);
    return rc;
}

/* One audit row in its own transaction. details is borrowed. */
static int audit_now(struct db *db, const struct audit_actor *actor, const char *action, int64_t id,
                     json_t *details, struct lumi_err *err)
{
    int rc = db_begin(db, err);
    if (rc == 0)
        rc = audit_append_id(db, actor, action, "service", id, details, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

/* ---- sign-on --------------------------------------------------------------- */

json_t *selfservice_login(struct db *db, const struct audit_actor *actor, int64_t client_id,
                          int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    struct target t;
    struct server_conn sc;
    struct panel_service ps;
    struct hc_error e;
    bool have_conn = false;
    json_t *out = NULL, *details = NULL;
    char *url = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&e, 0, sizeof e);
    if (load_target(db, client_id, id, false, &t, err) != 0 ||
        check_active(&t, "be signed on to", err) != 0 || open_panel(db, &t, &sc, err) != 0)
        goto out;
    have_conn = true;
    const char *login = str_eq(sc.type, "virtfusion") ? t.email : t.username;
    if (sc.ops->login_url == NULL) {
        out = json_pack("{s:s, s:s, s:s?}", "url", sc.url, "kind", "panel", "username",
                        or_null(login));
        if (out == NULL)
            nomem(err);
        goto out;
    }
    if ((url = calloc(1, SELFSERVICE_URL_MAX)) == NULL) {
        nomem(err);
        goto out;
    }
    describe(&t, &ps);
    int rc = sc.ops->login_url(&sc.conn, &ps, url, SELFSERVICE_URL_MAX, &e);
    details = json_pack("{s:s, s:s, s:s?}", "panel", sc.type, "kind", "sso", "error",
                        rc == 0 ? NULL : e.message);
    if (details == NULL) {
        nomem(err);
        goto out;
    }
    if (audit_now(db, actor, rc == 0 ? "SERVICE_SSO_ISSUED" : "SERVICE_SSO_FAILED", id, details,
                  err) != 0)
        goto out;
    if (rc != 0) {
        err_set(err, LUMI_EUPSTREAM, "the panel did not give a login link: %s", e.message);
        goto out;
    }
    out = json_pack("{s:s, s:s, s:s?}", "url", url, "kind", "sso", "username", or_null(login));
    if (out == NULL)
        nomem(err);
out:
    if (url != NULL) {
        explicit_bzero(url, SELFSERVICE_URL_MAX);
        free(url);
    }
    if (have_conn)
        servers_conn_clear(&sc);
    json_decref(details);
    return out;
}

/* ---- power ----------------------------------------------------------------- */

static bool power_action_ok(const char *action)
{
    return str_eq(action, "boot") || str_eq(action, "shutdown") || str_eq(action, "restart");
}

json_t *selfservice_power(struct db *db, const struct audit_actor *actor, int64_t client_id,
                          int64_t id, const char *action, struct lumi_err *err)
{
    struct lumi_err local;
    struct target t;
    struct server_conn sc;
    struct panel_service ps;
    struct hc_error e;
    bool have_conn = false;
    char answer[HC_MSG_MAX] = "";
    json_t *out = NULL, *details = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&e, 0, sizeof e);
    if (load_target(db, client_id, id, false, &t, err) != 0)
        goto out;
    if (!power_action_ok(action)) {
        err_set(err, LUMI_EINVAL, "field 'action' must be one of boot, shutdown, restart");
        goto out;
    }
    if (check_active(&t, "be powered", err) != 0 || open_panel(db, &t, &sc, err) != 0)
        goto out;
    have_conn = true;
    if (sc.ops->power == NULL) {
        err_set(err, LUMI_ECONFLICT, "this panel (%s) does not offer power actions", sc.type);
        goto out;
    }
    describe(&t, &ps);
    int rc = sc.ops->power(&sc.conn, &ps, action, answer, sizeof answer, &e);
    details = json_pack("{s:s, s:s, s:s?, s:s?}", "panel", sc.type, "action", action, "answer",
                        rc == 0 ? answer : NULL, "error", rc == 0 ? NULL : e.message);
    if (details == NULL) {
        nomem(err);
        goto out;
    }
    if (audit_now(db, actor, rc == 0 ? "SERVICE_POWER" : "SERVICE_POWER_FAILED", id, details,
                  err) != 0)
        goto out;
    if (rc != 0) {
        err_set(err, LUMI_EUPSTREAM, "the panel refused the %s: %s", action, e.message);
        goto out;
    }
    out = json_pack("{s:I, s:s, s:s}", "service_id", (json_int_t)id, "action", action, "message",
                    answer);
    if (out == NULL)
        nomem(err);
out:
    if (have_conn)
        servers_conn_clear(&sc);
    json_decref(details);
    return out;
}

/* ---- password reset -------------------------------------------------------- */

static int insert_reveal(struct db *db, int64_t service_id, int64_t job_id, int64_t client_id,
                         struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    int64_t already = 0;
    char job[24];
    snprintf(job, sizeof job, "%" PRId64, job_id);
    const char *p[] = {job};
    int rc = db_query_int64(db, SQL_REVEAL_OF_JOB, 1, p, &already, err);
    if (rc != 0)
        return rc;
    if (already > 0)
        return err_set(err, LUMI_ECONFLICT,
                       "a panel password reset of service %" PRId64 " is already running",
                       service_id);
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, SQL_REVEAL_INSERT, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, service_id);
    db_bind_int64(st, 2, job_id);
    db_bind_int64(st, 3, client_id);
    db_bind_text(st, 4, now);
    rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

json_t *selfservice_password_reset(struct db *db, const struct audit_actor *actor,
                                   int64_t client_id, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    struct target t;
    int64_t job_id = 0;
    json_t *job = NULL, *details = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (config_secret_key() == NULL) {
        err_set(err, LUMI_ECONFLICT, "passwords cannot be reset: LUMI_SECRET_KEY is not set");
        return NULL;
    }
    if (db_begin(db, err) != 0)
        return NULL;
    if (load_target(db, client_id, id, true, &t, err) != 0 ||
        check_active(&t, "have its panel password reset", err) != 0)
        goto out;
    if (t.server_id == 0) {
        err_set(err, LUMI_ECONFLICT, "service %" PRId64 " is not on a panel", id);
        goto out;
    }
    if (jobs_enqueue(db, id, "change_password", NULL, &job_id, err) != 0 ||
        insert_reveal(db, id, job_id, client_id, err) != 0)
        goto out;
    details = json_pack("{s:I}", "job_id", (json_int_t)job_id);
    if (details == NULL) {
        nomem(err);
        goto out;
    }
    if (audit_append_id(db, actor, "SERVICE_PASSWORD_RESET_REQUESTED", "service", id, details,
                        err) != 0)
        goto out;
    job = jobs_get(db, job_id, err);
    if (job != NULL && db_commit(db, err) != 0) {
        json_decref(job);
        job = NULL;
    }
out:
    if (job == NULL)
        db_rollback(db);
    json_decref(details);
    return job;
}

/* Opens r's sealed password and takes it off the row; state "shown" on success. */
static int take_password(struct db *db, const struct audit_actor *actor, int64_t service_id,
                         struct reveal *r, struct buf *pw, struct lumi_err *err)
{
    const uint8_t *key = config_secret_key();
    char ad[64], now[UTC_ISO_LEN];
    struct lumi_err cerr;
    if (key == NULL)
        return err_set(err, LUMI_EINTERNAL, "LUMI_SECRET_KEY is not set");
    reveal_ad(r->job_id, ad, sizeof ad);
    if (crypto_open(key, ad, r->password_enc, pw, &cerr) != 0)
        return err_set(err, LUMI_EINTERNAL,
                       "the new panel password cannot be decrypted (was LUMI_SECRET_KEY changed?)");
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, SQL_REVEAL_TAKE, err);
    if (st == NULL)
        return err->code;
    db_bind_text(st, 1, now);
    db_bind_int64(st, 2, r->id);
    int rc = db_step(st, err);
    int64_t changed = db_changes(st);
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (changed != 1) { /* a concurrent view showed it first */
        if (pw->data != NULL)
            explicit_bzero(pw->data, pw->cap);
        buf_reset(pw);
        r->state = "shown";
        return 0;
    }
    str_copy(r->revealed_at, now, sizeof r->revealed_at);
    r->state = "shown";
    json_t *d = json_pack("{s:I}", "job_id", (json_int_t)r->job_id);
    if (d == NULL)
        return nomem(err);
    rc = audit_append_id(db, actor, "SERVICE_PASSWORD_REVEALED", "service", service_id, d, err);
    json_decref(d);
    return rc;
}

json_t *selfservice_password_reveal(struct db *db, const struct audit_actor *actor,
                                    int64_t client_id, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    struct target t;
    struct reveal r;
    struct buf pw;
    json_t *out = NULL;
    bool ok = false;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&r, 0, sizeof r);
    buf_init(&pw, PASSWORD_MAX);
    if (db_begin(db, err) != 0)
        goto done;
    if (load_target(db, client_id, id, true, &t, err) != 0)
        goto out;
    int rc = read_reveal(db, id, client_id, &r, err);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        out = json_null();
        ok = db_commit(db, err) == 0;
        goto out;
    }
    if (str_eq(r.state, "ready") && take_password(db, actor, id, &r, &pw, err) != 0)
        goto out;
    out = reveal_json(&r);
    if (out == NULL) {
        nomem(err);
        goto out;
    }
    if (pw.len > 0)
        json_object_set_new(out, "password", json_string(buf_cstr(&pw)));
    ok = db_commit(db, err) == 0;
out:
    if (!ok) {
        db_rollback(db);
        json_decref(out);
        out = NULL;
    }
done:
    if (pw.data != NULL)
        explicit_bzero(pw.data, pw.cap);
    buf_free(&pw);
    reveal_clear(&r);
    return out;
}

int selfservice_password_changed(struct db *db, int64_t job_id, const char *password,
                                 struct lumi_err *err)
{
    const uint8_t *key = config_secret_key();
    char ad[64];
    if (key == NULL || !str_present(password))
        return 0; /* nothing sealed, nothing shown: the reveal reports the reset as failed */
    reveal_ad(job_id, ad, sizeof ad);
    char *enc = crypto_seal(key, ad, password, strlen(password));
    if (enc == NULL)
        return err_set(err, LUMI_EINTERNAL, "cannot seal the new panel password");
    struct db_stmt *st = db_prepare(db, SQL_REVEAL_SEAL, err);
    int rc = st != NULL ? 0 : err->code;
    if (st != NULL) {
        db_bind_text(st, 1, enc);
        db_bind_int64(st, 2, job_id);
        rc = db_step(st, err);
        db_finalize(st);
    }
    free(enc);
    return rc < 0 ? rc : 0;
}
