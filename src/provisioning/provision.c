/*
 * provision.c — the executor of the ProvisioningService: runs one claimed job
 * against its panel (see provision.h).
 *
 * A run has three phases, and only the middle one talks to the panel:
 *   1. load   the service, its client, product config and server (reads only);
 *             for `provision`, the password, DirectAdmin account name and
 *             client key are stored in their own committed transaction
 *             before any panel call, so every later attempt reuses them;
 *   2. call   the panel through struct panel_ops, with no transaction open;
 *             each call is timed and kept in memory as an attempt;
 *   3. finish ONE transaction: the attempts, the service, the job and (for a
 *             final outcome) the audit row. When it fails the job's lease
 *             expires and the job runs again: `find` then adopts what the
 *             panel already did, so nothing is created twice.
 * Threading: uses only the connection it is given (one per worker thread);
 * no global state. Secrets: the service password only lives in a wiped
 * buffer; panel messages are scrubbed of it before they are stored or logged.
 */
#include "provisioning/provision.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"
#include "core/utc.h"
#include "events/events.h"
#include "panels/directadmin.h"
#include "panels/panel.h"
#include "provisioning/changes.h"
#include "provisioning/selfservice.h"
#include "provisioning/servers.h"

#define MAX_CALLS 4       /* panel calls in one run: find + create at most */
#define PASSWORD_BYTES 16 /* generated passwords: 32 hex digits */
#define PASSWORD_MAX 128
#define REASON_MAX 100
#define KEY_MAX 200
#define CONFIG_MAX (64 * 1024)

/* What each action is audited as, when it succeeds and when it fails. */
struct action_def {
    const char *name;
    const char *audit_ok;
    const char *audit_failed;
    const char *event; /* the outgoing event of a success (issue 16), or NULL */
};

static const struct action_def ACTIONS[] = {
    {"provision", "SERVICE_PROVISIONED", "SERVICE_PROVISION_FAILED", "service.active"},
    {"suspend", "SERVICE_SUSPENDED", "SERVICE_SUSPEND_FAILED", "service.suspended"},
    {"unsuspend", "SERVICE_UNSUSPENDED", "SERVICE_UNSUSPEND_FAILED", "service.unsuspended"},
    {"terminate", "SERVICE_TERMINATED", "SERVICE_TERMINATE_FAILED", "service.terminated"},
    {"change_package", "SERVICE_PACKAGE_CHANGED", "SERVICE_PACKAGE_CHANGE_FAILED", NULL},
    {"change_password", "SERVICE_PASSWORD_CHANGED", "SERVICE_PASSWORD_CHANGE_FAILED", NULL},
};

/* One panel call, as it will be written to provision_attempts. */
struct call {
    const char *action;
    char started_at[UTC_ISO_LEN];
    int64_t duration_ms;
    const char *outcome; /* "success" or hc_class_name() */
    long http_status;
    char error[HC_MSG_MAX];
};

struct run {
    const struct job *job;
    struct db *db;        /* for lease heartbeats between panel calls */
    bool lease_lost;      /* another worker took the job over: stop, record nothing */
    const struct action_def *def;
    bool service_exists;

    /* the rows */
    int64_t client_id, product_id, server_id;
    char status[16];
    char remote_key[KEY_MAX + 1];
    char client_key[32];
    char external_id[64];
    char username[64];
    char domain[256];
    char email[256];
    char first_name[128];
    char last_name[128];
    char *password_enc;     /* sealed, owned */
    bool need_client_key;   /* panel_user_key was NULL */
    json_t *config;         /* product config, owned */
    int64_t new_product_id; /* change_package: the product whose config applies */
    char reason[REASON_MAX + 1];

    /* the panel */
    struct server_conn sc;
    bool have_conn;
    struct buf password;     /* the service's password (plaintext, wiped) */
    struct buf new_password; /* change_password */
    char *new_password_enc;  /* sealed, owned */

    /* the outcome */
    struct call calls[MAX_CALLS];
    int ncalls;
    struct panel_result res;
    int outcome;
    int64_t retry_delay_s;
    char error[HC_MSG_MAX];
};

static const char SQL_LOAD[] =
    "SELECT s.client_id, s.product_id, s.server_id, s.status, s.remote_key, s.panel_user_key, "
    "s.external_id, s.username, s.password_enc, s.domain, u.email, u.first_name, u.last_name "
    "FROM services s JOIN users u ON u.id = s.client_id WHERE s.id = $1";
static const char SQL_PRODUCT_CONFIG[] = "SELECT config FROM products WHERE id = $1";
static const char SQL_STORE_SECRETS[] =
    "UPDATE services SET password_enc = COALESCE(password_enc, $1), "
    "username = COALESCE(username, $2), panel_user_key = COALESCE(panel_user_key, $3), "
    "updated_at = $4 WHERE id = $5";
static const char SQL_READ_SECRETS[] =
    "SELECT password_enc, username, panel_user_key FROM services WHERE id = $1";
static const char SQL_ATTEMPT[] =
    "INSERT INTO provision_attempts (job_id, service_id, server_id, action, attempt, "
    "started_at, duration_ms, outcome, http_status, error) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
static const char SQL_PROVISIONED[] =
    "UPDATE services SET status = 'active', external_id = $1, username = COALESCE(username, $2), "
    "last_error = NULL, updated_at = $3 WHERE id = $4";
static const char SQL_PROVISION_RETRY[] =
    "UPDATE services SET status = CASE WHEN status IN ('failed', 'provisioning') THEN 'pending' "
    "ELSE status END, last_error = $1, updated_at = $2 WHERE id = $3";
static const char SQL_PROVISION_FAILED[] =
    "UPDATE services SET status = CASE WHEN status IN ('pending', 'provisioning') THEN 'failed' "
    "ELSE status END, last_error = $1, updated_at = $2 WHERE id = $3";
static const char SQL_SUSPENDED[] =
    "UPDATE services SET status = 'suspended', suspend_reason = $1, last_error = NULL, "
    "updated_at = $2 WHERE id = $3";
static const char SQL_UNSUSPENDED[] =
    "UPDATE services SET status = 'active', suspend_reason = NULL, last_error = NULL, "
    "updated_at = $1 WHERE id = $2";
static const char SQL_TERMINATED[] =
    "UPDATE services SET status = 'terminated', terminated_at = $1, password_enc = NULL, "
    "last_error = NULL, updated_at = $1 WHERE id = $2 AND status <> 'terminated'";
static const char SQL_PACKAGE_CHANGED[] = "UPDATE services SET product_id = CAST($1 AS BIGINT), "
                                          "last_error = NULL, updated_at = $2 WHERE id = $3";
static const char SQL_PASSWORD_CHANGED[] =
    "UPDATE services SET password_enc = $1, last_error = NULL, updated_at = $2 WHERE id = $3";
static const char SQL_LAST_ERROR[] =
    "UPDATE services SET last_error = $1, updated_at = $2 WHERE id = $3";

static const struct action_def *action_def_for(const char *name)
{
    for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (str_eq(ACTIONS[i].name, name))
            return &ACTIONS[i];
    return NULL;
}

static bool is_action(const struct run *r, const char *name)
{
    return r->def != NULL && str_eq(r->def->name, name);
}

static const char *col(struct db_stmt *st, int i)
{
    const char *s = db_col_text(st, i);
    return s ? s : "";
}

static const char *or_null(const char *s)
{
    return (s != NULL && *s != '\0') ? s : NULL;
}

/* Replaces every occurrence of secret in msg (in place, truncating if need be)
 * so a panel that echoes the password back cannot put it into the database
 * or the logs. */
static void scrub(char *msg, size_t size, const char *secret)
{
    size_t n = secret != NULL ? strlen(secret) : 0;
    if (n < 4 || strstr(msg, secret) == NULL)
        return;
    struct buf out;
    buf_init(&out, size - 1);
    const char *p = msg;
    const char *hit;
    while ((hit = strstr(p, secret)) != NULL) {
        buf_append(&out, p, (size_t)(hit - p));
        buf_append_str(&out, "[REDACTED]");
        p = hit + n;
    }
    buf_append_str(&out, p);
    /* Whatever did not fit was cut at a boundary that holds no part of the secret. */
    str_copy(msg, buf_cstr(&out), size);
    buf_free(&out);
}

static void scrub_secrets(struct run *r, char *msg, size_t size)
{
    scrub(msg, size, buf_cstr(&r->password));
    scrub(msg, size, buf_cstr(&r->new_password));
}

/* A permanent failure found before (or instead of) calling the panel. */
static void fail_now(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_now(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->outcome = PROVISION_FAILED;
}

/* --- phase 1: load --------------------------------------------------------- */

static int load_service(struct db *db, struct run *r, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_LOAD, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, r->job->service_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        rc = 0;
        r->service_exists = true;
        r->client_id = db_col_int64(st, 0);
        r->product_id = db_col_int64(st, 1);
        r->server_id = db_col_is_null(st, 2) ? 0 : db_col_int64(st, 2);
        str_copy(r->status, col(st, 3), sizeof r->status);
        if (str_copy(r->remote_key, col(st, 4), sizeof r->remote_key) >= sizeof r->remote_key)
            r->remote_key[0] = '\0';
        r->need_client_key = db_col_is_null(st, 5);
        if (r->need_client_key)
            snprintf(r->client_key, sizeof r->client_key, "%lld", (long long)r->client_id);
        else
            str_copy(r->client_key, col(st, 5), sizeof r->client_key);
        str_copy(r->external_id, col(st, 6), sizeof r->external_id);
        str_copy(r->username, col(st, 7), sizeof r->username);
        if (!db_col_is_null(st, 8) && (r->password_enc = str_dup(col(st, 8))) == NULL)
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
        str_copy(r->domain, col(st, 9), sizeof r->domain);
        str_copy(r->email, col(st, 10), sizeof r->email);
        str_copy(r->first_name, col(st, 11), sizeof r->first_name);
        str_copy(r->last_name, col(st, 12), sizeof r->last_name);
    } else if (rc == DB_DONE) {
        rc = 0;
        fail_now(r, "service %lld does not exist", (long long)r->job->service_id);
    }
    db_finalize(st);
    return rc;
}

/* Reads products.config of product_id into r->config (permanent failure when unusable). */
static int load_config(struct db *db, struct run *r, int64_t product_id, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_PRODUCT_CONFIG, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, product_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        rc = 0;
        const char *text = col(st, 0);
        struct lumi_err jerr;
        size_t len = strlen(text);
        if (len > CONFIG_MAX)
            fail_now(r, "product %lld: config is larger than %d bytes", (long long)product_id,
                     CONFIG_MAX);
        else if ((r->config = jsonx_parse_object(text, len, &jerr)) == NULL)
            fail_now(r, "product %lld: config is not a JSON object: %s", (long long)product_id,
                     jerr.msg);
    } else if (rc == DB_DONE) {
        rc = 0;
        fail_now(r, "product %lld does not exist", (long long)product_id);
    }
    db_finalize(st);
    return rc;
}

/* Reads the job's arguments: suspend reason, new product, new password. */
static void read_args(struct run *r)
{
    const json_t *args = r->job->args;
    str_copy(r->reason, "manual", sizeof r->reason);
    if (is_action(r, "suspend")) {
        const char *reason = json_string_value(json_object_get(args, "reason"));
        if (str_present(reason) && strlen(reason) <= REASON_MAX)
            str_copy(r->reason, reason, sizeof r->reason);
    }
    if (is_action(r, "change_package")) {
        json_t *pid = json_object_get(args, "product_id");
        if (pid != NULL && !json_is_null(pid) &&
            (!json_is_integer(pid) || json_integer_value(pid) <= 0))
            fail_now(r, "job argument 'product_id' must be a positive integer");
        else if (json_is_integer(pid))
            r->new_product_id = json_integer_value(pid);
    }
    /* A chosen password would sit in the job's args for as long as the row
     * lives: the job always makes its own (or the panel does), sealed. */
    if (is_action(r, "change_password") && json_object_get(args, "password") != NULL)
        fail_now(r, "job argument 'password' is not accepted: the job makes the new password");
}

/* Checks that the action can run on the service as it stands. */
static void check_state(struct run *r)
{
    bool gone = str_eq(r->status, "terminated") || str_eq(r->status, "cancelled");
    if (gone && !is_action(r, "terminate"))
        fail_now(r, "service %lld is %s", (long long)r->job->service_id, r->status);
    else if (r->server_id == 0)
        fail_now(r, "service %lld has no server", (long long)r->job->service_id);
    else if (r->remote_key[0] == '\0')
        fail_now(r, "service %lld has no usable remote key", (long long)r->job->service_id);
}

static int load(struct db *db, struct run *r, struct lumi_err *err)
{
    int rc = load_service(db, r, err);
    if (rc != 0 || r->outcome != PROVISION_DONE)
        return rc;
    read_args(r);
    if (r->outcome == PROVISION_DONE)
        check_state(r);
    if (r->outcome != PROVISION_DONE)
        return 0;
    rc = load_config(db, r, r->new_product_id ? r->new_product_id : r->product_id, err);
    if (rc != 0 || r->outcome != PROVISION_DONE)
        return rc;
    struct lumi_err serr;
    rc = servers_conn(db, r->server_id, &r->sc, &serr);
    if (rc == LUMI_EDB || rc == LUMI_EBUSY || rc == LUMI_ENOMEM) {
        *err = serr;
        return rc;
    }
    if (rc != 0) {
        fail_now(r, "%s", serr.msg);
        return 0;
    }
    r->have_conn = true;
    return 0;
}

/* --- phase 1b: what must be stored before `create` ------------------------ */

static int generate_password(struct buf *out)
{
    char token[2 * PASSWORD_BYTES + 1];
    if (crypto_random_token(PASSWORD_BYTES, token, sizeof token) != 0)
        return LUMI_EINTERNAL;
    int rc = buf_append_str(out, token);
    crypto_random(token, sizeof token); /* overwrite the stack copy */
    return rc;
}

static void password_ad(int64_t service_id, char *ad, size_t size)
{
    snprintf(ad, size, "services.password:%lld", (long long)service_id);
}

/* Stores what is missing (own transaction) and reads back what is stored, so a
 * concurrent or earlier run's values win over ours. */
static int store_secrets(struct db *db, struct run *r, const char *enc, const char *username,
                         struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st = db_prepare(db, SQL_STORE_SECRETS, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    db_bind_text(st, 1, enc);
    db_bind_text(st, 2, username);
    db_bind_text(st, 3, r->client_key);
    db_bind_text(st, 4, now);
    db_bind_int64(st, 5, r->job->service_id);
    rc = db_step(st, err);
    db_finalize(st);
    if (rc < 0)
        goto out;
    if ((st = db_prepare(db, SQL_READ_SECRETS, err)) == NULL) {
        rc = err->code;
        goto out;
    }
    db_bind_int64(st, 1, r->job->service_id);
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        rc = 0;
        free(r->password_enc);
        if ((r->password_enc = str_dup(col(st, 0))) == NULL)
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
        str_copy(r->username, col(st, 1), sizeof r->username);
        str_copy(r->client_key, col(st, 2), sizeof r->client_key);
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_EDB, "service %lld vanished", (long long)r->job->service_id);
    }
    db_finalize(st);
    if (rc == 0)
        rc = db_commit(db, err);
out:
    if (rc != 0)
        db_rollback(db);
    return rc;
}

static int prepare_provision(struct db *db, struct run *r, struct lumi_err *err)
{
    const uint8_t *key = config_secret_key();
    char ad[64];
    char *enc = NULL;
    char username[DA_USERNAME_MAX + 1] = "";
    struct buf fresh;
    struct lumi_err cerr;
    int rc = 0;
    buf_init(&fresh, 2 * PASSWORD_BYTES + 1);
    if (key == NULL) {
        fail_now(r, "LUMI_SECRET_KEY is not set: the service password cannot be stored");
        goto out;
    }
    password_ad(r->job->service_id, ad, sizeof ad);
    if (r->password_enc == NULL) {
        if (generate_password(&fresh) != 0 ||
            (enc = crypto_seal(key, ad, fresh.data, fresh.len)) == NULL) {
            rc = err_set(err, LUMI_EINTERNAL, "cannot generate the service password");
            goto out;
        }
    }
    if (str_eq(r->sc.type, "directadmin") && r->username[0] == '\0') {
        const char *seed = str_present(r->domain) ? r->domain : r->email;
        if (da_username_for(r->job->service_id, seed, username) != 0) {
            fail_now(r, "service %lld: no DirectAdmin account name can be derived",
                     (long long)r->job->service_id);
            goto out;
        }
    }
    if (enc != NULL || username[0] != '\0' || r->need_client_key) {
        rc = store_secrets(db, r, enc, or_null(username), err);
        if (rc != 0)
            goto out;
    }
    if (crypto_open(key, ad, r->password_enc, &r->password, &cerr) != 0)
        fail_now(r,
                 "the stored password of service %lld cannot be decrypted (was "
                 "LUMI_SECRET_KEY changed?)",
                 (long long)r->job->service_id);
out:
    free(enc);
    buf_free(&fresh);
    return rc;
}

/* Seals r->new_password for services.password_enc (replacing an earlier seal). */
static int seal_new_password(struct run *r)
{
    const uint8_t *key = config_secret_key();
    char ad[64];
    free(r->new_password_enc);
    r->new_password_enc = NULL;
    if (key == NULL)
        return LUMI_EINTERNAL;
    password_ad(r->job->service_id, ad, sizeof ad);
    r->new_password_enc = crypto_seal(key, ad, r->new_password.data, r->new_password.len);
    return r->new_password_enc != NULL ? 0 : LUMI_EINTERNAL;
}

static int prepare_new_password(struct run *r)
{
    if (config_secret_key() == NULL) {
        fail_now(r, "LUMI_SECRET_KEY is not set: the new password cannot be stored");
        return 0;
    }
    if (r->new_password.len == 0 && generate_password(&r->new_password) != 0)
        return LUMI_EINTERNAL;
    return seal_new_password(r);
}

/*
 * A panel that chooses the password itself (VirtFusion's root password):
 * the password it set replaces the one Lumi made, so what is stored and
 * shown is what works.
 */
static int panel_chosen_password(struct run *r, const struct panel_conn *pc,
                                 const struct panel_service *ps, struct hc_error *e)
{
    char pw[PASSWORD_MAX + 1];
    int rc = r->sc.ops->reset_password(pc, ps, pw, sizeof pw, e);
    if (rc == 0) {
        buf_reset(&r->new_password);
        if (buf_append_str(&r->new_password, pw) != 0 || seal_new_password(r) != 0) {
            rc = hc_fail(e, HC_BAD_RESPONSE, "the password the panel chose cannot be stored");
            e->retryable = false;
        }
    }
    explicit_bzero(pw, sizeof pw);
    return rc;
}

/* --- phase 2: the panel ------------------------------------------------------ */

static void describe(const struct run *r, struct panel_service *ps)
{
    memset(ps, 0, sizeof *ps);
    const char *host = json_string_value(json_object_get(r->config, "hostname"));
    ps->service_id = r->job->service_id;
    ps->remote_key = r->remote_key;
    ps->client_key = r->client_key;
    ps->client_email = r->email;
    ps->client_first_name = r->first_name;
    ps->client_last_name = r->last_name;
    ps->username = or_null(r->username);
    ps->password = r->password.len > 0 ? buf_cstr(&r->password) : NULL;
    ps->domain = or_null(r->domain);
    ps->hostname = str_present(host) ? host : or_null(r->domain);
    ps->external_id = or_null(r->external_id);
    ps->config = r->config;
}

/*
 * Extends the job's lease before a panel call, so a slow job is not taken
 * over while it runs; false (and lease_lost) when it already was.
 */
static bool keep_lease(struct run *r)
{
    struct lumi_err err;
    if (r->lease_lost)
        return false;
    if (jobs_touch(r->db, r->job, (int)config_int("LUMI_JOB_LEASE_S"), &err) == LUMI_ECONFLICT) {
        r->lease_lost = true;
        log_warn("job.lease_lost", "job=%lld %s", (long long)r->job->id, err.msg);
        return false;
    }
    return true; /* a database hiccup here is not a reason to stop the call */
}

/* Starts recording a call; finished by end_call. */
static struct call *begin_call(struct run *r, const char *action, int64_t *t0)
{
    struct call *c = &r->calls[r->ncalls++];
    memset(c, 0, sizeof *c);
    c->action = action;
    utc_now_iso(c->started_at);
    *t0 = utc_monotonic_ms();
    return c;
}

/* Finishes a call record; on failure decides between retrying and giving up. */
static int end_call(struct run *r, struct call *c, int64_t t0, int rc, struct hc_error *e)
{
    c->duration_ms = utc_monotonic_ms() - t0;
    metrics_observe_panel_call(r->sc.conn.type, rc >= 0, c->duration_ms * 1000000);
    if (rc >= 0) {
        c->outcome = "success";
        return rc;
    }
    if (e->cls == HC_OK)
        hc_fail(e, HC_BAD_RESPONSE, "the panel reported a failure without a reason");
    c->outcome = hc_class_name(e->cls);
    c->http_status = e->http_status;
    str_copy(c->error, e->message, sizeof c->error);
    scrub_secrets(r, c->error, sizeof c->error);
    str_copy(r->error, c->error, sizeof r->error);
    const struct job *j = r->job;
    if (e->retryable && j->attempts < j->max_attempts) {
        r->outcome = PROVISION_RETRY;
        r->retry_delay_s = jobs_backoff_s(j->attempts, e->retry_after_s);
    } else {
        r->outcome = PROVISION_FAILED;
    }
    return rc;
}

static void run_provision(struct run *r, const struct panel_service *ps)
{
    const struct panel_ops *ops = r->sc.ops;
    struct hc_error e;
    int64_t t0;
    memset(&e, 0, sizeof e);
    if (!keep_lease(r))
        return;
    struct call *c = begin_call(r, "find", &t0);
    int rc = end_call(r, c, t0, ops->find(&r->sc.conn, ps, &r->res, &e), &e);
    if (rc != 0 || !keep_lease(r))
        return; /* found (adopted) or failed: never create after an error */
    memset(&e, 0, sizeof e);
    memset(&r->res, 0, sizeof r->res);
    c = begin_call(r, "create", &t0);
    end_call(r, c, t0, ops->create(&r->sc.conn, ps, &r->res, &e), &e);
}

static void run_call(struct run *r, const struct panel_service *ps)
{
    const struct panel_ops *ops = r->sc.ops;
    const struct panel_conn *pc = &r->sc.conn;
    const char *name = r->def->name;
    struct hc_error e;
    int64_t t0;
    memset(&e, 0, sizeof e);
    if (!keep_lease(r))
        return;
    struct call *c = begin_call(r, name, &t0);
    int rc;
    if (is_action(r, "suspend"))
        rc = ops->suspend(pc, ps, &e);
    else if (is_action(r, "unsuspend"))
        rc = ops->unsuspend(pc, ps, &e);
    else if (is_action(r, "terminate"))
        rc = ops->terminate(pc, ps, &e);
    else if (is_action(r, "change_package"))
        rc = ops->change_package(pc, ps, &e);
    else if (ops->reset_password != NULL)
        rc = panel_chosen_password(r, pc, ps, &e);
    else
        rc = ops->change_password(pc, ps, buf_cstr(&r->new_password), &e);
    end_call(r, c, t0, rc, &e);
}

static int call_panel(struct db *db, struct run *r, struct lumi_err *err)
{
    int rc = 0;
    if (is_action(r, "provision"))
        rc = prepare_provision(db, r, err);
    else if (is_action(r, "change_password"))
        rc = prepare_new_password(r);
    if (rc != 0 || r->outcome != PROVISION_DONE)
        return rc < 0 ? rc : 0;
    struct panel_service ps;
    describe(r, &ps);
    if (is_action(r, "provision"))
        run_provision(r, &ps);
    else
        run_call(r, &ps);
    return 0;
}

/* --- phase 3: the outcome, in one transaction -------------------------------- */

static int insert_call(struct db *db, const struct run *r, const struct call *c,
                       struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_ATTEMPT, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, r->job->id);
    if (r->service_exists)
        db_bind_int64(st, 2, r->job->service_id);
    else
        db_bind_null(st, 2);
    if (r->server_id != 0)
        db_bind_int64(st, 3, r->server_id);
    else
        db_bind_null(st, 3);
    db_bind_text(st, 4, c->action);
    db_bind_int64(st, 5, r->job->attempts);
    db_bind_text(st, 6, c->started_at);
    db_bind_int64(st, 7, c->duration_ms);
    db_bind_text(st, 8, c->outcome);
    if (c->http_status > 0)
        db_bind_int64(st, 9, c->http_status);
    else
        db_bind_null(st, 9);
    db_bind_text(st, 10, or_null(c->error));
    int rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* Runs one UPDATE of the service: text parameters first, then updated_at, then the id. */
static int update_service(struct db *db, const struct run *r, const char *sql, int ntext,
                          const char *const *text, int64_t *changed, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    for (int i = 0; i < ntext; i++)
        db_bind_text(st, i + 1, text[i]);
    db_bind_text(st, ntext + 1, now);
    db_bind_int64(st, ntext + 2, r->job->service_id);
    int rc = db_step(st, err);
    if (changed != NULL)
        *changed = db_changes(st);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int record_success(struct db *db, const struct run *r, struct lumi_err *err)
{
    if (is_action(r, "provision")) {
        const char *remote = r->res.external_id[0] ? r->res.external_id : or_null(r->external_id);
        const char *p[] = {remote, or_null(r->res.username)};
        return update_service(db, r, SQL_PROVISIONED, 2, p, NULL, err);
    }
    if (is_action(r, "suspend")) {
        const char *p[] = {r->reason};
        return update_service(db, r, SQL_SUSPENDED, 1, p, NULL, err);
    }
    if (is_action(r, "unsuspend"))
        return update_service(db, r, SQL_UNSUSPENDED, 0, NULL, NULL, err);
    if (is_action(r, "terminate")) {
        /* terminated_at and updated_at share $1; released once, whatever reruns. */
        int64_t changed = 0;
        int rc = update_service(db, r, SQL_TERMINATED, 0, NULL, &changed, err);
        if (rc == 0 && changed == 1)
            rc = servers_release_slot(db, r->server_id, err);
        return rc;
    }
    if (is_action(r, "change_package")) {
        char pid[24];
        snprintf(pid, sizeof pid, "%lld",
                 (long long)(r->new_product_id ? r->new_product_id : r->product_id));
        const char *p[] = {pid};
        return update_service(db, r, SQL_PACKAGE_CHANGED, 1, p, NULL, err);
    }
    const char *p[] = {r->new_password_enc};
    int rc = update_service(db, r, SQL_PASSWORD_CHANGED, 1, p, NULL, err);
    if (rc == 0) /* a client's reset: its one-time reveal */
        rc = selfservice_password_changed(db, r->job->id, buf_cstr(&r->new_password), err);
    return rc;
}

static int record_service(struct db *db, const struct run *r, struct lumi_err *err)
{
    if (!r->service_exists)
        return 0;
    if (r->outcome == PROVISION_DONE)
        return record_success(db, r, err);
    const char *p[] = {r->error};
    if (is_action(r, "provision"))
        return update_service(
            db, r, r->outcome == PROVISION_RETRY ? SQL_PROVISION_RETRY : SQL_PROVISION_FAILED, 1, p,
            NULL, err);
    return update_service(db, r, SQL_LAST_ERROR, 1, p, NULL, err);
}

static int record_job(struct db *db, const struct run *r, struct lumi_err *err)
{
    if (r->outcome == PROVISION_DONE)
        return jobs_complete(db, r->job->id, err);
    if (r->outcome == PROVISION_RETRY)
        return jobs_retry_later(db, r->job->id, r->retry_delay_s, r->error, err);
    return jobs_fail(db, r->job->id, r->error, err);
}

static int record_audit(struct db *db, const struct run *r, struct lumi_err *err)
{
    if (r->outcome == PROVISION_RETRY)
        return 0;
    bool ok = r->outcome == PROVISION_DONE;
    const char *remote = r->res.external_id[0] ? r->res.external_id : or_null(r->external_id);
    json_t *d = json_object();
    int rc = d == NULL ? LUMI_ENOMEM : 0;
    if (rc == 0)
        rc = jsonx_set_int(d, "service_id", r->job->service_id);
    if (rc == 0 && r->server_id != 0)
        rc = jsonx_set_int(d, "server_id", r->server_id);
    if (rc == 0)
        rc = jsonx_set_str(d, "panel", r->have_conn ? r->sc.type : NULL);
    if (rc == 0)
        rc = jsonx_set_str(d, "remote_key", or_null(r->remote_key));
    if (rc == 0)
        rc = jsonx_set_str(d, "remote_id", remote);
    if (rc == 0)
        rc = jsonx_set_str(d, "action", r->def != NULL ? r->def->name : r->job->action);
    if (rc == 0)
        rc = jsonx_set_int(d, "attempt", r->job->attempts);
    if (rc == 0)
        rc = jsonx_set_str(d, "error", ok ? NULL : r->error);
    if (rc == 0 && is_action(r, "suspend"))
        rc = jsonx_set_str(d, "reason", r->reason);
    if (rc == 0 && is_action(r, "change_package") && r->new_product_id != 0)
        rc = jsonx_set_int(d, "product_id", r->new_product_id);
    if (rc != 0) {
        json_decref(d);
        return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    const char *action = "SERVICE_ACTION_FAILED"; /* an action no table row knows */
    if (r->def != NULL)
        action = ok ? r->def->audit_ok : r->def->audit_failed;
    rc = audit_append_id(db, &AUDIT_SYSTEM, action, "service", r->job->service_id, d, err);
    json_decref(d);
    if (rc == 0 && ok && r->def != NULL && r->def->event != NULL) /* outgoing event (issue 16) */
        rc = events_emit(db, r->def->event, "service", r->job->service_id,
                         json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s?, s:s?}", "id",
                                   (json_int_t)r->job->service_id, "object", "service", "status",
                                   r->def->event + strlen("service."), "client_id",
                                   (json_int_t)r->client_id, "product_id",
                                   (json_int_t)r->product_id, "server_id", (json_int_t)r->server_id,
                                   "domain", or_null(r->domain), "remote_id", remote),
                         err);
    return rc;
}

static int finish(struct db *db, const struct run *r, struct lumi_err *err)
{
    if (r->lease_lost)
        return err_set(err, LUMI_ECONFLICT, "job %lld was taken over by another worker",
                       (long long)r->job->id);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = jobs_hold(db, r->job, err);
    for (int i = 0; i < r->ncalls && rc == 0; i++)
        rc = insert_call(db, r, &r->calls[i], err);
    if (rc == 0)
        rc = record_service(db, r, err);
    if (rc == 0)
        rc = record_job(db, r, err);
    if (rc == 0)
        rc = record_audit(db, r, err);
    /* A plan change carried by this job is applied (or failed) with its outcome. */
    if (rc == 0 && is_action(r, "change_package") && r->outcome != PROVISION_RETRY)
        rc = changes_on_job_finished(db, r->job->id, r->outcome == PROVISION_DONE, r->error, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

static void log_outcome(const struct run *r)
{
    static const char *const names[] = {"done", "retry", "failed"};
    char q[256];
    const struct job *j = r->job;
    enum log_level level = r->outcome == PROVISION_DONE ? LOG_INFO : LOG_WARN;
    log_event(level, "provision.outcome",
              "job=%lld service=%lld action=%s outcome=%s attempt=%d/%d server=%lld "
              "retry_in_s=%lld error=%s",
              (long long)j->id, (long long)j->service_id, j->action, names[r->outcome], j->attempts,
              j->max_attempts, (long long)r->server_id,
              (long long)(r->outcome == PROVISION_RETRY ? r->retry_delay_s : 0),
              log_quote(r->error, q, sizeof q));
}

static void run_clear(struct run *r)
{
    free(r->password_enc);
    free(r->new_password_enc);
    json_decref(r->config);
    buf_free(&r->password);
    buf_free(&r->new_password);
    if (r->have_conn)
        servers_conn_clear(&r->sc);
}

/* The outcome label of an attempt for the metrics. */
static const char *attempt_outcome(int rc)
{
    switch (rc) {
    case PROVISION_DONE:
        return "done";
    case PROVISION_RETRY:
        return "retry";
    case PROVISION_FAILED:
        return "failed";
    default:
        return "error";
    }
}

int provision_run_job(struct db *db, const struct job *job, struct lumi_err *err)
{
    struct run r;
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    memset(&r, 0, sizeof r);
    r.job = job;
    r.db = db;
    r.outcome = PROVISION_DONE;
    buf_init(&r.password, PASSWORD_MAX + 1);
    buf_init(&r.new_password, PASSWORD_MAX + 1);
    int rc = 0;
    if (db_in_tx(db)) {
        rc = err_set(err, LUMI_EINTERNAL, "provision_run_job must not run inside a transaction");
        goto out;
    }
    r.def = action_def_for(job->action);
    if (r.def == NULL)
        fail_now(&r, "unknown job action '%.24s'", job->action);
    else
        rc = load(db, &r, err);
    if (rc == 0 && r.outcome == PROVISION_DONE)
        rc = call_panel(db, &r, err);
    if (rc == 0)
        rc = finish(db, &r, err);
    if (rc != 0)
        goto out;
    log_outcome(&r);
    rc = r.outcome;
out:
    if (rc < 0) {
        char q[256];
        log_error("provision.error", "job=%lld service=%lld action=%s error=%s", (long long)job->id,
                  (long long)job->service_id, job->action, log_quote(err->msg, q, sizeof q));
    }
    metrics_count_job_attempt(r.have_conn ? r.sc.conn.type : NULL, attempt_outcome(rc));
    run_clear(&r);
    return rc;
}
